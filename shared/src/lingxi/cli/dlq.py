"""``lingxi dlq``: list, show, replay and purge dead letters.

A dead letter is the original entry's fields plus ``dlq.*`` fields saying why and where it came from
(``lingxi.runtime.service.Service.dead_letter``). Replay adds the original fields, unchanged, back to
the stream named in ``dlq.stream`` and deletes the dead letter, both in one MULTI/EXEC.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, cast

import redis
import typer
from pydantic import ValidationError
from rich.text import Text

from lingxi.cli.common import (
    RedisUrl,
    cell,
    console,
    error_console,
    fail,
    field_map,
    id_time,
    is_terminal,
    open_redis,
    plural,
    print_json,
    print_table,
    split_dead_letter,
    table,
    text,
    type_label,
    validation_messages,
)
from lingxi.cli.streams import list_streams
from lingxi.cli.tail import describe_entry
from lingxi.events.registry import DEAD_LETTER_SUFFIX, EVENT_TYPES, dead_letter_stream

DLQ_PREFIX = "dlq."
DLQ_FIELDS = ("reason", "error", "attempts", "original_id", "stream", "service", "replica", "failed_at")
"""The fields the runtime adds to a dead letter, each as ``dlq.<name>``."""

_ENTRY_ID = re.compile(r"^\d+(-\d+)?$")
_PAGE = 500

app = typer.Typer(
    name="dlq",
    help="Inspect, replay and purge dead letters (the <stream>.dlq streams).",
    no_args_is_help=True,
)

StreamArg = Annotated[
    str,
    typer.Argument(
        help="The stream, with or without .dlq (assistant.query.received or assistant.query.received.dlq).",
        show_default=False,
    ),
]
IdsArg = Annotated[
    list[str] | None,
    typer.Argument(metavar="DLQ_ID", help="Dead letters to act on.", show_default=False),
]
AllOpt = Annotated[bool, typer.Option("--all", help="Act on every dead letter of the stream.")]


def names(stream: str) -> tuple[str, str]:
    """(original stream, dead-letter stream) for a name given with or without ``.dlq``."""
    base, _ = split_dead_letter(stream)
    return base, dead_letter_stream(base)


def original_fields(fields: dict[bytes, bytes]) -> dict[bytes, bytes]:
    """The entry as it was before it was dead-lettered: every field except ``dlq.*``, in order."""
    return {k: v for k, v in fields.items() if not k.startswith(DLQ_PREFIX.encode())}


def _check_ids(ids: list[str]) -> None:
    for entry_id in ids:
        if not _ENTRY_ID.match(entry_id):
            fail(f"{entry_id!r} is not a stream entry id (like 1732512000000-0)", 2)


def _selection(ids: list[str] | None, every: bool) -> list[str]:
    if every and ids:
        fail("give dead-letter ids or --all, not both", 2)
    if not every and not ids:
        fail("give the dead-letter ids to act on, or --all", 2)
    _check_ids(ids or [])
    return list(dict.fromkeys(ids or []))


def _all_ids(client: redis.Redis, key: str) -> Iterator[str]:
    low = "-"
    while True:
        page = cast(list[Any], client.xrange(key, low, "+", count=_PAGE))
        for entry_id, _ in page:
            yield text(entry_id)
        if len(page) < _PAGE:
            return
        low = f"({text(page[-1][0])}"


def _check_stream(client: redis.Redis, key: str) -> None:
    kind = text(client.type(key))
    if kind not in {"stream", "none"}:
        fail(f"{key} is a {kind}, not a stream", 2)


def summarise(entry_id: str, fields: dict[bytes, bytes]) -> dict[str, Any]:
    """One dead letter as JSON-ready data: its ``dlq.*`` fields by short name and its original fields."""
    plain = field_map(fields)
    record: dict[str, Any] = {"dlq_id": entry_id}
    for name in DLQ_FIELDS:
        record[name] = plain.get(DLQ_PREFIX + name)
    if (attempts := record["attempts"]) is not None and attempts.isdigit():
        record["attempts"] = int(attempts)
    record["original_fields"] = field_map(original_fields(fields))
    return record


def _short_time(value: str | None) -> str | None:
    """``2026-11-25T08:00:00.123456+00:00`` as ``2026-11-25T08:00:00Z`` (UTC, whole seconds)."""
    try:
        moment = datetime.fromisoformat(value or "")
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + ("Z" if moment.tzinfo is not None else "")


def _one_line(value: str | None, width: int) -> str:
    flat = " ".join((value or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


# --- list -------------------------------------------------------------------------------------------


@app.command("list")
def list_(
    stream: Annotated[
        str | None,
        typer.Argument(
            help="The stream, with or without .dlq; leave out for a count per dead-letter stream.",
            show_default=False,
        ),
    ] = None,
    count: Annotated[
        int, typer.Option("--count", "-n", min=1, help="Show at most this many, oldest first.")
    ] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="JSON for machines instead of a table.")] = False,
    redis_url: RedisUrl = None,
) -> None:
    """Dead letters of a stream: id, original id, service, reason, attempts, when, and the error."""
    with open_redis(redis_url) as client:
        if stream is None:
            _list_streams(client, as_json)
            return
        _, key = names(stream)
        _check_stream(client, key)
        total = int(client.xlen(key))
        entries = cast(list[Any], client.xrange(key, "-", "+", count=count))
    records = [summarise(text(entry_id), fields) for entry_id, fields in entries]
    if as_json:
        print_json(records, pretty=is_terminal())
        return
    if not records:
        error_console().print(Text(f"no dead letters in {key}"))
        return
    out = table(
        "dlq id",
        "original id",
        "service",
        "reason",
        "attempts",
        "failed at",
        "error",
        title=key,
        wrap=["error"],
    )
    out.columns[4].justify = "right"
    for record in records:
        out.add_row(
            cell(record["dlq_id"]),
            cell(record["original_id"]),
            cell(record["service"]),
            cell(record["reason"]),
            cell(record["attempts"]),
            cell(_short_time(record["failed_at"])),
            cell(_one_line("; ".join(_error_lines(record["error"])), 80)),
        )
    print_table(out)
    if total > len(records):
        error_console().print(Text(f"showing the oldest {len(records)} of {total}; use --count for more"))


def _list_streams(client: redis.Redis, as_json: bool) -> None:
    rows = [
        {
            "stream": key,
            "dead_letters_of": split_dead_letter(key)[0],
            "length": int(client.xlen(key)),
        }
        for key in list_streams(client, f"*{DEAD_LETTER_SUFFIX}")
    ]
    if as_json:
        print_json(rows, pretty=is_terminal())
        return
    if not rows:
        error_console().print(Text("no dead-letter streams"))
        return
    out = table("dead-letter stream", "of event type", "dead letters", title="Dead letters")
    out.columns[2].justify = "right"
    for row in rows:
        out.add_row(cell(row["stream"]), cell(type_label(str(row["dead_letters_of"]))), cell(row["length"]))
    print_table(out)


# --- show -------------------------------------------------------------------------------------------


@app.command()
def show(
    stream: StreamArg,
    dlq_id: Annotated[
        str, typer.Argument(metavar="DLQ_ID", help="The dead letter's id.", show_default=False)
    ],
    as_json: Annotated[bool, typer.Option("--json", help="JSON for machines.")] = False,
    redis_url: RedisUrl = None,
) -> None:
    """Everything about one dead letter: why it failed, where from, and the event pretty-printed."""
    _check_ids([dlq_id])
    base, key = names(stream)
    with open_redis(redis_url) as client:
        _check_stream(client, key)
        found = cast(list[Any], client.xrange(key, dlq_id, dlq_id))
    if not found:
        fail(f"no dead letter {dlq_id} in {key}")
    fields = cast(dict[bytes, bytes], found[0][1])
    record = summarise(dlq_id, fields)
    decoded = describe_entry(record["stream"] or base, dlq_id, original_fields(fields))
    if as_json:
        record["event"] = decoded.get("event")
        record["correlation_id"] = decoded.get("correlation_id")
        if "problem" in decoded:
            record["problem"] = decoded["problem"]
        print_json(record, pretty=is_terminal())
        return
    out = console()
    out.print(Text(f"dead letter {dlq_id} in {key} (added {id_time(dlq_id)})", style="bold"))
    details = table("field", "value")
    details.show_header = False
    for name in DLQ_FIELDS:
        if name != "error":
            details.add_row(cell(name), cell(record[name]))
    details.add_row(cell("event type"), cell(type_label(record["stream"] or base)))
    details.add_row(cell("correlation_id"), cell(decoded.get("correlation_id")))
    print_table(details)
    out.print(Text("error:", style="bold"))
    for line in _error_lines(record["error"]):
        out.print(Text(f"  {line}", style="red"))
    if "raw" in decoded or decoded["event"] is None:
        out.print(Text("original fields (not a decodable event):", style="bold"))
        print_json(record["original_fields"])
    else:
        out.print(Text("event:", style="bold"))
        print_json(decoded["event"])


def _error_lines(error: str | None) -> list[str]:
    """``dlq.error`` as lines: the runtime writes validation errors as a JSON list of strings."""
    if not error:
        return ["(none recorded)"]
    try:
        items = json.loads(error)
    except ValueError:
        return error.splitlines() or [error]
    if isinstance(items, list) and all(isinstance(item, str) for item in items):
        return list(items)
    return [error]


# --- replay -----------------------------------------------------------------------------------------


class Missing(LookupError):
    pass


def replay_one(
    client: redis.Redis, key: str, base: str, dlq_id: str, *, dry_run: bool
) -> tuple[str, str | None, str | None]:
    """Move dead letter ``dlq_id`` back to its stream atomically: (target stream, new id, warning).

    WATCH on the dead-letter stream, then MULTI: XADD the original fields to ``dlq.stream``, XDEL the
    dead letter; EXEC. If the dead-letter stream changed in between, start over (so two operators
    replaying the same dead letter add it once).
    """
    with client.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(key)  # type: ignore[no-untyped-call]
                found = cast(list[Any], pipe.xrange(key, dlq_id, dlq_id))
                if not found:
                    raise Missing(dlq_id)
                fields = cast(dict[bytes, bytes], found[0][1])
                original = original_fields(fields)
                target = text(fields.get(b"dlq.stream")) or base
                if not original:
                    raise Missing(f"{dlq_id} has no original fields")
                warning = _still_invalid(target, original)
                if dry_run:
                    pipe.unwatch()
                    return target, None, warning
                pipe.multi()
                pipe.xadd(target, original)  # type: ignore[arg-type]
                pipe.xdel(key, dlq_id)
                new_id, _ = pipe.execute()
                return target, text(new_id), warning
            except redis.WatchError:
                continue


def _still_invalid(stream: str, fields: dict[bytes, bytes]) -> str | None:
    cls = EVENT_TYPES.get(stream)
    if cls is None:
        return None
    from lingxi.runtime.envelope import decode_entry  # imports the runtime (slow): only when needed

    try:
        event_json, _ = decode_entry(fields)
        cls.model_validate_json(event_json)
    except ValidationError as invalid:
        return (
            "still does not validate ("
            + "; ".join(validation_messages(invalid))
            + "); it will be dead-lettered again"
        )
    except Exception as error:
        return f"does not decode ({error}); it will be dead-lettered again"
    return None


@app.command()
def replay(
    stream: StreamArg,
    ids: IdsArg = None,
    every: AllOpt = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be replayed; change nothing.")
    ] = False,
    redis_url: RedisUrl = None,
) -> None:
    """Put dead letters back on their stream, unchanged, and remove them from the dead-letter stream.

    Each replay is one MULTI/EXEC: XADD the original fields to the stream named
    in dlq.stream, XDEL the dead letter. A dead letter is never lost nor
    replayed twice. Prints "DLQ_ID -> STREAM NEW_ID" for each.
    """
    chosen = _selection(ids, every)
    base, key = names(stream)
    err = error_console()
    missing = 0
    done = 0
    with open_redis(redis_url) as client:
        _check_stream(client, key)
        for dlq_id in list(_all_ids(client, key)) if every else chosen:
            try:
                target, new_id, warning = replay_one(client, key, base, dlq_id, dry_run=dry_run)
            except Missing as gone:
                err.print(Text(f"lingxi: no dead letter {gone} in {key}"))
                missing += 1
                continue
            done += 1
            typer.echo(f"{dlq_id} -> {target} {new_id or '(dry run)'}")
            if warning:
                err.print(Text(f"warning: {dlq_id} {warning}"))
    verb = "would replay" if dry_run else "replayed"
    err.print(
        Text(
            f"{verb} {plural(done, 'dead letter')} from {key}" + (f"; {missing} not found" if missing else "")
        )
    )
    if missing:
        raise typer.Exit(1)


# --- purge ------------------------------------------------------------------------------------------


@app.command()
def purge(
    stream: StreamArg,
    ids: IdsArg = None,
    every: AllOpt = False,
    yes: Annotated[bool, typer.Option("--yes", help="Really delete (required).")] = False,
    redis_url: RedisUrl = None,
) -> None:
    """Delete dead letters for good (XDEL). Refuses without --yes."""
    chosen = _selection(ids, every)
    base, key = names(stream)
    if not yes:
        what = f"every dead letter in {key}" if every else f"{plural(len(chosen), 'dead letter')} from {key}"
        fail(
            f"purge would delete {what} for good; add --yes to do it (see them with: lingxi dlq list {base})",
            2,
        )
    deleted = 0
    missing: list[str] = []
    with open_redis(redis_url) as client:
        _check_stream(client, key)
        if every:
            batch: list[str] = []
            for dlq_id in _all_ids(client, key):
                batch.append(dlq_id)
                if len(batch) == _PAGE:
                    deleted += int(client.xdel(key, *batch))
                    batch = []
            if batch:
                deleted += int(client.xdel(key, *batch))
        else:
            for dlq_id in chosen:
                if int(client.xdel(key, dlq_id)):
                    deleted += 1
                else:
                    missing.append(dlq_id)
    err = error_console()
    for dlq_id in missing:
        err.print(Text(f"lingxi: no dead letter {dlq_id} in {key}"))
    typer.echo(f"deleted {plural(deleted, 'dead letter')} from {key}")
    if missing:
        raise typer.Exit(1)
