"""Benchmark of the check engine, in process (no HTTP, no database).

    python -m bench.bench_rules            # or: python bench/bench_rules.py [--n 1000]

Cases (RULES.md §4 rules, every one of them run):

* split: a 200-vertex parent, 3 lots, 30 buildings, support land; request in EPSG:4549
  (northing first, as surveys send it) — goal median ≤ 1 ms (a straightforward shapely version
  measured 1.2–1.5 ms);
* the same split sent in CRS84 (one vectorised transform of every position) — for information;
* merge of 3 parcels — goal median ≤ 0.5 ms;
* the naive peer (``bench/naive_rules.py``: the same geometric work written straightforwardly with
  shapely, no preparation or vectorisation), timed in the same run, as a ratio;
* merge of 3 parcels with a 2 cm gap (the snapping path of MERGE-02) — for information.

Each timing is ``run_check(operation, request_dict)`` end to end: parsing and validating the
GeoJSON, CRS handling, every rule, and the report dict.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from bench.naive_rules import naive_merge, naive_split
from gis.rules import run_check
from gis.rules.factories import bench_split_scene, merge_request, rect, split_request


@dataclass(frozen=True)
class Case:
    name: str
    operation: str
    request: dict
    goal_ms: float | None
    peer: Callable[[dict], object] | None = None


def cases() -> list[Case]:
    scene = bench_split_scene(vertices=200, n_buildings=30, n_lots=3)
    gap = [rect(x=0, y=0, w=100, h=80), rect(x=100.02, y=0, w=100, h=80), rect(x=200.02, y=0, w=100, h=80)]
    return [
        Case("split: 200-vertex parent, 3 lots, 30 buildings (EPSG:4549)", "split",
             split_request(scene=scene, crs="EPSG:4549"), 1.0, naive_split),
        Case("split: the same, sent in CRS84", "split", split_request(scene=scene, crs="OGC:CRS84"), None),
        Case("merge: 3 parcels", "merge", merge_request(), 0.5, naive_merge),
        Case("merge: 3 parcels, 2 cm gaps (snapping)", "merge", merge_request(parcels=gap), None),
    ]


def measure(fn: Callable[[], object], n: int) -> tuple[float, float]:
    """Median and 95th percentile in milliseconds over ``n`` runs (after a warm-up)."""
    for _ in range(max(20, n // 10)):
        fn()
    times = []
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    finally:
        if gc_was:
            gc.enable()
    times.sort()
    return statistics.median(times) * 1e3, times[min(len(times) - 1, int(0.95 * len(times)))] * 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="timed runs per case")
    args = parser.parse_args(argv)
    console = Console()
    table = Table(title="check engine, in process (run_check)")
    for col, just in (("case", "left"), ("verdict", "left"), ("median ms", "right"), ("p95 ms", "right"),
                      ("goal ms", "right"), ("", "left"), ("naive shapely ms", "right"), ("engine / naive", "right")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    missed = 0
    for case in cases():
        report = run_check(case.operation, case.request)
        median, p95 = measure(lambda c=case: run_check(c.operation, c.request), args.n)
        ok = case.goal_ms is None or median <= case.goal_ms
        missed += not ok
        peer_ms = measure(lambda c=case: c.peer(c.request), args.n)[0] if case.peer else None
        table.add_row(case.name, report["verdict"], f"{median:.3f}", f"{p95:.3f}",
                      "—" if case.goal_ms is None else f"≤ {case.goal_ms:g}",
                      "" if case.goal_ms is None else ("[green]met[/green]" if ok else "[red]missed[/red]"),
                      "—" if peer_ms is None else f"{peer_ms:.3f}",
                      "—" if peer_ms is None else f"{median / peer_ms:.2f}")
    console.print(table)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
