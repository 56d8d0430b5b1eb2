"""Calls addressed to an agency directly (``agencies.*.direct_calls``).

Stories on the small town, statistics against the Poisson process they follow,
and the promise that with direct calls off nothing changes.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from simulator.model import SecurityModel
from simulator.records.incidents import Incident, IncidentKind, Outcome
from simulator.runner import run, write_results
from simulator.scenario import ScenarioError, load_scenario
from simulator.world.demand import week_shape
from simulator.world.registries import HOURS_PER_YEAR

from .conftest import ROOT, SCENARIOS, SMALL_TOWN, inject, scenario_from
from .pinned import assert_as_pinned

HANDLING_H = 3 / 60
TURNOUT_H = 1 / 60
MIX = {"noise": 0.5, "dispute": 0.3, "assistance": 0.2}


def municipal_police(**extra: object) -> dict[str, object]:
    """One static municipal crew for the centre, stationed in the suburb."""
    return {
        "kind": "municipal_police",
        "communes": ["centre", "suburb"],
        "station": "suburb",
        "units": 1,
        "patrol": {"strategy": "static"},
        **extra,
    }


def town(**direct: Any) -> dict[str, Any]:
    """The small town with a municipal police ``pm`` taking direct calls ``direct``."""
    return {
        "agencies__pm": municipal_police(
            communes=["centre"], station="centre", direct_calls={"types": MIX, **direct}
        ),
        "demand__hourly_profile": "flat",
        "demand__weekly_profile": "flat",
    }


def _direct_calls(model: SecurityModel, hours: range) -> list[Incident]:
    counter = itertools.count()
    return [c for h in hours for c in model.direct_calls.calls_in_hour(h, lambda: next(counter))]


def test_a_direct_call_goes_to_the_agency_called_even_with_a_state_crew_nearer() -> None:
    scenario = scenario_from(SMALL_TOWN, agencies__pm=municipal_police())
    model = SecurityModel(scenario, seed=1)
    state, pm = model.agencies
    cell = state.station_cell
    sx, sy = float(model.territory.x_m[cell]), float(model.territory.y_m[cell])
    # A noise call next to the State police station, which alone is competent for noise...
    ordinary = inject(model, 1.0, sx + 100, sy, type="noise", on_scene_min=20)
    # ...and one made to the municipal police's own line, a little later, at the same place.
    direct = inject(model, 1.5, sx + 100, sy, type="noise", on_scene_min=20)
    direct.addressed_to = "pm"
    model.run_until(4)

    assert ordinary.agency == "state_police"
    # Two State crews stood free at their station 100 m away; the municipal crew
    # drives in from the suburb.
    assert direct.agency == "pm" and direct.unit == model.units[1][0].unique_id
    assert direct.t_dispatched_h == pytest.approx(1.5 + HANDLING_H)
    px, py = (float(v[pm.station_cell]) for v in (model.territory.x_m, model.territory.y_m))
    drive = TURNOUT_H + 1.3 * math.hypot(sx + 100 - px, sy - py) / (30 * 1000)
    assert direct.t_arrived_h == pytest.approx(direct.t_dispatched_h + drive)
    assert direct.outcome is Outcome.CLEARED
    # The State crews only ever had the ordinary call.
    assert all(u.unique_id != direct.unit for u in model.units[0])


def test_a_direct_call_waits_for_its_agency_and_no_other_takes_it() -> None:
    scenario = scenario_from(SMALL_TOWN, agencies__pm=municipal_police())
    model = SecurityModel(scenario, seed=1)
    cell = model.agencies[0].station_cell
    sx, sy = float(model.territory.x_m[cell]), float(model.territory.y_m[cell])
    busy = inject(model, 1.0, sx, sy + 400, type="noise", on_scene_min=60)
    busy.addressed_to = "pm"
    waiting = inject(model, 1.1, sx, sy - 400, type="noise", on_scene_min=10, priority=1)
    waiting.addressed_to = "pm"
    model.run_until(5)
    # Two State crews are free the whole time; the urgent direct call waits for the
    # municipal crew to clear (no pre-emption of a crew on scene).
    assert busy.t_cleared_h is not None
    assert waiting.agency == "pm"
    assert waiting.t_dispatched_h == pytest.approx(busy.t_cleared_h)


@pytest.mark.parametrize("when_closed", ["emergency_number", "lost"])
def test_off_duty_hours_send_callers_to_17_or_lose_them(when_closed: str) -> None:
    per_1000 = 10 * HOURS_PER_YEAR / 8.0  # about 10 calls an hour from 8,000 residents
    scenario = scenario_from(
        SMALL_TOWN,
        **town(per_1000_residents=per_1000, when_closed=when_closed),
        agencies__pm__service_hours=[8, 20],
        run__days=1,
    )
    model = SecurityModel(scenario, seed=5)
    model.run_until(24)
    # No ordinary calls: every call came by the municipal police's line (arrests at
    # disputes bring hand-over tasks too, not calls).
    calls = [i for i in model.recorder.incidents_so_far() if i.kind is IncidentKind.CALL]
    open_hours = [c for c in calls if 8 <= c.t_reported_h < 20]
    closed = [c for c in calls if not 8 <= c.t_reported_h < 20]
    assert open_hours and all(c.addressed_to == "pm" for c in open_hours)
    # Taken by the municipal police, or, still waiting when its line closed at 20:00,
    # by the State police then (callers passed to 17) or by nobody (`lost`).
    relayed = [c for c in open_hours if c.agency not in (None, "pm")]
    assert all(c.agency == "state_police" and c.t_dispatched_h >= 20 for c in relayed)
    assert (relayed == []) == (when_closed == "lost")
    if when_closed == "lost":
        assert closed == []
    else:
        # Made to 17 instead: ordinary calls, for the State police (the only one competent).
        assert len(closed) > 50
        assert all(c.addressed_to is None for c in closed)
        assert {c.agency for c in closed if c.agency is not None} == {"state_police"}


def _town_open_8_to_20(when_closed: str) -> SecurityModel:
    """The small town whose municipal crew works 08:00-20:00, with a line (almost no
    calls of its own: the test injects them)."""
    scenario = scenario_from(
        SMALL_TOWN,
        agencies__pm=municipal_police(
            communes=["centre"],
            station="centre",
            service_hours=[8, 20],
            direct_calls={"per_1000_residents": 1e-9, "types": MIX, "when_closed": when_closed},
        ),
    )
    return SecurityModel(scenario, seed=1)


def _busy_line(model: SecurityModel, busy_at: float, call_at: float) -> tuple[Incident, Incident]:
    """Two calls to the municipal line near the State police station: a two-hour job
    at ``busy_at`` for its one crew, then a dispute at ``call_at`` that waits for it."""
    cell = model.agencies[0].station_cell
    sx, sy = float(model.territory.x_m[cell]), float(model.territory.y_m[cell])
    long_job = inject(model, busy_at, sx, sy + 300, type="noise", on_scene_min=120)
    waiting = inject(model, call_at, sx, sy - 300, type="dispute")
    long_job.addressed_to = waiting.addressed_to = "pm"
    return long_job, waiting


def test_a_direct_call_still_being_taken_when_the_line_closes_goes_to_17() -> None:
    """Made at 19:58, handled at 20:01 when the municipal crew has gone: the State police
    takes it at once instead of leaving the caller to wait for the morning."""
    model = _town_open_8_to_20("emergency_number")
    cell = model.agencies[0].station_cell
    sx, sy = float(model.territory.x_m[cell]), float(model.territory.y_m[cell])
    late = inject(model, 19 + 58 / 60, sx, sy + 300, type="noise", priority=1)
    late.addressed_to = "pm"
    model.run_until(22)
    assert late.agency == "state_police"
    assert late.addressed_to == "pm"  # still counted as a call to the municipal line
    assert late.t_reported_h == pytest.approx(19 + 58 / 60)
    assert late.t_dispatched_h == pytest.approx(19 + 58 / 60 + HANDLING_H)
    assert late.outcome is Outcome.CLEARED


@pytest.mark.parametrize("when_closed", ["emergency_number", "lost"])
def test_a_direct_call_waiting_at_closing_time_is_passed_to_17_or_kept(when_closed: str) -> None:
    """The municipal crew is on a long job when its line closes at 20:00: the call
    waiting for it goes to the State police at 20:00 (`emergency_number`), or stays for
    the municipal police, which takes it when it comes back at 08:00 (`lost`; the small
    town drops no call for waiting)."""
    model = _town_open_8_to_20(when_closed)
    long_job, waiting = _busy_line(model, 19.0, 19.5)
    model.run_until(34)
    assert long_job.agency == "pm"  # the crew finishes its job past the end of its shift
    if when_closed == "emergency_number":
        assert waiting.agency == "state_police"
        assert waiting.t_dispatched_h == pytest.approx(20.0)
        assert waiting.outcome is Outcome.CLEARED
    else:
        assert waiting.agency == "pm"
        assert waiting.t_dispatched_h == pytest.approx(24 + 8.0)


def test_a_relayed_call_keeps_its_place_in_the_queue() -> None:
    """Both State crews are busy when the line closes: the direct call passed to 17 at
    20:00 waits for them ahead of an ordinary call made after it, not behind."""
    model = _town_open_8_to_20("emergency_number")
    _, direct = _busy_line(model, 19.0, 19.5)
    cell = model.agencies[0].station_cell
    sx, sy = float(model.territory.x_m[cell]), float(model.territory.y_m[cell])
    state_jobs = [inject(model, t, sx + 200, sy, on_scene_min=90) for t in (19.6, 19.7)]
    later = inject(model, 19.8, sx - 200, sy)
    model.run_until(26)
    assert {job.agency for job in state_jobs} == {"state_police"}
    assert direct.agency == "state_police" and later.agency == "state_police"
    first_free = min(job.t_cleared_h for job in state_jobs if job.t_cleared_h is not None)
    assert direct.t_dispatched_h == pytest.approx(first_free)
    assert later.t_dispatched_h > direct.t_dispatched_h


def test_a_call_waiting_when_a_policy_closes_the_line_goes_to_17() -> None:
    """A timeline change that ends the municipal night service and turns its line off
    at midnight: the call waiting for its crew is passed to 17 then, not kept for the
    morning."""
    scenario = scenario_from(
        SMALL_TOWN,
        agencies__pm=municipal_police(
            communes=["centre"],
            station="centre",
            direct_calls={"per_1000_residents": 1e-9, "types": MIX},
        ),
        timeline=[
            {
                "day": 1,
                "set": {
                    "agencies.pm.direct_calls.per_1000_residents": 0,
                    "agencies.pm.service_hours": [8, 20],
                },
            }
        ],
    )
    model = SecurityModel(scenario, seed=1)
    long_job, waiting = _busy_line(model, 23.0, 23.5)
    model.run_until(30)
    assert long_job.agency == "pm"
    assert waiting.agency == "state_police"
    assert waiting.t_dispatched_h == pytest.approx(24.0)


def test_closed_hours_draw_the_same_calls_whatever_callers_then_do() -> None:
    """Common random numbers: `lost` drops the closed hours' calls, the others are the same."""
    per_1000 = 5 * HOURS_PER_YEAR / 8.0

    def calls(when_closed: str) -> list[tuple[float, int, str, int]]:
        scenario = scenario_from(
            SMALL_TOWN,
            **town(per_1000_residents=per_1000, when_closed=when_closed),
            agencies__pm__service_hours=[8, 20],
        )
        found = _direct_calls(SecurityModel(scenario, seed=2), range(48))
        return [(c.t_reported_h, c.cell, c.type, c.priority) for c in found if c.addressed_to]

    assert calls("lost") == calls("emergency_number")


