"""Kinds of agency as data: what an agency may do, who pays for it, how it deters.

An agency's behaviour never depends on the name of its kind: code reads its
:class:`Capabilities`. The capabilities of the four kinds every scenario knows
are in one table, :data:`BUILTIN_KINDS`; a scenario may declare further kinds
by their capabilities alone (``kinds:``), and override any capability for one
agency (``agencies.<id>.capabilities``, and ``powers`` for judicial and armed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

NonNegFloat = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
# The mappings a summary's costs hold beside the payers' totals.
_COST_MAPPINGS = ("by_agency", "by_commune")


def _payer_name(name: str) -> str:
    if name in _COST_MAPPINGS:
        raise ValueError(f"'{name}' names the costs' breakdown, not a payer: choose another name")
    return name


PayerName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$"), AfterValidator(_payer_name)]

Jurisdiction = Literal["territory", "communes", "sites"]
Billing = Literal["salaried", "hourly"]

# Payer levels that every summary reports, even at zero cost, in this order; further
# levels (a new kind's payer) follow in alphabetical order.
BASE_PAYERS: tuple[str, ...] = ("state", "commune", "private")

# The payer whose costs are split among the communes of the jurisdiction (by_commune).
COMMUNE_PAYER = "commune"
# The State's forces (police nationale, gendarmerie): those an integrated security
# contract reinforces.
STATE_PAYER = "state"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class Capabilities(_Frozen):
    """What a kind of agency is: who pays, where it acts, how it bills, what it may do."""

    payer: PayerName = Field(
        description="Who bears its cost, reported under this name in the summary's costs: "
        "state, commune, private, or any new level (e.g. intercommunal)."
    )
    jurisdiction: Jurisdiction = Field(
        description="Where it may act: `territory` (every commune, or the communes it "
        "lists), `communes` (only the communes it must list), `sites` (only its "
        "contracted sites, which it must have)."
    )
    billing: Billing = Field(
        "salaried",
        description="`salaried`: officers' salaries, equipment and vehicles; `hourly`: "
        "billed by the guard-hour when the agency gives cost.hourly_rate_eur.",
    )
    judicial: bool = Field(
        False,
        description="Judicial police powers (OPJ): can take an arrested person into "
        "custody; others hand over to an agency that can.",
    )
    armed: bool = Field(False, description="Officers carry firearms.")
    apprehend: bool = Field(
        True,
        description="May detain a person caught in the act until a judicial police "
        "officer takes over (art. 73 of the code of criminal procedure: anyone may).",
    )
    enforces: list[str] | Literal["all"] = Field(
        "all",
        description="Incident types (calls or offences) it may take, or `all`; a "
        "competence naming its kind skips it for other types.",
    )
    guardianship: NonNegFloat = Field(
        description="Deterrence strength per hour of its patrol presence in a cell "
        "(with residual decay), in the crime engine."
    )
    drug_markets: bool = Field(
        False,
        description="Its patrol presence suppresses drug markets "
        "(crime.drug_markets.enforcement_per_h).",
    )


class CapabilityOverrides(_Frozen):
    """Capabilities of one agency that differ from its kind's (judicial, armed: powers)."""

    payer: PayerName | None = Field(None, description="Who bears its cost.")
    jurisdiction: Jurisdiction | None = Field(
        None, description="Where it may act: territory, communes or sites."
    )
    billing: Billing | None = Field(None, description="salaried or hourly.")
    enforces: list[str] | Literal["all"] | None = Field(
        None, description="Incident types it may take, or `all`."
    )
    guardianship: NonNegFloat | None = Field(
        None, description="Deterrence strength per hour of patrol presence."
    )
    drug_markets: bool | None = Field(
        None, description="Its patrol presence suppresses drug markets."
    )
    apprehend: bool | None = Field(
        None, description="May detain a person caught in the act (art. 73)."
    )


# The one table of per-kind defaults. Guardianship strengths are the model's
# calibration (docs/ODD.md, crime engine): uniformed State forces deter most, guards on
# sites least; judicial powers follow the code de procedure penale (art. 16-21: police
# nationale and gendarmerie officers are OPJ/APJ, municipal police APJA, guards none).
BUILTIN_KINDS: dict[str, Capabilities] = {
    "state_police": Capabilities(
        payer="state",
        jurisdiction="territory",
        judicial=True,
        armed=True,
        guardianship=1.5,
        drug_markets=True,
    ),
    "gendarmerie": Capabilities(
        payer="state",
        jurisdiction="territory",
        judicial=True,
        armed=True,
        guardianship=1.5,
        drug_markets=True,
    ),
    "municipal_police": Capabilities(payer="commune", jurisdiction="communes", guardianship=1.2),
    "private_security": Capabilities(
        payer="private", jurisdiction="sites", billing="hourly", guardianship=1.0
    ),
}


def known_kinds(declared: Mapping[str, Capabilities]) -> list[str]:
    """Every kind a scenario may name: the built-in ones, then its own."""
    return [*BUILTIN_KINDS, *(k for k in declared if k not in BUILTIN_KINDS)]


def resolve(
    kind: str,
    declared: Mapping[str, Capabilities],
    overrides: CapabilityOverrides,
    *,
    judicial: bool | None = None,
    armed: bool | None = None,
    guardianship: float | None = None,
) -> Capabilities:
    """The capabilities of one agency.

    Args:
        kind: The agency's kind.
        declared: The scenario's own kinds (``kinds:``); one named like a built-in
            kind replaces it.
        overrides: The agency's ``capabilities`` block.
        judicial: The agency's ``powers.judicial``, if given.
        armed: The agency's ``powers.armed``, if given.
        guardianship: A strength for every agency of this kind given elsewhere
            (``crime.guardianship.<kind>``), if any; the agency's own wins.

    Raises:
        KeyError: If the kind is neither built in nor declared (the scenario
            checks report it, located, first).
    """
    base = declared[kind] if kind in declared else BUILTIN_KINDS[kind]
    changes: dict[str, object] = overrides.model_dump(exclude_none=True)
    if guardianship is not None and "guardianship" not in changes:
        changes["guardianship"] = guardianship
    if judicial is not None:
        changes["judicial"] = judicial
    if armed is not None:
        changes["armed"] = armed
    return base.model_copy(update=changes) if changes else base


def payer_levels(payers: list[str]) -> list[str]:
    """The payer levels to report: the base ones, then any other, alphabetically."""
    return [*BASE_PAYERS, *sorted(set(payers) - set(BASE_PAYERS))]
