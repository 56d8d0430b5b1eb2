"""One incident counter: calls, offences and hand-over tasks take their ids from it."""

from __future__ import annotations

from simulator.model import SecurityModel
from simulator.records.incidents import IncidentKind
from simulator.scenario import load_scenario

from .conftest import SCENARIOS


def test_every_incident_of_a_run_has_its_own_id_from_the_one_counter() -> None:
    # Municipal crews answer disputes first and often arrest: hand-over tasks follow
    # (calls at the rate the baseline had before its calibration, for enough of them).
    overrides = [
        "run.days=3",
        "run.warmup_days=0",
        "demand.rate_per_hour=2.5",
        "competences.dispute=[municipal_police, state_police]",
        "demand.types.dispute.arrest_prob=0.5",
    ]
    scenario = load_scenario(SCENARIOS / "baseline.yaml", overrides)
    model = SecurityModel(scenario, seed=4)
    model.run_until(72)
    everything = [*model.recorder.incidents_so_far(), *model.pending_reports()]
    kinds = {i.kind for i in everything}
    # The three creators of incidents all took part...
    assert {IncidentKind.CALL, IncidentKind.OFFENCE, IncidentKind.TASK} <= kinds
    # ...and between them used each id of the counter exactly once.
    assert sorted(i.incident_id for i in everything) == list(range(model.ids.issued))
