"""CQL2 → SQL translation (app/ogc/cql.py): the SQL and parameters it writes, and the same filters run
on real PostGIS against hand-written SQL over the sample Tiantai parcels."""

from __future__ import annotations

import json
from datetime import date

import psycopg
import pytest
import shapely
from shapely.geometry import Point, box
from sqlalchemy.engine import make_url

from app.errors import ProblemError
from app.ogc.cql import CONFORMANCE, Queryable, compile_filter
from gis.crs import transform_geom
from gis.errors import GisInputError

QUERYABLES = {q.name: q for q in (
    Queryable("parcel_code", "p.parcel_code", "string", "宗地代码"),
    Queryable("town", "p.town", "string", "乡镇（街道）"),
    Queryable("area_mu", "p.area_mu", "number", "面积（亩）"),
    Queryable("area_m2", "p.area_m2", "number", "面积（平方米）"),
    Queryable("approved_on", "p.approved_on", "date", "批准日期"),
    Queryable("standard_land", "p.standard_land", "boolean", "标准地"),
    Queryable("holder_name", "h.name", "string", "权利人"),
    Queryable("geometry", "p.geom", "geometry", "几何"),
)}
BASE = ("SELECT count(*) FROM parcels p LEFT JOIN holders h ON h.id = p.holder_id "
        "WHERE p.valid_to IS NULL AND ({})")


def compile_text(text: str, crs: str | None = None, **kw):
    return compile_filter(text, "cql2-text", crs, QUERYABLES, **kw)


def compile_json(doc: dict, crs: str | None = None):
    return compile_filter(json.dumps(doc), "cql2-json", crs, QUERYABLES)


# ---------------------------------------------------------------------------------------------
# Translation

def test_conformance_claims_only_what_is_implemented():
    conf = "http://www.opengis.net/spec/cql2/1.0/conf/"
    assert set(CONFORMANCE) == {conf + c for c in (
        "basic-cql2", "advanced-comparison-operators", "basic-spatial-functions", "basic-spatial-functions-plus",
        "spatial-functions", "property-property", "cql2-text", "cql2-json")}
    assert conf + "arithmetic" not in CONFORMANCE


@pytest.mark.parametrize(("op", "sql_op"), [("=", "="), ("<>", "<>"), ("<", "<"), ("<=", "<="), (">", ">"),
                                             (">=", ">=")])
def test_comparison_operators(op, sql_op):
    sql, params = compile_text(f"area_mu {op} 12.5")
    assert sql == f"(p.area_mu {sql_op} %(f0)s::double precision)"
    assert params == {"f0": 12.5}


def test_values_never_enter_the_sql_text():
    evil = "x'; DROP TABLE parcels; --"
    sql, params = compile_text("parcel_code = 'x''; DROP TABLE parcels; --'")
    assert sql == "(p.parcel_code = %(f0)s::text)"
    assert params == {"f0": evil}
    assert (sql, params) == compile_json({"op": "=", "args": [{"property": "parcel_code"}, evil]})


def test_param_prefix_and_casts():
    sql, params = compile_text("approved_on >= DATE('2020-01-01') AND standard_land = TRUE AND town IS NOT NULL",
                               param_prefix="cql_")
    assert sql == ("(((p.approved_on >= %(cql_0)s::date) AND (p.standard_land = %(cql_1)s::boolean))"
                   " AND (p.town IS NOT NULL))")
    assert params == {"cql_0": date(2020, 1, 1), "cql_1": True}


def test_string_literal_typed_after_the_property():
    assert compile_text("area_mu > '7.5'") == ("(p.area_mu > %(f0)s::double precision)", {"f0": 7.5})
    assert compile_text("'2021-05-01' < approved_on") == ("(%(f0)s::date < p.approved_on)",
                                                          {"f0": date(2021, 5, 1)})


def test_like_between_in_and_not():
    sql, params = compile_text(r"NOT (town LIKE '始丰\_%') AND area_mu NOT BETWEEN 1 AND 5 AND town IN ('a', 'b')")
    assert sql == ("(((NOT (p.town LIKE %(f0)s::text)) AND (p.area_mu NOT BETWEEN %(f1)s::bigint AND %(f2)s::bigint))"
                   " AND (p.town IN (%(f3)s::text, %(f4)s::text)))")
    assert params == {"f0": "始丰\\_%", "f1": 1, "f2": 5, "f3": "a", "f4": "b"}


