"""The Mesa model: wires territory, agencies, units, demand and dispatch together.

One model time unit is one hour; time 0 is a Monday at 00:00. Mesa's ``step``
is the hourly update (shift changes, patrol bookkeeping, the calls of the
coming hour); arrivals of calls, arrivals on scene, clearances and follow-ups
are events at their exact times in between.

Random numbers come from independent streams spawned from the run's seed, one
per sub-model, so that a change in one (say, patrol) leaves the draws of the
others (the calls) untouched: scenarios that differ only in policy face the
same calls.
"""

from __future__ import annotations

import gc
import heapq
import itertools
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, Protocol, TypeVar

import mesa
import numpy as np

from simulator.agencies.agency import Agency, place_agencies
from simulator.agencies.fleet import Fleet
from simulator.agencies.patrol import PresenceLog
from simulator.agencies.units import Unit, advance_all_patrols
from simulator.crime.engine import CrimeEngine, initial_market_cells
from simulator.dispatch.dispatcher import Dispatcher
from simulator.records.ids import IncidentIds
from simulator.records.incidents import Incident
from simulator.records.recorder import Recorder, RunRecords
from simulator.scenario.changes import AGENCY_SETTINGS, changed_settings, reads_any
from simulator.scenario.schema import HOURS_PER_DAY, PolicyChange, Scenario
from simulator.scenario.timeline import policy_changes
from simulator.world.activity import ActivityModel
from simulator.world.citizens import Population, ResponseExperience
from simulator.world.demand import CallGenerator, DirectCallGenerator
from simulator.world.territory import Territory, shared_territory

T = TypeVar("T")


