"""Maintenance: readings/s of the real maintenance service draining a backlog of telemetry batches, against
the raw Redis path for the same entries, with 1 and 2 replicas; then what a device's state costs in Redis.

The readings come from the fleet simulator (``lingxi_maintenance.fleet.Fleet``, deterministic): each run
of ``per_batch`` deliveries in arrival order goes through the gateway's own checks
(``lingxi_gateway.devices.check_readings``, its clock at the last arrival) and the accepted readings leave
as one ``TelemetryBatchReceived``, written as the gateway writes it. Every consumer drains the same
entries (same event ids) from a flushed private Redis, so each starts from no device state.

The baseline consumer, ``python -m bench.scenarios.maintenance --redis-url URL --group G --count K``,
is a bare redis-py loop: XREADGROUP COUNT K, each entry's envelope decoded and validated as a
``TelemetryBatchReceived`` (the least any consumer of the typed event does), one XACK per read.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid5

from lingxi.device_health import decode_health
from lingxi.events.base import Region
from lingxi.events.maintenance import (
    AlertRaised,
    TelemetryBatchReceived,
    device_alerts_key,
    device_health_key,
)
from lingxi.localredis import LocalRedis
from lingxi.runtime.delivery import stream_entry
from lingxi.runtime.settings import ServiceSettings
from lingxi.testing.processes import ServiceProcess
from lingxi_maintenance.fleet import Fleet, FleetConfig
from lingxi_maintenance.state import MAX_STATE_BYTES
from lingxi_maintenance.store import state_key
from redis.asyncio import Redis

from bench.common import (
    Noise,
    Ticker,
    baseline_main,
    domain_modules,
    private_redis,
    raw_consumer_process,
    reset_group,
    start_consumers,
    stop_processes,
    timed_drain,
)
from bench.stats import OTHERS
from bench.vision_worker import memory_mb

STREAM = TelemetryBatchReceived.stream
GROUP = "maintenance"
"""The service's name, hence its consumer group."""
STREAMS_PER_REPLICA = 2
"""A maintenance replica waits on two streams: the gateway's batches and the partners' raw readings."""
TARGET_READINGS_PER_S = 25_000.0
"""The issue's target: readings ingested per second by one maintenance process on a 2-core machine."""
TARGET_STATE_BYTES = 2048
"""The issue's target: a device's state takes under 2 KB in Redis."""
TRIES = 2
"""Attempts per measurement at most (a run of the full backlog lasts several seconds)."""
READY_TIMEOUT_S = 60.0
_NAMESPACE = UUID("5b0c2f4e-7d1a-4c3b-8e9f-0a1b2c3d4e5f")

METHOD = (
    "Readings: the first {readings:,} deliveries of the fleet simulator "
    "(`Fleet(FleetConfig(devices={devices:,}, days={days}, seed={seed}))`, arrival order: late, "
    "duplicate and clock-skewed readings included) in runs of {per_batch}, each run checked by the "
    "gateway's own `check_readings` (its clock at the run's last arrival; {gateway_rejected:,} readings "
    "refused there: {rejected_by}) and the accepted ones written as one `TelemetryBatchReceived` "
    "({entries} entries, {accepted:,} readings of {devices_seen:,} devices, {entry_kb:,.0f} kB an "
    "entry). Each consumer starts on a flushed private redis-server (no persistence) and waits on the "
    "stream; the backlog is written while the group sees nothing, then the group is rewound and the last "
    "entry wakes every waiting consumer; the bench polls XINFO GROUPS every 2 ms and stops the clock "
    "when the last entry is delivered and nothing is pending. Baseline: `python -m "
    "bench.scenarios.maintenance`, a redis-py loop (XREADGROUP COUNT {count}, each entry decoded and "
    "validated as `TelemetryBatchReceived`, one XACK per read) on uvloop. Lingxi: `python -m "
    "lingxi_maintenance` replicas (the real service under uvicorn, default settings: max_records "
    "{count}, JSON logs to a file; {compiled}), which load the states of a read's devices (one MGET), "
    "unpack, assess and pack the readings 100 devices at a time, each part written in one atomic Lua "
    "script (states, only over the bytes the read loaded: compare-and-set; health summaries; alert "
    "records and announcements) that runs in Redis while the next part is assessed, all before the "
    "commit; a device another replica wrote meanwhile is loaded and assessed again (counted in "
    "`lingxi_maintenance_state_conflicts_total`). Readings/s = accepted readings / seconds; speed-up is "
    "against 1 replica; RSS is each replica's resident set (VmRSS) after the run (peak VmHWM). {cores} "
    "cores are shared by the consumers, Redis and the bench."
)
STATE_METHOD = (
    "After the 1-replica run ({per_device:.0f} readings a device on average, over {hours:.0f} hours), "
    "for every device seen: `STRLEN` and `MEMORY USAGE` of its state (`lingxi:maintenance:state:<id>`, "
    "packed with `struct`, at most {max_state:,} bytes by construction), of its health record (a JSON "
    "array the gateway presents) and of its alerts hash where it has one. The target (under {target:,} "
    "bytes) is judged on the state's largest `MEMORY USAGE`, Redis's own overhead included."
)


