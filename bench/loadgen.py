"""Open-loop HTTP load on ``POST /v1/assistant/queries?wait=S``: requests leave on a fixed schedule
whatever the answers do, so a slow system builds a queue and the latency shows it.

    python -m bench.loadgen --url http://127.0.0.1:PORT --tokens TOKENS.json --rate 200 --duration 10 \
        --warmup 2 --out F

Requests come from the devices in ``DEVICES`` in turn, each with its own device token: the generator
signs nothing, it reads the tokens (``{device id: token}``, written by ``write_tokens``) from the file
``--tokens`` names before the schedule starts.

Latency is measured from the moment a request was *scheduled* to leave, so time the generator itself
fell behind counts too (no coordinated omission); the generator's own send lag is reported beside it,
and ``saturated`` says when it could not keep the schedule. Only requests scheduled after the warm-up
are counted. ``--cpu NAME=PID ...`` samples those processes' CPU over the measured window.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import aiohttp

from bench.stats import cpu_percent, cpu_sample, event_loop_name, percentile, run

QUERIES: tuple[tuple[str, str], ...] = (
    ("明天早上七点叫我起床", "zh-CN"),
    ("set an alarm for tomorrow at 7am", "en-US"),
    ("打开微信", "zh-CN"),
    ("call mom", "en-US"),
    ("上海明天天气怎么样", "zh-CN"),
    ("what's the weather in Shanghai tomorrow", "en-US"),
    ("给妈妈打电话", "zh-CN"),
    ("open WeChat", "en-US"),
)
"""The request mix, sent in turn: half Chinese, half English."""

SATURATED_LAG_MS = 10.0
"""A generator whose p99 send lag exceeds this could not keep its schedule."""

MAX_CONNECTIONS = 2000

DEVICES: tuple[str, ...] = tuple(f"bench-{n:04d}" for n in range(1000))
"""The devices the requests come from, in turn; each needs a token in the ``--tokens`` file. A fleet,
not a few devices: at 500 req/s each device sends one request every 2 s, well under the gateway's
per-device rate limit (``LINGXI_GATEWAY_RATE_DEVICE``, 120 a minute by default), which stays on."""


def write_tokens(path: Path, tokens: Mapping[str, str]) -> None:
    """Write ``{device id: token}`` for ``--tokens``, readable by its owner only."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        json.dump(dict(tokens), out)


def read_headers(path: Path) -> dict[str, dict[str, str]]:
    """Each device's ``Authorization`` header, from the ``--tokens`` file; ValueError when a device in
    ``DEVICES`` has no token there."""
    tokens = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(tokens, dict):
        raise ValueError(f"{path}: expected a JSON object of device id to token")
    missing = [device for device in DEVICES if not isinstance(tokens.get(device), str)]
    if missing:
        raise ValueError(f"{path}: no token for {len(missing)} devices ({', '.join(missing[:3])}...)")
    return {device: {"Authorization": f"Bearer {tokens[device]}"} for device in DEVICES}


@dataclass
class Outcome:
    scheduled: float  # seconds from the start of the schedule
    lag: float  # seconds the request left after its scheduled time
    done: float  # seconds from the start of the schedule
    service: float  # seconds from leaving to the answer
    kind: str  # "ok", "http_<status>", "timeout", "connection"


async def _send(
    session: aiohttp.ClientSession,
    url: str,
    body: dict[str, str],
    headers: dict[str, str],
    origin: float,
    scheduled: float,
) -> Outcome:
    sent = time.perf_counter()
    try:
        async with session.post(url, json=body, headers=headers) as response:
            await response.read()
            kind = "ok" if response.status == 200 else f"http_{response.status}"
    except TimeoutError:
        kind = "timeout"
    except aiohttp.ClientError:
        kind = "connection"
    done = time.perf_counter()
    return Outcome(scheduled - origin, sent - scheduled, done - origin, done - sent, kind)


