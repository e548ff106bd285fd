"""Device health: one reading in, the device's new state and its alert changes out.

The API (stable; the fleet simulator, the evaluation and the service call it)::

    from lingxi_maintenance.health import HealthSettings, assess, summarize
    from lingxi_maintenance.heat import FleetModels
    from lingxi_maintenance.state import DeviceState

    models = FleetModels()                       # one per process, shared by all devices
    state: DeviceState | None = None             # or DeviceState.from_bytes(stored)
    result = assess(state, reading, models)      # optional: settings=HealthSettings(...)
    result.state        # the device's state, updated in place (the same object when one was passed)
    result.changes      # list of alerts.RaisedAlert / alerts.ClearedAlert, in order
    result.ignored      # None, or why the reading was not used: "duplicate" or "too_late"
    result.summary      # DeviceHealth (computed on access): the JSON of GET /v1/devices/{id}/health
    stored = result.state.to_bytes()             # a few hundred bytes
    summarize(device_id, state)                  # the same summary, from a stored state
    health_record(state)                         # its figures unformatted, as the store keeps them

Readings may come in any order within ``late_window_s`` of the newest (and within the last
``state.RECENT_TIMES`` readings): a reading with a ``measured_at`` already seen is a duplicate and ignored;
an older one than that is ignored as too late. A slightly late reading still counts where order does not
matter (crash and reboot counts in their hour, its temperature and the fleet statistics, today's battery and
storage totals when it falls on the current day); it never moves the device's newest time, and readings
of a day already closed are not added to the daily trends.

``assess`` checks the reading before touching anything (ValueError naming the field), so a bad reading
never leaves a half-updated state. It does no I/O and reads no clock: time is the readings' ``measured_at``.
Alert ids are UUID5 of device, condition and the raising reading's time, so a replay gives the same ids.
Changes for a reading come in a fixed order: battery, storage, overheating, crash loop, reboot storm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta

from lingxi.device_health import DeviceHealth, HealthRecord, health_view
from lingxi.events.maintenance import AlertCondition

from lingxi_maintenance import battery, heat, stability, storage
from lingxi_maintenance.alerts import AlertChange, apply
from lingxi_maintenance.heat import FleetModels
from lingxi_maintenance.readings import ReadingFields
from lingxi_maintenance.state import (
    DAY_US,
    HOT_TIMES,
    STORAGE_POINTS,
    BatteryFigures,
    BatteryState,
    DeviceState,
)

__all__ = [
    "DEFAULT_SETTINGS",
    "Assessment",
    "HealthSettings",
    "assess",
    "health_record",
    "summarize",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class HealthSettings:
    """Every threshold of the health models, with the reason for its default. Frozen: build a new one
    (``dataclasses.replace``) to tune."""

    # --- reading order ---
    late_window_s: float = 24 * 3600.0
    """A reading older than the device's newest by more than this is ignored as too late (so is one older
    than the last ``state.RECENT_TIMES`` readings: it can no longer be told from a duplicate)."""

    # --- battery ---
    battery_end_of_life: float = 0.80
    """State of health at which a battery counts as worn out (what phone makers warrant: 80%)."""
    battery_horizon_days: float = 30.0
    """Raise battery wear when end of life is predicted within this many days (the lead time asked is 7+)."""
    battery_critical_days: float = 7.0
    """Predicted end of life this close is critical, as is a battery already below end of life."""
    battery_clear_soh: float = 0.85
    """An open battery alert clears only above this state of health (a new battery), not on noise."""
    battery_half_life_days: float = 30.0
    """Age at which a day's point weighs half in the fade fit: follows a fade that speeds up."""
    battery_min_days: int = 14
    """Daily points needed before predicting; they must also be spread (weighted std ≥ a quarter of it)."""
    battery_min_cycle_spread: float = 5.0
    """Weighted std of cycle counts needed before predicting cycles to end of life."""
    battery_min_days_below: int = 3
    """Daily points needed before "already below end of life" raises (one noisy day does not)."""
    battery_interval_max_days: float = 60.0
    """Raise on a prediction only when the interval's latest crossing is within this many days too."""
    battery_interval_z: float = 1.645
    """Half-width of the interval in standard errors (1.645: a 90% two-sided interval)."""
    battery_replacement_jump: float = 0.08
    """A day this much above the smoothed state of health means a new battery: the history restarts."""

    # --- heat ---
    heat_fast_charge_ma: int = 3000
    """Charging current from which a reading is in the fast-charge context (a 5 V / 2 A charger is not)."""
    heat_active_ma: int = 200
    """Discharge current from which the phone is in use (screen on) rather than idle."""
    heat_heavy_ma: int = 800
    """Discharge current from which the use is heavy (games, navigation, camera)."""
    heat_rise_c: float = 7.0
    """A reading this much warmer than the device's own normal (both relative to the fleet in the same
    context) is hot: well above a hot afternoon (about +2.5 °C) on a hot day (weather adds about ±1.5)."""
    heat_clear_rise_c: float = 4.0
    """While an alert is open, readings from this much above normal still count as hot; the device's normal
    learns only from readings below it."""
    heat_raise_z: float = 4.0
    """Before the device's normal is known: standard deviations above the model's fleet in the same context
    (allowing a capped offset) for a reading to be hot."""
    heat_clear_z: float = 2.5
    """The same while an alert is open."""
    heat_min_temp_c: float = 45.0
    """Below this battery temperature no reading is hot by the fleet comparison alone."""
    heat_absolute_c: float = 55.0
    """At or above this battery temperature a reading is hot in any context (charging stops near 45 °C)."""
    heat_critical_c: float = 55.0
    """An overheating alert raised at this temperature, or in a critical thermal state, is critical."""
    heat_min_hot_readings: int = 4
    """Hot readings needed within ``heat_window_h`` to raise: one spike, or one hot afternoon, is not
    overheating."""
    heat_window_h: float = 24.0
    """Window for the hot readings of one episode (devices report every 1-4 hours)."""
    heat_clear_after_h: float = 24.0
    """An overheating alert clears after this long without a hot reading."""
    heat_baseline_readings: int = 24
    """Normal readings before the device's own normal is trusted."""
    heat_warmup_readings: int = 200
    """Readings a (model, context) needs before its statistics score anything."""
    heat_memory_readings: int = 20_000
    """Readings of a (model, context) the statistics remember (halved when twice this): follows seasons."""
    heat_clip_sigma: float = 3.0
    """Fleet learning clips readings to the mean ± this many standard deviations (faults do not teach)."""
    heat_min_std_c: float = 1.5
    """Floor of the fleet's standard deviation, so a very uniform fleet does not make 2 °C an anomaly."""
    heat_device_time_constant_h: float = 120.0
    """Time constant of the device's own normal: follows weather and seasons over days, not a fault."""
    heat_device_offset_cap_c: float = 4.0
    """Most of a device's warm offset allowed for in the fleet comparison (before its normal is trusted)."""

    # --- storage ---
    storage_full_fraction: float = 1.0
    """Use at which storage is full (days to full count to this)."""
    storage_high_fraction: float = 0.95
    """Raise storage full at this use whatever the trend."""
    storage_critical_fraction: float = 0.98
    """Use at which a storage alert is critical."""
    storage_horizon_days: float = 14.0
    """Raise storage full when the trend predicts full within this many days."""
    storage_critical_days: float = 3.0
    """Predicted full this soon is critical (within half the horizon: warning; beyond: info)."""
    storage_clear_fraction: float = 0.90
    """An open storage alert clears below this use, and only if full is no longer near."""
    storage_window_days: int = 5
    """Daily changes whose median is the growth (3 to 7): a download or a clean-up is one odd day."""
    storage_interval_max_days: float = 28.0
    """Raise on the trend only when, at the slow end (the second-lowest daily change), storage is full
    within this many days too."""

    # --- stability ---
    crash_loop_per_hour: float = 5.0
    """App crashes in an hour that make a crash loop."""
    crash_loop_per_day: int = 20
    """App crashes in a day that make a crash loop."""
    crash_loop_critical_factor: float = 3.0
    """A crash loop this many times over either threshold is critical."""
    crash_loop_clear_per_day: int = 3
    """A crash loop clears when the last day has at most this many crashes and the last hour none."""
    reboot_storm_per_hour: float = 3.0
    """Reboots in an hour that make a reboot storm."""
    reboot_storm_per_day: int = 8
    """Reboots in a day that make a reboot storm."""
    reboot_storm_clear_per_day: int = 1
    """A reboot storm clears when the last day has at most this many reboots and the last hour none."""

    def __post_init__(self) -> None:
        if not 1 <= self.heat_min_hot_readings <= HOT_TIMES:
            raise ValueError(
                f"heat_min_hot_readings must be 1..{HOT_TIMES}, got {self.heat_min_hot_readings}"
            )
        if self.heat_memory_readings < self.heat_warmup_readings:
            raise ValueError(
                f"heat_memory_readings ({self.heat_memory_readings}) must be at least "
                f"heat_warmup_readings ({self.heat_warmup_readings})"
            )
        if self.heat_clear_rise_c > self.heat_rise_c:
            raise ValueError(
                f"heat_clear_rise_c ({self.heat_clear_rise_c}) must not exceed "
                f"heat_rise_c ({self.heat_rise_c})"
            )
        if self.heat_clear_z > self.heat_raise_z:
            raise ValueError(
                f"heat_clear_z ({self.heat_clear_z}) must not exceed heat_raise_z ({self.heat_raise_z})"
            )
        if not self.storage_clear_fraction < self.storage_high_fraction <= self.storage_critical_fraction:
            raise ValueError("storage fractions must rise: clear < high ≤ critical")
        if self.battery_clear_soh <= self.battery_end_of_life:
            raise ValueError(
                f"battery_clear_soh ({self.battery_clear_soh}) must exceed battery_end_of_life "
                f"({self.battery_end_of_life})"
            )
        for f in fields(self):
            value = getattr(self, f.name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{f.name} must be a finite, non-negative number, got {value!r}")
        if not 3 <= self.storage_window_days < STORAGE_POINTS:
            raise ValueError(
                f"storage_window_days must be 3..{STORAGE_POINTS - 1}, got {self.storage_window_days}"
            )
        for name in ("late_window_s", "battery_half_life_days", "heat_device_time_constant_h"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


DEFAULT_SETTINGS = HealthSettings()


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, digits)


def health_record(state: DeviceState, settings: HealthSettings = DEFAULT_SETTINGS) -> HealthRecord:
    """Where each model stands for the device, as of its newest reading: the figures as they are, for
    the store (``lingxi.device_health``: the gateway rounds and names them when it shows them)."""
    today = state.last_us // DAY_US
    figures = state.battery_figures
    if figures.day != today:
        _work_out_battery_figures(figures, state.battery, today, settings)
    s = state.storage
    counts = stability.counts(state.stability, state.last_us)
    h = state.heat
    return HealthRecord(
        state.last_us,
        state.readings,
        figures.health_pct,
        figures.days_to_80,
        figures.days_to_80_low,
        figures.days_to_80_high,
        figures.cycles_to_80,
        figures.cycles_to_80_low,
        figures.cycles_to_80_high,
        figures.fade_pct_per_100_cycles,
        today - state.battery.origin_day if state.battery.points else 0,
        s.latest,
        s.growth,
        storage.days_to_full(s, settings),
        counts.crashes_hour,
        counts.crashes_day,
        counts.reboots_hour,
        counts.reboots_day,
        h.baseline_c,
        h.offset_c,
        [
            (str(a.alert_id), condition.value, a.severity.value, a.raised_us)
            for condition, a in state.alerts.items()
        ],
    )


def summarize(
    device_id: str, state: DeviceState, settings: HealthSettings = DEFAULT_SETTINGS
) -> DeviceHealth:
    """The health summary of a device from its state, as ``GET /v1/devices/{id}/health`` shows it."""
    return health_view(device_id, health_record(state, settings))


def _work_out_battery_figures(
    figures: BatteryFigures, state: BatteryState, today: int, settings: HealthSettings
) -> None:
    """Fill the battery's figures for ``today`` (NaN where there is no estimate)."""
    bat = battery.outlook(state, today, settings)
    fade = bat.fade_per_100_cycles
    figures.day = today
    figures.health_pct = _nan_for_none(None if bat.soh is None else _round(100.0 * bat.soh, 1))
    figures.days_to_80 = _nan_for_none(_round(bat.days.central, 1))
    figures.days_to_80_low = _nan_for_none(_round(bat.days.low, 1))
    figures.days_to_80_high = _nan_for_none(_round(bat.days.high, 1))
    figures.cycles_to_80 = _nan_for_none(_round(bat.cycles.central, 0))
    figures.cycles_to_80_low = _nan_for_none(_round(bat.cycles.low, 0))
    figures.cycles_to_80_high = _nan_for_none(_round(bat.cycles.high, 0))
    figures.fade_pct_per_100_cycles = _nan_for_none(None if fade is None else _round(100.0 * fade, 2))


def _nan_for_none(value: float | None) -> float:
    return math.nan if value is None else value


class Assessment:
    """The outcome of one reading: the device's new state, its alert changes, and (on access) its summary."""

    __slots__ = ("changes", "device_id", "ignored", "settings", "state")

    def __init__(
        self,
        device_id: str,
        state: DeviceState,
        changes: list[AlertChange],
        ignored: str | None,
        settings: HealthSettings,
    ) -> None:
        self.device_id = device_id
        self.state = state
        self.changes = changes
        """Alerts raised and cleared by this reading (usually none)."""
        self.ignored = ignored
        """None when the reading was used; else why not: ``"duplicate"`` or ``"too_late"``."""
        self.settings = settings

    @property
    def summary(self) -> DeviceHealth:
        """The device's health summary after this reading (computed on each access)."""
        return summarize(self.device_id, self.state, self.settings)


def _check_reading(reading: ReadingFields) -> None:
    """Refuse readings the domain cannot use, naming the field, before anything is changed."""
    problem = None
    if reading.measured_at.tzinfo is None or reading.measured_at.utcoffset() is None:
        problem = "measured_at must be timezone-aware"
    elif reading.design_capacity_mah <= 0:
        problem = f"design_capacity_mah must be positive, got {reading.design_capacity_mah}"
    elif reading.full_charge_capacity_mah < 0:
        problem = f"full_charge_capacity_mah must not be negative, got {reading.full_charge_capacity_mah}"
    elif reading.storage_total_bytes <= 0:
        problem = f"storage_total_bytes must be positive, got {reading.storage_total_bytes}"
    elif not 0 <= reading.storage_used_bytes <= reading.storage_total_bytes:
        problem = (
            f"storage_used_bytes must be within 0..storage_total_bytes, got {reading.storage_used_bytes}"
        )
    elif not math.isfinite(reading.temperature_c):
        problem = f"temperature_c must be finite, got {reading.temperature_c}"
    elif reading.app_crash_count < 0 or reading.reboot_count < 0:
        problem = (
            f"crash and reboot counts must not be negative: {reading.app_crash_count}, {reading.reboot_count}"
        )
    elif reading.cycle_count < 0:
        problem = f"cycle_count must not be negative, got {reading.cycle_count}"
    if problem is not None:
        raise ValueError(f"reading of device {reading.device_id!r}: {problem}")


def assess(
    state: DeviceState | None,
    reading: ReadingFields,
    models: FleetModels,
    settings: HealthSettings = DEFAULT_SETTINGS,
) -> Assessment:
    """Fold one reading into a device's state (None: a new device) and the fleet models (module doc)."""
    _check_reading(reading)
    t_us = (reading.measured_at - _EPOCH) // _MICROSECOND
    if state is None:
        state = DeviceState()
    late = state.readings > 0 and t_us < state.last_us
    ignored = state.admit(t_us, int(settings.late_window_s * 1e6))
    if ignored is not None:
        return Assessment(reading.device_id, state, [], ignored, settings)
    if not late:
        state.last_us = t_us
    device_id = reading.device_id
    alerts = state.alerts
    changes: list[AlertChange] = []

    # Daily trends: a new day closes yesterday's totals into the battery and storage fits.
    day = t_us // DAY_US
    today = state.today
    day_closed = False
    if day > today.day:
        if today.soh_count:
            battery.close_day(
                state.battery, today.day, today.soh_sum / today.soh_count, today.cycles, settings
            )
            day_closed = True
        if today.storage_max >= 0.0:
            storage.close_day(state.storage, today.day, today.storage_max, settings)
        today.day = day
        today.soh_sum = 0.0
        today.soh_count = 0
        today.cycles = 0
        today.storage_max = -1.0
    used = reading.storage_used_bytes / reading.storage_total_bytes
    if day == today.day:
        today.soh_sum += reading.full_charge_capacity_mah / reading.design_capacity_mah
        today.soh_count += 1
        if reading.cycle_count > today.cycles:
            today.cycles = reading.cycle_count
        if used > today.storage_max:
            today.storage_max = used
    if not late:
        state.storage.latest = used

    if day_closed:
        verdict = battery.check(
            state.battery, day, AlertCondition.BATTERY_WEAR in alerts, reading.design_capacity_mah, settings
        )
        change = apply(state, device_id, AlertCondition.BATTERY_WEAR, verdict, t_us)
        if change is not None:
            changes.append(change)

    storage_open = AlertCondition.STORAGE_FULL in alerts
    if storage_open or used >= settings.storage_high_fraction or state.storage.growth > 0.0:
        verdict = storage.check(state.storage, reading.storage_total_bytes, storage_open, settings)
        change = apply(state, device_id, AlertCondition.STORAGE_FULL, verdict, t_us)
        if change is not None:
            changes.append(change)

    heat_open = AlertCondition.OVERHEATING in alerts
    seen = heat.observe(state.heat, reading, t_us, late, heat_open, models, settings)
    if seen.hot or heat_open:
        verdict = heat.check(state.heat, seen, reading, state.last_us, heat_open, settings)
        change = apply(state, device_id, AlertCondition.OVERHEATING, verdict, t_us)
        if change is not None:
            changes.append(change)

    counted = stability.add(state.stability, t_us, reading.app_crash_count, reading.reboot_count)
    crash_open = AlertCondition.CRASH_LOOP in alerts
    reboot_open = AlertCondition.REBOOT_STORM in alerts
    if (counted and (reading.app_crash_count or reading.reboot_count)) or crash_open or reboot_open:
        counts = stability.counts(state.stability, state.last_us)
        for condition, decision in (
            (AlertCondition.CRASH_LOOP, stability.check_crashes(counts, crash_open, settings)),
            (AlertCondition.REBOOT_STORM, stability.check_reboots(counts, reboot_open, settings)),
        ):
            if (change := apply(state, device_id, condition, decision, t_us)) is not None:
                changes.append(change)
    return Assessment(device_id, state, changes, None, settings)
