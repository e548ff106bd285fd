"""Run a service's ASGI app under uvicorn with Lingxi's logging and settings."""

from __future__ import annotations

import gc
import signal
import sys
from types import FrameType
from typing import Any

import uvicorn

from lingxi.logging import flush_logs
from lingxi.runtime.service import EXIT_SUBSCRIBER_LOST, Service


def _flush_logs_then_terminate(signum: int, _frame: FrameType | None) -> None:
    flush_logs()
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)


def serve(app: Any, service: Service) -> None:
    """Serve until SIGINT/SIGTERM; in-flight messages get ``graceful_timeout_s`` to finish.

    Exits with status 70 when the service stopped itself because a subscriber was lost, so that a
    supervisor (``lingxi up``, Docker, Kubernetes) restarts it.
    """
    settings = service.settings
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.http_host,
            port=settings.http_port,
            log_config=None,  # logging is already configured by the Service
            lifespan="on",
            timeout_graceful_shutdown=int(settings.graceful_timeout_s) or None,
        )
    )

    def shut_down() -> None:
        server.should_exit = True

    service.on_fatal = shut_down
    # Everything imported so far lives as long as the process: move it out of the collector's reach,
    # so full collections stay short instead of pausing every request for tens of milliseconds.
    gc.collect()
    gc.freeze()
    # A handler taking a read of thousands of records allocates objects by the hundred thousand: with the
    # default thresholds (700, 10, 10) the collector runs every few hundred of them and dominates the
    # read (maintenance: a quarter of its time). Young collections every 10,000 allocations, older
    # ones rarer still; the services make little cyclic garbage, so memory barely moves.
    gc.set_threshold(10_000, 50, 100)
    # uvicorn ends a SIGTERM shutdown by raising the signal again under the handler that was there
    # before it: this one writes the lines still queued (lingxi.logging), then dies of the signal.
    signal.signal(signal.SIGTERM, _flush_logs_then_terminate)
    server.run()
    if service.fatal:
        sys.exit(EXIT_SUBSCRIBER_LOST)
