"""Real territories read from files: the shipped extracts, the land mask, bad input."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from simulator.agencies.agency import territory_findings
from simulator.cli import main
from simulator.model import SecurityModel
from simulator.runner import run
from simulator.scenario import ScenarioError, load_scenario
from simulator.scenario.schema import DistrictType, TerritorySpec
from simulator.world.territory import Territory, build_territory
from simulator.world.territory_file import TerritoryError

from .conftest import ROOT

DATA = ROOT / "data" / "territories"
TLS = DATA / "toulouse_metropole"
SSD = DATA / "seine_saint_denis"
TOULOUSE = ROOT / "scenarios" / "toulouse_metropole.yaml"
SEINE_SAINT_DENIS = ROOT / "scenarios" / "seine_saint_denis.yaml"


def _features(path: Path) -> list[dict[str, Any]]:
    features: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["features"]
    return features


@pytest.fixture(scope="module")
def toulouse() -> Territory:
    return build_territory(load_scenario(TOULOUSE).territory)


def _cell_of_lonlat(t: Territory, lon: float, lat: float) -> int:
    x, y = Transformer.from_crs("EPSG:4326", t.crs, always_xy=True).transform(lon, lat)
    return t.cell_at(x - t.origin_m[0], y - t.origin_m[1])


def _to_grid(t: Territory, geometry: Any) -> Any:
    """A WGS84 shape in the territory's grid metres."""
    transformer = Transformer.from_crs("EPSG:4326", t.crs, always_xy=True)

    def move(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x - t.origin_m[0], y - t.origin_m[1]])

    return shapely.transform(geometry, move)


# --------------------------------------------------------------------------- the extracts


def test_toulouse_counts_and_populations_conserved_per_commune(toulouse: Territory) -> None:
    t = toulouse
    communes = _features(TLS / "communes_toulouse_metropole.geojson")
    assert len(t.commune_names) == len(communes) == 37
    assert int(t.residents.sum()) == 832_348
    for f in communes:
        k = t.commune_index(f["properties"]["code_insee"])
        assert int(t.residents[t.commune == k].sum()) == f["properties"]["population"]
    qpv = [d for d in range(t.n_districts) if t.district_types[d] is DistrictType.QPV]
    assert {t.district_ids[d] for d in qpv} == {
        f["properties"]["code_qp"] for f in _features(TLS / "qpv_toulouse_metropole_2015.geojson")
    }
    # Every cell of a commune has a district of that commune.
    land = t.land
    assert (t.district[land] >= 0).all()
    assert (t.district_commune[t.district[land]] == t.commune[land]).all()


def test_the_capitole_lands_in_its_quartier(toulouse: Territory) -> None:
    cell = _cell_of_lonlat(toulouse, 1.4437, 43.6045)
    assert toulouse.land[cell]
    assert toulouse.district_ids[toulouse.district[cell]] == "3155501"
    assert toulouse.district_names[toulouse.district[cell]] == "CAPITOLE"
    assert toulouse.commune_names[toulouse.commune[cell]] == "Toulouse"


def test_qpv_cells_are_carved_with_their_population(toulouse: Territory) -> None:
    t = toulouse
    for f in _features(TLS / "qpv_toulouse_metropole_2015.geojson"):
        code = f["properties"]["code_qp"]
        d = t.district_ids.index(code)
        cells = np.flatnonzero(t.district == d)
        assert cells.size > 0
        # Exactly the land cells whose centre lies in the QPV are the QPV's.
        polygon = _to_grid(t, shapely.make_valid(shapely.geometry.shape(f["geometry"])))
        inside = shapely.contains_xy(polygon, t.x_m, t.y_m) & t.land
        assert (t.district[inside] == d).all()
        assert inside[cells].all() or cells.size == 1
        # Its residents: its figure, rescaled with its commune (2015 to 2026, within 30 %).
        ratio = t.residents[cells].sum() / f["properties"]["population"]
        assert 0.7 < ratio < 1.6, (code, ratio)


