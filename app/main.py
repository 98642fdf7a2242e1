"""The FastAPI application: ``create_app(settings)`` builds it, tests pass their own settings."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from app import __version__, docs_ui
from app.db import libpq_url, make_async_pool, make_engine
from app.errors import install_error_handlers
from app.limits import BodyLimitMiddleware
from app.observability import install_observability
from app.ogc.router import router as ogc_router
from app.ogc.state import RegisterWatch
from app.ogc.tiles import TileCache
from app.ogc.tiles import router as tiles_router
from app.proxy import ForwardedMiddleware
from app.routers import checks, health, jurisdiction, operations, parcels, reports, stats, tokens, uploads
from app.security import install_security
from app.services.common import json_bytes
from app.services.stats import Memo
from app.settings import Settings, get_settings
from app.web.router import router as web_router
from app.web.router import static_files

__all__ = ["OrjsonResponse", "create_app"]


class OrjsonResponse(JSONResponse):
    """JSON rendered by orjson (fast, UTF-8, Chinese kept as is); FastAPI's own ORJSONResponse is deprecated."""

    def render(self, content) -> bytes:
        return json_bytes(content)

DESCRIPTION = """
天台县工业用地“三块地”（批而未供、供而未用、低效用地）宗地管理服务，依据天政发〔2022〕1号
审查分割、合并与零星边角地申请。

Industrial-land parcel service for Tiantai County: the "three kinds of land" register, and checks of
lot splits, mergers and edge-plot additions against 天政发〔2022〕1号.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.engine = make_engine(settings)
        app.state.read_engine = (make_engine(settings, settings.read_url, application_name="landgis-read")
                                 if settings.database_read_url else app.state.engine)
        # checks are CPU-bound Python: a few at a time, in arrival order (asyncio.Semaphore is FIFO),
        # keeps the tail short instead of 40 threadpool threads fighting over the GIL
        app.state.check_slots = asyncio.Semaphore(settings.check_concurrency)
        app.state.read_pool = make_async_pool(settings, settings.read_url)
        await app.state.read_pool.open(wait=False)
        app.state.register_watch = RegisterWatch(libpq_url(settings.sqlalchemy_url))
        app.state.register_watch.start()
        try:
            yield
        finally:
            await app.state.register_watch.stop()
            await app.state.read_pool.close()
            app.state.engine.dispose()
            app.state.read_engine.dispose()

    app = FastAPI(
        title="天台县工业用地宗地服务 / Tiantai industrial-land parcel service",
        version=__version__,
        description=DESCRIPTION,
        default_response_class=OrjsonResponse,
        lifespan=lifespan,
        docs_url=None,  # app.docs_ui serves /docs and /redoc from the vendored scripts
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.tile_cache = TileCache(settings.tile_cache_mb * 1024 * 1024)
    app.state.stats_memo = Memo(size=256)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(checks.router)
    app.include_router(parcels.router)
    app.include_router(operations.router)
    app.include_router(stats.router)
    app.include_router(jurisdiction.router)
    app.include_router(tokens.router)
    app.include_router(ogc_router)
    app.include_router(tiles_router)
    app.include_router(reports.router)
    app.include_router(uploads.router)
    app.include_router(web_router)
    app.include_router(docs_ui.router)
    app.mount("/static", static_files, name="static")
    app.add_middleware(OgcPathMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(ForwardedMiddleware, trusted_hosts=settings.forwarded_allow_ips)
    install_security(app, settings)
    install_observability(app, settings)  # outermost: every request gets an id, a log line and a timing
    return app


class OgcPathMiddleware:
    """What OGC clients expect of ``/ogc`` paths beyond FastAPI's routing.

    ``/ogc/collections/`` is ``/ogc/collections`` (clients add or drop the slash; no redirect round
    trip), and HEAD is answered as GET without the body (RFC 9110 §9.3.2).
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith("/ogc"):
            return await self.app(scope, receive, send)
        path = scope["path"]
        if path.endswith("/") and path != "/":
            scope = dict(scope, path=path.rstrip("/"))
            scope["raw_path"] = scope["path"].encode()
        if scope["method"] != "HEAD":
            return await self.app(scope, receive, send)

        async def headers_only(message):
            if message["type"] == "http.response.body":
                if message.get("more_body"):
                    return
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        await self.app(dict(scope, method="GET"), receive, headers_only)


def get_engine(request: Request):
    return request.app.state.engine
