"""A run is a function: ``run(scenario, seed) -> RunResult``.

Nothing is kept between runs, so batches, processes and clusters can call it
freely. Writing the results is separate (:func:`write_results`) and atomic: the
files appear together in their folder, or not at all, and never over files
secsim did not write.
"""

from __future__ import annotations

import json
import math
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from simulator.agencies.agency import Agency
from simulator.crime.engine import cctv_coverage
from simulator.model import SecurityModel
from simulator.outputs import staged_folder
from simulator.records.incidents import incidents_table
from simulator.records.metrics import (
    STATE_COLUMNS,
    AgencyFacts,
    add_costs,
    agency_table,
    costs,
    daily_series,
    district_table,
    offence_summary,
    summarise,
)
from simulator.scenario.kinds import payer_levels
from simulator.scenario.loader import resolved_dict
from simulator.scenario.schema import Scenario
from simulator.world.territory import Territory
from simulator.world.territory_file import data_files

Progress = Callable[[int, int], None]  # (days done, days in total)


@dataclass(frozen=True)
class RunResult:
    """Everything a run produced.

    Attributes:
        scenario: The resolved scenario that was run.
        seed: The seed used.
        summary: One-row summary (nested mapping).
        incidents: One record per incident reported before the horizon.
        timeseries: One row per day of the statistics window.
        districts: One row per district.
        agencies: One row per agency: resources, workload, response, cost.
        metadata: Provenance: scenario, seed, versions, wall time.
    """

    scenario: Scenario
    seed: int
    summary: dict[str, Any]
    incidents: pa.Table
    timeseries: pd.DataFrame
    districts: pd.DataFrame
    agencies: pd.DataFrame
    metadata: dict[str, Any]


def _agency_facts(model: SecurityModel, agencies: list[Agency] | None = None) -> list[AgencyFacts]:
    t = model.territory
    facts = []
    for a in model.agencies if agencies is None else agencies:
        communes = [i for i in range(len(t.commune_names)) if a.jurisdiction[i]]
        facts.append(
            AgencyFacts(
                name=a.name,
                kind=a.kind,
                level=a.payer,
                officers=a.staffing.officers,
                annual_cost_eur=a.staffing.annual_cost_eur,
                units_by_hour=a.staffing.units_by_hour,
                communes=tuple(t.commune_names[i] for i in communes),
                commune_weights=tuple(float(t.residents[t.commune == i].sum()) for i in communes),
            )
        )
    return facts


def _programme_costs(t: Territory, spec: Scenario) -> list[AgencyFacts]:
    """Spending that is not an agency: CCTV and prevention, both paid by communes."""
    out: list[AgencyFacts] = []
    names = tuple(t.commune_names)
    if spec.crime is not None and spec.cctv.zones:
        coverage = cctv_coverage(t, spec.cctv)
        cameras = float(coverage.sum())  # fully covered cell equivalents
        cctv = spec.cctv
        annual = cameras * cctv.camera_eur_per_year + (
            cctv.operators * cctv.operator_positions_per_seat * cctv.operator_eur_per_year
        )
        weights = tuple(float(coverage[t.commune == k].sum()) for k in range(len(names)))
        out.append(
            AgencyFacts("cctv", "programme", "commune", 0.0, annual, (0,) * 24, names, weights)
        )
    if spec.crime is not None:
        prevention = spec.crime.drug_markets.prevention_eur_per_year
        if prevention > 0:
            weights = tuple(float(t.residents[t.commune == k].sum()) for k in range(len(names)))
            out.append(
                AgencyFacts(
                    "prevention", "programme", "commune", 0.0, prevention, (0,) * 24, names, weights
                )
            )
    return out


def _on_duty_frame(model: SecurityModel) -> pd.DataFrame:
    names = [a.name for a in model.agencies]
    frame = pd.DataFrame(model.on_duty_log, columns=["hour", "agency", "units"])
    return frame.assign(agency=[names[i] for i in frame["agency"]])


