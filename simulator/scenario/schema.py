"""The scenario language: frozen, validated descriptions of a run.

Every setting the model reads is declared here, once, with its unit in its name
(``budget_eur``, ``mean_min``, ``rate_per_hour``, ``cell_m``), a description and
a default where one makes sense. The model never sees YAML: it receives a
:class:`Scenario`, which cannot be changed after it is built.

Checks that involve one field live here as pydantic constraints; checks that
relate several parts of a scenario (a competence names an agency that exists, a
municipal police names a commune of the territory) live in
:mod:`simulator.scenario.checks`, so that every problem gets a precise path.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import UnionType
from typing import Annotated, Any, Literal, Self, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from simulator.dispatch.registry import DEFAULT_POLICY, POLICIES
from simulator.scenario.errors import Problem, did_you_mean_hint
from simulator.scenario.kinds import BUILTIN_KINDS, Capabilities, CapabilityOverrides, resolve
from simulator.scenario.modes import BUILTIN_MODES, DEFAULT_MODE, ModeSpec
from simulator.scenario.patrols import PATROL_STRATEGIES, strategies_help
from simulator.world.registries import LOCATIONS, TARGETS, describe

HOURS_PER_DAY = 24
# Seeds are written to the outputs as 64-bit integers (Parquet, JSON readers).
SEED_MAX = 2**63 - 1
# Rates far beyond any city's, refused: a run of them would take hours an hour, in
# compiled code that a stop signal reaches only between hours. (The shipped scenarios'
# highest: 330 opportunities per 1,000 residents a year, 70 direct calls, a few calls an
# hour; a metropolis of two million residents has about a hundred calls an hour.)
MAX_CALLS_PER_HOUR = 10_000
MAX_OPPORTUNITIES_PER_1000 = 100_000
MAX_DIRECT_CALLS_PER_1000 = 100_000
DAYS_PER_WEEK = 7

NonNegFloat = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
PosFloat = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
Share = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
# Euros a year (or an hour): at most a thousand billion, so that costs summed over
# officers, hours and agencies stay finite numbers (1e307 made them infinite).
Euros = Annotated[float, Field(ge=0.0, le=1e12, allow_inf_nan=False)]


def _in_registry(names: Collection[str], what: str) -> Callable[[str], str]:
    """A check that a string names an entry of a registry, with a did-you-mean if not.

    Args:
        names: The registry's names.
        what: What a name stands for (``location``), for the message.
    """
    allowed = list(names)

    def check(value: str) -> str:
        if value not in allowed:
            hint = did_you_mean_hint(value, allowed)
            raise ValueError(f"unknown {what}{hint}; the {what}s are: {', '.join(allowed)}")
        return value

    return check


# Names checked against the registries of simulator.world.registries, listed as an
# enum in the JSON schema so that editors offer them.
LocationName = Annotated[
    str,
    AfterValidator(_in_registry(LOCATIONS, "location")),
    WithJsonSchema({"enum": list(LOCATIONS), "type": "string"}),
]
TargetName = Annotated[
    str,
    AfterValidator(_in_registry(TARGETS, "target")),
    WithJsonSchema({"enum": list(TARGETS), "type": "string"}),
]


def _members(annotation: Any) -> list[Any]:
    """The types a field of this type may hold: unions flattened, ``Annotated`` stripped."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin in (Union, UnionType):
        return [m for a in get_args(annotation) for m in _members(a)]
    return [annotation]


def _takes_bool(annotation: Any) -> bool:
    """Whether a field of this type may hold true or false (bool, Any, or a union with bool)."""
    for member in _members(annotation):
        if member in (bool, Any, object) or isinstance(member, str):  # (str: left to pydantic)
            return True
        if get_origin(member) is Literal and any(isinstance(v, bool) for v in get_args(member)):
            return True
    return False


def _kind_of(annotation: Any) -> str:
    """What a field of this type holds, in words (for the message of a wrong value)."""
    kinds = set(_members(annotation)) - {type(None)}
    if kinds <= {int}:
        return "a whole number"
    if kinds <= {int, float}:
        return "a number"
    if kinds <= {str}:
        return "a text"
    return "another kind of value"


