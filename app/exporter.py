"""``landgis export``: the register as GeoPackage, GeoJSON, Shapefile (GBK + .cpg) or CSV (UTF-8 BOM).

Field names per format: GeoPackage and GeoJSON keep the canonical snake_case names (stable for
scripts and QGIS); Shapefile DBFs use the cadastral abbreviations (ZDDM, DKMC, …) encoded GBK as
contractors and desktop GIS in China expect; CSV uses the Chinese labels so Excel users read them
directly. ``ZDMJ`` in a Shapefile is the official (computed) area; the declared area is ``SBMJ``.
Rows are read in chunks from a server-side cursor, so memory stays flat for large registers.
"""

from __future__ import annotations

import csv
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import pyogrio
import shapely
from sqlalchemy import Connection, text

from app.db import make_engine
from app.settings import Settings
from gis.attributes import (
    BUILDING_ATTRS,
    EXTRA_SHP_NAMES,
    HOLDER_YEAR_ATTRS,
    PARCEL_ATTRS,
    SUPPORT_ATTRS,
    Attr,
)
from gis.crs import parse_crs
from gis.errors import GisInputError

__all__ = ["FORMATS", "export_register", "parcel_frames"]

FORMATS = {".gpkg": "gpkg", ".geojson": "geojson", ".json": "geojson", ".shp": "shp", ".zip": "shp", ".csv": "csv"}
CHUNK = 20_000
LAYERS = ("parcels", "buildings", "support_land")

PARCEL_EXPORT_ATTRS: tuple[Attr, ...] = (
    *(a for a in PARCEL_ATTRS if a.name not in ("declared_area_m2", "retired_on")),
    Attr("area_m2", "宗地面积(㎡)", "float", EXTRA_SHP_NAMES["parcels"]["area_m2"]),
    Attr("area_mu", "宗地面积(亩)", "float", EXTRA_SHP_NAMES["parcels"]["area_mu"]),
    Attr("declared_area_m2", "申报面积(㎡)", "float", EXTRA_SHP_NAMES["parcels"]["declared_area_m2"]),
    Attr("valid_from", "生效时间", "str", EXTRA_SHP_NAMES["parcels"]["valid_from"]),
    Attr("valid_to", "注销时间", "str", EXTRA_SHP_NAMES["parcels"]["valid_to"]),
)
BUILDING_EXPORT_ATTRS = (*BUILDING_ATTRS,
                         Attr("footprint_m2", "基底面积(㎡)", "float", EXTRA_SHP_NAMES["buildings"]["footprint_m2"]))
SUPPORT_EXPORT_ATTRS = (*SUPPORT_ATTRS,
                        Attr("area_m2", "用地面积(㎡)", "float", EXTRA_SHP_NAMES["support_land"]["area_m2"]))

_SELECT = {
    "parcels": """
SELECT p.parcel_code, p.name, p.town, p.land_use, p.land_use_code, p.ownership_nature, p.right_type,
  h.name AS holder_name, h.credit_code AS holder_credit_code, p.approval_no, p.approved_on, p.supplied_on,
  p.contract_no, p.agreed_start_on, p.agreed_completion_on, p.construction_started_on, p.completed_on,
  p.production_started_on, p.halted_since, p.lease_end_on, p.developed_area_m2::float8, p.far_planned::float8,
  p.far_actual::float8, p.floor_area_m2::float8, p.invested_wan::float8, p.planned_investment_wan::float8,
  p.standard_land, p.standard_land_indicators, p.industrial_real_estate, p.in_development_zone,
  p.produced_by, p.parent_codes, p.no_split, p.remarks, round(p.area_m2::numeric, 2)::float8 AS area_m2,
  round(p.area_mu::numeric, 4)::float8 AS area_mu, p.declared_area_m2::float8,
  to_char(p.valid_from AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD"T"HH24:MI:SS+08:00') AS valid_from,
  to_char(p.valid_to AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD"T"HH24:MI:SS+08:00') AS valid_to,
  ST_AsBinary(p.geom) AS wkb
FROM parcels p LEFT JOIN holders h ON h.id = p.holder_id
WHERE (:retired OR p.valid_to IS NULL)
ORDER BY p.parcel_code, p.valid_from
""",
    "buildings": """
SELECT p.parcel_code, b.number, b.floors, b.height_m::float8, b.floor_area_m2::float8, b.use,
  round(b.footprint_m2::numeric, 2)::float8 AS footprint_m2, ST_AsBinary(b.geom) AS wkb
FROM buildings b JOIN parcels p ON p.id = b.parcel_id
WHERE (:retired OR p.valid_to IS NULL)
ORDER BY p.parcel_code, b.number
""",
    "support_land": """
SELECT p.parcel_code, s.kind, s.floor_area_m2::float8, round(s.area_m2::numeric, 2)::float8 AS area_m2,
  ST_AsBinary(s.geom) AS wkb
FROM support_land s JOIN parcels p ON p.id = s.parcel_id
WHERE (:retired OR p.valid_to IS NULL)
ORDER BY p.parcel_code, s.id
""",
}
_HOLDER_YEARS = """
SELECT h.credit_code, h.name AS holder_name, y.year, y.rating, y.tax_wan::float8, y.revenue_wan::float8,
  y.value_added_wan::float8, y.above_scale, array_to_string(y.compliance_flags, ',') AS compliance_flags
FROM holder_years y JOIN holders h ON h.id = y.holder_id ORDER BY h.credit_code, y.year
"""
_DISPOSALS = """
SELECT parcel_code, method, area_m2::float8, disposed_on, note FROM disposals ORDER BY disposed_on, id
"""
_ATTRS = {"parcels": PARCEL_EXPORT_ATTRS, "buildings": BUILDING_EXPORT_ATTRS, "support_land": SUPPORT_EXPORT_ATTRS}


