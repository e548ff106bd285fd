"""Times, dates and durations said in Chinese or English, resolved against a reference time.

Every function takes the reference moment as an argument and never reads the clock, so results are
deterministic. Text is expected in the form of :attr:`lingxi_assistant.lang.Utterance.numeric`: NFKC,
lower case, spelled English numbers already written as digits.

Libraries measured (2026-11-25 10:00 Asia/Shanghai as the reference, this machine):

* ``dateparser`` 1.5.0 resolves English *day* phrases well ("tomorrow", "next friday", "this saturday",
  "dec 3rd", "3rd of december", "in 3 days": all right, ~0.5 ms each after a ~50–100 ms first call that
  loads its language data; import 0.15–0.3 s). It is used here for month-and-day phrases ("dec 3rd"),
  on a phrase that :data:`_EN_DATE` has located; relative days and weekdays are counted here, so that
  "next friday" follows the data's convention for 下周五 (next week's Friday, weeks starting on Monday),
  where dateparser gives the coming Friday. It is **not** used for clock times or whole sentences: on our
  phrase set it
  returned None for "alarm at 7 pm", "7 pm" / "7am" / "12am" / "noon" (whenever a TIMEZONE setting is
  given), 2027-07-25 for "at 7", 10:00 for "tomorrow morning at 7", 2027-08-25 for "friday at 8", and
  search_dates() found nothing in "alarm at 7 pm". Its Chinese support misses 下周一, 这周六, 12月3日, 3号
  and 明早, so Chinese day phrases have their own small grammar below.
* ``jionlp`` 1.5.31 (``parse_time``) handles Chinese well but costs 1.1 s to import, brings 180 MB
  (``jiojio`` + numpy + requests), prints a banner on stdout, resolves against the host's local clock via
  a float epoch, and read 明早7点 as today: rejected.
* Clock times (七点一刻, 下午三点半, 6:30, 7 pm, noon, half past six, 12am) are a closed, small grammar:
  regular expressions below, with numerals converted by :mod:`lingxi_assistant.numerals` (``cn2an``,
  ``text2num``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

import dateparser

from lingxi_assistant.numerals import NUM, zh_int

# --------------------------------------------------------------------------------------------- durations

_ZH_UNIT_SECONDS = {"小时": 3600, "钟头": 3600, "分钟": 60, "分": 60, "秒钟": 1, "秒": 1}
_EN_UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}

_ZH_DURATION = re.compile(
    rf"(?P<n>\d+\.\d+|{NUM})\s*个?\s*(?P<half>半)?\s*(?P<unit>小时|钟头|分钟|分|秒钟|秒)(?P<half2>半)?钟?"
    r"|半\s*个?\s*(?P<hunit>小时|钟头|分钟)"
    rf"|(?P<quarters>{NUM})\s*刻钟"
)
_EN_DURATION = re.compile(
    r"(?:\b(?P<halfpre>half)\s+(?:an?\s+)?|(?<![\d.])(?P<n>\d+(?:\.\d+)?)(?:\s*|-)|\b(?P<an>an?)\s+)"
    r"(?P<half>and\s+an?\s+half\s+)?"
    r"(?P<unit>hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)(?![a-z])"
    r"(?P<half2>\s+and\s+an?\s+half)?"
    r"|\b(?:an?\s+)?(?P<quarter>quarter)(?:\s+of\s+an|[- ])?\s*hour\b",
    re.ASCII,  # \b and \d see only ASCII, so a Chinese character next to "10 minutes" is a word break
)
# What may stand between two parts of one duration: "1 hour 30 minutes", "1 hour and 30 minutes",
# "一个小时零五分钟", "两小时又十分钟".
_JOINER = re.compile(r"(?:\s|,|and|零|又)*")


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    seconds: float


def _zh_atom(m: re.Match[str]) -> float | None:
    if m.group("hunit"):
        return _ZH_UNIT_SECONDS[m.group("hunit")] / 2
    if m.group("quarters"):
        q = zh_int(m.group("quarters"))
        return None if q is None else q * 900.0
    raw = m.group("n")
    n = float(raw) if "." in raw else zh_int(raw)
    if n is None:
        return None
    if m.group("half") or m.group("half2"):
        n += 0.5
    return n * _ZH_UNIT_SECONDS[m.group("unit")]


def _en_atom(m: re.Match[str]) -> float:
    if m.group("quarter"):
        return 900.0
    unit = _EN_UNIT_SECONDS[m.group("unit")[0]]
    if m.group("halfpre"):
        return unit / 2
    n = 1.0 if m.group("an") else float(m.group("n"))
    if m.group("half") or m.group("half2"):
        n += 0.5
    return n * unit


# ``text2num`` reads "second" as an ordinal: "45 second timer" arrives as "45 2nd timer". After a number it
# is the unit; "sec" has the same length, so spans still index the text as given.
_SECOND_ORDINAL = re.compile(r"(?<=\d)([\s-])2nd\b", re.ASCII)


def duration_spans(text: str) -> list[Span]:
    """Each duration in ``text`` ("1 hour 30 minutes" is one), in order, with its length in seconds."""
    text = _SECOND_ORDINAL.sub(r"\1sec", text)
    atoms: list[Span] = []
    for m in _ZH_DURATION.finditer(text):
        seconds = _zh_atom(m)
        if seconds:
            atoms.append(Span(m.start(), m.end(), seconds))
    for m in _EN_DURATION.finditer(text):
        atoms.append(Span(m.start(), m.end(), _en_atom(m)))
    atoms.sort(key=lambda s: s.start)
    merged: list[Span] = []
    for atom in atoms:
        if merged and _JOINER.fullmatch(text, merged[-1].end, atom.start):
            last = merged[-1]
            merged[-1] = Span(last.start, atom.end, last.seconds + atom.seconds)
        else:
            merged.append(atom)
    return merged


def parse_duration(text: str) -> int | None:
    """Length in whole seconds of the first duration in ``text`` (计时一个半小时 → 5400), or None."""
    spans = duration_spans(text)
    if not spans:
        return None
    try:
        length = float(spans[0].seconds)
    except OverflowError:  # a number of hours too large for a float: no duration anyone meant
        return None
    if not math.isfinite(length):
        return None
    seconds = round(length)
    return seconds if seconds > 0 else None


_ZH_AFTER = re.compile(r"\s*(?:以后|之后|过后|后)")
_EN_IN = re.compile(r"\b(?:in|after)\s+$", re.ASCII)
_ZH_PASS = re.compile(r"(?<![超经越通])(?:再|等)?过\s*$")  # 过十分钟 / 再过半小时 (not 超过, 经过)
_EN_FROM_NOW = re.compile(r"\s*(?:from\s+now|later)\b", re.ASCII)  # 10 minutes from now / later


def parse_offset(text: str) -> int | None:
    """Seconds from now of a relative time: 半小时后 / 二十分钟以后 / 过半小时 / in 30 minutes / 30 minutes
    from now → 1800; else None."""
    for span in duration_spans(text):
        if (
            _ZH_AFTER.match(text, span.end)
            or _EN_IN.search(text, 0, span.start)
            or _ZH_PASS.search(text, 0, span.start)
            or _EN_FROM_NOW.match(text, span.end)
        ):
            return round(span.seconds) or None
    return None


# ---------------------------------------------------------------------------------------------- clock


@dataclass(frozen=True)
class Clock:
    """A time of day as hours and minutes after midnight of the day it belongs to.

    ``hour`` may be 24 or more: 晚上十二点 / midnight is 24:00 of the day named (00:00 of the next), and
    晚上一点 is 25:00 (the small hours after that evening). ``bare`` is true when neither a part of the day
    (下午, pm, tonight) nor a 24-hour value (19点) said which half of the day was meant."""

    hour: int
    minute: int = 0
    bare: bool = False

    def __post_init__(self) -> None:
        if not (0 <= self.hour < 48 and 0 <= self.minute < 60):
            raise ValueError(f"not a time of day: {self.hour}:{self.minute:02d}")


# Parts of the day, longest first so that 今晚 wins over 晚. Each maps to how it moves an hour said on a
# 12-hour clock.
_ZH_PERIODS = {
    "凌晨": "small_hours",
    "半夜": "night",
    "深夜": "night",
    "午夜": "night",
    "夜里": "night",
    "夜间": "night",
    "清晨": "morning",
    "早上": "morning",
    "早晨": "morning",
    "上午": "morning",
    "一早": "morning",
    "中午": "noon",
    "正午": "noon",
    "午后": "afternoon",
    "下午": "afternoon",
    "傍晚": "evening",
    "晚上": "evening",
    "晚": "evening",
    "早": "morning",
}
# 早 and 晚 alone are a part of the day only right before a clock time (晚8点) or after a day (今晚, 明早,
# 每晚): in 晚饭, 早餐 or 早点 they are not.
_ZH_PERIOD = re.compile(
    "|".join(sorted((p for p in _ZH_PERIODS if len(p) > 1), key=len, reverse=True))
    + rf"|(?<=[今明昨每])[早晚]|[早晚](?=\s*{NUM}\s*[点點时:])"
)

_ZH_CLOCK = re.compile(
    rf"(?P<h>{NUM})\s*(?:点|點|时|:)\s*"
    rf"(?:(?P<half>半)|(?P<quarter>[一二三123])刻|过?(?P<m>{NUM})\s*分?|(?P<whole>整|钟))?"
)

_EN_PERIOD = re.compile(r"\b(morning|afternoon|evening|tonight|night)\b", re.ASCII)
_EN_PERIODS = {
    "morning": "morning",
    "afternoon": "afternoon",
    "evening": "evening",
    "tonight": "evening",
    "night": "night",
}
_EN_CLOCK = re.compile(
    r"\b(?P<noon>noon|midday)\b|\b(?P<midnight>midnight)\b"
    r"|\b(?P<rel>half|quarter|\d{1,2})\s+(?:minutes?\s+)?(?P<dir>past|after|to|before)\s+(?P<rh>\d{1,2})\b"
    r"(?:\s*(?P<rampm>[ap])\.?\s?m\b\.?)?"
    r"|(?P<prep>\b(?:at|for|by|around)\s+)?\b(?P<h>\d{1,2})(?:[:.](?P<m>\d{2})|\s+(?P<msp>\d{2})\b)?"
    r"(?:\s*(?P<ampm>[ap])\.?\s?m\b\.?|\s*(?P<oclock>o'?\s?clock)\b)?",
    re.ASCII,
)
_EN_UNIT_AFTER = re.compile(
    r"\s*(?:minutes?|mins?|hours?|hrs?|seconds?|secs?|days?|weeks?|[hms])\b", re.ASCII
)


def _apply_period(hour: int, period: str | None) -> int:
    """An hour said with a part of the day (下午三点, 7 in the evening) as hours after midnight."""
    if period is None or hour > 12:
        return hour
    if period == "small_hours":
        return 0 if hour == 12 else hour
    if period == "morning":
        return hour
    if period == "noon":
        return hour if hour >= 11 else hour + 12
    if period == "afternoon":
        return hour if hour == 12 else hour + 12
    # evening and night: 12 is midnight at the end of the day; 1 to 4 are the small hours after it
    if hour == 12 or hour < 5:
        return hour % 12 + 24
    if period == "night" and hour == 5:
        return hour  # 夜里五点: before dawn
    return hour + 12  # 晚上八点, 夜里十一点, 9 at night


# 一点 right after a Chinese character is "a bit" (大一点, 喝一点水, 有一点, 早一点, 给我一点), not one
# o'clock, unless that character ends a part of the day, a day or a weekday, or introduces a time:
# 今晚一点, 明早一点, 凌晨一点, 明天一点, 周三一点, 到一点, 我一点要开会. Searched in the text before 一点.
_A_BIT = re.compile(
    r"(?:(?<![今明昨傍每])[早晚]|给[我你您他她]们?"
    r"|[\u4e00-\u9fff](?<![早晚上午晨夜里间天日号儿末一二三四五六七八九十两零"
    r"在到于是至从为约设定等止我你您他她们咱经]))$"
)
_A_BIT_AFTER = re.compile(r"儿|点|也不|都不|也没|都没")  # 一点儿, 一点点, 一点也不
_WEEK_BEFORE = re.compile(r"(?:周|星期|礼拜)$")
_WEEKDAY_DIGIT = frozenset("一二三四五六七日天1234567")
_NEXT_TO = re.compile(r"[\s,，的]*")


def _zh_clock_matches(text: str) -> Iterator[re.Match[str]]:
    """The clock expressions of :data:`_ZH_CLOCK` in ``text``, with a weekday's numeral kept out of the
    hour (周一八点 is 8 o'clock on Monday, not 18; 星期三十点 is 10 o'clock) and "a bit" left out."""
    pos = 0
    while (m := _ZH_CLOCK.search(text, pos)) is not None:
        pos = m.end() or m.start() + 1
        if m.group("h")[0] in _WEEKDAY_DIGIT and _WEEK_BEFORE.search(text, 0, m.start()):
            pos = m.start() + 1
            continue
        if (
            m.group("h") == "一"
            and m.lastindex == 1
            and (_A_BIT.search(text, 0, m.start()) or _A_BIT_AFTER.match(text, m.end()))
        ):
            continue
        yield m


def _zh_period(text: str, start: int, end: int) -> str | None:
    """The part of the day said for the clock time at ``start:end``: the nearest one before it, else one
    right after it (七点 晚上); never one elsewhere in the sentence (三点吃晚饭 is not the evening)."""
    before = None
    for p in _ZH_PERIOD.finditer(text):
        if p.end() > start:
            break
        before = p
    if before is not None:
        return _ZH_PERIODS[before.group()]
    next_to = _NEXT_TO.match(text, end)
    after = _ZH_PERIOD.match(text, next_to.end() if next_to else end)
    return _ZH_PERIODS[after.group()] if after else None


def _zh_clock(text: str) -> Clock | None:
    for m in _zh_clock_matches(text):
        hour = zh_int(m.group("h"))
        if hour is None or hour > 24:
            continue
        minute: int | None = 0
        if m.group("half"):
            minute = 30
        elif m.group("quarter"):
            minute = 15 * (zh_int(m.group("quarter")) or 0)
        elif m.group("m"):
            minute = zh_int(m.group("m"))
        if minute is None or minute > 59:
            continue
        period = _zh_period(text, m.start(), m.end())
        bare = period is None and 1 <= hour <= 12
        hour = _apply_period(hour, period)
        return Clock(hour, minute, bare)
    return None


def _en_clock(text: str) -> Clock | None:
    found = _EN_PERIOD.search(text)
    period = _EN_PERIODS[found.group(1)] if found else None
    for m in _EN_CLOCK.finditer(text):
        if m.group("noon"):
            return Clock(12)
        if m.group("midnight"):
            return Clock(24)
        ampm: str | None
        if m.group("rel"):
            target = int(m.group("rh"))
            rel = m.group("rel")
            minutes = 30 if rel == "half" else 15 if rel == "quarter" else int(rel)
            if target > 12 or minutes >= 60:
                continue
            if m.group("dir") in ("to", "before"):
                hour, minute = (target - 1) % 12 or 12, 60 - minutes
                if minute == 60:
                    hour, minute = target, 0
            else:
                hour, minute = target, minutes
            ampm = m.group("rampm")
        else:
            raw_minute = m.group("m") or m.group("msp")
            ampm = m.group("ampm")
            if not (raw_minute or ampm or m.group("oclock") or m.group("prep")):
                continue  # a bare number is not a time
            if _EN_UNIT_AFTER.match(text, m.end()):
                continue  # "for 10 minutes"
            hour, minute = int(m.group("h")), int(raw_minute or 0)
        if hour > 24 or minute > 59 or (ampm and not 1 <= hour <= 12):
            continue
        bare = False
        if ampm == "a":
            hour = 0 if hour == 12 else hour
        elif ampm == "p":
            hour = hour if hour == 12 else hour + 12
        else:
            bare = period is None and 1 <= hour <= 12
            hour = _apply_period(hour, period)
        return Clock(hour, minute, bare)
    return None


def parse_clock(text: str, zh_first: bool = True) -> Clock | None:
    """The first time of day in ``text``, trying the Chinese grammar first when ``zh_first``."""
    order = (_zh_clock, _en_clock) if zh_first else (_en_clock, _zh_clock)
    for grammar in order:
        found = grammar(text)
        if found is not None:
            return found
    return None


# ----------------------------------------------------------------------------------------------- dates

_ZH_RELATIVE_DAYS = {
    "大后天": 3,
    "后天": 2,
    "明天": 1,
    "明日": 1,
    "明儿": 1,
    "明早": 1,
    "明晨": 1,
    "明晚": 1,
    "今天": 0,
    "今日": 0,
    "今儿": 0,
    "今早": 0,
    "今晨": 0,
    "今晚": 0,
    "今夜": 0,
}
_WEEKDAYS_ZH = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "七": 6}
# 下周X is next week's X, 上周X last week's, weeks starting on Monday (on a Wednesday 下周六 is the Saturday
# of the week after this one). The 日 of 日程 / 日历 and the 天 of 天气 are not Sunday (本周日程, 这周天气),
# the 下 of 一下 is not part of 下下周 (查一下下周六), and the 上 of 晚上 / 早上 is not last week's.
_ZH_DATE = re.compile(
    "(?P<rel>" + "|".join(_ZH_RELATIVE_DAYS) + ")"
    r"|(?P<week>(?<!一)下下|下个?|这个?|本|(?<![早晚马])上上|(?<![早晚马])上个?)?(?:周|星期|礼拜)"
    r"(?P<wd>[一二三四五六七1-7]|日(?![程历])|天(?!气))"
    r"|(?P<weekend>(?:(?<!一)下下|下个?|这个?|本|(?<![早晚马])上个?)?周末)"
    rf"|(?:(?P<mo>{NUM})\s*月|(?P<rm>下下|下|这|本|(?<![早晚马])上上|(?<![早晚马])上)个?月)?"
    rf"(?P<d>{NUM})\s*(?:日|号)"
    rf"|(?P<n>{NUM})\s*天(?:以后|之后|后)"
)

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_WEEKDAYS_EN = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_EN_DATE = re.compile(
    r"\b(?:the\s+)?day\s+after\s+tomorrow\b|\btoday\b|\btonight\b|\btomorrow\b|\btmrw?\b"
    r"|\b(?:(?:this|next|on)\s+)?(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b"
    rf"|\b{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\b"
    rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\b"
    r"|\bin\s+\d{1,3}\s+days?\b",
    re.ASCII,
)
_EN_RELATIVE_DAYS = {"today": 0, "tonight": 0, "tomorrow": 1, "tmr": 1, "tmrw": 1}
_EN_WEEKEND = re.compile(r"\b(?:(?P<next>next)\s+|this\s+|the\s+)?weekend\b", re.ASCII)  # like 周末
_EN_LAST_BEFORE = re.compile(r"\b(?:last|past|previous)\s+$", re.ASCII)


def _monday(today: date) -> date:
    return today - timedelta(days=today.weekday())


def _add_month(day: date) -> date | None:
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    try:
        return day.replace(year=year, month=month)
    except ValueError:
        return None


def _zh_week_weeks(week: str) -> int:
    """How many weeks from this one a 下周/上上周/这周 prefix means: 下下 2, 下 1, 这 0, 上 -1, 上上 -2."""
    week = week.rstrip("个")
    if week.startswith("下"):
        return len(week)
    if week.startswith("上"):
        return -len(week)
    return 0


def _in_month(today: date, which: str, day: int | None) -> date | None:
    """Day ``day`` of the month that 下个月 / 这个月 / 上上个月 names, or None when there is none."""
    months = _zh_week_weeks(which)  # the same counting: 下下 2, 下 1, 这 0, 上 -1, 上上 -2
    index = today.year * 12 + today.month - 1 + months
    try:
        return date(index // 12, index % 12 + 1, day or 0)
    except (ValueError, OverflowError):  # no such day, or a day number past what a date holds
        return None


def _zh_date(text: str, today: date) -> date | None:
    for m in _ZH_DATE.finditer(text):
        if m.group("rel"):
            return today + timedelta(days=_ZH_RELATIVE_DAYS[m.group("rel")])
        if m.group("wd"):
            raw = m.group("wd")
            weekday = int(raw) - 1 if raw.isdigit() else _WEEKDAYS_ZH[raw]
            weeks = _zh_week_weeks(m.group("week") or "")
            if weeks < 0:
                continue  # 上周五 is past: not a day this grammar looks for
            if weeks > 0:
                return _monday(today) + timedelta(weeks=weeks, days=weekday)
            # 周五 / 这周五: the next one, today included (a past day of this week means next week's)
            return today + timedelta(days=(weekday - today.weekday()) % 7)
        if m.group("weekend"):
            weeks = _zh_week_weeks(m.group("weekend")[:-2])
            if weeks < 0:
                continue
            if weeks > 0:
                return _monday(today) + timedelta(weeks=weeks, days=5)
            return today if today.weekday() >= 5 else today + timedelta(days=5 - today.weekday())
        if m.group("d"):
            day = zh_int(m.group("d"))
            if m.group("rm"):  # 下个月3号: that month's
                found_in = _in_month(today, m.group("rm"), day)
                if found_in is not None and found_in >= today:
                    return found_in
                continue
            said = _day_in_month_said(m, day, today)
            if said is None:
                continue
            found, month = said
            if found < today:
                # a day already past means the next one: next month, or next year when the month was said
                later = _next_year(found) if month else _add_month(found)
                if later is None:
                    continue
                found = later
            return found
        if m.group("n"):
            n = zh_int(m.group("n"))
            if n is not None:
                try:
                    return today + timedelta(days=n)
                except OverflowError:  # 3000000天后: past the end of the calendar, no date
                    return None
    return None


def _next_year(day: date) -> date | None:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return None


_DATEPARSER_SETTINGS: dict[str, Any] = {"PREFER_DATES_FROM": "future", "RETURN_AS_TIMEZONE_AWARE": False}


def _month_day(phrase: str, today: date, prefer: str) -> date | None:
    """A month and day ("dec 3rd", "3rd of december") as the next (or last) such day, by ``dateparser``."""
    settings = {
        **_DATEPARSER_SETTINGS,
        "PREFER_DATES_FROM": prefer,
        "RELATIVE_BASE": datetime.combine(today, time(12)),
    }
    parsed: datetime | None = dateparser.parse(phrase, languages=["en"], settings=settings)
    return None if parsed is None else parsed.date()


def _en_date(text: str, today: date) -> date | None:
    for m in _EN_DATE.finditer(text):
        phrase = re.sub(r"\s+", " ", m.group())
        words = phrase.split()
        if phrase in _EN_RELATIVE_DAYS:
            return today + timedelta(days=_EN_RELATIVE_DAYS[phrase])
        if words[-1] == "tomorrow":  # the day after tomorrow
            return today + timedelta(days=2)
        if words[0] == "in":
            return today + timedelta(days=int(words[1]))
        if words[-1] in _WEEKDAYS_EN:
            weekday = _WEEKDAYS_EN.index(words[-1])
            if _EN_LAST_BEFORE.search(text, 0, m.start()):
                continue  # last friday is past
            if words[0] == "next":  # next week's, like 下周五
                return _monday(today) + timedelta(weeks=1, days=weekday)
            return today + timedelta(days=(weekday - today.weekday()) % 7)
        found = _month_day(phrase, today, "future")
        if found is not None:
            return found
    weekend = _EN_WEEKEND.search(text)
    if weekend is not None and not _EN_LAST_BEFORE.search(text, 0, weekend.start()):
        if weekend.group("next"):  # next weekend: next week's Saturday, like 下周末
            return _monday(today) + timedelta(weeks=1, days=5)
        return today if today.weekday() >= 5 else today + timedelta(days=5 - today.weekday())
    return None


def parse_date(text: str, today: date, zh_first: bool = True) -> date | None:
    """The day named in ``text`` (明天, 下周一, 12月3日, tomorrow, next friday, dec 3rd), today or later, or
    None. Days said as past (昨天, 上周五, last friday) are not read: see :func:`parse_past_date`."""
    order = (_zh_date, _en_date) if zh_first else (_en_date, _zh_date)
    for grammar in order:
        found = grammar(text, today)
        if found is not None:
            return found
    return None


# ------------------------------------------------------------------------------------------ past dates

_ZH_PAST_DAYS = {"大前天": 3, "前天": 2, "昨天": 1, "昨日": 1, "昨儿": 1, "昨晚": 1, "昨早": 1, "昨夜": 1}
_ZH_PAST_DATE = re.compile(
    "(?P<rel>" + "|".join(_ZH_PAST_DAYS) + ")"
    rf"|(?P<n>{NUM})\s*天(?:以前|之前|前)"
)
_EN_PAST_DATE = re.compile(
    r"\b(?P<dby>(?:the\s+)?day\s+before\s+yesterday)\b|\b(?P<yesterday>yesterday|last\s+night)\b"
    r"|\b(?P<n>\d{1,3})\s+days?\s+ago\b"
    r"|\b(?:last|past|previous)\s+(?P<wd>monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b"
    r"|\b(?:last|past|previous)\s+(?P<weekend>weekend)\b|\bthis\s+(?P<today>morning|afternoon)\b",
    re.ASCII,
)


def _last_weekday(today: date, weekday: int) -> date:
    """周五 / friday said of the past: the last one, today included."""
    return today - timedelta(days=(today.weekday() - weekday) % 7)


def _before(day: date | None, today: date) -> date | None:
    return day if day is not None and day <= today else None


def _zh_past_date(text: str, today: date) -> date | None:
    past = _ZH_PAST_DATE.search(text)
    if past is not None:
        if past.group("rel"):
            return today - timedelta(days=_ZH_PAST_DAYS[past.group("rel")])
        n = zh_int(past.group("n"))
        if n is not None:
            return today - timedelta(days=n)
    for m in _ZH_DATE.finditer(text):
        if m.group("rel"):
            if _ZH_RELATIVE_DAYS[m.group("rel")] == 0:
                return today
            continue  # 明天 is not in the past
        if m.group("wd"):
            raw = m.group("wd")
            weekday = int(raw) - 1 if raw.isdigit() else _WEEKDAYS_ZH[raw]
            week = m.group("week")
            if week is None:
                return _last_weekday(today, weekday)
            found = _before(_monday(today) + timedelta(weeks=_zh_week_weeks(week), days=weekday), today)
            if found is not None:
                return found
            continue
        if m.group("weekend"):
            week = m.group("weekend")[:-2]
            weeks = _zh_week_weeks(week) if week else (-1 if today.weekday() < 5 else 0)
            found = _before(_monday(today) + timedelta(weeks=weeks, days=5), today)
            if found is not None:
                return found
            continue
        if m.group("d"):
            day = zh_int(m.group("d"))
            if m.group("rm"):  # 上个月3号: that month's
                found_in = _in_month(today, m.group("rm"), day)
                if found_in is not None and found_in <= today:
                    return found_in
                continue
            said = _day_in_month_said(m, day, today)
            if said is None:
                continue
            found, month = said
            if found > today:
                # a day still ahead means the last one: last month, or last year when the month was said
                earlier = _last_year(found) if month else _sub_month(found)
                if earlier is None:
                    continue
                found = earlier
            return found
    return None


def _day_in_month_said(m: re.Match[str], day: int | None, today: date) -> tuple[date, int | None] | None:
    """3号 / 12月3日 in today's month (or the month said) of this year, with the month if one was said;
    None when it is no calendar date."""
    month = zh_int(m.group("mo")) if m.group("mo") else None
    if day is None or (m.group("mo") and month is None):
        return None
    try:
        return today.replace(month=month or today.month, day=day), month
    except (ValueError, OverflowError):  # no such day, or a day number past what a date holds
        return None


def _last_year(day: date) -> date | None:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return None


def _sub_month(day: date) -> date | None:
    year, month = (day.year - 1, 12) if day.month == 1 else (day.year, day.month - 1)
    try:
        return day.replace(year=year, month=month)
    except ValueError:
        return None


def _en_past_date(text: str, today: date) -> date | None:
    past = _EN_PAST_DATE.search(text)
    if past is not None:
        if past.group("dby"):
            return today - timedelta(days=2)
        if past.group("yesterday"):
            return today - timedelta(days=1)
        if past.group("n"):
            return today - timedelta(days=int(past.group("n")))
        if past.group("wd"):  # last friday: last week's, like 上周五
            return _monday(today) - timedelta(weeks=1) + timedelta(days=_WEEKDAYS_EN.index(past.group("wd")))
        if past.group("weekend"):  # last weekend: last week's Saturday, like 上周末
            return _monday(today) - timedelta(weeks=1) + timedelta(days=5)
        return today
    for m in _EN_DATE.finditer(text):
        phrase = re.sub(r"\s+", " ", m.group())
        words = phrase.split()
        if phrase in _EN_RELATIVE_DAYS:
            if _EN_RELATIVE_DAYS[phrase] == 0:
                return today
            continue
        if words[-1] in _WEEKDAYS_EN:
            weekday = _WEEKDAYS_EN.index(words[-1])
            if words[0] == "this":
                found = _before(_monday(today) + timedelta(days=weekday), today)
                if found is not None:
                    return found
            elif words[0] != "next":
                return _last_weekday(today, weekday)
            continue
        if words[-1] == "tomorrow" or words[0] == "in":
            continue
        found = _before(_month_day(phrase, today, "past"), today)
        if found is not None:
            return found
    weekend = _EN_WEEKEND.search(text)
    if weekend is not None and not weekend.group("next"):  # the weekend: the last one, like 周末
        weeks = -1 if today.weekday() < 5 else 0
        return _monday(today) + timedelta(weeks=weeks, days=5)
    return None


def parse_past_date(text: str, today: date, zh_first: bool = True) -> date | None:
    """The day in the past (today included) named in ``text``, for what already happened (photos
    taken, calls made): 昨天, 前天, 三天前, 上周五, 周一 (the last one), 3号 / 12月3日 (the last such day),
    yesterday, the day before yesterday, 3 days ago, last friday, friday, dec 3rd. None when no past day
    is said.

    上周X / last X is last week's X (weeks starting on Monday), the mirror of 下周X / next X."""
    order = (_zh_past_date, _en_past_date) if zh_first else (_en_past_date, _zh_past_date)
    for grammar in order:
        found = grammar(text, today)
        if found is not None:
            return found
    return None


