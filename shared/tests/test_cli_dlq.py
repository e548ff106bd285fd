"""`lingxi dlq`: list, show, replay (original fields back, unchanged, atomically) and purge dead letters."""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
import uuid
from datetime import UTC, datetime

import pytest
import redis
from lingxi.cli import dlq
from lingxi.cli.main import app
from lingxi.events import QueryReceived
from lingxi.events.base import Region
from lingxi.runtime.envelope import encode_entry
from typer.testing import CliRunner, Result

STREAM = QueryReceived.stream
DLQ = f"{STREAM}.dlq"

Fields = dict[bytes, bytes]


def lingxi(redis_url: str, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--redis-url", redis_url])


def dead_letter(
    client: redis.Redis, original_id: str, fields: Fields, *, reason: str, error: str, attempts: int
) -> str:
    """A dead letter shaped as the runtime writes it: the original fields, then the dlq.* fields."""
    record: dict[bytes | str, bytes | str] = {
        **fields,
        "dlq.reason": reason,
        "dlq.error": error,
        "dlq.attempts": str(attempts),
        "dlq.original_id": original_id,
        "dlq.stream": STREAM,
        "dlq.service": "assistant",
        "dlq.replica": "assistant-1",
        "dlq.failed_at": datetime.now(UTC).isoformat(),
    }
    assert {k for k in record if isinstance(k, str)} == {f"dlq.{name}" for name in dlq.DLQ_FIELDS}
    return client.xadd(DLQ, record).decode()


def original(client: redis.Redis, fields: dict[str, str]) -> tuple[str, Fields]:
    """Add an entry to the stream and read it back as Redis holds it."""
    entry_id = client.xadd(STREAM, fields).decode()
    ((_, stored),) = client.xrange(STREAM, entry_id, entry_id)
    return entry_id, stored


def query(text: str) -> dict[str, str]:
    event = QueryReceived(region=Region.CN, locale="zh-CN", device_id="d", request_id=uuid.uuid4(), text=text)
    return encode_entry(event.model_dump_json(), {"correlation_id": str(event.request_id)})


@pytest.fixture
def letters(redis_client: redis.Redis) -> dict[str, tuple[str, str, Fields]]:
    """Three dead letters: name -> (dlq id, original id, original fields)."""
    made = {}
    for name, fields, reason, error, attempts in [
        ("failed", query("set an alarm"), "handler_failed", "RuntimeError('engine down')", 3),
        ("failed2", query("天气怎么样"), "handler_failed", "TimeoutError()", 3),
        (
            "invalid",
            {"foo": "bar"},
            "invalid_event",
            json.dumps(["region: Field required", "foo: Extra inputs are not permitted"]),
            1,
        ),
    ]:
        original_id, stored = original(redis_client, fields)
        dlq_id = dead_letter(redis_client, original_id, stored, reason=reason, error=error, attempts=attempts)
        made[name] = (dlq_id, original_id, stored)
    return made


def test_list_shows_one_row_per_dead_letter(
    redis_url: str, letters: dict[str, tuple[str, str, Fields]]
) -> None:
    result = lingxi(redis_url, "dlq", "list", STREAM)

    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert header.split() == [
        "dlq",
        "id",
        "original",
        "id",
        "service",
        "reason",
        "attempts",
        "failed",
        "at",
        "error",
    ]
    by_id = {row.split()[0]: row.split() for row in rows}
    dlq_id, original_id, _ = letters["failed"]
    assert by_id[dlq_id][1:5] == [original_id, "assistant", "handler_failed", "3"]
    assert by_id[dlq_id][6:] == ["RuntimeError('engine", "down')"]
    invalid = by_id[letters["invalid"][0]]
    assert " ".join(invalid[6:]) == "region: Field required; foo: Extra inputs are not permitted"
    assert list(by_id) == [letter[0] for letter in letters.values()]


def test_list_takes_the_dlq_name_json_and_a_summary(
    redis_url: str, letters: dict[str, tuple[str, str, Fields]]
) -> None:
    as_json = json.loads(lingxi(redis_url, "dlq", "list", DLQ, "--json").stdout)
    summary = lingxi(redis_url, "dlq", "list").stdout.splitlines()

    assert [r["dlq_id"] for r in as_json] == [letter[0] for letter in letters.values()]
    assert as_json[2]["reason"] == "invalid_event"
    assert as_json[2]["attempts"] == 1
    assert as_json[2]["original_fields"] == {"foo": "bar"}
    assert summary[1].split() == [DLQ, "QueryReceived", "3"]


def test_show_has_every_field_and_the_event(
    redis_url: str, letters: dict[str, tuple[str, str, Fields]]
) -> None:
    dlq_id, original_id, fields = letters["failed"]
    result = lingxi(redis_url, "dlq", "show", STREAM, dlq_id)

    assert result.exit_code == 0, result.output
    out = result.stdout
    for expected in ["handler_failed", original_id, "assistant-1", "RuntimeError('engine down')"]:
        assert expected in out
    request_id = json.loads(json.loads(fields[b"__data__"])["data"])["request_id"]
    assert f"correlation_id  {request_id}" in out
    assert '  "text": "set an alarm"' in out

    invalid = lingxi(redis_url, "dlq", "show", DLQ, letters["invalid"][0])
    assert "  region: Field required\n  foo: Extra inputs are not permitted" in invalid.stdout
    assert '"foo": "bar"' in invalid.stdout

    assert lingxi(redis_url, "dlq", "show", STREAM, "1-1").exit_code == 1
    assert lingxi(redis_url, "dlq", "show", STREAM, "latest").exit_code == 2


def test_replay_puts_the_original_fields_back_unchanged(
    redis_url: str, redis_client: redis.Redis, letters: dict[str, tuple[str, str, Fields]]
) -> None:
    dlq_id, _, fields = letters["failed"]

    result = lingxi(redis_url, "dlq", "replay", DLQ, dlq_id)

    assert result.exit_code == 0, result.output
    old, arrow, stream, new_id = result.stdout.split()
    assert (old, arrow, stream) == (dlq_id, "->", STREAM)
    ((_, replayed),) = redis_client.xrange(STREAM, new_id, new_id)
    assert list(replayed.items()) == list(fields.items())
    assert redis_client.xrange(DLQ, dlq_id, dlq_id) == []
    assert redis_client.xlen(DLQ) == 2


def test_replay_dry_run_changes_nothing(
    redis_url: str, redis_client: redis.Redis, letters: dict[str, tuple[str, str, Fields]]
) -> None:
    result = lingxi(redis_url, "dlq", "replay", STREAM, "--all", "--dry-run")

    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.stdout.splitlines()] == [v[0] for v in letters.values()]
    assert "(dry run)" in result.stdout
    assert redis_client.xlen(DLQ) == 3
    assert redis_client.xlen(STREAM) == 3


