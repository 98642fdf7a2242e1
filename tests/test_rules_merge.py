"""Merge rules (MERGE-01 … MERGE-07, RATING-01, SUPPORT-01) at their boundaries. Scenes: EPSG:4549."""

from __future__ import annotations

import pytest
from shapely import Polygon

from gis.rules import run_check
from gis.rules.factories import company, merge_request, rect


def check(req: dict, **kw) -> dict:
    return run_check("merge", req, **kw)


def result(report: dict, rule: str) -> dict:
    (r,) = [r for r in report["results"] if r["rule"] == rule]
    return r


def status(report: dict, rule: str) -> str:
    return result(report, rule)["status"]


def pair(second: Polygon) -> list[Polygon]:
    return [rect(x=0, y=0, w=100, h=80), second]


def test_default_merge_passes_with_every_rule_once():
    report = check(merge_request())
    assert [r["rule"] for r in report["results"]] == [
        *(f"MERGE-{i:02d}" for i in range(1, 8)), "RATING-01", "SUPPORT-01"]
    assert report["verdict"] == "pass"
    assert report["merged"]["area_m2"] == 24000.0 and report["merged"]["area_mu"] == 36.0


# --- MERGE-02: adjacency -----------------------------------------------------------------------


def test_merge_02_shared_edge_passes():
    r = result(check(merge_request(parcels=pair(rect(x=100, y=0, w=100, h=80)))), "MERGE-02")
    assert r["status"] == "pass"
    assert next(iter(r["measured"]["shared_edges_m"].values())) == pytest.approx(80.0)


def test_merge_02_corner_touch_is_not_adjacent():
    report = check(merge_request(parcels=pair(rect(x=100, y=80, w=100, h=80))))
    r = result(report, "MERGE-02")
    assert r["status"] == "fail"
    assert "corner touch" in r["message_en"]
    assert next(iter(r["measured"]["shared_edges_m"].values())) < 1.0


@pytest.mark.parametrize(("length", "expected"), [(0.9, "fail"), (1.0, "pass"), (1.5, "pass")])
def test_merge_02_shared_edge_of_one_metre(length, expected):
    # The second parcel overlaps the first's east edge over ``length`` metres only.
    second = rect(x=100, y=80 - length, w=100, h=80)
    assert status(check(merge_request(parcels=pair(second))), "MERGE-02") == expected


def test_merge_02_two_centimetre_gap_is_adjacent():
    report = check(merge_request(parcels=pair(rect(x=100.02, y=0, w=100, h=80))))
    r = result(report, "MERGE-02")
    assert r["status"] == "pass", r["message_en"]
    assert r["measured"]["outline_parts"] == 1
    assert status(report, "MERGE-06") == "pass"


def test_merge_02_ten_centimetre_gap_is_not():
    r = result(check(merge_request(parcels=pair(rect(x=100.1, y=0, w=100, h=80)))), "MERGE-02")
    assert r["status"] == "fail" and "does not adjoin" in r["message_en"]


def test_merge_02_chain_of_three_is_connected_even_if_ends_do_not_touch():
    report = check(merge_request())  # A | B | C in a row: A and C share nothing
    assert status(report, "MERGE-02") == "pass"


def test_merge_02_invalid_inline_parcel_fails_and_says_where():
    x0, y0 = 603100.0, 3225000.0
    bow = Polygon([(x0, y0), (x0 + 100, y0 + 80), (x0 + 100, y0), (x0, y0 + 80), (x0, y0)])
    r = result(check(merge_request(parcels=pair(bow))), "MERGE-02")
    assert r["status"] == "fail"
    (inv,) = r["measured"]["invalid"].values()
    assert inv["reason"] == "Self-intersection"
    assert (inv["location"]["x"], inv["location"]["y"]) == pytest.approx((603150.0, 3225040.0))


# --- MERGE-01, MERGE-03, MERGE-06, MERGE-07 --------------------------------------------------------


