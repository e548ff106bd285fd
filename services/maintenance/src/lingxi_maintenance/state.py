"""Per-device health state: what the detectors keep of one device's history, bounded whatever its length.

The state is plain data; the detectors (``battery``, ``heat``, ``storage``, ``stability``) and the alert
lifecycle (``alerts``) update it, ``health.assess`` ties them together. It lives in Redis between readings,
so ``DeviceState.to_bytes`` packs it with ``struct``: a few hundred bytes, never more than
``MAX_STATE_BYTES`` (976).

What is kept, and why it stays small:

- the time of the newest reading and the last ``RECENT_TIMES`` reading times, to drop duplicates and
  readings that arrive too late (see ``DeviceState.admit``);
- today's running totals (mean state of health, cycle count, highest storage use): trends use one point
  a day, so a device reporting every minute weighs no more than one reporting hourly, and
  capacity estimates repeated across a day do not pass for independent evidence;
- the battery's fade as weighted least-squares lines held as running sums (``Line``) with exponential
  forgetting, so the fit is O(1) a day and follows the recent slope, and the last week of daily points
  for the variogram of the fuel gauge's error;
- the last few days' highest storage use;
- crash and reboot counts in 24 hourly buckets;
- the device's temperature baseline (exponentially weighted) and the times of its last few hot readings;
- the open alerts: condition → alert id, severity, time raised;
- the battery's outlook as the health summary shows it, for the day it was worked out (a cache).
"""

from __future__ import annotations

import math
import struct
from bisect import insort
from dataclasses import dataclass, field
from uuid import UUID

from lingxi.events.maintenance import AlertCondition, AlertSeverity

__all__ = [
    "DAY_US",
    "GAUGE_LAG",
    "HOT_TIMES",
    "HOUR_US",
    "MAX_STATE_BYTES",
    "RECENT_TIMES",
    "STORAGE_POINTS",
    "BatteryFigures",
    "BatteryState",
    "DayTotals",
    "DeviceState",
    "Fit",
    "HeatState",
    "Line",
    "OpenAlert",
    "StabilityState",
    "StorageState",
]

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
RECENT_TIMES = 16
"""Reading times remembered to recognise duplicates; a reading older than all of them is too late."""
HOT_TIMES = 8
"""Most hot-reading times kept for the overheating persistence rule."""
HOURS_KEPT = 24
"""Hourly crash and reboot buckets: one day."""
GAUGE_LAG = 7
"""Days apart of the far pairs in the battery's variogram."""
STORAGE_POINTS = 8
"""Most daily storage maxima kept (seven daily changes)."""

_FORMAT_VERSION = 2
"""2 added the battery figures at the end; a version 1 state is read without them."""
_CONDITIONS = tuple(AlertCondition)
_SEVERITIES = tuple(AlertSeverity)


@dataclass(slots=True)  # not frozen: made on every read, and a frozen init costs
class Fit:
    """A weighted least-squares line, ready to predict from."""

    slope: float
    x_mean: float
    y_mean: float
    sxx: float
    """Weighted sum of squared deviations of x from its mean."""
    residual_var: float
    """Variance of one point about the line (unbiased for the effective number of points)."""
    weight: float
    """Sum of weights."""
    weight_sq: float
    """Sum of squared weights."""

    @property
    def effective_points(self) -> float:
        """Kish's effective sample size of the weighted points."""
        return self.weight * self.weight / self.weight_sq

    @property
    def x_std(self) -> float:
        """Weighted standard deviation of x: how spread the evidence is."""
        return math.sqrt(self.sxx / self.weight)

    def t_multiplier(self, z: float) -> float:
        """The Student-t quantile matching the normal quantile ``z`` for this fit's degrees of freedom
        (Cornish-Fisher expansion): few points widen the interval, as they should."""
        dof = max(self.effective_points - 2.0, 1.0)
        z3 = z * z * z
        return z + (z3 + z) / (4.0 * dof) + (5.0 * z3 * z * z + 16.0 * z3 + 3.0 * z) / (96.0 * dof * dof)

    def predict(self, x: float) -> float:
        return self.y_mean + self.slope * (x - self.x_mean)

    def slope_se(self, noise_var: float | None = None) -> float:
        """Standard error of the slope (weights taken as reliability, Kish-corrected), for points that err
        with variance ``noise_var`` (default: the residual variance)."""
        var = self.residual_var if noise_var is None else noise_var
        return math.sqrt(var * (self.weight_sq / self.weight) / self.sxx)

    def level_se(self, x: float, noise_var: float | None = None) -> float:
        """Standard error of the line's value at ``x`` (``noise_var`` as for ``slope_se``)."""
        var = self.residual_var if noise_var is None else noise_var
        dx = x - self.x_mean
        w = self.weight
        return math.sqrt(var * (self.weight_sq / (w * w) + (self.weight_sq / w) * dx * dx / self.sxx))


