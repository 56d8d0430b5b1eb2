"""The effect-size estimators of `secsim evidence`, on synthetic data with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulator.batch.effects import (
    displacement_quotient,
    elasticity,
    elasticity_gap,
    fieller,
    flattening,
    relative_change,
)

# 400 synthetic experiments: the coverage of a 95 % interval is then known to within
# +-3.3 points at three standard errors (sqrt(0.95 * 0.05 / 400) = 0.011).
TRIALS = 400
COVERAGE = (0.95 - 3 * 0.011, 0.95 + 3 * 0.011)


def test_exact_values_on_noiseless_pairs() -> None:
    officers = ([348.0] * 3, [316.0] * 3)  # (treated, reference)
    offences = ([980.0] * 3, [1000.0] * 3)
    e = elasticity(offences[0], offences[1], officers[0], officers[1])
    assert e.value == pytest.approx(math.log(0.98) / math.log(348 / 316))
    assert e.low == pytest.approx(e.value) and e.high == pytest.approx(e.value)
    c = relative_change([90.0, 90.0], [100.0, 100.0])
    assert c.value == pytest.approx(-0.1) and c.n == 2
    # Ring fell by 5 while targets fell by 20: a quarter of the effect diffused.
    q = displacement_quotient([95.0, 95.0], [100.0, 100.0], [80.0, 80.0], [100.0, 100.0])
    assert q.value == pytest.approx(0.25) and q.low == pytest.approx(0.25)
    f = flattening([150.0] * 2, [110.0] * 2, [100.0] * 2)
    assert f.value == pytest.approx(0.25)  # 10 more after the middle, 40 up to it


def test_not_estimable_without_a_dose_or_a_denominator() -> None:
    assert not elasticity([1.0, 2.0], [1.0, 2.0], [5.0, 5.0], [5.0, 5.0]).estimable
    assert not relative_change([1.0, 2.0], [0.0, 0.0]).estimable
    assert not fieller([1.0, 2.0], [0.0, 0.0]).estimable
    with pytest.raises(ValueError):
        relative_change([1.0, 2.0], [1.0])


def test_fieller_is_unbounded_when_the_denominator_may_be_zero() -> None:
    q = fieller([1.0, 2.0, 3.0], [-1.0, 0.5, 1.0])
    assert q.low == -math.inf and q.high == math.inf


def _paired_counts(
    rng: np.random.Generator, n: int, mean: float, factor: float
) -> tuple[np.ndarray, np.ndarray]:
    """Counts of a reference arm and a treated arm that share a replicate effect."""
    level = mean * rng.lognormal(0.0, 0.05, n)  # the seed's share: common to both arms
    return rng.poisson(level * factor).astype(float), rng.poisson(level).astype(float)


@pytest.mark.parametrize("pairs", [4, 10])
def test_elasticity_recovers_its_value_and_covers_it(pairs: int) -> None:
    rng = np.random.default_rng(7)
    true = -0.4
    dose = 1.3
    covered, values = 0, []
    for _ in range(TRIALS):
        treated, reference = _paired_counts(rng, pairs, 2000.0, dose**true)
        e = elasticity(treated, reference, [dose] * pairs, [1.0] * pairs)
        values.append(e.value)
        covered += e.low <= true <= e.high
    assert np.mean(values) == pytest.approx(true, abs=0.02)
    assert COVERAGE[0] <= covered / TRIALS <= COVERAGE[1], covered / TRIALS


def test_elasticity_gap_tells_which_response_is_more_elastic() -> None:
    rng = np.random.default_rng(8)
    dose, pairs = 1.3, 10
    covered, below = 0, 0
    for _ in range(TRIALS):
        vt, vr = _paired_counts(rng, pairs, 300.0, dose**-0.6)
        pt, pr = _paired_counts(rng, pairs, 3000.0, dose**-0.2)
        gap = elasticity_gap((vt, vr), (pt, pr), ([dose] * pairs, [1.0] * pairs))
        covered += gap.low <= -0.4 <= gap.high
        below += gap.value < 0
    assert COVERAGE[0] <= covered / TRIALS <= COVERAGE[1], covered / TRIALS
    assert below / TRIALS > 0.9


def test_displacement_quotient_covers_diffusion() -> None:
    rng = np.random.default_rng(9)
    pairs = 10
    covered = 0
    for _ in range(TRIALS):
        # Targets lose 12 %, the ring 3 % of a quarter as many offences: WDQ = 0.0625.
        tt, tc = _paired_counts(rng, pairs, 4000.0, 0.88)
        rt, rc = _paired_counts(rng, pairs, 1000.0, 0.97)
        q = displacement_quotient(rt, rc, tt, tc)
        covered += q.low <= (0.03 * 1000) / (0.12 * 4000) <= q.high
    assert COVERAGE[0] <= covered / TRIALS <= COVERAGE[1], covered / TRIALS


def test_a_naive_normal_interval_would_fail_the_coverage_test() -> None:
    """The coverage check can fail: z instead of t with 4 pairs under-covers."""
    rng = np.random.default_rng(10)
    covered = 0
    for _ in range(TRIALS):
        treated, reference = _paired_counts(rng, 4, 2000.0, 1.3**-0.4)
        e = elasticity(treated, reference, [1.3] * 4, [1.0] * 4)
        half = (e.high - e.low) / 2 * 1.96 / 3.182  # z quantile in place of t(3)
        covered += e.value - half <= -0.4 <= e.value + half
    assert covered / TRIALS < COVERAGE[0]
