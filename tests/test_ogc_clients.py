"""Real OGC API – Features clients against a live server: GDAL's OAPIF driver (gdal-bin and the GDAL in pyogrio),
OWSLib, and RFC 7946 validation of the GeoJSON the server writes."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
from collections import Counter
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import shapely
from geojson_pydantic import Feature, FeatureCollection

from tests.api_helpers import sql_rows
from tests.live_server import live_server

COLLECTION_IDS = ["parcels", "approved_unsupplied", "supplied_unused", "low_efficiency", "buildings",
                  "support_land", "parcel_history"]
CATEGORIES = ("approved_unsupplied", "supplied_unused", "low_efficiency")
GEOJSON = "application/geo+json"
EPSG4549 = "http://www.opengis.net/def/crs/EPSG/0/4549"
# each collection's rows in the database (FROM … WHERE …) and its feature id there
_CURRENT = "p.valid_to IS NULL"
ROWS_SQL = {
    "parcels": f"FROM parcels p WHERE {_CURRENT}",
    **{cid: f"FROM parcels p JOIN parcel_categories c ON c.parcel_id = p.id WHERE {_CURRENT} AND c.category = '{cid}'"
       for cid in CATEGORIES},
    "buildings": f"FROM buildings b JOIN parcels p ON p.id = b.parcel_id WHERE {_CURRENT}",
    "support_land": f"FROM support_land s JOIN parcels p ON p.id = s.parcel_id WHERE {_CURRENT}",
    "parcel_history": "FROM parcels p WHERE p.valid_to IS NOT NULL",
}
KEY = {"buildings": "b.id", "support_land": "s.id", "parcel_history": "p.id"}
PAGE_SIZE = 50
# GDAL writes the RFC 3339 datetimes with +08:00 into GeoPackage, which wants UTC; reading them back warns
pytestmark = pytest.mark.filterwarnings("ignore:Non-conformant content:RuntimeWarning")


@pytest.fixture(scope="module")
def live(open_settings):
    with live_server(open_settings) as server:
        yield server


@pytest.fixture(scope="module")
def http(live):
    with httpx.Client(base_url=live.url, timeout=30) as client:
        # one read of a category collection makes parcel_categories fresh for today before the DB is asked
        assert client.get("/ogc/collections/parcels/items", params={"limit": 1}).status_code == 200
        yield client


def _keys(open_db, cid: str) -> set:
    """The ids of a collection's features, from the database."""
    return {r[0] for r in sql_rows(open_db, f"SELECT {KEY.get(cid, 'p.parcel_code')} {ROWS_SQL[cid]}")}


def _items_requests(live, mark: int, cid: str) -> list[dict[str, list[str]]]:
    """The query parameters of each ``/items`` request for ``cid`` the server received since ``mark``."""
    out = []
    for line in live.requests_since(mark):
        path, _, query = line.partition("?")
        if path == f"/ogc/collections/{cid}/items":
            out.append(parse_qs(query))
    return out


# ---- gdal-bin (GDAL 3.6 OAPIF driver) ----------------------------------------------------------------
needs_gdal_bin = pytest.mark.skipif(shutil.which("ogr2ogr") is None or shutil.which("ogrinfo") is None,
                                    reason="gdal-bin (ogr2ogr, ogrinfo) is not on PATH")


def _run(*args: str) -> str:
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"{' '.join(args)}\n{r.stdout}\n{r.stderr}"
    return r.stdout


@needs_gdal_bin
def test_ogrinfo_lists_every_collection(live, http):
    out = _run("ogrinfo", "-ro", "-q", f"OAPIF:{live.url}/ogc")
    layers = re.findall(r"^\d+: (\S+) \(title: ([^)]*)\) \(([^)]+)\)", out, re.M)
    assert [name for name, _, _ in layers] == COLLECTION_IDS
    titles = {name: title for name, title, _ in layers}
    assert titles["parcels"] == "工业用地宗地（现状）" and titles["buildings"] == "建筑物（幢）"
    kinds = {name: kind for name, _, kind in layers}
    assert kinds["parcels"] == "Multi Polygon" and kinds["buildings"] == "Polygon"


