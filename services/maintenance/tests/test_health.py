"""The health models, the per-device state and the alert lifecycle, on hand-made histories."""

from __future__ import annotations

import json
import random
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from lingxi.events.base import Region
from lingxi.events.maintenance import AlertCondition, AlertSeverity
from lingxi_maintenance.alerts import ALERT_NAMESPACE, ClearedAlert, RaisedAlert, alert_event, alert_id
from lingxi_maintenance.health import DEFAULT_SETTINGS, HealthSettings, assess, summarize
from lingxi_maintenance.heat import FleetModels
from lingxi_maintenance.readings import Reading
from lingxi_maintenance.state import (
    DAY_US,
    GAUGE_LAG,
    HOT_TIMES,
    MAX_STATE_BYTES,
    RECENT_TIMES,
    STORAGE_POINTS,
    BatteryFigures,
    DeviceState,
    OpenAlert,
)

GB = 1_000_000_000
T0 = datetime(2026, 1, 5, tzinfo=UTC)
MODEL = "LX-TEST"
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def reading(
    at: datetime,
    *,
    device: str = "dev-1",
    model: str = MODEL,
    soh: float = 0.95,
    cycles: int = 100,
    temp: float = 30.0,
    current: int = -100,
    charging: str = "discharging",
    thermal: str = "none",
    used: float = 0.5,
    total: int = 256 * GB,
    crashes: int = 0,
    reboots: int = 0,
) -> Reading:
    return Reading(
        device_id=device,
        device_model=model,
        measured_at=at,
        battery_level=60,
        full_charge_capacity_mah=round(5000 * soh),
        design_capacity_mah=5000,
        cycle_count=cycles,
        temperature_c=temp,
        voltage_mv=3900,
        current_ma=current,
        charging_state=charging,
        thermal_state=thermal,
        storage_used_bytes=round(used * total),
        storage_total_bytes=total,
        app_crash_count=crashes,
        reboot_count=reboots,
        os_version="LingOS 5.1.0",
    )


class Device:
    """One device fed reading by reading, keeping every alert change."""

    def __init__(
        self, models: FleetModels | None = None, settings: HealthSettings = DEFAULT_SETTINGS
    ) -> None:
        self.state: DeviceState | None = None
        self.models = models if models is not None else FleetModels()
        self.settings = settings
        self.changes: list[RaisedAlert | ClearedAlert] = []
        self.ignored: list[str] = []

    def feed(self, r: Reading) -> list[RaisedAlert | ClearedAlert]:
        result = assess(self.state, r, self.models, self.settings)
        self.state = result.state
        self.changes.extend(result.changes)
        if result.ignored:
            self.ignored.append(result.ignored)
        return result.changes

    def raised(self, condition: AlertCondition) -> list[RaisedAlert]:
        return [c for c in self.changes if isinstance(c, RaisedAlert) and c.condition is condition]

    def cleared(self, condition: AlertCondition) -> list[ClearedAlert]:
        return [c for c in self.changes if isinstance(c, ClearedAlert) and c.condition is condition]


# --- battery ------------------------------------------------------------------------------------


def fading_battery(
    device: Device,
    start_soh: float,
    per_day: float,
    days: int,
    *,
    rng: random.Random,
    start: datetime = T0,
    per_reading: int = 4,
    gauge_ar: float = 0.0,
    stop_below: float | None = None,
) -> datetime | None:
    """Feed a linearly fading battery (reading noise 0.3%, optional day-to-day gauge error); the time it
    first truly fell below ``stop_below``, stopping there, if it did."""
    gauge = 0.0
    cycles = 300
    for day in range(days):
        gauge = gauge_ar * gauge + (rng.gauss(0.0, 0.002) if gauge_ar else 0.0)
        for k in range(per_reading):
            at = start + day * DAY + k * (DAY / per_reading)
            true_soh = start_soh - per_day * (day + k / per_reading)
            if stop_below is not None and true_soh < stop_below:
                return at
            noisy = true_soh * (1.0 + gauge + rng.gauss(0.0, 0.003))
            device.feed(reading(at, soh=noisy, cycles=cycles + day))
    return None


