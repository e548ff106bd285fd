"""Assistant path over HTTP: gateway, assistant and compliance as separate processes on a private
Redis, driven by an open-loop generator (``bench.loadgen``, its own process) at fixed offered loads."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from lingxi.testing.processes import ProcessGroup, ServiceProcess
from lingxi.testing.tokens import bearer, device_token
from redis.asyncio import Redis

from bench.common import REPO_ROOT, Noise, Ticker, bench_env, private_redis
from bench.loadgen import DEVICES, QUERIES, SATURATED_LAG_MS, write_tokens
from bench.stats import OTHERS

METHOD = (
    "gateway-1, assistant-1 and compliance-1 run as separate processes (as `make run` starts them, JSON "
    "logs to files) on a private redis-server without persistence. An open-loop generator in its own "
    "process sends POST /v1/assistant/queries?wait={wait:g} on a fixed schedule, zh and en queries in "
    "turn from {devices:,} devices, each request with its device's token (signed before the run and "
    "verified once by the gateway in the warm-up, as a device's token is in the field); latency "
    "counts from the scheduled send time, so queueing (in the system or the generator) shows. Errors: "
    "any answer but 200 (a 202 means the wait ran out), timeouts, connection failures. "
    "The generator shares the machine's {cores} cores with the services and Redis; its send lag is "
    "reported and a p99 lag over {lag:g} ms marks it saturated."
)


@dataclass(frozen=True)
class HttpConfig:
    rates: tuple[int, ...] = (50, 100, 200, 500)
    duration_s: float = 10.0
    warmup_s: float = 2.0
    wait_s: float = 5.0


def steps(config: HttpConfig) -> int:
    return 1 + len(config.rates)


async def run(config: HttpConfig, tick: Ticker, workdir: Path, noise: Noise) -> dict[str, Any]:
    levels: list[dict[str, Any]] = []
    # The generator signs nothing: every device's token is signed here, once, and handed to it in a file.
    tokens = {device: device_token(device) for device in DEVICES}
    tokens_file = workdir / "loadgen-tokens.json"
    write_tokens(tokens_file, tokens)
    with private_redis(workdir) as server:
        client = Redis.from_url(server.url)
        group = ProcessGroup(server.url, workdir / "logs")
        (workdir / "logs").mkdir(parents=True, exist_ok=True)
        try:
            tick.say("http: starting gateway, assistant and compliance")
            procs: dict[str, ServiceProcess] = {}
            for service in ("gateway", "assistant", "compliance"):
                procs[service] = await asyncio.to_thread(group.start, service, f"{service}-1")
            gateway = procs["gateway"].base_url
            await _warm_up(gateway, config.wait_s)
            await _introduce(gateway, tokens)
            tick.advance()
            pids = {name: _pid(proc) for name, proc in procs.items()}
            pids["bench"] = os.getpid()
            if server.process is not None:
                pids["redis"] = server.process.pid
            for rate in config.rates:
                tick.say(
                    f"http: {rate} req/s offered for {config.duration_s:g} s (+{config.warmup_s:g} s warm-up)"
                )
                for attempt in itertools.count(1):
                    stop = asyncio.Event()
                    watcher = asyncio.create_task(_watch_backlog(client, stop))
                    try:
                        level = await _load(gateway, tokens_file, rate, config, pids, workdir)
                    finally:
                        stop.set()
                    level["max_backlog"] = await watcher
                    level["drain_s"] = await _wait_idle(client, timeout_s=60)
                    level["retaken"] = attempt - 1
                    if not noise.again(level["cpu_percent"], attempt, tries=2):
                        break
                    tick.say(f"http: {rate} req/s: other load {level['cpu_percent'][OTHERS]:.0f}%, again")
                levels.append(level)
                tick.advance()
        finally:
            await asyncio.to_thread(group.stop_all)
            await client.aclose()
    clean = [lv for lv in levels if lv["errors"] == 0 and lv["achieved_rps"] >= 0.95 * lv["offered_rps"]]
    return {
        "method": METHOD.format(
            wait=config.wait_s, devices=len(DEVICES), cores=os.cpu_count(), lag=SATURATED_LAG_MS
        ),
        "queries": [text for text, _ in QUERIES],
        "levels": levels,
        "highest_clean_offered_rps": max((lv["offered_rps"] for lv in clean), default=None),
    }


def _pid(proc: ServiceProcess) -> int:
    if proc.process is None:
        raise RuntimeError(f"{proc.replica} is not running")
    return proc.process.pid


async def _warm_up(gateway: str, wait: float) -> None:
    """Every query once, in turn: the whole path answers before any load (and its caches are warm)."""
    device = "bench-warmup"
    async with httpx.AsyncClient(timeout=wait + 10, headers=bearer(device_token(device))) as http:
        for text, locale in QUERIES:
            body = {"text": text, "locale": locale, "device_id": device, "region": "CN"}
            answer = await http.post(f"{gateway}/v1/assistant/queries", params={"wait": wait}, json=body)
            if answer.status_code != 200:
                raise RuntimeError(
                    f"warm-up query {text!r} answered {answer.status_code}: {answer.text[:500]}"
                )


async def _introduce(gateway: str, tokens: Mapping[str, str], at_once: int = 50) -> None:
    """One cheap request per device (an unknown request id: 404), so the gateway has verified every
    token before the clock runs: a device keeps its token for an hour, so in the field nearly every
    request finds it verified already. A token the gateway refuses stops the scenario here."""
    devices = list(tokens)
    async with httpx.AsyncClient(timeout=10) as http:
        for start in range(0, len(devices), at_once):
            batch = devices[start : start + at_once]
            answers = await asyncio.gather(
                *(
                    http.get(f"{gateway}/v1/requests/{uuid.uuid4()}", headers=bearer(tokens[device]))
                    for device in batch
                )
            )
            for device, answer in zip(batch, answers, strict=True):
                if answer.status_code != 404:
                    raise RuntimeError(
                        f"{device}'s first request answered {answer.status_code}: {answer.text[:500]}"
                    )


async def _load(
    gateway: str, tokens: Path, rate: int, config: HttpConfig, pids: dict[str, int], workdir: Path
) -> dict[str, Any]:
    out = workdir / f"loadgen-{rate}.json"
    command = [
        sys.executable,
        "-m",
        "bench.loadgen",
        "--url",
        gateway,
        "--tokens",
        str(tokens),
        "--rate",
        str(rate),
        "--duration",
        str(config.duration_s),
        "--warmup",
        str(config.warmup_s),
        "--wait",
        str(config.wait_s),
        "--out",
        str(out),
        "--cpu",
        *(f"{name}={pid}" for name, pid in pids.items()),
    ]
    log = (workdir / f"loadgen-{rate}.log").open("wb")
    with log:
        proc = await asyncio.create_subprocess_exec(
            *command, cwd=REPO_ROOT, env={**os.environ, **bench_env()}, stdout=log, stderr=subprocess.STDOUT
        )
        limit = config.warmup_s + config.duration_s + config.wait_s + 60
        try:
            code = await asyncio.wait_for(proc.wait(), timeout=limit)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            raise RuntimeError(f"load generator at {rate} req/s did not finish in {limit:g}s") from None
    if code != 0:
        tail = (workdir / f"loadgen-{rate}.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"load generator at {rate} req/s exited with {code}:\n{tail}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


async def _watch_backlog(client: Redis, stop: asyncio.Event, every_s: float = 0.25) -> dict[str, int]:
    """Largest backlog (entries not yet delivered + delivered but not acknowledged) each consumer group
    had while the load ran: where a queue builds up, that service is the bottleneck."""
    worst: dict[str, int] = {}
    while not stop.is_set():
        async for key in client.scan_iter(_type="STREAM"):
            stream = key.decode() if isinstance(key, bytes) else str(key)
            for group in await client.xinfo_groups(key):
                name = group["name"].decode() if isinstance(group["name"], bytes) else str(group["name"])
                backlog = int(group.get("lag") or 0) + int(group["pending"])
                label = f"{stream} → {name}"
                worst[label] = max(worst.get(label, 0), backlog)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every_s)
    return worst


async def _wait_idle(client: Redis, timeout_s: float) -> float:
    """Seconds until every consumer group has delivered everything and nothing is pending, so one load
    level's backlog does not spill into the next."""
    started = time.perf_counter()
    while True:
        busy = False
        async for key in client.scan_iter(_type="STREAM"):
            info = await client.xinfo_stream(key)
            last = info["last-generated-id"]
            for group in await client.xinfo_groups(key):
                if group["pending"] or group["last-delivered-id"] != last:
                    busy = True
        elapsed = time.perf_counter() - started
        if not busy:
            return round(elapsed, 2)
        if elapsed > timeout_s:
            raise TimeoutError(f"the services did not catch up within {timeout_s:g}s after the load")
        await asyncio.sleep(0.2)
