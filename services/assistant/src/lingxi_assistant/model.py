"""The result types of understanding. Re-exported by :mod:`lingxi_assistant.understanding`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

SlotValue = str | int | float | bool

# docs/assistant-intents.md describes each intent and its slots.
DEVICE_INTENTS: tuple[str, ...] = (
    "set_alarm",
    "cancel_alarm",
    "set_timer",
    "set_reminder",
    "create_event",
    "check_schedule",
    "call_contact",
    "send_message",
    "open_app",
    "toggle_setting",
    "set_brightness",
    "set_volume",
    "battery_status",
    "weather",
    "navigate",
    "book_taxi",
    "order_food",
    "shopping_search",
    "scan_to_pay",
    "play_music",
    "media_control",
    "translate",
    "calculate",
    "convert_unit",
    "convert_currency",
    "date_time",
    "web_search",
    "search_photos",
    "take_photo",
    "take_screenshot",
    "track_package",
)
OPEN_QUESTION = "open_question"
"""Answered in words by a model partner, not by the device."""
OUT_OF_SCOPE = "out_of_scope"
"""A request the assistant cannot carry out: declined honestly."""
NOT_UNDERSTOOD = "not_understood"
"""The engine could not tell (never a label in the data)."""
INTENTS: tuple[str, ...] = (*DEVICE_INTENTS, OPEN_QUESTION, OUT_OF_SCOPE, NOT_UNDERSTOOD)

_ACTION_NAME = re.compile(r"^[a-z][a-z0-9_.]*$")


def _check_values(where: str, values: dict[str, SlotValue]) -> None:
    for key, value in values.items():
        if not isinstance(key, str) or not isinstance(value, str | int | float | bool):
            raise TypeError(f"{where}[{key!r}] must be a str, int, float or bool, not {type(value).__name__}")


@dataclass(frozen=True)
class Action:
    """What the device should execute, e.g. ``Action("alarm.set", {"time": "2026-11-26T07:00:00+08:00"})``."""

    name: str
    params: dict[str, SlotValue]

    def __post_init__(self) -> None:
        if not _ACTION_NAME.match(self.name):
            raise ValueError(f"action name {self.name!r} does not match {_ACTION_NAME.pattern}")
        _check_values("params", self.params)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "params": dict(self.params)}


@dataclass(frozen=True)
class Understanding:
    intent: str  # one of INTENTS
    confidence: float  # 0..1
    slots: dict[str, SlotValue]  # JSON-ready; times as ISO 8601 with offset
    action: Action | None  # None when there is nothing for the device to do
    reply_text: str  # in the language of the text (else the device locale's)

    def __post_init__(self) -> None:
        if self.intent not in INTENTS:
            raise ValueError(f"unknown intent {self.intent!r}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence {self.confidence} is outside 0..1")
        _check_values("slots", self.slots)

    def to_dict(self) -> dict[str, Any]:
        return {
            "intent": self.intent,
            "confidence": self.confidence,
            "slots": dict(self.slots),
            "action": self.action.to_dict() if self.action else None,
            "reply_text": self.reply_text,
        }
