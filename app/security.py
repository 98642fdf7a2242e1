"""CORS, security headers and the write rate limit (issue 7).

Three pure ASGI middlewares (the service streams large downloads: nothing here reads or buffers a
response body, except the few-kilobyte Swagger UI pages whose inline script is hashed for their CSP):

* CORS, off unless ``LANDGIS_CORS_ORIGINS`` lists origins (Starlette's :class:`CORSMiddleware`, no
  credentials: clients send bearer tokens, not cookies);
* :class:`SecurityHeadersMiddleware`: ``X-Content-Type-Options: nosniff`` on every response, HSTS on
  every response that came over https, and on HTML pages a Content-Security-Policy the pages work
  with, ``X-Frame-Options``, ``Referrer-Policy`` and ``Permissions-Policy``;
* :class:`WriteRateLimitMiddleware`: a token bucket per bearer token for POST/PUT/PATCH/DELETE.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.middleware.cors import CORSMiddleware

from app.docs_ui import DOCS_PATHS
from app.errors import problem_response
from app.settings import Settings

__all__ = ["SecurityHeadersMiddleware", "TokenBuckets", "WriteRateLimitMiddleware", "app_csp", "cors_origins_error",
           "install_security"]

CORS_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]
CORS_ALLOW_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", "Accept", "If-None-Match", "X-Request-ID"]
CORS_EXPOSE_HEADERS = ["ETag", "Link", "Content-Crs", "Content-Disposition", "Retry-After", "X-Request-ID",
                       "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Policy"]
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
HSTS = "max-age=31536000"
PERMISSIONS_POLICY = ("accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), "
                      "payment=(), usb=()")
HTML_HEADERS = {"x-frame-options": "DENY", "referrer-policy": "same-origin", "permissions-policy": PERMISSIONS_POLICY}
_ORIGIN = re.compile(r"^https?://[^/?#\s]+$")
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)


def cors_origins_error(origins: list[str]) -> tuple[str, str] | None:
    """Why ``origins`` is not a usable CORS setting (Chinese, English), or None when it is.

    ``*`` alone means any origin. ``*`` beside named origins is refused rather than read as "any": whoever
    wrote it meant a short list, and would silently get every site on the web. An origin is
    ``scheme://host[:port]`` as a browser sends it: a path or trailing slash would never match.
    """
    if "*" in origins and len(origins) > 1:
        return ("CORS 来源中 * 不能与具体来源并列（单独的 * 表示任意来源）",
                "CORS origins: '*' cannot be combined with named origins ('*' alone means any origin)")
    bad = [o for o in origins if o != "*" and not _ORIGIN.match(o)]
    if bad:
        return (f"CORS 来源格式应为 scheme://host[:port]，不含路径或结尾斜杠：{', '.join(bad)}",
                f"CORS origins must be scheme://host[:port] without a path or trailing slash: {', '.join(bad)}")
    return None


def _basemap_source(basemap_url: str | None) -> str | None:
    """The CSP source of the basemap's host: ``https://{s}.tiles.example/{z}/…`` → ``https://*.tiles.example``."""
    if not basemap_url:
        return None
    parts = urlsplit(basemap_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    host = re.sub(r"^\{[^}]*\}", "*", parts.netloc.rpartition("@")[2])
    return f"{parts.scheme}://{host}" if "{" not in host else None


_CSP_TAIL = ("worker-src 'self' blob:", "child-src 'self' blob:", "object-src 'none'", "base-uri 'self'",
             "form-action 'self'", "frame-ancestors 'none'")


def app_csp(settings: Settings) -> str:
    """The policy of the service's own pages: the web map, the OGC HTML pages, the check report.

    Scripts only from the service itself. MapLibre runs its workers from ``blob:`` URLs and decodes tiles
    into ``blob:``/``data:`` images; the pages and the report (which the workbench opens as a ``blob:``
    document that inherits this policy) carry inline ``<style>`` and ``style=`` attributes, so styles
    allow ``'unsafe-inline'``. The optional raster basemap's host is added to ``img-src``/``connect-src``.
    """
    basemap = _basemap_source(settings.basemap_url)
    extra = f" {basemap}" if basemap else ""
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        f"img-src 'self' data: blob:{extra}",
        f"connect-src 'self'{extra}",
        "font-src 'self' data:",
        *_CSP_TAIL,
    ])


def docs_csp(script_hashes: list[str]) -> str:
    """The policy of ``/docs`` (Swagger UI) and ``/redoc``: the vendored scripts (app.docs_ui), and the page's
    own inline bootstrap script by hash."""
    hashes = "".join(f" 'sha256-{h}'" for h in script_hashes)
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self'{hashes}",
        "style-src 'self' 'unsafe-inline'",
        "font-src 'self' data:",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        *_CSP_TAIL,
    ])


def _script_hashes(body: bytes) -> list[str]:
    return [base64.b64encode(hashlib.sha256(m.group(1)).digest()).decode() for m in _INLINE_SCRIPT.finditer(body)]


