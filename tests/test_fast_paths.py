"""The paths taken for speed give the same answers, to the last bit, as the plain ones.

Patrol legs played in bulk, distances of many units in one pass, presence added
in bulk, travel times of a few units computed on floats rather than arrays, the
cells with near-repeat risk tracked rather than scanned for, callers picked on
Python numbers. (The crime engine's compiled loops are checked in
``test_kernels.py``.)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.agencies import kernels
from simulator.agencies.patrol import PresenceLog
from simulator.agencies.units import Unit, UnitState, distances
from simulator.crime.engine import _HISTORY_STRIDE, SquareMeans
from simulator.dispatch.policy import FreeUnits
from simulator.model import STREAMS, SecurityModel
from simulator.scenario import Scenario, load_scenario
from simulator.scenario.modes import BUILTIN_MODES
from simulator.scenario.schema import CrimeSpec
from simulator.world.travel import CircuityTravel

from .conftest import SCENARIOS, SMALL_TOWN, inject, scenario_from
from .test_dispatch_trace import municipal_police


def patrolling_town(**extra: object) -> Scenario:
    """The small town with five State crews on random patrol, short dwells, and calls.

    Patrol speed changes with the hour, so a leg's hour matters.
    """
    return scenario_from(
        SMALL_TOWN,
        travel__congestion=[1.0 + 0.05 * h for h in range(24)],
        agencies__state_police__units=5,
        agencies__state_police__patrol={"strategy": "random", "dwell_min": 4},
        demand__rate_per_hour=2.0,
        **extra,
    )


def legs_one_by_one(unit: Unit, until: float) -> None:
    """The patrol replay in Python: finish a leg, start the next, and so on."""
    if unit.state is not UnitState.AVAILABLE:
        return
    unit._legs_one_by_one(until)


def leg_state(model: SecurityModel) -> list[tuple[object, ...]]:
    """Each crew's state and where it is: a patrolling crew's leg, another's position."""
    return [
        (u.state, *(u.leg() if u.state is UnitState.AVAILABLE else (u.cell, u.x, u.y)))
        for units in model.units
        for u in units
    ]


def test_legs_played_in_bulk_are_the_legs_played_one_by_one() -> None:
    bulk = SecurityModel(patrolling_town(), seed=4)
    single = SecurityModel(patrolling_town(), seed=4)
    bulk.run_until(5.0)
    single.run_until(5.0)
    assert leg_state(bulk) == leg_state(single)
    # Three hours of legs at once (tens of legs per crew, hundreds of targets drawn).
    for unit in (u for units in bulk.units for u in units):
        unit.advance_patrol(8.0)
    for unit in (u for units in single.units for u in units):
        legs_one_by_one(unit, 8.0)
    states = leg_state(bulk)
    assert states == leg_state(single)
    assert sum(s[0] is UnitState.AVAILABLE for s in states) >= 3
    assert np.array_equal(bulk.presence.hours, single.presence.hours)
    assert bulk.presence.hours.sum() > 5.0
    assert np.array_equal(bulk.presence.take_touched(), single.presence.take_touched())


def all_crews(model: SecurityModel) -> list[Unit]:
    """Every crew of the model, agency by agency."""
    return [u for units in model.units for u in units]


def assert_distances_are_positions(
    together: SecurityModel,
    apart: SecurityModel,
    pick: Callable[[SecurityModel], list[Unit]],
    now: float,
    until: float,
) -> None:
    """The distances of the crews ``pick`` chooses are from each one's position in turn.

    Asked at once of ``together`` and one crew after the other of ``apart`` (two
    models at the same point of the same run); both runs then go on the same up
    to ``until``: same patrol draws, same dispatches.
    """
    x0, y0 = 1234.5, 987.25
    found = distances(pick(together), now, x0, y0)
    one_by_one = [u.position(now) for u in pick(apart)]
    assert found == [float(np.hypot(x - x0, y - y0)) for x, y in one_by_one]
    assert leg_state(together) == leg_state(apart)
    for model in (together, apart):
        model.run_until(until)
    assert leg_state(together) == leg_state(apart)
    assert np.array_equal(together.presence.hours, apart.presence.hours)


