"""Maintenance service wiring: telemetry in, device states and alerts out.

Two streams feed the same path: the gateway's ``TelemetryBatchReceived`` (up to 1,000 checked readings an
entry) and the partners' raw ``TelemetryReported`` (one reading an entry). Both consumers take a whole
read at once: the readings of all its entries are assessed together after one MGET of the device states,
100 devices at a time, each part's new states, health summaries and alert records written by one Lua
script (``store``); then each alert change is published as ``AlertRaised`` / ``AlertCleared``, caused by
the event that carried the reading.

A reading the domain refuses (unknown model, wrong design capacity, clock skew, invalid values) changes
nothing, publishes nothing, and is logged (device id and reason; telemetry holds no personal data) and
counted in ``lingxi_maintenance_readings_refused_total``. From the raw stream, where an entry is one
reading, the entry is dead-lettered with the reason (``ctx.reject``) while the rest of the read is
committed; inside a gateway batch, whose readings the gateway already checked, it is only counted.

Within a replica, reads are handled one at a time (a lock), so the two consumers never interleave a
device's load and save. Across replicas, a read writes a device's state only over the bytes it loaded
(``store``): a device another replica wrote meanwhile is loaded and assessed again, so no reading is
lost (the fleet models learn its readings twice: they are statistics, and this is rare).

A part's states, alert records and alert events are written together in one atomic step, before the
runtime commits the read and publishes the events. If the commit never happens (the replica dies), the
read is delivered again; its readings are then duplicates and change nothing, and the alert events the
first attempt stored are published from the store instead (same event ids: at most once downstream).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import cast

from lingxi.devices import known_models
from lingxi.events.base import Event
from lingxi.events.maintenance import (
    AlertCleared,
    AlertRaised,
    TelemetryBatchReceived,
    TelemetryReported,
)
from lingxi.runtime import HandlerContext, Service
from prometheus_client import Counter

from lingxi_maintenance.alerts import alert_event
from lingxi_maintenance.ingest import Incoming, IngestOutcome, by_device, ingest_grouped
from lingxi_maintenance.store import MaintenanceStore, SharedFleet, unpack

service = Service("maintenance")
PUBLISHES = (AlertRaised, AlertCleared)
"""What this service publishes: its send operations in docs/asyncapi.json (docs/asyncapi.md)."""
service.publishes(*PUBLISHES)
store = MaintenanceStore(service.redis)
fleet = SharedFleet(service.redis)
_one_read_at_a_time = asyncio.Lock()

READINGS = Counter(
    "lingxi_maintenance_readings_total",
    "Telemetry readings by outcome (assessed, duplicate, too_late, refused).",
    ["source", "outcome"],
)
CONFLICTS = Counter(
    "lingxi_maintenance_state_conflicts_total",
    "Device states another replica wrote while this one assessed them (assessed again).",
)
ALERTS = Counter(
    "lingxi_maintenance_alerts_total",
    "Alert changes published, by condition, severity and change (raised, cleared).",
    ["condition", "severity", "change"],
)
REFUSED = Counter(
    "lingxi_maintenance_readings_refused_total",
    "Telemetry readings the domain refused, by reason.",
    ["source", "reason"],
)


async def _sync_fleet_quietly() -> None:
    """Share the fleet models; a Redis hiccup must not stop the replica from starting or stopping."""
    try:
        await fleet.sync()
    except Exception as error:
        service.log.warning("fleet models not synced", error=repr(error))


service.on_startup.append(_sync_fleet_quietly)
service.on_shutdown.append(_sync_fleet_quietly)


SAVE_ATTEMPTS = 5
WRITE_CHUNK_DEVICES = 100
"""Devices assessed and written together (see ``_assess_and_store``): small enough that their states
stay in the processor's caches, large enough that a script's round trip is a small share of its work."""
"""Attempts at storing a read whose devices other replicas keep writing at the same time."""
_ANNOUNCED: dict[str, type[AlertRaised] | type[AlertCleared]] = {
    AlertRaised.__name__: AlertRaised,
    AlertCleared.__name__: AlertCleared,
}


def announcement(event: AlertRaised | AlertCleared) -> str:
    """An alert event as one line of text, kept with the write that made it (``store.announced``)."""
    return f"{type(event).__name__} {event.model_dump_json()}"


def parse_announcement(text: str) -> AlertRaised | AlertCleared:
    """The alert event ``announcement`` wrote, with its event id."""
    name, _, payload = text.partition(" ")
    return _ANNOUNCED[name].model_validate_json(payload)


async def handle_readings(
    incoming: list[Incoming], inputs: Sequence[Event], ctx: HandlerContext, source: str
) -> None:
    """Assess one read's readings, store the outcome, publish the alert changes."""
    async with _one_read_at_a_time:
        by_id = {str(event.event_id): event for event in inputs}
        # An earlier attempt at these inputs may have stored alert changes and died before publishing.
        for input_id, texts in (await store.announced(list(by_id))).items():
            for text in texts:
                await ctx.publish(parse_announcement(text), cause=by_id[input_id])
        outcome, events = await _assess_and_store(incoming, inputs)
    READINGS.labels(source, "assessed").inc(outcome.assessed)
    for why, count in outcome.ignored.items():
        READINGS.labels(source, why).inc(count)
    for refused in outcome.refused:
        READINGS.labels(source, "refused").inc()
        REFUSED.labels(source, refused.reason.value).inc()
        service.log.warning(
            "telemetry reading refused",
            device_id=refused.device_id,
            reason=refused.reason.value,
            detail=refused.detail,
            input_event_id=str(inputs[refused.origin].event_id),
        )
        if source == RAW:  # one reading an entry: that entry goes to the dead-letter stream, alone
            ctx.reject(inputs[refused.origin], "reading_refused", f"{refused.reason.value}: {refused.detail}")
    for event, cause in events:
        await ctx.publish(event, cause=cause)
        change = "raised" if isinstance(event, AlertRaised) else "cleared"
        severity = event.severity.value if isinstance(event, AlertRaised) else "none"
        ALERTS.labels(event.condition.value, severity, change).inc()
    try:
        await fleet.maybe_sync()
    except Exception as error:  # the read is stored: a failed sync must not retry it
        service.log.warning("fleet models not synced", error=repr(error))


