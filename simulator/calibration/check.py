"""Check a scenario as shipped against the targets of a calibration file.

``secsim calibrate CALIBRATION.yaml --check`` runs the calibration file's scenario
(or another one, ``--scenario``), unchanged, with seeds 1 to N over the file's
horizon (``run.days`` after ``run.warmup_days``), computes every target the file
uses as the calibration does, and compares each target's mean over the seeds with
its range. The check of the settings that a calibration shipped, and of a scenario
out of sample (the settings calibrated on one territory, run on another).

The runs go through the batch's worker pool (:class:`simulator.batch.pool.WorkerPool`):
its workers stop with the command (Ctrl-C, SIGTERM, or its death). Each run is a
function of its scenario and seed, so the figures do not depend on the number of
workers. Nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from simulator.batch.pool import WorkerPool
from simulator.calibration.spec import Calibration
from simulator.calibration.targets import TargetSpec
from simulator.records.summary import flatten
from simulator.resources import check_fits
from simulator.runner import run
from simulator.scenario import load_scenario

Job = tuple[Path, tuple[str, ...], int]
COLUMNS = ("target", "use", "mean", "ci_low", "ci_high", "low", "high", "in_range")


def _summary(job: Job) -> dict[str, Any]:
    """The flattened summary of one run (a worker's task)."""
    path, overrides, seed = job
    return flatten(run(load_scenario(path, list(overrides)), seed).summary.as_json())


class MissingOutput(ValueError):
    """A target reads a value the checked scenario's runs do not report."""


def _died(job: Job, cause: str) -> dict[str, Any]:
    raise RuntimeError(f"the run of seed {job[2]} failed: {cause}")


def check_targets(
    calibration: Calibration,
    scenario: Path,
    *,
    seeds: int,
    workers: int,
    days: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """One row per target of ``calibration``: its mean over the seeds against its range.

    Args:
        calibration: The checked calibration file (its targets and its horizon).
        scenario: The scenario file to run (the calibration's own, or another).
        seeds: Runs with seeds 1 to ``seeds`` (at least 2 for an interval).
        workers: Local worker processes.
        days: Days counted after the warm-up, instead of the file's ``run.days`` (a
            year, say, where the calibration ran 60 days); rates are per year either way.
        progress: Called with (runs done, runs) as runs finish.

    Raises:
        ScenarioError: If the scenario file is not valid.
        ResourceError: If ``workers`` of its runs at once would not fit in memory.
        MissingOutput: If a target reads a value the runs do not report.
        ValueError: If ``days`` is less than 1.

    Returns:
        Columns :data:`COLUMNS`: the target, its use (``fit``, ``check``), the mean
        over the seeds with its 95 % interval (:func:`target_row`), the target's
        range and whether the mean lies inside it.
    """
    r = calibration.spec.run
    horizon = r.days if days is None else days
    if horizon < 1:
        raise ValueError(f"days must be at least 1, not {horizon}")
    overrides = (f"run.days={horizon}", f"run.warmup_days={r.warmup_days}")
    # Checked here, once, before any worker starts: a bad file or a territory that
    # cannot fit (``workers`` runs at once) is refused with its message.
    check_fits(load_scenario(scenario, list(overrides)), min(workers, seeds))
    jobs: list[Job] = [(scenario, overrides, seed) for seed in range(1, seeds + 1)]
    records = []
    with WorkerPool(_summary, workers, _died) as pool:
        for record in pool.results(jobs):
            records.append(record)
            if progress is not None:
                progress(len(records), len(jobs))
    runs = pd.DataFrame(records).sort_values("seed", ignore_index=True)
    rows = []
    for name, target in calibration.targets.items():
        absent = [c for c in target.columns if c not in runs.columns]
        if absent:  # e.g. --scenario without an agency the targets name
            raise MissingOutput(
                f"target '{name}' reads '{absent[0]}', which the runs of {scenario.name} "
                "do not report (does the scenario have what the target names?)"
            )
        rows.append(target_row(name, target, target.statistic(runs).to_numpy(dtype=float)))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def target_row(name: str, target: TargetSpec, values: np.ndarray) -> tuple[Any, ...]:
    """A row of :func:`check_targets`: the target's values over the seeds, against its range.

    The 95 % interval of the mean (Student's t) is cut to where the statistic can
    lie (:attr:`TargetSpec.possible`: a share's within [0, 1]); NaN with one seed.
    """
    mean = float(values.mean())
    n = len(values)
    low, high = target.bounds
    if n > 1:
        ci = target.interval(
            mean, float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / np.sqrt(n))
        )
    else:
        ci = (np.nan, np.nan)
    return (name, target.use, mean, *ci, low, high, low <= mean <= high)


def fit_in_range(table: pd.DataFrame) -> bool:
    """Whether every ``fit`` target of a :func:`check_targets` table is in range."""
    return bool(table.loc[table["use"] == "fit", "in_range"].all())


def check_lines(
    table: pd.DataFrame,
    scenario: Path,
    calibration: Calibration,
    seeds: int,
    days: int | None = None,
) -> str:
    """The check as plain text: a heading, then one line per target."""
    r = calibration.spec.run
    horizon = r.days if days is None else days
    lines = [
        f"{scenario.name} as shipped, seeds 1-{seeds}, {horizon} days after "
        f"{r.warmup_days} of warm-up: mean (95 % interval) against each target's range"
    ]
    for row in table.itertuples():
        lines.append(
            f"{row.target:38s} {row.use:5s} {row.mean:8.4g} ({row.ci_low:.4g} to "
            f"{row.ci_high:.4g})  range {row.low:g}-{row.high:g}  "
            f"{'ok' if row.in_range else 'OUT'}"
        )
    return "\n".join(lines) + "\n"
