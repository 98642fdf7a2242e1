"""Faults the service must survive, on a PostGIS cluster of the tests' own (``tests/scratch_cluster.py``).

* PostgreSQL stopped and started again under load: every answer is a success or a 503 problem, none hangs
  or resets, and the same app process serves again once the database is back.
* A client that walks away from a streaming download leaves no open cursor, transaction or lost connection.
* An operation cut off inside its transaction (backend terminated, or the server process killed) leaves
  nothing half-written, and a retry with the same Idempotency-Key executes exactly once.
"""

from __future__ import annotations

import itertools
import math
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from app.db import migrate
from app.importer import ImportOptions, import_path
from app.localdb import LocalDbError, find_pg_bindir
from tests.api_helpers import SHOWCASE, auth, make_token, showcase_split_request
from tests.live_server import live_server
from tests.scratch_cluster import ScratchCluster, free_port, scratch_cluster

ROOT = Path(__file__).resolve().parents[1]
PROBLEM = "application/problem+json"
CRS = {"crs": "EPSG:4549"}
SPLIT_CODE = SHOWCASE["split_ok"]["parcel_code"]
COPIES = 20  # the download tests' buildings: the sample's 1,094 twenty times, ~10 MB of GeoJSON: more than the
# server's socket can buffer (tcp_wmem max 4 MB), so the server is still sending when the client leaves
_names = itertools.count()


@pytest.fixture(scope="module")
def scratch() -> ScratchCluster:
    """A cluster of this module's own, its database ``landgis`` holding the sample (a template for each test)."""
    try:
        find_pg_bindir()
    except LocalDbError as exc:
        pytest.skip(f"no PostgreSQL server binaries to run a scratch cluster: {exc}")
    with scratch_cluster() as sc:
        migrate(sc.settings.sqlalchemy_url)
        import_path(sc.settings, ROOT / "sample_parcels" / "tiantai.gpkg", ImportOptions(actor="test"))
        yield sc


def _clone(sc: ScratchCluster, **update):
    return sc.clone("landgis", f"fault_{next(_names)}", **update)


def _one(sc: ScratchCluster, settings, sql: str, *params):
    with psycopg.connect(sc.conninfo(settings.sqlalchemy_url.rsplit("/", 1)[-1]), autocommit=True,
                         application_name="fault-test") as conn:
        cur = conn.execute(sql, params or None)
        return cur.fetchall() if cur.description else []


def _app_backends(sc: ScratchCluster, settings) -> list[tuple]:
    """The app's sessions on ``settings``' database that hold a transaction open or are running a statement."""
    return _one(sc, settings,
                "SELECT application_name, state, backend_xid::text, xact_start::text, left(query, 80) "
                "FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'landgis%' "
                "AND (state IN ('active', 'idle in transaction', 'idle in transaction (aborted)') "
                "OR xact_start IS NOT NULL OR backend_xid IS NOT NULL)")


def _not_ok_while_db_away(resp: httpx.Response) -> str | None:
    """Why ``resp`` is not an acceptable answer while the database is away (None: it is)."""
    if resp.status_code == 200:
        return None
    if resp.status_code != 503:
        return f"status {resp.status_code}: {resp.text[:300]}"
    if resp.headers.get("content-type") != PROBLEM:
        return f"503 with content-type {resp.headers.get('content-type')}"
    if not resp.headers.get("retry-after", "").isdigit():
        return f"503 without Retry-After: {dict(resp.headers)}"
    body = resp.json()
    if not (body.get("status") == 503 and body.get("detail_zh") and body.get("detail_en")
            and any("\u4e00" <= ch <= "\u9fff" for ch in body["detail_zh"])):
        return f"503 body not a bilingual problem: {body}"
    return None


# ---- 1. PostgreSQL stopped and started under load --------------------------------------------------------------
@dataclass
class Hit:
    name: str
    started: float
    ended: float
    status: int | None
    problem: str | None


def _endpoints(settings) -> dict[str, tuple[str, str, dict, bool]]:
    """name: (method, path, request keywords, anonymous?). OGC reads come anonymous like a public map's."""
    lon, lat = 121.03, 29.14  # Tiantai
    n = 1 << 12
    x, y = int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return {
        "list": ("GET", "/api/v1/parcels?limit=50", {}, False),
        "detail": ("GET", f"/api/v1/parcels/{SPLIT_CODE}", {}, False),
        "stats": ("GET", "/api/v1/stats", {}, False),
        "items": ("GET", "/ogc/collections/parcels/items?limit=20", {}, True),
        "tile": ("GET", f"/ogc/collections/parcels/tiles/WebMercatorQuad/12/{x}/{y}", {}, True),
        "check": ("POST", "/api/v1/checks/split?crs=EPSG:4549", {"json": showcase_split_request(settings)}, False),
        "readyz": ("GET", "/readyz", {}, True),
    }


