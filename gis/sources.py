"""Reading survey contractors' files into canonical, validated tables (no database here).

:func:`read_source` takes a GeoPackage, GeoJSON, Shapefile (file, folder or zip) and returns a
:class:`SourceData`: parcels, buildings and support land in the storage CRS with canonical column
names, holder figures and disposal records, plus every problem found, by layer and row number.
Rows with an ``error`` are dropped from the tables; ``warning`` rows are kept.

Encoding of Shapefile DBFs: a ``.cpg`` is honoured; without one the DBF language-driver byte and a
UTF-8 trial decode of the records decide between UTF-8 and GBK (GB18030, its superset).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import json
import re
import tempfile
import tomllib
import zipfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from gis.attributes import (
    BUILDING_ATTRS,
    HOLDER_YEAR_ATTRS,
    PARCEL_ATTRS,
    QLXZ_CODES,
    SUPPORT_ATTRS,
    Attr,
    auto_mapping,
)
from gis.crs import looks_zone_prefixed, parse_crs
from gis.errors import GisInputError
from gis.ids import CREDIT_CHARSET, CREDIT_CODE_FORMAT, PARCEL_CODE_GBT37346, is_valid_credit_code
from gis.jurisdiction import Jurisdiction

__all__ = ["Issue", "LayerSink", "SourceData", "credit_code_ok", "detect_dbf_encoding", "per_object", "read_source",
           "release_memory"]

Severity = Literal["error", "warning"]
GBT37346 = PARCEL_CODE_GBT37346
CODE_OK = re.compile(r"^[0-9A-Za-z_-]{1,28}$")
FLAG_NAMES = {
    "energy": "energy",
    "environment": "environment",
    "quality": "quality",
    "safety": "safety",
    "能耗": "energy",
    "环保": "environment",
    "质量": "quality",
    "安全": "safety",
}
TRUE = {"是", "y", "yes", "true", "t", "1", "1.0", "√"}
FALSE = {"否", "n", "no", "false", "f", "0", "0.0", ""}
SPATIAL_SUFFIXES = (".gpkg", ".geojson", ".json", ".shp", ".fgb")
# A stored polygon coordinate of the storage CRS (CM 120°E) in metres; anything else is degrees or
# another projection.
POLYGONAL = {"Polygon", "MultiPolygon"}


@dataclass
class Issue:
    """One problem in the source, with the row number as the file counts it (1-based)."""

    layer: str
    row: int | None
    code: str
    severity: Severity
    message_zh: str
    message_en: str
    parcel_code: str | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


@dataclass
class SourceData:
    path: Path
    source_crs: str | None
    encoding: str | None
    parcels: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    support_land: gpd.GeoDataFrame
    holder_years: pd.DataFrame
    disposals: pd.DataFrame
    issues: list[Issue] = field(default_factory=list)
    rows_read: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]


# Reading through Arrow is ~3× faster than row-by-row for large files (measured: 200k parcels 3.7 s → 1.2 s).
_ARROW = importlib.util.find_spec("pyarrow") is not None
_PANDAS_GE_3 = int(pd.__version__.split(".")[0]) >= 3



def _libc_trim():
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), "malloc_trim", None)
    except OSError:
        return None


_MALLOC_TRIM = _libc_trim()


def release_memory() -> None:
    """Give freed heap back to the operating system between the stages of a large import.

    glibc keeps the memory of freed Python objects, GEOS geometries and pandas blocks for reuse,
    so without this the process keeps the peak of every stage: measured on the 200,000-parcel
    file, RSS after reading was 1,150 MB of which ~200 MB were free heap. A no-op where there is
    no ``malloc_trim`` (macOS, musl).
    """
    if _ARROW:
        import pyarrow

        pyarrow.default_memory_pool().release_unused()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


# ---------------------------------------------------------------- layers and files


class LayerSink(Protocol):
    """Takes each layer's validated rows while the rest of the source is still being read.

    The importer's load into an empty register sends them to the database meanwhile. ``rows`` gets
    final rows (compacted: geometry as WKB) in file order, the parcels in one piece and large
    feature layers block by block; ``done`` follows a layer's last rows. Layers come in the order
    holder_years, parcels, buildings, support_land: the holder years need nothing else, so the
    database can store them while the parcels are still being validated.
    """

    def rows(self, layer: str, frame: pd.DataFrame) -> None: ...

    def done(self, layer: str) -> None: ...


@dataclass
class _Layers:
    parcels: tuple[Path, str | None]
    buildings: tuple[Path, str | None] | None = None
    support_land: tuple[Path, str | None] | None = None
    holder_years: tuple[Path, str | None] | None = None
    disposals: tuple[Path, str | None] | None = None


def _find_sibling(folder: Path, stem: str, suffixes: Iterable[str]) -> Path | None:
    for suffix in suffixes:
        p = folder / f"{stem}{suffix}"
        if p.exists():
            return p
    return None


def _discover(path: Path, layer: str | None) -> _Layers:
    if path.is_dir():
        main = _find_sibling(path, "parcels", (".gpkg", ".shp", ".geojson", ".json", ".fgb"))
        if main is None:
            spatial = sorted(p for p in path.iterdir() if p.suffix.lower() in SPATIAL_SUFFIXES)
            if len(spatial) != 1:
                raise GisInputError(
                    "no-parcel-layer",
                    f"目录 {path} 中找不到宗地图层（parcels.*）",
                    f"no parcel layer (parcels.*) found in folder {path}",
                    status=422,
                )
            main = spatial[0]
        return _discover(main, layer)
    suffix = path.suffix.lower()
    if suffix == ".gpkg":
        try:
            names = [str(n) for n, _ in pyogrio.list_layers(path)]
        except Exception as exc:
            raise _unreadable(path, exc) from exc
        if layer and layer not in names:
            raise GisInputError(
                "no-such-layer",
                f"GeoPackage 中没有图层 {layer}（有：{names}）",
                f"layer {layer} not in the GeoPackage (has: {names})",
                status=422,
            )
        parcel_layer = layer or ("parcels" if "parcels" in names else (names[0] if len(names) == 1 else None))
        if parcel_layer is None:
            raise GisInputError(
                "no-parcel-layer",
                f"请用 --layer 指定宗地图层（有：{names}）",
                f"name the parcel layer with --layer (layers: {names})",
                status=422,
            )

        def opt(name: str):
            return (path, name) if name in names else None

        return _Layers(
            (path, parcel_layer), opt("buildings"), opt("support_land"), opt("holder_years"), opt("disposals")
        )
    if suffix in (".shp", ".geojson", ".json", ".fgb"):
        layers = _Layers((path, None))
        if path.stem.lower() == "parcels":
            folder = path.parent
            for name in ("buildings", "support_land"):
                sib = _find_sibling(folder, name, (suffix, ".shp", ".geojson"))
                if sib:
                    setattr(layers, name, (sib, None))
            for name in ("holder_years", "disposals"):
                sib = _find_sibling(folder, name, (".csv", ".dbf"))
                if sib:
                    setattr(layers, name, (sib, None))
        return layers
    raise GisInputError(
        "unsupported-format",
        f"不支持的文件格式：{path.name}（支持 GeoPackage、GeoJSON、Shapefile、zip）",
        f"unsupported file format: {path.name} (GeoPackage, GeoJSON, Shapefile or zip)",
        status=415,
    )


def _unreadable(path: Path, exc: Exception) -> GisInputError:
    return GisInputError(
        "unreadable-file",
        f"无法读取文件 {path.name}：文件损坏或格式不符（{exc}）",
        f"cannot read {path.name}: the file is corrupt or not of its format ({exc})",
        status=422,
    )


def detect_dbf_encoding(shp: Path) -> str | None:
    """The DBF encoding of a Shapefile: ``.cpg`` if present, else LDID byte, else a UTF-8 trial."""
    cpg = shp.with_suffix(".cpg")
    if not cpg.exists():
        cpg = next((p for p in shp.parent.glob(shp.stem + ".*") if p.suffix.lower() == ".cpg"), cpg)
    if cpg.exists():
        value = cpg.read_text(encoding="ascii", errors="ignore").strip().upper()
        if value in ("936", "CP936", "GBK", "GB2312", "GB18030"):
            return "GBK" if value != "GB18030" else "GB18030"
        if value.replace("-", "") in ("UTF8", "65001"):
            return "UTF-8"
        return value or None
    dbf = shp.with_suffix(".dbf")
    if not dbf.exists():
        return None
    raw = dbf.read_bytes()
    if len(raw) < 32:
        return None
    ldid = raw[29]
    if ldid in (0x4D, 0x7A):
        return "GBK"
    header_len = int.from_bytes(raw[8:10], "little")
    records = raw[header_len:]
    if all(b < 0x80 for b in records):
        return "UTF-8"
    try:
        records.decode("utf-8")
        return "UTF-8"
    except UnicodeDecodeError:
        return "GB18030"


def _read_table(src: tuple[Path, str | None], encoding: str | None = None) -> pd.DataFrame:
    path, layer = src
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    kwargs = {"encoding": encoding} if encoding and path.suffix.lower() in (".dbf", ".shp") else {}
    df = pyogrio.read_dataframe(path, layer=layer, read_geometry=False, use_arrow=_ARROW, **kwargs)
    return pd.DataFrame(df)


def _read_spatial(src: tuple[Path, str | None], encoding: str | None, **kwargs) -> gpd.GeoDataFrame:
    path, layer = src
    if encoding and path.suffix.lower() == ".shp":
        kwargs["encoding"] = encoding
    fast = _read_arrow_frame(path, layer, **kwargs)
    if fast is not None:
        return fast
    try:
        return pyogrio.read_dataframe(path, layer=layer, use_arrow=_ARROW, **kwargs)
    except Exception as exc:
        raise _unreadable(path, exc) from exc


def _read_arrow_frame(path: Path, layer: str | None, **kwargs) -> gpd.GeoDataFrame | None:
    """What ``pyogrio.read_dataframe(use_arrow=True)`` returns, without its copy of the whole frame.

    pyogrio builds ``GeoDataFrame(df, ...)``, which deep-copies a plain DataFrame: 0.1 s and a
    second copy in memory per 100,000 rows. Only for the layers where pyogrio does nothing more
    than ``to_pandas`` and WKB decoding (no datetime or JSON fields); None for the others, and on
    any failure, so that pyogrio reads (and reports) them as before.
    """
    if not _ARROW or _PANDAS_GE_3:
        return None
    try:
        meta, table = pyogrio.read_arrow(path, layer=layer, datetime_as_string=True, **kwargs)
        geometry = meta["geometry_name"] or "wkb_geometry"
        plain = (
            geometry in table.column_names
            and len(table.column_names) > 1
            and all(d is None or not d.startswith("datetime") or d == "datetime64[D]" for d in meta["dtypes"])
            and "OFSTJSON" not in list(meta["ogr_subtypes"])
        )
        if not plain:
            return None
        wkb = table.column(geometry).to_numpy(zero_copy_only=False)
        table = table.drop_columns([geometry])
        df = table.to_pandas(self_destruct=True)
        del table
        geoms = shapely.from_wkb(wkb)
        del wkb
        return gpd.GeoDataFrame(df, geometry=geoms, crs=meta["crs"], copy=False)
    except Exception:
        return None


FEATURE_BLOCK = 100_000  # features per block when a large layer is read for the importer


def _blocks(src: tuple[Path, str | None], encoding: str | None, total: int) -> Iterator[tuple[int, gpd.GeoDataFrame]]:
    """Each block of a large layer with its first row's position, the next block read meanwhile.

    GDAL's read and the WKB decoding release the GIL, so the next block is read on the other core
    while this one is checked: 0.8 s less for the 400,000 buildings of the generated county when
    the other core is free (a re-import), for one more raw block held (~65 MB). No reference to a
    handed-over block is kept here, so the caller's ``del`` frees it.
    """

    def read(start: int) -> list[gpd.GeoDataFrame]:
        return [_read_spatial(src, encoding, skip_features=start, max_features=FEATURE_BLOCK)]

    with ThreadPoolExecutor(1, thread_name_prefix="read-block") as pool:
        pending = pool.submit(read, 0)
        for start in range(0, total, FEATURE_BLOCK):
            box = pending.result()
            pending = pool.submit(read, start + FEATURE_BLOCK) if start + FEATURE_BLOCK < total else None
            yield start, box.pop()


def _feature_count(src: tuple[Path, str | None]) -> int:
    """The number of features of a layer, or -1 where the driver cannot tell cheaply."""
    try:
        return int(pyogrio.read_info(src[0], layer=src[1])["features"])
    except Exception:  # unreadable: the ordinary reader reports it properly
        return -1


# ---------------------------------------------------------------- values


def _norm_str(s: pd.Series) -> pd.Series:
    """Stripped text, None for missing or blank; whole-number floats (DBF numerics) lose their ``.0``."""
    if not pd.api.types.is_object_dtype(s) and not pd.api.types.is_string_dtype(s):
        return s.astype("object").map(_str_value)
    fast = _strip_arrow(s)
    if fast is not None:
        return fast
    out = np.full(len(s), None, dtype=object)
    present = s.notna().to_numpy()
    if present.any():
        values = s[present]
        if pd.api.types.infer_dtype(values, skipna=True) == "string":
            text = values.str.strip()
        else:
            text = values.map(_str_value)
        out[present] = text.where(text.astype(bool), None).to_numpy()
    return pd.Series(out, index=s.index, dtype="object")


# every character str.strip() removes: Arrow only finds the values starting or ending with one
_WHITESPACE_CHARS = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())


def _strip_arrow(s: pd.Series) -> pd.Series | None:
    """``_norm_str`` of a column of strings, where Python only touches values that need stripping.

    Calling ``str.strip`` on 200,000 values per column was a third of the mapping time; Arrow
    checks the first and last character of every value in C++. Exactly ``str.strip`` semantics.
    None if the column is not all strings (the caller's general path handles it).
    """
    if not _ARROW or not pd.api.types.is_object_dtype(s) or len(s) == 0:
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    values = s.to_numpy(dtype=object, copy=True)
    if pd.api.types.infer_dtype(values, skipna=True) != "string":
        return None
    arr = pa.array(values, type=pa.string(), from_pandas=True)
    length = pc.utf8_length(arr)
    edge = pc.not_equal(pc.utf8_length(pc.utf8_trim(arr, characters=_WHITESPACE_CHARS)), length)
    out = values
    out[pc.is_null(arr).to_numpy(zero_copy_only=False)] = None  # NaN among the strings
    for i in np.flatnonzero(pc.fill_null(edge, False).to_numpy(zero_copy_only=False)):
        out[i] = out[i].strip() or None
    out[pc.fill_null(pc.equal(length, 0), False).to_numpy(zero_copy_only=False)] = None
    return pd.Series(out, index=s.index, dtype="object")


def _str_value(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, float):
        if np.isnan(v):
            return None
        if v.is_integer():
            return str(int(v))
    text = str(v).strip()
    return text or None


_DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日")


def _norm_date(s: pd.Series, *, objects: bool = True) -> tuple[pd.Series, pd.Series]:
    """Dates and a mask of values that could not be parsed.

    As ``datetime.date`` objects (or None), or with ``objects=False`` as a ``datetime64[ns]`` column
    (NaT when missing): what the importer uses for 200,000-row layers, where ten date columns of
    Python objects cost ~70 MB and a second of object creation.
    """
    if pd.api.types.is_object_dtype(s) and pd.api.types.infer_dtype(s, skipna=True) in ("date", "datetime"):
        s = pd.to_datetime(s, errors="coerce")  # Arrow reads DATE fields as datetime.date objects
    if pd.api.types.is_datetime64_any_dtype(s):
        if objects:
            out = s.dt.date.astype("object").where(s.notna(), None)
        else:
            if getattr(s.dt, "tz", None) is not None:
                s = s.dt.tz_localize(None)
            out = s.dt.normalize().astype("datetime64[ns]")
        return out, pd.Series(False, index=s.index)
    text = _norm_str(s)
    result = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    pending = text.notna()
    for fmt in _DATE_FORMATS:
        if not pending.any():
            break
        parsed = pd.to_datetime(text[pending].str.slice(0, 20), format=fmt, errors="coerce")
        ok = parsed.notna()
        idx = parsed.index[ok]
        result.loc[idx] = parsed[ok].dt.normalize().to_numpy()
        pending.loc[idx] = False
    bad = pending & text.notna()
    if objects:
        result = result.dt.date.astype("object").where(result.notna(), None)
    return result, bad


def _norm_float(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_numeric_dtype(s):
        return s.astype("float64"), pd.Series(False, index=s.index)
    text = _norm_str(s)
    num = pd.to_numeric(text.str.replace(",", "", regex=False), errors="coerce")
    return num.astype("float64"), num.isna() & text.notna()


def _norm_bool(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_bool_dtype(s):
        return s.astype("object"), pd.Series(False, index=s.index)
    text = _norm_str(s)
    present = text.notna()
    lower = text[present].str.lower()
    out = pd.Series(None, index=s.index, dtype="object")
    out[present & text.index.isin(lower.index[lower.isin(TRUE)])] = True
    out[present & text.index.isin(lower.index[lower.isin(FALSE)])] = False
    out = out.astype("object").where(out.notna(), None)
    return out, present & out.isna()


def _split_list(v) -> list[str]:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return []
    if isinstance(v, list | tuple | np.ndarray):
        return [str(x).strip() for x in v if str(x).strip()]
    return [p.strip() for p in re.split(r"[,，;；、|\s]+", str(v)) if p.strip()]


def per_object(values: np.ndarray, f: Callable) -> np.ndarray:
    """``f`` of each value, called once per distinct object: list columns share a few objects
    (``_split_distinct``'s per-text lists, the importer's defaults), so 340,000 rows take a handful
    of calls."""
    ids = np.fromiter(map(id, values), dtype=np.uintp, count=len(values))
    _, firsts, inverse = np.unique(ids, return_index=True, return_inverse=True)
    out = np.empty(len(firsts), dtype=object)
    for k, i in enumerate(firsts):
        out[k] = f(values[i])
    return out[inverse]


def _split_distinct(values: np.ndarray) -> np.ndarray:
    """``_split_list`` of each value, computed once per distinct value (a column repeats a few)."""
    try:
        codes, uniques = pd.factorize(values)
    except TypeError:  # unhashable values (lists from GeoJSON arrays)
        return np.array([_split_list(v) for v in values] + [None], dtype=object)[:-1]
    split = np.empty(len(uniques), dtype=object)
    split[:] = [_split_list(v) for v in uniques]
    out = np.empty(len(values), dtype=object)
    out[:] = [split[c] for c in codes]  # rows with the same text share one list (never mutated)
    return out


def _norm_json(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    def parse(v):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return None, False
        if isinstance(v, dict):
            return v, False
        text = str(v).strip()
        if not text:
            return None, False
        try:
            return json.loads(text), False
        except ValueError:
            return None, True

    values = s.to_numpy(dtype=object)
    parsed = np.full(len(values), None, dtype=object)
    bad = np.zeros(len(values), dtype=bool)
    for i in np.flatnonzero(_not_none(values)):  # a JSON column is mostly empty: skip those rows
        parsed[i], bad[i] = parse(values[i])
    # ``infer_objects``: the dtype ``Series.map`` infers (numbers alone become a numeric column)
    return pd.Series(parsed, index=s.index, dtype=object).infer_objects(), pd.Series(bad, index=s.index)


def _not_none(values: np.ndarray) -> np.ndarray:
    """Positions that are neither None nor a float NaN, the two values ``_norm_json`` treats as absent."""
    absent = np.equal(values, None)
    for i in np.flatnonzero(pd.isna(values) & ~absent):  # NaN, NaT, pd.NA: rare
        absent[i] = isinstance(values[i], float)
    return ~absent


def _normalise(
    df: pd.DataFrame, attrs: tuple[Attr, ...], layer: str, rows: pd.Series, issues: list[Issue]
) -> pd.DataFrame:
    """Coerce every canonical column to its kind; unparseable values become None with a warning."""
    out = pd.DataFrame(index=df.index)
    for attr in attrs:
        if attr.name not in df.columns:
            out[attr.name] = None
            continue
        s = df[attr.name]
        bad = None
        if attr.kind == "str":
            out[attr.name] = _norm_str(s)
        elif attr.kind == "date":
            out[attr.name], bad = _norm_date(s, objects=False)
        elif attr.kind in ("float", "int"):
            out[attr.name], bad = _norm_float(s)
        elif attr.kind == "bool":
            out[attr.name], bad = _norm_bool(s)
        elif attr.kind == "list":
            values = s.astype("object")
            lists = np.empty(len(s), dtype=object)
            lists[:] = [()] * len(s)  # one shared, immutable "no items"
            present = values.notna().to_numpy()
            if present.any():
                lists[present] = _split_distinct(values[present].to_numpy())
            out[attr.name] = lists
        elif attr.kind == "json":
            out[attr.name], bad = _norm_json(s)
        if bad is not None and bad.any():
            for i in np.flatnonzero(bad.to_numpy()):
                value = df[attr.name].iloc[i]
                issues.append(
                    Issue(
                        layer,
                        int(rows.iloc[i]),
                        "bad-value",
                        "warning",
                        f"字段 {attr.name}（{attr.label_zh}）的值 {value!r} 无法识别，按空值处理",
                        f"value {value!r} of {attr.name} is not a valid {attr.kind}; stored as empty",
                    )
                )
    return out


def _load_mapping(mapping_file: Path | None) -> dict[str, str]:
    if mapping_file is None:
        return {}
    try:
        text = mapping_file.read_bytes()
        data = tomllib.loads(text.decode("utf-8")) if mapping_file.suffix.lower() == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:
        raise GisInputError(
            "bad-mapping", f"字段映射文件无法读取：{exc}", f"cannot read the mapping file: {exc}", status=422
        ) from exc
    data = data.get("fields", data)
    known = {a.name for a in PARCEL_ATTRS + BUILDING_ATTRS + SUPPORT_ATTRS + HOLDER_YEAR_ATTRS}
    unknown = sorted(set(data.values()) - known)
    if unknown:
        raise GisInputError(
            "bad-mapping",
            f"映射文件中的目标字段未知：{unknown}",
            f"unknown target fields in the mapping file: {unknown}",
            status=422,
        )
    return {str(k): str(v) for k, v in data.items()}


def _rename(df: pd.DataFrame, attrs: tuple[Attr, ...], user: dict[str, str]) -> tuple[pd.DataFrame, list[str]]:
    """Rename source columns to canonical names; return the frame and the unmapped columns.

    The result shares its columns with ``df`` (no copy of a 200,000-row frame): every caller
    drops ``df`` once the renamed frame is prepared.
    """
    cols = [c for c in df.columns if c != "geometry"]
    mapping = auto_mapping([c for c in cols if c not in user], attrs)
    mapping.update({k: v for k, v in user.items() if k in cols and v in {a.name for a in attrs}})
    taken: set[str] = set()
    final: dict[str, str] = {}
    for col, name in mapping.items():
        if name not in taken:
            final[col] = name
            taken.add(name)
    unmapped = [c for c in cols if c not in final]
    return df.rename(columns=final, copy=False), unmapped


# ---------------------------------------------------------------- geometry and CRS


def _resolve_crs(
    gdf: gpd.GeoDataFrame, declared: str | None, path: Path, jurisdiction: Jurisdiction, issues: list[Issue]
) -> gpd.GeoDataFrame:
    """Set or check the CRS, recognise zone-prefixed eastings, reproject to the storage CRS."""
    storage = jurisdiction.storage_epsg
    if declared:
        ref = parse_crs(declared)
        if gdf.crs is not None and not CRS.from_user_input(ref.key).equals(gdf.crs):
            issues.append(
                Issue(
                    "parcels",
                    None,
                    "crs-overridden",
                    "warning",
                    f"文件声明的坐标系被 --crs {declared} 覆盖",
                    f"the file's CRS was overridden by --crs {declared}",
                )
            )
        gdf = gdf.set_crs(ref.key, allow_override=True)
    elif gdf.crs is None:
        raise GisInputError(
            "no-crs",
            f"文件 {path.name} 没有坐标系（缺少 .prj 或 crs 声明），请用 --crs 指定，如 --crs EPSG:4549",
            f"{path.name} declares no CRS (no .prj or crs member); give one with --crs, e.g. --crs EPSG:4549",
            status=422,
        )
    if len(gdf) == 0:
        return gdf.to_crs(storage)
    minx = float(np.nanmin(shapely.bounds(np.asarray(gdf.geometry.array))[:, 0]))
    epsg = gdf.crs.to_epsg()
    if epsg == storage and jurisdiction.zone_prefixed_epsg and looks_zone_prefixed(minx):
        issues.append(
            Issue(
                "parcels",
                None,
                "zone-prefixed",
                "warning",
                f"横坐标带 40 带号前缀，按 EPSG:{jurisdiction.zone_prefixed_epsg} 处理",
                f"eastings carry the zone prefix 40: read as EPSG:{jurisdiction.zone_prefixed_epsg}",
            )
        )
        gdf = gdf.set_crs(jurisdiction.zone_prefixed_epsg, allow_override=True)
    elif epsg == jurisdiction.zone_prefixed_epsg and minx < 1_000_000:
        issues.append(
            Issue(
                "parcels",
                None,
                "zone-prefix-missing",
                "warning",
                f"声明 EPSG:{epsg} 但横坐标无带号前缀，按 EPSG:{storage} 处理",
                f"declared EPSG:{epsg} but eastings have no zone prefix: read as EPSG:{storage}",
            )
        )
        gdf = gdf.set_crs(storage, allow_override=True)
    # already in the storage CRS (the usual case): ``to_crs`` would only deep-copy the frame
    out = gdf if gdf.crs.is_exact_same(CRS.from_user_input(storage)) else gdf.to_crs(storage)
    _refuse_if_far_outside(gdf, out, jurisdiction, path)
    return out


FAR_SAMPLE = 4_000  # geometries that decide whether a file lies far outside the county


def _refuse_if_far_outside(
    src: gpd.GeoDataFrame, out: gpd.GeoDataFrame, jurisdiction: Jurisdiction, path: Path
) -> None:
    """Refuse a file whose geometry lands far from the county (wrong CRS or swapped axes).

    Decided on an evenly spaced sample of at most ``FAR_SAMPLE`` geometries: whether most of a
    file is far away does not need every centroid (200,000 of them took a quarter of a second).
    """
    geoms = np.asarray(out.geometry.array)
    ok = np.flatnonzero(~(shapely.is_missing(geoms) | shapely.is_empty(geoms)))
    if len(ok) == 0:
        return
    ok = _even_sample(ok, FAR_SAMPLE)
    outline = jurisdiction.outline_storage
    dist = shapely.distance(outline, shapely.centroid(geoms[ok]))
    far = ~(dist <= jurisdiction.far_outside_m)  # NaN/inf (latitude beyond 90°) counts as far
    if far.mean() <= 0.5:
        return
    swapped = shapely.transform(np.asarray(src.geometry.array)[ok], lambda c: c[:, ::-1])
    swapped = gpd.GeoSeries(swapped, crs=src.crs).to_crs(jurisdiction.storage_epsg).values
    swapped_dist = shapely.distance(outline, shapely.centroid(swapped))
    if (swapped_dist <= jurisdiction.far_outside_m).mean() > 0.5:
        raise GisInputError(
            "axis-order-swapped",
            f"{path.name} 的坐标落在{jurisdiction.name_zh}以外，交换 X/Y 后则位于县内："
            "坐标轴顺序似乎颠倒（纬度/经度或北/东）",
            f"the coordinates of {path.name} land far outside {jurisdiction.name_en} but inside with the axes "
            "swapped: the axis order looks swapped (lat/lon or northing/easting)",
            status=422,
        )
    km = float(np.median(dist)) / 1000
    raise GisInputError(
        "outside-jurisdiction",
        f"{path.name} 的坐标落在{jurisdiction.name_zh}以外约 {km:.0f} 公里：坐标系是否正确？（声明为 {src.crs.name}）",
        f"the coordinates of {path.name} land about {km:.0f} km outside {jurisdiction.name_en}: is the CRS right? "
        f"(declared {src.crs.name})",
        status=422,
    )


def _even_sample(positions: np.ndarray, size: int) -> np.ndarray:
    """At most ``size`` of ``positions``, evenly spaced and always the same (all of them if fewer)."""
    if len(positions) <= size:
        return positions
    return positions[np.linspace(0, len(positions) - 1, size).astype(np.int64)]


def _geom_problems(geoms: np.ndarray, *, polygon_only: bool) -> tuple[np.ndarray, list[tuple[int, str, str, str]]]:
    """Row positions with unusable geometry: (position, code, zh, en); returns the usable mask too."""
    problems: list[tuple[int, str, str, str]] = []
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    for i in np.flatnonzero(missing):
        problems.append((i, "empty-geometry", "几何为空", "empty or missing geometry"))
    present = ~missing
    types = np.array(shapely.get_type_id(geoms))
    poly = np.isin(types, (3, 6))
    for i in np.flatnonzero(present & ~poly):
        problems.append(
            (
                i,
                "not-polygon",
                f"几何类型不是面（{shapely.get_type_id(geoms[i])}）",
                f"geometry is not a polygon ({geoms[i].geom_type})",
            )
        )
    candidates = present & poly
    valid = np.zeros(len(geoms), dtype=bool)
    valid[candidates] = shapely.is_valid(geoms[candidates])
    for i in np.flatnonzero(candidates & ~valid):
        reason = shapely.is_valid_reason(geoms[i])
        problems.append(
            (i, "invalid-geometry", f"几何无效：{_reason_zh(reason)}（{reason}）", f"invalid geometry: {reason}")
        )
    ok = candidates & valid
    if polygon_only:
        multi = ok & (types == 6)
        counts = np.zeros(len(geoms), dtype=int)
        counts[multi] = shapely.get_num_geometries(geoms[multi])
        for i in np.flatnonzero(multi & (counts > 1)):
            problems.append((i, "multipart", "应为单个面，却有多个部分", "must be one polygon but has several parts"))
            ok[i] = False
    return ok, problems


def _reason_zh(reason: str) -> str:
    for en, zh in (
        ("Self-intersection", "自相交"),
        ("Ring Self-intersection", "环自相交"),
        ("Too few points", "点数过少"),
        ("Hole lies outside shell", "洞在外环之外"),
        ("Nested shells", "外环嵌套"),
        ("Interior is disconnected", "内部不连通"),
        ("Invalid Coordinate", "坐标无效"),
    ):
        if reason.startswith(en):
            return zh
    return "拓扑错误"


def _flat(geoms: np.ndarray) -> np.ndarray:
    """Drop Z (survey files sometimes carry it); a no-op copy is avoided for 2D data."""
    return shapely.force_2d(geoms) if shapely.has_z(geoms).any() else geoms


def _to_multipolygons(geoms: np.ndarray) -> np.ndarray:
    parts, index = shapely.get_parts(geoms, return_index=True)
    return shapely.multipolygons(parts, indices=index)


def _to_polygons(geoms: np.ndarray) -> np.ndarray:
    single = shapely.get_type_id(geoms) == 6
    out = geoms.copy()
    out[single] = shapely.get_geometry(geoms[single], 0)
    return out


def _overlapping_pairs(geoms: np.ndarray, min_area: float) -> list[tuple[int, int, float]]:
    """Pairs (i < j) whose interiors overlap by more than ``min_area`` m².

    Candidates come from the STRtree; pairs whose bounding boxes overlap by no more than
    ``min_area`` cannot overlap by more and are dropped before any exact intersection.
    """
    if len(geoms) < 2:
        return []
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms)
    keep = left < right
    left, right = left[keep], right[keep]
    b = shapely.bounds(geoms)
    w = np.minimum(b[left, 2], b[right, 2]) - np.maximum(b[left, 0], b[right, 0])
    h = np.minimum(b[left, 3], b[right, 3]) - np.maximum(b[left, 1], b[right, 1])
    cand = (w > 0) & (h > 0) & (w * h > min_area)
    left, right = left[cand], right[cand]
    if len(left) == 0:
        return []
    areas = shapely.area(shapely.intersection(geoms[left], geoms[right]))
    hit = areas > min_area
    return [(int(i), int(j), float(a)) for i, j, a in zip(left[hit], right[hit], areas[hit], strict=True)]


# ---------------------------------------------------------------- validation


def credit_code_ok(code: str) -> bool:
    """GB 32100-2015 unified social credit code: format and check digit."""
    return is_valid_credit_code(code)


_CREDIT_LUT = np.full(256, -1, dtype=np.int64)
_CREDIT_LUT[np.frombuffer(CREDIT_CHARSET.encode(), dtype=np.uint8)] = np.arange(len(CREDIT_CHARSET))
_CREDIT_W = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)
_CREDIT_CHECK = np.frombuffer(CREDIT_CHARSET.encode(), dtype=np.uint8)


def _re2(pattern: re.Pattern) -> str:
    """``pattern`` for Arrow's RE2, with Python's meaning on ASCII text.

    Python's ``$`` also matches before a final newline, RE2's only at the end. ``\\d`` needs no
    change: both mean 0-9 on ASCII (Python's also takes other Unicode digits, which ``_matches``
    leaves to ``re``).
    """
    text = pattern.pattern
    return text[:-1] + r"\n?$" if text.endswith("$") and not text.endswith(r"\$") else text


def _matches(values: np.ndarray, pattern: re.Pattern) -> np.ndarray:
    """``pattern.match`` of each string value (False for anything else), ASCII ones in Arrow's RE2.

    ``Series.str.match`` of 200,000 parcel codes cost ~0.15 s a pattern in Python's ``re``.
    """
    def python(positions) -> list[bool]:
        return [isinstance(v, str) and pattern.match(v) is not None for v in values[positions]]

    out = np.zeros(len(values), dtype=bool)
    if not _ARROW:
        out[:] = python(slice(None))
        return out
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        arr = pa.array(values, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # not all strings
        out[:] = python(slice(None))
        return out
    ascii_ = pc.fill_null(pc.string_is_ascii(arr), False).to_numpy(zero_copy_only=False)
    hit = pc.fill_null(pc.match_substring_regex(arr, _re2(pattern)), False).to_numpy(zero_copy_only=False)
    out[ascii_] = hit[ascii_]
    other = np.flatnonzero(~ascii_ & ~pc.is_null(arr).to_numpy(zero_copy_only=False))
    out[other] = python(other)
    return out


def _credit_codes_ok(codes: np.ndarray) -> np.ndarray:
    """``credit_code_ok`` of many codes at once (False for non-strings): format and check digit in C.

    170,000 codes took a second one by one. A code with non-ASCII characters (full-width digits
    match the format's ``\\d``) is invalid here, where ``credit_code_ok`` raises a KeyError.
    """
    out = np.zeros(len(codes), dtype=bool)
    well = np.flatnonzero(_matches(codes, CREDIT_CODE_FORMAT))
    raw = "".join(codes[well]).encode("utf-8")
    if len(raw) != 18 * len(well):  # some matched with a final newline or non-ASCII digits: drop those
        well = np.array([i for i in well if len(codes[i]) == 18 and codes[i].isascii()], dtype=np.int64)
        raw = "".join(codes[well]).encode("ascii")
    if len(well):
        chars = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 18)
        total = (_CREDIT_LUT[chars[:, :17]] * _CREDIT_W).sum(axis=1)
        out[well] = _CREDIT_CHECK[(31 - total % 31) % 31] == chars[:, 17]
    return out


def _apply_qlxz(df: pd.DataFrame, issues: list[Issue], rows: pd.Series) -> None:
    col = next((c for c in df.columns if c.upper() == "QLXZ"), None)
    if col is None:
        return
    codes = _norm_str(df[col])
    for i, code in enumerate(codes):
        if code is None:
            continue
        pair = QLXZ_CODES.get(code)
        if pair is None:
            if code[:1] in "12":
                pair = ("国有" if code[0] == "1" else "集体", None)
            else:
                issues.append(
                    Issue(
                        "parcels",
                        int(rows.iloc[i]),
                        "bad-value",
                        "warning",
                        f"未知的权利性质代码 QLXZ={code}",
                        f"unknown QLXZ code {code}",
                    )
                )
                continue
        idx = df.index[i]
        if "ownership_nature" not in df.columns or pd.isna(df.at[idx, "ownership_nature"]):
            df.loc[idx, "ownership_nature"] = pair[0]
        if pair[1] and ("right_type" not in df.columns or pd.isna(df.at[idx, "right_type"])):
            df.loc[idx, "right_type"] = pair[1]


def _prepare_parcels(
    gdf: gpd.GeoDataFrame, mapping: dict[str, str], jurisdiction: Jurisdiction, issues: list[Issue]
) -> gpd.GeoDataFrame:
    rows = pd.Series(np.arange(1, len(gdf) + 1), index=gdf.index)
    df, unmapped = _rename(gdf, PARCEL_ATTRS, mapping)
    for c in ("ownership_nature", "right_type"):
        if c not in df.columns:
            df[c] = None
    _apply_qlxz(df, issues, rows)
    unmapped = [c for c in unmapped if c.upper() != "QLXZ"]
    out = _normalise(df, PARCEL_ATTRS, "parcels", rows, issues)
    if unmapped:
        extra = df[unmapped].astype("object").where(df[unmapped].notna(), None)
        out["extra"] = [{k: _json_safe(v) for k, v in rec.items() if v is not None} for rec in extra.to_dict("records")]
    else:
        out["extra"] = [{} for _ in range(len(df))]
    out["row"] = rows
    code = out["parcel_code"]
    long = code.notna() & (code.str.len() == 28)
    out.loc[long, "parcel_code"] = code[long].str.slice(0, 19)
    # ``copy=False``: GeoPandas otherwise deep-copies a plain DataFrame, here all 200,000 parcels
    return gpd.GeoDataFrame(out, geometry=np.asarray(gdf.geometry.array), crs=gdf.crs, copy=False)


def _compact(frame: gpd.GeoDataFrame) -> pd.DataFrame:
    """The frame without its shapely geometry, which moves to a ``wkb`` column (see ``read_source``)."""
    name = frame.geometry.name
    wkb = shapely.to_wkb(np.asarray(frame.geometry.array), byte_order=1, output_dimension=2)
    out = pd.DataFrame(frame, copy=False)
    del out[name]  # in place: ``drop`` would copy every column of a 400,000-row frame first
    out["wkb"] = wkb
    return out


@dataclass
class _Owners:
    """The parcels that features belong to, by code, with their shapely geometries.

    Built once, before the parcels are compacted, for every block of every feature layer: ``codes``
    is unique (the last parcel of a repeated code wins) and its hash table, built on the first
    lookup, serves all of them.
    """

    codes: pd.Index
    geoms: np.ndarray

    @classmethod
    def of(cls, parcels: gpd.GeoDataFrame) -> _Owners:
        codes = pd.Index(parcels["parcel_code"].to_numpy())
        last = ~codes.duplicated(keep="last")
        return cls(codes[last], np.asarray(parcels.geometry.array)[last])

    def find(self, codes: np.ndarray) -> np.ndarray:
        """The position of each code's parcel in ``geoms``, -1 where there is none."""
        return self.codes.get_indexer(codes)


def _area_outside(owners: _Owners, found: np.ndarray, feats: np.ndarray, block: int = 50_000) -> np.ndarray:
    """The area of each feature outside its parcel (``found``: ``owners.find`` of each feature's code)."""
    geoms = np.append(owners.geoms, None)  # position -1: no parcel
    outside = np.zeros(len(feats))
    for start in range(0, len(feats), block):
        owned = geoms[found[start:start + block]]
        part = feats[start:start + block]
        loose = np.flatnonzero(~shapely.covers(owned, part))
        outside[start + loose] = shapely.area(shapely.difference(part[loose], owned[loose]))
    return outside


def _json_safe(v):
    if isinstance(v, np.generic):
        return v.item()
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


PRODUCED_BY = ("original", "split", "merge", "edge_plot")
NON_NEGATIVE = (
    "developed_area_m2",
    "far_planned",
    "far_actual",
    "floor_area_m2",
    "invested_wan",
    "planned_investment_wan",
)


@dataclass
class _Rows:
    """Issues about rows of one layer: row numbers and parcel codes by position in the frame."""

    layer: str
    rows: np.ndarray
    codes: np.ndarray
    issues: list[Issue]

    def flag(self, mask, code: str, severity: Severity, zh, en) -> None:
        """One issue per position in ``mask``; ``zh`` / ``en`` map a position to the message."""
        for i in np.flatnonzero(np.asarray(mask, dtype=bool)):
            self.issues.append(Issue(self.layer, int(self.rows[i]), code, severity, zh(i), en(i), self.codes[i]))


def _check_values(p: gpd.GeoDataFrame, report: _Rows, bad: np.ndarray) -> None:
    """Values the register's constraints would refuse: bad enumerations and negative figures."""
    produced = p["produced_by"].to_numpy()
    wrong = (p["produced_by"].notna() & ~p["produced_by"].isin(PRODUCED_BY)).to_numpy()
    report.flag(wrong & ~bad, "bad-produced-by", "error",
                lambda i: f"产生方式 {produced[i]!r} 无效（应为 original/split/merge/edge_plot）",
                lambda i: f"produced_by {produced[i]!r} is not one of original/split/merge/edge_plot")
    bad |= wrong
    nature = p["ownership_nature"].to_numpy()
    odd = (p["ownership_nature"].notna() & ~p["ownership_nature"].isin(["国有", "集体"])).to_numpy()
    report.flag(odd & ~bad, "bad-value", "warning",
                lambda i: f"权属性质 {nature[i]!r} 应为 国有 或 集体，按空值处理",
                lambda i: f"ownership_nature {nature[i]!r} is neither 国有 nor 集体; stored as empty")
    p.loc[odd, "ownership_nature"] = None
    for col in NON_NEGATIVE:
        values = pd.to_numeric(p[col], errors="coerce").to_numpy(dtype="float64")
        neg = values < 0
        report.flag(neg & ~bad, "bad-value", "warning",
                    lambda i, c=col, v=values: f"{c} 为负数 {v[i]}，按空值处理",
                    lambda i, c=col, v=values: f"{c} is negative ({v[i]}); stored as empty")
        p.loc[neg, col] = np.nan


def _validate_parcels(p: gpd.GeoDataFrame, jurisdiction: Jurisdiction, issues: list[Issue]) -> gpd.GeoDataFrame:
    geoms = _flat(np.asarray(p.geometry.array))
    codes = p["parcel_code"]
    codes_arr = codes.to_numpy()
    report = _Rows("parcels", p["row"].to_numpy(), codes_arr, issues)
    rows_arr = report.rows
    ok, problems = _geom_problems(geoms, polygon_only=False)
    bad = ~ok
    for i, code, zh, en in problems:
        issues.append(Issue("parcels", int(rows_arr[i]), code, "error", zh, en, codes_arr[i]))
    missing = codes.isna().to_numpy()
    report.flag(missing, "missing-code", "error", lambda i: "缺少宗地代码", lambda i: "missing parcel_code")
    badfmt = codes.notna().to_numpy() & ~_matches(codes_arr, CODE_OK)
    report.flag(badfmt, "bad-code", "error",
                lambda i: f"宗地代码 {codes_arr[i]!r} 含非法字符或超过 28 位",
                lambda i: f"parcel code {codes_arr[i]!r} has invalid characters or exceeds 28 characters")
    nonstd = int((codes.notna().to_numpy() & ~badfmt & ~_matches(codes_arr, GBT37346)).sum())
    if nonstd:
        issues.append(Issue("parcels", None, "non-standard-code", "warning",
                            f"{nonstd} 个宗地代码不符合 GB/T 37346（按地块编号接收）",
                            f"{nonstd} parcel codes do not follow GB/T 37346 (accepted as local ids)"))
    bad |= missing | badfmt
    current = p["retired_on"].isna().to_numpy()
    # a code may repeat among retired versions, but only once among current ones
    dup = current & ~missing & pd.Series(codes.where(current)).duplicated(keep=False).to_numpy()
    report.flag(dup, "duplicate-code", "error", lambda i: f"宗地代码 {codes_arr[i]} 在文件中重复",
                lambda i: f"parcel code {codes_arr[i]} repeats in the file")
    bad |= dup
    usable = ~bad
    pts = shapely.point_on_surface(geoms[usable])
    inside = np.zeros(len(p), dtype=bool)
    inside[usable] = shapely.contains_xy(jurisdiction.outline_storage, shapely.get_x(pts), shapely.get_y(pts))
    report.flag(usable & ~inside, "outside-county", "error", lambda i: f"宗地位于{jurisdiction.name_zh}范围以外",
                lambda i: f"parcel lies outside {jurisdiction.name_en}")
    bad |= usable & ~inside
    area = np.full(len(p), np.nan)
    area[~bad] = shapely.area(geoms[~bad])
    declared = p["declared_area_m2"].to_numpy(dtype="float64")
    diff = np.abs(area - declared) / declared
    report.flag(~bad & np.isfinite(diff) & (diff > 0.01), "area-mismatch", "warning",
                lambda i: f"申报面积 {declared[i]:.2f} ㎡ 与计算面积 {area[i]:.2f} ㎡ 相差 {diff[i]:.1%}",
                lambda i: f"declared area {declared[i]:.2f} m² differs from computed {area[i]:.2f} m² by {diff[i]:.1%}")
    _check_values(p, report, bad)
    credit = p["holder_credit_code"].to_numpy()
    which, distinct = pd.factorize(credit)  # None: -1
    bad_credit = (which >= 0) & ~np.append(_credit_codes_ok(np.asarray(distinct, dtype=object)), True)[which]
    report.flag(bad_credit & ~bad, "bad-credit-code", "warning",
                lambda i: f"统一社会信用代码 {credit[i]} 格式或校验位错误，按未知处理",
                lambda i: f"unified social credit code {credit[i]} fails its format or check digit; ignored")
    p.loc[bad_credit, "holder_credit_code"] = None
    towns = p["town"].to_numpy()
    unknown = (p["town"].notna() & ~p["town"].isin(jurisdiction.town_names)).to_numpy()
    report.flag(unknown & ~bad, "unknown-town", "warning", lambda i: f"未知的乡镇（街道）：{towns[i]}",
                lambda i: f"unknown town: {towns[i]}")
    cur = np.flatnonzero(~bad & current)
    for a, b, inter in _overlapping_pairs(geoms[cur], jurisdiction.sliver_area_m2):
        for i, j in ((cur[a], cur[b]), (cur[b], cur[a])):
            issues.append(Issue("parcels", int(rows_arr[i]), "overlap-in-file", "error",
                                f"与第 {int(rows_arr[j])} 行宗地 {codes_arr[j]} 重叠 {inter:.2f} ㎡",
                                f"overlaps row {int(rows_arr[j])} ({codes_arr[j]}) by {inter:.2f} m²", codes_arr[i]))
            bad[i] = True
    kept = geoms[~bad]
    multi = kept if (shapely.get_type_id(kept) == 6).all() else _to_multipolygons(kept)
    if bad.any():
        return p.loc[~bad].copy().set_geometry(multi, crs=p.crs)
    # every row is good (the usual case): no copy of a 200,000-row frame, the caller drops ``p``
    p[p.geometry.name] = gpd.GeoSeries(multi, index=p.index, crs=p.crs)
    return p


def _prepare_features(
    gdf: gpd.GeoDataFrame | None,
    attrs: tuple[Attr, ...],
    layer: str,
    mapping: dict[str, str],
    parcels: gpd.GeoDataFrame,
    owners: _Owners,
    skipped_codes: set[str],
    jurisdiction: Jurisdiction,
    issues: list[Issue],
    path: Path,
) -> gpd.GeoDataFrame:
    """Buildings or support land: canonical names, valid single polygons, linked to a parcel row."""
    part = _features_part(gdf, attrs, layer, mapping, owners, skipped_codes, jurisdiction, issues)
    return _features_finish(part, layer, parcels, jurisdiction, issues)


def _empty_features(attrs: tuple[Attr, ...], jurisdiction: Jurisdiction) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({**{a.name: [] for a in attrs}, "row": []}, geometry=[], crs=jurisdiction.storage_epsg)


def _features_part(
    gdf: gpd.GeoDataFrame | None,
    attrs: tuple[Attr, ...],
    layer: str,
    mapping: dict[str, str],
    owners: _Owners,
    skipped_codes: set[str],
    jurisdiction: Jurisdiction,
    issues: list[Issue],
    row_offset: int = 0,
) -> gpd.GeoDataFrame:
    """The row-by-row checks of features (values, geometry, parcel link, building number).

    ``row_offset`` is the position of the first row in the file when it is read in blocks; the
    index of the result is each row's position in the file. The area outside the parcel is
    measured here, while the shapely geometries exist, into ``_outside_m2``; ``_features_finish``
    reports it for the rows that survive the file-wide checks.
    """
    if gdf is None or len(gdf) == 0:
        return _empty_features(attrs, jurisdiction)
    if gdf.crs is None:
        gdf = gdf.set_crs(jurisdiction.storage_epsg)  # the parcels' CRS, to which they were transformed
    if not gdf.crs.equals(CRS.from_user_input(jurisdiction.storage_epsg)):
        gdf = gdf.to_crs(jurisdiction.storage_epsg)
    gdf.index = pd.RangeIndex(row_offset, row_offset + len(gdf))
    rows = pd.Series(np.arange(row_offset + 1, row_offset + len(gdf) + 1), index=gdf.index)
    df, _ = _rename(gdf, attrs, mapping)
    out = _normalise(df, attrs, layer, rows, issues)
    out["row"] = rows
    geoms = _flat(np.asarray(gdf.geometry.array))
    codes = out["parcel_code"].to_numpy()
    report = _Rows(layer, rows.to_numpy(), codes, issues)
    ok, problems = _geom_problems(geoms, polygon_only=True)
    for i, code, zh, en in problems:
        issues.append(Issue(layer, int(report.rows[i]), code, "error", zh, en, codes[i]))
    found = owners.find(codes)
    link = found >= 0
    silent = out["parcel_code"].isin(skipped_codes).to_numpy()
    report.flag(ok & ~link & ~silent, "orphan", "error", lambda i: f"所属宗地 {codes[i]} 不在文件中",
                lambda i: f"its parcel {codes[i]} is not in the file")
    keep = ok & link
    if "number" in out.columns:
        numbers = out["number"].fillna("").to_numpy()
        missing_no = keep & (numbers == "")
        report.flag(missing_no, "missing-number", "error", lambda i: "缺少幢号", lambda i: "missing building number")
        keep &= ~missing_no
    kept_rows = out if keep.all() else out.loc[keep].copy()
    del out
    feats = _to_polygons(geoms[keep])
    kept_rows["_outside_m2"] = _area_outside(owners, found[keep], feats)
    return gpd.GeoDataFrame(kept_rows, geometry=feats, crs=jurisdiction.storage_epsg, copy=False)


def _features_finish(
    result: pd.DataFrame, layer: str, parcels: pd.DataFrame, jurisdiction: Jurisdiction, issues: list[Issue],
    seen: set[str] | None = None,
) -> pd.DataFrame:
    """The file-wide checks of features: repeated building numbers, area outside the parcel.

    ``result`` holds every feature that passed ``_features_part`` (a GeoDataFrame, or compacted):
    the whole layer, or one block of it in file order with ``seen`` carrying the (parcel, number)
    keys of the blocks before, so that the first of repeated numbers is kept either way.
    """
    if len(result) and "number" in result.columns:
        if seen is None:
            dup = result[["parcel_code", "number"]].duplicated().to_numpy()
        else:
            keys = (result["parcel_code"].astype(str) + "\x00" + result["number"].astype(str)).to_numpy()
            dup = pd.Series(keys).duplicated().to_numpy() | np.fromiter(map(seen.__contains__, keys), bool, len(keys))
            seen.update(keys[~dup])
        if dup.any():
            numbers = result["number"].to_numpy()
            _Rows(layer, result["row"].to_numpy(), result["parcel_code"].to_numpy(), issues).flag(
                dup, "duplicate-number", "error", lambda i: f"幢号 {numbers[i]} 在宗地内重复",
                lambda i: f"building number {numbers[i]} repeats in its parcel")
            result = result.loc[~dup].copy()
    # features sticking out of their parcel: kept, reported (survey data often is a little off)
    if len(result):
        outside = result["_outside_m2"].to_numpy(dtype=float)
        kept = _Rows(layer, result["row"].to_numpy(), result["parcel_code"].to_numpy(), issues)
        kept.flag(outside > jurisdiction.sliver_area_m2, "outside-parcel", "warning",
                  lambda i: f"有 {outside[i]:.2f} ㎡ 位于所属宗地之外",
                  lambda i: f"{outside[i]:.2f} m² lies outside its parcel")
    if "_outside_m2" in result.columns:
        del result["_outside_m2"]
    return result


def _upper_distinct(s: pd.Series) -> pd.Series:
    """Strings upper-cased, other values as they are; once per distinct value (four among 340,000)."""
    values = s.to_numpy(dtype=object)
    which, distinct = pd.factorize(values)  # missing: -1, kept below
    upper = np.array([v.upper() if isinstance(v, str) else v for v in distinct] + [None], dtype=object)
    return pd.Series(np.where(which >= 0, upper[which], values), index=s.index, dtype=object).infer_objects()


def _prepare_holder_years(df: pd.DataFrame | None, mapping: dict[str, str], issues: list[Issue]) -> pd.DataFrame:
    cols = [a.name for a in HOLDER_YEAR_ATTRS]
    if df is None or len(df) == 0:
        return pd.DataFrame(columns=[*cols, "row"])
    rows = pd.Series(np.arange(1, len(df) + 1), index=df.index)
    # headers may be Chinese labels (CSV for Excel)
    labels = {a.label_zh: a.name for a in HOLDER_YEAR_ATTRS}
    df = df.rename(columns={c: labels[c] for c in df.columns if c in labels}, copy=False)
    df, _ = _rename(df, HOLDER_YEAR_ATTRS, mapping)
    out = _normalise(df, HOLDER_YEAR_ATTRS, "holder_years", rows, issues)
    out["row"] = rows
    bad = out["credit_code"].isna() | out["year"].isna()
    out["rating"] = _upper_distinct(out["rating"])
    bad_rating = out["rating"].notna() & ~out["rating"].isin(["A", "B", "C", "D"])
    canonical: dict[tuple, tuple[list[str], bool]] = {}  # a few distinct flag sets among 340,000 rows

    def canon(flags) -> tuple[list[str], bool]:
        key = tuple(flags or ())  # None: the table has no compliance-flag column
        if key not in canonical:
            names = sorted({FLAG_NAMES.get(f, f"?{f}") for f in key})
            canonical[key] = (names, any(f.startswith("?") for f in names))
        return canonical[key]

    # rows with the same flag text share one list (``_split_distinct``): canonicalise each list once
    flags = out["compliance_flags"].to_numpy(dtype=object)
    out["compliance_flags"] = per_object(flags, lambda f: canon(f)[0])
    bad_flags = pd.Series(per_object(flags, lambda f: canon(f)[1]).astype(bool), index=out.index)
    for i in np.flatnonzero((bad | bad_rating | bad_flags).to_numpy()):
        issues.append(
            Issue(
                "holder_years",
                int(rows.iloc[i]),
                "bad-holder-year",
                "error",
                "企业年度数据缺少信用代码/年度，或评价等级（A–D）、不达标项（能耗/环保/质量/安全）无效",
                "holder year row lacks credit code or year, or has an invalid rating (A–D) "
                "or compliance flag (energy/environment/quality/safety)",
            )
        )
    refused = (bad | bad_rating | bad_flags).to_numpy()
    if refused.any():
        out = out.loc[~refused].copy()
    out["year"] = out["year"].astype(int)
    dup = out.duplicated(["credit_code", "year"], keep="last")
    for i in np.flatnonzero(dup.to_numpy()):
        issues.append(
            Issue(
                "holder_years",
                int(out["row"].iloc[i]),
                "duplicate-holder-year",
                "warning",
                "同一企业同一年度重复，取最后一行",
                "holder and year repeat; the last row wins",
            )
        )
    return out.loc[~dup] if dup.any() else out


def _prepare_disposals(df: pd.DataFrame | None, issues: list[Issue]) -> pd.DataFrame:
    cols = ["parcel_code", "method", "area_m2", "disposed_on", "note"]
    if df is None or len(df) == 0:
        return pd.DataFrame(columns=[*cols, "row"])
    rows = pd.Series(np.arange(1, len(df) + 1), index=df.index)
    out = pd.DataFrame(index=df.index)
    out["parcel_code"] = _norm_str(df.get("parcel_code", pd.Series(None, index=df.index)))
    out["method"] = _norm_str(df.get("method", pd.Series(None, index=df.index)))
    out["area_m2"], _ = _norm_float(df.get("area_m2", pd.Series(None, index=df.index)))
    out["disposed_on"], _ = _norm_date(df.get("disposed_on", pd.Series(None, index=df.index)))
    out["note"] = _norm_str(df.get("note", pd.Series(None, index=df.index)))
    out["row"] = rows
    bad = out["method"].isna() | ~(out["area_m2"] > 0) | out["disposed_on"].isna()
    for i in np.flatnonzero(bad.to_numpy()):
        issues.append(
            Issue(
                "disposals",
                int(rows.iloc[i]),
                "bad-disposal",
                "error",
                "盘活记录缺少方式、面积或日期",
                "disposal record lacks method, area or date",
            )
        )
    return out.loc[~bad]


# ---------------------------------------------------------------- entry point


def read_source(
    path: Path | str,
    *,
    jurisdiction: Jurisdiction,
    crs: str | None = None,
    mapping_file: Path | None = None,
    layer: str | None = None,
    encoding: str | None = None,
    compact: bool = False,
    sink: LayerSink | None = None,
) -> SourceData:
    """Read, map, normalise and validate a source; raise :class:`GisInputError` if it is unusable.

    With ``compact`` (the importer), the spatial layers come back as plain DataFrames whose ``wkb``
    column holds each geometry as 2D little-endian WKB instead of a shapely object: a GEOS polygon
    costs ~450 bytes, its WKB ~140, and each layer is compacted as soon as it is validated, which
    keeps a 200,000-parcel import under 1 GB. With a ``sink``, the feature layers and the holder
    years come back empty (the sink has their rows; the 200k import's peak was ~50 MB higher); the
    parcels come back as they were handed over.
    """
    path = Path(path)
    if sink is not None and not compact:
        raise ValueError("a sink takes compacted layers")
    if not path.exists():
        raise GisInputError("file-not-found", f"文件不存在：{path}", f"no such file: {path}", status=404)
    if path.suffix.lower() == ".zip":
        tmp = tempfile.TemporaryDirectory(prefix="landgis-import-")
        try:
            with zipfile.ZipFile(path) as zf:
                zf.extractall(tmp.name)
        except zipfile.BadZipFile as exc:
            raise _unreadable(path, exc) from exc
        shp = (
            sorted(Path(tmp.name).rglob("parcels.shp"))
            or sorted(Path(tmp.name).rglob("*.shp"))
            or sorted(p for p in Path(tmp.name).rglob("*") if p.suffix.lower() in SPATIAL_SUFFIXES)
        )
        if not shp:
            raise GisInputError(
                "no-parcel-layer", "压缩包中没有空间数据文件", "the zip holds no spatial file", status=422
            )
        data = read_source(
            shp[0], jurisdiction=jurisdiction, crs=crs, mapping_file=mapping_file, layer=layer, encoding=encoding,
            compact=compact, sink=sink,
        )
        data.path = path
        tmp.cleanup()
        return data
    def emit(name: str, frame: pd.DataFrame) -> None:
        if sink is not None:
            sink.rows(name, frame)
            sink.done(name)

    mapping = _load_mapping(mapping_file)
    layers = _discover(path, layer)
    main_path = layers.parcels[0]
    enc = encoding
    if enc is None and main_path.suffix.lower() == ".shp":
        enc = detect_dbf_encoding(main_path)
    issues: list[Issue] = []
    counts: dict[str, int] = {}

    def read_holder_years(found: list[Issue]) -> pd.DataFrame:
        hy_raw = _read_table(layers.holder_years, encoding) if layers.holder_years else None
        counts["holder_years"] = 0 if hy_raw is None else len(hy_raw)
        return _prepare_holder_years(hy_raw, mapping, found)

    # with a sink the holder years go first (see LayerSink); their issues keep their place in the report
    hy_issues: list[Issue] = []
    if sink is not None:
        emit("holder_years", read_holder_years(hy_issues))
        holder_years = _prepare_holder_years(None, mapping, hy_issues)  # empty: the sink has the rows
    raw = _read_spatial(layers.parcels, enc)
    if len(raw) == 0:
        raise GisInputError(
            "empty-file", f"{main_path.name} 中没有任何宗地", f"{main_path.name} holds no parcels", status=422
        )
    if "geometry" not in raw.columns or raw.geometry is None:
        raise GisInputError(
            "no-geometry", f"{main_path.name} 没有几何字段", f"{main_path.name} has no geometry", status=422
        )
    raw = _resolve_crs(raw, crs, main_path, jurisdiction, issues)
    source_crs = raw.crs.to_string() if raw.crs is not None else None
    counts["parcels"] = len(raw)
    # each stage drops its input as soon as it is done: peak memory is two copies, not four
    prepared = _prepare_parcels(raw, mapping, jurisdiction, issues)
    del raw
    release_memory()
    parcels = _validate_parcels(prepared, jurisdiction, issues)
    skipped = set(prepared["parcel_code"].dropna()) - set(parcels["parcel_code"])
    del prepared
    release_memory()
    # the parcels' shapely geometries stay until the features are checked: decoding them again from
    # WKB cost 0.3 s; holding them (~90 MB) stays below the peak of the holder-year stage
    owners = _Owners.of(parcels)
    if compact:
        parcels = _compact(parcels)
        release_memory()
    emit("parcels", parcels)

    def spatial(src):
        if src is None:
            return None
        sub_enc = encoding or (detect_dbf_encoding(src[0]) if src[0].suffix.lower() == ".shp" else None)
        return _read_spatial(src, sub_enc)

    def features(src, attrs, layer):
        total = _feature_count(src) if compact and src is not None else -1
        if total > FEATURE_BLOCK:
            return features_in_blocks(src, attrs, layer, total)
        raw_features = spatial(src)
        counts[layer] = 0 if raw_features is None else len(raw_features)
        out = _prepare_features(raw_features, attrs, layer, mapping, parcels, owners, skipped, jurisdiction, issues,
                                path)
        del raw_features
        release_memory()
        if compact:
            out = _compact(out)
            release_memory()
        emit(layer, out)
        return out if sink is None else out.iloc[:0].copy()

    def features_in_blocks(src, attrs, layer, total):
        """A large layer, compacted block by block: at most two blocks of shapely geometries at a time (one
        being checked, the next being read)."""
        sub_enc = encoding or (detect_dbf_encoding(src[0]) if src[0].suffix.lower() == ".shp" else None)
        parts, seen = [], set()
        with closing(_blocks(src, sub_enc, total)) as blocks:
            for start, raw_features in blocks:
                if len(raw_features) == 0:
                    break
                part = _features_part(raw_features, attrs, layer, mapping, owners, skipped, jurisdiction, issues,
                                      start)
                del raw_features
                part = _features_finish(_compact(part), layer, parcels, jurisdiction, issues, seen)
                if sink is not None:
                    sink.rows(layer, part)
                parts.append(part if sink is None else part.iloc[:0].copy())
                del part
                release_memory()
        if sink is not None:
            sink.done(layer)
        counts[layer] = total
        out = pd.concat(parts)
        del parts, seen
        release_memory()
        return out

    buildings = features(layers.buildings, BUILDING_ATTRS, "buildings")
    support = features(layers.support_land, SUPPORT_ATTRS, "support_land")
    owners = None  # the parcels' geometries are no longer needed
    release_memory()
    if sink is None:
        holder_years = read_holder_years(issues)
        release_memory()
    issues.extend(hy_issues)
    d_raw = _read_table(layers.disposals, encoding) if layers.disposals else None
    counts["disposals"] = 0 if d_raw is None else len(d_raw)
    disposals = _prepare_disposals(d_raw, issues)
    return SourceData(
        path=path,
        source_crs=source_crs,
        encoding=enc,
        parcels=parcels,
        buildings=buildings,
        support_land=support,
        holder_years=holder_years,
        disposals=disposals,
        issues=issues,
        rows_read=counts,
    )
