"""The first five skills (alarm, timer, open app, call, weather), over the fillers in ``slots.py`` and
the replies in ``replies.py``."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from lingxi_assistant import replies
from lingxi_assistant.lang import Lang
from lingxi_assistant.skills import Skill, Slots
from lingxi_assistant.slots import FILLERS


def _confirm(intent: str, slots: Slots, lang: Lang, now: datetime) -> str:
    return replies.confirm(intent, slots, lang, now)


def _ask(intent: str, slots: Slots, lang: Lang) -> str:
    return replies.ask(intent, slots, lang)


SKILLS: tuple[Skill, ...] = tuple(
    Skill(intent, filler, partial(_confirm, intent), partial(_ask, intent))
    for intent, filler in FILLERS.items()
)
