"""Executed operations: split / merge / edge plots with lineage, new codes, locking, idempotency; overrides,
disposals."""

from __future__ import annotations

import threading

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
    split_lots,
)

CRS = {"crs": "EPSG:4549"}
SPLIT_CODE = SHOWCASE["split_ok"]["parcel_code"]


@pytest.fixture()
def client(sample_settings):
    with api_client(sample_settings) as c:
        c.headers.update(auth(make_token(sample_settings, "officer", "executor")))
        yield c


def _q(settings, sql, **params):
    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).all()
    finally:
        engine.dispose()


def test_split_executes_with_lineage_and_new_codes(client, sample_settings):
    req = showcase_split_request(sample_settings)
    resp = client.post("/api/v1/operations/split", params=CRS, json=req)
    assert resp.status_code == 201, resp.text
    result = resp.json()
    children = {c["label"]: c for c in result["children"]}
    assert set(children) == {"W", "E"}
    assert children["W"]["area_m2"] == pytest.approx(SHOWCASE["split_ok"]["west_lot_area_m2"], abs=0.01)
    (max_before,) = _q(sample_settings, "SELECT max(parcel_code) FROM parcels WHERE left(parcel_code, 14) = :p "
                       "AND parcel_code <> ALL(:new)", p=SPLIT_CODE[:14],
                       new=[c["parcel_code"] for c in result["children"]])[0]
    codes = sorted(c["parcel_code"] for c in result["children"])
    assert all(c[:14] == SPLIT_CODE[:14] and len(c) == 19 for c in codes)
    assert int(codes[0][14:]) == int(max_before[14:]) + 1 and int(codes[1][14:]) == int(codes[0][14:]) + 1

    parent = client.get(f"/api/v1/parcels/{SPLIT_CODE}").json()
    assert parent["facts"]["current"] is False
    assert parent["history"] and parent["history"][0]["retired_by"] == result["operation_id"]
    assert {c["parcel_code"] for c in parent["lineage"]["children"]} == set(codes)
    west = client.get(f"/api/v1/parcels/{children['W']['parcel_code']}").json()
    assert west["facts"]["produced_by"] == "split" and west["facts"]["parent_codes"] == [SPLIT_CODE]
    assert [p["parcel_code"] for p in west["lineage"]["parents"]] == [SPLIT_CODE]
    assert sorted(b["number"] for b in west["buildings"]) == SHOWCASE["split_ok"]["west_buildings"]
    assert len(west["support_land"]) == 1
    east = client.get(f"/api/v1/parcels/{children['E']['parcel_code']}").json()
    assert sorted(b["number"] for b in east["buildings"]) == SHOWCASE["split_ok"]["east_buildings"]
    assert east["facts"]["holder_name"] == company()["name"]
    assert any(c["operation"] == "split" for c in west["checks"]) is False  # checks name the parent, not lots
    assert any(c["operation"] == "split" for c in parent["checks"])
    # a second split of the retired parent is refused
    again = client.post("/api/v1/operations/split", params=CRS, json=req)
    assert again.status_code == 409 and again.json()["code"] == "parcel-not-current"
    # and a split of a child is a second split (SPLIT-07): refused with the report attached
    west_code = children["W"]["parcel_code"]
    west_geom = parcel_geometry(sample_settings, west_code)
    x_mid = (west_geom.bounds[0] + west_geom.bounds[2]) / 2
    second = client.post("/api/v1/operations/split", params=CRS, json={
        **req, "parcel": west_code, "lots": split_lots(west_geom, x_mid)})
    assert second.status_code == 422 and second.json()["code"] == "operation-refused"
    assert {r["rule"]: r["status"] for r in second.json()["report"]["results"]}["SPLIT-07"] == "fail"
    audit = _q(sample_settings, "SELECT count(*) FROM audit_log WHERE action = 'operation.split'")[0][0]
    assert audit == 1


