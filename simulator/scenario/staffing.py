"""Staffing: from budget to headcount to units on duty, and what it costs.

* ``budget_eur`` buys officers at a loaded cost (salary, charges, equipment)
  plus one vehicle per unit on duty at the busiest hour; for private security
  with an ``hourly_rate_eur``, the budget buys guard-hours at that price.
* ``officers`` work ``hours_per_officer`` a year, a ``field_share`` of it in
  crews of ``crew_size``: that makes the unit-hours of a year, spread over the
  hours of service in proportion to ``staffing_profile``.
* ``units`` fixes the units on duty at every hour of service; the headcount and
  cost it implies are computed backwards.

A pure function of an agency's scenario block, so that both the model and the
timeline compiler (which turns "hire 20 officers" into a headcount) use it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from simulator.scenario.kinds import Billing
from simulator.scenario.schema import HOURS_PER_DAY, AgencySpec

DAYS_PER_YEAR = 365.0


@dataclass(frozen=True)
class Staffing:
    """Resources of an agency, per year and per hour of the day.

    Attributes:
        officers: Full-time-equivalent headcount.
        units_by_hour: Units on duty for each hour of the day (24 values).
        vehicles: Patrol vehicles (units at the busiest hour).
        annual_cost_eur: Cost of a year at this level of resources.
    """

    officers: float
    units_by_hour: tuple[int, ...]
    vehicles: int
    annual_cost_eur: float


def _apportion(total: int, weights: list[float]) -> list[int]:
    """Integers proportional to ``weights`` summing to ``total`` (largest remainder)."""
    s = math.fsum(weights)
    if total <= 0 or s <= 0:
        return [0] * len(weights)
    exact = [total * w / s for w in weights]
    base = [math.floor(x) for x in exact]
    rest = total - sum(base)
    # Ties broken by hour, so the result never depends on sort stability.
    order = sorted(range(len(weights)), key=lambda h: (-(exact[h] - base[h]), h))
    for h in order[:rest]:
        base[h] += 1
    return base


def _service_weights(spec: AgencySpec) -> list[float]:
    profile = spec.staffing_profile if isinstance(spec.staffing_profile, list) else [1.0] * 24
    weights = [w if spec.serves_hour(h) else 0.0 for h, w in enumerate(profile)]
    if math.fsum(weights) <= 0:  # the profile is zero over the service hours: flat instead
        weights = [1.0 if spec.serves_hour(h) else 0.0 for h in range(HOURS_PER_DAY)]
    return weights


def _hourly_rate(spec: AgencySpec, billing: Billing) -> float | None:
    return spec.cost.hourly_rate_eur if billing == "hourly" else None


def _cost(
    spec: AgencySpec, billing: Billing, officers: float, unit_hours_year: float, vehicles: int
) -> float:
    rate = _hourly_rate(spec, billing)
    if rate is not None:
        return rate * spec.crew_size * unit_hours_year
    c = spec.cost
    return officers * (c.salary_eur + c.equipment_eur) + vehicles * c.vehicle_eur


def _unit_hours_per_officer(spec: AgencySpec) -> float:
    return spec.hours_per_officer * spec.field_share / spec.crew_size


def resolve_staffing(spec: AgencySpec, billing: Billing) -> Staffing:
    """Headcount, units on duty by hour and annual cost of an agency.

    Args:
        spec: The agency.
        billing: How it is billed (its ``billing`` capability): ``hourly`` uses
            ``cost.hourly_rate_eur`` when given, ``salaried`` the salary fields.
    """
    weights = _service_weights(spec)
    per_officer = _unit_hours_per_officer(spec)
    if spec.units is not None:
        by_hour = [spec.units if w > 0 else 0 for w in weights]
        unit_hours_year = sum(by_hour) * DAYS_PER_YEAR
        officers = unit_hours_year / per_officer if per_officer > 0 else 0.0
    else:
        if spec.officers is not None:
            officers = float(spec.officers)
        else:
            officers = _officers_for_budget(spec, billing, weights, float(spec.budget_eur or 0.0))
        per_day = round(officers * per_officer / DAYS_PER_YEAR)
        by_hour = _apportion(per_day, weights)
        unit_hours_year = sum(by_hour) * DAYS_PER_YEAR
    vehicles = max(by_hour)
    return Staffing(
        officers=officers,
        units_by_hour=tuple(by_hour),
        vehicles=vehicles,
        annual_cost_eur=_cost(spec, billing, officers, unit_hours_year, vehicles),
    )


def _officers_for_budget(
    spec: AgencySpec, billing: Billing, weights: list[float], budget: float
) -> float:
    per_officer = _unit_hours_per_officer(spec)
    rate = _hourly_rate(spec, billing)
    if rate is not None:
        guard_hours = budget / rate if rate > 0 else 0.0
        return guard_hours / spec.hours_per_officer / spec.field_share if spec.field_share else 0.0
    # Vehicles scale with the peak hour: peak units per officer, before rounding.
    peak_per_officer = per_officer / DAYS_PER_YEAR * max(weights) / math.fsum(weights)
    c = spec.cost
    per_officer_cost = c.salary_eur + c.equipment_eur + c.vehicle_eur * peak_per_officer
    officers = math.floor(budget / per_officer_cost) if per_officer_cost > 0 else 0
    # Rounding units up may overshoot the budget by a vehicle: step down until it fits.
    while officers > 0:
        per_day = round(officers * per_officer / DAYS_PER_YEAR)
        by_hour = _apportion(per_day, weights)
        if _cost(spec, billing, officers, sum(by_hour) * DAYS_PER_YEAR, max(by_hour)) <= budget:
            break
        officers -= 1
    return float(officers)
