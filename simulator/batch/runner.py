"""Run an experiment: plan the runs, execute them locally or on a Dask cluster, store them.

The results store (``DIR``):

* ``experiment.json``: the experiment as planned (checked again on ``--resume``);
* ``runs/<run_id>.parquet``: one row per finished run (identifiers, factor values,
  seed and the flattened summary), written under a temporary name then renamed,
  so a file that exists is complete;
* ``incidents/<run_id>.parquet``: the run's incident records, if kept;
* ``manifest.jsonl``: one line appended per finished or failed run, as it happens;
* ``manifest.parquet`` and ``summaries.parquet``: the consolidated tables, in plan
  order, rewritten at the end of every batch (DuckDB, pandas and polars read them).

A run is a function of its scenario, overrides and seed, so results do not
depend on the number of workers or on the executor. Replicate ``i`` of every arm
and design point uses the same seed (common random numbers).
"""

from __future__ import annotations

import json
import os
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from simulator.batch.design import design_points
from simulator.batch.spec import ExperimentSpec, arm_overrides, arm_scenario_path
from simulator.runner import code_version, run
from simulator.scenario.loader import load_scenario, resolved_dict
from simulator.territory_file import data_files

# Columns that measure the machine, not the model: left out when comparing stores.
TIMING_COLUMNS = ("wall_s", "runtime_s", "started_at")


@dataclass(frozen=True)
class RunTask:
    """One run of a batch, with everything a worker needs (picklable)."""

    run_id: str
    arm: str
    point: int
    factors: dict[str, Any]
    replicate: int
    seed: int
    scenario_path: str
    overrides: tuple[str, ...]
    store: str
    keep_incidents: bool


@dataclass
class BatchReport:
    """What a batch did."""

    planned: int
    skipped: int = 0
    done: int = 0
    failed: int = 0
    errors: dict[str, str] = field(default_factory=dict)


def replicate_seeds(root: int, replicates: int) -> list[int]:
    """Seeds of replicates 0..n-1, from ``SeedSequence(root).spawn(n)``."""
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(root).spawn(replicates)]


def plan(spec: ExperimentSpec, experiment_path: Path, store: Path) -> list[RunTask]:
    """Every run of the experiment, in a fixed order: arm, design point, replicate."""
    points = design_points(spec.design, int(spec.design_seed))
    seeds = replicate_seeds(spec.seed, spec.replicates)
    tasks = []
    for arm_name, arm in spec.arms.items():
        path = str(arm_scenario_path(experiment_path, arm))
        for p, point in enumerate(points):
            overrides = tuple(arm_overrides(spec, arm, point))
            for r, seed in enumerate(seeds):
                tasks.append(
                    RunTask(
                        run_id=f"{arm_name}__p{p:04d}__r{r:03d}",
                        arm=arm_name,
                        point=p,
                        factors=point,
                        replicate=r,
                        seed=seed,
                        scenario_path=path,
                        overrides=overrides,
                        store=str(store),
                        keep_incidents=spec.keep_incidents,
                    )
                )
    return tasks


