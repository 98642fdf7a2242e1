"""``/ogc/collections/{id}/download``: every matching feature as GeoPackage, Shapefile, FlatGeobuf, CSV or GeoJSON.

Rows come from a server-side cursor ``_BATCH`` at a time, so memory stays flat whatever the size.
GeoJSON (PostGIS writes each feature's JSON) and CSV stream straight to the client. GeoPackage,
Shapefile and FlatGeobuf are written into a temporary directory by a worker thread that pulls one batch
at a time from the async cursor on the event loop; the finished file (the Shapefile set zipped) is then
streamed and the directory removed. GeoPackage is written with :mod:`sqlite3` directly (a GeoPackage is
an SQLite file: GP header + WKB blobs, plus the ``gpkg_rtree_index`` R-tree filled batch by batch from the
envelopes computed for the headers): importing pyogrio pulls pandas, geopandas, pyarrow and GDAL
(~100 MB resident), which alone would break the 200 MB budget of a large download. Shapefile and
FlatGeobuf use GDAL (pyogrio ``write_arrow`` fed by a ``RecordBatchReader``).

CRS: GeoJSON defaults to CRS84 like the items; files and CSV default to EPSG:4549 (the official CRS).
``crs`` may ask for any of :data:`~app.ogc.query.CRS_OUTPUT`; files and CSV WKT are always x/y
(easting/longitude first), GeoJSON follows the CRS's authority axis order like the items do.
CSV is UTF-8 with a BOM, Chinese headers and a last column ``几何(WKT, EPSG:…)``; booleans are 是/否.
Shapefile DBFs are GBK (with a ``.cpg``), fields named by the cadastral abbreviations of
:mod:`gis.attributes` (others cut to 10 characters, kept unique); dates are DBF Date fields,
booleans 是/否, timestamps ISO text in China time. Lists (``parent_codes``) become comma-joined text.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import shutil
import sqlite3
import struct
import tempfile
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import anyio
import anyio.from_thread
import anyio.to_thread
import numpy as np
import psycopg
import shapely
from fastapi import Request
from psycopg.adapt import Loader
from starlette.responses import Response, StreamingResponse

from app.ogc.collections import Collection, Prop
from app.ogc.query import CRS_OUTPUT, ItemsQuery, OutputCrs, rows_sql
from app.services.common import attachment
from gis.attributes import BUILDING_ATTRS, EXTRA_SHP_NAMES, PARCEL_ATTRS, SUPPORT_ATTRS
from gis.crs import CRS84_URI, crs_uri

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["FILE_FORMATS", "download_response", "shapefile_field_names"]

_BATCH = 2000  # rows per fetch: 5000 doubled the peak RSS of a GeoJSON download (+88 MB vs +25 MB)
_CHUNK = 1 << 16
_CHINA = ZoneInfo("Asia/Shanghai")

#: GDAL driver, file extension and DBF encoding per file format (pyogrio's ``encoding`` recodes the
#: UTF-8 Arrow strings and writes the .cpg; an ``ENCODING`` layer option alone would not recode).
FILE_FORMATS: dict[str, tuple[str, str, str | None]] = {
    "shp": ("ESRI Shapefile", "shp", "GBK"),
    "fgb": ("FlatGeobuf", "fgb", None),
}
_MEDIA = {"gpkg": "application/geopackage+sqlite3", "shp": "application/zip", "fgb": "application/flatgeobuf",
          "csv": "text/csv; charset=utf-8", "geojson": "application/geo+json"}
_EXT = {"shp": "zip", "csv": "csv", "geojson": "geojson", "gpkg": "gpkg", "fgb": "fgb"}
_SHP_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
# DBF names as ``landgis export`` writes them (ZDMJ: the computed area; the declared one SBMJ), per layer;
# other collections (parcel views) use the parcels' names.
_SHP_NAMES = {
    layer: {**{a.name: a.shp for a in attrs}, **EXTRA_SHP_NAMES[layer]}
    for layer, attrs in (("parcels", PARCEL_ATTRS), ("buildings", BUILDING_ATTRS), ("support_land", SUPPORT_ATTRS))
}


class _BytesLoader(Loader):
    def load(self, data) -> bytes:
        return bytes(data)


async def download_response(request: Request, q: ItemsQuery, f: str) -> Response:
    """The download of every feature ``q`` selects in format ``f`` (one of gpkg, shp, fgb, csv, geojson)."""
    explicit_crs = bool((request.query_params.get("crs") or "").strip())
    out = q.out if f == "geojson" or explicit_crs else CRS_OUTPUT[crs_uri(4549)]
    name = f"{q.collection.id}.{_EXT[f]}"
    headers = {"Content-Disposition": attachment(name),
               "Content-Crs": f"<{out.uri}>"}
    if f == "geojson":
        return await _stream_rows(request, *q.download_features_sql(), _geojson_chunks(), f, headers)
    if f == "csv":
        return await _stream_rows(request, *rows_sql(q, out.srid), _csv_chunks(q.props(), out), f, headers)
    return await _file_response(request, q, f, out, headers)

# ---- database ------------------------------------------------------------------------------------------
class _Rows:
    """A named server-side cursor on a pooled connection; ``close()`` always returns the connection."""

    def __init__(self, pool, conn, cur):
        self.pool, self.conn, self.cur = pool, conn, cur

    @classmethod
    async def open(cls, request: Request, sql: str, params: dict[str, Any], *, text_as_bytes: bool) -> _Rows:
        pool = request.app.state.read_pool
        conn = await pool.getconn()
        rows = cls(pool, conn, None)
        try:
            await conn.execute("BEGIN READ ONLY")
            rows.cur = conn.cursor(name="ogc_download")
            if text_as_bytes:
                rows.cur.adapters.register_loader("text", _BytesLoader)
            await rows.cur.execute(sql, params)
        except BaseException:
            await rows.close()
            raise
        return rows

    async def fetch(self) -> list[tuple]:
        return await self.cur.fetchmany(_BATCH)

    async def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is None:
            return
        try:
            if not conn.closed:
                with contextlib.suppress(psycopg.Error):
                    if self.cur is not None:
                        await self.cur.close()
                    await conn.rollback()  # read only: nothing to keep
        finally:
            await self.pool.putconn(conn)


class _ManagedStream(StreamingResponse):
    """A streaming response that runs ``on_close`` however sending ends (done, error, client gone)."""

    def __init__(self, content, on_close: Callable[[], Awaitable[None]], **kwargs):
        super().__init__(content, **kwargs)
        self._on_close = on_close

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._on_close()


async def _stream_rows(request: Request, sql: str, params: dict[str, Any], encoder, f: str,
                       headers: dict[str, str]) -> Response:
    """Rows of ``sql`` through ``encoder`` (a generator taking batches, yielding bytes), streamed."""
    rows = await _Rows.open(request, sql, params, text_as_bytes=f == "geojson")
    try:
        first = await rows.fetch()  # errors up to here are problem+json responses
        head = encoder.send(None)
    except BaseException:
        await rows.close()
        raise

    async def body() -> AsyncIterator[bytes]:
        try:
            yield head
            batch = first
            while batch:
                yield encoder.send(batch)
                batch = await rows.fetch() if len(batch) == _BATCH else []
            yield encoder.send([])
        finally:
            await rows.close()

    return _ManagedStream(body(), rows.close, media_type=_MEDIA[f], headers=headers)


# ---- GeoJSON -------------------------------------------------------------------------------------------
def _geojson_chunks():
    """Encoder: the head, then each batch's features, then (on an empty batch) the tail."""
    batch = yield b'{"type":"FeatureCollection","features":['
    n, sep = 0, b""
    while batch:
        n += len(batch)
        batch = yield sep + b",".join(r[0] for r in batch)
        sep = b","
    yield b'],"numberReturned":' + str(n).encode() + b"}"


