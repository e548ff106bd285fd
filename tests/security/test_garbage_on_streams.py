"""Garbage on every stream a Lingxi service consumes: each entry is dead-lettered with a reason, no consumer
stops, nothing stays pending, no log line is forged, and valid work flows afterwards.

The streams are not listed here: they are the consumers each service's code registers (read from its source
by ``lingxi.asyncapi``, as ``lingxi asyncapi`` does), checked against the consumer groups the running
services create, so a new consumer is covered as soon as it is written. Every service runs as its own
process on real Redis; the garbage is written with plain ``XADD``s, as any client of Redis could.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from faststream.redis.parser.binary import BinaryMessageFormatV1
from lingxi.cli.asyncapi import installed_contracts
from lingxi.events.base import Event
from lingxi.events.registry import EVENT_TYPES, dead_letter_stream
from lingxi.runtime.envelope import DATA_FIELD, encode_entry
from lingxi.testing.processes import ServiceProcess, all_ready, eventually, metric
from lingxi.testing.tokens import device_headers
from pydantic import ValidationError

pytestmark = pytest.mark.e2e

Fields = Mapping[Any, Any]
"""Entry fields as written: names and values, text or bytes."""

CONSUMERS: dict[str, tuple[type[Event], ...]] = {
    contract.name: contract.consumes for contract in installed_contracts() if contract.consumes
}
"""Service (= consumer group) -> the event types it consumes, from the services' own code."""

GROUPS: dict[str, list[str]] = {}
"""Consumed stream -> the consumer groups (services) that read it."""
for _service, _consumed in sorted(CONSUMERS.items()):
    for _cls in _consumed:
        GROUPS.setdefault(_cls.stream, []).append(_service)
STREAMS = sorted(GROUPS)

FORGED_EVENT = "forged by garbage on a stream"
FORGED_LINE = json.dumps({"level": "critical", "event": FORGED_EVENT, "service": "gateway"})
"""A log line an attacker would like a service to print: it must only ever appear escaped, inside a field."""
INJECTION = f"\n{FORGED_LINE}\n\r{FORGED_LINE}\r\n\u2028{FORGED_LINE}\u2029{FORGED_LINE}\x85{FORGED_LINE}\x0b"
CONTROL = "\x00\x07\x08\x1b[2J\x1b[31m\u2028\u2029\x7f\ufeff"
ONE_MB = 1024 * 1024
DEPTH = 10_000
DEEP = "[" * DEPTH + "]" * DEPTH
ADMISSION_REASONS = {"invalid_event", "undecodable_entry"}
"""What the runtime says of an entry refused before any handler sees it (``Service._admit``)."""
HEADERS = {"correlation_id": "garbage-test", "content-type": "application/json"}


def example(cls: type[Event], **changes: Any) -> dict[str, Any]:
    """A valid wire payload of ``cls``, built from the examples its fields document."""
    data = {name: field.examples[0] for name, field in cls.model_fields.items() if field.examples}
    return {**data, "region": "CN", **changes}


def validates(cls: type[Event], event_json: str) -> bool:
    try:
        cls.model_validate_json(event_json)
    except ValidationError:
        return False
    return True


def another_type(cls: type[Event]) -> dict[str, Any]:
    """A valid event of some other stream's type that ``cls`` refuses."""
    for other in sorted(EVENT_TYPES.values(), key=lambda c: c.stream):
        if other is not cls and not validates(cls, json.dumps(example(other))):
            return example(other)
    raise AssertionError(f"every other event type validates as {cls.__name__}")


def envelope(data: Any, headers: Any = None) -> dict[str, str]:
    """An entry shaped like the one publishers write, whatever ``data`` and ``headers`` are."""
    return {DATA_FIELD: json.dumps({"data": data, "headers": HEADERS if headers is None else headers})}


def binary_frame() -> bytes:
    """FastStream's binary frame header, then offsets pointing past the end of the entry."""
    return BinaryMessageFormatV1.IDENTITY_HEADER + b"\x00\x01" + b"\xff\xff\xff\xf0" * 2 + b"\xff\xff"


