"""Each consumer's backlog as Prometheus gauges: what an operator scales on and alerts on.

Every replica of a service looks, every ``backlog_poll_s`` and with a Redis client of its own (so it
never waits for the handlers' connections), at the streams it consumes: its group's ``lag`` (entries not
yet delivered to the group) and ``pending`` (delivered, not yet acknowledged), from ``XINFO GROUPS``, and
the length of each stream's dead-letter stream. All replicas of a service report the same figures (they
are the group's), so a dashboard takes ``max by (service, stream)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import Gauge
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from lingxi.events.registry import dead_letter_stream

__all__ = ["DEAD_LETTERS", "LAG", "PENDING", "Backlog", "group_name", "observe_backlog", "record_backlog"]

LAG = Gauge(
    "lingxi_stream_lag",
    "Entries of the stream not yet delivered to the service's consumer group (unknown: not reported).",
    ["service", "stream"],
)
PENDING = Gauge(
    "lingxi_stream_pending",
    "Entries delivered to the service's consumer group and not yet acknowledged.",
    ["service", "stream"],
)
DEAD_LETTERS = Gauge(
    "lingxi_dead_letter_entries",
    "Entries in the stream's dead-letter stream (<stream>.dlq), waiting for an operator.",
    ["service", "stream"],
)


@dataclass(frozen=True, slots=True)
class Backlog:
    stream: str
    lag: int | None
    """None when Redis cannot tell (entries deleted from the stream since the group last read)."""
    pending: int
    dead_letters: int


async def observe_backlog(redis: Redis, group: str, streams: Sequence[str]) -> list[Backlog]:
    """The group's backlog on each stream (a stream or group not there yet: 0)."""
    out = []
    for stream in streams:
        try:
            groups: list[dict[str, Any]] = await redis.xinfo_groups(stream)
        except ResponseError:  # no such stream yet
            groups = []
        mine = next((g for g in groups if group_name(g) == group), {})
        lag = mine.get("lag", 0)
        dead = await redis.xlen(dead_letter_stream(stream))
        out.append(Backlog(stream, None if lag is None else int(lag), int(mine.get("pending", 0)), int(dead)))
    return out


def record_backlog(service: str, backlogs: Sequence[Backlog]) -> None:
    for backlog in backlogs:
        LAG.labels(service, backlog.stream).set(float("nan") if backlog.lag is None else backlog.lag)
        PENDING.labels(service, backlog.stream).set(backlog.pending)
        DEAD_LETTERS.labels(service, backlog.stream).set(backlog.dead_letters)


def group_name(group: Mapping[str, Any]) -> str:
    """A group's name in what ``XINFO GROUPS`` says of it (bytes, or text with decoding on)."""
    name = group.get("name")
    return name.decode() if isinstance(name, bytes) else str(name)
