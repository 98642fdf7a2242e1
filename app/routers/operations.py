"""Officer actions: executed operations, category overrides, disposal records."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Response

from app.deps import EngineDep, Officer, SettingsDep, Viewer
from app.services import operations as svc
from app.services import register

router = APIRouter(prefix="/api/v1", tags=["operations"])
CrsQuery = Annotated[str | None, Query(description="CRS of the request's coordinates")]
BodyDep = Annotated[dict[str, Any], Body(description="the same body as the check (CHECKS-API.md)")]
KeyHeader = Annotated[str | None, Header(alias="Idempotency-Key")]


def _run(op: str, body, engine, settings, actor, crs, key, response: Response):
    result, replayed = svc.execute(engine, op, body, crs=crs, actor=actor.label, jurisdiction=settings.jurisdiction,
                                   idempotency_key=key)
    response.status_code = 200 if replayed else 201
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/api/v1/operations/{result['operation_id']}"
    return result


@router.post("/operations/split", status_code=201, summary="执行分割 / execute a split")
def split(body: BodyDep, engine: EngineDep, settings: SettingsDep, actor: Officer, response: Response,
          crs: CrsQuery = None, idempotency_key: KeyHeader = None):
    return _run("split", body, engine, settings, actor, crs, idempotency_key, response)


@router.post("/operations/merge", status_code=201, summary="执行合并 / execute a merger")
def merge(body: BodyDep, engine: EngineDep, settings: SettingsDep, actor: Officer, response: Response,
          crs: CrsQuery = None, idempotency_key: KeyHeader = None):
    return _run("merge", body, engine, settings, actor, crs, idempotency_key, response)


@router.post("/operations/edge-plots", status_code=201, summary="执行零星地块并入 / execute an edge-plot addition")
def edge_plots(body: BodyDep, engine: EngineDep, settings: SettingsDep, actor: Officer, response: Response,
               crs: CrsQuery = None, idempotency_key: KeyHeader = None):
    return _run("edge-plots", body, engine, settings, actor, crs, idempotency_key, response)


@router.get("/operations/{operation_id}", summary="已执行操作 / an executed operation")
def operation(operation_id: str, engine: EngineDep, _: Viewer):
    return svc.operation_detail(engine, operation_id)


@router.put("/parcels/{code}/category-override", summary="人工认定类别 / set an officer's category")
def put_override(code: str, body: register.OverrideIn, engine: EngineDep, actor: Officer):
    return register.set_override(engine, code, body, actor.label)


@router.delete("/parcels/{code}/category-override", status_code=204, summary="撤销人工认定 / clear the override")
def delete_override(code: str, engine: EngineDep, actor: Officer,
                    reason: Annotated[str, Query(min_length=1, max_length=2000, pattern=r"\S")]):
    register.clear_override(engine, code, reason, actor.label)
    return Response(status_code=204)


@router.post("/disposals", status_code=201, summary="登记处置记录 / record a disposal")
def disposal(body: register.DisposalIn, engine: EngineDep, actor: Officer):
    return register.record_disposal(engine, body, actor.label)
