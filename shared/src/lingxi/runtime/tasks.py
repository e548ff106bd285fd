"""Stopping a background task for sure.

One ``task.cancel()`` is not always enough on Python 3.11: ``asyncio.wait_for`` swallows a
cancellation that arrives just as the call it wraps finishes (fixed in 3.12), and redis-py wraps
every command it sends in ``wait_for`` when the connection has a socket timeout (the default). A
polling loop cancelled during a Redis call then carries on, and whoever awaits it waits forever:
this hung a service's shutdown. ``stop_task`` cancels again until the task has ended.
"""

from __future__ import annotations

import asyncio
from typing import Any

from lingxi.logging import get_logger

__all__ = ["stop_task"]

log = get_logger("lingxi.runtime")

RECANCEL_EVERY_S = 0.05


async def stop_task(task: asyncio.Task[Any] | None, *, timeout_s: float = 5.0) -> bool:
    """Cancel ``task`` and wait until it has ended; whether it ended within ``timeout_s``.

    A task that raised before it was stopped has its error logged (once, here, rather than by
    asyncio's "exception was never retrieved" at garbage collection). A cancellation of the caller
    is not swallowed: it propagates as usual.
    """
    if task is None:
        return True
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not task.done():
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            log.warning("background task did not stop", task=task.get_name(), waited_s=timeout_s)
            return False
        task.cancel()
        await asyncio.wait({task}, timeout=min(RECANCEL_EVERY_S, left))
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("background task had failed", task=task.get_name(), error=repr(error))
    return True