def test_a_battery_fading_to_80_raises_ahead_of_time_with_an_interval_around_the_truth() -> None:
    device = Device()
    rate = 0.10 / 150  # 90% to 80% in 150 days
    failed_at = fading_battery(device, 0.90, rate, 200, rng=random.Random(1), gauge_ar=0.8, stop_below=0.80)
    assert failed_at is not None
    (alert,) = device.raised(AlertCondition.BATTERY_WEAR)
    lead_days = (failed_at - alert.raised_at) / DAY
    assert 7.0 <= lead_days <= 60.0, lead_days
    evidence = alert.evidence
    assert evidence["days_to_80_pct_low"] <= lead_days <= evidence["days_to_80_pct_high"]
    assert evidence["days_to_80_pct_low"] < evidence["days_to_80_pct"] < evidence["days_to_80_pct_high"]
    assert 80.0 < evidence["battery_health_pct"] < 84.0
    assert "cycles_to_80_pct" in evidence
    assert alert.severity in (AlertSeverity.WARNING, AlertSeverity.CRITICAL)
    assert f"{round(evidence['battery_health_pct'])}%" in alert.recommended_action_zh
    assert "80%" in alert.recommended_action_en


def test_the_battery_interval_narrows_as_history_accumulates() -> None:
    rate = 4e-4
    widths = []
    for history_days in (16, 70):
        device = Device()
        # Both reach 86% on the last day; one has watched the battery for longer.
        fading_battery(device, 0.86 + rate * history_days, rate, history_days, rng=random.Random(2))
        assert device.state is not None
        summary = summarize("dev-1", device.state)
        assert summary["battery_days_to_80_low"] is not None
        assert summary["battery_days_to_80_high"] is not None
        assert summary["battery_days_to_80_low"] < 0.06 / rate < summary["battery_days_to_80_high"]
        widths.append(summary["battery_days_to_80_high"] - summary["battery_days_to_80_low"])
    assert widths[1] < widths[0] / 2, widths


def test_a_healthy_battery_never_alerts_in_a_year() -> None:
    device = Device()
    fading_battery(device, 0.97, 5e-5, 365, rng=random.Random(3), gauge_ar=0.8)
    assert device.raised(AlertCondition.BATTERY_WEAR) == []
    assert device.state is not None
    summary = summarize("dev-1", device.state)
    assert summary["battery_health_pct"] is not None
    assert 94.0 < summary["battery_health_pct"] < 97.0
    assert summary["battery_days_to_80"] is None or summary["battery_days_to_80"] > 365


def test_two_points_predict_nothing_even_when_they_fall_fast() -> None:
    device = Device()
    device.feed(reading(T0, soh=0.83))
    device.feed(reading(T0 + DAY, soh=0.82))
    device.feed(reading(T0 + 2 * DAY, soh=0.81))
    assert device.changes == []
    assert device.state is not None
    assert summarize("dev-1", device.state)["battery_days_to_80"] is None


def test_a_battery_already_worn_raises_critical_and_a_new_battery_clears_it() -> None:
    device = Device()
    for day in range(5):
        device.feed(reading(T0 + day * DAY, soh=0.76, cycles=900 + day))
    (alert,) = device.raised(AlertCondition.BATTERY_WEAR)
    assert alert.severity is AlertSeverity.CRITICAL
    assert alert.evidence["battery_health_pct"] == pytest.approx(76.0, abs=0.5)
    assert "80%" in alert.recommended_action_zh
    assert "更换电池" in alert.recommended_action_zh
    # Replaced: capacity back to design, cycle count reset.
    for day in range(5, 8):
        device.feed(reading(T0 + day * DAY, soh=0.99, cycles=day - 5))
    (cleared,) = device.cleared(AlertCondition.BATTERY_WEAR)
    assert cleared.alert_id == alert.alert_id


# --- heat ---------------------------------------------------------------------------------------


def warm_fleet(models: FleetModels, days: int = 3, devices: int = 20) -> None:
    """Ordinary handsets of the model: idle at night, in use by day, a fast charge in the evening."""
    rng = random.Random(4)
    for hour in range(days * 24):
        at = T0 + hour * HOUR
        for index in range(devices):
            device = f"fleet-{index}"
            h = hour % 24
            if h < 8:
                r = reading(at, device=device, temp=rng.gauss(27.0, 1.5), current=-80)
            elif 18 <= h <= 21:
                r = reading(at, device=device, temp=rng.gauss(41.0, 1.5), current=4200, charging="charging")
            else:
                r = reading(at, device=device, temp=rng.gauss(33.0, 1.5), current=-450)
            assess(None, r, models)


