"""Broker path: how fast one consumer drains a backlog of QueryReceived, raw redis-py against Lingxi.

Each consumer is its own process and reads the same backlog; rows with the same COUNT compare:

- raw, one XACK per read: XREADGROUP COUNT k, one XACK for all the ids a read returned. The baseline
  every ratio is taken against (Lingxi also acknowledges a whole read at once, inside its commit);
- raw, XACK per entry: the same loop acknowledging each entry with its own round trip;
- raw + decode + validate: the baseline that also decodes each entry's envelope and validates the
  event model, the least any consumer of typed events does;
- Lingxi, one-event handler: ``Service`` with ``max_records=k`` and a no-op one-event handler;
- Lingxi, batch handler: ``Service`` with ``@consumer(..., batch=True)`` and a no-op batch handler.

The Lingxi consumer is the real runtime as a service runs it (uvicorn + AsgiFastStream, reader and
reclaimer, validation, deduplication, commit with the acknowledgement, one JSON log line per message to
a file). The clock is outside every consumer (``timed_drain``), so all four are timed the same way.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lingxi.testing.processes import ServiceProcess
from redis.asyncio import Redis

from bench.common import (
    STREAM,
    Noise,
    Payloads,
    Ticker,
    batch_api_available,
    module_process,
    private_redis,
    quiet_drain,
    reset_group,
    start_consumers,
    stop_processes,
)
from bench.stats import event_loop_name, median

METHOD = (
    "Each consumer is a separate process (Lingxi: the real Service under uvicorn, JSON logs to a file). "
    "The backlog is written while the group sees nothing; then the group is rewound and one more entry "
    "wakes the waiting consumer. The bench process polls XINFO GROUPS every 2 ms and stops the clock when "
    "the last entry is delivered and nothing is pending. Private redis-server, no persistence. Event "
    "loop: {loop} for both (uvicorn picks uvloop where installed)."
)


@dataclass(frozen=True)
class BrokerConfig:
    single_k: int = 10
    batch_k: int = 100
    single_n: int = 20_000
    batch_n: int = 50_000
    repeats: int = 3


@dataclass(frozen=True)
class Case:
    key: str
    label: str
    consumer: str  # "raw" | "lingxi"
    large: bool
    """COUNT batch_k (True) or single_k (False)."""
    mode: str
    """raw: the --ack mode of bench.rawconsumer; lingxi: "one" or "batch" handler."""
    baseline: str
    """key of the raw row this one is compared with (same COUNT, one XACK per read)."""


CASES = (
    Case("raw_single", "raw redis-py, one XACK per read", "raw", False, "batch", "raw_single"),
    Case("raw_single_each", "raw redis-py, XACK per entry", "raw", False, "single", "raw_single"),
    Case("lingxi_single", "Lingxi, one-event handler", "lingxi", False, "one", "raw_single"),
    Case("raw_batch", "raw redis-py, one XACK per read", "raw", True, "batch", "raw_batch"),
    Case("raw_batch_validate", "raw redis-py + decode and validate", "raw", True, "validate", "raw_batch"),
    Case("lingxi_batch", "Lingxi, batch handler (batch=True)", "lingxi", True, "batch", "raw_batch"),
)


def steps(config: BrokerConfig) -> int:
    return len(CASES) * (config.repeats + 1)


async def run(config: BrokerConfig, tick: Ticker, workdir: Path, noise: Noise) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    with private_redis(workdir) as server:
        client = Redis.from_url(server.url)
        payloads = await Payloads.create()
        runs = itertools.count(1)
        try:
            for case in CASES:
                k = config.batch_k if case.large else config.single_k
                n = config.batch_n if case.large else config.single_n
                row: dict[str, Any] = {
                    "key": case.key,
                    "label": case.label,
                    "consumer": case.consumer,
                    "mode": case.mode,
                    "baseline": case.baseline,
                    "k": k,
                    "events": n,
                }
                results.append(row)
                if case.consumer == "lingxi" and case.mode == "batch" and not batch_api_available():
                    row.update(status="skipped", reason="Service.consumer has no batch= parameter yet")
                    tick.advance(config.repeats + 1)
                    continue
                tick.say(f"broker: starting {case.label}")
                group = f"bench-{case.key.replace('_', '-')}"
                await reset_group(client, STREAM, group)
                proc = _process(case, group, k, server.url, workdir)
                await start_consumers(client, [proc], http=case.consumer == "lingxi")
                tick.advance()
                assert proc.process is not None
                assert server.process is not None
                pids = {"consumer": proc.process.pid, "redis": server.process.pid, "bench": os.getpid()}
                rates: list[float] = []
                cpu: list[dict[str, float]] = []
                retaken = 0
                try:
                    for repeat in range(config.repeats):
                        tick.say(
                            f"broker: {case.label}, k={k}, {n:,} events, run {repeat + 1}/{config.repeats}"
                        )
                        drain, retakes = await quiet_drain(
                            client,
                            group,
                            payloads,
                            runs,
                            n,
                            noise,
                            tick,
                            f"broker: {case.label}",
                            timeout_s=60 + n / 200,
                            pids=pids,
                        )
                        retaken += retakes
                        cpu.append(drain.cpu)
                        rates.append(n / drain.seconds)
                        tick.advance()
                finally:
                    await stop_processes([proc])
                    await client.xgroup_destroy(STREAM, group)
                row.update(
                    status="ok",
                    runs_msg_s=[round(r, 1) for r in rates],
                    median_msg_s=round(median(rates), 1),
                    cpu_percent=cpu,
                    retaken=retaken,
                )
        finally:
            await client.aclose()
    by_key = {r["key"]: r for r in results}
    for row in results:
        row["vs_raw"] = _ratio_of(row, by_key[row["baseline"]])
    ratios = {f"{key}_vs_raw": by_key[key]["vs_raw"] for key in ("lingxi_single", "lingxi_batch")}
    ratios["lingxi_batch_vs_validating_raw"] = _ratio_of(by_key["lingxi_batch"], by_key["raw_batch_validate"])
    return {
        "method": METHOD.format(loop=event_loop_name()),
        "payload_bytes": payloads.size,
        "repeats": config.repeats,
        "results": results,
        "ratios": ratios,
    }


def _process(case: Case, group: str, k: int, redis_url: str, workdir: Path) -> ServiceProcess:
    replica = f"{group}-1"
    common: dict[str, Any] = {
        "service": group,
        "replica": replica,
        "redis_url": redis_url,
        "log_path": workdir / f"{replica}.log",
    }
    if case.consumer == "raw":
        args = ["--redis-url", redis_url, "--stream", STREAM, "--group", group, "--consumer", replica]
        args += ["--count", str(k), "--ack", case.mode]
        return module_process(**common, module="bench.rawconsumer", args=args)
    args = ["--service", group, *(["--batch"] if case.mode == "batch" else [])]
    return module_process(
        **common, module="bench.consumer", args=args, extra_env={"LINGXI_MAX_RECORDS": str(k)}
    )


def _ratio_of(row: dict[str, Any], base: dict[str, Any]) -> float | None:
    if row.get("status") != "ok" or base.get("status") != "ok":
        return None
    return round(float(row["median_msg_s"]) / float(base["median_msg_s"]), 3)
