"""Scenario and experiment files are data: checked, located, never executed."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from simulator.cli import main
from simulator.scenario import ScenarioError, load_scenario

from .conftest import ROOT, SCENARIOS, SMALL_TOWN, scenario_from

BASELINE = SCENARIOS / "baseline.yaml"


def _experiment(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(f"name: e\narms:\n  base: {{scenario: {BASELINE}}}\n{body}", encoding="utf-8")
    return path


def _refused(capsys: pytest.CaptureFixture[str], override: str) -> str:
    """What validate says of the baseline with ``--set override``, which it must refuse."""
    assert main(["validate", str(BASELINE), "--set", override]) == 2
    return " ".join(capsys.readouterr().err.split())


def _validated(tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, status: int) -> str:
    """What validate says of ``edited.yaml``, the baseline and ``body``; it exits ``status``."""
    path = tmp_path / "edited.yaml"
    path.write_text(f"extends: {BASELINE}\n{body}", encoding="utf-8")
    assert main(["validate", str(path)]) == status
    said = capsys.readouterr()
    return " ".join((said.out + said.err).split())


# An intercommunal police (police intercommunale) in commune est, which no list names.
PI_EST = (
    "kinds:\n  intercommunal_police: {payer: intercommunal, jurisdiction: communes, "
    "guardianship: 1.2}\n"
    "agencies:\n  pi_est: {kind: intercommunal_police, communes: [est], officers: 40}\n"
)


def test_validate_accepts_the_shipped_experiments_and_scenarios(
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = [*sorted((ROOT / "experiments").glob("*.yaml")), BASELINE]
    assert main(["validate", *map(str, files)]) == 0
    out = capsys.readouterr().out
    assert "policy_arms.yaml: ok (experiment policy_arms, 10 arms)" in out
    assert "baseline.yaml: ok (baseline)" in out


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "replicates: 2\narm_typo: 1\n",
            ["exp.yaml:5:1", "arm_typo", "unknown key"],
        ),
        (
            "design:\n  kind: grid\n  factors:\n"
            "    agencies.state_police.budgt_eur: {values: [1, 2]}\n",
            [
                "exp.yaml:7:5",
                "design.factors.agencies.state_police.budgt_eur",
                "no setting 'budgt_eur' under 'agencies.state_police'",
                "did you mean 'budget_eur'",
                "arm 'base'",
            ],
        ),
        (
            "design:\n  kind: lhs\n  factors:\n    citizens.trust_mean: {low: 0.8, high: 0.3}\n",
            ["exp.yaml:7:5", "design.factors.citizens.trust_mean", "low must be below high"],
        ),
        (
            "design:\n  kind: sobol\n  samples: 24\n  factors:\n"
            "    citizens.trust_mean: {low: 0.3, high: 0.8}\n",
            ["exp.yaml:6:3", "design.samples", "power of two, found 24 (use 16 or 32)"],
        ),
        (  # one base sample gave zero-width intervals around impossible indices
            "design:\n  kind: sobol\n  samples: 2\n  factors:\n"
            "    citizens.trust_mean: {low: 0.3, high: 0.8}\n",
            ["exp.yaml:6:3", "design.samples", "needs at least 4 base samples, found 2"],
        ),
        (
            "design:\n  kind: morris\n  samples: 1\n  factors:\n"
            "    citizens.trust_mean: {low: 0.3, high: 0.8}\n",
            ["exp.yaml:6:3", "design.samples", "needs at least 4 trajectories, found 1"],
        ),
        (
            "outputs: [calls.total, respnse_min.mean]\n",
            ["exp.yaml:4:", "outputs.1", "did you mean 'response_min.mean'"],
        ),
        (
            "outputs: [cost_eur_per_year.stat]\n",
            ["exp.yaml:4:", "outputs.0", "did you mean 'cost_eur_per_year.state'"],
        ),
        (
            "outputs: [response_min.by_agency.state_police.meen]\n",
            ["exp.yaml:4:", "outputs.0", "did you mean 'response_min.by_agency.state_police.mean'"],
        ),
        (  # an entry named by the scenario: its names are the scenario's, not any
            "outputs: [response_min.by_agency.state_polise.p90]\n",
            ["exp.yaml:4:", "outputs.0", "did you mean 'response_min.by_agency.state_police.p90'"],
        ),
        (
            "outputs: [offences.by_type.burglarly.recorded_per_1000]\n",
            ["exp.yaml:4:", "did you mean 'offences.by_type.burglary.recorded_per_1000'"],
        ),
        (
            "outputs: [utilisation.pm_centr, calls.by_type.noize]\n",
            ["did you mean 'utilisation.pm_centre'", "did you mean 'calls.by_type.noise'"],
        ),
        (
            "outputs: [response_min.by_priority.7.mean, cost_eur_per_year.by_commune.centr]\n",
            ["outputs.0", "did you mean 'cost_eur_per_year.by_commune.centre'"],
        ),
        (
            "outputs: [offences.by_type.burglary]\n",
            ["exp.yaml:4:", "outputs.0", "is a group of values", "actual, recorded"],
        ),
        (  # factors without a design were dropped: every run the same
            "design:\n  factors:\n    agencies.state_police.officers: {values: [250, 300]}\n",
            ["exp.yaml:5:", "design.factors", "give design.kind"],
        ),
        (  # no level at all: no run, and an empty store
            "design:\n  kind: grid\n  factors:\n    agencies.state_police.officers: {values: []}\n",
            ["exp.yaml:7:5", "needs at least one value"],
        ),
        (
            "design:\n  kind: lhs\n  factors:\n    citizens.trust_mean: {low: .nan, high: 0.8}\n",
            ["exp.yaml:7:5", "must be finite numbers, found nan"],
        ),
        (  # levels the scenario refuses stopped the batch, unlocated; validate said ok
            "design:\n  kind: grid\n  factors:\n    agencies.pm_centre.officers: {values: [-5]}\n",
            [
                "exp.yaml:7:5",
                "design point 0 of arm 'base' (agencies.pm_centre.officers=-5) does not load",
            ],
        ),
        (
            "design:\n  kind: lhs\n  factors:\n"
            "    agencies.pm_centre.officers: {low: 9, high: 30}\n",
            ["exp.yaml:7:5", "fractional part", "add integer: true"],
        ),
        (  # the seed of each run is the experiment's: run.seed was silently replaced
            "design:\n  kind: grid\n  factors:\n    run.seed: {values: [3, 4]}\n",
            ["exp.yaml:7:5", "design.factors.run.seed", "take their seeds from its seed"],
        ),
    ],
)
def test_experiment_mistakes_are_located_before_any_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, expected: list[str]
) -> None:
    path = _experiment(tmp_path, body)
    for command in (["validate", str(path)], ["batch", str(path), "--out", str(tmp_path / "s")]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert "in experiment:" in err and "Traceback" not in err
        for fragment in expected:
            assert fragment in err, (fragment, err)
    assert not (tmp_path / "s").exists()


def test_an_arm_s_setting_the_scenario_refuses_is_located_at_its_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """At the key of the arm's set:, not at the arm (line 5 of 7, not 3)."""
    path = tmp_path / "exp.yaml"
    path.write_text(
        f"name: e\nreference: base\narms:\n  base: {{scenario: {BASELINE}}}\n"
        f"  more:\n    scenario: {BASELINE}\n    set:\n"
        "      agencies.state_police.budgt_eur: 30000000\n"
        "      agencies.pm_centre.officers: -4\n",
        encoding="utf-8",
    )
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "exp.yaml:8:7: arms.more.set.agencies.state_police.budgt_eur: unknown key" in err
    assert "did you mean 'budget_eur'" in err
    assert "exp.yaml:9:7: arms.more.set.agencies.pm_centre.officers:" in err
    assert "its scenario does not load" not in err and "--set" not in err


