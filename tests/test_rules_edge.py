"""Edge and sandwich plots (EDGE-01 … EDGE-06, FAR-01, SUPPORT-01) at their boundaries. EPSG:4549 scenes."""

from __future__ import annotations

from datetime import date

import pytest
from shapely import Polygon

from gis.rules import StoredFeature, StoredLookup, StoredParcel, run_check
from gis.rules.factories import edge_request, rect


def check(req: dict, **kw) -> dict:
    return run_check("edge-plots", req, **kw)


def result(report: dict, rule: str) -> dict:
    (r,) = [r for r in report["results"] if r["rule"] == rule]
    return r


def status(report: dict, rule: str) -> str:
    return result(report, rule)["status"]


def test_default_edge_request_lists_every_rule_once():
    report = check(edge_request())
    assert [r["rule"] for r in report["results"]] == [*(f"EDGE-{i:02d}" for i in range(1, 7)), "FAR-01",
                                                      "SUPPORT-01"]
    assert report["verdict"] == "needs_review"  # EDGE-04: offline, other parcels unknown
    assert status(report, "EDGE-04") == "needs_review"
    assert report["enlarged"]["area_m2"] == 33000.0


# --- EDGE-02: 20 % vs 20.01 %, 10 mu vs 10.01 mu --------------------------------------------------


@pytest.mark.parametrize(("plot_width", "expected", "share"), [
    (40.0, "pass", 0.2),       # 4000 m² of a 20000 m² parcel: exactly 20 %
    (40.02, "fail", 0.2001),   # 4002 m²: 20.01 %
])
def test_edge_02_twenty_percent(plot_width, expected, share):
    req = edge_request(parcel=rect(x=0, y=0, w=200, h=100), plots=[rect(x=200, y=0, w=plot_width, h=100)])
    r = result(check(req), "EDGE-02")
    assert r["status"] == expected
    assert r["measured"]["share"] == share
    assert r["limit"]["binding"] == "share" and r["limit"]["max_m2"] == 4000.0
    assert "20%" in r["message_zh"]


@pytest.mark.parametrize(("plot_width", "expected", "mu"), [
    (66.6667, "pass", 10.0),    # 6666.67 m² = 10 mu, of a 90-mu parcel (20 % would be 18 mu)
    (66.7333, "fail", 10.01),   # 6673.33 m² = 10.01 mu
])
def test_edge_02_ten_mu(plot_width, expected, mu):
    req = edge_request(parcel=rect(x=0, y=0, w=600, h=100), plots=[rect(x=600, y=0, w=plot_width, h=100)])
    r = result(check(req), "EDGE-02")
    assert r["status"] == expected
    assert r["measured"]["total"]["area_mu"] == mu
    assert r["limit"]["binding"] == "mu" and r["limit"]["max_m2"] == 6666.67


# --- EDGE-01: adjacency ----------------------------------------------------------------------------


def test_edge_01_plot_adjoining_through_another_plot():
    plots = [rect(x=200, y=0, w=10, h=100), rect(x=210, y=0, w=10, h=100)]
    assert status(check(edge_request(plots=plots)), "EDGE-01") == "pass"


@pytest.mark.parametrize(("plot", "expected"), [
    (rect(x=200.02, y=0, w=10, h=150), "pass"),   # 2 cm gap: within tolerance
    (rect(x=200, y=150, w=10, h=10), "fail"),      # corner touch
    (rect(x=205, y=0, w=10, h=150), "fail"),       # 5 m away
])
def test_edge_01_adjacency(plot, expected):
    r = result(check(edge_request(plots=[plot])), "EDGE-01")
    assert r["status"] == expected, r["message_en"]


def test_edge_01_bow_tie_plot_fails_and_says_where():
    x0, y0 = 603200.0, 3225000.0
    bow = Polygon([(x0, y0), (x0 + 20, y0 + 150), (x0 + 20, y0), (x0, y0 + 150), (x0, y0)])
    r = result(check(edge_request(plots=[bow])), "EDGE-01")
    assert r["status"] == "fail"
    assert r["measured"]["invalid"]["P1"]["reason"] == "Self-intersection"


# --- EDGE-03 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("before", "after", "reno", "total", "expected"), [
    (1.0, 1.2, None, None, "pass"),       # exactly +20 % (a hair below in binary floating point)
    (1.0, 1.19, None, None, "fail"),
    (1.0, 1.1, 2000, 10000, "pass"),      # FAR +10 %, but the renovation is 20 % of the floor area
    (1.0, 1.1, 1999, 10000, "fail"),
    (None, None, None, None, "needs_review"),
])
def test_edge_03_far_rise_or_floor_share(before, after, reno, total, expected):
    req = edge_request(far_before=before, far_after=after,
                       parcel_props={"far_actual": None})
    if reno is not None:
        req.update(renovation_floor_area_m2=reno, total_floor_area_after_m2=total)
    assert status(check(req), "EDGE-03") == expected


