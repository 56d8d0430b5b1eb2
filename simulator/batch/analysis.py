"""Analysis of a results store: arm means, paired differences, sensitivity indices.

* Per arm (and design point): the mean of each output over replicates, with a
  95 % Student-t interval.
* Against the reference arm: the mean difference, with the interval of the
  *paired* differences (replicate i of both arms shares its seed, hence its
  calls: common random numbers) and, for comparison, the unpaired (Welch)
  interval; the ratio of their widths says how much the pairing bought.
* For ``sobol`` designs: first-order and total Sobol indices of each output, on the
  replicate means of each design point, computed from a Gaussian-process emulator of
  them with 95 % intervals from its posterior realisations
  (:mod:`simulator.batch.emulated`), and beside them SALib's direct Monte Carlo
  estimates with their bootstrap intervals, which are far wider for the same runs.
* For ``morris`` designs: Morris mu* and sigma (SALib), with mu*'s bootstrap interval.
* For both, the share of the variance of the point means that is simulation noise
  (:class:`Noise`), which needs 2 or more replicates per point.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from simulator.batch.design import design_points, salib_problem
from simulator.batch.spec import ExperimentSpec
from simulator.outputs import OutputError, lock_holder, staged_folder

if TYPE_CHECKING:  # the module imports scikit-learn, slow: the dashboard imports this one
    from simulator.batch.emulated import EmulatedIndices

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
            values = group[output].to_numpy(dtype=float)
            mean, low, high = _interval(values)
            rows.append(
                {
                    "arm": arm,
                    "point": point,
                    "output": output,
                    "n": int(np.count_nonzero(~np.isnan(values))),  # the runs with a value
                    "mean": mean,
                    "ci_low": low,
                    "ci_high": high,
                }
            )
    return pd.DataFrame(rows)


def direction(low: float, high: float) -> str:
    """A difference's sign in words, from its 95 % interval (``low``, ``high``)."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "no interval"
    if low == high == 0.0:
        return "the same"
    if low > 0.0:
        return "higher"
    if high < 0.0:
        return "lower"
    return "no clear difference"


def paired_differences(runs: pd.DataFrame, outputs: list[str], reference: str) -> pd.DataFrame:
    """Each arm minus the reference, replicate by replicate (common random numbers).

    With a design, at each design point on its own: the points differ by their
    factors, and their replicates share seeds, so pooling them would mix the
    factors' spread into the unpaired interval and count dependent pairs as
    independent.
    """
    rows = []
    ref = runs[runs["arm"] == reference].set_index(["point", "replicate"])
    for (arm, point), group in runs[runs["arm"] != reference].groupby(["arm", "point"], sort=False):
        mine = group.set_index(["point", "replicate"])
        common = mine.index.intersection(ref.index)
        for output in outputs:
            if output not in mine or output not in ref:
                continue
            a = mine.loc[common, output].to_numpy(dtype=float)
            b = ref.loc[common, output].to_numpy(dtype=float)
            ok = ~(np.isnan(a) | np.isnan(b))
            a, b = a[ok], b[ok]
            if a.size == 0:
                continue
            # One pair (one replicate): its difference, with no interval ("no interval").
            mean, low, high = _interval(a - b)
            unpaired = _welch_half(a, b) if a.size > 1 else np.nan
            paired = (high - low) / 2
            rows.append(
                {
                    "arm": arm,
                    "reference": reference,
                    "point": int(point),
                    "output": output,
                    "n_pairs": int(a.size),
                    "difference": mean,
                    "ci_low": low,
                    "ci_high": high,
                    "verdict": direction(low, high),
                    "unpaired_ci_half_width": unpaired,
                    "paired_over_unpaired_width": paired / unpaired if unpaired > 0 else np.nan,
                }
            )
    return pd.DataFrame(rows, columns=DIFFERENCE_COLUMNS)


# The columns of paired_differences (and differences.csv), with a header even when no arm
# has a reference to differ from.
DIFFERENCE_COLUMNS = [
    "arm",
    "reference",
    "point",
    "output",
    "n_pairs",
    "difference",
    "ci_low",
    "ci_high",
    "verdict",
    "unpaired_ci_half_width",
    "paired_over_unpaired_width",
]


