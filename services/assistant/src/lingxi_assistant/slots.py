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
from lingxi_assistant.numerals import NUM
from lingxi_assistant.timeparse import _ZH_CLOCK, parse_date, parse_duration, resolve_time

MAX_TIMER_SECONDS = 100 * 3600 - 1  # what a phone's timer can show: 99:59:59


@dataclass(frozen=True)
class Context:
    now: datetime  # timezone-aware, already in ``tz``
    tz: tzinfo
    usual_apps: Mapping[str, str] = field(default_factory=dict)
    """Category code → the app id the user usually orders through (``apps.FOOD_DELIVERY``), as far as
    their consent lets personalization share it; empty when unknown."""


@dataclass(frozen=True)
class Fill:
    complete: bool
    slots: dict[str, SlotValue] = field(default_factory=dict)
    action: Action | None = None
    names: tuple[str, ...] = ()  # entity names found (app, city), ignored when choosing the reply language
    shown: dict[str, SlotValue] = field(default_factory=dict)
    """Values the reply names beyond the slots (the app chosen for the user): never slots, which hold
    only what the user said and are scored against the data set."""


Filler = Callable[[Utterance, Context], Fill]


# ------------------------------------------------------------------------------------------------ alarm

_LABEL_END = " \t,，。.!！?？、:：\"“”'‘’"
_ZH_PARTICLES = re.compile(r"(?:哈|啊|呀|吧|哦|喔|嘛|呢|啦|了|好吗|好不好|行吗|可以吗|一下|下)+$")
_ZH_LABEL = re.compile(
    r"(?:[叫喊]我|提醒我)(?P<label>起床|[^\s,，。.!！?？]{1,10}?)(?:的闹钟|的闹铃)?[\s。.!！?？]*$"
)
# 名字叫健身 / 标签是开会 / 备注：吃药
_ZH_NAMED = re.compile(
    r"(?:名字|名称|标签|备注|标题)(?:叫做?|是|为|写|设为|设成)?[:：\s]*(?P<label>[^\s,，。.!！?？]{1,10})"
)
# A closing clause that says what the alarm is for: 凌晨三点叫我，要看球赛 / 四点半的闹钟，赶飞机
_ZH_PURPOSE = re.compile(
    r"[,，]\s*(?:我)?(?:要|得|需要|准备|为了|用来)?(?P<label>[\u4e00-\u9fff]{2,8})[\s。.!！]*$"
)
_NOT_A_PURPOSE = re.compile(
    rf"闹钟|闹铃|铃|[叫喊设定调帮响每]|工作日|马上|立刻|赶紧|{NUM}\s*[点點时:分]|[早晚午夜]|[今明后昨]天|周|星期|号|谢谢|麻烦|可以|行吗|好吗"
)
_ZH_REPEAT = (
    ("weekdays", re.compile(r"工作日|周一到周五|星期一到星期五|每个工作日")),
    ("daily", re.compile(r"每天|每日|天天|每晚|每早")),
)
# "called flight", "label it hiking", "call it dentist": the name runs to the end, a comma, or a time
_EN_LABEL = re.compile(
    r"\b(?:called|labell?ed|named|titled|(?:call|label|name)\s+it)\s+[\"“']?(?P<label>[^\"”',.!?]{1,30}?)[\"”']?"
    r"(?=\s*$|\s*[,.!?]|\s+(?:for|at|on|by|tomorrow|today|tonight|every|each|daily|this|next|in|please)\b"
    r"|\s+\d)",
    re.I | re.ASCII,
)
_EN_REPEAT = (
    ("weekdays", re.compile(r"\b(?:on\s+)?(?:every\s+)?weekdays?\b", re.ASCII)),
    (
        "daily",
        re.compile(r"\b(?:every\s*day|daily|each\s+day|every\s+(?:morning|night|evening))\b", re.ASCII),
    ),
)
_EN_WAKE = re.compile(r"\bwake\s+(?:me|us)\b|\bwake[- ]?up\b|\bget(?:ting)?\s+up\b", re.ASCII)


def _alarm_label(utt: Utterance) -> str | None:
    zh = _ZH_LABEL.search(utt.text)
    if zh is not None:
        label = _ZH_PARTICLES.sub("", zh.group("label"))
        clocks = list(_ZH_CLOCK.finditer(label))  # 提醒我三点吃晚饭: what comes after the time
        if clocks:
            label = label[clocks[-1].end() :]
        if label and not re.search(r"\d|[点时分]", label):
            return label
    named = _ZH_NAMED.search(utt.text)
    if named is not None:
        return named.group("label")
    if "起床" in utt.text:
        return "起床"
    purpose = _ZH_PURPOSE.search(utt.text)
    if purpose is not None:
        label = _ZH_PARTICLES.sub("", purpose.group("label"))
        if len(label) >= 2 and not _NOT_A_PURPOSE.search(label):
            return label
    en = _EN_LABEL.search(utt.text)
    if en is not None:
        return en.group("label").strip(_LABEL_END)
    if _EN_WAKE.search(utt.lower):
        return "wake up"
    return None


