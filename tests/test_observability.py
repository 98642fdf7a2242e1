"""Request ids, JSON logs, Prometheus metrics and the 5xx request id (app.observability)."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.db import make_engine
from app.main import create_app
from app.observability import JsonFormatter, RequestIdFilter, TextFormatter
from tests.api_helpers import SHOWCASE, api_client, auth, make_token, showcase_split_request, sql_rows

CRS = {"crs": "EPSG:4549"}
STORED = SHOWCASE["split_ok"]["parcel_code"]
HEX32 = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(scope="module")
def officer(sample_settings_module):
    """(key, token id) of an officer token."""
    key = make_token(sample_settings_module, "officer", "obs-officer")
    engine = make_engine(sample_settings_module)
    try:
        token_id = str(sql_rows(engine, "SELECT id FROM api_tokens WHERE name = 'obs-officer'")[0].id)
    finally:
        engine.dispose()
    return key, token_id


@pytest.fixture(scope="module")
def client(sample_settings_module, officer):
    with api_client(sample_settings_module) as c:
        c.headers.update(auth(officer[0]))
        yield c


@contextmanager
def json_log(level=logging.DEBUG):
    """Every record logged in the block, rendered by the service's JSON formatter (lines of a StringIO)."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield buf
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def scrape(client) -> dict[tuple[str, frozenset], float]:
    res = client.get("/metrics")
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(res.text) for s in family.samples}


