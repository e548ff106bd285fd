"""The labelled utterances the intent classifier learns from and is measured on.

``data/nlu/zh.jsonl`` and ``en.jsonl`` hold ``{"text", "intent", "slots"}`` lines written against
docs/assistant-intents.md; ``unseen.jsonl`` (with a ``locale`` each) is a separate, never-trained set
of real-world-style requests. Train and test are split by utterance with a stable hash of the text, so
the split never changes when lines are added elsewhere and an utterance is never in both.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Literal

from lingxi_assistant.model import SlotValue

Split = Literal["train", "test"]
REFERENCE_NOW = "2026-11-25T10:00:00+08:00"
"""The moment every time slot in the data is resolved from (a Wednesday, Asia/Shanghai)."""
REFERENCE_TZ = "Asia/Shanghai"
TEST_SHARE = 5
"""One utterance in five goes to the test split."""

_FILES = {"zh.jsonl": "zh-CN", "en.jsonl": "en-US"}


@dataclass(frozen=True)
class Example:
    text: str
    locale: str
    intent: str
    slots: dict[str, SlotValue] = field(default_factory=dict)
    source: str = ""

    @property
    def split(self) -> Split:
        digest = hashlib.sha1(self.text.strip().lower().encode()).digest()
        return "test" if digest[0] % TEST_SHARE == 0 else "train"


def _read(name: str, default_locale: str | None) -> Iterator[Example]:
    path = resources.files("lingxi_assistant").joinpath("data", "nlu", name)
    if not path.is_file():
        return
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            locale = row.get("locale", default_locale)
            yield Example(row["text"], locale, row["intent"], dict(row.get("slots", {})), f"{name}:{number}")
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"data/nlu/{name} line {number}: {error}") from error


@cache
def labelled() -> tuple[Example, ...]:
    """Every labelled utterance of the zh and en sets, duplicates (same text) dropped."""
    seen: set[str] = set()
    out: list[Example] = []
    for name, locale in _FILES.items():
        for example in _read(name, locale):
            key = _key(example.text)
            if key not in seen:
                seen.add(key)
                out.append(example)
    return tuple(out)


def split(which: Split) -> tuple[Example, ...]:
    return tuple(e for e in labelled() if e.split == which)


@cache
def unseen() -> tuple[Example, ...]:
    """The real-world check set, less any sentence that also appears in the labelled set (short ones
    such as 截屏 were written independently by both): what is measured on it was never trained on."""
    known = {_key(e.text) for e in labelled()}
    return tuple(e for e in _read("unseen.jsonl", None) if _key(e.text) not in known)


def _key(text: str) -> str:
    return "".join(text.lower().split())


def intents_of(examples: Sequence[Example]) -> list[str]:
    return sorted({e.intent for e in examples})
