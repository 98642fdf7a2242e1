"""Units: mu ↔ m² and the 0.01 m² comparison rule (RULES.md §1)."""

from __future__ import annotations

import pytest

from gis.units import (
    MU_M2,
    area_at_least,
    area_at_most,
    m2_to_mu,
    mu_to_m2,
    ratio_at_least,
    ratio_at_most,
    round_half_up,
    round_m2,
    round_mu,
    share_limit_m2,
)


def test_mu_is_exactly_two_thousand_thirds():
    assert MU_M2 == 2000 / 3
    assert mu_to_m2(10) == 6666.67
    assert mu_to_m2(9.99) == 6660.0
    assert mu_to_m2(10.01) == 6673.33
    assert m2_to_mu(6666.67, 2) == 10.0
    assert round_mu(6660.0) == 9.99


@pytest.mark.parametrize(("area", "ok"), [
    (6666.67, True), (6666.665, True), (6666.664999, False), (6666.66, False), (6660.0, False), (6667.0, True),
])
def test_ten_mu_compared_on_areas_rounded_to_a_hundredth(area, ok):
    assert area_at_least(area, mu_to_m2(10)) is ok


def test_round_half_up_not_bankers():
    assert round_m2(6666.665) == 6666.67
    assert round_m2(0.125) == 0.13
    assert round_half_up(2.675, 2) == 2.68
    assert round_half_up(0.5, 0) == 1.0


@pytest.mark.parametrize(("area", "ok"), [(4000.0, True), (4000.004, True), (4000.005, False), (4002.0, False)])
def test_share_limit_at_most(area, ok):
    limit = share_limit_m2(20000.0, 0.2)
    assert limit == 4000.0
    assert area_at_most(area, limit) is ok


def test_share_limit_rounds_the_whole_first():
    assert share_limit_m2(33333.335, 0.2) == 6666.67


def test_ratios_compare_as_written():
    assert (1.2 - 1.0) / 1.0 < 0.2  # the binary-float trap
    assert ratio_at_least((1.2 - 1.0) / 1.0, 0.2)
    assert not ratio_at_least((1.19 - 1.0) / 1.0, 0.2)
    assert ratio_at_most(0.07, 0.07) and ratio_at_most(0.0700001, 0.07)  # six decimals
    assert not ratio_at_most(0.070001, 0.07)
