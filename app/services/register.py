"""Officer actions on the register besides operations: category overrides and disposal records (audited)."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from app.errors import ProblemError
from app.services.common import audit, jsonable
from gis.units import MU_M2

__all__ = ["DisposalIn", "OverrideIn", "clear_override", "record_disposal", "set_override"]


class OverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: Literal["approved_unsupplied", "supplied_unused", "low_efficiency", "none"]
    reason: str = Field(min_length=1, max_length=2000, pattern=r"\S")


class DisposalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    parcel_code: str | None = Field(None, max_length=28)
    method: Literal["收回", "收购储备", "协议转让", "兼并重组", "二次开发/技改", "其他"]
    area_m2: float | None = Field(None, gt=0, lt=1e9)
    area_mu: float | None = Field(None, gt=0, lt=1e6)
    disposed_on: date
    note: str | None = Field(None, max_length=2000)

    @model_validator(mode="after")
    def _area(self) -> DisposalIn:
        if (self.area_m2 is None) == (self.area_mu is None):
            raise ValueError("give exactly one of area_m2 and area_mu")
        return self


def _require_parcel(conn, code: str) -> None:
    if conn.execute(text("SELECT 1 FROM parcels WHERE parcel_code = :c AND valid_to IS NULL"), {"c": code}).first() \
            is None:
        raise ProblemError(404, "unknown-parcel", f"未找到现状宗地：{code}", f"no current parcel with code {code}",
                           pointer="/path/code")


def set_override(engine: Engine, code: str, body: OverrideIn, actor: str) -> dict[str, Any]:
    """Set (or replace) the officer's category for a parcel, with the reason."""
    with engine.begin() as conn:
        _require_parcel(conn, code)
        conn.execute(text(
            "UPDATE category_overrides SET cleared_at = now(), cleared_by = :a, clear_reason = 'replaced' "
            "WHERE parcel_code = :c AND cleared_at IS NULL"), {"a": actor, "c": code})
        row = conn.execute(text(
            "INSERT INTO category_overrides (parcel_code, category, reason, actor) VALUES (:c, :k, :r, :a) "
            "RETURNING id, parcel_code, category, reason, actor, created_at"),
            {"c": code, "k": body.category, "r": body.reason.strip(), "a": actor}).mappings().one()
        audit(conn, actor, "category.override", code, {"category": body.category, "reason": body.reason.strip()})
    return jsonable(dict(row))


def clear_override(engine: Engine, code: str, reason: str, actor: str) -> None:
    with engine.begin() as conn:
        n = conn.execute(text(
            "UPDATE category_overrides SET cleared_at = now(), cleared_by = :a, clear_reason = :r "
            "WHERE parcel_code = :c AND cleared_at IS NULL"), {"a": actor, "c": code, "r": reason}).rowcount
        if not n:
            raise ProblemError(404, "no-override", f"宗地 {code} 没有人工认定的类别",
                               f"parcel {code} has no category override")
        audit(conn, actor, "category.override.clear", code, {"reason": reason})


def record_disposal(engine: Engine, body: DisposalIn, actor: str) -> dict[str, Any]:
    area = body.area_m2 if body.area_m2 is not None else body.area_mu * MU_M2  # type: ignore[operator]
    try:
        with engine.begin() as conn:
            if body.parcel_code:
                exists = conn.execute(text("SELECT 1 FROM parcels WHERE parcel_code = :c LIMIT 1"),
                                      {"c": body.parcel_code}).first()
                if exists is None:
                    raise ProblemError(404, "unknown-parcel", f"未找到宗地：{body.parcel_code}",
                                       f"no parcel with code {body.parcel_code}", pointer="/parcel_code")
            row = conn.execute(text(
                "INSERT INTO disposals (parcel_code, method, area_m2, disposed_on, note, actor) "
                "VALUES (:c, :m, round(CAST(:a AS numeric), 2), :d, :n, :actor) "
                "RETURNING id, parcel_code, method, area_m2, area_mu, disposed_on, note, actor, created_at"),
                {"c": body.parcel_code, "m": body.method, "a": area, "d": body.disposed_on, "n": body.note,
                 "actor": actor}).mappings().one()
            audit(conn, actor, "disposal.record", body.parcel_code, jsonable(dict(row)))
    except IntegrityError:
        raise ProblemError(409, "duplicate-disposal", "相同的处置记录已存在", "the same disposal is already recorded") \
            from None
    return jsonable(dict(row))
