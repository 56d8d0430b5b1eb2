"""Patrol strategies and the record of where units spend their time.

A strategy answers one question, "where next, and for how long?", so that new
ones (proximity beats, problem-oriented patrol) slot in without touching units
or dispatch. Idle units follow their strategy in legs: drive to a cell at patrol
speed, stay there ``dwell`` hours, pick the next cell. Legs are computed lazily
(when the hourly update or a dispatch needs to know where a unit is) so that
patrolling costs no scheduled events.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from simulator.agencies import kernels
from simulator.scenario.schema import PatrolSpec

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_BATCH = 256  # targets drawn at once per strategy; one draw of 256 beats 256 draws of 1


class PatrolStrategy(Protocol):
    """Chooses where an idle unit goes next and how long it stays."""

    dwell_h: float

    def next_cell(self, current_cell: int) -> int | None:
        """The next cell to visit, or ``None`` to stay at the station."""
        ...


class StationPatrol:
    """Wait at the station between calls (no patrol)."""

    dwell_h = float("inf")

    def __init__(self, station_cell: int):
        self._station = station_cell

    def next_cell(self, current_cell: int) -> int | None:
        """Go back to the station and stay."""
        return self._station


class PatrolBuffers:
    """The patrol targets drawn ahead by many strategies, in one block.

    Each :class:`WeightedPatrol` draws its targets in batches and takes them one
    by one; its batch is a row of this block (``draws``) with the index of its
    next target and whether it has a single cell (``state``). The rows are
    ``array`` objects, cheap to index from Python, and NumPy views of the same
    memory (``draws_view``, ``state_view``) let the compiled patrol legs
    (:mod:`simulator.agencies.kernels`) take targets from them too. A strategy
    keeps views of its row; when the block grows, it is told to take new ones.
    """

    def __init__(self, capacity: int = 1):
        self.rows = 0
        self._members: list[WeightedPatrol] = []  # by row
        self.draws: array[int] = array("q")
        self.state: array[int] = array("q")
        self._allocate(max(1, capacity))

    def _allocate(self, capacity: int) -> None:
        draws = array("q", bytes(8 * capacity * _BATCH))
        state = array("q", bytes(8 * capacity * 2))
        if self.rows:
            draws[: self.rows * _BATCH] = self.draws[: self.rows * _BATCH]
            state[: self.rows * 2] = self.state[: self.rows * 2]
        self.draws = draws
        self.state = state
        self.draws_view: IntArray = np.frombuffer(draws, dtype=np.int64).reshape(capacity, _BATCH)
        self.state_view: IntArray = np.frombuffer(state, dtype=np.int64).reshape(capacity, 2)

    def new_row(self, member: WeightedPatrol, single: bool) -> int:
        """A row for the strategy ``member``, its buffer empty."""
        if self.rows == self.state_view.shape[0]:
            self._allocate(2 * self.rows)
            for other in self._members:
                other._bind_buffer()
        row = self.rows
        self.rows += 1
        self.state[2 * row] = _BATCH  # empty: the next target needs a draw
        self.state[2 * row + 1] = int(single)
        self._members.append(member)
        return row


class WeightedPatrol:
    """Visit cells drawn at random with given weights (uniform: random patrol).

    Args:
        cells: Candidate cells.
        weights: Relative chance of each candidate (``None``: uniform).
        dwell_h: Hours spent in each visited cell.
        rng: The patrol stream.
    """

    def __init__(
        self, cells: IntArray, weights: FloatArray | None, dwell_h: float, rng: np.random.Generator
    ):
        if cells.size == 0:
            raise ValueError("a patrol needs at least one cell")
        self.dwell_h = dwell_h
        self._cells = cells
        self._p = None if weights is None else weights / weights.sum()
        self._rng = rng
        # The targets drawn ahead: a row of a block of buffers (its own, until the
        # crews' leg table takes it into the block the compiled legs read).
        self._buffer_block = PatrolBuffers()
        self._buffer_row = self._buffer_block.new_row(self, cells.size == 1)
        self._bind_buffer()

    def _bind_buffer(self) -> None:
        """Views of this strategy's row of its block: its draws, its next draw's index."""
        block, row = self._buffer_block, self._buffer_row
        self._buffer_draws = memoryview(block.draws)[row * _BATCH : (row + 1) * _BATCH]
        self._buffer_state = memoryview(block.state)[2 * row : 2 * row + 2]

    @property
    def buffer_row(self) -> tuple[PatrolBuffers, int]:
        """The block of buffers that holds this strategy's targets drawn ahead, and its row."""
        return self._buffer_block, self._buffer_row

    def move_buffer(self, block: PatrolBuffers) -> None:
        """Keep the targets drawn ahead in ``block`` from now on (the same targets)."""
        if block is self._buffer_block:
            return
        old, row = self._buffer_block, self._buffer_row
        new = block.new_row(self, self._cells.size == 1)
        block.draws_view[new] = old.draws_view[row]
        block.state_view[new] = old.state_view[row]
        self._buffer_block, self._buffer_row = block, new
        self._bind_buffer()

    def next_cell(self, current_cell: int) -> int | None:
        """A fresh target, different from the current cell when possible."""
        state = self._buffer_state
        draws = self._buffer_draws
        i = state[0]
        if i < _BATCH:  # the usual case, without the loop
            cell = draws[i]
            if cell != current_cell:
                state[0] = i + 1
                return cell
        cell = current_cell
        for _ in range(4):
            if i == _BATCH:
                self._buffer_block.draws_view[self._buffer_row] = self._rng.choice(
                    self._cells, size=_BATCH, p=self._p
                )
                i = 0
            cell = draws[i]
            i += 1
            if cell != current_cell or self._cells.size == 1:
                break
        state[0] = i
        return cell


