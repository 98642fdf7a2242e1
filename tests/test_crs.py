"""CRS handling: OGC URIs and EPSG:n, authority axis order, cached transformers, swapped / far-away positions."""

from __future__ import annotations

import numpy as np
import pytest

from gis.crs import (
    CRS84,
    authority_to_storage,
    axis_order_text,
    jurisdiction_extent,
    parse_crs,
    to_storage_checked,
    transformer,
)
from gis.errors import GisInputError
from gis.jurisdiction import load_jurisdiction

TIANTAI = load_jurisdiction("tiantai")
E, N = 603_000.0, 3_225_000.0


@pytest.mark.parametrize("value", [
    "EPSG:4549", "epsg:4549", "4549", 4549, "http://www.opengis.net/def/crs/EPSG/0/4549",
    "https://www.opengis.net/def/crs/EPSG/0/4549", "urn:ogc:def:crs:EPSG::4549", "urn:ogc:def:crs:EPSG:9.9:4549",
])
def test_parse_epsg_forms(value):
    ref = parse_crs(value)
    assert ref.key == "EPSG:4549" and ref.uri == "http://www.opengis.net/def/crs/EPSG/0/4549"


@pytest.mark.parametrize("value", [None, "CRS84", "OGC:CRS84", "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
                                   "urn:ogc:def:crs:OGC:1.3:CRS84"])
def test_parse_crs84_forms(value):
    ref = parse_crs(value)
    assert ref.key == CRS84 and not ref.northing_first


@pytest.mark.parametrize(("epsg", "north_first", "geographic"), [
    (4549, True, False), (4528, True, False), (4490, True, True), (4326, True, True), (3857, False, False),
])
def test_authority_axis_order(epsg, north_first, geographic):
    ref = parse_crs(f"EPSG:{epsg}")
    assert ref.northing_first is north_first
    assert ref.is_geographic is geographic


@pytest.mark.parametrize("value", ["EPSG:999999", "foo", "http://www.opengis.net/def/crs/EPSG/0/xyz", ""])
def test_unknown_crs(value):
    with pytest.raises(GisInputError) as ei:
        parse_crs(value)
    assert ei.value.code == "unknown-crs" and ei.value.status == 400


def test_transformers_are_created_once():
    assert transformer("OGC:CRS84", "EPSG:4549") is transformer("OGC:CRS84", "EPSG:4549")


def test_authority_order_in_storage_out():
    north_east = np.array([[N, E]])
    assert authority_to_storage(north_east, parse_crs("EPSG:4549"), 4549).tolist() == [[E, N]]
    # EPSG:4528: the same zone with "40" prefixed: an exact offset
    assert authority_to_storage(np.array([[N, E + 40_000_000]]), parse_crs("EPSG:4528"), 4549).tolist() == [[E, N]]
    lon, lat = transformer("EPSG:4549", CRS84).transform(E, N)
    via84 = authority_to_storage(np.array([[lon, lat]]), parse_crs(None), 4549)
    via4490 = authority_to_storage(np.array([[lat, lon]]), parse_crs("EPSG:4490"), 4549)
    assert via84 == pytest.approx(np.array([[E, N]]), abs=1e-6)
    assert via4490 == pytest.approx(via84, abs=1e-9)  # CGCS2000 ↔ WGS84: a null transform, as in PROJ


def test_outline_in_storage_crs_is_the_crs84_projection():
    """The outline is projected from CGCS2000 lon/lat on a CGCS2000 grid, from CRS84 on any other:
    on the CGCS2000 grid both give the same metres."""
    import shapely
    from shapely.geometry import Polygon

    from gis.crs import transform_geom

    ring = Polygon(TIANTAI.outline)
    assert shapely.get_coordinates(TIANTAI.outline_storage).tolist() == \
        shapely.get_coordinates(transform_geom(ring, CRS84, 4549)).tolist()
    utm = type(TIANTAI).model_validate({**TIANTAI.model_dump(), "storage_epsg": 32651})  # WGS 84 / UTM 51N
    assert shapely.get_coordinates(utm.outline_storage).tolist() == \
        shapely.get_coordinates(transform_geom(ring, CRS84, 32651)).tolist()


def test_extent_is_the_outline_grown():
    minx, miny, maxx, maxy = jurisdiction_extent(TIANTAI)
    assert minx < E < maxx and miny < N < maxy
    assert maxx - minx > 2 * TIANTAI.far_outside_m


def _check(positions, crs):
    return to_storage_checked(np.asarray(positions, dtype=float), parse_crs(crs), TIANTAI,
                              starts=np.array([0]), pointers=["/parcel/geometry"])


def test_inside_positions_pass():
    assert _check([[N, E]], "EPSG:4549").tolist() == [[E, N]]


def test_swapped_projected_positions():
    with pytest.raises(GisInputError) as ei:
        _check([[E, N]], "EPSG:4549")
    e = ei.value
    assert e.code == "axis-order-swapped" and e.status == 400 and e.pointer == "/parcel/geometry"
    assert e.extra["position"] == [E, N]
    assert axis_order_text(parse_crs("EPSG:4549"))[1] in e.detail_en


def test_swapped_geographic_positions():
    with pytest.raises(GisInputError) as ei:
        _check([[29.14, 121.03]], None)  # lat, lon sent as CRS84
    assert ei.value.code == "axis-order-swapped"
    with pytest.raises(GisInputError) as ei:
        _check([[121.03, 29.14]], "EPSG:4490")  # lon, lat although EPSG:4490 is lat first
    assert ei.value.code == "axis-order-swapped"


def test_far_outside_positions():
    with pytest.raises(GisInputError) as ei:
        _check([[116.39, 39.9]], None)
    assert ei.value.code == "outside-jurisdiction"
    with pytest.raises(GisInputError) as ei:
        _check([[N, E + 40_000_000]], "EPSG:4549")
    assert "EPSG:4528" in ei.value.detail_en
    with pytest.raises(GisInputError) as ei:
        _check([[E, N]], None)
    assert "EPSG:4549" in ei.value.detail_en and "米" in ei.value.detail_zh
