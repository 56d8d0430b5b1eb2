"""Metrics: pure functions of a run's records.

Nothing here looks at live agents: every figure is computed from the incident
records, the units' state intervals and the agencies' resolved resources, so
that the same numbers can be recomputed from the Parquet files of a run.

Definitions (times in minutes in the outputs):

* a *call* counts when it is reported inside the statistics window;
* *wait* is from the call to the dispatch of a unit (it includes call handling);
* *response* is from the call to the arrival of the first unit on scene;
* a call is *answered* when a unit was dispatched, *unanswered* otherwise
  (abandoned, no competent agency, or still waiting when the run ended);
* *utilisation* of an agency is busy unit-hours (en route, on scene, follow-up,
  holding) over on-duty unit-hours inside the window;
* *duty share* is unit-hours on non-call duties over on-duty unit-hours;
* *road share* is the share of the agency's paid officer hours spent on the
  road (patrolling, on the way, on scene, holding a person): road unit-hours
  times the crew size, over officers times their annual hours for the window's
  share of a year, each policy period with its own officers and crew size (the
  "taux d'occupation de la voie publique" of French police statistics).
  Follow-up, custody and duties are off the road.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import stdtrit

from simulator.records.costs import CostBreakdown, agency_cost_per_year, per_year, window_costs
from simulator.records.incidents import IncidentKind, Known, Outcome
from simulator.records.recorder import AgencyFacts, PolicyPeriod, RunRecords
from simulator.records.summary import KNOWN_WAYS, Summary
from simulator.scenario.kinds import payer_levels
from simulator.scenario.schema import Scenario

MINUTES = 60.0
# Batch means for confidence intervals within one run: few, long batches keep their
# means nearly independent (Schmeiser 1982, Operations Research 30(3): 10 to 30
# batches). With 10, the 95 % interval covered Erlang C in 37 of 40 M/M/5 runs at
# load 0.8; with 20, in 35.
BATCHES = 10
BUSY = ("en_route", "on_scene", "follow_up", "holding")
ROAD = ("available", "en_route", "on_scene", "holding")
DUTY = "duty"
DAYS_PER_YEAR = 365.0


def _describe(minutes: pd.Series) -> dict[str, float | int | None]:
    values = minutes.dropna().to_numpy(dtype=float)
    if values.size == 0:
        return {"n": 0, "mean": None, "p50": None, "p90": None}
    return {
        "n": int(values.size),
        "mean": float(values.mean()),
        "p50": float(np.percentile(values, 50)),
        "p90": float(np.percentile(values, 90)),
    }


def batch_means_ci(
    values: np.ndarray, batches: int = BATCHES, level: float = 0.95
) -> list[float] | None:
    """Confidence interval of a mean from one run, by non-overlapping batch means.

    Values must be in time order; consecutive batches are nearly independent
    when each spans many times the queue's relaxation time.
    """
    n = values.size
    if n < batches * 10:
        return None
    size = n // batches
    means = values[: size * batches].reshape(batches, size).mean(axis=1)
    centre = float(values.mean())
    # Student's t quantile: what scipy.stats.t.ppf returns, without importing
    # scipy.stats (half a second at every start).
    t = stdtrit(batches - 1, 0.5 + level / 2)
    half = float(t * means.std(ddof=1) / np.sqrt(batches))
    return [centre - half, centre + half]


def counted_calls(incidents: pd.DataFrame, window_h: tuple[float, float]) -> pd.DataFrame:
    """Calls for service (calls, and offences that need a unit) reported inside the window.

    Wait and response are added in minutes.
    """
    w0, w1 = window_h
    reported = incidents["t_reported_h"]
    counted = np.flatnonzero(
        (incidents["kind"] != IncidentKind.TASK.value)
        & incidents["needs_response"]
        & (reported >= w0)
        & (reported < w1)
    )
    # By time of report, then id: the rows are taken once, in that order.
    order = np.lexsort((incidents["incident_id"].to_numpy()[counted], reported.to_numpy()[counted]))
    calls = incidents.take(counted[order])
    calls["wait_min"] = (calls["t_dispatched_h"] - calls["t_reported_h"]) * MINUTES
    calls["response_min"] = (calls["t_arrived_h"] - calls["t_reported_h"]) * MINUTES
    return calls


def _by(calls: pd.DataFrame, column: str, value: str, names: Iterable[str]) -> dict[str, Any]:
    """:func:`_describe` of ``value`` for each of ``names`` and any other value of ``column``.

    Every name of the run's scenario has its entry, with ``n`` 0 where no call had it:
    runs of a batch then give a count of 0, not a missing value, to average.
    """
    found = {str(key): _describe(group) for key, group in calls.groupby(column, sort=True)[value]}
    return {
        k: found.get(k) or _describe(pd.Series([], dtype=float)) for k in _ordered(found, names)
    }


def _ordered(found: Iterable[str], names: Iterable[str]) -> list[str]:
    """The entries' names, sorted (numbers as numbers: priorities 1, 2, ..., 10)."""
    return sorted({*found, *names}, key=lambda k: (0, int(k), "") if k.isdigit() else (1, 0, k))


