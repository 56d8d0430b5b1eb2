"""Sensitivity analysis against theory: functions with known Sobol indices.

No simulation: a fake runs table on a Saltelli design of y = 2 x1 + x2 (x uniform on
[0, 1], so Var f = 4/12 + 1/12 and S1 = ST = 0.8 and 0.2) plus Gaussian noise of known
variance, with R replicates per point; and the Ishigami function for the emulator.
Tolerances come from the estimators' sampling distributions, not from pinned decimals.

SALib's Monte Carlo indices (``*_mc``) and the noise share are checked on large
designs, with the emulator made small (:func:`small_emulator`) since those tests do
not read its indices; the emulator's indices are checked on designs of the size a
simulation study affords.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulator.batch import emulated
from simulator.batch.analysis import _sensitivity_sections, analyze, sensitivity, simulation_noise
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


@pytest.fixture
def small_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cheap emulator (few training points, draws and restarts) for tests of the rest."""
    for name, value in {
        "MAX_TRAINING": 48,
        "RESTARTS": 0,
        "MEAN_BASE": 256,
        "DRAW_POINTS": 256,
        "REALISATIONS": 10,
        "BOOTSTRAPS": 2,
    }.items():
        monkeypatch.setattr(emulated, name, value)


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


def _mc(row: pd.Series, index: str) -> tuple[float, float]:
    """SALib's 95 % interval of a Monte Carlo index: estimate +- conf."""
    value, conf = row[f"{index}_mc"], row[f"{index}_mc_conf"]
    return value - conf, value + conf


@pytest.mark.usefixtures("small_emulator")
def test_monte_carlo_intervals_contain_the_indices_of_the_point_means() -> None:
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
        low, high = _mc(row, "S1")
        assert low <= expected_s1 <= high, (factor, row)
        low, high = _mc(row, "ST")
        assert low <= expected_st <= high, (factor, row)
    assert sens["replicates"].eq(4).all()


@pytest.mark.usefixtures("small_emulator")
def test_with_little_noise_the_monte_carlo_intervals_contain_the_true_indices() -> None:
    spec = _spec(samples=1024, replicates=8)
    sens = sensitivity(_runs(spec, 0.1), spec, ["y"]).set_index("factor")
    for factor, s in TRUE_S.items():
        row = sens.loc[factor]
        assert _mc(row, "S1")[0] <= s <= _mc(row, "S1")[1], (factor, row)
        assert _mc(row, "ST")[0] <= s <= _mc(row, "ST")[1], (factor, row)


@pytest.mark.usefixtures("small_emulator")
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


@pytest.mark.usefixtures("small_emulator")
def test_common_random_numbers_are_not_counted_as_noise() -> None:
    """A shift shared by replicate i at every point moves every point mean alike."""
    samples, replicates, sigma = 256, 4, 0.6
    spec = _spec(samples, replicates)
    runs = _runs(spec, sigma, common_sigma=3.0)
    indices = sensitivity(runs, spec, ["y"]).set_index("factor")
    row = indices.iloc[0]
    share = _true_share(sigma, replicates)
    assert abs(row["noise_share"] - share) < _share_tolerance(share, samples, replicates)
    # Counted as independent noise, the shared part would look like most of the variance.
    assert row["within_point_share"] > 3 * share
    for factor, s in TRUE_S.items():
        low, high = _mc(indices.loc[factor], "S1")
        assert low <= s * (1 - share) <= high


@pytest.mark.usefixtures("small_emulator")
def test_one_replicate_says_the_noise_is_not_estimable() -> None:
    spec = _spec(samples=64, replicates=1)
    sens = sensitivity(_runs(spec, 0.6), spec, ["y"])
    assert sens["noise_share"].isna().all()
    assert sens["noise_share_low"].isna().all() and sens["noise_share_high"].isna().all()
    assert sens["noise_note"].str.startswith("not estimable: 1 replicate per design point").all()
    # The indices themselves are still given, with their intervals.
    assert sens["S1_width"].gt(0).all()


@pytest.mark.usefixtures("small_emulator")
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


