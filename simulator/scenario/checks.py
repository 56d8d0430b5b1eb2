"""Checks that relate several parts of a scenario to one another.

Each check returns problems with the path of the offending value, so that the
loader can point at the right line of the right file.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence

from simulator.scenario.errors import did_you_mean, did_you_mean_hint
from simulator.scenario.keys import Path
from simulator.scenario.kinds import BASE_PAYERS, known_kinds
from simulator.scenario.modes import BUILTIN_MODES, known_modes
from simulator.scenario.patrols import PATROL_STRATEGIES
from simulator.scenario.schema import (
    DEFAULT_ENTRIES,
    HANDOVER_TYPE,
    CompetenceRule,
    DirectCallsSpec,
    DistrictType,
    Scenario,
    StationKindSpec,
    in_hours,
)
from simulator.scenario.staffing import resolve_staffing
from simulator.world.registries import LOCATIONS, TARGETS

Finding = tuple[Path, str]


def commune_names(scenario: Scenario) -> list[str]:
    """The commune identifiers of the territory, in declaration order."""
    return [c.name for c in scenario.territory.communes]


def _unknown_commune(ref: str, names: list[str], listing: str = "communes are") -> str:
    return f"unknown commune '{ref}'{did_you_mean_hint(ref, names)}; {listing}: {', '.join(names)}"


def _check_territory(s: Scenario) -> Iterator[Finding]:
    t = s.territory
    if t.kind == "file":
        if t.file is None:
            yield ("territory", "kind"), "a file territory needs territory.file (its layers)"
        # The communes and the square's geometry come from the files: silently ignoring
        # these settings would mislead. Compared with the defaults, not read off the
        # fields set: a scenario compiled from a timeline change has every field set.
        for key in ("communes", "extent_km", "central_radius_share"):
            if getattr(t, key) != type(t).model_fields[key].get_default(call_default_factory=True):
                yield (
                    ("territory", key),
                    f"not used by a file territory (the communes and their shapes come "
                    f"from territory.file): remove territory.{key}",
                )
        return
    if t.file is not None:
        yield ("territory", "file"), "read only by a file territory: add territory.kind: file"
    names = commune_names(s)
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            yield ("territory", "communes", i, "name"), f"commune '{name}' is declared twice"
        seen.add(name)
    if s.territory.kind == "synthetic":
        central = [i for i, c in enumerate(s.territory.communes) if c.role == "central"]
        if len(central) != 1:
            yield (
                ("territory", "communes"),
                (
                    f"a synthetic territory needs exactly one commune with role 'central', "
                    f"found {len(central)}"
                ),
            )
        if sum(c.residents for c in s.territory.communes) <= 0:
            yield ("territory", "communes"), "the territory needs at least one resident"
        if s.territory.cell_m >= s.territory.extent_km * 1000 / 4:
            yield (
                ("territory", "cell_m"),
                (
                    f"cells of {s.territory.cell_m:g} m are too large for a territory of "
                    f"{s.territory.extent_km:g} km (need at least 4 cells across)"
                ),
            )


def _check_demand(s: Scenario) -> Iterator[Finding]:
    shares = sum(t.share for t in s.demand.types.values())
    if abs(shares - 1.0) > 1e-6:
        yield ("demand", "types"), f"the shares of the call types must sum to 1, got {shares:.6g}"
    n_prio = s.demand.n_priorities
    for name, t in s.demand.types.items():
        if t.priority_shares is not None and len(t.priority_shares) != n_prio:
            yield (
                ("demand", "types", name, "priority_shares"),
                (
                    f"has {len(t.priority_shares)} values but demand.priority_shares defines "
                    f"{n_prio} priorities"
                ),
            )
        at_sites = "sites" in LOCATIONS[t.location].layers
        if at_sites and not any(a.sites > 0 for a in s.agencies.values()):
            yield (
                ("demand", "types", name, "location"),
                (f"calls at '{t.location}' need an agency with contracted sites (sites > 0)"),
            )
    if HANDOVER_TYPE in s.demand.types:
        yield (
            ("demand", "types", HANDOVER_TYPE),
            (f"'{HANDOVER_TYPE}' is reserved for the hand-over of arrested persons"),
        )


# Far above any real force (a crew is two or more officers; France's police and gendarmerie
# together are about 250,000 officers), low enough that a mistyped budget is caught before a
# run creates millions of agents.
MAX_CREWS = 50_000


def _check_agencies(s: Scenario) -> Iterator[Finding]:
    names = commune_names(s)
    # A file territory's communes are known once its files are read: the references are
    # checked then (simulator.world.territory.territory_findings).
    from_files = s.territory.kind == "file"
    stations_layer = s.territory.file is not None and s.territory.file.stations is not None
    for agency_id, a in s.agencies.items():
        base: Path = ("agencies", agency_id)
        caps = s.capabilities(agency_id)
        if isinstance(a.communes, list):
            yield from _listed_twice(a.communes, (*base, "communes"), "name each commune once")
        if a.station is not None and a.stations is not None:
            yield (*base, "stations"), "give station or stations, not both"
        if isinstance(a.stations, StationKindSpec) and not stations_layer:
            yield (
                (*base, "stations", "kind"),
                "stations of a kind come from a stations layer: add territory.file.stations",
            )
        if isinstance(a.stations, list) and not a.stations:
            yield (*base, "stations"), "must list at least one station or commune"
        given = [k for k in ("units", "officers", "budget_eur") if getattr(a, k) is not None]
        if len(given) != 1:
            yield (
                base,
                (
                    "give exactly one of units, officers or budget_eur"
                    + (f" (found {', '.join(given)})" if given else " (found none)")
                    + (
                        "; where one comes from an extended file or an earlier period, "
                        "set the one replaced to null here ("
                        + " or ".join(f"{k}: null" for k in given)
                        + ")"
                        if len(given) > 1
                        else ""
                    )
                ),
            )
        if given == ["budget_eur"] and a.budget_eur:
            c = a.cost
            if caps.billing == "hourly" and not c.hourly_rate_eur:
                yield (
                    (*base, "cost", "hourly_rate_eur"),
                    "a budget buys guard hours at the hourly rate: give cost.hourly_rate_eur "
                    "above 0 (or officers or units instead of budget_eur)",
                )
            elif caps.billing != "hourly" and not (c.salary_eur + c.equipment_eur + c.vehicle_eur):
                yield (
                    (*base, "cost"),
                    "a budget buys officers at their cost: give cost.salary_eur, equipment_eur "
                    "or vehicle_eur above 0 (or officers or units instead of budget_eur)",
                )
        if len(given) == 1:
            try:
                crews = resolve_staffing(a, caps.billing).vehicles
            except (ArithmeticError, ValueError):
                crews = 0  # a cost of zero and the like are reported by their own checks
            if crews > MAX_CREWS:
                yield (
                    (*base, given[0]),
                    f"gives {crews:,} crews at the busiest hour; each crew is simulated as an "
                    f"agent, at most {MAX_CREWS:,} per agency (all of France's police and "
                    "gendarmerie is about 250,000 officers): check the figure",
                )
        if a.communes != "all":
            if not a.communes:
                yield (*base, "communes"), "must list at least one commune, or be 'all'"
            for i, commune in enumerate([] if from_files else a.communes):
                if commune not in names:
                    yield (*base, "communes", i), _unknown_commune(commune, names)
        elif caps.jurisdiction == "communes":
            yield (
                (*base, "communes"),
                (
                    f"a {a.kind} acts in its own commune(s) (jurisdiction: communes): "
                    "list them, e.g. [city]"
                ),
            )
        if a.station is not None and not from_files and a.station not in names:
            yield (*base, "station"), _unknown_commune(a.station, names)
        if isinstance(a.stations, list) and not from_files:
            for i, ref in enumerate(a.stations):
                if ref not in names:
                    listing = "on a synthetic territory stations are communes"
                    yield (*base, "stations", i), _unknown_commune(ref, names, listing)
        if caps.jurisdiction == "sites":
            if a.sites == 0:
                yield (
                    (*base, "sites"),
                    f"a {a.kind} acts only on contracted sites (jurisdiction: sites): "
                    "it needs sites > 0",
                )
        elif a.sites:
            yield (
                (*base, "sites"),
                "only an agency that acts on contracted sites (jurisdiction: sites, as "
                "private security) works on contracted sites",
            )
        if a.cost.hourly_rate_eur is not None and caps.billing != "hourly":
            yield (
                (*base, "cost", "hourly_rate_eur"),
                (
                    "only an agency billed by the hour (billing: hourly, as private "
                    "security) is paid by the hour; give salary_eur instead"
                ),
            )
        if isinstance(caps.enforces, list):
            types = s.incident_types()
            where = (*base, "capabilities", "enforces")
            if a.kind in s.kinds and "enforces" not in a.capabilities.model_fields_set:
                where = ("kinds", a.kind, "enforces")
            for i, ref in enumerate(caps.enforces):
                if ref not in types:
                    yield (
                        (*where, i),
                        f"unknown incident type '{ref}'{did_you_mean_hint(ref, types)}; types are: "
                        f"{', '.join(types)}",
                    )
        yield from _check_direct_calls(s, agency_id)
        yield from _check_district_refs(s, a.patrol.districts, (*base, "patrol", "districts"))
        strategy = PATROL_STRATEGIES[a.patrol.strategy]
        if strategy.needs_crime and s.crime is None:
            yield (
                (*base, "patrol", "strategy"),
                f"'{a.patrol.strategy}' patrol needs the crime engine (crime:)",
            )
        if strategy.needs_sites and a.sites == 0:
            yield (
                (*base, "patrol", "strategy"),
                f"'{a.patrol.strategy}' patrol needs contracted sites",
            )
        yield from _check_hotspot_offences(s, agency_id)


def _check_hotspot_offences(s: Scenario, agency_id: str) -> Iterator[Finding]:
    """Hot spots by offence types: the crime engine, and types it draws by place."""
    patrol = s.agencies[agency_id].patrol
    if not patrol.hotspot_offences:
        return
    base: Path = ("agencies", agency_id, "patrol", "hotspot_offences")
    # Read by the hotspot strategy only, as hotspot_share is, and kept with another:
    # a strategy changed by --set, a timeline or the dashboard's lever finds it again.
    if s.crime is None:
        # Else the problem at crime names this patrol; another strategy does not read it.
        if patrol.strategy == "hotspot" and not _offences_without_crime(s):
            yield base, "hot spots by offence types need the crime engine (crime:)"
        return
    types = list(s.crime.types)
    for i, name in enumerate(patrol.hotspot_offences):
        spec = s.crime.types.get(name)
        if spec is None:
            call_type = (
                f"; '{name}' is a call type: hot spots by expected calls are those of an "
                "empty hotspot_offences ([])"
                if name in s.demand.types
                else did_you_mean_hint(name, types)
            )
            yield (
                (*base, i),
                f"unknown offence type '{name}'{call_type}; "
                f"the offence types of crime.types are: {', '.join(types)}",
            )
        elif TARGETS[spec.target].follows_markets:
            yield (
                (*base, i),
                f"'{name}' happens at the drug markets (crime.types.{name}.target: "
                f"{spec.target}), which have no standing rates to rank cells by: take it out "
                "of hotspot_offences (the markets are patrolled with strategy markets)",
            )
    yield from _listed_twice(patrol.hotspot_offences, base, "name each offence type once")


def _check_direct_calls(s: Scenario, agency_id: str) -> Iterator[Finding]:
    """The types of an agency's direct calls are call types it may take.

    The default mix is checked only when direct calls are on: a scenario with other
    call types that leaves them off need not name any.
    """
    direct = s.agencies[agency_id].direct_calls
    # Compared with the default, not read off the fields set: a scenario compiled
    # from a timeline change has every field set.
    given = direct.types != DirectCallsSpec().types
    if direct.per_1000_residents <= 0 and not given:
        return
    base: Path = ("agencies", agency_id, "direct_calls", "types")
    call_types = list(s.demand.types)
    enforces = s.capabilities(agency_id).enforces
    for name in direct.types:
        if name not in call_types:
            yield (
                (*base, name) if given else base,
                (
                    f"unknown call type '{name}'{did_you_mean_hint(name, call_types)}"
                    if given
                    else f"the default mix names the call type '{name}', which demand.types "
                    "does not have: give the types"
                )
                + f"; the call types of demand.types are: {', '.join(call_types)}",
            )
        elif enforces != "all" and name not in enforces:
            yield (
                (*base, name),
                f"the agency may not take '{name}' calls (its capabilities.enforces); "
                "direct calls are of types it takes",
            )


def _check_district_refs(s: Scenario, refs: list[str], base: Path) -> Iterator[Finding]:
    if s.territory.kind == "file":
        return  # district codes come from the files: checked once they are read
    types = [t.value for t in DistrictType]
    counts = {c.name: c.districts for c in s.territory.communes}
    example = f"{s.territory.communes[0].name}-1"
    for i, ref in enumerate(refs):
        commune, _, number = ref.rpartition("-")
        if ref in types:
            continue
        if commune in counts and number.isdigit():
            if 1 <= int(number) <= counts[commune]:
                continue
            yield (
                (*base, i),
                (f"commune '{commune}' has districts {commune}-1 to {commune}-{counts[commune]}"),
            )
            continue
        yield (
            (*base, i),
            (
                f"'{ref}' is neither a district type{did_you_mean_hint(ref, types)} nor a district "
                f"identifier like '{example}'; district types are: {', '.join(types)}"
            ),
        )


def _check_zone_communes(
    s: Scenario, districts: list[str], communes: list[str] | None, base: Path
) -> Iterator[Finding]:
    """A CCTV zone's communes exist, and its district identifiers lie in them."""
    if communes is None or s.territory.kind == "file":
        return  # a file territory's communes are checked once its files are read
    names = commune_names(s)
    for i, ref in enumerate(communes):
        if ref not in names:
            yield (*base, "communes", i), _unknown_commune(ref, names)
    yield from _listed_twice(communes, (*base, "communes"), "name each commune once")
    yield from districts_outside(
        s, districts, communes, (*base, "districts"), "the zone's communes"
    )