GARBAGE: dict[str, Callable[[type[Event]], Fields]] = {
    # Not the envelope at all.
    "plain-field": lambda cls: {"x": "y"},
    "empty-field": lambda cls: {"": ""},
    "empty-data": lambda cls: {DATA_FIELD: ""},
    "data-not-json": lambda cls: {DATA_FIELD: "this is not json {"},
    "binary-frame-truncated": lambda cls: {DATA_FIELD: binary_frame()},
    # The envelope, around something that is not the event.
    "payload-not-json": lambda cls: encode_entry("{not json", HEADERS),
    "payload-array": lambda cls: encode_entry("[1, 2, 3]", HEADERS),
    "payload-null": lambda cls: encode_entry("null", HEADERS),
    "payload-string": lambda cls: encode_entry('"an event"', HEADERS),
    "payload-empty-object": lambda cls: encode_entry("{}", HEADERS),
    "payload-object-not-string": lambda cls: envelope(example(cls)),
    "headers-not-object": lambda cls: envelope(json.dumps(example(cls)), ["correlation_id"]),
    "wrong-event-type": lambda cls: encode_entry(json.dumps(another_type(cls)), HEADERS),
    # Near misses of a valid entry.
    "unknown-field": lambda cls: encode_entry(json.dumps(example(cls, surprise=1)), HEADERS),
    "unknown-schema-version": lambda cls: encode_entry(json.dumps(example(cls, schema_version=999)), HEADERS),
    "unknown-region": lambda cls: encode_entry(json.dumps(example(cls, region="XX")), HEADERS),
    "truncated-event": lambda cls: encode_entry(json.dumps(example(cls))[:-7], HEADERS),
    "bare-fields-of-another-type": lambda cls: {k: str(v) for k, v in another_type(cls).items()},
    # Bytes that are not UTF-8.
    "invalid-utf8-data": lambda cls: {DATA_FIELD: b"\xff\xfe not utf-8 \x80"},
    "invalid-utf8-in-envelope": lambda cls: {
        DATA_FIELD: b'{"data": "{\\"region\\": \\"\xc3\x28\\"}", "headers": {}}'
    },
    "invalid-utf8-field-name": lambda cls: {b"\xff\xfe\xc3\x28": b"\x80value"},
    # Size and depth.
    "one-megabyte-data": lambda cls: {DATA_FIELD: "x" * ONE_MB},
    "one-megabyte-field-in-event": lambda cls: encode_entry(
        json.dumps(example(cls, blob="x" * ONE_MB)), HEADERS
    ),
    "deep-nesting-data": lambda cls: {DATA_FIELD: DEEP},
    "deep-nesting-payload": lambda cls: encode_entry(DEEP, HEADERS),
    "deep-nesting-in-event": lambda cls: encode_entry(
        json.dumps(example(cls, region="REGION")).replace('"REGION"', DEEP), HEADERS
    ),
    "deep-nesting-headers": lambda cls: {
        DATA_FIELD: '{"data": "{}", "headers": {"correlation_id": ' + DEEP + "}}"
    },
    # Log injection and control characters, in names and values.
    "log-injection-value": lambda cls: {DATA_FIELD: INJECTION},
    "log-injection-field-name": lambda cls: {INJECTION: INJECTION, f"region{INJECTION}": "CN"},
    "log-injection-in-event": lambda cls: encode_entry(
        json.dumps(example(cls, **{INJECTION: INJECTION})), HEADERS
    ),
    "log-injection-in-headers": lambda cls: envelope(
        json.dumps(example(cls, surprise=INJECTION)),
        {"correlation_id": INJECTION, "traceparent": INJECTION, INJECTION: INJECTION},
    ),
    "control-characters": lambda cls: {f"{DATA_FIELD}{CONTROL}": CONTROL, CONTROL: f"{CONTROL}{INJECTION}"},
    # Fields that would speak for the dead-letter record itself.
    "spoofed-dead-letter-fields": lambda cls: {
        "dlq.reason": "",
        "dlq.error": "",
        "dlq.service": "nobody",
        "dlq.stream": "elsewhere",
        "dlq.original_id": "0-1",
        "dlq.attempts": "-1",
    },
}
"""Kind of garbage -> the entry fields written for a stream of ``cls``'s events."""

SERVICES_DIR = Path(__file__).resolve().parents[2] / "services"


def as_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


@dataclass(frozen=True)
class Sent:
    entry_id: bytes
    fields: dict[bytes, bytes]


@pytest.fixture(scope="module")
def system(module_services: Callable[..., ServiceProcess]) -> dict[str, ServiceProcess]:
    """One replica of every service that consumes a stream, each its own process."""
    return all_ready({name: module_services(name, f"{name}-1", wait=False) for name in sorted(CONSUMERS)})


def health(process: ServiceProcess) -> dict[str, Any]:
    answer = httpx.get(f"{process.base_url}/healthz", timeout=5)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


