"""The policy timeline: each action does what it says, from its day on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from simulator import load_scenario, run
from simulator.cli import main
from simulator.model import SecurityModel
from simulator.records.metrics import counted_calls
from simulator.scenario import ScenarioError

from .conftest import SCENARIOS

BASELINE = SCENARIOS / "baseline.yaml"


def _scenario(tmp_path: Path, timeline: str, days: int = 6, name: str = "policy") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"extends: {BASELINE}\nrun:\n  days: {days}\n  warmup_days: 0\ntimeline:\n{timeline}",
        encoding="utf-8",
    )
    return path


def test_a_transferred_competence_changes_who_answers_from_that_day(tmp_path: Path) -> None:
    # Twelve days, the change on day 6: more than ten noise calls on each side at the
    # calibrated call rate (about 3 a day).
    path = _scenario(
        tmp_path,
        "  - day: 6\n    label: noise goes to the State\n"
        "    transfer: {type: noise, to: state_police, keep_others: false}\n",
        days=12,
    )
    inc = run(load_scenario(path), seed=2).incidents.to_pandas()
    taken = inc[(inc["type"] == "noise") & inc["agency"].notna()]
    # Calls to the municipal police's own line stay its own whatever the competences
    # while the line is open (07:00-23:00).
    noise = taken[taken["addressed_to"].isna()]
    direct = taken[taken["addressed_to"].notna()]
    open_line = (direct["t_dispatched_h"] % 24 >= 7) & (direct["t_dispatched_h"] % 24 < 23)
    assert len(direct) > 10 and (direct.loc[open_line, "agency"] == "pm_centre").all()
    before = noise[noise["t_dispatched_h"] < 144]
    after = noise[noise["t_reported_h"] >= 144]
    assert len(before) > 10 and len(after) > 10
    assert before["agency"].str.startswith("pm_").mean() > 0.5  # municipal first before
    assert set(after["agency"]) == {"state_police"}  # only the State after


def test_hiring_puts_units_on_the_road_after_the_training_delay(tmp_path: Path) -> None:
    path = _scenario(
        tmp_path,
        "  - day: 1\n    hire: {agency: pm_centre, officers: 85, delay_days: 2}\n",
    )
    model = SecurityModel(load_scenario(path), seed=1)
    index = [a.name for a in model.agencies].index("pm_centre")
    before = max(model.agencies[index].staffing.units_by_hour)
    model.run_until(2 * 24 + 12)  # day 2: still in training
    assert max(model.agencies[index].staffing.units_by_hour) == before
    model.run_until(3 * 24 + 12)  # day 3: on the road
    after = model.agencies[index].staffing
    assert after.officers == pytest.approx(170)
    assert max(after.units_by_hour) >= 2 * before - 1
    on_duty_noon = [u for u in model.units[index] if u.state.value != "off_duty"]
    assert len(on_duty_noon) == after.units_by_hour[12]


def test_costs_follow_the_policy_period_by_period(tmp_path: Path) -> None:
    cut = _scenario(tmp_path, "  - day: 3\n    cut: {agency: state_police, officers: 100}\n")
    same = load_scenario(BASELINE, ["run.days=6", "run.warmup_days=0"])
    cost_same = run(same, seed=1).summary.cost_eur.by_agency["state_police"]
    result = run(load_scenario(cut), seed=1)
    cost_cut = result.summary.cost_eur.by_agency["state_police"]
    # Headcounts too are the window's: 3 days at the old level, 3 with 100 fewer.
    before = run(same, seed=1).summary.as_json()["officers"]["state_police"]
    summary = result.summary.as_json()
    assert summary["officers"]["state_police"] == pytest.approx(before - 50)
    row = result.agencies.set_index("agency").loc["state_police"]
    assert row["officers"] == pytest.approx(before - 50)
    assert summary["officers"]["pm_centre"] == float(same.agencies["pm_centre"].officers or 0)
    officers = same.agencies["state_police"]
    assert officers.budget_eur is not None
    # Half the window at the old level, half with 100 fewer officers (and vehicles).
    assert cost_cut < cost_same
    saving = cost_same - cost_cut
    per_officer_day = (62000 + 4000) / 365
    assert 100 * per_officer_day * 3 <= saving <= 100 * per_officer_day * 3 * 1.3


def test_cctv_programme_and_contract_actions(tmp_path: Path) -> None:
    path = _scenario(
        tmp_path,
        "  - day: 1\n    cctv: {districts: [qpv], coverage: 0.5, operators: 1}\n"
        "  - day: 2\n    programme: {watch_share: 0.1, prevention_eur_per_year: 500000}\n"
        "  - day: 2\n    contract: {commune: nord, state_officers: 20, municipal_officers: 10, "
        "cctv_districts: [nord-1], cctv_operators: 1}\n"
        "  - day: 4\n    private_contract: {agency: securite_privee, sites: 10, units: 1}\n",
    )
    result = run(load_scenario(path), seed=1)
    labels = [c["label"] for c in result.metadata["policy_changes"]]
    assert labels == ["cctv", "programme", "contract", "private contract"]
    by = result.summary.cost_eur.by_agency
    assert by["prevention"] == pytest.approx(500_000 * 4 / 365)
    assert by["cctv"] > 0


def test_a_contract_s_cameras_are_in_the_commune_that_signs_it(tmp_path: Path) -> None:
    """Its district types named every commune's districts: the suburbs paid for the centre's
    contract (cost shared by coverage). A cctv action's communes limit its zone likewise."""
    from simulator.crime.engine import cctv_coverage
    from simulator.world.territory import build_territory

    path = _scenario(
        tmp_path,
        "  - day: 1\n    contract: {commune: centre, cctv_districts: [qpv, commercial], "
        "cctv_operators: 2}\n"
        "  - day: 2\n    cctv: {districts: [residential], communes: [nord], operators: 1}\n",
    )
    scenario = load_scenario(path)
    periods = scenario.policy_changes
    assert periods is not None
    after = periods[-1].scenario
    territory = build_territory(after.territory)
    coverage = cctv_coverage(territory, after.cctv)
    commune = np.asarray(territory.commune)
    kinds = np.array([t.value for t in territory.district_types])[territory.district]
    centre, nord = territory.commune_index("centre"), territory.commune_index("nord")
    in_centre = (commune == centre) & np.isin(kinds, ["qpv", "commercial"])
    in_nord = (commune == nord) & (kinds == "residential")
    assert in_centre.any() and in_nord.any()
    # The base file's own zones stay where they were; the new ones add only there.
    before = cctv_coverage(territory, scenario.cctv)
    added = coverage > before
    assert added.any() and (in_centre | in_nord)[added].all()
    # Elsewhere, the same district types got no camera from the contract.
    elsewhere = (commune != centre) & np.isin(kinds, ["qpv", "commercial"])
    assert elsewhere.any() and (coverage[elsewhere] == before[elsewhere]).all()


