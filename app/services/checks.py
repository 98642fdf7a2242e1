"""Checks: run the engine against the register and record every check (``checks`` + audit log)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy.engine import Connection

from app.lookup import PgLookup
from app.services.common import dumps
from gis.rules import run_check
from gis.rulesets import default_registry, get_rule_set

__all__ = ["check", "check_in", "list_rule_sets", "on_recorded", "parcel_codes_of", "rule_set_detail"]

_recorded_hooks: list[Callable[[str, Mapping[str, Any]], None]] = []


def on_recorded(hook: Callable[[str, Mapping[str, Any]], None]) -> None:
    """Have ``hook(operation, report)`` called for every check recorded, once its transaction has committed
    (a rolled-back check was never recorded). The metrics use it, so this module needs no metrics library."""
    if hook not in _recorded_hooks:
        _recorded_hooks.append(hook)


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


# the check and its audit entry in one statement (one round trip; audit() writes the same row shape)
_RECORD = text(
    "WITH c AS (INSERT INTO checks (actor, operation, request, report, verdict, parcel_codes) "
    "VALUES (:a, :o, CAST(:q AS jsonb), CAST(:r AS jsonb), :v, :c) RETURNING id) "
    "INSERT INTO audit_log (actor, action, target, detail) "
    "SELECT :a, :action, :t, jsonb_build_object('check_id', c.id::text, 'verdict', CAST(:v AS text), "
    "'rule_set', CAST(:rs AS text)) FROM c RETURNING (SELECT id FROM c)")


def record(conn: Connection, actor: str, operation: str, request: Mapping[str, Any],
           report: dict[str, Any]) -> str:
    """Store a check and its audit entry; returns the check id."""
    codes = parcel_codes_of(request)
    check_id = conn.execute(_RECORD, {
        "a": actor, "o": operation, "q": dumps(request), "r": dumps(report), "v": report.get("verdict"),
        "c": codes, "action": f"check.{operation}", "t": ",".join(codes) or None,
        "rs": report["rule_set"]["id"]}).scalar_one()
    for hook in _recorded_hooks:
        event.listen(conn, "commit", lambda _conn, hook=hook: hook(operation, report), once=True)
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
