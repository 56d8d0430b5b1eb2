"""The policy timeline: changes that take effect on given days of a run.

Each event of ``timeline:`` is one action. The compiler turns the events, in
the order they take effect (a hire with a recruitment delay takes effect when
the recruits are on the road), into a sequence of full scenarios: the one in
force from each change on. Every intermediate scenario is checked like a
scenario file, so a change that would make the world inconsistent (a transfer
to an agency that does not exist, a cut below zero) is reported at load time,
with the event's position, not discovered in the middle of a run.

What may change: agencies' resources, hours, patrol and costs; competences;
demand; dispatch rules; citizens; crime parameters; CCTV. What may not: the
territory, the run settings, and which agencies exist (declare an agency from
the start with no resources to bring it in later).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from simulator.scenario.changes import (
    MARKETS_PLACED_ONCE,
    RESIDENTS_DRAWN_ONCE,
    changed_settings,
)
from simulator.scenario.checks import Finding, districts_outside, semantic_findings
from simulator.scenario.errors import did_you_mean, did_you_mean_hint
from simulator.scenario.keys import Path, dotted, parse_key, set_value
from simulator.scenario.kinds import COMMUNE_PAYER, STATE_PAYER
from simulator.scenario.messages import describe_error
from simulator.scenario.schema import (
    HANDOVER_TYPE,
    ContractAction,
    HireAction,
    PolicyChange,
    Scenario,
    ScenarioCheck,
    TimelineEvent,
    write_default_entries,
)
from simulator.scenario.staffing import resolve_staffing

FROZEN_ROOTS = ("name", "territory", "run", "timeline")
# Settings read once, when residents are drawn or markets placed (the components that
# read them declare the same tuples as READS_ONCE; a test keeps the two in step).
FROZEN_SETTINGS = (*RESIDENTS_DRAWN_ONCE, *MARKETS_PLACED_ONCE)


class _Refusal(Exception):
    """A timeline event that cannot be applied; carries the path and the reason."""

    def __init__(self, path: Path, message: str):
        super().__init__(message)
        self.path = path
        self.message = message


def _agency(current: Scenario, name: str, where: Path) -> None:
    if name not in current.agencies:
        hint = did_you_mean_hint(name, current.agencies)
        raise _Refusal(
            where, f"unknown agency '{name}'{hint}; agencies are: {', '.join(current.agencies)}"
        )


def _own_police(scenario: Scenario, agency: str) -> bool:
    """Whether an agency is a commune's own police: paid by it, acting in its communes."""
    caps = scenario.capabilities(agency)
    return caps.payer == COMMUNE_PAYER and caps.jurisdiction == "communes"


def _hire(
    data: dict[str, Any], current: Scenario, act: HireAction, sign: float, where: Path
) -> None:
    _agency(current, act.agency, (*where, "agency"))
    spec = current.agencies[act.agency]
    now = resolve_staffing(spec, current.capabilities(act.agency).billing).officers
    new = now + sign * act.officers
    if new < 0:
        raise _Refusal(
            (*where, "officers"),
            f"cannot cut {act.officers:g} officers from '{act.agency}', which has {now:.0f}",
        )
    block = data["agencies"][act.agency]
    block.update({"officers": round(new), "budget_eur": None, "units": None})


def _contract_agencies(current: Scenario, con: ContractAction, here: Path) -> None:
    """A contract's agencies exist and are what they stand for: a State force, a commune's.

    The State force is checked when the contract adds State officers or names it (the
    default, state_police, may not exist where no State officers are added).
    """
    if con.state_officers or "state_agency" in con.model_fields_set:
        state = [n for n in current.agencies if current.capabilities(n).payer == STATE_PAYER]
        if con.state_agency not in current.agencies:
            if "state_agency" not in con.model_fields_set:
                raise _Refusal(
                    (*here, "state_agency"),
                    f"state_agency is state_police unless named, and this scenario has no "
                    f"agency of that name: name its State force ({', '.join(state) or 'none'})",
                )
            _agency(current, con.state_agency, (*here, "state_agency"))
        caps = current.capabilities(con.state_agency)
        if caps.payer != STATE_PAYER:
            raise _Refusal(
                (*here, "state_agency"),
                f"'{con.state_agency}' is not a State force (its payer is {caps.payer}): the "
                f"State signs for one of {', '.join(state) or 'none'}",
            )
    if con.municipal_agency is not None:
        _agency(current, con.municipal_agency, (*here, "municipal_agency"))
        if current.capabilities(con.municipal_agency).jurisdiction != "communes":
            raise _Refusal(
                (*here, "municipal_agency"),
                f"'{con.municipal_agency}' is not a police of communes (capability "
                "jurisdiction: communes, as a municipal or an intercommunal police): the "
                "commune signs for its own police",
            )


