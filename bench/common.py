"""What every scenario shares: a private Redis, the event payload, consumer processes, stream timing,
statistics and a description of the machine."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID, uuid5

from lingxi import native
from lingxi.events import QueryReceived
from lingxi.events.base import Event
from lingxi.localredis import LocalRedis, find_redis_server
from lingxi.runtime import Service
from lingxi.runtime.envelope import DATA_FIELD, JsonEnvelopeFormat, decode_entry
from lingxi.testing.processes import ServiceProcess
from redis.asyncio import Redis

from bench import stats
from bench.stats import NOISY_PERCENT, OTHERS, cpu_percent, cpu_sample
from bench.worker import package_version

REPO_ROOT = Path(__file__).resolve().parent.parent
STREAM = QueryReceived.stream
FAR_FUTURE_ID = "99999999999999-0"
"""A group whose last-delivered id is this sees nothing new: the backlog can be written in peace."""


class Ticker(Protocol):
    """Progress reporting: ``say`` names the step under way, ``advance`` marks one step done."""

    def say(self, text: str) -> None: ...

    def advance(self, steps: int = 1) -> None: ...


@dataclass
class Noise:
    """Measures again what was measured while other work loaded the machine, while time allows."""

    threshold: float = NOISY_PERCENT
    tries: int = 3
    deadline: float = float("inf")
    """``time.monotonic()`` after which nothing is measured again."""
    retaken: int = 0

    def again(self, cpu: dict[str, float], attempt: int, tries: int | None = None) -> bool:
        """Whether to throw away the measurement ``attempt`` (1-based) that had ``cpu`` and take it again."""
        if cpu.get(OTHERS, 0.0) <= self.threshold or attempt >= (tries or self.tries):
            return False
        if time.monotonic() >= self.deadline:
            return False
        self.retaken += 1
        return True


class SilentTicker:
    def say(self, text: str) -> None:
        pass

    def advance(self, steps: int = 1) -> None:
        pass


# --- the payload --------------------------------------------------------------------------------

_TEMPLATE_EVENT_ID = UUID("00000000-0000-4000-8000-000000000000")
_TEMPLATE_REQUEST_ID = UUID("00000000-0000-4000-8000-ffffffffffff")
_NAMESPACE = UUID("6c1d7a52-0b4e-4d59-9f3e-2a7b8c9d0e1f")


async def _template_entry() -> str:
    """One QueryReceived written exactly as ``Service.publish`` writes it (JSON envelope in ``__data__``)."""
    event = QueryReceived.model_validate(
        {
            "event_id": str(_TEMPLATE_EVENT_ID),
            "occurred_at": "2026-11-25T08:00:00Z",
            "region": "CN",
            "request_id": str(_TEMPLATE_REQUEST_ID),
            "device_id": "bench-device-0001",
            "text": "明天早上七点叫我起床",
            "locale": "zh-CN",
        },
        strict=False,
    )
    encoded = await JsonEnvelopeFormat.encode(
        message=event.to_json_dict(),
        reply_to=None,
        headers=None,
        correlation_id=str(_TEMPLATE_REQUEST_ID),
    )
    return encoded.decode()


class Payloads:
    """Entries of identical shape and size; event and request ids differ (consumers deduplicate on the
    event id) and are derived from (run, index), so every run writes the same bytes."""

    def __init__(self, template: str) -> None:
        self.template = template
        self.size = len(template.encode())

    @classmethod
    async def create(cls) -> Payloads:
        return cls(await _template_entry())

    def entries(self, run: int, count: int) -> list[dict[str, str]]:
        out = []
        event_hex, request_hex = str(_TEMPLATE_EVENT_ID), str(_TEMPLATE_REQUEST_ID)
        for i in range(count):
            event_id = str(uuid5(_NAMESPACE, f"event-{run}-{i}"))
            request_id = str(uuid5(_NAMESPACE, f"request-{run}-{i}"))
            out.append(
                {DATA_FIELD: self.template.replace(event_hex, event_id).replace(request_hex, request_id)}
            )
        return out


# --- Redis ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def private_redis(workdir: Path) -> Iterator[LocalRedis]:
    """A redis-server of our own on a free port, no persistence, stopped afterwards."""
    server = LocalRedis(workdir / "redis", appendonly=False).start()
    try:
        yield server
    finally:
        server.stop()


def domain_modules(package: str) -> tuple[list[str], str]:
    """The service's compiled domain modules and a phrase for the method text: its replicas import them
    as this process did (same environment, ``lingxi.native``)."""
    decided = native.status(package)
    if decided is None or not decided.compiled:
        return [], f"domain modules as plain Python: {decided.reason if decided else 'not asked'}"
    return list(decided.compiled), f"domain modules ({', '.join(decided.compiled)}) compiled with mypyc"


def redis_server_version() -> str:
    try:
        out = subprocess.run(
            [find_redis_server(), "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except Exception as error:  # the scenarios report the real problem
        return f"unknown ({error})"
    for part in out.split():
        if part.startswith("v="):
            return part[2:]
    return out.strip() or "unknown"


async def blocked_readers(client: Redis) -> int:
    """Clients blocked in XREADGROUP right now (consumers waiting for entries)."""
    clients = await client.client_list()
    return sum(1 for c in clients if c.get("cmd") == "xreadgroup" and "b" in c.get("flags", ""))


async def group_state(client: Redis, stream: str, group: str) -> dict[str, Any]:
    for info in await client.xinfo_groups(stream):
        name = info["name"].decode() if isinstance(info["name"], bytes) else info["name"]
        if name == group:
            return dict(info)
    raise LookupError(f"no group {group} on {stream}")


async def reset_group(client: Redis, stream: str, group: str) -> None:
    """An empty stream whose group sees nothing new until ``timed_drain`` rewinds it."""
    with contextlib.suppress(Exception):
        await client.xgroup_create(stream, group, id="0", mkstream=True)
    await client.xtrim(stream, maxlen=0, approximate=False)
    await client.xgroup_setid(stream, group, id=FAR_FUTURE_ID)
    keys: list[Any] = []
    async for key in client.scan_iter(match="lingxi:processed:*", count=5000):
        keys.append(key)
        if len(keys) >= 5000:
            await client.unlink(*keys)
            keys.clear()
    if keys:
        await client.unlink(*keys)


@dataclass(frozen=True)
class Drain:
    seconds: float
    cpu: dict[str, float]


async def quiet_drain(
    client: Redis,
    group: str,
    payloads: Payloads,
    runs: Iterator[int],
    count: int,
    noise: Noise,
    tick: Ticker,
    label: str,
    *,
    timeout_s: float,
    pids: dict[str, int],
) -> tuple[Drain, int]:
    """Time the group draining ``count`` fresh entries (a new run number each attempt), measuring again
    while other load disturbed the run. Returns the kept measurement and how many were thrown away."""
    attempt = retakes = 0
    while True:
        attempt += 1
        entries = payloads.entries(next(runs), count)
        drain = await timed_drain(client, STREAM, group, entries, timeout_s=timeout_s, pids=pids)
        await reset_group(client, STREAM, group)
        if not noise.again(drain.cpu, attempt):
            return drain, retakes
        retakes += 1
        tick.say(f"{label}: other load {drain.cpu[OTHERS]:.0f}%, measuring again")


async def timed_drain(
    client: Redis,
    stream: str,
    group: str,
    entries: Sequence[dict[str, str]],
    *,
    timeout_s: float,
    pids: dict[str, int] | None = None,
    poll_s: float = 0.002,
) -> Drain:
    """Seconds the group's consumers take to read and acknowledge ``entries``, and the CPU each of
    ``pids`` used meanwhile (percent of one core).

    The consumers must already be blocked on the stream and the group rewound past everything
    (``reset_group``). All but the last entry are written while the group sees nothing; the group is set
    back to 0 and the last entry is written, which wakes every blocked consumer at once: the clock starts
    just before that write and stops when the group has delivered the last entry and nothing is pending.
    """
    pipe = client.pipeline(transaction=False)
    for chunk_start in range(0, len(entries) - 1, 2000):
        for fields in entries[chunk_start : min(chunk_start + 2000, len(entries) - 1)]:
            pipe.xadd(stream, fields)  # type: ignore[arg-type]
        await pipe.execute()
    await client.xgroup_setid(stream, group, id="0")
    cpu_before = cpu_sample(pids or {})
    started = time.perf_counter()
    raw_last = await client.xadd(stream, entries[-1])  # type: ignore[arg-type]
    last = raw_last.decode() if isinstance(raw_last, bytes) else str(raw_last)
    deadline = started + timeout_s
    while True:
        state = await group_state(client, stream, group)
        delivered = state["last-delivered-id"]
        delivered = delivered.decode() if isinstance(delivered, bytes) else str(delivered)
        if delivered == last and state["pending"] == 0:
            seconds = time.perf_counter() - started
            return Drain(seconds, cpu_percent(cpu_before, cpu_sample(pids or {}), seconds))
        if time.perf_counter() > deadline:
            raise TimeoutError(
                f"consumers did not drain {len(entries)} entries in {timeout_s}s "
                f"(last delivered {delivered}, pending {state['pending']})"
            )
        await asyncio.sleep(poll_s)


# --- consumer processes --------------------------------------------------------------------------


def bench_env() -> dict[str, str]:
    """Environment for bench subprocesses: the repository root importable, quiet output."""
    path = os.environ.get("PYTHONPATH", "")
    return {"PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{path}" if path else str(REPO_ROOT)}


def module_process(
    *, module: str, args: Sequence[str] = (), extra_env: dict[str, str] | None = None, **fields: Any
) -> ServiceProcess:
    """A ``ServiceProcess`` that runs ``python -m <module> <args>`` (a bench module) instead of
    ``python -m lingxi_<service>``, with the same LINGXI_* environment and readiness probe."""
    return ServiceProcess(
        **fields,
        command=[sys.executable, "-m", module, *args],
        extra_env={**bench_env(), **(extra_env or {})},
    )


def batch_api_available() -> bool:
    """Whether ``Service.consumer`` takes ``batch=`` (the batch handler API)."""
    return "batch" in inspect.signature(Service.consumer).parameters


# --- CPU and work --------------------------------------------------------------------------------


def burn(iterations: int) -> int:
    """Pure-Python CPU work (holds the GIL), the stand-in for a CPU-heavy handler."""
    total = 0
    for i in range(iterations):
        total += i * i % 7
    return total


def calibrate_burn(target_ms: float) -> int:
    """Iterations of ``burn`` that take about ``target_ms`` on this machine: the fastest of several
    10 ms probes, so a moment of contention does not shrink the work."""
    probe = 200_000
    best = min(_time_burn(probe) for _ in range(7))
    return max(1, round(probe * target_ms / 1000 / best))


def _time_burn(iterations: int) -> float:
    started = time.perf_counter()
    burn(iterations)
    return time.perf_counter() - started


# --- the machine ---------------------------------------------------------------------------------


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
    except Exception:
        return ""


def machine_info() -> dict[str, Any]:
    commit = _git("rev-parse", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "redis_server": redis_server_version(),
        "redis_server_path": _safe(find_redis_server),
        "redis_py": package_version("redis"),
        "faststream": package_version("faststream"),
        "git_commit": commit or "unknown",
        "git_dirty": dirty,
    }


def _safe(call: Callable[[], str]) -> str:
    try:
        return call()
    except Exception as error:
        return f"unavailable ({error})"


def scratch_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


def dump_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


async def start_consumers(
    client: Redis,
    procs: Sequence[ServiceProcess],
    *,
    http: bool,
    timeout_s: float = 60,
    streams_each: int = 1,
) -> None:
    """Start consumer processes and return once each is waiting on its ``streams_each`` streams (and,
    for Lingxi services, answers /readyz)."""
    for proc in procs:
        proc.start()
    if http:
        await asyncio.gather(*(asyncio.to_thread(proc.wait_ready, timeout_s) for proc in procs))
    expected = len(procs) * streams_each
    deadline = time.monotonic() + timeout_s
    while (found := await blocked_readers(client)) < expected:
        for proc in procs:
            if proc.process is not None and proc.process.poll() is not None:
                raise RuntimeError(
                    f"{proc.replica} exited with {proc.process.returncode}:\n{proc.log_tail()}"
                )
        if time.monotonic() > deadline:
            raise TimeoutError(f"{found} of {expected} readers waiting after {timeout_s:g} s")
        await asyncio.sleep(0.02)


async def stop_processes(procs: Sequence[ServiceProcess]) -> None:
    await asyncio.gather(*(asyncio.to_thread(proc.stop) for proc in procs))


# --- measurements in a worker process of their own (nlu, moderation; see bench/worker.py) ----------


async def run_worker(
    module: str,
    args: Sequence[str],
    *,
    seconds: float,
    steps: int,
    tick: Ticker,
    workdir: Path,
    noise: Noise,
) -> dict[str, Any]:
    """``python -m <module>`` with the run's noise settings: its ``@@say`` and ``@@advance`` lines drive
    the progress bar (``steps`` of them at most), its other stderr goes to ``<workdir>/<name>.log``,
    and its stdout is the result. Loading may take a few minutes, then four measurements of which
    each may be taken ``tries`` times."""
    name = module.rsplit(".", 1)[-1].replace("_", "-")
    retry_budget = max(0.0, noise.deadline - time.monotonic())
    command = [
        sys.executable,
        "-m",
        module,
        *args,
        "--seconds",
        str(seconds),
        "--threshold",
        str(noise.threshold),
        "--tries",
        str(noise.tries),
        "--retry-budget",
        f"{min(retry_budget, 1e9):.1f}",
        "--cpu",
        f"bench={os.getpid()}",
    ]
    proc = await asyncio.create_subprocess_exec(
        *command,
        cwd=REPO_ROOT,
        env={**os.environ, **bench_env()},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    advanced = 0
    log_path = workdir / f"{name}.log"

    async def relay(stream: asyncio.StreamReader) -> None:
        """Progress lines go to the bar, everything else to the log."""
        nonlocal advanced
        with log_path.open("w") as log:
            async for raw in stream:
                line = raw.decode(errors="replace").rstrip("\n")
                if line.startswith("@@say "):
                    tick.say(line[len("@@say ") :])
                elif line == "@@advance":
                    if advanced < steps:
                        advanced += 1
                        tick.advance()
                else:
                    log.write(line + "\n")
                    log.flush()

    limit = 240 + 4 * noise.tries * (seconds * 2 + 10)
    try:
        stdout, _, code = await asyncio.wait_for(
            asyncio.gather(proc.stdout.read(), relay(proc.stderr), proc.wait()), timeout=limit
        )
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise RuntimeError(f"the {name} did not finish in {limit:g}s") from None
    if code != 0:
        tail = log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"the {name} exited with {code}:\n{tail}")
    tick.advance(steps - advanced)
    result: dict[str, Any] = json.loads(stdout)
    return result


# --- the validating baseline consumer of a scenario ------------------------------------------------


def raw_consumer_process(
    *, module: str, group: str, redis_url: str, count: int, workdir: Path, attempt: int
) -> ServiceProcess:
    """The baseline consumer of a scenario: ``python -m <module>`` running ``baseline_main``."""
    replica = f"raw-{attempt}"
    return module_process(
        service=group,
        replica=replica,
        redis_url=redis_url,
        log_path=workdir / f"{replica}.log",
        module=module,
        args=["--redis-url", redis_url, "--group", group, "--consumer", replica, "--count", str(count)],
    )


async def validating_consumer(
    url: str, group: str, consumer: str, count: int, event_type: type[Event]
) -> None:
    """XREADGROUP COUNT ``count``, decode and validate each entry, one XACK per read; forever."""
    client = Redis.from_url(url)
    stream = event_type.stream
    while True:
        reply: Any = await client.xreadgroup(group, consumer, {stream: ">"}, count=count, block=1000)
        for _stream, entries in reply or ():
            for _entry_id, fields in entries:
                event_type.model_validate_json(decode_entry(fields)[0])
            if entries:
                await client.xack(stream, group, *(entry_id for entry_id, _fields in entries))


def baseline_main(argv: Sequence[str] | None, *, prog: str, group: str, event_type: type[Event]) -> None:
    """The command line of a scenario's baseline consumer (``raw_consumer_process`` starts it)."""
    parser = argparse.ArgumentParser(prog=prog, description=validating_consumer.__doc__)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--group", default=group)
    parser.add_argument("--consumer", default="raw-1")
    parser.add_argument("--count", type=int, required=True, help="XREADGROUP COUNT")
    args = parser.parse_args(argv)
    stats.run(validating_consumer(args.redis_url, args.group, args.consumer, args.count, event_type))
