"""How an event sits in a stream entry.

Each entry has one field, ``__data__``, holding a JSON envelope ``{"data": "<event JSON>", "headers":
{...}}``. JSON rather than FastStream's default binary frame so that ``redis-cli XRANGE`` and
``lingxi tail`` show readable entries and anyone can publish with a plain ``XADD``. ``decode_entry``
reads the envelope, FastStream's binary frame, and a bare event written as plain fields alike.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from faststream.redis.parser.binary import BinaryMessageFormatV1

from lingxi.tracing import trace_headers

if TYPE_CHECKING:
    from fast_depends.library.serializer import SerializerProto
    from faststream._internal.basic_types import SendableMessage
    from faststream._internal.parser import CodecProto

DATA_FIELD = "__data__"


class JsonEnvelopeFormat(BinaryMessageFormatV1):
    """Writes the readable JSON envelope; parsing is inherited and accepts every form."""

    @classmethod
    async def encode(
        cls,
        *,
        message: Sequence[SendableMessage] | SendableMessage,
        reply_to: str | None,
        headers: dict[str, Any] | None,
        correlation_id: str,
        serializer: SerializerProto | None = None,
        codec: CodecProto | None = None,
    ) -> bytes:
        built = await cls.build(
            message=message,
            reply_to=reply_to,
            headers=headers,
            correlation_id=correlation_id,
            serializer=serializer,
            codec=codec,
        )
        envelope = {"data": built.data.decode(), "headers": built.headers}
        return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


def encode_entry(event_json: str, headers: dict[str, str]) -> dict[str, str]:
    """Stream entry fields for an event published without FastStream (CLI, dead-letter replay)."""
    envelope = {"data": event_json, "headers": headers}
    return {DATA_FIELD: json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))}


def decode_entry(fields: Mapping[bytes, bytes] | Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    """(event JSON, headers) from a stream entry in any accepted form.

    Raises on bytes that are not UTF-8 or an envelope whose headers are not an object.
    """
    raw = fields.get(_DATA_KEY) or fields.get(DATA_FIELD)  # type: ignore[call-overload]
    if raw is not None:
        envelope = _json_or_none(raw)
        if isinstance(envelope, dict) and isinstance(envelope.get("data"), str):
            # The envelope we write: the common case, parsed once.
            return envelope["data"], _headers(envelope.get("headers", {}))
        data, headers = BinaryMessageFormatV1.parse(raw if isinstance(raw, bytes) else raw.encode())
        return data.decode(), _headers(headers)
    # A bare event published with a plain XADD: its fields are the event.
    normalised = {_text(k, strict=True): _text(v, strict=True) for k, v in fields.items()}
    return json.dumps(normalised, ensure_ascii=False), {}


@dataclass(frozen=True, slots=True)
class Entry:
    """One stream entry as the runtime reads it: its event JSON and correlation id, or why it cannot
    be read (then the runtime dead-letters it with its original fields)."""

    entry_id: str
    fields: Mapping[Any, Any]
    event_json: str
    correlation_id: str | None
    problem: str | None = None
    trace: Mapping[str, str] = field(default_factory=dict)
    """The publisher's trace context headers (``traceparent``), when it sent them."""


def read_entry(entry_id: bytes | str, fields: Mapping[Any, Any]) -> Entry:
    """Never raises: an entry that cannot be decoded comes back with ``problem`` set."""
    ident = _text(entry_id)
    try:
        event_json, headers = decode_entry(fields)
    except Exception as error:
        return Entry(ident, fields, "", None, f"undecodable entry: {type(error).__name__}: {error}"[:500])
    correlation_id = str(headers["correlation_id"]) if headers.get("correlation_id") else None
    return Entry(ident, fields, event_json, correlation_id, trace=trace_headers(headers))


ENTRIES = "lingxi.entries"
"""Key of the raw message under which ``entries_parser`` puts the decoded entries of a read."""


async def entries_parser(message: dict[str, Any], original: Any) -> Any:
    """FastStream parser for a batch read: each entry is decoded once, here, by ``read_entry``, and
    listed under ``ENTRIES``; FastStream's own body parsing (a JSON decode and re-encode of every
    entry) is skipped because the runtime validates the event JSON itself."""
    entries = [read_entry(i, f) for i, f in zip(message["message_ids"], message["data"], strict=True)]
    return await original({**message, "data": [], ENTRIES: entries})


_DATA_KEY = DATA_FIELD.encode()


def _json_or_none(raw: bytes | str) -> Any:
    if isinstance(raw, bytes) and raw.startswith(BinaryMessageFormatV1.IDENTITY_HEADER):
        return None  # FastStream's binary frame
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        if isinstance(raw, bytes):
            raw.decode()  # not UTF-8: raise the UnicodeDecodeError that names the bad byte
        return None


def _headers(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"envelope headers must be an object, not {type(value).__name__}")
    return value


def _text(value: Any, *, strict: bool = False) -> str:
    if isinstance(value, bytes):
        return value.decode() if strict else value.decode(errors="replace")
    return str(value)