_WAKING = re.compile(r"起床|叫醒|早起|\bwake\b|\bget\s+up\b|\bbe\s+up\b", re.ASCII)
# "set alarm 7" / 闹钟 8: an hour right after the word alarm is the time, said without "at"
_BARE_ALARM_HOUR = re.compile(
    r"(\balarms?|闹钟|闹铃)\s*(?:for\s+)?(\d{1,2})(?![\d:.]|\s*(?:点|點|时|分|[ap]\.?m\b|o'?clock|minutes?|mins?|hours?|hrs?|seconds?|secs?|[hms]\b))"
)


def _repeat(utt: Utterance) -> str | None:
    for value, pattern in (*_ZH_REPEAT, *_EN_REPEAT):
        if pattern.search(utt.lower):
            return value
    return None


def fill_alarm(utt: Utterance, ctx: Context) -> Fill:
    slots: dict[str, SlotValue] = {}
    waking = _WAKING.search(utt.lower) is not None
    text = _BARE_ALARM_HOUR.sub(r"\1 at \2", utt.numeric)
    moment = resolve_time(text, ctx.now, ctx.tz, zh_first=has_han(utt.text), waking=waking)
    if moment is not None:
        slots["time"] = moment.isoformat()
    label = _alarm_label(utt)
    if label:
        slots["label"] = label
    repeat = _repeat(utt)
    if repeat:
        slots["repeat"] = repeat
    if moment is None:
        return Fill(False, slots)
    return Fill(True, slots, Action("alarm.set", dict(slots)))


# ------------------------------------------------------------------------------------------------ timer

# 倒计时 00:05:00: hours, minutes and seconds on a clock face
_HMS = re.compile(r"(?<![\d:])(?P<h>\d{1,2}):(?P<m>[0-5]\d):(?P<s>[0-5]\d)(?![\d:])")


def fill_timer(utt: Utterance, ctx: Context) -> Fill:
    seconds = parse_duration(utt.numeric)
    if seconds is None:
        hms = _HMS.search(utt.numeric)
        if hms is not None:
            seconds = int(hms["h"]) * 3600 + int(hms["m"]) * 60 + int(hms["s"]) or None
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

