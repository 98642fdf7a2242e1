"""The three categories of industrial land (三块地, RULES.md §3), derived from a parcel's facts on a date.

:func:`derive_category` takes :class:`ParcelFacts` (canonical attribute names of
:mod:`gis.attributes`, with per-year figures) and an as-of date and says which category applies,
which criterion matched (stable ids), and the ages and durations officers act on. Thresholds come
from the rule set's ``[categories]`` section. Officer overrides are applied by the caller.

Criteria (ids are stable; the first matching one is reported as ``criterion``):

``approved_unsupplied``
    approved (approval_no / approved_on) and not supplied on the as-of date.
    ``years_since_approval``; ``approval_flagged`` when ≥ 2 years.
``not_started``
    supplied, construction not started, and at least 1 year past the start that was due: the agreed
    start date, or the supply date when none was agreed (闲置土地处置办法 art. 2).
``halted_underdeveloped``
    started, not completed, developed area < 1/3 of the parcel (or invested < 25 % of the planned
    investment), and halted for at least 1 year.
``tax_per_mu``
    in production and last year's 亩均税收 ≤ 5 万元/亩 (tax_wan / holder_area_mu; "(含)": inclusive).
``large_revenue_low_tax``
    revenue ≥ 1 亿元 and 亩均税收 ≤ 10 万元/亩 in each of the last two years.
``rating_d``
    last year's 亩均 rating D.
``low_far``
    actual FAR < 1.0 (switchable per jurisdiction; on for Tiantai).

:func:`derive_categories_frame` gives the same categories, criteria and figures for a whole DataFrame
at once (numpy, one row per parcel, columns listed by :func:`frame_columns`), for statistics and
category filters over the whole register.

Idle time (``years_idle``) counts from the start that was due (not started) or from ``halted_since``
(halted); ``idle_fee_due`` at ≥ 1 year (闲置费 up to 20 % of the land price), and
``recoverable_without_compensation`` at ≥ 2 years (art. 14). Whole years are calendar
anniversaries (29 February → 28 February). "Last year" is ``as_of.year − 1``. 亩均税收 is compared
rounded to 0.01 万元/亩, as it is reported.

Example
-------
>>> facts = ParcelFacts(area_m2=6666.67, supplied_on=date(2020, 3, 1), agreed_start_on=date(2020, 9, 1))
>>> r = derive_category(facts, date(2022, 10, 1))
>>> r.category, r.criterion, r.years_idle, r.idle_fee_due, r.recoverable_without_compensation
('supplied_unused', 'not_started', 2.08, True, True)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Literal

import shapely
from pydantic import BaseModel, ConfigDict, Field, field_validator

from gis.rulesets import CategoryParams, RuleSet, get_rule_set
from gis.units import MU_M2, m2_to_mu, round_half_up

__all__ = [
    "CATEGORIES",
    "CRITERIA",
    "Category",
    "CategoryResult",
    "ParcelFacts",
    "YearFigures",
    "add_years",
    "derive_categories",
    "derive_categories_frame",
    "derive_category",
    "facts_frame",
    "frame_columns",
]

Category = Literal["approved_unsupplied", "supplied_unused", "low_efficiency", "none"]
CATEGORIES: tuple[Category, ...] = ("approved_unsupplied", "supplied_unused", "low_efficiency", "none")
CRITERIA: dict[str, Category] = {
    "approved_unsupplied": "approved_unsupplied",
    "not_started": "supplied_unused",
    "halted_underdeveloped": "supplied_unused",
    "tax_per_mu": "low_efficiency",
    "large_revenue_low_tax": "low_efficiency",
    "rating_d": "low_efficiency",
    "low_far": "low_efficiency",
}
_LABELS = {
    "approved_unsupplied": ("批而未供", "approved but not supplied"),
    "supplied_unused": ("供而未用", "supplied but unused (idle)"),
    "low_efficiency": ("低效用地", "low-efficiency land"),
    "none": ("正常", "none"),
}


class YearFigures(BaseModel):
    """A holder's figures for one year (holder_years): rating, tax, revenue, value added, flags.

    ``holder_area_mu`` is the holder's total current land in mu, what 亩均税收 divides by; when
    absent the parcel's own area is used.
    """

    model_config = ConfigDict(frozen=True)

    year: int = Field(ge=1990, le=2100)
    rating: Literal["A", "B", "C", "D"] | None = None
    tax_wan: float | None = Field(None, ge=0)
    revenue_wan: float | None = Field(None, ge=0)
    value_added_wan: float | None = None
    compliance_flags: tuple[str, ...] = ()
    holder_area_mu: float | None = Field(None, gt=0)
    above_scale: bool | None = None

    @field_validator("rating", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = v.strip().upper() or None
        return v

    @field_validator("compliance_flags", mode="before")
    @classmethod
    def _flags(cls, v: Any) -> Any:
        if v is None:
            return ()
        if isinstance(v, str):
            return tuple(x.strip() for x in v.replace("，", ",").split(",") if x.strip())
        return tuple(v)


class ParcelFacts(BaseModel):
    """What the category derivation reads about a parcel (canonical names of gis.attributes).

    ``area_m2`` is the official computed area (planar, storage CRS), never a declared figure;
    :meth:`from_record` computes it from a geometry when given one.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    parcel_code: str | None = None
    area_m2: float = Field(gt=0)
    approval_no: str | None = None
    approved_on: date | None = None
    supplied_on: date | None = None
    agreed_start_on: date | None = None
    agreed_completion_on: date | None = None
    construction_started_on: date | None = None
    completed_on: date | None = None
    production_started_on: date | None = None
    halted_since: date | None = None
    developed_area_m2: float | None = Field(None, ge=0)
    invested_wan: float | None = Field(None, ge=0)
    planned_investment_wan: float | None = Field(None, ge=0)
    far_actual: float | None = Field(None, ge=0)
    far_planned: float | None = Field(None, ge=0)
    years: tuple[YearFigures, ...] = ()

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_none(cls, v: Any) -> Any:
        if isinstance(v, str) and not v.strip():
            return None
        if isinstance(v, float) and v != v:  # NaN from pandas
            return None
        if hasattr(v, "to_pydatetime"):  # pandas Timestamp; NaT is not equal to itself
            return None if v != v else v.to_pydatetime().date()
        return v

    @property
    def area_mu(self) -> float:
        return m2_to_mu(self.area_m2)

    def year(self, year: int) -> YearFigures | None:
        return next((y for y in self.years if y.year == year), None)

    @classmethod
    def from_record(cls, record: Mapping[str, Any], *, geometry: Any = None,
                    years: Iterable[Mapping[str, Any] | YearFigures] = ()) -> ParcelFacts:
        """Build from a row (dict / pandas Series) of canonical attributes; area from ``geometry`` if given."""
        data = {k: v for k, v in dict(record).items() if k in cls.model_fields and k != "years"}
        if geometry is not None:
            data["area_m2"] = float(shapely.area(geometry))
        ys = [y if isinstance(y, YearFigures) else YearFigures.model_validate(
            {k: v for k, v in dict(y).items() if k in YearFigures.model_fields and not _missing(v)}) for y in years]
        return cls.model_validate({**data, "years": tuple(sorted(ys, key=lambda y: y.year))})


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def add_years(day: date, n: int) -> date:
    """The same calendar day ``n`` years later (29 February → 28 February), as periods are counted."""
    try:
        return day.replace(year=day.year + n)
    except ValueError:
        return day.replace(year=day.year + n, day=28)