class Frozen(BaseModel):
    """Base of every scenario block: immutable, and unknown keys are errors.

    A number is never read from true or false (pydantic would take ``officers: true``
    for 1 officer): a field takes a boolean only if its type says so.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_boolean_for_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool) and info.field_name is not None:
            field = cls.model_fields.get(info.field_name)
            if field is not None and not _takes_bool(field.annotation):
                raise ValueError(f"expected {_kind_of(field.annotation)}, not {str(value).lower()}")
        return value


def _communes_as_text(value: object, everywhere: str) -> object:
    """Refuse commune codes written as numbers, and one commune not in a list, saying why.

    ``communes: [31555, 31149]`` gave two messages (not 'all', not a string) that did
    not say what to do. Not made text silently: a code such as 01053 would have lost
    its leading zero as a number. ``communes: nord`` gave two as well (not a list, not
    'all'). ``everywhere`` says how to mean every commune.
    """
    if isinstance(value, str) and value != everywhere:
        example = "[nord, centre]" if value == "all" else f"[{value}]"
        raise ValueError(
            f"communes is a list, e.g. communes: {example} ({everywhere} for every commune)"
        )
    if isinstance(value, list) and any(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value
    ):
        # (Not echoed: YAML reads 01053 as the octal 555, not as 1053.)
        raise ValueError(
            "commune names and codes are text: write each in quotes as you wrote it, e.g. "
            "['31555', '01053'] (unquoted, YAML reads a code as a number, and 01053 as 555)"
        )
    return value


class DistrictType(StrEnum):
    """The kinds of district (quartier) of the synthetic city (MODEL.md section 2)."""

    CITY_CENTRE = "city_centre"
    RESIDENTIAL = "residential"
    QPV = "qpv"  # quartier prioritaire de la politique de la ville
    COMMERCIAL = "commercial"
    NIGHTLIFE = "nightlife"
    TRANSIT_HUB = "transit_hub"
    INDUSTRIAL = "industrial"
    PERI_URBAN = "peri_urban"


def _normalised_profile(value: object, length: int, what: str) -> object:
    """Accept ``"flat"`` for a constant profile; otherwise check the length."""
    if value == "flat":
        return [1.0] * length
    if isinstance(value, list | tuple):
        if len(value) != length:
            raise ValueError(f"{what} needs exactly {length} values, got {len(value)}")
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            if any(v < 0 for v in value):
                raise ValueError(f"{what} values must be >= 0")
            if sum(value) <= 0:
                raise ValueError(f"{what} must have at least one positive value")
    return value


def _check_shares(values: list[float], what: str) -> list[float]:
    if not values:
        raise ValueError(f"{what} must not be empty")
    total = math.fsum(values)
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"{what} must sum to 1, got {total:.6g}")
    return values


# --------------------------------------------------------------------------- territory


class CommuneSpec(Frozen):
    """A commune of the territory: the central city or a suburb."""

    name: str = Field(min_length=1, description="Identifier of the commune, used by agencies.")
    role: Literal["central", "suburb"] = Field(
        "suburb", description="The central city sits in the middle; suburbs share the ring."
    )
    residents: int = Field(ge=0, description="Number of residents of the commune.")
    districts: int = Field(5, ge=1, le=200, description="Number of districts (quartiers).")


class LayerSpec(Frozen):
    """A file of geographic features and the attributes that hold each field."""

    path: str = Field(
        min_length=1,
        description="The file, relative to the scenario file that names it: GeoJSON (always), "
        "CSV of points (stations), GeoPackage or Shapefile (with the `gis` extra: "
        "pip install 'secsim[gis]').",
    )
    layer: str | None = Field(None, description="Layer to read inside a GeoPackage.")
    crs: str | None = Field(
        None,
        description="CRS of the coordinates when the file does not say, e.g. EPSG:4326 "
        "(the default for GeoJSON and CSV, as RFC 7946 requires) or EPSG:2154.",
    )


class CommuneLayerSpec(LayerSpec):
    """The communes: polygons with a code, a name and a population (required layer)."""

    id: str = Field("code_insee", description="Attribute holding the commune code.")
    name: str = Field("nom", description="Attribute holding the commune name.")
    population: str = Field("population", description="Attribute holding the number of residents.")
    jobs: str | None = Field(
        None,
        description="Attribute holding the number of jobs in the commune (default: "
        "territory.jobs_per_resident times the residents of the whole territory).",
    )


class DistrictLayerSpec(LayerSpec):
    """Sub-communal districts (e.g. INSEE grands quartiers, IRIS) with their population."""

    id: str = Field("code", description="Attribute holding the district code.")
    name: str | None = Field("nom", description="Attribute holding the district name.")
    commune: str | None = Field(
        None,
        description="Attribute holding the code of the district's commune (default: the "
        "commune where most of the district lies).",
    )
    population: str | None = Field(
        "population",
        description="Attribute holding the district's population (rescaled so that the "
        "districts of a commune sum to the commune's figure); none: shares by area.",
    )
    type: str | None = Field(
        None, description="Attribute holding a district type (e.g. city_centre), if any."
    )


class QpvLayerSpec(LayerSpec):
    """Priority neighbourhoods (QPV): carved out of the districts as districts of type qpv."""

    id: str = Field("code_qp", description="Attribute holding the QPV code.")
    name: str | None = Field("nom_qp", description="Attribute holding the QPV name.")
    population: str | None = Field(
        "population",
        description="Attribute holding the QPV's population (taken out of the districts it "
        "is carved from); none: its share of the district by area.",
    )


class StationLayerSpec(LayerSpec):
    """Police stations and other bases: points with a kind."""

    id: str = Field("station_id", description="Attribute holding the station identifier.")
    name: str | None = Field("name", description="Attribute holding the station's name.")
    kind: str = Field(
        "kind",
        description="Attribute holding the station's kind (any label, e.g. police_nationale); "
        "agencies pick their stations by it.",
    )
    x: str = Field("lon", description="CSV only: column holding the x coordinate (longitude).")
    y: str = Field("lat", description="CSV only: column holding the y coordinate (latitude).")


class IrisTableSpec(Frozen):
    """A table of IRIS (no geometry needed) whose type helps infer district types."""

    path: str = Field(min_length=1, description="CSV file, relative to the scenario file.")
    id: str = Field("code_iris", description="Column holding the 9-character IRIS code.")
    type: str = Field(
        "typ_iris",
        description="Column holding the INSEE IRIS type: H (housing), A (activity), "
        "D (miscellaneous, e.g. parks), Z (commune not split).",
    )
    population: str = Field("population", description="Column holding the IRIS population.")
    district_id_chars: int = Field(
        7,
        ge=1,
        le=9,
        description="An IRIS belongs to the district whose code is the first characters of "
        "its own (7 for INSEE grands quartiers: commune code and 2 digits).",
    )


class TerritoryFileSpec(Frozen):
    """A real territory read from geographic files (``territory.kind: file``)."""

    crs: str = Field(
        "EPSG:2154",
        description="Projected CRS in metres in which cells are laid out (Lambert-93 for "
        "mainland France; e.g. EPSG:5490 for Guadeloupe and Martinique, EPSG:2975 for "
        "La Reunion, EPSG:2972 for Guyane).",
    )
    communes: CommuneLayerSpec
    districts: DistrictLayerSpec | None = Field(
        None, description="Sub-communal districts (default: one district per commune)."
    )
    qpv: QpvLayerSpec | None = Field(None, description="Priority neighbourhoods (QPV).")
    stations: StationLayerSpec | None = Field(
        None, description="Police stations and other bases, which agencies pick by kind."
    )
    iris: IrisTableSpec | None = Field(
        None, description="IRIS types, to recognise activity districts."
    )
    attribution: str = Field(
        "",
        description="Credit line the data's licences ask for (e.g. '© OpenStreetMap "
        "contributors'), printed on maps of this territory.",
    )
    merged_communes: dict[str, str] = Field(
        default_factory=dict,
        description="Former commune codes and the current commune they were merged into "
        "(e.g. {'93059': '93066'}), for districts and stations that still use old codes.",
    )
    district_types: dict[str, DistrictType] = Field(
        default_factory=dict,
        description="District types by district (or QPV, or commune) code, overriding the "
        "inference: nightlife and transit hubs cannot be read from population data.",
    )
    centre_radius_km: PosFloat = Field(
        1.0,
        description="Sub-communal districts whose centre lies this close to the "
        "population-weighted centre of the most populous commune are of type city_centre "
        "(ASSUMPTION: the hypercentre of a French regional capital spans about 1 km).",
    )
    peri_urban_density_km2: NonNegFloat = Field(
        300.0,
        description="Districts with fewer residents per km2 are of type peri_urban (300: "
        "INSEE's threshold between intermediate-density and rural, grille communale de "
        "densite).",
    )


class TerritorySpec(Frozen):
    """The synthetic urban area, a real one read from files, or the degenerate ``point``."""

    kind: Literal["synthetic", "point", "file"] = Field(
        "synthetic",
        description="`synthetic`: a generated city. `file`: real communes, districts, QPV and "
        "stations read from geographic files (see `file`). `point`: everything at one "
        "place, zero travel (for validation against queueing theory).",
    )
    file: TerritoryFileSpec | None = Field(
        None, description="The files of a real territory (kind: file only)."
    )
    seed: int = Field(
        1,
        ge=0,
        le=SEED_MAX,
        description="Seed of the territory generator, separate from the run seed so that "
        "replications share one city.",
    )
    cell_m: PosFloat = Field(200.0, description="Side of a grid cell, in metres.")
    extent_km: PosFloat = Field(12.0, le=200.0, description="Side of the square territory, km.")
    central_radius_share: float = Field(
        0.38,
        gt=0.05,
        lt=0.5,
        description="Radius of the central commune as a share of the territory's side.",
    )
    density_gradient_km: PosFloat = Field(
        2.5,
        description="Distance over which residential density falls by a factor e "
        "(Clark 1951 negative exponential density).",
    )
    jobs_per_resident: NonNegFloat = Field(0.45, description="Jobs in the area per resident.")
    communes: list[CommuneSpec] = Field(
        default_factory=lambda: [CommuneSpec(name="city", role="central", residents=100_000)],
        min_length=1,
        description="The communes, with the central city first or anywhere in the list.",
    )


# --------------------------------------------------------------------------- travel


class TravelSpec(Frozen):
    """Travel time = turnout + circuity x straight-line distance / speed(hour, priority)."""

    circuity: float = Field(
        1.3,
        ge=1.0,
        le=3.0,
        description="Road distance over straight-line distance (Ballou et al. 2002: "
        "1.2-1.4 for road networks).",
    )
    speed_kmh: list[PosFloat] = Field(
        default_factory=lambda: [45.0, 35.0, 30.0],
        min_length=1,
        description="Driving speed by priority (priority 1 first), km/h; the last value "
        "applies to lower priorities not listed.",
    )
    patrol_speed_kmh: PosFloat = Field(20.0, description="Cruising speed on patrol, km/h.")
    congestion: list[PosFloat] | Literal["flat"] = Field(
        default_factory=lambda: (
            [1.2] * 6
            + [1.0, 0.75, 0.7, 0.85]
            + [0.9] * 6
            + [0.8, 0.7, 0.8, 0.95, 1.0, 1.05, 1.1, 1.15]
        ),
        description="Speed multiplier for each hour of the day (24 values), or `flat`.",
    )
    turnout_min: NonNegFloat = Field(
        1.5, description="Time for a crew to get moving once dispatched, minutes."
    )

    @field_validator("congestion", mode="before")
    @classmethod
    def _congestion24(cls, value: object) -> object:
        return _normalised_profile(value, HOURS_PER_DAY, "congestion")


# --------------------------------------------------------------------------- demand


class OnSceneSpec(Frozen):
    """Distribution of the time a unit spends on scene."""

    distribution: Literal["exponential", "lognormal"] = Field(
        "lognormal", description="`exponential` (memoryless) or `lognormal` (right-skewed)."
    )
    mean_min: PosFloat = Field(35.0, description="Mean time on scene, minutes.")
    cv: PosFloat = Field(
        0.8, description="Coefficient of variation (lognormal only; exponential has cv = 1)."
    )


class IncidentTypeSpec(Frozen):
    """A kind of non-crime call for service, and what handling it involves."""

    share: Share = Field(description="Share of all calls that are of this type.")
    label: str = Field("", description="Human-readable name.")
    location: LocationName = Field(
        "ambient",
        description=f"Where calls of this type arise: {describe(LOCATIONS)}.",
    )
    priority_shares: list[Share] | None = Field(
        None, description="Override of demand.priority_shares for this type."
    )
    on_scene_mean_min: PosFloat | None = Field(
        None, description="Override of demand.on_scene.mean_min for this type."
    )
    follow_up_prob: Share = Field(
        0.0, description="Probability that the call needs a written follow-up."
    )
    follow_up_min: NonNegFloat = Field(
        45.0, description="Duration of that follow-up (report writing), minutes."
    )
    arrest_prob: Share = Field(
        0.0,
        description="Probability that handling the call ends with an arrest (a person "
        "taken in for questioning).",
    )

    @field_validator("priority_shares")
    @classmethod
    def _shares(cls, value: list[float] | None) -> list[float] | None:
        return None if value is None else _check_shares(value, "priority_shares")


def _default_call_types() -> dict[str, IncidentTypeSpec]:
    return {"call": IncidentTypeSpec(share=1.0, label="Call for service")}


class DemandSpec(Frozen):
    """Non-crime calls for service: a Poisson process in time and space."""

    rate_per_hour: NonNegFloat = Field(
        2.0,
        le=MAX_CALLS_PER_HOUR,
        description="Mean number of calls per hour over the week, whole territory (at "
        f"most {MAX_CALLS_PER_HOUR:,}).",
    )
    hourly_profile: list[NonNegFloat] | Literal["flat"] = Field(
        default_factory=lambda: [
            0.75,
            0.6,
            0.5,
            0.4,
            0.35,
            0.35,
            0.45,
            0.65,
            0.85,
            0.95,
            1.05,
            1.1,
            1.15,
            1.15,
            1.15,
            1.2,
            1.3,
            1.4,
            1.45,
            1.45,
            1.4,
            1.3,
            1.15,
            0.95,
        ],
        description="Relative call rate for each hour of the day (24 values, rescaled "
        "so the week averages to rate_per_hour), or `flat`.",
    )
    weekly_profile: list[NonNegFloat] | Literal["flat"] = Field(
        default_factory=lambda: [0.95, 0.92, 0.93, 0.97, 1.07, 1.13, 1.03],
        description="Relative call rate for each day, Monday first (7 values), or `flat`.",
    )
    priority_shares: list[Share] = Field(
        default_factory=lambda: [0.15, 0.45, 0.40],
        description="Share of calls of priority 1 (most urgent), 2, ...; sums to 1.",
    )
    on_scene: OnSceneSpec = Field(default_factory=OnSceneSpec)
    district_factors: dict[DistrictType, NonNegFloat] = Field(
        default_factory=lambda: {
            DistrictType.QPV: 1.6,
            DistrictType.NIGHTLIFE: 1.4,
            DistrictType.TRANSIT_HUB: 1.4,
            DistrictType.CITY_CENTRE: 1.2,
            DistrictType.PERI_URBAN: 0.6,
        },
        description="Relative weight of each district type in where calls arise (missing "
        "types: 1); it moves calls between districts, the total stays rate_per_hour.",
    )
    max_wait_min: PosFloat | None = Field(
        None,
        description="A call still waiting for a unit after this many minutes is dropped "
        "and counted unanswered; null: calls wait as long as needed.",
    )
    types: dict[str, IncidentTypeSpec] = Field(
        default_factory=_default_call_types,
        min_length=1,
        description="The types of call, with their shares (summing to 1). Written in a "
        "file, the whole set; a setting into one type (--set "
        "demand.types.call.share=1) edits the defaults when the file leaves them.",
    )

    @field_validator("hourly_profile", mode="before")
    @classmethod
    def _hourly24(cls, value: object) -> object:
        return _normalised_profile(value, HOURS_PER_DAY, "hourly_profile")

    @field_validator("weekly_profile", mode="before")
    @classmethod
    def _weekly7(cls, value: object) -> object:
        return _normalised_profile(value, DAYS_PER_WEEK, "weekly_profile")

    @field_validator("priority_shares")
    @classmethod
    def _priority_shares(cls, value: list[float]) -> list[float]:
        return _check_shares(value, "priority_shares")

    @property
    def n_priorities(self) -> int:
        """Number of priority classes (1 is the most urgent)."""
        return len(self.priority_shares)


# --------------------------------------------------------------------------- agencies


class PatrolSpec(Frozen):
    """What idle units do between calls."""

    strategy: str = Field(
        "random",
        description=strategies_help() + ".",
        json_schema_extra={"enum": list(PATROL_STRATEGIES)},
    )
    dwell_min: NonNegFloat = Field(
        15.0,
        description="Time spent at each patrolled place, minutes (Koper 1995: 10-15 "
        "minutes of presence maximise residual deterrence).",
    )

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        if value not in PATROL_STRATEGIES:
            raise ValueError(
                f"unknown patrol strategy '{value}'{did_you_mean_hint(value, PATROL_STRATEGIES)}; "
                f"strategies are: {', '.join(PATROL_STRATEGIES)}"
            )
        return value

    hotspot_share: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.05, description="Share of the jurisdiction's cells that count as hot spots."
    )
    hotspot_offences: list[str] = Field(
        default_factory=list,
        description="With strategy hotspot (other strategies do not read it): rank the "
        "cells, and weigh the visits, by the expected opportunities of these offence types "
        "(crime.types; their routine-activity rates over the week) instead of by expected "
        "calls, e.g. [assault] for hot spots of violence. Empty: by expected calls.",
    )
    districts: list[str] = Field(
        default_factory=list,
        description="Restrict patrol to these districts (types such as qpv, or identifiers "
        "such as centre-3): a beat. Empty: the whole jurisdiction.",
    )


class CostSpec(Frozen):
    """What an agency costs per year."""

    salary_eur: Euros = Field(
        60_000.0, description="Loaded annual cost of one full-time officer (salary and charges)."
    )
    equipment_eur: Euros = Field(3_000.0, description="Annual equipment cost per officer.")
    vehicle_eur: Euros = Field(
        12_000.0, description="Annual cost of one patrol vehicle (one per unit at peak)."
    )
    hourly_rate_eur: Euros | None = Field(
        None,
        description="Billed price of one guard-hour (private security); when set, cost = "
        "rate x crew x unit-hours and the salary fields are not used.",
    )


class PowersSpec(Frozen):
    """Legal powers of an agency's officers (default: those of its kind)."""

    judicial: bool | None = Field(
        None,
        description="Officers with judicial police powers (OPJ) can take an arrested "
        "person into custody; others must hand over to an agency that can. Default: "
        "the kind's (true for state_police and gendarmerie).",
    )
    armed: bool | None = Field(None, description="Officers carry firearms. Default: the kind's.")


