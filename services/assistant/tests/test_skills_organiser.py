"""Organiser skills (lingxi_assistant.skills.organiser): cancel_alarm, set_reminder, create_event,
check_schedule and date_time — slots, device actions, follow-up questions and replies."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from lingxi_assistant.lang import Lang, Utterance
from lingxi_assistant.skills import Skill
from lingxi_assistant.skills.organiser import SKILLS
from lingxi_assistant.slots import Context

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=TZ)  # Wednesday, 10:00
CTX = Context(now=NOW, tz=TZ)
BY_INTENT = {skill.intent: skill for skill in SKILLS}
HAN = re.compile(r"[\u4e00-\u9fff]")

ACTIONS = {
    "cancel_alarm": "alarm.cancel",
    "set_reminder": "reminder.create",
    "create_event": "calendar.create",
    "check_schedule": "calendar.show",
    "date_time": "clock.show",
}


def _t(day: int, hour: int, minute: int = 0, month: int = 11) -> str:
    return datetime(2026, month, day, hour, minute, tzinfo=TZ).isoformat()


def _fill(intent: str, text: str) -> Any:
    return BY_INTENT[intent].fill(Utterance.of(text), CTX)


def _without_values(reply: str, slots: dict[str, Any]) -> str:
    """The reply less the user's own words quoted in it (a Chinese title in an English reply is fine)."""
    for value in slots.values():
        reply = reply.replace(str(value), "")
    return reply


