"""``lingxi simulate telemetry`` (a simulated fleet's readings and ground truth, to files, or published to a
running Lingxi through the gateway or onto the stream) and ``lingxi evaluate maintenance`` (the health
model replayed over a simulated fleet, scored against the truth).

Imported whenever the ``lingxi`` command starts: everything heavy is imported inside the commands.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from lingxi.cli.common import RedisUrl

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from lingxi_maintenance.fleet import Delivery, Fleet, FleetConfig
    from lingxi_maintenance.publish import Publisher
    from lingxi_maintenance.readings import Reading

DEFAULT_FLEET_OUTPUT = Path("simulated-fleet")
DEFAULT_REPORT_OUTPUT = Path("docs/maintenance-accuracy")
TELEMETRY_FILE = "telemetry.jsonl"
TRUTH_FILE = "truth.json"
ALL_FAULTS = "battery_wear,overheating,storage_full,crash_loop,reboot_storm"
DEFAULT_GATEWAY_URL = "http://127.0.0.1:8000"
GATEWAY_MAX_AGE_DAYS = 30
"""The gateway refuses readings older than this (``lingxi_gateway.devices.MAX_READING_AGE``)."""


class PublishTo(StrEnum):
    """Where ``simulate telemetry --publish`` sends the readings."""

    GATEWAY = "gateway"
    STREAM = "stream"


_READING_FIELDS = (
    "device_id",
    "device_model",
    "battery_level",
    "full_charge_capacity_mah",
    "design_capacity_mah",
    "cycle_count",
    "temperature_c",
    "voltage_mv",
    "current_ma",
    "charging_state",
    "thermal_state",
    "storage_used_bytes",
    "storage_total_bytes",
    "app_crash_count",
    "reboot_count",
    "os_version",
)


def _utc(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def reading_json(reading: Reading) -> dict[str, Any]:
    """A reading as the fields of a ``TelemetryReading`` (JSON-ready): a gateway request's item."""
    fields: dict[str, Any] = {"measured_at": _utc(reading.measured_at)}
    for name in _READING_FIELDS:
        fields[name] = getattr(reading, name)
    return fields


def telemetry_event(delivery: Delivery, event_id: str, region: str = "CN") -> dict[str, Any]:
    """A delivered reading as the fields of a ``TelemetryReported`` event (JSON-ready)."""
    return {
        "event_id": event_id,
        "occurred_at": _utc(delivery.reported_at),
        "schema_version": 1,
        "region": region,
        **reading_json(delivery.reading),
    }


def reading_from_event(event: Mapping[str, Any]) -> Reading:
    """The domain reading in a ``TelemetryReported`` event's JSON fields (as ``telemetry_event`` wrote)."""
    from lingxi_maintenance.readings import Reading

    try:
        return Reading(
            measured_at=datetime.fromisoformat(event["measured_at"].replace("Z", "+00:00")),
            **{name: event[name] for name in _READING_FIELDS},
        )
    except KeyError as missing:
        raise ValueError(f"telemetry event lacks field {missing}") from None


def _fleet_config(
    devices: int, days: int, faults: str, fault_share: float, seed: int, start: datetime | None = None
) -> FleetConfig:
    from lingxi_maintenance.fleet import DEFAULT_START, FleetConfig, parse_faults

    try:
        return FleetConfig(
            devices=devices,
            days=days,
            faults=parse_faults(faults),
            fault_share=fault_share,
            seed=seed,
            start=start or DEFAULT_START,
        )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


def _start(text: str | None, days: int, publish: PublishTo | None) -> datetime | None:
    """The simulation's start: ``--start`` (a UTC date), else for the gateway a fleet that ends at
    midnight today (the gateway refuses readings from the future or weeks old), else the default."""
    if text:
        try:
            day = datetime.fromisoformat(text).date()
        except ValueError:
            raise typer.BadParameter(f"--start {text!r} is not a date (YYYY-MM-DD)") from None
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    if publish is PublishTo.GATEWAY:
        today = datetime.now(UTC).date()
        return datetime(today.year, today.month, today.day, tzinfo=UTC) - timedelta(days=days)
    return None


def _progress(console: Console) -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("simulated days · {task.fields[readings]:,} readings"),
        TimeElapsedColumn(),
        console=console,
    )


