"""Plain keyword-only factories for test data (EPSG:4549 metres, inside Tiantai)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import shapely
from shapely.geometry import Polygon, box

from gis.ids import credit_check_char

ORIGIN = (603_000.0, 3_225_000.0)  # easting, northing in EPSG:4549: 天台经济开发区 area


def credit_code(seq: int) -> str:
    """A valid GB 32100-2015 credit code 91331023MA2X…, distinct per ``seq``."""
    body = f"91331023MA2X{seq:05d}"
    return body + credit_check_char(body)


def parcel_code(seq: int, *, district: str = "003", sub: str = "001") -> str:
    return f"331023{district}{sub}GB{seq:05d}"


def grid_parcels(*, n: int = 4, width: float = 100.0, height: float = 80.0, gap: float = 0.0,
                 origin: tuple[float, float] = ORIGIN, start_seq: int = 1) -> gpd.GeoDataFrame:
    """``n`` rectangular parcels in a row, with canonical attributes, in EPSG:4549."""
    rows = []
    for i in range(n):
        x0 = origin[0] + i * (width + gap)
        rows.append({
            "parcel_code": parcel_code(start_seq + i),
            "name": f"测试地块{i + 1}号",
            "town": "福溪街道",
            "land_use": "工业用地",
            "land_use_code": "0601",
            "ownership_nature": "国有",
            "right_type": "出让",
            "holder_name": f"浙江天台测试机械有限公司{i + 1}",
            "holder_credit_code": credit_code(start_seq + i),
            "declared_area_m2": width * height,
            "approved_on": "2015-03-01",
            "supplied_on": "2016-05-01",
            "completed_on": "2018-06-01",
            "production_started_on": "2018-09-01",
            "lease_end_on": "2066-05-01",
            "far_actual": 1.3,
            "geometry": box(x0, origin[1], x0 + width, origin[1] + height),
        })
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=4549)


def buildings_for(parcels: gpd.GeoDataFrame, *, per_parcel: int = 2, setback: float = 5.0) -> gpd.GeoDataFrame:
    rows = []
    for code, geom in zip(parcels["parcel_code"], parcels.geometry, strict=True):
        minx, miny, maxx, _ = geom.bounds
        w = (maxx - minx - 2 * setback - (per_parcel - 1) * setback) / per_parcel
        for k in range(per_parcel):
            x0 = minx + setback + k * (w + setback)
            rows.append({"parcel_code": code, "number": str(k + 1), "floors": 3, "height_m": 15.0,
                         "floor_area_m2": round(w * 20 * 3, 2),
                         "geometry": box(x0, miny + setback, x0 + w, miny + setback + 20)})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=parcels.crs)


def bow_tie(x0: float, y0: float, size: float = 50.0) -> Polygon:
    return Polygon([(x0, y0), (x0 + size, y0 + size), (x0 + size, y0), (x0, y0 + size), (x0, y0)])


def to_shapefile_gbk(gdf: gpd.GeoDataFrame, path: Path, *, cpg: bool = True, prj: bool = True) -> Path:
    """Write a contractor-style Shapefile: GBK DBF (with or without .cpg / .prj)."""
    gdf.to_file(path, driver="ESRI Shapefile", encoding="GBK", engine="pyogrio")
    if not cpg:
        path.with_suffix(".cpg").unlink(missing_ok=True)
    if not prj:
        path.with_suffix(".prj").unlink(missing_ok=True)
    return path


def area(geom) -> float:
    return float(shapely.area(geom))
