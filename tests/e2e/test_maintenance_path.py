"""Device telemetry end to end: gateway, maintenance and compliance (which seeds the development
approvals) as separate processes on real Redis: readings in, an alert out, health and alerts served."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis
from lingxi.devices import known_models
from lingxi.events.maintenance import AlertRaised, TelemetryBatchReceived, TelemetryReported
from lingxi.events.registry import dead_letter_stream
from lingxi.runtime.delivery import stream_entry
from lingxi.runtime.envelope import decode_entry
from lingxi.testing.processes import ServiceProcess, all_ready, eventually
from lingxi.testing.tokens import device_headers
from lingxi_maintenance.cli import reading_json
from lingxi_maintenance.readings import sample_reading

pytestmark = pytest.mark.e2e
MODEL = next(iter(known_models().values()))


@pytest.fixture(scope="module")
def system(module_services: Callable[..., ServiceProcess]) -> dict[str, ServiceProcess]:
    return all_ready(
        {
            "compliance": module_services("compliance", "compliance-1", wait=False),
            "gateway": module_services("gateway", "gateway-1", wait=False),
            "maintenance": module_services("maintenance", "maintenance-1", wait=False),
        }
    )


def reading(device_id: str, minutes_ago: float, **changes: Any) -> dict[str, Any]:
    """A healthy reading of a known model as a request carries it, ``changes`` (valid or not) on top."""
    measured = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    known = {
        "device_model": MODEL.code,
        "design_capacity_mah": MODEL.design_capacity_mah,
        "full_charge_capacity_mah": MODEL.design_capacity_mah - 300,
    }
    return {**reading_json(sample_reading(measured, device_id, **known)), **changes}


def raised_alerts(client: redis.Redis) -> list[AlertRaised]:
    entries: list[tuple[bytes, dict[bytes, bytes]]] = client.xrange(AlertRaised.stream)  # type: ignore[assignment]
    return [AlertRaised.model_validate_json(decode_entry(fields)[0]) for _, fields in entries]


def test_a_crash_loop_becomes_an_alert_with_health_and_advice(
    system: dict[str, ServiceProcess], redis_url: str
) -> None:
    gateway = system["gateway"].base_url
    device = "dev-crashy-1"
    # Crashes every few minutes for half an hour, and one reading the edge refuses (140%).
    readings = [reading(device, minutes_ago=40 - 5 * i, app_crash_count=3) for i in range(6)]
    answer = httpx.post(
        f"{gateway}/v1/telemetry",
        json={"readings": [*readings, reading(device, 1, battery_level=140)]},
        headers=device_headers(device),
        timeout=20,
    )
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["accepted"] == 6
    assert [r["index"] for r in body["rejected"]] == [6]

    def open_alerts() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = httpx.get(
            f"{gateway}/v1/devices/{device}/alerts", headers=device_headers(device), timeout=5
        ).json()
        return found

    alerts = eventually(open_alerts)
    assert [a["condition"] for a in alerts] == ["crash_loop"]
    assert alerts[0]["status"] == "open"
    assert alerts[0]["recommended_action_zh"]
    assert alerts[0]["recommended_action_en"]

    health = httpx.get(f"{gateway}/v1/devices/{device}/health", headers=device_headers(device), timeout=5)
    assert health.status_code == 200, health.text
    summary = health.json()
    assert summary["device_id"] == device
    assert summary["crashes_last_hour"] >= 5
    assert [a["condition"] for a in summary["open_alerts"]] == ["crash_loop"]

    client = redis.Redis.from_url(redis_url)
    raised = [(a.device_id, a.condition.value) for a in raised_alerts(client)]
    assert raised == [(device, "crash_loop")]


def test_the_same_readings_again_raise_nothing_new(system: dict[str, ServiceProcess], redis_url: str) -> None:
    gateway = system["gateway"].base_url
    device = "dev-steady-1"
    readings = [reading(device, minutes_ago=30 - 5 * i, app_crash_count=4) for i in range(5)]
    for _ in range(2):  # a device retrying its upload sends the same readings twice
        sent = httpx.post(
            f"{gateway}/v1/telemetry", json={"readings": readings}, headers=device_headers(device), timeout=20
        )
        assert sent.status_code == 202, sent.text
    client = redis.Redis.from_url(redis_url)

    def raised_for_device() -> list[AlertRaised]:
        return [a for a in raised_alerts(client) if a.device_id == device]

    assert len(eventually(raised_for_device)) == 1
    time.sleep(1.5)  # the second batch has been read by now
    assert len(raised_for_device()) == 1


def test_a_partner_reading_the_domain_refuses_is_dead_lettered_alone(
    system: dict[str, ServiceProcess], redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.delete(dead_letter_stream(TelemetryReported.stream))
    good = TelemetryReported.model_validate_json(
        json.dumps({"region": "CN", **reading("dev-partner-ok", minutes_ago=3)})
    )
    unknown = TelemetryReported.model_validate_json(
        json.dumps({"region": "CN", **reading("dev-partner-odd", minutes_ago=3, device_model="ZZ-9")})
    )
    for event in (unknown, good):
        client.xadd(TelemetryReported.stream, stream_entry(event, str(event.event_id)))  # type: ignore[arg-type]
    gateway = system["gateway"].base_url

    def health_of_good() -> bool:
        ok = httpx.get(
            f"{gateway}/v1/devices/dev-partner-ok/health", headers=device_headers("dev-partner-ok"), timeout=5
        )
        return ok.status_code == 200

    assert eventually(health_of_good)
    assert eventually(lambda: client.xlen(dead_letter_stream(TelemetryReported.stream)) == 1)
    ((_, fields),) = client.xrange(dead_letter_stream(TelemetryReported.stream))
    assert fields[b"dlq.reason"] == b"reading_refused"
    assert b"unknown_model" in fields[b"dlq.error"]
    odd = httpx.get(
        f"{gateway}/v1/devices/dev-partner-odd/health", headers=device_headers("dev-partner-odd"), timeout=5
    )
    assert odd.status_code == 404, odd.text


def test_two_replicas_writing_the_same_devices_lose_no_reading(
    system: dict[str, ServiceProcess], module_services: Callable[..., ServiceProcess], redis_url: str
) -> None:
    # A second replica joins; both read batches that all name the same devices, at the same time.
    module_services("maintenance", "maintenance-2")
    devices = [f"dev-shared-{n}" for n in range(40)]
    per_device = 12  # within the readings a state remembers, so none is too late in any order
    client = redis.Redis.from_url(redis_url)
    pipe = client.pipeline(transaction=False)
    for k in range(per_device):
        batch = TelemetryBatchReceived.model_validate_json(
            json.dumps(
                {
                    "region": "CN",
                    "readings": [
                        reading(d, minutes_ago=10 * (per_device - k), temperature_c=33.0) for d in devices
                    ],
                }
            )
        )
        pipe.xadd(TelemetryBatchReceived.stream, stream_entry(batch, str(batch.event_id)))  # type: ignore[arg-type]
    pipe.execute()
    gateway = system["gateway"].base_url

    def readings_counted() -> dict[str, int]:
        counted = {}
        for device in devices:
            answer = httpx.get(
                f"{gateway}/v1/devices/{device}/health", headers=device_headers(device), timeout=5
            )
            counted[device] = answer.json()["readings"] if answer.status_code == 200 else 0
        return counted

    def all_counted() -> dict[str, int] | None:
        counted = readings_counted()
        return counted if set(counted.values()) == {per_device} else None

    assert eventually(all_counted, timeout_s=40), readings_counted()
