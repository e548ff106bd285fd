"""Personalization's store on a real Redis: the compare-and-set write, erasure and its tombstone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import orjson
import pytest
import redis
from lingxi.events.base import Region
from lingxi.events.personalization import (
    ConsentScope,
    RecommendationsUpdated,
    user_preferences_key,
    user_recommendations_key,
)
from lingxi.events.user import user_digest
from lingxi.runtime.delivery import HandledMark
from lingxi_personalization.catalogue import load_catalogue
from lingxi_personalization.profile import Consent, Profile, Purchase, fold
from lingxi_personalization.store import (
    STALE_KEY,
    PersonalizationStore,
    Stale,
    UserWrite,
    listing,
    user_keys,
)
from lingxi_personalization.update import ConsentChange, update_user, views
from redis.asyncio import Redis

ALL = frozenset(ConsentScope)
DAY = date(2026, 5, 10)
NOW = datetime(2026, 5, 10, 4, tzinfo=UTC)


@pytest.fixture
async def client(redis_client: redis.Redis, redis_url: str) -> AsyncIterator[Redis]:
    async_client = Redis.from_url(redis_url)
    yield async_client
    await async_client.aclose()


async def apply(
    store: PersonalizationStore, user: str, *events: Purchase | ConsentChange, due_ms: int = 0
) -> list[str]:
    """Load, update and write one user as the service does."""
    loaded = (await store.load([user]))[user]
    update = update_user(loaded.consent, loaded.profile, list(events), load_catalogue(), DAY)
    if update.suggestions is not None:
        shown = listing(user, update.suggestions, NOW)
        write = UserWrite(user, loaded, update.consent, update.profile, shown, update.apps, Stale.FRESH)
    else:
        write = UserWrite(
            user, loaded, None, update.profile, None, None, Stale.DUE if update.stale else Stale.KEEP
        )
    return await store.write([write], due_ms)


async def refresh(store: PersonalizationStore, user: str, announcement: str = "") -> list[str]:
    """Write the user's list as worked out from what is stored now (as the refresher does)."""
    loaded = (await store.load([user]))[user]
    suggestions, apps = views(loaded.consent, loaded.profile, load_catalogue(), DAY)
    shown = listing(user, suggestions, NOW)
    return await store.write([UserWrite(user, loaded, None, None, shown, apps, Stale.FRESH, announcement)])


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


async def test_handled_marks_are_set_with_the_users_written_and_only_with_them(client: Redis) -> None:
    store = PersonalizationStore(client)
    for user in ("u-kept", "u-lost"):
        await apply(store, user, ConsentChange(ALL, 10))
    loaded = await store.load(["u-kept", "u-lost"])
    await apply(store, "u-lost", ConsentChange(frozenset(), 20))  # changed meanwhile
    writes = []
    for user in ("u-lost", "u-kept"):
        profile = Profile()
        fold(profile, Consent(ALL, 10), eleme(1))
        marks = [HandledMark(f"mark:{user}:{n}", "delivery-1", 60) for n in range(2)]
        writes.append(UserWrite(user, loaded[user], None, profile, None, None, Stale.DUE, "", marks))
    assert await store.write(writes) == ["u-lost"]
    assert await client.mget([f"mark:u-kept:{n}" for n in range(2)]) == [b"delivery-1", b"delivery-1"]
    assert 0 < await client.ttl("mark:u-kept:1") <= 60
    assert await client.exists("mark:u-lost:0", "mark:u-lost:1") == 0