@needs_gdal_bin
@pytest.mark.parametrize("cid", COLLECTION_IDS)
def test_ogr2ogr_copies_every_collection_completely_by_paging(live, http, open_db, tmp_path, cid):
    import pyogrio

    out = tmp_path / f"{cid}.gpkg"
    mark = len(live.requests)
    _run("ogr2ogr", "-f", "GPKG", str(out), f"OAPIF:{live.url}/ogc", cid, "-oo", f"PAGE_SIZE={PAGE_SIZE}")
    expected = _keys(open_db, cid)
    assert expected, f"the sample has no {cid}"
    info = pyogrio.read_info(out, layer=cid)
    assert info["features"] == len(expected)
    df = pyogrio.read_dataframe(out, layer=cid)
    # GDAL keeps no feature id of its own; the parcel codes (with repeats for buildings, history) must match
    codes = Counter(r[0] for r in sql_rows(open_db, f"SELECT p.parcel_code {ROWS_SQL[cid]}"))
    assert Counter(df["parcel_code"]) == codes and sum(codes.values()) == len(expected)
    # GDAL followed the next links page by page, and the server's own count (numberMatched) agrees
    pages = _items_requests(live, mark, cid)
    doc = http.get(f"/ogc/collections/{cid}/items", params={"limit": 10000}).json()
    assert doc["numberMatched"] == doc["numberReturned"] == len(expected)
    assert len(pages) >= math.ceil(len(expected) / PAGE_SIZE)
    assert all(p.get("limit") == [str(PAGE_SIZE)] for p in pages)
    if len(expected) > PAGE_SIZE:
        assert sum("cursor" in p for p in pages) >= math.ceil(len(expected) / PAGE_SIZE) - 1


@needs_gdal_bin
def test_ogr2ogr_keeps_chinese_attributes_and_geometry(live, http, open_db, tmp_path):
    import pyogrio

    out = tmp_path / "parcels.gpkg"
    _run("ogr2ogr", "-f", "GPKG", str(out), f"OAPIF:{live.url}/ogc", "parcels", "-oo", f"PAGE_SIZE={PAGE_SIZE}")
    df = pyogrio.read_dataframe(out, layer="parcels")
    rows = sql_rows(open_db, "SELECT parcel_code, town, name, ST_X(ST_Centroid(ST_Transform(geom, 4326))), "
                    "ST_Y(ST_Centroid(ST_Transform(geom, 4326))) FROM parcels WHERE valid_to IS NULL")
    towns = {r[0]: r[1] for r in rows}
    assert any("街道" in t or "镇" in t for t in towns.values())
    assert dict(zip(df["parcel_code"], df["town"], strict=True)) == towns
    assert dict(zip(df["parcel_code"], df["name"], strict=True)) == {r[0]: r[2] for r in rows}
    centroids = {code: geom.centroid for code, geom in zip(df["parcel_code"], df.geometry, strict=True)}
    for code, _, _, lon, lat in rows:  # CRS84 lon/lat, not swapped
        assert centroids[code].x == pytest.approx(lon, abs=1e-5) and centroids[code].y == pytest.approx(lat, abs=1e-5)


@needs_gdal_bin
def test_ogr2ogr_where_reads_the_matching_parcels(live, http, open_db, tmp_path):
    out = tmp_path / "big.gpkg"
    _run("ogr2ogr", "-f", "GPKG", str(out), f"OAPIF:{live.url}/ogc", "parcels", "-oo", f"PAGE_SIZE={PAGE_SIZE}",
         "-where", "area_mu > 20")
    info = _run("ogrinfo", "-so", str(out), "parcels")
    n = sql_rows(open_db, "SELECT count(*) FROM parcels WHERE valid_to IS NULL AND area_mu > 20")[0][0]
    assert 0 < n < len(_keys(open_db, "parcels"))
    assert f"Feature Count: {n}\n" in info


