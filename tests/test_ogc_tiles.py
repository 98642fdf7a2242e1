"""Vector tiles under /ogc/collections/{id}/tiles on the sample register: content, filters, caching, TileJSON."""

from __future__ import annotations

import math
import struct

import pytest

from tests.api_helpers import api_client, sql_rows

MVT = "application/vnd.mapbox-vector-tile"
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def client(open_settings):
    with api_client(open_settings) as c:
        c.get("/ogc/collections/parcels")  # refreshes the materialised categories the SQL below reads
        yield c


# ---- a minimal MVT (protobuf) reader: enough for layers, feature ids, properties and geometry types -------
def _fields(buf: bytes):
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 2:
            size, i = _varint(buf, i)
            value, i = buf[i:i + size], i + size
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wire}")
        yield number, wire, value


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _packed(buf: bytes) -> list[int]:
    out, i = [], 0
    while i < len(buf):
        v, i = _varint(buf, i)
        out.append(v)
    return out


def _value(buf: bytes):
    for number, _, v in _fields(buf):
        if number == 1:
            return v.decode()
        if number == 2:
            return struct.unpack("<f", v)[0]
        if number == 3:
            return struct.unpack("<d", v)[0]
        if number in (4, 5):
            return v
        if number == 6:
            return (v >> 1) ^ -(v & 1)
        if number == 7:
            return bool(v)
    return None


def decode(tile: bytes) -> dict[str, list[dict]]:
    """{layer name: [{"id", "type", "geometry" (command ints), "properties"}]}."""
    layers = {}
    for number, _, layer in _fields(tile):
        if number != 3:
            continue
        name, keys, values, features = None, [], [], []
        for n, _, v in _fields(layer):
            if n == 1:
                name = v.decode()
            elif n == 2:
                features.append(v)
            elif n == 3:
                keys.append(v.decode())
            elif n == 4:
                values.append(_value(v))
        out = []
        for f in features:
            feat = {"id": None, "type": None, "geometry": [], "properties": {}}
            for n, _, v in _fields(f):
                if n == 1:
                    feat["id"] = v
                elif n == 2:
                    tags = _packed(v)
                    feat["properties"] = {keys[k]: values[val] for k, val in zip(tags[::2], tags[1::2], strict=True)}
                elif n == 3:
                    feat["type"] = v
                elif n == 4:
                    feat["geometry"] = _packed(v)
            out.append(feat)
        layers[name] = out
    return layers


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def _url(collection: str, z: int, x: int, y: int) -> str:
    return f"/ogc/collections/{collection}/tiles/WebMercatorQuad/{z}/{x}/{y}"


def _codes_in_envelope(open_db, z: int, x: int, y: int, margin: float = 0.0, category: str | None = None) -> set[str]:
    rows = sql_rows(open_db, "SELECT p.parcel_code FROM parcels p JOIN parcel_categories c ON c.parcel_id = p.id "
                    "WHERE p.valid_to IS NULL AND (CAST(:cat AS text) IS NULL OR c.category = :cat) AND "
                    "ST_Intersects(ST_Transform(p.geom, 3857), ST_TileEnvelope(:z, :x, :y, margin => :m))",
                z=z, x=x, y=y, m=margin, cat=category)
    return {r[0] for r in rows}


@pytest.fixture(scope="module")
def known(client, open_db):
    """A low-efficiency parcel of the sample: (code, name, lon, lat) of a point inside it."""
    code, name, lon, lat = sql_rows(open_db, "SELECT p.parcel_code, p.name, ST_X(pt), ST_Y(pt) FROM parcels p "
                                    "JOIN parcel_categories c ON c.parcel_id = p.id, "
                                    "ST_Transform(ST_PointOnSurface(p.geom), 4326) pt "
                                    "WHERE p.valid_to IS NULL AND c.category = 'low_efficiency' "
                                    "ORDER BY p.parcel_code LIMIT 1")[0]
    return code, name, lon, lat