def _counts(values: pd.Series, names: Iterable[str]) -> dict[str, int]:
    """How many times each of ``names`` (and any other value) occurs in ``values``: 0 too."""
    found = {str(k): int(v) for k, v in values.value_counts().items()}
    return {k: found.get(k, 0) for k in _ordered(found, names)}


def listed_names(
    periods: Sequence[PolicyPeriod], agencies: Sequence[AgencyFacts]
) -> dict[str, list[str]]:
    """What the run's summary lists entries of, whether or not an entry has any.

    The call types (calls for service and offence types), the priorities and the
    agencies of every policy period. (An experiment's outputs are checked against
    every name any run could give: :func:`simulator.batch.spec.entry_names`.)
    """
    types: dict[str, None] = {}
    priorities = 0
    for period in periods:
        s = period.scenario
        types.update(dict.fromkeys(s.demand.types))
        if s.crime is not None:
            types.update(dict.fromkeys(s.crime.types))
        priorities = max(priorities, s.demand.n_priorities)
    return {
        "types": list(types),
        "priorities": [str(p) for p in range(1, priorities + 1)],
        "agencies": [a.name for a in agencies],
    }


def window_tasks(incidents: pd.DataFrame, window_h: tuple[float, float]) -> pd.DataFrame:
    """Tasks (hand-overs of arrested persons) reported inside the window."""
    w0, w1 = window_h
    return incidents[
        (incidents["kind"] == IncidentKind.TASK.value)
        & (incidents["t_reported_h"] >= w0)
        & (incidents["t_reported_h"] < w1)
    ]


class StateHours:
    """Unit state intervals, ready to be summed per agency over any window.

    The agency and state columns are strings: they are compared and grouped once
    here, not again for each window (the intervals of a year number in the
    hundreds of thousands). Each window's hours are computed once.

    Args:
        states: Unit state intervals (``unit``, ``agency``, ``state``, ``start_h``,
            ``end_h``).
    """

    def __init__(self, states: pd.DataFrame):
        codes, names = pd.factorize(states["agency"])  # in the order agencies appear
        named = codes >= 0  # as groupby leaves out an interval without an agency
        self._agency = codes[named]
        self._agencies = pd.Index(names, name="agency")
        self._start = states["start_h"][named]
        self._end = states["end_h"][named]
        state = states["state"][named]
        self._counts = {
            "on_duty_h": (state != "off_duty").to_numpy(dtype=bool),
            "busy_h": state.isin(BUSY).to_numpy(dtype=bool),
            "duty_h": (state == DUTY).to_numpy(dtype=bool),
            "road_h": state.isin(ROAD).to_numpy(dtype=bool),
        }
        self._hours: dict[tuple[float, float], pd.DataFrame] = {}

    def hours(self, window_h: tuple[float, float]) -> pd.DataFrame:
        """On-duty, busy, duty and road unit-hours per agency inside ``window_h``.

        Index: the agencies with intervals, in the order they first appear.
        """
        if window_h not in self._hours:
            w0, w1 = window_h
            overlap = (self._end.clip(upper=w1) - self._start.clip(lower=w0)).clip(lower=0)
            frame = pd.DataFrame(
                {column: overlap.where(counts, 0.0) for column, counts in self._counts.items()}
            )
            # Grouped by the agencies' numbers, the sums run in the same order as by
            # their names, and come out in the order of the numbers.
            sums = frame.groupby(self._agency, sort=False).sum()
            sums.index = self._agencies[sums.index.to_numpy()]
            self._hours[window_h] = sums
        return self._hours[window_h]


