"""Run an experiment: plan the runs, execute them locally or on a Dask cluster, store them.

The results store (``DIR``):

* ``.secsim``: the marker that says secsim made this folder (see
  :mod:`simulator.outputs`), and ``.secsim.lock``, locked by the one batch
  writing here (the kernel releases it when that process ends, however it ends);
* ``experiment.json``: the experiment as planned (checked again on ``--resume``);
* ``runs/<run_id>.parquet``: one row per finished run (identifiers, factor values,
  seed and the flattened summary), written by the worker under a temporary name
  and renamed by the batch process, so a file that exists is complete and no
  worker adds one after the batch stopped;
* ``incidents/<run_id>.parquet``: the run's incident records, if kept;
* ``manifest.jsonl``: one line appended per finished, failed or interrupted run,
  as it happens;
* ``manifest.parquet`` and ``summaries.parquet``: the consolidated tables, in plan
  order, rewritten at the end of every batch, and when it is stopped (DuckDB,
  pandas and polars read them).

Stopping (SIGINT, SIGTERM, raised as :class:`simulator.stopping.Interrupted`)
ends the workers, records their runs as ``interrupted``, removes temporary files
and consolidates; ``--resume`` then runs what is missing. A worker that dies is
recorded as a failed run with its cause, and the batch goes on. On ``--resume``
a stored run file that cannot be read (truncated, corrupt) is run again.

A run is a function of its scenario, overrides and seed, so results do not
depend on the number of workers or on the executor. Replicate ``i`` of every arm
and design point uses the same seed (common random numbers).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
import traceback
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from simulator.agencies.agency import territory_findings
from simulator.batch.design import design_points
from simulator.batch.pool import WorkerPool
from simulator.batch.spec import (
    ExperimentSpec,
    arm_overrides,
    arm_scenario_path,
    experiment_positions,
    point_problems,
)
from simulator.outputs import (
    MARKER,
    StoreInUse,
    claim,
    exclusive,
    mark,
    read_marker,
    write_failed,
    write_text_atomically,
)
from simulator.records.summary import flatten
from simulator.resources import check_fits
from simulator.runner import code_version, run, source_digest
from simulator.scenario.changes import differing_keys
from simulator.scenario.errors import Problem, ScenarioError
from simulator.scenario.loader import load_scenario, load_variants, resolved_dict
from simulator.scenario.schema import Scenario
from simulator.stopping import Interrupted, signals_deferred
from simulator.world.territory_file import data_files

# Columns that measure the machine, not the model: left out when comparing stores.
TIMING_COLUMNS = ("wall_s", "runtime_s")


@dataclass(frozen=True)
class RunTask:
    """One run of a batch, with everything a worker needs (picklable).

    The worker receives the scenario checked once by the batch (with its compiled
    timeline and the territory check it passed), never a file to read again: a
    scenario file edited while a batch runs cannot mix two versions in one store.
    """

    run_id: str
    arm: str
    point: int
    factors: dict[str, Any]
    replicate: int
    seed: int
    scenario: Scenario
    store: str
    keep_incidents: bool


@dataclass
class BatchReport:
    """What a batch did."""

    planned: int
    skipped: int = 0
    done: int = 0
    failed: int = 0
    rerun_damaged: int = 0
    errors: dict[str, str] = field(default_factory=dict)


def replicate_seeds(root: int, replicates: int) -> list[int]:
    """Seeds of replicates 0..n-1, from ``SeedSequence(root).spawn(n)``."""
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(root).spawn(replicates)]


def plan(spec: ExperimentSpec, experiment_path: Path, store: Path) -> list[RunTask]:
    """Every run of the experiment, in a fixed order: arm, design point, replicate.

    Raises:
        ScenarioError: If a design point's scenario does not load (a factor value
            out of its allowed range, say), naming the arm, the point and why.
    """
    return plan_and_arms(spec, experiment_path, store)[0]


def plan_and_arms(
    spec: ExperimentSpec, experiment_path: Path, store: Path
) -> tuple[list[RunTask], dict[str, Scenario]]:
    """The runs (see :func:`plan`) and each arm's scenario before any design point.

    Each arm's file is read once, and each scenario checked once (the replicates of
    a point share it), before any run starts; the arms' scenarios describe the store
    (:func:`experiment_identity`), so the store says what the workers run.
    """
    points = design_points(spec.design, int(spec.design_seed))
    seeds = replicate_seeds(spec.seed, spec.replicates)
    tasks = []
    arms: dict[str, Scenario] = {}
    problems: list[Problem] = []
    for arm_name, arm in spec.arms.items():
        path = arm_scenario_path(experiment_path, arm)
        variants = [arm_overrides(spec, arm, {}), *(arm_overrides(spec, arm, p) for p in points)]
        base, *loaded = load_variants(path, variants, BATCH_CHECKS)
        if isinstance(base, ScenarioError):
            problems += [Problem(arm_name, None, None, q.path, q.message) for q in base.problems]
            continue
        arms[arm_name] = base
        failures = [
            (p, point, scenario)
            for p, (point, scenario) in enumerate(zip(points, loaded, strict=True))
            if isinstance(scenario, ScenarioError)
        ]
        if failures:
            where = experiment_positions(experiment_path)
            problems += point_problems(where, spec, arm_name, failures)
        for p, (point, scenario) in enumerate(zip(points, loaded, strict=True)):
            if isinstance(scenario, ScenarioError):
                continue
            for r, seed in enumerate(seeds):
                tasks.append(
                    RunTask(
                        run_id=f"{arm_name}__p{p:04d}__r{r:03d}",
                        arm=arm_name,
                        point=p,
                        factors=point,
                        replicate=r,
                        seed=seed,
                        scenario=scenario,
                        # Absolute: a Dask worker's working folder is not this process's.
                        store=str(store.resolve()),
                        keep_incidents=spec.keep_incidents,
                    )
                )
    if problems:
        raise ScenarioError(problems, what="experiment")
    return tasks, arms


# The checks every run's scenario passes in the batch process, before any run starts.
BATCH_CHECKS = (territory_findings,)


def _write_atomically(table: pa.Table, path: Path) -> None:
    tmp = _staging_name(path)
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
    except OSError as exc:
        raise write_failed(exc, path) from None
    finally:
        tmp.unlink(missing_ok=True)


def _staging_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _base_record(task: RunTask) -> dict[str, Any]:
    return {
        "run_id": task.run_id,
        "arm": task.arm,
        "point": task.point,
        "replicate": task.replicate,
        "seed": task.seed,
        "factors": json.dumps(task.factors, sort_keys=True),
    }


def factor_columns(factors: dict[str, Any]) -> dict[str, Any]:
    """A run's factors as the columns of its row: ``factor.<key>``.

    A number, a string or a list of numbers is a column as it is. A mapping, or a
    list that holds one, is its JSON text (keys sorted): such a value is the whole
    setting a parameter was written into (a calibration's ``crime.types`` with one
    rate changed), whose nested mappings Parquet cannot always store (an empty
    one is a struct with no field).
    """
    columns: dict[str, Any] = {}
    for key, value in factors.items():
        nested = isinstance(value, dict) or (
            isinstance(value, list) and any(isinstance(v, dict | list) for v in value)
        )
        columns[f"factor.{key}"] = json.dumps(value, sort_keys=True) if nested else value
    return columns


def execute(task: RunTask) -> dict[str, Any]:
    """Run one task and stage its files; return its manifest record (never raises).

    The files are written under temporary names (``staged`` in the record: pairs
    of temporary and final path); the batch process renames them into place, so
    that a worker cut off from a stopped batch never adds a run to the store.
    """
    started = time.perf_counter()
    record = _base_record(task)
    staged: list[tuple[str, str]] = []
    try:
        result = run(task.scenario, seed=task.seed)
        row = {
            **{k: v for k, v in record.items() if k != "factors"},
            **factor_columns(task.factors),
            **flatten(result.summary.as_json()),
        }
        store = Path(task.store)
        tables = [(pa.Table.from_pylist([row]), store / "runs" / f"{task.run_id}.parquet")]
        if task.keep_incidents:
            tables.append((result.incidents, store / "incidents" / f"{task.run_id}.parquet"))
        for table, final in tables:
            tmp = _staging_name(final)
            staged.append((str(tmp), str(final)))
            pq.write_table(table, tmp, compression="zstd")
        record.update(status="done", error=None, staged=staged)
    except Exception as exc:  # a failed run is recorded, and the batch goes on
        _unstage(staged)
        last = traceback.format_exception_only(exc)[-1].strip()
        record.update(status="failed", error=last)
    except BaseException:  # stopped: leave nothing half-written
        _unstage(staged)
        raise
    record["wall_s"] = time.perf_counter() - started
    record["code"] = source_digest()  # what this worker runs (checked by the batch)
    return record


def _same_code(record: dict[str, Any], code: str) -> dict[str, Any]:
    """``record`` as the store keeps it: failed if its worker ran other sources than ``code``.

    A Dask worker runs the secsim installed where it runs: another version, or an
    edited copy, gives other results under the store's description of this code.
    Such a run is not kept (its staged files are removed) and says why.
    """
    theirs = record.pop("code", None)
    if theirs is None or theirs == code or record["status"] != "done":
        return record
    _unstage(record.pop("staged", None) or [])
    record.update(
        status="failed",
        error=f"the worker runs other code (sources {theirs}, the batch's {code}): install "
        "the same secsim on every worker, then --resume",
    )
    return record


def _unstage(staged: list[tuple[str, str]]) -> None:
    for tmp_name, _ in staged:
        Path(tmp_name).unlink(missing_ok=True)


def _died(task: RunTask, cause: str) -> dict[str, Any]:
    return {**_base_record(task), "status": "failed", "error": cause, "wall_s": None}


def experiment_identity(
    spec: ExperimentSpec, experiment_path: Path, arms: dict[str, Scenario] | None = None
) -> dict[str, Any]:
    """What a store's results depend on, so that a store never mixes two of them.

    The experiment, each arm's resolved scenario (with the files it extends), the
    digests of the data files of real territories, and the code version.

    Args:
        spec: The experiment.
        experiment_path: Its file.
        arms: The arms' scenarios already loaded (read from their files if omitted).
    """
    loaded = arms or {
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


# What only the analysis reads of an experiment: a store's runs stand if only these change.
_ANALYSIS_ONLY = tuple(
    f"experiment.{key}" for key in ("name", "description", "reference", "outputs", "evidence")
)


def _prepare_store(
    spec: ExperimentSpec,
    experiment_path: Path,
    tasks: list[RunTask],
    arms: dict[str, Scenario],
    store: Path,
    *,
    earlier: bool,
    resume: bool,
    force: bool,
) -> None:
    """Check the store against the experiment, or start it afresh; the lock is held."""
    identity = {
        **experiment_identity(spec, experiment_path, arms),
        "runs": [t.run_id for t in tasks],
    }
    described = store / "experiment.json"
    same_kind = (read_marker(store) or {}).get("kind") == "store"
    if earlier and same_kind and resume:
        try:
            stored = json.loads(described.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            stored = None
        differ = differing_keys(stored, identity) if isinstance(stored, dict) else ["(unreadable)"]
        blocking = [key for key in differ if not key.startswith(_ANALYSIS_ONLY)]
        if blocking:
            shown = ", ".join(blocking[:4]) + (", ..." if len(blocking) > 4 else "")
            raise StoreInUse(
                store,
                "refused: this folder holds a different experiment, or the same one with "
                f"changed scenarios or code (it differs in {shown}): choose another --out, or "
                "add --force to start it again",
            )
        if differ:  # only what the analysis reads: the runs stand, the description is new
            write_text_atomically(described, json.dumps(identity, indent=2))
            _drop_analysis(store)  # made with the old outputs or reference
    elif earlier and (force or not same_kind):
        _empty_store(store)  # claim() allowed it: an earlier secsim output, and --force
    elif earlier:
        raise StoreInUse(
            store,
            "refused: this folder already holds a batch: add --resume to finish it, --force to "
            "start it again, or choose another --out",
        )
    try:
        (store / "runs").mkdir(parents=True, exist_ok=True)
        (store / "incidents").mkdir(exist_ok=True)
    except OSError as exc:
        raise write_failed(exc, store) from None
    if not described.exists():
        write_text_atomically(described, json.dumps(identity, indent=2))
    mark(store, "store")
    _sweep(store)


def _drop_analysis(store: Path) -> None:
    """Remove the store's analysis (``secsim analyze``'s own folder): more runs outdate it."""
    folder = store / "analysis"
    if (read_marker(folder) or {}).get("kind") == "analysis" and not folder.is_symlink():
        try:
            shutil.rmtree(folder)
        except OSError as exc:
            raise write_failed(exc, folder) from None


def _empty_store(store: Path) -> None:
    """Remove an earlier output from a store being started again (not the lock)."""
    for entry in store.iterdir():
        if entry.name in (".secsim.lock", MARKER):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _sweep(store: Path) -> None:
    """Remove temporary files of runs cut off by a stop or a kill."""
    for folder in (store / "runs", store / "incidents", store):
        for leftover in folder.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)


def _complete(store: Path, task: RunTask) -> bool:
    """Whether the task's files are stored and readable; damaged ones are removed."""
    files = [store / "runs" / f"{task.run_id}.parquet"]
    if task.keep_incidents:
        files.append(store / "incidents" / f"{task.run_id}.parquet")
    if not files[0].exists():
        return False
    try:
        ok = all(pq.read_metadata(f).num_rows >= (1 if i == 0 else 0) for i, f in enumerate(files))
        ok = ok and pq.read_table(files[0], columns=["run_id"]).column(0)[0].as_py() == task.run_id
    except (OSError, pa.ArrowException, IndexError, KeyError):
        ok = False
    if not ok:
        for f in files:
            f.unlink(missing_ok=True)
    return ok


