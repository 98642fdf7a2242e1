"""Benchmark of the check API over HTTP: 16 concurrent clients for 20 s against a real uvicorn.

    python -m bench.bench_api [--clients 16] [--seconds 20] [--workers 1]

Creates a scratch database on the configured server (``landgis_bench_api``), migrates it, loads
``sample_parcels/tiantai.gpkg``, makes an officer token, starts ``uvicorn`` on a spare loopback
port and sends the showcase split (stored parcel, EPSG:4549 lots) and the showcase merge,
alternately, from ``--clients`` threads with keep-alive ``httpx`` clients. Reports p50 / p99
latency and requests per second; the database is dropped afterwards. Every check is recorded
(``checks`` + audit log), so this measures the write path too.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import shapely

ROOT = Path(__file__).resolve().parents[1]
DB = "landgis_bench_api"


def run_clients(count: int, client) -> float:
    """Run ``client(i)`` for i < ``count`` in as many threads at once; the wall time in seconds."""
    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def percentile_ms(sorted_seconds: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of sorted latencies in seconds, in milliseconds."""
    return sorted_seconds[min(len(sorted_seconds) - 1, int(q * len(sorted_seconds)))] * 1000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _prepare(settings):
    from app.db import make_engine, migrate
    from app.importer import ImportOptions, import_path
    from app.localdb import drop_database, ensure_database
    from app.services.tokens import create_token

    drop_database(settings, DB)
    ensure_database(settings, DB)
    url = settings.url_for(DB)
    migrate(url)
    s = settings.model_copy(update={"database_url": url})
    import_path(s, ROOT / "sample_parcels" / "tiantai.gpkg", ImportOptions(actor="bench"))
    engine = make_engine(s)
    try:
        key = create_token(engine, role="officer", name="bench")[1]
        from sqlalchemy import text

        with engine.connect() as conn:
            show = json.loads((ROOT / "sample_parcels" / "showcase.json").read_text(encoding="utf-8"))
            code = show["split_ok"]["parcel_code"]
            wkb = conn.execute(text("SELECT ST_AsBinary(geom) FROM parcels WHERE parcel_code = :c "
                                    "AND valid_to IS NULL"), {"c": code}).scalar_one()
    finally:
        engine.dispose()
    from gis.rules.factories import company, feature, feature_collection

    parent = shapely.get_geometry(shapely.from_wkb(wkb), 0)
    minx, miny, maxx, maxy = parent.bounds
    x = show["split_ok"]["cut_line_epsg4549"][0][0]
    lots = feature_collection([
        feature(shapely.intersection(parent, shapely.box(minx - 1, miny - 1, x, maxy + 1)), label="W", retained=True),
        feature(shapely.intersection(parent, shapely.box(x, miny - 1, maxx + 1, maxy + 1)), label="E",
                transferee=company(rating="B"))])
    split = {"as_of": "2025-06-30", "parcel": code, "lots": lots,
             "confirmations": {"planning": True, "fire_safety": True, "environment": True, "contract_permits": True}}
    merge = {"as_of": "2025-06-30", "parcels": show["merge_ok"]["parcel_codes"], "holder": company(rating="B")}
    return url, key, [("/api/v1/checks/split?crs=EPSG:4549", split), ("/api/v1/checks/merge", merge)]


def _prepare_register(settings, register: Path):
    """A scratch database holding ``register`` and a viewer token."""
    from app.db import make_engine, migrate
    from app.importer import ImportOptions, import_path
    from app.localdb import drop_database, ensure_database
    from app.services.tokens import create_token

    drop_database(settings, DB)
    ensure_database(settings, DB)
    url = settings.url_for(DB)
    migrate(url)
    s = settings.model_copy(update={"database_url": url})
    import_path(s, register, ImportOptions(actor="bench"))
    engine = make_engine(s)
    try:
        return url, create_token(engine, role="viewer", name="bench")[1]
    finally:
        engine.dispose()


def _wait_for_autovacuum(url: str, limit_s: float = 180) -> float:
    """Wait until no autovacuum worker runs in the bench database (it processes the bulk load in the
    background for a minute or two after an import); returns the seconds waited."""
    import psycopg
    from sqlalchemy.engine import make_url

    t0 = time.perf_counter()
    with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False),
                         autocommit=True) as conn:
        while time.perf_counter() - t0 < limit_s:
            busy = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker' "
                                "AND datname = current_database()").fetchone()[0]
            if not busy:
                break
            time.sleep(1)
    return time.perf_counter() - t0


