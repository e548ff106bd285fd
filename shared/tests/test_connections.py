"""The hiredis-packing connections send exactly what redis-py's own asyncio connections send."""

from __future__ import annotations

import math

import pytest
from lingxi.runtime.connections import (
    HiredisPackingConnection,
    HiredisPackingSSLConnection,
    HiredisPackingUnixDomainSocketConnection,
    packing_connection_class,
)
from redis.asyncio.connection import Connection
from redis.exceptions import DataError

COMMANDS: list[tuple[object, ...]] = [
    ("GET", "lingxi:key"),
    ("SET", "k", b"\x00\xff binary \r\n", "EX", 60),
    ("SET", "k", "中文 and émoji 🙂"),
    ("SET", "k", 1.5),
    ("SET", "k", -1e-7),
    ("SET", "k", math.inf),
    ("SET", "k", 2**70),
    ("SET", "k", memoryview(b"a view")),
    ("SET", "k", bytearray(b"an array")),  # hiredis refuses it: redis-py's packer converts it
    ("SET", "k", b"x" * 100_000),  # above redis-py's buffer cutoff: sent in chunks there
    ("CONFIG GET", "maxmemory"),  # a command name of two words is split in two arguments
    (b"CLIENT SETNAME", b"replica-1"),
    ("EVALSHA", "a" * 40, 2, "k1", "k2", b"", b"\x01" * 600, 3),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: repr(c)[:40])
def test_commands_are_packed_byte_for_byte_as_redis_py_packs_them(command: tuple[object, ...]) -> None:
    packed = b"".join(HiredisPackingConnection().pack_command(*command))  # type: ignore[arg-type]
    expected = b"".join(Connection().pack_command(*command))  # type: ignore[arg-type]
    assert packed == expected


def test_pipelines_are_packed_as_redis_py_packs_them() -> None:
    commands = [("SET", "a", b"1"), ("INCRBY", "b", 2), ("MGET", "a", "b")]
    assert b"".join(HiredisPackingConnection().pack_commands(commands)) == b"".join(
        Connection().pack_commands(commands)
    )


@pytest.mark.parametrize("value", [None, True, object()])
def test_values_redis_cannot_hold_are_refused_as_redis_py_refuses_them(value: object) -> None:
    with pytest.raises(DataError):
        HiredisPackingConnection().pack_command("SET", "k", value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://localhost:6379/0", HiredisPackingConnection),
        ("rediss://user:secret@redis.internal:6380", HiredisPackingSSLConnection),
        ("unix:///run/redis.sock", HiredisPackingUnixDomainSocketConnection),
    ],
)
def test_the_class_follows_the_url_scheme(url: str, expected: type) -> None:
    assert packing_connection_class(url) is expected


def test_an_unknown_scheme_is_named() -> None:
    with pytest.raises(ValueError, match="'http' is not one of redis, rediss, unix"):
        packing_connection_class("http://localhost:6379")
