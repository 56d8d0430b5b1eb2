"""The activity model: where people are, by hour of the week and cell.

One model, shared by the call generator (:mod:`simulator.world.demand`) and the
crime engine (:mod:`simulator.crime.engine`), made of *layers* keyed by name.
Each layer is an expected number of people (or a weight) per hour of the week
and cell:

* layers from the territory's stocks (residents, jobs, shops, night-time
  economy) times a named activity pattern
  (:data:`simulator.world.registries.PATTERNS`): ``at_home`` (residents at
  home), ``active`` (jobs occupied plus shop visitors), ``night_out``
  (night-time economy visitors). Call locations are sums of these.
* layers from the residents' routines
  (:data:`simulator.world.registries.ROUTINES`): a routine gives, for each
  hour, the probability of being at home, at the place of work or study, or
  out (shops, leisure, night venues). ``people`` (everyone present),
  ``empty_homes`` (residents away from home, counted at home), ``visitors``
  (people out), ``night_visitors`` (people out at night venues) and
  ``offenders`` (motivated offenders present) are the expectation of that,
  computed once per run from counts per routine and cell, so that an hour of
  simulation never touches every resident. Offence targets are these layers.

Call locations (:data:`~simulator.world.registries.LOCATIONS`) and offence
targets (:data:`~simulator.world.registries.TARGETS`) name the layers they
weigh; the model reads them by name, never by position.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cached_property
from types import MappingProxyType

import numpy as np
from numpy.typing import NDArray

from simulator.world.citizens import Population
from simulator.world.registries import (
    HOURS_PER_DAY,
    HOURS_PER_WEEK,
    PATTERNS,
    ROUTINES,
    Location,
)
from simulator.world.territory import Territory

FloatArray = NDArray[np.float64]
Float32Array = NDArray[np.float32]
IntArray = NDArray[np.int64]

# Layers from the territory's stocks: (stock, activity pattern) terms, summed in order.
STOCK_LAYERS: Mapping[str, tuple[tuple[str, str], ...]] = MappingProxyType(
    {
        "at_home": (("residents", "at_home"),),
        "active": (("jobs", "at_work"), ("commercial", "shopping")),
        "night_out": (("night", "night_out"),),
    }
)
# Layers from the residents' routines (computed together, see _whereabouts).
ROUTINE_LAYERS = ("people", "empty_homes", "visitors", "night_visitors", "offenders")

# Where residents who are out go: shops by day, night venues in the evening
# (share NIGHT_SHARE from 20:00 to 03:59, DAY_NIGHT_SHARE otherwise), and a
# share stays in the neighbourhood (parks, friends). Assumptions, docs/ODD.md 7.9.
_NIGHT_SHARE = 0.6
_DAY_NIGHT_SHARE = 0.05
_NIGHT_FROM, _NIGHT_UNTIL = 20, 4


class ActivityModel:
    """Where people are, by hour of the week and cell, as layers keyed by name.

    Args:
        territory: The territory (its residents, jobs, shops and night-time economy).
        population: Its residents, whose routines place them hour by hour.
    """

    def __init__(self, territory: Territory, population: Population):
        self.territory = territory
        self._population = population
        t = territory
        self._stocks: dict[str, FloatArray] = {
            "residents": t.residents.astype(float),
            "jobs": t.jobs.astype(float),
            "commercial": t.commercial.astype(float),
            "night": t.night.astype(float),
        }
        self._patterns = {name: p.by_hour_of_week() for name, p in PATTERNS.items()}

    @property
    def layers(self) -> tuple[str, ...]:
        """The names of every layer."""
        return (*STOCK_LAYERS, *ROUTINE_LAYERS)

    def stock(self, name: str) -> FloatArray:
        """A stock of the territory (``residents``, ``jobs``, ``commercial``, ``night``)."""
        return self._stocks[name]

    def presence(self, layer: str, hour_of_week: int) -> FloatArray:
        """Layer ``layer`` at one hour of the week, one value per cell."""
        terms = STOCK_LAYERS.get(layer)
        if terms is None:
            row: FloatArray = self._whereabouts[layer][hour_of_week].astype(float)
            return row
        (stock, pattern), *rest = terms
        total: FloatArray = self._stocks[stock] * self._patterns[pattern][hour_of_week]
        for stock, pattern in rest:
            total = total + self._stocks[stock] * self._patterns[pattern][hour_of_week]
        return total

    def week(self, layer: str) -> Float32Array:
        """Layer ``layer`` over the whole week: hours of the week x cells (single precision)."""
        if layer in STOCK_LAYERS:
            return np.array(
                [self.presence(layer, hw) for hw in range(HOURS_PER_WEEK)], dtype=np.float32
            )
        return self._whereabouts[layer]

    def hour_classes(self, layers: Iterable[str]) -> tuple[IntArray, IntArray]:
        """Group the hours of the week at which ``layers`` take the same values.

        Layers from stocks repeat wherever their patterns repeat (every day, for
        today's patterns), so a user of them needs one row per distinct hour,
        not 168. Names that are no layer (a stock the caller supplies) are
        constant in time.

        Returns:
            The class of each of the 168 hours, and one hour of each class.
        """
        rows = []
        for layer in layers:
            if layer in STOCK_LAYERS:
                rows += [self._patterns[p] for _, p in STOCK_LAYERS[layer]]
            elif layer in ROUTINE_LAYERS:
                rows.append(np.arange(HOURS_PER_WEEK, dtype=float))
        if not rows:
            return np.zeros(HOURS_PER_WEEK, dtype=np.int64), np.zeros(1, dtype=np.int64)
        _, first, inverse = np.unique(
            np.array(rows).T, axis=0, return_index=True, return_inverse=True
        )
        return inverse.astype(np.int64).ravel(), first.astype(np.int64)

    def location_weights(
        self, location: Location, hour_of_week: int, supplied: Mapping[str, FloatArray]
    ) -> FloatArray:
        """Weight of each cell for calls at ``location`` at an hour of the week.

        Args:
            location: The location's definition.
            hour_of_week: 0 is Monday 00:00.
            supplied: Stocks the caller supplies by name (``sites``).
        """

        def term(name: str) -> FloatArray:
            return supplied[name] if name in supplied else self.presence(name, hour_of_week)

        first, *rest = location.layers
        total = term(first)
        for name in rest:
            total = total + term(name)
        if location.fallback and not total.sum() > 0:
            first, *rest = location.fallback
            total = self._stocks[first]
            for name in rest:
                total = total + self._stocks[name]
        return total

    @cached_property
    def _whereabouts(self) -> dict[str, Float32Array]:
        """The layers from the residents' routines (see the module docstring)."""
        t, pop = self.territory, self._population
        n_cells = t.n_cells
        n_routines = len(ROUTINES)
        # (routines, hours of the week, at home / at the place / out)
        schedule = np.zeros((n_routines, HOURS_PER_WEEK, 3))
        for p, routine in enumerate(ROUTINES.values()):
            schedule[p, :, 1] = routine.at_place.by_hour_of_week()
            schedule[p, :, 2] = routine.out.by_hour_of_week()
        schedule[..., 0] = 1.0 - schedule[..., 1] - schedule[..., 2]

        # Residents and offenders by routine and cell (home, place): one count each
        # over routine x cells, the same integers as a count per routine.
        by_routine = pop.pattern.astype(np.int64) * n_cells
        at_home, at_place = by_routine + pop.home, by_routine + pop.place
        size = n_routines * n_cells
        home_counts = (
            np.bincount(at_home, minlength=size).reshape(n_routines, n_cells).astype(float)
        )
        place_counts = (
            np.bincount(at_place, minlength=size).reshape(n_routines, n_cells).astype(float)
        )
        off_home = np.bincount(at_home[pop.offender], minlength=size).reshape(n_routines, n_cells)
        off_place = np.bincount(at_place[pop.offender], minlength=size).reshape(n_routines, n_cells)
        off_home, off_place = off_home.astype(float), off_place.astype(float)
        out_total = np.array([home_counts[p].sum() for p in range(n_routines)])
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
        # Where people who are out go, by share at night venues (two shares): made once.
        dests: dict[float, FloatArray] = {}
        # An hour whose schedule and share are those of an hour done takes its rows.
        done: dict[tuple[bytes, float], int] = {}
        for hw in range(HOURS_PER_WEEK):
            hour = hw % HOURS_PER_DAY
            s = schedule[:, hw, :]  # (routines, 3)
            at_night = hour >= _NIGHT_FROM or hour < _NIGHT_UNTIL
            night_share = _NIGHT_SHARE if at_night else _DAY_NIGHT_SHARE
            same = done.setdefault((s.tobytes(), night_share), hw)
            if same != hw:
                for layer in (people, away, visitors, night, offenders):
                    layer[hw] = layer[same]
                continue
            if night_share not in dests:
                dest = (
                    (1 - night_share) * 0.7 * shops
                    + night_share * venues
                    + 0.3 * local * (1 - night_share)
                )
                dests[night_share] = dest / dest.sum()
            dest = dests[night_share]
            out_people = float(out_total @ s[:, 2])
            people[hw] = s[:, 0] @ home_counts + s[:, 1] @ place_counts + out_people * dest
            away[hw] = (1.0 - s[:, 0]) @ home_counts
            visitors[hw] = out_people * dest
            night[hw] = out_people * night_share * venues
            off_out = float(off_out_total @ s[:, 2])
            offenders[hw] = s[:, 0] @ off_home + s[:, 1] @ off_place + off_out * dest
        return {
            "people": people,
            "empty_homes": away,
            "visitors": visitors,
            "night_visitors": night,
            "offenders": offenders,
        }