def test_districts_sum_to_the_commune_figure_whatever_their_vintage(toulouse: Territory) -> None:
    t = toulouse
    toulouse_k = t.commune_index("31555")
    quartiers = sum(
        f["properties"]["population"] for f in _features(TLS / "quartiers_toulouse_2015.geojson")
    )
    assert quartiers == 471_937  # the 2015 figures: fewer than today's
    in_toulouse = [d for d in range(t.n_districts) if t.district_commune[d] == toulouse_k]
    assert sum(int(t.residents[t.district == d].sum()) for d in in_toulouse) == 511_684


def test_building_is_deterministic_in_the_territory_seed() -> None:
    spec = load_scenario(TOULOUSE).territory
    a, b = build_territory(spec), build_territory(spec)
    for name in ("commune", "district", "residents", "jobs", "commercial", "night", "land"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    other = build_territory(spec.model_copy(update={"seed": 2}))
    assert np.array_equal(other.district, a.district)  # geometry does not depend on it
    assert not np.array_equal(other.residents, a.residents)


def test_stations_of_seine_saint_denis_share_the_units() -> None:
    scenario = load_scenario(SEINE_SAINT_DENIS, ["run.days=1", "run.warmup_days=0"])
    model = SecurityModel(scenario, seed=1)
    t = model.territory
    state = model.agencies[0]
    n_stations = sum(k == "police_nationale" for k in t.station_kinds)
    assert n_stations == 26
    assert state.station_cells.size == n_stations
    units = model.units[0]
    assert [u.station_cell for u in units] == [
        int(state.station_cells[k % n_stations]) for k in range(len(units))
    ]
    # Units on duty start at their own station.
    on_duty = [u for u in units if u.state.value != "off_duty"]
    assert {u.cell for u in on_duty} <= set(state.station_cells.tolist())
    assert len({u.cell for u in on_duty}) > 1


def test_a_synthetic_agency_keeps_one_station_for_all_its_units() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "baseline.yaml", ["run.days=1"])
    model = SecurityModel(scenario, seed=1)
    for agency, units in zip(model.agencies, model.units, strict=True):
        assert agency.station_cells.tolist() == [agency.station_cell]
        assert {u.station_cell for u in units} <= {agency.station_cell}


# --------------------------------------------------------------------------- the land mask


def test_nothing_happens_off_land() -> None:
    scenario = load_scenario(TOULOUSE, ["run.days=2", "run.warmup_days=0"])
    model = SecurityModel(scenario, seed=3)
    t = model.territory
    off = ~t.land
    assert off.sum() > t.land.sum() // 2  # the Métropole covers about half its box
    assert t.residents[off].sum() == 0 and t.jobs[off].sum() == 0
    assert t.commercial[off].sum() == 0 and t.night[off].sum() == 0
    assert t.land[model.population.home].all() and t.land[model.population.place].all()
    for agency in model.agencies:
        assert t.land[agency.cells].all() and t.land[agency.station_cells].all()
    assert model.calls.expected_cell_weights()[off].sum() == 0
    assert model.crime is not None and model.crime.attractiveness[off].sum() == 0
    model.run_until(48.0)
    incidents = model.recorder.incidents_so_far()
    assert len(incidents) > 500
    assert all(t.land[i.cell] for i in incidents)
    assert model.presence.hours[:, off].sum() == 0
    assert model.presence.hours[:, t.land].sum() > 0
    assert model.crime.expected[:, off].sum() == 0


# --------------------------------------------------------------------------- bad input


def _square(x0: float, y0: float, side: float) -> dict[str, Any]:
    ring = [[x0, y0], [x0 + side, y0], [x0 + side, y0 + side], [x0, y0 + side], [x0, y0]]
    return {"type": "Polygon", "coordinates": [ring]}


