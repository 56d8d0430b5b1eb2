"""The worked examples of docs/ARCHITECTURE.md run, and do what the text says.

Each example is a fenced block whose info string is ``<language> example-<name>``;
the Python ones are executed as they are written (their two parts, one per file
of the recipe, in one namespace), the registries restored afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import simulator.dispatch.policy as policy_module
from simulator.agencies.agency import territory_findings
from simulator.agencies.patrol import STRATEGIES, PatrolContext, PatrolStrategy, WeightedPatrol
from simulator.agencies.patrol import strategy as register_strategy
from simulator.agencies.units import Unit
from simulator.batch.spec import load_experiment
from simulator.dispatch.policy import AgencyOrder, FreeUnits
from simulator.dispatch.registry import POLICIES, PolicyEntry
from simulator.model import SecurityModel
from simulator.runner import run
from simulator.scenario import ScenarioError, load_scenario
from simulator.scenario.patrols import PATROL_STRATEGIES, StrategyInfo

from .conftest import ROOT, SCENARIOS, SMALL_TOWN, inject, scenario_from
from .test_dispatch_trace import station_xy

DOC = ROOT / "docs" / "ARCHITECTURE.md"


def _example(name: str) -> str:
    found = re.findall(rf"```\w+ example-{name}\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(found) == 1, f"docs/ARCHITECTURE.md has no single example-{name} block"
    return str(found[0])


@pytest.fixture
def registries() -> Iterator[None]:
    kept = [(r, dict(r)) for r in (PATROL_STRATEGIES, STRATEGIES, POLICIES)]
    yield
    for registry, before in kept:
        registry.clear()
        registry.update(before)


def test_a_new_kind_and_mode_take_no_code(tmp_path: Path) -> None:
    text = _example("kind").replace("extends: baseline.yaml", f"extends: {SCENARIOS}/baseline.yaml")
    path = tmp_path / "intercommunal.yaml"
    path.write_text(text, encoding="utf-8")
    scenario = load_scenario(path, ["run.days=14", "run.warmup_days=0"], [territory_findings])
    summary = run(scenario, seed=1).summary
    assert summary.cost_eur.by_payer["intercommunal"] > 0
    assert summary.officers["pi_sud"] == 12
    assert (summary.utilisation["pi_sud"] or 0.0) > 0  # its crews took calls


def test_a_new_patrol_strategy_takes_the_two_parts_shown(registries: None) -> None:
    namespace: dict[str, Any] = {
        "PATROL_STRATEGIES": PATROL_STRATEGIES,
        "StrategyInfo": StrategyInfo,
        "strategy": register_strategy,
        "PatrolContext": PatrolContext,
        "PatrolStrategy": PatrolStrategy,
        "WeightedPatrol": WeightedPatrol,
        "np": np,
    }
    exec(_example("strategy"), namespace)
    town = scenario_from(SMALL_TOWN, agencies__state_police__patrol={"strategy": "nearest_cell"})
    model = SecurityModel(town, seed=1)
    model.run_until(12)
    agency = model.agencies[0]
    nearest = int(agency.cells[np.argmin(np.abs(agency.cells - agency.station_cell))])
    visited = set(np.flatnonzero(model.presence.hours[0]).tolist())
    assert nearest in visited and visited <= {nearest, agency.station_cell}


def test_a_new_dispatch_policy_takes_the_two_parts_shown(
    registries: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    namespace: dict[str, Any] = {
        "AgencyOrder": AgencyOrder,
        "FreeUnits": FreeUnits,
        "Unit": Unit,
        "POLICIES": POLICIES,
        "PolicyEntry": PolicyEntry,
    }
    exec(_example("policy"), namespace)
    # The class is written in simulator/dispatch/policy.py, where the registry finds it.
    monkeypatch.setattr(policy_module, "LongestIdle", namespace["LongestIdle"], raising=False)
    picks: dict[str, int | None] = {}
    for name in ("agency_order", "longest_idle"):
        model = SecurityModel(scenario_from(SMALL_TOWN, dispatch__policy=name), seed=1)
        sx, sy = station_xy(model)
        inject(model, 1.0, sx + 100, sy, on_scene_min=6)  # unit 1, back soon at its station
        inject(model, 1.02, sx + 1800, sy, on_scene_min=70)  # unit 2, busy far away
        call = inject(model, 2.3, sx + 1750, sy, on_scene_min=10)  # nearer unit 2, now free
        model.run_until(4)
        picks[name] = call.unit
    first, second = (u.unique_id for u in model.units[0])
    assert picks == {"agency_order": second, "longest_idle": first}


def test_an_experiment_may_name_the_new_payer_among_its_outputs(tmp_path: Path) -> None:
    text = _example("kind").replace("extends: baseline.yaml", f"extends: {SCENARIOS}/baseline.yaml")
    (tmp_path / "intercommunal.yaml").write_text(text, encoding="utf-8")
    experiment = tmp_path / "costs.yaml"
    body = (
        "name: costs\nreference: ic\narms:\n  ic: {scenario: intercommunal.yaml}\n"
        "replicates: 1\nseed: 1\ndays: 1\nwarmup_days: 0\noutputs: [OUTPUT]\n"
    )
    experiment.write_text(body.replace("OUTPUT", "cost_eur_per_year.intercommunal"))
    assert load_experiment(experiment).outputs == ["cost_eur_per_year.intercommunal"]
    experiment.write_text(body.replace("OUTPUT", "cost_eur_per_year.intercomunal"))
    with pytest.raises(ScenarioError, match=r"did you mean 'cost_eur_per_year\.intercommunal'"):
        load_experiment(experiment)
