"""The table of the patrolling crews' positions and legs, which compiled loops play.

Every crew (:class:`simulator.agencies.units.Unit`) of a model has a row here:
how it patrols and how fast, whether it patrols now and, while it does, where
it is and its current patrol leg (a crew that does not patrol keeps its
position in plain attributes, and copies it here when it starts patrolling and
back when it stops). The rows are ``array`` objects, which a crew reads and
writes from Python at the cost of a list, and NumPy views of the same memory
let :mod:`simulator.agencies.kernels` play the legs of many idle crews in one
call (each hour, and for the distances of a dispatch) without copying
anything. The patrol targets the loops take come from the strategies' buffers,
which the table gathers into one block.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from simulator.agencies import kernels
from simulator.agencies.kernels import (
    AVAILABLE,
    CIRCUITY,
    COMPILED,
    DRAWN,
    DUTIES,
    DUTY_GAP,
    DUTY_MEAN,
    DWELL,
    HELD,
    N_COUNTS,
    N_FLOATS,
    N_INTS,
    ON_DUTY,
    PRESENCE_BASE,
    SPEED,
    STATION,
    STRATEGY,
)
from simulator.agencies.patrol import PatrolBuffers, PatrolStrategy, PresenceLog, WeightedPatrol
from simulator.world.travel import CircuityTravel, TravelModel


class Unit(Protocol):
    """What the table asks of a crew (:class:`simulator.agencies.units.Unit`)."""

    _slot: int  # its row

    def _rows(self, floats: array[float], ints: array[int]) -> None:
        """The table's arrays, where its row is."""
        ...

    def _next_target(self) -> int:
        """The next patrol target, drawn in Python."""
        ...

    def _legs_one_by_one(self, until: float) -> None:
        """Play its legs ended by ``until`` in Python."""
        ...

    def position(self, now: float | None = None) -> tuple[float, float]:
        """Where it is at ``now`` (legs played)."""
        ...

    def _at(self, now: float) -> tuple[float, float]:
        """Where it is when not patrolling."""
        ...


_DUTIES = 256  # duties a loop plays before handing them over
_DRAWS = 256  # duty draws taken at once; one draw of 256 beats 256 draws of 1


