"""Levers: the settings the dashboard lets a user change, and how they map to a scenario.

A lever is a named control over one dotted key of the scenario (the same keys
as ``secsim run --set``). The dashboard shows one control per lever; the values
chosen become ``--set`` overrides on the original file, so an edited scenario is
checked by the same loader as any file, and saving it writes a file that
``extends:`` the original and holds only what changed. Nothing here imports
the user interface, so the mapping is tested without a browser.

Every lever acts on reset: the model is rebuilt from the edited scenario, so
that a run watched in the dashboard is the run ``secsim run`` gives for the
saved file.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from simulator.scenario.checks import may_take
from simulator.scenario.kinds import COMMUNE_PAYER
from simulator.scenario.loader import load_raw, load_scenario
from simulator.scenario.patrols import PATROL_STRATEGIES as PATROL_REGISTRY
from simulator.scenario.schema import HANDOVER_TYPE, SEED_MAX, Scenario

Control = Literal["SliderInt", "SliderFloat", "Select", "InputText"]

PATROL_STRATEGIES = tuple(PATROL_REGISTRY)

# Upper bounds of the sliders, as multiples of the original value (a lever can
# at least triple a resource, and always reach a useful minimum range).
_SCALE = 3


@dataclass(frozen=True)
class Lever:
    """One control of the sidebar.

    Attributes:
        name: Keyword of the dashboard model's constructor (a Python identifier).
        label: What the control says (it ends with when it acts).
        key: Dotted scenario key it sets, as with ``--set``.
        control: Mesa/Solara input type.
        value: The original scenario's value (the control's start).
        low: Slider minimum.
        high: Slider maximum.
        step: Slider step.
        choices: Options of a select (as shown).
    """

    name: str
    label: str
    key: str
    control: Control
    value: Any
    low: float = 0
    high: float = 0
    step: float = 1
    choices: tuple[str, ...] = field(default_factory=tuple)

    def to_yaml_value(self, shown: Any) -> Any:
        """The scenario value for what the control shows."""
        if self.key.startswith("competences."):
            return [part.strip() for part in str(shown).split(",") if part.strip()]
        if self.control == "SliderInt":
            return int(shown)
        if self.control == "SliderFloat":
            return round(float(shown), 6)
        return shown

    def mesa_param(self) -> dict[str, Any]:
        """The entry of SolaraViz's ``model_params`` for this lever."""
        param: dict[str, Any] = {"type": self.control, "value": self.value, "label": self.label}
        if self.control in ("SliderInt", "SliderFloat"):
            param.update(min=self.low, max=self.high, step=self.step)
        if self.control == "Select":
            param["values"] = list(self.choices)
        return param


