"""The control room: which unit answers which incident.

Rules, in the order they apply:

1. A call becomes dispatchable ``call_handling_min`` after it is received
   (hand-over tasks at once).
2. The competence matrix gives, for its type, an ordered list of agencies; only
   those that may act at the incident's place are kept (jurisdiction, and
   contracted sites for private security). If none is left, the call is
   unanswered (outcome ``no_agency``): a competence gap.
3. The dispatch policy (``dispatch.policy``, :mod:`simulator.dispatch.policy`)
   chooses among the free units of those agencies; if it sends none, the call
   waits in the queue of its priority. By default the first agency of the
   list with a free unit sends its quickest one.
4. A unit that becomes free asks the policy for a waiting call; by default it
   takes the most urgent one it is competent for, first come first served
   within a priority. Calls waiting longer than ``max_wait_min`` are dropped
   as abandoned (:mod:`simulator.dispatch.queues`).
5. Pre-emption (``dispatch.preemption``): a call of priority
   ``preemption.priority`` or more urgent that the policy leaves waiting takes
   a crew from lesser work instead: a crew on a pre-emptible non-call duty or,
   with ``en_route_priority`` set, a crew on its way to a call of that priority
   or less urgent (never one on scene, holding, in custody or on a hand-over).
   The first agency of the list with such a crew sends its quickest; the call
   it was going to goes back to the control room, which dispatches or queues
   it as a new one (keeping its report time, so its wait counts from the call).
6. A call addressed to an agency directly (``agencies.*.direct_calls``) is for
   that agency alone while its line is open (an hour it has crews on duty). With
   ``when_closed: emergency_number``, one still waiting (or still being taken)
   when the line closes is passed to 17: from then on it is an ordinary call,
   for the agencies of its type's competence list, keeping its report time.
   With ``when_closed: lost`` it waits for the agency to open again, or is
   abandoned past ``max_wait_min``.

What a unit does once sent (scene, custody, holding, hand-over, follow-up,
duties, shifts) is the life cycle's (:mod:`simulator.dispatch.lifecycle`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import mesa
import numpy as np

from simulator.agencies.agency import Agency
from simulator.agencies.legs import LegTable
from simulator.agencies.units import Unit, UnitState
from simulator.dispatch.lifecycle import IncidentObserver, LifeCycle
from simulator.dispatch.policy import DispatchPolicy, FreeUnits, make_policy, quickest
from simulator.dispatch.queues import WaitingCalls
from simulator.dispatch.rules import DispatchRules
from simulator.records.incidents import Incident, IncidentKind, Outcome
from simulator.records.recorder import Recorder
from simulator.scenario.changes import AGENCY_SETTINGS
from simulator.scenario.schema import HANDOVER_TYPE, Scenario, in_hours

__all__ = ["Dispatcher", "IncidentObserver", "competence_matrix"]


def competence_matrix(scenario: Scenario, agencies: Sequence[Agency]) -> dict[str, list[int]]:
    """Incident type to the ordered agency indices that may handle it.

    An entry naming an agency kind expands to every agency of that kind that may
    take the type (its ``enforces`` capability; armed, for a type only armed crews
    attend), in declaration order; an agency named twice keeps its first place.
    """
    matrix: dict[str, list[int]] = {}
    refs = dict(scenario.competences)
    if HANDOVER_TYPE not in refs:
        refs[HANDOVER_TYPE] = [a.name for a in agencies if a.capabilities.judicial]
    for incident_type, entries in refs.items():
        matrix[incident_type] = _order(scenario, agencies, incident_type, entries)
    return matrix


def _order(
    scenario: Scenario, agencies: Sequence[Agency], incident_type: str, entries: Sequence[str]
) -> list[int]:
    """The agency indices a competence list (or rule) names for a type, in order."""
    by_name = {a.name: a.index for a in agencies}
    crime = scenario.crime
    armed_only = (
        crime is not None
        and incident_type in crime.types
        and (crime.types[incident_type].armed_only)
    )
    order: list[int] = []
    for ref in entries:
        if ref in by_name:
            found = [by_name[ref]]
        else:
            found = [
                a.index
                for a in agencies
                if a.kind == ref
                and _enforces(a, incident_type)
                and (a.capabilities.armed or not armed_only)
            ]
        order.extend(i for i in found if i not in order)
    return order


# A competence rule compiled for one type: its communes (indices; None: everywhere), its
# hours (None: all day) and the agency indices it gives, in order.
TypeRule = tuple[frozenset[int] | None, tuple[int, int] | None, tuple[int, ...]]


def competence_rules(
    scenario: Scenario, agencies: Sequence[Agency], commune_index: Callable[[str], int]
) -> dict[str, list[TypeRule]]:
    """Incident type to its rules of ``competence_rules``, in the file's order."""
    rules: dict[str, list[TypeRule]] = {}
    for rule in scenario.competence_rules:
        communes = (
            None if rule.communes is None else frozenset(commune_index(c) for c in rule.communes)
        )
        for incident_type in rule.types:
            order = tuple(_order(scenario, agencies, incident_type, rule.agencies))
            rules.setdefault(incident_type, []).append((communes, rule.hours, order))
    return rules


