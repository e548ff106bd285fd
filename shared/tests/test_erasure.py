"""Scrubbing a user's events from streams, dead letters included, on a real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis
from lingxi.erasure import scrub_streams
from lingxi.events import Region
from lingxi.events._values import Initiator
from lingxi.events.personalization import ConsentChanged, ConsentScope
from lingxi.events.registry import dead_letter_stream
from lingxi.runtime.delivery import stream_entry
from redis.asyncio import Redis

STREAM = ConsentChanged.stream


@pytest.fixture
async def client(redis_client: redis.Redis, redis_url: str) -> AsyncIterator[Redis]:
    async_client = Redis.from_url(redis_url)
    yield async_client
    await async_client.aclose()


def change(user_id: str) -> ConsentChanged:
    return ConsentChanged(
        region=Region.CN,
        user_id=user_id,
        granted_scopes=[ConsentScope.PERSONALISATION],
        changed_by=Initiator.USER,
    )


async def test_only_the_users_entries_go_across_pages_and_dead_letters(client: Redis) -> None:
    kept, gone = [], []
    for n in range(25):  # more than a page, interleaved
        event = change("u-gone" if n % 3 == 0 else "u-kept")
        (gone if n % 3 == 0 else kept).append(str(event.event_id))
        await client.xadd(STREAM, stream_entry(event, str(event.event_id)))
    dead = change("u-gone")
    await client.xadd(dead_letter_stream(STREAM), {**stream_entry(dead, "c"), "dlq.reason": "test"})
    await client.xadd(STREAM, {"garbage": "not an event"})

    removed = await scrub_streams(client, [STREAM, "no.such.stream"], "u-gone", page=4)

    assert [e["event_id"] for e in removed] == [*gone, str(dead.event_id)]
    left = await client.xrange(STREAM)
    assert len(left) == len(kept) + 1  # the others' entries and the garbage stay
    assert await client.xlen(dead_letter_stream(STREAM)) == 0
    assert await scrub_streams(client, [STREAM], "u-gone") == []  # nothing more to find
