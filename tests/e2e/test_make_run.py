"""`lingxi up` (what `make run` starts): the printed example request works as printed (with the
development token it carries; without it the gateway refuses it), its path through the services can
be read back with `lingxi logs` and `lingxi trace`, and a replica that crashes is restarted by the
supervisor."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from lingxi.localredis import free_port

pytestmark = pytest.mark.e2e


class Output:
    """Drains the supervisor's merged log in a thread, so its pipe never fills."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._drain, args=(process,), daemon=True)
        self._thread.start()

    def _drain(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line)

    def wait_for(self, predicate: Callable[[str], bool], timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        seen = 0
        while time.monotonic() < deadline:
            for line in self.lines[seen:]:
                if predicate(line):
                    return line
            seen = len(self.lines)
            time.sleep(0.1)
        raise AssertionError("not printed in time; last lines:\n" + "".join(self.lines[-40:]))


def ask(example: str) -> dict[str, object]:
    answer = subprocess.run(example, shell=True, capture_output=True, text=True, timeout=30, check=True)
    body: dict[str, object] = json.loads(answer.stdout)
    return body


def ready_again(url: str, timeout_s: float) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            answer: dict[str, object] = httpx.get(url, timeout=1).json()
            return answer
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def read_back(log_dir: Path, request_id: str) -> tuple[list[str], dict[str, Any]]:
    """`lingxi logs --correlation-id` (readable lines) and `lingxi trace --json` for one request, run
    side by side on the folder `lingxi up` writes."""
    # The gateway logs the result it consumed just after answering: wait for that line first.
    deadline = time.monotonic() + 5
    gateway_log = log_dir / "gateway-1.jsonl"
    while not any(
        request_id in line and "event handled" in line for line in gateway_log.read_text().splitlines()
    ):
        assert time.monotonic() < deadline, "the gateway never logged the request's result"
        time.sleep(0.1)
    lingxi = str(Path(sys.executable).parent / "lingxi")
    where = ["--dir", str(log_dir)]
    running = [
        subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for command in (
            [lingxi, "logs", "--correlation-id", request_id, *where],
            [lingxi, "trace", request_id, "--json", *where],
        )
    ]
    (logs, logs_err), (trace, trace_err) = (process.communicate(timeout=30) for process in running)
    assert [process.returncode for process in running] == [0, 0], logs_err + trace_err
    timeline: dict[str, Any] = json.loads(trace)
    return logs.splitlines(), timeline


def test_up_prints_a_working_request_and_restarts_a_crashed_replica(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    lingxi = Path(sys.executable).parent / "lingxi"
    log_dir = tmp_path / "logs"
    command = [
        str(lingxi),
        "up",
        "--port",
        str(free_port()),
        "--data-dir",
        "lingxi-data",
        "-r",
        "assistant=2",
    ]
    up = subprocess.Popen(
        [*command, "--log-dir", str(log_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
        cwd=tmp_path,  # a relative --data-dir, as `make run` uses
    )
    output = Output(up)
    try:
        example = output.wait_for(lambda line: "| curl " in line, 120).split("| ", 1)[1].strip()
        body = ask(example)
        assert body["status"] == "released", body
        unsigned = re.sub(r" -H 'Authorization: Bearer [^']+'", "", example)
        assert unsigned != example, example
        assert ask(unsigned)["code"] == "token_missing"
        admin = output.wait_for(lambda line: "admin token (every role" in line, 5).rsplit(" ", 1)[1].strip()
        gateway = re.search(r"curl -s -X POST '(http://127\.0\.0\.1:\d+)/", example)
        assert gateway
        features = httpx.get(
            f"{gateway.group(1)}/v1/admin/features", headers={"Authorization": f"Bearer {admin}"}
        )
        assert features.status_code == 200, features.text
        private_key = tmp_path / "lingxi-data" / "keys" / "dev.pem"
        assert private_key.stat().st_mode & 0o777 == 0o600, "the development key is readable by others"
        result = body["result"]
        assert isinstance(result, dict)
        assert result["intent"] == "set_alarm"
        assert result["slots"]["time"].endswith("T07:00:00+08:00")
        assert result["reply_text"]
        assert result["explicit_label"]["notice"] == "本内容由人工智能生成"
        assert result["aigc"]["Label"] == 1
        assert any(line.startswith("assistant-2") for line in output.lines), "replica count is honoured"
        assert any(f"logs: {log_dir}" in line for line in output.lines[:3]), "where the logs go comes first"

        lines, timeline = read_back(log_dir, str(body["request_id"]))
        assert any("http request" in line and "POST" in line for line in lines), lines  # by its id
        path = [(line.split()[1].rsplit("-", 1)[0], re.findall(r"stream=(\S+)", line)) for line in lines]
        path = [(service, streams) for service, streams in path if streams]
        assert path == [
            ("assistant", ["assistant.query.received"]),
            ("compliance", ["assistant.answer.drafted"]),
            ("gateway", ["assistant.answer.released"]),
        ], lines
        hops = [(hop["service"], hop["what"]) for hop in timeline["hops"]]
        assert hops == [
            ("gateway", "POST /v1/assistant/queries -> 200"),
            ("assistant", "assistant.query.received ok"),
            ("compliance", "assistant.answer.drafted ok"),
            ("gateway", "assistant.answer.released ok"),
        ], timeline
        assert 0 < timeline["total_ms"] < 5000
        assert not any(hop.get("inferred") for hop in timeline["hops"]), "the POST is found by its id"

        listed = output.wait_for(lambda line: re.search(r"assistant-1\s+http://", line) is not None, 5)
        probes = re.search(r"(http://127\.0\.0\.1:\d+)", listed)
        assert probes
        pid = httpx.get(f"{probes.group(1)}/healthz").json()["pid"]
        os.kill(pid, signal.SIGKILL)
        output.wait_for(lambda line: "assistant-1 exited with -9; restart 1" in line, 10)
        assert ready_again(f"{probes.group(1)}/healthz", 60)["pid"] != pid
        assert ask(example)["status"] == "released"
    finally:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(timeout=40)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()
    assert up.returncode == 0, "".join(output.lines[-40:])
    redis_dir = tmp_path / "lingxi-data" / "redis"
    assert (redis_dir / "appendonlydir").exists() or any(redis_dir.glob("*.aof")), (
        "the local Redis keeps an AOF"
    )


def test_nothing_outlives_a_killed_supervisor(tmp_path: Path) -> None:
    only_gateway = "assistant=0,vision=0,compliance=0,maintenance=0,personalization=0"
    up = subprocess.Popen(
        [str(Path(sys.executable).parent / "lingxi"), "up", "--port", str(free_port()), "-r", only_gateway],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={k: v for k, v in os.environ.items() if k != "REDIS_URL"},
        text=True,
        cwd=tmp_path,
    )
    output = Output(up)
    try:
        listed = output.wait_for(lambda line: re.search(r"gateway-1\s+http://", line) is not None, 60)
        probes = re.search(r"(http://127\.0\.0\.1:\d+)", listed)
        assert probes
        gateway_pid = httpx.get(f"{probes.group(1)}/healthz").json()["pid"]
        redis_port = int(
            output.wait_for(lambda line: "redis: redis://" in line, 5).rsplit(":", 1)[1].split("/")[0]
        )
        up.kill()
        up.wait()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (alive(gateway_pid) or port_open(redis_port)):
            time.sleep(0.2)
        assert not alive(gateway_pid), "the gateway died with its supervisor"
        assert not port_open(redis_port), "the local Redis died with its supervisor"
    finally:
        if up.poll() is None:
            up.kill()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
