"""Register statistics on a date: the three categories by town, ages and idle durations, low-efficiency
criteria, 亩均 figures of rated holders, and disposals against the jurisdiction's targets."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection
from starlette.concurrency import run_in_threadpool

from app.services.common import Lru, json_bytes
from app.services.parcels import CATEGORY_ZH, category_frame
from gis.jurisdiction import load_jurisdiction
from gis.units import round_half_up

__all__ = ["stats", "summary"]

AGE_BANDS = ((0, 1, "<1"), (1, 2, "1-2"), (2, 3, "2-3"), (3, 5, "3-5"), (5, None, ">=5"))


def _round(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: (round_half_up(v, 2) if k == "area_mu" else _round(v)) for k, v in tree.items()}
    return tree


def _acc(count: int = 0, mu: float = 0.0) -> dict[str, float]:
    return {"count": count, "area_mu": mu}


def _groups(keys: np.ndarray, mu: np.ndarray, mask: np.ndarray, order: list[str] | None = None) -> dict[str, Any]:
    """Count and area (summed in row order) per key of the masked rows; keys in ``order`` (else sorted)."""
    keys, mu = keys[mask], mu[mask]
    if not len(keys):
        return {}
    names, idx = np.unique(keys.astype(str), return_inverse=True)
    counts = np.bincount(idx, minlength=len(names))
    areas = np.bincount(idx, weights=mu, minlength=len(names))
    got = {str(n): _acc(int(c), float(a)) for n, c, a in zip(names, counts, areas, strict=True)}
    return {k: got[k] for k in (order or sorted(got)) if k in got}


def _bands(years: np.ndarray) -> np.ndarray:
    out = np.full(len(years), "unknown", dtype=object)
    for lo, hi, name in AGE_BANDS:
        out[(years >= lo) & ((years < hi) if hi is not None else True)] = name
    return out


def _total(mu: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    return _acc(int(mask.sum()), float(np.bincount(np.zeros(int(mask.sum()), dtype=np.intp), weights=mu[mask],
                                                   minlength=1)[0]))


def stats(conn: Connection, as_of: date, jurisdiction: str) -> dict[str, Any]:
    j = load_jurisdiction(jurisdiction)
    frame = category_frame(conn, "p.valid_to IS NULL", {}, as_of, ("town",))
    mu = frame["area_mu"].to_numpy(dtype=float)
    cat = frame["category_final"].to_numpy(dtype=object)
    town = frame["town"].fillna("(未填)").replace("", "(未填)").to_numpy(dtype=object)
    band_order = [b[2] for b in AGE_BANDS] + ["unknown"]
    by_cat_town = {c: _groups(town, mu, cat == c) for c in CATEGORY_ZH}
    totals = {c: _total(mu, cat == c) for c in CATEGORY_ZH}
    au, su, low_eff = cat == "approved_unsupplied", cat == "supplied_unused", cat == "low_efficiency"
    approval_bands = _groups(_bands(frame["years_since_approval"].to_numpy(dtype=float)), mu, au, band_order)
    approval_flagged = _total(mu, au & frame["approval_flagged"].fillna(False).to_numpy(dtype=bool))
    idle_bands = _groups(_bands(frame["years_idle"].to_numpy(dtype=float)), mu, su, band_order)
    idle_fee = _total(mu, su & frame["idle_fee_due"].fillna(False).to_numpy(dtype=bool))
    recoverable = _total(mu, su & frame["recoverable_without_compensation"].fillna(False).to_numpy(dtype=bool))
    low = _groups(frame["criterion_final"].fillna("unknown").to_numpy(dtype=object), mu, low_eff)
    last = as_of.year - 1
    per_mu = conn.execute(text(
        "WITH land AS (SELECT holder_id, sum(area_mu) AS mu FROM parcels WHERE valid_to IS NULL "
        "AND holder_id IS NOT NULL GROUP BY holder_id) "
        "SELECT coalesce(hy.above_scale, false) AS above, count(*) AS holders, sum(land.mu) AS mu, "
        "sum(hy.tax_wan) AS tax, sum(hy.value_added_wan) AS va FROM holder_years hy JOIN land USING (holder_id) "
        "WHERE hy.year = :y AND hy.rating IS NOT NULL GROUP BY ROLLUP (coalesce(hy.above_scale, false))"),
        {"y": last}).mappings().all()

    def figures(row) -> dict[str, Any]:
        mu = float(row["mu"] or 0)
        return {"holders": row["holders"], "area_mu": round_half_up(mu, 2),
                "tax_per_mu_wan": round_half_up(float(row["tax"] or 0) / mu, 2) if mu else None,
                "value_added_per_mu_wan": round_half_up(float(row["va"] or 0) / mu, 2) if mu else None}

    efficiency = {"year": last, "all_rated": None, "above_scale": None,
                  "targets": {"tax_per_mu_wan": j.targets.tax_per_mu_wan,
                              "value_added_per_mu_wan": j.targets.value_added_per_mu_wan,
                              "source": j.targets.source}}
    for row in per_mu:
        if row["above"] is None:  # the ROLLUP total
            efficiency["all_rated"] = figures(row)
        elif row["above"]:
            efficiency["above_scale"] = figures(row)
    disposals: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(_acc))
    cumulative = 0.0
    for method, year, n, mu in conn.execute(text(
            "SELECT method, extract(year FROM disposed_on)::int, count(*), sum(area_mu) FROM disposals "
            "WHERE disposed_on <= :d GROUP BY 1, 2 ORDER BY 2, 1"), {"d": as_of}).all():
        disposals[str(year)][method] = {"count": n, "area_mu": float(mu)}
        if year <= j.targets.year:
            cumulative += float(mu)
    t = j.targets
    return _round({
        "as_of": as_of.isoformat(),
        "jurisdiction": j.id,
        "categories": {c: {"label_zh": CATEGORY_ZH[c], **totals[c], "by_town": by_cat_town[c]}
                       for c in CATEGORY_ZH},
        "approved_unsupplied": {"by_age_years": approval_bands, "flagged_2y": approval_flagged},
        "supplied_unused": {"by_idle_years": idle_bands, "idle_fee_due_1y": idle_fee,
                            "recoverable_2y": recoverable},
        "low_efficiency": {"by_criterion": low},
        "efficiency": efficiency,
        "disposals": {"by_year": {y: dict(m) for y, m in disposals.items()},
                      "target": {"year": t.year, "area_mu": t.disposal_low_efficiency_mu,
                                 "achieved_mu": cumulative,
                                 "achieved_share": round_half_up(cumulative / t.disposal_low_efficiency_mu, 4)
                                 if t.disposal_low_efficiency_mu else None, "source": t.source}},
    })


_SUMMARY_FILTERS = {"town": "p.town = :town", "criterion": "c.criterion = :criterion", "rating": "c.rating = :rating",
                    "min_mu": "p.area_mu >= :min_mu", "max_mu": "p.area_mu <= :max_mu"}


def summary(conn: Connection, as_of: date, **filters: Any) -> dict[str, Any]:
    """Count and area (亩) per category of the current parcels passing the map's filters, on ``as_of`` (today).

    The map legend's figures. It reads the materialised ``parcel_categories`` (refreshed by the caller),
    so it costs one aggregate query even on the 200k-parcel register.
    """
    given = {k: v for k, v in filters.items() if v is not None and v != ""}
    where = " AND ".join(["p.valid_to IS NULL", *(_SUMMARY_FILTERS[k] for k in given)])
    rows = conn.execute(text(
        "SELECT c.category, count(*) AS n, coalesce(sum(p.area_mu), 0)::float8 AS mu FROM parcels p "
        f"JOIN parcel_categories c ON c.parcel_id = p.id WHERE {where} GROUP BY c.category"), given).all()
    found = {r.category: r for r in rows}
    cats = {c: {"label_zh": CATEGORY_ZH[c], "count": found[c].n if c in found else 0,
                "area_mu": round_half_up(found[c].mu, 2) if c in found else 0.0} for c in CATEGORY_ZH}
    return {"as_of": as_of.isoformat(), "filters": given, "categories": cats,
            "total": {"count": sum(v["count"] for v in cats.values()),
                      "area_mu": round_half_up(sum(r.mu for r in rows), 2)}}


class Memo:
    """Rendered statistics keyed by (register version, as-of date, …), computed once.

    Every input of :func:`stats` bumps ``register_state.version`` when it changes (migration 0003), so
    a stored answer is right for as long as its version is current. Requests that arrive while the
    same answer is being computed wait for it instead of computing it again: on the 200,000-parcel
    register one computation takes seconds, and a burst of planners opening the statistics page would
    otherwise each pay it in full.
    """

    def __init__(self, size: int = 16) -> None:
        self.computed = 0
        self._done: Lru = Lru(size)
        self._running: dict[tuple, asyncio.Future] = {}

    async def get(self, key: tuple, compute) -> bytes:
        """The answer for ``key``; ``compute()`` (blocking, run in the threadpool) makes it when missing."""
        if key in self._done:
            self._done.move_to_end(key)
            return self._done[key]
        running = self._running.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future = asyncio.get_running_loop().create_future()
        self._running[key] = future
        try:
            body = await run_in_threadpool(compute)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody else needs to
            raise
        finally:
            self._running.pop(key, None)
        self.computed += 1
        self._done.put(key, body)
        future.set_result(body)
        return body

    async def json(self, reader: Engine, key: tuple, compute: Callable[[Connection], Any]) -> bytes:
        """``compute(conn)`` as JSON, kept under (register version on ``reader``, *key)."""

        def version() -> int:
            with reader.connect() as conn:
                return conn.execute(text("SELECT version FROM register_state")).scalar_one()

        def run() -> bytes:
            with reader.connect() as conn:
                return json_bytes(compute(conn))

        return await self.get((await run_in_threadpool(version), *key), run)
