"""Maintenance's Redis on a real Redis: states, the gateway's read models, the shared fleet models, and
the service's handler path from telemetry events to stored records and published alerts."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
import redis
from lingxi.device_health import HealthRecord, decode_health, encode_health, health_view
from lingxi.devices import DeviceModel, known_models
from lingxi.events.base import Region
from lingxi.events.maintenance import (
    AlertCondition,
    AlertRaised,
    AlertSeverity,
    TelemetryBatchReceived,
    device_alerts_key,
    device_health_key,
)
from lingxi.runtime.delivery import Outbox
from lingxi_maintenance.alerts import ClearedAlert, RaisedAlert, alert_id
from lingxi_maintenance.health import DEFAULT_SETTINGS, summarize
from lingxi_maintenance.heat import FleetModels
from lingxi_maintenance.ingest import Incoming, IngestOutcome, OriginChange, ingest
from lingxi_maintenance.readings import Reading, sample_reading
from lingxi_maintenance.store import (
    FLEET_KEY,
    LearningFleet,
    Loaded,
    MaintenanceStore,
    SharedFleet,
    announcement_key,
    state_key,
)
from prometheus_client import REGISTRY
from redis.asyncio import Redis

GB = 1_000_000_000
T0 = datetime(2026, 3, 2, tzinfo=UTC)
HOUR = timedelta(hours=1)
MODELS = {"LX-A": DeviceModel("LX-A", 5000)}


@pytest.fixture
async def client(redis_client: redis.Redis, redis_url: str) -> AsyncIterator[Redis]:
    async_client = Redis.from_url(redis_url)
    yield async_client
    await async_client.aclose()


async def get(client: Redis, key: str) -> bytes | str:
    value = await client.get(key)
    assert value is not None, f"{key} is not stored"
    return value


async def hget(client: Redis, key: str, field: str) -> bytes | str:
    value = await client.hget(key, field)
    assert value is not None, f"{key} has no {field}"
    return value


def reading(at: datetime, device: str = "dev-1", **overrides: object) -> Reading:
    return sample_reading(at, device, **overrides)


def crash_burst(device: str, start: datetime = T0) -> list[Incoming]:
    return [
        Incoming(r, r.measured_at, 0)
        for r in (reading(start + k * timedelta(minutes=10), device, app_crash_count=4) for k in range(6))
    ]


def raised(device: str, at: datetime) -> RaisedAlert:
    return RaisedAlert(
        alert_id(device, AlertCondition.CRASH_LOOP, 1),
        device,
        AlertCondition.CRASH_LOOP,
        AlertSeverity.WARNING,
        at,
        {"crashes_last_hour": 9.0},
        "应用频繁崩溃。",
        "Apps keep crashing.",
    )


def cleared(alert: RaisedAlert, at: datetime) -> ClearedAlert:
    return ClearedAlert(alert.alert_id, alert.device_id, alert.condition, at, {"crashes_last_day": 0})


async def test_states_round_trip_and_the_health_summary_is_written_beside_them(client: Redis) -> None:
    store = MaintenanceStore(client)
    nothing = await store.load_states(["dev-1", "dev-2"])
    assert nothing == Loaded({"dev-1": None, "dev-2": None}, {"dev-1": b"", "dev-2": b""}, [])
    outcome = ingest(crash_burst("dev-1"), {}, FleetModels(), MODELS)
    assert await store.save(outcome, nothing.stored) == []

    loaded = await store.load_states(["dev-1", "dev-2", "dev-1"])
    assert loaded.unreadable == []
    assert loaded.states["dev-2"] is None
    state = loaded.states["dev-1"]
    assert state is not None
    assert state.to_bytes() == outcome.states["dev-1"].to_bytes() == loaded.stored["dev-1"]
    assert 0 < await client.ttl(state_key("dev-1")) <= store.state_ttl_s

    raw = await get(client, device_health_key("dev-1"))
    assert raw == encode_health(outcome.records["dev-1"])
    stored_record = decode_health(raw)
    assert isinstance(stored_record, HealthRecord)
    health = health_view("dev-1", stored_record)
    assert health == summarize("dev-1", state)
    assert health["readings"] == 6
    assert health["open_alerts"][0]["condition"] == "crash_loop"

    # The raise is in the alerts hash with what the gateway shows.
    records = await client.hgetall(device_alerts_key("dev-1"))
    assert len(records) == 1
    record = json.loads(next(iter(records.values())))
    assert record["status"] == "open"
    assert record["cleared_at"] is None
    assert record["alert_id"] == health["open_alerts"][0]["alert_id"]
    assert record["recommended_action_zh"]
    assert record["recommended_action_en"]
    assert 0 < await client.ttl(device_alerts_key("dev-1")) <= store.alerts_ttl_s


async def test_an_unreadable_state_is_reported_and_starts_over(client: Redis) -> None:
    await client.set(state_key("dev-1"), b"\xffnot a state")
    store = MaintenanceStore(client)
    loaded = await store.load_states(["dev-1"])
    assert loaded.states == {"dev-1": None}
    assert loaded.unreadable == ["dev-1"]
    # Written over: the compare-and-set expects the bytes that were there, whatever they were.
    outcome = ingest(crash_burst("dev-1"), loaded.states, FleetModels(), MODELS)
    assert await store.save(outcome, loaded.stored) == []
    assert (await store.load_states(["dev-1"])).unreadable == []


async def test_a_state_written_meanwhile_is_left_alone_with_its_alerts_and_named(client: Redis) -> None:
    store = MaintenanceStore(client)
    mine, theirs = await store.load_states(["dev-1"]), await store.load_states(["dev-1"])
    calm = reading(T0 - HOUR)
    first = ingest([Incoming(calm, calm.measured_at, 0)], theirs.states, FleetModels(), MODELS)
    assert await store.save(first, theirs.stored) == []  # the other replica writes first
    written = await get(client, state_key("dev-1"))

    burst = ingest(crash_burst("dev-1"), mine.states, FleetModels(), MODELS)
    assert burst.changes, "the burst raises a crash loop alert"
    notes = [("input-2", "raised") for _ in burst.changes]
    assert await store.save(burst, mine.stored, notes) == ["dev-1"]
    assert await get(client, state_key("dev-1")) == written
    assert await client.exists(device_alerts_key("dev-1")) == 0
    assert await store.announced(["input-2"]) == {}

    # On the state now stored it goes through, with its alert changes and their announcements.
    again = await store.load_states(["dev-1"])
    redone = ingest(crash_burst("dev-1"), again.states, FleetModels(), MODELS)
    notes = [("input-2", f"change {k}") for k in range(len(redone.changes))]
    assert await store.save(redone, again.stored, notes) == []
    assert redone.states["dev-1"].readings == 7
    assert await client.hlen(device_alerts_key("dev-1")) == len(redone.changes) == 1
    assert await store.announced(["input-1", "input-2"]) == {"input-2": ["change 0"]}
    assert 0 < await client.ttl(announcement_key("input-2")) <= store.announcement_ttl_s


async def test_clearing_keeps_the_raise_and_prunes_long_cleared_alerts(client: Redis) -> None:
    store = MaintenanceStore(client, alerts_ttl_s=30 * 24 * 3600)
    old = raised("dev-1", T0)
    await store.save(IngestOutcome(changes=[OriginChange(0, old)]))
    await store.save(IngestOutcome(changes=[OriginChange(0, cleared(old, T0 + HOUR))]))
    record = json.loads(await hget(client, device_alerts_key("dev-1"), str(old.alert_id)))
    assert record["status"] == "cleared"
    assert record["cleared_at"] == (T0 + HOUR).isoformat()
    assert record["cleared_evidence"] == {"crashes_last_day": 0}
    assert record["severity"] == "warning"
    assert record["recommended_action_zh"] == "应用频繁崩溃。"
    assert record["evidence"] == {"crashes_last_hour": 9.0}

    # 40 days later another alert clears: the one cleared long ago goes, the open one stays.
    later = T0 + timedelta(days=40)
    new = replace(raised("dev-1", later), alert_id=alert_id("dev-1", AlertCondition.CRASH_LOOP, 2))
    still_open = replace(raised("dev-1", later), alert_id=alert_id("dev-1", AlertCondition.REBOOT_STORM, 3))
    await store.save(IngestOutcome(changes=[OriginChange(0, new), OriginChange(0, still_open)]))
    await store.save(IngestOutcome(changes=[OriginChange(0, cleared(new, later + HOUR))]))
    keys = await client.hkeys(device_alerts_key("dev-1"))
    ids = {key.decode() if isinstance(key, bytes) else key for key in keys}
    assert ids == {str(new.alert_id), str(still_open.alert_id)}


async def test_a_clear_whose_raise_is_gone_is_recorded_without_it(client: Redis) -> None:
    alert = raised("dev-1", T0)
    await MaintenanceStore(client).save(IngestOutcome(changes=[OriginChange(0, cleared(alert, T0 + HOUR))]))
    record = json.loads(await hget(client, device_alerts_key("dev-1"), str(alert.alert_id)))
    assert record["status"] == "cleared"
    assert record["severity"] is None
    assert record["raised_at"] is None
    assert record["condition"] == "crash_loop"


def test_the_learning_fleet_records_what_it_learned_after_clipping() -> None:
    settings = replace(DEFAULT_SETTINGS, heat_warmup_readings=5, heat_memory_readings=1000)
    fleet, plain = LearningFleet(), FleetModels()
    for temperature in (30.0, 31.0, 30.5, 29.5, 30.0, 90.0, 30.2):  # 90 °C is clipped once warm
        fleet.learn("LX-A", "idle", temperature, settings)
        plain.learn("LX-A", "idle", temperature, settings)
    learned = fleet.take_learned().to_dict()["LX-A"]["idle"]
    model = plain.to_dict()["LX-A"]["idle"]
    assert learned["n"] == 7
    assert learned["mean"] == pytest.approx(model["mean"], abs=1e-9)
    assert learned["var"] == pytest.approx(model["var"], rel=1e-9)
    assert learned["mean"] < 35.0  # the outlier counted clipped, not as 90 °C
    assert fleet.take_learned().to_dict() == {}  # taken: recording starts afresh


async def test_replicas_share_what_they_learn_without_counting_it_twice(client: Redis) -> None:
    a, b = SharedFleet(client, every_s=0), SharedFleet(client, every_s=0)
    for _k in range(10):
        a.models.learn("LX-A", "idle", 30.0, DEFAULT_SETTINGS)
        b.models.learn("LX-A", "idle", 34.0, DEFAULT_SETTINGS)
    b.models.learn("LX-A", "charge", 36.0, DEFAULT_SETTINGS)
    await a.sync()
    await b.sync()
    await a.sync()  # nothing new: syncing again must not add the shared readings once more
    await b.sync()
    for replica in (a, b):
        idle = replica.models.get("LX-A", "idle")
        assert idle is not None
        assert idle.n == 20
        assert idle.mean.get() == pytest.approx(32.0)
        assert replica.models.get("LX-A", "charge") is not None
    stored = json.loads(await get(client, FLEET_KEY))
    assert stored["LX-A"]["idle"]["n"] == 20

    # What a replica learns after a sync reaches the other at their next syncs.
    a.models.learn("LX-A", "idle", 32.0, DEFAULT_SETTINGS)
    assert await a.maybe_sync()
    assert await b.maybe_sync()
    idle_b = b.models.get("LX-A", "idle")
    assert idle_b is not None
    assert idle_b.n == 21


def crash_loops_raised() -> float:
    """``lingxi_maintenance_alerts_total`` for raised crash loops, whatever their severity."""
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "lingxi_maintenance_alerts"
        for sample in metric.samples
        if sample.name.endswith("_total")
        and sample.labels.get("condition") == "crash_loop"
        and sample.labels.get("change") == "raised"
    )


async def test_the_handler_stores_the_read_and_publishes_alerts_caused_by_their_batch(
    client: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lingxi.runtime import HandlerContext
    from lingxi_maintenance import app

    monkeypatch.setattr(app, "store", MaintenanceStore(client))
    monkeypatch.setattr(app, "fleet", SharedFleet(client))
    code, model = next(iter(known_models().items()))
    fields = {
        "device_model": code,
        "battery_level": 60,
        "full_charge_capacity_mah": model.design_capacity_mah - 200,
        "design_capacity_mah": model.design_capacity_mah,
        "cycle_count": 200,
        "temperature_c": 31.0,
        "voltage_mv": 3900,
        "current_ma": -150,
        "charging_state": "discharging",
        "thermal_state": "none",
        "storage_used_bytes": 100 * GB,
        "storage_total_bytes": 256 * GB,
        "reboot_count": 0,
        "os_version": "LingOS 5.1.0",
    }
    now = datetime.now(UTC).replace(microsecond=0)

    def batch(device: str, crashes: int, **extra: object) -> TelemetryBatchReceived:
        readings = [
            {
                **fields,
                **extra,
                "device_id": device,
                "app_crash_count": crashes,
                "measured_at": (now - timedelta(minutes=10 * (5 - k))).isoformat(),
            }
            for k in range(6)
        ]
        return TelemetryBatchReceived.model_validate_json(json.dumps({"region": "CN", "readings": readings}))

    calm, crashy, unknown = (
        batch("dev-calm", 0),
        batch("dev-crashy", 4),
        batch("dev-x", 0, device_model="NOPE"),
    )
    inputs = [calm, crashy, unknown]
    refused_before = REGISTRY.get_sample_value(
        "lingxi_maintenance_readings_refused_total", {"source": "gateway", "reason": "unknown_model"}
    )
    alerts_before = crash_loops_raised()
    outbox = Outbox()
    ctx = HandlerContext(app.service, outbox, {e.event_id: f"corr-{i}" for i, e in enumerate(inputs)}, None)
    await app.on_telemetry_batches(inputs, ctx)

    assert [o.stream for o in outbox.outputs] == [AlertRaised.stream]
    assert outbox.outputs[0].owner == crashy.event_id
    event = AlertRaised.model_validate_json(json.loads(outbox.outputs[0].payload)["data"])
    assert event.causation_id == crashy.event_id
    assert event.region == Region.CN
    assert event.device_id == "dev-crashy"
    assert event.condition == AlertCondition.CRASH_LOOP
    assert crash_loops_raised() == alerts_before + 1  # and counted
    record = json.loads(await hget(client, device_alerts_key("dev-crashy"), str(event.alert_id)))
    assert record["recommended_action_en"] == event.recommended_action_en
    assert await client.exists(device_health_key("dev-calm"), device_health_key("dev-crashy")) == 2
    assert await client.exists(state_key("dev-x"), device_health_key("dev-x")) == 0
    refused_after = REGISTRY.get_sample_value(
        "lingxi_maintenance_readings_refused_total", {"source": "gateway", "reason": "unknown_model"}
    )
    assert refused_after == (refused_before or 0.0) + 6
    assert json.loads(await get(client, FLEET_KEY))  # the fleet models were shared

    # The same inputs again (a read whose commit never happened): the readings are duplicates now, and
    # the alert event the first attempt stored is published again, the same event.
    again = Outbox()
    await app.on_telemetry_batches(inputs, HandlerContext(app.service, again, ctx.correlation_ids, None))
    assert again.outputs == outbox.outputs
    assert await client.hlen(device_alerts_key("dev-crashy")) == 1

    # The same readings in new batches (a handset uploading twice): nothing to publish.
    copies = [b.model_copy(update={"event_id": uuid4()}) for b in inputs]
    twice = Outbox()
    await app.on_telemetry_batches(
        copies, HandlerContext(app.service, twice, {e.event_id: "c" for e in copies}, None)
    )
    assert twice.outputs == []


async def test_the_handler_assesses_again_a_device_another_replica_wrote_meanwhile(
    client: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lingxi.runtime import HandlerContext
    from lingxi_maintenance import app

    code, model = next(iter(known_models().items()))
    now = datetime.now(UTC).replace(microsecond=0)

    def one(at: datetime) -> Reading:
        return replace(reading(at), device_model=code, design_capacity_mah=model.design_capacity_mah)

    other_replica = MaintenanceStore(client)

    class Racing(MaintenanceStore):
        """Our store, with another replica's write landing between our first load and our save."""

        raced = False

        async def load_stored(self, device_ids: Iterable[str]) -> dict[str, bytes]:
            loaded = await super().load_stored(device_ids)
            if not self.raced:
                self.raced = True
                theirs = await other_replica.load_states(["dev-1"])
                early = one(now - 2 * HOUR)
                outcome = ingest([Incoming(early, now, 0)], theirs.states, FleetModels(), known_models())
                assert await other_replica.save(outcome, theirs.stored) == []
            return loaded

    monkeypatch.setattr(app, "store", Racing(client))
    monkeypatch.setattr(app, "fleet", SharedFleet(client))
    conflicts_before = REGISTRY.get_sample_value("lingxi_maintenance_state_conflicts_total") or 0.0
    batch = TelemetryBatchReceived.model_validate_json(
        json.dumps(
            {
                "region": "CN",
                "readings": [{**asdict(one(now - HOUR)), "measured_at": (now - HOUR).isoformat()}],
            }
        )
    )
    await app.on_telemetry_batches(
        [batch], HandlerContext(app.service, Outbox(), {batch.event_id: "c"}, None)
    )

    state = (await app.store.load_states(["dev-1"])).states["dev-1"]
    assert state is not None
    assert state.readings == 2  # both replicas' readings are in the state: none was overwritten
    assert REGISTRY.get_sample_value("lingxi_maintenance_state_conflicts_total") == conflicts_before + 1
