"""Trace tests: small stories of dispatch, told with exact times."""

from __future__ import annotations

import math

import pytest

from simulator.agencies.units import UnitState
from simulator.model import SecurityModel
from simulator.records.incidents import IncidentKind, Outcome

from .conftest import SMALL_TOWN, inject, scenario_from

HANDLING_H = 3 / 60
TURNOUT_H = 1 / 60


def drive_h(model: SecurityModel, x0: float, y0: float, x1: float, y1: float, kmh: float) -> float:
    """Travel time by the model's formula: turnout + 1.3 x distance / speed."""
    return TURNOUT_H + 1.3 * math.hypot(x1 - x0, y1 - y0) / (kmh * 1000)


def municipal_police(**extra: object) -> dict[str, object]:
    """One static municipal crew for the centre (the stories' second agency)."""
    return {
        "kind": "municipal_police",
        "communes": ["centre"],
        "units": 1,
        "patrol": {"strategy": "static"},
        **extra,
    }


def station_xy(model: SecurityModel, agency: int = 0) -> tuple[float, float]:
    cell = model.agencies[agency].station_cell
    return float(model.territory.x_m[cell]), float(model.territory.y_m[cell])


def test_one_call_one_unit_goes_arrives_clears_and_returns() -> None:
    model = SecurityModel(scenario_from(SMALL_TOWN), seed=1)
    sx, sy = station_xy(model)
    call = inject(model, 1.25, sx + 1500, sy, priority=2, on_scene_min=30)
    model.run_until(5)

    # The call waits only for the control room's handling, then unit #1 goes.
    assert call.t_dispatched_h == pytest.approx(1.25 + HANDLING_H)
    assert call.agency == "state_police"
    unit = model.units[0][0]
    assert call.unit == unit.unique_id
    # It arrives after turnout and the drive at priority-2 speed, then works 30 min.
    expected_arrival = call.t_dispatched_h + drive_h(model, sx, sy, sx + 1500, sy, 30)
    assert call.t_arrived_h == pytest.approx(expected_arrival)
    assert call.t_cleared_h == pytest.approx(expected_arrival + 0.5)
    assert call.outcome is Outcome.CLEARED
    # The other unit never moved, and unit #1 is back on patrol (static: its station).
    assert unit.state is UnitState.AVAILABLE
    assert model.units[0][1].state is UnitState.AVAILABLE
    states = [s for (uid, _, s, _, _) in model.recorder.state_intervals() if uid == unit.unique_id]
    assert states == ["off_duty", "available", "en_route", "on_scene"]


def test_the_nearest_available_unit_goes_not_the_lowest_numbered() -> None:
    model = SecurityModel(scenario_from(SMALL_TOWN), seed=1)
    sx, sy = station_xy(model)
    near = inject(model, 1.0, sx + 100, sy, on_scene_min=6)  # unit #1 (tie at the station)
    far = inject(model, 1.02, sx + 1800, sy, on_scene_min=70)  # unit #2, the only one free
    follow = inject(model, 2.3, sx + 1750, sy, on_scene_min=10)
    model.run_until(4)
    # When the follow-up call is dispatched, unit #2 has just left the far call and is
    # driving back (7 minutes at patrol speed); unit #1 waits at the station.
    assert far.t_cleared_h is not None
    assert far.t_cleared_h < follow.t_dispatched_h < far.t_cleared_h + 0.1
    u1, u2 = model.units[0]
    assert near.unit == u1.unique_id and far.unit == u2.unique_id
    assert follow.unit == u2.unique_id


def test_a_freed_unit_takes_the_most_urgent_waiting_call_first() -> None:
    model = SecurityModel(scenario_from(SMALL_TOWN, agencies__state_police__units=1), seed=1)
    sx, sy = station_xy(model)
    busy = inject(model, 1.0, sx, sy + 200, priority=2, on_scene_min=60)
    low = inject(model, 1.1, sx + 200, sy, priority=3)
    urgent = inject(model, 1.2, sx - 200, sy, priority=1)
    model.run_until(6)
    assert busy.t_cleared_h is not None
    # The priority-1 call came later but is served first, when the unit clears.
    assert urgent.t_dispatched_h == pytest.approx(busy.t_cleared_h)
    assert low.t_dispatched_h is not None and low.t_dispatched_h > urgent.t_dispatched_h


def test_first_come_first_served_within_a_priority() -> None:
    model = SecurityModel(scenario_from(SMALL_TOWN, agencies__state_police__units=1), seed=1)
    sx, sy = station_xy(model)
    inject(model, 1.0, sx, sy, priority=2, on_scene_min=60)
    first = inject(model, 1.1, sx + 200, sy, priority=2)
    second = inject(model, 1.2, sx - 50, sy, priority=2)  # nearer the freed crew: not first
    model.run_until(6)
    assert first.t_dispatched_h is not None and second.t_dispatched_h is not None
    assert first.t_dispatched_h < second.t_dispatched_h


