"""The hourly pass over the crews' shifts skips what did not change, and only that.

``SecurityModel._update_shifts`` passes over the crews between the last numbers
wanted and the new ones, and over none at an hour that wants of every agency what
the last pass did. A model made to pass over every crew of every agency each hour
must then run the same story: the same crews on duty, the same records.
"""

from __future__ import annotations

from pathlib import Path

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


# A cut and a hire of the State police's officers on days 1 and 2: the crews in
# number and the staffing in force change mid-run.
CUT_AND_HIRE = """\
extends: {base}
run: {{days: 3, warmup_days: 0}}
timeline:
  - day: 1
    label: cut
    cut: {{agency: state_police, officers: 100}}
  - day: 2
    label: hire
    hire: {{agency: state_police, officers: 150, delay_days: 0}}
"""


@pytest.mark.parametrize("name", ["baseline.yaml", "drug_enforcement.yaml", "cut_and_hire"])
def test_skipping_unchanged_crews_runs_as_passing_over_them_all(name: str, tmp_path: Path) -> None:
    if name == "cut_and_hire":
        path = tmp_path / "cut_and_hire.yaml"
        path.write_text(CUT_AND_HIRE.format(base=SCENARIOS / "baseline.yaml"), encoding="utf-8")
    else:
        path = SCENARIOS / name
    scenario = load_scenario(path)
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


def test_the_on_duty_rows_follow_the_staffing_in_force(tmp_path: Path) -> None:
    """Before the cut, the staffing the model was built with; after the hire, the last."""
    path = tmp_path / "cut_and_hire.yaml"
    path.write_text(CUT_AND_HIRE.format(base=SCENARIOS / "baseline.yaml"), encoding="utf-8")
    scenario = load_scenario(path)
    first = SecurityModel(scenario, 1).agencies
    model = SecurityModel(scenario, 1)
    model.run_until(72.0)
    last = model.agencies
    rows = model.finish().on_duty.to_pylist()
    state = next(a for a in last if a.name == "state_police")
    assert state.staffing.units_by_hour != first[state.index].staffing.units_by_hour
    for row in rows:
        hour = row["hour"]
        if 0 < hour < 24 or hour > 48:
            agencies = first if hour < 24 else last
            agency = next(a for a in agencies if a.name == row["agency"])
            assert row["units"] == agency.staffing.units_by_hour[hour % 24], row
