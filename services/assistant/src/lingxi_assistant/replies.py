"""Short replies that confirm what was understood, in Chinese or English."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

from lingxi_assistant.apps import BY_ID
from lingxi_assistant.lang import Lang
from lingxi_assistant.model import SlotValue
from lingxi_assistant.scope import Refusal

_WEEKDAY_ZH = "一二三四五六日"
_REPEAT_ZH = {"daily": "每天", "weekdays": "工作日"}
_REPEAT_EN = {"daily": "every day", "weekdays": "on weekdays"}
_CONDITION_ZH = {"rain": "下雨", "snow": "下雪"}


def _day_zh(day: date, today: date) -> str:
    delta = (day - today).days
    if 0 <= delta <= 2:
        return ("今天", "明天", "后天")[delta]
    return f"{day.month}月{day.day}日（周{_WEEKDAY_ZH[day.weekday()]}）"


def _day_en(day: date, today: date, preposition: bool = True) -> str:
    delta = (day - today).days
    if 0 <= delta <= 1:
        return ("today", "tomorrow")[delta]
    return ("on " if preposition else "") + f"{day:%A}, {day:%B} {day.day}"


def _clock_zh(moment: datetime) -> str:
    hour = moment.hour
    if hour < 5:
        period = "凌晨"
    elif hour < 9:
        period = "早上"
    elif hour < 12:
        period = "上午"
    elif hour < 13:
        period = "中午"
    elif hour < 18:
        period = "下午"
    else:
        period = "晚上"
    shown = hour - 12 if hour > 12 else hour
    return f"{period}{shown}:{moment.minute:02d}"


def _clock_en(moment: datetime) -> str:
    return f"{moment.hour % 12 or 12}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"


def duration_text(seconds: int, lang: Lang) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if lang == "zh":
        parts = [
            f"{hours}小时" if hours else "",
            f"{minutes}分钟" if minutes else "",
            f"{secs}秒" if secs else "",
        ]
        return "".join(parts)
    words = []
    for value, unit in ((hours, "hour"), (minutes, "minute"), (secs, "second")):
        if value:
            words.append(f"{value} {unit}{'' if value == 1 else 's'}")
    return " ".join(words)


def not_understood(lang: Lang) -> str:
    if lang == "zh":
        return "抱歉，我没太听懂。你可以说“明天早上七点叫我起床”或“打开微信”。"
    return "Sorry, I didn't catch that. You can say things like “set an alarm for 7 am” or “open WeChat”."


def out_of_scope(lang: Lang) -> str:
    if lang == "zh":
        return "抱歉，这件事我帮不上忙。我可以帮你设闹钟、发消息、导航、查天气等。"
    return (
        "Sorry, that's not something I can do. "
        "I can set alarms, send messages, navigate, check the weather and more."
    )


def cannot(why: Refusal, lang: Lang) -> str:
    """A request understood but not possible here (:mod:`lingxi_assistant.scope`): say why."""
    if why == "elsewhere":
        if lang == "zh":
            return "抱歉，我只能操作这台手机，其他设备或别人手机上的事我帮不上忙。"
        return "Sorry, I can only act on this phone, not on other devices or other people's phones."
    if lang == "zh":
        return "抱歉，这个时间已经过去了，没法再安排。"
    return "Sorry, that time has already passed, so I can't schedule it."


def needs_online(lang: Lang) -> str:
    """An open question with no model partner reachable: say so, never make an answer up."""
    if lang == "zh":
        return "这个问题需要联网服务来回答，目前暂时无法连接，请稍后再试。"
    return "Answering that needs the online service, which I can't reach right now. Please try again later."


def _alarm(slots: Mapping[str, SlotValue], lang: Lang, now: datetime) -> str:
    moment = datetime.fromisoformat(str(slots["time"]))
    label = slots.get("label")
    repeat = slots.get("repeat")
    if lang == "zh":
        when = (_REPEAT_ZH[str(repeat)] if repeat else _day_zh(moment.date(), now.date())) + _clock_zh(moment)
        return f"好的，已为你设置{when}的{label or ''}闹钟"
    day = _REPEAT_EN[str(repeat)] if repeat else _day_en(moment.date(), now.date())
    what = f" ({label})" if label else ""
    return f"OK, alarm set for {_clock_en(moment)} {day}{what}."


def _weather(slots: Mapping[str, SlotValue], lang: Lang, now: datetime) -> str:
    day = date.fromisoformat(str(slots["date"]))
    condition = slots.get("condition")
    if lang == "zh":
        place = str(slots.get("city", ""))
        when = _day_zh(day, now.date())
        if condition:
            return f"正在为你查询{place}{when}会不会{_CONDITION_ZH[str(condition)]}"
        return f"正在为你查询{place}{when}的天气"
    city = slots.get("city_en") or slots.get("city")
    place = f" in {city}" if city else ""
    if condition:
        return f"Checking whether it will {condition}{place} {_day_en(day, now.date())}."
    if (day - now.date()).days in (0, 1):
        return f"Checking {_day_en(day, now.date())}'s weather{place}."
    return f"Checking the weather{place} for {_day_en(day, now.date(), preposition=False)}."


def confirm(intent: str, slots: Mapping[str, SlotValue], lang: Lang, now: datetime) -> str:
    """The reply for an understood request whose action the device will execute."""
    if intent == "set_alarm":
        return _alarm(slots, lang, now)
    if intent == "set_timer":
        length = duration_text(int(slots["duration_seconds"]), lang)
        return f"好的，已开始{length}倒计时" if lang == "zh" else f"OK, timer set for {length}."
    if intent == "open_app":
        app = BY_ID[str(slots["app"])]
        return f"好的，正在打开{app.name_zh}" if lang == "zh" else f"Opening {app.name_en}."
    if intent == "call_contact":
        who = str(slots.get("contact") or slots.get("phone_number"))
        return f"好的，正在呼叫{who}" if lang == "zh" else f"Calling {who}."
    if intent == "weather":
        return _weather(slots, lang, now)
    raise ValueError(f"no confirmation for intent {intent!r}")


def ask(intent: str, slots: Mapping[str, SlotValue], lang: Lang) -> str:
    """The follow-up question when the intent is clear but a slot the action needs is missing."""
    zh = lang == "zh"
    if intent == "set_alarm":
        label, repeat = slots.get("label"), slots.get("repeat")
        if zh:
            which = (f"{_REPEAT_ZH[str(repeat)]}的" if repeat else "") + (str(label) if label else "")
            return f"好的，{which}闹钟要设在几点？"
        what = f"the “{label}” alarm" if label else "the alarm"
        return f"Sure, what time should I set {what} for{' ' + _REPEAT_EN[str(repeat)] if repeat else ''}?"
    if intent == "set_timer":
        return "好的，要计时多长时间？" if zh else "Sure, how long should the timer run?"
    if intent == "open_app":
        name = slots.get("app_name")
        if name:
            return (
                f"抱歉，我还不认识“{name}”这个应用"
                if zh
                else f"Sorry, I don't know an app called “{name}” yet."
            )
        return "你想打开哪个应用？" if zh else "Which app would you like to open?"
    if intent == "call_contact":
        return "你想打给谁？" if zh else "Who would you like to call?"
    return not_understood(lang)
