"""Checks: run the engine against the register and record every check (``checks`` + audit log)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection

from app.lookup import PgLookup
from app.services.common import audit, dumps
from gis.rules import run_check
from gis.rulesets import default_registry, get_rule_set

__all__ = ["check", "check_in", "list_rule_sets", "parcel_codes_of", "rule_set_detail"]


def parcel_codes_of(request: Mapping[str, Any]) -> list[str]:
    """The parcel codes a request names (stored codes, or inline features' ``parcel_code``)."""
    specs: list[Any] = []
    if isinstance(request, Mapping):
        specs.append(request.get("parcel"))
        if isinstance(request.get("parcels"), list):
            specs.extend(request["parcels"])
    codes = []
    for s in specs:
        if isinstance(s, str) and s.strip():
            codes.append(s.strip())
        elif isinstance(s, Mapping) and isinstance(s.get("properties"), Mapping):
            code = s["properties"].get("parcel_code")
            if isinstance(code, str) and code.strip():
                codes.append(code.strip())
    return list(dict.fromkeys(codes))


def check_in(conn: Connection, operation: str, request: Mapping[str, Any], *, crs: str | None,
             jurisdiction: str, lookup: PgLookup | None = None) -> dict[str, Any]:
    """Run a check on ``conn`` (no recording)."""
    return run_check(operation, request, crs=crs, jurisdiction=jurisdiction,
                     stored_lookup=lookup or PgLookup(conn))


def record(conn: Connection, actor: str, operation: str, request: Mapping[str, Any],
           report: dict[str, Any]) -> str:
    """Store a check and its audit entry; returns the check id."""
    codes = parcel_codes_of(request)
    check_id = conn.execute(text(
        "INSERT INTO checks (actor, operation, request, report, verdict, parcel_codes) "
        "VALUES (:a, :o, CAST(:q AS jsonb), CAST(:r AS jsonb), :v, :c) RETURNING id"),
        {"a": actor, "o": operation, "q": dumps(request), "r": dumps(report), "v": report.get("verdict"),
         "c": codes}).scalar_one()
    audit(conn, actor, f"check.{operation}", ",".join(codes) or None,
          {"check_id": str(check_id), "verdict": report.get("verdict"), "rule_set": report["rule_set"]["id"]})
    return str(check_id)


def check(engine: Engine, operation: str, request: Mapping[str, Any], *, crs: str | None, actor: str,
          jurisdiction: str) -> dict[str, Any]:
    """Check a proposal against the register and record it; the report carries ``check_id``."""
    with engine.begin() as conn:
        report = check_in(conn, operation, request, crs=crs, jurisdiction=jurisdiction)
        report["check_id"] = record(conn, actor, operation, request, report)
    return report


def list_rule_sets() -> list[dict[str, Any]]:
    """Every rule set with its window and parameters."""
    from gis.rules import today

    day = today()
    return [{**rs.summary(day), "jurisdiction": rs.jurisdiction, "links": [
        {"rel": "self", "href": f"/api/v1/rule-sets/{rs.id}"}]} for rs in default_registry()]


def rule_set_detail(rule_set_id: str) -> dict[str, Any]:
    from gis.rules import today

    rs = get_rule_set(rule_set_id)
    return {**rs.public(), "in_force_today": rs.in_force_on(today())}
