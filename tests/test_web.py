"""The API the web UI stands on (/api/v1/me, /jurisdiction, /stats/summary, rating in tiles) and its static files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.api_helpers import api_client, auth, make_token, sql_rows

STATIC = Path(__file__).resolve().parents[1] / "app" / "web" / "static"


@pytest.fixture(scope="module")
def client(sample_settings_module):
    with api_client(sample_settings_module) as c:
        yield c


@pytest.fixture(scope="module")
def keys(sample_settings_module):
    return {r: make_token(sample_settings_module, r, f"web-{r}") for r in ("viewer", "officer", "admin")}


@pytest.mark.parametrize(("role", "check", "tokens"), [("viewer", False, False), ("officer", True, False),
                                                       ("admin", True, True)])
def test_me_tells_the_role_and_what_it_may_do(client, keys, role, check, tokens):
    r = client.get("/api/v1/me", headers=auth(keys[role]))
    assert r.status_code == 200
    me = r.json()
    assert (me["role"], me["name"], me["anonymous"]) == (role, f"web-{role}", False)
    assert me["can"]["check"] is check and me["can"]["execute"] is check
    assert me["can"]["manage_tokens"] is tokens


def test_me_without_token_is_401(client):
    r = client.get("/api/v1/me")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")


def test_me_anonymous_when_reads_are_open(open_settings):
    with api_client(open_settings) as c:
        me = c.get("/api/v1/me").json()
    assert me["anonymous"] is True and me["role"] == "viewer" and me["can"]["check"] is False


def test_jurisdiction_outline_towns_and_targets(client, keys):
    j = client.get("/api/v1/jurisdiction", headers=auth(keys["viewer"])).json()
    assert j["county_code"] == "331023" and j["name_zh"].startswith("天台")
    ring = j["outline"]["geometry"]["coordinates"][0]
    w, s, e, n = j["bbox"]
    assert all(w <= x <= e and s <= y <= n for x, y in ring)
    assert 120.5 < w < 121.03 < e < 121.5 and 28.8 < s < 29.14 < n < 29.5
    assert {"赤城街道", "始丰街道", "福溪街道", "平桥镇"} <= {t["name"] for t in j["towns"]}
    assert j["targets"]["disposal_low_efficiency_mu"] == 200
    assert j["basemap"] is None


def test_basemap_is_a_setting(sample_settings_module):
    settings = sample_settings_module.model_copy(update={"anonymous_read": True,
                                                         "basemap_url": "http://tiles.local/{z}/{x}/{y}.png",
                                                         "basemap_attribution": "测绘院"})
    with api_client(settings) as c:
        j = c.get("/api/v1/jurisdiction").json()
    assert j["basemap"] == {"tiles": "http://tiles.local/{z}/{x}/{y}.png", "attribution": "测绘院"}


def test_summary_agrees_with_stats_and_sql(client, keys, sample_settings_module):
    h = auth(keys["viewer"])
    summary = client.get("/api/v1/stats/summary", headers=h).json()
    stats = client.get("/api/v1/stats", params={"as_of": summary["as_of"]}, headers=h).json()
    for cat, v in summary["categories"].items():
        if cat == "none":
            continue
        assert v["count"] == stats["categories"][cat]["count"], cat
        assert v["area_mu"] == pytest.approx(stats["categories"][cat]["area_mu"], abs=0.011), cat
    town = "赤城街道"
    by_town = client.get("/api/v1/stats/summary", params={"town": town, "min_mu": 20}, headers=h).json()
    from sqlalchemy import create_engine

    engine = create_engine(sample_settings_module.sqlalchemy_url)
    try:
        want = sql_rows(engine, "SELECT count(*) FROM parcels WHERE valid_to IS NULL AND town = :t AND area_mu >= 20",
                        t=town)[0][0]
    finally:
        engine.dispose()
    assert by_town["total"]["count"] == want and by_town["filters"] == {"town": town, "min_mu": 20.0}


def test_summary_rejects_bad_rating(client, keys):
    r = client.get("/api/v1/stats/summary", params={"rating": "E"}, headers=auth(keys["viewer"]))
    assert r.status_code == 422 and "rating" in r.json()["detail"]


def test_materialised_rating_equals_the_rest_filter(sample_settings):
    """parcel_categories.rating on a date is last year's rating, as GET /api/v1/parcels?rating= reads it."""
    from datetime import date

    from app.db import make_engine
    from app.services.category_cache import refresh

    engine = make_engine(sample_settings)
    try:
        with engine.begin() as conn:
            refresh(conn, date(2025, 6, 30))
        stored = {r[0]: r[1] for r in sql_rows(engine, "SELECT p.parcel_code, c.rating FROM parcel_categories c "
                                                       "JOIN parcels p ON p.id = c.parcel_id")}
    finally:
        engine.dispose()
    key = make_token(sample_settings, "viewer")
    with api_client(sample_settings) as c:
        for rating in "ABCD":
            rest = c.get("/api/v1/parcels", params={"rating": rating, "limit": 10000, "as_of": "2025-06-30"},
                         headers=auth(key)).json()["parcels"]
            assert {p["parcel_code"] for p in rest} == {k for k, v in stored.items() if v == rating}, rating
    assert sum(v == "B" for v in stored.values()) > 0


