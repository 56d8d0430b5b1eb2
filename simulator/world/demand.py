"""Non-crime calls for service: a Poisson process in time and space.

The rate is piecewise constant by hour: ``rate_per_hour`` x hourly profile x
weekly profile, both rescaled so that the week averages to ``rate_per_hour``.
Within an hour, calls are uniform in time (so the process is an exact
non-homogeneous Poisson process). Where a call arises follows where people are
at that hour of the day (an ambient-population weight per cell, from residents,
jobs, shops and the night-time economy) times a factor per district type.

Every call draws the same number of random numbers whatever the scenario's
policy settings, from a stream of its own, so that two scenarios that differ
only in policy see the same calls (common random numbers).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from simulator.agencies.agency import Agency
from simulator.records.incidents import Incident, IncidentKind
from simulator.scenario.changes import AGENCY_SETTINGS
from simulator.scenario.schema import HOURS_PER_DAY, DemandSpec, Scenario
from simulator.world.activity import ActivityModel
from simulator.world.registries import HOURS_PER_WEEK, HOURS_PER_YEAR, LOCATIONS
from simulator.world.territory import Territory

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class CallMix:
    """Which type a call is and where it arises, for one stream of calls.

    Attributes:
        type_cum: Cumulative shares over the call types (demand.types order).
        cum_weights: Cumulative spatial distribution: location x class of hours x cell.
    """

    type_cum: FloatArray
    cum_weights: FloatArray

    @cached_property
    def type_list(self) -> list[float]:
        """The cumulative type shares as Python numbers (read by each call)."""
        return list(self.type_cum.tolist())

    @cached_property
    def rows(self) -> list[list[memoryview[float]]]:
        """The cumulative spatial weights by class of hours, then location: views of rows.

        Python's views of the rows' memory: ``bisect_right`` on one finds the cell of a
        uniform as NumPy's ``searchsorted(u, "right")`` does (the same comparisons of
        the same doubles), for a fraction of the cost of NumPy's call on one number.
        """
        locations, classes = self.cum_weights.shape[:2]
        weights = self.cum_weights
        return [[memoryview(weights[k, c]) for k in range(locations)] for c in range(classes)]


# A call drawn, before it is numbered: its cell, type (index), priority, x and y
# (metres), time (model hours), time on scene and follow-up (hours), and whether it
# ends in an arrest. A plain tuple: an hour's calls are made at once, for a fraction
# of a named tuple's or a dataclass's cost.
DrawnCall = tuple[int, int, int, float, float, float, float, float, bool]


def _profile(values: list[float] | str, length: int) -> FloatArray:
    arr = np.ones(length) if values == "flat" else np.asarray(values, dtype=float)
    return arr


def _week(spec: DemandSpec) -> FloatArray:
    """The weekly profile times the hourly one, for the 168 hours of the week."""
    hourly = _profile(spec.hourly_profile, HOURS_PER_DAY)
    weekly = _profile(spec.weekly_profile, 7)
    week: FloatArray = (weekly[:, None] * hourly[None, :]).ravel()
    return week


def hourly_rates(spec: DemandSpec) -> FloatArray:
    """Call rate (per hour) for each of the 168 hours of the week, Monday 00:00 first."""
    week = _week(spec)
    mean = week.mean()
    return spec.rate_per_hour * week / mean if mean > 0 else np.zeros_like(week)


def week_shape(spec: DemandSpec) -> FloatArray:
    """Relative call rate of each of the 168 hours of the week, mean 1 (zeros if all zero)."""
    week = _week(spec)
    mean = week.mean()
    return week / mean if mean > 0 else np.zeros_like(week)


def _sites_of(agencies: Sequence[Agency]) -> IntArray:
    """Cells of every contracted site of the agencies (calls at sites arise there)."""
    sites = [a.site_cells for a in agencies if a.site_cells.size]
    return np.unique(np.concatenate(sites)) if sites else np.empty(0, dtype=np.int64)


class CallGenerator:
    """Draws the calls of each hour for a territory.

    Args:
        scenario: The scenario in force (its demand block).
        agencies: The placed agencies (calls at sites arise at their contracted sites).
        activity: Where people are, by hour of the week (its territory is where calls happen).
        rng: The generator of this stream; nothing else draws from it.
    """

    READS: ClassVar[tuple[str, ...]] = ("demand", *AGENCY_SETTINGS)  # sites: agencies' places
    READS_ONCE: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        scenario: Scenario,
        agencies: Sequence[Agency],
        activity: ActivityModel,
        rng: np.random.Generator,
    ):
        self._activity = activity
        self._territory = activity.territory
        territory = activity.territory
        # The cells' facts as Python lists: a call reads one value of each.
        self._x_of: list[float] = territory.x_m.tolist()
        self._y_of: list[float] = territory.y_m.tolist()
        self._district_of: list[int] = territory.district.tolist()
        self._commune_of: list[int] = territory.commune.tolist()
        self._rng = rng
        self._configure(scenario.demand, _sites_of(agencies))

    def _configure(self, spec: DemandSpec, site_cells: IntArray) -> None:
        self._spec = spec
        self._rates = hourly_rates(spec)
        self._rate_list: list[float] = self._rates.tolist()  # drawn from each hour
        self._types = list(spec.types)
        self._type_cum = np.cumsum([spec.types[t].share for t in self._types])
        self._type_cum /= self._type_cum[-1]
        n_prio = spec.n_priorities
        # Per type, as Python numbers: draw() works out a few calls an hour on them.
        # On-scene times are exponential, or lognormal with the type's mean and the
        # coefficient of variation cv: exp(mu + sigma z), sigma^2 = log(1 + cv^2), mu =
        # log(mean) - sigma^2 / 2 (numpy's log and exp, whose last bits the outputs
        # depend on).
        self._prio_rows: list[list[float]] = [
            np.cumsum(spec.types[t].priority_shares or spec.priority_shares)[:n_prio].tolist()
            for t in self._types
        ]
        self._scene_mean: list[float] = [
            spec.types[t].on_scene_mean_min or spec.on_scene.mean_min for t in self._types
        ]
        sigma2 = np.log1p(spec.on_scene.cv**2)
        self._scene_sigma = float(np.sqrt(sigma2))
        self._scene_mu: list[float] = (np.log(self._scene_mean) - sigma2 / 2.0).tolist()
        self._lognormal = spec.on_scene.distribution != "exponential"
        self._follow_p: list[float] = [spec.types[t].follow_up_prob for t in self._types]
        self._follow_hours = [spec.types[t].follow_up_min / 60.0 for t in self._types]
        self._arrest_p: list[float] = [spec.types[t].arrest_prob for t in self._types]
        # The locations the types use, each a row of the spatial weights.
        self._locations = sorted(
            {spec.types[t].location for t in self._types}, key=list(LOCATIONS).index
        )
        self._location_of = [self._locations.index(spec.types[t].location) for t in self._types]
        used = [layer for name in self._locations for layer in LOCATIONS[name].layers]
        self._hour_class, hours = self._activity.hour_classes(used)
        self._class_of: list[int] = self._hour_class.tolist()
        self._cum_weights = self._spatial_weights(site_cells, hours)
        self._mix = CallMix(self._type_cum, self._cum_weights)

    def _spatial_weights(self, site_cells: IntArray, hours: IntArray) -> FloatArray:
        """Cumulative spatial distribution: location x class of hours x cell.

        Args:
            site_cells: Cells of contracted sites.
            hours: One hour of the week of each class of hours with the same weights.
        """
        t = self._territory
        # Calls come from land only (a file territory's grid has cells off its communes).
        factor = np.array(
            [
                0.0 if dt is None else self._spec.district_factors.get(dt, 1.0)
                for dt in t.cell_district_type()
            ]
        )
        sites = np.zeros(t.n_cells)
        if site_cells.size:
            sites[site_cells] = np.maximum(t.commercial[site_cells] + t.night[site_cells], 1e-9)
        supplied = {"sites": sites}
        base = np.empty((len(self._locations), hours.size, t.n_cells))
        for k, name in enumerate(self._locations):
            for c, hour in enumerate(hours.tolist()):
                base[k, c] = self._activity.location_weights(LOCATIONS[name], hour, supplied)
        weights = base * factor[None, None, :]
        cum = np.cumsum(weights, axis=2)
        totals = cum[:, :, -1:]
        # A location with no weight anywhere (e.g. no sites) falls back to uniform.
        uniform = np.cumsum(t.land.astype(float)) / np.count_nonzero(t.land)
        safe = np.where(totals > 0, cum / np.where(totals > 0, totals, 1.0), uniform)
        return safe

    def reconfigure(self, scenario: Scenario, agencies: Sequence[Agency]) -> None:
        """Put changed demand or contracted sites in force; the same stream goes on."""
        self._configure(scenario.demand, _sites_of(agencies))

    def derived_settings(self) -> dict[str, Any]:
        """What the generator derived from the settings (compared by the reconfiguration test)."""
        return {
            "rates": self._rates,
            "types": self._types,
            "type_cum": self._type_cum,
            "prio_cum": self._prio_rows,
            "on_scene_mean": self._scene_mean,
            "follow": [self._follow_p, self._follow_hours],
            "arrest": self._arrest_p,
            "cum_weights": self._cum_weights,
        }

    def rate(self, hour: int) -> float:
        """Expected number of calls in the hour starting at model hour ``hour``."""
        return float(self._rates[hour % self._rates.size])

    def expected_cell_weights(self) -> FloatArray:
        """Expected share of calls in each cell over a week (used to find hot spots)."""
        hour_class = self._hour_class[np.arange(self._rates.size) % HOURS_PER_WEEK]
        cum = self._cum_weights
        per_loc_hour = np.diff(cum, axis=2, prepend=0.0)
        type_share = np.diff(self._type_cum, prepend=0.0)
        total = np.zeros(self._territory.n_cells)
        for k, loc in enumerate(self._location_of):
            for h_week, c in enumerate(hour_class):
                total += type_share[k] * self._rates[h_week] * per_loc_hour[loc, c]
        s = total.sum()
        return total / s if s > 0 else total

    def calls_in_hour(self, hour: int, new_id: Callable[[], int]) -> list[Incident]:
        """The calls arising in [hour, hour + 1), in time order, numbered by ``new_id``."""
        rates = self._rate_list
        n = self._rng.poisson(rates[hour % len(rates)])
        if n == 0:  # a third of the hours of a year
            return []
        return self.incidents(self.draw(self._rng, n, hour, self._mix), new_id)

    @property
    def territory(self) -> Territory:
        """The territory where calls arise."""
        return self._territory

    @property
    def call_types(self) -> list[str]:
        """The call types, in the order of demand.types."""
        return self._types

    def week_shape(self) -> FloatArray:
        """The relative call rate of each hour of the week (mean 1; zeros with no calls)."""
        return week_shape(self._spec)

    def mix(self, shares: dict[str, float], cells: NDArray[np.bool_]) -> CallMix:
        """Which type and where for calls of other shares over the types, in ``cells`` only.

        Within ``cells``, a call of a type arises where ordinary calls of that type
        would (uniform over the land among them if no weight falls there).

        Args:
            shares: Share of each call type (types not named: none).
            cells: Boolean mask over cells where the calls may arise.
        """
        cum_type = np.cumsum([shares.get(t, 0.0) for t in self._types])
        cum_type /= cum_type[-1]
        inside = cells & self._territory.land
        weights = np.diff(self._cum_weights, axis=2, prepend=0.0) * inside[None, None, :]
        cum = np.cumsum(weights, axis=2)
        totals = cum[:, :, -1:]
        uniform = np.cumsum(inside.astype(float)) / max(1, np.count_nonzero(inside))
        where = np.where(totals > 0, cum / np.where(totals > 0, totals, 1.0), uniform)
        return CallMix(cum_type, where)

    def draw(self, rng: np.random.Generator, n: int, hour: int, mix: CallMix) -> list[DrawnCall]:
        """Draw ``n`` calls in the hour starting at ``hour``: type, place, time, handling.

        Every call takes the same random numbers, in the same order, whatever the mix.
        An hour has a few calls: they are worked out one by one on Python numbers,
        which costs less than numpy's calls on arrays of a few values and gives the
        same doubles (the same operations in the same order). NumPy's ``exp`` of one
        number is its ``exp`` of an array's, to the bit: NumPy picks its loop by the
        strides, not the length. (``math.exp`` may differ in the last bit where NumPy
        has a SIMD ``exp``, as with AVX-512: NumPy's ``exp`` itself depends on the CPU.)

        Returns:
            The calls in time order.
        """
        # Uniforms drawn in blocks: a block of k x n is the k draws of n in a row,
        # the same numbers for fewer calls.
        time_u, type_u, loc_u, prio_u = rng.random((4, n)).tolist()
        z = rng.standard_normal(n).tolist()
        e = rng.standard_exponential(n).tolist()
        late = rng.random(4 * n).tolist()  # follow-up, arrest, then x and y in turn

        times = sorted(time_u)
        type_cum = mix.type_list
        last_type = len(self._types) - 1
        # One row of cumulative weights per location, for this hour's class.
        rows = mix.rows[self._class_of[hour % HOURS_PER_WEEK]]
        last_cell = self._territory.n_cells - 1
        location, prio_rows = self._location_of, self._prio_rows
        mean, mu, sigma = self._scene_mean, self._scene_mu, self._scene_sigma
        follow_p, follow_hours, arrest_p = self._follow_p, self._follow_hours, self._arrest_p
        x_of, y_of, cell_m = self._x_of, self._y_of, self._territory.cell_m
        calls: list[DrawnCall] = []
        for i in range(n):
            k = min(bisect_right(type_cum, type_u[i]), last_type)
            # The cumulative shares (non-negative) never decrease: the thresholds at
            # or below u are the first bisect_right(row, u) of them.
            cell = min(bisect_right(rows[location[k]], loc_u[i]), last_cell)
            prio = prio_rows[k]
            priority = 1 + min(bisect_right(prio, prio_u[i]), len(prio) - 1)
            if self._lognormal:
                on_scene = float(np.exp(mu[k] + sigma * z[i])) / 60.0
            else:
                on_scene = mean[k] * e[i] / 60.0
            calls.append(
                (
                    cell,
                    k,
                    priority,
                    x_of[cell] + (late[2 * n + 2 * i] - 0.5) * cell_m,
                    y_of[cell] + (late[2 * n + 2 * i + 1] - 0.5) * cell_m,
                    hour + times[i],
                    on_scene,
                    follow_hours[k] if late[i] < follow_p[k] else 0.0,
                    late[n + i] < arrest_p[k],
                )
            )
        return calls

    def incidents(
        self, drawn: list[DrawnCall], new_id: Callable[[], int], addressed_to: str | None = None
    ) -> list[Incident]:
        """The drawn calls as incidents, in time order, numbered by ``new_id``."""
        district_of, commune_of, types = self._district_of, self._commune_of, self._types
        # Positional, in the order of Incident's fields: a call costs half as much to
        # make as with keywords.
        return [
            Incident(
                new_id(),
                IncidentKind.CALL,
                types[k],
                priority,
                cell,
                district_of[cell],
                commune_of[cell],
                x,
                y,
                when,
                when,
                on_scene,
                follow_h,
                arrest,
                addressed_to=addressed_to,
            )
            for cell, k, priority, x, y, when, on_scene, follow_h, arrest in drawn
        ]


@dataclass(frozen=True)
class _Line:
    """An agency's own line: the calls addressed to it, and what happens when it is closed."""

    agency: str
    units_by_hour: tuple[int, ...]
    lost_when_closed: bool
    rates: FloatArray  # expected calls in each hour of the week
    mix: CallMix

    @cached_property
    def rate_list(self) -> list[float]:
        """The rates as Python numbers (one is drawn from at each hour)."""
        return list(self.rates.tolist())


class DirectCallGenerator:
    """Draws the calls residents address directly to an agency (``agencies.*.direct_calls``).

    Each agency with direct calls has its own line: ``per_1000_residents`` calls a
    year per 1,000 residents of the places where it may act, with the demand's
    hour-of-week profile, Poisson each hour. A call's type follows the agency's
    ``types``; its place, priority, time on scene, follow-up and arrest are drawn
    as an ordinary call's of that type (by the call generator), its place
    restricted to the agency's places. A call is for that agency alone
    (``Incident.addressed_to``) while its line is open (the control room passes one
    still waiting when it closes to 17, with ``when_closed: emergency_number``). At
    an hour when the agency has no crew on duty, the caller dials the emergency
    number instead (an ordinary call) or gives up (``when_closed: lost``); the draws
    are the same either way.

    Args:
        agencies: The placed agencies (their direct calls, places and staffing).
        calls: The ordinary call generator, whose types and places direct calls share.
        rng: The generator of this stream; nothing else draws from it.
    """

    READS: ClassVar[tuple[str, ...]] = ("demand", *AGENCY_SETTINGS)
    READS_ONCE: ClassVar[tuple[str, ...]] = ()

    def __init__(self, agencies: Sequence[Agency], calls: CallGenerator, rng: np.random.Generator):
        self._calls = calls
        self._rng = rng
        self._configure(agencies)

    def _configure(self, agencies: Sequence[Agency]) -> None:
        territory = self._calls.territory
        shape = self._calls.week_shape()
        lines = []
        for agency in agencies:
            spec = agency.spec.direct_calls
            if spec.per_1000_residents <= 0:
                continue
            places = np.zeros(territory.n_cells, dtype=bool)
            places[agency.cells] = True
            if agency.site_mask is not None:
                places &= agency.site_mask
            places &= territory.land
            residents = float(territory.residents[places].sum())
            per_hour = spec.per_1000_residents * residents / 1000.0 / HOURS_PER_YEAR
            lines.append(
                _Line(
                    agency.name,
                    agency.staffing.units_by_hour,
                    spec.when_closed == "lost",
                    per_hour * shape,
                    self._calls.mix(spec.types, places),
                )
            )
        self._lines = lines

    def reconfigure(self, scenario: Scenario, agencies: Sequence[Agency]) -> None:
        """Put changed direct calls, places or staffing in force; the same stream goes on.

        The call generator has been reconfigured first (it comes first in the model's
        components), so changed call types reach direct calls too.
        """
        self._configure(agencies)

    def derived_settings(self) -> dict[str, Any]:
        """What the generator derived from the settings (compared by the reconfiguration test)."""
        return {
            "lines": [
                {
                    "agency": line.agency,
                    "units_by_hour": line.units_by_hour,
                    "lost_when_closed": line.lost_when_closed,
                    "rates": line.rates,
                    "type_cum": line.mix.type_cum,
                    "cum_weights": line.mix.cum_weights,
                }
                for line in self._lines
            ]
        }

    def rate(self, agency: str, hour: int) -> float:
        """Expected direct calls to ``agency`` in the hour starting at model hour ``hour``."""
        for line in self._lines:
            if line.agency == agency:
                return float(line.rates[hour % line.rates.size])
        return 0.0

    def calls_in_hour(self, hour: int, new_id: Callable[[], int]) -> list[Incident]:
        """The direct calls arising in [hour, hour + 1), agency by agency in scenario order.

        Calls made while the agency is closed are ordinary calls (``addressed_to``
        None) or, with ``when_closed: lost``, not made at all.
        """
        calls: list[Incident] = []
        for line in self._lines:
            rates = line.rate_list
            n = self._rng.poisson(rates[hour % len(rates)])
            if n == 0:
                continue
            drawn = self._calls.draw(self._rng, n, hour, line.mix)
            if line.units_by_hour[hour % HOURS_PER_DAY] > 0:
                calls += self._calls.incidents(drawn, new_id, addressed_to=line.agency)
            elif not line.lost_when_closed:
                calls += self._calls.incidents(drawn, new_id)
        return calls