@dataclass(slots=True)
class Line:
    """Running sums of a weighted least-squares line y = a + b·x; ``decay`` forgets the past geometrically."""

    sw: float = 0.0
    sww: float = 0.0
    sx: float = 0.0
    sy: float = 0.0
    sxx: float = 0.0
    sxy: float = 0.0
    syy: float = 0.0

    def add(self, x: float, y: float, w: float = 1.0) -> None:
        self.sw += w
        self.sww += w * w
        self.sx += w * x
        self.sy += w * y
        self.sxx += w * x * x
        self.sxy += w * x * y
        self.syy += w * y * y

    def decay(self, factor: float) -> None:
        """Multiply every past weight by ``factor`` (0 < factor ≤ 1)."""
        self.sw *= factor
        self.sww *= factor * factor
        self.sx *= factor
        self.sy *= factor
        self.sxx *= factor
        self.sxy *= factor
        self.syy *= factor

    def fit(self) -> Fit | None:
        """The fitted line, or None while the points cannot determine one (too few, or x constant)."""
        sw = self.sw
        if sw <= 0.0 or self.sww <= 0.0:
            return None
        n_eff = sw * sw / self.sww
        if n_eff <= 2.05:
            return None
        x_mean = self.sx / sw
        y_mean = self.sy / sw
        sxx = self.sxx - sw * x_mean * x_mean
        if sxx <= 1e-12 * max(self.sxx, 1.0):
            return None
        sxy = self.sxy - sw * x_mean * y_mean
        syy = self.syy - sw * y_mean * y_mean
        slope = sxy / sxx
        rss = max(syy - slope * sxy, 0.0)
        residual_var = rss / sw * n_eff / (n_eff - 2.0)
        return Fit(slope, x_mean, y_mean, sxx, residual_var, sw, self.sww)

    def reset(self) -> None:
        self.sw = self.sww = self.sx = self.sy = self.sxx = self.sxy = self.syy = 0.0

    def values(self) -> tuple[float, ...]:
        return (self.sw, self.sww, self.sx, self.sy, self.sxx, self.sxy, self.syy)


@dataclass(slots=True)
class DayTotals:
    """Running totals of the current UTC day, closed into the trends when a later day begins."""

    day: int = -1
    """Days since the Unix epoch (UTC); -1 before the first reading."""
    soh_sum: float = 0.0
    soh_count: int = 0
    cycles: int = 0
    """Highest cycle count seen today."""
    storage_max: float = -1.0
    """Highest storage use today as a fraction; -1 when none."""


@dataclass(slots=True)
class BatteryState:
    """The battery's fade: state of health against days and against cycles, one point a day."""

    origin_day: int = 0
    """Day of the first point since the last reset (x = 0 of the day line)."""
    decay_day: int = 0
    """Day the sums were last decayed to."""
    points: int = 0
    """Daily points since the last reset (battery replaced, or first reading)."""
    level: float = math.nan
    """Exponentially weighted daily state of health (fraction)."""
    max_cycles: int = 0
    recent_days: list[int] = field(default_factory=list)
    """Days of the last points within ``GAUGE_LAG`` days, ascending, to pair them for the variogram."""
    recent_soh: list[float] = field(default_factory=list)
    """Their state of health."""
    near_sum: float = 0.0
    """Decayed sum of the changes of state of health between points one day apart, ..."""
    near_sq: float = 0.0
    """... of their squares, ..."""
    near_weight: float = 0.0
    """... and their weight; the same for points ``GAUGE_LAG`` days apart: together they measure how long
    the fuel gauge's error persists (see ``battery.noise_variance``)."""
    far_sum: float = 0.0
    far_sq: float = 0.0
    far_weight: float = 0.0
    by_day: Line = field(default_factory=Line)
    """y = state of health - 1 against x = days since ``origin_day``."""
    by_cycle: Line = field(default_factory=Line)
    """y = state of health - 1 against x = cycle count."""