def test_the_number_of_direct_calls_is_poisson_with_the_rate_asked() -> None:
    per_1000 = 2000.0
    scenario = scenario_from(SMALL_TOWN, **town(per_1000_residents=per_1000))
    model = SecurityModel(scenario, seed=7)
    centre = model.territory.commune_index("centre")
    residents = int(model.territory.residents[model.territory.commune == centre].sum())
    hours = 24 * 14
    expected = per_1000 * residents / 1000 / HOURS_PER_YEAR * hours
    assert model.direct_calls.rate("pm", 5) == pytest.approx(expected / hours)
    found = _direct_calls(model, range(hours))
    # A Poisson count: its 99.99 % interval is about +- 3.9 standard deviations.
    assert abs(len(found) - expected) < 3.9 * math.sqrt(expected)
    # Every call is the municipal police's, in its commune, with a handling drawn.
    assert all(c.addressed_to == "pm" and c.commune == centre for c in found)
    assert all(c.on_scene_h > 0 for c in found)


def test_the_types_follow_the_mix_asked() -> None:
    scenario = scenario_from(SMALL_TOWN, **town(per_1000_residents=4000.0))
    found = _direct_calls(SecurityModel(scenario, seed=3), range(24 * 14))
    counts = [sum(c.type == t for c in found) for t in MIX]
    expected = [share * len(found) for share in MIX.values()]
    assert stats.chisquare(counts, expected).pvalue > 1e-3


