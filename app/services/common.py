"""Small helpers shared by the services: JSON-ready values, the audit log, download headers."""

from __future__ import annotations

from collections import OrderedDict
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote
from uuid import UUID

import orjson
from sqlalchemy import text
from sqlalchemy.engine import Connection

__all__ = ["Lru", "attachment", "audit", "dumps", "json_bytes", "jsonable"]


def jsonable(value: Any) -> Any:
    """Decimals → float, dates → ISO text, UUIDs → text, recursively (what orjson and jsonb accept)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


class Lru(OrderedDict):
    """At most ``size`` entries; :meth:`put` drops the least recently put or touched (``move_to_end``)."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def put(self, key, value) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_bytes(value: Any) -> bytes:
    """UTF-8 JSON of plain data (the same text as ``jsonable`` then JSON, without the copy): response
    bodies and ``jsonb`` parameters alike."""
    return orjson.dumps(value, default=_default, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)


def dumps(value: Any) -> str:
    """JSON text for a ``jsonb`` parameter."""
    return json_bytes(value).decode()


def audit(conn: Connection, actor: str, action: str, target: str | None, detail: dict[str, Any]) -> None:
    """Append one row to the audit log (inside the caller's transaction)."""
    conn.execute(text("INSERT INTO audit_log (actor, action, target, detail) VALUES (:a, :b, :t, CAST(:d AS jsonb))"),
                 {"a": actor, "b": action, "t": target, "d": dumps(detail)})


def attachment(name: str, ascii_name: str | None = None) -> str:
    """``Content-Disposition`` of a download named ``name`` (RFC 6266 / 5987: UTF-8 with an ASCII fallback)."""
    return f"attachment; filename=\"{ascii_name or name}\"; filename*=UTF-8''{quote(name)}"
