"""Planar geometry of the checks, in the storage CRS (metres): validity, tiling, adjacency.

Every function takes shapely geometries in the storage CRS (EPSG:4549 for Tiantai) and answers in
metres / m². Tolerances are explicit arguments (``tolerance_m``, ``sliver_area_m2``), normally the
rule set's.

Definitions used by the rules
-----------------------------
*Within tolerance* (a building in a lot, support land in a lot): ``geom`` lies inside ``container``
grown by ``tolerance_m`` — :func:`within_tolerance`. A footprint crossing a lot line by 0.03 m is
within a lot (tolerance 0.05 m); one crossing by 0.5 m is not.

*Overlap, gap and outside areas* are measured after snapping within ``tolerance_m``: each lot's
vertices move onto the parent's (and the lots' already placed) vertices within the tolerance, and
those vertices are inserted into its edges (:func:`snap_parts`, :func:`tiling`). A cut line drawn
2 cm off its neighbour's along 120 m is survey noise (2.4 m² before snapping), not an overlap; the
snapped lots are what is measured, so their areas sum to the parent's.

*Shared boundary* of two polygons: the length of their common boundary once each is snapped to
the other within ``tolerance_m`` — :func:`shared_boundary_length`. A 2 cm gap along a 100 m edge
shares 100 m; a corner touch shares 0 m; tolerance never lengthens a contact.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely import GeometryType
from shapely.geometry.base import BaseGeometry

__all__ = [
    "Adjacency",
    "Piece",
    "Tiling",
    "Validity",
    "adjacency_graph",
    "as_valid",
    "is_single_polygon",
    "location_of",
    "measurable",
    "merged_outline",
    "overlap_after_snap",
    "part_outside",
    "prepared",
    "same_outline",
    "shared_boundary_length",
    "snap_parts",
    "snap_to",
    "tiling",
    "validities",
    "validity",
    "within_tolerance",
]

_REASON = re.compile(r"^(?P<reason>[^\[]+?)\s*\[(?P<x>[-+0-9.eE]+)\s+(?P<y>[-+0-9.eE]+)\]\s*$")
_POLYGONAL = (GeometryType.POLYGON, GeometryType.MULTIPOLYGON)


@dataclass(frozen=True)
class Validity:
    """Whether a geometry is valid (OGC), and if not GEOS's reason and where (storage x, y).

    >>> from shapely import Polygon
    >>> validity(Polygon([(0, 0), (2, 2), (2, 0), (0, 2)]))
    Validity(valid=False, reason='Self-intersection', location=(1.0, 1.0))
    """

    valid: bool
    reason: str | None = None
    location: tuple[float, float] | None = None


def validity(geom: BaseGeometry) -> Validity:
    """Validity with the reason and location, as GEOS reports them (``is_valid_reason``)."""
    if shapely.is_valid(geom):
        return Validity(True)
    if geom is None or shapely.is_empty(geom):
        return Validity(False, "Empty geometry")
    text = shapely.is_valid_reason(geom)
    m = _REASON.match(text or "")
    if m:
        return Validity(False, m.group("reason"), (float(m.group("x")), float(m.group("y"))))
    return Validity(False, text or "Invalid geometry", None)


def validities(geoms: Sequence[BaseGeometry] | np.ndarray) -> list[Validity]:
    """:func:`validity` of many geometries; the validity test is vectorised, reasons only for failures."""
    arr = np.asarray(geoms, dtype=object)
    ok = shapely.is_valid(arr)
    return [Validity(True) if flag else validity(g) for g, flag in zip(arr, ok, strict=True)]


def is_single_polygon(geom: BaseGeometry) -> bool:
    """A Polygon, or a MultiPolygon of exactly one part."""
    t = shapely.get_type_id(geom)
    return t == GeometryType.POLYGON or (t == GeometryType.MULTIPOLYGON and shapely.get_num_geometries(geom) == 1)


def as_valid(geom: BaseGeometry) -> BaseGeometry:
    """A valid polygonal stand-in for measuring an invalid geometry (it is never stored or returned).

    Rules that only measure (areas, containment) use it so one invalid lot does not stop the other
    rules; the rule that judges geometry (SPLIT-06 …) still fails on the original.
    """
    if shapely.is_valid(geom):
        return geom
    fixed = shapely.make_valid(geom)
    if shapely.get_type_id(fixed) not in _POLYGONAL:
        parts = shapely.get_parts(fixed)
        polys = [p for p in parts if shapely.get_type_id(p) in _POLYGONAL]
        fixed = shapely.union_all(polys) if polys else shapely.Polygon()
    return fixed


def measurable(geoms, validity: list[Validity]) -> np.ndarray:
    """The geometries as an object array, each invalid one replaced by its :func:`as_valid` stand-in."""
    arr = np.empty(len(geoms), dtype=object)
    arr[:] = [g if v.valid else as_valid(g) for g, v in zip(geoms, validity, strict=True)]
    return arr


def prepared(geom: BaseGeometry) -> BaseGeometry:
    """``geom`` prepared for repeated predicates (in place; returns it for chaining)."""
    shapely.prepare(geom)
    return geom


def location_of(geom: BaseGeometry) -> tuple[float, float] | None:
    """A point guaranteed to lie on ``geom`` (for "where" in messages), or None if empty."""
    if geom is None or shapely.is_empty(geom):
        return None
    p = shapely.point_on_surface(geom)
    return (float(shapely.get_x(p)), float(shapely.get_y(p)))


def snap_to(geom: BaseGeometry, reference: BaseGeometry, tolerance_m: float) -> BaseGeometry:
    """Snap ``geom``'s vertices (and segments) to ``reference``'s vertices within ``tolerance_m``.

    GEOS snapping can leave a polygon self-touching; the result is made valid again.
    """
    out = shapely.snap(geom, reference, tolerance_m)
    return as_valid(out)


def within_tolerance(geom: BaseGeometry, container: BaseGeometry, tolerance_m: float) -> bool:
    """Does ``geom`` lie within ``container`` grown by ``tolerance_m``?"""
    if shapely.covers(container, geom):
        return True
    grown = shapely.buffer(container, tolerance_m, quad_segs=4)
    return bool(shapely.covers(grown, geom))


def part_outside(geom: BaseGeometry, container: BaseGeometry) -> tuple[float, float]:
    """Area of ``geom`` outside ``container`` (m²) and how far it reaches beyond it (m, at vertices)."""
    outside = shapely.difference(geom, container)
    if shapely.is_empty(outside):
        return 0.0, 0.0
    pts = shapely.points(shapely.get_coordinates(outside))
    return float(shapely.area(outside)), float(np.max(shapely.distance(container, pts)))


def _ring_complex(poly: BaseGeometry) -> np.ndarray:
    """A hole-free polygon's exterior vertices (without the closing one) as complex numbers x + iy."""
    xy = shapely.get_coordinates(poly)
    return np.ascontiguousarray(xy[:-1]).view(np.complex128).ravel()


