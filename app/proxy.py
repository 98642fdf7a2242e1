"""Requests through a trusted reverse proxy: the client's address and scheme, and whether to believe it.

uvicorn's own proxy-header handling (``--proxy-headers``) rewrites the client address before the app
sees the request, so the app could no longer tell that the request came through a trusted proxy and
would ignore ``X-Forwarded-Host`` / ``-Prefix`` when it builds absolute links (OGC API, ``next`` links).
This middleware does the same rewriting inside the app, after noting whether the TCP peer is one of
``LANDGIS_FORWARDED_ALLOW_IPS`` (addresses or networks, ``*`` for any); ``landgis serve`` therefore runs
uvicorn with its proxy headers off.
"""

from __future__ import annotations

from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

__all__ = ["TRUSTED_PROXY", "ForwardedMiddleware"]

TRUSTED_PROXY = "landgis.trusted_proxy"  # scope key: the request's TCP peer is a trusted proxy


class ForwardedMiddleware:
    def __init__(self, app, trusted_hosts: str) -> None:
        self.inner = ProxyHeadersMiddleware(app, trusted_hosts=trusted_hosts)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] in ("http", "websocket"):
            peer = scope.get("client")
            scope[TRUSTED_PROXY] = bool(peer) and peer[0] in self.inner.trusted_hosts
        await self.inner(scope, receive, send)
