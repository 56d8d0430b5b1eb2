"""secsim: an agent-based simulator of urban security policy.

State police, municipal police, private security and citizens on a synthetic
territory; who handles which incident, where and when, and at what cost.

The public API::

    from simulator import load_scenario, run, write_results
    result = run(load_scenario("scenarios/baseline.yaml"), seed=1)
"""

from simulator.runner import RunResult, run, write_results
from simulator.scenario import Scenario, ScenarioError, load_scenario

__all__ = ["RunResult", "Scenario", "ScenarioError", "load_scenario", "run", "write_results"]