@dataclass(frozen=True)
class PatrolContext:
    """What a strategy may read about its agency and the world when it is built.

    Attributes:
        spec: The agency's patrol block.
        station_cell: The station the units start from and return to.
        cells: The cells it may patrol: its jurisdiction (or its station's sector),
            restricted to its beat; never empty.
        site_cells: The agency's contracted sites.
        market_cells: The drug markets known at the start.
        hotspot_weights: What hot spots are ranked and visited by, by cell: expected
            calls, or the expected opportunities of ``spec.hotspot_offences``.
        rng: The agency's patrol stream.
    """

    spec: PatrolSpec
    station_cell: int
    cells: IntArray
    site_cells: IntArray
    market_cells: IntArray
    hotspot_weights: FloatArray
    rng: np.random.Generator

    @property
    def dwell_h(self) -> float:
        """Hours spent at each patrolled place."""
        return self.spec.dwell_min / 60.0


StrategyFactory = Callable[[PatrolContext], PatrolStrategy]

# Strategies by name: the names are those of simulator.scenario.patrols, which the
# schema validates against (a test checks the two agree).
STRATEGIES: dict[str, StrategyFactory] = {}


def strategy(name: str) -> Callable[[StrategyFactory], StrategyFactory]:
    """Register a function building a patrol strategy under ``name``."""

    def register(factory: StrategyFactory) -> StrategyFactory:
        STRATEGIES[name] = factory
        return factory

    return register


@strategy("static")
def _static(ctx: PatrolContext) -> PatrolStrategy:
    return StationPatrol(ctx.station_cell)


@strategy("random")
def _random(ctx: PatrolContext) -> PatrolStrategy:
    return WeightedPatrol(ctx.cells, None, ctx.dwell_h, ctx.rng)


@strategy("sites")
def _sites(ctx: PatrolContext) -> PatrolStrategy:
    return WeightedPatrol(ctx.site_cells, None, ctx.dwell_h, ctx.rng)


@strategy("markets")
def _markets(ctx: PatrolContext) -> PatrolStrategy:
    known = np.intersect1d(ctx.market_cells, ctx.cells)
    if known.size == 0:
        return StationPatrol(ctx.station_cell)
    return WeightedPatrol(known, None, ctx.dwell_h, ctx.rng)


@strategy("hotspot")
def _hotspot(ctx: PatrolContext) -> PatrolStrategy:
    # The cells with most expected calls (or opportunities of the patrol's offence
    # types), visited in proportion to them.
    cells = ctx.cells
    weights = ctx.hotspot_weights[cells]
    n_hot = max(1, round(ctx.spec.hotspot_share * cells.size))
    order = np.lexsort((cells, -weights))[:n_hot]
    hot = cells[order]
    hot_w = weights[order]
    if hot_w.sum() > 0:
        return WeightedPatrol(hot, hot_w, ctx.dwell_h, ctx.rng)
    # Nothing to rank by in these cells (offence types of no opportunity here, say):
    # no cell is hotter than another, so the whole area, at random.
    return WeightedPatrol(cells, None, ctx.dwell_h, ctx.rng)


