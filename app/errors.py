"""RFC 9457 problem+json for every error the service answers, in one place.

Each problem has ``type``, ``title``, ``status``, ``detail`` (Chinese / English) and, where it
applies, ``pointer`` (JSON pointer of the offending member).
"""

from __future__ import annotations

import logging

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.observability import current_request_id
from gis.errors import GisInputError

__all__ = ["ProblemError", "install_error_handlers", "problem_response"]

log = logging.getLogger(__name__)
PROBLEM_TYPE = "https://landgis.tiantai.example/problems/"
MEDIA_TYPE = "application/problem+json"

_TITLES = {
    400: ("请求有误", "Bad Request"),
    401: ("未认证", "Unauthorized"),
    403: ("无权限", "Forbidden"),
    404: ("未找到", "Not Found"),
    405: ("方法不允许", "Method Not Allowed"),
    406: ("不可接受的格式", "Not Acceptable"),
    409: ("冲突", "Conflict"),
    413: ("请求体过大", "Content Too Large"),
    415: ("不支持的媒体类型", "Unsupported Media Type"),
    422: ("无法处理的内容", "Unprocessable Content"),
    429: ("请求过多", "Too Many Requests"),
    500: ("服务器内部错误", "Internal Server Error"),
    503: ("服务暂不可用", "Service Unavailable"),
}


class ProblemError(Exception):
    """An error raised in the web layer that becomes a problem+json response."""

    def __init__(self, status: int, code: str, detail_zh: str, detail_en: str, *,
                 pointer: str | None = None, headers: dict[str, str] | None = None, **extra):
        super().__init__(detail_en)
        self.status, self.code = status, code
        self.detail_zh, self.detail_en = detail_zh, detail_en
        self.pointer, self.headers, self.extra = pointer, headers, extra


def problem_response(status: int, code: str, detail_zh: str, detail_en: str, *,
                     pointer: str | None = None, headers: dict[str, str] | None = None,
                     **extra) -> JSONResponse:
    title_zh, title_en = _TITLES.get(status, ("错误", "Error"))
    body = {
        "type": PROBLEM_TYPE + code,
        "title": f"{title_zh} / {title_en}",
        "status": status,
        "detail": f"{detail_zh} / {detail_en}",
        "detail_zh": detail_zh,
        "detail_en": detail_en,
        "code": code,
    }
    if pointer is not None:
        body["pointer"] = pointer
    body.update(extra)
    if status >= 500 and current_request_id():
        body["request_id"] = current_request_id()  # for the user to quote; the logs carry it too
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _loc_to_pointer(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    if parts and parts[0] in ("query", "path", "header", "cookie"):
        return "/" + "/".join(parts)
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GisInputError)
    async def _gis(_: Request, exc: GisInputError):
        return problem_response(exc.status, exc.code, exc.detail_zh, exc.detail_en, pointer=exc.pointer,
                                **exc.extra)

    @app.exception_handler(ProblemError)
    async def _problem(_: Request, exc: ProblemError):
        return problem_response(exc.status, exc.code, exc.detail_zh, exc.detail_en, pointer=exc.pointer,
                                headers=exc.headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        pointer = _loc_to_pointer(tuple(first.get("loc", ())))
        msg = first.get("msg", "invalid")
        return problem_response(
            422, "validation-error", f"请求参数不合法（{pointer}）：{msg}", f"invalid request at {pointer}: {msg}",
            pointer=pointer,
            errors=[{"pointer": _loc_to_pointer(tuple(e.get("loc", ()))), "message": e.get("msg")}
                    for e in errors],
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException):
        title_zh, title_en = _TITLES.get(exc.status_code, ("错误", "Error"))
        detail = exc.detail if isinstance(exc.detail, str) else title_en
        return problem_response(exc.status_code, f"http-{exc.status_code}", title_zh, detail,
                                headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception):
        log.exception("unexpected error", exc_info=exc)
        return problem_response(500, "internal-error", "服务器内部错误", "internal server error")

    @app.exception_handler(OperationalError)
    async def _db_down(_: Request, exc: OperationalError):
        log.warning("database unavailable: %s", exc.orig)
        return problem_response(503, "database-unavailable", "数据库暂不可用，请稍后重试",
                                "the database is unavailable; retry shortly", headers={"Retry-After": "5"})

    @app.exception_handler(psycopg.errors.DataError)
    async def _pg_bad_value(_: Request, exc: psycopg.errors.DataError):
        log.info("data error: %s", exc)
        return problem_response(400, "invalid-value", "请求中的值无法处理（类型不符、超出范围或含非法字符）",
                                "a value in the request cannot be used (wrong type, out of range or invalid)")

    @app.exception_handler(psycopg.OperationalError)
    async def _pg_down(_: Request, exc: psycopg.OperationalError):
        log.warning("database unavailable: %s", exc)
        return problem_response(503, "database-unavailable", "数据库暂不可用，请稍后重试",
                                "the database is unavailable; retry shortly", headers={"Retry-After": "5"})

    @app.exception_handler(DataError)
    async def _bad_value(_: Request, exc: DataError):
        # SQLSTATE class 22 (data exception): a value the client sent that the database cannot hold
        log.info("data error: %s", exc.orig)
        return problem_response(400, "invalid-value", "请求中的值无法处理（超出范围或含非法字符）",
                                "a value in the request cannot be used (out of range or invalid characters)")

    @app.exception_handler(DBAPIError)
    async def _db_error(_: Request, exc: DBAPIError):
        if exc.connection_invalidated:
            return problem_response(503, "database-unavailable", "数据库连接中断，请稍后重试",
                                    "the database connection was lost; retry shortly",
                                    headers={"Retry-After": "5"})
        log.exception("database error")
        return problem_response(500, "database-error", "数据库错误", "database error")