def districts_outside(
    s: Scenario, districts: list[str], communes: list[str], at: Path, whose: str
) -> Iterator[Finding]:
    """District identifiers (``<commune>-<k>``) of ``districts`` in none of ``communes``.

    Their cameras would cover nothing (a CCTV zone limited to ``communes``, a
    contract's to its commune). Synthetic territories: a file territory's districts
    are placed once its files are read (:func:`simulator.agencies.agency.territory_findings`).
    """
    if s.territory.kind == "file":
        return
    names = commune_names(s)
    for i, ref in enumerate(districts):
        commune, _, number = ref.rpartition("-")
        if commune in names and number.isdigit() and commune not in communes:
            yield (
                (*at, i),
                f"district '{ref}' is in commune '{commune}', not in {whose} "
                f"({', '.join(communes)}): its cameras would cover nothing",
            )


def _check_crime(s: Scenario) -> Iterator[Finding]:
    shares = s.citizens.patterns.model_dump()
    total = sum(shares.values())
    if abs(total - 1.0) > 1e-6:
        yield ("citizens", "patterns"), f"the pattern shares must sum to 1, got {total:.6g}"
    if s.crime is not None:
        n_prio = s.demand.n_priorities
        for name, t in s.crime.types.items():
            if name in s.demand.types:
                yield (
                    ("crime", "types", name),
                    (
                        f"'{name}' is already a call type in demand.types; "
                        "give offences their own names"
                    ),
                )
            if t.priority > n_prio:
                yield (
                    ("crime", "types", name, "priority"),
                    (
                        f"priority {t.priority} does not exist: demand.priority_shares defines "
                        f"{n_prio} priorities"
                    ),
                )
    for z, zone in enumerate(s.cctv.zones):
        base: Path = ("cctv", "zones", z)
        yield from _check_district_refs(s, zone.districts, (*base, "districts"))
        yield from _check_zone_communes(s, zone.districts, zone.communes, base)
    for e, event in enumerate(s.timeline):
        if event.cctv is not None:
            at: Path = ("timeline", e, "cctv")
            yield from _check_zone_communes(s, event.cctv.districts, event.cctv.communes, at)
    if s.cctv.zones and s.cctv.operators == 0:
        yield ("cctv", "operators"), "cameras need operators on duty to detect anything"