@dataclass(frozen=True)
class Noise:
    """How much of the variance of an output's point means is simulation noise.

    The indices' denominator is the variance of the point means over the design.
    A point mean is the parameters' effect plus the mean of its replicates' noise;
    replicate ``i`` of every point shares its seed, so part of that noise is common
    to every point, shifts every point mean alike and cancels out of the indices. The
    rest, the point x replicate interaction of a two-way analysis of variance, adds
    ``residual variance / R`` to the variance of the point means: that is the part of
    the denominator that no parameter explains. A total index (Jansen estimator, as
    in SALib) counts it once more, for the two runs it compares: with a noise share
    ``s``, every factor's total index is inflated by up to about ``s``, and first-order
    indices are shrunk by the factor ``1 - s`` and made noisier.

    Attributes:
        points: Design points.
        replicates: Replicates of the point with the fewest (a failed run leaves one
            fewer).
        variance: Variance of the point means over the design points.
        noise_variance: Estimated noise variance of a point mean (NaN if not estimable).
        share: ``noise_variance / variance`` (NaN if not estimable); not clipped, so
            sampling error can put it above 1.
        low: Lower end of its 95 % bootstrap interval (design blocks resampled).
        high: Upper end of that interval.
        within_point_share: Mean within-point variance / R over ``variance``: the share
            if the replicates' noise were independent from point to point. Above
            ``share`` when common random numbers make replicate ``i`` alike at every
            point (that common part does not reach the indices).
        note: Why the share is not estimable, or how it was estimated; empty otherwise.
    """

    points: int
    replicates: int
    variance: float
    noise_variance: float
    share: float
    low: float
    high: float
    within_point_share: float
    note: str


NOISE_RESAMPLES = 1000


