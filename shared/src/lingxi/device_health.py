"""A device's health as maintenance records it and as the gateway shows it.

Maintenance records a device's health after every read of its telemetry, millions of times a day; the
gateway shows one only when asked (``GET /v1/devices/{id}/health``). So the record holds the figures as
they are (``HealthRecord``, stored as a compact JSON array under ``device_health_key``) and the work of
presenting them (rounding, ISO 8601 times, null for "no estimate", field names) is done on the way out,
by ``health_view``: computing the view for every reading cost maintenance as much as assessing it.

Record layout (``encode_health``): a JSON array, ``HEALTH_RECORD_VERSION`` first, then the fields of
``HealthRecord`` in order, the open alerts as ``[alert_id, condition, severity, raised_us]`` arrays; a
NaN figure (no estimate) is written as null. A JSON object under the key is a view written by an earlier
version, and is shown as it is.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson
from typing_extensions import TypedDict  # pydantic (the gateway's response model) needs it before 3.12

__all__ = [
    "HEALTH_RECORD_VERSION",
    "DeviceHealth",
    "HealthRecord",
    "OpenAlertView",
    "decode_health",
    "encode_health",
    "health_view",
]

HEALTH_RECORD_VERSION = 1

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class HealthRecord(NamedTuple):
    """Where each of maintenance's models stands for one device, after its newest reading."""

    last_us: int
    """``measured_at`` of the newest reading, µs since the epoch."""
    readings: int
    """Readings assessed; 0 before the first."""
    battery_health_pct: float
    """State of health now, percent of design capacity; NaN (null) while unknown. The battery figures
    come rounded: maintenance works them out once a day."""
    battery_days_to_80: float
    """Predicted days until the state of health falls below end of life, with the interval below."""
    battery_days_to_80_low: float
    battery_days_to_80_high: float
    battery_cycles_to_80: float
    battery_cycles_to_80_low: float
    battery_cycles_to_80_high: float
    battery_fade_pct_per_100_cycles: float
    battery_history_days: int
    storage_used: float
    """Fraction of storage in use; NaN while unknown."""
    storage_growth_per_day: float
    """Fraction of storage filled a day, from the trend; NaN while unknown."""
    storage_days_to_full: float
    """NaN when not filling (or too slowly to matter)."""
    crashes_last_hour: float
    crashes_last_day: int
    reboots_last_hour: float
    reboots_last_day: int
    temperature_baseline_c: float
    """The device's own typical battery temperature; NaN before its first normal reading."""
    temperature_offset_c: float
    """How much warmer than its model's fleet in the same context the device usually runs."""
    open_alerts: list[tuple[str, str, str, int]]
    """(alert id, condition, severity, raised at in µs since the epoch) of each open alert."""


class OpenAlertView(TypedDict):
    alert_id: str
    condition: str
    severity: str
    raised_at: str
    """ISO 8601."""


class DeviceHealth(TypedDict):
    """What ``GET /v1/devices/{id}/health`` returns (``health_view``); null where there is no estimate."""

    device_id: str
    last_reading_at: str | None
    """ISO 8601; None before the first reading."""
    readings: int
    battery_health_pct: float | None
    battery_days_to_80: float | None
    battery_days_to_80_low: float | None
    battery_days_to_80_high: float | None
    battery_cycles_to_80: float | None
    battery_cycles_to_80_low: float | None
    battery_cycles_to_80_high: float | None
    battery_fade_pct_per_100_cycles: float | None
    battery_history_days: int
    storage_used_pct: float | None
    storage_growth_pct_per_day: float | None
    storage_days_to_full: float | None
    crashes_last_hour: float
    crashes_last_day: int
    reboots_last_hour: float
    reboots_last_day: int
    temperature_baseline_c: float | None
    temperature_offset_c: float
    open_alerts: list[OpenAlertView]


def encode_health(record: HealthRecord) -> bytes:
    """The record as stored (module doc)."""
    return orjson.dumps((HEALTH_RECORD_VERSION, *record))


def decode_health(raw: bytes | str) -> HealthRecord | dict[str, Any]:
    """What ``encode_health`` wrote (null read back as NaN), or the JSON object an earlier version
    stored; ValueError names what is wrong with anything else."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise ValueError(f"health record is not JSON: {error}") from error
    if isinstance(value, dict):
        return value
    if not isinstance(value, list) or not value:
        raise ValueError("health record is neither a JSON array nor an object")
    if value[0] != HEALTH_RECORD_VERSION:
        raise ValueError(
            f"health record version {value[0]!r} is not supported (expected {HEALTH_RECORD_VERSION})"
        )
    fields = value[1:]
    if len(fields) != len(HealthRecord._fields):
        raise ValueError(f"health record has {len(fields)} fields, expected {len(HealthRecord._fields)}")
    try:
        alerts = [(str(a), str(c), str(s), int(t)) for a, c, s, t in fields[-1]]
        numbers = [math.nan if v is None else v for v in fields[:-1]]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in numbers):
            raise TypeError("a figure is not a number")
    except (TypeError, ValueError) as error:
        raise ValueError(f"health record is malformed: {error}") from error
    return HealthRecord._make([*numbers, alerts])


def health_view(device_id: str, record: HealthRecord) -> DeviceHealth:
    """The document the gateway serves for a device's health record."""
    r = record
    return {
        "device_id": device_id,
        "last_reading_at": _iso(r.last_us) if r.readings else None,
        "readings": r.readings,
        "battery_health_pct": _rounded(r.battery_health_pct, 1),
        "battery_days_to_80": _rounded(r.battery_days_to_80, 1),
        "battery_days_to_80_low": _rounded(r.battery_days_to_80_low, 1),
        "battery_days_to_80_high": _rounded(r.battery_days_to_80_high, 1),
        "battery_cycles_to_80": _rounded(r.battery_cycles_to_80, 0),
        "battery_cycles_to_80_low": _rounded(r.battery_cycles_to_80_low, 0),
        "battery_cycles_to_80_high": _rounded(r.battery_cycles_to_80_high, 0),
        "battery_fade_pct_per_100_cycles": _rounded(r.battery_fade_pct_per_100_cycles, 2),
        "battery_history_days": int(r.battery_history_days),
        "storage_used_pct": _rounded(100.0 * r.storage_used, 1),
        "storage_growth_pct_per_day": _rounded(100.0 * r.storage_growth_per_day, 3),
        "storage_days_to_full": _rounded(r.storage_days_to_full, 1),
        "crashes_last_hour": round(r.crashes_last_hour, 1),
        "crashes_last_day": int(r.crashes_last_day),
        "reboots_last_hour": round(r.reboots_last_hour, 1),
        "reboots_last_day": int(r.reboots_last_day),
        "temperature_baseline_c": _rounded(r.temperature_baseline_c, 1),
        "temperature_offset_c": round(r.temperature_offset_c, 1),
        "open_alerts": [
            {"alert_id": alert_id, "condition": condition, "severity": severity, "raised_at": _iso(raised_us)}
            for alert_id, condition, severity, raised_us in r.open_alerts
        ],
    }


def _rounded(value: float, digits: int) -> float | None:
    return round(value, digits) if math.isfinite(value) else None


def _iso(t_us: int) -> str:
    return (_EPOCH + timedelta(microseconds=t_us)).isoformat()
