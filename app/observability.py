"""Request ids, structured logs and Prometheus metrics (issue 7).

* Every HTTP request gets an id (the client's sane ``X-Request-ID`` or a new uuid4 hex), held in a
  contextvar while the request runs, echoed in the ``X-Request-ID`` response header, written into every log
  record and into the problem+json body of 5xx answers, so a user can quote it and an operator find it.
* One log line per request (``landgis.access``): method, path, route template, status, duration, bytes,
  client address, request id and the id of the caller's API token (never the token itself).
* ``logging_config(settings)`` renders every record, ours and uvicorn's, as one JSON object per line
  (``LANDGIS_LOG_FORMAT=json``, the default) or as plain text; connection-string passwords and bearer
  tokens are masked in whatever is logged.
* ``/metrics`` (``LANDGIS_METRICS``, on by default; not behind a token, so the reverse proxy must not expose
  it): request latency by route template and status class (prometheus-fastapi-instrumentator), check
  verdicts and rule results, and the database pools read at scrape time. With several worker processes
  prometheus_client's multiprocess mode is used when ``PROMETHEUS_MULTIPROC_DIR`` is set.
"""

from __future__ import annotations

import contextvars
import logging
import logging.config
import os
import re
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from prometheus_fastapi_instrumentator import Instrumentator
from starlette.routing import Match

from app.settings import Settings

try:  # the instrumentator's flattening of FastAPI's included routers (8.1+)
    from prometheus_fastapi_instrumentator.routing import _effective_routes
except ImportError:  # pragma: no cover
    def _effective_routes(routes):
        return list(routes)

__all__ = [
    "REQUEST_ID_HEADER",
    "TOKEN_ID_STATE",
    "JsonFormatter",
    "RequestContextMiddleware",
    "RequestIdFilter",
    "TextFormatter",
    "count_check",
    "current_request_id",
    "install_observability",
    "logging_config",
    "redact",
]

REQUEST_ID_HEADER = "X-Request-ID"
TOKEN_ID_STATE = "token_id"  # request.state key under which app.deps leaves the authenticated token's id
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("landgis_request_id", default=None)
access_log = logging.getLogger("landgis.access")


def current_request_id() -> str | None:
    """The id of the request being served in this context (None outside a request)."""
    return _request_id.get()


# --- secrets out of logs -------------------------------------------------------------------------------------

_REDACTIONS = [
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s]+@"), r"\1***@"),  # scheme://user:password@
    (re.compile(r"(?i)\b(password\s*=\s*)('[^']*'|\S+)"), r"\1***"),  # libpq keyword form
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1***"),
    (re.compile(r"\blgk_[A-Za-z0-9_-]+"), "lgk_***"),  # API keys (app.services.tokens.KEY_PREFIX)
]


def redact(text: str) -> str:
    """``text`` with connection-string passwords, bearer tokens and API keys masked."""
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


# --- log formatting ------------------------------------------------------------------------------------------

_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "color_message", "request_id", "taskName"}


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp (ISO 8601 with offset), level, logger, message, request_id, the
    record's extra fields (``log.info(..., extra={...})``) and ``exception``; UTF-8, Chinese as is."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        request_id = getattr(record, "request_id", None) or _request_id.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRS and not key.startswith("_"):
                entry[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


class TextFormatter(logging.Formatter):
    """``2026-11-23T21:25:34.123+08:00 INFO landgis.access [request id] message`` (``LANDGIS_LOG_FORMAT=text``)."""

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None) or _request_id.get() or "-"
        line = f"{_timestamp(record)} {record.levelname} {record.name} [{request_id}] {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        elif record.exc_text:
            line += "\n" + record.exc_text
        return redact(line)


class RequestIdFilter(logging.Filter):
    """Stamps the current request id on each record when it is emitted, so a handler that formats later
    (a queue, a test's capture) still has it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = _request_id.get()
        return True


def logging_config(settings: Settings) -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` for the service and uvicorn (``uvicorn.run(log_config=…)``).

    Every record goes through one stderr handler on the root logger. uvicorn's access logger is silenced:
    :class:`RequestContextMiddleware` writes the access line (with the route, request id and token id).
    """
    level = settings.log_level
    formatter = JsonFormatter if settings.log_format == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"landgis": {"()": f"{__name__}.{formatter.__name__}"}},
        "filters": {"request_id": {"()": f"{__name__}.RequestIdFilter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "landgis", "filters": ["request_id"],
                                "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            # alembic announces its plugins at INFO whenever it is imported
            "alembic.runtime.plugins": {"level": "DEBUG" if level == "DEBUG" else "WARNING"},
        },
    }


