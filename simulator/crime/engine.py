"""The crime engine: offences by routine activity theory, and how they become known.

Each hour, for each offence type, the expected number of offences in a cell is

    rate0[type, hour of week, cell] x exp(-deterrence[type] x G[cell]) (+ displacement)

* ``rate0`` is computed once per run: suitable targets present (the layer of
  the activity model that the type's target names, see
  :data:`simulator.world.registries.TARGETS`: people, visitors, empty
  dwellings, night venues) x motivated offenders within reach
  x the cell's attractiveness (lognormal, heavy-tailed, so that a few places
  concentrate most offences) x the type's hour-of-day profile, scaled to the
  type's ``rate_per_1000``. Drug dealing and serious violence follow the
  activity of drug markets instead.
* ``G`` is guardianship: the presence of each agency in the cell (hours in the
  last hour, with residual deterrence that decays after the patrol leaves,
  Koper 1995), CCTV coverage watched by operators, and citizen-watch members
  among the residents, each with its own strength.
* A share of what guardianship deters happens in the eight neighbouring cells
  instead (displacement), and a burglary raises the risk in and around its
  cell for weeks (near-repeat victimisation, Johnson and Bowers 2004).

An offence becomes known if a guardian in the cell sees it (detection on view:
patrol presence that hour and CCTV, scaled by the type's visibility), or else
if the victim or a witness reports it (probability by type, raised by trust and
citizen watch); the rest stays in the dark figure. Known offences that call for
a unit go to dispatch through the model's one door; the others are recorded
as complaints at the station.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from simulator.agencies.agency import Agency
from simulator.records.incidents import Incident, IncidentKind, Known, Outcome
from simulator.scenario.changes import AGENCY_SETTINGS, MARKETS_PLACED_ONCE
from simulator.scenario.schema import CctvSpec, CrimeSpec, CrimeTypeSpec, Scenario
from simulator.world.activity import ActivityModel
from simulator.world.citizens import Population
from simulator.world.registries import HOURS_PER_WEEK, TARGETS
from simulator.world.territory import Territory

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
HOURS_PER_YEAR = 8760.0
_ATTRACTIVENESS_KEY = 71  # spawn key of the territory's attractiveness stream
# Patrol guardianship x deterrence below this changes a rate by less than a part in
# a billion: the cell counts as unpatrolled (residual deterrence decays by e each
# hour, so a cell leaves the patrolled set about a day after the patrol left).
_NEGLIGIBLE_EXPONENT = 1e-9
# Near-repeat risk below this (offences per hour in a cell) is dropped: it would
# take a million years to make one offence.
_NEGLIGIBLE_RATE = 1e-10
# The eight neighbours, row-major over the 3 x 3 kernel as scipy.ndimage.correlate
_NEIGHBOUR_OFFSETS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


def neighbour_sum(grid: FloatArray, nx: int, ny: int, radius: int = 1) -> FloatArray:
    """Sum over the (2r+1)^2 square around each cell, the cell itself excluded."""
    if radius <= 0 or grid.size == 1:
        return np.zeros_like(grid)
    kernel = np.ones((2 * radius + 1, 2 * radius + 1))
    kernel[radius, radius] = 0.0
    box = ndimage.correlate(grid.reshape(ny, nx), kernel, mode="constant", cval=0.0)
    return np.asarray(box.ravel(), dtype=grid.dtype)


def neighbour_table(nx: int, ny: int) -> IntArray:
    """The eight neighbours of each cell of an nx x ny grid (-1 outside the grid)."""
    j, i = np.divmod(np.arange(nx * ny, dtype=np.int64), nx)
    out = np.full((nx * ny, len(_NEIGHBOUR_OFFSETS)), -1, dtype=np.int64)
    for o, (dj, di) in enumerate(_NEIGHBOUR_OFFSETS):
        tj, ti = j + dj, i + di
        ok = (tj >= 0) & (tj < ny) & (ti >= 0) & (ti < nx)
        out[ok, o] = tj[ok] * nx + ti[ok]
    return out


def _neighbour_sum_3d(grids: FloatArray) -> FloatArray:
    """Sum over the eight neighbours of each cell, for a stack of grids (..., ny, nx)."""
    out = np.zeros_like(grids)
    ny, nx = grids.shape[-2:]
    for dj, di in _NEIGHBOUR_OFFSETS:
        rows_to = slice(max(-dj, 0), ny - max(dj, 0))
        rows_from = slice(max(dj, 0), ny - max(-dj, 0))
        cols_to = slice(max(-di, 0), nx - max(di, 0))
        cols_from = slice(max(di, 0), nx - max(-di, 0))
        out[..., rows_to, cols_to] += grids[..., rows_from, cols_from]
    return out


def _search(cum: FloatArray, x: FloatArray) -> IntArray:
    """Index of the first running sum above each ``x`` (the last one at most)."""
    found: IntArray = np.minimum(np.searchsorted(cum, x, side="right"), cum.size - 1)
    return found


@dataclass
class _HourParts:
    """The parts of one hour's rates drawn apart from the standing rates.

    Attributes:
        where: Flat indices (type row x cells + cell) of each part.
        weight: Rate of each index (displaced parts: per neighbour x neighbours).
        displaced: Whether the part's offences happen next door to the index.
    """

    where: list[IntArray] = field(default_factory=list)
    weight: list[FloatArray] = field(default_factory=list)
    displaced: list[bool] = field(default_factory=list)

    def add(self, where: IntArray, weight: FloatArray, *, displaced: bool = False) -> None:
        """Add a part (nothing if empty).

        A displaced entry of weight 0 (a cell with no neighbour on land) is left
        out: rounding in the running sums must never pick it.
        """
        if displaced:
            keep = weight > 0
            where, weight = where[keep], weight[keep]
        if where.size:
            self.where.append(where)
            self.weight.append(weight)
            self.displaced.append(displaced)


def _attractiveness(territory: Territory, spec: CrimeSpec) -> FloatArray:
    """Heavy-tailed attractiveness of each cell, a property of the territory.

    Drawn from the territory's seed so that every run on the same city sees the
    same hot spots.
    """
    rng = np.random.default_rng(np.random.SeedSequence([territory.seed, _ATTRACTIVENESS_KEY]))
    base = rng.lognormal(0.0, spec.attractiveness_sigma, size=territory.n_cells)
    factor = [spec.district_factors.get(dt, 1.0) for dt in territory.district_types]
    # A trailing 0 answers for district -1: nothing attracts offenders off land.
    values: FloatArray = base * np.array([*factor, 0.0])[territory.district]
    return values


def initial_market_cells(
    territory: Territory, spec: CrimeSpec, attractiveness: FloatArray | None = None
) -> IntArray:
    """Where drug markets sit at the start (and so where the police know of them).

    The most attractive cells of the market district types, at most one per district.
    """
    t = territory
    score = _attractiveness(t, spec) if attractiveness is None else attractiveness
    kinds = set(spec.drug_markets.district_types)
    eligible = np.flatnonzero([d >= 0 and t.district_types[d] in kinds for d in t.district])
    if eligible.size == 0:
        eligible = t.land_cells()
    order = eligible[np.lexsort((eligible, -score[eligible]))]
    chosen: list[int] = []
    used: set[int] = set()
    for cell in order:
        if len(chosen) == spec.drug_markets.count:
            break
        d = int(t.district[cell])
        if d not in used:
            chosen.append(int(cell))
            used.add(d)
    return np.array(chosen, dtype=np.int64)


def cctv_coverage(territory: Territory, spec: CctvSpec) -> FloatArray:
    """Share of each cell in view of cameras."""
    coverage = np.zeros(territory.n_cells)
    names = territory.district_names
    types = [dt.value for dt in territory.district_types]
    for zone in spec.zones:
        districts = [
            d for d in range(len(names)) if names[d] in zone.districts or types[d] in zone.districts
        ]
        mask = np.isin(territory.district, districts)
        coverage[mask] = np.maximum(coverage[mask], zone.coverage)
    return coverage


@dataclass
class _Market:
    cell: int
    capacity: float
    intensity: float


class CrimeEngine:
    """Generates offences hour by hour and decides how each becomes known.

    Args:
        spec: The crime block of the scenario.
        cctv: The CCTV block.
        territory: Where offences happen.
        population: The residents (victims, reporters, trust).
        activity: Where people are, by hour of the week (targets and offenders).
        agencies: The placed agencies (for guardianship strengths by kind).
        rng: The crime stream.
        new_id: Gives the next incident id.
    """

    READS: ClassVar[tuple[str, ...]] = (*AGENCY_SETTINGS, "crime", "cctv", "citizens.watch_share")
    READS_ONCE: ClassVar[tuple[str, ...]] = MARKETS_PLACED_ONCE

    def __init__(
        self,
        spec: CrimeSpec,
        cctv: CctvSpec,
        territory: Territory,
        population: Population,
        activity: ActivityModel,
        agencies: Sequence[Agency],
        rng: np.random.Generator,
        new_id: Callable[[], int],
    ):
        self._t = territory
        self._pop = population
        self._activity = activity
        self._rng = rng
        self._new_id = new_id
        n = territory.n_cells
        self._off_land = None if territory.land.all() else np.flatnonzero(~territory.land)
        self._land_grid = territory.land.reshape(territory.ny, territory.nx).astype(float)
        # State that lives through policy changes.
        self._effective = np.zeros((len(agencies), n))  # presence with residual decay
        self._last_presence = np.zeros((len(agencies), n))
        self._presence_hour = np.zeros((len(agencies), n))
        self._touched_last = np.empty(0, dtype=np.int64)  # entries of _presence_hour set
        self._presence_day = np.zeros(n)
        self._victims_day = np.zeros(n)
        self._near_repeat = np.zeros(n)
        self._prevention_factor = 1.0  # market capacity left by prevention (1: none yet)
        self.spec = spec
        self.types = list(spec.types)
        # Neighbours inside the grid of each cell, listed first, and how many they are.
        if territory.kind != "point":
            table = neighbour_table(territory.nx, territory.ny)
            # Off land is no neighbour: nothing is displaced or repeats there.
            table[(table >= 0) & ~territory.land[table]] = -1
            self._neighbour_table = table
            first = np.argsort(table < 0, axis=1, kind="stable")
            self._compact = np.take_along_axis(table, first, axis=1)
            self._inside = (table >= 0).sum(axis=1)
        else:
            self._neighbour_table = np.empty((n, 0), dtype=np.int64)
            self._compact = np.zeros((n, 1), dtype=np.int64)
            self._inside = np.zeros(n, dtype=np.int64)
        # The expected offences (sum of hourly rates, for tests) are kept as the hours
        # of each hour of the week, times the standing rates, plus what changed them.
        self._hours_seen = np.zeros(HOURS_PER_WEEK)
        self._order: list[int] = []  # offence types in the order of the hourly draw
        self._expected_extra = np.zeros((len(self.types), n))  # rows in draw order
        self._expected_moved = np.zeros((len(self.types), n))  # to each neighbour
        self._configure(spec, cctv, agencies, first=True)
        self._markets = self._place_markets()

    def reconfigure(self, scenario: Scenario, agencies: Sequence[Agency]) -> None:
        """Put changed crime, CCTV, agency or watch settings in force (a policy change).

        Markets, near-repeat risk and residual deterrence carry over.
        """
        spec, cctv = scenario.crime, scenario.cctv
        if spec is None:
            raise ValueError("the crime engine cannot be removed during a run")
        if list(spec.types) != self.types:
            raise ValueError("offence types cannot change during a run")
        self._configure(spec, cctv, agencies, first=False)

    def _configure(
        self, spec: CrimeSpec, cctv: CctvSpec, agencies: Sequence[Agency], *, first: bool
    ) -> None:
        territory, population = self._t, self._pop
        n = territory.n_cells
        rebuild = first or (
            spec.types != self.spec.types
            or spec.attractiveness_sigma != self.spec.attractiveness_sigma
            or spec.district_factors != self.spec.district_factors
            or spec.offender_range_cells != self.spec.offender_range_cells
        )
        self.spec = spec
        self._type_specs: list[CrimeTypeSpec] = [spec.types[k] for k in self.types]
        if not first:  # bank the expectation of the old standing rates
            self._expected_extra += self._expected_base()[self._order]
            self._hours_seen[:] = 0.0
        # Offence types in the order of the hourly draw: ordinary ones, then markets.
        markets = [TARGETS[t.target].follows_markets for t in self._type_specs]
        self._order = [k for k, at_markets in enumerate(markets) if not at_markets]
        self._n_ordinary = len(self._order)
        self._order += [k for k, at_markets in enumerate(markets) if at_markets]
        self._deterrence = np.array([self._type_specs[k].deterrence for k in self._order])
        if rebuild:
            self.attractiveness = _attractiveness(territory, spec)
            self._rate0 = self._base_rates()[self._order[: self._n_ordinary]]
        self._market_enforcers = [i for i, a in enumerate(agencies) if a.capabilities.drug_markets]
        self._agency_strength = np.array(
            [a.capabilities.guardianship * a.mode.presence for a in agencies]
        )
        self._decay = float(np.exp(-1.0 / spec.residual_deterrence_h))
        coverage = cctv_coverage(territory, cctv)
        cameras = coverage.sum()
        seats = cctv.operators * cctv.cameras_per_operator
        watched = 1.0 if seats >= cameras else seats / cameras  # share of cameras watched
        self.cctv_effective = coverage * watched
        counts = np.maximum(territory.residents, 1)
        self._watch_share = np.bincount(population.home[population.watch], minlength=n) / counts
        self._static_guard = (
            spec.guardianship.cctv * self.cctv_effective
            + spec.guardianship.watch * self._watch_share
        )
        self._nr_decay = float(np.exp(-1.0 / (spec.near_repeat.decay_days * 24.0)))
        self._market_rate = np.array(
            [
                t.rate_per_1000 * territory.residents.sum() / 1000.0 / HOURS_PER_YEAR
                if TARGETS[t.target].follows_markets
                else 0.0
                for t in self._type_specs
            ]
        )
        self._profile = np.array(
            [
                np.asarray(t.hourly_profile, dtype=float)
                / np.asarray(t.hourly_profile, dtype=float).mean()
                for t in self._type_specs
            ]
        )
        self._standing_cum = self._standing_rates()

    def derived_settings(self) -> dict[str, Any]:
        """What the engine derived from the settings (compared by the reconfiguration test)."""
        return {
            "spec": self.spec,
            "order": self._order,
            "deterrence": self._deterrence,
            "rate0": self._rate0,
            "market_enforcers": self._market_enforcers,
            "strength": self._agency_strength,
            "decay": self._decay,
            "cctv_effective": self.cctv_effective,  # the watch's part depends on who joined
            "nr_decay": self._nr_decay,
            "market_rate": self._market_rate,
            "profile": self._profile,
        }

    # ----------------------------------------------------------------- set-up

    def _base_rates(self) -> NDArray[np.float32]:
        t = self._t
        radius = self.spec.offender_range_cells
        offenders = self._activity.week("offenders")
        reach = np.empty_like(offenders)
        for hw in range(HOURS_PER_WEEK):
            row = offenders[hw].astype(float)
            reach[hw] = row + neighbour_sum(row, t.nx, t.ny, radius)
        residents = float(t.residents.sum())
        rates = np.zeros((len(self._type_specs), HOURS_PER_WEEK, t.n_cells), dtype=np.float32)
        for k, ts in enumerate(self._type_specs):
            layer = TARGETS[ts.target].layer
            if layer is None:  # drug markets: drawn hour by hour from their activity
                continue
            profile = np.tile(np.asarray(ts.hourly_profile, dtype=float), 7)[:, None]
            w = self._activity.week(layer) * reach * self.attractiveness[None, :] * profile
            total = w.sum()
            per_week = ts.rate_per_1000 * residents / 1000.0 * HOURS_PER_WEEK / HOURS_PER_YEAR
            if total > 0:
                rates[k] = w * (per_week / total)
        return rates

    def _standing_rates(self) -> FloatArray:
        """Running sums, per hour of the week, of the rates with no patrol about.

        The rate of an ordinary type in a cell is its base rate deterred by the
        standing guardianship (CCTV, citizen watch), plus the share of what is
        deterred next door that comes over (displacement). Row ``hw`` runs over
        the types in draw order, then the cells; the hourly draw changes it only
        where patrols, near repeats or markets are.
        """
        t = self._t
        n = t.n_cells
        cum = np.zeros((HOURS_PER_WEEK, max(1, self._n_ordinary * n)))
        share = self.spec.displacement_share / 8.0 if t.kind != "point" else 0.0
        guarded = np.flatnonzero(self._static_guard > 0)  # CCTV and watch: few cells
        for p in range(self._n_ordinary):
            rate = cum[:, p * n : (p + 1) * n]
            rate[:] = self._rate0[p]
            if guarded.size == 0 or self._deterrence[p] <= 0:
                continue
            base = rate[:, guarded]
            kept = base * np.exp(-self._deterrence[p] * self._static_guard[guarded])
            rate[:, guarded] = kept
            if share > 0:
                moved = (base - kept) * share
                for o in range(self._neighbour_table.shape[1]):
                    target = self._neighbour_table[guarded, o]
                    inside = target >= 0  # one source per target for a given offset
                    rate[:, target[inside]] += moved[:, inside]
        np.cumsum(cum, axis=1, out=cum)
        return cum

    def _expected_base(self) -> FloatArray:
        n = self._t.n_cells
        out = np.zeros((len(self.types), n))
        if self._n_ordinary:
            rates = np.diff(self._standing_cum, axis=1, prepend=0.0)
            per_cell = self._hours_seen @ rates
            for p in range(self._n_ordinary):
                out[self._order[p]] = per_cell[p * n : (p + 1) * n]
        return out

    @property
    def expected(self) -> FloatArray:
        """Expected offences by type and cell so far: the hourly rates summed over the hours."""
        t = self._t
        extra = self._expected_extra.copy()
        if t.kind != "point":
            moved = self._expected_moved.reshape(-1, t.ny, t.nx)
            extra += _neighbour_sum_3d(moved).reshape(extra.shape)
        ordered = np.zeros_like(extra)
        ordered[self._order] = extra
        out: FloatArray = self._expected_base() + ordered
        if self._off_land is not None:  # displaced shares that would fall off land are lost
            out[:, self._off_land] = 0.0
        return out

    def _place_markets(self) -> list[_Market]:
        cells = initial_market_cells(self._t, self.spec, self.attractiveness)
        return [_Market(int(c), 1.0, 1.0) for c in cells]

    # ----------------------------------------------------------------- hourly update

    def observe_presence(self, presence_hours: FloatArray, touched: IntArray | None = None) -> None:
        """Take the presence log's totals (agency x cell) at the start of an hour.

        Args:
            presence_hours: The log's hours so far, agency x cell.
            touched: Flat indices of the entries that changed since the last call
                (``PresenceLog.take_touched``); ``None`` compares every entry.
        """
        if touched is None:
            np.subtract(presence_hours, self._last_presence, out=self._presence_hour)
            self._last_presence[:] = presence_hours
            self._effective *= self._decay
            self._effective += self._presence_hour
            self._presence_day += self._presence_hour.sum(axis=0)
            self._touched_last = np.flatnonzero(self._presence_hour)
            return
        hour_flat = self._presence_hour.reshape(-1)
        last_flat = self._last_presence.reshape(-1)
        hour_flat[self._touched_last] = 0.0
        now = presence_hours.reshape(-1)[touched]
        added = now - last_flat[touched]
        hour_flat[touched] = added
        last_flat[touched] = now
        self._effective *= self._decay
        self._effective.reshape(-1)[touched] += added
        cells = np.unique(touched % self._t.n_cells)
        self._presence_day[cells] += self._presence_hour[:, cells].sum(axis=0)
        self._touched_last = touched

    def market_activity(self) -> dict[int, float]:
        """Current intensity of each drug-market cell."""
        return {m.cell: m.intensity for m in self._markets}

    def _update_markets(self, hour: int) -> None:
        spec = self.spec.drug_markets
        if not self._markets:
            return
        rows = self._market_enforcers
        cells = [m.cell for m in self._markets]
        at_markets = (
            self._presence_hour[np.ix_(rows, cells)].sum(axis=0).tolist()
            if rows
            else [0.0] * len(cells)
        )
        new: list[_Market] = []
        for m, enforcement in zip(self._markets, at_markets, strict=True):
            if enforcement > 0:
                suppressed = m.intensity * min(1.0, spec.enforcement_per_h * enforcement)
                m.intensity -= suppressed
                moved = suppressed * spec.displacement_share
                if moved > 0:
                    new.append(_Market(self._neighbour(m.cell), 0.0, moved))
        for n_m in new:
            existing = next((m for m in self._markets if m.cell == n_m.cell), None)
            if existing is None:
                self._markets.append(n_m)
            else:
                existing.intensity += n_m.intensity
        if hour % 24 == 0:
            # Prevention lowers market capacity slowly: the capacity factor relaxes each
            # day towards its long-run level, from wherever it stood when spending changed.
            meur = spec.prevention_eur_per_year / 1e6
            target = max(0.0, 1.0 - spec.prevention_effect_per_meur * meur)
            step = 1.0 - np.exp(-1.0 / spec.prevention_delay_days)
            self._prevention_factor += (target - self._prevention_factor) * step
            factor = self._prevention_factor
            for m in self._markets:
                m.intensity += spec.recovery_per_day * (m.capacity * factor - m.intensity)
            self._markets = [m for m in self._markets if m.capacity > 0 or m.intensity > 1e-3]

    def _neighbour(self, cell: int) -> int:
        t = self._t
        if t.kind == "point":
            return cell
        j, i = divmod(cell, t.nx)
        options = [
            (j + dj) * t.nx + (i + di)
            for dj in (-1, 0, 1)
            for di in (-1, 0, 1)
            if (di or dj)
            and 0 <= i + di < t.nx
            and 0 <= j + dj < t.ny
            and t.land[(j + dj) * t.nx + (i + di)]
        ]
        return options[int(self._rng.integers(len(options)))] if options else cell

    def offences_in_hour(self, hour: int) -> list[Incident]:
        """Draw the offences of [hour, hour + 1) and decide how each becomes known.

        The standing rates (no patrol about) are summed once per hour of the
        week. Offences at standing rates are drawn from those sums, and each is
        kept with the chance that the patrol deterring its cell now leaves it
        (thinning a Poisson process gives the Poisson process of the lower
        rates). What patrols deter, near-repeat risk and drug markets are drawn
        apart, as a second Poisson count over those parts: the displaced share
        of what patrols deter goes an eighth to each neighbour (a second
        uniform picks it).
        """
        t = self._t
        n = t.n_cells
        hw = hour % HOURS_PER_WEEK
        hod = hour % 24
        self._update_markets(hour)
        risk = self._near_repeat
        risk *= self._nr_decay
        risk[risk < _NEGLIGIBLE_RATE] = 0.0
        self._hours_seen[hw] += 1.0
        patrol = self._agency_strength @ self._effective
        m = self._n_ordinary
        d_max = float(self._deterrence.max()) if self._deterrence.size else 0.0
        cells = (
            np.flatnonzero(patrol > _NEGLIGIBLE_EXPONENT / d_max)
            if d_max > 0 and m
            else np.empty(0, dtype=np.int64)
        )
        deterrence = self._deterrence[:, None]
        share = self.spec.displacement_share / 8.0
        parts = _HourParts()
        # What patrols deter where they are, and the share of it displaced next door.
        if cells.size:
            standing = self._static_guard[cells]
            base = self._rate0[:, hw][:, cells].astype(float)
            lost = base * (
                np.exp(-deterrence[:m] * standing)
                - np.exp(-deterrence[:m] * (standing + patrol[cells]))
            )
            where = ((np.arange(m) * n)[:, None] + cells).ravel()
            self._expected_extra.reshape(-1)[where] -= lost.ravel()
            if share > 0:
                moved = lost * share
                self._expected_moved.reshape(-1)[where] += moved.ravel()
                parts.add(where, (moved * self._inside[cells]).ravel(), displaced=True)
        # Near-repeat risk, deterred like the rest.
        for p in range(m):
            if self._type_specs[self._order[p]].near_repeat:
                at = np.flatnonzero(risk)
                kept = np.exp(-self._deterrence[p] * (self._static_guard[at] + patrol[at]))
                parts.add(p * n + at, risk[at] * kept)
        # Drug markets: their own cells, and the displaced share of what is deterred.
        if len(self._order) > m and self._markets:
            market: dict[int, float] = {}
            for mk in self._markets:
                market[mk.cell] = market.get(mk.cell, 0.0) + mk.intensity
            at = np.array(sorted(market), dtype=np.int64)
            intensity = np.array([market[c] for c in at.tolist()])
            rows = np.arange(m, len(self._order))
            scale = np.array(
                [self._market_rate[k] * self._profile[k, hod] for k in self._order[m:]]
            )
            rate = scale[:, None] * intensity / max(1, self.spec.drug_markets.count)
            kept = np.exp(-deterrence[m:] * (self._static_guard[at] + patrol[at]))
            where = ((rows * n)[:, None] + at).ravel()
            parts.add(where, (rate * kept).ravel())
            if share > 0:
                moved = rate * (1.0 - kept) * share
                self._expected_moved.reshape(-1)[where] += moved.ravel()
                parts.add(where, (moved * self._inside[at]).ravel(), displaced=True)
        for where, weight, displaced in zip(
            parts.where, parts.weight, parts.displaced, strict=True
        ):
            if not displaced:
                self._expected_extra.reshape(-1)[where] += weight

        out: list[Incident] = []
        drawn: list[IntArray] = []
        if m:
            cum = self._standing_cum[hw]
            count = int(self._rng.poisson(cum[-1])) if cum[-1] > 0 else 0
            if count:
                found = np.searchsorted(cum, self._rng.random(count) * cum[-1], side="right")
                flat = np.minimum(found, cum.size - 1)
                keep = self._rng.random(count) < self._kept_share(flat, hw, patrol)
                drawn.append(flat[keep])
        totals = np.array([float(w.sum()) for w in parts.weight])
        total = float(totals.sum())
        count = int(self._rng.poisson(total)) if total > 0 else 0
        if count:
            x = self._rng.random(count) * total
            pick = self._rng.random(count)
            drawn.append(self._place(x, pick, totals, parts))
        flat = np.concatenate(drawn) if drawn else np.empty(0, dtype=np.int64)
        if flat.size:
            times = hour + self._rng.random(flat.size)
            for f, when in zip(flat.tolist(), times.tolist(), strict=True):
                p, cell = divmod(f, n)
                k = self._order[p]
                out.append(self._offence(k, self._type_specs[k], cell, when, hod))
        out.sort(key=lambda i: i.t_occurred_h)
        if hod == 0 and hour > 0:
            self._pop.daily_update(self._presence_day, self._victims_day)
            self._presence_day[:] = 0.0
            self._victims_day[:] = 0.0
        return out

    def _kept_share(self, flat: IntArray, hw: int, patrol: FloatArray) -> FloatArray:
        """Share of the standing rate at ``flat`` (type row x cells + cell) left by patrols.

        The standing rate of a cell is its base rate under standing guardianship
        plus what is displaced into it; patrols deter the first part only.
        """
        n = self._t.n_cells
        p, cell = np.divmod(flat, n)
        cum = self._standing_cum[hw]
        standing = cum[flat] - np.where(flat > 0, cum[flat - 1], 0.0)
        delta = self._deterrence[p]
        own = self._rate0[p, hw, cell] * np.exp(-delta * self._static_guard[cell])
        lost = own * (1.0 - np.exp(-delta * patrol[cell]))
        share: FloatArray = np.where(
            standing > 0, 1.0 - lost / np.where(standing > 0, standing, 1.0), 0.0
        )
        return share

    def _place(
        self, x: FloatArray, pick: FloatArray, totals: FloatArray, parts: _HourParts
    ) -> IntArray:
        """Flat indices (type row x cells + cell) of the offences at running sums ``x``."""
        n = self._t.n_cells
        bounds = np.cumsum(totals)
        part = np.minimum(np.searchsorted(bounds, x, side="right"), totals.size - 1)
        x = x - (bounds - totals)[part]
        flat = np.empty(x.size, dtype=np.int64)
        for k, (where, weight, displaced) in enumerate(
            zip(parts.where, parts.weight, parts.displaced, strict=True)
        ):
            sel = part == k
            if not sel.any():
                continue
            found = where[_search(np.cumsum(weight), x[sel])]
            if displaced:  # the offence happens in one of the source's neighbours
                row, cell = np.divmod(found, n)
                inside = self._inside[cell]
                slot = np.minimum((pick[sel] * inside).astype(np.int64), inside - 1)
                found = row * n + self._compact[cell, slot]
            flat[sel] = found
        return flat

    def _trigger_near_repeat(self, cell: int) -> None:
        """Add the risk a burglary triggers: rate = triggered x share / tau at first."""
        nr = self.spec.near_repeat
        t = self._t
        tau_h = nr.decay_days * 24.0
        grid = self._near_repeat.reshape(t.ny, t.nx)
        j, i = divmod(cell, t.nx)
        j0, j1, i0, i1 = max(j - 1, 0), min(j + 2, t.ny), max(i - 1, 0), min(i + 2, t.nx)
        neighbours = (j1 - j0) * (i1 - i0) - 1
        if neighbours > 0:
            grid[j0:j1, i0:i1] += nr.triggered * (1 - nr.same_cell_share) / neighbours / tau_h
            grid[j, i] -= nr.triggered * (1 - nr.same_cell_share) / neighbours / tau_h
            grid[j, i] += nr.triggered * nr.same_cell_share / tau_h
            if self._off_land is not None:  # the spill-over onto cells off land is lost
                grid[j0:j1, i0:i1] *= self._land_grid[j0:j1, i0:i1]
        else:
            grid[j, i] += nr.triggered / tau_h

    def _offence(self, k: int, ts: CrimeTypeSpec, cell: int, when: float, hod: int) -> Incident:
        t, pop, rng = self._t, self._pop, self._rng
        draws = rng.random(9).tolist()
        u_local, u_pick, u_detect, u_report, u_delay, u_resp, u_arrest, u_follow, u_scene = draws
        jitter = (rng.random(2) - 0.5).tolist()
        start, stop = pop.residents_of(cell)
        victim = -1
        if ts.victim != "none" and pop.size > 0:
            if stop > start and (ts.victim == "household" or u_local < 0.5):
                victim = start + int(u_pick * (stop - start)) % (stop - start)
            else:
                victim = int(u_pick * pop.size) % pop.size
        seen = self.spec.detection.patrol * float(
            self._presence_hour[:, cell].sum()
        ) + self.spec.detection.cctv * float(self.cctv_effective[cell])
        p_detect = 1.0 - np.exp(-ts.visibility * seen)
        if u_detect < p_detect:
            known = Known.DETECTED
            reported_at = when
            needs_unit = True
        else:
            if victim >= 0:
                p_report = pop.reporting_probability(victim, ts.report_prob)
            else:
                p_report = ts.report_prob
            if u_report < p_report:
                known = Known.REPORTED
                delay = -np.log1p(-u_delay) * ts.report_delay_min / 60.0
                reported_at = when + float(delay)
                needs_unit = u_resp < ts.response_share
            else:
                known = Known.DARK
                reported_at = when
                needs_unit = False
        if victim >= 0:
            pop.victimise(victim)
            self._victims_day[cell] += 1.0
        if ts.near_repeat:
            self._trigger_near_repeat(cell)
        return Incident(
            incident_id=self._new_id(),
            kind=IncidentKind.OFFENCE,
            type=self.types[k],
            priority=ts.priority,
            cell=cell,
            district=int(t.district[cell]),
            commune=int(t.commune[cell]),
            x_m=float(t.x_m[cell] + jitter[0] * t.cell_m),
            y_m=float(t.y_m[cell] + jitter[1] * t.cell_m),
            t_occurred_h=when,
            t_reported_h=reported_at,
            on_scene_h=ts.on_scene_mean_min / 60.0 * float(-np.log1p(-u_scene)),
            follow_up_h=ts.follow_up_min / 60.0 if u_follow < ts.follow_up_prob else 0.0,
            arrest=bool(u_arrest < ts.arrest_prob),
            known=known,
            needs_response=needs_unit,
            resident=victim,
            outcome=Outcome.OPEN
            if needs_unit
            else (Outcome.DARK if known is Known.DARK else Outcome.RECORDED),
        )
