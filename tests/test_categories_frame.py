"""derive_categories_frame (vectorised) gives exactly what derive_category gives, row by row."""

from __future__ import annotations

import math
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gis.categories import (
    CRITERIA,
    ParcelFacts,
    YearFigures,
    add_years,
    derive_categories_frame,
    derive_category,
    facts_frame,
    frame_columns,
)
from gis.rulesets import get_rule_set
from gis.units import MU_M2, mu_to_m2

SAMPLE = Path(__file__).resolve().parents[1] / "sample_parcels"
PARAMS = get_rule_set().categories


def _none(v):
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, pd.Timestamp):
        return v.date()
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def assert_same(facts: list[ParcelFacts], as_of: date, params=PARAMS, frame: pd.DataFrame | None = None) -> None:
    if frame is None:
        frame = facts_frame(facts, as_of, params=params)
    got = derive_categories_frame(frame, as_of, params=params)
    assert list(got.index) == list(frame.index)
    wrong = []
    for f, (_, row) in zip(facts, got.iterrows(), strict=True):
        r = derive_category(f, as_of, params=params)
        want = {"category": r.category, "criterion": r.criterion, "criteria": r.criteria,
                "years_since_approval": r.years_since_approval, "approval_flagged": r.approval_flagged,
                "idle_since": r.idle_since, "years_idle": r.years_idle, "idle_fee_due": r.idle_fee_due,
                "recoverable_without_compensation": r.recoverable_without_compensation, "last_year": r.last_year,
                **{f"tax_per_mu_{k}": r.tax_per_mu.get(as_of.year - k)
                   for k in range(1, params.large_revenue_years + 1)}}
        have = {k: _none(row[k]) for k in want if k != "criteria"}
        have["criteria"] = tuple(c for c in CRITERIA if row[f"match_{c}"])
        if have != want:
            wrong.append((f, want, have))
    assert not wrong, wrong[:3]


# --- the sample register ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_facts():
    import geopandas as gpd

    parcels = gpd.read_file(SAMPLE / "tiantai.gpkg", layer="parcels")
    years = gpd.read_file(SAMPLE / "tiantai.gpkg", layer="holder_years")
    by_holder = {code: g.to_dict("records") for code, g in years.groupby("credit_code")}

    def on(as_of: date) -> list[ParcelFacts]:
        retired = pd.to_datetime(parcels["retired_on"])
        current = parcels[retired.isna() | (retired > pd.Timestamp(as_of))]
        holder_mu = (current.geometry.area / MU_M2).groupby(current["holder_credit_code"]).sum()
        out = []
        for row, geom in zip(current.drop(columns="geometry").to_dict("records"), current.geometry, strict=True):
            ys = [{**y, "holder_area_mu": holder_mu.get(row["holder_credit_code"])}
                  for y in by_holder.get(row["holder_credit_code"], [])]
            out.append(ParcelFacts.from_record(row, geometry=geom, years=ys))
        return out

    return on


@pytest.mark.parametrize("as_of", [date(2025, 6, 30), date(2024, 2, 29), date(2023, 1, 1), date(2025, 12, 31),
                                   date(2021, 6, 30), date(2027, 3, 1)])
def test_sample_register(sample_facts, as_of):
    facts = sample_facts(as_of)
    assert len(facts) >= 300
    assert_same(facts, as_of)


def test_sample_register_other_input_types(sample_facts):
    """datetime64 date columns, ratings in lower case with spaces, blank approval numbers, a custom index."""
    as_of = date(2025, 6, 30)
    facts = sample_facts(as_of)
    frame = facts_frame(facts, as_of)
    for c in ("approved_on", "supplied_on", "agreed_start_on", "construction_started_on", "completed_on",
              "production_started_on", "halted_since"):
        frame[c] = pd.to_datetime(frame[c])
    frame["rating_1"] = frame["rating_1"].map(lambda r: f" {r.lower()} " if isinstance(r, str) else r)
    frame["approval_no"] = frame["approval_no"].fillna("  ")
    frame.index = pd.RangeIndex(1000, 1000 + len(frame), name="pid")[::-1]
    assert_same(facts, as_of, frame=frame)
    got = derive_categories_frame(frame, as_of)
    assert (got["category"] != "none").sum() > 50


def test_the_sample_categories_as_expected(sample_facts):
    expected = pd.read_csv(SAMPLE / "expected_categories.csv", dtype=str).set_index("parcel_code")
    facts = sample_facts(date(2025, 6, 30))
    frame = facts_frame(facts, date(2025, 6, 30)).set_index("parcel_code")
    got = derive_categories_frame(frame, date(2025, 6, 30)).loc[expected.index]
    assert (got["category"] == expected["category"]).all()
    low = expected["category"] != "none"
    assert (got.loc[low, "criterion"] == expected.loc[low, "criterion"]).all()


def test_other_rule_set_parameters(sample_facts):
    as_of = date(2025, 6, 30)
    facts = sample_facts(as_of)
    for update in ({"low_far_enabled": False}, {"large_revenue_years": 3, "start_grace_years": 0},
                   {"large_revenue_years": 1, "tax_per_mu_max_wan": 20, "low_efficiency_ratings": ("C", "D")}):
        assert_same(facts, as_of, params=PARAMS.model_copy(update=update))


def test_missing_column_and_empty_frame():
    frame = facts_frame([], date(2025, 6, 30))
    assert list(frame.columns) == ["parcel_code", *frame_columns()]
    assert derive_categories_frame(frame, date(2025, 6, 30)).empty
    with pytest.raises(KeyError, match="tax_wan_2"):
        derive_categories_frame(frame.drop(columns="tax_wan_2"), date(2025, 6, 30))


