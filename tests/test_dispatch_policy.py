"""Dispatch policies: stories where the choice of policy changes who goes."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.agencies.units import Unit, UnitState
from simulator.dispatch.policy import AgencyOrder, FreeUnits, make_policy
from simulator.dispatch.registry import DEFAULT_POLICY, POLICIES, PolicyEntry
from simulator.model import SecurityModel
from simulator.scenario import Scenario, ScenarioError, load_scenario

from .conftest import SCENARIOS, SMALL_TOWN, inject, scenario_from
from .test_dispatch_trace import HANDLING_H, drive_h, municipal_police, station_xy


def suburb_town(policy: str, **extra: object) -> Scenario:
    """The small town with a municipal crew stationed in the suburb, second for disputes.

    The State's two crews are at the centre's station, 1.7 km from the suburb's.
    """
    return scenario_from(
        SMALL_TOWN,
        agencies__pm=municipal_police(station="suburb", communes=["suburb"]),
        competences__dispute=["state_police", "municipal_police"],
        dispatch__policy=policy,
        **extra,
    )


def test_agency_order_sends_the_first_agency_of_the_list_however_far() -> None:
    model = SecurityModel(suburb_town("agency_order"), seed=1)
    px, py = station_xy(model, 1)
    first = inject(model, 1.0, px - 100, py, type="dispute")
    second = inject(model, 1.02, px - 300, py, type="dispute")
    model.run_until(3)
    # The municipal crew is 100 m away, but the State comes first in the list and has
    # free crews: both disputes get a State crew from the centre.
    state1, state2 = model.units[0]
    assert (first.unit, second.unit) == (state1.unique_id, state2.unique_id)
    sx, sy = station_xy(model, 0)
    assert first.t_arrived_h == pytest.approx(
        1.0 + HANDLING_H + drive_h(model, sx, sy, px - 100, py, 30)
    )
    assert model.units[1][0].state is UnitState.AVAILABLE


def test_closest_unit_sends_the_nearest_free_unit_of_any_agency_of_the_list() -> None:
    model = SecurityModel(suburb_town("closest_unit"), seed=1)
    px, py = station_xy(model, 1)
    first = inject(model, 1.0, px - 100, py, type="dispute")
    second = inject(model, 1.02, px - 300, py, type="dispute")
    model.run_until(3)
    # The municipal crew, 100 m away, takes the first dispute (arriving 4 minutes
    # sooner than a State crew would have)...
    pm = model.units[1][0]
    assert first.agency == "pm" and first.unit == pm.unique_id
    assert first.t_arrived_h == pytest.approx(
        1.0 + HANDLING_H + drive_h(model, px, py, px - 100, py, 30)
    )
    # ...and, with it busy, the nearest free crew for the second is the State's #1.
    assert second.agency == "state_police" and second.unit == model.units[0][0].unique_id
    sx, sy = station_xy(model, 0)
    assert second.t_arrived_h == pytest.approx(
        1.02 + HANDLING_H + drive_h(model, sx, sy, px - 300, py, 30)
    )


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (["state_police", "municipal_police"], "state_police"),
        (["municipal_police", "state_police"], "pm"),
    ],
)
def test_closest_unit_breaks_ties_by_the_order_of_the_list(order: list[str], expected: str) -> None:
    # Both agencies work from the centre's station: their crews are equally near.
    scenario = scenario_from(
        SMALL_TOWN,
        agencies__pm=municipal_police(station="centre"),
        competences__dispute=order,
        dispatch__policy="closest_unit",
    )
    model = SecurityModel(scenario, seed=1)
    sx, sy = station_xy(model, 0)
    assert (sx, sy) == station_xy(model, 1)
    call = inject(model, 1.0, sx + 300, sy, type="dispute")
    model.run_until(2)
    assert call.agency == expected


def test_a_timeline_can_change_the_policy_during_a_run() -> None:
    timeline = [{"day": 1, "set": {"dispatch.policy": "closest_unit"}}]
    model = SecurityModel(suburb_town("agency_order", timeline=timeline), seed=1)
    px, py = station_xy(model, 1)
    before = inject(model, 1.0, px - 100, py, type="dispute")
    after = inject(model, 25.0, px - 100, py, type="dispute")
    model.run_until(27)
    assert (before.agency, after.agency) == ("state_police", "pm")


def test_an_unknown_policy_is_refused_with_its_line_and_the_allowed_names(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(f"extends: {SCENARIOS / 'baseline.yaml'}\ndispatch:\n  policy: closest\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert f"{path}:3:3: dispatch.policy: unknown dispatch policy" in message
    assert "did you mean 'closest_unit'?" in message
    assert "allowed: " + ", ".join(POLICIES) in message


def test_the_default_policy_is_registered_and_every_entry_builds() -> None:
    assert DEFAULT_POLICY in POLICIES
    assert isinstance(make_policy(DEFAULT_POLICY), AgencyOrder)
    for name in POLICIES:
        policy = make_policy(name)
        assert callable(policy.choose_unit) and callable(policy.next_job), name


class LongestIdle(AgencyOrder):
    """Worked example of a new policy: share the work, not the distance.

    The first agency of the list with a free unit sends the one that has been
    free the longest. A policy module and one line in the registry are all it
    takes (here the test module plays the policy module).
    """

    def choose_unit(self, free: FreeUnits) -> tuple[Unit, float] | None:
        for agency in free.agencies:
            units = free.of(agency)  # in the order they became free
            if units:
                return units[0], float(free.travel_h(units[:1])[0])
        return None


def test_a_new_policy_takes_a_module_and_one_line_of_registry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entry = PolicyEntry(f"{__name__}:LongestIdle", "the unit free the longest goes")
    monkeypatch.setitem(POLICIES, "longest_idle", entry)
    picks: dict[str, int | None] = {}
    for policy in ("agency_order", "longest_idle"):
        model = SecurityModel(scenario_from(SMALL_TOWN, dispatch__policy=policy), seed=1)
        sx, sy = station_xy(model)
        inject(model, 1.0, sx + 100, sy, on_scene_min=6)  # unit #1 (both at the station)
        inject(model, 1.02, sx + 1800, sy, on_scene_min=70)  # unit #2, the only one free
        # Unit #1 is back at its station; #2 has just cleared 1.8 km away, nearer the call.
        call = inject(model, 2.3, sx + 1750, sy, on_scene_min=10)
        model.run_until(4)
        picks[policy] = call.unit
    u1, u2 = (u.unique_id for u in model.units[0])
    assert picks == {"agency_order": u2, "longest_idle": u1}
