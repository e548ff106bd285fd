"""What ``lingxi logs`` and ``lingxi trace`` do with log lines, without any I/O.

Lines are the services' structlog JSON (one object a line, ``timestamp`` in ISO 8601 UTC) as
``lingxi up`` writes them to its log folder, or as ``docker compose logs`` (``name  | {...}``) and
``kubectl logs --prefix`` (``[pod/x/container] {...}``) print them. Everything here takes text or
parsed lines and gives text or data, so it is tested without files, processes or a terminal.

A request is followed by its id: the gateway makes the request id the correlation id of every event
of the flow, and the runtime logs one ``event handled`` line per event with ``correlation_id``,
``entry_id`` (whose first part is the time Redis appended the entry), ``outcome`` and ``duration_ms``
(read to commit). The gateway's ``http request`` line carries the id as ``request_id``; from a gateway
that logged none, ``build_trace`` pairs the line with the flow by time, and says so.
"""

from __future__ import annotations

import heapq
import json
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
_LEVEL_ALIASES = {"warn": "warning", "exception": "error", "fatal": "critical", "notset": "debug"}

# The colour of each service, as `lingxi up` shows its replicas; others get one from their name.
SERVICE_COLOURS = {
    "gateway": "36",
    "assistant": "32",
    "vision": "35",
    "compliance": "33",
    "maintenance": "34",
    "personalization": "31",
}
_OTHER_COLOURS = ("96", "92", "95", "93", "94", "91")
_LEVEL_COLOURS = {"debug": "2", "info": "32", "warning": "33", "error": "31", "critical": "1;31"}

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Fields shown in their own columns (or as the message) rather than as key=value pairs.
_SHOWN = frozenset({"timestamp", "level", "event", "service", "replica", "logger", "exception", "stack"})
_BARE = re.compile(r"^[^\s\"'=]+$")


# --- parsing ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogLine:
    """One JSON log line: its time (UTC), its fields and its JSON text as read (prefix stripped)."""

    time: datetime
    fields: dict[str, Any]
    raw: str

    @property
    def service(self) -> str:
        return str(self.fields.get("service") or "")

    @property
    def replica(self) -> str:
        return str(self.fields.get("replica") or "")

    @property
    def level(self) -> str:
        return level_name(str(self.fields.get("level") or "info"))

    @property
    def event(self) -> str:
        return str(self.fields.get("event", ""))

    def text(self, key: str) -> str | None:
        value = self.fields.get(key)
        return None if value is None else str(value)


def json_part(text: str) -> str | None:
    """The JSON object in a line, without what a log collector put before it, or None.

    ``docker compose logs`` writes ``name  | {...}`` (``lingxi up`` in a pipe too), ``kubectl logs
    --prefix`` ``[pod/name/container] {...}``, and either may add a time or colours: the object starts at
    the first brace.
    """
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    brace = text.find("{")
    if brace < 0:
        return None
    return text[brace:].strip()


