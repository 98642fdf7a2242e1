"""Uploaded survey files → a GeoJSON FeatureCollection the workbench can send to the checks.

Nothing here touches the database. The format is recognised from the bytes (zip magic, the SQLite
header of a GeoPackage, JSON, else a text coordinate list), not from the file name. Shapefiles and
GeoPackages are read with pyogrio (the DBF encoding decided as ``landgis import`` does:
``.cpg``, then the language-driver byte, then a UTF-8 trial); GeoJSON goes through the same parser
as the check requests (:mod:`gis.geojson`); coordinate lists through :mod:`gis.coordlist`.

Every geometry is brought to the storage CRS (EPSG:4549), refused when it lands far outside the
jurisdiction (swapped axes, wrong CRS), then written in the requested output CRS in that CRS's
authority axis order — exactly what the check endpoints accept with the same ``crs``.
"""

from __future__ import annotations

import io
import logging
import re
import string
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from app.errors import ProblemError
from gis.coordlist import Notice, parse_coordinate_list
from gis.crs import CrsRef, crs_uri, looks_zone_prefixed, parse_crs, to_authority_xy, transform_geom
from gis.errors import GisInputError
from gis.geojson import GeometryBatch, feature_list, request_crs
from gis.jurisdiction import Jurisdiction, load_jurisdiction
from gis.sources import _refuse_if_far_outside, detect_dbf_encoding

__all__ = ["MAX_FEATURES", "MAX_VERTICES", "convert_upload", "detect_format"]

log = logging.getLogger(__name__)

MAX_FEATURES = 1_000
MAX_VERTICES = 100_000
MAX_ZIP_MEMBERS = 200
MAX_UNCOMPRESSED = 100 * 1024 * 1024
LABEL_KEYS = ("label", "地块编号", "地块号", "地块名称", "lot", "lot_no", "dkbh", "dkmc", "编号", "名称", "name")
SPATIAL_IN_ZIP = (".gpkg", ".geojson", ".json", ".csv", ".txt", ".dat")


@dataclass
class _Features:
    """Features read from one file, geometries already in the storage CRS."""

    format: str
    source_crs: str
    geometries: list[BaseGeometry]
    properties: list[dict[str, Any]]
    warnings: list[Notice] = field(default_factory=list)


def _problem(status: int, code: str, zh: str, en: str, **extra) -> ProblemError:
    return ProblemError(status, code, zh, en, **extra)


def _unreadable(kind_zh: str, kind_en: str, exc: Exception | None = None) -> ProblemError:
    """422 for bytes the reader chokes on; the reason keeps no server path."""
    reason = re.sub(r"\S*landgis-upload-[^/\s]+/", "", str(exc))[:300] if exc else ""
    zh, en = (f"（{reason}）", f" ({reason})") if reason else ("", "")
    return _problem(422, "unreadable-file", f"无法读取{kind_zh}：文件损坏或格式不符{zh}",
                    f"cannot read the {kind_en}: the file is corrupt or not of its format{en}")


# ------------------------------------------------------------------------------------------ detection


def detect_format(data: bytes) -> str:
    """``zip``, ``gpkg``, ``geojson``, ``shp`` (a bare .shp), ``office`` (Excel) or ``text``, from the bytes."""
    head = data[:16]
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(b"SQLite format 3\x00"):
        return "gpkg"
    if head.startswith(b"\x00\x00\x27\x0a"):
        return "shp"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "office"
    stripped = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped[:1] == b"{" or re.match(rb"\[\s*[\[{\]]", stripped):
        return "geojson"
    return "text"


# --------------------------------------------------------------------------------------- the formats


def _json_value(v: Any) -> Any:
    if v is None or isinstance(v, str | bool | int):
        return v
    if isinstance(v, float):
        return v if np.isfinite(v) else None
    if isinstance(v, np.generic):
        return _json_value(v.item())
    if isinstance(v, pd.Timestamp | datetime | date):
        return None if pd.isna(v) else v.isoformat()
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, list | tuple | np.ndarray):
        return [_json_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _json_value(x) for k, x in v.items()}
    return str(v)


def _check_count(n: int) -> None:
    if n > MAX_FEATURES:
        raise _problem(413, "too-many-features", f"文件有 {n} 个要素，上限为 {MAX_FEATURES} 个",
                       f"the file holds {n} features; at most {MAX_FEATURES} are accepted", limit=MAX_FEATURES)


