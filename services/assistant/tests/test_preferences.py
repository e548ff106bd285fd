"""Reading the users' usual apps that personalization shares (lingxi_assistant.preferences), on real Redis."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis
from lingxi.events.personalization import user_preferences_key
from lingxi_assistant.preferences import usual_apps
from redis.asyncio import Redis
from structlog.testing import capture_logs

ELEME = {"food_delivery": "eleme"}


@pytest.fixture
async def client(redis_client: redis.Redis, redis_url: str) -> AsyncIterator[Redis]:
    async_client = Redis.from_url(redis_url)
    yield async_client
    await async_client.aclose()


def share(sync: redis.Redis, user_id: str, value: object) -> None:
    sync.set(user_preferences_key(user_id), value if isinstance(value, str) else json.dumps(value))


async def test_the_users_with_shared_apps_are_read_in_one_round_trip(
    client: Redis, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    share(redis_client, "u-a", {"apps": ELEME})
    share(redis_client, "u-b", {"apps": {"food_delivery": "meituan", "coffee": "luckin"}})
    share(redis_client, "u-empty", {"apps": {}})
    calls: list[Any] = []
    mget = client.mget

    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return await mget(*args, **kwargs)

    monkeypatch.setattr(client, "mget", counted)
    found = await usual_apps(client, ["u-a", None, "u-b", "u-none", "u-a", "u-empty"])
    assert found == {"u-a": ELEME, "u-b": {"food_delivery": "meituan", "coffee": "luckin"}}
    assert len(calls) == 1


async def test_no_user_means_no_read(client: Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    async def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("read Redis for anonymous queries")

    monkeypatch.setattr(client, "mget", never)
    assert await usual_apps(client, [None, None]) == {}
    assert await usual_apps(client, []) == {}


@pytest.mark.parametrize(
    "stored",
    [
        "{not json",
        json.dumps(["eleme"]),
        json.dumps({"apps": "eleme"}),
        json.dumps({"apps": {"food_delivery": 1}}),
    ],
)
async def test_an_unreadable_value_is_logged_and_counts_as_none(
    client: Redis, redis_client: redis.Redis, stored: str
) -> None:
    share(redis_client, "u-bad", stored)
    share(redis_client, "u-good", {"apps": ELEME})
    with capture_logs() as logs:
        found = await usual_apps(client, ["u-bad", "u-good"])
    assert found == {"u-good": ELEME}
    assert [(log["log_level"], log["user_id"]) for log in logs] == [("warning", "u-bad")]


async def test_redis_trouble_is_logged_and_no_user_has_usual_apps() -> None:
    unreachable = Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)
    try:
        with capture_logs() as logs:
            assert await usual_apps(unreachable, ["u-a"]) == {}
    finally:
        await unreachable.aclose()
    assert [log["event"] for log in logs] == ["usual apps unavailable, default apps used"]
    assert logs[0]["log_level"] == "warning"


async def test_the_assistant_never_writes_the_key(client: Redis, redis_client: redis.Redis) -> None:
    share(redis_client, "u-a", {"apps": ELEME})
    before = redis_client.get(user_preferences_key("u-a"))
    await usual_apps(client, ["u-a", "u-b"])
    assert redis_client.get(user_preferences_key("u-a")) == before
    assert not redis_client.exists(user_preferences_key("u-b"))
