"""Helpers for the chaos tests: publish a flow of queries, and count what came out."""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from uuid import UUID, uuid4

import pytest
import redis
from lingxi.events import AnswerDrafted, AnswerReleased, QueryReceived, Region
from lingxi.runtime.envelope import decode_entry, encode_entry

# Short idle time so reclaimers take over a dead replica's entries within a second.
FAST_RECOVERY = {"LINGXI_RECLAIM_IDLE_MS": "1000", "LINGXI_RECLAIM_POLL_MS": "100", "LINGXI_BLOCK_MS": "200"}

TEXTS = ["明天早上七点叫我起床", "set a timer for 10 minutes", "打开微信", "call mom", "今天会下雨吗"]


def query(n: int, text: str | None = None) -> QueryReceived:
    chosen = text or TEXTS[n % len(TEXTS)]
    return QueryReceived(
        region=Region.CN,
        request_id=uuid4(),
        device_id=f"chaos-{n % 17}",
        text=chosen,
        locale="zh-CN" if any("\u4e00" <= c <= "\u9fff" for c in chosen) else "en-US",
    )


def entry(event: QueryReceived) -> dict[str, str]:
    return encode_entry(event.model_dump_json(), {"correlation_id": str(event.request_id)})


def publish_flow(
    client: redis.Redis, events: list[QueryReceived], *, per_second: float, during: Callable[[int], None]
) -> None:
    """Publish ``events`` at about ``per_second``, calling ``during(i)`` before the i-th."""
    started = time.monotonic()
    for i, event in enumerate(events):
        during(i)
        client.xadd(QueryReceived.stream, entry(event))  # type: ignore[arg-type]
        lag = started + (i + 1) / per_second - time.monotonic()
        if lag > 0:
            time.sleep(lag)


def answers_by_request(client: redis.Redis, stream: str = AnswerReleased.stream) -> collections.Counter[UUID]:
    model = AnswerReleased if stream == AnswerReleased.stream else AnswerDrafted
    counts: collections.Counter[UUID] = collections.Counter()
    for _, fields in client.xrange(stream):
        event_json, _ = decode_entry(fields)
        counts[model.model_validate_json(event_json).request_id] += 1
    return counts


def pending(client: redis.Redis, stream: str, group: str) -> int:
    try:
        return int(client.xpending(stream, group)["pending"])
    except redis.ResponseError:
        return 0


def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def client(redis_client: redis.Redis) -> redis.Redis:
    return redis_client