@dataclass(slots=True)
class StorageState:
    """Storage use: the latest value and the last few daily maxima, whose day-to-day changes give the
    growth (see ``storage``)."""

    latest: float = math.nan
    """Storage use of the newest reading (fraction)."""
    days: list[int] = field(default_factory=list)
    """Days of the last ``STORAGE_POINTS`` daily maxima, ascending."""
    maxima: list[float] = field(default_factory=list)
    """Those daily maxima (fraction)."""
    growth: float = math.nan
    """Median daily growth over the window, fraction of capacity a day; NaN until the window is full."""
    growth_low: float = math.nan
    """The slow end of the growth: the second-lowest daily change in the window."""


def _zeros() -> list[int]:
    return [0] * HOURS_KEPT


@dataclass(slots=True)
class StabilityState:
    """Crashes and reboots in hourly buckets over the last day (ring indexed by hour % 24)."""

    newest_hour: int = -1
    """Hours since the epoch of the newest bucket; -1 before the first reading."""
    crashes: list[int] = field(default_factory=_zeros)
    reboots: list[int] = field(default_factory=_zeros)


@dataclass(slots=True)
class HeatState:
    """The device's own temperature history, as far as the overheating rule needs it."""

    baseline_c: float = math.nan
    """Exponentially weighted temperature of this device's normal readings."""
    updated_us: int = 0
    """Time of the reading that last moved ``baseline_c``."""
    offset_c: float = 0.0
    """The device's normal difference from its model's fleet in the same context (its climate, its case):
    a mean over its first normal readings, then exponentially weighted over days."""
    offset_us: int = 0
    """Time of the reading that last moved ``offset_c``."""
    normal_count: int = 0
    """Normal readings behind ``offset_c`` (saturates at 65,535)."""
    last_hot_us: int = 0
    hot_us: list[int] = field(default_factory=list)
    """Times of the latest hot readings, oldest first (at most ``HOT_TIMES``)."""


@dataclass(slots=True, eq=False)
class BatteryFigures:
    """The battery's outlook as the health summary shows it (rounded; NaN for none), kept for the day it
    was worked out: it changes only when a day closes, and working it out (two fits, their intervals)
    would otherwise cost more than the rest of a reading's assessment."""

    day: int = -1
    """The day (since the epoch) the figures are for; -1: none yet."""
    health_pct: float = math.nan
    days_to_80: float = math.nan
    days_to_80_low: float = math.nan
    days_to_80_high: float = math.nan
    cycles_to_80: float = math.nan
    cycles_to_80_low: float = math.nan
    cycles_to_80_high: float = math.nan
    fade_pct_per_100_cycles: float = math.nan

    def __eq__(self, other: object) -> bool:
        """Equal when they pack alike (NaN, "no estimate", equals NaN)."""
        if not isinstance(other, BatteryFigures):
            return NotImplemented
        return _FIGURES.pack(*self.values()) == _FIGURES.pack(*other.values())

    __hash__ = None  # type: ignore[assignment]  # mutable

    def values(self) -> tuple[int, float, float, float, float, float, float, float, float]:
        return (
            self.day,
            self.health_pct,
            self.days_to_80,
            self.days_to_80_low,
            self.days_to_80_high,
            self.cycles_to_80,
            self.cycles_to_80_low,
            self.cycles_to_80_high,
            self.fade_pct_per_100_cycles,
        )


@dataclass(slots=True)
class OpenAlert:
    """An alert raised and not yet cleared."""

    alert_id: UUID
    severity: AlertSeverity
    raised_us: int
    """When it was raised: the ``measured_at`` of the reading that raised it, µs since the epoch."""


# The packed layout: one fixed-size struct, then the variable-length lists its counts announce.
_FIXED = struct.Struct(
    "<BIq"  # format version, readings, last_us
    "idHId"  # today: day, soh_sum, soh_count, cycles, storage_max
    "iiIdIdddddd"  # battery: origin day, decay day, points, level, max cycles, variogram sums (6)
    "7d7d"  # battery lines: by day, by cycle
    "ddd"  # storage: latest, growth, growth_low
    f"i{HOURS_KEPT}H{HOURS_KEPT}H"  # stability: newest hour, crashes, reboots
    "dqdqHq"  # heat: baseline, updated_us, offset, offset_us, normal_count, last_hot_us
    "BBBBB"  # counts: recent times, battery days, storage maxima, hot times, open alerts
)
_FIGURES = struct.Struct("<i8d")  # BatteryFigures, after the variable part
_ALERT_FORMAT = "BBq16s"  # condition, severity, raised_us, alert id
_VARIABLE_FORMATS: dict[tuple[int, int, int, int, int], struct.Struct] = {}


