"""Numbers as people say them: Chinese numerals and spelled-out English numbers.

Two small, maintained libraries do the conversion; this module only decides *where* to apply them.

``cn2an`` (0.5.24, MIT, ~200 KB with its one dependency ``proces``; import 0.14 s, 0.05 ms a call)
    Converts one Chinese numeral token: 七 → 7, 十五 → 15, 两 → 2, 零五 → 5, 一百二十 → 120.
    We deliberately do **not** use ``cn2an.transform`` on whole sentences: it reads 点 as a decimal point
    (三点一刻 → "3.1刻", 两点零五分 → "2.05分") and 一个半小时 → "1个0.5小时". Instead the time grammar in
    :mod:`lingxi_assistant.timeparse` finds the numeral tokens itself and converts each with :func:`zh_int`.

``text2num`` (3.1.0, MIT, Rust core, ~0.9 MB; import 0.01 s, 1 µs a call)
    ``alpha2digit`` rewrites spelled numbers inside English text: "ten minutes" → "10 minutes",
    "six thirty" → "6 30", "one hundred and twenty seconds" → "120 seconds". With the default
    ``threshold=3`` it leaves "one"/"two" alone ("two hours" stays), so we pass ``threshold=0``.
    ``word2number`` (last release 2017) was the alternative; it only converts a whole string that *is* a
    number, so it would need a hand-written tokenizer around it.
"""

from __future__ import annotations

import re
from functools import lru_cache

import cn2an
from text_to_num import alpha2digit

ZH_DIGITS = "零〇一二两三四五六七八九十百"
"""Characters that can make up a Chinese numeral in the expressions we parse (times, durations, days)."""

NUM = rf"(?:\d+|[{ZH_DIGITS}]+)"
"""Regex fragment: an Arabic or a Chinese integer (no groups)."""


@lru_cache(maxsize=512)
def zh_int(token: str) -> int | None:
    """An integer written in Arabic digits or Chinese numerals, or None when it is not a well-formed one."""
    token = token.strip()
    if not token:
        return None
    if token.isdigit():
        return int(token)
    try:
        value = cn2an.cn2an(token, "smart")
    except (ValueError, KeyError, IndexError):
        return None
    if isinstance(value, int):  # exact, however large: a float would round past 2**53
        return value
    number = float(value)
    return int(number) if number.is_integer() else None


_HAS_LATIN = re.compile(r"[A-Za-z]")


def en_digits(text: str) -> str:
    """``text`` with spelled English numbers written as digits ("ten minutes" → "10 minutes").

    Text without Latin letters is returned unchanged (and quickly)."""
    if not _HAS_LATIN.search(text):
        return text
    return str(alpha2digit(text, "en", threshold=0))
