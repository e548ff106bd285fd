"""Which intents a sentence may carry, before any slot is looked at.

The classifier only proposes candidates with a cue strength; slot filling (:mod:`lingxi_assistant.slots`)
then decides which candidate holds up. Anything with a ``classify(utterance)`` method returning
:class:`Candidate` objects is a classifier: the engine's default is the learned one
(:mod:`lingxi_assistant.learned`); :class:`KeywordClassifier` is its fallback in a build without the
labelled data set, and covers the first five intents only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from lingxi_assistant.lang import Utterance

STRONG = 1.0
"""A cue that on its own names the intent: 闹钟, "timer", 打电话, 天气."""
WEAK = 0.8
"""A cue that suggests the intent but also appears elsewhere: 叫我, 定时, "umbrella"."""

UNSUPPORTED_REMINDER = "reminder"
"""Not an intent of this engine: proposed so that 十分钟后提醒我 is declined, not taken for a timer."""


@dataclass(frozen=True)
class Candidate:
    intent: str
    strength: float  # STRONG or WEAK (or a model score in 0..1)
    cue: str  # what was matched, for logs and tests


class IntentClassifier(Protocol):
    def classify(self, utterance: Utterance) -> list[Candidate]:
        """Candidates, strongest first; an empty list when nothing matched."""
        ...


@dataclass(frozen=True)
class Cue:
    pattern: re.Pattern[str]
    strength: float


def _cues(strength: float, *patterns: str) -> list[Cue]:
    # re.ASCII: \b must see a break between 的 and "alarm" in 帮我set一个明天7点的alarm
    return [Cue(re.compile(p, re.ASCII), strength) for p in patterns]


# Patterns match Utterance.lower (NFKC, lower case). English words carry \b; Chinese has no word breaks.
DEFAULT_RULES: Mapping[str, Sequence[Cue]] = {
    "set_alarm": [
        *_cues(STRONG, r"闹钟|闹铃|叫醒|起床", r"\balarms?\b", r"\bwake\s+(?:me|us)\b", r"\bwake[- ]?up\b"),
        *_cues(WEAK, r"[叫喊]我"),
    ],
    "set_timer": [
        *_cues(STRONG, r"计时|倒数", r"\btimers?\b", r"\bcount\s*down\b"),
        *_cues(WEAK, r"定时"),
    ],
    "open_app": [
        *_cues(
            STRONG, r"打开|开启|启动|运行|进入|切换到|开一下|帮我开|^开", r"\b(?:open|launch|start|run)\b"
        ),
        *_cues(STRONG, r"\b(?:go\s+to|bring\s+up|switch\s+to)\b"),
    ],
    "call_contact": [
        *_cues(
            STRONG, r"打电话|打个电话|打一个电话|打通电话|打给|拨打|拨给|拨通|呼叫|致电|视频通话|语音通话"
        ),
        *_cues(STRONG, r"给.{1,12}?[打拨挂].{0,3}电话", r"\b(?:call|phone|dial|ring|telephone|facetime)\b"),
    ],
    "weather": [
        *_cues(STRONG, r"天气|气温|下雨|下雪|降雨|降温|预报|雾霾|空气质量"),
        *_cues(STRONG, r"\b(?:weather|forecast|temperature|rain(?:ing|y)?|snow(?:ing|y)?)\b"),
        *_cues(WEAK, r"带伞|冷不冷|热不热|刮风|几度|多少度", r"\b(?:umbrella|sunny|how\s+(?:hot|cold))\b"),
    ],
    UNSUPPORTED_REMINDER: _cues(STRONG, r"提醒", r"\bremind\b|\breminder\b"),
}


class KeywordClassifier:
    """Proposes each intent whose strongest cue is found in the sentence."""

    def __init__(self, rules: Mapping[str, Sequence[Cue]] = DEFAULT_RULES) -> None:
        self._rules = rules

    def classify(self, utterance: Utterance) -> list[Candidate]:
        found: list[Candidate] = []
        for intent, cues in self._rules.items():
            best: Candidate | None = None
            for cue in cues:
                m = cue.pattern.search(utterance.lower)
                if m and (best is None or cue.strength > best.strength):
                    best = Candidate(intent, cue.strength, m.group())
            if best is not None:
                found.append(best)
        return sorted(found, key=lambda c: c.strength, reverse=True)
