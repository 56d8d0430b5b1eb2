"""The summary of a run as a typed structure.

:class:`Summary` is what ``summary.json`` holds, field for field and in the same
order: :meth:`Summary.as_json` gives that file's mapping. Its fields are also
what an experiment's ``outputs:`` may name (:func:`summary_shape`), so a
misspelt output is refused when the experiment is read, not dropped after its
runs.

Pydantic models rather than frozen dataclasses: the project already checks its
inputs with pydantic, the models validate what the metrics hand over (a count
that came out as a float is a bug caught at once), they are frozen, and their
field types can be walked to give the shape the experiment check needs.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Union

from pydantic import BaseModel, ConfigDict, model_serializer, model_validator

from simulator.scenario.kinds import BASE_PAYERS


class _Record(BaseModel):
    """Base of the summary's blocks: immutable, and no key that is not declared."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Stats(_Record):
    """Count, mean and quantiles of a set of durations (minutes); None when empty."""

    n: int
    mean: float | None
    p50: float | None
    p90: float | None


class Calls(_Record):
    """Calls for service reported inside the statistics window."""

    total: int
    answered: int
    unanswered: int
    abandoned: int
    no_agency: int
    per_day: float
    by_type: dict[str, int]


class Wait(Stats):
    """From the call to the dispatch of a unit, for answered calls."""

    ci95: list[float] | None  # batch means; None with too few calls
    by_priority: dict[str, Stats]


class Preemptions(_Record):
    """Crews called away by an urgent call inside the window, by what they left."""

    duty: int  # a non-call duty
    call: int  # the way to a less urgent call, which went back to the queue


class Response(Stats):
    """From the call to the first unit on scene, for calls a unit reached."""

    ci95: list[float] | None
    within_target_share: float | None  # over all counted calls: unreached ones missed it
    by_agency: dict[str, Stats]
    by_priority: dict[str, Stats]
    by_type: dict[str, Stats]
    by_district_type: dict[str, Stats]


class Handovers(_Record):
    """Hand-overs of arrested persons reported inside the window."""

    total: int
    answered: int
    wait_min_mean: float | None


class Costs(_Record):
    """Costs by payer, agency and commune (euros).

    In JSON, the payers' totals come first, each under its payer's name (``state``,
    ``commune``, ``private``), then ``by_agency`` and ``by_commune``.
    """

    by_payer: dict[str, float]
    by_agency: dict[str, float]
    by_commune: dict[str, float]

    @model_validator(mode="before")
    @classmethod
    def _nest(cls, data: Any) -> Any:
        """Accept the flat form (a breakdown of :mod:`simulator.records.costs`, or JSON)."""
        if isinstance(data, dict) and "by_payer" not in data:
            mappings = ("by_agency", "by_commune")
            payers = {k: v for k, v in data.items() if k not in mappings}
            return {"by_payer": payers, **{k: data.get(k, {}) for k in mappings}}
        return data

    @model_serializer(mode="plain")
    def _flat(self) -> dict[str, Any]:
        return {**self.by_payer, "by_agency": self.by_agency, "by_commune": self.by_commune}


class Trust(_Record):
    """Residents' mean trust in the police (0 to 1).

    ``lowest_district_end`` is the mean trust at the end in the district where it
    is lowest (districts with residents): who is left behind, not only the average.
    """

    mean_start: float
    mean_end: float
    lowest_district_end: float


class Fear(_Record):
    """Residents' mean fear of crime (0 to 1) at the end."""

    mean_end: float


class OffenceType(_Record):
    """Offences of one type that occurred inside the window.

    ``recorded_qpv_over_rest``: recorded offences per resident of the priority
    neighbourhoods over those per resident of the rest (None without both).
    """

    actual: int
    recorded: int
    actual_per_1000: float
    recorded_per_1000: float
    dark_figure_share: float | None
    recorded_qpv_over_rest: float | None


class OffencePlace(_Record):
    """Offences in districts of one type (rates None where nobody lives)."""

    actual: int
    recorded: int
    actual_per_1000: float | None
    recorded_per_1000: float | None


class Clearance(_Record):
    """Offences of the window whose offender was arrested before the run ended.

    ``rate`` is over recorded offences, as police clearance rates are; ``by_type``
    likewise; ``by_agency`` counts the offences each agency cleared.
    """

    cleared: int
    on_scene: int
    later: int
    rate: float | None
    by_type: dict[str, float | None]
    by_agency: dict[str, int]


class Offences(_Record):
    """Offences that occurred inside the window, actual and recorded."""

    actual: int
    recorded: int
    actual_per_1000: float
    recorded_per_1000: float
    by_known: dict[str, int]
    by_type: dict[str, OffenceType]
    by_district_type: dict[str, OffencePlace]
    dark_figure_share: float | None
    clearance: Clearance


class Offenders(_Record):
    """The motivated offenders: how many, and how many held (custody or prison)."""

    pool: int
    held_mean: float | None  # over the days of the window
    held_end: int | None
    arrests_by_agency: dict[str, int]  # arrests inside the window: on scene and later


