"""Liveness and readiness: ``/healthz`` checks the database, ``/readyz`` also the migrations."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from app.db import ping
from app.errors import problem_response

router = APIRouter(tags=["health"])


def _ping(request: Request) -> dict | JSONResponse:
    """The database's answer (PostGIS version, revision, head), or a 503 problem if it does not answer."""
    try:
        return ping(request.app.state.engine)
    except SQLAlchemyError:
        return problem_response(503, "database-unavailable", "数据库不可用", "database unavailable",
                                headers={"Retry-After": "5"})


@router.get("/healthz", summary="健康检查（含数据库）/ health, including the database")
def healthz(request: Request):
    info = _ping(request)
    return info if isinstance(info, JSONResponse) else {"status": "ok", "database": "ok", **info}


@router.get("/readyz", summary="就绪检查（数据库与迁移）/ readiness: database and migrations at head")
def readyz(request: Request):
    info = _ping(request)
    if isinstance(info, JSONResponse):
        return info
    if info["revision"] != info["head"]:
        return problem_response(503, "migrations-pending", "数据库迁移未完成", "database migrations are not at head",
                                **info)
    return {"status": "ready", **info}