# ---- GDAL 3.12 in pyogrio: CRS open option, CQL2 filters -------------------------------------------
# pyogrio keeps the GIL while GDAL reads, so GDAL's HTTP requests to the server thread of this process would
# deadlock: the reads run in a child process, which copies the layer to a local GeoPackage read back here.
_READ = """
import sys, json, pyogrio
url, layer, out, kwargs = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
df = pyogrio.read_dataframe(url, layer=layer, **kwargs)
pyogrio.write_dataframe(df, out, layer=layer, driver="GPKG")
"""


def _read_oapif(url: str, layer: str, out, **kwargs):
    import json

    import pyogrio

    r = subprocess.run([sys.executable, "-c", _READ, url, layer, str(out), json.dumps(kwargs)],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return pyogrio.read_dataframe(out, layer=layer)


@pytest.fixture(scope="module")
def oapif(live, http, tmp_path_factory):
    import pyogrio

    if "OAPIF" not in pyogrio.list_drivers():
        pytest.skip("pyogrio's GDAL has no OAPIF driver")
    url = f"OAPIF:{live.url}/ogc"
    try:
        _read_oapif(url, "support_land", tmp_path_factory.mktemp("probe") / "probe.gpkg")
    except RuntimeError as exc:
        if re.search(r"curl|http", str(exc), re.I):
            pytest.skip(f"pyogrio's GDAL cannot do HTTP: {exc}")
        raise
    return url


def test_pyogrio_reads_all_parcels(oapif, open_db, tmp_path):
    df = _read_oapif(oapif, "parcels", tmp_path / "p.gpkg", CRS="OGC:CRS84")
    assert set(df["parcel_code"]) == _keys(open_db, "parcels") and len(df) == len(_keys(open_db, "parcels"))
    minx, miny, maxx, maxy = df.total_bounds
    assert 120.5 < minx < maxx < 121.5 and 28.8 < miny < maxy < 29.5  # lon/lat, in Tiantai


def test_pyogrio_reads_epsg4549_with_northing_first_axes(oapif, live, open_db, tmp_path):
    mark = len(live.requests)
    df = _read_oapif(oapif, "parcels", tmp_path / "p.gpkg", CRS="EPSG:4549", PAGE_SIZE=str(PAGE_SIZE))
    assert df.crs.to_epsg() == 4549
    requests = _items_requests(live, mark, "parcels")
    # GDAL probes the schema with one page in the default CRS, then reads every feature with crs
    assert any(p.get("crs") == [EPSG4549] for p in requests), requests
    pages = [p for p in requests if "cursor" in p]
    assert len(pages) >= len(_keys(open_db, "parcels")) // PAGE_SIZE  # the next links keep crs
    assert all(p.get("crs") == [EPSG4549] and p.get("limit") == [str(PAGE_SIZE)] for p in pages), requests
    minx, miny, maxx, maxy = df.total_bounds
    assert 4e5 < minx < maxx < 7e5 and 3.1e6 < miny < maxy < 3.4e6  # easting x, northing y
    areas = {r[0]: r[1] for r in sql_rows(open_db, "SELECT parcel_code, ST_Area(geom) FROM parcels "
                                                   "WHERE valid_to IS NULL")}
    assert len(df) == len(areas)
    for code, geom in zip(df["parcel_code"], df.geometry, strict=True):
        assert geom.area == pytest.approx(areas[code], abs=0.01), code


@pytest.mark.parametrize("crs", [None, "EPSG:4549"])
def test_pyogrio_where_reads_the_matching_parcels(oapif, open_db, tmp_path, crs):
    options = {"CRS": crs} if crs else {}
    df = _read_oapif(oapif, "parcels", tmp_path / "p.gpkg", where="area_mu > 20", **options)
    expected = {r[0] for r in sql_rows(open_db, "SELECT parcel_code FROM parcels "
                                                "WHERE valid_to IS NULL AND area_mu > 20")}
    assert 0 < len(expected) < len(_keys(open_db, "parcels"))
    assert set(df["parcel_code"]) == expected and len(df) == len(expected)
    if crs:
        assert 4e5 < df.total_bounds[0] < 7e5 and 3.1e6 < df.total_bounds[1] < 3.4e6


@pytest.mark.parametrize("crs", [None, "EPSG:4549"])
def test_pyogrio_where_is_sent_to_the_server_as_a_filter(oapif, live, open_db, tmp_path, crs):
    mark = len(live.requests)
    options = {"CRS": crs} if crs else {}
    df = _read_oapif(oapif, "parcels", tmp_path / "p.gpkg", where="area_mu > 20", **options)
    n = sql_rows(open_db, "SELECT count(*) FROM parcels WHERE valid_to IS NULL AND area_mu > 20")[0][0]
    assert len(df) == n
    reads = [p for p in _items_requests(live, mark, "parcels") if p.get("limit") != ["20"]]  # not the probe
    assert reads and all(p.get("filter", [""])[0].replace(" ", "").lower() == "area_mu>20" for p in reads), reads
    if crs:
        assert all(p.get("crs") == [EPSG4549] for p in reads)


# ---- OWSLib ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def owslib_features(live, http):
    from owslib.ogcapi.features import Features

    return Features(f"{live.url}/ogc")


def test_owslib_lists_collections_and_conformance(owslib_features):
    assert [c["id"] for c in owslib_features.collections()["collections"]] == COLLECTION_IDS
    assert owslib_features.collection("buildings")["title"] == "建筑物（幢）"
    classes = owslib_features.conformance()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in classes
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in classes
    assert owslib_features.api()["openapi"].startswith("3.0")


def test_owslib_reads_items_and_queryables(owslib_features, open_db):
    items = owslib_features.collection_items("parcels", limit=5)
    assert items["type"] == "FeatureCollection" and len(items["features"]) == 5
    assert all(isinstance(f["id"], str) and f["id"] == f["properties"]["parcel_code"] for f in items["features"])
    assert {f["id"] for f in items["features"]} <= _keys(open_db, "parcels")
    one = owslib_features.collection_item("parcels", items["features"][0]["id"])
    assert one["id"] == items["features"][0]["id"]
    queryables = owslib_features.collection_queryables("parcels")
    assert {"town", "area_mu", "geometry"} <= set(queryables["properties"])
    assert queryables["properties"]["town"]["type"] == "string"


@pytest.mark.parametrize("accept", [None, "*/*"])
@pytest.mark.parametrize("path", ["/ogc", "/ogc/conformance", "/ogc/collections", "/ogc/collections/parcels",
                                  "/ogc/collections/parcels/queryables", "/ogc/collections/parcels/items?limit=2",
                                  "/ogc/collections/buildings/items/1", "/ogc/api"])
def test_clients_without_an_accept_header_get_json(live, path, accept):
    headers = {"Accept": accept} if accept else {}
    with httpx.Client(timeout=30) as client:
        request = client.build_request("GET", live.url + path, headers=headers)
        if accept is None:
            del request.headers["Accept"]
        r = client.send(request)
    assert r.status_code == 200
    assert re.match(r"application/([\w.+-]+\+)?json|application/vnd\.oai\.openapi\+json", r.headers["content-type"])
    r.json()


# ---- RFC 7946 ---------------------------------------------------------------------------------------
def _rings(geometry: dict):
    if geometry["type"] == "Polygon":
        yield from ((i, ring) for i, ring in enumerate(geometry["coordinates"]))
    elif geometry["type"] == "MultiPolygon":
        for polygon in geometry["coordinates"]:
            yield from ((i, ring) for i, ring in enumerate(polygon))
    else:
        raise AssertionError(f"unexpected geometry type {geometry['type']}")


def _check_feature(feature: dict) -> None:
    """RFC 7946 rules the pydantic models don't check (lon/lat ranges, ring orientation, id, no crs)."""
    assert "crs" not in feature
    assert isinstance(feature["id"], str | int | float) and not isinstance(feature["id"], bool)
    for i, ring in _rings(feature["geometry"]):
        assert len(ring) >= 4 and ring[0] == ring[-1], f"{feature['id']}: ring not closed"
        for x, y in ring:
            assert -180 <= x <= 180 and -90 <= y <= 90
            assert 120 < x < 122 and 28 < y < 30, f"{feature['id']}: ({x}, {y}) is not lon/lat in Tiantai"
        ccw = shapely.LinearRing(ring).is_ccw
        assert ccw if i == 0 else not ccw, f"{feature['id']}: ring {i} breaks the right-hand rule"


def _check_collection(r: httpx.Response) -> dict:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].split(";")[0] == GEOJSON
    doc = r.json()
    FeatureCollection.model_validate(doc)
    assert "crs" not in doc
    for feature in doc["features"]:
        Feature.model_validate(feature)
        _check_feature(feature)
    return doc


