"""No client input gets a 5xx: odd parameters and bodies across the API all answer with a 4xx problem."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api_helpers import api_client, auth, make_token

STORED = ["331023002001GB00022", "331023002001GB00023"]


@pytest.fixture(scope="module")
def client(sample_settings_module):
    with api_client(sample_settings_module) as c:
        c.headers.update(auth(make_token(sample_settings_module, "admin")))
        yield c


def _problem(resp):
    assert 400 <= resp.status_code < 500, (resp.status_code, resp.text[:300])
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert {"type", "title", "status", "detail"} <= set(body)


@pytest.mark.parametrize("params", [
    {"bbox": "3,2,1,0"}, {"bbox": "a,b,c,d"}, {"as_of": "2025-02-30"},
    {"min_mu": "x"}, {"produced_by": "magic"}, {"q": "\x00"}, {"town": "\x00"}, {"limit": "100000"},
    {"crs": "nonsense", "f": "geojson"}, {"sort": "-"},
])
def test_parcel_list_parameters(client, params):
    _problem(client.get("/api/v1/parcels", params=params))


@pytest.mark.parametrize("path", ["/api/v1/parcels/%00", "/api/v1/operations/%00", "/api/v1/stats?as_of=x",
                                  "/api/v1/rule-sets/%00", "/api/v1/nowhere"])
def test_paths(client, path):
    _problem(client.get(path))


@pytest.mark.parametrize("body", [
    [], "text", {"parcel": 5}, {"parcel": {"type": "Feature"}}, {"parcels": [None, None]},
    {"parcels": ["\u0000x", STORED[0]]}, {"parcel": STORED[0], "lots": 3},
    {"parcel": STORED[0], "lots": {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": {
        "type": "Polygon", "coordinates": [[[1e308, 1e308], [1, 2], [3, 4], [1e308, 1e308]]]}}]}},
    {"parcels": STORED, "as_of": "tomorrow"}, {"parcels": STORED, "rule_set": 5}, {"parcels": STORED, "crs": "x"},
    {"parcels": STORED, "holder": {"credit_code": "bad", "rating": "Z"}},
])
@pytest.mark.parametrize("op", ["split", "merge", "edge-plots"])
def test_check_and_operation_bodies(client, body, op):
    _problem(client.post(f"/api/v1/checks/{op}", json=body))
    _problem(client.post(f"/api/v1/operations/{op}", json=body))


def test_other_bodies(client):
    _problem(client.post("/api/v1/disposals", json={"method": "其他", "disposed_on": "2025-01-01"}))
    _problem(client.post("/api/v1/disposals", json={"method": "其他", "area_m2": -1, "disposed_on": "2025-01-01"}))
    _problem(client.put("/api/v1/parcels/x/category-override", json={"category": "none", "reason": " "}))
    _problem(client.post("/api/v1/tokens", json={"role": "root", "name": "x"}))
    _problem(client.post("/api/v1/checks/merge", content=b"\xff\xfe", headers={"content-type": "application/json"}))
    _problem(client.post("/api/v1/operations/merge", json={"parcels": STORED}, headers={"Idempotency-Key": "k" * 300}))


PARAM_NAMES = ["as_of", "category", "criterion", "town", "holder", "rating", "min_mu", "max_mu", "land_use",
               "produced_by", "bbox", "bbox-crs", "q", "sort", "limit", "offset", "f", "crs"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(PARAM_NAMES), st.one_of(
    st.text(max_size=30), st.integers(-10**20, 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.lists(st.floats(-400, 400), min_size=4, max_size=4).map(lambda v: ",".join(map(str, v))),
    st.sampled_from(["EPSG:4549", "EPSG:4490", "CRS84", "EPSG:4528", "-area_mu", "category", "geojson", "csv"])),
    max_size=5))
def test_random_list_parameters_never_5xx(client, params):
    resp = client.get("/api/v1/parcels", params=params)
    assert resp.status_code < 500, (params, resp.text[:300])
    if resp.status_code >= 400:
        assert resp.headers["content-type"].startswith("application/problem+json")
