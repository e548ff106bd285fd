"""Turning a drafted answer into the answer the device receives, or blocking it. Pure: no I/O.

A draft is released only while its feature is approved in the draft's region (the gateway checked at
the door; this catches a suspension that landed while the request was on its way) and moderation of its
text did not block it (a blocked draft's text is never released: the device gets the category's safe
reply and reason code). A released answer carries the text moderation let through (personal data
redacted where the policy says so), both AI-content labels and the feature's filing number, which the
rules require apps to show.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lingxi.events.assistant import ASSISTANT_FEATURE, AnswerBlocked, AnswerDrafted, AnswerReleased, Locale
from lingxi.events.vision import VISION_FEATURE, AnalysisBlocked, AnalysisReleased, ImageAnalyzed
from lingxi.features import Standing

from lingxi_compliance.labels import apply_explicit_label, explicit_label, implicit_label
from lingxi_compliance.moderation import Decision, Moderator

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
    return _with_decision(record, "answer", result)


# --- image analyses ---------------------------------------------------------------------------------


def moderate_analysis(analysis: ImageAnalyzed, moderator: Moderator) -> TextModeration:
    """Moderation of the text OCR found: every line on its own (keywords, patterns, personal data:
    what to redact where) and all lines together in reading order (what only reads as harmful across
    lines, semantic stage included)."""
    lines = [t.text for t in analysis.texts]
    if not lines:
        return TextModeration(lines=[], whole=None)
    each = moderator.check_many(lines, locale=analysis.locale, direction="output", semantic=False)
    whole = moderator.check("\n".join(lines), locale=analysis.locale, direction="output")
    return TextModeration(lines=each, whole=whole)


@dataclass(frozen=True)
class TextModeration:
    lines: list[Decision]
    whole: Decision | None

    @property
    def blocking(self) -> Decision | None:
        """The decision that blocks the analysis, if any."""
        return next((d for d in [*self.lines, self.whole] if d is not None and d.blocked), None)

    @property
    def action(self) -> str:
        actions = {d.action for d in [*self.lines, self.whole] if d is not None}
        return next((a for a in ("block", "redact", "flag") if a in actions), "allow")

    @property
    def reason_codes(self) -> list[str]:
        codes = [c for d in [*self.lines, self.whole] if d is not None for c in d.reason_codes]
        return list(dict.fromkeys(codes))


def release_analysis(
    analysis: ImageAnalyzed, policy: ReleasePolicy, standing: Standing, moderation: TextModeration
) -> AnalysisReleased | AnalysisBlocked:
    """The analysis the device receives, or a block when vision is not approved in the request's region
    or the text found in the image is not allowed. Personal data in that text is redacted line by
    line; labels and object names come from Lingxi's own tables and pass as they are."""
    if not standing.approved:
        return _block_analysis(analysis, NOT_APPROVED, not_approved_reply(analysis.locale))
    if blocking := moderation.blocking:
        return _block_analysis(analysis, blocking.reason_code or BLOCKED, blocking.text)
    texts = [
        found.model_copy(update={"text": decision.text}) if decision.text != found.text else found
        for found, decision in zip(analysis.texts, moderation.lines, strict=True)
    ]
    content = analysis.model_copy(update={"texts": texts})
    findings = content.model_dump(
        mode="json", include={"image_width", "image_height", "texts", "labels", "faces", "objects"}
    )
    return AnalysisReleased(
        **{name: getattr(content, name) for name in ImageAnalyzed.model_fields if name not in _ENVELOPE},
        causation_id=analysis.event_id,
        explicit_label=explicit_label(analysis.locale),
        aigc=implicit_label(
            # The metadata's hash covers the findings as released, so an altered result no longer matches.
            labelled_text=json.dumps(findings, ensure_ascii=False, sort_keys=True, separators=(",", ":")),
            producer=policy.producer,
            produce_id=str(analysis.request_id),
        ),
        filing_number=standing.filing_number,
    )


_ENVELOPE = frozenset({"event_id", "occurred_at", "schema_version", "causation_id"})


def _block_analysis(analysis: ImageAnalyzed, reason_code: str, safe_reply: str) -> AnalysisBlocked:
    return AnalysisBlocked(
        region=analysis.region,
        causation_id=analysis.event_id,
        request_id=analysis.request_id,
        device_id=analysis.device_id,
        locale=analysis.locale,
        reason_code=reason_code,
        safe_reply=safe_reply,
    )


def analysis_audit_record(
    analysis: ImageAnalyzed,
    result: AnalysisReleased | AnalysisBlocked,
    moderation: TextModeration,
    latency_ms: float,
) -> dict[str, object]:
    """What the audit trail keeps of one image analysis: ids, region, feature, the models that ran and
    how many of each finding, the moderation of the text found and the release decision. Never the
    image, the text read from it, or where any face was."""
    record: dict[str, object] = {
        "actor": "service:compliance",
        "subject": f"request:{analysis.request_id}",
        "request_id": str(analysis.request_id),
        "analysis_event_id": str(analysis.event_id),
        "device_id": analysis.device_id,
        "region": analysis.region.value,
        "feature": VISION_FEATURE,
        # task=model pairs: a mapping keyed "text" would read as free text to the audit trail's check.
        "models": [f"{task}={name}" for task, name in analysis.model_names.items()],
        "found": {
            "texts": len(analysis.texts),
            "labels": len(analysis.labels),
            "faces": len(analysis.faces),
            "objects": len(analysis.objects),
        },
        "moderation": moderation.action,
        "moderation_reasons": moderation.reason_codes,
        "latency_ms": round(latency_ms, 2),
    }
    return _with_decision(record, "analysis", result)


def _with_decision(
    record: dict[str, object],
    what: str,
    result: AnswerReleased | AnswerBlocked | AnalysisReleased | AnalysisBlocked,
) -> dict[str, object]:
    """The audit record completed with the release decision: the block's reason, or the labels and the
    filing number of what was released."""
    if isinstance(result, AnswerBlocked | AnalysisBlocked):
        return {**record, "action": f"{what}.blocked", "reason_code": result.reason_code}
    return {
        **record,
        "action": f"{what}.released",
        "filing_number": result.filing_number,
        "explicit_label": result.explicit_label.notice,
        "aigc_produce_id": result.aigc.produce_id,
        "aigc_reserved_code1": result.aigc.reserved_code1,
    }
