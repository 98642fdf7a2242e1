"""``/ogc/collections/{id}/tiles``: Mapbox vector tiles of every collection, for MapLibre GL (OGC API – Tiles).

PostGIS builds each tile (``ST_AsMVTGeom`` + ``ST_AsMVT``); Python only checks the tile address, answers
304 from the register version and passes the bytes through. Choices, for the map's authors:

* **Addressing**: ``…/tiles/WebMercatorQuad/{z}/{x}/{y}`` (XYZ order, as MapLibre's ``tiles`` template;
  OGC clients read the order from the templated ``item`` link ``{tileMatrix}/{tileCol}/{tileRow}``).
  z 0–22, x and y inside the matrix, else 404 problem+json. A ``.mvt`` / ``.pbf`` suffix on y is accepted.
* **Empty tile**: 200 with an empty body (a valid MVT with no layers), cached like any other tile; a tile
  outside the collection's extent costs no tile query at all.
* **Zooms**: parcels from z 0; buildings and supporting land from z 13 (below it their tiles are empty: a
  footprint is a few pixels). No ``ST_Simplify``: ``ST_AsMVTGeom``'s snapping to the 4096 grid already keeps
  the county-wide tiles at ~45 kB, and simplifying first (measured) saved nothing and dropped most parcels
  from the z 5–7 tiles. TileJSON advertises ``maxzoom`` 16 (4096 units per tile is then
  ~0.15 m): MapLibre over-zooms beyond it and saves the requests; the server still answers up to z 22.
* **Features**: layer name = collection id; the MVT feature id is the integer row id (for parcel
  collections the internal version id, which MapLibre's ``feature-state`` needs — the OGC id
  ``parcel_code`` is a property); a compact set of properties (:data:`TILE_PROPS`).
* **Filters**: the items' ``property=value`` filters (``?category=low_efficiency&town=…``) and
  ``datetime``, as bind parameters; the TileJSON passes its query string on to the tile template.
* **Overview** (``grid=16|32|64|128``, parcel collections): instead of the parcels, one square per grid cell
  (``grid`` cells along a tile side) and category, holding ``category``, ``n`` and ``area_mu`` of the parcels
  whose bounding-box centre falls in it; layer ``<collection>_overview``. At county zooms a tile of the
  200k register holds ~50k parcels (16 MB of MVT); its overview is a few kB and is what the web map draws
  below z 13. Filters apply before counting.
* **CQL2**: ``filter`` / ``filter-lang`` / ``filter-crs`` as on items (the map's area range, category sets).
* **Cache key**: ``v`` is accepted and ignored, so a client can bypass its own ``max-age`` copies after a
  change it made (the web map adds ``v=<time>`` after executing an operation).
* **Tile cache**: rendered tiles are kept in memory (LRU, ``LANDGIS_TILE_CACHE_MB``, 64 MB by default) under
  a key that holds the register version and, for derived categories, today's date — a change to the
  register or a new day makes new keys, so nothing stale is ever served. Each worker has its own.
* **Caching**: ETag / Last-Modified from the register version (and today's date where categories are
  derived), ``Cache-Control: public|private, max-age=60``; a revalidation costs one tiny query and a 304.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from app.errors import ProblemError
from app.ogc.collections import Collection
from app.ogc.query import ItemsQuery
from app.ogc.router import (
    State,
    _collection_or_404,
    _extent,
    _json,
    _link,
    _revalidate,
    _state,
    _viewer,
    add_cql_filter,
    reject_unknown,
)
from app.ogc.web import base_url

__all__ = ["MVT", "TILE_PROPS", "Tile", "TileCache", "parse_tile", "render_tile", "router", "tile_bounds",
           "tile_matrix_set", "tilejson"]

MVT = "application/vnd.mapbox-vector-tile"
JSON = "application/json"
TMS_ID = "WebMercatorQuad"
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
CRS_3857 = "http://www.opengis.net/def/crs/EPSG/0/3857"
MAX_ZOOM = 22
TILEJSON_MAXZOOM = 16
EXTENT = 4096
BUFFER = 64
MAX_AGE = 60
_MERCATOR_HALF = 20037508.342789244
_EXTENT_PAD = 0.01  # degrees around the collection's extent: its lon/lat box is from corners only

#: per collection: (minzoom, properties in the tile, the integer MVT feature id's SQL)
_PARCEL_TILE = ("parcel_code", "name", "town", "area_mu", "category", "category_zh", "criterion", "holder_name",
                "rating")
TILE_PROPS: dict[str, tuple[int, tuple[str, ...], str]] = {
    "parcels": (0, _PARCEL_TILE, "p.id"),
    "approved_unsupplied": (0, _PARCEL_TILE, "p.id"),
    "supplied_unused": (0, _PARCEL_TILE, "p.id"),
    "low_efficiency": (0, _PARCEL_TILE, "p.id"),
    "buildings": (13, ("parcel_code", "number", "floors", "use"), "b.id"),
    "support_land": (13, ("parcel_code", "kind"), "s.id"),
    "parcel_history": (0, ("parcel_code", "name", "town", "area_mu", "holder_name", "valid_from", "valid_to",
                           "retired_by"), "p.id"),
}
_MVT_TYPE = {"string": "String", "number": "Number", "integer": "Number", "boolean": "Boolean",
             "date": "String", "datetime": "String"}  # dates as YYYY-MM-DD (datetimes: the day in China time)

router = APIRouter(prefix="/ogc", tags=["OGC API – Tiles"], dependencies=[Depends(_viewer)])


# ---- tile geometry (pure) -------------------------------------------------------------------------
@dataclass(frozen=True)
class Tile:
    z: int
    x: int
    y: int


def parse_tile(z: str, x: str, y: str) -> Tile:
    """The tile at ``z/x/y`` (y may end in ``.mvt`` / ``.pbf``); 404 problem+json when there is none."""
    m = re.fullmatch(r"(\d{1,8})(?:\.(?:mvt|pbf))?", y)
    if z.isdigit() and x.isdigit() and m and len(z) <= 2 and len(x) <= 8:
        tile = Tile(int(z), int(x), int(m.group(1)))
        if tile.z <= MAX_ZOOM and tile.x < (1 << tile.z) and tile.y < (1 << tile.z):
            return tile
    raise ProblemError(404, "tile-not-found",
                       f"瓦片 {z}/{x}/{y} 不存在：z 取 0–{MAX_ZOOM}，x、y 取 0 至 2^z−1",
                       f"no tile {z}/{x}/{y}: z must be 0–{MAX_ZOOM} and x, y within 0 … 2^z−1")


def tile_bounds(tile: Tile, margin: float = 0.0) -> tuple[float, float, float, float]:
    """(west, south, east, north) in degrees of a WebMercatorQuad tile, widened by ``margin`` tile widths."""
    n = 1 << tile.z

    def lon(x: float) -> float:
        return x / n * 360.0 - 180.0

    def lat(y: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / n))))

    x0, x1 = tile.x - margin, tile.x + 1 + margin
    y0, y1 = max(tile.y - margin, 0), min(tile.y + 1 + margin, n)
    return max(lon(x0), -180.0), lat(y1), min(lon(x1), 180.0), lat(y0)


def _clip(a: tuple[float, ...], b: tuple[float, ...]) -> tuple[float, float, float, float] | None:
    w, s, e, n = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    return (w, s, e, n) if w < e and s < n else None


# ---- SQL -------------------------------------------------------------------------------------------
def _tile_sql(c: Collection, where: list[str]) -> str:
    """One statement → the tile's bytes. Only the collection's own SQL is spliced in; values are parameters.

    The index filter is the tile (∩ the collection's extent) as a lon/lat box, densified so that its edges
    stay edges in EPSG:4549, transformed to the storage CRS: the whole-world tiles of low zooms never reach
    a Gauss–Krüger projection 120° from its central meridian.
    """
    _, names, fid = TILE_PROPS[c.id]
    props = []
    for name in names:
        p = c.by_name[name]
        if p.type == "datetime":  # the day in China time: what a map label needs, and session-independent
            props.append(f"(({p.sql}) AT TIME ZONE 'Asia/Shanghai')::date::text AS {name}")
        else:
            props.append(f"({p.sql})::text AS {name}" if p.type == "date" else f"{p.sql} AS {name}")
    return (
        f"WITH t AS MATERIALIZED ("  # else the planner pushes the IS NOT NULL down and clips every row twice
        f"SELECT {fid} AS fid, ST_AsMVTGeom(ST_Transform({c.geom_sql}, 3857), "
        f"ST_TileEnvelope(%(z)s, %(x)s, %(y)s), {EXTENT}, {BUFFER}, true) AS geom, {', '.join(props)} "
        f"FROM {c.from_sql} "
        f"WHERE {' AND '.join(f'({w})' for w in where)} AND {c.geom_sql} && ST_Transform(ST_Segmentize("
        f"ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326), %(seg)s), 4549)) "
        f"SELECT ST_AsMVT(t, %(layer)s, {EXTENT}, 'geom', 'fid') FROM t WHERE t.geom IS NOT NULL"
    )


_OVERVIEW_GRIDS = (16, 32, 64, 128)


def _overview_sql(c: Collection, where: list[str]) -> str:
    """One statement → an overview tile: per grid cell and category, the count and area of the parcels.

    A parcel counts in the cell of its bounding-box centre (cheap: no geometry is transformed but that
    point). Cells are squares of ``cell`` metres in EPSG:3857, numbered from the tile's top-left corner.
    """
    cat, mu = c.by_name["category"].sql, c.by_name["area_mu"].sql
    return (
        f"WITH f AS MATERIALIZED (SELECT {cat} AS category, {mu} AS mu, ST_Transform(ST_SetSRID(ST_MakePoint("
        f"(ST_XMin({c.geom_sql}) + ST_XMax({c.geom_sql})) / 2, (ST_YMin({c.geom_sql}) + ST_YMax({c.geom_sql})) / 2), "
        f"4549), 3857) AS pt FROM {c.from_sql} "
        f"WHERE {' AND '.join(f'({w})' for w in where)} AND {c.geom_sql} && ST_Transform(ST_Segmentize("
        f"ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326), %(seg)s), 4549)), "
        "g AS (SELECT floor((ST_X(pt) - %(x0)s) / %(cell)s)::int AS i, "
        "floor((%(y1)s - ST_Y(pt)) / %(cell)s)::int AS j, "
        "category, count(*)::int AS n, round(sum(mu)::numeric, 2)::float8 AS area_mu FROM f GROUP BY 1, 2, 3) "
        f"SELECT ST_AsMVT(t, %(layer)s, {EXTENT}, 'geom') FROM (SELECT ST_AsMVTGeom(ST_MakeEnvelope("
        "%(x0)s + i * %(cell)s, %(y1)s - (j + 1) * %(cell)s, "
        "%(x0)s + (i + 1) * %(cell)s, %(y1)s - j * %(cell)s, 3857), "
        f"ST_TileEnvelope(%(z)s, %(x)s, %(y)s), {EXTENT}, 0, true) AS geom, category, n, area_mu, "
        "CASE category WHEN 'none' THEN 0 ELSE 1 END AS rank "
        "FROM g WHERE i BETWEEN 0 AND %(g)s - 1 AND j BETWEEN 0 AND %(g)s - 1) t"
    )


def _grid(request: Request, c: Collection) -> int | None:
    value = request.query_params.get("grid")
    if value is None:
        return None
    if "category" not in c.by_name or not value.isdigit() or int(value) not in _OVERVIEW_GRIDS:
        raise ProblemError(400, "invalid-parameter",
                           f"grid 取 {'、'.join(map(str, _OVERVIEW_GRIDS))} 之一，且仅用于宗地图层",
                           f"grid must be one of {', '.join(map(str, _OVERVIEW_GRIDS))}, on parcel collections only",
                           pointer="/query/grid")
    return int(value)


def _filters(request: Request, c: Collection) -> ItemsQuery:
    """The request's property filters, ``datetime`` and CQL2 ``filter`` as an :class:`ItemsQuery` (400 else)."""
    qp = request.query_params
    reject_unknown(request, {"datetime", "v", "grid", "filter", "filter-lang", "filter-crs"}, c)
    q = ItemsQuery(c)
    q.add_property_filters([(k, v) for k, v in qp.multi_items() if k in c.by_name])
    if qp.get("datetime"):
        q.add_datetime(qp["datetime"])
    add_cql_filter(request, c, q)
    _grid(request, c)
    return q


async def _bbox(request: Request, c: Collection, state: State) -> tuple[float, float, float, float] | None:
    spatial = (await _extent(request, c, state)).get("spatial")
    return tuple(spatial["bbox"][0]) if spatial else None


async def render_tile(request: Request, c: Collection, tile: Tile, q: ItemsQuery, state: State) -> bytes:
    """The tile's MVT bytes (``b""`` when it holds nothing)."""
    minzoom = TILE_PROPS[c.id][0]
    extent = await _bbox(request, c, state)
    if tile.z < minzoom or extent is None:
        return b""
    padded = (extent[0] - _EXTENT_PAD, extent[1] - _EXTENT_PAD, extent[2] + _EXTENT_PAD, extent[3] + _EXTENT_PAD)
    box = _clip(tile_bounds(tile, BUFFER / EXTENT), padded)
    if box is None:
        return b""
    w, s, e, n = box
    params = {**q.params, "layer": c.id, "z": tile.z, "x": tile.x, "y": tile.y, "w": w, "s": s, "e": e, "n": n,
              "seg": max(e - w, n - s) / 16}
    grid = _grid(request, c)
    if grid:
        size = 2 * _MERCATOR_HALF / (1 << tile.z)
        params.update(layer=f"{c.id}_overview", g=grid, cell=size / grid, x0=-_MERCATOR_HALF + tile.x * size,
                      y1=_MERCATOR_HALF - tile.y * size)
    sql = _overview_sql(c, q.where) if grid else _tile_sql(c, q.where)
    async with request.app.state.read_pool.connection() as conn:
        row = await (await conn.execute(sql, params)).fetchone()
    return bytes(row[0] or b"")


class TileCache:
    """Rendered tiles, least recently used first out, within a byte budget (0 turns caching off)."""

    def __init__(self, max_bytes: int):
        self.max_bytes, self.size = max_bytes, 0
        self._tiles: OrderedDict[tuple, bytes] = OrderedDict()

    def get(self, key: tuple) -> bytes | None:
        data = self._tiles.get(key)
        if data is not None:
            self._tiles.move_to_end(key)
        return data

    def put(self, key: tuple, data: bytes) -> None:
        if len(data) > self.max_bytes // 8 or key in self._tiles:
            return
        self._tiles[key] = data
        self.size += len(data)
        while self.size > self.max_bytes:
            self.size -= len(self._tiles.popitem(last=False)[1])


def _cache_key(request: Request, c: Collection, tile: Tile, state: State) -> tuple:
    query = tuple(sorted((k, v) for k, v in request.query_params.multi_items() if k != "v"))
    return c.id, tile, query, state.version, state.day if c.categories else None


# ---- documents --------------------------------------------------------------------------------------
def _tms_id_or_404(tms: str) -> None:
    if tms != TMS_ID:
        raise ProblemError(404, "tile-matrix-set-not-found", f"不支持的瓦片矩阵集 {tms!r}；可用：{TMS_ID}",
                           f"unsupported tile matrix set {tms!r}; available: {TMS_ID}")


def _tiles_href(request: Request, c: Collection) -> str:
    return f"{base_url(request)}/ogc/collections/{c.id}/tiles"


def _query_suffix(request: Request) -> str:
    return f"?{urlencode(request.query_params.multi_items())}" if request.query_params else ""


def tilejson(request: Request, c: Collection, bbox: tuple[float, ...] | None) -> dict[str, Any]:
    """TileJSON 3.0.0 of the collection (with the OGC tileset members, which TileJSON lets us add)."""
    minzoom, names, _ = TILE_PROPS[c.id]
    href = f"{_tiles_href(request, c)}/{TMS_ID}"
    suffix = _query_suffix(request)
    fields = {}
    for name in names:
        p = c.by_name[name]
        fields[name] = f"{_MVT_TYPE[p.type]}: {p.title} / {p.title_en}"
    if bbox is None:
        bounds, center = [-180.0, -85.051129, 180.0, 85.051129], [0.0, 0.0, minzoom]
    else:
        bounds = [round(v, 6) for v in bbox]
        span = max(bbox[2] - bbox[0], bbox[3] - bbox[1], 1e-6)
        zoom = min(max(int(math.log2(360 / span)) + 1, minzoom), TILEJSON_MAXZOOM)
        center = [round((bbox[0] + bbox[2]) / 2, 6), round((bbox[1] + bbox[3]) / 2, 6), zoom]
    return {
        "tilejson": "3.0.0",
        "name": c.title,
        "description": f"{c.title}矢量瓦片（Mapbox Vector Tile，图层 {c.id}）。{c.description}",
        "version": "1.0.0",
        "scheme": "xyz",
        "tiles": [f"{href}/{{z}}/{{x}}/{{y}}{suffix}"],
        "minzoom": minzoom,
        "maxzoom": TILEJSON_MAXZOOM,
        "bounds": bounds,
        "center": center,
        "vector_layers": [{"id": c.id, "description": f"{c.title} / {c.title_en}", "fields": fields,
                           "minzoom": minzoom, "maxzoom": TILEJSON_MAXZOOM}],
        # OGC API – Tiles tileset metadata
        "title": c.title,
        "dataType": "vector",
        "crs": CRS_3857,
        "tileMatrixSetURI": TMS_URI,
        "links": _tileset_links(request, c, suffix),
    }


def _tileset_links(request: Request, c: Collection, suffix: str = "") -> list[dict[str, Any]]:
    href = f"{_tiles_href(request, c)}/{TMS_ID}"
    base = base_url(request) + "/ogc"
    return [
        _link(href + suffix, "self", JSON, "TileJSON / tileset"),
        _link(f"{href}/{{tileMatrix}}/{{tileCol}}/{{tileRow}}{suffix}", "item", MVT,
              f"{c.title}矢量瓦片 / vector tiles", templated=True),
        _link(f"{base}/tileMatrixSets/{TMS_ID}", "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme", JSON,
              "瓦片矩阵集 / tile matrix set"),
        _link(f"{base}/collections/{c.id}", "collection", JSON, c.title),
    ]


def tile_matrix_set() -> dict[str, Any]:
    """The WebMercatorQuad tile matrix set (OGC 17-083r4 annex), z 0–22."""
    return {
        "id": TMS_ID,
        "title": "Google Maps Compatible for the World",
        "uri": TMS_URI,
        "crs": CRS_3857,
        "orderedAxes": ["X", "Y"],
        "wellKnownScaleSet": "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible",
        "tileMatrices": [{
            "id": str(z),
            "scaleDenominator": 559082264.0287178 / (1 << z),
            "cellSize": 156543.03392804097 / (1 << z),
            "cornerOfOrigin": "topLeft",
            "pointOfOrigin": [-_MERCATOR_HALF, _MERCATOR_HALF],
            "tileWidth": 256, "tileHeight": 256,
            "matrixWidth": 1 << z, "matrixHeight": 1 << z,
        } for z in range(MAX_ZOOM + 1)],
    }


# ---- endpoints --------------------------------------------------------------------------------------
@router.get("/tileMatrixSets", summary="瓦片矩阵集列表 / tile matrix sets")
async def tile_matrix_sets(request: Request):
    href = f"{base_url(request)}/ogc/tileMatrixSets/{TMS_ID}"
    return _json({"tileMatrixSets": [{"id": TMS_ID, "title": "Google Maps Compatible for the World",
                                      "uri": TMS_URI, "links": [_link(href, "self", JSON, TMS_ID)]}]})


@router.get("/tileMatrixSets/{tile_matrix_set_id}", summary="瓦片矩阵集 / tile matrix set")
async def tile_matrix_set_doc(tile_matrix_set_id: str):
    _tms_id_or_404(tile_matrix_set_id)
    return _json(tile_matrix_set())


@router.get("/collections/{collection_id}/tiles", summary="矢量瓦片集列表 / vector tilesets (OGC API – Tiles)")
async def tilesets(request: Request, collection_id: str):
    c = _collection_or_404(collection_id)
    href = _tiles_href(request, c)
    return _json({
        "links": [_link(href, "self", JSON, "瓦片集列表 / tilesets"),
                  _link(f"{base_url(request)}/ogc/collections/{c.id}", "collection", JSON, c.title)],
        "tilesets": [{"title": f"{c.title}矢量瓦片 / vector tiles", "dataType": "vector", "crs": CRS_3857,
                      "tileMatrixSetURI": TMS_URI, "links": _tileset_links(request, c)}],
    })


@router.get("/collections/{collection_id}/tiles/{tile_matrix_set_id}",
            summary="TileJSON 3.0.0 / 瓦片集 tileset metadata")
async def tileset(request: Request, collection_id: str, tile_matrix_set_id: str):
    c = _collection_or_404(collection_id)
    _tms_id_or_404(tile_matrix_set_id)
    _filters(request, c)
    state = await _state(request, c)
    headers, not_modified = _revalidate(request, state, c, base_url(request), str(request.url.path),
                                        sorted(request.query_params.multi_items()), directive=f"max-age={MAX_AGE}",
                                        headers={"Vary": "Authorization"})
    if not_modified is not None:
        return not_modified
    return _json(tilejson(request, c, await _bbox(request, c, state)), headers=headers)


@router.get("/collections/{collection_id}/tiles/{tile_matrix_set_id}/{z}/{x}/{y}",
            summary="矢量瓦片 / Mapbox vector tile", response_class=Response,
            responses={200: {"content": {MVT: {}}, "description": "MVT；空瓦片为空响应体 / empty body when empty"}})
async def tile(request: Request, collection_id: str, tile_matrix_set_id: str, z: str, x: str, y: str):
    c = _collection_or_404(collection_id)
    _tms_id_or_404(tile_matrix_set_id)
    t = parse_tile(z, x, y)
    q = _filters(request, c)
    state = await _state(request, c)
    headers, not_modified = _revalidate(request, state, c, c.id, t, sorted(request.query_params.multi_items()),
                                        directive=f"max-age={MAX_AGE}", headers={"Vary": "Authorization"})
    if not_modified is not None:
        return not_modified
    cache: TileCache | None = getattr(request.app.state, "tile_cache", None)
    key = _cache_key(request, c, t, state)
    data = cache.get(key) if cache else None
    if data is None:
        data = await render_tile(request, c, t, q, state)
        if cache:
            cache.put(key, data)
    return Response(data, media_type=MVT, headers=headers)

