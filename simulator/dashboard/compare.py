"""Compare two scenarios with paired replicates, as the dashboard's Compare page does.

Replicate *i* of both scenarios uses the *i*-th seed spawned from the root seed
(as ``secsim batch`` does), so both face the same calls for service and the
difference is estimated replicate by replicate (common random numbers). Means,
intervals and paired differences come from the batch analysis, so the page and
``secsim analyze`` agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from simulator.batch.analysis import arm_means, direction, paired_differences
from simulator.batch.runner import replicate_seeds
from simulator.resources import check_fits
from simulator.runner import RunResult, run
from simulator.scenario.kinds import payer_levels
from simulator.scenario.schema import Scenario

Progress = Callable[[int, int], None]  # (runs done, runs in total)

# Groups of indicators, in the order the page shows them.
GROUPS = ("response", "calls", "offences", "cost", "qpv")


def _weighted(values: pd.Series, weights: pd.Series) -> float:
    total = float(weights.sum())
    return float((values.fillna(0) * weights).sum() / total) if total > 0 else math.nan


def indicators(result: RunResult) -> dict[str, float]:
    """The compared indicators of one run, by name (``group: what``).

    Response (minutes, call to first unit on scene) overall, by agency and by
    priority, the share within the target time and the calls nobody reached
    (abandoned, or with no competent agency: not in the response times);
    offences actual and recorded and the dark figure; cost per year by payer;
    priority neighbourhoods (QPV) against the rest of the city.
    """
    s = result.summary.as_json()
    calls = s["calls"]
    out: dict[str, float] = {
        "response: mean (min)": s["response_min"]["mean"],
        "response: p90 (min)": s["response_min"]["p90"],
        "calls: share reached within target": s["response_min"]["within_target_share"],
        # Calls nobody reached are not in the response times: counted here.
        "calls: unanswered (abandoned)": calls["abandoned"],
        "calls: no agency may take": calls["no_agency"],
    }
    # (Every agency and priority has its entry; those no call reached have no mean.)
    for agency, block in sorted(s["response_min"].get("by_agency", {}).items()):
        if block["n"]:
            out[f"response: {agency} (min)"] = block["mean"]
    for priority, block in sorted(s["response_min"].get("by_priority", {}).items()):
        if block["n"]:
            out[f"response: priority {priority} (min)"] = block["mean"]
    offences = s.get("offences")
    if offences is not None:
        out["offences: actual"] = offences["actual"]
        out["offences: recorded"] = offences["recorded"]
        out["offences: dark figure share"] = s["dark_figure_share"]
    yearly = s["cost_eur_per_year"]
    for payer in payer_levels([k for k, v in yearly.items() if not isinstance(v, dict)]):
        out[f"cost: {payer} (M EUR a year)"] = yearly[payer] / 1e6
    d = result.districts
    qpv = d["type"] == "qpv"
    if qpv.any():
        days = max(s["days"], 1)
        for name, mask in (("QPV", qpv), ("rest", ~qpv)):
            part = d[mask]
            residents = float(part["residents"].sum())
            per_1000 = 1000 * 365 / days * float(part["offences_actual"].sum()) / residents
            out[f"qpv: offences per 1,000 a year, {name}"] = per_1000
            out[f"qpv: response mean, {name} (min)"] = _weighted(
                part["response_mean_min"], part["answered"]
            )
    return {k: (math.nan if v is None else float(v)) for k, v in out.items()}


@dataclass(frozen=True)
class Comparison:
    """Two scenarios side by side.

    Attributes:
        names: The two scenarios' labels (A, B).
        seeds: The replicates' seeds (shared by A and B).
        arms: Mean and 95 % interval of each indicator for each scenario
            (columns ``arm, output, n, mean, ci_low, ci_high``).
        differences: B minus A, paired by replicate, with its 95 % interval.
    """

    names: tuple[str, str]
    seeds: tuple[int, ...]
    arms: pd.DataFrame
    differences: pd.DataFrame

    def table(self) -> pd.DataFrame:
        """One row per indicator: A and B with intervals, and B - A."""
        a, b = self.names
        wide = self.arms.pivot(index="output", columns="arm", values=["mean", "ci_low", "ci_high"])
        rows = []
        diff = self.differences.set_index("output")
        for output in dict.fromkeys(self.arms["output"]):
            row: dict[str, Any] = {"indicator": output}
            for label, arm in (("A", a), ("B", b)):
                row[label] = wide.loc[output, ("mean", arm)]
                row[f"{label} low"] = wide.loc[output, ("ci_low", arm)]
                row[f"{label} high"] = wide.loc[output, ("ci_high", arm)]
            if output in diff.index:
                row["B - A"] = diff.loc[output, "difference"]
                row["B - A low"] = diff.loc[output, "ci_low"]
                row["B - A high"] = diff.loc[output, "ci_high"]
            low, high = row.get("B - A low", math.nan), row.get("B - A high", math.nan)
            row["verdict"] = verdict(low, high)
            rows.append(row)
        return pd.DataFrame(rows)


def verdict(low: float, high: float) -> str:
    """B against A in words, from the 95 % interval of the paired difference B - A."""
    return {
        "no interval": "no interval (too few values)",
        "higher": "B higher (95 % interval above 0)",
        "lower": "B lower (95 % interval below 0)",
        "no clear difference": "no clear difference (the interval includes 0)",
    }.get(direction(low, high), "the same")


def days_needed(scenario: Scenario) -> int:
    """The fewest statistics days (``run.days``) that see every change of its timeline in force.

    Timeline days count the warm-up (:mod:`simulator.scenario.timeline`): a change
    in force on day ``d`` (its day, plus its ``delay_days`` for a hire or a
    contract) needs ``d + 1 - warmup_days`` days of statistics.
    """
    last = max((float(event.effective_day) for event in scenario.timeline), default=-1.0)
    return max(1, math.floor(last) + 1 - scenario.run.warmup_days)


def compare(
    a: tuple[str, Scenario],
    b: tuple[str, Scenario],
    *,
    replicates: int,
    root_seed: int,
    progress: Progress | None = None,
) -> Comparison:
    """Run both scenarios ``replicates`` times on shared seeds and compare them.

    Args:
        a: Label and scenario of A (the reference).
        b: Label and scenario of B.
        replicates: Replicates per scenario (two or more for intervals).
        root_seed: Root of the replicates' seeds.
        progress: Called after each run with (runs done, runs in total).

    Raises:
        ResourceError: If a run of either scenario would not fit in memory.
    """
    if a[0] == b[0]:
        b = (f"{b[0]} (B)", b[1])
    for _, scenario in (a, b):
        check_fits(scenario)  # before a run allocates what cannot fit
    seeds = replicate_seeds(root_seed, replicates)
    rows = []
    total = 2 * replicates
    for i, seed in enumerate(seeds):
        for k, (name, scenario) in enumerate((a, b)):
            values = indicators(run(scenario, seed))
            rows.append({"arm": name, "point": 0, "replicate": i, **values})
            if progress is not None:
                progress(2 * i + k + 1, total)
    runs = pd.DataFrame(rows)
    outputs = [c for c in runs.columns if c not in ("arm", "point", "replicate")]
    return Comparison(
        names=(a[0], b[0]),
        seeds=tuple(seeds),
        arms=arm_means(runs, outputs),
        differences=paired_differences(runs, outputs, a[0]),
    )
