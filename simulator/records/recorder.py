"""The one write path for a run's results.

While a run goes, the model and its components hand what happened to a
:class:`Recorder` (incidents, unit state intervals, units on duty, policy
periods, citizens' trust and fear, presence bounds of the window) and nothing
else keeps results. When the run ends, :meth:`Recorder.freeze` turns them into
:class:`RunRecords`: immutable tables and arrays from which every output and
metric is computed (:mod:`simulator.records.metrics`), with no look at live
agents.

An incident is handed over once, whatever its fate: when it reaches the control
room (answered, abandoned, no agency, or still open at the end), when the crime
engine records an offence that needs no unit at the station, or at the end of the
run if its report was still on its way. A second hand-over of the same incident
is a bug, and raises. Dark offences are not handed over one by one: the crime
engine keeps them as rows (:class:`~simulator.records.incidents.DarkOffences`),
and the recorder reads them from it (:meth:`Recorder.dark_offences_from`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from simulator.records import kernels
from simulator.records.incidents import DarkOffences, Incident, incidents_table

if TYPE_CHECKING:  # types only: the recorder reads these objects, never builds them
    from simulator.agencies.agency import Agency
    from simulator.scenario.schema import Scenario
    from simulator.world.citizens import Population
    from simulator.world.territory import Territory

FloatArray = NDArray[np.float64]

STATE_SCHEMA = pa.schema(
    [
        ("unit", pa.int64()),
        ("agency", pa.string()),
        ("state", pa.string()),
        ("start_h", pa.float64()),
        ("end_h", pa.float64()),
    ]
)
ON_DUTY_SCHEMA = pa.schema([("hour", pa.int64()), ("agency", pa.string()), ("units", pa.int64())])
_ON_DUTY_ROW = pa.struct([("hour", pa.int64()), ("agency", pa.int64()), ("units", pa.int64())])


@dataclass(frozen=True)
class AgencyFacts:
    """What metrics and costs need to know about an agency (or a spending programme)."""

    name: str
    kind: str
    level: str  # the payer: whose budget bears the cost
    officers: float
    annual_cost_eur: float
    units_by_hour: tuple[int, ...]
    communes: tuple[str, ...]  # jurisdiction, for sharing a commune-level cost
    commune_weights: tuple[float, ...]  # residents of each, to split that cost
    crew_size: int = 1  # officers per unit
    hours_per_officer: float = 1607.0  # paid hours of a full-time officer a year


def agency_facts(agency: Agency, territory: Territory) -> AgencyFacts:
    """The facts of a placed agency, its jurisdiction named and weighted by residents."""
    t = territory
    communes = [i for i in range(len(t.commune_names)) if agency.jurisdiction[i]]
    return AgencyFacts(
        name=agency.name,
        kind=agency.kind,
        level=agency.payer,  # the one place the payer is read from an agency
        officers=agency.staffing.officers,
        annual_cost_eur=agency.staffing.annual_cost_eur,
        units_by_hour=agency.staffing.units_by_hour,
        communes=tuple(t.commune_names[i] for i in communes),
        commune_weights=tuple(float(t.residents[t.commune == i].sum()) for i in communes),
        crew_size=agency.spec.crew_size,
        hours_per_officer=agency.spec.hours_per_officer,
    )


@dataclass(frozen=True)
class PolicyPeriod:
    """A configuration in force from ``start_h`` (the first one from hour 0)."""

    start_h: float
    label: str
    scenario: Scenario
    agencies: tuple[AgencyFacts, ...]


@dataclass(frozen=True)
class CitizenRecords:
    """Residents' trust and fear, taken at the start and at the end of the run.

    Attributes:
        hour: Model hour of each snapshot (the first at hour 0, before any event).
        trust_mean: Mean trust of all residents at each snapshot.
        fear_mean: Mean fear of all residents at each snapshot.
        victimised_share: Share of residents victimised at least once so far.
        trust_by_district: Mean trust of the residents of each district (snapshot x
            district; NaN for a district without residents).
        fear_by_district: Mean fear likewise.
    """

    hour: FloatArray
    trust_mean: FloatArray
    fear_mean: FloatArray
    victimised_share: FloatArray
    trust_by_district: FloatArray
    fear_by_district: FloatArray


@dataclass(frozen=True)
class RunRecords:
    """Everything a run recorded, frozen: the only input of its outputs.

    Attributes:
        territory: The territory the run was on (itself immutable).
        window_h: The statistics window (model hours).
        incidents: One record per incident that occurred before the end of the
            window (:data:`simulator.records.incidents.INCIDENT_SCHEMA`), by id.
        states: Unit state intervals (``unit``, ``agency``, ``state``, ``start_h``,
            ``end_h``).
        on_duty: Units scheduled on duty, per hour and agency (``hour``, ``agency``,
            ``units``).
        periods: The policy periods, the first from hour 0.
        presence: Patrol presence hours per agency and cell inside the window.
        citizens: Trust and fear over the run.
        units: Every unit, by id, with its readable label.
        events: Scheduled events the run played.
        changes_after_end: Timeline changes (hour, label) that fall after the window.
        incidents_recorded: Incidents handed to the recorder and dark offences,
            including those that occurred after the window (not in ``incidents``).
        resident_home: The home cell of each resident (victims are residents).
        offenders_held: Motivated offenders in custody or prison, a row per day
            (``hour``, ``held``); empty without crime.
        offender_pool: Motivated offenders (careers under way) at any time.
        preemptions: Crews called away by an urgent call: (hour, agency, from what:
            ``duty`` or ``call``), in order.
    """

    territory: Territory
    window_h: tuple[float, float]
    incidents: pa.Table
    states: pa.Table
    on_duty: pa.Table
    periods: tuple[PolicyPeriod, ...]
    presence: FloatArray
    citizens: CitizenRecords
    units: tuple[tuple[int, str], ...]
    events: int
    changes_after_end: tuple[tuple[float, str], ...]
    incidents_recorded: int
    resident_home: NDArray[np.int64]
    offenders_held: FloatArray
    offender_pool: int
    preemptions: tuple[tuple[float, str, str], ...] = ()

    @property
    def agencies(self) -> tuple[AgencyFacts, ...]:
        """The agencies in force at the end of the run."""
        return self.periods[-1].agencies


def _frozen(array: NDArray[np.float64]) -> FloatArray:
    array.setflags(write=False)
    return array


class Recorder:
    """Collects a run's results as they happen; :meth:`freeze` gives the records.

    Args:
        territory: The run's territory.
        window_h: The statistics window (model hours).
    """

    def __init__(self, territory: Territory, window_h: tuple[float, float]):
        self._territory = territory
        self._window_h = window_h
        self._incidents: dict[int, Incident] = {}
        self._dark: Callable[[], DarkOffences] = DarkOffences.none
        self._dark_made: list[Incident] = []  # the dark offences made into objects so far
        self._states: list[tuple[int, str, str, float, float]] = []
        # The duties the patrol loops played, in blocks of rows (row of the leg table,
        # available since, start, end), each with how many states came before it and
        # the leg table's labels of its rows: two state intervals a row, in order.
        self._duty_blocks: list[tuple[int, FloatArray, list[tuple[int, str]]]] = []
        # One row an hour: the hour, the agencies' numbers and their units on duty.
        self._on_duty: list[tuple[int, tuple[int, ...], tuple[int, ...]]] = []
        self._periods: list[PolicyPeriod] = []
        self._agency_names: list[str] = []
        self._presence_start: FloatArray | None = None
        self._presence_end: FloatArray | None = None
        self._citizen_rows: list[tuple[float, float, float, float, FloatArray, FloatArray]] = []
        self._runs: tuple[NDArray[np.int64], NDArray[np.int64], FloatArray] | None = None
        self._home: NDArray[np.int64] = np.empty(0, dtype=np.int64)
        self._held: list[tuple[float, float]] = []
        self._offender_pool = 0
        self._preemptions: list[tuple[float, str, str]] = []
        self._frozen: RunRecords | None = None

    # ----------------------------------------------------------------- during the run

    def incident(self, incident: Incident) -> None:
        """Take an incident over (it keeps being filled in until the run ends).

        Raises:
            ValueError: The incident (by id) was already handed over.
        """
        if incident.incident_id in self._incidents:
            raise ValueError(f"incident {incident.incident_id} was recorded twice")
        self._incidents[incident.incident_id] = incident

    def dark_offences_from(self, source: Callable[[], DarkOffences]) -> None:
        """Read the run's dark offences so far from ``source`` (the crime engine keeps them)."""
        self._dark = source
        self._dark_made = []

    def incidents_so_far(self) -> list[Incident]:
        """The incidents so far (for live views and tests).

        Those handed over, in the order they were, then the dark offences, in the
        order they were committed, made into objects once.
        """
        dark = self._dark()
        if len(dark) > len(self._dark_made):
            self._dark_made += dark.incidents(start=len(self._dark_made))
        return [*self._incidents.values(), *self._dark_made]

    def state_interval(
        self, unit: int, agency: str, state: str, start_h: float, end_h: float
    ) -> None:
        """A unit spent ``[start_h, end_h)`` in ``state``."""
        self._states.append((unit, agency, state, start_h, end_h))

    def duties_on_patrol(self, rows: FloatArray, labels: list[tuple[int, str]]) -> None:
        """Duties of crews on patrol, in the order they ended: each two state intervals.

        A row is (the crew's row in the leg table, since when it was available, the
        duty's start, its end): the crew was ``available`` from then to the start,
        and on ``duty`` to the end, as :meth:`state_interval` of each would record.
        ``labels`` gives each leg table row's crew id and agency name (a crew's never
        change; the list only grows).
        """
        self._duty_blocks.append((len(self._states), rows, labels))

    def state_intervals(self) -> list[tuple[int, str, str, float, float]]:
        """The state intervals so far, in the order they closed (for tests and live views).

        The rows of the states table the records will hold (:meth:`_states_table`).
        """
        table = self._states_table()
        columns = (table[name].to_pylist() for name in STATE_SCHEMA.names)
        return list(zip(*columns, strict=True))

    def _states_table(self) -> pa.Table:
        """The state intervals as a table, in the order they closed.

        The rows recorded one by one, then the duties' blocks, two rows each, put in
        place: a block recorded after ``at`` rows comes before row ``at``.
        """
        table = pa.Table.from_struct_array(pa.array(self._states, type=pa.struct(STATE_SCHEMA)))
        if not self._duty_blocks:
            return table
        rows = np.concatenate([b[1] for b in self._duty_blocks])
        labels = self._duty_blocks[-1][2]  # the longest (one list, grown)
        ids = np.array([uid for uid, _ in labels], dtype=np.int64)
        names, agency = np.unique(
            np.array([n for _, n in labels], dtype=object), return_inverse=True
        )
        slot = rows[:, 0].astype(np.int64)
        n = slot.size
        # Each duty's two rows side by side: available (since, start), then duty (start, end).
        duties = pa.table(
            [
                pa.array(np.repeat(ids[slot], 2)),
                pa.array(names.tolist(), pa.string()).take(np.repeat(agency[slot], 2)),
                pa.array(["available", "duty"] * n, pa.string()),
                pa.array(rows[:, 1:3].ravel()),
                pa.array(rows[:, 2:4].ravel()),
            ],
            schema=STATE_SCHEMA,
        )
        # Where each row goes: a row recorded one by one keeps its number; a block's
        # rows come just before the row it was recorded before, in their order.
        at = np.repeat(
            np.array([b[0] for b in self._duty_blocks]),
            [2 * b[1].shape[0] for b in self._duty_blocks],
        )
        key = np.concatenate([np.arange(table.num_rows) * 2 + 1, at * 2])
        order = np.argsort(key, kind="stable")
        return pa.concat_tables([table, duties]).take(order).combine_chunks()

    def preemption(self, hour: float, agency: str, what: str) -> None:
        """A crew of ``agency`` was called away from ``what`` (``duty`` or ``call``)."""
        self._preemptions.append((hour, agency, what))

    def on_duty(self, hour: int, agencies: tuple[int, ...], units: tuple[int, ...]) -> None:
        """``units[i]`` of agency number ``agencies[i]`` are scheduled on duty in ``hour``.

        One call an hour for every agency (the tuples are those of the staffing in
        force, shared from hour to hour); the table has a row per hour and agency.
        """
        self._on_duty.append((hour, agencies, units))

    def policy_period(
        self, start_h: float, label: str, scenario: Scenario, agencies: Sequence[Agency]
    ) -> None:
        """A configuration comes into force at ``start_h``."""
        facts = tuple(agency_facts(a, self._territory) for a in agencies)
        self._periods.append(PolicyPeriod(start_h, label, scenario, facts))
        self._agency_names = [a.name for a in agencies]

    def presence_at_window_bound(self, hours: FloatArray, *, start: bool) -> None:
        """Presence hours so far, at the start (or end) of the statistics window."""
        if start:
            self._presence_start = hours.copy()
        else:
            self._presence_end = hours.copy()

    def citizens(self, hour: float, population: Population) -> None:
        """A snapshot of residents' trust and fear, overall and by home district."""
        if self._runs is None:
            self._home = population.home.astype(np.int64)
            # Residents are stored in runs of the same home cell: sum each run, then the
            # runs of each district (a few hundred thousand residents, once a day).
            home = population.home
            changes = np.r_[True, home[1:] != home[:-1]] if home.size else np.empty(0, bool)
            starts = np.flatnonzero(changes).astype(np.int64)
            district = self._territory.district[home[starts]].astype(np.int64)
            n = self._territory.n_districts
            if district.size and not 0 <= district.min() <= district.max() < n:
                # The compiled sums index by district without a check: a resident off
                # the districts (off land) would be added out of bounds.
                raise ValueError(f"residents' home districts fall outside 0..{n - 1}")
            lengths = np.diff(np.r_[starts, home.size])
            counts = np.bincount(district, lengths, minlength=n).astype(np.float64)
            self._runs = (starts, district, counts)
        starts, district, residents = self._runs
        n = residents.size

        def by_district(values: NDArray[np.float32]) -> FloatArray:
            if not starts.size:
                return np.full(n, np.nan)
            sums = np.empty(n)
            kernels.district_sums(values, starts, district, sums)
            with np.errstate(invalid="ignore", divide="ignore"):
                out: FloatArray = sums / residents
            return out

        self._citizen_rows.append(
            (
                float(hour),
                float(population.trust.mean()),
                float(population.fear.mean()),
                population.victimised / population.size if population.size else float("nan"),
                by_district(population.trust),
                by_district(population.fear),
            )
        )

    # ----------------------------------------------------------------- at the end

    def offenders(self, hour: float, pool: int, held: int) -> None:
        """A daily count of the motivated offenders, and of those held."""
        self._offender_pool = pool
        self._held.append((hour, float(held)))

    def freeze(
        self,
        *,
        pending: Iterable[Incident],
        presence_total: FloatArray,
        units: Iterable[tuple[int, str]],
        events: int,
        changes_after_end: Iterable[tuple[float, str]],
    ) -> RunRecords:
        """Close the records: hand over the incidents still on their way, and freeze.

        Args:
            pending: Incidents whose report had not reached the control room.
            presence_total: Presence hours per agency and cell at the end.
            units: Every unit's id and label.
            events: Events the run played.
            changes_after_end: Timeline changes due after the window (hour, label).

        Raises:
            RuntimeError: The records were already frozen.
        """
        if self._frozen is not None:
            raise RuntimeError("a run's records are frozen once")
        for incident in pending:
            self.incident(incident)
        t = self._territory
        horizon = self._window_h[1]
        kept = sorted(
            (i for i in self._incidents.values() if i.t_occurred_h < horizon),
            key=attrgetter("incident_id"),
        )
        dark = self._dark()
        table = incidents_table(
            kept,
            t.district_names,
            tuple(dt.value for dt in t.district_types),
            t.commune_names,
            dark.occurred_before(horizon),
        )
        # The states recorded one by one and the duties' blocks, in order.
        states = self._states_table()
        duty_rows = [
            (h, a, n)
            for h, agencies, units in self._on_duty
            for a, n in zip(agencies, units, strict=True)
        ]
        hour, agency, scheduled = pa.array(duty_rows, type=_ON_DUTY_ROW).flatten()
        on_duty = pa.table(
            [hour, pa.array(self._agency_names, pa.string()).take(agency), scheduled],
            schema=ON_DUTY_SCHEMA,
        )
        # Patrol legs count when they end, so a leg that straddles a window bound
        # counts on the side where it ends.
        end = self._presence_end if self._presence_end is not None else presence_total
        start = self._presence_start
        presence = end - start if start is not None else end.copy()
        rows = self._citizen_rows
        n = t.n_districts
        citizens = CitizenRecords(
            hour=_frozen(np.array([r[0] for r in rows], dtype=float)),
            trust_mean=_frozen(np.array([r[1] for r in rows], dtype=float)),
            fear_mean=_frozen(np.array([r[2] for r in rows], dtype=float)),
            victimised_share=_frozen(np.array([r[3] for r in rows], dtype=float)),
            trust_by_district=_frozen(np.array([r[4] for r in rows], dtype=float).reshape(-1, n)),
            fear_by_district=_frozen(np.array([r[5] for r in rows], dtype=float).reshape(-1, n)),
        )
        self._frozen = RunRecords(
            territory=t,
            window_h=self._window_h,
            incidents=table,
            states=states,
            on_duty=on_duty,
            periods=tuple(self._periods),
            presence=_frozen(presence),
            citizens=citizens,
            units=tuple(units),
            events=events,
            changes_after_end=tuple(changes_after_end),
            incidents_recorded=len(self._incidents) + len(dark),
            resident_home=self._home,
            offenders_held=_frozen(np.array(self._held, dtype=float).reshape(-1, 2)),
            offender_pool=self._offender_pool,
            preemptions=tuple(self._preemptions),
        )
        return self._frozen
