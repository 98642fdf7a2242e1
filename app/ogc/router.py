"""``/ogc``: OGC API – Features Parts 1, 2, 3 and 5 over the register, for QGIS, ArcGIS Pro, GDAL and OWSLib.

Feature JSON is written by PostGIS and passed through as bytes (:mod:`app.ogc.query`); responses carry
an ETag and Last-Modified derived from the register version, so a client's repeated request costs one
tiny query and a 304. Metadata is JSON by default (no Accept header: JSON) and HTML for browsers.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import orjson
import psycopg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from psycopg.adapt import Loader

from app.deps import require
from app.errors import ProblemError
from app.ogc import cql
from app.ogc.collections import COLLECTIONS, Collection
from app.ogc.query import (
    CRS_OUTPUT,
    DEFAULT_LIMIT,
    MAX_LIMIT,
    STORAGE_CRS,
    ItemsQuery,
    decode_cursor,
    encode_cursor,
    output_crs,
)
from app.ogc.state import RegisterWatch, State
from app.ogc.web import base_url, cache_control, render_html, revalidate, wants_html
from app.services.category_cache import ensure_fresh
from app.services.common import Lru
from gis.rules import today

__all__ = ["CONFORMANCE", "router"]

GEOJSON = "application/geo+json"
JSON = "application/json"
SCHEMA_JSON = "application/schema+json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
REL_SCHEMA = "http://www.opengis.net/def/rel/ogc/1.0/schema"
REL_QUERYABLES = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
_BATCH = 2000

CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/schemas",
    "http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/core-roles-features",
    "http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/returnables-and-receivables",
    "http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/sortables",
    "http://www.opengis.net/spec/ogcapi-records-1/1.0/conf/sorting",
    *cql.CONFORMANCE,
    *(f"http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/{c}"
      for c in ("core", "tileset", "tilesets-list", "geodata-tilesets", "mvt")),
)


_viewer = require("viewer")


router = APIRouter(prefix="/ogc", tags=["OGC API – Features"], dependencies=[Depends(_viewer)])


class _BytesLoader(Loader):
    def load(self, data) -> bytes:
        return bytes(data)


# ---- register state, caches -----------------------------------------------------------------------
_STATE_SQL = ("SELECT r.version, r.changed_at, c.as_of = %(day)s AND c.register_version = r.version "
              "FROM register_state r, category_state c")


async def _state(request: Request, collection: Collection | None = None) -> State:
    """The register version (memory when the watch is listening, else one query); categories made fresh.

    With a read replica (``DATABASE_READ_URL``) the version is always read from the replica, the database
    the rows come from: the primary's notification may arrive before the replica has the change, and a
    version remembered then would label the replica's older rows (and cached tiles, ETags) as newer.
    """
    day = today()
    watch: RegisterWatch = request.app.state.register_watch
    replica = request.app.state.read_engine is not request.app.state.engine
    state = None if replica else watch.cached(day)
    if state is None:
        generation = watch.generation
        async with request.app.state.read_pool.connection() as conn:
            version, changed_at, fresh = await (await conn.execute(_STATE_SQL, {"day": day})).fetchone()
        state = State(version, changed_at, day, bool(fresh))
        watch.remember(state, generation)
    if collection is not None and collection.categories and not state.categories_fresh:
        generation = watch.generation
        await run_in_threadpool(ensure_fresh, request.app.state.engine, day)
        state = State(state.version, state.changed_at, day, True)
        watch.remember(state, generation)
    return state


_counts = Lru(2048)
_extents = Lru(64)


def _revalidate(request: Request, state: State, c: Collection, *parts, directive: str = "no-cache",
                headers: dict[str, str] | None = None) -> tuple[dict[str, str], Response | None]:
    """Caching headers keyed on the register version (and today, for derived categories) plus ``parts``,
    and the 304 when the client's copy is current."""
    return revalidate(request, state.version, state.changed_at, (state.day if c.categories else None, *parts),
                      cache_control(request, directive), headers)


