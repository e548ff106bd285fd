"""The assistant's local engine: from a sentence to intent, slots, device action and reply.

The engine is pure domain code: no I/O and no clock (the caller passes ``now``). Only
``default_engine()`` touches the file system: it reads the fitted model from its cache (:mod:`.model_cache`).

Pipeline: normalise (:mod:`.lang`) → the classifier proposes up to three intents with probabilities
(:mod:`.learned`, trained on the labelled data set) → each proposed intent's skill fills its slots
(:mod:`.skills`) → the best of probability × completeness wins → the reply in the language of the text.

Text with nothing to understand (only symbols, emoji or punctuation) is ``out_of_scope`` outright, and so
is a device action aimed at another device or a past time (:mod:`.scope`).

What ``confidence`` means: the winning intent's probability, times 0.6 when a slot its action needs is
missing (the engine then asks for it instead of acting). Below ``UNSURE`` the engine does not guess:
the intent is ``not_understood`` and the service may ask a model partner. ``open_question`` means a
question to answer in words (a model partner's job); ``out_of_scope`` a request the assistant
declines.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo

from lingxi_assistant import dataset, replies
from lingxi_assistant.classifier import Candidate, IntentClassifier, KeywordClassifier
from lingxi_assistant.lang import Lang, Utterance, detect_lang, has_words, locale_lang
from lingxi_assistant.learned import LearnedClassifier, universal_sentence_encoder
from lingxi_assistant.model import (
    INTENTS,
    NOT_UNDERSTOOD,
    OPEN_QUESTION,
    OUT_OF_SCOPE,
    Action,
    SlotValue,
    Understanding,
)
from lingxi_assistant.model_cache import cached_classifier
from lingxi_assistant.scope import refusal
from lingxi_assistant.skills import Skill, registry
from lingxi_assistant.slots import Context, Fill

__all__ = [
    "ENGINE_NAME",
    "INTENTS",
    "Action",
    "Engine",
    "SlotValue",
    "Understanding",
    "understand",
    "warm_up",
]

ENGINE_NAME = "local-nlu"

UNSURE = 0.4
INCOMPLETE = 0.6
BARE_COMMAND = 0.9
_COMMAND_WORDS = re.compile(
    r"打开|开启|启动|进入|切换到|切到|帮我|给我|麻烦|请|一下|吧|呗|\b(?:open|launch|start|up|please|the|app)\b",
    re.IGNORECASE,
)
_WORDS_ONLY = frozenset({OPEN_QUESTION, OUT_OF_SCOPE})


@dataclass(frozen=True)
class _Scored:
    confidence: float
    intent: str
    fill: Fill | None


class Engine:
    """A classifier plus the skills; swap either to build another engine."""

    def __init__(self, classifier: IntentClassifier, skills: Mapping[str, Skill] | None = None) -> None:
        self._classifier = classifier
        self._skills = registry() if skills is None else dict(skills)

    def understand(
        self,
        text: str,
        locale: str,
        now: datetime,
        timezone: str = "Asia/Shanghai",
        *,
        usual_apps: Mapping[str, str] | None = None,
    ) -> Understanding:
        """``usual_apps``: category code → the app the user usually uses for it (``Context.usual_apps``)."""
        utt = Utterance.of(text)
        candidates = self._classifier.classify(utt) if has_words(utt.text) else []
        return self._decide(utt, candidates, locale, now, timezone, usual_apps or {})

    def understand_many(
        self,
        requests: Sequence[tuple[str, str, datetime, str]],
        *,
        usual_apps: Sequence[Mapping[str, str]] | None = None,
    ) -> list[Understanding]:
        """``understand`` for many (text, locale, now, timezone) at once: one classifier pass.
        ``usual_apps``, when given, holds each request's user's usual apps, in the same order."""
        utterances = [Utterance.of(text) for text, *_ in requests]
        if isinstance(self._classifier, LearnedClassifier):
            rows = self._classifier.probabilities(utterances)
            proposals = [self._classifier.candidates(row) for row in rows]
        else:
            proposals = [self._classifier.classify(u) for u in utterances]
        apps: Sequence[Mapping[str, str]] = [{}] * len(requests) if usual_apps is None else usual_apps
        return [
            self._decide(utt, found if has_words(utt.text) else [], locale, now, tz, usual)
            for utt, found, (_, locale, now, tz), usual in zip(
                utterances, proposals, requests, apps, strict=True
            )
        ]

    def _decide(
        self,
        utt: Utterance,
        candidates: Sequence[Candidate],
        locale: str,
        now: datetime,
        timezone: str,
        usual_apps: Mapping[str, str],
    ) -> Understanding:
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        tz = ZoneInfo(timezone)
        fallback = locale_lang(locale)
        try:
            local_now = now.astimezone(tz)
        except OverflowError:  # an instant at the end of the calendar: no time can be said from it
            reply = replies.not_understood(detect_lang(utt.text, fallback))
            return Understanding(NOT_UNDERSTOOD, 0.0, {}, None, reply)
        ctx = Context(now=local_now, tz=tz, usual_apps=usual_apps)
        if not has_words(utt.text):
            # Only symbols, emoji or punctuation: nothing a model partner could make sense of either, so
            # it is declined here (the contract's gibberish) and no partner call is spent on it.
            reply = replies.not_understood(detect_lang(utt.text, fallback))
            return Understanding(OUT_OF_SCOPE, 1.0, {}, None, reply)
        scored: list[_Scored] = []
        for candidate in candidates:
            if candidate.intent in _WORDS_ONLY:
                scored.append(_Scored(candidate.strength, candidate.intent, None))
                continue
            skill = self._skills.get(candidate.intent)
            if skill is None:
                continue
            try:
                fill = skill.fill(utt, ctx)
            except (OverflowError, ValueError):
                # Numbers or dates past what a calendar holds ("set a timer for 1e305 hours"): this
                # intent's slots cannot be read, so it is not this intent, and the others still count.
                continue
            confidence = candidate.strength * (1.0 if fill.complete else INCOMPLETE)
            if candidate.intent == "open_app" and fill.complete and _only_names(utt, fill):
                # "打开支付宝" is opening Alipay, however often 支付宝 comes with paying in the data.
                confidence = max(confidence, BARE_COMMAND)
            scored.append(_Scored(confidence, candidate.intent, fill))
        best = max(scored, key=lambda s: s.confidence, default=None)  # first of equals: classifier order
        if best is None or best.confidence < UNSURE:
            confidence = best.confidence if best else 0.0
            lang = detect_lang(utt.text, fallback)
            return Understanding(NOT_UNDERSTOOD, round(confidence, 2), {}, None, replies.not_understood(lang))
        if why := refusal(best.intent, utt):
            lang = detect_lang(utt.text, fallback)
            return Understanding(OUT_OF_SCOPE, round(best.confidence, 2), {}, None, replies.cannot(why, lang))
        if best.fill is None:
            lang = detect_lang(utt.text, fallback)
            reply = replies.out_of_scope(lang) if best.intent == OUT_OF_SCOPE else replies.needs_online(lang)
            return Understanding(best.intent, round(best.confidence, 2), {}, None, reply)
        skill, fill = self._skills[best.intent], best.fill
        lang = detect_lang(utt.text, fallback, ignore=fill.names)
        if fill.complete:
            reply = skill.confirm({**fill.slots, **fill.shown}, lang, ctx.now)
        else:
            reply = skill.ask(fill.slots, lang)
        return Understanding(
            intent=best.intent,
            confidence=round(best.confidence, 2),
            slots=dict(fill.slots),
            action=fill.action if fill.complete else None,
            reply_text=reply,
        )


def _only_names(utt: Utterance, fill: Fill) -> bool:
    """Whether the sentence is nothing but command words and the names the filler found."""
    rest = utt.lower
    for name in fill.names:
        rest = rest.replace(name.lower(), " ")
    return not re.search(r"\w", _COMMAND_WORDS.sub(" ", rest))


@cache
def default_classifier() -> IntentClassifier:
    """Learned from the train split of the packaged data set: fitted once per machine (about ten
    seconds), then read from the cache (:mod:`.model_cache`)."""
    examples = dataset.split("train")
    if not examples:  # a build without the data set still answers the basic intents
        return KeywordClassifier()
    return cached_classifier(examples, universal_sentence_encoder())


@cache
def default_engine() -> Engine:
    return Engine(default_classifier())


def understand(
    text: str,
    locale: str,
    now: datetime,
    timezone: str = "Asia/Shanghai",
    *,
    usual_apps: Mapping[str, str] | None = None,
) -> Understanding:
    """Understand one request.

    ``locale`` is the device UI language ("zh-CN" or "en-US"); the text may be Chinese, English or mixed,
    and the reply follows the language of the text (the locale breaks ties). ``now`` must be
    timezone-aware; every time slot is resolved from it to an absolute ISO 8601 time in ``timezone``
    (an IANA name; an unknown one raises ``zoneinfo.ZoneInfoNotFoundError``). ``usual_apps`` (category
    code → app id, e.g. ``{"food_delivery": "eleme"}``) is the app to open when the user names none."""
    return default_engine().understand(text, locale, now, timezone, usual_apps=usual_apps)


def warm_up() -> None:
    """Train the classifier and load date data now rather than on the first user's request."""
    engine = default_engine()
    engine.understand("weather tomorrow", "en-US", datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC")), "UTC")


def reply_language(text: str, locale: str) -> Lang:
    return detect_lang(Utterance.of(text).text, locale_lang(locale))
