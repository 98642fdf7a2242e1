"""Load held: a realistic request mix from many clients against ``landgis serve --workers N``.

    .venv/bin/python -m bench.bench_load [--clients 32] [--seconds 60] [--workers 1,2,4] [--parcels 200000]
    .venv/bin/python -m bench.bench_load --ceiling [--ramp 8,16,32,64] [--workers 2]

The mix, drawn at random per request (seeded, so every run sends the same sequence):

* 70 % reads, in equal parts: the REST listing ``/api/v1/parcels?town=…&limit=50``, one parcel's detail
  ``/api/v1/parcels/{code}``, OGC items in a ~600 m CRS84 box around a parcel, a vector tile (z14–16 over
  a parcel) and one OGC feature ``/ogc/collections/parcels/items/{code}``;
* 20 % checks: ``POST /api/v1/checks/split?crs=EPSG:4549`` on stored parcels, each cut in two at the middle
  of its extent (the showcase split and up to 40 others; a body the server does not answer with 200 in the
  warm-up is dropped and counted);
* 10 % statistics: ``/api/v1/stats`` and ``/api/v1/stats/summary``.

Reads and statistics carry a viewer token, checks an officer token. Every run starts ``landgis serve
--workers N`` as a subprocess on a spare loopback port with ``LANDGIS_WRITE_RATE_PER_MINUTE=0`` and
``LANDGIS_LOG_LEVEL=WARNING`` (its output goes to ``bench/out/bench_load-server.log``), waits for
``/readyz``, warms up (every check body once, then ``--warmup`` seconds of the mix, not counted) and
measures for ``--seconds``.

The database is the sample register in its own database ``landgis_bench_load`` (created, then dropped at
the end unless ``--keep-db``) or, with ``--parcels N``, the generated register of ``bench_ogc``
(``bench/out/large-N/parcels.gpkg`` in ``landgis_bench_ogc``, generated and imported when missing).

The load generator runs in its own process (spawned, uvloop): ``--clients`` asyncio tasks, each with one
keep-alive HTTP/1.1 connection, parsing responses with httptools (the parser uvicorn uses), so one client
process costs far less CPU than the server it drives; ``--client httpx`` uses ``httpx.AsyncClient``
instead, to cross-check. CPU seconds of the client, the server processes and the PostgreSQL backends of
the bench database are measured and reported with the results, with the load average.

``--skip stats`` (any kinds of the mix) leaves kinds out, e.g. to see the rest of the mix without the
uncached ``/api/v1/stats``. An error is any status outside 2xx/3xx or any exception (timeout, reset); the
goal is zero. The tables
(markdown) go to stdout and, with the raw figures, to ``bench/out/bench_load.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import random
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlencode

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: bench/bench_load.py
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psutil  # noqa: E402

from bench.bench_api import _free_port, percentile_ms  # noqa: E402

DB = "landgis_bench_load"
OUT = ROOT / "bench" / "out"
SAMPLE = ROOT / "sample_parcels" / "tiantai.gpkg"
CONFIRMED = {"planning": True, "fire_safety": True, "environment": True, "contract_permits": True}
AS_OF = "2025-06-30"
# (kind, class, weight): 70 % reads in five equal parts, 20 % checks, 10 % statistics in two.
MIX = [("list", "read", 14), ("detail", "read", 14), ("ogc_bbox", "read", 14), ("tile", "read", 14),
       ("ogc_item", "read", 14), ("check_split", "check", 20), ("stats", "stats", 5), ("stats_summary", "stats", 5)]
CLASSES = ("read", "check", "stats")


# ---------------------------------------------------------------------------------------------- set-up

def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def prepare_database(args) -> tuple[str, object]:
    """The bench database's SQLAlchemy URL, and the settings object of the server it lives on."""
    from app.settings import Settings

    settings = Settings()
    if args.parcels:
        from bench import bench_ogc

        gpkg = bench_ogc.ensure_dataset(args.parcels)
        url, _ = bench_ogc.ensure_database(args.parcels, gpkg)
        return url, settings
    from app.db import migrate
    from app.importer import ImportOptions, import_path
    from app.localdb import LocalCluster, drop_database, ensure_database

    if settings.uses_local_cluster:
        LocalCluster(settings).up(log=lambda *_: None)
    drop_database(settings, DB)
    ensure_database(settings, DB)
    url = settings.url_for(DB)
    migrate(url)
    import_path(settings.model_copy(update={"database_url": url}), SAMPLE, ImportOptions(actor="bench"))
    return url, settings