def test_direct_calls_follow_the_demand_week_profile() -> None:
    scenario = scenario_from(
        SMALL_TOWN,
        agencies__pm=municipal_police(direct_calls={"types": MIX, "per_1000_residents": 100.0}),
    )
    model = SecurityModel(scenario, seed=1)
    rates = np.array([model.direct_calls.rate("pm", h) for h in range(168)])
    assert model.calls.rate(12) == 0  # the small town has no ordinary calls; the shape remains
    shape = week_shape(scenario.demand)
    assert shape.std() > 0.1
    assert rates / rates.mean() == pytest.approx(shape)


def test_a_timeline_change_turns_direct_calls_on_mid_run() -> None:
    scenario = scenario_from(
        SMALL_TOWN,
        **town(per_1000_residents=0.0),
        timeline=[{"day": 1, "set": {"agencies.pm.direct_calls.per_1000_residents": 20000}}],
        run__days=2,
    )
    result = run(scenario, seed=1)
    inc = result.incidents.to_pandas()
    direct = inc[inc["addressed_to"] == "pm"]
    assert len(direct) > 20 and (direct["t_reported_h"] >= 24).all()
    assert (direct.loc[direct["agency"].notna(), "agency"] == "pm").all()
    assert result.summary.direct_calls == {"pm": len(direct)}


