"""`lingxi tail`: decoded entries, no group disturbed without --group --yes; the installed command."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import IO

import redis
from lingxi.cli.main import app
from lingxi.events import QueryReceived
from lingxi.events.base import Region
from lingxi.runtime.envelope import encode_entry
from typer.testing import CliRunner, Result

STREAM = QueryReceived.stream
LINGXI = Path(sys.executable).with_name("lingxi")


def lingxi(redis_url: str, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--redis-url", redis_url])


def query(text: str) -> QueryReceived:
    return QueryReceived(
        region=Region.CN, locale="zh-CN", device_id="demo", request_id=uuid.uuid4(), text=text
    )


def add(client: redis.Redis, event: QueryReceived, correlation_id: str = "c-1") -> str:
    fields = encode_entry(event.model_dump_json(by_alias=True), {"correlation_id": correlation_id})
    return client.xadd(STREAM, fields).decode()


def test_tail_shows_the_last_n_entries_oldest_first(redis_url: str, redis_client: redis.Redis) -> None:
    ids = [add(redis_client, query(f"q{i}"), f"corr-{i}") for i in range(4)]

    result = lingxi(redis_url, "tail", STREAM, "--count", "2")

    assert result.exit_code == 0, result.output
    headers = [line for line in result.stdout.splitlines() if line[:1].isdigit()]
    assert [h.split()[0] for h in headers] == ids[2:]
    assert headers[0].split()[2:] == ["QueryReceived", "correlation_id=corr-2"]
    assert '"text": "q3"' in result.stdout
    assert "q1" not in result.stdout


def test_tail_json_gives_one_object_per_line(redis_url: str, redis_client: redis.Redis) -> None:
    events = [query("a"), query("b")]
    ids = [add(redis_client, event) for event in events]

    result = lingxi(redis_url, "tail", STREAM, "--json")

    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["id"] for line in lines] == ids
    assert [QueryReceived.model_validate_json(json.dumps(line["event"])) for line in lines] == events
    assert lines[0]["event_type"] == "QueryReceived"
    assert lines[0]["correlation_id"] == "c-1"
    assert lines[0]["time"].endswith("Z")


def test_entries_that_do_not_decode_or_validate_are_shown_raw(
    redis_url: str, redis_client: redis.Redis
) -> None:
    redis_client.xadd(STREAM, {"__data__": "not json"})
    redis_client.xadd(STREAM, {"__data__": b"\xff\xfe"})
    redis_client.xadd(STREAM, {"foo": "bar"})

    result = lingxi(redis_url, "tail", STREAM, "--json")

    assert result.exit_code == 0, result.output
    first, second, third = (json.loads(line) for line in result.stdout.splitlines())
    assert first["raw"] == {"__data__": "not json"}
    assert first["problem"].startswith("does not decode")
    assert second["problem"].startswith("does not decode")
    assert third["event"] == {"foo": "bar"}
    assert "foo: Extra inputs are not permitted" in third["problem"]
    plain = lingxi(redis_url, "tail", STREAM)
    assert plain.exit_code == 0
    assert '"__data__": "not json"' in plain.stdout


def test_from_starts_after_an_id(redis_url: str, redis_client: redis.Redis) -> None:
    ids = [add(redis_client, query(f"q{i}")) for i in range(4)]

    after = lingxi(redis_url, "tail", STREAM, "--from", ids[0], "--count", "2", "--json")
    start = lingxi(redis_url, "tail", STREAM, "--from", "0", "--count", "1", "--json")

    assert [json.loads(line)["id"] for line in after.stdout.splitlines()] == ids[1:3]
    assert [json.loads(line)["id"] for line in start.stdout.splitlines()] == ids[:1]
    assert lingxi(redis_url, "tail", STREAM, "--from", "yesterday").exit_code == 2


def test_plain_tail_disturbs_no_group(redis_url: str, redis_client: redis.Redis) -> None:
    add(redis_client, query("a"))
    redis_client.xgroup_create(STREAM, "assistant", id="0")

    assert lingxi(redis_url, "tail", STREAM).exit_code == 0

    (group,) = redis_client.xinfo_groups(STREAM)
    assert (group["pending"], group["consumers"], group["lag"]) == (0, 0, 1)


def test_group_reading_needs_yes_then_consumes_and_acknowledges(
    redis_url: str, redis_client: redis.Redis
) -> None:
    ids = [add(redis_client, query(f"q{i}")) for i in range(3)]
    redis_client.xgroup_create(STREAM, "assistant", id="0")

    refused = lingxi(redis_url, "tail", STREAM, "--group", "assistant")
    assert refused.exit_code == 2
    assert "consumes" in refused.stderr
    assert "--yes" in refused.stderr
    assert redis_client.xinfo_groups(STREAM)[0]["lag"] == 3

    result = lingxi(redis_url, "tail", STREAM, "--group", "assistant", "--yes", "--count", "2", "--json")

    assert result.exit_code == 0, result.output
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ids[:2]
    (group,) = redis_client.xinfo_groups(STREAM)
    assert group["last-delivered-id"].decode() == ids[1]
    assert group["pending"] == 0
    assert group["consumers"] == 0  # tail-<hostname> leaves again once it holds nothing
    assert f"tail-{socket.gethostname()}" in refused.stderr

    missing = lingxi(redis_url, "tail", STREAM, "--group", "nobody", "--yes")
    assert missing.exit_code == 1
    assert "no consumer group 'nobody'" in missing.stderr


def test_tail_of_a_missing_stream_or_another_key_type(redis_url: str, redis_client: redis.Redis) -> None:
    redis_client.set("plain", "1")

    missing = lingxi(redis_url, "tail", STREAM)
    wrong = lingxi(redis_url, "tail", "plain")

    assert missing.exit_code == 0
    assert "does not exist" in missing.stderr
    assert wrong.exit_code == 2
    assert "plain is a string, not a stream" in wrong.stderr


def _lines(stream: IO[str], into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)


def _wait_for(lines: queue.Queue[str], needle: str, timeout_s: float = 15.0) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            seen.append(lines.get(timeout=0.2))
        except queue.Empty:
            continue
        if needle in seen[-1]:
            return seen
    raise AssertionError(f"{needle!r} not seen within {timeout_s}s; got {''.join(seen)!r}")


def test_the_installed_command_publishes_then_tails_and_follows(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """The real `lingxi` executable, Redis from LINGXI_REDIS_URL: publish, tail, tail -f, Ctrl-C."""
    env = {**os.environ, "LINGXI_REDIS_URL": redis_url, "REDIS_URL": "redis://127.0.0.1:1/0"}
    fields = ["region=CN", "locale=en-US", "device_id=demo", f"request_id={uuid.uuid4()}"]

    def publish(text: str) -> str:
        done = subprocess.run(
            [str(LINGXI), "publish", STREAM, *fields, f"text={text}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.split()[0]

    first_id = publish("first")
    tailed = subprocess.run(
        [str(LINGXI), "tail", STREAM], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert tailed.returncode == 0, tailed.stderr
    assert tailed.stdout.startswith(first_id)
    assert '"text": "first"' in tailed.stdout

    follower = subprocess.Popen(
        [str(LINGXI), "tail", STREAM, "--follow", "--count", "1", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert follower.stdout is not None
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_lines, args=(follower.stdout, lines), daemon=True).start()
        _wait_for(lines, first_id)  # the last entry is shown: it is now waiting for new ones
        second_id = publish("second")
        seen = _wait_for(lines, second_id)
        assert json.loads(seen[-1])["event"]["text"] == "second"
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=10) == 0
        assert follower.stderr is not None
        assert "Traceback" not in follower.stderr.read()
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
