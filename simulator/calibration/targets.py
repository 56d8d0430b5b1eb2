"""Calibration targets: an observed figure, its uncertainty, its source, and the model output.

A target names the value of a run's summary it is compared with (a dotted key
of ``summary.json``, the same an experiment's ``outputs:`` may name), optionally
divided by the sum of other summary keys, multiplied by a factor and put on a
yearly basis. Its observed value comes with an uncertainty (a standard
deviation, or an acceptable range ``[a, b]`` read as a standard deviation of
``(b - a) / 4``), a model discrepancy, the population and year it describes,
and its sources. ``use`` says whether history matching fits it (``fit``),
reports it as a held-out check (``check``), or only records it because the
model has no such output yet (``none``).

Targets files are read like scenarios: every problem with file, line and key.
"""

from __future__ import annotations

from pathlib import Path as FsPath
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, ValidationError, model_validator

from simulator.batch.spec import output_problem
from simulator.records.summary import summary_shape
from simulator.scenario.errors import Problem, ScenarioError
from simulator.scenario.loader import Positions, read_model
from simulator.scenario.messages import describe_error
from simulator.scenario.schema import Frozen

Use = Literal["fit", "check", "none"]
DAYS_PER_YEAR = 365.0


class SourceSpec(Frozen):
    """Where an observed figure comes from."""

    author: str = Field(min_length=1, description="Author or institution.")
    year: int | str = Field(description="Year of publication.")
    title: str = Field(min_length=1, description="Title of the publication or page.")
    where: str = Field(min_length=1, description="Where to find it (address, series, report).")


class TargetSpec(Frozen):
    """One observed figure and the model output it is compared with."""

    label: str = Field("", description="What the figure is, in words.")
    output: str | None = Field(
        None,
        description="The summary key (dotted, as in summary.json) the figure is compared "
        "with; omitted only with use: none.",
    )
    per: list[str] = Field(
        default_factory=list,
        description="Summary keys whose sum divides the output (e.g. [residents]).",
    )
    factor: float = Field(1.0, gt=0, description="Multiplies the statistic (e.g. 1000).")
    per_year: bool = Field(
        False, description="Multiply by 365 / days: a count over the window made yearly."
    )
    value: float | None = Field(None, description="The observed value.")
    sd: float | None = Field(None, gt=0, description="Its standard deviation.")
    range: tuple[float, float] | None = Field(
        None, description="An acceptable range [a, b]; its standard deviation is (b - a) / 4."
    )
    discrepancy_sd: float = Field(
        0.0, ge=0, description="Model discrepancy (standard deviation): what the model lacks."
    )
    use: Use = Field(
        description="fit: used to rule out parameters; check: held out, reported only; "
        "none: the model has no such output yet (say why in note)."
    )
    population: str = Field(min_length=1, description="Who or where the figure describes.")
    year: int | str = Field(description="The year (or years) it describes.")
    sources: list[SourceSpec] = Field(min_length=1, description="Where it comes from.")
    evidence: list[str] = Field(
        default_factory=list, description="Rows of the project's EVIDENCE table it rests on."
    )
    note: str = Field(
        "", description="Definitions, derivations, and whether it is a press or official figure."
    )

    @model_validator(mode="after")
    def _coherent(self) -> TargetSpec:
        if self.value is None and self.range is None:
            raise ValueError("give value (with sd or range) or range")
        if self.range is not None and self.range[0] >= self.range[1]:
            raise ValueError("range: the low end must be below the high end")
        if self.value is not None and self.sd is None and self.range is None:
            raise ValueError("give the uncertainty of value: sd, or an acceptable range")
        if self.use != "none" and self.output is None:
            raise ValueError("a target used to fit or check needs output (a summary key)")
        if self.use == "none" and not self.note:
            raise ValueError("a target with use: none needs a note saying why")
        return self

    @property
    def observed(self) -> float:
        """The observed value z (the middle of the range when no value is given)."""
        if self.value is not None:
            return self.value
        assert self.range is not None
        return (self.range[0] + self.range[1]) / 2.0

    @property
    def obs_var(self) -> float:
        """V_obs: the variance of the observation."""
        if self.sd is not None:
            return self.sd**2
        assert self.range is not None
        return ((self.range[1] - self.range[0]) / 4.0) ** 2

    @property
    def bounds(self) -> tuple[float, float]:
        """The acceptable range: ``range``, or value plus or minus two standard deviations."""
        if self.range is not None:
            return self.range
        spread = 2.0 * float(np.sqrt(self.obs_var))
        return (self.observed - spread, self.observed + spread)

    @property
    def columns(self) -> list[str]:
        """The summary columns the statistic reads."""
        assert self.output is not None
        return [self.output, *self.per, *(["days"] if self.per_year else [])]

    @property
    def possible(self) -> tuple[float, float]:
        """Where the statistic can lie: an interval around a mean is cut to this.

        Every summary output is a count, a time, a rate, a ratio or a share, none
        negative; a share (a key with a part ending in ``share``:
        ``road_share.state_police``, ``offences.dark_figure_share``) read as it is
        (no ``per``, no ``per_year``) is at most ``factor``.
        """
        assert self.output is not None
        share = any(part.endswith("share") for part in self.output.split("."))
        top = self.factor if share and not self.per and not self.per_year else float("inf")
        return (0.0, top)

    def interval(self, mean: float, half: float) -> tuple[float, float]:
        """``mean`` plus or minus ``half``, cut to :attr:`possible`."""
        least, most = self.possible
        return max(mean - half, least), min(mean + half, most)

    def statistic(self, runs: pd.DataFrame) -> pd.Series:
        """The target's statistic for each run (a row of flattened summaries).

        Raises:
            KeyError: If a column the statistic reads is absent from the runs.
        """
        assert self.output is not None
        value = runs[self.output].astype(float)
        if self.per:
            value = value / runs[self.per].astype(float).sum(axis=1)
        if self.per_year:
            value = value * DAYS_PER_YEAR / runs["days"].astype(float)
        return value * self.factor