def _years(start: date, end: date) -> float:
    return round((end - start).days / 365.25, 2)


@dataclass(frozen=True)
class CategoryResult:
    """The category, the criterion that matched, and the ages / durations behind it."""

    category: Category
    criterion: str | None
    criteria: tuple[str, ...]
    as_of: date
    years_since_approval: float | None = None
    approval_flagged: bool | None = None
    idle_since: date | None = None
    years_idle: float | None = None
    idle_fee_due: bool | None = None
    recoverable_without_compensation: bool | None = None
    last_year: int | None = None
    tax_per_mu: dict[int, float] = field(default_factory=dict)
    explanation_zh: str = ""
    explanation_en: str = ""

    @property
    def label_zh(self) -> str:
        return _LABELS[self.category][0]

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["as_of"] = self.as_of.isoformat()
        d["idle_since"] = self.idle_since.isoformat() if self.idle_since else None
        d["criteria"] = list(self.criteria)
        d["tax_per_mu"] = {str(k): v for k, v in self.tax_per_mu.items()}
        d["label_zh"] = self.label_zh
        return d


def _tax_per_mu(f: ParcelFacts, y: YearFigures | None) -> float | None:
    if y is None or y.tax_wan is None:
        return None
    mu = y.holder_area_mu or f.area_mu
    return round_half_up(y.tax_wan / mu, 2) if mu > 0 else None


