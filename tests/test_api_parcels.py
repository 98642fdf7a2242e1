"""GET /api/v1/parcels (filters, paging, formats) and /api/v1/parcels/{code} on the sample register."""

from __future__ import annotations

import csv
import io
import itertools
from collections import Counter

import pandas as pd
import pytest

from tests.api_helpers import AS_OF, SAMPLE, SHOWCASE, api_client, auth, make_token

EXPECTED = pd.read_csv(SAMPLE / "expected_categories.csv", dtype=str)


@pytest.fixture(scope="module")
def client(sample_settings_module):
    with api_client(sample_settings_module) as c:
        c.headers.update(auth(make_token(sample_settings_module, "viewer")))
        yield c


def _all(client, **params):
    out, url, params = [], "/api/v1/parcels", {"as_of": AS_OF, "limit": 1000, **params}
    resp = client.get(url, params=params)
    assert resp.status_code == 200, resp.text
    out.extend(resp.json()["parcels"])
    return out


def test_every_current_parcel_with_its_expected_category(client):
    items = _all(client)
    assert len(items) == len(EXPECTED)
    got = {i["parcel_code"]: (i["category"], i["criterion"]) for i in items}
    for e in EXPECTED.itertuples():
        assert got[e.parcel_code][0] == e.category
        if e.category != "none":
            assert got[e.parcel_code][1] == e.criterion


@pytest.mark.parametrize("category", ["approved_unsupplied", "supplied_unused", "low_efficiency", "none"])
def test_category_filter(client, category):
    items = _all(client, category=category)
    assert {i["parcel_code"] for i in items} == set(EXPECTED[EXPECTED["category"] == category]["parcel_code"])


def test_criterion_filter(client):
    items = _all(client, criterion="rating_d")
    assert len(items) == int((EXPECTED["criterion"] == "rating_d").sum())


def test_paging_with_next_links(client):
    seen, url = [], "/api/v1/parcels"
    params = {"as_of": AS_OF, "limit": 50, "category": "none", "sort": "-area_mu"}
    pages = 0
    while url:
        resp = client.get(url, params=params)
        params = None  # the next link carries them
        body = resp.json()
        seen.extend(body["parcels"])
        nxt = [lk["href"] for lk in body["links"] if lk["rel"] == "next"]
        url = nxt[0] if nxt else None
        pages += 1
    assert len(seen) == int((EXPECTED["category"] == "none").sum()) == len({i["parcel_code"] for i in seen})
    areas = [i["area_mu"] for i in seen]
    assert areas == sorted(areas, reverse=True)
    assert pages == -(-len(seen) // 50)
    plain = client.get("/api/v1/parcels", params={"as_of": AS_OF, "limit": 10, "offset": 10, "sort": "parcel_code"})
    codes = sorted(EXPECTED["parcel_code"])[10:20]
    assert [i["parcel_code"] for i in plain.json()["parcels"]] == codes
    assert 'rel="next"' in plain.headers["link"]


@pytest.mark.parametrize(("sort", "category"), [("parcel_code", None), ("-parcel_code", None),
                                                ("parcel_code", "low_efficiency")])
def test_next_links_page_by_code_after_the_last_one(client, sort, category):
    """Sorted by code, ``next`` carries ``after=<last code>`` (keyset paging) instead of an offset."""
    url, params, seen, afters = "/api/v1/parcels", {"as_of": AS_OF, "limit": 40, "sort": sort}, [], []
    if category:
        params["category"] = category
    while url:
        body = client.get(url, params=params).json()
        params = None
        seen.extend(i["parcel_code"] for i in body["parcels"])
        nxt = [lk["href"] for lk in body["links"] if lk["rel"] == "next"]
        url = nxt[0] if nxt else None
        if url:
            assert "offset=" not in url
            afters.append(url.split("after=")[1].split("&")[0])
    wanted = EXPECTED if not category else EXPECTED[EXPECTED["category"] == category]
    assert seen == sorted(wanted["parcel_code"], reverse=sort.startswith("-"))
    assert afters == seen[39:-1:40]


def test_after_needs_the_code_order(client):
    resp = client.get("/api/v1/parcels", params={"after": "331023", "sort": "area_mu"})
    assert resp.status_code == 400 and resp.json()["pointer"] == "/query/after"


def test_cheap_filters(client):
    town = _all(client, town="平桥镇")
    assert town and all(i["town"] == "平桥镇" for i in town)
    big = _all(client, min_mu=100, max_mu=200)
    assert big and all(100 <= i["area_mu"] <= 200 for i in big)
    split = _all(client, produced_by="split")
    assert set(SHOWCASE["produced_by_split"]) <= {i["parcel_code"] for i in split}
    q = _all(client, q="GB00009")
    assert SHOWCASE["split_ok"]["parcel_code"] in {i["parcel_code"] for i in q}
    holder = q[0]["holder_credit_code"]
    assert holder and all(i["holder_credit_code"] == holder for i in _all(client, holder=holder))
    rated_a = _all(client, rating="A")
    assert rated_a and all(i["rating"] == "A" for i in rated_a)
    # bbox around the 开发区 (CRS84) vs nothing far away
    near = _all(client, bbox="121.0,29.1,121.06,29.17")
    assert 0 < len(near) < len(EXPECTED)
    assert _all(client, bbox="120.0,28.0,120.01,28.01") == []
    lat_first = _all(client, bbox="29.1,121.0,29.17,121.06", **{"bbox-crs": "EPSG:4490"})
    assert {i["parcel_code"] for i in lat_first} == {i["parcel_code"] for i in near}


def test_formats(client):
    params = {"as_of": AS_OF, "limit": 5}
    gj = client.get("/api/v1/parcels", params={**params, "f": "geojson"})
    assert gj.headers["content-type"].startswith("application/geo+json")
    fc = gj.json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 5
    lon, lat = fc["features"][0]["geometry"]["coordinates"][0][0][0]
    assert 120 < lon < 122 and 28 < lat < 30
    # the same page in the storage CRS (authority axis order: northing first), and a category-filtered page
    plane = client.get("/api/v1/parcels", params={**params, "f": "geojson", "crs": "EPSG:4549"}).json()
    assert [f["id"] for f in plane["features"]] == [f["id"] for f in fc["features"]]
    north, east = plane["features"][0]["geometry"]["coordinates"][0][0][0]
    assert 3_200_000 < north < 3_300_000 and 500_000 < east < 600_000
    low = client.get("/api/v1/parcels", params={**params, "f": "geojson", "category": "low_efficiency"}).json()
    assert low["features"] and all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in low["features"])
    assert all(f["properties"]["category"] == "low_efficiency" for f in low["features"])
    raw = client.get("/api/v1/parcels", params={**params, "f": "csv"}).content
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][0] == "宗地代码" and "三块地类别" in rows[0] and len(rows) == 6
    xlsx = client.get("/api/v1/parcels", params={**params, "f": "xlsx"})
    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(xlsx.content)).active
    assert ws.cell(1, 1).value == "宗地代码" and ws.max_row == 6


