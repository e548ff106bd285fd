"""The alert lifecycle: one open alert per condition per device, raised once and cleared once.

Detectors say what they see as a ``Raise`` (the condition holds: severity and evidence) or a ``Clear`` (it
has gone, past the hysteresis margin); ``apply`` turns that into an alert change only when it changes the
open alerts: a ``Raise`` for a condition already open, or a ``Clear`` for one that is not, does nothing.
Alert ids are UUID5 of device, condition and the time of the reading that raised the alert, so replaying
the same readings produces the same ids. An alert keeps the severity it was raised with (the events have
no update); the health summary shows where the device stands now.

Recommended actions are written for the phone's owner, in Simplified Chinese and English, with the
numbers from the evidence.
"""

from __future__ import annotations

import functools
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeAlias

from lingxi.events.base import Region
from lingxi.events.maintenance import AlertCleared, AlertCondition, AlertRaised, AlertSeverity

from lingxi_maintenance.state import DeviceState, OpenAlert

__all__ = [
    "ALERT_NAMESPACE",
    "AlertChange",
    "Clear",
    "ClearedAlert",
    "Evidence",
    "Raise",
    "RaisedAlert",
    "alert_event",
    "alert_id",
    "apply",
    "finite",
    "from_micros",
    "iso_from_micros",
    "recommended_action",
]

Evidence: TypeAlias = dict[str, str | int | float | bool]
"""Metric name → value: fits the events' ``ScalarMap`` (finite numbers, short strings)."""

