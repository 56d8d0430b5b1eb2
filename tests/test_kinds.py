"""Kinds of agency are data: a scenario declares a new kind by its capabilities alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulator.agencies.patrol import STRATEGIES, PatrolContext, PatrolStrategy, WeightedPatrol
from simulator.model import SecurityModel
from simulator.runner import run, write_results
from simulator.scenario import BUILTIN_KINDS, ScenarioError, load_scenario
from simulator.scenario.patrols import PATROL_STRATEGIES, StrategyInfo

from .conftest import ROOT, SCENARIOS, SMALL_TOWN, scenario_from

# Two communes that pool their police in an intercommunal force (police
# intercommunale, code de la securite interieure L512-1): paid by the
# intercommunal body, acting in its communes only, armed, without judicial powers.
INTERCOMMUNAL = """\
name: intercommunal
territory:
  kind: synthetic
  seed: 3
  cell_m: 250
  extent_km: 5
  communes:
    - {name: centre, role: central, residents: 9000, districts: 3}
    - {name: nord, residents: 5000, districts: 2}
demand:
  rate_per_hour: 1.5
  types:
    assistance: {share: 0.6}
    noise: {share: 0.4}
kinds:
  intercommunal_police:
    payer: intercommunal
    jurisdiction: communes
    armed: true
    judicial: false
    guardianship: 1.2
agencies:
  state_police:
    kind: state_police
    units: 2
  pi_centre_nord:
    kind: intercommunal_police
    communes: [centre, nord]
    units: 2
    cost: {salary_eur: 50000}
competences:
  assistance: [state_police]
  noise: [intercommunal_police, state_police]
