"""What the dashboard shows, read off a running model without changing it.

Everything here only reads: unit positions come from :meth:`Unit.where`, which
plays no patrol leg and draws no random number, so a run watched step by step
gives the same records as the same run unwatched. No user interface here
either: the same functions feed the page and the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.agencies.units import BUSY_STATES, UnitState
from simulator.model import SecurityModel
from simulator.records.incidents import IncidentKind, Known, Outcome

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def clock(hour: float) -> str:
    """Model hours as a readable time, e.g. ``day 2 (Tue) 14:30``."""
    day = int(hour // 24)
    minutes = round((hour - 24 * day) * 60)
    if minutes == 24 * 60:
        day, minutes = day + 1, 0
    return f"day {day + 1} ({DAY_NAMES[day % 7]}) {minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class UnitMark:
    """A unit on the map."""

    agency: str
    x_m: float
    y_m: float
    busy: bool


@dataclass(frozen=True)
class IncidentMark:
    """An open incident on the map."""

    priority: int
    x_m: float
    y_m: float
    waiting: bool  # reported and no unit sent yet


@dataclass(frozen=True)
class CityView:
    """The city at one moment.

    Attributes:
        time_h: Model time.
        units: Units on duty (off-duty crews are not drawn).
        incidents: Open incidents (reported, not cleared).
        markets: Drug-market cells with their activity.
        sites: Guarded sites (cells under private contract).
        officers: Officers of each agency (full-time equivalents).
        on_duty: Units on duty per agency.
    """

    time_h: float
    units: tuple[UnitMark, ...]
    incidents: tuple[IncidentMark, ...]
    markets: tuple[tuple[int, float], ...]
    sites: tuple[int, ...]
    officers: dict[str, float]
    on_duty: dict[str, int]


def city_view(model: SecurityModel) -> CityView:
    """Read where units, incidents, markets and sites are now (read-only)."""
    now = float(model.time)
    units = []
    on_duty: dict[str, int] = {}
    for agency, crews in zip(model.agencies, model.units, strict=True):
        on_duty[agency.name] = 0
        for unit in crews:
            if unit.state is UnitState.OFF_DUTY:
                continue
            on_duty[agency.name] += 1
            x, y = unit.where()
            units.append(UnitMark(agency.name, x, y, unit.state in BUSY_STATES))
    incidents = tuple(
        IncidentMark(i.priority, i.x_m, i.y_m, i.t_dispatched_h is None)
        for i in model.recorder.incidents_so_far()
        if i.outcome is Outcome.OPEN and i.t_reported_h <= now and i.needs_response
    )
    markets = () if model.crime is None else tuple(sorted(model.crime.market_activity().items()))
    sites = sorted({int(c) for a in model.agencies for c in a.site_cells})
    return CityView(
        time_h=now,
        units=tuple(units),
        incidents=incidents,
        markets=markets,
        sites=tuple(sites),
        officers={a.name: float(a.staffing.officers) for a in model.agencies},
        on_duty=on_duty,
    )


@dataclass(frozen=True)
class Reading:
    """The live curves' values at one moment.

    Attributes:
        time_h: Model time.
        response_mean_min: Mean response (call to first unit on scene) of the calls
            reached in the last 24 hours, minutes (NaN if none).
        response_p90_min: Their 90th percentile.
        waiting: Calls reported and not yet given a unit.
        utilisation: Per agency, the share of its on-duty units that are busy now.
        actual: Offences committed so far.
        recorded: Offences known to the police so far (reported or detected).
        trust: Mean trust of residents in the police.
    """

    time_h: float
    response_mean_min: float
    response_p90_min: float
    waiting: int
    utilisation: dict[str, float]
    actual: int
    recorded: int
    trust: float


def reading(model: SecurityModel) -> Reading:
    """The live indicators now (read-only)."""
    now = float(model.time)
    responses = []
    waiting = 0
    for i in model.recorder.incidents_so_far():
        if i.t_arrived_h is not None and now - 24.0 < i.t_arrived_h <= now:
            responses.append(60.0 * (i.t_arrived_h - i.t_reported_h))
        if (
            i.outcome is Outcome.OPEN
            and i.needs_response
            and i.t_dispatched_h is None
            and i.t_reported_h <= now
        ):
            waiting += 1
    utilisation = {}
    for agency, crews in zip(model.agencies, model.units, strict=True):
        duty = [u for u in crews if u.state is not UnitState.OFF_DUTY]
        busy = sum(u.state in BUSY_STATES for u in duty)
        utilisation[agency.name] = busy / len(duty) if duty else 0.0
    offences = [
        i
        for i in model.recorder.incidents_so_far()
        if i.kind is IncidentKind.OFFENCE and i.t_occurred_h <= now
    ]
    recorded = sum(i.known in (Known.REPORTED, Known.DETECTED) for i in offences)
    resp = np.array(responses)
    return Reading(
        time_h=now,
        response_mean_min=float(resp.mean()) if resp.size else float("nan"),
        response_p90_min=float(np.percentile(resp, 90)) if resp.size else float("nan"),
        waiting=waiting,
        utilisation=utilisation,
        actual=len(offences),
        recorded=recorded,
        trust=float(model.population.trust.mean()),
    )