def _zone(
    data: dict[str, Any],
    districts: list[str],
    coverage: float,
    operators: int,
    communes: list[str] | None,
) -> None:
    cctv = data.setdefault("cctv", {})
    if districts:
        zone: dict[str, Any] = {"districts": list(districts), "coverage": coverage}
        if communes is not None:
            zone["communes"] = list(communes)
        cctv.setdefault("zones", []).append(zone)
    cctv["operators"] = int(cctv.get("operators", 0)) + operators


def _apply(data: dict[str, Any], current: Scenario, event: TimelineEvent, where: Path) -> None:
    action = event.action
    here: Path = (*where, action)
    if event.set is not None:
        for key, value in event.set.items():
            try:
                path = parse_key(key)
            except ValueError as exc:
                raise _Refusal((*here, key), f"'{key}': {exc}") from None
            frozen = path[0] in FROZEN_ROOTS or any(
                key == f or key.startswith(f + ".") for f in FROZEN_SETTINGS
            )
            if frozen:
                raise _Refusal((*here, key), f"'{key}' cannot change during a run")
            holds_frozen = [f for f in FROZEN_SETTINGS if f.startswith(key + ".")]
            if holds_frozen or key in ("crime", "crime.types"):
                raise _Refusal(
                    (*here, key),
                    f"set the individual settings under '{key}' (e.g. '{key}.<setting>'), not "
                    "the whole block: some of it cannot change during a run",
                )
            if path[:2] == ("crime", "types") and (
                len(path) < 3 or current.crime is None or str(path[2]) not in current.crime.types
            ):
                raise _Refusal(
                    (*here, key),
                    "offence types cannot be added or removed during "
                    "a run (their settings can change)",
                )
            if path[0] in ("crime", "cctv") and current.crime is None:
                raise _Refusal((*here, key), "the scenario has no crime engine (crime:) to change")
            if path[0] == "agencies" and len(path) >= 2 and str(path[1]) not in current.agencies:
                near = did_you_mean(str(path[1]), current.agencies)
                raise _Refusal(
                    (*here, key),
                    (f"unknown agency '{path[1]}' (did you mean '{near}'?); " if near else "")
                    + f"agencies cannot be added during a run; declare '{path[1]}' from the "
                    "start with no resources",
                )
            try:
                write_default_entries(data, path)
                set_value(data, path, copy.deepcopy(value))
            except ValueError:
                raise _Refusal((*here, key), f"no setting '{key}'") from None
    elif event.hire is not None:
        _hire(data, current, event.hire, +1.0, here)
    elif event.cut is not None:
        if event.cut.delay_days:
            raise _Refusal(
                (*here, "delay_days"), "a cut takes effect on its day: give the day, not a delay"
            )
        _hire(data, current, event.cut, -1.0, here)
    elif event.transfer is not None:
        t = event.transfer
        types = [*current.incident_types(), HANDOVER_TYPE]  # who takes arrested persons over
        if t.type not in types:
            hint = did_you_mean_hint(t.type, types)
            raise _Refusal((*here, "type"), f"unknown incident type '{t.type}'{hint}")
        kinds = sorted({a.kind for a in current.agencies.values()})
        if t.to not in current.agencies and t.to not in kinds:
            hint = did_you_mean_hint(t.to, [*current.agencies, *kinds])
            raise _Refusal(
                (*here, "to"),
                f"unknown agency or kind '{t.to}'{hint}; agencies are: "
                f"{', '.join(current.agencies)} (or a kind: {', '.join(kinds)})",
            )
        before = list(current.competences.get(t.type, []))
        after = [t.to, *[a for a in before if a != t.to]] if t.keep_others else [t.to]
        data["competences"][t.type] = after
    elif event.cctv is not None:
        c = event.cctv
        _zone(data, c.districts, c.coverage, c.operators, c.communes)
    elif event.contract is not None:
        con = event.contract
        names = [x.name for x in current.territory.communes]
        # A file territory's communes are checked once its files are read.
        if current.territory.kind != "file" and con.commune not in names:
            hint = did_you_mean_hint(con.commune, names)
            raise _Refusal(
                (*here, "commune"),
                f"unknown commune '{con.commune}'{hint}; communes are: {', '.join(names)}",
            )
        _contract_agencies(current, con, here)
        if con.state_officers:
            act = HireAction(agency=con.state_agency, officers=con.state_officers)
            _hire(data, current, act, +1.0, (*here, "state_agency"))
        if con.municipal_officers:
            municipal = con.municipal_agency or next(
                (
                    n
                    for n, a in current.agencies.items()
                    if a.communes == [con.commune] and _own_police(current, n)
                ),
                None,
            )
            if municipal is None:
                raise _Refusal(
                    (*here, "municipal_agency"),
                    f"commune '{con.commune}' has no municipal police of its own; "
                    "name one with municipal_agency",
                )
            act = HireAction(agency=municipal, officers=con.municipal_officers)
            _hire(data, current, act, +1.0, (*here, "municipal_agency"))
        # The cameras a commune pays for are in the commune (its districts of a type).
        at = (*here, "cctv_districts")
        for path, message in districts_outside(
            current, con.cctv_districts, [con.commune], at, "the contract's commune"
        ):
            raise _Refusal(path, message)
        _zone(data, con.cctv_districts, 0.6, con.cctv_operators, [con.commune])
    elif event.programme is not None:
        prog = event.programme
        if prog.watch_share is not None:
            data.setdefault("citizens", {})["watch_share"] = prog.watch_share
        if prog.prevention_eur_per_year is not None:
            if data.get("crime") is None:
                raise _Refusal(
                    (*here, "prevention_eur_per_year"),
                    "prevention acts on drug markets: the scenario has no crime:",
                )
            markets = data["crime"].setdefault("drug_markets", {})
            markets["prevention_eur_per_year"] = prog.prevention_eur_per_year
    elif event.private_contract is not None:
        pc = event.private_contract
        _agency(current, pc.agency, (*here, "agency"))
        spec = current.agencies[pc.agency]
        if current.capabilities(pc.agency).jurisdiction != "sites":
            raise _Refusal(
                (*here, "agency"),
                f"'{pc.agency}' does not work on contracted sites (capability jurisdiction: "
                "sites, as private security)",
            )
        block = data["agencies"][pc.agency]
        block["sites"] = spec.sites + pc.sites
        if pc.units and spec.units is not None:
            block["units"] = spec.units + pc.units
        elif pc.units:
            # Staffed by officers or budget: add the officers that n more units at every
            # hour of service need, so the staffing profile keeps its shape.
            staffing = resolve_staffing(spec, current.capabilities(pc.agency).billing)
            unit_hours = sum(staffing.units_by_hour)
            hours = sum(1 for h in range(24) if spec.serves_hour(h))
            per_unit_hour = staffing.officers / unit_hours if unit_hours else 0.0
            if per_unit_hour <= 0:
                block.update({"units": pc.units, "officers": None, "budget_eur": None})
            else:
                officers = staffing.officers + pc.units * hours * per_unit_hour
                block.update({"officers": round(officers), "budget_eur": None, "units": None})


