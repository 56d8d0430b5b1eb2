"""A run is a function: ``run(scenario, seed) -> RunResult``.

Nothing is kept between runs, so batches, processes and clusters can call it
freely. Writing the results is separate (:func:`write_results`) and atomic: the
files appear together in their folder, or not at all, and never over files
secsim did not write.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from simulator.agencies.agency import territory_findings
from simulator.model import SecurityModel, collector_paused
from simulator.outputs import staged_folder
from simulator.records.metrics import RunTables
from simulator.records.recorder import RunRecords
from simulator.records.summary import Summary, flatten
from simulator.scenario.errors import Problem, ScenarioError
from simulator.scenario.loader import canonical_overrides, resolved_dict
from simulator.scenario.schema import Scenario
from simulator.stopping import raise_pending
from simulator.world.territory_file import data_files

Progress = Callable[[int, int], None]  # (days done, days in total)


@dataclass(frozen=True)
class RunResult:
    """Everything a run produced.

    Attributes:
        scenario: The resolved scenario that was run.
        seed: The seed used.
        summary: The run's summary (``summary.json``).
        incidents: One row per incident of the run, warm-up and drain included: calls,
            offences (those that stayed dark too) and hand-over tasks.
        timeseries: One row per day of the statistics window.
        districts: One row per district.
        agencies: One row per agency: resources, workload, response, cost.
        metadata: Provenance: scenario, seed, versions, wall time.
    """

    scenario: Scenario
    seed: int
    summary: Summary
    incidents: pa.Table
    timeseries: pd.DataFrame
    districts: pd.DataFrame
    agencies: pd.DataFrame
    metadata: dict[str, Any]


@functools.cache
def source_digest() -> str:
    """A digest of the simulator's own source files (``simulator/**/*.py``), as read once.

    Tells two codes apart where the version and the commit do not: a change not
    committed, an installed copy edited by hand.
    """
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def code_version() -> dict[str, str | None]:
    """Package version, the digest of its sources and, from a git checkout, the commit."""
    version, commit = _release()
    return {"version": version, "git_commit": commit, "source_digest": source_digest()}


@functools.cache
def _release() -> tuple[str | None, str | None]:
    """The package's version and its checkout's commit, found once in a process.

    Like the sources (:func:`source_digest`), they describe the code this process
    loaded: a commit made while it runs (a long batch, the dashboard) is not its
    code. Once, too, because asking git takes some 20 ms, which a batch of
    thousands of short runs would pay at every run.
    """
    try:
        version: str | None = metadata.version("secsim")
    except metadata.PackageNotFoundError:
        version = None
    commit = None
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        commit = out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        pass
    return version, commit


def run(
    scenario: Scenario, seed: int | None = None, *, progress: Progress | None = None
) -> RunResult:
    """Simulate a scenario and compute its outputs.

    Args:
        scenario: A checked scenario (see :func:`simulator.scenario.load_scenario`).
        seed: Seed of the random streams; ``scenario.run.seed`` if omitted.
        progress: Called after each simulated day with (days done, total days).

    Returns:
        The run's records, tables and summary.

    Raises:
        ScenarioError: If the scenario did not pass the territory check when it was
            loaded and fails it now (its communes, stations or districts are not in its
            territory, or it cannot fit in memory).

    The memory a run needs is checked by the callers, before they start any run
    (:func:`simulator.resources.check_fits`, once per batch for all its workers):
    checked again here, a run would compete with its sibling workers' memory.
    """
    if not scenario.passed(territory_findings):
        # Built in Python rather than loaded from a file: check it now, by the same rules.
        problems = [
            Problem(f"scenario '{scenario.name}'", None, None, path, message)
            for path, message in territory_findings(scenario)
        ]
        if problems:
            raise ScenarioError(problems)
        scenario.remember_passed([territory_findings])
    seed = scenario.run.seed if seed is None else seed
    # The collector stays off from the build to the tables (see collector_paused):
    # its passes over the run's objects would come between the days and in the
    # end's tables, of thousands of rows made from the incidents.
    with collector_paused():
        started = time.perf_counter()
        model = SecurityModel(scenario, seed)
        total_days = scenario.run.warmup_days + scenario.run.days
        for day in range(1, total_days + 1):
            model.run_until(day * 24.0)
            raise_pending()  # a stop signal that came while a compiled kernel ran
            if progress is not None:
                progress(day, total_days)
        return complete(model, scenario, seed, started=started)


def complete(model: SecurityModel, scenario: Scenario, seed: int, *, started: float) -> RunResult:
    """Drain a model run up to its horizon, close it and compute its outputs.

    :func:`run` and any caller that advanced the model its own way (the dashboard,
    step by step) end the same way, so they give the same records.

    Args:
        model: A model advanced to its horizon (``model.horizon_h``), not beyond.
        scenario: The scenario the model was built from.
        seed: The seed it was built with.
        started: ``time.perf_counter()`` when the run started (for the run time).

    Returns:
        The run's records, tables and summary.
    """
    # Drain: let calls of the window get their outcome; later calls are not counted.
    drain_end = model.horizon_h + scenario.run.drain_max_h
    while model.dispatcher.open_counted > 0 and model.time < drain_end:
        model.run_until(min(model.time + 1.0, drain_end))
        raise_pending()
    records = model.finish()
    return results(records, scenario, seed, started=started)


def results(records: RunRecords, scenario: Scenario, seed: int, *, started: float) -> RunResult:
    """A run's tables, summary and provenance, from its frozen records and its scenario.

    Args:
        records: What the run recorded (:meth:`simulator.model.SecurityModel.finish`).
        scenario: The scenario the run was built from.
        seed: The seed it was built with.
        started: ``time.perf_counter()`` when the run started (for the run time).

    Returns:
        The run's records, tables and summary.
    """
    sim_seconds = time.perf_counter() - started
    computed = RunTables(records, scenario)
    timeseries = computed.timeseries()
    districts = computed.district_table()
    agencies = computed.agency_table()
    wall = time.perf_counter() - started
    summary = computed.summary(seed=seed, runtime_s=wall)
    window = records.window_h
    facts = records.agencies
    meta = {
        "scenario": resolved_dict(scenario),
        "territory_files": data_files(scenario.territory),
        "seed": seed,
        "code": code_version(),
        "wall_time_s": wall,
        "simulation_s": sim_seconds,
        "events": records.events,
        "window_h": list(window),
        "time_origin": "model hour 0 is a Monday at 00:00",
        "policy_changes": [
            {"hour": p.start_h, "day": p.start_h / 24.0, "label": p.label}
            for p in records.periods[1:]
        ],
        "policy_changes_after_end": [
            {"day": hour / 24.0, "label": label} for hour, label in records.changes_after_end
        ],
        "agencies": {
            f.name: {
                "kind": f.kind,
                "level": f.level,
                "officers": f.officers,
                "units_by_hour": list(f.units_by_hour),
                "annual_cost_eur": f.annual_cost_eur,
                "communes": list(f.communes),
            }
            for f in facts
        },
        "units": {str(uid): label for uid, label in records.units},
    }
    return RunResult(
        scenario=scenario,
        seed=seed,
        summary=summary,
        incidents=records.incidents,
        timeseries=timeseries,
        districts=districts,
        agencies=agencies,
        metadata=meta,
    )


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value


def _write_table(table: pa.Table, path: Path) -> None:
    # No statistics timestamps or pandas index: identical inputs give identical bytes.
    pq.write_table(table, path, compression="zstd", store_schema=True)


def run_identity(
    name: str, seed: int, source: str | Path | None = None, changes: Sequence[str] = ()
) -> str:
    """What names a run in its folder's marker: its scenario, the file it came from, its seed.

    The file (its absolute path) tells apart two scenarios of one ``name``, as a
    copy of a file keeps its original's: running the copy into the original's folder
    needs ``--force``, where running the same file again replaces its earlier run.
    ``changes`` (the ``--set`` overrides) tell apart a variant of the file: its run
    does not silently replace the file's own results in their folder. They count by
    what they set (:func:`simulator.scenario.loader.canonical_overrides`), not by
    their order or spelling.
    """
    where = "" if source is None else f" ({Path(source).resolve()})"
    settings = canonical_overrides(changes)
    changed = f", with --set {' '.join(settings)}" if settings else ""
    return f"scenario {name}{where}{changed}, seed {seed}"


def write_results(
    result: RunResult,
    out_dir: str | Path,
    *,
    force: bool = False,
    source: str | Path | None = None,
    changes: Sequence[str] = (),
) -> Path:
    """Write a run's files into ``out_dir`` atomically.

    Files: ``summary.json`` and ``summary.parquet`` (the same, as one row of dotted
    columns), ``incidents.parquet``, ``timeseries.parquet``,
    ``districts.parquet``, ``agencies.parquet`` and ``run.json``, plus the
    ``.secsim`` marker. ``out_dir`` may be new, empty, or hold an earlier run of
    the same scenario and seed, from the same ``source`` file if one is named
    (replaced); an earlier secsim output of another scenario, file, seed, ``--set``
    ``changes`` or kind is replaced only with ``force``; anything else is refused (see
    :mod:`simulator.outputs` and :func:`run_identity`).

    Raises:
        OutputError: Refused, or the disk refused a write; nothing is left behind.
    """
    out = Path(out_dir)
    with staged_folder(
        out,
        "run",
        identity=run_identity(result.scenario.name, result.seed, source, changes),
        force=force,
    ) as tmp:
        (tmp / "summary.json").write_text(
            json.dumps(_json_safe(result.summary.as_json()), indent=2) + "\n", encoding="utf-8"
        )
        (tmp / "run.json").write_text(
            json.dumps(_json_safe(result.metadata), indent=2) + "\n", encoding="utf-8"
        )
        _write_table(result.incidents, tmp / "incidents.parquet")
        for name, frame in (
            ("timeseries", result.timeseries),
            ("districts", result.districts),
            ("agencies", result.agencies),
        ):
            _write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp / f"{name}.parquet")
        # The summary as one row too (dotted columns, as a batch's summaries.parquet).
        flat = pa.Table.from_pylist([flatten(result.summary.as_json())])
        _write_table(flat, tmp / "summary.parquet")
    return out
