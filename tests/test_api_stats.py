"""GET /api/v1/stats against figures computed independently from the sample files."""

from __future__ import annotations

from collections import Counter, defaultdict

import pandas as pd
import pyogrio
import pytest

from gis.units import MU_M2
from tests.api_helpers import AS_OF, SAMPLE, api_client, auth, make_token


@pytest.fixture(scope="module")
def stats(sample_settings_module):
    with api_client(sample_settings_module) as c:
        key = make_token(sample_settings_module, "viewer")
        resp = c.get("/api/v1/stats", params={"as_of": AS_OF}, headers=auth(key))
        assert resp.status_code == 200, resp.text
        return resp.json()


@pytest.fixture(scope="module")
def sample():
    parcels = pyogrio.read_dataframe(SAMPLE / "tiantai.gpkg", layer="parcels")
    current = parcels[parcels["retired_on"].isna()].set_index("parcel_code")
    expected = pd.read_csv(SAMPLE / "expected_categories.csv", dtype=str).set_index("parcel_code")
    return current.join(expected, how="inner")


def test_count_and_area_by_category_and_town(stats, sample):
    counts = Counter(zip(sample["category"], sample["town"], strict=True))
    areas = defaultdict(float)
    for cat, town, geom in zip(sample["category"], sample["town"], sample.geometry, strict=True):
        areas[(cat, town)] += geom.area / MU_M2
    got = {(cat, town): v for cat, block in stats["categories"].items() for town, v in block["by_town"].items()}
    assert {k: v["count"] for k, v in got.items()} == dict(counts)
    for k, v in got.items():
        assert v["area_mu"] == pytest.approx(areas[k], abs=0.011)
    for cat, n in Counter(sample["category"]).items():
        assert stats["categories"][cat]["count"] == n


def test_ages_idle_and_criteria(stats, sample):
    au = stats["approved_unsupplied"]
    assert sum(b["count"] for b in au["by_age_years"].values()) == 17
    assert au["flagged_2y"]["count"] == 9  # README: 8 approved < 2 years before, 9 older
    su = stats["supplied_unused"]
    assert sum(b["count"] for b in su["by_idle_years"].values()) == int((sample["category"] == "supplied_unused").sum())
    assert su["recoverable_2y"]["count"] <= su["idle_fee_due_1y"]["count"] <= 17
    low = {k: v["count"] for k, v in stats["low_efficiency"]["by_criterion"].items()}
    assert low == dict(Counter(sample[sample["category"] == "low_efficiency"]["criterion"]))


def test_efficiency_and_disposals(stats):
    years = pyogrio.read_dataframe(SAMPLE / "tiantai.gpkg", layer="holder_years", read_geometry=False)
    parcels = pyogrio.read_dataframe(SAMPLE / "tiantai.gpkg", layer="parcels")
    current = parcels[parcels["retired_on"].isna()]
    mu = (current.geometry.area / MU_M2).groupby(current["holder_credit_code"]).sum()
    y = years[(years["year"] == 2024) & years["rating"].notna()]
    land = mu.reindex(y["credit_code"]).to_numpy()
    eff = stats["efficiency"]
    assert eff["year"] == 2024 and eff["all_rated"]["holders"] == len(y)
    assert eff["all_rated"]["tax_per_mu_wan"] == pytest.approx(y["tax_wan"].sum() / land.sum(), abs=0.01)
    assert eff["targets"]["tax_per_mu_wan"] == 25
    disposals = pyogrio.read_dataframe(SAMPLE / "tiantai.gpkg", layer="disposals", read_geometry=False)
    got = sum(m["area_mu"] for yr in stats["disposals"]["by_year"].values() for m in yr.values())
    assert got == pytest.approx(disposals["area_m2"].sum() / MU_M2, abs=0.05)
    assert stats["disposals"]["target"]["area_mu"] == 200


def test_statistics_are_computed_once_per_register_version(sample_settings):
    """A burst of requests computes the figures once; a change to the register (a disposal) computes anew."""
    import threading

    viewer, officer = make_token(sample_settings, "viewer"), make_token(sample_settings, "officer")
    with api_client(sample_settings) as c:
        memo = c.app.state.stats_memo
        answers, barrier = [], threading.Barrier(4)

        def ask():
            barrier.wait()
            answers.append(c.get("/api/v1/stats", params={"as_of": AS_OF}, headers=auth(viewer)))

        threads = [threading.Thread(target=ask) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [a.status_code for a in answers] == [200] * 4
        assert len({a.content for a in answers}) == 1 and memo.computed == 1
        before = answers[0].json()["disposals"]
        assert c.post("/api/v1/disposals", json={"method": "收回", "area_mu": 12.5, "disposed_on": "2025-03-01"},
                      headers=auth(officer)).status_code == 201
        after = c.get("/api/v1/stats", params={"as_of": AS_OF}, headers=auth(viewer)).json()["disposals"]
        assert memo.computed == 2
        total = sum(m["area_mu"] for yr in after["by_year"].values() for m in yr.values())
        assert total == pytest.approx(sum(m["area_mu"] for yr in before["by_year"].values() for m in yr.values())
                                      + 12.5)