def _offences_without_crime(s: Scenario) -> list[str]:
    """The default offence types competences list while the crime engine is off.

    With the crime engine switched off (crime: null, or an empty crime:), the offence
    types' competence lists name types that no longer exist: one problem, at crime,
    which also names the patrols ranking hot spots by offence types.
    """
    if s.crime is not None:
        return []
    types = s.incident_types()
    return [t for t in s.competences if t not in types and t in DEFAULT_ENTRIES["crime", "types"]()]


def _check_competences(s: Scenario) -> Iterator[Finding]:
    types = s.incident_types()
    offences = _offences_without_crime(s)
    if offences:
        patrols = [
            name
            for name, a in s.agencies.items()
            if a.patrol.hotspot_offences and a.patrol.strategy == "hotspot"
        ]
        ranked = (
            f" and the patrols of {', '.join(patrols)} rank hot spots by offence types"
            if patrols
            else ""
        )
        yield (
            ("crime",),
            f"the crime engine is off (crime: null or empty), yet competences lists offence "
            f"types ({', '.join(offences)}){ranked}: write crime: back, or take those out",
        )
    for incident_type, agencies in s.competences.items():
        base: Path = ("competences", incident_type)
        if incident_type in offences:
            continue
        if incident_type not in types and incident_type != HANDOVER_TYPE:
            yield base, _unknown_type(s, incident_type, types)
        if not agencies:
            yield base, "needs at least one agency"
        for i, ref in enumerate(agencies):
            yield from _check_ref(s, incident_type, ref, (*base, i))
        yield from _listed_twice(
            agencies, base, "a competence list is an order of preference: name each agency once"
        )
    for incident_type in types:
        if incident_type not in s.competences:
            # A misspelt type makes a new one, which no competence list names.
            near = did_you_mean(incident_type, [t for t in s.competences if t in types])
            if near is not None:
                section = (
                    ("demand", "types") if incident_type in s.demand.types else ("crime", "types")
                )
                yield (
                    (*section, incident_type),
                    f"'{incident_type}' is a new type with no competent agency (did you mean "
                    f"'{near}'?): to change a type write its name; a new one needs "
                    f"competences.{incident_type}: [agency, ...]",
                )
                continue
            yield (
                ("competences",),
                (
                    f"incident type '{incident_type}' has no competent agency: add "
                    f"'{incident_type}: [agency, ...]'"
                ),
            )
    for i, ref in enumerate(s.competences.get(HANDOVER_TYPE, [])):
        # As in dispatch: an agency's identifier first, else every agency of that kind.
        named = [ref] if ref in s.agencies else [n for n, a in s.agencies.items() if a.kind == ref]
        if named and not all(s.capabilities(n).judicial for n in named):
            yield (
                ("competences", HANDOVER_TYPE, i),
                (
                    f"'{ref}' has no judicial powers: only an agency with powers.judicial: true "
                    "can take an arrested person over"
                ),
            )
    arrests = any(t.arrest_prob > 0 for t in s.demand.types.values()) or (
        s.crime is not None and any(t.arrest_prob > 0 for t in s.crime.types.values())
    )
    judicial = [i for i in s.agencies if s.capabilities(i).judicial]
    if arrests and not judicial:
        yield (
            ("agencies",),
            (
                "some calls end in arrests but no agency has judicial powers to take the "
                "arrested person over (set powers.judicial: true on the State police)"
            ),
        )