async def generate(
    base_url: str,
    headers: Mapping[str, dict[str, str]],
    rate: float,
    duration: float,
    warmup: float,
    wait: float,
    cpu_pids: dict[str, int],
) -> dict[str, Any]:
    """``headers``: each device's in ``DEVICES`` (``read_headers``), built before the schedule."""
    url = f"{base_url}/v1/assistant/queries?wait={wait:g}"
    total = round(rate * (warmup + duration))
    connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS)
    timeout = aiohttp.ClientTimeout(total=wait + 2)
    cpu_pids = {**cpu_pids, "loadgen": os.getpid()}
    cpu_marks: dict[str, tuple[float, dict[str, float | None]]] = {}
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks: list[asyncio.Task[Outcome]] = []
        origin = time.perf_counter() + 0.05
        window = (origin + warmup, origin + warmup + duration)
        for i in range(total):
            scheduled = origin + i / rate
            now = time.perf_counter()
            if scheduled > now:
                await asyncio.sleep(scheduled - now)
            if "start" not in cpu_marks and time.perf_counter() >= window[0]:
                cpu_marks["start"] = (time.perf_counter(), cpu_sample(cpu_pids))
            text, locale = QUERIES[i % len(QUERIES)]
            device = DEVICES[i % len(DEVICES)]
            body = {"text": text, "locale": locale, "device_id": device, "region": "CN"}
            tasks.append(asyncio.create_task(_send(session, url, body, headers[device], origin, scheduled)))
        send_end = time.perf_counter()
        remaining = window[1] - time.perf_counter()
        if remaining > 0:
            await asyncio.sleep(remaining)
        cpu_marks["end"] = (time.perf_counter(), cpu_sample(cpu_pids))
        outcomes = await asyncio.gather(*tasks)
    start_mark = cpu_marks.get("start", cpu_marks["end"])
    cpu = cpu_percent(start_mark[1], cpu_marks["end"][1], cpu_marks["end"][0] - start_mark[0])
    return summarise(outcomes, rate, duration, warmup, wait, send_end - origin, cpu)


def summarise(
    outcomes: list[Outcome],
    rate: float,
    duration: float,
    warmup: float,
    wait: float,
    send_seconds: float,
    cpu: dict[str, float],
) -> dict[str, Any]:
    end = warmup + duration
    measured = [o for o in outcomes if warmup <= o.scheduled < end]
    ok = [o for o in measured if o.kind == "ok"]
    errors: dict[str, int] = {}
    for o in measured:
        if o.kind != "ok":
            errors[o.kind] = errors.get(o.kind, 0) + 1
    completed_in_window = sum(1 for o in outcomes if o.kind == "ok" and warmup <= o.done < end)
    latency = [o.done - o.scheduled for o in ok]
    service = [o.service for o in ok]
    lag = [o.lag for o in measured]
    lag_p99 = percentile(lag, 99) * 1000

    def ms(values: list[float], q: float) -> float | None:
        """Milliseconds at the q-th percentile; None when nothing was answered."""
        return round(percentile(values, q) * 1000, 2) if values else None

    return {
        "offered_rps": rate,
        "duration_s": duration,
        "warmup_s": warmup,
        "wait_s": wait,
        "requests": len(measured),
        "ok": len(ok),
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
        "achieved_rps": round(completed_in_window / duration, 1),
        "send_rate_rps": round(len(outcomes) / send_seconds, 1) if send_seconds > 0 else 0.0,
        "latency_ms": {
            "p50": ms(latency, 50),
            "p95": ms(latency, 95),
            "p99": ms(latency, 99),
            "max": ms(latency, 100),
        },
        "service_latency_ms": {"p50": ms(service, 50), "p95": ms(service, 95), "p99": ms(service, 99)},
        "send_lag_ms": {"p50": ms(lag, 50), "p99": round(lag_p99, 2), "max": ms(lag, 100)},
        "saturated": lag_p99 > SATURATED_LAG_MS,
        "cpu_percent": cpu,
        "client": f"aiohttp {metadata.version('aiohttp')} on {event_loop_name()}, "
        f"up to {MAX_CONNECTIONS} connections",
    }


def _pids(pairs: list[str]) -> dict[str, int]:
    out = {}
    for pair in pairs:
        name, _, pid = pair.partition("=")
        out[name] = int(pid)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("--url", required=True, help="gateway base URL")
    parser.add_argument(
        "--tokens",
        type=Path,
        required=True,
        help="JSON file of {device id: token} for every device in DEVICES",
    )
    parser.add_argument("--rate", type=float, required=True, help="requests per second, offered")
    parser.add_argument("--duration", type=float, required=True, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds sent first and not counted")
    parser.add_argument("--wait", type=float, default=5.0, help="the ?wait= of each request")
    parser.add_argument("--cpu", nargs="*", default=[], metavar="NAME=PID")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    try:
        headers = read_headers(args.tokens)
    except (OSError, ValueError) as error:
        parser.error(f"--tokens: {error}")
    result = run(
        generate(args.url, headers, args.rate, args.duration, args.warmup, args.wait, _pids(args.cpu))
    )
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
