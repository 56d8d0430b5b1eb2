"""secsim: an agent-based simulator of urban security policy.

State police, municipal police, private security and citizens on a synthetic
territory; who handles which incident, where and when, and at what cost.

The public API::

    from simulator import load_scenario, run, write_results
    result = run(load_scenario("scenarios/baseline.yaml"), seed=1)
"""

from __future__ import annotations

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

if _TYPE_CHECKING:
    from simulator.runner import RunResult, run, write_results
    from simulator.scenario import Scenario, ScenarioError, load_scenario

__all__ = ["RunResult", "Scenario", "ScenarioError", "load_scenario", "run", "write_results"]

# The public API is imported when first used, so that ``import simulator`` (which
# ``python -m simulator`` does first) loads no library: the command can then catch a
# Ctrl-C while the libraries load (:mod:`simulator.console`).
_HOME = {
    "RunResult": "simulator.runner",
    "run": "simulator.runner",
    "write_results": "simulator.runner",
    "Scenario": "simulator.scenario",
    "ScenarioError": "simulator.scenario",
    "load_scenario": "simulator.scenario",
}


def __getattr__(name: str) -> _Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'simulator' has no attribute {name!r}")
    value = getattr(_importlib.import_module(home), name)
    globals()[name] = value  # found directly from now on
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