def reject_unknown(request: Request, allowed, c: Collection | None = None) -> None:
    """400 for query parameters outside ``allowed`` (and, given ``c``, its property filters), naming them."""
    unknown = [k for k in request.query_params if k not in allowed and (c is None or k not in c.by_name)]
    if not unknown:
        return
    zh, en = f"未知的查询参数：{', '.join(unknown)}", f"unknown query parameters: {', '.join(unknown)}"
    if c is not None:
        zh, en = f"{zh}（属性筛选可用：{', '.join(c.by_name)}）", f"{en} (property filters: {', '.join(c.by_name)})"
    raise ProblemError(400, "unknown-parameter", zh, en, pointer=f"/query/{unknown[0]}")


# ---- links and documents ---------------------------------------------------------------------------
def _link(href: str, rel: str, type_: str, title: str | None = None, **extra) -> dict[str, Any]:
    out = {"href": href, "rel": rel, "type": type_}
    if title:
        out["title"] = title
    out.update(extra)
    return out


def _json(doc: Any, status: int = 200, media_type: str = JSON, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(doc), status_code=status, media_type=media_type,
                    headers={"Vary": "Accept, Authorization", **(headers or {})})


def _html(template: str, request: Request, doc: dict, **extra) -> Response:
    extra["headers"] = {"Vary": "Accept, Authorization", **(extra.get("headers") or {})}
    return render_html(template, doc=doc, base=base_url(request) + "/ogc", title=doc.get("title", ""),
                       json_href=_with_f(request, "json"), **extra)


def _with_f(request: Request, f: str) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "f"]
    params.append(("f", f))
    return f"{base_url(request)}{request.url.path}?{urlencode(params)}"


def _collection_or_404(cid: str) -> Collection:
    c = COLLECTIONS.get(cid)
    if c is None:
        raise ProblemError(404, "collection-not-found", f"没有名为 {cid!r} 的图层集合；可用：{', '.join(COLLECTIONS)}",
                           f"no collection {cid!r}; available: {', '.join(COLLECTIONS)}")
    return c


