"""The parcel register: filtered listings (JSON / GeoJSON / CSV / XLSX), one parcel in full, and the
categories (三块地) derived on a date with officer overrides applied.

Cheap filters (town, holder, land use, area, bbox, free text …) run in SQL. Without a category
filter or sort only the page is categorised (:func:`categorize`, one parcel at a time); a category
filter or sort, and the statistics, fetch the facts of every row that passes in one query and derive
them all at once with :func:`gis.categories.derive_categories_frame` (:func:`category_frame`).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import orjson
import shapely
from sqlalchemy import text
from sqlalchemy.engine import Connection

from app.errors import ProblemError
from app.lookup import FACT_COLUMNS
from app.services.common import jsonable
from gis.attributes import PARCEL_ATTRS
from gis.categories import (
    CATEGORIES,
    CRITERIA,
    FRAME_DATE_COLUMNS,
    CategoryResult,
    ParcelFacts,
    YearFigures,
    derive_categories_frame,
    derive_category,
)
from gis.crs import parse_crs, transform_geom
from gis.rulesets import get_rule_set
from gis.units import round_half_up

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Categorized", "Filters", "categorize", "category_frame", "list_parcels", "parcel_detail", "render"]

SORT_FIELDS = {"parcel_code": "p.parcel_code", "name": "p.name", "town": "p.town", "area_mu": "p.area_mu",
               "area_m2": "p.area_m2", "land_use": "p.land_use", "holder": "h.name", "category": None,
               "criterion": None}
_LABELS = {a.name: a.label_zh for a in PARCEL_ATTRS}
LIST_COLUMNS = ("parcel_code", "name", "town", "land_use", "ownership_nature", "right_type", "holder_name",
                "holder_credit_code", "area_m2", "area_mu", "produced_by", "rating", "category", "category_zh",
                "criterion", "overridden")
_EXTRA_LABELS = {"area_m2": "宗地面积(㎡)", "area_mu": "宗地面积(亩)", "rating": "上年度亩均评价等级",
                 "category": "三块地类别", "category_zh": "三块地类别(中文)", "criterion": "认定依据",
                 "overridden": "人工认定"}
CATEGORY_ZH = {"approved_unsupplied": "批而未供", "supplied_unused": "供而未用", "low_efficiency": "低效用地",
               "none": "正常"}


@dataclass
class Filters:
    as_of: date
    category: str | None = None
    criterion: str | None = None
    town: str | None = None
    holder: str | None = None
    rating: str | None = None
    min_mu: float | None = None
    max_mu: float | None = None
    land_use: str | None = None
    produced_by: str | None = None
    bbox: list[float] | None = None
    bbox_crs: str | None = None
    q: str | None = None
    sort: str = "parcel_code"
    limit: int = 100
    offset: int = 0
    after: str | None = None  # keyset paging: parcel codes after (before, sorted descending) this one
    extra_where: list[str] = field(default_factory=list)

    @property
    def keyset(self) -> bool:
        """Whether pages follow each other by parcel code (``after``) rather than by ``offset``."""
        return self.sort.strip("-+ ") == "parcel_code"


def _bad(param: str, zh: str, en: str) -> ProblemError:
    return ProblemError(400, "invalid-parameter", zh, en, pointer=f"/query/{param}")


# Necessary conditions of each derived category (RULES.md §3, gis.categories), so that a category filter
# derives only the rows that can match; a parcel with an active override is always derived.
_PREFILTER = {
    "approved_unsupplied": "(p.approval_no IS NOT NULL OR p.approved_on IS NOT NULL) "
                           "AND (p.supplied_on IS NULL OR p.supplied_on > :as_of)",
    "supplied_unused": "p.supplied_on <= :as_of AND (p.completed_on IS NULL OR p.completed_on > :as_of)",
    "low_efficiency": "p.production_started_on <= :as_of",
}
_HAS_OVERRIDE = ("EXISTS (SELECT 1 FROM category_overrides o WHERE o.parcel_code = p.parcel_code "
                 "AND o.cleared_at IS NULL)")


def _where(f: Filters) -> tuple[str, dict[str, Any]]:
    sql = ["p.valid_to IS NULL"]
    params: dict[str, Any] = {"last_year": f.as_of.year - 1}
    if f.town:
        sql.append("p.town = :town")
        params["town"] = f.town
    if f.holder:
        sql.append("(h.name ILIKE :holder_like OR h.credit_code = :holder)")
        params["holder"], params["holder_like"] = f.holder.strip().upper(), f"%{f.holder.strip()}%"
    if f.rating:
        if f.rating.upper() not in ("A", "B", "C", "D"):
            raise _bad("rating", "评价等级应为 A/B/C/D", "rating must be A, B, C or D")
        sql.append("hy.rating = :rating")
        params["rating"] = f.rating.upper()
    if f.min_mu is not None:
        sql.append("p.area_mu >= :min_mu")
        params["min_mu"] = f.min_mu
    if f.max_mu is not None:
        sql.append("p.area_mu <= :max_mu")
        params["max_mu"] = f.max_mu
    if f.land_use:
        sql.append("(p.land_use = :land_use OR p.land_use_code = :land_use)")
        params["land_use"] = f.land_use
    if f.produced_by:
        sql.append("p.produced_by = :produced_by")
        params["produced_by"] = f.produced_by
    if f.q:
        sql.append("(p.parcel_code ILIKE :q OR p.name ILIKE :q)")
        params["q"] = f"%{f.q.strip()}%"
    if f.bbox is not None:
        if len(f.bbox) != 4:
            raise _bad("bbox", "bbox 应为 4 个数：minx,miny,maxx,maxy", "bbox must be 4 numbers: minx,miny,maxx,maxy")
        sql.append("p.geom && ST_GeomFromWKB(:bbox, 4549) AND ST_Intersects(p.geom, ST_GeomFromWKB(:bbox, 4549))")
        params["bbox"] = shapely.to_wkb(bbox_to_storage(f.bbox, f.bbox_crs))
    wanted = f.category or CRITERIA.get(f.criterion or "")
    if wanted in _PREFILTER:
        sql.append(f"(({_PREFILTER[wanted]}) OR {_HAS_OVERRIDE})")
        params["as_of"] = f.as_of
    if f.after is not None:
        if not f.keyset:
            raise _bad("after", "after 仅用于按宗地代码排序（sort=parcel_code 或 -parcel_code）",
                       "after needs sort=parcel_code or sort=-parcel_code")
        sql.append("p.parcel_code < :after" if f.sort.startswith("-") else "p.parcel_code > :after")
        params["after"] = f.after
    sql.extend(f.extra_where)
    return " AND ".join(sql), params


def bbox_to_storage(bbox: list[float], bbox_crs: str | None) -> shapely.Geometry:
    """The bbox (in ``bbox_crs`` authority axis order) as a polygon in the storage CRS; 400 if unusable."""
    ref = plane_crs(bbox_crs, "bbox-crs")
    a, b, c, d = bbox
    if ref.northing_first:
        a, b, c, d = b, a, d, c
    if not all(math.isfinite(v) for v in (a, b, c, d)) or a > c or b > d:
        raise _bad("bbox", "bbox 应为有限数值且 min ≤ max", "bbox must be finite numbers with min ≤ max")
    if ref.is_geographic:
        a, b, c, d = max(a, -180.0), max(b, -90.0), min(c, 180.0), min(d, 90.0)
    t = np.linspace(0.0, 1.0, 17)
    xs = np.concatenate([a + (c - a) * t, np.full(17, c), c - (c - a) * t, np.full(17, a)])
    ys = np.concatenate([np.full(17, b), b + (d - b) * t, np.full(17, d), d - (d - b) * t])
    try:  # the densified outline, reprojected; its envelope (a point or line for a degenerate bbox)
        out = transform_geom(shapely.multipoints(np.column_stack([xs, ys])), ref, "EPSG:4549")
    except Exception:  # PROJ refuses points outside the projection's domain
        out = None
    if out is None or not np.isfinite(shapely.get_coordinates(out)).all():
        raise _bad("bbox", "bbox 超出坐标系的有效范围", "the bbox lies outside the CRS's valid area")
    return shapely.envelope(out)


def plane_crs(value: str | None, param: str):
    ref = parse_crs(value)
    from gis.crs import _pyproj_crs

    pcrs = _pyproj_crs(ref.key)
    if not (pcrs.is_geographic or pcrs.is_projected) or len(pcrs.axis_info) != 2:
        raise _bad(param, f"不支持的坐标参考系（须为二维平面或地理坐标系）：{ref.key}",
                   f"unsupported CRS (a 2D geographic or projected CRS is required): {ref.key}")
    return ref


PARCEL_SELECT = (f"SELECT p.id, {', '.join('p.' + c for c in FACT_COLUMNS)}, p.area_m2, p.area_mu, "
                 "p.holder_id, h.name AS holder_name, h.credit_code AS holder_credit_code, hy.rating "
                 "FROM parcels p LEFT JOIN holders h ON h.id = p.holder_id "
                 "LEFT JOIN holder_years hy ON hy.holder_id = p.holder_id AND hy.year = :last_year")

# A listing row needs these only (see _item_of): a 1,000-row page converts a third of the values.
LIST_SELECT = ("SELECT p.id, p.parcel_code, p.name, p.town, p.land_use, p.ownership_nature, p.right_type, "
               "p.area_m2, p.area_mu, p.produced_by, "
               "h.name AS holder_name, h.credit_code AS holder_credit_code, hy.rating "
               "FROM parcels p LEFT JOIN holders h ON h.id = p.holder_id "
               "LEFT JOIN holder_years hy ON hy.holder_id = p.holder_id AND hy.year = :last_year")


@dataclass
class Categorized:
    row: dict[str, Any]
    result: CategoryResult
    override: dict[str, Any] | None

    @property
    def category(self) -> str:
        return self.override["category"] if self.override else self.result.category

    @property
    def criterion(self) -> str | None:
        return "override" if self.override else self.result.criterion


_FACT_FIELDS = tuple(k for k in ParcelFacts.model_fields if k != "years")
_YEAR_FIELDS = ("year", "rating", "tax_wan", "revenue_wan", "value_added_wan", "above_scale")


def _num(v: Any) -> Any:
    """Database values as the category models hold them: Decimal → float, blank text → None."""
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, str):
        return v.strip() or None
    return v


def categorize(conn: Connection, rows: list[dict[str, Any]], as_of: date) -> list[Categorized]:
    """Derive each row's category on ``as_of`` (holder figures, holder's total area, overrides).

    Rows come from the database with their types checked there, so the models are built without
    re-validation (``model_construct``): 200 000 parcels take seconds, not tens of seconds.
    """
    holder_ids = sorted({r["holder_id"] for r in rows if r["holder_id"] is not None})
    raw_years: dict[int, list[Any]] = defaultdict(list)
    holder_mu: dict[int, float] = {}
    if holder_ids:
        for y in conn.execute(text(
                "SELECT holder_id, year, rating, tax_wan, revenue_wan, value_added_wan, above_scale, compliance_flags "
                "FROM holder_years JOIN unnest(CAST(:ids AS bigint[])) AS u(id) ON holder_id = u.id"),
                {"ids": holder_ids}).all():
            raw_years[y.holder_id].append(y)
        holder_mu = {h: float(mu) for h, mu in conn.execute(text(
            "SELECT holder_id, sum(area_mu) FROM parcels JOIN unnest(CAST(:ids AS bigint[])) AS u(id) "
            "ON holder_id = u.id WHERE valid_to IS NULL GROUP BY holder_id"), {"ids": holder_ids}).all()}
    years: dict[int, tuple[YearFigures, ...]] = {
        hid: tuple(sorted((YearFigures.model_construct(
            **{k: _num(getattr(y, k)) for k in _YEAR_FIELDS}, compliance_flags=tuple(y.compliance_flags or ()),
            holder_area_mu=holder_mu.get(hid)) for y in ys), key=lambda y: y.year))
        for hid, ys in raw_years.items()}
    overrides = {o["parcel_code"]: dict(o) for o in conn.execute(text(
        "SELECT parcel_code, category, reason, actor, created_at FROM category_overrides "
        "JOIN unnest(CAST(:codes AS text[])) AS u(code) ON parcel_code = u.code WHERE cleared_at IS NULL"),
        {"codes": [r["parcel_code"] for r in rows]}).mappings()}
    params = get_rule_set(None).categories
    out = []
    for r in rows:
        facts = ParcelFacts.model_construct(**{k: _num(r[k]) for k in _FACT_FIELDS if r.get(k) is not None},
                                            years=years.get(r["holder_id"], ()))
        out.append(Categorized(r, derive_category(facts, as_of, params=params), overrides.get(r["parcel_code"])))
    return out


_EPOCH = "1970-01-01"
_FRAME_TEXT_COLUMNS = {"name": "p.name", "town": "p.town", "land_use": "p.land_use", "holder_name": "h.name",
                       "holder_credit_code": "h.credit_code"}


def category_frame(conn: Connection, where: str, params: dict[str, Any], as_of: date,
                   columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """The category on ``as_of`` of every parcel passing ``where`` (aliases of :data:`PARCEL_SELECT`), at once.

    One query fetches the facts, the holder's figures for the years the rule set reads, the holder's
    total current area and the active override; :func:`derive_categories_frame` derives them all.
    Columns: ``id``, ``parcel_code``, ``area_m2``, ``area_mu``, the text ``columns`` asked for (``name``,
    ``town``, ``land_use``, ``holder_name``), the derived figures (``category``,
    ``criterion``, ``years_since_approval`` …) and the effective ``category_final`` /
    ``criterion_final`` (``override`` when an officer set the category) with ``overridden``, and the
    holder's ``rating`` of the year before ``as_of``.
    """
    import pandas as pd  # imported on first use: it is most of the service's memory

    cats = get_rule_set(None).categories
    years = range(1, cats.large_revenue_years + 1)
    alias = {k: "hy" if k == 1 else f"hy{k}" for k in years}
    year_cols = ", ".join(
        f"btrim({a}.rating) AS rating_{k}, {a}.tax_wan::float8 AS tax_wan_{k}, "
        f"{a}.revenue_wan::float8 AS revenue_wan_{k}" for k, a in alias.items())
    year_joins = " ".join(
        f"LEFT JOIN holder_years {a} ON {a}.holder_id = p.holder_id AND {a}.year = :frame_year_{k}"
        for k, a in alias.items() if k != 1)
    sql = (
        f"SELECT p.id, p.parcel_code, p.holder_id, {''.join(f'{_FRAME_TEXT_COLUMNS[c]} AS {c}, ' for c in columns)}"
        "p.area_m2, p.area_mu, p.approval_no, "
        f"{', '.join(f'p.{c} - DATE {_EPOCH!r} AS {c}' for c in FRAME_DATE_COLUMNS)}, "  # days: fast to convert
        "p.developed_area_m2::float8 AS developed_area_m2, "
        "p.invested_wan::float8 AS invested_wan, p.planned_investment_wan::float8 AS planned_investment_wan, "
        f"p.far_actual::float8 AS far_actual, {year_cols}, o.category AS override_category "
        "FROM parcels p LEFT JOIN holders h ON h.id = p.holder_id "
        "LEFT JOIN holder_years hy ON hy.holder_id = p.holder_id AND hy.year = :last_year "
        f"{year_joins} "
        "LEFT JOIN category_overrides o ON o.parcel_code = p.parcel_code AND o.cleared_at IS NULL "
        f"WHERE {where}")
    result = conn.execute(text(sql), {**params, "last_year": as_of.year - 1,
                                      **{f"frame_year_{k}": as_of.year - k for k in years if k != 1}})
    names = list(result.keys())
    rows = result.all()
    data: dict[str, Any] = {}
    for c, values in zip(names, zip(*rows, strict=True) if rows else [()] * len(names), strict=True):
        if c in FRAME_DATE_COLUMNS:  # days since 1970-01-01 (None → NaN → NaT)
            days = np.array(values, dtype=float)
            dates = np.full(len(days), np.datetime64("NaT"), dtype="datetime64[D]")
            dates[~np.isnan(days)] = days[~np.isnan(days)].astype(np.int64)
            data[c] = dates
        elif c == "id":
            data[c] = np.array(values, dtype=np.int64)
        elif c == "holder_id":
            data[c] = np.array(values, dtype=float)
        elif c == "parcel_code" or c in _FRAME_TEXT_COLUMNS or c.startswith("rating_") \
                or c in ("approval_no", "override_category"):
            data[c] = np.array(values, dtype=object)
        else:  # numbers (float8 from the database; None → NaN)
            data[c] = np.array(values, dtype=float)
    df = pd.DataFrame(data, columns=names)
    # 亩均税收 divides by the holder's total current area (as categorize() does)
    holders = df["holder_id"].dropna().unique().astype(np.int64)
    if len(holders) > 5000:  # most of the register: one pass over it beats looking holders up
        totals = conn.execute(text("SELECT holder_id, sum(area_mu) FROM parcels WHERE valid_to IS NULL "
                                   "AND holder_id IS NOT NULL GROUP BY holder_id")).all()
    else:
        totals = conn.execute(text(
            "SELECT holder_id, sum(area_mu) FROM parcels JOIN unnest(CAST(:ids AS bigint[])) AS u(id) "
            "ON holder_id = u.id WHERE valid_to IS NULL GROUP BY holder_id"), {"ids": holders.tolist()}).all()
    holder_mu = df["holder_id"].map(pd.Series({h: float(mu) for h, mu in totals}, dtype=float)).to_numpy(dtype=float)
    for k in years:
        df[f"holder_area_mu_{k}"] = holder_mu
    derived = derive_categories_frame(df, as_of, params=cats)
    out = pd.concat([df[["id", "parcel_code", *columns, "area_m2", "area_mu", "override_category"]], derived],
                    axis=1)
    out["rating"] = df["rating_1"].to_numpy()
    out["overridden"] = out["override_category"].notna()
    out["category_final"] = out["override_category"].where(out["overridden"], out["category"])
    out["criterion_final"] = out["criterion"].astype(object).where(~out["overridden"], "override")
    return out


def _frame_order(frame: pd.DataFrame, key: str, desc: bool) -> np.ndarray:
    """Positions of ``frame`` sorted as the SQL listing sorts: the key (NULLS LAST), then parcel_code."""
    import pandas as pd

    code = frame["parcel_code"].to_numpy(dtype=object)
    col = frame["holder_name" if key == "holder" else key] if key not in ("category", "criterion") else None
    if key == "category":
        rank = {c: i for i, c in enumerate(CATEGORIES)}
        value = frame["category_final"].map(rank).to_numpy(dtype=float)
    elif key == "criterion":
        value = frame["criterion_final"].fillna("").to_numpy(dtype=object)
    elif col is not None and pd.api.types.is_numeric_dtype(col.dtype):
        value = col.to_numpy(dtype=float)
    else:
        value = col.to_numpy(dtype=object)  # type: ignore[union-attr]
    null = pd.isna(value)
    codes = pd.factorize(code, sort=True)[0]
    if value.dtype == object:
        filled = np.where(null, "", value) if not null.all() else np.zeros(len(value))
        ranks = pd.factorize(filled, sort=True)[0]
    else:
        ranks = np.where(null, 0, value)
    if desc:
        ranks = -ranks
    return np.lexsort((codes, ranks, null))


def _item_of(r: dict[str, Any], category: str, criterion: str | None, overridden: bool) -> dict[str, Any]:
    return {
        "parcel_code": r["parcel_code"], "name": r["name"], "town": r["town"], "land_use": r["land_use"],
        "ownership_nature": r["ownership_nature"], "right_type": r["right_type"],
        "holder_name": r["holder_name"], "holder_credit_code": r["holder_credit_code"],
        "area_m2": round(r["area_m2"], 2), "area_mu": round_half_up(r["area_mu"], 2),
        "produced_by": r["produced_by"], "rating": r["rating"].strip() if r["rating"] else None,
        "category": category, "category_zh": CATEGORY_ZH[category], "criterion": criterion,
        "overridden": overridden,
    }


class ParcelPage(NamedTuple):
    items: list[dict[str, Any]]
    more: bool
    ids: list[int]
    geoms: dict[int, bytes] | None = None  # GeoJSON geometry text per id, with ``geometry=True``


def _geometry_column(crs: str | None) -> tuple[str, dict[str, Any]]:
    """The select-list entry writing a parcel's GeoJSON geometry (CRS84 unless ``crs``, authority axis order)."""
    ref = plane_crs(crs, "crs")
    flip = "ST_FlipCoordinates(" if ref.northing_first else "("
    return (f", ST_AsGeoJSON({flip}ST_Transform(p.geom, :geom_srid)), :geom_digits) AS geojson",
            {"geom_srid": ref.epsg or 4326, "geom_digits": 7 if ref.is_geographic else 3})