def _listed_twice(names: Sequence[str], base: Path, why: str) -> Iterator[Finding]:
    """Each name of ``names`` written again after its first place."""
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            yield (*base, i), f"'{name}' is listed twice: {why}"
        seen.add(name)


def _check_ref(s: Scenario, incident_type: str, ref: str, at: Path) -> Iterator[Finding]:
    """An entry of a competence list (or rule): an agency or kind that may take the type."""
    kinds = sorted({a.kind for a in s.agencies.values()})
    agency_ids = list(s.agencies)
    if ref not in s.agencies and ref not in kinds:
        yield (
            at,
            f"unknown agency '{ref}'{did_you_mean_hint(ref, agency_ids + kinds)}; agencies are: "
            f"{', '.join(agency_ids)} (or a kind: {', '.join(kinds)})",
        )
    elif ref in s.agencies and _armed_only(s, incident_type) and not s.capabilities(ref).armed:
        yield (
            at,
            f"'{ref}' may not take '{incident_type}': only armed crews attend it "
            f"(crime.types.{incident_type}.armed_only) and '{ref}' is not armed (powers.armed)",
        )
    elif ref in s.agencies and not _enforces(s, ref, incident_type):
        yield (
            at,
            f"'{ref}' may not take '{incident_type}': its capability enforces "
            f"lists only {', '.join(s.capabilities(ref).enforces)}",
        )
    elif ref not in s.agencies:
        yield from _check_kind_ref(s, incident_type, at, ref)