def parcel_frames(
    conn: Connection, layer: str, *, retired: bool, out_epsg: int | None, storage_epsg: int
) -> Iterator[gpd.GeoDataFrame]:
    """Chunks of a layer as GeoDataFrames (server-side cursor; geometry reprojected if asked)."""
    result = conn.execution_options(stream_results=True, yield_per=CHUNK).execute(
        text(_SELECT[layer]), {"retired": retired}
    )
    columns = list(result.keys())
    for rows in result.partitions(CHUNK):
        df = pd.DataFrame(rows, columns=columns)
        geoms = shapely.from_wkb(df.pop("wkb").to_numpy())
        gdf = gpd.GeoDataFrame(df, geometry=geoms, crs=storage_epsg)
        if out_epsg is not None and out_epsg != storage_epsg:
            gdf = gdf.to_crs(out_epsg)
        yield gdf


def _for_format(gdf: pd.DataFrame, attrs: tuple[Attr, ...], fmt: str) -> pd.DataFrame:
    out = gdf.copy()
    for a in attrs:
        if a.name not in out.columns:
            continue
        col = out[a.name]
        if a.kind == "list":
            out[a.name] = col.map(lambda v: ",".join(v) if isinstance(v, list | tuple) else (v or None))
        elif a.kind == "json":
            out[a.name] = col.map(lambda v: None if v is None else orjson.dumps(v).decode())
        elif a.kind == "bool" and fmt in ("shp", "csv"):
            out[a.name] = col.map(lambda v: None if v is None else ("是" if v else "否"))
        elif a.kind == "date":
            out[a.name] = col.map(lambda v: None if v is None or pd.isna(v) else v.isoformat())
    if fmt == "shp":
        out = out.rename(columns={a.name: a.shp for a in attrs})
    elif fmt == "csv":
        out = out.rename(columns={a.name: a.label_zh for a in attrs})
    return out


def _write_spatial(
    conn: Connection,
    layer: str,
    target: Path,
    fmt: str,
    *,
    retired: bool,
    out_epsg: int | None,
    storage_epsg: int,
) -> int:
    attrs = _ATTRS[layer]
    count = 0
    kwargs: dict = {"driver": {"gpkg": "GPKG", "geojson": "GeoJSON", "shp": "ESRI Shapefile"}[fmt]}
    if fmt == "gpkg":
        kwargs["layer"] = layer
    if fmt == "shp":
        kwargs["encoding"] = "GBK"
    if fmt == "geojson":
        kwargs["layer_options"] = {"RFC7946": "YES", "COORDINATE_PRECISION": "8"}
    for chunk in parcel_frames(conn, layer, retired=retired, out_epsg=out_epsg, storage_epsg=storage_epsg):
        if count and fmt == "geojson":
            raise GisInputError(
                "too-large-for-geojson",
                "GeoJSON 导出过大，请改用 GeoPackage",
                "too many features for a GeoJSON export; use GeoPackage",
                status=422,
            )
        frame = _for_format(chunk, attrs, fmt)
        pyogrio.write_dataframe(frame, target, promote_to_multi=(layer == "parcels"), append=bool(count), **kwargs)
        count += len(frame)
    if count == 0:
        empty = _for_format(
            gpd.GeoDataFrame({a.name: [] for a in attrs}, geometry=[], crs=out_epsg or storage_epsg), attrs, fmt
        )
        pyogrio.write_dataframe(
            empty, target, geometry_type="MultiPolygon" if layer == "parcels" else "Polygon", **kwargs
        )
    if fmt == "shp":
        target.with_suffix(".cpg").write_text("GBK", encoding="ascii")
    return count


