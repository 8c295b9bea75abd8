"""Counts every HTTP request by route template, method and status (ASGI middleware).

The route is the template that matched (``/v2/models/{name}/infer``), never the raw path, so a
scan of made-up URLs cannot grow the series: unmatched paths count as ``unmatched``. A streamed
response (SSE) counts when its last byte is sent; a WebSocket counts as status 101 when it ends.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime.metrics.metrics import Metrics


def route_of(scope: Scope) -> str:
    """The template of the route that served ``scope`` (the router records it), or
    ``unmatched``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else "unmatched"


class MeasureRequests:
    """ASGI middleware: one modelrt_http_requests_total count and duration per request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status: dict[str, Any] = {"code": 101 if scope["type"] == "websocket" else 500}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            elif message["type"] == "websocket.close":
                status["code"] = 101
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            method = "WS" if scope["type"] == "websocket" else scope.get("method", "GET")
            elapsed = time.perf_counter() - start
            self.metrics.observe_http(route_of(scope), method, status["code"], elapsed)