@dataclass(frozen=True)
class MaintenanceConfig:
    devices: int = 50_000
    """Many devices, few readings each: as in a fleet of millions, a read's readings are nearly all of
    different devices, and two replicas seldom assess the same device at once."""
    readings: int = 200_000
    """Fleet deliveries turned into the backlog (the gateway refuses a few)."""
    per_batch: int = 500
    """Readings a gateway request carries (its maximum)."""
    replicas: tuple[int, ...] = (1, 2)
    seed: int = 7


def steps(config: MaintenanceConfig) -> int:
    return 2 + len(config.replicas) + 1


@dataclass(frozen=True)
class Backlog:
    entries: list[dict[str, str]]
    readings: int
    """Readings the entries carry (accepted by the gateway's checks)."""
    gateway_rejected: dict[str, int]
    """Readings the gateway's checks refused, by the field its reason names."""
    devices: list[str]
    """Every device with at least one reading, sorted."""
    days: int
    hours: float
    """From the first arrival to the last."""


def fleet_days(config: MaintenanceConfig) -> int:
    """Simulated days enough for ``config.readings`` deliveries (a handset reports every 1-4 hours)."""
    return max(2, math.ceil(config.readings / config.devices / 6) + 1)


def build_backlog(config: MaintenanceConfig) -> Backlog:
    """The entries the gateway would write for the fleet's first ``config.readings`` deliveries."""
    # Imported here: the baseline consumer (this module run as a program) needs no web framework.
    from lingxi_gateway.devices import check_readings

    days = fleet_days(config)
    fleet = Fleet(FleetConfig(devices=config.devices, days=days, seed=config.seed))
    deliveries = fleet.deliveries()
    entries: list[dict[str, str]] = []
    devices: set[str] = set()
    rejected: dict[str, int] = {}
    accepted_total = taken = 0
    first: datetime | None = None
    last: datetime | None = None
    while taken < config.readings:
        chunk = []
        for delivery in deliveries:
            chunk.append(delivery)
            if len(chunk) == min(config.per_batch, config.readings - taken):
                break
        if not chunk:
            break
        taken += len(chunk)
        now = chunk[-1].reported_at
        first = first or chunk[0].reported_at
        last = now
        raw = [_as_json(delivery.reading) for delivery in chunk]
        accepted, refused = check_readings(raw, now)
        for rejection in refused:
            field = rejection.reason.split(":", 1)[0]
            rejected[field] = rejected.get(field, 0) + 1
        if not accepted:
            continue
        accepted_total += len(accepted)
        devices.update(reading.device_id for reading in accepted)
        event = TelemetryBatchReceived(
            event_id=uuid5(_NAMESPACE, f"batch-{len(entries)}"),
            occurred_at=now,
            region=Region.CN,
            readings=accepted,
        )
        entries.append(stream_entry(event, str(event.event_id)))
    hours = (last - first).total_seconds() / 3600 if first and last else 0.0
    return Backlog(entries, accepted_total, rejected, sorted(devices), days, hours)


def _as_json(reading: Any) -> dict[str, Any]:
    """A simulator reading as a handset would send it in the request body."""
    out = dataclasses.asdict(reading)
    out["measured_at"] = reading.measured_at.isoformat().replace("+00:00", "Z")
    return out


