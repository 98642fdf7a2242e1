"""``/api/v1/tokens``: token management for admins (the CLI ``landgis token`` does the same)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.deps import Admin, EngineDep, SettingsDep, Viewer
from app.errors import ProblemError
from app.services import tokens as svc
from app.services.common import jsonable

router = APIRouter(prefix="/api/v1", tags=["tokens"])


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["viewer", "officer", "admin"]
    name: str = Field(min_length=1, max_length=200, pattern=r"\S")

    @field_validator("name")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        r"""``\S`` is Unicode's whitespace; the service strips Python's, which also counts U+001C–U+001F."""
        if not v.strip():
            raise ValueError("令牌名称不能为空白 / a token needs a name that is not blank")
        return v


@router.get("/me", summary="当前身份与权限 / who am I: the token's name, role and what it may do")
def me(actor: Viewer, settings: SettingsDep):
    """What the web UI shows or hides: each capability is the lowest role the API itself demands."""
    rank = svc.ROLES[actor.role]
    officer, admin = rank >= svc.ROLES["officer"], rank >= svc.ROLES["admin"]
    return {
        "name": actor.name, "role": actor.role, "token_id": actor.token_id,
        "anonymous": actor.token_id is None,
        "jurisdiction": settings.jurisdiction,
        "can": {"read": True, "check": officer, "execute": officer, "override_category": officer,
                "record_disposal": officer, "manage_tokens": admin},
    }


@router.get("/tokens", summary="令牌列表 / list tokens (never their keys)")
def list_tokens(engine: EngineDep, _: Admin):
    return {"tokens": [jsonable(asdict(t)) for t in svc.list_tokens(engine)]}


@router.post("/tokens", status_code=201, summary="创建令牌（密钥仅返回一次）/ create a token; the key is shown once")
def create_token(body: TokenIn, engine: EngineDep, actor: Admin):
    token, key = svc.create_token(engine, role=body.role, name=body.name, actor=actor.label)
    return {**jsonable(asdict(token)), "key": key}


@router.delete("/tokens/{token_id}", status_code=204, summary="撤销令牌 / revoke a token")
def revoke_token(token_id: str, engine: EngineDep, actor: Admin):
    if not svc.revoke_token(engine, token_id, actor=actor.label):
        raise ProblemError(404, "unknown-token", f"没有有效的令牌 {token_id}", f"no active token {token_id}")
    return Response(status_code=204)