def list_parcels(conn: Connection, f: Filters, *, geometry: bool = False, crs: str | None = None) -> ParcelPage:
    """The page of parcels, whether more follow, the parcel ids of the page and, with ``geometry``, their
    GeoJSON geometries written by PostGIS in the same query."""
    import pandas as pd

    desc = f.sort.startswith("-")
    key = f.sort.lstrip("-+ ")
    if key not in SORT_FIELDS:
        raise _bad("sort", f"不支持的排序字段：{key}", f"cannot sort by {key} ({', '.join(SORT_FIELDS)})")
    if f.category and f.category not in CATEGORIES:
        raise _bad("category", f"未知的类别：{f.category}", f"unknown category {f.category} ({', '.join(CATEGORIES)})")
    if f.criterion and f.criterion not in (*CRITERIA, "override"):
        raise _bad("criterion", f"未知的认定依据：{f.criterion}", f"unknown criterion {f.criterion}")
    where, params = _where(f)
    select = LIST_SELECT
    if geometry:
        column, geom_params = _geometry_column(crs)
        select = LIST_SELECT.replace(" FROM parcels p ", f"{column} FROM parcels p ", 1)
        params = {**params, **geom_params}
    in_python = bool(f.category or f.criterion or SORT_FIELDS[key] is None)
    if in_python:
        sort_key = "holder_name" if key == "holder" else key
        frame = category_frame(conn, where, params, f.as_of,
                               (sort_key,) if sort_key in _FRAME_TEXT_COLUMNS else ())
        keep = np.ones(len(frame), dtype=bool)
        if f.category:
            keep &= (frame["category_final"] == f.category).to_numpy(dtype=bool)
        if f.criterion:
            keep &= (frame["criterion_final"] == f.criterion).to_numpy(dtype=bool)
        frame = frame[keep]
        chosen = frame.iloc[_frame_order(frame, key, desc)[f.offset:f.offset + f.limit]]
        more = len(frame) > f.offset + f.limit
        ids = [int(i) for i in chosen["id"]]
        by_id = {r["id"]: dict(r) for r in conn.execute(
            text(f"{select} WHERE p.id = ANY(:ids)"), {**params, "ids": ids}).mappings()}
        items = [_item_of(by_id[i], cat, None if pd.isna(crit) else crit, bool(ov)) for i, cat, crit, ov in zip(
            ids, chosen["category_final"], chosen["criterion_final"], chosen["overridden"], strict=True)]
        return ParcelPage(items, more, ids, _geoms(by_id.values()) if geometry else None)
    else:
        order = f"{SORT_FIELDS[key]} {'DESC' if desc else 'ASC'} NULLS LAST, p.parcel_code"
        if re.search(r"\bhy?\.", f"{where} {order}"):
            sql = f"{select} WHERE {where} ORDER BY {order} LIMIT :lim OFFSET :off"
        else:  # page the parcels first, then join the holder to the page's rows only
            sql = select.replace(
                "FROM parcels p ",
                f"FROM (SELECT * FROM parcels p WHERE {where} ORDER BY {order} LIMIT :lim OFFSET :off) p ", 1)
            sql += f" ORDER BY {order}"
        rows = [dict(r) for r in conn.execute(text(sql), {**params, "lim": f.limit + 1, "off": f.offset}).mappings()]
        more = len(rows) > f.limit
        rows = rows[:f.limit]
        ids = [r["id"] for r in rows]
        geoms = _geoms(rows) if geometry else None
        cached = _materialised(conn, ids, f.as_of)
        if cached is not None:
            return ParcelPage([_item_of(r, *c) for r, c in zip(rows, cached, strict=True)], more, ids, geoms)
        frame = category_frame(conn, "p.id = ANY(:page_ids)", {"page_ids": ids}, f.as_of).set_index("id")
        frame = frame.reindex(ids)
        items = [_item_of(r, cat, None if pd.isna(crit) else crit, bool(ov)) for r, cat, crit, ov in zip(
            rows, frame["category_final"], frame["criterion_final"], frame["overridden"], strict=True)]
        return ParcelPage(items, more, ids, geoms)


