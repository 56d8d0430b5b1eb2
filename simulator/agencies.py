"""Agencies as resolved for a territory: resources, cost, and where they act.

Staffing (budget to headcount to units on duty) is in
:mod:`simulator.scenario.staffing`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulator.scenario.schema import AgencyKind, AgencySpec
from simulator.scenario.staffing import Staffing, resolve_staffing
from simulator.territory import Territory

IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class Agency:
    """An agency placed on a territory.

    Attributes:
        index: Position of the agency in the scenario (fixes tie-breaking order).
        name: Identifier from the scenario.
        spec: Its scenario block.
        staffing: Its resolved resources.
        jurisdiction: Boolean mask over communes where it may act.
        cells: Cells of its jurisdiction.
        station_cell: Where its units start and take arrested persons.
        site_cells: Contracted sites (private security), else empty.
        site_mask: Boolean mask over cells of contracted sites, else None.
    """

    index: int
    name: str
    spec: AgencySpec
    staffing: Staffing
    jurisdiction: NDArray[np.bool_]
    cells: IntArray
    station_cell: int
    site_cells: IntArray
    site_mask: NDArray[np.bool_] | None

    @property
    def kind(self) -> AgencyKind:
        """The agency's kind."""
        return self.spec.kind

    @property
    def level(self) -> str:
        """Who pays: state, commune or private."""
        return self.spec.level

    def may_act(self, cell: int, commune: int) -> bool:
        """Whether the agency may handle an incident in this cell."""
        if not self.jurisdiction[commune]:
            return False
        return self.site_mask is None or bool(self.site_mask[cell])


def contracted_sites(territory: Territory, jurisdiction: NDArray[np.bool_], n: int) -> IntArray:
    """The ``n`` cells with most shop and night-time visitors in the jurisdiction.

    Private security is hired where footfall and goods concentrate: malls, shops,
    transit and night venues.
    """
    cells = np.flatnonzero(jurisdiction[territory.commune])
    footfall = territory.commercial[cells] + territory.night[cells]
    order = np.lexsort((cells, -footfall))  # most footfall first, ties by cell id
    return np.sort(cells[order[:n]])


def place_agencies(agencies: dict[str, AgencySpec], territory: Territory) -> list[Agency]:
    """Resolve each agency's resources and where it acts on this territory."""
    placed: list[Agency] = []
    for index, (name, spec) in enumerate(agencies.items()):
        if spec.communes == "all":
            jurisdiction = np.ones(len(territory.commune_names), dtype=bool)
        else:
            jurisdiction = np.zeros(len(territory.commune_names), dtype=bool)
            for commune in spec.communes:
                if territory.kind == "point":
                    jurisdiction[:] = True
                else:
                    jurisdiction[territory.commune_index(commune)] = True
        cells = np.flatnonzero(jurisdiction[territory.commune]).astype(np.int64)
        if territory.kind == "point":
            station_commune = 0
        elif spec.station is not None:
            station_commune = territory.commune_index(spec.station)
        elif spec.communes == "all":
            station_commune = _central_commune(territory)
        else:
            station_commune = territory.commune_index(spec.communes[0])
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
                staffing=resolve_staffing(spec),
                jurisdiction=jurisdiction,
                cells=cells,
                station_cell=int(territory.town_hall_cell[station_commune]),
                site_cells=sites,
                site_mask=site_mask,
            )
        )
    return placed


def _central_commune(territory: Territory) -> int:
    """The commune whose town hall is nearest the middle of the territory."""
    mid_x = territory.nx * territory.cell_m / 2.0
    mid_y = territory.ny * territory.cell_m / 2.0
    halls = territory.town_hall_cell
    d = np.hypot(territory.x_m[halls] - mid_x, territory.y_m[halls] - mid_y)
    return int(np.argmin(d))
