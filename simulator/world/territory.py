"""The territory: a synthetic city of cells, districts and communes, made from a seed.

The generator follows the stylised geography of a French urban area: a central
commune in the middle and suburbs sharing the ring around it; residential
density falls with distance from the centre (Clark 1951, negative exponential);
each commune is cut into districts (quartiers) whose types follow where they
sit: the core gets the city centre, the station, the nightlife and the shops;
the outer edge gets the industrial and peri-urban districts; priority
neighbourhoods (QPV) sit in the central city's outskirts and in some suburbs,
with high-density housing estates. Every cell carries residents, jobs,
commercial and night-time activity.

The ``file`` territory is a real one: communes, districts, priority
neighbourhoods and stations read from geographic files
(:mod:`simulator.world.territory_file` labels the cells); residents, jobs and
activity are then drawn on it as on the synthetic city. Its grid covers the
communes' bounding box: cells outside every commune are not land (``land``
false, commune and district -1) and hold no residents, jobs or activity.

The ``point`` territory is the degenerate case: one cell, one district, one
commune, zero distances (for validation against queueing theory).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from simulator.scenario.schema import CommuneSpec, DistrictType, TerritorySpec
from simulator.world.territory_file import LabelledGrid, TerritoryError, data_files, label_grid

__all__ = ["Territory", "TerritoryError", "build_territory"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

# Relative density of residents, jobs, commercial and night-time activity by
# district type. Assumed orders of magnitude, documented in docs/ODD.md
# (section "Initialisation"); the housing-estate density of QPV is the reason
# for their high resident factor.
_RESIDENT_FACTOR = {
    DistrictType.CITY_CENTRE: 1.0,
    DistrictType.RESIDENTIAL: 1.0,
    DistrictType.QPV: 2.2,
    DistrictType.COMMERCIAL: 0.15,
    DistrictType.NIGHTLIFE: 0.8,
    DistrictType.TRANSIT_HUB: 0.3,
    DistrictType.INDUSTRIAL: 0.03,
    DistrictType.PERI_URBAN: 0.25,
}
_JOB_FACTOR = {
    DistrictType.CITY_CENTRE: 4.0,
    DistrictType.RESIDENTIAL: 0.3,
    DistrictType.QPV: 0.25,
    DistrictType.COMMERCIAL: 3.0,
    DistrictType.NIGHTLIFE: 1.5,
    DistrictType.TRANSIT_HUB: 2.5,
    DistrictType.INDUSTRIAL: 3.0,
    DistrictType.PERI_URBAN: 0.1,
}
_COMMERCIAL_FACTOR = {
    DistrictType.CITY_CENTRE: 3.0,
    DistrictType.RESIDENTIAL: 0.15,
    DistrictType.QPV: 0.2,
    DistrictType.COMMERCIAL: 5.0,
    DistrictType.NIGHTLIFE: 2.0,
    DistrictType.TRANSIT_HUB: 3.0,
    DistrictType.INDUSTRIAL: 0.2,
    DistrictType.PERI_URBAN: 0.05,
}
_NIGHT_FACTOR = {
    DistrictType.CITY_CENTRE: 2.0,
    DistrictType.RESIDENTIAL: 0.1,
    DistrictType.QPV: 0.3,
    DistrictType.COMMERCIAL: 0.3,
    DistrictType.NIGHTLIFE: 8.0,
    DistrictType.TRANSIT_HUB: 1.5,
    DistrictType.INDUSTRIAL: 0.05,
    DistrictType.PERI_URBAN: 0.02,
}
# Visitor capacity of shops and of the night-time economy, per resident of the area.
_COMMERCIAL_PER_RESIDENT = 0.15
_NIGHT_PER_RESIDENT = 0.05
# Spread of local variation around the smooth density (lognormal sigma).
_NOISE_SIGMA = 0.5
_LLOYD_ITERATIONS = 4


@dataclass(frozen=True, eq=False)
class Territory:
    """Cells with their attributes, grouped into districts and communes.

    Arrays are indexed by cell id (row-major over the grid). Treat them as
    read-only: the territory is shared by every sub-model of a run.

    Attributes:
        kind: ``synthetic``, ``file`` or ``point``.
        seed: The generator's seed (also the seed of per-cell properties drawn later).
        cell_m: Side of a cell, metres (0 for the point territory).
        nx: Number of cells along x.
        ny: Number of cells along y.
        x_m: Cell centre, metres from the south-west corner.
        y_m: Cell centre, metres.
        commune: Commune index of each cell (-1 off land).
        district: District index of each cell (-1 off land).
        residents: Residents living in each cell.
        jobs: Jobs located in each cell.
        commercial: Visitor capacity of shops and services (persons).
        night: Visitor capacity of the night-time economy (persons).
        commune_names: Commune identifiers, by index.
        district_names: District identifiers, by index.
        district_types: District types, by index.
        district_commune: Commune index of each district.
        town_hall_cell: The central cell of each commune (where stations sit).
        land: Whether each cell is in a commune (all cells but those off a file
            territory's communes).
        commune_ids: Commune codes (file territories; else the names).
        district_ids: District codes (file territories; else the names).
        district_type_rules: Why each district has its type (file territories).
        crs: CRS of the cells' coordinates (file territories).
        origin_m: Coordinates in ``crs`` of the grid's south-west corner.
        station_ids: Stations of the territory's stations layer.
        station_names: Their names.
        station_kinds: Their kinds.
        station_cells: Their cells.
    """

    kind: str
    seed: int
    cell_m: float
    nx: int
    ny: int
    x_m: FloatArray
    y_m: FloatArray
    commune: IntArray
    district: IntArray
    residents: IntArray
    jobs: IntArray
    commercial: FloatArray
    night: FloatArray
    commune_names: tuple[str, ...]
    district_names: tuple[str, ...]
    district_types: tuple[DistrictType, ...]
    district_commune: IntArray
    town_hall_cell: IntArray
    land: NDArray[np.bool_]
    commune_ids: tuple[str, ...] = ()
    district_ids: tuple[str, ...] = ()
    district_type_rules: tuple[str, ...] = ()
    crs: str = ""
    origin_m: tuple[float, float] = (0.0, 0.0)
    station_ids: tuple[str, ...] = ()
    station_names: tuple[str, ...] = ()
    station_kinds: tuple[str, ...] = ()
    station_cells: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    @property
    def n_cells(self) -> int:
        """Number of cells."""
        return int(self.x_m.size)

    @property
    def n_districts(self) -> int:
        """Number of districts."""
        return len(self.district_names)

    def commune_index(self, name: str) -> int:
        """Index of a commune from its name or code.

        Raises:
            ValueError: If no commune has this name or code.
        """
        if name in self.commune_ids:
            return self.commune_ids.index(name)
        return self.commune_names.index(name)

    def land_cells(self) -> IntArray:
        """The cells that belong to a commune."""
        return np.flatnonzero(self.land).astype(np.int64)

    def market_cells(self, kinds: Collection[DistrictType]) -> IntArray:
        """The cells where a drug market may sit, ascending.

        Those of the districts of ``kinds``, or every land cell if no district is of
        those types (a district holds one market at most:
        :func:`simulator.crime.engine.initial_market_cells`).
        """
        kinds = set(kinds)
        eligible = np.flatnonzero(
            [d >= 0 and self.district_types[d] in kinds for d in self.district]
        )
        return eligible if eligible.size else self.land_cells()

    def cells_in_communes(self, communes: NDArray[np.bool_]) -> IntArray:
        """The land cells of the communes marked in a mask over communes."""
        return np.flatnonzero(self.land & communes[self.commune]).astype(np.int64)

    def cell_district_type(self) -> list[DistrictType | None]:
        """District type of each cell (``None`` off land)."""
        return [self.district_types[d] if d >= 0 else None for d in self.district]

    def cells_of_districts(self, refs: list[str]) -> IntArray | None:
        """Cells of the districts named by type, identifier or code; ``None``: no restriction."""
        if not refs:
            return None
        chosen = [
            d
            for d in range(self.n_districts)
            if self.district_names[d] in refs
            or self.district_types[d].value in refs
            or (self.district_ids and self.district_ids[d] in refs)
        ]
        return np.flatnonzero(np.isin(self.district, chosen)).astype(np.int64)

    def cell_at(self, x: float, y: float) -> int:
        """Cell containing the point (x, y), clipped to the territory."""
        if self.kind == "point":
            return 0
        i = min(max(int(x // self.cell_m), 0), self.nx - 1)
        j = min(max(int(y // self.cell_m), 0), self.ny - 1)
        return j * self.nx + i


def build_territory(spec: TerritorySpec) -> Territory:
    """Build the territory a scenario describes (deterministic in ``spec.seed``)."""
    if spec.kind == "point":
        return _point_territory(spec)
    if spec.kind == "file":
        return _file_territory(spec)
    return _synthetic_territory(spec)


def _point_territory(spec: TerritorySpec) -> Territory:
    name = spec.communes[0].name
    zero = np.zeros(1)
    izero = np.zeros(1, dtype=np.int64)
    residents = sum(c.residents for c in spec.communes)
    return Territory(
        kind="point",
        seed=spec.seed,
        cell_m=0.0,
        nx=1,
        ny=1,
        x_m=zero.copy(),
        y_m=zero.copy(),
        commune=izero.copy(),
        district=izero.copy(),
        residents=np.array([residents], dtype=np.int64),
        jobs=np.array([round(residents * spec.jobs_per_resident)], dtype=np.int64),
        commercial=np.array([residents * _COMMERCIAL_PER_RESIDENT]),
        night=np.array([residents * _NIGHT_PER_RESIDENT]),
        commune_names=(name,),
        district_names=(f"{name}-1",),
        district_types=(DistrictType.RESIDENTIAL,),
        district_commune=izero.copy(),
        town_hall_cell=izero.copy(),
        land=np.ones(1, dtype=bool),
    )


def _synthetic_territory(spec: TerritorySpec) -> Territory:
    rng = np.random.default_rng(np.random.SeedSequence(spec.seed))
    n = max(4, round(spec.extent_km * 1000.0 / spec.cell_m))
    coords = (np.arange(n) + 0.5) * spec.cell_m
    x, y = np.meshgrid(coords, coords)  # row-major: cell id = j * n + i
    x_m, y_m = x.ravel(), y.ravel()
    centre = n * spec.cell_m / 2.0
    dx, dy = x_m - centre, y_m - centre
    r = np.hypot(dx, dy)

    communes = list(spec.communes)
    commune = _partition_communes(communes, dx, dy, r, spec, rng)
    district, district_commune, district_names = _partition_districts(
        communes, commune, x_m, y_m, rng
    )
    types = _assign_district_types(communes, district, district_commune, r)
    cell_type = [types[d] for d in district]

    def factor(table: dict[DistrictType, float]) -> FloatArray:
        return np.array([table[t] for t in cell_type])

    def noise() -> FloatArray:
        draws: FloatArray = rng.lognormal(0.0, _NOISE_SIGMA, size=r.size)
        return draws

    gradient_m = spec.density_gradient_km * 1000.0
    density = np.exp(-r / gradient_m) * factor(_RESIDENT_FACTOR) * noise()
    residents = np.zeros(r.size, dtype=np.int64)
    for k, c in enumerate(communes):
        mask = commune == k
        weights = density[mask] / density[mask].sum()
        residents[mask] = rng.multinomial(c.residents, weights)
    total = int(residents.sum())

    job_weight = np.exp(-r / (1.5 * gradient_m)) * factor(_JOB_FACTOR) * noise()
    jobs = rng.multinomial(round(total * spec.jobs_per_resident), job_weight / job_weight.sum())
    shop_weight = np.exp(-r / gradient_m) * factor(_COMMERCIAL_FACTOR) * noise()
    night_weight = np.exp(-r / gradient_m) * factor(_NIGHT_FACTOR) * noise()
    commercial = total * _COMMERCIAL_PER_RESIDENT * shop_weight / shop_weight.sum()
    night = total * _NIGHT_PER_RESIDENT * night_weight / night_weight.sum()

    town_halls = np.array(
        [_central_cell(commune == k, x_m, y_m, residents + jobs) for k in range(len(communes))],
        dtype=np.int64,
    )
    return Territory(
        kind="synthetic",
        seed=spec.seed,
        cell_m=spec.cell_m,
        nx=n,
        ny=n,
        x_m=x_m,
        y_m=y_m,
        commune=commune,
        district=district,
        residents=residents.astype(np.int64),
        jobs=np.asarray(jobs, dtype=np.int64),
        commercial=commercial,
        night=night,
        commune_names=tuple(c.name for c in communes),
        district_names=tuple(district_names),
        district_types=tuple(types),
        district_commune=district_commune,
        town_hall_cell=town_halls,
        land=np.ones(n * n, dtype=bool),
    )


def _partition_communes(
    communes: list[CommuneSpec],
    dx: FloatArray,
    dy: FloatArray,
    r: FloatArray,
    spec: TerritorySpec,
    rng: np.random.Generator,
) -> IntArray:
    """The central commune is a disc; suburbs split the ring in angular sectors.

    A suburb's sector is proportional to its residents, so that densities stay
    comparable between suburbs.
    """
    central = next(k for k, c in enumerate(communes) if c.role == "central")
    suburbs = [k for k, c in enumerate(communes) if c.role == "suburb"]
    commune = np.full(r.size, central, dtype=np.int64)
    radius = spec.central_radius_share * spec.extent_km * 1000.0
    outside = r > radius
    if suburbs and outside.any():
        # Sectors follow residents, but every suburb gets a share of the ring (5 % of
        # the suburbs' residents at least), so none is left without land.
        floor = 0.05 * max(1, sum(communes[k].residents for k in suburbs))
        weights = np.array([max(communes[k].residents, floor) for k in suburbs], dtype=float)
        bounds = np.cumsum(weights / weights.sum()) * 2 * np.pi
        offset = rng.uniform(0.0, 2 * np.pi)
        angle = np.mod(np.arctan2(dy, dx) - offset, 2 * np.pi)
        sector = np.minimum(np.searchsorted(bounds, angle, side="right"), len(suburbs) - 1)
        commune[outside] = np.asarray(suburbs, dtype=np.int64)[sector[outside]]
    return commune


def _partition_districts(
    communes: list[CommuneSpec],
    commune: IntArray,
    x_m: FloatArray,
    y_m: FloatArray,
    rng: np.random.Generator,
) -> tuple[IntArray, IntArray, list[str]]:
    """Cut each commune into compact districts (a few Lloyd iterations of k-means)."""
    district = np.zeros(commune.size, dtype=np.int64)
    district_commune: list[int] = []
    names: list[str] = []
    for k, c in enumerate(communes):
        cells = np.flatnonzero(commune == k)
        if cells.size == 0:
            raise TerritoryError(
                f"commune '{c.name}' got no cells: enlarge territory.extent_km, lower "
                "territory.cell_m, or use fewer communes"
            )
        n_d = min(c.districts, cells.size)
        pts = np.column_stack([x_m[cells], y_m[cells]])
        centres = pts[rng.choice(cells.size, size=n_d, replace=False)]
        for _ in range(_LLOYD_ITERATIONS):
            label = _nearest(pts, centres)
            for d in range(n_d):
                members = pts[label == d]
                if members.size:
                    centres[d] = members.mean(axis=0)
        label = _nearest(pts, centres)
        # Renumber so that empty clusters disappear and ids stay contiguous.
        used = np.unique(label)
        remap = np.full(n_d, -1, dtype=np.int64)
        remap[used] = np.arange(used.size) + len(names)
        district[cells] = remap[label]
        for i in range(used.size):
            names.append(f"{c.name}-{i + 1}")
            district_commune.append(k)
    return district, np.array(district_commune, dtype=np.int64), names


def _nearest(pts: FloatArray, centres: FloatArray) -> IntArray:
    d2 = ((pts[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    return np.asarray(d2.argmin(axis=1), dtype=np.int64)


def _assign_district_types(
    communes: list[CommuneSpec], district: IntArray, district_commune: IntArray, r: FloatArray
) -> list[DistrictType]:
    """Give each district a type from where it sits (see the module docstring)."""
    n_districts = district_commune.size
    mean_r = np.array([r[district == d].mean() for d in range(n_districts)])
    types = [DistrictType.RESIDENTIAL] * n_districts
    suburb_rank = 0
    for k, c in enumerate(communes):
        ids = [int(d) for d in np.flatnonzero(district_commune == k)]
        by_distance = sorted(ids, key=lambda d: (mean_r[d], d))
        if c.role == "central":
            inner = [
                DistrictType.CITY_CENTRE,
                DistrictType.TRANSIT_HUB,
                DistrictType.NIGHTLIFE,
                DistrictType.COMMERCIAL,
            ]
            for d, t in zip(by_distance, inner, strict=False):
                types[d] = t
            if len(by_distance) > len(inner) + 1:
                types[by_distance[-1]] = DistrictType.QPV
        else:
            outer = by_distance[::-1]
            plan = [DistrictType.PERI_URBAN, DistrictType.INDUSTRIAL]
            # Every other suburb has a priority neighbourhood next to the city.
            inner_plan = [DistrictType.QPV] if suburb_rank % 2 == 0 else []
            if len(ids) >= 5:
                inner_plan.append(DistrictType.COMMERCIAL)
            for d, t in zip(outer, plan[: max(0, len(ids) - 1)], strict=False):
                types[d] = t
            free = [d for d in by_distance if types[d] is DistrictType.RESIDENTIAL]
            for d, t in zip(free, inner_plan[: max(0, len(free) - 1)], strict=False):
                types[d] = t
            suburb_rank += 1
    return types


def _central_cell(
    mask: NDArray[np.bool_], x_m: FloatArray, y_m: FloatArray, weight: NDArray[np.int64]
) -> int:
    """The cell of a commune nearest to its activity-weighted centroid."""
    cells = np.flatnonzero(mask)
    w = weight[cells].astype(float) + 1e-9
    cx = float(np.average(x_m[cells], weights=w))
    cy = float(np.average(y_m[cells], weights=w))
    return int(cells[np.argmin(np.hypot(x_m[cells] - cx, y_m[cells] - cy))])


def _file_territory(spec: TerritorySpec) -> Territory:
    """A real territory: cells labelled from files, residents drawn as in the synthetic city.

    Residents: each commune's population exactly, shared among its districts by
    their (rescaled) figures, and within a district by the resident factor of
    its type times a lognormal noise. Jobs, shops and night-time activity follow
    the synthetic city's rules commune by commune: each commune has them for its
    own residents (jobs: its figure when the communes layer gives one), placed by
    district type and distance from the commune's residential centre.
    """
    grid: LabelledGrid = label_grid(spec)
    rng = np.random.default_rng(np.random.SeedSequence(spec.seed))
    n = grid.nx * grid.ny
    coords_x = (np.arange(grid.nx) + 0.5) * spec.cell_m
    coords_y = (np.arange(grid.ny) + 0.5) * spec.cell_m
    x, y = np.meshgrid(coords_x, coords_y)
    x_m, y_m = x.ravel(), y.ravel()
    land = grid.commune >= 0
    types = grid.district_types

    def factor(table: dict[DistrictType, float]) -> FloatArray:
        values = np.array([table[t] for t in types])
        return np.where(land, values[np.maximum(grid.district, 0)], 0.0)

    def noise() -> FloatArray:
        draws: FloatArray = rng.lognormal(0.0, _NOISE_SIGMA, size=n)
        return draws

    weight = factor(_RESIDENT_FACTOR) * noise() + land * 1e-12
    residents = np.zeros(n, dtype=np.int64)
    for k, total in enumerate(grid.commune_population):
        cells = np.flatnonzero(grid.commune == k)
        district = grid.district[cells]
        in_district = np.bincount(district, weights=weight[cells], minlength=len(types))
        p = grid.district_population[district] * weight[cells] / in_district[district]
        residents[cells] = rng.multinomial(int(total), p / p.sum())
    # A real urban area is polycentric: each commune gets jobs, shops and night-time
    # activity for its own residents (or its own jobs figure), placed by district
    # type and by distance from its own residential centre.
    n_communes = len(grid.commune_names)
    on = np.flatnonzero(land)
    k_of = grid.commune[on]
    w_res = residents[on] + 1e-9
    weight_sum = np.bincount(k_of, weights=w_res, minlength=n_communes)
    cx = np.bincount(k_of, weights=x_m[on] * w_res, minlength=n_communes) / weight_sum
    cy = np.bincount(k_of, weights=y_m[on] * w_res, minlength=n_communes) / weight_sum
    r_own = np.zeros(n)
    r_own[on] = np.hypot(x_m[on] - cx[k_of], y_m[on] - cy[k_of])
    gradient_m = spec.density_gradient_km * 1000.0
    job_weight = np.exp(-r_own / (1.5 * gradient_m)) * factor(_JOB_FACTOR) * noise()
    job_weight += land * 1e-12  # a commune of industrial wasteland still gets its jobs
    shop_weight = np.exp(-r_own / gradient_m) * factor(_COMMERCIAL_FACTOR) * noise()
    night_weight = np.exp(-r_own / gradient_m) * factor(_NIGHT_FACTOR) * noise()
    by_commune = np.bincount(k_of, weights=residents[on], minlength=n_communes)
    job_totals = (
        grid.commune_jobs
        if grid.commune_jobs is not None
        else np.round(by_commune * spec.jobs_per_resident).astype(np.int64)
    )
    jobs = np.zeros(n, dtype=np.int64)
    commercial = np.zeros(n)
    night = np.zeros(n)
    for k in range(n_communes):
        cells = np.flatnonzero(grid.commune == k)
        w = job_weight[cells]
        jobs[cells] = rng.multinomial(int(job_totals[k]), w / w.sum())
        shops = shop_weight[cells] + 1e-12
        commercial[cells] = by_commune[k] * _COMMERCIAL_PER_RESIDENT * shops / shops.sum()
        venues = night_weight[cells] + 1e-12
        night[cells] = by_commune[k] * _NIGHT_PER_RESIDENT * venues / venues.sum()
    town_halls = np.array(
        [
            _central_cell(grid.commune == k, x_m, y_m, residents + jobs)
            for k in range(len(grid.commune_names))
        ],
        dtype=np.int64,
    )
    return Territory(
        kind="file",
        seed=spec.seed,
        cell_m=spec.cell_m,
        nx=grid.nx,
        ny=grid.ny,
        x_m=x_m,
        y_m=y_m,
        commune=grid.commune,
        district=grid.district,
        residents=residents,
        jobs=np.asarray(jobs, dtype=np.int64),
        commercial=commercial,
        night=night,
        commune_names=grid.commune_names,
        district_names=grid.district_names,
        district_types=grid.district_types,
        district_commune=grid.district_commune,
        town_hall_cell=town_halls,
        land=land,
        commune_ids=grid.commune_ids,
        district_ids=grid.district_ids,
        district_type_rules=grid.district_type_rules,
        crs=grid.crs,
        origin_m=grid.origin_m,
        station_ids=grid.station_ids,
        station_names=grid.station_names,
        station_kinds=grid.station_kinds,
        station_cells=grid.station_cells,
    )


_TERRITORIES: dict[str, Territory] = {}  # built territories by their settings (JSON)
_TERRITORIES_KEPT = 4


def shared_territory(spec: TerritorySpec) -> Territory:
    """The territory of ``spec``, built once per process and shared by later runs.

    A territory is a frozen function of its settings (its seed included) and no
    run changes it, so the runs of a batch on one city (a worker process runs
    many) reuse it instead of building it again. The last few are kept.
    """
    # A file territory is also a function of its files: an edited file is read again.
    key = spec.model_dump_json() + json.dumps(data_files(spec), sort_keys=True)
    found = _TERRITORIES.get(key)
    if found is None:
        found = build_territory(spec)
        if len(_TERRITORIES) >= _TERRITORIES_KEPT:
            del _TERRITORIES[next(iter(_TERRITORIES))]
        _TERRITORIES[key] = found
    return found
