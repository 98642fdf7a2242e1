"""Uploaded survey files → GeoJSON: the coordinate-list parser, and POST /api/v1/uploads on the real app."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import shape
from shapely.testing import assert_geometries_equal
from sqlalchemy import text

from app.db import make_engine
from gis.coordlist import parse_coordinate_list
from gis.crs import transform_geom
from gis.errors import GisInputError
from gis.rules.factories import company
from tests.api_helpers import (
    AS_OF,
    CONFIRMED,
    SHOWCASE,
    api_client,
    auth,
    make_token,
    parcel_geometry,
    split_lots,
)

SURVEY = Path(__file__).resolve().parents[1] / "examples" / "survey"
# A 100 m × 80 m square in the development zone (EPSG:4549, x = easting, y = northing; ≈ 121.03°E 29.14°N)
E0, N0 = 601000.0, 3225000.0
SQUARE = shapely.box(E0, N0, E0 + 100, N0 + 80)
UPLOAD = "/api/v1/uploads"


def xy_lines(geom, *, prefix: float = 0.0, close: bool = False, sep: str = ",") -> list[str]:
    """The exterior of ``geom`` as ``点号,X,Y`` lines (X = northing, Y = easting)."""
    coords = list(geom.exterior.coords)
    coords = coords if close else coords[:-1]
    return [f"J{i}{sep}{y:.3f}{sep}{x + prefix:.3f}" for i, (x, y) in enumerate(coords, 1)]


def codes(parsed) -> list[str]:
    return [w.code for w in parsed.warnings]


# ------------------------------------------------------------------------------ the pure parser


def test_simple_table_with_header_is_read_with_x_as_northing():
    parsed = parse_coordinate_list("\n".join(["点号,X,Y", *xy_lines(SQUARE)]).encode())
    assert parsed.format == "coordinate-list" and parsed.source_crs.key == "EPSG:4549"
    [lot] = parsed.lots
    assert lot.label == "A"
    assert_geometries_equal(shapely.normalize(lot.geometry), shapely.normalize(SQUARE))


def test_gbk_file_with_chinese_commas_and_header():
    body = "\n".join(["界址点号，X坐标，Y坐标", *xy_lines(SQUARE, sep="，")]).encode("gbk")
    parsed = parse_coordinate_list(body)
    assert parsed.encoding == "GBK" and "encoding-guessed" in codes(parsed)
    assert parsed.lots[0].geometry.area == pytest.approx(8000.0, abs=0.01)


def test_utf8_bom_tabs_and_no_header():
    parsed = parse_coordinate_list(("\ufeff" + "\n".join(xy_lines(SQUARE, sep="\t"))).encode("utf-8"))
    assert parsed.encoding == "UTF-8 (BOM)" and "encoding-guessed" not in codes(parsed)
    assert parsed.lots[0].geometry.area == pytest.approx(8000.0, abs=0.01)


def test_whitespace_separated():
    parsed = parse_coordinate_list("\n".join(xy_lines(SQUARE, sep="   ")).encode())
    assert parsed.lots[0].geometry.area == pytest.approx(8000.0, abs=0.01)


def test_blank_lines_separate_lots_labelled_a_b():
    other = shapely.box(E0 + 200, N0, E0 + 260, N0 + 50)
    parsed = parse_coordinate_list("\n".join(["点号,X,Y", *xy_lines(SQUARE), "", "", *xy_lines(other)]).encode())
    assert [lot.label for lot in parsed.lots] == ["A", "B"]
    assert [round(lot.geometry.area, 2) for lot in parsed.lots] == [8000.0, 3000.0]


def test_lot_column_names_the_lots():
    other = shapely.box(E0 + 200, N0, E0 + 260, N0 + 50)
    lines = ["地块编号,点号,X,Y"] + [f"东区,{line}" for line in xy_lines(SQUARE)] \
        + [f"西区,{line}" for line in xy_lines(other)]
    parsed = parse_coordinate_list("\n".join(lines).encode("gbk"))
    assert [lot.label for lot in parsed.lots] == ["东区", "西区"]
    assert parsed.lots[1].geometry.area == pytest.approx(3000.0)


def test_unclosed_ring_is_closed_with_a_warning_and_a_closed_one_is_not():
    open_ = parse_coordinate_list("\n".join(xy_lines(SQUARE)).encode())
    closed = parse_coordinate_list("\n".join(xy_lines(SQUARE, close=True)).encode())
    assert "ring-closed" in codes(open_) and "ring-closed" not in codes(closed)
    assert open_.lots[0].geometry.equals(closed.lots[0].geometry)


def test_zone_prefixed_y_is_read_as_4528_into_storage_coordinates():
    parsed = parse_coordinate_list("\n".join(xy_lines(SQUARE, prefix=40_000_000)).encode())
    assert parsed.source_crs.key == "EPSG:4528" and "zone-prefixed" in codes(parsed)
    assert parsed.lots[0].geometry.bounds == pytest.approx(SQUARE.bounds, abs=1e-6)


def test_another_zone_prefix_is_reported():
    with pytest.raises(GisInputError) as err:
        parse_coordinate_list("\n".join(xy_lines(SQUARE, prefix=39_000_000)).encode())
    assert err.value.code == "wrong-zone" and "39" in err.value.detail_en


def test_swapped_axes_are_refused_with_a_bilingual_message():
    swapped = [f"J{i},{x:.3f},{y:.3f}" for i, (x, y) in enumerate(list(SQUARE.exterior.coords)[:-1], 1)]
    with pytest.raises(GisInputError) as err:
        parse_coordinate_list("\n".join(["点号,X,Y", *swapped]).encode())
    e = err.value
    assert e.code == "axis-order-swapped" and e.status == 400
    assert "颠倒" in e.detail_zh and "swapped" in e.detail_en and e.extra["line"] == 2


def test_malformed_line_is_refused_with_its_number():
    lines = ["点号,X,Y", *xy_lines(SQUARE)]
    lines[3] = "J3,3225080.000,60l100.000"
    with pytest.raises(GisInputError) as err:
        parse_coordinate_list("\n".join(lines).encode())
    assert err.value.code == "malformed-line" and err.value.extra["line"] == 4
    assert "第 4 行" in err.value.detail_zh and "line 4" in err.value.detail_en


def test_fewer_than_three_distinct_points_is_refused():
    body = "J1,3225000,601000\nJ2,3225000,601100\nJ3,3225000,601100\nJ4,3225000,601000\n"
    with pytest.raises(GisInputError) as err:
        parse_coordinate_list(body.encode())
    assert err.value.code == "too-few-points" and err.value.extra["line"] == 1


def test_duplicate_consecutive_points_are_dropped_with_a_warning():
    lines = xy_lines(SQUARE)
    parsed = parse_coordinate_list("\n".join([lines[0], lines[1], lines[1], *lines[2:]]).encode())
    assert "duplicate-points-dropped" in codes(parsed)
    assert shapely.get_num_coordinates(parsed.lots[0].geometry) == 5


def test_self_intersecting_lot_is_returned_unrepaired():
    bowtie = ["J1,3225000,601000", "J2,3225100,601100", "J3,3225000,601100", "J4,3225100,601000"]
    [lot] = parse_coordinate_list("\n".join(bowtie).encode()).lots
    assert not lot.geometry.is_valid and shapely.get_num_coordinates(lot.geometry) == 5


def test_unknown_format_and_empty_text():
    with pytest.raises(GisInputError) as err:
        parse_coordinate_list(b"\x00\x01\x02\x03binary")
    assert err.value.code == "unknown-format"
    with pytest.raises(GisInputError) as err:
        parse_coordinate_list(b"\n\n  \n")
    assert err.value.code == "empty-file"
    with pytest.raises(GisInputError) as err:
        parse_coordinate_list(b"a,b,c,d,e,f\n1,2,3,4,5,6\n")
    assert err.value.code in ("unknown-format", "malformed-line")


MINISTRY = """[属性描述]
格式版本号=1.01
坐标系=2000国家大地坐标系
几度分带=3
投影类型=高斯克吕格
计量单位=米
带号=40
精度=0.001
[地块坐标]
{lots}
"""


def ministry_lot(header: str, rings: list[list[str]]) -> str:
    lines = [header]
    for r, ring in enumerate(rings, 1):
        lines += [f"{p.split(',')[0]},{r},{','.join(p.split(',')[1:])}" for p in ring]
    return "\n".join(lines)


def test_ministry_format_with_a_hole_zone_prefix_and_attributes():
    hole = shapely.box(E0 + 20, N0 + 20, E0 + 40, N0 + 30)
    lot = ministry_lot("10,0.78,DK-1,一号地块,面,,工业用地,0601,@",
                       [xy_lines(SQUARE, prefix=40e6, close=True), xy_lines(hole, prefix=40e6, close=True)])
    parsed = parse_coordinate_list(MINISTRY.format(lots=lot).replace("\n", "\r\n").encode("gbk"))
    assert parsed.format == "ministry-exchange" and parsed.source_crs.key == "EPSG:4528"
    [got] = parsed.lots
    assert got.label == "DK-1" and got.attributes["地块名称"] == "一号地块" and got.attributes["地类编码"] == "0601"
    assert got.geometry.geom_type == "Polygon" and len(got.geometry.interiors) == 1
    assert got.geometry.area == pytest.approx(8000.0 - 200.0, abs=1e-6)
    assert "area-mismatch" not in codes(parsed) and "ring-closed" not in codes(parsed)


def test_ministry_ring_two_outside_the_first_is_a_second_part():
    far = shapely.box(E0 + 300, N0, E0 + 350, N0 + 40)
    lot = ministry_lot("9,1.0,,,面,,,,@", [xy_lines(SQUARE, close=True), xy_lines(far, close=True)])
    parsed = parse_coordinate_list(MINISTRY.format(lots=lot).encode("utf-8"))
    [got] = parsed.lots
    assert got.label == "A" and got.geometry.geom_type == "MultiPolygon"
    assert got.geometry.area == pytest.approx(10000.0) and "area-mismatch" not in codes(parsed)


def test_ministry_other_datum_is_refused():
    body = MINISTRY.replace("2000国家大地坐标系", "1980西安坐标系").format(
        lots=ministry_lot("5,0.8,1,,面,,,,@", [xy_lines(SQUARE, close=True)]))
    with pytest.raises(GisInputError) as err:
        parse_coordinate_list(body.encode("gbk"))
    assert err.value.code == "unsupported-crs" and "西安" in err.value.detail_zh


def test_ministry_point_line_before_a_lot_line_is_malformed():
    body = MINISTRY.format(lots="J1,1,3225000,40601000")
    with pytest.raises(GisInputError) as err:
        parse_coordinate_list(body.encode())
    assert err.value.code == "malformed-line" and err.value.extra["line"] == 10


def test_the_two_example_files_describe_the_same_three_lots():
    csv = parse_coordinate_list((SURVEY / "split-lots-4549.csv").read_bytes())
    txt = parse_coordinate_list((SURVEY / "split-lots-ministry.txt").read_bytes())
    assert txt.format == "ministry-exchange" and txt.encoding == "GBK"
    assert [lot.label for lot in csv.lots] == [lot.label for lot in txt.lots] == ["A", "B", "C"]
    for a, b in zip(csv.lots, txt.lots, strict=True):
        assert a.geometry.area == pytest.approx(b.geometry.area, abs=0.01)
    assert [round(lot.geometry.area) for lot in csv.lots] == [15000, 7500, 7500]


# ------------------------------------------------------------------------------ the endpoint


@pytest.fixture(scope="module")
def client(sample_settings_module):
    with api_client(sample_settings_module) as c:
        c.headers.update(auth(make_token(sample_settings_module, "officer", "uploader")))
        yield c


def post(client, data: bytes, name: str = "upload.bin", **params):
    return client.post(UPLOAD, files={"file": (name, data)}, params=params)


def areas_4549(doc) -> list[float]:
    """Areas (m², EPSG:4549) of a response's features, whatever its CRS."""
    out = []
    for f in doc["features"]:
        g = shape(f["geometry"])
        if doc["crs"].endswith("4549"):
            g = shapely.transform(g, lambda c: c[:, ::-1])
        else:
            g = transform_geom(g, "OGC:CRS84", 4549)
        out.append(g.area)
    return out


