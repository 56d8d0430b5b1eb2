"""The activity model and the registries of patterns, routines, locations and targets."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from simulator.model import SecurityModel
from simulator.scenario import ScenarioError, load_scenario
from simulator.scenario.schema import PatternShares
from simulator.world.activity import ROUTINE_LAYERS, STOCK_LAYERS
from simulator.world.registries import (
    HOURS_PER_WEEK,
    LOCATIONS,
    PATTERNS,
    ROUTINES,
    TARGETS,
    ActivityPattern,
)

from .conftest import SCENARIOS, SMALL_TOWN, scenario_from

STOCKS = ("residents", "jobs", "commercial", "night")
SUPPLIED = ("sites",)  # stocks the call generator supplies


def _town(**overrides: Any) -> SecurityModel:
    return SecurityModel(scenario_from(SMALL_TOWN, **overrides), seed=5)


def test_every_name_in_a_registry_refers_to_something_that_exists() -> None:
    layers = set(STOCK_LAYERS) | set(ROUTINE_LAYERS)
    for name, location in LOCATIONS.items():
        assert location.layers, name
        assert set(location.layers) <= layers | set(SUPPLIED), name
        assert set(location.fallback) <= set(STOCKS), name
    for name, target in TARGETS.items():
        assert target.layer is None or target.layer in ROUTINE_LAYERS, name
    for terms in STOCK_LAYERS.values():
        for stock, pattern in terms:
            assert stock in STOCKS and pattern in PATTERNS
    # The scenario's pattern shares are the routines, in the order of the draw.
    assert list(PatternShares.model_fields) == list(ROUTINES)


@pytest.mark.parametrize("name", list(ROUTINES))
def test_a_routine_is_a_probability_at_every_hour(name: str) -> None:
    routine = ROUTINES[name]
    place, out = routine.at_place.by_hour_of_week(), routine.out.by_hour_of_week()
    assert place.shape == out.shape == (HOURS_PER_WEEK,)
    assert (place >= 0).all() and (out >= 0).all() and (place + out <= 1.0).all()


def test_a_pattern_repeats_weekdays_and_weekends() -> None:
    pattern = ActivityPattern("test", tuple([1.0] * 24), tuple([0.5] * 24))
    week = pattern.by_hour_of_week()
    assert (week[: 5 * 24] == 1.0).all() and (week[5 * 24 :] == 0.5).all()
    with pytest.raises(ValueError, match="24 values"):
        ActivityPattern("short", (1.0, 2.0))


def test_call_locations_weigh_the_layers_they_name() -> None:
    model = _town()
    activity, t = model.activity, model.territory
    at_nine = 9  # Monday 09:00
    home = PATTERNS["at_home"].by_hour_of_week()[at_nine]
    work = PATTERNS["at_work"].by_hour_of_week()[at_nine]
    shops = PATTERNS["shopping"].by_hour_of_week()[at_nine]
    night = PATTERNS["night_out"].by_hour_of_week()[at_nine]
    none: dict[str, Any] = {}
    residents = activity.location_weights(LOCATIONS["residents"], at_nine, none)
    assert np.array_equal(residents, t.residents * home)
    busy = activity.location_weights(LOCATIONS["activity"], at_nine, none)
    assert np.allclose(busy, t.jobs * work + t.commercial * shops)
    ambient = activity.location_weights(LOCATIONS["ambient"], at_nine, none)
    assert np.allclose(ambient, t.residents * home + busy + t.night * night)
    # At 09:00 nobody is out at night: calls at night venues follow the venues instead.
    assert night == 0.0
    assert np.array_equal(activity.location_weights(LOCATIONS["night"], at_nine, none), t.night)


def test_hours_with_the_same_weights_share_a_class() -> None:
    activity = _town().activity
    daily, hours = activity.hour_classes(["at_home", "active", "night_out"])
    assert daily.shape == (HOURS_PER_WEEK,) and hours.size <= 24
    # Every day repeats Monday, and each class's hour has the class's weights.
    assert (daily.reshape(7, 24) == daily[:24]).all()
    for hw in range(HOURS_PER_WEEK):
        here = activity.presence("active", hw)
        assert np.array_equal(here, activity.presence("active", int(hours[daily[hw]])))
    constant, one = activity.hour_classes(["sites"])
    assert (constant == 0).all() and one.size == 1
    every, _ = activity.hour_classes(["people"])
    assert np.unique(every).size == HOURS_PER_WEEK


def test_residents_are_somewhere_and_homes_empty_when_they_are_out() -> None:
    model = _town()
    activity = model.activity
    residents = float(model.territory.residents.sum())
    people = activity.week("people").astype(float)
    assert np.allclose(people.sum(axis=1), residents, rtol=1e-4)
    empty = activity.week("empty_homes").astype(float)
    # Monday 03:00, most are at home; Monday 10:00, workers and students are out.
    assert empty[3].sum() < empty[10].sum() <= residents
    visitors = activity.week("visitors").astype(float)
    night = activity.week("night_visitors").astype(float)
    assert (night <= visitors + 1e-3).all()
    # Offenders are residents too.
    assert (activity.week("offenders").sum(axis=1) <= people.sum(axis=1) + 1e-3).all()


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_misspelt_location_or_target_is_located_with_the_names_allowed(tmp_path: Path) -> None:
    base = SCENARIOS / "baseline.yaml"
    path = _write(
        tmp_path / "typo.yaml",
        f"extends: {base}\n"
        "demand:\n  types:\n    call: {share: 1.0, location: residnets}\n"
        "crime:\n  types:\n    burglary:\n      target: dwelling\n",
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    text = str(caught.value)
    assert (
        f"{path}:4:24: demand.types.call.location: unknown location (did you mean 'residents'?)"
        in text
    )
    assert "the locations are: ambient, residents, activity, night, sites" in text
    assert f"{path}:8:7: crime.types.burglary.target: unknown target" in text
    assert "(did you mean 'dwellings'?)" in text
    assert "the targets are: people, visitors, dwellings, night, market" in text


def test_calls_at_sites_need_an_agency_with_sites() -> None:
    with pytest.raises(ScenarioError, match="calls at 'sites' need an agency with contracted"):
        scenario_from(SMALL_TOWN, demand__types__noise__location="sites")
    # With contracted sites, the calls of that type arise at them and nowhere else.
    town = _town(
        demand__types__noise__location="sites",
        agencies__guards={"kind": "private_security", "units": 1, "sites": 3},
        demand__rate_per_hour=40,
    )
    ids = itertools.count().__next__
    calls = [c for h in range(24) for c in town.calls.calls_in_hour(h, ids) if c.type == "noise"]
    sites = {int(c) for a in town.agencies for c in a.site_cells}
    assert calls and {c.cell for c in calls} <= sites