def test_distances_of_many_units_are_from_each_units_position_in_turn() -> None:
    together = SecurityModel(patrolling_town(), seed=9)
    apart = SecurityModel(patrolling_town(), seed=9)
    for model in (together, apart):
        model.run_until(6.37)
    # Legs have ended since the last hourly update: distances play them.
    assert_distances_are_positions(together, apart, all_crews, 7.81, 30.0)


@pytest.mark.parametrize("pick", ["one", "reversed", "every_other", "more_than_its_room"])
def test_distances_of_any_crews_in_any_order_are_from_their_positions(pick: str) -> None:
    """The rows a dispatch measures are written into the table's buffer, in the order given.

    One crew, crews in an order other than the table's, a few of them after all
    of them (the buffer holds rows of an earlier, longer call), more crews than
    the buffer has room for (it grows); each answer is each crew's position in
    turn, and the runs go on the same.
    """
    together = SecurityModel(patrolling_town(), seed=3)
    apart = SecurityModel(patrolling_town(), seed=3)
    for model in (together, apart):
        model.run_until(9.5)

    def picked(model: SecurityModel) -> list[Unit]:
        units = all_crews(model)
        if pick == "one":
            return units[2:3]
        if pick == "reversed":
            return units[::-1]
        return units[::2]

    if pick == "more_than_its_room":
        together.units[0][0]._legs._measure(2)
    else:  # the buffer holds every crew's row first
        distances(all_crews(together), 9.75, 0.0, 0.0)
        for unit in all_crews(apart):
            unit.position(9.75)
    # Legs have ended since the last hourly update: distances play them.
    assert_distances_are_positions(together, apart, picked, 11.2, 20.0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(
                st.integers(0, 2),
                st.integers(0, 6),
                st.floats(0, 50, allow_nan=False),
                st.floats(0, 50, allow_nan=False),
            ),
            st.lists(st.tuples(st.integers(0, 20), st.floats(0, 50, allow_nan=False))),
            st.just("read"),
            st.just("take"),
        ),
        max_size=60,
    )
)
def test_presence_the_compiled_legs_add_sums_to_the_last_bit_like_one_by_one(
    ops: list[object],
) -> None:
    log = PresenceLog(3, 7)
    expected = [[0.0] * 7 for _ in range(3)]
    touched: set[int] = set()
    for op in ops:
        if op == "read":
            assert log.hours.tolist() == expected
        elif op == "take":
            assert log.take_touched().tolist() == sorted(touched)
            touched.clear()
        elif isinstance(op, list):  # stays added by the compiled legs
            for i, h in op:
                kernels.add_stay(*log.arrays(), i, h)
            for i, h in op:
                expected[i // 7][i % 7] += h
                touched.add(i)
        else:
            agency, cell, start, end = op  # type: ignore[misc]
            log.add(agency, cell, start, end)
            if end > start:
                expected[agency][cell] += end - start
                touched.add(agency * 7 + cell)
    assert log.snapshot().tolist() == expected
    assert log.take_touched().tolist() == sorted(touched)


@settings(max_examples=80, deadline=None)
@given(
    distances=st.lists(st.floats(0, 60_000, allow_nan=False), max_size=30),
    hour=st.integers(0, 23),
    priority=st.integers(1, 5),
    mode=st.sampled_from(sorted(BUILTIN_MODES)),
    congestion=st.lists(st.floats(0.1, 3.0), min_size=24, max_size=24),
)
def test_response_times_on_floats_are_those_on_arrays(
    distances: list[float], hour: int, priority: int, mode: str, congestion: list[float]
) -> None:
    scenario = scenario_from(SMALL_TOWN, travel__congestion=congestion)
    travel = CircuityTravel(scenario.travel, BUILTIN_MODES[mode])
    on_arrays = travel.response_h(np.array(distances, dtype=float), hour, priority).tolist()
    assert travel.response_times_h(distances, hour, priority) == on_arrays


def test_travel_times_of_crews_of_two_modes_are_those_computed_on_arrays() -> None:
    scenario = patrolling_town(
        agencies__pm=municipal_police(
            units=3, mode="foot", patrol={"strategy": "random", "dwell_min": 5}
        ),
        competences__dispute=["state_police", "pm"],
    )
    model = SecurityModel(scenario, seed=2)
    model.run_until(3.4)
    call = inject(model, 3.4, 1234.5, 2345.6, type="dispute", priority=1)
    units = [u for units in model.units for u in units if u.state is UnitState.AVAILABLE]
    assert {u.agency.name for u in units} == {"state_police", "pm"}
    now = 3.77  # legs have ended since the hour: travel_h plays them first
    times = FreeUnits(call, (0, 1), model.dispatcher._available, now).travel_h(units)
    # The plain computation: numpy's hypot and each mode's response_h on arrays.
    xs, ys = np.array([u.where(now) for u in units]).T
    dist = np.hypot(xs - call.x_m, ys - call.y_m)
    expected = [
        float(u.travel.response_h(dist[k : k + 1], 3, call.priority)[0])
        for k, u in enumerate(units)
    ]
    assert times.tolist() == expected
    assert len({u.travel for u in units}) == 2
    assert FreeUnits(call, (0,), model.dispatcher._available, now).travel_h([]).size == 0


def test_distances_are_those_of_numpys_hypot_not_pythons() -> None:
    rng = np.random.default_rng(5)
    dx, dy = (rng.random((2, 20_000)) - 0.5) * 80_000
    ours = [abs(complex(x, y)) for x, y in zip(dx.tolist(), dy.tolist(), strict=True)]
    assert ours == np.hypot(dx, dy).tolist()


@settings(max_examples=60, deadline=None)
@given(
    nx=st.integers(1, 9),
    ny=st.integers(1, 9),
    radius=st.integers(0, 4),
    seed=st.integers(0, 2**16),
)
def test_square_means_from_running_sums_are_plain_means_over_the_square(
    nx: int, ny: int, radius: int, seed: int
) -> None:
    """The summed-area table gives each cell's mean over its square, clipped to the grid.

    Not to the last bit: a difference of running sums carries their rounding, a few
    ulps of the whole grid's sum.
    """
    rows = np.random.default_rng(seed).exponential(size=(2, nx * ny))
    square = SquareMeans(nx, ny, radius)
    fast = square(rows)
    some = np.arange(0, nx * ny, 2)
    np.testing.assert_array_equal(square.at(square.tables(rows), some), fast[:, some])
    grids = rows.reshape(2, ny, nx)
    for j in range(ny):
        for i in range(nx):
            box = grids[:, max(j - radius, 0) : j + radius + 1, max(i - radius, 0) : i + radius + 1]
            np.testing.assert_allclose(
                fast[:, j * nx + i], box.mean(axis=(1, 2)), rtol=1e-12, atol=1e-13 * rows.sum()
            )


def test_cells_with_near_repeat_risk_are_tracked_as_a_scan_would_find_them() -> None:
    """The engine decays and draws near repeats over the cells it tracks: those with risk."""
    types = ["incivility", "theft", "burglary", "assault", "drug_dealing", "serious_violence"]
    # Many burglaries, so that near repeats come and go within six days.
    defaults = CrimeSpec().types
    crime_types = {name: defaults[name].model_dump() for name in types}
    crime_types["burglary"]["rate_per_1000"] = 40.0
    scenario = scenario_from(
        SMALL_TOWN,
        crime={"near_repeat": {"triggered": 0.9, "decay_days": 0.2}, "types": crime_types},
        citizens={"offender_share": 0.1},
        **{f"competences__{name}": ["state_police"] for name in types},
    )
    model = SecurityModel(scenario, seed=5)
    crime = model.crime
    assert crime is not None
    sizes = []
    for hour in range(1, 24 * 6):
        model.run_until(float(hour))
        np.testing.assert_array_equal(crime._risk_at, np.flatnonzero(crime._near_repeat))
        sizes.append(crime._risk_at.size)
    assert max(sizes) >= 9  # burglaries raised risk around them
    assert min(np.diff(sizes)) < 0  # and it faded out of some cells


def test_the_crime_stream_goes_on_from_each_hours_place_as_when_it_was_put_back() -> None:
    """History-made opportunities draw from the crime stream at hour h x 2**24, and a
    market that moves draws its new cell from where the last such draw left it: as
    when the stream was put back at its start and advanced every hour (a copy of it
    now moves ahead, and the stream takes its state when a market moves)."""
    scenario = load_scenario(SCENARIOS / "drug_enforcement.yaml", ["run.days=20"])
    model = SecurityModel(scenario, seed=3)
    crime = model.crime
    assert crime is not None
    seed = np.random.SeedSequence(3).spawn(len(STREAMS))[STREAMS.index("crime")]
    start = np.random.default_rng(seed).bit_generator.state
    old = np.random.default_rng()  # the stream as the engine used it before
    old.bit_generator.state = start
    assert crime._rng_behind  # the first hour drew: the stream is where that left it
    old.bit_generator.advance(crime._history_at)
    seen = {"draws": 0, "moves": 0}
    history, neighbour = crime._history_opportunities, crime._neighbour

    def drawn_history(hour: int, hod: int, ordinary: int) -> object:
        at = crime._history_at
        out = history(hour, hod, ordinary)
        drawn = out[0][ordinary:]  # the rows after the ordinary ones: the history's
        if crime._history_at != at:  # the hour drew: put back, advance, draw again
            old.bit_generator.state = start
            old.bit_generator.advance(hour * _HISTORY_STRIDE)
            old.random()
            if drawn.size:
                np.testing.assert_array_equal(drawn, old.random(drawn.shape))
                seen["draws"] += 1
        else:
            assert drawn.size == 0
        return out

    def moved(cell: int) -> int:
        found = neighbour(cell)
        if (crime._neighbour_table[cell] >= 0).any():
            old.integers(int((crime._neighbour_table[cell] >= 0).sum()))
            assert crime._rng.bit_generator.state == old.bit_generator.state
            seen["moves"] += 1
        return found

    crime._history_opportunities = drawn_history  # type: ignore[method-assign]
    crime._neighbour = moved  # type: ignore[method-assign]
    model.run_until(24.0 * 12)
    assert seen["draws"] > 20 and seen["moves"] > 100


def test_callers_picked_on_python_numbers_are_those_of_the_array_formula() -> None:
    """Mostly a resident of the call's cell (none in empty cells), else anyone."""
    model = SecurityModel(patrolling_town(), seed=2)
    pop = model.population
    empty = np.flatnonzero(np.diff(pop.first) == 0)
    assert empty.size > 0
    cells = np.concatenate([np.arange(0, model.territory.n_cells, 7), empty[:5]])
    callers = model.experience.pick_callers(cells, np.random.default_rng(3))
    u = np.random.default_rng(3).random((cells.size, 2))
    start, count = pop.first[cells], pop.first[cells + 1] - pop.first[cells]
    local = start + np.floor(u[:, 1] * np.maximum(count, 1)).astype(np.int64)
    anyone = np.floor(u[:, 1] * pop.size).astype(np.int64)
    np.testing.assert_array_equal(callers, np.where((u[:, 0] < 0.7) & (count > 0), local, anyone))
