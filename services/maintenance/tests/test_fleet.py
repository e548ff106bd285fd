"""The fleet simulator: deterministic by seed, battery fade to a phone maker's spec, faults that show in the
readings at their onset and agree with the ground truth, delivery disorder, valid events, and the
``simulate telemetry`` command's files."""

from __future__ import annotations

import itertools
import json
import statistics
from collections.abc import Iterator
from datetime import datetime, timedelta
from operator import attrgetter
from pathlib import Path
from uuid import uuid4

import pytest
from lingxi.events.base import Region
from lingxi.events.maintenance import AlertCondition, ChargingState, TelemetryReported, ThermalState
from lingxi_maintenance.cli import TELEMETRY_FILE, TRUTH_FILE, reading_from_event, simulate_telemetry
from lingxi_maintenance.fleet import (
    MODELS,
    PROFILES,
    WORN_STATE_OF_HEALTH,
    Delivery,
    DeviceTruth,
    Fleet,
    FleetConfig,
    FleetTruth,
    capacity_loss,
    cycles_to_state_of_health,
    parse_faults,
    state_of_health,
)
from lingxi_maintenance.readings import Reading

DAY = timedelta(days=1)
CONFIG = FleetConfig(devices=150, days=24, fault_share=0.12, seed=11, skewed_share=0.05)


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return Fleet(CONFIG)


@pytest.fixture(scope="module")
def deliveries(fleet: Fleet) -> list[Delivery]:
    return list(fleet.deliveries())


@pytest.fixture(scope="module")
def by_device(deliveries: list[Delivery]) -> dict[str, list[Reading]]:
    """Each device's distinct readings in measurement order."""
    readings: dict[str, dict[object, Reading]] = {}
    for d in deliveries:
        readings.setdefault(d.reading.device_id, {})[d.reading.measured_at] = d.reading
    return {device: sorted(rs.values(), key=lambda r: r.measured_at) for device, rs in readings.items()}


def true_time(reading: Reading, device: DeviceTruth) -> datetime:
    return reading.measured_at - timedelta(seconds=device.clock_skew_s)


# --- determinism ----------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_fleet_and_another_seed_another() -> None:
    config = FleetConfig(devices=40, days=4, seed=3)
    first, second = Fleet(config), Fleet(config)
    assert first.truth == second.truth
    assert list(first.deliveries()) == list(second.deliveries())
    other = Fleet(FleetConfig(devices=40, days=4, seed=4))
    assert other.truth.devices != first.truth.devices
    assert list(itertools.islice(other.readings(), 50)) != list(itertools.islice(first.readings(), 50))


def test_readings_are_made_lazily() -> None:
    fleet = Fleet(FleetConfig(devices=1000, days=30))
    stream = fleet.deliveries()
    assert isinstance(stream, Iterator)
    first = [next(stream) for _ in range(10)]
    assert all(a.reported_at <= b.reported_at for a, b in itertools.pairwise(first))


# --- handsets, users, battery fade ----------------------------------------------------------------


def test_models_are_plausible_handsets() -> None:
    for model in MODELS:
        assert 4000 <= model.design_capacity_mah <= 6000
        assert set(model.storage_gb) <= {128, 256, 512}
        assert 500 <= model.cycles_to_80 <= 1000
    assert sum(m.share for m in MODELS) == pytest.approx(1.0)
    assert sum(p.share for p in PROFILES) == pytest.approx(1.0)


@pytest.mark.parametrize("rating", [500, 650, 800, 1000])
def test_a_healthy_cell_reaches_80_percent_at_its_rating_between_500_and_1000_cycles(rating: int) -> None:
    crossing = cycles_to_state_of_health(WORN_STATE_OF_HEALTH, rating)
    assert 500 <= round(crossing) <= 1000
    assert crossing == pytest.approx(rating, rel=1e-6)
    assert state_of_health(rating - 50, rating) > WORN_STATE_OF_HEALTH > state_of_health(rating + 50, rating)


def test_fade_drops_fast_early_then_linearly() -> None:
    rating = 800
    early = capacity_loss(100, rating) - capacity_loss(0, rating)
    later = [capacity_loss(c + 100, rating) - capacity_loss(c, rating) for c in (400, 500, 600)]
    assert early > 1.5 * later[0]
    assert max(later) - min(later) < 0.05 * later[0]  # linear once the early drop is over


