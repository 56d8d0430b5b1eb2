"""The dispatch policies a scenario may name, and where their code is.

This table sits below the scenario schema, which checks ``dispatch.policy``
against its names; the code of each policy sits above, in the dispatch layer,
and is imported by name only when a run uses it. Adding a policy takes two
files: its class (in :mod:`simulator.dispatch.policy` or a module of its own)
and one line here.
"""

from __future__ import annotations

from typing import NamedTuple


class PolicyEntry(NamedTuple):
    """Where a policy's class is (``module:Class``) and what it does, in one line."""

    target: str
    summary: str


DEFAULT_POLICY = "agency_order"

POLICIES: dict[str, PolicyEntry] = {
    "agency_order": PolicyEntry(
        "simulator.dispatch.policy:AgencyOrder",
        "the first agency of the competence list with a free unit sends its quickest one",
    ),
    "closest_unit": PolicyEntry(
        "simulator.dispatch.policy:ClosestUnit",
        "the quickest free unit of any agency of the competence list goes",
    ),
}
