"""``lingxi publish``: validate an event and add it to its stream, the way a service would.

The event is built from a JSON file (or stdin) and ``field=value`` pairs, validated with the event's
model (strict, as consumers do), and added with the same JSON envelope the runtime writes. An event
that does not validate is never added.
"""

from __future__ import annotations

import difflib
import json
import sys
from pathlib import Path
from typing import Annotated, Any
from uuid import uuid4

import typer
from pydantic import ValidationError

from lingxi.cli.common import RedisUrl, error_console, fail, open_redis, print_json, text
from lingxi.events.base import Event
from lingxi.events.registry import EVENT_TYPES

INVALID = 2
"""Exit code for input that is refused (usage, unknown type, invalid event)."""

Path_ = tuple[str, ...]


class UnknownEventType(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def suggestions(self) -> list[str]:
        """Every known stream, the closest to ``name`` first."""
        by_class = {cls.__name__: stream for stream, cls in EVENT_TYPES.items()}
        candidates = [*EVENT_TYPES, *by_class]
        close = difflib.get_close_matches(self.name, candidates, n=5, cutoff=0.5)
        first = list(dict.fromkeys(by_class.get(match, match) for match in close))
        return first + sorted(s for s in EVENT_TYPES if s not in first)


def resolve_event_type(name: str) -> type[Event]:
    """The event class for a stream name (``assistant.query.received``) or class name (``QueryReceived``)."""
    if name in EVENT_TYPES:
        return EVENT_TYPES[name]
    for cls in EVENT_TYPES.values():
        if name == cls.__name__ or name.lower() == cls.__name__.lower():
            return cls
    raise UnknownEventType(name)


class BadInput(ValueError):
    """The event's JSON could not be built from the arguments."""


def parse_value(raw: str) -> Any:
    """A ``field=value`` value: JSON when it parses (``7``, ``true``, ``{"a": 1}``), else the text."""

    def no_constants(name: str) -> Any:
        raise ValueError(name)

    try:
        return json.loads(raw, parse_constant=no_constants)
    except ValueError:
        return raw


def read_json_object(source: str) -> dict[str, Any]:
    """The JSON object in file ``source`` (``-``: stdin)."""
    where = "stdin" if source == "-" else source
    try:
        content = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise BadInput(f"cannot read --json {where}: {error}") from error
    try:
        value = json.loads(content)
    except json.JSONDecodeError as error:
        raise BadInput(f"--json {where} is not valid JSON: {error}") from error
    if not isinstance(value, dict):
        raise BadInput(f"--json {where} must hold a JSON object, not {type(value).__name__}")
    return value


def build_payload(base: dict[str, Any], pairs: list[str]) -> tuple[dict[str, Any], dict[Path_, str]]:
    """``base`` with each ``field=value`` (dotted keys nest) set on it.

    Also returns the raw text of the values that parsed as JSON but not as a string, so a field that
    wants a string can get the text instead (``text=123``).
    """
    payload = json.loads(json.dumps(base))
    texts: dict[Path_, str] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        path = tuple(key.split("."))
        if not sep or not key or not all(path):
            raise BadInput(f"{pair!r}: expected FIELD=VALUE (FIELD may be dotted: action.name=alarm.set)")
        target = payload
        for depth, part in enumerate(path[:-1]):
            child = target.setdefault(part, {})
            if not isinstance(child, dict):
                raise BadInput(f"{pair!r}: {'.'.join(path[: depth + 1])} is already set to a non-object")
            target = child
        value = parse_value(raw)
        target[path[-1]] = value
        if not isinstance(value, str):
            texts[path] = raw
        else:
            texts.pop(path, None)
    return payload, texts


def _set(payload: dict[str, Any], path: Path_, value: Any) -> None:
    for part in path[:-1]:
        payload = payload[part]
    payload[path[-1]] = value


def validate(cls: type[Event], payload: dict[str, Any], texts: dict[Path_, str]) -> Event:
    """``cls`` validated from ``payload`` as consumers validate it; raises ``ValidationError``."""
    try:
        return cls.model_validate_json(json.dumps(payload))
    except ValidationError as error:
        wrong_type = {
            path
            for item in error.errors()
            for path in texts
            if tuple(str(p) for p in item["loc"][: len(path)]) == path and item["type"].endswith("_type")
        }
        if not wrong_type:
            raise
        retry = json.loads(json.dumps(payload))
        for path in wrong_type:
            _set(retry, path, texts[path])
        return cls.model_validate_json(json.dumps(retry))


def error_lines(error: ValidationError) -> list[str]:
    """One ``field: message`` line per error, with the refused value where it is short."""
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "<event>"
        line = f"{where}: {item['msg']}"
        if item["type"] not in {"missing", "extra_forbidden"} and "input" in item:
            shown = json.dumps(item["input"], ensure_ascii=False, default=str)
            if len(shown) <= 60:
                line += f" (got {shown})"
        lines.append(line)
    return lines


def publish(
    event_type: Annotated[
        str,
        typer.Argument(
            metavar="EVENT_TYPE",
            help="Stream name (assistant.query.received) or class name (QueryReceived).",
            show_default=False,
        ),
    ],
    fields: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="FIELD=VALUE",
            help="Event fields. VALUE is JSON if it parses (7, true, null, {...}), else text; "
            "dotted FIELDs nest (action.name=alarm.set). They override --json.",
            show_default=False,
        ),
    ] = None,
    json_file: Annotated[
        str | None,
        typer.Option("--json", metavar="FILE|-", help="Read the event (a JSON object) from FILE, or stdin."),
    ] = None,
    correlation_id: Annotated[
        str | None,
        typer.Option(
            help="correlation_id header (default: the event's request_id if it has one, else a new uuid4).",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and print the event; publish nothing.")
    ] = False,
    redis_url: RedisUrl = None,
) -> None:
    """Validate an event and add it to its stream.

    event_id, occurred_at and schema_version may be left out (a new id, now, 1).
    Validation is as strict as the consumers': an invalid event is refused with
    each field named (exit 2) and nothing is added. A VALUE that parses as JSON
    but lands in a text field is taken as text (text=123 is "123").

    Example:
      lingxi publish QueryReceived region=CN locale=en-US device_id=demo \\
        request_id=$(uuidgen) text="open WeChat"
    """
    err = error_console()
    try:
        cls = resolve_event_type(event_type)
    except UnknownEventType as unknown:
        err.print(
            f"lingxi: unknown event type {unknown.name!r}; known event types (closest first):", markup=False
        )
        suggestions = unknown.suggestions()
        width = max(map(len, suggestions))
        for stream in suggestions:
            err.print(f"  {stream:<{width}}  {EVENT_TYPES[stream].__name__}", highlight=False, markup=False)
        raise typer.Exit(INVALID) from None
    try:
        base = read_json_object(json_file) if json_file is not None else {}
        payload, texts = build_payload(base, fields or [])
    except BadInput as bad:
        fail(str(bad), INVALID)
    try:
        event = validate(cls, payload, texts)
    except ValidationError as error:
        count = error.error_count()
        err.print(
            f"lingxi: invalid {cls.__name__} ({count} error{'s' if count != 1 else ''}); nothing published:",
            markup=False,
        )
        for line in error_lines(error):
            err.print(line, markup=False, highlight=False)
        raise typer.Exit(INVALID) from None

    correlation = correlation_id or text(getattr(event, "request_id", None)) or str(uuid4())
    event_json = event.model_dump_json(by_alias=True)
    if dry_run:
        print_json(json.loads(event_json))
        err.print(f"(dry run: not published to {cls.stream}; correlation_id {correlation})", markup=False)
        return
    from lingxi.runtime.envelope import encode_entry  # imports the runtime (slow): only when needed

    with open_redis(redis_url) as client:
        entry_id = text(client.xadd(cls.stream, encode_entry(event_json, {"correlation_id": correlation})))  # type: ignore[arg-type]
    typer.echo(f"{entry_id} {cls.stream} event_id={event.event_id} correlation_id={correlation}")
