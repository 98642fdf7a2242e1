"""Liveness (``/healthz``) and readiness (``/readyz``).

``/healthz`` answers 200 while the process serves, whatever the database does: an orchestrator restarts a
process whose liveness probe fails, and restarting every app process while the database restarts helps
nobody. The database's state is in the body. ``/readyz`` is 503 unless the database answers and its
migrations are at head, so a load balancer sends no traffic to a process that cannot serve it.

Both probe the database on a fresh connection of their own, bounded by :data:`PROBE_TIMEOUT_S`: a hung
server (one that accepts connections but never answers) cannot hang the probe, nor tie up a pooled
connection or a worker thread.
"""

from __future__ import annotations

import asyncio
import functools
import logging

import psycopg
from fastapi import APIRouter, Request

from app import __version__
from app.db import head_revision, libpq_url
from app.errors import problem_response

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)
PROBE_TIMEOUT_S = 2.0
_head = functools.cache(head_revision)  # the migration scripts do not change while we run


async def probe_database(request: Request) -> dict | None:
    """PostGIS version and migration revision of the service database, or None if it does not answer in time."""
    url = libpq_url(request.app.state.settings.sqlalchemy_url)
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            conn = await psycopg.AsyncConnection.connect(url, connect_timeout=max(2, int(PROBE_TIMEOUT_S)),
                                                         autocommit=True, application_name="landgis-health")
            async with conn:
                postgis, migrated = await (await conn.execute(
                    "SELECT postgis_lib_version(), to_regclass('alembic_version') IS NOT NULL")).fetchone()
                revision = None
                if migrated:
                    row = await (await conn.execute("SELECT version_num FROM alembic_version LIMIT 1")).fetchone()
                    revision = row[0] if row else None
    except (TimeoutError, psycopg.Error, OSError) as exc:
        log.warning("database probe failed: %s", type(exc).__name__ if isinstance(exc, TimeoutError) else exc)
        return None
    return {"postgis": postgis, "revision": revision, "head": _head()}


@router.get("/healthz", summary="存活检查（附数据库状态）/ liveness, with the database's state")
async def healthz(request: Request):
    info = await probe_database(request)
    return {"status": "ok", "version": __version__, "database": "ok" if info else "unavailable", **(info or {})}


@router.get("/readyz", summary="就绪检查（数据库与迁移）/ readiness: database and migrations at head")
async def readyz(request: Request):
    info = await probe_database(request)
    if info is None:
        return problem_response(503, "database-unavailable", "数据库不可用", "database unavailable",
                                headers={"Retry-After": "5"})
    if info["revision"] != info["head"]:
        return problem_response(503, "migrations-pending", "数据库迁移未完成", "database migrations are not at head",
                                **info)
    return {"status": "ready", **info}
