"""Identifiers of the synthetic sample: credit codes (GB 32100-2015), parcel codes (GB/T 37346), names.

Everything here is deterministic given the caller's random generator.
"""

from __future__ import annotations

import numpy as np

from gis.ids import CREDIT_CHARSET, credit_check_char, is_valid_credit_code

__all__ = [
    "CREDIT_CHARSET",
    "credit_check_char",
    "holder_names",
    "is_valid_credit_code",
    "make_credit_code",
    "org_check_char",
    "parcel_code",
]

# GB 11714-1997: the 9-character organisation code embedded at positions 9–17.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)

COUNTY_CODE = "331023"


def org_check_char(first8: str) -> str:
    """The 9th (check) character of an organisation code, per GB 11714-1997."""
    total = sum(int(c, 36) * w for c, w in zip(first8, _ORG_WEIGHTS, strict=True))
    c9 = 11 - total % 11
    return "X" if c9 == 10 else "0" if c9 == 11 else str(c9)


def make_credit_code(org_body: str, *, admin_code: str = COUNTY_CODE) -> str:
    """An enterprise (``91``) credit code registered in ``admin_code`` around an 8-character org body."""
    org = org_body + org_check_char(org_body)
    first17 = "91" + admin_code + org
    return first17 + credit_check_char(first17)


def parcel_code(district: str, subdistrict: int, seq: int, *, county: str = COUNTY_CODE) -> str:
    """GB/T 37346 宗地代码 of a state-owned construction-land parcel (特征码 ``GB``)."""
    if not (0 < subdistrict < 1000 and 0 < seq < 100_000):
        raise ValueError(f"sub-district {subdistrict} / sequence {seq} out of range")
    return f"{county}{district}{subdistrict:03d}GB{seq:05d}"


# --- synthetic enterprise names ---------------------------------------------------------------

PREFIXES = ("浙江天台", "天台县", "台州", "浙江", "天台")
_TRADE_1 = "华瑞宏恒鑫丰嘉盛琼赤寒明永泰金远创诚正兴东海新博佳立德昊奥"
_TRADE_2 = "达源力通宇峰昌隆和信诺泽科祥邦翔岳川晟锐驰凯晖旭航森展"
# The county's industries, with the weight of each in the sample.
INDUSTRIES: tuple[tuple[str, float], ...] = (
    ("汽车零部件", 0.22),
    ("汽配", 0.06),
    ("机械", 0.14),
    ("橡胶", 0.08),
    ("传动带", 0.06),
    ("滤布", 0.06),
    ("环保科技", 0.08),
    ("过滤材料", 0.04),
    ("制药", 0.06),
    ("药业", 0.05),
    ("旅游用品", 0.06),
    ("工艺品", 0.04),
    ("电机", 0.03),
    ("塑业", 0.02),
)


def holder_names(rng: np.random.Generator, n: int) -> list[tuple[str, str]]:
    """``n`` distinct (full name, short name) pairs such as ("浙江天台华达机械有限公司", "华达机械")."""
    n_trade = len(_TRADE_1) * len(_TRADE_2)
    weights = np.array([w for _, w in INDUSTRIES])
    weights /= weights.sum()
    if n > n_trade * len(INDUSTRIES) // 2:
        raise ValueError(f"at most {n_trade * len(INDUSTRIES) // 2} distinct names")
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    while len(out) < n:
        t = int(rng.integers(n_trade))
        trade = _TRADE_1[t // len(_TRADE_2)] + _TRADE_2[t % len(_TRADE_2)]
        industry = INDUSTRIES[int(rng.choice(len(INDUSTRIES), p=weights))][0]
        if trade + industry in seen:  # the short name (字号 + 行业) is unique
            continue
        seen.add(trade + industry)
        prefix = PREFIXES[int(rng.integers(len(PREFIXES)))]
        suffix = "股份有限公司" if rng.random() < 0.12 else "有限公司"
        out.append((f"{prefix}{trade}{industry}{suffix}", f"{trade}{industry}"))
    return out
