"""``/api/v1/checks/…`` and ``/api/v1/rule-sets``: CHECKS-API.md."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response

from app.deps import EngineDep, Officer, SettingsDep, Viewer, in_check_slot
from app.services import checks as svc
from app.services.common import json_bytes

router = APIRouter(prefix="/api/v1", tags=["checks"])
CrsQuery = Annotated[str | None, Query(description="CRS of the request's coordinates (OGC URI or EPSG:xxxx)")]
def _json(report: dict[str, Any]) -> Response:
    """The report as JSON without FastAPI's per-value encoding pass (the report is plain JSON data already)."""
    return Response(json_bytes(report), media_type="application/json")


BodyDep = Annotated[dict[str, Any], Body(description="the check request (CHECKS-API.md)")]


@router.post("/checks/split", summary="分割转让审查 / check a proposed split")
async def check_split(request: Request, body: BodyDep, engine: EngineDep, settings: SettingsDep, actor: Officer,
                      crs: CrsQuery = None):
    return _json(await in_check_slot(request, svc.check, engine, "split", body, crs=crs, actor=actor.label,
                                     jurisdiction=settings.jurisdiction))


@router.post("/checks/merge", summary="合并转让审查 / check a proposed merger")
async def check_merge(request: Request, body: BodyDep, engine: EngineDep, settings: SettingsDep, actor: Officer,
                      crs: CrsQuery = None):
    return _json(await in_check_slot(request, svc.check, engine, "merge", body, crs=crs, actor=actor.label,
                                     jurisdiction=settings.jurisdiction))


@router.post("/checks/edge-plots", summary="零星边角地审查 / check adding edge / sandwich plots")
async def check_edge(request: Request, body: BodyDep, engine: EngineDep, settings: SettingsDep, actor: Officer,
                     crs: CrsQuery = None):
    return _json(await in_check_slot(request, svc.check, engine, "edge-plots", body, crs=crs, actor=actor.label,
                                     jurisdiction=settings.jurisdiction))


@router.get("/rule-sets", summary="规则集列表 / the rule sets")
def rule_sets(_: Viewer):
    return {"rule_sets": svc.list_rule_sets()}


@router.get("/rule-sets/{rule_set_id}", summary="规则集详情 / one rule set with its parameters")
def rule_set(rule_set_id: str, _: Viewer):
    return svc.rule_set_detail(rule_set_id)
