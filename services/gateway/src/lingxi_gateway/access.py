"""One log line per HTTP request, as a pure ASGI middleware (Starlette's BaseHTTPMiddleware costs a
task and a memory stream per request: measured as a large share of the gateway's CPU under load).

A request that started a flow answers with ``X-Request-Id``; the line carries it as ``request_id``, the
correlation id of every event of the flow, so ``lingxi logs`` and ``lingxi trace`` find the request's
own line among the others."""

from __future__ import annotations

import time

from lingxi.logging import get_logger
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_log = get_logger("lingxi.gateway.http")
REQUEST_ID_HEADER = b"x-request-id"


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        request_id: str | None = None

        async def recording_send(message: Message) -> None:
            nonlocal status, request_id
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name.lower() == REQUEST_ID_HEADER:
                        request_id = value.decode("latin-1")
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            _log.info(
                "http request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                **({"request_id": request_id} if request_id else {}),
            )
