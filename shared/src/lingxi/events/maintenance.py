"""Device health: telemetry in, maintenance alerts out.

Flow: gateway ``TelemetryBatchReceived`` (or a partner's ``TelemetryReported``) → maintenance
``AlertRaised`` / ``AlertCleared`` → gateway (device notification). Telemetry carries no personal data:
it is keyed by device only.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Self
from uuid import UUID

from pydantic import BaseModel, Field, StringConstraints, model_validator

from lingxi.events._values import NOT_BLANK, Count, DeviceId, ScalarMap, UtcDatetime, ValueObject
from lingxi.events.base import Event

__all__ = [
    "DEVICE_ALERTS_KEY_PREFIX",
    "DEVICE_HEALTH_KEY_PREFIX",
    "MAINTENANCE_FEATURE",
    "MAX_CLOCK_SKEW",
    "MAX_TELEMETRY_BATCH",
    "AlertCleared",
    "AlertCondition",
    "AlertRaised",
    "AlertSeverity",
    "ChargingState",
    "TelemetryBatchReceived",
    "TelemetryReading",
    "TelemetryReported",
    "ThermalState",
    "device_alerts_key",
    "device_health_key",
]

MAINTENANCE_FEATURE = "maintenance"
"""The feature device telemetry needs approved in its region (the approval registry's key)."""

DEVICE_HEALTH_KEY_PREFIX = "lingxi:devices:health:"
DEVICE_ALERTS_KEY_PREFIX = "lingxi:devices:alerts:"


def device_health_key(device_id: str) -> str:
    """Redis string maintenance keeps a device's latest health summary in (JSON); the gateway reads it
    for ``GET /v1/devices/{id}/health``."""
    return f"{DEVICE_HEALTH_KEY_PREFIX}{device_id}"


def device_alerts_key(device_id: str) -> str:
    """Redis hash of a device's alerts, alert id → JSON (open ones, and cleared ones until the key's
    time to live runs out); maintenance writes it, the gateway reads it for ``/alerts``."""
    return f"{DEVICE_ALERTS_KEY_PREFIX}{device_id}"


MAX_TELEMETRY_BATCH = 1000
"""Most readings in one ``TelemetryBatchReceived`` (the gateway takes up to 500 a request)."""
MAX_CLOCK_SKEW = timedelta(minutes=5)
"""How far a reading's ``measured_at`` may be ahead of the clock that receives it (the gateway's, or the
reporting event's ``occurred_at`` for partners): handset clocks drift, and a reading from the future would
make every later, correct reading of the device look late."""


class ChargingState(StrEnum):
    """Battery charging state as the handset reports it (Android ``BatteryManager`` status)."""

    CHARGING = "charging"
    DISCHARGING = "discharging"
    FULL = "full"
    NOT_CHARGING = "not_charging"
    """Plugged in but not charging (for example held back by temperature)."""
    UNKNOWN = "unknown"


class ThermalState(StrEnum):
    """Thermal status as the handset reports it (Android ``PowerManager`` thermal status levels)."""

    NONE = "none"
    LIGHT = "light"
    MODERATE = "moderate"
    SEVERE = "severe"
    CRITICAL = "critical"
    EMERGENCY = "emergency"
    SHUTDOWN = "shutdown"


_Capacity = Annotated[int, Field(ge=0, le=100_000)]
_Bytes = Annotated[int, Field(ge=0, le=2**50)]
_ShortText = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=NOT_BLANK)]


class _ReadingFields(BaseModel):
    """The fields of one health reading, shared by the single-reading event and the batch's items."""

    device_id: DeviceId
    device_model: _ShortText = Field(description="Handset model code.", examples=["LX-2026-PRO"])
    measured_at: UtcDatetime = Field(
        description="When the handset took the reading (UTC); ``occurred_at`` is when it was reported.",
        examples=["2026-11-25T08:29:30Z"],
    )
    battery_level: int = Field(ge=0, le=100, description="Charge level in percent.", examples=[76])
    full_charge_capacity_mah: _Capacity = Field(
        description="Capacity the battery holds when full today, mAh.", examples=[4310]
    )
    design_capacity_mah: _Capacity = Field(
        gt=0, description="Capacity the battery was designed for, mAh.", examples=[6000]
    )
    cycle_count: int = Field(ge=0, le=100_000, description="Charge cycles so far.", examples=[412])
    temperature_c: float = Field(
        ge=-40.0, le=125.0, allow_inf_nan=False, description="Battery temperature, °C.", examples=[36.5]
    )
    voltage_mv: int = Field(ge=0, le=20_000, description="Battery voltage, mV.", examples=[3875])
    current_ma: int = Field(
        ge=-20_000,
        le=20_000,
        description="Battery current, mA: positive while charging, negative while discharging.",
        examples=[-420],
    )
    charging_state: ChargingState = Field(description="Charging state.", examples=["discharging"])
    thermal_state: ThermalState = Field(description="Thermal status of the handset.", examples=["none"])
    storage_used_bytes: _Bytes = Field(description="Storage in use, bytes.", examples=[201_863_462_912])
    storage_total_bytes: _Bytes = Field(
        gt=0, description="Storage capacity, bytes.", examples=[256_000_000_000]
    )
    app_crash_count: Count = Field(description="App crashes since the previous report.", examples=[0])
    reboot_count: Count = Field(description="Reboots since the previous report.", examples=[0])
    os_version: _ShortText = Field(description="Operating system version.", examples=["LingOS 5.1.0"])

    @model_validator(mode="after")
    def _storage_fits(self) -> Self:
        if self.storage_used_bytes > self.storage_total_bytes:
            raise ValueError(
                f"storage_used_bytes ({self.storage_used_bytes}) exceeds "
                f"storage_total_bytes ({self.storage_total_bytes})"
            )
        return self