def _write_csv(conn: Connection, layer: str, target: Path, *, retired: bool, storage_epsg: int) -> int:
    attrs = _ATTRS[layer]
    count = 0
    with target.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = None
        for chunk in parcel_frames(conn, layer, retired=retired, out_epsg=None, storage_epsg=storage_epsg):
            frame = _for_format(pd.DataFrame(chunk.drop(columns="geometry")), attrs, "csv")
            geoms = np.asarray(chunk.geometry.array)
            frame[f"几何(WKT, EPSG:{storage_epsg})"] = shapely.to_wkt(geoms, rounding_precision=3)
            if writer is None:
                writer = csv.writer(fh)
                writer.writerow(frame.columns)
            writer.writerows(frame.itertuples(index=False, name=None))
            count += len(frame)
        if writer is None:
            csv.writer(fh).writerow([a.label_zh for a in attrs])
    return count


def _table(conn: Connection, sql: str) -> pd.DataFrame:
    result = conn.execute(text(sql))
    return pd.DataFrame(result.all(), columns=list(result.keys()))


def export_register(
    settings: Settings,
    out: Path,
    *,
    fmt: str | None = None,
    layer: str = "all",
    include_retired: bool = False,
    crs: str | None = None,
    engine=None,
) -> list[tuple[Path, int]]:
    """Write the register to ``out``; returns ``[(path, feature count), …]`` per written layer."""
    from gis.jurisdiction import load_jurisdiction

    storage = load_jurisdiction(settings.jurisdiction).storage_epsg
    fmt = fmt or FORMATS.get(out.suffix.lower())
    if fmt not in ("gpkg", "geojson", "shp", "csv"):
        raise GisInputError(
            "unsupported-format",
            f"不支持的导出格式：{out.name}",
            f"unsupported export format for {out.name}: use .gpkg, .geojson, .shp, .zip or .csv",
            status=400,
        )
    layers = LAYERS if layer == "all" else (layer,)
    if any(lyr not in LAYERS for lyr in layers):
        raise GisInputError("unknown-layer", f"未知图层：{layer}", f"unknown layer: {layer}", status=400)
    if fmt == "geojson":
        out_epsg = None if crs is None else parse_crs(crs).epsg
        out_epsg = 4490 if out_epsg in (None, 4326) else out_epsg
    else:
        out_epsg = parse_crs(crs).epsg if crs else None
    own = engine is None
    engine = engine or make_engine(settings)
    written: list[tuple[Path, int]] = []
    try:
        with engine.connect() as conn:
            if fmt == "gpkg":
                out.unlink(missing_ok=True)
                for lyr in layers:
                    n = _write_spatial(
                        conn, lyr, out, fmt, retired=include_retired, out_epsg=out_epsg, storage_epsg=storage
                    )
                    written.append((out, n))
                if layer == "all":
                    for name, sql in (("holder_years", _HOLDER_YEARS), ("disposals", _DISPOSALS)):
                        df = _table(conn, sql)
                        pyogrio.write_dataframe(df, out, layer=name, driver="GPKG", append=True)
                        written.append((out, len(df)))
            elif fmt in ("geojson", "csv") or (fmt == "shp" and out.suffix.lower() == ".shp" and layer != "all"):
                for lyr in layers:
                    target = out if len(layers) == 1 else out.with_name(f"{out.stem}_{lyr}{out.suffix}")
                    target.unlink(missing_ok=True)
                    if fmt == "csv":
                        n = _write_csv(conn, lyr, target, retired=include_retired, storage_epsg=storage)
                    else:
                        n = _write_spatial(
                            conn, lyr, target, fmt, retired=include_retired, out_epsg=out_epsg, storage_epsg=storage
                        )
                    written.append((target, n))
            else:
                written = _write_shapefile_set(conn, out, layers, include_retired, out_epsg, storage)
    finally:
        if own:
            engine.dispose()
    return written


def _write_shapefile_set(conn: Connection, out: Path, layers, retired: bool, out_epsg, storage) -> list:
    """A folder (or zip) with parcels.shp, buildings.shp, support_land.shp and holder_years.csv."""
    as_zip = out.suffix.lower() == ".zip"
    folder = (
        Path(tempfile.mkdtemp(prefix="landgis-shp-"))
        if as_zip
        else (out.parent if out.suffix.lower() == ".shp" else out)
    )
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for lyr in layers:
        target = folder / f"{lyr}.shp"
        n = _write_spatial(conn, lyr, target, "shp", retired=retired, out_epsg=out_epsg, storage_epsg=storage)
        written.append((target, n))
    hy = _table(conn, _HOLDER_YEARS)
    hy = hy.rename(columns={a.name: a.label_zh for a in HOLDER_YEAR_ATTRS})
    hy.to_csv(folder / "holder_years.csv", index=False, encoding="utf-8-sig")
    if as_zip:
        out.unlink(missing_ok=True)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(folder.iterdir()):
                zf.write(f, f.name)
        shutil.rmtree(folder)
        written = [(out, n) for _, n in written]
    return written