def test_a_hotter_cell_fades_faster() -> None:
    cool, reference, hot = (state_of_health(500, 800, t) for t in (20.0, 30.0, 40.0))
    assert cool > reference > hot
    assert cycles_to_state_of_health(WORN_STATE_OF_HEALTH, 800) / 2 == pytest.approx(
        next(c for c in range(1, 1000) if state_of_health(c, 800, 40.0) <= WORN_STATE_OF_HEALTH), abs=1.0
    )


def test_every_cell_in_the_fleet_is_rated_within_the_spec(fleet: Fleet) -> None:
    ratings = [d.cycles_to_80 for d in fleet.truth.devices]
    assert all(500 <= r <= 1000 for r in ratings)
    assert len(set(ratings)) > 10  # cell-to-cell spread


def test_usage_profiles_set_the_charge_cycles_a_day(
    fleet: Fleet, by_device: dict[str, list[Reading]]
) -> None:
    for device in fleet.truth.devices:
        readings = by_device[device.device_id]
        span = (readings[-1].measured_at - readings[0].measured_at) / DAY
        per_day = (readings[-1].cycle_count - readings[0].cycle_count) / span
        low, high = next(p.cycles_per_day for p in PROFILES if p.name == device.profile)
        assert low * 0.8 - 0.1 <= per_day <= high * 1.2 + 0.1, device
        assert all(a.cycle_count <= b.cycle_count for a, b in itertools.pairwise(readings))


# --- faults and truth -----------------------------------------------------------------------------


def test_each_chosen_fault_goes_to_its_share_of_devices(fleet: Fleet) -> None:
    for condition in AlertCondition:
        faulty = [d for d in fleet.truth.devices if d.fault(condition)]
        assert len(faulty) == round(CONFIG.devices * CONFIG.fault_share)
        for device in faulty:
            fault = device.fault(condition)
            assert fault is not None
            assert CONFIG.start < fault.onset < CONFIG.end
    assert all(len(d.faults) <= 1 for d in fleet.truth.devices)
    only_heat = Fleet(FleetConfig(devices=50, days=4, faults=(AlertCondition.OVERHEATING,), fault_share=0.2))
    assert {f.condition for d in only_heat.truth.devices for f in d.faults} == {AlertCondition.OVERHEATING}


def _mean_soh(readings: list[Reading]) -> float:
    return statistics.fmean(r.state_of_health for r in readings)


def test_reported_capacity_tracks_the_true_capacity(
    fleet: Fleet, by_device: dict[str, list[Reading]]
) -> None:
    for device in fleet.truth.devices:
        errors = [
            r.state_of_health - fleet.true_state_of_health(device.device_id, true_time(r, device))
            for r in by_device[device.device_id]
        ]
        assert abs(statistics.fmean(errors)) < 0.01, device  # the fuel gauge wanders, without a bias
        assert max(abs(e) for e in errors) < 0.03, device


def test_the_truth_says_when_the_battery_crosses_80_percent(fleet: Fleet) -> None:
    start, end = CONFIG.start, CONFIG.end
    hour = timedelta(hours=1)
    crossings = 0
    for device in fleet.truth.devices:
        worn = device.battery_worn_at
        soh = fleet.true_state_of_health
        if worn is None or worn > end:
            assert soh(device.device_id, end) > WORN_STATE_OF_HEALTH
        elif worn < start:
            assert soh(device.device_id, start) <= WORN_STATE_OF_HEALTH
        else:
            assert (
                soh(device.device_id, worn - hour)
                > WORN_STATE_OF_HEALTH
                >= soh(device.device_id, worn + hour)
            )
            crossings += 1
    injected = sum(1 for d in fleet.truth.devices if d.fault(AlertCondition.BATTERY_WEAR))
    assert crossings >= injected // 2


def test_a_worn_cell_fades_several_times_faster_from_onset(fleet: Fleet) -> None:
    for device in fleet.truth.devices:
        fault = device.fault(AlertCondition.BATTERY_WEAR)
        if fault is None:
            continue
        assert fault.failure is not None
        assert fault.failure > fault.onset
        assert fault.failure == device.battery_worn_at
        assert fault.magnitude >= 3
        soh = fleet.true_state_of_health
        span = min(3 * DAY, fault.onset - CONFIG.start)
        before = soh(device.device_id, fault.onset - span) - soh(device.device_id, fault.onset)
        after = soh(device.device_id, fault.onset) - soh(device.device_id, fault.onset + span)
        assert after > 2 * before > 0, device