def build_workload(url: str, seed: int = 7) -> dict:
    """Tokens and the concrete requests of each kind, drawn from the register itself."""
    import shapely
    from sqlalchemy import text

    from app.db import make_engine
    from app.services.tokens import create_token
    from app.settings import Settings
    from gis.rules.factories import company, feature, feature_collection

    rng = random.Random(seed)
    engine = make_engine(Settings(database_url=url))
    try:
        viewer = create_token(engine, role="viewer", name="bench-load viewer", actor="bench")[1]
        officer = create_token(engine, role="officer", name="bench-load officer", actor="bench")[1]
        with engine.connect() as conn:
            towns = [r[0] for r in conn.execute(text(
                "SELECT town FROM parcels WHERE valid_to IS NULL AND town IS NOT NULL GROUP BY town"))]
            rows = conn.execute(text(
                "SELECT parcel_code, ST_X(c), ST_Y(c) FROM (SELECT parcel_code, "
                "ST_Transform(ST_PointOnSurface(geom), 4326) AS c FROM parcels WHERE valid_to IS NULL "
                "ORDER BY md5(parcel_code) LIMIT 2000) s")).all()
            show_code = json.loads((ROOT / "sample_parcels" / "showcase.json").read_text(
                encoding="utf-8"))["split_ok"]["parcel_code"]
            cut = conn.execute(text(
                "SELECT parcel_code, ST_AsBinary(geom) FROM parcels WHERE valid_to IS NULL "
                "ORDER BY parcel_code <> :show, md5(parcel_code || 'cut') LIMIT 41"), {"show": show_code}).all()
    finally:
        engine.dispose()
    # the showcase split (the body of tests/api_helpers.showcase_split_request) and the others cut in the middle
    show = json.loads((ROOT / "sample_parcels" / "showcase.json").read_text(encoding="utf-8"))["split_ok"]
    splits = []
    for code, wkb in cut:
        geom = shapely.from_wkb(wkb)
        parent = shapely.get_geometry(geom, 0) if geom.geom_type == "MultiPolygon" else geom
        minx, miny, maxx, maxy = parent.bounds
        x = show["cut_line_epsg4549"][0][0] if code == show["parcel_code"] else (minx + maxx) / 2
        lots = feature_collection([
            feature(shapely.intersection(parent, shapely.box(minx - 1, miny - 1, x, maxy + 1)), label="W",
                    retained=True),
            feature(shapely.intersection(parent, shapely.box(x, miny - 1, maxx + 1, maxy + 1)), label="E",
                    transferee=company(rating="B"))])
        splits.append(json.dumps({"as_of": AS_OF, "parcel": code, "lots": lots, "confirmations": CONFIRMED}))
    d = 0.003  # ~300 m either side at Tiantai's latitude

    def some(k: int) -> list:
        return rng.sample(rows, min(k, len(rows)))

    paths = {
        "list": [f"/api/v1/parcels?town={quote(t)}&limit=50" for t in towns],
        "detail": [f"/api/v1/parcels/{quote(c)}" for c, _, _ in some(500)],
        "ogc_item": [f"/ogc/collections/parcels/items/{quote(c)}" for c, _, _ in some(500)],
        "ogc_bbox": ["/ogc/collections/parcels/items?" + urlencode(
            {"bbox": f"{x - d:.5f},{y - d:.5f},{x + d:.5f},{y + d:.5f}"}) for _, x, y in some(200)],
        "tile": sorted({"/ogc/collections/parcels/tiles/WebMercatorQuad/{}/{}/{}".format(z, *_tile_of(x, y, z))
                        for _, x, y in some(300) for z in (rng.choice((14, 15, 16)),)}),
        "stats": ["/api/v1/stats"],
        "stats_summary": ["/api/v1/stats/summary"] + [f"/api/v1/stats/summary?town={quote(t)}" for t in towns],
    }
    return {"viewer": viewer, "officer": officer, "paths": paths, "splits": splits}