_EXAMPLE_READING = {
    name: field.examples[0] for name, field in _ReadingFields.model_fields.items() if field.examples
}


class TelemetryReading(_ReadingFields, ValueObject):
    """One health reading inside a batch (``TelemetryBatchReceived``)."""


class TelemetryReported(_ReadingFields, Event):
    """A handset (or a partner on its behalf) reported one health reading: battery, temperature,
    storage, stability. The raw stream partners publish to directly, one reading an entry, so a bad
    reading is dead-lettered alone. Counters (crashes, reboots) count since the previous report.

    Partners produce it; maintenance consumes it.
    """

    stream = "device.telemetry.reported"


class TelemetryBatchReceived(Event):
    """A batch of readings the gateway accepted from ``POST /v1/telemetry``, each one already checked
    on its own (the rejected ones were answered with their reason and are not here). One entry for up
    to ``MAX_TELEMETRY_BATCH`` readings: ingestion is the highest-volume path.

    The gateway produces it; maintenance consumes it.
    """

    stream = "device.telemetry_batch.received"

    readings: list[TelemetryReading] = Field(
        min_length=1,
        max_length=MAX_TELEMETRY_BATCH,
        description="The accepted readings, in the order they were sent.",
        examples=[[_EXAMPLE_READING]],
    )


class AlertCondition(StrEnum):
    """A health problem maintenance detects."""

    BATTERY_WEAR = "battery_wear"
    """Battery holds much less than its design capacity."""
    OVERHEATING = "overheating"
    STORAGE_FULL = "storage_full"
    CRASH_LOOP = "crash_loop"
    """An app keeps crashing."""
    REBOOT_STORM = "reboot_storm"
    """The handset keeps rebooting."""


class AlertSeverity(StrEnum):
    """How urgent an alert is."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


_AlertId = Annotated[
    UUID,
    Field(
        description="Id of the alert; the event that clears it repeats it.",
        examples=["c2d5e1f0-3b4a-4e8f-9c6d-1a2b3c4d5e6f"],
    ),
]

_Condition = Annotated[AlertCondition, Field(description="The problem found.", examples=["battery_wear"])]

_Evidence = Annotated[
    ScalarMap,
    Field(
        description="Readings behind the decision (metric name to value).",
        examples=[{"battery_health_pct": 71.2, "cycle_count": 812}],
    ),
]

_ActionText = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=NOT_BLANK)]


class AlertRaised(Event):
    """Maintenance found a health problem on a handset and opened an alert.

    Maintenance produces it once per alert (not per reading), for whatever notifies the user (e.g. the
    phone maker's push service, reading with a consumer group of its own). No Lingxi service consumes it: the
    gateway serves open alerts from what maintenance stores (``GET /v1/devices/{id}/alerts``).
    """

    stream = "maintenance.alert.raised"

    alert_id: _AlertId
    device_id: DeviceId
    condition: _Condition
    severity: AlertSeverity = Field(description="How urgent the alert is.", examples=["warning"])
    evidence: _Evidence
    recommended_action_zh: _ActionText = Field(
        description="What the user should do, in Simplified Chinese.",
        examples=["电池健康度已降至 71%，建议到授权服务中心更换电池。"],
    )
    recommended_action_en: _ActionText = Field(
        description="What the user should do, in English.",
        examples=[
            "Battery health is down to 71%; have the battery replaced at an authorised service centre."
        ],
    )


class AlertCleared(Event):
    """An open alert no longer applies (the readings are back to normal, or the part was replaced).

    Maintenance produces it, for whatever notified the user to withdraw the notification; no Lingxi
    service consumes it.
    """

    stream = "maintenance.alert.cleared"

    alert_id: _AlertId
    device_id: DeviceId
    condition: _Condition
    evidence: _Evidence = Field(default_factory=dict)
