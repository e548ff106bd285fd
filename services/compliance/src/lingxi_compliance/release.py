"""Turning a drafted answer into the answer the device receives. Pure: no I/O.

Moderation and the per-feature approval registry arrive with the compliance issue; today every
draft is released with both AI-content labels.
"""

from __future__ import annotations

from dataclasses import dataclass

from lingxi.events.assistant import AnswerDrafted, AnswerReleased

from lingxi_compliance.labels import apply_explicit_label, explicit_label, implicit_label


@dataclass(frozen=True)
class ReleasePolicy:
    producer: str
    """ContentProducer: the name or code of the service provider that generated the content."""
    filing_number: str | None
    """Algorithm filing number shown with each answer, when the feature has one."""


def release_answer(draft: AnswerDrafted, policy: ReleasePolicy) -> AnswerReleased:
    label = explicit_label(draft.locale)
    shown_text = apply_explicit_label(draft.reply_text, label, draft.locale)
    return AnswerReleased(
        region=draft.region,
        causation_id=draft.event_id,
        request_id=draft.request_id,
        device_id=draft.device_id,
        locale=draft.locale,
        intent=draft.intent,
        confidence=draft.confidence,
        slots=draft.slots,
        action=draft.action,
        reply_text=shown_text,
        engine=draft.engine,
        model_name=draft.model_name,
        providers_tried=draft.providers_tried,
        explicit_label=label,
        aigc=implicit_label(
            labelled_text=shown_text,
            producer=policy.producer,
            produce_id=str(draft.request_id),
        ),
        filing_number=policy.filing_number,
    )