def derive_category(facts: ParcelFacts, as_of: date | None = None, *, rule_set: RuleSet | str | None = None,
                    params: CategoryParams | None = None) -> CategoryResult:
    """The category of ``facts`` on ``as_of`` (default today), with thresholds from the rule set."""
    if as_of is None:
        from gis.rules.engine import today

        as_of = today()
    if params is None:
        rs = rule_set if isinstance(rule_set, RuleSet) else get_rule_set(rule_set)
        params = rs.categories
    p, f = params, facts
    last = as_of.year - 1
    per_year = {y.year: v for y in f.years if (v := _tax_per_mu(f, y)) is not None}
    common = {"as_of": as_of, "last_year": last, "tax_per_mu": per_year}

    def on(d: date | None) -> bool:
        return d is not None and d <= as_of

    approved = f.approval_no is not None or f.approved_on is not None
    if approved and not on(f.supplied_on) and (f.approved_on is None or on(f.approved_on)):
        yrs = _years(f.approved_on, as_of) if f.approved_on else None
        flagged = as_of >= add_years(f.approved_on, p.approval_flag_years) if f.approved_on else None
        zh = f"已批准（{f.approval_no or f.approved_on}）未供地" + (f"，已 {yrs:.2f} 年" if yrs is not None else "")
        en = f"approved ({f.approval_no or f.approved_on}) but not supplied" + (
            f", for {yrs:.2f} years" if yrs is not None else "")
        return CategoryResult("approved_unsupplied", "approved_unsupplied", ("approved_unsupplied",),
                              years_since_approval=yrs, approval_flagged=flagged, explanation_zh=zh,
                              explanation_en=en, **common)

    if on(f.supplied_on):
        idle: list[tuple[str, date, str, str]] = []
        started = on(f.construction_started_on) or on(f.completed_on) or on(f.production_started_on)
        if not started:
            due = f.agreed_start_on or f.supplied_on
            assert due is not None
            if as_of >= add_years(due, p.start_grace_years):
                basis = "约定动工日期" if f.agreed_start_on else "供地日期"
                idle.append(("not_started", due, f"{basis} {due} 起满 {p.start_grace_years} 年未动工",
                             f"not started {p.start_grace_years} year(s) after "
                             f"{'the agreed start' if f.agreed_start_on else 'supply'} on {due}"))
        elif not on(f.completed_on) and on(f.halted_since) and f.halted_since is not None \
                and as_of >= add_years(f.halted_since, p.halted_min_years):
            under_dev = f.developed_area_m2 is not None and f.developed_area_m2 < f.area_m2 * p.developed_share_below
            under_inv = (f.invested_wan is not None and f.planned_investment_wan
                         and f.invested_wan < f.planned_investment_wan * p.invested_share_below)
            if under_dev or under_inv:
                what_zh = "开发面积不足三分之一" if under_dev else f"投资额不足 {p.invested_share_below:.0%}"
                what_en = "less than a third developed" if under_dev else \
                    f"less than {p.invested_share_below:.0%} invested"
                idle.append(("halted_underdeveloped", f.halted_since, f"{what_zh}，自 {f.halted_since} 中止开发建设",
                             f"{what_en}, halted since {f.halted_since}"))
        if idle:
            crit, since, zh, en = idle[0]
            yrs = _years(since, as_of)
            return CategoryResult(
                "supplied_unused", crit, tuple(i[0] for i in idle), idle_since=since, years_idle=yrs,
                idle_fee_due=as_of >= add_years(since, p.idle_fee_years),
                recoverable_without_compensation=as_of >= add_years(since, p.recovery_years),
                explanation_zh=f"{zh}（闲置 {yrs:.2f} 年）", explanation_en=f"{en} (idle {yrs:.2f} years)", **common)

    if on(f.production_started_on):
        matched: list[tuple[str, str, str]] = []
        t_last = per_year.get(last)
        if t_last is not None and t_last <= p.tax_per_mu_max_wan:
            matched.append(("tax_per_mu", f"{last} 年亩均税收 {t_last:.2f} 万元/亩，不高于 {p.tax_per_mu_max_wan:g}",
                            f"{last} tax per mu {t_last:.2f} wan yuan, at most {p.tax_per_mu_max_wan:g}"))
        span = [last - k for k in range(p.large_revenue_years)]
        ys = [f.year(y) for y in span]
        if all(y is not None and y.revenue_wan is not None and y.revenue_wan >= p.large_revenue_min_wan
               and per_year.get(y.year) is not None and per_year[y.year] <= p.large_revenue_tax_per_mu_max_wan
               for y in ys):
            figs = "、".join(f"{y} 年 {per_year[y]:.2f}" for y in sorted(span))
            matched.append(("large_revenue_low_tax",
                            f"营业收入 {p.large_revenue_min_wan:g} 万元以上且亩均税收连续 {len(span)} 年不高于 "
                            f"{p.large_revenue_tax_per_mu_max_wan:g} 万元/亩（{figs}）",
                            f"revenue ≥ {p.large_revenue_min_wan:g} wan yuan with tax per mu ≤ "
                            f"{p.large_revenue_tax_per_mu_max_wan:g} in each of {len(span)} years ({figs})"))
        y_last = f.year(last)
        if y_last is not None and y_last.rating in p.low_efficiency_ratings:
            matched.append(("rating_d", f"{last} 年亩均评价为 {y_last.rating} 类",
                            f"rated {y_last.rating} for {last}"))
        if p.low_far_enabled and f.far_actual is not None and f.far_actual < p.low_far_below:
            matched.append(("low_far", f"实际容积率 {f.far_actual:g}，低于 {p.low_far_below:g}",
                            f"actual FAR {f.far_actual:g}, below {p.low_far_below:g}"))
        if matched:
            return CategoryResult("low_efficiency", matched[0][0], tuple(m[0] for m in matched),
                                  explanation_zh="；".join(m[1] for m in matched),
                                  explanation_en="; ".join(m[2] for m in matched), **common)

    return CategoryResult("none", None, (), explanation_zh="不属于三块地",
                          explanation_en="none of the three categories", **common)