# --- EDGE-04: other parcels -------------------------------------------------------------------------


def test_edge_04_overlapping_another_parcel_offline():
    other = rect(x=210, y=100, w=50, h=50)  # overlaps the plot by 10 × 50 m
    r = result(check(edge_request(other_parcels=[other])), "EDGE-04")
    assert r["status"] == "fail"
    (ov,) = r["measured"]["overlaps"].values()
    assert ov["area_m2"] == pytest.approx(500.0)


def test_edge_04_overlapping_own_parcel():
    r = result(check(edge_request(plots=[rect(x=190, y=0, w=30, h=150)])), "EDGE-04")
    assert r["status"] == "fail"


def test_edge_04_touching_neighbour_passes():
    r = result(check(edge_request(other_parcels=[rect(x=220, y=0, w=50, h=150)])), "EDGE-04")
    assert r["status"] == "pass"


class FakeRegister:
    """A StoredLookup over in-memory parcels (the web layer implements it over PostGIS)."""

    def __init__(self, parcels: dict[str, StoredParcel]):
        self.parcels = parcels
        self.calls: list[tuple] = []

    def parcel(self, parcel_code: str, *, as_of: date) -> StoredParcel | None:
        self.calls.append(("parcel", parcel_code, as_of))
        return self.parcels.get(parcel_code)

    def parcels_intersecting(self, geometry, *, exclude, as_of):
        self.calls.append(("intersecting", tuple(exclude), as_of))
        return [StoredFeature({"parcel_code": code}, p.geometry) for code, p in self.parcels.items()
                if code not in exclude and p.geometry.intersects(geometry)]

    def holder(self, credit_code: str, *, year: int):
        self.calls.append(("holder", credit_code, year))
        return {"rating": "B", "compliance_flags": []}


def test_edge_with_stored_parcel_and_register_query():
    own = rect(x=0, y=0, w=200, h=150)
    neighbour = rect(x=215, y=0, w=50, h=150)
    register = FakeRegister({
        "331023003001GB00001": StoredParcel({"parcel_code": "331023003001GB00001", "produced_by": "original",
                                             "in_development_zone": True}, own),
        "331023003001GB00002": StoredParcel({"parcel_code": "331023003001GB00002"}, neighbour),
    })
    assert isinstance(register, StoredLookup)
    req = edge_request()
    req["parcel"] = "331023003001GB00001"
    report = check(req, stored_lookup=register)
    r = result(report, "EDGE-04")
    assert r["status"] == "fail" and "331023003001GB00002" in r["message_en"]
    assert ("intersecting", ("331023003001GB00001",), date(2023, 6, 1)) in register.calls
    register.parcels.pop("331023003001GB00002")
    assert status(check(req, stored_lookup=register), "EDGE-04") == "pass"


# --- EDGE-05 / EDGE-06 / FAR-01 ---------------------------------------------------------------------


def test_edge_05_confirmation():
    assert status(check(edge_request()), "EDGE-05") == "pass"
    assert status(check(edge_request(confirmations={})), "EDGE-05") == "needs_review"
    assert status(check(edge_request(confirmations={"industrial_guidance": False})), "EDGE-05") == "fail"
    assert status(check(edge_request()), "EDGE-06") == "pass"


@pytest.mark.parametrize(("props", "far_after", "height", "expected"), [
    ({"in_development_zone": True}, 1.5, None, "not_applicable"),
    ({"in_development_zone": False, "far_planned": 1.6}, 1.5, None, "not_applicable"),
    ({"in_development_zone": False, "plan_conditions": False}, 1.1, 24, "pass"),
    ({"in_development_zone": False, "plan_conditions": False}, 1.11, 24, "fail"),
    ({"in_development_zone": False, "plan_conditions": False}, 1.1, 24.5, "fail"),
    ({"in_development_zone": False}, 1.2, 20, "needs_review"),   # plan conditions not recorded
    ({"in_development_zone": None}, 1.0, 20, "needs_review"),
])
def test_far_01(props, far_after, height, expected):
    req = edge_request(parcel_props=props, far_after=far_after, height_after_m=height)
    assert status(check(req), "FAR-01") == expected
