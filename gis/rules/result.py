"""A rule's result (frictionless-style: a failed rule is data, never an exception) and the verdict."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from gis.rulesets import RuleTitle

__all__ = ["STATUSES", "RuleResult", "Status", "verdict"]

Status = Literal["pass", "fail", "needs_review", "not_applicable"]
STATUSES: tuple[Status, ...] = ("pass", "fail", "needs_review", "not_applicable")


@dataclass(frozen=True, slots=True)
class RuleResult:
    """One rule's outcome: the exact rule ID, status, what was measured, the limit, and why (zh / en).

    ``measured`` and ``limit`` are JSON-ready values (numbers, strings, lists, dicts); ``features``
    names the lots / parcels / plots / buildings the result is about (for a fail: the culprits).
    """

    rule: str
    status: Status
    message_zh: str
    message_en: str
    measured: Any = None
    limit: Any = None
    features: tuple[str, ...] = ()

    def as_dict(self, title: RuleTitle) -> dict[str, Any]:
        """The report entry (CHECKS-API.md), with the rule set's titles and the policy clause."""
        return {
            "rule": self.rule,
            "status": self.status,
            "title_zh": title.title_zh,
            "title_en": title.title_en,
            "clause": title.clause,
            "message_zh": self.message_zh,
            "message_en": self.message_en,
            "measured": self.measured,
            "limit": self.limit,
            "features": list(self.features),
        }


def verdict(statuses: Iterable[str]) -> Literal["pass", "fail", "needs_review"]:
    """``fail`` if any rule fails, else ``needs_review`` if any needs review, else ``pass``.

    >>> verdict(["pass", "needs_review", "not_applicable"]), verdict(["needs_review", "fail"])
    ('needs_review', 'fail')
    """
    seen = set(statuses)
    if "fail" in seen:
        return "fail"
    if "needs_review" in seen:
        return "needs_review"
    return "pass"
