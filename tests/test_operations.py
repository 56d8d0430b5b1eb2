"""Operations beyond calls: non-call duties, and pre-emption by urgent calls.

Trace tests tell what happens to one crew with exact times; the statistical test
checks the share of time on duties against the alternating-renewal process the
life cycle runs (ODD section 7.8).
"""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from simulator.agencies.units import Unit, UnitState
from simulator.model import SecurityModel
from simulator.records.incidents import Outcome
from simulator.records.metrics import RunTables
from simulator.scenario.schema import DispatchSpec

from .conftest import SMALL_TOWN, inject, scenario_from

HANDLING_H = 3 / 60
TURNOUT_H = 1 / 60


def drive_h(x0: float, y0: float, x1: float, y1: float, kmh: float) -> float:
    """Travel time by the small town's formula: turnout + 1.3 x distance / speed."""
    return TURNOUT_H + 1.3 * math.hypot(x1 - x0, y1 - y0) / (kmh * 1000)


def station_xy(model: SecurityModel) -> tuple[float, float]:
    cell = model.agencies[0].station_cell
    return float(model.territory.x_m[cell]), float(model.territory.y_m[cell])


def until_on_duty(model: SecurityModel, unit: Unit, limit_h: float = 48.0) -> float:
    """Run in small steps until ``unit`` is on a duty; return the time.

    A free crew's duties are played with its patrol legs: it stays available for
    the control room, which asks whether it is free (``free_at``) before it sends it.
    """
    t = float(model.time)
    while unit.state is not UnitState.DUTY and unit.free_at(t):
        t += 0.01
        assert t < limit_h, "the unit never went on a duty"
        model.run_until(t)
    return t


def states_of(model: SecurityModel, unit: Unit) -> list[str]:
    return [s for (uid, _, s, _, _) in model.recorder.state_intervals() if uid == unit.unique_id]


def one_crew_on_duties(**extra: object) -> SecurityModel:
    scenario = scenario_from(
        SMALL_TOWN,
        agencies__state_police__units=1,
        agencies__state_police__duties={"share": 0.5, "mean_min": 600},
        **extra,
    )
    return SecurityModel(scenario, seed=1)


def test_an_urgent_call_calls_a_crew_off_its_duty_at_the_station() -> None:
    model = one_crew_on_duties()
    unit = model.units[0][0]
    t = until_on_duty(model, unit)
    sx, sy = station_xy(model)
    assert unit.where(t) == (sx, sy)  # duties are done at the station
    urgent = inject(model, t, sx + 1200, sy, priority=1, on_scene_min=20)
    model.run_until(t + 2)
    # No crew was free: the one on duty leaves the station once the call is handled.
    assert urgent.t_dispatched_h == pytest.approx(t + HANDLING_H)
    assert urgent.unit == unit.unique_id
    assert urgent.t_arrived_h == pytest.approx(
        urgent.t_dispatched_h + drive_h(sx, sy, sx + 1200, sy, 40)
    )
    assert urgent.outcome is Outcome.CLEARED
    assert states_of(model, unit)[-3:] == ["duty", "en_route", "on_scene"]
    assert model.recorder._preemptions == [(pytest.approx(t + HANDLING_H), "state_police", "duty")]


def test_a_less_urgent_call_waits_for_the_end_of_the_duty() -> None:
    model = one_crew_on_duties()
    unit = model.units[0][0]
    t = until_on_duty(model, unit)
    sx, sy = station_xy(model)
    minor = inject(model, t, sx + 1200, sy, priority=2)
    model.run_until(t + 0.5)
    assert minor.t_dispatched_h is None  # still on its duty, and not pre-empted
    assert unit.state is UnitState.DUTY
    duty_started = unit.since
    model.run_until(t + 40)
    assert minor.t_dispatched_h is not None
    duty_ended = next(
        end
        for (uid, _, s, start, end) in model.recorder.state_intervals()
        if uid == unit.unique_id and s == "duty" and start == duty_started
    )
    assert minor.t_dispatched_h == pytest.approx(duty_ended)
    assert model.recorder._preemptions == []


def test_a_duty_that_is_not_preemptible_is_finished_first() -> None:
    model = one_crew_on_duties(agencies__state_police__duties__preemptible=False)
    unit = model.units[0][0]
    t = until_on_duty(model, unit)
    sx, sy = station_xy(model)
    urgent = inject(model, t, sx + 1200, sy, priority=1)
    model.run_until(t + 0.5)
    assert urgent.t_dispatched_h is None
    assert model.recorder._preemptions == []