def same_outline(a: BaseGeometry, b: BaseGeometry, eps: float = 1e-6) -> bool:
    """Is polygon ``a`` polygon ``b`` with, at most, extra vertices lying on ``b``'s edges (within ``eps``)?

    A cheap exact test (vertex comparison, no overlay) that lets :func:`tiling` skip the costly
    ``parent ∩ union(lots)`` when the lots' union is the parent with the cut points added. False
    means "not shown equal", never "different": callers then do the full overlay.
    """
    if shapely.get_type_id(a) != 3 or shapely.get_type_id(b) != 3:  # Polygon
        return False
    if shapely.get_num_interior_rings(a) or shapely.get_num_interior_rings(b):
        return False
    ca, cb = _ring_complex(a), _ring_complex(b)
    n = len(cb)
    sb = np.sort(cb)  # membership by binary search: np.isin / np.unique cost ~10x more here
    if n < 3 or bool((sb[1:] == sb[:-1]).any()):
        return False
    in_b = sb[np.minimum(np.searchsorted(sb, ca), n - 1)] == ca
    common_idx = np.flatnonzero(in_b)
    if len(common_idx) != n:
        return False
    common = ca[common_idx]
    k = int(np.argmax(common == cb[0]))
    rot = np.concatenate((common[k:], common[:k]))
    if not (rot == cb).all():
        rev = np.concatenate((rot[:1], rot[:0:-1]))  # the same ring walked the other way round
        if not (rev == cb).all():
            return False
    if len(common_idx) == len(ca):
        return True
    extra_idx = np.flatnonzero(~in_b)
    j = np.searchsorted(common_idx, extra_idx)
    p0 = ca[common_idx[j - 1]]
    d = ca[common_idx[j % n]] - p0
    q = ca[extra_idx] - p0
    denom = (d * d.conjugate()).real
    t = np.clip((q * d.conjugate()).real / np.where(denom > 0, denom, 1.0), 0.0, 1.0)
    return bool((np.abs(q - t * d) <= eps).all())