def derive_categories(facts: Iterable[ParcelFacts], as_of: date | None = None, *,
                      rule_set: RuleSet | str | None = None) -> list[CategoryResult]:
    """:func:`derive_category` for many parcels, loading the thresholds once."""
    rs = rule_set if isinstance(rule_set, RuleSet) else get_rule_set(rule_set)
    return [derive_category(f, as_of, params=rs.categories) for f in facts]


# ---------------------------------------------------------------------------------------------------------------
# Vectorised derivation: one row per parcel, every row at once with numpy (stats, category filters).

#: Parcel columns :func:`derive_categories_frame` reads (besides the per-year columns of :func:`frame_columns`).
FRAME_DATE_COLUMNS = ("approved_on", "supplied_on", "agreed_start_on", "construction_started_on", "completed_on",
                      "production_started_on", "halted_since")
FRAME_NUMBER_COLUMNS = ("area_m2", "developed_area_m2", "invested_wan", "planned_investment_wan", "far_actual")
FRAME_YEAR_FIELDS = ("rating", "tax_wan", "revenue_wan", "holder_area_mu")
FRAME_CRITERIA = tuple(CRITERIA)


def frame_columns(rule_set: RuleSet | str | None = None, *, params: CategoryParams | None = None) -> tuple[str, ...]:
    """The input columns :func:`derive_categories_frame` needs under the rule set's thresholds.

    Per-year columns carry a suffix ``_k``: the holder's figures for the year ``as_of.year − k``
    (``_1`` last year, ``_2`` the year before …, as many years as ``large_revenue_years``).
    """
    if params is None:
        params = (rule_set if isinstance(rule_set, RuleSet) else get_rule_set(rule_set)).categories
    years = tuple(f"{name}_{k}" for k in range(1, params.large_revenue_years + 1) for name in FRAME_YEAR_FIELDS)
    return ("approval_no", *FRAME_DATE_COLUMNS, *FRAME_NUMBER_COLUMNS, *years)


