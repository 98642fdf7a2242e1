"""POST /api/v1/checks/… on stored and inline parcels, recorded; rule sets; problems."""

from __future__ import annotations

import pytest
import shapely
from sqlalchemy import text

from app.db import make_engine
from gis.rules.factories import company, feature, feature_collection
from tests.api_helpers import (
    AS_OF,
    SHOWCASE,
    api_client,
    auth,
    building_centroids_x,
    make_token,
    parcel_geometry,
    showcase_split_request,
)

CRS = {"crs": "EPSG:4549"}


@pytest.fixture(scope="module")
def client(sample_settings_module):
    with api_client(sample_settings_module) as c:
        c.headers.update(auth(make_token(sample_settings_module, "officer", "checker")))
        yield c


def statuses(report):
    return {r["rule"]: r["status"] for r in report["results"]}


def test_showcase_split_passes_and_is_recorded(client, sample_settings_module):
    req = showcase_split_request(sample_settings_module)
    resp = client.post("/api/v1/checks/split", params=CRS, json=req)
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert report["verdict"] == "pass", [r for r in report["results"] if r["status"] != "pass"]
    assert report["rule_set"]["id"] == "tiantai-2022" and report["rule_set"]["in_force_on_as_of"] is False
    assert [r["rule"] for r in report["results"]] == sorted(r["rule"] for r in report["results"])
    engine = make_engine(sample_settings_module)
    try:
        with engine.connect() as conn:
            row = conn.execute(text("SELECT actor, operation, verdict, parcel_codes FROM checks WHERE id = :i"),
                               {"i": report["check_id"]}).one()
            audited = conn.execute(text("SELECT count(*) FROM audit_log WHERE action = 'check.split' "
                                        "AND detail->>'check_id' = :i"), {"i": report["check_id"]}).scalar()
    finally:
        engine.dispose()
    assert row.actor.startswith("checker") and row.operation == "split" and row.verdict == "pass"
    assert row.parcel_codes == [SHOWCASE["split_ok"]["parcel_code"]]
    assert audited == 1


def test_split_cutting_a_building_fails_split_02(client, sample_settings_module):
    code = SHOWCASE["split_ok"]["parcel_code"]
    x_mid = building_centroids_x(sample_settings_module, code)[-1]
    resp = client.post("/api/v1/checks/split", params=CRS, json=showcase_split_request(sample_settings_module, x_mid))
    assert resp.status_code == 200
    assert resp.json()["verdict"] == "fail"
    assert statuses(resp.json())["SPLIT-02"] == "fail"


def test_inline_split_same_as_stored(client, sample_settings_module):
    code = SHOWCASE["split_ok"]["parcel_code"]
    req = showcase_split_request(sample_settings_module)
    geom = parcel_geometry(sample_settings_module, code)
    req["parcel"] = feature(geom, parcel_code="331023002001GB99999", completed_on="2016-06-19",
                            production_started_on="2016-09-12", produced_by="original", ownership_nature="国有",
                            right_type="出让", holder=company(rating="A"))
    resp = client.post("/api/v1/checks/split", params=CRS, json=req)
    assert resp.status_code == 200, resp.text
    st = statuses(resp.json())
    assert st["SPLIT-01"] == st["SPLIT-06"] == st["SPLIT-04"] == "pass"
    assert st["SPLIT-02"] != "pass"  # no buildings given inline: nothing shows each lot holds one
    engine = make_engine(sample_settings_module)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT b.number, ST_AsBinary(b.geom) FROM buildings b JOIN parcels p ON p.id = b.parcel_id "
                "WHERE p.parcel_code = :c AND p.valid_to IS NULL"), {"c": code}).all()
            (support,) = conn.execute(text(
                "SELECT ST_AsBinary(s.geom) FROM support_land s JOIN parcels p ON p.id = s.parcel_id "
                "WHERE p.parcel_code = :c AND p.valid_to IS NULL"), {"c": code}).scalars()
    finally:
        engine.dispose()
    req["buildings"] = feature_collection([feature(shapely.from_wkb(w), number=n) for n, w in rows])
    req["support_land"] = feature_collection([feature(shapely.from_wkb(support))])
    st = statuses(client.post("/api/v1/checks/split", params=CRS, json=req).json())
    assert st["SPLIT-02"] == st["SPLIT-05"] == st["SPLIT-06"] == "pass"


def test_merge_and_edge_plot_showcases(client):
    merge = client.post("/api/v1/checks/merge", json={"as_of": AS_OF, "parcels": SHOWCASE["merge_ok"]["parcel_codes"],
                                                      "holder": company(rating="B")})
    assert merge.status_code == 200
    st = statuses(merge.json())
    assert st["MERGE-01"] == st["MERGE-02"] == st["MERGE-06"] == "pass"
    case = SHOWCASE["edge_ok"]
    strip = shapely.from_wkt(case["strip_wkt_epsg4549"])
    req = {"as_of": AS_OF, "parcel": case["parcel_code"],
           "plots": feature_collection([feature(strip, label="P1")]), "far_before": 1.0, "far_after": 1.3,
           "confirmations": {"industrial_guidance": True}}
    edge = client.post("/api/v1/checks/edge-plots", params=CRS, json=req)
    assert edge.status_code == 200
    st = statuses(edge.json())
    assert st["EDGE-01"] == st["EDGE-02"] == st["EDGE-04"] == "pass"
    # the strip moved onto the neighbouring parcel overlaps a current parcel: EDGE-04 from PostGIS
    moved = shapely.affinity.translate(strip, xoff=-30)
    req["plots"] = feature_collection([feature(moved, label="P1")])
    edge = client.post("/api/v1/checks/edge-plots", params=CRS, json=req)
    assert statuses(edge.json())["EDGE-04"] == "fail"


@pytest.mark.parametrize(("body", "params", "status", "code"), [
    ({"as_of": AS_OF, "parcels": ["331023009009GB99999", "331023002001GB00022"]}, {}, 404, "unknown-parcel"),
    ({"parcels": ["331023002001GB00022", "331023002001GB00023"], "rule_set": "nope"}, {}, 404, "unknown-rule-set"),
    ({"parcels": ["331023002001GB00022", "331023002001GB00023"]}, {"crs": "EPSG:999999"}, 400, None),
    ({"parcels": "x", "as_of": "2025-13-45"}, {}, 422, None),
])
def test_problems(client, body, params, status, code):
    resp = client.post("/api/v1/checks/merge", params=params, json=body)
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    if code:
        assert resp.json()["code"] == code


def test_malformed_json_and_body_limit(client, sample_settings_module):
    resp = client.post("/api/v1/checks/split", content=b"{not json", headers={"content-type": "application/json"})
    assert 400 <= resp.status_code < 500
    assert resp.headers["content-type"].startswith("application/problem+json")
    small = sample_settings_module.model_copy(update={"max_body_bytes": 2048})
    with api_client(small) as c:
        resp = c.post("/api/v1/checks/split", content=b"{" + b" " * 5000 + b"}",
                      headers={**client.headers, "content-type": "application/json"})
    assert resp.status_code == 413
    assert resp.headers["content-type"].startswith("application/problem+json")


def test_rule_sets(client):
    listing = client.get("/api/v1/rule-sets").json()["rule_sets"]
    assert "tiantai-2022" in {r["id"] for r in listing}
    one = client.get("/api/v1/rule-sets/tiantai-2022").json()
    assert one["id"] == "tiantai-2022" and one["effective_from"] == "2022-02-20"
    assert client.get("/api/v1/rule-sets/nope").status_code == 404
