"""Real territories: communes, districts, QPV and stations read from geographic files.

Reading goes in three steps, each checked with a message naming the file, the
feature and the field:

1. **Read** each layer (GeoJSON always; CSV of points; GeoPackage and Shapefile
   through geopandas, the optional ``gis`` extra), repair invalid rings
   (``make_valid``) and reproject to the metric CRS of the scenario
   (Lambert-93 by default).
2. **Label cells**: a grid of ``cell_m`` squares covers the communes' bounding
   box; a cell belongs to the commune, district or QPV containing its centre
   (``shapely.contains_xy``). Cells outside every commune are not land. A
   polygon too small to contain a cell centre still gets the cell under its
   representative point. QPV are carved out of the districts they cover, as
   districts of type ``qpv``; land of a commune that no district covers goes to
   the nearest district of the same commune.
3. **Figures and types**: each district's population is its own figure, minus
   what QPV carved out of it, then rescaled so that the districts of a commune
   sum to the commune's population (the files mix vintages). District types
   are set (override by code in the scenario), carved QPV, given (attribute
   of the district layer), or inferred in this order: industrial (most of its
   IRIS population in activity IRIS, INSEE type A); city centre (a
   sub-communal district within ``centre_radius_km`` of the population-weighted
   centre of the most populous commune); peri-urban (density below ``peri_urban_density_km2``);
   residential otherwise.

Residents, jobs and activity are then drawn on the labelled grid by
:mod:`simulator.world.territory`, as for the synthetic city.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from simulator.scenario.keys import Path
from simulator.scenario.schema import (
    CommuneLayerSpec,
    DistrictLayerSpec,
    DistrictType,
    IrisTableSpec,
    LayerSpec,
    QpvLayerSpec,
    StationLayerSpec,
    TerritoryFileSpec,
    TerritorySpec,
)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Finding = tuple[Path, str]

# RFC 7946: GeoJSON coordinates are WGS84 longitude, latitude, unless the file says.
_DEFAULT_CRS = "EPSG:4326"
_GIS_SUFFIXES = (".gpkg", ".shp", ".zip", ".fgb", ".gml", ".kml")
_MAX_CELLS = 4_000_000


class TerritoryError(ValueError):
    """A territory that cannot be built as described; carries every problem found.

    Attributes:
        findings: (dotted key of the scenario, message) of each problem.
    """

    def __init__(self, findings: list[Finding] | str):
        if isinstance(findings, str):
            findings = [(("territory",), findings)]
        self.findings = findings
        super().__init__("; ".join(message for _, message in findings))


@dataclass(frozen=True)
class Feature:
    """One feature of a layer: its position in the file, attributes and geometry."""

    number: int  # 1-based, as a reader counts them
    properties: dict[str, Any]
    geometry: shapely.Geometry | None


@dataclass
class _Layer:
    """A layer being read, with the problems met so far."""

    spec: LayerSpec | IrisTableSpec
    key: Path
    findings: list[Finding] = field(default_factory=list)

    @property
    def name(self) -> str:
        return FsPath(self.spec.path).name

    def problem(self, message: str, feature: Feature | None = None, attr: str = "") -> None:
        where = self.spec.path
        if feature is not None:
            where += f": feature {feature.number}"
            label = _label(feature, self.spec)
            if label:
                where += f" ({label})"
        if attr:
            where += f": field '{attr}'"
        self.findings.append(((*self.key, "path"), f"{where}: {message}"))


def _label(feature: Feature, spec: LayerSpec | IrisTableSpec) -> str:
    """A feature's code, to name it in messages, if it has one."""
    attr = str(getattr(spec, "id", ""))
    code = feature.properties.get(attr) if attr else None
    return f"{attr} {code}" if code not in (None, "") else ""


@dataclass(frozen=True)
class LabelledGrid:
    """A real territory's grid with every cell labelled, before residents are drawn.

    Attributes:
        crs: The metric CRS of the grid.
        origin_m: (x, y) of the grid's south-west corner in ``crs``.
        nx: Cells along x.
        ny: Cells along y.
        commune: Commune index of each cell, -1 off land.
        district: District index of each cell, -1 off land.
        commune_ids: Commune codes.
        commune_names: Commune names.
        commune_population: Residents of each commune.
        commune_jobs: Jobs of each commune, when the layer gives them.
        district_ids: District codes (a commune's code for a commune without districts).
        district_names: District names.
        district_commune: Commune index of each district.
        district_population: Target residents of each district (sum per commune: the
            commune's population).
        district_types: Type of each district.
        district_type_rules: Why each district has its type (printed by ``secsim show``).
        station_ids: Station identifiers.
        station_names: Station names.
        station_kinds: Station kinds.
        station_cells: Land cell of each station.
    """

    crs: str
    origin_m: tuple[float, float]
    nx: int
    ny: int
    commune: IntArray
    district: IntArray
    commune_ids: tuple[str, ...]
    commune_names: tuple[str, ...]
    commune_population: IntArray
    commune_jobs: IntArray | None
    district_ids: tuple[str, ...]
    district_names: tuple[str, ...]
    district_commune: IntArray
    district_population: FloatArray
    district_types: tuple[DistrictType, ...]
    district_type_rules: tuple[str, ...]
    station_ids: tuple[str, ...]
    station_names: tuple[str, ...]
    station_kinds: tuple[str, ...]
    station_cells: IntArray