def _materialised(conn: Connection, ids: list[int], as_of: date) -> list[tuple[str, str | None, bool]] | None:
    """The page's (category, criterion, overridden) from ``parcel_categories`` when that table holds
    ``as_of`` for the current register version (see :mod:`app.services.category_cache`), else None.

    The same derivation, done once for the register instead of once per page: a listing of 1,000
    parcels then needs no pandas at all."""
    from app.services.category_cache import is_fresh  # that module derives the table with category_frame

    if not ids or not is_fresh(conn, as_of):
        return None
    found = {r[0]: (r[1], r[2], bool(r[3])) for r in conn.execute(text(
        "SELECT parcel_id, category, criterion, overridden FROM parcel_categories "
        "JOIN unnest(CAST(:ids AS bigint[])) AS u(id) ON parcel_id = u.id"), {"ids": ids})}
    return [found[i] for i in ids] if len(found) == len(ids) else None


def _geoms(rows) -> dict[int, bytes]:
    return {r["id"]: r["geojson"].encode() for r in rows}


def render(items: list[dict[str, Any]], fmt: str, *, geoms: dict[int, bytes] | None = None,
           ids: list[int] | None = None, links: list[dict[str, str]] | None = None) -> tuple[bytes, str]:
    """Encode a page as json / geojson / csv / xlsx; returns (body, media type)."""
    if fmt == "json":
        return orjson.dumps({"parcels": items, "returned": len(items), "links": links or []}), "application/json"
    if fmt == "geojson":
        parts = [b'{"type":"FeatureCollection","features":[']
        for i, (item, pid) in enumerate(zip(items, ids or [], strict=True)):
            if i:
                parts.append(b",")
            parts += [b'{"type":"Feature","id":', orjson.dumps(item["parcel_code"]), b',"geometry":',
                      (geoms or {}).get(pid, b"null"), b',"properties":', orjson.dumps(item), b"}"]
        parts += [b'],"numberReturned":', str(len(items)).encode(), b',"links":', orjson.dumps(links or []), b"}"]
        return b"".join(parts), "application/geo+json"
    headers = [_LABELS.get(c) or _EXTRA_LABELS.get(c) or c for c in LIST_COLUMNS]
    headers[LIST_COLUMNS.index("holder_name")] = _LABELS["holder_name"]
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(headers)
        for it in items:
            w.writerow(["" if it[c] is None else ("是" if it[c] is True else "否" if it[c] is False else it[c])
                        for c in LIST_COLUMNS])
        return ("\ufeff" + buf.getvalue()).encode("utf-8"), "text/csv; charset=utf-8"
    if fmt == "xlsx":
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet("宗地")
        ws.append(headers)
        for it in items:
            ws.append([it[c] for c in LIST_COLUMNS])
        out = io.BytesIO()
        wb.save(out)
        return out.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    raise _bad("f", f"不支持的格式：{fmt}", f"unknown format {fmt} (json, geojson, csv, xlsx)")


