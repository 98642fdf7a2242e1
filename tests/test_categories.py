"""The three categories (RULES.md §3): criteria at their thresholds, ages and durations, the sample dataset."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from gis.categories import ParcelFacts, YearFigures, add_years, derive_category
from gis.units import mu_to_m2

AS_OF = date(2025, 6, 30)
TEN_MU = mu_to_m2(10)


def facts(**kw) -> ParcelFacts:
    base = {"area_m2": TEN_MU}
    base.update(kw)
    return ParcelFacts(**base)


def producing(*, years=(), **kw) -> ParcelFacts:
    return facts(supplied_on=date(2015, 1, 1), construction_started_on=date(2015, 6, 1),
                 completed_on=date(2016, 6, 1), production_started_on=date(2016, 9, 1), far_actual=1.4,
                 years=tuple(YearFigures(**y) for y in years), **kw)


def test_add_years_leap_day():
    assert add_years(date(2020, 2, 29), 1) == date(2021, 2, 28)
    assert add_years(date(2020, 2, 29), 4) == date(2024, 2, 29)


@pytest.mark.parametrize(("approved_on", "years", "flagged"), [
    (date(2023, 6, 30), 2.0, True),     # exactly two years
    (date(2023, 7, 1), 2.0, False),     # a day short
    (date(2024, 12, 1), 0.58, False),
])
def test_approved_unsupplied(approved_on, years, flagged):
    r = derive_category(facts(approval_no="浙土字A〔2023〕-0100", approved_on=approved_on), AS_OF)
    assert (r.category, r.criterion) == ("approved_unsupplied", "approved_unsupplied")
    assert r.years_since_approval == pytest.approx(years, abs=0.01)
    assert r.approval_flagged is flagged


def test_approved_later_supplied_is_not_unsupplied():
    r = derive_category(facts(approved_on=date(2020, 1, 1), supplied_on=date(2025, 7, 1)), AS_OF)
    assert r.category == "approved_unsupplied"  # supplied after the as-of date
    r = derive_category(facts(approved_on=date(2020, 1, 1), supplied_on=date(2025, 6, 30)), AS_OF)
    assert r.category != "approved_unsupplied"


@pytest.mark.parametrize(("agreed", "supplied", "category", "idle", "fee", "recover"), [
    (date(2024, 6, 30), date(2024, 1, 1), "supplied_unused", 1.0, True, False),   # exactly a year past the start
    (date(2024, 7, 1), date(2024, 1, 1), "none", None, None, None),              # a day short
    (date(2023, 6, 30), date(2023, 1, 1), "supplied_unused", 2.0, True, True),
    (None, date(2024, 6, 30), "supplied_unused", 1.0, True, False),               # no agreed date: supply + 1 y
    (None, date(2024, 7, 1), "none", None, None, None),
])
def test_not_started(agreed, supplied, category, idle, fee, recover):
    r = derive_category(facts(supplied_on=supplied, agreed_start_on=agreed), AS_OF)
    assert r.category == category
    if category == "supplied_unused":
        assert r.criterion == "not_started"
        assert r.years_idle == pytest.approx(idle, abs=0.01)
        assert (r.idle_fee_due, r.recoverable_without_compensation) == (fee, recover)


@pytest.mark.parametrize(("developed", "invested", "halted", "expected"), [
    (0.30, 0.5, date(2024, 6, 30), "halted_underdeveloped"),  # < 1/3 developed, halted a year
    (0.34, 0.5, date(2024, 6, 30), None),                     # a third developed, 50 % invested
    (0.34, 0.24, date(2024, 6, 30), "halted_underdeveloped"),  # under 25 % invested
    (0.30, 0.5, date(2024, 7, 1), None),                      # halted a day under a year
])
def test_halted_underdeveloped(developed, invested, halted, expected):
    f = facts(supplied_on=date(2020, 1, 1), agreed_start_on=date(2020, 6, 1), construction_started_on=date(2020, 6, 1),
              halted_since=halted, developed_area_m2=developed * TEN_MU, invested_wan=invested * 1000,
              planned_investment_wan=1000)
    r = derive_category(f, AS_OF)
    assert r.criterion == expected
    if expected:
        assert r.category == "supplied_unused" and r.idle_since == halted and r.idle_fee_due


@pytest.mark.parametrize(("tax", "holder_mu", "expected"), [
    (50.0, None, "tax_per_mu"),        # 5.00 万元/亩 on the parcel's own 10 mu: inclusive
    (50.06, None, None),               # 5.006 → 5.01
    (50.04, None, "tax_per_mu"),       # 5.004 → 5.00, as reported
    (90.0, 20.0, "tax_per_mu"),        # the holder has 20 mu in all: 4.5
])
def test_tax_per_mu(tax, holder_mu, expected):
    r = derive_category(producing(years=[{"year": 2024, "tax_wan": tax, "holder_area_mu": holder_mu,
                                          "rating": "B"}]), AS_OF)
    assert r.criterion == expected
    assert r.last_year == 2024


def test_large_revenue_low_tax_needs_both_years():
    two = [{"year": 2023, "tax_wan": 90, "revenue_wan": 12000}, {"year": 2024, "tax_wan": 100, "revenue_wan": 10000}]
    r = derive_category(producing(years=two), AS_OF)
    assert (r.category, r.criterion) == ("low_efficiency", "large_revenue_low_tax")
    assert r.tax_per_mu == {2023: 9.0, 2024: 10.0}
    one = [{"year": 2023, "tax_wan": 120, "revenue_wan": 12000}, {"year": 2024, "tax_wan": 100, "revenue_wan": 12000}]
    assert derive_category(producing(years=one), AS_OF).category == "none"
    small = [{"year": 2023, "tax_wan": 90, "revenue_wan": 9999}, {"year": 2024, "tax_wan": 100, "revenue_wan": 12000}]
    assert derive_category(producing(years=small), AS_OF).category == "none"


def test_rating_d_and_low_far():
    r = derive_category(producing(years=[{"year": 2024, "tax_wan": 200, "rating": "D"}]), AS_OF)
    assert r.criterion == "rating_d"
    r = derive_category(producing(years=[{"year": 2023, "tax_wan": 200, "rating": "D"}]), AS_OF)
    assert r.category == "none"  # D two years ago: not "last year"
    f = producing(years=[{"year": 2024, "tax_wan": 200}]).model_copy(update={"far_actual": 0.99})
    assert derive_category(f, AS_OF).criterion == "low_far"
    f = f.model_copy(update={"far_actual": 1.0})
    assert derive_category(f, AS_OF).category == "none"


def test_low_far_can_be_switched_off():
    from gis.rulesets import get_rule_set

    rs = get_rule_set()
    off = rs.categories.model_copy(update={"low_far_enabled": False})
    f = producing().model_copy(update={"far_actual": 0.5})
    assert derive_category(f, AS_OF, params=off).category == "none"


def test_several_criteria_first_is_reported():
    f = producing(years=[{"year": 2024, "tax_wan": 10, "rating": "D"}]).model_copy(update={"far_actual": 0.5})
    r = derive_category(f, AS_OF)
    assert r.criterion == "tax_per_mu" and r.criteria == ("tax_per_mu", "rating_d", "low_far")
    assert r.as_dict()["tax_per_mu"] == {"2024": 1.0}


def test_not_in_production_is_not_low_efficiency():
    f = producing(years=[{"year": 2024, "tax_wan": 1}]).model_copy(update={"production_started_on": date(2025, 7, 1)})
    assert derive_category(f, AS_OF).category == "none"


SAMPLE = Path(__file__).resolve().parents[1] / "sample_parcels"


@pytest.mark.skipif(not (SAMPLE / "expected_categories.csv").exists(), reason="sample dataset not generated")
def test_sample_dataset_categories():
    """Every current parcel of sample_parcels/tiantai.gpkg gets its intended category (as of 2025-06-30)."""
    import geopandas as gpd
    import pandas as pd

    from gis.categories import derive_categories
    from gis.units import MU_M2

    as_of = date(2025, 6, 30)
    parcels = gpd.read_file(SAMPLE / "tiantai.gpkg", layer="parcels")
    years = gpd.read_file(SAMPLE / "tiantai.gpkg", layer="holder_years")
    expected = pd.read_csv(SAMPLE / "expected_categories.csv", dtype=str)
    retired = pd.to_datetime(parcels["retired_on"])
    current = parcels[retired.isna() | (retired > pd.Timestamp(as_of))]
    mu = current.geometry.area / MU_M2
    holder_mu = mu.groupby(current["holder_credit_code"]).sum()  # what 亩均税收 divides by
    by_holder = {code: g.to_dict("records") for code, g in years.groupby("credit_code")}
    all_facts = []
    for row, geom in zip(current.drop(columns="geometry").to_dict("records"), current.geometry, strict=True):
        ys = [{**y, "holder_area_mu": holder_mu.get(row["holder_credit_code"])}
              for y in by_holder.get(row["holder_credit_code"], [])]
        all_facts.append(ParcelFacts.from_record(row, geometry=geom, years=ys))
    got = {f.parcel_code: r for f, r in zip(all_facts, derive_categories(all_facts, as_of), strict=True)}
    assert set(expected["parcel_code"]) <= set(got)
    wrong = []
    for e in expected.itertuples():
        r = got[e.parcel_code]
        if r.category != e.category or (e.category != "none" and r.criterion != e.criterion):
            wrong.append((e.parcel_code, e.category, e.criterion, r.category, r.criterion))
    assert not wrong, wrong
    assert len(expected) >= 300


def test_completed_without_a_start_date_has_started():
    f = producing(years=[{"year": 2024, "tax_wan": 200}]).model_copy(update={"construction_started_on": None})
    assert derive_category(f, AS_OF).category == "none"
