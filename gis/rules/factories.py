"""Plain keyword-only factories for check requests: scenes in EPSG:4549 metres inside Tiantai.

Used by the tests, the benchmark and the docs. Geometry is built in the storage CRS (x = easting,
y = northing, near E 603 000, N 3 225 000 — 天台经济开发区) and written out as GeoJSON in any CRS, in
that CRS's authority axis order (EPSG:4549: northing first), with a ``crs`` member unless asked not to.

>>> req = split_request(crs="EPSG:4549")
>>> req["crs"], req["lots"]["features"][0]["geometry"]["coordinates"][0][0]
('EPSG:4549', [3225000.0, 603100.0])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from shapely import Polygon, box
from shapely.geometry.base import BaseGeometry

from gis.crs import CRS84, authority_to_storage, parse_crs, transformer

__all__ = [
    "ORIGIN",
    "Scene",
    "bench_split_scene",
    "company",
    "edge_request",
    "feature",
    "feature_collection",
    "geojson",
    "merge_request",
    "parcel_feature",
    "rect",
    "split_request",
    "split_scene",
]

ORIGIN = (603_000.0, 3_225_000.0)  # easting, northing in EPSG:4549
ALL_CONFIRMED = {"planning": True, "fire_safety": True, "environment": True, "contract_permits": True}


def rect(*, x: float, y: float, w: float, h: float, origin: tuple[float, float] = ORIGIN) -> Polygon:
    """A rectangle ``w × h`` m whose south-west corner is ``(x, y)`` m from ``origin`` (storage CRS)."""
    return box(origin[0] + x, origin[1] + y, origin[0] + x + w, origin[1] + y + h)


def _out(xy: np.ndarray, crs: str) -> np.ndarray:
    ref = parse_crs(crs)
    if ref.key == "EPSG:4549":
        pos = xy
    elif ref.key == "EPSG:4528":
        pos = xy + np.array([40_000_000.0, 0.0])
    else:
        x, y = transformer("EPSG:4549", ref.key).transform(xy[:, 0], xy[:, 1])
        pos = np.column_stack([x, y])
    return pos[:, ::-1] if ref.northing_first else pos


def geojson(geom: BaseGeometry, *, crs: str = "EPSG:4549") -> dict[str, Any]:
    """A (Multi)Polygon in storage x/y → a GeoJSON geometry in ``crs``'s authority axis order."""

    def poly(p: BaseGeometry) -> list[list[list[float]]]:
        rings = [shapely.get_exterior_ring(p), *shapely.get_interior_ring(p, range(shapely.get_num_interior_rings(p)))]
        return [_out(shapely.get_coordinates(r), crs).tolist() for r in rings]

    if shapely.get_type_id(geom) == shapely.GeometryType.MULTIPOLYGON:
        return {"type": "MultiPolygon", "coordinates": [poly(p) for p in shapely.get_parts(geom)]}
    return {"type": "Polygon", "coordinates": poly(geom)}


def feature(geom: BaseGeometry, *, crs: str = "EPSG:4549", **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geojson(geom, crs=crs), "properties": properties}