def problem(resp, status: int, code: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["detail_zh"] and body["detail_en"]
    if code:
        assert body["code"] == code, body
    return body


def shapefile_zip(tmp_path: Path, *, cpg: bool = True, prj: bool = True) -> bytes:
    lots = gpd.GeoDataFrame(
        {"地块编号": ["东1", "东2"], "名称": ["一号地块（拟转让）", "二号地块"], "面积": [8000.0, 3000.0]},
        geometry=[SQUARE, shapely.box(E0 + 200, N0, E0 + 260, N0 + 50)], crs=4549)
    lots.to_file(tmp_path / "lots.shp", encoding="GBK", engine="pyogrio")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(tmp_path.iterdir()):
            if (p.suffix == ".cpg" and not cpg) or (p.suffix == ".prj" and not prj):
                continue
            zf.write(p, f"成果/{p.name}")
    return buf.getvalue()


@pytest.mark.parametrize("cpg", [True, False], ids=["with-cpg", "without-cpg"])
def test_gbk_shapefile_zip_round_trips_chinese_attributes(client, tmp_path, cpg):
    resp = post(client, shapefile_zip(tmp_path, cpg=cpg), "lots.zip")
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert doc["format"] == "shapefile" and doc["count"] == 2
    assert doc["source_crs"] == "http://www.opengis.net/def/crs/EPSG/0/4549"
    assert doc["crs"] == "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
    props = [f["properties"] for f in doc["features"]]
    assert [p["名称"] for p in props] == ["一号地块（拟转让）", "二号地块"]
    assert [p["label"] for p in props] == ["东1", "东2"]
    assert ("encoding-guessed" in [w["code"] for w in doc["warnings"]]) is not cpg
    lon, lat = doc["features"][0]["geometry"]["coordinates"][0][0]
    assert 120.69 < lon < 121.27 and 28.95 < lat < 29.36
    assert areas_4549(doc) == pytest.approx([8000.0, 3000.0], abs=0.01)


def test_shapefile_in_4549_output_is_northing_first(client, tmp_path):
    doc = post(client, shapefile_zip(tmp_path), "lots.zip", crs="EPSG:4549").json()
    assert doc["crs"] == "http://www.opengis.net/def/crs/EPSG/0/4549"
    ring = doc["features"][0]["geometry"]["coordinates"][0]
    assert sorted({round(p[0], 3) for p in ring}) == [N0, N0 + 80]
    assert sorted({round(p[1], 3) for p in ring}) == [E0, E0 + 100]
    assert areas_4549(doc) == pytest.approx([8000.0, 3000.0], abs=0.01)


def test_shapefile_without_prj_needs_source_crs(client, tmp_path):
    data = shapefile_zip(tmp_path, prj=False)
    body = problem(post(client, data, "lots.zip"), 400, "no-crs")
    assert "source_crs" in body["detail_en"] and ".prj" in body["detail_en"]
    resp = post(client, data, "lots.zip", source_crs="EPSG:4549")
    assert resp.status_code == 200 and areas_4549(resp.json()) == pytest.approx([8000.0, 3000.0], abs=0.01)


def test_geopackage(client, tmp_path):
    gdf = gpd.GeoDataFrame({"lot": ["甲", "乙"]}, crs=4549,
                           geometry=[SQUARE, shapely.box(E0 + 200, N0, E0 + 260, N0 + 50)])
    path = tmp_path / "lots.gpkg"
    gdf.to_file(path, layer="proposed", engine="pyogrio")
    resp = post(client, path.read_bytes(), "whatever.dat", crs="EPSG:4549")
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert doc["format"] == "gpkg" and [f["properties"]["label"] for f in doc["features"]] == ["甲", "乙"]
    assert areas_4549(doc) == pytest.approx([8000.0, 3000.0], abs=0.01)


def test_geojson_in_crs84(client):
    lonlat = transform_geom(SQUARE, 4549, "OGC:CRS84")
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": shapely.geometry.mapping(lonlat), "properties": {"地块名称": "一号"}}]}
    resp = post(client, json.dumps(fc, ensure_ascii=False).encode(), "lots.geojson")
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert doc["format"] == "geojson" and doc["source_crs"].endswith("CRS84")
    assert doc["features"][0]["properties"] == {"地块名称": "一号", "label": "一号"}
    assert areas_4549(doc) == pytest.approx([8000.0], abs=0.01)
    doc = post(client, json.dumps(fc).encode(), "lots.json", crs="http://www.opengis.net/def/crs/EPSG/0/4549").json()
    assert areas_4549(doc) == pytest.approx([8000.0], abs=0.01)
    assert doc["features"][0]["geometry"]["coordinates"][0][0][0] > 3_000_000


@pytest.mark.parametrize("crs", [None, "EPSG:4549"])
def test_coordinate_lists_in_both_shapes(client, crs):
    csv = post(client, (SURVEY / "split-lots-4549.csv").read_bytes(), "a.csv", **({"crs": crs} if crs else {}))
    txt = post(client, (SURVEY / "split-lots-ministry.txt").read_bytes(), "b.txt", **({"crs": crs} if crs else {}))
    assert csv.status_code == 200 and txt.status_code == 200, (csv.text, txt.text)
    a, b = csv.json(), txt.json()
    assert a["format"] == "coordinate-list" and b["format"] == "ministry-exchange"
    assert b["source_crs"].endswith("/4528") and b["features"][0]["properties"]["地块名称"] == "分割地块A"
    assert "encoding-guessed" in [w["code"] for w in b["warnings"]]
    assert areas_4549(a) == pytest.approx(areas_4549(b), abs=0.01)
    expected = [lot.geometry.area for lot in parse_coordinate_list((SURVEY / "split-lots-4549.csv").read_bytes()).lots]
    assert areas_4549(a) == pytest.approx(expected, abs=0.01)
    if crs:
        first = (SURVEY / "split-lots-4549.csv").read_text(encoding="utf-8").splitlines()[1].split(",")
        assert a["features"][0]["geometry"]["coordinates"][0][0] == [float(first[2]), float(first[3])]


def test_uploaded_lots_check_against_the_stored_parcel(client, sample_settings_module):
    case = SHOWCASE["split_ok"]
    lots = split_lots(parcel_geometry(sample_settings_module, case["parcel_code"]), case["cut_line_epsg4549"][0][0])
    lines = ["地块号,点号,X,Y"]
    for f in lots["features"]:
        for i, (n, e) in enumerate(f["geometry"]["coordinates"][0][:-1], 1):
            lines.append(f"{f['properties']['label']},J{i},{n!r},{e!r}")
    doc = post(client, "\n".join(lines).encode("gbk"), "lots.csv", crs="EPSG:4549").json()
    assert [f["properties"]["label"] for f in doc["features"]] == ["W", "E"]
    doc["features"][0]["properties"]["retained"] = True
    doc["features"][1]["properties"]["transferee"] = company(rating="B")
    req = {"as_of": AS_OF, "parcel": case["parcel_code"], "lots": doc, "confirmations": CONFIRMED}
    resp = client.post("/api/v1/checks/split", params={"crs": "EPSG:4549"}, json=req)
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert report["verdict"] == "pass", [r for r in report["results"] if r["status"] != "pass"]


def test_example_ministry_file_checks_against_its_parcel(client):
    doc = post(client, (SURVEY / "split-lots-ministry.txt").read_bytes(), "lots.txt").json()
    doc["features"][0]["properties"]["retained"] = True
    for f in doc["features"][1:]:
        f["properties"]["transferee"] = company(rating="B")
    req = {"as_of": AS_OF, "parcel": "331023002001GB00009", "lots": doc, "confirmations": CONFIRMED}
    resp = client.post("/api/v1/checks/split", json=req)
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert report["verdict"] == "pass", [r for r in report["results"] if r["status"] != "pass"]
    assert [lot["label"] for lot in report["lots"]] == ["A", "B", "C"]
    assert [round(lot["area_m2"]) for lot in report["lots"]] == [15000, 7500, 7500]


def test_upload_changes_nothing_in_the_database(client, sample_settings_module):
    engine = make_engine(sample_settings_module)
    sql = ("SELECT (SELECT count(*) FROM parcels) + (SELECT count(*) FROM audit_log) "
           "+ (SELECT count(*) FROM checks)")
    try:
        with engine.connect() as conn:
            before = conn.execute(text(sql)).scalar()
        assert post(client, (SURVEY / "split-lots-4549.csv").read_bytes()).status_code == 200
        with engine.connect() as conn:
            assert conn.execute(text(sql)).scalar() == before
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize("data", [
    os.urandom(4096), b"PK\x03\x04" + os.urandom(200), b"SQLite format 3\x00" + os.urandom(500),
    b'{"type": "FeatureCollection", "features": [', b"\xff\xfe\x00\xd8\x00\xd8", b"\x00\x00\x27\x0a" + bytes(96),
    b"\xd0\xcf\x11\xe0" + bytes(60), b"[]", b"{}", b"null",
], ids=["random", "truncated-zip", "bad-gpkg", "truncated-json", "bad-utf16", "bare-shp", "excel", "empty-list",
        "empty-object", "null"])
def test_garbage_is_a_4xx_problem(client, data):
    resp = post(client, data)
    assert 400 <= resp.status_code < 500, resp.text
    problem(resp, resp.status_code)


def test_empty_file(client):
    problem(post(client, b""), 422, "empty-file")


def test_points_only_is_422(client):
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [121.03, 29.14]}, "properties": {}}]}
    body = problem(post(client, json.dumps(fc).encode()), 422, "not-a-polygon")
    assert "Point" in body["detail_en"]