def test_an_agency_whose_line_opened_mid_run_is_counted_even_with_no_call() -> None:
    """The summary lists every agency with direct calls in one of the run's periods."""
    scenario = scenario_from(
        SMALL_TOWN,
        **town(per_1000_residents=0.0),
        timeline=[{"day": 1, "set": {"agencies.pm.direct_calls.per_1000_residents": 1e-6}}],
        run__days=2,
    )
    result = run(scenario, seed=1)
    assert (result.incidents.to_pandas()["addressed_to"].isna()).all()
    assert result.summary.direct_calls == {"pm": 0}


# The baseline's values before its operations were calibrated (issue 14: duties, direct
# calls and deterrence together); tests/data/baseline_before_operations_30d_seed1.json
# is its summary, pinned before direct calls existed.
BEFORE_OPERATIONS = [
    "run.days=30",
    "demand.rate_per_hour=0.809",
    "crime.types.theft.rate_per_1000=116",
    "crime.types.theft.report_prob=0.31",
    "crime.types.incivility.rate_per_1000=150",
    "crime.types.burglary.rate_per_1000=4.7",
    "crime.types.burglary.report_prob=0.8",
    "crime.types.assault.rate_per_1000=58",
    "crime.types.assault.report_prob=0.237",
    "crime.offenders.area_weight=70",
    "agencies.state_police.duties.share=0",
    # One district factor for every type: no weights of their own in QPV (stage 4).
    "crime.types.burglary.district_factors={}",
    "crime.types.assault.district_factors={}",
    # The State police's hot spots by expected calls, not by expected assaults.
    "agencies.state_police.patrol.hotspot_offences=[]",
]