class StationKindSpec(Frozen):
    """Every station of a kind, from the territory's stations layer."""

    kind: str = Field(
        min_length=1, description="Value of the stations layer's kind attribute, e.g. gendarmerie."
    )


class DutiesSpec(Frozen):
    """Non-call duties: work that takes a crew off the road between calls.

    Reports and procedures written up at the station, guarding the station or a
    person in custody, escorts and hospital transfers of detainees, summonses,
    court: a crew free of calls spends the share ``share`` of that time on such
    duties, in blocks of ``mean_min`` minutes on average, at its station
    (ODD section 7.8).
    """

    share: float = Field(
        0.0,
        ge=0.0,
        le=0.95,
        allow_inf_nan=False,
        description="Share of a crew's on-duty time free of calls spent on non-call duties "
        "at the station (0: none; at most 0.95).",
    )
    mean_min: PosFloat = Field(
        60.0, description="Mean length of one duty block, minutes (exponential)."
    )
    preemptible: bool = Field(
        True,
        description="An urgent call (dispatch.preemption.priority) may call a crew off a "
        "duty when no crew is free; the rest of the duty is left undone.",
    )


def _default_direct_types() -> dict[str, float]:
    return {"noise": 0.3, "dispute": 0.25, "suspicious": 0.2, "traffic": 0.15, "assistance": 0.1}


class DirectCallsSpec(Frozen):
    """Calls residents address to the agency directly, not through the emergency number.

    In France residents also call their commune's municipal police on its own
    number or control room for local matters (noise, neighbour disputes,
    parking and traffic, suspicious behaviour, assistance); such a call is for
    that agency only, whatever the competence lists say, while its line is open
    (ODD section 7.3.1).
    """

    per_1000_residents: NonNegFloat = Field(
        0.0,
        le=MAX_DIRECT_CALLS_PER_1000,
        description="Direct calls a year per 1,000 residents of the places where the "
        "agency may act (0: none, the default; at most "
        f"{MAX_DIRECT_CALLS_PER_1000:,}). They follow the demand's hour-of-week profile.",
    )
    types: dict[str, Share] = Field(
        default_factory=_default_direct_types,
        min_length=1,
        description="Shares of the direct calls over the call types of demand.types "
        "(summing to 1). Default: noise 0.3, dispute 0.25, suspicious 0.2, traffic 0.15, "
        "assistance 0.1, an assumption (the matters residents bring to a municipal police "
        "line); a scenario whose call types differ must give its own.",
    )
    when_closed: Literal["emergency_number", "lost"] = Field(
        "emergency_number",
        description="A direct call at an hour when the agency has no crew on duty: "
        "`emergency_number`, the caller dials 17 and it becomes an ordinary call routed by "
        "the competence lists (and a call still waiting for the agency when its line closes "
        "is passed to 17); `lost`, no call is made (and one still waiting waits for the "
        "agency to open again).",
    )

    @field_validator("types")
    @classmethod
    def _types_sum(cls, value: dict[str, float]) -> dict[str, float]:
        _check_shares(list(value.values()), "types")
        return value


def _hours_form(value: object, info: ValidationInfo) -> object:
    """Refuse hours written as text ('8h-20h', ['7:00', '23:00']) with the form meant."""
    what = info.field_name
    texts = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    if any(isinstance(v, str) for v in texts):
        raise ValueError(  # (a text is quoted after the message by the loader)
            f"{what} is two whole hours, [start, end], e.g. [8, 20] for 8:00 to 20:00"
            + ("" if isinstance(value, str) else f" (found {value!r})")
        )
    return value


