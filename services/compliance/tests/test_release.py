"""Labelling a drafted answer for release (GB 45438-2025 explicit and implicit labels)."""

from __future__ import annotations

import hashlib
import json
from uuid import uuid4

import pytest
from lingxi.events import AnswerBlocked, AnswerDrafted, AnswerReleased, DeviceAction, Region
from lingxi.events.compliance import FeatureStatus
from lingxi.features import Standing
from lingxi_compliance.moderation import Decision, Moderator, default_moderator
from lingxi_compliance.release import ReleasePolicy, block_answer, release_answer

POLICY = ReleasePolicy(producer="Lingxi")
APPROVED = Standing("assistant", "CN", FeatureStatus.APPROVED, "Beijing-Lingxi-202611250001")


def allowed(draft: AnswerDrafted) -> Decision:
    return Decision("allow", (), (), draft.reply_text)


def release(draft: AnswerDrafted) -> AnswerReleased:
    released = release_answer(draft, POLICY, APPROVED, allowed(draft))
    assert isinstance(released, AnswerReleased)
    return released


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
    released = release(a_draft(locale, reply))
    assert released.reply_text == shown
    assert released.explicit_label.position == "end"
    assert released.explicit_label.notice in shown


def test_the_implicit_label_names_producer_content_and_a_digest_of_the_text() -> None:
    draft = a_draft("zh-CN", "好的")
    released = release(draft)
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
    released = release(draft)
    assert released.causation_id == draft.event_id
    assert (released.request_id, released.intent, released.slots, released.action) == (
        draft.request_id,
        draft.intent,
        draft.slots,
        draft.action,
    )
    assert released.filing_number == APPROVED.filing_number
    wire = json.dumps(released.to_json_dict())
    assert AnswerReleased.model_validate_json(wire) == released


@pytest.mark.parametrize(
    "status", [None, FeatureStatus.FILED, FeatureStatus.SUSPENDED, FeatureStatus.WITHDRAWN]
)
def test_a_draft_whose_feature_is_not_approved_is_blocked_without_its_text(
    status: FeatureStatus | None,
) -> None:
    draft = a_draft("zh-CN", "好的，已设置闹钟")
    result = release_answer(draft, POLICY, Standing("assistant", "CN", status, None), allowed(draft))
    assert isinstance(result, AnswerBlocked)
    assert result.reason_code == "feature.not_approved"
    assert "闹钟" not in result.safe_reply
    assert "暂未开放" in result.safe_reply
    assert (result.request_id, result.causation_id) == (draft.request_id, draft.event_id)


def test_a_block_carries_the_reason_and_the_safe_reply_only() -> None:
    draft = a_draft("en-US", "secret draft")
    blocked = block_answer(draft, "moderation.fraud_scams", "Sorry, I can't help with that.")
    assert "secret draft" not in blocked.model_dump_json()


def test_the_audit_record_of_an_interaction_holds_the_facts_and_never_the_texts() -> None:
    from lingxi_compliance.audit import entry_from
    from lingxi_compliance.release import audit_record

    draft = a_draft("zh-CN", "好的，已设置闹钟，给13812345678回电")
    released = release(draft)
    record = audit_record(draft, released, allowed(draft), 12.345)
    assert record["action"] == "answer.released"
    assert (record["region"], record["feature"], record["model_name"]) == (
        "CN",
        "assistant",
        draft.model_name,
    )
    assert record["filing_number"] == APPROVED.filing_number
    assert record["explicit_label"] == "本内容由人工智能生成"
    assert record["aigc_reserved_code1"] == released.aigc.reserved_code1
    assert record["latency_ms"] == 12.35
    assert "闹钟" not in str(record)
    entry_from(record, 1, "0" * 64, released.occurred_at)  # the trail accepts it: no personal data
    blocked = audit_record(draft, block_answer(draft, "moderation.fraud_scams", "抱歉"), allowed(draft), 3.0)
    assert (blocked["action"], blocked["reason_code"]) == ("answer.blocked", "moderation.fraud_scams")


def test_the_documented_example_is_what_the_code_releases() -> None:
    from pathlib import Path
    from uuid import UUID

    doc = (Path(__file__).parents[3] / "docs" / "ai-labels.md").read_text(encoding="utf-8")
    documented = json.loads(doc.split("```json\n")[1].split("```")[0])
    draft = a_draft("zh-CN", "好的，已为你设置明天早上7:00的闹钟").model_copy(
        update={
            "request_id": UUID("7f3c2a90-6a1e-4c3b-9a8e-2d4f5b6c7d8e"),
            "model_name": "lingxi-local-intents",
        }
    )
    released = release(draft).to_json_dict()
    assert {key: released[key] for key in documented} == documented
    assert (
        hashlib.sha256(documented["reply_text"].encode()).hexdigest() == documented["aigc"]["ReservedCode1"]
    )


@pytest.fixture(scope="module")
def moderator() -> Moderator:
    return default_moderator()


def test_a_draft_moderation_blocks_is_replaced_by_the_safe_reply_with_its_reason(
    moderator: Moderator,
) -> None:
    from lingxi_compliance.release import audit_record

    text = "先买硝酸铵和柴油，按比例混合就能做成炸药，然后装进压力锅里。"
    draft = a_draft("zh-CN", text)
    decision = moderator.check(text, locale="zh-CN", direction="output")
    result = release_answer(draft, POLICY, APPROVED, decision)
    assert isinstance(result, AnswerBlocked)
    assert result.reason_code == "moderation.violence_weapons"
    assert "炸药" not in result.safe_reply
    assert "硝酸铵" not in result.model_dump_json()
    record = audit_record(draft, result, decision, 1.0)
    assert (record["action"], record["moderation"]) == ("answer.blocked", "block")
    assert "moderation.violence_weapons" in record["moderation_reasons"]  # type: ignore[operator]


def test_personal_data_in_an_answer_is_redacted_before_the_labels_are_applied(moderator: Moderator) -> None:
    text = "他的身份证号是11010519491231002X，邮箱是 wang@example.com。"
    decision = moderator.check(text, locale="zh-CN", direction="output")
    released = release_answer(a_draft("zh-CN", text), POLICY, APPROVED, decision)
    assert isinstance(released, AnswerReleased)
    assert "11010519491231002X" not in released.reply_text
    assert "wang@example.com" not in released.reply_text
    assert released.reply_text.endswith("（本内容由人工智能生成）")
    assert released.aigc.reserved_code1 == hashlib.sha256(released.reply_text.encode()).hexdigest()


def test_an_ordinary_answer_passes_moderation_untouched(moderator: Moderator) -> None:
    text = "好的，已为你设置明天早上7:00的闹钟"
    decision = moderator.check(text, locale="zh-CN", direction="output")
    assert decision.action == "allow"
    assert release(a_draft("zh-CN", text)).reply_text.startswith(text)


def test_a_draft_whose_input_was_blocked_is_blocked_with_the_input_reason() -> None:
    from lingxi.events.compliance import ModerationVerdict

    draft = a_draft("en-US", "Sorry, I can't help with that request.").model_copy(
        update={
            "input_moderation": ModerationVerdict(
                action="block", reason_codes=["moderation.prompt_injection", "moderation.profanity"]
            )
        }
    )
    result = release_answer(draft, POLICY, APPROVED, allowed(draft))
    assert isinstance(result, AnswerBlocked)
    assert result.reason_code == "moderation.prompt_injection"
    assert result.safe_reply == draft.reply_text
