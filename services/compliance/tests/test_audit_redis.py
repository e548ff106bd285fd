"""The audit trail on a real Redis: concurrent appends, tampering caught by `lingxi audit verify`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import redis
from lingxi_compliance.audit import DEFAULT_STREAM, GENESIS_HASH, AuditLog, canonical, entry_from, verify
from redis.asyncio import Redis

LINGXI = Path(sys.executable).with_name("lingxi")
STREAM = DEFAULT_STREAM


@pytest.fixture
async def store(redis_client: redis.Redis, redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def record(n: int, writer: str = "a") -> dict[str, Any]:
    return {
        "action": "answer.released",
        "request_id": f"req-{writer}-{n}",
        "region": "CN",
        "provider": "qwen",
        "latency_ms": n,
    }


def lingxi(redis_url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LINGXI_REDIS_URL": redis_url, "REDIS_URL": "redis://127.0.0.1:1/0"}
    return subprocess.run(
        [str(LINGXI), "audit", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def stored(client: redis.Redis) -> list[tuple[bytes, dict[str, Any]]]:
    page = cast(list[tuple[bytes, dict[bytes, bytes]]], client.xrange(STREAM))
    return [(entry_id, json.loads(fields[b"entry"])) for entry_id, fields in page]


async def fill(store: Redis, count: int) -> list[dict[str, Any]]:
    log = AuditLog(store)
    return [await log.append(record(n)) for n in range(1, count + 1)]


async def test_many_tasks_and_two_instances_append_one_unbroken_chain(store: Redis, redis_url: str) -> None:
    other_client = Redis.from_url(redis_url)
    try:
        first, second = AuditLog(store), AuditLog(other_client)
        tasks = [
            log.append(record(n, name))
            for n in range(100)
            for name, log in (("a", first), ("b", second), ("c", first), ("d", second))
        ]
        appended = await asyncio.gather(*tasks)
    finally:
        await other_client.aclose()
    assert sorted(e["seq"] for e in appended) == list(range(1, 401))
    entries = await first.read()
    assert [e["seq"] for e in entries] == list(range(1, 401))
    assert {e["request_id"] for e in entries} == {r["request_id"] for r in appended}
    result = await first.verify()
    assert result.intact, result.broken
    assert result.count == 400
    assert result.head is not None
    assert (result.head.seq, result.head.hash) == (400, entries[-1]["hash"])
    assert entries[0]["prev"] == GENESIS_HASH


async def test_a_stale_instance_builds_on_the_head_another_one_moved(store: Redis, redis_url: str) -> None:
    stale, fresh = AuditLog(store), AuditLog(store)
    await stale.append(record(1))
    await fresh.append(record(2))  # stale's cached head is now behind
    entry = await stale.append(record(3))
    assert entry["seq"] == 3
    assert (await stale.verify()).intact


async def test_verify_command_reports_an_intact_trail(store: Redis, redis_url: str) -> None:
    await fill(store, 5)
    done = lingxi(redis_url, "verify")
    assert done.returncode == 0, done.stderr
    assert "intact: 5 entries" in done.stdout


async def test_an_extra_xadded_entry_is_caught(
    store: Redis, redis_url: str, redis_client: redis.Redis
) -> None:
    entries = await fill(store, 5)
    forged = entry_from(record(6), 6, entries[-1]["hash"], datetime.now(UTC))
    redis_client.xadd(STREAM, {"entry": canonical(forged)})
    done = lingxi(redis_url, "verify")
    assert done.returncode == 1
    assert "seq 6" in done.stderr
    assert "inserted" in done.stderr


async def test_an_xdeleted_entry_is_caught(store: Redis, redis_url: str, redis_client: redis.Redis) -> None:
    await fill(store, 6)
    ids = [i for i, _ in stored(redis_client)]
    redis_client.xdel(STREAM, ids[2])
    done = lingxi(redis_url, "verify")
    assert done.returncode == 1
    assert "seq 3" in done.stderr
    assert "deleted" in done.stderr


async def test_a_deleted_last_entry_is_caught(
    store: Redis, redis_url: str, redis_client: redis.Redis
) -> None:
    await fill(store, 4)
    redis_client.xdel(STREAM, stored(redis_client)[-1][0])
    done = lingxi(redis_url, "verify")
    assert done.returncode == 1
    assert "seq 4" in done.stderr


async def test_a_field_rewritten_through_delete_and_re_add_is_caught(
    store: Redis, redis_url: str, redis_client: redis.Redis
) -> None:
    await fill(store, 5)
    # XDEL + XADD: the rewritten entry can only go to the end of the stream
    entry_id, entry = stored(redis_client)[1]
    redis_client.xdel(STREAM, entry_id)
    redis_client.xadd(STREAM, {"entry": canonical({**entry, "provider": "deepseek"})})
    done = lingxi(redis_url, "verify")
    assert done.returncode == 1
    assert "seq 2" in done.stderr


async def test_a_field_rewritten_in_a_rebuilt_stream_is_caught(
    store: Redis, redis_url: str, redis_client: redis.Redis
) -> None:
    await fill(store, 5)
    # delete the whole stream and re-add every entry in order, one of them with a changed field
    entries = [entry for _, entry in stored(redis_client)]
    redis_client.delete(STREAM)
    for entry in entries:
        changed = {**entry, "region": "US"} if entry["seq"] == 3 else entry
        redis_client.xadd(STREAM, {"entry": canonical(changed)})
    done = lingxi(redis_url, "verify")
    assert done.returncode == 1
    assert "seq 3" in done.stderr
    assert "altered" in done.stderr


async def test_export_writes_jsonl_that_verifies(store: Redis, redis_url: str, tmp_path: Path) -> None:
    entries = await fill(store, 7)
    path = tmp_path / "audit.jsonl"
    done = lingxi(redis_url, "export", "--since", "2000-01-01", "-o", str(path))
    assert done.returncode == 0, done.stderr
    assert "wrote 7 entries" in done.stdout
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == entries
    assert verify(lines) is None
    checked = lingxi(redis_url, "verify", "--file", str(path))
    assert checked.returncode == 0, checked.stderr
    assert f"last seq 7 hash {entries[-1]['hash']}" in checked.stdout
    # nothing stored after a moment in the future
    assert await AuditLog(store).export(tmp_path / "none.jsonl", datetime.now(UTC) + timedelta(days=1)) == 0


async def test_export_to_standard_output_pipes_into_verify(store: Redis, redis_url: str) -> None:
    entries = await fill(store, 5)
    done = lingxi(redis_url, "export", "-o", "-")
    assert done.returncode == 0, done.stderr
    assert [json.loads(line) for line in done.stdout.splitlines()] == entries
    assert "wrote 5 entries to standard output" in done.stderr
    checked = lingxi(redis_url, "verify", "--file", "-", stdin=done.stdout)
    assert checked.returncode == 0, checked.stderr
    assert f"intact: 5 entries in -, last seq 5 hash {entries[-1]['hash']}" in checked.stdout
    missing = lingxi(redis_url, "verify", "--file", "no-such-export.jsonl")
    assert missing.returncode == 2
    assert "does not exist" in " ".join(missing.stderr.replace("│", " ").split())  # a framed, wrapped message


async def test_a_tampered_export_file_fails_verification(
    store: Redis, redis_url: str, tmp_path: Path
) -> None:
    await fill(store, 4)
    path = tmp_path / "audit.jsonl"
    await AuditLog(store).export(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    del lines[1]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = lingxi(redis_url, "verify", "--file", str(path))
    assert done.returncode == 1
    assert "seq 2" in done.stderr


async def test_trimming_keeps_the_rest_verifiable_and_front_deletions_visible(
    store: Redis, redis_client: redis.Redis
) -> None:
    log = AuditLog(store, retention_days=30)
    await fill(store, 3)
    # everything so far is "old": trim as if 31 days had passed, then keep appending
    assert await log.trim(now=datetime.now(UTC) + timedelta(days=31)) == 3
    for n in range(4, 8):
        await log.append(record(n))
    result = await log.verify()
    assert result.intact, result.broken
    assert result.count == 4
    assert result.anchor is not None
    assert result.anchor.seq == 4
    # a deletion at the new front is still a gap, not a silent new start
    redis_client.xdel(STREAM, stored(redis_client)[0][0])
    broken = (await log.verify()).broken
    assert broken is not None
    assert (broken.seq, broken.kind) == (4, "gap")


async def test_maxlen_trims_on_append_and_moves_the_anchor(store: Redis) -> None:
    log = AuditLog(store, maxlen=5)
    for n in range(1, 13):
        await log.append(record(n))
    entries = await log.read()
    assert [e["seq"] for e in entries] == list(range(8, 13))
    result = await log.verify()
    assert result.intact, result.broken
    assert result.anchor is not None
    assert (result.anchor.seq, result.anchor.hash) == (8, entries[0]["prev"])


async def test_read_since_returns_only_later_entries(store: Redis) -> None:
    log = AuditLog(store)
    await fill(store, 2)
    await asyncio.sleep(0.01)
    middle = datetime.now(UTC)
    await asyncio.sleep(0.01)
    await log.append(record(3))
    assert [e["seq"] for e in await log.read(middle)] == [3]
    assert [e["seq"] for e in await log.read()] == [1, 2, 3]


async def test_an_unreachable_redis_is_one_line_and_exit_1() -> None:
    done = lingxi("redis://127.0.0.1:1/0", "verify")
    assert done.returncode == 1
    assert done.stderr.startswith("lingxi: cannot reach Redis at redis://127.0.0.1:1/0")


async def test_a_corrupt_head_key_is_reported(
    store: Redis, redis_url: str, redis_client: redis.Redis
) -> None:
    await fill(store, 2)
    redis_client.set(f"{STREAM}.head", "two")
    done = lingxi(redis_url, "verify")
    assert done.returncode == 1
    assert "head or anchor key is corrupt" in done.stderr


async def test_batches_from_two_instances_interleave_whole_and_keep_one_chain(
    store: Redis, redis_url: str
) -> None:
    other_client = Redis.from_url(redis_url)
    try:
        first, second = AuditLog(store), AuditLog(other_client)
        batches = [
            log.append_many([record(n * 10 + i, name) for i in range(10)])
            for n in range(20)
            for name, log in (("a", first), ("b", second))
        ]
        appended = await asyncio.gather(*batches)
    finally:
        await other_client.aclose()
    for batch in appended:  # a batch is never split by another writer's entries
        assert [e["seq"] for e in batch] == list(range(batch[0]["seq"], batch[0]["seq"] + 10))
    result = await first.verify()
    assert result.intact, result.broken
    assert result.count == 400


async def test_a_bad_record_in_a_batch_appends_nothing(store: Redis) -> None:
    log = AuditLog(store)
    with pytest.raises(ValueError, match="personal data"):
        await log.append_many([record(1), {"action": "x", "note": "call 13912345678"}])
    assert await log.read() == []
    assert await log.append_many([]) == []
    assert (await log.append(record(2)))["seq"] == 1


async def test_a_batch_larger_than_maxlen_keeps_the_newest_and_verifies(store: Redis) -> None:
    log = AuditLog(store, maxlen=4)
    await log.append_many([record(n) for n in range(1, 4)])
    await log.append_many([record(n) for n in range(4, 11)])
    entries = await log.read()
    assert [e["seq"] for e in entries] == [7, 8, 9, 10]
    result = await log.verify()
    assert result.intact, result.broken
    assert result.anchor is not None
    assert result.anchor.seq == 7
