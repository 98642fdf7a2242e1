"""Split rules (SPLIT-01 … SPLIT-11, RATING-01, SUPPORT-01), each at its boundary. Scenes: EPSG:4549."""

from __future__ import annotations

import pytest
from shapely import Polygon

from gis.rules import run_check
from gis.rules.factories import Scene, company, rect, split_request, split_scene


def check(req: dict, **kw) -> dict:
    return run_check("split", req, **kw)


def result(report: dict, rule: str) -> dict:
    (r,) = [r for r in report["results"] if r["rule"] == rule]
    return r


def status(report: dict, rule: str) -> str:
    return result(report, rule)["status"]


def two_lot_scene(*, a_width: float, total_width: float = 200.0, height: float = 100.0) -> Scene:
    """Lots A (``a_width`` × height, west) and B (the rest), one building each, support land in A."""
    parent = rect(x=0, y=0, w=total_width, h=height)
    lots = [rect(x=0, y=0, w=a_width, h=height), rect(x=a_width, y=0, w=total_width - a_width, h=height)]
    buildings = [rect(x=5, y=5, w=20, h=20), rect(x=a_width + 5, y=5, w=20, h=20)]
    return Scene(parent, lots, ["A", "B"], buildings, [rect(x=5, y=60, w=10, h=10)])


def test_default_split_passes_and_lists_every_rule_once_in_id_order():
    report = check(split_request())
    rules = [r["rule"] for r in report["results"]]
    assert rules == sorted(rules)
    assert rules == ["RATING-01", *(f"SPLIT-{i:02d}" for i in range(1, 12)), "SUPPORT-01"]
    assert report["verdict"] == "pass"
    assert [lot["label"] for lot in report["lots"]] == ["A", "B", "C"]
    for r in report["results"]:
        assert r["message_zh"] and r["message_en"] and r["title_zh"] and r["title_en"]
        assert r["status"] in ("pass", "fail", "needs_review", "not_applicable")


# --- SPLIT-04: 9.99 vs 10.00 mu -----------------------------------------------------------------


@pytest.mark.parametrize(("a_width", "expected", "area_m2"), [
    (66.6, "fail", 6660.00),        # 9.99 mu
    (66.6666, "fail", 6666.66),     # one hundredth of a m² short of 10 mu
    (66.6667, "pass", 6666.67),     # 10.00 mu as compared (rounded to 0.01 m²)
    (70.0, "pass", 7000.00),
])
def test_split_04_ten_mu_boundary(a_width, expected, area_m2):
    report = check(split_request(scene=two_lot_scene(a_width=a_width), retained=("A",)))
    r = result(report, "SPLIT-04")
    assert r["status"] == expected
    assert r["measured"]["A"]["area_m2"] == area_m2
    assert r["limit"] == {"min_area_mu": 10.0, "min_area_m2": 6666.67}
    if expected == "fail":
        assert r["features"] == ["A"]
        assert f"{area_m2:.2f}" in r["message_zh"] and "10 亩" in r["message_zh"]
        assert "less than 10 mu" in r["message_en"]


# --- SPLIT-03: 2, 3, 4 lots, with and without industrial real estate ----------------------------


@pytest.mark.parametrize(("n", "ire", "expected"), [
    (2, False, "pass"), (3, False, "pass"), (4, False, "fail"),
    (2, True, "not_applicable"), (3, True, "not_applicable"), (4, True, "not_applicable"),
])
def test_split_03_lot_count(n, ire, expected):
    req = split_request(scene=split_scene(n_lots=n), parcel_props={"industrial_real_estate": ire})
    report = check(req)
    assert status(report, "SPLIT-03") == expected
    assert result(report, "SPLIT-03")["measured"]["lots"] == n
    if n == 4 and not ire:
        assert report["verdict"] == "fail"
        assert "more than 3" in result(report, "SPLIT-03")["message_en"]


def test_split_03_one_lot_is_not_a_split():
    sc = split_scene(n_lots=1)
    assert status(check(split_request(scene=sc)), "SPLIT-03") == "fail"


# --- SPLIT-02: the building is the smallest unit ----------------------------------------------


def _crossing_scene(overhang: float) -> Scene:
    sc = split_scene()
    # Building 2 of lot A (x 55…95) pushed east so it crosses the A|B line at x = 100.
    sc.buildings[1] = rect(x=60 + overhang, y=10, w=40, h=30)
    return sc