def _with_progress(
    deliveries: Iterator[Delivery], progress: Progress, description: str, config: FleetConfig
) -> Iterator[Delivery]:
    """The deliveries, advancing a progress bar in simulated days as they pass."""
    task = progress.add_task(description, total=config.days, readings=0)
    count = 0
    for delivery in deliveries:
        count += 1
        if count % 5000 == 0:
            done = (delivery.reported_at - config.start).total_seconds() / 86400.0
            progress.update(task, completed=min(config.days, int(done)), readings=count)
        yield delivery
    progress.update(task, completed=config.days, readings=count)


def simulate_telemetry(
    devices: Annotated[int, typer.Option(help="Handsets in the fleet.")] = 1000,
    days: Annotated[int, typer.Option(help="Days simulated.")] = 30,
    faults: Annotated[
        str, typer.Option(help="Faults to inject, comma-separated (or 'none'): " + ALL_FAULTS + ".")
    ] = ALL_FAULTS,
    fault_share: Annotated[float, typer.Option(help="Share of the devices given each fault.")] = 0.1,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same fleet.")] = 7,
    region: Annotated[str, typer.Option(help="Region of the events.")] = "CN",
    output: Annotated[
        Path, typer.Option("--output", "-o", help=f"Folder for {TELEMETRY_FILE} and {TRUTH_FILE}.")
    ] = DEFAULT_FLEET_OUTPUT,
    start: Annotated[
        str | None,
        typer.Option(
            metavar="YYYY-MM-DD",
            help="First simulated day (UTC). Default 2026-03-02; with --publish gateway, so that the "
            "fleet ends at midnight today (the gateway refuses readings from the future or over "
            f"{GATEWAY_MAX_AGE_DAYS} days old).",
            show_default=False,
        ),
    ] = None,
    publish: Annotated[
        PublishTo | None,
        typer.Option(
            help="Publish the readings to a running Lingxi instead of writing "
            f"{TELEMETRY_FILE}: through the gateway (POST /v1/telemetry) or straight onto the "
            "TelemetryBatchReceived stream. The ground truth is still written to --output.",
            show_default=False,
        ),
    ] = None,
    gateway_url: Annotated[
        str, typer.Option(help="The gateway, for --publish gateway.")
    ] = DEFAULT_GATEWAY_URL,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="LINGXI_TOKEN",
            help="For --publish gateway: an operator's admin token (lingxi token issue --admin NAME "
            "--role operator), since a fleet's batches mix many devices.",
            show_default=False,
        ),
    ] = None,
    redis_url: RedisUrl = None,
    rate: Annotated[
        float, typer.Option(min=0, help="Readings a second to publish at (0: as fast as they are taken).")
    ] = 0.0,
    batch: Annotated[
        int,
        typer.Option(
            min=1, help="Readings per gateway request (at most 500) or stream entry (at most 1000)."
        ),
    ] = 500,
) -> None:
    """Simulate a fleet of handsets (battery fade to a phone maker's cycle rating, usage, heat, storage,
    crashes; injected faults with known onset) and write its readings as TelemetryReported events, one JSON
    object a line in arrival order (late and duplicate readings included), and its ground truth.

    With --publish the readings go, in arrival order and at --rate, to the gateway or the stream of a
    running Lingxi instead, and a summary says how many were sent, accepted and rejected."""
    import random
    import uuid

    from lingxi.events.base import Region
    from rich.console import Console

    from lingxi_maintenance.fleet import Fleet

    if region not in {r.value for r in Region}:
        raise typer.BadParameter(f"unknown region {region!r}; known: {', '.join(r.value for r in Region)}")
    config = _fleet_config(devices, days, faults, fault_share, seed, _start(start, days, publish))
    console = Console(stderr=True)
    fleet = Fleet(config)
    if publish is PublishTo.GATEWAY and not token:
        raise typer.BadParameter(
            "--publish gateway needs an operator's admin token: --token or LINGXI_TOKEN", param_hint="--token"
        )
    if publish is not None:
        _publish_fleet(
            fleet,
            publish,
            Region(region),
            output,
            console,
            gateway_url,
            redis_url,
            rate=rate,
            batch=batch,
            token=token or "",
        )
        return
    ids = random.Random(f"{seed}/event-ids")
    output.mkdir(parents=True, exist_ok=True)
    written = 0
    with _progress(console) as progress, (output / TELEMETRY_FILE).open("w", encoding="utf-8") as lines:
        for delivery in _with_progress(fleet.deliveries(), progress, "simulating", config):
            event_id = str(uuid.UUID(int=ids.getrandbits(128), version=4))
            lines.write(json.dumps(telemetry_event(delivery, event_id, region), separators=(",", ":")))
            lines.write("\n")
            written += 1
    (output / TRUTH_FILE).write_text(json.dumps(fleet.truth.to_dict(), indent=1), encoding="utf-8")
    faulty = sum(1 for d in fleet.truth.devices if d.faults)
    console.print(
        f"wrote {written:,} readings of {devices:,} devices over {days} days ({faulty:,} with an injected "
        f"fault) to {output / TELEMETRY_FILE}, and the ground truth to {output / TRUTH_FILE}"
    )


