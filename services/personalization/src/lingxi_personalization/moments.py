"""Time as personalization counts it: µs since the epoch in stored records, China-local dates for
seasons (11.11 and Spring Festival are dates in China)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

__all__ = ["CHINA", "china_day", "micros"]

CHINA = ZoneInfo("Asia/Shanghai")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(at: datetime) -> int:
    """µs since the epoch of a timezone-aware time, exactly."""
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def china_day(at: datetime) -> date:
    """The date in China at ``at``."""
    return at.astimezone(CHINA).date()
