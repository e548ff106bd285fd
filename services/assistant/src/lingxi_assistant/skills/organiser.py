"""Organiser skills: cancelling alarms, reminders, calendar events, the schedule, the date and the time.

Intents: ``cancel_alarm``, ``set_reminder``, ``create_event``, ``check_schedule``, ``date_time`` (slot
formats in docs/assistant-intents.md). Times are resolved by :func:`timeparse.resolve_time` and days by
:func:`timeparse.parse_date`; this module only *locates* the time expressions (with timeparse's own
patterns) so that a reminder's content or an event's title is what is left once they and the command
words are cut away: 明天下午三点提醒我交房租 → ``content: "交房租"``, "remind me to call the bank at 4pm"
→ ``content: "call the bank"``.

Rules match a lower-cased copy of the text with spelled English numbers as digits (the form timeparse
reads); values are cut from the same text in its original case and mapped back to the words as said.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from lingxi_assistant.lang import Lang, Utterance, has_han
from lingxi_assistant.model import Action, SlotValue
from lingxi_assistant.numerals import NUM, en_digits, zh_int
from lingxi_assistant.replies import _clock_en, _clock_zh, _day_en, _day_zh
from lingxi_assistant.skills import Skill, Slots
from lingxi_assistant.slots import Context, Fill
from lingxi_assistant.timeparse import (
    _EN_CLOCK,
    _EN_DATE,
    _EN_FROM_NOW,
    _EN_IN,
    _EN_UNIT_AFTER,
    _ZH_AFTER,
    _ZH_DATE,
    _ZH_PASS,
    _ZH_PERIODS,
    _zh_clock_matches,
    duration_spans,
    parse_date,
    resolve_time,
)

_PUNCT = " \t,，。.!！?？、;；:：~～…\"“”'‘’()（）[]【】《》<>-—"
_WEEKDAY_ZH = "一二三四五六日"


def _rx(pattern: str) -> re.Pattern[str]:
    # re.ASCII: \b must see a break between a Chinese character and an English word (schedule一个meeting)
    return re.compile(pattern, re.ASCII)


# ---------------------------------------------------------------------------------- time expressions


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    strong: bool  # a clock time, a day or a relative time (not just 晚上 / later / every day)


_ZH_PERIOD_WORDS = re.compile(
    "|".join(sorted((p for p in _ZH_PERIODS if len(p) > 1), key=len, reverse=True))
    + rf"|[早晚](?=\s*{NUM}\s*[点點时:])"
)
_ZH_PAST_DAYS = {"大前天": -3, "前天": -2, "昨天": -1, "昨日": -1, "昨儿": -1, "昨晚": -1, "昨早": -1}
_ZH_PAST = re.compile("|".join(_ZH_PAST_DAYS))
_ZH_VAGUE = re.compile(
    r"每天|每日|天天|每晚|每早|每周[一二三四五六日天]?|每个?星期[一二三四五六日天]?|每个?礼拜[一二三四五六日天]?"
    r"|每个?工作日|工作日|每个?月|(?:这个?|本|下个?|上个?)(?:周末|周|星期|礼拜)|周末"
    r"|(?:这个?|本|下个?|上个?)月(?:底|初)?|月底|月初|年底|过年前|最近|接下来|近期"
    r"|待会儿?|等会儿?|等一下|一会儿?|过一会儿?|晚点儿?|晚些时候|稍后|回头|到时候?|马上|现在|立刻"
    r"|(?:今天|明天|后天)?(?:白天|一整天|全天)"
    r"|(?:吃完?)?(?:午饭|晚饭|早饭|饭)(?:以?后|之后|前|的时候)|(?:下班|上班|放学|睡觉|睡|起床|到家|回家)(?:以?后|之后|前|的时候)"
)
# A bare "evening" is often part of a name (parents' evening, movie night): only "this evening", "in the
# evening", "at night" or "tomorrow morning" are times.
_EN_PERIOD_WORDS = _rx(
    r"\b(?:(?:in|during)\s+the|this|at|every|each|today|tomorrow|tmrw?|yesterday"
    r"|monday|tuesday|wednesday|thursday|friday|saturday|sunday)\s+(?:morning|afternoon|evening|night)\b"
    r"|\btonight\b|\btonite\b"
)
_EN_PAST = _rx(r"\b(?:the\s+)?day\s+before\s+yesterday\b|\byesterday\b")
_EN_VAGUE = _rx(
    r"\blater(?:\s+(?:today|tonight|on))?\b|\bsoon\b|\b(?:right\s+)?now\b|\bevery\s*day\b|\bdaily\b"
    r"|\beach\s+day\b|\bevery\s+(?:week|weekday|month|monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b"
    r"|\b(?:this|next|last)\s+(?:week(?:end)?|month)\b|\b(?:on\s+)?(?:the\s+)?weekends?\b|\bon\s+weekdays\b"
    r"|\b(?:all\s+day|the\s+whole\s+day)\b|\bin\s+a\s+(?:bit|while|moment|minute|sec|second)\b"
    r"|\b(?:after|before|at|around|during)\s+(?:lunch|dinner|breakfast|work|school|bed(?:time)?)\b"
)
_EN_DAY_OF_MONTH = _rx(r"\b(?:on\s+)?the\s+(\d{1,2})(?:st|nd|rd|th)\b")
_EN_PREP_BEFORE = _rx(r"\b(?:at|on|by|around|for|in|before|until|till|from|after)\s+$")


def _zh_clock_spans(low: str) -> Iterator[_Span]:
    """The clock times timeparse's Chinese grammar would accept (七点一刻, 下午2点半, 6:40)."""
    for m in _zh_clock_matches(low):  # 快一点 is "a bit faster"; 周一八点 is eight o'clock
        hour = zh_int(m.group("h"))
        if hour is None or hour > 24:
            continue
        if m.group("m") and (zh_int(m.group("m")) or 0) > 59:
            continue
        yield _Span(m.start(), m.end(), True)


