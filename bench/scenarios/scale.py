"""Scale-out: 1, 2, 3 replicas (separate processes, one consumer group) of a no-op consumer and of a
CPU-heavy one (pure-Python work per event) drain the same backlog; speed-up is against one replica."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from bench.common import (
    STREAM,
    Noise,
    Payloads,
    Ticker,
    calibrate_burn,
    module_process,
    private_redis,
    quiet_drain,
    reset_group,
    start_consumers,
    stop_processes,
)
from bench.stats import median

METHOD = (
    "Replicas are `python -m bench.consumer` processes (the real Service under uvicorn, LINGXI_REPLICA "
    "set per replica, max_records {k}) in one consumer group. The backlog is written while the group sees "
    "nothing, then every waiting replica is woken at once; the clock stops when the last entry is "
    "delivered and nothing is pending. Heavy = about {ms:g} ms of pure-Python work per event (holds the "
    "GIL). {cores} cores are shared by the replicas and Redis."
)


@dataclass(frozen=True)
class ScaleConfig:
    replicas: tuple[int, ...] = (1, 2, 3)
    light_n: int = 6000
    heavy_n: int = 2500
    heavy_ms: float = 2.0
    max_records: int = 10
    repeats: int = 2
    heavy_iterations: int | None = None
    """Iterations of ``burn`` per heavy event; None: calibrated to ``heavy_ms`` when the scenario starts."""


def steps(config: ScaleConfig) -> int:
    return 2 * len(config.replicas) * (config.repeats + 1)


async def run(config: ScaleConfig, tick: Ticker, workdir: Path, noise: Noise) -> dict[str, Any]:
    iterations = config.heavy_iterations or calibrate_burn(config.heavy_ms)
    rows: list[dict[str, Any]] = []
    with private_redis(workdir) as server:
        client = Redis.from_url(server.url)
        payloads = await Payloads.create()
        runs = itertools.count(1)
        try:
            for kind, burn, n in (("light", 0, config.light_n), ("heavy", iterations, config.heavy_n)):
                group = f"bench-scale-{kind}"
                for replicas in config.replicas:
                    tick.say(f"scale: starting {replicas} {kind} replica(s)")
                    await reset_group(client, STREAM, group)
                    procs = [
                        module_process(
                            service=group,
                            replica=f"{group}-{i}",
                            redis_url=server.url,
                            log_path=workdir / f"{group}-{replicas}-{i}.log",
                            module="bench.consumer",
                            args=["--service", group, "--burn", str(burn)],
                            extra_env={"LINGXI_MAX_RECORDS": str(config.max_records)},
                        )
                        for i in range(1, replicas + 1)
                    ]
                    rates: list[float] = []
                    cpu: list[dict[str, float]] = []
                    retaken = 0
                    try:
                        await start_consumers(client, procs, http=True)
                        tick.advance()
                        pids = {p.replica: p.process.pid for p in procs if p.process is not None}
                        pids["bench"] = os.getpid()
                        if server.process is not None:
                            pids["redis"] = server.process.pid
                        for repeat in range(config.repeats):
                            tick.say(
                                f"scale: {kind}, {replicas} replica(s), {n:,} events, "
                                f"run {repeat + 1}/{config.repeats}"
                            )
                            drain, retakes = await quiet_drain(
                                client,
                                group,
                                payloads,
                                runs,
                                n,
                                noise,
                                tick,
                                f"scale: {kind}, {replicas} replica(s)",
                                timeout_s=120 + n / 50,
                                pids=pids,
                            )
                            retaken += retakes
                            rates.append(n / drain.seconds)
                            cpu.append(drain.cpu)
                            tick.advance()
                    finally:
                        await stop_processes(procs)
                        await client.xgroup_destroy(STREAM, group)
                    rows.append(
                        {
                            "kind": kind,
                            "replicas": replicas,
                            "events": n,
                            "runs_msg_s": [round(r, 1) for r in rates],
                            "median_msg_s": round(median(rates), 1),
                            "cpu_percent": cpu,
                            "retaken": retaken,
                        }
                    )
        finally:
            await client.aclose()
    for row in rows:
        base = next(r for r in rows if r["kind"] == row["kind"] and r["replicas"] == config.replicas[0])
        row["speedup"] = round(row["median_msg_s"] / base["median_msg_s"], 3)
    return {
        "method": METHOD.format(k=config.max_records, ms=config.heavy_ms, cores=os.cpu_count()),
        "heavy_ms": config.heavy_ms,
        "heavy_iterations": iterations,
        "max_records": config.max_records,
        "repeats": config.repeats,
        "results": rows,
    }
