"""Incidents: calls for service (and later offences) with their whole life cycle.

An :class:`Incident` is mutable while it is alive in the model (dispatch fills in
its times); once the run is over, :func:`incidents_table` turns all of them into
flat, immutable records, and every metric is computed from those records.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from operator import attrgetter

import pyarrow as pa
import pyarrow.compute as pc


class IncidentKind(StrEnum):
    """Where an incident comes from."""

    CALL = "call"  # non-crime call for service
    OFFENCE = "offence"  # an offence that became known (crime engine)
    TASK = "task"  # work created by another incident (hand-over of an arrested person)


class Known(StrEnum):
    """How the police came to know about an incident."""

    CALL = "call"  # a call for service
    REPORTED = "reported"  # the victim or a witness reported the offence
    DETECTED = "detected"  # a patrol, a guard or a CCTV operator saw it happen
    DARK = "dark"  # nobody reported or saw it: the dark figure
    TASK = "task"  # created by dispatch itself


class Outcome(StrEnum):
    """How an incident ended."""

    CLEARED = "cleared"  # a unit came and finished the work on scene
    ABANDONED = "abandoned"  # no unit came within the maximum wait
    NO_AGENCY = "no_agency"  # no agency is competent for this type at this place
    RECORDED = "recorded"  # a known offence recorded at the station, no unit sent
    DARK = "dark"  # an offence nobody knows about
    OPEN = "open"  # still waiting or in progress when the run ended


@dataclass(slots=True, eq=False)
class Incident:
    """One incident, from occurrence to clearance.

    Times are model hours since the start of the run (Monday 00:00); ``None``
    until the step happens.

    The fields' order matters: calls and offences, made by the thousand, are made
    with positional arguments (``CallGenerator.incidents``, ``CrimeEngine._incidents``;
    ``tests/test_call_paths.py`` checks the order they assume).
    """

    incident_id: int
    kind: IncidentKind
    type: str
    priority: int
    cell: int
    district: int
    commune: int
    x_m: float
    y_m: float
    t_occurred_h: float
    t_reported_h: float
    on_scene_h: float
    follow_up_h: float = 0.0
    arrest: bool = False
    parent_id: int | None = None
    known: Known = Known.CALL
    needs_response: bool = True
    resident: int = -1  # the caller or victim, an index into the population (-1: none)
    t_dispatched_h: float | None = None
    t_arrived_h: float | None = None
    t_cleared_h: float | None = None
    agency: str | None = None
    unit: int | None = None
    outcome: Outcome = Outcome.OPEN
    offender: int = -1  # the offender of an offence (-1: a call, or unknown)
    t_offender_gone_h: float = float("inf")  # the offender leaves the scene then
    clearance: str | None = None  # "on_scene" (arrested by a unit) or "later" (investigation)
    t_solved_h: float | None = None  # when the offender was arrested
    arrest_agency: str | None = None  # the agency that arrested them
    addressed_to: str | None = None  # a call made to this agency directly (ODD 7.3.1)


INCIDENT_SCHEMA = pa.schema(
    [
        ("incident_id", pa.int64()),
        ("kind", pa.string()),
        ("type", pa.string()),
        ("priority", pa.int8()),
        ("cell", pa.int32()),
        ("district", pa.string()),
        ("commune", pa.string()),
        ("x_m", pa.float64()),
        ("y_m", pa.float64()),
        ("t_occurred_h", pa.float64()),
        ("t_reported_h", pa.float64()),
        ("t_dispatched_h", pa.float64()),
        ("t_arrived_h", pa.float64()),
        ("t_cleared_h", pa.float64()),
        ("agency", pa.string()),
        ("unit", pa.int32()),
        ("outcome", pa.string()),
        ("parent_id", pa.int64()),
        ("arrest", pa.bool_()),
        ("district_type", pa.string()),
        ("known", pa.string()),
        ("needs_response", pa.bool_()),
        ("resident", pa.int32()),
        ("offender", pa.int64()),
        ("clearance", pa.string()),
        ("t_solved_h", pa.float64()),
        ("arrest_agency", pa.string()),
        ("addressed_to", pa.string()),
    ]
)


# What one pass over the incidents reads of each, in the schema's order: the district
# and the commune as their numbers (named afterwards, with the district's type), the
# kind, outcome and known enums as the strings they are.
_NUMBERED = ("district", "commune")
_READ = pa.struct(
    [
        pa.field(f.name, pa.int64()) if f.name in _NUMBERED else f
        for f in INCIDENT_SCHEMA
        if f.name != "district_type"
    ]
)
_row = attrgetter(*_READ.names)


def incidents_table(
    incidents: Iterable[Incident],
    district_names: tuple[str, ...],
    district_types: tuple[str, ...],
    commune_names: tuple[str, ...],
) -> pa.Table:
    """Flat records of incidents, in the column order of :data:`INCIDENT_SCHEMA`.

    Each incident is read once, as a row that arrow takes at once (no list of rows
    is kept): reading a hundred thousand incidents column by column costs twice as
    much.
    """
    read = pa.array(map(_row, incidents), type=_READ)
    columns = dict(zip(_READ.names, read.flatten(), strict=True))
    district = columns["district"]
    columns["district"] = pa.array(district_names, pa.string()).take(district)
    columns["district_type"] = pa.array(district_types, pa.string()).take(district)
    columns["commune"] = pa.array(commune_names, pa.string()).take(columns["commune"])
    # An arrest counts once a unit got there.
    columns["arrest"] = pc.and_(columns["arrest"], columns["t_arrived_h"].is_valid())
    return pa.table([columns[name] for name in INCIDENT_SCHEMA.names], schema=INCIDENT_SCHEMA)