def _en_clock_spans(low: str) -> Iterator[_Span]:
    """The clock times timeparse's English grammar would accept (at 4pm, 7:30, half past six, noon)."""
    for m in _EN_CLOCK.finditer(low):
        if m.group("noon") or m.group("midnight"):
            yield _Span(m.start(), m.end(), True)
            continue
        if m.group("rel"):
            if int(m.group("rh")) <= 12:
                yield _Span(m.start(), m.end(), True)
            continue
        minute = m.group("m") or m.group("msp")
        if not (minute or m.group("ampm") or m.group("oclock") or m.group("prep")):
            continue
        if _EN_UNIT_AFTER.match(low, m.end()) or int(m.group("h")) > 24 or int(minute or 0) > 59:
            continue
        yield _Span(m.start(), m.end(), True)


def _offset_spans(low: str) -> Iterator[_Span]:
    """Relative times: 十分钟后, 过半小时, in 10 minutes, 10 minutes from now."""
    for span in duration_spans(low):
        after = _ZH_AFTER.match(low, span.end)
        before = _EN_IN.search(low, 0, span.start)
        passing = _ZH_PASS.search(low, 0, span.start)
        from_now = _EN_FROM_NOW.match(low, span.end)
        if after or before or passing or from_now:
            start = before.start() if before else passing.start() if passing else span.start
            end = after.end() if after else from_now.end() if from_now else span.end
            yield _Span(start, end, True)