def _write_layer(path: Path, features: list[tuple[dict[str, Any], dict[str, Any]]]) -> Path:
    """A GeoJSON layer in Lambert-93 metres (declared with the 'crs' member)."""
    data = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "EPSG:2154"}},
        "features": [
            {"type": "Feature", "properties": props, "geometry": geometry}
            for props, geometry in features
        ],
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


X0, Y0 = 570_000.0, 6_270_000.0  # somewhere near Toulouse, in Lambert-93


def _two_communes(tmp_path: Path) -> Path:
    return _write_layer(
        tmp_path / "communes.geojson",
        [
            ({"code_insee": "A", "nom": "Aville", "population": 1000}, _square(X0, Y0, 2000)),
            (
                {"code_insee": "B", "nom": "Bville", "population": 500},
                _square(X0 + 2000, Y0, 2000),
            ),
        ],
    )


def _scenario(tmp_path: Path, file_block: str, extra: str = "") -> Path:
    text = f"""
name: tiny
territory:
  kind: file
  cell_m: 200
  file:
{file_block}
agencies:
  police:
    kind: state_police
    communes: all
    units: 2
    powers: {{judicial: true}}
{extra}
competences:
  call: [police]
"""
    path = tmp_path / "tiny.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _problems(path: Path, overrides: tuple[str, ...] = ()) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, list(overrides), (territory_findings,))
    return info.value.render()


def test_a_user_geojson_with_paths_relative_to_the_scenario_runs(tmp_path: Path) -> None:
    _two_communes(tmp_path)
    path = _scenario(tmp_path, "    communes: {path: communes.geojson}")
    scenario = load_scenario(path, ["run.days=1", "run.warmup_days=0"], (territory_findings,))
    t = build_territory(scenario.territory)
    assert t.commune_ids == ("A", "B") and int(t.residents.sum()) == 1500
    assert int(t.land.sum()) == 200  # 2 x (10 x 10) cells of 200 m
    result = run(scenario)
    digest = hashlib.sha256((tmp_path / "communes.geojson").read_bytes()).hexdigest()
    assert result.metadata["territory_files"] == {str(tmp_path / "communes.geojson"): digest}


def test_a_timeline_runs_on_a_file_territory_and_its_communes_are_checked(
    tmp_path: Path,
) -> None:
    """A change compiles the whole scenario again: the synthetic settings' defaults are not
    taken for settings written, and each period's communes are checked against the files."""
    _two_communes(tmp_path)
    path = _scenario(tmp_path, "    communes: {path: communes.geojson}")
    horizon = ["run.days=3", "run.warmup_days=0"]
    fewer = "timeline=[{day: 1, label: fewer crews, set: {agencies.police.units: 1}}]"
    scenario = load_scenario(path, [*horizon, fewer], (territory_findings,))
    result = run(scenario)
    assert [c["label"] for c in result.metadata["policy_changes"]] == ["fewer crews"]
    rule = "{types: [call], communes: [Bvile], agencies: [police]}"
    text = _problems(
        path, (*horizon, f"timeline=[{{day: 1, set: {{competence_rules: [{rule}]}}}}]")
    )
    assert "timeline.0.set: after this change, competence_rules.0.communes.0" in text
    assert "unknown commune 'Bvile' (did you mean 'Bville'?)" in text
    moved = "timeline=[{day: 1, set: {agencies.police.communes: [C]}}]"
    assert "agencies.police.communes.0: unknown commune 'C'" in _problems(path, (*horizon, moved))