def _checked_hours(value: tuple[int, int], info: ValidationInfo) -> tuple[int, int]:
    """[start, end) hours of a day: 0 <= start <= 23, 1 <= end <= 24, start != end."""
    what = info.field_name
    start, end = value
    if not (0 <= start <= 23 and 1 <= end <= 24) or start == end:
        sexagesimal = all(v >= 60 and v % 60 == 0 for v in value if v > 24)
        raise ValueError(
            f"{what} must be [start, end] with 0 <= start <= 23, "
            f"1 <= end <= 24 and start != end (found [{start}, {end}]"
            + (
                "; YAML reads 7:00 unquoted as 420, minutes: write whole hours, [7, 23]"
                if sexagesimal and max(value) > 24
                else ""
            )
            + ")"
        )
    return value


# [start, end) hours of a day, as written in a scenario (the field's name in messages).
DayHours = Annotated[tuple[int, int], BeforeValidator(_hours_form), AfterValidator(_checked_hours)]


def in_hours(hours: tuple[int, int], hour_of_day: int) -> bool:
    """Whether ``hour_of_day`` is in [start, end) (wrapping past midnight if end < start)."""
    start, end = hours
    if start < end:
        return start <= hour_of_day < end
    return hour_of_day >= start or hour_of_day < end


class AgencySpec(Frozen):
    """A security agency: its jurisdiction, its resources, its costs and its powers.

    Resources are given by exactly one of ``units`` (units on duty at every service
    hour), ``officers`` (headcount) or ``budget_eur`` (annual budget).
    """

    kind: str = Field(
        min_length=1,
        description="state_police, gendarmerie, municipal_police, private_security, or a "
        "kind the scenario declares under `kinds`; it gives the agency's capabilities.",
    )
    label: str = Field("", description="Human-readable name.")
    communes: list[str] | Literal["all"] = Field(
        "all", description="Communes where the agency may act, or `all`."
    )
    station: str | None = Field(
        None,
        description="Commune whose centre hosts the station (default: the first "
        "commune of the jurisdiction, the central one for `all`).",
    )
    stations: list[str] | StationKindSpec | None = Field(
        None,
        description="Several stations, instead of `station`: a list of station identifiers "
        "of the territory's stations layer or communes (their centre), or {kind: ...} for "
        "every station of that kind in the jurisdiction. Units are shared among them in "
        "turn; each starts, returns, takes arrested persons and patrols around its own.",
    )
    units: int | None = Field(None, ge=0, description="Units on duty at every service hour.")
    officers: int | None = Field(None, ge=0, description="Headcount, full-time equivalents.")
    budget_eur: NonNegFloat | None = Field(None, description="Annual budget, euros.")
    hours_per_officer: Annotated[float, Field(gt=0.0, le=8760.0, allow_inf_nan=False)] = Field(
        1607.0,
        description="Annual working hours of a full-time officer (1,607 h: French public "
        "service, decree 2000-815).",
    )
    field_share: Share = Field(
        0.35,
        description="Share of officers' hours spent in field crews answering calls and "
        "patrolling (the rest: investigation, reception, training, management).",
    )
    crew_size: int = Field(2, ge=1, le=10, description="Officers per unit (crew).")
    mode: str = Field(
        DEFAULT_MODE,
        min_length=1,
        description="How its crews move: car, motorbike, bicycle, foot, or a mode the "
        "scenario declares under `modes`; it sets their speeds and the weight of their "
        "presence. cost.vehicle_eur is then the cost of that mode's vehicle (0 on foot).",
    )
    staffing_profile: list[NonNegFloat] | Literal["flat"] = Field(
        "flat", description="Relative number of units on duty by hour of day (24 values)."
    )
    service_hours: DayHours = Field(
        (0, 24),
        description="[start, end) hours of service each day, e.g. [7, 23]; [0, 24] for "
        "round the clock; [22, 6] wraps past midnight.",
    )
    sites: int = Field(
        0,
        ge=0,
        description="Contracted sites (private security): the busiest shops, malls "
        "and transit places; the agency acts only there.",
    )
    patrol: PatrolSpec = Field(default_factory=PatrolSpec)
    cost: CostSpec = Field(default_factory=CostSpec)
    powers: PowersSpec = Field(default_factory=PowersSpec)
    capabilities: CapabilityOverrides = Field(
        default_factory=CapabilityOverrides,
        description="Capabilities of this agency that differ from its kind's.",
    )
    duties: DutiesSpec = Field(
        default_factory=DutiesSpec,
        description="Non-call duties that take its crews off the road between calls.",
    )
    direct_calls: DirectCallsSpec = Field(
        default_factory=DirectCallsSpec,
        description="Calls residents address to this agency directly (its own number), "
        "for it alone; off by default.",
    )

    @field_validator("staffing_profile", mode="before")
    @classmethod
    def _staffing24(cls, value: object) -> object:
        return _normalised_profile(value, HOURS_PER_DAY, "staffing_profile")

    @field_validator("communes", mode="before")
    @classmethod
    def _communes_text(cls, value: object) -> object:
        return _communes_as_text(value, "all")

    def serves_hour(self, hour_of_day: int) -> bool:
        """Whether the agency is in service at this hour of the day."""
        return in_hours(self.service_hours, hour_of_day)


# --------------------------------------------------------------------------- dispatch


class PreemptionSpec(Frozen):
    """When an urgent call with no free crew may take one from lesser work."""

    priority: int = Field(
        1,
        ge=0,
        description="Calls of this priority or more urgent may pre-empt (1: the most "
        "urgent only; 0: no pre-emption).",
    )
    en_route_priority: int | None = Field(
        None,
        ge=2,
        description="A crew on its way to a call of this priority or less urgent may be "
        "diverted; the call it leaves goes back to the queue (default: none).",
    )

    @model_validator(mode="after")
    def _less_urgent(self) -> PreemptionSpec:
        # A diverted call must not pre-empt in turn: two calls could take each other's crew.
        if self.en_route_priority is not None and self.en_route_priority <= self.priority:
            raise ValueError(
                f"en_route_priority ({self.en_route_priority}) must be less urgent than the "
                f"calls that pre-empt (priority {self.priority}): a number above it"
            )
        return self


class DispatchSpec(Frozen):
    """How the control room turns calls into assignments."""

    call_handling_min: NonNegFloat = Field(
        2.0, description="Time from the call to the moment it can be dispatched, minutes."
    )
    handover_min: NonNegFloat = Field(
        20.0,
        description="Time for a judicial-police unit to take over an arrested person "
        "from an agency without judicial powers, minutes.",
    )
    response_target_min: list[PosFloat] = Field(
        default_factory=lambda: [15.0, 30.0, 60.0],
        min_length=1,
        description="Service standard: the response time to meet, by priority (priority 1 "
        "first; the last value applies to lower priorities), minutes.",
    )
    custody_min: NonNegFloat = Field(
        150.0,
        description="Follow-up after an arrest by a unit with judicial powers (transport, "
        "custody procedure), minutes.",
    )
    preemption: PreemptionSpec = Field(
        default_factory=PreemptionSpec,
        description="Pre-emption: an urgent call with no free crew takes one off a "
        "pre-emptible duty (agencies.*.duties) or, with en_route_priority, one on its way "
        "to a less urgent call.",
    )
    policy: str = Field(
        DEFAULT_POLICY,
        description="How the control room chooses a unit for an incident and a job for a "
        "freed unit, by name: 'agency_order' (the competence list is an order of preference "
        "between agencies), 'closest_unit' (the nearest free unit of any agency of the list), "
        "or another policy of simulator/dispatch/registry.py.",
    )

    @field_validator("policy")
    @classmethod
    def _known_policy(cls, value: str) -> str:
        if value not in POLICIES:
            hint = did_you_mean_hint(value, POLICIES)
            raise ValueError(f"unknown dispatch policy{hint}; allowed: {', '.join(POLICIES)}")
        return value


HANDOVER_TYPE = "judicial_handover"


# --------------------------------------------------------------------------- citizens


class PatternShares(Frozen):
    """Shares of residents by activity pattern (they sum to 1)."""

    worker: Share = Field(0.40, description="Work by day at a place of work.")
    student: Share = Field(0.20, description="Study by day near home.")
    retiree: Share = Field(0.22, description="Mostly at home, out in the afternoon.")
    night_worker: Share = Field(0.03, description="Work at night.")
    unemployed: Share = Field(0.15, description="No fixed place of work.")


