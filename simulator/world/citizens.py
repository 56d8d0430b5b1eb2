"""Residents as individuals, stored as arrays (one entry per resident).

Every resident has a home cell, an activity pattern, a place of work or study,
trust in the police, a propensity to report, fear of crime, a victimisation
history, citizen-watch membership and, for a few, a propensity to offend.

Where people are at each hour of the week follows from their pattern: a
pattern gives, for each hour, the probability of being at home, at the place
of work or study, or out (shops, leisure, night venues). Occupancy per cell
and hour is the expectation of that, computed once per run from counts per
pattern and cell, so that an hour of simulation never touches every resident:
residents are touched only when something happens to them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulator.records.incidents import Incident
from simulator.scenario.schema import CitizensSpec, DistrictType
from simulator.world.territory import Territory

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

PATTERNS = ("worker", "student", "retiree", "night_worker", "unemployed")
HOURS_PER_WEEK = 168
# Relative propensity to offend by pattern (young and unemployed people are
# over-represented among offenders); rescaled to the scenario's offender share.
_OFFENDER_WEIGHT = np.array([0.5, 2.0, 0.1, 1.0, 3.0])
# Distance scales of the journeys to work and to school (gravity model), metres.
_WORK_DISTANCE_M = 6000.0
_STUDY_DISTANCE_M = 1500.0


def _block(hours: range, value: float) -> FloatArray:
    out = np.zeros(24)
    for h in hours:
        out[h % 24] = value
    return out


def _schedules() -> FloatArray:
    """Probability of being at (home, work or study, out) by pattern, day kind and hour.

    Shape (patterns, 2, 24, 3): day kind 0 is Monday to Friday, 1 is the weekend.
    Assumed daily rhythms in the spirit of time-use surveys (INSEE Enquête Emploi
    du temps), documented in docs/ODD.md.
    """
    sched = np.zeros((len(PATTERNS), 2, 24, 3))
    evening_out = _block(range(18, 23), 0.25)
    weekend_out = _block(range(10, 19), 0.4) + _block(range(19, 24), 0.25)
    # worker
    sched[0, 0, :, 1] = _block(range(8, 17), 0.85) + _block(range(7, 8), 0.4)
    sched[0, 0, :, 2] = _block(range(8, 17), 0.08) + evening_out
    sched[0, 1, :, 2] = weekend_out
    # student
    sched[1, 0, :, 1] = _block(range(8, 17), 0.8)
    sched[1, 0, :, 2] = _block(range(17, 20), 0.35) + _block(range(20, 24), 0.2)
    sched[1, 1, :, 2] = weekend_out + _block(range(0, 2), 0.2)
    # retiree
    sched[2, :, :, 2] = _block(range(9, 12), 0.3) + _block(range(14, 18), 0.3)
    # night worker: works 21:00 to 05:00, sleeps in the morning
    sched[3, 0, :, 1] = _block(range(21, 29), 0.85)
    sched[3, 0, :, 2] = _block(range(15, 19), 0.3)
    sched[3, 1, :, 2] = weekend_out
    # unemployed
    sched[4, :, :, 2] = _block(range(10, 20), 0.35) + _block(range(20, 24), 0.25)
    sched[..., 0] = 1.0 - sched[..., 1] - sched[..., 2]
    return sched


SCHEDULES = _schedules()


@dataclass(frozen=True, eq=False)
class Occupancy:
    """Expected number of people per hour of the week (168) and cell.

    Attributes:
        people: Everyone present (residents at home, workers, visitors).
        away: Residents whose home is in the cell and who are away (empty homes).
        visitors: People out (shopping, leisure) in the cell.
        night: People out at night-time venues.
        offenders: Motivated offenders present.
    """

    people: NDArray[np.float32]
    away: NDArray[np.float32]
    visitors: NDArray[np.float32]
    night: NDArray[np.float32]
    offenders: NDArray[np.float32]


class Population:
    """The residents of a territory, as a struct of arrays.

    Residents are sorted by home cell, so the residents of cell ``c`` are the
    indices ``first[c]`` to ``first[c + 1] - 1``.

    Args:
        spec: The citizens block of the scenario.
        territory: Where they live.
        rng: The stream used to draw their attributes.
    """

    def __init__(self, spec: CitizensSpec, territory: Territory, rng: np.random.Generator):
        self.spec = spec
        self._territory = territory
        t = territory
        counts = t.residents
        self.first = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        n = int(counts.sum())
        self.home = np.repeat(np.arange(t.n_cells, dtype=np.int32), counts)
        shares = np.array([getattr(spec.patterns, p) for p in PATTERNS])
        self.pattern = rng.choice(len(PATTERNS), size=n, p=shares / shares.sum()).astype(np.int8)
        self.place = self._places(rng)
        # A trailing False answers for district -1 (off land, where nobody lives).
        qpv = np.array([dt is DistrictType.QPV for dt in t.district_types] + [False])[t.district]
        mean = spec.trust_mean + spec.qpv_trust_shift * qpv[self.home]
        self.trust0 = np.clip(rng.normal(mean, spec.trust_sd), 0.01, 0.99).astype(np.float32)
        self.trust = self.trust0.copy()
        self.report_propensity = rng.lognormal(-0.045, 0.3, size=n).astype(np.float32)
        self.fear = np.full(n, spec.fear_initial, dtype=np.float32)
        self.victimisations = np.zeros(n, dtype=np.int16)
        self.watch = rng.random(n) < spec.watch_share
        weight = _OFFENDER_WEIGHT[self.pattern]
        p_offend = np.minimum(1.0, spec.offender_share * weight / max(weight.mean(), 1e-12))
        self.offender = rng.random(n) < p_offend

    @property
    def size(self) -> int:
        """Number of residents."""
        return int(self.home.size)

    def _places(self, rng: np.random.Generator) -> NDArray[np.int32]:
        """Place of work (workers, night workers) or study (students); home otherwise.

        A gravity model: the chance of a cell falls with distance from the home
        district's centre, times its jobs (work) or residents (school).
        """
        t = self._territory
        place = self.home.copy()
        district, land = t.district[t.land], t.land
        cells = np.maximum(np.bincount(district, minlength=t.n_districts), 1)
        centres_x = np.bincount(district, weights=t.x_m[land], minlength=t.n_districts) / cells
        centres_y = np.bincount(district, weights=t.y_m[land], minlength=t.n_districts) / cells
        home_district = t.district[self.home]
        for patterns, mass, scale in (
            ((0, 3), t.jobs.astype(float), _WORK_DISTANCE_M),
            ((1,), t.residents.astype(float), _STUDY_DISTANCE_M),
        ):
            movers = np.flatnonzero(np.isin(self.pattern, patterns))
            if movers.size == 0 or mass.sum() <= 0:
                continue
            by_district = home_district[movers]
            for d in np.unique(by_district):
                who = movers[by_district == d]
                dist = np.hypot(t.x_m - centres_x[d], t.y_m - centres_y[d])
                w = mass * np.exp(-dist / scale)
                if w.sum() <= 0:
                    continue
                cum = np.cumsum(w)
                cells = np.searchsorted(cum, rng.random(who.size) * cum[-1], side="right")
                place[who] = np.minimum(cells, t.n_cells - 1)
        return place

    def residents_of(self, cell: int) -> tuple[int, int]:
        """Index range [start, stop) of the residents living in ``cell``."""
        return int(self.first[cell]), int(self.first[cell + 1])

    def occupancy(self) -> Occupancy:
        """Expected presence per hour of the week and cell (see the module docstring)."""
        t = self._territory
        n_cells = t.n_cells
        home_counts = np.zeros((len(PATTERNS), n_cells))
        place_counts = np.zeros((len(PATTERNS), n_cells))
        off_home = np.zeros((len(PATTERNS), n_cells))
        off_place = np.zeros((len(PATTERNS), n_cells))
        for p in range(len(PATTERNS)):
            mask = self.pattern == p
            home_counts[p] = np.bincount(self.home[mask], minlength=n_cells)
            place_counts[p] = np.bincount(self.place[mask], minlength=n_cells)
            om = mask & self.offender
            off_home[p] = np.bincount(self.home[om], minlength=n_cells)
            off_place[p] = np.bincount(self.place[om], minlength=n_cells)
        out_total = np.array([home_counts[p].sum() for p in range(len(PATTERNS))])
        off_out_total = off_home.sum(axis=1)

        shops = t.commercial / max(t.commercial.sum(), 1e-12)
        venues = t.night / max(t.night.sum(), 1e-12)
        local = t.residents / max(float(t.residents.sum()), 1e-12)
        shape = (HOURS_PER_WEEK, n_cells)
        people = np.zeros(shape, dtype=np.float32)
        away = np.zeros(shape, dtype=np.float32)
        visitors = np.zeros(shape, dtype=np.float32)
        night = np.zeros(shape, dtype=np.float32)
        offenders = np.zeros(shape, dtype=np.float32)
        for hw in range(HOURS_PER_WEEK):
            day, hour = divmod(hw, 24)
            kind = 1 if day >= 5 else 0
            s = SCHEDULES[:, kind, hour, :]  # (patterns, 3)
            at_night = hour >= 20 or hour < 4
            # Where people who are out go: shops by day, night venues in the evening,
            # and a share stays in the neighbourhood (parks, friends).
            night_share = 0.6 if at_night else 0.05
            dest = (
                (1 - night_share) * 0.7 * shops
                + night_share * venues
                + 0.3 * local * (1 - night_share)
            )
            dest = dest / dest.sum()
            out_people = float(out_total @ s[:, 2])
            people[hw] = s[:, 0] @ home_counts + s[:, 1] @ place_counts + out_people * dest
            away[hw] = (1.0 - s[:, 0]) @ home_counts
            visitors[hw] = out_people * dest
            night[hw] = out_people * night_share * venues
            off_out = float(off_out_total @ s[:, 2])
            offenders[hw] = s[:, 0] @ off_home + s[:, 1] @ off_place + off_out * dest
        return Occupancy(people, away, visitors, night, offenders)

    def reconfigure(self, spec: CitizensSpec, rng: np.random.Generator) -> None:
        """Changed citizen settings: a watch scheme grows or shrinks to its new share."""
        share_changed = spec.watch_share != self.spec.watch_share
        self.spec = spec
        if not share_changed:
            return
        target = round(spec.watch_share * self.size)
        members = np.flatnonzero(self.watch)
        if target > members.size:
            others = np.flatnonzero(~self.watch)
            self.watch[rng.choice(others, size=target - members.size, replace=False)] = True
        elif target < members.size:
            self.watch[rng.choice(members, size=members.size - target, replace=False)] = False

    # ----------------------------------------------------------------- experience

    def reporting_probability(self, resident: int, base: float) -> float:
        """Chance that ``resident`` reports an offence whose base probability is ``base``.

        Trust scales it (0.5 is neutral), the individual propensity too, and
        watch members add a bonus.
        """
        p = base * (0.5 + float(self.trust[resident])) * float(self.report_propensity[resident])
        if self.watch[resident]:
            p += self.spec.watch_report_bonus
        return min(1.0, max(0.0, p))

    def victimise(self, resident: int) -> None:
        """Record a victimisation: history, trust and fear move."""
        self.victimisations[resident] += 1
        self.trust[resident] *= 1.0 - self.spec.trust_victim_loss
        f = self.fear[resident]
        self.fear[resident] = f + self.spec.fear_victim_gain * (1.0 - f)

    def experience_response(self, resident: int, response_h: float | None, target_h: float) -> None:
        """Trust moves with the police response the resident got (None: nobody came)."""
        s = self.spec
        tr = self.trust[resident]
        if response_h is None:
            self.trust[resident] = tr * (1.0 - s.trust_unanswered_loss)
        elif response_h <= target_h:
            self.trust[resident] = tr + s.trust_fast_gain * (1.0 - tr)
        elif response_h > 2.0 * target_h:
            self.trust[resident] = tr * (1.0 - s.trust_slow_loss)

    def daily_update(self, presence_by_cell: FloatArray, victims_by_cell: FloatArray) -> None:
        """Once a day: presence raises trust, offences near home raise fear; both relax.

        Trust relaxes towards each resident's initial value, fear decays towards 0.
        """
        s = self.spec
        # Residents are stored cell by cell (``home`` is sorted), so a per-cell value
        # repeated by cell counts equals it gathered through ``home``: computing per
        # cell and repeating gives the same floats for a fraction of the work.
        counts = np.diff(self.first)
        seen = presence_by_cell.astype(np.float32)
        gain = np.repeat(np.minimum(1.0, s.trust_presence_gain * seen), counts)
        self.trust += gain * (1.0 - self.trust)
        self.trust += s.trust_recovery_per_day * (self.trust0 - self.trust)
        nearby = victims_by_cell.astype(np.float32)
        worry = np.repeat(1.0 - (1.0 - s.fear_neighbourhood_gain) ** nearby, counts)
        self.fear += worry * (1.0 - self.fear)
        self.fear *= 1.0 - s.fear_decay_per_day


class ResponseExperience:
    """Turns what dispatch did for a caller or victim into a change of their trust.

    Args:
        population: The residents.
        target_h: Response target by priority (priority 1 first), hours.
    """

    def __init__(self, population: Population, target_h: list[float]):
        self._pop = population
        self._target_h = target_h

    def arrived(self, incident: Incident) -> None:
        """A unit reached the incident: fast raises trust, slow lowers it."""
        if incident.resident >= 0 and incident.t_arrived_h is not None:
            target = self._target_h[min(incident.priority, len(self._target_h)) - 1]
            self._pop.experience_response(
                incident.resident, incident.t_arrived_h - incident.t_reported_h, target
            )

    def unanswered(self, incident: Incident) -> None:
        """Nobody came: trust falls."""
        if incident.resident >= 0:
            self._pop.experience_response(incident.resident, None, 0.0)

    def pick_callers(self, cells: IntArray, rng: np.random.Generator) -> IntArray:
        """A caller for each call: mostly a resident of the cell, else anyone."""
        pop = self._pop
        u = rng.random((cells.size, 2))
        start = pop.first[cells]
        count = pop.first[cells + 1] - start
        local = start + np.floor(u[:, 1] * np.maximum(count, 1)).astype(np.int64)
        anyone = np.floor(u[:, 1] * max(pop.size, 1)).astype(np.int64)
        use_local = (u[:, 0] < 0.7) & (count > 0)
        callers = np.where(use_local, local, anyone)
        return callers if pop.size > 0 else np.full(cells.size, -1, dtype=np.int64)