@pytest.fixture(scope="module")
def pids(system: dict[str, ServiceProcess]) -> dict[str, int]:
    """Each service's pid before any garbage was written."""
    return {name: int(health(process)["pid"]) for name, process in system.items()}


@pytest.fixture(scope="module")
def sent(pids: dict[str, int], redis_url: str) -> dict[tuple[str, str], Sent]:
    """(stream, kind of garbage) -> the entry written, every kind on every consumed stream."""
    client = redis.Redis.from_url(redis_url)
    written: dict[tuple[str, str], Sent] = {}
    try:
        for stream in STREAMS:
            cls = EVENT_TYPES[stream]
            for kind, make in GARBAGE.items():
                fields = {as_bytes(k): as_bytes(v) for k, v in make(cls).items()}
                entry_id: bytes = client.xadd(stream, fields)  # type: ignore[arg-type,assignment]
                written[stream, kind] = Sent(entry_id, fields)
    finally:
        client.close()
    return written


@pytest.fixture(scope="module")
def dead_letters(
    sent: dict[tuple[str, str], Sent], redis_url: str
) -> dict[tuple[str, str, bytes], dict[bytes, bytes]]:
    """(stream, group, original entry id) -> the dead letter, once every expected one is there (or a
    bounded wait is over: the tests say which are missing)."""
    client = redis.Redis.from_url(redis_url)
    expected = {stream: len(GARBAGE) * len(groups) for stream, groups in GROUPS.items()}
    try:
        eventually(
            lambda: all(client.xlen(dead_letter_stream(s)) >= n for s, n in expected.items()),
            timeout_s=30,
        )
        letters: dict[tuple[str, str, bytes], dict[bytes, bytes]] = {}
        for stream in STREAMS:
            entries: list[tuple[bytes, dict[bytes, bytes]]] = client.xrange(dead_letter_stream(stream))  # type: ignore[assignment]
            for _, fields in entries:
                group = fields.get(b"dlq.service", b"").decode()
                letters[stream, group, fields.get(b"dlq.original_id", b"")] = fields
        return letters
    finally:
        client.close()


def consumer_groups(client: redis.Redis) -> set[tuple[str, str]]:
    """(stream, group) of every consumer group in Redis."""
    found = set()
    for key in client.scan_iter(_type="stream"):
        groups: list[dict[str, Any]] = client.xinfo_groups(key)
        for group in groups:
            found.add((key.decode(), as_bytes(group["name"]).decode()))
    return found


def test_the_consumed_streams_are_read_from_the_code_and_cover_every_consumer(
    system: dict[str, ServiceProcess], live_redis: redis.Redis
) -> None:
    assert STREAMS, "no service consumes a stream?"
    assert set(STREAMS) <= set(EVENT_TYPES)
    # Every service package whose code subscribes to something is covered...
    subscribing = {
        path.relative_to(SERVICES_DIR).parts[0]
        for path in SERVICES_DIR.glob("*/src/**/*.py")
        if ".consumer(" in path.read_text(encoding="utf-8")
    }
    assert subscribing, f"no consumer found under {SERVICES_DIR}"
    assert subscribing <= set(CONSUMERS), f"consuming services not covered: {subscribing - set(CONSUMERS)}"
    # ... and the groups the running services created are exactly the ones listed.
    listed = {(stream, group) for stream, groups in GROUPS.items() for group in groups}
    assert consumer_groups(live_redis) == listed


@pytest.mark.parametrize(
    ("stream", "kind"),
    [(s, k) for s in STREAMS for k in GARBAGE],
    ids=[f"{s}:{k}" for s in STREAMS for k in GARBAGE],
)
def test_garbage_is_dead_lettered_with_a_reason(
    sent: dict[tuple[str, str], Sent],
    dead_letters: dict[tuple[str, str, bytes], dict[bytes, bytes]],
    stream: str,
    kind: str,
) -> None:
    entry = sent[stream, kind]
    for group in GROUPS[stream]:
        letter = dead_letters.get((stream, group, entry.entry_id))
        assert letter is not None, f"{group} did not dead-letter {kind} ({entry.entry_id!r}) from {stream}"
        assert letter[b"dlq.reason"].decode() in ADMISSION_REASONS, letter[b"dlq.reason"]
        assert letter[b"dlq.error"], "the dead letter says what is wrong"
        assert letter[b"dlq.stream"] == stream.encode()
        assert letter[b"dlq.attempts"] == b"1", "refused on first sight, never retried"
        # The original fields are kept for inspection and replay (names as text: Redis keeps them so).
        for name, value in entry.fields.items():
            if not name.startswith(b"dlq."):
                assert letter[name.decode(errors="replace").encode()] == value, name[:80]


