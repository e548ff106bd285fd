"""The per-read logic: grouping by device, time order, refusals by reason, alert changes and their origin."""

from __future__ import annotations

import json
import random
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

from lingxi.device_health import encode_health, health_view
from lingxi.devices import DeviceModel
from lingxi.events.base import Region
from lingxi.events.maintenance import (
    AlertCondition,
    ChargingState,
    TelemetryBatchReceived,
    TelemetryReported,
    ThermalState,
)
from lingxi_maintenance.alerts import RaisedAlert
from lingxi_maintenance.health import assess, health_record
from lingxi_maintenance.heat import FleetModels
from lingxi_maintenance.ingest import MAX_CLOCK_SKEW, Incoming, RefusalReason, ingest
from lingxi_maintenance.readings import Reading, sample_reading
from lingxi_maintenance.state import DeviceState

GB = 1_000_000_000
T0 = datetime(2026, 3, 2, tzinfo=UTC)
HOUR = timedelta(hours=1)
MODELS = {"LX-A": DeviceModel("LX-A", 5000), "LX-B": DeviceModel("LX-B", 4500)}


def reading(at: datetime, device: str = "dev-1", **overrides: object) -> Reading:
    return sample_reading(at, device, **overrides)


def incoming(*readings: Reading, reported_at: datetime | None = None) -> list[Incoming]:
    """Each reading as its own input event (origin = its index), reported when measured."""
    return [Incoming(r, reported_at or r.measured_at, i) for i, r in enumerate(readings)]


def test_readings_are_grouped_by_device_and_assessed_in_time_order() -> None:
    a = [reading(T0 + k * HOUR, "dev-a", temperature_c=30.0 + k % 3) for k in range(12)]
    b = [reading(T0 + k * HOUR, "dev-b", device_model="LX-B", design_capacity_mah=4500) for k in range(12)]
    shuffled = a + b
    random.Random(7).shuffle(shuffled)
    outcome = ingest(incoming(*shuffled), {}, FleetModels(), MODELS)

    # The same readings fed one device at a time, in order, give the same states.
    expected: dict[str, DeviceState] = {}
    models = FleetModels()
    for device, readings in (("dev-a", a), ("dev-b", b)):
        state = None
        for r in readings:
            state = assess(state, r, models).state
        assert state is not None
        health_record(state)  # as ingest does: it fills the state's cached battery figures
        expected[device] = state
    assert set(outcome.states) == {"dev-a", "dev-b"}
    for device, state in expected.items():
        assert outcome.states[device].to_bytes() == state.to_bytes()
        assert outcome.records[device].readings == 12
        assert health_view(device, outcome.records[device])["last_reading_at"] == (T0 + 11 * HOUR).isoformat()
    assert outcome.assessed == 24
    assert not outcome.refused
    assert not outcome.ignored  # in time order none is late


def test_stored_states_are_continued_and_duplicates_change_nothing() -> None:
    first = ingest(incoming(reading(T0), reading(T0 + HOUR)), {}, FleetModels(), MODELS)
    stored = first.states["dev-1"].to_bytes()
    again = ingest(
        incoming(reading(T0 + HOUR), reading(T0 + 2 * HOUR)),
        {"dev-1": DeviceState.from_bytes(stored)},
        FleetModels(),
        MODELS,
    )
    assert again.states["dev-1"].readings == 3
    assert again.ignored == {"duplicate": 1}

    replay = ingest(incoming(reading(T0)), {"dev-1": DeviceState.from_bytes(stored)}, FleetModels(), MODELS)
    assert replay.states == {}  # nothing used: nothing to write
    assert replay.ignored == {"duplicate": 1}