async def _extent(request: Request, c: Collection, state: State) -> dict[str, Any]:
    key = (c.id, state.version, state.day if c.categories else None)
    if key in _extents:
        return _extents[key]
    temporal = c.temporal_sql
    if temporal:
        sql = (f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e), t0, t1 FROM (SELECT "
               f"ST_Transform(ST_SetSRID(ST_Extent({c.geom_sql})::geometry, 4549), 4326) AS e, "
               f"min({temporal[0]}) AS t0, max({temporal[1]}) AS t1 FROM {c.from_sql} WHERE {c.where}) s")
    else:
        sql = (f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT "
               f"ST_Transform(ST_SetSRID(ST_Extent({c.geom_sql})::geometry, 4549), 4326) AS e "
               f"FROM {c.from_sql} WHERE {c.where}) s")
    async with request.app.state.read_pool.connection() as conn:
        row = await (await conn.execute(sql)).fetchone()
    extent: dict[str, Any] = {}
    if row[0] is not None:
        extent["spatial"] = {"bbox": [[round(v, 7) for v in row[:4]]], "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}
    if temporal:
        def iso(v):
            if v is None:
                return None
            if isinstance(v, datetime):
                return v.astimezone(UTC).isoformat().replace("+00:00", "Z")
            return f"{v.isoformat()}T00:00:00Z"
        extent["temporal"] = {"interval": [[iso(row[4]), iso(row[5]) if not c.datetime_range else None]],
                              "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"}
    _extents.put(key, extent)
    return extent


async def _collection_doc(request: Request, c: Collection, state: State) -> dict[str, Any]:
    base = base_url(request) + "/ogc"
    href = f"{base}/collections/{c.id}"
    doc = {
        "id": c.id,
        "title": c.title,
        "description": c.description,
        "keywords": list(c.keywords),
        "itemType": "feature",
        "extent": await _extent(request, c, state),
        "crs": list(CRS_OUTPUT),
        "storageCrs": STORAGE_CRS,
        "links": [
            _link(href, "self", JSON, c.title),
            _link(f"{href}?f=html", "alternate", "text/html", "HTML"),
            _link(f"{href}/items", "items", GEOJSON, f"{c.title}（要素 / features）"),
            _link(f"{href}/items?f=html", "items", "text/html", f"{c.title}（网页 / HTML）"),
            _link(f"{href}/queryables", REL_QUERYABLES, SCHEMA_JSON, "可查询属性 / queryables"),
            _link(f"{href}/schema", REL_SCHEMA, SCHEMA_JSON, "要素模式 / feature schema"),
            _link(f"{href}/schema", "describedby", SCHEMA_JSON, "要素模式 / feature schema"),
            _link(f"{href}/sortables", "http://www.opengis.net/def/rel/ogc/1.0/sortables", SCHEMA_JSON,
                  "可排序属性 / sortables"),
            *(_link(f"{href}/download?f={f}", "enclosure", mt, f"下载 {label} / download {label}")
              for f, (mt, label) in DOWNLOADS.items()),
            _link(f"{href}/tiles", "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector",
                  JSON, "矢量瓦片 / vector tilesets"),
        ],
    }
    if c.temporal_sql is None:
        doc["extent"].pop("temporal", None)
    return doc


DOWNLOADS = {
    "gpkg": ("application/geopackage+sqlite3", "GeoPackage"),
    "shp": ("application/zip", "Shapefile (zip, GBK)"),
    "fgb": ("application/flatgeobuf", "FlatGeobuf"),
    "csv": ("text/csv; charset=utf-8", "CSV (UTF-8 BOM)"),
    "geojson": (GEOJSON, "GeoJSON"),
}


# ---- metadata endpoints ---------------------------------------------------------------------------
@router.get("", summary="OGC API 入口 / landing page")
async def landing(request: Request, f: str | None = None):
    base = base_url(request) + "/ogc"
    doc = {
        "title": "天台县工业用地宗地 OGC API – Features",
        "description": "天台县工业用地“三块地”宗地、建筑物、配套用地与历史版本图层"
                       "（OGC API – Features 第 1、2、3、5 部分，"
                       "矢量瓦片与下载）。/ Tiantai industrial-land layers over OGC API – Features Parts 1, 2, 3, 5, "
                       "with vector tiles and downloads.",
        "links": [
            _link(base, "self", JSON, "本文档 / this document"),
            _link(f"{base}?f=html", "alternate", "text/html", "HTML"),
            _link(f"{base}/api", "service-desc", OPENAPI, "OpenAPI 3.0 定义 / API definition"),
            _link(f"{base}/api.html", "service-doc", "text/html", "API 文档 / API documentation"),
            _link(f"{base}/conformance", "conformance", JSON, "符合性声明 / conformance"),
            _link(f"{base}/conformance", "http://www.opengis.net/def/rel/ogc/1.0/conformance", JSON,
                  "符合性声明 / conformance"),
            _link(f"{base}/collections", "data", JSON, "图层集合 / collections"),
            _link(f"{base}/collections", "http://www.opengis.net/def/rel/ogc/1.0/data", JSON,
                  "图层集合 / collections"),
            _link(f"{base}/tileMatrixSets", "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes", JSON,
                  "瓦片矩阵集 / tiling schemes"),
        ],
    }
    if wants_html(request, f):
        return _html("landing.html", request, doc, collections=list(COLLECTIONS.values()))
    return _json(doc)


@router.get("/api", summary="OpenAPI 3.0 定义 / API definition (service-desc)")
async def api(request: Request, f: str | None = None):
    from app.ogc.openapi import ogc_openapi

    doc = ogc_openapi(request.app, base_url(request))
    if wants_html(request, f):
        return _html("api.html", request, {"title": "API 文档 / API documentation", **doc})
    return _json(doc, media_type=OPENAPI)


@router.get("/api.html", summary="API 文档 / API documentation (service-doc)", include_in_schema=False)
async def api_html(request: Request):
    from app.ogc.openapi import ogc_openapi

    doc = ogc_openapi(request.app, base_url(request))
    return _html("api.html", request, {"title": "API 文档 / API documentation", **doc})


@router.get("/conformance", summary="符合性声明 / conformance classes")
async def conformance(request: Request, f: str | None = None):
    doc = {"conformsTo": list(CONFORMANCE)}
    if wants_html(request, f):
        return _html("conformance.html", request, {"title": "符合性声明 / Conformance", **doc})
    return _json(doc)


@router.get("/collections", summary="图层集合列表 / collections")
async def collections(request: Request, f: str | None = None):
    html = wants_html(request, f)
    state = await _state(request, COLLECTIONS["parcels"])
    base = base_url(request) + "/ogc"
    doc = {
        "links": [_link(f"{base}/collections", "self", JSON, "图层集合 / collections"),
                  _link(f"{base}/collections?f=html", "alternate", "text/html", "HTML")],
        "collections": [await _collection_doc(request, c, state) for c in COLLECTIONS.values()],
        "crs": list(CRS_OUTPUT),
    }
    if html:
        return _html("collections.html", request, {"title": "图层集合 / Collections", **doc})
    return _json(doc)


@router.get("/collections/{collection_id}", summary="图层集合 / one collection")
async def collection(request: Request, collection_id: str, f: str | None = None):
    c = _collection_or_404(collection_id)
    html = wants_html(request, f)
    doc = await _collection_doc(request, c, await _state(request, c))
    if html:
        return _html("collection.html", request, doc, collection=c)
    return _json(doc)


def _schema_doc(request: Request, c: Collection, kind: str) -> dict[str, Any]:
    base = base_url(request) + "/ogc"
    geometry = {"title": "几何 / geometry", "format": f"geometry-{c.geometry_type.lower()}",
                "x-ogc-role": "primary-geometry"}
    props: dict[str, Any] = {}
    if kind == "schema":
        props[c.key.name] = {**c.key.json_schema(), "x-ogc-role": "id"} if c.key.name not in c.by_name else {}
        props["geometry"] = {**geometry, "$ref": f"https://geojson.org/schema/{c.geometry_type}.json"}
    else:
        props["geometry"] = geometry
    for p in c.props:
        if kind == "sortables" and not p.sortable:
            continue
        s = p.json_schema()
        if kind == "schema":
            if p.name == c.key.name:
                s["x-ogc-role"] = "id"
            if c.datetime_sql and p.sql == c.datetime_sql:
                s["x-ogc-role"] = "primary-instant"
            if p.name == "valid_from" and c.datetime_range:
                s["x-ogc-role"] = "primary-interval-start"
            if p.name == "valid_to" and c.datetime_range:
                s["x-ogc-role"] = "primary-interval-end"
        props[p.name] = s
    if kind == "sortables":
        props.pop("geometry")
    props = {k: v for k, v in props.items() if v}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{base}/collections/{c.id}/{kind}",
        "type": "object",
        "title": c.title,
        "description": c.title_en,
        "properties": props,
        "additionalProperties": kind != "queryables",
    }