@dataclass
class InFlight:
    """The runs the workers held when the batch was stopped (filled on the way out)."""

    tasks: list[RunTask] = field(default_factory=list)


def _check_workers(scheduler: str, workers: dict[str, str], code: str) -> None:
    """Refuse the workers of ``scheduler`` that cannot import secsim or run other sources."""
    unfit = [
        f"{address}: {found[1:] if found.startswith('!') else f'runs other sources ({found})'}"
        for address, found in sorted(workers.items())
        if found != code
    ]
    if unfit:
        raise WorkersUnfit(
            f"the Dask scheduler at {scheduler} has workers that cannot run this batch "
            f"(its sources {code}): {'; '.join(unfit)}. Install the same secsim on every "
            "worker (the same checkout, pip install -e .); nothing was written"
        )


def _local_results(tasks: list[RunTask], workers: int, held: InFlight) -> Iterator[dict[str, Any]]:
    if workers <= 1:
        for task in tasks:
            held.tasks = [task]
            record = execute(task)
            held.tasks = []
            yield record
        return
    with WorkerPool(execute, workers, _died) as pool:
        try:
            yield from pool.results(tasks)
        except BaseException:
            held.tasks = pool.in_flight()
            raise  # the pool stops its workers on the way out


class SchedulerUnreachable(Exception):
    """The Dask scheduler given cannot be reached; the store was not touched."""


