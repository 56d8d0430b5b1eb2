"""The hourly pass over the crews' shifts skips what did not change, and only that.

``SecurityModel._update_shifts`` passes over the crews between the last numbers
wanted and the new ones, and over none at an hour that wants of every agency what
the last pass did. A model made to pass over every crew of every agency each hour
must then run the same story: the same crews on duty, the same records.
"""

from __future__ import annotations

import pytest

from simulator.model import SecurityModel
from simulator.scenario import load_scenario

from .conftest import SCENARIOS


class EveryCrewEachHour(SecurityModel):
    """A model that forgets its last pass each hour, so that it passes over every crew."""

    def _update_shifts(self, hour: int) -> None:
        self._shifts_passed = [None] * len(self.units)
        self._wanted_passed = None
        super()._update_shifts(hour)


def states(model: SecurityModel) -> list[str]:
    return [unit.state.name for units in model.units for unit in units]


@pytest.mark.parametrize("name", ["baseline.yaml", "drug_enforcement.yaml"])
def test_skipping_unchanged_crews_runs_as_passing_over_them_all(name: str) -> None:
    scenario = load_scenario(SCENARIOS / name)
    skipping, full = SecurityModel(scenario, 4), EveryCrewEachHour(scenario, 4)
    for hour in range(1, 3 * 24):
        skipping.run_until(float(hour))
        full.run_until(float(hour))
        assert states(skipping) == states(full), hour
    a, b = skipping.finish(), full.finish()
    assert a.incidents.equals(b.incidents)
    assert a.states.equals(b.states)
    assert a.on_duty.equals(b.on_duty)
    assert a.events == b.events


def test_the_on_duty_table_has_a_row_per_hour_and_agency_in_order() -> None:
    model = SecurityModel(load_scenario(SCENARIOS / "baseline.yaml"), 1)
    model.run_until(30.0)
    table = model.finish().on_duty.to_pylist()
    names = [agency.name for agency in model.agencies]
    assert [(row["hour"], row["agency"]) for row in table] == [
        (hour, name) for hour in range(31) for name in names
    ]
    for row in table:
        agency = model.agencies[names.index(row["agency"])]
        assert row["units"] == agency.staffing.units_by_hour[row["hour"] % 24]