async def _schema_response(request: Request, collection_id: str, kind: str, f: str | None):
    c = _collection_or_404(collection_id)
    doc = _schema_doc(request, c, kind)
    if wants_html(request, f):
        return _html("schema.html", request, doc, kind=kind, collection=c)
    return _json(doc, media_type=SCHEMA_JSON)


@router.get("/collections/{collection_id}/queryables", summary="可查询属性 / queryables (Part 3)")
async def queryables(request: Request, collection_id: str, f: str | None = None):
    return await _schema_response(request, collection_id, "queryables", f)


@router.get("/collections/{collection_id}/schema", summary="要素模式 / feature schema (Part 5)")
async def schema(request: Request, collection_id: str, f: str | None = None):
    return await _schema_response(request, collection_id, "schema", f)


@router.get("/collections/{collection_id}/sortables", summary="可排序属性 / sortables")
async def sortables(request: Request, collection_id: str, f: str | None = None):
    return await _schema_response(request, collection_id, "sortables", f)


# ---- items ----------------------------------------------------------------------------------------
_ITEMS_PARAMS = {"f", "limit", "offset", "cursor", "bbox", "bbox-crs", "datetime", "crs", "properties", "sortby",
                 "filter", "filter-lang", "filter-crs"}


def add_cql_filter(request: Request, c: Collection, q: ItemsQuery) -> None:
    """The request's ``filter`` / ``filter-lang`` / ``filter-crs`` (CQL2) added to ``q`` (400 when unusable)."""
    qp = request.query_params
    if qp.get("filter"):
        queryables = {p.name: cql.Queryable(p.name, p.sql, p.type if p.type != "array" else "string", p.title)
                      for p in c.props if p.type != "array"}
        queryables["geometry"] = cql.Queryable("geometry", c.geom_sql, "geometry", "几何")
        sql, params = cql.compile_filter(qp["filter"], qp.get("filter-lang"), qp.get("filter-crs"), queryables)
        q.add_filter(sql, params)
    elif qp.get("filter-lang") and qp["filter-lang"] not in ("cql2-text", "cql2-json", "cql-text"):
        raise ProblemError(400, "invalid-filter", f"不支持的 filter-lang：{qp['filter-lang']}",
                           f"unsupported filter-lang: {qp['filter-lang']}", pointer="/query/filter-lang")