def test_storage_fills_from_onset_to_full_at_the_failure_time(
    fleet: Fleet, by_device: dict[str, list[Reading]]
) -> None:
    for device in fleet.truth.devices:
        readings = by_device[device.device_id]
        assert all(0 < r.storage_used_bytes <= r.storage_total_bytes for r in readings)
        fault = device.fault(AlertCondition.STORAGE_FULL)
        if fault is None:
            # Healthy users clean up before free space runs low.
            assert max(r.storage_fraction for r in readings) < 0.9, device
            continue
        assert fault.failure is not None
        assert fault.failure > fault.onset
        before = [r for r in readings if true_time(r, device) < fault.onset]
        full = [r for r in readings if true_time(r, device) > fault.failure + timedelta(hours=1)]
        assert all(r.storage_fraction < 0.99 for r in before)
        assert full, "every storage fault fills up within this run"
        assert all(r.storage_fraction > 0.999 for r in full)


def _context(reading: Reading) -> str:
    if reading.charging_state != "discharging":
        return "plugged"
    return "idle" if reading.current_ma > -200 else "in use"


def test_an_overheating_device_runs_8_to_15_degrees_hotter_from_onset(
    fleet: Fleet, by_device: dict[str, list[Reading]]
) -> None:
    misses = []
    for device in fleet.truth.devices:
        fault = device.fault(AlertCondition.OVERHEATING)
        if fault is None:
            continue
        assert 8 <= fault.magnitude <= 15
        readings = [r for r in by_device[device.device_id] if _context(r) == "idle"]
        before = [r.temperature_c for r in readings if true_time(r, device) < fault.onset]
        after = [r.temperature_c for r in readings if true_time(r, device) >= fault.onset]
        if len(before) >= 5 and len(after) >= 5:
            misses.append(statistics.median(after) - statistics.median(before) - fault.magnitude)
    assert len(misses) >= 10
    # Each device's rise also carries its weather; over the faulty devices it averages out.
    assert abs(statistics.fmean(misses)) < 1.5
    assert all(abs(m) < 6 for m in misses)


def test_crash_loops_and_reboot_storms_burst_between_onset_and_end(
    fleet: Fleet, by_device: dict[str, list[Reading]]
) -> None:
    last_report = timedelta(hours=4.8)  # the longest gap between reports: the burst's tail is in this one
    for condition, count in (
        (AlertCondition.CRASH_LOOP, attrgetter("app_crash_count")),
        (AlertCondition.REBOOT_STORM, attrgetter("reboot_count")),
    ):
        quiet: list[int] = []
        counted = expected = 0.0
        for device in fleet.truth.devices:
            fault = device.fault(condition)
            readings = by_device[device.device_id]
            if fault is None:
                quiet.extend(count(r) for r in readings)
                continue
            assert fault.ended is not None
            assert fault.ended > fault.onset
            if fault.ended + last_report > CONFIG.end:
                continue
            burst = [
                count(r) for r in readings if fault.onset < true_time(r, device) <= fault.ended + last_report
            ]
            after = [count(r) for r in readings if true_time(r, device) > fault.ended + last_report]
            assert sum(burst) >= 1, device
            assert all(c <= 3 for c in after), device
            counted += sum(burst)
            expected += fault.magnitude * (fault.ended - fault.onset) / timedelta(hours=1)
        assert 0.8 < counted / expected < 1.25  # the bursts' rate, over the faulty devices
        assert statistics.fmean(quiet) < 0.1  # healthy phones crash and reboot rarely


def test_truth_round_trips_through_json(fleet: Fleet) -> None:
    document = json.loads(json.dumps(fleet.truth.to_dict()))
    again = FleetTruth.from_dict(document)
    assert again.to_dict() == document
    assert [d.battery_worn_at for d in again.devices] == [d.battery_worn_at for d in fleet.truth.devices]
    with pytest.raises(KeyError, match="nope"):
        fleet.truth.device("nope")


# --- delivery -------------------------------------------------------------------------------------


