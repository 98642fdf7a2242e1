"""Small helpers shared by the services: JSON-ready values, the audit log, download headers."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote
from uuid import UUID

import orjson
from sqlalchemy import text
from sqlalchemy.engine import Connection

__all__ = ["attachment", "audit", "dumps", "jsonable"]


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


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(value: Any) -> str:
    """JSON text for a ``jsonb`` parameter (the same text as ``jsonable`` then JSON, without the copy)."""
    return orjson.dumps(value, default=_default,
                        option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY).decode()


def audit(conn: Connection, actor: str, action: str, target: str | None, detail: dict[str, Any]) -> None:
    """Append one row to the audit log (inside the caller's transaction)."""
    conn.execute(text("INSERT INTO audit_log (actor, action, target, detail) VALUES (:a, :b, :t, CAST(:d AS jsonb))"),
                 {"a": actor, "b": action, "t": target, "d": dumps(detail)})


def attachment(name: str, ascii_name: str | None = None) -> str:
    """``Content-Disposition`` of a download named ``name`` (RFC 6266 / 5987: UTF-8 with an ASCII fallback)."""
    return f"attachment; filename=\"{ascii_name or name}\"; filename*=UTF-8''{quote(name)}"