async def run(config: MaintenanceConfig, tick: Ticker, workdir: Path, noise: Noise) -> dict[str, Any]:
    tick.say(f"maintenance: simulating {config.devices:,} devices, {config.readings:,} readings")
    started = time.perf_counter()
    backlog = await asyncio.to_thread(build_backlog, config)
    build_s = time.perf_counter() - started
    tick.advance()
    count = ServiceSettings().max_records
    tries = min(TRIES, noise.tries)
    rows: list[dict[str, Any]] = []
    state: dict[str, Any] = {}
    with private_redis(workdir) as server:
        client = Redis.from_url(server.url)
        try:
            tick.say(f"maintenance: raw redis-py baseline, {backlog.readings:,} readings")
            rows.append(await _measure(client, server, "raw", 1, backlog, count, workdir, noise, tries, tick))
            tick.advance()
            for replicas in config.replicas:
                tick.say(f"maintenance: {replicas} replica(s), {backlog.readings:,} readings")
                row = await _measure(
                    client, server, "lingxi", replicas, backlog, count, workdir, noise, tries, tick
                )
                if replicas == 1:
                    tick.say("maintenance: state per device in Redis")
                    state = await state_sizes(client, backlog.devices)
                rows.append(row)
                tick.advance()
        finally:
            await client.aclose()
    base = rows[0]["readings_per_s"]
    single = next((r for r in rows if r["consumer"] == "lingxi" and r["replicas"] == 1), None)
    for row in rows:
        row["vs_raw"] = round(row["readings_per_s"] / base, 3)
        if row["consumer"] == "lingxi" and single is not None:
            row["speedup"] = round(row["readings_per_s"] / single["readings_per_s"], 3)
    if state:
        state["target_bytes"] = TARGET_STATE_BYTES
        state["met"] = state["state"]["memory_max"] < TARGET_STATE_BYTES
    tick.advance()
    compiled, compiled_text = domain_modules("lingxi_maintenance")
    entry_bytes = sum(len(e["__data__"]) for e in backlog.entries) / max(len(backlog.entries), 1)
    return {
        "method": METHOD.format(
            readings=config.readings,
            devices=config.devices,
            days=backlog.days,
            seed=config.seed,
            per_batch=config.per_batch,
            gateway_rejected=sum(backlog.gateway_rejected.values()),
            rejected_by=", ".join(f"{n:,} on {field}" for field, n in backlog.gateway_rejected.items())
            or "none",
            entries=len(backlog.entries),
            accepted=backlog.readings,
            devices_seen=len(backlog.devices),
            entry_kb=entry_bytes / 1000,
            count=count,
            cores=os.cpu_count(),
            compiled=compiled_text,
        ),
        "state_method": STATE_METHOD.format(
            per_device=backlog.readings / max(len(backlog.devices), 1),
            hours=backlog.hours,
            max_state=MAX_STATE_BYTES,
            target=TARGET_STATE_BYTES,
        ),
        "readings": backlog.readings,
        "entries": len(backlog.entries),
        "devices": len(backlog.devices),
        "gateway_rejected": backlog.gateway_rejected,
        "entry_bytes": round(entry_bytes),
        "count": count,
        "compiled_modules": compiled,
        "build_s": round(build_s, 1),
        "results": rows,
        "targets": {
            "readings_per_s": TARGET_READINGS_PER_S,
            "readings_per_s_met": single is not None and single["readings_per_s"] >= TARGET_READINGS_PER_S,
        },
        "state": state,
    }


async def _measure(
    client: Redis,
    server: LocalRedis,
    consumer: str,
    replicas: int,
    backlog: Backlog,
    count: int,
    workdir: Path,
    noise: Noise,
    tries: int,
    tick: Ticker,
) -> dict[str, Any]:
    """Drain the whole backlog with fresh consumers on a flushed Redis, again while other load disturbed
    it (up to ``tries`` times)."""
    attempt = 0
    while True:
        attempt += 1
        await client.flushall()
        await reset_group(client, STREAM, GROUP)
        procs = _processes(consumer, replicas, server.url, count, workdir, attempt)
        try:
            lingxi = consumer == "lingxi"
            await start_consumers(
                client,
                procs,
                http=lingxi,
                timeout_s=READY_TIMEOUT_S,
                streams_each=STREAMS_PER_REPLICA if lingxi else 1,
            )
            pids = {proc.replica: proc.process.pid for proc in procs if proc.process is not None}
            sampled = {**pids, "bench": os.getpid()}
            if server.process is not None:
                sampled["redis"] = server.process.pid
            drain = await timed_drain(
                client,
                STREAM,
                GROUP,
                backlog.entries,
                timeout_s=60 + backlog.readings / 1000,
                pids=sampled,
            )
            memory = {name: memory_mb(pid) for name, pid in pids.items()}
            outcomes = await _outcomes(procs) if consumer == "lingxi" else Outcomes({}, 0)
            alerts = await client.xlen(AlertRaised.stream) if consumer == "lingxi" else 0
            kept = await readings_in_states(client, backlog.devices) if consumer == "lingxi" else None
        finally:
            await stop_processes(procs)
        if not noise.again(drain.cpu, attempt, tries):
            break
        tick.say(f"maintenance: {consumer}, {replicas}: other load {drain.cpu[OTHERS]:.0f}%, measuring again")
    return {
        "consumer": consumer,
        "replicas": replicas,
        "readings": backlog.readings,
        "entries": len(backlog.entries),
        "seconds": round(drain.seconds, 3),
        "readings_per_s": round(backlog.readings / drain.seconds, 1),
        "cpu_percent": drain.cpu,
        "memory_mb": memory,
        "outcomes": outcomes.readings,
        "conflicts": outcomes.conflicts if consumer == "lingxi" else None,
        "alerts_raised": alerts,
        "readings_in_states": kept,
        "retaken": attempt - 1,
    }


