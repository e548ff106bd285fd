"""Time, date and duration expressions in Chinese and English (lingxi_assistant.timeparse)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from lingxi_assistant.lang import Utterance, detect_lang, locale_lang
from lingxi_assistant.numerals import en_digits, zh_int
from lingxi_assistant.timeparse import (
    Clock,
    parse_clock,
    parse_date,
    parse_duration,
    parse_past_date,
    resolve_time,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)  # a Wednesday
TODAY = NOW.date()


def numeric(text: str) -> str:
    """The form the parsers expect: normalised, lower case, spelled English numbers as digits."""
    return Utterance.of(text).numeric


@pytest.mark.parametrize(
    ("token", "value"),
    [
        ("七", 7),
        ("十五", 15),
        ("两", 2),
        ("二十五", 25),
        ("零五", 5),
        ("一百二十", 120),
        ("12", 12),
        ("十十", None),
    ],
)
def test_zh_int(token: str, value: int | None) -> None:
    assert zh_int(token) == value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("set a timer for ten minutes", "set a timer for 10 minutes"),
        ("two hours", "2 hours"),
        ("wake me up at six thirty", "wake me up at 6 30"),
        ("计时十分钟", "计时十分钟"),
    ],
)
def test_en_digits(text: str, expected: str) -> None:
    assert en_digits(text) == expected


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        # Chinese
        ("计时十分钟", 600),
        ("设一个25分钟的计时器", 1500),
        ("倒计时一个半小时", 5400),
        ("两个小时", 7200),
        ("半小时", 1800),
        ("半个小时", 1800),
        ("一刻钟", 900),
        ("三分半钟", 210),
        ("一小时二十分钟", 4800),
        ("一个小时零五分钟", 3900),
        ("90秒", 90),
        ("1.5小时", 5400),
        ("两个半小时", 9000),
        # English (after spelled numbers become digits)
        ("set a timer for 10 minutes", 600),
        ("timer for 1 hour 30 minutes", 5400),
        ("1 hour and 30 minutes", 5400),
        ("an hour and a half", 5400),
        ("one and a half hours", 5400),
        ("half an hour", 1800),
        ("a quarter of an hour", 900),
        ("ninety seconds", 90),
        ("twenty five minutes", 1500),
        ("10 mins", 600),
        ("1h30m", 5400),
        ("1.5 hours", 5400),
        ("a 7-minute timer", 420),
        ("a 45 second timer", 45),  # text2num writes "second" as "2nd"
        # mixed
        ("set一个10 minutes的timer", 600),
        # nothing to find
        ("set a timer", None),
        ("计时器", None),
        ("as soon as possible", None),
    ],
)
def test_parse_duration(text: str, seconds: int | None) -> None:
    assert parse_duration(numeric(text)) == seconds


@pytest.mark.parametrize(
    ("text", "clock"),
    [
        ("七点", Clock(7, 0, bare=True)),
        ("早上七点", Clock(7)),
        ("下午三点半", Clock(15, 30)),
        ("三点一刻", Clock(3, 15, bare=True)),
        ("下午三点三刻", Clock(15, 45)),
        ("七点十五分", Clock(7, 15, bare=True)),
        ("两点零五分", Clock(2, 5, bare=True)),
        ("晚上8点", Clock(20)),
        ("晚上十二点", Clock(24)),
        ("晚上一点", Clock(25)),
        ("凌晨十二点", Clock(0)),
        ("凌晨三点", Clock(3)),
        ("中午十二点", Clock(12)),
        ("中午一点", Clock(13)),
        ("零点", Clock(0)),
        ("19点", Clock(19)),
        ("明天7:30", Clock(7, 30, bare=True)),
        ("7am", Clock(7)),
        ("7 pm", Clock(19)),
        ("7:30 p.m.", Clock(19, 30)),
        ("12am", Clock(0)),
        ("12pm", Clock(12)),
        ("noon", Clock(12)),
        ("midnight", Clock(24)),
        ("at 6:30", Clock(6, 30, bare=True)),
        ("at six thirty", Clock(6, 30, bare=True)),
        ("half past six", Clock(6, 30, bare=True)),
        ("quarter to eight", Clock(7, 45, bare=True)),
        ("7 o'clock in the evening", Clock(19)),
        ("at 7 tonight", Clock(19)),
        ("alarm for 7", Clock(7, 0, bare=True)),
        ("for 10 minutes", None),
        ("set an alarm", None),
        ("大一点", None),
        ("早一点叫我", None),
        ("今晚一点", Clock(25)),
        # night hours: 夜里 / 深夜 / "at night" with 6 to 11 is the evening
        ("夜里十一点", Clock(23)),
        ("深夜十点半", Clock(22, 30)),
        ("夜里两点", Clock(26)),
        ("at 9 at night", Clock(21)),
        # a part of the day counts only next to the clock time, never elsewhere in the sentence
        ("三点吃晚饭", Clock(3, 0, bare=True)),
        ("早饭后八点", Clock(8, 0, bare=True)),
        ("早上开会，晚上八点叫我", Clock(20)),
        ("八点 晚上", Clock(20)),
        ("晚8点", Clock(20)),
        # 一点 as "a bit"
        ("喝一点水", None),
        ("给我一点时间", None),
        ("一点点", None),
        ("一点儿也不冷", None),
        ("一点叫我", Clock(1, 0, bare=True)),
        ("我一点要开会", Clock(1, 0, bare=True)),
        ("明天一点", Clock(1, 0, bare=True)),
        # a weekday's numeral is not part of the hour
        ("周一八点", Clock(8, 0, bare=True)),
        ("星期三十点", Clock(10, 0, bare=True)),
        ("周二十点半", Clock(10, 30, bare=True)),
        ("周三一点", Clock(1, 0, bare=True)),
    ],
)
def test_parse_clock(text: str, clock: Clock | None) -> None:
    t = numeric(text)
    assert parse_clock(t, zh_first=any("\u4e00" <= c <= "\u9fff" for c in t)) == clock


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("今天", TODAY),
        ("明天", date(2026, 11, 26)),
        ("明早", date(2026, 11, 26)),
        ("后天", date(2026, 11, 27)),
        ("大后天", date(2026, 11, 28)),
        ("周五", date(2026, 11, 27)),
        ("星期三", TODAY),
        ("周一", date(2026, 11, 30)),
        ("下周一", date(2026, 11, 30)),
        ("下周三", date(2026, 12, 2)),
        ("下下周五", date(2026, 12, 11)),
        ("礼拜天", date(2026, 11, 29)),
        ("周末", date(2026, 11, 28)),
        ("12月3日", date(2026, 12, 3)),
        ("3号", date(2026, 12, 3)),
        ("二十八号", date(2026, 11, 28)),
        ("1月5号", date(2027, 1, 5)),
        ("三天后", date(2026, 11, 28)),
        ("today", TODAY),
        ("tonight", TODAY),
        ("tomorrow", date(2026, 11, 26)),
        ("the day after tomorrow", date(2026, 11, 27)),
        ("on friday", date(2026, 11, 27)),
        ("next monday", date(2026, 11, 30)),
        ("this saturday", date(2026, 11, 28)),
        ("december 3rd", date(2026, 12, 3)),
        ("3rd of december", date(2026, 12, 3)),
        ("in three days", date(2026, 11, 28)),
        # 下周X is next week's X (Monday-based), and so is "next X"
        ("下周六", date(2026, 12, 5)),
        ("查一下下周六的安排", date(2026, 12, 5)),  # the 下 of 一下 is not 下下周
        ("next saturday", date(2026, 12, 5)),
        ("next wednesday", date(2026, 12, 2)),
        ("下周末", date(2026, 12, 5)),
        ("this weekend", date(2026, 11, 28)),
        ("next weekend", date(2026, 12, 5)),
        ("下个月3号", date(2026, 12, 3)),
        # not a day: 本周日程 is this week's schedule, 这周天气 this week's weather
        ("本周日程", None),
        ("这周天气怎么样", None),
        ("今晚吃什么", TODAY),
        # past days are not read as the next such day
        ("上周五", None),
        ("last friday", None),
        ("上个月3号", None),
        ("what's the weather", None),
        ("天气怎么样", None),
    ],
)
def test_parse_date(text: str, day: date | None) -> None:
    t = numeric(text)
    assert parse_date(t, TODAY, zh_first=not t.isascii()) == day


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("明天早上七点", "2026-11-26T07:00:00+08:00"),
        ("七点", "2026-11-26T07:00:00+08:00"),  # already past today: tomorrow
        ("十二点", "2026-11-25T12:00:00+08:00"),  # still ahead today
        ("下午三点半", "2026-11-25T15:30:00+08:00"),
        ("三点一刻", "2026-11-25T15:15:00+08:00"),  # a bare 1-5 o'clock is the afternoon
        ("晚上十二点", "2026-11-26T00:00:00+08:00"),
        ("明天晚上十二点", "2026-11-27T00:00:00+08:00"),
        ("凌晨十二点", "2026-11-26T00:00:00+08:00"),
        ("今天早上七点", "2026-11-26T07:00:00+08:00"),  # today but past: the next one
        ("十点", "2026-11-26T10:00:00+08:00"),  # exactly now is not the future
        ("下周一早上八点", "2026-11-30T08:00:00+08:00"),
        ("半小时后", "2026-11-25T10:30:00+08:00"),
        ("二十分钟以后", "2026-11-25T10:20:00+08:00"),
        ("tomorrow at 7am", "2026-11-26T07:00:00+08:00"),
        ("at 6:30 tomorrow", "2026-11-26T06:30:00+08:00"),
        ("at 7 pm", "2026-11-25T19:00:00+08:00"),
        ("12am", "2026-11-26T00:00:00+08:00"),
        ("12pm", "2026-11-25T12:00:00+08:00"),
        ("midnight", "2026-11-26T00:00:00+08:00"),
        ("friday at 8am", "2026-11-27T08:00:00+08:00"),
        ("in 45 minutes", "2026-11-25T10:45:00+08:00"),
        ("明天7点", "2026-11-26T07:00:00+08:00"),
        ("夜里十一点", "2026-11-25T23:00:00+08:00"),
        ("深夜十一点", "2026-11-25T23:00:00+08:00"),
        ("at 9 at night", "2026-11-25T21:00:00+08:00"),
        ("过十分钟", "2026-11-25T10:10:00+08:00"),
        ("再过半小时", "2026-11-25T10:30:00+08:00"),
        ("十分钟过后", "2026-11-25T10:10:00+08:00"),
        ("10 minutes from now", "2026-11-25T10:10:00+08:00"),
        ("two hours later", "2026-11-25T12:00:00+08:00"),
        ("三点吃晚饭", "2026-11-25T15:00:00+08:00"),  # a bare three o'clock, not 03:00
        ("下周一八点", "2026-11-30T08:00:00+08:00"),
        ("next friday at 6pm", "2026-12-04T18:00:00+08:00"),
    ],
)
def test_resolve_time(text: str, iso: str) -> None:
    t = numeric(text)
    moment = resolve_time(t, NOW, SHANGHAI, zh_first=not t.isascii())
    assert moment is not None
    assert moment.isoformat() == iso


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("昨天拍的", date(2026, 11, 24)),
        ("前天", date(2026, 11, 23)),
        ("大前天", date(2026, 11, 22)),
        ("三天前", date(2026, 11, 22)),
        ("10天以前", date(2026, 11, 15)),
        ("上周五", date(2026, 11, 20)),
        ("上个星期三", date(2026, 11, 18)),
        ("上上周一", date(2026, 11, 9)),
        ("这周一", date(2026, 11, 23)),
        ("周一", date(2026, 11, 23)),  # the last one
        ("周三", TODAY),
        ("周五", date(2026, 11, 20)),
        ("上周末", date(2026, 11, 21)),
        ("3号", date(2026, 11, 3)),
        ("28号", date(2026, 10, 28)),
        ("12月3日", date(2025, 12, 3)),
        ("上个月5号", date(2026, 10, 5)),
        ("今天", TODAY),
        ("yesterday", date(2026, 11, 24)),
        ("the day before yesterday", date(2026, 11, 23)),
        ("3 days ago", date(2026, 11, 22)),
        ("last friday", date(2026, 11, 20)),
        ("last wednesday", date(2026, 11, 18)),
        ("on monday", date(2026, 11, 23)),
        ("last weekend", date(2026, 11, 21)),
        ("nov 3", date(2026, 11, 3)),
        ("dec 3rd", date(2025, 12, 3)),
        ("this morning", TODAY),
        ("明天", None),
        ("下周五", None),
        ("tomorrow", None),
        ("photos of cats", None),
    ],
)
def test_parse_past_date(text: str, day: date | None) -> None:
    t = numeric(text)
    assert parse_past_date(t, TODAY, zh_first=not t.isascii()) == day


def test_waking_keeps_small_hours_in_the_morning() -> None:
    moment = resolve_time(numeric("五点"), NOW, SHANGHAI, waking=True)
    assert moment is not None
    assert moment.isoformat() == "2026-11-26T05:00:00+08:00"


def test_resolve_time_uses_the_given_timezone_not_the_reference_offset() -> None:
    now_utc = datetime(2026, 11, 25, 2, 0, tzinfo=ZoneInfo("UTC"))  # 10:00 in Shanghai
    moment = resolve_time(numeric("明天早上七点"), now_utc, SHANGHAI)
    assert moment is not None
    assert moment.isoformat() == "2026-11-26T07:00:00+08:00"


def test_resolve_time_across_a_dst_change() -> None:
    new_york = ZoneInfo("America/New_York")
    now = datetime(2026, 3, 7, 12, 0, tzinfo=new_york)  # DST starts 2026-03-08 at 02:00
    moment = resolve_time(numeric("tomorrow at 7am"), now, new_york, zh_first=False)
    assert moment is not None
    assert moment.isoformat() == "2026-03-08T07:00:00-04:00"


@pytest.mark.parametrize(
    ("text", "fallback", "lang"),
    [
        ("打开微信", "en", "zh"),
        ("open WeChat", "zh", "en"),
        ("帮我set一个明天7点的alarm", "en", "zh"),
        ("打开 WeChat", "en", "zh"),  # with the app name set aside
        ("open 微信", "zh", "en"),
        ("😀", "en", "en"),
        ("😀", "zh", "zh"),
    ],
)
def test_detect_lang(text: str, fallback: str, lang: str) -> None:
    ignore = ("WeChat", "微信")
    assert detect_lang(text, locale_lang(fallback), ignore=ignore) == lang


def test_locale_lang() -> None:
    assert locale_lang("zh-CN") == "zh"
    assert locale_lang("en-US") == "en"
    assert locale_lang("fr-FR") == "en"