class CitizensSpec(Frozen):
    """Residents as individuals: patterns, trust, reporting, fear, citizen watch."""

    patterns: PatternShares = Field(default_factory=PatternShares)
    offender_share: Share = Field(
        0.015, description="Share of residents with a propensity to offend (motivated offenders)."
    )
    trust_mean: Share = Field(0.55, description="Mean initial trust in the police, 0 to 1.")
    trust_sd: NonNegFloat = Field(0.15, description="Spread of initial trust between residents.")
    qpv_trust_shift: float = Field(
        -0.15,
        ge=-1,
        le=1,
        description="Initial trust shift of residents of priority neighbourhoods (QPV).",
    )
    watch_share: Share = Field(
        0.0, description="Share of residents in a citizen-watch scheme (participation citoyenne)."
    )
    watch_report_bonus: NonNegFloat = Field(
        0.3, description="Extra reporting probability of watch members (added, then capped at 1)."
    )
    trust_fast_gain: Share = Field(
        0.05, description="A response within target moves trust this share of the way to 1."
    )
    trust_slow_loss: Share = Field(
        0.08,
        description="A response slower than twice the target moves trust this share of "
        "the way to 0.",
    )
    trust_unanswered_loss: Share = Field(
        0.15, description="An unanswered call moves trust this share of the way to 0."
    )
    trust_victim_loss: Share = Field(
        0.05, description="Being a victim moves trust this share of the way to 0."
    )
    trust_presence_gain: NonNegFloat = Field(
        0.01, description="Daily trust gain per hour of visible patrol presence in the home cell."
    )
    trust_recovery_per_day: Share = Field(
        0.002, description="Daily pull of each resident's trust back to its initial value."
    )
    fear_victim_gain: Share = Field(
        0.3, description="Being a victim moves fear of crime this share of the way to 1."
    )
    fear_initial: Share = Field(0.2, description="Initial fear of crime, 0 to 1.")
    fear_neighbourhood_gain: Share = Field(
        0.02,
        description="Each offence with a victim in a resident's home cell moves their fear "
        "this share of the way to 1 (fear follows victimisation around the resident).",
    )
    fear_decay_per_day: Share = Field(0.01, description="Daily decay of fear towards 0.")


# --------------------------------------------------------------------------- crime


class CrimeTypeSpec(Frozen):
    """A kind of offence: how often, where, when, and how it becomes known."""

    label: str = Field("", description="Human-readable name.")
    rate_per_1000: NonNegFloat = Field(
        le=MAX_OPPORTUNITIES_PER_1000,
        description="Opportunities per 1,000 residents per year that motivated offenders "
        "would turn into offences with no guardian about and nobody held: guardianship, "
        "the risk offenders perceive and custody lower the realised rate, near repeats "
        "raise burglary's (the defaults are calibrated so that the baseline's realised "
        "rates match docs/calibration.md; at most "
        f"{MAX_OPPORTUNITIES_PER_1000:,}).",
    )
    target: TargetName = Field(description=f"Suitable targets: {describe(TARGETS)}.")
    victim: Literal["person", "household", "none"] = Field(
        "person", description="Who can report it: a person, a household, or nobody (witnesses)."
    )
    hourly_profile: list[NonNegFloat] | Literal["flat"] = Field(
        "flat", description="Extra relative weight by hour of day (24 values), on top of targets."
    )
    district_factors: dict[DistrictType, NonNegFloat] = Field(
        default_factory=dict,
        description="Relative weight of this type's opportunities by district type, on top "
        "of crime.district_factors (which act on every type): where this type differs "
        "from the others, e.g. fewer burglaries in priority neighbourhoods. The defaults "
        "give burglary qpv 0.25 and assault qpv 14 (calibrated); a mapping written "
        "replaces the default one whole: keep qpv in it to keep that weight.",
    )
    priority: int = Field(2, ge=1, description="Priority of the call when a unit is sent.")
    report_prob: Share = Field(
        description="Probability that the victim (or a witness) reports it, at trust 0.5."
    )
    report_delay_min: NonNegFloat = Field(
        30.0, description="Mean delay between the offence and its report, minutes."
    )
    response_share: Share = Field(
        0.5,
        description="Share of reported offences that call for a unit on scene (the "
        "others are recorded as complaints at the station).",
    )
    visibility: Share = Field(
        0.5, description="Chance that a guardian present can see it happen (detection on view)."
    )
    deterrence: NonNegFloat = Field(
        1.0, description="Sensitivity to guardianship (0: not deterred at all)."
    )
    on_scene_mean_min: PosFloat = Field(40.0, description="Mean time on scene, minutes.")
    follow_up_prob: Share = Field(0.5, description="Probability of a written follow-up.")
    follow_up_min: NonNegFloat = Field(60.0, description="Follow-up duration, minutes.")
    arrest_prob: Share = Field(
        0.5,
        description="Probability that an offender still on scene when the first unit "
        "arrives is arrested (some flee, some are not identified).",
    )
    stay_min: NonNegFloat = Field(
        15.0,
        description="Mean time the offender stays on scene after the offence begins, "
        "minutes (exponential): a unit arriving sooner can catch them in the act.",
    )
    later_clearance_prob: Share = Field(
        0.05,
        description="Probability that an offence reported at once is cleared later "
        "(a named suspect, witnesses, CCTV footage) by a judicial agency; it falls with "
        "the reporting delay (later_clearance_delay_h).",
    )
    later_clearance_delay_h: PosFloat = Field(
        24.0,
        description="Time constant, hours, of the fall of later clearance with the delay "
        "between the offence and its report.",
    )
    investigation_days: PosFloat = Field(
        20.0, description="Mean time from the report to a later clearance, days."
    )
    prison_prob: Share = Field(
        0.1,
        description="Probability that an arrest leads to time off the streets beyond "
        "custody (pre-trial detention or a prison sentence): incapacitation.",
    )
    prison_days: PosFloat = Field(
        90.0, description="Mean time off the streets when it does, days (exponential)."
    )
    near_repeat: bool = Field(False, description="Raises the risk around it for weeks.")
    armed_only: bool = Field(
        False,
        description="Only crews of armed agencies (powers.armed) may attend: an unarmed "
        "crew is never sent alone to it.",
    )

    @field_validator("hourly_profile", mode="before")
    @classmethod
    def _profile24(cls, value: object) -> object:
        return _normalised_profile(value, HOURS_PER_DAY, "hourly_profile")


_NIGHT = [
    1.6,
    1.6,
    1.4,
    1.0,
    0.6,
    0.4,
    0.4,
    0.5,
    0.6,
    0.7,
    0.8,
    0.9,
    0.9,
    0.9,
    0.9,
    1.0,
    1.0,
    1.0,
    1.1,
    1.2,
    1.3,
    1.4,
    1.5,
    1.6,
]


def _default_crime_types() -> dict[str, CrimeTypeSpec]:
    # Rates are opportunity rates calibrated on the baseline's recorded rates
    # (docs/calibration.md section 3), together with crime.offenders.area_weight and
    # the State police's non-call duties (agencies.*.duties.share 0.758 in the shipped
    # scenarios): where State crews patrol all their free time, they give less crime.
    # Burglary's and assault's weights in priority neighbourhoods (district_factors),
    # opportunity rates and reporting were fitted afterwards, the rest held, to the
    # SSMSI's ratios by type in QPV (calibration/baseline_qpv.yaml, docs/calibration.md
    # section 3.4): the one factor of crime.district_factors put burglary in QPV and
    # assault elsewhere, the evidence's reverse.
    # What happens after the offence (arrest_prob, stay_min, later_clearance_prob,
    # prison_prob, prison_days) is an assumption, set so that
    # clearance rates and the offenders held are of the order of French figures
    # (recorded-offence clearance: assault about one half, burglary and theft under
    # one in ten); issue 14 sources and calibrates them.
    return {
        "incivility": CrimeTypeSpec(
            label="Incivility, damage, public disorder",
            rate_per_1000=249,
            target="people",
            priority=3,
            report_prob=0.12,
            report_delay_min=20,
            response_share=0.5,
            visibility=0.7,
            deterrence=1.2,
            on_scene_mean_min=20,
            follow_up_prob=0.2,
            follow_up_min=30,
            arrest_prob=0.3,
            stay_min=30,
            later_clearance_prob=0.15,
            prison_prob=0.03,
            prison_days=60,
        ),
        "theft": CrimeTypeSpec(
            label="Theft without violence",
            rate_per_1000=204,
            target="visitors",
            priority=3,
            report_prob=0.304,
            report_delay_min=90,
            response_share=0.2,
            visibility=0.3,
            on_scene_mean_min=30,
            follow_up_prob=0.6,
            arrest_prob=0.5,
            stay_min=5,
            later_clearance_prob=0.08,
            prison_prob=0.12,
            prison_days=120,
        ),
        "burglary": CrimeTypeSpec(
            label="Residential burglary",
            rate_per_1000=6.3,
            target="dwellings",
            victim="household",
            district_factors={DistrictType.QPV: 0.25},
            priority=2,
            report_prob=0.78,
            report_delay_min=240,
            response_share=0.8,
            visibility=0.2,
            deterrence=0.8,
            on_scene_mean_min=45,
            follow_up_prob=0.8,
            arrest_prob=0.7,
            stay_min=20,
            later_clearance_prob=0.1,
            prison_prob=0.35,
            prison_days=240,
            near_repeat=True,
        ),
        "assault": CrimeTypeSpec(
            label="Assault (coups et blessures volontaires)",
            rate_per_1000=48,
            target="night",
            hourly_profile=_NIGHT,
            district_factors={DistrictType.QPV: 14},
            priority=1,
            report_prob=0.267,
            report_delay_min=15,
            response_share=0.8,
            visibility=0.6,
            on_scene_mean_min=50,
            follow_up_prob=0.7,
            arrest_prob=0.7,
            stay_min=15,
            later_clearance_prob=0.6,
            prison_prob=0.3,
            prison_days=240,
        ),
        "drug_dealing": CrimeTypeSpec(
            label="Drug dealing",
            rate_per_1000=18.5,
            target="market",
            victim="none",
            priority=3,
            report_prob=0.03,
            report_delay_min=60,
            response_share=0.5,
            visibility=0.6,
            deterrence=1.5,
            on_scene_mean_min=40,
            follow_up_prob=0.5,
            arrest_prob=0.4,
            stay_min=180,
            later_clearance_prob=0.8,
            prison_prob=0.35,
            prison_days=300,
        ),
        "serious_violence": CrimeTypeSpec(
            label="Serious violence (shooting, armed assault)",
            rate_per_1000=0.36,
            target="market",
            hourly_profile=_NIGHT,
            priority=1,
            report_prob=0.95,
            report_delay_min=5,
            response_share=1.0,
            visibility=0.8,
            deterrence=0.6,
            on_scene_mean_min=120,
            follow_up_prob=1.0,
            follow_up_min=180,
            arrest_prob=0.7,
            armed_only=True,
            stay_min=10,
            later_clearance_prob=0.5,
            prison_prob=0.8,
            prison_days=900,
        ),
    }