def unit_hours(states: pd.DataFrame, window_h: tuple[float, float]) -> pd.DataFrame:
    """On-duty, busy, duty and road unit-hours per agency inside the window (index: agency)."""
    return StateHours(states).hours(window_h)


def on_duty_share(hours: pd.DataFrame, column: str) -> dict[str, float | None]:
    """``column``'s unit-hours over on-duty unit-hours, per agency (:func:`unit_hours`'s rows)."""
    return {
        str(agency): float(row[column] / row.on_duty_h) if row.on_duty_h > 0 else None
        for agency, row in hours.iterrows()
    }


def road_share(
    states: StateHours, periods: Sequence[PolicyPeriod], window_h: tuple[float, float]
) -> dict[str, float | None]:
    """Share of paid officer hours spent on the road, per agency, inside the window.

    Each policy period in force inside the window counts with its own headcount and
    crew size (a hire mid-window pays officers from then only).
    """
    w0, w1 = window_h
    road: dict[str, float] = {}
    paid: dict[str, float] = {}
    for k, period in enumerate(periods):
        end = periods[k + 1].start_h if k + 1 < len(periods) else w1
        start, stop = max(period.start_h, w0), min(end, w1)
        if stop <= start:
            continue
        hours = states.hours((start, stop))
        years = (stop - start) / 24.0 / DAYS_PER_YEAR
        for a in period.agencies:
            on_road = float(hours.at[a.name, "road_h"]) if a.name in hours.index else 0.0
            road[a.name] = road.get(a.name, 0.0) + on_road * a.crew_size
            paid[a.name] = paid.get(a.name, 0.0) + a.officers * a.hours_per_officer * years
    out: dict[str, float | None] = {}
    for a in periods[-1].agencies:
        total = paid.get(a.name, 0.0)
        out[a.name] = road[a.name] / total if total > 0 else None
    return out


def staffing_means(
    periods: Sequence[PolicyPeriod], window_h: tuple[float, float]
) -> tuple[dict[str, float], dict[str, float]]:
    """Each agency's officers, and units on duty (mean over a day's hours), over the window.

    Each policy period in force inside the window weighs by its hours there (an
    agency absent from a period counts 0 then); with one period, its own figures.
    """
    w0, w1 = window_h
    spans: list[tuple[float, PolicyPeriod]] = []
    for k, period in enumerate(periods):
        end = periods[k + 1].start_h if k + 1 < len(periods) else w1
        start, stop = max(period.start_h, w0), min(end, w1)
        if stop > start:
            spans.append((stop - start, period))
    if len(spans) <= 1:
        facts = (spans[0][1] if spans else periods[-1]).agencies
        return (
            {a.name: float(a.officers) for a in facts},
            {a.name: sum(a.units_by_hour) / 24.0 for a in facts},
        )
    total = sum(span for span, _ in spans)
    officers: dict[str, float] = {}
    units: dict[str, float] = {}
    for span, period in spans:
        for a in period.agencies:
            officers[a.name] = officers.get(a.name, 0.0) + a.officers * span / total
            units[a.name] = units.get(a.name, 0.0) + sum(a.units_by_hour) / 24.0 * span / total
    return officers, units


def agency_table(
    calls: pd.DataFrame,
    tasks: pd.DataFrame,
    states: StateHours,
    agencies: Sequence[AgencyFacts],
    window_h: tuple[float, float],
    cost_window: CostBreakdown,
    *,
    periods: Sequence[PolicyPeriod],
) -> pd.DataFrame:
    """One row per agency: resources, workload, response and cost over the window.

    ``calls`` are the window's :func:`counted_calls`, ``tasks`` its :func:`window_tasks`.
    """
    hours = states.hours(window_h)
    roads = road_share(states, periods, window_h)
    officers, units = staffing_means(periods, window_h)
    rows = []
    for a in agencies:
        mine = calls.loc[calls["agency"] == a.name, "response_min"]  # its calls' responses
        response = _describe(mine)
        on_duty = float(hours.at[a.name, "on_duty_h"]) if a.name in hours.index else 0.0
        busy = float(hours.at[a.name, "busy_h"]) if a.name in hours.index else 0.0
        duty = float(hours.at[a.name, "duty_h"]) if a.name in hours.index else 0.0
        rows.append(
            {
                "agency": a.name,
                "kind": a.kind,
                "level": a.level,
                "officers": officers.get(a.name, 0.0),
                "units_on_duty_mean": units.get(a.name, 0.0),
                "on_duty_unit_h": on_duty,
                "busy_unit_h": busy,
                "utilisation": busy / on_duty if on_duty > 0 else None,
                "duty_unit_h": duty,
                "duty_share": duty / on_duty if on_duty > 0 else None,
                "road_share": roads[a.name],
                "calls_dispatched": len(mine),
                "tasks_dispatched": int((tasks["agency"] == a.name).sum()),
                "response_mean_min": response["mean"],
                "response_p90_min": response["p90"],
                "cost_eur": cost_window["by_agency"].get(a.name, 0.0),
                "cost_eur_per_year": agency_cost_per_year(cost_window, a.name, window_h),
            }
        )
    return pd.DataFrame(rows)


