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

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from shapely.geometry.base import BaseGeometry

from gis.errors import GisInputError

__all__ = [
    "CRS84",
    "CRS84_URI",
    "CrsRef",
    "crs_uri",
    "looks_zone_prefixed",
    "parse_crs",
    "to_authority_xy",
    "to_internal_xy",
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