def test_rating_is_an_ogc_property_and_filter(open_settings):
    with api_client(open_settings) as c:
        q = c.get("/ogc/collections/parcels/queryables").json()["properties"]
        assert q["rating"]["type"] == "string"
        items = c.get("/ogc/collections/parcels/items", params={"limit": 5}).json()["features"]
        assert all("rating" in f["properties"] for f in items)
        assert c.get("/ogc/collections/parcels/items", params={"rating": "B"}).status_code == 200


def test_tiles_carry_rating_and_accept_a_cache_key(open_settings):
    from app.ogc.tiles import TILE_PROPS

    assert "rating" in TILE_PROPS["parcels"][1]
    with api_client(open_settings) as c:
        assert c.get("/ogc/collections/parcels/tiles/WebMercatorQuad/0/0/0", params={"v": "123"}).status_code == 200
        assert c.get("/ogc/collections/parcels/tiles/WebMercatorQuad/0/0/0", params={"w": "1"}).status_code == 400


def test_index_and_static_files(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-cache"
    assert "/static/vendor/maplibre-gl/maplibre-gl.js" in r.text and "/static/js/app.js" in r.text
    head = client.head("/")
    assert head.status_code == 200 and head.content == b"" and head.headers["content-type"].startswith("text/html")
    for path in ("/static/js/app.js", "/static/css/app.css", "/static/vendor/echarts/echarts.min.js"):
        assert client.get(path).status_code == 200, path
    assert client.get("/static/js/nothing.js").status_code == 404


def test_vendored_libraries_match_their_recorded_hashes():
    vendor = STATIC / "vendor"
    sums = [line.split() for line in (vendor / "SHA256SUMS").read_text().splitlines() if line.strip()]
    assert {name for _, name in sums} >= {"maplibre-gl/maplibre-gl.js", "echarts/echarts.min.js"}
    for digest, name in sums:
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, name
    assert (vendor / "maplibre-gl" / "LICENSE.txt").exists() and (vendor / "echarts" / "LICENSE").exists()


def test_every_i18n_key_used_in_html_exists():
    """A key missing from the dictionaries would show as its raw name in the UI."""
    import re

    i18n = (STATIC / "js" / "i18n.js").read_text(encoding="utf-8")
    zh_part = i18n.split("const en =")[0]
    en_part = i18n.split("const en =")[1]
    used = set(re.findall(r'data-i18n(?:-placeholder)?="([^"]+)"', (STATIC / "index.html").read_text(encoding="utf-8")))
    for js in (STATIC / "js").glob("*.js"):
        used |= set(re.findall(r'\bt\("([a-zA-Z]+\.[a-zA-Z-]+)"', js.read_text(encoding="utf-8")))
    missing_zh = {k for k in used if f'"{k}"' not in zh_part}
    missing_en = {k for k in used if f'"{k}"' not in en_part}
    assert not missing_zh and not missing_en, (missing_zh, missing_en)