def _check_vertices(geoms) -> None:
    n = int(np.sum(shapely.get_num_coordinates(np.asarray(geoms, dtype=object)))) if len(geoms) else 0
    if n > MAX_VERTICES:
        raise _problem(413, "too-many-vertices", f"文件共有 {n} 个坐标点，上限为 {MAX_VERTICES} 个",
                       f"the file holds {n} vertices; at most {MAX_VERTICES} are accepted", limit=MAX_VERTICES)


def _not_polygons(types: list[str]) -> ProblemError:
    kinds = sorted(set(types))
    return _problem(422, "not-a-polygon",
                    f"只接受面要素（Polygon / MultiPolygon），文件中有 {', '.join(kinds)}；"
                    "界址点请按坐标列表（CSV/TXT）上传",
                    f"only polygon features (Polygon / MultiPolygon) are accepted, the file holds {', '.join(kinds)}; "
                    "send boundary points as a coordinate list (CSV/TXT)", geometry_types=kinds)


def _from_frame(gdf, fmt: str, name: str, source_crs: str | None, jurisdiction: Jurisdiction,
                warnings: list[Notice]) -> _Features:
    """A GeoDataFrame read by pyogrio → storage-CRS polygons, with the CRS rules of ``landgis import``."""
    if len(gdf) == 0:
        raise _problem(422, "empty-file", "文件中没有要素", "the file holds no features")
    _check_count(len(gdf))
    geoms = np.asarray(gdf.geometry.array, dtype=object)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.all():
        raise _problem(422, "empty-file", "文件中的要素都没有几何", "no feature of the file has a geometry")
    if missing.any():
        rows = [int(i) + 1 for i in np.flatnonzero(missing)]
        warnings.append(Notice("empty-geometry-skipped", f"跳过没有几何的要素（第 {rows} 个）",
                               f"skipped features without geometry (numbers {rows})"))
        gdf = gdf[~missing]
        geoms = geoms[~missing]
    types = [g.geom_type for g in geoms]
    if any(t not in ("Polygon", "MultiPolygon") for t in types):
        raise _not_polygons(types)
    _check_vertices(geoms)
    if shapely.has_z(geoms).any():
        gdf = gdf.set_geometry(shapely.force_2d(geoms))
    storage = jurisdiction.storage_epsg
    if source_crs:
        ref = parse_crs(source_crs)
        if gdf.crs is not None and not CRS.from_user_input(ref.key).equals(gdf.crs):
            warnings.append(Notice("crs-overridden",
                                   f"文件声明的坐标系（{gdf.crs.name}）被 source_crs={source_crs} 覆盖",
                                   f"the file's CRS ({gdf.crs.name}) was overridden by source_crs={source_crs}"))
        gdf = gdf.set_crs(ref.key, allow_override=True)
    elif gdf.crs is None:
        what_zh, what_en = ("缺少 .prj 文件", "no .prj file") if fmt == "shapefile" else ("没有声明坐标系", "no CRS")
        raise _problem(400, "no-crs",
                       f"{name} {what_zh}，无法确定坐标系：请用查询参数 source_crs 指明，如 source_crs=EPSG:4549",
                       f"{name} has {what_en}, so its CRS is unknown: name it with the query parameter source_crs, "
                       "e.g. source_crs=EPSG:4549", pointer="/query/source_crs")
    epsg = gdf.crs.to_epsg()
    minx = float(np.nanmin(shapely.bounds(np.asarray(gdf.geometry.array))[:, 0]))
    prefixed = jurisdiction.zone_prefixed_epsg
    if epsg == storage and prefixed and looks_zone_prefixed(minx):
        warnings.append(Notice("zone-prefixed", f"东坐标带 40 带号前缀，按 EPSG:{prefixed} 读取",
                               f"the eastings carry the zone prefix 40: read as EPSG:{prefixed}"))
        gdf = gdf.set_crs(prefixed, allow_override=True)
        epsg = prefixed
    elif epsg == prefixed and minx < 1_000_000:
        warnings.append(Notice("zone-prefix-missing", f"声明 EPSG:{epsg} 但东坐标无带号前缀，按 EPSG:{storage} 读取",
                               f"declared EPSG:{epsg} but the eastings carry no zone prefix: read as EPSG:{storage}"))
        gdf = gdf.set_crs(storage, allow_override=True)
        epsg = storage
    try:
        out = gdf.to_crs(storage)
    except Exception as exc:
        raise _problem(400, "unknown-crs", f"无法将文件的坐标系（{gdf.crs.name}）转换到 EPSG:{storage}",
                       f"cannot transform the file's CRS ({gdf.crs.name}) to EPSG:{storage}") from exc
    _refuse_if_far_outside(gdf, out, jurisdiction, Path(name))
    source = crs_uri(epsg) if epsg else (parse_crs(None).uri if gdf.crs.equals(CRS("OGC:CRS84")) else gdf.crs.name)
    props = [{str(k): _json_value(v) for k, v in row.items()}
             for row in pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).to_dict("records")]
    return _Features(fmt, source, list(np.asarray(out.geometry.array, dtype=object)), props, warnings)


