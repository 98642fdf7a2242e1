"""The service answers /healthz against its database and serves the OpenAPI docs."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.db import head_revision
from app.main import create_app


def test_healthz_and_openapi(db_settings):
    with TestClient(create_app(db_settings)) as client:
        health = client.get("/healthz")
        assert health.status_code == 200
        body = health.json()
        assert body["database"] == "ok" and body["revision"] == body["head"] == head_revision()
        assert client.get("/readyz").json()["status"] == "ready"
        assert client.get("/openapi.json").json()["info"]["title"].startswith("天台县")
        assert client.get("/docs").status_code == 200


def test_healthz_reports_unreachable_database_as_503(db_settings):
    broken = db_settings.model_copy(update={"database_url": "postgresql://nobody@127.0.0.1:1/none"})
    with TestClient(create_app(broken)) as client:
        res = client.get("/healthz")
    assert res.status_code == 503
    assert res.headers["content-type"].startswith("application/problem+json")
    assert "数据库" in res.json()["detail"]


def test_unknown_path_is_problem_json(db_settings):
    with TestClient(create_app(db_settings)) as client:
        res = client.get("/no/such/thing")
    assert res.status_code == 404 and res.json()["status"] == 404


def test_readyz_says_migrations_pending_below_head(db_settings, empty_db_url):
    from app.db import migrate

    migrate(empty_db_url, "0001")
    behind = db_settings.model_copy(update={"database_url": empty_db_url})
    with TestClient(create_app(behind)) as client:
        assert client.get("/healthz").status_code == 200
        res = client.get("/readyz")
    assert res.status_code == 503 and res.json()["code"] == "migrations-pending"
    assert res.json()["revision"] == "0001" and res.json()["head"] == head_revision()
