"""Offenders, arrests and deterrence (issue 9): careers, choices, the apprehension chain.

Statistical checks take their tolerances from Poisson or binomial standard
errors; trace checks read the incidents a run wrote, offence by offence.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from simulator import load_scenario, run
from simulator.crime.offenders import OffenderPool
from simulator.model import SecurityModel
from simulator.scenario import ScenarioError
from simulator.scenario.schema import CrimeSpec, OffenderSpec
from simulator.world.registries import HOURS_PER_YEAR

from .conftest import SCENARIOS, SMALL_TOWN, scenario_from

BASELINE = SCENARIOS / "baseline.yaml"


def _pool(model: SecurityModel, **spec: float) -> OffenderPool:
    """A fresh pool on the model's territory and residents."""
    return OffenderPool(
        OffenderSpec(**spec),
        3,
        model.territory,
        model.population,
        np.random.SeedSequence(7),
        2,
    )


@pytest.fixture(scope="module")
def town() -> SecurityModel:
    crime = {"crime": {}, "run__days": 1}
    for name in ("incivility", "theft", "burglary", "assault", "drug_dealing", "serious_violence"):
        crime[f"competences__{name}"] = ["state_police"]
    return SecurityModel(scenario_from(SMALL_TOWN, **crime), seed=1)


def test_careers_end_at_the_rate_their_length_gives_and_the_pool_keeps_its_size(
    town: SecurityModel,
) -> None:
    pool = _pool(town, career_years=0.5)
    size = pool.size
    assert size > 50
    years = 2.0
    ended = sum(pool.advance(day * 24.0) for day in range(1, int(365 * years) + 1))
    # Careers end as a Poisson process of rate size / career_years (memoryless): a
    # day may end several careers of one slot, counted once by advance(), so count
    # the careers begun instead.
    expected = size * years / 0.5
    assert abs(pool.careers_begun - expected) < 4 * np.sqrt(expected), (
        pool.careers_begun,
        expected,
    )
    assert ended <= pool.careers_begun
    assert pool.size == size == pool.home.size
    assert town.territory.land[pool.home].all()
    # Ids are unique over careers: slot + size x career number.
    ids = pool.offender_id(np.arange(size))
    assert len(set(ids.tolist())) == size
    assert [pool.offender_id(s) for s in range(size)] == ids.tolist()  # one at a time too
    assert all(pool.slot_of(int(i)) == s for s, i in enumerate(ids.tolist()))
    assert pool.slot_of(int(ids[0]) - size) is None or pool.generation[0] == 0


