"""OGC API – Features benchmark: our ``/ogc`` against tipg, same PostGIS, one worker each, one run.

    .venv/bin/python bench/bench_ogc.py [--quick] [--only ours|tipg] [--n 200000]

Makes sure ``bench/out/large-<n>/parcels.gpkg`` exists (as :mod:`bench.bench_import` does) and is
imported into ``landgis_bench_ogc`` (skipped when the current-parcel count already matches), creates
the view ``bench_current_parcels`` (current parcels, ``valid_to IS NULL``) that tipg serves, installs
tipg into ``bench/.venv-tipg`` when missing, starts both servers on spare loopback ports (one uvicorn
worker each) and measures, alternating ours and tipg:

(a) ``items?limit=10000`` median latency → features/s, against the same 10,000 rows as GeoJSON from
    PostgreSQL alone (``COPY (SELECT json_agg(ST_AsGeoJSON(t.*)::json) …) TO STDOUT``, EPSG:4326);
(b) a bbox holding ≈1,000 parcels (computed from the data), 16 clients → req/s, p50, p99;
(c) one feature by id (1,000 random codes), 16 clients → req/s, p50, p99;
(d) peak RSS of the server process (sampled every 20 ms, fresh process) while streaming a 100k-feature
    result: tipg ``items?limit=100000``, ours ``download?f=geojson`` and ``download?f=gpkg``.

The load generator is ``wrk`` (installed with apt when missing and running as root; else a threaded
httpx client). An endpoint of ours that answers 404 (``/ogc`` not there yet) is reported as n/a.
The table goes to the console and to ``bench/out/bench_ogc.{json,md}``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: bench/bench_ogc.py
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psutil  # noqa: E402
import psycopg  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.bench_api import _free_port, percentile_ms, run_clients  # noqa: E402
from bench.bench_import import run_measured  # noqa: E402

DB = "landgis_bench_ogc"
VIEW = "bench_current_parcels"
OUT = ROOT / "bench" / "out"
TIPG_VENV = ROOT / "bench" / ".venv-tipg"
TIPG_COLLECTION = f"public.{VIEW}"
OURS_COLLECTION = "parcels"
# The view tipg serves: the plain attribute columns of a current parcel (no joins, no internal columns).
VIEW_COLUMNS = (
    "parcel_code, name, town, land_use, land_use_code, ownership_nature, right_type, area_m2, area_mu, "
    "declared_area_m2, approval_no, approved_on, supplied_on, contract_no, agreed_start_on, agreed_completion_on, "
    "construction_started_on, completed_on, production_started_on, halted_since, lease_end_on, developed_area_m2, "
    "far_planned, far_actual, floor_area_m2, invested_wan, planned_investment_wan, standard_land, "
    "industrial_real_estate, in_development_zone, produced_by, no_split, remarks, valid_from"
)
WRK_LUA = """
local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do paths[#paths + 1] = line end
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH_JSON {"requests": %d, "duration_us": %d, "status_errors": %d, '
    .. '"socket_errors": %d, "p50_us": %d, "p99_us": %d}\\n', summary.requests, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""

console = Console(width=None if sys.stdout.isatty() else 150)  # a pipe or a log: no wrapping


# ---------------------------------------------------------------------------------------------- set-up

def ensure_dataset(n: int) -> Path:
    """The generated register ``bench/out/large-<n>/parcels.gpkg``, generated once (deterministic)."""
    out_dir = OUT / f"large-{n}"
    gpkg = out_dir / "parcels.gpkg"
    if not gpkg.exists():
        console.print(f"generating {n:,} parcels → {gpkg} …")
        subprocess.run([sys.executable, "-m", "sample_parcels.generate", "--n", str(n), "--out", str(out_dir)],
                       check=True, cwd=ROOT)
    return gpkg


def _conninfo(sqlalchemy_url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


def ensure_database(n: int, gpkg: Path) -> tuple[str, str]:
    """``landgis_bench_ogc`` holding exactly ``n`` current parcels and the view; (SQLAlchemy URL, libpq URL)."""
    from app.db import migrate
    from app.localdb import LocalCluster, drop_database
    from app.localdb import ensure_database as create_database
    from app.settings import get_settings

    settings = get_settings()
    if settings.uses_local_cluster:
        LocalCluster(settings).up(log=lambda *_: None)
    create_database(settings, DB)
    url = settings.url_for(DB)
    migrate(url)
    pg = _conninfo(url)
    with psycopg.connect(pg) as conn:
        have = conn.execute("SELECT count(*) FROM parcels WHERE valid_to IS NULL").fetchone()[0]
    if have != n:
        if have:
            console.print(f"{DB} holds {have:,} current parcels, not {n:,}: re-creating it")
            drop_database(settings, DB)
            create_database(settings, DB)
            migrate(url)
        console.print(f"importing {gpkg} into {DB} …")
        seconds, rss, _ = run_measured([str(Path(sys.executable).with_name("landgis")), "import", str(gpkg),
                                        "--actor", "bench"], {**os.environ, "DATABASE_URL": url})
        console.print(f"  imported in {seconds:.1f} s (peak RSS {rss:,.0f} MB)")
    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute(f"DROP VIEW IF EXISTS {VIEW}")
        conn.execute(f"CREATE VIEW {VIEW} AS SELECT {VIEW_COLUMNS}, geom FROM parcels WHERE valid_to IS NULL")
        conn.execute("ANALYZE parcels")
    return url, pg


def _run_quiet(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")


def ensure_tipg() -> str:
    """tipg and uvicorn in their own virtualenv (their pins may conflict with ours); returns tipg's version."""
    py = TIPG_VENV / "bin" / "python"
    check = [str(py), "-c", "import tipg, uvicorn; print(tipg.__version__)"]
    if py.exists():
        proc = subprocess.run(check, capture_output=True, text=True)
        if proc.returncode == 0:
            return proc.stdout.strip()
    console.print(f"installing tipg into {TIPG_VENV} …")
    if not py.exists():
        _run_quiet([sys.executable, "-m", "venv", str(TIPG_VENV)])
    # uvicorn[standard]: uvloop and httptools, as our venv has them
    _run_quiet([str(py), "-m", "pip", "install", "-q", "tipg", "uvicorn[standard]"])
    return subprocess.run(check, capture_output=True, text=True, check=True).stdout.strip()


def ensure_wrk() -> str | None:
    """Path of ``wrk``, installing the Debian package when missing and running as root; None if unavailable."""
    if path := shutil.which("wrk"):
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        console.print("installing wrk (apt-get) …")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], env=env, capture_output=True).returncode:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], env=env, capture_output=True)
    return shutil.which("wrk")


