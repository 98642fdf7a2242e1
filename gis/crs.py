"""Coordinate reference systems: parsing OGC URIs, authority axis order, cached transformers.

Internally every geometry is x = easting/longitude, y = northing/latitude (``always_xy``). Axis
order only matters at the edges: a request or response "in EPSG:4549" carries northing first, as
OGC API – Features Part 2 and CHECKS-API.md require; :func:`to_internal_xy` / :func:`to_authority_xy`
swap at those edges.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from shapely.geometry.base import BaseGeometry

from gis.errors import GisInputError

if TYPE_CHECKING:
    from gis.jurisdiction import Jurisdiction

__all__ = [
    "CRS84",
    "CRS84_URI",
    "CrsRef",
    "authority_to_storage",
    "axis_order_text",
    "crs_uri",
    "jurisdiction_extent",
    "looks_zone_prefixed",
    "parse_crs",
    "to_authority_xy",
    "to_internal_xy",
    "to_storage_checked",
    "transform_geom",
    "transformer",
]

CRS84 = "OGC:CRS84"
CRS84_URI = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"

_EPSG_PATTERNS = (
    re.compile(r"^https?://www\.opengis\.net/def/crs/EPSG/[^/]+/(\d+)$", re.I),
    re.compile(r"^urn:ogc:def:crs:EPSG:[^:]*:(\d+)$", re.I),
    re.compile(r"^EPSG:(\d+)$", re.I),
    re.compile(r"^(\d+)$"),
)
_CRS84_NAMES = {
    "crs84",
    "ogc:crs84",
    "urn:ogc:def:crs:ogc:1.3:crs84",
    "http://www.opengis.net/def/crs/ogc/1.3/crs84",
    "https://www.opengis.net/def/crs/ogc/1.3/crs84",
}


@dataclass(frozen=True)
class CrsRef:
    """A parsed CRS: its key for :func:`transformer`, OGC URI, and whether its first axis is north."""

    key: str
    uri: str
    epsg: int | None
    northing_first: bool

    @property
    def is_geographic(self) -> bool:
        return _pyproj_crs(self.key).is_geographic


@lru_cache(maxsize=64)
def _pyproj_crs(key: str) -> CRS:
    return CRS.from_user_input(key)


def crs_uri(epsg: int | None) -> str:
    """The OGC URI of an EPSG code (``None`` → CRS84)."""
    return CRS84_URI if epsg is None else f"http://www.opengis.net/def/crs/EPSG/0/{epsg}"


@lru_cache(maxsize=64)
def parse_crs(value: str | int | None) -> CrsRef:
    """Parse ``EPSG:4549``, an OGC URI/URN, an EPSG number or a CRS84 name; ``None`` is CRS84.

    Raises :class:`GisInputError` (400) for anything PROJ does not know.
    """
    if value is None or (isinstance(value, str) and value.strip().lower() in _CRS84_NAMES):
        return CrsRef(CRS84, CRS84_URI, None, False)
    text = str(value).strip()
    for pattern in _EPSG_PATTERNS:
        m = pattern.match(text)
        if m:
            epsg = int(m.group(1))
            key = f"EPSG:{epsg}"
            try:
                crs = _pyproj_crs(key)
            except CRSError:
                break
            north = bool(crs.axis_info) and crs.axis_info[0].direction.lower() == "north"
            return CrsRef(key, crs_uri(epsg), epsg, north)
    raise GisInputError(
        "unknown-crs",
        f"无法识别的坐标参考系：{text}",
        f"unknown coordinate reference system: {text}",
        status=400,
    )


@lru_cache(maxsize=64)
def transformer(src: str, dst: str) -> Transformer:
    """A cached ``always_xy`` transformer between two CRS keys (creation costs ~4× a transform)."""
    return Transformer.from_crs(_pyproj_crs(src), _pyproj_crs(dst), always_xy=True)


def _key(crs: str | int | CrsRef | None) -> str:
    if isinstance(crs, CrsRef):
        return crs.key
    if isinstance(crs, int):
        return f"EPSG:{crs}"
    return parse_crs(crs).key


def transform_geom(geom: BaseGeometry, src: str | int | CrsRef | None, dst: str | int | CrsRef | None):
    """Reproject a shapely geometry (or array of them), x/y order on both sides."""
    s, d = _key(src), _key(dst)
    if s == d:
        return geom
    tr = transformer(s, d)

    def _apply(coords: np.ndarray) -> np.ndarray:
        x, y = tr.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom, _apply)


def _swap(coords: np.ndarray) -> np.ndarray:
    return coords[:, ::-1]


def to_internal_xy(geom, crs: CrsRef):
    """Coordinates received in ``crs``'s authority axis order → x/y order."""
    return shapely.transform(geom, _swap) if crs.northing_first else geom


