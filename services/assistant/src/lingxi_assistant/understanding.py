"""The assistant's local intent engine: from a sentence to intent, slots, device action and reply.

Pure domain code: no I/O and no clock (the caller passes ``now``).

Pipeline: normalise (:mod:`.lang`) → propose intents (:mod:`.classifier`) → fill each candidate's slots
(:mod:`.slots`) → keep the best → choose the reply language → word the reply (:mod:`.replies`).

What ``confidence`` means (a candidate's cue strength times how far its slots got):

=====================================================  ======  ==============================
cue                                                    slots   confidence
=====================================================  ======  ==============================
strong (闹钟, "timer", 打电话, 天气)                   all     0.9  → action
weak (叫我, 定时, "umbrella")                          all     0.72 → action
strong                                                 missing 0.6  → no action, a question
weak                                                   missing 0.48 → not_understood
two intents within 0.05 of each other                          −0.1
nothing usable; a cue that fell short                          0.0; 0.2 (not_understood)
=====================================================  ======  ==============================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from lingxi_assistant import replies
from lingxi_assistant.classifier import UNSUPPORTED_REMINDER, Candidate, IntentClassifier, KeywordClassifier
from lingxi_assistant.lang import Lang, Utterance, detect_lang, has_words, locale_lang
from lingxi_assistant.model import INTENTS, Action, SlotValue, Understanding
from lingxi_assistant.slots import FILLERS, Context, Fill, Filler

__all__ = [
    "ENGINE_NAME",
    "INTENTS",
    "Action",
    "RuleEngine",
    "SlotValue",
    "Understanding",
    "understand",
    "warm_up",
]

ENGINE_NAME = "local-rules"

COMPLETE = 0.9
INCOMPLETE = 0.6
THRESHOLD = 0.5
AMBIGUITY_MARGIN = 0.05
AMBIGUITY_PENALTY = 0.1
FELL_SHORT = 0.2


@dataclass(frozen=True)
class _Scored:
    confidence: float
    candidate: Candidate
    fill: Fill


class RuleEngine:
    """Classifier plus slot fillers; swap either part to build another engine."""

    def __init__(
        self, classifier: IntentClassifier | None = None, fillers: Mapping[str, Filler] = FILLERS
    ) -> None:
        self._classifier = classifier or KeywordClassifier()
        self._fillers = fillers

    def understand(
        self, text: str, locale: str, now: datetime, timezone: str = "Asia/Shanghai"
    ) -> Understanding:
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        tz = ZoneInfo(timezone)
        ctx = Context(now=now.astimezone(tz), tz=tz)
        utt = Utterance.of(text)
        fallback = locale_lang(locale)
        if not has_words(utt.text):
            return _not_understood(detect_lang(utt.text, fallback), 0.0)

        scored: list[_Scored] = []
        reminder = False
        for candidate in self._classifier.classify(utt):
            filler = self._fillers.get(candidate.intent)
            if filler is None:
                reminder = reminder or candidate.intent == UNSUPPORTED_REMINDER
                continue
            fill = filler(utt, ctx)
            factor = COMPLETE if fill.complete else INCOMPLETE
            scored.append(_Scored(candidate.strength * factor, candidate, fill))
        scored.sort(key=lambda s: s.confidence, reverse=True)  # stable: equal scores keep classifier order

        best = scored[0] if scored else None
        # "提醒我给妈妈打电话" asks for later, not now: only an alarm may stand in for a reminder.
        if best is None or best.confidence < THRESHOLD or (reminder and best.candidate.intent != "set_alarm"):
            lang = detect_lang(utt.text, fallback)
            return _not_understood(lang, FELL_SHORT if scored or reminder else 0.0, reminder)

        confidence = best.confidence
        if len(scored) > 1 and scored[1].confidence >= confidence - AMBIGUITY_MARGIN:
            confidence -= AMBIGUITY_PENALTY
        intent, fill = best.candidate.intent, best.fill
        lang = detect_lang(utt.text, fallback, ignore=fill.names)
        if fill.complete:
            reply = replies.confirm(intent, fill.slots, lang, ctx.now)
        else:
            reply = replies.ask(intent, fill.slots, lang)
        return Understanding(
            intent=intent,
            confidence=round(confidence, 2),
            slots=dict(fill.slots),
            action=fill.action if fill.complete else None,
            reply_text=reply,
        )


def _not_understood(lang: Lang, confidence: float, reminder: bool = False) -> Understanding:
    return Understanding("not_understood", confidence, {}, None, replies.not_understood(lang, reminder))


_ENGINE = RuleEngine()


def understand(text: str, locale: str, now: datetime, timezone: str = "Asia/Shanghai") -> Understanding:
    """Understand one request.

    ``locale`` is the device UI language ("zh-CN" or "en-US"); the text may be Chinese, English or mixed,
    and the reply follows the language of the text (the locale breaks ties). ``now`` must be
    timezone-aware; every time slot is resolved from it to an absolute ISO 8601 time in ``timezone``
    (an IANA name; an unknown one raises ``zoneinfo.ZoneInfoNotFoundError``)."""
    return _ENGINE.understand(text, locale, now, timezone)


def warm_up() -> None:
    """Load what the first request would otherwise load (dateparser's English data: ~150 ms).

    Optional; call it once at service start-up so the first user does not wait."""
    _ENGINE.understand("weather tomorrow", "en-US", datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC")), "UTC")
