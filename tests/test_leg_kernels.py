"""The compiled patrol legs give the answers of the Python ones, to the last bit.

The loops of :mod:`simulator.agencies.kernels` play idle crews' legs and measure
their distances on the fleet's leg table. Each piece is checked against the
Python it stands for: a leg's length against ``math.hypot``, a target taken from
a strategy's buffer against :meth:`WeightedPatrol.next_cell`, and whole runs
against the same runs with every leg played in Python
(:meth:`Unit._legs_one_by_one`).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.agencies import fleet, kernels
from simulator.agencies.kernels import COMPILED, N_INTS
from simulator.agencies.patrol import PatrolBuffers, WeightedPatrol
from simulator.agencies.units import Unit, UnitState
from simulator.model import SecurityModel
from simulator.scenario import load_scenario
from simulator.world.travel import CircuityTravel

from .conftest import SCENARIOS, SMALL_TOWN, scenario_from
from .test_fast_paths import leg_state, patrolling_town

finite = st.floats(allow_nan=False, allow_infinity=False)


def same_float(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a.hex() == b.hex()


@settings(max_examples=300, deadline=None)
@given(a=st.floats(), b=st.floats())
def test_a_legs_length_is_pythons_hypot_to_the_last_bit(a: float, b: float) -> None:
    assert same_float(kernels.py_hypot(a, b), math.hypot(a, b))


def test_lengths_between_cell_centres_are_pythons_hypot() -> None:
    rng = np.random.default_rng(5)
    dx = (rng.uniform(-30_000, 30_000, 20_000) * rng.random(20_000)).tolist()
    dy = (rng.uniform(-30_000, 30_000, 20_000) * rng.random(20_000)).tolist()
    odd = [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, sys.float_info.max, 1e-300]
    for a, b in [*zip(dx, dy, strict=True), *((p, q) for p in odd for q in odd)]:
        assert same_float(kernels.py_hypot(a, b), math.hypot(a, b)), (a, b)


def drive_both(cells: np.ndarray, seed: int, currents: list[int]) -> tuple[list[int], list[int]]:
    """Targets from ``next_cell`` alone, and from ``take_target`` with ``next_cell``
    when the buffer would run out (as the compiled loops do)."""
    plain = WeightedPatrol(cells, None, 0.1, np.random.default_rng(seed))
    table = WeightedPatrol(cells, None, 0.1, np.random.default_rng(seed))
    block = PatrolBuffers(1)
    table.move_buffer(block)
    row = table.buffer_row[1]
    want = [int(c) for c in (plain.next_cell(cur) for cur in currents) if c is not None]
    got = []
    for cur in currents:
        cell = kernels.take_target(block.draws_view, block.state_view, row, cur)
        if cell < 0:
            found = table.next_cell(cur)
            assert found is not None
            cell = found
        got.append(cell)
    return want, got


@settings(max_examples=60, deadline=None)
@given(
    n_cells=st.integers(1, 4),
    seed=st.integers(0, 2**16),
    currents=st.lists(st.integers(0, 5), min_size=1, max_size=700),
)
def test_targets_taken_in_the_loop_are_those_next_cell_draws(
    n_cells: int, seed: int, currents: list[int]
) -> None:
    """Few cells, so that draws often repeat the current cell; hundreds of targets,
    so that buffers run out and Python draws again."""
    want, got = drive_both(np.arange(n_cells, dtype=np.int64) + 1, seed, currents)
    assert got == want


def all_in_python(model: SecurityModel) -> None:
    """Have every crew's legs played in Python (as for a travel the loops do not know)."""
    for units in model.units:
        for unit in units:
            unit._legs.ints[unit._slot * N_INTS + COMPILED] = 0


@pytest.mark.parametrize("strategy", ["random", "static", "hotspot"])
def test_runs_with_compiled_legs_are_runs_with_legs_played_in_python(strategy: str) -> None:
    scenario = scenario_from(
        SMALL_TOWN,
        travel__congestion=[1.0 + 0.05 * h for h in range(24)],
        agencies__state_police__units=5,
        agencies__state_police__patrol={"strategy": strategy, "dwell_min": 4},
        demand__rate_per_hour=2.0,
    )
    compiled = SecurityModel(scenario, seed=11)
    python = SecurityModel(scenario, seed=11)
    all_in_python(python)
    for until in (3.5, 20.0, 75.25):
        compiled.run_until(until)
        python.run_until(until)
        assert leg_state(compiled) == leg_state(python)
        assert np.array_equal(compiled.presence.hours, python.presence.hours)
    assert sum(s[0] is UnitState.AVAILABLE for s in leg_state(compiled)) >= 1
    assert compiled.presence.hours.sum() > 10.0
    assert [
        (i.incident_id, i.unit, i.t_dispatched_h, i.t_arrived_h)
        for i in compiled.recorder.incidents_so_far()
    ] == [
        (i.incident_id, i.unit, i.t_dispatched_h, i.t_arrived_h)
        for i in python.recorder.incidents_so_far()
    ]


