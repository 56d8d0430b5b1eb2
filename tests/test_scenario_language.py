"""The scenario language: extends, --set, show, schema, editor support."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from simulator.cli import main
from simulator.scenario import ScenarioError, json_schema, load_scenario
from simulator.scenario.kinds import BUILTIN_KINDS
from simulator.scenario.loader import canonical_overrides
from simulator.scenario.modes import BUILTIN_MODES

from .conftest import SCENARIOS

ALL_SCENARIOS = sorted(SCENARIOS.rglob("*.yaml"))


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_extends_merges_mappings_and_replaces_the_rest(tmp_path: Path) -> None:
    child = _write(
        tmp_path / "more_police.yaml",
        f"extends: {SCENARIOS / 'baseline.yaml'}\n"
        "agencies:\n  state_police:\n    budget_eur: 30000000\n"
        "demand:\n  priority_shares: [0.2, 0.4, 0.4]\n",
    )
    base = load_scenario(SCENARIOS / "baseline.yaml")
    s = load_scenario(child)
    assert s.name == "more_police"  # named after itself, not its parent
    assert s.agencies["state_police"].budget_eur == 30_000_000
    # Keys of the same mapping that the child did not write are inherited...
    assert s.agencies["state_police"].field_share == base.agencies["state_police"].field_share
    assert s.agencies["pm_centre"] == base.agencies["pm_centre"]
    # ...and a list is replaced whole.
    assert s.demand.priority_shares == [0.2, 0.4, 0.4]
    assert s.demand.types == base.demand.types


def test_switching_an_inherited_size_says_how(tmp_path: Path) -> None:
    """A size given by the extended file and another given here: the message says what to null."""
    base = SCENARIOS / "baseline.yaml"
    text = f"extends: {base}\nagencies:\n  pm_centre:\n    budget_eur: 6000000\n"
    with pytest.raises(ScenarioError) as refused:
        load_scenario(_write(tmp_path / "budget.yaml", text))
    assert "(found officers, budget_eur)" in str(refused.value)
    assert "set the one replaced to null here (officers: null or budget_eur: null)" in str(
        refused.value
    )
    s = load_scenario(_write(tmp_path / "fixed.yaml", text + "    officers: null\n"))
    assert s.agencies["pm_centre"].budget_eur == 6_000_000
    assert s.agencies["pm_centre"].officers is None


def test_a_competence_for_a_type_left_out_or_misspelt_says_which(tmp_path: Path) -> None:
    """A types mapping written whole, and a misspelt type, are named as such."""
    base = SCENARIOS / "baseline.yaml"
    burglary = "{rate_per_1000: 12, target: dwellings, report_prob: 0.8}"
    written = f"extends: {base}\ncrime:\n  types:\n    burglary: {burglary}\n"
    with pytest.raises(ScenarioError) as refused:
        load_scenario(_write(tmp_path / "one_type.yaml", written))
    text = str(refused.value)
    assert "competences.theft: unknown incident type 'theft': crime.types, written in the" in text
    assert "or change one with --set crime.types.<type>.<setting>=..." in text
    text = base.read_text(encoding="utf-8")
    assert text.count("\n    dispute:") == 1
    with pytest.raises(ScenarioError) as refused:
        load_scenario(
            _write(tmp_path / "typo.yaml", text.replace("\n    dispute:", "\n    dipute:"))
        )
    text = str(refused.value)
    assert "the type 'dipute' has no competence list: is one of the two misspelt?" in text
    assert "did you mean 'dipute'" not in text


def test_extends_chains_and_reports_lines_in_the_right_file(tmp_path: Path) -> None:
    _write(tmp_path / "a.yaml", f"extends: {SCENARIOS / 'baseline.yaml'}\nrun:\n  days: 10\n")
    _write(tmp_path / "b.yaml", "extends: a.yaml\nrun:\n  warmup_days: 2\n")
    c = _write(tmp_path / "c.yaml", "extends: b.yaml\nrun:\n  seed: -4\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(c)
    assert f"{c}:3:3: run.seed" in str(caught.value)
    fine = _write(tmp_path / "d.yaml", "extends: b.yaml\nrun:\n  seed: 4\n")
    s = load_scenario(fine)
    assert (s.run.days, s.run.warmup_days, s.run.seed) == (10, 2, 4)


def test_an_extends_cycle_is_an_error(tmp_path: Path) -> None:
    _write(tmp_path / "x.yaml", "extends: y.yaml\n")
    y = _write(tmp_path / "y.yaml", "extends: x.yaml\n")
    with pytest.raises(ScenarioError, match="cycle"):
        load_scenario(y)
    missing = _write(tmp_path / "z.yaml", "extends: nowhere.yaml\n")
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario(missing)


def test_set_overrides_win_over_the_file_and_are_named_in_errors() -> None:
    s = load_scenario(
        SCENARIOS / "baseline.yaml", ["run.days=12", "territory.communes.1.residents=1000"]
    )
    assert s.run.days == 12 and s.territory.communes[1].residents == 1000
    with pytest.raises(ScenarioError) as caught:
        load_scenario(SCENARIOS / "baseline.yaml", ["agencies.pm_centre.officers=-3"])
    assert "--set agencies.pm_centre.officers=-3" in str(caught.value)
    with pytest.raises(ScenarioError, match="no item 9"):
        load_scenario(SCENARIOS / "baseline.yaml", ["territory.communes.9.residents=1"])


def test_overrides_count_by_what_they_set_not_by_their_order_or_spelling() -> None:
    """A run's identity reads them so (runner.run_identity): one variant, one folder."""
    assert canonical_overrides(["b=2", "a.x=1"]) == canonical_overrides(["a.x=1.0", "b=2"])
    assert canonical_overrides(["a.x=1", "b=2"]) == ["a.x=1", "b=2"]
    assert canonical_overrides(["a=1", "a=2"]) == ["a=2"]  # the last one is applied
    assert canonical_overrides(["a.x=1", "a={y: 2}"]) == ['a={"y": 2}']  # replaced whole
    # Within a mapping set whole: a change of that mapping, not a setting of the file's.
    assert canonical_overrides(["a={y: 2}", "a.x=1"]) == ['a={"x": 1, "y": 2}']
    assert canonical_overrides(["a={y: 2}", "a.x=1"]) != canonical_overrides(["a.y=2", "a.x=1"])
    # A null set first, then a key within it: a new mapping, as the loader makes it.
    assert canonical_overrides(["cctv=null", "cctv.operators=2"]) == ['cctv={"operators": 2}']
    assert canonical_overrides(["a=[1, 2.0]", "b=on", "c=x"]) == ["a=[1, 2]", "b=true", 'c="x"']
    assert canonical_overrides([]) == []


