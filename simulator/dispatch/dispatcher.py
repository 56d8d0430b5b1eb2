"""The control room: who goes to which incident, and what happens after.

Rules, in the order they apply:

1. A call becomes dispatchable ``call_handling_min`` after it is received.
2. The competence matrix gives, for its type, an ordered list of agencies; only
   those that may act at the incident's place are kept (jurisdiction, and
   contracted sites for private security). If none is left, the call is
   unanswered (outcome ``no_agency``): a competence gap.
3. The first of them with an available unit sends its nearest one (by travel
   time; ties go to the unit with the lowest number). If none has a unit free,
   the call waits in the queue of its priority.
4. A unit that becomes free takes the most urgent waiting call it is competent
   for, first come first served within a priority; calls waiting longer than
   ``max_wait_min`` are dropped as abandoned.
5. On scene, work lasts the incident's on-scene time; then an arrest by a unit
   whose agency has judicial powers means custody follow-up at the station;
   an arrest by any other unit means it holds the person on scene and a
   hand-over task goes to a judicial agency (municipal police must present the
   person to an OPJ); otherwise a follow-up (report) if the call needs one.

Calls are never pre-empted once a unit is on its way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import mesa
import numpy as np

from simulator.agencies.agency import Agency
from simulator.agencies.units import Unit, UnitState
from simulator.records.incidents import Incident, IncidentKind, Known, Outcome
from simulator.scenario.schema import HANDOVER_TYPE, Scenario
from simulator.world.travel import TravelModel


@dataclass(frozen=True)
class DispatchRules:
    """Durations and limits of the control room, in hours."""

    call_handling_h: float
    handover_h: float
    custody_h: float
    max_wait_h: float | None
    n_priorities: int

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
        )


def competence_matrix(scenario: Scenario, agencies: Sequence[Agency]) -> dict[str, list[int]]:
    """Incident type to the ordered agency indices that may handle it.

    An entry naming an agency kind expands to every agency of that kind, in
    declaration order; an agency named twice keeps its first place.
    """
    by_name = {a.name: a.index for a in agencies}
    matrix: dict[str, list[int]] = {}
    refs = dict(scenario.competences)
    if HANDOVER_TYPE not in refs:
        refs[HANDOVER_TYPE] = [a.name for a in agencies if a.capabilities.judicial]
    for incident_type, entries in refs.items():
        order: list[int] = []
        for ref in entries:
            if ref in by_name:
                found = [by_name[ref]]
            else:
                found = [a.index for a in agencies if a.kind == ref and _enforces(a, incident_type)]
            order.extend(i for i in found if i not in order)
        matrix[incident_type] = order
    return matrix


def _enforces(agency: Agency, incident_type: str) -> bool:
    """Whether an agency may take incidents of a type (its ``enforces`` capability)."""
    enforces = agency.capabilities.enforces
    return enforces == "all" or incident_type == HANDOVER_TYPE or incident_type in enforces


class _Handling:
    """A call being taken by the control room; its event fires when handling ends.

    One object per call (rather than a shared queue) keeps calls in their own
    order even when the handling time changes during the run.
    """

    __slots__ = ("__weakref__", "_dispatcher", "_pending", "incident")

    def __init__(self, incident: Incident, dispatcher: Dispatcher, pending: set[_Handling]):
        self.incident = incident
        self._dispatcher = dispatcher
        self._pending = pending
        pending.add(self)

    def done(self) -> None:
        """Handling is over."""
        self._pending.discard(self)
        self._dispatcher.handled(self.incident)


class IncidentObserver(Protocol):
    """Told when a caller gets a unit on scene, or nobody (the citizens' experience)."""

    def arrived(self, incident: Incident) -> None:
        """The first unit reached the incident."""
        ...

    def unanswered(self, incident: Incident) -> None:
        """The incident was dropped without a unit."""
        ...


class Dispatcher:
    """Assigns units to incidents and drives units through their life cycle.

    Args:
        model: The Mesa model whose clock and event list are used.
        agencies: The placed agencies, by index.
        units: Every unit of every agency.
        competences: Output of :func:`competence_matrix`.
        travel: The travel model.
        rules: Durations and limits.
        counted: Whether an incident reported at a time counts in statistics.
    """

    def __init__(
        self,
        model: mesa.Model,
        agencies: Sequence[Agency],
        units: Sequence[Unit],
        competences: dict[str, list[int]],
        travel: TravelModel,
        rules: DispatchRules,
        counted: Callable[[float], bool],
    ):
        self._model = model
        self._agencies = list(agencies)
        self._competences = competences
        self._travel = travel
        self._rules = rules
        self._counted = counted
        self._available: list[dict[int, Unit]] = [{} for _ in agencies]
        self._queues: list[dict[int, Incident]] = [{} for _ in range(rules.n_priorities)]
        self._handling: set[_Handling] = set()  # calls being taken (kept alive for events)
        self._held: dict[int, Unit] = {}
        self._eligible: dict[tuple[str, int], tuple[int, ...]] = {}
        self.incidents: list[Incident] = []
        self.next_id = 0  # the next free incident id; whoever creates incidents takes ids here
        self.open_counted = 0
        self.observer: IncidentObserver | None = None
        for unit in units:
            unit.controller = self

    def reconfigure(
        self,
        agencies: Sequence[Agency],
        competences: dict[str, list[int]],
        travel: TravelModel,
        rules: DispatchRules,
    ) -> None:
        """Put changed agencies, competences and rules in force.

        Waiting calls are dispatched again under the new rules: a unit that may now
        take one takes it, and a call no agency may take any more is closed as
        ``no_agency``.
        """
        self._agencies = list(agencies)
        self._competences = competences
        self._travel = travel
        self._rules = rules
        self._eligible.clear()
        while len(self._queues) < rules.n_priorities:
            self._queues.append({})
        waiting = [inc for queue in self._queues for inc in queue.values()]
        for queue in self._queues:
            queue.clear()
        for incident in waiting:  # most urgent first, first come first served within
            self._dispatch_or_queue(incident)

    # ----------------------------------------------------------------- intake

    def receive(self, incident: Incident) -> None:
        """A call (or offence report, or task) reaches the control room now."""
        self.incidents.append(incident)
        if self._counted(incident.t_reported_h):
            self.open_counted += 1
        if self._rules.call_handling_h > 0 and incident.kind is not IncidentKind.TASK:
            handling = _Handling(incident, self, self._handling)
            self._model.schedule_event(handling.done, at=self._now() + self._rules.call_handling_h)
        else:
            self._dispatch_or_queue(incident)

    def handled(self, incident: Incident) -> None:
        """The control room has finished taking the call: dispatch it or queue it."""
        self._dispatch_or_queue(incident)

    def _now(self) -> float:
        return float(self._model.time)

    def _close(self, incident: Incident, outcome: Outcome) -> None:
        incident.outcome = outcome
        if self._counted(incident.t_reported_h):
            self.open_counted -= 1
        if outcome in (Outcome.ABANDONED, Outcome.NO_AGENCY) and self.observer is not None:
            self.observer.unanswered(incident)
        if incident.kind is IncidentKind.TASK and outcome is not Outcome.CLEARED:
            # Nobody will take the arrested person over: the holding unit lets go.
            held = None if incident.parent_id is None else self._held.pop(incident.parent_id, None)
            if held is not None:
                held.release_at(self._now())

    def eligible(self, incident: Incident) -> tuple[int, ...]:
        """Agencies that may handle this incident where it is, in order of preference."""
        key = (incident.type, incident.cell)
        found = self._eligible.get(key)
        if found is None:
            found = tuple(
                a
                for a in self._competences.get(incident.type, [])
                if self._agencies[a].may_act(incident.cell, incident.commune)
            )
            self._eligible[key] = found
        return found

    def _dispatch_or_queue(self, incident: Incident) -> None:
        agencies = self.eligible(incident)
        if not agencies:
            self._close(incident, Outcome.NO_AGENCY)
            return
        for a in agencies:
            found = self._nearest_available(a, incident)
            if found is not None:
                self._assign(*found, incident)
                return
        self._queues[incident.priority - 1][incident.incident_id] = incident

    def _nearest_available(self, agency: int, incident: Incident) -> tuple[Unit, float] | None:
        """The available unit of ``agency`` quickest to reach ``incident``, and its travel time.

        Ties go to the lower unit number.
        """
        pool = self._available[agency]
        if not pool:
            return None
        now = self._now()
        units = list(pool.values())
        xs: list[float] = []
        ys: list[float] = []
        for unit in units:
            x, y = unit.position(now)
            xs.append(x)
            ys.append(y)
        dist = np.hypot(np.array(xs) - incident.x_m, np.array(ys) - incident.y_m)
        # An agency's crews share its mode, hence one travel model for them all.
        times = units[0].travel.response_h(dist, int(now) % 24, incident.priority)
        if len(units) == 1:
            return units[0], float(times[0])
        listed: list[float] = times.tolist()
        fastest = min(listed)
        if fastest != fastest:  # a NaN time: let numpy's sort order (NaN last) decide
            best = int(np.lexsort((np.array([u.number for u in units]), times))[0])
        else:  # a few units: scanning the list beats sorting arrays
            best = min(
                (k for k, t in enumerate(listed) if t == fastest), key=lambda k: units[k].number
            )
        return units[best], listed[best]

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

    # ----------------------------------------------------------------- queue

    def _abandoned(self, incident: Incident, now: float) -> bool:
        limit = self._rules.max_wait_h
        if limit is None:
            return False
        handling = 0.0 if incident.kind is IncidentKind.TASK else self._rules.call_handling_h
        return incident.t_reported_h + handling + limit <= now

    def _next_job(self, unit: Unit) -> Incident | None:
        now = self._now()
        agency = unit.agency.index
        for queue in self._queues:
            dropped: list[int] = []
            chosen: Incident | None = None
            for key, incident in queue.items():
                if self._abandoned(incident, now):
                    dropped.append(key)
                elif agency in self.eligible(incident):
                    chosen = incident
                    break
            for key in dropped:
                self._close(queue.pop(key), Outcome.ABANDONED)
            if chosen is not None:
                del queue[chosen.incident_id]
                return chosen
        return None

    def purge_abandoned(self) -> None:
        """Drop every call that has waited past the limit (hourly housekeeping)."""
        now = self._now()
        for queue in self._queues:
            for key in [k for k, inc in queue.items() if self._abandoned(inc, now)]:
                self._close(queue.pop(key), Outcome.ABANDONED)

    # ----------------------------------------------------------------- shifts

    def start_shift(self, unit: Unit) -> None:
        """Bring an off-duty unit on duty (or cancel its pending end of shift)."""
        if unit.state is UnitState.OFF_DUTY:
            unit.come_on_duty()
            self._free(unit, fresh=True)
        else:
            unit.end_of_shift = False

    def end_shift(self, unit: Unit) -> None:
        """Send a unit off duty now if idle, else once its current job is done."""
        if unit.state is UnitState.OFF_DUTY:
            return
        if unit.state is UnitState.AVAILABLE:
            self._available[unit.agency.index].pop(unit.unique_id, None)
            unit.go_off_duty()
        else:
            unit.end_of_shift = True

    def _free(self, unit: Unit, fresh: bool = False) -> None:
        """The unit has nothing to do: next job, end of shift, or patrol."""
        if unit.end_of_shift:
            unit.go_off_duty()
            return
        job = self._next_job(unit)
        if job is not None:
            self._assign(unit, None, job)
            return
        if not fresh:
            unit.become_available()
        self._available[unit.agency.index][unit.unique_id] = unit

    # ----------------------------------------------------------------- life cycle

    def period_ended(self, unit: Unit) -> None:
        """Decide what a unit does after arriving, clearing a scene or a follow-up."""
        now = self._now()
        incident = unit.incident
        assert incident is not None, f"{unit.label} ended a period without an incident"
        state = unit.state
        if state is UnitState.EN_ROUTE:
            if incident.t_arrived_h is None:
                incident.t_arrived_h = now
                if self.observer is not None:
                    self.observer.arrived(incident)
            if incident.kind is IncidentKind.TASK and incident.parent_id is not None:
                held = self._held.pop(incident.parent_id, None)
                if held is not None:
                    held.release_at(now + self._rules.handover_h)
            unit.work(UnitState.ON_SCENE, now + incident.on_scene_h)
        elif state is UnitState.ON_SCENE:
            incident.t_cleared_h = now
            self._close(incident, Outcome.CLEARED)
            self._after_scene(unit, incident, now)
        elif state is UnitState.HOLDING:
            if incident.follow_up_h > 0:
                unit.work(UnitState.FOLLOW_UP, now + incident.follow_up_h)
            else:
                self._free(unit)
        else:  # FOLLOW_UP
            self._free(unit)

    def _after_scene(self, unit: Unit, incident: Incident, now: float) -> None:
        if incident.kind is IncidentKind.TASK:
            unit.work(UnitState.FOLLOW_UP, now + self._rules.custody_h, at_station=True)
        elif incident.arrest and unit.agency.capabilities.judicial:
            until = now + self._rules.custody_h + incident.follow_up_h
            unit.work(UnitState.FOLLOW_UP, until, at_station=True)
        elif incident.arrest:
            unit.hold()
            self._held[incident.incident_id] = unit
            self.next_id += 1
            task = Incident(
                incident_id=self.next_id - 1,
                kind=IncidentKind.TASK,
                type=HANDOVER_TYPE,
                priority=1,
                cell=incident.cell,
                district=incident.district,
                commune=incident.commune,
                x_m=incident.x_m,
                y_m=incident.y_m,
                t_occurred_h=now,
                t_reported_h=now,
                on_scene_h=self._rules.handover_h,
                parent_id=incident.incident_id,
                known=Known.TASK,
            )
            self.receive(task)
        elif incident.follow_up_h > 0:
            unit.work(UnitState.FOLLOW_UP, now + incident.follow_up_h)
        else:
            self._free(unit)