# (text, expected slots); every one of these is complete
COMPLETE: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "cancel_alarm": [
        ("把明天早上六点四十的闹钟删了", {"time": _t(26, 6, 40)}),
        ("取消今晚十点的闹铃", {"time": _t(25, 22)}),
        ("不用早起了，四点半那个闹钟取消掉", {"time": _t(26, 4, 30)}),  # getting up: 04:30, not 16:30
        ("关掉下周二早上八点的闹钟", {"time": _t(1, 8, month=12)}),
        ("闹钟都删了吧", {}),
        ("周日的闹钟关了", {}),  # a day without a time of day is not a time
        ("cancel my 6:15 alarm", {"time": _t(26, 6, 15)}),
        ("please turn off the alarm for 9 pm", {"time": _t(25, 21)}),
        ("delete the alarm for tomorrow at seven thirty am", {"time": _t(26, 7, 30)}),
        ("switch off every alarm", {}),
        ("关掉 the alarm", {}),
    ],
    "set_reminder": [
        ("后天早上八点提醒我还图书馆的书", {"time": _t(27, 8), "content": "还图书馆的书"}),
        ("请提醒我周四下午两点半给王经理发合同", {"time": _t(26, 14, 30), "content": "给王经理发合同"}),
        ("十五分钟以后提醒我关火", {"time": _t(25, 10, 15), "content": "关火"}),
        ("过四十分钟提醒我把蛋糕拿出来", {"time": _t(25, 10, 40), "content": "把蛋糕拿出来"}),
        (
            "提醒我四点吃晚饭",
            {"time": _t(25, 16), "content": "吃晚饭"},
        ),  # 晚饭 does not make 4 an evening hour
        ("帮我设一个今晚九点倒垃圾的提醒", {"time": _t(25, 21), "content": "倒垃圾"}),
        ("交物业费的事明天上午十点提醒我一下吧", {"time": _t(26, 10), "content": "交物业费"}),
        ("记得提醒我晚上八点给Lucy回电话，谢谢", {"time": _t(25, 20), "content": "给Lucy回电话"}),
        ("remind me to water the plants at 6 pm", {"time": _t(25, 18), "content": "water the plants"}),
        (
            "Remind me tomorrow at 8:45 to bring my laptop",
            {"time": _t(26, 8, 45), "content": "bring my laptop"},
        ),
        (
            "remind me in twenty minutes to turn off the oven",
            {"time": _t(25, 10, 20), "content": "turn off the oven"},
        ),
        (
            "could you remind me that Amy's flight lands at 4pm",
            {"time": _t(25, 16), "content": "Amy's flight lands"},
        ),
        (
            "set a reminder for 11:30 to book the restaurant",
            {"time": _t(25, 11, 30), "content": "book the restaurant"},
        ),
        (
            "remind me to buy two tickets on friday at noon",
            {"time": _t(27, 12), "content": "buy two tickets"},
        ),
        ("remind me to pay rent on the 1st at 9am", {"time": _t(1, 9, month=12), "content": "pay rent"}),
        ("remind me 10 minutes from now to stretch", {"time": _t(25, 10, 10), "content": "stretch"}),
        (
            "remind me to text Mike at 3 about the tickets",
            {"time": _t(25, 15), "content": "text Mike about the tickets"},
        ),
        ("明天下午三点remind我买菜", {"time": _t(26, 15), "content": "买菜"}),
        ("夜里十一点提醒我关热水器", {"time": _t(25, 23), "content": "关热水器"}),  # late night, not 11:00
        ("remind me at 10 at night to charge the car", {"time": _t(25, 22), "content": "charge the car"}),
        ("周日上午十点记得提醒我交报告", {"time": _t(29, 10), "content": "交报告"}),
        (
            "remind me to wrap the gift for sunday's party at 6pm",
            {"time": _t(25, 18), "content": "wrap the gift for sunday's party"},
        ),
    ],
    "create_event": [
        ("下周三上午十点半季度会议，加到日历", {"time": _t(2, 10, 30, month=12), "title": "季度会议"}),
        ("在日历上添加后天晚上八点的音乐会", {"time": _t(27, 20), "title": "音乐会"}),
        ("帮我在日程里加一个周五下午三点的设计评审", {"time": _t(27, 15), "title": "设计评审"}),
        ("把明天中午十二点的午餐会放进日程", {"time": _t(26, 12), "title": "午餐会"}),
        ("新建日程：周六上午十点 带爸妈去体检", {"time": _t(28, 10), "title": "带爸妈去体检"}),
        ("我想在日历里记一个约会，明天晚上七点", {"time": _t(26, 19), "title": "约会"}),
        ("创建一个日程，标题是项目复盘，明天下午四点", {"time": _t(26, 16), "title": "项目复盘"}),
        ("明天下午两点到四点培训，帮我记到日历里", {"time": _t(26, 14), "title": "培训"}),
        (
            "add coffee with Anna to my calendar tomorrow at 10am",
            {"time": _t(26, 10), "title": "coffee with Anna"},
        ),
        (
            "schedule a call with the landlord on friday at 5pm",
            {"time": _t(27, 17), "title": "call with the landlord"},
        ),
        ("create an event called Board Review on Monday at 9", {"time": _t(30, 9), "title": "Board Review"}),
        ("put a 45 minute run on my calendar for tomorrow at 7am", {"time": _t(26, 7), "title": "run"}),
        ("new calendar entry: movie night, saturday 8pm", {"time": _t(28, 20), "title": "movie night"}),
        ("add a meeting with 王总 tomorrow at 3pm", {"time": _t(26, 15), "title": "meeting with 王总"}),
    ],
    "check_schedule": [
        ("后天有什么安排", {"date": "2026-11-27"}),
        ("下周四我有空吗", {"date": "2026-12-03"}),
        ("查一下下周一的日程", {"date": "2026-11-30"}),  # 一下 + 下周一, not the Monday after next
        ("12月8号我约了什么", {"date": "2026-12-08"}),
        ("昨天开了几个会", {"date": "2026-11-24"}),
        ("本周日程", {}),  # 周日 of 日程 is not Sunday
        ("这周末有事吗", {}),  # a weekend is not a day
        ("打开日程", {}),
        ("what's on my calendar for thursday", {"date": "2026-11-26"}),
        ("do I have any meetings this afternoon", {"date": "2026-11-25"}),
        ("am I free on the 30th", {"date": "2026-11-30"}),
        ("what did I have yesterday", {"date": "2026-11-24"}),
        ("pull up my agenda please", {}),
    ],
    "date_time": [
        ("麻烦看下现在几点钟", {"query": "time"}),
        ("what time is it now", {"query": "time"}),
        ("今天几月几号", {"query": "date"}),
        ("what's the date today", {"query": "date"}),
        ("大后天是周几呀", {"query": "weekday"}),
        ("which weekday is it today", {"query": "weekday"}),
        ("今儿阴历是多少", {"query": "lunar"}),
        ("what's the lunar date", {"query": "lunar"}),
        ("元旦放几天假", {"query": "holiday"}),
        ("how many days until Christmas", {"query": "holiday"}),
        ("下周六要补班吗", {"query": "holiday"}),
    ],
}

