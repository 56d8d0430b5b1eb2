"""Scenario language: schema, loading, checks and error reporting."""

from simulator.scenario.errors import Problem, ScenarioError
from simulator.scenario.kinds import BUILTIN_KINDS, Capabilities
from simulator.scenario.loader import json_schema, load_scenario, parse_scenario, resolved_dict
from simulator.scenario.schema import (
    HANDOVER_TYPE,
    AgencySpec,
    DistrictType,
    Scenario,
)

__all__ = [
    "BUILTIN_KINDS",
    "HANDOVER_TYPE",
    "AgencySpec",
    "Capabilities",
    "DistrictType",
    "Problem",
    "Scenario",
    "ScenarioError",
    "json_schema",
    "load_scenario",
    "parse_scenario",
    "resolved_dict",
]