@pytest.mark.slow
def test_database_restart_under_load(scratch):
    # checks here are many more than a clerk's; OGC reads are open, so they reach the read pool without a token
    settings = _clone(scratch, write_rate_per_minute=0, anonymous_read=True)
    token = auth(make_token(settings, "officer", "fault-load"))
    endpoints = _endpoints(settings)
    hits: list[Hit] = []
    stop = threading.Event()
    timeout = 5.0

    def call(client: httpx.Client, name: str) -> Hit:
        method, path, kw, anonymous = endpoints[name]
        t0 = time.monotonic()
        try:
            resp = client.request(method, path, headers=None if anonymous else token, **kw)
        except httpx.HTTPError as exc:
            return Hit(name, t0, time.monotonic(), None, f"{type(exc).__name__}: {exc}")
        return Hit(name, t0, time.monotonic(), resp.status_code, _not_ok_while_db_away(resp))

    with live_server(settings) as live:
        def worker(name: str) -> None:
            with httpx.Client(base_url=live.url, timeout=timeout) as client:
                while not stop.is_set():
                    hits.append(call(client, name))
                    time.sleep(0.02)

        with httpx.Client(base_url=live.url, timeout=timeout) as client:
            for name in endpoints:  # everything works (and is warm) before the fault
                hit = call(client, name)
                assert hit.status == 200 and hit.problem is None, (name, hit)
            threads = [threading.Thread(target=worker, args=(name,), daemon=True) for name in endpoints]
            for t in threads:
                t.start()
            time.sleep(0.5)
            scratch.stop()
            down_at = time.monotonic()
            time.sleep(2.5)
            up_from = time.monotonic()
            scratch.start()
            up_at = time.monotonic()
            recovered: dict[str, float] = {}
            while len(recovered) < len(endpoints) and time.monotonic() < up_at + 15:
                for name in endpoints:
                    if name not in recovered:
                        hit = call(client, name)
                        hits.append(hit)
                        if hit.status == 200:
                            recovered[name] = hit.ended - up_at
                time.sleep(0.05)
            stop.set()
            for t in threads:
                t.join(timeout=timeout + 2)
            assert set(recovered) == set(endpoints), \
                f"not answering 200 15 s after the restart: {set(endpoints) - set(recovered)}; last: {hits[-10:]}"
            for name in endpoints:  # and still fine afterwards, on the same app process
                hit = call(client, name)
                assert hit.status == 200 and hit.problem is None, (name, hit)

            # a restart nobody noticed (no request while it was down): the pooled connections are all dead,
            # yet at most the first request finds out
            with ThreadPoolExecutor(8) as pool:  # several connections in the read pool
                assert set(pool.map(lambda _: call(client, "items").status, range(32))) == {200}
            scratch.stop()
            scratch.start()
            quiet = [call(client, "items") for _ in range(12)]
            assert all(h.problem is None for h in quiet), quiet
            assert sum(h.status == 503 for h in quiet) <= 1, [h.status for h in quiet]
            assert quiet[-1].status == 200

    # A page whose status line went out before PostgreSQL stopped (OGC items stream from a cursor) can only be
    # cut short: an unterminated chunked body, which no client takes for a whole document. Nothing else is.
    cut = [h for h in hits if h.problem and h.started < down_at and "incomplete chunked read" in h.problem]
    bad = [h for h in hits if h.problem is not None and h not in cut]
    assert not bad, f"{len(bad)} bad answers of {len(hits)}, e.g. {bad[:5]}"
    assert {h.name for h in cut} <= {"items"}, cut
    slow = [h for h in hits if h.ended - h.started > timeout]
    assert not slow, slow[:5]
    held = [h for h in hits if h.started < down_at and h.ended > up_from]
    assert not held, f"requests held for the whole outage instead of a 503: {held}"
    during = [h for h in hits if h.started >= down_at and h.ended <= up_from]
    assert any(h.name == "readyz" and h.status == 503 for h in during), "readyz was never 503 during the outage"
    assert {h.name for h in during if h.status == 503} == set(endpoints), \
        f"not every endpoint answered 503 during the outage: {sorted({(h.name, h.status) for h in during})}"
    print(f"\n{len(hits)} requests, {len(during)} during the outage "
          f"({sum(h.status == 503 for h in during)} × 503, slowest {max(h.ended - h.started for h in during):.2f} s); "
          "first 200 after the restart: "
          + ", ".join(f"{n} {t:.2f} s" for n, t in sorted(recovered.items(), key=lambda kv: kv[1]))
          + f"; quiet restart: {[h.status for h in quiet]}; streams cut by the stop: {len(cut)}")


