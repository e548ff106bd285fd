"""The first path end to end: gateway, assistant and compliance as separate processes on real Redis."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
import redis
from lingxi.events import QueryReceived
from lingxi.events.registry import dead_letter_stream
from lingxi.testing.otlp import OtlpReceiver, ReceivedSpan
from lingxi.testing.processes import ServiceProcess, all_ready, eventually, metric
from lingxi.testing.tokens import device_headers

pytestmark = pytest.mark.e2e
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def collector() -> Iterator[OtlpReceiver]:
    """Where the services send their traces: every test of this module runs with traces on."""
    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def system(
    module_services: Callable[..., ServiceProcess], collector: OtlpReceiver
) -> dict[str, ServiceProcess]:
    traces = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "200"}
    return all_ready(
        {
            "gateway-1": module_services("gateway", "gateway-1", wait=False, **traces),
            "gateway-2": module_services("gateway", "gateway-2", wait=False, **traces),
            "assistant": module_services("assistant", "assistant-1", wait=False, **traces),
            "compliance": module_services("compliance", "compliance-1", wait=False, **traces),
        }
    )


def tomorrow_at(hour: int) -> set[str]:
    """Tomorrow at ``hour`` in Shanghai, allowing for a test that runs across midnight."""
    days = {datetime.now(SHANGHAI).date() + timedelta(days=1)}
    return {
        datetime(d.year, d.month, d.day, hour, tzinfo=SHANGHAI).isoformat(timespec="seconds") for d in days
    }


@pytest.mark.parametrize(
    ("text", "locale", "notice"),
    [
        ("明天早上七点叫我起床", "zh-CN", "本内容由人工智能生成"),
        ("set an alarm for tomorrow at 7am", "en-US", "AI-generated content"),
    ],
)
def test_round_trip_with_both_ai_labels(
    system: dict[str, ServiceProcess], text: str, locale: str, notice: str
) -> None:
    expected_times = tomorrow_at(7)
    answer = httpx.post(
        f"{system['gateway-1'].base_url}/v1/assistant/queries",
        params={"wait": 10},
        json={"text": text, "locale": locale, "device_id": "dev-e2e", "region": "CN"},
        headers=device_headers("dev-e2e"),
        timeout=20,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "released"
    assert answer.headers["x-request-id"] == body["request_id"]
    result = body["result"]
    assert result["intent"] == "set_alarm"
    assert result["slots"]["time"] in expected_times
    assert result["action"]["name"] == "alarm.set"
    assert result["reply_text"].endswith(notice + ("）" if locale == "zh-CN" else ")"))
    assert result["explicit_label"] == {"notice": notice, "position": "end"}
    aigc = result["aigc"]
    assert aigc["Label"] == 1
    assert aigc["ContentProducer"] == "Lingxi"
    assert aigc["ProduceID"] == body["request_id"]
    assert result["model_name"]


def test_result_is_served_by_a_replica_that_did_not_take_the_request(
    system: dict[str, ServiceProcess],
) -> None:
    accepted = httpx.post(
        f"{system['gateway-1'].base_url}/v1/assistant/queries",
        json={"text": "打开微信", "locale": "zh-CN", "device_id": "dev-e2e", "region": "CN"},
        headers=device_headers("dev-e2e"),
        timeout=10,
    )
    assert accepted.status_code == 202, accepted.text
    request_id = accepted.json()["request_id"]
    assert accepted.headers["location"] == f"/v1/requests/{request_id}"
    deadline = time.monotonic() + 15
    while True:
        state = httpx.get(
            f"{system['gateway-2'].base_url}/v1/requests/{request_id}",
            headers=device_headers("dev-e2e"),
            timeout=5,
        ).json()
        if state["status"] != "pending" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert state["status"] == "released"
    assert state["result"]["intent"] == "open_app"
    assert state["result"]["slots"]["app"] == "wechat"


def test_waiting_on_one_replica_is_woken_by_a_result_consumed_anywhere(
    system: dict[str, ServiceProcess],
) -> None:
    for replica in ("gateway-1", "gateway-2"):
        for _ in range(3):
            answer = httpx.post(
                f"{system[replica].base_url}/v1/assistant/queries",
                params={"wait": 10},
                json={"text": "call mom", "locale": "en-US", "device_id": "dev-e2e", "region": "CN"},
                headers=device_headers("dev-e2e"),
                timeout=20,
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["result"]["intent"] == "call_contact"


def test_garbage_on_the_stream_is_dead_lettered_and_service_goes_on(
    system: dict[str, ServiceProcess], redis_url: str
) -> None:
    redis_client = redis.Redis.from_url(redis_url)
    redis_client.delete(dead_letter_stream(QueryReceived.stream))
    redis_client.xadd(QueryReceived.stream, {"garbage": "yes"})
    redis_client.xadd(QueryReceived.stream, {"__data__": "{not json"})
    answer = httpx.post(
        f"{system['gateway-1'].base_url}/v1/assistant/queries",
        params={"wait": 10},
        json={
            "text": "what's the weather in Shanghai tomorrow",
            "locale": "en-US",
            "device_id": "d",
            "region": "CN",
        },
        headers=device_headers("d"),
        timeout=20,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["intent"] == "weather"
    letters = redis_client.xrange(dead_letter_stream(QueryReceived.stream))
    assert len(letters) == 2
    assert {fields[b"dlq.reason"] for _, fields in letters} == {b"invalid_event"}
    assert b"garbage" in letters[0][1][b"dlq.error"]
    assert system["assistant"].process is not None
    assert system["assistant"].process.poll() is None, "the assistant is still running"
    # Operators see the dead letters and the pipeline's decisions in the services' metrics.
    stream = f'service="assistant",stream="{QueryReceived.stream}"'
    assert eventually(lambda: metric(system["assistant"], "lingxi_dead_letter_entries", stream) == 2)
    assert metric(system["assistant"], "lingxi_stream_lag", stream) == 0
    compliance = system["compliance"]
    assert (metric(compliance, "lingxi_releases_total", 'feature="assistant",outcome="released"') or 0) >= 1
    allowed = 'action="allow",feature="assistant"'
    assert (metric(compliance, "lingxi_moderation_decisions_total", allowed) or 0) >= 1


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"text": "hi", "locale": "zh-CN", "device_id": "d", "region": "CN", "extra": 1}, 422, "extra"),
        ({"text": "hi", "locale": "fr-FR", "device_id": "d", "region": "CN"}, 422, "locale"),
        ({"text": "", "locale": "zh-CN", "device_id": "d", "region": "CN"}, 422, "text"),
        ({"text": "  \n\t ", "locale": "zh-CN", "device_id": "d", "region": "CN"}, 422, "text"),
        ({"text": "打开\u0007微信", "locale": "zh-CN", "device_id": "d", "region": "CN"}, 422, "U+0007"),
        ({"text": "open\u0000WeChat", "locale": "en-US", "device_id": "d", "region": "CN"}, 422, "U+0000"),
        ({"text": "长" * 2001, "locale": "zh-CN", "device_id": "d", "region": "CN"}, 422, "2000"),
        (
            {"text": "hi", "locale": "zh-CN", "device_id": "d", "region": "CN", "timezone": "Mars/Base"},
            422,
            "Mars/Base",
        ),
        ({"text": "hi", "locale": "zh-CN", "device_id": "d d", "region": "CN"}, 422, "device_id"),
        ({"text": "x" * 70_000, "locale": "zh-CN", "device_id": "d", "region": "CN"}, 413, "65536"),
    ],
)
def test_bad_requests_are_refused_naming_the_problem(
    system: dict[str, ServiceProcess], body: dict[str, object], status: int, needle: str
) -> None:
    # A valid token of the device the bodies name: the refusal is about the body, not the caller.
    answer = httpx.post(
        f"{system['gateway-1'].base_url}/v1/assistant/queries",
        json=body,
        headers=device_headers("d"),
        timeout=5,
    )
    assert answer.status_code == status, answer.text
    assert needle in answer.text


def test_malformed_json_and_unknown_requests(system: dict[str, ServiceProcess]) -> None:
    base = system["gateway-1"].base_url
    # A valid device token on each: what is refused is the body or the request id, not the caller.
    device = device_headers("d")
    answer = httpx.post(
        f"{base}/v1/assistant/queries",
        content=b"{nope",
        headers={"content-type": "application/json", **device},
    )
    assert answer.status_code == 422
    assert "json" in answer.text.lower()
    unknown = httpx.get(f"{base}/v1/requests/8d0f1c2a-1b2c-4d3e-9f40-123456789abc", headers=device)
    assert unknown.status_code == 404
    assert httpx.get(f"{base}/v1/requests/not-a-uuid", headers=device).status_code == 422


def test_a_chunked_body_over_the_limit_is_refused_too(system: dict[str, ServiceProcess]) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'", "locale": "zh-CN", "device_id": "d", "region": "CN"}'

    answer = httpx.post(
        f"{system['gateway-1'].base_url}/v1/assistant/queries",
        content=chunks(),
        headers={"content-type": "application/json", **device_headers("d")},
        timeout=10,
    )
    assert answer.status_code == 413, answer.text[:200]
    assert "65536" in answer.text
    assert len(answer.content) < 1000, "the refused body is not echoed back"


def test_one_trace_follows_a_request_through_every_service(
    system: dict[str, ServiceProcess], collector: OtlpReceiver
) -> None:
    answer = httpx.post(
        f"{system['gateway-1'].base_url}/v1/assistant/queries",
        params={"wait": 10},
        json={"text": "打开微信", "locale": "zh-CN", "device_id": "dev-trace", "region": "CN"},
        headers=device_headers("dev-trace"),
        timeout=20,
    )
    assert answer.status_code == 200, answer.text
    request_id = answer.json()["request_id"]

    def hops() -> list[ReceivedSpan]:
        spans = collector.spans_with("lingxi.correlation_id", request_id)
        return spans if {"assistant", "compliance", "gateway"} <= {s.service for s in spans} else []

    consumed = eventually(hops, timeout_s=15)
    assert consumed, f"spans of {request_id}: {collector.spans_with('lingxi.correlation_id', request_id)}"
    assert len({s.trace_id for s in consumed}) == 1, "one trace id across every hop"
    trace = collector.trace(consumed[0].trace_id)
    by_id = {s.span_id: s for s in trace}
    # The trace starts at the gateway's server span for the HTTP request...
    roots = [s for s in trace if not s.parent_span_id]
    assert [(r.service, r.kind) for r in roots] == [("gateway", "server")]
    # ... and each consumer's span is the child of the span that published what it read.
    query = next(s for s in consumed if s.attributes["messaging.destination.name"] == QueryReceived.stream)
    assert query.service == "assistant"
    assert query.parent_span_id == roots[0].span_id
    for span in consumed:
        assert span.kind == "consumer"
        assert span.parent_span_id in by_id, f"{span.name} has its parent in the trace"
        assert span.attributes["lingxi.outcome"] == "ok"
    path = [by_id[s.parent_span_id].service + " -> " + s.service for s in consumed]
    assert "assistant -> compliance" in path
    assert "compliance -> gateway" in path
