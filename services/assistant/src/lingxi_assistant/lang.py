"""Text normalisation and "which language is this sentence in".

No library: the question here is narrow (Chinese, English, or a mix of the two, for a reply language),
and two character counts answer it. General language identifiers (``langdetect``, ``fasttext``) are
built for longer text and guess poorly on four-character commands like 打开微信.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from lingxi_assistant.numerals import en_digits

Lang = Literal["zh", "en"]

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_SPACES = re.compile(r"\s+")


def locale_lang(locale: str) -> Lang:
    """The language of a UI locale such as ``zh-CN``, ``zh_Hans`` or ``en-US`` (anything else: English)."""
    return "zh" if locale.strip().lower().startswith("zh") else "en"


def normalize(text: str) -> str:
    """NFKC (full-width digits, letters, colon and comma become ASCII), trimmed, runs of spaces collapsed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip()


def detect_lang(text: str, fallback: Lang, ignore: Iterable[str] = ()) -> Lang:
    """The language a reply to ``text`` should be in.

    Chinese is counted in words of about two characters, English in words; the larger count wins and a
    tie (including no words at all) falls back to ``fallback``. Names that read the same in both languages
    (``ignore``: app or city names found in the text) are removed first, so 打开 WeChat is Chinese and
    open 微信 is English.
    """
    for name in ignore:
        if name:
            text = re.sub(re.escape(name), " ", text, flags=re.IGNORECASE)
    zh_words = len(_HAN.findall(text)) / 2
    en_words = len(_LATIN_WORD.findall(text))
    if zh_words > en_words:
        return "zh"
    if en_words > zh_words:
        return "en"
    return fallback


def has_han(text: str) -> bool:
    return _HAN.search(text) is not None


def has_words(text: str) -> bool:
    """Whether the text has anything to understand: a Chinese character, a Latin letter or a digit."""
    return has_han(text) or re.search(r"[A-Za-z0-9]", text) is not None


@dataclass(frozen=True)
class Utterance:
    """One user sentence in the forms the rules need."""

    raw: str
    text: str  # normalised, original case (names are taken from here)
    lower: str  # normalised, lower case (keyword rules match here)
    numeric: str  # lower case with spelled English numbers as digits (time and duration rules)

    @classmethod
    def of(cls, raw: str) -> Utterance:
        text = normalize(raw)
        lower = text.lower()
        return cls(raw=raw, text=text, lower=lower, numeric=en_digits(lower))
