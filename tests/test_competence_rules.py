"""Competence rules: who handles a type where and when, instead of its list (trace tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.model import SecurityModel
from simulator.records.incidents import Outcome
from simulator.runner import run
from simulator.scenario import ScenarioError, load_scenario

from .conftest import SCENARIOS, SMALL_TOWN, inject, scenario_from
from .test_dispatch_trace import municipal_police

HANDLING_H = 3 / 60
# In the centre from 7:00 to 23:00, noise is the municipal police's alone; elsewhere and
# at night the State police comes first, as the competence list says.
DAYTIME_CENTRE = [
    {"types": ["noise"], "communes": ["centre"], "hours": [7, 23], "agencies": ["pm"]}
]


def _town(**extra: object) -> SecurityModel:
    scenario = scenario_from(
        SMALL_TOWN,
        agencies__pm=municipal_police(),
        competences__noise=["state_police", "pm"],
        competence_rules=DAYTIME_CENTRE,
        **extra,
    )
    return SecurityModel(scenario, seed=1)


def _point_in(model: SecurityModel, commune: str) -> tuple[float, float]:
    t = model.territory
    index = t.commune_names.index(commune)
    cell = int(next(c for c in range(t.n_cells) if t.commune[c] == index and t.land[c]))
    return float(t.x_m[cell]), float(t.y_m[cell])


def test_a_rule_gives_its_agencies_where_and_when_it_applies() -> None:
    model = _town()
    centre, suburb = _point_in(model, "centre"), _point_in(model, "suburb")
    day_centre = inject(model, 10.0, *centre, type="noise", on_scene_min=20)
    day_suburb = inject(model, 10.0, *suburb, type="noise", on_scene_min=20)
    night_centre = inject(model, 23.5, *centre, type="noise", on_scene_min=20)
    other_type = inject(model, 10.0, *centre, type="assistance", on_scene_min=20)
    model.run_until(26)
    assert day_centre.agency == "pm"  # the rule: the State's free crews are not asked
    assert day_suburb.agency == "state_police"  # not in the rule's communes
    assert night_centre.agency == "state_police"  # not in its hours: the list again
    assert other_type.agency == "state_police"  # not one of its types


def test_a_call_waiting_for_the_rule_s_agency_goes_to_the_list_when_the_rule_ends() -> None:
    model = _town()
    centre = _point_in(model, "centre")
    busy = inject(model, 22.0, *centre, type="noise", on_scene_min=180)  # pm's one crew
    waiting = inject(model, 22.5, *centre, type="noise", on_scene_min=20)
    model.run_until(26)
    assert busy.agency == "pm"
    # Until 23:00 only pm may take it, and its crew is busy; at 23:00 the rule ends and
    # the State police, first of the list, sends a free crew at once.
    assert waiting.agency == "state_police"
    assert waiting.t_dispatched_h == pytest.approx(23.0)
    assert waiting.outcome is Outcome.CLEARED


def test_a_call_no_agency_may_take_when_a_rule_begins_is_closed() -> None:
    """At night the list names the municipal police alone; by day a rule gives the State
    police, which may not act in the suburb: a call waiting there then has nobody."""
    rules = [{"types": ["noise"], "hours": [7, 23], "agencies": ["state_police"]}]
    scenario = scenario_from(
        SMALL_TOWN,
        agencies__pm=municipal_police(communes=["centre", "suburb"]),
        agencies__state_police__communes=["centre"],
        competences__noise=["pm"],
        competence_rules=rules,
    )
    model = SecurityModel(scenario, seed=1)
    suburb = _point_in(model, "suburb")
    inject(model, 5.0, *_point_in(model, "centre"), type="noise", on_scene_min=240)  # pm busy
    waiting = inject(model, 6.0, *suburb, type="noise", on_scene_min=20)
    model.run_until(8)
    assert waiting.outcome is Outcome.NO_AGENCY
    assert waiting.t_dispatched_h is None


def test_rules_are_checked_with_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        f"extends: {SCENARIOS / 'baseline.yaml'}\n"
        "competence_rules:\n"
        "  - types: [noise, incivilty]\n"
        "    communes: [centr]\n"
        "    hours: 8h-20h\n"
        "    agencies: [pm_centre, polize]\n",
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError) as refused:
        load_scenario(path)
    text = str(refused.value)
    assert "rules.yaml:5:5: competence_rules.0.hours: hours is two whole hours" in text
    path.write_text(path.read_text().replace("8h-20h", "[8, 20]"), encoding="utf-8")
    with pytest.raises(ScenarioError) as refused:
        load_scenario(path)
    text = str(refused.value)
    assert "competence_rules.0.types.1: unknown incident type 'incivilty'" in text
    assert "did you mean 'incivility'" in text
    assert "competence_rules.0.communes.0: unknown commune 'centr'" in text
    assert "competence_rules.0.agencies.1: unknown agency 'polize'" in text
    assert "rules.yaml:3:" in text and "rules.yaml:4:" in text and "rules.yaml:6:" in text


def test_an_unarmed_agency_in_a_rule_for_an_armed_type_is_refused() -> None:
    rule = "competence_rules=[{types: [serious_violence], agencies: [pm_nord]}]"
    with pytest.raises(ScenarioError, match="'pm_nord' may not take 'serious_violence'"):
        load_scenario(SCENARIOS / "baseline.yaml", [rule])


def test_a_timeline_may_bring_rules_in_and_runs_without_rules_are_unchanged() -> None:
    # The baseline sends the municipal police first to incivilities: the rule, the State.
    # (Eight days: a few incivilities a day need a crew, a handful in the centre by day.)
    rule = "{types: [incivility], communes: [centre], hours: [7, 23], agencies: [state_police]}"
    base = load_scenario(SCENARIOS / "baseline.yaml", ["run.days=8", "run.warmup_days=0"])
    changed = load_scenario(
        SCENARIOS / "baseline.yaml",
        [
            "run.days=8",
            "run.warmup_days=0",
            f"timeline=[{{day: 2, label: centre by day, set: {{competence_rules: [{rule}]}}}}]",
        ],
    )
    a = run(base, seed=3).incidents.to_pandas()
    b = run(changed, seed=3).incidents.to_pandas()
    day = (b["t_reported_h"] % 24).between(7, 22.9)
    mask = (b["type"] == "incivility") & (b["commune"] == "centre") & day
    after = mask & (b["t_dispatched_h"] >= 48 + 3 / 60)
    assert after.sum() > 3
    assert set(b.loc[after, "agency"].dropna()) == {"state_police"}
    day_a = (a["t_reported_h"] % 24).between(7, 22.9)
    same_calls = (a["type"] == "incivility") & (a["commune"] == "centre") & day_a
    assert "pm_centre" in set(a.loc[same_calls & (a["t_dispatched_h"] >= 48.05), "agency"])
    # Before the change both runs are the same run.
    before_a = a[a["t_reported_h"] < 47]
    before_b = b[b["t_reported_h"] < 47]
    cols = ["incident_id", "type", "agency", "unit", "t_dispatched_h", "t_arrived_h"]
    assert before_a[cols].reset_index(drop=True).equals(before_b[cols].reset_index(drop=True))


def test_a_rule_switches_only_at_the_ends_of_its_hours() -> None:
    from simulator.dispatch.dispatcher import _switch_hours

    rules = {
        "noise": [(None, (22, 6), (0,)), (None, (0, 24), (1,))],  # all day: no switch
        "theft": [(frozenset({0}), None, (1,))],  # no hours: no switch
    }
    assert _switch_hours(rules) == frozenset({22, 6})


@pytest.mark.parametrize(
    ("rule", "expected", "count"),
    [
        (
            "{types: [noise], communes: [centre], agencies: [pm_nord]}",
            "none of 'pm_nord' may act in centre (their communes)",
            1,
        ),
        (
            "{types: [noise, incivility, theft], agencies: [polize]}",
            "competence_rules.0.agencies.0: unknown agency 'polize'",
            1,  # once, not once a type
        ),
        ("{types: [noise], communes: [], agencies: [pm_centre]}", "at least 1 item", 1),
        (  # pm_centre serves 7:00 to 23:00: night calls waited until abandoned
            "{types: [noise], communes: [centre], hours: [0, 6], agencies: [pm_centre]}",
            "none of 'pm_centre' is on duty from 0:00 to 6:00 (their service_hours)",
            1,
        ),
    ],
)
def test_a_rule_that_could_answer_nobody_is_refused_once(
    rule: str, expected: str, count: int
) -> None:
    with pytest.raises(ScenarioError) as refused:
        load_scenario(SCENARIOS / "baseline.yaml", [f"competence_rules=[{rule}]"])
    assert expected in str(refused.value)
    assert str(refused.value).startswith(f"{count} problem")
    # A kind whose agencies include one of the rule's communes is fine.
    load_scenario(
        SCENARIOS / "baseline.yaml",
        ["competence_rules=[{types: [noise], communes: [centre], agencies: [municipal_police]}]"],
    )