def _lineage_up(conn: Connection, code: str, depth: int = 0) -> list[dict[str, Any]]:
    if depth > 20:
        return []
    row = conn.execute(text("SELECT parent_codes FROM parcels WHERE parcel_code = :c ORDER BY id DESC LIMIT 1"),
                       {"c": code}).first()
    out = []
    for pc in (row.parent_codes if row else []):
        p = conn.execute(text("SELECT produced_by, valid_to FROM parcels WHERE parcel_code = :c "
                              "ORDER BY id DESC LIMIT 1"), {"c": pc}).first()
        out.append({"parcel_code": pc, "produced_by": p.produced_by if p else None,
                    "current": p is not None and p.valid_to is None,
                    "parents": _lineage_up(conn, pc, depth + 1)})
    return out


def _lineage_down(conn: Connection, code: str, depth: int = 0) -> list[dict[str, Any]]:
    if depth > 20:
        return []
    rows = conn.execute(text(
        "SELECT DISTINCT ON (parcel_code) parcel_code, produced_by, valid_to FROM parcels "
        "WHERE parent_codes @> ARRAY[CAST(:c AS text)] ORDER BY parcel_code, id DESC"), {"c": code}).all()
    return [{"parcel_code": r.parcel_code, "produced_by": r.produced_by, "current": r.valid_to is None,
             "children": _lineage_down(conn, r.parcel_code, depth + 1)} for r in rows]