def daily_life(device: Device, start: datetime, days: int, extra_c: float = 0.0, rng_seed: int = 5) -> None:
    rng = random.Random(rng_seed)
    for hour in range(days * 24):
        at = start + hour * HOUR
        h = hour % 24
        if h < 8:
            device.feed(reading(at, temp=rng.gauss(27.0, 1.0) + extra_c, current=-80))
        elif 18 <= h <= 21:
            device.feed(reading(at, temp=rng.gauss(41.0, 1.0) + extra_c, current=4200, charging="charging"))
        else:
            device.feed(reading(at, temp=rng.gauss(33.0, 1.0) + extra_c, current=-450))


def test_a_hot_but_normal_fast_charge_does_not_alert_but_sustained_heat_while_idle_does() -> None:
    models = FleetModels()
    warm_fleet(models)
    device = Device(models)
    daily_life(device, T0, 3)
    # Fast charging at 44-45 °C for four hours: hot, but what this model does on a fast charger.
    for k in range(4):
        device.feed(reading(T0 + 3 * DAY + k * HOUR, temp=44.5, current=4500, charging="charging"))
    assert device.raised(AlertCondition.OVERHEATING) == []
    # Idle, not charging, at 55-60 °C for hours.
    hot_start = T0 + 3 * DAY + 6 * HOUR
    for k in range(6):
        device.feed(reading(hot_start + k * HOUR, temp=55.0 + k, current=-60, thermal="critical"))
    (alert,) = device.raised(AlertCondition.OVERHEATING)
    assert alert.raised_at <= hot_start + 4 * HOUR
    assert alert.severity is AlertSeverity.CRITICAL
    assert alert.evidence["charging"] is False
    assert alert.evidence["context"] == "idle"
    assert alert.evidence["temperature_c"] >= 55.0
    assert alert.evidence["hot_readings"] >= DEFAULT_SETTINGS.heat_min_hot_readings
    assert "°C" in alert.recommended_action_zh
    assert "°C" in alert.recommended_action_en
    # Back to normal: cleared after a quiet day, not before.
    daily_life(device, hot_start + 6 * HOUR, 2)
    (cleared,) = device.cleared(AlertCondition.OVERHEATING)
    quiet = cleared.cleared_at - (hot_start + 5 * HOUR)
    assert timedelta(hours=DEFAULT_SETTINGS.heat_clear_after_h) <= quiet <= timedelta(hours=26)
    assert cleared.alert_id == alert.alert_id


def test_a_device_running_much_warmer_than_its_own_normal_alerts_in_every_context() -> None:
    models = FleetModels()
    warm_fleet(models)
    device = Device(models)
    daily_life(device, T0, 4)
    onset = T0 + 4 * DAY
    daily_life(device, onset, 2, extra_c=10.0)  # never above 52 °C, yet 10 °C over its normal
    (alert,) = device.raised(AlertCondition.OVERHEATING)
    assert onset < alert.raised_at <= onset + DAY
    assert alert.evidence["above_own_normal_c"] >= DEFAULT_SETTINGS.heat_rise_c


def test_one_heat_spike_or_a_slightly_warm_day_does_not_alert() -> None:
    models = FleetModels()
    warm_fleet(models)
    device = Device(models)
    daily_life(device, T0, 4)
    device.feed(reading(T0 + 4 * DAY, temp=58.0, current=-60))  # one spike
    daily_life(device, T0 + 4 * DAY + HOUR, 2, extra_c=3.0)  # a hot spell: 3 °C warmer
    assert device.raised(AlertCondition.OVERHEATING) == []