# ---- CSV -----------------------------------------------------------------------------------------------
def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, datetime):
        return value.astimezone(_CHINA).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return value


def _csv_chunks(props: tuple[Prop, ...], out: OutputCrs):
    """Encoder: BOM and Chinese header, then each batch's rows with the geometry as WKT (x/y order)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([*(p.title for p in props), f"几何(WKT, {_crs_label(out)})"])
    batch = yield "\ufeff".encode() + buf.getvalue().encode()
    while batch:
        buf.seek(0)
        buf.truncate()
        wkt = shapely.to_wkt(shapely.from_wkb([r[0] for r in batch]), rounding_precision=out.decimals)
        writer.writerows([*map(_csv_value, r[1:]), w or ""] for r, w in zip(batch, wkt, strict=True))
        batch = yield buf.getvalue().encode()
    yield b""


def _crs_label(out: OutputCrs) -> str:
    return "OGC:CRS84" if out.uri == CRS84_URI else f"EPSG:{out.srid or 4549}"


# ---- files (GeoPackage, Shapefile, FlatGeobuf) ----------------------------------------------------------
def shapefile_field_names(c: Collection, props: tuple[Prop, ...]) -> list[str]:
    """DBF names (≤ 10 characters, unique): the cadastral abbreviation where there is one, else cut."""
    abbrev = _SHP_NAMES.get(c.id, _SHP_NAMES["parcels"])
    names: list[str] = []
    for p in props:
        name = abbrev.get(p.name, p.name.upper())[:10]
        n = 1
        while name.lower() in (x.lower() for x in names):
            suffix = f"_{n}"
            name = p.name.upper()[: 10 - len(suffix)] + suffix
            n += 1
        names.append(name)
    return names


def _file_value(value: Any, p: Prop, f: str) -> Any:
    """A property value as the file format stores it (lists joined; Shapefile: 是/否, China-time text)."""
    if value is None:
        return None
    if p.type == "array":
        return ",".join(value)
    if f == "shp" and p.type == "boolean":
        return "是" if value else "否"
    if f == "shp" and p.type == "datetime":
        return value.astimezone(_CHINA).isoformat(timespec="seconds")
    return value


async def _file_response(request: Request, q: ItemsQuery, f: str, out: OutputCrs,
                         headers: dict[str, str]) -> Response:
    c = q.collection
    folder = Path(tempfile.mkdtemp(prefix="landgis-download-"))
    target = folder / f"{c.id}.{'gpkg' if f == 'gpkg' else FILE_FORMATS[f][1]}"
    try:
        rows = await _Rows.open(request, *rows_sql(q, out.srid), text_as_bytes=False)
        try:
            pending = [await rows.fetch()]  # the first batch: query errors surface before any writing

            def batches() -> Iterator[list[tuple]]:
                """Runs in the writer thread; one batch in memory at a time, the next fetched on the loop."""
                while pending:
                    batch = pending.pop()
                    if not batch:
                        return
                    more = len(batch) == _BATCH
                    yield batch
                    del batch
                    if more:
                        pending.append(anyio.from_thread.run(rows.fetch))

            writer = _write_gpkg if f == "gpkg" else _write_ogr
            await anyio.to_thread.run_sync(writer, target, c, q.props(), out, f, batches())
        finally:
            await rows.close()
        if f == "shp":
            target = await anyio.to_thread.run_sync(_zip_shapefile, target)
        size = target.stat().st_size
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise

    async def cleanup() -> None:
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(folder, ignore_errors=True))

    return _ManagedStream(_read_file(target), cleanup, media_type=_MEDIA[f],
                          headers={**headers, "Content-Length": str(size)})


def _write_ogr(target: Path, c: Collection, props: tuple[Prop, ...], out: OutputCrs, f: str,
               batches: Iterator[list[tuple]]) -> None:
    """Shapefile or FlatGeobuf by GDAL, one Arrow record batch per row batch."""
    import pyarrow as pa
    from pyogrio.raw import write_arrow

    driver, _, encoding = FILE_FORMATS[f]
    names = shapefile_field_names(c, props) if f == "shp" else [p.name for p in props]
    types = [_arrow_type(p, f) for p in props]
    schema = pa.schema([pa.field("geometry", pa.binary()),
                        *(pa.field(n, t) for n, t in zip(names, types, strict=True))])

    def records() -> Iterator[pa.RecordBatch]:
        for batch in batches:
            cols = list(zip(*batch, strict=True))
            arrays = [pa.array(cols[0], type=pa.binary()),
                      *(pa.array([_file_value(v, p, f) for v in cols[i + 1]], type=types[i])
                        for i, p in enumerate(props))]
            del cols
            yield pa.record_batch(arrays, schema=schema)

    write_arrow(pa.RecordBatchReader.from_batches(schema, records()), str(target), layer=c.id, driver=driver,
                geometry_name="geometry", geometry_type=c.geometry_type, crs=_crs_label(out), encoding=encoding)


def _arrow_type(p: Prop, f: str) -> pa.DataType:
    import pyarrow as pa

    if p.type == "number":
        return pa.float64()
    if p.type == "integer":
        return pa.int64()
    if p.type == "date":
        return pa.date32()
    if p.type == "boolean" and f != "shp":
        return pa.bool_()
    if p.type == "datetime" and f != "shp":
        return pa.timestamp("us", tz="UTC")
    return pa.string()


# GeoPackage 1.4 written with sqlite3: the required tables, one feature table, GP-header + WKB geometries, R-tree.
_GPKG_TYPES = {"string": "TEXT", "number": "DOUBLE", "integer": "INTEGER", "boolean": "BOOLEAN", "date": "DATE",
               "datetime": "DATETIME", "array": "TEXT"}
_GPKG_CORE = """
CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
  organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
  description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
  CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL,
  geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
  CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
  CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
  CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
