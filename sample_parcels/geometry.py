"""Planar building blocks of the sample layout.

Blocks are drawn in *local* integer metres (origin at the block's lower-left corner), so that every
shared boundary between neighbouring parcels is exact. :func:`node` then gives each polygon every
vertex of its neighbours that lies on its edges (no T-junctions), so that after the block is
placed, rotated and snapped each shared edge is the same list of segments on both sides and the
parcels still meet with intersection area exactly 0.

:func:`snap_lonlat` makes every EPSG:4549 vertex the projection of a point on the 1e-7° grid, so
the RFC 7946 GeoJSON (7 decimals) loses nothing: reprojected back it gives the same coordinates.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely import Polygon, affinity, box

from gis.crs import CRS84, transformer

__all__ = [
    "Layout",
    "Placement",
    "guillotine",
    "kink",
    "layout_buildings",
    "node",
    "notch",
    "snap_lonlat",
    "to_lonlat",
]

MIN_SIDE = 40  # m, smallest parcel side the partition produces
MIN_AREA = 5400  # m², a little over 8 mu


def guillotine(
    rect: tuple[int, int, int, int], k: int, rng: np.random.Generator, *, lane: int = 0
) -> list[tuple[int, int, int, int]]:
    """Cut ``rect`` into up to ``k`` integer rectangles, largest piece first, ``lane`` m apart."""
    pieces = [rect]
    for _ in range(k - 1):
        pieces.sort(key=lambda r: (r[2] - r[0]) * (r[3] - r[1]), reverse=True)
        for idx, (x0, y0, x1, y1) in enumerate(pieces):
            cut = _cut(x0, y0, x1, y1, rng, lane)
            if cut:
                pieces[idx : idx + 1] = cut
                break
        else:
            break
    return pieces


def _cut(x0: int, y0: int, x1: int, y1: int, rng: np.random.Generator, lane: int):
    w, h = x1 - x0, y1 - y0
    for vertical in (w >= h, w < h):
        span, other = (w, h) if vertical else (h, w)
        f = rng.uniform(0.35, 0.65)
        c = round(f * span)
        a, b = c - lane // 2, span - c - lane // 2
        if min(a, b) < MIN_SIDE or min(a, b) * other < MIN_AREA:
            continue
        if vertical:
            return [(x0, y0, x0 + a, y1), (x1 - b, y0, x1, y1)]
        return [(x0, y0, x1, y0 + a), (x0, y1 - b, x1, y1)]
    return None


def notch(rect: tuple[int, int, int, int], corner: int, nx: int, ny: int) -> Polygon:
    """``rect`` with an ``nx`` × ``ny`` bite out of corner 0 (SW), 1 (SE), 2 (NE) or 3 (NW)."""
    x0, y0, x1, y1 = rect
    cx, cy = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)][corner]
    bite = box(min(cx, cx + (nx if cx == x0 else -nx)), min(cy, cy + (ny if cy == y0 else -ny)),
               max(cx, cx + (nx if cx == x0 else -nx)), max(cy, cy + (ny if cy == y0 else -ny)))
    return shapely.orient_polygons(box(*rect).difference(bite))


def kink(poly: Polygon, edge: int, offset: int) -> Polygon:
    """Add a vertex at the middle of exterior edge ``edge``, pushed ``offset`` m outwards."""
    coords = list(shapely.orient_polygons(poly).exterior.coords)[:-1]
    (ax, ay), (bx, by) = coords[edge], coords[(edge + 1) % len(coords)]
    mx, my = (ax + bx) // 2, (ay + by) // 2
    # exterior is counter-clockwise: the outward normal of (dx, dy) is (dy, -dx)
    dx, dy = int(np.sign(bx - ax)), int(np.sign(by - ay))
    coords.insert(edge + 1, (mx + offset * dy, my - offset * dx))
    return Polygon(coords)


def node(polys: list[Polygon]) -> list[Polygon]:
    """Insert into each polygon's exterior every vertex of the others lying on one of its edges.

    Works on exact (integer) coordinates: a point is on an edge iff the cross product is 0.
    """
    pts = {p for poly in polys for p in poly.exterior.coords}
    out = []
    for poly in polys:
        ring = list(poly.exterior.coords)
        new = [ring[0]]
        for a, b in itertools.pairwise(ring):
            on = []
            dx, dy = b[0] - a[0], b[1] - a[1]
            length2 = dx * dx + dy * dy
            for p in pts:
                if p in (a, b):
                    continue
                px, py = p[0] - a[0], p[1] - a[1]
                if dx * py - dy * px != 0:
                    continue
                t = dx * px + dy * py
                if 0 < t < length2:
                    on.append((t, p))
            new.extend(p for _, p in sorted(on))
            new.append(b)
        out.append(Polygon(new))
    return out


@dataclass(frozen=True)
class Placement:
    """Local block → EPSG:4549: shear along x, rotate about the block centre, translate."""

    x0: float
    y0: float
    width: float
    height: float
    angle_deg: float = 0.0
    shear: float = 0.0

    def apply(self, geoms):
        cx, cy = self.width / 2, self.height / 2
        th = math.radians(self.angle_deg)
        c, s, k = math.cos(th), math.sin(th), self.shear
        # p' = R · (S · (p − centre)) + centre + origin, with S = [[1, k], [0, 1]]
        a, b, d, e = c, c * k - s, s, s * k + c
        xoff = self.x0 + cx - (a * cx + b * cy)
        yoff = self.y0 + cy - (d * cx + e * cy)
        m = [a, b, d, e, xoff, yoff]
        if isinstance(geoms, list | tuple | np.ndarray):
            return [affinity.affine_transform(g, m) for g in geoms]
        return affinity.affine_transform(geoms, m)


def to_lonlat(geoms, epsg: int = 4549):
    """EPSG:4549 → CRS84 (lon, lat) rounded to 1e-7° (RFC 7946 precision)."""
    tr = transformer(f"EPSG:{epsg}", CRS84)

    def _f(xy: np.ndarray) -> np.ndarray:
        lon, lat = tr.transform(xy[:, 0], xy[:, 1])
        return np.round(np.column_stack([lon, lat]), 7)

    return shapely.transform(geoms, _f)


def snap_lonlat(geoms, epsg: int = 4549):
    """Move each vertex to the projection of the nearest 1e-7° lon/lat grid point (≤ ~6 mm)."""
    back = transformer(CRS84, f"EPSG:{epsg}")

    def _b(xy: np.ndarray) -> np.ndarray:
        x, y = back.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(to_lonlat(geoms, epsg), _b)


# --- buildings and support land -------------------------------------------------------------


@dataclass
class Layout:
    support: Polygon | None
    office: Polygon | None  # inside ``support``
    workshops: list[Polygon]


def _mitre(poly: Polygon, d: float) -> Polygon:
    return poly.buffer(-d, join_style="mitre")


def support_box(poly: Polygon, area: float, rng: np.random.Generator) -> Polygon | None:
    """A rectangle of ``area`` m² in one corner of ``poly``, kept 1.5 m inside its boundary."""
    x0, y0, x1, y1 = poly.bounds
    aspect = rng.uniform(1.0, 1.6)
    sw = round(math.sqrt(area * aspect), 1)
    sh = round(area / sw, 1)
    inside = _mitre(poly, 1.0)
    corners = [(x0 + 1.5, y0 + 1.5, 1, 1), (x1 - 1.5, y0 + 1.5, -1, 1),
               (x0 + 1.5, y1 - 1.5, 1, -1), (x1 - 1.5, y1 - 1.5, -1, -1)]
    start = int(rng.integers(2))  # usually the front (south) side
    for cx, cy, sx, sy in corners[start:] + corners[:start]:
        b = box(min(cx, cx + sx * sw), min(cy, cy + sy * sh), max(cx, cx + sx * sw), max(cy, cy + sy * sh))
        if inside.contains(b):
            return b
    return None


def layout_buildings(
    poly: Polygon,
    rng: np.random.Generator,
    *,
    n_work: int,
    support_area: float | None,
    setback: float = 5.0,
    spacing: float = 12.0,
    shrink: tuple[float, float] = (0.8, 0.97),
    front_only: float = 1.0,
) -> Layout:
    """Support land (with its office building) in a corner and ``n_work`` workshops on a grid.

    The grid (columns × rows) that covers the most ground wins; cells that reach into the
    support land's fire gap are cut back. ``front_only`` < 1 keeps the workshops in that fraction
    of the depth (a site under way).
    """
    support = support_box(poly, support_area, rng) if support_area else None
    office = None
    if support is not None:
        sx0, sy0, sx1, sy1 = support.bounds
        if sx1 - sx0 >= 11 and sy1 - sy0 >= 11:
            office = box(sx0 + 3, sy0 + 3, sx1 - 3, min(sy1 - 3, sy0 + 3 + max(8.0, (sy1 - sy0) * 0.5)))
    inner = _mitre(poly, setback)
    keep_out = support.buffer(spacing, join_style="mitre") if support is not None else None
    region = inner.difference(keep_out) if keep_out is not None else inner
    rx0, ry0, rx1, ry1 = inner.bounds
    ry1 = ry0 + (ry1 - ry0) * front_only
    w, h = rx1 - rx0, ry1 - ry0
    best: list[Polygon] = []
    for cols in range(1, 7):
        for rows in range(1, 5):
            if not n_work <= cols * rows <= n_work + 3:
                continue
            cw, ch = w / cols, h / rows
            if cw - spacing < 10 or ch - spacing < 10:
                continue
            cells = []
            for r in range(rows):
                for c in range(cols):
                    cell = box(rx0 + c * cw + spacing / 2, ry0 + r * ch + spacing / 2,
                               rx0 + (c + 1) * cw - spacing / 2, ry0 + (r + 1) * ch - spacing / 2)
                    cell = _fit(cell, region)
                    if cell is not None:
                        cells.append(cell)
            cells = cells[:n_work]
            if sum(c.area for c in cells) > sum(c.area for c in best):
                best = cells
    workshops = []
    for cell in best:
        x0, y0, x1, y1 = cell.bounds
        bw, bh = (x1 - x0) * rng.uniform(*shrink), (y1 - y0) * rng.uniform(*shrink)
        workshops.append(box(round(x0, 1), round(y0, 1), round(x0 + bw, 1), round(y0 + bh, 1)))
    if n_work and not workshops:
        raise RuntimeError("no room for a building")  # the partition keeps sides ≥ 40 m
    return Layout(support, office, workshops)


def _fit(cell: Polygon, region: Polygon, depth: int = 2) -> Polygon | None:
    """``cell`` if it lies in ``region``, else its largest part clear of what sticks out (a support
    land's fire gap, a notch), cut back along the bounding box of the offending part."""
    if region.contains(cell):
        return cell
    if depth == 0:
        return None
    cx0, cy0, cx1, cy1 = cell.bounds
    kx0, ky0, kx1, ky1 = cell.difference(region).bounds
    parts = [(max(cx0, kx1), cy0, cx1, cy1), (cx0, cy0, min(cx1, kx0), cy1),
             (cx0, max(cy0, ky1), cx1, cy1), (cx0, cy0, cx1, min(cy1, ky0))]
    ok = [_fit(box(*p), region, depth - 1) for p in parts if min(p[2] - p[0], p[3] - p[1]) >= 10]
    ok = [p for p in ok if p is not None]
    return max(ok, key=lambda p: p.area) if ok else None