def configure_logging(settings: Settings) -> None:
    logging.config.dictConfig(logging_config(settings))


# --- request id and access log -------------------------------------------------------------------------------

class RequestContextMiddleware:
    """Pure ASGI: request id (contextvar, ``request.state.request_id``, response header) and the access line.

    It wraps Starlette's whole stack, ServerErrorMiddleware included, so the 500 answer of an unexpected
    exception carries the header too and its handler still sees the request id.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request_id = _incoming_id(scope) or uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        header = (b"x-request-id", request_id.encode("ascii"))
        started = time.perf_counter()
        sent = {"status": None, "bytes": 0}

        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start":
                sent["status"] = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            elif message["type"] == "http.response.body":
                sent["bytes"] += len(message.get("body", b""))
            await send(message)

        token = _request_id.set(request_id)
        failed = True
        try:
            await self.app(scope, receive, send_with_id)
            failed = False
        finally:
            if access_log.isEnabledFor(logging.INFO):
                _log_request(scope, state, sent, (time.perf_counter() - started) * 1000, failed)
            if not failed:
                # after an exception the id stays set, so the server's own traceback line carries it too
                # (each request runs in its own task: nothing leaks into the next one)
                _request_id.reset(token)


def _incoming_id(scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = value.decode("latin-1").strip()
            return candidate if _SANE_ID.fullmatch(candidate) else None
    return None


def route_template(scope) -> str | None:
    """The path template of the route that served ``scope`` (``/api/v1/parcels/{code}``), None if none.

    FastAPI leaves the route in the scope. Where it is missing (no route matched, or a middleware passed a
    copy of the scope down: ``/ogc`` paths with a trailing slash) the app's routes are matched again, the
    path without that slash too. Only templates come back, never a raw path: as a metric label a raw path
    would give every scanned URL a time series of its own.
    """
    if "landgis.route" in scope:
        return scope["landgis.route"]
    route = scope.get("route")
    template = getattr(route, "path", None) if route is not None else None
    app = scope.get("app")
    if template is None and app is not None:
        path = scope.get("path", "")
        routes = _flat_routes(app)
        for candidate in (path, path.rstrip("/")) if len(path) > 1 and path.endswith("/") else (path,):
            template = _match({**scope, "path": candidate}, routes)
            if template is not None:
                break
    scope["landgis.route"] = template
    return template


def _flat_routes(app) -> list:
    """The app's routes with FastAPI's included routers flattened, cached until routes are added."""
    routes = app.routes
    cached = getattr(app.state, "_landgis_routes", None)
    if cached is None or cached[0] != len(routes):
        cached = (len(routes), [r for r in _effective_routes(routes) if isinstance(getattr(r, "path", None), str)])
        app.state._landgis_routes = cached
    return cached[1]


def _match(scope, routes) -> str | None:
    """The template of the first route matching fully, else of the first matching partly (wrong method)."""
    partial = None
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route.path
        if match is Match.PARTIAL and partial is None:
            partial = route.path
    return partial


def _log_request(scope, state: Mapping[str, Any], sent: Mapping[str, Any], duration_ms: float, failed: bool) -> None:
    status = sent["status"] or (500 if failed else 0)
    client = scope.get("client")
    path = scope.get("path", "")[:1024]
    fields = {
        "method": scope.get("method"),
        "path": path,
        "route": route_template(scope),
        "status": status,
        "duration_ms": round(duration_ms, 2),
        "bytes": sent["bytes"],
        "client": client[0] if client else None,
    }
    if state.get(TOKEN_ID_STATE):
        fields["token_id"] = str(state[TOKEN_ID_STATE])
    access_log.log(logging.WARNING if status >= 500 else logging.INFO, "%s %s %s %.1fms", fields["method"], path,
                   status, duration_ms, extra={**fields, "request_id": state.get("request_id")})


# --- metrics -------------------------------------------------------------------------------------------------

CHECKS = Counter("landgis_checks", "Checks recorded, by operation and verdict", ["operation", "verdict"])
CHECK_RULES = Counter("landgis_check_rules", "Rule results of recorded checks, by rule id and status",
                      ["rule", "status"])
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
REQUEST_LATENCY = Histogram("http_request_duration_seconds", "Duration of HTTP requests in seconds, by route "
                            "template (handler; 'none': no route), method and status class",
                            ["handler", "method", "status"], buckets=LATENCY_BUCKETS)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def count_check(operation: str, report: Mapping[str, Any]) -> None:
    """Count one recorded check (called by app.services.checks once the check's transaction committed)."""
    CHECKS.labels(str(report.get("operation") or operation), str(report.get("verdict"))).inc()
    for result in report.get("results") or ():
        CHECK_RULES.labels(str(result.get("rule")), str(result.get("status"))).inc()


class PoolCollector(Collector):
    """The app's database pools, read when scraped: the SQLAlchemy engines and the async psycopg pool."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.extra = {"pid": str(os.getpid())} if os.environ.get("PROMETHEUS_MULTIPROC_DIR") else {}

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        labels = ["pool", *self.extra]
        fams = {name: GaugeMetricFamily(f"landgis_db_pool_{name}", doc, labels=labels) for name, doc in (
            ("size", "Configured pool size (SQLAlchemy pool_size; psycopg max_size)"),
            ("connections", "Connections the pool holds open now"),
            ("checked_out", "Connections lent out now"),
            ("overflow", "SQLAlchemy connections open beyond pool_size"),
            ("waiting", "Requests waiting for a connection (psycopg pool)"),
        )}
        errors = CounterMetricFamily("landgis_db_pool_errors", "Failed connection requests and lost connections "
                                     "(psycopg pool)", labels=labels)
        state = self.app.state
        engines = {"primary": getattr(state, "engine", None)}
        read_engine = getattr(state, "read_engine", None)
        if read_engine is not None and read_engine is not engines["primary"]:
            engines["read"] = read_engine
        for name, engine in engines.items():
            pool = getattr(engine, "pool", None)
            if pool is None or not hasattr(pool, "checkedout"):
                continue
            values = [name, *self.extra.values()]
            fams["size"].add_metric(values, pool.size())
            fams["checked_out"].add_metric(values, pool.checkedout())
            fams["connections"].add_metric(values, pool.checkedin() + pool.checkedout())
            fams["overflow"].add_metric(values, max(pool.overflow(), 0))
        read_pool = getattr(state, "read_pool", None)
        if read_pool is not None:
            stats = read_pool.get_stats()
            values = ["ogc", *self.extra.values()]
            fams["size"].add_metric(values, stats.get("pool_max", read_pool.max_size))
            fams["connections"].add_metric(values, stats.get("pool_size", 0))
            fams["checked_out"].add_metric(values, stats.get("pool_size", 0) - stats.get("pool_available", 0))
            fams["waiting"].add_metric(values, stats.get("requests_waiting", 0))
            errors.add_metric(values, stats.get("requests_errors", 0) + stats.get("connections_lost", 0))
        yield from fams.values()
        yield errors


def _metrics_endpoint(request: Request) -> Response:
    """Prometheus text exposition: this process's (or, in multiprocess mode, all workers') metrics, then the
    pools of the worker that answers."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    pools = CollectorRegistry(auto_describe=False)
    pools.register(PoolCollector(request.app))
    return Response(generate_latest(registry) + generate_latest(pools), media_type=CONTENT_TYPE_LATEST)


