"""``/api/v1/checks/{id}``: a recorded check as JSON, and its printable case file (HTML, PDF)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from app.deps import EngineDep, Viewer
from app.services import reports as svc

router = APIRouter(prefix="/api/v1", tags=["checks"])
_PROBLEM = {"content": {"application/problem+json": {}}}
_ERRORS = {401: {"description": "未认证 / no or bad token", **_PROBLEM},
           404: {"description": "无此审查记录 / no such check", **_PROBLEM}}


@router.get("/checks/{check_id}", summary="审查记录 / a recorded check (request and report)", responses=_ERRORS)
def recorded_check(check_id: str, engine: EngineDep, _: Viewer):
    return svc.check_record(engine, check_id)


@router.get("/checks/{check_id}/report", summary="审查报告（可打印 HTML）/ the printable case file (HTML)",
            response_class=HTMLResponse,
            responses={200: {"content": {"text/html": {}}, "description": "A4 打印页 / an A4 printable page"},
                       **_ERRORS})
def report_page(check_id: str, engine: EngineDep, _: Viewer):
    return HTMLResponse(svc.report_html(engine, check_id))


@router.get("/checks/{check_id}/report.pdf", summary="审查报告 PDF / the case file as PDF",
            response_class=Response,
            responses={200: {"content": {"application/pdf": {}}, "description": "A4 PDF"}, **_ERRORS,
                       503: {"description": "未安装 PDF 组件 / PDF rendering not installed", **_PROBLEM}})
def report_pdf(check_id: str, engine: EngineDep, _: Viewer):
    """Sync on purpose: FastAPI runs it in the threadpool, WeasyPrint takes about a second per report."""
    return Response(svc.report_pdf(engine, check_id), media_type="application/pdf",
                    headers={"Content-Disposition": svc.pdf_filename_header(check_id)})
