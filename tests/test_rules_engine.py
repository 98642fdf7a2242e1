"""run_check: the report's shape (CHECKS-API.md), rule sets and their window, CRS handling, input errors."""

from __future__ import annotations

import copy
from datetime import date

import orjson
import pytest

from gis.errors import GisInputError
from gis.rules import OPERATIONS, run_check
from gis.rules.factories import edge_request, merge_request, rect, split_request, split_scene

REQUESTS = {"split": split_request, "merge": merge_request, "edge-plots": edge_request}


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_report_shape(operation):
    report = run_check(operation, REQUESTS[operation]())
    assert set(report) >= {"verdict", "rule_set", "as_of", "results"}
    assert report["verdict"] in ("pass", "fail", "needs_review")
    assert report["rule_set"] == {
        "id": "tiantai-2022", "title": report["rule_set"]["title"], "title_en": report["rule_set"]["title_en"],
        "source": report["rule_set"]["source"], "effective_from": "2022-02-20", "effective_to": "2023-12-31",
        "in_force_on_as_of": True}
    assert report["rule_set"]["title"].startswith("天政发〔2022〕1号")
    assert report["as_of"] == "2023-06-01"
    rules = [r["rule"] for r in report["results"]]
    assert rules == list(OPERATIONS[operation]) == sorted(rules)
    assert len(set(rules)) == len(rules)
    for r in report["results"]:
        assert set(r) >= {"rule", "status", "title_zh", "title_en", "message_zh", "message_en", "measured",
                          "limit", "features"}
    assert "report_id" not in report
    orjson.dumps(report)  # JSON-ready as is
    assert sum(report["counts"].values()) == len(rules)


def test_split_report_lots_member():
    report = run_check("split", split_request())
    assert report["lots"][0] == {"label": "A", "area_m2": 12000.0, "area_mu": 18.0, "retained": True,
                                 "transferee": None}
    assert report["parent"]["area_m2"] == 36000.0


def test_verdict_rule():
    assert run_check("split", split_request())["verdict"] == "pass"
    needs = run_check("split", split_request(confirmations={}))
    assert needs["verdict"] == "needs_review"
    both = run_check("split", split_request(confirmations={}, scene=split_scene(n_lots=4)))
    assert both["verdict"] == "fail"


# --- rule set window -------------------------------------------------------------------------------


@pytest.mark.parametrize(("as_of", "in_force"), [
    ("2022-02-19", False), ("2022-02-20", True), ("2023-12-31", True), ("2024-01-01", False),
])
def test_expired_rule_set_still_runs_and_says_so(as_of, in_force):
    report = run_check("split", split_request(), as_of=as_of)
    assert report["as_of"] == as_of
    assert report["rule_set"]["in_force_on_as_of"] is in_force
    codes = [w["code"] for w in report["warnings"]]
    assert ("rule-set-not-in-force" in codes) is (not in_force)
    assert len(report["results"]) == len(OPERATIONS["split"])
    if not in_force:
        (w,) = [w for w in report["warnings"] if w["code"] == "rule-set-not-in-force"]
        assert "未生效" in w["message_zh"] and "not in force" in w["message_en"]


def test_as_of_precedence_and_default():
    req = split_request(as_of="2023-03-01")
    assert run_check("split", req)["as_of"] == "2023-03-01"
    assert run_check("split", req, as_of=date(2023, 5, 5))["as_of"] == "2023-05-05"
    del req["as_of"]
    from gis.rules import today
    assert run_check("split", req)["as_of"] == today().isoformat()


def test_unknown_rule_set_is_404():
    with pytest.raises(GisInputError) as ei:
        run_check("split", split_request(rule_set="nowhere-1999"))
    assert ei.value.status == 404 and ei.value.code == "unknown-rule-set" and ei.value.pointer == "/rule_set"


def test_changing_a_threshold_is_data_only():
    from gis.rulesets import get_rule_set

    rs = get_rule_set("tiantai-2022")
    strict = rs.model_copy(update={"split": rs.split.model_copy(update={"min_lot_mu": 20})})
    report = run_check("split", split_request(), rule_set=strict)
    assert report["results"][4]["rule"] == "SPLIT-04" and report["results"][4]["status"] == "fail"


# --- CRS -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("crs", ["EPSG:4549", "http://www.opengis.net/def/crs/EPSG/0/4549", "EPSG:4528",
                                 "EPSG:4490", "OGC:CRS84", "urn:ogc:def:crs:EPSG::4549"])
def test_same_report_in_any_crs(crs):
    base = run_check("split", split_request())
    req = split_request(crs=crs, crs_member=False)
    other = run_check("split", req, crs=None if crs == "OGC:CRS84" else crs)
    assert other["verdict"] == base["verdict"]
    assert [r["status"] for r in other["results"]] == [r["status"] for r in base["results"]]
    assert [lot["area_m2"] for lot in other["lots"]] == pytest.approx([lot["area_m2"] for lot in base["lots"]],
                                                                      abs=0.01)


