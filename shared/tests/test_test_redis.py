"""The test suite's choice of Redis never lands on one that holds someone's data."""

from __future__ import annotations

import redis
from lingxi.testing.plugin import _safe_to_flush


def test_the_usual_local_redis_is_never_used() -> None:
    assert not _safe_to_flush("redis://127.0.0.1:6379/0")
    assert not _safe_to_flush("redis://localhost:6379/3")


def test_a_redis_holding_data_is_not_used(redis_client: redis.Redis, redis_url: str) -> None:
    assert _safe_to_flush(redis_url)
    redis_client.set("someone:else", "data")
    assert not _safe_to_flush(redis_url)


def test_data_in_another_database_of_the_server_counts(redis_client: redis.Redis, redis_url: str) -> None:
    other_db = redis.Redis.from_url(redis_url.rsplit("/", 1)[0] + "/5")
    other_db.set("someone:else", "data")
    other_db.close()
    assert not _safe_to_flush(redis_url)


def test_an_unreachable_redis_is_not_used() -> None:
    assert not _safe_to_flush("redis://127.0.0.1:1/0")
