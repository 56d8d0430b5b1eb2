"""Residents as individuals, stored as arrays (one entry per resident).

Every resident has a home cell, a routine (``worker``, ``student``...: see
:data:`simulator.world.registries.ROUTINES`), a place of work or study, trust
in the police, a propensity to report, fear of crime, a victimisation history,
citizen-watch membership and, for a few, a propensity to offend.

Where residents are hour by hour follows from their routines, in the activity
model (:mod:`simulator.world.activity`): residents are touched only when
something happens to them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from simulator.records.incidents import Incident
from simulator.scenario.changes import RESIDENTS_DRAWN_ONCE
from simulator.scenario.schema import CitizensSpec, DistrictType, Scenario
from simulator.world import kernels
from simulator.world.registries import ROUTINES
from simulator.world.territory import Territory

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

# Distance scales of the journeys to work and to school (gravity model), metres.
_DISTANCE_M = {"jobs": 6000.0, "residents": 1500.0}


class Population:
    """The residents of a territory, as a struct of arrays.

    Residents are sorted by home cell, so the residents of cell ``c`` are the
    indices ``first[c]`` to ``first[c + 1] - 1``.

    Args:
        spec: The citizens block of the scenario.
        territory: Where they live.
        rng: The stream used to draw their attributes.
        watch_rng: The stream of later changes of the watch scheme (``rng`` if omitted).
    """

    READS: ClassVar[tuple[str, ...]] = ("citizens",)
    READS_ONCE: ClassVar[tuple[str, ...]] = RESIDENTS_DRAWN_ONCE

    def __init__(
        self,
        spec: CitizensSpec,
        territory: Territory,
        rng: np.random.Generator,
        *,
        watch_rng: np.random.Generator | None = None,
    ):
        self.spec = spec
        self._watch_rng = rng if watch_rng is None else watch_rng
        self._territory = territory
        t = territory
        counts = t.residents
        self.first = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        n = int(counts.sum())
        self.home = np.repeat(np.arange(t.n_cells, dtype=np.int32), counts)
        # Each resident's routine, as its position in ROUTINES.
        shares = np.array([getattr(spec.patterns, name) for name in ROUTINES])
        self.pattern = rng.choice(len(ROUTINES), size=n, p=shares / shares.sum()).astype(np.int8)
        self.place = self._places(rng)
        # A trailing False answers for district -1 (off land, where nobody lives).
        qpv = np.array([dt is DistrictType.QPV for dt in t.district_types] + [False])[t.district]
        mean = spec.trust_mean + spec.qpv_trust_shift * qpv[self.home]
        self.trust0 = np.clip(rng.normal(mean, spec.trust_sd), 0.01, 0.99).astype(np.float32)
        self.trust = self.trust0.copy()
        self.report_propensity = rng.lognormal(-0.045, 0.3, size=n).astype(np.float32)
        self.fear = np.full(n, spec.fear_initial, dtype=np.float32)
        self.victimisations = np.zeros(n, dtype=np.int16)
        self.victimised = 0  # residents victimised at least once so far
        self.watch = rng.random(n) < spec.watch_share
        weight = np.array([r.offender_weight for r in ROUTINES.values()])[self.pattern]
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
        # Each cell's distance from a district's centre, made once for work and school.
        distance: dict[int, FloatArray] = {}
        for drawn_near, stock in (("jobs", t.jobs), ("residents", t.residents)):
            moves = np.array([r.place == drawn_near for r in ROUTINES.values()])  # by routine
            mass, scale = stock.astype(float), _DISTANCE_M[drawn_near]
            movers = np.flatnonzero(moves[self.pattern])
            if movers.size == 0 or mass.sum() <= 0:
                continue
            # The movers of each home district in their order, districts ascending.
            by_district = home_district[movers]
            grouped = np.argsort(by_district, kind="stable")
            districts, starts = np.unique(by_district[grouped], return_index=True)
            ends = [*starts[1:].tolist(), grouped.size]
            for d, start, end in zip(districts.tolist(), starts.tolist(), ends, strict=True):
                who = movers[grouped[start:end]]
                dist = distance.get(d)
                if dist is None:
                    dist = distance[d] = np.hypot(t.x_m - centres_x[d], t.y_m - centres_y[d])
                w = mass * np.exp(-dist / scale)
                if w.sum() <= 0:
                    continue
                cum = np.cumsum(w)
                cells = np.searchsorted(cum, rng.random(who.size) * cum[-1], side="right")
                place[who] = np.minimum(cells, t.n_cells - 1)
        return place

    def reconfigure(self, scenario: Scenario, agencies: Sequence[object]) -> None:
        """Changed citizen settings: a watch scheme grows or shrinks to its new share.

        Members joining or leaving are drawn from a stream of their own, so that a
        change of the scheme leaves who calls the police as it was.
        """
        spec, rng = scenario.citizens, self._watch_rng
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

    def derived_settings(self) -> dict[str, Any]:
        """What the residents took from the settings (compared by the reconfiguration test).

        Who belongs to the watch scheme is drawn, not derived: at the start each
        resident joins with the share's probability, after a change the scheme grows
        or shrinks to the share exactly.
        """
        return {"spec": self.spec}

    # ----------------------------------------------------------------- experience

    # A victim's chance of reporting (base x (0.5 + trust) x propensity, + the watch
    # bonus) and what a victimisation does to their trust and fear are worked out in
    # the crime engine's compiled loop over the hour's offences
    # (simulator.crime.kernels.offences), on these arrays.

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
        # What presence adds to trust and offences nearby to fear, by cell (every
        # resident of a cell alike), in float32 like the residents' values.
        seen = presence_by_cell.astype(np.float32)
        gain = np.minimum(1.0, s.trust_presence_gain * seen)
        nearby = victims_by_cell.astype(np.float32)
        worry = 1.0 - (1.0 - s.fear_neighbourhood_gain) ** nearby
        kernels.daily_update(
            self.first,
            gain,
            worry,
            self.trust,
            self.trust0,
            self.fear,
            np.float32(s.trust_recovery_per_day),
            np.float32(1.0 - s.fear_decay_per_day),
        )


class ResponseExperience:
    """Turns what dispatch did for a caller or victim into a change of their trust.

    Args:
        population: The residents.
        target_h: Response target by priority (priority 1 first), hours.
    """

    READS: ClassVar[tuple[str, ...]] = ("dispatch.response_target_min",)
    READS_ONCE: ClassVar[tuple[str, ...]] = ()

    def __init__(self, population: Population, target_h: list[float]):
        self._pop = population
        self._target_h = target_h
        # The residents' first index by cell, seen from Python: an item is a Python int.
        self._first: memoryview[int] = memoryview(population.first)

    @classmethod
    def of(cls, scenario: Scenario, population: Population) -> ResponseExperience:
        """The experience of ``population`` under the scenario's response targets."""
        return cls(population, _targets_h(scenario))

    def reconfigure(self, scenario: Scenario, agencies: Sequence[object]) -> None:
        """Changed response targets."""
        self._target_h = _targets_h(scenario)

    def derived_settings(self) -> dict[str, Any]:
        """The response targets in force, hours (compared by the reconfiguration test)."""
        return {"target_h": list(self._target_h)}

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

    def pick_callers(self, cells: Sequence[int], rng: np.random.Generator) -> list[int]:
        """A caller for each call in ``cells``: mostly a resident of the cell, else anyone.

        Returns:
            Each caller's index into the population (-1 if there is nobody).
        """
        pop = self._pop
        u = rng.random((len(cells), 2))
        size = pop.size
        if size == 0:
            return [-1] * len(cells)
        # A few calls an hour: Python numbers cost less than a dozen numpy calls, and
        # give the same callers (the same double products, floored).
        first = self._first
        callers = []
        for (u_local, u_who), cell in zip(u.tolist(), cells, strict=True):
            start = first[cell]
            count = first[cell + 1] - start
            if u_local < 0.7 and count > 0:
                callers.append(start + math.floor(u_who * count))
            else:
                callers.append(math.floor(u_who * size))
        return callers


def _targets_h(scenario: Scenario) -> list[float]:
    return [m / 60.0 for m in scenario.dispatch.response_target_min]
