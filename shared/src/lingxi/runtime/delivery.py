"""Committing the effects of a handled event, and dead-lettering the ones that cannot be handled.

A handler's outputs are not published while it runs: they are buffered in an ``Outbox`` and committed
when it returns, in one Lua script that, atomically,
  1. marks the input event handled (``SET lingxi:processed:<service>:<event_id> <delivery> NX EX ttl``),
  2. only if that mark is new, appends the outputs to their streams,
  3. acknowledges the input entry.
So a replica that dies before the commit leaves the entry pending with no output (a reclaimer runs it
again), and a replica that commits second (a slow handler whose entry was reclaimed meanwhile, or a
publisher that sent the same event twice) publishes nothing: no second downstream event, ever.

A handler whose own atomic write is an input's whole effect may set the input's mark in that write
(``HandlerContext.handled_mark``): a delivery of the input after the write (the commit failed, the
replica died, the read was retried) then finds it handled, so the effect is never applied twice, even
where the domain could not tell. The mark holds the delivery's token, so the commit of the delivery
that wrote it still counts the input as new and publishes its outputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from opentelemetry.context import Context
from redis.asyncio import Redis

from lingxi import tracing
from lingxi.events.base import Event
from lingxi.events.registry import dead_letter_stream
from lingxi.runtime.envelope import DATA_FIELD, encode_entry

# KEYS: source stream, n processed-marks, m output streams.
# ARGV: ttl, group, n, delivery token, n entry ids, m owner indexes (1..n), m payloads.
# A mark is new if this commit sets it, or if the handler's own write set it with this delivery's
# token (``handled_mark``); a second copy of an event in the same read never is.
_COMMIT_LUA = """
local ttl, group, n, token = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local m = #KEYS - 1 - n
local fresh, flags, seen = {}, {}, {}
for i = 1, n do
  local key = KEYS[1 + i]
  local new = false
  if not seen[key] then
    local before = redis.call('SET', key, token, 'NX', 'GET', 'EX', ttl)  -- Redis 7: NX with GET
    new = not before or before == token
  end
  if new then
    fresh[i] = true
    flags[i] = 1
  else
    flags[i] = 0
  end
  seen[key] = true
end
for j = 1, m do
  if fresh[tonumber(ARGV[4 + n + j])] then
    redis.call('XADD', KEYS[1 + n + j], '*', '__data__', ARGV[4 + n + m + j])
  end
end
redis.call('XACK', KEYS[1], group, unpack(ARGV, 5, 4 + n))
return flags
"""


@dataclass(frozen=True)
class Output:
    owner: UUID
    """event_id of the input whose handling produced it: published only if that input is new."""
    stream: str
    payload: str


@dataclass
class Outbox:
    outputs: list[Output] = field(default_factory=list)
    rejected: dict[UUID, tuple[str, str]] = field(default_factory=dict)
    """Inputs the handler refused (event_id -> reason, detail): dead-lettered, not committed."""

    def add(self, owner: UUID, event: Event, correlation_id: str, trace: Context | None = None) -> None:
        self.outputs.append(Output(owner, event.stream, entry_data(event, correlation_id, trace)))

    def reject(self, owner: UUID, reason: str, detail: str) -> None:
        self.rejected[owner] = (reason, detail)
        self.outputs[:] = [o for o in self.outputs if o.owner != owner]

    def kept(self, owner: UUID) -> bool:
        return owner not in self.rejected


def stream_entry(event: Event, correlation_id: str, trace: Context | None = None) -> dict[str, str]:
    """The fields of the stream entry that carries ``event``: how every Lingxi publisher writes it.

    With traces on, the headers carry ``trace``'s span (default: the current one) as ``traceparent``."""
    headers = {"correlation_id": correlation_id, "content-type": "application/json"}
    tracing.inject(headers, trace)
    return encode_entry(event.model_dump_json(by_alias=True), headers)


def entry_data(event: Event, correlation_id: str, trace: Context | None = None) -> str:
    """The one field of ``stream_entry`` (``DATA_FIELD``): what a script that adds the entry itself
    (``XADD stream * __data__ <this>``) writes."""
    return stream_entry(event, correlation_id, trace)[DATA_FIELD]


@dataclass(frozen=True, slots=True)
class HandledMark:
    """An input's handled mark, for a handler to set in its own atomic write: ``SET key value EX ttl_s``."""

    key: str
    value: str
    """The token of the delivery being handled."""
    ttl_s: int


@dataclass(frozen=True)
class Handled:
    entry_id: str
    event_id: UUID
    processed_key: str


class Committer:
    def __init__(self, redis: Redis, group: str, ttl_s: int) -> None:
        self._script = redis.register_script(_COMMIT_LUA)
        self.group = group
        self.ttl_s = ttl_s

    async def commit(
        self, stream: str, handled: Sequence[Handled], outbox: Outbox, delivery: str
    ) -> list[bool]:
        """Mark, publish and acknowledge in one step; says for each input whether it was new.

        Two entries with the same event_id share one mark: the first is new, the second is not, and
        outputs belong to the first. ``delivery`` is the token of the read being committed: a mark the
        handler's own write set with it (``HandledMark``) counts as new.
        """
        position: dict[UUID, int] = {}
        for index, item in enumerate(handled, start=1):
            position.setdefault(item.event_id, index)
        keys = [stream, *(h.processed_key for h in handled), *(o.stream for o in outbox.outputs)]
        args: list[str | int] = [self.ttl_s, self.group, len(handled), delivery]
        args += [h.entry_id for h in handled]
        args += [position[o.owner] for o in outbox.outputs]
        args += [o.payload for o in outbox.outputs]
        flags = await self._script(keys=keys, args=args)
        return [bool(flag) for flag in flags]


async def dead_letter(
    redis: Redis,
    *,
    stream: str,
    group: str,
    entry_id: str,
    fields: Mapping[Any, Any],
    reason: str,
    error: str,
    attempts: int,
    replica: str,
    keep: int | None = None,
) -> str:
    """Move an entry to ``<stream>.dlq`` and acknowledge it, atomically; the original fields are kept.

    With ``keep``, the dead-letter stream holds about that many entries at most (``MAXLEN ~``: whole
    nodes of the oldest go, so a little more may stay): a flood of garbage cannot fill Redis."""
    record: dict[str, bytes | str] = {
        # Values stay as they were, bytes included, so a replay re-adds exactly what was published.
        **{_text(k): v if isinstance(v, bytes) else str(v) for k, v in fields.items()},
        "dlq.reason": reason,
        "dlq.error": error[:2000],
        "dlq.attempts": str(attempts),
        "dlq.original_id": entry_id,
        "dlq.stream": stream,
        "dlq.service": group,
        "dlq.replica": replica,
        "dlq.failed_at": datetime.now(UTC).isoformat(),
    }
    async with redis.pipeline(transaction=True) as pipe:
        pipe.xadd(dead_letter_stream(stream), record, maxlen=keep, approximate=True)  # type: ignore[arg-type]
        pipe.xack(stream, group, entry_id)
        dlq_id, _ = await pipe.execute()
    return _text(dlq_id)


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


async def delivery_count(redis: Redis, stream: str, group: str, entry_id: str) -> int:
    """How many times the group has delivered this entry (1 once acknowledged or unknown)."""
    pending = await redis.xpending_range(stream, group, min=entry_id, max=entry_id, count=1)
    return int(pending[0]["times_delivered"]) if pending else 1
