"""Batches: identical results whatever the executor, crash-safe resume, paired analysis."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from simulator import outputs
from simulator.batch import analysis as analysis_module
from simulator.batch import pool
from simulator.batch import runner as batch_runner
from simulator.batch.analysis import analyze
from simulator.batch.runner import TIMING_COLUMNS, run_batch
from simulator.batch.spec import load_experiment
from simulator.cli import main
from simulator.outputs import OutputError
from simulator.scenario import Scenario, ScenarioError

from .conftest import ROOT, SCENARIOS

TINY = f"""\
name: tiny
reference: baseline
arms:
  baseline: {{scenario: {SCENARIOS / "baseline.yaml"}}}
  transfer: {{scenario: {SCENARIOS / "competence_transfer.yaml"}}}
design:
  kind: grid
  factors:
    agencies.state_police.budget_eur: {{values: [15000000, 21000000]}}
replicates: 3
seed: 7
days: 2
warmup_days: 0
"""


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY, encoding="utf-8")
    return path


def _table(store: Path) -> pd.DataFrame:
    frame = pd.read_parquet(store / "summaries.parquet")
    return frame.drop(columns=[c for c in frame.columns if c.split(".")[-1] in TIMING_COLUMNS])


def test_one_or_two_workers_give_identical_results(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = load_experiment(tiny)
    one = run_batch(spec, tiny, tmp_path / "one", workers=1)
    two = run_batch(spec, tiny, tmp_path / "two", workers=2)
    assert one.done == two.done == 12 and one.failed == two.failed == 0
    pd.testing.assert_frame_equal(_table(tmp_path / "one"), _table(tmp_path / "two"))
    # Workers forked from the batch (Linux) or spawned afresh (elsewhere): the same runs.
    if pool.start_method() == "fork":
        monkeypatch.setattr(pool, "start_method", lambda: "spawn")
        assert run_batch(spec, tiny, tmp_path / "spawned", workers=2).done == 12
        pd.testing.assert_frame_equal(_table(tmp_path / "one"), _table(tmp_path / "spawned"))
    manifest = pd.read_parquet(tmp_path / "one" / "manifest.parquet")
    assert set(manifest["status"]) == {"done"} and len(manifest) == 12
    # Common random numbers: replicate r has the same seed in every arm and point.
    seeds = manifest.groupby("replicate")["seed"].nunique()
    assert (seeds == 1).all()


def test_a_dask_cluster_gives_the_same_results(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dask.distributed import LocalCluster

    spec = load_experiment(tiny)
    run_batch(spec, tiny, tmp_path / "local", workers=1)
    # The workers start in another folder than the batch's, as on a cluster: a
    # relative store (the default results/<name>) is the batch's, not theirs.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        monkeypatch.chdir(tmp_path)
        report = run_batch(spec, tiny, Path("dask"), scheduler=cluster.scheduler_address)
    assert report.done == 12 and not any(elsewhere.iterdir())
    pd.testing.assert_frame_equal(_table(tmp_path / "local"), _table(tmp_path / "dask"))


def test_dask_workers_that_run_other_code_are_refused_before_anything_is_written(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A worker that could not import secsim made the batch wait for ever, silently."""
    from dask.distributed import LocalCluster

    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        address = cluster.scheduler_address
        batch_runner.check_scheduler(address)  # the same code: fine
        with pytest.raises(batch_runner.WorkersUnfit, match=r"runs other sources \("):
            batch_runner.check_scheduler(address, code="0123456789abcdef")
        monkeypatch.setattr(batch_runner, "source_digest", lambda: "0123456789abcdef")
        out = tmp_path / "store"
        assert main(["batch", str(tiny), "--scheduler", address, "--out", str(out)]) == 69
    err = capsys.readouterr().err
    assert "has workers that cannot run this batch" in err and "nothing was written" in err
    assert not out.exists()
    workers = {"tcp://a:1": "!cannot import secsim (ModuleNotFoundError: No module named 'x')"}
    with pytest.raises(batch_runner.WorkersUnfit, match="tcp://a:1: cannot import secsim"):
        batch_runner._check_workers("tcp://s:8786", workers, "0123456789abcdef")