COMPLETE_CASES = [(intent, text, slots) for intent, rows in COMPLETE.items() for text, slots in rows]


@pytest.mark.parametrize(("intent", "text", "slots"), COMPLETE_CASES)
def test_complete_request_fills_slots_and_action(intent: str, text: str, slots: dict[str, Any]) -> None:
    fill = _fill(intent, text)
    assert fill.slots == slots
    assert fill.complete
    assert fill.action is not None
    assert fill.action.name == ACTIONS[intent]
    assert {k: v for k, v in fill.action.params.items() if k != "all"} == slots


# (intent, text, slots found so far); each lacks a slot the action needs
INCOMPLETE: list[tuple[str, str, dict[str, Any]]] = [
    ("set_reminder", "提醒我一下", {}),
    ("set_reminder", "明天提醒我取快递", {"content": "取快递"}),  # a day but no time of day
    ("set_reminder", "晚上提醒我收衣服", {"content": "收衣服"}),
    ("set_reminder", "今晚九点提醒我", {"time": _t(25, 21)}),
    ("set_reminder", "提醒我多喝一点水", {"content": "多喝一点水"}),  # 一点 is "a little" here
    ("set_reminder", "remind me later to call the bank", {"content": "call the bank"}),
    ("set_reminder", "set a reminder for 7pm", {"time": _t(25, 19)}),
    ("set_reminder", "create a reminder", {}),
    ("create_event", "在日历里新建一个事件", {}),
    ("create_event", "明天上午十点加个日程", {"time": _t(26, 10)}),
    ("create_event", "周五晚上的年会加到日历", {"title": "年会"}),
    ("create_event", "add an event to my calendar", {}),
    ("create_event", "schedule a haircut", {"title": "haircut"}),
]


@pytest.mark.parametrize(("intent", "text", "slots"), INCOMPLETE)
def test_incomplete_request_has_no_action(intent: str, text: str, slots: dict[str, Any]) -> None:
    fill = _fill(intent, text)
    assert fill.slots == slots
    assert not fill.complete
    assert fill.action is None


def test_cancel_all_alarms_tells_the_device() -> None:
    assert _fill("cancel_alarm", "删除所有闹钟").action.params == {"all": True}
    assert _fill("cancel_alarm", "turn off all my alarms").action.params == {"all": True}
    assert _fill("cancel_alarm", "关闭闹钟").action.params == {}
    assert _fill("cancel_alarm", "明天的闹钟全部取消").action.params == {}  # only tomorrow's, not all


def test_one_skill_per_intent() -> None:
    assert [skill.intent for skill in SKILLS] == list(ACTIONS)
    assert all(isinstance(skill, Skill) for skill in SKILLS)


