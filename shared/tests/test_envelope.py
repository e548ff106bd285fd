"""Reading stream entries in every accepted form, and saying why one cannot be read."""

from __future__ import annotations

import asyncio
import json

from faststream.redis.parser.binary import BinaryMessageFormatV1
from lingxi.runtime.envelope import JsonEnvelopeFormat, decode_entry, encode_entry, read_entry


def test_the_envelope_we_write_reads_back_with_its_headers() -> None:
    fields = encode_entry('{"text": "打开微信"}', {"correlation_id": "c-1"})
    as_redis_returns_it = {k.encode(): v.encode() for k, v in fields.items()}
    assert decode_entry(as_redis_returns_it) == ('{"text": "打开微信"}', {"correlation_id": "c-1"})
    entry = read_entry(b"1-0", as_redis_returns_it)
    assert (entry.entry_id, entry.correlation_id, entry.problem) == ("1-0", "c-1", None)


def test_faststreams_binary_frame_is_read_too() -> None:
    frame = asyncio.run(
        BinaryMessageFormatV1.encode(
            message={"text": "hi"}, reply_to=None, headers=None, correlation_id="c-2"
        )
    )
    event_json, headers = decode_entry({b"__data__": frame})
    assert json.loads(event_json) == {"text": "hi"}
    assert headers["correlation_id"] == "c-2"


def test_the_publishers_envelope_matches_the_reader() -> None:
    encoded = asyncio.run(
        JsonEnvelopeFormat.encode(message={"a": 1}, reply_to=None, headers=None, correlation_id="c-3")
    )
    event_json, headers = decode_entry({b"__data__": encoded})
    assert json.loads(event_json) == {"a": 1}
    assert headers["correlation_id"] == "c-3"


def test_a_bare_event_written_as_plain_fields_is_its_own_json() -> None:
    event_json, headers = decode_entry({b"text": "你好".encode(), b"locale": b"zh-CN"})
    assert json.loads(event_json) == {"text": "你好", "locale": "zh-CN"}
    assert headers == {}


def test_a_data_field_that_is_not_an_envelope_is_passed_on_for_validation_to_reject() -> None:
    assert decode_entry({b"__data__": b"plain words"}) == ("plain words", {})


def test_unreadable_entries_say_why() -> None:
    not_utf8 = read_entry(b"2-0", {b"__data__": b"\xff\xfe oops"})
    assert not_utf8.problem is not None
    assert "UnicodeDecodeError" in not_utf8.problem
    bad_headers = read_entry(b"3-0", {b"__data__": b'{"data": "{}", "headers": ["x"]}'})
    assert bad_headers.problem is not None
    assert "headers must be an object" in bad_headers.problem
    bad_field = read_entry(b"4-0", {b"\xff": b"x"})
    assert bad_field.problem is not None