def test_cql2_json_between_and_bbox_in_cql2_order():
    sql, params = compile_json({"op": "between", "args": [{"property": "area_mu"}, 1, 5]})
    assert (sql, params) == compile_text("area_mu BETWEEN 1 AND 5")
    text = compile_text("S_INTERSECTS(geometry, BBOX(120.9, 29.1, 121.1, 29.2))")
    assert compile_json({"op": "s_intersects", "args": [{"property": "geometry"},
                                                         {"bbox": [120.9, 29.1, 121.1, 29.2]}]}) == text


def _point_of(params: dict) -> Point:
    (wkb,) = params.values()
    return shapely.from_wkb(wkb)


def test_geometry_literals_honour_authority_axis_order():
    expected = transform_geom(Point(121.0, 29.15), "OGC:CRS84", 4549)
    crs84 = _point_of(compile_text("S_INTERSECTS(geometry, POINT(121 29.15))")[1])
    lat_lon = _point_of(compile_text("S_INTERSECTS(geometry, POINT(29.15 121))", "EPSG:4326")[1])
    cgcs_lat_lon = _point_of(compile_text("S_INTERSECTS(geometry, POINT(29.15 121))", "EPSG:4490")[1])
    assert crs84.equals_exact(expected, 1e-6)
    assert lat_lon.equals_exact(expected, 1e-6)
    assert cgcs_lat_lon.distance(expected) < 2.0
    northing_first = _point_of(compile_text("S_INTERSECTS(geometry, POINT(3225000 603000))", "EPSG:4549")[1])
    assert (northing_first.x, northing_first.y) == (603000.0, 3225000.0)
    zone_prefixed = _point_of(compile_text("S_INTERSECTS(geometry, POINT(3225000 40603000))", "EPSG:4528")[1])
    assert zone_prefixed.equals_exact(Point(603000.0, 3225000.0), 1e-3)


@pytest.mark.parametrize("wkt", [
    "POINT(121 29.15)", "MULTIPOINT(121 29.15, 121.01 29.16)", "LINESTRING(121 29.15, 121.01 29.16)",
    "MULTILINESTRING((121 29.15, 121.01 29.16), (121.02 29.15, 121.03 29.16))",
    "POLYGON((121 29.15, 121.01 29.15, 121.01 29.16, 121 29.15))",
    "MULTIPOLYGON(((121 29.15, 121.01 29.15, 121.01 29.16, 121 29.15)))",
    "GEOMETRYCOLLECTION(POINT(121 29.15), LINESTRING(121 29.15, 121.01 29.16))",
])
def test_every_geometry_type_is_accepted(wkt):
    sql, params = compile_text(f"S_INTERSECTS(geometry, {wkt})")
    assert sql == "ST_Intersects(p.geom, ST_GeomFromWKB(%(f0)s::bytea, 4549))"
    assert shapely.from_wkb(params["f0"]).geom_type.upper() == wkt.split("(")[0]


# ---------------------------------------------------------------------------------------------
# Errors: 400 invalid-filter, in both languages, naming what was wrong