def test_municipal_arrest_is_handed_over_to_the_state() -> None:
    scenario = scenario_from(
        SMALL_TOWN,
        agencies__pm=municipal_police(station="centre"),
        competences__dispute=["municipal_police", "state_police"],
    )
    model = SecurityModel(scenario, seed=1)
    sx, sy = station_xy(model, 1)
    arrest = inject(model, 1.0, sx + 300, sy, type="dispute", on_scene_min=30, arrest=True)
    model.run_until(8)
    pm_unit = model.units[1][0]
    assert arrest.agency == "pm"
    tasks = [i for i in model.recorder.incidents_so_far() if i.kind is IncidentKind.TASK]
    assert len(tasks) == 1
    task = tasks[0]
    # The hand-over is created when the municipal crew clears the scene...
    assert task.parent_id == arrest.incident_id
    assert task.t_reported_h == pytest.approx(arrest.t_cleared_h)
    # ...goes straight to the State without call handling...
    assert task.agency == "state_police"
    assert task.t_dispatched_h == pytest.approx(task.t_reported_h)
    # ...and frees the municipal crew 20 minutes after the State crew arrives.
    holding = [
        (s, t0, t1)
        for (uid, _, s, t0, t1) in model.recorder.state_intervals()
        if uid == pm_unit.unique_id and s == "holding"
    ]
    assert len(holding) == 1
    assert holding[0][1] == pytest.approx(arrest.t_cleared_h)
    assert holding[0][2] == pytest.approx(task.t_arrived_h + 20 / 60)
    # The State crew then does the custody procedure at its station (120 min).
    state_unit = next(u for u in model.units[0] if u.unique_id == task.unit)
    follow = [
        (t0, t1)
        for (uid, _, s, t0, t1) in model.recorder.state_intervals()
        if uid == state_unit.unique_id and s == "follow_up"
    ]
    assert follow and follow[0][1] - follow[0][0] == pytest.approx(2.0)


def test_a_call_no_agency_may_take_is_unanswered() -> None:
    scenario = scenario_from(
        SMALL_TOWN,
        agencies__pm=municipal_police(),
        competences__noise=["municipal_police"],
    )
    model = SecurityModel(scenario, seed=1)
    suburb = int(model.territory.town_hall_cell[model.territory.commune_index("suburb")])
    x, y = float(model.territory.x_m[suburb]), float(model.territory.y_m[suburb])
    call = inject(model, 1.0, x, y, type="noise")
    model.run_until(3)
    assert call.outcome is Outcome.NO_AGENCY
    assert call.t_dispatched_h is None


def test_a_call_waiting_past_the_limit_is_abandoned() -> None:
    scenario = scenario_from(SMALL_TOWN, agencies__state_police__units=1, demand__max_wait_min=30)
    model = SecurityModel(scenario, seed=1)
    sx, sy = station_xy(model)
    inject(model, 1.0, sx, sy, on_scene_min=120)
    dropped = inject(model, 1.1, sx + 200, sy)
    model.run_until(6)
    assert dropped.outcome is Outcome.ABANDONED
    assert dropped.t_dispatched_h is None


def test_a_call_outside_service_hours_waits_for_the_morning_shift() -> None:
    scenario = scenario_from(
        SMALL_TOWN,
        agencies__pm=municipal_police(service_hours=[8, 20]),
        competences__noise=["municipal_police"],
    )
    model = SecurityModel(scenario, seed=1)
    sx, sy = station_xy(model, 1)
    call = inject(model, 21.5, sx + 200, sy, type="noise")
    model.run_until(34)
    assert call.t_dispatched_h == pytest.approx(32.0)  # 08:00 the next day


def test_a_hand_over_nobody_takes_releases_the_holding_crew() -> None:
    scenario = scenario_from(
        SMALL_TOWN,
        agencies__state_police__units=1,
        agencies__pm=municipal_police(),
        competences__dispute=["municipal_police"],
        demand__max_wait_min=30,
    )
    model = SecurityModel(scenario, seed=1)
    sx, sy = station_xy(model, 1)
    # Incident 0 ends in an arrest by the municipal crew; the only State crew is
    # busy for hours, so the hand-over is abandoned after 30 minutes.
    arrest = inject(model, 1.0, sx + 300, sy, type="dispute", on_scene_min=10, arrest=True)
    inject(model, 1.01, sx - 300, sy, on_scene_min=300)
    model.run_until(6)
    assert arrest.incident_id == 0
    task = next(i for i in model.recorder.incidents_so_far() if i.kind is IncidentKind.TASK)
    assert task.outcome is Outcome.ABANDONED
    assert model.units[1][0].state is UnitState.AVAILABLE