def _check_competence_rules(s: Scenario) -> Iterator[Finding]:
    """Each rule names types of the scenario, its communes, and agencies that may take them."""
    types = s.incident_types()
    names = commune_names(s)
    from_files = s.territory.kind == "file"  # its communes are checked once its files are read
    for r, rule in enumerate(s.competence_rules):
        base: Path = ("competence_rules", r)
        for k, name in enumerate(rule.types):
            if name not in types:
                yield (
                    (*base, "types", k),
                    f"unknown incident type '{name}'{did_you_mean_hint(name, types)}; types are: "
                    f"{', '.join(types)}",
                )
        for k, ref in enumerate(rule.communes or []):
            if not from_files and ref not in names:
                yield (*base, "communes", k), _unknown_commune(ref, names)
        kinds = {a.kind for a in s.agencies.values()}
        yield from _listed_twice(rule.agencies, (*base, "agencies"), "name each agency once")
        for i, ref in enumerate(rule.agencies):
            if ref not in s.agencies and ref not in kinds:  # said once, not once a type
                yield from _check_ref(s, rule.types[0], ref, (*base, "agencies", i))
                continue
            for name in rule.types:
                if name in types:
                    yield from _check_ref(s, name, ref, (*base, "agencies", i))
        yield from _rule_out_of_reach(s, rule, base)
        yield from _rule_shadowed(s.competence_rules, r)


def _rule_hours(rule: CompetenceRule) -> set[int]:
    return {h for h in range(24) if rule.hours is None or in_hours(rule.hours, h)}


def _rule_shadowed(rules: Sequence[CompetenceRule], r: int) -> Iterator[Finding]:
    """Rule ``r`` when an earlier rule covers every incident it could match.

    The first rule that matches decides: a later one whose types, communes and
    hours all fall within an earlier one's would never apply.
    """
    rule = rules[r]
    for e, earlier in enumerate(rules[:r]):
        places = earlier.communes is None or (
            rule.communes is not None and set(rule.communes) <= set(earlier.communes)
        )
        if (
            places
            and set(rule.types) <= set(earlier.types)
            and _rule_hours(rule) <= _rule_hours(earlier)
        ):
            scope = [f"types {', '.join(earlier.types)}"]
            if earlier.communes:
                scope.append(f"communes {', '.join(earlier.communes)}")
            if earlier.hours:
                scope.append(f"hours {earlier.hours[0]}:00-{earlier.hours[1]}:00")
            yield (
                ("competence_rules", r),
                f"this rule never applies: competence_rules.{e} comes first and matches every "
                f"incident it would ({', '.join(scope)}); the first rule that matches decides: "
                f"put this one first, or narrow competence_rules.{e}",
            )
            return


def _rule_out_of_reach(s: Scenario, rule: CompetenceRule, base: Path) -> Iterator[Finding]:
    """A rule whose agencies may act nowhere or never where and when it applies.

    Its agencies may act in none of its communes, or are in service at none of its
    hours: its calls would find nobody, and wait until abandoned.
    """
    named = [n for ref in rule.agencies for n, a in s.agencies.items() if ref in (n, a.kind)]
    if not named:
        return  # unknown agencies: said above
    if rule.hours is not None:
        hours = [h for h in range(24) if in_hours(rule.hours, h)]
        if hours and not any(s.agencies[n].serves_hour(h) for n in named for h in hours):
            start, end = rule.hours
            yield (
                (*base, "hours"),
                f"none of {_listed(named)} is on duty from {start}:00 to {end}:00 (their "
                "service_hours): the rule's calls would wait for nobody; name an agency on "
                "duty then",
            )
    if rule.communes is None or s.territory.kind == "file":  # (codes or names: not compared)
        return
    reach = [s.agencies[n].communes for n in named]
    if any(c == "all" or set(c) & set(rule.communes) for c in reach):
        return
    yield (
        (*base, "agencies"),
        f"none of {_listed(named)} may act in {', '.join(rule.communes)} (their communes): "
        "the rule's calls would find no agency; name an agency of those communes",
    )


