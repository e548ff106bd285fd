"""The tool skills (lingxi_assistant.skills.tools): translate, calculate, convert_unit, convert_currency."""

from __future__ import annotations

import inspect
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from lingxi_assistant.lang import Utterance, detect_lang, has_han
from lingxi_assistant.skills import Skill, tools
from lingxi_assistant.slots import Context, Fill

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=TZ)
CTX = Context(now=NOW, tz=TZ)
SKILLS: dict[str, Skill] = {skill.intent: skill for skill in tools.SKILLS}
ACTIONS = {
    "translate": "translate.show",
    "calculate": "calculator.show",
    "convert_unit": "converter.show",
    "convert_currency": "currency.show",
}

Slots = dict[str, Any]


def fill(intent: str, text: str) -> Fill:
    return SKILLS[intent].fill(Utterance.of(text), CTX)


def test_one_skill_per_intent() -> None:
    assert [skill.intent for skill in tools.SKILLS] == list(ACTIONS)


def test_no_eval() -> None:
    source = inspect.getsource(tools)
    assert not re.search(r"(?<![.\w])(?:eval|exec|compile)\(", source)


# (intent, text, slots) — complete requests: the action is set and carries the slots
COMPLETE: list[tuple[str, str, Slots]] = [
    # --- translate, Chinese
    ("translate", "谢谢你用英语怎么说", {"text": "谢谢你", "target_lang": "en"}),
    ("translate", "帮我把“晚安”翻译成日语", {"text": "晚安", "target_lang": "ja"}),
    ("translate", "请把今天很冷翻成英文吧", {"text": "今天很冷", "target_lang": "en"}),
    ("translate", "翻译成韩语：我想要一杯水", {"text": "我想要一杯水", "target_lang": "ko"}),
    ("translate", "用法语怎么说早上好", {"text": "早上好", "target_lang": "fr"}),
    ("translate", "德语里的生日快乐怎么说", {"text": "生日快乐", "target_lang": "de"}),
    ("translate", "多少钱 西班牙语", {"text": "多少钱", "target_lang": "es"}),
    ("translate", "厕所在哪 俄语怎么讲", {"text": "厕所在哪", "target_lang": "ru"}),
    ("translate", "awesome是什么意思？", {"text": "awesome", "target_lang": "zh"}),
    ("translate", "翻译一下 long time no see", {"text": "long time no see", "target_lang": "zh"}),
    ("translate", "帮我翻译：我明天要出差", {"text": "我明天要出差", "target_lang": "en"}),
    ("translate", "中译英 一路顺风", {"text": "一路顺风", "target_lang": "en"}),
    ("translate", "早安的日文", {"text": "早安", "target_lang": "ja"}),
    ("translate", "帮我用日语翻译一下明天见", {"text": "明天见", "target_lang": "ja"}),
    ("translate", "这句什么意思：piece of cake", {"text": "piece of cake", "target_lang": "zh"}),
    # --- translate, English and mixed
    (
        "translate",
        "translate good afternoon into French please",
        {"text": "good afternoon", "target_lang": "fr"},
    ),
    ("translate", "How do you say 'I'm lost' in Korean?", {"text": "I'm lost", "target_lang": "ko"}),
    ("translate", "what's the Japanese word for umbrella", {"text": "umbrella", "target_lang": "ja"}),
    ("translate", "translate 我们走吧", {"text": "我们走吧", "target_lang": "en"}),
    ("translate", "what does 好久不见 mean", {"text": "好久不见", "target_lang": "en"}),
    (
        "translate",
        'can you translate "see you soon" to Chinese',
        {"text": "see you soon", "target_lang": "zh"},
    ),
    (
        "translate",
        "translate to Spanish: where is the beach",
        {"text": "where is the beach", "target_lang": "es"},
    ),
    ("translate", "German for 'good luck'", {"text": "good luck", "target_lang": "de"}),
    ("translate", "翻译 'happy birthday' into Russian", {"text": "happy birthday", "target_lang": "ru"}),
    (
        "translate",
        "my friend keeps saying 绝了, what's that in English",
        {"text": "绝了", "target_lang": "en"},
    ),
    # --- calculate, Chinese
    ("calculate", "三百六十五乘以二十四", {"expression": "365*24", "result": 8760}),
    ("calculate", "帮我算一下一千二百减去四百五等于多少", {"expression": "1200-450", "result": 750}),
    ("calculate", "八十八除以八", {"expression": "88/8", "result": 11}),
    ("calculate", "九除以四是多少", {"expression": "9/4", "result": 2.25}),
    ("calculate", "二点五乘以四", {"expression": "2.5*4", "result": 10}),
    ("calculate", "十加二十再乘以三", {"expression": "(10+20)*3", "result": 90}),
    ("calculate", "五乘以六再加四", {"expression": "5*6+4", "result": 34}),
    ("calculate", "2的十次方", {"expression": "2^10", "result": 1024}),
    ("calculate", "七的平方", {"expression": "7^2", "result": 49}),
    ("calculate", "根号八十一", {"expression": "sqrt(81)", "result": 9}),
    ("calculate", "一百的平方根", {"expression": "sqrt(100)", "result": 10}),
    ("calculate", "四百的百分之十五", {"expression": "400*15/100", "result": 60}),
    ("calculate", "三分之一加六分之一", {"expression": "1/3+1/6", "result": 0.5}),
    ("calculate", "负八加三", {"expression": "-8+3", "result": -5}),
    ("calculate", "算下 (25-5)/4", {"expression": "(25-5)/4", "result": 5}),
    ("calculate", "100除以3", {"expression": "100/3", "result": 33.333333}),
    ("calculate", "六百块钱三个人平分", {"expression": "600/3", "result": 200}),
    ("calculate", "300块打八折", {"expression": "300*8/10", "result": 240}),
    # --- calculate, English
    ("calculate", "what's 36 times 25", {"expression": "36*25", "result": 900}),
    ("calculate", "what is seventy two divided by eight", {"expression": "72/8", "result": 9}),
    ("calculate", "how much is 1000 minus 1", {"expression": "1000-1", "result": 999}),
    ("calculate", "what's 30% of 90?", {"expression": "30/100*90", "result": 27}),
    ("calculate", "calculate 8 percent of 250", {"expression": "8/100*250", "result": 20}),
    ("calculate", "9 squared", {"expression": "9^2", "result": 81}),
    ("calculate", "square root of 169", {"expression": "sqrt(169)", "result": 13}),
    ("calculate", "3 to the power of 4", {"expression": "3^4", "result": 81}),
    ("calculate", "add 19 and 23", {"expression": "19+23", "result": 42}),
    ("calculate", "subtract 15 from 60", {"expression": "60-15", "result": 45}),
    ("calculate", "multiply 12 by 11 then add 8", {"expression": "12*11+8", "result": 140}),
    ("calculate", "half of 350", {"expression": "350/2", "result": 175}),
    ("calculate", "a quarter of 120", {"expression": "120/4", "result": 30}),
    ("calculate", "split 900 yuan between 4 people", {"expression": "900/4", "result": 225}),
    ("calculate", "0.1 plus 0.2", {"expression": "0.1+0.2", "result": 0.3}),
    ("calculate", "12 x 12", {"expression": "12*12", "result": 144}),
    # --- convert_unit, Chinese
    ("convert_unit", "五公里是多少英里", {"value": 5, "from_unit": "km", "to_unit": "mi"}),
    ("convert_unit", "两斤等于多少公斤", {"value": 2, "from_unit": "jin", "to_unit": "kg"}),
    ("convert_unit", "三斤半是多少克", {"value": 3.5, "from_unit": "jin", "to_unit": "g"}),
    ("convert_unit", "一米七五是几英尺", {"value": 1.75, "from_unit": "m", "to_unit": "ft"}),
    ("convert_unit", "华氏九十度是多少摄氏度", {"value": 90, "from_unit": "f", "to_unit": "c"}),
    ("convert_unit", "零下五度是多少华氏度", {"value": -5, "from_unit": "c", "to_unit": "f"}),
    ("convert_unit", "体温三十七度八合多少华氏度", {"value": 37.8, "from_unit": "c", "to_unit": "f"}),
    ("convert_unit", "帮我把12英寸换算成厘米", {"value": 12, "from_unit": "in", "to_unit": "cm"}),
    ("convert_unit", "半加仑合多少升", {"value": 0.5, "from_unit": "gal", "to_unit": "l"}),
    ("convert_unit", "200盎司是几磅", {"value": 200, "from_unit": "oz", "to_unit": "lb"}),
    ("convert_unit", "一袋米十公斤，是多少斤", {"value": 10, "from_unit": "kg", "to_unit": "jin"}),
    ("convert_unit", "跑了21km换成miles是多少", {"value": 21, "from_unit": "km", "to_unit": "mi"}),
    # --- convert_unit, English
    ("convert_unit", "how many kilometers is 26 miles", {"value": 26, "from_unit": "mi", "to_unit": "km"}),
    ("convert_unit", "convert 72 fahrenheit to celsius", {"value": 72, "from_unit": "f", "to_unit": "c"}),
    ("convert_unit", "what's 5 feet in centimeters", {"value": 5, "from_unit": "ft", "to_unit": "cm"}),
    ("convert_unit", "how many pounds in 3 kg", {"value": 3, "from_unit": "kg", "to_unit": "lb"}),
    ("convert_unit", "a liter in gallons", {"value": 1, "from_unit": "l", "to_unit": "gal"}),
    ("convert_unit", "half a mile in meters", {"value": 0.5, "from_unit": "mi", "to_unit": "m"}),
    ("convert_unit", "how many grams is 4 jin", {"value": 4, "from_unit": "jin", "to_unit": "g"}),
    ("convert_unit", "25 degrees celsius to fahrenheit", {"value": 25, "from_unit": "c", "to_unit": "f"}),
    ("convert_unit", "convert 1.5 kg to ounces", {"value": 1.5, "from_unit": "kg", "to_unit": "oz"}),
    ("convert_unit", "how many miles is a 10k race", {"value": 10, "from_unit": "km", "to_unit": "mi"}),
    # --- convert_currency, Chinese
    (
        "convert_currency",
        "一百美元换多少人民币",
        {"amount": 100, "from_currency": "USD", "to_currency": "CNY"},
    ),
    (
        "convert_currency",
        "两千块能换多少日元",
        {"amount": 2000, "from_currency": "CNY", "to_currency": "JPY"},
    ),
    ("convert_currency", "50刀是多少钱", {"amount": 50, "from_currency": "USD", "to_currency": "CNY"}),
    (
        "convert_currency",
        "五万韩元等于多少人民币",
        {"amount": 50000, "from_currency": "KRW", "to_currency": "CNY"},
    ),
    ("convert_currency", "3000港币兑换欧元", {"amount": 3000, "from_currency": "HKD", "to_currency": "EUR"}),
    ("convert_currency", "查下英镑的汇率", {"from_currency": "GBP", "to_currency": "CNY"}),
    ("convert_currency", "人民币兑日元汇率多少", {"from_currency": "CNY", "to_currency": "JPY"}),
    ("convert_currency", "我想换点美金", {"from_currency": "CNY", "to_currency": "USD"}),
    (
        "convert_currency",
        "1.5万元能换多少美金",
        {"amount": 15000, "from_currency": "CNY", "to_currency": "USD"},
    ),
    # --- convert_currency, English
    (
        "convert_currency",
        "how much is 300 euros in RMB",
        {"amount": 300, "from_currency": "EUR", "to_currency": "CNY"},
    ),
    ("convert_currency", "convert $20 to yen", {"amount": 20, "from_currency": "USD", "to_currency": "JPY"}),
    ("convert_currency", "what's the pound to euro rate", {"from_currency": "GBP", "to_currency": "EUR"}),
    (
        "convert_currency",
        "how many won for 10 dollars",
        {"amount": 10, "from_currency": "USD", "to_currency": "KRW"},
    ),
    ("convert_currency", "dollar exchange rate", {"from_currency": "USD", "to_currency": "CNY"}),
    (
        "convert_currency",
        "100 HK dollars in US dollars",
        {"amount": 100, "from_currency": "HKD", "to_currency": "USD"},
    ),
]


