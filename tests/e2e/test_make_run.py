"""`lingxi up` (what `make run` starts): the printed example request works as printed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lingxi.localredis import free_port

pytestmark = pytest.mark.e2e


def test_up_prints_a_request_that_returns_a_labelled_answer(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    lingxi = Path(sys.executable).parent / "lingxi"
    up = subprocess.Popen(
        [str(lingxi), "up", "--port", str(free_port()), "--data-dir", "lingxi-data", "-r", "assistant=2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
        cwd=tmp_path,  # a relative --data-dir, as `make run` uses
    )
    output: list[str] = []
    try:
        assert up.stdout is not None
        deadline = time.monotonic() + 120
        example = None
        for line in up.stdout:
            output.append(line)
            if line.startswith("lingxi") and "| curl " in line:
                example = line.split("| ", 1)[1].strip()
                break
            if time.monotonic() > deadline:
                break
        assert example, "no example request printed:\n" + "".join(output[-40:])
        answer = subprocess.run(example, shell=True, capture_output=True, text=True, timeout=30, check=True)
        body = json.loads(answer.stdout)
        assert body["status"] == "released", body
        result = body["result"]
        assert result["intent"] == "set_alarm"
        assert result["slots"]["time"].endswith("T07:00:00+08:00")
        assert result["reply_text"]
        assert result["explicit_label"]["notice"] == "本内容由人工智能生成"
        assert result["aigc"]["Label"] == 1
        assert any(line.startswith("assistant-2") for line in output), "replica count is honoured"
    finally:
        up.send_signal(signal.SIGINT)
        try:
            rest, _ = up.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            up.kill()
            rest, _ = up.communicate()
        output.append(rest or "")
    assert up.returncode == 0, "".join(output[-40:])
    redis_dir = tmp_path / "lingxi-data" / "redis"
    assert (redis_dir / "appendonlydir").exists() or any(redis_dir.glob("*.aof")), (
        "the local Redis keeps an AOF"
    )
