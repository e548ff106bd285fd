"""``lingxi audit verify`` and ``lingxi audit export``: the compliance audit trail from the command line.

Registered through the ``lingxi.audit`` entry points, so the shared ``lingxi`` command needs no
compliance code. Imported whenever ``lingxi`` starts: the audit module is imported inside the commands.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from lingxi.cli.common import RedisUrl, fail, mask_url, redis_failures, resolve_redis_url

if TYPE_CHECKING:
    from lingxi_compliance.audit import AuditLog

T = TypeVar("T")

StreamOpt = Annotated[
    str | None,
    typer.Option(
        "--stream",
        help="Stream holding the trail (default: $LINGXI_COMPLIANCE_AUDIT_STREAM, "
        "else compliance.audit.log).",
        show_default=False,
    ),
]

_RELATIVE = re.compile(r"^(\d+)([dhm])$")


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """``2026-11-01``, ``2026-11-01T08:00:00+08:00`` (no zone = UTC), or ``7d`` / ``12h`` / ``30m`` ago."""
    if match := _RELATIVE.match(value.strip()):
        amount, unit = int(match[1]), match[2]
        delta = {"d": timedelta(days=amount), "h": timedelta(hours=amount), "m": timedelta(minutes=amount)}
        return (now or datetime.now(UTC)) - delta[unit]
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{value!r}: give an ISO date or time (2026-11-01, 2026-11-01T08:00Z) or 7d, 12h, 30m"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _run(url: str | None, stream: str | None, action: Callable[[AuditLog], Awaitable[T]]) -> T:
    """Run ``action`` on an ``AuditLog`` over ``url``; an unreachable Redis is one line and exit 1."""
    import redis.asyncio as aioredis

    from lingxi_compliance.audit import AuditLog, AuditSettings

    resolved = resolve_redis_url(url)
    shown = mask_url(resolved)

    try:
        client: aioredis.Redis = aioredis.Redis.from_url(
            resolved, socket_connect_timeout=3, health_check_interval=0
        )
    except ValueError as error:
        fail(f"bad Redis URL {shown}: {error}")

    async def main() -> T:
        try:
            await client.ping()
            return await action(AuditLog(client, stream or AuditSettings().stream))
        finally:
            await client.aclose()

    with redis_failures(shown):
        return asyncio.run(main())


def _existing_or_stdin(value: Path | None) -> Path | None:
    """``--file``: a file that exists (checked while parsing, like typer's ``exists``), or - for stdin."""
    if value is not None and str(value) != "-" and not value.is_file():
        raise typer.BadParameter(f"File '{value}' does not exist.")
    return value


def verify(
    redis_url: RedisUrl = None,
    stream: StreamOpt = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            "-f",
            help="Verify an export (JSON lines; - for standard input) instead of Redis, trusting its first "
            "entry's seq and prev.",
            show_default=False,
            callback=_existing_or_stdin,
        ),
    ] = None,
) -> None:
    """Walk the hash chain: exit 0 and the count if intact, else exit 1 naming the first broken seq."""
    from lingxi_compliance.audit import ChainPoint, Verification, parse_entry
    from lingxi_compliance.audit import verify as verify_chain

    if file is not None:
        data = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
        lines = [line for line in data.splitlines() if line.strip()]
        first = parse_entry(lines[0]) if lines else None
        anchor = ChainPoint(first["seq"], first["prev"]) if first else None
        broken = verify_chain(lines, anchor=anchor)
        if broken is not None:
            fail(f"audit export {file} is broken at {broken}")
        last = parse_entry(lines[-1]) if lines else None
        tip = f", last seq {last['seq']} hash {last['hash']}" if last else ""
        typer.echo(f"intact: {len(lines)} entries in {file}{tip}")
        return

    async def check(log: AuditLog) -> Verification:
        return await log.verify()

    result = _run(redis_url, stream, check)
    if result.broken is not None:
        fail(f"audit trail is broken at {result.broken}")
    head = f", head seq {result.head.seq} hash {result.head.hash}" if result.head else ""
    start = f", starting at seq {result.anchor.seq} (trimmed before)" if result.anchor else ""
    typer.echo(f"intact: {result.count} entries{start}{head}")


def export(
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="JSON lines file to write; - for standard output.", show_default=False
        ),
    ],
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only entries stored at or after this: an ISO date or time (UTC if no zone), or 7d, 12h, "
            "30m ago. Default: all kept entries.",
            show_default=False,
        ),
    ] = None,
    redis_url: RedisUrl = None,
    stream: StreamOpt = None,
) -> None:
    """Write the audit trail as JSON lines, each entry exactly as stored (check with verify --file)."""
    moment = parse_since(since) if since else None
    to_stdout = str(output) == "-"

    async def write(log: AuditLog) -> int:
        return await log.export(sys.stdout.buffer if to_stdout else output, moment)

    count = _run(redis_url, stream, write)
    # With the entries on standard output, the count goes to standard error, out of the pipe's way.
    typer.echo(f"wrote {count} entries to {'standard output' if to_stdout else output}", err=to_stdout)
