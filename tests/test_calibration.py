"""secsim calibrate: targets, calibration files, history matching on the point territory.

The point territory (scenarios/validation/mmc.yaml) is an M/M/c queue: calls a
day depend on the call rate alone, and the State police's utilisation on the
rate times the time on scene. Targets are generated from known values of the
two; history matching must keep those values and rule out most of the box.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from simulator.calibration.check import check_targets, fit_in_range, target_row
from simulator.calibration.history import to_unit
from simulator.calibration.runner import CalibrationSettings, run_calibration
from simulator.calibration.spec import load_calibration
from simulator.calibration.targets import TargetSpec, load_targets
from simulator.cli import main
from simulator.outputs import OutputError
from simulator.records.summary import flatten
from simulator.runner import run
from simulator.scenario import load_scenario
from simulator.scenario.errors import ScenarioError
from simulator.stopping import Interrupted

from .conftest import ROOT, SCENARIOS
from .test_reliability import (
    _leftovers,
    _session,
    _terminate_when_working,
    _wait_for,
    _workers,
)

MMC = SCENARIOS / "validation" / "mmc.yaml"
TRUTH = {"demand.rate_per_hour": 4.0, "demand.on_scene.mean_min": 30.0}
DAYS, WARMUP = 4, 1
OUTPUTS = ("calls.per_day", "utilisation.state_police")


@pytest.fixture(scope="module")
def observed() -> dict[str, tuple[float, float]]:
    """The model at the true values: mean and sd over seeds the calibration never uses."""
    sets = [f"run.days={DAYS}", f"run.warmup_days={WARMUP}"]
    sets += [f"{k}={v}" for k, v in TRUTH.items()]
    scenario = load_scenario(MMC, sets)
    rows = [flatten(run(scenario, seed=seed).summary.as_json()) for seed in (101, 102, 103, 104)]
    frame = pd.DataFrame(rows)
    return {k: (float(frame[k].mean()), float(frame[k].std(ddof=1))) for k in OUTPUTS}


def _source() -> dict[str, Any]:
    return {"author": "secsim tests", "year": 2026, "title": "known value", "where": "this file"}


def _point_target(**fields: Any) -> dict[str, Any]:
    """A target of the point territory, with its population, year and source."""
    return {**fields, "population": "the point territory", "year": 2026, "sources": [_source()]}


def calibration_text(observed: dict[str, tuple[float, float]], **method: Any) -> str:
    """A calibration of the point territory against targets generated at TRUTH."""
    targets = {}
    for name, key, use in (
        ("calls_per_day", "calls.per_day", "fit"),
        ("utilisation", "utilisation.state_police", "fit"),
    ):
        value, sd = observed[key]
        targets[name] = _point_target(
            output=key, value=round(value, 4), sd=round(max(sd, 1e-3), 4), use=use
        )
    targets["wait"] = _point_target(output="wait_min.mean", range=[0.0, 2.0], use="check")
    data = {
        "name": "mmc_test",
        "scenario": str(MMC),
        "parameters": {
            "demand.rate_per_hour": {"bounds": [1.0, 10.0]},
            "demand.on_scene.mean_min": {"bounds": [10.0, 60.0], "scale": "log"},
        },
        "targets": {"inline": targets},
        "run": {"days": DAYS, "warmup_days": WARMUP, "replicates": 2},
        "method": {
            "waves": 3,
            "points": 10,
            "candidates": 2000,
            "best_replicates": 3,
            "seed": 11,
            **method,
        },
    }
    text: str = yaml.safe_dump(data, sort_keys=False)
    return text


@pytest.fixture(scope="module")
def calibration_file(
    tmp_path_factory: pytest.TempPathFactory, observed: dict[str, tuple[float, float]]
) -> Path:
    path = tmp_path_factory.mktemp("calibration") / "cal.yaml"
    path.write_text(calibration_text(observed))
    return path


@pytest.fixture(scope="module")
def calibrated(calibration_file: Path) -> Path:
    """One uninterrupted calibration, with one worker."""
    out = calibration_file.parent / "out"
    settings = CalibrationSettings(load_calibration(calibration_file), out, workers=1)
    report = run_calibration(settings)
    assert report.waves >= 2
    return out


def test_nroy_keeps_the_true_values_and_rules_out_most_of_the_box(
    calibrated: Path, calibration_file: Path
) -> None:
    cal = load_calibration(calibration_file)
    nroy = pd.read_parquet(calibrated / "nroy.parquet")
    keys = list(TRUTH)
    params = [cal.spec.parameters[k] for k in keys]
    assert len(nroy) > 0
    # NROY is measured on the 2,000 candidates spread over the box: most are ruled out.
    assert len(nroy) < 0.25 * 2000
    assert (nroy["implausibility"] <= 3.0).all()
    for key, value in TRUTH.items():
        assert nroy[key].min() <= value <= nroy[key].max(), key
    # A not-ruled-out set lies close to the truth (in the unit cube the method works in).
    truth = to_unit(np.array([[TRUTH[k] for k in keys]]), params)
    distance = np.linalg.norm(to_unit(nroy[keys].to_numpy(), params) - truth, axis=1)
    assert distance.min() < 0.06
    waves = pd.read_parquet(calibrated / "waves.parquet")
    assert set(waves["wave"]) >= {1, 2}
    assert {"calls_per_day.mean", "utilisation.sd", "nroy", *keys} <= set(waves.columns)
    # Later waves sample inside the space earlier ones left: closer to the truth on average.
    rate = waves.groupby("wave")["demand.rate_per_hour"].apply(lambda s: (s - 4.0).abs().mean())
    assert rate.iloc[-1] < rate.iloc[0]


def test_outputs_and_the_overlay_reproduces_the_targets(
    calibrated: Path, observed: dict[str, tuple[float, float]], tmp_path: Path
) -> None:
    for name in ("fit.csv", "fit.md", "fit.png", "overlay.yaml", "calibration.json"):
        assert (calibrated / name).is_file(), name
    for store in ("wave_1", "wave_2", "best"):
        assert (calibrated / store / "summaries.parquet").is_file()
    fit = pd.read_csv(calibrated / "fit.csv")
    assert list(fit["target"]) == ["calls_per_day", "utilisation", "wait"]
    assert list(fit["use"]) == ["fit", "fit", "check"]
    assert (fit["sim_low"] <= fit["sim_mean"]).all() and (fit["sim_mean"] <= fit["sim_high"]).all()
    # The best point is re-run on seeds of its own: the waves' seeds helped choose it.
    stores = ("wave_1", "wave_2", "best")
    kept = {s: json.loads((calibrated / s / "experiment.json").read_text()) for s in stores}
    seeds = {s: kept[s]["experiment"]["seed"] for s in stores}
    assert seeds["wave_1"] == seeds["wave_2"] != seeds["best"]
    # One run's 95 % interval (Student's prediction interval) is wider than the mean's,
    # where neither is cut at 0 (a wait cannot be negative: the M/M/c wait's are cut).
    assert ((fit["run_low"] < fit["sim_low"]) | (fit["run_low"] == 0.0)).all()
    assert (fit["sim_high"] < fit["run_high"]).all()
    assert (fit[["run_low", "sim_low"]].to_numpy() >= 0).all()
    assert fit.loc[fit["use"] == "fit", "in_range"].all()
    overlay = yaml.safe_load((calibrated / "overlay.yaml").read_text())
    assert (calibrated / overlay["extends"]).resolve() == MMC.resolve()
    best = overlay["demand"]
    assert abs(best["rate_per_hour"] - TRUTH["demand.rate_per_hour"]) < 0.8
    # secsim run overlay.yaml runs, and gives the targets back (a seed the calibration never used).
    out = tmp_path / "run"
    args = ["run", str(calibrated / "overlay.yaml"), "--days", str(DAYS)]
    args += ["--warmup-days", str(WARMUP), "--seed", "77", "--out", str(out), "--quiet"]
    assert main(args) == 0
    summary = flatten(json.loads((out / "summary.json").read_text()))
    for key in OUTPUTS:
        value, sd = observed[key]
        assert abs(summary[key] - value) < 4 * sd, (key, summary[key], value, sd)


def test_same_seed_same_result_whatever_the_workers(
    calibrated: Path, calibration_file: Path
) -> None:
    out = calibration_file.parent / "out_two_workers"
    settings = CalibrationSettings(load_calibration(calibration_file), out, workers=2)
    run_calibration(settings)
    for name in ("nroy.parquet", "waves.parquet"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(out / name), pd.read_parquet(calibrated / name)
        )
    assert (out / "fit.csv").read_text() == (calibrated / "fit.csv").read_text()
    assert (out / "overlay.yaml").read_text() == (calibrated / "overlay.yaml").read_text()


def test_a_stopped_calibration_resumed_gives_the_same_result(
    calibrated: Path, calibration_file: Path
) -> None:
    out = calibration_file.parent / "out_stopped"
    cal = load_calibration(calibration_file)

    def stop_in_wave_two(stage: str, done: int, total: int) -> None:
        if stage == "wave_2" and done >= 5:
            raise Interrupted(signal.SIGINT)

    with pytest.raises(Interrupted):
        run_calibration(CalibrationSettings(cal, out, workers=1), stop_in_wave_two)
    assert not (out / "nroy.parquet").exists()
    assert (out / "wave_2" / "manifest.jsonl").is_file()
    # Without --resume the folder is refused; with it, finished runs are reused.
    with pytest.raises(OutputError, match="--resume"):
        run_calibration(CalibrationSettings(cal, out, workers=1))
    report = run_calibration(CalibrationSettings(cal, out, workers=1, resume=True))
    assert report.runs_reused >= 25  # wave 1 (20 runs) and the first runs of wave 2
    for name in ("nroy.parquet", "waves.parquet"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(out / name), pd.read_parquet(calibrated / name)
        )
    assert (out / "fit.csv").read_text() == (calibrated / "fit.csv").read_text()


def test_resume_refuses_a_changed_calibration(
    calibrated: Path, observed: dict[str, tuple[float, float]]
) -> None:
    changed = calibrated.parent / "changed.yaml"
    changed.write_text(calibration_text(observed, seed=12))
    settings = CalibrationSettings(load_calibration(changed), calibrated, resume=True)
    with pytest.raises(OutputError, match="different calibration"):
        run_calibration(settings)


def _bad_file(
    tmp_path: Path, observed: dict[str, tuple[float, float]], old: str, new: str, line_of: str
) -> tuple[Path, int]:
    """The test calibration with ``old`` replaced, and the line of the first ``line_of``."""
    text = calibration_text(observed)
    assert old in text, old
    text = text.replace(old, new, 1)
    path = tmp_path / "cal.yaml"
    path.write_text(text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if line_of in row)
    return path, line


@pytest.mark.parametrize(
    ("old", "new", "line_of", "expected"),
    [
        ("method:", "methd:", "methd:", ["methd", "did you mean 'method'"]),
        (
            "demand.rate_per_hour:",
            "demand.rate_per_hr:",
            "demand.rate_per_hr:",
            [
                "parameters.demand.rate_per_hr",
                "no setting 'rate_per_hr' under 'demand'",
                "did you mean 'rate_per_hour'",
            ],
        ),
        (
            "- 1.0\n    - 10.0",
            "- 10.0\n    - 1.0",
            "bounds:",  # the first parameter's
            ["parameters.demand.rate_per_hour.bounds", "low (10) must be below high (1)"],
        ),
        (
            "- 10.0\n    - 60.0",
            "- -5.0\n    - 60.0",
            "demand.on_scene.mean_min:",
            ["parameters.demand.on_scene.mean_min", "scale: log needs bounds above 0"],
        ),
        (
            "output: wait_min.mean",
            "output: wait_min.meen",
            "output: wait_min.meen",
            [
                "targets.inline.wait.output",
                "not a value of a run's summary",
                "did you mean 'wait_min.mean'",
            ],
        ),
        ("days: 4", "dayz: 4", "dayz: 4", ["run.dayz", "did you mean 'days'"]),
    ],
)
def test_calibration_file_errors_are_located(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    observed: dict[str, tuple[float, float]],
    old: str,
    new: str,
    line_of: str,
    expected: list[str],
) -> None:
    path, line = _bad_file(tmp_path, observed, old, new, line_of)
    out = tmp_path / "out"
    assert main(["calibrate", str(path), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"cal.yaml:{line}" in err, (line, err)
    for fragment in expected:
        assert fragment in err, (fragment, err)
    assert "Traceback" not in err
    assert not out.exists()
    # secsim validate reads it as a calibration file, with the same located problems.
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"cal.yaml:{line}" in err and "problem" in err and "in calibration" in err, err


def test_validate_knows_calibration_and_targets_files(
    capsys: pytest.CaptureFixture[str],
) -> None:
    calibrations = sorted((ROOT / "calibration").glob("*.yaml"))
    shipped = [*calibrations, ROOT / "calibration" / "targets" / "france_urban.yaml"]
    assert main(["validate", *map(str, shipped)]) == 0
    said = capsys.readouterr().out
    assert "ok (calibration baseline," in said and "ok (targets file, " in said
    for path in calibrations:  # the two stages of the baseline and of the city
        assert f"ok (calibration {path.stem}," in said
    assert main(["validate", str(shipped[0]), "--set", "run.days=3"]) == 2
    assert "not to calibration files" in capsys.readouterr().err


def test_validate_takes_a_misspelt_calibration_or_targets_file_for_what_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One key misspelt: the file's mistakes are a calibration's or a targets file's.

    Not a scenario's (agencies and competences missing, every key unknown).
    """
    calibration = (ROOT / "calibration" / "baseline.yaml").read_text()
    cal = tmp_path / "cal.yaml"
    cal.write_text(
        calibration.replace("\nparameters:", "\nparameter:").replace(
            "../scenarios/", f"{SCENARIOS}/"
        )
    )
    targets = tmp_path / "targets.yaml"
    shipped = ROOT / "calibration" / "targets" / "france_urban.yaml"
    targets.write_text(shipped.read_text().replace("\ndescription:", "\ndescripton:"))
    for path, what, hint in (
        (cal, "calibration", "did you mean 'parameters'"),
        (targets, "targets", "did you mean 'description'"),
    ):
        assert main(["validate", str(path)]) == 2
        err = capsys.readouterr().err
        assert f"in {what}" in err and hint in err, err
        assert "agencies" not in err, err


