"""Stability: crash loops and reboot storms, from the per-report counters.

Each report's counts (since the previous report) go into the hourly bucket of its ``measured_at``; 24
buckets make the last day. "The last hour" is the sliding-window estimate rate limiters use: the newest
bucket plus the previous one weighted by how much of it still lies within the hour. A crash loop is many
crashes in an hour or a day, a reboot storm many reboots in an hour or a day; each clears once the last day
has been nearly quiet, which is the hysteresis (a burst keeps the alert open for a day).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lingxi.events.maintenance import AlertSeverity

from lingxi_maintenance.alerts import Clear, Evidence, Raise
from lingxi_maintenance.state import HOUR_US, HOURS_KEPT, StabilityState

if TYPE_CHECKING:
    from lingxi_maintenance.health import HealthSettings

__all__ = ["Counts", "add", "check_crashes", "check_reboots", "counts"]

_MAX_BUCKET = 0xFFFF
"""Buckets are packed as 16-bit counts; more in one hour than this is still "many"."""


def add(stability: StabilityState, t_us: int, crashes: int, reboots: int) -> bool:
    """Count a report's crashes and reboots in its hour; False when the hour is older than the day kept."""
    hour = t_us // HOUR_US
    newest = stability.newest_hour
    if hour > newest:
        if newest < 0 or hour - newest >= HOURS_KEPT:
            stability.crashes[:] = [0] * HOURS_KEPT
            stability.reboots[:] = [0] * HOURS_KEPT
        else:
            for h in range(newest + 1, hour + 1):
                stability.crashes[h % HOURS_KEPT] = 0
                stability.reboots[h % HOURS_KEPT] = 0
        stability.newest_hour = hour
    elif hour <= newest - HOURS_KEPT:
        return False
    if crashes or reboots:
        slot = hour % HOURS_KEPT
        stability.crashes[slot] = min(stability.crashes[slot] + crashes, _MAX_BUCKET)
        stability.reboots[slot] = min(stability.reboots[slot] + reboots, _MAX_BUCKET)
    return True


@dataclass(slots=True)  # not frozen: made on every read, and a frozen init costs
class Counts:
    """Crashes and reboots in the last hour (sliding estimate) and the last day."""

    crashes_hour: float
    crashes_day: int
    reboots_hour: float
    reboots_day: int


def counts(stability: StabilityState, now_us: int) -> Counts:
    """The counts as of ``now_us`` (the newest reading)."""
    newest = stability.newest_hour
    if newest < 0:
        return Counts(0.0, 0, 0.0, 0)
    now_hour = now_us // HOUR_US
    if now_hour - newest >= HOURS_KEPT:
        return Counts(0.0, 0, 0.0, 0)
    crashes, reboots = stability.crashes, stability.reboots
    if now_hour > newest:
        # Hours with no report since the newest bucket are empty; shift the view accordingly.
        gap = now_hour - newest
        kept = range(newest - (HOURS_KEPT - 1 - gap), newest + 1)
        crashes_day = sum(crashes[h % HOURS_KEPT] for h in kept)
        reboots_day = sum(reboots[h % HOURS_KEPT] for h in kept)
        if gap > 1:
            return Counts(0.0, crashes_day, 0.0, reboots_day)
        left = 1.0 - (now_us % HOUR_US) / HOUR_US
        slot = newest % HOURS_KEPT
        return Counts(crashes[slot] * left, crashes_day, reboots[slot] * left, reboots_day)
    slot = newest % HOURS_KEPT
    previous = (newest - 1) % HOURS_KEPT
    left = 1.0 - (now_us % HOUR_US) / HOUR_US
    return Counts(
        crashes[slot] + crashes[previous] * left,
        sum(crashes),
        reboots[slot] + reboots[previous] * left,
        sum(reboots),
    )


def _evidence(c: Counts, crashes: bool) -> Evidence:
    if crashes:
        return {"crashes_last_hour": round(c.crashes_hour, 1), "crashes_last_day": c.crashes_day}
    return {"reboots_last_hour": round(c.reboots_hour, 1), "reboots_last_day": c.reboots_day}


def check_crashes(c: Counts, is_open: bool, settings: HealthSettings) -> Raise | Clear | None:
    """Raise a crash loop on a burst of crashes; clear after a quiet day."""
    if not is_open:
        if c.crashes_hour >= settings.crash_loop_per_hour or c.crashes_day >= settings.crash_loop_per_day:
            critical = (
                c.crashes_hour >= settings.crash_loop_critical_factor * settings.crash_loop_per_hour
                or c.crashes_day >= settings.crash_loop_critical_factor * settings.crash_loop_per_day
            )
            return Raise(AlertSeverity.CRITICAL if critical else AlertSeverity.WARNING, _evidence(c, True))
        return None
    if c.crashes_day <= settings.crash_loop_clear_per_day and c.crashes_hour < 1.0:
        return Clear(_evidence(c, True))
    return None


def check_reboots(c: Counts, is_open: bool, settings: HealthSettings) -> Raise | Clear | None:
    """Raise a reboot storm on repeated reboots; clear after a quiet day."""
    if not is_open:
        if c.reboots_hour >= settings.reboot_storm_per_hour or c.reboots_day >= settings.reboot_storm_per_day:
            critical = c.reboots_hour >= 2 * settings.reboot_storm_per_hour
            return Raise(AlertSeverity.CRITICAL if critical else AlertSeverity.WARNING, _evidence(c, False))
        return None
    if c.reboots_day <= settings.reboot_storm_clear_per_day and c.reboots_hour < 1.0:
        return Clear(_evidence(c, False))
    return None
