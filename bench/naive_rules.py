"""The peer of bench_rules: a straightforward shapely check, as one would first write it.

It does the same geometric work as the engine's split and merge rules (parse every GeoJSON member
with ``shape()``, swap authority axes, areas, building × lot intersections, pairwise overlaps,
union, gap / outside areas, support land, shared-boundary lengths) with no preparation, no
vectorisation and no caching — what issue 3 calls "a straightforward shapely version".
"""

from __future__ import annotations

from itertools import combinations

import shapely
from shapely.geometry import shape
from shapely.ops import unary_union

from gis.units import MU_M2


def _geom(feature: dict, northing_first: bool):
    g = shape(feature["geometry"])
    return shapely.transform(g, lambda c: c[:, ::-1]) if northing_first else g


def naive_split(request: dict) -> dict:
    nf = request.get("crs", "EPSG:4549") != "OGC:CRS84"
    parent = _geom(request["parcel"], nf)
    lots = [(f["properties"]["label"], _geom(f, nf)) for f in request["lots"]["features"]]
    buildings = [_geom(f, nf) for f in request["buildings"]["features"]]
    support = [_geom(f, nf) for f in request["support_land"]["features"]]
    out: dict = {"areas": {lab: g.area / MU_M2 for lab, g in lots}}
    cut = []
    for b in buildings:
        inside = [lab for lab, g in lots if b.intersection(g).area > 0.01]
        if len(inside) != 1 or not lots[[lab for lab, _ in lots].index(inside[0])][1].buffer(0.05).contains(b):
            cut.append(b)
    out["cut"] = len(cut)
    out["empty_lots"] = [lab for lab, g in lots if not any(g.contains(b) for b in buildings)]
    out["overlap"] = sum(a.intersection(b).area for (_, a), (_, b) in combinations(lots, 2))
    union = unary_union([g for _, g in lots])
    out["gap"] = parent.difference(union).area
    out["outside"] = union.difference(parent).area
    out["valid"] = all(g.is_valid for _, g in lots)
    out["support"] = [[lab for lab, g in lots if g.buffer(0.05).contains(s)] for s in support]
    return out


def naive_merge(request: dict) -> dict:
    nf = request.get("crs", "EPSG:4549") != "OGC:CRS84"
    parcels = [_geom(f, nf) for f in request["parcels"]]
    shared = {(i, j): a.buffer(0.05).intersection(b.boundary).length
              for (i, a), (j, b) in combinations(enumerate(parcels), 2)}
    union = unary_union(parcels)
    overlap = sum(a.intersection(b).area for a, b in combinations(parcels, 2))
    return {"shared": shared, "single": union.geom_type == "Polygon", "overlap": overlap, "area": union.area}