def _publish_fleet(
    fleet: Fleet,
    to: PublishTo,
    region: Any,
    output: Path,
    console: Console,
    gateway_url: str,
    redis_url: str | None,
    *,
    rate: float,
    batch: int,
    token: str,
) -> None:
    """``simulate telemetry --publish``: the truth to ``output``, the readings to the gateway or stream."""
    import time
    from contextlib import ExitStack

    from lingxi.cli.common import fail, mask_url, open_redis, resolve_redis_url
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from lingxi_maintenance.publish import (
        GatewayPublisher,
        Outgoing,
        PublishError,
        StreamPublisher,
        Tally,
        publish,
    )

    config = fleet.config
    most = (StreamPublisher if to is PublishTo.STREAM else GatewayPublisher).max_batch
    if not 1 <= batch <= most:
        raise typer.BadParameter(f"--batch {batch}: {to} takes 1 to {most} readings a batch")
    with ExitStack() as stack:
        publisher: Publisher
        if to is PublishTo.STREAM:
            client = stack.enter_context(open_redis(redis_url))
            publisher = StreamPublisher(client, region, f"Redis at {mask_url(resolve_redis_url(redis_url))}")
        else:
            publisher = GatewayPublisher(gateway_url, region, token=token)
            if config.days >= GATEWAY_MAX_AGE_DAYS:
                console.print(
                    f"note: the gateway refuses readings over {GATEWAY_MAX_AGE_DAYS} days old: the first "
                    "days of this fleet will be rejected"
                )
        stack.callback(publisher.close)
        output.mkdir(parents=True, exist_ok=True)
        (output / TRUTH_FILE).write_text(json.dumps(fleet.truth.to_dict(), indent=1), encoding="utf-8")

        latest = config.start

        def outgoing() -> Iterator[Outgoing]:
            nonlocal latest
            for delivery in fleet.deliveries():
                latest = delivery.reported_at
                yield Outgoing(delivery.reported_at, reading_json(delivery.reading))

        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn(
                "day {task.completed:.0f}/{task.total:.0f} · {task.fields[sent]:,} sent · "
                "{task.fields[rate]:,.0f} readings/s"
            ),
            TimeElapsedColumn(),
            console=console,
        )
        tally = Tally()
        began = time.monotonic()
        task = progress.add_task(f"publishing to {to}", total=config.days, sent=0, rate=0.0)

        def advance(totals: Tally) -> None:
            done = (latest - config.start).total_seconds() / 86400.0
            elapsed = max(time.monotonic() - began, 1e-9)
            progress.update(
                task, completed=min(config.days, done), sent=totals.sent, rate=totals.sent / elapsed
            )

        interrupted = False
        with progress:
            try:
                publish(outgoing(), publisher, rate=rate, batch=batch, tally=tally, on_progress=advance)
            except PublishError as error:
                progress.stop()
                fail(f"{error} (after {tally.sent:,} readings sent)")
            except KeyboardInterrupt:
                interrupted = True
    elapsed = time.monotonic() - began
    achieved = tally.sent / elapsed if elapsed > 0 else 0.0
    retried = f", {tally.retries:,} retries after 429/503" if tally.retries else ""
    console.print(
        f"{'interrupted: ' if interrupted else ''}sent {tally.sent:,} readings to {publisher.destination} in "
        f"{elapsed:.1f} s ({achieved:,.0f} readings/s): {tally.accepted:,} accepted, {tally.rejected:,} "
        f"rejected{retried}; the ground truth of {config.devices:,} devices is in {output / TRUTH_FILE}",
        markup=False,
        highlight=False,
    )
    for reason, count in tally.reasons.most_common(3):
        console.print(f"  rejected {count:,}×: {reason}", markup=False, highlight=False)
    if interrupted:
        raise typer.Exit(130)


