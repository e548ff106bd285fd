"""Binds the log context of one read once, and says when handling a read failed outright.

Every line logged while a read is handled carries service, replica and stream; the runtime binds
event_id, correlation_id and entry_id around each event and writes one "event handled" line per
event (``Service._deliver``). This middleware adds a DEBUG line per read, and a warning with the
traceback when the runtime itself fails (Redis gone mid-commit): the read's entries then stay
pending and the reclaimer takes them over.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from faststream import BaseMiddleware
from faststream._internal.basic_types import AsyncFuncAny
from faststream._internal.context.repository import ContextRepo
from faststream.message import StreamMessage

from lingxi.logging import get_logger


def handling_middleware(service: str, replica: str) -> Any:
    """A broker middleware factory bound to this process's service and replica names."""
    log = get_logger("lingxi.handling").bind()  # bound once: the logging configuration is set by now

    class HandlingMiddleware(BaseMiddleware):
        async def consume_scope(self, call_next: AsyncFuncAny, msg: StreamMessage[Any]) -> Any:
            raw: dict[str, Any] = msg.raw_message if isinstance(msg.raw_message, dict) else {}
            structlog.contextvars.clear_contextvars()
            structlog.contextvars.bind_contextvars(
                service=service, replica=replica, stream=raw.get("channel")
            )
            started = time.perf_counter()
            try:
                result = await call_next(msg)
            except Exception:
                log.warning("read handling failed", duration_ms=_elapsed_ms(started), exc_info=True)
                raise
            else:
                log.debug(
                    "read handled",
                    entries=len(raw.get("message_ids") or ()),
                    duration_ms=_elapsed_ms(started),
                )
                return result
            finally:
                structlog.contextvars.clear_contextvars()

    def build(msg: Any, /, *, context: ContextRepo) -> HandlingMiddleware:
        return HandlingMiddleware(msg, context=context)

    return build


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
