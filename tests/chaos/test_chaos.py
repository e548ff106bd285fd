"""Chaos: real processes, real Redis, faults in the middle of a flow. Nothing lost, nothing doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from lingxi.events import AnswerDrafted, QueryReceived
from lingxi.events.registry import dead_letter_stream
from lingxi.localredis import LocalRedis
from lingxi.runtime.service import EXIT_SUBSCRIBER_LOST
from lingxi.testing.processes import ProcessGroup, ServiceProcess

from .conftest import FAST_RECOVERY, answers_by_request, entry, pending, publish_flow, query, wait_for

pytestmark = pytest.mark.chaos
STREAM = QueryReceived.stream


def assert_exactly_once(client: redis.Redis, sent: list[QueryReceived], groups: list[str]) -> None:
    counts = answers_by_request(client)
    missing = {q.request_id for q in sent} - set(counts)
    doubled = {rid: n for rid, n in counts.items() if n > 1}
    assert not missing, f"{len(missing)} queries got no released answer"
    assert not doubled, f"{len(doubled)} queries got more than one answer"
    assert len(counts) == len(sent)
    for group, stream in zip(groups, [STREAM, AnswerDrafted.stream], strict=True):
        assert pending(client, stream, group) == 0, f"entries left pending for {group}"


def test_kill_9_of_one_of_three_assistants_loses_and_doubles_nothing(
    start_service: Callable[..., ServiceProcess], client: redis.Redis
) -> None:
    assistants = [start_service("assistant", f"assistant-{n}", **FAST_RECOVERY) for n in (1, 2, 3)]
    start_service("compliance", "compliance-1", **FAST_RECOVERY)
    sent = [query(n) for n in range(1000)]

    def kill_one(i: int) -> None:
        if i == 300:
            assert assistants[1].process is not None
            assistants[1].process.kill()

    publish_flow(client, sent, per_second=400, during=kill_one)
    wait_for(lambda: len(answers_by_request(client)) >= len(sent), 60, "every query to be answered")
    wait_for(lambda: pending(client, STREAM, "assistant") == 0, 20, "the dead replica's entries reclaimed")
    assert assistants[1].process is not None
    assert assistants[1].process.wait(5) == -signal.SIGKILL
    assert_exactly_once(client, sent, ["assistant", "compliance"])


def test_sigterm_during_load_finishes_in_flight_work_and_loses_nothing(
    start_service: Callable[..., ServiceProcess], client: redis.Redis
) -> None:
    assistants = [start_service("assistant", f"assistant-{n}", **FAST_RECOVERY) for n in (1, 2)]
    start_service("compliance", "compliance-1", **FAST_RECOVERY)
    sent = [query(n) for n in range(600)]

    def terminate_one(i: int) -> None:
        if i == 200:
            assert assistants[0].process is not None
            assistants[0].process.send_signal(signal.SIGTERM)

    publish_flow(client, sent, per_second=300, during=terminate_one)
    assert assistants[0].process is not None
    # uvicorn re-raises the SIGTERM after its graceful shutdown, so the status is -SIGTERM.
    assert assistants[0].process.wait(30) in {0, -signal.SIGTERM}
    assert "Application shutdown complete" in assistants[0].log_tail(), "a graceful shutdown"
    wait_for(lambda: len(answers_by_request(client)) >= len(sent), 60, "every query to be answered")
    wait_for(lambda: pending(client, STREAM, "assistant") == 0, 20, "left-over entries to be reclaimed")
    assert_exactly_once(client, sent, ["assistant", "compliance"])


def test_redis_restart_mid_flow_loses_no_acknowledged_event(tmp_path: Path) -> None:
    server = LocalRedis(tmp_path / "redis", appendonly=True, extra_args=("--appendfsync", "always")).start()
    group = ProcessGroup(server.url, tmp_path)
    client = redis.Redis.from_url(server.url, socket_timeout=2)
    try:
        for n in (1, 2):
            group.start("assistant", f"assistant-{n}", **FAST_RECOVERY)
        group.start("compliance", "compliance-1", **FAST_RECOVERY)
        sent = [query(n) for n in range(400)]
        for i, event in enumerate(sent):
            if i == 150:
                server.stop(kill=True)  # the harshest restart: no shutdown, only what the AOF holds
                time.sleep(1.0)
                server.start()
            while True:  # a publisher retries until Redis acknowledges the entry
                try:
                    client.xadd(STREAM, entry(event))  # type: ignore[arg-type]
                    break
                except redis.ConnectionError:
                    time.sleep(0.2)
            time.sleep(0.005)
        wait_for(lambda: len(answers_by_request(client)) >= len(sent), 90, "every query to be answered")
        wait_for(lambda: pending(client, STREAM, "assistant") == 0, 30, "pending entries to drain")
        assert_exactly_once(client, sent, ["assistant", "compliance"])
        assert all(p.process is not None and p.process.poll() is None for p in group.started), (
            "services rode out the restart"
        )
    finally:
        group.stop_all()
        client.close()
        server.stop()


def test_a_poison_event_is_retried_to_the_cap_dead_lettered_and_replayed_once_fixed(
    start_service: Callable[..., ServiceProcess], client: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    fault = tmp_path / "fault"
    fault.touch()
    flaky = Path(__file__).with_name("flaky_service.py")
    start_service(
        "flaky",
        "flaky-1",
        command=[sys.executable, str(flaky)],
        FLAKY_FAULT_FILE=str(fault),
        LINGXI_MAX_DELIVERIES="3",
        **FAST_RECOVERY,
    )
    healthy = [query(n) for n in range(5)]
    poison = query(99, text="poison")
    for event in [*healthy[:2], poison, *healthy[2:]]:
        client.xadd(STREAM, entry(event))  # type: ignore[arg-type]

    dlq = dead_letter_stream(STREAM)
    wait_for(lambda: client.xlen(dlq) == 1, 30, "the poison event to be dead-lettered")
    ((_, letter),) = client.xrange(dlq)
    assert letter[b"dlq.attempts"] == b"3"
    assert letter[b"dlq.reason"] == b"handler_failed"
    assert b"dependency of the poison query is down" in letter[b"dlq.error"]
    assert set(answers_by_request(client, AnswerDrafted.stream)) == {q.request_id for q in healthy}
    assert pending(client, STREAM, "flaky") == 0

    fault.unlink()  # the dependency is back
    lingxi = Path(sys.executable).parent / "lingxi"
    replay = subprocess.run(
        [str(lingxi), "dlq", "replay", STREAM, "--all", "--redis-url", redis_url],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ},
    )
    assert replay.returncode == 0, replay.stderr + replay.stdout
    answered = answers_by_request
    wait_for(lambda: poison.request_id in answered(client, AnswerDrafted.stream), 30, "the replayed answer")
    assert client.xlen(dlq) == 0
    counts = answers_by_request(client, AnswerDrafted.stream)
    assert set(counts.values()) == {1}
    assert len(counts) == 6


def test_a_lost_consumer_group_stops_the_service_with_a_restart_status(
    start_service: Callable[..., ServiceProcess], client: redis.Redis
) -> None:
    assistant = start_service("assistant", "assistant-1", **FAST_RECOVERY)
    client.xgroup_destroy(STREAM, "assistant")
    assert assistant.process is not None
    assert assistant.process.wait(30) == EXIT_SUBSCRIBER_LOST, assistant.log_tail()
