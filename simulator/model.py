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

import heapq
import itertools
import warnings
from collections.abc import Callable

import mesa
import numpy as np

from simulator.agencies.agency import Agency, place_agencies
from simulator.agencies.patrol import PatrolStrategy, PresenceLog, make_strategy
from simulator.agencies.units import Unit
from simulator.crime.engine import CrimeEngine, initial_market_cells
from simulator.dispatch.dispatcher import Dispatcher, DispatchRules, competence_matrix
from simulator.records.ids import IncidentIds
from simulator.records.incidents import Incident
from simulator.records.recorder import Recorder, RunRecords
from simulator.scenario.schema import HOURS_PER_DAY, PolicyChange, Scenario
from simulator.scenario.timeline import policy_changes
from simulator.world.activity import ActivityModel
from simulator.world.citizens import Population, ResponseExperience
from simulator.world.demand import CallGenerator
from simulator.world.territory import Territory, shared_territory
from simulator.world.travel import CircuityTravel


class _Report:
    """An incident on its way to the control room, delivered by a scheduled event."""

    __slots__ = ("__weakref__", "_dispatcher", "_pending", "incident")

    def __init__(self, incident: Incident, dispatcher: Dispatcher, pending: set[_Report]):
        self.incident = incident
        self._dispatcher = dispatcher
        self._pending = pending
        pending.add(self)  # events hold callbacks weakly: keep the report alive

    def fire(self) -> None:
        """Deliver the incident (the scheduled event)."""
        self._pending.discard(self)
        self._dispatcher.receive(self.incident)