# -------------------------------------------------------------------------------------- whole moments


def _normalise(moment: datetime, tz: tzinfo) -> datetime:
    """A wall-clock result of datetime arithmetic made real (a time in a DST gap moves forward)."""
    return moment.astimezone(UTC).astimezone(tz)


AFTERNOON_IF_BARE = range(1, 6)
"""Hours that, said without 上午/下午/am/pm, mean the afternoon: 三点一刻叫我 is 15:15, not 03:15."""


def resolve_time(
    text: str, now: datetime, tz: tzinfo, zh_first: bool = True, waking: bool = False
) -> datetime | None:
    """The absolute moment ``text`` asks for, in ``tz``, or None when it names no time of day.

    "in 30 minutes" / "30 minutes from now" / 半小时后 / 过半小时 count from ``now``.
    Otherwise a day (default today) and a clock time;
    a time today that is not in the future moves to tomorrow (七点 at 10:00 is 07:00 tomorrow).
    A bare hour from 1 to 5 means the afternoon unless the user is asking to be woken up (``waking``):
    五点叫我起床 is 05:00."""
    local_now = now.astimezone(tz)
    offset = parse_offset(text)
    if offset is not None:
        try:
            return local_now.replace(microsecond=0) + timedelta(seconds=offset)
        except OverflowError:  # 100000000小时后: past the end of the calendar
            return None
    clock = parse_clock(text, zh_first)
    if clock is None:
        return None
    hour = clock.hour
    if clock.bare and not waking and hour in AFTERNOON_IF_BARE:
        hour += 12
    today = local_now.date()
    day = parse_date(text, today, zh_first)
    moment = datetime.combine(day or today, time(0), tzinfo=tz)
    moment = _normalise(moment + timedelta(hours=hour, minutes=clock.minute), tz)
    if (day is None or day == today) and moment <= local_now:
        moment = _normalise(moment + timedelta(days=1), tz)
    return moment
