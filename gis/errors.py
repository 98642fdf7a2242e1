"""One root for input the domain cannot work with.

A failed rule is a result, never an exception; :class:`GisInputError` is for input that cannot be
checked or imported at all. The web layer turns it into RFC 9457 problem+json, the CLI prints it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["GisInputError"]


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