class Victimisation(_Record):
    """Offences against residents, per 1,000 residents a year, by the victim's home."""

    per_1000: float
    by_home_district_type: dict[str, float | None]
    qpv_over_rest: float | None  # ratio of the rate in priority neighbourhoods to the rest


class Summary(_Record):
    """The one-row summary of a run (``summary.json``).

    ``offences``, ``dark_figure_share``, ``victimised_share``, ``offenders`` and
    ``victimisation`` are None for a scenario without crime, and then absent from
    the JSON. ``direct_calls`` (calls reported in the window that residents
    addressed to an agency directly, by agency: ``agencies.*.direct_calls``) is
    None, and absent, when no agency has direct calls.
    """

    scenario: str
    seed: int
    days: int
    warmup_days: int
    residents: int
    calls: Calls
    direct_calls: dict[str, int] | None = None  # calls addressed to each agency directly
    wait_min: Wait
    response_min: Response
    handovers: Handovers
    utilisation: dict[str, float | None]
    duty_share: dict[str, float | None]
    road_share: dict[str, float | None]
    officers: dict[str, float]
    units_on_duty_mean: dict[str, float]
    cost_eur: Costs
    cost_eur_per_year: Costs
    trust: Trust
    fear: Fear
    preemptions: Preemptions
    offences: Offences | None = None
    dark_figure_share: float | None = None
    victimised_share: float | None = None
    offenders: Offenders | None = None
    victimisation: Victimisation | None = None
    events: int
    runtime_s: float

    def as_json(self) -> dict[str, Any]:
        """The mapping ``summary.json`` holds (what readers of the files see)."""
        out = self.model_dump()
        if self.offences is None:  # no crime engine: the crime keys are absent, not null
            for key in ("offences", "dark_figure_share", "victimised_share"):
                del out[key]
        if self.direct_calls is None:  # no direct calls: absent, as before they existed
            del out["direct_calls"]
        return out


KNOWN_WAYS = ("reported", "detected", "dark")  # how an offence became known (or not)
INTERVAL = "interval"  # a shape leaf: a confidence interval, named whole or by low/high

# What names the entries of each of the summary's mappings (by dotted path): an
# experiment's outputs may name an entry only by one of these names, which the arms'
# scenarios give (:func:`simulator.batch.spec.entry_names`). A run lists every type,
# priority, agency and district type it could have (a count of nothing 0, a statistic
# of nothing null: :func:`simulator.records.metrics.listed_names`); other entries (a
# commune's cost, a direct line) only where they exist.
ENTRY_NAMES: dict[str, str] = {
    "calls.by_type": "call types",
    "direct_calls": "agencies",
    "wait_min.by_priority": "priorities",
    "response_min.by_agency": "agencies",
    "response_min.by_priority": "priorities",
    "response_min.by_type": "call types",
    "response_min.by_district_type": "district types",
    "utilisation": "agencies",
    "duty_share": "agencies",
    "road_share": "agencies",
    "officers": "agencies",
    "units_on_duty_mean": "agencies",
    "cost_eur.by_agency": "agencies and programmes",
    "cost_eur.by_commune": "communes",
    "cost_eur_per_year.by_agency": "agencies and programmes",
    "cost_eur_per_year.by_commune": "communes",
    "offences.by_known": "ways of becoming known",
    "offences.by_type": "offence types",
    "offences.by_district_type": "district types",
    "offences.clearance.by_type": "offence types",
    "offences.clearance.by_agency": "agencies",
    "offenders.arrests_by_agency": "agencies",
    "victimisation.by_home_district_type": "district types",
}


def _shape(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, Costs):
        return {**dict.fromkeys(BASE_PAYERS), "by_agency": {}, "by_commune": {}}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        hints = typing.get_type_hints(annotation)
        return {name: _shape(hints[name]) for name in annotation.model_fields}
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        real = [a for a in args if a is not type(None)]
        return _shape(real[0]) if len(real) == 1 else None
    if origin is dict:
        entry = _shape(args[1])
        # One entry per agency, type, priority or commune: named by the scenario. An
        # entry with values of its own is shown under the key "*".
        return {"*": entry} if isinstance(entry, dict) else {}
    if origin is list:
        return INTERVAL
    return None


def summary_shape() -> dict[str, Any]:
    """The summary's shape: what an experiment's outputs may name.

    A mapping per group of values; ``None`` for a value; :data:`INTERVAL` for a
    confidence interval (its ``low`` and ``high`` ends may be named too); ``{}``
    for a mapping with one value per agency, type or commune (any name); and
    ``{"*": shape}`` for one with an entry of that shape per name.
    """
    shape: dict[str, Any] = _shape(Summary)
    return shape


def flatten(summary: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested summary to ``{"a.b.c": scalar}``; a confidence interval gives two columns.

    The one-row form of a summary: ``summary.parquet`` of a run, a row of a batch's
    ``summaries.parquet``.
    """
    flat: dict[str, Any] = {}
    for key, value in summary.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        elif isinstance(value, list | tuple):
            if len(value) == 2 and all(isinstance(v, int | float) for v in value):
                flat[name + ".low"], flat[name + ".high"] = value
        elif value is None or isinstance(value, bool | int | float | str):
            flat[name] = value
    return flat