CREATE TABLE gpkg_extensions (table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL,
  definition TEXT NOT NULL, scope TEXT NOT NULL, CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name));
INSERT INTO gpkg_spatial_ref_sys VALUES ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', NULL),
  ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', NULL);
"""
# RTree Spatial Index extension (GeoPackage 1.4 §F.3): the rtree table, then — once the rows and their envelopes
# are in — the triggers that keep it in step when the file is edited. They call ST_IsEmpty/ST_MinX/…, which plain
# sqlite3 lacks (so they are created last) and GDAL registers when it opens the file (QGIS, ogr2ogr edits work).
_GPKG_RTREE = """
CREATE VIRTUAL TABLE "rtree_{t}_{c}" USING rtree(id, minx, maxx, miny, maxy);
INSERT INTO gpkg_extensions VALUES ('{t}', '{c}', 'gpkg_rtree_index',
  'http://www.geopackage.org/spec120/#extension_rtree', 'write-only');
"""
_GPKG_RTREE_TRIGGERS = """
CREATE TRIGGER "rtree_{t}_{c}_insert" AFTER INSERT ON "{t}" WHEN (new."{c}" NOT NULL AND NOT ST_IsEmpty(NEW."{c}"))
BEGIN
  INSERT OR REPLACE INTO "rtree_{t}_{c}" VALUES (NEW."{i}", ST_MinX(NEW."{c}"), ST_MaxX(NEW."{c}"),
    ST_MinY(NEW."{c}"), ST_MaxY(NEW."{c}"));