# ---- tiles ---------------------------------------------------------------------------------------------
def test_tile_over_a_known_parcel_holds_it_with_code_category_and_the_envelope_s_parcels(client, open_db, known):
    code, name, lon, lat = known
    z = 14
    x, y = tile_of(lon, lat, z)
    r = client.get(_url("parcels", z, x, y))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == MVT
    layers = decode(r.content)
    assert list(layers) == ["parcels"]
    features = {f["properties"]["parcel_code"]: f for f in layers["parcels"]}
    assert features[code]["properties"]["category"] == "low_efficiency"
    assert features[code]["properties"]["category_zh"] == "低效用地"
    assert features[code]["properties"]["name"] == name
    assert features[code]["type"] == 3  # polygon
    assert features[code]["geometry"]
    # every parcel that meets the tile is there; nothing beyond the tile's buffer is
    inside, buffered = _codes_in_envelope(open_db, z, x, y), _codes_in_envelope(open_db, z, x, y, 64 / 4096 + 1e-3)
    assert inside <= set(features) <= buffered
    ids = {f["id"] for f in layers["parcels"]}
    assert len(ids) == len(features) and all(isinstance(i, int) for i in ids)
    assert set(features[code]["properties"]) == {"parcel_code", "name", "town", "area_mu", "category",
                                                 "category_zh", "criterion", "holder_name"}


def test_low_zoom_tile_holds_the_county(client, open_db, known):
    _, _, lon, lat = known
    n_current = sql_rows(open_db, "SELECT count(*) FROM parcels WHERE valid_to IS NULL")[0][0]
    x, y = tile_of(lon, lat, 6)
    r = client.get(_url("parcels", 6, x, y))
    assert r.status_code == 200
    assert len(decode(r.content)["parcels"]) > n_current * 3 // 4  # small parcels stay visible
    assert len(r.content) < 100_000  # but the grid keeps the tile small


def test_far_away_tile_is_empty(client, known):
    _, _, lon, lat = known
    for lon_, lat_ in ((0.0, 0.0), (lon - 1.0, lat)):
        x, y = tile_of(lon_, lat_, 14)
        r = client.get(_url("parcels", 14, x, y))
        assert r.status_code == 200
        assert r.content == b""
        assert r.headers["content-type"] == MVT
        assert "ETag" in r.headers


def test_category_and_town_filters(client, open_db, known):
    _, _, lon, lat = known
    z = 10
    x, y = tile_of(lon, lat, z)
    everything = decode(client.get(_url("parcels", z, x, y)).content)["parcels"]
    r = client.get(_url("parcels", z, x, y), params={"category": "low_efficiency"})
    assert r.status_code == 200
    low = decode(r.content)["parcels"]
    assert low and len(low) < len(everything)
    assert {f["properties"]["category"] for f in low} == {"low_efficiency"}
    # against SQL: the low-efficiency parcels meeting the tile are all in it
    expected = _codes_in_envelope(open_db, z, x, y, category="low_efficiency")
    assert expected <= {f["properties"]["parcel_code"] for f in low}
    # the category collection gives the same parcels
    same = decode(client.get(_url("low_efficiency", z, x, y)).content)["low_efficiency"]
    assert {f["properties"]["parcel_code"] for f in same} == {f["properties"]["parcel_code"] for f in low}
    town = low[0]["properties"]["town"]
    both = decode(client.get(_url("parcels", z, x, y), params={"category": "low_efficiency", "town": town}).content)
    assert {f["properties"]["town"] for f in both["parcels"]} == {town}
    nothing = client.get(_url("parcels", z, x, y), params={"category": "no_such_category"})
    assert nothing.status_code == 200 and nothing.content == b""


def test_unknown_filter_is_400(client, known):
    _, _, lon, lat = known
    x, y = tile_of(lon, lat, 14)
    r = client.get(_url("parcels", 14, x, y), params={"colour": "red"})
    assert r.status_code == 400
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["code"] == "unknown-parameter"
    r = client.get(_url("parcels", 14, x, y), params={"area_mu": "lots"})
    assert r.status_code == 400