class GuardianshipSpec(Frozen):
    """Deterrence strength of each kind of guardian (per unit of its presence measure).

    A patrol's strength is its agency's ``guardianship`` capability (see
    :mod:`simulator.scenario.kinds`); the four fields named after the built-in kinds
    override it for every agency of that kind, as they did before kinds were data.
    """

    state_police: NonNegFloat | None = Field(
        None,
        description="Per hour of State patrol presence in a cell (with residual decay); "
        "default: the kind's guardianship capability (1.5).",
    )
    gendarmerie: NonNegFloat | None = Field(
        None, description="Same, for the gendarmerie (default 1.5)."
    )
    municipal_police: NonNegFloat | None = Field(
        None, description="Same, for municipal police (default 1.2)."
    )
    private_security: NonNegFloat | None = Field(
        None, description="Same, for private guards (default 1.0)."
    )
    cctv: NonNegFloat = Field(0.4, description="Per unit of effective CCTV coverage of a cell.")
    watch: NonNegFloat = Field(
        2.0, description="Per unit share of residents of the cell in a citizen-watch scheme."
    )


class DetectionSpec(Frozen):
    """Chance of seeing an offence happen, per unit of guardian presence."""

    patrol: Share = Field(
        0.5, description="Per hour of police or guard presence in the cell that hour."
    )
    cctv: Share = Field(0.25, description="Per unit of effective CCTV coverage.")


class NearRepeatSpec(Frozen):
    """After a burglary, the risk around it rises, then decays (Johnson and Bowers 2004).

    A self-exciting (Hawkes) process, as in Mohler et al. 2011 (JASA 106(493)):
    each burglary triggers on average ``triggered`` more, spread over its cell
    and the 8 neighbouring cells, with an exponential decay in time.
    """

    triggered: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        0.25,
        description="Expected burglary opportunities triggered by one burglary (below 1, "
        "or the process explodes); offenders' deterrence turns about two thirds of them "
        "into burglaries. Assumption, set so that burglaries cluster in space and time "
        "as Johnson and Bowers (2004) found (0.15 before opportunities were deterred).",
    )
    same_cell_share: Share = Field(
        0.5, description="Share of the triggered risk in the burglary's own cell."
    )
    decay_days: PosFloat = Field(14.0, description="Time constant of the decay, days.")


class DrugMarketSpec(Frozen):
    """Persistent drug markets: suppressed by enforcement, displaced, worn down by prevention."""

    count: int = Field(4, ge=0, description="Number of markets at the start.")
    district_types: list[DistrictType] = Field(
        default_factory=lambda: [
            DistrictType.QPV,
            DistrictType.NIGHTLIFE,
            DistrictType.TRANSIT_HUB,
        ],
        description="Where markets settle.",
    )
    enforcement_per_h: NonNegFloat = Field(
        0.05,
        description="Share of a market's activity suppressed per hour of presence in its "
        "cell of agencies with the drug_markets capability (State forces by default).",
    )
    displacement_share: Share = Field(
        0.5, description="Share of suppressed activity that moves to a neighbouring cell."
    )
    recovery_per_day: Share = Field(
        0.05, description="Daily share of the gap to capacity that a market regains."
    )
    prevention_eur_per_year: Euros = Field(
        0.0, description="Annual spending on prevention (paid by the communes)."
    )
    prevention_effect_per_meur: Share = Field(
        0.15, description="Long-run fall in market capacity per million euros a year."
    )
    prevention_delay_days: PosFloat = Field(
        180.0, description="Time constant for prevention to take effect, days."
    )


class CctvZoneSpec(Frozen):
    """Cameras over some districts."""

    districts: list[str] = Field(
        description="District types (e.g. city_centre) or district identifiers (e.g. centre-3)."
    )
    coverage: Share = Field(0.6, description="Share of each cell of these districts in view.")
    communes: list[str] | None = Field(
        None,
        min_length=1,
        description="Only these communes' districts (names, or codes in a file territory); "
        "default: every commune's.",
    )


class CctvSpec(Frozen):
    """Video protection: cameras, and the operators who watch them."""

    zones: list[CctvZoneSpec] = Field(default_factory=list)
    operators: int = Field(0, ge=0, description="Operators on duty at any time.")
    cameras_per_operator: PosFloat = Field(
        40.0, description="Cameras one operator can follow; beyond, detection falls."
    )
    camera_eur_per_year: NonNegFloat = Field(
        2500.0, description="Annual cost of one fully covered cell (cameras, maintenance)."
    )
    operator_eur_per_year: NonNegFloat = Field(
        45_000.0, description="Loaded annual cost of one operator position-year."
    )
    operator_positions_per_seat: PosFloat = Field(
        5.5, description="Full-time staff needed to keep one seat staffed round the clock."
    )


class OffenderSpec(Frozen):
    """Motivated offenders: their careers and the risk they perceive.

    The pool is the residents flagged as motivated offenders
    (``citizens.offender_share``); each runs a criminal career and, when it ends
    (desistance), another resident of the same routine begins one (onset). An
    offender commits an offence where an opportunity arises within reach unless
    the risk they perceive deters them (Nagin 2013: certainty, not severity):

        P(commit) = exp(-deterrence[type] x (standing guardians of the cell
                    + crowd x (patrol presence in the cell
                               + area_weight x mean patrol presence within
                                 area_radius_cells, remembered over area_memory_h)
                    + own_arrest x their recent arrests
                    + others_arrest x recent arrests within reach of their home
                      per 1,000 residents there))

    where crowd = reference_people / mean people present within area_radius_cells
    at that hour: a patrol hour deters less where more people share its attention,
    so that deterrence follows police per person present, not police per square
    kilometre (a denser city with as many police per resident is no safer).
    """

    career_years: PosFloat = Field(
        6.0,
        description="Mean length of a criminal career, years (exponential). Assumption: "
        "careers of persistent offenders last 5 to 10 years (Piquero, Farrington and "
        "Blumstein 2003).",
    )
    propensity_shape: PosFloat = Field(
        0.6,
        description="Gamma shape of the spread of propensity between offenders (mean 1): "
        "smaller concentrates offending in fewer offenders (Wolfgang, Figlio and Sellin "
        "1972: 6 % of a cohort committed half of its offences). Assumption.",
    )
    area_radius_cells: int = Field(
        3,
        ge=0,
        le=20,
        description="Offenders perceive patrol presence over the square of this many "
        "cells around a target: place-based deterrence spreads to the surroundings "
        "(diffusion of benefits).",
    )
    area_weight: NonNegFloat = Field(
        218.0,
        description="Weight of the mean patrol presence around a target in the perceived "
        "risk (calibrated by history matching with the State police's non-call duties, "
        "and checked on the elasticity of crime to police numbers, docs/calibration.md "
        "section 3).",
    )
    area_memory_h: NonNegFloat = Field(
        24.0,
        description="Time constant, hours, of offenders' memory of the patrol presence "
        "around a target: the area term weighs the police seen there over about the last "
        "day, not whether a crew passes this hour (0: this hour's presence; the cell's own "
        "presence keeps its residual deterrence, residual_deterrence_h). Assumption.",
    )
    reference_people: PosFloat = Field(
        80.0,
        description="People present per cell (mean over the square of area_radius_cells) "
        "at which an hour of patrol presence counts at face value; where twice as many are "
        "present it counts half. Sets the scale of area_weight and of the agencies' "
        "patrol guardianship (not of CCTV or watch; calibrated with area_weight, "
        "docs/calibration.md).",
    )
    own_arrest: NonNegFloat = Field(
        0.5,
        description="Perceived risk added by each of an offender's own recent arrests "
        "(Anwar and Loughran 2011: an arrest raises the perceived chance of arrest). "
        "Assumption.",
    )
    others_arrest: NonNegFloat = Field(
        0.025,
        description="Perceived risk added by each recent arrest per 1,000 residents "
        "within reach of the offender's home (general deterrence). Assumption.",
    )
    memory_days: PosFloat = Field(
        90.0, description="Time constant of the fading of arrests from memory, days."
    )
    custody_h: NonNegFloat = Field(
        24.0,
        description="Hours an arrested person is held in custody (garde a vue, art. 63 of "
        "the code of criminal procedure: 24 hours, renewable once).",
    )


