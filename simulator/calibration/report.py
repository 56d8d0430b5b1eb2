"""What a calibration leaves besides its runs: the fit table, the overlay, the figure.

Pure functions of the calibration's results; the writing is atomic (temporary
name, then rename), as everywhere in secsim.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display needed
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from simulator.calibration.spec import Calibration
from simulator.outputs import write_failed, write_text_atomically
from simulator.scenario.keys import parse_key, set_value

FIT_COLOUR = "#0072B2"  # Okabe-Ito blue, as simulator/figures.py
CHECK_COLOUR = "#E69F00"  # Okabe-Ito orange
TARGET_COLOUR = "#999999"


def round_value(value: float, integer: bool, digits: int = 3) -> float | int:
    """A calibrated value as the overlay writes it: whole, or to ``digits`` significant digits."""
    if integer:
        return round(value)
    return float(f"{value:.{digits}g}")


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write a table under a temporary name, then rename it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise write_failed(exc, path) from None
    finally:
        tmp.unlink(missing_ok=True)


def overlay_text(cal: Calibration, best: dict[str, float | int], out: Path, command: str) -> str:
    """A scenario file that extends the calibrated scenario and sets the best point."""
    extends = os.path.relpath(cal.scenario_path, out.resolve())
    data: dict[str, Any] = {"extends": extends, "name": f"{cal.scenario.name}_calibrated"}
    data["description"] = (
        f"{cal.scenario.name} with the best point of calibration {cal.spec.name} "
        f"({', '.join(cal.targets)})."
    )
    settings = cal.settings(best)
    for key, value in settings.items():
        set_value(data, parse_key(key), value)
    head = (
        f"# Written by `{command}`.\n"
        "# The best point of the history matching (lowest implausibility among the parameter\n"
        "# sets not ruled out), rounded; fit.md gives each target's fit at these values.\n"
        + "".join(f"#   {k} = {v}\n" for k, v in best.items())
    )
    whole = [k for k in settings if k not in best]
    if whole:
        head += (
            f"# {', '.join(whole)}: written whole (the scenario keeps their defaults, and a\n"
            "# block given in part would lose the rest); only the values above differ.\n"
        )
    body: str = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    return head + body


def fit_markdown(cal: Calibration, fit: pd.DataFrame, info: dict[str, Any]) -> str:
    """fit.md: the method's record and one row per target."""
    lines = [
        f"# Calibration {cal.spec.name}: fit of each target",
        "",
        f"Written by `{info['command']}`. Scenario `{cal.spec.scenario}`; "
        f"{info['waves']} waves of history matching (stopped: {info['stopped']}); "
        f"{info['runs']} runs of {info['days']} days after {info['warmup_days']} of warm-up, "
        f"{info['replicates']} replicates per point.",
        "",
        "NROY share of the parameter box after each wave: "
        + ", ".join(f"{s:.3g}" for s in info["shares"])
        + ".",
        "",
        "Best point (rounded, as in overlay.yaml), re-run with "
        f"{info['best_replicates']} replicates:",
        "",
    ]
    lines += [f"- `{k}` = {v}" for k, v in info["best"].items()]
    lines += [
        "",
        "| target | use | observed (range) | simulated mean (95 % CI) | one run's 95 % interval "
        "| NROY range | implausibility | in range |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in fit.itertuples():
        nroy = "-" if pd.isna(row.nroy_low) else f"{_num(row.nroy_low)} to {_num(row.nroy_high)}"
        lines.append(
            f"| {row.target} | {row.use} | {_num(row.observed)} ({_num(row.low)} to "
            f"{_num(row.high)}) | {_num(row.sim_mean)} ({_num(row.sim_low)} to "
            f"{_num(row.sim_high)}) | {_num(row.run_low)} to {_num(row.run_high)} | {nroy} | "
            f"{row.implausibility:.2f} | {'yes' if row.in_range else 'no'} |"
        )
    lines += [
        "",
        "Implausibility at the best point: |observed - simulated mean| / sqrt(V_obs + V_disc + "
        "variance of the mean). `check` targets are held out: they did not rule anything out.",
        "",
    ]
    return "\n".join(lines)


def _num(value: float) -> str:
    if value is None or not np.isfinite(value):
        return "-"
    return f"{value:.4g}"


def fit_figure(fit: pd.DataFrame, path: Path, title: str) -> None:
    """fit.png: for each target, its range against the simulated interval (one row each)."""
    n = len(fit)
    fig, axes = plt.subplots(n, 1, figsize=(7.5, 0.9 + 0.75 * n), squeeze=False)
    for ax, row in zip(axes[:, 0], fit.itertuples(), strict=True):
        colour = FIT_COLOUR if row.use == "fit" else CHECK_COLOUR
        ax.plot([row.low, row.high], [1, 1], color=TARGET_COLOUR, lw=6, solid_capstyle="butt")
        ax.plot([row.observed], [1], "|", color="black", ms=12)
        ax.plot([row.sim_low, row.sim_high], [0, 0], color=colour, lw=5, solid_capstyle="butt")
        ax.plot([row.sim_mean], [0], "o", color=colour, ms=5)
        # Where one run may fall (a prediction interval), below: always the wider one.
        ax.plot([row.run_low, row.run_high], [-0.6, -0.6], color=colour, lw=1.2, marker="|")
        ax.set_ylim(-1.0, 1.6)
        ax.set_yticks([])
        ax.set_ylabel(f"{row.target}\n({row.use})", rotation=0, ha="right", va="center", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
    axes[0, 0].set_title(title, fontsize=9)
    fig.text(
        0.01,
        0.005,
        "grey: target range (tick: value); coloured: simulated mean and its 95 % CI (thick), "
        "one run's 95 % interval below (thin); blue: fit, orange: check",
        fontsize=6.5,
    )
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.png")
    try:
        fig.savefig(tmp, dpi=150)
        os.replace(tmp, path)
    except OSError as exc:
        raise write_failed(exc, path) from None
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    """Write a text output atomically."""
    write_text_atomically(path, text)