def build_query(request: Request, c: Collection, *, paging: bool = True) -> ItemsQuery:
    """An :class:`ItemsQuery` from the request's query string (400 for anything unusable)."""
    qp = request.query_params
    reject_unknown(request, _ITEMS_PARAMS, c)
    q = ItemsQuery(c, out=output_crs(qp.get("crs")))
    if paging:
        q.limit = _int(qp.get("limit"), "limit", DEFAULT_LIMIT, 1)
        q.limit = min(q.limit, MAX_LIMIT)
        q.offset = _int(qp.get("offset"), "offset", 0, 0)
    else:
        q.limit = _int(qp.get("limit"), "limit", 0, 1)
    if qp.get("bbox"):
        q.add_bbox(qp["bbox"], qp.get("bbox-crs"))
    elif "bbox-crs" in qp:
        output_crs(qp["bbox-crs"], "bbox-crs")
    if qp.get("datetime"):
        q.add_datetime(qp["datetime"])
    q.add_property_filters([(k, v) for k, v in qp.multi_items() if k in c.by_name])
    add_cql_filter(request, c, q)
    if qp.get("sortby"):
        q.set_sortby(qp["sortby"])
    if qp.get("properties") is not None:
        q.set_properties(qp["properties"])
    if paging and qp.get("cursor"):
        values, forward = decode_cursor(qp["cursor"], len(q.order))
        if any(not isinstance(v, str | int | float | bool | type(None)) for v in values):
            raise ProblemError(400, "invalid-parameter", "分页游标无效", "invalid paging cursor",
                               pointer="/query/cursor")
        q.cursor = (values, forward)
    return q


def _int(value: str | None, name: str, default: int, minimum: int) -> int:
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except ValueError:
        raise ProblemError(400, "invalid-parameter", f"{name} 应为整数", f"{name} must be an integer",
                           pointer=f"/query/{name}") from None
    if n < minimum:
        raise ProblemError(400, "invalid-parameter", f"{name} 不能小于 {minimum}", f"{name} must be ≥ {minimum}",
                           pointer=f"/query/{name}")
    return n


