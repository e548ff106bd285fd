"""Committing the effects of a handled event, and dead-lettering the ones that cannot be handled.

A handler's outputs are not published while it runs: they are buffered in an ``Outbox`` and committed
when it returns, in one Lua script that, atomically,
  1. marks the input event handled (``SET lingxi:processed:<service>:<event_id> NX EX ttl``),
  2. only if that mark is new, appends the outputs to their streams,
  3. acknowledges the input entry.
So a replica that dies before the commit leaves the entry pending with no output (a reclaimer runs it
again), and a replica that commits second (a slow handler whose entry was reclaimed meanwhile, or a
publisher that sent the same event twice) publishes nothing: no second downstream event, ever.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from redis.asyncio import Redis

from lingxi.events.base import Event
from lingxi.events.registry import dead_letter_stream
from lingxi.runtime.envelope import DATA_FIELD, encode_entry

# KEYS: source stream, n processed-marks, m output streams.
# ARGV: ttl, group, n, n entry ids, m owner indexes (1..n), m payloads.
_COMMIT_LUA = """
local ttl, group, n = ARGV[1], ARGV[2], tonumber(ARGV[3])
local m = #KEYS - 1 - n
local fresh, flags = {}, {}
for i = 1, n do
  if redis.call('SET', KEYS[1 + i], '1', 'NX', 'EX', ttl) then
    fresh[i] = true
    flags[i] = 1
  else
    flags[i] = 0
  end
end
for j = 1, m do
  if fresh[tonumber(ARGV[3 + n + j])] then
    redis.call('XADD', KEYS[1 + n + j], '*', '__data__', ARGV[3 + n + m + j])
  end
end
redis.call('XACK', KEYS[1], group, unpack(ARGV, 4, 3 + n))
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

    def add(self, owner: UUID, event: Event, correlation_id: str) -> None:
        self.outputs.append(Output(owner, event.stream, stream_entry(event, correlation_id)[DATA_FIELD]))

    def reject(self, owner: UUID, reason: str, detail: str) -> None:
        self.rejected[owner] = (reason, detail)
        self.outputs[:] = [o for o in self.outputs if o.owner != owner]

    def kept(self, owner: UUID) -> bool:
        return owner not in self.rejected


def stream_entry(event: Event, correlation_id: str) -> dict[str, str]:
    """The fields of the stream entry that carries ``event``: how every Lingxi publisher writes it."""
    headers = {"correlation_id": correlation_id, "content-type": "application/json"}
    return encode_entry(event.model_dump_json(by_alias=True), headers)


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

    async def commit(self, stream: str, handled: Sequence[Handled], outbox: Outbox) -> list[bool]:
        """Mark, publish and acknowledge in one step; says for each input whether it was new.

        Two entries with the same event_id share one mark: the first is new, the second is not, and
        outputs belong to the first.
        """
        position: dict[UUID, int] = {}
        for index, item in enumerate(handled, start=1):
            position.setdefault(item.event_id, index)
        keys = [stream, *(h.processed_key for h in handled), *(o.stream for o in outbox.outputs)]
        args: list[str | int] = [self.ttl_s, self.group, len(handled)]
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
) -> str:
    """Move an entry to ``<stream>.dlq`` and acknowledge it, atomically; the original fields are kept."""
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
        pipe.xadd(dead_letter_stream(stream), record)  # type: ignore[arg-type]
        pipe.xack(stream, group, entry_id)
        dlq_id, _ = await pipe.execute()
    return _text(dlq_id)


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


async def delivery_count(redis: Redis, stream: str, group: str, entry_id: str) -> int:
    """How many times the group has delivered this entry (1 once acknowledged or unknown)."""
    pending = await redis.xpending_range(stream, group, min=entry_id, max=entry_id, count=1)
    return int(pending[0]["times_delivered"]) if pending else 1