class _Pauses:
    """How many runs keep the collector paused (runs may play in threads at once)."""

    lock = threading.Lock()
    depth = 0
    was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off meanwhile, on again after if it was.

    A run makes next to no cyclic garbage (14 objects in a year of city_500k), but
    every pass of the collector walks the objects alive: the incidents the run
    keeps and the hundreds of thousands of the libraries' objects, three full
    passes and 900 partial ones in a city_500k year (docs/performance.md). Reference
    counting still frees everything else as it goes.

    The switch is the process's: runs playing in threads at once (the dashboard's
    tasks, a batch on Dask's threads) share one pause, counted; the first in turns
    the collector off, the last out turns it on again if it was on before the first.
    """
    entered = False
    try:
        with _Pauses.lock:
            if _Pauses.depth == 0:
                _Pauses.was_enabled = gc.isenabled()
                gc.disable()
            _Pauses.depth += 1
            entered = True
        yield
    finally:
        if entered:
            with _Pauses.lock:
                _Pauses.depth -= 1
                if _Pauses.depth == 0 and _Pauses.was_enabled:
                    gc.enable()


class Reconfigurable(Protocol):
    """A part of the model built from the scenario, which a policy change can reach.

    ``READS`` are the settings it is built from (dotted keys; ``*`` is any one
    name); ``READS_ONCE`` are those of them it reads only when built, which a
    timeline may not change (the timeline compiler refuses them:
    ``simulator.scenario.timeline.FROZEN_SETTINGS``, checked against these by the
    tests). ``derived_settings`` is what it derived from the settings: applying a
    change must give the same as building afresh from the changed scenario.
    """

    READS: ClassVar[tuple[str, ...]]
    READS_ONCE: ClassVar[tuple[str, ...]]

    def reconfigure(self, scenario: Scenario, agencies: Sequence[Agency]) -> None:
        """Put the changed scenario in force now."""
        ...

    def derived_settings(self) -> dict[str, Any]:
        """What it derived from the settings in force."""
        ...


# Named random streams: the order is part of the reproducibility contract.
# A stream added at the end leaves the others' seeds as they were.
STREAMS = (
    "calls",
    "patrol",
    "mesa",
    "citizens",
    "crime",
    "watch",
    "opportunities",
    "careers",
    "duties",
    "direct_calls",
)


class SecurityModel(mesa.Model):  # type: ignore[misc]
    """A territory policed by agencies answering calls for service.

    Args:
        scenario: The checked scenario.
        seed: Seed of the run's random streams.
        territory: A pre-built territory (built from the scenario if omitted).
    """

    time: float  # Mesa's clock (model hours); annotated for the type checker only

    def __init__(self, scenario: Scenario, seed: int, territory: Territory | None = None):
        streams = dict(zip(STREAMS, np.random.SeedSequence(seed).spawn(len(STREAMS)), strict=True))
        super().__init__(rng=np.random.default_rng(streams["mesa"]))
        # Our own event list: a heap of (time, order of scheduling, function, argument)
        # tuples, each event the call ``function(argument)``. Mesa's makes an Event
        # object and a weak reference per event; the order is the same as Mesa's
        # (time, then the hourly step first, then scheduling order), and functions
        # are held strongly. An argument spares the caller a closure per event.
        self._default_schedule.stop()
        self._events: list[tuple[float, int, Callable[[Any], None], Any]] = []
        self._event_order = itertools.count()
        self._next_step = 1.0
        # The clock as a plain float, for the model's own parts. Mesa's ``time`` is an
        # observable signal, several times dearer to read and to set: it is set at
        # each hourly step, before each event scheduled through ``schedule_event``
        # and at the end of ``run_until``, where code outside the model may read it.
        self.now_h = 0.0
        self.spec = scenario  # `scenario` is a Mesa property of its own
        self.seed = seed
        self.n_events = 0
        run = scenario.run
        self.window_h = (run.warmup_days * 24.0, (run.warmup_days + run.days) * 24.0)
        self.territory = (
            territory if territory is not None else shared_territory(scenario.territory)
        )
        self.agencies: list[Agency] = place_agencies(scenario, self.territory)
        self.ids = IncidentIds()  # the one incident counter, handed to whoever creates incidents
        citizens_rng = np.random.default_rng(streams["citizens"])
        self.population = Population(
            scenario.citizens,
            self.territory,
            citizens_rng,
            watch_rng=np.random.default_rng(streams["watch"]),
        )
        self.activity = ActivityModel(self.territory, self.population)
        self.calls = CallGenerator(
            scenario, self.agencies, self.activity, np.random.default_rng(streams["calls"])
        )
        # Direct calls and their callers draw from two children of the last stream, so
        # that the calls drawn do not depend on how many callers were picked before.
        direct, callers = streams["direct_calls"].spawn(2)
        self.direct_calls = DirectCallGenerator(
            self.agencies, self.calls, np.random.default_rng(direct)
        )
        self._direct_caller_rng = np.random.default_rng(callers)
        self.presence = PresenceLog(len(self.agencies), self.territory.n_cells)
        self.recorder = Recorder(self.territory, self.window_h)  # the one write path for results
        # The crime engine before the fleet: hot spots may follow its offence types.
        self.crime: CrimeEngine | None = None
        if scenario.crime is not None:
            self.crime = CrimeEngine(
                scenario.crime,
                scenario.cctv,
                self.territory,
                self.population,
                self.activity,
                self.agencies,
                np.random.default_rng(streams["crime"]),
                self.ids.take,
                opportunities=np.random.default_rng(streams["opportunities"]),
                careers=streams["careers"],
            )
            self.recorder.dark_offences_from(self.crime.dark_offences)
        self.fleet = Fleet(
            self,
            scenario,
            self.agencies,
            self.territory,
            self.presence,
            self.recorder,
            initial_market_cells(self.territory, scenario.crime)
            if scenario.crime is not None
            else np.empty(0, dtype=np.int64),
            self.calls.expected_cell_weights,
            streams["patrol"],
            None if self.crime is None else self.crime.expected_opportunities,
        )
        self.units: list[list[Unit]] = self.fleet.units
        self.fleet.legs.duty_stream(np.random.default_rng(streams["duties"]))
        self.dispatcher = Dispatcher(
            self,
            scenario,
            self.agencies,
            [u for units in self.units for u in units],
            self.in_window,
            self.ids.take,
            self.recorder,
            self.fleet.legs,
        )
        self.fleet.adopt = self.dispatcher.life_cycle.adopt
        self._caller_rng = citizens_rng
        self.experience = ResponseExperience.of(scenario, self.population)
        self.dispatcher.observer = self.experience
        self.recorder.citizens(0.0, self.population)
        if self.crime is not None:
            self.dispatcher.life_cycle.arrests = self.crime
        self._changes, problems = policy_changes(scenario)
        if problems:
            raise ValueError(f"the timeline cannot be applied: {problems}")
        self._next_change = 0
        # Per agency, the (units wanted, units) at the last pass over its crews'
        # shifts; None: the next hour passes over them all (see _update_shifts).
        self._shifts_passed: list[tuple[int, int] | None] = [None] * len(self.units)
        self._staffing_in_force()
        self.recorder.policy_period(0.0, "start", scenario, self.agencies)
        self._begin_hour(0)

    def in_window(self, t_h: float) -> bool:
        """Whether a time falls inside the statistics window (after warm-up)."""
        return self.window_h[0] <= t_h < self.window_h[1]

    # ----------------------------------------------------------------- policy timeline

    def _apply_policy_changes(self, hour: int) -> None:
        # A change due after the statistics window belongs to a later period: it is
        # not applied during the drain (and is reported as after the end).
        while (
            self._next_change < len(self._changes)
            and self._changes[self._next_change].hour <= hour
            and self._changes[self._next_change].hour < self.window_h[1]
        ):
            change = self._changes[self._next_change]
            self._next_change += 1
            self._reconfigure(change.scenario)
            self.recorder.policy_period(float(hour), change.label, change.scenario, self.agencies)

    def components(self) -> list[Reconfigurable]:
        """The parts of the model built from the scenario, in the order a change reaches them.

        The call generator comes before the fleet (patrols follow expected calls) and
        the direct calls (which take its types and places), the residents before the
        crime engine (watch members guard their homes), and the crime engine before
        the fleet (hot spots may follow its offence types' rates), which comes before
        the dispatcher (which takes the fleet's new crews).
        """
        crime: list[Reconfigurable] = [] if self.crime is None else [self.crime]
        return [
            self.calls,
            self.direct_calls,
            self.population,
            self.experience,
            *crime,
            self.fleet,
            self.dispatcher,
        ]

    def _reconfigure(self, new: Scenario) -> None:
        """Put a changed scenario in force now: each component whose settings changed.

        Which settings a timeline may change at all is decided when it is compiled
        (components' ``READS_ONCE`` settings are refused there).
        """
        changed = changed_settings(self.spec, new)
        self.spec = new
        reached = [c for c in self.components() if reads_any(changed, c.READS)]
        if not reached:  # nothing it changes is read: the run goes on as it was
            return
        if self.fleet in reached or self.dispatcher in reached:
            # The crews' duties on patrol become the life cycle's: what changes finds
            # each crew patrolling or on a duty, as it is. (A change the crews do not
            # read leaves them, and their draws, alone: arms stay paired.)
            self.dispatcher.life_cycle.take_up_duties()
            self._shifts_passed = [None] * len(self.units)
        if reads_any(changed, AGENCY_SETTINGS):
            self.agencies = place_agencies(new, self.territory)
        for component in reached:
            component.reconfigure(new, self.agencies)
        self._staffing_in_force()

    def _staffing_in_force(self) -> None:
        """The agencies' numbers and their crews wanted at each hour of the day, as tuples.

        Made when the agencies are placed or changed: the hourly pass then reads one
        tuple. ``_wanted_passed`` is the tuple of the last pass, None until one after
        a change (the fleet's crews are appended at a change only).
        """
        self._agency_numbers = tuple(agency.index for agency in self.agencies)
        self._wanted_by_hour = [
            tuple(agency.staffing.units_by_hour[hod] for agency in self.agencies)
            for hod in range(HOURS_PER_DAY)
        ]
        self._wanted_passed: tuple[int, ...] | None = None

    def schedule_event(
        self,
        function: Callable[[], None],
        *,
        at: float | None = None,
        after: float | None = None,
    ) -> None:
        """Schedule a one-off event at ``at`` (or ``after`` hours from now), counting it.

        Events at the same time run after the hourly step due then, in the order
        they were scheduled (as with Mesa's ``schedule_event`` at default priority).
        Mesa's ``time`` is the event's time when ``function`` runs.

        Raises:
            ValueError: If both or neither of ``at`` and ``after`` are given, or the
                time is in the past.
        """
        if (at is None) == (after is None):
            raise ValueError("Specify exactly one of 'at' or 'after'")
        when = at if at is not None else self.now_h + float(after or 0.0)
        self.call_at(when, self._run_with_time, function)

    def _run_with_time(self, function: Callable[[], None]) -> None:
        self.time = self.now_h
        function()

    def call_at(self, when: float, function: Callable[[T], None], argument: T) -> None:
        """Schedule the event ``function(argument)`` at ``when``, counting it.

        The model's parts schedule their events here: they read the clock from
        ``now_h`` (Mesa's ``time`` is not set for these events), and a bound method
        with an argument costs no closure per event. Same order as ``schedule_event``.

        Raises:
            ValueError: If the time is in the past.
        """
        if when < self.now_h:
            raise ValueError(f"Cannot schedule event in the past: {when} < {self.now_h}")
        self.n_events += 1
        heapq.heappush(self._events, (when, next(self._event_order), function, argument))

    def _advance_time(self, until: float) -> None:
        """Run the hourly steps and the events due up to ``until`` (Mesa's hook).

        Python's cyclic garbage collector is off meanwhile (:func:`collector_paused`).
        """
        now = self.now_h
        if until <= now:
            warnings.warn(f"end time {until} is not after time {now}", RuntimeWarning, 2)
            return
        with collector_paused():
            self._play_until(until)

    def _play_until(self, until: float) -> None:
        """The hourly steps and the events due up to ``until``, in order."""
        events = self._events
        pop = heapq.heappop
        while True:
            step_at = self._next_step
            if events and events[0][0] < step_at:
                when, _, function, argument = events[0]
                if when > until:
                    break
                pop(events)
                self.now_h = when
                function(argument)
            else:
                if step_at > until:
                    break
                self.now_h = self.time = step_at
                self._next_step = step_at + 1.0
                # Mesa's _do_step without its INFO log line, which formats a message
                # from the observable clock every hour, logged or not: the count of
                # steps, then the model's step (a subclass's, such as the dashboard's).
                self.steps += 1
                self._user_step()
        self.now_h = self.time = until

    # ----------------------------------------------------------------- hourly update

    def step(self) -> None:
        """The hourly update, at the start of each hour."""
        self._begin_hour(round(self.time))

    def _begin_hour(self, hour: int) -> None:
        self._apply_policy_changes(hour)
        self._update_shifts(hour)
        now = float(hour)
        advance_all_patrols(self.units, now)
        touched = self.presence.take_touched()
        if self.crime is not None:
            self.crime.observe_presence(self.presence.hours, touched)
        # Legs are played up to now, so the snapshots bound the window's presence.
        if hour * 1.0 in self.window_h:
            self.recorder.presence_at_window_bound(
                self.presence.hours, start=hour * 1.0 == self.window_h[0]
            )
        # (The residents' trust and fear are taken at the start and at the end, all their
        # outputs read: a daily snapshot by district cost 4 % of a baseline year.)
        if hour > 0 and hour % HOURS_PER_DAY == 0 and self.crime is not None:
            pool = self.crime.offenders
            self.recorder.offenders(float(hour), pool.size, pool.held(float(hour)))
        self.dispatcher.purge_abandoned()
        self.dispatcher.relay_closed_lines()
        self.dispatcher.competence_hour(hour)
        self._generate_calls(hour)
        if self.crime is not None:
            for offence in self.crime.offences_in_hour(hour):
                if offence.needs_response:
                    self.submit(offence)
                else:
                    self.recorder.incident(offence)

    def _update_shifts(self, hour: int) -> None:
        """Call on the crews each agency wants this hour; send the others off.

        Units are called on in number order; the last ones leave first. A crew goes
        off duty only by ``end_shift`` (at once, or when its job is done), so after a
        pass over an agency's crews with ``w`` wanted, those below ``w`` are on duty
        and those above are off or finishing a job before they go. The next pass over
        the same crews then changes only those between the two numbers wanted; the
        others are skipped (every crew is passed over again after a policy change).
        An hour that wants of every agency what the last pass did (most hours) passes
        over none: the crews of an agency change in number only with a policy change.
        """
        wanted_now = self._wanted_by_hour[hour % HOURS_PER_DAY]
        self.recorder.on_duty(hour, self._agency_numbers, wanted_now)
        if wanted_now == self._wanted_passed:
            return  # every agency wants what it had at the last pass: nothing to change
        self._wanted_passed = wanted_now
        life_cycle = self.dispatcher.life_cycle
        passed = self._shifts_passed
        for a, (wanted, units) in enumerate(zip(wanted_now, self.units, strict=True)):
            last = passed[a]
            if last is not None and last[1] == len(units):
                start, stop = min(last[0], wanted), max(last[0], wanted)
            else:
                start, stop = 0, len(units)
            for k in range(start, min(stop, len(units))):
                if k < wanted:
                    life_cycle.start_shift(units[k])
                else:
                    life_cycle.end_shift(units[k])
            passed[a] = (wanted, len(units))

    def _generate_calls(self, hour: int) -> None:
        """The hour's calls: to the emergency number, then to agencies directly."""
        calls = self.calls.calls_in_hour(hour, self.ids.take)
        if calls:  # most hours have none or one
            self._submit_calls(calls, self._caller_rng)
        # Direct calls pick their callers from a stream of their own: with none, every
        # other stream draws as it did before they existed.
        direct = self.direct_calls.calls_in_hour(hour, self.ids.take)
        if direct:
            self._submit_calls(direct, self._direct_caller_rng)

    def _submit_calls(self, calls: list[Incident], caller_rng: np.random.Generator) -> None:
        callers = self.experience.pick_callers([c.cell for c in calls], caller_rng)
        for call, caller in zip(calls, callers, strict=True):
            call.resident = caller
            self.submit(call)

    def new_incident_id(self) -> int:
        """Reserve an id from the run's one counter (for incidents made by hand, as in tests)."""
        return self.ids.take()

    def submit(self, incident: Incident) -> None:
        """Have ``incident`` reach the control room at its ``t_reported_h``.

        This is the one door into dispatch: the call generator uses it, and so
        will the crime engine for offences that get reported or detected.
        """
        self.call_at(incident.t_reported_h, self._deliver, incident)

    def _deliver(self, incident: Incident) -> None:
        """Hand a reported incident to the control room (the event ``submit`` schedules)."""
        self.dispatcher.receive(incident)

    # ----------------------------------------------------------------- end of run

    @property
    def horizon_h(self) -> float:
        """End of the statistics window (model hours)."""
        return self.window_h[1]

    def changes_not_reached(self) -> list[PolicyChange]:
        """Timeline changes decided during the run that take effect after its end."""
        return self._changes[self._next_change :]

    def pending_reports(self) -> list[Incident]:
        """Incidents whose report had not reached the control room when the run stopped.

        Those whose delivery (the event ``submit`` scheduled) is still in the event list.
        """
        deliver = self._deliver
        return sorted(
            (argument for _, _, function, argument in self._events if function == deliver),
            key=lambda i: i.incident_id,
        )

    def finish(self) -> RunRecords:
        """End the run now: close every unit's current state interval, freeze the records.

        Returns:
            The run's records, from which every output is computed.
        """
        for units in self.units:
            for unit in units:
                unit.close_log()
        self.recorder.citizens(float(self.time), self.population)
        return self.recorder.freeze(
            pending=self.pending_reports(),
            presence_total=self.presence.hours,
            units=[(u.unique_id, u.label) for units in self.units for u in units],
            events=self.n_events,
            changes_after_end=[(c.hour, c.label) for c in self.changes_not_reached()],
        )