@pytest.mark.parametrize("stream", STREAMS)
def test_nothing_stays_pending_or_unread(
    system: dict[str, ServiceProcess],
    dead_letters: dict[tuple[str, str, bytes], dict[bytes, bytes]],
    live_redis: redis.Redis,
    stream: str,
) -> None:
    last_id = live_redis.xinfo_stream(stream)["last-generated-id"]

    def unsettled() -> list[dict[str, Any]]:
        """Groups on the stream with an entry pending or not yet read."""
        groups: list[dict[str, Any]] = live_redis.xinfo_groups(stream)
        return [g for g in groups if g["pending"] or g["last-delivered-id"] != last_id]

    assert eventually(lambda: not unsettled(), timeout_s=10), unsettled()
    # One dead letter per entry and group: none lost, none written twice.
    assert live_redis.xlen(dead_letter_stream(stream)) == len(GARBAGE) * len(GROUPS[stream])
    for group in GROUPS[stream]:
        assert live_redis.xpending(stream, group)["pending"] == 0
        labels = f'outcome="dead_lettered",service="{group}",stream="{stream}"'
        assert metric(system[group], "lingxi_events_handled_total", labels) == len(GARBAGE)


def test_every_consumer_is_still_the_same_process_and_ready(
    system: dict[str, ServiceProcess],
    pids: dict[str, int],
    dead_letters: dict[tuple[str, str, bytes], dict[bytes, bytes]],
) -> None:
    for name, process in system.items():
        assert process.process is not None
        assert process.process.poll() is None, f"{name} exited:\n{process.log_tail()}"
        assert health(process)["pid"] == pids[name], f"{name} was restarted"
        ready = httpx.get(f"{process.base_url}/readyz", timeout=5)
        assert ready.status_code == 200, f"{name}: {ready.text}"
        assert ready.json() == {"ready": True, "redis": True, "consuming": True}


def test_valid_work_still_flows_after_the_garbage(
    system: dict[str, ServiceProcess],
    dead_letters: dict[tuple[str, str, bytes], dict[bytes, bytes]],
    live_redis: redis.Redis,
) -> None:
    before = {stream: live_redis.xlen(dead_letter_stream(stream)) for stream in STREAMS}
    # Through the gateway, the assistant and compliance, and back to the gateway: three consumers.
    answer = httpx.post(
        f"{system['gateway'].base_url}/v1/assistant/queries",
        params={"wait": 10},
        json={"text": "打开微信", "locale": "zh-CN", "device_id": "dev-garbage", "region": "CN"},
        headers=device_headers("dev-garbage"),
        timeout=20,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "released"
    assert body["result"]["intent"] == "open_app"
    assert {stream: live_redis.xlen(dead_letter_stream(stream)) for stream in STREAMS} == before


def test_no_log_line_is_forged(
    system: dict[str, ServiceProcess], dead_letters: dict[tuple[str, str, bytes], dict[bytes, bytes]]
) -> None:
    def forged(line: str) -> bool:
        try:
            parsed = json.loads(line)
        except ValueError:
            return False
        return isinstance(parsed, dict) and (
            parsed.get("event") == FORGED_EVENT or parsed.get("level") == "critical"
        )

    contained = 0
    for process in system.values():
        text = process.log_path.read_text(encoding="utf-8")
        # JSON Lines: "\n" ends a line, and every line is one JSON object.
        for number, line in enumerate(text.split("\n")[:-1], 1):
            where = f"{process.log_path.name}:{number}"
            try:
                parsed = json.loads(line)
            except ValueError:
                pytest.fail(f"{where} is not a JSON line: {line[:300]!r}")
            assert isinstance(parsed, dict), f"{where}: {line[:300]!r}"
            assert not forged(line), f"{where} is forged or critical: {line[:500]}"
            contained += FORGED_EVENT in line
        # A reader that also breaks lines at U+2028, U+0085, \r... (str.splitlines) finds none either.
        pieces = text.splitlines()
        assert not [p for p in pieces if p.strip() == FORGED_LINE or forged(p.strip())], process.log_path.name
    # The injected text did reach the logs, escaped inside a field: the checks above are not vacuous.
    assert contained, "no log line mentions the injected text at all"
