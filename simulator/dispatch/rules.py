"""The control room's durations and limits, read from a scenario."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.dispatch.registry import DEFAULT_POLICY
from simulator.scenario.schema import Scenario


@dataclass(frozen=True)
class DispatchRules:
    """Durations and limits of the control room, in hours, and its dispatch policy."""

    call_handling_h: float
    handover_h: float
    custody_h: float
    max_wait_h: float | None
    n_priorities: int
    policy: str = DEFAULT_POLICY  # a name of simulator.dispatch.registry.POLICIES
    preempt_priority: int = 0  # calls this urgent or more may pre-empt (0: none)
    divert_priority: int | None = None  # crews on their way to calls this low may be diverted

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> DispatchRules:
        """Read the rules from a scenario."""
        d = scenario.dispatch
        max_wait = scenario.demand.max_wait_min
        return cls(
            call_handling_h=d.call_handling_min / 60.0,
            handover_h=d.handover_min / 60.0,
            custody_h=d.custody_min / 60.0,
            max_wait_h=None if max_wait is None else max_wait / 60.0,
            n_priorities=scenario.demand.n_priorities,
            policy=d.policy,
            preempt_priority=d.preemption.priority,
            divert_priority=d.preemption.en_route_priority,
        )