def test_fleet_models_learn_per_model_and_context_and_round_trip() -> None:
    models = FleetModels()
    warm_fleet(models)
    stats = models.to_dict()[MODEL]
    assert set(stats) == {"idle", "in_use", "fast_charge"}
    assert stats["idle"]["mean"] == pytest.approx(27.0, abs=0.5)
    assert stats["fast_charge"]["mean"] == pytest.approx(41.0, abs=0.5)
    assert stats["in_use"]["var"] == pytest.approx(1.5**2, rel=0.3)
    restored = FleetModels.from_dict(json.loads(json.dumps(models.to_dict())))
    for context, entry in restored.to_dict()[MODEL].items():
        assert entry == pytest.approx(stats[context], rel=1e-12)
    other = FleetModels.from_dict(models.to_dict())
    other.merge(restored)
    assert other.to_dict()[MODEL]["idle"]["n"] == pytest.approx(2 * stats["idle"]["n"])
    assert other.to_dict()[MODEL]["idle"]["mean"] == pytest.approx(stats["idle"]["mean"])
    with pytest.raises(ValueError, match="idle"):
        FleetModels.from_dict({MODEL: {"idle": {"n": 3, "mean": "warm"}}})


# --- storage ------------------------------------------------------------------------------------


def storage_days(
    device: Device, start_used: float, per_day: float, days: int, *, jumps: dict[int, float] | None = None
) -> None:
    rng = random.Random(6)
    used = start_used
    for day in range(days):
        used += per_day + (jumps or {}).get(day, 0.0)
        for k in range(6):
            at = T0 + day * DAY + k * 4 * HOUR
            device.feed(reading(at, used=min(1.0, max(0.0, used + rng.gauss(0.0, 0.001)))))


def test_storage_filling_up_alerts_with_a_sensible_days_to_full() -> None:
    device = Device()
    storage_days(device, 0.55, 0.02, 25)
    (alert,) = device.raised(AlertCondition.STORAGE_FULL)
    used = alert.evidence["storage_used_pct"] / 100.0
    true_days = (1.0 - used) / 0.02
    assert alert.evidence["days_to_full"] == pytest.approx(true_days, rel=0.15)
    assert 7.0 <= true_days <= DEFAULT_SETTINGS.storage_horizon_days + 1.0
    assert alert.evidence["growth_pct_per_day"] == pytest.approx(2.0, rel=0.15)
    assert "天" in alert.recommended_action_zh
    assert "days" in alert.recommended_action_en


def test_a_big_download_or_a_clean_up_is_not_a_trend() -> None:
    device = Device()
    storage_days(device, 0.60, 0.002, 40, jumps={10: 0.12, 20: -0.25, 30: 0.15})
    assert device.raised(AlertCondition.STORAGE_FULL) == []


def test_storage_alert_clears_with_hysteresis_only_well_below_the_threshold() -> None:
    device = Device()
    for k in range(40):  # hovering either side of 95%
        device.feed(reading(T0 + k * 3 * HOUR, used=0.953 if k % 2 else 0.947))
    assert len(device.raised(AlertCondition.STORAGE_FULL)) == 1
    assert device.cleared(AlertCondition.STORAGE_FULL) == []
    device.feed(reading(T0 + 200 * HOUR, used=0.70))
    assert len(device.cleared(AlertCondition.STORAGE_FULL)) == 1


# --- stability ----------------------------------------------------------------------------------


def test_a_crash_burst_is_a_crash_loop_and_occasional_crashes_are_not() -> None:
    calm = Device()
    for k in range(30 * 4):  # one crash every six hours for a month
        calm.feed(reading(T0 + k * 6 * HOUR, crashes=1))
    assert calm.changes == []

    burst = Device()
    burst.feed(reading(T0, crashes=0))
    burst.feed(reading(T0 + 30 * timedelta(minutes=1), crashes=3))
    assert burst.changes == []
    burst.feed(reading(T0 + 50 * timedelta(minutes=1), crashes=3))
    (alert,) = burst.raised(AlertCondition.CRASH_LOOP)
    assert alert.evidence["crashes_last_hour"] >= 5
    for k in range(1, 30):
        burst.feed(reading(T0 + HOUR + k * HOUR, crashes=0))
    (cleared,) = burst.cleared(AlertCondition.CRASH_LOOP)
    assert cleared.cleared_at - alert.raised_at >= timedelta(hours=23)