def test_points_only_shapefile_is_422(client, tmp_path):
    gpd.GeoDataFrame({"n": [1]}, geometry=[shapely.Point(E0, N0)], crs=4549).to_file(tmp_path / "p.shp")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in tmp_path.iterdir():
            zf.write(p, p.name)
    problem(post(client, buf.getvalue(), "p.zip"), 422, "not-a-polygon")


def test_zip_bomb_is_refused_before_extracting(client):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("lots.csv", "w", force_zip64=True) as fh:
        chunk = bytes(1 << 20)
        for _ in range(101):
            fh.write(chunk)
    assert len(buf.getvalue()) < 1_000_000
    problem(post(client, buf.getvalue(), "lots.zip"), 413, "zip-too-large")


def test_too_many_features_is_413(client):
    feats = [{"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(
        transform_geom(shapely.box(E0 + 3 * i, N0, E0 + 3 * i + 2, N0 + 2), 4549, "OGC:CRS84"))} for i in range(1001)]
    problem(post(client, json.dumps({"type": "FeatureCollection", "features": feats}).encode()), 413,
            "too-many-features")


def test_swapped_axes_upload_is_400(client):
    swapped = [f"J{i},{x:.3f},{y:.3f}" for i, (x, y) in enumerate(list(SQUARE.exterior.coords)[:-1], 1)]
    problem(post(client, "\n".join(swapped).encode(), "lots.txt"), 400, "axis-order-swapped")


