"""Experiment files: arms, factors with a design, replicates, seeds, horizon, outputs.

They are read and checked like scenarios: every problem with file, line, key,
what was found and what is allowed, and a did-you-mean.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path as FsPath
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from simulator.agencies.agency import territory_findings
from simulator.batch.evidence_spec import EvidenceSpec
from simulator.records.costs import PROGRAMMES
from simulator.records.summary import ENTRY_NAMES, INTERVAL, KNOWN_WAYS, summary_shape
from simulator.scenario.errors import Problem, ScenarioError, did_you_mean_hint
from simulator.scenario.keys import dotted, missing_part, parse_key
from simulator.scenario.loader import (
    Positions,
    load_scenario,
    read_model,
    read_yaml,
    resolved_dict,
)
from simulator.scenario.schema import SEED_MAX, DistrictType, Frozen, Scenario
from simulator.scenario.timeline import policy_changes
from simulator.world.territory import shared_territory

# Far above any batch that finishes in a lifetime; a plan larger than this would not fit in
# memory before the first run starts.
MAX_RUNS = 1_000_000
# Each arm's scenario at each design point is built and checked before any run, and held
# while the batch plans (about 80 KB and 3.5 ms each: 20,000 took 69 s and 1.65 GB).
MAX_SCENARIOS = 10_000

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
        if self.values is not None and not self.values:
            raise ValueError("values: [...] needs at least one value")
        for bound in (self.low, self.high):
            if bound is not None and not math.isfinite(bound):
                raise ValueError(f"low and high must be finite numbers, found {bound}")
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
        le=SEED_MAX,
        description="Root seed; replicate i of every arm shares the i-th seed spawned from it.",
    )
    days: int = Field(365, ge=1, description="Days counted in statistics, every run.")
    warmup_days: int = Field(7, ge=0, description="Warm-up days, every run.")
    design_seed: int = Field(
        0, ge=0, le=SEED_MAX, description="Seed of sampled designs (lhs, sobol)."
    )
    outputs: list[str] = Field(
        default_factory=lambda: list(DEFAULT_OUTPUTS),
        description="Summary keys (dotted) that analyze and the figures read (the "
        "consolidated table keeps every key).",
    )
    keep_incidents: bool = Field(
        False, description="Also keep each run's incident records (large)."
    )
    evidence: EvidenceSpec | None = Field(
        None, description="A published design and its targets, read by `secsim evidence`."
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


def is_experiment(data: dict[str, Any]) -> bool:
    """Whether a file's top-level mapping is an experiment rather than a scenario.

    An experiment has ``arms:``; without it (misspelt), a file whose top-level keys
    are mostly experiment keys (``design``, ``replicates``...) is still taken for
    one, so that its mistakes are reported as an experiment's.
    """
    if "arms" in data:
        return True
    experiment_keys = set(ExperimentSpec.model_fields) - set(Scenario.model_fields)
    scenario_keys = (set(Scenario.model_fields) - set(ExperimentSpec.model_fields)) | {"extends"}
    keys = {str(k) for k in data}
    return len(keys & experiment_keys) > len(keys & scenario_keys)


# The design keys each kind of design reads; any other given is refused, not ignored.
_SAMPLED = ("lhs", "sobol", "morris")


def _ignored_design_keys(spec: ExperimentSpec, pos: Positions) -> list[Problem]:
    """Keys given that the experiment's kind of design would not read, each at its line.

    A factor given only the other kind's keys (low and high for a grid) is not
    listed here: it lacks what its design reads, and gets one message for both
    (:func:`load_experiment`).
    """
    kind = spec.design.kind
    found: list[tuple[tuple[str | int, ...], str]] = []
    if kind not in _SAMPLED:
        what = "an experiment without a design" if kind == "none" else f"a {kind} design"
        if "samples" in spec.design.model_fields_set:
            found.append(
                (
                    ("design", "samples"),
                    f"{what} has no samples: its points are its "
                    "factors' values (samples is for lhs, sobol and morris designs)",
                )
            )
        if "design_seed" in spec.model_fields_set:
            found.append(
                (
                    ("design_seed",),
                    f"{what} draws nothing: design_seed is for lhs, sobol and morris designs",
                )
            )
    for name, factor in spec.design.factors.items():
        given = factor.model_fields_set
        if kind in _SAMPLED and "values" in given and factor.low is not None:
            found.append(
                (
                    ("design", "factors", name, "values"),
                    f"a {kind} design samples between low "
                    "and high: values is for grid and list designs",
                )
            )
        if kind in ("grid", "list") and factor.values is not None:
            for key in ("low", "high", "integer"):
                if key in given and not (key == "integer" and not factor.integer):
                    found.append(
                        (
                            ("design", "factors", name, key),
                            f"a {kind} design takes its values: "
                            f"{key} is for lhs, sobol and morris designs",
                        )
                    )
    return [Problem(*pos.find(at), at, message) for at, message in found]


def load_experiment(path: str | FsPath) -> ExperimentSpec:
    """Read and check an experiment file, including every arm's scenario.

    Raises:
        ScenarioError: With every problem, each with file, line and key.
    """
    fs_path = FsPath(path)
    spec, _, pos = read_model(fs_path, ExperimentSpec, "experiment", named=True)
    problems = []
    if spec.reference is not None and spec.reference not in spec.arms:
        hint = did_you_mean_hint(spec.reference, spec.arms)
        problems.append(
            Problem(
                *pos.find(("reference",)), ("reference",), f"unknown arm '{spec.reference}'{hint}"
            )
        )
    kind = spec.design.kind
    if kind == "none" and spec.design.factors:
        problems.append(
            Problem(
                *pos.find(("design", "factors")),
                ("design", "factors"),
                "factors are varied only by a design: give design.kind (grid, list, lhs, "
                "sobol or morris), or remove the factors",
            )
        )
    # What the experiment sets for every run, which an arm or a factor may not set.
    every_run = {
        "run.seed": "an experiment's runs take their seeds from its seed: replicate i of every "
        "arm shares the i-th (set seed: at the top of the file, or remove run.seed)",
        "run.days": "every run of an experiment counts the same days, so that arms compare "
        "(set days: at the top of the file, or remove run.days)",
        "run.warmup_days": "every run of an experiment has the same warm-up, so that arms "
        "compare (set warmup_days: at the top of the file, or remove run.warmup_days)",
        "run": "the run block holds the days, warm-up and seed, which are the experiment's "
        "for every run: set another run setting by its dotted key (run.drain_max_h)",
    }
    fixed: list[tuple[tuple[str, ...], str]] = [
        (("design", "factors", k), every_run[k]) for k in spec.design.factors if k in every_run
    ]
    fixed += [
        (("arms", a, "set", k), every_run[k])
        for a, arm in spec.arms.items()
        for k in arm.set
        if k in every_run
    ]
    for fixed_at, why in fixed:
        problems.append(Problem(*pos.find(fixed_at), fixed_at, why))
    problems += _ignored_design_keys(spec, pos)
    for name, factor in spec.design.factors.items():
        factor_at: tuple[str, ...] = ("design", "factors", name)
        given = factor.model_fields_set
        if kind in ("grid", "list") and factor.values is None:
            other = [key for key in ("low", "high") if key in given]
            why = f" ({' and '.join(other)}: for lhs, sobol and morris designs)" if other else ""
            problems.append(
                Problem(
                    *pos.find(factor_at),
                    factor_at,
                    f"a {kind} design needs values, the factor's levels, as in values: "
                    f"[1, 2, 3]{why}",
                )
            )
        if kind in _SAMPLED and factor.low is None:
            why = " (values: for grid and list designs)" if "values" in given else ""
            problems.append(
                Problem(*pos.find(factor_at), factor_at, f"a {kind} design needs low and high{why}")
            )
    if kind == "list":
        lengths = {len(f.values or []) for f in spec.design.factors.values()}
        if len(lengths) > 1:
            problems.append(
                Problem(
                    *pos.find(("design",)),
                    ("design", "factors"),
                    "a list design needs the same number of values per factor (found "
                    + ", ".join(
                        f"{name}: {len(f.values or [])}" for name, f in spec.design.factors.items()
                    )
                    + ")",
                )
            )
    samples = spec.design.samples
    least = MIN_SAMPLES.get(kind)
    if least is not None and samples < least:
        at_samples: tuple[str, ...] = ("design", "samples")
        what = "base samples" if kind == "sobol" else "trajectories"
        problems.append(
            Problem(
                *pos.find(at_samples),
                at_samples,
                f"a {kind} design needs at least {least} {what}, found {samples}: fewer give "
                "indices whose intervals mean nothing (zero width, or missing)",
            )
        )
    if kind == "sobol" and samples & (samples - 1):
        at: tuple[str, ...] = ("design", "samples")
        below = 1 << (samples.bit_length() - 1)
        problems.append(
            Problem(
                *pos.find(at),
                at,
                f"Sobol (Saltelli) sampling needs a power of two, found {samples} "
                f"(use {below} or {below * 2})",
            )
        )
    scenarios = len(spec.arms) * point_count(spec.design)
    if scenarios > MAX_SCENARIOS:
        problems.append(
            Problem(
                *pos.find(("design",)),
                ("design",),
                f"{scenarios:,} scenarios to build and check before any run (arms x design "
                f"points); at most {MAX_SCENARIOS:,} in one experiment (each is held in "
                "memory while the batch plans, about 80 KB): split it into several experiments",
            )
        )
    runs = scenarios * spec.replicates
    if runs > MAX_RUNS:
        problems.append(
            Problem(
                *pos.find(("replicates",)),
                ("replicates",),
                f"{runs:,} runs planned (arms x design points x replicates); at most "
                f"{MAX_RUNS:,} in one experiment: split it, or use fewer points or replicates",
            )
        )
    if kind != "none" and not spec.design.factors:
        problems.append(
            Problem(*pos.find(("design",)), ("design", "factors"), f"a {kind} design needs factors")
        )
    loaded: list[Scenario] = []  # the arms' scenarios, whose names outputs may take
    for arm_name, arm in spec.arms.items():
        scenario_path = arm_scenario_path(fs_path, arm)
        try:
            scenario = load_scenario(
                scenario_path, arm_overrides(spec, arm, {}), (territory_findings,)
            )
        except ScenarioError as exc:
            problems += _arm_problems(pos, arm_name, arm, exc.problems)
            continue
        loaded.append(scenario)
        settings = resolved_dict(scenario)
        # (A factor's levels are checked as the design's points, whole, by the plan:
        # levels that one by one meet the scenario's other values may not load alone,
        # as shares that sum to 1 or officers given instead of a budget.)
        for name in spec.design.factors:
            at = ("design", "factors", name)
            missing = _missing_setting(settings, name)
            if missing is not None:
                problems.append(
                    Problem(*pos.find(at), at, f"{missing} in the scenario of arm '{arm_name}'")
                )
    shape = outputs_shape(loaded, list(spec.design.factors))
    for i, output in enumerate(spec.outputs):
        wrong = output_problem(output, shape)
        if wrong is not None:
            output_at: tuple[str | int, ...] = ("outputs", i)
            problems.append(Problem(*pos.find(output_at), output_at, wrong))
    if problems:
        raise ScenarioError(problems, what="experiment")
    return spec


def outputs_shape(scenarios: Iterable[Scenario], factors: Sequence[str] = ()) -> dict[str, Any]:
    """The summary's shape that outputs of runs of ``scenarios`` are checked against.

    For :func:`output_problem`: its entries named as the scenarios name them
    (:func:`entry_names`, less the kinds a design factor or calibration parameter
    writes whole), and its costs under every payer level their agencies name. An
    experiment's outputs, a calibration's targets and an evidence design's doses are
    checked against it.
    """
    names: dict[str, set[str]] = {}  # what each kind of entry of the summary may be called
    payers: set[str] = set()
    for scenario in scenarios:
        payers.update(scenario.capabilities(name).payer for name in scenario.agencies)
        for kind, found in entry_names(scenario).items():
            names.setdefault(kind, set()).update(found)
    shape = named_shape(summary_shape(), checkable_names(names, list(factors)))
    for costs in ("cost_eur", "cost_eur_per_year"):
        shape[costs] = {**dict.fromkeys(sorted(payers)), **shape[costs]}
    return shape


# The settings each kind of name of :func:`entry_names` comes from.
ENTRY_SOURCES: dict[str, tuple[str, ...]] = {
    "agencies": ("agencies",),
    "agencies and programmes": ("agencies",),
    "call types": ("demand.types", "crime.types"),
    "offence types": ("crime.types",),
    "priorities": ("demand.priority_shares",),
    "communes": ("territory",),
}


def entry_names(scenario: Scenario) -> dict[str, set[str]]:
    """The names the entries of a run's summary may take, by kind (:data:`ENTRY_NAMES`).

    What a run of ``scenario`` could name: every agency, type, commune, priority and
    district type there is, in every period of its timeline (a change may add call
    types or priorities), whether or not a given run produces its entry.
    """
    changes, _ = policy_changes(scenario)
    names: dict[str, set[str]] = {
        "district types": {str(d) for d in DistrictType},
        "ways of becoming known": set(KNOWN_WAYS),
    }
    for period in (scenario, *(change.scenario for change in changes)):
        agencies = set(period.agencies)
        offence_types = set() if period.crime is None else set(period.crime.types)
        for what, found in (
            ("agencies", agencies),
            ("agencies and programmes", agencies | set(PROGRAMMES)),
            ("call types", set(period.demand.types) | offence_types),
            ("offence types", offence_types),
            ("priorities", {str(p) for p in range(1, period.demand.n_priorities + 1)}),
            # Costs name communes, not codes (the territory is the same in every period).
            ("communes", set(shared_territory(period.territory).commune_names)),
        ):
            names.setdefault(what, set()).update(found)
    return names


def checkable_names(names: dict[str, set[str]], factors: list[str]) -> dict[str, set[str]]:
    """``names`` less the kinds a design factor writes whole (and may give any entry).

    A factor on ``crime.types`` (as a calibration's stage writes it) or ``crime``
    makes offence types of its own: outputs naming those stay unchecked by name.
    """
    return {
        what: found
        for what, found in names.items()
        if not any(
            f == src or src.startswith(f + ".")
            for f in factors
            for src in ENTRY_SOURCES.get(what, ())
        )
    }


class NoEntries(dict[str, Any]):
    """A mapping of the summary that no run of the arms fills: ``kind`` has no names.

    Empty as the shape of any names is, but told apart by :func:`output_problem`: no
    arm has offence types when crime is off in all of them, say.
    """

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind


def named_shape(shape: dict[str, Any], names: dict[str, set[str]]) -> dict[str, Any]:
    """``shape`` with each mapping's entries named, where ``names`` gives their kind.

    A mapping of any names (``{}``) or of entries of one shape (``{"*": ...}``)
    becomes one of those names only, so that a misspelt agency or type in an
    output is refused with a did-you-mean instead of giving no column; with no
    name of that kind at all, one no output may enter (:class:`NoEntries`).
    """
    for path, kind in ENTRY_NAMES.items():
        if kind not in names:
            continue
        *parents, last = path.split(".")
        node: Any = shape
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or not isinstance(node.get(last), dict):
            continue
        entry = node[last].get("*")
        found = sorted(names[kind])
        node[last] = {name: entry for name in found} if found else NoEntries(kind)
    return shape


def _leaves(node: Any, names: list[str], prefix: str = "") -> list[str]:
    """Every value's dotted key; an entry named by the scenario takes the name in ``names``."""
    if isinstance(node, dict) and node:
        depth = prefix.count(".")
        out = []
        for k, v in node.items():
            name = k if k != "*" else (names[depth] if depth < len(names) else "<name>")
            out += _leaves(v, names, f"{prefix}{name}.")
        return out
    return [prefix.rstrip(".")]


# The fewest samples a sensitivity design may have: with fewer, SALib's bootstrap gives
# Sobol intervals of zero width around impossible values (N = 1), the emulator estimates
# outside their own intervals (N = 2), and Morris no sigma or interval at all (one
# trajectory). Above these, small designs are legal, and the report's emulator note
# (its leave-one-out Q2) and interval widths say how little they tell.
MIN_SAMPLES = {"sobol": 4, "morris": 4}


def output_problem(output: str, shape: dict[str, Any]) -> str | None:
    """Why ``output`` names no value of a run's summary (None if it names one).

    Args:
        output: A dotted summary key, as in an experiment's ``outputs``.
        shape: The summary's shape (:func:`simulator.records.summary.summary_shape`).
    """
    node: Any = shape
    parts = output.split(".")
    for depth, part in enumerate(parts):
        rest = parts[depth + 1 :]
        if isinstance(node, dict) and part in node:
            node = node[part]
            continue
        if isinstance(node, NoEntries):
            why = ": the crime engine is off in every arm" if node.kind == "offence types" else ""
            return (
                f"'{output}' names an entry of {'.'.join(parts[:depth])}, which is empty in "
                f"every run: no arm has {node.kind}{why}"
            )
        if isinstance(node, dict) and not node:
            return None  # one value per agency, type, commune...: named by the scenario
        if isinstance(node, dict) and set(node) == {"*"}:
            node = node["*"]  # an entry per agency, type, priority...: its values follow
            continue
        if node == INTERVAL and part in ("low", "high") and not rest:
            return None  # the two ends of a confidence interval
        hint = did_you_mean_hint(output, _leaves(shape, parts))
        return f"'{output}' is not a value of a run's summary{hint}"
    if isinstance(node, dict):
        keys = ", ".join(str(k) for k in node) if set(node) - {"*"} else ""
        return (
            f"'{output}' is a group of values, not one: name one of its keys "
            f"({keys or 'one per agency, type, priority or commune, then a value'})"
        )
    return None


def _missing_setting(settings: dict[str, Any], dotted_key: str) -> str | None:
    """Why ``dotted_key`` names no setting of a resolved scenario (None if it names one)."""
    try:
        missing = missing_part(settings, parse_key(dotted_key))
    except ValueError as exc:
        return f"'{dotted_key}': {exc}"
    if missing is None:
        return None
    reached, choices = missing
    where = f" under '{dotted(reached[:-1])}'" if len(reached) > 1 else ""
    hint = did_you_mean_hint(str(reached[-1]), choices)
    return f"no setting '{reached[-1]}'{where}{hint}: a factor must name an existing setting"


def point_count(design: DesignSpec) -> int:
    """Design points the design gives, counted without drawing them."""
    k = len(design.factors)
    if design.kind == "none" or not k:
        return 1
    if design.kind == "grid":
        count = 1
        for factor in design.factors.values():
            count *= len(factor.values or [])
        return count
    if design.kind == "list":
        return max(len(f.values or []) for f in design.factors.values())
    if design.kind == "lhs":
        return design.samples
    if design.kind == "sobol":
        return design.samples * (k + 2)  # first-order and total indices
    return design.samples * (k + 1)  # morris trajectories


def arm_scenario_path(experiment_path: FsPath, arm: ArmSpec) -> FsPath:
    """The arm's scenario file, resolved against the experiment file's folder."""
    return (experiment_path.parent / arm.scenario).resolve()


def _set_by(problem: Problem) -> tuple[int, str]:
    """Where ``--set`` starts in the problem's source (-1: none), and the key it set ("").

    The source is "--set KEY=...", or "file:line:column (changed by --set KEY=...)"
    where the setting meets the scenario file's own (an arm's officers beside its budget).
    """
    marker = problem.source.find("--set ")
    key = problem.source[marker + len("--set ") :].partition("=")[0] if marker >= 0 else ""
    return marker, key


def _arm_problems(
    pos: Positions, arm_name: str, arm: ArmSpec, found: Sequence[Problem]
) -> list[Problem]:
    """An arm's scenario's problems, each at the arm's setting that made it, if one did.

    A setting of the arm's ``set:`` reaches the loader as ``--set key=value``: its
    problem is located at that key of the experiment file; any other (the scenario
    file's own, a factor's) at the arm.
    """
    out: list[Problem] = []
    rest: list[str] = []
    for problem in found:
        marker, key = _set_by(problem)
        if key in arm.set:
            at = ("arms", arm_name, "set", key)
            path = dotted(problem.path)
            message = problem.message if path in ("", key) else f"{path}: {problem.message}"
            if marker > 0:  # the file's line it meets
                message += f" (the scenario's {problem.source.partition(' (changed by')[0]})"
            out.append(Problem(*pos.find(at), at, message))
        else:
            rest.append(str(problem))
    if rest:
        where = ("arms", arm_name)
        out.append(
            Problem(*pos.find(where), where, "its scenario does not load: " + "; ".join(rest))
        )
    return out


# Design points that do not load, shown one by one for each place and key: the rest counted.
SHOWN_POINTS = 3


def experiment_positions(path: str | FsPath) -> Positions:
    """Where each key of an experiment file was written (the file is read, not checked)."""
    pos = Positions(str(path))
    read_yaml(FsPath(path), pos)
    return pos


def point_problems(
    pos: Positions,
    spec: ExperimentSpec,
    arm_name: str,
    failures: Sequence[tuple[int, dict[str, Any], ScenarioError]],
) -> list[Problem]:
    """The problems of an arm's design points that do not load, located in the experiment file.

    Levels that load one by one may not load together (a pre-emption priority and the
    diversion's, say). Each problem is placed at the setting of the experiment that
    made it: the factor the scenario's problem names (its ``--set``), else the arm's
    own setting, else the design's factors; the point's values and the scenario
    file's line it meets follow. The same problem at the same place is shown for the
    first :data:`SHOWN_POINTS` points, and the others counted. A whole-number setting
    sampled without ``integer: true`` is told so.
    """
    arm = spec.arms[arm_name]
    groups: dict[tuple[tuple[str | int, ...], str], list[Problem]] = {}  # (place, key)
    for p, point, error in failures:
        values = ", ".join(f"{k}={json.dumps(v)}" for k, v in point.items()) or "no factors"
        for problem in error.problems:
            marker, key = _set_by(problem)
            at: tuple[str | int, ...]
            if key in point:
                at = ("design", "factors", key)
            elif key in arm.set:
                at = ("arms", arm_name, "set", key)
            else:
                at = ("design", "factors")
            scenario_at = ""  # where the problem meets the scenario file, if it does
            if marker != 0:
                scenario_at = problem.source.partition(" (changed by")[0] + "".join(
                    f":{n}" for n in (problem.line, problem.column) if n is not None
                )
            path = dotted(problem.path)
            factor = spec.design.factors.get(key)
            sampled = factor is not None and factor.values is None and not factor.integer
            message = (
                f"design point {p} of arm '{arm_name}' ({values}) does not load: "
                + (f"{path}: " if path and path != key else "")
                + problem.message
                + (
                    " (sampled levels have fractions: add integer: true)"
                    if sampled and "fractional part" in problem.message
                    else ""
                )
                + (f" (the scenario's {scenario_at})" if scenario_at else "")
            )
            groups.setdefault((at, path), []).append(Problem(*pos.find(at), at, message))
    out: list[Problem] = []
    for (at, _), found in groups.items():
        out += found[:SHOWN_POINTS]
        if len(found) > SHOWN_POINTS:
            more = len(found) - SHOWN_POINTS
            out.append(
                Problem(
                    *pos.find(at),
                    at,
                    f"and {more} more design point{'s' if more > 1 else ''} of arm "
                    f"'{arm_name}' with the same problem",
                )
            )
    return out


def arm_overrides(spec: ExperimentSpec, arm: ArmSpec, point: dict[str, Any]) -> list[str]:
    """The ``--set`` strings of a run: horizon, the arm's settings, the design point."""

    def as_set(key: str, value: Any) -> str:
        return f"{key}={json.dumps(value)}"  # JSON is YAML: the value keeps its type

    sets = [as_set("run.days", spec.days), as_set("run.warmup_days", spec.warmup_days)]
    sets += [as_set(k, v) for k, v in arm.set.items()]
    sets += [as_set(k, v) for k, v in point.items()]
    return sets