class TargetsFile(Frozen):
    """A targets file: a description and the targets by name."""

    description: str = Field("", description="What the targets describe.")
    targets: dict[str, TargetSpec] = Field(min_length=1, description="The targets, by name.")


def output_problems(
    targets: dict[str, TargetSpec], pos: Positions, prefix: tuple[str, ...]
) -> list[Problem]:
    """Targets whose output or ``per`` keys name no value of a run's summary."""
    shape = summary_shape()
    problems = []
    for name, target in targets.items():
        if target.use == "none" or target.output is None:
            continue
        keys: list[tuple[tuple[str | int, ...], str]] = [((*prefix, name, "output"), target.output)]
        keys += [((*prefix, name, "per", i), key) for i, key in enumerate(target.per)]
        for at, key in keys:
            wrong = output_problem(key, shape)
            if wrong is not None:
                problems.append(Problem(*pos.find(at), at, wrong))
    return problems


def parse_targets(
    data: dict[str, Any], pos: Positions, prefix: tuple[str, ...] = ("targets",)
) -> dict[str, TargetSpec]:
    """Check targets read from YAML (a targets file's ``targets:``, or inline ones).

    Raises:
        ScenarioError: With every problem, each with file, line and key.
    """
    try:
        parsed = TargetsFile.model_validate({"targets": data})
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            key, message = describe_error(err, {"targets": data}, TargetsFile)
            at = (*prefix, *key[1:])
            problems.append(Problem(*pos.find(at), at, message))
        raise ScenarioError(problems, what="targets") from None
    problems = output_problems(parsed.targets, pos, prefix)
    if problems:
        raise ScenarioError(problems, what="targets")
    return parsed.targets


def load_targets(path: str | FsPath) -> TargetsFile:
    """Read and check a targets file.

    Raises:
        ScenarioError: With every problem, each with file, line and key.
    """
    spec, _, pos = read_model(path, TargetsFile, "targets")
    problems = output_problems(spec.targets, pos, ("targets",))
    if problems:
        raise ScenarioError(problems, what="targets")
    return spec
