"""Every cost of a run, in one place: by payer, agency and commune, per period and per year.

An agency's annual cost comes resolved with its resources
(:mod:`simulator.scenario.staffing`, where a budget buys officers); spending
that is no agency (CCTV, prevention) is a *programme*, costed here from the
scenario. The cost of a run's statistics window is the sum over its policy
periods of each period's annual costs times its share of a year; a year's cost
scales the window's to 365 days.

Who pays is read from one attribute of each agency, :attr:`AgencyFacts.level`
(the payer), and nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from simulator.crime.engine import cctv_coverage
from simulator.records.recorder import AgencyFacts, PolicyPeriod
from simulator.scenario.kinds import COMMUNE_PAYER, payer_levels
from simulator.scenario.schema import Scenario
from simulator.world.territory import Territory

# The programmes whose costs are reported beside the agencies' (``by_agency``).
CCTV = "cctv"
PREVENTION = "prevention"
PROGRAMMES = (CCTV, PREVENTION)

DAYS_PER_YEAR = 365.0
SHARED_BY_COMMUNES = COMMUNE_PAYER  # the payer whose cost is split among the communes it serves

CostBreakdown = dict[str, Any]  # payer -> euros, then "by_agency" and "by_commune" mappings


def programme_costs(territory: Territory, scenario: Scenario) -> list[AgencyFacts]:
    """Spending that is not an agency: CCTV and prevention, both paid by communes."""
    t = territory
    out: list[AgencyFacts] = []
    names = tuple(t.commune_names)
    if scenario.crime is not None and scenario.cctv.zones:
        coverage = cctv_coverage(t, scenario.cctv)
        cameras = float(coverage.sum())  # fully covered cell equivalents
        cctv = scenario.cctv
        annual = cameras * cctv.camera_eur_per_year + (
            cctv.operators * cctv.operator_positions_per_seat * cctv.operator_eur_per_year
        )
        weights = tuple(float(coverage[t.commune == k].sum()) for k in range(len(names)))
        out.append(
            AgencyFacts(CCTV, "programme", COMMUNE_PAYER, 0.0, annual, (0,) * 24, names, weights)
        )
    if scenario.crime is not None:
        prevention = scenario.crime.drug_markets.prevention_eur_per_year
        if prevention > 0:
            weights = tuple(float(t.residents[t.commune == k].sum()) for k in range(len(names)))
            out.append(
                AgencyFacts(
                    PREVENTION,
                    "programme",
                    COMMUNE_PAYER,
                    0.0,
                    prevention,
                    (0,) * 24,
                    names,
                    weights,
                )
            )
    return out


def costs(payers: Sequence[AgencyFacts], days: float) -> CostBreakdown:
    """Cost over ``days`` by payer, agency and commune (euros)."""
    fraction = days / DAYS_PER_YEAR
    by_level = dict.fromkeys(payer_levels([a.level for a in payers]), 0.0)
    by_agency: dict[str, float] = {}
    by_commune: dict[str, float] = {}
    for a in payers:
        cost = a.annual_cost_eur * fraction
        by_level[a.level] = by_level.get(a.level, 0.0) + cost
        by_agency[a.name] = cost  # programmes (CCTV, prevention) appear here by name too
        if a.level == SHARED_BY_COMMUNES:
            total = sum(a.commune_weights) or 1.0
            for commune, weight in zip(a.communes, a.commune_weights, strict=True):
                share = weight / total if sum(a.commune_weights) else 1.0 / len(a.communes)
                by_commune[commune] = by_commune.get(commune, 0.0) + cost * share
    return {**by_level, "by_agency": by_agency, "by_commune": by_commune}


def add_costs(a: CostBreakdown, b: CostBreakdown) -> CostBreakdown:
    """Sum two cost breakdowns of :func:`costs` (for periods under different policies).

    Keys come out sorted, payers first, then the mappings.
    """
    out: dict[str, Any] = {}
    for key in a.keys() | b.keys():
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) or isinstance(y, dict):
            out[key] = add_costs(x or {}, y or {})
        else:
            out[key] = (x or 0.0) + (y or 0.0)
    return {k: out[k] for k in sorted(out, key=lambda k: (isinstance(out[k], dict), k))}


def scale_costs(c: CostBreakdown, factor: float) -> CostBreakdown:
    """A cost breakdown multiplied by ``factor`` (e.g. from a window to a year)."""
    return {k: scale_costs(v, factor) if isinstance(v, dict) else v * factor for k, v in c.items()}


@dataclass(frozen=True)
class PeriodCost:
    """What a policy period cost inside the statistics window.

    Attributes:
        label: The period's label (``start``, then each timeline change's).
        start_h: Where the period starts inside the window (model hours).
        end_h: Where it ends inside the window.
        cost: Its cost by payer, agency and commune (euros).
    """

    label: str
    start_h: float
    end_h: float
    cost: CostBreakdown


def period_costs(
    periods: Sequence[PolicyPeriod], window_h: tuple[float, float], territory: Territory
) -> list[PeriodCost]:
    """The cost of each policy period in force inside the window, in order.

    Args:
        periods: The policy periods of the run, the first from hour 0.
        window_h: The statistics window.
        territory: The run's territory (programme costs are split by commune on it).
    """
    w0, w1 = window_h
    out = []
    for k, period in enumerate(periods):
        end = periods[k + 1].start_h if k + 1 < len(periods) else w1
        start, stop = max(period.start_h, w0), min(end, w1)
        days = max(0.0, stop - start) / 24.0
        if days > 0:
            payers = [*period.agencies, *programme_costs(territory, period.scenario)]
            out.append(PeriodCost(period.label, start, stop, costs(payers, days)))
    return out


def window_costs(
    periods: Sequence[PolicyPeriod], window_h: tuple[float, float], territory: Territory
) -> CostBreakdown:
    """Costs over the window: the sum of its periods' (:func:`period_costs`)."""
    total: CostBreakdown = costs([], 0.0)
    for period in period_costs(periods, window_h, territory):
        total = add_costs(total, period.cost)
    return total


def per_year(window: CostBreakdown, window_h: tuple[float, float]) -> CostBreakdown:
    """The cost of a year at the window's rate."""
    days = (window_h[1] - window_h[0]) / 24.0
    return scale_costs(window, DAYS_PER_YEAR / days)


def agency_cost_per_year(
    window: CostBreakdown, agency: str, window_h: tuple[float, float]
) -> float:
    """An agency's cost a year at its rate over the window (0 if it had none)."""
    days = (window_h[1] - window_h[0]) / 24.0
    cost: float = window["by_agency"].get(agency, 0.0)
    return cost * DAYS_PER_YEAR / days