def _slider_int(name: str, label: str, key: str, value: int, floor: int = 10) -> Lever:
    high = max(floor, _SCALE * value)
    step = _round_step(value, high)
    high = -(-high // step) * step  # on the grid too
    return Lever(name, f"{label} (on reset)", key, "SliderInt", value, 0, high, step)


def _round_step(value: int, high: int) -> int:
    """A slider's step that keeps ``value`` on the grid, so that it can be set back.

    1 up to 1,000 (exact headcounts), else a round one (1, 2 or 5 times a power of
    ten, at most a hundredth of the range) that ``value`` is a multiple of.
    """
    if high <= 1000:
        return 1
    power = int(10 ** (len(str(high // 100)) - 1))
    while power >= 1:
        for m in (5, 2, 1):
            step = m * power
            if step <= high // 100 and value % step == 0:
                return step
        power //= 10
    return 1


def _orderings(kinds: list[str]) -> list[str]:
    """Every ordered choice of one or more agencies, as "a, b" strings."""
    out = []
    for size in range(1, len(kinds) + 1):
        for perm in itertools.permutations(kinds, size):
            out.append(", ".join(perm))
    return out


def levers_for(scenario: Scenario) -> list[Lever]:
    """The levers offered on a scenario, each starting at the scenario's value.

    Args:
        scenario: The original, checked scenario.

    Returns:
        Levers in sidebar order: seed; resources, service hours and patrol of each
        agency; competences of each call and offence type; CCTV; citizens; prevention.
    """
    levers: list[Lever] = [
        Lever(
            "seed",
            "Seed (on reset)",
            "run.seed",
            "SliderInt",
            scenario.run.seed,
            0,
            min(SEED_MAX, max(100, 2 * scenario.run.seed)),
            1,
        )
    ]
    for name, a in scenario.agencies.items():
        if a.officers is not None:
            levers.append(
                _slider_int(
                    f"{name}__officers",
                    f"{name}: officers",
                    f"agencies.{name}.officers",
                    a.officers,
                )
            )
        elif a.budget_eur is not None:
            # Budgets move in thousands of euros: a slider of single euros is unusable.
            kilo = round(a.budget_eur / 1000)
            levers.append(
                _slider_int(
                    f"{name}__budget_keur",
                    f"{name}: budget (k EUR a year)",
                    f"agencies.{name}.budget_eur",
                    kilo,
                    floor=1000,
                )
            )
        elif a.units is not None:
            levers.append(
                _slider_int(
                    f"{name}__units", f"{name}: units on duty", f"agencies.{name}.units", a.units
                )
            )
        if scenario.capabilities(name).payer == COMMUNE_PAYER:  # a commune's own hours
            start, end = a.service_hours
            levers.append(
                Lever(
                    f"{name}__service_start",
                    f"{name}: service starts at (h, on reset)",
                    f"agencies.{name}.service_hours.0",
                    "SliderInt",
                    start,
                    0,
                    23,
                    1,
                )
            )
            levers.append(
                Lever(
                    f"{name}__service_end",
                    f"{name}: service ends at (h, on reset)",
                    f"agencies.{name}.service_hours.1",
                    "SliderInt",
                    end,
                    1,
                    24,
                    1,
                )
            )
        levers.append(
            Lever(
                f"{name}__patrol",
                f"{name}: patrol (on reset)",
                f"agencies.{name}.patrol.strategy",
                "Select",
                a.patrol.strategy,
                choices=PATROL_STRATEGIES,
            )
        )
    kinds = sorted({a.kind for a in scenario.agencies.values()})
    of_kind = {k: [n for n, a in scenario.agencies.items() if a.kind == k] for k in kinds}
    for call_type, handlers in scenario.competences.items():
        if call_type == HANDOVER_TYPE:
            continue  # not a call or an offence: who takes arrested persons over is the law's
        # The kinds with an agency that may take the type (an unarmed kind for a type
        # only armed crews attend would be refused).
        able = [k for k in kinds if may_take(scenario, call_type, of_kind[k])]
        orderings = _orderings(able)
        shown = ", ".join(handlers)
        choices = tuple(orderings if shown in orderings else [shown, *orderings])
        if len(choices) < 2:
            continue  # no other order would be accepted: nothing to choose
        levers.append(
            Lever(
                f"competence__{call_type}",
                f"{call_type}: handled by, in order (on reset)",
                f"competences.{call_type}",
                "Select",
                shown,
                choices=choices,
            )
        )
    for k, zone in enumerate(scenario.cctv.zones):
        where = ", ".join(zone.districts)
        levers.append(
            Lever(
                f"cctv_zone{k}__coverage",
                f"CCTV coverage of {where} (on reset)",
                f"cctv.zones.{k}.coverage",
                "SliderFloat",
                zone.coverage,
                0.0,
                1.0,
                0.05,
            )
        )
    levers.append(
        _slider_int("cctv__operators", "CCTV operators", "cctv.operators", scenario.cctv.operators)
    )
    levers.append(
        Lever(
            "citizens__watch_share",
            "Citizen-watch share of residents (on reset)",
            "citizens.watch_share",
            "SliderFloat",
            scenario.citizens.watch_share,
            0.0,
            max(0.2, 2 * scenario.citizens.watch_share),
            0.005,
        )
    )
    if scenario.crime is not None:
        prevention = round(scenario.crime.drug_markets.prevention_eur_per_year / 1000)
        levers.append(
            _slider_int(
                "prevention__keur",
                "Drug prevention (k EUR a year)",
                "crime.drug_markets.prevention_eur_per_year",
                prevention,
                floor=2000,
            )
        )
    return levers


def _scenario_value(lever: Lever, shown: Any) -> Any:
    value = lever.to_yaml_value(shown)
    if lever.name.endswith("_keur"):
        return int(value) * 1000
    return value


def overrides(levers: list[Lever], chosen: dict[str, Any]) -> list[str]:
    """The ``--set`` overrides for the levers moved away from the original.

    Args:
        levers: The scenario's levers.
        chosen: Lever name to the value the control shows (missing: unchanged).

    Returns:
        ``dotted.key=value`` strings, in lever order, only for changed levers.
    """
    out = []
    for lever in levers:
        if lever.name not in chosen:
            continue
        if lever.to_yaml_value(chosen[lever.name]) == lever.to_yaml_value(lever.value):
            continue
        text = yaml.safe_dump(
            _scenario_value(lever, chosen[lever.name]), default_flow_style=True
        ).strip()
        text = text.removesuffix("...").strip()
        out.append(f"{lever.key}={text}")
    return out


def edited_scenario(path: str | Path, sets: list[str]) -> Scenario:
    """The original scenario file with the overrides applied, checked."""
    return load_scenario(path, sets)


def _diff(base: dict[str, Any], edited: dict[str, Any]) -> dict[str, Any]:
    """What ``edited`` changes in ``base``; lists count whole (a merge replaces them)."""
    out: dict[str, Any] = {}
    for key, value in edited.items():
        before = base.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            inner = _diff(before, value)
            if inner:
                out[key] = inner
        elif value != before:
            out[key] = copy.deepcopy(value)
    return out


def edited_yaml(path: str | Path, sets: list[str], name: str) -> str:
    """The edited scenario as a file that ``extends:`` the original with only what changed.

    The original is named by its absolute path, so the saved file runs from
    wherever it is put on this machine.

    Args:
        path: The original scenario file.
        sets: Overrides from :func:`overrides`.
        name: The new scenario's name.

    Returns:
        YAML text; loading it gives the same scenario as ``load_scenario(path, sets)``
        (apart from the name).
    """
    base, _ = load_raw(path)
    edited, _ = load_raw(path, sets)
    changes = _diff(base, edited)
    original = Path(path).resolve()
    header = (
        f"# Saved from the secsim dashboard: {original.name} with the levers moved.\n"
        "# Run it with: secsim run THIS_FILE\n"
    )
    body = {"extends": str(original), "name": name, **changes}
    return header + str(yaml.safe_dump(body, sort_keys=False, allow_unicode=True))
