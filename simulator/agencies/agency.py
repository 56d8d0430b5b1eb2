"""Agencies as resolved for a territory: resources, cost, and where they act.

Staffing (budget to headcount to units on duty) is in
:mod:`simulator.scenario.staffing`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulator.resources import ResourceError, check_fits
from simulator.scenario.errors import did_you_mean_hint
from simulator.scenario.keys import Path
from simulator.scenario.kinds import Capabilities
from simulator.scenario.modes import ModeSpec
from simulator.scenario.schema import (
    AgencySpec,
    DistrictType,
    Scenario,
    StationKindSpec,
)
from simulator.scenario.staffing import Staffing, resolve_staffing
from simulator.world.territory import Territory, TerritoryError, shared_territory

IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class Agency:
    """An agency placed on a territory.

    Attributes:
        index: Position of the agency in the scenario (fixes tie-breaking order).
        name: Identifier from the scenario.
        spec: Its scenario block.
        capabilities: What it may do and who pays: its kind's, with its own overrides.
        mode: How its crews move (car, foot...) and the weight of their presence.
        staffing: Its resolved resources.
        jurisdiction: Boolean mask over communes where it may act.
        cells: Cells of its jurisdiction.
        station_cell: Its first station (where its units start, with one station).
        site_cells: Contracted sites (private security), else empty.
        site_mask: Boolean mask over cells of contracted sites, else None.
        station_cells: Every station of the agency; unit ``n`` (from 1) belongs to
            station ``(n - 1) % len(station_cells)``.
        station_names: The stations' identifiers (a commune name for a town-hall station).
    """

    index: int
    name: str
    spec: AgencySpec
    capabilities: Capabilities
    mode: ModeSpec
    staffing: Staffing
    jurisdiction: NDArray[np.bool_]
    cells: IntArray
    station_cell: int
    site_cells: IntArray
    site_mask: NDArray[np.bool_] | None
    station_cells: IntArray
    station_names: tuple[str, ...]

    @property
    def kind(self) -> str:
        """The agency's kind (a name: what it does is in :attr:`capabilities`)."""
        return self.spec.kind

    @property
    def payer(self) -> str:
        """Who pays: state, commune, private, or a level the scenario names."""
        return self.capabilities.payer

    def station_of(self, number: int) -> int:
        """The station cell of the agency's unit ``number`` (units take stations in turn)."""
        return int(self.station_cells[(number - 1) % self.station_cells.size])

    def may_act(self, cell: int, commune: int) -> bool:
        """Whether the agency may handle an incident in this cell."""
        if not self.jurisdiction[commune]:
            return False
        return self.site_mask is None or bool(self.site_mask[cell])


def contracted_sites(territory: Territory, jurisdiction: NDArray[np.bool_], n: int) -> IntArray:
    """The ``n`` cells with most shop and night-time visitors in the jurisdiction.

    Private security is hired where footfall and goods concentrate: malls, shops,
    transit and night venues. A cell holds one site; the checks refuse more sites
    than cells with such visitors (:func:`site_room`).
    """
    cells = territory.cells_in_communes(jurisdiction)
    footfall = territory.commercial[cells] + territory.night[cells]
    order = np.lexsort((cells, -footfall))  # most footfall first, ties by cell id
    return np.sort(cells[order[:n]])


def site_room(territory: Territory, jurisdiction: NDArray[np.bool_]) -> int:
    """How many sites the jurisdiction can hold: its cells with shop or night-time visitors."""
    cells = territory.cells_in_communes(jurisdiction)
    return int(np.count_nonzero(territory.commercial[cells] + territory.night[cells] > 0))


def place_agencies(scenario: Scenario, territory: Territory) -> list[Agency]:
    """Resolve each agency's capabilities, resources and where it acts on this territory."""
    placed: list[Agency] = []
    for index, (name, spec) in enumerate(scenario.agencies.items()):
        capabilities = scenario.capabilities(name)
        jurisdiction = _jurisdiction(spec, territory)
        cells = territory.cells_in_communes(jurisdiction)
        stations = _stations(spec, territory, jurisdiction)
        sites = np.empty(0, dtype=np.int64)
        site_mask = None
        if spec.sites > 0:
            sites = contracted_sites(territory, jurisdiction, spec.sites)
            site_mask = np.zeros(territory.n_cells, dtype=bool)
            site_mask[sites] = True
        placed.append(
            Agency(
                index=index,
                name=name,
                spec=spec,
                capabilities=capabilities,
                mode=scenario.mode_of(name),
                staffing=resolve_staffing(spec, capabilities.billing),
                jurisdiction=jurisdiction,
                cells=cells,
                station_cell=stations[0][1],
                site_cells=sites,
                site_mask=site_mask,
                station_cells=np.array([cell for _, cell in stations], dtype=np.int64),
                station_names=tuple(name for name, _ in stations),
            )
        )
    return placed