def test_buildings_tile_has_integer_ids_and_nothing_below_z13(client, open_db):
    bid, code, number, lon, lat = sql_rows(
        open_db, "SELECT b.id, p.parcel_code, b.number, ST_X(pt), ST_Y(pt) FROM buildings b "
            "JOIN parcels p ON p.id = b.parcel_id, ST_Transform(ST_PointOnSurface(b.geom), 4326) pt "
            "WHERE p.valid_to IS NULL ORDER BY b.id LIMIT 1")[0]
    x, y = tile_of(lon, lat, 16)
    features = {f["id"]: f for f in decode(client.get(_url("buildings", 16, x, y)).content)["buildings"]}
    assert features[bid]["properties"]["parcel_code"] == code
    assert features[bid]["properties"]["number"] == number
    x, y = tile_of(lon, lat, 12)
    r = client.get(_url("buildings", 12, x, y))
    assert r.status_code == 200 and r.content == b""
    x, y = tile_of(lon, lat, 13)
    assert bid in {f["id"] for f in decode(client.get(_url("buildings", 13, x, y)).content)["buildings"]}


def test_304_on_if_none_match_and_cache_headers(client, known):
    _, _, lon, lat = known
    x, y = tile_of(lon, lat, 14)
    url = _url("parcels", 14, x, y)
    r = client.get(url)
    assert r.status_code == 200
    etag = r.headers["ETag"]
    assert r.headers["Cache-Control"] == "public, max-age=60"
    assert r.headers["Last-Modified"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["ETag"] == etag
    assert client.get(url, headers={"If-None-Match": 'W/"0-other"'}).status_code == 200
    # another tile, or another filter, is another representation
    assert client.get(_url("parcels", 14, x + 1, y)).headers["ETag"] != etag
    assert client.get(url, params={"category": "low_efficiency"}).headers["ETag"] != etag


def test_private_cache_when_a_token_is_needed(sample_settings_module, known):
    from tests.api_helpers import auth, make_token

    _, _, lon, lat = known
    x, y = tile_of(lon, lat, 14)
    with api_client(sample_settings_module) as c:
        assert c.get(_url("parcels", 14, x, y)).status_code == 401
        r = c.get(_url("parcels", 14, x, y), headers=auth(make_token(sample_settings_module, "viewer")))
        assert r.status_code == 200
        assert r.headers["Cache-Control"] == "private, max-age=60"


@pytest.mark.parametrize("zxy", ["23/0/0", "1/2/0", "1/0/2", "0/0/1", "-1/0/0", "a/0/0", "3/8/0", "3/0/8.png",
                                 "2/1/1.5"])
def test_invalid_tile_address_is_404_problem(client, zxy):
    r = client.get(f"/ogc/collections/parcels/tiles/WebMercatorQuad/{zxy}")
    assert r.status_code == 404, zxy
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["code"] == "tile-not-found"
    assert "瓦片" in body["detail_zh"] and "tile" in body["detail_en"]


def test_valid_edge_addresses_and_suffix(client):
    for zxy in ("0/0/0", "22/4194303/4194303", "3/7/7.mvt", "3/7/7.pbf"):
        assert client.get(f"/ogc/collections/parcels/tiles/WebMercatorQuad/{zxy}").status_code == 200, zxy


def test_unknown_collection_and_tile_matrix_set_are_404(client):
    assert client.get("/ogc/collections/nope/tiles/WebMercatorQuad/0/0/0").status_code == 404
    r = client.get("/ogc/collections/parcels/tiles/WorldCRS84Quad/0/0/0")
    assert r.status_code == 404 and r.json()["code"] == "tile-matrix-set-not-found"
    assert client.get("/ogc/collections/parcels/tiles/WorldCRS84Quad").status_code == 404


# ---- TileJSON and tileset documents ---------------------------------------------------------------------
def test_tilejson_template_bounds_and_layers(client, open_db):
    r = client.get("/ogc/collections/parcels/tiles/WebMercatorQuad")
    assert r.status_code == 200
    doc = r.json()
    assert doc["tilejson"] == "3.0.0"
    assert doc["tiles"] == ["http://testserver/ogc/collections/parcels/tiles/WebMercatorQuad/{z}/{x}/{y}"]
    w, s, e, n = sql_rows(open_db, "SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM (SELECT "
                          "ST_Transform(ST_SetSRID(ST_Extent(geom)::geometry, 4549), 4326) b FROM parcels "
                          "WHERE valid_to IS NULL) s")[0]
    assert doc["bounds"] == pytest.approx([w, s, e, n], abs=1e-5)
    assert 120 < doc["center"][0] < 122 and 28 < doc["center"][1] < 30
    assert doc["minzoom"] <= doc["center"][2] <= doc["maxzoom"]
    (layer,) = doc["vector_layers"]
    assert layer["id"] == "parcels"
    assert {"parcel_code", "category", "criterion", "town", "area_mu", "holder_name"} <= set(layer["fields"])
    assert all(isinstance(v, str) for v in layer["fields"].values())
    assert doc["description"] and any("\u4e00" <= ch <= "\u9fff" for ch in doc["description"])
    assert r.headers["ETag"]
    assert client.get("/ogc/collections/parcels/tiles/WebMercatorQuad",
                      headers={"If-None-Match": r.headers["ETag"]}).status_code == 304


def test_tilejson_passes_filters_to_the_template_and_follows_the_proxy(client, open_settings):
    proxied = open_settings.model_copy(update={"forwarded_allow_ips": "*"})
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "gis.example.cn", "X-Forwarded-Prefix": "/landgis"}
    with api_client(proxied) as c:
        r = c.get("/ogc/collections/parcels/tiles/WebMercatorQuad", params={"category": "low_efficiency"},
                  headers=headers)
    assert r.json()["tiles"] == ["https://gis.example.cn/landgis/ogc/collections/parcels/tiles/WebMercatorQuad/"
                                 "{z}/{x}/{y}?category=low_efficiency"]
    etag = r.headers["ETag"]
    # another public address is another document
    direct = client.get("/ogc/collections/parcels/tiles/WebMercatorQuad", params={"category": "low_efficiency"})
    assert direct.headers["ETag"] != etag
    assert client.get("/ogc/collections/parcels/tiles/WebMercatorQuad", params={"x": "1"}).status_code == 400
    buildings = client.get("/ogc/collections/buildings/tiles/WebMercatorQuad").json()
    assert buildings["minzoom"] == 13 and buildings["vector_layers"][0]["minzoom"] == 13


