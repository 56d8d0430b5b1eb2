"""Check a scenario as shipped against the targets of its calibration file.

    python calibration/check.py calibration/baseline.yaml [--seeds 10] [--workers 2]
        [--scenario scenarios/city_500k.yaml]

Runs the calibration file's scenario, unchanged, with seeds 1 to ``--seeds`` over the
file's horizon (``run.days`` after ``run.warmup_days``), computes every target the
file uses as `secsim calibrate` does, and prints each target's mean over the seeds
with its 95 % interval, its range and whether the mean is inside it. Exit status 0
when every `fit` target is in range, 1 otherwise. With ``--scenario``, another
scenario is checked against the same targets (a check out of sample: the settings
calibrated on one territory, run on another). `calibration/fits/baseline/` holds this
script's output for the shipped baseline and for `scenarios/city_500k.yaml`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.batch.pool import WorkerPool
from simulator.batch.runner import flatten
from simulator.calibration.spec import Calibration, load_calibration
from simulator.runner import run
from simulator.scenario import load_scenario

Job = tuple[Path, tuple[str, ...], int]


def _summary(job: Job) -> dict[str, Any]:
    """The flattened summary of one run (a worker's task)."""
    path, overrides, seed = job
    return flatten(run(load_scenario(path, list(overrides)), seed).summary.as_json())


def _died(job: Job, cause: str) -> dict[str, Any]:
    raise RuntimeError(f"the run of seed {job[2]} failed: {cause}")


def check(cal: Calibration, scenario: Path, seeds: int, workers: int) -> tuple[pd.DataFrame, bool]:
    """One row per target: mean over the seeds, its 95 % interval, range, in range."""
    r = cal.spec.run
    overrides = [f"run.days={r.days}", f"run.warmup_days={r.warmup_days}"]
    jobs: list[Job] = [(scenario, tuple(overrides), seed) for seed in range(1, seeds + 1)]
    # The batch's pool: its workers stop with this process (Ctrl-C, SIGTERM, or its death).
    with WorkerPool(_summary, workers, _died) as pool:
        runs = pd.DataFrame(list(pool.results(jobs))).sort_values("seed")
    rows = []
    for name, target in cal.targets.items():
        values = target.statistic(runs).to_numpy(dtype=float)
        mean = float(values.mean())
        spread = float(values.std(ddof=1)) if len(values) > 1 else np.nan
        half = 1.96 * spread / np.sqrt(len(values))
        low, high = target.bounds
        rows.append(
            {
                "target": name,
                "use": target.use,
                "mean": mean,
                "ci_low": mean - half,
                "ci_high": mean + half,
                "low": low,
                "high": high,
                "in_range": low <= mean <= high,
            }
        )
    table = pd.DataFrame(rows)
    ok = bool(table.loc[table["use"] == "fit", "in_range"].all())
    return table, ok


def main() -> int:
    """Run the check; 0 when every fit target is in range, 1 otherwise."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("calibration", type=Path, help="calibration YAML file")
    parser.add_argument("--seeds", type=int, default=10, help="seeds 1 to N (default 10)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument(
        "--scenario", type=Path, help="check this scenario instead of the calibration's"
    )
    args = parser.parse_args()
    cal = load_calibration(args.calibration)
    scenario = args.scenario.resolve() if args.scenario else cal.scenario_path
    table, ok = check(cal, scenario, args.seeds, args.workers)
    r = cal.spec.run
    print(
        f"{scenario.name} as shipped, seeds 1-{args.seeds}, {r.days} days after "
        f"{r.warmup_days} of warm-up: mean (95 % interval) against each target's range"
    )
    for row in table.itertuples():
        print(
            f"{row.target:38s} {row.use:5s} {row.mean:8.4g} ({row.ci_low:.4g} to "
            f"{row.ci_high:.4g})  range {row.low:g}-{row.high:g}  "
            f"{'ok' if row.in_range else 'OUT'}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
