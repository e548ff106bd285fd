"""One health reading of one handset, as the maintenance domain sees it: plain values, no transport.

The event (``lingxi.events.maintenance.TelemetryReported``) is validated at the edge; the domain works on
this small frozen record, which the simulator also produces directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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