# (intent, slots, lang, reply)
REPLIES: list[tuple[str, dict[str, Any], Lang, str]] = [
    ("set_reminder", {"time": _t(26, 7), "content": "交房租"}, "zh", "好的，明天早上7:00提醒你交房租"),
    (
        "set_reminder",
        {"time": _t(26, 7), "content": "pay the rent"},
        "en",
        "OK, I'll remind you tomorrow at 7:00 AM: pay the rent.",
    ),
    (
        "create_event",
        {"time": _t(27, 15), "title": "设计评审"},
        "zh",
        "好的，已在日历中添加后天下午3:00的“设计评审”",
    ),
    (
        "create_event",
        {"time": _t(30, 9), "title": "Board Review"},
        "en",
        "OK, I've added “Board Review” to your calendar for Monday, November 30 at 9:00 AM.",
    ),
    ("cancel_alarm", {"time": _t(26, 6, 30)}, "zh", "好的，已取消明天早上6:30的闹钟"),
    ("cancel_alarm", {"time": _t(26, 6, 30)}, "en", "OK, I've turned off the 6:30 AM alarm tomorrow."),
    ("cancel_alarm", {}, "zh", "好的，正在为你关闭闹钟"),
    ("check_schedule", {"date": "2026-11-26"}, "zh", "正在为你查看明天的日程"),
    ("check_schedule", {"date": "2026-11-24"}, "en", "Here's your schedule for yesterday."),
    ("check_schedule", {"date": "2026-12-08"}, "en", "Here's your schedule for Tuesday, December 8."),
    ("check_schedule", {}, "en", "Opening your calendar."),
    ("date_time", {"query": "time"}, "zh", "现在是上午10:00"),
    ("date_time", {"query": "time"}, "en", "It's 10:00 AM."),
    ("date_time", {"query": "date"}, "zh", "今天是2026年11月25日，星期三"),
    ("date_time", {"query": "date"}, "en", "Today is Wednesday, November 25, 2026."),
    ("date_time", {"query": "weekday"}, "zh", "今天是星期三"),
    ("date_time", {"query": "weekday"}, "en", "Today is Wednesday."),
]


@pytest.mark.parametrize(("intent", "slots", "lang", "reply"), REPLIES)
def test_confirmation_states_the_values(intent: str, slots: dict[str, Any], lang: Lang, reply: str) -> None:
    assert BY_INTENT[intent].confirm(slots, lang, NOW) == reply


@pytest.mark.parametrize("query", ["lunar", "holiday"])
def test_lunar_and_holiday_replies_open_the_calendar_without_inventing_dates(query: str) -> None:
    zh = BY_INTENT["date_time"].confirm({"query": query}, "zh", NOW)
    en = BY_INTENT["date_time"].confirm({"query": query}, "en", NOW)
    assert "日历" in zh or "节假日" in zh
    assert "calendar" in en
    assert not re.search(r"\d", zh + en)


@pytest.mark.parametrize(
    ("intent", "slots", "zh_part", "en_part"),
    [
        ("set_reminder", {"content": "取快递"}, "什么时候提醒你取快递", "when should I remind you"),
        ("set_reminder", {"time": _t(25, 21)}, "提醒你什么", "what should I remind you"),
        ("set_reminder", {}, "什么时候", "when"),
        ("create_event", {"title": "年会"}, "“年会”安排在什么时间", "when is “年会”"),
        ("create_event", {"time": _t(26, 10)}, "叫什么", "what should I call"),
    ],
)
def test_questions_ask_for_what_is_missing_in_the_language_asked(
    intent: str, slots: dict[str, Any], zh_part: str, en_part: str
) -> None:
    skill = BY_INTENT[intent]
    zh, en = skill.ask(slots, "zh"), skill.ask(slots, "en")
    assert zh_part in zh
    assert en_part in en
    assert HAN.search(zh)
    assert not HAN.search(_without_values(en, slots))


@pytest.mark.parametrize("intent", list(ACTIONS))
def test_every_reply_follows_the_language(intent: str) -> None:
    skill = BY_INTENT[intent]
    for text in ("后天下午三点提醒我开例会", "remind me tomorrow at 3pm to join the call"):
        fill = skill.fill(Utterance.of(text), CTX)
        for lang in ("zh", "en"):
            reply = skill.confirm(fill.slots, lang, NOW) if fill.complete else skill.ask(fill.slots, lang)
            if lang == "zh":
                assert HAN.search(reply), reply
            else:
                assert not HAN.search(_without_values(reply, fill.slots)), reply


@pytest.mark.parametrize(
    "text",
    ["", "   ", "？！。", "😀😀", "提醒", "remind", "日历", "99999点", "the 45th", "到到到到", "a" * 500],
)
def test_odd_input_never_raises(text: str) -> None:
    for skill in SKILLS:
        fill = skill.fill(Utterance.of(text), CTX)
        assert "" not in fill.slots.values()
        for lang in ("zh", "en"):
            assert skill.confirm(fill.slots, lang, NOW) if fill.complete else skill.ask(fill.slots, lang)
