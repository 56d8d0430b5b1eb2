"""The named vocabulary of where people are: activity patterns, routines, locations, targets.

Everything here is data, keyed by name, so that the scenario schema can check a
name against it (with a did-you-mean) and the models read a definition by name,
never an array by position:

* an :class:`ActivityPattern` is the share of a population present, by hour of
  the week (weekdays and weekends may differ);
* a :class:`Routine` is how a kind of resident spends the week (``worker``,
  ``student``...): patterns of being at the place of work or study and of being
  out, the rest of the time at home;
* a :class:`Location` is where calls for service of a type arise, a sum of
  layers of the activity model (:mod:`simulator.world.activity`);
* a :class:`Target` is what an offence type preys on, one layer of the
  activity model (or the drug markets).

Adding a location or a target is one entry here (plus a layer in
:mod:`simulator.world.activity` if it needs a new one). The figures are
assumptions in the spirit of time-use surveys (INSEE Enquête Emploi du temps),
documented in docs/ODD.md sections 7.3 and 7.9.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
HOURS_PER_DAY = 24
HOURS_PER_WEEK = 168
HOURS_PER_YEAR = 365 * HOURS_PER_DAY  # a year of 365 days, as every rate "a year" means
WEEKDAYS = 5  # Monday to Friday; Saturday and Sunday are the weekend


def _curve(values: Iterable[float]) -> tuple[float, ...]:
    out = tuple(float(v) for v in values)
    if len(out) != HOURS_PER_DAY:
        raise ValueError(f"an hourly curve needs {HOURS_PER_DAY} values, got {len(out)}")
    return out


def _blocks(*blocks: tuple[range, float]) -> tuple[float, ...]:
    """A curve that is ``value`` over each block of hours (past 24 wraps to the morning)."""
    out = np.zeros(HOURS_PER_DAY)
    for hours, value in blocks:
        for h in hours:
            out[h % HOURS_PER_DAY] += value
    return _curve(out.tolist())


@dataclass(frozen=True)
class ActivityPattern:
    """Share of a population present, by hour of the day, on weekdays and at weekends.

    Attributes:
        description: What the pattern describes.
        weekday: 24 shares, 00:00 first, Monday to Friday.
        weekend: 24 shares for Saturday and Sunday (``None``: as on weekdays).
    """

    description: str
    weekday: tuple[float, ...]
    weekend: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        _curve(self.weekday)
        if self.weekend is not None:
            _curve(self.weekend)

    def by_hour_of_week(self) -> FloatArray:
        """The 168 shares of the week, Monday 00:00 first."""
        weekend = self.weekday if self.weekend is None else self.weekend
        week: FloatArray = np.array(self.weekday * WEEKDAYS + weekend * 2, dtype=float)
        return week


# Presence of the territory's stocks by hour: residents at home, jobs occupied,
# shop visitors, night-time economy visitors (assumed curves, the same every day).
PATTERNS: Mapping[str, ActivityPattern] = MappingProxyType(
    {
        "at_home": ActivityPattern(
            "residents at home",
            _curve(
                [0.97] * 6 + [0.9, 0.7, 0.5] + [0.45] * 8 + [0.55, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95]
            ),
        ),
        "at_work": ActivityPattern(
            "jobs occupied",
            _curve(
                [0.05] * 6 + [0.15, 0.4, 0.8] + [0.9] * 8 + [0.6, 0.3, 0.15, 0.1, 0.08, 0.06, 0.05]
            ),
        ),
        "shopping": ActivityPattern(
            "shops and services open and visited",
            _curve(
                [0.0] * 7
                + [0.1, 0.3, 0.6, 0.8, 0.9, 0.9, 0.85, 0.85, 0.9, 0.95, 1.0, 0.9, 0.6, 0.3]
                + [0.1, 0.0, 0.0]
            ),
        ),
        "night_out": ActivityPattern(
            "night-time economy (bars, clubs, restaurants) visited",
            _curve([0.8, 0.6, 0.4, 0.2, 0.05, 0.0] + [0.0] * 12 + [0.1, 0.2, 0.35, 0.5, 0.8, 0.9]),
        ),
    }
)


@dataclass(frozen=True)
class Routine:
    """How a kind of resident spends the week; at home whenever not at the place or out.

    Attributes:
        description: Who follows it.
        place: Where the place of work or study is drawn: near ``jobs`` (work),
            near ``residents`` (school), or the ``home`` itself.
        at_place: Probability of being at the place of work or study.
        out: Probability of being out (shops, leisure, night venues).
        offender_weight: Relative propensity to offend (young and unemployed
            people are over-represented among offenders), rescaled to the
            scenario's offender share.
    """

    description: str
    place: Literal["jobs", "residents", "home"]
    at_place: ActivityPattern
    out: ActivityPattern
    offender_weight: float


_NOWHERE = _blocks()
_EVENING_OUT = ((range(18, 23), 0.25),)
_WEEKEND_OUT = ((range(10, 19), 0.4), (range(19, 24), 0.25))

# The order is the order of the draw of each resident's routine (it fixes which
# resident gets which routine for a seed): append new routines at the end.
ROUTINES: Mapping[str, Routine] = MappingProxyType(
    {
        "worker": Routine(
            "works by day at a place of work",
            "jobs",
            ActivityPattern("at work", _blocks((range(8, 17), 0.85), (range(7, 8), 0.4)), _NOWHERE),
            ActivityPattern(
                "out", _blocks((range(8, 17), 0.08), *_EVENING_OUT), _blocks(*_WEEKEND_OUT)
            ),
            0.5,
        ),
        "student": Routine(
            "studies by day near home",
            "residents",
            ActivityPattern("at school", _blocks((range(8, 17), 0.8)), _NOWHERE),
            ActivityPattern(
                "out",
                _blocks((range(17, 20), 0.35), (range(20, 24), 0.2)),
                _blocks(*_WEEKEND_OUT, (range(0, 2), 0.2)),
            ),
            2.0,
        ),
        "retiree": Routine(
            "mostly at home, out in the morning and afternoon",
            "home",
            ActivityPattern("nowhere else", _NOWHERE),
            ActivityPattern("out", _blocks((range(9, 12), 0.3), (range(14, 18), 0.3))),
            0.1,
        ),
        "night_worker": Routine(
            "works 21:00 to 05:00 on weekday nights, sleeps in the morning",
            "jobs",
            ActivityPattern("at work", _blocks((range(21, 29), 0.85)), _NOWHERE),
            ActivityPattern("out", _blocks((range(15, 19), 0.3)), _blocks(*_WEEKEND_OUT)),
            1.0,
        ),
        "unemployed": Routine(
            "no fixed place of work",
            "home",
            ActivityPattern("nowhere else", _NOWHERE),
            ActivityPattern("out", _blocks((range(10, 20), 0.35), (range(20, 24), 0.25))),
            3.0,
        ),
    }
)


@dataclass(frozen=True)
class Location:
    """Where calls for service of a type arise: the sum of named layers at each hour.

    Attributes:
        description: For the scenario reference.
        layers: Layers of the activity model (or stocks the call generator
            supplies, such as ``sites``), summed in this order.
        fallback: Stocks of the activity model (unweighted by hour) used at an
            hour when the layers hold nobody anywhere, so that calls still
            follow where the activity is rather than vanish.
    """

    description: str
    layers: tuple[str, ...]
    fallback: tuple[str, ...] = ()


LOCATIONS: Mapping[str, Location] = MappingProxyType(
    {
        "ambient": Location("where people are at that hour", ("at_home", "active", "night_out")),
        "residents": Location("at home", ("at_home",)),
        "activity": Location("jobs and shops", ("active",), ("jobs", "commercial")),
        "night": Location("night-time economy", ("night_out",), ("night",)),
        "sites": Location("private security's contracted sites, e.g. intrusion alarms", ("sites",)),
    }
)


@dataclass(frozen=True)
class Target:
    """What an offence type preys on.

    Attributes:
        description: For the scenario reference.
        layer: The layer of the activity model whose presence makes suitable
            targets; ``None``: the type follows the activity of drug markets.
    """

    description: str
    layer: str | None

    @property
    def follows_markets(self) -> bool:
        """Whether offences of this target happen at drug markets, not where people are."""
        return self.layer is None


TARGETS: Mapping[str, Target] = MappingProxyType(
    {
        "people": Target("people present", "people"),
        "visitors": Target("visitors of shops and night venues", "visitors"),
        "dwellings": Target("dwellings left empty", "empty_homes"),
        "night": Target("night-time economy", "night_visitors"),
        "market": Target("drug market activity", None),
    }
)


def describe(registry: Mapping[str, Location] | Mapping[str, Target]) -> str:
    """The names of a registry with their descriptions, for the scenario reference."""
    return ", ".join(f"`{name}` ({entry.description})" for name, entry in registry.items())