def test_bounds_the_scenario_refuses_and_unknown_targets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], observed: dict[str, tuple[float, float]]
) -> None:
    path, line = _bad_file(tmp_path, observed, "- 1.0\n    - 10.0", "- -3.0\n    - 10.0", "bounds:")
    assert main(["calibrate", str(path), "--quiet", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"cal.yaml:{line}" in err, (line, err)
    assert "the scenario refuses demand.rate_per_hour = -3" in err, err
    text = calibration_text(observed).replace(
        "targets:\n", "targets:\n  use: [calls_per_day, utilisaton]\n", 1
    )
    path.write_text(text)
    assert main(["calibrate", str(path), "--quiet", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "targets.use.1" in err and "unknown target 'utilisaton'" in err
    assert "did you mean 'utilisation'" in err and "cal.yaml:" in err


def test_shipped_targets_have_sources_and_the_baseline_calibration_loads() -> None:
    targets = load_targets(ROOT / "calibration" / "targets" / "france_urban.yaml").targets
    uses = {t.use for t in targets.values()}
    assert uses == {"fit", "check", "none"}
    for name, target in targets.items():
        assert target.sources, name
        for source in target.sources:
            assert source.author and source.title and source.where, name
        assert target.population and str(target.year), name
        if target.use == "none":
            assert target.note, name
        else:
            assert target.output is not None, name
        low, high = target.bounds
        assert low < high, name
    cal = load_calibration(ROOT / "calibration" / "baseline.yaml")
    assert set(cal.fit_names) <= {n for n, t in targets.items() if t.use == "fit"}
    assert any(t.use == "check" for t in cal.targets.values())
    quick = cal.spec.sized(quick=True)
    assert quick.run.days < cal.spec.run.days and quick.method.waves <= cal.spec.method.waves


def test_a_parameter_inside_default_offence_types_keeps_the_other_defaults() -> None:
    cal = load_calibration(ROOT / "calibration" / "baseline.yaml")
    assert cal.anchors["crime.types.burglary.report_prob"] == "crime.types"
    settings = cal.settings({"crime.types.burglary.report_prob": 0.5, "demand.rate_per_hour": 1.0})
    assert settings["demand.rate_per_hour"] == 1.0
    types = settings["crime.types"]
    assert types["burglary"]["report_prob"] == 0.5
    default = cal.scenario.crime.types if cal.scenario.crime is not None else {}
    assert set(types) == set(default)
    assert types["theft"]["report_prob"] == default["theft"].report_prob
    sets = [f"{k}={json.dumps(v)}" for k, v in settings.items()]
    scenario = load_scenario(cal.scenario_path, sets)
    assert scenario.crime is not None and scenario.crime.types["burglary"].report_prob == 0.5


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigterm_stops_a_calibration_with_its_workers(
    tmp_path: Path, observed: dict[str, tuple[float, float]]
) -> None:
    path = tmp_path / "cal.yaml"
    # Longer runs than the other tests: the first wave lasts a few seconds.
    path.write_text(calibration_text(observed).replace("days: 4", "days: 60", 1))
    out = tmp_path / "out"
    status, err, left = _terminate_when_working(
        ["calibrate", str(path), "--workers", "2", "--quiet", "--out", str(out)],
        "the calibration's workers",
    )
    assert status == 143, err
    assert "Traceback" not in err and "--resume" in err
    assert left == []
    assert (out / "wave_1" / "manifest.jsonl").is_file()
    assert not (out / "nroy.parquet").exists() and not (out / "overlay.yaml").exists()
    assert _leftovers(out) == []


def test_targets_file_errors_are_located_in_the_targets_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], observed: dict[str, tuple[float, float]]
) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text(
        "targets:\n"
        "  calls:\n"
        "    output: calls.per_day\n"
        "    value: 96\n"
        "    sd: 5\n"
        "    use: fit\n"
        "    population: the point territory\n"
        "    year: 2026\n"
        "  never:\n"
        "    value: 1\n"
        "    sd: 1\n"
        "    use: none\n"
        "    population: nowhere\n"
        "    year: 2026\n"
        "    sources: [{author: a, year: 1, title: t, where: w}]\n"
        "    note: the model has no such output\n"
    )
    data = yaml.safe_load(calibration_text(observed))
    data["targets"] = {"file": "targets.yaml"}
    path = tmp_path / "cal.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert main(["calibrate", str(path), "--quiet", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    # No sources: refused, at the target that lacks them.
    assert "targets.yaml:2:3: targets.calls.sources: required key is missing" in err, err
    targets.write_text(
        targets.read_text().replace(
            "    year: 2026\n  never",
            ("    year: 2026\n    sources: [{author: a, year: 1, title: t, where: w}]\n  never"),
        )
    )
    data["targets"]["use"] = ["calls", "never"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert main(["calibrate", str(path), "--quiet", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "targets.use.1" in err and "target 'never' has use: none" in err, err
    assert not (tmp_path / "o").exists()


def test_implausibility_and_the_rules() -> None:
    from simulator.calibration.history import rule_measure
    from simulator.calibration.targets import TargetSpec

    source = {"author": "a", "year": 1, "title": "t", "where": "w"}
    common = {"output": "calls.per_day", "use": "fit", "population": "p", "year": 1}
    ranged = TargetSpec.model_validate({**common, "range": [10, 30], "sources": [source]})
    assert ranged.observed == 20 and ranged.obs_var == pytest.approx(25.0)  # sd (b - a) / 4
    given = TargetSpec.model_validate({**common, "value": 5, "sd": 2, "sources": [source]})
    assert given.obs_var == 4 and given.bounds == (1, 9)
    imp = np.array([[0.5, 4.0, 2.0], [3.5, 3.2, 0.1]])
    assert list(rule_measure(imp, "max")) == [4.0, 3.5]
    assert list(rule_measure(imp, "second_max")) == [2.0, 3.2]


def test_a_point_whose_replicates_agree_by_chance_keeps_some_noise() -> None:
    from simulator.calibration.history import fit_emulator

    rng = np.random.default_rng(3)
    unit = rng.random((12, 2))
    replicates = 10.0 * unit[:, :1] + rng.normal(0.0, 1.0, (12, 2))
    replicates[4] = replicates[4].mean()  # two replicates equal: a variance of zero
    emulator = fit_emulator(unit, replicates, seed=1)
    alpha = np.asarray(emulator.gp.alpha)
    # Shrunk halfway to the wave's average, not taken as exact.
    assert alpha[4] >= 0.45 * alpha.mean()
    assert emulator.ensemble_var == pytest.approx(float(replicates.var(axis=1, ddof=1).mean() / 2))


def test_an_unreachable_scheduler_writes_nothing(calibration_file: Path, tmp_path: Path) -> None:
    """As a batch: the scheduler is asked before the output folder is made."""
    import socket

    from simulator.batch.runner import SchedulerUnreachable

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    out = tmp_path / "out"
    settings = CalibrationSettings(
        load_calibration(calibration_file), out, scheduler=f"tcp://127.0.0.1:{port}"
    )
    with pytest.raises(SchedulerUnreachable):
        run_calibration(settings)
    assert not out.exists()


def test_a_folder_stopped_between_marker_and_description_is_resumed(
    calibration_file: Path, tmp_path: Path
) -> None:
    from simulator.calibration.runner import _claim_out
    from simulator.outputs import mark

    out = tmp_path / "out"
    out.mkdir()
    mark(out, "calibration")
    settings = CalibrationSettings(load_calibration(calibration_file), out, resume=True)
    _claim_out(settings, "{}")
    assert (out / "calibration.json").read_text() == "{}"


def test_malformed_yaml_is_reported_as_the_calibration_or_targets_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [\n")
    assert main(["calibrate", str(bad), "--quiet", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "1 problem in calibration:" in err and f"{bad}:2:1: malformed YAML" in err, err
    with pytest.raises(ScenarioError) as caught:
        load_targets(bad)
    assert caught.value.what == "targets"


def _target(output: str, **more: Any) -> TargetSpec:
    source = {"author": "a", "year": 2024, "title": "t", "where": "w"}
    return TargetSpec.model_validate(
        {"output": output, "value": 0.9, "sd": 0.05, "use": "check", "population": "p"}
        | {"year": 2024, "sources": [source]}
        | more
    )


def test_a_share_s_interval_stays_within_what_a_share_can_be() -> None:
    """Three seeds near 1 gave a dark figure's share an interval up to 1.06."""
    share = _target("offences.by_type.theft.dark_figure_share")
    assert share.possible == (0.0, 1.0)
    assert _target("road_share.state_police", factor=100).possible == (0.0, 100.0)
    assert (
        _target("offences.by_type.theft.dark_figure_share", per=["residents"]).possible[1] > 1e300
    )
    assert _target("response_min.mean").possible == (0.0, float("inf"))
    _, _, mean, low, high, *_ = target_row("dark", share, np.array([0.99, 1.0, 0.93]))
    assert low < mean < high == 1.0
    _, _, mean, low, high, *_ = target_row("t", _target("response_min.mean"), np.array([0.1, 9.0]))
    assert low == 0.0 < mean < high
    # One seed: no interval.
    assert np.isnan(target_row("one", share, np.array([0.5]))[3])


def test_the_check_runs_a_scenario_as_shipped_against_its_targets(calibration_file: Path) -> None:
    """The point territory at the true values: every target in range, as the calibration says."""
    cal = load_calibration(calibration_file)
    horizon = [f"run.days={DAYS}", f"run.warmup_days={WARMUP}"]
    table = check_targets(cal, cal.scenario_path, seeds=3, workers=2)
    assert list(table["target"]) == list(cal.targets)
    assert (table["ci_low"] <= table["mean"]).all() and (table["mean"] <= table["ci_high"]).all()
    # The mean of the seeds' own runs, each computed as the calibration computes it.
    runs = pd.DataFrame(
        [
            flatten(run(load_scenario(cal.scenario_path, horizon), s).summary.as_json())
            for s in (1, 2, 3)
        ]
    )
    for name, target in cal.targets.items():
        expected = float(target.statistic(runs).mean())
        assert table.set_index("target").loc[name, "mean"] == pytest.approx(expected, rel=1e-12)
    # The same runs, one worker or two, in seed order: the same figures to the last bit.
    pd.testing.assert_frame_equal(table, check_targets(cal, cal.scenario_path, seeds=3, workers=1))
    # Out of range where the range excludes the mean.
    assert fit_in_range(table) == bool(table.loc[table["use"] == "fit", "in_range"].all())
    shifted = table.assign(in_range=[False, *table["in_range"][1:]], use="fit")
    assert not fit_in_range(shifted)


def test_the_check_on_the_command_line(
    calibration_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    """`secsim calibrate FILE --check`: a line per target, exit 1 with a fit target out of
    range, and nothing written."""
    monkeypatch.chdir(tmp_path)
    status = main(["calibrate", str(calibration_file), "--check", "--seeds", "2", "--workers", "1"])
    out = capsys.readouterr().out
    cal = load_calibration(calibration_file)
    table = check_targets(cal, cal.scenario_path, seeds=2, workers=1)
    assert out.splitlines()[0].startswith(f"{cal.scenario_path.name} as shipped, seeds 1-2")
    for row, line in zip(table.itertuples(), out.splitlines()[1:], strict=True):
        assert line.split()[:2] == [row.target, row.use]
        assert line.endswith("ok" if row.in_range else "OUT")
    assert status == (0 if fit_in_range(table) else 1)
    assert list(tmp_path.iterdir()) == []
    # A fit target whose range cannot hold the mean makes the check fail.
    data = yaml.safe_load(calibration_file.read_text())
    calls = data["targets"]["inline"]["calls_per_day"]
    del calls["value"], calls["sd"]
    calls["range"] = [1e6, 2e6]
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(data))
    assert main(["calibrate", str(tmp_path / "c.yaml"), "--check", "--seeds", "2"]) == 1
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("calls_per_day"))
    assert line.endswith("OUT")


def test_the_check_over_another_horizon_runs_that_many_days(
    calibration_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--check --days N`: the runs last N days after the file's warm-up, and say so."""
    cal = load_calibration(calibration_file)
    days = cal.spec.run.days + 3
    table = check_targets(cal, cal.scenario_path, seeds=2, workers=1, days=days)
    horizon = [f"run.days={days}", f"run.warmup_days={WARMUP}"]
    runs = pd.DataFrame(
        [
            flatten(run(load_scenario(cal.scenario_path, horizon), s).summary.as_json())
            for s in (1, 2)
        ]
    )
    assert (runs["days"] == days).all()
    for name, target in cal.targets.items():
        expected = float(target.statistic(runs).mean())
        assert table.set_index("target").loc[name, "mean"] == pytest.approx(expected, rel=1e-12)
    args = ["calibrate", str(calibration_file), "--check", "--seeds", "2", "--workers", "1"]
    main([*args, "--days", str(days)])
    heading = capsys.readouterr().out.splitlines()[0]
    assert f"seeds 1-2, {days} days after {WARMUP} of warm-up" in heading


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--seeds", "3"], "--seeds goes with --check"),
        (["--scenario", "x.yaml"], "--scenario goes with --check"),
        (["--check", "--resume"], "--check runs no calibration: it takes no --resume"),
        (["--check", "--out", "o"], "takes no --out"),
        (["--check", "--seeds", "0"], "--seeds must be at least 1, not 0"),
        (["--days", "365"], "--days goes with --check"),
        (["--check", "--days", "0"], "--days must be at least 1, not 0"),
    ],
)
def test_check_options_that_do_not_go_together_are_refused(
    calibration_file: Path, options: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calibrate", str(calibration_file), *options]) == 2
    assert message in capsys.readouterr().err


def test_the_check_of_a_missing_or_bad_scenario_names_it(
    calibration_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.yaml"
    assert main(["calibrate", str(calibration_file), "--check", "--scenario", str(missing)]) == 2
    assert str(missing) in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nterritory: {kind: synthetic, extent_km: -3}\n")
    assert main(["calibrate", str(calibration_file), "--check", "--scenario", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2" in err and "extent_km" in err, err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigterm_stops_the_check_with_its_workers() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulator",
            "calibrate",
            str(ROOT / "calibration" / "baseline.yaml"),
            "--check",
            "--seeds",
            "6",
            "--workers",
            "2",
        ],
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(lambda: len(_workers(proc.pid)) == 2, 120, "the check's workers")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        _wait_for(lambda: not _session(proc.pid), 10, "the workers to end")
    finally:
        if _session(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 143, err
    assert "stopped by SIGTERM" in err


def test_the_check_names_a_target_the_other_scenario_does_not_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    """--scenario without the agency a target names: exit 2 and the target named, not a
    KeyError traceback (exit 1, the status of a target out of range) after every run."""
    monkeypatch.chdir(tmp_path)
    util = _point_target(output="utilisation.state_police", range=[0.0, 1.0], use="fit")
    cal = {
        "name": "mmc_check",
        "scenario": str(MMC),
        "parameters": {"demand.rate_per_hour": {"bounds": [1.0, 10.0]}},
        "targets": {"inline": {"utilisation": util}},
        "run": {"days": 1, "warmup_days": 0, "replicates": 2},
    }
    (tmp_path / "cal.yaml").write_text(yaml.safe_dump(cal, sort_keys=False))
    other = yaml.safe_load(MMC.read_text())
    other["agencies"]["gendarmes"] = other["agencies"].pop("state_police")
    for key, names in (other.get("competences") or {}).items():
        other["competences"][key] = ["gendarmes" if n == "state_police" else n for n in names]
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(other, sort_keys=False))
    args = ["calibrate", "cal.yaml", "--check", "--seeds", "2", "--workers", "1", "--quiet"]
    assert main([*args, "--scenario", "other.yaml"]) == 2
    err = capsys.readouterr().err
    assert "target 'utilisation' reads 'utilisation.state_police'" in err, err


def test_a_target_naming_an_agency_the_scenario_lacks_is_refused(
    observed: dict[str, tuple[float, float]], tmp_path: Path
) -> None:
    """A misspelt agency in a target's output showed only after the first wave's runs."""
    path = tmp_path / "cal.yaml"
    path.write_text(
        calibration_text(observed).replace("utilisation.state_police", "utilisation.state_polise")
    )
    with pytest.raises(ScenarioError) as refused:
        load_calibration(path)
    text = str(refused.value)
    assert "targets.utilisation: 'utilisation.state_polise' is not a value" in text
    assert "(did you mean 'utilisation.state_police'?)" in text
