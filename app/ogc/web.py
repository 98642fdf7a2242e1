"""Web plumbing of the OGC API: absolute links behind proxies, JSON/HTML negotiation, conditional requests."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from functools import lru_cache
from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from app.errors import ProblemError
from app.proxy import TRUSTED_PROXY

__all__ = ["base_url", "cache_control", "conditional", "render_html", "revalidate", "validators", "wants_html"]


def _forwarded(header: str) -> dict[str, str]:
    """The first element of an RFC 7239 ``Forwarded`` header as a dict (``proto``, ``host``, …)."""
    out: dict[str, str] = {}
    for pair in header.split(",")[0].split(";"):
        k, _, v = pair.strip().partition("=")
        if k and v:
            out[k.strip().lower()] = v.strip().strip('"')
    return out


def _trusted(request: Request) -> bool:
    """Whether the request's TCP peer is a trusted proxy (noted by :class:`app.proxy.ForwardedMiddleware`)."""
    return bool(request.scope.get(TRUSTED_PROXY))


def base_url(request: Request) -> str:
    """The service's absolute base URL (no trailing slash) as the client sees it.

    ``LANDGIS_PUBLIC_URL`` wins; otherwise ``Forwarded`` or ``X-Forwarded-Proto/-Host/-Port/-Prefix`` from
    a trusted proxy (``LANDGIS_FORWARDED_ALLOW_IPS``, loopback by default); otherwise the request's own.
    """
    settings = request.app.state.settings
    if settings.public_url:
        return settings.public_url.rstrip("/")
    scheme, host = request.url.scheme, request.headers.get("host") or request.url.netloc
    prefix = request.scope.get("root_path", "")
    h = request.headers
    if _trusted(request):
        fwd = _forwarded(h["forwarded"]) if "forwarded" in h else {}
        scheme = fwd.get("proto") or h.get("x-forwarded-proto", "").split(",")[0].strip() or scheme
        host = fwd.get("host") or h.get("x-forwarded-host", "").split(",")[0].strip() or host
        port = h.get("x-forwarded-port", "").split(",")[0].strip()
        if port and ":" not in host and port not in ("80", "443"):
            host = f"{host}:{port}"
        prefix = h.get("x-forwarded-prefix", "").split(",")[0].strip().rstrip("/") or prefix
    return f"{scheme}://{host}{prefix}"


def wants_html(request: Request, f: str | None, allowed: tuple[str, ...] = ("json", "html")) -> bool:
    """``f`` decides; without it, HTML only when the client prefers it (browsers); no Accept → JSON."""
    if f is not None:
        f = f.lower()
        if f not in allowed:
            raise ProblemError(400, "unsupported-format", f"不支持的格式 f={f}；可用：{', '.join(allowed)}",
                               f"unsupported format f={f}; use one of {', '.join(allowed)}", pointer="/query/f")
        return f == "html"
    accept = request.headers.get("accept", "")
    best, best_q = None, -1.0
    for part in accept.split(","):
        media, *params = [x.strip() for x in part.split(";")]
        q = 1.0
        for p in params:
            if p.startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        if media in ("text/html", "application/xhtml+xml") and q > best_q:
            best, best_q = "html", q
        elif (media.endswith("json") or media == "*/*") and q > best_q:
            best, best_q = "json", q
    return best == "html"


def validators(version: int, changed_at: datetime, *parts: object) -> tuple[str, str]:
    """(weak ETag, Last-Modified) of a representation: the register version plus what else shapes it."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=10).hexdigest()
    return f'W/"{version}-{digest}"', format_datetime(changed_at.astimezone(UTC).replace(microsecond=0), usegmt=True)


def cache_control(request: Request, directive: str) -> str:
    """``public`` when reads are anonymous (shared caches may keep it), else ``private``; then ``directive``."""
    scope = "public" if request.app.state.settings.anonymous_read else "private"
    return f"{scope}, {directive}"


def revalidate(request: Request, version: int, changed_at: datetime, parts: tuple, cache_control: str,
               headers: dict[str, str] | None = None) -> tuple[dict[str, str], Response | None]:
    """The caching headers of a representation (plus ``headers``), and a 304 if the client's copy is current."""
    etag, modified = validators(version, changed_at, *parts)
    out = {"ETag": etag, "Last-Modified": modified, "Cache-Control": cache_control, **(headers or {})}
    return out, conditional(request, out)


def conditional(request: Request, headers: dict[str, str]) -> Response | None:
    """A 304 carrying ``headers`` when the client's copy is current (If-None-Match, else If-Modified-Since)."""
    etag, last_modified = headers["ETag"], headers["Last-Modified"]
    inm = request.headers.get("if-none-match")
    if inm is not None:
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        if "*" in tags or etag.removeprefix("W/") in tags:
            return Response(status_code=304, headers=headers)
        return None
    ims = request.headers.get("if-modified-since")
    if ims:
        try:
            if parsedate_to_datetime(ims) >= parsedate_to_datetime(last_modified):
                return Response(status_code=304, headers=headers)
        except (TypeError, ValueError):
            return None
    return None


@lru_cache(maxsize=1)
def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                      autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    return env


def render_html(template: str, status: int = 200, headers: dict[str, str] | None = None, **context) -> HTMLResponse:
    return HTMLResponse(_env().get_template(template).render(**context), status_code=status, headers=headers)