def facts_frame(facts: Iterable[ParcelFacts], as_of: date, *, rule_set: RuleSet | str | None = None,
                params: CategoryParams | None = None) -> Any:
    """The input frame of :func:`derive_categories_frame` built from :class:`ParcelFacts` (a Python loop).

    For tests and small sets; services select the columns straight from the database.
    """
    import pandas as pd

    if params is None:
        params = (rule_set if isinstance(rule_set, RuleSet) else get_rule_set(rule_set)).categories
    cols = frame_columns(params=params)
    rows = []
    for f in facts:
        row: dict[str, Any] = {c: getattr(f, c) for c in ("approval_no", *FRAME_DATE_COLUMNS, *FRAME_NUMBER_COLUMNS)}
        row["parcel_code"] = f.parcel_code
        for k in range(1, params.large_revenue_years + 1):
            y = f.year(as_of.year - k)
            for name in FRAME_YEAR_FIELDS:
                row[f"{name}_{k}"] = getattr(y, name) if y is not None else None
        rows.append(row)
    df = pd.DataFrame(rows, columns=["parcel_code", *cols])
    for c in cols:
        if c in FRAME_DATE_COLUMNS:
            df[c] = df[c].astype(object)
        elif c not in ("approval_no",) and not c.startswith("rating_"):
            df[c] = pd.to_numeric(df[c], errors="raise").astype(float)
    return df


def _frame_days(col: Any) -> Any:
    """A date column (datetime64, or objects: date / Timestamp / None / NaT / NaN) as numpy datetime64[D]."""
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        if getattr(col.dtype, "tz", None) is not None:
            col = col.dt.tz_localize(None)
        return col.to_numpy().astype("datetime64[D]")
    values = col.to_numpy(dtype=object, copy=True)
    values[pd.isna(values)] = None
    return values.astype("datetime64[D]")


def _frame_ymd_key(days: Any) -> tuple[Any, Any, Any]:
    """Year, month and day of a datetime64[D] array (1970-01-01 where NaT: mask separately)."""
    import numpy as np

    days = np.where(np.isnat(days), np.datetime64(0, "D"), days)
    y = days.astype("datetime64[Y]")
    m = days.astype("datetime64[M]")
    year = y.astype(np.int64) + 1970
    month = (m - y.astype("datetime64[M]")).astype(np.int64) + 1
    day = (days - m.astype("datetime64[D]")).astype(np.int64) + 1
    return year, month, day


def _frame_add_years_key(year: Any, month: Any, day: Any, n: int) -> Any:
    """``add_years(d, n)`` as a sortable key ``YYYYMMDD`` (29 February → 28 February in common years)."""
    import numpy as np

    y = year + n
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    d = np.where((month == 2) & (day == 29) & ~leap, 28, day)
    return y * 10000 + month * 100 + d