def test_split_02_building_crossing_by_3cm_is_within_tolerance():
    report = check(split_request(scene=_crossing_scene(0.03)))
    assert status(report, "SPLIT-02") == "pass"


def test_split_02_building_crossing_by_half_a_metre_is_cut():
    report = check(split_request(scene=_crossing_scene(0.5)))
    r = result(report, "SPLIT-02")
    assert r["status"] == "fail"
    cut = r["measured"]["cut"]["2"]
    assert cut["main_lot"] == "A" and cut["reach_m"] == pytest.approx(0.5)
    assert cut["outside_m2"] == pytest.approx(15.0)
    assert "building 2" in r["message_en"] and "0.50 m" in r["message_en"]
    assert "幢 2" in r["message_zh"]
    assert cut["location"]["crs"] == "EPSG:4549"
    assert r["features"] == ["A"]


def test_split_02_lot_without_a_building():
    sc = split_scene()
    sc.buildings = sc.buildings[:4]  # lot C keeps none
    r = result(check(split_request(scene=sc)), "SPLIT-02")
    assert r["status"] == "fail"
    assert r["features"] == ["C"]
    assert r["measured"]["whole_buildings_per_lot"] == {"A": 2, "B": 2, "C": 0}


def test_split_02_no_building_data_needs_review():
    sc = split_scene()
    sc.buildings = []
    assert status(check(split_request(scene=sc)), "SPLIT-02") == "needs_review"


# --- SPLIT-05: support land --------------------------------------------------------------------


def test_split_05_support_land_cut_by_a_lot_line():
    sc = split_scene()
    sc.support = [rect(x=90, y=80, w=20, h=30)]  # across A|B
    r = result(check(split_request(scene=sc)), "SPLIT-05")
    assert r["status"] == "fail"
    assert "S1" in r["measured"]["cut"]


def test_split_05_support_land_wholly_in_a_transferred_lot():
    sc = split_scene()
    sc.support = [rect(x=110, y=80, w=20, h=30)]  # in B, which is transferred
    r = result(check(split_request(scene=sc)), "SPLIT-05")
    assert r["status"] == "fail"
    assert r["features"] == ["B"]
    assert "transferred" in r["message_en"]


def test_split_05_support_land_in_retained_lot_passes_and_unknown_lot_needs_review():
    assert status(check(split_request()), "SPLIT-05") == "pass"
    req = split_request(retained=())
    for f in req["lots"]["features"]:
        f["properties"].pop("transferee", None)
    assert status(check(req), "SPLIT-05") == "needs_review"


# --- SPLIT-06: tiling --------------------------------------------------------------------------


def _lots_scene(lots: list[Polygon]) -> Scene:
    sc = split_scene()
    sc.lots = lots
    return sc


def test_split_06_gap_between_lots():
    sc = split_scene()
    sc.lots[1] = rect(x=101, y=0, w=99, h=120)  # a 1 m strip (120 m²) of the parent left out
    r = result(check(split_request(scene=sc)), "SPLIT-06")
    assert r["status"] == "fail"
    assert r["measured"]["gap_m2"] == pytest.approx(120.0)
    assert r["measured"]["gap_location"]["x"] == pytest.approx(603100.5, abs=0.6)
    assert "uncovered" in r["message_en"]


def test_split_06_overlapping_lots():
    sc = split_scene()
    sc.lots[1] = rect(x=99, y=0, w=101, h=120)
    r = result(check(split_request(scene=sc)), "SPLIT-06")
    assert r["status"] == "fail"
    assert r["measured"]["overlap_m2"] == pytest.approx(120.0)
    assert set(r["features"]) == {"A", "B"}


def test_split_06_lot_sticking_out_of_the_parent():
    sc = split_scene()
    sc.lots[2] = rect(x=200, y=0, w=102, h=120)
    r = result(check(split_request(scene=sc)), "SPLIT-06")
    assert r["status"] == "fail"
    assert r["measured"]["outside_m2"] == pytest.approx(240.0)
    assert r["features"] == ["C"]