def _variable(counts: tuple[int, int, int, int, int]) -> struct.Struct:
    """The struct of the variable part for these counts (cached: at most a few thousand shapes occur),
    refusing counts beyond what a state can hold."""
    layout = _VARIABLE_FORMATS.get(counts)
    if layout is None:
        for count, limit, name in zip(counts, _LIMITS, _LIMIT_NAMES, strict=True):
            if count > limit:
                raise ValueError(f"device state holds {count} {name}, more than {limit}")
        recent, battery_days, maxima, hot, alerts = counts
        layout = struct.Struct(
            f"<{recent}q{battery_days}i{battery_days}d{maxima}i{maxima}d{hot}q{_ALERT_FORMAT * alerts}"
        )
        _VARIABLE_FORMATS[counts] = layout
    return layout


# Where the stability and heat blocks start in the fixed part.
_STABILITY = 3 + 5 + 11 + 14 + 3
_CRASHES = _STABILITY + 1
_REBOOTS = _CRASHES + HOURS_KEPT
_HEAT = _REBOOTS + HOURS_KEPT
_LIMITS = (RECENT_TIMES, GAUGE_LAG + 1, STORAGE_POINTS, HOT_TIMES, len(_CONDITIONS))
MAX_STATE_BYTES = (
    _FIXED.size
    + struct.calcsize(
        f"<{RECENT_TIMES}q{GAUGE_LAG + 1}i{GAUGE_LAG + 1}d{STORAGE_POINTS}i{STORAGE_POINTS}d{HOT_TIMES}q"
        f"{_ALERT_FORMAT * len(_CONDITIONS)}"
    )
    + _FIGURES.size
)
"""The most bytes a packed state can take, whatever the device's history."""
_LIMIT_NAMES = ("recent times", "battery days", "storage maxima", "hot-reading times", "open alerts")