# ---------------------------------------------------------------------------------------------- servers

@dataclass
class Server:
    """One uvicorn process (one worker) on a spare loopback port, with its log in ``bench/out``."""

    name: str
    argv: Callable[[int], list[str]]
    env: dict[str, str]
    ready_path: str
    cwd: Path
    port: int = 0
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> None:
        self.port = _free_port()
        log = open(OUT / f"bench_ogc-{self.name}.log", "ab")  # noqa: SIM115 (kept open for the process)
        self.proc = subprocess.Popen(self.argv(self.port), cwd=self.cwd, env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        stop = time.monotonic() + timeout
        while time.monotonic() < stop:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited with {self.proc.returncode}; see {OUT}/bench_ogc-{self.name}.log")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base + self.ready_path, timeout=5).status_code == 200:
                    return
            time.sleep(0.2)
        raise SystemExit(f"{self.name} not ready after {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def rss(self) -> int:
        """Resident set of the server process and its children, bytes."""
        assert self.proc is not None
        p = psutil.Process(self.proc.pid)
        return p.memory_info().rss + sum(c.memory_info().rss for c in p.children(recursive=True))


def ours_server(url: str) -> Server:
    landgis = str(Path(sys.executable).with_name("landgis"))
    env = {**os.environ, "DATABASE_URL": url, "LANDGIS_ANONYMOUS_READ": "true"}
    return Server("ours", lambda p: [landgis, "serve", "--host", "127.0.0.1", "--port", str(p)], env,
                  "/healthz", ROOT)


def tipg_server(pg: str, max_features: int) -> Server:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIPG_", "LANDGIS_", "DATABASE_URL"))}
    env.update({
        "DATABASE_URL": pg,
        "TIPG_DB_SCHEMAS": '["public"]',
        "TIPG_DB_TABLES": json.dumps([TIPG_COLLECTION]),
        "TIPG_DB_FUNCTIONS": "[]",
        # a view has no primary key: the feature id (and tipg's ORDER BY) is the parcel code
        f"TIPG_TABLE_CONFIG__public_{VIEW}__pk": "parcel_code",
        f"TIPG_TABLE_CONFIG__public_{VIEW}__geomcol": "geom",
        "TIPG_MAX_FEATURES_PER_QUERY": str(max_features),
    })
    uvicorn = str(TIPG_VENV / "bin" / "uvicorn")
    # cwd bench/out: tipg reads a .env from its working directory, and ours may hold one
    return Server("tipg", lambda p: [uvicorn, "tipg.main:app", "--host", "127.0.0.1", "--port", str(p),
                                     "--workers", "1"], env, f"/collections/{TIPG_COLLECTION}", OUT)


# ---------------------------------------------------------------------------------------------- measurements

def items_path(server: str, query: str = "") -> str:
    coll = OURS_COLLECTION if server == "ours" else TIPG_COLLECTION
    return f"{'/ogc' if server == 'ours' else ''}/collections/{coll}/items{query}"


def pick_bbox(pg: str, target: int) -> tuple[list[float], int]:
    """A CRS84 box around the register's centre holding ≈``target`` current parcels; (bbox, count)."""
    with psycopg.connect(pg) as conn:
        cx, cy = conn.execute(f"SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Transform(ST_SetSRID("
                              f"ST_Centroid(ST_Extent(geom)), 4549), 4326) c FROM {VIEW}) s").fetchone()
        half = conn.execute(
            f"SELECT greatest(ST_XMax(e) - ST_XMin(e), ST_YMax(e) - ST_YMin(e)) / 2 FROM (SELECT ST_Extent("
            f"ST_Transform(geom, 4326)) e FROM (SELECT geom FROM {VIEW} ORDER BY geom <-> ST_Transform("
            f"ST_SetSRID(ST_MakePoint(%s, %s), 4326), 4549) LIMIT %s) k) s", (cx, cy, target)).fetchone()[0]
        count = 0
        for _ in range(6):
            bbox = [cx - half, cy - half, cx + half, cy + half]
            # the EPSG:4549 box around the CRS84 box, as tipg (transform_bounds) and ours filter
            count = conn.execute(f"SELECT count(*) FROM {VIEW} WHERE ST_Intersects(geom, ST_Envelope(ST_Transform("
                                 f"ST_MakeEnvelope(%s, %s, %s, %s, 4326), 4549)))", bbox).fetchone()[0]
            if abs(count - target) <= target * 0.03:
                break
            half *= (target / max(count, 1)) ** 0.5
    return [round(v, 7) for v in bbox], count


def sample_codes(pg: str, k: int) -> list[str]:
    with psycopg.connect(pg) as conn:
        return [r[0] for r in conn.execute(f"SELECT parcel_code FROM {VIEW} ORDER BY random() LIMIT %s", (k,))]


def raw_sql_seconds(pg: str, limit: int, reps: int) -> tuple[float, int]:
    """Median time of the same rows as a GeoJSON array straight from PostgreSQL (COPY); (seconds, bytes)."""
    sql = (f"COPY (SELECT json_agg(ST_AsGeoJSON(t.*)::json) FROM (SELECT {VIEW_COLUMNS}, "
           f"ST_Transform(geom, 4326) AS geom FROM {VIEW} ORDER BY parcel_code LIMIT {int(limit)}) t) TO STDOUT")
    times, size = [], 0
    with psycopg.connect(pg) as conn, conn.cursor() as cur:
        for i in range(reps + 1):
            t0 = time.perf_counter()
            size = 0
            with cur.copy(sql) as copy:
                for chunk in copy:
                    size += len(chunk)
            if i:  # the first run warms the cache
                times.append(time.perf_counter() - t0)
    return statistics.median(times), size


def probe(base: str, path: str) -> int:
    try:
        return httpx.get(base + path, timeout=120).status_code
    except httpx.HTTPError:
        return 0


def time_items(base: str, path: str, reps: int) -> dict | None:
    """Median latency of ``path`` (a page of features) over ``reps`` runs after a warm-up; None on 404."""
    times, n, size = [], 0, 0
    with httpx.Client(base_url=base, timeout=300) as c:
        for i in range(reps + 1):
            t0 = time.perf_counter()
            r = c.get(path)
            dt = time.perf_counter() - t0
            if r.status_code != 200:  # our /ogc while it is being built: n/a, not a crash
                return None if r.status_code == 404 else {"error": f"HTTP {r.status_code}"}
            if i == 0:
                n, size = len(r.json()["features"]), len(r.content)
            else:
                times.append(dt)
    med = statistics.median(times)
    return {"median_s": med, "features": n, "bytes": size, "features_per_s": n / med, "runs": len(times)}


def _load_wrk(wrk: str, base: str, paths: list[str], clients: int, seconds: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        lua, lst = Path(tmp) / "paths.lua", Path(tmp) / "paths.txt"
        lua.write_text(WRK_LUA)
        lst.write_text("\n".join(paths) + "\n")
        proc = subprocess.run([wrk, "-t", "2", "-c", str(clients), "-d", f"{seconds:g}s", "--timeout", "60s",
                               "-s", str(lua), base], capture_output=True, text=True,
                              env={**os.environ, "BENCH_PATHS": str(lst)})
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise SystemExit(f"wrk failed:\n{proc.stdout}\n{proc.stderr}")
    s = json.loads(line.removeprefix("BENCH_JSON "))
    return {"requests": s["requests"], "seconds": s["duration_us"] / 1e6,
            "req_per_s": s["requests"] / (s["duration_us"] / 1e6), "p50_ms": s["p50_us"] / 1000,
            "p99_ms": s["p99_us"] / 1000, "errors": s["status_errors"] + s["socket_errors"], "client": "wrk"}


def _load_threads(base: str, paths: list[str], clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client(i: int) -> None:
        nonlocal errors
        mine, bad, k = [], 0, i
        with httpx.Client(base_url=base, timeout=60) as c:
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                r = c.get(paths[k % len(paths)])
                mine.append(time.perf_counter() - t0)
                bad += r.status_code != 200
                k += clients
        with lock:
            latencies.extend(mine)
            errors += bad

    wall = run_clients(clients, client)
    lat = sorted(latencies)
    return {"requests": len(lat), "seconds": wall, "req_per_s": len(lat) / wall, "p50_ms": percentile_ms(lat, 0.5),
            "p99_ms": percentile_ms(lat, 0.99), "errors": errors, "client": "httpx threads"}


def load(wrk: str | None, base: str, paths: list[str], clients: int, seconds: float) -> dict | None:
    """``clients`` concurrent keep-alive clients for ``seconds`` over ``paths``; None if the first path is 404."""
    status = probe(base, paths[0])
    if status != 200:
        return None if status == 404 else {"error": f"HTTP {status}"}
    _load_threads(base, paths[:clients], clients, 0.5)  # warm-up
    if wrk:
        return _load_wrk(wrk, base, paths, clients, seconds)
    return _load_threads(base, paths, clients, seconds)


@contextlib.contextmanager
def rss_sampler(server: Server, every: float = 0.02) -> Iterator[dict]:
    """Sample the server's RSS in a thread; the dict gets ``before_mb`` and ``peak_mb``."""
    result = {"before_mb": server.rss() / 2**20, "peak_mb": 0.0}
    done = threading.Event()

    def run() -> None:
        peak = 0
        while not done.is_set():
            with contextlib.suppress(psutil.Error):
                peak = max(peak, server.rss())
            time.sleep(every)
        result["peak_mb"] = peak / 2**20

    t = threading.Thread(target=run)
    t.start()
    try:
        yield result
    finally:
        done.set()
        t.join()


def _count_gpkg(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        total = 0
        for (table,) in db.execute("SELECT table_name FROM gpkg_contents WHERE data_type = 'features'"):
            total += db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
        return total


def download_rss(server: Server, path: str, fmt: str) -> dict | None:
    """Stream ``path`` from a fresh server process, counting (GeoJSON) or spooling (GeoPackage) the body."""
    server.restart()
    size, count, tail = 0, 0, b""
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        spool = Path(tmp) / "download.gpkg"
        with (httpx.Client(base_url=server.base, timeout=900) as c, rss_sampler(server) as rss,
              spool.open("wb") as f):
            t0 = time.perf_counter()
            with c.stream("GET", path) as r:
                if r.status_code != 200:
                    return None if r.status_code == 404 else {"error": f"HTTP {r.status_code}"}
                for chunk in r.iter_bytes(1 << 16):
                    size += len(chunk)
                    if fmt == "gpkg":
                        f.write(chunk)
                    else:  # features counted on the fly; the tail keeps a marker split across chunks
                        buf = tail + chunk
                        count += buf.count(b'"Feature"') - tail.count(b'"Feature"')
                        tail = buf[-16:]
            seconds = time.perf_counter() - t0
        if fmt == "gpkg":
            count = _count_gpkg(spool)
    return {"features": count, "mb": size / 2**20, "seconds": seconds, **rss}


# ---------------------------------------------------------------------------------------------- report

@dataclass
class Row:
    metric: str
    unit: str
    ours: float | None = None
    tipg: float | None = None
    raw: float | None = None
    goal: str = ""
    met: bool | None = None  # None: not judged (ours n/a, or no goal)

    @property
    def ratio(self) -> float | None:
        return self.ours / self.tipg if self.ours is not None and self.tipg else None

    @property
    def ratio_raw(self) -> float | None:
        return self.ours / self.raw if self.ours is not None and self.raw else None


def _fmt(v: float | None, unit: str = "") -> str:
    if v is None:
        return "n/a"
    if abs(v) >= 100:
        return f"{v:,.0f}{unit}"
    return f"{v:,.1f}{unit}" if abs(v) >= 10 else f"{v:,.2f}{unit}"


def _ok(d: dict | None) -> dict | None:
    """A measurement, or None when the endpoint was missing (404) or failed (``{"error": …}``)."""
    return d if d and "error" not in d else None


def build_rows(res: dict) -> list[Row]:
    ours, tipg = res.get("ours", {}), res.get("tipg", {})
    g = lambda side, key, field: (_ok(side.get(key)) or {}).get(field)  # noqa: E731
    rows: list[Row] = []
    a_o, a_t, raw = _ok(ours.get("items")), _ok(tipg.get("items")), res.get("raw_sql")
    r = Row("(a) items?limit=10000: features/s", "features/s", g(ours, "items", "features_per_s"),
            g(tipg, "items", "features_per_s"), raw and raw["features_per_s"], "≥ 4× tipg, ≥ 0.7× raw SQL")
    if r.ratio is not None and r.ratio_raw is not None:
        r.met = r.ratio >= 4 and r.ratio_raw >= 0.7
    rows.append(r)
    rows.append(Row("(a) items?limit=10000: median latency", "ms", a_o and a_o["median_s"] * 1000,
                    a_t and a_t["median_s"] * 1000, raw and raw["median_s"] * 1000))
    rows.append(Row("(a) items?limit=10000: body", "MB", a_o and a_o["bytes"] / 2**20, a_t and a_t["bytes"] / 2**20,
                    raw and raw["bytes"] / 2**20))
    for key, label, goal, factor in (("bbox", "(b) bbox ≈1000 features, 16 clients", "≥ 3× tipg", 3),
                                     ("single", "(c) single feature by id, 16 clients", "≥ 2× tipg", 2)):
        r = Row(f"{label}: req/s", "req/s", g(ours, key, "req_per_s"), g(tipg, key, "req_per_s"), goal=goal)
        if r.ratio is not None:
            r.met = r.ratio >= factor
        rows.append(r)
        rows.append(Row(f"{label}: p50", "ms", g(ours, key, "p50_ms"), g(tipg, key, "p50_ms")))
        rows.append(Row(f"{label}: p99", "ms", g(ours, key, "p99_ms"), g(tipg, key, "p99_ms")))
    # (d): ours has two downloads, tipg one (items?limit=100000); both ours rows are compared with it
    for fmt in ("geojson", "gpkg"):
        d_o, d_t = _ok(ours.get(f"download_{fmt}")), _ok(tipg.get("download"))
        label = f"(d) 100k features, ours f={fmt}"  # tipg: items?limit=100000 in both rows
        r = Row(f"{label}: peak RSS", "MB", d_o and d_o["peak_mb"],
                d_t and d_t["peak_mb"], goal="ours ≤ 200 MB")
        if d_o:
            r.met = d_o["peak_mb"] <= 200
        rows.append(r)
        rows.append(Row(f"{label}: features", "features",
                        d_o and d_o["features"], d_t and d_t["features"]))
        rows.append(Row(f"{label}: seconds", "s", d_o and d_o["seconds"],
                        d_t and d_t["seconds"]))
    return rows


def report(rows: list[Row], res: dict) -> None:
    title = (f"OGC API – Features, {res['n']:,} parcels: ours vs tipg {res.get('tipg_version', '?')} "
             f"(1 worker each, {res['clients']} clients × {res['seconds']:g} s, {res['load_client']})")
    table = Table(title=title)
    cols = ("metric", "ours", "tipg", "ours/tipg", "raw SQL", "ours/raw", "goal", "met")
    for col in cols:
        table.add_column(col, justify="left" if col in ("metric", "goal") else "right")
    md = [f"**{title}**", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = [r.metric, _fmt(r.ours), _fmt(r.tipg), _fmt(r.ratio) + ("×" if r.ratio else ""),
                 _fmt(r.raw) if r.raw is not None else "", _fmt(r.ratio_raw) if r.ratio_raw else "",
                 r.goal, {True: "yes", False: "no", None: ""}[r.met] if r.goal else ""]
        if r.goal and r.met is None:
            cells[-1] = "n/a"
        table.add_row(*cells)
        md.append("| " + " | ".join(cells) + " |")
    console.print(table)
    bbox = res.get("bbox")
    if bbox:
        got = {side: (_ok(res.get(side, {}).get("bbox")) or {}).get("features") for side in ("ours", "tipg")}
        console.print(f"bbox {bbox['bbox']} (CRS84): {bbox['count']:,} parcels by the bench's own count, "
                      f"returned: ours {got['ours']}, tipg {got['tipg']}. Units: features/s, ms, MB, s; "
                      "latency ratios < 1 favour ours", highlight=False)
    (OUT / "bench_ogc.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    payload = {**res, "rows": [{**r.__dict__, "ratio": r.ratio, "ratio_raw": r.ratio_raw} for r in rows]}
    (OUT / "bench_ogc.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
    console.print(f"written {OUT / 'bench_ogc.md'} and {OUT / 'bench_ogc.json'}")


# ---------------------------------------------------------------------------------------------- main

def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000, help="generated register size")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions, 3 s of load")
    ap.add_argument("--only", choices=("ours", "tipg"), help="measure one server")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, help="load duration per case (default 10, --quick 3)")
    ap.add_argument("--reps", type=int, help="timed runs of items?limit=10000 (default 7, --quick 3)")
    ap.add_argument("--bbox-features", type=int, default=1000)
    ap.add_argument("--download-features", type=int, default=100_000)
    ap.add_argument("--ours-download-query", default="limit={n}",
                    help="query selecting ~100k features on our download ({n}: --download-features); "
                         "e.g. 'bbox=…' if download has no limit")
    args = ap.parse_args(argv)
    # Ctrl-C and kill both unwind through the ``finally`` that stops the servers (SIGINT may have been
    # inherited as ignored, e.g. when started in the background by a script)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    seconds = args.seconds or (3.0 if args.quick else 10.0)
    reps = args.reps or (3 if args.quick else 7)
    sides = [args.only] if args.only else ["ours", "tipg"]
    OUT.mkdir(parents=True, exist_ok=True)

    gpkg = ensure_dataset(args.n)
    url, pg = ensure_database(args.n, gpkg)
    wrk = ensure_wrk()
    res: dict = {"n": args.n, "clients": args.clients, "seconds": seconds, "reps": reps, "quick": args.quick,
                 "load_client": "wrk" if wrk else "httpx threads", "measured_at": time.strftime("%Y-%m-%d %H:%M")}
    servers: dict[str, Server] = {}
    if "tipg" in sides:
        res["tipg_version"] = ensure_tipg()
        servers["tipg"] = tipg_server(pg, args.download_features)
    if "ours" in sides:
        servers["ours"] = ours_server(url)
    bbox, count = pick_bbox(pg, args.bbox_features)
    res["bbox"] = {"bbox": bbox, "count": count}
    codes = sample_codes(pg, 1000)
    try:
        for s in servers.values():
            console.print(f"starting {s.name} …")
            s.start()
            console.print(f"  {s.name} on {s.base} (pid {s.proc.pid if s.proc else '?'})")
        for side in sides:
            res[side] = {}

        console.print("(a) items?limit=10000 …")
        for side, s in servers.items():
            res[side]["items"] = time_items(s.base, items_path(side, "?limit=10000"), reps)
        med, size = raw_sql_seconds(pg, 10_000, reps)
        res["raw_sql"] = {"median_s": med, "bytes": size, "features_per_s": 10_000 / med}

        bbox_q = "?bbox=" + ",".join(f"{v:.7f}" for v in bbox) + "&limit=10000"
        for key, paths_of in (("bbox", lambda side: [items_path(side, bbox_q)]),
                              ("single", lambda side: [items_path(side, f"/{c}") for c in codes])):
            console.print(f"({'b' if key == 'bbox' else 'c'}) {key} under load …")
            for side, s in servers.items():
                res[side][key] = load(wrk, s.base, paths_of(side), args.clients, seconds)
                if key == "bbox" and _ok(res[side][key]):  # how many features that bbox returns from this server
                    body = httpx.get(s.base + paths_of(side)[0], timeout=120).json()
                    res[side][key]["features"] = len(body["features"])

        console.print("(d) 100k-feature downloads (fresh server processes) …")
        nd = args.download_features
        if "tipg" in servers:
            res["tipg"]["download"] = download_rss(servers["tipg"], items_path("tipg", f"?limit={nd}"), "geojson")
        if "ours" in servers:
            q = args.ours_download_query.format(n=nd)
            for fmt in ("geojson", "gpkg"):
                res["ours"][f"download_{fmt}"] = download_rss(
                    servers["ours"], f"/ogc/collections/{OURS_COLLECTION}/download?f={fmt}&{q}", fmt)
        for side in sides:
            for key, v in res[side].items():
                console.print(f"  {side} {key}: {v if v is not None else 'n/a (404)'}", highlight=False)
    finally:
        for s in servers.values():
            s.stop()
    report(build_rows(res), res)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; servers stopped", file=sys.stderr)
        sys.exit(130)