@pytest.mark.usefixtures("small_emulator")
def test_negative_monte_carlo_first_order_estimates_are_kept() -> None:
    """Effects drowned in noise: Saltelli's estimates scatter around 0, and stay unclipped.

    (x2's first-order estimate is below 0 on this input: a clip at 0 would give 0.)
    """
    spec = _spec(samples=16, replicates=2)
    runs = _runs(spec, 3.0)
    sens = sensitivity(runs, spec, ["y"])
    assert (sens["S1_mc"] < 0).any()


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


@pytest.mark.usefixtures("small_emulator")
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
    assert "## Simulation noise" in report and "## Emulator" in report
    assert {
        "S1_low",
        "S1_high",
        "S1_width",
        "ST_width",
        "S1_mc",
        "S1_mc_conf",
        "emulator_q2",
        "noise_share",
    } <= set(table.columns)
    if replicates == 1:
        assert table["noise_share"].isna().all()
        assert "not estimable: 1 replicate per design point" in report
    else:
        assert table["noise_share"].between(0, 1).all()
        assert "not estimable" not in report


# ----------------------------------------------------------------- emulator indices


def _ishigami_truth(a: float = 7.0, b: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Analytic S1 and ST of Ishigami's f = sin x1 + a sin^2 x2 + b x3^4 sin x1 on [-pi, pi]^3."""
    v1 = 0.5 * (1 + b * np.pi**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * np.pi**8 * (1 / 18 - 1 / 50)
    total = v1 + v2 + v13
    return np.array([v1, v2, 0.0]) / total, np.array([v1 + v13, v2, v13]) / total


@pytest.fixture(scope="module")
def ishigami() -> emulated.EmulatedIndices:
    """Emulator indices of Ishigami, noise added, on a Saltelli design of 64 x 5 points."""
    from SALib.sample import sobol

    bounds = np.array([[-np.pi, np.pi]] * 3)
    problem = {"num_vars": 3, "names": ["x1", "x2", "x3"], "bounds": bounds.tolist()}
    x = sobol.sample(problem, 64, calc_second_order=False, seed=3)
    f = np.sin(x[:, 0]) + 7 * np.sin(x[:, 1]) ** 2 + 0.1 * x[:, 2] ** 4 * np.sin(x[:, 0])
    y = f + np.random.default_rng(5).normal(0.0, 0.3, len(f))
    return emulated.emulated_indices(x, y, bounds)


def test_emulator_recovers_the_ishigami_indices_with_narrow_intervals(
    ishigami: emulated.EmulatedIndices,
) -> None:
    s1, st = _ishigami_truth()
    assert s1.round(3).tolist() == [0.314, 0.442, 0.0]
    assert st.round(3).tolist() == [0.558, 0.442, 0.244]
    assert ishigami.q2 > 0.9 and ishigami.note == ""
    for name, true, est, low, high in (
        ("S1", s1, ishigami.s1, ishigami.s1_low, ishigami.s1_high),
        ("ST", st, ishigami.st, ishigami.st_low, ishigami.st_high),
    ):
        assert ((low <= true) & (true <= high)).all(), (name, low, true, high)
        assert (low <= est).all() and (est <= high).all(), (name, low, est, high)
        assert np.abs(est - true).max() < 0.05, (name, est, true)
        assert (high - low < 0.2).all(), (name, high - low)
        # The intervals tell the factors apart: each excludes every other factor's value
        # that differs from its own by more than 0.1 (swapped factors would fail).
        for i in range(3):
            others = true[np.abs(true - true[i]) > 0.1]
            assert not ((low[i] <= others) & (others <= high[i])).any(), (name, i)


def test_emulator_indices_leave_the_simulation_noise_out() -> None:
    """With an 18 % noise share SALib's indices are biased; the emulator's are not."""
    samples, replicates, sigma = 64, 4, 0.6
    spec = _spec(samples, replicates)
    sens = sensitivity(_runs(spec, sigma), spec, ["y"]).set_index("factor")
    share = _true_share(sigma, replicates)
    assert share > 0.15
    for factor, s in TRUE_S.items():
        row = sens.loc[factor]
        for index in ("S1", "ST"):
            assert row[f"{index}_low"] <= s <= row[f"{index}_high"], (factor, index, row)
            assert row[f"{index}_width"] == pytest.approx(
                row[f"{index}_high"] - row[f"{index}_low"]
            )
            assert row[f"{index}_width"] < 0.2
            assert row[f"{index}_width"] < 2 * row[f"{index}_mc_conf"]
    assert sens["emulator_q2"].iloc[0] > 0.7 and sens["emulator_note"].iloc[0] == ""
    # The emulator takes about the noise share for noise.
    assert abs(sens["emulator_nugget_share"].iloc[0] - share) < 0.1


@pytest.mark.usefixtures("small_emulator")  # the same code, fewer draws
def test_emulator_indices_are_deterministic() -> None:
    x = np.random.default_rng(1).random((40, 2))
    y = 2 * x[:, 0] + x[:, 1] + np.random.default_rng(2).normal(0.0, 0.1, 40)
    bounds = np.array([[0.0, 1.0], [0.0, 1.0]])
    first = emulated.emulated_indices(x, y, bounds)
    second = emulated.emulated_indices(x, y, bounds)
    for field in ("s1", "s1_low", "s1_high", "st", "st_low", "st_high"):
        np.testing.assert_array_equal(getattr(first, field), getattr(second, field))
    assert first.q2 == second.q2


@pytest.mark.usefixtures("small_emulator")
def test_an_emulator_of_pure_noise_says_its_indices_are_unreliable() -> None:
    x = np.random.default_rng(1).random((40, 2))
    y = np.random.default_rng(2).normal(0.0, 1.0, 40)
    result = emulated.emulated_indices(x, y, np.array([[0.0, 1.0], [0.0, 1.0]]))
    assert result.q2 < emulated.Q2_WARNING
    assert result.note.startswith("emulator Q2 ")
    assert "its indices are unreliable" in result.note


def test_indices_are_not_given_where_the_points_may_differ_by_noise_alone(
    small_emulator: None,
) -> None:
    """Noise 0.96 of the point means' variance gave S1 = 1.00 (0.90 to 1.10): precise-looking
    indices of an emulator of noise. Where the noise share's interval reaches 1, none."""
    spec = _spec(samples=16, replicates=2)
    noisy = sensitivity(_runs(spec, sigma=40.0), spec, ["y"])
    assert noisy["S1"].isna().all() and noisy["ST_high"].isna().all()
    assert noisy["noise_share_high"].iloc[0] >= 1.0
    assert noisy["emulator_note"].iloc[0].startswith("not estimable: simulation noise is")
    clear = sensitivity(_runs(spec, sigma=0.05), spec, ["y"])
    assert clear["S1"].notna().all() and "not estimable" not in clear["emulator_note"].iloc[0]


def test_noise_shared_by_points_that_differ_in_an_inert_factor_is_still_noise() -> None:
    """Common random numbers: a point and its copy with an inert factor changed give
    the same output, which a fitted nugget reads as "no noise"; the replicates' noise
    variance, fixed as the nugget, keeps the indices those of the mean response."""
    factors = {name: {"low": 0.0, "high": 1.0} for name in ("x1", "x2", "x3")}
    spec = ExperimentSpec.model_validate(
        _spec(32, 4).model_dump() | {"design": {"kind": "sobol", "samples": 32, "factors": factors}}
    )
    points = design_points(spec.design, int(spec.design_seed))
    rows = []
    for p, point in enumerate(points):
        x1, x2 = point["x1"], point["x2"]
        for r in range(spec.replicates):
            # Noise that is a function of the replicate and the active factors only.
            noise = 0.6 * np.sin(1000 * (x1 + 3 * x2) + 2.1 * r)
            rows.append({"arm": "a", "point": p, "replicate": r, "y": 2 * x1 + x2 + noise})
    sens = sensitivity(pd.DataFrame(rows), spec, ["y"]).set_index("factor")
    for factor, s in (TRUE_S | {"x3": 0.0}).items():
        row = sens.loc[factor]
        for index in ("S1", "ST"):
            assert row[f"{index}_low"] - 0.01 <= s <= row[f"{index}_high"] + 0.01, (
                factor,
                index,
                row,
            )
    # The same noise variance, over the variance of the point means with n, not n - 1.
    share = sens["noise_share"].iloc[0]
    assert sens["emulator_nugget_share"].iloc[0] == pytest.approx(share, rel=0.02)


def test_an_unfinished_design_says_why_it_has_no_indices(tmp_path: Path) -> None:
    """A stopped Sobol batch: no index without every point, said so; the table loads."""
    spec = _spec(samples=32, replicates=2)
    store = tmp_path / "store"
    store.mkdir()
    identity = {"experiment": spec.model_dump(mode="json")}
    (store / "experiment.json").write_text(json.dumps(identity), encoding="utf-8")
    runs = _runs(spec, 0.6)
    runs[runs["point"] > 0].to_parquet(store / "summaries.parquet")  # point 0 not run
    status = np.where(runs["point"] > 0, "done", "interrupted")
    pd.DataFrame({"status": status}).to_parquet(store / "manifest.parquet")
    result = analyze(store)
    report = (store / "analysis" / "report.md").read_text(encoding="utf-8")
    assert result.sensitivity is not None and result.sensitivity.empty
    assert "Indices need every design point" in report and "--resume" in report
    assert "no output varies" not in report
    table = pd.read_csv(store / "analysis" / "sensitivity.csv")
    assert table.empty and list(table.columns) == ["arm", "output", "factor"]


def test_an_output_with_no_index_is_named_with_why(tmp_path: Path, small_emulator: None) -> None:
    """A constant output (a cost no factor moves) and one without a value at a point
    vanished from the sensitivity table and the report without a word."""
    spec = _spec(samples=8, replicates=2).model_copy(update={"outputs": ["y", "flat", "gap"]})
    store = tmp_path / "store"
    store.mkdir()
    identity = {"experiment": spec.model_dump(mode="json")}
    (store / "experiment.json").write_text(json.dumps(identity), encoding="utf-8")
    runs = _runs(spec, 0.1).assign(flat=3.0, gap=1.0)
    runs.loc[runs["point"] == 0, "gap"] = np.nan
    runs.to_parquet(store / "summaries.parquet")
    pd.DataFrame({"status": ["done"] * len(runs)}).to_parquet(store / "manifest.parquet")
    result = analyze(store)
    assert result.sensitivity is not None and set(result.sensitivity["output"]) == {"y"}
    report = (store / "analysis" / "report.md").read_text(encoding="utf-8")
    assert "No index for `flat`: the same value at every design point." in report
    assert "No index for `gap`: no value at some design point." in report
    # Two arms: the note names the arm whose output has no index, not the other's.
    arms = {"a": {"scenario": "unused.yaml"}, "b": {"scenario": "unused.yaml"}}
    two = ExperimentSpec.model_validate(spec.model_dump() | {"arms": arms, "outputs": ["y"]})
    both = pd.concat([runs, runs.assign(arm="b", y=2.0)], ignore_index=True)
    table = sensitivity(both, two, ["y"])
    assert set(table["arm"]) == {"a"} and table.attrs["no_index"] == {
        ("b", "y"): "the same value at every design point"
    }
    text = "".join(_sensitivity_sections(two, table))
    assert "No index for `y` in arm `b`: the same value at every design point." in text


def test_an_estimate_outside_its_own_interval_is_said() -> None:
    """A design too small for its emulator: the realisations' indices lie away from the
    mean's, and the interval misses the estimate (a researcher audit found ST 0.052 in
    0.056 to 0.443, unflagged)."""
    x = np.random.default_rng(1).random((12, 2))
    y = x[:, 0] + np.random.default_rng(101).normal(0.0, 0.5, 12)
    result = emulated.emulated_indices(x, y, np.array([[0.0, 1.0], [0.0, 1.0]]))
    outside = (result.s1 < result.s1_low) | (result.s1 > result.s1_high)
    outside |= (result.st < result.st_low) | (result.st > result.st_high)
    assert outside.sum() == 1
    assert "1 of 2 factors' estimates lie outside their 95 % interval" in result.note
