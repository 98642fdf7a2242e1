"""Which PostgreSQL driver: psycopg 3 or asyncpg? Measured on the same PostGIS, same queries.

    .venv/bin/pip install -e '.[bench]' && .venv/bin/python -m bench.bench_driver

Three workloads the service has: streaming 10,000 features as PostGIS-made GeoJSON text (OGC items),
1,000 single-row lookups by key (parcel detail, checks), and COPY of 100,000 rows (import).
"""

from __future__ import annotations

import asyncio
import statistics
import time

import asyncpg
import psycopg
from rich.console import Console
from rich.table import Table

from app.localdb import _conninfo
from app.settings import get_settings

N_ROWS = 10_000
N_LOOKUPS = 1_000
N_COPY = 100_000
REPEAT = 5

SETUP = f"""
DROP TABLE IF EXISTS bench_driver;
CREATE UNLOGGED TABLE bench_driver AS
SELECT i AS id, 'parcel ' || i AS name,
       ST_MakeEnvelope(600000 + (i % 100) * 120, 3220000 + (i / 100) * 90,
                       600100 + (i % 100) * 120, 3220080 + (i / 100) * 90, 4549) AS geom
FROM generate_series(1, {N_ROWS}) i;
ALTER TABLE bench_driver ADD PRIMARY KEY (id);
"""
FETCH = "SELECT id, name, ST_AsGeoJSON(ST_Transform(geom, 4490), 7) FROM bench_driver ORDER BY id"
LOOKUP = "SELECT id, name, ST_AsGeoJSON(geom) FROM bench_driver WHERE id = {}"


def _median(fn) -> float:
    times = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_psycopg(dsn: str) -> dict[str, float]:
    conn = psycopg.connect(dsn, autocommit=True)
    out = {}
    out["fetch"] = _median(lambda: conn.execute(FETCH).fetchall())

    def lookups():
        for i in range(1, N_LOOKUPS + 1):
            conn.execute(LOOKUP.format("%s"), (i,), prepare=True).fetchone()

    out["lookup"] = _median(lookups)
    rows = [(i, f"名称{i}", "0103000020C5110000010000000500000000000000") for i in range(N_COPY)]

    def copy():
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS bench_copy (id int, name text, wkb text)")
        conn.execute("TRUNCATE bench_copy")
        with conn.cursor() as cur, cur.copy("COPY bench_copy FROM STDIN") as cp:
            for r in rows:
                cp.write_row(r)

    out["copy"] = _median(copy)
    conn.close()
    return out


async def _bench_asyncpg(dsn: str) -> dict[str, float]:
    conn = await asyncpg.connect(dsn)
    out = {}

    async def timed(coro_fn):
        times = []
        for _ in range(REPEAT):
            t0 = time.perf_counter()
            await coro_fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    out["fetch"] = await timed(lambda: conn.fetch(FETCH))
    stmt = await conn.prepare(LOOKUP.format("$1"))

    async def lookups():
        for i in range(1, N_LOOKUPS + 1):
            await stmt.fetchrow(i)

    out["lookup"] = await timed(lookups)
    rows = [(i, f"名称{i}", "0103000020C5110000010000000500000000000000") for i in range(N_COPY)]

    async def copy():
        await conn.execute("CREATE TEMP TABLE IF NOT EXISTS bench_copy (id int, name text, wkb text)")
        await conn.execute("TRUNCATE bench_copy")
        await conn.copy_records_to_table("bench_copy", records=rows)

    out["copy"] = await timed(copy)
    await conn.close()
    return out


def main() -> None:
    settings = get_settings()
    dsn = _conninfo(settings, settings.sqlalchemy_url.rsplit("/", 1)[-1])
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SETUP)
    pg = bench_psycopg(dsn)
    ap = asyncio.run(_bench_asyncpg(dsn))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE bench_driver")
    table = Table(title=f"PostgreSQL drivers, same PostGIS, median of {REPEAT}")
    for col in ("workload", "psycopg 3", "asyncpg", "psycopg / asyncpg"):
        table.add_column(col, justify="right" if col != "workload" else "left")
    labels = {"fetch": f"fetch {N_ROWS:,} GeoJSON rows", "lookup": f"{N_LOOKUPS:,} key lookups (prepared)",
              "copy": f"COPY {N_COPY:,} rows"}
    for key, label in labels.items():
        table.add_row(label, f"{pg[key] * 1000:.1f} ms", f"{ap[key] * 1000:.1f} ms", f"{pg[key] / ap[key]:.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