END;
CREATE TRIGGER "rtree_{t}_{c}_update6" AFTER UPDATE OF "{c}" ON "{t}" WHEN OLD."{i}" = NEW."{i}" AND
  (NEW."{c}" NOTNULL AND NOT ST_IsEmpty(NEW."{c}")) AND (OLD."{c}" NOTNULL AND NOT ST_IsEmpty(OLD."{c}"))
BEGIN
  UPDATE "rtree_{t}_{c}" SET minx = ST_MinX(NEW."{c}"), maxx = ST_MaxX(NEW."{c}"), miny = ST_MinY(NEW."{c}"),
    maxy = ST_MaxY(NEW."{c}") WHERE id = NEW."{i}";
END;
CREATE TRIGGER "rtree_{t}_{c}_update7" AFTER UPDATE OF "{c}" ON "{t}" WHEN OLD."{i}" = NEW."{i}" AND
  (NEW."{c}" NOTNULL AND NOT ST_IsEmpty(NEW."{c}")) AND (OLD."{c}" ISNULL OR ST_IsEmpty(OLD."{c}"))
BEGIN
  INSERT INTO "rtree_{t}_{c}" VALUES (NEW."{i}", ST_MinX(NEW."{c}"), ST_MaxX(NEW."{c}"),
    ST_MinY(NEW."{c}"), ST_MaxY(NEW."{c}"));
END;
CREATE TRIGGER "rtree_{t}_{c}_update2" AFTER UPDATE OF "{c}" ON "{t}" WHEN OLD."{i}" = NEW."{i}" AND
  (NEW."{c}" ISNULL OR ST_IsEmpty(NEW."{c}"))
BEGIN
  DELETE FROM "rtree_{t}_{c}" WHERE id = OLD."{i}";
END;
CREATE TRIGGER "rtree_{t}_{c}_update5" AFTER UPDATE ON "{t}" WHEN OLD."{i}" != NEW."{i}" AND
  (NEW."{c}" NOTNULL AND NOT ST_IsEmpty(NEW."{c}"))
BEGIN
  DELETE FROM "rtree_{t}_{c}" WHERE id = OLD."{i}";
  INSERT OR REPLACE INTO "rtree_{t}_{c}" VALUES (NEW."{i}", ST_MinX(NEW."{c}"), ST_MaxX(NEW."{c}"),
    ST_MinY(NEW."{c}"), ST_MaxY(NEW."{c}"));
END;
CREATE TRIGGER "rtree_{t}_{c}_update4" AFTER UPDATE ON "{t}" WHEN OLD."{i}" != NEW."{i}" AND
  (NEW."{c}" ISNULL OR ST_IsEmpty(NEW."{c}"))
BEGIN
  DELETE FROM "rtree_{t}_{c}" WHERE id IN (OLD."{i}", NEW."{i}");
END;
CREATE TRIGGER "rtree_{t}_{c}_delete" AFTER DELETE ON "{t}" WHEN old."{c}" NOT NULL
BEGIN
  DELETE FROM "rtree_{t}_{c}" WHERE id = OLD."{i}";
