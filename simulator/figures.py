"""The published figures, rebuilt from the shipped experiments with one command.

``secsim figures`` runs what is missing (small replicate counts and horizons by
default, the experiment files' own with ``--full``), then draws six figures,
each as PNG and PDF with a caption file that says what it shows and the exact
command that made it. Colours are the Okabe-Ito palette, safe for colour-blind
readers.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display needed
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch
from scipy import stats

from simulator.batch.analysis import analyze
from simulator.batch.emulated import Q2_WARNING, REALISATIONS
from simulator.batch.runner import experiment_identity, run_batch
from simulator.batch.spec import ExperimentSpec, arm_scenario_path, load_experiment
from simulator.crime.engine import cctv_coverage, initial_market_cells
from simulator.model import SecurityModel
from simulator.outputs import (
    MARKER,
    OutputError,
    claim,
    mark,
    marker_text,
    scratch_folder,
    write_failed,
)
from simulator.runner import run
from simulator.scenario import load_scenario
from simulator.scenario.schema import DistrictType
from simulator.stopping import signals_deferred

OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"]
DISTRICT_COLOURS = dict(zip(list(DistrictType), OKABE_ITO, strict=True))


@dataclass(frozen=True)
class FigureSettings:
    """How much to run before drawing.

    Attributes:
        root: The repository root (scenarios/ and experiments/ are read there).
        out: Where figures go.
        store: Where batch results are kept between invocations.
        full: Use the experiment files' own horizons and replicates.
        days: Days per run when not ``full``.
        replicates: Replicates per arm and design point when not ``full``.
        sobol_samples: Base samples of the sensitivity design when not ``full``.
        workers: Local worker processes for the batches.
        command: The command line to quote in captions.
    """

    root: Path
    out: Path
    store: Path
    full: bool = False
    days: int = 30
    replicates: int = 2
    sobol_samples: int = 16
    workers: int = 1
    command: str = "secsim figures"


def _style() -> None:
    plt.rcParams.update(
        {
            "figure.dpi": 110,
            "savefig.dpi": 200,
            "font.size": 9,
            "axes.titlesize": 10,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.prop_cycle": matplotlib.rcsetup.cycler(color=OKABE_ITO),
        }
    )


def _save(fig: Any, settings: FigureSettings, name: str, caption: str) -> list[Path]:
    settings.out.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "pdf"):
        path = settings.out / f"{name}.{ext}"
        try:
            fig.savefig(
                path, bbox_inches="tight", metadata={"CreationDate": None} if ext == "pdf" else None
            )
        except Exception as failed:
            # A full disk surfaces from Matplotlib's PDF writer as another error, raised
            # while it handled the OSError: the OSError is what to report.
            cause = _os_error(failed)
            if cause is None:
                raise
            raise cause from None
        paths.append(path)
    plt.close(fig)
    text = f"{caption}\n\nMade by: {settings.command}\n"
    (settings.out / f"{name}.txt").write_text(text, encoding="utf-8")
    return [*paths, settings.out / f"{name}.txt"]


def _experiment(settings: FigureSettings, name: str, **extra: Any) -> tuple[ExperimentSpec, Path]:
    """The shipped experiment, made small unless ``full``, run where missing."""
    path = settings.root / "experiments" / f"{name}.yaml"
    spec = load_experiment(path)
    if not settings.full:
        # Short runs, but long enough for every arm's policy changes to be decided.
        last = max(
            (
                event.effective_day
                for arm in spec.arms.values()
                for event in load_scenario(arm_scenario_path(path, arm)).timeline
            ),
            default=0.0,
        )
        days = max(settings.days, int(last) + 1 - spec.warmup_days)
        update: dict[str, Any] = {"days": days, "replicates": settings.replicates}
        if spec.design.kind == "sobol":
            design = spec.design.model_copy(update={"samples": settings.sobol_samples})
            update.update(design=design)  # settings.replicates: the noise needs 2 or more
        spec = spec.model_copy(update={**update, **extra})
    # One store per version of the experiment: changed settings never meet old results.
    identity = json.dumps(experiment_identity(spec, path), sort_keys=True)
    digest = hashlib.sha256(identity.encode()).hexdigest()[:10]
    store = settings.store / f"{name}-{digest}"
    run_batch(spec, path, store, workers=settings.workers, resume=True)
    return spec, store


# ----------------------------------------------------------------- figure 1


def _boundaries(labels: np.ndarray, km: float) -> list[list[tuple[float, float]]]:
    """Segments along the cell edges where the label changes (grid row 0 at the bottom)."""
    segments: list[list[tuple[float, float]]] = []
    # A border of "outside" around the grid closes communes that touch its edge.
    padded = np.pad(labels, 1, constant_values=-1)
    for j, i in zip(*np.nonzero(padded[1:-1, 1:] != padded[1:-1, :-1]), strict=True):
        x = i * km
        segments.append([(x, j * km), (x, (j + 1) * km)])
    for j, i in zip(*np.nonzero(padded[1:, 1:-1] != padded[:-1, 1:-1]), strict=True):
        y = j * km
        segments.append([(i * km, y), ((i + 1) * km, y)])
    return segments


def territory_map(settings: FigureSettings) -> list[Path]:
    """Figure 1: the baseline's synthetic territory."""
    return draw_territory_map(settings, settings.root / "scenarios" / "baseline.yaml")