def response_targets(calls: pd.DataFrame, periods: Sequence[PolicyPeriod]) -> np.ndarray:
    """Each call's response target, minutes: its priority's in the period it was reported in.

    A timeline may change ``dispatch.response_target_min``: a call is held to the
    standard in force when it reached the control room (the last value for lower
    priorities).
    """
    reported = calls["t_reported_h"].to_numpy(dtype=float)
    starts = np.array([p.start_h for p in periods], dtype=float)
    period = np.maximum(np.searchsorted(starts, reported, side="right") - 1, 0)
    priority = calls["priority"].to_numpy() - 1
    target = np.empty(len(calls))
    for k, p in enumerate(periods):
        minutes = np.asarray(p.scenario.dispatch.response_target_min, dtype=float)
        now = period == k
        target[now] = minutes[np.minimum(priority[now], minutes.size - 1)]
    return target


def summarise(
    calls: pd.DataFrame,
    tasks: pd.DataFrame,
    states: StateHours,
    agencies: Sequence[AgencyFacts],
    *,
    window_h: tuple[float, float],
    cost_window: CostBreakdown,
    periods: Sequence[PolicyPeriod],
    district_types: Sequence[str] = (),
) -> dict[str, Any]:
    """The one-row summary of a run (nested; dots in key names mean nesting).

    ``calls`` are the window's :func:`counted_calls`, ``tasks`` its :func:`window_tasks`.
    Entries by type, priority, agency and ``district_types`` list each one the run
    could have, those without calls at 0 (:func:`listed_names`).
    """
    names = listed_names(periods, agencies)
    answered = calls["t_dispatched_h"].notna()
    outcome = calls["outcome"]
    days = (window_h[1] - window_h[0]) / 24.0
    wait = calls.loc[answered, "wait_min"].to_numpy(dtype=float)
    arrived = calls.loc[  # the columns described by group below
        calls["response_min"].notna(),
        ["response_min", "agency", "priority", "type", "district_type"],
    ]
    response = arrived["response_min"].to_numpy(dtype=float)
    # A call nobody reached missed its target: the share is over all counted calls.
    on_time = calls["response_min"].to_numpy(dtype=float) <= response_targets(calls, periods)
    hours = states.hours(window_h)
    officers, units = staffing_means(periods, window_h)
    return {
        "calls": {
            "total": len(calls),
            "answered": int(answered.sum()),
            "unanswered": int((~answered).sum()),
            "abandoned": int((outcome == Outcome.ABANDONED.value).sum()),
            "no_agency": int((outcome == Outcome.NO_AGENCY.value).sum()),
            "per_day": float(len(calls) / days),
            "by_type": _counts(calls["type"], names["types"]),
        },
        "wait_min": {
            **_describe(calls.loc[answered, "wait_min"]),
            "ci95": batch_means_ci(wait),
            "by_priority": _by(
                calls.loc[answered, ["priority", "wait_min"]],
                "priority",
                "wait_min",
                names["priorities"],
            ),
        },
        "response_min": {
            **_describe(arrived["response_min"]),
            "ci95": batch_means_ci(response),
            "within_target_share": float(on_time.mean()) if len(calls) else None,
            "by_agency": _by(arrived, "agency", "response_min", names["agencies"]),
            "by_priority": _by(arrived, "priority", "response_min", names["priorities"]),
            "by_type": _by(arrived, "type", "response_min", names["types"]),
            "by_district_type": _by(arrived, "district_type", "response_min", district_types),
        },
        "handovers": {
            "total": len(tasks),
            "answered": int(tasks["t_dispatched_h"].notna().sum()),
            "wait_min_mean": _describe((tasks["t_dispatched_h"] - tasks["t_reported_h"]) * MINUTES)[
                "mean"
            ],
        },
        "utilisation": on_duty_share(hours, "busy_h"),
        "duty_share": on_duty_share(hours, "duty_h"),
        "road_share": road_share(states, periods, window_h),
        # Means over the window's policy periods (staffing_means), agencies of the end.
        "officers": {a.name: officers.get(a.name, 0.0) for a in agencies},
        "units_on_duty_mean": {a.name: units.get(a.name, 0.0) for a in agencies},
        "cost_eur": cost_window,
        "cost_eur_per_year": per_year(cost_window, window_h),
    }


