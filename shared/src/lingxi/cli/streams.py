"""``lingxi streams``: every stream in Redis with its length and its consumer groups."""

from __future__ import annotations

from typing import Annotated, Any

import redis
import typer
from rich.text import Text

from lingxi.cli.common import (
    RedisUrl,
    cell,
    error_console,
    is_terminal,
    open_redis,
    print_json,
    print_table,
    split_dead_letter,
    table,
    text,
    type_label,
)
from lingxi.events.registry import EVENT_TYPES


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def stream_report(client: redis.Redis, stream: str, *, consumers: bool) -> dict[str, Any]:
    """Length and groups of one stream (XLEN, XINFO GROUPS, XINFO CONSUMERS) as JSON-ready data."""
    base, dead = split_dead_letter(stream)
    cls = EVENT_TYPES.get(base)
    groups = []
    for info in client.xinfo_groups(stream):
        group: dict[str, Any] = {
            "name": text(info["name"]),
            "consumers": int(info["consumers"]),
            "pending": int(info["pending"]),
            "lag": _int(info.get("lag")),
            "last_delivered_id": text(info["last-delivered-id"]),
        }
        if consumers:
            group["consumer_list"] = [
                {"name": text(c["name"]), "pending": int(c["pending"]), "idle_ms": int(c["idle"])}
                for c in client.xinfo_consumers(stream, group["name"])
            ]
        groups.append(group)
    return {
        "stream": stream,
        "event_type": cls.__name__ if cls else None,
        "dead_letters_of": base if dead else None,
        "known": cls is not None,
        "length": int(client.xlen(stream)),
        "groups": groups,
    }


def list_streams(client: redis.Redis, pattern: str | None = None) -> list[str]:
    """Names of every stream key (SCAN TYPE stream), sorted; ``pattern`` is a SCAN MATCH glob."""
    return sorted({text(key) for key in client.scan_iter(match=pattern, count=1000, _type="stream")})


def streams(
    pattern: Annotated[
        str | None, typer.Argument(help="Only streams matching this glob, e.g. 'assistant.*'.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON for machines instead of a table.")] = False,
    show_consumers: Annotated[
        bool, typer.Option("--consumers", help="Also list each group's consumers (pending, idle ms).")
    ] = False,
    redis_url: RedisUrl = None,
) -> None:
    """Every stream in Redis (dead-letter streams included) with its length and consumer groups.

    Per group: consumers, pending (delivered, not yet acknowledged), lag
    (entries not yet delivered to the group; "?" where Redis cannot tell) and
    the last delivered id. A stream no event type is published on shows "?"
    as its event type.
    """
    with open_redis(redis_url) as client:
        reports = [stream_report(client, s, consumers=show_consumers) for s in list_streams(client, pattern)]
    if as_json:
        print_json(reports, pretty=is_terminal())
        return
    if not reports:
        error_console().print(Text("no streams" + (f" matching {pattern}" if pattern else "")))
        return
    columns = ["stream", "event type", "length", "group", "consumers", "pending", "lag", "last delivered"]
    if show_consumers:
        columns[3:5] = ["group / consumer", "consumers", "idle ms"]
    out = table(*columns, title="Streams", wrap=["event type", "group / consumer"])
    for column in out.columns:
        if column.header in {"length", "consumers", "idle ms", "pending", "lag"}:
            column.justify = "right"
    blank = cell("")
    for report in reports:
        label = type_label(report["stream"])
        kind = Text(label, style="yellow" if label == "?" else ("red" if report["dead_letters_of"] else ""))
        lead = [cell(report["stream"]), kind, cell(report["length"])]
        if not report["groups"]:
            out.add_row(*lead, *(blank for _ in columns[3:]))
        for group in report["groups"]:
            lag = "?" if group["lag"] is None else group["lag"]
            counts = (
                [cell(group["consumers"])] + ([blank] if show_consumers else []) + [cell(group["pending"])]
            )
            out.add_row(*lead, cell(group["name"]), *counts, cell(lag), cell(group["last_delivered_id"]))
            lead = [blank, blank, blank]
            for member in group.get("consumer_list", []):
                out.add_row(
                    *lead,
                    cell(f"  {member['name']}"),
                    blank,
                    cell(member["idle_ms"]),
                    cell(member["pending"]),
                    blank,
                    blank,
                )
    print_table(out)