def test_a_file_territory_s_cameras_are_placed_by_district_code_within_their_communes() -> None:
    """A district code passed the checks but got no camera; one in another commune than a
    contract's (or a zone's communes) covered nothing, without a word."""
    from simulator.crime.engine import cctv_coverage
    from simulator.scenario.schema import CctvSpec

    horizon = ("run.days=3", "run.warmup_days=0")
    other = 'timeline=[{day: 1, contract: {commune: "31044", cctv_districts: [qpv, "3155511"]}}]'
    text = _problems(TOULOUSE, (*horizon, other))
    assert (
        "timeline.0.contract.cctv_districts.1: district '3155511' is in Toulouse, not in " in text
    )
    assert "the contract's commune (Balma)" in text
    zone = "cctv.zones=[{districts: ['3155510'], communes: ['31044']}]"
    assert "cctv.zones.0.districts.0: district '3155510' is in Toulouse" in _problems(
        TOULOUSE, (*horizon, zone)
    )
    scenario = load_scenario(TOULOUSE, list(horizon), (territory_findings,))
    t = build_territory(scenario.territory)
    zones = CctvSpec.model_validate({"zones": [{"districts": ["3155511"], "communes": ["31555"]}]})
    covered = cctv_coverage(t, zones) > 0
    cells = t.cells_of_districts(["3155511"])
    assert cells is not None and cells.size and covered[cells].all()
    assert int(covered.sum()) == cells.size


def _breton_communes(tmp_path: Path) -> None:
    """Two communes west of Greenwich, in WGS84 (RFC 7946: no crs member)."""
    data = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code_insee": "35001", "nom": "Ouest", "population": 3000},
                "geometry": _square(-1.70, 48.10, 0.03),
            },
            {
                "type": "Feature",
                "properties": {"code_insee": "35002", "nom": "Est", "population": 2000},
                "geometry": _square(-1.67, 48.10, 0.03),
            },
        ],
    }
    (tmp_path / "communes.geojson").write_text(json.dumps(data), encoding="utf-8")
    (tmp_path / "stations.csv").write_text(
        "station_id,name,kind,lon,lat\n"
        "p1,Commissariat,police_nationale,-1.685,48.115\n"
        "g1,Brigade,gendarmerie,-1.655,48.115\n"
        "g2,Brigade bis,gendarmerie,-1.645,48.125\n",
        encoding="utf-8",
    )


def test_agencies_take_their_stations_by_kind_from_a_csv_layer(tmp_path: Path) -> None:
    _breton_communes(tmp_path)
    block = "    communes: {path: communes.geojson}\n    stations: {path: stations.csv}"
    extra = (
        "  gendarmes:\n    kind: gendarmerie\n    communes: [Est]\n    units: 4\n"
        "    stations: {kind: gendarmerie}\n    powers: {judicial: true}"
    )
    path = _scenario(tmp_path, block, extra)
    scenario = load_scenario(path, ["run.days=1", "run.warmup_days=0"], (territory_findings,))
    model = SecurityModel(scenario, seed=1)
    t = model.territory
    assert t.station_ids == ("p1", "g1", "g2")
    east = t.commune_index("Est")
    gendarmes = model.agencies[1]
    assert gendarmes.station_names == ("g1", "g2")
    assert (t.commune[gendarmes.station_cells] == east).all()
    assert [u.station_cell for u in model.units[1]] == [
        int(gendarmes.station_cells[k % 2]) for k in range(4)
    ]
    # No gendarmerie station in Ouest: a located message, with the kinds there are.
    wrong = _scenario(tmp_path, block, extra.replace("[Est]", "[Ouest]"))
    text = _problems(wrong)
    assert "agencies.gendarmes.stations.kind: no station of kind 'gendarmerie'" in text
    assert "kinds: gendarmerie, police_nationale" in text


def test_missing_attribute_names_file_feature_and_field(tmp_path: Path) -> None:
    _two_communes(tmp_path)
    path = _scenario(tmp_path, "    communes: {path: communes.geojson, population: pop}")
    text = _problems(path)
    assert "tiny.yaml:7:" in text and "territory.file.communes.path" in text
    assert "communes.geojson: feature 1 (code_insee A): field 'pop': missing" in text
    assert "attributes are: code_insee, nom, population" in text