class LegTable:
    """Every crew's position and leg, as rows of floats and integers.

    Args:
        presence: Where the crews' stays are recorded.
        record_duties: Takes the duties the loops played, in blocks of rows (row, since,
            start, end) with each row's crew label (the recorder's ``duties_on_patrol``:
            a callable, as the recorder is a layer above).
        xs: The cells' centres, x.
        ys: The cells' centres, y.
    """

    def __init__(
        self,
        presence: PresenceLog,
        record_duties: Callable[[NDArray[np.float64], list[tuple[int, str]]], None],
        xs: NDArray[np.float64],
        ys: NDArray[np.float64],
    ):
        self._presence = presence.arrays()  # the loops add their stays to it
        self._record_duties = record_duties
        # Each row's crew as its state intervals name it: its id, its agency's name.
        self.labels: list[tuple[int, str]] = []
        self._n_cells = presence.n_cells
        self._xs = np.ascontiguousarray(xs, dtype=np.float64)
        self._ys = np.ascontiguousarray(ys, dtype=np.float64)
        self.units: list[Unit] = []  # by row
        self.buffers = PatrolBuffers(8)
        # A target held back, duty draws used, duties written.
        self._count = np.zeros(N_COUNTS, dtype=np.int64)
        # The same memory seen from Python: an element of a memoryview is a Python
        # int at once, and setting one costs less than NumPy's.
        self._count_mv = memoryview(self._count)
        self.record_buffers(_DUTIES)
        # Standard exponential draws of the duties stream, which the loops and the life
        # cycle take in turn (``duty_draw``); none until a stream is given.
        self._duties_rng: np.random.Generator | None = None
        self._duty_draws = np.empty(0)
        self._measure(64)
        self._none = np.empty(0)  # none: the loop only plays legs
        self.floats: array[float] = array("d")
        self.ints: array[int] = array("q")
        self._all_slots: (
            tuple[Sequence[Sequence[Unit]], tuple[int, ...], NDArray[np.int64]] | None
        ) = None
        self._allocate(16)

    def record_buffers(self, duties: int = _DUTIES) -> None:
        """Room for ``duties`` duties a loop writes.

        A loop that fills it stops, and goes on once they are taken (the tests give
        it a few places, to stop often). The loops add their stays to the presence
        log themselves.
        """
        self._duties = np.zeros((duties, 4))  # row, available since, start, end

    def duty_stream(self, rng: np.random.Generator, batch: int = _DRAWS) -> None:
        """Draw the crews' duties from ``rng``, ``batch`` standard exponentials at a time."""
        self._duties_rng = rng
        self._duty_draws = np.empty(batch)
        self._count_mv[DRAWN] = batch  # none left: the first need draws

    def _draw_duties(self) -> None:
        """A new batch of duty draws, the old one used up."""
        assert self._duties_rng is not None, "no duties stream"
        self._duty_draws = self._duties_rng.standard_exponential(self._duty_draws.size)
        self._count_mv[DRAWN] = 0

    def duty_draw(self) -> float:
        """The next standard exponential draw of the duties stream.

        ``m * e`` is what ``rng.exponential(m)`` gives, to the bit. The loops take
        their draws from the same batches, in the order they play.
        """
        i: int = self._count_mv[DRAWN]
        if i == self._duty_draws.size:
            self._draw_duties()
            i = 0
        self._count_mv[DRAWN] = i + 1
        draw: float = self._duty_draws[i]
        return float(draw)

    def _measure(self, capacity: int) -> None:
        """Room for the rows and distances of ``capacity`` crews a dispatch measures.

        The rows are written through a memoryview and the distances listed through
        another: for a handful of crews, cheaper than making a NumPy array of the
        rows and listing NumPy's slice.
        """
        self._picked = np.zeros(capacity, dtype=np.int64)
        self._picked_mv = memoryview(self._picked)
        self._found = np.empty(capacity)  # the distances a loop works out
        self._found_mv = memoryview(self._found)

    def _allocate(self, capacity: int) -> None:
        n = len(self.units)
        floats = array("d", bytes(8 * capacity * N_FLOATS))
        ints = array("q", bytes(8 * capacity * N_INTS))
        if n:
            floats[: n * N_FLOATS] = self.floats[: n * N_FLOATS]
            ints[: n * N_INTS] = self.ints[: n * N_INTS]
        self.floats = floats
        self.ints = ints
        self._floats_view = np.frombuffer(floats, dtype=np.float64).reshape(capacity, N_FLOATS)
        self._ints_view = np.frombuffer(ints, dtype=np.int64).reshape(capacity, N_INTS)
        for unit in self.units:
            unit._rows(floats, ints)

    def add(self, unit: Unit) -> int:
        """A row for ``unit`` (all zero); the unit is told its arrays."""
        slot = len(self.units)
        if slot == self._ints_view.shape[0]:
            self._allocate(2 * slot)
        self.units.append(unit)
        unit._slot = slot
        unit._rows(self.floats, self.ints)
        return slot

    def set_patrol(self, slot: int, patrol: PatrolStrategy, travel: TravelModel) -> None:
        """How the crew of ``slot`` patrols: its strategy's dwell and draws, its travel."""
        f = slot * N_FLOATS
        i = slot * N_INTS
        self.floats[f + DWELL] = patrol.dwell_h
        if isinstance(patrol, WeightedPatrol):
            patrol.move_buffer(self.buffers)
            self.ints[i + STRATEGY] = patrol.buffer_row[1]
        else:
            self.ints[i + STRATEGY] = -1  # its strategy is asked for every target
        known = type(travel) is CircuityTravel
        self.ints[i + COMPILED] = int(known)
        if known:
            assert isinstance(travel, CircuityTravel)
            circuity, speeds = travel.patrol_speeds()
            self.floats[f + CIRCUITY] = circuity
            self.floats[f + SPEED : f + SPEED + 24] = array("d", speeds)

    def set_agency(self, slot: int, agency: int, station: int, label: tuple[int, str]) -> None:
        """The agency whose presence the crew of ``slot`` is, its station's cell, its label.

        ``label`` is the crew's id and its agency's name, which name its state
        intervals and never change.
        """
        self.ints[slot * N_INTS + PRESENCE_BASE] = agency * self._n_cells
        self.ints[slot * N_INTS + STATION] = station
        if slot == len(self.labels):
            self.labels.append(label)
        elif self.labels[slot] != label:
            raise ValueError(f"the crew of row {slot} was {self.labels[slot]}, not {label}")

    def set_duties(self, slot: int, gap_h: float | None, mean_h: float) -> None:
        """The duties of the crew of ``slot``: mean free time before one (``None``: none), mean.

        The loops draw with these from the next duty they start or plan; a duty
        already planned stays planned.
        """
        f = slot * N_FLOATS
        self.floats[f + DUTY_GAP] = -1.0 if gap_h is None else gap_h
        self.floats[f + DUTY_MEAN] = mean_h

    def slots_of_all(self, groups: Sequence[Sequence[Unit]]) -> NDArray[np.int64]:
        """The rows of the units of ``groups``, group after group, in order.

        Kept for the same groups asked again (the fleet's, each hour): groups may
        grow (new crews are appended) but are not replaced.
        """
        sizes = tuple(map(len, groups))
        found = self._all_slots
        if found is not None and found[0] is groups and found[1] == sizes:
            return found[2]
        slots = np.array([u._slot for units in groups for u in units], dtype=np.int64)
        self._all_slots = (groups, sizes, slots)
        return slots

    # ----------------------------------------------------------------- the loops

    def _records(self) -> None:
        """Hand the duties the loop played to be recorded, in order, as rows.

        Each one two state intervals (``Unit._duty_done`` for a duty played in
        Python): the loop kept each crew's SINCE, so no crew is called.
        """
        n: int = self._count_mv[DUTIES]
        if n:
            self._record_duties(self._duties[:n].copy(), self.labels)
            self._count_mv[DUTIES] = 0

    def _stopped(self, slot: int, why: int, until: float) -> int:
        """Do in Python what stopped a loop at the crew of ``slot``; its next target, or -1."""
        if why == kernels.FULL or why == kernels.DRAWS:
            if why == kernels.DRAWS:
                self._draw_duties()
            held: int = self._count_mv[HELD]  # the target it was given, if not used yet
            return held
        unit = self.units[slot]
        if why == kernels.NEED_TARGET:
            return unit._next_target()
        unit._legs_one_by_one(until)  # PYTHON
        return -1

    def _play(
        self,
        slots: NDArray[np.int64],
        k: int,
        until: float,
        x0: float,
        y0: float,
        forced: int,
        found: NDArray[np.float64],
    ) -> int:
        """:func:`simulator.agencies.kernels.play` over this table, from ``slots[k]``."""
        buffers = self.buffers
        played: int = kernels.play(  # floats, even from an int clock: one compiled version
            self._floats_view,
            self._ints_view,
            slots,
            k,
            float(until),
            float(x0),
            float(y0),
            forced,
            buffers.draws_view,
            buffers.state_view,
            self._xs,
            self._ys,
            self._presence,
            self._count,
            self._duty_draws,
            self._duties,
            found,
        )
        return played

    def advance(self, slots: NDArray[np.int64], until: float) -> None:
        """Play the legs ended by ``until`` of the available crews of ``slots``, in order."""
        k = 0
        forced = -1
        while True:
            r = self._play(slots, k, until, 0.0, 0.0, forced, self._none)
            if r < 0:
                if r != -1:  # -1 - RECORDS
                    self._records()
                return
            self._records()
            k, why = divmod(r, 4)
            forced = self._stopped(int(slots[k]), why, until)
            if why == kernels.PYTHON:
                k += 1

    def free[U: Unit](
        self, units: Sequence[U], now: float, x0: float, y0: float
    ) -> tuple[list[U], list[float]]:
        """Those of the patrolling ``units`` not on a duty at ``now``, and how far each is.

        In order, from (x0, y0) (``units.free``): :meth:`distances`, then those on a
        duty left out.
        """
        found = self.distances(units, now, x0, y0)
        ints = self.ints
        keep = [k for k, unit in enumerate(units) if not ints[unit._slot * N_INTS + ON_DUTY]]
        if len(keep) == len(units):
            return list(units), found
        return [units[k] for k in keep], [found[k] for k in keep]

    def distances(self, units: Sequence[Unit], now: float, x0: float, y0: float) -> list[float]:
        """How far each of ``units`` is at ``now`` from (x0, y0), in order (``units.distances``)."""
        n = len(units)
        if self._found.size < n:
            self._measure(2 * n)
        picked = self._picked_mv
        for k, unit in enumerate(units):
            picked[k] = unit._slot
        slots = self._picked[:n]
        found = self._found
        k = 0
        forced = -1
        stopped = False
        while True:
            r = self._play(slots, k, now, x0, y0, forced, found)
            if r < 0:
                break
            self._records()
            stopped = True
            k, why = divmod(r, 4)
            forced = self._stopped(int(slots[k]), why, now)
            if why == kernels.PYTHON:
                x, y = units[k].position(now)
                found[k] = abs(complex(x - x0, y - y0))
                k += 1
        flags = -1 - r
        if flags & kernels.RECORDS:
            self._records()
        out: list[float] = self._found_mv[:n].tolist()  # type: ignore[assignment]
        if flags & kernels.OTHERS or (stopped and min(out) < 0.0):
            # Crews not available: where their job puts them.
            for k, unit in enumerate(units):
                if not self.ints[unit._slot * N_INTS + AVAILABLE]:
                    x, y = unit._at(now)
                    out[k] = abs(complex(x - x0, y - y0))
        return out