def to_authority_xy(geom, crs: CrsRef):
    """x/y order → ``crs``'s authority axis order, for output in that CRS."""
    return shapely.transform(geom, _swap) if crs.northing_first else geom


def looks_zone_prefixed(x: float, zone: int = 40) -> bool:
    """Is ``x`` a 3-degree Gauss-Krüger easting with the zone number prefixed (40 500 000 …)?"""
    return zone * 1_000_000 <= x < (zone + 1) * 1_000_000


# ---------------------------------------------------------------------------------------------
# Positions of a request: authority axis order in, storage x/y out, with a check that they land in
# (or near) the jurisdiction.

# CRS pairs that are the same projection with a different false easting: an exact offset, cheaper
# and more exact than PROJ's inverse + forward Gauss-Krüger round trip (which drifts by ~3e-9 m).
_PURE_OFFSETS: dict[tuple[str, str], tuple[float, float]] = {
    ("EPSG:4528", "EPSG:4549"): (-40_000_000.0, 0.0),
    ("EPSG:4549", "EPSG:4528"): (40_000_000.0, 0.0),
}


def axis_order_text(crs: CrsRef) -> tuple[str, str]:
    """How ``crs``'s positions are written, in Chinese and English (for error messages)."""
    if not crs.northing_first:
        if crs.key == CRS84 or crs.is_geographic:
            return "经度在前（经度, 纬度）", "longitude first (lon, lat)"
        return "东坐标在前（E, N）", "easting first (easting, northing)"
    if crs.is_geographic:
        return "纬度在前（纬度, 经度）", "latitude first (lat, lon)"
    return "北坐标在前（X=北, Y=东）", "northing first (northing, easting)"


def authority_to_storage(positions: np.ndarray, crs: CrsRef, storage: str | int | CrsRef) -> np.ndarray:
    """Positions ``(n, 2)`` written in ``crs``'s authority axis order → x/y in the storage CRS.

    One vectorised transform for all positions (the transformer is cached). Positions PROJ cannot
    transform (latitudes beyond ±90°, …) come back as ``inf``.

    >>> import numpy as np
    >>> authority_to_storage(np.array([[3225000.0, 603000.0]]), parse_crs("EPSG:4549"), 4549).tolist()
    [[603000.0, 3225000.0]]
    """
    xy = positions[:, ::-1] if crs.northing_first else positions
    dst = _key(storage)
    if crs.key == dst:
        return np.ascontiguousarray(xy, dtype=float)
    offset = _PURE_OFFSETS.get((crs.key, dst))
    if offset is not None:
        return xy + np.asarray(offset)
    x, y = transformer(crs.key, dst).transform(xy[:, 0], xy[:, 1])
    return np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])


@lru_cache(maxsize=16)
def _extent(outline_key: tuple, storage_key: str, margin: float) -> tuple[float, float, float, float]:
    ring = np.asarray(outline_key, dtype=float)
    x, y = transformer(CRS84, storage_key).transform(ring[:, 0], ring[:, 1])
    return (float(np.min(x)) - margin, float(np.min(y)) - margin, float(np.max(x)) + margin,
            float(np.max(y)) + margin)


