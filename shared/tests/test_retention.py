"""Trimming consumed streams on a real Redis: only what every group has acknowledged goes."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis
from lingxi.cli.asyncapi import installed_contracts
from lingxi.runtime.retention import TRIMMED, first_needed_id, trim_acknowledged
from redis.asyncio import Redis

STREAM = "retention.test"


@pytest.fixture
async def client(redis_client: redis.Redis, redis_url: str) -> AsyncIterator[Redis]:
    async_client = Redis.from_url(redis_url)
    yield async_client
    await async_client.aclose()


def test_what_is_needed_is_the_oldest_unacknowledged_or_unread_entry_of_any_group() -> None:
    groups = [
        {"name": b"fast", "last-delivered-id": b"1000-4", "pending": 0},
        {"name": b"slow", "last-delivered-id": b"900-0", "pending": 2},
    ]
    assert first_needed_id(groups, {}) == (900, 1)
    assert first_needed_id(groups, {"slow": (800, 3)}) == (800, 3)
    assert first_needed_id(groups[:1], {}) == (1000, 5)
    assert first_needed_id([], {}) is None  # no group has said what it needs


async def add(client: Redis, count: int, *, start_ms: int = 1000) -> list[str]:
    return [(await client.xadd(STREAM, {"n": str(i)}, id=f"{start_ms + i}-0")).decode() for i in range(count)]


async def read(client: Redis, group: str, count: int) -> list[str]:
    reply = await client.xreadgroup(group, "c1", {STREAM: ">"}, count=count)
    return [entry_id.decode() for entry_id, _ in reply[0][1]] if reply else []


async def remaining(client: Redis) -> list[str]:
    return [entry_id.decode() for entry_id, _ in await client.xrange(STREAM)]


async def test_entries_every_group_acknowledged_go_and_the_rest_stay(client: Redis) -> None:
    ids = await add(client, 10)
    await client.xgroup_create(STREAM, "fast", id="0")
    await client.xgroup_create(STREAM, "slow", id="0")
    await client.xack(STREAM, "fast", *await read(client, "fast", 8))  # fast: 8 read and acknowledged
    slow = await read(client, "slow", 6)
    await client.xack(STREAM, "slow", *slow[:2], *slow[3:])  # slow: the third still pending
    before = TRIMMED.labels("svc", STREAM)._value.get()

    removed = await trim_acknowledged(client, "svc", [STREAM], retention_s=0, now_ms=10**13)

    assert removed == {STREAM: 2}
    assert await remaining(client) == ids[2:]  # from slow's pending entry on
    assert TRIMMED.labels("svc", STREAM)._value.get() == before + 2
    # The groups' figures survive the trim: nothing they still need was deleted.
    groups = {g["name"].decode(): g for g in await client.xinfo_groups(STREAM)}
    assert groups["slow"]["pending"] == 1
    assert groups["slow"]["lag"] == 4
    assert groups["fast"]["lag"] == 2

    await client.xack(STREAM, "slow", slow[2])
    await trim_acknowledged(client, "svc", [STREAM], retention_s=0, now_ms=10**13)
    assert await remaining(client) == ids[6:]  # now up to slow's last delivered entry


async def test_acknowledged_entries_stay_for_the_retention(client: Redis) -> None:
    ids = await add(client, 10, start_ms=1_000_000)
    await client.xgroup_create(STREAM, "only", id="0")
    await client.xack(STREAM, "only", *await read(client, "only", 10))
    # Entries 0..9 were added at ms 1,000,000..1,000,009; keep 5 ms of them as of 1,000,010.
    await trim_acknowledged(client, "svc", [STREAM], retention_s=0.005, now_ms=1_000_010)
    assert await remaining(client) == ids[5:]


async def test_a_stream_without_groups_or_not_there_is_left_alone(client: Redis) -> None:
    ids = await add(client, 3)
    assert await trim_acknowledged(client, "svc", [STREAM, "not.there"], retention_s=0, now_ms=10**13) == {}
    assert await remaining(client) == ids


async def test_a_group_that_has_read_nothing_keeps_everything(client: Redis) -> None:
    ids = await add(client, 3)
    await client.xgroup_create(STREAM, "done", id="$")  # created after the entries: needs none of them
    await client.xgroup_create(STREAM, "new", id="0")
    assert await trim_acknowledged(client, "svc", [STREAM], retention_s=0, now_ms=10**13) == {}
    assert await remaining(client) == ids


def test_every_service_hands_what_it_publishes_to_the_runtime() -> None:
    """A wiring module's PUBLISHES reach ``service.publishes``, or its output streams are never trimmed."""
    contracts = [c for c in installed_contracts() if c.publishes]
    assert len(contracts) >= 6
    for contract in contracts:
        spec = importlib.util.find_spec(contract.module)
        assert spec is not None, contract.module
        assert spec.origin is not None, contract.module
        assert "\nservice.publishes(*PUBLISHES)\n" in Path(spec.origin).read_text(encoding="utf-8"), (
            f"{contract.module} defines PUBLISHES but does not call service.publishes(*PUBLISHES)"
        )
