"""Register statistics on a date: the three categories by town, ages and idle durations, low-efficiency
criteria, 亩均 figures of rated holders, and disposals against the jurisdiction's targets."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from app.services.parcels import CATEGORY_ZH, PARCEL_SELECT, categorize
from gis.jurisdiction import load_jurisdiction
from gis.units import round_half_up

__all__ = ["stats"]

AGE_BANDS = ((0, 1, "<1"), (1, 2, "1-2"), (2, 3, "2-3"), (3, 5, "3-5"), (5, None, ">=5"))


def _band(years: float | None) -> str:
    if years is None:
        return "unknown"
    for lo, hi, name in AGE_BANDS:
        if years >= lo and (hi is None or years < hi):
            return name
    return "unknown"


def _acc() -> dict[str, float]:
    return {"count": 0, "area_mu": 0.0}


def _add(acc: dict[str, float], mu: float) -> None:
    acc["count"] += 1
    acc["area_mu"] += mu


def _round(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: (round_half_up(v, 2) if k == "area_mu" else _round(v)) for k, v in tree.items()}
    return tree


def stats(conn: Connection, as_of: date, jurisdiction: str) -> dict[str, Any]:
    j = load_jurisdiction(jurisdiction)
    rows = [dict(r) for r in conn.execute(text(f"{PARCEL_SELECT} WHERE p.valid_to IS NULL"),
                                          {"last_year": as_of.year - 1}).mappings().all()]
    cats = categorize(conn, rows, as_of)
    by_cat_town: dict[str, dict[str, dict[str, float]]] = {c: defaultdict(_acc) for c in CATEGORY_ZH}
    totals: dict[str, dict[str, float]] = {c: _acc() for c in CATEGORY_ZH}
    approval_bands: dict[str, dict[str, float]] = defaultdict(_acc)
    approval_flagged = _acc()
    idle_bands: dict[str, dict[str, float]] = defaultdict(_acc)
    idle_fee, recoverable = _acc(), _acc()
    low: dict[str, dict[str, float]] = defaultdict(_acc)
    for c in cats:
        mu = float(c.row["area_mu"])
        town = c.row["town"] or "(未填)"
        _add(by_cat_town[c.category][town], mu)
        _add(totals[c.category], mu)
        r = c.result
        if c.category == "approved_unsupplied":
            _add(approval_bands[_band(r.years_since_approval)], mu)
            if r.approval_flagged:
                _add(approval_flagged, mu)
        elif c.category == "supplied_unused":
            _add(idle_bands[_band(r.years_idle)], mu)
            if r.idle_fee_due:
                _add(idle_fee, mu)
            if r.recoverable_without_compensation:
                _add(recoverable, mu)
        elif c.category == "low_efficiency":
            _add(low[c.criterion or "unknown"], mu)
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
        "categories": {c: {"label_zh": CATEGORY_ZH[c], **totals[c], "by_town": dict(by_cat_town[c])}
                       for c in CATEGORY_ZH},
        "approved_unsupplied": {"by_age_years": dict(approval_bands), "flagged_2y": approval_flagged},
        "supplied_unused": {"by_idle_years": dict(idle_bands), "idle_fee_due_1y": idle_fee,
                            "recoverable_2y": recoverable},
        "low_efficiency": {"by_criterion": dict(low)},
        "efficiency": efficiency,
        "disposals": {"by_year": {y: dict(m) for y, m in disposals.items()},
                      "target": {"year": t.year, "area_mu": t.disposal_low_efficiency_mu,
                                 "achieved_mu": cumulative,
                                 "achieved_share": round_half_up(cumulative / t.disposal_low_efficiency_mu, 4)
                                 if t.disposal_low_efficiency_mu else None, "source": t.source}},
    })