@pytest.mark.parametrize(("intent", "text", "slots"), COMPLETE)
def test_complete(intent: str, text: str, slots: Slots) -> None:
    result = fill(intent, text)
    assert result.slots == slots
    assert result.complete
    assert result.action is not None
    assert result.action.name == ACTIONS[intent]
    assert result.action.params == slots


def test_numbers_are_json_numbers() -> None:
    assert isinstance(fill("calculate", "六乘七").slots["result"], int)
    assert isinstance(fill("calculate", "七除以二").slots["result"], float)
    assert isinstance(fill("convert_unit", "5.0公里是多少英里").slots["value"], int)


# (intent, text, slots) — incomplete requests: no action, the skill asks
INCOMPLETE: list[tuple[str, str, Slots]] = [
    ("translate", "帮我翻译一下", {}),
    ("translate", "翻译成日语", {"target_lang": "ja"}),
    ("translate", "把这句话翻译成英文", {"target_lang": "en"}),
    ("translate", "translate this for me", {}),
    ("calculate", "帮我算个数", {}),
    ("calculate", "算一下", {}),
    ("calculate", "can you calculate something", {}),
    ("calculate", "七除以零", {"expression": "7/0"}),
    ("calculate", "what's 5 divided by 0", {"expression": "5/0"}),
    ("calculate", "根号负九", {"expression": "sqrt(-9)"}),
    ("calculate", "9^9^9^9", {"expression": "9^9^9^9"}),
    ("calculate", "asdfgh", {}),
    ("calculate", "1 plus", {}),
    ("convert_unit", "单位换算", {}),
    ("convert_unit", "十公里", {"value": 10, "from_unit": "km"}),
    ("convert_unit", "英里和公里怎么换算", {"from_unit": "mi", "to_unit": "km"}),
    ("convert_unit", "5公里是多少公斤", {"value": 5, "from_unit": "km", "to_unit": "kg"}),
    ("convert_unit", "convert some units", {}),
    ("convert_currency", "查一下汇率", {}),
    ("convert_currency", "人民币汇率", {"from_currency": "CNY"}),
    ("convert_currency", "澳元兑人民币", {"from_currency": "CNY"}),
    ("convert_currency", "exchange rates please", {}),
]


