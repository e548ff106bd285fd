"""Skills: what the engine can do once it knows the intent.

A skill bundles, for one intent, the slot filler (from the sentence to slots and the device action)
and the replies in Chinese and English. The classifier decides *which* intent; the skill decides
*what exactly*. Each group of related intents lives in its own module here and exports ``SKILLS``;
``registry()`` gathers them. Pure domain code: no I/O, no clock (``Context.now`` is given).

Contract for every skill (docs/assistant-intents.md has the slot formats):
- ``fill(utterance, context) -> Fill``: ``complete`` is True when every slot the action needs was
  found; the action is set only then. Never raises on odd input.
- ``confirm(slots, lang, now) -> str``: a short reply saying what the phone will do, in ``lang``
  (the engine passes the slots plus ``Fill.shown``, e.g. the app chosen for the user).
- ``ask(slots, lang) -> str``: the question to ask when a needed slot is missing, in ``lang``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from lingxi_assistant.lang import Lang
from lingxi_assistant.model import SlotValue
from lingxi_assistant.slots import Filler

Slots = Mapping[str, SlotValue]


@dataclass(frozen=True)
class Skill:
    intent: str
    fill: Filler
    confirm: Callable[[Slots, Lang, datetime], str]
    ask: Callable[[Slots, Lang], str]


def registry() -> dict[str, Skill]:
    """Every skill by intent."""
    # Imported here: the skill modules import this module for ``Skill``.
    from lingxi_assistant.skills import core, device, organiser, services, tools

    modules = [core, device, organiser, services, tools]
    skills: dict[str, Skill] = {}
    for module in modules:
        for skill in module.SKILLS:
            if skill.intent in skills:
                raise ValueError(f"two skills for {skill.intent}")
            skills[skill.intent] = skill
    return skills