def test_unknown_output_crs_is_400(client):
    problem(post(client, (SURVEY / "split-lots-4549.csv").read_bytes(), crs="EPSG:999999"), 400, "unknown-crs")


def test_no_token_is_401_and_viewer_is_403(sample_settings_module):
    data = (SURVEY / "split-lots-4549.csv").read_bytes()
    with api_client(sample_settings_module) as c:
        problem(c.post(UPLOAD, files={"file": ("a.csv", data)}), 401)
        viewer = auth(make_token(sample_settings_module, "viewer"))
        problem(c.post(UPLOAD, files={"file": ("a.csv", data)}, headers=viewer), 403, "forbidden")


def test_openapi_documents_the_upload(client):
    op = client.get("/openapi.json").json()["paths"][UPLOAD]["post"]
    assert "界址点" in op["description"] and "ministry-exchange" in op["description"]
    assert "/" in op["summary"]


def test_too_many_vertices_is_413(client):
    import numpy as np

    t = np.linspace(0, 2 * np.pi, 100_001, endpoint=False)
    lines = [f"{N0 + 400 + 300 * np.sin(a):.3f},{E0 + 300 * np.cos(a):.3f}" for a in t]
    problem(post(client, "\n".join(lines).encode(), "circle.txt"), 413, "too-many-vertices")


@pytest.mark.parametrize("easting_first", [False, True], ids=["authority-order", "gis-software-order"])
def test_geojson_with_a_4549_crs_member_in_either_axis_order(client, easting_first):
    ring = [list(p) if easting_first else [p[1], p[0]] for p in SQUARE.exterior.coords]
    fc = {"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4549"}},
          "features": [{"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ring]}}]}
    resp = post(client, json.dumps(fc).encode(), "qgis.geojson", crs="EPSG:4549")
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert doc["source_crs"].endswith("/4549") and doc["features"][0]["properties"]["label"] == "A"
    assert ("easting-first" in [w["code"] for w in doc["warnings"]]) is easting_first
    assert doc["features"][0]["geometry"]["coordinates"][0][0] == [N0, E0 + 100]
