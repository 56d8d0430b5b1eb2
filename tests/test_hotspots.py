"""Hot spots by expected calls or by offence types (``patrol.hotspot_offences``).

A hotspot patrol visits the round(``hotspot_share`` x cells) cells of its sector
with most expected calls, in proportion to them; with ``hotspot_offences`` it ranks
and weighs the cells by the expected opportunities of those offence types (the
crime engine's routine-activity rates over a week) instead.
"""

from __future__ import annotations

import numpy as np
import pytest

from simulator import load_scenario, run
from simulator.model import SecurityModel
from simulator.world.registries import HOURS_PER_WEEK, HOURS_PER_YEAR

from .conftest import SCENARIOS

# Serious violence happens at the drug markets in the baseline (no standing rates).
TYPES = ["assault", "theft"]


def _baseline(*overrides: str) -> SecurityModel:
    scenario = load_scenario(SCENARIOS / "baseline.yaml", ["run.days=1", *overrides])
    return SecurityModel(scenario, seed=1)


def test_expected_opportunities_are_the_type_s_weekly_rate() -> None:
    """The routine-activity rates of a type sum to its rate per 1,000 over a week."""
    model = _baseline()
    assert model.crime is not None
    residents = float(model.territory.residents.sum())
    for name in TYPES:
        rate = model.spec.crime.types[name].rate_per_1000
        week = rate * residents / 1000.0 * HOURS_PER_WEEK / HOURS_PER_YEAR
        by_cell = model.crime.expected_opportunities([name])
        assert by_cell.shape == (model.territory.n_cells,) and by_cell.min() >= 0.0
        assert by_cell.sum() == pytest.approx(week, rel=1e-5)
    both = model.crime.expected_opportunities(TYPES)
    alone = [model.crime.expected_opportunities([n]) for n in TYPES]
    np.testing.assert_allclose(both, alone[0] + alone[1], rtol=1e-12)


def test_hot_spots_are_the_sector_s_cells_with_most_expected_assaults() -> None:
    """Trace: the State police's patrol cells and weights, against the engine's rates."""
    model = _baseline("agencies.state_police.patrol.hotspot_offences=[assault]")
    assert model.crime is not None
    weights = model.crime.expected_opportunities(["assault"])
    agency = next(a for a in model.agencies if a.name == "state_police")
    share = agency.spec.patrol.hotspot_share
    patrols = model.fleet.derived_settings()["state_police"]["patrol"]
    sectors = []
    for patrol in patrols:
        cells = np.asarray(patrol["_cells"])
        sectors.append(cells)
        # Ranked by the offences' rates, most first, visited in proportion to them.
        assert np.all(np.diff(weights[cells]) <= 0)
        np.testing.assert_allclose(patrol["_p"], weights[cells] / weights[cells].sum())
    # One station, so one sector: the hot spots are its top cells, none left out ranks
    # higher, and they are as many as the share asks.
    assert all(np.array_equal(cells, sectors[0]) for cells in sectors)
    hot = sectors[0]
    assert hot.size == round(share * agency.cells.size)
    rest = np.setdiff1d(agency.cells, hot)
    assert weights[hot].min() >= weights[rest].max()
    # And they are not the hot spots of expected calls.
    by_calls = _baseline().fleet.derived_settings()["state_police"]["patrol"]
    assert not np.array_equal(
        np.sort(np.concatenate([p["_cells"] for p in by_calls])), np.sort(hot)
    )


def test_hot_spots_of_assaults_move_state_patrols_into_the_priority_districts() -> None:
    """Assaults' hot spots lie in QPV, the calls' do not; State presence there follows.

    The presence compared is every hour a State crew spent in QPV (patrols, calls,
    station) over its hours everywhere, each seed run both ways (common random numbers).
    """
    share = {}
    for by in ("[]", "[assault]"):
        model = _baseline(f"agencies.state_police.patrol.hotspot_offences={by}")
        t = model.territory
        in_qpv = np.asarray([t.district_types[d].value == "qpv" for d in t.district])
        patrols = model.fleet.derived_settings()["state_police"]["patrol"]
        # The share of the visits that go to QPV cells (each crew's weights sum to 1).
        share[by] = np.mean([np.dot(p["_p"], in_qpv[p["_cells"]]) for p in patrols])
    assert share["[assault]"] > 1.5 * share["[]"], share

    def qpv_share(seed: int, by: str) -> float:
        overrides = ["run.days=10", "run.warmup_days=1"]
        scenario = load_scenario(
            SCENARIOS / "baseline.yaml",
            [*overrides, f"agencies.state_police.patrol.hotspot_offences={by}"],
        )
        districts = run(scenario, seed=seed).districts
        hours = districts.groupby("type")["presence_h_state"].sum()
        return float(hours.get("qpv", 0.0) / hours.sum())

    for seed in (1, 2, 3):
        by_calls, by_assaults = qpv_share(seed, "[]"), qpv_share(seed, "[assault]")
        assert by_assaults > by_calls + 0.01, (seed, by_calls, by_assaults)


def test_a_change_of_crime_alone_moves_the_hot_spots_by_offence_type_only() -> None:
    """Mid-run, as a fresh build would have them; calls-led and other patrols keep theirs."""
    overrides = [
        "run.days=2",
        # A second agency that keeps the key unread (random patrol): never rebuilt for it.
        "agencies.pm_centre.patrol.hotspot_offences=[assault]",
    ]
    model = _baseline(*overrides)
    model.run_until(30.0)  # crews out, some busy
    agencies = [a.name for a in model.agencies]
    changes = ["crime.types.assault.district_factors={qpv: 2.0}", "crime.residual_deterrence_h=6"]
    for k, change in enumerate(changes):
        # Each change on top of the last (the running model has them all).
        new = load_scenario(SCENARIOS / "baseline.yaml", [*overrides, *changes[: k + 1]])
        before = [list(s) for s in model.fleet._strategies]
        model._reconfigure(new)
        moved = change.startswith("crime.types.assault")
        for name, old, now in zip(agencies, before, model.fleet._strategies, strict=True):
            rebuilt = any(a is not b for a, b in zip(old, now, strict=True))
            assert rebuilt == (moved and name == "state_police"), (change, name)
        fresh = SecurityModel(new, seed=1).fleet.derived_settings()
        assert model.fleet.derived_settings() == fresh, change


def test_no_opportunity_to_rank_by_sends_the_patrol_to_random_cells() -> None:
    """Not the first cells by number: with no weight anywhere, the whole area at random."""
    model = _baseline(
        "agencies.state_police.patrol.hotspot_offences=[assault]",
        "crime.types.assault.rate_per_1000=0",
    )
    patrols = model.fleet.derived_settings()["state_police"]["patrol"]
    agency = next(a for a in model.agencies if a.name == "state_police")
    for patrol in patrols:
        assert patrol["_p"] is None
        assert np.array_equal(np.sort(patrol["_cells"]), np.sort(agency.cells))
    assert any("no opportunities (rate_per_1000: 0)" in str(note) for note in model.spec.notes)