def test_crs_member_in_the_old_geojson_form():
    req = split_request(crs_member=False)
    req["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4549"}}
    assert run_check("split", req)["verdict"] == "pass"


def test_crs_conflict_is_400():
    with pytest.raises(GisInputError) as ei:
        run_check("split", split_request(crs="EPSG:4549"), crs="EPSG:4490")
    assert ei.value.code == "crs-conflict" and ei.value.status == 400


def test_unknown_crs_is_400():
    with pytest.raises(GisInputError) as ei:
        run_check("split", split_request(crs_member=False), crs="EPSG:999999")
    assert ei.value.code == "unknown-crs" and ei.value.status == 400
    with pytest.raises(GisInputError) as ei:
        run_check("split", split_request(crs_member=False), crs="EPSG:5773")  # a vertical CRS
    assert ei.value.code == "unknown-crs"


def _swap_positions(obj):
    if isinstance(obj, list) and obj and isinstance(obj[0], int | float):
        return [obj[1], obj[0], *obj[2:]]
    if isinstance(obj, list):
        return [_swap_positions(o) for o in obj]
    if isinstance(obj, dict):
        return {k: (_swap_positions(v) if k in ("coordinates", "features", "geometry", "parcel", "lots",
                                                "buildings", "support_land") else v) for k, v in obj.items()}
    return obj


def test_swapped_axes_in_epsg_4549_are_refused():
    req = _swap_positions(split_request())  # easting first although EPSG:4549 is northing first
    with pytest.raises(GisInputError) as ei:
        run_check("split", req)
    e = ei.value
    assert e.code == "axis-order-swapped" and e.status == 400
    assert e.pointer == "/parcel/geometry"
    assert "northing first" in e.detail_en and "北坐标在前" in e.detail_zh


def test_swapped_axes_in_crs84_are_refused():
    req = _swap_positions(split_request(crs="OGC:CRS84"))  # lat, lon
    with pytest.raises(GisInputError) as ei:
        run_check("split", req)
    assert ei.value.code == "axis-order-swapped"


def test_far_outside_coordinates_are_refused():
    req = split_request(crs="OGC:CRS84")
    req["lots"]["features"][1]["geometry"]["coordinates"] = [[[116.39, 39.9], [116.4, 39.9], [116.4, 39.91],
                                                             [116.39, 39.9]]]  # Beijing
    with pytest.raises(GisInputError) as ei:
        run_check("split", req)
    assert ei.value.code == "outside-jurisdiction" and ei.value.pointer == "/lots/features/1/geometry"


def test_metres_sent_as_crs84_and_zone_prefix_hints():
    with pytest.raises(GisInputError) as ei:
        run_check("split", split_request(crs_member=False))  # EPSG:4549 numbers read as lon/lat
    assert ei.value.code == "outside-jurisdiction" and "EPSG:4549" in ei.value.detail_en
    req = split_request(crs="EPSG:4528")
    req["crs"] = "EPSG:4549"
    with pytest.raises(GisInputError) as ei:
        run_check("split", req)
    assert "EPSG:4528" in ei.value.detail_en


# --- input errors ----------------------------------------------------------------------------------


def test_invalid_parent_geometry_is_422():
    sc = split_scene()
    from shapely import Polygon

    x0, y0 = 603000.0, 3225000.0
    sc.parent = Polygon([(x0, y0), (x0 + 300, y0 + 120), (x0 + 300, y0), (x0, y0 + 120), (x0, y0)])
    with pytest.raises(GisInputError) as ei:
        run_check("split", split_request(scene=sc))
    e = ei.value
    assert e.status == 422 and e.code == "invalid-geometry" and e.pointer == "/parcel/geometry"
    assert e.extra["reason"] == "Self-intersection"
    assert e.extra["location"]["x"] == pytest.approx(603150.0)


