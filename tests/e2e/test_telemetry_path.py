"""Device telemetry at the gateway: a batch of readings checked one by one, the accepted ones published as
one TelemetryBatchReceived, each rejected one named; a device's health and alerts read from maintenance's
keys. The gateway as its own process on real Redis."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest
import redis
from lingxi.auth import Role
from lingxi.device_health import HealthRecord, encode_health, health_view
from lingxi.devices import known_models
from lingxi.events import Region
from lingxi.events.compliance import (
    FEATURE_REGISTRY_KEY,
    FEATURE_REGISTRY_VERSION_KEY,
    FeatureRecord,
    FeatureStatus,
    FeatureStatusChange,
)
from lingxi.events.maintenance import TelemetryBatchReceived, device_alerts_key, device_health_key
from lingxi.runtime.envelope import decode_entry
from lingxi.testing.processes import ServiceProcess
from lingxi.testing.tokens import admin_headers, device_headers
from lingxi_maintenance.cli import reading_json
from lingxi_maintenance.readings import sample_reading

T0_US = int(datetime(2026, 3, 1, 8, tzinfo=UTC).timestamp()) * 1_000_000

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def gateway(module_services: Callable[..., ServiceProcess], redis_url: str) -> ServiceProcess:
    # Maintenance approved in CN as compliance records it (no compliance process needed); HK stays unfiled.
    now = datetime.now(UTC)
    record = FeatureRecord(
        feature="maintenance",
        region=Region.CN,
        changes=(
            FeatureStatusChange(
                status=FeatureStatus.APPROVED,
                filing_number="DEV-MAINTENANCE-0001",
                effective_at=now - timedelta(days=1),
                changed_by="admin:test",
                request_id=uuid4(),
                recorded_at=now,
            ),
        ),
    )
    process = module_services("gateway", "gateway-1")
    client = redis.Redis.from_url(redis_url)
    client.hset(FEATURE_REGISTRY_KEY, FeatureRecord.field_name("maintenance", "CN"), record.model_dump_json())
    client.incr(FEATURE_REGISTRY_VERSION_KEY)
    client.close()
    return process


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


MODEL = next(iter(known_models().values()))


def reading(device_id: str = "dev-tele-1", minutes_ago: float = 10, **changes: Any) -> dict[str, Any]:
    """A healthy reading of a known model as a request carries it, ``changes`` (valid or not) on top."""
    measured = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    known = {
        "device_model": MODEL.code,
        "design_capacity_mah": MODEL.design_capacity_mah,
        "full_charge_capacity_mah": MODEL.design_capacity_mah - 300,
    }
    return {**reading_json(sample_reading(measured, device_id, **known)), **changes}


def send(
    gateway: ServiceProcess, readings: list[Any], *, headers: dict[str, str] | None = None, **body: Any
) -> httpx.Response:
    """POST the readings as ``headers`` say; by default as an operator, who may upload any device's
    readings (most batches here mix many handsets)."""
    return httpx.post(
        f"{gateway.base_url}/v1/telemetry",
        json={"readings": readings, **body},
        headers=headers or admin_headers(Role.OPERATOR),
        timeout=20,
    )


def read(gateway: ServiceProcess, path: str, device_id: str, **params: Any) -> httpx.Response:
    """GET ``path`` (under the gateway) with the token of the device ``device_id``."""
    return httpx.get(
        f"{gateway.base_url}{path}", params=params, headers=device_headers(device_id), timeout=10
    )


def batches(client: redis.Redis) -> list[TelemetryBatchReceived]:
    entries: list[tuple[bytes, dict[bytes, bytes]]] = client.xrange(TelemetryBatchReceived.stream)  # type: ignore[assignment]
    return [TelemetryBatchReceived.model_validate_json(decode_entry(fields)[0]) for _, fields in entries]


def test_a_valid_batch_is_one_event_with_every_reading(gateway: ServiceProcess, client: redis.Redis) -> None:
    client.delete(TelemetryBatchReceived.stream)
    sent = [reading(f"dev-ok-{i}", minutes_ago=i) for i in range(3)]
    response = send(gateway, sent)
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["accepted"] == 3
    assert answer["rejected"] == []
    [batch] = batches(client)
    assert str(batch.event_id) == answer["event_id"]
    assert batch.region is Region.CN
    assert [r.device_id for r in batch.readings] == ["dev-ok-0", "dev-ok-1", "dev-ok-2"]
    assert batch.readings[1].measured_at == datetime.fromisoformat(sent[1]["measured_at"])
    assert batch.readings[0].design_capacity_mah == MODEL.design_capacity_mah


def test_good_readings_pass_and_each_bad_one_is_named_with_its_reason(
    gateway: ServiceProcess, client: redis.Redis
) -> None:
    client.delete(TelemetryBatchReceived.stream)
    missing = reading("dev-missing")
    del missing["os_version"]
    sent = [
        reading("dev-good-a"),
        reading("dev-full", battery_level=140),
        reading("dev-negative", full_charge_capacity_mah=-5),
        reading("dev-hot", temperature_c=300),
        reading("dev-unknown", device_model="LX-1999-NOPE"),
        missing,
        reading("dev-ahead", minutes_ago=-60),
        reading("dev-capacity", design_capacity_mah=MODEL.design_capacity_mah + 1),
        reading("dev-text", cycle_count="412"),
        "not a reading",
        reading("dev-good-b"),
    ]
    response = send(gateway, sent)
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["accepted"] == 2
    reasons = {r["index"]: (r["device_id"], r["reason"]) for r in answer["rejected"]}
    assert reasons == {
        1: ("dev-full", "battery_level: must be at most 100 (got 140)"),
        2: ("dev-negative", "full_charge_capacity_mah: must be at least 0 (got -5)"),
        3: ("dev-hot", "temperature_c: must be at most 125 (got 300)"),
        4: ("dev-unknown", "device_model: unknown model 'LX-1999-NOPE'"),
        5: ("dev-missing", "os_version: is required"),
        6: ("dev-ahead", reasons[6][1]),
        7: ("dev-capacity", reasons[7][1]),
        8: ("dev-text", "cycle_count: Input should be a valid integer (got '412')"),
        9: (None, "a reading must be a JSON object (got 'not a reading')"),
    }
    assert reasons[6][1].startswith("measured_at: 60 minutes ahead of the gateway's clock")
    assert f"designed for {MODEL.design_capacity_mah} mAh" in reasons[7][1]
    [batch] = batches(client)
    assert [r.device_id for r in batch.readings] == ["dev-good-a", "dev-good-b"]


def test_a_batch_with_no_good_reading_is_422_and_publishes_nothing(
    gateway: ServiceProcess, client: redis.Redis
) -> None:
    client.delete(TelemetryBatchReceived.stream)
    # One device's own batch, with its own token.
    response = send(
        gateway,
        [reading(battery_level=-1), reading(minutes_ago=60 * 24 * 40)],
        headers=device_headers("dev-tele-1"),
    )
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["accepted"] == 0
    assert answer["event_id"] is None
    assert [r["index"] for r in answer["rejected"]] == [0, 1]
    assert answer["rejected"][1]["reason"] == "measured_at: older than 30 days"
    assert not client.exists(TelemetryBatchReceived.stream)


def test_more_readings_than_the_limit_or_none_are_refused(
    gateway: ServiceProcess, client: redis.Redis
) -> None:
    client.delete(TelemetryBatchReceived.stream)
    too_many = send(gateway, [reading(f"dev-{i}") for i in range(501)])
    assert too_many.status_code == 422, too_many.text
    [error] = too_many.json()["detail"]
    assert error["loc"] == ["body", "readings"]
    assert "500" in error["msg"]
    assert send(gateway, []).status_code == 422
    assert not client.exists(TelemetryBatchReceived.stream)
    at_limit = send(gateway, [reading(f"dev-{i}") for i in range(500)])  # 240 KB: past the 64 KiB default
    assert at_limit.status_code == 202, at_limit.text
    assert at_limit.json()["accepted"] == 500


def test_a_region_where_maintenance_is_not_approved_is_451(
    gateway: ServiceProcess, client: redis.Redis
) -> None:
    client.delete(TelemetryBatchReceived.stream)
    # A device in HK (a device token uploads only in its own region).
    refused = send(gateway, [reading()], headers=device_headers("dev-tele-1", region="HK"), region="HK")
    assert refused.status_code == 451, refused.text
    assert refused.json()["detail"] == "maintenance is not approved in region HK (status: not_filed)"
    assert not client.exists(TelemetryBatchReceived.stream)


def test_health_is_what_maintenance_stored_and_404_without(
    gateway: ServiceProcess, client: redis.Redis
) -> None:
    # A record as maintenance stores it: the figures as they are, shown rounded, named, null for NaN.
    record = HealthRecord(
        last_us=T0_US,
        readings=42,
        battery_health_pct=91.5,
        battery_days_to_80=301.2,
        battery_days_to_80_low=250.0,
        battery_days_to_80_high=390.7,
        battery_cycles_to_80=800.0,
        battery_cycles_to_80_low=700.0,
        battery_cycles_to_80_high=900.0,
        battery_fade_pct_per_100_cycles=2.15,
        battery_history_days=30,
        storage_used=0.80237,
        storage_growth_per_day=0.0123456,
        storage_days_to_full=float("nan"),
        crashes_last_hour=1.25,
        crashes_last_day=3,
        reboots_last_hour=0.0,
        reboots_last_day=0,
        temperature_baseline_c=31.26,
        temperature_offset_c=1.04,
        open_alerts=[("b0a1c2d3-0000-4000-8000-000000000001", "crash_loop", "warning", T0_US)],
    )
    client.set(device_health_key("dev-health"), encode_health(record))
    found = read(gateway, "/v1/devices/dev-health/health", "dev-health")
    assert found.status_code == 200, found.text
    shown = found.json()
    assert shown == json.loads(json.dumps(health_view("dev-health", record)))
    assert shown["last_reading_at"] == "2026-03-01T08:00:00+00:00"
    assert (shown["storage_used_pct"], shown["storage_growth_pct_per_day"]) == (80.2, 1.235)
    assert shown["storage_days_to_full"] is None
    assert shown["open_alerts"][0]["raised_at"] == "2026-03-01T08:00:00+00:00"
    # One an earlier version stored as the finished document is shown as it is.
    summary = {"device_id": "dev-old", "readings": 42, "battery_health_pct": 91.5, "open_alerts": []}
    client.set(device_health_key("dev-old"), json.dumps(summary))
    assert read(gateway, "/v1/devices/dev-old/health", "dev-old").json() == summary
    # An unreadable one is the server's fault, said without echoing it.
    client.set(device_health_key("dev-garbled"), b"[7, 1, 2]")
    garbled = read(gateway, "/v1/devices/dev-garbled/health", "dev-garbled")
    assert garbled.status_code == 500
    assert garbled.json()["detail"] == "the health record of device dev-garbled is unreadable"
    missing = read(gateway, "/v1/devices/dev-never-seen/health", "dev-never-seen")
    assert missing.status_code == 404
    assert "dev-never-seen" in missing.json()["detail"]
    # An operator may read any device: the malformed id is what is refused, not the token.
    bad = httpx.get(
        f"{gateway.base_url}/v1/devices/bad%20id/health", headers=admin_headers(Role.OPERATOR), timeout=10
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["path", "device_id"]


def test_alerts_newest_first_filtered_by_status(gateway: ServiceProcess, client: redis.Redis) -> None:
    def alert(condition: str, raised_day: int, cleared_day: int | None = None) -> str:
        value = {
            "condition": condition,
            "severity": "warning",
            "status": "open" if cleared_day is None else "cleared",
            "raised_at": f"2026-11-{raised_day:02d}T08:00:00+00:00",
        }
        if cleared_day is not None:
            value["cleared_at"] = f"2026-11-{cleared_day:02d}T08:00:00+00:00"
        return json.dumps(value)

    client.hset(
        device_alerts_key("dev-alerts"),
        mapping={
            "a-heat": alert("overheating", 3, cleared_day=4),
            "a-battery": alert("battery_wear", 10),
            "a-storage": alert("storage_full", 20),
        },
    )

    def alerts(status: str | None = None) -> list[dict[str, Any]]:
        params = {"status": status} if status else {}
        response = read(gateway, "/v1/devices/dev-alerts/alerts", "dev-alerts", **params)
        assert response.status_code == 200, response.text
        body: list[dict[str, Any]] = response.json()
        return body

    assert [a["alert_id"] for a in alerts()] == ["a-storage", "a-battery"]
    assert [a["alert_id"] for a in alerts("all")] == ["a-storage", "a-battery", "a-heat"]
    [cleared] = alerts("cleared")
    assert cleared["condition"] == "overheating"
    assert cleared["cleared_at"] == "2026-11-04T08:00:00+00:00"
    none = read(gateway, "/v1/devices/dev-quiet/alerts", "dev-quiet")
    assert none.status_code == 200
    assert none.json() == []
    wrong = read(gateway, "/v1/devices/dev-alerts/alerts", "dev-alerts", status="x")
    assert wrong.status_code == 422
