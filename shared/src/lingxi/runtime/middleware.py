"""Binds the log context of one message once, and writes the one line that says how it went.

Every line logged while a message is handled carries service, replica, stream, entry_id,
correlation_id and (once validated) event_id; the closing line adds outcome and duration_ms.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import structlog
from faststream import BaseMiddleware
from faststream._internal.basic_types import AsyncFuncAny
from faststream._internal.context.repository import ContextRepo
from faststream.message import StreamMessage

from lingxi.logging import get_logger

_log = get_logger("lingxi.handling")


def handling_middleware(service: str, replica: str) -> Any:
    """A broker middleware factory bound to this process's service and replica names."""

    class HandlingMiddleware(BaseMiddleware):
        async def consume_scope(self, call_next: AsyncFuncAny, msg: StreamMessage[Any]) -> Any:
            raw: dict[str, Any] = msg.raw_message if isinstance(msg.raw_message, dict) else {}
            batch = isinstance(raw.get("data"), list)
            structlog.contextvars.clear_contextvars()
            stream = raw.get("channel")
            structlog.contextvars.bind_contextvars(service=service, replica=replica, stream=stream)
            if not batch:  # a batch's events have their own ids: the runtime logs a line for each
                structlog.contextvars.bind_contextvars(
                    entry_id=entry_id(raw), correlation_id=msg.correlation_id
                )
            started = time.perf_counter()
            try:
                result = await call_next(msg)
            except Exception:
                context = structlog.contextvars.get_contextvars()
                outcome = context.get("outcome", "error")
                _log.warning(
                    "event handling failed",
                    outcome=outcome,
                    duration_ms=_elapsed_ms(started),
                    exc_info=True,
                )
                raise
            else:
                context = structlog.contextvars.get_contextvars()
                _log.info(
                    "batch handled" if batch else "event handled",
                    outcome=context.get("outcome", "ok"),
                    duration_ms=_elapsed_ms(started),
                )
                return result
            finally:
                structlog.contextvars.clear_contextvars()

    def build(msg: Any, /, *, context: ContextRepo) -> HandlingMiddleware:
        return HandlingMiddleware(msg, context=context)

    return build


def entry_id(raw_message: Mapping[str, Any]) -> str | None:
    """The Redis stream entry id (FastStream's ``message_id`` is a header value, not the entry id)."""
    ids = raw_message.get("message_ids") or ()
    if not ids:
        return None
    first = ids[0]
    return first.decode() if isinstance(first, bytes) else str(first)


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