def _os_error(failed: BaseException) -> OSError | None:
    """``failed`` if an ``OSError``, else the first ``OSError`` it was raised from or during."""
    seen: BaseException | None = failed
    while seen is not None:
        if isinstance(seen, OSError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def draw_territory_map(settings: FigureSettings, scenario_path: Path) -> list[Path]:
    """Districts by type, communes, CCTV zones, drug markets, guarded sites and stations.

    Any scenario, synthetic or read from files; the baseline's map is figure 1
    (``fig1_territory``), another scenario's is ``fig1_territory_<file name>``.
    Cells off a real territory's communes are left white.
    """
    scenario = load_scenario(scenario_path)
    # The shipped baseline itself, not any file of that name.
    baseline = scenario_path.resolve() == (settings.root / "scenarios" / "baseline.yaml").resolve()
    model = SecurityModel(scenario, seed=1)
    t = model.territory
    types = list(DistrictType)
    codes = np.array([types.index(dt) for dt in t.district_types] + [-1])
    grid = np.ma.masked_less(codes[t.district].reshape(t.ny, t.nx), 0)
    real = t.kind == "file"
    fig, ax = plt.subplots(figsize=(7.4, 5.6) if real else (6.2, 5.4))
    extent = (0, t.nx * t.cell_m / 1000, 0, t.ny * t.cell_m / 1000)
    ax.imshow(
        grid,
        origin="lower",
        extent=extent,
        cmap=ListedColormap(OKABE_ITO),
        vmin=-0.5,
        vmax=len(types) - 0.5,
        interpolation="nearest",
    )
    communes = t.commune.reshape(t.ny, t.nx)
    if real:
        # Many communes: one line along each cell edge between two of them (or the
        # outside), rather than a contour per index that doubles lines.
        ax.add_collection(
            LineCollection(_boundaries(communes, t.cell_m / 1000), colors="dimgrey", linewidths=0.6)
        )
    else:
        ax.contour(
            communes,
            levels=np.arange(len(t.commune_names)) + 0.5,
            colors="white",
            linewidths=1.6,
            extent=extent,
            origin="lower",
        )
    cctv = cctv_coverage(t, scenario.cctv).reshape(t.ny, t.nx)
    if cctv.any():
        ax.contourf(
            cctv > 0,
            levels=[0.5, 1.5],
            hatches=["////"],
            colors="none",
            extent=extent,
            origin="lower",
        )
    km = t.cell_m / 1000
    if scenario.crime is not None:
        markets = initial_market_cells(t, scenario.crime)
        ax.scatter(
            (markets % t.nx + 0.5) * km,
            (markets // t.nx + 0.5) * km,
            marker="X",
            s=60 if not real else 30,
            c="black",
            label="drug market",
        )
    site_lists = [a.site_cells for a in model.agencies if a.site_cells.size]
    sites = np.unique(np.concatenate(site_lists)) if site_lists else np.empty(0, dtype=int)
    ax.scatter(
        (sites % t.nx + 0.5) * km,
        (sites // t.nx + 0.5) * km,
        marker="s",
        s=10 if not real else 5,
        facecolors="none",
        edgecolors="black",
        linewidths=0.6,
        label="guarded site",
    )
    if real:
        state = [a for a in model.agencies if a.payer == "state"]
        for agency, marker in zip(state, ("^", "v", "D", "P"), strict=False):
            stations = np.unique(agency.station_cells)
            ax.scatter(
                (stations % t.nx + 0.5) * km,
                (stations // t.nx + 0.5) * km,
                marker=marker,
                s=28,
                c="white",
                edgecolors="black",
                linewidths=0.8,
                label=f"station: {agency.spec.label or agency.name}",
            )
    handles = [Patch(color=DISTRICT_COLOURS[d], label=d.value.replace("_", " ")) for d in types]
    handles += [Patch(facecolor="none", hatch="////", label="CCTV zone")]
    legend1 = ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
        frameon=False,
        title="district type",
    )
    ax.add_artist(legend1)
    ax.legend(loc="lower left", bbox_to_anchor=(1.01, 0), frameon=False)
    residents = np.bincount(t.commune[t.land], weights=t.residents[t.land])
    # On a real map, only the largest communes are named (37 names would hide the map).
    named = np.argsort(-residents, kind="stable")[: 4 if not real else 8]
    for k in sorted(int(k) for k in named):
        hall = t.town_hall_cell[k]
        ax.annotate(
            t.commune_names[k],
            ((hall % t.nx + 0.5) * km, (hall // t.nx + 0.5) * km),
            color="white" if not real else "black",
            fontweight="bold",
            fontsize=None if not real else 7,
            ha="center",
        )
    ax.set_xlabel("x (km)")
    ax.set_ylabel("y (km)")
    total = int(t.residents.sum())
    n = len(t.commune_names)
    if baseline:
        ax.set_title(f"The baseline territory: {total:,} residents, {n} communes")
        caption = (
            "Figure 1. The synthetic territory of scenarios/baseline.yaml: districts by "
            "type (colours), commune boundaries (white lines, names at town halls), CCTV "
            "zones (hatched), drug markets at the start (crosses) and the private security "
            "firm's contracted sites (squares)."
        )
        return _save(fig, settings, "fig1_territory", caption)
    ax.set_title(f"{scenario.name}: {total:,} residents, {n} communes")
    files = scenario.territory.file
    credit = files.attribution if files is not None and files.attribution else ""
    if credit:
        ax.text(0.0, -0.12, f"Data: {credit}", transform=ax.transAxes, fontsize=6, va="top")
    caption = (
        f"Figure 1 ({scenario_path.name}). {scenario.description} Districts by type "
        "(colours; white: outside the communes), commune boundaries (grey lines; the "
        "largest named at their centre), CCTV zones (hatched), drug markets at the start "
        "(crosses), contracted sites (squares) and the State forces' stations (triangles)."
        + (f" Coordinates: km from the south-west corner, in {t.crs}." if real else "")
        + (f" Data: {credit}." if credit else "")
    )
    return _save(fig, settings, f"fig1_territory_{scenario_path.stem}", caption)


# ----------------------------------------------------------------- figure 2


def response_distributions(settings: FigureSettings) -> list[Path]:
    """Response time by agency and priority, baseline against competence transfer."""
    days = 365 if settings.full else settings.days
    frames = []
    for arm in ("baseline", "competence_transfer"):
        scenario = load_scenario(settings.root / "scenarios" / f"{arm}.yaml", [f"run.days={days}"])
        inc = run(scenario, seed=1).incidents.to_pandas()
        w0 = scenario.run.warmup_days * 24
        inc = inc[
            (inc["t_reported_h"] >= w0)
            & inc["t_arrived_h"].notna()
            & inc["needs_response"]
            & (inc["kind"] != "task")
        ]
        frames.append(
            inc.assign(arm=arm, response_min=(inc["t_arrived_h"] - inc["t_reported_h"]) * 60)
        )
    data = pd.concat(frames)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    groups = [
        ("agency", sorted(data["agency"].unique())),
        ("priority", sorted(data["priority"].unique())),
    ]
    for ax, (column, levels) in zip(axes, groups, strict=True):
        positions = np.arange(len(levels))
        for k, arm in enumerate(("baseline", "competence_transfer")):
            sub = data[data["arm"] == arm]
            values = [sub.loc[sub[column] == lev, "response_min"].to_numpy() for lev in levels]
            values = [v if v.size else np.array([np.nan]) for v in values]
            box = ax.boxplot(
                values,
                positions=positions + (k - 0.5) * 0.35,
                widths=0.3,
                showfliers=False,
                patch_artist=True,
                medianprops={"color": "black"},
            )
            for patch in box["boxes"]:
                patch.set_facecolor(OKABE_ITO[k])
        ax.set_xticks(
            positions, [str(lev) for lev in levels], rotation=30 if column == "agency" else 0
        )
        ax.set_xlabel(column)
    axes[0].set_ylabel("response time (min, call to arrival)")
    axes[1].legend(
        handles=[
            Patch(color=OKABE_ITO[0], label="baseline"),
            Patch(color=OKABE_ITO[1], label="competence transfer"),
        ],
        frameon=False,
    )
    fig.suptitle("Response times: baseline against competence transfer")
    caption = (
        f"Figure 2. Response time (call to first unit on scene, minutes) by agency and "
        f"by priority, baseline against scenarios/competence_transfer.yaml; boxes show "
        f"quartiles, whiskers 1.5 IQR; {days} days, seed 1."
    )
    return _save(fig, settings, "fig2_response", caption)


# ----------------------------------------------------------------- figure 3


def offences_over_time(settings: FigureSettings) -> list[Path]:
    """Actual and recorded offences per week, and the dark figure, under co-production."""
    days = 365 if settings.full else max(settings.days, 28)
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    for k, arm in enumerate(("baseline", "citizen_coproduction")):
        scenario = load_scenario(settings.root / "scenarios" / f"{arm}.yaml", [f"run.days={days}"])
        ts = run(scenario, seed=1).timeseries
        week = (ts["day"] - ts["day"].min()) // 7
        full_weeks = week[week < len(ts) // 7]  # a last, partial week would look like a drop
        weekly = (
            ts.loc[full_weeks.index]
            .groupby(full_weeks)[["offences_actual", "offences_recorded"]]
            .sum()
        )
        ax.plot(weekly.index, weekly["offences_actual"], color=OKABE_ITO[k], label=f"{arm}: actual")
        ax.plot(
            weekly.index,
            weekly["offences_recorded"],
            color=OKABE_ITO[k],
            ls="--",
            label=f"{arm}: recorded",
        )
        dark = 1 - weekly["offences_recorded"] / weekly["offences_actual"]
        ax2.plot(weekly.index, 100 * dark, color=OKABE_ITO[k], label=arm)
    ax.set_ylabel("offences per week")
    ax.legend(frameon=False, fontsize=7)
    ax2.set_ylabel("dark figure (% never known)")
    ax2.set_xlabel("week of the statistics window")
    ax2.xaxis.get_major_locator().set_params(integer=True)
    ax2.legend(frameon=False, fontsize=7)
    fig.suptitle("Actual and recorded offences under citizen co-production")
    caption = (
        f"Figure 3. Offences per week that happen (solid) and that get recorded "
        f"(dashed), and the dark figure, in the baseline and under "
        f"scenarios/citizen_coproduction.yaml (citizen watch and prevention from day "
        f"30); {days} days, seed 1."
    )
    return _save(fig, settings, "fig3_offences", caption)


# ----------------------------------------------------------------- figure 4


def budget_scope_heatmap(settings: FigureSettings) -> list[Path]:
    """p90 response and actual offences over State budget x municipal scope."""
    spec, store = _experiment(settings, "budget_competence_grid")
    runs = pd.read_parquet(store / "summaries.parquet")
    state = runs["factor.agencies.state_police.budget_eur"]
    runs = runs.assign(share=state / (state + runs["factor.agencies.pm_centre.budget_eur"]))
    factor = "share"
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), layout="constrained")
    for ax, (output, label) in zip(
        axes,
        [
            ("response_min.p90", "p90 response (min)"),
            ("offences.actual_per_1000", "actual offences per 1,000/yr"),
        ],
        strict=True,
    ):
        table = runs.groupby(["arm", factor])[output].mean().unstack(factor)
        table = table.loc[list(spec.arms)]
        image = ax.imshow(table.to_numpy(), aspect="auto", cmap="cividis")
        ax.set_xticks(range(table.shape[1]), [f"{100 * b:.0f} %" for b in table.columns])
        ax.set_yticks(range(table.shape[0]), [f"{a} scope" for a in table.index])
        ax.set_xlabel("State's share of the public security budget")
        ax.set_title(label)
        for (i, j), value in np.ndenumerate(table.to_numpy()):
            ax.text(j, i, f"{value:.1f}", ha="center", va="center", color="white", fontsize=7)
        fig.colorbar(image, ax=ax, shrink=0.8)
    caption = (
        f"Figure 4. Mean over {spec.replicates} paired replicates of the p90 response "
        f"time and of actual offences, over the State's share of a fixed 26 M EUR budget "
        f"(State police and the central city's municipal police) and the scope of "
        f"the municipal police's competences (experiments/budget_competence_grid.yaml, "
        f"{spec.days} days per run)."
    )
    return _save(fig, settings, "fig4_budget_scope", caption)


# ----------------------------------------------------------------- figure 5


def equity(settings: FigureSettings) -> list[Path]:
    """Priority neighbourhoods against the rest, for each policy arm, with 95 % intervals."""
    spec, store = _experiment(settings, "policy_arms")
    runs = pd.read_parquet(store / "summaries.parquet")
    prefix = "offences.by_district_type."
    kinds = sorted({c[len(prefix) :].split(".")[0] for c in runs.columns if c.startswith(prefix)})

    def per_resident(kind_list: list[str]) -> pd.Series:
        # Residents of a type are actual / actual_per_1000, up to a common factor.
        actual = sum(runs[f"{prefix}{k}.actual"].fillna(0) for k in kind_list)
        residents = sum(
            (runs[f"{prefix}{k}.actual"] / runs[f"{prefix}{k}.actual_per_1000"]).fillna(0)
            for k in kind_list
        )
        return actual / residents

    rest = [k for k in kinds if k != "qpv"]
    runs = runs.assign(ratio=per_resident(["qpv"]) / per_resident(rest))
    rows = []
    for arm, group in runs.groupby("arm", sort=False):
        values = group["ratio"].to_numpy(dtype=float)
        half = (
            float(stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size))
            if values.size > 1
            else np.nan
        )
        rows.append((arm, values.mean(), half))
    fig, ax = plt.subplots(figsize=(7, 3.8))
    names = [r[0].replace("_", " ") for r in rows]
    ax.barh(names, [r[1] for r in rows], xerr=[r[2] for r in rows], color=OKABE_ITO[4], capsize=3)
    ax.axvline(rows[0][1], color="black", lw=0.8, ls=":")
    ax.set_xlabel("actual offences per resident, priority neighbourhoods / rest of the area")
    ax.invert_yaxis()
    fig.suptitle("Equity: priority neighbourhoods (QPV) against the rest")
    caption = (
        f"Figure 5. For each policy arm of experiments/policy_arms.yaml, the ratio of "
        f"actual offences per resident in priority neighbourhoods to that in the rest of "
        f"the area, with 95 % Student-t intervals over "
        f"{spec.replicates} replicates ({spec.days} days per run); the dotted line is "
        f"the baseline."
    )
    return _save(fig, settings, "fig5_equity", caption)


# ----------------------------------------------------------------- figure 6


def _noise_phrase(rows: pd.DataFrame) -> str:
    """Each output's noise share with its interval, or why there is none."""
    parts = []
    for output, row in rows.iterrows():
        if np.isfinite(row["noise_share"]):
            # Two significant digits: a share of 0.003 must not read as 0.
            interval = (
                f" (95 % interval {row['noise_share_low']:.2g} to {row['noise_share_high']:.2g})"
                if np.isfinite(row["noise_share_low"])
                else ""
            )
            parts.append(f"{output} {row['noise_share']:.2g}{interval}")
        else:
            parts.append(f"{output}: {row['noise_note']}")
    return "; ".join(parts)


def _q2_phrase(rows: pd.DataFrame, indices: pd.DataFrame) -> str:
    """Each output's emulator Q2, flagged where the emulator is too poor to trust.

    ``rows``: one row per output; ``indices``: a row per output and factor. An
    estimate outside its own interval is said as such, not as a poor Q2 (the
    caption reads Q2 below the threshold as "unreliable").
    """
    outside = (
        (
            (indices["S1"] < indices["S1_low"])
            | (indices["S1"] > indices["S1_high"])
            | (indices["ST"] < indices["ST_low"])
            | (indices["ST"] > indices["ST_high"])
        )
        .groupby(indices["output"])
        .sum()
    )
    parts = []
    for output, row in rows.iterrows():
        if not np.isfinite(row["emulator_q2"]):  # no emulator: the points differ by noise
            parts.append(f"{output} not estimable (simulation noise)")
            continue
        flags = ["unreliable"] if row["emulator_q2"] < Q2_WARNING else []
        n = int(outside.get(output, 0))
        if n:
            flags.append(f"{n} of its factors' estimates outside their interval")
        parts.append(
            f"{output} {row['emulator_q2']:.2f}" + (f" ({', '.join(flags)})" * bool(flags))
        )
    return "; ".join(parts)


def sensitivity_indices(settings: FigureSettings) -> list[Path]:
    """Sobol indices of the main outcomes over the behavioural parameters.

    The indices are those of a Gaussian-process emulator of the design's point means
    (:mod:`simulator.batch.emulated`), each drawn with its 95 % interval (asymmetric:
    percentiles of the emulator's posterior realisations), and beside them the share of
    each output's variance that is simulation noise.
    """
    spec, store = _experiment(settings, "behaviour_sensitivity")
    sens = analyze(store).sensitivity
    fig, axes = plt.subplots(
        1,
        3,
        figsize=(11, 4.2),
        layout="constrained",
        gridspec_kw={"width_ratios": [3, 3, 1.4]},
    )
    noise_text = q2_text = "no output varies over the design"
    widest = np.nan
    if sens is not None and len(sens):
        outputs = list(dict.fromkeys(sens["output"]))
        factors = list(dict.fromkeys(sens["factor"]))
        colours = dict(zip(outputs, OKABE_ITO, strict=False))
        # Limits that show every estimate and every interval end: nothing is clipped.
        low = min(-0.05, float(np.nanmin(sens[["S1_low", "ST_low"]].to_numpy())))
        high = max(1.05, float(np.nanmax(sens[["S1_high", "ST_high"]].to_numpy())))
        # The widest interval among outputs whose emulator can be trusted: an
        # unreliable one (hatched, flagged in the legend) has wide intervals anyway.
        reliable = sens[sens["emulator_q2"] >= Q2_WARNING]
        widths = reliable[["S1_width", "ST_width"]].to_numpy(dtype=float)
        widest = float(np.nanmax(widths)) if np.isfinite(widths).any() else np.nan
        q2 = sens.drop_duplicates("output").set_index("output")["emulator_q2"]
        for ax, index in zip(axes[:2], ("S1", "ST"), strict=True):
            width = 0.8 / max(1, len(outputs))
            for k, output in enumerate(outputs):
                sub = sens[sens["output"] == output].set_index("factor").reindex(factors)
                ax.bar(
                    np.arange(len(factors)) + k * width,
                    sub[index],
                    width,
                    # Percentile intervals need not contain the estimate: clip, as
                    # matplotlib refuses negative bar lengths.
                    yerr=np.clip(
                        [sub[index] - sub[f"{index}_low"], sub[f"{index}_high"] - sub[index]],
                        0,
                        None,
                    ),
                    color=colours[output],
                    label=f"{output} (Q2 {q2[output]:.2f}"
                    + (", unreliable)" if q2[output] < Q2_WARNING else ")"),
                    hatch="////" if q2[output] < Q2_WARNING else None,
                    alpha=0.5 if q2[output] < Q2_WARNING else 1.0,
                    capsize=2,
                    error_kw={"elinewidth": 0.8},
                )
            ax.set_xticks(
                np.arange(len(factors)) + 0.4 - width / 2,
                [f.split(".")[-1] for f in factors],
                rotation=35,
                ha="right",
            )
            ax.axhline(0, color="black", lw=0.6)
            ax.axhline(1, color="grey", lw=0.6, ls=":")
            ax.set_ylim(low - 0.05, high + 0.05)
            ax.set_title("first-order (S1)" if index == "S1" else "total (ST)")
        axes[0].set_ylabel("Sobol index (95 % interval)")
        noise = sens.drop_duplicates("output").set_index("output")
        noise_text = _noise_phrase(noise)
        q2_text = _q2_phrase(noise, sens)
        ax = axes[2]
        for k, output in enumerate(outputs):
            row = noise.loc[output]
            if np.isfinite(row["noise_share"]):
                ax.bar(
                    k,
                    row["noise_share"],
                    0.7,
                    color=colours[output],
                    yerr=[
                        [row["noise_share"] - row["noise_share_low"]],
                        [row["noise_share_high"] - row["noise_share"]],
                    ]
                    if np.isfinite(row["noise_share_low"])
                    else None,
                    capsize=2,
                )
            else:
                ax.text(
                    k, 0.02, "not\nestimable", ha="center", va="bottom", fontsize=6, rotation=90
                )
        ax.set_xticks(range(len(outputs)), outputs, rotation=35, ha="right", fontsize=6)
        finite = noise[["noise_share_high", "noise_share"]].to_numpy(dtype=float)
        top = float(np.nanmax(finite)) if np.isfinite(finite).any() else 1.0
        ax.set_ylim(0, max(1.05, top + 0.05))
        ax.axhline(1, color="grey", lw=0.6, ls=":")
        ax.set_title("share of variance that is noise")
        fig.legend(
            *axes[0].get_legend_handles_labels(),
            loc="outside lower center",
            ncol=3,
            frameon=False,
            fontsize=7,
        )
    fig.suptitle("Sensitivity of outcomes to behavioural parameters")
    replicates = (
        f"{spec.replicates} replicates per point, replicate i of every point with the same "
        f"seed (common random numbers)"
        if spec.replicates > 1
        else "1 replicate per point, so the share of simulation noise cannot be estimated"
    )
    widest_text = (
        f" (the widest {widest:.2f} across for outputs with Q2 of {Q2_WARNING} or more)"
        if np.isfinite(widest)
        else ""
    )
    points = spec.design.samples * (len(spec.design.factors) + 2)
    caption = (
        f"Figure 6. Sobol indices, first-order (left) and total (middle), of the main "
        f"outcomes over the parameters of experiments/behaviour_sensitivity.yaml "
        f"(Saltelli design, N = {spec.design.samples} base samples x "
        f"({len(spec.design.factors)} factors + 2) = {points} points, {spec.days} days per "
        f"run, {replicates}). The indices are those of a Gaussian-process emulator "
        f"(anisotropic Matern 5/2 kernel plus white noise, Oakley and O'Hagan 2004) fitted "
        f"to the mean of each design point's replicates, so the simulation noise is left "
        f"out; error bars are 95 % intervals, the 2.5-97.5 percentiles of the indices of "
        f"{REALISATIONS} posterior realisations of the emulator with bootstrap resamples "
        f"of their Monte Carlo sample (Marrel et al. 2009; Le Gratiet et al. 2014), which "
        f"cover the emulator's uncertainty and the Monte Carlo error{widest_text}. The "
        f"emulator's leave-one-out predictivity Q2 per output (1 is perfect, below "
        f"{Q2_WARNING} the indices are unreliable, and their bars hatched): {q2_text}. "
        f"Right: the share of each output's variance over the design that is simulation "
        f"noise, which no parameter explains (point x replicate variance over the "
        f"replicates per point, 95 % bootstrap interval); it counts against Q2 but not in "
        f"the indices. Noise shares: {noise_text}."
    )
    return _save(fig, settings, "fig6_sensitivity", caption)


FIGURES: list[Callable[[FigureSettings], list[Path]]] = [
    territory_map,
    response_distributions,
    offences_over_time,
    budget_scope_heatmap,
    equity,
    sensitivity_indices,
]


def build_all(settings: FigureSettings) -> list[Path]:
    """Every figure, in order; returns the files written.

    ``settings.out`` and ``settings.store`` follow :mod:`simulator.outputs`: new, empty,
    or made by secsim. The figures are drawn into a temporary folder and moved into
    ``settings.out`` together at the end, each file replacing its earlier version;
    other files there (a README) are kept.

    Raises:
        OutputError: A folder is refused, or a write failed; nothing is left half-written.
    """
    claim(settings.out, "figures")
    claim(settings.store, "figures-store")
    try:
        settings.store.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_failed(exc, settings.store) from None
    mark(settings.store, "figures-store")

    def every_figure(into: FigureSettings) -> list[Path]:
        drawn: list[Path] = []
        for figure in FIGURES:
            drawn += figure(into)
        index = {p.name: str(settings.out / p.name) for p in drawn}
        (into.out / "index.json").write_text(json.dumps(index, indent=2), encoding="utf-8")
        return [*drawn, into.out / "index.json"]

    return _drawn_into(settings, every_figure)[:-1]  # (the index is not a figure)


def build_map(settings: FigureSettings, scenario_path: Path) -> list[Path]:
    """The territory map of one scenario (:func:`draw_territory_map`) alone, into ``settings.out``.

    The folder follows :mod:`simulator.outputs` as :func:`build_all`'s: new, empty, or
    made by secsim; the map is drawn in a temporary folder, then moved into place.

    Raises:
        OutputError: The folder is refused, or a write failed; nothing is left half-written.
    """
    claim(settings.out, "figures")
    return _drawn_into(settings, lambda into: draw_territory_map(into, scenario_path))


def _drawn_into(
    settings: FigureSettings, draw: Callable[[FigureSettings], list[Path]]
) -> list[Path]:
    """What ``draw`` writes in a temporary folder, moved into ``settings.out`` together.

    Each file replaces its earlier version; other files there (a README) are kept.
    Returns the files' paths in ``settings.out``.
    """
    _style()
    with scratch_folder(settings.out) as tmp:
        try:
            (tmp / MARKER).write_text(marker_text("figures"), encoding="utf-8")
            drawn = draw(replace(settings, out=tmp))
        except OutputError:
            raise  # (a batch store's refusal is an OSError too)
        except OSError as exc:
            raise write_failed(exc, settings.out) from None
        claim(settings.out, "figures")  # nobody wrote there meanwhile
        try:
            settings.out.mkdir(parents=True, exist_ok=True)
            with signals_deferred():
                for path in [*drawn, tmp / MARKER]:
                    os.replace(path, settings.out / path.name)
        except OSError as exc:
            raise write_failed(exc, settings.out) from None
    return [settings.out / p.name for p in drawn]
