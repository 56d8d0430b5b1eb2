"""Travel times: how long a unit takes to get somewhere.

A travel model is a small strategy object (response times, the same for a few
distances as floats, patrol times), so that a road graph can replace the
default without touching dispatch or patrol.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from simulator.scenario.modes import ModeSpec
from simulator.scenario.schema import TravelSpec

FloatArray = NDArray[np.float64]


class TravelModel(Protocol):
    """Turns straight-line distances into travel times."""

    def response_h(self, distance_m: FloatArray, hour: int, priority: int) -> FloatArray:
        """Hours from dispatch to arrival on scene, for each distance."""
        ...

    def response_times_h(
        self, distance_m: Sequence[float], hour: int, priority: int
    ) -> list[float]:
        """What :meth:`response_h` gives, to the last bit, for a few distances as floats.

        The dispatcher asks for a dozen units at a time, where building arrays
        would cost more than the arithmetic.
        """
        ...

    def patrol_h(self, distance_m: float, hour: int) -> float:
        """Hours to drive ``distance_m`` at patrol speed."""
        ...


class CircuityTravel:
    """Turnout time plus circuity x distance over a speed set by hour and priority.

    Network distance is approximated by a circuity factor on the straight line
    (Ballou, Rahardja and Sakai 2002, Transportation Research A 36(9)); speed
    depends on the priority (lights and siren for urgent calls) and on the hour
    of the day (congestion).

    Args:
        spec: The scenario's travel block.
        mode: The crews' mode; each parameter it leaves out is the travel block's
            (``None``, or the ``car`` mode: the travel block as it is).
    """

    def __init__(self, spec: TravelSpec, mode: ModeSpec | None = None):
        mode = mode or ModeSpec()
        self._circuity = spec.circuity if mode.circuity is None else mode.circuity
        congestion = np.asarray(spec.congestion, dtype=float) if mode.congestion else np.ones(24)
        # metres per hour, by priority then hour of day
        kmh = spec.speed_kmh if mode.speed_kmh is None else mode.speed_kmh
        speeds = np.asarray(kmh, dtype=float) * 1000.0
        self._speed = speeds[:, None] * congestion[None, :]
        # The same speeds as Python floats: dispatch reads one for each call.
        self._speed_rows: list[list[float]] = self._speed.tolist()
        patrol = spec.patrol_speed_kmh if mode.patrol_speed_kmh is None else mode.patrol_speed_kmh
        # Python floats: a patrol leg asks for one speed, and a list is cheaper to index.
        self._patrol: list[float] = (patrol * 1000.0 * congestion).tolist()
        turnout = spec.turnout_min if mode.turnout_min is None else mode.turnout_min
        self._turnout_h = turnout / 60.0

    def response_h(self, distance_m: FloatArray, hour: int, priority: int) -> FloatArray:
        """Hours from dispatch to arrival: turnout plus driving."""
        rows = self._speed_rows
        speed = rows[min(priority, len(rows)) - 1][hour % 24]
        if speed <= 0:
            return np.full_like(distance_m, np.inf, dtype=float)
        times: FloatArray = self._turnout_h + self._circuity * distance_m / speed
        return times

    def response_times_h(
        self, distance_m: Sequence[float], hour: int, priority: int
    ) -> list[float]:
        """Hours from dispatch to arrival for each distance, as :meth:`response_h` computes them.

        The same operations in the same order on the same doubles, so the same
        results to the last bit, without numpy's cost for a few values.
        """
        rows = self._speed_rows
        speed = rows[min(priority, len(rows)) - 1][hour % 24]
        if speed <= 0:
            return [math.inf] * len(distance_m)
        turnout = self._turnout_h
        circuity = self._circuity
        return [turnout + circuity * d / speed for d in distance_m]

    def patrol_speeds(self) -> tuple[float, list[float]]:
        """The circuity and the patrol speed by hour (metres an hour), as patrol_h reads them."""
        return self._circuity, list(self._patrol)

    def patrol_h(self, distance_m: float, hour: int) -> float:
        """Hours of cruising at patrol speed."""
        speed = self._patrol[hour % 24]
        return float("inf") if speed <= 0 else self._circuity * distance_m / speed


def distances_m(xs: FloatArray, ys: FloatArray, x: float, y: float) -> FloatArray:
    """Straight-line distances from many points to one."""
    return np.hypot(xs - x, ys - y)
