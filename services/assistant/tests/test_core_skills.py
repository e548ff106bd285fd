"""The first five skills (lingxi_assistant.skills.core over slots.py and replies.py): set_alarm, set_timer,
open_app, call_contact and weather: slots, actions, questions and replies."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from lingxi_assistant.apps import BY_ID, find_app
from lingxi_assistant.lang import Utterance
from lingxi_assistant.skills import Skill
from lingxi_assistant.skills.core import SKILLS
from lingxi_assistant.slots import Context

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=TZ)  # Wednesday, 10:00
CTX = Context(now=NOW, tz=TZ)
BY_INTENT: dict[str, Skill] = {skill.intent: skill for skill in SKILLS}
HAN = re.compile(r"[\u4e00-\u9fff]")

ACTIONS = {
    "set_alarm": "alarm.set",
    "set_timer": "timer.start",
    "open_app": "app.open",
    "call_contact": "phone.call",
    "weather": "weather.show",
}


def fill(intent: str, text: str) -> Any:
    return BY_INTENT[intent].fill(Utterance.of(text), CTX)


def test_one_skill_per_intent() -> None:
    assert [skill.intent for skill in SKILLS] == list(ACTIONS)


# (intent, text, slots) for requests that are complete
COMPLETE: list[tuple[str, str, dict[str, Any]]] = [
    # --- set_alarm: times
    ("set_alarm", "后天早上五点半叫醒我", {"time": "2026-11-27T05:30:00+08:00"}),
    ("set_alarm", "深夜十一点定个闹钟", {"time": "2026-11-25T23:00:00+08:00"}),
    ("set_alarm", "夜里十一点半的闹铃", {"time": "2026-11-25T23:30:00+08:00"}),
    ("set_alarm", "过二十分钟响铃", {"time": "2026-11-25T10:20:00+08:00"}),
    ("set_alarm", "周二八点的闹钟", {"time": "2026-12-01T08:00:00+08:00"}),  # not 18:00 (周二 + 八)
    ("set_alarm", "星期四十点闹钟", {"time": "2026-11-26T10:00:00+08:00"}),  # not 40 o'clock
    ("set_alarm", "闹钟 9", {"time": "2026-11-26T09:00:00+08:00"}),
    ("set_alarm", "set alarm 8", {"time": "2026-11-26T08:00:00+08:00"}),
    ("set_alarm", "alarm for 11 at night", {"time": "2026-11-25T23:00:00+08:00"}),
    ("set_alarm", "set an alarm 45 minutes from now", {"time": "2026-11-25T10:45:00+08:00"}),
    ("set_alarm", "I must be up by 4:50 tomorrow, alarm please", {"time": "2026-11-26T04:50:00+08:00"}),
    # --- set_alarm: labels and repeats
    (
        "set_alarm",
        "明早六点闹钟，要赶高铁",
        {"time": "2026-11-26T06:00:00+08:00", "label": "赶高铁"},
    ),
    (
        "set_alarm",
        "晚上九点的闹钟，标签是遛狗",
        {"time": "2026-11-25T21:00:00+08:00", "label": "遛狗"},
    ),
    ("set_alarm", "明天七点叫我起床哦", {"time": "2026-11-26T07:00:00+08:00", "label": "起床"}),
    ("set_alarm", "下午两点叫我呀", {"time": "2026-11-25T14:00:00+08:00"}),
    (
        "set_alarm",
        "提醒我下午四点接孩子的闹钟",
        {"time": "2026-11-25T16:00:00+08:00", "label": "接孩子"},
    ),
    (
        "set_alarm",
        "工作日早上七点一刻的闹钟",
        {"time": "2026-11-26T07:15:00+08:00", "repeat": "weekdays"},
    ),
    (
        "set_alarm",
        "每晚十点半闹钟，谢谢",
        {"time": "2026-11-25T22:30:00+08:00", "repeat": "daily"},
    ),
    (
        "set_alarm",
        "set an alarm named gym time for 6:15 am",
        {"time": "2026-11-26T06:15:00+08:00", "label": "gym time"},
    ),
    (
        "set_alarm",
        "alarm at 7:40 on friday, label it school run",
        {"time": "2026-11-27T07:40:00+08:00", "label": "school run"},
    ),
    (
        "set_alarm",
        "I'm getting up at 6 on saturday, set an alarm",
        {"time": "2026-11-28T06:00:00+08:00", "label": "wake up"},
    ),
    (
        "set_alarm",
        "alarm at 9pm every day called meds",
        {"time": "2026-11-25T21:00:00+08:00", "repeat": "daily", "label": "meds"},
    ),
    # --- set_timer
    ("set_timer", "倒计时 01:30:00", {"duration_seconds": 5400}),
    ("set_timer", "set a 20-second timer", {"duration_seconds": 20}),
    ("set_timer", "start a 3-minute countdown", {"duration_seconds": 180}),
    ("set_timer", "I need a 30 second timer", {"duration_seconds": 30}),
    ("set_timer", "蒸鱼八分钟，计个时吧", {"duration_seconds": 480}),
    # --- open_app
    ("open_app", "打开酷狗", {"app": "kugou"}),
    ("open_app", "启动酷狗音乐", {"app": "kugou"}),
    ("open_app", "open Kugou Music please", {"app": "kugou"}),
    ("open_app", "launch netease cloud music", {"app": "netease_music"}),
    ("open_app", "帮我打开网易云音乐吧", {"app": "netease_music"}),
    # --- call_contact
    ("call_contact", "跟表哥视频一下", {"contact": "表哥"}),
    ("call_contact", "打电话联系陈阿姨", {"contact": "陈阿姨"}),
    ("call_contact", "call Grace Wu's work number", {"contact": "Grace Wu"}),
    ("call_contact", "FaceTime my dad real quick", {"contact": "dad"}),
    ("call_contact", "视频通话给奶奶", {"contact": "奶奶"}),
    ("call_contact", "语音通话老李", {"contact": "老李"}),
    ("call_contact", "给张总回个电话", {"contact": "张总"}),
    ("call_contact", "马上给房东回电", {"contact": "房东"}),
    ("call_contact", "拨一下陈老师的手机", {"contact": "陈老师"}),
    ("call_contact", "打二姨电话", {"contact": "二姨"}),
    ("call_contact", "通讯录里的赵磊打一下", {"contact": "赵磊"}),
    ("call_contact", "接通客服", {"contact": "客服"}),
    ("call_contact", "帮我call一下Linda", {"contact": "Linda"}),
    ("call_contact", "拨号 139 1234 5678", {"phone_number": "13912345678"}),
    ("call_contact", "call the plumber", {"contact": "plumber"}),
    ("call_contact", "call Tom's cell", {"contact": "Tom"}),
    ("call_contact", "dial my brother's number", {"contact": "brother"}),
    ("call_contact", "call Grace on speaker", {"contact": "Grace"}),
    ("call_contact", "video call 小红 on wechat", {"contact": "小红"}),
    ("call_contact", "start a video call with Dad", {"contact": "Dad"}),
    ("call_contact", "call back Steve", {"contact": "Steve"}),
    ("call_contact", "call the bank 95566 for me, my card is stuck", {"phone_number": "95566"}),
    ("call_contact", "I have to speak to Olivia, call her", {"contact": "Olivia"}),
    ("call_contact", "contact Ryan by phone", {"contact": "Ryan"}),
    # --- weather
    ("weather", "东京明天会下雪吗", {"date": "2026-11-26", "condition": "snow"}),
    ("weather", "weather in Osaka tomorrow", {"date": "2026-11-26", "city": "Osaka"}),
    ("weather", "weather for Sunday", {"date": "2026-11-29"}),
    ("weather", "is it warm enough for a picnic on saturday", {"date": "2026-11-28"}),
    (
        "weather",
        "will it drizzle in Suzhou today",
        {"date": "2026-11-25", "city": "苏州", "city_en": "Suzhou", "condition": "rain"},
    ),
    ("weather", "这周天气怎么样", {"date": "2026-11-25"}),
    ("weather", "下周末杭州天气", {"date": "2026-12-05", "city": "杭州", "city_en": "Hangzhou"}),
    ("weather", "明天有阵雨吗", {"date": "2026-11-26", "condition": "rain"}),
    ("weather", "weather next saturday", {"date": "2026-12-05"}),
    ("weather", "嘉兴市后天冷吗", {"date": "2026-11-27", "city": "嘉兴"}),
]


@pytest.mark.parametrize(("intent", "text", "slots"), COMPLETE)
def test_complete_requests(intent: str, text: str, slots: dict[str, Any]) -> None:
    result = fill(intent, text)
    assert result.slots == slots
    assert result.complete
    assert result.action is not None
    assert result.action.name == ACTIONS[intent]


def test_actions_carry_what_the_device_needs() -> None:
    app = fill("open_app", "打开酷狗")
    assert app.action.params == {"app": "kugou", "package": "com.kugou.android"}
    number = fill("call_contact", "呼叫 400-820-8820")
    assert number.action.params == {"number": "4008208820"}
    alarm = fill("set_alarm", "每天早上六点叫我起床")
    assert alarm.action.params == alarm.slots


def test_new_apps_in_the_catalogue() -> None:
    assert BY_ID["kugou"].package == "com.kugou.android"
    assert BY_ID["netease_music"].package == "com.netease.cloudmusic"
    for said, app_id in [("酷狗", "kugou"), ("kugou", "kugou"), ("网易云", "netease_music")]:
        found = find_app(f"open {said}")
        assert found is not None
        assert found.app.id == app_id


# (intent, text, slots found) for requests missing a slot the action needs
INCOMPLETE: list[tuple[str, str, dict[str, Any]]] = [
    ("set_alarm", "定个闹钟", {}),
    ("set_alarm", "明天早上叫我起床", {"label": "起床"}),
    ("set_alarm", "闹钟，每天", {"repeat": "daily"}),
    ("set_alarm", "set an alarm for tomorrow", {}),
    ("set_alarm", "wake me up tomorrow", {"label": "wake up"}),
    ("set_alarm", "早一点叫我", {}),
    ("set_timer", "开个计时器", {}),
    ("set_timer", "start a countdown", {}),
    ("call_contact", "打个电话", {}),
    ("call_contact", "打个视频电话", {}),
    ("call_contact", "视频通话", {}),
    ("call_contact", "I'd like to make a call", {}),
    ("call_contact", "call someone", {}),
    ("call_contact", "给他打个电话", {}),
    ("open_app", "打开", {}),
    ("open_app", "open Snapbook", {"app_name": "Snapbook"}),
]


@pytest.mark.parametrize(("intent", "text", "slots"), INCOMPLETE)
def test_incomplete_requests_ask(intent: str, text: str, slots: dict[str, Any]) -> None:
    result = fill(intent, text)
    assert not result.complete
    assert result.action is None
    assert result.slots == slots
    skill = BY_INTENT[intent]
    zh, en = skill.ask(result.slots, "zh"), skill.ask(result.slots, "en")
    assert HAN.search(zh)
    for value in result.slots.values():  # a name as said may be Chinese in an English question
        en = en.replace(str(value), "")
    assert not HAN.search(en)


def test_alarm_question_names_what_was_understood() -> None:
    assert "起床" in BY_INTENT["set_alarm"].ask({"label": "起床"}, "zh")
    assert "every day" in BY_INTENT["set_alarm"].ask({"repeat": "daily"}, "en")


@pytest.mark.parametrize(
    ("intent", "text", "zh_words", "en_words"),
    [
        ("set_alarm", "明早六点半叫我起床", ["明天", "6:30", "起床"], ["6:30 AM", "tomorrow"]),
        ("set_alarm", "夜里十一点的闹钟", ["晚上11:00"], ["11:00 PM", "today"]),
        ("set_alarm", "weekday alarm at 7", ["工作日", "7:00"], ["7:00 AM", "weekdays"]),
        ("set_timer", "倒计时一个半小时", ["1小时30分钟"], ["1 hour 30 minutes"]),
        ("set_timer", "set a 45 second timer", ["45秒"], ["45 seconds"]),
        ("open_app", "打开酷狗", ["酷狗音乐"], ["Kugou Music"]),
        ("call_contact", "给我妈打个电话", ["我妈"], ["我妈"]),
        ("call_contact", "call 10086", ["10086"], ["10086"]),
        ("weather", "北京明天会下雨吗", ["北京", "明天", "下雨"], ["Beijing", "tomorrow", "rain"]),
        ("weather", "weather in Seoul on monday", ["Seoul", "11月30日"], ["Seoul", "November 30"]),
    ],
)
def test_replies_confirm_values_in_the_language_asked(
    intent: str, text: str, zh_words: list[str], en_words: list[str]
) -> None:
    result = fill(intent, text)
    skill = BY_INTENT[intent]
    zh = skill.confirm(result.slots, "zh", NOW)
    en = skill.confirm(result.slots, "en", NOW)
    for word in zh_words:
        assert word in zh
    for word in en_words:
        assert word in en
    assert HAN.search(zh)
    for value in result.slots.values():  # names as said may be Chinese in an English reply, nothing else
        en = en.replace(str(value), "")
    assert not HAN.search(en)


@pytest.mark.parametrize("skill", SKILLS, ids=lambda s: s.intent)
@pytest.mark.parametrize("text", ["", "   ", "？？", "asdfgh", "12345", "的的的", "alarm 99", "打打打电话"])
def test_odd_input_never_raises(skill: Skill, text: str) -> None:
    result = skill.fill(Utterance.of(text), CTX)
    assert result.complete == (result.action is not None)
    assert skill.ask(result.slots, "zh")
    assert skill.ask(result.slots, "en")