def _read_shapefile(shp: Path, source_crs: str | None, jurisdiction: Jurisdiction) -> _Features:
    warnings: list[Notice] = []
    has_cpg = any(p.suffix.lower() == ".cpg" for p in shp.parent.glob(shp.stem + ".*"))
    try:
        encoding = detect_dbf_encoding(shp)
    except OSError as exc:
        raise _unreadable("Shapefile", "Shapefile", exc) from exc
    if not has_cpg and encoding in ("GBK", "GB18030"):
        warnings.append(Notice("encoding-guessed", "DBF 没有 .cpg，按 GBK 编码读取属性",
                               "the DBF has no .cpg: attributes read as GBK"))
    kwargs = {"encoding": encoding} if encoding else {}
    try:
        info = pyogrio.read_info(shp, **kwargs)
        _check_count(int(info.get("features") or 0))
        gdf = pyogrio.read_dataframe(shp, **kwargs)
    except ProblemError:
        raise
    except Exception as exc:
        raise _unreadable("Shapefile", "Shapefile", exc) from exc
    return _from_frame(gdf, "shapefile", shp.name, source_crs, jurisdiction, warnings)


def _read_gpkg(data: bytes, layer: str | None, source_crs: str | None, jurisdiction: Jurisdiction) -> _Features:
    with tempfile.TemporaryDirectory(prefix="landgis-upload-") as tmp:
        path = Path(tmp) / "upload.gpkg"
        path.write_bytes(data)
        try:
            layers = [(str(n), str(t)) for n, t in pyogrio.list_layers(path)]
        except Exception as exc:
            raise _unreadable("GeoPackage", "GeoPackage", exc) from exc
        names = [n for n, _ in layers]
        if layer is not None:
            if layer not in names:
                raise _problem(422, "no-such-layer", f"GeoPackage 中没有图层 {layer}（有：{names}）",
                               f"no layer {layer} in the GeoPackage (it has {names})", pointer="/query/layer")
            chosen = layer
        else:
            polygonal = [n for n, t in layers if "polygon" in t.lower()]
            if len(layers) == 1:
                chosen = layers[0][0]
            elif len(polygonal) == 1:
                chosen = polygonal[0]
            elif not layers:
                raise _problem(422, "empty-file", "GeoPackage 中没有图层", "the GeoPackage holds no layer")
            else:
                raise _problem(422, "several-layers", f"GeoPackage 有多个图层 {names}：请用查询参数 layer 指明",
                               f"the GeoPackage has several layers {names}: name one with the query parameter layer",
                               pointer="/query/layer", layers=names)
        try:
            info = pyogrio.read_info(path, layer=chosen)
            _check_count(int(info.get("features") or 0))
            gdf = pyogrio.read_dataframe(path, layer=chosen)
        except ProblemError:
            raise
        except Exception as exc:
            raise _unreadable("GeoPackage", "GeoPackage", exc) from exc
        return _from_frame(gdf, "gpkg", f"{chosen}.gpkg", source_crs, jurisdiction, [])