def _processes(
    consumer: str, replicas: int, redis_url: str, count: int, workdir: Path, attempt: int
) -> list[ServiceProcess]:
    if consumer == "raw":
        return [
            raw_consumer_process(
                module="bench.scenarios.maintenance",
                group=GROUP,
                redis_url=redis_url,
                count=count,
                workdir=workdir,
                attempt=attempt,
            )
        ]
    return [
        ServiceProcess(
            service="maintenance",
            replica=f"maintenance-{replicas}-{index}",
            redis_url=redis_url,
            log_path=workdir / f"maintenance-{replicas}-{index}-{attempt}.log",
        )
        for index in range(1, replicas + 1)
    ]


@dataclass(frozen=True)
class Outcomes:
    """What the replicas' metrics say they did, summed over replicas."""

    readings: dict[str, int]
    """``lingxi_maintenance_readings_total`` by outcome: shows the readings were assessed, not refused."""
    conflicts: int
    """``lingxi_maintenance_state_conflicts_total``: device states another replica wrote while one
    assessed them, hence assessed again."""


CONFLICTS_METRIC = "lingxi_maintenance_state_conflicts_total"


async def _outcomes(procs: Sequence[ServiceProcess]) -> Outcomes:
    """Scrape each replica's ``/metrics`` and sum ``Outcomes`` over the replicas."""
    import httpx

    totals: dict[str, float] = {}
    conflicts = 0.0
    async with httpx.AsyncClient(timeout=5) as http:
        for proc in procs:
            text = (await http.get(f"{proc.base_url}/metrics")).text
            for line in text.splitlines():
                if line.startswith("lingxi_maintenance_readings_total{"):
                    labels, _, value = line.rpartition(" ")
                    outcome = labels.split('outcome="', 1)[1].split('"', 1)[0]
                    totals[outcome] = totals.get(outcome, 0.0) + float(value)
                elif line.startswith((f"{CONFLICTS_METRIC} ", f"{CONFLICTS_METRIC}{{")):
                    conflicts += float(line.rpartition(" ")[2])
    return Outcomes({name: int(value) for name, value in sorted(totals.items())}, int(conflicts))


def _spread(values: Sequence[int]) -> dict[str, float]:
    return {
        "count": len(values),
        "mean": round(sum(values) / len(values), 1) if values else 0.0,
        "max": max(values, default=0),
    }


async def state_sizes(client: Redis, devices: Sequence[str]) -> dict[str, Any]:
    """Bytes per device in Redis: state, health record, alerts hash (where one exists), all three."""
    pipe = client.pipeline(transaction=False)
    for device in devices:
        pipe.strlen(state_key(device))
        pipe.memory_usage(state_key(device))
        pipe.strlen(device_health_key(device))
        pipe.memory_usage(device_health_key(device))
        pipe.memory_usage(device_alerts_key(device))
    replies: list[Any] = await pipe.execute()
    rows = [replies[i : i + 5] for i in range(0, len(replies), 5)]
    stored = [r for r in rows if r[1] is not None]
    state_len = [r[0] for r in stored]
    state_mem = [r[1] for r in stored]
    health_len = [r[2] for r in stored if r[3] is not None]
    health_mem = [r[3] for r in stored if r[3] is not None]
    alerts_mem = [r[4] for r in stored if r[4] is not None]
    total = [r[1] + (r[3] or 0) + (r[4] or 0) for r in stored]

    def both(lengths: Sequence[int], memory: Sequence[int]) -> dict[str, Any]:
        out = {f"strlen_{k}": v for k, v in _spread(lengths).items() if k != "count"}
        out.update({f"memory_{k}": v for k, v in _spread(memory).items()})
        return out

    return {
        "devices": len(devices),
        "state": both(state_len, state_mem),
        "health": both(health_len, health_mem),
        "alerts": {f"memory_{k}": v for k, v in _spread(alerts_mem).items()},
        "per_device": {f"memory_{k}": v for k, v in _spread(total).items()},
    }


async def readings_in_states(client: Redis, devices: Sequence[str]) -> int:
    """Readings the stored device states count (each health record's ``readings``): a check that no
    reading was lost, equal to the readings the replicas assessed (a device's state is written only over
    the bytes its read loaded, so replicas writing the same device at once never overwrite each other)."""
    total = 0
    for start in range(0, len(devices), 1000):
        keys = [device_health_key(device) for device in devices[start : start + 1000]]
        for raw in await client.mget(keys):
            if raw is not None:
                record = decode_health(raw)
                total += record["readings"] if isinstance(record, dict) else record.readings
    return total


# --- the baseline consumer -----------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    baseline_main(
        argv, prog="python -m bench.scenarios.maintenance", group=GROUP, event_type=TelemetryBatchReceived
    )


if __name__ == "__main__":
    main()