run: {days: 3, warmup_days: 0, drain_max_h: 12}
"""


def _line(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_new_kind_runs_and_its_cost_is_reported_under_its_new_payer(tmp_path: Path) -> None:
    scenario = load_scenario(_write(tmp_path, INTERCOMMUNAL))
    caps = scenario.capabilities("pi_centre_nord")
    assert (caps.payer, caps.jurisdiction, caps.armed, caps.judicial) == (
        "intercommunal",
        "communes",
        True,
        False,
    )
    assert scenario.capabilities("state_police").judicial  # a State force is OPJ by default
    out = write_results(run(scenario), tmp_path / "out")
    summary = json.loads((out / "summary.json").read_text())
    agencies = pd.read_parquet(out / "agencies.parquet").set_index("agency")
    yearly = summary["cost_eur_per_year"]
    assert agencies.at["pi_centre_nord", "level"] == "intercommunal"
    assert yearly["intercommunal"] == pytest.approx(
        agencies.at["pi_centre_nord", "cost_eur_per_year"]
    )
    assert yearly["intercommunal"] > 0
    assert yearly["state"] == pytest.approx(agencies.at["state_police", "cost_eur_per_year"])
    assert yearly["commune"] == 0.0 and yearly["private"] == 0.0  # still reported, at zero
    # Named by its kind in the competences, the new force takes the noise calls.
    incidents = pd.read_parquet(out / "incidents.parquet")
    noise = incidents[(incidents["type"] == "noise") & incidents["agency"].notna()]
    assert len(noise) > 0
    assert (noise["agency"] == "pi_centre_nord").mean() > 0.5


def test_a_misspelt_capability_names_the_line_and_the_allowed_keys(tmp_path: Path) -> None:
    bad = INTERCOMMUNAL.replace("    guardianship: 1.2", "    gardianship: 1.2")
    path = _write(tmp_path, bad)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    text = str(caught.value)
    line = _line(bad, "gardianship")
    assert f"{path}:{line}:5: kinds.intercommunal_police.gardianship: unknown key" in text
    assert "did you mean 'guardianship'?" in text
    assert "allowed keys: payer, jurisdiction, billing" in text


def test_an_unknown_kind_names_the_line_and_the_kinds_there_are(tmp_path: Path) -> None:
    bad = INTERCOMMUNAL.replace("kind: intercommunal_police", "kind: intercomunal_police")
    path = _write(tmp_path, bad)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    text = str(caught.value)
    assert f"{path}:{_line(bad, 'intercomunal')}:5: agencies.pi_centre_nord.kind" in text
    assert "unknown kind 'intercomunal_police' (did you mean 'intercommunal_police'?)" in text
    assert f"kinds are: {', '.join([*BUILTIN_KINDS, 'intercommunal_police'])}" in text


def test_a_kind_acting_in_its_communes_must_list_them(tmp_path: Path) -> None:
    path = _write(tmp_path, INTERCOMMUNAL.replace("    communes: [centre, nord]\n", ""))
    with pytest.raises(ScenarioError, match=r"acts in its own commune\(s\)"):
        load_scenario(path)


def test_an_agency_may_not_take_a_type_its_capabilities_exclude(tmp_path: Path) -> None:
    limited = "    guardianship: 1.2\n    enforces: [noise]"
    text = INTERCOMMUNAL.replace("    guardianship: 1.2", limited)
    assert load_scenario(_write(tmp_path, text)).capabilities("pi_centre_nord").enforces == [
        "noise"
    ]
    wrong = text.replace("assistance: [state_police]", "assistance: [pi_centre_nord]")
    with pytest.raises(ScenarioError, match="'pi_centre_nord' may not take 'assistance'"):
        load_scenario(_write(tmp_path, wrong))


def test_every_patrol_strategy_the_schema_accepts_has_a_behaviour() -> None:
    assert sorted(STRATEGIES) == sorted(PATROL_STRATEGIES)


def test_an_unknown_patrol_strategy_names_the_line_and_the_strategies(tmp_path: Path) -> None:
    bad = INTERCOMMUNAL.replace(
        "    units: 2\n    cost:", "    units: 2\n    patrol: {strategy: hotspots}\n    cost:"
    )
    path = _write(tmp_path, bad)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    text = str(caught.value)
    assert f"{path}:{_line(bad, 'hotspots')}:" in text
    assert "agencies.pi_centre_nord.patrol.strategy: unknown patrol strategy 'hotspots'" in text
    assert "(did you mean 'hotspot'?); strategies are: static, random, hotspot" in text


def test_a_new_patrol_strategy_is_one_entry_and_one_function(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The two places a new strategy takes: its name in the scenario's registry, its
    # behaviour in the patrol module's (here a beat on the lowest-numbered patrol cell).
    info = StrategyInfo("stay on the first cell of the jurisdiction")
    monkeypatch.setitem(PATROL_STRATEGIES, "first_cell", info)

    def first_cell(ctx: PatrolContext) -> PatrolStrategy:
        return WeightedPatrol(ctx.cells[:1], None, ctx.dwell_h, ctx.rng)

    monkeypatch.setitem(STRATEGIES, "first_cell", first_cell)
    town = {**SMALL_TOWN, "agencies": {"state_police": {**SMALL_TOWN["agencies"]["state_police"]}}}
    town["agencies"]["state_police"]["patrol"] = {"strategy": "first_cell", "dwell_min": 30}
    model = SecurityModel(scenario_from(town), seed=1)
    model.run_until(12)
    agency = model.agencies[0]
    target = int(agency.cells[0])
    hours = model.presence.hours[0]
    assert hours[target] > 0
    assert set(np.flatnonzero(hours)) <= {target, agency.station_cell}


def test_the_readme_example_of_a_new_kind_and_mode_loads_as_shown(tmp_path: Path) -> None:
    """The README's block is what a reader copies: on the baseline it loads, and acts."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = readme.split("```yaml\n")[1:]
    block = next(b.split("```")[0] for b in blocks if "intercommunal_police:" in b)
    scenario = load_scenario(_write(tmp_path, f"extends: {SCENARIOS / 'baseline.yaml'}\n{block}"))
    agency = scenario.agencies["pi_est"]
    assert (agency.kind, agency.mode) == ("intercommunal_police", "scooter")
    assert scenario.capabilities("pi_est").guardianship == 1.4
    assert scenario.capabilities("pi_est").payer == "intercommunal"
    assert scenario.competences["noise"][0] == "intercommunal_police"
    assert not scenario.notes  # named in a list: it answers calls