def _read_geojson(data: bytes, source_crs: str | None, jurisdiction: Jurisdiction) -> _Features:
    try:
        doc = orjson.loads(data.removeprefix(b"\xef\xbb\xbf"))
    except orjson.JSONDecodeError as exc:
        raise _problem(422, "invalid-json", f"JSON 格式错误：{exc}", f"invalid JSON: {exc}") from exc
    warnings: list[Notice] = []
    kind = doc.get("type") if isinstance(doc, dict) else None
    if kind == "Feature":
        doc = {"type": "FeatureCollection", "features": [doc], "crs": doc.get("crs")}
    elif kind in ("Polygon", "MultiPolygon", "Point", "MultiPoint", "LineString", "MultiLineString",
                  "GeometryCollection"):
        doc = {"type": "FeatureCollection", "crs": doc.get("crs"),
               "features": [{"type": "Feature", "geometry": doc, "properties": {}}]}
    elif isinstance(doc, list):
        doc = {"type": "FeatureCollection", "features": doc}
    elif kind != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise _problem(422, "not-geojson", "JSON 不是 GeoJSON（应为 FeatureCollection、Feature 或几何）",
                       "the JSON is not GeoJSON (expected a FeatureCollection, a Feature or a geometry)")
    features = doc["features"]
    if not features:
        raise _problem(422, "empty-file", "GeoJSON 中没有要素", "the GeoJSON holds no features")
    _check_count(len(features))
    kept = [f for f in features if not (isinstance(f, dict) and f.get("geometry") is None)]
    if len(kept) < len(features):
        if not kept:
            raise _problem(422, "empty-file", "GeoJSON 中的要素都没有几何", "no feature of the GeoJSON has a geometry")
        warnings.append(Notice("empty-geometry-skipped", f"跳过 {len(features) - len(kept)} 个没有几何的要素",
                               f"skipped {len(features) - len(kept)} features without geometry"))
    types = [f["geometry"].get("type") for f in kept
             if isinstance(f, dict) and isinstance(f.get("geometry"), dict)]
    if types and all(t not in ("Polygon", "MultiPolygon") for t in types):
        raise _not_polygons([str(t) for t in types])
    if source_crs:
        ref = parse_crs(source_crs)
        member = doc.get("crs")
        if member is not None and request_crs({"crs": member}).key != ref.key:
            warnings.append(Notice("crs-overridden", f"文件的 crs 成员被 source_crs={source_crs} 覆盖",
                                   f"the file's crs member was overridden by source_crs={source_crs}"))
    else:
        ref = request_crs(doc)
    collection = {"type": "FeatureCollection", "features": kept}
    batch = GeometryBatch(ref, jurisdiction)
    items = feature_list(collection, "", batch)
    try:
        geoms = batch.build()
    except GisInputError as exc:
        if exc.code != "axis-order-swapped" or not ref.northing_first or ref.is_geographic:
            raise
        # GDAL and QGIS write GeoJSON easting first whatever the CRS; our own downloads (and the
        # checks) use the authority order. Only one of the two lands in the county.
        batch = GeometryBatch(CrsRef(ref.key, ref.uri, ref.epsg, False), jurisdiction)
        items = feature_list(collection, "", batch)
        geoms = batch.build()
        warnings.append(Notice("easting-first",
                               f"坐标按东坐标在前读取（GIS 软件导出 GeoJSON 的顺序），而非 {ref.key} 的北坐标在前",
                               f"positions read easting first (as GIS software writes GeoJSON), not {ref.key}'s "
                               "northing first"))
    _check_vertices(geoms)
    props = [{str(k): _json_value(v) for k, v in it.properties.items()} for it in items]
    return _Features("geojson", ref.uri, [geoms[it.geometry] for it in items], props, warnings)


def _read_text(data: bytes, source_crs: str | None, jurisdiction: Jurisdiction) -> _Features:
    lines = data.count(b"\n")
    if lines > 2 * MAX_VERTICES:
        raise _problem(413, "too-many-vertices", f"坐标文件有 {lines} 行，远超 {MAX_VERTICES} 个坐标点的上限",
                       f"the coordinate list has {lines} lines, far beyond the limit of {MAX_VERTICES} vertices",
                       limit=MAX_VERTICES)
    parsed = parse_coordinate_list(data, crs=source_crs, jurisdiction=jurisdiction)
    _check_count(len(parsed.lots))
    geoms = [lot.geometry for lot in parsed.lots]
    _check_vertices(geoms)
    props = [{"label": lot.label, **{k: _json_value(v) for k, v in lot.attributes.items()}} for lot in parsed.lots]
    return _Features(parsed.format, parsed.source_crs.uri, geoms, props, list(parsed.warnings))


