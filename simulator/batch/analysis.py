"""Analysis of a results store: arm means, paired differences, sensitivity indices.

* Per arm (and design point): the mean of each output over replicates, with a
  95 % Student-t interval.
* Against the reference arm: the mean difference, with the interval of the
  *paired* differences (replicate i of both arms shares its seed, hence its
  calls: common random numbers) and, for comparison, the unpaired (Welch)
  interval; the ratio of their widths says how much the pairing bought.
* For ``sobol`` and ``morris`` designs: first-order and total Sobol indices, or
  Morris mu* and sigma, of each output (SALib), on the replicate means of each
  design point.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from simulator.batch.design import design_points, salib_problem
from simulator.batch.spec import ExperimentSpec
from simulator.outputs import staged_folder

LEVEL = 0.95
# SALib's Sobol analysis seeds its bootstrap only when ``seed`` is truthy (``if seed:``):
# 0 would leave the confidence intervals to numpy's global generator, different every call.
BOOTSTRAP_SEED = 1


@dataclass(frozen=True)
class Analysis:
    """Tables of an analysis."""

    arms: pd.DataFrame
    differences: pd.DataFrame
    sensitivity: pd.DataFrame | None


def _interval(values: np.ndarray) -> tuple[float, float, float]:
    values = values[~np.isnan(values)]
    if values.size == 0:
        return (np.nan, np.nan, np.nan)
    mean = float(values.mean())
    if values.size < 2:
        return (mean, np.nan, np.nan)
    half = float(
        stats.t.ppf(0.5 + LEVEL / 2, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size)
    )
    return (mean, mean - half, mean + half)


def _welch_half(a: np.ndarray, b: np.ndarray) -> float:
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = np.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1)) if se > 0 else 1.0
    return float(stats.t.ppf(0.5 + LEVEL / 2, dof) * se)


def arm_means(runs: pd.DataFrame, outputs: list[str]) -> pd.DataFrame:
    """Mean and 95 % interval of each output, per arm and design point."""
    rows = []
    for (arm, point), group in runs.groupby(["arm", "point"], sort=False):
        for output in outputs:
            if output not in group:
                continue
            mean, low, high = _interval(group[output].to_numpy(dtype=float))
            rows.append(
                {
                    "arm": arm,
                    "point": point,
                    "output": output,
                    "n": len(group),
                    "mean": mean,
                    "ci_low": low,
                    "ci_high": high,
                }
            )
    return pd.DataFrame(rows)


def paired_differences(runs: pd.DataFrame, outputs: list[str], reference: str) -> pd.DataFrame:
    """Each arm minus the reference, replicate by replicate (common random numbers)."""
    rows = []
    ref = runs[runs["arm"] == reference].set_index(["point", "replicate"])
    for arm, group in runs[runs["arm"] != reference].groupby("arm", sort=False):
        mine = group.set_index(["point", "replicate"])
        common = mine.index.intersection(ref.index)
        for output in outputs:
            if output not in mine or output not in ref:
                continue
            a = mine.loc[common, output].to_numpy(dtype=float)
            b = ref.loc[common, output].to_numpy(dtype=float)
            ok = ~(np.isnan(a) | np.isnan(b))
            a, b = a[ok], b[ok]
            if a.size < 2:
                continue
            mean, low, high = _interval(a - b)
            unpaired = _welch_half(a, b)
            paired = (high - low) / 2
            rows.append(
                {
                    "arm": arm,
                    "reference": reference,
                    "output": output,
                    "n_pairs": int(a.size),
                    "difference": mean,
                    "ci_low": low,
                    "ci_high": high,
                    "unpaired_ci_half_width": unpaired,
                    "paired_over_unpaired_width": paired / unpaired if unpaired > 0 else np.nan,
                }
            )
    return pd.DataFrame(rows)


def sensitivity(runs: pd.DataFrame, spec: ExperimentSpec, outputs: list[str]) -> pd.DataFrame:
    """Sobol or Morris indices of each output (on replicate means per design point)."""
    design = spec.design
    problem = salib_problem(design)
    points = design_points(design, int(spec.design_seed))
    rows = []
    for arm, group in runs.groupby("arm", sort=False):
        means = group.groupby("point")[outputs].mean().reindex(range(len(points)))
        for output in outputs:
            y = means[output].to_numpy(dtype=float)
            if np.isnan(y).any() or np.allclose(y, y[0]):
                continue
            if design.kind == "sobol":
                from SALib.analyze import sobol

                res = sobol.analyze(problem, y, calc_second_order=False, seed=BOOTSTRAP_SEED)
                for i, name in enumerate(problem["names"]):
                    rows.append(
                        {
                            "arm": arm,
                            "output": output,
                            "factor": name,
                            "S1": res["S1"][i],
                            "S1_conf": res["S1_conf"][i],
                            "ST": res["ST"][i],
                            "ST_conf": res["ST_conf"][i],
                        }
                    )
            else:
                from SALib.analyze import morris

                x = np.array([[p[n] for n in problem["names"]] for p in points], dtype=float)
                res = morris.analyze(problem, x, y, seed=BOOTSTRAP_SEED)
                for i, name in enumerate(problem["names"]):
                    rows.append(
                        {
                            "arm": arm,
                            "output": output,
                            "factor": name,
                            "mu_star": res["mu_star"][i],
                            "sigma": res["sigma"][i],
                            "mu_star_conf": res["mu_star_conf"][i],
                        }
                    )
    return pd.DataFrame(rows)


def analyze(store: Path) -> Analysis:
    """Analyse a store and write ``analysis/*.csv`` and ``analysis/report.md`` in it.

    The ``analysis`` folder is written whole, then swapped into place (see
    :mod:`simulator.outputs`).
    """
    identity = json.loads((store / "experiment.json").read_text(encoding="utf-8"))
    spec = ExperimentSpec.model_validate(identity["experiment"])
    runs = pd.read_parquet(store / "summaries.parquet")
    outputs = [o for o in spec.outputs if o in runs.columns]
    arms = arm_means(runs, outputs)
    diffs = paired_differences(runs, outputs, spec.reference_arm)
    sens = sensitivity(runs, spec, outputs) if spec.design.kind in ("sobol", "morris") else None
    with staged_folder(store / "analysis", "analysis") as folder:
        _write_analysis(folder, spec, runs, arms, diffs, sens)
    return Analysis(arms, diffs, sens)


def _write_analysis(
    folder: Path,
    spec: ExperimentSpec,
    runs: pd.DataFrame,
    arms: pd.DataFrame,
    diffs: pd.DataFrame,
    sens: pd.DataFrame | None,
) -> None:
    arms.to_csv(folder / "arms.csv", index=False)
    diffs.to_csv(folder / "differences.csv", index=False)
    parts = [
        f"# {spec.name}\n",
        spec.description + "\n" if spec.description else "",
        f"{len(runs)} runs; replicate i of every arm shares its seed.\n",
        "## Arms (mean and 95 % interval over replicates)\n",
        _markdown(arms),
    ]
    if len(diffs):
        parts += [
            f"## Differences from `{spec.reference_arm}` (paired by replicate)\n",
            _markdown(diffs),
        ]
    if sens is not None:
        sens.to_csv(folder / "sensitivity.csv", index=False)
        parts += [f"## Sensitivity ({spec.design.kind})\n", _markdown(sens)]
    (folder / "report.md").write_text("\n".join(parts), encoding="utf-8")


def _markdown(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "(none)\n"
    cols = list(frame.columns)

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "" if np.isnan(v) else f"{v:.4g}"
        return str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += [
        "| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)
    ]
    return "\n".join(lines) + "\n"