def _switch_hours(rules: dict[str, list[TypeRule]]) -> frozenset[int]:
    """The hours of the day at which some rule comes into force or ends ([0, 24]: none)."""
    return frozenset(
        h % 24
        for by_type in rules.values()
        for _, hours, _ in by_type
        if hours and hours[0] != hours[1] % 24
        for h in hours
    )


def _relays(agencies: Sequence[Agency]) -> dict[str, tuple[int, ...]]:
    """Agencies whose callers are passed to 17 when their line is closed.

    Each with the crews it wants on duty by hour of day (none: the line is closed).
    An agency whose line a policy change has just turned off keeps its callers
    already waiting, so the rate of its calls does not matter here.
    """
    return {
        a.name: tuple(a.staffing.units_by_hour)
        for a in agencies
        if a.spec.direct_calls.when_closed == "emergency_number"
    }


def _enforces(agency: Agency, incident_type: str) -> bool:
    """Whether an agency may take incidents of a type (its ``enforces`` capability)."""
    enforces = agency.capabilities.enforces
    return enforces == "all" or incident_type == HANDOVER_TYPE or incident_type in enforces


class Dispatcher:
    """Matches incidents and units through the dispatch policy.

    Args:
        model: The Mesa model whose clock and event list are used.
        scenario: The scenario in force (competences, dispatch rules and policy).
        agencies: The placed agencies, by index.
        units: Every unit of every agency.
        counted: Whether an incident reported at a time counts in statistics.
        new_id: The run's incident counter (for the hand-over tasks of the life cycle).
        recorder: Where every incident that reaches the control room is recorded.
        legs: The crews' leg table, which plays and draws their duties (the life cycle's).

    Attributes:
        life_cycle: Drives every unit from dispatch to its next job, and its shifts.
        open_counted: Incidents reported in the statistics window and not yet closed.
        observer: Told of first arrivals and of incidents dropped without a unit.
    """

    READS: ClassVar[tuple[str, ...]] = (
        *AGENCY_SETTINGS,
        "competences",
        "competence_rules",
        "dispatch",
        "demand.max_wait_min",  # the rules' abandonment
        "demand.priority_shares",  # the rules' number of priorities
    )
    READS_ONCE: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        model: mesa.Model,
        scenario: Scenario,
        agencies: Sequence[Agency],
        units: Sequence[Unit],
        counted: Callable[[float], bool],
        new_id: Callable[[], int],
        recorder: Recorder,
        legs: LegTable,
    ):
        rules = DispatchRules.from_scenario(scenario)
        self._model = model
        self._take_agencies(scenario, agencies)
        self._rules = rules
        self._policy: DispatchPolicy = make_policy(rules.policy)
        self._counted = counted
        self._available: list[dict[int, Unit]] = [{} for _ in agencies]
        self._waiting = WaitingCalls(rules, self._now, self.eligible, self._abandon)
        # (type, cell, rule in force or -1) -> the agencies that may act there
        self._eligible: dict[tuple[str, int, int], tuple[int, ...]] = {}
        self._relayed: set[int] = set()  # direct calls passed to 17 when their line closed
        self._direct_seen = False  # whether any direct call has reached the room
        self._recorder = recorder
        self.open_counted = 0
        self.observer: IncidentObserver | None = None
        self.life_cycle = LifeCycle(model, self, units, rules, new_id, legs, agencies)

    def reconfigure(self, scenario: Scenario, agencies: Sequence[Agency]) -> None:
        """Put changed agencies, competences, rules and policy in force.

        Waiting calls are dispatched again under the new rules: a unit that may now
        take one takes it, and a call no agency may take any more is closed as
        ``no_agency``.
        """
        rules = DispatchRules.from_scenario(scenario)
        duties_changed = {
            new.index
            for old, new in zip(self._agencies, agencies, strict=True)
            if old.spec.duties != new.spec.duties
        }
        self._take_agencies(scenario, agencies)
        if rules.policy != self._rules.policy:
            self._policy = make_policy(rules.policy)
        self._rules = rules
        self.life_cycle.reconfigure(rules, agencies)
        self._eligible.clear()
        for incident in self._waiting.reset(rules):  # most urgent first, FCFS within
            self._dispatch_or_queue(incident)
        if duties_changed:  # crews still free plan their duties under the new settings
            self.life_cycle.replan_duties(duties_changed)

    def _take_agencies(self, scenario: Scenario, agencies: Sequence[Agency]) -> None:
        """What the control room reads of the agencies: who may take what, where, when."""
        self._agencies = list(agencies)
        self._competences = competence_matrix(scenario, agencies)
        self._type_rules = competence_rules(scenario, agencies, self._model.territory.commune_index)
        self._switches = _switch_hours(self._type_rules)
        self._by_name = {a.name: a.index for a in agencies}
        self._relays = _relays(agencies)

    def derived_settings(self) -> dict[str, Any]:
        """What the control room took from the settings (for the reconfiguration test)."""
        return {
            "agencies": [(a.name, a.capabilities, list(a.cells)) for a in self._agencies],
            "competences": self._competences,
            "competence_rules": self._type_rules,
            "rules": self._rules,
            "policy": type(self._policy).__name__,
            "relays": self._relays,
        }

    # ----------------------------------------------------------------- intake

    def receive(self, incident: Incident) -> None:
        """A call (or offence report, or task) reaches the control room now."""
        self._recorder.incident(incident)
        if incident.addressed_to is not None:
            self._direct_seen = True
        if self._counted(incident.t_reported_h):
            self.open_counted += 1
        if self._rules.call_handling_h > 0 and incident.kind is not IncidentKind.TASK:
            # An event per call (rather than a shared queue) keeps calls in their own
            # order even when the handling time changes during the run.
            self._model.call_at(self._now() + self._rules.call_handling_h, self.handled, incident)
        else:
            self._dispatch_or_queue(incident)

    def handled(self, incident: Incident) -> None:
        """The control room has finished taking the call: dispatch it or queue it."""
        self._dispatch_or_queue(incident)

    def _now(self) -> float:
        now: float = self._model.now_h  # the model's clock as a plain float
        return now

    def close(self, incident: Incident, outcome: Outcome) -> None:
        """The incident is over, with ``outcome``."""
        incident.outcome = outcome
        if self._counted(incident.t_reported_h):
            self.open_counted -= 1
        if outcome in (Outcome.ABANDONED, Outcome.NO_AGENCY) and self.observer is not None:
            self.observer.unanswered(incident)
        if incident.kind is IncidentKind.TASK and outcome is not Outcome.CLEARED:
            # Nobody will take the arrested person over: the holding unit lets go.
            self.life_cycle.task_dropped(incident)

    def _abandon(self, incident: Incident) -> None:
        self.close(incident, Outcome.ABANDONED)

    def eligible(self, incident: Incident) -> tuple[int, ...]:
        """Agencies that may handle this incident where it is, in order of preference.

        A call addressed to an agency directly goes to that agency alone (if it may
        act there), whatever the competence list of its type, unless it was passed
        to 17 when the agency's line closed.
        """
        if incident.addressed_to is not None and incident.incident_id not in self._relayed:
            a = self._by_name.get(incident.addressed_to)
            if a is None or not self._agencies[a].may_act(incident.cell, incident.commune):
                return ()
            return (a,)
        return self._competent(incident)

    def _competent(self, incident: Incident) -> tuple[int, ...]:
        """The agencies of its type's list, or of its rule in force, that may act where it is."""
        rules = self._type_rules.get(incident.type)
        which = -1 if rules is None else self._rule_in_force(rules, incident.commune)
        key = (incident.type, incident.cell, which)
        found = self._eligible.get(key)
        if found is None:
            if rules is None or which < 0:
                order: Sequence[int] = self._competences.get(incident.type, [])
            else:
                order = rules[which][2]
            found = tuple(
                a for a in order if self._agencies[a].may_act(incident.cell, incident.commune)
            )
            self._eligible[key] = found
        return found

    def _rule_in_force(self, rules: list[TypeRule], commune: int) -> int:
        """The first of a type's rules for this commune and the hour now, or -1."""
        hour = int(self._now()) % 24
        for k, (communes, hours, _) in enumerate(rules):
            if (communes is None or commune in communes) and (
                hours is None or in_hours(hours, hour)
            ):
                return k
        return -1

    def competence_hour(self, hour: int) -> None:
        """At an hour when a competence rule comes into force or ends, dispatch again.

        Hourly, after the closed lines' relay: the waiting calls of the types with
        rules, as :meth:`_dispatch_waiting` says.
        """
        if hour % 24 not in self._switches or not self._waiting:
            return
        self._dispatch_waiting(lambda incident: incident.type in self._type_rules)

    def _dispatch_waiting(self, chosen: Callable[[Incident], bool]) -> None:
        """Dispatch again, where they wait, the waiting incidents ``chosen`` picks.

        Most urgent first, first come first served within a priority: one no agency
        may take any more is closed as ``no_agency``; one a crew may now answer is
        sent one (free, or by pre-emption); the others keep their place, and the
        free crews of their agencies end their duties for them (as in
        :meth:`_dispatch_or_queue`).
        """
        for priority in self._waiting.priorities:
            for incident in self._waiting.waiting(priority):
                if not chosen(incident):
                    continue
                agencies = self.eligible(incident)
                if not agencies:
                    self._waiting.remove(incident)
                    self.close(incident, Outcome.NO_AGENCY)
                elif self._send(incident, agencies):
                    self._waiting.remove(incident)
                else:
                    self._take_up_duties(agencies)

    # ----------------------------------------------------------------- matching

    def _relay(self, incident: Incident) -> bool:
        """Pass ``incident`` to 17 if it is a direct call whose line is closed now.

        Only with ``when_closed: emergency_number``, and only if an agency of its
        type's competence list may act where it is (otherwise it keeps waiting for
        the agency it called).

        Returns:
            Whether it was passed on now.
        """
        if incident.addressed_to is None or incident.incident_id in self._relayed:
            return False
        hours = self._relays.get(incident.addressed_to)
        if hours is None or hours[int(self._now()) % len(hours)] > 0:
            return False
        if not self._competent(incident):
            return False
        self._relayed.add(incident.incident_id)
        return True

    def relay_closed_lines(self) -> None:
        """Pass the direct calls waiting for an agency whose line has closed to 17.

        Hourly, after the shift changes, most urgent first, first come first served
        within a priority. A call passed on is sent a crew now if one may go (free,
        or by pre-emption); otherwise it keeps its place in its queue.
        """
        if not self._direct_seen or not self._waiting:  # most hours nothing waits
            return
        self._dispatch_waiting(self._relay)

    def _dispatch_or_queue(self, incident: Incident) -> None:
        if incident.addressed_to is not None:  # only a direct call may be passed to 17
            self._relay(incident)
            agencies = self.eligible(incident)
        else:
            agencies = self._competent(incident)  # what eligible() gives it
        if not agencies:
            self.close(incident, Outcome.NO_AGENCY)
        elif not self._send(incident, agencies):
            # The crews on a duty while they patrol end it as the life cycle's, which
            # gives them a waiting call when it ends.
            self._take_up_duties(agencies)
            self._waiting.add(incident)

    def _take_up_duties(self, agencies: tuple[int, ...]) -> None:
        """Make the duties the available crews of ``agencies`` are on the life cycle's."""
        for agency in agencies:
            for unit in list(self._available[agency].values()):
                self.life_cycle.take_up_duty(unit)

    def _send(self, incident: Incident, agencies: tuple[int, ...]) -> bool:
        """Send a free crew the policy chooses, or pre-empt one (rule 5).

        Returns:
            Whether a crew was sent.
        """
        free = FreeUnits(incident, agencies, self._available, self._now())
        chosen = self._policy.choose_unit(free)
        if chosen is not None:
            self._assign(*chosen, incident)
            return True
        return incident.priority <= self._rules.preempt_priority and self._preempt(
            incident, agencies
        )

    def _preempt(self, incident: Incident, agencies: tuple[int, ...]) -> bool:
        """Send a crew from lesser work to an urgent call nobody free can take (rule 5).

        Returns:
            Whether a crew was sent.
        """
        if incident.kind is IncidentKind.TASK:
            return False
        self._take_up_duties(agencies)  # a crew on a duty while it patrols may be called off
        divert = self._rules.divert_priority
        for agency in agencies:
            crews = [
                u
                for u in self.life_cycle.units
                if u.agency.index == agency
                and (
                    (u.state is UnitState.DUTY and u.agency.spec.duties.preemptible)
                    or (
                        divert is not None
                        and u.state is UnitState.EN_ROUTE
                        and u.incident is not None
                        and u.incident.kind is not IncidentKind.TASK
                        and u.incident.priority >= divert
                    )
                )
            ]
            if not crews:
                continue
            now = self._now()
            times = FreeUnits(incident, (agency,), [], now).travel_times(crews)
            best = quickest(crews, times)
            unit = crews[best]
            what = "duty" if unit.state is UnitState.DUTY else "call"
            self._recorder.preemption(now, unit.agency.name, what)
            incident.t_dispatched_h = now
            incident.agency = unit.agency.name
            incident.unit = unit.unique_id
            left = unit.divert_to(incident, now + times[best])
            if left is not None:  # back to the control room, as if just handled
                left.t_dispatched_h = None
                left.agency = None
                left.unit = None
                self._dispatch_or_queue(left)
            return True
        return False

    def _assign(self, unit: Unit, travel: float | None, incident: Incident) -> None:
        """Send ``unit`` to ``incident`` (``travel``: its travel time, if already known)."""
        now = self._now()
        self._available[unit.agency.index].pop(unit.unique_id, None)
        if travel is None:
            x, y = unit.position(now)
            dist = np.array([np.hypot(x - incident.x_m, y - incident.y_m)])
            travel = float(unit.travel.response_h(dist, int(now) % 24, incident.priority)[0])
        incident.t_dispatched_h = now
        incident.agency = unit.agency.name
        incident.unit = unit.unique_id
        unit.dispatch_to(incident, now + travel)

    def unit_free(self, unit: Unit, *, fresh: bool) -> None:
        """``unit`` may take a job: the policy's choice of a waiting call, or patrol.

        Args:
            unit: The unit.
            fresh: It has just come on duty (already patrolling from its station).
        """
        # With no call waiting, every policy lets the unit patrol.
        job = self._policy.next_job(unit, self._waiting) if self._waiting else None
        if job is not None:
            assert unit.agency.index in self.eligible(job), f"{unit.label} may not take {job}"
            self._waiting.remove(job)
            self._assign(unit, None, job)
            return
        if not fresh:
            unit.become_available()
        self._available[unit.agency.index][unit.unique_id] = unit
        self.life_cycle.idle(unit)

    def withdraw(self, unit: Unit) -> None:
        """``unit`` leaves the available ones (its shift ends, or its duty is taken up)."""
        self._available[unit.agency.index].pop(unit.unique_id, None)

    def purge_abandoned(self) -> None:
        """Drop every call that has waited past the limit (hourly housekeeping)."""
        self._waiting.purge()