def _safe_name(name: str) -> str:
    return PurePosixPath(name.replace("\\", "/")).name


def _read_zip(data: bytes, layer: str | None, source_crs: str | None, jurisdiction: Jurisdiction) -> _Features:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = [i for i in zf.infolist() if not i.is_dir() and "__MACOSX" not in i.filename
                 and not _safe_name(i.filename).startswith(".")]
    except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError) as exc:
        raise _unreadable("zip 文件", "zip archive", exc) from exc
    with zf:
        if not infos:
            raise _problem(422, "empty-file", "zip 文件为空", "the zip archive is empty")
        if len(infos) > MAX_ZIP_MEMBERS:
            raise _problem(413, "zip-too-large", f"zip 中文件过多（{len(infos)} 个，上限 {MAX_ZIP_MEMBERS}）",
                           f"too many files in the zip ({len(infos)}; at most {MAX_ZIP_MEMBERS})")
        total = sum(i.file_size for i in infos)
        if total > MAX_UNCOMPRESSED:
            raise _problem(413, "zip-too-large",
                           f"zip 解压后共 {total} 字节，超过上限 {MAX_UNCOMPRESSED} 字节",
                           f"the zip expands to {total} bytes, more than the {MAX_UNCOMPRESSED} accepted")
        shps = [i for i in infos if i.filename.lower().endswith(".shp")]
        try:
            if shps:
                return _zip_shapefile(zf, infos, shps, layer, source_crs, jurisdiction)
            others = [i for i in infos if i.filename.lower().endswith(SPATIAL_IN_ZIP)]
            if len(others) != 1:
                names = [_safe_name(i.filename) for i in infos][:20]
                raise _problem(422, "no-layer-in-zip",
                               f"zip 中应有一个 Shapefile（.shp/.shx/.dbf/.prj）、GeoPackage、GeoJSON 或坐标文件，"
                               f"实有：{names}",
                               "the zip must hold one Shapefile set (.shp/.shx/.dbf/.prj), GeoPackage, GeoJSON or "
                               f"coordinate list; it holds {names}")
            inner = zf.read(others[0])
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError, NotImplementedError) as exc:
            raise _unreadable("zip 文件", "zip archive", exc) from exc
    if detect_format(inner) == "zip":
        raise _problem(422, "nested-zip", "zip 中嵌套 zip，请直接上传内层文件",
                       "a zip inside the zip: upload the inner file itself")
    return _dispatch(inner, layer, source_crs, jurisdiction)


def _zip_shapefile(zf: zipfile.ZipFile, infos, shps, layer, source_crs, jurisdiction) -> _Features:
    stems = sorted({PurePosixPath(_safe_name(i.filename)).stem for i in shps})
    if layer is not None:
        if layer not in stems:
            raise _problem(422, "no-such-layer", f"zip 中没有 Shapefile {layer}（有：{stems}）",
                           f"no Shapefile {layer} in the zip (it has {stems})", pointer="/query/layer")
        stem = layer
    elif len(stems) == 1:
        stem = stems[0]
    else:
        raise _problem(422, "several-layers", f"zip 中有多个 Shapefile {stems}：请用查询参数 layer 指明",
                       f"the zip holds several Shapefiles {stems}: name one with the query parameter layer",
                       pointer="/query/layer", layers=stems)
    members = [i for i in infos if PurePosixPath(_safe_name(i.filename)).stem == stem]
    suffixes = {PurePosixPath(i.filename).suffix.lower() for i in members}
    missing = [s for s in (".shx", ".dbf") if s not in suffixes]
    if missing:
        raise _problem(422, "incomplete-shapefile", f"Shapefile {stem} 缺少 {'、'.join(missing)} 文件",
                       f"the Shapefile {stem} lacks its {', '.join(missing)} file")
    with tempfile.TemporaryDirectory(prefix="landgis-upload-") as tmp:
        for info in members:
            suffix = PurePosixPath(info.filename).suffix.lower()
            (Path(tmp) / f"upload{suffix}").write_bytes(zf.read(info))
        features = _read_shapefile(Path(tmp) / "upload.shp", source_crs, jurisdiction)
    return features


