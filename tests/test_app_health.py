"""Liveness (/healthz, with the database's state) and readiness (/readyz); the OpenAPI docs."""

from __future__ import annotations

import socket
import time

from fastapi.testclient import TestClient

from app.db import head_revision
from app.main import create_app


def test_healthz_and_openapi(db_settings):
    with TestClient(create_app(db_settings)) as client:
        health = client.get("/healthz")
        assert health.status_code == 200
        body = health.json()
        assert body["status"] == "ok" and body["database"] == "ok"
        assert body["revision"] == body["head"] == head_revision()
        assert client.get("/readyz").json()["status"] == "ready"
        assert client.get("/openapi.json").json()["info"]["title"].startswith("天台县")
        assert client.get("/docs").status_code == 200


def test_unreachable_database_keeps_liveness_and_fails_readiness(db_settings):
    broken = db_settings.model_copy(update={"database_url": "postgresql://nobody@127.0.0.1:1/none"})
    with TestClient(create_app(broken)) as client:
        live = client.get("/healthz")
        ready = client.get("/readyz")
    assert live.status_code == 200
    assert live.json()["status"] == "ok" and live.json()["database"] == "unavailable"
    assert ready.status_code == 503 and ready.headers["content-type"].startswith("application/problem+json")
    assert ready.json()["code"] == "database-unavailable" and "数据库" in ready.json()["detail"]
    assert ready.json()["request_id"] == ready.headers["x-request-id"]


def test_hung_database_does_not_hang_the_probes(db_settings, monkeypatch):
    """A server that accepts connections and never answers (a frozen database): both probes answer in time."""
    from app.routers import health

    monkeypatch.setattr(health, "PROBE_TIMEOUT_S", 0.5)
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)  # the kernel completes the handshakes; nobody ever reads
        port = hung.getsockname()[1]
        frozen = db_settings.model_copy(update={"database_url": f"postgresql://nobody@127.0.0.1:{port}/none"})
        client = TestClient(create_app(frozen))  # no lifespan: the pools would only wait on the same server
        started = time.monotonic()
        live = client.get("/healthz")
        ready = client.get("/readyz")
        elapsed = time.monotonic() - started
    assert live.status_code == 200 and live.json()["database"] == "unavailable"
    assert ready.status_code == 503 and ready.json()["code"] == "database-unavailable"
    assert elapsed < 2.5, elapsed


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