def test_an_arm_with_an_unknown_key_is_located(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(f"arms:\n  base: {{scenario: {BASELINE}, sett: {{}}}}\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "exp.yaml:2:" in err and "arms.base.sett" in err and "did you mean 'set'" in err


@pytest.mark.parametrize(
    "value",
    [
        '!!python/object/apply:os.system ["touch {marker}"]',
        "!!python/name:os.system",
        '!!python/object/new:subprocess.Popen [["touch", "{marker}"]]',
    ],
)
def test_no_yaml_tag_builds_a_python_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    marker = tmp_path / "executed"
    for kind, head in (("scenario", f"extends: {BASELINE}\n"), ("experiment", "arms: {}\n")):
        path = tmp_path / f"{kind}.yaml"
        path.write_text(head + "description: " + value.format(marker=marker) + "\n")
        assert main(["validate", str(path)]) == 2
        err = capsys.readouterr().err
        assert f"{kind}.yaml:2:14" in err and "is not allowed" in err and "no tag" in err
    override = "description=" + value.format(marker=marker)
    assert main(["validate", str(BASELINE), "--set", override]) == 2
    assert "not valid YAML" in capsys.readouterr().err
    assert not marker.exists()


def test_the_package_never_evaluates_text() -> None:
    for path in (ROOT / "simulator").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in {"eval", "exec", "compile"}, path
            if isinstance(node, ast.Attribute) and node.attr in {"load", "unsafe_load", "Loader"}:
                base = node.value
                assert not (isinstance(base, ast.Name) and base.id == "yaml"), path


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("binary", "not a UTF-8 text file"),
        ("folder", "a folder, not a scenario file"),
        ("passwd", "a scenario is a mapping of keys to values, this is a str"),
        ("missing", "no such scenario file"),
    ],
)
def test_extends_pointing_at_something_else_is_a_clean_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str, expected: str
) -> None:
    other = {
        "binary": tmp_path / "tool",
        "folder": tmp_path / "folder",
        "passwd": tmp_path / "passwd",
        "missing": tmp_path / "absent.yaml",
    }[target]
    if target == "binary":
        other.write_bytes(bytes(range(256)) * 4)
    elif target == "folder":
        other.mkdir()
    elif target == "passwd":
        other.write_text("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/bin/sh\n")
    path = tmp_path / "s.yaml"
    path.write_text(f"name: s\nextends: {other}\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert expected in err and "s.yaml:2:1: extends:" in err and "Traceback" not in err


def test_an_alias_bomb_and_deep_nesting_are_refused_quickly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    previous = "a"
    for name in "bcdefghij":  # 9 ** 9 values once expanded
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
        previous = name
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert main(["validate", str(bomb), str(deep)]) == 2
    err = capsys.readouterr().err
    assert "expands to more than 100,000 values" in err and "nested too deeply" in err
    assert "Traceback" not in err


def test_every_value_of_a_real_summary_is_a_valid_output() -> None:
    from simulator.batch.runner import flatten
    from simulator.batch.spec import output_problem
    from simulator.records.summary import summary_shape
    from simulator.runner import run
    from simulator.scenario import load_scenario

    result = run(load_scenario(BASELINE, ["run.days=1", "run.warmup_days=0"]))
    template = summary_shape()
    names = list(flatten(result.summary.as_json()))
    assert len(names) > 100
    assert [n for n in names if output_problem(n, template)] == []
    assert output_problem("calls", template) is not None  # a group, not a value


def test_an_arm_may_not_set_the_seed_its_runs_take_from_the_experiment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(f"arms:\n  base: {{scenario: {BASELINE}, set: {{run.seed: 3}}}}\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "exp.yaml:2:" in err and "arms.base.set.run.seed" in err and "from its seed" in err


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("territory.communes=[]", "territory.communes: List should have at least 1 item"),
        (  # a budget at no cost bought no officer, silently
            "agencies.state_police.cost={salary_eur: 0, equipment_eur: 0, vehicle_eur: 0}",
            "a budget buys officers at their cost",
        ),
        ("agencies.state_police.officers=true", "officers: expected a whole number, not true"),
        ("agencies.state_police.budget_eur=false", "budget_eur: expected a number, not false"),
        (  # the baseline has 5 districts where a market may sit, one each
            "crime.drug_markets.count=10",
            "10 markets asked, but this territory has 5 districts of the market types",
        ),
    ],
)
def test_settings_the_model_would_quietly_bend_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], override: str, expected: str
) -> None:
    out = tmp_path / "out"
    command = ["run", str(BASELINE), "--days", "1", "--quiet", "--out", str(out)]
    assert main([*command, "--set", override]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["figures", "--replicates", "0"], "argument --replicates: must be at least 1"),
        (["figures", "--days", "-1"], "argument --days: must be at least 1"),
        (["figures", "--full", "--days", "5"], "it takes no --days"),
        (["dashboard", str(BASELINE), "--port", "99999"], "a TCP port is 1 to 65535"),
        (
            ["batch", str(ROOT / "experiments" / "policy_arms.yaml"), "--scheduler", "nowhere"],
            "expected a Dask scheduler's address",
        ),
        (
            ["calibrate", str(ROOT / "calibration" / "baseline.yaml"), "--scheduler", "a:b"],
            "expected a Dask scheduler's address",
        ),
    ],
)
def test_command_options_out_of_range_are_refused_before_anything_runs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    expected: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    try:
        status = main(
            [*command, "--out", str(tmp_path / "out")] if command[0] != "dashboard" else command
        )
    except SystemExit as exit_:  # argparse's own refusals
        status = exit_.code
    assert status == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_file_not_in_utf8_is_located_at_its_first_unreadable_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("run: {days: 2}\nname: caf\u00e9\n".encode("latin-1"))
    assert main(["validate", str(latin)]) == 2
    err = capsys.readouterr().err
    assert "1 problem in file:" in err  # validate does not know yet what the file is
    assert "latin.yaml:2:10: not a UTF-8 text file (byte 0xe9" in err and "save the file" in err


