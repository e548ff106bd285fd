"""``lingxi features list|file|approve|suspend|withdraw``: the feature approval registry from a terminal.

A change is asked for the way the admin API asks: a ``FeatureChangeRequested`` event for compliance
to decide on, record and audit; the command waits for the decision and prints it. Exit status: 0
applied, 1 rejected (the reason is printed) or Redis unreachable, 2 no decision in time (no
compliance replica running: the request stays queued and is decided when one starts).

Registered through the ``lingxi.features`` entry points; heavy imports stay inside the commands.
"""

from __future__ import annotations

import asyncio
import getpass
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from lingxi.cli.common import (
    RedisUrl,
    cell,
    fail,
    mask_url,
    print_json,
    print_table,
    redis_failures,
    resolve_redis_url,
    table,
)
from lingxi.events import Region

if TYPE_CHECKING:
    import redis.asyncio as aioredis
    from lingxi.events.compliance import FeatureChangeOutcome, FeatureStatus

T = TypeVar("T")

RegionOpt = Annotated[Region, typer.Option("--region", help="Region the change applies to.")]
FilingOpt = Annotated[
    str | None,
    typer.Option(
        "--filing-number", help="The regulator's filing number (needed to approve).", show_default=False
    ),
]
EffectiveOpt = Annotated[
    str | None,
    typer.Option(
        "--effective-at",
        help="When the change takes effect: ISO time (UTC if no zone). Default: now.",
        show_default=False,
    ),
]
NoteOpt = Annotated[str | None, typer.Option("--note", help="Why, for the audit trail.", show_default=False)]
ByOpt = Annotated[
    str | None,
    typer.Option("--by", help="Who asks (default: cli:<login name>).", show_default=False),
]
WaitOpt = Annotated[float, typer.Option("--wait", min=0, help="Seconds to wait for compliance's decision.")]


def _run(url: str | None, action: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
    import redis.asyncio as aioredis

    resolved = resolve_redis_url(url)
    shown = mask_url(resolved)
    try:
        client: aioredis.Redis = aioredis.Redis.from_url(resolved, socket_connect_timeout=3)
    except ValueError as error:
        fail(f"bad Redis URL {shown}: {error}")

    async def main() -> T:
        try:
            await client.ping()
            return await action(client)
        finally:
            await client.aclose()

    with redis_failures(shown):
        return asyncio.run(main())


def _moment(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise typer.BadParameter(f"{value!r}: give an ISO time such as 2026-12-01T00:00+08:00") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _operator(by: str | None) -> str:
    return by or "cli:" + (re.sub(r"[^A-Za-z0-9._@-]", "_", getpass.getuser()) or "unknown")


def _change(
    status: FeatureStatus,
    feature: str,
    region: Region,
    filing_number: str | None,
    effective_at: str | None,
    note: str | None,
    by: str | None,
    wait: float,
    redis_url: str | None,
) -> None:
    from lingxi.events.compliance import FeatureChangeRequested
    from lingxi.features import request_change
    from pydantic import ValidationError

    try:
        request = FeatureChangeRequested(
            region=region,
            feature=feature,
            status=status,
            filing_number=filing_number,
            effective_at=_moment(effective_at),
            requested_by=_operator(by),
            note=note,
        )
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        fail(f"not a valid change: {problems}")

    async def ask(client: aioredis.Redis) -> FeatureChangeOutcome | None:
        return await request_change(client, request, wait_s=wait)

    outcome = _run(redis_url, ask)
    if outcome is None:
        fail(
            f"no decision within {wait:g} s (request {request.event_id}): is a compliance replica running? "
            "The request stays queued and is decided when one starts.",
            code=2,
        )
    if outcome.outcome == "rejected":
        fail(f"rejected: {outcome.reason}")
    when = "now" if request.effective_at <= outcome.decided_at else f"from {request.effective_at.isoformat()}"
    filing = f" (filing number {request.filing_number})" if request.filing_number else ""
    typer.echo(f"applied: {feature} in {region.value} is {status.value} {when}{filing}")


def list_features(
    region: Annotated[
        Region | None, typer.Option("--region", help="Only this region.", show_default=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
    redis_url: RedisUrl = None,
) -> None:
    """Every feature's status per region now, its filing number, and changes scheduled ahead."""
    from lingxi.events.compliance import FEATURE_REGISTRY_KEY, FeatureRecord
    from lingxi.features import parse_records, summaries

    async def read(client: aioredis.Redis) -> list[FeatureRecord]:
        return list(parse_records(await client.hgetall(FEATURE_REGISTRY_KEY)).values())

    rows = summaries(_run(redis_url, read), datetime.now(UTC), region.value if region else None)
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no features in the registry" + (f" for {region.value}" if region else ""))
        return
    shown = table("feature", "region", "status", "filing number", "since", "scheduled")
    for row in rows:
        later = ", ".join(f"{s['status']} at {s['effective_at']}" for s in row["scheduled"])
        shown.add_row(
            *(cell(row[k]) for k in ("feature", "region", "status", "filing_number", "since")), cell(later)
        )
    print_table(shown)


def _command(status_name: str, doc: str) -> Callable[..., None]:
    def command(
        feature: Annotated[
            str, typer.Argument(help="The feature: assistant, vision, maintenance, personalization...")
        ],
        region: RegionOpt = Region.CN,
        filing_number: FilingOpt = None,
        effective_at: EffectiveOpt = None,
        note: NoteOpt = None,
        by: ByOpt = None,
        wait: WaitOpt = 10.0,
        redis_url: RedisUrl = None,
    ) -> None:
        from lingxi.events.compliance import FeatureStatus

        _change(
            FeatureStatus(status_name),
            feature,
            region,
            filing_number,
            effective_at,
            note,
            by,
            wait,
            redis_url,
        )

    command.__doc__ = doc
    return command


file_feature = _command("filed", "Record that a feature's filing was submitted in a region (it stays off).")
approve_feature = _command(
    "approved", "Approve a feature in a region (needs a filing number, given or filed)."
)
suspend_feature = _command("suspended", "Suspend an approved feature in a region: its requests get HTTP 451.")
withdraw_feature = _command("withdrawn", "Withdraw a feature in a region for good (file again to restart).")