def _install_metrics(app: FastAPI) -> None:
    def observe(info) -> None:
        handler = route_template(info.request.scope) or "none"
        method = info.method if info.method in _METHODS else "other"
        REQUEST_LATENCY.labels(handler, method, info.modified_status).observe(info.modified_duration)

    Instrumentator(
        should_group_status_codes=True,  # status class: 2xx, 4xx, 5xx
        should_group_untemplated=True,
        excluded_handlers=["^/metrics$"],
    ).add(observe).instrument(app)
    app.add_api_route("/metrics", _metrics_endpoint, methods=["GET"], include_in_schema=False)


# --- wiring --------------------------------------------------------------------------------------------------

def install_observability(app: FastAPI, settings: Settings) -> None:
    """Request ids and access log around the whole app, ``/metrics`` (unless ``LANDGIS_METRICS=false``),
    check counters; and the logging configuration if nothing configured logging before (uvicorn run
    without ``landgis serve``'s ``log_config``)."""
    from app.services import checks

    if not logging.getLogger().handlers:
        configure_logging(settings)
    checks.on_recorded(count_check)
    if settings.metrics:
        _install_metrics(app)
    build_stack = app.build_middleware_stack

    def build_middleware_stack():
        return RequestContextMiddleware(build_stack())

    # the instance attribute wraps Starlette's stack from outside (add_middleware would land inside
    # ServerErrorMiddleware, whose 500 answers would then miss the request id)
    app.build_middleware_stack = build_middleware_stack
