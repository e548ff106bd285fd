"""A read that fails after its write is delivered again: the purchases it folded are not folded twice.

The real runtime delivers real purchases to the real handler on a real Redis; the only fault is injected
around the store's write (the write happens, then the replica "fails" before the commit). One user has
more purchases in the read than a profile remembers ids of (``RECENT_IDS``), so the profile alone could
not tell the redelivered ones from new ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import redis
from lingxi.events._values import Initiator
from lingxi.events.base import Region
from lingxi.events.personalization import ConsentChanged, ConsentScope, PurchaseChannel, PurchaseRecorded
from lingxi.runtime import Service, ServiceSettings
from lingxi.runtime.delivery import stream_entry
from lingxi_personalization.profile import RECENT_IDS
from lingxi_personalization.store import PersonalizationStore, Stale, UserWrite, consent_key, profile_key
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

USER = "u-redelivered"
PURCHASES = RECENT_IDS + 36


@pytest.fixture
async def client(redis_client: redis.Redis, redis_url: str) -> AsyncIterator[Redis]:
    async_client = Redis.from_url(redis_url)
    yield async_client
    await async_client.aclose()


class FailsOnceAfterWriting(PersonalizationStore):
    """The real store; its first purchase write is stored, then the replica fails before the commit."""

    failed = False

    async def write(self, writes: Sequence[UserWrite], due_ms: int = 0) -> list[str]:
        lost = await super().write(writes, due_ms)
        if not self.failed and any(w.stale is Stale.DUE for w in writes):  # purchases folded
            self.failed = True
            raise ConnectionError("the replica failed after its write, before the commit")
        return lost


def purchase(n: int) -> PurchaseRecorded:
    return PurchaseRecorded(
        region=Region.CN,
        user_id=USER,
        purchase_id=f"order-{n}",
        merchant="瑞幸咖啡",
        category="coffee",
        amount_minor=1890,
        channel=PurchaseChannel.ALIPAY,
        purchased_at=datetime.now(UTC) - timedelta(hours=PURCHASES - n),
        city="上海",
    )


async def until(check: Any, timeout_s: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_purchases_a_failed_read_folded_are_not_folded_again(
    client: Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lingxi_personalization import app

    store = FailsOnceAfterWriting(client)
    monkeypatch.setattr(app, "store", store)
    settings = ServiceSettings(
        redis_url=redis_url, replica="p-1", http_port=0, reclaim_idle_ms=300, reclaim_poll_ms=50, block_ms=100
    )
    service = Service("personalization", settings, registry=CollectorRegistry())
    service.consumer(ConsentChanged, batch=True)(app.on_consent_changes)
    service.consumer(PurchaseRecorded, batch=True, max_records=PURCHASES)(app.on_purchases)

    await service.publish(
        ConsentChanged(
            region=Region.CN,
            user_id=USER,
            granted_scopes=[ConsentScope.PERSONALISATION, ConsentScope.PURCHASE_DATA],
            changed_by=Initiator.USER,
            occurred_at=datetime.now(UTC) - timedelta(days=30),
        )
    )
    await service.start()
    try:

        async def consented() -> bool:
            return bool(await client.exists(consent_key(USER)))

        await until(consented)
        async with client.pipeline(transaction=True) as pipe:  # added at once: one read takes them all
            for n in range(PURCHASES):
                event = purchase(n)
                pipe.xadd(event.stream, stream_entry(event, str(event.event_id)))  # type: ignore[arg-type]
            await pipe.execute()

        async def drained() -> bool:
            pending = await client.xpending(PurchaseRecorded.stream, "personalization")
            return store.failed and pending["pending"] == 0

        await until(drained)
    finally:
        await service.stop()
    profile = orjson.loads(await client.get(profile_key(USER)) or b"null")
    assert profile["purchases"] == PURCHASES, "every purchase folded exactly once"
    assert len(profile["recent_ids"]) == RECENT_IDS