@pytest.mark.parametrize(("mutate", "code", "status", "pointer"), [
    (lambda r: r.__setitem__("lots", {"type": "FeatureCollection", "features": []}), "no-lots", 422, "/lots"),
    (lambda r: r["lots"]["features"][0].__setitem__("geometry", {"type": "Point", "coordinates": [1, 2]}),
     "not-a-polygon", 422, "/lots/features/0/geometry/type"),
    (lambda r: r["lots"]["features"][0]["geometry"]["coordinates"][0].pop(), "ring-not-closed", 400,
     "/lots/features/0/geometry/coordinates/0"),
    (lambda r: r["lots"]["features"][0]["geometry"]["coordinates"][0].__setitem__(1, ["x", 1]), "bad-position",
     400, "/lots/features/0/geometry/coordinates/0/1"),
    (lambda r: r["lots"]["features"][0]["geometry"].__setitem__("coordinates", []), "empty-geometry", 422,
     "/lots/features/0/geometry/coordinates"),
    (lambda r: r.__setitem__("lots", [1, 2]), "not-geojson", 400, "/lots/0"),
    (lambda r: r["parcel"]["properties"].__setitem__("completed_on", "yesterday"), "invalid-value", 422,
     "/parcel/properties/completed_on"),
    (lambda r: r["lots"]["features"][1]["properties"]["transferee"].__setitem__("rating", "E"), "invalid-value",
     422, "/lots/features/1/properties/transferee/rating"),
    (lambda r: r["lots"]["features"][1]["properties"].__setitem__("label", "A"), "duplicate-label", 422,
     "/lots/features/1/properties/label"),
    (lambda r: r["lots"]["features"][0]["properties"].__setitem__("transferee", {"name": "x"}),
     "lot-retained-and-transferred", 422, "/lots/features/0/properties/retained"),
    (lambda r: r.__setitem__("as_of", "2023-13-01"), "invalid-value", 422, "/as_of"),
    (lambda r: r.__setitem__("parcel", 12), "not-geojson", 400, "/parcel"),
])
def test_input_errors_have_code_status_and_pointer(mutate, code, status, pointer):
    req = copy.deepcopy(split_request())
    mutate(req)
    with pytest.raises(GisInputError) as ei:
        run_check("split", req)
    e = ei.value
    assert (e.code, e.status, e.pointer) == (code, status, pointer), e.detail
    assert e.detail_zh and e.detail_en
    problem = e.to_problem()
    assert problem["status"] == status and problem["type"].endswith(code)


def test_building_geometry_invalid_is_422():
    sc = split_scene()
    from shapely import Polygon

    x0, y0 = 603010.0, 3225010.0
    sc.buildings[0] = Polygon([(x0, y0), (x0 + 10, y0 + 10), (x0 + 10, y0), (x0, y0 + 10), (x0, y0)])
    with pytest.raises(GisInputError) as ei:
        run_check("split", split_request(scene=sc))
    assert ei.value.status == 422 and ei.value.pointer == "/buildings/features/0/geometry"


def test_stored_code_without_register_is_refused():
    req = split_request()
    req["parcel"] = "331023003001GB00001"
    with pytest.raises(GisInputError) as ei:
        run_check("split", req)
    assert ei.value.code == "stored-parcel-needs-service"
    assert "service" in ei.value.detail_en and "服务" in ei.value.detail_zh


def test_unknown_stored_parcel_is_404():
    class Empty:
        def parcel(self, parcel_code, *, as_of):
            return None

        def parcels_intersecting(self, geometry, *, exclude, as_of):
            return []

        def holder(self, credit_code, *, year):
            return None

    req = merge_request()
    req["parcels"][1] = "331023003001GB09999"
    with pytest.raises(GisInputError) as ei:
        run_check("merge", req, stored_lookup=Empty())
    assert ei.value.status == 404 and ei.value.pointer == "/parcels/1"


def test_stored_parcels_in_a_merge_and_holder_from_register():
    from gis.rules import StoredParcel

    class Register:
        def parcel(self, parcel_code, *, as_of):
            i = int(parcel_code[-1])
            return StoredParcel({"parcel_code": parcel_code, "ownership_nature": "国有", "right_type": "出让",
                                 "lease_end_on": date(2060 + i, 1, 1)}, rect(x=100 * i, y=0, w=100, h=80),
                                current=i != 3)

        def parcels_intersecting(self, geometry, *, exclude, as_of):
            return []

        def holder(self, credit_code, *, year):
            assert year == 2022
            return {"rating": "C", "compliance_flags": []}

    req = {"as_of": "2023-06-01", "parcels": ["331023003001GB00001", "331023003001GB00002"],
           "holder": {"name": "受让方", "credit_code": "91331023MA2X000010"}}
    report = run_check("merge", req, stored_lookup=Register())
    statuses = {r["rule"]: r["status"] for r in report["results"]}
    assert statuses["MERGE-02"] == "pass" and statuses["MERGE-03"] == "pass"
    assert statuses["MERGE-05"] == "fail"  # rating C from the register
    req["parcels"].append("331023003001GB00003")  # retired
    report = run_check("merge", req, stored_lookup=Register())
    assert {r["rule"]: r["status"] for r in report["results"]}["MERGE-06"] == "fail"


def test_unknown_operation():
    with pytest.raises(GisInputError) as ei:
        run_check("subdivide", {})
    assert ei.value.code == "unknown-operation"
    with pytest.raises(GisInputError) as ei:
        run_check("split", [])  # type: ignore[arg-type]
    assert ei.value.code == "not-an-object"


@pytest.mark.parametrize("module", ["gis.units", "gis.crs", "gis.geometry", "gis.geojson", "gis.rulesets",
                                    "gis.categories", "gis.rules.engine", "gis.rules.result", "gis.rules.factories"])
def test_docstring_examples(module):
    import doctest
    import importlib

    failed, _ = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert failed == 0


def test_gis_imports_no_web_or_database_framework():
    import subprocess
    import sys

    code = ("import sys, gis.rules, gis.categories, gis.geojson, gis.rulesets, gis.geometry; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('fastapi', 'sqlalchemy', 'starlette')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0
