"""Unit modes: how a crew moves is data, and travel is chosen per mode."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from simulator.model import SecurityModel
from simulator.scenario import ScenarioError, load_scenario
from simulator.scenario.modes import BUILTIN_MODES

from .conftest import SMALL_TOWN, inject, scenario_from

HANDLING_H = 3 / 60
TURNOUT_H = 1 / 60  # SMALL_TOWN's travel.turnout_min


def _arrival_after_dispatch(mode: str, distance_m: float, **extra: object) -> float:
    """Hours from dispatch to arrival of the one crew sent to a call ``distance_m`` away."""
    scenario = scenario_from(SMALL_TOWN, agencies__state_police__mode=mode, **extra)
    model = SecurityModel(scenario, seed=1)
    cell = model.agencies[0].station_cell
    sx, sy = float(model.territory.x_m[cell]), float(model.territory.y_m[cell])
    call = inject(model, 1.25, sx + distance_m, sy, priority=2, on_scene_min=30)
    model.run_until(6)
    assert call.t_dispatched_h == pytest.approx(1.25 + HANDLING_H)
    assert call.t_arrived_h is not None
    return call.t_arrived_h - call.t_dispatched_h


def test_a_foot_crew_takes_longer_than_a_car_to_reach_the_same_call() -> None:
    car = _arrival_after_dispatch("car", 1500)
    foot = _arrival_after_dispatch("foot", 1500)
    # The car drives at SMALL_TOWN's priority-2 speed (30 km/h), exactly as before modes.
    assert car == pytest.approx(TURNOUT_H + 1.3 * 1500 / 30_000)
    # On foot: walking speed, whatever the priority, over the same path.
    walk_kmh = BUILTIN_MODES["foot"].speed_kmh
    assert walk_kmh == [5.0]
    assert foot == pytest.approx(TURNOUT_H + 1.3 * 1500 / 5_000)
    assert foot > 4 * car


def test_a_scenario_declares_its_own_mode_by_its_parameters() -> None:
    scooter = {"speed_kmh": [25.0], "turnout_min": 0.5, "congestion": False}
    hours = _arrival_after_dispatch("scooter", 1000, modes={"scooter": scooter})
    assert hours == pytest.approx(0.5 / 60 + 1.3 * 1000 / 25_000)
    assert not math.isclose(hours, _arrival_after_dispatch("car", 1000))


def test_a_mode_weighs_the_guardianship_of_its_presence() -> None:
    incivility = {"rate_per_1000": 10, "target": "people", "report_prob": 0.1}
    base = {
        **SMALL_TOWN,
        "crime": {"types": {"incivility": incivility}},
        "competences": {**SMALL_TOWN["competences"], "incivility": ["state_police"]},
    }
    car = SecurityModel(scenario_from(base), seed=1)
    foot = SecurityModel(scenario_from(base, agencies__state_police__mode="foot"), seed=1)
    assert car.crime is not None and foot.crime is not None
    strength = BUILTIN_MODES["foot"].presence * car.crime._agency_strength[0]
    assert foot.crime._agency_strength[0] == pytest.approx(strength)


def test_an_unknown_mode_names_the_line_and_the_modes(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: s\nagencies:\n  sp:\n    kind: state_police\n    units: 1\n    mode: fot\n"
        "competences:\n  call: [sp]\n",
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    text = str(caught.value)
    assert f"{path}:6:5: agencies.sp.mode: unknown mode 'fot' (did you mean 'foot'?)" in text
    assert "modes are: car, motorbike, bicycle, foot" in text


def test_a_misspelt_mode_under_modes_is_not_a_new_mode_nobody_takes(tmp_path: Path) -> None:
    """modes.bicyle made a car-like mode no agency took, and the bicycle stayed as it was."""
    path = tmp_path / "s.yaml"
    head = "name: s\nagencies:\n  sp:\n    kind: state_police\n    units: 1\n    mode: bicycle\n"
    tail = "competences:\n  call: [sp]\n"
    path.write_text(head + "modes:\n  bicyle: {speed_kmh: [20]}\n" + tail, encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    text = str(caught.value)
    assert f"{path}:8:3: modes.bicyle: mode 'bicyle' is new and no agency takes it" in text
    assert "(did you mean 'bicycle'?)" in text
    # A new mode an agency takes only after a change of the timeline is in use.
    timeline = "timeline:\n  - {day: 1, set: {agencies.sp.mode: scooter}}\n"
    path.write_text(
        head + "modes:\n  scooter: {speed_kmh: [25]}\n" + tail + timeline, encoding="utf-8"
    )
    assert "scooter" in load_scenario(path).modes