def jurisdiction_extent(jurisdiction: Jurisdiction) -> tuple[float, float, float, float]:
    """The outline's bounding box in the storage CRS, grown by ``far_outside_m`` (cached).

    A position beyond it is "far outside": wrong CRS, swapped axes, or a zone prefix left on.
    """
    return _extent(tuple(map(tuple, jurisdiction.outline)), f"EPSG:{jurisdiction.storage_epsg}",
                   float(jurisdiction.far_outside_m))


def _inside(xy: np.ndarray, extent: tuple[float, float, float, float]) -> np.ndarray:
    minx, miny, maxx, maxy = extent
    with np.errstate(invalid="ignore"):
        return (xy[:, 0] >= minx) & (xy[:, 0] <= maxx) & (xy[:, 1] >= miny) & (xy[:, 1] <= maxy)


def to_storage_checked(
    positions: np.ndarray,
    crs: CrsRef,
    jurisdiction: Jurisdiction,
    *,
    starts: np.ndarray | None = None,
    pointers: list[str] | None = None,
) -> np.ndarray:
    """Convert request positions to storage x/y and refuse ones far outside the jurisdiction.

    ``starts`` (the first position index of each geometry) and ``pointers`` (their JSON pointers)
    let the error name the offending geometry. Raises :class:`GisInputError` (400) with code
    ``axis-order-swapped`` when the positions would land inside with the axes swapped, otherwise
    ``outside-jurisdiction`` (with a hint for zone-prefixed eastings or metres sent as degrees).
    """
    storage = f"EPSG:{jurisdiction.storage_epsg}"
    xy = authority_to_storage(positions, crs, storage)
    extent = jurisdiction_extent(jurisdiction)
    ok = _inside(xy, extent)
    if ok.all():
        return xy
    bad = int(np.flatnonzero(~ok)[0])
    lo, hi, pointer = 0, len(positions), None
    if starts is not None and len(starts):
        g = int(np.searchsorted(starts, bad, side="right") - 1)
        lo = int(starts[g])
        hi = int(starts[g + 1]) if g + 1 < len(starts) else len(positions)
        pointer = pointers[g] if pointers else None
    raw = positions[lo:hi]
    sample = [float(v) for v in positions[bad]]
    name_zh, name_en = jurisdiction.name_zh, jurisdiction.name_en
    extra = {"crs": crs.uri, "position": sample}
    swapped = authority_to_storage(raw[:, ::-1], crs, storage)
    if _inside(swapped, extent).all():
        order_zh, order_en = axis_order_text(crs)
        raise GisInputError(
            "axis-order-swapped",
            f"坐标 {sample} 远在{name_zh}范围之外，交换坐标轴顺序后则位于其内：坐标轴顺序似乎颠倒了"
            f"（{crs.key} 的坐标顺序为{order_zh}）",
            f"position {sample} lies far outside {name_en} but would lie inside with its axes swapped: "
            f"the axis order looks swapped ({crs.key} positions are written {order_en})",
            status=400, pointer=pointer, extra=extra,
        )
    hint_zh, hint_en = "", ""
    first = raw[:, 1] if crs.northing_first else raw[:, 0]
    if not crs.is_geographic and looks_zone_prefixed(float(np.median(first))):
        hint_zh = f"；东坐标带有带号前缀 40，应声明为 EPSG:{jurisdiction.zone_prefixed_epsg or 4528}"
        hint_en = f"; the eastings carry the zone prefix 40: declare EPSG:{jurisdiction.zone_prefixed_epsg or 4528}"
    elif crs.is_geographic and float(np.max(np.abs(raw))) > 360:
        hint_zh = "；数值像是投影坐标（米），请声明坐标参考系，如 EPSG:4549"
        hint_en = "; the numbers look like projected metres: name the CRS, e.g. EPSG:4549"
    raise GisInputError(
        "outside-jurisdiction",
        f"坐标 {sample}（{crs.key}）远在{name_zh}范围之外，可能是坐标参考系声明有误{hint_zh}",
        f"position {sample} ({crs.key}) lies far outside {name_en}: probably the wrong CRS{hint_en}",
        status=400, pointer=pointer, extra=extra,
    )