@dataclass(frozen=True)
class Piece:
    """One overlap / gap / outside part: its area, where it is, and which parts it involves."""

    area_m2: float
    location: tuple[float, float] | None
    parts: tuple[int, ...] = ()


@dataclass(frozen=True)
class Tiling:
    """How parts (lots) tile a parent, measured after snapping the parts within tolerance.

    ``parts`` are the geometries measured: the input parts themselves when nothing exceeded the
    sliver, else the parts snapped to the parent and to each other (:func:`snap_parts`); their areas
    are the lots' areas. ``raw`` holds the figures before snapping.
    """

    overlap_m2: float
    gap_m2: float
    outside_m2: float
    raw: dict[str, float]
    parts: tuple[BaseGeometry, ...]
    snapped: bool = False
    overlaps: tuple[Piece, ...] = ()
    gaps: tuple[Piece, ...] = ()
    outside: tuple[Piece, ...] = ()

    def ok(self, sliver_area_m2: float) -> bool:
        return max(self.overlap_m2, self.gap_m2, self.outside_m2) <= sliver_area_m2


def _pieces(geom: BaseGeometry, parts: tuple[int, ...] = ()) -> list[Piece]:
    out = []
    for g in shapely.get_parts(geom):
        if shapely.get_type_id(g) != GeometryType.POLYGON:
            continue
        a = float(shapely.area(g))
        if a > 0:
            out.append(Piece(a, location_of(g), parts))
    return sorted(out, key=lambda p: -p.area_m2)


def _single(geom: BaseGeometry) -> BaseGeometry:
    """A one-part MultiPolygon (as the register stores parcels) as its Polygon."""
    if shapely.get_type_id(geom) == GeometryType.MULTIPOLYGON and shapely.get_num_geometries(geom) == 1:
        return shapely.get_geometry(geom, 0)
    return geom


def _figures(parent: BaseGeometry, parts: np.ndarray) -> tuple[BaseGeometry, float, float, float]:
    parent = _single(parent)
    union = _single(shapely.union_all(parts))
    a_parent = float(shapely.area(parent))
    a_union = float(shapely.area(union))
    overlap = max(0.0, float(np.sum(shapely.area(parts))) - a_union)
    if same_outline(union, parent):
        return union, overlap, max(0.0, a_parent - a_union), max(0.0, a_union - a_parent)
    inter = float(shapely.area(shapely.intersection(parent, union)))
    return union, overlap, max(0.0, a_parent - inter), max(0.0, a_union - inter)


def snap_parts(parent: BaseGeometry, parts: Sequence[BaseGeometry], tolerance_m: float,
               order: Sequence[int] | None = None) -> list[BaseGeometry]:
    """Snap each part to the parent and to the parts snapped before it, within ``tolerance_m``.

    Sequential, so two parts never swap vertices; ``order`` (default: as given) should be a
    canonical order (e.g. by label) so the result does not depend on how the parts were sent.
    """
    out: list[BaseGeometry | None] = [None] * len(parts)
    reference = [parent]
    for i in (order if order is not None else range(len(parts))):
        g = snap_to(parts[i], shapely.geometrycollections(reference), tolerance_m)
        out[i] = g
        reference.append(g)
    return out  # type: ignore[return-value]


