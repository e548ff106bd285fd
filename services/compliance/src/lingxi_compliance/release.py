"""Turning a drafted answer into the answer the device receives, or blocking it. Pure: no I/O.

A draft is released only while its feature is approved in the draft's region (the gateway checked at
the door; this catches a suspension that landed while the request was on its way) and moderation of its
text did not block it (a blocked draft's text is never released: the device gets the category's safe
reply and reason code). A released answer carries the text moderation let through (personal data
redacted where the policy says so), both AI-content labels and the feature's filing number, which the
rules require apps to show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lingxi.events.assistant import ASSISTANT_FEATURE, AnswerBlocked, AnswerDrafted, AnswerReleased, Locale
from lingxi.features import Standing

from lingxi_compliance.labels import apply_explicit_label, explicit_label, implicit_label
from lingxi_compliance.moderation import Decision

NOT_APPROVED = "feature.not_approved"
BLOCKED = "moderation.blocked"

_NOT_APPROVED_REPLY: dict[str, str] = {
    "zh-CN": "抱歉，该功能目前在你所在的地区暂未开放。",
    "en-US": "Sorry, this feature is not available in your region yet.",
}


@dataclass(frozen=True)
class ReleasePolicy:
    producer: str
    """ContentProducer: the name or code of the service provider that generated the content."""


def not_approved_reply(locale: Locale) -> str:
    return _NOT_APPROVED_REPLY[locale]


def release_answer(
    draft: AnswerDrafted, policy: ReleasePolicy, standing: Standing, moderation: Decision
) -> AnswerReleased | AnswerBlocked:
    """The released answer, or a block when the assistant is not approved in the draft's region or
    ``moderation`` (of the draft's reply text, as output) blocked it."""
    if not standing.approved:
        return block_answer(draft, NOT_APPROVED, not_approved_reply(draft.locale))
    asked = draft.input_moderation
    if asked is not None and asked.action == "block":
        # The user's text was blocked before any partner saw it; the draft holds the policy's safe reply.
        reason = asked.reason_codes[0] if asked.reason_codes else BLOCKED
        return block_answer(draft, reason, draft.reply_text)
    if moderation.blocked:
        return block_answer(draft, moderation.reason_code or BLOCKED, moderation.text)
    label = explicit_label(draft.locale)
    shown_text = apply_explicit_label(moderation.text, label, draft.locale)
    return AnswerReleased(
        **_answering(draft),
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
        filing_number=standing.filing_number,
    )


def block_answer(draft: AnswerDrafted, reason_code: str, safe_reply: str) -> AnswerBlocked:
    """The draft withheld: the device gets ``safe_reply`` and the reason code, never the draft's text."""
    return AnswerBlocked(
        **_answering(draft),
        reason_code=reason_code,
        safe_reply=safe_reply,
    )


def _answering(draft: AnswerDrafted) -> dict[str, Any]:
    """The fields a released or blocked answer takes from its draft."""
    return {
        "region": draft.region,
        "causation_id": draft.event_id,
        "request_id": draft.request_id,
        "device_id": draft.device_id,
        "locale": draft.locale,
    }


def audit_record(
    draft: AnswerDrafted, result: AnswerReleased | AnswerBlocked, moderation: Decision, latency_ms: float
) -> dict[str, object]:
    """What the audit trail keeps of one AI interaction: ids, region, feature, engine, model and the
    partners tried, the moderation decision and its reason codes, the release decision, the labels,
    and how long the release took after drafting. Never the user's text or the answer's."""
    record: dict[str, object] = {
        "actor": "service:compliance",
        "subject": f"request:{draft.request_id}",
        "request_id": str(draft.request_id),
        "draft_event_id": str(draft.event_id),
        "device_id": draft.device_id,
        "region": draft.region.value,
        "feature": ASSISTANT_FEATURE,
        "intent": draft.intent,
        "engine": draft.engine,
        "model_name": draft.model_name,
        "providers_tried": list(draft.providers_tried),
        "input_moderation": draft.input_moderation.action if draft.input_moderation else "allow",
        "input_moderation_reasons": list(draft.input_moderation.reason_codes)
        if draft.input_moderation
        else [],
        "moderation": moderation.action,
        "moderation_reasons": list(moderation.reason_codes),
        "latency_ms": round(latency_ms, 2),
    }
    if isinstance(result, AnswerBlocked):
        return {**record, "action": "answer.blocked", "reason_code": result.reason_code}
    return {
        **record,
        "action": "answer.released",
        "filing_number": result.filing_number,
        "explicit_label": result.explicit_label.notice,
        "aigc_produce_id": result.aigc.produce_id,
        "aigc_reserved_code1": result.aigc.reserved_code1,
    }