def _page_url(request: Request, cursor: str | None, f: str | None = None) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("cursor", "offset", "f")]
    if cursor:
        params.append(("cursor", cursor))
    if f:
        params.append(("f", f))
    return f"{base_url(request)}{request.url.path}" + (f"?{urlencode(params)}" if params else "")


async def _count(request: Request, q: ItemsQuery, state: State) -> int:
    key = (*q.count_key(), state.version, state.day if q.collection.categories else None)
    if key in _counts:
        return _counts[key]
    sql, params = q.count_sql()
    async with request.app.state.read_pool.connection() as conn:
        n = (await (await conn.execute(sql, params)).fetchone())[0]
    _counts.put(key, n)
    return n


@router.get("/collections/{collection_id}/items", summary="要素 / features (GeoJSON, paged by key)",
            response_class=Response)
async def items(
    request: Request, collection_id: str,
    f: str | None = None,
    limit: Annotated[str | None, Query(description=f"每页要素数 / page size (default {DEFAULT_LIMIT}, larger "
                                                   f"values are clamped to {MAX_LIMIT})")] = None,
    offset: str | None = None,
    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy in bbox-crs axis order")] = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs")] = None,
    datetime_: Annotated[str | None, Query(alias="datetime")] = None,
    crs: str | None = None,
    properties: str | None = None,
    sortby: str | None = None,
    filter_: Annotated[str | None, Query(alias="filter")] = None,
    filter_lang: Annotated[Literal["cql2-text", "cql2-json", "cql-text"] | None, Query(
        alias="filter-lang", description="cql2-text (default) or cql2-json; cql-text is read as cql2-text")] = None,
    filter_crs: Annotated[str | None, Query(alias="filter-crs")] = None,
):
    c = _collection_or_404(collection_id)
    html = wants_html(request, f, ("json", "geojson", "html"))
    q = build_query(request, c)
    state = await _state(request, c)
    headers, not_modified = _revalidate(
        request, state, c, base_url(request), str(request.url.path), sorted(request.query_params.multi_items()),
        html, headers={"Content-Crs": f"<{q.out.uri}>", "Vary": "Accept, Authorization"})
    if not_modified is not None:
        return not_modified
    page = await Page.fetch(request, q, state)
    if html:
        features = [orjson.loads(f) for _, f in await page.collect()]
        doc = {"type": "FeatureCollection", "features": features,
               **orjson.loads(b"{" + (await page.tail(request, q))[2:])}
        return _html("items.html", request, {"title": c.title, **doc}, collection=c, headers=headers)
    return page.response(request, q, headers)


_ITEM_PARAMS = {"f", "crs", "properties"}


@router.get("/collections/{collection_id}/items/{feature_id}", summary="单个要素 / one feature",
            response_class=Response)
async def item(request: Request, collection_id: str, feature_id: str, f: str | None = None,
               crs: str | None = None, properties: str | None = None):
    c = _collection_or_404(collection_id)
    html = wants_html(request, f, ("json", "geojson", "html"))
    reject_unknown(request, _ITEM_PARAMS)
    q = ItemsQuery(c, limit=1, out=output_crs(crs))
    if properties is not None:
        q.set_properties(properties)
    not_found = ProblemError(404, "feature-not-found", f"集合 {c.id} 中没有要素 {feature_id!r}",
                             f"collection {c.id} has no feature {feature_id!r}")
    if c.key.type == "integer":
        if not feature_id.isdigit() or len(feature_id) > 18:
            raise not_found
        q.params["fid"] = int(feature_id)
    else:
        q.params["fid"] = feature_id
    q.where.append(f"{c.key.sql} = %(fid)s::{c.key.pg_type}")
    state = await _state(request, c)
    headers, not_modified = _revalidate(
        request, state, c, base_url(request), str(request.url.path), sorted(request.query_params.multi_items()),
        html, headers={"Content-Crs": f"<{q.out.uri}>", "Vary": "Accept, Authorization"})
    if not_modified is not None:
        return not_modified
    base = base_url(request) + "/ogc/collections/" + c.id
    collection_link = orjson.dumps(_link(base, "collection", JSON, c.title)).decode()
    sql, params = q.feature_sql(f"{base}/items/", collection_link)
    async with request.app.state.read_pool.connection() as conn:
        cur = conn.cursor()
        cur.adapters.register_loader("text", _BytesLoader)
        row = await (await cur.execute(sql, params)).fetchone()
    if row is None:
        raise not_found
    if html:
        feature = orjson.loads(row[1])
        return _html("item.html", request, {"title": f"{c.title} {feature_id}", **feature}, collection=c,
                     headers=headers)
    return Response(row[1], media_type=GEOJSON, headers=headers)