class WorkersUnfit(SchedulerUnreachable):
    """The scheduler's workers cannot run this secsim; the store was not touched."""


# How long the check of a scheduler waits for it to answer as a Dask scheduler.
SCHEDULER_TIMEOUT_S = 20.0


def check_scheduler(scheduler: str, code: str | None = None) -> None:
    """Connect to ``scheduler`` once, before anything is written, and ask its workers their code.

    The connection is tried in a thread of its own and waited for
    :data:`SCHEDULER_TIMEOUT_S` (and a few seconds): Dask's own timeout bounds
    the connection, not the handshake, so a peer that accepts and stays silent (a
    web server, Dask's dashboard port) would hold the batch for ever; one that
    answers in another protocol makes Dask fail in any way at all.

    Each worker connected then says which sources of secsim it runs: a worker that
    cannot import it could not even read a task (the batch waited for ever), and
    one that runs other sources than ``code`` (default: this process's) would give
    other results. Workers that join later are checked run by run.

    Raises:
        SchedulerUnreachable: If no scheduler answers there in time.
        WorkersUnfit: If a worker cannot import secsim or runs other sources.
    """
    import threading

    timeout_s = SCHEDULER_TIMEOUT_S
    outcome: list[BaseException | None] = []
    workers: dict[str, str] = {}

    def code_on_worker() -> str:  # nested: sent by value, read without secsim
        try:
            from simulator.runner import source_digest as digest

            return digest()
        except Exception as exc:
            return f"!cannot import secsim ({type(exc).__name__}: {exc})"

    def connect() -> None:
        from dask.distributed import Client

        try:
            with Client(scheduler, timeout=f"{timeout_s:g}s") as client:  # type: ignore[no-untyped-call]
                found = client.run(code_on_worker, on_error="return")
                workers.update(
                    {
                        address: said if isinstance(said, str) else f"!did not answer ({said!r})"
                        for address, said in found.items()
                    }
                )
        except Exception as exc:  # whatever a peer that is not a scheduler makes Dask raise
            outcome.append(exc)
        else:
            outcome.append(None)

    # A daemon: a peer that never answers cannot keep the process from ending.
    trying = threading.Thread(target=connect, name="secsim-scheduler-check", daemon=True)
    trying.start()
    trying.join(timeout_s + 5.0)
    if outcome and outcome[0] is None:
        _check_workers(scheduler, workers, source_digest() if code is None else code)
        return
    if not outcome:
        why = f"no answer as a Dask scheduler within {timeout_s:g} s"
    elif isinstance(outcome[0], OSError | ValueError | TypeError):
        why = str(outcome[0])  # (a timeout is an OSError)
    else:
        why = f"it does not answer as a Dask scheduler: {type(outcome[0]).__name__}"
    raise SchedulerUnreachable(
        f"cannot reach the Dask scheduler at {scheduler} ({why}); nothing was written: "
        "start the scheduler, or check its address (the scheduler's port, often 8786, "
        "not its dashboard's, 8787)"
    )