def make_strategy(
    spec: PatrolSpec,
    *,
    station_cell: int,
    jurisdiction_cells: IntArray,
    beat_cells: IntArray | None,
    site_cells: IntArray,
    market_cells: IntArray,
    hotspot_weights: FloatArray,
    rng: np.random.Generator,
) -> PatrolStrategy:
    """Build the strategy an agency's patrol block asks for, from the registry.

    ``beat_cells``, when given, restricts patrol to those cells of the jurisdiction;
    with no cell left to patrol, units wait at the station whatever the strategy.
    """
    if beat_cells is not None:
        jurisdiction_cells = np.intersect1d(jurisdiction_cells, beat_cells)
    if jurisdiction_cells.size == 0:
        return StationPatrol(station_cell)
    context = PatrolContext(
        spec=spec,
        station_cell=station_cell,
        cells=jurisdiction_cells,
        site_cells=site_cells,
        market_cells=market_cells,
        hotspot_weights=hotspot_weights,
        rng=rng,
    )
    return STRATEGIES[spec.strategy](context)


class PresenceLog:
    """Hours of stationary presence of each agency in each cell.

    Stationary presence counts time spent dwelling on patrol, on scene, holding
    an arrested person or waiting at the station. The crime engine reads the
    hours added each hour as guardianship (and applies residual deterrence).

    Each stay is added when it is recorded, so an entry's sum is its stays added in
    the order they came. The entries added to since they were last taken are kept
    once each, in a buffer with a mark per entry: taking them sorts a few hundred
    numbers and clears their marks, rather than making a set of every stay.
    """

    def __init__(self, n_agencies: int, n_cells: int):
        self._hours = np.zeros((n_agencies, n_cells))
        self._flat = self._hours.reshape(-1)  # a view: one index instead of two per add
        self._n_cells = n_cells
        self._seen = np.zeros(self._flat.size, dtype=np.bool_)  # added to since taken
        self._touched = np.zeros(self._flat.size, dtype=np.int64)  # those, in order seen
        self._count = np.zeros(1, dtype=np.int64)  # how many of ``_touched`` are in use
        # The same memory seen from Python: an element of a memoryview is a Python
        # number at once, and setting one costs less than NumPy's.
        self._flat_mv: memoryview[float] = memoryview(self._flat)
        self._seen_mv = memoryview(self._seen)
        self._touched_mv = memoryview(self._touched)
        self._count_mv = memoryview(self._count)

    @property
    def hours(self) -> FloatArray:
        """Hours of presence so far, by agency then cell (read-only for callers)."""
        return self._hours

    def add(self, agency: int, cell: int, start_h: float, end_h: float) -> None:
        """Record presence over [start_h, end_h)."""
        if end_h > start_h:
            i = agency * self._n_cells + cell
            self._flat_mv[i] += end_h - start_h
            if not self._seen_mv[i]:
                self._seen_mv[i] = True
                n = self._count_mv[0]
                self._touched_mv[n] = i
                self._count_mv[0] = n + 1

    def arrays(self) -> kernels.Presence:
        """The log's arrays, to which the compiled patrol legs add stays as :meth:`add` does.

        (:func:`simulator.agencies.kernels.add_stay`): the hours by flat entry, the
        marks of the entries added to since last taken, those entries and their count.
        """
        return (self._flat, self._seen, self._touched, self._count)

    @property
    def n_cells(self) -> int:
        """Cells per agency in the flat indices."""
        return self._n_cells

    def take_touched(self) -> IntArray:
        """The flat indices into ``hours`` added to since the last call, sorted, once each.

        Readers that follow the log hour by hour (the crime engine) then look only
        at what changed, not at every agency and cell.
        """
        return kernels.take_touched(self._seen, self._touched, self._count)

    def snapshot(self) -> FloatArray:
        """A copy of the hours so far (to take differences over a window)."""
        return self.hours.copy()
