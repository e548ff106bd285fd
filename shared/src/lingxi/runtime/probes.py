"""Liveness, readiness and metrics as plain ASGI apps, usable by every service (FastAPI or not)."""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from faststream.asgi.types import Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

if TYPE_CHECKING:
    from lingxi.runtime.service import Service

Responder = Callable[[], Awaitable[tuple[int, bytes, str]]]


class ProbeApp:
    """A GET-only ASGI app answering from ``respond()``; a class so Starlette mounts it as an app."""

    def __init__(self, respond: Responder) -> None:
        self.respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status, body, content_type = await self.respond()
        headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def probe_routes(service: Service) -> list[tuple[str, ProbeApp]]:
    """``/healthz`` (the process answers), ``/readyz`` (Redis reachable, consuming), ``/metrics``."""

    async def healthz() -> tuple[int, bytes, str]:
        body = {
            "status": "ok",
            "service": service.name,
            "replica": service.settings.replica,
            "pid": os.getpid(),
        }
        return 200, _json(body), "application/json"

    async def readyz() -> tuple[int, bytes, str]:
        report = await service.readiness()
        return (200 if report["ready"] else 503), _json(report), "application/json"

    async def metrics() -> tuple[int, bytes, str]:
        return 200, generate_latest(service.registry), CONTENT_TYPE_LATEST

    return [("/healthz", ProbeApp(healthz)), ("/readyz", ProbeApp(readyz)), ("/metrics", ProbeApp(metrics))]