# --------------------------------------------------------------------------- reading


def _read_features(layer: _Layer, points: bool) -> tuple[list[Feature], str | None]:
    """Every feature of a file and the CRS it declares (``None``: not said)."""
    path = FsPath(layer.spec.path)
    suffix = path.suffix.lower()
    if not path.is_file():
        layer.problem("no such file" if not path.exists() else "not a file")
        return [], None
    if suffix == ".csv":
        return _read_csv(layer, path, points), None
    if suffix in (".geojson", ".json"):
        return _read_geojson(layer, path)
    if suffix in _GIS_SUFFIXES:
        return _read_gis(layer, path)
    layer.problem(
        f"unknown format '{suffix}': use GeoJSON (.geojson), CSV of points (.csv), or "
        "GeoPackage (.gpkg) or Shapefile (.shp) with the gis extra"
    )
    return [], None


def _read_geojson(layer: _Layer, path: FsPath) -> tuple[list[Feature], str | None]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        layer.problem(f"cannot read file: {exc.strerror}")
        return [], None
    except UnicodeDecodeError:
        layer.problem("not a UTF-8 text file")
        return [], None
    except json.JSONDecodeError as exc:
        layer.problem(f"not valid GeoJSON: {exc.msg} at line {exc.lineno}, column {exc.colno}")
        return [], None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        layer.problem("not a GeoJSON FeatureCollection")
        return [], None
    crs: str | None = None
    named = data.get("crs")
    if isinstance(named, dict) and isinstance(named.get("properties"), dict):
        # The pre-RFC 7946 "crs" member, still written by QGIS and ogr2ogr.
        crs = named["properties"].get("name")
    features: list[Feature] = []
    for number, item in enumerate(data.get("features") or [], start=1):
        if not isinstance(item, dict):
            layer.problem(f"feature {number} is not a GeoJSON object")
            continue
        props = item.get("properties") or {}
        feature = Feature(number, props if isinstance(props, dict) else {}, None)
        geometry = None
        if item.get("geometry") is not None:
            try:
                geometry = shapely.geometry.shape(item["geometry"])
            except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
                layer.problem(f"unreadable geometry ({exc})", feature)
                continue
        features.append(Feature(number, feature.properties, geometry))
    return features, crs


def _read_csv(layer: _Layer, path: FsPath, points: bool) -> list[Feature]:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        layer.problem(f"cannot read file: {exc.strerror}")
        return []
    except (UnicodeDecodeError, csv.Error) as exc:
        layer.problem(f"not a readable UTF-8 CSV file ({exc})")
        return []
    features: list[Feature] = []
    spec = layer.spec
    for number, row in enumerate(rows, start=1):
        feature = Feature(number, dict(row), None)
        if points and isinstance(spec, StationLayerSpec):
            x = _number(layer, feature, spec.x, signed=True)
            y = _number(layer, feature, spec.y, signed=True)
            if x is None or y is None:
                continue
            feature = Feature(number, dict(row), shapely.Point(x, y))
        features.append(feature)
    return features


def _read_gis(layer: _Layer, path: FsPath) -> tuple[list[Feature], str | None]:
    try:
        import geopandas  # optional: only for GeoPackage and Shapefile
    except ImportError:
        layer.problem(
            f"reading '{path.suffix}' files needs the GIS extra: pip install 'secsim[gis]' "
            "(or convert the layer to GeoJSON, e.g. ogr2ogr -f GeoJSON out.geojson in"
            f"{path.suffix})"
        )
        return [], None
    try:
        frame = geopandas.read_file(path, layer=getattr(layer.spec, "layer", None))
    except Exception as exc:  # any reader failure is a bad file for the user
        layer.problem(f"cannot read the layer ({exc})")
        return [], None
    crs = frame.crs.to_string() if frame.crs is not None else None
    columns = [c for c in frame.columns if c != frame.geometry.name]
    features = [
        Feature(number, {c: _plain(row[c]) for c in columns}, row[frame.geometry.name])
        for number, (_, row) in enumerate(frame.iterrows(), start=1)
    ]
    return features, crs


