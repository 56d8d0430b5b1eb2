"""Calibration files: the scenario, the parameters to estimate, the targets, runs and method.

Read and checked like scenarios and experiments: a wrong key, a parameter that
names no setting of the scenario (checked by applying it), bounds the scenario
refuses or in the wrong order, an unknown target or summary key: each is
reported with file, line, key and what is allowed.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from simulator.agencies.agency import territory_findings
from simulator.batch.spec import output_problem, outputs_shape
from simulator.calibration.targets import TargetSpec, load_targets, output_problems
from simulator.scenario.errors import Problem, ScenarioError, did_you_mean_hint
from simulator.scenario.keys import dotted, missing_part, parse_key, set_value
from simulator.scenario.loader import (
    Positions,
    load_raw,
    load_variants,
    read_model,
    resolved_dict,
)
from simulator.scenario.schema import SEED_MAX, Frozen, Scenario

# Settings a calibration may not estimate: they describe the run, not the world.
RUN_KEYS = ("run.", "name", "description")


class ParameterSpec(Frozen):
    """A setting to estimate: its bounds and the scale it is searched on."""

    bounds: tuple[float, float] = Field(description="[low, high]: the prior box.")
    scale: Literal["linear", "log"] = Field(
        "linear", description="log: searched uniformly in log(value) (bounds must be > 0)."
    )
    integer: bool = Field(False, description="Round values to whole numbers (unit counts).")

    @field_validator("bounds")
    @classmethod
    def _ordered(cls, bounds: tuple[float, float]) -> tuple[float, float]:
        low, high = bounds
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError("bounds must be finite numbers")
        if low >= high:
            raise ValueError(f"low ({low:g}) must be below high ({high:g})")
        return bounds

    @model_validator(mode="after")
    def _positive_for_log(self) -> ParameterSpec:
        low = self.bounds[0]
        if self.scale == "log" and low <= 0:
            raise ValueError(f"scale: log needs bounds above 0, found low {low:g}")
        return self


class TargetsBlock(Frozen):
    """Which targets to match: from a file, inline, or both."""

    file: str | None = Field(None, description="Targets file, relative to the calibration file.")
    use: list[str] | None = Field(
        None,
        description="Names of the targets to use (default: every target of the file whose "
        "use is fit or check).",
    )
    inline: dict[str, TargetSpec] = Field(
        default_factory=dict, description="Targets written here, by name."
    )

    @model_validator(mode="after")
    def _some(self) -> TargetsBlock:
        if self.file is None and not self.inline:
            raise ValueError("give file: (a targets file) or inline: targets")
        return self


class RunBlock(Frozen):
    """How each parameter set is run."""

    days: int = Field(365, ge=1, description="Days counted in statistics, every run.")
    warmup_days: int = Field(7, ge=0, description="Warm-up days, every run.")
    replicates: int = Field(
        4, ge=2, le=1000, description="Replicates per point (seeds shared across points)."
    )


class MethodBlock(Frozen):
    """History matching settings (Vernon et al. 2010; Andrianakis et al. 2015)."""

    kind: Literal["history_matching"] = Field(
        "history_matching", description="The method (history matching with GP emulators)."
    )
    waves: int = Field(4, ge=1, le=50, description="Most waves.")
    points: int = Field(30, ge=4, le=10_000, description="Design points per wave.")
    cutoff: float = Field(3.0, gt=0, description="Implausibility cut-off (Pukelsheim's 3).")
    rule: Literal["max", "second_max"] = Field(
        "max", description="Rule out on the largest or the second largest implausibility."
    )
    seed: int = Field(
        2026, ge=0, le=SEED_MAX, description="Seed of designs, emulators and replicates."
    )
    candidates: int = Field(
        20_000, ge=100, le=10_000_000, description="Candidates drawn to find the NROY space."
    )
    min_shrink: float = Field(
        0.05,
        ge=0,
        lt=1,
        description="Stop when a wave shrinks the NROY share by less than this fraction.",
    )
    best_replicates: int = Field(
        10, ge=2, le=10_000, description="Replicates of the best point, for the fit table."
    )


class QuickBlock(Frozen):
    """Smaller settings for ``--quick`` (minutes, for a try or a test)."""

    days: int | None = Field(None, ge=1)
    warmup_days: int | None = Field(None, ge=0)
    replicates: int | None = Field(None, ge=2, le=1000)
    waves: int | None = Field(None, ge=1, le=50)
    points: int | None = Field(None, ge=4, le=10_000)
    candidates: int | None = Field(None, ge=100, le=10_000_000)
    best_replicates: int | None = Field(None, ge=2, le=10_000)


class CalibrationFile(Frozen):
    """A calibration: which settings of which scenario, matched to which targets, how."""

    name: str = Field(min_length=1, description="Identifier of the calibration.")
    description: str = Field("", description="What it calibrates, and why.")
    scenario: str = Field(description="Scenario file, relative to the calibration file.")
    parameters: dict[str, ParameterSpec] = Field(
        min_length=1, description="The settings to estimate, by dotted key (as --set)."
    )
    targets: TargetsBlock
    run: RunBlock = Field(default_factory=RunBlock)
    method: MethodBlock = Field(default_factory=MethodBlock)
    quick: QuickBlock = Field(default_factory=QuickBlock)

    def sized(self, quick: bool) -> CalibrationFile:
        """The calibration with its ``quick:`` settings applied (itself if not quick)."""
        if not quick:
            return self
        q = self.quick
        run = {k: getattr(q, k) for k in RunBlock.model_fields if getattr(q, k) is not None}
        method = {k: getattr(q, k) for k in MethodBlock.model_fields if getattr(q, k, None)}
        return self.model_copy(
            update={
                "run": self.run.model_copy(update=run),
                "method": self.method.model_copy(update=method),
            }
        )


@dataclass(frozen=True)
class Calibration:
    """A checked calibration file with what it refers to, resolved."""

    path: FsPath
    spec: CalibrationFile
    scenario_path: FsPath
    scenario: Scenario
    targets: dict[str, TargetSpec]  # the targets used (fit and check), in file order
    anchors: dict[str, str]  # parameter -> the setting written to put it in force

    def settings(self, values: Mapping[str, float | int]) -> dict[str, Any]:
        """The settings (dotted key -> value) that put a parameter set in force.

        See :func:`point_settings`.
        """
        return point_settings(values, self.anchors, resolved_dict(self.scenario))

    @property
    def fit_names(self) -> list[str]:
        """Targets that rule out parameters."""
        return [n for n, t in self.targets.items() if t.use == "fit"]

    @property
    def outputs(self) -> list[str]:
        """The summary keys the targets read."""
        keys: list[str] = []
        for target in self.targets.values():
            keys += [k for k in target.columns if k not in keys]
        return keys

    def identity(self) -> dict[str, Any]:
        """What the calibration's results depend on (checked on ``--resume``)."""
        return {
            "calibration": self.spec.model_dump(mode="json"),
            "targets": {n: t.model_dump(mode="json") for n, t in self.targets.items()},
            "scenario": resolved_dict(self.scenario),
        }

    def identity_text(self) -> str:
        """The identity as JSON text."""
        return json.dumps(self.identity(), indent=2, sort_keys=True)


