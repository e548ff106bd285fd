"""One health reading of one handset, as the maintenance domain sees it: plain values, no transport.

The domain reads a reading through ``ReadingFields``, which the validated events
(``lingxi.events.maintenance.TelemetryReported`` and ``TelemetryReading``) satisfy as they are, so the
service hands them over without copying; ``Reading`` is the plain record the simulator produces.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

__all__ = ["Reading", "ReadingFields", "sample_reading"]


class ReadingFields(Protocol):
    """What the domain reads of a reading (the fields of ``Reading``)."""

    @property
    def device_id(self) -> str: ...
    @property
    def device_model(self) -> str: ...
    @property
    def measured_at(self) -> datetime: ...
    @property
    def battery_level(self) -> int: ...
    @property
    def full_charge_capacity_mah(self) -> int: ...
    @property
    def design_capacity_mah(self) -> int: ...
    @property
    def cycle_count(self) -> int: ...
    @property
    def temperature_c(self) -> float: ...
    @property
    def voltage_mv(self) -> int: ...
    @property
    def current_ma(self) -> int: ...
    @property
    def charging_state(self) -> str: ...
    @property
    def thermal_state(self) -> str: ...
    @property
    def storage_used_bytes(self) -> int: ...
    @property
    def storage_total_bytes(self) -> int: ...
    @property
    def app_crash_count(self) -> int: ...
    @property
    def reboot_count(self) -> int: ...
    @property
    def os_version(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Reading:
    device_id: str
    device_model: str
    measured_at: datetime
    """When the handset took the reading (timezone-aware, UTC)."""
    battery_level: int
    """Charge, percent 0-100."""
    full_charge_capacity_mah: int
    design_capacity_mah: int
    cycle_count: int
    temperature_c: float
    """Battery temperature."""
    voltage_mv: int
    current_ma: int
    """Positive while charging, negative while discharging."""
    charging_state: str
    """charging, discharging, full, not_charging, unknown"""
    thermal_state: str
    """none, light, moderate, severe, critical, emergency, shutdown"""
    storage_used_bytes: int
    storage_total_bytes: int
    app_crash_count: int
    """App crashes since the previous report."""
    reboot_count: int
    """Reboots since the previous report."""
    os_version: str

    @property
    def state_of_health(self) -> float:
        """Battery capacity today as a fraction of its design capacity."""
        return self.full_charge_capacity_mah / self.design_capacity_mah

    @property
    def storage_fraction(self) -> float:
        return self.storage_used_bytes / self.storage_total_bytes


GB = 1_000_000_000


def sample_reading(at: datetime, device_id: str = "dev-1", **changes: Any) -> Reading:
    """A healthy handset's reading (model ``LX-A``, 5,000 mAh design, 94% health, 31 °C, discharging,
    100 of 256 GB used, no crashes) taken ``at``, with ``changes`` applied: for tests and examples."""
    reading = Reading(
        device_id=device_id,
        device_model="LX-A",
        measured_at=at,
        battery_level=60,
        full_charge_capacity_mah=4700,
        design_capacity_mah=5000,
        cycle_count=200,
        temperature_c=31.0,
        voltage_mv=3900,
        current_ma=-150,
        charging_state="discharging",
        thermal_state="none",
        storage_used_bytes=100 * GB,
        storage_total_bytes=256 * GB,
        app_crash_count=0,
        reboot_count=0,
        os_version="LingOS 5.1.0",
    )
    return replace(reading, **changes) if changes else reading