def test_tilesets_list_links_to_tilejson_and_tile_template(client):
    r = client.get("/ogc/collections/low_efficiency/tiles")
    assert r.status_code == 200
    (ts,) = r.json()["tilesets"]
    assert ts["dataType"] == "vector"
    assert ts["tileMatrixSetURI"] == "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
    links = {link["rel"]: link for link in ts["links"]}
    base = "http://testserver/ogc/collections/low_efficiency/tiles/WebMercatorQuad"
    assert links["self"]["href"] == base
    assert links["item"]["href"] == base + "/{tileMatrix}/{tileCol}/{tileRow}"
    assert links["item"]["templated"] is True and links["item"]["type"] == MVT
    # the linked documents exist
    assert client.get(links["self"]["href"]).json()["tilejson"] == "3.0.0"
    tms = client.get(links["http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"]["href"]).json()
    assert tms["id"] == "WebMercatorQuad" and len(tms["tileMatrices"]) == 23
    assert tms["tileMatrices"][14]["matrixWidth"] == 2 ** 14
    # the collection document's tiles link resolves
    coll = client.get("/ogc/collections/low_efficiency").json()
    tiles_link = next(link for link in coll["links"] if link["rel"].endswith("tilesets-vector"))
    assert client.get(tiles_link["href"]).status_code == 200


def test_every_tile_of_the_low_zooms_answers(client):
    """World-sized tiles (poles, the antimeridian) never reach the Gauss–Krüger projection: no 500s."""
    for z in range(4):
        for x in range(1 << z):
            for y in range(1 << z):
                r = client.get(_url("parcels", z, x, y))
                assert r.status_code == 200, (z, x, y, r.text)


def test_history_tile_has_version_ids_and_validity_days(client, open_db):
    vid, code, valid_to, lon, lat = sql_rows(
        open_db, "SELECT id, parcel_code, (valid_to AT TIME ZONE 'Asia/Shanghai')::date::text, ST_X(pt), ST_Y(pt) "
            "FROM parcels, ST_Transform(ST_PointOnSurface(geom), 4326) pt WHERE valid_to IS NOT NULL "
            "ORDER BY id LIMIT 1")[0]
    x, y = tile_of(lon, lat, 15)
    features = {f["id"]: f["properties"] for f in decode(client.get(_url("parcel_history", 15, x, y)).content)
                ["parcel_history"]}
    assert features[vid]["parcel_code"] == code
    assert features[vid]["valid_to"] == valid_to
    # the current parcels' layer never shows a retired version
    current = decode(client.get(_url("parcels", 15, x, y)).content).get("parcels", [])
    assert vid not in {f["id"] for f in current}