@pytest.mark.parametrize("cid", COLLECTION_IDS)
def test_every_feature_of_every_collection_is_rfc7946(http, open_db, cid):
    doc = _check_collection(http.get(f"/ogc/collections/{cid}/items", params={"limit": 10000}))
    assert len(doc["features"]) == len(_keys(open_db, cid))


@pytest.mark.parametrize("params", [
    {"bbox": "120.9,29.0,121.1,29.2"},
    {"bbox": "3220000,590000,3240000,610000", "bbox-crs": EPSG4549},
    {"filter": "area_mu > 20 AND town LIKE '%街道'", "filter-lang": "cql2-text"},
    {"filter": '{"op":">","args":[{"property":"area_mu"},20]}', "filter-lang": "cql2-json"},
    {"properties": "town,area_mu"},
    {"crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84", "sortby": "-area_m2", "limit": 7},
    {"town": "始丰街道"},
])
def test_filtered_pages_are_rfc7946(http, params):
    doc = _check_collection(http.get("/ogc/collections/parcels/items", params=params))
    assert doc["features"], params
    if "properties" in params:
        assert all(set(f["properties"]) == {"town", "area_mu"} for f in doc["features"])


def test_cursor_pages_and_single_features_are_rfc7946(http):
    first = _check_collection(http.get("/ogc/collections/buildings/items", params={"limit": 50}))
    nxt = [link["href"] for link in first["links"] if link["rel"] == "next"]
    assert len(nxt) == 1 and "cursor" in parse_qs(urlsplit(nxt[0]).query)
    second = _check_collection(http.get(nxt[0]))
    assert len(second["features"]) == 50
    assert not {f["id"] for f in first["features"]} & {f["id"] for f in second["features"]}
    for cid, fid in (("parcels", first["features"][0]["properties"]["parcel_code"]),
                     ("buildings", first["features"][0]["id"])):
        r = http.get(f"/ogc/collections/{cid}/items/{fid}")
        assert r.status_code == 200 and r.headers["content-type"].split(";")[0] == GEOJSON
        feature = r.json()
        Feature.model_validate(feature)
        _check_feature(feature)
        assert feature["id"] == fid