# What ends a Chinese call request after the name: 打电话, 打个视频, 拨一下, 回个电话, 回电, 打个call
_ZH_CALL_TAIL = (
    r"(?:(?:回|打|拨|挂)(?:个|一个|一通|通|了)?(?:视频|语音|微信)?(?:电话|通话|过去|视频|语音)"
    r"|(?:打|拨)(?:一下|下)|回电话?|打个?\s*call|(?:视频|语音)(?:通话|电话|聊天|一下|$|[\s,，。!！]))"
)
_ZH_CALL = (
    # 给妈妈打电话 / 跟老王视频一下 / 给王总回个电话 / 用微信给小美打视频
    re.compile(rf"(?:给|跟|和|替)(?P<name>[^给跟和替发说问]+?){_ZH_CALL_TAIL}"),
    # 联系人里的周杰打一下 / 通讯录里的张三
    re.compile(rf"(?:联系人|通讯录)(?:里面?|中|上)?的?(?P<name>.+?)(?:{_ZH_CALL_TAIL}|$)"),
    # 打电话给孙医生 / 呼叫刘洋 / 拨号 138... / 视频通话给爸爸 / 接通王阿姨 / call一下Kevin
    re.compile(
        r"(?:打电话|打个电话|打一个电话|打一通电话|拨打电话|拨个电话|打个?\s*call|"
        r"(?:视频|语音)(?:通话|电话)?|打给|拨打|拨给|拨通|拨号|拨一下|拨|呼叫|致电|联系(?!人)|接通|(?<![a-z])call)"
        r"(?:一下|下)?\s*给?(?P<name>[^,，。;；!！?？]+)"
    ),
    # 打老妈电话 / 打他手机
    re.compile(r"打(?!开|个|一个|一通|通|视频|语音)(?P<name>[^\s打]{1,10}?)的?(?:电话|手机)"),
)
_EN_CALL = (
    re.compile(r"\bgive\s+(?P<name>.+?)\s+a\s+(?:call|ring|buzz)\b", re.I | re.ASCII),
    re.compile(r"\bmake\s+a\s+(?:phone\s+|video\s+)?call\s+to\s+(?P<name>[^,;!?]+)", re.I | re.ASCII),
    re.compile(r"\b(?:video|voice|phone)\s+call\s+(?:with\s+|to\s+)?(?P<name>[^,;!?]+)", re.I | re.ASCII),
    re.compile(
        r"\b(?:call|phone|dial|ring|telephone|facetime|contact)\s+(?:up\s+|back\s+)?(?P<name>[^,;!?]+)",
        re.I | re.ASCII,
    ),
    re.compile(r"\b(?:talk|speak)\s+(?:to|with)\s+(?P<name>[^,;!?]+)", re.I | re.ASCII),
)
_CONTACT_NOISE = re.compile(
    r"^(?:my|to|with|the|back|up)\s+|^联系(?!人)|(?:的手机号码?|的电话号码?|的号码|的手机|的电话|手机号|手机|电话|吧|呀|啊|哈|呗|一下)$"
    r"|['’]s\s+(?:(?:work|home|office|private)\s+)?(?:mobile|cell(?:phone)?|phone|number|landline|office)$"
    r"|\s+(?:now|please|for me|right now|back|quickly|real quick|again|asap)$"
    r"|\s+(?:on|via|by|over|through|using|with)\s+(?:the\s+|his\s+|her\s+|their\s+|my\s+)?"
    r"(?:phone|mobile|cell|video|speaker(?:phone)?|wechat|weixin|facetime|qq|whatsapp|skype|landline|audio)$"
    r"|\s*(?:on|via|by|over|through|using|with)\s+(?:微信|视频|语音|免提|qq)$",
    re.I,
)
_NOT_A_CONTACT = {
    "me", "it", "back", "him", "her", "them", "someone", "somebody", "anyone", "anybody", "call", "a call",
    "phone", "a phone call", "number", "a number", "个号", "个号码", "号", "个", "一个", "通", "一通", "了",
    "通话", "电话", "视频", "语音", "视频通话", "语音通话", "视频电话", "语音电话", "过去", "回去",
    "我", "你", "他", "她", "它", "我们", "他们", "她们", "谁", "别人", "某人", "人",
}  # fmt: skip
_NUMBER_IN_NAME = re.compile(r"(?<![\d-])\+?\d[\d -]{1,18}\d(?![\d-])")
_NAME_END = " \t,，。.!！?？、\"“”'"


def _clean_contact(name: str) -> str:
    name = name.strip(_NAME_END)
    while True:
        shorter = _CONTACT_NOISE.sub("", name).strip(_NAME_END)
        if shorter == name:
            return name
        name = shorter


def _contact(utt: Utterance) -> str | None:
    for pattern in (*_ZH_CALL, *_EN_CALL):
        for m in pattern.finditer(utt.text):
            name = _clean_contact(m.group("name"))
            if name and name.lower() not in _NOT_A_CONTACT:
                return name
    return None


def fill_call(utt: Utterance, ctx: Context) -> Fill:
    name = _contact(utt)
    if name is None:
        return Fill(complete=False)
    number = _NUMBER_IN_NAME.search(name)
    if number is not None and len(re.sub(r"\D", "", number.group())) >= 3:
        # a number said (拨号 138 0013 8000, "call customer service 95588"): digits only
        digits = re.sub(r"\D", "", number.group())
        return Fill(True, {"phone_number": digits}, Action("phone.call", {"number": digits}))
    return Fill(True, {"contact": name}, Action("phone.call", {"contact": name}))


# ---------------------------------------------------------------------------------------------- weather

_CONDITIONS = (
    (
        "rain",
        re.compile(
            r"下雨|降雨|有雨|[小中大暴]雨|(?<!雷)阵雨|雨大|雨停|带伞|打伞|\b(?:rain(?:ing|s|y|fall)?|drizzl\w*|showers?"
            r"|downpour|umbrella)\b",
            re.ASCII,
        ),
    ),
    (
        "snow",
        re.compile(
            r"下雪|降雪|有雪|[中大暴]雪|雪大|\b(?:snow(?:ing|s|y|fall)?|blizzard|flurries)\b", re.ASCII
        ),
    ),
)


def fill_weather(utt: Utterance, ctx: Context) -> Fill:
    today = ctx.now.date()
    day = parse_date(utt.numeric, today, zh_first=has_han(utt.text)) or today
    slots: dict[str, SlotValue] = {"date": day.isoformat()}
    names: tuple[str, ...] = ()
    city = find_city(utt.text)
    if city is not None:
        if city.name_zh is not None and city.name_en:  # a city in the table: both canonical names
            slots["city"] = city.name_zh
            slots["city_en"] = city.name_en
        else:  # one outside it: as said (绍兴市 → 绍兴, "in Tokyo" → Tokyo)
            slots["city"] = city.name_zh or city.name_en or city.said
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
