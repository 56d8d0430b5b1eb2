"""History matching with Gaussian-process emulators (the numbers only, no runs).

The method of Vernon, Goldstein and Bower (2010, *Bayesian Analysis* 5(4):619-670)
as used for stochastic epidemiological models by Andrianakis et al. (2015,
*PLoS Computational Biology* 11(1):e1003968). Parameters live in the unit cube
(log-scaled ones in log space); each wave fits one emulator per target on the
replicate means of its design points and rules out the points whose
implausibility

    I(x) = |z - E[f(x)]| / sqrt(V_obs + V_disc + V_em(x) + V_ens)

exceeds the cut-off for some target (or for two, with the second-max rule).
A point is not ruled out yet (NROY) if no wave's emulators rule it out.

Everything here is a function of its arguments and a seed: the same runs give
the same emulators, the same implausibilities and the same next design.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import qmc
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

from simulator.calibration.spec import ParameterSpec

# Digits kept in a design value: what is run is what is stored, whatever the float.
DESIGN_DIGITS = 6


def to_unit(values: np.ndarray, parameters: Sequence[ParameterSpec]) -> np.ndarray:
    """Parameter values (n x d, natural scale) to unit-cube coordinates."""
    out = np.empty_like(values, dtype=float)
    for j, p in enumerate(parameters):
        low, high = p.bounds
        column = values[:, j].astype(float)
        if p.scale == "log":
            out[:, j] = (np.log(column) - np.log(low)) / (np.log(high) - np.log(low))
        else:
            out[:, j] = (column - low) / (high - low)
    return out


def from_unit(unit: np.ndarray, parameters: Sequence[ParameterSpec]) -> np.ndarray:
    """Unit-cube coordinates (n x d) to parameter values, rounded as they are run."""
    out = np.empty_like(unit, dtype=float)
    for j, p in enumerate(parameters):
        low, high = p.bounds
        if p.scale == "log":
            column = np.exp(np.log(low) + unit[:, j] * (np.log(high) - np.log(low)))
        else:
            column = low + unit[:, j] * (high - low)
        if p.integer:
            column = np.clip(np.round(column), np.ceil(low), np.floor(high))
        else:
            column = np.array([float(f"{v:.{DESIGN_DIGITS}g}") for v in column])
        out[:, j] = column
    return out


@dataclass(frozen=True)
class Emulator:
    """A Gaussian process of one target's replicate means over the unit cube."""

    gp: GaussianProcessRegressor
    y_mean: float
    y_scale: float
    # V_ens: the variance of a mean of R replicates, averaged over the wave's points.
    ensemble_var: float

    def predict(self, unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Expected output and emulator variance V_em (without the fitted nugget)."""
        mean, sd = self.gp.predict(unit, return_std=True)
        nugget = float(self.gp.kernel_.k2.noise_level)
        var = np.clip(sd**2 - nugget, 0.0, None)
        return mean * self.y_scale + self.y_mean, var * self.y_scale**2


def fit_emulator(unit: np.ndarray, replicates: np.ndarray, seed: int) -> Emulator:
    """Fit an emulator on design points and their replicate outputs.

    Args:
        unit: Design points in the unit cube (n x d).
        replicates: The target's statistic, one row per point, one column per replicate.
        seed: Seed of the optimiser's restarts.
    """
    means = replicates.mean(axis=1)
    r = replicates.shape[1]
    # The noise of each point's mean. A variance from R - 1 degrees of freedom alone
    # is often near zero by chance (R = 2: one point in ten below 2 % of the truth),
    # and the GP would then pass exactly through that point's noisy mean; it is
    # shrunk halfway to the wave's pooled variance, which keeps most of the
    # heteroscedasticity (counts: variance grows with the mean) without trusting
    # one point's luck.
    own = replicates.var(axis=1, ddof=1) / r
    ens = 0.5 * (own + own.mean())
    y_mean = float(means.mean())
    y_scale = float(means.std()) or float(np.sqrt(ens.mean())) or 1.0
    d = unit.shape[1]
    kernel = ConstantKernel(1.0, (1e-3, 1e3)) * Matern(
        length_scale=np.full(d, 0.5), length_scale_bounds=(0.02, 20.0), nu=2.5
    ) + WhiteKernel(1e-3, (1e-8, 1.0))
    gp = GaussianProcessRegressor(
        kernel=kernel,
        alpha=ens / y_scale**2 + 1e-10,
        normalize_y=False,
        n_restarts_optimizer=2,
        random_state=seed,
    )
    with warnings.catch_warnings():
        # Bounds reached by a length scale mean the output barely depends on that input.
        warnings.simplefilter("ignore", ConvergenceWarning)
        gp.fit(unit, (means - y_mean) / y_scale)
    return Emulator(gp, y_mean, y_scale, float(ens.mean()))


@dataclass(frozen=True)
class Observation:
    """A target as history matching sees it."""

    value: float
    obs_var: float
    disc_var: float


def implausibility(
    emulators: Sequence[Emulator], observations: Sequence[Observation], unit: np.ndarray
) -> np.ndarray:
    """I(x) for each point (rows) and target (columns)."""
    out = np.empty((unit.shape[0], len(emulators)))
    for k, (em, obs) in enumerate(zip(emulators, observations, strict=True)):
        mean, var = em.predict(unit)
        total = obs.obs_var + obs.disc_var + var + em.ensemble_var
        out[:, k] = np.abs(obs.value - mean) / np.sqrt(np.maximum(total, 1e-300))
    return out


def rule_measure(imp: np.ndarray, rule: str) -> np.ndarray:
    """The implausibility a rule compares with the cut-off: the largest, or second largest."""
    if imp.shape[1] == 0:
        return np.zeros(imp.shape[0])
    ordered = np.sort(imp, axis=1)
    if rule == "second_max" and imp.shape[1] > 1:
        return ordered[:, -2]
    return ordered[:, -1]


@dataclass(frozen=True)
class Wave:
    """A fitted wave: its fit targets' emulators and observations."""

    emulators: tuple[Emulator, ...]
    observations: tuple[Observation, ...]


def nroy_measure(waves: Sequence[Wave], unit: np.ndarray, rule: str) -> np.ndarray:
    """The largest rule measure over every wave (a point is NROY if it is below the cut-off)."""
    worst = np.zeros(unit.shape[0])
    for wave in waves:
        measure = rule_measure(implausibility(wave.emulators, wave.observations, unit), rule)
        worst = np.maximum(worst, measure)
    return worst


def uniform_sample(n: int, d: int, seed: int) -> np.ndarray:
    """A seeded Latin hypercube of n points in the unit cube."""
    return np.asarray(qmc.LatinHypercube(d=d, seed=np.random.default_rng(seed)).random(n))


def maximin_subset(points: np.ndarray, n: int) -> np.ndarray:
    """Pick n of ``points`` spread out: greedy farthest-point selection from the first one."""
    if len(points) <= n:
        return points
    chosen = [0]
    nearest = np.linalg.norm(points - points[0], axis=1)
    for _ in range(n - 1):
        pick = int(np.argmax(nearest))
        chosen.append(pick)
        nearest = np.minimum(nearest, np.linalg.norm(points - points[pick], axis=1))
    return points[chosen]
