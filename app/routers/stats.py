"""``/api/v1/stats``: the register's figures on a date."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from app.deps import EngineDep, ReadEngineDep, SettingsDep, Viewer
from app.services.category_cache import ensure_fresh
from app.services.stats import stats as compute
from app.services.stats import summary as compute_summary
from gis.rules import today

router = APIRouter(prefix="/api/v1", tags=["stats"])


@router.get("/stats", summary="统计（三块地、闲置、低效、亩均、处置）/ register statistics",
            response_class=Response)
async def stats(request: Request, reader: ReadEngineDep, settings: SettingsDep, _: Viewer,
                as_of: date | None = None):
    """Computed once per register version and date (see :class:`app.services.stats.Memo`)."""
    day = as_of or today()
    body = await request.app.state.stats_memo.json(
        reader, (day, settings.jurisdiction), lambda conn: compute(conn, day, settings.jurisdiction))
    return Response(body, media_type="application/json")


@router.get("/stats/summary", summary="图例汇总（按筛选条件的各类宗数与面积）/ count and area per category, filtered",
            response_class=Response)
async def summary(request: Request, engine: EngineDep, reader: ReadEngineDep, _: Viewer,
                  town: str | None = None, criterion: str | None = None,
                  rating: Literal["A", "B", "C", "D"] | None = None,
                  min_mu: Annotated[float | None, Query(ge=0)] = None,
                  max_mu: Annotated[float | None, Query(ge=0)] = None):
    """Today's figures for the map legend, with the same filters the map applies to its tiles (computed
    once per register version and filter combination, like the statistics)."""
    day = today()
    filters = {"town": town, "criterion": criterion, "rating": rating, "min_mu": min_mu, "max_mu": max_mu}
    await run_in_threadpool(ensure_fresh, engine, day)
    body = await request.app.state.stats_memo.json(
        reader, (day, "summary", tuple(sorted(filters.items()))), lambda conn: compute_summary(conn, day, **filters))
    return Response(body, media_type="application/json")