RECORDED = (Known.REPORTED.value, Known.DETECTED.value)


def window_offences(incidents: pd.DataFrame, window_h: tuple[float, float]) -> pd.DataFrame:
    """Offences that occurred inside the window, with a ``recorded`` flag."""
    w0, w1 = window_h
    off = incidents[
        (incidents["kind"] == IncidentKind.OFFENCE.value)
        & (incidents["t_occurred_h"] >= w0)
        & (incidents["t_occurred_h"] < w1)
    ]
    return off.assign(recorded=off["known"].isin(RECORDED))


def offence_summary(
    off: pd.DataFrame,
    window_h: tuple[float, float],
    residents: int,
    types: Sequence[str],
    residents_by_district_type: dict[str, int],
    agencies: Sequence[str] = (),
) -> dict[str, Any]:
    """Actual and recorded offences, per 1,000 residents a year, by type and place.

    ``off`` are the window's offences (:func:`window_offences`). ``actual`` counts
    every offence that happened; ``recorded`` those reported or detected; the dark
    figure is the share never known to the police. An offence counts as cleared if
    its offender was arrested before the run ended.
    """
    years = (window_h[1] - window_h[0]) / 24.0 / 365.0
    per_1000 = 1000.0 / max(residents, 1) / years
    actual, recorded = len(off), int(off["recorded"].sum())
    n_actual = off["type"].value_counts()
    n_known = off.groupby("type")["recorded"].sum()
    # Recorded per resident in priority neighbourhoods over the rest (EVIDENCE B7.1).
    qpv_residents = residents_by_district_type.get("qpv", 0)
    rest_residents = sum(residents_by_district_type.values()) - qpv_residents
    in_qpv = off["district_type"] == "qpv"
    known_qpv = off[in_qpv].groupby("type")["recorded"].sum()
    known_rest = off[~in_qpv].groupby("type")["recorded"].sum()
    by_type = {}
    for name in types:
        n, n_rec = int(n_actual.get(name, 0)), int(n_known.get(name, 0))
        q, r = float(known_qpv.get(name, 0)), float(known_rest.get(name, 0))
        by_type[name] = {
            "actual": n,
            "recorded": n_rec,
            "actual_per_1000": n * per_1000,
            "recorded_per_1000": n_rec * per_1000,
            "dark_figure_share": 1.0 - n_rec / n if n else None,
            "recorded_qpv_over_rest": (q / qpv_residents) / (r / rest_residents)
            if qpv_residents > 0 and rest_residents > 0 and r > 0
            else None,
        }
    by_place = {}
    places = {str(k): g for k, g in off.groupby("district_type", sort=True)["recorded"]}
    for kind in _ordered(places, residents_by_district_type):
        group = places.get(kind, pd.Series([], dtype=bool))
        res = residents_by_district_type.get(kind, 0)
        scale = 1000.0 / res / years if res > 0 else None
        by_place[kind] = {
            "actual": len(group),
            "recorded": int(group.sum()),
            "actual_per_1000": None if scale is None else len(group) * scale,
            "recorded_per_1000": None if scale is None else float(group.sum()) * scale,
        }
    cleared = off.loc[off["t_solved_h"].notna(), ["type", "clearance", "arrest_agency"]]
    n_cleared = cleared.groupby("type").size()
    clearance = {
        "cleared": len(cleared),
        "on_scene": int((cleared["clearance"] == "on_scene").sum()),
        "later": int((cleared["clearance"] == "later").sum()),
        "rate": len(cleared) / recorded if recorded else None,
        "by_type": {
            name: float(n_cleared.get(name, 0) / n_known[name]) if n_known.get(name, 0) else None
            for name in types
        },
        "by_agency": _counts(cleared["arrest_agency"], agencies),
    }
    return {
        "clearance": clearance,
        "actual": actual,
        "recorded": recorded,
        "actual_per_1000": actual * per_1000,
        "recorded_per_1000": recorded * per_1000,
        "by_known": {k: int((off["known"] == k).sum()) for k in KNOWN_WAYS},
        "by_type": by_type,
        "by_district_type": by_place,
        "dark_figure_share": 1.0 - recorded / actual if actual else None,
    }