def flatten(summary: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested summary to ``{"a.b.c": scalar}``; a confidence interval gives two columns."""
    flat: dict[str, Any] = {}
    for key, value in summary.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        elif isinstance(value, list | tuple):
            if len(value) == 2 and all(isinstance(v, int | float) for v in value):
                flat[name + ".low"], flat[name + ".high"] = value
        elif value is None or isinstance(value, bool | int | float | str):
            flat[name] = value
    return flat


def _write_atomically(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


def execute(task: RunTask) -> dict[str, Any]:
    """Run one task and store it; return its manifest record (never raises)."""
    started = time.perf_counter()
    record: dict[str, Any] = {
        "run_id": task.run_id,
        "arm": task.arm,
        "point": task.point,
        "replicate": task.replicate,
        "seed": task.seed,
        "factors": json.dumps(task.factors, sort_keys=True),
    }
    try:
        scenario = load_scenario(task.scenario_path, list(task.overrides))
        result = run(scenario, seed=task.seed)
        row = {
            **{k: v for k, v in record.items() if k != "factors"},
            **{f"factor.{k}": v for k, v in task.factors.items()},
            **flatten(result.summary),
        }
        store = Path(task.store)
        if task.keep_incidents:
            _write_atomically(result.incidents, store / "incidents" / f"{task.run_id}.parquet")
        _write_atomically(pa.Table.from_pylist([row]), store / "runs" / f"{task.run_id}.parquet")
        record.update(status="done", error=None)
    except Exception as exc:  # a failed run is recorded, and the batch goes on
        last = traceback.format_exception_only(exc)[-1].strip()
        record.update(status="failed", error=last)
    record["wall_s"] = time.perf_counter() - started
    return record


def experiment_identity(spec: ExperimentSpec, experiment_path: Path) -> dict[str, Any]:
    """What a store's results depend on, so that a store never mixes two of them.

    The experiment, each arm's resolved scenario (with the files it extends), the
    digests of the data files of real territories, and the code version.
    """
    loaded = {
        name: load_scenario(arm_scenario_path(experiment_path, arm), arm_overrides(spec, arm, {}))
        for name, arm in spec.arms.items()
    }
    identity = {
        "experiment": spec.model_dump(mode="json"),
        "scenarios": {name: resolved_dict(s) for name, s in loaded.items()},
        "code": code_version(),
    }
    # The data files of real territories count too (nothing is added for synthetic
    # ones, so existing stores keep their identity).
    files = {name: data_files(s.territory) for name, s in loaded.items()}
    if any(files.values()):
        identity["territory_files"] = files
    return identity


def _prepare_store(
    spec: ExperimentSpec, experiment_path: Path, tasks: list[RunTask], store: Path, resume: bool
) -> None:
    identity = {
        **experiment_identity(spec, experiment_path),
        "runs": [t.run_id for t in tasks],
    }
    marker = store / "experiment.json"
    if marker.exists():
        if not resume:
            raise FileExistsError(
                f"{store} already holds a batch: add --resume to finish it, or choose --out"
            )
        if json.loads(marker.read_text(encoding="utf-8")) != identity:
            raise FileExistsError(
                f"{store} holds a different experiment, or the same one with changed scenarios "
                "or code: choose another --out"
            )
    (store / "runs").mkdir(parents=True, exist_ok=True)
    (store / "incidents").mkdir(exist_ok=True)
    if not marker.exists():
        tmp = marker.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(identity, indent=2), encoding="utf-8")
        os.replace(tmp, marker)
    for leftover in (store / "runs").glob(".*.tmp"):
        leftover.unlink()  # half-written files of runs killed in flight


def _results(tasks: list[RunTask], workers: int, scheduler: str | None) -> Iterator[dict[str, Any]]:
    if not tasks:
        return
    if scheduler:
        from dask.distributed import Client
        from dask.distributed import as_completed as dask_completed

        with Client(scheduler) as client:  # type: ignore[no-untyped-call]
            futures = client.map(execute, tasks, pure=False)
            for future in dask_completed(futures):  # type: ignore[no-untyped-call]
                yield future.result()
        return
    if workers <= 1:
        for task in tasks:
            yield execute(task)
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        for fut in as_completed([pool.submit(execute, t) for t in tasks]):
            yield fut.result()


def run_batch(
    spec: ExperimentSpec,
    experiment_path: Path,
    store: Path,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    resume: bool = False,
    progress: Callable[[BatchReport], None] | None = None,
) -> BatchReport:
    """Run every planned run not already stored, then consolidate the store.

    Args:
        spec: The checked experiment.
        experiment_path: Its file (arm scenarios are relative to it).
        store: The results folder.
        workers: Local worker processes (1: in this process).
        scheduler: Address of a Dask scheduler (``tcp://host:port``); overrides workers.
        resume: Continue a batch already in ``store``, skipping finished runs.
        progress: Called after each run with the running totals.
    """
    tasks = plan(spec, experiment_path, store)
    _prepare_store(spec, experiment_path, tasks, store, resume)
    todo = [t for t in tasks if not (store / "runs" / f"{t.run_id}.parquet").exists()]
    report = BatchReport(planned=len(tasks), skipped=len(tasks) - len(todo))
    with (store / "manifest.jsonl").open("a", encoding="utf-8") as log:
        for record in _results(todo, workers, scheduler):
            if record["status"] == "done":
                report.done += 1
            else:
                report.failed += 1
                report.errors[record["run_id"]] = record["error"]
            log.write(json.dumps(record) + "\n")
            log.flush()
            if progress is not None:
                progress(report)
    consolidate(tasks, store)
    return report


def _manifest_records(store: Path) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    path = store / "manifest.jsonl"
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a kill
            latest[record["run_id"]] = record
    return latest


def consolidate(tasks: Iterable[RunTask], store: Path) -> None:
    """Rewrite ``manifest.parquet`` and ``summaries.parquet`` from the stored runs."""
    records = _manifest_records(store)
    manifest, rows = [], []
    for t in tasks:
        path = store / "runs" / f"{t.run_id}.parquet"
        rec = records.get(t.run_id, {})
        status = "done" if path.exists() else rec.get("status", "pending")
        manifest.append(
            {
                "run_id": t.run_id,
                "arm": t.arm,
                "point": t.point,
                "replicate": t.replicate,
                "seed": t.seed,
                "factors": json.dumps(t.factors, sort_keys=True),
                "status": status,
                "wall_s": rec.get("wall_s"),
                "error": rec.get("error") if status == "failed" else None,
            }
        )
        if path.exists():
            rows.append(pq.read_table(path).to_pandas())
    _write_atomically(pa.Table.from_pylist(manifest), store / "manifest.parquet")
    if rows:
        frame = pd.concat(rows, ignore_index=True)
        _write_atomically(
            pa.Table.from_pandas(frame, preserve_index=False), store / "summaries.parquet"
        )


def runs_table(store: Path) -> pd.DataFrame:
    """The consolidated summaries of a store."""
    return pd.read_parquet(store / "summaries.parquet")