def parse_time(value: str) -> datetime | None:
    """An ISO 8601 time as an aware UTC datetime (a time without zone is taken as UTC), or None."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_line(text: str) -> LogLine | None:
    """A log line from one line of text, or None when it holds no JSON object with a ``timestamp``."""
    found = json_part(text)
    if found is None:
        return None
    try:
        fields = orjson.loads(found)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(fields, dict) or not isinstance(fields.get("timestamp"), str):
        return None
    moment = parse_time(fields["timestamp"])
    if moment is None:
        return None
    return LogLine(moment, fields, found)


@dataclass
class LineReader:
    """Parses lines of text, keeping those ``wanted`` lets through and counting those not JSON log lines.

    ``wanted`` is a cheap test on the raw text (an id the line must contain), so most lines of a large
    log are never parsed. Lines are parsed as they are asked for: a large file is never held whole.
    """

    wanted: Callable[[str], bool] | None = None
    skipped: int = 0

    def feed(self, texts: Iterable[str]) -> Iterator[LogLine]:
        for text in texts:
            if self.wanted is not None and not self.wanted(text):
                if "{" not in text and text.strip():
                    self.skipped += 1
                continue
            line = parse_line(text)
            if line is None:
                if text.strip():
                    self.skipped += 1
                continue
            yield line


# --- filtering ----------------------------------------------------------------------------------


def level_name(value: str) -> str:
    name = value.strip().lower()
    return _LEVEL_ALIASES.get(name, name)


def level_rank(value: str) -> int:
    """The severity of a level name; a level this does not know counts as info."""
    return LEVELS.get(level_name(value), LEVELS["info"])


def parse_level(value: str) -> str:
    """A level option (debug, info, warning, error, critical; warn, fatal accepted) or ValueError."""
    name = level_name(value)
    if name not in LEVELS:
        raise ValueError(f"{value!r}: expected one of {', '.join(LEVELS)}")
    return name


def parse_since(value: str, now: datetime) -> datetime:
    """``--since``: an ISO 8601 time (UTC when it has no zone) or a duration back from ``now``
    (``30s``, ``10m``, ``2h``, ``1d``). ValueError says what is accepted."""
    text = value.strip()
    relative = _RELATIVE.match(text)
    if relative:
        return now - timedelta(seconds=float(relative.group(1)) * _UNITS[relative.group(2)])
    moment = parse_time(text.replace(" ", "T", 1)) if text else None
    if moment is None:
        raise ValueError(
            f"{value!r}: expected an ISO 8601 time such as 2026-11-26T14:00:00Z, or a duration such as "
            "30s, 10m, 2h, 1d"
        )
    return moment


def mentions(line: LogLine, ids: Iterable[str]) -> bool:
    """Whether a line is about a request or flow in ``ids``: its ``correlation_id`` or ``request_id``,
    or the last part of its HTTP ``path`` (``GET /v1/requests/<id>``)."""
    wanted = set(ids)
    if line.text("correlation_id") in wanted or line.text("request_id") in wanted:
        return True
    path = line.text("path")
    return path is not None and path.rstrip("/").rsplit("/", 1)[-1] in wanted


@dataclass(frozen=True)
class LineFilter:
    """What ``lingxi logs`` keeps. Empty sets and None keep everything."""

    services: frozenset[str] = frozenset()
    replicas: frozenset[str] = frozenset()
    streams: frozenset[str] = frozenset()
    level: str | None = None
    correlation_id: str | None = None
    since: datetime | None = None

    def wanted(self, text: str) -> bool:
        """A test on the raw text before parsing: a line about a correlation id contains it."""
        return self.correlation_id is None or _contains(text, self.correlation_id)

    def matches(self, line: LogLine) -> bool:
        if self.since is not None and line.time < self.since:
            return False
        if self.level is not None and level_rank(line.level) < LEVELS[self.level]:
            return False
        if self.services and line.service not in self.services:
            return False
        if self.replicas and line.replica not in self.replicas:
            return False
        if self.streams and line.text("stream") not in self.streams:
            return False
        return self.correlation_id is None or mentions(line, [self.correlation_id])


def merge(lines: Iterable[LogLine]) -> list[LogLine]:
    """Lines from any number of sources in time order; lines of the same time keep their order."""
    return sorted(lines, key=lambda line: line.time)


class ReorderWindow:
    """Holds each line ``window_s`` after it was read, then hands lines out in time order.

    Replicas write their files independently, so when following, a line may be read a little after a
    later line of another replica; holding lines briefly puts them back in order. ``now`` is any
    monotonic clock in seconds (passed in, so tests need no sleeping).
    """

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._held: list[tuple[datetime, int, float, LogLine]] = []
        self._count = 0

    def __len__(self) -> int:
        return len(self._held)

    def add(self, lines: Iterable[LogLine], now: float) -> None:
        for line in lines:
            self._count += 1
            heapq.heappush(self._held, (line.time, self._count, now, line))

    def due(self, now: float) -> list[LogLine]:
        """The lines held long enough, oldest first (a line held for less keeps later ones back)."""
        out = []
        while self._held and self._held[0][2] + self.window_s <= now:
            out.append(heapq.heappop(self._held)[3])
        return out

    def drain(self) -> list[LogLine]:
        out = [item[3] for item in sorted(self._held)]
        self._held.clear()
        return out


# --- showing ------------------------------------------------------------------------------------


def service_colour(service: str) -> str:
    """An ANSI colour code for a service, the same on every run."""
    known = SERVICE_COLOURS.get(service)
    if known is not None:
        return known
    return _OTHER_COLOURS[zlib.crc32(service.encode()) % len(_OTHER_COLOURS)]


def _paint(text: str, code: str, color: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if color and code else text


def show_time(moment: datetime) -> str:
    """``2026-11-26T14:39:27.504Z``: UTC to the millisecond."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def who(line: LogLine) -> str:
    """``assistant-1`` where the replica's name says its service, else ``service/replica``."""
    service, replica = line.service, line.replica
    if not replica:
        return service or "?"
    if not service or replica.startswith(service):
        return replica
    return f"{service}/{replica}"


def show_value(value: Any) -> str:
    if isinstance(value, str):
        return value if _BARE.match(value) else json.dumps(value, ensure_ascii=False)
    return orjson.dumps(value).decode()


