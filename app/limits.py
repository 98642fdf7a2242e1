"""A request-body limit as pure ASGI middleware: 413 problem+json before the body is read in full."""

from __future__ import annotations

import orjson

__all__ = ["BodyLimitMiddleware"]


def _problem(limit: int) -> bytes:
    return orjson.dumps({
        "type": "https://landgis.tiantai.example/problems/body-too-large",
        "title": "请求体过大 / Content Too Large", "status": 413, "code": "body-too-large",
        "detail": f"请求体超过 {limit} 字节 / the request body exceeds {limit} bytes",
        "detail_zh": f"请求体超过 {limit} 字节", "detail_en": f"the request body exceeds {limit} bytes",
    })


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Refuse bodies over ``max_bytes`` (by Content-Length, or while streaming a chunked body)."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def _send_413(self, send) -> None:
        body = _problem(self.max_bytes)
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._send_413(send)
                    return
        seen = 0
        started = False

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._send_413(send)