def test_off_the_outputs_are_those_of_before(tmp_path: Path) -> None:
    """Baseline at its earlier values, 30 days, seed 1: direct calls off leave every
    output as it was before they existed.

    The summary is the one pinned before direct calls existed (it has no
    ``direct_calls`` key); the incidents table only gains an empty column; and
    turning the line off another way (no calls, and callers lost) changes nothing either.
    """
    data = ROOT / "tests" / "data" / "baseline_before_operations_30d_seed1.json"
    reference = json.loads(data.read_text())
    default = load_scenario(
        SCENARIOS / "baseline.yaml",
        [*BEFORE_OPERATIONS, "agencies.pm_centre.direct_calls.per_1000_residents=0"],
    )
    off = load_scenario(
        SCENARIOS / "baseline.yaml",
        [
            *BEFORE_OPERATIONS,
            "agencies.pm_centre.direct_calls={per_1000_residents: 0, when_closed: lost, "
            "types: {noise: 1}}",
        ],
    )
    results = [run(default, seed=1), run(off, seed=1)]
    written = json.loads((write_results(results[0], tmp_path) / "summary.json").read_text())
    del written["runtime_s"]
    assert "direct_calls" not in written
    assert_as_pinned(written, reference)
    assert results[0].incidents["addressed_to"].null_count == results[0].incidents.num_rows
    assert results[0].incidents.equals(results[1].incidents)


def test_turning_direct_calls_on_leaves_the_ordinary_calls_as_they_were() -> None:
    base = SCENARIOS / "baseline.yaml"
    horizon = ["run.days=3", "run.warmup_days=0"]
    days = [*horizon, "agencies.pm_centre.direct_calls.per_1000_residents=0"]
    on = [*horizon, "agencies.pm_centre.direct_calls={per_1000_residents: 70, when_closed: lost}"]

    def ordinary(overrides: list[str]) -> Any:
        inc = run(load_scenario(base, overrides), seed=4).incidents.to_pandas()
        calls = inc[(inc["kind"] == "call") & inc["addressed_to"].isna()]
        return calls[["t_reported_h", "cell", "type", "priority", "resident"]].reset_index(
            drop=True
        )

    before, after = ordinary(days), ordinary(on)
    assert after.equals(before)


def _problems(tmp_path: Path, block: str, base: Path = SCENARIOS / "baseline.yaml") -> str:
    path = tmp_path / "direct.yaml"
    path.write_text(
        f"extends: {base}\nagencies:\n  pm_centre:\n    direct_calls:\n{block}", encoding="utf-8"
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    return str(caught.value).replace(f"{path}:", "FILE:")


def test_bad_direct_calls_are_reported_with_file_line_and_key(tmp_path: Path) -> None:
    text = _problems(
        tmp_path, "      per_1000_residents: 50\n      types: {noise: 0.5, parkng: 0.5}\n"
    )
    assert "FILE:6:" in text and "agencies.pm_centre.direct_calls.types.parkng" in text
    assert "unknown call type 'parkng'" in text and "noise" in text and "assistance" in text

    text = _problems(tmp_path, "      types: {noise: 0.5, dispute: 0.4}\n")
    assert "FILE:5:" in text and "agencies.pm_centre.direct_calls.types" in text
    assert "must sum to 1" in text

    text = _problems(tmp_path, "      when_closed: voicemail\n")
    assert "FILE:5:" in text and "agencies.pm_centre.direct_calls.when_closed" in text
    assert "'emergency_number'" in text and "'lost'" in text

    text = _problems(tmp_path, "      per_1000_residents: -5\n")
    assert "FILE:5:" in text and "agencies.pm_centre.direct_calls.per_1000_residents" in text
    assert "greater than or equal to 0" in text


def test_the_default_mix_must_fit_the_scenario_call_types_once_direct_calls_are_on() -> None:
    scenario_from(SMALL_TOWN, agencies__pm=municipal_police())  # off: no mix to check
    with pytest.raises(ScenarioError) as caught:
        scenario_from(
            SMALL_TOWN, agencies__pm=municipal_police(direct_calls={"per_1000_residents": 5})
        )
    text = str(caught.value)
    assert "agencies.pm.direct_calls.types" in text
    assert "the default mix names the call type 'suspicious'" in text
    assert "demand.types does not have: give the types" in text
