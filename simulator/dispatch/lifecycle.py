"""The life cycle of a unit: shifts, and what it does once sent to an incident.

Rules (ODD section 7.8), in the order a job unfolds:

1. A unit comes on duty at its station and asks the control room for work; a
   unit whose shift ends goes off duty at once if idle, else once its job is
   done (it works overtime; it is never taken off a job).
2. On arrival, the first unit on scene is reported to the control room (the
   caller's experience) and arrests the person if the incident has one to
   arrest, they are still there and its agency may apprehend (art. 73 of the
   code of criminal procedure); an arrest by a judicial agency stands at once,
   one by any other when a judicial unit takes the person over (the crime
   engine is told then). A unit arriving for a hand-over task tells the unit
   holding the arrested person to leave ``handover_h`` later. On-scene work
   lasts the incident's on-scene time.
3. At the end of on-scene work the incident is cleared; then an arrest by a
   unit whose agency had judicial powers when it arrested means custody at the station
   (``custody_h`` plus the incident's follow-up); an arrest by any other unit
   means it holds the person on scene and a hand-over task goes to the control
   room (municipal police must present the person to an OPJ); a unit finishing
   a hand-over task does the custody; otherwise a follow-up on the spot if the
   incident needs one.
4. A holding unit, once released, does the incident's follow-up if any. A
   hand-over task that ends without a unit (abandoned, or no agency) releases
   the holding unit at once: the person is let go, and no arrest is recorded.
5. A unit with nothing left to do goes off duty if its shift is over, else
   goes back to the control room, which gives it a waiting incident or lets it
   patrol.
6. Non-call duties (``agencies.*.duties``): a free crew of an agency with a
   duty share ``s`` and a mean duty length ``m`` leaves patrol for a duty at
   its station after an exponential time of mean ``m (1 - s) / s``, unless a
   job comes first; the duty lasts an exponential time of mean ``m``. Of the
   time free of calls, a crew thus spends the share ``s`` on duties. When the
   duty ends the crew goes back to the control room as after a job (rule 5).
   An urgent call with no free crew may call it off a pre-emptible duty (the
   dispatcher's pre-emption).

How rule 6 is played: a free crew's duties, and the patrol between them, are
played by the leg table's compiled loop with its legs (``Unit.plan_duty``), with
no event, until something needs the crew: the control room asks whether it is
free before it sends it (``Unit.free_at``), and a call that must wait, an urgent
call looking for a crew to pre-empt, the end of its shift or a policy change
make the duty it is on a duty of this life cycle (:meth:`LifeCycle.take_up_duty`),
with an event at its end, so that it ends as rule 6 says. The draws are those of
the duties stream in the order the duties are played.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol

import mesa

from simulator.agencies.agency import Agency
from simulator.agencies.legs import LegTable
from simulator.agencies.units import Unit, UnitState
from simulator.dispatch.rules import DispatchRules
from simulator.records.incidents import Incident, IncidentKind, Known, Outcome
from simulator.scenario.schema import HANDOVER_TYPE


def _duty_hours(agencies: Sequence[Agency]) -> tuple[list[float | None], list[float]]:
    """Each agency's mean free time before a duty (``None``: no duties) and mean duty, in hours.

    Worked out once for a configuration rather than each time a crew is freed
    (the most frequent event), with the same operations, so the same floats.
    """
    gaps: list[float | None] = []
    means: list[float] = []
    for agency in agencies:
        duties = agency.spec.duties
        mean_h = duties.mean_min / 60.0
        if duties.share <= 0.0:
            gaps.append(None)
        else:
            gaps.append(mean_h * (1.0 - duties.share) / duties.share)
        means.append(mean_h)
    return gaps, means


class IncidentObserver(Protocol):
    """Told when a caller gets a unit on scene, or nobody (the citizens' experience)."""

    def arrived(self, incident: Incident) -> None:
        """The first unit reached the incident."""
        ...

    def unanswered(self, incident: Incident) -> None:
        """The incident was dropped without a unit."""
        ...


class ArrestObserver(Protocol):
    """Told when a unit arrests someone on scene (the crime engine: clearance, custody)."""

    def arrested(self, incident: Incident, agency: str, now: float) -> None:
        """A unit of ``agency`` arrested the person ``incident`` is about, at ``now``."""
        ...

    def escaped(self, incident: Incident) -> None:
        """Nobody was arrested for ``incident`` on scene (gone, or let go untaken)."""
        ...


class ControlRoom(Protocol):
    """What the life cycle asks of the control room."""

    observer: IncidentObserver | None

    def receive(self, incident: Incident) -> None:
        """A new incident (a hand-over task) reaches the control room now."""
        ...

    def close(self, incident: Incident, outcome: Outcome) -> None:
        """The incident is over."""
        ...

    def unit_free(self, unit: Unit, *, fresh: bool) -> None:
        """The unit may take a job: give it one, or let it patrol (``fresh``: just on duty)."""
        ...

    def withdraw(self, unit: Unit) -> None:
        """The available unit is leaving: no more jobs for it."""
        ...


class LifeCycle:
    """Drives units from dispatch to their next job, through scene, custody and hand-over.

    It is every unit's controller: a unit reports to it the end of whatever it
    was doing, and it decides what comes next.

    Args:
        model: The Mesa model whose clock is used.
        room: The control room (which incidents exist, who gets which job).
        units: Every unit of every agency.
        rules: Durations of hand-over and custody.
        new_id: The run's incident counter (for the hand-over tasks).
        legs: The crews' leg table, which plays their duties on patrol and draws
            every duty (:meth:`LegTable.duty_draw`).
        agencies: The placed agencies, by index (their duties).
    """

    def __init__(
        self,
        model: mesa.Model,
        room: ControlRoom,
        units: Sequence[Unit],
        rules: DispatchRules,
        new_id: Callable[[], int],
        legs: LegTable,
        agencies: Sequence[Agency],
    ):
        self._model = model
        self._legs = legs
        self._duty_gap_h, self._duty_mean_h = _duty_hours(agencies)
        self.units: list[Unit] = []  # every unit it drives, in the order adopted
        self._room = room
        self._rules = rules
        self._new_id = new_id
        self._held: dict[int, Unit] = {}  # by the id of the incident of the arrest
        self.arrests: ArrestObserver | None = None
        self._custody: set[int] = set()  # arrests by a judicial unit, custody to come
        for unit in units:
            self.adopt(unit)

    def adopt(self, unit: Unit) -> None:
        """Drive ``unit`` from now on (a unit created at a policy change)."""
        unit.controller = self
        self.units.append(unit)
        k = unit.agency.index
        unit.set_duties(self._duty_gap_h[k], self._duty_mean_h[k])

    def reconfigure(self, rules: DispatchRules, agencies: Sequence[Agency]) -> None:
        """Put changed durations and duties in force for what starts from now.

        The crews have their new agencies already (the fleet reassigns them first).
        """
        self._rules = rules
        self._duty_gap_h, self._duty_mean_h = _duty_hours(agencies)
        for unit in self.units:
            k = unit.agency.index
            unit.set_duties(self._duty_gap_h[k], self._duty_mean_h[k])

    def _now(self) -> float:
        now: float = self._model.now_h  # the model's clock as a plain float
        return now

    # ----------------------------------------------------------------- shifts

    def start_shift(self, unit: Unit) -> None:
        """Bring an off-duty unit on duty (or cancel its pending end of shift)."""
        if unit.state is UnitState.OFF_DUTY:
            unit.come_on_duty()
            self._room.unit_free(unit, fresh=True)
        else:
            unit.end_of_shift = False

    def end_shift(self, unit: Unit) -> None:
        """Send a unit off duty now if idle, else once its current job is done."""
        if unit.state is UnitState.OFF_DUTY:
            return
        if unit.state is UnitState.AVAILABLE and not self.take_up_duty(unit):
            self._room.withdraw(unit)
            unit.go_off_duty()
        else:
            unit.end_of_shift = True

    def _free(self, unit: Unit) -> None:
        """The unit's job is done: off duty if its shift is over, else back to the room."""
        if unit.end_of_shift:
            unit.go_off_duty()
            return
        self._room.unit_free(unit, fresh=False)

    # ----------------------------------------------------------------- duties

    def idle(self, unit: Unit) -> None:
        """``unit`` is free and patrolling: plan its next duty, if its agency has any.

        The duty, and those after it while the crew stays free, are played with its
        legs (:meth:`Unit.plan_duty`). A job or the end of its shift before then
        drops the plan (the crew stops patrolling); a new plan after a policy change
        replaces it.
        """
        gap_h = self._duty_gap_h[unit.agency.index]
        if gap_h is None:
            return
        unit.plan_duty(self._now() + gap_h * self._legs.duty_draw())

    def take_up_duty(self, unit: Unit) -> bool:
        """Make the duty ``unit`` is on while patrolling, if any, a duty of the life cycle.

        It ends then as rule 6 says (a waiting call taken, the end of a shift), and
        the control room no longer counts the crew as available.

        Returns:
            Whether the crew was on a duty.
        """
        if unit.take_up_duty(self._now()):
            self._room.withdraw(unit)
            return True
        return False

    def take_up_duties(self) -> None:
        """:meth:`take_up_duty` of every crew (a policy change comes)."""
        for unit in self.units:
            if unit.state is UnitState.AVAILABLE:
                self.take_up_duty(unit)

    def replan_duties(self, agencies: set[int]) -> None:
        """The duties of ``agencies`` changed (a policy change): free crews plan anew.

        A free crew's planned duty is dropped and, if its agency still has duties,
        drawn again under the new settings (the free time is exponential: starting
        it afresh now changes nothing else). A crew on a duty goes on with it.
        """
        for unit in self.units:
            if (
                unit.agency.index in agencies
                and unit.state is UnitState.AVAILABLE
                and not self.take_up_duty(unit)
            ):
                unit.plan_duty(math.inf)
                self.idle(unit)

    # ----------------------------------------------------------------- a job

    def period_ended(self, unit: Unit) -> None:
        """Decide what a unit does after arriving, clearing a scene, a follow-up or a duty."""
        if unit.state is UnitState.DUTY:  # a duty taken up (take_up_duty) ends
            self._free(unit)
            return
        now = self._now()
        incident = unit.incident
        assert incident is not None, f"{unit.label} ended a period without an incident"
        state = unit.state
        if state is UnitState.EN_ROUTE:
            if incident.t_arrived_h is None:
                incident.t_arrived_h = now
                observer = self._room.observer
                if observer is not None:
                    observer.arrived(incident)
                if incident.arrest:
                    self._apprehend(unit, incident, now)
            if incident.kind is IncidentKind.TASK and incident.parent_id is not None:
                held = self._held.pop(incident.parent_id, None)
                if held is not None:
                    held.release_at(now + self._rules.handover_h)
                    self._taken_over(held)
            unit.work(UnitState.ON_SCENE, now + incident.on_scene_h)
        elif state is UnitState.ON_SCENE:
            incident.t_cleared_h = now
            self._room.close(incident, Outcome.CLEARED)
            self._after_scene(unit, incident, now)
        elif state is UnitState.HOLDING:
            if incident.follow_up_h > 0:
                unit.work(UnitState.FOLLOW_UP, now + incident.follow_up_h)
            else:
                self._free(unit)
        else:  # FOLLOW_UP
            self._free(unit)

    def _apprehend(self, unit: Unit, incident: Incident, now: float) -> None:
        """The first unit on scene arrests the person if still there and its agency may.

        Anyone may detain the author of a flagrant offence and bring them to a
        judicial police officer (art. 73 of the code of criminal procedure), so
        every agency with the ``apprehend`` capability does; one gone before the
        unit came is not arrested.
        """
        if now > incident.t_offender_gone_h or not unit.agency.capabilities.apprehend:
            incident.arrest = False
            if self.arrests is not None:
                self.arrests.escaped(incident)
            return
        incident.arrest_agency = unit.agency.name
        # A judicial agency takes custody itself; any other holds the person until a
        # judicial police officer takes them over, and the arrest stands only then.
        if unit.agency.capabilities.judicial:
            self._custody.add(incident.incident_id)  # whatever powers change before custody
            if self.arrests is not None:
                self.arrests.arrested(incident, unit.agency.name, now)

    def _taken_over(self, holder: Unit) -> None:
        """The person ``holder`` detained is taken over: the arrest stands from its time."""
        incident = holder.incident
        if incident is not None and incident.arrest_agency is not None and self.arrests is not None:
            self.arrests.arrested(incident, incident.arrest_agency, incident.t_arrived_h or 0.0)

    def _after_scene(self, unit: Unit, incident: Incident, now: float) -> None:
        if incident.kind is IncidentKind.TASK:
            unit.work(UnitState.FOLLOW_UP, now + self._rules.custody_h, at_station=True)
        elif incident.arrest and incident.incident_id in self._custody:
            self._custody.discard(incident.incident_id)
            until = now + self._rules.custody_h + incident.follow_up_h
            unit.work(UnitState.FOLLOW_UP, until, at_station=True)
        elif incident.arrest:
            unit.hold()
            self._held[incident.incident_id] = unit
            self._room.receive(self._handover_task(incident, now))
        elif incident.follow_up_h > 0:
            unit.work(UnitState.FOLLOW_UP, now + incident.follow_up_h)
        else:
            self._free(unit)

    def _handover_task(self, arrest: Incident, now: float) -> Incident:
        """The task of taking over the person ``arrest``'s unit holds."""
        return Incident(
            incident_id=self._new_id(),
            kind=IncidentKind.TASK,
            type=HANDOVER_TYPE,
            priority=1,
            cell=arrest.cell,
            district=arrest.district,
            commune=arrest.commune,
            x_m=arrest.x_m,
            y_m=arrest.y_m,
            t_occurred_h=now,
            t_reported_h=now,
            on_scene_h=self._rules.handover_h,
            parent_id=arrest.incident_id,
            known=Known.TASK,
        )

    def task_dropped(self, task: Incident) -> None:
        """A hand-over task ended without a unit: the holding unit lets the person go now."""
        held = None if task.parent_id is None else self._held.pop(task.parent_id, None)
        if held is not None:
            held.release_at(self._now())
            arrest = held.incident
            if arrest is not None:  # let go: no arrest is recorded, nobody is held
                arrest.arrest = False
                arrest.arrest_agency = None
                if self.arrests is not None:
                    self.arrests.escaped(arrest)