def anchors_of(scenario_path: FsPath, keys: list[str]) -> dict[str, str]:
    """For each parameter, the setting to write so that it takes effect.

    A parameter whose key the scenario file (with what it extends) writes is set
    as it is. One that only has a default, inside a mapping the file does not
    write (``crime.types.burglary.report_prob`` when the file keeps the default
    offence types), cannot be set alone: the mapping would hold that one key and
    lose the defaults beside it. It is set through the first part of its key the
    file does not write (``crime.types``), given whole, as resolved, with the
    parameter's value in it: the same settings, written out.
    """
    raw, _ = load_raw(scenario_path)
    anchors = {}
    for key in keys:
        missing = missing_part(raw, parse_key(key))
        anchors[key] = key if missing is None else dotted(missing[0])
    return anchors


def point_settings(
    values: Mapping[str, float | int], anchors: Mapping[str, str], resolved: dict[str, Any]
) -> dict[str, Any]:
    """The settings (dotted key -> value) that put parameter ``values`` in force.

    Args:
        values: Parameter values by dotted key.
        anchors: Where each parameter is written (:func:`anchors_of`).
        resolved: The scenario's resolved settings (defaults filled in).
    """
    out: dict[str, Any] = {}
    for key, value in values.items():
        anchor = anchors[key]
        if anchor == key:
            out[key] = value
            continue
        if anchor not in out:
            out[anchor] = copy.deepcopy(settings_value(resolved, anchor))
        set_value(out[anchor], parse_key(key)[len(parse_key(anchor)) :], value)
    return out


def _override(key: str, value: Any) -> str:
    return f"{key}={json.dumps(value)}"  # JSON is YAML: the value keeps its type


def _parameter_problems(
    spec: CalibrationFile, pos: Positions, scenario_path: FsPath, base: Scenario
) -> list[Problem]:
    """Parameters that name no setting, or whose bounds the scenario refuses."""
    problems = []
    settings = resolved_dict(base)
    anchors = anchors_of(scenario_path, [k for k in spec.parameters if not k.startswith(RUN_KEYS)])
    variants: list[list[str]] = []
    checked: list[tuple[str, float]] = []
    for key, parameter in spec.parameters.items():
        at: tuple[str, ...] = ("parameters", key)
        if key.startswith(RUN_KEYS):
            problems.append(
                Problem(*pos.find(at), at, f"'{key}' describes the run: set it under run:")
            )
            continue
        try:
            missing = missing_part(settings, parse_key(key))
        except ValueError as exc:
            problems.append(Problem(*pos.find(at), at, f"'{key}': {exc}"))
            continue
        if missing is not None:
            reached, choices = missing
            where = f" under '{dotted(reached[:-1])}'" if len(reached) > 1 else ""
            hint = did_you_mean_hint(str(reached[-1]), choices)
            problems.append(
                Problem(
                    *pos.find(at),
                    at,
                    f"no setting '{reached[-1]}'{where} in the scenario{hint}: a parameter "
                    "must name an existing setting by its dotted key, as --set does",
                )
            )
            continue
        if isinstance(settings_value(settings, key), bool | str | list | dict):
            problems.append(
                Problem(
                    *pos.find(at), at, f"'{key}' is not a number: only numbers can be estimated"
                )
            )
            continue
        for bound in parameter.bounds:
            value: float = round(bound) if parameter.integer else bound
            point = point_settings({key: value}, anchors, settings)
            variants.append([_override(k, v) for k, v in point.items()])
            checked.append((key, value))
    for (key, value), found in zip(checked, load_variants(scenario_path, variants), strict=True):
        if isinstance(found, ScenarioError):
            at = ("parameters", key, "bounds")
            why = "; ".join(f"{dotted(p.path)}: {p.message}" for p in found.problems)
            problems.append(
                Problem(*pos.find(at), at, f"the scenario refuses {key} = {value:g}: {why}")
            )
    return problems


