"""The package's imports go one way: each layer imports only those below it."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter

from .conftest import ROOT

PACKAGE = ROOT / "simulator"
# Lower layers never import higher ones.
LAYERS = [
    {"simulator.scenario.keys", "simulator.compiled"},
    {
        "simulator.scenario.kinds",
        "simulator.scenario.modes",
        "simulator.scenario.patrols",
        "simulator.scenario.schema",
        "simulator.scenario.errors",
        "simulator.dispatch.queueing",
        "simulator.dispatch.registry",
        "simulator.world",
        "simulator.world.registries",
        "simulator.world.kernels",
        "simulator.agencies.kernels",
        "simulator.agencies",
        "simulator.dispatch",
        "simulator.crime",
        "simulator.crime.kernels",
        "simulator.crime.pool_kernels",
        "simulator.crime.grid_kernels",
        "simulator.records",
        "simulator.records.kernels",
        "simulator.stopping",
        "simulator.outputs",
    },
    {
        "simulator.scenario.staffing",
        "simulator.scenario.checks",
        "simulator.scenario.messages",
        "simulator.scenario.changes",
    },
    {"simulator.scenario.timeline"},
    {"simulator.scenario.loader", "simulator.scenario"},
    {"simulator.world.territory_file"},
    {
        "simulator.world.territory",
        "simulator.world.travel",
        "simulator.records.incidents",
        "simulator.records.ids",
        "simulator.dispatch.rules",
        "simulator.agencies.patrol",
        "simulator.resources",
    },
    {
        "simulator.agencies.agency",
        "simulator.agencies.legs",
        "simulator.world.citizens",
        "simulator.dispatch.queues",
    },
    {"simulator.records.recorder", "simulator.world.activity", "simulator.crime.offenders"},
    {"simulator.world.demand", "simulator.crime.engine", "simulator.agencies.units"},
    {"simulator.dispatch.policy", "simulator.dispatch.lifecycle", "simulator.agencies.fleet"},
    {"simulator.dispatch.dispatcher"},
    {"simulator.model"},
    {"simulator.records.costs", "simulator.records.metrics", "simulator.records.summary"},
    {"simulator.runner"},
    {"simulator.batch.evidence_spec"},
    {
        "simulator.batch",
        "simulator.batch.spec",
        "simulator.batch.design",
        "simulator.batch.emulated",
    },
    {"simulator.batch.pool"},
    {"simulator.batch.runner", "simulator.batch.analysis"},
    {"simulator.batch.effects"},
    # Calibration (secsim calibrate): targets and files, the method, then its runs as batches.
    {"simulator.calibration", "simulator.calibration.targets"},
    {"simulator.calibration.spec"},
    {"simulator.calibration.history", "simulator.calibration.report"},
    {"simulator.calibration.runner", "simulator.calibration.check"},
    {"simulator.figures", "simulator.evidence"},
    # The dashboard: a user interface on top of the model and runner, never imported by them.
    {
        "simulator.dashboard",
        "simulator.dashboard.levers",
        "simulator.dashboard.view",
        "simulator.dashboard.compare",
        "simulator.dashboard.results",
    },
    {"simulator.dashboard.model", "simulator.dashboard.server"},
    {"simulator.dashboard.app"},
    {"simulator.cli", "simulator", "simulator.__main__", "simulator.console"},
]


def _imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                deps.add(node.module)
            elif isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names)
        graph[name] = deps
    return graph


def test_no_import_cycles_and_no_upward_imports() -> None:
    graph = _imports()
    internal = {m: {d for d in deps if d in graph} for m, deps in graph.items()}
    try:
        list(TopologicalSorter(internal).static_order())
    except CycleError as exc:  # pragma: no cover - the message is the point
        raise AssertionError(f"import cycle: {exc.args[1]}") from None
    layer_of = {m: i for i, layer in enumerate(LAYERS) for m in layer}
    assert set(layer_of) == set(graph), set(graph) ^ set(layer_of)
    for module, deps in internal.items():
        for dep in deps:
            assert layer_of[dep] <= layer_of[module], f"{module} imports {dep}, a higher layer"


def test_package_never_imports_experiments_figures_or_tests() -> None:
    for module, deps in _imports().items():
        for dep in deps:
            assert dep.split(".")[0] not in {"experiments", "figures", "tests", "benchmarks"}, (
                module,
                dep,
            )