@dataclass(slots=True)
class DeviceState:
    """Everything kept about one device between readings; O(1) in size whatever its history length."""

    readings: int = 0
    """Readings accepted (duplicates and too-late ones are not counted)."""
    last_us: int = 0
    """``measured_at`` of the newest reading, µs since the epoch; 0 before the first."""
    recent_us: list[int] = field(default_factory=list)
    """The last ``RECENT_TIMES`` accepted reading times, ascending."""
    today: DayTotals = field(default_factory=DayTotals)
    battery: BatteryState = field(default_factory=BatteryState)
    storage: StorageState = field(default_factory=StorageState)
    stability: StabilityState = field(default_factory=StabilityState)
    heat: HeatState = field(default_factory=HeatState)
    alerts: dict[AlertCondition, OpenAlert] = field(default_factory=dict)
    battery_figures: BatteryFigures = field(default_factory=BatteryFigures)
    """A cache, worked out by ``health.summarize`` once a day."""

    def admit(self, t_us: int, late_window_us: int) -> str | None:
        """Record a reading time, or say why the reading is ignored.

        A reading whose time equals a remembered one is a ``"duplicate"``. One older than the newest by more
        than ``late_window_us``, or older than every remembered time once ``RECENT_TIMES`` are kept (it could
        be a duplicate we no longer recognise), is ``"too_late"``. A later-than-newest or slightly late
        reading is admitted (None): the caller applies a slightly late one to what does not depend on order.
        """
        recent = self.recent_us
        if t_us in recent:
            return "duplicate"
        if self.readings and (
            t_us < self.last_us - late_window_us or (len(recent) >= RECENT_TIMES and t_us < recent[0])
        ):
            return "too_late"
        if not recent or t_us > recent[-1]:
            recent.append(t_us)
        else:
            insort(recent, t_us)
        if len(recent) > RECENT_TIMES:
            del recent[0]
        self.readings += 1
        return None

    def to_bytes(self) -> bytes:
        """Pack the state (little-endian ``struct``); ``from_bytes`` restores it exactly."""
        t, b, st, h = self.today, self.battery, self.stability, self.heat
        s = self.storage
        counts = (len(self.recent_us), len(b.recent_days), len(s.days), len(h.hot_us), len(self.alerts))
        alert_values: list[int | bytes] = []
        for condition, alert in self.alerts.items():
            alert_values += (
                _CONDITIONS.index(condition),
                _SEVERITIES.index(alert.severity),
                alert.raised_us,
                alert.alert_id.bytes,
            )
        return (
            _FIXED.pack(
                _FORMAT_VERSION,
                min(self.readings, 0xFFFFFFFF),
                self.last_us,
                t.day,
                t.soh_sum,
                t.soh_count,
                t.cycles,
                t.storage_max,
                b.origin_day,
                b.decay_day,
                b.points,
                b.level,
                b.max_cycles,
                b.near_sum,
                b.near_sq,
                b.near_weight,
                b.far_sum,
                b.far_sq,
                b.far_weight,
                *b.by_day.values(),
                *b.by_cycle.values(),
                s.latest,
                s.growth,
                s.growth_low,
                st.newest_hour,
                *st.crashes,
                *st.reboots,
                h.baseline_c,
                h.updated_us,
                h.offset_c,
                h.offset_us,
                h.normal_count,
                h.last_hot_us,
                *counts,
            )
            + _variable(counts).pack(
                *self.recent_us,
                *b.recent_days,
                *b.recent_soh,
                *s.days,
                *s.maxima,
                *h.hot_us,
                *alert_values,
            )
            + _FIGURES.pack(*self.battery_figures.values())
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> DeviceState:
        """Unpack what ``to_bytes`` wrote; ValueError names what is wrong with bytes that are not a state."""
        version = data[0] if data else _FORMAT_VERSION
        if version not in (1, _FORMAT_VERSION):
            raise ValueError(
                f"device state format version {version} is not supported (expected {_FORMAT_VERSION})"
            )
        try:
            v = _FIXED.unpack_from(data)
        except struct.error as error:
            raise ValueError(f"device state of {len(data)} bytes is truncated or corrupt: {error}") from error
        counts: tuple[int, int, int, int, int] = v[-5:]
        layout = _variable(counts)
        figures_at = _FIXED.size + layout.size
        expected = figures_at + (_FIGURES.size if version == _FORMAT_VERSION else 0)
        if len(data) != expected:
            raise ValueError(
                f"device state of {len(data)} bytes is truncated or corrupt: expected {expected} bytes"
            )
        figures = (
            BatteryFigures(*_FIGURES.unpack_from(data, figures_at))
            if version == _FORMAT_VERSION
            else BatteryFigures()
        )
        w = layout.unpack_from(data, _FIXED.size)
        n_recent, n_days, n_maxima, n_hot, n_alerts = counts
        i = n_recent + 2 * n_days
        j = i + 2 * n_maxima
        k = j + n_hot
        hot_us = list(w[j:k])
        alerts: dict[AlertCondition, OpenAlert] = {}
        try:
            for _ in range(n_alerts):
                alerts[_CONDITIONS[w[k]]] = OpenAlert(UUID(bytes=w[k + 3]), _SEVERITIES[w[k + 1]], w[k + 2])
                k += 4
        except IndexError as error:
            raise ValueError("device state names an unknown alert condition or severity") from error
        # Positional, in field order: the fastest way to build them (this runs for every reading).
        return cls(
            v[1],
            v[2],
            list(w[:n_recent]),
            DayTotals(v[3], v[4], v[5], v[6], v[7]),
            BatteryState(
                v[8],  # origin_day
                v[9],  # decay_day
                v[10],  # points
                v[11],  # level
                v[12],  # max_cycles
                list(w[n_recent : n_recent + n_days]),  # recent_days
                list(w[n_recent + n_days : i]),  # recent_soh
                v[13],  # near_sum, near_sq, near_weight, far_sum, far_sq, far_weight
                v[14],
                v[15],
                v[16],
                v[17],
                v[18],
                Line(v[19], v[20], v[21], v[22], v[23], v[24], v[25]),  # by_day
                Line(v[26], v[27], v[28], v[29], v[30], v[31], v[32]),  # by_cycle
            ),
            StorageState(v[33], list(w[i : i + n_maxima]), list(w[i + n_maxima : j]), v[34], v[35]),
            StabilityState(v[_STABILITY], list(v[_CRASHES:_REBOOTS]), list(v[_REBOOTS:_HEAT])),
            HeatState(v[_HEAT], v[_HEAT + 1], v[_HEAT + 2], v[_HEAT + 3], v[_HEAT + 4], v[_HEAT + 5], hot_us),
            alerts,
            figures,
        )