def test_a_setting_into_a_default_entry_edits_it_and_keeps_the_others() -> None:
    """The baseline leaves its offence types at their defaults: --set edits one of them.

    The other types stay as they were; a whole new entry joins the defaults; a
    scenario without a crime block does not get one from a setting into its types.
    """
    base = load_scenario(SCENARIOS / "baseline.yaml")
    assert (
        base.crime is not None
        and "types" not in yaml.safe_load((SCENARIOS / "baseline.yaml").read_text())["crime"]
    )
    edited = load_scenario(SCENARIOS / "baseline.yaml", ["crime.types.burglary.report_prob=0.8"])
    assert edited.crime is not None
    assert list(edited.crime.types) == list(base.crime.types)
    for name, spec in base.crime.types.items():
        want = spec.model_copy(update={"report_prob": 0.8}) if name == "burglary" else spec
        assert edited.crime.types[name] == want
    burglary = base.crime.types["burglary"].model_dump(mode="json")
    added = load_scenario(
        SCENARIOS / "baseline.yaml",
        [f"crime.types.burglary_2={json.dumps(burglary)}", "competences.burglary_2=[state_police]"],
    )
    assert added.crime is not None
    assert list(added.crime.types) == [*base.crime.types, "burglary_2"]
    with pytest.raises(ScenarioError, match=r"report_prb.*did you mean 'report_prob'"):
        load_scenario(SCENARIOS / "baseline.yaml", ["crime.types.burglary.report_prb=0.8"])
    no_crime = SCENARIOS / "validation" / "mmc.yaml"
    assert load_scenario(no_crime).crime is None
    with pytest.raises(ScenarioError, match="crime"):
        load_scenario(no_crime, ["crime.types.burglary.report_prob=0.8"])


def test_a_setting_into_a_built_in_mode_or_kind_edits_it_and_keeps_its_other_fields() -> None:
    """The baseline's crews use built-in modes and kinds it does not write.

    ``--set modes.bicycle.speed_kmh=[18]`` gave a bicycle of that speed with every
    other field at the schema's default (congested like a car, presence 1), and a
    setting into a built-in kind was refused for want of its payer and jurisdiction.
    A timeline's setting did the same to the bicycle from its day on.
    """
    edited = load_scenario(
        SCENARIOS / "baseline.yaml",
        ["modes.bicycle.speed_kmh=[18]", "kinds.municipal_police.armed=false"],
    )
    assert edited.modes["bicycle"] == BUILTIN_MODES["bicycle"].model_copy(
        update={"speed_kmh": [18.0]}
    )
    assert edited.kinds["municipal_police"] == BUILTIN_KINDS["municipal_police"].model_copy(
        update={"armed": False}
    )
    assert list(edited.modes) == ["bicycle"] and list(edited.kinds) == ["municipal_police"]
    timeline = "timeline=[{day: 10, set: {modes.bicycle.speed_kmh: [18]}}]"
    changes = load_scenario(SCENARIOS / "baseline.yaml", [timeline]).policy_changes
    assert changes is not None
    assert changes[0].scenario.modes == {"bicycle": edited.modes["bicycle"]}
    with pytest.raises(ScenarioError, match=r"speed_kmz.*did you mean 'speed_kmh'"):
        load_scenario(SCENARIOS / "baseline.yaml", ["modes.bicycle.speed_kmz=[18]"])


