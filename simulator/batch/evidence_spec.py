"""The ``evidence:`` block of an experiment file: a published effect and its target.

An experiment of ``experiments/evidence/`` reproduces a published design on a
scenario. Its ``evidence:`` block names the source, groups offence types (which
are violent, which are property: data, not code), names places (the cells a
patrol targets, the ring around them...), and lists the estimates to compute
from the runs, each with the range the literature puts it in. ``secsim
evidence`` reads it (:mod:`simulator.evidence`); ``secsim batch`` runs such a
file as any experiment.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from simulator.scenario.schema import Frozen

# What each kind of estimate needs besides a label (checked at load).
ESTIMATE_NEEDS: dict[str, tuple[str, ...]] = {
    "elasticity": ("arm", "dose"),
    "elasticity_gap": ("arm", "dose"),
    "change": ("arm",),
    "share": ("place",),
    "difference": ("arm", "output"),
    "displacement_quotient": ("arm", "place", "over"),
    "flattening": ("arms",),
    "near_repeat": ("offences",),
    "pairing": ("arm",),
}


class TargetRange(Frozen):
    """The range a published estimate puts the effect in; an open end is omitted."""

    low: float | None = Field(None, description="Lowest value in range (none: no bound).")
    high: float | None = Field(None, description="Highest value in range (none: no bound).")

    @model_validator(mode="after")
    def _bounded(self) -> TargetRange:
        if self.low is None and self.high is None:
            raise ValueError("give low, high or both")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError("low must not be above high")
        return self

    def holds(self, value: float) -> bool:
        """Whether ``value`` lies in the range (ends included)."""
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def text(self) -> str:
        """The range as a reader writes it."""
        if self.low is None:
            return f"<= {self.high:g}"
        if self.high is None:
            return f">= {self.low:g}"
        return f"[{self.low:g}, {self.high:g}]"


class QuickSpec(Frozen):
    """The short version run by ``secsim evidence --quick`` (and the test suite)."""

    replicates: int = Field(2, ge=2, le=1000, description="Replicates per arm.")
    days: int = Field(7, ge=1, description="Days counted per run.")
    warmup_days: int = Field(1, ge=0, description="Warm-up days per run.")


class PlaceSpec(Frozen):
    """A set of cells where offences are counted.

    ``patrolled``: the cells the agency's patrol strategy visits in the arm's
    scenario (read from the built model, so they are the ones it patrols);
    ``ring``: the cells at ``distance_cells`` (Chebyshev, in cells) of a place,
    not in it; ``sites``: the agency's contracted sites; ``cctv``: cells in view
    of cameras.
    """

    kind: Literal["patrolled", "ring", "sites", "cctv"]
    agency: str | None = Field(None, description="The agency (patrolled, sites).")
    arm: str | None = Field(
        None, description="The arm whose scenario gives the cells (default: the reference)."
    )
    around: str | None = Field(None, description="The place a ring surrounds.")
    distance_cells: tuple[int, int] = Field(
        (1, 2), description="Nearest and farthest distance of a ring, in cells."
    )

    @model_validator(mode="after")
    def _complete(self) -> PlaceSpec:
        if self.kind in ("patrolled", "sites") and self.agency is None:
            raise ValueError(f"a {self.kind} place needs agency")
        if self.kind == "ring" and self.around is None:
            raise ValueError("a ring needs around: the place it surrounds")
        # A saved experiment holds distance_cells at its default on every place.
        if self.kind != "ring" and (self.around is not None or self.distance_cells != (1, 2)):
            raise ValueError("around and distance_cells belong to a ring place only")
        if self.kind in ("ring", "cctv") and self.agency is not None:
            raise ValueError(f"a {self.kind} place takes no agency")
        near, far = self.distance_cells
        if not 1 <= near <= far:
            raise ValueError("distance_cells: [nearest, farthest] with 1 <= nearest <= farthest")
        return self


class EstimateSpec(Frozen):
    """One estimate computed from the runs, with its target range (if any)."""

    kind: Literal[
        "elasticity",
        "elasticity_gap",
        "change",
        "share",
        "difference",
        "displacement_quotient",
        "flattening",
        "near_repeat",
        "pairing",
    ] = Field(
        description="`elasticity`: log ratio of offences over log ratio of `dose` between "
        "`arm` and the reference; `elasticity_gap`: that of the first group of `offences` "
        "minus that of the second; `change`: relative change of offences; `share`: the "
        "share of the offences of `arm` (default: the reference) that happen in `place`; "
        "`difference`: "
        "paired difference of a summary `output`; `displacement_quotient`: change in `place` "
        "over change in `over` (Bowers and Johnson's WDQ); `flattening`: the change from "
        "`arms[1]` to `arms[2]` as a share of the change from `arms[0]` to `arms[1]`; "
        "`near_repeat`: Knox ratios of the reference arm's offences by time band; `pairing`: "
        "width of the paired interval of the difference in offences between `arm` and the "
        "reference over the unpaired one's."
    )
    label: str = Field(min_length=1, description="What the estimate is, for the report.")
    arm: str | None = Field(None, description="The treated arm.")
    reference: str | None = Field(None, description="Compared with (default: the reference).")
    arms: list[str] | None = Field(
        None, description="flattening: the short, middle and long arms.", min_length=3, max_length=3
    )
    offences: str | list[str] = Field(
        "all", description="`all`, a group name or offence type; elasticity_gap: two of them."
    )
    only: Literal["actual", "recorded", "arrested"] = Field(
        "actual",
        description="Count every offence, the recorded ones, or those whose offender was "
        "arrested on scene (the incidents' arrest column; later clearances not counted).",
    )
    place: str | None = Field(None, description="Count only in this place's cells.")
    over: str | None = Field(None, description="displacement_quotient: the target place.")
    dose: str | None = Field(None, description="elasticity: the summary key of the input.")
    output: str | None = Field(None, description="difference: a summary key.")
    bands_days: list[float] = Field(
        [0, 7, 14, 30, 60], min_length=2, description="near_repeat: time bands, days."
    )
    target: TargetRange | None = Field(
        None, description="The published range (none: a prediction)."
    )
    note: str = Field("", description="What a reader should know about this estimate.")

    @model_validator(mode="after")
    def _needs(self) -> EstimateSpec:
        missing = [k for k in ESTIMATE_NEEDS[self.kind] if getattr(self, k) is None]
        if missing:
            raise ValueError(f"a {self.kind} estimate needs {', '.join(missing)}")
        if self.kind == "elasticity_gap" and not (
            isinstance(self.offences, list) and len(self.offences) == 2
        ):
            raise ValueError("an elasticity_gap compares two groups: offences: [first, second]")
        if self.kind != "elasticity_gap" and isinstance(self.offences, list):
            raise ValueError("offences names one group or type here (a list: elasticity_gap)")
        return self

    def offence_names(self) -> list[str]:
        """The groups or types named."""
        return self.offences if isinstance(self.offences, list) else [self.offences]


class EvidenceSpec(Frozen):
    """A published design reproduced on a scenario, and what to compare with it."""

    title: str = Field(min_length=1, description="The design, as a section title.")
    source: str = Field(min_length=1, description="Authors, year, title, journal.")
    design: str = Field("", description="How the published design is reproduced here.")
    tuned: bool = Field(
        True,
        description="Whether the model's behaviour is set to meet these targets (false: "
        "predictions of effects it is not tuned to).",
    )
    groups: dict[str, list[str]] = Field(
        default_factory=dict, description="Groups of offence types, by name."
    )
    places: dict[str, PlaceSpec] = Field(default_factory=dict, description="Places, by name.")
    estimates: dict[str, EstimateSpec] = Field(
        min_length=1, description="The estimates, by identifier."
    )
    quick: QuickSpec = Field(default_factory=QuickSpec)
