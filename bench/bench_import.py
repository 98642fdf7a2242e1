"""Import benchmark: the 200k-parcel generated set into a fresh PostGIS database.

    .venv/bin/python -m bench.bench_import [--n 200000] [--repeat 3]

Generates ``bench/out/large-<n>/parcels.gpkg`` once (deterministic), then runs ``landgis import`` as a
user would, twice: into an empty register, and again (the idempotent re-import, everything
unchanged). Reports wall time, parcels/s and the peak RSS of the import process (sampled every
20 ms over its whole process tree). Goal (issue 2): ≥ 20,000 parcels/s, peak RSS < 1 GB.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil
from rich.console import Console
from rich.table import Table

from app.db import migrate
from app.localdb import drop_database, ensure_database
from app.settings import get_settings

ROOT = Path(__file__).resolve().parents[1]
DB = "landgis_bench_import"


def run_measured(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run ``cmd``; return (seconds, peak RSS in MB over the process tree, stdout)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            rss = ps.memory_info().rss + sum(c.memory_info().rss for c in ps.children(recursive=True))
            peak = max(peak, rss)
        except psutil.Error:
            pass
        time.sleep(0.02)
    out = proc.stdout.read() if proc.stdout else ""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out}")
    return time.perf_counter() - t0, peak / 2**20, out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=1, help="runs of both phases, each into a fresh database")
    args = ap.parse_args(argv)
    console = Console()
    out_dir = ROOT / "bench" / "out" / f"large-{args.n}"
    gpkg = out_dir / "parcels.gpkg"
    if not gpkg.exists():
        console.print(f"generating {args.n:,} parcels → {gpkg} …")
        subprocess.run([sys.executable, "-m", "sample_parcels.generate", "--n", str(args.n), "--out", str(out_dir)],
                       check=True, cwd=ROOT)
    settings = get_settings()
    landgis = str(Path(sys.executable).with_name("landgis"))
    phases = ("first import (empty register)", "re-import (idempotent, all unchanged)")
    runs: dict[str, list[tuple[float, float]]] = {phase: [] for phase in phases}
    for i in range(args.repeat):
        drop_database(settings, DB)
        ensure_database(settings, DB)
        url = settings.url_for(DB)
        migrate(url)
        env = {**os.environ, "DATABASE_URL": url}
        for phase in phases:
            seconds, rss, _ = run_measured([landgis, "import", str(gpkg), "--actor", "bench"], env)
            runs[phase].append((seconds, rss))
            console.print(f"run {i + 1}/{args.repeat} {phase}: {seconds:.1f} s, {args.n / seconds:,.0f} parcels/s, "
                          f"peak RSS {rss:,.0f} MB (load {os.getloadavg()[0]:.1f})")
    drop_database(settings, DB)
    table = Table(title=f"landgis import of {args.n:,} generated parcels (2-core machine, local PostGIS), "
                        f"{args.repeat} run(s)")
    for col in ("phase", "best s", "median s", "parcels/s (best)", "peak RSS (max)", "goal"):
        table.add_column(col, justify="left" if col == "phase" else "right")
    for phase, results in runs.items():
        seconds = sorted(s for s, _ in results)
        table.add_row(phase, f"{seconds[0]:.1f}", f"{statistics.median(seconds):.1f}", f"{args.n / seconds[0]:,.0f}",
                      f"{max(r for _, r in results):,.0f} MB", "≥ 20,000/s, < 1,024 MB")
    console.print(table)


if __name__ == "__main__":
    main()