def test_a_crew_on_its_way_to_a_minor_call_is_diverted_to_an_urgent_one() -> None:
    scenario = scenario_from(
        SMALL_TOWN,
        agencies__state_police__units=1,
        dispatch__preemption={"en_route_priority": 3},
    )
    model = SecurityModel(scenario, seed=1)
    unit = model.units[0][0]
    sx, sy = station_xy(model)
    minor = inject(model, 1.0, sx + 1500, sy, priority=3, on_scene_min=10)
    urgent = inject(model, 1.05, sx, sy + 1000, priority=1, on_scene_min=15)
    model.run_until(6)
    # The crew left for the minor call at 1.05 (handling), heading east at 20 km/h.
    left_at = 1.0 + HANDLING_H
    assert urgent.t_dispatched_h == pytest.approx(1.05 + HANDLING_H)
    assert urgent.unit == unit.unique_id
    # Diverted from the point of its straight line it had reached.
    share = (urgent.t_dispatched_h - left_at) / drive_h(sx, sy, sx + 1500, sy, 20)
    x = sx + 1500 * share
    assert urgent.t_arrived_h == pytest.approx(
        urgent.t_dispatched_h + drive_h(x, sy, sx, sy + 1000, 40)
    )
    # The minor call went back to the queue and was answered once the crew cleared.
    assert urgent.t_cleared_h is not None
    assert minor.t_dispatched_h == pytest.approx(urgent.t_cleared_h)
    assert minor.t_arrived_h is not None and minor.outcome is Outcome.CLEARED
    assert states_of(model, unit)[1:5] == ["available", "en_route", "en_route", "on_scene"]
    assert model.recorder._preemptions == [
        (pytest.approx(1.05 + HANDLING_H), "state_police", "call")
    ]


def test_without_en_route_preemption_the_urgent_call_waits() -> None:
    model = SecurityModel(scenario_from(SMALL_TOWN, agencies__state_police__units=1), seed=1)
    sx, sy = station_xy(model)
    minor = inject(model, 1.0, sx + 1500, sy, priority=3, on_scene_min=10)
    urgent = inject(model, 1.05, sx, sy + 1000, priority=1)
    model.run_until(6)
    assert minor.t_cleared_h is not None
    assert urgent.t_dispatched_h == pytest.approx(minor.t_cleared_h)


def test_the_share_of_time_on_duties_is_the_setting() -> None:
    """Duty blocks alternate with free time: the long-run share is ``share``.

    With no calls, each crew alternates exponential free times (mean
    ``m (1 - s) / s``) and duties (mean ``m``): a two-state Markov chain whose
    time-average has variance ``2 s (1 - s) / ((1/a + 1/m) T)`` over ``T`` hours
    (the integrated autocovariance of the on-duty indicator). Four crews of 30
    days; the tolerance is four standard errors.
    """
    share, mean_min, days, crews = 0.3, 45.0, 30, 4
    scenario = scenario_from(
        SMALL_TOWN,
        agencies__state_police__units=crews,
        agencies__state_police__duties={"share": share, "mean_min": mean_min},
        run={"days": days, "warmup_days": 0, "drain_max_h": 1},
    )
    model = SecurityModel(scenario, seed=7)
    model.run_until(days * 24.0)
    metrics = RunTables(model.finish(), scenario)
    observed = metrics.summary(seed=7, runtime_s=0.0).duty_share["state_police"]
    assert observed is not None
    m = mean_min / 60.0
    a = m * (1 - share) / share
    se = math.sqrt(2 * share * (1 - share) / ((1 / a + 1 / m) * days * 24.0 * crews))
    assert abs(observed - share) < 4 * se, (observed, share, se)


def test_a_diverted_call_may_not_preempt_in_turn() -> None:
    with pytest.raises(ValidationError, match="less urgent than the calls that pre-empt"):
        DispatchSpec.model_validate({"preemption": {"priority": 2, "en_route_priority": 2}})


def test_the_road_share_follows_the_staffing_of_each_period() -> None:
    """A crew always on the road spends its field share there, whatever the hires.

    One crew the first day, three the second (a timeline change): with no calls
    and no duties every on-duty hour is on the road, so the road share is the
    field share. The paid hours of each period count for that period only.
    """
    scenario = scenario_from(
        SMALL_TOWN,
        demand__rate_per_hour=0,
        agencies__state_police__units=1,
        timeline=[{"day": 1, "set": {"agencies.state_police.units": 3}}],
    )
    model = SecurityModel(scenario, seed=1)
    model.run_until(48.0)
    summary = RunTables(model.finish(), scenario).summary(seed=1, runtime_s=0.0)
    field_share = scenario.agencies["state_police"].field_share
    assert summary.road_share["state_police"] == pytest.approx(field_share)


def duty_starts(model: SecurityModel) -> list[float]:
    return [start for (_, _, s, start, _) in model.recorder.state_intervals() if s == "duty"]


def test_duties_turned_off_on_the_timeline_start_no_more() -> None:
    """A free crew's planned duty is dropped when the timeline turns duties off."""
    scenario = scenario_from(
        SMALL_TOWN,
        demand__rate_per_hour=0,
        agencies__state_police__units=4,
        agencies__state_police__duties={"share": 0.5, "mean_min": 600},
        timeline=[{"day": 1, "set": {"agencies.state_police.duties.share": 0.0}}],
    )
    model = SecurityModel(scenario, seed=3)
    model.run_until(72.0)
    model.finish()
    assert duty_starts(model)  # the first day had duties
    assert [t for t in duty_starts(model) if t >= 24.0] == []


def test_duties_turned_on_on_the_timeline_reach_the_crews_already_free() -> None:
    """Crews free when duties start on the timeline plan one then, without waiting for a job."""
    scenario = scenario_from(
        SMALL_TOWN,
        demand__rate_per_hour=0,
        agencies__state_police__units=2,
        timeline=[
            {"day": 1, "set": {"agencies.state_police.duties": {"share": 0.5, "mean_min": 60}}}
        ],
    )
    model = SecurityModel(scenario, seed=3)
    model.run_until(48.0)
    model.finish()
    starts = duty_starts(model)
    assert starts and min(starts) >= 24.0