# ---------------------------------------------------------------------------------------------- load generator

class _RawConnection:
    """One keep-alive HTTP/1.1 connection; responses parsed (chunked bodies included) by httptools."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    # httptools parser callbacks
    def on_body(self, body: bytes) -> None:
        self.nbytes += len(body)

    def on_message_complete(self) -> None:
        self.complete = True

    async def request(self, head: bytes, body: bytes) -> tuple[int, int]:
        import httptools

        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(head + body)
        parser = httptools.HttpResponseParser(self)
        self.complete, self.nbytes = False, 0
        try:
            while not self.complete:
                data = await self.reader.read(262_144)
                if not data:
                    raise ConnectionError("connection closed by the server")
                parser.feed_data(data)
        except BaseException:
            self.close()
            raise
        if not parser.should_keep_alive():
            self.close()
        return parser.get_status_code(), self.nbytes

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _plan(work: dict, seed: int) -> list[tuple[str, str, str, bytes]]:
    """A long cyclic list of (kind, method, path, body) in the mix's proportions (shuffled, seeded)."""
    rng = random.Random(seed)
    kinds = [k for k, _, w in work["mix"] for _ in range(w)]
    out = []
    for _ in range(20):
        rng.shuffle(kinds)
        for kind in kinds:
            if kind == "check_split":
                out.append((kind, "POST", "/api/v1/checks/split?crs=EPSG:4549",
                            rng.choice(work["splits"]).encode()))
            else:
                out.append((kind, "GET", rng.choice(work["paths"][kind]), b""))
    return out


async def _drive(base: str, work: dict, clients: int, seconds: float, client_kind: str, seed: int) -> dict:
    host, port = base.removeprefix("http://").split(":")
    port = int(port)
    lat: dict[str, list[float]] = {k: [] for k, _, _ in work["mix"]}
    errors: dict[str, int] = {k: 0 for k, _, _ in work["mix"]}
    samples: list[str] = []
    stop = time.perf_counter() + seconds
    tokens = {"GET": work["viewer"], "POST": work["officer"]}

    def head(method: str, path: str, body: bytes) -> bytes:
        extra = f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n" if method == "POST" else ""
        return (f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {tokens[method]}\r\n"
                f"Accept: application/json\r\nUser-Agent: bench-load\r\n{extra}\r\n").encode()

    def record(kind: str, path: str, status, dt: float) -> None:
        if isinstance(status, int) and 200 <= status < 400:
            lat[kind].append(dt)
        else:
            errors[kind] += 1
            if len(samples) < 20:
                samples.append(f"{kind} {path[:80]} → {status}")

    async def one_raw(i: int) -> None:
        conn = _RawConnection(host, port)
        plan = _plan(work, seed * 1000 + i)
        heads = [head(m, p, b) for _, m, p, b in plan]
        n = 0
        while time.perf_counter() < stop:
            kind, _, path, body = plan[n % len(plan)]
            h = heads[n % len(plan)]
            n += 1
            t0 = time.perf_counter()
            try:
                status, _ = await asyncio.wait_for(conn.request(h, body), 60)
            except Exception as exc:  # every failure is counted
                conn.close()
                status = f"{type(exc).__name__}: {exc}"
            record(kind, path, status, time.perf_counter() - t0)
        conn.close()

    async def one_httpx(i: int, client: httpx.AsyncClient) -> None:
        plan = _plan(work, seed * 1000 + i)
        n = 0
        while time.perf_counter() < stop:
            kind, method, path, body = plan[n % len(plan)]
            n += 1
            t0 = time.perf_counter()
            try:
                hdrs = {"Authorization": f"Bearer {tokens[method]}", "Accept": "application/json"}
                if method == "POST":
                    hdrs["Content-Type"] = "application/json"
                r = await client.request(method, path, content=body or None, headers=hdrs)
                status = r.status_code
            except Exception as exc:
                status = f"{type(exc).__name__}: {exc}"
            record(kind, path, status, time.perf_counter() - t0)

    t0 = time.perf_counter()
    if client_kind == "httpx":
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
            await asyncio.gather(*(one_httpx(i, client) for i in range(clients)))
    else:
        await asyncio.gather(*(one_raw(i) for i in range(clients)))
    return {"wall": time.perf_counter() - t0, "latencies": lat, "errors": errors, "error_samples": samples}