def test_settings_of_the_other_kind_of_territory_are_refused(tmp_path: Path) -> None:
    _two_communes(tmp_path)
    path = _scenario(tmp_path, "    communes: {path: communes.geojson}")
    text = _problems(path, ("territory.extent_km=15",))
    assert "territory.extent_km: not used by a file territory" in text
    text = _problems(path, ("territory.kind=synthetic",))
    assert "territory.file: read only by a file territory: add territory.kind: file" in text


def test_geographic_crs_is_refused_for_cells(tmp_path: Path) -> None:
    _two_communes(tmp_path)
    path = _scenario(tmp_path, "    crs: EPSG:4326\n    communes: {path: communes.geojson}")
    text = _problems(path)
    assert "territory.file.crs" in text and "not a projected CRS in metres" in text


def test_district_outside_its_commune(tmp_path: Path) -> None:
    _two_communes(tmp_path)
    _write_layer(
        tmp_path / "districts.geojson",
        [({"code": "A1", "nom": "A one", "commune": "A", "population": 10},
          _square(X0 + 2200, Y0 + 200, 500))],
    )  # fmt: skip
    block = (
        "    communes: {path: communes.geojson}\n"
        "    districts: {path: districts.geojson, commune: commune}"
    )
    text = _problems(_scenario(tmp_path, block))
    assert "districts.geojson: feature 1 (code A1): field 'commune'" in text
    assert "outside its commune A (Aville)" in text


def test_unknown_commune_code_suggests_merged_communes(tmp_path: Path) -> None:
    _two_communes(tmp_path)
    _write_layer(
        tmp_path / "districts.geojson",
        [({"code": "Z1", "nom": "Old", "commune": "OLD", "population": 10},
          _square(X0 + 200, Y0 + 200, 500))],
    )  # fmt: skip
    block = (
        "    communes: {path: communes.geojson}\n"
        "    districts: {path: districts.geojson, commune: commune}"
    )
    text = _problems(_scenario(tmp_path, block))
    assert "unknown commune code OLD" in text and "merged_communes" in text
    merged = _scenario(tmp_path, block + "\n    merged_communes: {OLD: A}")
    scenario = load_scenario(merged, (), (territory_findings,))
    t = build_territory(scenario.territory)
    assert t.district_commune[t.district_ids.index("Z1")] == t.commune_index("A")


def test_a_commune_that_gets_no_cell(tmp_path: Path) -> None:
    _two_communes(tmp_path)
    # Two slivers in one cell: the first keeps it, the second gets none.
    _write_layer(
        tmp_path / "communes.geojson",
        [
            ({"code_insee": "A", "nom": "Aville", "population": 1000}, _square(X0, Y0, 2000)),
            ({"code_insee": "S1", "nom": "Sliver one", "population": 5},
             _square(X0 + 2000, Y0, 10)),
            ({"code_insee": "S2", "nom": "Sliver two", "population": 5},
             _square(X0 + 2010, Y0, 10)),
        ],
    )  # fmt: skip
    text = _problems(_scenario(tmp_path, "    communes: {path: communes.geojson}"))
    assert "feature 2 (code_insee S1): commune Sliver one gets no cell of 200 m" in text


def test_a_sliver_keeps_the_cell_under_it(tmp_path: Path) -> None:
    _write_layer(
        tmp_path / "communes.geojson",
        [
            ({"code_insee": "A", "nom": "Aville", "population": 1000}, _square(X0, Y0, 2000)),
            ({"code_insee": "S1", "nom": "Sliver", "population": 5}, _square(X0 + 2000, Y0, 10)),
        ],
    )
    scenario = load_scenario(_scenario(tmp_path, "    communes: {path: communes.geojson}"))
    t = build_territory(scenario.territory)
    sliver = t.commune == t.commune_index("S1")
    assert int(sliver.sum()) == 1
    assert int(t.residents[sliver].sum()) == 5


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such file"),
        ("{not json", "not valid GeoJSON"),
        ('{"type": "Feature"}', "not a GeoJSON FeatureCollection"),
    ],
)
def test_unreadable_files(tmp_path: Path, content: str | None, expected: str) -> None:
    if content is not None:
        (tmp_path / "communes.geojson").write_text(content, encoding="utf-8")
    text = _problems(_scenario(tmp_path, "    communes: {path: communes.geojson}"))
    assert f"communes.geojson: {expected}" in text