def _time_geojson_pages(base: str, key: str, seconds: float, url_db: str | None = None) -> int:
    """One client paging through the register 1,000 GeoJSON features at a time (following ``next``), twice.

    The first walk starts right after the bulk import: every page is read for the first time, PostgreSQL
    sets the rows' hint bits as it goes, autovacuum and the checkpointer work through the load beside it,
    and the first page pays the category refresh. The second walk, once autovacuum is done, is the
    register as it is in service. Each walk stops after ``seconds``."""
    bad = 0
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c:
        for walk in ("first walk after the import", "second walk (steady state)"):
            if walk.startswith("second") and url_db:
                print(f"(waited {_wait_for_autovacuum(url_db):.0f} s for autovacuum to finish the bulk load)")
            times, features = [], 0
            url: str | None = "/api/v1/parcels?limit=1000&f=geojson"
            stop = time.perf_counter() + seconds
            while url and time.perf_counter() < stop:
                t0 = time.perf_counter()
                r = c.get(url)
                times.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    bad += 1
                    break
                body = r.json()
                features += len(body["features"])
                url = next((lk["href"] for lk in body.get("links", []) if lk.get("rel") == "next"), None)
            times.sort()
            print(f"GET /api/v1/parcels?limit=1000&f=geojson, {walk}: {len(times)} pages, {features} features "
                  f"({bad} non-200): p50 {times[len(times) // 2] * 1000:.1f} ms, "
                  f"p99 {times[min(len(times) - 1, int(0.99 * len(times)))] * 1000:.1f} ms (goal p50 ≤ 60 ms)")
    return 0 if bad == 0 else 1


def _raw_checks(base: str, key: str, bodies: list[tuple[str, bytes]], clients: int, seconds: float):
    """``clients`` keep-alive connections posting ``bodies`` in turn for ``seconds`` (run in its own process:
    the load generator must not share the server's GIL nor cost much CPU — raw HTTP/1.1 parsed by httptools,
    as bench_load does). Returns (wall seconds, latencies per path, errors, CPU seconds of this process)."""
    import asyncio
    import resource

    from bench.bench_load import _RawConnection

    host, port = base.removeprefix("http://").split(":")
    per_path: dict[str, list[float]] = {path: [] for path, _ in bodies}
    errors = 0
    heads = [(path, (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {key}\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode(), body)
             for path, body in bodies]

    async def one(i: int, stop: float) -> None:
        nonlocal errors
        conn, n = _RawConnection(host, int(port)), i
        while time.perf_counter() < stop:
            path, head, body = heads[n % len(heads)]
            n += 1
            t0 = time.perf_counter()
            try:
                status, _ = await conn.request(head, body)
            except (OSError, ConnectionError):
                status = 0
            per_path[path].append(time.perf_counter() - t0)
            errors += status != 200
        conn.close()

    async def drive() -> float:
        t0 = time.perf_counter()
        await asyncio.gather(*(one(i, t0 + seconds) for i in range(clients)))
        return time.perf_counter() - t0

    r0 = resource.getrusage(resource.RUSAGE_SELF)
    wall = asyncio.run(drive())
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return wall, per_path, errors, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--parcels-geojson", metavar="REGISTER",
                    help="instead of checks: load REGISTER (e.g. bench/out/large-200000/parcels.gpkg) and time "
                         "GET /api/v1/parcels?limit=1000&f=geojson from one client (goal: p50 ≤ 60 ms)")
    args = ap.parse_args(argv)

    from app.localdb import LocalCluster, drop_database
    from app.settings import Settings

    settings = Settings()
    if settings.uses_local_cluster:
        LocalCluster(settings).up(log=lambda *_: None)
    if args.parcels_geojson:
        url, key = _prepare_register(settings, Path(args.parcels_geojson))
        cases = []
    else:
        url, key, cases = _prepare(settings)
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url, "LANDGIS_DB_POOL_SIZE": str(max(args.clients, 10)),
           "LANDGIS_WRITE_RATE_PER_MINUTE": "0",
           "LANDGIS_LOG_LEVEL": os.environ.get("BENCH_SERVER_LOG_LEVEL", "WARNING")}  # INFO: one line per request
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--host", "127.0.0.1", "--port",
         str(port), "--workers", str(args.workers), "--no-access-log", "--log-level", "warning"],
        cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            print("server did not start", file=sys.stderr)
            return 1
        if args.parcels_geojson:
            # a fresh process: this one still holds the import's heap, whose garbage collections would be
            # timed as part of the client's requests
            with multiprocessing.get_context("spawn").Pool(1) as pool:
                return pool.apply(_time_geojson_pages, (base, key, args.seconds, url))
        bodies = [(path, json.dumps(body, ensure_ascii=False).encode()) for path, body in cases]
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(1) as pool:
            pool.apply(_raw_checks, (base, key, bodies, args.clients, 2.0))  # warm-up
            wall, per_path, errors, client_cpu = pool.apply(_raw_checks, (base, key, bodies, args.clients,
                                                                          args.seconds))
        lat = sorted(t for ts in per_path.values() for t in ts)
        p = lambda q: percentile_ms(lat, q)  # noqa: E731
        print(f"{args.clients} clients, {wall:.1f} s, {len(lat)} requests ({errors} non-200), "
              f"{len(lat) / wall:.1f} req/s; latency p50 {p(0.50):.1f} ms, p99 {p(0.99):.1f} ms, "
              f"mean {statistics.fmean(lat) * 1000:.1f} ms (uvicorn workers: {args.workers}; load generator "
              f"{client_cpu / wall:.2f} of a core)")
        for path, ts in per_path.items():
            ts.sort()
            if ts:
                print(f"  {path}: n {len(ts)}, p50 {ts[len(ts) // 2] * 1000:.1f} ms, "
                      f"p99 {ts[min(len(ts) - 1, int(0.99 * len(ts)))] * 1000:.1f} ms")
        return 0 if errors == 0 else 1
    finally:
        server.terminate()
        server.wait(10)
        drop_database(settings, DB)


if __name__ == "__main__":
    sys.exit(main())