# ---- 2. a client walking away from a streaming download --------------------------------------------------------
def _open_download(url: str, path: str, *, read_bytes: int) -> tuple[socket.socket, bytes]:
    """A raw HTTP/1.1 GET that reads the status line and about ``read_bytes`` of the response, then stops reading.

    The receive buffer is small, so the server soon blocks on sending the rest (mid-stream)."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect((host, int(port)))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while len(data) < read_bytes:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return sock, data


def _ogc_checked_out(client: httpx.Client) -> float:
    """Connections of the OGC read pool in use now, as ``/metrics`` reports them."""
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("landgis_db_pool_checked_out{") and 'pool="ogc"' in line:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no landgis_db_pool_checked_out for the ogc pool in /metrics")


@pytest.mark.parametrize("fmt,how", [("geojson", "close"), ("csv", "reset")])
def test_client_disconnect_mid_download(scratch, fmt, how):
    settings = _clone(scratch, anonymous_read=True, metrics=True)
    _one(scratch, settings, "INSERT INTO buildings (parcel_id, number, floors, height_m, floor_area_m2, use, geom) "
                            "SELECT parcel_id, number || '-' || k, floors, height_m, floor_area_m2, use, geom "
                            f"FROM buildings, generate_series(2, {COPIES}) AS k")
    ((n,),) = _one(scratch, settings, "SELECT count(*) FROM buildings b JOIN parcels p ON p.id = b.parcel_id "
                                      "WHERE p.valid_to IS NULL")
    assert n > 10 * 2000
    path = f"/ogc/collections/buildings/download?f={fmt}"
    with live_server(settings) as live:
        sock, data = _open_download(live.url, path, read_bytes=16_384)
        try:
            assert data.startswith(b"HTTP/1.1 200"), data[:300]
            busy = _app_backends(scratch, settings)  # the cursor's transaction is open: we are mid-stream
            assert any(r[0] == "landgis-ogc" for r in busy), f"the download is not mid-stream: {busy}"
            with httpx.Client(base_url=live.url, timeout=10) as client:
                assert _ogc_checked_out(client) >= 1
        finally:
            if how == "reset":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        with httpx.Client(base_url=live.url, timeout=30) as client:
            deadline = time.monotonic() + 5
            while ((busy := _app_backends(scratch, settings)) or _ogc_checked_out(client)) \
                    and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not busy, f"still busy 5 s after the client left: {busy}"
            assert _ogc_checked_out(client) == 0, "the download's connection never went back to the pool"
            resp = client.get(path)
            assert resp.status_code == 200
            if fmt == "geojson":
                assert len(resp.json()["features"]) == n
            elif fmt == "csv":
                assert resp.text.count("\n") == n + 1
            assert client.get("/ogc/collections/buildings/items?limit=5").status_code == 200
        assert not _app_backends(scratch, settings)


# ---- 3. an operation cut off inside its transaction -------------------------------------------------------------
STALL_S = 5
_STALL = f"""
CREATE FUNCTION fault_stall() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_sleep({STALL_S}); RETURN NEW; END $$;
CREATE TRIGGER fault_stall BEFORE INSERT ON audit_log FOR EACH ROW
  WHEN (NEW.action LIKE 'operation.%') EXECUTE FUNCTION fault_stall();
"""


def _snapshot(sc: ScratchCluster, settings) -> dict:
    """What an executed split changes: the parent's validity, children, operations, audit, checks, code sequences."""
    q = lambda sql, *p: _one(sc, settings, sql, *p)  # noqa: E731
    return {
        "parent": q("SELECT id, valid_to, retired_by FROM parcels WHERE parcel_code = %s ORDER BY id", SPLIT_CODE),
        "children": q("SELECT parcel_code FROM parcels WHERE %s = ANY(parent_codes) ORDER BY 1", SPLIT_CODE),
        "retired": q("SELECT count(*) FROM parcels WHERE valid_to IS NOT NULL"),
        "parcels": q("SELECT count(*), max(id) FROM parcels"),
        "operations": q("SELECT count(*) FROM operations"),
        "operation_parcels": q("SELECT count(*) FROM operation_parcels"),
        "audit": q("SELECT action, count(*) FROM audit_log GROUP BY 1 ORDER BY 1"),
        "checks": q("SELECT count(*) FROM checks"),
        "code_seq": q("SELECT prefix, last_seq FROM parcel_code_seq ORDER BY 1"),
        "holders": q("SELECT count(*) FROM holders"),
    }


