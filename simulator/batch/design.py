"""Design points: which values the factors take in each run."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from simulator.batch.spec import DesignSpec


def _scale(unit: np.ndarray, design: DesignSpec) -> list[dict[str, Any]]:
    names = list(design.factors)
    points = []
    for row in unit:
        point: dict[str, Any] = {}
        for name, u in zip(names, row, strict=True):
            f = design.factors[name]
            assert f.low is not None and f.high is not None
            value = f.low + float(u) * (f.high - f.low)
            point[name] = round(value) if f.integer else value
        points.append(point)
    return points


def salib_problem(design: DesignSpec) -> dict[str, Any]:
    """The problem definition SALib expects, from the factors' bounds."""
    names = list(design.factors)
    return {
        "num_vars": len(names),
        "names": names,
        "bounds": [[design.factors[n].low, design.factors[n].high] for n in names],
    }


def design_points(design: DesignSpec, seed: int = 0) -> list[dict[str, Any]]:
    """Every design point, in a fixed order (an empty design has one empty point).

    ``sobol`` and ``morris`` points come from SALib (Saltelli sampling, Morris
    trajectories), ``lhs`` from SciPy's Latin hypercube; all are seeded.
    """
    factors = design.factors
    if design.kind == "none" or not factors:
        return [{}]
    names = list(factors)
    if design.kind == "grid":
        levels = [factors[n].values or [] for n in names]
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*levels)]
    if design.kind == "list":
        columns = [factors[n].values or [] for n in names]
        return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
    if design.kind == "lhs":
        from scipy.stats import qmc

        sampler = qmc.LatinHypercube(d=len(names), seed=np.random.default_rng(seed))
        return _scale(sampler.random(design.samples), design)
    problem = salib_problem(design)
    if design.kind == "sobol":
        from SALib.sample import sobol

        values = sobol.sample(problem, design.samples, calc_second_order=False, seed=seed)
    else:
        from SALib.sample import morris

        values = morris.sample(problem, design.samples, seed=seed)
    unit = (values - np.array([b[0] for b in problem["bounds"]])) / np.array(
        [b[1] - b[0] for b in problem["bounds"]]
    )
    return _scale(unit, design)
