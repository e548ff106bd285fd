"""How an event sits in a stream entry.

Each entry has one field, ``__data__``, holding a JSON envelope ``{"data": "<event JSON>", "headers":
{...}}``. JSON rather than FastStream's default binary frame so that ``redis-cli XRANGE`` and
``lingxi tail`` show readable entries and anyone can publish with a plain ``XADD``; FastStream's own
parser reads the envelope, its binary frame, and a bare JSON event alike.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from faststream.redis.parser.binary import BinaryMessageFormatV1

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


def decode_entry(fields: dict[bytes, bytes] | dict[str, str]) -> tuple[str, dict[str, Any]]:
    """(event JSON, headers) from a stream entry in any accepted form."""
    normalised = {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in fields.items()
    }
    raw = normalised.get(DATA_FIELD)
    if raw is None:
        return json.dumps(normalised, ensure_ascii=False), {}
    data, headers = BinaryMessageFormatV1.parse(raw.encode())
    return data.decode(errors="replace"), headers


UNDECODABLE = "lingxi.undecodable"
"""Key of the raw message under which ``tolerant_parser`` lists the entries it could not decode."""
_PLACEHOLDER = {DATA_FIELD.encode(): b'{"data": "{}", "headers": {}}'}


async def tolerant_parser(message: dict[str, Any], original: Any) -> Any:
    """FastStream parser that never raises, so an undecodable entry cannot stay pending forever.

    An entry FastStream's parser rejects (bytes that are not UTF-8, headers that are not a mapping)
    is replaced by an empty event and recorded under ``UNDECODABLE`` with its original fields and the
    reason; the runtime then dead-letters it with those original fields.
    """
    try:
        return await original(message)
    except Exception as error:
        if not isinstance(message.get("data"), list):
            quarantined = {_text(message["message_ids"][0]): (message["data"], _reason(error))}
            return await original({**message, "data": dict(_PLACEHOLDER), UNDECODABLE: quarantined})
    items: list[Any] = []
    quarantined = {}
    for entry, fields in zip(message["message_ids"], message["data"], strict=True):
        try:
            await original({**message, "message_ids": [entry], "data": [fields]})
            items.append(fields)
        except Exception as error:
            quarantined[_text(entry)] = (fields, _reason(error))
            items.append(dict(_PLACEHOLDER))
    return await original({**message, "data": items, UNDECODABLE: quarantined})


def _reason(error: Exception) -> str:
    return f"undecodable entry: {type(error).__name__}: {error}"[:500]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
