"""Roles: bearer tokens, 401 without / with a bad or revoked token, 403 with too low a role."""

from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

from app.db import make_engine
from app.services.tokens import hash_key, revoke_token, verify_key
from tests.api_helpers import api_client, auth, make_token


@pytest.fixture(scope="module")
def client(sample_settings_module):
    with api_client(sample_settings_module) as c:
        yield c


@pytest.fixture(scope="module")
def keys(sample_settings_module):
    return {r: make_token(sample_settings_module, r) for r in ("viewer", "officer", "admin")}


def _is_problem(resp, status):
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["status"] == status


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer lgk_nope"}, {"Authorization": "Basic abc"}])
def test_no_or_bad_token_is_401(client, headers):
    resp = client.get("/api/v1/rule-sets", headers=headers)
    _is_problem(resp, 401)
    assert resp.headers["www-authenticate"].startswith("Bearer")


def test_viewer_reads_but_cannot_check(client, keys):
    assert client.get("/api/v1/rule-sets", headers=auth(keys["viewer"])).status_code == 200
    resp = client.post("/api/v1/checks/merge", json={"parcels": []}, headers=auth(keys["viewer"]))
    _is_problem(resp, 403)
    assert "insufficient_scope" in resp.headers["www-authenticate"]


@pytest.mark.parametrize("role", ["officer", "admin"])
def test_officer_and_admin_may_check(client, keys, role):
    resp = client.post("/api/v1/checks/merge", json={"parcels": []}, headers=auth(keys[role]))
    assert resp.status_code == 422  # got past auth: the body is the problem
    assert resp.json()["code"] == "no-parcels"


def test_revoked_token_is_401(client, sample_settings_module):
    key = make_token(sample_settings_module, "officer", "to-revoke")
    engine = make_engine(sample_settings_module)
    try:
        token = verify_key(engine, key)
        assert token is not None and token.role == "officer"
        assert revoke_token(engine, token.id)
        assert verify_key(engine, key) is None
    finally:
        engine.dispose()
    _is_problem(client.get("/api/v1/rule-sets", headers=auth(key)), 401)


def test_a_token_revoked_elsewhere_is_refused_at_once(client, sample_settings_module):
    """A worker caches verified tokens; a revocation from another process (the CLI, SQL) reaches it by NOTIFY."""
    key = make_token(sample_settings_module, "officer", "cached-then-revoked")
    watch = client.app.state.register_watch
    deadline = time.monotonic() + 5
    while not watch.listening and time.monotonic() < deadline:
        time.sleep(0.05)
    assert watch.listening
    assert client.get("/api/v1/rule-sets", headers=auth(key)).status_code == 200
    assert watch.token(hash_key(key)) is not None  # cached: the next request needs no query
    engine = make_engine(sample_settings_module)
    try:
        assert revoke_token(engine, verify_key(engine, key).id)
    finally:
        engine.dispose()
    while watch.token(hash_key(key)) is not None and time.monotonic() < deadline + 5:
        time.sleep(0.02)
    _is_problem(client.get("/api/v1/rule-sets", headers=auth(key)), 401)


def test_anonymous_read_setting(sample_settings_module):
    settings = sample_settings_module.model_copy(update={"anonymous_read": True})
    with api_client(settings) as c:
        assert c.get("/api/v1/rule-sets").status_code == 200
        _is_problem(c.post("/api/v1/checks/merge", json={"parcels": []}), 401)


def test_cli_token_create_and_revoke(sample_settings_module, monkeypatch):
    from app import cli
    from app.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", sample_settings_module.database_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        out = runner.invoke(cli.app, ["token", "create", "--role", "officer", "--name", "cli-test"])
        assert out.exit_code == 0, out.output
        key = out.stdout.strip().splitlines()[-1]
        assert key.startswith("lgk_")
        engine = make_engine(sample_settings_module)
        try:
            token = verify_key(engine, key)
        finally:
            engine.dispose()
        assert token is not None and token.name == "cli-test"
        assert runner.invoke(cli.app, ["token", "revoke", token.id]).exit_code == 0
        assert runner.invoke(cli.app, ["token", "revoke", token.id]).exit_code == 1
    finally:
        get_settings.cache_clear()


def test_token_management_over_http(client, keys):
    assert client.get("/api/v1/tokens", headers=auth(keys["officer"])).status_code == 403
    resp = client.post("/api/v1/tokens", json={"role": "viewer", "name": "dashboard"}, headers=auth(keys["admin"]))
    assert resp.status_code == 201
    new = resp.json()
    assert client.get("/api/v1/rule-sets", headers=auth(new["key"])).status_code == 200
    listed = client.get("/api/v1/tokens", headers=auth(keys["admin"])).json()["tokens"]
    assert new["id"] in {t["id"] for t in listed} and all("key" not in t for t in listed)
    assert client.delete(f"/api/v1/tokens/{new['id']}", headers=auth(keys["admin"])).status_code == 204
    assert client.get("/api/v1/rule-sets", headers=auth(new["key"])).status_code == 401
    assert client.delete(f"/api/v1/tokens/{new['id']}", headers=auth(keys["admin"])).status_code == 404


@pytest.mark.parametrize("name", ["\x1f", " \x1c\t", "\u3000"], ids=["unit-separator", "separators", "ideographic"])
def test_a_blank_token_name_is_a_422_not_a_500(client, keys, name):
    """Python's ``str.strip`` (the service's test) removes U+001C–U+001F, which the schema's ``\\S`` lets through."""
    resp = client.post("/api/v1/tokens", json={"role": "viewer", "name": name}, headers=auth(keys["admin"]))
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")


def test_openapi_lists_the_api(client):
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/api/v1/checks/split", "/api/v1/parcels", "/api/v1/parcels/{code}", "/api/v1/operations/merge",
              "/api/v1/stats", "/api/v1/rule-sets/{rule_set_id}", "/api/v1/disposals"):
        assert p in paths