class CrimeSpec(Frozen):
    """Offences by routine activity theory, and how they become known."""

    types: dict[str, CrimeTypeSpec] = Field(
        default_factory=_default_crime_types,
        min_length=1,
        description="The offence types, by name. Written in a file, the whole set (one "
        "type written: one type); a setting into one type (--set "
        "crime.types.burglary.report_prob=0.8, an experiment's factor) edits the six "
        "default types when the file leaves them.",
    )
    attractiveness_sigma: NonNegFloat = Field(
        1.1,
        description="Spread (lognormal sigma) of cell attractiveness to offenders; larger "
        "concentrates crime in fewer places.",
    )
    district_factors: dict[DistrictType, NonNegFloat] = Field(
        default_factory=lambda: {
            DistrictType.QPV: 1.8,
            DistrictType.NIGHTLIFE: 1.5,
            DistrictType.TRANSIT_HUB: 1.6,
            DistrictType.CITY_CENTRE: 1.3,
            DistrictType.COMMERCIAL: 1.2,
            DistrictType.PERI_URBAN: 0.5,
            DistrictType.INDUSTRIAL: 0.6,
        },
        description="Multiplier of attractiveness by district type (missing types: 1).",
    )
    offender_range_cells: int = Field(
        2, ge=0, le=20, description="Offenders act within this many cells of where they are."
    )
    guardianship: GuardianshipSpec = Field(default_factory=GuardianshipSpec)
    detection: DetectionSpec = Field(default_factory=DetectionSpec)
    residual_deterrence_h: PosFloat = Field(
        1.0,
        description="Time constant of the residual deterrence after a patrol leaves, hours "
        "(Koper 1995).",
    )
    deterrence_saturation_min: NonNegFloat = Field(
        8.0,
        description="Presence in a cell deters with diminishing returns: an hour's "
        "presence of L minutes counts as 15 x (1 - exp(-L / this)) / (1 - exp(-15 / "
        "this)) minutes, so that residual deterrence grows with the length of a stop up "
        "to about 10-15 minutes and then flattens (Koper 1995); 0: presence counts as "
        "its length.",
    )
    displacement_share: Share = Field(
        0.3,
        description="Share of offences deterred in a cell that happen in neighbouring "
        "cells instead.",
    )
    near_repeat: NearRepeatSpec = Field(default_factory=NearRepeatSpec)
    drug_markets: DrugMarketSpec = Field(default_factory=DrugMarketSpec)
    offenders: OffenderSpec = Field(default_factory=OffenderSpec)


# --------------------------------------------------------------------------- timeline


class HireAction(Frozen):
    """Hire (or, with ``cut``, cut) officers of an agency."""

    agency: str = Field(description="The agency, by identifier.")
    officers: int = Field(
        gt=0,
        description="Full-time officers hired (or cut), a whole number: the agency's "
        "headcount after the change is a whole number of officers.",
    )
    delay_days: NonNegFloat = Field(
        0.0,
        description="Recruitment and training delay before they are on the road, days "
        "(not for a cut, which takes effect on its day).",
    )


class TransferAction(Frozen):
    """Move a competence: incidents of a type go to another agency first."""

    type: str = Field(description="The incident type (call or offence).")
    to: str = Field(
        description="The agency (identifier or kind) that handles it from now on (its "
        "competence list; where a competence rule covers the type, the rule still decides)."
    )
    keep_others: bool = Field(
        True, description="Keep the previous agencies as fall-backs after the new one."
    )


class CctvAction(Frozen):
    """Add a CCTV zone (and, optionally, operators)."""

    districts: list[str] = Field(description="District types or identifiers covered.")
    coverage: Share = Field(0.6, description="Share of each cell in view.")
    operators: int = Field(0, ge=0, description="Operators added to the control room.")
    communes: list[str] | None = Field(
        None, min_length=1, description="Only these communes' districts; default: every commune's."
    )


class ContractAction(Frozen):
    """An integrated security contract: State and commune each commit officers and CCTV."""

    commune: str = Field(description="The commune signing with the State.")
    state_agency: str = Field("state_police", description="The State agency that reinforces.")
    state_officers: int = Field(0, ge=0, description="State officers added (whole officers).")
    municipal_agency: str | None = Field(
        None, description="The commune's municipal police (default: the one of this commune)."
    )
    municipal_officers: int = Field(
        0, ge=0, description="Municipal officers added (whole officers)."
    )
    cctv_districts: list[str] = Field(
        default_factory=list,
        description="Districts (types or identifiers) of the commune gaining CCTV: a type "
        "names the commune's districts of that type, not the other communes'.",
    )
    cctv_operators: int = Field(0, ge=0, description="CCTV operators added.")
    delay_days: NonNegFloat = Field(0.0, description="Recruitment and installation delay, days.")


class ProgrammeAction(Frozen):
    """Start (or resize) a citizen-watch or prevention programme."""

    watch_share: Share | None = Field(
        None, description="New share of residents in the citizen-watch scheme."
    )
    prevention_eur_per_year: NonNegFloat | None = Field(
        None, description="New annual prevention budget against drug markets, euros."
    )


class PrivateContractAction(Frozen):
    """Award a private security contract: more guarded sites and guard units."""

    agency: str = Field(description="The private security agency.")
    sites: int = Field(0, ge=0, description="Contracted sites added.")
    units: int = Field(0, ge=0, description="Units on duty added.")