@pytest.mark.parametrize(("intent", "text", "slots"), INCOMPLETE)
def test_incomplete(intent: str, text: str, slots: Slots) -> None:
    result = fill(intent, text)
    assert not result.complete
    assert result.action is None
    assert result.slots == slots
    for lang in ("zh", "en"):
        question = SKILLS[intent].ask(result.slots, lang)
        assert question
        assert has_han(question) == (lang == "zh")


def test_division_by_zero_is_explained() -> None:
    result = fill("calculate", "一百除以零")
    assert SKILLS["calculate"].ask(result.slots, "zh").count("0") >= 1
    assert "zero" in SKILLS["calculate"].ask(result.slots, "en")


@pytest.mark.parametrize(("intent", "text", "slots"), COMPLETE)
def test_replies_in_the_language_asked(intent: str, text: str, slots: Slots) -> None:
    skill = SKILLS[intent]
    zh = skill.confirm(slots, "zh", NOW)
    en = skill.confirm(slots, "en", NOW)
    assert zh
    assert en
    assert zh != en
    said = str(slots.get("text", ""))
    assert has_han(zh.replace(said, ""))
    assert not has_han(en.replace(said, ""))


@pytest.mark.parametrize(
    ("slots", "lang", "reply"),
    [
        ({"value": 5, "from_unit": "km", "to_unit": "mi"}, "zh", "5公里约等于3.11英里"),
        ({"value": 2, "from_unit": "jin", "to_unit": "kg"}, "zh", "2斤等于1公斤"),
        ({"value": 100, "from_unit": "c", "to_unit": "f"}, "en", "100°C is 212°F."),
        ({"value": 1, "from_unit": "in", "to_unit": "cm"}, "en", "1 inch is 2.54 centimeters."),
        ({"value": 3, "from_unit": "lb", "to_unit": "kg"}, "en", "3 pounds is about 1.36 kilograms."),
    ],
)
def test_unit_reply_states_the_value(slots: Slots, lang: str, reply: str) -> None:
    assert SKILLS["convert_unit"].confirm(slots, lang, NOW) == reply  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "slots",
    [
        {"amount": 100, "from_currency": "USD", "to_currency": "CNY"},
        {"amount": 2.5, "from_currency": "EUR", "to_currency": "JPY"},
        {"from_currency": "GBP", "to_currency": "HKD"},
        {"amount": 1, "from_currency": "KRW", "to_currency": "CNY"},
    ],
)
def test_currency_reply_invents_no_rate(slots: Slots) -> None:
    allowed = {str(slots.get("amount", ""))}
    for lang in ("zh", "en"):
        reply = SKILLS["convert_currency"].confirm(slots, lang, NOW)
        assert set(re.findall(r"\d+(?:\.\d+)?", reply)) <= allowed, reply
        assert ("汇率" in reply) if lang == "zh" else ("rate" in reply)


@pytest.mark.parametrize(
    ("text", "locale", "lang"),
    [
        ("translate 我想家了 into English", "zh-CN", "en"),
        ("thank you very much用日语怎么说", "en-US", "zh"),
    ],
)
def test_translate_reply_language_ignores_the_phrase(text: str, locale: str, lang: str) -> None:
    result = fill("translate", text)
    assert result.complete
    assert detect_lang(Utterance.of(text).text, "en" if lang == "zh" else "zh", ignore=result.names) == lang


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "？？？",
        "((((",
        "))*((",
        "1/0%",
        "0^-1",
        "-" * 150 + "1",
        "9" * 150 + "*" + "9" * 40,
        "一" * 300,
        "翻译" * 400,
        "5公里" * 80,
        "$$$ ¥¥¥ €€€",
        "根号根号根号",
        "百分之百分之",
        "华氏度摄氏度度度",
    ],
)
def test_odd_input_never_raises(text: str) -> None:
    for intent, skill in SKILLS.items():
        result = fill(intent, text)
        for lang in ("zh", "en"):
            if result.complete:
                assert isinstance(skill.confirm(result.slots, lang, NOW), str)
            else:
                assert isinstance(skill.ask(result.slots, lang), str)
