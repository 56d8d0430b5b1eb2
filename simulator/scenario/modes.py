"""Unit modes: how a crew moves (car, foot, bicycle, motorbike) and how visible it is.

A mode is data: its speeds and travel parameters, and the weight of its presence
as guardianship. Each parameter left out takes the scenario's ``travel`` value,
so ``car`` (every parameter left out) is the travel model of the scenario as it
was before modes existed. A scenario may declare further modes (``modes:``) and
give each agency its mode (``agencies.<id>.mode``).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

PosFloat = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
NonNegFloat = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]


class ModeSpec(BaseModel):
    """How crews of a mode travel, and how much their presence deters."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    speed_kmh: list[PosFloat] | None = Field(
        None,
        min_length=1,
        description="Speed to a call by priority (priority 1 first; the last value applies "
        "to lower priorities), km/h; default: travel.speed_kmh.",
    )
    patrol_speed_kmh: PosFloat | None = Field(
        None, description="Speed on patrol, km/h; default: travel.patrol_speed_kmh."
    )
    congestion: bool = Field(
        True, description="Slowed by road congestion (travel.congestion) at busy hours."
    )
    circuity: Annotated[float, Field(ge=1.0, le=3.0)] | None = Field(
        None, description="Path distance over straight-line distance; default: travel.circuity."
    )
    turnout_min: NonNegFloat | None = Field(
        None,
        description="Time to get moving once dispatched, minutes; default: travel.turnout_min.",
    )
    presence: NonNegFloat = Field(
        1.0,
        description="Weight of an hour of its presence as guardianship, relative to a patrol "
        "car (multiplies the agency's guardianship capability).",
    )


# The one table of built-in modes. A car is the scenario's own travel block; the
# others are assumptions where no source is named.
BUILTIN_MODES: dict[str, ModeSpec] = {
    "car": ModeSpec(),
    # Assumption: a motorbike goes at a car's speeds but filters through traffic, so
    # congestion does not slow it (the Toulouse municipal motorcycle brigade's 6-14 min
    # responses, EVIDENCE A1.6, are of the same order as cars').
    "motorbike": ModeSpec(congestion=False),
    # Urban cycling ~15 km/h (assumption, typical commuting speed), ~12 km/h on patrol;
    # not held up by congestion. Presence: assumption, more visible than a car.
    "bicycle": ModeSpec(speed_kmh=[15.0], patrol_speed_kmh=12.0, congestion=False, presence=1.2),
    # Walking ~5 km/h (comfortable gait 1.3-1.5 m/s, Bohannon 1997, Age and Ageing
    # 26(1)), ~3 km/h on a beat (assumption). Presence: assumption, after the
    # Philadelphia foot patrol experiment (Ratcliffe et al. 2011, Criminology 49(3)),
    # where foot beats cut violence in hot spots more than car patrol did.
    "foot": ModeSpec(speed_kmh=[5.0], patrol_speed_kmh=3.0, congestion=False, presence=1.5),
}

DEFAULT_MODE = "car"


def known_modes(declared: dict[str, ModeSpec]) -> list[str]:
    """Every mode a scenario may name: the built-in ones, then its own."""
    return [*BUILTIN_MODES, *(m for m in declared if m not in BUILTIN_MODES)]
