"""pytest plugin (entry point ``lingxi``): a real Redis for every test, and service processes.

Redis comes from, in order: testcontainers' Redis when a Docker engine answers; the URL in
``LINGXI_TEST_REDIS_URL`` (flushed between tests: point it only at a throwaway instance); else
``REDIS_URL`` when it is safe to flush (not the usual 127.0.0.1:6379, and empty); else a private
``redis-server`` started on a free port and stopped afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from lingxi.localredis import LocalRedis
from lingxi.testing.processes import ProcessGroup, ServiceProcess

TEST_REDIS_ENV = "LINGXI_TEST_REDIS_URL"


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=2)
        client.ping()
        return True
    except Exception:
        return False


def _safe_to_flush(url: str) -> bool:
    """Tests flush their Redis: never one on the default local port, never one holding data in any
    database (the fixtures empty the whole server)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        kwargs = client.connection_pool.connection_kwargs
        if kwargs.get("host") in {"localhost", "127.0.0.1", "::1"} and kwargs.get("port") == 6379:
            return False
        return not client.info("keyspace")  # no database on that server holds a key
    except redis.RedisError:
        return False
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real Redis that this test session owns."""
    if _docker_answers():
        from testcontainers.community.redis import RedisContainer

        with RedisContainer("redis:7-alpine") as container:
            host = container.get_container_host_ip()
            port = container.get_exposed_port(6379)
            yield f"redis://{host}:{port}/0"
        return
    if url := os.environ.get(TEST_REDIS_ENV):
        yield url
        return
    if (url := os.environ.get("REDIS_URL")) and _safe_to_flush(url):
        yield url
        return
    server = LocalRedis(tmp_path_factory.mktemp("redis"), appendonly=False).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client on the session's Redis, emptied before each test."""
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def live_redis(redis_url: str) -> Iterator[redis.Redis]:
    """A client on the session's Redis, left as it is: for tests beside services that already run on
    it (``module_services``), which an emptied Redis would stop."""
    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def start_service(
    redis_client: redis.Redis, redis_url: str, tmp_path: Path
) -> Iterator[Callable[..., ServiceProcess]]:
    """Start a service as its own process on an emptied Redis: ``start_service("assistant", "a-1")``."""
    group = ProcessGroup(redis_url, tmp_path)
    yield group.start
    group.stop_all()


@pytest.fixture(scope="module")
def module_services(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., ServiceProcess]]:
    """Like ``start_service``, but the processes live for the whole test module (Redis emptied first)."""
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    client.close()
    group = ProcessGroup(redis_url, tmp_path_factory.mktemp("services"))
    yield group.start
    group.stop_all()
