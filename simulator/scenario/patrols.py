"""The patrol strategies a scenario may name, and what each needs from the scenario.

This is the scenario's side of the registry: names, what the schema shows, and the
inputs a strategy cannot work without (checked, with the agency's path, at load).
The behaviour of each strategy is registered under the same name in
:mod:`simulator.agencies.patrol`. Adding a strategy is one entry here and one
function there.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StrategyInfo:
    """What the scenario language knows of a patrol strategy.

    Attributes:
        description: What idle units do, for ``secsim schema`` and the docs.
        needs_crime: It reads the crime engine (e.g. the drug markets).
        needs_sites: It reads the agency's contracted sites.
    """

    description: str
    needs_crime: bool = False
    needs_sites: bool = False


PATROL_STRATEGIES: dict[str, StrategyInfo] = {
    "static": StrategyInfo("wait at the station"),
    "random": StrategyInfo("drive to random cells of the jurisdiction"),
    "hotspot": StrategyInfo(
        "visit the cells with most expected calls (or expected opportunities of the "
        "hotspot_offences types), staying dwell_min in each"
    ),
    "sites": StrategyInfo("rounds of the contracted sites (private security)", needs_sites=True),
    "markets": StrategyInfo(
        "stay on the drug markets known at the start (enforcement)", needs_crime=True
    ),
}


def strategies_help() -> str:
    """One sentence per strategy, for the schema's description of ``patrol.strategy``."""
    return "; ".join(f"`{name}`: {info.description}" for name, info in PATROL_STRATEGIES.items())