def test_geopackage_without_the_gis_extra_says_what_to_install(tmp_path: Path) -> None:
    if importlib.util.find_spec("geopandas") is not None:
        pytest.skip("geopandas is installed: the extra is there")
    (tmp_path / "communes.gpkg").write_bytes(b"")
    text = _problems(_scenario(tmp_path, "    communes: {path: communes.gpkg}"))
    assert "pip install 'secsim[gis]'" in text


def test_agency_naming_an_unknown_commune_of_a_file_territory(tmp_path: Path) -> None:
    _two_communes(tmp_path)
    extra = "  pm:\n    kind: municipal_police\n    communes: [Avile]\n    units: 1"
    text = _problems(_scenario(tmp_path, "    communes: {path: communes.geojson}", extra))
    assert "agencies.pm.communes.0: unknown commune 'Avile' (did you mean 'Aville'?)" in text


def test_cli_exits_2_and_writes_nothing_on_a_bad_file(tmp_path: Path, capsys: Any) -> None:
    _two_communes(tmp_path)
    path = _scenario(tmp_path, "    communes: {path: communes.geojson, name: name}")
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 2
    assert not out.exists()
    err = capsys.readouterr().err
    assert "feature 1 (code_insee A): field 'name': missing" in err
    assert "Traceback" not in err
    assert main(["validate", str(path)]) == 2


def test_show_prints_the_districts_and_why_each_type(capsys: Any) -> None:
    assert main(["show", str(TOULOUSE)]) == 0
    out = capsys.readouterr().out
    assert "# Territory built from files (EPSG:2154, cells of 200 m)" in out
    assert "3155501  CAPITOLE  Toulouse  city_centre (" in out
    assert "3155510  MATABIAU  Toulouse  transit_hub (set in territory.file.district_types)" in out
    assert "QP031010  Empalot  Toulouse  qpv (QPV carved from the qpv layer)" in out
    assert "3155536  GINESTOUS  Toulouse  industrial (activity IRIS hold 100% of" in out
    assert "31352  Mondouzil  Mondouzil  peri_urban (" in out


def test_figure_one_draws_a_real_territory(tmp_path: Path) -> None:
    out = tmp_path / "figures"
    assert main(["figures", "--map", str(TOULOUSE), "--out", str(out)]) == 0
    for ext in ("png", "pdf", "txt"):
        assert (out / f"fig1_territory_toulouse_metropole.{ext}").stat().st_size > 0
    caption = (out / "fig1_territory_toulouse_metropole.txt").read_text(encoding="utf-8")
    assert caption.startswith("Figure 1 (toulouse_metropole.yaml).")
    assert "Made by: secsim figures --map" in caption