END;
"""


def _gpkg_value(value: Any, p: Prop) -> Any:
    if value is None:
        return None
    if p.type == "array":
        return ",".join(value)
    if p.type == "boolean":
        return int(value)
    if p.type == "date":
        return value.isoformat()
    if p.type == "datetime":
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return value


def _write_gpkg(target: Path, c: Collection, props: tuple[Prop, ...], out: OutputCrs, f: str,
                batches: Iterator[list[tuple]]) -> None:
    """A GeoPackage of one feature table ``c.id`` (geometry column ``geom``, ``fid`` key, R-tree index)."""
    from pyproj import CRS

    epsg = out.srid or 4549
    header = struct.pack("<2sBBi", b"GP", 0, 0b0000_0011, epsg)  # version 0, xy envelope, little endian
    names = {"t": c.id, "c": "geom", "i": "fid"}
    db = sqlite3.connect(target)
    try:
        db.executescript("PRAGMA application_id = 1196444487; PRAGMA user_version = 10400; "
                         "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;" + _GPKG_CORE)
        crs = CRS.from_epsg(epsg)
        db.execute("INSERT INTO gpkg_spatial_ref_sys VALUES (?, ?, 'EPSG', ?, ?, NULL)",
                   (crs.name, epsg, epsg, crs.to_wkt("WKT1_GDAL")))
        cols = "".join(f', "{p.name}" {_GPKG_TYPES[p.type]}' for p in props)
        db.execute(f'CREATE TABLE "{c.id}" (fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, '
                   f'geom {c.geometry_type.upper()}{cols})')
        db.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) "
                   "VALUES (?, 'features', ?, ?, ?)", (c.id, c.title, c.title_en, epsg))
        db.execute("INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', ?, ?, 0, 0)",
                   (c.id, c.geometry_type.upper(), epsg))
        db.executescript(_GPKG_RTREE.format(**names))
        insert = (f'INSERT INTO "{c.id}" (fid, geom{"".join(f", {chr(34)}{p.name}{chr(34)}" for p in props)}) '
                  f"VALUES ({', '.join('?' * (len(props) + 2))})")
        insert_rtree = f'INSERT INTO "rtree_{c.id}_geom" VALUES (?, ?, ?, ?, ?)'
        extent = [math.inf, math.inf, -math.inf, -math.inf]
        fid = 0
        for batch in batches:
            bounds = shapely.bounds(shapely.from_wkb([r[0] for r in batch]))  # minx, miny, maxx, maxy
            extent = [min(extent[0], np.nanmin(bounds[:, 0])), min(extent[1], np.nanmin(bounds[:, 1])),
                      max(extent[2], np.nanmax(bounds[:, 2])), max(extent[3], np.nanmax(bounds[:, 3]))]
            fids = range(fid + 1, fid + len(batch) + 1)
            fid += len(batch)
            boxes = bounds.tolist()
            db.executemany(insert, (
                (i, header + struct.pack("<4d", b[0], b[2], b[1], b[3]) + r[0],
                 *(_gpkg_value(v, p) for v, p in zip(r[1:], props, strict=True)))
                for i, r, b in zip(fids, batch, boxes, strict=True)))
            db.executemany(insert_rtree, ((i, b[0], b[2], b[1], b[3])
                                          for i, b in zip(fids, boxes, strict=True) if not math.isnan(b[0])))
            del batch, bounds, boxes
        db.executescript(_GPKG_RTREE_TRIGGERS.format(**names))
        if math.isfinite(extent[0]):
            db.execute("UPDATE gpkg_contents SET min_x = ?, min_y = ?, max_x = ?, max_y = ? WHERE table_name = ?",
                       (*map(float, extent), c.id))
        db.commit()
    finally:
        db.close()


def _zip_shapefile(shp: Path) -> Path:
    """``<name>.zip`` beside ``shp`` holding its .shp/.shx/.dbf/.prj/.cpg (GDAL writes the .cpg: GBK)."""
    cpg = shp.with_suffix(".cpg")
    if not cpg.exists():
        cpg.write_text("GBK", encoding="ascii")
    target = shp.with_suffix(".zip")
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for suffix in _SHP_PARTS:
            part = shp.with_suffix(suffix)
            if part.exists():
                zf.write(part, part.name)
                part.unlink()
    return target


async def _read_file(path: Path) -> AsyncIterator[bytes]:
    async with await anyio.open_file(path, "rb") as fh:
        while chunk := await fh.read(_CHUNK):
            yield chunk
