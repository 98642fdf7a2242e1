"""The API docs pages (Swagger UI at ``/docs``, ReDoc at ``/redoc``) served from the vendored copies.

FastAPI's defaults load both from cdn.jsdelivr.net, which a land bureau's intranet often cannot reach;
here the scripts come from ``/static/vendor`` (fetched and hash-checked by scripts/vendor.sh) and the
pages need nothing from outside, so their Content-Security-Policy can stay on ``'self'``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html

__all__ = ["DOCS_PATHS", "router"]

DOCS_PATHS = ("/docs", "/redoc")
_VENDOR = "/static/vendor"
router = APIRouter(include_in_schema=False)


def _root(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/")


@router.get(DOCS_PATHS[0])
def swagger_ui(request: Request):
    root = _root(request)
    return get_swagger_ui_html(
        openapi_url=root + request.app.openapi_url, title=request.app.title + " — Swagger UI",
        swagger_js_url=f"{root}{_VENDOR}/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{_VENDOR}/swagger-ui/swagger-ui.css",
        swagger_favicon_url=f"{root}/static/favicon.svg",
        swagger_ui_parameters={"validatorUrl": None})  # no badge fetched from validator.swagger.io


@router.get(DOCS_PATHS[1])
def redoc(request: Request):
    root = _root(request)
    return get_redoc_html(
        openapi_url=root + request.app.openapi_url, title=request.app.title + " — ReDoc",
        redoc_js_url=f"{root}{_VENDOR}/redoc/redoc.standalone.js", redoc_favicon_url=f"{root}/static/favicon.svg",
        with_google_fonts=False)