def settings_value(settings: dict[str, Any], key: str) -> Any:
    """The value of a dotted key in resolved settings (the key is known to exist)."""
    node: Any = settings
    for part in parse_key(key):
        node = node[int(part)] if isinstance(node, list) else node[str(part)]
    return node


def load_calibration(path: str | FsPath) -> Calibration:
    """Read and check a calibration file, its scenario and its targets.

    Raises:
        ScenarioError: With every problem, each with file, line and key.
    """
    fs_path = FsPath(path)
    spec, _, pos = read_model(fs_path, CalibrationFile, "calibration", named=True)
    problems = []
    scenario_path = (fs_path.parent / spec.scenario).resolve()
    at_scenario: tuple[str, ...] = ("scenario",)
    if not scenario_path.is_file():
        problems.append(
            Problem(*pos.find(at_scenario), at_scenario, f"no scenario file {scenario_path}")
        )
        raise ScenarioError(problems, what="calibration")
    found = load_variants(scenario_path, [[]], (territory_findings,))[0]
    if isinstance(found, ScenarioError):
        why = "; ".join(str(p) for p in found.problems)
        problems.append(
            Problem(*pos.find(at_scenario), at_scenario, f"its scenario does not load: {why}")
        )
        raise ScenarioError(problems, what="calibration")
    problems += _parameter_problems(spec, pos, scenario_path, found)
    targets, more = _targets(spec, fs_path, pos)
    problems += more + _names_problems(targets, found, list(spec.parameters), pos)
    if problems:
        raise ScenarioError(problems, what="calibration")
    anchors = anchors_of(scenario_path, list(spec.parameters))
    return Calibration(fs_path, spec, scenario_path, found, targets, anchors)


def _names_problems(
    targets: dict[str, TargetSpec], scenario: Scenario, parameters: list[str], pos: Positions
) -> list[Problem]:
    """Targets whose keys name an agency, type or commune the scenario does not have.

    As an experiment's outputs are checked (:func:`simulator.batch.spec.outputs_shape`):
    a misspelt agency in a target's output, or in a targets file written for another
    territory, would otherwise show only after the first wave's runs.
    """
    shape = outputs_shape([scenario], parameters)
    problems = []
    for name, target in targets.items():
        for key in (target.output, *target.per):
            wrong = None if key is None else output_problem(key, shape)
            if wrong is not None:
                at: tuple[str, ...] = ("targets",)
                problems.append(
                    Problem(*pos.find(at), (*at, name), f"{wrong}, in its scenario's runs")
                )
    return problems


def _targets(
    spec: CalibrationFile, fs_path: FsPath, pos: Positions
) -> tuple[dict[str, TargetSpec], list[Problem]]:
    block = spec.targets
    available: dict[str, TargetSpec] = {}
    problems = output_problems(block.inline, pos, ("targets", "inline"))
    if block.file is not None:
        target_file = (fs_path.parent / block.file).resolve()
        at: tuple[str, ...] = ("targets", "file")
        if not target_file.is_file():
            problems.append(Problem(*pos.find(at), at, f"no targets file {target_file}"))
        else:
            available.update(load_targets(target_file).targets)
    for name, target in block.inline.items():
        available[name] = target
    if block.use is None:
        chosen = {n: t for n, t in available.items() if t.use != "none"}
    else:
        chosen = {}
        for i, name in enumerate(block.use):
            at = ("targets", "use", i)  # type: ignore[assignment]
            found = available.get(name)
            if found is None:
                hint = did_you_mean_hint(name, available)
                names = ", ".join(available) or "none"
                problems.append(
                    Problem(*pos.find(at), at, f"unknown target '{name}'{hint}; targets: {names}")
                )
            elif found.use == "none":
                problems.append(
                    Problem(
                        *pos.find(at),
                        at,
                        f"target '{name}' has use: none (the model has no such output yet): "
                        f"{found.note}",
                    )
                )
            else:
                chosen[name] = found
    if not problems and not any(t.use == "fit" for t in chosen.values()):
        at = ("targets",)
        problems.append(Problem(*pos.find(at), at, "no target with use: fit among those used"))
    return chosen, problems
