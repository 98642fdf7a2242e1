"""Request GeoJSON → shapely geometries in the storage CRS, with JSON pointers in every error.

The request's CRS is named by the ``crs`` query parameter (or CLI option) or a ``crs`` member of the
request body (a string, or the GeoJSON-2008 ``{"type": "name", "properties": {"name": …}}`` form);
without either it is CRS84. Positions are in that CRS's authority axis order (EPSG:4549 / 4528:
northing, easting; EPSG:4490: lat, lon; CRS84: lon, lat), as CHECKS-API.md and OGC API – Features
Part 2 require.

:class:`GeometryBatch` collects every polygon of a request, then converts all positions with one
vectorised transform, checks they land in the jurisdiction (swapped axes and far-away coordinates
are a 400) and builds the geometries with ``shapely.from_ragged_array``.

Example
-------
>>> batch = GeometryBatch(parse_crs("EPSG:4549"))
>>> i = batch.add({"type": "Polygon", "coordinates": [[[3225000, 603000], [3225000, 603100],
...     [3225100, 603100], [3225000, 603000]]]}, "/parcel/geometry")
>>> batch.build()[i].bounds
(603000.0, 3225000.0, 603100.0, 3225100.0)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import shapely
from shapely import GeometryType
from shapely.geometry.base import BaseGeometry

from gis.crs import CrsRef, parse_crs, to_storage_checked
from gis.errors import GisInputError
from gis.jurisdiction import Jurisdiction, load_jurisdiction

__all__ = ["Feature", "GeometryBatch", "feature_list", "request_crs", "to_storage_geometry"]


def _is_map(value: Any) -> bool:
    return type(value) is dict or isinstance(value, Mapping)  # the exact-type test first: abc checks are slow


def _bad(code: str, zh: str, en: str, pointer: str | None, status: int = 400) -> GisInputError:
    return GisInputError(code, zh, en, status=status, pointer=pointer)


def _crs_member(value: Any, pointer: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str | int):
        return str(value)
    if isinstance(value, Mapping):
        props = value.get("properties")
        if isinstance(props, Mapping):
            name = props.get("name") or props.get("href")
            if isinstance(name, str):
                return name
    raise _bad("bad-crs-member", "crs 成员格式不正确", "the crs member is malformed", pointer)


def request_crs(request: Mapping[str, Any] | None, crs: str | None = None) -> CrsRef:
    """The CRS of a request's positions: ``crs`` (query / CLI) or the body's ``crs`` member, else CRS84.

    Both given and different → 400 ``crs-conflict``; unknown, or not a 2D horizontal CRS → 400.
    """
    member = _crs_member(request.get("crs"), "/crs") if isinstance(request, Mapping) else None
    ref_param = parse_crs(crs) if crs else None
    ref_body = parse_crs(member) if member else None
    if ref_param and ref_body and ref_param.key != ref_body.key:
        raise _bad("crs-conflict", f"请求参数声明坐标参考系 {ref_param.key}，请求体却声明 {ref_body.key}",
                   f"the crs parameter says {ref_param.key} but the body's crs member says {ref_body.key}", "/crs")
    ref = ref_param or ref_body or parse_crs(None)
    from gis.crs import _pyproj_crs

    pcrs = _pyproj_crs(ref.key)
    if not (pcrs.is_geographic or pcrs.is_projected) or len(pcrs.axis_info) != 2:
        raise _bad("unknown-crs", f"不支持的坐标参考系（须为二维平面或地理坐标系）：{ref.key}",
                   f"unsupported CRS (a 2D geographic or projected CRS is required): {ref.key}", "/crs")
    return ref


@dataclass(frozen=True)
class Feature:
    """One Feature of a request: its properties, the index of its geometry in the batch, its pointer."""

    properties: Mapping[str, Any]
    geometry: int
    pointer: str


def feature_list(value: Any, pointer: str, batch: GeometryBatch, *, crs: CrsRef | None = None) -> list[Feature]:
    """The Features of a FeatureCollection (or a bare list of Features), their geometries added to ``batch``.

    ``None`` → no features. A nested ``crs`` member naming another CRS than the request's is a 400
    (one request, one CRS).
    """
    if value is None:
        return []
    if _is_map(value):
        if value.get("type") != "FeatureCollection" or not isinstance(value.get("features"), list):
            raise _bad("not-geojson", "应为 GeoJSON FeatureCollection", "expected a GeoJSON FeatureCollection",
                       pointer)
        if crs is not None and value.get("crs") is not None:
            nested = parse_crs(_crs_member(value["crs"], pointer + "/crs"))
            if nested.key != crs.key:
                raise _bad("crs-conflict", f"该要素集声明坐标参考系 {nested.key}，与请求的 {crs.key} 不一致",
                           f"this collection names {nested.key}, the request {crs.key}", pointer + "/crs")
        items, base = value["features"], pointer + "/features"
    elif isinstance(value, list):
        items, base = value, pointer
    else:
        raise _bad("not-geojson", "应为 GeoJSON FeatureCollection", "expected a GeoJSON FeatureCollection", pointer)
    out = []
    for i, f in enumerate(items):
        p = f"{base}/{i}"
        if not _is_map(f) or f.get("type") != "Feature":
            raise _bad("not-geojson", "应为 GeoJSON Feature", "expected a GeoJSON Feature", p)
        props = f.get("properties") or {}
        if not _is_map(props):
            raise _bad("not-geojson", "properties 应为对象", "properties must be an object", p + "/properties")
        out.append(Feature(props, batch.add(f.get("geometry"), p + "/geometry"), p))
    return out


class GeometryBatch:
    """Collects the (Multi)Polygons of one request and builds them together in the storage CRS."""

    def __init__(self, crs: CrsRef, jurisdiction: Jurisdiction | None = None) -> None:
        self.crs = crs
        self.jurisdiction = jurisdiction or load_jurisdiction()
        self._positions: list[Any] = []
        self._ring_sizes: list[int] = []
        self._rings_per_poly: list[int] = []
        self._entries: list[tuple[str, int, int, bool]] = []  # pointer, first poly, n polys, multi
        self._entry_starts: list[int] = []
        self._built: list[BaseGeometry] | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, geometry: Any, pointer: str) -> int:
        """Queue a GeoJSON Polygon / MultiPolygon; returns its index in :meth:`build`'s list."""
        if not _is_map(geometry):
            raise _bad("not-geojson", "缺少几何或几何不是 GeoJSON 对象", "missing geometry, or not a GeoJSON object",
                       pointer)
        gtype, coords = geometry.get("type"), geometry.get("coordinates")
        if gtype == "Polygon":
            polys, multi = [coords], False
        elif gtype == "MultiPolygon":
            polys, multi = coords, True
        elif gtype in ("Point", "MultiPoint", "LineString", "MultiLineString", "GeometryCollection"):
            raise _bad("not-a-polygon", f"几何类型应为 Polygon 或 MultiPolygon，而非 {gtype}",
                       f"the geometry must be a Polygon or MultiPolygon, not {gtype}", pointer + "/type", 422)
        else:
            raise _bad("not-geojson", f"未知的 GeoJSON 几何类型：{gtype}", f"unknown GeoJSON geometry type: {gtype}",
                       pointer + "/type")
        if not isinstance(polys, list) or not polys or (not multi and not coords):
            raise _bad("empty-geometry", "几何为空", "the geometry is empty", pointer + "/coordinates", 422)
        first_poly = len(self._rings_per_poly)
        positions, ring_sizes = self._positions, self._ring_sizes
        self._entry_starts.append(len(positions))
        for k, rings in enumerate(polys):
            if type(rings) is not list or not rings:
                pp = f"{pointer}/coordinates/{k}" if multi else f"{pointer}/coordinates"
                raise _bad("empty-geometry", "多边形为空", "empty polygon", pp, 422)
            for r, ring in enumerate(rings):
                if type(ring) is not list or len(ring) < 4:
                    pp = f"{pointer}/coordinates/{k}" if multi else f"{pointer}/coordinates"
                    raise _bad("bad-ring", "多边形的环至少需要 4 个坐标（首尾相同）",
                               "a polygon ring needs at least 4 positions (first = last)", f"{pp}/{r}")
                positions.extend(ring)
                ring_sizes.append(len(ring))
            self._rings_per_poly.append(len(rings))
        self._entries.append((pointer, first_poly, len(polys), multi))
        self._built = None
        return len(self._entries) - 1

    def _ring_pointer(self, ring: int) -> str:
        poly = int(np.searchsorted(np.cumsum(self._rings_per_poly), ring, side="right"))
        first_ring = int(sum(self._rings_per_poly[:poly]))
        for pointer, p0, n, multi in self._entries:
            if p0 <= poly < p0 + n:
                base = f"{pointer}/coordinates/{poly - p0}" if multi else f"{pointer}/coordinates"
                return f"{base}/{ring - first_ring}"
        return ""

    def _position_pointer(self, index: int) -> str:
        ring = int(np.searchsorted(np.cumsum(self._ring_sizes), index, side="right"))
        start = int(sum(self._ring_sizes[:ring]))
        return f"{self._ring_pointer(ring)}/{index - start}"

    def _array(self) -> np.ndarray:
        n = len(self._positions)
        try:  # fast path: 2D positions (one flat pass, ~2x quicker than np.array on nested lists)
            flat = np.fromiter(chain.from_iterable(self._positions), dtype=float)
            if flat.size == 2 * n:
                return flat.reshape(n, 2)
        except (TypeError, ValueError):
            pass
        try:
            arr = np.array(self._positions, dtype=float)
            if arr.ndim == 2 and arr.shape[1] >= 2:
                return arr[:, :2]
        except (TypeError, ValueError):
            pass
        out = np.empty((len(self._positions), 2))
        for i, p in enumerate(self._positions):  # slow path: find the bad position, or mixed 2D/3D
            try:
                if not isinstance(p, list | tuple) or len(p) < 2 or isinstance(p[0], bool) or isinstance(p[1], bool):
                    raise TypeError
                out[i] = (float(p[0]), float(p[1]))
            except (TypeError, ValueError):
                raise _bad("bad-position", "坐标应为至少两个数值的数组", "a position must be an array of ≥ 2 numbers",
                           self._position_pointer(i)) from None
        return out

    def build(self) -> list[BaseGeometry]:
        """All queued geometries, in the storage CRS (x/y order), in the order they were added."""
        if self._built is not None:
            return self._built
        if not self._entries:
            self._built = []
            return self._built
        pos = self._array()
        finite = np.isfinite(pos).all(axis=1)
        if not finite.all():
            raise _bad("bad-position", "坐标含非有限数值", "a position is not a finite number",
                       self._position_pointer(int(np.flatnonzero(~finite)[0])))
        ring_offsets = np.zeros(len(self._ring_sizes) + 1, dtype=np.int64)
        np.cumsum(self._ring_sizes, out=ring_offsets[1:])
        first, last = pos[ring_offsets[:-1]], pos[ring_offsets[1:] - 1]
        open_rings = np.flatnonzero((first != last).any(axis=1))
        if len(open_rings):
            raise _bad("ring-not-closed", "多边形的环未闭合（首尾坐标应相同）",
                       "a polygon ring is not closed (its first and last positions must be equal)",
                       self._ring_pointer(int(open_rings[0])))
        xy = to_storage_checked(pos, self.crs, self.jurisdiction, starts=np.asarray(self._entry_starts),
                                pointers=[e[0] for e in self._entries])
        poly_offsets = np.zeros(len(self._rings_per_poly) + 1, dtype=np.int64)
        np.cumsum(self._rings_per_poly, out=poly_offsets[1:])
        polys = shapely.from_ragged_array(GeometryType.POLYGON, xy, (ring_offsets, poly_offsets))
        out: list[BaseGeometry] = []
        for _, p0, n, multi in self._entries:
            out.append(shapely.multipolygons(polys[p0:p0 + n]) if multi else polys[p0])
        self._built = out
        return out


def to_storage_geometry(geometry: Mapping[str, Any], crs: str | CrsRef | None = None, *,
                        jurisdiction: Jurisdiction | None = None, pointer: str = "") -> BaseGeometry:
    """One GeoJSON Polygon / MultiPolygon (authority axis order of ``crs``) → shapely in the storage CRS."""
    ref = crs if isinstance(crs, CrsRef) else parse_crs(crs)
    batch = GeometryBatch(ref, jurisdiction)
    i = batch.add(geometry, pointer)
    return batch.build()[i]