# Named random streams: the order is part of the reproducibility contract.
STREAMS = ("calls", "patrol", "mesa", "citizens", "crime")


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
        # Our own event list: a heap of (time, order of scheduling, callback) tuples.
        # Mesa's makes an Event object and a weak reference per event; the order is
        # the same as Mesa's (time, then the hourly step first, then scheduling
        # order), and callbacks are held strongly.
        self._default_schedule.stop()
        self._events: list[tuple[float, int, Callable[[], None]]] = []
        self._event_order = itertools.count()
        self._next_step = 1.0
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
        self._mode_travel: dict[str, CircuityTravel] = {}
        citizens_rng = np.random.default_rng(streams["citizens"])
        self.population = Population(scenario.citizens, self.territory, citizens_rng)
        self.activity = ActivityModel(self.territory, self.population)
        self.calls = CallGenerator(
            scenario.demand,
            self.activity,
            self._site_cells(),
            np.random.default_rng(streams["calls"]),
        )
        self.presence = PresenceLog(len(self.agencies), self.territory.n_cells)
        self.recorder = Recorder(self.territory, self.window_h)  # the one write path for results
        self.units: list[list[Unit]] = self._create_units(streams["patrol"])
        self.dispatcher = Dispatcher(
            self,
            self.agencies,
            [u for units in self.units for u in units],
            competence_matrix(scenario, self.agencies),
            DispatchRules.from_scenario(scenario),
            self.in_window,
            self.ids.take,
            self.recorder,
        )
        self._reports: set[_Report] = set()
        self._caller_rng = citizens_rng
        targets = [m / 60.0 for m in scenario.dispatch.response_target_min]
        self.experience = ResponseExperience(self.population, targets)
        self.dispatcher.observer = self.experience
        self.recorder.citizens(0.0, self.population)
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
            )
        self._changes, problems = policy_changes(scenario)
        if problems:
            raise ValueError(f"the timeline cannot be applied: {problems}")
        self._next_change = 0
        self.recorder.policy_period(0.0, "start", scenario, self.agencies)
        self._begin_hour(0)

    def in_window(self, t_h: float) -> bool:
        """Whether a time falls inside the statistics window (after warm-up)."""
        return self.window_h[0] <= t_h < self.window_h[1]

    def _strategies(self, agency: Agency) -> list[PatrolStrategy]:
        """One patrol strategy per station of the agency, around that station.

        With several stations, each patrols the cells of the jurisdiction nearer to
        it than to the agency's other stations (ties: the station of lower cell id). A
        station listed twice (to get twice the units) shares its sector. Units take
        stations in turn, so an agency with fewer crews than stations leaves the last
        stations without one: sectors are drawn over the stations that have a crew,
        and no part of the jurisdiction is left to a station nobody works from.
        """
        cells = agency.cells
        stations = agency.station_cells
        places = np.unique(stations[: self._stations_in_use(agency)])
        sector = np.zeros(cells.size, dtype=np.int64)
        if places.size > 1:
            t = self.territory
            d2 = (t.x_m[cells, None] - t.x_m[None, places]) ** 2 + (
                t.y_m[cells, None] - t.y_m[None, places]
            ) ** 2
            sector = places[np.argmin(d2, axis=1)]
        return [
            make_strategy(
                agency.spec.patrol,
                station_cell=int(station),
                jurisdiction_cells=cells[sector == station] if places.size > 1 else cells,
                beat_cells=self.territory.cells_of_districts(agency.spec.patrol.districts),
                site_cells=agency.site_cells,
                market_cells=self._market_cells,
                expected_calls=self._expected_calls,
                rng=self._patrol_rngs[agency.index],
            )
            for station in stations
        ]

    @staticmethod
    def _station_slot(agency: Agency, number: int) -> int:
        return (number - 1) % agency.station_cells.size

    @staticmethod
    def _stations_in_use(agency: Agency) -> int:
        """How many of the agency's stations have a crew (units take them in turn)."""
        return max(1, min(agency.staffing.vehicles, agency.station_cells.size))

    def _travel_of(self, agency: Agency) -> CircuityTravel:
        """The travel model of an agency's crews (one per mode, shared)."""
        found = self._mode_travel.get(agency.spec.mode)
        if found is None:
            found = CircuityTravel(self.spec.travel, agency.mode)
            self._mode_travel[agency.spec.mode] = found
        return found

    def _new_unit(self, agency: Agency, number: int, strategy: PatrolStrategy) -> Unit:
        return Unit(
            self,
            agency=agency,
            number=number,
            territory=self.territory,
            travel=self._travel_of(agency),
            patrol=strategy,
            presence=self.presence,
            recorder=self.recorder,
        )

    def _create_units(self, patrol_seed: np.random.SeedSequence) -> list[list[Unit]]:
        self._expected_calls = self.calls.expected_cell_weights()
        crime = self.spec.crime
        self._market_cells = (
            initial_market_cells(self.territory, crime)
            if crime is not None
            else np.empty(0, dtype=np.int64)
        )
        # One patrol stream per agency: changing one agency's patrol leaves the others'.
        self._patrol_rngs = [
            np.random.default_rng(s) for s in patrol_seed.spawn(len(self.agencies))
        ]
        units: list[list[Unit]] = []
        # Each agency's strategies, one per station: kept through policy changes that
        # leave its patrol inputs alone, with their streams of patrol targets.
        self._agency_strategies: list[list[PatrolStrategy]] = []
        for agency in self.agencies:
            strategies = self._strategies(agency)
            self._agency_strategies.append(strategies)
            units.append(
                [
                    self._new_unit(agency, k + 1, strategies[self._station_slot(agency, k + 1)])
                    for k in range(agency.staffing.vehicles)
                ]
            )
        return units

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

    def _reconfigure(self, new: Scenario) -> None:
        """Put a changed scenario in force now (only what a timeline may change)."""
        old, self.spec = self.spec, new
        old_agencies = self.agencies
        self.agencies = place_agencies(new, self.territory)
        demand_changed = new.demand != old.demand
        if demand_changed:
            self.calls = self.calls.reconfigured(new.demand, self._site_cells())
            self._expected_calls = self.calls.expected_cell_weights()
        self._mode_travel = {}
        for agency, before, units in zip(self.agencies, old_agencies, self.units, strict=True):
            # Only an agency whose patrol inputs changed gets a new strategy: the others
            # keep theirs, and with it their stream of patrol targets.
            patrol_inputs = ("patrol", "communes", "station", "stations", "sites")
            same = (
                not demand_changed
                and all(getattr(agency.spec, k) == getattr(before.spec, k) for k in patrol_inputs)
                and self._stations_in_use(agency) == self._stations_in_use(before)
            )
            if same:
                strategies = self._agency_strategies[agency.index]
            else:
                strategies = self._strategies(agency)
                self._agency_strategies[agency.index] = strategies
            for unit in units:
                unit.reassign(
                    agency,
                    strategies[self._station_slot(agency, unit.number)],
                    self._travel_of(agency),
                )
            for number in range(len(units) + 1, agency.staffing.vehicles + 1):
                strategy = strategies[self._station_slot(agency, number)]
                unit = self._new_unit(agency, number, strategy)
                self.dispatcher.life_cycle.adopt(unit)
                units.append(unit)
        self.dispatcher.reconfigure(
            self.agencies,
            competence_matrix(new, self.agencies),
            DispatchRules.from_scenario(new),
        )
        if [a.sites for a in new.agencies.values()] != [a.sites for a in old.agencies.values()]:
            self.calls = self.calls.reconfigured(new.demand, self._site_cells())
        if new.citizens != old.citizens:
            self.population.reconfigure(new.citizens, self._caller_rng)
        if self.crime is not None and new.crime is not None:
            self.crime.reconfigure(new.crime, new.cctv, self.agencies)

    def _site_cells(self) -> np.ndarray:
        sites = [a.site_cells for a in self.agencies if a.site_cells.size]
        return np.unique(np.concatenate(sites)) if sites else np.empty(0, dtype=np.int64)

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

        Raises:
            ValueError: If both or neither of ``at`` and ``after`` are given, or the
                time is in the past.
        """
        if (at is None) == (after is None):
            raise ValueError("Specify exactly one of 'at' or 'after'")
        now = float(self.time)
        when = at if at is not None else now + float(after or 0.0)
        if when < now:
            raise ValueError(f"Cannot schedule event in the past: {when} < {now}")
        self.n_events += 1
        heapq.heappush(self._events, (when, next(self._event_order), function))

    def _advance_time(self, until: float) -> None:
        """Run the hourly steps and the events due up to ``until`` (Mesa's hook)."""
        now = float(self.time)
        if until <= now:
            warnings.warn(f"end time {until} is not after time {now}", RuntimeWarning, 2)
            return
        events = self._events
        pop = heapq.heappop
        while True:
            step_at = self._next_step
            if events and events[0][0] < step_at:
                when = events[0][0]
                if when > until:
                    break
                self.time = when
                pop(events)[2]()
            else:
                if step_at > until:
                    break
                self.time = step_at
                self._next_step = step_at + 1.0
                self._do_step()
        self.time = until

    # ----------------------------------------------------------------- hourly update

    def step(self) -> None:
        """The hourly update, at the start of each hour."""
        self._begin_hour(round(self.time))

    def _begin_hour(self, hour: int) -> None:
        self._apply_policy_changes(hour)
        self._update_shifts(hour)
        now = float(hour)
        for units in self.units:
            for unit in units:
                unit.advance_patrol(now)
        touched = self.presence.take_touched()
        if self.crime is not None:
            self.crime.observe_presence(self.presence.hours, touched)
        # Legs are played up to now, so the snapshots bound the window's presence.
        if hour * 1.0 in self.window_h:
            self.recorder.presence_at_window_bound(
                self.presence.hours, start=hour * 1.0 == self.window_h[0]
            )
        if hour > 0 and hour % HOURS_PER_DAY == 0:
            self.recorder.citizens(float(hour), self.population)
        self.dispatcher.purge_abandoned()
        self._generate_calls(hour)
        if self.crime is not None:
            for offence in self.crime.offences_in_hour(hour):
                if offence.needs_response:
                    self.submit(offence)
                else:
                    self.recorder.incident(offence)

    def _update_shifts(self, hour: int) -> None:
        hod = hour % HOURS_PER_DAY
        for agency, units in zip(self.agencies, self.units, strict=True):
            wanted = agency.staffing.units_by_hour[hod]
            self.recorder.on_duty(hour, agency.index, wanted)
            # Units are called on in number order; the last ones leave first.
            for k, unit in enumerate(units):
                if k < wanted:
                    self.dispatcher.life_cycle.start_shift(unit)
                else:
                    self.dispatcher.life_cycle.end_shift(unit)

    def _generate_calls(self, hour: int) -> None:
        calls = list(self.calls.calls_in_hour(hour, self.ids.take))
        if calls:
            cells = np.array([c.cell for c in calls], dtype=np.int64)
            for call, caller in zip(
                calls, self.experience.pick_callers(cells, self._caller_rng), strict=True
            ):
                call.resident = int(caller)
                self.submit(call)

    def new_incident_id(self) -> int:
        """Reserve an id from the run's one counter (for incidents made by hand, as in tests)."""
        return self.ids.take()

    def submit(self, incident: Incident) -> None:
        """Have ``incident`` reach the control room at its ``t_reported_h``.

        This is the one door into dispatch: the call generator uses it, and so
        will the crime engine for offences that get reported or detected.
        """
        report = _Report(incident, self.dispatcher, self._reports)
        self.schedule_event(report.fire, at=incident.t_reported_h)

    # ----------------------------------------------------------------- end of run

    @property
    def horizon_h(self) -> float:
        """End of the statistics window (model hours)."""
        return self.window_h[1]

    def changes_not_reached(self) -> list[PolicyChange]:
        """Timeline changes decided during the run that take effect after its end."""
        return self._changes[self._next_change :]

    def pending_reports(self) -> list[Incident]:
        """Incidents whose report had not reached the control room when the run stopped."""
        return sorted((r.incident for r in self._reports), key=lambda i: i.incident_id)

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