def parcel_detail(conn: Connection, code: str, as_of: date) -> dict[str, Any]:
    """Facts, category, buildings, support land, yearly figures, history, lineage and checks of a parcel."""
    select = PARCEL_SELECT.replace(
        "SELECT p.id,", "SELECT p.id, p.valid_from, p.valid_to, p.retired_by, p.operation_id,")
    versions = [dict(r) for r in conn.execute(text(
        f"{select} "
        "WHERE p.parcel_code = :code ORDER BY p.valid_to IS NULL DESC, p.valid_to DESC, p.id DESC"),
        {"code": code, "last_year": as_of.year - 1}).mappings()]
    if not versions:
        raise ProblemError(404, "unknown-parcel", f"未找到宗地：{code}", f"no parcel with code {code}",
                           pointer="/path/code")
    head = versions[0]
    (cat,) = categorize(conn, [head], as_of)
    category = cat.result.as_dict()
    category["derived_category"] = category["category"]
    if cat.override:
        category.update(category=cat.override["category"], criterion="override",
                        override=jsonable(cat.override), label_zh=CATEGORY_ZH[cat.override["category"]])
    buildings = [jsonable(dict(b)) for b in conn.execute(text(
        "SELECT number, floors, height_m, floor_area_m2, use, round(footprint_m2::numeric, 2) AS footprint_m2 "
        "FROM buildings WHERE parcel_id = :id ORDER BY length(number), number"), {"id": head["id"]}).mappings()]
    support = [jsonable(dict(s)) for s in conn.execute(text(
        "SELECT kind, floor_area_m2, round(area_m2::numeric, 2) AS area_m2 FROM support_land WHERE parcel_id = :id "
        "ORDER BY id"), {"id": head["id"]}).mappings()]
    years = [jsonable(dict(y)) for y in conn.execute(text(
        "SELECT year, rating, tax_wan, revenue_wan, value_added_wan, above_scale, compliance_flags "
        "FROM holder_years WHERE holder_id = :h ORDER BY year"), {"h": head["holder_id"]}).mappings()] \
        if head["holder_id"] else []
    checks = [jsonable(dict(c)) for c in conn.execute(text(
        "SELECT id, at, actor, operation, verdict FROM checks WHERE parcel_codes @> ARRAY[CAST(:c AS text)] "
        "ORDER BY at DESC LIMIT 100"), {"c": code}).mappings()]
    facts = {k: jsonable(head[k]) for k in FACT_COLUMNS}
    facts.update(area_m2=round(head["area_m2"], 2), area_mu=round_half_up(head["area_mu"], 2),
                 holder_name=head["holder_name"], holder_credit_code=head["holder_credit_code"],
                 current=head["valid_to"] is None, valid_from=jsonable(head["valid_from"]),
                 valid_to=jsonable(head["valid_to"]))
    history = [{"id": v["id"], "valid_from": jsonable(v["valid_from"]), "valid_to": jsonable(v["valid_to"]),
                "retired_by": jsonable(v["retired_by"]), "operation_id": jsonable(v["operation_id"]),
                "area_m2": round(v["area_m2"], 2), "holder_name": v["holder_name"], "produced_by": v["produced_by"]}
               for v in versions if v["valid_to"] is not None]
    ops = [jsonable(dict(o)) for o in conn.execute(text(
        "SELECT o.id, o.kind, o.executed_at, op.role, op.label FROM operation_parcels op "
        "JOIN operations o ON o.id = op.operation_id JOIN parcels p ON p.id = op.parcel_id "
        "WHERE p.parcel_code = :c ORDER BY o.executed_at"), {"c": code}).mappings()]
    return {
        "parcel_code": code, "facts": facts, "category": category, "buildings": buildings, "support_land": support,
        "years": years, "history": history,
        "lineage": {"parcel_code": code, "produced_by": head["produced_by"], "parents": _lineage_up(conn, code),
                    "children": _lineage_down(conn, code), "operations": ops},
        "checks": checks,
        "links": [{"rel": "self", "href": f"/api/v1/parcels/{code}"}],
    }
