"""``POST /api/v1/uploads``: survey contractors' files → GeoJSON for the check endpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, Request, UploadFile

from app.deps import Officer, SettingsDep, in_check_slot
from app.services import uploads as svc

router = APIRouter(prefix="/api/v1", tags=["uploads"])

DESCRIPTION = f"""
把测绘单位交付的地块文件转换为 GeoJSON，可直接作为分割 / 合并 / 零星边角地审查请求中的地块。
不写数据库。Converts a survey contractor's file into a GeoJSON FeatureCollection that the
workbench can send to the check endpoints unchanged (with the same `crs`). Nothing is stored.

**Formats** (recognised from the content, not the file name):

* **GeoJSON** — FeatureCollection, Feature or geometry; CRS84 unless it has a `crs` member or
  `source_crs` is given (positions in that CRS's authority axis order, as for the checks).
* **Shapefile** — a zip with `.shp .shx .dbf` and `.prj` (`.cpg` optional: without it the DBF
  encoding is detected, usually GBK). Zone-prefixed eastings (40 xxx xxx) are read as EPSG:4528.
  Without `.prj`, give `source_crs`.
* **GeoPackage** — one polygon layer, or name it with `layer`.
* **Coordinate list (界址点坐标)**, CSV or TXT, UTF-8 / UTF-8 BOM / GBK: `点号,X,Y` (header
  optional), optionally with a lot column (地块号 / 地块编号 / lot / label) or lots separated by
  blank lines; comma, Chinese comma, tab or whitespace separated. X is the **northing**, Y the
  easting (EPSG:4549, or with the zone prefix 40).
* **Ministry exchange format (国土资源部 界址点坐标交换格式)** — `[属性描述]` and `[地块坐标]`,
  lot lines `点数,面积,地块编号,地块名称,图形属性,图幅号,地块用途,地类编码,@`, point lines
  `点号,圈号,X,Y` (ring 1 outer, 2… holes or further parts).

A zip may also hold one GeoPackage, GeoJSON or coordinate list. Open rings are closed and
duplicate consecutive points dropped, with a warning; invalid polygons are passed on unrepaired
(the checks report them).

**Response**: a FeatureCollection whose features carry the file's attributes plus `label`, and
`format` (geojson | shapefile | gpkg | coordinate-list | ministry-exchange), `source_crs`, `crs`
(the output CRS URI), `count` and `warnings`.

Limits: {svc.MAX_FEATURES} features, {svc.MAX_VERTICES} vertices (413). Points or lines, empty
files → 422; unknown CRS, axes that look swapped, coordinates far outside the county → 400/422.
Errors are RFC 9457 problem+json with Chinese and English details.
"""


@router.post(
    "/uploads",
    summary="上传地块文件并转换为 GeoJSON / convert an uploaded survey file to GeoJSON",
    description=DESCRIPTION,
    responses={
        400: {"description": "unknown CRS, no CRS, swapped axes, wrong zone"},
        413: {"description": "too many features or vertices, or a body / zip too large"},
        415: {"description": "an unsupported file type (e.g. Excel)"},
        422: {"description": "unreadable, empty, malformed or non-polygon content"},
    },
)
async def upload(
    request: Request,
    actor: Officer,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="the survey file: GeoJSON, zipped Shapefile, GeoPackage, "
                                                 "coordinate list (CSV/TXT) or Ministry exchange TXT")],
    crs: Annotated[str | None, Query(description="output CRS (OGC URI or EPSG:xxxx; default CRS84). EPSG:4549 "
                                                 "answers northing, easting, as the checks accept with ?crs=")] = None,
    source_crs: Annotated[str | None, Query(description="CRS of a file that declares none (coordinate lists "
                                                        "default to EPSG:4549)")] = None,
    layer: Annotated[str | None, Query(description="the layer of a GeoPackage, or the Shapefile of a zip "
                                                   "holding several")] = None,
):
    data = await file.read()
    return await in_check_slot(request, svc.convert_upload, data, file.filename, crs=crs, source_crs=source_crs,
                               layer=layer, jurisdiction=settings.jurisdiction)