class TimelineEvent(Frozen):
    """A policy change on a given day of the run: exactly one action."""

    day: float = Field(ge=0.0, description="Day of the run (warm-up included) it takes effect.")
    label: str = Field("", description="What the change is, for the reader.")
    set: dict[str, Any] | None = Field(
        None, description="Any settings by dotted key, e.g. {demand.rate_per_hour: 3}."
    )
    hire: HireAction | None = None
    cut: HireAction | None = None
    transfer: TransferAction | None = None
    cctv: CctvAction | None = None
    contract: ContractAction | None = None
    programme: ProgrammeAction | None = None
    private_contract: PrivateContractAction | None = None

    @model_validator(mode="after")
    def _one_action(self) -> TimelineEvent:
        given = [name for name in ACTIONS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one action among {', '.join(ACTIONS)} (found "
                f"{', '.join(given) or 'none'})"
            )
        return self

    @property
    def effective_day(self) -> float:
        """The day the change is in force (after any recruitment or installation delay)."""
        for act in (self.hire, self.contract):
            if act is not None:
                return self.day + act.delay_days
        return self.day

    @property
    def action(self) -> str:
        """The name of the action of this event."""
        return next(name for name in ACTIONS if getattr(self, name) is not None)


ACTIONS = ("set", "hire", "cut", "transfer", "cctv", "contract", "programme", "private_contract")


# --------------------------------------------------------------------------- run


class RunSpec(Frozen):
    """Horizon and seed; the command line can override each."""

    days: int = Field(365, ge=1, le=36_500, description="Simulated days counted in statistics.")
    warmup_days: int = Field(
        7, ge=0, le=3650, description="Days simulated before statistics start."
    )
    seed: int = Field(1, ge=0, le=SEED_MAX, description="Seed of the run's random streams.")
    drain_max_h: NonNegFloat = Field(
        72.0,
        description="After the horizon, keep simulating (without counting new calls) up "
        "to this many hours so that calls still open get their outcome.",
    )


# --------------------------------------------------------------------------- scenario


@dataclass(frozen=True)
class PolicyChange:
    """A scenario coming into force at a time of the run (possibly after its end).

    Attributes:
        hour: Model hour it takes effect.
        label: What changed, for people.
        scenario: The whole scenario in force from then on.
    """

    hour: float
    label: str
    scenario: Scenario


# A check of a valid scenario: the (dotted path, message) of each problem it finds.
ScenarioCheck = Callable[["Scenario"], list[tuple[tuple[str | int, ...], str]]]


# Collections of named entries that a scenario may leave at their defaults. A
# dotted key into one of their entries (``--set crime.types.burglary.report_prob=0.8``,
# an experiment's factor) edits that default entry: the loader writes the default
# collection out first, so that the other entries stay. A collection written in a
# file is the whole collection (``crime.types`` with one type has one type).
DEFAULT_ENTRIES: dict[tuple[str, str], Callable[[], Mapping[str, BaseModel]]] = {
    ("demand", "types"): _default_call_types,
    ("crime", "types"): _default_crime_types,
}

# Blocks whose entries fall back on built-in ones by name (a mode, a kind of agency):
# an entry written in a file replaces the built-in whole. A dotted key into one field
# of a built-in the scenario does not write (``--set modes.bicycle.speed_kmh=[18]``)
# edits the built-in: the loader writes it out first, so that its other fields stay.
BUILTIN_ENTRIES: dict[str, Mapping[str, BaseModel]] = {
    "modes": BUILTIN_MODES,
    "kinds": BUILTIN_KINDS,
}


class CompetenceRule(Frozen):
    """Who handles some incident types in some communes at some hours, instead of their lists.

    The first rule of ``competence_rules`` that matches an incident (its type, its
    commune, the hour it is dispatched) gives its agencies, in order; where none
    matches, the type's ``competences`` list does.
    """

    types: list[str] = Field(min_length=1, description="The incident types it is for.")
    communes: list[str] | None = Field(
        None,
        min_length=1,
        description="Where: the communes (names or codes); leave out for everywhere.",
    )
    hours: DayHours | None = Field(
        None,
        description="When: [start, end) hours of the day, as service_hours ([22, 6] wraps "
        "past midnight); leave out for all day.",
    )
    agencies: list[str] = Field(
        min_length=1,
        description="The agencies (or kinds) that may handle them there and then, in order, "
        "as in a competence list.",
    )

    @field_validator("communes", mode="before")
    @classmethod
    def _communes_text(cls, value: object) -> object:
        return _communes_as_text(value, "leave it out")


class Scenario(Frozen):
    """A complete, checked description of one simulated world.

    Besides its settings, a scenario that came through the loader carries what
    checking it computed: its compiled timeline (the scenario in force after each
    change) and the further checks it passed (such as the territory check, which
    builds the territory). A batch worker receives the scenario with them, so
    nothing is read, compiled or checked twice. They are not settings: equality
    compares settings only, and a copy with changed settings carries neither.
    """

    name: str = Field(min_length=1, description="Short identifier, used in output folders.")
    description: str = Field("", description="What the scenario represents.")
    territory: TerritorySpec = Field(default_factory=TerritorySpec)
    travel: TravelSpec = Field(default_factory=TravelSpec)
    demand: DemandSpec = Field(default_factory=DemandSpec)
    kinds: dict[str, Capabilities] = Field(
        default_factory=dict,
        description="Kinds of agency of this scenario, by name, each by its capabilities "
        "(a name of a built-in kind replaces it): e.g. intercommunal_police: {payer: "
        "intercommunal, jurisdiction: communes, armed: true, guardianship: 1.2}. A setting "
        "into one field of a built-in kind (--set kinds.municipal_police.armed=false) "
        "edits the built-in when the file does not write it.",
    )
    modes: dict[str, ModeSpec] = Field(
        default_factory=dict,
        description="Unit modes of this scenario, by name, each by its travel parameters "
        "and presence (a name of a built-in mode replaces it): e.g. scooter: {speed_kmh: "
        "[25], patrol_speed_kmh: 15, congestion: false}. A setting into one field of a "
        "built-in mode (--set modes.bicycle.speed_kmh=[18]) edits the built-in when the "
        "file does not write it.",
    )
    agencies: dict[str, AgencySpec] = Field(
        min_length=1, description="The agencies, by identifier."
    )
    competences: dict[str, list[str]] = Field(
        description="For each incident type, the ordered list of agencies (by identifier, "
        "or by kind: `municipal_police` means the municipal police of the commune where "
        "the incident is) that may handle it. The first with a free unit is sent."
    )
    competence_rules: list[CompetenceRule] = Field(
        default_factory=list,
        description="Where and when other agencies handle some types: the first rule "
        "that matches an incident's type, commune and hour gives its list instead of "
        "the type's competences.",
    )
    dispatch: DispatchSpec = Field(default_factory=DispatchSpec)
    citizens: CitizensSpec = Field(default_factory=CitizensSpec)
    crime: CrimeSpec | None = Field(
        None, description="The crime engine; leave it out for calls for service only."
    )
    cctv: CctvSpec = Field(default_factory=CctvSpec)
    timeline: list[TimelineEvent] = Field(
        default_factory=list,
        description="Policy changes during the run, each on a day, in any order.",
    )
    run: RunSpec = Field(default_factory=RunSpec)

    _policy_changes: tuple[PolicyChange, ...] | None = PrivateAttr(default=None)
    _passed: tuple[ScenarioCheck, ...] = PrivateAttr(default=())
    _notes: tuple[Problem, ...] = PrivateAttr(default=())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Scenario):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy; one with changed settings forgets what checking the original computed."""
        copied = super().model_copy(update=update, deep=deep)
        if update:
            copied._policy_changes = None
            copied._passed = ()
            copied._notes = ()
        return copied

    @property
    def policy_changes(self) -> tuple[PolicyChange, ...] | None:
        """The compiled timeline, once compiled (see ``scenario.timeline.policy_changes``)."""
        return self._policy_changes

    def remember_policy_changes(self, changes: tuple[PolicyChange, ...]) -> None:
        """Keep the compiled timeline with the scenario (it is a function of the settings)."""
        self._policy_changes = changes

    def passed(self, check: ScenarioCheck) -> bool:
        """Whether the loader ran ``check`` on this scenario and it found nothing."""
        return check in self._passed

    def remember_passed(self, checks: Sequence[ScenarioCheck]) -> None:
        """Record checks that found nothing (the loader calls this)."""
        self._passed = (*self._passed, *(c for c in checks if c not in self._passed))

    @property
    def notes(self) -> tuple[Problem, ...]:
        """What the loader noted of the settings, allowed but likely not meant.

        Each located as a problem is (``scenario.checks.advisory_findings``);
        validate and run print them and go on.
        """
        return self._notes

    def remember_notes(self, notes: Sequence[Problem]) -> None:
        """Keep the loader's notes with the scenario (the loader calls this)."""
        self._notes = tuple(notes)

    def capabilities(self, agency: str) -> Capabilities:
        """The capabilities of an agency: its kind's, with its own overrides.

        Raises:
            KeyError: If the agency or its kind is unknown (the checks report it first).
        """
        spec = self.agencies[agency]
        legacy = None
        if self.crime is not None and spec.kind in BUILTIN_KINDS:  # not `cctv`, `watch`
            legacy = getattr(self.crime.guardianship, spec.kind)
        return resolve(
            spec.kind,
            self.kinds,
            spec.capabilities,
            judicial=spec.powers.judicial,
            armed=spec.powers.armed,
            guardianship=legacy,
        )

    def mode_of(self, agency: str) -> ModeSpec:
        """The mode of an agency's crews.

        Raises:
            KeyError: If the agency or its mode is unknown (the checks report it first).
        """
        name = self.agencies[agency].mode
        return self.modes[name] if name in self.modes else BUILTIN_MODES[name]

    def incident_types(self) -> list[str]:
        """Every incident type dispatch may meet: call types, then offence types."""
        crime = list(self.crime.types) if self.crime is not None else []
        return [*self.demand.types, *crime]


def write_default_entries(data: dict[str, Any], key: tuple[str | int, ...]) -> None:
    """Write out the default collection that ``key`` goes into, if the data left it out.

    ``crime.types.burglary.report_prob`` on a scenario whose crime block leaves
    its types at their defaults edits the default burglary and keeps the other
    types (:data:`DEFAULT_ENTRIES`); a scenario with no crime block gets none.
    ``modes.bicycle.speed_kmh`` on a scenario that does
    not write the bicycle mode edits the built-in bicycle and keeps its other
    fields (:data:`BUILTIN_ENTRIES`). The loader calls it before each ``--set``, the
    timeline before each setting of a ``set:`` event.
    """
    builtins = BUILTIN_ENTRIES.get(str(key[0])) if len(key) >= 3 else None
    if builtins is not None and str(key[1]) in builtins:
        section = data.get(str(key[0]))
        if section is None:
            section = data[str(key[0])] = {}
        if isinstance(section, dict) and key[1] not in section:
            section[key[1]] = builtins[str(key[1])].model_dump(mode="json")
    for (block, name), defaults in DEFAULT_ENTRIES.items():
        if len(key) < 3 or (key[0], key[1]) != (block, name):
            continue
        section = data.get(block)
        if section is None and Scenario.model_fields[block].default_factory is not None:
            section = data[block] = {}
        if isinstance(section, dict) and name not in section:
            section[name] = {
                entry: spec.model_dump(mode="json") for entry, spec in defaults().items()
            }