def value(samples, name, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


# --- request id ----------------------------------------------------------------------------------------------

def test_request_id_is_generated_and_echoed(client):
    first, second = client.get("/api/v1/rule-sets"), client.get("/api/v1/rule-sets")
    assert first.status_code == second.status_code == 200
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert all(HEX32.fullmatch(i) for i in ids) and ids[0] != ids[1]


def test_incoming_request_id_is_kept(client):
    sane = "edge-7f3a.b:c_D" + "x" * 113  # 128 characters of the allowed alphabet
    assert client.get("/api/v1/rule-sets", headers={"X-Request-ID": sane}).headers["x-request-id"] == sane


@pytest.mark.parametrize("insane", ["has space", "a/b", "x" * 129, "<script>", "ид".encode(), ""])
def test_insane_request_id_is_replaced(client, insane):
    got = client.get("/api/v1/rule-sets", headers={"X-Request-ID": insane}).headers["x-request-id"]
    assert HEX32.fullmatch(got) and got != insane


# --- logs ----------------------------------------------------------------------------------------------------

def test_one_json_access_line_per_request_without_the_token(client, officer):
    key, token_id = officer
    with json_log() as buf:
        res = client.get(f"/api/v1/parcels/{STORED}", headers={"X-Request-ID": "trace-42"})
        client.get("/no/such/page")
    assert res.status_code == 200
    lines = [json.loads(line) for line in buf.getvalue().splitlines()]  # every record is one JSON object
    access = [entry for entry in lines if entry["logger"] == "landgis.access"]
    assert len(access) == 2
    hit, miss = access
    assert hit["request_id"] == "trace-42" and hit["level"] == "INFO"
    assert datetime.fromisoformat(hit["timestamp"]).tzinfo is not None
    assert (hit["method"], hit["path"], hit["route"], hit["status"]) == \
        ("GET", f"/api/v1/parcels/{STORED}", "/api/v1/parcels/{code}", 200)
    assert hit["bytes"] == len(res.content) and hit["duration_ms"] > 0 and hit["client"]
    assert hit["token_id"] == token_id
    assert (miss["route"], miss["status"]) == (None, 404) and HEX32.fullmatch(miss["request_id"])
    text = buf.getvalue()
    assert key not in text and key[4:] not in text and "Bearer" not in text


def test_json_formatter_keeps_chinese_masks_secrets_and_carries_the_exception():
    try:
        raise RuntimeError("连接失败 postgresql://landgis:s3cr3t-pw@db:5432/landgis")
    except RuntimeError:
        record = logging.getLogger("landgis.test").makeRecord(
            "landgis.test", logging.ERROR, __file__, 1, "数据库不可用 password=hunter2 %s", ("Bearer lgk_abcDEF",),
            sys.exc_info(), extra={"parcel": "331023002001GB00022"})
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert "\n" not in line and "数据库不可用" in line  # UTF-8, not \u escapes
    assert entry["level"] == "ERROR" and entry["logger"] == "landgis.test"
    assert entry["parcel"] == "331023002001GB00022"
    assert "RuntimeError: 连接失败" in entry["exception"]
    for secret in ("s3cr3t-pw", "hunter2", "abcDEF"):
        assert secret not in line
    assert "postgresql://landgis:***@db" in entry["exception"]
    text = TextFormatter().format(record)
    assert " ERROR landgis.test [-] 数据库不可用" in text and "s3cr3t-pw" not in text


# --- metrics -------------------------------------------------------------------------------------------------

def test_latency_histogram_by_route_template_and_status_class(client):
    before = scrape(client)
    for _ in range(2):
        assert client.get(f"/api/v1/parcels/{STORED}").status_code == 200
    client.get("/no/such/page-1")
    client.get("/no/such/page-2")
    after = scrape(client)
    name = "http_request_duration_seconds_count"
    template = {"handler": "/api/v1/parcels/{code}", "method": "GET", "status": "2xx"}
    assert value(after, name, **template) - value(before, name, **template) == 2
    unmatched = {"handler": "none", "method": "GET", "status": "4xx"}
    assert value(after, name, **unmatched) - value(before, name, **unmatched) == 2
    assert not any(dict(labels).get("handler", "").startswith(("/no/", f"/api/v1/parcels/{STORED}"))
                   for _, labels in after)


def test_check_counters_grow_by_a_real_check(client, sample_settings_module):
    before = scrape(client)
    res = client.post("/api/v1/checks/split", params=CRS, json=showcase_split_request(sample_settings_module))
    assert res.status_code == 200, res.text
    report = res.json()
    after = scrape(client)
    verdict = {"operation": "split", "verdict": report["verdict"]}
    assert value(after, "landgis_checks_total", **verdict) - value(before, "landgis_checks_total", **verdict) == 1
    expected = Counter((r["rule"], r["status"]) for r in report["results"])
    assert len(expected) >= 3
    for (rule, status), n in expected.items():
        labels = {"rule": rule, "status": status}
        name = "landgis_check_rules_total"
        assert value(after, name, **labels) - value(before, name, **labels) == n, (rule, status)


def test_pool_gauges_read_at_scrape_time(client, sample_settings_module):
    client.get(f"/api/v1/parcels/{STORED}")
    idle = scrape(client)
    size = sample_settings_module.db_pool_size
    assert value(idle, "landgis_db_pool_size", pool="primary") == size
    assert value(idle, "landgis_db_pool_size", pool="ogc") == size
    assert ("landgis_db_pool_connections", frozenset({("pool", "ogc")})) in idle
    held = value(idle, "landgis_db_pool_checked_out", pool="primary")
    conn = client.app.state.engine.connect()
    try:
        busy = scrape(client)
    finally:
        conn.close()
    assert value(busy, "landgis_db_pool_checked_out", pool="primary") == held + 1
    assert value(busy, "landgis_db_pool_connections", pool="primary") >= 1
    assert value(scrape(client), "landgis_db_pool_checked_out", pool="primary") == held


def test_metrics_off_removes_the_endpoint(sample_settings_module):
    with api_client(sample_settings_module.model_copy(update={"metrics": False})) as c:
        res = c.get("/metrics")
    assert res.status_code == 404 and res.headers["content-type"].startswith("application/problem+json")


# --- 5xx -----------------------------------------------------------------------------------------------------

def test_500_problem_carries_the_request_id(sample_settings_module):
    app = create_app(sample_settings_module)

    @app.get("/test-only/boom")
    def boom():
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as c, json_log(logging.INFO) as buf:
        generated = c.get("/test-only/boom")
        quoted = c.get("/test-only/boom", headers={"X-Request-ID": "user-quotes-this"})
    for res in (generated, quoted):
        assert res.status_code == 500 and res.headers["content-type"].startswith("application/problem+json")
        assert res.json()["request_id"] == res.headers["x-request-id"]
    assert quoted.json()["request_id"] == "user-quotes-this"
    errors = [json.loads(line) for line in buf.getvalue().splitlines()]
    logged = [e for e in errors if e["logger"] == "app.errors" and e.get("request_id") == "user-quotes-this"]
    assert len(logged) == 1 and "RuntimeError: boom" in logged[0]["exception"]
    access = [e for e in errors if e["logger"] == "landgis.access" and e["request_id"] == "user-quotes-this"]
    assert [(e["status"], e["route"], e["level"]) for e in access] == [(500, "/test-only/boom", "WARNING")]


def test_4xx_problem_has_no_request_id_member(client):
    res = client.get("/api/v1/parcels/NO-SUCH-PARCEL")
    assert res.status_code == 404 and "request_id" not in res.json() and res.headers["x-request-id"]


# --- landgis serve --workers 2 -------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status, r.read()


@pytest.mark.slow
def test_serve_with_two_workers_logs_json_once_and_aggregates_metrics(sample_settings_module, tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANDGIS_", "PROMETHEUS_"))}
    env.update(DATABASE_URL=sample_settings_module.sqlalchemy_url, LANDGIS_LOG_FORMAT="json", LANDGIS_ENV="test",
               TMPDIR=str(tmp_path))
    landgis = Path(sys.executable).with_name("landgis")
    stderr = tmp_path / "stderr.log"
    with open(stderr, "wb") as err:
        proc = subprocess.Popen([str(landgis), "serve", "--workers", "2", "--port", str(port)], env=env,
                                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            started = stderr.read_text(encoding="utf-8").count("Application startup complete")
            try:
                if started == 2 and _get(f"{base}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, stderr.read_text()
            time.sleep(0.2)
        before = {(s.name, frozenset(s.labels.items())): s.value for f in
                  text_string_to_metric_families(_get(f"{base}/metrics")[1].decode()) for s in f.samples}
        with ThreadPoolExecutor(4) as pool:  # concurrent connections: both workers get some
            assert [status for status, _ in pool.map(_get, [f"{base}/openapi.json"] * 12)] == [200] * 12
        (metrics_dir,) = tmp_path.glob("landgis-prometheus-*")
        assert len({f.stem.rsplit("_", 1)[-1] for f in metrics_dir.glob("histogram_*.db")}) == 2
        scrapes = []
        for _ in range(4):  # whichever worker answers, the count covers both
            text = _get(f"{base}/metrics")[1].decode()
            scrapes.append({(s.name, frozenset(s.labels.items())): s.value
                            for f in text_string_to_metric_families(text) for s in f.samples})
        labels = {"handler": "/openapi.json", "method": "GET", "status": "2xx"}
        for after in scrapes:
            grew = value(after, "http_request_duration_seconds_count", **labels) - \
                value(before, "http_request_duration_seconds_count", **labels)
            assert grew == 12
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert not list(tmp_path.glob("landgis-prometheus-*"))  # serve made its multiprocess directory and removed it
    lines = [line for line in stderr.read_text(encoding="utf-8").splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # uvicorn's own lines are JSON too
    assert any(e["logger"].startswith("uvicorn") for e in entries)
    openapi = [e for e in entries if e.get("path") == "/openapi.json"]
    assert len(openapi) == 12 and all(e["logger"] == "landgis.access" for e in openapi)
    assert not any("/openapi.json" in e["message"] and e["logger"] != "landgis.access" for e in entries)
    assert len({e["request_id"] for e in openapi}) == 12
