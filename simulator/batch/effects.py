"""Effect sizes from paired replicates: elasticities, relative changes and quotients.

Replicate ``i`` of every arm shares its seed (common random numbers), so every
estimator here works on *pairs*: the i-th value of one arm against the i-th of
another. Two kinds of interval, both at 95 % with Student's t on n - 1 degrees of
freedom (n pairs):

* **Log ratios of paired means** (a relative change, an elasticity, the gap
  between two elasticities): the delta method. For ``log(mean(a) / mean(b))`` the
  influence of pair i is ``a_i / mean(a) - b_i / mean(b)``; the interval is the
  estimate plus or minus t times the standard error of the mean of those paired
  differences. Noise in both means, and their correlation through the shared
  seed, is counted.
* **How much pairing narrows an interval** (common random numbers at work): the
  width of the paired interval of a difference over that of the unpaired one,
  sd(a - b) / sqrt(var(a) + var(b)) times t(n - 1) / t(2n - 2), with a percentile
  bootstrap interval over the pairs (fixed seed: the report is reproducible).
* **Ratios of mean paired differences** (the weighted displacement quotient, the
  flattening of a dose curve), whose denominator may be near zero: Fieller's
  interval, exact for normal means. When the denominator is not significantly
  different from zero the interval is unbounded (-inf, inf), which is the honest
  answer: the ratio is not estimable from these runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from simulator.batch.analysis import LEVEL

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Interval:
    """An estimate and its 95 % interval (NaN where not estimable).

    Attributes:
        value: The point estimate.
        low: Lower end (may be -inf: unbounded).
        high: Upper end (may be inf: unbounded).
        n: Pairs used.
    """

    value: float
    low: float
    high: float
    n: int

    @property
    def estimable(self) -> bool:
        """Whether there is a point estimate."""
        return math.isfinite(self.value)


NOT_ESTIMABLE = Interval(math.nan, math.nan, math.nan, 0)


def _pairs(*samples: ArrayLike) -> list[FloatArray]:
    arrays = [np.asarray(s, dtype=float) for s in samples]
    if len({a.shape for a in arrays}) != 1 or arrays[0].ndim != 1:
        raise ValueError("paired samples need the same length, one value per replicate")
    ok = np.logical_and.reduce([np.isfinite(a) for a in arrays])
    return [a[ok] for a in arrays]


def _t(n: int) -> float:
    return float(stats.t.ppf(0.5 + LEVEL / 2, n - 1))


def _log_ratio(a: FloatArray, b: FloatArray) -> tuple[float, FloatArray]:
    """``log(mean(a) / mean(b))`` and the influence of each pair on it."""
    ma, mb = float(a.mean()), float(b.mean())
    return math.log(ma / mb), a / ma - b / mb


def _t_interval(value: float, influence: FloatArray) -> Interval:
    n = influence.size
    if n < 2:
        return Interval(value, math.nan, math.nan, n)
    half = _t(n) * float(influence.std(ddof=1)) / math.sqrt(n)
    return Interval(value, value - half, value + half, n)


def _positive(*arrays: FloatArray) -> bool:
    return all(a.size > 0 and float(a.mean()) > 0 for a in arrays)


def relative_change(treated: ArrayLike, reference: ArrayLike) -> Interval:
    """``mean(treated) / mean(reference) - 1`` over paired replicates.

    The interval is the delta-method interval of the log ratio, mapped back
    (so it is never below -1).
    """
    a, b = _pairs(treated, reference)
    if not _positive(a, b):
        return NOT_ESTIMABLE
    value, influence = _log_ratio(a, b)
    on_log = _t_interval(value, influence)
    return Interval(
        math.expm1(on_log.value), math.expm1(on_log.low), math.expm1(on_log.high), on_log.n
    )


def pairing_ratio(treated: ArrayLike, reference: ArrayLike, resamples: int = 4000) -> Interval:
    """Width of the paired interval of ``treated - reference`` over the unpaired one's.

    Below 1, the shared seeds narrow the comparison; 1/3 means a difference three
    times smaller is detected with the same runs.
    """
    a, b = _pairs(treated, reference)
    n = a.size
    if n < 3:
        return NOT_ESTIMABLE

    def ratio(x: FloatArray, y: FloatArray) -> FloatArray:
        spread = np.var(x, ddof=1, axis=-1) + np.var(y, ddof=1, axis=-1)
        out: FloatArray = np.sqrt(
            np.var(x - y, ddof=1, axis=-1) / np.where(spread > 0, spread, np.nan)
        )
        return out

    # The paired interval uses Student's t on n - 1 degrees of freedom, the unpaired
    # one on 2n - 2 (Welch's, with equal variances): the widths differ by that too.
    quantiles = _t(n) / _t(2 * n - 1)
    value = float(ratio(a, b)) * quantiles
    if not math.isfinite(value):
        return NOT_ESTIMABLE
    pick = np.random.default_rng(0).integers(0, n, size=(resamples, n))
    boot = ratio(a[pick], b[pick]) * quantiles
    boot = boot[np.isfinite(boot)]
    low, high = np.quantile(boot, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return Interval(value, float(low), float(high), n)


def elasticity(
    response_treated: ArrayLike,
    response_reference: ArrayLike,
    dose_treated: ArrayLike,
    dose_reference: ArrayLike,
) -> Interval:
    """Log ratio of the paired means of a response over the log ratio of the dose's.

    ``log(mean(Y_t) / mean(Y_r)) / log(mean(X_t) / mean(X_r))``: with X the officers
    and Y the offences, the elasticity of offences with respect to officers. The
    dose may vary between replicates (a response time, say); its noise is counted.
    """
    yt, yr, xt, xr = _pairs(response_treated, response_reference, dose_treated, dose_reference)
    if not _positive(yt, yr, xt, xr):
        return NOT_ESTIMABLE
    log_y, u = _log_ratio(yt, yr)
    log_x, v = _log_ratio(xt, xr)
    if abs(log_x) < 1e-12:
        return NOT_ESTIMABLE  # the arms do not differ in the dose
    value = log_y / log_x
    return _t_interval(value, (u - value * v) / log_x)


def elasticity_gap(
    first: tuple[ArrayLike, ArrayLike],
    second: tuple[ArrayLike, ArrayLike],
    dose: tuple[ArrayLike, ArrayLike],
) -> Interval:
    """The elasticity of a first response minus that of a second, same arms and dose.

    Each pair is (treated, reference). Negative: the first response is more
    elastic (falls more) than the second, e.g. violent against property offences.
    """
    at, ar, bt, br, xt, xr = _pairs(*first, *second, *dose)
    if not _positive(at, ar, bt, br, xt, xr):
        return NOT_ESTIMABLE
    log_a, ua = _log_ratio(at, ar)
    log_b, ub = _log_ratio(bt, br)
    log_x, v = _log_ratio(xt, xr)
    if abs(log_x) < 1e-12:
        return NOT_ESTIMABLE
    value = (log_a - log_b) / log_x
    return _t_interval(value, (ua - ub - value * v) / log_x)


def fieller(numerator: ArrayLike, denominator: ArrayLike) -> Interval:
    """``mean(numerator) / mean(denominator)`` for paired samples, with Fieller's interval.

    Unbounded (-inf, inf) when the denominator's mean is not significantly
    different from zero at the 95 % level.
    """
    x, y = _pairs(numerator, denominator)
    n = x.size
    if n == 0 or float(y.mean()) == 0.0:
        return NOT_ESTIMABLE
    mx, my = float(x.mean()), float(y.mean())
    value = mx / my
    if n < 2:
        return Interval(value, math.nan, math.nan, n)
    cov = np.cov(x, y, ddof=1) / n
    sxx, syy, sxy = float(cov[0, 0]), float(cov[1, 1]), float(cov[0, 1])
    t2 = _t(n) ** 2
    a = my * my - t2 * syy
    b = mx * my - t2 * sxy
    c = mx * mx - t2 * sxx
    if a <= 0:
        return Interval(value, -math.inf, math.inf, n)
    root = math.sqrt(max(b * b - a * c, 0.0))
    return Interval(value, (b - root) / a, (b + root) / a, n)


def displacement_quotient(
    ring_treated: ArrayLike,
    ring_control: ArrayLike,
    target_treated: ArrayLike,
    target_control: ArrayLike,
) -> Interval:
    """Weighted displacement quotient (Bowers and Johnson 2003) of paired arms.

    ``(R_t - R_c) / (T_t - T_c)``: the change of offences in the ring around the
    targets per change in the targets, from the control arm to the treated one.
    It is Bowers and Johnson's quotient with the control arm standing for the
    period before and no trend to remove (both arms share their time and seeds,
    so no control area is needed). Positive: the ring gained from the treatment
    too (diffusion of benefits exceeds displacement); negative: net displacement;
    above 1: the ring gained more than the targets.
    """
    rt, rc, tt, tc = _pairs(ring_treated, ring_control, target_treated, target_control)
    return fieller(rt - rc, tt - tc)


def flattening(short: ArrayLike, middle: ArrayLike, long: ArrayLike) -> Interval:
    """The change from a middle to a long dose, as a share of the change up to the middle.

    ``(Y_middle - Y_long) / (Y_short - Y_middle)`` over paired arms: 0 when the
    curve is flat after the middle dose, 1 when going on gains as much again,
    below 0 when it turns back. The denominator is the robust part of a dose
    curve (the gain of a real dose over a token one), so the ratio stays
    estimable when the curve turns back and the short and long ends meet.
    """
    s, m, lo = _pairs(short, middle, long)
    return fieller(m - lo, s - m)
