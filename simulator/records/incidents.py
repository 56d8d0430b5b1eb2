"""Incidents: calls for service (and later offences) with their whole life cycle.

An :class:`Incident` is mutable while it is alive in the model (dispatch fills in
its times); once the run is over, :func:`incidents_table` turns all of them into
flat, immutable records, and every metric is computed from those records.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from operator import attrgetter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray


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


IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class DarkOffences:
    """Offences nobody reported or saw, as columns: a row an offence, in the order of ids.

    A dark offence is final once committed: no unit goes, no investigation opens,
    nothing of it changes afterwards. Four offences in five of a baseline year are
    dark, and the crime engine keeps them as these rows rather than as
    :class:`Incident` objects (making an object for each and reading it back into
    the table cost a twentieth of a baseline run). :meth:`incidents` makes the
    objects for whoever reads incidents one by one (live views, tests);
    :func:`incidents_table` reads the columns. The columns are those of
    :class:`Incident`; ``type`` is a position in ``types``.
    """

    incident_id: IntArray
    type: IntArray
    types: tuple[str, ...]
    priority: IntArray
    cell: IntArray
    district: IntArray
    commune: IntArray
    x_m: FloatArray
    y_m: FloatArray
    t_occurred_h: FloatArray
    t_reported_h: FloatArray
    on_scene_h: FloatArray
    follow_up_h: FloatArray
    arrest: NDArray[np.bool_]
    resident: IntArray
    offender: IntArray
    t_offender_gone_h: FloatArray

    def __len__(self) -> int:
        return int(self.incident_id.size)

    @classmethod
    def none(cls) -> DarkOffences:
        """No dark offence (a run without crime)."""
        i, f = np.empty(0, dtype=np.int64), np.empty(0)
        return cls(i, i, (), i, i, i, i, f, f, f, f, f, f, np.empty(0, dtype=bool), i, i, f)

    def occurred_before(self, horizon: float) -> DarkOffences:
        """The rows of offences committed before ``horizon`` (model hours)."""
        kept = self.t_occurred_h < horizon
        if kept.all():
            return self
        columns = {f.name: getattr(self, f.name)[kept] for f in fields(self) if f.name != "types"}
        return replace(self, **columns)

    def incidents(self, start: int = 0) -> list[Incident]:
        """Rows ``start`` onwards as incidents, field for field what the crime engine made.

        Each column is the incident's field of that name (``type`` named); the other
        fields are a dark offence's: known to nobody, no unit, no parent.
        """
        named = [f.name for f in fields(self) if f.name != "types"]
        columns = {name: getattr(self, name)[start:].tolist() for name in named}
        columns["type"] = [self.types[k] for k in columns["type"]]
        return [
            Incident(
                kind=IncidentKind.OFFENCE,
                known=Known.DARK,
                needs_response=False,
                outcome=Outcome.DARK,
                **dict(zip(columns, row, strict=True)),
            )
            for row in zip(*columns.values(), strict=True)
        ]


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
    dark: DarkOffences | None = None,
) -> pa.Table:
    """Incidents and dark offences as flat records, by id, in :data:`INCIDENT_SCHEMA`.

    Each incident is read once, as a row that arrow takes at once (no list of rows
    is kept): reading a hundred thousand incidents column by column costs twice as
    much. ``incidents`` come in the order of their ids, and so do the rows of
    ``dark``; the table has both, by id.
    """
    read = pa.array(map(_row, incidents), type=_READ)
    columns = dict(zip(_READ.names, read.flatten(), strict=True))
    if dark is not None and len(dark):
        columns = _with_dark(columns, dark)
    district = columns["district"]
    columns["district"] = pa.array(district_names, pa.string()).take(district)
    columns["district_type"] = pa.array(district_types, pa.string()).take(district)
    columns["commune"] = pa.array(commune_names, pa.string()).take(columns["commune"])
    # An arrest counts once a unit got there.
    columns["arrest"] = pc.and_(columns["arrest"], columns["t_arrived_h"].is_valid())
    return pa.table([columns[name] for name in INCIDENT_SCHEMA.names], schema=INCIDENT_SCHEMA)


# What a dark offence holds in the columns its rows do not give (no unit, no agency).
_DARK_CONSTANTS = {
    "kind": IncidentKind.OFFENCE.value,
    "outcome": Outcome.DARK.value,
    "known": Known.DARK.value,
    "needs_response": False,
}


_DARK_COLUMNS = frozenset(f.name for f in fields(DarkOffences))


def _with_dark(columns: dict[str, pa.Array], dark: DarkOffences) -> dict[str, pa.Array]:
    """``columns`` (of :data:`_READ`, rows by id) and the rows of ``dark``, by id."""
    n = len(dark)
    merged: dict[str, pa.Array] = {}
    for name in _READ.names:
        kind = _READ.field(name).type
        if name == "type":
            rows = pa.array(dark.types, pa.string()).take(dark.type)
        elif name in _DARK_CONSTANTS:
            rows = pa.repeat(pa.scalar(_DARK_CONSTANTS[name], kind), n)
        elif name in _DARK_COLUMNS:
            rows = pa.array(getattr(dark, name), type=kind)
        else:
            rows = pa.nulls(n, kind)
        merged[name] = pa.concat_arrays([columns[name], rows])
    # The two are each by id, and interleave: one order for every column.
    order = pa.array(np.argsort(merged["incident_id"].to_numpy(), kind="stable"))
    return {name: column.take(order) for name, column in merged.items()}
