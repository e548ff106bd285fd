"""Scoring maintenance alerts against a simulated fleet's ground truth. Pure: alerts and truth in, a
report out (the chart, drawn with matplotlib, is the one part that writes a file, and only when asked).

When an alert is right (its condition's *window* on that device; all times true time, the device's clock
skew taken off the alert's time):

- ``battery_wear``: from ``battery_horizon`` (60 days) before the battery reaches 80% of design capacity,
  whether an injected fault or natural wear brought it there (and not before an injected fault's onset).
  Earlier, the battery is still healthy enough that a warning is a false alarm.
- ``storage_full`` and ``overheating``: from the injected fault's onset on.
- ``crash_loop`` and ``reboot_storm``: from onset until ``burst_grace`` (one day) after the burst ends.

Metrics per condition:

- precision: alerts raised inside their window / all alerts raised of that condition;
- recall: of the devices that should be caught, the share alerted in time. For ``battery_wear`` and
  ``storage_full`` (which have a failure): devices whose failure falls in the run, at least
  ``watched_before_failure`` after its start (a prediction needs history), alerted inside the window and
  no later than the failure. For the others: devices whose fault began at least ``detection_window``
  before the run's end, alerted within ``detection_window`` of onset;
- lead time (battery, storage): failure minus the first alert of those caught, its median in days;
  detection delay (the others): first alert minus onset, its median in hours;
- false alarms per 1,000 healthy device-days: alerts outside their window, per 1,000 device-days
  observed outside that condition's windows. The "all conditions" row counts every alert on devices with
  no window of any condition during the run, per 1,000 of their device-days.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from lingxi.events.maintenance import AlertCondition

from lingxi_maintenance.fleet import DeviceTruth, FleetTruth
from lingxi_maintenance.readings import Reading

__all__ = [
    "ALL_CONDITIONS",
    "TARGETS",
    "Alert",
    "ConditionScore",
    "EvaluationReport",
    "Rules",
    "Target",
    "correct_windows",
    "draw_chart",
    "markdown",
    "replay",
    "score",
]

ALL_CONDITIONS = "all conditions"
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Rules:
    """When an alert counts as right, and which devices recall counts."""

    battery_horizon: timedelta = timedelta(days=60)
    """A battery alert is right from this long before the battery reaches 80%."""
    burst_grace: timedelta = timedelta(days=1)
    """A crash-loop or reboot-storm alert is still right this long after the burst ends."""
    detection_window: Mapping[AlertCondition, timedelta] = field(
        default_factory=lambda: {
            AlertCondition.OVERHEATING: timedelta(days=3),
            AlertCondition.CRASH_LOOP: timedelta(days=1),
            AlertCondition.REBOOT_STORM: timedelta(days=1),
        }
    )
    """Conditions without a failure: how soon after onset an alert must come to count for recall."""
    watched_before_failure: Mapping[AlertCondition, timedelta] = field(
        default_factory=lambda: {
            AlertCondition.BATTERY_WEAR: timedelta(days=14),
            AlertCondition.STORAGE_FULL: timedelta(days=2),
        }
    )
    """Conditions with a failure: how long after the run's start a failure must fall to count for recall."""


@dataclass(frozen=True)
class Target:
    """What a condition must reach (None: no target for that metric)."""

    precision: float | None = 0.9
    recall: float | None = 0.9
    median_lead_days: float | None = None
    false_alarms_per_1000: float | None = 1.0