def _executing(dask_worker: Any) -> list[str]:
    """The keys of the tasks a Dask worker runs now (``Client.run`` passes the worker)."""
    return [str(task.key) for task in dask_worker.state.executing]


def _dask_running(client: Any) -> set[str]:
    """The keys of the tasks the cluster's workers run now; empty when none can say.

    Not the scheduler's ``processing``: that holds, besides, the tasks queued on a
    worker, which never started and are not interrupted runs but pending ones.
    """
    try:
        said = client.run(_executing, on_error="return")
    except Exception:  # the scheduler is gone: nothing is known to run
        return set()
    return {key for keys in said.values() if isinstance(keys, list) for key in keys}


def _dask_results(tasks: list[RunTask], scheduler: str, held: InFlight) -> Iterator[dict[str, Any]]:
    from dask.distributed import Client
    from dask.distributed import as_completed as dask_completed

    with Client(scheduler) as client:  # type: ignore[no-untyped-call]
        futures = client.map(execute, tasks, pure=False)
        by_key = {f.key: t for f, t in zip(futures, tasks, strict=True)}
        try:
            for future in dask_completed(futures):  # type: ignore[no-untyped-call]
                try:
                    record = future.result()
                except CancelledError:  # the client cancels every task when it loses the scheduler
                    raise SchedulerUnreachable(
                        f"lost the Dask scheduler at {scheduler}: the runs not done are left "
                        "for secsim batch ... --resume"
                    ) from None
                except Exception as exc:  # execute never raises: its worker or the cluster failed
                    cause = f"the Dask worker running it failed ({type(exc).__name__}: {exc})"
                    record = _died(by_key[future.key], cause)
                yield record
        except BaseException:
            running = _dask_running(client)
            held.tasks = [t for k, t in by_key.items() if k in running]
            # A task already running finishes on its worker, but only stages its files:
            # nothing renames them into the store any more.
            client.cancel(futures)
            raise