def _label(event: TimelineEvent) -> str:
    return event.label or event.action.replace("_", " ")


def policy_changes(
    scenario: Scenario, checks: Sequence[ScenarioCheck] = ()
) -> tuple[list[PolicyChange], list[Finding]]:
    """The scenario's compiled timeline, compiled once per scenario and kept with it.

    Args:
        scenario: A scenario that passed its checks.
        checks: Further checks each scenario in force after a change must pass (the
            loader's, such as a file territory's communes).

    Returns:
        The changes in the order they take effect, and the findings (path,
        message) of events that cannot be applied (then nothing is kept).
    """
    kept = scenario.policy_changes
    if kept is not None:
        return list(kept), []
    changes, findings = compile_timeline(scenario, checks)
    if not findings:
        scenario.remember_policy_changes(tuple(changes))
    return changes, findings


def timeline_notes(scenario: Scenario) -> list[Finding]:
    """What a compiled timeline allows but its author likely did not mean: notes.

    An event that leaves every setting as it was (a ``transfer`` to the agency already
    first, a ``set`` to the value in force), and one that takes effect after the end
    of the statistics window (a ``hire`` or ``contract`` whose delay runs past it),
    which is not applied.
    """
    changes, findings = policy_changes(scenario)
    if findings or not changes:
        return []
    order = sorted(
        range(len(scenario.timeline)), key=lambda i: (scenario.timeline[i].effective_day, i)
    )
    end_day = scenario.run.warmup_days + scenario.run.days
    notes: list[Finding] = []
    before = scenario.model_copy(update={"timeline": []})
    for i, change in zip(order, changes, strict=True):
        event = scenario.timeline[i]
        if not changed_settings(before, change.scenario):
            notes.append(
                (
                    ("timeline", i, event.action),
                    "this change leaves every setting as it was"
                    + (
                        f": '{event.transfer.to}' is already first for '{event.transfer.type}' "
                        "(keep_others: false makes it the only one)"
                        if event.transfer is not None and event.transfer.keep_others
                        else ""
                    ),
                )
            )
        elif event.effective_day >= end_day:
            notes.append(
                (
                    ("timeline", i, event.action),
                    f"takes effect on day {event.effective_day:g}, after the run ends (on day "
                    f"{end_day:g}: warm-up {scenario.run.warmup_days} + {scenario.run.days} "
                    "days): it is not applied (run.json lists it under "
                    "policy_changes_after_end); run longer (run.days, or --days) or "
                    "shorten its delay",
                )
            )
        before = change.scenario
    return notes


