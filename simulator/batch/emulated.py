"""Sobol indices of a Gaussian-process emulator of the design's point means.

Monte Carlo (Saltelli) estimates on the design itself have intervals that shrink
only as ``1 / sqrt(N)``: with the few hundred runs a simulation study affords, they
are too wide to read. Following Oakley and O'Hagan (2004, JRSS B 66(3):751-769), the
point means are instead taken as observations of a smooth unknown function, a
Gaussian process is fitted to them, and the indices are those of the fitted process,
which can be evaluated at as many points as Monte Carlo needs.

* The emulator: scikit-learn's ``GaussianProcessRegressor`` on the inputs rescaled
  to [0, 1] by the factors' bounds and the output standardised, with an anisotropic
  (one length scale per factor) Matern 5/2 kernel times a constant, plus a white-noise
  term that absorbs the simulation noise left in the replicate means: the indices are
  those of the mean response, the noise excluded. When the replicates give the noise
  variance of a point mean, the white-noise variance is fixed at it, as in stochastic
  kriging (Ankenman, Nelson and Staum 2010, Oper. Res. 58(2):371-382): with common
  random numbers, two points that differ only in a factor with no effect get the same
  output, and a likelihood left free reads that as "no noise" and interpolates the
  noise. The other hyperparameters maximise the marginal likelihood, from a fixed set
  of optimizer restarts.
* The indices (:attr:`EmulatedIndices.s1`, :attr:`EmulatedIndices.st`): those of the
  posterior mean, by the Saltelli (2010) first-order and Jansen (1999) total
  estimators (Saltelli et al. 2010, Comput. Phys. Commun. 181:259-270, table 2) on a
  scrambled Sobol base sample of :data:`MEAN_BASE` points (a quasi-Monte Carlo error
  far below the intervals' widths, and not counted in them).
* Their 95 % intervals: as in Marrel et al. (2009, Reliab. Eng. Syst. Saf.
  94(3):742-751) and Le Gratiet, Cannamela and Iooss (2014, SIAM/ASA JUQ 2(1):336-363),
  :data:`REALISATIONS` joint draws of the posterior process (noise excluded) on a
  smaller random base sample, the indices of each, and for each :data:`BOOTSTRAPS`
  bootstrap resamples of that sample's rows; the 2.5 and 97.5 percentiles of the
  pooled indices cover both the emulator's uncertainty and the Monte Carlo error.
  The posterior mean serves as a control variate: each pooled index is the large-sample
  index of the mean plus the difference between the realisation's index and the
  mean's on the same (resampled) rows. Their common Monte Carlo error cancels out of
  the difference, so a few hundred base points give intervals that are mostly the
  emulator's uncertainty, about the estimate (without it, on a smooth function of 6
  factors emulated from 128 points, the widest interval was 0.17 instead of 0.04).
* The emulator's quality (:attr:`EmulatedIndices.q2`): the predictivity coefficient
  of its leave-one-out predictions of the point means (closed form, Dubrule 1983,
  Math. Geol. 15(6):687-699), hyperparameters held at their fitted values. It counts
  the simulation noise as unexplained, so it is at most about one minus the noise share.

Everything is seeded, and linear algebra runs on one thread (the same results on any
number of cores; the optimizer's many small factorisations also run far faster so on
a busy machine): the same design and outputs give the same indices.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.linalg import LinAlgError, cho_solve, cholesky, solve_triangular
from scipy.stats import qmc
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Kernel, Matern, WhiteKernel
from threadpoolctl import threadpool_limits

LEVEL = 0.95
SEED = 1
# Optimizer restarts from random hyperparameters (seeded), beside the start at 1.
RESTARTS = 4
# Base sample for the indices of the posterior mean: (k + 2) * MEAN_BASE predictions.
MEAN_BASE = 4096
# Joint posterior draws at about this many points, DRAW_POINTS // (k + 2) base points:
# one Cholesky factor of that size per output.
DRAW_POINTS = 4096
REALISATIONS = 200
BOOTSTRAPS = 20
# The emulator is fitted on at most the first MAX_TRAINING design points (its cost
# grows as their cube); a Saltelli design's leading base samples fill the space evenly.
MAX_TRAINING = 512
# Smallest white-noise variance (share of the output's variance): a noiseless output
# still needs a little for the factorisation.
NUGGET_FLOOR = 1e-8
# Below this leave-one-out Q2 the emulator predicts the point means too poorly for its
# indices to be trusted.
Q2_WARNING = 0.7


@dataclass(frozen=True)
class EmulatedIndices:
    """Sobol indices of a Gaussian-process emulator, with their 95 % intervals.

    Attributes:
        s1: First-order index of each factor (of the emulator's posterior mean).
        s1_low: Lower end of its 95 % interval (emulator and Monte Carlo uncertainty).
        s1_high: Upper end of that interval.
        st: Total index of each factor (of the posterior mean).
        st_low: Lower end of its 95 % interval.
        st_high: Upper end of that interval.
        q2: Leave-one-out predictivity coefficient of the emulator on the point means
            (1 is perfect, 0 no better than their mean).
        nugget_share: The emulator's white-noise variance over the variance of the
            point means: the noise share when the replicates give it, else the
            likelihood's estimate of it (noise, or lack of fit).
        note: A warning when ``q2`` is below :data:`Q2_WARNING`, or when the emulator
            was fitted on part of the design; empty otherwise.
    """

    s1: np.ndarray
    s1_low: np.ndarray
    s1_high: np.ndarray
    st: np.ndarray
    st_low: np.ndarray
    st_high: np.ndarray
    q2: float
    nugget_share: float
    note: str


def jansen_indices(fa: np.ndarray, fb: np.ndarray, fab: np.ndarray) -> tuple[np.ndarray, ...]:
    """First-order and total indices from a Saltelli sample (Saltelli et al. 2010, table 2).

    ``S1_i = mean(f(B) (f(AB_i) - f(A))) / V`` and ``ST_i = mean((f(A) - f(AB_i))^2) / 2V``,
    with ``V`` the variance of ``f(A)`` and ``f(B)`` together; ``AB_i`` is ``A`` with
    column ``i`` taken from ``B``. These are SALib's estimators.

    Args:
        fa: ``f(A)``, shape ``(..., N)``.
        fb: ``f(B)``, shape ``(..., N)``.
        fab: ``f(AB_i)``, shape ``(..., k, N)``.

    Returns:
        ``S1`` and ``ST``, each of shape ``(..., k)``.
    """
    variance = np.concatenate([fa, fb], axis=-1).var(axis=-1)[..., None]
    s1 = (fb[..., None, :] * (fab - fa[..., None, :])).mean(axis=-1) / variance
    st = 0.5 * ((fa[..., None, :] - fab) ** 2).mean(axis=-1) / variance
    return s1, st


def _saltelli(unit: np.ndarray, k: int) -> np.ndarray:
    """The points ``A``, ``B``, ``AB_1`` ... ``AB_k`` stacked, from ``N x 2k`` uniforms."""
    a, b = unit[:, :k], unit[:, k:]
    ab = np.repeat(a[None], k, axis=0)
    ab[np.arange(k), :, np.arange(k)] = b.T
    return np.concatenate([a, b, *ab])


def _split(values: np.ndarray, n: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``f(A)``, ``f(B)`` and ``f(AB_i)`` from values on :func:`_saltelli` points (last axis)."""
    fa, fb = values[..., :n], values[..., n : 2 * n]
    fab = values[..., 2 * n :].reshape(*values.shape[:-1], k, n)
    return fa, fb, fab


def _fit(x: np.ndarray, y: np.ndarray, nugget: float | None) -> GaussianProcessRegressor:
    """The emulator of standardised ``y``; white-noise variance ``nugget``, or fitted if None."""
    k = x.shape[1]
    white = (
        WhiteKernel(1e-2, (NUGGET_FLOOR, 1.0))
        if nugget is None
        else WhiteKernel(min(max(nugget, NUGGET_FLOOR), 1.0), "fixed")
    )
    kernel = (
        ConstantKernel(1.0, (1e-2, 1e2))
        * Matern(length_scale=np.ones(k), length_scale_bounds=(1e-2, 1e2), nu=2.5)
        + white
    )
    gp = GaussianProcessRegressor(
        kernel, n_restarts_optimizer=RESTARTS, random_state=SEED, normalize_y=False
    )
    with warnings.catch_warnings():
        # A factor with no effect drives its length scale to the upper bound, a nearly
        # linear output the constant to its upper bound, and a noiseless output the
        # white noise to its lower bound: expected, not failures.
        warnings.simplefilter("ignore", ConvergenceWarning)
        gp.fit(x, y)
    return gp


def _loo_q2(gp: GaussianProcessRegressor, y: np.ndarray) -> float:
    """Leave-one-out predictivity: ``1 - sum(e_i^2) / sum((y_i - mean y)^2)`` (Dubrule 1983)."""
    inverse = cho_solve((gp.L_, True), np.eye(len(y)))
    residuals = gp.alpha_ / np.diag(inverse)
    return float(1 - (residuals**2).sum() / ((y - y.mean()) ** 2).sum())


def _posterior_draws(
    gp: GaussianProcessRegressor, signal: Kernel, points: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The posterior mean at ``points``, and joint draws of the noiseless process there."""
    cross = signal(gp.X_train_, points)
    mean = cross.T @ gp.alpha_
    v = solve_triangular(gp.L_, cross, lower=True)
    covariance = signal(points) - v.T @ v
    scale = float(np.mean(np.diag(covariance))) or 1.0
    # The points of a Saltelli sample share coordinates and the posterior variance is
    # tiny near the design: the covariance is nearly singular, so add the smallest
    # jitter that lets it factor (relative 1e-10 to 1e-4, negligible against the draws).
    for jitter in (1e-10, 1e-8, 1e-6, 1e-4):
        try:
            factor = cholesky(
                covariance + jitter * scale * np.eye(len(points)), lower=True, check_finite=False
            )
            break
        except LinAlgError:
            continue
    else:
        raise LinAlgError("the emulator's posterior covariance is not positive definite")
    z = rng.standard_normal((len(points), REALISATIONS))
    return mean, (mean[:, None] + factor @ z).T


def emulated_indices(
    x: np.ndarray, y: np.ndarray, bounds: np.ndarray, noise_variance: float = float("nan")
) -> EmulatedIndices:
    """Sobol indices of a Gaussian-process emulator of ``y`` over ``x`` (see the module).

    Args:
        x: Design points, one row each, one column per factor.
        y: The output at each point (the mean of its replicates).
        bounds: ``(k, 2)`` lower and upper bound of each factor: the indices are those
            of the factors uniform between them.
        noise_variance: The variance of the simulation noise in a point mean, from
            the replicates (:class:`~simulator.batch.analysis.Noise`); the emulator's
            white-noise variance is fixed at it. NaN (not estimable, 1 replicate): fitted.

    Raises:
        ValueError: If ``y`` does not vary, or shapes disagree.
    """
    with threadpool_limits(limits=1):
        return _emulated_indices(x, y, bounds, noise_variance)


def _emulated_indices(
    x: np.ndarray, y: np.ndarray, bounds: np.ndarray, noise_variance: float
) -> EmulatedIndices:
    n_all, k = x.shape
    if y.shape != (n_all,) or bounds.shape != (k, 2):
        raise ValueError(f"shapes disagree: x {x.shape}, y {y.shape}, bounds {bounds.shape}")
    if np.ptp(y) == 0:
        raise ValueError("the output does not vary over the design")
    used = min(n_all, MAX_TRAINING)
    unit = (x[:used] - bounds[:, 0]) / (bounds[:, 1] - bounds[:, 0])
    # Standardised with n - 1, as the noise's share of the point means' variance
    # (Noise.share): the fixed nugget, in z's units, is that share.
    z = (y[:used] - y[:used].mean()) / y[:used].std(ddof=1)
    nugget = noise_variance / float(y[:used].var(ddof=1))
    gp = _fit(unit, z, nugget if np.isfinite(nugget) else None)
    signal, white = gp.kernel_.k1, gp.kernel_.k2
    # The output is standardised: the white-noise variance is a share of its variance
    # (the constant is the prior variance of an unbounded process, not that share).
    nugget_share = float(white.noise_level)

    sample = qmc.Sobol(2 * k, scramble=True, seed=SEED).random(MEAN_BASE)
    # The white-noise term is zero between distinct points: this is the signal's mean.
    predicted = gp.predict(_saltelli(sample, k))
    s1, st = jansen_indices(*_split(predicted, MEAN_BASE, k))

    rng = np.random.default_rng(SEED)
    base = DRAW_POINTS // (k + 2)
    mean, draws = _posterior_draws(gp, signal, _saltelli(rng.random((base, 2 * k)), k), rng)

    def resampled(values: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, ...]:
        """Indices of one function's values on bootstrap resamples ``rows`` of the base."""
        fa, fb, fab = _split(values, base, k)
        return jansen_indices(fa[rows], fb[rows], fab[:, rows].swapaxes(0, 1))

    pooled_s1, pooled_st = [], []
    for draw in draws:
        rows = rng.integers(base, size=(BOOTSTRAPS, base))
        (d1, dt), (c1, ct) = resampled(draw, rows), resampled(mean, rows)
        pooled_s1.append(s1 + d1 - c1)
        pooled_st.append(st + dt - ct)
    tails = [100 * (1 - LEVEL) / 2, 100 * (1 + LEVEL) / 2]
    s1_low, s1_high = np.percentile(np.concatenate(pooled_s1), tails, axis=0)
    st_low, st_high = np.percentile(np.concatenate(pooled_st), tails, axis=0)

    q2 = _loo_q2(gp, z)
    notes = []
    if used < n_all:
        notes.append(f"emulator fitted on the first {used} of {n_all} design points")
    if q2 < Q2_WARNING:
        notes.append(
            f"emulator Q2 {q2:.2f} < {Q2_WARNING}: it predicts the point means poorly "
            "(simulation noise counts against it too), so its indices are unreliable"
        )
    outside = (s1 < s1_low) | (s1 > s1_high) | (st < st_low) | (st > st_high)
    if outside.any():
        notes.append(
            f"{int(outside.sum())} of {k} factors' estimates lie outside their 95 % interval: "
            "the emulator's realisations disagree with its mean (too few design points or "
            "replicates for these indices)"
        )
    return EmulatedIndices(
        s1,
        s1_low,
        s1_high,
        st,
        st_low,
        st_high,
        q2,
        nugget_share,
        "; ".join(notes),
    )
