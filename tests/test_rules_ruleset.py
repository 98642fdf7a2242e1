"""Rule sets as data: the Tiantai 2022 file, validation, the frozen registry, the effective window."""

from __future__ import annotations

import tomllib
from datetime import date

import pytest
from pydantic import ValidationError

from gis.errors import GisInputError
from gis.jurisdiction import load_jurisdiction
from gis.rulesets import DATA_DIR, OPERATIONS, RULE_IDS, RuleSet, RuleSetRegistry, default_registry, get_rule_set


def _data() -> dict:
    with (DATA_DIR / "tiantai-2022.toml").open("rb") as fh:
        return tomllib.load(fh)


def test_tiantai_2022_parameters():
    rs = get_rule_set("tiantai-2022")
    assert rs.jurisdiction == "tiantai"
    assert (rs.effective_from, rs.effective_to) == (date(2022, 2, 20), date(2023, 12, 31))
    assert "天政发〔2022〕1号" in rs.title and rs.source_document
    assert rs.split.max_lots == 3 and rs.split.min_lot_mu == 10
    assert rs.split.refused_ratings == ("C", "D")
    assert (rs.edge.max_share, rs.edge.max_mu, rs.edge.min_far_rise) == (0.2, 10, 0.2)
    assert (rs.support.max_share, rs.support.raised_max_share, rs.support.raised_max_floor_share) == (0.07, 0.15, 0.3)
    assert (rs.geometry.tolerance_m, rs.geometry.sliver_area_m2, rs.geometry.min_shared_edge_m) == (0.05, 1.0, 1.0)
    assert rs.categories.developed_share_below == pytest.approx(1 / 3)
    assert rs.categories.tax_per_mu_max_wan == 5 and rs.categories.large_revenue_min_wan == 10000
    assert set(rs.rules) == set(RULE_IDS)
    assert rs.rules["SPLIT-04"].title_zh == "分割后每宗土地面积不少于10亩"  # rendered from the parameter
    assert rs.public()["split"]["max_lots"] == 3


def test_default_per_jurisdiction():
    j = load_jurisdiction("tiantai")
    assert default_registry().default_for(j).id == j.default_rule_set == "tiantai-2022"
    assert get_rule_set().id == "tiantai-2022"


@pytest.mark.parametrize(("day", "in_force"), [(date(2022, 2, 19), False), (date(2022, 2, 20), True),
                                               (date(2023, 12, 31), True), (date(2024, 1, 1), False)])
def test_window(day, in_force):
    assert get_rule_set().in_force_on(day) is in_force
    assert get_rule_set().summary(day)["in_force_on_as_of"] is in_force


def test_frozen():
    rs = get_rule_set()
    with pytest.raises(ValidationError):
        rs.split.max_lots = 5  # type: ignore[misc]


@pytest.mark.parametrize(("section", "key", "value"), [
    ("split", "max_lots", 1), ("split", "min_lot_mu", -1), ("edge", "max_share", 1.5),
    ("geometry", "tolerance_m", 0), ("support", "raised_max_share", 0.05), ("split", "refused_ratings", ["E"]),
    ("categories", "developed_share_below", "2/1"), ("split", "unknown_parameter", 1),
])
def test_bounded_fields(section, key, value):
    data = _data()
    data[section][key] = value
    with pytest.raises(ValidationError):
        RuleSet.model_validate(data)


def test_window_and_titles_validated():
    data = _data()
    data["effective_to"] = date(2021, 1, 1)
    with pytest.raises(ValidationError):
        RuleSet.model_validate(data)
    data = _data()
    del data["rules"]["SPLIT-04"]
    with pytest.raises(ValidationError):
        RuleSet.model_validate(data)
    data = _data()
    data["rules"]["SPLIT-04"]["title_zh"] = "{split.nonexistent}"
    with pytest.raises(ValidationError):
        RuleSet.model_validate(data)


def test_registry_register_returns_a_new_registry():
    data = _data()
    data.update(id="tiantai-2024", effective_from=date(2024, 1, 1), effective_to=None)
    data["split"]["min_lot_mu"] = 15
    new = RuleSet.model_validate(data)
    base = default_registry()
    reg = base.register(new)
    assert "tiantai-2024" in reg and "tiantai-2024" not in base
    assert reg.get("tiantai-2024").rules["SPLIT-04"].title_zh == "分割后每宗土地面积不少于15亩"
    assert reg.get("tiantai-2024").in_force_on(date(2030, 1, 1))
    assert [rs.id for rs in reg.for_jurisdiction("tiantai")] == ["tiantai-2022", "tiantai-2024"]
    with pytest.raises(ValueError):
        reg.register(new)
    assert len(RuleSetRegistry()) == 0


def test_unknown_rule_set():
    with pytest.raises(GisInputError) as ei:
        get_rule_set("nope")
    assert ei.value.status == 404 and "tiantai-2022" in ei.value.detail_en


def test_operations_cover_rules_md():
    assert OPERATIONS["split"] == ("RATING-01", *(f"SPLIT-{i:02d}" for i in range(1, 12)), "SUPPORT-01")
    assert OPERATIONS["merge"] == (*(f"MERGE-{i:02d}" for i in range(1, 8)), "RATING-01", "SUPPORT-01")
    assert OPERATIONS["edge-plots"] == (*(f"EDGE-{i:02d}" for i in range(1, 7)), "FAR-01", "SUPPORT-01")