@pytest.mark.parametrize(("second", "expected"), [
    ({"right_type": "出让"}, "pass"),
    ({"right_type": "划拨"}, "fail"),
    ({"ownership_nature": "集体"}, "fail"),
    ({"right_type": "102"}, "pass"),                      # QLXZ code 102 = 国有 出让
    ({"right_type": "作价出资（入股）"}, "fail"),
])
def test_merge_01_right_types(second, expected):
    req = merge_request(parcels=pair(rect(x=100, y=0, w=100, h=80)), parcel_props=[{}, second])
    assert status(check(req), "MERGE-01") == expected


def test_merge_03_earliest_lease_end_is_carried():
    req = merge_request(parcel_props=[{"lease_end_on": "2066-05-01"}, {"lease_end_on": "2058-12-31"},
                                      {"lease_end_on": "2070-01-01"}])
    report = check(req)
    r = result(report, "MERGE-03")
    assert r["status"] == "pass"
    assert r["measured"]["unified_lease_end_on"] == "2058-12-31"
    assert r["measured"]["remaining_years"] == pytest.approx(35.58, abs=0.01)
    assert report["merged"]["lease_end_on"] == "2058-12-31"
    assert "2058-12-31" in r["message_zh"] and "35.58" in r["message_en"]


def test_merge_03_missing_lease_end_needs_review_and_expired_fails():
    req = merge_request(parcel_props=[{}, {"lease_end_on": None}, {}])
    assert status(check(req), "MERGE-03") == "needs_review"
    req = merge_request(parcel_props=[{}, {"lease_end_on": "2023-05-31"}, {}])
    assert status(check(req), "MERGE-03") == "fail"


def test_merge_06_overlap_single_parcel_duplicate_and_retired():
    over = check(merge_request(parcels=pair(rect(x=98, y=0, w=100, h=80))))
    r = result(over, "MERGE-06")
    assert r["status"] == "fail"
    assert next(iter(r["measured"]["overlaps"].values())) == pytest.approx(160.0)
    one = check(merge_request(parcels=[rect(x=0, y=0, w=100, h=80)]))
    assert status(one, "MERGE-06") == "fail"
    req = merge_request(parcels=pair(rect(x=100, y=0, w=100, h=80)))
    req["parcels"][1]["properties"]["parcel_code"] = req["parcels"][0]["properties"]["parcel_code"]
    assert status(check(req), "MERGE-06") == "fail"
    retired = merge_request(parcel_props=[{}, {"retired_on": "2023-01-01"}, {}])
    assert status(check(retired), "MERGE-06") == "fail"


def test_merge_07_standard_land_carries_over():
    req = merge_request(parcel_props=[{"standard_land": True, "standard_land_indicators": {"容积率": 1.5}}, {}, {}])
    r = result(check(req), "MERGE-07")
    assert r["status"] == "pass" and len(r["features"]) == 1


# --- MERGE-05 / RATING-01 --------------------------------------------------------------------------


@pytest.mark.parametrize(("holder", "expected"), [
    (company(rating="B"), "pass"),
    (company(rating="C"), "fail"),
    (company(rating="D"), "fail"),
    (company(rating="A", compliance_flags=["environment"]), "fail"),
    (company(rating=None), "needs_review"),
    (company(rating=None, key_project={"total_investment_wan": 10000, "under_construction": True}), "pass"),
])
def test_merge_05_receiving_holder(holder, expected):
    assert status(check(merge_request(holder=holder)), "MERGE-05") == expected


def test_merge_05_no_holder_needs_review():
    req = merge_request()
    del req["holder"]
    assert status(check(req), "MERGE-05") == "needs_review"


def test_merge_support_land_share_of_the_merged_parcel():
    req = merge_request(support_land={"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"floor_area_m2": 100},
         "geometry": {"type": "Polygon", "coordinates": [[[3225000, 603010], [3225000, 603050],
                                                          [3225030, 603050], [3225030, 603010],
                                                          [3225000, 603010]]]}}]})
    r = result(check(req), "SUPPORT-01")
    assert r["status"] == "pass"
    assert r["measured"]["merged"]["share"] == pytest.approx(1200 / 24000)