def _unknown_type(s: Scenario, name: str, types: list[str]) -> str:
    """Why a competence list's type is not a type of ``s``, and what to do.

    A close type that has no competence list of its own is the misspelt one more
    likely than the list's; a type of the defaults was left out by a collection
    written whole.
    """
    listing = f"types are: {', '.join([*types, HANDOVER_TYPE])}"
    near = did_you_mean(name, types)
    if near is not None and near not in s.competences:
        return (
            f"unknown incident type '{name}'; the type '{near}' has no competence list: "
            f"is one of the two misspelt? {listing}"
        )
    for (section, key), defaults in DEFAULT_ENTRIES.items():
        part = getattr(s, section)
        if part is not None and name in defaults() and name not in getattr(part, key):
            return (
                f"unknown incident type '{name}': {section}.{key}, written in the scenario, "
                f"replaces the default types ('{name}' among them): list every type to keep, "
                f"or change one with --set {section}.{key}.<type>.<setting>=... (the others "
                f"stay); {listing}"
            )
    return f"unknown incident type '{name}'{did_you_mean_hint(name, types)}; {listing}"


def _check_kind_ref(s: Scenario, incident_type: str, at: Path, kind: str) -> Iterator[Finding]:
    """A kind in a competence list names at least one agency of that kind that may take the type.

    Dispatch expands a kind to its agencies that may take the type (their ``enforces``;
    armed, for a type only armed crews attend): one that expands to none would leave
    the type without that help, silently.
    """
    of_kind = [n for n, a in s.agencies.items() if a.kind == kind]
    if incident_type == HANDOVER_TYPE or not of_kind or may_take(s, incident_type, of_kind):
        return
    armed_only = _armed_only(s, incident_type)
    unarmed = [n for n in of_kind if not s.capabilities(n).armed]
    if armed_only and unarmed:
        why = (
            f"only armed crews attend it (crime.types.{incident_type}.armed_only) and "
            f"{_listed(unarmed)} {'is' if len(unarmed) == 1 else 'are'} not armed (powers.armed)"
        )
        others = [n for n in of_kind if n not in unarmed]
        if others:
            why += f"; {_listed(others)} may not take it (capabilities.enforces)"
    else:
        why = f"{_listed(of_kind)} may not take it (capabilities.enforces)"
    yield (
        at,
        f"no agency of kind '{kind}' may take '{incident_type}': {why}; name an agency "
        "that may, or change its powers",
    )


def may_take(s: Scenario, incident_type: str, agencies: list[str]) -> list[str]:
    """Those of ``agencies`` that may take incidents of ``incident_type``, in order.

    As dispatch expands a kind (:func:`simulator.dispatch.dispatcher.competence_matrix`):
    the type is in the agency's ``enforces``, and the agency is armed if only armed
    crews attend the type.
    """
    armed_only = _armed_only(s, incident_type)
    return [
        n
        for n in agencies
        if _enforces(s, n, incident_type) and (s.capabilities(n).armed or not armed_only)
    ]


def _armed_only(s: Scenario, incident_type: str) -> bool:
    return (
        s.crime is not None
        and incident_type in s.crime.types
        and s.crime.types[incident_type].armed_only
    )