@pytest.mark.parametrize("params", [{"sort": "nope"}, {"category": "x"}, {"bbox": "1,2,3"}, {"limit": 0},
                                    {"f": "pdf"}, {"rating": "E"}, {"bbox-crs": "EPSG:0", "bbox": "1,2,3,4"},
                                    {"bbox": "0,0,1000,1000"}, {"bbox": "nan,1,2,3"}, {"holder": "\x00"},
                                    {"offset": str(10**20)}, {"f": "geojson", "crs": "EPSG:4978"}])
def test_bad_parameters_are_problems(client, params):
    resp = client.get("/api/v1/parcels", params=params)
    assert 400 <= resp.status_code < 500
    assert resp.headers["content-type"].startswith("application/problem+json")


def test_detail_with_lineage_and_history(client):
    child = SHOWCASE["produced_by_split"][0]
    d = client.get(f"/api/v1/parcels/{child}", params={"as_of": AS_OF}).json()
    assert d["facts"]["produced_by"] == "split"
    (parent,) = d["lineage"]["parents"]
    assert parent["current"] is False
    p = client.get(f"/api/v1/parcels/{parent['parcel_code']}", params={"as_of": AS_OF}).json()
    assert p["facts"]["current"] is False and p["history"]
    assert child in {c["parcel_code"] for c in p["lineage"]["children"]}
    ok = client.get(f"/api/v1/parcels/{SHOWCASE['split_ok']['parcel_code']}", params={"as_of": AS_OF}).json()
    assert [b["number"] for b in ok["buildings"]] == ["1", "2", "3", "4"]
    assert ok["support_land"] and ok["years"] and ok["category"]["category"] == "none"
    assert client.get("/api/v1/parcels/331023000000GB00000").status_code == 404


def test_counts_by_category(client):
    got = Counter(i["category"] for i in _all(client))
    assert got == Counter(EXPECTED["category"])


@pytest.mark.parametrize("sort", ["holder", "-holder", "name", "-town", "category", "-category", "-criterion"])
def test_sort_with_a_category_filter_or_category_sort(client, sort):
    """Sorted as the SQL listing sorts: by the key (nulls last), then by parcel code."""
    params = {"sort": sort} if "category" in sort else {"sort": sort, "category": "low_efficiency"}
    items = _all(client, **params)
    assert items
    key = sort.lstrip("-")
    field = {"holder": "holder_name"}.get(key, key)
    rank = {"approved_unsupplied": 0, "supplied_unused": 1, "low_efficiency": 2, "none": 3}
    values = [rank[i["category"]] if key == "category" else i[field] for i in items]
    present = [v for v in values if v is not None]
    assert values == present + [None] * (len(values) - len(present))  # nulls last
    assert present == sorted(present, reverse=sort.startswith("-"))
    for a, b in itertools.pairwise(items):
        va = rank[a["category"]] if key == "category" else a[field]
        vb = rank[b["category"]] if key == "category" else b[field]
        if va == vb:
            assert a["parcel_code"] < b["parcel_code"]


def test_page_categories_from_the_materialised_table_equal_the_derivation(sample_settings, monkeypatch):
    """A listing reads today's categories from parcel_categories when fresh; the result is the same."""
    from sqlalchemy import text

    from app.db import make_engine
    from app.services.category_cache import ensure_fresh
    from app.services.parcels import Filters, list_parcels
    from gis.rules import today

    engine = make_engine(sample_settings)
    try:
        ensure_fresh(engine)
        f = Filters(as_of=today(), limit=1000)
        import app.services.parcels as parcels_module

        def not_used(*_a, **_k):
            raise AssertionError("a fresh parcel_categories should spare the per-page derivation")

        with monkeypatch.context() as m, engine.connect() as conn:
            m.setattr(parcels_module, "category_frame", not_used)
            fast, more_fast, ids_fast, _ = list_parcels(conn, f)
        with engine.begin() as conn:
            conn.execute(text("UPDATE category_state SET as_of = NULL"))
        with engine.connect() as conn:
            slow, more_slow, ids_slow, _ = list_parcels(conn, f)
    finally:
        engine.dispose()
    assert ids_fast == ids_slow and more_fast == more_slow
    assert fast == slow
    assert {p["category"] for p in fast} >= {"none", "approved_unsupplied", "supplied_unused"}
