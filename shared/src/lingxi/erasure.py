"""Erasing a user from Redis streams: what a service that owns user-naming events does on erasure.

Events stay in their streams until trimmed, so erasing a user (PIPL; ``user.erasure.requested``) means
removing the entries that name them, not only the keys derived from them. ``scrub_streams`` walks the
given streams and their dead-letter streams and deletes (XDEL) every entry whose event has the user's
``user_id``. Each stream is scrubbed by one service, the one that answers for it (architecture.md):
the gateway for what enters through it or from partners, each service for what it publishes.

The walk reads a stream in pages of ``page`` entries: its cost grows with the stream's length, which is
one reason streams are trimmed to a retention period. Entries added while it runs, after its last page,
are not seen: they come from before the erasure only if a publisher is very late, and the consumers
refuse to rebuild an erased user's data from them (personalization: consent is gone).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from redis.asyncio import Redis

from lingxi.events.registry import dead_letter_stream
from lingxi.runtime.envelope import decode_entry

__all__ = ["scrub_streams"]


async def scrub_streams(
    redis: Redis, streams: Iterable[str], user_id: str, *, page: int = 1000
) -> list[dict[str, Any]]:
    """Delete the entries of ``streams`` (and of their dead-letter streams) whose event names
    ``user_id``; returns those events (their JSON objects), in the order found."""
    removed: list[dict[str, Any]] = []
    for stream in streams:
        for name in (stream, dead_letter_stream(stream)):
            removed += await _scrub(redis, name, user_id, page)
    return removed


async def _scrub(redis: Redis, stream: str, user_id: str, page: int) -> list[dict[str, Any]]:
    removed: list[dict[str, Any]] = []
    start = "-"
    while True:
        entries = await redis.xrange(stream, min=start, max="+", count=page) or []
        doomed: list[bytes | str] = []
        for entry_id, fields in entries:
            event = _event(fields)
            if entry_id is not None and event is not None and event.get("user_id") == user_id:
                doomed.append(entry_id)
                removed.append(event)
        if doomed:
            await redis.xdel(stream, *doomed)
        if len(entries) < page:
            return removed
        last = entries[-1][0] or b""
        start = "(" + (last.decode() if isinstance(last, bytes) else last)  # after the last one seen


def _event(fields: Any) -> dict[str, Any] | None:
    """The entry's event as a JSON object, or None for an entry that holds none (garbage: not ours)."""
    try:
        text, _ = decode_entry(fields)
        event = json.loads(text)
    except (ValueError, TypeError, UnicodeDecodeError):
        return None
    return event if isinstance(event, dict) else None
