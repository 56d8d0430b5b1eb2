"""Elasticity of actual offences to State police officers, paired by seed.

The design of experiments/evidence/police_numbers.yaml at +30 %: the State police budget
21.0 M EUR (316 officers) against 27.3 M EUR (411 officers, units scaled by the budget),
seeds 1-4 (``SEEDS=1,2,...``), 90 days (``DAYS=...``) after 7 of warm-up. The elasticity
and its 95 % interval are simulator.batch.effects.elasticity's (delta method, Student's t).

    python elasticity.py OUT.json LABEL=SCENARIO.yaml[;dotted.key=value;...] ...
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from simulator.batch.effects import elasticity
from simulator.batch.pool import WorkerPool
from simulator.batch.runner import flatten
from simulator.outputs import write_text_atomically
from simulator.runner import run
from simulator.scenario.loader import load_scenario
from simulator.stopping import install_handlers

SEEDS = [int(x) for x in os.environ.get("SEEDS", "1,2,3,4").split(",")]
RUN = [f"run.days={os.environ.get('DAYS', '90')}", "run.warmup_days=7"]
ARMS = {"reference": [], "plus_30": ["agencies.state_police.budget_eur=27300000"]}
OUTPUTS = [
    "officers.state_police",
    "offences.actual_per_1000",
    "offences.recorded_per_1000",
    "road_share.state_police",
    "officers.pm_centre",
    "response_min.by_agency.pm_centre.n",
    "response_min.by_agency.state_police.n",
    "response_min.by_agency.state_police.mean",
    "residents",
    "days",
]


Job = tuple[str, str, str, int]


def one(job: Job) -> dict[str, Any]:
    """Run one arm of one point with one seed (a worker's task)."""
    label, spec, arm, seed = job
    path, *sets = spec.split(";")
    scenario = load_scenario(path, RUN + sets + ARMS[arm])
    summary = flatten(run(scenario, seed).summary.as_json())
    return {"label": label, "arm": arm, "seed": seed, "out": {k: summary[k] for k in OUTPUTS}}


def died(job: Job, cause: str) -> dict[str, Any]:
    """A worker died (killed, out of memory): stop, naming its run."""
    raise RuntimeError(f"the run {job[0]} {job[2]} seed {job[3]} failed: {cause}")


def point_table(arms: dict[str, dict[int, dict[str, Any]]]) -> dict[str, float]:
    """The elasticity and the reference arm's figures of one point."""
    ref = [arms["reference"][s] for s in SEEDS]
    plus = [arms["plus_30"][s] for s in SEEDS]

    def v(rows: list[dict[str, Any]], key: str) -> np.ndarray:
        return np.array([row[key] for row in rows], dtype=float)

    e = elasticity(
        v(plus, "offences.actual_per_1000"),
        v(ref, "offences.actual_per_1000"),
        v(plus, "officers.state_police"),
        v(ref, "officers.state_police"),
    )
    per_year = 365 / ref[0]["days"]
    pm = v(ref, "response_min.by_agency.pm_centre.n") / v(ref, "officers.pm_centre")
    sp = v(ref, "response_min.by_agency.state_police.n") / v(ref, "residents")
    return {
        "elasticity": e.value,
        "low": e.low,
        "high": e.high,
        "n": e.n,
        "officers_ref": v(ref, "officers.state_police").mean(),
        "officers_plus": v(plus, "officers.state_police").mean(),
        "actual_per_1000_year": v(ref, "offences.actual_per_1000").mean(),
        "recorded_per_1000_year": v(ref, "offences.recorded_per_1000").mean(),
        "road_share": v(ref, "road_share.state_police").mean(),
        "pm_per_officer_year": pm.mean() * per_year,
        "sp_calls_per_1000_year": sp.mean() * 1000 * per_year,
        "sp_response_min": v(ref, "response_min.by_agency.state_police.mean").mean(),
    }


def main() -> None:
    """Run every point's pairs on two processes and write OUT.json.

    The runs go through the batch's worker pool: Ctrl-C or SIGTERM stops them all.
    OUT.json must not exist yet (no file is replaced), and is written whole or not at
    all.
    """
    install_handlers()
    out_path = Path(sys.argv[1])
    if out_path.exists():
        sys.exit(f"{out_path} exists: name a new file (this script replaces none)")
    points = dict(arg.split("=", 1) for arg in sys.argv[2:])
    jobs = [(lab, spec, arm, s) for lab, spec in points.items() for arm in ARMS for s in SEEDS]
    runs: dict[str, dict[str, dict[int, dict[str, Any]]]] = {}
    with WorkerPool(one, 2, died) as pool:
        for record in pool.results(jobs):
            arms = runs.setdefault(record["label"], {}).setdefault(record["arm"], {})
            arms[record["seed"]] = record["out"]
    table = {label: point_table(arms) for label, arms in runs.items()}
    for label, row in table.items():
        print(label, json.dumps(row), flush=True)
    record = {"table": table, "runs": runs}
    write_text_atomically(out_path, json.dumps(record, indent=1, default=str))


if __name__ == "__main__":
    main()