# --- generated facts, with the boundary values -----------------------------------------------------------------

AS_OFS = [date(2025, 6, 30), date(2024, 2, 29), date(2025, 2, 28), date(2025, 3, 1), date(2024, 12, 31),
          date(2021, 3, 1)]
TEN_MU = mu_to_m2(10)


@st.composite
def a_date(draw, as_of: date):
    special = [as_of, as_of + timedelta(days=1), as_of - timedelta(days=1),
               *(add_years(as_of, -n) + timedelta(days=d) for n in (1, 2, 3) for d in (-1, 0, 1)),
               date(2020, 2, 29), date(2024, 2, 29), date(2023, 2, 28), date(2023, 3, 1), date(2022, 2, 28),
               date(2021, 3, 1), date(2016, 2, 29)]
    return draw(st.one_of(st.none(), st.sampled_from(special),
                          st.dates(min_value=date(2005, 1, 1), max_value=date(2027, 12, 31))))


money = st.one_of(st.none(), st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False))


@st.composite
def year_figures(draw, year: int, area_mu: float):
    holder_mu = draw(st.sampled_from([None, None, 1.0, 10.0, 20.0, 3.0, area_mu]))
    mu = holder_mu or area_mu
    # 亩均税收 at and around both thresholds, half-way cents (5.005 → 5.01), and anything
    per_mu = draw(st.sampled_from([0.0, 5.0, 5.004, 5.005, 5.006, 4.995, 10.0, 10.005, 9.995, 10.004, 2.675, 0.125]))
    tax = draw(st.one_of(st.none(), st.just(per_mu * mu), st.just(round(per_mu * mu, 2)),
                         st.sampled_from([50.0, 50.04, 50.05, 50.06, 100.0, 100.05, 5.005, 10.005]), money))
    revenue = draw(st.one_of(st.sampled_from([None, 9999.99, 10000.0, 10000.01, 20000.0]), money))
    rating = draw(st.sampled_from([None, "A", "B", "C", "D", "d", " D "]))
    return YearFigures(year=year, tax_wan=tax, revenue_wan=revenue, rating=rating, holder_area_mu=holder_mu)


@st.composite
def parcel_facts(draw, as_of: date):
    area = draw(st.one_of(st.sampled_from([TEN_MU, 666.67, 2000 / 3, 20000.0, 1.0]),
                          st.floats(min_value=1.0, max_value=1e6, allow_nan=False)))
    d = {k: draw(a_date(as_of)) for k in ("approved_on", "supplied_on", "agreed_start_on", "construction_started_on",
                                          "completed_on", "production_started_on", "halted_since")}
    if d["supplied_on"] is None and draw(st.booleans()):  # most parcels are supplied in the real register
        d["supplied_on"] = draw(a_date(as_of))
    developed = draw(st.sampled_from([None, 0.0, 0.33, 1 / 3, 0.3333333, 0.34, 1.0]))
    planned = draw(st.sampled_from([None, 0.0, 1000.0, 3000.0]))
    invested = draw(st.one_of(st.sampled_from([None, 0.0, 249.99, 250.0, 250.01, 750.0]), money))
    far = draw(st.one_of(st.sampled_from([None, 0.0, 0.99, 1.0, 1.01, 0.999999]),
                         st.floats(min_value=0, max_value=5, allow_nan=False)))
    years = []
    for y in (as_of.year - 3, as_of.year - 2, as_of.year - 1, as_of.year):
        if draw(st.integers(0, 3)):
            years.append(draw(year_figures(y, area / MU_M2)))
    return ParcelFacts(area_m2=area, approval_no=draw(st.sampled_from([None, "浙土字A〔2023〕-0100"])),
                       developed_area_m2=None if developed is None else developed * area,
                       invested_wan=invested, planned_investment_wan=planned, far_actual=far,
                       years=tuple(years), **d)


@st.composite
def registers(draw):
    as_of = draw(st.sampled_from(AS_OFS))
    return as_of, draw(st.lists(parcel_facts(as_of), min_size=1, max_size=25))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(registers())
def test_generated_facts_match_the_scalar_derivation(register):
    as_of, facts = register
    assert_same(facts, as_of)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(registers(), st.sampled_from([{"low_far_enabled": False}, {"large_revenue_years": 3},
                                     {"start_grace_years": 0, "halted_min_years": 2, "recovery_years": 3},
                                     {"approval_flag_years": 1, "invested_share_below": 0.5}]))
def test_generated_facts_other_parameters(register, update):
    as_of, facts = register
    assert_same(facts, as_of, params=PARAMS.model_copy(update=update))


@pytest.mark.parametrize(("value", "expected"), [
    (5.005, 5.01), (2.675, 2.68), (0.125, 0.13), (5.004999999, 5.0), (10.0, 10.0), (0.0, 0.0), (1e-9, 0.0),
    (-2.675, -2.68), (123456.785, 123456.79),
])
def test_half_up_rounding(value, expected):
    from gis.categories import _frame_round_half_up_2
    from gis.units import round_half_up

    assert round_half_up(value, 2) == expected
    assert _frame_round_half_up_2(np.array([value]))[0] == expected


def test_half_up_rounding_many_values():
    from gis.categories import _frame_round_half_up_2
    from gis.units import round_half_up

    rng = np.random.default_rng(7)
    values = np.concatenate([rng.uniform(0, 100, 20000), np.arange(0, 20000) / 1000 + 0.0005,
                             np.arange(0, 20000) / 200, rng.uniform(0, 100, 2000) / rng.uniform(0.1, 50, 2000)])
    got = _frame_round_half_up_2(values)
    assert [round_half_up(v, 2) for v in values] == got.tolist()