async def _assess_and_store(
    incoming: list[Incoming], inputs: Sequence[Event]
) -> tuple[IngestOutcome, list[tuple[AlertRaised | AlertCleared, Event]]]:
    """Assess and store the readings; a device another replica wrote meanwhile is assessed again on what
    that replica wrote, until every device is stored (or ``SAVE_ATTEMPTS`` run out: the read is retried).

    The stored states of the whole read come in one MGET; then ``WRITE_CHUNK_DEVICES`` devices at a time
    are unpacked, assessed and packed for their write, and the write is sent before the next part: Redis
    runs one part's script while this process assesses the next, and only one part's states are alive
    at a time (thousands of them at once cost more in the memory caches and the garbage collector than
    the assessment itself)."""
    done = IngestOutcome()
    events: list[tuple[AlertRaised | AlertCleared, Event]] = []
    pending = incoming
    for _ in range(SAVE_ATTEMPTS):
        stored = await store.load_stored(i.reading.device_id for i in pending)
        parts: list[tuple[IngestOutcome, list[tuple[AlertRaised | AlertCleared, Event]]]] = []
        writes: list[asyncio.Task[list[str]]] = []
        groups = list(by_device(pending).items())
        for start in range(0, len(groups), WRITE_CHUNK_DEVICES):
            part = groups[start : start + WRITE_CHUNK_DEVICES]
            states, unreadable = unpack(stored, (device_id for device_id, _ in part))
            for device_id in unreadable:
                service.log.error("device state unreadable; starting it over", device_id=device_id)
            outcome = ingest_grouped(part, states, fleet.models, known_models())
            # Built before the write: an event that fails validation must fail the read before it is stored.
            made = [
                (alert_event(c.change, inputs[c.origin].region), inputs[c.origin]) for c in outcome.changes
            ]
            notes = [(str(cause.event_id), announcement(event)) for event, cause in made]
            prepared = store.prepare(outcome, stored, notes)
            outcome.release_states()
            parts.append((outcome, made))
            writes.append(asyncio.create_task(store.write(prepared)))
            await asyncio.sleep(0)  # let the write go out now
        results = await asyncio.gather(*writes, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result  # the read is retried: what was written is recognised as duplicates then
        lost = {device_id for result in results for device_id in cast(list[str], result)}
        for outcome, made in parts:
            done.add(outcome.without(lost))
            events += [(event, cause) for event, cause in made if event.device_id not in lost]
        if not lost:
            return done, events
        CONFLICTS.inc(len(lost))
        pending = [i for i in pending if i.reading.device_id in lost]
    raise RuntimeError(
        f"{len(lost)} device states changed under this read {SAVE_ATTEMPTS} times in a row; retrying the read"
    )


RAW = "raw"
"""The partners' stream, one reading an entry."""


@service.consumer(TelemetryBatchReceived, batch=True)
async def on_telemetry_batches(batches: Sequence[TelemetryBatchReceived], ctx: HandlerContext) -> None:
    incoming = [
        Incoming(reading, batch.occurred_at, index)
        for index, batch in enumerate(batches)
        for reading in batch.readings
    ]
    await handle_readings(incoming, batches, ctx, "gateway")


@service.consumer(TelemetryReported, batch=True)
async def on_telemetry_reported(events: Sequence[TelemetryReported], ctx: HandlerContext) -> None:
    incoming = [Incoming(event, event.occurred_at, index) for index, event in enumerate(events)]
    await handle_readings(incoming, events, ctx, RAW)


app = service.asgi()