def test_arrival_order_with_late_and_duplicate_readings(fleet: Fleet, deliveries: list[Delivery]) -> None:
    assert all(a.reported_at <= b.reported_at for a, b in itertools.pairwise(deliveries))
    truth = {d.device_id: d for d in fleet.truth.devices}
    newest: dict[str, object] = {}
    seen: set[tuple[str, object]] = set()
    late = duplicates = 0
    for delivery in deliveries:
        reading = delivery.reading
        device = truth[reading.device_id]
        assert delivery.reported_at >= true_time(reading, device)  # nothing arrives before it is measured
        key = (reading.device_id, reading.measured_at)
        if key in seen:
            duplicates += 1
        seen.add(key)
        if reading.device_id in newest and reading.measured_at < newest[reading.device_id]:  # type: ignore[operator]
            late += 1
        else:
            newest[reading.device_id] = reading.measured_at
    assert 0.005 < duplicates / len(deliveries) < 0.02
    assert 0.01 < late / len(deliveries) < 0.05
    assert sum(1 for d in fleet.truth.devices if d.clock_skew_s) >= 1


def test_states_currents_and_temperatures_are_plausible(deliveries: list[Delivery]) -> None:
    states = {d.reading.charging_state for d in deliveries}
    assert {"charging", "discharging", "full"} <= states
    for d in deliveries:
        r = d.reading
        if r.charging_state == "charging":
            assert r.current_ma > 0
        elif r.charging_state == "discharging":
            assert r.current_ma < 0
        assert 0 <= r.battery_level <= 100
        assert 3000 <= r.voltage_mv <= 4500
        assert 5.0 <= r.temperature_c <= 70.0
    cadence = {d.reading.device_id for d in deliveries[:200]}
    assert len(cadence) > 50  # devices interleave


def test_readings_make_valid_telemetry_events(deliveries: list[Delivery]) -> None:
    for delivery in deliveries[::7]:
        r = delivery.reading
        event = TelemetryReported.model_validate(
            {
                "event_id": uuid4(),
                "occurred_at": delivery.reported_at,
                "region": Region.CN,
                "device_id": r.device_id,
                "device_model": r.device_model,
                "measured_at": r.measured_at,
                "battery_level": r.battery_level,
                "full_charge_capacity_mah": r.full_charge_capacity_mah,
                "design_capacity_mah": r.design_capacity_mah,
                "cycle_count": r.cycle_count,
                "temperature_c": r.temperature_c,
                "voltage_mv": r.voltage_mv,
                "current_ma": r.current_ma,
                "charging_state": ChargingState(r.charging_state),
                "thermal_state": ThermalState(r.thermal_state),
                "storage_used_bytes": r.storage_used_bytes,
                "storage_total_bytes": r.storage_total_bytes,
                "app_crash_count": r.app_crash_count,
                "reboot_count": r.reboot_count,
                "os_version": r.os_version,
            }
        )
        assert event.measured_at == r.measured_at


# --- configuration --------------------------------------------------------------------------------


def test_faults_parse_and_bad_configuration_is_refused_by_name() -> None:
    assert parse_faults("battery_wear, overheating") == (
        AlertCondition.BATTERY_WEAR,
        AlertCondition.OVERHEATING,
    )
    assert parse_faults("none") == parse_faults("") == ()
    with pytest.raises(ValueError, match=r"unknown fault.*melting"):
        parse_faults("battery_wear,melting")
    with pytest.raises(ValueError, match="devices"):
        FleetConfig(devices=0)
    with pytest.raises(ValueError, match="more than the whole fleet"):
        FleetConfig(fault_share=0.3)
    with pytest.raises(ValueError, match="late_share"):
        FleetConfig(late_share=1.5)


# --- the command ----------------------------------------------------------------------------------


def test_simulate_telemetry_writes_events_and_truth(tmp_path: Path) -> None:
    simulate_telemetry(
        devices=30, days=3, faults="battery_wear,storage_full", fault_share=0.2, seed=5, output=tmp_path
    )
    lines = (tmp_path / TELEMETRY_FILE).read_text(encoding="utf-8").splitlines()
    events = [TelemetryReported.model_validate_json(line) for line in lines]
    expected = list(
        Fleet(
            FleetConfig(
                devices=30,
                days=3,
                faults=(AlertCondition.BATTERY_WEAR, AlertCondition.STORAGE_FULL),
                fault_share=0.2,
                seed=5,
            )
        ).deliveries()
    )
    assert len(events) == len(expected)
    assert len({e.event_id for e in events}) == len(events)
    for event, line, delivery in zip(events, lines, expected, strict=True):
        assert event.occurred_at == delivery.reported_at
        assert reading_from_event(json.loads(line)) == delivery.reading
    truth = FleetTruth.from_dict(json.loads((tmp_path / TRUTH_FILE).read_text(encoding="utf-8")))
    assert len(truth.devices) == 30
    assert sum(1 for d in truth.devices if d.faults) == 12
