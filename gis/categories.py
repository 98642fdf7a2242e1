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
from gis.units import m2_to_mu, round_half_up

__all__ = [
    "CATEGORIES",
    "CRITERIA",
    "Category",
    "CategoryResult",
    "ParcelFacts",
    "YearFigures",
    "add_years",
    "derive_categories",
    "derive_category",
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
