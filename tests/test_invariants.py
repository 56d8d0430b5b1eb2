"""Hypothesis invariants of dispatch, over random small scenarios and seeds."""

from __future__ import annotations

import itertools
from collections import defaultdict

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.dispatch.registry import POLICIES
from simulator.model import SecurityModel
from simulator.runner import run
from simulator.scenario.schema import Scenario

from .conftest import SMALL_TOWN, scenario_from

EPS = 1e-9


@st.composite
def small_scenarios(draw: st.DrawFn) -> tuple[Scenario, int]:
    with_pm = draw(st.booleans())
    overrides = {
        "demand__rate_per_hour": draw(st.floats(0.5, 12.0)),
        "demand__max_wait_min": draw(st.one_of(st.none(), st.floats(10, 240))),
        "agencies__state_police__units": draw(st.integers(1, 4)),
        "agencies__state_police__patrol__strategy": draw(
            st.sampled_from(["static", "random", "hotspot"])
        ),
        "agencies__state_police__service_hours": draw(st.sampled_from([[0, 24], [6, 22]])),
        "demand__types__dispute__arrest_prob": draw(st.floats(0.0, 0.6)),
        "demand__types__assistance__follow_up_prob": draw(st.floats(0.0, 1.0)),
        "dispatch__call_handling_min": draw(st.sampled_from([0.0, 2.0])),
        "run__days": 2,
        "run__warmup_days": draw(st.integers(0, 1)),
        "dispatch__policy": draw(st.sampled_from(sorted(POLICIES))),
        "agencies__state_police__duties": {
            "share": draw(st.sampled_from([0.0, 0.3, 0.6])),
            "mean_min": draw(st.floats(10.0, 120.0)),
            "preemptible": draw(st.booleans()),
        },
        "dispatch__preemption": draw(
            st.sampled_from(
                [{"priority": 0}, {"priority": 1}, {"priority": 1, "en_route_priority": 2}]
            )
        ),
    }
    if with_pm:
        overrides["agencies__pm"] = {
            "kind": "municipal_police",
            "communes": ["centre"],
            "units": draw(st.integers(1, 3)),
            "service_hours": [8, 20],
            "patrol": {"strategy": "random", "dwell_min": 10},
            "direct_calls": {
                "per_1000_residents": draw(st.sampled_from([0.0, 500.0, 3000.0])),
                "types": {"noise": 0.5, "dispute": 0.3, "assistance": 0.2},
                "when_closed": draw(st.sampled_from(["emergency_number", "lost"])),
            },
        }
        overrides["competences__dispute"] = ["municipal_police", "state_police"]
        overrides["competences__noise"] = ["municipal_police"]
    return scenario_from(SMALL_TOWN, **overrides), draw(st.integers(0, 2**31 - 1))


SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(small_scenarios())
def test_records_are_consistent(case: tuple[Scenario, int]) -> None:
    scenario, seed = case
    result = run(scenario, seed)
    inc = result.incidents.to_pandas()

    # Times are monotone along each incident.
    order = ["t_occurred_h", "t_reported_h", "t_dispatched_h", "t_arrived_h", "t_cleared_h"]
    for earlier, later in itertools.pairwise(order):
        both = inc[earlier].notna() & inc[later].notna()
        assert (inc.loc[both, later] >= inc.loc[both, earlier] - EPS).all(), (earlier, later)
    # A later step never happened without the earlier one.
    assert inc.loc[inc["t_arrived_h"].notna(), "t_dispatched_h"].notna().all()
    assert inc.loc[inc["t_cleared_h"].notna(), "t_arrived_h"].notna().all()
    # Dispatched incidents name their agency and unit; others name none.
    dispatched = inc["t_dispatched_h"].notna()
    assert inc.loc[dispatched, "agency"].notna().all()
    assert inc.loc[~dispatched, "unit"].isna().all()
    # A call made to an agency directly is taken by that agency, or by none; or, if it
    # was still waiting when the agency's line closed (the municipal police's, at 20:00)
    # and callers are passed to 17, by an agency of its type's list, after the closing.
    direct = dispatched & inc["addressed_to"].notna()
    others = inc[direct & (inc["agency"] != inc["addressed_to"])]
    if len(others):
        pm = scenario.agencies["pm"]
        assert pm.direct_calls.when_closed == "emergency_number"
        closing = np.floor(others["t_reported_h"] / 24) * 24 + pm.service_hours[1]
        assert (others["t_reported_h"] < closing).all()
        assert (others["t_dispatched_h"] >= closing - EPS).all()
        # The types' lists: noise for the municipal police alone (never passed on),
        # dispute and assistance with the State police on them.
        assert "noise" not in set(others["type"])
        assert set(others["agency"]) <= {"state_police"}
    # The summary's calls are the window's, from the rows: a counted call nobody was sent
    # to was dropped, had no competent agency, or still waited at the end; one sent a
    # crew was neither dropped nor without an agency.
    calls = result.summary.as_json()["calls"]
    w0 = scenario.run.warmup_days * 24.0
    w1 = w0 + scenario.run.days * 24.0
    reported = inc["t_reported_h"]
    counted = inc[
        (inc["kind"] != "task") & inc["needs_response"] & (reported >= w0) & (reported < w1)
    ]
    sent = counted["t_dispatched_h"].notna()
    assert (calls["total"], calls["answered"]) == (len(counted), int(sent.sum()))
    assert set(counted.loc[~sent, "outcome"]) <= {"abandoned", "no_agency", "open"}
    assert set(counted.loc[sent, "outcome"]) <= {"cleared", "open"}
    assert calls["abandoned"] + calls["no_agency"] <= calls["unanswered"]
    assert inc["incident_id"].is_unique
    # Utilisation is a share.
    for value in result.summary.as_json()["utilisation"].values():
        assert value is None or -EPS <= value <= 1 + EPS


@SETTINGS
@given(small_scenarios())
def test_units_serve_one_incident_at_a_time_and_never_arrive_early(
    case: tuple[Scenario, int],
) -> None:
    scenario, seed = case
    model = SecurityModel(scenario, seed)
    model.run_until((scenario.run.days + scenario.run.warmup_days) * 24)
    model.finish()

    # A unit's state intervals tile time without overlap.
    log = pd.DataFrame(
        model.recorder.state_intervals(), columns=["unit", "agency", "state", "start", "end"]
    )
    for _, g in log.groupby("unit"):
        starts, ends = g["start"].to_numpy(), g["end"].to_numpy()
        assert (ends >= starts - EPS).all()
        assert np.allclose(starts[1:], ends[:-1])

    # Between dispatch and clearance, a unit holds one incident only.
    busy: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for inc in model.recorder.incidents_so_far():
        if inc.unit is not None:
            end = inc.t_cleared_h if inc.t_cleared_h is not None else float("inf")
            busy[inc.unit].append((inc.t_dispatched_h or 0.0, end))
    for spans in busy.values():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start >= end - EPS

    # Arrival is never earlier than dispatch plus the turnout time.
    turnout = scenario.travel.turnout_min / 60
    for inc in model.recorder.incidents_so_far():
        if inc.t_arrived_h is not None and inc.t_dispatched_h is not None:
            assert inc.t_arrived_h >= inc.t_dispatched_h + turnout - EPS
