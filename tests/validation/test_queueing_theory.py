"""Statistical validation of dispatch against queueing theory (MODEL.md section 5).

The ``mmc`` scenario is an M/M/c queue: point territory, c units always on duty,
Poisson calls, exponential on-scene times, no travel and no call handling. The
mean wait must match Erlang C and, with two priority classes, Cobham's formula.

Tolerances come from the simulation itself: the mean over independent
replications (seeds from one SeedSequence) with a 99 % Student-t interval. Each
case also checks that the interval is narrow enough to have power (a test that
cannot fail proves nothing). Loads run from 0.6 to 0.9.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from simulator import load_scenario, run
from simulator.cli import main
from simulator.dispatch.queueing import erlang_c, mmc_mean_wait, priority_mean_waits

from ..conftest import SCENARIOS

MMC = SCENARIOS / "validation" / "mmc.yaml"
REPLICATIONS = 10
LEVEL = 0.99


def _replicated_waits(
    overrides: list[str], key: str = "mean", priority: str | None = None, root: int = 2026
) -> list[list[float]]:
    scenario = load_scenario(MMC, overrides)
    seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(root).spawn(REPLICATIONS)]
    means = []
    for seed in seeds:
        summary = run(scenario, seed).summary.as_json()
        if priority is None:
            means.append([summary["wait_min"][key]])
        else:
            by = summary["wait_min"]["by_priority"]
            means.append([by[p]["mean"] for p in sorted(by)])
    return means


def _interval(samples: np.ndarray) -> tuple[float, float]:
    mean = float(samples.mean())
    half = float(
        stats.t.ppf(0.5 + LEVEL / 2, samples.size - 1) * samples.std(ddof=1) / np.sqrt(samples.size)
    )
    return mean, half


def test_erlang_c_known_values() -> None:
    # M/M/1: probability of waiting equals utilisation.
    assert erlang_c(1, 0.7) == pytest.approx(0.7)
    # Two servers, a = 1: C = 1/3 (textbook value).
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    # M/M/1 mean wait: rho / (mu - lambda).
    assert mmc_mean_wait(3.0, 4.0, 1) == pytest.approx(0.75 / 1.0)
    # Priority waits average back to the FCFS wait (conservation law, equal service).
    rates = [1.5, 4.5]
    waits = priority_mean_waits(rates, 2.0, 4)
    fcfs = mmc_mean_wait(sum(rates), 2.0, 4)
    assert sum(r * w for r, w in zip(rates, waits, strict=True)) / sum(rates) == pytest.approx(fcfs)


@pytest.mark.parametrize(
    ("rate", "units", "mean_min", "days"),
    [
        (3.6, 3, 30, 40),  # load 0.6
        (8.0, 5, 30, 40),  # load 0.8
        (6.0, 2, 18, 60),  # load 0.9, two units, short jobs
        (9.0, 5, 30, 60),  # load 0.9, five units
    ],
)
def test_mean_wait_matches_erlang_c(rate: float, units: int, mean_min: float, days: int) -> None:
    overrides = [
        f"demand.rate_per_hour={rate}",
        f"agencies.state_police.units={units}",
        f"demand.on_scene.mean_min={mean_min}",
        f"run.days={days}",
    ]
    samples = np.array(_replicated_waits(overrides))[:, 0]
    theory = mmc_mean_wait(rate, 60.0 / mean_min, units) * 60.0
    mean, half = _interval(samples)
    assert abs(mean - theory) <= half, f"simulated {mean:.2f} +/- {half:.2f}, Erlang C {theory:.2f}"
    assert half < 0.25 * theory, "interval too wide for the test to mean anything"


@pytest.mark.parametrize(
    ("rate", "units", "mean_min", "shares"),
    [
        (8.0, 5, 30, (0.3, 0.7)),  # load 0.8
        (9.0, 5, 30, (0.5, 0.5)),  # load 0.9
    ],
)
def test_priority_waits_match_cobham(
    rate: float, units: int, mean_min: float, shares: tuple[float, float]
) -> None:
    overrides = [
        f"demand.rate_per_hour={rate}",
        f"agencies.state_police.units={units}",
        f"demand.on_scene.mean_min={mean_min}",
        f"demand.priority_shares=[{shares[0]},{shares[1]}]",
        "run.days=60",
    ]
    samples = np.array(_replicated_waits(overrides, priority="yes"))
    theory = [w * 60 for w in priority_mean_waits([rate * s for s in shares], 60 / mean_min, units)]
    for k in range(2):
        mean, half = _interval(samples[:, k])
        assert abs(mean - theory[k]) <= half, (
            f"priority {k + 1}: simulated {mean:.2f} +/- {half:.2f}, Cobham {theory[k]:.2f}"
        )
        assert half < 0.3 * theory[k]
    # And the urgent class really waits less.
    assert samples[:, 0].mean() < samples[:, 1].mean()


def test_cli_run_reports_a_batch_means_interval_containing_erlang_c(tmp_path: Path) -> None:
    out = tmp_path / "mmc"
    status = main(
        [
            "run",
            str(MMC),
            "--quiet",
            "--seed",
            "11",
            "--days",
            "300",
            "--out",
            str(out),
            "--set",
            "demand.rate_per_hour=7",
            "--set",
            "agencies.state_police.units=4",
            "--set",
            "demand.on_scene.mean_min=30",
        ]
    )
    assert status == 0
    summary = json.loads((out / "summary.json").read_text())
    lo, hi = summary["wait_min"]["ci95"]
    theory = mmc_mean_wait(7.0, 2.0, 4) * 60
    # Erlang C lies inside the run's own 95 % batch-means interval...
    assert lo <= theory <= hi, f"Erlang C {theory:.1f} outside [{lo:.1f}, {hi:.1f}]"
    # ...and that interval is narrow enough to mean something.
    assert hi - lo < 0.6 * theory
    assert summary["utilisation"]["state_police"] == pytest.approx(7 / 8, abs=0.02)