def test_split_06_cut_line_off_by_2cm_is_snapped_within_tolerance():
    sc = split_scene()
    sc.lots[0] = rect(x=0, y=0, w=100.02, h=120)  # 2.4 m² overlap before snapping
    report = check(split_request(scene=sc))
    r = result(report, "SPLIT-06")
    assert r["status"] == "pass"
    assert r["measured"]["snapped"] is True
    assert r["measured"]["before_snapping"]["overlap_m2"] == pytest.approx(2.4)
    assert sum(lot["area_m2"] for lot in report["lots"]) == pytest.approx(36000.0, abs=0.05)


def test_split_06_bow_tie_lot_is_not_repaired_and_says_where():
    sc = split_scene()
    x0, y0 = 603200.0, 3225000.0
    sc.lots[2] = Polygon([(x0, y0), (x0 + 100, y0 + 120), (x0 + 100, y0), (x0, y0 + 120), (x0, y0)])
    r = result(check(split_request(scene=sc)), "SPLIT-06")
    assert r["status"] == "fail"
    inv = r["measured"]["invalid"]["C"]
    assert inv["reason"] == "Self-intersection"
    assert inv["location"]["x"] == pytest.approx(603250.0)
    assert inv["location"]["y"] == pytest.approx(3225060.0)
    assert "603250.00" in r["message_en"] and "3225060.00" in r["message_en"]
    assert "C" in r["features"]


def test_split_06_multipart_lot_fails():
    sc = split_scene()
    from shapely import MultiPolygon
    sc.lots[2] = MultiPolygon([rect(x=200, y=0, w=100, h=50), rect(x=200, y=70, w=100, h=50)])
    r = result(check(split_request(scene=sc)), "SPLIT-06")
    assert r["status"] == "fail" and r["measured"]["multipart"] == {"C": 2}
    assert r["measured"]["gap_m2"] == pytest.approx(2000.0)


# --- lineage: SPLIT-07 / SPLIT-08 ----------------------------------------------------------------


@pytest.mark.parametrize(("produced_by", "s07", "s08"), [
    ("original", "pass", "pass"),
    ("split", "fail", "pass"),            # second split
    ("merge", "pass", "fail"),            # split of a merged parcel
    ("edge_plot", "pass", "fail"),
    (None, "needs_review", "needs_review"),
])
def test_split_07_08_lineage(produced_by, s07, s08):
    report = check(split_request(parcel_props={"produced_by": produced_by,
                                               "parent_codes": ["331023003001GB00007"]}))
    assert status(report, "SPLIT-07") == s07
    assert status(report, "SPLIT-08") == s08


def test_split_08_no_split_flag():
    assert status(check(split_request(parcel_props={"no_split": True})), "SPLIT-08") == "fail"


# --- SPLIT-09: transferees ---------------------------------------------------------------------


@pytest.mark.parametrize(("transferee", "expected"), [
    (company(rating="A"), "pass"),
    (company(rating="B"), "pass"),
    (company(rating="C"), "fail"),
    (company(rating="D"), "fail"),
    (company(rating="A", compliance_flags=["safety"]), "fail"),
    (company(rating="B", compliance_flags=["能耗"]), "fail"),
    (company(rating=None), "needs_review"),                      # unrated
    (company(rating="B", compliance_flags=None), "needs_review"),  # compliance unknown
    (company(rating="B", rating_year=2020), "needs_review"),     # not the previous year's rating
    (None, "needs_review"),                                      # transferred, transferee unknown
])
def test_split_09_transferees(transferee, expected):
    req = split_request(transferees={"B": transferee})
    report = check(req)
    r = result(report, "SPLIT-09")
    assert r["status"] == expected
    if expected != "pass":
        assert "B" in r["features"]


def test_split_09_key_project_counts_as_a_while_under_construction():
    t = company(rating=None, key_project={"total_investment_wan": 12000, "under_construction": True})
    report = check(split_request(transferees={"B": t}))
    assert status(report, "SPLIT-09") == "pass"
    rating = result(report, "RATING-01")
    assert rating["status"] == "pass"
    assert rating["measured"]["B"]["effective"] == "A"


def test_rating_01_not_d_still_needs_review_for_split():
    t = company(rating="D", key_project={"total_investment_wan": 5000, "under_construction": True})
    report = check(split_request(transferees={"B": t}))
    assert result(report, "RATING-01")["measured"]["B"]["basis"] == "key_project_not_d"
    assert status(report, "SPLIT-09") == "needs_review"