def _window_costs(model: SecurityModel) -> dict[str, Any]:
    """Costs over the window, period by period when the timeline changed the policy."""
    w0, w1 = model.window_h
    log = model.policy_log
    total: dict[str, Any] = costs([], 0.0)
    for k, (start, _label, scenario, agencies) in enumerate(log):
        end = log[k + 1][0] if k + 1 < len(log) else w1
        days = max(0.0, min(end, w1) - max(start, w0)) / 24.0
        if days > 0:
            payers = [*_agency_facts(model, agencies), *_programme_costs(model.territory, scenario)]
            total = add_costs(total, costs(payers, days))
    return total


def _districts_frame(model: SecurityModel) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    t = model.territory
    land = t.land
    d = t.district[land]
    n = t.n_districts
    frame = pd.DataFrame(
        {
            "district": list(t.district_names),
            "type": [dt.value for dt in t.district_types],
            "commune": [t.commune_names[c] for c in t.district_commune],
            "cells": np.bincount(d, minlength=n).astype("int64"),
            "residents": np.bincount(d, weights=t.residents[land], minlength=n).astype("int64"),
            "jobs": np.bincount(d, weights=t.jobs[land], minlength=n).astype("int64"),
        }
    )
    presence = model.window_presence()
    by_level: dict[str, np.ndarray] = {}
    for level in payer_levels([a.payer for a in model.agencies]):
        rows = [a.index for a in model.agencies if a.payer == level]
        cell_hours = presence[rows].sum(axis=0) if rows else np.zeros(t.n_cells)
        # Presence off land (a unit crossing between two communes) belongs to no district.
        by_level[level] = np.bincount(d, weights=cell_hours[land], minlength=n)
    return frame, by_level


