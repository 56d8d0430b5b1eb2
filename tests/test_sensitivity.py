"""Sensitivity analysis against theory: a linear model with known Sobol indices.

No simulation: a fake runs table on a Saltelli design of y = 2 x1 + x2 (x uniform on
[0, 1], so Var f = 4/12 + 1/12 and S1 = ST = 0.8 and 0.2) plus Gaussian noise of known
variance, with R replicates per point. Tolerances come from the estimators' sampling
distributions, not from pinned decimals.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulator.batch.analysis import analyze, sensitivity, simulation_noise
from simulator.batch.design import design_points
from simulator.batch.runner import plan
from simulator.batch.spec import ExperimentSpec, load_experiment

ROOT = Path(__file__).resolve().parent.parent
VAR_F = 4 / 12 + 1 / 12
TRUE_S = {"x1": 0.8, "x2": 0.2}


def _spec(samples: int, replicates: int) -> ExperimentSpec:
    return ExperimentSpec.model_validate(
        {
            "name": "linear",
            "arms": {"a": {"scenario": "unused.yaml"}},
            "design": {
                "kind": "sobol",
                "samples": samples,
                "factors": {"x1": {"low": 0.0, "high": 1.0}, "x2": {"low": 0.0, "high": 1.0}},
            },
            "replicates": replicates,
            "outputs": ["y"],
        }
    )


def _runs(spec: ExperimentSpec, sigma: float, common_sigma: float = 0.0) -> pd.DataFrame:
    """y = 2 x1 + x2 + (a shift shared by replicate r at every point) + independent noise."""
    rng = np.random.default_rng(7)
    points = design_points(spec.design, int(spec.design_seed))
    common = rng.normal(0.0, common_sigma, spec.replicates)
    rows = []
    for p, point in enumerate(points):
        f = 2 * point["x1"] + point["x2"]
        for r in range(spec.replicates):
            y = f + common[r] + rng.normal(0.0, sigma)
            rows.append({"arm": "a", "point": p, "replicate": r, "y": y})
    return pd.DataFrame(rows)


def _true_share(sigma: float, replicates: int) -> float:
    noise = sigma**2 / replicates
    return noise / (VAR_F + noise)


def _share_tolerance(share: float, samples: int, replicates: int, k: int = 2) -> float:
    """Three standard errors of the noise share (delta method).

    The noise variance is a chi-square over (M - 1)(R - 1) degrees of freedom; the
    variance of the point means is counted as if only the 2N independent rows (A and
    B) were informative and the outputs Gaussian (a uniform-based f has lighter tails),
    both conservative.
    """
    m = samples * (k + 2)
    rel_var = 2 / ((m - 1) * (replicates - 1)) + 2 / (2 * samples)
    return 3 * share * float(np.sqrt(rel_var))


def test_intervals_contain_the_indices_of_the_point_means() -> None:
    spec = _spec(samples=1024, replicates=4)
    sigma = 0.4
    sens = sensitivity(_runs(spec, sigma), spec, ["y"]).set_index("factor")
    share = _true_share(sigma, 4)
    for factor, s in TRUE_S.items():
        row = sens.loc[factor]
        # Independent noise shrinks first-order indices by 1 - share and adds the share
        # to each total index (the two runs it compares each carry it).
        expected_s1 = s * (1 - share)
        expected_st = s * (1 - share) + share
        assert row["S1_low"] <= expected_s1 <= row["S1_high"], (factor, row)
        assert row["ST_low"] <= expected_st <= row["ST_high"], (factor, row)
        assert row["S1_width"] == pytest.approx(2 * row["S1_conf"])
        assert row["ST_width"] == pytest.approx(2 * row["ST_conf"])
    assert sens["replicates"].eq(4).all()


def test_with_little_noise_the_intervals_contain_the_true_indices() -> None:
    spec = _spec(samples=1024, replicates=8)
    sens = sensitivity(_runs(spec, 0.1), spec, ["y"]).set_index("factor")
    for factor, s in TRUE_S.items():
        row = sens.loc[factor]
        assert row["S1_low"] <= s <= row["S1_high"], (factor, row)
        assert row["ST_low"] <= s <= row["ST_high"], (factor, row)


def test_noise_share_is_near_its_known_value() -> None:
    samples, replicates, sigma = 256, 4, 0.6
    spec = _spec(samples, replicates)
    row = sensitivity(_runs(spec, sigma), spec, ["y"]).iloc[0]
    share = _true_share(sigma, replicates)
    assert abs(row["noise_share"] - share) < _share_tolerance(share, samples, replicates)
    assert row["noise_share_low"] <= share <= row["noise_share_high"]
    assert row["noise_note"] == ""
    # Independent replicates: the within-point share estimates the same thing.
    assert abs(row["within_point_share"] - share) < _share_tolerance(share, samples, replicates)


def test_common_random_numbers_are_not_counted_as_noise() -> None:
    """A shift shared by replicate i at every point moves every point mean alike."""
    samples, replicates, sigma = 256, 4, 0.6
    spec = _spec(samples, replicates)
    runs = _runs(spec, sigma, common_sigma=3.0)
    row = sensitivity(runs, spec, ["y"]).iloc[0]
    share = _true_share(sigma, replicates)
    assert abs(row["noise_share"] - share) < _share_tolerance(share, samples, replicates)
    # Counted as independent noise, the shared part would look like most of the variance.
    assert row["within_point_share"] > 3 * share
    indices = sensitivity(runs, spec, ["y"]).set_index("factor")
    for factor, s in TRUE_S.items():
        assert indices.loc[factor, "S1_low"] <= s * (1 - share) <= indices.loc[factor, "S1_high"]


def test_one_replicate_says_the_noise_is_not_estimable() -> None:
    spec = _spec(samples=64, replicates=1)
    sens = sensitivity(_runs(spec, 0.6), spec, ["y"])
    assert sens["noise_share"].isna().all()
    assert sens["noise_share_low"].isna().all() and sens["noise_share_high"].isna().all()
    assert sens["noise_note"].str.startswith("not estimable: 1 replicate per design point").all()
    # The indices themselves are still given, with their intervals.
    assert sens["S1_width"].gt(0).all()


def test_a_failed_run_leaves_the_noise_estimated_on_complete_replicates() -> None:
    spec = _spec(samples=64, replicates=3)
    runs = _runs(spec, 0.6)
    runs = runs[~((runs["point"] == 5) & (runs["replicate"] == 2))]
    row = sensitivity(runs, spec, ["y"]).iloc[0]
    assert row["replicates"] == 2
    assert np.isfinite(row["noise_share"])
    assert (
        row["noise_note"] == "estimated on the 2 replicates that gave a value at every design point"
    )


def test_negative_first_order_estimates_are_kept() -> None:
    """A factor with no effect, under noise: estimates scatter around 0, unclipped."""
    spec = _spec(samples=16, replicates=2)
    runs = _runs(spec, 3.0)
    sens = sensitivity(runs, spec, ["y"])
    assert (sens["S1_low"] < 0).any()
    assert (sens["S1_low"] == sens["S1"] - sens["S1_conf"]).all()


def test_noise_needs_whole_blocks_and_a_run_per_point() -> None:
    table = pd.DataFrame(np.ones((10, 2)))
    with pytest.raises(ValueError, match="do not form whole blocks of 4"):
        simulation_noise(table, 4)
    table.iloc[3] = np.nan
    with pytest.raises(ValueError, match="design point 3 has no run"):
        simulation_noise(table, 5)


def test_design_points_share_replicate_seeds(tmp_path: Path) -> None:
    """Replicate i of every design point runs with the same seed (common random numbers)."""
    path = ROOT / "experiments" / "behaviour_sensitivity.yaml"
    spec = load_experiment(path)
    design = spec.design.model_copy(update={"samples": 2})
    spec = spec.model_copy(update={"design": design, "replicates": 3, "days": 1})
    tasks = plan(spec, path, tmp_path / "store")
    seeds = pd.DataFrame(
        [{"point": t.point, "replicate": t.replicate, "seed": t.seed} for t in tasks]
    )
    assert seeds["point"].nunique() == 2 * (len(design.factors) + 2)
    per_replicate = seeds.groupby("replicate")["seed"].nunique()
    assert per_replicate.eq(1).all()  # one seed per replicate, whatever the point
    assert seeds.groupby("replicate")["seed"].first().nunique() == 3  # distinct replicates


@pytest.mark.parametrize("replicates", [1, 3])
def test_the_analysis_report_gives_the_noise_share_or_says_why_not(
    tmp_path: Path, replicates: int
) -> None:
    spec = _spec(samples=32, replicates=replicates)
    store = tmp_path / "store"
    store.mkdir()
    identity = {"experiment": spec.model_dump(mode="json")}
    (store / "experiment.json").write_text(json.dumps(identity), encoding="utf-8")
    _runs(spec, 0.6).to_parquet(store / "summaries.parquet")
    result = analyze(store)
    report = (store / "analysis" / "report.md").read_text(encoding="utf-8")
    table = pd.read_csv(store / "analysis" / "sensitivity.csv")
    assert result.sensitivity is not None and len(table) == len(result.sensitivity) == 2
    assert "## Simulation noise" in report
    assert {"S1_low", "S1_high", "S1_width", "ST_width", "noise_share"} <= set(table.columns)
    if replicates == 1:
        assert table["noise_share"].isna().all()
        assert "not estimable: 1 replicate per design point" in report
    else:
        assert table["noise_share"].between(0, 1).all()
        assert "not estimable" not in report