def tiling(parent: BaseGeometry, parts: Sequence[BaseGeometry], *, tolerance_m: float,
           sliver_area_m2: float, order: Sequence[int] | None = None) -> Tiling:
    """Measure how ``parts`` (valid polygons) tile ``parent``: overlap, gap and outside areas.

    Fast path: the union of the parts is computed once; when it is the parent's outline with only
    cut points added (:func:`same_outline`) gap and outside are zero, and the overlap is
    ``Σ area(part) − area(union)``. When a figure exceeds ``sliver_area_m2`` the parts are snapped
    (:func:`snap_parts`, in ``order``), measured again, and the pieces above the sliver located.

    >>> from shapely import box
    >>> t = tiling(box(0, 0, 100, 100), [box(0, 0, 50.02, 100), box(50, 0, 100, 100)], tolerance_m=0.05,
    ...            sliver_area_m2=1.0)
    >>> t.snapped, round(t.overlap_m2, 6), t.raw["overlap_m2"] > 1
    (True, 0.0, True)
    """
    arr = np.empty(len(parts), dtype=object)
    arr[:] = list(parts)
    _, overlap_raw, gap_raw, outside_raw = _figures(parent, arr)
    raw = {"overlap_m2": overlap_raw, "gap_m2": gap_raw, "outside_m2": outside_raw}
    if max(overlap_raw, gap_raw, outside_raw) <= sliver_area_m2:
        return Tiling(overlap_raw, gap_raw, outside_raw, raw, tuple(arr))

    snapped = np.empty(len(parts), dtype=object)
    snapped[:] = snap_parts(parent, list(arr), tolerance_m, order)
    union, overlap, gap, outside = _figures(parent, snapped)
    overlaps: list[Piece] = []
    if overlap > sliver_area_m2:
        tree = shapely.STRtree(snapped)
        left, right = tree.query(snapped, predicate="intersects")
        for i, j in zip(left.tolist(), right.tolist(), strict=True):
            if i < j:
                overlaps += _pieces(shapely.intersection(snapped[i], snapped[j]), (i, j))
    gaps = _pieces(shapely.difference(parent, union)) if gap > sliver_area_m2 else []
    outside_pieces: list[Piece] = []
    if outside > sliver_area_m2:
        for i, p in enumerate(snapped):
            outside_pieces += _pieces(shapely.difference(p, parent), (i,))
    return Tiling(overlap, gap, outside, raw, tuple(snapped), True, tuple(overlaps), tuple(gaps),
                  tuple(outside_pieces))


def overlap_after_snap(a: BaseGeometry, b: BaseGeometry, tolerance_m: float) -> tuple[float, BaseGeometry]:
    """Area (m²) and geometry of ``a ∩ b`` after snapping ``b`` to ``a`` within ``tolerance_m``.

    >>> from shapely import box
    >>> overlap_after_snap(box(0, 0, 10, 10), box(9.97, 0, 20, 10), 0.05)[0]
    0.0
    """
    if not shapely.intersects(a, b):
        return 0.0, shapely.Polygon()
    inter = shapely.intersection(a, snap_to(b, a, tolerance_m))
    polys = [g for g in shapely.get_parts(inter) if shapely.get_type_id(g) in _POLYGONAL]
    if not polys:
        return 0.0, shapely.Polygon()
    geom = shapely.union_all(polys)
    return float(shapely.area(geom)), geom