def layouts(signature: tuple[object, ...]) -> set[str]:
    return {str(t.layout) for t in signature if hasattr(t, "layout")}


def test_the_leg_loop_is_compiled_once_for_c_ordered_arrays() -> None:
    model = SecurityModel(patrolling_town(), seed=3)
    model.run_until(48.0)
    units: list[Unit] = [u for group in model.units for u in group]
    units[0].position(model.now_h + 2.0)  # one crew's legs
    assert len(kernels.play.signatures) == 1
    assert layouts(kernels.play.signatures[0]) == {"C"}


class _UnknownTravel(CircuityTravel):
    """A travel model the compiled loop does not know: its crews' legs are played in Python."""


def test_runs_whose_table_grows_and_strategies_change_mid_day_are_runs_in_python(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Hires past the leg table's 16 rows and the block's 8 strategies (both grow:
    crews and strategies must read their new rows), strategies, a mode with its
    strategy and a dwell changed in the middle of a day while crews patrol, against
    the same run with every leg played in Python (a travel model the loop does not
    know, whatever the changes)."""
    path = tmp_path / "growing.yaml"
    path.write_text(
        f"extends: {SCENARIOS / 'baseline.yaml'}\n"
        "run: {days: 2, warmup_days: 0}\n"
        "timeline:\n"
        "  - {day: 0.5, hire: {agency: state_police, officers: 2000}}\n"
        "  - {day: 0.6, hire: {agency: pm_centre, officers: 600}}\n"
        "  - day: 0.75\n"
        "    set: {agencies.pm_nord.patrol.strategy: hotspot,\n"
        "          agencies.pm_est.patrol.strategy: static}\n"
        "  - {day: 1.0, set: {agencies.pm_centre.patrol.strategy: hotspot}}\n"
        "  - {day: 1.1, set: {agencies.pm_nord.patrol.strategy: random}}\n"
        "  - {day: 1.2, set: {agencies.pm_est.patrol.strategy: random}}\n"
        "  - {day: 1.3, set: {agencies.state_police.patrol.strategy: static}}\n"
        "  - day: 1.45\n"
        "    set: {agencies.pm_centre.mode: foot, agencies.pm_centre.patrol.strategy: random}\n"
        "  - {day: 1.6, set: {agencies.pm_centre.patrol.dwell_min: 3}}\n",
        encoding="utf-8",
    )
    scenario = load_scenario(path)
    compiled = SecurityModel(scenario, seed=4)
    monkeypatch.setattr(fleet, "CircuityTravel", _UnknownTravel)
    python = SecurityModel(scenario, seed=4)
    monkeypatch.undo()
    # Its fleet keeps building unknown travel models when a change rebuilds them.
    unknown: dict[str, CircuityTravel] = {}
    monkeypatch.setattr(
        python.fleet,
        "_travel_of",
        lambda agency: unknown.setdefault(
            agency.spec.mode, _UnknownTravel(scenario.travel, agency.mode)
        ),
    )
    rows = {m: m.units[0][0]._legs.floats.buffer_info()[1] for m in (compiled, python)}
    for until in (10.0, 17.5, 30.0, 40.0, 47.0):
        compiled.run_until(until)
        python.run_until(until)
        assert leg_state(compiled) == leg_state(python)
        assert np.array_equal(compiled.presence.hours, python.presence.hours)
    legs = compiled.units[0][0]._legs
    assert legs.floats.buffer_info()[1] > rows[compiled]  # the table grew
    assert len(legs.buffers._members) > 8  # and so did the block of strategies' draws
    crews = [u for group in python.units for u in group]
    assert not any(u._legs.ints[u._slot * N_INTS + COMPILED] for u in crews)


@settings(max_examples=150, deadline=None)
@given(
    entries=st.lists(st.integers(0, 5_000), unique=True, max_size=700),
    junk=st.lists(st.integers(0, 5_000), max_size=5),
)
def test_touched_entries_are_taken_sorted_and_unmarked(entries: list[int], junk: list[int]) -> None:
    """The presence log's touched entries come back in ascending order (the kernel's own
    heapsort), their marks cleared, none left; what lies past the count is not read."""
    seen = np.zeros(5_001, dtype=np.bool_)
    seen[entries] = True
    touched = np.array(entries + junk, dtype=np.int64)
    count = np.array([len(entries)], dtype=np.int64)
    taken = kernels.take_touched(seen, touched, count)
    assert taken.tolist() == sorted(entries)
    assert not seen.any()
    assert count[0] == 0