def test_default_crs_is_crs84_and_authority_order_only_on_request(http):
    r = http.get("/ogc/collections/parcels/items", params={"limit": 1})
    assert r.headers["content-crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
    lon, lat = r.json()["features"][0]["geometry"]["coordinates"][0][0][0]
    r = http.get("/ogc/collections/parcels/items", params={"limit": 1, "crs": "http://www.opengis.net/def/crs/EPSG/0/4326"})
    assert r.headers["content-crs"] == "<http://www.opengis.net/def/crs/EPSG/0/4326>"
    assert r.json()["features"][0]["geometry"]["coordinates"][0][0][0] == pytest.approx([lat, lon], abs=1e-7)
    r = http.get("/ogc/collections/parcels/items", params={"limit": 1, "crs": EPSG4549})
    northing, easting = r.json()["features"][0]["geometry"]["coordinates"][0][0][0]
    assert 3.1e6 < northing < 3.4e6 and 4e5 < easting < 7e5


# ---- metadata QGIS and GDAL rely on ----------------------------------------------------------------
def test_openapi_describes_the_limit_clients_page_with(http):
    r = http.get("/ogc/api")
    assert r.status_code == 200
    assert r.headers["content-type"].replace(" ", "") == "application/vnd.oai.openapi+json;version=3.0"
    doc = r.json()
    assert doc["openapi"].startswith("3.0")
    limit = doc["components"]["parameters"]["limit"]
    assert limit["in"] == "query" and limit["name"] == "limit"
    assert limit["schema"]["maximum"] == 10000 and limit["schema"]["default"] == 100
    params = doc["paths"]["/collections/{collectionId}/items"]["get"]["parameters"]
    assert {"$ref": "#/components/parameters/limit"} in params


def test_landing_collection_and_conformance_links(http):
    links = http.get("/ogc").json()["links"]
    service_desc = [link for link in links if link["rel"] == "service-desc"]
    assert len(service_desc) == 1
    assert service_desc[0]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert http.get(service_desc[0]["href"]).status_code == 200
    for cid in COLLECTION_IDS:
        doc = http.get(f"/ogc/collections/{cid}").json()
        schema = [link for link in doc["links"] if link["rel"] == "http://www.opengis.net/def/rel/ogc/1.0/schema"]
        assert len(schema) == 1 and http.get(schema[0]["href"]).status_code == 200
        assert EPSG4549 in doc["crs"] and doc["storageCrs"] == EPSG4549
    classes = set(http.get("/ogc/conformance").json()["conformsTo"])
    for uri in ("ogcapi-features-2/1.0/conf/crs", "ogcapi-features-3/1.0/conf/filter",
                "ogcapi-features-3/1.0/conf/features-filter", "ogcapi-features-3/1.0/conf/queryables",
                "cql2/1.0/conf/cql2-text", "cql2/1.0/conf/cql2-json", "cql2/1.0/conf/basic-cql2"):
        assert f"http://www.opengis.net/spec/{uri}" in classes, uri


def test_limit_above_the_maximum_is_clamped(http, open_db):
    r = http.get("/ogc/collections/buildings/items", params={"limit": 20000})
    assert r.status_code == 200, r.text
    doc = r.json()
    n = len(_keys(open_db, "buildings"))
    assert doc["numberReturned"] == doc["numberMatched"] == n <= 10000
    assert not [link for link in doc["links"] if link["rel"] == "next"]


def test_next_link_while_more_features_and_none_on_the_last_page(http, open_db):
    n = len(_keys(open_db, "parcels"))
    r = http.get("/ogc/collections/parcels/items", params={"limit": n})  # exactly all: no next page
    assert r.json()["numberReturned"] == n
    assert not [link for link in r.json()["links"] if link["rel"] == "next"]
    url, params, seen, pages = "/ogc/collections/parcels/items", {"limit": PAGE_SIZE}, [], 0
    while True:
        doc = http.get(url, params=params).json()
        pages += 1
        seen += [f["id"] for f in doc["features"]]
        nxt = [link["href"] for link in doc["links"] if link["rel"] == "next"]
        if len(seen) < n:
            assert len(nxt) == 1, f"no next link after {len(seen)} of {n}"
            assert nxt[0].startswith(str(http.base_url).rstrip("/"))
            url, params = nxt[0], None
        else:
            assert not nxt, "a next link on the last page"
            break
        assert pages <= n // PAGE_SIZE + 1
    assert len(seen) == len(set(seen)) == n and set(seen) == _keys(open_db, "parcels")


@pytest.mark.parametrize("path", ["/ogc", "/ogc/collections/parcels/items?limit=1"])
def test_head_is_answered_like_get(http, path):
    r = http.head(path)
    assert r.status_code == 200 and r.headers["content-type"] == http.get(path).headers["content-type"]
