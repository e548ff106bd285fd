"""Trimming the streams a service reads and publishes, so Redis does not grow with every event ever published.

An entry may go once every consumer group of its stream has acknowledged it: it lies below every
group's oldest pending entry and below every group's last delivered entry. Such entries are kept
for ``stream_retention_s`` more (operators read recent traffic with ``lingxi tail``), then removed
with ``XTRIM MINID``. Each replica trims the streams its service consumes and publishes
(``Service.publishes``), looking at all groups of a stream, so a stream read by several services, or
by a partner's group, keeps what the slowest of them still needs. A stream no group reads is left as
it is: whoever reads it (with ``XREAD``) has not said what they still need.

A consumer group created later (a service deployed after the others) starts from what is left: the
retention window, not the stream's whole history.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from lingxi.runtime.backlog import group_name

__all__ = ["TRIMMED", "first_needed_id", "trim_acknowledged"]

TRIMMED = Counter(
    "lingxi_stream_trimmed_entries",
    "Entries removed from a stream after every group had acknowledged them.",
    ["service", "stream"],
)

StreamId = tuple[int, int]


def parse_id(value: bytes | str) -> StreamId:
    text = value.decode() if isinstance(value, bytes) else value
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def first_needed_id(
    groups: Sequence[Mapping[str, Any]], oldest_pending: Mapping[str, StreamId]
) -> StreamId | None:
    """The smallest entry id some group may still read or has not yet acknowledged.

    ``groups`` is what ``XINFO GROUPS`` says of each group; ``oldest_pending`` the oldest pending id
    of each group that has any (``XPENDING``). None when the stream has no group: nobody has said
    what they still need, so nothing may go.
    """
    needed: list[StreamId] = []
    for group in groups:
        name = group_name(group)
        if name in oldest_pending:
            needed.append(oldest_pending[name])
        else:
            ms, seq = parse_id(group["last-delivered-id"])
            needed.append((ms, seq + 1))  # everything up to the last delivered entry is acknowledged
    return min(needed, default=None)


async def trim_acknowledged(
    redis: Redis, service: str, streams: Sequence[str], *, retention_s: float, now_ms: int | None = None
) -> dict[str, int]:
    """Remove what every group has acknowledged and is older than ``retention_s``; removed per stream."""
    now_ms = round(time.time() * 1000) if now_ms is None else now_ms
    floor: StreamId = (max(now_ms - round(retention_s * 1000), 0), 0)
    removed: dict[str, int] = {}
    for stream in streams:
        try:
            groups: list[dict[str, Any]] = await redis.xinfo_groups(stream)
        except ResponseError:  # no such stream yet
            continue
        oldest_pending: dict[str, StreamId] = {}
        for group in groups:
            if int(group.get("pending", 0)):
                name = group_name(group)
                summary = await redis.xpending(stream, name)
                if summary.get("min") is not None:
                    oldest_pending[name] = parse_id(summary["min"])
        needed = first_needed_id(groups, oldest_pending)
        if needed is None:
            continue
        below = min(needed, floor)
        if below <= (0, 1):
            continue
        count = int(await redis.xtrim(stream, minid=f"{below[0]}-{below[1]}", approximate=False))
        if count:
            TRIMMED.labels(service, stream).inc(count)
            removed[stream] = count
    return removed