def test_refusals_name_their_reason_and_origin() -> None:
    good = reading(T0)
    items = [
        Incoming(reading(T0, "dev-u", device_model="LX-NOPE"), T0, 0),
        Incoming(reading(T0, "dev-c", design_capacity_mah=4000), T0, 1),
        Incoming(reading(T0 + MAX_CLOCK_SKEW + timedelta(seconds=1), "dev-s"), T0, 2),
        Incoming(reading(T0, "dev-i", storage_used_bytes=300 * GB), T0, 3),
        Incoming(good, T0, 4),
        # Measured just within the allowed skew after its report: accepted.
        Incoming(reading(T0 + MAX_CLOCK_SKEW, "dev-ok"), T0, 5),
    ]
    outcome = ingest(items, {}, FleetModels(), MODELS)
    refused = {r.device_id: r for r in outcome.refused}
    assert {d: r.reason for d, r in refused.items()} == {
        "dev-u": RefusalReason.UNKNOWN_MODEL,
        "dev-c": RefusalReason.DESIGN_CAPACITY_MISMATCH,
        "dev-s": RefusalReason.CLOCK_SKEW,
        "dev-i": RefusalReason.INVALID_READING,
    }
    assert [refused[d].origin for d in ("dev-u", "dev-c", "dev-s", "dev-i")] == [0, 1, 2, 3]
    assert "LX-NOPE" in refused["dev-u"].detail
    assert "4000" in refused["dev-c"].detail
    assert "5000" in refused["dev-c"].detail
    assert "storage_used_bytes" in refused["dev-i"].detail
    assert set(outcome.states) == {"dev-1", "dev-ok"}
    assert outcome.assessed == 2


def test_a_refused_reading_leaves_the_state_and_the_fleet_untouched() -> None:
    models = FleetModels()
    state = ingest(incoming(reading(T0), reading(T0 + HOUR)), {}, models, MODELS).states["dev-1"]
    before, fleet_before = state.to_bytes(), models.to_dict()
    bad = [
        reading(T0 + 2 * HOUR, design_capacity_mah=4500),
        reading(T0 + 2 * HOUR, device_model="LX-B"),  # its capacity is LX-A's
        reading(T0 + 2 * HOUR, temperature_c=float("nan")),
        reading(T0 + 2 * HOUR, app_crash_count=-1),
    ]
    outcome = ingest(incoming(*bad), {"dev-1": state}, models, MODELS)
    assert len(outcome.refused) == len(bad)
    assert outcome.states == {}
    assert outcome.changes == []
    assert state.to_bytes() == before
    assert models.to_dict() == fleet_before
    # A new device whose only reading is refused gets no state at all.
    assert ingest(incoming(reading(T0, "dev-new", device_model="LX-X")), {}, models, MODELS).states == {}


def test_alert_changes_carry_the_origin_of_the_reading_that_made_them() -> None:
    calm = [reading(T0 + k * timedelta(minutes=10), "dev-calm") for k in range(6)]
    burst = [reading(T0 + k * timedelta(minutes=10), "dev-crashy", app_crash_count=4) for k in range(6)]
    items = [Incoming(r, r.measured_at, 0) for r in calm] + [Incoming(r, r.measured_at, 1) for r in burst]
    outcome = ingest(items, {"dev-calm": None}, FleetModels(), MODELS)
    assert outcome.changes, "four crashes every ten minutes is a crash loop"
    for item in outcome.changes:
        assert item.origin == 1
        assert item.change.device_id == "dev-crashy"
    raised = outcome.changes[0].change
    assert isinstance(raised, RaisedAlert)
    assert raised.condition == AlertCondition.CRASH_LOOP
    assert [alert[0] for alert in outcome.records["dev-crashy"].open_alerts] == [str(raised.alert_id)]
    assert outcome.records["dev-calm"].open_alerts == []


def test_either_event_shape_is_assessed_as_the_plain_reading_is() -> None:
    changes = {
        "battery_level": 55,
        "full_charge_capacity_mah": 4400,
        "cycle_count": 321,
        "temperature_c": 33.5,
    }
    changes |= {"voltage_mv": 3880, "current_ma": 1200, "charging_state": ChargingState.CHARGING}
    changes |= {"thermal_state": ThermalState.LIGHT, "app_crash_count": 2, "reboot_count": 1}
    event = TelemetryReported(region=Region.CN, **asdict(reading(T0, "dev-9", **changes)))
    fields = event.model_dump(mode="json", include=set(Reading.__dataclass_fields__))
    batch = TelemetryBatchReceived.model_validate_json(json.dumps({"region": "CN", "readings": [fields]}))
    plain = reading(T0, "dev-9", **{k: v for k, v in fields.items() if k not in ("measured_at", "device_id")})
    outcomes = [
        ingest([Incoming(r, T0, 0)], {}, FleetModels(), MODELS) for r in (plain, event, batch.readings[0])
    ]
    for outcome in outcomes:
        assert outcome.assessed == 1
        assert outcome.states["dev-9"].to_bytes() == outcomes[0].states["dev-9"].to_bytes()
        assert encode_health(outcome.records["dev-9"]) == encode_health(outcomes[0].records["dev-9"])
