"""What a policy change changes: the settings that differ between two scenarios.

Each component of the model declares the settings it reads (dotted keys, ``*``
standing for any one name, as in ``agencies.*.sites``); when a timeline change
comes into force, the model hands the new scenario to the components whose
settings changed, and to no other.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from simulator.scenario.keys import Path, dotted, parse_key
from simulator.scenario.schema import Scenario

# The settings agencies are placed from (their capabilities read the legacy
# crime.guardianship strengths too): a component holding the placed agencies reads them.
AGENCY_SETTINGS: tuple[str, ...] = ("agencies", "kinds", "modes", "crime.guardianship")


# Settings read only when the model is built, which a timeline may not change: the
# residents are drawn once (routines, offenders, trust, fear), the drug markets placed once.
RESIDENTS_DRAWN_ONCE: tuple[str, ...] = (
    "citizens.patterns",
    "citizens.offender_share",
    "citizens.trust_mean",
    "citizens.trust_sd",
    "citizens.qpv_trust_shift",
    "citizens.fear_initial",
)
MARKETS_PLACED_ONCE: tuple[str, ...] = (
    "crime.drug_markets.count",
    "crime.drug_markets.district_types",
)


def changed_settings(old: Scenario, new: Scenario) -> frozenset[str]:
    """The dotted keys of every setting whose value differs (leaves, lists whole)."""
    return frozenset(differing_keys(old.model_dump(mode="json"), new.model_dump(mode="json")))


def differing_keys(a: Any, b: Any, path: Path = ()) -> list[str]:
    """The dotted keys where two nested mappings differ (leaves, lists whole), sorted."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [
            found
            for key in sorted(a.keys() | b.keys())
            for found in differing_keys(a.get(key), b.get(key), (*path, key))
        ]
    return [] if a == b else [dotted(path)]


def reads_any(changed: Iterable[str], settings: Iterable[str]) -> bool:
    """Whether any changed key is one of ``settings``, lies under one, or holds one."""
    patterns = [tuple(map(str, parse_key(s))) for s in settings]
    for key in changed:
        parts = tuple(map(str, parse_key(key)))
        for pattern in patterns:
            n = min(len(parts), len(pattern))
            if all(p in ("*", q) for p, q in zip(pattern[:n], parts[:n], strict=True)):
                return True
    return False