def _saved_fleet(folder: Path) -> tuple[Any, Iterator[Reading]]:
    """The truth and the readings of a fleet ``simulate telemetry`` wrote."""
    from lingxi_maintenance.fleet import FleetTruth

    telemetry, truth_file = folder / TELEMETRY_FILE, folder / TRUTH_FILE
    for path in (telemetry, truth_file):
        if not path.is_file():
            raise typer.BadParameter(
                f"{path} not found: --fleet takes a folder written by 'simulate telemetry'"
            )
    truth = FleetTruth.from_dict(json.loads(truth_file.read_text(encoding="utf-8")))

    def readings() -> Iterator[Reading]:
        with telemetry.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                try:
                    yield reading_from_event(json.loads(line))
                except ValueError as error:
                    raise typer.BadParameter(f"{telemetry}:{number}: {error}") from None

    return truth, readings()


def health_step() -> Any:
    """The real health model as a replay step: ``(state, reading) -> (state, alert changes)``, with one
    ``FleetModels`` shared by the whole fleet (as in one maintenance process)."""
    from lingxi_maintenance.health import assess
    from lingxi_maintenance.heat import FleetModels

    models = FleetModels()

    def step(state: Any, reading: Reading) -> tuple[Any, Any]:
        assessment = assess(state, reading, models)
        return assessment.state, assessment.changes

    return step


def evaluate_maintenance(
    devices: Annotated[int, typer.Option(help="Handsets in the simulated fleet.")] = 2000,
    days: Annotated[int, typer.Option(help="Days simulated.")] = 60,
    seed: Annotated[int, typer.Option(help="Random seed of the fleet.")] = 7,
    fault_share: Annotated[float, typer.Option(help="Share of the devices given each fault.")] = 0.1,
    fleet: Annotated[
        Path | None,
        typer.Option(help="Replay a fleet 'simulate telemetry' wrote (a folder) instead of simulating one."),
    ] = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder for report.md, report.json and report.png.")
    ] = DEFAULT_REPORT_OUTPUT,
) -> None:
    """Replay a simulated fleet through the health model and score its alerts against the ground truth:
    per condition precision, recall, median lead time before failure and false alarms per 1,000 healthy
    device-days, as a table (report.md), JSON (report.json) and a chart (report.png)."""
    import time

    from rich.console import Console

    from lingxi_maintenance.evaluation import draw_chart, markdown, replay, score
    from lingxi_maintenance.fleet import Fleet

    console = Console(stderr=True)
    began = time.perf_counter()
    count = 0

    def counted(readings: Iterator[Reading]) -> Iterator[Reading]:
        nonlocal count
        for reading in readings:
            count += 1
            yield reading

    if fleet is not None:
        truth, readings = _saved_fleet(fleet)
        with console.status(f"replaying {fleet}"):
            alerts = replay(counted(readings), health_step())
        source = f"the fleet in {fleet}"
    else:
        config = _fleet_config(devices, days, ALL_FAULTS, fault_share, seed)
        simulated = Fleet(config)
        truth = simulated.truth
        with _progress(console) as progress:
            deliveries = _with_progress(simulated.deliveries(), progress, "replaying", config)
            alerts = replay(counted(d.reading for d in deliveries), health_step())
        source = f"a simulated fleet (seed {seed}, {fault_share:g} of the devices per fault)"
    report = score(alerts, truth, readings=count)
    elapsed = time.perf_counter() - began
    output.mkdir(parents=True, exist_ok=True)
    table = markdown(report)
    summary = f"Health model replayed over {source}, in {elapsed:.0f} s.\n\n"
    (output / "report.md").write_text(summary + table, encoding="utf-8")
    document = {"source": source, "seconds": round(elapsed, 1), **report.to_dict()}
    (output / "report.json").write_text(json.dumps(document, indent=1), encoding="utf-8")
    draw_chart(report, output / "report.png")
    typer.echo(summary + table)
    console.print(f"wrote report.md, report.json and report.png in {output}")