ALERT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://lingxi.invalid/maintenance/alerts")
"""Namespace of the deterministic alert ids."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_micros(t_us: int) -> datetime:
    """A UTC datetime from µs since the epoch (the state's time unit)."""
    return _EPOCH + timedelta(microseconds=t_us)


def iso_from_micros(t_us: int) -> str:
    """``from_micros(t_us).isoformat()``, faster: the summary of every device read needs one."""
    minutes, micros = divmod(t_us, 60_000_000)
    seconds, micros = divmod(micros, 1_000_000)
    if micros:
        return f"{_minute_text(minutes)}:{seconds:02d}.{micros:06d}+00:00"
    return f"{_minute_text(minutes)}:{seconds:02d}+00:00"


@functools.lru_cache(maxsize=4096)
def _minute_text(minutes: int) -> str:
    """``YYYY-MM-DDTHH:MM`` of a minute since the epoch (a read's readings share a few hundred)."""
    return (_EPOCH + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M")


def finite(value: float | None) -> bool:
    """True for a number that can go into evidence (not None, NaN or infinite)."""
    return value is not None and math.isfinite(value)


@dataclass(frozen=True, slots=True)
class Raise:
    """A detector's verdict: the condition holds."""

    severity: AlertSeverity
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class Clear:
    """A detector's verdict: the condition has gone (beyond the hysteresis margin)."""

    evidence: Evidence


@dataclass(frozen=True, slots=True)
class RaisedAlert:
    """An alert opened: becomes ``maintenance.alert.raised``."""

    alert_id: uuid.UUID
    device_id: str
    condition: AlertCondition
    severity: AlertSeverity
    raised_at: datetime
    evidence: Evidence
    recommended_action_zh: str
    recommended_action_en: str


@dataclass(frozen=True, slots=True)
class ClearedAlert:
    """An open alert closed: becomes ``maintenance.alert.cleared`` (same ``alert_id``)."""

    alert_id: uuid.UUID
    device_id: str
    condition: AlertCondition
    cleared_at: datetime
    evidence: Evidence


AlertChange: TypeAlias = RaisedAlert | ClearedAlert


def alert_id(device_id: str, condition: AlertCondition, raised_us: int) -> uuid.UUID:
    """The id of the alert a device raised for a condition at a time: the same on every replay."""
    return uuid.uuid5(ALERT_NAMESPACE, f"{device_id}\x1f{condition.value}\x1f{raised_us}")


def apply(
    state: DeviceState,
    device_id: str,
    condition: AlertCondition,
    verdict: Raise | Clear | None,
    t_us: int,
) -> AlertChange | None:
    """Open or close the condition's alert on ``state`` as the verdict says; the change, if any."""
    if verdict is None:
        return None
    open_alert = state.alerts.get(condition)
    if isinstance(verdict, Raise):
        if open_alert is not None:
            return None
        new_id = alert_id(device_id, condition, t_us)
        state.alerts[condition] = OpenAlert(new_id, verdict.severity, t_us)
        zh, en = recommended_action(condition, verdict.severity, verdict.evidence)
        return RaisedAlert(
            new_id, device_id, condition, verdict.severity, from_micros(t_us), verdict.evidence, zh, en
        )
    if open_alert is None:
        return None
    del state.alerts[condition]
    return ClearedAlert(open_alert.alert_id, device_id, condition, from_micros(t_us), verdict.evidence)


def alert_event(change: AlertChange, region: Region) -> AlertRaised | AlertCleared:
    """The event announcing an alert change, in the region of the telemetry that caused it."""
    if isinstance(change, RaisedAlert):
        return AlertRaised(
            region=region,
            alert_id=change.alert_id,
            device_id=change.device_id,
            condition=change.condition,
            severity=change.severity,
            evidence=change.evidence,
            recommended_action_zh=change.recommended_action_zh,
            recommended_action_en=change.recommended_action_en,
        )
    return AlertCleared(
        region=region,
        alert_id=change.alert_id,
        device_id=change.device_id,
        condition=change.condition,
        evidence=change.evidence,
    )


# --- recommended actions ----------------------------------------------------------------------------


def _num(value: object, digits: int = 0) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "?"
    if digits == 0:
        return str(round(value))
    return f"{value:.{digits}f}".rstrip("0").rstrip(".")


def _battery(severity: AlertSeverity, e: Evidence) -> tuple[str, str]:
    soh = _num(e.get("battery_health_pct"))
    if "days_to_80_pct" in e and e["days_to_80_pct"] != 0 and severity != AlertSeverity.CRITICAL:
        days = _num(e["days_to_80_pct"])
        return (
            f"电池健康度已降至 {soh}%，按目前的衰减速度，预计约 {days} 天后低于 80%，"
            "届时续航和性能会明显下降。"
            "建议提前预约官方售后更换电池；平时尽量避免边充电边玩大型游戏。",
            f"Battery health is {soh}% and, at the current rate of wear, will fall below 80% in about "
            f"{days} days, when battery life and performance drop noticeably. Book a battery replacement at "
            "an official service centre; meanwhile avoid heavy gaming while charging.",
        )
    if "days_to_80_pct" in e and e["days_to_80_pct"] != 0:
        days = _num(e["days_to_80_pct"])
        return (
            f"电池健康度已降至 {soh}%，预计约 {days} 天内就会低于 80%。建议尽快到官方售后更换电池，"
            "以免出现续航骤降或意外关机。",
            f"Battery health is {soh}% and will fall below 80% within about {days} days. Have the battery "
            "replaced at an official service centre soon to avoid sudden drops in battery life or unexpected "
            "shutdowns.",
        )
    return (
        f"电池健康度已降至 {soh}%，低于 80%，续航会明显缩短，高负载时可能意外关机。"
        "建议尽快到官方售后更换电池。",
        f"Battery health has dropped to {soh}%, below 80%: battery life is noticeably shorter and the phone "
        "may shut down under heavy load. Have the battery replaced at an official service centre soon.",
    )


def _heat(severity: AlertSeverity, e: Evidence) -> tuple[str, str]:
    temp = _num(e.get("temperature_c"), 1)
    if severity == AlertSeverity.CRITICAL:
        return (
            f"手机温度过高（电池 {temp}°C）。请立即停止使用，拔下充电器，放在阴凉通风处降温；"
            "若反复出现，请尽快到官方售后检测电池。",
            f"Your phone is far too hot (battery at {temp} °C). Stop using it now, unplug the charger and "
            "let it cool somewhere shaded and airy; if this keeps happening, have the battery checked at an "
            "official service centre soon.",
        )
    if e.get("charging") is True:
        return (
            f"充电时手机温度持续偏高（电池 {temp}°C），高于同型号手机充电时的正常水平。"
            "请使用原装充电器和数据线，"
            "充电时不要玩游戏，也不要放在枕头或被子上；若仍然发烫，请到官方售后检测。",
            f"Your phone keeps getting hotter than normal for this model while charging (battery at "
            f"{temp} °C). Use the original charger and cable, don't game while charging and don't charge it "
            "on a pillow or under a blanket; if it still gets hot, have it checked at an official service "
            "centre.",
        )
    return (
        f"手机在未充电时持续发热（电池 {temp}°C），高于同型号手机的正常水平。"
        "请关闭后台耗电的应用，取下保护壳，"
        "避免阳光直射；若持续发热，请到官方售后检测。",
        f"Your phone keeps running hot while not charging (battery at {temp} °C), well above normal for "
        "this model. Close apps draining power in the background, take off the case and keep it out of "
        "direct sun; if it stays hot, have it checked at an official service centre.",
    )


def _storage(severity: AlertSeverity, e: Evidence) -> tuple[str, str]:
    used = _num(e.get("storage_used_pct"))
    free = _num(e.get("storage_free_gb"), 1)
    if "days_to_full" in e:
        days = _num(e["days_to_full"])
        return (
            f"存储空间已使用 {used}%（剩余约 {free} GB），按目前的增长速度，约 {days} 天后将被占满。"
            "建议清理不再需要的视频、照片和聊天记录中的大文件，或备份到云端。",
            f"Storage is {used}% full ({free} GB free) and, at the current rate, will be full in about "
            f"{days} days. Delete videos, photos and large chat files you no longer need, or back them up "
            "to the cloud.",
        )
    return (
        f"存储空间已使用 {used}%，仅剩约 {free} GB，空间不足会导致应用无法更新、拍照或保存失败。"
        "请尽快清理不需要的视频、照片和应用缓存，或将文件备份到云端后删除。",
        f"Storage is {used}% full with only about {free} GB free; apps may fail to update and photos may "
        "fail to save. Delete videos, photos and app caches you don't need, or back files up to the cloud "
        "and remove them.",
    )


def _crash(severity: AlertSeverity, e: Evidence) -> tuple[str, str]:
    hour = _num(e.get("crashes_last_hour"))
    day = _num(e.get("crashes_last_day"))
    return (
        f"应用频繁崩溃（过去 1 小时约 {hour} 次，24 小时内 {day} 次）。建议将系统和应用更新到最新版本，"
        "在设置中清除出问题应用的缓存，必要时卸载后重新安装。",
        f"Apps keep crashing (about {hour} times in the last hour, {day} in the last 24 hours). Update the "
        "system and your apps, clear the failing app's cache in Settings, and reinstall it if it continues.",
    )


def _reboot(severity: AlertSeverity, e: Evidence) -> tuple[str, str]:
    hour = _num(e.get("reboots_last_hour"))
    day = _num(e.get("reboots_last_day"))
    return (
        f"手机反复自动重启（过去 1 小时约 {hour} 次，24 小时内 {day} 次）。"
        "请先备份重要数据，将系统更新到最新版本，"
        "并卸载最近安装的可疑应用；若仍反复重启，请到官方售后检测。",
        f"Your phone keeps restarting on its own (about {hour} times in the last hour, {day} in the last 24 "
        "hours). Back up important data, update the system and remove apps installed just before this "
        "started; if it keeps restarting, have it checked at an official service centre.",
    )


_ACTIONS = {
    AlertCondition.BATTERY_WEAR: _battery,
    AlertCondition.OVERHEATING: _heat,
    AlertCondition.STORAGE_FULL: _storage,
    AlertCondition.CRASH_LOOP: _crash,
    AlertCondition.REBOOT_STORM: _reboot,
}


def recommended_action(
    condition: AlertCondition, severity: AlertSeverity, evidence: Evidence
) -> tuple[str, str]:
    """What the user should do about a condition: (Simplified Chinese, English), with the evidence."""
    return _ACTIONS[condition](severity, evidence)