def test_replay_all_moves_every_dead_letter_and_warns_about_invalid_ones(
    redis_url: str, redis_client: redis.Redis, letters: dict[str, tuple[str, str, Fields]]
) -> None:
    result = lingxi(redis_url, "dlq", "replay", STREAM, "--all")

    assert result.exit_code == 0, result.output
    assert redis_client.xlen(DLQ) == 0
    added = [fields for _, fields in redis_client.xrange(STREAM)][3:]
    assert added == [letter[2] for letter in letters.values()]
    assert f"warning: {letters['invalid'][0]} still does not validate" in result.stderr
    assert "replayed 3 dead letters" in result.stderr


def test_replay_needs_ids_or_all_and_reports_missing_ones(
    redis_url: str, redis_client: redis.Redis, letters: dict[str, tuple[str, str, Fields]]
) -> None:
    assert lingxi(redis_url, "dlq", "replay", STREAM).exit_code == 2
    assert lingxi(redis_url, "dlq", "replay", STREAM, letters["failed"][0], "--all").exit_code == 2

    result = lingxi(redis_url, "dlq", "replay", STREAM, "1-1", letters["failed"][0])

    assert result.exit_code == 1
    assert "no dead letter 1-1" in result.stderr
    assert redis_client.xlen(DLQ) == 2


def test_concurrent_replays_of_one_dead_letter_add_it_once(
    redis_url: str, redis_client: redis.Redis, letters: dict[str, tuple[str, str, Fields]]
) -> None:
    dlq_id = letters["failed"][0]
    outcomes: list[str] = []

    def replay() -> None:
        client = redis.Redis.from_url(redis_url)
        try:
            _, new_id, _ = dlq.replay_one(client, DLQ, STREAM, dlq_id, dry_run=False)
            outcomes.append(f"new {new_id}")
        except dlq.Missing:
            outcomes.append("missing")
        finally:
            client.close()

    threads = [threading.Thread(target=replay) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes)[:7] == ["missing"] * 7
    assert redis_client.xlen(STREAM) == 4


def test_purge_refuses_without_yes_then_deletes(
    redis_url: str, redis_client: redis.Redis, letters: dict[str, tuple[str, str, Fields]]
) -> None:
    dlq_id = letters["failed"][0]
    refused = lingxi(redis_url, "dlq", "purge", STREAM, dlq_id)
    assert refused.exit_code == 2
    assert "--yes" in refused.stderr
    assert redis_client.xlen(DLQ) == 3

    one = lingxi(redis_url, "dlq", "purge", STREAM, dlq_id, "--yes")
    assert one.exit_code == 0, one.output
    assert one.stdout.strip() == f"deleted 1 dead letter from {DLQ}"
    assert redis_client.xrange(DLQ, dlq_id, dlq_id) == []

    assert lingxi(redis_url, "dlq", "purge", STREAM, "--all").exit_code == 2
    everything = lingxi(redis_url, "dlq", "purge", DLQ, "--all", "--yes")
    assert everything.exit_code == 0, everything.output
    assert redis_client.xlen(DLQ) == 0
    assert redis_client.xlen(STREAM) == 3  # the stream itself is never touched


def test_a_dead_letter_written_by_the_runtime_replays_to_its_original(
    redis_url: str, redis_client: redis.Redis
) -> None:
    delivery = pytest.importorskip("lingxi.runtime.delivery")
    write = getattr(delivery, "dead_letter", None)
    if write is None or not inspect.iscoroutinefunction(write):
        pytest.skip("the runtime writes dead letters elsewhere now")
    original_id, fields = original(redis_client, query("闹钟"))
    redis_client.xgroup_create(STREAM, "assistant", id="0")
    redis_client.xreadgroup("assistant", "assistant-1", {STREAM: ">"})

    async def write_it() -> None:
        from redis.asyncio import Redis

        client = Redis.from_url(redis_url)
        try:
            await write(
                client,
                stream=STREAM,
                group="assistant",
                entry_id=original_id,
                fields=fields,
                reason="handler_failed",
                error="RuntimeError('x')",
                attempts=3,
                replica="assistant-1",
            )
        finally:
            await client.aclose()

    asyncio.run(write_it())
    ((dlq_id, _),) = redis_client.xrange(DLQ)

    listed = lingxi(redis_url, "dlq", "list", STREAM, "--json")
    result = lingxi(redis_url, "dlq", "replay", STREAM, dlq_id.decode())

    assert json.loads(listed.stdout)[0]["original_id"] == original_id
    assert result.exit_code == 0, result.output
    new_id = result.stdout.split()[-1]
    ((_, replayed),) = redis_client.xrange(STREAM, new_id, new_id)
    assert replayed == fields
