"""AI-content labels required by the Measures for Labeling AI-Generated Synthetic Content and the
mandatory standard GB 45438-2025.

Two labels on every released AI output:
- explicit: a notice the user sees, in the user's language, at a position the standard allows for
  text (start, end or a suitable middle position). Lingxi appends it at the end, so the answer
  itself reads naturally and the notice is never cut off by a device that truncates the first line;
- implicit: the ``AIGC`` metadata (Label, ContentProducer, ProduceID, ReservedCode1, ContentPropagator,
  PropagateID, ReservedCode2). ReservedCode1 carries the SHA-256 of the labelled text so that a
  changed text no longer matches its metadata.

Pure functions: no I/O.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from lingxi.events.assistant import Locale
from lingxi.events.compliance import AigcMetadata, ExplicitLabel

AI_GENERATED: Literal[1] = 1

_NOTICES: dict[str, str] = {
    "zh-CN": "本内容由人工智能生成",
    "en-US": "AI-generated content",
}
_WRAPPERS: dict[str, tuple[str, str]] = {"zh-CN": ("（", "）"), "en-US": ("(", ")")}


def explicit_label(locale: Locale) -> ExplicitLabel:
    """The visible notice for a text answer in ``locale``."""
    return ExplicitLabel(notice=_NOTICES[locale], position="end")


def apply_explicit_label(text: str, label: ExplicitLabel, locale: Locale) -> str:
    """``text`` with the visible notice at the label's position."""
    opening, closing = _WRAPPERS[locale]
    notice = f"{opening}{label.notice}{closing}"
    if label.position == "start":
        return f"{notice}{text}"
    return f"{text}\n{notice}"


def implicit_label(
    *, labelled_text: str, producer: str, produce_id: str, propagator: str = "", propagate_id: str = ""
) -> AigcMetadata:
    """The ``AIGC`` metadata for a text Lingxi generated and is about to hand to the device."""
    return AigcMetadata(
        label=AI_GENERATED,
        content_producer=producer,
        produce_id=produce_id,
        reserved_code1=hashlib.sha256(labelled_text.encode()).hexdigest(),
        content_propagator=propagator,
        propagate_id=propagate_id,
    )
