"""OGC API – Features under /ogc on the sample register: documents, paging by key, CRS, filters, caching."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import shapely
from sqlalchemy import text

from tests.api_helpers import api_client, auth, make_token, sql_rows

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
COLLECTION_IDS = ["parcels", "approved_unsupplied", "supplied_unused", "low_efficiency", "buildings",
                  "support_land", "parcel_history"]


@pytest.fixture(scope="module")
def client(open_settings):
    with api_client(open_settings) as c:
        yield c


def _walk(client, url: str, **params) -> tuple[list, list[dict]]:
    """Follow ``next`` links from the first page; returns the features and every page."""
    features, pages = [], []
    r = client.get(url, params=params)
    while True:
        assert r.status_code == 200, r.text
        page = r.json()
        pages.append(page)
        features += page["features"]
        nxt = [link["href"] for link in page["links"] if link["rel"] == "next"]
        if not nxt:
            return features, pages
        assert len(nxt) == 1
        r = client.get(nxt[0])


def test_landing_page_links_and_json_without_accept(client):
    r = client.get("/ogc", headers={"Accept": ""})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    links = {link["rel"]: link for link in r.json()["links"]}
    assert links["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert {"self", "service-doc", "conformance", "data"} <= set(links)
    assert links["data"]["href"] == "http://testserver/ogc/collections"


def test_conformance_declares_the_classes_clients_check(client):
    classes = set(client.get("/ogc/conformance").json()["conformsTo"])
    for uri in ("ogcapi-features-1/1.0/conf/core", "ogcapi-features-1/1.0/conf/geojson",
                "ogcapi-features-1/1.0/conf/oas30", "ogcapi-features-1/1.0/conf/html",
                "ogcapi-features-2/1.0/conf/crs", "ogcapi-features-3/1.0/conf/filter",
                "ogcapi-features-3/1.0/conf/features-filter", "ogcapi-features-3/1.0/conf/queryables",
                "cql2/1.0/conf/cql2-text", "cql2/1.0/conf/cql2-json", "cql2/1.0/conf/basic-cql2",
                "ogcapi-features-5/1.0/conf/schemas"):
        assert f"http://www.opengis.net/spec/{uri}" in classes


def test_collections_describe_themselves(client):
    doc = client.get("/ogc/collections").json()
    assert [c["id"] for c in doc["collections"]] == COLLECTION_IDS
    for c in doc["collections"]:
        assert c["itemType"] == "feature" and c["storageCrs"] == EPSG + "4549"
        assert CRS84 in c["crs"] and EPSG + "4549" in c["crs"] and EPSG + "4528" in c["crs"]
        assert any("\u4e00" <= ch <= "\u9fff" for ch in c["title"])  # a Chinese title
        rels = {(link["rel"], link["type"]): link for link in c["links"]}
        assert rels["items", "application/geo+json"]["href"].endswith(f"/collections/{c['id']}/items")
        schema = rels["http://www.opengis.net/def/rel/ogc/1.0/schema", "application/schema+json"]
        assert schema["href"].endswith(f"/{c['id']}/schema")
        minx, miny, maxx, maxy = c["extent"]["spatial"]["bbox"][0]
        assert 120.5 < minx < maxx < 121.5 and 28.9 < miny < maxy < 29.4
    parcels = doc["collections"][0]
    assert parcels["extent"]["temporal"]["interval"][0][0].endswith("Z")
    assert client.get("/ogc/collections/parcels").json()["id"] == "parcels"


def test_every_collection_reads_completely_by_next_links(client, open_db):
    expected = {
        "parcels": "SELECT parcel_code FROM parcels WHERE valid_to IS NULL",
        "buildings": "SELECT b.id::text FROM buildings b JOIN parcels p ON p.id = b.parcel_id WHERE p.valid_to IS NULL",
        "support_land": "SELECT s.id::text FROM support_land s JOIN parcels p ON p.id = s.parcel_id "
                        "WHERE p.valid_to IS NULL",
        "parcel_history": "SELECT id::text FROM parcels WHERE valid_to IS NOT NULL",
    }
    for cid, sql in expected.items():
        features, pages = _walk(client, f"/ogc/collections/{cid}/items", limit=97)
        ids = [str(f["id"]) for f in features]
        assert len(ids) == len(set(ids))
        assert set(ids) == {r[0] for r in sql_rows(open_db, sql)}
        assert all(p["numberMatched"] == len(ids) for p in pages)
        assert sum(p["numberReturned"] for p in pages) == len(ids)


def test_category_collections_match_the_rest_api_today(client, open_settings):
    key = make_token(open_settings, "viewer")
    for cid in ("approved_unsupplied", "supplied_unused", "low_efficiency"):
        features, _ = _walk(client, f"/ogc/collections/{cid}/items", limit=10)
        rest = client.get("/api/v1/parcels", params={"category": cid, "limit": 1000}, headers=auth(key)).json()
        codes = {i["parcel_code"] for i in rest["parcels"]}
        assert codes and {f["id"] for f in features} == codes
        assert {f["properties"]["category"] for f in features} == {cid}


def test_sortby_pages_by_key_in_sql_order(client, open_db):
    features, _ = _walk(client, "/ogc/collections/parcels/items", limit=23, sortby="-area_mu")
    codes = [f["id"] for f in features]
    expected = [r[0] for r in sql_rows(open_db, "SELECT parcel_code FROM parcels WHERE valid_to IS NULL "
                                       "ORDER BY area_mu DESC, parcel_code")]
    assert codes == expected
    # a sort key with nulls and a second key in the other direction
    features, _ = _walk(client, "/ogc/collections/parcels/items", limit=11, sortby="halted_since,-town")
    expected = [r[0] for r in sql_rows(open_db, "SELECT parcel_code FROM parcels WHERE valid_to IS NULL "
                                       "ORDER BY halted_since ASC NULLS LAST, town DESC NULLS LAST, parcel_code")]
    assert [f["id"] for f in features] == expected


def test_prev_link_returns_the_previous_page_and_offset_still_works(client):
    first = client.get("/ogc/collections/parcels/items", params={"limit": 30}).json()
    assert "prev" not in {link["rel"] for link in first["links"]}
    second = client.get(next(link["href"] for link in first["links"] if link["rel"] == "next")).json()
    back = client.get(next(link["href"] for link in second["links"] if link["rel"] == "prev")).json()
    assert [f["id"] for f in back["features"]] == [f["id"] for f in first["features"]]
    by_offset = client.get("/ogc/collections/parcels/items", params={"limit": 30, "offset": 30}).json()
    assert [f["id"] for f in by_offset["features"]] == [f["id"] for f in second["features"]]
    assert "prev" in {link["rel"] for link in by_offset["links"]}


def test_limit_is_clamped_and_checked(client):
    r = client.get("/ogc/collections/parcels/items", params={"limit": 50_000})
    assert r.status_code == 200 and r.json()["numberReturned"] == 320
    assert "limit=50000" not in r.text.split('"next"')[0] or "next" not in r.text
    for bad in ("0", "-1", "abc"):
        r = client.get("/ogc/collections/parcels/items", params={"limit": bad})
        assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(("crs", "first_axis"), [
    (None, "lon"), (CRS84, "lon"), ("EPSG:4326", "lat"), (EPSG + "4490", "lat"), (EPSG + "4549", "northing"),
    (EPSG + "4528", "northing"), (EPSG + "3857", "x"),
])
def test_crs_axis_order_and_content_crs(client, crs, first_axis):
    r = client.get("/ogc/collections/parcels/items/331023001003GB00002", params={"crs": crs} if crs else {})
    assert r.status_code == 200
    assert r.headers["content-crs"] == f"<{CRS84 if crs in (None, CRS84) else crs.replace('EPSG:', EPSG)}>"
    a, b = r.json()["geometry"]["coordinates"][0][0][0]
    if first_axis == "lon":
        assert 120 < a < 122 and 28 < b < 30
    elif first_axis == "lat":
        assert 28 < a < 30 and 120 < b < 122
    elif first_axis == "northing":
        assert 3.1e6 < a < 3.3e6 and (3e5 < b < 7e5 or 40.3e6 < b < 40.7e6)
    else:
        assert 1.3e7 < a < 1.4e7 and 3.3e6 < b < 3.5e6


def test_geometry_in_the_storage_crs_is_exact(client, open_db):
    code = "331023001003GB00002"
    r = client.get(f"/ogc/collections/parcels/items/{code}", params={"crs": "EPSG:4549"}).json()
    ring = [(e, n) for n, e in r["geometry"]["coordinates"][0][0]]
    area = sql_rows(open_db, "SELECT area_m2 FROM parcels WHERE parcel_code = :c AND valid_to IS NULL", c=code)[0][0]
    assert shapely.Polygon(ring).area == pytest.approx(area, abs=0.05)
    assert r["properties"]["area_m2"] == pytest.approx(area, abs=0.005)


def test_unsupported_crs_is_a_problem(client):
    r = client.get("/ogc/collections/parcels/items", params={"crs": "EPSG:32650"})
    assert r.status_code == 400 and "EPSG" in r.json()["detail"]


def test_bbox_in_another_crs_selects_the_same_parcels(client):
    lonlat = client.get("/ogc/collections/parcels/items",
                        params={"bbox": "121.0,29.1,121.05,29.15", "limit": 1000}).json()
    assert 0 < lonlat["numberReturned"] < 320
    lat_first = client.get("/ogc/collections/parcels/items",
                           params={"bbox": "29.1,121.0,29.15,121.05", "bbox-crs": "EPSG:4326", "limit": 1000}).json()
    assert {f["id"] for f in lat_first["features"]} == {f["id"] for f in lonlat["features"]}
    bad = client.get("/ogc/collections/parcels/items", params={"bbox": "1,2,3"})
    assert bad.status_code == 400


def test_datetime_filters_the_relevant_date(client, open_db):
    r = client.get("/ogc/collections/parcels/items", params={"datetime": "2019-01-01/2020-12-31", "limit": 1000}).json()
    expected = sql_rows(open_db, "SELECT count(*) FROM parcels WHERE valid_to IS NULL AND supplied_on "
                        "BETWEEN '2019-01-01' AND '2020-12-31'")[0][0]
    assert r["numberReturned"] == expected > 0
    assert all("2019-01-01" <= f["properties"]["supplied_on"] <= "2020-12-31" for f in r["features"])
    open_end = client.get("/ogc/collections/parcels/items", params={"datetime": "2024-01-01/..", "limit": 1000}).json()
    assert all(f["properties"]["supplied_on"] >= "2024-01-01" for f in open_end["features"])
    assert client.get("/ogc/collections/buildings/items", params={"datetime": "2020-01-01"}).status_code == 400
    assert client.get("/ogc/collections/parcels/items", params={"datetime": "yesterday"}).status_code == 400


def test_property_filters_and_properties_subset(client, open_db):
    town = sql_rows(open_db, "SELECT town, count(*) FROM parcels WHERE valid_to IS NULL "
                             "GROUP BY town ORDER BY 2 DESC")[0]
    r = client.get("/ogc/collections/parcels/items",
                   params={"town": town[0], "properties": "parcel_code,area_mu", "limit": 1000}).json()
    assert r["numberReturned"] == town[1]
    assert set(r["features"][0]["properties"]) == {"parcel_code", "area_mu"}
    assert client.get("/ogc/collections/parcels/items", params={"area_mu": "many"}).status_code == 400
    assert client.get("/ogc/collections/parcels/items", params={"colour": "red"}).status_code == 400
    assert client.get("/ogc/collections/parcels/items", params={"properties": "nope"}).status_code == 400


def test_cql2_text_and_json_filters_agree(client, open_db):
    expected = sql_rows(open_db, "SELECT count(*) FROM parcels WHERE valid_to IS NULL AND area_mu > 30")[0][0]
    as_text = client.get("/ogc/collections/parcels/items",
                         params={"filter": "area_mu > 30", "filter-lang": "cql2-text", "limit": 1000}).json()
    as_json = client.get("/ogc/collections/parcels/items", params={
        "filter": json.dumps({"op": ">", "args": [{"property": "area_mu"}, 30]}), "filter-lang": "cql2-json",
        "limit": 1000}).json()
    assert as_text["numberReturned"] == as_json["numberReturned"] == expected > 0
    spatial = client.get("/ogc/collections/parcels/items", params={
        "filter": "S_INTERSECTS(geometry, BBOX(121.0,29.1,121.05,29.15))", "limit": 1000}).json()
    by_bbox = client.get("/ogc/collections/parcels/items", params={"bbox": "121.0,29.1,121.05,29.15",
                                                                   "limit": 1000}).json()
    assert {f["id"] for f in spatial["features"]} == {f["id"] for f in by_bbox["features"]}
    bad = client.get("/ogc/collections/parcels/items", params={"filter": "area_mu >>> 3"})
    assert bad.status_code == 400 and bad.json()["detail_zh"]


def test_conditional_requests_answer_304_until_the_register_changes(client, open_db):
    url = "/ogc/collections/parcels/items?limit=5"
    first = client.get(url)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert "no-cache" in first.headers["cache-control"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(url, headers={"If-Modified-Since": modified}).status_code == 304
    assert client.get(url + "&offset=1", headers={"If-None-Match": etag}).status_code == 200
    with open_db.begin() as conn:
        conn.execute(text("UPDATE parcels SET remarks = 'ETag test' WHERE parcel_code = '331023001003GB00002' "
                          "AND valid_to IS NULL"))
    # the change reaches the worker as a NOTIFY: stale for at most as long as that takes to arrive
    deadline = time.monotonic() + 5
    while (again := client.get(url, headers={"If-None-Match": etag})).status_code == 304 \
            and time.monotonic() < deadline:
        time.sleep(0.02)
    assert again.status_code == 200 and again.headers["etag"] != etag


def test_links_follow_forwarded_headers_and_trailing_slashes(sample_settings_module):
    proxied = sample_settings_module.model_copy(update={"anonymous_read": True, "forwarded_allow_ips": "*"})
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "gis.example.org", "X-Forwarded-Prefix": "/land"}
    with api_client(proxied) as c:
        doc = c.get("/ogc/collections/", headers=headers).json()
        assert doc["links"][0]["href"] == "https://gis.example.org/land/ogc/collections"
        page = c.get("/ogc/collections/parcels/items/", params={"limit": 5}, headers=headers).json()
        nxt = next(link["href"] for link in page["links"] if link["rel"] == "next")
        assert nxt.startswith("https://gis.example.org/land/ogc/collections/parcels/items?")
        assert parse_qs(urlsplit(nxt).query)["limit"] == ["5"]
        doc = c.get("/ogc", headers={"Forwarded": 'proto=https;host="maps.example.cn"'}).json()
        assert doc["links"][0]["href"] == "https://maps.example.cn/ogc"
    untrusted = sample_settings_module.model_copy(update={"anonymous_read": True})
    with api_client(untrusted) as c:  # the test client is not a trusted proxy
        assert c.get("/ogc", headers=headers).json()["links"][0]["href"] == "http://testserver/ogc"


@pytest.mark.parametrize(("allow", "trusted"), [("127.0.0.1", True), ("127.0.0.0/8,10.0.0.0/8", True),
                                                ("10.1.2.3", False)])
def test_a_real_server_behind_a_proxy(sample_settings_module, allow, trusted):
    """Over real HTTP (uvicorn as ``landgis serve`` runs it) from a proxy on loopback: links use the
    forwarded host only when the proxy is trusted, and the forwarded client address is the one logged."""
    import httpx

    from tests.live_server import live_server

    settings = sample_settings_module.model_copy(update={"anonymous_read": True, "forwarded_allow_ips": allow})
    headers = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https",
               "X-Forwarded-Host": "gis.example.org", "X-Forwarded-Prefix": "/land"}
    with live_server(settings) as live:
        doc = httpx.get(f"{live.url}/ogc", headers=headers).json()
    want = "https://gis.example.org/land/ogc" if trusted else f"{live.url}/ogc"
    assert doc["links"][0]["href"] == want


def test_single_feature_and_not_found(client):
    r = client.get("/ogc/collections/parcels/items/331023001003GB00002")
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    f = r.json()
    assert f["id"] == "331023001003GB00002" and f["properties"]["parcel_code"] == f["id"]
    assert {link["rel"] for link in f["links"]} >= {"self", "collection"}
    assert client.get("/ogc/collections/parcels/items/NOPE").status_code == 404
    assert client.get("/ogc/collections/buildings/items/abc").status_code == 404
    assert client.get("/ogc/collections/nothing/items").status_code == 404


def test_queryables_and_schema_name_types_and_chinese_titles(client):
    q = client.get("/ogc/collections/parcels/queryables")
    assert q.headers["content-type"] == "application/schema+json"
    props = q.json()["properties"]
    assert props["area_mu"]["type"] == "number" and props["approved_on"]["format"] == "date"
    assert props["town"]["title"] == "乡镇(街道)" and props["geometry"]["format"] == "geometry-multipolygon"
    schema = client.get("/ogc/collections/parcels/schema").json()["properties"]
    assert schema["parcel_code"]["x-ogc-role"] == "id"
    assert schema["geometry"]["x-ogc-role"] == "primary-geometry"
    assert schema["supplied_on"]["x-ogc-role"] == "primary-instant"


def test_openapi_shares_the_limit_parameter(client):
    doc = client.get("/ogc/api").json()
    limit = doc["components"]["parameters"]["limit"]["schema"]
    assert limit["maximum"] == 10_000 and limit["default"] == 100
    for path in ("/collections/{collectionId}/items", "/collections/parcels/items"):
        params = doc["paths"][path]["get"]["parameters"]
        assert {"$ref": "#/components/parameters/limit"} in params
    assert any(p.get("name") == "town" for p in doc["paths"]["/collections/parcels/items"]["get"]["parameters"])


def test_reads_need_a_viewer_unless_anonymous_read(sample_settings_module):
    with api_client(sample_settings_module) as c:
        r = c.get("/ogc/collections")
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
        key = make_token(sample_settings_module, "viewer")
        assert c.get("/ogc/collections/parcels/items", headers=auth(key)).status_code == 200
