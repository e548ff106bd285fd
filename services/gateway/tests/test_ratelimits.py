"""Rate limits on a real Redis: per device, per user across their devices, per administrator, shared by
every limiter on the same Redis (as gateway replicas are), with a Retry-After that says when to come back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis
from limits.aio.storage import RedisStorage
from lingxi.auth import AdminPrincipal, DevicePrincipal, Role
from lingxi_gateway.ratelimits import RateLimited, RateLimiter, RateLimitSettings
from pydantic import ValidationError

LATER = datetime.now(UTC) + timedelta(hours=1)


def device(device_id: str, user_id: str | None = None) -> DevicePrincipal:
    return DevicePrincipal(device_id, user_id, "CN", "k1", LATER)


@pytest.fixture
def storage(redis_client: redis.Redis, redis_url: str) -> RedisStorage:
    return RedisStorage(f"async+{redis_url}", implementation="redispy", key_prefix="lingxi:rate")


def limiter(storage: RedisStorage, **limits: str) -> RateLimiter:
    return RateLimiter(RateLimitSettings.model_validate(limits), storage)


async def test_a_device_over_its_limit_is_told_when_to_come_back(storage: RedisStorage) -> None:
    limited = limiter(storage, device="3/minute", user="")
    for _ in range(3):
        await limited.admit(device("dev-1"))
    with pytest.raises(RateLimited) as refused:
        await limited.admit(device("dev-1"))
    assert refused.value.detail.startswith("device dev-1 is over its rate limit of 3 per 1 minute; retry in")
    assert 1 <= refused.value.retry_after_s <= 60
    await limited.admit(device("dev-2"))  # another device has its own allowance


async def test_replicas_share_the_counts(storage: RedisStorage, redis_url: str) -> None:
    other_connections = RedisStorage(f"async+{redis_url}", implementation="redispy", key_prefix="lingxi:rate")
    replicas = [limiter(storage, device="4/minute"), limiter(other_connections, device="4/minute")]
    for n in range(4):
        await replicas[n % 2].admit(device("dev-1"))
    for replica in replicas:
        with pytest.raises(RateLimited):
            await replica.admit(device("dev-1"))


async def test_a_user_has_one_allowance_across_their_devices(storage: RedisStorage) -> None:
    limited = limiter(storage, device="10/minute", user="3/minute")
    await limited.admit(device("phone", "u-1"))
    await limited.admit(device("phone", "u-1"))
    await limited.admit(device("tablet", "u-1"))
    with pytest.raises(RateLimited, match="user u-1 is over its rate limit"):
        await limited.admit(device("tablet", "u-1"))
    await limited.admit(device("tablet"))  # signed out, the tablet counts only as itself


async def test_an_erased_user_leaves_no_counter_behind(
    storage: RedisStorage, redis_client: redis.Redis
) -> None:
    limited = limiter(storage, device="", user="3/minute;100/day")
    for _ in range(3):
        await limited.admit(device("phone", "u-gone"))
    keys = redis_client.keys("*")
    assert len(keys) >= 2, "one counter per limit"
    assert not any(b"u-gone" in key or b"phone" in key for key in keys), "keys name nobody"
    await limited.forget_user("u-gone")
    assert redis_client.keys("*") == [], keys
    await limited.admit(device("phone", "u-gone"))  # a fresh allowance


async def test_administrators_count_by_name_and_an_empty_limit_is_none(storage: RedisStorage) -> None:
    limited = limiter(storage, admin="2/minute", device="")
    officer = AdminPrincipal("li.wei", frozenset({Role.COMPLIANCE_OFFICER}), "k1", LATER)
    await limited.admit(officer)
    await limited.admit(officer)
    with pytest.raises(RateLimited, match=r"administrator li\.wei"):
        await limited.admit(officer)
    for _ in range(50):
        await limited.admit(device("dev-1"))


async def test_the_counters_live_under_the_rate_prefix_and_expire(
    storage: RedisStorage, redis_client: redis.Redis
) -> None:
    await limiter(storage, device="5/minute").admit(device("dev-1"))
    keys = [key.decode() if isinstance(key, bytes) else str(key) for key in redis_client.keys("*")]
    assert keys
    assert all(key.startswith("lingxi:rate") for key in keys), keys
    assert all(0 < int(redis_client.ttl(key)) <= 120 for key in keys)


@pytest.mark.parametrize("setting", ["fast", "10 per", "-3/minute", "3/fortnight"])
def test_a_limit_that_does_not_parse_names_itself(setting: str) -> None:
    with pytest.raises(ValidationError, match="is not a rate limit: write COUNT/PERIOD"):
        RateLimitSettings(device=setting)
