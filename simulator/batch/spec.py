"""Experiment files: arms, factors with a design, replicates, seeds, horizon, outputs.

They are read and checked like scenarios: every problem with file, line, key,
what was found and what is allowed, and a did-you-mean.
"""

from __future__ import annotations

import json
from pathlib import Path as FsPath
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from simulator.agencies import territory_findings
from simulator.scenario.errors import Problem, ScenarioError, did_you_mean
from simulator.scenario.loader import Positions, load_scenario, read_yaml
from simulator.scenario.messages import describe_error
from simulator.scenario.schema import Frozen, NonNegFloat

DEFAULT_OUTPUTS = [
    "calls.total",
    "calls.unanswered",
    "wait_min.mean",
    "response_min.mean",
    "response_min.p90",
    "response_min.within_target_share",
    "offences.actual_per_1000",
    "offences.recorded_per_1000",
    "dark_figure_share",
    "trust.mean_end",
    "cost_eur_per_year.state",
    "cost_eur_per_year.commune",
    "cost_eur_per_year.private",
]


class ArmSpec(Frozen):
    """One arm: a scenario file and overrides of its settings."""

    scenario: str = Field(description="Scenario file, relative to the experiment file.")
    set: dict[str, Any] = Field(
        default_factory=dict, description="Overrides by dotted key, as with --set."
    )


class FactorSpec(Frozen):
    """A factor: a scenario setting, by dotted key, that the design varies."""

    values: list[Any] | None = Field(None, description="Levels (grid and list designs).")
    low: float | None = Field(None, description="Lower bound (sampled designs).")
    high: float | None = Field(None, description="Upper bound (sampled designs).")
    integer: bool = Field(False, description="Round sampled values to integers.")

    @model_validator(mode="after")
    def _levels_or_bounds(self) -> FactorSpec:
        if self.values is None and (self.low is None or self.high is None):
            raise ValueError("give either values: [...] or low and high")
        if self.low is not None and self.high is not None and self.low >= self.high:
            raise ValueError("low must be below high")
        return self


class DesignSpec(Frozen):
    """How factor values are combined into design points."""

    kind: Literal["none", "grid", "list", "lhs", "sobol", "morris"] = Field(
        "none",
        description="`grid`: every combination of values; `list`: the i-th value of every "
        "factor together; `lhs`: Latin hypercube of `samples` points; `sobol`: Saltelli "
        "sampling for Sobol indices (SALib); `morris`: Morris trajectories (SALib).",
    )
    samples: int = Field(
        8,
        ge=1,
        le=100_000,
        description="Points (lhs), base samples N (sobol: N x (2k+2) points) or "
        "trajectories (morris).",
    )
    factors: dict[str, FactorSpec] = Field(
        default_factory=dict, description="The factors, by the dotted key they set."
    )


class ExperimentSpec(Frozen):
    """A batch: arms x design points x replicates, with common random numbers."""

    name: str = Field(min_length=1, description="Identifier of the experiment.")
    description: str = Field("", description="The question it answers.")
    arms: dict[str, ArmSpec] = Field(min_length=1, description="The arms, by identifier.")
    reference: str | None = Field(
        None, description="The arm others are compared with (default: the first)."
    )
    design: DesignSpec = Field(default_factory=DesignSpec)
    replicates: int = Field(5, ge=1, le=10_000, description="Replicates per arm and point.")
    seed: int = Field(
        2026,
        ge=0,
        description="Root seed; replicate i of every arm shares the i-th seed spawned from it.",
    )
    days: int = Field(365, ge=1, description="Days counted in statistics, every run.")
    warmup_days: int = Field(7, ge=0, description="Warm-up days, every run.")
    design_seed: NonNegFloat = Field(0, description="Seed of sampled designs (lhs, sobol).")
    outputs: list[str] = Field(
        default_factory=lambda: list(DEFAULT_OUTPUTS),
        description="Summary keys (dotted) kept in the consolidated table.",
    )
    keep_incidents: bool = Field(
        False, description="Also keep each run's incident records (large)."
    )

    @field_validator("outputs")
    @classmethod
    def _outputs(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("keep at least one output")
        return value

    @property
    def reference_arm(self) -> str:
        """The reference arm's identifier."""
        return self.reference or next(iter(self.arms))


def load_experiment(path: str | FsPath) -> ExperimentSpec:
    """Read and check an experiment file, including every arm's scenario.

    Raises:
        ScenarioError: With every problem, each with file, line and key.
    """
    fs_path = FsPath(path)
    pos = Positions(str(fs_path))
    data = read_yaml(fs_path, pos)
    data.setdefault("name", fs_path.stem)
    try:
        spec = ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            key, message = describe_error(err, data, ExperimentSpec)
            problems.append(Problem(*pos.find(key), key, message))
        raise ScenarioError(problems) from None
    problems = []
    if spec.reference is not None and spec.reference not in spec.arms:
        near = did_you_mean(spec.reference, spec.arms)
        hint = f" (did you mean '{near}'?)" if near else ""
        problems.append(
            Problem(
                *pos.find(("reference",)), ("reference",), f"unknown arm '{spec.reference}'{hint}"
            )
        )
    kind = spec.design.kind
    for name, factor in spec.design.factors.items():
        factor_at: tuple[str, ...] = ("design", "factors", name)
        if kind in ("grid", "list") and factor.values is None:
            problems.append(
                Problem(*pos.find(factor_at), factor_at, f"a {kind} design needs values")
            )
        if kind in ("lhs", "sobol", "morris") and factor.low is None:
            problems.append(
                Problem(*pos.find(factor_at), factor_at, f"a {kind} design needs low and high")
            )
    if kind == "list":
        lengths = {len(f.values or []) for f in spec.design.factors.values()}
        if len(lengths) > 1:
            problems.append(
                Problem(
                    *pos.find(("design",)),
                    ("design", "factors"),
                    "a list design needs the same number of values per factor",
                )
            )
    if kind != "none" and not spec.design.factors:
        problems.append(
            Problem(*pos.find(("design",)), ("design", "factors"), f"a {kind} design needs factors")
        )
    if problems:
        raise ScenarioError(problems)
    for arm_name, arm in spec.arms.items():
        scenario_path = arm_scenario_path(fs_path, arm)
        try:
            load_scenario(scenario_path, arm_overrides(spec, arm, {}), (territory_findings,))
        except ScenarioError as exc:
            where = ("arms", arm_name)
            problems.append(
                Problem(
                    *pos.find(where),
                    where,
                    "its scenario does not load: " + "; ".join(str(p) for p in exc.problems),
                )
            )
    if problems:
        raise ScenarioError(problems)
    return spec


def arm_scenario_path(experiment_path: FsPath, arm: ArmSpec) -> FsPath:
    """The arm's scenario file, resolved against the experiment file's folder."""
    return (experiment_path.parent / arm.scenario).resolve()


def arm_overrides(spec: ExperimentSpec, arm: ArmSpec, point: dict[str, Any]) -> list[str]:
    """The ``--set`` strings of a run: horizon, the arm's settings, the design point."""

    def as_set(key: str, value: Any) -> str:
        return f"{key}={json.dumps(value)}"  # JSON is YAML: the value keeps its type

    sets = [as_set("run.days", spec.days), as_set("run.warmup_days", spec.warmup_days)]
    sets += [as_set(k, v) for k, v in arm.set.items()]
    sets += [as_set(k, v) for k, v in point.items()]
    return sets