# --- SPLIT-10: confirmations ---------------------------------------------------------------------


def test_split_10_missing_confirmations_need_review():
    report = check(split_request(confirmations={"planning": True}))
    r = result(report, "SPLIT-10")
    assert r["status"] == "needs_review"
    assert set(r["features"]) == {"fire_safety", "environment", "contract_permits"}
    assert report["verdict"] == "needs_review"
    assert check(split_request(confirmations=None))["verdict"] == "needs_review"


def test_split_10_refused_confirmation_fails():
    conf = {"planning": True, "fire_safety": False, "environment": True, "contract_permits": True}
    assert status(check(split_request(confirmations=conf)), "SPLIT-10") == "fail"


# --- SPLIT-01: completed and in production on the as-of date ------------------------------------


@pytest.mark.parametrize(("as_of", "expected"), [
    ("2023-06-30", "fail"),   # production starts the next day
    ("2023-07-01", "pass"),   # the day itself counts
])
def test_split_01_in_production_on_the_as_of_date(as_of, expected):
    req = split_request(as_of=as_of, parcel_props={"completed_on": "2023-05-01",
                                                   "production_started_on": "2023-07-01"})
    assert status(check(req), "SPLIT-01") == expected


def test_split_01_not_completed():
    req = split_request(parcel_props={"completed_on": None, "production_started_on": None})
    r = result(check(req), "SPLIT-01")
    assert r["status"] == "fail" and "completed_on" in r["message_en"]


# --- SPLIT-11 and SUPPORT-01 ---------------------------------------------------------------------


def test_split_11_standard_land_lists_obligations():
    ind = {"亩均税收_万元": 30, "容积率": 1.5}
    r = result(check(split_request(parcel_props={"standard_land": True, "standard_land_indicators": ind})),
               "SPLIT-11")
    assert r["status"] == "pass"
    assert r["measured"]["indicators"] == ind
    assert r["features"] == ["B", "C"]


def _support_request(*, support_m2: float, rating: str | None, zone: bool | None, floor: float | None,
                     lot_width: float = 100.0) -> dict:
    sc = split_scene(lot_width=lot_width)
    h = support_m2 / 20.0
    sc.support = [rect(x=lot_width - 25, y=120 - h, w=20, h=h)]
    bprops = [{"floor_area_m2": 1000.0} for _ in sc.buildings]
    return split_request(scene=sc, parcel_props={"in_development_zone": zone,
                                                 "holder": company(name="原权利人", rating=rating)},
                         building_props=bprops, support_props=[{"floor_area_m2": floor}])


@pytest.mark.parametrize(("support_m2", "rating", "zone", "floor", "expected"), [
    (840, "C", False, 100, "pass"),           # 7.00 % of the 12000 m² lot A: at the cap
    (860, "C", False, 100, "fail"),           # 7.17 %, C holder, outside parks: 7 % applies
    (1680, "A", False, 100, "fail"),          # 14 %, A holder but lot A is 18 mu (< 50 mu)
    (860, None, None, 100, "needs_review"),   # whether the raised cap applies is unknown
    (860, "C", True, 500, "pass"),            # industrial park: 15 %; floor 500 / 2000 = 25 % ≤ 30 %
    (860, "C", True, 700, "fail"),            # floor share 35 % > 30 %
    (860, "C", True, None, "needs_review"),   # floor share unknown
    (2000, "A", True, 100, "fail"),           # 16.67 %: above even 15 %
])
def test_support_01_shares(support_m2, rating, zone, floor, expected):
    r = result(check(_support_request(support_m2=support_m2, rating=rating, zone=zone, floor=floor)), "SUPPORT-01")
    assert r["status"] == expected, r["message_en"]
    assert r["limit"]["max_share"] == 0.07 and r["limit"]["raised_max_share"] == 0.15


def test_support_01_raised_cap_for_an_a_holder_on_50_mu():
    # lot A is 300 × 120 m = 54 mu; 14 % support land with 25 % floor share
    req = _support_request(support_m2=5040, rating="A", zone=False, floor=500, lot_width=300)
    r = result(check(req), "SUPPORT-01")
    assert r["status"] == "pass", r["message_en"]
    assert r["measured"]["A"]["raised_cap_applies"] is True