def _plain(value: Any) -> Any:
    """A pandas cell as a plain Python value (NaN as missing)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value


def _text(layer: _Layer, feature: Feature, attr: str) -> str | None:
    value = feature.properties.get(attr)
    if attr not in feature.properties:
        have = ", ".join(sorted(feature.properties)) or "none"
        layer.problem(f"missing (attributes are: {have})", feature, attr)
        return None
    if value is None or str(value).strip() == "":
        layer.problem("empty", feature, attr)
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # codes read as numbers by a spreadsheet
    return str(value).strip()


def _number(layer: _Layer, feature: Feature, attr: str, *, signed: bool = False) -> float | None:
    """A count (non-negative), or with ``signed`` a coordinate."""
    text = _text(layer, feature, attr)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        layer.problem(f"'{text}' is not a number", feature, attr)
        return None
    if not math.isfinite(value) or (value < 0 and not signed):
        layer.problem(f"{text} is not a non-negative number", feature, attr)
        return None
    return value


def _metric_crs(spec: TerritoryFileSpec, findings: list[Finding]) -> CRS | None:
    try:
        crs = CRS.from_user_input(spec.crs)
    except CRSError as exc:
        findings.append(
            (("territory", "file", "crs"), f"unknown CRS '{spec.crs}' ({exc}); e.g. EPSG:2154")
        )
        return None
    unit = crs.axis_info[0].unit_name if crs.axis_info else ""
    if not crs.is_projected or unit not in ("metre", "meter"):
        findings.append(
            (
                ("territory", "file", "crs"),
                f"'{spec.crs}' is not a projected CRS in metres (it is {crs.name}); cells "
                "need metres: EPSG:2154 (Lambert-93) for mainland France, EPSG:5490 for the "
                "Antilles, EPSG:2975 for La Reunion, EPSG:2972 for Guyane",
            )
        )
        return None
    return crs


def _projected(
    layer: _Layer, features: list[Feature], declared: str | None, target: CRS
) -> list[Feature]:
    """Features repaired and reprojected to ``target``; features without geometry dropped."""
    source_text = declared or getattr(layer.spec, "crs", None) or _DEFAULT_CRS
    try:
        source = CRS.from_user_input(source_text)
    except CRSError:
        layer.findings.append(
            ((*layer.key, "crs"), f"{layer.spec.path}: unknown CRS '{source_text}'")
        )
        return []
    transformer = Transformer.from_crs(source, target, always_xy=True)

    def reproject(coords: FloatArray) -> FloatArray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    out: list[Feature] = []
    for f in features:
        if f.geometry is None or f.geometry.is_empty:
            layer.problem("no geometry", f, "geometry")
            continue
        geometry = f.geometry
        if not geometry.is_valid:
            # Rounded coordinates make rings cross themselves; the repaired shape is
            # the one the author meant.
            geometry = shapely.make_valid(geometry)
        geometry = shapely.transform(geometry, reproject)
        if not np.isfinite(shapely.get_coordinates(geometry)).all():
            layer.problem(
                f"coordinates cannot be placed in {target.name}: is the layer's CRS "
                f"({source.name}) right?",
                f,
                "geometry",
            )
            continue
        out.append(Feature(f.number, f.properties, geometry))
    return out


# --------------------------------------------------------------------------- labelling


class _Grid:
    """Cell centres of a grid over a box, and which of them fall in a shape."""

    def __init__(self, bounds: tuple[float, float, float, float], cell_m: float):
        x0, y0, x1, y1 = bounds
        self.cell_m = cell_m
        self.x0, self.y0 = x0, y0
        self.nx = max(1, math.ceil((x1 - x0) / cell_m))
        self.ny = max(1, math.ceil((y1 - y0) / cell_m))
        self.xc = x0 + (np.arange(self.nx) + 0.5) * cell_m
        self.yc = y0 + (np.arange(self.ny) + 0.5) * cell_m

    @property
    def n(self) -> int:
        return self.nx * self.ny

    def cells_in(self, geometry: shapely.Geometry, *, edges: bool = False) -> IntArray:
        """Cells whose centre lies in the shape (only the shape's box is tested).

        With ``edges``, centres on the shape's boundary count too.
        """
        gx0, gy0, gx1, gy1 = geometry.bounds
        i0 = max(0, math.floor((gx0 - self.x0) / self.cell_m))
        i1 = min(self.nx, math.ceil((gx1 - self.x0) / self.cell_m) + 1)
        j0 = max(0, math.floor((gy0 - self.y0) / self.cell_m))
        j1 = min(self.ny, math.ceil((gy1 - self.y0) / self.cell_m) + 1)
        if i0 >= i1 or j0 >= j1:
            return np.empty(0, dtype=np.int64)
        xx, yy = np.meshgrid(self.xc[i0:i1], self.yc[j0:j1])
        test = shapely.intersects_xy if edges else shapely.contains_xy
        inside = test(geometry, xx, yy)
        jj, ii = np.nonzero(inside)
        return np.asarray((jj + j0) * self.nx + (ii + i0), dtype=np.int64)

    def cell_of(self, x: float, y: float) -> int | None:
        """The cell containing a point, or ``None`` outside the grid."""
        i = math.floor((x - self.x0) / self.cell_m)
        j = math.floor((y - self.y0) / self.cell_m)
        if 0 <= i < self.nx and 0 <= j < self.ny:
            return j * self.nx + i
        return None

    def centre(self, cell: int) -> tuple[float, float]:
        j, i = divmod(cell, self.nx)
        return float(self.xc[i]), float(self.yc[j])


def _cells_of(grid: _Grid, geometry: shapely.Geometry) -> IntArray:
    """Cells of a shape; a shape too small to hold a cell centre keeps the cell of its point."""
    cells = grid.cells_in(geometry)
    if cells.size == 0:
        point = geometry.representative_point()
        cell = grid.cell_of(point.x, point.y)
        if cell is not None:
            cells = np.array([cell], dtype=np.int64)
    return cells


@dataclass
class _Commune:
    code: str
    name: str
    population: int
    jobs: int | None
    geometry: shapely.Geometry
    feature: Feature


@dataclass
class _District:
    code: str
    name: str
    commune: int
    figure: float | None  # population in the file (None: not given)
    given_type: DistrictType | None
    cells: IntArray
    qpv: bool = False
    whole: bool = False  # a commune without districts of its own
    rule: str = ""


def _read_communes(spec: CommuneLayerSpec, target: CRS, findings: list[Finding]) -> list[_Commune]:
    layer = _Layer(spec, ("territory", "file", "communes"))
    raw, declared = _read_features(layer, points=False)
    communes: list[_Commune] = []
    seen: dict[str, int] = {}
    for f in _projected(layer, raw, declared, target):
        code = _text(layer, f, spec.id)
        name = _text(layer, f, spec.name)
        population = _number(layer, f, spec.population)
        jobs = _number(layer, f, spec.jobs) if spec.jobs is not None else None
        if code is None or name is None or population is None:
            continue
        if spec.jobs is not None and jobs is None:
            continue
        if not isinstance(f.geometry, shapely.Polygon | shapely.MultiPolygon):
            polygons = shapely.get_parts(f.geometry)
            polygons = [p for p in polygons if isinstance(p, shapely.Polygon)]
            if not polygons:
                kind = f.geometry.geom_type if f.geometry is not None else "nothing"
                layer.problem(f"a commune needs a polygon, found {kind}", f)
                continue
        if code in seen:
            layer.problem(f"code {code} already used by feature {seen[code]}", f, spec.id)
            continue
        seen[code] = f.number
        communes.append(
            _Commune(
                code,
                name,
                round(population),
                None if jobs is None else round(jobs),
                f.geometry,
                f,
            )
        )
    if not communes and not layer.findings:
        layer.problem("no communes in this layer")
    findings.extend(layer.findings)
    return communes


def _commune_lookup(communes: list[_Commune], merged: dict[str, str]) -> dict[str, int]:
    lookup = {c.code: k for k, c in enumerate(communes)}
    for old, new in merged.items():
        if new in lookup and old not in lookup:
            lookup[old] = lookup[new]
    return lookup


def _district_type(layer: _Layer, f: Feature, attr: str | None) -> DistrictType | None:
    if attr is None:
        return None
    value = f.properties.get(attr)
    if value in (None, ""):
        return None
    try:
        return DistrictType(str(value).strip())
    except ValueError:
        allowed = ", ".join(t.value for t in DistrictType)
        layer.problem(f"unknown district type '{value}'; types are: {allowed}", f, attr)
        return None


def _code_name_figure(
    layer: _Layer, f: Feature, spec: DistrictLayerSpec | QpvLayerSpec
) -> tuple[str, str, float | None] | None:
    """A zone's code, name (its code if none) and population, or None if one is unreadable.

    What cannot be read has been reported on ``layer`` already.
    """
    code = _text(layer, f, spec.id)
    name = _text(layer, f, spec.name) if spec.name is not None else code
    figure = _number(layer, f, spec.population) if spec.population is not None else None
    if code is None or name is None or (spec.population is not None and figure is None):
        return None
    return code, name, figure


def _read_districts(
    spec: DistrictLayerSpec,
    target: CRS,
    grid: _Grid,
    commune_of_cell: IntArray,
    communes: list[_Commune],
    merged: dict[str, str],
    findings: list[Finding],
) -> list[_District]:
    layer = _Layer(spec, ("territory", "file", "districts"))
    raw, declared = _read_features(layer, points=False)
    lookup = _commune_lookup(communes, merged)
    districts: list[_District] = []
    seen: set[str] = set()
    for f in _projected(layer, raw, declared, target):
        named = _code_name_figure(layer, f, spec)
        if named is None:
            continue
        code, name, figure = named
        if code in seen:
            layer.problem(f"code {code} is used twice", f, spec.id)
            continue
        seen.add(code)
        cells = _cells_of(grid, f.geometry)
        on_land = commune_of_cell[cells]
        if spec.commune is not None:
            ref = _text(layer, f, spec.commune)
            if ref is None:
                continue
            if ref not in lookup:
                layer.problem(
                    f"unknown commune code {ref} (a merged commune? map it to the current "
                    "one in territory.file.merged_communes)",
                    f,
                    spec.commune,
                )
                continue
            k = lookup[ref]
            if not (on_land == k).any():
                layer.problem(
                    f"the district lies outside its commune {ref} ({communes[k].name})",
                    f,
                    spec.commune,
                )
                continue
        else:
            land = on_land[on_land >= 0]
            if land.size == 0:
                layer.problem("the district lies outside every commune", f, "geometry")
                continue
            counts = np.bincount(land)
            k = int(np.argmax(counts))  # ties: the commune listed first
        districts.append(
            _District(
                code,
                name,
                k,
                figure,
                _district_type(layer, f, spec.type),
                cells[on_land == k],
            )
        )
    findings.extend(layer.findings)
    return districts


@dataclass
class _Qpv:
    code: str
    name: str
    figure: float | None
    cells: IntArray


def _read_qpv(
    spec: QpvLayerSpec, target: CRS, grid: _Grid, commune_of_cell: IntArray, findings: list[Finding]
) -> list[_Qpv]:
    layer = _Layer(spec, ("territory", "file", "qpv"))
    raw, declared = _read_features(layer, points=False)
    out: list[_Qpv] = []
    for f in _projected(layer, raw, declared, target):
        named = _code_name_figure(layer, f, spec)
        if named is None:
            continue
        code, name, figure = named
        cells = _cells_of(grid, f.geometry)
        cells = cells[commune_of_cell[cells] >= 0]
        if cells.size == 0:
            layer.problem("the QPV lies outside every commune", f, "geometry")
            continue
        out.append(_Qpv(code, name, figure, cells))
    findings.extend(layer.findings)
    return out


def _read_stations(
    spec: StationLayerSpec,
    target: CRS,
    grid: _Grid,
    commune_of_cell: IntArray,
    findings: list[Finding],
) -> list[tuple[str, str, str, int]]:
    layer = _Layer(spec, ("territory", "file", "stations"))
    raw, declared = _read_features(layer, points=True)
    land = np.flatnonzero(commune_of_cell >= 0)
    land_x = grid.xc[land % grid.nx]
    land_y = grid.yc[land // grid.nx]
    out: list[tuple[str, str, str, int]] = []
    seen: set[str] = set()
    for f in _projected(layer, raw, declared, target):
        code = _text(layer, f, spec.id)
        kind = _text(layer, f, spec.kind)
        if code is None or kind is None:
            continue
        name = str(f.properties.get(spec.name) or code) if spec.name is not None else code
        if code in seen:
            layer.problem(f"station {code} is listed twice", f, spec.id)
            continue
        seen.add(code)
        if f.geometry is None:
            continue
        point = f.geometry.representative_point()
        # A station just across a commune boundary (or on a cell left off land) serves
        # from the nearest land cell.
        d2 = (land_x - point.x) ** 2 + (land_y - point.y) ** 2
        nearest = int(np.argmin(d2))
        if d2[nearest] > (5_000.0) ** 2:
            layer.problem("the station lies more than 5 km from every commune", f, "geometry")
            continue
        out.append((code, name, kind, int(land[nearest])))
    findings.extend(layer.findings)
    return out


def _iris_activity(
    spec: IrisTableSpec, district_codes: list[str], findings: list[Finding]
) -> dict[str, float]:
    """Share of each district's IRIS population living in activity IRIS (type A)."""
    layer = _Layer(spec, ("territory", "file", "iris"))
    path = FsPath(spec.path)
    features = _read_csv(layer, path, points=False) if path.is_file() else []
    if not path.is_file():
        layer.problem("no such file")
    totals: dict[str, list[float]] = {}
    known = set(district_codes)
    for f in features:
        code = _text(layer, f, spec.id)
        kind = _text(layer, f, spec.type)
        population = _number(layer, f, spec.population)
        if code is None or kind is None or population is None:
            continue
        district = code[: spec.district_id_chars]
        if district in known:
            entry = totals.setdefault(district, [0.0, 0.0])
            entry[0] += population
            entry[1] += population if kind.upper() == "A" else 0.0
    findings.extend(layer.findings)
    return {d: a / t for d, (t, a) in totals.items() if t > 0}


def _nearest_fill(grid: _Grid, district: IntArray, commune: IntArray, k: int) -> None:
    """Give the cells of commune ``k`` without a district the nearest district of ``k``."""
    cells = np.flatnonzero(commune == k)
    empty = cells[district[cells] < 0]
    full = cells[district[cells] >= 0]
    if empty.size == 0 or full.size == 0:
        return
    ex, ey = grid.xc[empty % grid.nx], grid.yc[empty // grid.nx]
    fx, fy = grid.xc[full % grid.nx], grid.yc[full // grid.nx]
    for start in range(0, empty.size, 512):
        part = slice(start, start + 512)
        d2 = (ex[part, None] - fx[None, :]) ** 2 + (ey[part, None] - fy[None, :]) ** 2
        district[empty[part]] = district[full[np.argmin(d2, axis=1)]]


def size_of(spec: TerritorySpec) -> tuple[int, int] | None:
    """Cells and residents a file territory will have, from its communes layer alone.

    What the memory estimate needs before anything is laid out; ``None`` when the
    layer cannot be read (building the territory then reports why).
    """
    if spec.file is None:
        return None
    findings: list[Finding] = []
    target = _metric_crs(spec.file, findings)
    if target is None:
        return None
    communes = _read_communes(spec.file.communes, target, findings)
    if findings or not communes:
        return None
    x0, y0, x1, y1 = shapely.total_bounds([c.geometry for c in communes])
    nx = max(1, math.ceil((x1 - x0) / spec.cell_m))
    ny = max(1, math.ceil((y1 - y0) / spec.cell_m))
    return nx * ny, sum(c.population for c in communes)


def label_grid(spec: TerritorySpec) -> LabelledGrid:
    """Read a file territory's layers and label every cell of its grid.

    Raises:
        TerritoryError: With every problem found, each naming file, feature and field.
    """
    files = spec.file
    if files is None:
        raise TerritoryError([(("territory", "file"), "a file territory needs territory.file")])
    findings: list[Finding] = []
    target = _metric_crs(files, findings)
    if target is None:
        raise TerritoryError(findings)
    communes = _read_communes(files.communes, target, findings)
    if findings:
        raise TerritoryError(findings)
    bounds = shapely.total_bounds([c.geometry for c in communes])
    width, height = bounds[2] - bounds[0], bounds[3] - bounds[1]
    if (width / spec.cell_m) * (height / spec.cell_m) > _MAX_CELLS:
        raise TerritoryError(
            [
                (
                    ("territory", "cell_m"),
                    f"cells of {spec.cell_m:g} m make more than {_MAX_CELLS:,} cells over "
                    f"{width / 1000:.0f} x {height / 1000:.0f} km: use larger cells",
                )
            ]
        )
    grid = _Grid((bounds[0], bounds[1], bounds[2], bounds[3]), spec.cell_m)
    commune = np.full(grid.n, -1, dtype=np.int64)
    # Large communes first, so that a tiny one keeping a single cell is not overwritten.
    order = sorted(range(len(communes)), key=lambda k: (-communes[k].geometry.area, k))
    for k in order:
        cells = grid.cells_in(communes[k].geometry)
        commune[cells[commune[cells] < 0]] = k
    # A centre exactly on a shared boundary is in neither shape: it goes to the first.
    for k in order:
        cells = grid.cells_in(communes[k].geometry, edges=True)
        commune[cells[commune[cells] < 0]] = k
    for k in order[::-1]:
        if not (commune == k).any():
            point = communes[k].geometry.representative_point()
            cell = grid.cell_of(point.x, point.y)
            if cell is not None and np.count_nonzero(commune == commune[cell]) > 1:
                commune[cell] = k
    comm_layer = _Layer(files.communes, ("territory", "file", "communes"))
    for k, c in enumerate(communes):
        if not (commune == k).any():
            comm_layer.problem(
                f"commune {c.name} gets no cell of {spec.cell_m:g} m: lower territory.cell_m",
                c.feature,
            )
    if comm_layer.findings:
        raise TerritoryError(comm_layer.findings)

    districts: list[_District] = []
    if files.districts is not None:
        districts = _read_districts(
            files.districts, target, grid, commune, communes, files.merged_communes, findings
        )
    qpvs = _read_qpv(files.qpv, target, grid, commune, findings) if files.qpv is not None else []
    stations = (
        _read_stations(files.stations, target, grid, commune, findings)
        if files.stations is not None
        else []
    )
    activity = (
        _iris_activity(files.iris, [d.code for d in districts], findings)
        if files.iris is not None
        else {}
    )
    if findings:
        raise TerritoryError(findings)
    return _assemble(spec, files, grid, commune, communes, districts, qpvs, stations, activity)


def _assemble(
    spec: TerritorySpec,
    files: TerritoryFileSpec,
    grid: _Grid,
    commune: IntArray,
    communes: list[_Commune],
    districts: list[_District],
    qpvs: list[_Qpv],
    stations: list[tuple[str, str, str, int]],
    activity: dict[str, float],
) -> LabelledGrid:
    # Districts in file order; a later district does not take cells of an earlier one.
    district = np.full(grid.n, -1, dtype=np.int64)
    kept: list[_District] = []
    for d in districts:
        free = d.cells[district[d.cells] < 0]
        if free.size == 0:
            continue  # wholly covered by earlier districts (duplicated shapes)
        d.cells = free
        district[free] = len(kept)
        kept.append(d)
    # Communes that no district touches are one district each.
    for k, c in enumerate(communes):
        cells = np.flatnonzero(commune == k)
        if not (district[cells] >= 0).any():
            district[cells] = len(kept)
            kept.append(_District(c.code, c.name, k, float(c.population), None, cells, whole=True))
        else:
            _nearest_fill(grid, district, commune, k)
    for i, d in enumerate(kept):
        d.cells = np.flatnonzero(district == i)
    # Carve QPV out of the districts, one district per QPV and commune.
    base_figure = [d.figure for d in kept]
    taken = np.zeros(len(kept))
    base_cells = np.array([d.cells.size for d in kept], dtype=float)
    for q in qpvs:
        cells = q.cells[district[q.cells] >= 0]
        # Overlapping QPV: the first keeps the shared cells.
        cells = cells[[not kept[int(d)].qpv for d in district[cells]]]
        if cells.size == 0:
            continue
        for k in np.unique(commune[cells]):
            part = cells[commune[cells] == k]
            if part.size == 0:
                continue
            share = part.size / cells.size
            figure = None if q.figure is None else q.figure * share
            code = q.code if np.unique(commune[cells]).size == 1 else f"{q.code}-{communes[k].code}"
            for parent, n in zip(*np.unique(district[part], return_counts=True), strict=True):
                # What the QPV takes out of its parent: its own figure where known, else
                # the parent's figure in proportion to the area taken.
                own = (
                    figure * n / part.size
                    if figure is not None
                    else (base_figure[parent] or 0.0) * n / base_cells[parent]
                )
                taken[parent] += own
            district[part] = len(kept)
            kept.append(_District(code, q.name, int(k), figure, DistrictType.QPV, part, qpv=True))
    # Carving may empty a district entirely; renumber the survivors.
    used = np.zeros(len(kept), dtype=bool)
    used[np.unique(district[district >= 0])] = True
    remap = np.cumsum(used) - 1
    district = np.where(district >= 0, remap[np.maximum(district, 0)], -1)
    alive = [i for i in range(len(kept)) if used[i]]
    for i in alive:
        kept[i].cells = np.flatnonzero(district == remap[i])
    figures: list[float | None] = []
    for i in alive:
        d = kept[i]
        if d.qpv:
            figures.append(d.figure)
        else:
            figures.append(None if d.figure is None else max(0.0, d.figure - taken[i]))
    survivors = [kept[i] for i in alive]
    # Outputs key districts by name: two of a name (a "Centre" in two communes) get
    # their codes added.
    names = [d.name for d in survivors]
    for d in survivors:
        if names.count(d.name) > 1:
            d.name = f"{d.name} ({d.code})"
    population = _rescale(survivors, figures, communes)
    types, rules = _infer_types(spec, files, grid, survivors, population, communes, activity)
    station_cells = np.array([s[3] for s in stations], dtype=np.int64)
    return LabelledGrid(
        crs=files.crs,
        origin_m=(grid.x0, grid.y0),
        nx=grid.nx,
        ny=grid.ny,
        commune=commune,
        district=district.astype(np.int64),
        commune_ids=tuple(c.code for c in communes),
        commune_names=tuple(c.name for c in communes),
        commune_population=np.array([c.population for c in communes], dtype=np.int64),
        commune_jobs=(
            np.array([c.jobs or 0 for c in communes], dtype=np.int64)
            if files.communes.jobs is not None
            else None
        ),
        district_ids=tuple(d.code for d in survivors),
        district_names=tuple(d.name for d in survivors),
        district_commune=np.array([d.commune for d in survivors], dtype=np.int64),
        district_population=population,
        district_types=tuple(types),
        district_type_rules=tuple(rules),
        station_ids=tuple(s[0] for s in stations),
        station_names=tuple(s[1] for s in stations),
        station_kinds=tuple(s[2] for s in stations),
        station_cells=station_cells,
    )


def _rescale(
    districts: list[_District], figures: list[float | None], communes: list[_Commune]
) -> FloatArray:
    """District populations summing to their commune's figure.

    Districts without a figure share what the others leave in proportion to
    their area; if no district of a commune has a figure, all share by area.
    """
    out = np.zeros(len(districts))
    for k, c in enumerate(communes):
        ids = [i for i, d in enumerate(districts) if d.commune == k]
        known = [i for i in ids if figures[i] is not None]
        cells = np.array([districts[i].cells.size for i in ids], dtype=float)
        if known and sum(figures[i] or 0.0 for i in known) > 0:
            total = sum(figures[i] or 0.0 for i in known)
            unknown = [i for i in ids if figures[i] is None]
            # Unfigured districts get the mean density of the figured ones.
            known_cells = sum(districts[i].cells.size for i in known)
            density = total / max(known_cells, 1)
            weights = {i: figures[i] or 0.0 for i in known}
            weights.update({i: density * districts[i].cells.size for i in unknown})
            whole = sum(weights.values())
            for i in ids:
                out[i] = c.population * weights[i] / whole
        else:
            for i, n in zip(ids, cells, strict=True):
                out[i] = c.population * n / cells.sum()
    return out


def _main_centre(
    grid: _Grid, districts: list[_District], population: FloatArray, communes: list[_Commune]
) -> tuple[float, float]:
    """The population-weighted centre of the most populous commune, in CRS metres."""
    main = int(np.argmax([c.population for c in communes]))
    xs, ys, ws = [], [], []
    for i, d in enumerate(districts):
        if d.commune == main and d.cells.size:
            xs.append(float(grid.xc[d.cells % grid.nx].mean()))
            ys.append(float(grid.yc[d.cells // grid.nx].mean()))
            ws.append(float(population[i]) + 1e-9)
    w = np.array(ws)
    return float(np.dot(xs, w) / w.sum()), float(np.dot(ys, w) / w.sum())


def _infer_types(
    spec: TerritorySpec,
    files: TerritoryFileSpec,
    grid: _Grid,
    districts: list[_District],
    population: FloatArray,
    communes: list[_Commune],
    activity: dict[str, float],
) -> tuple[list[DistrictType], list[str]]:
    """Each district's type and the rule that gave it (module docstring, step 3)."""
    centre = _main_centre(grid, districts, population, communes)
    km2 = (spec.cell_m / 1000.0) ** 2
    types: list[DistrictType] = []
    rules: list[str] = []
    for i, d in enumerate(districts):
        x = float(grid.xc[d.cells % grid.nx].mean())
        y = float(grid.yc[d.cells // grid.nx].mean())
        distance_km = math.hypot(x - centre[0], y - centre[1]) / 1000.0
        density = population[i] / (d.cells.size * km2)
        if d.code in files.district_types:
            t, rule = files.district_types[d.code], "set in territory.file.district_types"
        elif d.qpv:
            t, rule = DistrictType.QPV, "QPV carved from the qpv layer"
        elif d.given_type is not None:
            t, rule = d.given_type, "given by the district layer"
        elif activity.get(d.code, 0.0) > 0.5:
            # INSEE activity IRIS (over 5,000 jobs, twice as many jobs as residents) are
            # mostly business parks; a shopping district can be set by override.
            t = DistrictType.INDUSTRIAL
            rule = f"activity IRIS hold {activity[d.code]:.0%} of its IRIS population"
        elif distance_km <= files.centre_radius_km and not d.whole:
            # A whole commune is no city centre, even the main one: without districts
            # its centre cannot be told from the rest.
            t = DistrictType.CITY_CENTRE
            rule = f"{distance_km:.1f} km from the main centre"
        elif density < files.peri_urban_density_km2:
            t, rule = DistrictType.PERI_URBAN, f"{density:.0f} residents/km2"
        else:
            t, rule = DistrictType.RESIDENTIAL, f"{density:.0f} residents/km2"
        types.append(t)
        rules.append(rule)
    return types, rules


def data_files(spec: TerritorySpec) -> dict[str, str]:
    """SHA-256 of each data file a territory reads (none for a synthetic one).

    Results depend on these files as much as on the scenario: run records and
    batch stores keep the digests, so that edited data never pass for the same.
    """
    files = spec.file
    if spec.kind != "file" or files is None:
        return {}
    digests: dict[str, str] = {}
    for layer in (files.communes, files.districts, files.qpv, files.stations, files.iris):
        if layer is None:
            continue
        path = FsPath(layer.path)
        try:
            digests[layer.path] = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            digests[layer.path] = "unreadable"
    return digests


def iter_district_rows(grid: LabelledGrid) -> Iterator[tuple[str, str, str, str, str, int]]:
    """(code, name, commune, type, rule, target residents) of each district, for display."""
    for i, code in enumerate(grid.district_ids):
        yield (
            code,
            grid.district_names[i],
            grid.commune_names[int(grid.district_commune[i])],
            grid.district_types[i].value,
            grid.district_type_rules[i],
            round(float(grid.district_population[i])),
        )