def test_overview_grid_counts_every_parcel_once(client, open_db, known):
    """At z 6 the county is one tile: the overview's counts per category are the register's."""
    _, _, lon, lat = known
    x, y = tile_of(lon, lat, 6)
    r = client.get(_url("parcels", 6, x, y), params={"grid": 64})
    assert r.status_code == 200
    cells = decode(r.content)["parcels_overview"]
    got: dict[str, int] = {}
    for f in cells:
        got[f["properties"]["category"]] = got.get(f["properties"]["category"], 0) + f["properties"]["n"]
        assert f["type"] == 3 and f["properties"]["rank"] == (0 if f["properties"]["category"] == "none" else 1)
    want = dict(sql_rows(open_db, "SELECT c.category, count(*) FROM parcels p JOIN parcel_categories c "
                                  "ON c.parcel_id = p.id WHERE p.valid_to IS NULL GROUP BY 1"))
    assert got == want
    area = sum(f["properties"]["area_mu"] for f in cells)
    total = sql_rows(open_db, "SELECT sum(area_mu) FROM parcels WHERE valid_to IS NULL")[0][0]
    assert area == pytest.approx(float(total), abs=0.01 * len(cells))


def test_overview_and_tiles_take_cql_filters(client, open_db, known):
    _, _, lon, lat = known
    x, y = tile_of(lon, lat, 6)
    q = {"grid": 32, "filter": "area_mu >= 30 AND category IN ('none', 'low_efficiency')"}
    cells = decode(client.get(_url("parcels", 6, x, y), params=q).content).get("parcels_overview", [])
    want = sql_rows(open_db, "SELECT count(*) FROM parcels p JOIN parcel_categories c ON c.parcel_id = p.id "
                             "WHERE p.valid_to IS NULL AND p.area_mu >= 30 "
                             "AND c.category IN ('none', 'low_efficiency')")
    assert sum(f["properties"]["n"] for f in cells) == want[0][0] > 0
    xs, ys = tile_of(lon, lat, 13)
    feats = decode(client.get(_url("parcels", 13, xs, ys), params={"filter": "area_mu >= 30"}).content)["parcels"]
    assert feats and all(f["properties"]["area_mu"] >= 30 for f in feats)


@pytest.mark.parametrize(("collection", "grid"), [("parcels", "10"), ("parcels", "x"), ("buildings", "32")])
def test_bad_overview_grid_is_400(client, known, collection, grid):
    r = client.get(_url(collection, 6, 53, 26), params={"grid": grid})
    assert r.status_code == 400 and r.json()["pointer"] == "/query/grid"


def test_tile_cache_serves_the_same_bytes_and_keys_on_the_register_version():
    from app.ogc.state import State
    from app.ogc.tiles import Tile, TileCache

    cache = TileCache(1000)
    cache.put(("a",), b"x" * 100)
    assert cache.get(("a",)) == b"x" * 100
    cache.put(("big",), b"y" * 200)  # over an eighth of the budget: not kept
    assert cache.get(("big",)) is None
    for i in range(12):
        cache.put((i,), b"z" * 100)
    assert cache.size <= 1000 and cache.get(("a",)) is None and cache.get((11,)) is not None

    class _Req:
        class query_params:
            @staticmethod
            def multi_items():
                return [("v", "1"), ("category", "none")]

    from app.ogc.collections import COLLECTIONS
    from app.ogc.tiles import _cache_key

    c = COLLECTIONS["parcels"]
    s1 = State(1, None, None, True)
    s2 = State(2, None, None, True)
    k1, k2 = _cache_key(_Req, c, Tile(6, 53, 26), s1), _cache_key(_Req, c, Tile(6, 53, 26), s2)
    assert k1 != k2 and ("v", "1") not in k1[2]