@pytest.mark.parametrize(
    ("timeline", "expected"),
    [
        (
            "  - day: 50\n    cut: {agency: state_police, officers: 1}\n",
            "is after the end of the run",
        ),
        ("  - day: 1\n    hire: {agency: pm_centr, officers: 3}\n", "did you mean 'pm_centre'"),
        ("  - day: 1\n    transfer: {type: nois, to: state_police}\n", "did you mean 'noise'"),
        (
            "  - day: 1\n    transfer: {type: noise, to: municipal_polise}\n",
            "kind 'municipal_polise' .did you mean 'municipal_police'",
        ),
        (
            "  - day: 1\n    contract: {commune: centr, state_officers: 5}\n",
            "unknown commune 'centr' .did you mean 'centre'",
        ),
        ("  - day: 1\n    cut: {agency: pm_est, officers: 99}\n", "cannot cut 99 officers"),
        ("  - day: 1\n    set: {territory.extent_km: 3}\n", "cannot change during a run"),
        ("  - day: 1\n    set: {citizens.offender_share: 0.1}\n", "cannot change during a run"),
        ("  - day: 1\n    set: {citizens: {watch_share: 0.1}}\n", "not the whole block"),
        ("  - day: 1\n    cctv: {districts: [centre-99]}\n", "centre-1 to centre-12"),
        (
            "  - day: 1\n    cctv: {districts: [qpv], communes: [centr]}\n",
            "unknown commune 'centr' .did you mean 'centre'",
        ),
        (
            "  - day: 1\n    cctv: {districts: [nord-1], communes: [centre]}\n",
            "district 'nord-1' is in commune 'nord', not in the zone's communes",
        ),
        (
            "  - day: 1\n    contract: {commune: centre, cctv_districts: [qpv, nord-1]}\n",
            "cctv_districts.1: district 'nord-1' is in commune 'nord', not in the contract's",
        ),
        ("  - day: 1\n    cctv: {districts: [qpv], communes: []}\n", "at least 1 item"),
        ("  - day: 1\n    set: {demand.rate_per_hour: -1}\n", "greater than or equal to 0"),
        (
            "  - day: 1\n    hire: {agency: pm_est, officers: 1}\n    cut: {agency: pm_est, "
            "officers: 1}\n",
            "exactly one action",
        ),
    ],
)
def test_timeline_mistakes_are_reported_at_load_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], timeline: str, expected: str
) -> None:
    path = _scenario(tmp_path, timeline)
    with pytest.raises(ScenarioError, match=expected):
        load_scenario(path)
    assert main(["run", str(path), "--quiet", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{path}:" in err and "timeline.0" in err
    assert not (tmp_path / "out").exists()


def test_a_whole_agencies_block_may_not_rename_or_reorder_the_agencies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Crews keep their agency by position: the same agencies in another order (or
    others) set as one block would hand each agency's crews to another."""
    agencies = yaml.safe_load(BASELINE.read_text(encoding="utf-8"))["agencies"]
    reordered = dict(reversed(list(agencies.items())))
    path = _scenario(tmp_path, f"  - day: 1\n    set: {{agencies: {json.dumps(reordered)}}}\n")
    with pytest.raises(ScenarioError, match="cannot be added, removed, renamed or put in another"):
        load_scenario(path)
    assert main(["run", str(path), "--quiet", "--out", str(tmp_path / "out")]) == 2
    assert "timeline.0" in capsys.readouterr().err
    same = _scenario(tmp_path, f"  - day: 1\n    set: {{agencies: {json.dumps(agencies)}}}\n")
    assert load_scenario(same).timeline is not None  # the same block in the same order is fine


# Regressions found in review: each of these once hung, misrouted or silently misbehaved.


def test_zero_dwell_on_a_single_cell_does_not_hang() -> None:
    scenario = load_scenario(
        SCENARIOS / "validation" / "mmc.yaml",
        [
            "run.days=1",
            "agencies.state_police.patrol.strategy=random",
            "agencies.state_police.patrol.dwell_min=0",
        ],
    )
    assert run(scenario, seed=1).summary.calls.total > 0


def test_a_shorter_call_handling_keeps_each_call_its_own_delay(tmp_path: Path) -> None:
    from simulator.records.incidents import IncidentKind

    path = _scenario(
        tmp_path,
        "  - day: 1\n    set: {dispatch.call_handling_min: 1}\n",
        days=2,
    )
    base = load_scenario(path, ["dispatch.call_handling_min=30", "demand.rate_per_hour=6"])
    inc = run(base, seed=3).incidents.to_pandas()
    calls = inc[(inc["kind"] == IncidentKind.CALL.value) & inc["t_dispatched_h"].notna()]
    wait_h = calls["t_dispatched_h"] - calls["t_reported_h"]
    before, after = wait_h[calls["t_reported_h"] < 23.5], wait_h[calls["t_reported_h"] >= 24]
    assert (before >= 0.5 - 1e-9).all()  # 30 minutes of handling before the change
    assert (after >= 1 / 60 - 1e-9).all() and after.min() < 0.5  # 1 minute after it


def test_waiting_calls_are_dispatched_again_when_competences_change(tmp_path: Path) -> None:
    path = _scenario(
        tmp_path,
        "  - day: 1\n    transfer: {type: dispute, to: state_police, keep_others: false}\n",
        days=2,
    )
    scenario = load_scenario(
        path,
        [
            "competences.dispute=[pm_centre]",
            "agencies.pm_centre.service_hours=[8, 20]",
            "demand.max_wait_min=null",
            "demand.rate_per_hour=8",
        ],
    )
    inc = run(scenario, seed=2).incidents.to_pandas()
    disputes = inc[(inc["type"] == "dispute") & (inc["kind"] == "call")]
    waiting = disputes[(disputes["t_reported_h"] < 24) & (disputes["agency"] == "state_police")]
    # Disputes in the centre after 20:00 waited for the municipal police; at midnight the
    # State took them over at once instead of leaving them queued until the morning.
    assert len(waiting) > 0
    assert (waiting["t_dispatched_h"] >= 24).all()
    assert disputes["outcome"].isin(["cleared", "no_agency"]).all()


def test_a_patrol_change_takes_effect_for_idle_units(tmp_path: Path) -> None:
    path = _scenario(
        tmp_path,
        "  - day: 1\n    set: {agencies.state_police.patrol.strategy: random}\n",
        days=3,
    )
    scenario = load_scenario(path, ["agencies.state_police.patrol.strategy=static"])
    model = SecurityModel(scenario, seed=1)
    model.run_until(24)
    static_cells = int((model.presence.hours[0] > 0).sum())
    model.run_until(72)
    assert (model.presence.hours[0] > 0).sum() > static_cells + 20


def test_a_cut_with_a_delay_and_a_non_judicial_hand_over_are_refused(tmp_path: Path) -> None:
    path = _scenario(
        tmp_path, "  - day: 1\n    cut: {agency: state_police, officers: 5, delay_days: 10}\n"
    )
    with pytest.raises(ScenarioError, match="a cut takes effect on its day"):
        load_scenario(path)
    with pytest.raises(ScenarioError, match="no judicial powers"):
        load_scenario(BASELINE, ["competences.judicial_handover=[pm_centre]"])


def test_a_store_refuses_to_mix_results_of_an_edited_scenario(tmp_path: Path) -> None:
    from simulator.batch.runner import run_batch
    from simulator.batch.spec import load_experiment

    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"extends: {BASELINE}\n", encoding="utf-8")
    experiment = tmp_path / "e.yaml"
    experiment.write_text(
        "name: e\narms:\n  a: {scenario: s.yaml}\nreplicates: 1\ndays: 1\nwarmup_days: 0\n",
        encoding="utf-8",
    )
    spec = load_experiment(experiment)
    run_batch(spec, experiment, tmp_path / "store")
    scenario.write_text(f"extends: {BASELINE}\ndemand: {{rate_per_hour: 9}}\n", encoding="utf-8")
    with pytest.raises(FileExistsError, match="changed scenarios"):
        run_batch(spec, experiment, tmp_path / "store", resume=True)


def test_the_timeline_is_compiled_once_and_travels_with_the_scenario(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pickle

    from simulator.scenario import timeline

    scenario = load_scenario(SCENARIOS / "integrated_security_contract.yaml", ["run.days=30"])
    kept = scenario.policy_changes
    assert kept is not None and len(kept) >= 1
    twin = pickle.loads(pickle.dumps(scenario))  # what a batch worker receives
    assert twin == scenario and twin.policy_changes == kept

    def no_second_compilation(_: object) -> None:
        raise AssertionError("the timeline was compiled again")

    monkeypatch.setattr(timeline, "compile_timeline", no_second_compilation)
    assert SecurityModel(twin, 1)._changes == list(kept)
    # A copy with other settings forgets it (its timeline would be another), and
    # equality compares settings only.
    other = scenario.model_copy(update={"run": scenario.run.model_copy(update={"days": 31})})
    assert other.policy_changes is None and other != scenario
    assert scenario.model_copy() == scenario


def test_officers_hired_or_cut_are_whole(tmp_path: Path) -> None:
    """A cut of 0.5 officers was accepted, then rounded (to even): applied, yet nothing moved."""
    for event in (
        "  - day: 1\n    cut: {agency: state_police, officers: 0.5}\n",
        "  - day: 1\n    contract: {commune: centre, state_officers: 2.5}\n",
    ):
        with pytest.raises(ScenarioError, match="valid integer, got a number with a fractional"):
            load_scenario(_scenario(tmp_path, event))


def test_an_event_that_changes_nothing_leaves_the_run_as_it_was(tmp_path: Path) -> None:
    """A policy change nobody reads must not disturb the crews' draws: arms stay paired."""
    rate = load_scenario(BASELINE).demand.rate_per_hour
    same = _scenario(tmp_path, f"  - day: 2\n    set: {{demand.rate_per_hour: {rate}}}\n", 4)
    plain = _scenario(tmp_path, "  []\n", 4, name="plain")
    a = run(load_scenario(same), seed=3).incidents.to_pandas()
    b = run(load_scenario(plain), seed=3).incidents.to_pandas()
    pd.testing.assert_frame_equal(a, b)


def test_the_response_target_in_force_when_a_call_is_reported_scores_it(tmp_path: Path) -> None:
    path = _scenario(
        tmp_path, "  - day: 3\n    set: {dispatch.response_target_min: [1, 2, 3]}\n", 6
    )
    result = run(load_scenario(path), seed=1)
    calls = counted_calls(result.incidents.to_pandas(), (0.0, 6 * 24.0))
    first, then = [15.0, 30.0, 60.0], [1.0, 2.0, 3.0]  # the baseline's, then the change's

    def share(before_change: np.ndarray) -> float:
        target = [
            (first if b else then)[min(p, 3) - 1]
            for b, p in zip(before_change, calls["priority"], strict=True)
        ]
        return float((calls["response_min"].to_numpy() <= np.array(target)).mean())

    scored = result.summary.as_json()["response_min"]["within_target_share"]
    assert scored == pytest.approx(share(calls["t_reported_h"].to_numpy() < 72))
    # Held to the first standard throughout, the share would be far higher.
    assert scored < share(np.ones(len(calls), dtype=bool)) - 0.2


def test_a_contract_names_a_state_force_and_a_commune_s_police(tmp_path: Path) -> None:
    for contract, expected in [
        (
            "{commune: centre, state_agency: pm_nord, state_officers: 10}",
            "'pm_nord' is not a State force (its payer is commune)",
        ),
        (
            "{commune: centre, municipal_agency: securite_privee, municipal_officers: 5}",
            "'securite_privee' is not a police of communes",
        ),
        (  # no officers for it, but a misspelt name still means a mistake
            "{commune: nord, municipal_agency: pm_nordd}",
            "unknown agency 'pm_nordd' (did you mean 'pm_nord'?)",
        ),
    ]:
        path = _scenario(tmp_path, f"  - day: 1\n    contract: {contract}\n")
        with pytest.raises(ScenarioError) as refused:
            load_scenario(path)
        assert expected in str(refused.value)


def test_the_hand_over_competence_may_be_transferred_to_a_judicial_agency(tmp_path: Path) -> None:
    path = _scenario(
        tmp_path, "  - day: 1\n    transfer: {type: judicial_handover, to: pm_centre}\n"
    )
    with pytest.raises(ScenarioError, match="'pm_centre' has no judicial powers"):
        load_scenario(path)
    path = _scenario(
        tmp_path,
        "  - day: 1\n    transfer: {type: judicial_handover, to: state_police, "
        "keep_others: false}\n",
    )
    assert load_scenario(path).timeline[0].transfer is not None


def test_a_contract_without_state_officers_needs_no_state_police_and_may_name_a_police_of_communes(
    tmp_path: Path,
) -> None:
    """The default state_agency was checked even with no State officers to add."""
    path = tmp_path / "metropole.yaml"
    path.write_text(
        f"extends: {SCENARIOS / 'metropole_1500k.yaml'}\ntimeline:\n"
        "  - {day: 5, contract: {commune: colomiers, municipal_officers: 5, "
        "cctv_districts: [qpv], cctv_operators: 1}}\n",
        encoding="utf-8",
    )
    assert len(load_scenario(path).timeline) == 1
    path = _scenario(
        tmp_path,
        "  - day: 1\n    contract: {commune: est, municipal_agency: pi_est, "
        "municipal_officers: 4}\n",
    )
    text = path.read_text(encoding="utf-8").replace(
        "timeline:",
        "kinds:\n  intercommunal_police: {payer: intercommunal, jurisdiction: communes, "
        "guardianship: 1.2}\nagencies:\n  pi_est: {kind: intercommunal_police, "
        "communes: [est], officers: 40}\ncompetence_rules:\n"
        "  - {types: [noise], communes: [est], agencies: [pi_est, state_police]}\ntimeline:",
    )
    path.write_text(text, encoding="utf-8")
    assert load_scenario(path).timeline[0].contract is not None


def test_the_whole_run_block_of_an_arm_is_refused(tmp_path: Path) -> None:
    from simulator.batch.spec import load_experiment

    path = tmp_path / "e.yaml"
    path.write_text(
        f"name: e\narms:\n  base: {{scenario: {BASELINE}}}\n"
        f"  other: {{scenario: {BASELINE}, set: {{run: {{days: 30, warmup_days: 0}}}}}}\n"
        "replicates: 2\ndays: 2\n",
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError, match=r"arms\.other\.set\.run: the run block holds the days"):
        load_experiment(path)