def _jurisdiction(spec: AgencySpec, territory: Territory) -> NDArray[np.bool_]:
    """Mask over communes where the agency may act."""
    if spec.communes == "all":
        return np.ones(len(territory.commune_names), dtype=bool)
    jurisdiction = np.zeros(len(territory.commune_names), dtype=bool)
    for commune in spec.communes:
        if territory.kind == "point":
            jurisdiction[:] = True
        else:
            jurisdiction[territory.commune_index(commune)] = True
    return jurisdiction


def _stations(
    spec: AgencySpec, territory: Territory, jurisdiction: NDArray[np.bool_]
) -> list[tuple[str, int]]:
    """(name, cell) of each station of an agency, in the scenario's order.

    Raises:
        ValueError: If a station or commune is unknown, or no station of a kind
            lies in the jurisdiction (the scenario checks report these first).
    """
    if territory.kind == "point":
        return [(territory.commune_names[0], 0)]
    halls = territory.town_hall_cell
    if isinstance(spec.stations, StationKindSpec):
        kind = spec.stations.kind
        chosen = [
            (territory.station_ids[i], int(territory.station_cells[i]))
            for i in range(len(territory.station_ids))
            if territory.station_kinds[i] == kind
            and jurisdiction[territory.commune[territory.station_cells[i]]]
        ]
        if not chosen:
            raise ValueError(f"no station of kind '{kind}' in the agency's communes")
        return chosen
    if spec.stations is not None:
        out: list[tuple[str, int]] = []
        for ref in spec.stations:
            if ref in territory.station_ids:
                out.append((ref, int(territory.station_cells[territory.station_ids.index(ref)])))
            else:
                out.append((ref, int(halls[territory.commune_index(ref)])))
        return out
    if spec.station is not None:
        k = territory.commune_index(spec.station)
    elif spec.communes == "all":
        k = _central_commune(territory)
    else:
        k = territory.commune_index(spec.communes[0])
    return [(territory.commune_names[k], int(halls[k]))]


def _central_commune(territory: Territory) -> int:
    """The commune whose town hall is nearest the middle of the territory.

    For a file territory, the middle is the main centre: the most populous commune.
    """
    if territory.kind == "file":
        totals = np.bincount(
            territory.commune[territory.land], weights=territory.residents[territory.land]
        )
        return int(np.argmax(totals))
    mid_x = territory.nx * territory.cell_m / 2.0
    mid_y = territory.ny * territory.cell_m / 2.0
    halls = territory.town_hall_cell
    d = np.hypot(territory.x_m[halls] - mid_x, territory.y_m[halls] - mid_y)
    return int(np.argmin(d))


def _market_findings(scenario: Scenario, territory: Territory) -> list[tuple[Path, str]]:
    """More drug markets than districts that may hold one (one a district, of the market types).

    Placed at the start in the most attractive cells of those districts (or of any
    district if none is of those types), at most one a district: the rest would be
    silently missing, while each market's opportunities are its share of the count.
    """
    crime = scenario.crime
    if crime is None or crime.drug_markets.count <= 0:
        return []
    kinds = crime.drug_markets.district_types
    districts = np.unique(territory.district[territory.market_cells(kinds)])
    room = int(districts.size)
    if crime.drug_markets.count <= room:
        return []
    typed = any(territory.district_types[d] in kinds for d in districts.tolist())
    types = ", ".join(sorted(k.value for k in kinds))
    where = f"districts of the market types ({types})" if typed else "districts"
    return [
        (
            ("crime", "drug_markets", "count"),
            f"{crime.drug_markets.count} markets asked, but this territory has {room} {where}, "
            f"and a district holds one market at most: give at most {room}",
        )
    ]


# Where cameras go: the districts named, the communes they are limited to (None: any),
# where the districts were written, and whose communes those are (for the messages).
CameraPlaces = list[tuple[list[str], list[str] | None, Path, str]]


