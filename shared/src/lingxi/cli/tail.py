"""``lingxi tail``: read a stream's entries, decoded, without disturbing its consumers.

Plain reads (XRANGE, XREAD) change nothing in Redis. Only ``--group`` reads as a member of a consumer
group, which takes the entries away from that group's other consumers; it needs ``--yes``.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Mapping
from typing import Annotated, Any, cast

import redis
import typer
from pydantic import ValidationError
from rich.text import Text

from lingxi.cli.common import (
    RedisUrl,
    console,
    error_console,
    fail,
    field_map,
    id_time,
    known_type,
    open_redis,
    print_json,
    text,
    type_label,
    validation_messages,
)

Fields = Mapping[bytes, bytes]
_ENTRY_ID = re.compile(r"^\d+(-\d+)?$")
_BLOCK_MS = 1000


def describe_entry(stream: str, entry_id: str, fields: Fields) -> dict[str, Any]:
    """What ``tail`` shows of one entry, as JSON-ready data. Never raises: what does not decode is raw."""
    from lingxi.runtime.envelope import decode_entry  # imports the runtime (slow): only when needed

    plain = field_map(fields)
    shown: dict[str, Any] = {
        "id": entry_id,
        "time": id_time(entry_id),
        "stream": stream,
        "event_type": (cls.__name__ if (cls := known_type(stream)) else None),
        "correlation_id": None,
        "event": None,
    }
    dead_letter = {k.removeprefix("dlq."): v for k, v in plain.items() if k.startswith("dlq.")}
    if dead_letter:
        shown["dead_letter"] = dead_letter
    original = {k: v for k, v in fields.items() if not text(k).startswith("dlq.")}
    try:
        event_json, headers = decode_entry(original)
        event = json.loads(event_json)
    except Exception as error:
        shown["raw"] = {k: v for k, v in plain.items() if not k.startswith("dlq.")}
        shown["problem"] = f"does not decode: {error}"
        return shown
    shown["event"] = event
    if headers.get("correlation_id"):
        shown["correlation_id"] = str(headers["correlation_id"])
    if cls is not None:
        try:
            cls.model_validate_json(event_json)
        except ValidationError as invalid:
            shown["problem"] = "does not validate: " + "; ".join(validation_messages(invalid))
    return shown


def print_entry(shown: dict[str, Any], *, one_line: bool) -> None:
    """One entry: a JSON line with ``--json``, else a header line and the event indented."""
    if one_line:
        print_json(shown, pretty=False)
        return
    out = console()
    header = Text()
    header.append(shown["id"], style="bold cyan")
    header.append(f"  {shown['time']}  ")
    header.append(shown["event_type"] or type_label(shown["stream"]), style="bold")
    header.append(f"  correlation_id={shown['correlation_id'] or '-'}")
    out.print(header)
    if dead := shown.get("dead_letter"):
        line = Text("dead letter: ", style="yellow")
        line.append(" ".join(f"{k}={v}" for k, v in dead.items() if k != "error"))
        out.print(line)
        if dead.get("error"):
            out.print(Text(f"error: {dead['error']}", style="yellow"))
    if problem := shown.get("problem"):
        out.print(Text(problem, style="red"))
    print_json(shown["raw"] if "raw" in shown else shown["event"])
    out.print()


def _entries(reply: Any) -> list[tuple[str, Fields]]:
    """``[(id, fields)]`` from an XRANGE/XREVRANGE reply or the first stream of an XREAD reply."""
    return [(text(entry_id), fields) for entry_id, fields in reply or []]


def _check_stream(client: redis.Redis, stream: str) -> None:
    kind = text(client.type(stream))
    if kind not in {"stream", "none"}:
        fail(f"{stream} is a {kind}, not a stream", 2)


def _check_from(start: str | None, follow: bool) -> str | None:
    if start is None:
        return None
    if start in {"0", "-"}:
        return "0-0"
    if start == "$" and follow:
        return "$"
    if not _ENTRY_ID.match(start):
        fail(
            f"--from {start!r}: expected an entry id such as 1732512000000-0, or 0"
            + (", $" if follow else ""),
            2,
        )
    return start


def tail(
    stream: Annotated[str, typer.Argument(help="Stream to read, e.g. assistant.query.received or its .dlq.")],
    count: Annotated[
        int,
        typer.Option(
            "--count",
            "-n",
            min=0,
            help="How many entries: the last N (after --from: the first N after it). "
            "With --follow, shown before waiting; 0 shows only new ones.",
        ),
    ] = 10,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep waiting for new entries until Ctrl-C.")
    ] = False,
    start: Annotated[
        str | None,
        typer.Option("--from", metavar="ID", help="Start after entry ID (0: from the beginning)."),
    ] = None,
    one_line: Annotated[bool, typer.Option("--json", help="One JSON object per entry and line.")] = False,
    group: Annotated[
        str | None,
        typer.Option(
            metavar="GROUP",
            help="CONSUME as a member of consumer group GROUP (consumer tail-<hostname>): entries are "
            "delivered to this command and acknowledged, so that group's services never get them. "
            "Needs --yes.",
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm --group consumption.")] = False,
    redis_url: RedisUrl = None,
) -> None:
    """Show a stream's entries decoded: entry id, time, event type, correlation id and the event.

    Without --group this only reads (XRANGE / XREAD) and disturbs no consumer.
    With --follow it shows the last --count entries, then each new one as it
    comes, until Ctrl-C. An entry that does not decode or validate is shown
    as it is, with the reason.
    """
    if group is not None:
        if not yes:
            fail(
                f"--group {group} consumes entries: they are delivered to consumer "
                f"tail-{socket.gethostname()} of group {group} and acknowledged, so that group's services "
                "will not see them. "
                "Add --yes to do that, or leave out --group to only read.",
                2,
            )
        if start is not None:
            fail("--from cannot be used with --group (a group reads from where it stands)", 2)
    begin = _check_from(start, follow)
    with open_redis(redis_url) as client:
        _check_stream(client, stream)
        try:
            if group is not None:
                _consume(client, stream, group, count, follow, one_line)
            else:
                _read(client, stream, count, follow, begin, one_line)
        except KeyboardInterrupt:
            pass


def _show(stream: str, entries: list[tuple[str, Fields]], one_line: bool) -> str | None:
    for entry_id, fields in entries:
        print_entry(describe_entry(stream, entry_id, fields), one_line=one_line)
    return entries[-1][0] if entries else None


def _read(
    client: redis.Redis, stream: str, count: int, follow: bool, begin: str | None, one_line: bool
) -> None:
    if begin is None:
        shown = _entries(client.xrevrange(stream, "+", "-", count=count))[::-1] if count else []
        _show(stream, shown, one_line)
        if not follow:
            if not shown and count and not client.exists(stream):
                error_console().print(Text(f"lingxi: stream {stream} does not exist (yet)"))
            return
        if shown:
            last = shown[-1][0]
        else:
            newest = _entries(client.xrevrange(stream, "+", "-", count=1))
            last = newest[0][0] if newest else "0-0"
    elif begin == "$":
        last = "$"
    else:
        if not follow:
            low = "-" if begin == "0-0" else f"({begin}"
            _show(stream, _entries(client.xrange(stream, low, "+", count=count)), one_line)
            return
        last = begin
    while True:
        reply = cast(list[Any], client.xread({stream: last}, count=100, block=_BLOCK_MS))
        for _, entries in reply:
            last = _show(stream, _entries(entries), one_line) or last


def _consume(client: redis.Redis, stream: str, group: str, count: int, follow: bool, one_line: bool) -> None:
    groups = [text(g["name"]) for g in client.xinfo_groups(stream)] if client.exists(stream) else []
    if group not in groups:
        known = ", ".join(groups) or "none"
        fail(f"stream {stream} has no consumer group {group!r} (groups: {known})", 1)
    consumer = f"tail-{socket.gethostname()}"
    try:
        while True:
            wanted = max(count, 1) if follow else count
            if not wanted:
                return
            reply = cast(
                list[Any],
                client.xreadgroup(
                    group, consumer, {stream: ">"}, count=wanted, block=_BLOCK_MS if follow else None
                ),
            )
            for _, raw in reply:
                for entry_id, fields in _entries(raw):
                    print_entry(describe_entry(stream, entry_id, fields), one_line=one_line)
                    client.xack(stream, group, entry_id)
            if not follow:
                return
    finally:
        _forget_consumer(client, stream, group, consumer)


def _forget_consumer(client: redis.Redis, stream: str, group: str, consumer: str) -> None:
    """Remove this command's consumer from the group again, unless it still holds pending entries."""
    try:
        for info in client.xinfo_consumers(stream, group):
            if text(info["name"]) == consumer and int(info["pending"]) == 0:
                client.xgroup_delconsumer(stream, group, consumer)
    except redis.RedisError:
        pass
