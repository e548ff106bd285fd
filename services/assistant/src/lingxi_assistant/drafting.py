"""From an understood query to the draft answer compliance will check. Pure: no I/O."""

from __future__ import annotations

from lingxi.events.assistant import AnswerDrafted, DeviceAction, QueryReceived

from lingxi_assistant.understanding import ENGINE_NAME, Understanding

LOCAL_MODEL_NAME = "lingxi-local-intents"


def draft_answer(query: QueryReceived, understanding: Understanding) -> AnswerDrafted:
    action = understanding.action
    return AnswerDrafted(
        region=query.region,
        causation_id=query.event_id,
        request_id=query.request_id,
        device_id=query.device_id,
        locale=query.locale,
        intent=understanding.intent,
        confidence=understanding.confidence,
        slots=dict(understanding.slots),
        action=DeviceAction(name=action.name, params=dict(action.params)) if action else None,
        reply_text=understanding.reply_text,
        engine=ENGINE_NAME,
        model_name=LOCAL_MODEL_NAME,
    )
