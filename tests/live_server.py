"""A real HTTP server for client tests: the app under uvicorn in a background thread on a free port."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn

from app.main import create_app

__all__ = ["LiveServer", "live_server"]


@dataclass
class LiveServer:
    """The base URL of a running server and the request lines (``path?query``) it has received."""

    url: str
    requests: list[str] = field(default_factory=list)

    def requests_since(self, mark: int) -> list[str]:
        return self.requests[mark:]


class _Recorder:
    """ASGI wrapper that records each HTTP request's path and raw query string."""

    def __init__(self, app, log: list[str]):
        self.app, self.log = app, log

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            query = scope.get("query_string", b"").decode("latin-1")
            self.log.append(scope["path"] + (f"?{query}" if query else ""))
        await self.app(scope, receive, send)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_server(settings, timeout: float = 20.0):
    """Serve ``create_app(settings)`` on 127.0.0.1 until the block ends; yields a :class:`LiveServer`."""
    port = _free_port()
    live = LiveServer(f"http://127.0.0.1:{port}")
    config = uvicorn.Config(_Recorder(create_app(settings), live.requests), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="on", proxy_headers=False)  # as `landgis serve`
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{live.url}/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the live server on port {port} did not start")
            time.sleep(0.05)
        live.requests.clear()
        yield live
    finally:
        server.should_exit = True
        thread.join(timeout=10)
