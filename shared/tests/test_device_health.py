"""The device health record: stored as maintenance writes it, shown as the gateway serves it."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest
from lingxi.device_health import (
    HEALTH_RECORD_VERSION,
    HealthRecord,
    decode_health,
    encode_health,
    health_view,
)

T0 = datetime(2026, 3, 1, 8, 30, 15, 250_000, tzinfo=UTC)
T0_US = int(T0.timestamp() * 1_000_000)
NAN = math.nan


def record(**changes: object) -> HealthRecord:
    base = HealthRecord(
        last_us=T0_US,
        readings=12,
        battery_health_pct=88.4,
        battery_days_to_80=412.3,
        battery_days_to_80_low=300.1,
        battery_days_to_80_high=600.9,
        battery_cycles_to_80=610.0,
        battery_cycles_to_80_low=540.0,
        battery_cycles_to_80_high=700.0,
        battery_fade_pct_per_100_cycles=1.87,
        battery_history_days=40,
        storage_used=0.91234,
        storage_growth_per_day=0.0051234,
        storage_days_to_full=8.06,
        crashes_last_hour=2.345,
        crashes_last_day=7,
        reboots_last_hour=0.0,
        reboots_last_day=1,
        temperature_baseline_c=30.06,
        temperature_offset_c=-0.96,
        open_alerts=[
            ("2b1f0c9e-8d7a-4b6c-9e5d-4c3b2a190807", "storage_full", "warning", T0_US - 3_600_000_000)
        ],
    )
    return base._replace(**changes)


def test_a_record_round_trips_and_no_estimate_is_null_in_the_store() -> None:
    new = record(battery_health_pct=NAN, battery_days_to_80=NAN, temperature_baseline_c=NAN)
    raw = encode_health(new)
    stored = json.loads(raw)
    assert stored[0] == HEALTH_RECORD_VERSION
    assert stored[3] is None  # NaN is written as null
    assert stored[4] is None
    back = decode_health(raw)
    assert isinstance(back, HealthRecord)
    assert encode_health(back) == raw
    assert math.isnan(back.battery_health_pct)
    assert back.open_alerts == new.open_alerts


def test_the_view_rounds_names_and_dates_the_figures() -> None:
    view = health_view("dev-1", record())
    assert view["device_id"] == "dev-1"
    assert view["last_reading_at"] == T0.isoformat()
    assert view["readings"] == 12
    assert view["battery_health_pct"] == 88.4
    assert view["storage_used_pct"] == 91.2
    assert view["storage_growth_pct_per_day"] == 0.512
    assert view["storage_days_to_full"] == 8.1
    assert view["crashes_last_hour"] == 2.3
    assert view["temperature_baseline_c"] == 30.1
    assert view["temperature_offset_c"] == -1.0
    assert view["open_alerts"] == [
        {
            "alert_id": "2b1f0c9e-8d7a-4b6c-9e5d-4c3b2a190807",
            "condition": "storage_full",
            "severity": "warning",
            "raised_at": "2026-03-01T07:30:15.250000+00:00",
        }
    ]
    json.dumps(view, allow_nan=False)  # JSON as it is served


def test_no_estimate_shows_as_null_and_a_device_without_readings_has_no_time() -> None:
    view = health_view(
        "dev-2",
        record(
            readings=0, battery_days_to_80=NAN, storage_used=NAN, storage_growth_per_day=NAN, open_alerts=[]
        ),
    )
    assert view["last_reading_at"] is None
    assert view["battery_days_to_80"] is None
    assert view["storage_used_pct"] is None
    assert view["storage_growth_pct_per_day"] is None
    assert view["battery_health_pct"] == 88.4
    json.dumps(view, allow_nan=False)


def test_a_summary_an_earlier_version_stored_is_returned_as_it_is() -> None:
    old = {"device_id": "dev-3", "readings": 4, "open_alerts": []}
    assert decode_health(json.dumps(old)) == old


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"not json", "not JSON"),
        (b"42", "neither a JSON array nor an object"),
        (b"[]", "neither a JSON array nor an object"),
        (b"[9, 1]", "version 9 is not supported"),
        (b"[1, 1, 2]", "has 2 fields, expected 21"),
        (json.dumps([1, *(["x"] * 20), []]).encode(), "malformed"),
        (json.dumps([1, *([1] * 20), [["id", "crash_loop"]]]).encode(), "malformed"),
        (json.dumps([1, *([True] * 20), []]).encode(), "malformed"),
    ],
)
def test_anything_else_is_refused_naming_what_is_wrong(raw: bytes, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        decode_health(raw)