def _results(
    tasks: list[RunTask], workers: int, scheduler: str | None, held: InFlight
) -> Generator[dict[str, Any]]:
    if not tasks:
        return
    if scheduler:
        yield from _dask_results(tasks, scheduler, held)
    else:
        yield from _local_results(tasks, workers, held)


def _promote(record: dict[str, Any], store: Path) -> None:
    """Rename a finished run's staged files into place (the batch process is the one writer)."""
    for tmp, final in record.pop("staged", None) or []:
        try:
            os.replace(tmp, final)
        except OSError as exc:
            raise write_failed(exc, Path(final)) from None


def _check_memory(tasks: list[RunTask], copies: int) -> None:
    seen: set[int] = set()
    for task in tasks:  # the replicates of a design point share its scenario
        if id(task.scenario) not in seen:
            seen.add(id(task.scenario))
            check_fits(task.scenario, copies)


def run_batch(
    spec: ExperimentSpec,
    experiment_path: Path,
    store: Path,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    resume: bool = False,
    force: bool = False,
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
        force: Start again a batch already in ``store`` (or replace another earlier
            secsim output there); never replaces files secsim did not write.
        progress: Called after each run with the running totals.

    Raises:
        OutputError: The store is refused (not secsim's, held by another batch, another
            experiment) or cannot be written.
        ResourceError: A run would not fit in memory (``workers`` at once).
        SchedulerUnreachable: ``scheduler`` does not answer, one of its workers cannot
            run this secsim (``WorkersUnfit``), or the batch lost it (the runs done are
            kept: resume).
        Interrupted: Stopped by a signal, after recording runs in flight as interrupted.
    """
    tasks, arms = plan_and_arms(spec, experiment_path, store)
    earlier = claim(store, "store", force=force)
    _check_memory(tasks, 1 if scheduler else max(1, min(workers, len(tasks))))
    if scheduler:
        check_scheduler(scheduler)
    try:
        store.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_failed(exc, store) from None
    with exclusive(store):
        _prepare_store(
            spec, experiment_path, tasks, arms, store, earlier=earlier, resume=resume, force=force
        )
        todo, damaged = [], 0
        for t in tasks:
            present = (store / "runs" / f"{t.run_id}.parquet").exists()
            if not _complete(store, t):
                todo.append(t)
                damaged += present
        report = BatchReport(
            planned=len(tasks), skipped=len(tasks) - len(todo), rerun_damaged=damaged
        )
        if todo:
            _drop_analysis(store)
        _run_tasks(todo, tasks, store, workers, scheduler, report, progress)
    return report


def _run_tasks(
    todo: list[RunTask],
    tasks: list[RunTask],
    store: Path,
    workers: int,
    scheduler: str | None,
    report: BatchReport,
    progress: Callable[[BatchReport], None] | None,
) -> None:
    held = InFlight()
    path = store / "manifest.jsonl"
    try:
        log = path.open("a", encoding="utf-8")
        if path.stat().st_size and not path.read_bytes().endswith(b"\n"):
            log.write("\n")  # a line cut by a kill stays alone on its line
    except OSError as exc:
        raise write_failed(exc, path) from None
    results = _results(todo, workers, scheduler, held)
    code = source_digest()
    with log:
        try:
            for record in results:
                record = _same_code(record, code)
                with signals_deferred():
                    _promote(record, store)
                    log.write(json.dumps(record) + "\n")
                    log.flush()
                if record["status"] == "done":
                    report.done += 1
                else:
                    report.failed += 1
                    report.errors[record["run_id"]] = record["error"]
                if progress is not None:
                    progress(report)
        except (Interrupted, KeyboardInterrupt) as exc:
            with signals_deferred():
                results.close()  # stops the workers (or cancels Dask tasks) and fills `held`
                signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
                for task in held.tasks:
                    record = {
                        **_base_record(task),
                        "status": "interrupted",
                        "error": f"stopped by {signal.Signals(signum).name}",
                        "wall_s": None,
                    }
                    log.write(json.dumps(record) + "\n")
                log.flush()
            raise
        except OSError as exc:
            raise write_failed(exc, path) from None
        finally:
            with signals_deferred():
                results.close()
                _sweep(store)
                consolidate(tasks, store)


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
        logged = rec.get("status", "pending")
        # A run logged done whose file is gone (removed as damaged) is to be run again.
        status = "done" if path.exists() else "pending" if logged == "done" else logged
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
                "error": rec.get("error") if status in ("failed", "interrupted") else None,
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