def offender_summary(
    incidents: pd.DataFrame, records: RunRecords, agencies: Sequence[str] = ()
) -> dict[str, Any]:
    """The offenders held over the window, and the arrests each agency made in it (0 too)."""
    w0, w1 = records.window_h
    held = records.offenders_held
    inside = held[(held[:, 0] >= w0) & (held[:, 0] <= w1)] if held.size else held
    by = incidents["arrest_agency"]
    arrests = by[
        incidents["arrest"] & (incidents["t_arrived_h"] >= w0) & (incidents["t_arrived_h"] < w1)
    ].tolist()
    later = by[
        (incidents["clearance"] == "later")
        & (incidents["t_solved_h"] >= w0)
        & (incidents["t_solved_h"] < w1)
    ].tolist()
    by_agency = _counts(pd.Series([*arrests, *later], dtype=object), agencies)
    return {
        "pool": records.offender_pool,
        "held_mean": float(inside[:, 1].mean()) if len(inside) else None,
        "held_end": int(held[-1, 1]) if len(held) else None,
        "arrests_by_agency": by_agency,
    }


def victimisation(off: pd.DataFrame, records: RunRecords) -> dict[str, Any]:
    """Offences against residents per 1,000 a year, by the type of the victim's home district.

    ``off`` are the window's offences (:func:`window_offences`).
    """
    t = records.territory
    victims = off.loc[off["resident"] >= 0, "resident"].to_numpy(dtype=np.int64)
    years = (records.window_h[1] - records.window_h[0]) / 24.0 / 365.0
    kinds = np.array([dt.value for dt in t.district_types] + ["none"], dtype=object)
    home_kind = kinds[t.district[records.resident_home[victims]]]
    resident_kind = pd.Series(t.residents, index=kinds[t.district]).groupby(level=0).sum()
    counted = pd.Series(home_kind, dtype=object).value_counts()
    rates: dict[str, float | None] = {}
    for kind, residents in resident_kind.sort_index().items():
        if kind == "none":
            continue
        rates[str(kind)] = (
            float(counted.get(kind, 0)) * 1000.0 / float(residents) / years if residents else None
        )
    qpv_res = float(resident_kind.get("qpv", 0))
    rest_res = float(resident_kind.sum()) - qpv_res
    qpv_n = float(counted.get("qpv", 0))
    ratio = None
    if qpv_res > 0 and rest_res > 0 and victims.size > qpv_n:
        ratio = (qpv_n / qpv_res) / ((victims.size - qpv_n) / rest_res)
    return {
        "per_1000": victims.size * 1000.0 / max(float(t.residents.sum()), 1.0) / years,
        "by_home_district_type": rates,
        "qpv_over_rest": ratio,
    }