def _noise_parts(values: np.ndarray, inv_counts: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Noise variance, total variance and within-point noise variance of point means.

    Args:
        values: Runs, one row per design point, one column per replicate (complete).
        inv_counts: ``1 / replicates`` in each point's mean.
        means: The point means the indices are computed on.
    """
    m, r = values.shape
    resid = values - values.mean(axis=1, keepdims=True) - values.mean(axis=0) + values.mean()
    interaction = float((resid**2).sum()) / ((m - 1) * (r - 1))
    within = float(values.var(axis=1, ddof=1).mean())
    scale = float(inv_counts.mean())
    return np.array([interaction * scale, float(means.var(ddof=1)), within * scale])


def simulation_noise(values: pd.DataFrame, block: int) -> Noise:
    """The share of the variance of point means that is simulation noise (see :class:`Noise`).

    Args:
        values: One output's runs: one row per design point, in design order, one
            column per replicate (seed), NaN where a run is missing.
        block: Consecutive design points drawn together (a Sobol base sample and its
            cross-samples: k + 2; a Morris trajectory: k + 1); the interval resamples
            whole blocks, which are independent of one another (with a single block
            there is no interval).

    Raises:
        ValueError: If ``block`` does not divide the design, or a point has no run.
    """
    table = values.to_numpy(dtype=float)
    m = table.shape[0]
    if block < 1 or m == 0 or m % block:
        raise ValueError(f"{m} design points do not form whole blocks of {block}")
    counts = (~np.isnan(table)).sum(axis=1)
    if (counts == 0).any():
        raise ValueError(f"design point {int(np.argmax(counts == 0))} has no run")
    means = np.nanmean(table, axis=1)
    total = float(means.var(ddof=1))
    complete = table[:, ~np.isnan(table).any(axis=0)]
    nan = float("nan")
    if counts.max() < 2:
        note = (
            "not estimable: 1 replicate per design point, so simulation noise cannot be "
            "told apart from the parameters' effects (use 2 or more replicates)"
        )
        return Noise(m, int(counts.min()), total, nan, nan, nan, nan, nan, note)
    if complete.shape[1] < 2:
        note = "not estimable: fewer than 2 replicates (seeds) gave a value at every design point"
        return Noise(m, int(counts.min()), total, nan, nan, nan, nan, nan, note)
    note = ""
    if complete.shape[1] < table.shape[1]:
        note = (
            f"estimated on the {complete.shape[1]} replicates that gave a value at every "
            "design point"
        )
    inv_counts = 1.0 / counts
    noise, _, within = _noise_parts(complete, inv_counts, means)
    blocks = m // block
    if blocks < 2:
        note = "; ".join([*filter(None, [note]), "no interval: a single block of design points"])
        return Noise(
            m, int(counts.min()), total, noise, noise / total, nan, nan, within / total, note
        )
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    offsets = np.arange(block)
    shares = np.empty(NOISE_RESAMPLES)
    for b in range(NOISE_RESAMPLES):
        rows = (rng.integers(blocks, size=blocks)[:, None] * block + offsets).ravel()
        parts = _noise_parts(complete[rows], inv_counts[rows], means[rows])
        shares[b] = parts[0] / parts[1] if parts[1] > 0 else np.nan
    low, high = np.nanpercentile(shares, [100 * (1 - LEVEL) / 2, 100 * (1 + LEVEL) / 2])
    return Noise(
        m,
        int(counts.min()),
        total,
        noise,
        noise / total,
        float(low),
        float(high),
        within / total,
        note,
    )


def _noise_may_be_all(noise: Noise) -> bool:
    """Whether the point means may differ by simulation noise alone (95 % interval reaches 1).

    Then an emulator fits noise: its indices would read as precise (one at 1.00,
    interval 0.90-1.10, where the noise share was 0.96) and mean nothing.
    """
    top = noise.high if np.isfinite(noise.high) else noise.share
    return bool(np.isfinite(top) and top >= 1.0)


def _noise_only(k: int, noise: Noise) -> EmulatedIndices:
    """No indices: what :func:`_noise_may_be_all` found, said in the emulator's note."""
    from simulator.batch.emulated import EmulatedIndices

    nan = np.full(k, np.nan)
    interval = f" (95 % interval up to {noise.high:.2g})" if np.isfinite(noise.high) else ""
    note = (
        f"not estimable: simulation noise is {noise.share:.2g} of the variance of the point "
        f"means{interval}, so the points may differ by noise alone; more replicates or wider "
        "factor ranges give the parameters' effects room"
    )
    return EmulatedIndices(nan, nan, nan, nan, nan, nan, float("nan"), float("nan"), note)


def sensitivity(runs: pd.DataFrame, spec: ExperimentSpec, outputs: list[str]) -> pd.DataFrame:
    """Sobol or Morris indices of each output, beside the share of simulation noise.

    Indices are computed on the replicate means of each design point; every row also
    gives the output's :class:`Noise` (``noise_*`` columns, repeated on each factor's
    row). For a Sobol design, one row per output and factor:

    * ``S1``, ``ST``: first-order and total indices of a Gaussian-process emulator of
      the point means (:func:`~simulator.batch.emulated.emulated_indices`), the
      simulation noise excluded; ``*_low``, ``*_high``: their 95 % interval (emulator
      and Monte Carlo uncertainty), ``*_width``: high minus low.
    * ``emulator_q2``: the emulator's leave-one-out predictivity on the point means,
      ``emulator_nugget_share``: the share of their variance it takes for noise (the
      noise share when estimable, else fitted),
      ``emulator_note``: a warning when Q2 is below 0.7 (indices unreliable).
    * ``S1_mc``, ``ST_mc``: SALib's Monte Carlo estimates on the design itself, with
      ``*_mc_conf``: its bootstrap half-width (95 % interval: index +- conf); negative
      first-order estimates are kept as they are.

    For a Morris design: ``mu_star``, ``sigma``, ``mu_star_conf`` and ``mu_star_width``.

    An output with no value at some design point, or the same value at all, has no
    row; ``attrs["no_index"]`` says which (arm, output) and why.
    """
    design = spec.design
    problem = salib_problem(design)
    points = design_points(design, int(spec.design_seed))
    x = np.array([[p[n] for n in problem["names"]] for p in points], dtype=float)
    k = len(problem["names"])
    block = k + 2 if design.kind == "sobol" else k + 1
    rows = []
    no_index: dict[tuple[str, str], str] = {}
    for arm, group in runs.groupby("arm", sort=False):
        means = group.groupby("point")[outputs].mean().reindex(range(len(points)))
        for output in outputs:
            y = means[output].to_numpy(dtype=float)
            if np.isnan(y).any():
                no_index[(str(arm), output)] = "no value at some design point"
                continue
            if np.allclose(y, y[0]):
                no_index[(str(arm), output)] = "the same value at every design point"
                continue
            table = group.pivot_table(
                index="point", columns="replicate", values=output, aggfunc="mean", dropna=False
            ).reindex(range(len(points)))
            noise = simulation_noise(table, block)
            noise_columns = {
                "replicates": noise.replicates,
                "noise_share": noise.share,
                "noise_share_low": noise.low,
                "noise_share_high": noise.high,
                "within_point_share": noise.within_point_share,
                "noise_note": noise.note,
            }
            if design.kind == "sobol":
                from SALib.analyze import sobol

                # Lazy, as SALib: scikit-learn is slow to import for the dashboard.
                from simulator.batch.emulated import emulated_indices

                res = sobol.analyze(problem, y, calc_second_order=False, seed=BOOTSTRAP_SEED)
                bounds = np.array(problem["bounds"], dtype=float)
                em = (
                    _noise_only(k, noise)
                    if _noise_may_be_all(noise)
                    else emulated_indices(x, y, bounds, noise.noise_variance)
                )
                emulator_columns = {
                    "emulator_q2": em.q2,
                    "emulator_nugget_share": em.nugget_share,
                    "emulator_note": em.note,
                }
                for i, name in enumerate(problem["names"]):
                    row: dict[str, Any] = {"arm": arm, "output": output, "factor": name}
                    for index, value, low, high in (
                        ("S1", em.s1[i], em.s1_low[i], em.s1_high[i]),
                        ("ST", em.st[i], em.st_low[i], em.st_high[i]),
                    ):
                        row |= {
                            index: float(value),
                            f"{index}_low": float(low),
                            f"{index}_high": float(high),
                            f"{index}_width": float(high - low),
                        }
                    for index in ("S1", "ST"):
                        row |= {
                            f"{index}_mc": float(res[index][i]),
                            f"{index}_mc_conf": float(res[f"{index}_conf"][i]),
                        }
                    rows.append(row | emulator_columns | noise_columns)
            else:
                from SALib.analyze import morris

                res = morris.analyze(problem, x, y, seed=BOOTSTRAP_SEED)
                for i, name in enumerate(problem["names"]):
                    conf = float(res["mu_star_conf"][i])
                    rows.append(
                        {
                            "arm": arm,
                            "output": output,
                            "factor": name,
                            "mu_star": res["mu_star"][i],
                            "sigma": res["sigma"][i],
                            "mu_star_conf": conf,
                            "mu_star_width": 2 * conf,
                        }
                        | noise_columns
                    )
    frame = pd.DataFrame(rows)
    frame.attrs["no_index"] = no_index  # (arm, output) left out, and why: the report says
    return frame


def check_not_running(store: Path) -> None:
    """Refuse a store a running batch holds: its tables are an earlier stop's, its runs go on.

    Raises:
        OutputError: A batch holds the store's lock.
    """
    holder = lock_holder(store)
    if holder is not None:
        raise OutputError(
            store,
            f"refused: a batch is running here ({holder}); analyse the store once it has "
            "finished (a batch stopped now can be finished later with --resume)",
        )


def no_results_reason(store: Path) -> str:
    """Why a store has no consolidated results, from its manifest if it has one."""
    path = store / "manifest.parquet"
    try:
        manifest = pd.read_parquet(path, columns=["status", "error"]) if path.exists() else None
    except (OSError, ValueError, KeyError):  # pyarrow's ArrowInvalid is a ValueError
        manifest = None
    if manifest is None or not (manifest["status"] == "failed").any():
        return (
            "no consolidated results: the batch stopped before its first run ended, or was "
            f"killed; secsim batch EXPERIMENT --out {store} --resume finishes it"
        )
    counts = manifest["status"].value_counts()
    listed = ", ".join(f"{n} {what}" for what, n in sorted(counts.items()))
    first = manifest.loc[manifest["status"] == "failed", "error"].dropna()
    cause = f"; the first failure: {first.iloc[0]}" if len(first) else ""
    return (
        f"no run of the batch is done ({listed}){cause}. Mend what made them fail, then "
        f"secsim batch EXPERIMENT --out {store} --resume runs them again"
    )


def analyze(store: Path) -> Analysis:
    """Analyse a store and write ``analysis/*.csv`` and ``analysis/report.md`` in it.

    The ``analysis`` folder is written whole, then swapped into place (see
    :mod:`simulator.outputs`).
    """
    check_not_running(store)
    spec, runs = _read_store(store)
    # Entries every run lists (0 counts, null statistics) are columns even when no run
    # had a value: those are left out, and named in the report.
    outputs = [o for o in spec.outputs if o in runs.columns and runs[o].notna().any()]
    arms = arm_means(runs, outputs)
    diffs = paired_differences(runs, outputs, spec.reference_arm)
    sens = sensitivity(runs, spec, outputs) if spec.design.kind in ("sobol", "morris") else None
    missing = _runs_missing(store)
    notes = "".join(
        note
        for note in (missing, _outputs_absent(spec, outputs), _outputs_partial(runs, outputs))
        if note
    )
    with staged_folder(store / "analysis", "analysis") as folder:
        _write_analysis(
            folder,
            spec,
            runs,
            arms,
            diffs,
            sens,
            notes or None,
            incomplete=missing is not None,
        )
    return Analysis(arms, diffs, sens)


def _unreadable(path: Path, exc: BaseException, advice: str) -> OutputError:
    """A store's file that cannot be read, named, with what to do."""
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return OutputError(path, f"cannot be read ({reason}): {advice}")


def _read_store(store: Path) -> tuple[ExperimentSpec, pd.DataFrame]:
    """The experiment a store ran and its consolidated runs.

    Raises:
        OutputError: A file is missing or cannot be read (a damaged store), named,
            with what to do; nothing is written.
    """
    described = store / "experiment.json"
    try:
        identity = json.loads(described.read_text(encoding="utf-8"))
        spec = ExperimentSpec.model_validate(identity["experiment"])
    except (OSError, ValueError, KeyError, TypeError) as exc:  # JSON and pydantic: ValueError
        advice = "the store is damaged; run the batch again into a new folder (or with --force)"
        raise _unreadable(described, exc, advice) from None
    summaries = store / "summaries.parquet"
    try:
        runs = pd.read_parquet(summaries)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise _unreadable(summaries, exc, RESUME_REWRITES) from None
    return spec, runs


# What writes a store's consolidated tables again from its runs.
RESUME_REWRITES = "secsim batch ... --resume writes it again from the runs"


def _outputs_absent(spec: ExperimentSpec, found: list[str]) -> str | None:
    """A note naming the experiment's outputs no run gave a value for, or None.

    The experiment's check lets an output name any agency, type or commune its
    scenarios have; a run may have no value for it (a statistic of no call, such as the
    response time of a type no crew reached in the window, or an entry it does not list).
    """
    absent = [o for o in spec.outputs if o not in found]
    if not absent:
        return None
    listed = ", ".join(f"`{o}`" for o in absent)
    return (
        f"**No value:** no run has {listed}: the runs met no such entry in their window "
        "(no call of that type answered, no arrest by that agency...); these outputs are "
        "left out below.\n"
    )


def _outputs_partial(runs: pd.DataFrame, outputs: list[str]) -> str | None:
    """A note naming the outputs some finished runs have no value for, or None.

    Counts are 0 where nothing happened; what has no value is a statistic of nothing
    (the mean response of an agency no call reached). Means and differences then
    rest on fewer runs than the replicates (their ``n`` says how many).
    """
    partial = []
    for o in outputs:
        have = int(runs[o].notna().sum())
        if 0 < have < len(runs):
            partial.append(f"`{o}` ({have} of {len(runs)} runs)")
    if not partial:
        return None
    return (
        f"**Values missing in some runs:** {', '.join(partial)}: those runs met no such "
        "entry in their window (a mean response where no call of that kind was answered); "
        "means and paired differences below rest on the runs that have one (see n).\n"
    )


def _runs_missing(store: Path) -> str | None:
    """What the store's manifest says is not done (pending, interrupted, failed), or None."""
    path = store / "manifest.parquet"
    if not path.exists():
        return None
    try:
        status = pd.read_parquet(path, columns=["status"])["status"]
    except (OSError, ValueError, KeyError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise _unreadable(path, exc, RESUME_REWRITES) from None
    counts = status[status != "done"].value_counts()
    if counts.empty:
        return None
    listed = ", ".join(f"{n} {what}" for what, n in sorted(counts.items()))
    return (
        f"**Incomplete:** {int((status == 'done').sum())} of {len(status)} planned runs are done "
        f"({listed}); the figures below rest on the runs done. `secsim batch ... --resume` "
        "finishes the batch.\n"
    )


def _write_analysis(
    folder: Path,
    spec: ExperimentSpec,
    runs: pd.DataFrame,
    arms: pd.DataFrame,
    diffs: pd.DataFrame,
    sens: pd.DataFrame | None,
    missing: str | None = None,
    *,
    incomplete: bool = False,
) -> None:
    arms.to_csv(folder / "arms.csv", index=False)
    diffs.to_csv(folder / "differences.csv", index=False)
    parts = [
        f"# {spec.name}\n",
        spec.description + "\n" if spec.description else "",
        missing or "",
        f"{len(runs)} runs; replicate i of every arm and design point shares its seed.\n",
        "## Arms (mean and 95 % interval over replicates)\n",
        _markdown(_without_single_point(arms)),
    ]
    if len(diffs):
        parts += [
            f"## Differences from `{spec.reference_arm}` (paired by replicate)\n",
            "Each arm minus the reference, replicate by replicate; *higher* or *lower* where "
            "the 95 % interval is clear of 0, *no clear difference* where it includes 0 "
            "(more replicates narrow it). Outputs are keys of a run's summary.json; with a "
            "design, each point (the factor.* columns of summaries.parquet give its factors) "
            "on its own.\n",
            _markdown(_without_single_point(diffs)),
        ]
    if sens is not None:
        # With no row, still a table a reader can load: its header.
        table = sens if len(sens.columns) else pd.DataFrame(columns=["arm", "output", "factor"])
        table.to_csv(folder / "sensitivity.csv", index=False)
        parts += _sensitivity_sections(spec, sens, incomplete=incomplete)
    (folder / "report.md").write_text("\n".join(parts), encoding="utf-8")


NOISE_COLUMNS = [
    "replicates",
    "noise_share",
    "noise_share_low",
    "noise_share_high",
    "within_point_share",
    "noise_note",
]


EMULATOR_COLUMNS = ["emulator_q2", "emulator_nugget_share", "emulator_note"]


def _sensitivity_sections(
    spec: ExperimentSpec,
    sens: pd.DataFrame,
    *,
    incomplete: bool = False,
) -> list[str]:
    """The report's noise table, the emulator's quality (Sobol), then the indices.

    Indices need every design point: an output with a point that has no finished
    run (``incomplete``: the batch was stopped, or runs failed) is left out, and the
    report says so; so is an output with no index for another reason
    (``sens.attrs["no_index"]``: a constant, a point with no value).
    """
    left_out = (
        "Indices need every design point: outputs with a point that has no finished run "
        "are left out (`secsim batch ... --resume` finishes the batch).\n"
        if incomplete
        else ""
    )
    if not incomplete:  # (incomplete: the points without runs say why already)
        no_index = sens.attrs.get("no_index", {})
        several = len({arm for arm, _ in no_index} | set(sens.get("arm", []))) > 1
        for (arm, output), why in no_index.items():
            where = f" in arm `{arm}`" if several else ""
            left_out += f"No index for `{output}`{where}: {why}.\n"
    if sens.empty:
        why = left_out or "(no output varies over the design)\n"
        return [f"## Sensitivity ({spec.design.kind})\n", why]
    noise = sens[["arm", "output", *NOISE_COLUMNS]].drop_duplicates(["arm", "output"])
    parts = [
        left_out,
        "## Simulation noise\n",
        "Share of the variance of the point means (the indices' denominator) that is "
        "simulation noise, which no parameter explains: the point x replicate variance "
        "over the replicates per point, with a 95 % bootstrap interval. Each Monte Carlo "
        "total index (`ST_mc`) is inflated by up to about this share, first-order ones "
        "(`S1_mc`) shrunk by 1 - share; the emulator's indices (`S1`, `ST`) leave it out. "
        "`within_point_share` is what it would be if the replicates' noise were "
        "independent between points; common random numbers (replicate i of every point "
        "shares its seed) cancel the difference out of the indices.\n",
        _markdown(noise),
    ]
    if spec.design.kind == "sobol":
        from simulator.batch.emulated import Q2_WARNING, REALISATIONS

        emulator = sens[["arm", "output", *EMULATOR_COLUMNS]].drop_duplicates(["arm", "output"])
        parts += [
            "## Emulator\n",
            "`S1` and `ST` are the Sobol indices of a Gaussian-process emulator (anisotropic "
            "Matern 5/2 kernel plus white noise) fitted to the point means, so that the "
            "simulation noise is left out (Oakley and O'Hagan 2004); their 95 % intervals "
            f"are the 2.5-97.5 percentiles of the indices of {REALISATIONS} posterior "
            "realisations, each with bootstrap resamples of its Monte Carlo sample, which "
            "covers both the emulator's uncertainty and the Monte Carlo error (Marrel et "
            "al. 2009; Le Gratiet et al. 2014). `emulator_q2` is the leave-one-out "
            "predictivity of the point means (1 perfect; simulation noise counts against "
            f"it): below {Q2_WARNING} the indices are unreliable. `emulator_nugget_share` "
            "is the share of the point means' variance that the emulator takes for noise: "
            "`noise_share` when the replicates give it (stochastic kriging), else fitted "
            "by maximum likelihood.\n",
            _markdown(emulator),
            "## Sensitivity (sobol)\n",
            "Emulator indices `S1`, `ST` with their 95 % interval (`_low`, `_high`, "
            "`_width` = high - low); SALib's Monte Carlo estimates on the design itself "
            "`S1_mc`, `ST_mc` with 95 % interval index +- `_mc_conf` (negative first-order "
            "estimates kept as they are).\n",
            _markdown(sens.drop(columns=[*NOISE_COLUMNS, *EMULATOR_COLUMNS])),
        ]
    else:
        parts += [
            f"## Sensitivity ({spec.design.kind}; 95 % intervals: index +- conf)\n",
            _markdown(sens.drop(columns=NOISE_COLUMNS)),
        ]
    return parts


def _without_single_point(arms: pd.DataFrame) -> pd.DataFrame:
    """The arms' table without its ``point`` column when there is no design (one point)."""
    if "point" in arms and arms["point"].nunique() <= 1:
        return arms.drop(columns="point")
    return arms


def _markdown(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "(none)\n"
    cols = list(frame.columns)

    def cell(v: Any) -> str:
        if isinstance(v, float):
            if np.isnan(v):
                return ""
            # Euros and counts in full (2,096,000, not 2.096e+06); the rest to 4 figures.
            return f"{v:,.0f}" if abs(v) >= 10_000 else f"{v:.4g}"
        return str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += [
        "| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)
    ]
    return "\n".join(lines) + "\n"
