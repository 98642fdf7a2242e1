"""``/api/v1/stats``: the register's figures on a date."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter

from app.deps import EngineDep, SettingsDep, Viewer
from app.services.stats import stats as compute
from gis.rules import today

router = APIRouter(prefix="/api/v1", tags=["stats"])


@router.get("/stats", summary="统计（三块地、闲置、低效、亩均、处置）/ register statistics")
def stats(engine: EngineDep, settings: SettingsDep, _: Viewer, as_of: date | None = None):
    with engine.connect() as conn:
        return compute(conn, as_of or today(), settings.jurisdiction)