def test_crashes_spread_over_a_day_make_a_crash_loop_too() -> None:
    device = Device()
    for k in range(24):
        device.feed(reading(T0 + k * HOUR, crashes=1))
    raised = device.raised(AlertCondition.CRASH_LOOP)
    assert len(raised) == 1
    assert raised[0].evidence["crashes_last_day"] >= DEFAULT_SETTINGS.crash_loop_per_day


def test_a_reboot_storm() -> None:
    device = Device()
    device.feed(reading(T0))
    for k in range(1, 4):
        device.feed(reading(T0 + k * timedelta(minutes=15), reboots=1))
    (alert,) = device.raised(AlertCondition.REBOOT_STORM)
    assert alert.raised_at == T0 + 45 * timedelta(minutes=1)
    assert alert.evidence["reboots_last_hour"] >= 3
    assert device.raised(AlertCondition.CRASH_LOOP) == []


# --- lifecycle, ordering, state -----------------------------------------------------------------


def stormy_history() -> list[Reading]:
    """Storage nearly full, crash bursts every few hours: conditions that hold for a long time."""
    return [
        reading(T0 + k * 20 * timedelta(minutes=1), used=0.97, crashes=6 if k % 9 == 0 else 0)
        for k in range(200)
    ]


def test_one_open_alert_per_condition_and_replays_give_the_same_ids() -> None:
    first, second = Device(), Device()
    for r in stormy_history():
        first.feed(r)
    for r in stormy_history():
        second.feed(r)
    assert [c.condition for c in first.changes] == [AlertCondition.STORAGE_FULL, AlertCondition.CRASH_LOOP]
    assert [c.alert_id for c in first.changes] == [c.alert_id for c in second.changes]
    for change in first.changes:
        assert isinstance(change, RaisedAlert)
        raised_us = (change.raised_at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        assert change.alert_id == alert_id("dev-1", change.condition, raised_us)
        assert change.alert_id == uuid.uuid5(
            ALERT_NAMESPACE, f"dev-1\x1f{change.condition.value}\x1f{raised_us}"
        )
    other_device = Device()
    other_device.feed(replace(stormy_history()[0], device_id="dev-2"))
    assert other_device.changes[0].alert_id != first.changes[0].alert_id


def test_alert_changes_fit_the_event_contracts() -> None:
    device = Device()
    for r in stormy_history():
        device.feed(r)
    device.feed(reading(T0 + 10 * DAY, used=0.5))
    assert {type(c) for c in device.changes} == {RaisedAlert, ClearedAlert}
    for change in device.changes:
        event = alert_event(change, Region.CN)  # validates against the event models
        if isinstance(change, RaisedAlert):
            assert event.evidence == change.evidence


def test_duplicates_are_ignored_and_late_readings_count_where_order_does_not_matter() -> None:
    device = Device()
    for k in range(6):
        device.feed(reading(T0 + k * HOUR))
    assert device.state is not None
    before = device.state.to_bytes()
    device.feed(reading(T0 + 2 * HOUR, crashes=9))  # the same measured_at again: a retry
    assert device.ignored == ["duplicate"]
    assert device.state.to_bytes() == before
    device.feed(reading(T0 - 30 * HOUR, crashes=9))  # older than the late window
    assert device.ignored == ["duplicate", "too_late"]
    assert device.state.to_bytes() == before
    # An hour late, with a burst of crashes: counted in its hour, the newest time unchanged.
    late = reading(T0 + 4 * HOUR + 30 * timedelta(minutes=1), crashes=6)
    device.feed(late)
    assert device.ignored == ["duplicate", "too_late"]
    assert device.state.last_us == device.state.recent_us[-1]
    (alert,) = device.raised(AlertCondition.CRASH_LOOP)
    assert alert.raised_at == late.measured_at
    assert summarize("dev-1", device.state)["last_reading_at"] == (T0 + 5 * HOUR).isoformat()


def test_a_bad_reading_is_refused_before_the_state_changes() -> None:
    device = Device()
    device.feed(reading(T0))
    assert device.state is not None
    before = device.state.to_bytes()
    bad = replace(reading(T0 + HOUR), design_capacity_mah=0)
    with pytest.raises(ValueError, match="design_capacity_mah"):
        device.feed(bad)
    naive = replace(reading(T0 + HOUR), measured_at=datetime(2026, 1, 5, 1))
    with pytest.raises(ValueError, match="timezone"):
        device.feed(naive)
    assert device.state.to_bytes() == before


def test_state_of_a_long_eventful_history_stays_small_and_round_trips_exactly() -> None:
    models = FleetModels()
    warm_fleet(models)
    device = Device(models)
    rng = random.Random(7)
    for day in range(365):  # a year of daily readings, the battery wearing out
        device.feed(
            reading(
                T0 + day * DAY + 10 * HOUR,
                soh=0.95 - 0.17 * day / 365 + rng.gauss(0.0, 0.003),
                cycles=200 + day,
                temp=rng.gauss(33.0, 1.0),
                current=-450,
                used=min(0.99, 0.60 + day * 0.001),
                crashes=rng.choice((0, 0, 0, 1)),
            )
        )
    end = T0 + 365 * DAY
    for k in range(5):  # then a bad day: hot, crashing, rebooting
        device.feed(reading(end + k * HOUR, soh=0.78, cycles=565, temp=57.0, used=0.99, crashes=4, reboots=2))
    assert device.state is not None
    assert set(device.state.alerts) == set(AlertCondition)
    data = device.state.to_bytes()
    print(f"\nstate after a year and five open alerts: {len(data)} bytes")
    assert len(data) < 2048
    restored = DeviceState.from_bytes(data)
    assert restored == device.state
    assert restored.to_bytes() == data
    with pytest.raises(ValueError, match="truncated or corrupt"):
        DeviceState.from_bytes(data[:-7])
    with pytest.raises(ValueError, match="version"):
        DeviceState.from_bytes(b"\x09" + data[1:])
    # A restored state carries on exactly as the original.
    nxt = reading(end + 6 * HOUR, soh=0.78, cycles=566, temp=30.0, used=0.5)
    assert assess(restored, nxt, FleetModels.from_dict(models.to_dict())).state.to_bytes() == (
        assess(device.state, nxt, FleetModels.from_dict(models.to_dict())).state.to_bytes()
    )


def test_even_a_state_with_every_list_full_stays_under_2_kb() -> None:
    state = DeviceState(readings=10**6, last_us=2 * 10**15)
    state.recent_us[:] = range(10**15, 10**15 + RECENT_TIMES)
    state.battery.recent_days[:] = range(GAUGE_LAG + 1)
    state.battery.recent_soh[:] = [0.9] * (GAUGE_LAG + 1)
    state.storage.days[:] = range(STORAGE_POINTS)
    state.storage.maxima[:] = [0.5] * STORAGE_POINTS
    state.heat.hot_us[:] = range(HOT_TIMES)
    for condition in AlertCondition:
        state.alerts[condition] = OpenAlert(uuid.uuid4(), AlertSeverity.CRITICAL, 10**15)
    data = state.to_bytes()
    assert len(data) == MAX_STATE_BYTES < 2048
    assert DeviceState.from_bytes(data).to_bytes() == data  # (NaN fields make == useless here)
    state.heat.hot_us.append(99)
    with pytest.raises(ValueError, match="hot-reading times"):
        DeviceState.from_bytes(state.to_bytes())


def test_the_battery_figures_are_worked_out_once_a_day_as_a_fresh_outlook_would_give_them() -> None:
    device = Device()
    fading_battery(device, 0.88, 4e-4, 40, rng=random.Random(8))
    state = device.state
    assert state is not None
    summary = summarize("dev-1", state)
    assert summary["battery_days_to_80"] is not None
    assert state.battery_figures.day == state.last_us // DAY_US

    # Worked out afresh from the stored state, the figures are the same.
    fresh = DeviceState.from_bytes(state.to_bytes())
    fresh.battery_figures = BatteryFigures()
    assert summarize("dev-1", fresh) == summary

    # Within the day they are taken as kept (a stand-in value shows it), the next day worked out again.
    state.battery_figures.days_to_80 = 1234.5
    assert summarize("dev-1", state)["battery_days_to_80"] == 1234.5
    last = datetime.fromtimestamp(state.last_us / 1e6, UTC)
    device.feed(reading(last + HOUR, soh=0.86, cycles=340))
    if state.last_us // DAY_US == state.battery_figures.day:  # still the same day: move on to the next
        device.feed(reading(last + DAY, soh=0.86, cycles=341))
    assert summarize("dev-1", state)["battery_days_to_80"] != 1234.5


def test_a_state_packed_before_the_battery_figures_is_read_without_them() -> None:
    device = Device()
    fading_battery(device, 0.9, 3e-4, 20, rng=random.Random(4))
    state = device.state
    assert state is not None
    summarize("dev-1", state)
    figures_size = 4 + 8 * 8
    version_1 = b"\x01" + state.to_bytes()[1:-figures_size]
    restored = DeviceState.from_bytes(version_1)
    assert restored.battery_figures == BatteryFigures()
    restored.battery_figures = state.battery_figures
    assert restored.to_bytes() == state.to_bytes()
    with pytest.raises(ValueError, match="format version 3"):
        DeviceState.from_bytes(b"\x03" + state.to_bytes()[1:])


def test_the_health_summary_says_where_each_model_stands() -> None:
    device = Device()
    fading_battery(device, 0.88, 4e-4, 40, rng=random.Random(8))
    for k in range(3):
        device.feed(reading(T0 + 40 * DAY + k * HOUR, soh=0.86, cycles=340, used=0.97, crashes=3))
    assert device.state is not None
    summary = summarize("dev-1", device.state)
    json.dumps(summary)
    assert summary["device_id"] == "dev-1"
    assert summary["battery_health_pct"] == pytest.approx(86.0, abs=1.0)
    assert (
        summary["battery_days_to_80_low"] < summary["battery_days_to_80"] < summary["battery_days_to_80_high"]
    )
    assert summary["storage_used_pct"] == pytest.approx(97.0)
    assert summary["crashes_last_day"] == 9
    assert summary["temperature_baseline_c"] == pytest.approx(30.0)
    assert [a["condition"] for a in summary["open_alerts"]] == ["storage_full", "crash_loop"]
    assert summary["last_reading_at"] == (T0 + 40 * DAY + 2 * HOUR).isoformat()


def test_settings_refuse_contradictions() -> None:
    with pytest.raises(ValueError, match="heat_min_hot_readings"):
        HealthSettings(heat_min_hot_readings=20)
    with pytest.raises(ValueError, match="storage fractions"):
        HealthSettings(storage_clear_fraction=0.97)
    with pytest.raises(ValueError, match="battery_clear_soh"):
        HealthSettings(battery_clear_soh=0.75)
    with pytest.raises(ValueError, match="battery_horizon_days"):
        HealthSettings(battery_horizon_days=float("nan"))
    assert replace(DEFAULT_SETTINGS, battery_horizon_days=45.0).battery_horizon_days == 45.0


def test_per_reading_cost_is_printed() -> None:
    """Measured, not asserted: a fleet of devices with hourly readings through ``assess``."""
    models = FleetModels()
    rng = random.Random(9)
    states: dict[str, DeviceState | None] = {}
    readings = [
        reading(
            T0 + hour * HOUR,
            device=f"d{index}",
            soh=0.9 - hour * 1e-5 + rng.gauss(0.0, 0.003),
            temp=rng.gauss(32.0, 3.0),
            current=rng.choice((-80, -450, -1200, 4200)),
            charging="discharging",
            used=0.5 + hour * 1e-4,
            crashes=rng.choice((0, 0, 0, 0, 1)),
        )
        for hour in range(24 * 10)
        for index in range(50)
    ]
    began = time.perf_counter()
    for r in readings:
        states[r.device_id] = assess(states.get(r.device_id), r, models).state
    per_reading = (time.perf_counter() - began) / len(readings)
    packed = [s.to_bytes() for s in states.values() if s is not None]
    began = time.perf_counter()
    for data in packed:
        DeviceState.from_bytes(data).to_bytes()
    round_trip = (time.perf_counter() - began) / len(packed)
    print(
        f"\nassess: {per_reading * 1e6:.1f} µs a reading over {len(readings)} readings; "
        f"state {max(len(p) for p in packed)} bytes, from_bytes + to_bytes {round_trip * 1e6:.1f} µs"
    )