def _camera_places(scenario: Scenario) -> CameraPlaces:
    """The CCTV zones, the contracts' cameras (in their commune) and the timeline's cctv."""
    places: CameraPlaces = [
        (zone.districts, zone.communes, ("cctv", "zones", z, "districts"), "the zone's communes")
        for z, zone in enumerate(scenario.cctv.zones)
    ]
    for e, event in enumerate(scenario.timeline):
        if event.contract is not None:
            con, at = event.contract, ("timeline", e, "contract", "cctv_districts")
            places.append((con.cctv_districts, [con.commune], at, "the contract's commune"))
        if event.cctv is not None:
            at = ("timeline", e, "cctv", "districts")
            places.append((event.cctv.districts, event.cctv.communes, at, "the communes given"))
    return places


def _cctv_type_findings(scenario: Scenario, territory: Territory) -> list[tuple[Path, str]]:
    """District types named for cameras that no district of the communes given has.

    A zone (or a timeline's ``cctv``) limited to communes, or a contract's cameras in its
    commune, by a district type: where none of the communes has a district of that type,
    the cameras would cover nothing, as a district of another commune would
    (:func:`simulator.scenario.checks.districts_outside`).
    """
    if territory.kind == "point":
        return []
    types = {t.value for t in DistrictType}
    known = {*territory.commune_names, *territory.commune_ids}
    findings: list[tuple[Path, str]] = []
    for refs, communes, at, _ in _camera_places(scenario):
        if communes is not None and not set(communes) <= known:
            continue  # an unknown commune: said where communes are checked
        wanted = None if communes is None else {territory.commune_index(c) for c in communes}
        there = {
            territory.district_types[d].value
            for d in range(territory.n_districts)
            if wanted is None or int(territory.district_commune[d]) in wanted
        }
        for i, ref in enumerate(refs):
            if ref in types and ref not in there:
                where = "the territory" if communes is None else ", ".join(communes)
                findings.append(
                    (
                        (*at, i),
                        f"no district of type '{ref}' in {where}: its cameras would cover "
                        f"nothing (the district types there: {', '.join(sorted(there)) or 'none'})",
                    )
                )
    return findings


def _site_findings(scenario: Scenario, territory: Territory) -> list[tuple[Path, str]]:
    """More contracted sites than an agency's communes have cells with visitors to guard.

    The sites are the busiest cells (:func:`contracted_sites`), one a cell: more would
    be silently fewer, and calls at sites, and their guards, spread over empty ones.
    Checked for the agency's own ``sites`` and after each timeline's
    ``private_contract`` (in the order they take effect).
    """
    if territory.kind == "point":
        return []  # one place: sites are not laid out
    findings: list[tuple[Path, str]] = []
    sites = {name: spec.sites for name, spec in scenario.agencies.items()}
    asks: list[tuple[str, int, Path]] = [
        (name, n, ("agencies", name, "sites")) for name, n in sites.items() if n > 0
    ]
    events = sorted(enumerate(scenario.timeline), key=lambda pair: pair[1].effective_day)
    for e, event in events:
        pc = event.private_contract
        if pc is not None and pc.agency in sites and pc.sites > 0:
            sites[pc.agency] += pc.sites
            asks.append((pc.agency, sites[pc.agency], ("timeline", e, "private_contract", "sites")))
    refused: set[str] = set()
    for name, n, at in asks:
        if name in refused:
            continue
        spec = scenario.agencies[name]
        room = site_room(territory, _jurisdiction(spec, territory))
        if n > room:
            refused.add(name)
            whose = "its communes have" if spec.communes != "all" else "the territory has"
            findings.append(
                (
                    at,
                    f"{n:,} contracted sites for '{name}', but {whose} {room:,} cells with "
                    f"shops or night venues, and a cell is one site: give at most {room:,}",
                )
            )
    return findings