def test_refused_when_the_check_fails(client, sample_settings):
    x_mid = building_centroids_x(sample_settings, SPLIT_CODE)[-1]
    resp = client.post("/api/v1/operations/split", params=CRS, json=showcase_split_request(sample_settings, x_mid))
    assert resp.status_code == 422
    body = resp.json()
    assert body["code"] == "operation-refused" and body["report"]["verdict"] == "fail"
    assert _q(sample_settings, "SELECT count(*) FROM parcels WHERE parcel_code = :c AND valid_to IS NULL",
              c=SPLIT_CODE)[0][0] == 1
    assert _q(sample_settings, "SELECT count(*) FROM operations")[0][0] == 0


def test_needs_review_without_confirmations_is_refused(client, sample_settings):
    req = showcase_split_request(sample_settings)
    req["confirmations"] = {"planning": True}
    resp = client.post("/api/v1/operations/split", params=CRS, json=req)
    assert resp.status_code == 422 and resp.json()["report"]["verdict"] == "needs_review"


def test_idempotent_retry(client, sample_settings):
    req = showcase_split_request(sample_settings)
    first = client.post("/api/v1/operations/split", params=CRS, json=req, headers={"Idempotency-Key": "k-1"})
    second = client.post("/api/v1/operations/split", params=CRS, json=req, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201 and second.status_code == 200
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json()["operation_id"] == first.json()["operation_id"]
    assert second.json()["children"] == first.json()["children"]
    assert _q(sample_settings, "SELECT count(*) FROM operations")[0][0] == 1
    other = client.post("/api/v1/operations/merge", json={"parcels": SHOWCASE["merge_ok"]["parcel_codes"]},
                        headers={"Idempotency-Key": "k-1"})
    assert other.status_code == 422 and other.json()["code"] == "idempotency-key-reused"


def test_concurrent_executions_one_wins(sample_settings):
    req = showcase_split_request(sample_settings)
    key = make_token(sample_settings, "officer", "racer")
    statuses: list[int] = []
    barrier = threading.Barrier(2)
    with api_client(sample_settings) as c:
        def run():
            barrier.wait()
            statuses.append(c.post("/api/v1/operations/split", params=CRS, json=req, headers=auth(key)).status_code)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(statuses) == [201, 409]
    assert _q(sample_settings, "SELECT count(*) FROM operations")[0][0] == 1


def test_simultaneous_retries_with_one_key_execute_once(sample_settings):
    """Two requests with the same Idempotency-Key at once: one executes, the other waits and replays it."""
    req = showcase_split_request(sample_settings)
    key = make_token(sample_settings, "officer", "retrier")
    answers: list = []
    barrier = threading.Barrier(2)
    with api_client(sample_settings) as c:
        def run():
            barrier.wait()
            answers.append(c.post("/api/v1/operations/split", params=CRS, json=req,
                                  headers={**auth(key), "Idempotency-Key": "same-key"}))

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(a.status_code for a in answers) == [200, 201], [a.text[:200] for a in answers]
    assert answers[0].json()["operation_id"] == answers[1].json()["operation_id"]
    assert _q(sample_settings, "SELECT count(*) FROM operations")[0][0] == 1


def test_locked_parent_is_409_at_once(client, sample_settings):
    engine = make_engine(sample_settings)
    try:
        with engine.begin() as conn:
            conn.execute(text("SELECT id FROM parcels WHERE parcel_code = :c AND valid_to IS NULL FOR UPDATE"),
                         {"c": SPLIT_CODE})
            resp = client.post("/api/v1/operations/split", params=CRS, json=showcase_split_request(sample_settings))
    finally:
        engine.dispose()
    assert resp.status_code == 409 and resp.json()["code"] == "parcel-locked"
    assert resp.headers["content-type"].startswith("application/problem+json")


def test_merge_and_edge_plot_execute(client, sample_settings):
    codes = SHOWCASE["merge_ok"]["parcel_codes"]
    resp = client.post("/api/v1/operations/merge", json={"as_of": AS_OF, "parcels": codes,
                                                         "holder": company(rating="B")})
    assert resp.status_code == 201, resp.json().get("report", {}).get("results")
    (child,) = resp.json()["children"]
    d = client.get(f"/api/v1/parcels/{child['parcel_code']}").json()
    assert d["facts"]["produced_by"] == "merge" and d["facts"]["no_split"] is True
    assert d["facts"]["lease_end_on"] == min(SHOWCASE["merge_ok"]["lease_end_on"])
    assert sorted(p["parcel_code"] for p in d["lineage"]["parents"]) == sorted(codes)
    case = SHOWCASE["edge_ok"]
    strip = shapely.from_wkt(case["strip_wkt_epsg4549"])
    req = {"as_of": AS_OF, "parcel": case["parcel_code"], "plots": feature_collection([feature(strip, label="P1")]),
           "far_before": 1.0, "far_after": 1.3, "confirmations": {"industrial_guidance": True}}
    resp = client.post("/api/v1/operations/edge-plots", params=CRS, json=req)
    assert resp.status_code == 201, resp.json().get("report", {}).get("results")
    (child,) = resp.json()["children"]
    before = _q(sample_settings, "SELECT area_m2 FROM parcels WHERE parcel_code = :c", c=case["parcel_code"])[0][0]
    assert child["area_m2"] == pytest.approx(before + case["strip_area_m2"], abs=0.05)
    assert client.get(f"/api/v1/parcels/{child['parcel_code']}").json()["facts"]["produced_by"] == "edge_plot"


def test_inline_parcel_cannot_be_executed(client, sample_settings):
    req = showcase_split_request(sample_settings)
    req["parcel"] = {"type": "Feature", "geometry": None, "properties": {}}
    resp = client.post("/api/v1/operations/split", params=CRS, json=req)
    assert resp.status_code == 422 and resp.json()["code"] == "stored-parcel-required"


def test_viewer_cannot_execute(client, sample_settings):
    resp = client.post("/api/v1/operations/split", params=CRS, json=showcase_split_request(sample_settings),
                       headers=auth(make_token(sample_settings, "viewer")))
    assert resp.status_code == 403


def test_category_override_and_disposal(client, sample_settings):
    code = SHOWCASE["split_ok"]["parcel_code"]
    resp = client.put(f"/api/v1/parcels/{code}/category-override",
                      json={"category": "low_efficiency", "reason": "实地核查：长期停产"})
    assert resp.status_code == 200, resp.text
    d = client.get(f"/api/v1/parcels/{code}", params={"as_of": AS_OF}).json()
    assert d["category"]["category"] == "low_efficiency" and d["category"]["derived_category"] == "none"
    listed = client.get("/api/v1/parcels", params={"as_of": AS_OF, "criterion": "override"}).json()["parcels"]
    assert [i["parcel_code"] for i in listed] == [code]
    assert client.put(f"/api/v1/parcels/{code}/category-override", json={"category": "x", "reason": "r"}
                      ).status_code == 422
    client.put(f"/api/v1/parcels/{code}/category-override", json={"category": "approved_unsupplied", "reason": "测试"})
    listed = client.get("/api/v1/parcels", params={"as_of": AS_OF, "category": "approved_unsupplied",
                                                   "limit": 1000}).json()["parcels"]
    assert code in {i["parcel_code"] for i in listed}  # found although its facts say otherwise
    assert client.delete(f"/api/v1/parcels/{code}/category-override", params={"reason": "复核"}).status_code == 204
    assert client.delete(f"/api/v1/parcels/{code}/category-override", params={"reason": "复核"}).status_code == 404
    body = {"parcel_code": code, "method": "协议转让", "area_mu": 3.5, "disposed_on": "2025-05-01"}
    resp = client.post("/api/v1/disposals", json=body)
    assert resp.status_code == 201 and resp.json()["area_mu"] == pytest.approx(3.5, abs=1e-3)
    assert client.post("/api/v1/disposals", json=body).status_code == 409
    actions = {r[0] for r in _q(sample_settings, "SELECT action FROM audit_log")}
    assert {"category.override", "category.override.clear", "disposal.record"} <= actions
