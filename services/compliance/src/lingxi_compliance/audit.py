"""The tamper-evident audit trail: a hash chain of entries kept in a Redis stream.

**Entry.** One JSON object: the fields of the audited record plus ``seq`` (1, 2, ...), ``prev`` (the
``hash`` of the entry before it; ``GENESIS_HASH``, 64 zeros, for the first), ``at`` (when it was
appended, UTC ISO 8601) and ``hash``: SHA-256, lowercase hex, over the canonical JSON of every field
except ``hash``. Canonical JSON is sorted keys, no spaces, UTF-8 (``ensure_ascii=False``), no NaN or
infinity. The stream entry holds one field, ``entry``, with the canonical JSON of the whole entry.

**No personal data.** The caller decides what is audited and passes only facts about a decision:
ids (request, event, device), region, feature, provider, model, the decision and its reason code,
latency. Never the user's text, a phone number, an ID or card number, an email. ``entry_from`` refuses
records with a free-text key (``text``, ``query``, ``prompt``...) or a string that the log redactor
would mask; that is a guard against mistakes, not a licence to pass anything else.

**Chain.** Each entry's ``prev`` is the previous entry's ``hash`` and ``seq`` goes up by one, so
changing, removing, inserting or reordering an entry breaks the walk in ``verify`` at a named ``seq``.
The chain head (last ``seq`` and ``hash``) is kept in ``<stream>.head`` as well, so removing the last
entries or adding forged ones after the last real one is caught too. The hash has no secret: someone
who can write to Redis and rewrites the stream *and* the head from some entry on produces a chain that
verifies. Copying the head elsewhere now and then (an export, an ``AuditRecorded`` event, a ticket)
and comparing later closes that; see docs/audit.md.

**Concurrency (several compliance replicas appending at once).** SHA-256 is not available in Redis's
Lua, so the hash is computed in Python and the write is a compare-and-set: ``append`` builds the entry
on the head it believes current (``seq`` = head seq + 1, ``prev`` = head hash) and runs one Lua script
that, atomically, checks that ``<stream>.head`` still holds exactly that head, then XADDs the entry and
moves the head to it. If another replica got there first the script writes nothing and returns the
actual head; ``append`` rebuilds the entry on it and tries again. Only a writer whose ``prev`` is the
current head can ever add an entry, so the chain stays a single line however many replicas append.
Inside one process appends go one at a time (an ``asyncio.Lock``) and the head is cached, so the usual
append is one round trip and retries only happen between replicas. A lost reply (connection dropped
after the script ran) makes the retry append the record again: the audit trail is at-least-once, the
chain stays intact.

**Retention.** Entries older than ``retention_days`` (by their stream id, i.e. Redis's clock) are
trimmed by ``trim``; with ``maxlen`` the stream is also kept to that many entries on every append.
Trimming happens inside a Lua script that, in the same step, records in ``<stream>.anchor`` the
``seq`` and ``hash`` of the last entry it removes as ``<seq + 1>:<hash>``. ``verify`` then starts at the
oldest kept entry and checks it against the anchor (its ``seq`` and ``prev``) instead of against
``seq`` 1 and the genesis hash. The anchor is taken from the removed entry, never from the first kept
one, so deleting entries at the front of the chain is still reported after a later trim.

Redis Cluster: the script touches the stream, ``.head`` and ``.anchor`` keys together; name the stream
with a hash tag (``{compliance.audit}.log``) there. A plain Redis or Tair standard instance needs nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Literal, cast

import redis.asyncio as aioredis
from lingxi.events.compliance import GENESIS_HASH, AuditRequested
from lingxi.logging import FREE_TEXT_KEYS, mask_personal_data
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "CHAIN_FIELDS",
    "DEFAULT_STREAM",
    "GENESIS_HASH",
    "AuditLog",
    "AuditSettings",
    "Break",
    "BreakKind",
    "ChainPoint",
    "Verification",
    "canonical",
    "entry_from",
    "entry_hash",
    "parse_entry",
    "verify",
]

DEFAULT_STREAM = "compliance.audit.log"
CHAIN_FIELDS = ("seq", "prev", "at", "hash")
"""Fields the chain adds to a record; a record may not use these names."""

_ENTRY_FIELD = "entry"
_PAGE = 1000
_MAX_ATTEMPTS = 1000


class AuditSettings(BaseSettings):
    """``LINGXI_COMPLIANCE_AUDIT_*``: where the trail lives and how long it is kept."""

    model_config = SettingsConfigDict(env_prefix="LINGXI_COMPLIANCE_AUDIT_", extra="ignore")

    stream: str = DEFAULT_STREAM
    retention_days: int = Field(
        default=365,
        ge=1,
        description="Entries older than this are trimmed by AuditLog.trim. China's Cybersecurity Law "
        "(art. 21) asks for network logs to be kept at least six months: keep this >= 180.",
    )
    maxlen: int | None = Field(default=None, ge=1, description="Keep at most this many entries.")


# --- the pure part: entries, hashes, verification -------------------------------------------------


def canonical(value: Mapping[str, Any]) -> bytes:
    """Sorted keys, no spaces, UTF-8, no NaN/infinity: the bytes that are hashed and stored."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def entry_hash(entry: Mapping[str, Any]) -> str:
    """SHA-256 hex over the canonical bytes of every field but ``hash``."""
    return hashlib.sha256(canonical({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


def utc_iso(moment: datetime) -> str:
    """``2026-11-25T08:30:00.123456Z``."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def requested_record(request: AuditRequested) -> dict[str, Any]:
    """The record of another service's decision (``AuditRequested``), as the trail keeps it."""
    return {
        "actor": request.actor,
        "action": request.action,
        "subject": request.subject,
        "region": request.region.value,
        "requested_event_id": str(request.event_id),
        "detail": dict(request.detail),
    }


def _check_record(value: Any, path: str) -> None:
    if isinstance(value, str):
        if mask_personal_data(value) != value:
            raise ValueError(f"{path} looks like personal data; audit ids and codes, not user data")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{path}: keys must be strings")
            if key in FREE_TEXT_KEYS:
                raise ValueError(f"{path}.{key}: free text from users is never audited")
            _check_record(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_record(item, f"{path}[{index}]")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path}: NaN and infinity have no JSON form")
    elif value is not None and not isinstance(value, bool | int):
        raise ValueError(f"{path}: {type(value).__name__} is not a JSON value")


def entry_from(record: Mapping[str, Any], seq: int, prev: str, at: datetime) -> dict[str, Any]:
    """The entry for ``record`` at position ``seq`` after the entry whose hash is ``prev``.

    Raises ``ValueError`` for a record that uses a chain field name, holds something that is not JSON,
    or looks like it carries personal data.
    """
    check_record(record)
    return _chained(record, seq, prev, at)


def check_record(record: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` for a record the trail refuses (see ``entry_from``)."""
    if clash := sorted(set(record) & set(CHAIN_FIELDS)):
        raise ValueError(f"record fields {clash} are reserved for the chain")
    _check_record(record, "record")


def _chained(record: Mapping[str, Any], seq: int, prev: str, at: datetime) -> dict[str, Any]:
    entry: dict[str, Any] = {**record, "seq": seq, "prev": prev, "at": utc_iso(at)}
    entry["hash"] = entry_hash(entry)
    return entry


@dataclass(frozen=True)
class ChainPoint:
    """A ``seq`` and a hash: the head (last entry's seq and hash) or the anchor (first kept seq and
    the prev it must have). Stored in Redis as ``<seq>:<hash>``."""

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"

    @classmethod
    def parse(cls, value: str | bytes | None) -> ChainPoint | None:
        if value is None:
            return None
        text = value.decode() if isinstance(value, bytes) else value
        if not text:
            return None
        seq, _, digest = text.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            raise ValueError(f"{text!r} is not <seq>:<sha256 hex>")
        return cls(int(seq), digest)


BreakKind = Literal["malformed", "altered", "gap", "order", "prev", "head"]


@dataclass(frozen=True)
class Break:
    """The first broken link: the ``seq`` where the chain stops holding, and why."""

    seq: int
    kind: BreakKind
    reason: str

    def __str__(self) -> str:
        return f"seq {self.seq}: {self.reason}"


def parse_entry(raw: str | bytes | Mapping[str, Any]) -> dict[str, Any] | None:
    """An entry from its stored JSON (or a mapping as is); ``None`` if it is not an entry at all."""
    if isinstance(raw, Mapping):
        value: Any = dict(raw)
    else:
        try:
            value = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return None
    if not isinstance(value, dict):
        return None
    seq, prev, digest = value.get("seq"), value.get("prev"), value.get("hash")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        return None
    if not isinstance(prev, str) or not isinstance(digest, str) or not isinstance(value.get("at"), str):
        return None
    return value


def verify(
    entries: Iterable[str | bytes | Mapping[str, Any]],
    *,
    anchor: ChainPoint | None = None,
    head: ChainPoint | None = None,
) -> Break | None:
    """Walk ``entries`` in order; the first broken link, or ``None`` when the chain holds.

    The first entry must be ``seq`` 1 after ``GENESIS_HASH``, or, when ``anchor`` is given (the chain
    was trimmed), ``anchor.seq`` after ``anchor.hash``. Each following entry must have the next ``seq``
    and the previous entry's hash as ``prev``, and every entry's ``hash`` must match its content. With
    ``head`` (the chain head recorded at append time) the last entry must be the head. Reasons:

    - ``altered``: the hash does not match the content (a field was changed);
    - ``gap``: a ``seq`` is missing (an entry was deleted); the missing ``seq`` is named;
    - ``order``: a ``seq`` repeats or goes back (an entry was inserted or moved);
    - ``prev``: the right ``seq`` but ``prev`` is not the previous hash (an entry was replaced);
    - ``head``: entries after the head (forged) or the last entries up to the head missing (deleted);
    - ``malformed``: not an entry at all.
    """
    expected_seq = anchor.seq if anchor else 1
    expected_prev = anchor.hash if anchor else GENESIS_HASH
    for raw in entries:
        entry = parse_entry(raw)
        if entry is None:
            return Break(expected_seq, "malformed", "not a valid audit entry (inserted or overwritten)")
        seq = entry["seq"]
        if head is not None and seq > head.seq and expected_seq > head.seq:
            return Break(seq, "head", f"entry after the recorded head (seq {head.seq}): inserted")
        if entry_hash(entry) != entry["hash"]:
            return Break(seq, "altered", "hash does not match the content: the entry was altered")
        if seq > expected_seq:
            missing = f"seq {expected_seq}" if seq == expected_seq + 1 else f"seq {expected_seq}..{seq - 1}"
            return Break(
                expected_seq, "gap", f"{missing} missing before seq {seq}: entries were deleted or moved"
            )
        if seq < expected_seq:
            return Break(
                seq, "order", f"seq {seq} after seq {expected_seq - 1}: an entry was inserted or reordered"
            )
        if entry["prev"] != expected_prev:
            return Break(
                seq, "prev", "prev is not the hash of the entry before: an entry was inserted or replaced"
            )
        expected_seq, expected_prev = seq + 1, entry["hash"]
    if head is not None:
        last = expected_seq - 1
        if last < head.seq:
            missing = f"seq {expected_seq}" if expected_seq == head.seq else f"seq {expected_seq}..{head.seq}"
            return Break(expected_seq, "gap", f"{missing} missing at the end (head is seq {head.seq})")
        if last == head.seq and expected_prev != head.hash:
            return Break(last, "head", "last entry's hash is not the recorded head: it was replaced")
    return None


# --- the Redis part -------------------------------------------------------------------------------

# KEYS: stream, head, anchor. ARGV: expected head ("" = empty chain), new head, maxlen (""), then the
# entries' JSON in chain order. With maxlen, the oldest entries past it are removed after the adds and
# the anchor records the last one removed.
_APPEND = """
local head = redis.call('GET', KEYS[2]) or ''
if head ~= ARGV[1] then return {0, head} end
local id
for i = 4, #ARGV do id = redis.call('XADD', KEYS[1], '*', 'entry', ARGV[i]) end
local maxlen = tonumber(ARGV[3])
if maxlen then
  local excess = redis.call('XLEN', KEYS[1]) - maxlen
  if excess > 0 then
    local removed = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', excess)
    local ok, last = pcall(cjson.decode, removed[#removed][2][2])
    if ok and type(last) == 'table' and last.seq and last.hash then
      redis.call('SET', KEYS[3], string.format('%d', last.seq + 1) .. ':' .. last.hash)
    end
    for _, item in ipairs(removed) do redis.call('XDEL', KEYS[1], item[1]) end
  end
end
redis.call('SET', KEYS[2], ARGV[2])
return {1, id}
"""

# KEYS: stream, anchor. ARGV: cutoff stream id (entries strictly before it go). Returns entries removed.
_TRIM = """
local last = redis.call('XREVRANGE', KEYS[1], '(' .. ARGV[1], '-', 'COUNT', 1)
if #last == 0 then return 0 end
local ok, entry = pcall(cjson.decode, last[1][2][2])
if ok and type(entry) == 'table' and entry.seq and entry.hash then
  redis.call('SET', KEYS[2], string.format('%d', entry.seq + 1) .. ':' .. entry.hash)
end
return redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1])
"""


@dataclass(frozen=True)
class Verification:
    """What ``AuditLog.verify`` found: how many entries it walked and the first break, if any."""

    count: int
    broken: Break | None
    head: ChainPoint | None
    anchor: ChainPoint | None

    @property
    def intact(self) -> bool:
        return self.broken is None


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def _entry_field(fields: Mapping[Any, Any]) -> bytes | str:
    """The stored entry JSON of a stream entry (empty when the field is missing: malformed)."""
    raw = fields.get(_ENTRY_FIELD.encode(), fields.get(_ENTRY_FIELD))
    return raw if isinstance(raw, bytes | str) else b""


def _stream_id(moment: datetime) -> str:
    """The smallest stream id at or after ``moment``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"{max(0, int(moment.timestamp() * 1000))}-0"


class AuditLog:
    """The audit trail in one Redis stream (``stream``, plus ``<stream>.head`` and ``<stream>.anchor``).

    ``append`` is safe with any number of instances and replicas appending at once (see the module
    docstring). ``maxlen`` keeps at most that many entries; ``retention_days`` is what ``trim`` uses.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        stream: str = DEFAULT_STREAM,
        maxlen: int | None = None,
        *,
        retention_days: int | None = None,
    ) -> None:
        if maxlen is not None and maxlen < 1:
            raise ValueError("maxlen must be at least 1")
        self.redis = redis
        self.stream = stream
        self.head_key = f"{stream}.head"
        self.anchor_key = f"{stream}.anchor"
        self.maxlen = maxlen
        self.retention_days = retention_days
        self._append = redis.register_script(_APPEND)
        self._trim = redis.register_script(_TRIM)
        self._lock = asyncio.Lock()
        self._head: ChainPoint | None = None
        self._head_known = False

    async def head(self) -> ChainPoint | None:
        """The last entry's seq and hash as recorded at append time; ``None`` for an empty trail."""
        return ChainPoint.parse(await self.redis.get(self.head_key))

    async def anchor(self) -> ChainPoint | None:
        """Where verification starts after trimming: first kept seq and the prev it must have."""
        return ChainPoint.parse(await self.redis.get(self.anchor_key))

    async def append(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Add ``record`` (ids, codes, decisions: no personal data) as the next entry; returns the entry."""
        return (await self.append_many([record]))[0]

    async def append_many(self, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Add ``records`` as the next entries, in order, in one round trip; returns the entries.

        All or nothing: a bad record is refused before any I/O and nothing is appended."""
        for record in records:
            check_record(record)  # refuse a bad record before any I/O
        if not records:
            return []
        async with self._lock:
            if not self._head_known:
                self._head, self._head_known = await self.head(), True
            for _ in range(_MAX_ATTEMPTS):
                head = self._head
                seq, prev = (head.seq, head.hash) if head else (0, GENESIS_HASH)
                at = datetime.now(UTC)
                entries = []
                for record in records:
                    seq += 1
                    entry = _chained(record, seq, prev, at)  # checked above
                    entries.append(entry)
                    prev = entry["hash"]
                new_head = ChainPoint(seq, prev)
                written, value = await self._append(
                    keys=[self.stream, self.head_key, self.anchor_key],
                    args=[
                        str(head) if head else "",
                        str(new_head),
                        "" if self.maxlen is None else str(self.maxlen),
                        *(canonical(entry) for entry in entries),
                    ],
                )
                if written:
                    self._head = new_head
                    return entries
                self._head = ChainPoint.parse(value)  # another writer moved the head: build on it
            self._head_known = False
            raise RuntimeError(f"could not append to {self.stream} after {_MAX_ATTEMPTS} attempts")

    async def _raw(self, since: datetime | None = None) -> AsyncIterator[tuple[str, bytes | str]]:
        """(stream id, stored entry JSON) from ``since`` (by stream id), oldest first, page by page."""
        low = _stream_id(since) if since else "-"
        while True:
            page = cast(list[Any], await self.redis.xrange(self.stream, low, "+", count=_PAGE))
            for entry_id, fields in page:
                yield _text(entry_id), _entry_field(fields)
            if len(page) < _PAGE:
                return
            low = f"({_text(page[-1][0])}"

    async def read(self, since: datetime | None = None) -> list[dict[str, Any]]:
        """Entries stored at or after ``since`` (UTC; naive means UTC), oldest first; all if ``None``.

        ``since`` is compared with when Redis stored the entry (its stream id). Stored values that are
        not entries are skipped here; ``verify`` reports them.
        """
        entries = []
        async for _, raw in self._raw(since):
            if (entry := parse_entry(raw)) is not None:
                entries.append(entry)
        return entries

    async def export(self, target: str | Path | BinaryIO, since: datetime | None = None) -> int:
        """Write entries stored at or after ``since`` to ``target`` (a path, or an open binary stream such
        as standard output, left open) as JSON lines, each exactly as stored (canonical JSON, so every
        line re-hashes to its ``hash``); returns how many were written."""
        owned = isinstance(target, str | Path)
        if isinstance(target, str | Path):
            out: BinaryIO = await asyncio.to_thread(Path(target).open, "wb")
        else:
            out = target
        count = 0
        try:
            lines: list[bytes] = []
            async for _, raw in self._raw(since):
                lines.append(raw if isinstance(raw, bytes) else raw.encode("utf-8"))
                if len(lines) == _PAGE:
                    await asyncio.to_thread(out.write, b"\n".join(lines) + b"\n")
                    count, lines = count + len(lines), []
            if lines:
                await asyncio.to_thread(out.write, b"\n".join(lines) + b"\n")
                count += len(lines)
        finally:
            await asyncio.to_thread(out.close if owned else out.flush)
        return count

    async def verify(self) -> Verification:
        """Walk the whole kept trail against the anchor and the head.

        The stream is read in pages; the head, the anchor and the last page are read in one MULTI so
        that entries appended while verifying cannot look like forged ones or missing ones.
        """
        raws: list[bytes | str] = []
        last_id = "-"
        async for entry_id, raw in self._raw():
            raws.append(raw)
            last_id = entry_id
        low = "-" if last_id == "-" else f"({last_id}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xrange(self.stream, low, "+")
            pipe.get(self.head_key)
            pipe.get(self.anchor_key)
            tail, head_raw, anchor_raw = await pipe.execute()
        raws.extend(_entry_field(fields) for _, fields in tail)
        try:
            head, anchor = ChainPoint.parse(head_raw), ChainPoint.parse(anchor_raw)
        except ValueError as error:
            return Verification(
                len(raws), Break(0, "head", f"head or anchor key is corrupt: {error}"), None, None
            )
        if anchor is not None:  # a trim that ran while we read: drop the front it removed, only that
            start = 0
            while start < len(raws) and (e := parse_entry(raws[start])) is not None and e["seq"] < anchor.seq:
                start += 1
            raws = raws[start:]
        return Verification(len(raws), verify(raws, anchor=anchor, head=head), head, anchor)

    async def trim(self, now: datetime | None = None) -> int:
        """Remove entries older than ``retention_days`` (by stream id); returns how many went."""
        if self.retention_days is None:
            raise ValueError("this AuditLog has no retention_days")
        cutoff = (now or datetime.now(UTC)) - timedelta(days=self.retention_days)
        return await self.trim_before(cutoff)

    async def trim_before(self, cutoff: datetime) -> int:
        """Remove entries stored before ``cutoff``, recording the anchor in the same atomic step."""
        async with self._lock:
            removed = await self._trim(keys=[self.stream, self.anchor_key], args=[_stream_id(cutoff)])
        return int(removed)
