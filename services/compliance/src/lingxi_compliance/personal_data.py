"""Detection and redaction of personal data in Chinese and English text. Pure: no I/O.

Four kinds, each confirmed by more than its shape:
- ``mobile``: a mainland mobile number, 11 digits starting ``1[3-9]``, optionally grouped 3-4-4 with
  spaces or dashes and optionally prefixed ``+86`` / ``0086`` / ``86``;
- ``resident_id``: an 18-character resident identity number with a valid GB 11643 check code and a
  real birth date (positions 7-14) between 1900-01-01 and ``today``;
- ``bank_card``: 16-19 digits, contiguous or in groups of four (spaces or dashes), valid by Luhn;
- ``email``: an ASCII address.

A number is never taken from inside a longer digit run: a candidate may not touch another digit,
nor a dash followed by a digit (``2026-13800138000`` is one token, an order number or the like).

Full-width and other compatibility forms count as what NFKC makes of them (``１３８…``, ``＠``,
the ideographic space). Only characters that NFKC turns into exactly one ASCII character are folded,
so the folded text is as long as the original and every offset in it is an offset in the original:
spans are reported, and redacted, in the text the caller passed.

A :class:`Finding` carries a masked preview only, never the value; ``text[f.start:f.end]`` gives the
value to a caller that holds the text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Literal

PersonalDataKind = Literal["mobile", "resident_id", "bank_card", "email"]


@dataclass(frozen=True, slots=True)
class Finding:
    kind: PersonalDataKind
    start: int
    """Offset of the first character in the original text."""
    end: int
    """Offset one past the last character in the original text."""
    preview: str
    """The value with most of it masked, e.g. ``138****8000``; safe to log."""


def find(text: str, *, today: date) -> list[Finding]:
    """Personal data in ``text``, in order of position, without overlaps.

    Where candidates overlap the longest wins; at equal length resident_id beats bank_card beats
    mobile beats email. ``today`` bounds the birth date of a resident identity number.
    """
    folded = _fold(text)
    candidates: list[Finding] = []
    candidates.extend(_mobiles(folded))
    candidates.extend(_resident_ids(folded, today))
    candidates.extend(_bank_cards(folded))
    if "@" in folded:
        candidates.extend(_emails(folded))
    return _resolve(candidates)


def redact(text: str, *, today: date) -> tuple[str, list[Finding]]:
    """``text`` with every finding replaced by a placeholder, and the findings.

    The placeholders are Chinese (``[手机号]``) when the text outside the findings has more Han
    characters than Latin letters, English (``[phone]``) otherwise. Everything outside the findings is
    kept exactly as it was.
    """
    findings = find(text, today=today)
    if not findings:
        return text, findings
    kept: list[str] = []
    position = 0
    for finding in findings:
        kept.append(text[position : finding.start])
        position = finding.end
    kept.append(text[position:])
    placeholders = _PLACEHOLDERS_ZH if _chinese_dominant(_fold("".join(kept))) else _PLACEHOLDERS_EN
    parts: list[str] = []
    for index, finding in enumerate(findings):
        parts.append(kept[index])
        parts.append(placeholders[finding.kind])
    parts.append(kept[-1])
    return "".join(parts), findings


_PLACEHOLDERS_ZH: dict[PersonalDataKind, str] = {
    "mobile": "[手机号]",
    "resident_id": "[身份证号]",
    "bank_card": "[银行卡号]",
    "email": "[邮箱]",
}
_PLACEHOLDERS_EN: dict[PersonalDataKind, str] = {
    "mobile": "[phone]",
    "resident_id": "[ID number]",
    "bank_card": "[card number]",
    "email": "[email]",
}
_PRIORITY: dict[PersonalDataKind, int] = {"resident_id": 0, "bank_card": 1, "mobile": 2, "email": 3}

# --- folding -------------------------------------------------------------------------------------


class _AsciiFold(dict[int, int]):
    """``str.translate`` table: a code point NFKC turns into one ASCII character maps to it, any
    other code point to itself. Filled lazily, one entry per distinct character seen."""

    def __missing__(self, code_point: int) -> int:
        normalised = unicodedata.normalize("NFKC", chr(code_point))
        folded = ord(normalised) if len(normalised) == 1 and normalised.isascii() else code_point
        if len(self) < 65536:
            self[code_point] = folded
        return folded


_ASCII_FOLD = _AsciiFold()


def _fold(text: str) -> str:
    """``text`` with compatibility forms of ASCII characters folded; same length as ``text``."""
    return text if text.isascii() else text.translate(_ASCII_FOLD)


_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")


def _chinese_dominant(folded: str) -> bool:
    return len(_HAN.findall(folded)) > len(_LATIN.findall(folded))


# --- candidates ----------------------------------------------------------------------------------

# Not touching a digit, nor a dash that touches a digit.
_BEFORE = r"(?<![0-9])(?<![0-9]-)"
_AFTER = r"(?![0-9])(?!-[0-9])"

_MOBILE = re.compile(_BEFORE + r"(?:(?:\+|00)?86[ -]?)?(?P<number>1[3-9][0-9](?:[ -]?[0-9]{4}){2})" + _AFTER)
_RESIDENT_ID = re.compile(_BEFORE + r"[1-9][0-9]{16}[0-9Xx]" + _AFTER)
_BANK_CARD = re.compile(
    _BEFORE
    + r"(?:[1-9][0-9]{15,18}"
    + r"|(?P<head>[1-9][0-9]{3}(?P<sep>[ -])[0-9]{4}(?:(?P=sep)[0-9]{4}){2})(?:(?P=sep)[0-9]{1,3})?)"
    + _AFTER
)
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])"
    r"[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}"
    r"(?![A-Za-z0-9\-])"
)
_NOT_DIGIT = re.compile(r"[^0-9Xx]")


def _mobiles(folded: str) -> list[Finding]:
    found = []
    for match in _MOBILE.finditer(folded):
        digits = _NOT_DIGIT.sub("", match["number"])
        found.append(Finding("mobile", match.start(), match.end(), f"{digits[:3]}****{digits[-4:]}"))
    return found


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CODES = "10X98765432"


def _resident_id_valid(value: str, today: date) -> bool:
    total = sum((ord(char) - 48) * weight for char, weight in zip(value, _ID_WEIGHTS, strict=False))
    if _ID_CHECK_CODES[total % 11] != value[17].upper():
        return False
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return date(1900, 1, 1) <= born <= today


def _resident_ids(folded: str, today: date) -> list[Finding]:
    found = []
    for match in _RESIDENT_ID.finditer(folded):
        value = match[0]
        if _resident_id_valid(value, today):
            found.append(
                Finding("resident_id", match.start(), match.end(), f"{value[:2]}{'*' * 14}{value[-2:]}")
            )
    return found


def _luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def _bank_cards(folded: str) -> list[Finding]:
    found = []
    for match in _BANK_CARD.finditer(folded):
        # A grouped run whose short last group spoils the checksum may still be a 16-digit card
        # followed by an unrelated number ("6222 0213 8001 3800 100 元").
        spans = [(match.start(), match.end())]
        if match["head"] is not None and match.end("head") != match.end():
            spans.append((match.start(), match.end("head")))
        for start, end in spans:
            digits = _NOT_DIGIT.sub("", folded[start:end])
            if _luhn_valid(digits):
                found.append(Finding("bank_card", start, end, f"{digits[:4]}****{digits[-4:]}"))
                break
    return found


def _emails(folded: str) -> list[Finding]:
    found = []
    for match in _EMAIL.finditer(folded):
        local, _, domain = match[0].partition("@")
        found.append(Finding("email", match.start(), match.end(), f"{local[0]}***@{domain}"))
    return found


def _resolve(candidates: list[Finding]) -> list[Finding]:
    chosen: list[Finding] = []
    for candidate in sorted(candidates, key=lambda f: (f.start - f.end, _PRIORITY[f.kind], f.start)):
        if all(candidate.end <= kept.start or kept.end <= candidate.start for kept in chosen):
            chosen.append(candidate)
    chosen.sort(key=lambda f: f.start)
    return chosen
