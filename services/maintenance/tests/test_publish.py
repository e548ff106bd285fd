"""Publishing a simulated fleet: batches onto the TelemetryBatchReceived stream of a real Redis, or through a
real gateway process; the pace held to the rate; an unreachable destination is one line and exit 1."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest
import redis
from lingxi.auth import Role
from lingxi.cli.main import app
from lingxi.events.base import Region
from lingxi.events.compliance import (
    FEATURE_REGISTRY_KEY,
    FEATURE_REGISTRY_VERSION_KEY,
    FeatureRecord,
    FeatureStatus,
    FeatureStatusChange,
)
from lingxi.events.maintenance import TelemetryBatchReceived
from lingxi.localredis import free_port
from lingxi.runtime.envelope import decode_entry
from lingxi.testing.processes import ServiceProcess
from lingxi.testing.tokens import admin_token
from lingxi_maintenance.cli import reading_json
from lingxi_maintenance.fleet import Fleet, FleetConfig
from lingxi_maintenance.publish import (
    Outgoing,
    PublishError,
    StreamPublisher,
    TokenBucket,
    publish,
)
from typer.testing import CliRunner

STREAM = TelemetryBatchReceived.stream


def outgoing(devices: int = 20, days: int = 3) -> list[Outgoing]:
    config = FleetConfig(devices=devices, days=days, seed=11)
    return [Outgoing(d.reported_at, reading_json(d.reading)) for d in Fleet(config).deliveries()]


def entries(client: redis.Redis) -> list[TelemetryBatchReceived]:
    found: list[tuple[bytes, dict[bytes, bytes]]] = client.xrange(STREAM)  # type: ignore[assignment]
    return [TelemetryBatchReceived.model_validate_json(decode_entry(fields)[0]) for _, fields in found]


def stream_publisher(client: redis.Redis, region: Region = Region.CN) -> StreamPublisher:
    return StreamPublisher(client, region, "test Redis")


def test_stream_entries_carry_every_reading_in_order(redis_client: redis.Redis) -> None:
    items = outgoing()
    tally = publish(items, stream_publisher(redis_client, Region.HK), batch=100)

    assert (tally.sent, tally.accepted, tally.rejected) == (len(items), len(items), 0)
    batches = entries(redis_client)
    assert len(batches) == math.ceil(len(items) / 100)
    assert [len(b.readings) for b in batches[:-1]] == [100] * (len(batches) - 1)
    published = [r for b in batches for r in b.readings]
    assert [(r.device_id, r.measured_at) for r in published] == [
        (o.reading["device_id"], datetime.fromisoformat(o.reading["measured_at"])) for o in items
    ]
    assert published[7].battery_level == items[7].reading["battery_level"]
    assert all(b.region is Region.HK for b in batches)
    # A batch happened when its last reading reached Lingxi in the simulation.
    assert batches[0].occurred_at == max(o.reported_at for o in items[:100])
    assert len({b.event_id for b in batches}) == len(batches)


def test_a_reading_that_fails_validation_is_left_out_and_counted(redis_client: redis.Redis) -> None:
    items = outgoing(devices=5, days=2)[:30]
    bad = items[4]
    items[4] = Outgoing(bad.reported_at, {**bad.reading, "battery_level": 140})
    tally = publish(items, stream_publisher(redis_client), batch=10)

    assert (tally.accepted, tally.rejected) == (29, 1)
    [(reason, count)] = tally.reasons.items()
    assert reason.startswith("battery_level")
    assert count == 1
    assert [len(b.readings) for b in entries(redis_client)] == [9, 10, 10]


def test_the_rate_is_held(redis_client: redis.Redis) -> None:
    items = outgoing(devices=20, days=3)[:600]
    assert len(items) == 600
    rate = 2000.0
    began = time.monotonic()
    tally = publish(items, stream_publisher(redis_client), rate=rate, batch=50)
    elapsed = time.monotonic() - began
    assert tally.accepted == 600
    assert elapsed >= 0.8 * 600 / rate


def test_the_bucket_never_lets_more_through_than_the_rate_allows() -> None:
    now = [0.0]
    bucket = TokenBucket(100.0, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    for _ in range(5):
        bucket.take(50)
    assert now[0] >= 2.5  # 250 readings at 100 a second
    now[0] += 60.0  # a long stall saves up at most a second's worth
    before = now[0]
    bucket.take(100)
    bucket.take(100)
    assert now[0] - before >= 1.0


def test_a_batch_larger_than_the_destination_takes_is_refused(redis_client: redis.Redis) -> None:
    with pytest.raises(ValueError, match="between 1 and 1000"):
        publish(outgoing(devices=2, days=2), stream_publisher(redis_client), batch=1001)


def test_a_lost_redis_stops_publishing_with_the_reason() -> None:
    client = redis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    with pytest.raises(PublishError, match="cannot write to test Redis"):
        publish(outgoing(devices=2, days=2), stream_publisher(client), batch=100)


runner = CliRunner()
OPERATOR = admin_token(Role.OPERATOR)
AUDITOR = admin_token(Role.AUDITOR)


def simulate(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["simulate", "telemetry", "--devices", "10", "--days", "3", *args])
    return result.exit_code, result.output


def test_the_command_publishes_to_the_stream_and_writes_the_truth(
    redis_client: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    code, output = simulate(
        "--publish", "stream", "--redis-url", redis_url, "--batch", "200", "-o", str(tmp_path)
    )
    assert code == 0, output
    readings = sum(len(b.readings) for b in entries(redis_client))
    assert readings > 0
    assert f"sent {readings:,} readings to Redis at {redis_url}" in output
    assert f"{readings:,} accepted, 0 rejected" in output
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert len(truth["devices"]) == 10
    assert not (tmp_path / "telemetry.jsonl").exists()


def test_unreachable_destinations_are_one_line_and_exit_1(tmp_path: Path) -> None:
    dead = free_port()
    folder = str(tmp_path)
    code, output = simulate("--publish", "stream", "--redis-url", f"redis://127.0.0.1:{dead}/0", "-o", folder)
    assert code == 1
    assert f"cannot reach Redis at redis://127.0.0.1:{dead}/0" in output
    code, output = simulate(
        "--publish", "gateway", "--gateway-url", f"http://127.0.0.1:{dead}", "--token", OPERATOR, "-o", folder
    )
    assert code == 1
    assert f"cannot reach the gateway at http://127.0.0.1:{dead}" in output
    assert "after 0 readings sent" in output


def approve_maintenance_in_cn(redis_url: str) -> None:
    """Maintenance approved in CN as compliance records it (no compliance process needed)."""
    now = datetime.now(UTC)
    change = FeatureStatusChange(
        status=FeatureStatus.APPROVED,
        filing_number="DEV-MAINTENANCE-0001",
        effective_at=now - timedelta(days=1),
        changed_by="admin:test",
        request_id=uuid4(),
        recorded_at=now,
    )
    record = FeatureRecord(feature="maintenance", region=Region.CN, changes=(change,))
    client = redis.Redis.from_url(redis_url)
    client.hset(FEATURE_REGISTRY_KEY, FeatureRecord.field_name("maintenance", "CN"), record.model_dump_json())
    client.incr(FEATURE_REGISTRY_VERSION_KEY)
    client.close()


@pytest.fixture
def gateway(start_service: Callable[..., ServiceProcess], redis_url: str) -> ServiceProcess:
    approve_maintenance_in_cn(redis_url)
    return start_service("gateway", "gateway-publish")


@pytest.mark.e2e
def test_the_command_publishes_through_the_gateway(
    gateway: ServiceProcess, redis_client: redis.Redis, tmp_path: Path
) -> None:
    code, output = simulate(
        "--publish", "gateway", "--gateway-url", gateway.base_url, "--token", OPERATOR, "-o", str(tmp_path)
    )
    assert code == 0, output
    published = entries(redis_client)
    accepted = sum(len(b.readings) for b in published)
    assert accepted > 0
    assert f"{accepted:,} accepted" in output
    assert max(len(b.readings) for b in published) <= 500
    # The fleet was placed to end today, so the gateway's age and clock rules let its readings in.
    latest = max(r.measured_at for b in published for r in b.readings)
    assert latest < datetime.now(UTC) + timedelta(minutes=5)
    assert (tmp_path / "truth.json").is_file()

    code, output = simulate(
        "--publish", "gateway", "--gateway-url", gateway.base_url, "--token", OPERATOR, "--region", "HK"
    )
    assert code == 1
    assert "refused a batch: 451" in output
    assert "maintenance is not approved in region HK" in output

    code, output = simulate("--publish", "gateway", "--gateway-url", gateway.base_url, "--token", AUDITOR)
    assert code == 1
    assert "refused a batch: 403" in output
    assert "the role operator" in output


def test_publishing_through_the_gateway_needs_a_token(tmp_path: Path) -> None:
    code, output = simulate("--publish", "gateway", "-o", str(tmp_path))
    assert code == 2
    assert "needs an operator's admin" in output  # the rest is wrapped in a box
    assert "LINGXI_TOKEN" in output
