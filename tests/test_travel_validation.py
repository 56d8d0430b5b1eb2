"""Travel to the nearest of k units against Monte Carlo ground truth (MODEL.md section 5).

The model's own dispatch is measured end to end: calls are put at random points of
a small town, one at a time, far enough apart that every crew is free and has moved
on; the crew dispatch sends is the nearest (one agency, one travel mode), and its
travel time, turnout plus circuity x distance over the priority's speed, gives back
the straight-line distance it came from. With random patrol and long stays, a free
crew is at a cell drawn uniformly from its jurisdiction (its centre), each crew on
its own, so the mean of those distances must match the mean distance from a random
point to the nearest of k cell centres drawn at random, which numpy computes here by
Monte Carlo, independently of the model. A crew is on the road between two stays
about 3 % of its time (legs of a few minutes, stays of 4 hours): what that moves is
far inside the tolerance, the 99 % interval of the difference of the two means.
"""

from __future__ import annotations

import numpy as np
import pytest

from simulator.model import SecurityModel

from .conftest import SMALL_TOWN, inject, scenario_from

STAY_MIN = 240.0
SPACING_H = 9.0  # more than a stay and the leg after it: every crew has moved on
CALLS = 1200
TURNOUT_MIN = 1.0
SPEED_KMH = 40.0  # priority 1
CIRCUITY = 1.3


def _dispatch_distances(units: int, seed: int) -> np.ndarray:
    """Straight-line distance from each call to the crew sent, from its travel time."""
    scenario = scenario_from(
        SMALL_TOWN,
        agencies__state_police__units=units,
        agencies__state_police__patrol={"strategy": "random", "dwell_min": STAY_MIN},
        travel__turnout_min=TURNOUT_MIN,
        travel__speed_kmh=[SPEED_KMH, 30, 20],
        travel__circuity=CIRCUITY,
        dispatch__call_handling_min=0,
        run__days=int(CALLS * SPACING_H / 24) + 3,
    )
    model = SecurityModel(scenario, seed)
    t = model.territory
    rng = np.random.default_rng(1000 + seed)
    land = np.flatnonzero(t.land)
    half = t.cell_m / 2
    calls = []
    for i in range(CALLS):
        at = 24.0 + i * SPACING_H
        model.run_until(at)
        cell = rng.choice(land)
        x, y = t.x_m[cell] + rng.uniform(-half, half), t.y_m[cell] + rng.uniform(-half, half)
        calls.append(inject(model, at, x, y, priority=1, on_scene_min=1.0))
    model.run_until(24.0 + CALLS * SPACING_H + 2)
    travel_h = []
    for c in calls:
        assert c.t_dispatched_h == c.t_reported_h  # a crew was free at once
        assert c.t_arrived_h is not None
        travel_h.append(c.t_arrived_h - c.t_dispatched_h)
    return (np.array(travel_h) - TURNOUT_MIN / 60) * SPEED_KMH * 1000 / CIRCUITY


def _monte_carlo(units: int, n: int = 400_000) -> tuple[float, float]:
    """Mean and standard error of the distance from a random point to the nearest of
    ``units`` cell centres drawn at random (with replacement) from the town's land."""
    model = SecurityModel(scenario_from(SMALL_TOWN), 0)
    t = model.territory
    rng = np.random.default_rng(7)
    land = np.flatnonzero(t.land)
    half = t.cell_m / 2
    at = rng.choice(land, n)
    x = t.x_m[at] + rng.uniform(-half, half, n)
    y = t.y_m[at] + rng.uniform(-half, half, n)
    crews = rng.choice(land, (n, units))
    nearest = np.hypot(t.x_m[crews] - x[:, None], t.y_m[crews] - y[:, None]).min(axis=1)
    return float(nearest.mean()), float(nearest.std(ddof=1) / np.sqrt(n))


@pytest.mark.parametrize("units", [1, 3, 8])
def test_travel_to_the_nearest_crew_matches_monte_carlo(units: int) -> None:
    distances = _dispatch_distances(units, seed=units)
    expected, expected_se = _monte_carlo(units)
    se = np.hypot(distances.std(ddof=1) / np.sqrt(distances.size), expected_se)
    assert abs(distances.mean() - expected) < 2.576 * se, (distances.mean(), expected, se)
    # The tolerance is a few per cent of the distance: the test can tell a wrong one.
    assert 2.576 * se < 0.06 * expected


def test_the_check_tells_a_wrong_distance() -> None:
    """Its power: crews at their station (no patrol) are farther, on average, than k
    random cells, and the same comparison refuses them."""
    scenario = scenario_from(SMALL_TOWN, agencies__state_police__units=3)
    assert scenario.agencies["state_police"].patrol.strategy == "static"
    model = SecurityModel(scenario, 1)
    t = model.territory
    rng = np.random.default_rng(5)
    land = np.flatnonzero(t.land)
    stations = {u.cell for group in model.units for u in group}
    at = rng.choice(land, 20_000)
    sx = np.array([t.x_m[c] for c in stations])
    sy = np.array([t.y_m[c] for c in stations])
    from_station = np.hypot(sx - t.x_m[at][:, None], sy - t.y_m[at][:, None]).min(axis=1)
    expected, se = _monte_carlo(3)
    assert abs(from_station.mean() - expected) > 2.576 * np.hypot(
        from_station.std(ddof=1) / np.sqrt(at.size), se
    )
