"""`lingxi streams`: what it shows is what XINFO says."""

from __future__ import annotations

import json
import uuid

import redis
from lingxi.cli.main import app
from lingxi.events import QueryReceived
from lingxi.events.base import Region
from lingxi.runtime.envelope import encode_entry
from typer.testing import CliRunner, Result

STREAM = QueryReceived.stream


def lingxi(redis_url: str, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--redis-url", redis_url])


def fill(client: redis.Redis) -> list[str]:
    """5 queries; group `assistant` read 3 and acknowledged 1 (2 pending, lag 2); a stray stream."""
    ids = []
    for n in range(5):
        event = QueryReceived(
            region=Region.CN, locale="zh-CN", device_id="d", request_id=uuid.uuid4(), text=f"q{n}"
        )
        fields = encode_entry(event.model_dump_json(), {"correlation_id": "c"})
        ids.append(client.xadd(STREAM, fields).decode())
    client.xgroup_create(STREAM, "assistant", id="0")
    client.xgroup_create(STREAM, "gateway", id="$")
    client.xreadgroup("assistant", "assistant-1", {STREAM: ">"}, count=3)
    client.xack(STREAM, "assistant", ids[0])
    client.xadd("mystery.stream", {"k": "v"})
    client.xadd(f"{STREAM}.dlq", {"k": "v", "dlq.reason": "invalid_event"})
    client.set("not-a-stream", "1")
    return ids


def test_json_matches_xinfo(redis_url: str, redis_client: redis.Redis) -> None:
    ids = fill(redis_client)

    result = lingxi(redis_url, "streams", "--json", "--consumers")

    assert result.exit_code == 0, result.output
    reports = {r["stream"]: r for r in json.loads(result.stdout)}
    assert sorted(reports) == [STREAM, f"{STREAM}.dlq", "mystery.stream"]
    query = reports[STREAM]
    assert (query["event_type"], query["known"], query["length"]) == ("QueryReceived", True, 5)
    groups = {g["name"]: g for g in query["groups"]}
    for info in redis_client.xinfo_groups(STREAM):
        group = groups[info["name"].decode()]
        assert group["consumers"] == info["consumers"]
        assert group["pending"] == info["pending"]
        assert group["lag"] == info["lag"]
        assert group["last_delivered_id"] == info["last-delivered-id"].decode()
    assert (groups["assistant"]["pending"], groups["assistant"]["lag"]) == (2, 2)
    assert groups["assistant"]["last_delivered_id"] == ids[2]
    (member,) = groups["assistant"]["consumer_list"]
    assert (member["name"], member["pending"]) == ("assistant-1", 2)
    assert member["idle_ms"] >= 0
    assert reports["mystery.stream"]["known"] is False
    assert reports[f"{STREAM}.dlq"]["dead_letters_of"] == STREAM


def test_the_table_shows_the_same_numbers(redis_url: str, redis_client: redis.Redis) -> None:
    ids = fill(redis_client)

    result = lingxi(redis_url, "streams")

    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows[0][:3] == ["stream", "event", "type"]
    by_first = {row[0]: row for row in rows[1:]}
    assert by_first[STREAM] == [STREAM, "QueryReceived", "5", "assistant", "1", "2", "2", ids[2]]
    (gateway,) = [row for row in rows if row[0] == "gateway"]
    assert gateway == ["gateway", "0", "0", "0", ids[4]]
    assert by_first["mystery.stream"] == ["mystery.stream", "?", "1"]
    assert by_first[f"{STREAM}.dlq"] == [f"{STREAM}.dlq", "QueryReceived", "1"]
    assert "not-a-stream" not in result.stdout


def test_lag_redis_cannot_tell_is_a_question_mark(redis_url: str, redis_client: redis.Redis) -> None:
    ids = fill(redis_client)
    redis_client.xdel(STREAM, ids[3])  # a deletion among the undelivered entries: Redis cannot count lag

    table = lingxi(redis_url, "streams", "assistant.query.received")
    as_json = json.loads(lingxi(redis_url, "streams", "--json", "assistant.query.*").stdout)

    (info,) = [g for g in redis_client.xinfo_groups(STREAM) if g["name"] == b"assistant"]
    assert info.get("lag") is None
    (group,) = [g for g in as_json[0]["groups"] if g["name"] == "assistant"]
    assert group["lag"] is None
    assert table.stdout.splitlines()[1].split()[6] == "?"
    assert [r["stream"] for r in as_json] == [STREAM, f"{STREAM}.dlq"]


def test_no_streams(redis_url: str, redis_client: redis.Redis) -> None:
    result = lingxi(redis_url, "streams")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "no streams" in result.stderr
