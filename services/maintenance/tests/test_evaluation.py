"""Scoring alerts against a fleet's ground truth (hand-made alerts and truth, counted by hand), replaying a
simulated fleet through a detector, and the ``evaluate maintenance`` command's files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from lingxi.events.maintenance import AlertCondition
from lingxi_maintenance.cli import evaluate_maintenance, simulate_telemetry
from lingxi_maintenance.evaluation import (
    ALL_CONDITIONS,
    Alert,
    Rules,
    draw_chart,
    markdown,
    replay,
    score,
)
from lingxi_maintenance.fleet import DeviceTruth, Fleet, FleetConfig, FleetTruth, InjectedFault
from lingxi_maintenance.readings import Reading

START = datetime(2026, 3, 2, tzinfo=UTC)
DAYS = 30
END = START + timedelta(days=DAYS)
BATTERY = AlertCondition.BATTERY_WEAR
STORAGE = AlertCondition.STORAGE_FULL
HEAT = AlertCondition.OVERHEATING
CRASH = AlertCondition.CRASH_LOOP


def day(n: float) -> datetime:
    return START + timedelta(days=n)


def device(
    device_id: str,
    *,
    worn: datetime | None = None,
    faults: Sequence[InjectedFault] = (),
    skew_s: float = 0.0,
) -> DeviceTruth:
    return DeviceTruth(
        device_id=device_id,
        device_model="LX-2025",
        profile="normal",
        design_capacity_mah=5000,
        storage_total_bytes=256 * 10**9,
        start_cycle_count=300,
        start_state_of_health=0.9,
        cycles_to_80=800,
        clock_skew_s=skew_s,
        battery_worn_at=worn,
        faults=tuple(faults),
    )


def fleet_truth(*devices: DeviceTruth) -> FleetTruth:
    return FleetTruth(start=START, end=END, seed=0, devices=devices)


# --- the metrics, by hand -------------------------------------------------------------------------


def test_battery_precision_recall_lead_time_and_false_alarms() -> None:
    horizon = Rules().battery_horizon
    truth = fleet_truth(
        device("injected", worn=day(20), faults=[InjectedFault(BATTERY, day(5), day(20), None, 8.0)]),
        device("natural", worn=day(25)),
        device("far-off", worn=day(200)),
        device("healthy"),
        device("worn-early", worn=day(3)),  # worn too soon after the start to be predicted
    )
    alerts = [
        Alert("injected", BATTERY, day(10)),  # right: lead 10 days
        Alert("natural", BATTERY, day(21)),  # right: lead 4 days
        Alert("far-off", BATTERY, day(15)),  # 185 days before wear: a false alarm
        Alert("healthy", BATTERY, day(7)),  # a false alarm
        Alert("worn-early", BATTERY, day(1)),  # right, but outside the recall cohort
    ]
    s = score(alerts, truth, conditions=[BATTERY]).score(BATTERY)
    assert (s.alerts, s.true_alerts) == (5, 3)
    assert s.precision == pytest.approx(3 / 5)
    assert (s.faulty_devices, s.caught) == (2, 2)
    assert s.recall == 1.0
    assert sorted(s.lead_times_days) == pytest.approx([4.0, 10.0])
    assert s.median_lead_days == pytest.approx(7.0)
    # Healthy days: 5 before the injected fault's onset; none for "natural" (its horizon opens before the
    # start); all 30 for "far-off" (its horizon opens after the end) and "healthy"; none for "worn-early".
    assert (day(200) - horizon) > END
    healthy_days = 5 + 0 + DAYS + DAYS + 0
    assert s.healthy_device_days == pytest.approx(healthy_days)
    assert s.false_alarms == 2
    assert s.false_alarms_per_1000 == pytest.approx(1000 * 2 / healthy_days)
    met = s.target_met()
    assert met == {
        "precision": False,
        "recall": True,
        "median_lead_days": True,
        "false_alarms_per_1000": False,
    }


def test_an_alert_before_onset_is_false_and_one_after_failure_catches_nothing() -> None:
    fault = InjectedFault(BATTERY, day(10), day(22), None, 8.0)
    truth = fleet_truth(device("early", worn=day(22), faults=[fault]), device("late", worn=day(18)))
    alerts = [Alert("early", BATTERY, day(8)), Alert("late", BATTERY, day(19))]
    s = score(alerts, truth, conditions=[BATTERY]).score(BATTERY)
    assert s.true_alerts == 1  # the late one is right (the battery is worn) ...
    assert s.caught == 0  # ... but came after the failure, and the early one came before the fault
    assert s.faulty_devices == 2
    assert s.recall == 0.0
    assert s.median_lead_days is None


def test_storage_lead_time_and_the_alert_that_stays_right_after_failure() -> None:
    fault = InjectedFault(STORAGE, day(8), day(16), None, 3.0)
    truth = fleet_truth(device("filling", faults=[fault]), device("fine"))
    alerts = [
        Alert("filling", STORAGE, day(12.5)),
        Alert("filling", STORAGE, day(20)),
        Alert("fine", STORAGE, day(3)),
    ]
    s = score(alerts, truth, conditions=[STORAGE]).score(STORAGE)
    assert (s.alerts, s.true_alerts, s.false_alarms) == (3, 2, 1)
    assert s.lead_times_days == pytest.approx((3.5,))
    assert s.healthy_device_days == pytest.approx(8 + DAYS)


def test_bursts_count_until_their_grace_ends_and_recall_needs_a_prompt_alert() -> None:
    grace = Rules().burst_grace
    window = Rules().detection_window[CRASH]
    burst = InjectedFault(CRASH, day(10), None, day(12), 10.0)
    slow = InjectedFault(CRASH, day(4), None, day(9), 10.0)
    truth = fleet_truth(device("prompt", faults=[burst]), device("slow", faults=[slow]), device("fine"))
    alerts = [
        Alert("prompt", CRASH, day(10.5)),  # right, within the detection window: caught after 12 h
        Alert("prompt", CRASH, day(12) + grace / 2),  # right: inside the grace after the burst
        Alert("prompt", CRASH, day(12) + grace * 2),  # after the grace: false
        Alert("slow", CRASH, day(4) + window * 2),  # right, but too slow to count as caught
    ]
    s = score(alerts, truth, conditions=[CRASH]).score(CRASH)
    assert (s.true_alerts, s.false_alarms) == (3, 1)
    assert (s.faulty_devices, s.caught) == (2, 1)
    assert s.detection_hours == pytest.approx((12.0,))
    burst_days = (2 * DAYS) - 2 - grace / timedelta(days=1) - 5 - grace / timedelta(days=1)
    assert s.healthy_device_days == pytest.approx(burst_days + DAYS)


def test_alert_times_are_judged_in_true_time_not_the_device_clock() -> None:
    fault = InjectedFault(HEAT, day(10), None, None, 10.0)
    ahead = device("ahead", faults=[fault], skew_s=3600.0)  # its clock runs an hour ahead
    truth = fleet_truth(ahead)
    on_its_clock = fault.onset + timedelta(minutes=30)  # 30 minutes before onset, in true time
    s = score([Alert("ahead", HEAT, on_its_clock)], truth, conditions=[HEAT]).score(HEAT)
    assert s.false_alarms == 1
    later = fault.onset + timedelta(hours=2)
    s = score([Alert("ahead", HEAT, later)], truth, conditions=[HEAT]).score(HEAT)
    assert s.true_alerts == 1
    assert s.detection_hours == pytest.approx((1.0,))


def test_all_conditions_counts_alerts_on_wholly_healthy_devices() -> None:
    truth = fleet_truth(
        device("healthy-1"),
        device("healthy-2"),
        device("hot", faults=[InjectedFault(HEAT, day(10), None, None, 10.0)]),
    )
    alerts = [
        Alert("healthy-1", STORAGE, day(3)),
        Alert("healthy-1", CRASH, day(4)),
        Alert("hot", STORAGE, day(5)),  # false, but on a faulty device: not in the all-conditions rate
        Alert("hot", HEAT, day(11)),
    ]
    report = score(alerts, truth)
    assert report.overall.condition == ALL_CONDITIONS
    assert report.overall.false_alarms == 2
    assert report.overall.healthy_device_days == pytest.approx(2 * DAYS)
    assert report.overall.alerts == 4
    assert report.overall.precision == pytest.approx(1 / 4)
    assert report.score(STORAGE).false_alarms == 2


def test_alerts_from_another_fleet_are_refused() -> None:
    with pytest.raises(KeyError, match="stranger"):
        score([Alert("stranger", HEAT, day(1))], fleet_truth(device("known")))


def test_report_as_markdown_json_and_chart(tmp_path: Path) -> None:
    truth = fleet_truth(
        device("worn", worn=day(20), faults=[InjectedFault(BATTERY, day(5), day(20), None, 8.0)]),
        device("fine"),
    )
    report = score([Alert("worn", BATTERY, day(12)), Alert("fine", HEAT, day(2))], truth, readings=123)
    text = markdown(report)
    for condition in AlertCondition:
        assert f"| {condition.value} |" in text
    assert "| battery_wear | 1 | 1.00 | 1.00 (1 / 1) | 8.0 |" in text
    assert "missed" in text  # the heat false alarm misses its targets
    document = json.loads(json.dumps(report.to_dict()))
    assert document["readings"] == 123
    assert document["conditions"][0]["lead_times_days"] == [8.0]
    chart = tmp_path / "report.png"
    draw_chart(report, chart)
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- replaying a fleet ----------------------------------------------------------------------------


@dataclass
class StandInState:
    alerts: set[AlertCondition] = field(default_factory=set)


@dataclass(frozen=True)
class Raised:
    condition: AlertCondition
    raised_at: datetime


@dataclass(frozen=True)
class Cleared:
    condition: AlertCondition
    cleared_at: datetime


def stand_in(state: StandInState | None, reading: Reading) -> tuple[StandInState, list[Any]]:
    """A crude detector: storage above 92% (cleared below 88%), and a burst of crashes in one report."""
    state = state or StandInState()
    changes: list[Any] = []
    rules = (
        (STORAGE, reading.storage_fraction > 0.92, reading.storage_fraction < 0.88),
        (CRASH, reading.app_crash_count >= 8, reading.app_crash_count == 0),
    )
    for condition, raise_it, clear_it in rules:
        if raise_it and condition not in state.alerts:
            state.alerts.add(condition)
            changes.append(Raised(condition, reading.measured_at))
        elif clear_it and condition in state.alerts:
            state.alerts.discard(condition)
            changes.append(Cleared(condition, reading.measured_at))
    return state, changes


def test_replay_collects_raised_and_cleared_alerts_from_a_detector() -> None:
    fleet = Fleet(FleetConfig(devices=120, days=16, faults=(STORAGE, CRASH), fault_share=0.15, seed=3))
    seen: list[Reading] = []
    changes: list[Any] = []

    def counting(state: StandInState | None, reading: Reading) -> tuple[StandInState, list[Any]]:
        state, made = stand_in(state, reading)
        changes.extend(made)
        return state, made

    alerts = replay(fleet.readings(), counting, on_reading=seen.append)
    assert len(seen) > 120 * 16 * 5
    assert len(alerts) == sum(1 for c in changes if isinstance(c, Raised))
    assert sum(1 for a in alerts if a.cleared_at is not None) == sum(
        1 for c in changes if isinstance(c, Cleared)
    )
    assert any(a.cleared_at is not None for a in alerts if a.condition is CRASH)  # loops end, alerts clear

    report = score(alerts, fleet.truth, readings=len(seen), conditions=[STORAGE, CRASH])
    storage = report.score(STORAGE)
    # Healthy users keep well clear of 92%: every storage alert is on a device that is filling up.
    assert storage.precision == 1.0
    assert storage.false_alarms == 0
    assert storage.faulty_devices >= 10
    assert storage.recall is not None
    assert storage.recall > 0.8
    crash = report.score(CRASH)
    assert crash.recall is not None
    assert crash.recall > 0.8


def test_alerts_made_from_the_truth_score_perfectly() -> None:
    fleet = Fleet(FleetConfig(devices=200, days=40, fault_share=0.1, seed=9))
    alerts = []
    for d in fleet.truth.devices:
        if d.battery_worn_at is not None and fleet.truth.start < d.battery_worn_at - timedelta(days=10):
            fault = d.fault(BATTERY)
            raised = d.battery_worn_at - timedelta(days=10)
            if fault is None or raised >= fault.onset:
                alerts.append(Alert(d.device_id, BATTERY, raised + timedelta(seconds=d.clock_skew_s)))
        for f in d.faults:
            if f.condition is not BATTERY:
                alerts.append(
                    Alert(d.device_id, f.condition, f.onset + timedelta(hours=1, seconds=d.clock_skew_s))
                )
    report = score(alerts, fleet.truth)
    for s in report.conditions:
        assert s.precision == 1.0, s.condition
        assert s.false_alarms == 0
        assert s.faulty_devices > 0
        if s.condition != BATTERY.value:
            assert s.recall == 1.0, s.condition
    battery_recall = report.score(BATTERY).recall
    assert battery_recall is not None
    assert battery_recall > 0.9  # all but injected faults failing within 10 days of onset
    assert report.score(HEAT).median_detection_hours == pytest.approx(1.0)


# --- the command ----------------------------------------------------------------------------------


def test_evaluate_maintenance_writes_the_report_and_replays_a_saved_fleet_alike(tmp_path: Path) -> None:
    simulated, saved = tmp_path / "simulated", tmp_path / "saved"
    evaluate_maintenance(devices=60, days=10, seed=4, fault_share=0.1, output=simulated)
    for name in ("report.md", "report.json", "report.png"):
        assert (simulated / name).stat().st_size > 0
    table = (simulated / "report.md").read_text(encoding="utf-8")
    assert "| battery_wear |" in table
    document = json.loads((simulated / "report.json").read_text(encoding="utf-8"))
    assert document["devices"] == 60
    assert document["readings"] > 60 * 10 * 5

    fleet_dir = tmp_path / "fleet"
    simulate_telemetry(devices=60, days=10, fault_share=0.1, seed=4, output=fleet_dir)
    evaluate_maintenance(fleet=fleet_dir, output=saved)
    again = json.loads((saved / "report.json").read_text(encoding="utf-8"))
    assert again["readings"] == document["readings"]
    assert again["conditions"] == document["conditions"]
