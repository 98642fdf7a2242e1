"""``/ogc/collections/{id}/download``: every format read back and compared with the database."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import zipfile
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely
from sqlalchemy import text

from tests.api_helpers import api_client

TAIHE = ("331023002001GB00002", "泰和公司年产105万件汽车零部件项目")
# collection → (SQL of its rows, area property, its Shapefile name, the parcel-code field in a Shapefile)
COLLECTIONS = {
    "parcels": ("FROM parcels p WHERE p.valid_to IS NULL", "area_m2", "ZDMJ"),
    "buildings": ("FROM buildings b JOIN parcels p ON p.id = b.parcel_id WHERE p.valid_to IS NULL",
                  "footprint_m2", "JDMJ"),
}
FILTERS = {  # query → SQL condition on the parcels rows
    "town=平桥镇": "p.town = '平桥镇'",
    "filter=area_mu > 20": "p.area_mu > 20",
}


@pytest.fixture(scope="module")
def client(open_settings):
    with api_client(open_settings) as c:
        yield c


def _count(open_db, collection: str, condition: str = "TRUE") -> int:
    with open_db.connect() as conn:
        return conn.execute(text(f"SELECT count(*) {COLLECTIONS[collection][0]} AND {condition}")).scalar_one()


def _download(client, collection: str, fmt: str, query: str = ""):
    resp = client.get(f"/ogc/collections/{collection}/download?f={fmt}" + (f"&{query}" if query else ""))
    assert resp.status_code == 200, resp.text
    ext = "zip" if fmt == "shp" else fmt
    assert resp.headers["content-disposition"] == (
        f"attachment; filename=\"{collection}.{ext}\"; filename*=UTF-8''{collection}.{ext}")
    return resp


def _read(tmp_path: Path, resp, fmt: str):
    """The downloaded file as a GeoDataFrame (a Shapefile read from its zip, DBF decoded as GBK)."""
    path = tmp_path / f"download.{'zip' if fmt == 'shp' else fmt}"
    path.write_bytes(resp.content)
    if fmt == "shp":
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            zf.extractall(tmp_path)
        shp = next(tmp_path / n for n in names if n.endswith(".shp"))
        return pyogrio.read_dataframe(shp, encoding="GBK")
    return pyogrio.read_dataframe(path)


def _areas(open_db, collection: str, condition: str = "TRUE") -> dict:
    key = "p.parcel_code" if collection == "parcels" else "b.id"
    with open_db.connect() as conn:
        rows = conn.execute(text(f"SELECT {key}, ST_Area({'p' if collection == 'parcels' else 'b'}.geom) "
                                 f"{COLLECTIONS[collection][0]} AND {condition}")).all()
    return dict(rows)


@pytest.mark.parametrize("fmt", ["gpkg", "shp", "fgb"])
@pytest.mark.parametrize("collection", list(COLLECTIONS))
def test_file_formats_hold_every_feature_in_epsg_4549(client, open_db, tmp_path, collection, fmt):
    _, area_prop, area_shp = COLLECTIONS[collection]
    resp = _download(client, collection, fmt)
    gdf = _read(tmp_path, resp, fmt)
    assert len(gdf) == _count(open_db, collection)
    assert gdf.crs.to_epsg() == 4549
    assert resp.headers["content-crs"] == "<http://www.opengis.net/def/crs/EPSG/0/4549>"
    area = gdf[area_shp if fmt == "shp" else area_prop].to_numpy(dtype=float)
    assert np.abs(gdf.geometry.area.to_numpy() - area).max() <= 0.01
    if collection == "parcels":
        code, name = TAIHE
        row = gdf[gdf["ZDDM" if fmt == "shp" else "parcel_code"] == code].iloc[0]
        assert row["DKMC" if fmt == "shp" else "name"] == name
        assert gdf.geometry.area.sum() == pytest.approx(sum(_areas(open_db, collection).values()), abs=0.01)


def test_shapefile_is_gbk_with_cpg_short_names_and_date_fields(client, tmp_path):
    resp = _download(client, "parcels", "shp")
    with zipfile.ZipFile(io.BytesIO(resp.content)) as zf:
        names = sorted(zf.namelist())
        assert names == sorted(f"parcels.{ext}" for ext in ("shp", "shx", "dbf", "prj", "cpg"))
        assert zf.read("parcels.cpg").decode("ascii").strip().upper() in ("GBK", "936", "CP936")
        dbf = zf.read("parcels.dbf")
    assert TAIHE[1].encode("gbk") in dbf
    assert TAIHE[1].encode("utf-8") not in dbf
    (tmp_path / "parcels.zip").write_bytes(resp.content)
    info = pyogrio.read_info(f"/vsizip/{tmp_path / 'parcels.zip'}/parcels.shp", encoding="GBK")
    fields = dict(zip(info["fields"], info["dtypes"], strict=True))
    assert all(len(f) <= 10 for f in fields)
    assert len({f.lower() for f in fields}) == len(fields)
    assert {"ZDDM", "DKMC", "XZQMC", "QLR", "ZDMJ", "SBMJ", "YZDDM"} <= set(fields)
    assert fields["PZRQ"].startswith("datetime64")  # a DBF Date field


def test_csv_is_utf8_bom_with_chinese_headers_and_wkt(client, open_db):
    resp = _download(client, "parcels", "csv")
    assert resp.headers["content-type"].startswith("text/csv")
    assert resp.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    assert header[:3] == ["宗地代码", "地块名称", "乡镇(街道)"]
    assert header[-1] == "几何(WKT, EPSG:4549)"
    assert len(body) == _count(open_db, "parcels")
    by_code = {r[0]: r for r in body}
    assert by_code[TAIHE[0]][1] == TAIHE[1]
    areas = _areas(open_db, "parcels")
    geoms = shapely.from_wkt([r[-1] for r in body])
    diffs = [abs(g.area - areas[r[0]]) for g, r in zip(geoms, body, strict=True)]
    assert max(diffs) < 0.5  # WKT keeps millimetres


def test_geojson_streams_every_feature_in_crs84_or_the_asked_crs(client, open_db):
    doc = json.loads(_download(client, "parcels", "geojson").content)
    assert doc["type"] == "FeatureCollection"
    assert len(doc["features"]) == doc["numberReturned"] == _count(open_db, "parcels")
    lon, lat = doc["features"][0]["geometry"]["coordinates"][0][0][0]
    assert 120 < lon < 122 and 28 < lat < 30
    resp = _download(client, "parcels", "geojson", "crs=http://www.opengis.net/def/crs/EPSG/0/4549")
    assert resp.headers["content-crs"] == "<http://www.opengis.net/def/crs/EPSG/0/4549>"
    areas = _areas(open_db, "parcels")
    for feat in json.loads(resp.content)["features"]:
        geom = shapely.transform(shapely.geometry.shape(feat["geometry"]), lambda xy: xy[:, ::-1])  # N/E → E/N
        assert geom.area == pytest.approx(areas[feat["id"]], abs=0.5)
        assert feat["properties"]["area_m2"] == pytest.approx(areas[feat["id"]], abs=0.01)


@pytest.mark.parametrize("query", list(FILTERS))
@pytest.mark.parametrize("fmt", ["gpkg", "shp", "fgb", "csv", "geojson"])
def test_filters_reduce_the_download(client, open_db, tmp_path, fmt, query):
    expected = _count(open_db, "parcels", FILTERS[query])
    assert 0 < expected < _count(open_db, "parcels")
    resp = _download(client, "parcels", fmt, query)
    if fmt == "csv":
        n = len(list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))) - 1
    elif fmt == "geojson":
        n = len(json.loads(resp.content)["features"])
    else:
        n = len(_read(tmp_path, resp, fmt))
    assert n == expected


@pytest.mark.parametrize("fmt", ["gpkg", "shp", "fgb", "csv", "geojson"])
def test_empty_result_is_a_valid_file_with_the_schema(client, tmp_path, fmt):
    resp = _download(client, "parcels", fmt, "filter=area_mu > 1000000")
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))
        assert len(rows) == 1 and rows[0][0] == "宗地代码"
    elif fmt == "geojson":
        assert json.loads(resp.content)["features"] == []
    else:
        gdf = _read(tmp_path, resp, fmt)
        assert len(gdf) == 0
        assert ("ZDDM" if fmt == "shp" else "parcel_code") in gdf.columns


def test_crs_parameter_and_limit_for_files(client, tmp_path):
    resp = _download(client, "buildings", "gpkg", "crs=http://www.opengis.net/def/crs/EPSG/0/4490&limit=7")
    gdf = _read(tmp_path, resp, "gpkg")
    assert len(gdf) == 7
    assert gdf.crs.to_epsg() == 4490
    x, y = shapely.get_coordinates(gdf.geometry.iloc[0])[0]
    assert 120 < x < 122 and 28 < y < 30  # files keep longitude first


@pytest.mark.parametrize("query", ["f=xlsx", "f=gpkg&filter=area_mu >", "f=csv&crs=EPSG:9999", "f=shp&nope=1"])
def test_bad_requests_are_problems(client, query):
    resp = client.get(f"/ogc/collections/parcels/download?{query}")
    assert resp.status_code == 400
    assert resp.headers["content-type"].startswith("application/problem+json")


def test_connections_go_back_to_the_pool(client):
    for fmt in ("gpkg", "csv", "geojson"):
        _download(client, "parcels", fmt, "limit=3")
    client.get("/ogc/collections/parcels/download?f=gpkg&filter=area_mu >")
    stats = client.app.state.read_pool.get_stats()
    assert stats.get("requests_waiting", 0) == 0
    assert stats["pool_available"] == stats["pool_size"]


def test_geopackage_types_properties_and_extent(client, open_db, tmp_path):
    resp = _download(client, "parcels", "gpkg", "properties=parcel_code,name,approved_on,standard_land,parent_codes")
    path = tmp_path / "p.gpkg"
    path.write_bytes(resp.content)
    info = pyogrio.read_info(path)
    assert dict(zip(info["fields"], info["dtypes"], strict=True)) == {
        "parcel_code": "object", "name": "object", "approved_on": "datetime64[D]", "standard_land": "bool",
        "parent_codes": "object"}
    assert info["geometry_type"] == "MultiPolygon"
    with open_db.connect() as conn:
        extent = conn.execute(text("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                                   "(SELECT ST_Extent(geom) e FROM parcels WHERE valid_to IS NULL) s")).one()
    assert np.allclose(info["total_bounds"], extent, atol=1e-6)


def test_geopackage_has_an_rtree_spatial_index(client, open_db, tmp_path):
    """GeoPackage RTree Spatial Index extension: one envelope per feature, registered, used by GDAL for bbox reads."""
    resp = _download(client, "parcels", "gpkg")
    path = tmp_path / "p.gpkg"
    path.write_bytes(resp.content)
    with sqlite3.connect(path) as gpkg:
        assert gpkg.execute("SELECT table_name, column_name, extension_name, definition, scope "
                            "FROM gpkg_extensions").fetchall() == [
            ("parcels", "geom", "gpkg_rtree_index", "http://www.geopackage.org/spec120/#extension_rtree",
             "write-only")]
        rtree = gpkg.execute('SELECT id, minx, maxx, miny, maxy FROM "rtree_parcels_geom" ORDER BY id').fetchall()
        fids = [r[0] for r in gpkg.execute("SELECT fid FROM parcels ORDER BY fid")]
        triggers = {r[0] for r in gpkg.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert [r[0] for r in rtree] == fids and len(fids) == _count(open_db, "parcels")
    assert triggers == {f"rtree_parcels_geom_{t}" for t in
                        ("insert", "update2", "update4", "update5", "update6", "update7", "delete")}
    # the envelopes are the features' bounds (an R*Tree stores float32, rounded outwards: ≤ 0.5 m here)
    bounds = shapely.bounds(pyogrio.read_dataframe(path).sort_index().geometry.values)
    envelopes = np.array(rtree)[:, [1, 3, 2, 4]]
    assert (envelopes[:, :2] <= bounds[:, :2]).all() and (envelopes[:, 2:] >= bounds[:, 2:]).all()
    assert np.allclose(envelopes, bounds, rtol=0, atol=0.5)
    with open_db.connect() as conn:
        box = conn.execute(text("SELECT ST_XMin(e) - 200, ST_YMin(e) - 200, ST_XMax(e) + 200, ST_YMax(e) + 200 "
                                "FROM (SELECT geom::box2d e FROM parcels WHERE parcel_code = :code "
                                "AND valid_to IS NULL) s"), {"code": TAIHE[0]}).one()
        box = tuple(box)
        expected = conn.execute(text(
            "SELECT count(*) FROM parcels WHERE valid_to IS NULL AND "
            "geom && ST_MakeEnvelope(:a, :b, :c, :d, 4549)"), dict(zip("abcd", box, strict=True))).scalar_one()
    assert 0 < expected < len(fids)
    assert len(pyogrio.read_dataframe(path, bbox=box)) == expected
