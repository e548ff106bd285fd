"""From an understood query to the draft answer compliance will check. Pure: no I/O."""

from __future__ import annotations

from typing import Any

from lingxi.events.assistant import MAX_REPLY_CHARS, AnswerDrafted, DeviceAction, QueryReceived

from lingxi_assistant.model import NOT_UNDERSTOOD, OPEN_QUESTION, OUT_OF_SCOPE
from lingxi_assistant.partners import PartnerAnswer
from lingxi_assistant.understanding import ENGINE_NAME, Understanding

LOCAL_MODEL_NAME = "lingxi-local-intents"
PARTNER_ENGINE = "partner"

SYSTEM_PROMPT = (
    "You are Lingxi, the voice assistant of a phone sold in mainland China. Answer the user's question "
    "in the language they used (Simplified Chinese or English), briefly: at most three sentences, plain "
    "text, no markdown. If you do not know, say so; never invent facts, phone numbers or prices."
)


def needs_partner(understanding: Understanding) -> bool:
    """Open questions are answered in words by a model partner; so are requests the engine was unsure of."""
    return understanding.intent in (OPEN_QUESTION, NOT_UNDERSTOOD)


def partner_messages(query: QueryReceived) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": query.text}]


def draft_answer(
    query: QueryReceived, understanding: Understanding, *, providers_tried: list[str] | None = None
) -> AnswerDrafted:
    """The local engine's answer (``providers_tried`` lists partners that were asked and failed)."""
    action = understanding.action
    return AnswerDrafted(
        **_answering(query),
        intent=understanding.intent,
        confidence=understanding.confidence,
        slots=dict(understanding.slots),
        action=DeviceAction(name=action.name, params=dict(action.params)) if action else None,
        reply_text=understanding.reply_text,
        engine=ENGINE_NAME,
        model_name=LOCAL_MODEL_NAME,
        providers_tried=providers_tried or [],
    )


def draft_blocked_input(query: QueryReceived, safe_reply: str) -> AnswerDrafted:
    """The answer to a text moderation blocked: the policy's safe reply, no action, no partner.
    The caller adds the verdict; compliance then blocks the answer with its reason code."""
    return AnswerDrafted(
        **_answering(query),
        intent=OUT_OF_SCOPE,
        confidence=1.0,
        reply_text=_fit(safe_reply),
        engine=ENGINE_NAME,
        model_name=LOCAL_MODEL_NAME,
    )


def draft_partner_answer(
    query: QueryReceived, understanding: Understanding, answer: PartnerAnswer
) -> AnswerDrafted:
    """A model partner's words as the answer; the model name is the one shown to users and filed."""
    return AnswerDrafted(
        **_answering(query),
        intent=OPEN_QUESTION,
        confidence=understanding.confidence,
        reply_text=_fit(answer.text),
        engine=f"{PARTNER_ENGINE}.{answer.provider}",
        model_name=answer.model,
        providers_tried=answer.providers_tried,
    )


def _answering(query: QueryReceived) -> dict[str, Any]:
    """The fields every answer takes from the query it answers."""
    return {
        "region": query.region,
        "causation_id": query.event_id,
        "request_id": query.request_id,
        "device_id": query.device_id,
        "locale": query.locale,
    }


def _fit(text: str) -> str:
    """A partner may ramble past what an answer may hold: cut at the limit, marked with an ellipsis."""
    return text if len(text) <= MAX_REPLY_CHARS else text[: MAX_REPLY_CHARS - 1] + "…"
