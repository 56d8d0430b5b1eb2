"""The crime engine: offences by routine activity theory, and how they become known.

Each hour, for each offence type, the expected number of offences in a cell is

    rate0[type, hour of week, cell] x exp(-deterrence[type] x G[cell]) (+ displacement)

* ``rate0`` is computed once per run: suitable targets present (people,
  visitors, empty dwellings, night venues) x motivated offenders within reach
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
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from simulator.agencies import Agency
from simulator.citizens import HOURS_PER_WEEK, Occupancy, Population
from simulator.incidents import Incident, IncidentKind, Known, Outcome
from simulator.scenario.schema import CctvSpec, CrimeSpec, CrimeTypeSpec
from simulator.territory import Territory

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
HOURS_PER_YEAR = 8760.0
_ATTRACTIVENESS_KEY = 71  # spawn key of the territory's attractiveness stream
# Below this exponent exp(-x) is exactly 1.0 in double precision (the first double
# under 1 is 1 - 2^-53), with a wide margin for the last-bit error of exp: a cell
# whose guardianship times deterrence is smaller keeps its rate bit for bit.
_NEGLIGIBLE_EXPONENT = 2.0**-70
# The eight neighbours in scipy.ndimage.correlate's order (row-major over the 3 x 3
# kernel), so that sums built from them add up in the same order, to the same bits.
_NEIGHBOUR_OFFSETS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


def neighbour_sum(grid: FloatArray, nx: int, ny: int, radius: int = 1) -> FloatArray:
    """Sum over the (2r+1)^2 square around each cell, the cell itself excluded."""
    if radius <= 0 or grid.size == 1:
        return np.zeros_like(grid)
    kernel = np.ones((2 * radius + 1, 2 * radius + 1))
    kernel[radius, radius] = 0.0
    box = ndimage.correlate(grid.reshape(ny, nx), kernel, mode="constant", cval=0.0)
    return np.asarray(box.ravel(), dtype=grid.dtype)


def displacement_targets(nx: int, ny: int) -> IntArray:
    """For each cell ``j`` and kernel position ``o``, the cell whose o-th neighbour is ``j``.

    Row ``j`` lists, in the order of ``_NEIGHBOUR_OFFSETS``, the cells ``j - offset``
    (-1 outside the grid): adding a value of ``j`` to them position by position gives
    each cell the sum over its eight neighbours in :func:`neighbour_sum`'s order.
    """
    j, i = np.divmod(np.arange(nx * ny, dtype=np.int64), nx)
    out = np.full((nx * ny, len(_NEIGHBOUR_OFFSETS)), -1, dtype=np.int64)
    for o, (dj, di) in enumerate(_NEIGHBOUR_OFFSETS):
        tj, ti = j - dj, i - di
        ok = (tj >= 0) & (tj < ny) & (ti >= 0) & (ti < nx)
        out[ok, o] = tj[ok] * nx + ti[ok]
    return out


def _attractiveness(territory: Territory, spec: CrimeSpec) -> FloatArray:
    """Heavy-tailed attractiveness of each cell, a property of the territory.

    Drawn from the territory's seed so that every run on the same city sees the
    same hot spots.
    """
    rng = np.random.default_rng(np.random.SeedSequence([territory.seed, _ATTRACTIVENESS_KEY]))
    base = rng.lognormal(0.0, spec.attractiveness_sigma, size=territory.n_cells)
    factor = np.array([spec.district_factors.get(dt, 1.0) for dt in territory.district_types])
    values: FloatArray = base * factor[territory.district]
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
    eligible = np.flatnonzero([t.district_types[d] in kinds for d in t.district])
    if eligible.size == 0:
        eligible = np.arange(t.n_cells)
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
        occupancy: Expected presence per hour of the week.
        agencies: The placed agencies (for guardianship strengths by kind).
        rng: The crime stream.
        new_id: Gives the next incident id.
    """

    def __init__(
        self,
        spec: CrimeSpec,
        cctv: CctvSpec,
        territory: Territory,
        population: Population,
        occupancy: Occupancy,
        agencies: Sequence[Agency],
        rng: np.random.Generator,
        new_id: Callable[[], int],
    ):
        self._t = territory
        self._pop = population
        self._occupancy = occupancy
        self._rng = rng
        self._new_id = new_id
        n = territory.n_cells
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
        # Where guardianship deters, the deterred share goes to the neighbours.
        self._targets = (
            displacement_targets(territory.nx, territory.ny)
            if territory.kind != "point"
            else np.empty((n, 0), dtype=np.int64)
        )
        self._scratch = np.zeros(n)
        # The expected offences (sum of hourly rates, for tests) are kept as the hours
        # of each hour of the week, times the base rates, plus what changed them.
        self._hours_seen = np.zeros(HOURS_PER_WEEK)
        self._expected_extra = np.zeros((len(self.types), n))
        self._configure(spec, cctv, agencies)
        self._markets = self._place_markets()

    def reconfigure(self, spec: CrimeSpec, cctv: CctvSpec, agencies: Sequence[Agency]) -> None:
        """Put changed crime, CCTV and agency settings in force (a policy change).

        Markets, near-repeat risk and residual deterrence carry over.
        """
        if list(spec.types) != self.types:
            raise ValueError("offence types cannot change during a run")
        self._configure(spec, cctv, agencies)

    def _configure(self, spec: CrimeSpec, cctv: CctvSpec, agencies: Sequence[Agency]) -> None:
        territory, population = self._t, self._pop
        n = territory.n_cells
        rebuild = not hasattr(self, "_rate0") or (
            spec.types != self.spec.types
            or spec.attractiveness_sigma != self.spec.attractiveness_sigma
            or spec.district_factors != self.spec.district_factors
            or spec.offender_range_cells != self.spec.offender_range_cells
        )
        self.spec = spec
        self._type_specs: list[CrimeTypeSpec] = [spec.types[k] for k in self.types]
        if rebuild:
            if hasattr(self, "_rate0"):  # bank the expectation of the old base rates
                self._expected_extra += self._expected_base()
                self._hours_seen[:] = 0.0
            self.attractiveness = _attractiveness(territory, spec)
            self._rate0 = self._base_rates(self._occupancy)
            self._base_cum, self._base_total = self._cumulative_rates()
        self._state_rows = [i for i, a in enumerate(agencies) if a.level == "state"]
        strengths = spec.guardianship.model_dump()
        self._agency_strength = np.array([strengths[a.kind.value] for a in agencies])
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
                if t.target == "market"
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

    # ----------------------------------------------------------------- set-up

    def _base_rates(self, occ: Occupancy) -> NDArray[np.float32]:
        t = self._t
        radius = self.spec.offender_range_cells
        reach = np.empty_like(occ.offenders)
        for hw in range(HOURS_PER_WEEK):
            row = occ.offenders[hw].astype(float)
            reach[hw] = row + neighbour_sum(row, t.nx, t.ny, radius)
        residents = float(t.residents.sum())
        rates = np.zeros((len(self._type_specs), HOURS_PER_WEEK, t.n_cells), dtype=np.float32)
        targets = {
            "people": occ.people,
            "visitors": occ.visitors,
            "dwellings": occ.away,
            "night": occ.night,
        }
        for k, ts in enumerate(self._type_specs):
            if ts.target == "market":
                continue
            profile = np.tile(np.asarray(ts.hourly_profile, dtype=float), 7)[:, None]
            w = targets[ts.target] * reach * self.attractiveness[None, :] * profile
            total = w.sum()
            per_week = ts.rate_per_1000 * residents / 1000.0 * HOURS_PER_WEEK / HOURS_PER_YEAR
            if total > 0:
                rates[k] = w * (per_week / total)
        return rates

    def _cumulative_rates(self) -> tuple[dict[int, FloatArray], dict[int, FloatArray]]:
        """Running sums and totals of the base rates, per type and hour of the week.

        An hour where nothing deters or adds to a type draws straight from these,
        to the same bits as summing the rates of that hour.
        """
        cum: dict[int, FloatArray] = {}
        total: dict[int, FloatArray] = {}
        for k, ts in enumerate(self._type_specs):
            if ts.target == "market":
                continue
            rows = self._rate0[k].astype(float)
            cum[k] = np.cumsum(rows, axis=1)
            total[k] = rows.sum(axis=1)
        return cum, total

    def _expected_base(self) -> FloatArray:
        out = np.zeros((len(self.types), self._t.n_cells))
        for k in self._base_cum:
            out[k] = self._hours_seen @ self._rate0[k].astype(float)
        return out

    @property
    def expected(self) -> FloatArray:
        """Expected offences by type and cell so far: the hourly rates summed over the hours."""
        return self._expected_base() + self._expected_extra

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
        rows = self._state_rows
        presence = self._presence_hour
        new: list[_Market] = []
        for m in self._markets:
            enforcement = 0.0
            for r in rows:  # in row order, as a sum over the rows would add them
                enforcement += float(presence[r, m.cell])
            if rows and enforcement > 0:
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
            if (di or dj) and 0 <= i + di < t.nx and 0 <= j + dj < t.ny
        ]
        return options[int(self._rng.integers(len(options)))] if options else cell

    def offences_in_hour(self, hour: int) -> list[Incident]:
        """Draw the offences of [hour, hour + 1) and decide how each becomes known.

        Only the cells where something changes a type's base rate this hour are
        computed (guarded cells, their neighbours for displacement, near-repeat
        cells, drug markets): everywhere else the rate is the base rate, whose
        running sums are precomputed per hour of the week. The draws are those
        of summing every cell's rate: a Poisson count, then one uniform per
        offence located on the running sum of the rates.
        """
        t = self._t
        hw = hour % HOURS_PER_WEEK
        hod = hour % 24
        self._update_markets(hour)
        guard = self._static_guard + self._agency_strength @ self._effective
        self._near_repeat *= self._nr_decay
        self._hours_seen[hw] += 1.0
        d_max = max((ts.deterrence for ts in self._type_specs), default=0.0)
        guarded = (
            np.flatnonzero(guard > _NEGLIGIBLE_EXPONENT / d_max)
            if d_max > 0
            else np.empty(0, dtype=np.int64)
        )
        guard_at = guard[guarded]
        market = np.zeros(t.n_cells)
        for m in self._markets:
            market[m.cell] += m.intensity
        market_cells = np.unique(np.array([m.cell for m in self._markets], dtype=np.int64))
        n_markets0 = max(1, self.spec.drug_markets.count)
        share = self.spec.displacement_share
        displace = share > 0 and t.kind != "point"
        out: list[Incident] = []
        for k, ts in enumerate(self._type_specs):
            is_market = ts.target == "market"
            scale = self._market_rate[k] * self._profile[k, hod]

            def base(cells: IntArray) -> FloatArray:
                if is_market:  # noqa: B023 (used within the iteration only)
                    return np.asarray(scale * market[cells] / n_markets0)  # noqa: B023
                rates: FloatArray = self._rate0[k, hw, cells].astype(float)  # noqa: B023
                return rates

            cells_g = guarded if ts.deterrence > 0 else guarded[:0]
            factor_g = np.exp(-ts.deterrence * guard_at[: cells_g.size])
            parts = [cells_g]
            if displace and cells_g.size:
                base_g = base(cells_g)
                targets, sums = self._displaced(cells_g, base_g - base_g * factor_g)
                parts.append(targets)
            if ts.near_repeat:
                parts.append(np.flatnonzero(self._near_repeat))
            if is_market:
                parts.append(market_cells)
            where = np.unique(np.concatenate(parts)) if len(parts) > 1 else cells_g
            rate0 = base(where)
            factor = np.ones(where.size)
            factor[np.searchsorted(where, cells_g)] = factor_g
            rate = rate0 * factor
            if displace:
                moved = np.zeros(where.size)
                if cells_g.size:
                    moved[np.searchsorted(where, targets)] = sums
                rate = rate + share * moved / 8.0
            if ts.near_repeat:
                rate = rate + self._near_repeat[where] * factor
            change = rate if is_market else rate - rate0
            self._expected_extra[k, where] += change
            total = float(change.sum()) + (0.0 if is_market else float(self._base_total[k][hw]))
            n = int(self._rng.poisson(total)) if total > 0 else 0
            if n == 0:
                continue
            cum = None if is_market else self._base_cum[k][hw]
            cells = self._locate(self._rng.random(n), cum, where, change)
            times = hour + self._rng.random(n)
            for cell, when in zip(cells, times, strict=True):
                out.append(self._offence(k, ts, int(cell), float(when), hod))
        out.sort(key=lambda i: i.t_occurred_h)
        if hod == 0 and hour > 0:
            self._pop.daily_update(self._presence_day, self._victims_day)
            self._presence_day[:] = 0.0
            self._victims_day[:] = 0.0
        return out

    def _displaced(self, cells: IntArray, deterred: FloatArray) -> tuple[IntArray, FloatArray]:
        """Sum over its eight neighbours of what is deterred, for the cells next to ``cells``.

        Adds position by position of the kernel, so that each sum has the order,
        and the bits, of :func:`neighbour_sum` over the whole grid.
        """
        targets = self._targets[cells]
        acc = self._scratch
        for o in range(targets.shape[1]):
            column = targets[:, o]
            ok = column >= 0
            acc[column[ok]] += deterred[ok]
        where = np.unique(targets[targets >= 0])
        sums = acc[where].copy()
        acc[where] = 0.0
        return where, sums

    def _locate(
        self, u: FloatArray, cum: FloatArray | None, where: IntArray, change: FloatArray
    ) -> IntArray:
        """Cells of offences: each uniform ``u`` located on the running sum of the rates.

        The rates are the base rates (running sum ``cum``; ``None``: zero) plus
        ``change`` at the sorted cells ``where``; the cell is the first whose running
        sum exceeds ``u`` times the total, as ``searchsorted`` on the whole sum.
        """
        last = self._t.n_cells - 1
        if where.size == 0:
            assert cum is not None
            found: IntArray = np.minimum(np.searchsorted(cum, u * cum[-1], side="right"), last)
            return found
        step = np.cumsum(change)
        if cum is None:
            x = u * step[-1]
            index = np.minimum(np.searchsorted(step, x, side="right"), where.size - 1)
            picked: IntArray = where[index]
            return picked
        x = u * (cum[-1] + step[-1])
        # Segment s covers cells [starts[s], ends[s]): the base running sum plus offset[s].
        starts = np.concatenate(([0], where))
        ends = np.concatenate((where, [last + 1]))
        offset = np.concatenate(([0.0], step))
        at_end = np.where(ends > starts, cum[ends - 1] + offset, offset)
        segment = np.minimum(
            np.searchsorted(np.maximum.accumulate(at_end), x, side="right"), where.size
        )
        cells = np.searchsorted(cum, x - offset[segment], side="right")
        located: IntArray = np.minimum(np.clip(cells, starts[segment], ends[segment] - 1), last)
        return located

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
        else:
            grid[j, i] += nr.triggered / tau_h

    def _offence(self, k: int, ts: CrimeTypeSpec, cell: int, when: float, hod: int) -> Incident:
        t, pop, rng = self._t, self._pop, self._rng
        draws = rng.random(9)
        u_local, u_pick, u_detect, u_report, u_delay, u_resp, u_arrest, u_follow, u_scene = draws
        jitter = rng.random(2) - 0.5
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
