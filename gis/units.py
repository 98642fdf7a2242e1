"""Area units and the limit-comparison rule of RULES.md §1.

One mu (亩) is exactly 2000/3 m². Limits are compared on areas rounded to 0.01 m², so a lot is
"at least 10 mu" iff ``round(area_m2, 2) >= 6666.67``.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

__all__ = [
    "MU_M2",
    "area_at_least",
    "area_at_most",
    "m2_to_mu",
    "mu_to_m2",
    "ratio_at_least",
    "ratio_at_most",
    "round_half_up",
    "round_m2",
    "round_mu",
    "share_limit_m2",
]

MU_M2 = 2000 / 3
_MU_EXACT = Fraction(2000, 3)
_CENT = Decimal("0.01")


def round_m2(area_m2: float) -> float:
    """Round an area to 0.01 m², half away from zero (as surveyors round, not banker's rounding).

    >>> round_m2(6666.665)
    6666.67
    """
    return float(Decimal(repr(float(area_m2))).quantize(_CENT, rounding=ROUND_HALF_UP))


def mu_to_m2(mu: float) -> float:
    """Exact m² of a mu figure, rounded to 0.01 m² (10 mu → 6666.67)."""
    return round_m2(float(Fraction(str(mu)) * _MU_EXACT))


def m2_to_mu(area_m2: float, ndigits: int | None = None) -> float:
    """Convert m² to mu; ``ndigits`` rounds the result (reports use 2)."""
    mu = float(area_m2) / MU_M2
    return round(mu, ndigits) if ndigits is not None else mu


def round_mu(area_m2: float) -> float:
    """Mu of an area for display: two decimals."""
    return m2_to_mu(area_m2, 2)


def area_at_least(area_m2: float, limit_m2: float) -> bool:
    """``area ≥ limit`` on areas rounded to 0.01 m² (RULES.md §1)."""
    return round_m2(area_m2) >= round_m2(limit_m2)


def area_at_most(area_m2: float, limit_m2: float) -> bool:
    """``area ≤ limit`` on areas rounded to 0.01 m² (RULES.md §1)."""
    return round_m2(area_m2) <= round_m2(limit_m2)


def round_half_up(value: float, ndigits: int = 2) -> float:
    """Round half away from zero to ``ndigits`` decimals (0.125 → 0.13), on the decimal repr.

    >>> round_half_up(2.675, 2)
    2.68
    """
    return float(Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-ndigits), rounding=ROUND_HALF_UP))


def share_limit_m2(whole_m2: float, share: float) -> float:
    """The area limit ``share × whole`` as limits are compared: on the rounded whole, rounded to 0.01 m².

    >>> share_limit_m2(20000.0, 0.2)
    4000.0
    """
    return round_m2(float(Fraction(repr(round_m2(whole_m2))) * Fraction(repr(float(share)))))


def ratio_at_least(value: float, limit: float, ndigits: int = 6) -> bool:
    """``value ≥ limit`` for ratios, both rounded half-up to ``ndigits`` decimals.

    Ratios such as a FAR rise of (1.2 − 1.0) / 1.0 land a hair below 0.2 in binary floating point;
    rounding both sides first makes "≥ 20 %" mean what the policy text means.

    >>> (1.2 - 1.0) / 1.0 >= 0.2, ratio_at_least((1.2 - 1.0) / 1.0, 0.2)
    (False, True)
    """
    return round_half_up(value, ndigits) >= round_half_up(limit, ndigits)


def ratio_at_most(value: float, limit: float, ndigits: int = 6) -> bool:
    """``value ≤ limit`` for ratios, both rounded half-up to ``ndigits`` decimals."""
    return round_half_up(value, ndigits) <= round_half_up(limit, ndigits)