class SecurityHeadersMiddleware:
    """Adds the security headers to responses without touching their bodies.

    A header the route set itself is left alone. HSTS is sent only when the request came over https: the
    scope's scheme, which uvicorn sets from ``X-Forwarded-Proto`` of a trusted proxy.
    """

    def __init__(self, app, *, csp: str, docs_paths: tuple[str, ...] = ()):
        self.app, self.csp, self.docs_paths = app, csp, docs_paths

    def _is_docs(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.docs_paths)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        https = scope.get("scheme") == "https"

        def decorate(message, csp: str) -> bool:
            headers = MutableHeaders(scope=message)
            headers.setdefault("x-content-type-options", "nosniff")
            if https:
                headers.setdefault("strict-transport-security", HSTS)
            if not headers.get("content-type", "").startswith("text/html"):
                return False
            headers.setdefault("content-security-policy", csp)
            for name, value in HTML_HEADERS.items():
                headers.setdefault(name, value)
            return True

        if not self._is_docs(scope["path"]):
            async def send_with_headers(message):
                if message["type"] == "http.response.start":
                    decorate(message, self.csp)
                await send(message)

            return await self.app(scope, receive, send_with_headers)

        # Swagger UI's page carries an inline bootstrap script whose text depends on root_path: hash what is sent
        start: dict | None = None
        chunks: list[bytes] = []

        async def send_docs(message):
            nonlocal start
            if message["type"] == "http.response.start":
                if MutableHeaders(scope=message).get("content-type", "").startswith("text/html"):
                    start = message
                    return
                decorate(message, self.csp)
            elif message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                body = b"".join(chunks)
                decorate(start, docs_csp(_script_hashes(body)))
                await send(start)
                message = {"type": "http.response.body", "body": body}
            await send(message)

        await self.app(scope, receive, send_docs)


class TokenBuckets:
    """Token buckets keyed by a digest, at most ``max_keys`` of them (least recently used dropped first).

    ``rate_per_minute`` tokens flow in per minute up to ``burst``; a request takes one.
    """

    def __init__(self, rate_per_minute: int, burst: int, *, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic):
        self.rate = rate_per_minute / 60.0
        self.burst, self.max_keys, self.clock = burst, max_keys, clock
        self._buckets: OrderedDict[bytes, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: bytes) -> tuple[bool, int, int]:
        """(allowed, tokens left, seconds until the next token when refused)."""
        now = self.clock()
        tokens, stamp = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - stamp) * self.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        retry = 0 if allowed else max(1, math.ceil((1.0 - tokens) / self.rate))
        return allowed, int(tokens), retry


def _bearer_key(scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, key = value.partition(b" ")
            key = key.strip()
            return key if scheme.lower() == b"bearer" and key else None
    return None


class WriteRateLimitMiddleware:
    """Token-authenticated writes (POST/PUT/PATCH/DELETE with ``Authorization: Bearer``), limited per token.

    The bucket is keyed by a SHA-256 digest of the token (the token itself is never kept), whether or not
    the token turns out valid: the limit comes before the database look-up. Writes without a token are not
    limited here; they are refused with 401 anyway. Over the limit: 429 ``rate-limited`` with
    ``Retry-After``; every limited route answers ``RateLimit-Limit``/``-Remaining``/``-Policy``.

    The buckets live in memory, per worker process: with N uvicorn workers (or N replicas) a token gets up
    to N times the configured rate. A limit shared across processes would need the database or Redis.
    """

    def __init__(self, app, *, rate_per_minute: int, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic):
        self.app = app
        self.rate = rate_per_minute
        self.burst = max(10, rate_per_minute // 6)
        self.buckets = TokenBuckets(rate_per_minute, self.burst, max_keys=max_keys, clock=clock)
        self.policy = f"{rate_per_minute};w=60;burst={self.burst}"

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            return await self.app(scope, receive, send)
        key = _bearer_key(scope)
        if key is None:
            return await self.app(scope, receive, send)
        allowed, remaining, retry = self.buckets.take(hashlib.sha256(key).digest())
        limit_headers = {"RateLimit-Limit": str(self.rate), "RateLimit-Remaining": str(remaining),
                         "RateLimit-Policy": self.policy}
        if not allowed:
            response = problem_response(
                429, "rate-limited",
                f"该令牌的写请求过于频繁（每分钟 {self.rate} 次），请 {retry} 秒后重试",
                f"too many write requests for this token ({self.rate} per minute); retry in {retry} s",
                headers={**limit_headers, "Retry-After": str(retry)})
            return await response(scope, receive, send)

        async def send_with_limits(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in limit_headers.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_limits)


def install_security(app: FastAPI, settings: Settings) -> None:
    """Add the rate limit, the security headers and (when configured) CORS, CORS outermost.

    CORS wraps the others so that a browser can read the 429 and the headers of any error. Refuses to build
    the app when ``cors_origins`` is unusable (see :func:`cors_origins_error`).
    """
    if settings.write_rate_per_minute > 0:
        app.add_middleware(WriteRateLimitMiddleware, rate_per_minute=settings.write_rate_per_minute)
    app.add_middleware(SecurityHeadersMiddleware, csp=app_csp(settings), docs_paths=DOCS_PATHS)
    if settings.cors_origins:
        error = cors_origins_error(settings.cors_origins)
        if error:
            raise ValueError(f"LANDGIS_CORS_ORIGINS: {error[0]} / {error[1]}")
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=CORS_METHODS,
                           allow_headers=CORS_ALLOW_HEADERS, expose_headers=CORS_EXPOSE_HEADERS,
                           allow_credentials=False, max_age=600)