def _load_process(base: str, work: dict, clients: int, seconds: float, client_kind: str, seed: int) -> dict:
    """Entry point of the spawned load process; its own CPU seconds are part of the answer."""
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    result = asyncio.run(_drive(base, work, clients, seconds, client_kind, seed))
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    result["client_cpu"] = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return result


def _ready() -> bool:
    return True


def run_load(base: str, work: dict, clients: int, seconds: float, client_kind: str, seed: int = 1,
             before=None, after=None) -> dict:
    """The load from a spawned process; ``before``/``after`` run once it is up and once it is done, so that
    CPU snapshots taken there cover the load and not the child's start."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        pool.apply(_ready)
        if before:
            before()
        result = pool.apply(_load_process, (base, work, clients, seconds, client_kind, seed))
        if after:
            after()
        return result


# ---------------------------------------------------------------------------------------------- server and CPU

class Server:
    def __init__(self, url: str, workers: int):
        self.url, self.workers = url, workers
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120) -> None:
        env = {**os.environ, "DATABASE_URL": self.url, "LANDGIS_WRITE_RATE_PER_MINUTE": "0",
               "LANDGIS_LOG_LEVEL": "WARNING", "LANDGIS_ENV": "development"}
        OUT.mkdir(parents=True, exist_ok=True)
        with open(OUT / "bench_load-server.log", "ab") as log:
            log.write(f"\n=== {datetime.now(UTC).isoformat()} workers={self.workers} port={self.port}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [str(Path(sys.executable).with_name("landgis")), "serve", "--host", "127.0.0.1", "--port",
                 str(self.port), "--workers", str(self.workers)],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        stop = time.monotonic() + timeout
        while time.monotonic() < stop:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited with {self.proc.returncode}; see {OUT}/bench_load-server.log")
            # with several workers each must be up: wait until the supervisor has all its children
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base + "/readyz", timeout=5).status_code == 200 and (
                        self.workers == 1 or len(psutil.Process(self.proc.pid).children()) >= self.workers):
                    return
            time.sleep(0.2)
        raise SystemExit(f"server not ready after {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        total = 0.0
        for p in [psutil.Process(self.proc.pid), *psutil.Process(self.proc.pid).children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
        return total


def postgres_cpu(dbname: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend serving ``dbname`` (found by its process title)."""
    out = {}
    for p in psutil.process_iter(["name", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            cmd = " ".join(p.info["cmdline"] or [])
            if cmd.startswith("postgres:") and f" {dbname} " in cmd:
                t = p.cpu_times()
                out[p.pid] = t.user + t.system
    return out


# ---------------------------------------------------------------------------------------------- measuring

def warm_up(server: Server, work: dict, client_kind: str, seconds: float) -> int:
    """Send every check body once (dropping any the server refuses) and run the mix briefly; bodies dropped."""
    kept = []
    with httpx.Client(base_url=server.base, timeout=120,
                      headers={"Authorization": f"Bearer {work['officer']}"}) as c:
        for body in work["splits"]:
            if c.post("/api/v1/checks/split?crs=EPSG:4549", content=body,
                      headers={"Content-Type": "application/json"}).status_code == 200:
                kept.append(body)
        viewer = {"Authorization": f"Bearer {work['viewer']}"}
        for kind, paths in work["paths"].items():
            r = c.get(paths[0], headers=viewer)
            if r.status_code >= 400:
                raise SystemExit(f"warm-up: {kind} {paths[0]} → {r.status_code} {r.text[:300]}")
    if not kept:
        raise SystemExit("warm-up: no split check was answered with 200")
    dropped = len(work["splits"]) - len(kept)
    work["splits"] = kept
    if seconds > 0:
        run_load(server.base, work, 8, seconds, client_kind, seed=99)
    return dropped


def measure(server: Server, work: dict, clients: int, seconds: float, client_kind: str, dbname: str) -> dict:
    snap: dict[str, tuple] = {}

    def take(name: str) -> None:
        snap[name] = (time.perf_counter(), server.cpu_seconds(), postgres_cpu(dbname), psutil.cpu_times(),
                      os.getloadavg()[0])

    res = run_load(server.base, work, clients, seconds, client_kind, before=lambda: take("0"),
                   after=lambda: take("1"))
    (t0, cpu0, pg0, sys0, load0), (t1, cpu1, pg1, sys1, load1) = snap["0"], snap["1"]
    span = t1 - t0
    busy = lambda t: t.user + t.nice + t.system + t.irq + t.softirq + t.steal  # noqa: E731
    wall = res["wall"]
    classes = {}
    for cls in CLASSES:
        ts = sorted(t for k, c, _ in MIX if c == cls for t in res["latencies"][k])
        errs = sum(res["errors"][k] for k, c, _ in MIX if c == cls)
        classes[cls] = {"n": len(ts), "rps": len(ts) / wall, "errors": errs,
                        "p50_ms": percentile_ms(ts, 0.5) if ts else None,
                        "p99_ms": percentile_ms(ts, 0.99) if ts else None}
    kinds = {}
    for k, _, _ in MIX:
        ts = sorted(res["latencies"][k])
        kinds[k] = {"n": len(ts), "errors": res["errors"][k], "p50_ms": percentile_ms(ts, 0.5) if ts else None,
                    "p99_ms": percentile_ms(ts, 0.99) if ts else None}
    n = sum(c["n"] for c in classes.values())
    return {
        "clients": clients, "workers": server.workers, "seconds": wall, "requests": n, "rps": n / wall,
        "errors": sum(c["errors"] for c in classes.values()), "error_samples": res["error_samples"],
        "classes": classes, "kinds": kinds,
        "cpu": {"client": res["client_cpu"] / wall, "server": (cpu1 - cpu0) / span,
                "postgres": sum(v - pg0.get(pid, 0.0) for pid, v in pg1.items()) / span,
                "machine": (busy(sys1) - busy(sys0)) / span},
        "load_avg_1m": [round(load0, 2), round(load1, 2)],
    }


# ---------------------------------------------------------------------------------------------- report

def _ms(v: float | None) -> str:
    return "—" if v is None else f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def print_runs(runs: list[dict], by: str) -> None:
    base = runs[0]["rps"] if runs else 0
    print(f"\n| {by} | req/s | ×{runs[0][by]} | reads/s | checks/s | stats/s | read p50/p99 ms | "
          "check p50/p99 ms | stats p50/p99 ms | errors | CPU client / server / PG / machine (cores) | load 1m |")
    print("|" + "---|" * 12)
    for r in runs:
        c = r["classes"]
        cpu = r["cpu"]
        print(f"| {r[by]} | {r['rps']:.1f} | {r['rps'] / base:.2f} | {c['read']['rps']:.1f} | {c['check']['rps']:.1f} "
              f"| {c['stats']['rps']:.1f} | "
              + " | ".join(f"{_ms(c[k]['p50_ms'])} / {_ms(c[k]['p99_ms'])}" for k in CLASSES)
              + f" | {r['errors']} | {cpu['client']:.2f} / {cpu['server']:.2f} / {cpu['postgres']:.2f} / "
              f"{cpu['machine']:.2f} | {r['load_avg_1m'][0]}→{r['load_avg_1m'][1]} |")
    print("\n| per endpoint p50 / p99 ms | " + " | ".join(f"{by} {r[by]}" for r in runs) + " |")
    print("|---|" + "---|" * len(runs))
    for k, _, _ in MIX:
        print(f"| {k} | " + " | ".join(
            f"{_ms(r['kinds'][k]['p50_ms'])} / {_ms(r['kinds'][k]['p99_ms'])}"
            + (f" ({r['kinds'][k]['errors']} err)" if r['kinds'][k]['errors'] else "") for r in runs) + " |")
    for r in runs:
        for s in r["error_samples"][:5]:
            print(f"  error ({by} {r[by]}): {s}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--workers", default="1,2,4", help="comma-separated worker counts, one run each")
    ap.add_argument("--parcels", type=int, default=0, metavar="N",
                    help="use the generated N-parcel register of bench_ogc (e.g. 200000) instead of the sample")
    ap.add_argument("--ceiling", action="store_true",
                    help="after the worker runs, ramp the clients (--ramp) at the best worker count")
    ap.add_argument("--ramp", default="8,16,32,64")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds of unmeasured load after start")
    ap.add_argument("--client", choices=("raw", "httpx"), default="raw")
    ap.add_argument("--keep-db", action="store_true")
    ap.add_argument("--skip", default="", metavar="KIND[,KIND]",
                    help="leave request kinds out of the mix (e.g. stats, to see the rest without the uncached "
                         "statistics); the other weights keep their ratios. Kinds: " + ", ".join(k for k, _, _ in MIX))
    args = ap.parse_args(argv)
    skip = {k.strip() for k in args.skip.split(",") if k.strip()}
    if skip - {k for k, _, _ in MIX}:
        ap.error(f"unknown kinds: {', '.join(sorted(skip - {k for k, _, _ in MIX}))}")
    MIX[:] = [m for m in MIX if m[0] not in skip]
    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    ramp = [int(c) for c in args.ramp.split(",") if c.strip()]

    started = datetime.now(UTC)
    print(f"# bench_load {started:%Y-%m-%d %H:%M} UTC, {psutil.cpu_count()} cores, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    url, settings = prepare_database(args)
    dbname = url.rsplit("/", 1)[-1]
    work = build_workload(url)
    work["mix"] = MIX  # the spawned load process does not see main()'s changes to the module's MIX
    print(f"database {dbname}: {len(work['paths']['detail'])} parcels sampled, {len(work['paths']['list'])} towns, "
          f"{len(work['paths']['tile'])} tiles, {len(work['splits'])} split bodies; client {args.client}", flush=True)
    runs, ceiling = [], []
    try:
        for w in workers:
            server = Server(url, w)
            try:
                server.start()
                dropped = warm_up(server, work, args.client, args.warmup)
                if dropped:
                    print(f"  warm-up dropped {dropped} split bodies not answered with 200", flush=True)
                runs.append(measure(server, work, args.clients, args.seconds, args.client, dbname))
                r = runs[-1]
                print(f"workers {w}: {r['rps']:.1f} req/s, {r['errors']} errors", flush=True)
                if args.ceiling and w == workers[-1] and len(workers) == 1:
                    ceiling = _ramp(server, work, ramp, args, dbname)
            finally:
                server.stop()
        if args.ceiling and len(workers) > 1:
            best = max(runs, key=lambda r: r["rps"])["workers"]
            server = Server(url, best)
            try:
                server.start()
                warm_up(server, work, args.client, args.warmup)
                ceiling = _ramp(server, work, ramp, args, dbname)
            finally:
                server.stop()
    finally:
        if not args.parcels and not args.keep_db:
            from app.localdb import drop_database

            drop_database(settings, DB)
    print(f"\n## {args.clients} clients, {args.seconds:.0f} s per run, register {dbname}")
    print_runs(runs, "workers")
    if ceiling:
        print(f"\n## ceiling: clients ramped at {ceiling[0]['workers']} workers")
        print_runs(ceiling, "clients")
        knee = next((r for r in ceiling if max(c["p99_ms"] or 0 for c in r["classes"].values()) > 1000), None)
        best = max(ceiling, key=lambda r: r["rps"])
        print(f"\nhighest throughput {best['rps']:.1f} req/s at {best['clients']} clients; "
              + (f"p99 of some class first above 1 s at {knee['clients']} clients" if knee
                 else "p99 of every class below 1 s at every step"))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bench_load.json").write_text(json.dumps(
        {"started": started.isoformat(), "args": vars(args), "runs": runs, "ceiling": ceiling}, indent=1))
    return 0 if all(r["errors"] == 0 for r in runs + ceiling) else 1


def _ramp(server: Server, work: dict, ramp: list[int], args, dbname: str) -> list[dict]:
    out = []
    for n in ramp:
        out.append(measure(server, work, n, args.seconds, args.client, dbname))
        print(f"  ceiling: {n} clients → {out[-1]['rps']:.1f} req/s, {out[-1]['errors']} errors", flush=True)
    return out


if __name__ == "__main__":
    sys.exit(main())