def _listed(names: list[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def _enforces(s: Scenario, agency: str, incident_type: str) -> bool:
    enforces = s.capabilities(agency).enforces
    return enforces == "all" or incident_type == HANDOVER_TYPE or incident_type in enforces


def _check_kinds(s: Scenario) -> Iterator[Finding]:
    kinds = known_kinds(s.kinds)
    modes = known_modes(s.modes)
    for agency_id, a in s.agencies.items():
        if a.mode not in modes:
            yield (
                ("agencies", agency_id, "mode"),
                (
                    f"unknown mode '{a.mode}'{did_you_mean_hint(a.mode, modes)}; modes are: "
                    f"{', '.join(modes)} (declare a new one under modes: with its speeds)"
                ),
            )
        if a.kind not in kinds:
            yield (
                ("agencies", agency_id, "kind"),
                (
                    f"unknown kind '{a.kind}'{did_you_mean_hint(a.kind, kinds)}; kinds are: "
                    f"{', '.join(kinds)} (declare a new one under kinds: with its capabilities)"
                ),
            )


def _modes_named(values: object, key: str = "") -> Iterator[str]:
    """The modes a timeline's ``set:`` gives agencies (values of keys that end in ``mode``)."""
    if isinstance(values, dict):
        for k, v in values.items():
            yield from _modes_named(v, str(k))
    elif key.split(".")[-1] == "mode" and isinstance(values, str):
        yield values


def _check_unused_modes(s: Scenario) -> Iterator[Finding]:
    """A new mode no agency takes, now or after a change of the timeline: a typo, most likely.

    A mode not built in takes a car's settings for what it does not write, so
    ``modes.bicyle.speed_kmh`` (misspelt) would make a car-like mode nobody uses and
    leave the bicycle as it was.
    """
    used = {a.mode for a in s.agencies.values()}
    for event in s.timeline:
        used.update(_modes_named(event.set or {}))
    for name in s.modes:
        if name not in BUILTIN_MODES and name not in used:
            hint = did_you_mean_hint(name, BUILTIN_MODES)
            yield (
                ("modes", name),
                f"mode '{name}' is new and no agency takes it{hint}"
                f"; to change a built-in mode write its name ({', '.join(BUILTIN_MODES)}), to "
                f"use a new one give it to an agency (mode: {name})",
            )


def _crewed(s: Scenario) -> dict[str, list[str]]:
    """The communes each agency with crews, not bound to its sites, may act in."""
    names = commune_names(s)
    out: dict[str, list[str]] = {}
    for agency_id, a in s.agencies.items():
        capabilities = s.capabilities(agency_id)
        if capabilities.jurisdiction == "sites":
            continue
        if resolve_staffing(a, capabilities.billing).vehicles > 0:
            out[agency_id] = names if a.communes == "all" else list(a.communes)
    return out


def _uncovered(
    s: Scenario,
    incident_type: str,
    refs: list[str],
    where: list[str],
    crewed: dict[str, list[str]],
) -> list[str]:
    """The communes of ``where`` in which no agency a list names may take the type.

    As dispatch reads the list: an agency by its identifier, or every agency of a kind
    that enforces the type (and is armed, for a type only armed crews attend); of
    those, the ones with crews (``crewed``, :func:`_crewed`). Communes no agency with
    crews serves are left out (advisory_findings notes those apart).
    """
    armed_only = _armed_only(s, incident_type)
    covered: set[str] = set()
    for ref in refs:
        found = (
            [ref]
            if ref in s.agencies
            else [
                n
                for n, a in s.agencies.items()
                if a.kind == ref
                and _enforces(s, n, incident_type)
                and (s.capabilities(n).armed or not armed_only)
            ]
        )
        for name in found:
            covered.update(crewed.get(name, ()))
    served = {c for communes in crewed.values() for c in communes}
    return [c for c in where if c not in covered and c in served]


def _coverage_notes(s: Scenario, crewed: dict[str, list[str]]) -> list[Finding]:
    """Incident types (and rules) whose agencies leave some communes with nobody to send.

    Their calls, and the offences there that need a unit, are closed as no_agency:
    a list of municipal police only, say, for a type that arises everywhere, or a
    type only armed crews attend with one armed agency. Read at the start and after
    each change of the timeline (a transfer that keeps no other agency). ``crewed``:
    :func:`_crewed` of ``s``.
    """
    if s.territory.kind == "file":  # (its communes are known once its files are read)
        return []
    names = commune_names(s)
    types = set(s.incident_types())
    notes: list[Finding] = []

    def lists(p: Scenario, crewed: dict[str, list[str]]) -> dict[str, tuple[str, ...]]:
        ruled = {t for rule in p.competence_rules for t in rule.types}
        return {
            t: tuple(_uncovered(p, t, refs, names, crewed))
            for t, refs in p.competences.items()
            if t in types and t not in ruled and _arises_everywhere(p, t)
        }

    def said(communes: tuple[str, ...]) -> str:
        return f"commune{'s' if len(communes) > 1 else ''} {', '.join(communes)}"

    start = lists(s, crewed)
    for t, communes in start.items():
        if communes:
            notes.append(
                (
                    ("competences", t),
                    f"no agency of its list may act in {said(communes)}: its calls and the "
                    "offences that need a unit there are closed as no_agency (add an agency "
                    "that acts there)",
                )
            )
    for r, rule in enumerate(s.competence_rules):
        where = names if rule.communes is None else [c for c in rule.communes if c in names]
        for t in rule.types:
            communes = tuple(_uncovered(s, t, rule.agencies, where, crewed)) if t in types else ()
            if communes:
                notes.append(
                    (
                        ("competence_rules", r),
                        f"no agency of the rule may take '{t}' in {said(communes)}: while "
                        "it is in force, those are closed as no_agency there",
                    )
                )
    seen = {t: set(c) for t, c in start.items()}
    for change in s.policy_changes or ():
        for t, communes in lists(change.scenario, _crewed(change.scenario)).items():
            new = tuple(c for c in communes if c not in seen.setdefault(t, set()))
            if new:
                seen[t].update(new)
                notes.append(
                    (
                        ("timeline",),
                        f"from day {change.hour / 24:g} ({change.label}), no agency of the "
                        f"list of '{t}' may act in {said(new)}: its calls and the offences "
                        "that need a unit there are closed as no_agency",
                    )
                )
    return notes


def _arises_everywhere(s: Scenario, incident_type: str) -> bool:
    """Whether a type's incidents may arise in any commune (not only at contracted sites)."""
    call = s.demand.types.get(incident_type)
    return call is None or "sites" not in LOCATIONS[call.location].layers


def _new_payer_notes(s: Scenario) -> list[Finding]:
    """A payer level a kind or an agency names that is close to a base one: a misspelling?

    A new level is allowed (an intercommunal body pays its police), and reported apart
    from the base ones: a misspelt ``comune`` would put the costs beside ``commune``.
    """
    given: list[tuple[Path, str]] = [
        (("kinds", name, "payer"), kind.payer) for name, kind in s.kinds.items()
    ]
    given += [
        (("agencies", name, "capabilities", "payer"), a.capabilities.payer)
        for name, a in s.agencies.items()
        if a.capabilities.payer is not None
    ]
    notes: list[Finding] = []
    for at, payer in given:
        # Closer than did_you_mean's: 'intercommunal' is a level of its own, not 'commune'.
        close = difflib.get_close_matches(payer.casefold(), BASE_PAYERS, n=1, cutoff=0.8)
        near = close[0] if close and payer not in BASE_PAYERS else None
        if near is not None:
            notes.append(
                (
                    at,
                    f"'{payer}' is a new payer level, whose costs are reported apart from "
                    f"'{near}' (did you mean '{near}'? the base levels are "
                    f"{', '.join(BASE_PAYERS)})",
                )
            )
    return notes


def advisory_findings(s: Scenario) -> list[Finding]:
    """What a scenario allows but its author likely did not mean: notes, not problems.

    Validate and run print them and go on: a staffing profile of 0 over the service
    hours (read as flat), an agency given resources that never puts a crew on duty, a
    commune no agency with crews may act in (its calls and offences that need a unit
    are closed as ``no_agency``), and hot spots ranked by an offence type of no
    opportunities, an agency with crews that no competence list or rule names (it
    only patrols), a station outside the agency's own communes. An agency declared
    with no resources (units, officers and budget 0, to bring in later by a timeline)
    is no mistake.
    """
    crewed = _crewed(s)  # the communes of each agency with crews (not bound to sites)
    notes: list[Finding] = [*_new_payer_notes(s), *_coverage_notes(s, crewed)]
    # Named in the competences in force at the start or after a change of the timeline
    # (compiled by the loader before the notes: a transfer may name it later).
    periods = [s, *(change.scenario for change in s.policy_changes or ())]
    named = {ref for p in periods for refs in p.competences.values() for ref in refs}
    named.update(ref for p in periods for rule in p.competence_rules for ref in rule.agencies)
    for agency_id, a in s.agencies.items():
        base: Path = ("agencies", agency_id)
        profile = a.staffing_profile
        if isinstance(profile, list) and not any(
            w > 0 for h, w in enumerate(profile) if a.serves_hour(h)
        ):
            notes.append(
                (
                    (*base, "staffing_profile"),
                    "0 at every hour of the agency's service_hours: its crews are spread "
                    "evenly over those hours instead (give weights above 0 where it serves)",
                )
            )
        capabilities = s.capabilities(agency_id)
        crews = resolve_staffing(a, capabilities.billing).vehicles
        if crews == 0 and (a.units or a.officers or a.budget_eur):
            why = (
                "field_share 0 puts none of its officers' hours in field crews"
                if a.field_share == 0 and a.units is None
                else "its budget or officers buy less than a crew-hour a day"
            )
            notes.append(
                (
                    base,
                    f"no crew of this agency is ever on duty ({why}): it answers no call and "
                    "patrols nowhere",
                )
            )
        if crews > 0 and not {agency_id, a.kind} & named and not a.direct_calls.per_1000_residents:
            notes.append(
                (
                    base,
                    "no competence list or rule names this agency or its kind "
                    f"('{a.kind}'), and it has no line of its own: it answers no call and "
                    "only patrols (name it in competences, e.g. noise: "
                    f"[{agency_id}, ...])",
                )
            )
        if (
            a.station is not None
            and isinstance(a.communes, list)
            and s.territory.kind != "file"  # (codes or names: compared once read)
            and a.station not in a.communes
        ):
            notes.append(
                (
                    (*base, "station"),
                    f"the station is in '{a.station}', outside the agency's communes "
                    f"({', '.join(a.communes)}): its crews start and end each shift there",
                )
            )
        if s.crime is not None and a.patrol.strategy == "hotspot":
            for i, name in enumerate(a.patrol.hotspot_offences):
                found = s.crime.types.get(name)
                if found is not None and found.rate_per_1000 == 0:
                    notes.append(
                        (
                            (*base, "patrol", "hotspot_offences", i),
                            f"'{name}' has no opportunities (rate_per_1000: 0) to rank cells "
                            "by: where no listed type has any, the patrol goes to random cells",
                        )
                    )
    covered = {c for communes in crewed.values() for c in communes}
    if crewed and s.territory.kind != "file":  # a file's communes are known once built
        for i, name in enumerate(commune_names(s)):
            if name not in covered:
                notes.append(
                    (
                        ("territory", "communes", i),
                        f"no agency with crews may act in commune '{name}': its calls and the "
                        "offences that need a unit there are closed as no_agency (give an "
                        "agency communes: all, or add it to one's communes)",
                    )
                )
    return notes


def semantic_findings(scenario: Scenario) -> list[Finding]:
    """Every cross-field problem of a scenario that passed the schema."""
    unknown = list(_check_kinds(scenario))
    if unknown:  # every other check reads the agencies' capabilities
        return unknown
    return [
        *_check_unused_modes(scenario),
        *_check_territory(scenario),
        *_check_demand(scenario),
        *_check_agencies(scenario),
        *_check_crime(scenario),
        *_check_competences(scenario),
        *_check_competence_rules(scenario),
    ]