def _stalled_backend(sc: ScratchCluster, settings, timeout: float = 20) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = _one(sc, settings, "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                  "AND application_name = 'landgis' AND wait_event = 'PgSleep'")
        if rows:
            return rows[0][0]
        time.sleep(0.05)
    raise AssertionError("the split never reached the stalled audit insert")


def _post_split(base_url: str, key: str, body: dict, idem: str, out: list) -> None:
    try:
        with httpx.Client(base_url=base_url, headers={**auth(key), "Idempotency-Key": idem}, timeout=30) as client:
            out.append(client.post("/api/v1/operations/split", params=CRS, json=body))
    except httpx.HTTPError as exc:
        out.append(exc)


def _assert_retry_executes_once(base_url: str, key: str, body: dict, idem: str, sc, settings, before: dict) -> None:
    with httpx.Client(base_url=base_url, headers={**auth(key), "Idempotency-Key": idem}, timeout=30) as client:
        first = client.post("/api/v1/operations/split", params=CRS, json=body)
        assert first.status_code == 201, first.text
        again = client.post("/api/v1/operations/split", params=CRS, json=body)
        assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
        assert again.json()["operation_id"] == first.json()["operation_id"]
    after = _snapshot(sc, settings)
    assert after["operations"][0][0] == before["operations"][0][0] + 1
    assert len(after["children"]) == 2
    assert after["parent"][0][1] is not None
    assert dict(after["audit"]).get("operation.split") == 1
    children = [c for (c,) in after["children"]]
    assert dict(after["code_seq"])[SPLIT_CODE[:14]] == max(int(c[14:]) for c in children)
    assert {k: v for k, v in after["code_seq"] if k != SPLIT_CODE[:14]} == dict(before["code_seq"])


def test_operation_interrupted_by_backend_termination(scratch):
    settings = _clone(scratch)
    key = make_token(settings, "officer", "fault-executor")
    body = showcase_split_request(settings)
    _one(scratch, settings, _STALL)
    before = _snapshot(scratch, settings)
    with live_server(settings) as live:
        out: list = []
        t = threading.Thread(target=_post_split, args=(live.url, key, body, "fault-a", out))
        t.start()
        pid = _stalled_backend(scratch, settings)
        assert _one(scratch, settings, "SELECT pg_terminate_backend(%s)", pid) == [(True,)]
        t.join(timeout=20)
        (resp,) = out
        assert isinstance(resp, httpx.Response), resp
        assert resp.status_code == 503 and _not_ok_while_db_away(resp) is None, resp.text
        assert _snapshot(scratch, settings) == before
        _one(scratch, settings, "DROP TRIGGER fault_stall ON audit_log")
        _assert_retry_executes_once(live.url, key, body, "fault-a", scratch, settings, before)


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"uvicorn exited: {proc.stderr.read().decode(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("uvicorn did not start")


def _uvicorn(settings) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": settings.sqlalchemy_url, "LANDGIS_ENV": "test", "LANDGIS_LOG_LEVEL": "WARNING"}
    env.pop("DATABASE_READ_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(url, proc)
    except BaseException:
        proc.kill()
        proc.wait(10)
        raise
    return proc, url


@pytest.mark.slow
def test_operation_interrupted_by_server_kill(scratch):
    settings = _clone(scratch)
    key = make_token(settings, "officer", "fault-executor")
    body = showcase_split_request(settings)
    _one(scratch, settings, _STALL)
    before = _snapshot(scratch, settings)
    proc, url = _uvicorn(settings)
    try:
        out: list = []
        t = threading.Thread(target=_post_split, args=(url, key, body, "fault-b", out))
        t.start()
        pid = _stalled_backend(scratch, settings)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        t.join(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    (resp,) = out
    assert isinstance(resp, httpx.TransportError), resp
    assert _snapshot(scratch, settings) == before  # nothing is visible while the orphaned transaction lingers
    # the orphaned backend finishes its sleep, finds its client gone and rolls back
    deadline = time.monotonic() + STALL_S + 10
    while _one(scratch, settings, "SELECT 1 FROM pg_stat_activity WHERE pid = %s", pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _one(scratch, settings, "SELECT 1 FROM pg_stat_activity WHERE pid = %s", pid)
    assert _snapshot(scratch, settings) == before
    _one(scratch, settings, "DROP TRIGGER fault_stall ON audit_log")
    with live_server(settings) as live:  # the server started again
        _assert_retry_executes_once(live.url, key, body, "fault-b", scratch, settings, before)
