"""Motivated offenders as arrays: careers, whereabouts, custody and what they have learnt.

The pool has one slot per resident flagged as a motivated offender
(``citizens.offender_share``). A slot holds one offender at a time: a career
lasts an exponential time (``career_years``); when it ends (desistance), another
resident begins one in the same slot (onset), drawn with the same routine
weights as the first offenders. Careers, homes and propensities come from
streams keyed by the slot and the career's number, never from the order of
other draws: two runs of the same seed have the same offenders at the same
places whatever the police do, which is what lets policy arms share their
offenders (common random numbers).

What the police change is held in the pool too: who is in custody or prison
(``held_until_h``), and each offender's recent arrests, which raise the risk
they perceive (Anwar and Loughran 2011). Arrests of others near an offender's
home are kept on the territory's grid by the crime engine.
"""

from __future__ import annotations

from typing import overload

import numpy as np
from numpy.typing import NDArray

from simulator.crime import pool_kernels
from simulator.crime.kernels import Picking, pick_offenders
from simulator.scenario.schema import OffenderSpec
from simulator.world.citizens import Population
from simulator.world.registries import HOURS_PER_YEAR, ROUTINES
from simulator.world.territory import Territory

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


class OffenderPool:
    """The motivated offenders of a run.

    Args:
        spec: The offenders block of the crime settings.
        n_types: Number of offence types (columns of the propensities).
        territory: Where they live.
        population: The residents they are drawn from.
        seed: The careers stream: every career draws from a child keyed by its slot
            and its number.
        reach_cells: How far from home an offender acts (cells, square).
    """

    def __init__(
        self,
        spec: OffenderSpec,
        n_types: int,
        territory: Territory,
        population: Population,
        seed: np.random.SeedSequence,
        reach_cells: int,
    ):
        self.spec = spec
        self._seed = seed
        self._t = territory
        self._n_types = n_types
        self._reach = reach_cells if territory.kind != "point" else 0
        weight = np.array([r.offender_weight for r in ROUTINES.values()])[population.pattern]
        self._home_of_resident = population.home.astype(np.int64)
        self._eligible_cum = np.cumsum(weight.astype(float))
        self.resident: IntArray = np.flatnonzero(population.offender).astype(np.int64)
        size = self.resident.size
        self.size = size
        rng = np.random.default_rng(seed)
        years = spec.career_years
        # A career under way at the start has an exponential remaining length too.
        self.career_end_h: FloatArray = rng.exponential(years * HOURS_PER_YEAR, size)
        self.propensity: FloatArray = self._propensities(rng, size)
        self.generation: IntArray = np.zeros(size, dtype=np.int64)
        self.home: IntArray = self._home_of_resident[self.resident]
        self.held_until_h: FloatArray = np.zeros(size)
        # Recent own arrests, faded with time (``memory_days``) up to ``own_arrests_t``:
        # the risk an offender perceives (read by the crime engine's compiled decision).
        self.own_arrests: FloatArray = np.zeros(size)
        self.own_arrests_t: FloatArray = np.zeros(size)
        self.offences: IntArray = np.zeros(size, dtype=np.int64)
        self.arrests: IntArray = np.zeros(size, dtype=np.int64)
        self.careers_begun = 0
        self._box_reach = -1  # reach the boxes of cells within reach were made for
        self._index()

    def _propensities(self, rng: np.random.Generator, count: int) -> FloatArray:
        """Propensity by type: a personal level (gamma, mean 1) times a type mix (mean 1)."""
        shape = self.spec.propensity_shape
        level = rng.gamma(shape, 1.0 / shape, size=(count, 1))
        mix = rng.gamma(2.0, 0.5, size=(count, self._n_types))
        out: FloatArray = level * mix
        return out

    def reconfigure(self, spec: OffenderSpec, reach_cells: int) -> None:
        """New settings (a policy change): careers begun from now follow them."""
        self.spec = spec
        reach = reach_cells if self._t.kind != "point" else 0
        if reach != self._reach:
            self._reach = reach
            self._index()

    @overload
    def offender_id(self, slot: int) -> int: ...
    @overload
    def offender_id(self, slot: IntArray) -> IntArray: ...
    def offender_id(self, slot: int | IntArray) -> int | IntArray:
        """Identifier of the offender now in each slot (unique over the run's careers)."""
        if isinstance(slot, int):  # one offence's offender: Python integers, no array
            return slot + self.size * int(self.generation[slot])
        ids: IntArray = slot + self.size * self.generation[slot]
        return ids

    def slot_of(self, offender_id: int) -> int | None:
        """The slot of an offender, or ``None`` once their career is over."""
        if offender_id < 0 or self.size == 0:
            return None
        slot = offender_id % self.size
        return slot if offender_id // self.size == self.generation[slot] else None

    # ----------------------------------------------------------------- careers

    def advance(self, now_h: float) -> int:
        """End the careers due by ``now_h`` and begin their successors; how many ended."""
        ended = np.flatnonzero(self.career_end_h <= now_h)
        for slot in ended.tolist():
            while self.career_end_h[slot] <= now_h:
                self._new_career(slot, float(self.career_end_h[slot]))
        if ended.size:
            self._index()
        return int(ended.size)

    def _new_career(self, slot: int, start_h: float) -> None:
        self.generation[slot] += 1
        child = np.random.SeedSequence(
            self._seed.entropy, spawn_key=(*self._seed.spawn_key, slot, int(self.generation[slot]))
        )
        rng = np.random.default_rng(child)
        u = rng.random()
        total = self._eligible_cum[-1]
        resident = min(
            int(np.searchsorted(self._eligible_cum, u * total, side="right")),
            self._eligible_cum.size - 1,
        )
        self.resident[slot] = resident
        self.home[slot] = self._home_of_resident[resident]
        self.career_end_h[slot] = start_h + rng.exponential(self.spec.career_years * HOURS_PER_YEAR)
        self.propensity[slot] = self._propensities(rng, 1)[0]
        self.held_until_h[slot] = 0.0
        self.own_arrests[slot] = 0.0
        self.own_arrests_t[slot] = start_h
        self.careers_begun += 1

    def _boxes(self) -> IntArray:
        """The cells within reach of each cell (row), padded with ``n_cells`` off the grid."""
        t, r = self._t, self._reach
        n = t.n_cells
        cj, ci = np.divmod(np.arange(n, dtype=np.int64), t.nx)
        offsets = np.arange(-r, r + 1)
        jj = cj[:, None] + np.repeat(offsets, offsets.size)[None, :]
        ii = ci[:, None] + np.tile(offsets, offsets.size)[None, :]
        inside = (jj >= 0) & (jj < t.ny) & (ii >= 0) & (ii < t.nx)
        box: IntArray = np.where(inside, jj * t.nx + ii, n)
        return box

    def _index(self) -> None:
        """Offenders sorted by home, with running sums of propensity by type.

        The running sums of all types are laid end to end, each shifted by the
        totals of the types before it, so that one sorted search serves every type.
        """
        n = self._t.n_cells
        if self._box_reach != self._reach:
            self._box = self._boxes()
            self._box_reach = self._reach
        size, types = self.size, self._n_types
        # Fresh arrays each time: a picking taken before stays as it was.
        self._order = np.empty(size, dtype=np.int64)
        # Where each cell's offenders start in that order: the running count of homes.
        self._cell_start = np.empty(n + 1, dtype=np.int64)
        # One column more than cells, always 0: where a padded box entry points.
        self._weight = np.empty((types, n + 1))
        # Running sums over the cells of each type's propensity (types x cells): where an
        # offender comes from when nobody lives within reach of a target.
        self._weight_cum = np.empty((types, n))
        # Behind a leading 0, types x pool: each type's running sums along the order
        # plus the totals of the types before it. Entry type x pool + start is the sum
        # below the offenders of a cell whose first offender is at ``start`` in the
        # order (at start 0 the last sum of the type before, which is that type's
        # shift to the bit: x + shift and shift + x are one addition; 0 for the first).
        self._below = np.empty(1 + types * size)
        pool_kernels.index_offenders(
            self.home,
            self.propensity,
            self._order,
            self._cell_start,
            self._weight,
            self._weight_cum,
            self._below,
        )
        # The running sums laid end to end, without the leading 0.
        self._cum_flat = self._below[1:]
        # Propensity by cell, types laid end to end (type x (cells + 1) + cell).
        self._weight_flat = self._weight.ravel()
        self.picking: Picking = (
            self._box,
            self._weight_flat,
            self._weight_cum,
            self._cell_start,
            self._below,
            self._cum_flat,
            self._order,
            self.size,
        )

    # ----------------------------------------------------------------- choices

    def pick(
        self, types: IntArray, cells: IntArray, u_cell: FloatArray, u_who: FloatArray
    ) -> IntArray:
        """The offender who meets each opportunity (type, cell), by two uniforms each.

        An offender within reach (home in the square of ``reach_cells`` around the
        cell) is chosen with a chance proportional to their propensity for the type;
        if nobody lives within reach, anyone in the pool may come. Whether they are
        free to act is not looked at here: the opportunity belongs to them either way,
        so that arms share it (an offender in custody lets it pass).

        Returns:
            The slot of each, or -1 where the pool has no propensity for the type.
        """
        m = types.size
        if m == 0 or self.size == 0:
            return np.full(m, -1, dtype=np.int64)
        # Contiguous uniforms (a column of the hour's draws is strided): one compiled
        # version of the loop serves every caller.
        slots: IntArray = pick_offenders(
            types, cells, np.ascontiguousarray(u_cell), np.ascontiguousarray(u_who), self.picking
        )
        return slots

    # ----------------------------------------------------------------- custody

    def arrested(self, slot: int, now_h: float, held_h: float) -> None:
        """The offender in ``slot`` was arrested now and is held for ``held_h`` hours."""
        memory = self.spec.memory_days * 24.0
        fade = np.exp(-(now_h - self.own_arrests_t[slot]) / memory)
        self.own_arrests[slot] = self.own_arrests[slot] * fade + 1.0
        self.own_arrests_t[slot] = now_h
        self.held_until_h[slot] = max(float(self.held_until_h[slot]), now_h + held_h)
        self.arrests[slot] += 1

    def held(self, now_h: float) -> int:
        """How many offenders are in custody or prison at ``now_h``."""
        return int((self.held_until_h > now_h).sum())