def feature_collection(features: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def company(*, name: str = "浙江天台受让机械有限公司", credit_code: str | None = "91331023MA2X000010",
            rating: str | None = "B", compliance_flags: Sequence[str] | None = (), **extra: Any) -> dict[str, Any]:
    """A holder / transferee object."""
    out: dict[str, Any] = {"name": name, "credit_code": credit_code, "rating": rating}
    if compliance_flags is not None:
        out["compliance_flags"] = list(compliance_flags)
    out.update(extra)
    return {k: v for k, v in out.items() if v is not None}


def parcel_feature(*, geometry: BaseGeometry, crs: str = "EPSG:4549", parcel_code: str = "331023003001GB00001",
                   completed_on: str | None = "2019-05-01", production_started_on: str | None = "2019-09-01",
                   produced_by: str | None = "original", industrial_real_estate: bool = False,
                   standard_land: bool = False, ownership_nature: str = "国有", right_type: str = "出让",
                   lease_end_on: str | None = "2066-05-01", far_actual: float | None = 1.2,
                   floor_area_m2: float | None = 12000.0, holder: Mapping[str, Any] | None = None,
                   **extra: Any) -> dict[str, Any]:
    """An inline parcel Feature with the facts the rules read (CHECKS-API.md); ``None`` leaves a fact out."""
    props = {"parcel_code": parcel_code, "completed_on": completed_on, "production_started_on": production_started_on,
             "produced_by": produced_by, "industrial_real_estate": industrial_real_estate,
             "standard_land": standard_land, "ownership_nature": ownership_nature, "right_type": right_type,
             "lease_end_on": lease_end_on, "far_actual": far_actual, "floor_area_m2": floor_area_m2,
             "holder": dict(holder) if holder is not None else company(name="浙江天台原权利人有限公司",
                                                                         credit_code="91331023MA2X000001", rating="A"),
             **extra}
    return feature(geometry, crs=crs, **{k: v for k, v in props.items() if v is not None})


@dataclass
class Scene:
    """A split scene in storage x/y: parent, lots (with labels), buildings, support land."""

    parent: BaseGeometry
    lots: list[BaseGeometry]
    labels: list[str]
    buildings: list[BaseGeometry]
    support: list[BaseGeometry] = field(default_factory=list)


def split_scene(*, n_lots: int = 3, lot_width: float = 100.0, height: float = 120.0,
                origin: tuple[float, float] = ORIGIN, buildings_per_lot: int = 2, support: bool = True) -> Scene:
    """A rectangular parent cut into ``n_lots`` strips (A, B, C …), each with whole buildings.

    Default: 300 × 120 m (54 mu), three 100 × 120 m lots (18 mu), two 40 × 30 m buildings per lot and
    20 × 30 m of support land in lot A.
    """
    parent = rect(x=0, y=0, w=n_lots * lot_width, h=height, origin=origin)
    lots = [rect(x=i * lot_width, y=0, w=lot_width, h=height, origin=origin) for i in range(n_lots)]
    labels = [chr(ord("A") + i) for i in range(n_lots)]
    bw = (lot_width - 20.0 - 10.0 * (buildings_per_lot - 1)) / max(buildings_per_lot, 1)
    buildings = [rect(x=i * lot_width + 10 + k * (bw + 10), y=10, w=bw, h=30, origin=origin)
                 for i in range(n_lots) for k in range(buildings_per_lot)]
    sup = [rect(x=10, y=height - 40, w=20, h=30, origin=origin)] if support else []
    return Scene(parent, lots, labels, buildings, sup)


def _finish(req: dict[str, Any], *, as_of: str | None, crs: str, crs_member: bool,
            extra: Mapping[str, Any]) -> dict[str, Any]:
    """The members every request shares: ``as_of``, the ``crs`` member (not for CRS84), extra members."""
    if as_of is not None:
        req["as_of"] = as_of
    if crs_member and parse_crs(crs).key != CRS84:
        req["crs"] = crs
    req.update(extra)
    return req


def split_request(*, scene: Scene | None = None, crs: str = "EPSG:4549", crs_member: bool = True,
                  as_of: str | None = "2023-06-01", parcel: Mapping[str, Any] | None = None,
                  parcel_props: Mapping[str, Any] | None = None, retained: Sequence[str] = ("A",),
                  transferees: Mapping[str, Mapping[str, Any] | None] | None = None,
                  building_props: Sequence[Mapping[str, Any]] | None = None,
                  support_props: Sequence[Mapping[str, Any]] | None = None,
                  confirmations: Mapping[str, Any] | None = ALL_CONFIRMED, order: Sequence[int] | None = None,
                  **extra: Any) -> dict[str, Any]:
    """A split request (CHECKS-API.md) for ``scene`` (default :func:`split_scene`).

    Lots not in ``retained`` are transferred to ``transferees[label]`` (default: a B-rated company
    with no flags). ``order`` permutes the lots as sent.
    """
    sc = scene or split_scene()
    transferees = transferees or {}
    lots = []
    for i, (lab, g) in enumerate(zip(sc.labels, sc.lots, strict=True)):
        props: dict[str, Any] = {"label": lab}
        if lab in retained:
            props["retained"] = True
        else:
            t = transferees.get(lab, company(name=f"浙江天台受让{lab}有限公司", credit_code=f"91331023MA2X0000{i:02d}"))
            if t is not None:
                props["transferee"] = dict(t)
        lots.append(feature(g, crs=crs, **props))
    if order is not None:
        lots = [lots[i] for i in order]
    bprops = building_props or [{} for _ in sc.buildings]
    sprops = support_props or [{} for _ in sc.support]
    req: dict[str, Any] = {
        "parcel": dict(parcel) if parcel is not None else parcel_feature(geometry=sc.parent, crs=crs,
                                                                         **(parcel_props or {})),
        "buildings": feature_collection([feature(b, crs=crs, number=str(i + 1), **p)
                                         for i, (b, p) in enumerate(zip(sc.buildings, bprops, strict=True))]),
        "support_land": feature_collection([feature(s, crs=crs, name=f"S{i + 1}", **p)
                                            for i, (s, p) in enumerate(zip(sc.support, sprops, strict=True))]),
        "lots": feature_collection(lots),
    }
    if confirmations is not None:
        req["confirmations"] = dict(confirmations)
    return _finish(req, as_of=as_of, crs=crs, crs_member=crs_member, extra=extra)


def merge_request(*, parcels: Sequence[BaseGeometry] | None = None, crs: str = "EPSG:4549", crs_member: bool = True,
                  as_of: str | None = "2023-06-01", parcel_props: Sequence[Mapping[str, Any]] | None = None,
                  holder: Mapping[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """A merge request; default: three 100 × 80 m parcels side by side, all 国有 出让."""
    geoms = list(parcels) if parcels is not None else [rect(x=i * 100.0, y=0, w=100, h=80) for i in range(3)]
    pprops = parcel_props or [{} for _ in geoms]
    feats = [parcel_feature(geometry=g, crs=crs, **{"parcel_code": f"331023003001GB{i + 11:05d}",
                                                    "lease_end_on": f"20{60 + i}-05-01", **p})
             for i, (g, p) in enumerate(zip(geoms, pprops, strict=True))]
    req: dict[str, Any] = {"parcels": feats,
                           "holder": dict(holder) if holder is not None else company(name="浙江天台合并受让有限公司")}
    return _finish(req, as_of=as_of, crs=crs, crs_member=crs_member, extra=extra)


def edge_request(*, parcel: BaseGeometry | None = None, plots: Sequence[BaseGeometry] | None = None,
                 crs: str = "EPSG:4549", crs_member: bool = True, as_of: str | None = "2023-06-01",
                 parcel_props: Mapping[str, Any] | None = None, far_before: float | None = 1.0,
                 far_after: float | None = 1.25, confirmations: Mapping[str, Any] | None = None,
                 other_parcels: Sequence[BaseGeometry] | None = None, **extra: Any) -> dict[str, Any]:
    """An edge-plot request; default: a 200 × 150 m parcel (45 mu) with one 20 × 150 m plot east of it."""
    base = parcel if parcel is not None else rect(x=0, y=0, w=200, h=150)
    plot_geoms = list(plots) if plots is not None else [rect(x=200, y=0, w=20, h=150)]
    props = {"in_development_zone": True, **(parcel_props or {})}
    req: dict[str, Any] = {
        "parcel": parcel_feature(geometry=base, crs=crs, **props),
        "plots": feature_collection([feature(g, crs=crs, label=f"P{i + 1}") for i, g in enumerate(plot_geoms)]),
        "confirmations": dict(confirmations) if confirmations is not None else {"industrial_guidance": True},
    }
    if far_before is not None:
        req["far_before"] = far_before
    if far_after is not None:
        req["far_after"] = far_after
    if other_parcels is not None:
        req["other_parcels"] = feature_collection(
            [feature(g, crs=crs, parcel_code=f"331023003001GB{900 + i:05d}") for i, g in enumerate(other_parcels)])
    return _finish(req, as_of=as_of, crs=crs, crs_member=crs_member, extra=extra)


def bench_split_scene(*, vertices: int = 200, n_buildings: int = 30, n_lots: int = 3,
                      origin: tuple[float, float] = ORIGIN) -> Scene:
    """The benchmark scene: a ``vertices``-vertex parent (a wavy oval, ~9 ha) cut into ``n_lots`` strips."""
    t = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    r = 150 + 10 * np.sin(7 * t)
    cx, cy = origin[0] + 200.0, origin[1] + 160.0
    parent = Polygon(np.column_stack([cx + 1.3 * r * np.cos(t), cy + r * np.sin(t)]))
    minx, miny, maxx, maxy = parent.bounds
    w = (maxx - minx) / n_lots
    strips = [box(minx - 1 + (1 if i else 0) + i * w, miny - 1, minx + (i + 1) * w + (1 if i == n_lots - 1 else 0),
                  maxy + 1) for i in range(n_lots)]
    lots = [shapely.intersection(parent, s) for s in strips]
    per = n_buildings // n_lots
    buildings = []
    for i in range(n_lots):
        x0 = minx + (i + 0.5) * w
        for k in range(per):
            buildings.append(box(x0 - 20 + (k % 2) * 22, cy - 90 + (k // 2) * 35, x0 - 2 + (k % 2) * 22,
                                 cy - 65 + (k // 2) * 35))
    x0 = minx + 0.5 * w
    support = [shapely.intersection(shapely.buffer(lots[0], -3.0), box(x0 - 15, cy + 78, x0 + 15, cy + 92))]
    return Scene(parent, lots, [chr(ord("A") + i) for i in range(n_lots)], buildings, support)


def from_authority(coords: Sequence[Sequence[float]], crs: str) -> np.ndarray:
    """Inverse of the writer: authority-order positions in ``crs`` → storage x/y (for assertions)."""
    return authority_to_storage(np.asarray(coords, dtype=float), parse_crs(crs), "EPSG:4549")