def territory_findings(scenario: Scenario) -> list[tuple[Path, str]]:
    """Problems of a scenario that show only once its territory is built.

    A file territory's communes, districts and stations come from its files: the
    agencies, CCTV zones and contracts naming them are checked here, and so are
    the files themselves. Pass this to :func:`simulator.scenario.load_scenario`
    as a check to get each problem located in the scenario file.
    """
    try:  # a territory that cannot fit is refused before it is laid out
        check_fits(scenario)
    except ResourceError as exc:  # its cells' size is what to change first
        return [(("territory", "cell_m"), str(exc))]
    try:
        territory = shared_territory(scenario.territory)
    except TerritoryError as exc:
        return list(exc.findings)
    findings: list[tuple[Path, str]] = _market_findings(scenario, territory)
    if territory.kind != "file":
        return (
            findings
            + _site_findings(scenario, territory)
            + _cctv_type_findings(scenario, territory)
        )
    communes = [*territory.commune_ids, *territory.commune_names]
    listing = ", ".join(
        f"{c} ({n})" for c, n in zip(territory.commune_ids, territory.commune_names, strict=True)
    )

    def commune_ref(ref: str, path: Path) -> None:
        if ref not in communes:
            hint = did_you_mean_hint(ref, communes)
            findings.append((path, f"unknown commune '{ref}'{hint}; communes are: {listing}"))
        elif ref not in territory.commune_ids and territory.commune_names.count(ref) > 1:
            pairs = zip(territory.commune_ids, territory.commune_names, strict=True)
            codes = [c for c, n in pairs if n == ref]
            findings.append(
                (path, f"two communes are named '{ref}': use a code ({', '.join(codes)})")
            )

    districts = {*territory.district_ids, *territory.district_names}
    types = {t.value for t in DistrictType}

    def district_refs(refs: list[str], path: Path) -> None:
        for i, ref in enumerate(refs):
            if ref not in districts and ref not in types:
                hint = did_you_mean_hint(ref, [*districts, *types])
                findings.append(
                    (
                        (*path, i),
                        f"'{ref}' is neither a district type nor a district code or name of "
                        f"the territory{hint}",
                    )
                )

    def districts_within(refs: list[str], allowed: list[str], path: Path, whose: str) -> None:
        """A district named (not a type) outside the communes ``allowed`` gets no camera."""
        if not all(c in communes for c in allowed):
            return  # an unknown commune: said by commune_ref
        wanted = {territory.commune_index(c) for c in allowed}
        for i, ref in enumerate(refs):
            cells = territory.cells_of_districts([ref]) if ref not in types else None
            if cells is None or not cells.size:
                continue
            found = {int(c) for c in territory.commune[cells]}
            if not found & wanted:
                names = ", ".join(sorted(territory.commune_names[c] for c in found))
                given = ", ".join(territory.commune_names[c] for c in sorted(wanted))
                findings.append(
                    (
                        (*path, i),
                        f"district '{ref}' is in {names}, not in {whose} ({given}): its "
                        "cameras would cover nothing",
                    )
                )

    for r, rule in enumerate(scenario.competence_rules):
        for k, ref in enumerate(rule.communes or []):
            commune_ref(ref, ("competence_rules", r, "communes", k))
    for name, spec in scenario.agencies.items():
        base: Path = ("agencies", name)
        if spec.communes != "all":
            for i, ref in enumerate(spec.communes):
                commune_ref(ref, (*base, "communes", i))
        if spec.station is not None:
            commune_ref(spec.station, (*base, "station"))
        if isinstance(spec.stations, list):
            for i, ref in enumerate(spec.stations):
                if ref in communes and ref not in territory.station_ids:
                    commune_ref(ref, (*base, "stations", i))  # a name two communes share
                elif ref not in territory.station_ids:
                    hint = did_you_mean_hint(ref, [*territory.station_ids, *communes])
                    findings.append(
                        (
                            (*base, "stations", i),
                            f"'{ref}' is neither a station of the stations layer nor a "
                            f"commune{hint}",
                        )
                    )
        elif isinstance(spec.stations, StationKindSpec) and not findings:
            jurisdiction = _jurisdiction(spec, territory)
            kind = spec.stations.kind
            if not any(
                k == kind and jurisdiction[territory.commune[c]]
                for k, c in zip(territory.station_kinds, territory.station_cells, strict=True)
            ):
                kinds = ", ".join(sorted(set(territory.station_kinds)))
                findings.append(
                    (
                        (*base, "stations", "kind"),
                        f"no station of kind '{kind}' in the agency's communes; the stations "
                        f"layer has kinds: {kinds}",
                    )
                )
        district_refs(spec.patrol.districts, (*base, "patrol", "districts"))
    for z, zone in enumerate(scenario.cctv.zones):
        for i, ref in enumerate(zone.communes or []):
            commune_ref(ref, ("cctv", "zones", z, "communes", i))
    for e, event in enumerate(scenario.timeline):
        if event.contract is not None:
            commune_ref(event.contract.commune, ("timeline", e, "contract", "commune"))
        if event.cctv is not None:
            for i, ref in enumerate(event.cctv.communes or []):
                commune_ref(ref, ("timeline", e, "cctv", "communes", i))
    for refs, limited_to, at, whose in _camera_places(scenario):
        district_refs(refs, at)
        if limited_to:
            districts_within(refs, limited_to, at, whose)
    if not findings:  # the communes the sites and cameras lie in are known
        findings += _site_findings(scenario, territory) + _cctv_type_findings(scenario, territory)
    return findings
