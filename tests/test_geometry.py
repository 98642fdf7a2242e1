"""Planar geometry of the checks: validity, snapping, tiling, shared boundaries, adjacency, outlines."""

from __future__ import annotations

import pytest
import shapely
from shapely import MultiPolygon, Polygon, box

from gis.geometry import (
    adjacency_graph,
    as_valid,
    is_single_polygon,
    merged_outline,
    overlap_after_snap,
    part_outside,
    same_outline,
    shared_boundary_length,
    tiling,
    validities,
    validity,
    within_tolerance,
)

TOL, SLIVER = 0.05, 1.0


def bow_tie(x0: float = 0.0, y0: float = 0.0, size: float = 10.0) -> Polygon:
    return Polygon([(x0, y0), (x0 + size, y0 + size), (x0 + size, y0), (x0, y0 + size), (x0, y0)])


def test_validity_reason_and_location():
    v = validity(bow_tie(603000, 3225000))
    assert not v.valid and v.reason == "Self-intersection"
    assert v.location == pytest.approx((603005.0, 3225005.0))
    assert validity(box(0, 0, 1, 1)).valid
    assert [x.valid for x in validities([box(0, 0, 1, 1), bow_tie()])] == [True, False]


def test_as_valid_is_for_measuring_only():
    fixed = as_valid(bow_tie())
    assert fixed.is_valid and fixed.area == pytest.approx(50.0)
    assert not bow_tie().is_valid  # the input is untouched


def test_single_polygon():
    assert is_single_polygon(box(0, 0, 1, 1))
    assert is_single_polygon(MultiPolygon([box(0, 0, 1, 1)]))
    assert not is_single_polygon(MultiPolygon([box(0, 0, 1, 1), box(2, 0, 3, 1)]))


@pytest.mark.parametrize(("overhang", "within"), [(0.0, True), (0.03, True), (0.05, True), (0.06, False),
                                                  (0.5, False)])
def test_within_tolerance(overhang, within):
    lot = box(0, 0, 100, 100)
    assert within_tolerance(box(80, 10, 100 + overhang, 30), lot, TOL) is within


def test_part_outside():
    area, reach = part_outside(box(80, 10, 100.5, 30), box(0, 0, 100, 100))
    assert area == pytest.approx(10.0) and reach == pytest.approx(0.5)


def test_same_outline_with_cut_points():
    parent = box(0, 0, 300, 120)
    union = shapely.union_all([box(0, 0, 100, 120), box(100, 0, 300, 120)])
    assert same_outline(union, parent)
    assert same_outline(shapely.reverse(union), parent)
    assert not same_outline(box(0, 0, 300, 121), parent)
    assert not same_outline(Polygon([(0, 0), (150, 0.01), (300, 0), (300, 120), (0, 120)]), parent)


def test_tiling_exact():
    t = tiling(box(0, 0, 300, 120), [box(0, 0, 100, 120), box(100, 0, 200, 120), box(200, 0, 300, 120)],
               tolerance_m=TOL, sliver_area_m2=SLIVER)
    assert (t.overlap_m2, t.gap_m2, t.outside_m2) == (0.0, 0.0, 0.0) and not t.snapped


def test_tiling_gap_overlap_outside():
    parent = box(0, 0, 300, 120)
    gap = tiling(parent, [box(0, 0, 100, 120), box(101, 0, 300, 120)], tolerance_m=TOL, sliver_area_m2=SLIVER)
    assert gap.gap_m2 == pytest.approx(120.0) and gap.gaps[0].location[0] == pytest.approx(100.5)
    over = tiling(parent, [box(0, 0, 101, 120), box(100, 0, 300, 120)], tolerance_m=TOL, sliver_area_m2=SLIVER)
    assert over.overlap_m2 == pytest.approx(120.0) and over.overlaps[0].parts == (0, 1)
    out = tiling(parent, [box(0, 0, 100, 120), box(100, 0, 302, 120)], tolerance_m=TOL, sliver_area_m2=SLIVER)
    assert out.outside_m2 == pytest.approx(240.0) and out.outside[0].parts == (1,)


def test_tiling_snaps_within_tolerance_and_areas_sum():
    parent = box(0, 0, 300, 120)
    t = tiling(parent, [box(0, 0, 100.03, 120), box(100, 0, 300, 119.97)], tolerance_m=TOL, sliver_area_m2=SLIVER)
    assert t.raw["overlap_m2"] > SLIVER and t.snapped
    assert t.ok(SLIVER)
    assert sum(p.area for p in t.parts) == pytest.approx(parent.area, abs=SLIVER)


@pytest.mark.parametrize(("b", "length"), [
    (box(100, 0, 200, 80), 80.0),            # shared edge
    (box(100.02, 0, 200, 80), 80.0),         # 2 cm gap, long parallel edge
    (box(100.02, 10, 200, 60), 50.0),        # 2 cm gap, vertices not matching
    (box(99.98, 0, 200, 80), 80.0),          # 2 cm overlap
    (box(100, 80, 200, 160), 0.0),           # corner touch
    (box(100.02, 80.02, 200, 160), 0.0),     # near-corner touch
    (box(100, 79.1, 200, 160), 0.9),         # 0.9 m contact stays 0.9 m
    (box(100.1, 0, 200, 80), 0.0),           # 10 cm apart
])
def test_shared_boundary_length(b, length):
    a = box(0, 0, 100, 80)
    assert shared_boundary_length(a, b, TOL) == pytest.approx(length, abs=1e-6)
    assert shared_boundary_length(b, a, TOL) == pytest.approx(length, abs=1e-6)


def test_adjacency_graph_components():
    geoms = [box(0, 0, 100, 80), box(100, 0, 200, 80), box(200.02, 0, 300, 80), box(300, 80, 400, 160),
             box(1000, 0, 1100, 80)]
    adj = adjacency_graph(geoms, tolerance_m=TOL, min_shared_edge_m=1.0)
    assert adj.components == ((0, 1, 2), (3,), (4,))
    assert adj.neighbours(1) == [0, 2]
    assert adj.best_length(3) == 0.0
    assert not adj.connected()


def test_merged_outline_closes_tolerance_gaps():
    outline = merged_outline([box(0, 0, 100, 80), box(100.02, 0, 200, 80)], TOL)
    assert outline.geom_type == "Polygon"
    assert outline.area == pytest.approx(16000.0, abs=2.0)
    apart = merged_outline([box(0, 0, 100, 80), box(101, 0, 200, 80)], TOL)
    assert apart.geom_type == "MultiPolygon"


def test_overlap_after_snap():
    assert overlap_after_snap(box(0, 0, 100, 80), box(99.97, 0, 200, 80), TOL)[0] == 0.0
    area, geom = overlap_after_snap(box(0, 0, 100, 80), box(98, 0, 200, 80), TOL)
    assert area == pytest.approx(160.0) and geom.geom_type == "Polygon"
    assert overlap_after_snap(box(0, 0, 1, 1), box(5, 5, 6, 6), TOL)[0] == 0.0