# --------------------------------------------------------------------------- property


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seeds=st.lists(
        st.tuples(st.floats(0.02, 0.98), st.floats(0.02, 0.98)), min_size=1, max_size=12
    ),
    width=st.floats(800, 3000),
    height=st.floats(800, 3000),
    cell_m=st.sampled_from([100.0, 150.0, 250.0]),
)
def test_random_partitions_cover_every_land_cell_exactly_once(
    seeds: list[tuple[float, float]], width: float, height: float, cell_m: float
) -> None:
    box = shapely.box(X0, Y0, X0 + width, Y0 + height)
    points = shapely.MultiPoint([(X0 + u * width, Y0 + v * height) for u, v in seeds])
    cells = [
        p.intersection(box)
        for p in shapely.get_parts(shapely.voronoi_polygons(points, extend_to=box))
    ]
    cells = [c for c in cells if not c.is_empty and c.area > 0] or [box]
    with tempfile.TemporaryDirectory() as tmp:
        features = [
            (
                {"code_insee": f"C{k}", "nom": f"C{k}", "population": 100 * (k + 1)},
                shapely.geometry.mapping(c),
            )
            for k, c in enumerate(cells)
        ]
        layer = _write_layer(Path(tmp) / "communes.geojson", features)
        spec = TerritorySpec.model_validate(
            {"kind": "file", "cell_m": cell_m, "file": {"communes": {"path": str(layer)}}}
        )
        try:
            t = build_territory(spec)
        except TerritoryError as exc:
            # Only a sliver too thin for any cell may fail, and it must say so.
            assert "gets no cell" in str(exc)
            return
    x = t.x_m + t.origin_m[0]
    y = t.y_m + t.origin_m[1]
    inside = shapely.contains_xy(box, x, y)
    assert (t.land == (t.commune >= 0)).all()
    # Every cell centre inside the partition is land, of one commune only.
    assert t.land[inside].all()
    hits = np.zeros(t.n_cells, dtype=int)
    for c in cells:
        hits += shapely.contains_xy(c, x, y)
    exact = inside & (hits == 1)  # centres on a shared edge may go either way
    for k, c in enumerate(cells):
        mine = exact & (t.commune == k)
        if shapely.contains_xy(c, x, y).any():
            assert shapely.contains_xy(c, x[mine], y[mine]).all()
        else:  # a sliver holding no centre keeps the one cell under it
            assert np.count_nonzero(t.commune == k) == 1
    # Communes too small to hold a centre keep one cell; populations are conserved.
    for k in range(len(cells)):
        assert (t.commune == k).any()
        assert int(t.residents[t.commune == k].sum()) == 100 * (k + 1)


@pytest.mark.parametrize(
    ("stations", "message"),
    [
        ("[nowhere, centre]", "stations.0: unknown commune 'nowhere'"),
        ("{kind: gendarmerie}", "stations of a kind come from a stations layer"),
    ],
)
def test_stations_on_a_synthetic_territory_are_checked_communes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], stations: str, message: str
) -> None:
    baseline = ROOT / "scenarios" / "baseline.yaml"
    sets = ["agencies.state_police.station=null", f"agencies.state_police.stations={stations}"]
    args = ["run", str(baseline), "--days", "1", "--out", str(tmp_path / "out")]
    for s in sets:
        args += ["--set", s]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_fewer_crews_than_stations_leave_no_sector_unpatrolled() -> None:
    # Toulouse's gendarmerie: six stations, five crews. Sectors are drawn over the
    # stations that have a crew, so random patrol still reaches every cell it polices.
    scenario = load_scenario(ROOT / "scenarios" / "toulouse_metropole.yaml", ["run.days=1"])
    model = SecurityModel(scenario, 1)
    agency = next(a for a in model.agencies if a.name == "gendarmerie")
    units = model.units[agency.index]
    assert agency.spec.patrol.strategy == "random"
    assert len(units) < agency.station_cells.size
    patrolled = np.unique(np.concatenate([u.patrol._cells for u in units]))  # type: ignore[attr-defined]
    assert np.array_equal(patrolled, np.unique(agency.cells))


def test_a_scenario_built_without_the_territory_check_is_checked_by_run() -> None:
    # A Python user who loads without the CLI's checks still gets a located refusal.
    scenario = load_scenario(TOULOUSE, ['agencies.pm_colomiers.communes=["Colomier"]'])
    assert not scenario.passed(territory_findings)
    with pytest.raises(ScenarioError, match=r"agencies\.pm_colomiers\.communes\.0.*Colomiers"):
        run(scenario, seed=1)