def test_show_prints_the_resolved_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(SCENARIOS / "baseline.yaml"), "--set", "run.days=9"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["run"]["days"] == 9
    assert shown["agencies"]["pm_centre"]["hours_per_officer"] == 1607.0  # a default, resolved


def test_schema_command_matches_the_shipped_copy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json_schema()
    shipped = json.loads((SCENARIOS / "schema.json").read_text())
    assert shipped == printed, "regenerate with: secsim schema > scenarios/schema.json"
    assert "extends" in printed["properties"]


@pytest.mark.parametrize("path", ALL_SCENARIOS, ids=lambda p: str(p.relative_to(SCENARIOS)))
def test_every_scenario_points_editors_at_the_schema(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    target = (path.parent / first.split("$schema=", 1)[1]).resolve()
    assert target == (SCENARIOS / "schema.json").resolve()


def test_offences_still_awaiting_their_report_at_the_end_are_kept() -> None:
    from simulator import run

    # Burglaries at five times the calibrated rate, for a few to be reported late.
    overrides = ["run.days=2", "run.warmup_days=0", "crime.types.burglary.rate_per_1000=30"]
    scenario = load_scenario(SCENARIOS / "baseline.yaml", overrides)
    inc = run(scenario, seed=4).incidents.to_pandas()
    off = inc[inc["kind"] == "offence"]
    late = off[off["t_reported_h"] >= 48]
    # Burglaries are reported hours later: some of those near the end are still pending,
    # and they are in the records (known, never dispatched) rather than lost.
    assert len(late) > 0
    assert late["t_dispatched_h"].isna().all()
    assert set(late["known"]) <= {"reported", "detected"}


def test_messages_a_newcomer_can_act_on(tmp_path: Path) -> None:
    base = SCENARIOS / "baseline.yaml"

    def problems(path: Path, overrides: list[str] | None = None) -> str:
        with pytest.raises(ScenarioError) as caught:
            load_scenario(path, overrides or [])
        return str(caught.value)

    # A typo in the first segment of --set points at the --set, not at the file.
    text = problems(base, ["agencis.pm_centre.officers=120"])
    assert "--set agencis.pm_centre.officers=120" in text and "did you mean 'agencies'" in text
    # A misspelt agency name is not silently a new agency.
    text = problems(base, ["agencies.pm_center.officers=120"])
    assert "agency 'pm_center' is not declared (did you mean 'pm_centre'?)" in text
    # A typo inside a timeline change gets the same help as one in the file.
    policy = _write(
        tmp_path / "p.yaml",
        f"extends: {base}\ntimeline:\n  - day: 1\n    set: {{demand.rate_per_hur: 3}}\n",
    )
    assert "did you mean 'rate_per_hour'" in problems(policy)
    # Broken indentation says so.
    broken = _write(tmp_path / "b.yaml", "agencies:\n  pm:\n    kind: x\n   units: 3\n")
    assert "indentation" in problems(broken)


def test_recruits_arriving_after_the_end_are_allowed_and_reported(tmp_path: Path) -> None:
    from simulator import run

    scenario = load_scenario(SCENARIOS / "state_withdrawal.yaml", ["run.days=40"])
    meta = run(scenario, seed=1).metadata
    assert [c["label"] for c in meta["policy_changes"]] == ["State cuts its officers"]
    assert [c["day"] for c in meta["policy_changes_after_end"]] == [150.0]


def test_a_budget_that_would_make_millions_of_crews_is_refused_before_running() -> None:
    # A mistyped budget (six zeros too many) would create millions of Mesa agents.
    with pytest.raises(ScenarioError) as caught:
        load_scenario(SCENARIOS / "baseline.yaml", ["agencies.state_police.budget_eur=21e12"])
    (problem,) = caught.value.problems
    assert problem.path == ("agencies", "state_police", "budget_eur")
    assert "crews at the busiest hour" in problem.message and "50,000" in problem.message
    load_scenario(SCENARIOS / "baseline.yaml", ["agencies.state_police.budget_eur=21e9"])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("8h-20h", "service_hours is two whole hours, [start, end], e.g. [8, 20]"),
        ("['7:00', '23:00']", "e.g. [8, 20] for 8:00 to 20:00 (found ['7:00', '23:00'])"),
        ("[7:00, 23:00]", "found [420, 1380]; YAML reads 7:00 unquoted as 420, minutes"),
        ("[7, 25]", "1 <= end <= 24 and start != end (found [7, 25])"),
    ],
)
def test_service_hours_written_otherwise_say_the_form(value: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as refused:
        load_scenario(SCENARIOS / "baseline.yaml", [f"agencies.pm_centre.service_hours={value}"])
    assert expected in str(refused.value)
    assert "agencies.pm_centre.service_hours" in str(refused.value)