def daily_series(
    calls: pd.DataFrame,
    off: pd.DataFrame,
    window_h: tuple[float, float],
    on_duty: pd.DataFrame,
) -> pd.DataFrame:
    """One row per day of the window: calls, outcomes, wait, response, offences, staffing.

    Args:
        calls: The window's counted calls (:func:`counted_calls`).
        off: The window's offences (:func:`window_offences`).
        window_h: The statistics window.
        on_duty: Scheduled units on duty, one row per hour and agency (``hour``,
            ``agency``, ``units``), as the shifts were set hour by hour.
    """
    call_day = (calls["t_reported_h"] // 24).astype("int64").rename("day")
    first, last = int(window_h[0] // 24), int(np.ceil(window_h[1] / 24))
    days = pd.Index(range(first, last), name="day")
    grouped = calls.groupby(call_day)
    frame = pd.DataFrame(index=days)
    frame["day_of_week"] = [d % 7 for d in days]
    frame["calls"] = grouped.size().reindex(days, fill_value=0).astype("int64")
    frame["answered"] = grouped["t_dispatched_h"].count().reindex(days, fill_value=0)
    frame["unanswered"] = frame["calls"] - frame["answered"]
    frame["wait_mean_min"] = grouped["wait_min"].mean().reindex(days)
    frame["response_mean_min"] = grouped["response_min"].mean().reindex(days)
    frame["response_p90_min"] = grouped["response_min"].quantile(0.9).reindex(days)
    if len(off):
        off_day = (off["t_occurred_h"] // 24).astype("int64")
        frame["offences_actual"] = off.groupby(off_day).size().reindex(days, fill_value=0)
        frame["offences_recorded"] = (
            off.groupby(off_day)["recorded"].sum().reindex(days, fill_value=0).astype("int64")
        )
    scheduled = on_duty.assign(day=on_duty["hour"] // 24).pivot_table(
        index="day", columns="agency", values="units", aggfunc="sum", sort=False
    )
    for agency in scheduled.columns:
        frame[f"unit_hours_{agency}"] = scheduled[agency].reindex(days).astype(float)
    return frame.reset_index()


def district_table(
    calls: pd.DataFrame,
    off: pd.DataFrame,
    window_h: tuple[float, float],
    districts: pd.DataFrame,
    presence_by_level: dict[str, np.ndarray],
) -> pd.DataFrame:
    """One row per district: population, calls, response and patrol presence.

    Args:
        calls: The window's counted calls (:func:`counted_calls`).
        off: The window's offences (:func:`window_offences`).
        window_h: The statistics window.
        districts: One row per district with ``district``, ``type``, ``commune``,
            ``cells``, ``residents`` and ``jobs``.
        presence_by_level: Presence hours per district, by payer level.
    """
    grouped = calls.groupby("district")
    table = districts.set_index("district")
    table["calls"] = grouped.size().reindex(table.index, fill_value=0).astype("int64")
    table["calls_per_1000_residents"] = (
        table["calls"] / table["residents"].where(table["residents"] > 0) * 1000.0
    )
    table["answered"] = grouped["t_dispatched_h"].count().reindex(table.index, fill_value=0)
    table["response_mean_min"] = grouped["response_min"].mean().reindex(table.index)
    table["response_p90_min"] = grouped["response_min"].quantile(0.9).reindex(table.index)
    for level, hours in presence_by_level.items():
        table[f"presence_h_{level}"] = hours
    if len(off):
        years = (window_h[1] - window_h[0]) / 24.0 / 365.0
        by = off.groupby("district")
        table["offences_actual"] = by.size().reindex(table.index, fill_value=0).astype("int64")
        table["offences_recorded"] = (
            by["recorded"].sum().reindex(table.index, fill_value=0).astype("int64")
        )
        per_1000 = 1000.0 / table["residents"].where(table["residents"] > 0) / years
        table["offences_actual_per_1000"] = table["offences_actual"] * per_1000
        table["offences_recorded_per_1000"] = table["offences_recorded"] * per_1000
    return table.reset_index()


def districts_frame(records: RunRecords) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The districts (name, type, commune, cells, residents, jobs) and patrol presence.

    Returns:
        One row per district, and the presence hours per district by payer.
    """
    t = records.territory
    land = t.land
    d = t.district[land]
    n = t.n_districts
    frame = pd.DataFrame(
        {
            "district": list(t.district_names),
            "type": [dt.value for dt in t.district_types],
            "commune": [t.commune_names[c] for c in t.district_commune],
            "cells": np.bincount(d, minlength=n).astype("int64"),
            "residents": np.bincount(d, weights=t.residents[land], minlength=n).astype("int64"),
            "jobs": np.bincount(d, weights=t.jobs[land], minlength=n).astype("int64"),
        }
    )
    by_level: dict[str, np.ndarray] = {}
    for level in payer_levels([a.level for a in records.agencies]):
        rows = [k for k, a in enumerate(records.agencies) if a.level == level]
        cell_hours = records.presence[rows].sum(axis=0) if rows else np.zeros(t.n_cells)
        # Presence off land (a unit crossing between two communes) belongs to no district.
        by_level[level] = np.bincount(d, weights=cell_hours[land], minlength=n)
    return frame, by_level


def direct_call_counts(
    incidents: pd.DataFrame, window_h: tuple[float, float], scenarios: Sequence[Scenario]
) -> dict[str, int] | None:
    """Calls reported in the window that were addressed to each agency directly.

    Every agency with direct calls in one of ``scenarios`` (the run's policy periods)
    is listed, 0 if none came, in the order the periods first name them; None when no
    period has any. Calls made to the emergency number while the agency was closed
    are ordinary calls, not counted.
    """
    w0, w1 = window_h
    reported = incidents["t_reported_h"]
    counts = incidents["addressed_to"][(reported >= w0) & (reported < w1)].dropna().value_counts()
    names = {  # a dict keeps the order of first appearance
        name: None
        for scenario in scenarios
        for name, agency in scenario.agencies.items()
        if agency.direct_calls.per_1000_residents > 0
    }
    names.update({name: None for name in counts.index if name not in names})
    if not names:
        return None
    return {n: int(counts.get(n, 0)) for n in names}


class RunTables:
    """A run's records as frames, and the tables and summary computed from them.

    Every figure is a function of the frozen records and the scenario; nothing is
    read off the model.

    Args:
        records: The frozen records of a run.
        scenario: The scenario it ran.
    """

    def __init__(self, records: RunRecords, scenario: Scenario):
        self.records = records
        self.scenario = scenario
        self.incidents = records.incidents.to_pandas()
        self.states = records.states.to_pandas()
        self.state_hours = StateHours(self.states)
        # The window's calls, tasks and offences, which several tables share.
        self.calls = counted_calls(self.incidents, records.window_h)
        self.tasks = window_tasks(self.incidents, records.window_h)
        self.offences = window_offences(self.incidents, records.window_h)
        self.agencies = list(records.agencies)
        self.costs = window_costs(records.periods, records.window_h, records.territory)
        self.districts, self.presence = districts_frame(records)

    def timeseries(self) -> pd.DataFrame:
        """One row per day of the window (:func:`daily_series`)."""
        r = self.records
        return daily_series(self.calls, self.offences, r.window_h, r.on_duty.to_pandas())

    def district_table(self) -> pd.DataFrame:
        """One row per district (:func:`district_table`)."""
        return district_table(
            self.calls, self.offences, self.records.window_h, self.districts, self.presence
        )

    def agency_table(self) -> pd.DataFrame:
        """One row per agency (:func:`agency_table`)."""
        r = self.records
        return agency_table(
            self.calls,
            self.tasks,
            self.state_hours,
            self.agencies,
            r.window_h,
            self.costs,
            periods=r.periods,
        )

    def summary(self, *, seed: int, runtime_s: float) -> Summary:
        """The run's summary.

        Args:
            seed: The seed of the run.
            runtime_s: Wall time of the run (seconds).
        """
        r, scenario = self.records, self.scenario
        t = r.territory
        res_by_type = {
            str(k): int(v) for k, v in self.districts.groupby("type")["residents"].sum().items()
        }
        agency_names = [a.name for a in self.agencies]
        body = summarise(
            self.calls,
            self.tasks,
            self.state_hours,
            self.agencies,
            window_h=r.window_h,
            cost_window=self.costs,
            periods=r.periods,
            district_types=list(res_by_type),
        )
        citizens = r.citizens
        body["trust"] = {
            "mean_start": float(citizens.trust_mean[0]),
            "mean_end": float(citizens.trust_mean[-1]),
            "lowest_district_end": float(np.nanmin(citizens.trust_by_district[-1])),
        }
        body["fear"] = {"mean_end": float(citizens.fear_mean[-1])}
        w0, w1 = r.window_h
        counted = [what for hour, _, what in r.preemptions if w0 <= hour < w1]
        body["preemptions"] = {what: counted.count(what) for what in ("duty", "call")}
        direct = direct_call_counts(
            self.incidents, r.window_h, [period.scenario for period in r.periods]
        )
        if direct is not None:
            body["direct_calls"] = direct
        if scenario.crime is not None:
            body["offences"] = offence_summary(
                self.offences,
                r.window_h,
                int(t.residents.sum()),
                list(scenario.crime.types),
                res_by_type,
                agency_names,
            )
            body["dark_figure_share"] = body["offences"]["dark_figure_share"]
            body["victimised_share"] = float(citizens.victimised_share[-1])
            body["offenders"] = offender_summary(self.incidents, r, agency_names)
            body["victimisation"] = victimisation(self.offences, r)
        return Summary.model_validate(
            {
                "scenario": scenario.name,
                "seed": seed,
                "days": scenario.run.days,
                "warmup_days": scenario.run.warmup_days,
                "residents": int(t.residents.sum()),
                **body,
                "events": r.events,
                "runtime_s": runtime_s,
            }
        )
