"""What the assistant cannot do however clearly it understood the words: act on another device, or
schedule something in the past. Pure: patterns over the normalised sentence.

The classifier learns intents from words, and "open WeChat on my iPad" or 把闹钟设到昨天晚上 carry the
words of a device action; but this assistant controls this phone, now and later, nothing else. These
checks run after the classifier and turn such requests into ``out_of_scope`` with a reply that says why.
They apply only to intents whose action happens on this phone or at a future time, so a message, a
search or a reminder that merely mentions a TV or yesterday is left alone (their content is free text).
"""

from __future__ import annotations

import re
from typing import Literal

from lingxi_assistant.lang import Utterance

Refusal = Literal["elsewhere", "past"]

ON_THIS_PHONE = frozenset(
    {
        "set_alarm",
        "cancel_alarm",
        "set_timer",
        "call_contact",
        "open_app",
        "toggle_setting",
        "set_brightness",
        "set_volume",
        "battery_status",
        "navigate",
        "play_music",
        "media_control",
        "take_photo",
        "take_screenshot",
    }
)
"""Intents whose action runs on this phone: refused when aimed at another device."""

IN_THE_FUTURE = frozenset(
    {"set_alarm", "set_timer", "set_reminder", "create_event", "book_taxi", "take_photo"}
)
"""Intents that schedule or do something from now on: refused when the time named is past."""

# Another device as the place of the action (电视上, 车里, 手表的), or a device that is never this phone.
_DEVICE_ZH = (
    r"电视机?|音箱|音响|手表|手环|平板|ipad|电脑|笔记本|车机|车载|汽车|车上|车里|车子|空调|冰箱|洗衣机|扫地机器?人?"
    r"|门锁|门铃|路由器|投影仪|热水器|微波炉|电饭煲"
)
_ALWAYS_ELSEWHERE_ZH = r"小度|天猫精灵|小爱同学|后备箱|车窗|天窗|雨刮"
_PERSON_ZH = (
    r"妈|爸|老婆|老公|媳妇|孩子|儿子|女儿|爷爷|奶奶|姥姥|姥爷|外婆|外公|哥|姐|弟|妹|朋友|同事|室友|他|她|别人"
    r"|男朋友|女朋友|对象|老板|领导"
)
_DEVICE_EN = (
    r"tv|television|ipad|tablet|laptop|computer|pc|mac|macbook|watch|smartwatch|car(?!\s*park)"
    r"|smart speaker|echo|xiaodu|tmall genie|fridge|air ?con|washing machine|robot vacuum|router|projector"
    r"|doorbell|door lock|intercom"
)
_ELSEWHERE = [
    re.compile(rf"(?:{_DEVICE_ZH})(?:上|里|的)|{_ALWAYS_ELSEWHERE_ZH}"),
    re.compile(rf"(?:{_PERSON_ZH})的?手机(?:上|里)"),
    re.compile(rf"\b(?:on|in|from)\s+(?:my|the|his|her|their|our|a)?\s*(?:{_DEVICE_EN})\b"),
    re.compile(rf"\b(?:the|my)?\s*(?:{_DEVICE_EN})'s\b"),
    # "on my husband's phone", "from Dad's phone" (but "call Jack's phone" is calling Jack)
    re.compile(r"\b(?:on|from|in)\s+(?:my\s+)?(?!my\b)\w+'s\s+(?:phone|iphone|mobile|cell)\b"),
]

_PAST = re.compile(
    r"昨天|昨晚|昨儿|前天|上周|上礼拜|上星期|上个月"
    r"|\byesterday\b|\blast\s+(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|week|night|month)\b"
    r"|\b(?:an?|one|two|three|four|five|six|ten|\d+)\s+(?:minutes?|hours?|days?|weeks?)\s+ago\b"
)


def refusal(intent: str, utterance: Utterance) -> Refusal | None:
    """Why the assistant cannot carry out ``intent`` as asked in ``utterance``, or None when it can."""
    if intent in ON_THIS_PHONE and any(p.search(utterance.lower) for p in _ELSEWHERE):
        return "elsewhere"
    if intent in IN_THE_FUTURE and _PAST.search(utterance.lower):
        return "past"
    return None