def code_version() -> dict[str, str | None]:
    """Package version and, when run from a git checkout, the commit."""
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
    return {"version": version, "git_commit": commit}


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

    The memory a run needs is checked by the callers, before they start any run
    (:func:`simulator.resources.check_fits`, once per batch for all its workers):
    checked again here, a run would compete with its sibling workers' memory.
    """
    seed = scenario.run.seed if seed is None else seed
    started = time.perf_counter()
    model = SecurityModel(scenario, seed)
    total_days = scenario.run.warmup_days + scenario.run.days
    for day in range(1, total_days + 1):
        model.run_until(day * 24.0)
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
    horizon = model.horizon_h
    # Drain: let calls of the window get their outcome; later calls are not counted.
    drain_end = horizon + scenario.run.drain_max_h
    while model.dispatcher.open_counted > 0 and model.time < drain_end:
        model.run_until(min(model.time + 1.0, drain_end))
    model.finish()
    sim_seconds = time.perf_counter() - started

    t = model.territory
    everything = (*model.dispatcher.incidents, *model.unattended, *model.pending_reports())
    kept = [i for i in everything if i.t_occurred_h < horizon]
    kept.sort(key=lambda i: i.incident_id)
    district_types = tuple(dt.value for dt in t.district_types)
    table = incidents_table(kept, t.district_names, district_types, t.commune_names)
    frame = table.to_pandas()
    states = pd.DataFrame(model.state_log, columns=STATE_COLUMNS)
    facts = _agency_facts(model)
    cost_window = _window_costs(model)
    summary_body = summarise(
        frame,
        states,
        facts,
        window_h=model.window_h,
        response_target_min=scenario.dispatch.response_target_min,
        cost_window=cost_window,
    )
    districts, presence = _districts_frame(model)
    pop = model.population
    summary_body["trust"] = {
        "mean_start": model.trust_start,
        "mean_end": float(pop.trust.mean()),
    }
    summary_body["fear"] = {"mean_end": float(pop.fear.mean())}
    if model.crime is not None:
        res_by_type = districts.groupby("type")["residents"].sum().to_dict()
        summary_body["offences"] = offence_summary(
            frame,
            model.window_h,
            int(t.residents.sum()),
            model.crime.types,
            {str(k): int(v) for k, v in res_by_type.items()},
        )
        summary_body["dark_figure_share"] = summary_body["offences"]["dark_figure_share"]
        summary_body["victimised_share"] = float((pop.victimisations > 0).mean())
    wall = time.perf_counter() - started
    summary = {
        "scenario": scenario.name,
        "seed": seed,
        "days": scenario.run.days,
        "warmup_days": scenario.run.warmup_days,
        "residents": int(t.residents.sum()),
        **summary_body,
        "events": model.n_events,
        "runtime_s": wall,
    }
    meta = {
        "scenario": resolved_dict(scenario),
        "territory_files": data_files(scenario.territory),
        "seed": seed,
        "code": code_version(),
        "wall_time_s": wall,
        "simulation_s": sim_seconds,
        "events": model.n_events,
        "window_h": list(model.window_h),
        "time_origin": "model hour 0 is a Monday at 00:00",
        "policy_changes": [
            {"hour": hour, "day": hour / 24.0, "label": label}
            for hour, label, _, _ in model.policy_log[1:]
        ],
        "policy_changes_after_end": [
            {"day": c.hour / 24.0, "label": c.label} for c in model.changes_not_reached()
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
        "units": {str(u.unique_id): u.label for units in model.units for u in units},
    }
    return RunResult(
        scenario=scenario,
        seed=seed,
        summary=summary,
        incidents=table,
        timeseries=daily_series(frame, model.window_h, _on_duty_frame(model)),
        districts=district_table(frame, model.window_h, districts, presence),
        agencies=agency_table(frame, states, facts, model.window_h, cost_window),
        metadata=meta,
    )


def summary_template() -> dict[str, Any]:
    """The shape of a run's summary, from empty records: what experiment outputs may name.

    Mappings that hold one entry per agency, type, priority or commune are empty here
    (their keys depend on the scenario), except ``offences.by_type``, which shows the
    entry of one offence type.
    """
    frame = incidents_table([], ("d",), ("residential",), ("c",)).to_pandas()
    window = (0.0, 24.0)
    states = pd.DataFrame(columns=STATE_COLUMNS)
    body = summarise(frame, states, [], window_h=window, response_target_min=[15.0])
    body["trust"] = {"mean_start": None, "mean_end": None}
    body["fear"] = {"mean_end": None}
    body["offences"] = offence_summary(frame, window, 1, ["offence"], {"residential": 1})
    body["dark_figure_share"] = None
    body["victimised_share"] = None
    return {
        "scenario": None,
        "seed": None,
        "days": None,
        "warmup_days": None,
        "residents": None,
        **body,
        "events": None,
        "runtime_s": None,
    }


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


def run_identity(result: RunResult) -> str:
    """What names a run in its folder's marker: its scenario and seed."""
    return f"scenario {result.scenario.name}, seed {result.seed}"


def write_results(result: RunResult, out_dir: str | Path, *, force: bool = False) -> Path:
    """Write a run's files into ``out_dir`` atomically.

    Files: ``summary.json``, ``incidents.parquet``, ``timeseries.parquet``,
    ``districts.parquet``, ``agencies.parquet`` and ``run.json``, plus the
    ``.secsim`` marker. ``out_dir`` may be new, empty, or hold an earlier run of
    the same scenario and seed (replaced); an earlier secsim output of another
    scenario, seed or kind is replaced only with ``force``; anything else is
    refused (see :mod:`simulator.outputs`).

    Raises:
        OutputError: Refused, or the disk refused a write; nothing is left behind.
    """
    out = Path(out_dir)
    with staged_folder(out, "run", identity=run_identity(result), force=force) as tmp:
        (tmp / "summary.json").write_text(
            json.dumps(_json_safe(result.summary), indent=2) + "\n", encoding="utf-8"
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
    return out
