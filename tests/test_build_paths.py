"""Building the model: the residents' places and the routines' layers as they were made.

``Population._places`` groups the movers by home district once (it picked each
district's movers by comparing every mover's district), and makes each district's
distances once for work and school; ``ActivityModel._whereabouts`` counts the
residents by routine and cell in one count and makes each distinct hour once. The
code they replaced is written out here as the reference: the same places (the
same draws, in the same order) and the same layers, to the bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from simulator.model import SecurityModel
from simulator.scenario import load_scenario
from simulator.world.activity import _DAY_NIGHT_SHARE, _NIGHT_FROM, _NIGHT_SHARE, _NIGHT_UNTIL
from simulator.world.citizens import Population
from simulator.world.registries import HOURS_PER_DAY, HOURS_PER_WEEK, ROUTINES

from .conftest import SCENARIOS

_DISTANCE_M = {"jobs": 6000.0, "residents": 1500.0}


def plain_places(pop: Population, rng: np.random.Generator) -> np.ndarray:
    """``Population._places`` as it was written before (a mask per district)."""
    t = pop._territory
    place = pop.home.copy()
    district, land = t.district[t.land], t.land
    cells = np.maximum(np.bincount(district, minlength=t.n_districts), 1)
    centres_x = np.bincount(district, weights=t.x_m[land], minlength=t.n_districts) / cells
    centres_y = np.bincount(district, weights=t.y_m[land], minlength=t.n_districts) / cells
    home_district = t.district[pop.home]
    for drawn_near, stock in (("jobs", t.jobs), ("residents", t.residents)):
        patterns = [p for p, r in enumerate(ROUTINES.values()) if r.place == drawn_near]
        mass, scale = stock.astype(float), _DISTANCE_M[drawn_near]
        movers = np.flatnonzero(np.isin(pop.pattern, patterns))
        if movers.size == 0 or mass.sum() <= 0:
            continue
        by_district = home_district[movers]
        for d in np.unique(by_district):
            who = movers[by_district == d]
            dist = np.hypot(t.x_m - centres_x[d], t.y_m - centres_y[d])
            w = mass * np.exp(-dist / scale)
            if w.sum() <= 0:
                continue
            cum = np.cumsum(w)
            found = np.searchsorted(cum, rng.random(who.size) * cum[-1], side="right")
            place[who] = np.minimum(found, t.n_cells - 1)
    return place


def plain_whereabouts(model: SecurityModel) -> dict[str, Any]:
    """``ActivityModel._whereabouts`` as it was written before (every hour computed)."""
    t, pop = model.territory, model.population
    n_cells, n_routines = t.n_cells, len(ROUTINES)
    schedule = np.zeros((n_routines, HOURS_PER_WEEK, 3))
    for p, routine in enumerate(ROUTINES.values()):
        schedule[p, :, 1] = routine.at_place.by_hour_of_week()
        schedule[p, :, 2] = routine.out.by_hour_of_week()
    schedule[..., 0] = 1.0 - schedule[..., 1] - schedule[..., 2]
    home_counts, place_counts = np.zeros((n_routines, n_cells)), np.zeros((n_routines, n_cells))
    off_home, off_place = np.zeros((n_routines, n_cells)), np.zeros((n_routines, n_cells))
    for p in range(n_routines):
        mask = pop.pattern == p
        home_counts[p] = np.bincount(pop.home[mask], minlength=n_cells)
        place_counts[p] = np.bincount(pop.place[mask], minlength=n_cells)
        om = mask & pop.offender
        off_home[p] = np.bincount(pop.home[om], minlength=n_cells)
        off_place[p] = np.bincount(pop.place[om], minlength=n_cells)
    out_total = np.array([home_counts[p].sum() for p in range(n_routines)])
    off_out_total = off_home.sum(axis=1)
    shops = t.commercial / max(t.commercial.sum(), 1e-12)
    venues = t.night / max(t.night.sum(), 1e-12)
    local = t.residents / max(float(t.residents.sum()), 1e-12)
    layers = {
        name: np.zeros((HOURS_PER_WEEK, n_cells), dtype=np.float32)
        for name in ("people", "empty_homes", "visitors", "night_visitors", "offenders")
    }
    for hw in range(HOURS_PER_WEEK):
        hour = hw % HOURS_PER_DAY
        s = schedule[:, hw, :]
        at_night = hour >= _NIGHT_FROM or hour < _NIGHT_UNTIL
        night_share = _NIGHT_SHARE if at_night else _DAY_NIGHT_SHARE
        dest = (1 - night_share) * 0.7 * shops + night_share * venues
        dest = dest + 0.3 * local * (1 - night_share)
        dest = dest / dest.sum()
        out_people = float(out_total @ s[:, 2])
        layers["people"][hw] = s[:, 0] @ home_counts + s[:, 1] @ place_counts + out_people * dest
        layers["empty_homes"][hw] = (1.0 - s[:, 0]) @ home_counts
        layers["visitors"][hw] = out_people * dest
        layers["night_visitors"][hw] = out_people * night_share * venues
        off_out = float(off_out_total @ s[:, 2])
        layers["offenders"][hw] = s[:, 0] @ off_home + s[:, 1] @ off_place + off_out * dest
    return layers


@pytest.fixture(scope="module", params=["baseline.yaml", "city_500k.yaml"])
def model(request: pytest.FixtureRequest) -> SecurityModel:
    """A shipped scenario's model, built (many districts, work and school far from home)."""
    return SecurityModel(load_scenario(SCENARIOS / request.param), seed=3)


def test_the_residents_places_are_the_plain_draws(model: SecurityModel) -> None:
    """The same cells from the same stream, mover by mover."""
    pop = model.population
    got = pop._places(np.random.default_rng(11))
    want = plain_places(pop, np.random.default_rng(11))
    assert got.dtype == want.dtype
    assert np.array_equal(got, want)
    assert (got != pop.home).mean() > 0.2  # many residents work or study away from home


def test_the_routines_layers_are_the_plain_layers_to_the_bit(model: SecurityModel) -> None:
    """Every layer, every hour of the week, every bit."""
    want = plain_whereabouts(model)
    got = model.crime._activity._whereabouts if model.crime is not None else {}
    assert set(got) == set(want)
    for name, layer in want.items():
        assert got[name].dtype == layer.dtype, name
        assert got[name].tobytes() == layer.tobytes(), name
