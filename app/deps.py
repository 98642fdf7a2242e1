"""Request dependencies: the engine, the settings and the caller (bearer token → role)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from app.errors import ProblemError
from app.services.tokens import ROLES, hash_key, verify_key
from app.settings import Settings

__all__ = ["Actor", "EngineDep", "ReadEngineDep", "SettingsDep", "in_check_slot", "require"]


async def in_check_slot(request: Request, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a CPU-heavy call (a check, an operation) in the threadpool once one of the app's slots is free."""
    async with request.app.state.check_slots:
        return await run_in_threadpool(fn, *args, **kwargs)


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_read_engine(request: Request) -> Engine:
    """The engine of ``DATABASE_READ_URL`` (a replica) when set, else the service engine.

    For endpoints that only read and can tolerate replication lag; anything that must see the caller's own
    write at once (a check's report, an operation) reads the primary.
    """
    return request.app.state.read_engine


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


EngineDep = Annotated[Engine, Depends(get_engine)]
ReadEngineDep = Annotated[Engine, Depends(get_read_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
T = TypeVar("T")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="landgis"'}


@dataclass(frozen=True)
class Actor:
    """Who calls: the token's name and id (``anonymous`` when reads are open), and the role."""

    name: str
    role: str
    token_id: str | None = None

    @property
    def label(self) -> str:
        return f"{self.name} ({self.token_id})" if self.token_id else self.name


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ProblemError(401, "invalid-token", "Authorization 头应为 Bearer 令牌",
                           "the Authorization header must carry a Bearer token",
                           headers={"WWW-Authenticate": 'Bearer realm="landgis", error="invalid_request"'})
    return key.strip()


async def _verified(request: Request, key: str):
    """The token for ``key``: from the worker's cache while it listens for token changes, else the database."""
    watch = request.app.state.register_watch
    digest = hash_key(key)
    token = watch.token(digest)
    if token is None:
        generation = watch.token_generation
        token = await run_in_threadpool(verify_key, request.app.state.engine, key)
        if token is not None:
            watch.remember_token(digest, token, generation)
    return token


def require(role: str):
    """A dependency that admits callers with at least ``role`` (401 without / bad token, 403 too low)."""
    needed = ROLES[role]

    async def dependency(request: Request) -> Actor:
        key = _bearer(request)
        if key is None:
            if role == "viewer" and request.app.state.settings.anonymous_read:
                return Actor("anonymous", "viewer")
            raise ProblemError(401, "unauthenticated", "需要 API 令牌（Authorization: Bearer …）",
                               "an API token is required (Authorization: Bearer …)", headers=_CHALLENGE)
        token = await _verified(request, key)
        if token is None:
            raise ProblemError(401, "invalid-token", "API 令牌无效或已撤销", "the API token is invalid or revoked",
                               headers={"WWW-Authenticate": 'Bearer realm="landgis", error="invalid_token"'})
        request.state.token_id = token.id  # the access log names the caller (app.observability)
        if ROLES[token.role] < needed:
            raise ProblemError(403, "forbidden", f"需要 {role} 角色（当前为 {token.role}）",
                               f"this needs the {role} role (the token has {token.role})",
                               headers={"WWW-Authenticate":
                                        f'Bearer realm="landgis", error="insufficient_scope", scope="{role}"'})
        return Actor(token.name, token.role, token.id)

    return dependency


Viewer = Annotated[Actor, Depends(require("viewer"))]
Officer = Annotated[Actor, Depends(require("officer"))]
Admin = Annotated[Actor, Depends(require("admin"))]