def _matches(pattern: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """Every match of ``pattern``, overlapping ones included (下周一早上: 下周一 and 早上, not just 一早)."""
    pos = 0
    while (m := pattern.search(text, pos)) is not None:
        if m.end() > m.start():
            yield m
        pos = m.start() + 1


def _time_spans(low: str) -> list[_Span]:
    """Every time expression in ``low``, adjacent ones merged (明天 下午 三点 → one span)."""
    spans: list[_Span] = [*_zh_clock_spans(low), *_en_clock_spans(low), *_offset_spans(low)]
    for strong in (_ZH_DATE, _EN_DATE, _ZH_PAST, _EN_PAST, _EN_DAY_OF_MONTH):
        # "friday's party" names a party, not a day to be cut from the value
        days = (m for m in _matches(strong, low) if not _POSSESSIVE.match(low, m.end()))
        spans.extend(_Span(m.start(), m.end(), True) for m in days)
    for weak in (_ZH_PERIOD_WORDS, _EN_PERIOD_WORDS, _ZH_VAGUE, _EN_VAGUE):
        spans.extend(_Span(m.start(), m.end(), False) for m in _matches(weak, low))
    spans = [_with_preposition(low, span) for span in spans]
    spans.sort(key=lambda s: (s.start, -s.end))
    merged: list[_Span] = []
    for span in spans:
        if merged and (span.start <= merged[-1].end or _GLUE.fullmatch(low, merged[-1].end, span.start)):
            last = merged[-1]
            merged[-1] = _Span(last.start, max(last.end, span.end), last.strong or span.strong)
        else:
            merged.append(span)
    return merged


_POSSESSIVE = re.compile(r"['’]s\b")


def _with_preposition(low: str, span: _Span) -> _Span:
    """The preposition before an English time belongs to it: "at noon", "by friday"."""
    prep = _EN_PREP_BEFORE.search(low, 0, span.start)
    return _Span(prep.start(), span.end, span.strong) if prep else span


# What may stand between two parts of one time expression: 明天 的 下午, tomorrow at 4pm, friday, 3pm
_GLUE = _rx(r"[\s,，、的]*(?:\b(?:at|on|by|around|about|to|until|till)\b|到|至|-|~)?[\s,，、]*")


def _for_timeparse(text: str) -> str:
    """``text`` as timeparse reads it: "the 1st" made 1号 (a day of the month, which only the Chinese
    grammar knows)."""
    return _EN_DAY_OF_MONTH.sub(lambda m: f" {m.group(1)}号", text)


Pieces = tuple[tuple[int, int], ...]
"""A free-text value as the parts of the sentence it is made of (a time inside it left out)."""


def _resolve(low: str, ctx: Context, value: Pieces = (), waking: bool = False) -> str | None:
    """The ISO time ``low`` asks for, read with the ``value`` (content, title) blanked out: its words are not
    time words, nor do they choose the grammar (a Chinese title in "save an event: 年会 on December 18 at
    6:30pm" would have 6:30 read by the Chinese grammar, which does not know pm)."""
    for start, end in value:
        low = low[:start] + "，" * (end - start) + low[end:]
    moment = resolve_time(_for_timeparse(low), ctx.now, ctx.tz, zh_first=has_han(low), waking=waking)
    return moment.isoformat() if moment else None


_WEEKEND = re.compile(r"(?:这个?|本|下个?|上个?)?周末|\b(?:this|next|last)?\s*weekends?\b")


_EN_TODAY = _rx(r"\bthis\s+(?:morning|afternoon|evening)\b|\btonite\b")


def _day(low: str, today: date) -> date | None:
    """The day a schedule or date question names (yesterday included); a weekend or a week is not a day."""
    zh_first = has_han(low)
    text = _WEEKEND.sub(" ", low)
    text = _EN_DAY_OF_MONTH.sub(lambda m: f" {m.group(1)}号", text)  # the 28th: only the zh grammar has it
    found = parse_date(text, today, zh_first=zh_first)
    if found is not None:
        return found
    if _EN_TODAY.search(text):
        return today
    past = _ZH_PAST.search(text)
    if past is not None:
        return today + timedelta(days=_ZH_PAST_DAYS[past.group()])
    past_en = _EN_PAST.search(text)
    if past_en is not None:
        return today - timedelta(days=1 if past_en.group() == "yesterday" else 2)
    return None


# ------------------------------------------------------------------------------------ free-text values


@dataclass(frozen=True)
class _Text:
    """One sentence in the two forms the cutting needs, index for index."""

    said: str  # the normalised text, original case
    work: str  # ``said`` with spelled English numbers as digits, original case
    low: str  # ``work`` lower-cased (what the patterns read)
    spans: tuple[_Span, ...]

    @classmethod
    def of(cls, utt: Utterance) -> _Text:
        work = en_digits(utt.text)
        low = work.lower()
        if len(low) != len(work):  # a character whose lower case is longer: cut from the lower case
            work = low
        return cls(utt.text, work, low, tuple(_time_spans(low)))

    def boundary(self, pos: int, end: int, spans: bool = True) -> bool:
        """Whether a value may start at ``pos`` (spaces skipped): the end, punctuation, or (with ``spans``)
        a time expression."""
        while pos < end and self.low[pos].isspace():
            pos += 1
        if pos >= end or self.low[pos] in _PUNCT:
            return True
        return spans and any(s.start == pos for s in self.spans)


Lead = Callable[[_Text, int, int], int]
"""Where the value starts once command words at ``a`` are cut (``a`` itself: nothing to cut)."""


def _trim(t: _Text, a: int, b: int, lead: Lead, trail: re.Pattern[str]) -> tuple[int, int]:
    """``[a, b)`` with punctuation, time expressions and command words cut from both ends."""
    while True:
        start, end = a, b
        while a < b and t.low[a] in _PUNCT:
            a += 1
        while b > a and t.low[b - 1] in _PUNCT:
            b -= 1
        for span in t.spans:
            if span.start <= a < span.end:
                a = span.end
            if span.start < b <= span.end:
                b = max(a, span.start)
        if a < b and t.low[a] == "的":
            a += 1
        if a < b and t.low[a] == "我" and any(s.start == a + 1 for s in t.spans):
            a += 1  # 我 下周五晚上六点 要参加婚礼
        a = max(a, min(lead(t, a, b), b))
        m = trail.search(t.low, a, b)
        if m is not None:
            b = m.start()
        if (a, b) == (start, end):
            return a, b


_NUMBER_TOKEN = _rx(r"\d+(?:st|nd|rd|th)?")


def _as_said(t: _Text, a: int, b: int) -> str:
    """The words between ``a`` and ``b`` as the user wrote them (two pills, not 2 pills)."""
    value = t.work[a:b].strip(_PUNCT)
    if not value or value in t.said:
        return value
    parts = _NUMBER_TOKEN.split(value)
    pattern = r"(?:\d+\w*|[A-Za-z]+(?:[\s-]+(?:and\s+)?[A-Za-z]+)*?)".join(re.escape(p) for p in parts)
    found = re.search(pattern, t.said, re.IGNORECASE)
    return found.group().strip(_PUNCT) if found else value


def _pieces(t: _Text, a: int, b: int) -> Pieces:
    """``[a, b)`` less the times inside it: "call mom at 5 about dinner" → call mom, about dinner."""
    out: list[tuple[int, int]] = []
    for span in t.spans:
        inside = a < span.start and span.end < b
        if inside and span.strong:
            out.append((a, span.start))
            a = span.end
    out.append((a, b))
    return tuple((x, y) for x, y in out if y > x)


def _value(t: _Text, pieces: Pieces) -> str:
    words = [w for w in (_as_said(t, x, y) for x, y in pieces) if w]
    if not words:
        return ""
    joined = words[0]
    for word in words[1:]:
        joined = re.sub(r"[在于]$", "", joined)  # 给张伟在(下午四点)回电话
        han = _HAN.match(joined[-1:]) or _HAN.match(word[:1])
        joined += ("" if han else " ") + word
    return joined


def _pattern_lead(*patterns: re.Pattern[str]) -> Lead:
    def lead(t: _Text, a: int, b: int) -> int:
        for pattern in patterns:
            m = pattern.match(t.low, a, b)
            if m is not None and m.end() > a:
                return m.end()
        return a

    return lead


# ------------------------------------------------------------------------------------------ reminders

_ZH_REMIND = re.compile(
    r"(?:记得|记着|到时候?|别忘了|请|帮我|麻烦你?)*"
    r"(?:提醒(?:一下|下)?我(?:一下|一声)?|提醒一下|提个醒|叫我记得|提醒"
    r"|(?:别|不要)让我忘(?:了|记)?|别忘了|记个事儿?|记一下|记下来?|备忘(?:一下|录)?|待办(?:事项)?)"
)
_EN_REMIND = _rx(
    r"\b(?:please\s+)?(?:remind(?:er)?s?(?:\s+me)?|(?:don'?t|do\s+not)\s+(?:let\s+me\s+)?forget"
    r"|remember|make\s+sure\s+i(?:\s+remember)?|(?:ping|nudge|alert|notify)\s+me|tell\s+me(?=\s+to\b))\b"
)
_REMIND_AFTER = re.compile(
    r"(?:一下|一声|事项|事情|说|记得|别忘了|提醒我|我(?!们)|要(?=..))"
    r"|(?:to|that|about|re|of|for|me|please|i\s+need\s+to|i\s+have\s+to|i\s+should|i\s+must"
    r"|when\s+it'?s|when\s+it\s+is|(?:remind|tell)\s+me)\b",
    re.ASCII,
)
_REMIND_BEFORE = re.compile(
    r"(?:请|帮我|帮忙|麻烦你?|给我|你)*(?:设置?|新建|创建|建|添加|加|定|来)(?:一个|个|一条|条)"
    r"|(?:请|帮我|帮忙|麻烦你?|给我|你)+"
    r"|(?:(?:please|can\s+you|could\s+you|would\s+you|will\s+you)\s+)*"
    r"(?:set|create|add|make|new|schedule)\s+(?:up\s+)?(?:a|an|one)?\s*(?:new\s+)?",
    re.ASCII,
)
_REMIND_TRAIL_WORDS = (
    r"(?<!酒)吧|呗|啊|呀|哦|哈|噢|嘛|一下|一声|好吗|好不好|行吗|可以吗|行不行|谢谢|谢啦"
    r"|的事情?|这件事|这事儿?|的时候|记得|别忘了|不要忘了|千万别忘了?|帮我|麻烦你?"
    r"|\b(?:please|pls|thanks|thank\s+you|for\s+me|ok|okay|will\s+you|would\s+you|can\s+you"
    r"|at|on|for|by|in|around|the|a|an)"
)
_REMIND_TRAIL = re.compile(rf"(?:[\s,，]*(?:{_REMIND_TRAIL_WORDS}))+$", re.ASCII)
# before 提醒 a value may also end in 的: 设个明天交报告的提醒
_REMIND_BEFORE_TRAIL = re.compile(rf"(?:[\s,，]*(?:{_REMIND_TRAIL_WORDS}|的))+$", re.ASCII)


def _reminder_content(t: _Text) -> Pieces:
    """What to be reminded of: after 提醒我 / "remind me to", else before it (交房租的事明天提醒我)."""
    found = [m for m in (_ZH_REMIND.search(t.low), _EN_REMIND.search(t.low)) if m is not None]
    before_lead = _pattern_lead(_REMIND_BEFORE)
    if not found:
        return _pieces(t, *_trim(t, 0, len(t.low), before_lead, _REMIND_BEFORE_TRAIL))
    trigger = min(found, key=lambda m: m.start())
    a, b = _trim(t, trigger.end(), len(t.low), _pattern_lead(_REMIND_AFTER), _REMIND_TRAIL)
    if b > a:
        return _pieces(t, a, b)
    return _pieces(t, *_trim(t, 0, trigger.start(), before_lead, _REMIND_BEFORE_TRAIL))


def fill_reminder(utt: Utterance, ctx: Context) -> Fill:
    t = _Text.of(utt)
    pieces = _reminder_content(t)
    slots: dict[str, SlotValue] = {}
    moment = _resolve(t.low, ctx, pieces)
    if moment is not None:
        slots["time"] = moment
    content = _value(t, pieces)
    if content:
        slots["content"] = content
    if "time" in slots and "content" in slots:
        return Fill(True, slots, Action("reminder.create", dict(slots)))
    return Fill(False, slots)


# --------------------------------------------------------------------------------------------- events

_ZH_EVENT_POLITE = r"(?:请|麻烦你?|帮我|帮忙|给我|替我|我想|我要|我得|想|要|把它|把|它)"
_ZH_CALENDAR = r"(?:日历|日程表|日程|行程表|行程|备忘录|calendar|schedule|agenda)"
_ZH_EVENT_VERB = (
    r"(?:添加|新建|创建|建立|新增|加上|加入|加|记下|记录|记上|记|标记|标注|标上|写上|写下|约|预定|预约|安排|放|建|设置"
    r"|schedule|add|create|put|book)"
)
_ZH_QUANTITY = r"(?:一下|有一个|有个|一个|个|一条|条|一项|项|一场|场|一次)"
_ZH_EVENT_NOUN = (
    r"(?:日历事件|日程事件|日程安排|日历提醒|事件|活动|条目|日程|日历|安排"
    r"|calendar\s*event|event|会议|meeting)"
)
_TITLE_MARK = r"(?:(?:标题|主题|名称|名字|内容)(?:是|为|叫|:|：)|(?:called|named|titled|title)\b\s*:?)"
_ZH_EVENT_LEAD = re.compile(
    rf"(?P<polite>{_ZH_EVENT_POLITE}*)"
    rf"(?P<place>(?:在|往|到|去)?(?:我的)?{_ZH_CALENDAR}(?:上|里面|里|中)?)?"
    rf"(?P<verb>{_ZH_EVENT_VERB}(?:到|进|在)?(?:我的)?(?:{_ZH_CALENDAR}(?:上|里面|里|中)?)?)?"
    rf"(?P<quantity>{_ZH_QUANTITY})?(?:新的?)?"
    rf"(?P<noun>{_ZH_EVENT_NOUN})?"
    rf"(?P<mark>[\s,，:：]*{_TITLE_MARK})?",
    re.ASCII,
)
_EN_CALENDAR = r"(?:(?:my|the|our)\s+)?(?:calendar|schedule|agenda|diary|planner)"
_EN_EVENT_LEAD = re.compile(
    r"(?P<polite>(?:(?:please|pls|can\s+you|could\s+you|would\s+you|will\s+you|help\s+me|i\s+want\s+to"
    r"|i'd\s+like\s+to|i\s+would\s+like\s+to|i\s+need\s+to|go\s+ahead\s+and|let's|lets"
    r"|i\s+have\s+got|i've\s+got|i\s+got|i\s+have|there's|there\s+is|for|about)\s+)*)"
    r"(?P<verb>(?:add|create|make|set\s+up|setup|schedule|plan|put|book|enter|save|block(?:\s+out)?"
    r"|pencil\s+in|mark|note\s+down|note|new)"
    rf"(?:\s+(?:it|this|that))?(?:\s+(?:(?:to|on|in|into|onto)\s+)?{_EN_CALENDAR})?)?"
    r"(?P<quantity>\s*\b(?:a|an|the|one|some)\b)?(?:\s+new\b)?"
    r"(?P<length>\s*\b\d+(?:\.\d+)?\s*-?\s*(?:minutes?|mins?|hours?|hrs?|h)\b(?:\s+long)?)?"
    r"(?P<noun>\s*\b(?:(?:calendar|schedule)\s+)?(?:event|entry|item|reminder|(?:time\s*)?slot|appointment|meeting)"
    rf"(?:\s+(?:(?:to|on|in|into|onto)\s+)?{_EN_CALENDAR})?(?:\s+(?:for|about)\b(?:\s+(?:a|an|the)\b)?)?)?"
    rf"(?P<mark>[\s,:]*{_TITLE_MARK})?",
    re.ASCII,
)
_EVENT_TRAIL = re.compile(
    rf"(?:[\s,，]*(?:(?:帮我|请|给我)?(?:{_ZH_EVENT_VERB}|放到|放进|写到|存到)?(?:到|进|在|入)?(?:我的)?"
    rf"{_ZH_CALENDAR}(?:上|里面|里|中|当中)?(?:去|吧)?"
    r"|(?<!酒)吧|呗|啊|呀|哦|嘛|一下|好吗|行吗|可以吗|谢谢|帮我|给我|麻烦你?|的时候"
    rf"|\b(?:(?:to|on|in|into|onto)\s+{_EN_CALENDAR}|please|pls|thanks|thank\s+you|for\s+me"
    r"|at|on|for|by|in|around|from|the|a|an)))+$",
    re.ASCII,
)
_GENERIC_TITLE = re.compile(
    r"(?:日程|日历|安排|事件|活动|事情|事|提醒|条目|一项|日历事件|event|an?\s+event|entry|something|it|this|that)",
    re.ASCII,
)
_FALLBACK_TITLE = re.compile(r"会议|会|meeting|appointment|约会", re.ASCII)


_EN_UNSURE_VERB = _rx(r"(?:book|mark|note|new|save|make|enter)\b")
_OBJECT_FOLLOWS = _rx(r"\s(?:for|about|a|an|the)$")


def _event_lead(pattern: re.Pattern[str]) -> Lead:
    """Command words at the start of a clause. A verb or a noun that could begin the title itself is cut
    only where the title cannot go on (约会 and 会议室培训 keep their first characters, and "schedule a
    meeting with John" keeps "meeting with John")."""

    def lead(t: _Text, a: int, b: int) -> int:
        m = pattern.match(t.low, a, b)
        if m is None or m.end() == a:
            return a
        for cut in ("mark", "noun", "length", "quantity", "verb", "place", "polite"):
            end = m.end(cut) if cut in pattern.groupindex else -1
            if end <= a:
                continue
            if cut == "noun":
                noun = m.group("noun")
                if _OBJECT_FOLLOWS.search(noun):  # "a calendar entry for the ..."
                    return end
                meeting = _FALLBACK_TITLE.search(noun) is not None
                if t.boundary(end, b, spans=not meeting):
                    return end
                continue
            verb = m.group("verb") or ""
            place = bool(m.groupdict().get("place"))
            sure_verb = place or (verb.isascii() and not _EN_UNSURE_VERB.match(verb)) or "calendar" in verb
            # a lone 项 / 个 may begin the title (项目评审); 一个, 加个 or "a" may not
            quantity = (m.group("quantity") or "").strip()
            sure_quantity = (
                bool(verb or place or m.group("polite")) or len(quantity) > 1 or quantity.isascii()
            )
            if cut == "quantity" and not sure_quantity and not t.boundary(end, b):
                continue
            if cut in ("mark", "length", "quantity", "polite", "place") or sure_verb or t.boundary(end, b):
                return end
        return a

    return lead


_CLAUSE = re.compile(r"[,，。;；:：!！?？、\n]+|\s+")
_HAN = re.compile(r"[\u3400-\u9fff]")


def _clauses(t: _Text) -> Iterator[tuple[int, int]]:
    """The clauses of a sentence: split at punctuation, and at a space in Chinese (下周三晚上七点 读书会 加到
    日程表) or at a time expression's edge next to Chinese, but not inside "call with 李老师"."""
    start = 0
    for m in _CLAUSE.finditer(t.low):
        if not m.group().isspace():
            yield start, m.start()
            start = m.end()
            continue
        left, right = t.low[m.start() - 1 : m.start()], t.low[m.end() : m.end() + 1]
        both_han = bool(_HAN.match(left)) and bool(_HAN.match(right))
        at_time = any(s.end == m.start() or s.start == m.end() for s in t.spans)
        if both_han or (at_time and bool(_HAN.match(left) or _HAN.match(right))):
            yield start, m.start()
            start = m.end()
    yield start, len(t.low)


def _event_title(t: _Text) -> tuple[str, Pieces]:
    leads = (_event_lead(_ZH_EVENT_LEAD), _event_lead(_EN_EVENT_LEAD))

    def lead(t: _Text, a: int, b: int) -> int:
        return max(one(t, a, b) for one in leads)

    titles: list[tuple[bool, int, int]] = []
    fallback: Pieces = ()
    for start, end in _clauses(t):
        marked = re.search(_TITLE_MARK, t.low[start:end]) is not None
        a, b = _trim(t, start, end, lead, _EVENT_TRAIL)
        if b <= a:
            noun = _FALLBACK_TITLE.search(t.low, start, end)
            if noun is not None and not fallback:
                fallback = (noun.span(),)
            continue
        if _GENERIC_TITLE.fullmatch(t.low, a, b):
            continue
        titles.append((marked, a, b))
    if titles:
        _, a, b = max(titles, key=lambda x: x[0])  # a clause with 标题是 / "called" first, else the first
        pieces = _pieces(t, a, b)
        return _value(t, pieces), pieces
    return _value(t, fallback), fallback


def fill_event(utt: Utterance, ctx: Context) -> Fill:
    t = _Text.of(utt)
    title, pieces = _event_title(t)
    slots: dict[str, SlotValue] = {}
    moment = _resolve(t.low, ctx, pieces)
    if moment is not None:
        slots["time"] = moment
    if title:
        slots["title"] = title
    if "time" in slots and "title" in slots:
        return Fill(True, slots, Action("calendar.create", dict(slots)))
    return Fill(False, slots)


# ------------------------------------------------------------------------------------------- schedule


def fill_schedule(utt: Utterance, ctx: Context) -> Fill:
    day = _day(utt.numeric, ctx.now.date())
    slots: dict[str, SlotValue] = {"date": day.isoformat()} if day else {}
    return Fill(True, slots, Action("calendar.show", dict(slots)))


# --------------------------------------------------------------------------------------- cancel alarm

_WAKING = _rx(r"起床|叫醒|早起|起(?:那么|这么|太|得)?早|\bwake|\bget\s+up\b|\bup\s+early\b")
_ALL = _rx(r"所有|全部|一键|统统|\ball\b|\bevery\s+alarm|\beach\s+alarm")


def fill_cancel_alarm(utt: Utterance, ctx: Context) -> Fill:
    moment = _resolve(utt.numeric, ctx, waking=_WAKING.search(utt.lower) is not None)
    slots: dict[str, SlotValue] = {"time": moment} if moment else {}
    params = dict(slots)
    if not slots and _ALL.search(utt.lower) and _day(utt.numeric, ctx.now.date()) is None:
        params["all"] = True
    return Fill(True, slots, Action("alarm.cancel", params))


# ------------------------------------------------------------------------------------------ date/time

_DATE_TIME_QUERIES: Sequence[tuple[str, re.Pattern[str]]] = (
    (
        "holiday",
        _rx(
            r"春节|元旦|国庆|中秋|端午|清明|除夕|元宵|七夕|重阳|劳动节|五一|十一假|圣诞|情人节|儿童节|妇女节|腊八|小年"
            r"|过年|节假日|法定假|假期|放假|调休|小长假|长假|补班|上班吗|节日|什么节|啥节|哪个节|工作日|休息日|要上班"
            r"|节气|立春|雨水|惊蛰|春分|谷雨|立夏|小满|芒种|夏至|小暑|大暑|立秋|处暑|白露|秋分|寒露|霜降|立冬|小雪|大雪|冬至|小寒|大寒"
            r"|\bwork(?:ing)?\s*day\b|\bbusiness\s+day\b|\bsolar\s+term\b|\bnational\s+day\b|\blabou?r\s+day\b"
            r"|\bmay\s+day\b|\bqingming\b|\btomb[- ]sweeping\b|\bspring\s+festival\b|\bmid-?autumn\b"
            r"|\bdragon\s+boat\b|\blantern\s+festival\b|\bduanwu\b|\bzhongqiu\b|\bchunjie\b|\bguoqing\b"
            r"|\byuandan\b|\bwinter\s+solstice\b|\bsummer\s+solstice\b|\bequinox\b|\bchinese\s+new\s+year\b"
            r"|\bholidays?\b|\bchristmas\b|\bxmas\b|\bnew\s+year|\beaster\b|\bthanksgiving\b|\bvalentine"
            r"|\bhalloween\b|\bfestival\b|\bday\s+off\b|\blong\s+weekend\b|\bgolden\s+week\b"
        ),
    ),
    (
        "lunar",
        _rx(
            r"农历|阴历|旧历|黄历|老历|\blunar\b|\bchinese\s+calendar\b|初[一二三四五六七八九十几]|腊月|正月"
        ),
    ),
    (
        "weekday",
        _rx(
            r"星期几|周几|礼拜几|星期[一二三四五六日天]吗|周[一二三四五六日天]吗|礼拜[一二三四五六日天]吗|是不是(?:周|星期|礼拜)"
            r"|几号星期几|星期|礼拜"
            r"|\bwhat\s+day\b(?!\s+of\s+the\s+month)|\bwhich\s+day\b|\bday\s+of\s+the\s+week\b|\bweekday\b"
            r"|\bis\s+(?:it|today|tomorrow)\s+(?:a\s+)?(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
        ),
    ),
    (
        "date",
        _rx(
            r"几号|几月|几日|多少号|日期|哪天|哪一天|哪年|几年|什么日子|年月日"
            r"|\bdate\b|\bwhat\s+year\b|\bwhat\s+month\b|\bday\s+of\s+the\s+month\b|\bwhich\s+year\b"
        ),
    ),
    ("time", _rx(r"几点|几分|时间|钟点|\btime\b|\bclock\b|\bhour\b|几时")),
)


def fill_date_time(utt: Utterance, ctx: Context) -> Fill:
    query = "time"
    for value, pattern in _DATE_TIME_QUERIES:
        if pattern.search(utt.lower):
            query = value
            break
    slots: dict[str, SlotValue] = {"query": query}
    return Fill(True, slots, Action("clock.show", dict(slots)))


# -------------------------------------------------------------------------------------------- replies


def _moment(slots: Slots) -> datetime:
    return datetime.fromisoformat(str(slots["time"]))


def _when_zh(moment: datetime, now: datetime) -> str:
    return _day_zh(moment.date(), now.date()) + _clock_zh(moment)


def _when_en(moment: datetime, now: datetime) -> str:
    return f"{_day_en(moment.date(), now.date())} at {_clock_en(moment)}"


def _confirm_cancel_alarm(slots: Slots, lang: Lang, now: datetime) -> str:
    if "time" not in slots:
        return "好的，正在为你关闭闹钟" if lang == "zh" else "OK, turning off your alarms."
    moment = _moment(slots)
    if lang == "zh":
        return f"好的，已取消{_when_zh(moment, now)}的闹钟"
    return f"OK, I've turned off the {_clock_en(moment)} alarm {_day_en(moment.date(), now.date())}."


def _ask_cancel_alarm(slots: Slots, lang: Lang) -> str:
    return "要取消哪个闹钟？" if lang == "zh" else "Which alarm should I turn off?"


def _confirm_reminder(slots: Slots, lang: Lang, now: datetime) -> str:
    moment = _moment(slots)
    content = slots["content"]
    if lang == "zh":
        return f"好的，{_when_zh(moment, now)}提醒你{content}"
    return f"OK, I'll remind you {_when_en(moment, now)}: {content}."


def _ask_reminder(slots: Slots, lang: Lang) -> str:
    content = slots.get("content")
    if "time" not in slots:
        if lang == "zh":
            return f"好的，什么时候提醒你{content}？" if content else "好的，什么时候提醒你？"
        return f"Sure, when should I remind you: {content}?" if content else "Sure, when should I remind you?"
    return "好的，要提醒你什么？" if lang == "zh" else "Sure, what should I remind you about?"


def _confirm_event(slots: Slots, lang: Lang, now: datetime) -> str:
    moment = _moment(slots)
    title = slots["title"]
    if lang == "zh":
        return f"好的，已在日历中添加{_when_zh(moment, now)}的“{title}”"
    day = _day_en(moment.date(), now.date(), preposition=False)
    return f"OK, I've added “{title}” to your calendar for {day} at {_clock_en(moment)}."


def _ask_event(slots: Slots, lang: Lang) -> str:
    title = slots.get("title")
    if "time" not in slots:
        if lang == "zh":
            return f"好的，“{title}”安排在什么时间？" if title else "好的，这个日程安排在什么时间？"
        return f"Sure, when is “{title}”?" if title else "Sure, when is the event?"
    return "好的，这个日程叫什么？" if lang == "zh" else "Sure, what should I call the event?"


def _confirm_schedule(slots: Slots, lang: Lang, now: datetime) -> str:
    if "date" not in slots:
        return "正在为你打开日程" if lang == "zh" else "Opening your calendar."
    day = date.fromisoformat(str(slots["date"]))
    delta = (day - now.date()).days
    if lang == "zh":
        named = "昨天" if delta == -1 else _day_zh(day, now.date())
        return f"正在为你查看{named}的日程"
    named = "yesterday" if delta == -1 else _day_en(day, now.date(), preposition=False)
    return f"Here's your schedule for {named}."


def _ask_schedule(slots: Slots, lang: Lang) -> str:
    return "你想查看哪一天的日程？" if lang == "zh" else "Which day's schedule would you like to see?"


def _confirm_date_time(slots: Slots, lang: Lang, now: datetime) -> str:
    query = slots.get("query")
    today = now.date()
    weekday_zh = "星期" + _WEEKDAY_ZH[today.weekday()]
    if query == "date":
        if lang == "zh":
            return f"今天是{today.year}年{today.month}月{today.day}日，{weekday_zh}"
        return f"Today is {today:%A}, {today:%B} {today.day}, {today.year}."
    if query == "weekday":
        return f"今天是{weekday_zh}" if lang == "zh" else f"Today is {today:%A}."
    if query == "lunar":
        return "正在为你打开日历查看农历" if lang == "zh" else "Opening the calendar to show the lunar date."
    if query == "holiday":
        return "正在为你查看节假日安排" if lang == "zh" else "Checking the public holiday calendar."
    return f"现在是{_clock_zh(now)}" if lang == "zh" else f"It's {_clock_en(now)}."


def _ask_date_time(slots: Slots, lang: Lang) -> str:
    return "你想知道时间还是日期？" if lang == "zh" else "Would you like the time or the date?"


SKILLS: tuple[Skill, ...] = (
    Skill("cancel_alarm", fill_cancel_alarm, _confirm_cancel_alarm, _ask_cancel_alarm),
    Skill("set_reminder", fill_reminder, _confirm_reminder, _ask_reminder),
    Skill("create_event", fill_event, _confirm_event, _ask_event),
    Skill("check_schedule", fill_schedule, _confirm_schedule, _ask_schedule),
    Skill("date_time", fill_date_time, _confirm_date_time, _ask_date_time),
)
