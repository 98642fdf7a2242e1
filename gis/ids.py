"""Identifier rules: unified social credit codes (GB 32100-2015) and parcel codes (GB/T 37346-2019)."""

from __future__ import annotations

import re

__all__ = [
    "CREDIT_CHARSET",
    "CREDIT_CODE_FORMAT",
    "PARCEL_CODE_GBT37346",
    "credit_check_char",
    "is_valid_credit_code",
]

# GB 32100-2015: the 31 characters of a unified social credit code (no I, O, S, V, Z).
CREDIT_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_VALUE = {c: i for i, c in enumerate(CREDIT_CHARSET)}
_CREDIT_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # 1, 3, 9, 27, 19, 26, 16, 17, ...
# registration authority + type (2), administrative division (6 digits), organisation code (9), check (1)
CREDIT_CODE_FORMAT = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")
# county (6) + 地籍区 (3) + 地籍子区 (3) + 宗地特征码 (G/J/Z + a letter) + sequence (5)
PARCEL_CODE_GBT37346 = re.compile(r"^\d{12}[GJZ][A-Z]\d{5}$")


def credit_check_char(first17: str) -> str:
    """The 18th (check) character of a unified social credit code, per GB 32100-2015."""
    if len(first17) != 17:
        raise ValueError("need the first 17 characters")
    total = sum(_CREDIT_VALUE[c] * w for c, w in zip(first17, _CREDIT_WEIGHTS, strict=True))
    return CREDIT_CHARSET[(31 - total % 31) % 31]


def is_valid_credit_code(code: object) -> bool:
    """Is ``code`` a well-formed credit code with a correct check character?"""
    return isinstance(code, str) and bool(CREDIT_CODE_FORMAT.match(code)) and credit_check_char(code[:17]) == code[17]
