"""One root for input the domain cannot work with.

A failed rule is a result, never an exception; :class:`GisInputError` is for input that cannot be
checked or imported at all. The web layer turns it into RFC 9457 problem+json, the CLI prints it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["PROBLEM_TYPE_BASE", "GisInputError"]

# The same problem-type base the web layer uses (app/errors.py), so CLI and API problems match.
PROBLEM_TYPE_BASE = "https://landgis.tiantai.example/problems/"
_TITLES = {
    400: "请求有误 / Bad Request",
    404: "未找到 / Not Found",
    422: "无法处理的内容 / Unprocessable Content",
}


@dataclass
class GisInputError(Exception):
    """Input that cannot be used, with a stable code and a message in Chinese and English.

    ``status`` is the HTTP status the web layer answers with (400 malformed, 404 unknown,
    422 well-formed but unusable); ``pointer`` is a JSON pointer to the offending member.
    """

    code: str
    detail_zh: str
    detail_en: str
    status: int = 400
    pointer: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(f"{self.code}: {self.detail_en}")

    @property
    def detail(self) -> str:
        """Bilingual one-line detail: Chinese first, as our users read it."""
        return f"{self.detail_zh} / {self.detail_en}"

    def to_problem(self) -> dict[str, Any]:
        """The RFC 9457 problem document (as the web layer answers it), for the CLI and logs."""
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE_BASE + self.code,
            "title": _TITLES.get(self.status, "错误 / Error"),
            "status": self.status,
            "detail": self.detail,
            "detail_zh": self.detail_zh,
            "detail_en": self.detail_en,
            "code": self.code,
        }
        if self.pointer is not None:
            body["pointer"] = self.pointer
        body.update(self.extra)
        return body