TARGETS: Mapping[str, Target] = {
    AlertCondition.BATTERY_WEAR.value: Target(median_lead_days=7.0),
    AlertCondition.OVERHEATING.value: Target(),
    AlertCondition.STORAGE_FULL.value: Target(),
    AlertCondition.CRASH_LOOP.value: Target(precision=None, recall=None),
    AlertCondition.REBOOT_STORM.value: Target(precision=None, recall=None),
    ALL_CONDITIONS: Target(precision=None, recall=None),
}
"""The issue's targets: precision and recall at least 0.9 for battery, heat and storage, a median lead
time of at least 7 days for battery, at most 1 false alarm per 1,000 healthy device-days."""


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert a detector raised (times as the device's clock gave them)."""

    device_id: str
    condition: AlertCondition
    raised_at: datetime
    cleared_at: datetime | None = None


# --- replay ---------------------------------------------------------------------------------------

State = TypeVar("State")


def replay(
    readings: Iterable[Reading],
    step: Callable[[State | None, Reading], tuple[State, Iterable[Any]]],
    on_reading: Callable[[Reading], None] | None = None,
) -> list[Alert]:
    """Feed readings (in arrival order) through a detector and collect the alerts it raised.

    ``step(state, reading)`` returns the device's new state and its alert changes: objects with
    ``condition`` and either ``raised_at`` or ``cleared_at`` (``lingxi_maintenance.alerts.RaisedAlert`` and
    ``ClearedAlert``). ``on_reading`` is called after each reading (progress)."""
    states: dict[str, State] = {}
    open_alerts: dict[tuple[str, AlertCondition], int] = {}
    alerts: list[Alert] = []
    for reading in readings:
        state, changes = step(states.get(reading.device_id), reading)
        states[reading.device_id] = state
        for change in changes:
            condition = AlertCondition(change.condition)
            key = (reading.device_id, condition)
            raised_at = getattr(change, "raised_at", None)
            if raised_at is not None:
                open_alerts[key] = len(alerts)
                alerts.append(Alert(reading.device_id, condition, raised_at))
                continue
            index = open_alerts.pop(key, None)
            if index is not None:
                opened = alerts[index]
                alerts[index] = Alert(opened.device_id, condition, opened.raised_at, change.cleared_at)
        if on_reading is not None:
            on_reading(reading)
    return alerts


# --- truth windows --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Window:
    start: datetime
    end: datetime | None  # None: open-ended

    def holds(self, at: datetime) -> bool:
        return self.start <= at and (self.end is None or at <= self.end)


def correct_windows(
    device: DeviceTruth, condition: AlertCondition, rules: Rules | None = None
) -> list[_Window]:
    """When an alert of ``condition`` on this device is right (true time)."""
    rules = rules or Rules()
    fault = device.fault(condition)
    if condition is AlertCondition.BATTERY_WEAR:
        if device.battery_worn_at is None:
            return []
        start = device.battery_worn_at - rules.battery_horizon
        if fault is not None:
            start = max(start, fault.onset)
        return [_Window(start, None)]
    if fault is None:
        return []
    if condition in (AlertCondition.CRASH_LOOP, AlertCondition.REBOOT_STORM) and fault.ended is not None:
        return [_Window(fault.onset, fault.ended + rules.burst_grace)]
    return [_Window(fault.onset, None)]


def _days_outside(windows: Sequence[_Window], start: datetime, end: datetime) -> float:
    inside = timedelta()
    for window in windows:
        lo = max(window.start, start)
        hi = min(window.end or end, end)
        if hi > lo:
            inside += hi - lo
    return max(0.0, (end - start - inside) / DAY)


# --- scoring --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConditionScore:
    """The scores of one condition (or of all conditions together: false alarms only)."""

    condition: str
    alerts: int
    true_alerts: int
    precision: float | None
    """None when nothing was raised."""
    faulty_devices: int
    """Devices recall counts."""
    caught: int
    recall: float | None
    lead_times_days: tuple[float, ...]
    """Failure minus first alert, for each device caught (battery, storage)."""
    detection_hours: tuple[float, ...]
    """First alert minus onset, for each device caught (conditions without a failure)."""
    false_alarms: int
    healthy_device_days: float

    @property
    def median_lead_days(self) -> float | None:
        return statistics.median(self.lead_times_days) if self.lead_times_days else None

    @property
    def median_detection_hours(self) -> float | None:
        return statistics.median(self.detection_hours) if self.detection_hours else None

    @property
    def false_alarms_per_1000(self) -> float | None:
        if self.healthy_device_days <= 0.0:
            return None
        return 1000.0 * self.false_alarms / self.healthy_device_days

    def target_met(self) -> dict[str, bool]:
        """Each metric with a target: whether it is met (a metric with nothing to measure is not)."""
        target = TARGETS.get(self.condition, Target(None, None, None, None))
        checks: dict[str, bool] = {}
        if target.precision is not None:
            checks["precision"] = self.precision is not None and self.precision >= target.precision
        if target.recall is not None:
            checks["recall"] = self.recall is not None and self.recall >= target.recall
        if target.median_lead_days is not None:
            lead = self.median_lead_days
            checks["median_lead_days"] = lead is not None and lead >= target.median_lead_days
        if target.false_alarms_per_1000 is not None:
            rate = self.false_alarms_per_1000
            checks["false_alarms_per_1000"] = rate is not None and rate <= target.false_alarms_per_1000
        return checks

    def to_dict(self) -> dict[str, Any]:
        return {
            "condition": self.condition,
            "alerts": self.alerts,
            "true_alerts": self.true_alerts,
            "precision": _round(self.precision),
            "faulty_devices": self.faulty_devices,
            "caught": self.caught,
            "recall": _round(self.recall),
            "median_lead_days": _round(self.median_lead_days, 2),
            "median_detection_hours": _round(self.median_detection_hours, 2),
            "false_alarms": self.false_alarms,
            "healthy_device_days": round(self.healthy_device_days, 1),
            "false_alarms_per_1000_healthy_device_days": _round(self.false_alarms_per_1000, 3),
            "lead_times_days": [round(x, 2) for x in self.lead_times_days],
            "detection_hours": [round(x, 2) for x in self.detection_hours],
            "target_met": self.target_met(),
        }


@dataclass(frozen=True)
class EvaluationReport:
    """Scores per condition, and for all conditions together."""

    devices: int
    days: float
    readings: int
    conditions: tuple[ConditionScore, ...]
    overall: ConditionScore
    rules: Rules = field(default_factory=Rules)

    def score(self, condition: AlertCondition | str) -> ConditionScore:
        """The score of one condition."""
        name = AlertCondition(condition).value
        return next(s for s in self.conditions if s.condition == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "devices": self.devices,
            "days": self.days,
            "readings": self.readings,
            "conditions": [s.to_dict() for s in self.conditions],
            "overall": self.overall.to_dict(),
            "rules": {
                "battery_horizon_days": self.rules.battery_horizon / DAY,
                "burst_grace_days": self.rules.burst_grace / DAY,
                "detection_window_days": {c.value: w / DAY for c, w in self.rules.detection_window.items()},
                "watched_before_failure_days": {
                    c.value: w / DAY for c, w in self.rules.watched_before_failure.items()
                },
            },
        }


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _true_time(alert: Alert, device: DeviceTruth) -> datetime:
    return alert.raised_at - timedelta(seconds=device.clock_skew_s)


def score(
    alerts: Iterable[Alert],
    truth: FleetTruth,
    *,
    readings: int = 0,
    conditions: Sequence[AlertCondition] = tuple(AlertCondition),
    rules: Rules | None = None,
) -> EvaluationReport:
    """Score alerts (from :func:`replay`) against the fleet's truth. Alerts on devices the fleet does not
    have are an error: they mean the alerts and the truth come from different fleets."""
    rules = rules or Rules()
    start, end = truth.start, truth.end
    by_condition: dict[AlertCondition, list[Alert]] = {c: [] for c in conditions}
    for alert in alerts:
        truth.device(alert.device_id)  # KeyError naming a stranger
        if alert.condition in by_condition:
            by_condition[alert.condition].append(alert)

    windows = {c: {d.device_id: correct_windows(d, c, rules) for d in truth.devices} for c in conditions}
    scores = [_score_condition(c, by_condition[c], truth, windows[c], rules) for c in conditions]

    # All conditions: alerts on devices with no window of any condition during the run.
    healthy = [
        d
        for d in truth.devices
        if not any(
            _days_outside(windows[c][d.device_id], start, end) < (end - start) / DAY for c in conditions
        )
    ]
    healthy_ids = {d.device_id for d in healthy}
    false_alarms = sum(1 for c in conditions for a in by_condition[c] if a.device_id in healthy_ids)
    total = sum(len(by_condition[c]) for c in conditions)
    overall = ConditionScore(
        ALL_CONDITIONS,
        alerts=total,
        true_alerts=sum(s.true_alerts for s in scores),
        precision=sum(s.true_alerts for s in scores) / total if total else None,
        faulty_devices=sum(s.faulty_devices for s in scores),
        caught=sum(s.caught for s in scores),
        recall=None,
        lead_times_days=(),
        detection_hours=(),
        false_alarms=false_alarms,
        healthy_device_days=len(healthy) * (end - start) / DAY,
    )
    return EvaluationReport(len(truth.devices), (end - start) / DAY, readings, tuple(scores), overall, rules)


def _score_condition(
    condition: AlertCondition,
    alerts: list[Alert],
    truth: FleetTruth,
    windows: Mapping[str, list[_Window]],
    rules: Rules,
) -> ConditionScore:
    start, end = truth.start, truth.end
    true_alerts = 0
    first_right: dict[str, datetime] = {}
    for alert in alerts:
        device = truth.device(alert.device_id)
        at = _true_time(alert, device)
        if any(w.holds(at) for w in windows[alert.device_id]):
            true_alerts += 1
            if alert.device_id not in first_right or at < first_right[alert.device_id]:
                first_right[alert.device_id] = at
    false_alarms = len(alerts) - true_alerts
    healthy_days = sum(_days_outside(windows[d.device_id], start, end) for d in truth.devices)

    cohort = 0
    lead_times: list[float] = []
    detection: list[float] = []
    if condition in rules.watched_before_failure:
        earliest = start + rules.watched_before_failure[condition]
        for device in truth.devices:
            failure = _failure(device, condition)
            if failure is None or not earliest <= failure <= end:
                continue
            cohort += 1
            raised = first_right.get(device.device_id)
            if raised is not None and raised <= failure:
                lead_times.append((failure - raised) / DAY)
        caught = len(lead_times)
    else:
        window = rules.detection_window.get(condition, DAY)
        for device in truth.devices:
            fault = device.fault(condition)
            if fault is None or not start <= fault.onset <= end - window:
                continue
            cohort += 1
            raised = first_right.get(device.device_id)
            if raised is not None and raised <= fault.onset + window:
                detection.append((raised - fault.onset) / timedelta(hours=1))
        caught = len(detection)
    return ConditionScore(
        condition.value,
        alerts=len(alerts),
        true_alerts=true_alerts,
        precision=true_alerts / len(alerts) if alerts else None,
        faulty_devices=cohort,
        caught=caught,
        recall=caught / cohort if cohort else None,
        lead_times_days=tuple(lead_times),
        detection_hours=tuple(detection),
        false_alarms=false_alarms,
        healthy_device_days=healthy_days,
    )


def _failure(device: DeviceTruth, condition: AlertCondition) -> datetime | None:
    if condition is AlertCondition.BATTERY_WEAR:
        return device.battery_worn_at
    fault = device.fault(condition)
    return None if fault is None else fault.failure


# --- presentation ---------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown(report: EvaluationReport, title: str = "Maintenance alerts on a simulated fleet") -> str:
    """The report as a markdown table, with the targets each row meets or misses."""
    lines = [
        f"### {title}",
        "",
        f"{report.devices:,} devices, {report.days:g} days, {report.readings:,} readings.",
        "",
        "| condition | alerts | precision | recall (caught / faulty) | median lead, days | "
        "median detection, h | false alarms / 1,000 healthy device-days | targets |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in (*report.conditions, report.overall):
        met = s.target_met()
        verdict = (
            "met"
            if met and all(met.values())
            else ", ".join(f"missed {k}" for k, ok in met.items() if not ok)
        )
        recall = f"{_fmt(s.recall)} ({s.caught} / {s.faulty_devices})" if s.recall is not None else "–"
        lines.append(
            f"| {s.condition} | {s.alerts} | {_fmt(s.precision)} | {recall} | "
            f"{_fmt(s.median_lead_days, 1)} | {_fmt(s.median_detection_hours, 1)} | "
            f"{_fmt(s.false_alarms_per_1000)} "
            f"({s.false_alarms} in {s.healthy_device_days:,.0f}) | {verdict or '–'} |"
        )
    rules = report.rules
    windows = ", ".join(f"{c.value} {w / DAY:g}" for c, w in rules.detection_window.items())
    lines += [
        "",
        f"An alert is right from {rules.battery_horizon / DAY:g} days before a battery reaches 80% "
        "(not before an injected fault's onset), from onset for the other faults, and for crash loops and "
        f"reboot storms until {rules.burst_grace / DAY:g} day after the burst. Recall counts devices "
        "alerted before their failure (battery, storage), or within a detection window after onset "
        f"(days: {windows}). Lead time: failure minus the first right alert. Healthy device-days: time "
        "outside the windows where an alert of that condition is right; *all conditions*: devices with no "
        "such window during the run.",
        "",
    ]
    return "\n".join(lines)


def draw_chart(report: EvaluationReport, path: Path) -> None:
    """Precision and recall per condition against the 0.9 target, and the battery lead times against the
    7-day target, as a PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (bars, leads) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    names = [s.condition for s in report.conditions]
    positions = range(len(names))
    width = 0.38
    bars.bar(
        [p - width / 2 for p in positions],
        [s.precision or 0.0 for s in report.conditions],
        width,
        label="precision",
    )
    bars.bar(
        [p + width / 2 for p in positions],
        [s.recall or 0.0 for s in report.conditions],
        width,
        label="recall",
    )
    bars.axhline(0.9, color="black", linestyle="--", linewidth=1, label="target 0.9")
    bars.set_xticks(list(positions), names, rotation=15)
    bars.set_ylim(0.0, 1.2)
    bars.set_yticks([0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0])
    bars.set_title("Precision and recall per condition")
    bars.legend(loc="upper center", ncol=3, frameon=False)

    lead = next((s for s in report.conditions if s.condition == AlertCondition.BATTERY_WEAR.value), None)
    values = list(lead.lead_times_days) if lead else []
    if values:
        leads.hist(values, bins=min(30, max(5, len(values) // 5)), color="tab:green")
    leads.axvline(7.0, color="black", linestyle="--", linewidth=1, label="target 7 days")
    leads.set_title("Battery: days from first alert to 80% capacity")
    leads.set_xlabel("lead time, days")
    leads.set_ylabel("devices")
    leads.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
