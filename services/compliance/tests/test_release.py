"""Labelling a drafted answer for release (GB 45438-2025 explicit and implicit labels)."""

from __future__ import annotations

import hashlib
import json
from uuid import uuid4

import pytest
from lingxi.events import AnswerDrafted, AnswerReleased, DeviceAction, Region
from lingxi_compliance.release import ReleasePolicy, release_answer

POLICY = ReleasePolicy(producer="Lingxi", filing_number="Beijing-Lingxi-202611250001")


def a_draft(locale: str, reply: str) -> AnswerDrafted:
    return AnswerDrafted(
        region=Region.CN,
        request_id=uuid4(),
        device_id="dev-1",
        locale=locale,  # type: ignore[arg-type]
        intent="set_alarm",
        confidence=0.9,
        slots={"time": "2026-11-26T07:00:00+08:00"},
        action=DeviceAction(name="alarm.set", params={"time": "2026-11-26T07:00:00+08:00"}),
        reply_text=reply,
        engine="local-rules",
        model_name="lingxi-local-intents",
    )


@pytest.mark.parametrize(
    ("locale", "reply", "shown"),
    [
        ("zh-CN", "好的，已设置闹钟", "好的，已设置闹钟\n（本内容由人工智能生成）"),
        ("en-US", "OK, alarm set", "OK, alarm set\n(AI-generated content)"),
    ],
)
def test_the_visible_notice_is_in_the_users_language_at_the_end(locale: str, reply: str, shown: str) -> None:
    released = release_answer(a_draft(locale, reply), POLICY)
    assert released.reply_text == shown
    assert released.explicit_label.position == "end"
    assert released.explicit_label.notice in shown


def test_the_implicit_label_names_producer_content_and_a_digest_of_the_text() -> None:
    draft = a_draft("zh-CN", "好的")
    released = release_answer(draft, POLICY)
    metadata = released.to_json_dict()["aigc"]
    assert metadata["Label"] == 1
    assert metadata["ContentProducer"] == "Lingxi"
    assert metadata["ProduceID"] == str(draft.request_id)
    assert metadata["ReservedCode1"] == hashlib.sha256(released.reply_text.encode()).hexdigest()
    assert set(metadata) == {
        "Label", "ContentProducer", "ProduceID", "ReservedCode1",
        "ContentPropagator", "PropagateID", "ReservedCode2",
    }  # fmt: skip


def test_the_release_keeps_the_draft_and_traces_back_to_it() -> None:
    draft = a_draft("en-US", "OK")
    released = release_answer(draft, POLICY)
    assert released.causation_id == draft.event_id
    assert (released.request_id, released.intent, released.slots, released.action) == (
        draft.request_id,
        draft.intent,
        draft.slots,
        draft.action,
    )
    assert released.filing_number == POLICY.filing_number
    wire = json.dumps(released.to_json_dict())
    assert AnswerReleased.model_validate_json(wire) == released