def test_a_set_that_makes_a_new_entry_by_a_typo_is_blamed_with_a_suggestion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--set crime.types.burglry...: the new offence type lacks its rate; the problem is
    the --set's (it was put on the file's crime.types line), and burglary is suggested."""
    override = "crime.types.burglry.report_prob=0.8"
    command = ["run", str(BASELINE), "--days", "1", "--out", str(tmp_path / "o")]
    assert main([*command, "--set", override]) == 2
    err = capsys.readouterr().err
    assert f"--set {override}: crime.types.burglry.rate_per_1000: required key" in err
    assert "'burglry' is a new entry of crime.types (did you mean 'burglary'?)" in err
    assert "baseline.yaml" not in err


def test_a_run_option_s_problem_names_the_option_typed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--days 0 is refused as --days 0, not as a --set run.days=0 nobody typed."""
    out = tmp_path / "o"
    assert main(["run", str(BASELINE), "--days", "0", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--days 0: run.days: Input should be greater than or equal to 1" in err
    assert "--set" not in err and not out.exists()


@pytest.mark.parametrize(
    ("command", "path", "expected"),
    [
        (
            "run",
            ROOT / "experiments" / "policy_arms.yaml",
            "this is an experiment file, not a scenario: secsim run takes scenario files; "
            "secsim batch takes this one",
        ),
        (
            "show",
            ROOT / "calibration" / "baseline.yaml",
            "this is a calibration file, not a scenario: secsim show takes scenario files; "
            "secsim calibrate takes this one",
        ),
        (
            "batch",
            BASELINE,
            "this is a scenario file, not an experiment: secsim batch takes experiment files; "
            "secsim run takes this one",
        ),
    ],
)
def test_a_file_of_another_kind_is_named_for_what_it_is(
    command: str, path: Path, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One line naming the command that takes the file, not the keys the other kind lacks."""
    out = tmp_path / "out"
    assert main([command, str(path), *(["--out", str(out)] if command != "show" else [])]) == 2
    err = capsys.readouterr().err
    assert "1 problem in file:" in err and expected in " ".join(err.split())
    assert "unknown key" not in err and not out.exists()


def _preemption_design(kind: str, en_route: list[int]) -> str:
    """A design of pre-emption's priorities 1 and 2 against the diversion's ``en_route``:
    a diversion priority of 2 or less with pre-emption at 2 does not load."""
    return (
        f"design:\n  kind: {kind}\n  factors:\n"
        "    dispatch.preemption.priority: {values: [1, 2]}\n"
        f"    dispatch.preemption.en_route_priority: {{values: {en_route}}}\n"
    )


def test_validate_checks_every_design_point_as_the_batch_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Levels that load one by one but not together: validate said ok, batch refused."""
    path = _experiment(tmp_path, _preemption_design("list", [3, 2]))
    for command in (["validate", str(path)], ["batch", str(path), "--out", str(tmp_path / "s")]):
        assert main(command) == 2
        err = " ".join(capsys.readouterr().err.split())
        # At the experiment's line of the factor that made it, with the point's values.
        assert f"{path}:7:5: design.factors.dispatch.preemption.priority: design point 1" in err
        assert "of arm 'base' (dispatch.preemption.priority=2, " in err
        assert "en_route_priority (2)" in err and f"the scenario's {BASELINE}:" in err
    assert not (tmp_path / "s").exists()


def test_many_design_points_with_one_problem_show_three_and_count_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A sampled design whose region fails: three points shown, the others counted."""
    path = _experiment(tmp_path, _preemption_design("grid", [3, 2, 2, 2, 2, 2]))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    # Priority 2 with en_route_priority 2: five points refused, three shown.
    assert err.startswith("4 problems in experiment:")
    assert err.count(f"{path}:7:5: design.factors.dispatch.preemption.priority:") == 4
    assert err.count("does not load") == 3
    assert "and 2 more design points of arm 'base' with the same problem" in err


def test_a_misspelt_call_type_is_named_a_new_type_with_its_likely_name(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """It said only that 'nois' had no competent agency, and advised adding one."""
    err = _refused(capsys, "demand.types.nois.share=0.17")
    assert "--set demand.types.nois.share=0.17: demand.types.nois: 'nois' is a new type" in err
    assert "(did you mean 'noise'?)" in err


def test_an_agency_block_replaced_whole_is_said_to_be_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """It said the agency was not declared, with a did-you-mean to another one."""
    err = _refused(capsys, "agencies.pm_centre={officers: 10}")
    assert (
        "agency 'pm_centre' has no kind: a new agency needs at least its kind and its resources "
        "(to change a declared agency from a --set or a timeline's set:"
    ) in err
    assert "e.g. agencies.pm_centre.officers=..." in err and "not declared" not in err
    err = _refused(capsys, "agencies.pm_centr.officers=10")
    assert "agency 'pm_centr' is not declared (did you mean 'pm_centre'?)" in err


def test_the_crime_engine_switched_off_is_named_once_as_the_cause(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Six 'unknown incident type' problems, none naming what removed the types."""
    err = _refused(capsys, "crime=null")
    assert (
        "1 problem in scenario" in err and "--set crime=null: crime: the crime engine is off" in err
    )
    assert "(incivility, theft, burglary, assault, drug_dealing, serious_violence)" in err
    # The State police ranks its hot spots by assaults: named in the same problem.
    assert "and the patrols of state_police rank hot spots by offence types" in err


def _line_of(start: str) -> str:
    """``line:column`` of the first line of baseline.yaml that begins with ``start``."""
    lines = BASELINE.read_text(encoding="utf-8").split("\n")
    number = next(i for i, text in enumerate(lines, 1) if text.startswith(start))
    return f"{number}:{len(start) - len(start.lstrip()) + 1}"


@pytest.mark.parametrize(
    ("override", "start", "expected"),
    [
        (
            "agencies.pm_centre.service_hours.0=25",
            "    service_hours: [7, 23]",
            "agencies.pm_centre.service_hours: serv",
        ),
        (
            "agencies.pm_centre.officers=",
            "  pm_centre:",
            "agencies.pm_centre: give exactly one of units",
        ),
        ("demand.types.noise.share=0.3", "  types:", "demand.types: the shares of the call types"),
    ],
)
def test_a_problem_under_a_set_names_the_set_beside_the_file_s_line(
    override: str, start: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """They were placed at the line of baseline.yaml the --set had changed, without it."""
    line = _line_of(start)
    err = _refused(capsys, override)
    assert f"baseline.yaml:{line} (changed by --set {override}): {expected}" in err


def test_a_set_elsewhere_is_not_named_for_a_problem_of_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only a --set at or below the problem's key is named beside it."""
    path = tmp_path / "s.yaml"
    path.write_text(
        f"extends: {BASELINE}\nagencies:\n  pm_centre:\n    units: 3\n", encoding="utf-8"
    )
    assert main(["validate", str(path), "--set", "demand.rate_per_hour=5"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "s.yaml:3:3: agencies.pm_centre: give exactly one of units" in err
    assert "changed by" not in err


def test_commune_codes_written_as_numbers_are_refused_with_the_fix(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two messages ('all'; a valid string) said nothing of the quotes they lacked."""
    err = _refused(capsys, "agencies.pm_centre.communes=[31555]")
    assert "1 problem in scenario" in err and "write each in quotes as you wrote it" in err


def test_a_yaml_merge_key_with_a_key_beside_it_is_no_duplicate(tmp_path: Path) -> None:
    """<<: *anchor then communes: beside it was refused as a key written twice."""
    path = tmp_path / "merge.yaml"
    path.write_text(
        f"extends: {BASELINE}\nagencies:\n  pm_est: &pm\n    kind: municipal_police\n"
        "    communes: [est]\n    officers: 10\n  pm_sud:\n    <<: *pm\n    communes: [sud]\n"
        "competence_rules: []\n",
        encoding="utf-8",
    )
    scenario = load_scenario(path)
    assert scenario.agencies["pm_sud"].communes == ["sud"]
    assert scenario.agencies["pm_sud"].officers == 10
    # A key written twice inside the anchor is named by the anchor's own path.
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("    officers: 10\n", "    officers: 10\n    officers: 11\n"))
    with pytest.raises(ScenarioError, match=r"merge.yaml:7:5: agencies.pm_est.officers: key"):
        load_scenario(path)
    path.write_text(text)
    # A key written twice by hand is still refused, at its second line.
    path.write_text(path.read_text(encoding="utf-8") + "competence_rules: []\n")
    with pytest.raises(ScenarioError, match=r"merge.yaml:11:1: competence_rules: key written"):
        load_scenario(path)


def test_an_emptied_block_and_an_impossible_year_of_hours_are_said_plainly(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """'a valid dictionary or instance of AgencySpec' named a class of the code."""
    err = _refused(capsys, "agencies.pm_centre=null")
    assert "agencies.pm_centre: expected a mapping of settings" in err and "AgencySpec" not in err
    override = "agencies.pm_centre.hours_per_officer=100000"  # a year has 8,760 hours
    assert "less than or equal to 8760" in _refused(capsys, override)


def test_outputs_of_a_collection_a_factor_writes_whole_are_not_checked_by_name() -> None:
    """A factor writing crime.types whole (as a calibration's stage) may give it any type."""
    from simulator.batch.spec import checkable_names, named_shape, output_problem
    from simulator.records.summary import summary_shape

    names = {"offence types": {"theft"}, "agencies": {"state_police"}}
    for factors, refused in (([], True), (["crime.types"], False), (["crime"], False)):
        shape = named_shape(summary_shape(), checkable_names(names, factors))
        wrong = output_problem("offences.by_type.arson.actual", shape)
        assert (wrong is not None) is refused, factors
        assert output_problem("utilisation.state_polise", shape) is not None
    # A factor inside one type writes no new type.
    shape = named_shape(summary_shape(), checkable_names(names, ["crime.types.theft.rate"]))
    assert output_problem("offences.by_type.arson.actual", shape) is not None


def test_a_set_into_an_item_of_an_absent_list_says_to_write_the_list(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """It said only 'Input should be a valid list' (the --set had made a mapping)."""
    override = "competence_rules.0.hours=[22,6]"
    err = _refused(capsys, override)
    assert "competence_rules: this list has no item to change here" in err
    assert "--set 'competence_rules=[...]'" in err


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "agencies.state_police.patrol.hotspot_offences=[asault]",
            "unknown offence type 'asault' (did you mean 'assault'?)",
        ),
        (
            "agencies.state_police.patrol.hotspot_offences=[drug_dealing]",
            "'drug_dealing' happens at the drug markets (crime.types.drug_dealing.target: "
            "market), which have no standing rates to rank cells by: take it out of "
            "hotspot_offences",
        ),
        (
            "crime.types.assault.target=market",
            "'assault' happens at the drug markets (crime.types.assault.target: market)",
        ),
        (
            "agencies.state_police.patrol.hotspot_offences=[noise]",
            "unknown offence type 'noise'; 'noise' is a call type: hot spots by expected calls "
            "are those of an empty hotspot_offences ([])",
        ),
        (
            "agencies.state_police.patrol.hotspot_offences=[theft, theft]",
            "hotspot_offences.1: 'theft' is listed twice: name each offence type once",
        ),
    ],
)
def test_hot_spots_by_offence_types_are_checked_against_the_patrol_and_the_types(
    capsys: pytest.CaptureFixture[str], override: str, expected: str
) -> None:
    err = _refused(capsys, override)
    assert expected in err and "Traceback" not in err


def test_hot_spots_by_offence_types_in_a_scenario_without_crime_are_refused_at_the_key() -> None:
    """(The baseline with crime switched off names them in its one problem, above.)"""
    with pytest.raises(ScenarioError) as refused:
        scenario_from(
            SMALL_TOWN,
            agencies__state_police__patrol={"strategy": "hotspot", "hotspot_offences": ["theft"]},
        )
    assert (
        "agencies.state_police.patrol.hotspot_offences: hot spots by offence types need the "
        "crime engine (crime:)" in str(refused.value)
    )


@pytest.mark.parametrize(
    ("overrides", "key", "expected"),
    [
        (
            ["agencies.state_police.communes=[centre, nord]"],
            "territory.communes.3",
            "no agency with crews may act in commune 'sud': its calls and the offences that "
            "need a unit there are closed as no_agency",
        ),
        (
            ["agencies.pm_nord.staffing_profile=" + str([0] * 22 + [1, 1]).replace(" ", "")],
            "agencies.pm_nord.staffing_profile",
            "0 at every hour of the agency's service_hours: its crews are spread evenly",
        ),
        (
            ["agencies.pm_nord.officers=null", "agencies.pm_nord.budget_eur=5000"],
            "agencies.pm_nord",
            "no crew of this agency is ever on duty",
        ),
        (
            ["agencies.pm_nord.field_share=0"],
            "agencies.pm_nord",
            "no crew of this agency is ever on duty (field_share 0 puts none of its officers' "
            "hours in field crews)",
        ),
        (
            ["agencies.pm_nord.station=centre"],
            "agencies.pm_nord.station",
            "the station is in 'centre', outside the agency's communes (nord)",
        ),
        (
            ["timeline=[{day: 1, transfer: {type: noise, to: municipal_police}}]"],
            "timeline.0.transfer",
            "this change leaves every setting as it was: 'municipal_police' is already first "
            "for 'noise' (keep_others: false makes it the only one)",
        ),
        (
            ["timeline=[{day: 1, hire: {agency: pm_nord, officers: 5, delay_days: 400}}]"],
            "timeline.0.hire",
            "takes effect on day 401, after the run ends",
        ),
    ],
)
def test_settings_allowed_but_likely_not_meant_are_noted_and_run(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    overrides: list[str],
    key: str,
    expected: str,
) -> None:
    """Validate and run say so, located, and go on (exit 0): the model runs them as written."""
    sets = [arg for override in overrides for arg in ("--set", override)]
    assert main(["validate", str(BASELINE), *sets]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "baseline.yaml: ok (baseline)" in said
    assert "note: " in said and f"{key}: {expected}" in said
    out = tmp_path / "out"
    command = ["run", str(BASELINE), "--days", "1", "--quiet", "--out", str(out), *sets]
    assert main(command) == 0
    assert f"{key}: {expected}" in " ".join(capsys.readouterr().err.split())
    assert (out / "summary.json").exists()


def test_no_shipped_scenario_draws_a_note(capsys: pytest.CaptureFixture[str]) -> None:
    """Except competence_transfer's gaps in sud, which has no municipal police: the
    question that scenario asks (its header: where calls are left unanswered)."""
    files = sorted(SCENARIOS.glob("*.yaml"))
    assert main(["validate", *map(str, files)]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note:")]
    transfer = SCENARIOS / "competence_transfer.yaml"
    assert len(notes) == 3 and all(line.startswith(f"note: {transfer}:") for line in notes)
    assert all("may act in commune sud:" in line for line in notes)


def test_an_output_on_offence_types_with_crime_off_in_every_arm_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It gave a column of nothing; now the reason, at the output's line."""
    path = tmp_path / "nocrime.yaml"
    scenario = SCENARIOS / "validation" / "mmc.yaml"  # no crime: block
    path.write_text(
        f"name: nocrime\narms:\n  base: {{scenario: {scenario}}}\nreplicates: 2\ndays: 5\n"
        "outputs:\n  - calls.total\n  - offences.by_type.theft.actual\n",
        encoding="utf-8",
    )
    assert main(["validate", str(path)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert (
        "nocrime.yaml:8:5: outputs.1: 'offences.by_type.theft.actual' names an entry of "
        "offences.by_type, which is empty in every run: no arm has offence types: the crime "
        "engine is off in every arm"
    ) in err


def test_an_agency_no_list_names_is_noted_and_a_rule_that_never_applies_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    said = _validated(tmp_path, capsys, PI_EST, 0)
    assert (
        "edited.yaml:5:3: agencies.pi_est: no competence list or rule names this agency or its "
        "kind ('intercommunal_police'), and it has no line of its own: it answers no call"
    ) in said
    rules = (
        "competence_rules:\n  - {types: [traffic, noise], agencies: [state_police]}\n"
        "  - {types: [traffic], communes: [nord], hours: [8, 20], agencies: [pm_nord]}\n"
    )
    assert (
        "edited.yaml:4:5: competence_rules.1: this rule never applies: competence_rules.0 comes "
        "first and matches every incident it would (types traffic, noise)"
    ) in _validated(tmp_path, capsys, rules, 2)


def test_a_number_with_a_leading_zero_is_refused_not_read_in_base_8(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = "timeline:\n  - {day: 060, hire: {agency: pm_centre, officers: 10}}\n"
    err = _validated(tmp_path, capsys, body, 2)
    assert (
        "edited.yaml:3:11: timeline.0.day: 060 is read by YAML as an octal number (48), not as "
        "60: write it without the leading zero, or in quotes if it is a code ('060')"
    ) in err


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "description: Plan: more officers\n",
            "2:18: malformed YAML: mapping values are not allowed here (a value holding ': ' "
            "must be in quotes",
        ),
        (
            "agencies:\n  PM_Nord: {officers: 30}\n",
            "agency 'PM_Nord' is not declared (did you mean 'pm_nord'?)",
        ),
        (
            "timeline:\n  - {day: 2024-03-01, hire: {agency: pm_centre, officers: 10}}\n",
            "timeline.0.day: Input should be a valid number (found 2024-03-01, which YAML reads "
            "as a date: write a number, or put text in quotes)",
        ),
        (
            "description: ab\x00cd\n",
            "2:16: malformed YAML: a character YAML does not accept (#x0000, special "
            "characters are not allowed): remove it (NUL bytes come from a file saved as UTF-16)",
        ),
        (
            "agencies:\n  pm_nord: {communes: nord}\n",
            "agencies.pm_nord.communes: communes is a list, e.g. communes: [nord] (all for "
            "every commune)",
        ),
        (
            "competence_rules:\n  - {types: [noise], communes: all, agencies: [state_police]}\n",
            "competence_rules.0.communes: communes is a list, e.g. communes: [nord, centre] "
            "(leave it out for every commune)",
        ),
        (
            "timeline:\n  - {day: 3, set: {agencies.pm_center.officers: 100}}\n",
            "timeline.0.set.agencies.pm_center.officers: unknown agency 'pm_center' (did you "
            "mean 'pm_centre'?); agencies cannot be added during a run",
        ),
    ],
)
def test_messages_say_what_was_meant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, expected: str
) -> None:
    assert expected in _validated(tmp_path, capsys, body, 2)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "competences.noise=[pm_centre, state_police, pm_centre]",
            "competences.noise.2: 'pm_centre' is listed twice: a competence list is an order "
            "of preference: name each agency once",
        ),
        (
            "agencies.pm_nord.communes=[nord, nord]",
            "agencies.pm_nord.communes.1: 'nord' is listed twice: name each commune once",
        ),
        (  # costs summed over officers and hours would be infinite, reported as null
            "agencies.pm_centre.cost.salary_eur=1.0e+307",
            "agencies.pm_centre.cost.salary_eur: Input should be less than or equal to "
            "1000000000000",
        ),
    ],
)
def test_a_name_listed_twice_and_an_absurd_cost_are_refused(
    capsys: pytest.CaptureFixture[str], override: str, expected: str
) -> None:
    assert expected in _refused(capsys, override)


def test_extends_in_a_set_is_told_where_it_belongs(capsys: pytest.CaptureFixture[str]) -> None:
    err = _refused(capsys, "extends=other.yaml")
    assert "--set extends=other.yaml: extends is read from the file, before the --set" in err


def test_a_leading_zero_that_changes_nothing_is_read_as_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """07 is 7 in base 8 too (an hour, say); 010 and a --set of 0100 are not."""
    path = tmp_path / "hours.yaml"
    path.write_text(
        f"extends: {BASELINE}\nagencies:\n  pm_centre: {{service_hours: [07, 23]}}\n",
        encoding="utf-8",
    )
    assert load_scenario(path).agencies["pm_centre"].service_hours == (7, 23)
    err = _refused(capsys, "agencies.pm_centre.officers=0100")
    assert "0100 is read by YAML as an octal number (64), not as 100" in err
    err = _refused(capsys, "agencies.pm_centre.service_hours=[7, -010]")
    assert "-010 is read by YAML as an octal number (-8), not as -10" in err


def test_an_agency_a_transfer_names_later_draws_no_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = PI_EST + "timeline:\n  - {day: 10, transfer: {type: noise, to: pi_est}}\n"
    assert "note:" not in _validated(tmp_path, capsys, body, 0)


def test_more_contracted_sites_than_cells_to_guard_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cell is one site: the extra sites were silently dropped, their calls spread thin."""
    said = _refused(capsys, "agencies.securite_privee.sites=100000")
    assert "agencies.securite_privee.sites: 100,000 contracted sites for 'securite_privee'" in said
    assert "the territory has 4,900 cells with shops or night venues" in said
    assert "give at most 4,900" in said
    # A contract of the timeline that takes the firm past them, at its own line.
    body = (
        "timeline:\n  - day: 10\n    label: more sites\n"
        "    private_contract: {agency: securite_privee, sites: 4871}\n"
    )
    said = _validated(tmp_path, capsys, body, 2)
    assert "edited.yaml:5:" in said and "timeline.0.private_contract.sites: 4,901" in said
    assert _validated(tmp_path, capsys, body.replace("4871", "4870"), 0).endswith("ok (edited)")


def test_a_problem_at_line_100_keeps_its_line_and_an_output_path_its_brackets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rich read ":100:" as an emoji code (the line became 💯) and "[test]" as markup."""
    path = tmp_path / "long.yaml"
    path.write_text(
        f"extends: {BASELINE}\n" + "# a comment\n" * 98 + "agencies: {pm_centre: {oficers: 3}}\n",
        encoding="utf-8",
    )
    assert main(["validate", str(path)]) == 2
    assert f"{path}:100:" in capsys.readouterr().err
    out = tmp_path / "o[test]"
    assert main(["run", str(BASELINE), "--days", "1", "--warmup-days", "0", "--out", str(out)]) == 0
    assert f"results written to {out}/" in " ".join(capsys.readouterr().out.split())


def test_a_seed_beyond_64_bits_is_refused_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It validated, ran, then ended in an OverflowError traceback writing the results."""
    out = tmp_path / "out"
    assert main(["run", str(BASELINE), "--seed", str(2**63), "--out", str(out)]) == 2
    said = " ".join(capsys.readouterr().err.split())
    assert "--seed 9223372036854775808: run.seed: Input should be less than or equal to" in said
    assert not out.exists()
    body = "design:\n  kind: none\nseed: 9223372036854775808\n"
    assert main(["validate", str(_experiment(tmp_path, body))]) == 2
    assert "seed: Input should be less than or equal to 9223372036854775807" in (
        capsys.readouterr().err
    )


def test_a_list_design_whose_points_load_whole_is_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Levels were checked one by one against the scenario's other values: shares that sum
    to 1 only together, or officers given instead of a budget, refused a valid design."""
    body = (
        "design:\n  kind: list\n  factors:\n"
        "    demand.types.assistance.share: {values: [0.35, 0.15]}\n"
        "    demand.types.traffic.share: {values: [0.1, 0.3]}\n"
        "    agencies.pm_centre.officers: {values: [null, 85]}\n"
        "    agencies.pm_centre.budget_eur: {values: [4000000, null]}\n"
    )
    path = _experiment(tmp_path, body)
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err
    # The same shares apart from each other (a grid) do not all sum to 1: located.
    grid = body.replace("kind: list", "kind: grid").replace("[null, 85]", "[85]")
    grid = grid.replace("[4000000, null]", "[null]")
    assert main(["validate", str(_experiment(tmp_path, grid))]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith("2 problems in experiment:")
    at = "exp.yaml:7:5: design.factors.demand.types.assistance.share: design point"
    assert f"{at} 1 of arm 'base' (demand.types.assistance.share=0.35, " in err
    assert "must sum to 1, got 1.2" in err and "got 0.8" in err


@pytest.mark.parametrize(
    ("override", "limit"),
    [
        ("crime.types.theft.rate_per_1000=1e9", "100000"),
        ("demand.rate_per_hour=1000000", "10000"),
        ("agencies.pm_centre.direct_calls.per_1000_residents=1e7", "100000"),
    ],
)
def test_rates_far_beyond_any_city_are_refused(
    capsys: pytest.CaptureFixture[str], override: str, limit: str
) -> None:
    """A billion opportunities validated, then ran for ever in compiled code, deaf to stops."""
    said = _refused(capsys, override)
    assert f"Input should be less than or equal to {limit}" in said


def test_cameras_by_a_district_type_the_communes_lack_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A type with no district in the communes covered nothing, silently (an identifier
    of another commune's district was already refused)."""
    zone = "cctv:\n  zones:\n    - {districts: [nightlife], communes: [nord], coverage: 0.5}\n"
    said = _validated(tmp_path, capsys, zone, 2)
    assert "edited.yaml:4:" in said and "cctv.zones.0.districts.0: no district of type" in said
    assert "'nightlife' in nord: its cameras would cover nothing (the district types there:" in (
        said
    )
    contract = (
        "timeline:\n  - day: 10\n    contract: {commune: est, state_agency: state_police, "
        "cctv_districts: [qpv, nightlife]}\n"
    )
    said = _validated(tmp_path, capsys, contract, 2)
    assert "timeline.0.contract.cctv_districts.1: no district of type 'nightlife' in est" in said
    assert _validated(tmp_path, capsys, zone.replace("nord", "centre"), 0).endswith("ok (edited)")


def test_a_payer_close_to_a_base_level_is_noted_a_new_one_is_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """'comune' made a new payer level silently: the costs went beside 'commune'."""
    misspelt = PI_EST.replace("payer: intercommunal", "payer: comune")
    said = _validated(tmp_path, capsys, misspelt + "competences:\n  noise: [pi_est]\n", 0)
    assert "note: " in said and "kinds.intercommunal_police.payer: 'comune' is a new payer" in said
    assert "(did you mean 'commune'?" in said
    said = _validated(tmp_path, capsys, PI_EST + "competences:\n  noise: [pi_est]\n", 0)
    assert "new payer level" not in said  # intercommunal: a level of its own


def test_a_decimal_comma_is_named_for_what_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """French writes 0,5: in { } YAML made it 0 and a key 5 ("Keys should be strings")."""
    said = _validated(tmp_path, capsys, "agencies:\n  pm_centre: {field_share: 0,5}\n", 2)
    assert "agencies.pm_centre.5: a key that is a number (5): a decimal comma?" in said
    assert "write numbers with a point (0.5)" in said
    said = _validated(tmp_path, capsys, "agencies:\n  pm_centre:\n    field_share: 0,5\n", 2)
    assert "found '0,5': write numbers with a decimal point, not a comma" in said


def test_a_key_yaml_takes_for_true_or_false_is_named_as_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """YAML 1.1 reads a key `on` or `yes` as true: the message spoke of a key 1."""
    said = _validated(tmp_path, capsys, "run:\n  days: 10\n  on: 3\n", 2)
    assert "edited.yaml:4:3: run.on: unknown key 'on'; allowed keys: days," in said
    said = _validated(tmp_path, capsys, "No: 3\n", 2)
    assert "edited.yaml:2:1: No: unknown key 'No'; allowed keys: name," in said


def test_one_offence_type_s_setting_in_a_file_says_the_types_are_replaced_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first message was 'required key is missing': why, and what to write instead,
    came in a second round of problems, at the baseline's lines."""
    said = _validated(tmp_path, capsys, "crime:\n  types:\n    burglary: {rate_per_1000: 12}\n", 2)
    assert "edited.yaml:4:5: crime.types.burglary.target: required key is missing:" in said
    assert "crime.types, written in a file, replaces the default entries whole" in said
    assert "use --set crime.types.burglary.rate_per_1000=12 (or a timeline's set:)" in said


def test_a_competence_that_leaves_communes_with_nobody_to_send_is_noted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Lists, rules and transfers that leave some communes uncovered validated silently,
    and the runs closed those incidents as no_agency."""
    body = (
        "competences:\n  serious_violence: [municipal_police]\n"
        "timeline:\n  - day: 10\n    transfer: {type: burglary, to: pm_est, keep_others: false}\n"
        "competence_rules:\n  - {types: [incivility], agencies: [pm_centre]}\n"
    )
    said = _validated(tmp_path, capsys, body, 0)
    # Only pm_centre of the municipal police is armed: the other communes have nobody.
    assert "edited.yaml:3:3: competences.serious_violence: no agency of its list may act in " in (
        said
    )
    assert "communes nord, est, sud: its calls and the offences that need a unit" in said
    assert "competence_rules.0: no agency of the rule may take 'incivility' in communes nord" in (
        said
    )
    assert "timeline: from day 10 (transfer), no agency of the list of 'burglary' may act in " in (
        said
    )
    assert "communes centre, nord, sud" in said
    assert "note:" not in _validated(tmp_path, capsys, "run: {days: 30}\n", 0)


def test_low_wording_gaps_say_what_was_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty timeline: said 'found None'; a list design of unequal lengths gave no
    counts; analyze on a run's folder said only 'no batch marker'."""
    said = _validated(tmp_path, capsys, "timeline:\n", 2)
    assert "timeline: Input should be a valid list (found nothing after the key: write []" in said
    body = (
        "design:\n  kind: list\n  factors:\n"
        "    agencies.state_police.officers: {values: [250, 300]}\n"
        "    agencies.pm_centre.officers: {values: [10, 20, 30]}\n"
    )
    assert main(["validate", str(_experiment(tmp_path, body))]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "(found agencies.state_police.officers: 2, agencies.pm_centre.officers: 3)" in err
    run_out = tmp_path / "run"
    assert main(["run", str(BASELINE), "--days", "1", "--quiet", "--out", str(run_out)]) == 0
    assert main(["analyze", str(run_out)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "not a results folder of secsim batch (it is secsim's run of a scenario)" in err