def render_line(line: LogLine, *, color: bool, width: int = 18) -> str:
    """One line for a person: time, replica, level, message, then the other fields as key=value."""
    level = line.level
    parts = [
        _paint(show_time(line.time), "2", color),
        _paint(f"{who(line):<{width}}", service_colour(line.service), color),
        _paint(f"{level:<8}", _LEVEL_COLOURS.get(level, ""), color),
        _paint(line.event, "1", color),
    ]
    pairs = [(k, v) for k, v in line.fields.items() if k not in _SHOWN]
    if "logger" in line.fields:
        pairs.append(("logger", line.fields["logger"]))
    parts.extend(f"{_paint(key, '36', color)}={show_value(value)}" for key, value in pairs)
    text = " ".join(parts)
    for key in ("exception", "stack"):
        block = line.fields.get(key)
        if block:
            text += "\n" + "\n".join("    " + row for row in str(block).rstrip().splitlines())
    return text


def who_width(lines: Iterable[LogLine], least: int = 18, most: int = 40) -> int:
    return min(max([least, *(len(who(line)) for line in lines)]), most)


# --- tracing one request ------------------------------------------------------------------------


def entry_time(entry_id: str | None) -> datetime | None:
    """When Redis appended a stream entry: the milliseconds before the dash of its id."""
    if not entry_id:
        return None
    millis, _, _ = entry_id.partition("-")
    if not millis.isdigit():
        return None
    try:
        return datetime.fromtimestamp(int(millis) / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


@dataclass(frozen=True)
class Hop:
    """One step of a request: a line with a duration (``start`` to ``end``) or a moment."""

    start: datetime
    end: datetime
    line: LogLine
    what: str
    duration_ms: float | None = None
    published: datetime | None = None
    """For an event handled: when its entry was appended, so the wait before the read shows."""
    inferred: bool = False
    """Paired with the request by time, not by an id (the gateway's ``http request`` line)."""

    @property
    def queued_ms(self) -> float | None:
        if self.published is None:
            return None
        return max((self.start - self.published).total_seconds() * 1000, 0.0)


@dataclass(frozen=True)
class Trace:
    ident: str
    hops: tuple[Hop, ...]
    notes: tuple[str, ...] = ()
    start: datetime = field(init=False)
    end: datetime = field(init=False)

    def __post_init__(self) -> None:
        starts = [min(h.start, h.published) if h.published else h.start for h in self.hops]
        object.__setattr__(self, "start", min(starts))
        object.__setattr__(self, "end", max(h.end for h in self.hops))

    @property
    def total_ms(self) -> float:
        return (self.end - self.start).total_seconds() * 1000

    def offset_ms(self, moment: datetime) -> float:
        return (moment - self.start).total_seconds() * 1000

    @property
    def services(self) -> list[str]:
        return list(dict.fromkeys(h.line.service for h in self.hops if h.line.service))


_SLACK = timedelta(milliseconds=2)  # entry ids count whole milliseconds; log times microseconds


def trace_wants(text: str, ident: str) -> bool:
    """What ``build_trace`` may need from a raw line: the id, or a gateway POST to pair by time."""
    return _contains(text, ident) or ("http request" in text and "POST" in text)


def _contains(text: str, ident: str) -> bool:
    # An id with a character JSON escapes is not in the raw text as such: parse every line then.
    return ident in text or '"' in ident or "\\" in ident


def _hop(line: LogLine) -> Hop:
    duration = line.fields.get("duration_ms")
    took = float(duration) if isinstance(duration, int | float) and duration >= 0 else None
    start = line.time - timedelta(milliseconds=took) if took is not None else line.time
    event = line.event
    if event == "event handled":
        what = f"{line.text('stream') or '?'} {line.text('outcome') or ''}".strip()
        return Hop(start, line.time, line, what, took, published=entry_time(line.text("entry_id")))
    if event == "http request":
        what = f"{line.text('method')} {line.text('path')} -> {line.text('status')}"
        return Hop(start, line.time, line, what, took)
    return Hop(start, line.time, line, event, took)


def _is_post(line: LogLine) -> bool:
    return line.event == "http request" and line.text("method") == "POST"


def build_trace(lines: Sequence[LogLine], ident: str) -> Trace | None:
    """Every step of one request, from the lines that carry its id (as ``correlation_id`` or
    ``request_id``, or at the end of an HTTP path), ordered by when each began; None if none does.

    When no line of the POST that started the flow carries the id (a gateway that logged none), and
    exactly one POST was in flight at the moment the flow's first event was appended, that one is added,
    marked ``inferred``; when several were, a note says the request cannot be told apart.
    """
    matched = [line for line in lines if mentions(line, [ident])]
    if not matched:
        return None
    hops = [_hop(line) for line in matched]
    notes: list[str] = []
    published = [h.published for h in hops if h.published is not None]
    if published and not any(_is_post(line) for line in matched):
        first = min(published)
        candidates = [
            line
            for line in lines
            if _is_post(line) and (hop := _hop(line)).start - _SLACK <= first <= hop.end + _SLACK
        ]
        if len(candidates) == 1:
            hops.append(_hop_inferred(candidates[0]))
            notes.append(
                "the HTTP request is matched by time: it was the only POST in flight when the first "
                "event was published (the gateway's request line carries no request id)"
            )
        elif candidates:
            notes.append(
                f"{len(candidates)} POST requests were in flight when the first event was published: "
                "which one started this request cannot be told, so none is shown"
            )
    hops.sort(key=lambda h: (h.start, h.end))
    return Trace(ident, tuple(hops), tuple(notes))


def _hop_inferred(line: LogLine) -> Hop:
    hop = _hop(line)
    return Hop(hop.start, hop.end, hop.line, hop.what, hop.duration_ms, inferred=True)


def _ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 10_000 else f"{value / 1000:.2f} s"


def _bar(trace: Trace, hop: Hop, width: int) -> str:
    total = trace.total_ms

    def column(moment: datetime) -> int:
        if total <= 0:
            return 0
        return min(int(trace.offset_ms(moment) / total * width), width - 1)

    cells = [" "] * width
    begin, finish = column(hop.start), column(hop.end)
    if hop.published is not None:
        for i in range(column(hop.published), begin):
            cells[i] = "░"
    if hop.duration_ms is None:
        cells[begin] = "│"
    else:
        for i in range(begin, max(finish, begin) + 1):
            cells[i] = "█"
    return "".join(cells)


def render_trace(trace: Trace, *, color: bool, bar_width: int = 40) -> list[str]:
    """The trace as text: a header, one row per hop (offset, replica, what happened, duration, bar),
    the total, and notes."""
    header = (
        f"request {trace.ident}: {len(trace.hops)} steps across {', '.join(trace.services) or '?'}, "
        f"{_ms(trace.total_ms)} from {show_time(trace.start)}"
    )
    rows: list[tuple[str, str, str, str]] = []
    for hop in trace.hops:
        what = hop.what
        if hop.queued_ms is not None:
            what += f" (queued {_ms(hop.queued_ms)})"
        if hop.inferred:
            what += " ~"
        took = _ms(hop.duration_ms) if hop.duration_ms is not None else ""
        rows.append((f"+{_ms(trace.offset_ms(hop.start))}", who(hop.line), what, took))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [_paint(header, "1", color), ""]
    for (offset, name, what, took), hop in zip(rows, trace.hops, strict=True):
        outcome = hop.line.text("outcome")
        bad = hop.line.level in ("warning", "error", "critical") or outcome in ("retry", "dead_lettered")
        lines.append(
            "  ".join(
                [
                    f"{offset:>{widths[0]}}",
                    _paint(f"{name:<{widths[1]}}", service_colour(hop.line.service), color),
                    _paint(f"{what:<{widths[2]}}", "31" if bad else "", color),
                    f"{took:>{widths[3]}}",
                    "|" + _paint(_bar(trace, hop, bar_width), service_colour(hop.line.service), color) + "|",
                ]
            )
        )
    lines.append("")
    lines.append(f"total {_ms(trace.total_ms)}  (░ waiting in a stream, █ being handled, │ a moment)")
    lines.extend(f"~ {note}" for note in trace.notes)
    return lines


def trace_json(trace: Trace) -> dict[str, Any]:
    """The trace for machines: times in ISO 8601 UTC, offsets and durations in milliseconds."""
    return {
        "id": trace.ident,
        "start": show_time(trace.start),
        "end": show_time(trace.end),
        "total_ms": round(trace.total_ms, 3),
        "services": trace.services,
        "hops": [
            {
                "offset_ms": round(trace.offset_ms(hop.start), 3),
                "duration_ms": hop.duration_ms,
                "queued_ms": None if hop.queued_ms is None else round(hop.queued_ms, 3),
                "time": show_time(hop.line.time),
                "service": hop.line.service,
                "replica": hop.line.replica,
                "what": hop.what,
                "inferred": hop.inferred,
                "line": hop.line.fields,
            }
            for hop in trace.hops
        ],
        "notes": list(trace.notes),
    }