def _frame_years(start_days: Any, end_day: Any) -> Any:
    """``_years`` vectorised: round(days / 365.25, 2) exactly as Python rounds it.

    days / 365.25 is 400·days / 1461 hundredths, never exactly half-way, so rounding the rational
    with integers gives what ``round`` gives on the float.
    """
    import numpy as np

    d = (end_day - np.where(np.isnat(start_days), end_day, start_days)).astype(np.int64)
    return ((800 * d + 1461) // 2922) / 100


def _frame_round_half_up_2(v: Any) -> Any:
    """``round_half_up(v, 2)`` vectorised: half away from zero on the shortest decimal repr of ``v``.

    The repr of a float is exactly a half-way decimal x.xx5 iff the float is the one nearest that
    decimal, so compare with the floats nearest the two half-way points around ``rint(100·|v|)``.
    """
    import numpy as np

    a = np.abs(v)
    k = np.rint(a * 100)
    lo = (2 * k - 1) / 200
    hi = (2 * k + 1) / 200
    j = np.where(a < lo, k - 1, np.where(a >= hi, k + 1, k))
    return np.copysign(j / 100, v)


def derive_categories_frame(df: Any, as_of: date | None = None, *, rule_set: RuleSet | str | None = None,
                            params: CategoryParams | None = None) -> Any:
    """:func:`derive_category` for every row of a DataFrame at once (numpy, no per-row Python).

    ``df`` has one row per parcel and the columns of :func:`frame_columns` (extra columns are ignored;
    a missing one is a ``KeyError``):

    ``approval_no``
        text (blank or null: none) or bool (whether there is one).
    ``approved_on``, ``supplied_on``, ``agreed_start_on``, ``construction_started_on``, ``completed_on``,
    ``production_started_on``, ``halted_since``
        dates: datetime64, or objects (``date`` / ``Timestamp``; ``None`` / ``NaT`` / NaN missing).
    ``area_m2``
        the official area (> 0); ``developed_area_m2``, ``invested_wan``, ``planned_investment_wan``,
        ``far_actual``: numbers, NaN missing.
    ``rating_k``, ``tax_wan_k``, ``revenue_wan_k``, ``holder_area_mu_k`` for k = 1 … ``large_revenue_years``
        the holder's figures for the year ``as_of.year − k`` (NaN / null when the holder has none);
        ``holder_area_mu_k`` is what 亩均税收 divides by (NaN: the parcel's own area). Only ``rating_1``
        is read of the ratings.

    Returns a DataFrame on ``df``'s index with ``category``, ``criterion`` (None for ``none``), one bool
    column ``match_<criterion>`` per criterion (the scalar ``criteria``), ``years_since_approval``,
    ``years_idle`` (float, NaN for None), ``approval_flagged``, ``idle_fee_due``,
    ``recoverable_without_compensation`` (nullable ``boolean``, NA for None), ``idle_since``
    (datetime64, NaT for None), ``last_year`` and ``tax_per_mu_k`` (float, NaN for none) — the figures
    of :class:`CategoryResult`, equal to :func:`derive_category`'s for every row. Explanations are not
    produced (ask :func:`derive_category` for the parcels shown).
    """
    import numpy as np
    import pandas as pd

    if as_of is None:
        from gis.rules.engine import today

        as_of = today()
    if params is None:
        params = (rule_set if isinstance(rule_set, RuleSet) else get_rule_set(rule_set)).categories
    p = params
    n = len(df)
    missing = [c for c in frame_columns(params=p) if c not in df.columns]
    if missing:
        raise KeyError(f"derive_categories_frame: missing columns {missing}")

    as_of_day = np.datetime64(as_of, "D")
    as_of_key = as_of.year * 10000 + as_of.month * 100 + as_of.day
    last = as_of.year - 1

    days = {c: _frame_days(df[c]) for c in FRAME_DATE_COLUMNS}
    valid = {c: ~np.isnat(d) for c, d in days.items()}
    on = {c: valid[c] & (days[c] <= as_of_day) for c in FRAME_DATE_COLUMNS}

    def num(c: str) -> Any:
        return pd.to_numeric(df[c], errors="raise").to_numpy(dtype=float, na_value=np.nan)

    def text(c: str) -> Any:
        s = df[c]
        if pd.api.types.is_bool_dtype(s.dtype):
            return s.to_numpy(dtype=bool)
        return (s.astype("string").str.strip().fillna("") != "").to_numpy(dtype=bool)

    def add_years_key(c: str, years: int) -> Any:
        return _frame_add_years_key(*_frame_ymd_key(days[c]), years)

    area = num("area_m2")
    area_mu = area / MU_M2

    # per-year 亩均税收 (tax_wan / holder_area_mu, else / the parcel's mu), rounded half-up to 0.01
    tax_per_mu = {}
    for k in range(1, p.large_revenue_years + 1):
        tax = num(f"tax_wan_{k}")
        holder_mu = num(f"holder_area_mu_{k}")
        mu = np.where(np.isnan(holder_mu) | (holder_mu == 0), area_mu, holder_mu)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(~np.isnan(tax) & (mu > 0), _frame_round_half_up_2(tax / mu), np.nan)
        tax_per_mu[k] = t

    # 批而未供
    has_approved_on = valid["approved_on"]
    approved = text("approval_no") | has_approved_on
    is_au = approved & ~on["supplied_on"] & (~has_approved_on | on["approved_on"])

    # 供而未用
    supplied = ~is_au & on["supplied_on"]
    started = on["construction_started_on"] | on["completed_on"] | on["production_started_on"]
    due_col = np.where(valid["agreed_start_on"], days["agreed_start_on"], days["supplied_on"])
    due_key = _frame_add_years_key(*_frame_ymd_key(due_col), p.start_grace_years)
    is_ns = supplied & ~started & (as_of_key >= due_key)
    developed, invested, planned = num("developed_area_m2"), num("invested_wan"), num("planned_investment_wan")
    with np.errstate(invalid="ignore"):
        under_dev = ~np.isnan(developed) & (developed < area * p.developed_share_below)
        under_inv = ~np.isnan(invested) & ~np.isnan(planned) & (planned != 0) & \
            (invested < planned * p.invested_share_below)
    is_hu = supplied & started & ~on["completed_on"] & on["halted_since"] & \
        (as_of_key >= add_years_key("halted_since", p.halted_min_years)) & (under_dev | under_inv)
    is_su = is_ns | is_hu
    idle_since = np.where(is_ns, due_col, np.where(is_hu, days["halted_since"], np.datetime64("NaT", "D")))
    idle_ymd = _frame_ymd_key(idle_since)

    # 低效用地
    producing = ~is_au & ~is_su & on["production_started_on"]
    with np.errstate(invalid="ignore"):
        m_tax = producing & (tax_per_mu[1] <= p.tax_per_mu_max_wan)
        m_large = producing.copy()
        for k in range(1, p.large_revenue_years + 1):
            revenue = num(f"revenue_wan_{k}")
            m_large &= (revenue >= p.large_revenue_min_wan) & (tax_per_mu[k] <= p.large_revenue_tax_per_mu_max_wan)
        rating = df["rating_1"].astype("string").str.strip().str.upper()
        m_rating = producing & rating.isin(list(p.low_efficiency_ratings)).fillna(False).to_numpy(dtype=bool)
        far = num("far_actual")
        m_far = producing & (p.low_far_enabled & ~np.isnan(far) & (far < p.low_far_below))
    is_le = m_tax | m_large | m_rating | m_far

    category = np.select([is_au, is_su, is_le], ["approved_unsupplied", "supplied_unused", "low_efficiency"],
                         "none").astype(object)
    criterion = np.select([is_au, is_ns, is_hu, m_tax, m_large, m_rating, m_far],
                          ["approved_unsupplied", "not_started", "halted_underdeveloped", "tax_per_mu",
                           "large_revenue_low_tax", "rating_d", "low_far"], "").astype(object)
    criterion[criterion == ""] = None

    def nullable(values: Any, mask: Any) -> Any:
        return pd.arrays.BooleanArray(np.asarray(values, dtype=bool) & mask, ~mask)

    au_dated = is_au & has_approved_on
    out = pd.DataFrame({
        "category": category,
        "criterion": criterion,
        **{f"match_{c}": m for c, m in zip(FRAME_CRITERIA, (is_au, is_ns, is_hu, m_tax, m_large, m_rating, m_far),
                                           strict=True)},
        "years_since_approval": np.where(au_dated, _frame_years(days["approved_on"], as_of_day), np.nan),
        "approval_flagged": nullable(as_of_key >= add_years_key("approved_on", p.approval_flag_years), au_dated),
        "idle_since": idle_since.astype("datetime64[ns]"),
        "years_idle": np.where(is_su, _frame_years(idle_since, as_of_day), np.nan),
        "idle_fee_due": nullable(as_of_key >= _frame_add_years_key(*idle_ymd, p.idle_fee_years), is_su),
        "recoverable_without_compensation": nullable(
            as_of_key >= _frame_add_years_key(*idle_ymd, p.recovery_years), is_su),
        "last_year": np.full(n, last, dtype=np.int64),
        **{f"tax_per_mu_{k}": t for k, t in tax_per_mu.items()},
    }, index=df.index)
    return out
