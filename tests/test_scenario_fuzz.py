"""Mutated scenarios and experiments end in a valid run or a clean, located error: no traceback."""

from __future__ import annotations

import copy
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from simulator.batch.runner import plan_and_arms
from simulator.batch.spec import load_experiment
from simulator.cli import main
from simulator.scenario import Scenario, ScenarioError, load_scenario

from .conftest import ROOT, SCENARIOS

BASE = yaml.safe_load((SCENARIOS / "baseline.yaml").read_text(encoding="utf-8"))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


PATHS = _paths(BASE)
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


@st.composite
def mutated(draw: st.DrawFn, base: Any = BASE, paths: list[tuple[Any, ...]] = PATHS) -> str:
    data = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths))
        parent: Any = data
        try:
            for key in path[:-1]:
                parent = parent[key]
            kind = draw(st.sampled_from(["replace", "delete", "misspell", "scale"]))
            last = path[-1]
            if kind == "replace":
                parent[last] = draw(JUNK)
            elif kind == "delete" and isinstance(parent, dict):
                del parent[last]
            elif kind == "misspell" and isinstance(parent, dict):
                parent[str(last)[:-1] + "x"] = parent.pop(last)
            elif kind == "scale" and isinstance(parent[last], int | float):
                parent[last] = parent[last] * draw(st.sampled_from([-1, 0, 1000]))
        except (KeyError, IndexError, TypeError):
            continue
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    if draw(st.booleans()) and draw(st.booleans()):  # one time in four, break the YAML
        cut = draw(st.integers(0, max(0, len(text) - 1)))
        text = text[:cut] + draw(st.sampled_from([":\n  - [", "\t", "{", "key: : value"]))
    return text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_scenarios_fail_cleanly_or_run(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "mutant.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        scenario = load_scenario(path, ["run.days=1", "run.warmup_days=0"])
    except ScenarioError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.source in (str(path),) or problem.source.startswith("--set")
            assert problem.message
        return
    # A valid mutant runs, through the command line, without a traceback (a territory that
    # cannot be laid out is a clean error too, and then nothing is written).
    out = folder / "out"
    argv = ["run", str(path), "--quiet", "--days", "1", "--warmup-days", "0", "--out", str(out)]
    status = main(argv)
    assert status in (0, 2), scenario.name
    assert out.exists() == (status == 0)


def _experiment(name: str) -> Any:
    """A shipped experiment, its arms' scenarios made absolute so that a copy still finds them."""
    data = yaml.safe_load((ROOT / "experiments" / f"{name}.yaml").read_text(encoding="utf-8"))
    for arm in data["arms"].values():
        arm["scenario"] = str((ROOT / "experiments" / arm["scenario"]).resolve())
    return data


# A list design with two arms and arm settings, and a Sobol design with bounds.
EXPERIMENTS = [_experiment("budget_competence_grid"), _experiment("behaviour_sensitivity")]
EXPERIMENT_MUTANTS = st.one_of(*(mutated(base, _paths(base)) for base in EXPERIMENTS))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EXPERIMENT_MUTANTS)
def test_mutated_experiments_fail_cleanly_before_any_run(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "mutant.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        spec = load_experiment(path)
        plan_and_arms(spec, path, folder / "store")  # every design point, as batch checks it
    except ScenarioError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.source == str(path), problem  # located in the experiment file
            assert problem.message
        # The command line says the same, cleanly, and runs nothing.
        assert main(["batch", str(path), "--out", str(folder / "store"), "--quiet"]) == 2
        assert not (folder / "store").exists()
        return
    assert spec.arms
    # A valid mutant passes validation (a scenario or experiment, detected by `arms:`).
    assert main(["validate", str(path)]) == 0


def _descriptions_missing(model: type[BaseModel], where: str, seen: set[type]) -> list[str]:
    if model in seen:
        return []
    seen.add(model)
    missing = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        inner = [
            a
            for a in (annotation, *typing.get_args(annotation))
            if isinstance(a, type) and issubclass(a, BaseModel)
        ]
        for arg in typing.get_args(annotation):
            inner += [
                a for a in typing.get_args(arg) if isinstance(a, type) and issubclass(a, BaseModel)
            ]
        if not field.description and not inner:
            missing.append(f"{where}.{name}")
        for sub in inner:
            if not field.description and not sub.__doc__:
                missing.append(f"{where}.{name}")
            missing += _descriptions_missing(sub, f"{where}.{name}", seen)
    return missing


def test_every_setting_is_described() -> None:
    assert _descriptions_missing(Scenario, "scenario", set()) == []


def test_the_baseline_itself_runs_through_the_fuzz_harness(tmp_path: Path) -> None:
    path = tmp_path / "same.yaml"
    path.write_text(yaml.safe_dump(BASE, sort_keys=False), encoding="utf-8")
    assert load_scenario(path).name == "baseline"
