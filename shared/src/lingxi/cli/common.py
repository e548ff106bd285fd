"""What the operator commands share: the Redis URL option, the connection, output and decoding helpers.

Output goes through rich. In a terminal headers are bold and JSON is coloured; in a pipe there is no
colour and no wrapping, so ``grep``, ``cut`` and ``awk`` see one line per table row. Tables are never
cut off: in a narrow terminal their long lines wrap. Errors go to stderr, one line each.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import redis
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from lingxi.events.base import Event
from lingxi.events.registry import DEAD_LETTER_SUFFIX, EVENT_TYPES
from lingxi.redis_acl import OPERATOR, password_variable, user_name
from lingxi.runtime.settings import url_as_user

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
REDIS_URL_ENV = ("LINGXI_REDIS_URL", "REDIS_URL")

RedisUrl = Annotated[
    str | None,
    typer.Option(
        "--redis-url",
        metavar="URL",
        help="Redis holding the streams (default: $LINGXI_REDIS_URL, else $REDIS_URL, "
        f"else {DEFAULT_REDIS_URL}).",
        show_default=False,
    ),
]
"""The ``--redis-url`` option every operator command takes (``None``: see ``resolve_redis_url``)."""


def resolve_redis_url(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """``explicit``, else ``LINGXI_REDIS_URL``, else ``REDIS_URL``, else the local default (empty = unset).

    With ``LINGXI_REDIS_PASSWORD_OPERATOR`` set, a URL that names no user is used as the operator's
    ACL user (``lingxi redis acl``): inside a service's container the URL is the service's, without
    credentials, and the default user may only PING."""
    env = os.environ if environ is None else environ
    url = explicit or next((value for name in REDIS_URL_ENV if (value := env.get(name))), DEFAULT_REDIS_URL)
    operator_password = env.get(password_variable(OPERATOR))
    if operator_password and urlsplit(url).username is None and urlsplit(url).password is None:
        return url_as_user(url, user_name(OPERATOR), operator_password)
    return url


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        user = parts.username or ""
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port is not None else ""
        return urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))
    except ValueError:
        return url.split("://", 1)[0] + "://***" if "@" in url else url


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one line to stderr and exit with ``code``."""
    error_console().print(Text(f"lingxi: {message}"))
    raise typer.Exit(code)


@contextmanager
def redis_failures(shown: str) -> Iterator[None]:
    """A Redis error raised inside becomes one line naming the server (``shown``: masked) and exit 1."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as error:
        reason = str(error).strip().rstrip(".") or type(error).__name__
        fail(f"cannot reach Redis at {shown}: {reason}")
    except redis.ResponseError as error:
        fail(f"Redis at {shown} refused: {error}")
    except redis.RedisError as error:
        fail(f"Redis error at {shown}: {error}")


@contextmanager
def open_redis(url: str | None) -> Iterator[redis.Redis]:
    """A connected client; an unreachable Redis (now or later) is one line on stderr and exit 1."""
    url = resolve_redis_url(url)
    shown = mask_url(url)
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3, health_check_interval=0)
    except ValueError as error:
        fail(f"bad Redis URL {shown}: {error}")
    try:
        with redis_failures(shown):
            client.ping()
            yield client
    finally:
        client.close()


# --- output ---------------------------------------------------------------------------------------


def is_terminal() -> bool:
    return sys.stdout.isatty()


def console() -> Console:
    """Console on stdout: colour and wrapping in a terminal, plain unwrapped lines in a pipe."""
    if is_terminal():
        return Console(highlight=False)
    return Console(highlight=False, no_color=True, width=100_000, soft_wrap=True)


def error_console() -> Console:
    if sys.stderr.isatty():
        return Console(stderr=True, highlight=False)
    return Console(stderr=True, highlight=False, no_color=True, width=100_000, soft_wrap=True)


def table(*columns: str, title: str | None = None, wrap: Sequence[str] = ()) -> Table:
    """Aligned columns without borders; in a terminal a bold header (and ``title`` above it).

    In a terminal too narrow for the table, the columns named in ``wrap`` wrap at spaces first; nothing
    is ever cut off with an ellipsis (an id that does not fit folds onto the next line).
    """
    terminal = is_terminal()
    result = Table(
        *columns,
        title=title if terminal else None,
        title_justify="left",
        title_style="bold",
        box=None,
        show_edge=False,
        pad_edge=False,
        padding=(0, 2, 0, 0),
        header_style="bold" if terminal else "",
    )
    for column in result.columns:
        column.no_wrap = column.header not in wrap
        column.overflow = "fold"
    return result


def print_table(rendered: Table) -> None:
    """A table on stdout, never cut off; in a pipe without the padding rich leaves at the line ends."""
    if is_terminal():
        out = console()
        needed = out.measure(rendered, options=out.options.update_width(100_000)).maximum
        if needed > out.width:  # never cut anything off: let the terminal wrap the long lines
            out = Console(highlight=False, width=needed)
        out.print(rendered)
        return
    plain = console()
    with plain.capture() as captured:
        plain.print(rendered)
    typer.echo("\n".join(line.rstrip() for line in captured.get().splitlines()))


def cell(value: object) -> Text:
    """A table cell shown literally (no rich markup), empty for ``None``."""
    return Text("" if value is None else str(value))


def print_json(value: Any, *, pretty: bool = True) -> None:
    """JSON on stdout: indented (coloured in a terminal) or one line."""
    if pretty:
        text = json.dumps(value, ensure_ascii=False, indent=2)
        if is_terminal():
            console().print_json(text)
        else:
            typer.echo(text)
    else:
        typer.echo(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


# --- streams and entries ------------------------------------------------------------------------


def text(value: bytes | str | int | float | None) -> str:
    """A Redis reply value as text (bytes decoded, invalid UTF-8 replaced)."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)


def id_time(entry_id: str) -> str:
    """The time in a stream entry id (its millisecond part) as ISO 8601 UTC; empty if not an id."""
    millis, _, _ = entry_id.partition("-")
    try:
        moment = datetime.fromtimestamp(int(millis) / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        return ""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def split_dead_letter(stream: str) -> tuple[str, bool]:
    """(``stream`` without ``.dlq``, whether it had the suffix)."""
    if stream.endswith(DEAD_LETTER_SUFFIX):
        return stream[: -len(DEAD_LETTER_SUFFIX)], True
    return stream, False


def known_type(stream: str) -> type[Event] | None:
    """The event class on ``stream`` (for a ``.dlq`` stream: on the stream it holds dead letters of)."""
    return EVENT_TYPES.get(split_dead_letter(stream)[0])


def type_label(stream: str) -> str:
    """``QueryReceived`` for its stream and that stream's ``.dlq``; ``?`` for a stream no event type uses."""
    cls = known_type(stream)
    return "?" if cls is None else cls.__name__


def validation_messages(error: Any) -> list[str]:
    """``field: message`` for each error of a pydantic ``ValidationError``."""
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "<event>"
        lines.append(f"{where}: {item['msg']}")
    return lines


def field_map(fields: Mapping[bytes, bytes] | Mapping[str, str]) -> dict[str, str]:
    """Entry fields as text, in their order."""
    return {text(k): text(v) for k, v in fields.items()}


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
