"""The shortcuts taken on the event paths (a call's dispatch, the duty cycle) change nothing.

The quickest unit is found without a tie-break when nobody ties; an agency's
duty times are worked out once per configuration rather than at every free
crew; a patrolling crew is taken off patrol without closing a stay it never
opened; a duty plan replaced by a policy change is dropped.
Each is compared with the plain way, or its premise checked on a run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.agencies.agency import Agency
from simulator.agencies.kernels import DUTY_AT
from simulator.agencies.units import Unit, UnitState
from simulator.dispatch.lifecycle import _duty_hours
from simulator.dispatch.policy import quickest
from simulator.model import SecurityModel
from simulator.scenario.schema import DutiesSpec

from .conftest import SMALL_TOWN, scenario_from


def quickest_by_scan(numbers: Sequence[int], times: Sequence[float]) -> int:
    """The plain rule: among the fastest, the lowest number, then the earliest."""
    fastest = min(times)
    return min((k for k, t in enumerate(times) if t == fastest), key=lambda k: numbers[k])


# Few distinct values, so that ties (and ties of numbers) are frequent.
_TIMES = st.sampled_from([0.05, 0.1, 0.1 + 1e-17, 0.25, 0.0, -0.0, math.inf])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_TIMES, st.integers(1, 4)), min_size=1, max_size=12))
def test_the_quickest_unit_is_the_one_the_plain_scan_finds(rows: list[tuple[float, int]]) -> None:
    times = [t for t, _ in rows]
    numbers = [n for _, n in rows]
    units = cast(list[Unit], [SimpleNamespace(number=n) for n in numbers])
    assert quickest(units, times) == quickest_by_scan(numbers, times)


def test_a_tie_goes_to_the_lower_number_even_if_later() -> None:
    units = cast(list[Unit], [SimpleNamespace(number=n) for n in (3, 1, 2)])
    assert quickest(units, [0.2, 0.1, 0.1]) == 1
    assert quickest(units, [0.1, 0.2, 0.1]) == 2
    assert quickest(units, [0.1, 0.2, 0.3]) == 0


def agency_with(duties: DutiesSpec) -> Agency:
    return cast(Agency, SimpleNamespace(spec=SimpleNamespace(duties=duties)))


@settings(max_examples=300, deadline=None)
@given(
    st.floats(0.0, 0.95, allow_nan=False),
    st.floats(1e-3, 1e4, allow_nan=False),
)
def test_the_duty_times_are_those_worked_out_at_each_free_crew(share: float, mean: float) -> None:
    """Bit for bit the expressions the life cycle evaluated each time a crew was freed."""
    duties = DutiesSpec(share=share, mean_min=mean)
    gaps, means = _duty_hours([agency_with(DutiesSpec()), agency_with(duties)])
    assert gaps[0] is None
    assert means[1] == duties.mean_min / 60.0
    if share <= 0.0:
        assert gaps[1] is None
    else:
        assert gaps[1] == duties.mean_min / 60.0 * (1.0 - duties.share) / duties.share


def duty_lengths_h(model: SecurityModel, since: float) -> list[float]:
    return [
        end - start
        for (_, _, state, start, end) in model.recorder.state_intervals()
        if state == "duty" and start >= since
    ]


def test_a_changed_duty_length_is_in_force_from_the_change() -> None:
    """Duties of 10 hours, then of 6 minutes from the second day: the lengths follow.

    Exponential lengths: the mean of 50 duties of mean 0.1 h is over 0.5 h with
    a probability far below 1e-9; the mean of k >= 4 duties of mean 10 h is below
    1 h with a probability below 4e-6 (a gamma's tail; k = 4 at the least).
    """
    scenario = scenario_from(
        SMALL_TOWN,
        demand__rate_per_hour=0,
        agencies__state_police__units=4,
        agencies__state_police__duties={"share": 0.5, "mean_min": 600},
        timeline=[{"day": 1, "set": {"agencies.state_police.duties.mean_min": 6}}],
    )
    model = SecurityModel(scenario, seed=5)
    model.run_until(96.0)
    model.finish()
    later = duty_lengths_h(model, since=36.0)
    assert len(later) >= 50
    assert sum(later) / len(later) < 0.5
    # Those begun before the change keep their 10-hour mean.
    before = [
        end - start
        for (_, _, state, start, end) in model.recorder.state_intervals()
        if state == "duty" and start < 24.0
    ]
    assert len(before) >= 4 and sum(before) / len(before) > 1.0


def town_with_duties(
    *, calls_per_hour: float, crews: int, share: float, seed: int
) -> SecurityModel:
    """The small town whose State crews spend ``share`` of their free time on half-hour duties."""
    scenario = scenario_from(
        SMALL_TOWN,
        demand__rate_per_hour=calls_per_hour,
        agencies__state_police__units=crews,
        agencies__state_police__duties={"share": share, "mean_min": 30},
    )
    return SecurityModel(scenario, seed=seed)


def test_a_patrolling_crew_never_has_a_stay_open() -> None:
    """Taking a crew off patrol skips closing a stay: it must never have one open.

    A crew's stays on patrol are its legs' (the leg table records them); an open
    stay (``_present_since``) belongs to a crew on scene, in custody or just
    back on duty. Checked at every hour of three busy days with duties.
    """
    model = town_with_duties(calls_per_hour=3.0, crews=4, share=0.3, seed=2)
    seen: set[Any] = set()
    for hour in range(1, 73):
        model.run_until(hour + 0.5)
        for units in model.units:
            for unit in units:
                seen.add(unit.state)
                if unit.state is UnitState.AVAILABLE:
                    assert unit._present_since is None, (hour, unit.label)
    assert {UnitState.AVAILABLE, UnitState.DUTY, UnitState.ON_SCENE} <= seen


@pytest.mark.parametrize("seed", [3, 4, 5, 6])
def test_a_duty_plan_made_before_a_replan_does_nothing(seed: int) -> None:
    """A policy change of duties replaces a free crew's planned duty with a new draw.

    Played past the old plan's time (and before the new one's), the crew still
    patrols; played past the new plan's time, it is on its duty.
    """
    model = town_with_duties(calls_per_hour=0.0, crews=2, share=0.2, seed=seed)
    model.run_until(10.0)
    cycle = model.dispatcher.life_cycle
    free = [u for units in model.units for u in units if u.state is UnitState.AVAILABLE]
    unit = next(u for u in free if u.free_at(10.0))
    old = unit._fr[DUTY_AT]
    assert 10.0 < old < math.inf
    cycle.replan_duties({unit.agency.index})
    new = unit._fr[DUTY_AT]
    assert 10.0 < new < math.inf and new != old
    if old < new:
        assert unit.free_at((old + new) / 2)
    assert not unit.free_at(math.nextafter(new, math.inf))
    assert unit.state is UnitState.AVAILABLE  # for the control room, until it needs the crew