async def test_purchases_make_the_list_due_once_and_a_refresh_makes_it_fresh(client: Redis) -> None:
    store = PersonalizationStore(client)
    await apply(store, "u-3", ConsentChange(ALL, 10))
    before = await client.get(user_recommendations_key("u-3"))
    assert await store.stale_count() == 0, "a consent change works the list out at once"

    await apply(store, "u-3", eleme(1), due_ms=5_000)
    await apply(store, "u-3", eleme(2), due_ms=9_000)
    assert await client.zscore(STALE_KEY, "u-3") == 5_000, "due after the first purchase of the spell"
    assert await client.get(user_recommendations_key("u-3")) == before, "the list waits for its refresh"

    assert await store.claim_stale(4_999, lease_ms=60_000, limit=10) == []
    assert await store.claim_stale(5_000, lease_ms=60_000, limit=10) == ["u-3"]
    assert await client.zscore(STALE_KEY, "u-3") == 65_000, "leased: due again if never written"
    assert await store.claim_stale(6_000, lease_ms=60_000, limit=10) == [], "another replica skips it"

    event = RecommendationsUpdated(region=Region.CN, user_id="u-3", items=[])
    entry = event.model_dump_json()
    assert await refresh(store, "u-3", entry) == []
    assert await store.stale_count() == 0
    shown = orjson.loads(await client.get(user_recommendations_key("u-3")) or b"")
    assert shown["personalised"]
    assert shown["items"][0]["reason"] == "frequent_category.food_delivery"
    assert [f[b"__data__"] for _, f in await client.xrange(RecommendationsUpdated.stream)] == [entry.encode()]


async def test_overdue_says_whether_any_list_was_due_before_a_time(client: Redis) -> None:
    store = PersonalizationStore(client)
    assert not await store.overdue(10_000), "nothing due at all"
    await apply(store, "u-5", ConsentChange(ALL, 10))
    await apply(store, "u-5", eleme(1), due_ms=5_000)
    assert not await store.overdue(4_999)
    assert await store.overdue(5_000)


async def test_a_refresh_from_a_profile_a_purchase_changed_meanwhile_is_refused(client: Redis) -> None:
    store = PersonalizationStore(client)
    await apply(store, "u-4", ConsentChange(ALL, 10))
    await apply(store, "u-4", eleme(1), due_ms=1)
    assert await store.claim_stale(1, lease_ms=60_000, limit=10) == ["u-4"]
    loaded = (await store.load(["u-4"]))["u-4"]
    await apply(store, "u-4", eleme(2), due_ms=2)  # a purchase lands while the list is worked out
    write = UserWrite("u-4", loaded, None, None, listing("u-4", [], NOW), None, Stale.FRESH, "announced")
    assert await store.write([write]) == ["u-4"]
    assert await client.xlen(RecommendationsUpdated.stream) == 0, "nothing announced for a refused write"
    assert await client.zscore(STALE_KEY, "u-4") is not None, "still due"
    assert await refresh(store, "u-4") == []
    assert await store.stale_count() == 0


async def test_erasure_takes_the_user_off_the_refresh_list(client: Redis) -> None:
    store = PersonalizationStore(client)
    await apply(store, "u-5", ConsentChange(ALL, 10))
    await apply(store, "u-5", eleme(1), due_ms=1)
    assert await store.stale_count() == 1
    await store.erase("u-5", 100)
    assert await store.stale_count() == 0
    assert await store.claim_stale(10, lease_ms=60_000, limit=10) == []


async def test_a_write_loaded_before_an_erasure_cannot_bring_the_user_back(client: Redis) -> None:
    store = PersonalizationStore(client)
    # A consent change is being applied to a user with no consent record when they are erased.
    loaded = (await store.load(["u-6"]))["u-6"]
    assert loaded.consent_bytes == b""
    await store.erase("u-6", 100)
    update = update_user(loaded.consent, loaded.profile, [ConsentChange(ALL, 50)], load_catalogue(), DAY)
    assert update.suggestions is not None
    shown = listing("u-6", update.suggestions, NOW)
    write = UserWrite("u-6", loaded, update.consent, update.profile, shown, update.apps, Stale.FRESH)
    assert await store.write([write]) == ["u-6"], "refused: the user was erased since it was loaded"
    assert [k for k in user_keys("u-6") if await client.exists(k)] == []
    # Loaded again, the change is older than the erasure: it grants nothing, and nothing names the user.
    again = (await store.load(["u-6"]))["u-6"]
    assert again.consent.scopes == frozenset()
    assert again.tombstone_bytes == b"100"
