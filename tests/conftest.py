"""Shared helpers: small scenarios built in code, and incident injection."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from simulator.model import SecurityModel
from simulator.records.incidents import Incident, IncidentKind
from simulator.scenario import Scenario, parse_scenario
from simulator.scenario.keys import set_value

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"

# A small town: 4 km square of 200 m cells, a central commune and one suburb,
# no random calls (tests inject their own), State police only.
SMALL_TOWN: dict[str, Any] = {
    "name": "small_town",
    "territory": {
        "kind": "synthetic",
        "seed": 3,
        "cell_m": 200,
        "extent_km": 4,
        "communes": [
            {"name": "centre", "role": "central", "residents": 8000, "districts": 4},
            {"name": "suburb", "role": "suburb", "residents": 4000, "districts": 2},
        ],
    },
    "travel": {
        "circuity": 1.3,
        "speed_kmh": [40, 30, 20],
        "congestion": "flat",
        "turnout_min": 1.0,
    },
    "demand": {
        "rate_per_hour": 0,
        "priority_shares": [0.2, 0.5, 0.3],
        "types": {
            "assistance": {"share": 0.5},
            "noise": {"share": 0.3},
            "dispute": {"share": 0.2, "arrest_prob": 0.1},
        },
    },
    "agencies": {
        "state_police": {
            "kind": "state_police",
            "units": 2,
            "patrol": {"strategy": "static"},
            "powers": {"judicial": True},
        },
    },
    "competences": {
        "assistance": ["state_police"],
        "noise": ["state_police"],
        "dispute": ["state_police"],
    },
    "dispatch": {"call_handling_min": 3, "handover_min": 20, "custody_min": 120},
    "run": {"days": 2, "warmup_days": 0, "drain_max_h": 24},
}


def scenario_from(base: dict[str, Any], **overrides: Any) -> Scenario:
    """A scenario from a base mapping plus dotted overrides (``a__b`` means ``a.b``)."""
    data = copy.deepcopy(base)
    for key, value in overrides.items():
        set_value(data, tuple(key.split("__")), value)
    return parse_scenario(data)


def inject(
    model: SecurityModel,
    t_h: float,
    x_m: float,
    y_m: float,
    *,
    type: str = "assistance",
    priority: int = 2,
    on_scene_min: float = 30.0,
    follow_up_min: float = 0.0,
    arrest: bool = False,
) -> Incident:
    """Submit a call at an exact time and place; return its (live) record."""
    cell = model.territory.cell_at(x_m, y_m)
    incident = Incident(
        incident_id=model.new_incident_id(),
        kind=IncidentKind.CALL,
        type=type,
        priority=priority,
        cell=cell,
        district=int(model.territory.district[cell]),
        commune=int(model.territory.commune[cell]),
        x_m=x_m,
        y_m=y_m,
        t_occurred_h=t_h,
        t_reported_h=t_h,
        on_scene_h=on_scene_min / 60.0,
        follow_up_h=follow_up_min / 60.0,
        arrest=arrest,
    )
    model.submit(incident)
    return incident


@pytest.fixture
def small_town() -> dict[str, Any]:
    return copy.deepcopy(SMALL_TOWN)
