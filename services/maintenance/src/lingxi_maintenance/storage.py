"""Storage: days until full from the trend of daily maxima.

One point a day, the day's highest use, so caches filled and emptied within a day do not pass for a trend.
The growth is the median of the last ``storage_window_days`` day-to-day changes (per day, across gaps): a
big download or an app install is one large change and a clean-up one negative change, and neither moves
the median, while a runaway cache grows every day. The slow end of the prediction uses the second-lowest
change. Days until full = free share at the newest reading / growth.

An alert needs the central prediction within ``storage_horizon_days`` and the slow end within
``storage_interval_max_days``, or use already at ``storage_high_fraction``; it clears below
``storage_clear_fraction`` once full is no longer near.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from lingxi.events.maintenance import AlertSeverity

from lingxi_maintenance.alerts import Clear, Evidence, Raise
from lingxi_maintenance.state import StorageState

if TYPE_CHECKING:
    from lingxi_maintenance.health import HealthSettings

__all__ = ["check", "close_day", "days_to_full"]

_MAX_DAYS = 3650.0


def close_day(storage: StorageState, day: int, day_max: float, settings: HealthSettings) -> None:
    """Add a finished day's highest use and refresh the growth."""
    days, maxima = storage.days, storage.maxima
    days.append(day)
    maxima.append(day_max)
    keep = settings.storage_window_days + 1
    if len(days) > keep:
        del days[: len(days) - keep]
        del maxima[: len(maxima) - keep]
    if len(days) < keep:
        storage.growth = storage.growth_low = math.nan
        return
    changes = sorted((maxima[i] - maxima[i - 1]) / (days[i] - days[i - 1]) for i in range(1, len(days)))
    middle = len(changes) // 2
    storage.growth = changes[middle] if len(changes) % 2 else (changes[middle - 1] + changes[middle]) / 2.0
    storage.growth_low = changes[1]


def _days_to_full(storage: StorageState, growth: float, settings: HealthSettings) -> float | None:
    # NaN compares false, so an unknown growth gives None here.
    if not growth > 0.0:
        return None
    days = max(settings.storage_full_fraction - storage.latest, 0.0) / growth
    return days if days <= _MAX_DAYS else None


def days_to_full(storage: StorageState, settings: HealthSettings) -> float:
    """Days until storage is full at the trend's pace; NaN before any reading, while the growth is
    unknown or not positive, or when full is further than ten years away."""
    if not math.isfinite(storage.latest):
        return math.nan
    days = _days_to_full(storage, storage.growth, settings)
    return math.nan if days is None else days


def check(
    storage: StorageState, total_bytes: int, is_open: bool, settings: HealthSettings
) -> Raise | Clear | None:
    """Raise storage full when nearly full or filling within the horizon; clear well below (hysteresis)."""
    used = storage.latest
    if not is_open:
        if used >= settings.storage_high_fraction:
            critical = used >= settings.storage_critical_fraction
            severity = AlertSeverity.CRITICAL if critical else AlertSeverity.WARNING
            return Raise(severity, _evidence(storage, None, total_bytes))
        days = _days_to_full(storage, storage.growth, settings)
        if days is None or days > settings.storage_horizon_days:
            return None
        slow = _days_to_full(storage, storage.growth_low, settings)
        if slow is None or slow > settings.storage_interval_max_days:
            return None
        if days <= settings.storage_critical_days:
            severity = AlertSeverity.CRITICAL
        elif days <= settings.storage_horizon_days / 2.0:
            severity = AlertSeverity.WARNING
        else:
            severity = AlertSeverity.INFO
        return Raise(severity, _evidence(storage, days, total_bytes))
    if used < settings.storage_clear_fraction:
        days = _days_to_full(storage, storage.growth, settings)
        if days is None or days > 2.0 * settings.storage_horizon_days:
            return Clear(_evidence(storage, days, total_bytes))
    return None


def _evidence(storage: StorageState, days: float | None, total_bytes: int) -> Evidence:
    evidence: Evidence = {
        "storage_used_pct": round(100.0 * storage.latest, 1),
        "storage_free_gb": round((1.0 - storage.latest) * total_bytes / 1e9, 1),
        "storage_total_gb": round(total_bytes / 1e9, 1),
    }
    if days is not None:
        evidence["days_to_full"] = round(days, 1)
    if math.isfinite(storage.growth):
        evidence["growth_pct_per_day"] = round(100.0 * storage.growth, 2)
    return evidence