def _dispatch(data: bytes, layer: str | None, source_crs: str | None, jurisdiction: Jurisdiction) -> _Features:
    kind = detect_format(data)
    if kind == "zip":
        return _read_zip(data, layer, source_crs, jurisdiction)
    if kind == "gpkg":
        return _read_gpkg(data, layer, source_crs, jurisdiction)
    if kind == "geojson":
        return _read_geojson(data, source_crs, jurisdiction)
    if kind == "shp":
        raise _problem(422, "incomplete-shapefile",
                       "单独的 .shp 无法读取：请把 .shp、.shx、.dbf、.prj（及 .cpg）打包成 zip 上传",
                       "a bare .shp cannot be read: zip the .shp, .shx, .dbf, .prj (and .cpg) together and upload "
                       "the zip")
    if kind == "office":
        raise _problem(415, "unsupported-format", "不支持 Excel 文件：请另存为 CSV 后上传",
                       "Excel files are not supported: save the sheet as CSV and upload that")
    return _read_text(data, source_crs, jurisdiction)


# ------------------------------------------------------------------------------------------- output


def _letters(i: int) -> str:
    out, i = "", i + 1
    while i:
        i, r = divmod(i - 1, 26)
        out = string.ascii_uppercase[r] + out
    return out


def _label(props: dict[str, Any], i: int) -> str:
    lower = {k.lower(): v for k, v in props.items()}
    for key in LABEL_KEYS:
        v = lower.get(key)
        if v is not None and str(v).strip():
            return str(v).strip()
    return _letters(i)


def _invalid_warnings(labels: list[str], geoms: list[BaseGeometry]) -> list[Notice]:
    arr = np.asarray(geoms, dtype=object)
    bad = np.flatnonzero(~shapely.is_valid(arr))
    return [Notice("invalid-geometry",
                   f"地块 {labels[i]} 的几何无效（{shapely.is_valid_reason(arr[i])}），未作修复，审查时将报告",
                   f"the geometry of lot {labels[i]} is invalid ({shapely.is_valid_reason(arr[i])}); it is "
                   "passed on unrepaired and the check will report it") for i in bad]


def convert_upload(data: bytes, filename: str | None = None, *, crs: str | None = None,
                   source_crs: str | None = None, layer: str | None = None,
                   jurisdiction: str | Jurisdiction | None = None) -> dict[str, Any]:
    """Read an uploaded file and answer a FeatureCollection in ``crs`` (authority axis order).

    Raises :class:`ProblemError` / :class:`GisInputError` (4xx) for anything it cannot use; any
    other failure on the bytes is a 422 ``unreadable-file``, never a server error.
    """
    juris = jurisdiction if isinstance(jurisdiction, Jurisdiction) else load_jurisdiction(jurisdiction or "tiantai")
    out_ref: CrsRef = request_crs(None, crs)
    if source_crs:
        parse_crs(source_crs)
    if not data:
        raise _problem(422, "empty-file", "上传的文件为空", "the uploaded file is empty")
    try:
        read = _dispatch(data, layer, source_crs, juris)
    except (ProblemError, GisInputError):
        raise
    except Exception as exc:
        log.warning("unreadable upload %r: %s", filename, exc, exc_info=True)
        raise _unreadable("上传的文件", "uploaded file", exc) from exc
    labels, seen = [], set()
    for i, props in enumerate(read.properties):
        label = _label(props, i)
        if label in seen:
            new = f"{label}-{i + 1}"
            read.warnings.append(Notice("duplicate-label", f"地块标签 {label} 重复，第 {i + 1} 个改为 {new}",
                                        f"duplicate lot label {label}: number {i + 1} renamed {new}"))
            label = new
        seen.add(label)
        labels.append(label)
    read.warnings.extend(_invalid_warnings(labels, read.geometries))
    geoms = np.asarray(read.geometries, dtype=object)
    geoms = to_authority_xy(transform_geom(geoms, juris.storage_epsg, out_ref), out_ref)
    features = [{"type": "Feature", "geometry": mapping(g), "properties": {**props, "label": label}}
                for g, props, label in zip(geoms, read.properties, labels, strict=True)]
    return {
        "type": "FeatureCollection",
        "format": read.format,
        "source_crs": read.source_crs,
        "crs": out_ref.uri,
        "count": len(features),
        "warnings": [w.as_dict() for w in read.warnings],
        "features": features,
    }