@pytest.mark.parametrize(("lang", "text", "zh", "en"), [
    ("cql2-text", "town = ", "语法错误", "syntax error"),
    ("cql2-text", "town = 'x' AND AND", "第 1 行", "line 1"),
    ("cql2-text", "", "为空", "empty"),
    ("cql2-text", "owner = 'x'", "owner", "queryables: approved_on, area_m2, area_mu"),
    ("cql2-text", "area_mu = 'abc'", "'abc'", "cannot be compared as a number"),
    ("cql2-text", "approved_on > 'yesterday'", "日期", "as a date"),
    ("cql2-text", "town = 5", "类型不匹配", "type mismatch"),
    ("cql2-text", "town = area_mu", "类型不匹配", "town (string) cannot be compared with area_mu (number)"),
    ("cql2-text", "area_mu LIKE '1%'", "LIKE", "LIKE needs a string"),
    ("cql2-text", "town LIKE 'abc\\'", "转义符", "escape character"),
    ("cql2-text", "geometry = 'x'", "几何", "geometry"),
    ("cql2-text", "S_INTERSECTS(town, POINT(121 29))", "S_INTERSECTS", "needs geometries, but town is a string"),
    ("cql2-text", "S_INTERSECTS(geometry, BBOX(121, 29, 120, 30))", "BBOX", "BBOX minimum exceeds maximum"),
    ("cql2-text", "S_INTERSECTS(geometry, POINT(200 100))", "范围", "outside the range"),
    ("cql2-text", "S_INTERSECTS(geometry, POLYGON((0 0, 1 1, 1 0, 0 1, 0 0)))", "无效", "invalid geometry"),
    ("cql2-text", "S_INTERSECTS(geometry, SRID=4326;POINT(121 29))", "filter-crs", "filter-crs"),
    ("cql2-text", "approved_on T_BEFORE DATE('2020-01-01')", "TimeBefore", "unsupported filter element: TimeBefore"),
    ("cql2-text", "ACCENTI(town) = 'x'", "accenti", "unsupported function: accenti"),
    ("cql2-text", "area_mu / 0 > 1", "除数", "division by zero"),
    ("cql2-text", "town + 1 > 1", "算术", "arithmetic + needs numbers"),
    ("cql2-text", "standard_land > TRUE", "布尔", "not defined for a boolean"),
    ("cql2-json", "{not json", "不是合法 JSON", "not valid JSON"),
    ("cql2-json", "[1, 2]", "JSON 对象", "must be a JSON object"),
    ("cql2-json", '{"op": "frobnicate", "args": [1, 2]}', "无法解析", "cannot parse the CQL2 JSON filter"),
    ("cql2-json", '{"op": "=", "args": [{"property": "nope"}, 1]}', "nope", "unknown property: nope"),
    ("cql2-json", '{"op": "like", "args": [{"property": "town"}, 5]}', "LIKE 模式", "LIKE pattern must be a string"),
    ("cql2-json", '{"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": [1, 2]}]}', "BBOX",
     "BBOX needs 4 (or 6) numbers"),
])
def test_invalid_filters_are_400_in_both_languages(lang, text, zh, en):
    with pytest.raises(ProblemError) as info:
        compile_filter(text, lang, None, QUERYABLES)
    err = info.value
    assert (err.status, err.code, err.pointer) == (400, "invalid-filter", "/query/filter")
    assert zh in err.detail_zh, err.detail_zh
    assert en in err.detail_en, err.detail_en
    assert any("\u4e00" <= ch <= "\u9fff" for ch in err.detail_zh)


def test_unknown_filter_lang_is_400():
    with pytest.raises(ProblemError) as info:
        compile_filter("town = 'x'", "ecql", None, QUERYABLES)
    assert info.value.status == 400
    assert "ecql" in info.value.detail_zh and "only cql2-text and cql2-json" in info.value.detail_en


def test_unknown_filter_crs_is_400():
    with pytest.raises(GisInputError) as info:
        compile_filter("town = 'x'", None, "EPSG:999999", QUERYABLES)
    assert info.value.status == 400
    assert info.value.detail_zh and info.value.detail_en


# ---------------------------------------------------------------------------------------------
# On PostGIS: the translated filter selects what hand-written SQL selects