def test_the_offender_of_an_opportunity_lives_within_reach_in_proportion_to_propensity(
    town: SecurityModel,
) -> None:
    pool = _pool(town)
    t = town.territory
    rng = np.random.default_rng(3)
    cell = int(np.argmax(pool._weight[0, : t.n_cells]))  # the cell with most propensity
    draws = 20_000
    slots = pool.pick(
        np.zeros(draws, dtype=np.int64),
        np.full(draws, cell, dtype=np.int64),
        rng.random(draws),
        rng.random(draws),
    )
    assert (slots >= 0).all()
    j, i = np.divmod(pool.home[slots], t.nx)
    cj, ci = divmod(cell, t.nx)
    assert (np.abs(j - cj) <= 2).all() and (np.abs(i - ci) <= 2).all()
    # Each offender within reach comes with a chance proportional to their propensity.
    near = np.flatnonzero(
        (np.abs(pool.home // t.nx - cj) <= 2) & (np.abs(pool.home % t.nx - ci) <= 2)
    )
    share = pool.propensity[near, 0] / pool.propensity[near, 0].sum()
    seen = np.bincount(slots, minlength=pool.size)[near] / draws
    se = np.sqrt(share * (1 - share) / draws)
    assert (np.abs(seen - share) < 5 * se + 1e-12).all()


def _types(changes: dict[str, dict[str, object]]) -> str:
    """An override giving the default offence types with some fields changed."""
    types = {name: t.model_dump() for name, t in CrimeSpec().types.items()}
    for name, fields in changes.items():
        types[name].update(fields)
    return f"crime.types={json.dumps(types)}"


def _offences(result: object) -> pd.DataFrame:
    inc = result.incidents.to_pandas()  # type: ignore[attr-defined]
    return inc[inc["kind"] == "offence"]


def test_nobody_offends_while_held() -> None:
    """With custody longer than the run, an arrested offender never offends again."""
    scenario = load_scenario(
        BASELINE, ["run.days=60", "run.warmup_days=0", "crime.offenders.custody_h=100000"]
    )
    off = _offences(run(scenario, seed=2))
    arrested = off[off["t_solved_h"].notna()].groupby("offender")["t_solved_h"].min()
    assert len(arrested) > 50
    later = off.merge(arrested.rename("caught"), left_on="offender", right_index=True)
    # The hour's offences are decided at its start: one arrested during the hour may
    # still commit an offence decided before the arrest, never one of a later hour.
    assert (later["t_occurred_h"] < np.floor(later["caught"]) + 1).all()
    assert (later["t_occurred_h"] > later["caught"]).sum() < 0.05 * len(arrested)


def test_the_apprehension_chain_follows_its_rules() -> None:
    scenario = load_scenario(BASELINE, ["run.days=60", "run.warmup_days=0"])
    model = SecurityModel(scenario, seed=3)
    model.run_until(60 * 24)
    offences = [i for i in model.recorder.incidents_so_far() if i.kind.value == "offence"]
    judicial = {a.name for a in model.agencies if a.capabilities.judicial}
    on_scene = [i for i in offences if i.clearance == "on_scene"]
    later = [i for i in offences if i.clearance == "later"]
    assert len(on_scene) > 20 and len(later) > 20
    for i in on_scene:  # caught by the first unit, before they left
        assert i.arrest and i.t_arrived_h is not None
        assert i.t_arrived_h <= i.t_offender_gone_h
        assert i.t_solved_h == i.t_arrived_h and i.arrest_agency == i.agency
    for i in offences:  # a unit that came too late arrests nobody
        if i.t_arrived_h is not None and i.t_arrived_h > i.t_offender_gone_h:
            assert not i.arrest and i.clearance != "on_scene"
    for i in later:  # investigations: recorded offences, by a judicial agency, afterwards
        assert i.known.value in ("reported", "detected")
        assert i.arrest_agency in judicial
        assert i.t_solved_h is not None and i.t_solved_h >= i.t_reported_h
    assert all(i.offender >= 0 for i in offences)


def test_a_faster_response_catches_more_offenders_on_scene() -> None:
    """Same opportunities (common random numbers); crews driving at a fifth of the speed.

    Arrests on scene fall by more than three standard errors of the difference of two
    Poisson counts (from 48 to 16 in 90 days at seed 4, the mean response from 14 to
    47 minutes).
    """
    caught = {}
    for speed in ("[40, 30, 25]", "[8, 6, 5]"):
        overrides = ["run.days=90", "run.warmup_days=0", f"travel.speed_kmh={speed}"]
        off = _offences(run(load_scenario(BASELINE, overrides), seed=4))
        caught[speed] = int((off["clearance"] == "on_scene").sum())
    fast, slow = caught["[40, 30, 25]"], caught["[8, 6, 5]"]
    assert fast - slow > 3 * (fast + slow) ** 0.5, caught


def test_offenders_who_stay_longer_are_caught_on_scene_more_often() -> None:
    """Same opportunities; offenders who stay longer are caught more often."""
    caught = {}
    for stay in (1, 60):
        overrides = [
            "run.days=45",
            "run.warmup_days=0",
            _types({t: {"stay_min": stay} for t in ("incivility", "theft", "assault")}),
        ]
        off = _offences(run(load_scenario(BASELINE, overrides), seed=4))
        caught[stay] = int((off["clearance"] == "on_scene").sum())
    assert caught[60] > 2 * caught[1] + 10, caught


def test_only_armed_crews_attend_armed_only_types() -> None:
    overrides = [
        "run.days=60",
        "competences.serious_violence=[municipal_police, state_police]",
        _types({"serious_violence": {"rate_per_1000": 5}}),
    ]
    scenario = load_scenario(BASELINE, overrides)
    armed = {n for n in scenario.agencies if scenario.capabilities(n).armed}
    off = _offences(run(scenario, seed=5))
    attended = off.loc[(off["type"] == "serious_violence") & off["agency"].notna(), "agency"]
    assert len(attended) > 5
    assert set(attended) <= armed
    with pytest.raises(ScenarioError, match="only armed crews attend it"):
        load_scenario(
            BASELINE,
            [
                "competences.serious_violence=[pm_nord, state_police]",
                _types({}),
            ],
        )


def test_a_kind_with_no_agency_that_may_attend_is_refused() -> None:
    """A kind expands to its agencies that may take the type: none is refused, not dropped."""
    unarmed = [f"agencies.{n}.powers.armed=false" for n in ("pm_centre", "pm_nord", "pm_est")]
    with pytest.raises(ScenarioError) as refused:
        load_scenario(
            BASELINE,
            ["competences.serious_violence=[municipal_police, state_police]", *unarmed],
        )
    message = str(refused.value)
    assert "competences.serious_violence.0" in message
    assert "no agency of kind 'municipal_police' may take 'serious_violence'" in message
    assert "'pm_centre', 'pm_nord', 'pm_est' are not armed" in message
    # One armed agency of the kind is enough: the kind stands for it.
    load_scenario(
        BASELINE, ["competences.serious_violence=[municipal_police, state_police]", *unarmed[1:]]
    )
    with pytest.raises(ScenarioError, match="'securite_privee' may not take it \\(capabilities"):
        load_scenario(
            BASELINE,
            [
                "competences.burglary=[private_security, state_police]",
                "agencies.securite_privee.capabilities.enforces=[alarm]",
            ],
        )


def test_the_summary_counts_clearances_arrests_and_offenders() -> None:
    result = run(load_scenario(BASELINE, ["run.days=40"]), seed=6)
    s = result.summary.as_json()
    clearance = s["offences"]["clearance"]
    assert clearance["cleared"] == clearance["on_scene"] + clearance["later"] > 0
    assert sum(clearance["by_agency"].values()) == clearance["cleared"]
    assert 0 < clearance["rate"] < 1
    assert all(v is None or 0 <= v <= 1 for v in clearance["by_type"].values())
    offenders = s["offenders"]
    assert 0 <= offenders["held_mean"] <= offenders["pool"]
    assert sum(offenders["arrests_by_agency"].values()) > 0
    victims = s["victimisation"]
    assert victims["per_1000"] > 0 and victims["qpv_over_rest"] > 1.0


def test_arms_share_their_offenders_and_opportunities() -> None:
    """Common random numbers: a policy change leaves the offenders and opportunities alone."""
    pools = []
    for budget in (21_000_000, 27_300_000):
        scenario = load_scenario(
            BASELINE,
            ["run.days=60", "run.warmup_days=0", f"agencies.state_police.budget_eur={budget}"],
        )
        model = SecurityModel(scenario, seed=9)
        model.run_until(60 * 24)
        assert model.crime is not None
        engine = model.crime
        pools.append(
            (
                engine.offenders.home.copy(),
                engine.offenders.generation.copy(),
                engine._opportunities.bit_generator.state,
                engine.offenders.held_until_h.copy(),
            )
        )
    (home_a, gen_a, state_a, held_a), (home_b, gen_b, state_b, held_b) = pools
    assert (home_a == home_b).all() and (gen_a == gen_b).all() and gen_a.sum() > 0
    assert state_a == state_b  # the same opportunities were drawn, as many and the same
    assert not (held_a == held_b).all()  # what the police did differs


def test_careers_are_years_long_by_default() -> None:
    assert OffenderSpec().career_years * HOURS_PER_YEAR > 24 * 365


def test_a_person_let_go_untaken_is_not_arrested_and_investigations_keep_their_agency() -> None:
    """From day 4 only the centre's municipal police may take arrested people over.

    Hand-overs outside its reach or beyond its means end without a unit: the
    person held is let go, so the offence is not cleared and nobody is held for
    it. Investigations opened before the change stay with the agency that took
    the report, never with an agency without judicial powers.
    """
    change = (
        "timeline=[{day: 4, label: judicial powers move, set: "
        "{agencies.state_police.powers.judicial: false, "
        "agencies.pm_centre.powers.judicial: true, "
        "competences.judicial_handover: [pm_centre]}}]"
    )
    scenario = load_scenario(BASELINE, ["run.days=12", "run.warmup_days=0", change])
    model = SecurityModel(scenario, seed=1)
    model.run_until(12 * 24)
    incidents = {i.incident_id: i for i in model.recorder.incidents_so_far()}
    dropped = [
        i
        for i in incidents.values()
        if i.kind.value == "task" and i.outcome.value in ("abandoned", "no_agency")
    ]
    assert dropped, "the scenario should leave some hand-overs untaken"
    for task in dropped:
        assert task.parent_id is not None
        parent = incidents[task.parent_id]
        assert not parent.arrest and parent.arrest_agency is None
        assert parent.clearance != "on_scene"
    later = [i for i in incidents.values() if i.clearance == "later"]
    assert later and {i.arrest_agency for i in later} <= {"state_police", "pm_centre"}


def test_with_nobody_within_reach_anyone_may_come_by_propensity(town: SecurityModel) -> None:
    """An opportunity where nobody lives within reach goes to an offender anywhere."""
    pool = _pool(town)
    n = town.territory.n_cells
    lonely = np.flatnonzero(pool._weight[0][pool._box].sum(axis=1) <= 0)
    assert lonely.size > 0
    rng = np.random.default_rng(5)
    u_cell, u_who = rng.random(lonely.size), rng.random(lonely.size)
    slots = pool.pick(np.zeros(lonely.size, dtype=np.int64), lonely, u_cell, u_who)
    assert (slots >= 0).all()
    # The home cell is drawn over the whole grid, in proportion to each cell's propensity.
    running = np.cumsum(pool._weight[0, :n])
    homes = np.minimum((running < (u_cell * running[-1])[:, None]).sum(axis=1), n - 1)
    np.testing.assert_array_equal(pool.home[slots], homes)