def shared_boundary_length(a: BaseGeometry, b: BaseGeometry, tolerance_m: float,
                           enough: float | None = None) -> float:
    """Length of the boundary ``a`` and ``b`` share, allowing them to be ``tolerance_m`` apart.

    Coincident edges are measured directly; when they are already ``enough`` (e.g.
    ``min_shared_edge_m``) that is the answer. Otherwise ``a`` is snapped to ``b`` and ``b`` to the
    result (vertices and edges within ``tolerance_m`` made to coincide) and the common boundary of
    the two is measured. Tolerance only closes survey-noise gaps: it never lengthens a contact, so
    a corner touch shares 0 m and a 0.9 m contact stays 0.9 m.

    >>> from shapely import box
    >>> round(shared_boundary_length(box(0, 0, 10, 10), box(10.02, 2, 20, 7), 0.05), 6)
    5.0
    >>> shared_boundary_length(box(0, 0, 10, 10), box(10, 10, 20, 20), 0.05)
    0.0
    """
    if not shapely.dwithin(a, b, tolerance_m):
        return 0.0
    exact = 0.0
    if shapely.intersects(a, b):
        exact = float(shapely.length(shapely.intersection(shapely.boundary(a), shapely.boundary(b))))
        if enough is not None and exact >= enough:
            return exact
    a2 = snap_to(a, b, tolerance_m)
    b2 = snap_to(b, a2, tolerance_m)
    snapped = float(shapely.length(shapely.intersection(shapely.boundary(a2), shapely.boundary(b2))))
    return max(exact, snapped)


@dataclass(frozen=True)
class Adjacency:
    """Which geometries adjoin which (shared boundary ≥ ``min_shared_edge_m``), and the components."""

    n: int
    lengths: dict[tuple[int, int], float]
    edges: frozenset[tuple[int, int]]
    components: tuple[tuple[int, ...], ...]

    def neighbours(self, i: int) -> list[int]:
        return sorted({b if a == i else a for a, b in self.edges if i in (a, b)})

    def component_of(self, i: int) -> tuple[int, ...]:
        return next(c for c in self.components if i in c)

    def connected(self) -> bool:
        return len(self.components) <= 1

    def best_length(self, i: int) -> float:
        """The longest shared boundary of ``i`` with any other geometry (0 if none)."""
        return max((v for (a, b), v in self.lengths.items() if i in (a, b)), default=0.0)


def adjacency_graph(geoms: Sequence[BaseGeometry], *, tolerance_m: float, min_shared_edge_m: float) -> Adjacency:
    """The adjacency graph of ``geoms``: an edge where the shared boundary is ≥ ``min_shared_edge_m``.

    Candidate pairs come from one vectorised ``dwithin`` per geometry; only those are measured.
    """
    arr = np.asarray(geoms, dtype=object)
    n = len(arr)
    lengths: dict[tuple[int, int], float] = {}
    for i in range(n - 1):
        near = np.flatnonzero(shapely.dwithin(arr[i], arr[i + 1:], tolerance_m)) + i + 1
        for j in near.tolist():
            lengths[(i, j)] = shared_boundary_length(arr[i], arr[j], tolerance_m, enough=min_shared_edge_m)
    edges = frozenset(k for k, v in lengths.items() if v >= min_shared_edge_m)
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        parent[find(a)] = find(b)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    components = tuple(sorted((tuple(g) for g in groups.values()), key=lambda c: c[0]))
    return Adjacency(n, lengths, edges, components)


def merged_outline(geoms: Sequence[BaseGeometry], tolerance_m: float) -> BaseGeometry:
    """The union of ``geoms``, with gaps narrower than ``tolerance_m`` closed (morphological closing).

    The result is one Polygon when the inputs form one piece within tolerance.
    """
    union = shapely.union_all(np.asarray(geoms, dtype=object))
    if shapely.get_type_id(union) == GeometryType.POLYGON:
        return union
    r = tolerance_m / 2
    grown = shapely.union_all(shapely.buffer(np.asarray(geoms, dtype=object), r, join_style="mitre"))
    closed = shapely.buffer(grown, -r, join_style="mitre")
    if shapely.get_type_id(closed) == GeometryType.MULTIPOLYGON and shapely.get_num_geometries(closed) == 1:
        closed = shapely.get_geometry(closed, 0)
    return closed
