"""`lingxi publish`: events are validated as consumers validate them, then added in the runtime's envelope."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import redis
from lingxi.cli.main import app
from lingxi.events import AnswerDrafted, QueryReceived
from lingxi.events.base import Region
from lingxi.runtime.envelope import decode_entry
from typer.testing import CliRunner, Result

REQUEST_ID = "0e2b6c4a-6f5d-4d8e-8d0a-9b7c1a2e3f40"
QUERY = [
    "region=CN",
    "locale=en-US",
    "device_id=demo-device",
    f"request_id={REQUEST_ID}",
    "text=open WeChat",
]


def lingxi(redis_url: str, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, [*args, "--redis-url", redis_url], input=stdin)


def only_entry(client: redis.Redis, stream: str) -> tuple[str, dict[bytes, bytes]]:
    entries = client.xrange(stream)
    assert len(entries) == 1
    entry_id, fields = entries[0]
    return entry_id.decode(), fields


def test_a_valid_event_is_added_and_decodes_to_the_same_event(
    redis_url: str, redis_client: redis.Redis
) -> None:
    result = lingxi(redis_url, "publish", "assistant.query.received", *QUERY)

    assert result.exit_code == 0, result.output
    entry_id, stream, event_id, correlation = result.stdout.split()
    assert stream == "assistant.query.received"
    stored_id, fields = only_entry(redis_client, stream)
    assert stored_id == entry_id
    event_json, headers = decode_entry(fields)
    event = QueryReceived.model_validate_json(event_json)
    assert event_id == f"event_id={event.event_id}"
    assert event == QueryReceived(
        event_id=event.event_id,
        occurred_at=event.occurred_at,
        region=Region.CN,
        locale="en-US",
        device_id="demo-device",
        request_id=uuid.UUID(REQUEST_ID),
        text="open WeChat",
    )
    # The request id is the correlation id of every event in a flow (as the gateway publishes).
    assert headers["correlation_id"] == REQUEST_ID
    assert correlation == f"correlation_id={REQUEST_ID}"


def test_the_class_name_works_and_correlation_id_can_be_given(
    redis_url: str, redis_client: redis.Redis
) -> None:
    result = lingxi(redis_url, "publish", "QueryReceived", *QUERY, "--correlation-id", "trace-7")

    assert result.exit_code == 0, result.output
    _, fields = only_entry(redis_client, "assistant.query.received")
    assert decode_entry(fields)[1]["correlation_id"] == "trace-7"


def test_an_invalid_event_is_refused_with_each_field_named_and_nothing_is_added(
    redis_url: str, redis_client: redis.Redis
) -> None:
    args = [a for a in QUERY if not a.startswith(("text=", "region="))]
    result = lingxi(redis_url, "publish", "assistant.query.received", *args, "region=cn", "colour=red")

    assert result.exit_code == 2
    errors = result.stderr
    assert "text: Field required" in errors
    assert "region: Input should be 'CN'" in errors
    assert "colour: Extra inputs are not permitted" in errors
    assert result.stdout == ""
    assert redis_client.exists("assistant.query.received") == 0


def test_a_wrong_type_is_named(redis_url: str, redis_client: redis.Redis) -> None:
    result = lingxi(redis_url, "publish", "assistant.query.received", *QUERY, "request_id=not-a-uuid")

    assert result.exit_code == 2
    assert "request_id: Input should be a valid UUID" in result.stderr
    assert redis_client.exists("assistant.query.received") == 0


def test_an_unknown_event_type_lists_the_known_ones_closest_first(
    redis_url: str, redis_client: redis.Redis
) -> None:
    result = lingxi(redis_url, "publish", "assistant.query.recieved", "text=hi")

    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert "unknown event type 'assistant.query.recieved'" in lines[0]
    assert lines[1].split() == ["assistant.query.received", "QueryReceived"]
    assert any(line.split()[0] == "user.erasure.completed" for line in lines[2:])
    assert redis_client.keys("*") == []


def test_a_value_is_json_when_it_parses_and_text_where_the_model_wants_text(
    redis_url: str, redis_client: redis.Redis
) -> None:
    args = [a for a in QUERY if not a.startswith("text=")]
    result = lingxi(redis_url, "publish", "QueryReceived", *args, "text=123")

    assert result.exit_code == 0, result.output
    _, fields = only_entry(redis_client, "assistant.query.received")
    assert QueryReceived.model_validate_json(decode_entry(fields)[0]).text == "123"


def test_the_event_can_come_from_a_json_file_with_dotted_fields_overriding(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    body = {
        "region": "CN",
        "request_id": REQUEST_ID,
        "device_id": "demo-device",
        "locale": "zh-CN",
        "intent": "set_alarm",
        "confidence": 0.5,
        "reply_text": "好的",
        "engine": "local-rules",
        "model_name": "lingxi-local-intents",
        "action": {"name": "alarm.cancel"},
    }
    source = tmp_path / "draft.json"
    source.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")

    result = lingxi(
        redis_url,
        "publish",
        "assistant.answer.drafted",
        "--json",
        str(source),
        "confidence=0.9",
        "action.name=alarm.set",
        "action.params.time=07:00",
        'slots={"time": "07:00"}',
    )

    assert result.exit_code == 0, result.output
    _, fields = only_entry(redis_client, "assistant.answer.drafted")
    event = AnswerDrafted.model_validate_json(decode_entry(fields)[0])
    assert event.confidence == 0.9
    assert event.action is not None
    assert (event.action.name, event.action.params) == ("alarm.set", {"time": "07:00"})
    assert event.slots == {"time": "07:00"}
    assert event.reply_text == "好的"


def test_the_event_can_come_from_stdin(redis_url: str, redis_client: redis.Redis) -> None:
    body = dict(item.split("=", 1) for item in QUERY)
    result = lingxi(redis_url, "publish", "QueryReceived", "--json", "-", stdin=json.dumps(body))

    assert result.exit_code == 0, result.output
    _, fields = only_entry(redis_client, "assistant.query.received")
    assert QueryReceived.model_validate_json(decode_entry(fields)[0]).text == "open WeChat"


def test_bad_json_input_is_refused(redis_url: str, redis_client: redis.Redis, tmp_path: Path) -> None:
    (tmp_path / "list.json").write_text("[1, 2]", encoding="utf-8")
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")

    for name, needle in [("list.json", "must hold a JSON object"), ("broken.json", "not valid JSON")]:
        result = lingxi(redis_url, "publish", "QueryReceived", "--json", str(tmp_path / name))
        assert result.exit_code == 2
        assert needle in result.stderr
    result = lingxi(redis_url, "publish", "QueryReceived", "no-equals-sign")
    assert result.exit_code == 2
    assert "expected FIELD=VALUE" in result.stderr
    assert redis_client.keys("*") == []


def test_dry_run_validates_and_adds_nothing(redis_url: str, redis_client: redis.Redis) -> None:
    result = lingxi(redis_url, "publish", "QueryReceived", *QUERY, "--dry-run")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["text"] == "open WeChat"
    assert redis_client.keys("*") == []