@router.get("/collections/{collection_id}/download", summary="下载 / download (GeoPackage, Shapefile, FlatGeobuf, "
            "CSV, GeoJSON), every matching feature, streamed", response_class=Response)
async def download(request: Request, collection_id: str, f: str = "gpkg"):
    c = _collection_or_404(collection_id)
    if f not in DOWNLOADS:
        raise ProblemError(400, "unsupported-format", f"不支持的下载格式 f={f}；可用：{', '.join(DOWNLOADS)}",
                           f"unsupported download format f={f}; use one of {', '.join(DOWNLOADS)}", pointer="/query/f")
    q = build_query(request, c, paging=False)
    await _state(request, c)
    from app.ogc.downloads import download_response

    return await download_response(request, q, f)


class Page:
    """A page of features. Small pages arrive whole; larger ones keep the server-side cursor and stream."""

    def __init__(self, q: ItemsQuery, rows: list, conn, cur, count_task, number_matched: int | None):
        self.q, self.rows, self.conn, self.cur = q, rows, conn, cur
        self.forward = q.cursor is None or q.cursor[1]
        self.count_task, self.number_matched = count_task, number_matched
        self.first: bytes | None = None
        self.last: bytes | None = None
        self.n = 0
        self.more = False

    @classmethod
    async def fetch(cls, request: Request, q: ItemsQuery, state: State) -> Page:
        sql, params = q.feature_sql(f"{base_url(request)}/ogc/collections/{q.collection.id}/items/")
        forward = q.cursor is None or q.cursor[1]
        pool = request.app.state.read_pool
        conn = await pool.getconn()
        cur = None
        try:
            await conn.execute("BEGIN READ ONLY")
            cur = conn.cursor(name="ogc_items")
            cur.adapters.register_loader("text", _BytesLoader)
            await cur.execute(sql, params)
            want = min(q.limit + 1, _BATCH) if forward else q.limit + 1
            rows = await cur.fetchmany(want)
            # the whole page (and whether more follow) is known when fewer rows came than asked for, or when
            # the first batch already held limit + 1: then nothing is left to stream from the cursor
            complete = len(rows) < want or not forward or want == q.limit + 1
            if complete:
                await cur.close()
                await conn.commit()
        except BaseException:
            await _release(pool, conn)
            raise
        if complete:
            await pool.putconn(conn)
            conn = cur = None
        number_matched, count_task = None, None
        if complete and q.cursor is None and q.offset == 0 and len(rows) <= q.limit:
            number_matched = len(rows)
        else:
            count_task = asyncio.create_task(_count(request, q, state))
        page = cls(q, rows, conn, cur, count_task, number_matched)
        page.pool = pool
        return page

    async def batches(self):
        """The page's rows in order, batch by batch, at most ``limit``; sets ``more``, ``first``, ``last``."""
        q, rows = self.q, self.rows
        if self.conn is None:
            self.more = len(rows) > q.limit
            rows = rows[: q.limit]
            if not self.forward:
                rows.reverse()
            self._seen(rows)
            if rows:
                yield rows
            return
        # the next batch is fetched while this one is sent: PostgreSQL and Python work at the same time
        pending: asyncio.Future | None = asyncio.ensure_future(self.cur.fetchmany(_BATCH))
        try:
            while rows:
                room = q.limit - self.n
                if len(rows) > room:
                    self.more = True
                    rows = rows[:room]
                self._seen(rows)
                if rows:
                    yield rows
                if self.more:
                    break
                rows, pending = await pending, None
                if rows and self.n >= q.limit:
                    self.more = True
                    break
                if rows:
                    pending = asyncio.ensure_future(self.cur.fetchmany(_BATCH))
            if pending is not None:
                await pending
                pending = None
            await self.cur.close()
            await self.conn.commit()
        finally:
            if pending is not None:
                with contextlib.suppress(Exception):
                    await pending
            await _release(self.pool, self.conn)
            self.conn = None

    def _seen(self, rows: list) -> None:
        if rows:
            if self.first is None:
                self.first = rows[0][0]
            self.last = rows[-1][0]
            self.n += len(rows)

    async def collect(self) -> list:
        out = []
        async for batch in self.batches():
            out.extend(batch)
        return out

    async def tail(self, request: Request, q: ItemsQuery) -> bytes:
        """``],"numberReturned":…,"links":[…]}`` — written after the features, when the page is known."""
        matched = self.number_matched
        if matched is None and self.count_task is not None:
            try:
                matched = await self.count_task
            except psycopg.Error:
                matched = None
        tail: dict[str, Any] = {"numberReturned": self.n}
        if matched is not None:
            tail["numberMatched"] = matched
        tail["timeStamp"] = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        tail["links"] = self._links(request, q)
        return b"]," + orjson.dumps(tail)[1:]

    def _links(self, request: Request, q: ItemsQuery) -> list[dict[str, Any]]:
        base = base_url(request)
        links = [_link(f"{base}{request.url.path}" + (f"?{request.url.query}" if request.url.query else ""),
                       "self", GEOJSON, "本页 / this page"),
                 _link(_with_f(request, "html"), "alternate", "text/html", "HTML"),
                 _link(f"{base}/ogc/collections/{q.collection.id}", "collection", JSON, q.collection.title)]
        if self.forward:
            has_next, has_prev = self.more, q.cursor is not None or q.offset > 0
        else:
            has_next, has_prev = True, self.more
        if has_next and self.last is not None:
            links.append(_link(_page_url(request, encode_cursor(orjson.loads(self.last), True)), "next", GEOJSON,
                               "下一页 / next page"))
        if has_prev:
            if self.first is not None:
                prev = _page_url(request, encode_cursor(orjson.loads(self.first), False))
            else:  # an offset past the end: step back by pages
                prev = _page_url(request, None) + f"&offset={max(q.offset - q.limit, 0)}"
            links.append(_link(prev, "prev", GEOJSON, "上一页 / previous page"))
        return links

    def response(self, request: Request, q: ItemsQuery, headers: dict[str, str]) -> Response:
        head = b'{"type":"FeatureCollection","features":['

        async def stream():
            yield head
            sep = b""
            async for batch in self.batches():
                yield sep + b",".join(r[1] for r in batch)
                sep = b","
            yield await self.tail(request, q)

        if self.conn is None:
            async def whole() -> bytes:
                return b"".join([part async for part in stream()])
            return _AwaitedResponse(whole, headers)
        return StreamingResponse(stream(), media_type=GEOJSON, headers=headers)


async def _release(pool, conn) -> None:
    if conn is None:
        return
    if not conn.closed and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        with contextlib.suppress(psycopg.Error):
            await conn.rollback()
    await pool.putconn(conn)


class _AwaitedResponse(Response):
    """A response whose body a coroutine produces when it is sent (the count may still be running)."""

    def __init__(self, make_body, headers: dict[str, str]):
        super().__init__(content=b"", media_type=GEOJSON, headers=headers)
        self._make_body = make_body

    async def __call__(self, scope, receive, send) -> None:
        self.body = await self._make_body()
        self.headers["content-length"] = str(len(self.body))
        await super().__call__(scope, receive, send)
