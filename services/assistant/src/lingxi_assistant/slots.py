"""Slot filling: from a sentence and a proposed intent to slots and the device action.

One filler per intent, independent of how the intent was proposed. A filler always returns a
:class:`Fill`; ``complete`` says whether every slot the action needs was found (no action otherwise).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from lingxi_assistant.apps import find_app
from lingxi_assistant.cities import find_city
from lingxi_assistant.lang import Utterance, has_han
from lingxi_assistant.model import Action, SlotValue
from lingxi_assistant.timeparse import parse_date, parse_duration, resolve_time

MAX_TIMER_SECONDS = 100 * 3600 - 1  # what a phone's timer can show: 99:59:59


@dataclass(frozen=True)
class Context:
    now: datetime  # timezone-aware, already in ``tz``
    tz: tzinfo


@dataclass(frozen=True)
class Fill:
    complete: bool
    slots: dict[str, SlotValue] = field(default_factory=dict)
    action: Action | None = None
    names: tuple[str, ...] = ()  # entity names found (app, city), ignored when choosing the reply language


Filler = Callable[[Utterance, Context], Fill]


# ------------------------------------------------------------------------------------------------ alarm

_ZH_LABEL = re.compile(
    r"(?:[叫喊]我|提醒我)(?P<label>起床|[^\s,，。.!！?？]{1,8}?)(?:的闹钟)?[\s。.!！?？]*$"
)
_ZH_REPEAT = (
    ("weekdays", re.compile(r"工作日|周一到周五|每个工作日")),
    ("daily", re.compile(r"每天|每日|天天")),
)
_EN_LABEL = re.compile(
    r"\b(?:called|labell?ed|named)\s+[\"“']?(?P<label>[^\"”']{1,30}?)[\"”']?\s*$", re.ASCII
)
_EN_REPEAT = (
    ("weekdays", re.compile(r"\b(?:on\s+)?(?:every\s+)?weekdays?\b", re.ASCII)),
    ("daily", re.compile(r"\b(?:every\s*day|daily)\b", re.ASCII)),
)


def _alarm_label(utt: Utterance) -> str | None:
    zh = _ZH_LABEL.search(utt.text)
    if zh is not None and not re.search(r"\d|[点时分]", zh.group("label")):
        return zh.group("label")
    if "起床" in utt.text:
        return "起床"
    en = _EN_LABEL.search(utt.text)
    if en is not None:
        return en.group("label").strip()
    if re.search(r"\bwake\s+(?:me|us)\b|\bwake[- ]?up\b", utt.lower, re.ASCII):
        return "wake up"
    return None


_WAKING = re.compile(r"起床|叫醒|\bwake\b|\bget\s+up\b", re.ASCII)


def _repeat(utt: Utterance) -> str | None:
    for value, pattern in (*_ZH_REPEAT, *_EN_REPEAT):
        if pattern.search(utt.lower):
            return value
    return None


def fill_alarm(utt: Utterance, ctx: Context) -> Fill:
    label = _alarm_label(utt)
    waking = _WAKING.search(utt.lower) is not None
    moment = resolve_time(utt.numeric, ctx.now, ctx.tz, zh_first=has_han(utt.text), waking=waking)
    if moment is None:
        return Fill(complete=False)
    slots: dict[str, SlotValue] = {"time": moment.isoformat()}
    if label:
        slots["label"] = label
    repeat = _repeat(utt)
    if repeat:
        slots["repeat"] = repeat
    return Fill(True, slots, Action("alarm.set", dict(slots)))


# ------------------------------------------------------------------------------------------------ timer


def fill_timer(utt: Utterance, ctx: Context) -> Fill:
    seconds = parse_duration(utt.numeric)
    if seconds is None or seconds > MAX_TIMER_SECONDS:
        return Fill(complete=False)
    slots: dict[str, SlotValue] = {"duration_seconds": seconds}
    return Fill(True, slots, Action("timer.start", dict(slots)))


# --------------------------------------------------------------------------------------------- open app

_ZH_OPEN = re.compile(r"(?:打开|开启|启动|运行|进入|切换到|开)(?:一下)?(?P<name>.+)$")
_EN_OPEN = re.compile(
    r"\b(?:open|launch|start|run|go\s+to|bring\s+up|switch\s+to)\s+(?P<name>.+)$", re.I | re.ASCII
)
_NAME_NOISE = re.compile(
    r"^(?:一下|下|个)|^(?:the|my|up)\s+|(?:吧|呀|啊|吗|了|一下|应用|软件)$"
    r"|\s+(?:app|application|please|for me|now)$",
    re.I,
)


def _strip_noise(name: str) -> str:
    name = name.strip(" \t,，。.!！?？、\"“”'")
    while True:
        shorter = _NAME_NOISE.sub("", name).strip(" \t,，。.!！?？、\"“”'")
        if shorter == name:
            return name
        name = shorter


def fill_open_app(utt: Utterance, ctx: Context) -> Fill:
    match = find_app(utt.text)
    if match is None:
        said = _ZH_OPEN.search(utt.text) or _EN_OPEN.search(utt.text)
        name = _strip_noise(said.group("name")) if said else ""
        return Fill(False, {"app_name": name} if name else {})
    app = match.app
    slots: dict[str, SlotValue] = {"app": app.id}
    params: dict[str, SlotValue] = {"app": app.id, "package": app.package}
    if app.system:
        params["system"] = True
    return Fill(True, slots, Action("app.open", params), names=(match.said,))


# ----------------------------------------------------------------------------------------- call contact

_ZH_CALL = (
    re.compile(
        r"(?:给|跟|和|替)(?P<name>[^给跟和替]+?)(?:打|拨|挂)(?:个|一个|一通|通|一下)?(?:视频|语音)?(?:电话|过去)"
    ),
    re.compile(
        r"(?:打电话|打个电话|打一个电话|打一通电话|拨打电话|拨个电话|打给|拨打|拨给|拨通|呼叫|致电|联系)"
        r"(?:一下)?给?(?P<name>.+)$"
    ),
)
_EN_CALL = (
    re.compile(r"\bgive\s+(?P<name>.+?)\s+a\s+(?:call|ring)\b", re.I | re.ASCII),
    re.compile(r"\bmake\s+a\s+(?:phone\s+)?call\s+to\s+(?P<name>.+)$", re.I | re.ASCII),
    re.compile(r"\b(?:call|phone|dial|ring|telephone|facetime)\s+(?:up\s+)?(?P<name>.+)$", re.I | re.ASCII),
)
_CONTACT_NOISE = re.compile(
    r"^(?:my|to)\s+|(?:的手机|的电话|的号码|手机|电话|吧|呀|啊|一下)$"
    r"|\s+(?:now|please|for me|right now|on (?:the |his |her |their |my )?(?:phone|mobile|cell))$",
    re.I,
)
_NOT_A_CONTACT = {"me", "it", "back", "him", "her", "them", "someone", "somebody"}
_PHONE_NUMBER = re.compile(r"\+?\d[\d -]{1,18}\d")


def _contact(utt: Utterance) -> str | None:
    for pattern in (*_ZH_CALL, *_EN_CALL):
        m = pattern.search(utt.text)
        if m is None:
            continue
        name = m.group("name").strip(" \t,，。.!！?？、\"“”'")
        while True:
            shorter = _CONTACT_NOISE.sub("", name).strip(" \t,，。.!！?？、\"“”'")
            if shorter == name:
                break
            name = shorter
        if name and name.lower() not in _NOT_A_CONTACT:
            return name
    return None


def fill_call(utt: Utterance, ctx: Context) -> Fill:
    name = _contact(utt)
    if name is None:
        return Fill(complete=False)
    if _PHONE_NUMBER.fullmatch(name):
        number = re.sub(r"[ -]", "", name)
        return Fill(True, {"phone_number": number}, Action("phone.call", {"number": number}))
    return Fill(True, {"contact": name}, Action("phone.call", {"contact": name}))


# ---------------------------------------------------------------------------------------------- weather

_CONDITIONS = (
    ("rain", re.compile(r"下雨|降雨|带伞|\brain(?:ing|y)?\b|\bumbrella\b", re.ASCII)),
    ("snow", re.compile(r"下雪|\bsnow(?:ing|y)?\b", re.ASCII)),
)


def fill_weather(utt: Utterance, ctx: Context) -> Fill:
    today = ctx.now.date()
    day = parse_date(utt.numeric, today, zh_first=has_han(utt.text)) or today
    slots: dict[str, SlotValue] = {"date": day.isoformat()}
    names: tuple[str, ...] = ()
    city = find_city(utt.text)
    if city is not None:
        slots["city"] = city.name_zh or city.said
        if city.name_en:
            slots["city_en"] = city.name_en
        names = (city.said,)
    for condition, pattern in _CONDITIONS:
        if pattern.search(utt.lower):
            slots["condition"] = condition
            break
    return Fill(True, slots, Action("weather.show", dict(slots)), names=names)


FILLERS: Mapping[str, Filler] = {
    "set_alarm": fill_alarm,
    "set_timer": fill_timer,
    "open_app": fill_open_app,
    "call_contact": fill_call,
    "weather": fill_weather,
}