def compile_timeline(
    scenario: Scenario, checks: Sequence[ScenarioCheck] = ()
) -> tuple[list[PolicyChange], list[Finding]]:
    """The scenarios in force after each change, or the problems that prevent it.

    Each must pass the scenario checks and ``checks`` (see :func:`policy_changes`).

    Returns:
        The changes in the order they take effect, and the findings (path,
        message) of events that cannot be applied.
    """
    if not scenario.timeline:
        return [], []
    horizon_days = scenario.run.warmup_days + scenario.run.days
    order = sorted(
        range(len(scenario.timeline)), key=lambda i: (scenario.timeline[i].effective_day, i)
    )
    data = scenario.model_dump(mode="json")
    data["timeline"] = []
    current = scenario.model_copy(update={"timeline": []})
    changes: list[PolicyChange] = []
    findings: list[Finding] = []
    for i in order:
        event = scenario.timeline[i]
        where: Path = ("timeline", i)
        day = event.effective_day
        if event.day >= horizon_days:
            needed = math.floor(event.day) + 1 - scenario.run.warmup_days
            findings.append(
                (
                    (*where, "day"),
                    f"day {event.day:g} is after the end of the run (day {horizon_days}: "
                    f"warm-up {scenario.run.warmup_days} + {scenario.run.days} days, both "
                    f"counted); run at least {needed} days (run.days: --days of secsim "
                    "run, days: of an experiment) or move the change",
                )
            )
            continue
        trial = copy.deepcopy(data)
        try:
            _apply(trial, current, event, where)
            nxt = Scenario.model_validate(trial)
        except _Refusal as refusal:
            findings.append((refusal.path, refusal.message))
            continue
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                path, message = describe_error(err, trial)
                findings.append(
                    ((*where, event.action), f"after this change, {dotted(path)}: {message}")
                )
            continue
        problems = semantic_findings(nxt)
        for check in checks:
            if problems:
                break
            problems = check(nxt)
        if problems:
            for path, message in problems:
                findings.append(
                    ((*where, event.action), f"after this change, {dotted(path)}: {message}")
                )
            continue
        if list(nxt.agencies) != list(current.agencies):  # a whole 'agencies' block set
            findings.append(
                (
                    (*where, event.action),
                    f"the agencies cannot be added, removed, renamed or put in another order "
                    f"during a run (they are {', '.join(current.agencies)}); declare an agency "
                    "from the start with no resources",
                )
            )
            continue
        data, current = trial, nxt
        changes.append(PolicyChange(hour=day * 24.0, label=_label(event), scenario=current))
    return changes, findings