@pytest.fixture(scope="module")
def conn(sample_settings_module):
    url = make_url(sample_settings_module.sqlalchemy_url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as c:
        yield c


def count_filter(conn, sql: str, params: dict) -> int:
    return conn.execute(BASE.format(sql), params).fetchone()[0]


def count_sql(conn, where: str, params: tuple = ()) -> int:
    """Hand-written SQL; without params psycopg leaves ``%`` in LIKE patterns alone."""
    return conn.execute(BASE.format(where), params or None).fetchone()[0]


def _some_town(conn) -> str:
    return conn.execute("SELECT town FROM parcels WHERE valid_to IS NULL GROUP BY town "
                        "ORDER BY count(*) DESC LIMIT 1").fetchone()[0]


CASES = [
    ("area_mu > 10 AND standard_land = TRUE",
     {"op": "and", "args": [{"op": ">", "args": [{"property": "area_mu"}, 10]},
                            {"op": "=", "args": [{"property": "standard_land"}, True]}]},
     "p.area_mu > 10 AND p.standard_land"),
    ("approved_on >= DATE('2020-01-01') OR approved_on IS NULL",
     {"op": "or", "args": [{"op": ">=", "args": [{"property": "approved_on"}, {"date": "2020-01-01"}]},
                           {"op": "isNull", "args": [{"property": "approved_on"}]}]},
     "p.approved_on >= DATE '2020-01-01' OR p.approved_on IS NULL"),
    ("approved_on < TIMESTAMP('2018-06-30T00:00:00Z')",
     {"op": "<", "args": [{"property": "approved_on"}, {"timestamp": "2018-06-30T00:00:00Z"}]},
     "p.approved_on < TIMESTAMPTZ '2018-06-30T00:00:00Z'"),
    ("area_mu BETWEEN 5 AND 20",
     {"op": "between", "args": [{"property": "area_mu"}, 5, 20]},
     "p.area_mu BETWEEN 5 AND 20"),
    ("holder_name LIKE '%有限公司' AND NOT (parcel_code LIKE '3310230_0001%')",
     {"op": "and", "args": [{"op": "like", "args": [{"property": "holder_name"}, "%有限公司"]},
                            {"op": "not", "args": [{"op": "like", "args": [{"property": "parcel_code"},
                                                                            "3310230_0001%"]}]}]},
     "h.name LIKE '%有限公司' AND NOT (p.parcel_code LIKE '3310230_0001%')"),
    ("town IN ('福溪街道', '始丰街道') AND town NOT IN ('始丰街道')",
     {"op": "and", "args": [{"op": "in", "args": [{"property": "town"}, ["福溪街道", "始丰街道"]]},
                            {"op": "not", "args": [{"op": "in", "args": [{"property": "town"}, ["始丰街道"]]}]}]},
     "p.town IN ('福溪街道', '始丰街道') AND p.town NOT IN ('始丰街道')"),
    ("area_mu * 666.6667 - area_m2 < 1 AND area_m2 / 2 > 5000 + 1",
     {"op": "and", "args": [
         {"op": "<", "args": [{"op": "-", "args": [{"op": "*", "args": [{"property": "area_mu"}, 666.6667]},
                                                   {"property": "area_m2"}]}, 1]},
         {"op": ">", "args": [{"op": "/", "args": [{"property": "area_m2"}, 2]}, {"op": "+", "args": [5000, 1]}]}]},
     "p.area_mu * 666.6667 - p.area_m2 < 1 AND p.area_m2 / 2 > 5001"),
    ("20 < area_mu AND area_m2 > area_mu AND 1 = 1",
     {"op": "and", "args": [{"op": "<", "args": [20, {"property": "area_mu"}]},
                            {"op": ">", "args": [{"property": "area_m2"}, {"property": "area_mu"}]},
                            {"op": "=", "args": [1, 1]}]},
     "p.area_mu > 20"),
    ("CASEI(holder_name) LIKE '%公司%' AND standard_land <> TRUE",
     {"op": "and", "args": [{"op": "like", "args": [{"op": "casei", "args": [{"property": "holder_name"}]}, "%公司%"]},
                            {"op": "<>", "args": [{"property": "standard_land"}, True]}]},
     "lower(h.name) LIKE '%公司%' AND NOT p.standard_land"),
]


@pytest.mark.parametrize(("text", "doc", "where"), CASES, ids=[c[0][:40] for c in CASES])
def test_text_and_json_select_what_plain_sql_selects(conn, text, doc, where):
    expected = count_sql(conn, where)
    total = count_sql(conn, "TRUE")
    assert 0 < expected < total, "a case must separate rows to be able to fail"
    assert count_filter(conn, *compile_text(text)) == expected
    assert count_filter(conn, *compile_json(doc)) == expected


def test_town_equality_on_sample(conn):
    town = _some_town(conn)
    expected = count_sql(conn, "p.town = %s", (town,))
    assert expected > 0
    assert count_filter(conn, *compile_text(f"town = '{town}'")) == expected
    assert count_filter(conn, *compile_json({"op": "=", "args": [{"property": "town"}, town]})) == expected


def test_sql_injection_attempts_are_just_values(conn):
    total = count_sql(conn, "TRUE")
    for sql, params in (
        compile_text("parcel_code = 'x''; DROP TABLE parcels; --'"),
        compile_text("parcel_code = 'x'' OR ''1''=''1'"),
        compile_json({"op": "=", "args": [{"property": "parcel_code"}, "x' OR '1'='1"]}),
        compile_json({"op": "like", "args": [{"property": "holder_name"}, "%'); DELETE FROM holders; --"]}),
    ):
        assert count_filter(conn, sql, params) == 0
    assert count_sql(conn, "TRUE") == total


def test_quote_in_a_value_matches_rows_with_that_quote(conn):
    assert count_filter(conn, *compile_text("holder_name = 'O''Neil' OR parcel_code = 'it''s'")) == 0
    sql, params = compile_text("holder_name LIKE '%''%'")
    assert params == {"f0": "%'%"}
    assert count_filter(conn, sql, params) == count_sql(conn, "h.name LIKE '%''%'")


def _sample_window(conn) -> tuple[float, float, float, float]:
    """A window (storage x/y) from the sample's south-west corner to a point inside a middle parcel.

    Its corner lies inside that parcel, so the window both contains and overlaps parcels.
    """
    x1, y1 = conn.execute("SELECT ST_XMin(e), ST_YMin(e) FROM "
                          "(SELECT ST_Extent(geom)::geometry e FROM parcels WHERE valid_to IS NULL) s").fetchone()
    x2, y2 = conn.execute(
        "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_PointOnSurface(geom) c FROM parcels WHERE valid_to IS NULL) s "
        "ORDER BY ST_X(c) + ST_Y(c) OFFSET (SELECT count(*) / 2 FROM parcels WHERE valid_to IS NULL) LIMIT 1"
    ).fetchone()
    return x1, y1, x2, y2


def _wkt_authority(geom, northing_first: bool) -> str:
    if northing_first:
        geom = shapely.transform(geom, lambda c: c[:, ::-1])
    return shapely.to_wkt(geom, rounding_precision=-1)


@pytest.mark.parametrize(("cql", "st"), [
    ("S_INTERSECTS", "ST_Intersects"), ("S_DISJOINT", "ST_Disjoint"), ("S_EQUALS", "ST_Equals"),
    ("S_TOUCHES", "ST_Touches"), ("S_CROSSES", "ST_Crosses"), ("S_WITHIN", "ST_Within"),
    ("S_CONTAINS", "ST_Contains"), ("S_OVERLAPS", "ST_Overlaps"),
])
def test_spatial_predicates_crs84_and_northing_first_agree_with_postgis(conn, cql, st):
    x1, y1, x2, y2 = _sample_window(conn)
    window = box(x1, y1, x2, y2)
    envelope = f"ST_MakeEnvelope({x1!r}, {y1!r}, {x2!r}, {y2!r}, 4549)"
    expected = count_sql(conn, f"{st}(p.geom, {envelope})")
    if cql in ("S_INTERSECTS", "S_DISJOINT", "S_WITHIN", "S_OVERLAPS"):
        assert 0 < expected < count_sql(conn, "TRUE")
    in_4549 = compile_text(f"{cql}(geometry, {_wkt_authority(window, True)})", "EPSG:4549")
    in_crs84 = compile_text(f"{cql}(geometry, {_wkt_authority(transform_geom(window, 4549, 'OGC:CRS84'), False)})")
    in_4326 = compile_json({"op": cql.lower(), "args": [
        {"property": "geometry"},
        json.loads(shapely.to_geojson(shapely.transform(transform_geom(window, 4549, 4326), lambda c: c[:, ::-1])))]},
        "http://www.opengis.net/def/crs/EPSG/0/4326")
    for sql, params in (in_4549, in_crs84, in_4326):
        assert count_filter(conn, sql, params) == expected


def test_bbox_and_point_filters_on_postgis(conn):
    x1, y1, x2, y2 = _sample_window(conn)
    expected = count_sql(conn, f"ST_Intersects(p.geom, ST_MakeEnvelope({x1!r}, {y1!r}, {x2!r}, {y2!r}, 4549))")
    lon1, lat1, lon2, lat2 = transform_geom(box(x1, y1, x2, y2), 4549, "OGC:CRS84").bounds
    inner = transform_geom(box(x1, y1, x2, y2), 4549, "OGC:CRS84")
    assert count_filter(conn, *compile_text(f"S_INTERSECTS(geometry, BBOX({y1!r}, {x1!r}, {y2!r}, {x2!r}))",
                                            "EPSG:4549")) == expected
    loose = count_filter(conn, *compile_json({"op": "s_intersects", "args": [{"property": "geometry"},
                                                                             {"bbox": [lon1, lat1, lon2, lat2]}]}))
    assert loose >= count_filter(conn, *compile_text(f"S_INTERSECTS(geometry, {inner.wkt})")) == expected
    code, px, py = conn.execute("SELECT parcel_code, ST_X(c), ST_Y(c) FROM (SELECT parcel_code, "
                                "ST_PointOnSurface(geom) c FROM parcels WHERE valid_to IS NULL LIMIT 1) s").fetchone()
    lon, lat = transform_geom(Point(px, py), 4549, "OGC:CRS84").coords[0]
    sql, params = compile_text(f"S_INTERSECTS(geometry, POINT({lon!r} {lat!r})) AND parcel_code = '{code}'")
    assert count_filter(conn, sql, params) == 1
