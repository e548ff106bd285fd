"""The local intent engine end to end (lingxi_assistant.understanding.understand)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from lingxi_assistant.apps import BY_ID, CATALOGUE, find_app
from lingxi_assistant.classifier import Candidate
from lingxi_assistant.lang import Utterance
from lingxi_assistant.understanding import (
    ENGINE_NAME,
    INTENTS,
    Action,
    Engine,
    Understanding,
    default_engine,
    understand,
    warm_up,
)

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # Wednesday, 10:00
T7 = "2026-11-26T07:00:00+08:00"

Params = dict[str, Any]

# (text, locale, intent, slots, action name) — the action's params equal the slots unless listed in ACTIONS
CASES: list[tuple[str, str, str, Params, str | None]] = [
    # --- set_alarm, Chinese
    ("明天早上七点叫我起床", "zh-CN", "set_alarm", {"time": T7, "label": "起床"}, "alarm.set"),
    ("设一个明天早上7点的闹钟", "zh-CN", "set_alarm", {"time": T7}, "alarm.set"),
    ("定个下午三点半的闹钟", "zh-CN", "set_alarm", {"time": "2026-11-25T15:30:00+08:00"}, "alarm.set"),
    ("七点的闹钟", "zh-CN", "set_alarm", {"time": T7}, "alarm.set"),
    ("晚上七点的闹钟", "zh-CN", "set_alarm", {"time": "2026-11-25T19:00:00+08:00"}, "alarm.set"),
    ("十二点的闹钟", "zh-CN", "set_alarm", {"time": "2026-11-25T12:00:00+08:00"}, "alarm.set"),
    ("晚上十二点的闹钟", "zh-CN", "set_alarm", {"time": "2026-11-26T00:00:00+08:00"}, "alarm.set"),
    ("凌晨十二点的闹钟", "zh-CN", "set_alarm", {"time": "2026-11-26T00:00:00+08:00"}, "alarm.set"),
    ("明天三点一刻的闹钟", "zh-CN", "set_alarm", {"time": "2026-11-26T15:15:00+08:00"}, "alarm.set"),
    ("明天早上七点十五分叫醒我", "zh-CN", "set_alarm", {"time": "2026-11-26T07:15:00+08:00"}, "alarm.set"),
    (
        "五点叫我起床",
        "zh-CN",
        "set_alarm",
        {"time": "2026-11-26T05:00:00+08:00", "label": "起床"},
        "alarm.set",
    ),
    ("明晚八点半的闹钟", "zh-CN", "set_alarm", {"time": "2026-11-26T20:30:00+08:00"}, "alarm.set"),
    ("下周一早上八点的闹钟", "zh-CN", "set_alarm", {"time": "2026-11-30T08:00:00+08:00"}, "alarm.set"),
    ("半小时后叫我", "zh-CN", "set_alarm", {"time": "2026-11-25T10:30:00+08:00"}, "alarm.set"),
    ("五点叫醒我", "zh-CN", "set_alarm", {"time": "2026-11-26T05:00:00+08:00"}, "alarm.set"),
    (
        "每天早上七点的闹钟",
        "zh-CN",
        "set_alarm",
        {"time": T7, "repeat": "daily"},
        "alarm.set",
    ),
    # --- set_alarm, English
    ("set an alarm for tomorrow at 7am", "en-US", "set_alarm", {"time": T7}, "alarm.set"),
    (
        "wake me up at 6:30 tomorrow",
        "en-US",
        "set_alarm",
        {"time": "2026-11-26T06:30:00+08:00", "label": "wake up"},
        "alarm.set",
    ),
    ("alarm at 7 pm", "en-US", "set_alarm", {"time": "2026-11-25T19:00:00+08:00"}, "alarm.set"),
    ("set an alarm for 12am", "en-US", "set_alarm", {"time": "2026-11-26T00:00:00+08:00"}, "alarm.set"),
    ("set an alarm for 12pm", "en-US", "set_alarm", {"time": "2026-11-25T12:00:00+08:00"}, "alarm.set"),
    ("set an alarm for seven", "en-US", "set_alarm", {"time": T7}, "alarm.set"),
    (
        "alarm for half past six tomorrow",
        "en-US",
        "set_alarm",
        {"time": "2026-11-26T06:30:00+08:00"},
        "alarm.set",
    ),
    (
        "set an alarm for 8 am on friday",
        "en-US",
        "set_alarm",
        {"time": "2026-11-27T08:00:00+08:00"},
        "alarm.set",
    ),
    (
        "set an alarm for 7am called gym",
        "en-US",
        "set_alarm",
        {"time": T7, "label": "gym"},
        "alarm.set",
    ),
    # --- set_timer
    ("计时十分钟", "zh-CN", "set_timer", {"duration_seconds": 600}, "timer.start"),
    ("设一个25分钟的计时器", "zh-CN", "set_timer", {"duration_seconds": 1500}, "timer.start"),
    ("倒计时一个半小时", "zh-CN", "set_timer", {"duration_seconds": 5400}, "timer.start"),
    ("两个小时的倒计时", "zh-CN", "set_timer", {"duration_seconds": 7200}, "timer.start"),
    ("计时二十五分钟", "zh-CN", "set_timer", {"duration_seconds": 1500}, "timer.start"),
    ("set a timer for 10 minutes", "en-US", "set_timer", {"duration_seconds": 600}, "timer.start"),
    ("timer for 1 hour 30 minutes", "en-US", "set_timer", {"duration_seconds": 5400}, "timer.start"),
    ("set a timer for ten minutes", "en-US", "set_timer", {"duration_seconds": 600}, "timer.start"),
    ("start a timer for half an hour", "en-US", "set_timer", {"duration_seconds": 1800}, "timer.start"),
    ("countdown 90 seconds", "en-US", "set_timer", {"duration_seconds": 90}, "timer.start"),
    # --- open_app
    ("打开微信", "zh-CN", "open_app", {"app": "wechat"}, "app.open"),
    ("打开支付宝", "zh-CN", "open_app", {"app": "alipay"}, "app.open"),
    ("帮我开一下高德地图", "zh-CN", "open_app", {"app": "amap"}, "app.open"),
    ("启动抖音", "zh-CN", "open_app", {"app": "douyin"}, "app.open"),
    ("打开B站", "zh-CN", "open_app", {"app": "bilibili"}, "app.open"),
    ("打开QQ音乐", "zh-CN", "open_app", {"app": "qq_music"}, "app.open"),
    ("打开设置", "zh-CN", "open_app", {"app": "settings"}, "app.open"),
    ("open WeChat", "en-US", "open_app", {"app": "wechat"}, "app.open"),
    ("launch alipay", "en-US", "open_app", {"app": "alipay"}, "app.open"),
    ("open the camera app", "en-US", "open_app", {"app": "camera"}, "app.open"),
    ("open didi", "en-US", "open_app", {"app": "didi"}, "app.open"),
    # --- call_contact
    ("打电话给妈妈", "zh-CN", "call_contact", {"contact": "妈妈"}, "phone.call"),
    ("给张伟打个电话", "zh-CN", "call_contact", {"contact": "张伟"}, "phone.call"),
    ("呼叫李娜", "zh-CN", "call_contact", {"contact": "李娜"}, "phone.call"),
    ("帮我给老王打一个电话吧", "zh-CN", "call_contact", {"contact": "老王"}, "phone.call"),
    ("拨打13800138000", "zh-CN", "call_contact", {"phone_number": "13800138000"}, "phone.call"),
    ("call mom", "en-US", "call_contact", {"contact": "mom"}, "phone.call"),
    ("phone John Smith", "en-US", "call_contact", {"contact": "John Smith"}, "phone.call"),
    ("call my wife please", "en-US", "call_contact", {"contact": "wife"}, "phone.call"),
    ("give Li Na a call", "en-US", "call_contact", {"contact": "Li Na"}, "phone.call"),
    # --- weather
    (
        "明天北京天气怎么样",
        "zh-CN",
        "weather",
        {"date": "2026-11-26", "city": "北京", "city_en": "Beijing"},
        "weather.show",
    ),
    ("今天会下雨吗", "zh-CN", "weather", {"date": "2026-11-25", "condition": "rain"}, "weather.show"),
    ("天气怎么样", "zh-CN", "weather", {"date": "2026-11-25"}, "weather.show"),
    (
        "周五杭州天气",
        "zh-CN",
        "weather",
        {"date": "2026-11-27", "city": "杭州", "city_en": "Hangzhou"},
        "weather.show",
    ),
    (
        "what's the weather in Shanghai tomorrow",
        "en-US",
        "weather",
        {"date": "2026-11-26", "city": "上海", "city_en": "Shanghai"},
        "weather.show",
    ),
    ("will it rain today", "en-US", "weather", {"date": "2026-11-25", "condition": "rain"}, "weather.show"),
    (
        "weather forecast for Guangzhou this saturday",
        "en-US",
        "weather",
        {"date": "2026-11-28", "city": "广州", "city_en": "Guangzhou"},
        "weather.show",
    ),
    # --- mixed language
    ("帮我set一个明天7点的alarm", "en-US", "set_alarm", {"time": T7}, "alarm.set"),
    ("打开 WeChat", "en-US", "open_app", {"app": "wechat"}, "app.open"),
    ("open 淘宝", "zh-CN", "open_app", {"app": "taobao"}, "app.open"),
    ("call 妈妈", "zh-CN", "call_contact", {"contact": "妈妈"}, "phone.call"),
    ("给John打电话", "en-US", "call_contact", {"contact": "John"}, "phone.call"),
    ("set一个10 minutes的timer", "zh-CN", "set_timer", {"duration_seconds": 600}, "timer.start"),
    # --- understood, but a slot the action needs is missing: a question, no action
    ("设个闹钟", "zh-CN", "set_alarm", {}, None),
    ("set a timer", "en-US", "set_timer", {}, None),
    ("打个电话", "zh-CN", "call_contact", {}, None),
    ("打开王者荣耀", "zh-CN", "open_app", {"app_name": "王者荣耀"}, None),
    # --- questions for a model partner, and nothing to understand
    ("你好吗", "zh-CN", "open_question", {}, None),
    ("what is the meaning of life", "en-US", "open_question", {}, None),
    ("😀😀😀", "zh-CN", "out_of_scope", {}, None),  # no words: declined here, no partner asked
    ("   ", "en-US", "out_of_scope", {}, None),
    ("。。。", "zh-CN", "out_of_scope", {}, None),
]

# Actions whose params differ from the slots
ACTIONS: dict[str, Params] = {
    "打开微信": {"app": "wechat", "package": "com.tencent.mm"},
    "打开支付宝": {"app": "alipay", "package": "com.eg.android.AlipayGphone"},
    "帮我开一下高德地图": {"app": "amap", "package": "com.autonavi.minimap"},
    "open WeChat": {"app": "wechat", "package": "com.tencent.mm"},
    "打开设置": {"app": "settings", "package": "com.android.settings", "system": True},
    "拨打13800138000": {"number": "13800138000"},
}


@pytest.mark.parametrize(
    ("text", "locale", "intent", "slots", "action"), CASES, ids=[c[0].strip() or "blank" for c in CASES]
)
def test_understand(text: str, locale: str, intent: str, slots: Params, action: str | None) -> None:
    u = understand(text, locale, NOW)
    assert (u.intent, u.slots) == (intent, slots)
    if action is None:
        assert u.action is None
    else:
        assert u.action is not None
        assert u.action.name == action
        if text in ACTIONS:
            assert u.action.params == ACTIONS[text]
        elif action != "app.open":
            assert u.action.params == slots
        else:
            assert u.action.params["package"] == BY_ID[str(slots["app"])].package
    assert u.reply_text


@pytest.mark.parametrize(
    ("text", "locale", "reply"),
    [
        ("设一个明天早上7点的闹钟", "en-US", "好的，已为你设置明天早上7:00的闹钟"),
        ("明天早上七点叫我起床", "zh-CN", "好的，已为你设置明天早上7:00的起床闹钟"),
        ("定个下午三点半的闹钟", "zh-CN", "好的，已为你设置今天下午3:30的闹钟"),
        ("晚上十二点的闹钟", "zh-CN", "好的，已为你设置明天凌晨0:00的闹钟"),
        ("set an alarm for tomorrow at 7am", "zh-CN", "OK, alarm set for 7:00 AM tomorrow."),
        ("alarm at 7 pm", "en-US", "OK, alarm set for 7:00 PM today."),
        ("set an alarm for 8 am on friday", "en-US", "OK, alarm set for 8:00 AM on Friday, November 27."),
        ("倒计时一个半小时", "zh-CN", "好的，已开始1小时30分钟倒计时"),
        ("timer for 1 hour 30 minutes", "en-US", "OK, timer set for 1 hour 30 minutes."),
        ("set a timer for 1 minute", "en-US", "OK, timer set for 1 minute."),
        ("打开微信", "en-US", "好的，正在打开微信"),
        ("open WeChat", "zh-CN", "Opening WeChat."),
        ("打开 WeChat", "en-US", "好的，正在打开微信"),  # the text is Chinese: so is the reply
        ("open 微信", "zh-CN", "Opening WeChat."),
        ("帮我set一个明天7点的alarm", "en-US", "好的，已为你设置明天早上7:00的闹钟"),
        ("打电话给妈妈", "zh-CN", "好的，正在呼叫妈妈"),
        ("call mom", "en-US", "Calling mom."),
        ("明天北京天气怎么样", "zh-CN", "正在为你查询北京明天的天气"),
        ("今天会下雨吗", "zh-CN", "正在为你查询今天会不会下雨"),
        ("what's the weather in Shanghai tomorrow", "en-US", "Checking tomorrow's weather in Shanghai."),
        ("will it rain today", "en-US", "Checking whether it will rain today."),
        ("设个闹钟", "zh-CN", "好的，闹钟要设在几点？"),
        ("打开王者荣耀", "zh-CN", "抱歉，我还不认识“王者荣耀”这个应用"),
        ("I want to make a call", "zh-CN", "Who would you like to call?"),
    ],
)
def test_reply_text(text: str, locale: str, reply: str) -> None:
    assert understand(text, locale, NOW).reply_text == reply


@pytest.mark.parametrize(
    ("text", "locale", "intent", "starts"),
    [
        ("😀", "zh-CN", "out_of_scope", "抱歉，我没太听懂"),  # no words: the device's locale decides
        ("😀", "en-US", "out_of_scope", "Sorry, I didn't catch that"),
        ("你好吗", "en-US", "open_question", "这个问题需要联网服务"),  # the text decides, not the locale
        ("what is the meaning of life", "zh-CN", "open_question", "Answering that needs the online service"),
        ("帮我把碗洗了", "zh-CN", "out_of_scope", "抱歉，这件事我帮不上忙"),
        ("fold my laundry", "en-US", "out_of_scope", "Sorry, that's not something I can do"),
        ("电视上打开爱奇艺", "zh-CN", "out_of_scope", "抱歉，我只能操作这台手机"),
        ("open WeChat on my iPad", "en-US", "out_of_scope", "Sorry, I can only act on this phone"),
        ("帮我定个前天早上八点的闹钟", "zh-CN", "out_of_scope", "抱歉，这个时间已经过去了"),
        ("set an alarm for last Monday at 7", "en-US", "out_of_scope", "Sorry, that time has already passed"),
    ],
)
def test_what_the_engine_cannot_do_gets_an_honest_reply(
    text: str, locale: str, intent: str, starts: str
) -> None:
    u = understand(text, locale, NOW)
    assert u.intent == intent
    assert u.action is None
    assert u.reply_text.startswith(starts)


def test_confidence_means_something() -> None:
    complete = understand("设一个明天早上7点的闹钟", "zh-CN", NOW)
    missing_time = understand("设个闹钟", "zh-CN", NOW)
    assert complete.intent == missing_time.intent == "set_alarm"
    assert complete.confidence > missing_time.confidence, "a missing slot lowers the confidence"
    nothing = understand("   ", "zh-CN", NOW)
    assert (nothing.intent, nothing.confidence) == ("out_of_scope", 1.0), "certainly nothing to do"


def test_resolves_from_now_not_from_the_clock() -> None:
    later = datetime(2031, 2, 3, 23, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    u = understand("七点的闹钟", "zh-CN", later)
    assert u.slots == {"time": "2031-02-04T07:00:00+08:00"}
    assert understand("明天天气", "zh-CN", later).slots == {"date": "2031-02-04"}


def test_now_in_another_offset_and_another_timezone() -> None:
    now_utc = datetime(2026, 11, 25, 2, 0, tzinfo=ZoneInfo("UTC"))  # 10:00 in Shanghai
    assert understand("明天早上七点叫我", "zh-CN", now_utc).slots["time"] == T7
    u = understand("wake me up at 7am", "en-US", now_utc, timezone="America/New_York")
    assert u.slots["time"] == "2026-11-25T07:00:00-05:00"  # it is 21:00 the day before in New York


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        understand("七点的闹钟", "zh-CN", datetime(2026, 11, 25, 10, 0))


def test_every_result_is_well_formed_and_json_ready() -> None:
    for text, locale, *_ in CASES:
        u = understand(text, locale, NOW)
        assert u.intent in INTENTS
        assert 0.0 <= u.confidence <= 1.0
        as_dict = u.to_dict()
        assert all(isinstance(v, str | int | float | bool) for v in as_dict["slots"].values())
        if u.action is not None:
            assert all(isinstance(v, str | int | float | bool) for v in u.action.params.values())


def test_public_constants() -> None:
    assert ENGINE_NAME == "local-nlu"
    assert len(INTENTS) >= 33
    assert {"set_alarm", "open_question", "out_of_scope", "not_understood"} <= set(INTENTS)


def test_result_types_validate() -> None:
    with pytest.raises(ValueError, match="action name"):
        Action("Alarm Set", {})
    with pytest.raises(ValueError, match="unknown intent"):
        Understanding("order_pizza", 0.5, {}, None, "")
    with pytest.raises(ValueError, match="confidence"):
        Understanding("weather", 1.5, {}, None, "")
    not_primitive: dict[str, Any] = {"time": [7]}
    with pytest.raises(TypeError):
        Action("alarm.set", not_primitive)


def test_every_catalogue_app_is_found_by_its_names() -> None:
    assert len({app.id for app in CATALOGUE}) == len(CATALOGUE)
    for app in CATALOGUE:
        for name in app.names:
            found = find_app(f"打开{name}")
            assert found is not None, name
            assert found.app == app, name
            assert find_app(f"open {name.upper()}") is not None


class _AlwaysTimer:
    def classify(self, utterance: Utterance) -> list[Candidate]:
        return [Candidate("set_timer", 1.0, "test")]


def test_classifier_is_replaceable() -> None:
    engine = Engine(classifier=_AlwaysTimer())
    u = engine.understand("ten minutes", "en-US", NOW)
    assert (u.intent, u.slots, u.confidence) == ("set_timer", {"duration_seconds": 600}, 1.0)


def test_many_at_once_gives_the_same_answers_as_one_by_one() -> None:
    texts = [(text, locale) for text, locale, *_ in CASES[:40]]
    together = default_engine().understand_many([(t, loc, NOW, "Asia/Shanghai") for t, loc in texts])
    assert together == [understand(t, loc, NOW) for t, loc in texts]


ELEME = {"food_delivery": "eleme"}


@pytest.mark.parametrize(
    ("text", "locale", "usual", "package", "choice", "reply"),
    [
        ("点外卖", "zh-CN", ELEME, "me.ele", "usual", "好的，正在打开饿了么点外卖"),
        ("order food", "en-US", ELEME, "me.ele", "usual", "OK, opening Ele.me to order food."),
        ("点外卖", "zh-CN", None, "com.sankuai.meituan", "default", "好的，正在打开美团点外卖"),
        ("order food", "en-US", {}, "com.sankuai.meituan", "default", "OK, opening Meituan to order food."),
        ("美团上点两杯奶茶", "zh-CN", ELEME, "com.sankuai.meituan", "named", "好的，正在美团为你找奶茶"),
    ],
)
def test_ordering_food_opens_the_usual_app_else_the_default(
    text: str, locale: str, usual: dict[str, str] | None, package: str, choice: str, reply: str
) -> None:
    alone = understand(text, locale, NOW, usual_apps=usual)
    (together,) = default_engine().understand_many(
        [(text, locale, NOW, "Asia/Shanghai")], usual_apps=[usual or {}]
    )
    assert alone == together
    assert alone.intent == "order_food"
    assert alone.slots == understand(text, locale, NOW).slots  # the usual app is never a slot
    assert alone.action is not None
    assert (alone.action.params["package"], alone.action.params["app_choice"]) == (package, choice)
    assert alone.reply_text == reply


def test_warm_up_is_harmless() -> None:
    warm_up()
    assert understand("明天天气", "zh-CN", NOW).slots == {"date": "2026-11-26"}
