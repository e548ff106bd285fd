"""Personalization's store on a real Redis: the compare-and-set write, erasure and its tombstone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import pytest
import redis
from lingxi.events.personalization import ConsentScope, user_preferences_key
from lingxi.events.user import user_digest
from lingxi_personalization.catalogue import load_catalogue
from lingxi_personalization.profile import Consent, Profile, Purchase, fold
from lingxi_personalization.store import PersonalizationStore, UserWrite, listing, user_keys
from lingxi_personalization.update import ConsentChange, update_user
from redis.asyncio import Redis

ALL = frozenset(ConsentScope)
DAY = date(2026, 5, 10)
NOW = datetime(2026, 5, 10, 4, tzinfo=UTC)


@pytest.fixture
async def client(redis_client: redis.Redis, redis_url: str) -> AsyncIterator[Redis]:
    async_client = Redis.from_url(redis_url)
    yield async_client
    await async_client.aclose()


async def apply(store: PersonalizationStore, user: str, *events: Purchase | ConsentChange) -> list[str]:
    loaded = (await store.load([user]))[user]
    update = update_user(loaded.consent, loaded.profile, list(events), load_catalogue(), DAY)
    shown = None if update.suggestions is None else listing(user, update.suggestions, NOW)
    write = UserWrite(user, loaded, update.consent, update.profile, shown, update.apps)
    return await store.write([write])


def eleme(n: int) -> Purchase:
    return Purchase(f"o-{n}", n, "food_delivery", "沙县小吃", "eleme", "上海")


async def test_a_user_written_then_erased_leaves_only_a_nameless_tombstone(client: Redis) -> None:
    store = PersonalizationStore(client)
    assert await apply(store, "u-1", ConsentChange(ALL, 10), eleme(1), eleme(2)) == []
    loaded = (await store.load(["u-1"]))["u-1"]
    assert loaded.profile.purchases == 2
    assert await client.get(user_preferences_key("u-1")) == b'{"apps":{"food_delivery":"eleme"}}'

    assert await store.erase("u-1", 100) == 4
    assert [k for k in user_keys("u-1") if await client.exists(k)] == []
    names = [key async for key in client.scan_iter()]
    assert all(b"u-1" not in name for name in names)
    assert any(user_digest("u-1").encode() in name for name in names)

    # A consent change from before the erasure, delivered late, grants nothing; a later one does.
    assert await apply(store, "u-1", ConsentChange(ALL, 50), eleme(3)) == []
    assert (await store.load(["u-1"]))["u-1"].profile.empty
    assert await apply(store, "u-1", ConsentChange(ALL, 150), eleme(4)) == []
    assert (await store.load(["u-1"]))["u-1"].profile.purchases == 1


async def test_a_write_over_changed_records_is_refused_and_named(client: Redis) -> None:
    store = PersonalizationStore(client)
    await apply(store, "u-2", ConsentChange(ALL, 10))
    stale = (await store.load(["u-2"]))["u-2"]
    await apply(store, "u-2", ConsentChange(frozenset(), 20))  # withdrawn meanwhile
    profile = Profile()
    write = UserWrite("u-2", stale, None, profile, None)
    fold(profile, Consent(ALL, 10), eleme(5))
    assert await store.write([write]) == ["u-2"]
    assert (await store.load(["u-2"]))["u-2"].profile.empty
