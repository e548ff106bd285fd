"""Start Lingxi services as real, separate processes for integration and end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx

from lingxi.auth import JWKS_ENV
from lingxi.localredis import free_port
from lingxi.testing.tokens import jwks_path

T = TypeVar("T")


@dataclass
class ServiceProcess:
    """One replica of one service, logging JSON lines to ``log_path``."""

    service: str
    replica: str
    redis_url: str
    log_path: Path
    port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    command: list[str] | None = None
    """What to run instead of ``python -m lingxi_<service>`` (e.g. a test's own service script)."""
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServiceProcess:
        env = {
            # Development approvals unless the caller's environment says otherwise (empty: none).
            "LINGXI_COMPLIANCE_APPROVALS_SEED": "dev",
            **os.environ,
            # The gateway verifies tokens with the run's test key (lingxi.testing.tokens).
            JWKS_ENV: str(jwks_path()),
            "LINGXI_REDIS_URL": self.redis_url,
            "LINGXI_REPLICA": self.replica,
            "LINGXI_HTTP_HOST": "127.0.0.1",
            "LINGXI_HTTP_PORT": str(self.port),
            "LINGXI_LOG_FORMAT": "json",
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        command = self.command or [sys.executable, "-m", f"lingxi_{self.service}"]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return self

    def wait_ready(self, timeout_s: float = 60.0) -> ServiceProcess:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.replica} exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.replica} not ready after {timeout_s}s:\n{self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 20.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class ProcessGroup:
    """Replicas started together against one Redis, stopped together (last started, first stopped)."""

    redis_url: str
    log_dir: Path
    started: list[ServiceProcess] = field(default_factory=list)

    def start(
        self,
        service: str,
        replica: str | None = None,
        *,
        command: list[str] | None = None,
        wait: bool = True,
        **env: str,
    ) -> ServiceProcess:
        """Start a replica and wait until it is ready; ``wait=False`` returns at once, for starting
        several side by side (``all_ready``): their start-ups overlap."""
        name = replica or f"{service}-{len(self.started) + 1}"
        proc = ServiceProcess(
            service=service,
            replica=name,
            redis_url=self.redis_url,
            log_path=self.log_dir / f"{name}.log",
            extra_env=env,
            command=command,
        ).start()
        self.started.append(proc)
        return proc.wait_ready() if wait else proc

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            proc.stop()
        self.started.clear()


def all_ready(replicas: dict[str, ServiceProcess], timeout_s: float = 60.0) -> dict[str, ServiceProcess]:
    """Wait for replicas started with ``wait=False`` to be ready, together; returns them."""
    deadline = time.monotonic() + timeout_s
    for replica in replicas.values():
        replica.wait_ready(max(deadline - time.monotonic(), 1.0))
    return replicas


def metric(service: ServiceProcess, name: str, labels: str) -> float | None:
    """One sample of a running service's /metrics (``labels`` as exposed: sorted, quoted), or None."""
    for line in httpx.get(f"{service.base_url}/metrics", timeout=5).text.splitlines():
        if line.startswith(f"{name}{{{labels}}} "):
            return float(line.rpartition(" ")[2])
    return None


def eventually(probe: Callable[[], T], timeout_s: float = 20.0, interval_s: float = 0.2) -> T:
    """Call ``probe`` until it returns something truthy or ``timeout_s`` passes; its last value either
    way, for the caller to assert on (separate processes take their time)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval_s)
