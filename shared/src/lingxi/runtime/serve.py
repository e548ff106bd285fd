"""Run a service's ASGI app under uvicorn with Lingxi's logging and settings."""

from __future__ import annotations

from typing import Any

import uvicorn

from lingxi.runtime.settings import ServiceSettings


def serve(app: Any, settings: ServiceSettings) -> None:
    """Serve until SIGINT/SIGTERM; in-flight messages get ``graceful_timeout_s`` to finish."""
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,  # logging is already configured by the Service
        lifespan="on",
        timeout_graceful_shutdown=int(settings.graceful_timeout_s) or None,
    )