def _raise_on_replicate_1(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> Any:
    """Make every run of replicate 1 raise ``error`` in its worker; return the real runner."""
    real = batch_runner.execute

    def raising(task: batch_runner.RunTask) -> dict[str, Any]:
        if task.replicate == 1:
            raise error
        return real(task)

    monkeypatch.setattr(batch_runner, "execute", raising)
    return real


def test_a_run_whose_dask_worker_fails_is_recorded_as_failed_and_the_batch_goes_on(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker killed by its nanny (KilledWorker) ended the batch with a traceback and
    recorded nothing; a task's error is met the same way (future.result() raises)."""
    from dask.distributed import LocalCluster

    _raise_on_replicate_1(monkeypatch, MemoryError("the worker ran out of memory"))
    spec = load_experiment(tiny)
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        report = run_batch(spec, tiny, tmp_path / "dask", scheduler=cluster.scheduler_address)
    manifest = pd.read_parquet(tmp_path / "dask" / "manifest.parquet")
    failed = manifest[manifest["status"] == "failed"]
    assert report.failed == len(failed) > 0 and report.done == len(manifest) - len(failed) > 0
    assert set(failed["replicate"]) == {1}
    cause = "the Dask worker running it failed (MemoryError"
    assert failed["error"].str.startswith(cause).all()


def test_a_batch_that_loses_its_dask_scheduler_stops_and_leaves_the_rest_to_resume(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client cancels every task when the scheduler goes: each was recorded as a
    failed run "the Dask worker running it failed (FutureCancelledError)"."""
    from concurrent.futures import CancelledError

    from dask.distributed import LocalCluster

    real = _raise_on_replicate_1(monkeypatch, CancelledError("the scheduler is gone"))
    spec = load_experiment(tiny)
    store = tmp_path / "dask"
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        address = cluster.scheduler_address
        with pytest.raises(batch_runner.SchedulerUnreachable, match="lost the Dask scheduler"):
            run_batch(spec, tiny, store, scheduler=address)
    manifest = pd.read_parquet(store / "manifest.parquet")
    assert "failed" not in set(manifest["status"]) and "pending" in set(manifest["status"])
    monkeypatch.setattr(batch_runner, "execute", real)
    report = run_batch(spec, tiny, store, workers=1, resume=True)
    assert report.done + report.skipped == report.planned


@pytest.mark.parametrize("peer", ["silent", "banner", "closed"])
def test_an_address_that_is_no_dask_scheduler_ends_the_batch_in_time(
    peer: str,
    tiny: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A web server (silent: Dask's handshake waits for ever), another protocol (a banner
    Dask reads as a frame length), a closed port: exit 69 in time, nothing written."""
    import socket
    import threading

    monkeypatch.setattr(batch_runner, "SCHEDULER_TIMEOUT_S", 2.0)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    port = server.getsockname()[1]
    held: list[socket.socket] = []
    if peer == "closed":
        server.close()
    else:
        server.listen()

        def accept() -> None:
            with contextlib.suppress(OSError):
                while True:
                    conn, _ = server.accept()
                    held.append(conn)
                    if peer == "banner":
                        conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n" * 8)

        threading.Thread(target=accept, daemon=True).start()
    out = tmp_path / "store"
    started = time.monotonic()
    try:
        status = main(
            ["batch", str(tiny), "--scheduler", f"tcp://127.0.0.1:{port}", "--out", str(out)]
        )
    finally:
        server.close()
        for conn in held:
            conn.close()
    assert status == 69
    assert time.monotonic() - started < 30
    err = capsys.readouterr().err
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in err
    assert "nothing was written" in err and "Traceback" not in err
    assert not out.exists()


def test_a_batch_killed_and_resumed_loses_nothing(tiny: Path, tmp_path: Path) -> None:
    store = tmp_path / "killed"
    command = [
        sys.executable,
        "-m",
        "simulator",
        "batch",
        str(tiny),
        "--workers",
        "1",
        "--quiet",
        "--out",
        str(store),
    ]
    proc = subprocess.Popen(command, cwd=ROOT, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        if len(list((store / "runs").glob("*.parquet"))) >= 3 or proc.poll() is not None:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = len(list((store / "runs").glob("*.parquet")))
    assert 0 < finished < 12, "the kill should land mid-batch"
    # Without --resume the folder is refused, not overwritten.
    assert main(["batch", str(tiny), "--workers", "1", "--quiet", "--out", str(store)]) == 2
    assert (
        main(["batch", str(tiny), "--workers", "1", "--quiet", "--out", str(store), "--resume"])
        == 0
    )
    spec = load_experiment(tiny)
    run_batch(spec, tiny, tmp_path / "whole", workers=1)
    pd.testing.assert_frame_equal(_table(store), _table(tmp_path / "whole"))
    assert not list((store / "runs").glob(".*.tmp"))


def test_resume_refuses_changed_code_even_uncommitted(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The store's identity holds a digest of the sources, not only the version and commit."""
    import simulator.runner as top

    store = tmp_path / "store"
    quiet = ["--workers", "1", "--quiet", "--out", str(store)]
    assert main(["batch", str(tiny), *quiet]) == 0
    described = json.loads((store / "experiment.json").read_text(encoding="utf-8"))
    assert described["code"]["source_digest"] == top.source_digest()
    assert main(["batch", str(tiny), *quiet, "--resume"]) == 0  # the same code: nothing to do
    monkeypatch.setattr(top, "source_digest", lambda: "0123456789abcdef")  # an edit, say
    capsys.readouterr()
    assert main(["batch", str(tiny), *quiet, "--resume"]) == 2
    assert "changed scenarios or code" in capsys.readouterr().err


def test_a_design_point_that_does_not_load_is_refused_before_any_run(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(TINY.replace("values: [15000000, 21000000]", "values: [15000000, -1]"))
    # The batch checks every point, whole, before any run, and places what it finds at
    # the factor's line of the experiment.
    spec = load_experiment(path)
    with pytest.raises(ScenarioError) as caught:
        run_batch(spec, path, tmp_path / "store", workers=1)
    text = caught.value.render()
    assert f"{path}:" in text
    assert "design.factors.agencies.state_police.budget_eur: design point 1 of arm " in text
    assert "'baseline' (agencies.state_police.budget_eur=-1) does not load" in text
    assert "greater than or equal to 0" in text
    assert not (tmp_path / "store").exists()


def test_a_failing_run_is_recorded_and_the_batch_goes_on(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_run = batch_runner.run

    def fails_on_the_second_point(scenario: Scenario, seed: int | None = None) -> Any:
        if scenario.agencies["state_police"].budget_eur == 21_000_000:
            raise RuntimeError("simulated crash in budget_eur point")
        return real_run(scenario, seed=seed)

    monkeypatch.setattr(batch_runner, "run", fails_on_the_second_point)
    spec = load_experiment(tiny)
    report = run_batch(spec, tiny, tmp_path / "store", workers=1)
    assert report.done == 6 and report.failed == 6
    manifest = pd.read_parquet(tmp_path / "store" / "manifest.parquet")
    failed = manifest[manifest["status"] == "failed"]
    assert failed["error"].str.contains("simulated crash").all()
    assert set(failed["point"]) == {1}


def test_workers_receive_the_checked_scenario_not_its_file(tmp_path: Path) -> None:
    scenario_file = tmp_path / "city.yaml"
    scenario_file.write_text(f"extends: {SCENARIOS / 'baseline.yaml'}\n", encoding="utf-8")
    experiment = tmp_path / "edit.yaml"
    experiment.write_text(
        "name: edit\nreference: city\narms:\n  city: {scenario: city.yaml}\n"
        "replicates: 1\nseed: 3\ndays: 1\nwarmup_days: 0\n",
        encoding="utf-8",
    )
    spec = load_experiment(experiment)
    (task,), arms = batch_runner.plan_and_arms(spec, experiment, tmp_path / "store")
    described = batch_runner.experiment_identity(spec, experiment, arms)
    assert described == batch_runner.experiment_identity(spec, experiment)  # same files
    assert task.scenario.policy_changes == ()  # compiled once, in the batch process
    assert task.scenario.passed(batch_runner.BATCH_CHECKS[0])
    before = batch_runner.run(task.scenario, seed=task.seed).summary
    # Someone edits the file while the batch runs: the planned run is unchanged.
    scenario_file.write_text("agencies: [not, a, scenario]\n", encoding="utf-8")
    (tmp_path / "store" / "runs").mkdir(parents=True)
    record = batch_runner.execute(task)
    assert record["status"] == "done", record["error"]
    # The store is described by the scenario planned, not by the edited file.
    assert batch_runner.experiment_identity(spec, experiment, arms) == described
    tmp = record["staged"][0][0]
    row = pd.read_parquet(tmp).iloc[0]
    assert row["calls.total"] == before.calls.total


def test_paired_intervals_are_narrower_than_unpaired(tmp_path: Path) -> None:
    tiny = tmp_path / "tiny_outputs.yaml"
    # (The State police has no line of its own: an output no run has a value for.)
    outputs = (
        "[calls.total, calls.by_type.assistance, direct_calls.state_police, "
        "offenders.arrests_by_agency.securite_privee, response_min.by_type.drug_dealing.mean]"
    )
    tiny.write_text(TINY + f"outputs: {outputs}\n", "utf-8")
    spec = load_experiment(tiny)
    run_batch(spec, tiny, tmp_path / "s", workers=1)
    result = analyze(tmp_path / "s")
    # An experiment with one arm has no differences, but its table keeps its header.
    runs = pd.read_parquet(tmp_path / "s" / "summaries.parquet")
    alone = analysis_module.paired_differences(
        runs[runs["arm"] == "baseline"], ["calls.total"], "baseline"
    )
    assert alone.empty and list(alone.columns) == analysis_module.DIFFERENCE_COLUMNS
    # One row per design point (the tiny experiment has two) and output.
    assert sorted(result.differences["point"].unique()) == [0, 1]
    assert (result.differences["n_pairs"] == 3).all()
    differences = result.differences.set_index(["output", "point"])
    # The two arms share their calls for service: paired, the difference in calls
    # sent a unit (calls for service and the offences that need a crew, which differ
    # between arms) is tighter than unpaired, and calls of a type that is never an
    # offence are the same calls in both arms.
    for point in (0, 1):
        assert differences.loc[("calls.total", point), "paired_over_unpaired_width"] < 0.8
        assistance = differences.loc[("calls.by_type.assistance", point)]
        assert assistance["paired_over_unpaired_width"] == 0.0
        assert assistance["verdict"] == "the same"
    assert set(result.differences["verdict"]) <= {
        "higher",
        "lower",
        "no clear difference",
        "the same",
        "no interval",
    }
    report = (tmp_path / "s" / "analysis" / "report.md").read_text(encoding="utf-8")
    assert "| arm | point | output |" in report  # two design points: the column stays
    one_point = analysis_module._without_single_point(result.arms[result.arms["point"] == 0])
    assert "point" not in one_point and len(one_point) == 6  # 2 arms x 3 outputs with a value
    assert "| verdict |" in report and "no clear difference* where it includes 0" in report
    assert "e+0" not in report  # large figures in full, not in scientific notation
    assert set(result.arms["arm"]) == {"baseline", "transfer"}
    assert "Incomplete" not in report
    # An output the check let through (a real agency) that no run has a value for.
    assert (
        "**No value:** no run has `direct_calls.state_police`, "
        "`response_min.by_type.drug_dealing.mean`"
    ) in report  # (a statistic every run lists, of no call in any)
    assert "direct_calls.state_police" not in set(result.arms["output"])
    # A count of nothing is 0 in every run, not a missing value averaged away.
    guards = runs["offenders.arrests_by_agency.securite_privee"]
    assert guards.notna().all() and (guards == 0).all()
    assert "Values missing in some runs" not in report
    # A store whose batch was stopped: the report says what rests on what.
    manifest = pd.read_parquet(tmp_path / "s" / "manifest.parquet")
    manifest.loc[[0, 1], "status"] = "pending"
    manifest.loc[2, "status"] = "interrupted"
    manifest.to_parquet(tmp_path / "s" / "manifest.parquet", index=False)
    analyze(tmp_path / "s")
    report = (tmp_path / "s" / "analysis" / "report.md").read_text(encoding="utf-8")
    assert "**Incomplete:** 9 of 12 planned runs are done (1 interrupted, 2 pending)" in report


def test_experiment_mistakes_are_located(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(
        TINY.replace("reference: baseline", "reference: baselin").replace(
            "replicates: 3", "replicatez: 3"
        )
    )
    with pytest.raises(ScenarioError, match="did you mean 'replicates'"):
        load_experiment(path)
    path.write_text(TINY.replace("reference: baseline", "reference: baselin"))
    with pytest.raises(ScenarioError, match="did you mean 'baseline'"):
        load_experiment(path)


def test_keys_the_design_would_not_read_and_a_horizon_of_an_arm_are_refused(
    tmp_path: Path,
) -> None:
    """A grid's samples, bounds and design seed did nothing; an arm's run.days made its
    runs compare days with another horizon's."""
    path = tmp_path / "ignored.yaml"
    path.write_text(
        TINY.replace("  kind: grid\n", "  kind: grid\n  samples: 64\n")
        .replace("values: [15000000, 21000000]}", "values: [15000000, 21000000], low: 1}")
        .replace("competence_transfer.yaml}", "competence_transfer.yaml, set: {run.days: 4}}")
        + "design_seed: 5\n",
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError) as refused:
        load_experiment(path)
    said = " ".join(str(refused.value).split())
    for expected in (
        "arms.transfer.set.run.days: every run of an experiment counts the same days",
        "design.samples: a grid design has no samples",
        "design.factors.agencies.state_police.budget_eur.low: a grid design takes its values",
        "design_seed: a grid design draws nothing",
    ):
        assert expected in said
    sampled = TINY.replace("kind: grid", "kind: lhs").replace(
        "values: [15000000, 21000000]}", "values: [1], low: 15000000, high: 21000000}"
    )
    path.write_text(sampled, encoding="utf-8")
    with pytest.raises(ScenarioError, match="values is for grid and list designs"):
        load_experiment(path)


def test_a_factor_given_the_other_kind_of_design_s_keys_gets_one_message(tmp_path: Path) -> None:
    """Low and high for a grid: 'needs values', then one message for each of low and high."""
    path = tmp_path / "other.yaml"
    cases = [
        (
            TINY.replace("values: [15000000, 21000000]}", "low: 15000000, high: 21000000}"),
            "a grid design needs values, the factor's levels, as in values: [1, 2, 3] "
            "(low and high: for lhs, sobol and morris designs)",
        ),
        (
            TINY.replace("kind: grid", "kind: sobol"),
            "a sobol design needs low and high (values: for grid and list designs)",
        ),
    ]
    for text, expected in cases:
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ScenarioError) as refused:
            load_experiment(path)
        said = " ".join(str(refused.value).split())
        assert said.startswith("1 problem in experiment:"), said
        assert f"design.factors.agencies.state_police.budget_eur: {expected}" in said


@pytest.mark.parametrize("name", ["policy_arms", "budget_competence_grid", "behaviour_sensitivity"])
def test_shipped_experiments_load(name: str) -> None:
    spec = load_experiment(ROOT / "experiments" / f"{name}.yaml")
    assert spec.arms


def test_a_factor_that_is_a_whole_mapping_is_stored_as_json(tmp_path: Path) -> None:
    """A calibration writes a parameter into the mapping that holds it (its anchor).

    Such a factor, ``crime.types`` whole, holds empty mappings (the types with no
    ``district_factors``), which Parquet cannot store as columns: the run failed.
    """
    experiment = tmp_path / "one.yaml"
    experiment.write_text(
        f"name: one\nreference: base\narms:\n  base: {{scenario: {SCENARIOS / 'baseline.yaml'}}}\n"
        "replicates: 1\nseed: 3\ndays: 1\nwarmup_days: 0\n",
        encoding="utf-8",
    )
    (task,), _ = batch_runner.plan_and_arms(
        load_experiment(experiment), experiment, tmp_path / "store"
    )
    types = {"burglary": {"district_factors": {"qpv": 0.3}}, "theft": {"district_factors": {}}}
    factors = {"crime.types": types, "run.seed_list": [1, 2], "agencies.x.budget_eur": 5.0}
    (tmp_path / "store" / "runs").mkdir(parents=True)
    record = batch_runner.execute(dataclasses.replace(task, factors=factors))
    assert record["status"] == "done", record["error"]
    row = pd.read_parquet(record["staged"][0][0]).iloc[0]
    assert json.loads(row["factor.crime.types"]) == types
    assert list(row["factor.run.seed_list"]) == [1, 2]  # a list of numbers stays a list
    assert row["factor.agencies.x.budget_eur"] == 5.0


def test_a_damaged_store_is_named_not_a_traceback(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "s"
    quiet = ["--workers", "1", "--quiet", "--out", str(store)]
    assert main(["batch", str(tiny), *quiet]) == 0
    summaries = store / "summaries.parquet"
    summaries.write_bytes(summaries.read_bytes()[:100])  # truncated
    assert main(["analyze", str(store)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "summaries.parquet: cannot be read" in err and "--resume" in err
    assert "Traceback" not in err
    # As it says: resuming writes the table again from the runs.
    assert main(["batch", str(tiny), *quiet, "--resume"]) == 0
    assert main(["analyze", str(store)]) == 0
    manifest = store / "manifest.parquet"
    manifest.write_bytes(manifest.read_bytes()[:50])
    assert main(["analyze", str(store)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "manifest.parquet: cannot be read" in err and "Traceback" not in err
    (store / "experiment.json").write_text("{", encoding="utf-8")
    assert main(["analyze", str(store)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "experiment.json: cannot be read" in err and "Traceback" not in err


def test_one_replicate_gives_a_difference_without_an_interval() -> None:
    """With replicates: 1 the differences table was empty, silently; arms' n counted NaNs."""
    runs = pd.DataFrame(
        {
            "arm": ["a", "b", "a", "b"],
            "point": [0, 0, 1, 1],
            "replicate": [0, 0, 0, 0],
            "x": [1.0, 3.0, 2.0, float("nan")],
        }
    )
    diffs = analysis_module.paired_differences(runs, ["x"], "a")
    assert len(diffs) == 1  # point 1 has no pair with a value
    row = diffs.iloc[0]
    assert row["difference"] == 2.0 and row["n_pairs"] == 1 and row["verdict"] == "no interval"
    assert pd.isna(row["ci_low"]) and pd.isna(row["paired_over_unpaired_width"])
    arms = analysis_module.arm_means(runs, ["x"]).set_index(["arm", "point"])
    assert arms.loc[("b", 1), "n"] == 0 and arms.loc[("b", 0), "n"] == 1


def test_a_run_made_by_other_code_is_not_kept(tmp_path: Path) -> None:
    """A Dask worker with another secsim: its run fails with the reason, its files go."""
    staged = tmp_path / ".run.parquet.1.tmp"
    staged.write_bytes(b"rows")
    record = {"run_id": "a__p0000__r000", "status": "done", "error": None}
    record |= {"staged": [(str(staged), str(tmp_path / "run.parquet"))], "code": "other"}
    kept = batch_runner._same_code(dict(record), "mine")
    assert kept["status"] == "failed" and "the worker runs other code" in kept["error"]
    assert "sources other, the batch's mine" in kept["error"]
    assert "code" not in kept and "staged" not in kept and not staged.exists()
    same = batch_runner._same_code({**record, "code": "mine"}, "mine")
    assert same["status"] == "done" and "code" not in same and same["staged"]


def test_an_output_some_runs_have_no_value_for_is_said_with_how_many() -> None:
    runs = pd.DataFrame({"a": [1.0, None, 3.0, None], "b": [1.0, 2.0, 3.0, 4.0]})
    note = analysis_module._outputs_partial(runs, ["a", "b"])
    assert note is not None and "`a` (2 of 4 runs)" in note and "`b`" not in note
    assert analysis_module._outputs_partial(runs, ["b"]) is None


def test_analyze_refuses_a_store_a_running_batch_holds(tiny: Path, tmp_path: Path) -> None:
    store = tmp_path / "s"
    run_batch(load_experiment(tiny), tiny, store, workers=1)
    with outputs.exclusive(store), pytest.raises(OutputError, match="a batch is running here"):
        analyze(store)
    analyze(store)  # once it has finished


def test_analyze_says_why_a_store_has_no_results(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A running batch, every run failed, no folder: each was 'stopped ... or was killed'."""
    assert main(["analyze", str(tmp_path / "nowhere")]) == 2
    assert "no such folder" in capsys.readouterr().err
    store = tmp_path / "s"
    monkeypatch.setattr(
        batch_runner, "execute", lambda task: batch_runner._died(task, "out of memory")
    )
    report = run_batch(load_experiment(tiny), tiny, store, workers=1)
    assert report.failed == report.planned and not (store / "summaries.parquet").exists()
    assert main(["analyze", str(store)]) == 2
    err = capsys.readouterr().err
    assert f"no run of the batch is done ({report.planned} failed)" in err
    assert "the first failure: out of memory" in err and "--resume" in err
    # A batch running in the store before its first run ended: its lock, not its tables.
    (store / "manifest.parquet").unlink()
    with outputs.exclusive(store):
        assert main(["analyze", str(store)]) != 0
    assert "a batch is running here" in capsys.readouterr().err
    assert main(["analyze", str(store)]) == 2  # stopped: no results, and nothing says more
    assert "stopped before its first run ended" in capsys.readouterr().err


def test_a_resume_that_runs_more_removes_the_analysis_it_outdates(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """report.md still said "Incomplete: 4 of 8" after the resume had run the rest."""
    store = tmp_path / "s"
    real = batch_runner.execute
    monkeypatch.setattr(
        batch_runner,
        "execute",
        lambda task: batch_runner._died(task, "x") if task.replicate == 0 else real(task),
    )
    run_batch(load_experiment(tiny), tiny, store, workers=1)
    analyze(store)
    assert "**Incomplete:**" in (store / "analysis" / "report.md").read_text()
    monkeypatch.setattr(batch_runner, "execute", real)
    report = run_batch(load_experiment(tiny), tiny, store, workers=1, resume=True)
    assert report.done > 0 and not (store / "analysis").exists()
    analyze(store)
    assert "Incomplete" not in (store / "analysis" / "report.md").read_text()
    report = run_batch(load_experiment(tiny), tiny, store, workers=1, resume=True)
    assert report.skipped == report.planned  # nothing to run: the analysis stands
    assert (store / "analysis" / "report.md").exists()
    # Another output asked: the runs stand, the analysis of the old outputs goes.
    tiny.write_text(TINY + "outputs: [calls.total]\n", encoding="utf-8")
    report = run_batch(load_experiment(tiny), tiny, store, workers=1, resume=True)
    assert report.skipped == report.planned and not (store / "analysis").exists()


def test_resume_names_what_changed_and_keeps_the_runs_when_only_the_analysis_reads_it(
    tiny: Path, tmp_path: Path
) -> None:
    store = tmp_path / "s"
    run_batch(load_experiment(tiny), tiny, store, workers=1)
    before = _table(store)
    tiny.write_text(TINY + "description: a note\noutputs: [calls.total]\n", encoding="utf-8")
    run_batch(load_experiment(tiny), tiny, store, workers=1, resume=True)
    pd.testing.assert_frame_equal(_table(store), before)  # nothing ran again
    assert json.loads((store / "experiment.json").read_text())["experiment"]["outputs"] == [
        "calls.total"
    ]
    tiny.write_text(TINY.replace("replicates: 3", "replicates: 4"), encoding="utf-8")
    with pytest.raises(OutputError, match=r"it differs in experiment\.replicates, runs"):
        run_batch(load_experiment(tiny), tiny, store, workers=1, resume=True)


def test_a_design_too_large_to_plan_is_refused_before_planning(tmp_path: Path) -> None:
    """20,000 points took 69 s and 1.65 GB to plan before validate said ok."""
    path = tmp_path / "big.yaml"
    path.write_text(
        TINY.replace("kind: grid", "kind: lhs\n  samples: 20000").replace(
            "{values: [15000000, 21000000]}", "{low: 15000000, high: 21000000}"
        ),
        encoding="utf-8",
    )
    started = time.monotonic()
    with pytest.raises(ScenarioError, match="40,000 scenarios to build and check before any run"):
        load_experiment(path)
    assert time.monotonic() - started < 30


def test_every_planned_run_file_is_one_the_store_knows_as_secsim_s(
    tiny: Path, tmp_path: Path
) -> None:
    """outputs._RUN_FILE repeats the run ids' form: a run file it did not match would be
    someone's, and --force and --resume would refuse the store."""
    from fnmatch import fnmatchcase

    from simulator.outputs import _RUN_FILE

    tasks = batch_runner.plan(load_experiment(tiny), tiny, tmp_path / "s")
    assert tasks and all(fnmatchcase(f"{t.run_id}.parquet", _RUN_FILE) for t in tasks)
    assert not fnmatchcase("my_merged_results.parquet", _RUN_FILE)


def test_an_arm_s_setting_that_meets_the_file_s_is_placed_at_the_setting(tmp_path: Path) -> None:
    """Officers set by an arm beside the file's budget: the problem was at the arm's line."""
    path = tmp_path / "arms.yaml"
    path.write_text(
        TINY.replace(
            "competence_transfer.yaml}",
            "competence_transfer.yaml, set: {agencies.state_police.officers: 400}}",
        ),
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError) as refused:
        load_experiment(path)
    said = " ".join(str(refused.value).split())
    assert "arms.transfer.set.agencies.state_police.officers: agencies.state_police: give " in said
    # (competence_transfer.yaml extends the baseline, whose line gives the budget)
    assert "(the scenario's " in said and "scenarios/baseline.yaml:" in said


def test_a_stopped_dask_batch_records_only_the_runs_that_had_started_as_interrupted(
    tiny: Path, tmp_path: Path
) -> None:
    """The scheduler's ``processing`` counts the tasks queued on a worker too: those never
    started, and were recorded as interrupted runs. One thread runs one task at a time."""
    from dask.distributed import LocalCluster

    spec = load_experiment(tiny)
    store = tmp_path / "dask"

    def stop(report: Any) -> None:
        raise KeyboardInterrupt

    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        pytest.raises(KeyboardInterrupt),
    ):
        run_batch(spec, tiny, store, scheduler=cluster.scheduler_address, progress=stop)
    manifest = pd.read_parquet(store / "manifest.parquet")
    status = manifest["status"].value_counts().to_dict()
    assert status.get("done") == 1 and status.get("interrupted", 0) <= 1
    assert status.get("pending", 0) >= len(manifest) - 2
    report = run_batch(spec, tiny, store, workers=1, resume=True)
    assert report.done + report.skipped == report.planned
