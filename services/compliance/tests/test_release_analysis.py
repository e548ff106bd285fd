"""Releasing an image analysis: approval, moderation of the text read from the image, both AI labels."""

from __future__ import annotations

import hashlib
import json
from uuid import uuid4

import pytest
from lingxi.events import Region
from lingxi.events.compliance import FeatureStatus
from lingxi.events.vision import AnalysisBlocked, AnalysisReleased, ImageAnalyzed
from lingxi.features import Standing
from lingxi_compliance.audit import check_record
from lingxi_compliance.moderation import Moderator, default_moderator
from lingxi_compliance.release import (
    ReleasePolicy,
    analysis_audit_record,
    moderate_analysis,
    release_analysis,
)

POLICY = ReleasePolicy(producer="Lingxi")
APPROVED = Standing("vision", "CN", FeatureStatus.APPROVED, "Beijing-Lingxi-Vision-0001")
SUSPENDED = Standing("vision", "CN", FeatureStatus.SUSPENDED, "Beijing-Lingxi-Vision-0001")


@pytest.fixture(scope="module")
def moderator() -> Moderator:
    return default_moderator()


def an_analysis(*lines: str, locale: str = "zh-CN") -> ImageAnalyzed:
    return ImageAnalyzed(
        region=Region.CN,
        request_id=uuid4(),
        device_id="dev-1",
        locale=locale,  # type: ignore[arg-type]
        image_width=1000,
        image_height=800,
        texts=[
            {
                "text": line,
                "box": {"x": 10, "y": 10 + 60 * i, "width": 600, "height": 50},
                "confidence": 0.9,
                "order": i,
            }
            for i, line in enumerate(lines)
        ],
        labels=[{"name_zh": "菜单", "name_en": "menu", "score": 0.7}],
        faces=[{"box": {"x": 500, "y": 100, "width": 120, "height": 120}, "confidence": None}],
        model_names={"text": "rapidocr-ppocr-v6", "labels": "efficientnet-lite0", "faces": "opencv-haar"},
        unavailable={"objects": "no object detector is configured"},
    )  # type: ignore[arg-type]


def test_an_ordinary_analysis_is_released_whole_with_both_labels(moderator: Moderator) -> None:
    analysis = an_analysis("今日特价 宫保鸡丁 28元", "营业时间 9:00-21:00")
    released = release_analysis(analysis, POLICY, APPROVED, moderate_analysis(analysis, moderator))
    assert isinstance(released, AnalysisReleased)
    assert released.texts == analysis.texts
    assert (released.labels, released.faces, released.unavailable) == (
        analysis.labels,
        analysis.faces,
        analysis.unavailable,
    )
    assert released.causation_id == analysis.event_id
    assert released.request_id == analysis.request_id
    assert released.explicit_label.notice == "本内容由人工智能生成"
    assert released.filing_number == "Beijing-Lingxi-Vision-0001"
    assert released.aigc.produce_id == str(analysis.request_id)


def test_the_implicit_label_hashes_the_findings_as_released(moderator: Moderator) -> None:
    analysis = an_analysis("出口 EXIT")
    released = release_analysis(analysis, POLICY, APPROVED, moderate_analysis(analysis, moderator))
    assert isinstance(released, AnalysisReleased)
    findings = released.model_dump(
        mode="json", include={"image_width", "image_height", "texts", "labels", "faces", "objects"}
    )
    digest = hashlib.sha256(
        json.dumps(findings, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    assert released.aigc.reserved_code1 == digest
    other = an_analysis("入口 ENTRANCE")
    assert (
        release_analysis(other, POLICY, APPROVED, moderate_analysis(other, moderator)).aigc.reserved_code1
        != digest
    )  # type: ignore[union-attr]


def test_personal_data_read_from_an_image_is_redacted_line_by_line(moderator: Moderator) -> None:
    analysis = an_analysis("订餐热线 13812345678", "欢迎光临")
    moderation = moderate_analysis(analysis, moderator)
    released = release_analysis(analysis, POLICY, APPROVED, moderation)
    assert isinstance(released, AnalysisReleased)
    assert "13812345678" not in released.texts[0].text
    assert released.texts[0].text.startswith("订餐热线")
    assert released.texts[1] == analysis.texts[1]
    assert moderation.action == "redact"


def test_harmful_text_in_an_image_blocks_the_analysis(moderator: Moderator) -> None:
    analysis = an_analysis("先买硝酸铵和柴油，按比例混合就能做成炸药", "然后装进压力锅里")
    blocked = release_analysis(analysis, POLICY, APPROVED, moderate_analysis(analysis, moderator))
    assert isinstance(blocked, AnalysisBlocked)
    assert blocked.reason_code.startswith("moderation.")
    assert "炸药" not in blocked.safe_reply


def test_an_analysis_is_blocked_where_vision_is_not_approved(moderator: Moderator) -> None:
    analysis = an_analysis("出口")
    blocked = release_analysis(analysis, POLICY, SUSPENDED, moderate_analysis(analysis, moderator))
    assert isinstance(blocked, AnalysisBlocked)
    assert blocked.reason_code == "feature.not_approved"


def test_an_image_without_text_needs_no_moderation(moderator: Moderator) -> None:
    analysis = an_analysis()
    moderation = moderate_analysis(analysis, moderator)
    assert moderation.whole is None
    assert moderation.action == "allow"
    assert isinstance(release_analysis(analysis, POLICY, APPROVED, moderation), AnalysisReleased)


def test_the_audit_record_counts_findings_and_never_holds_text_or_boxes(moderator: Moderator) -> None:
    analysis = an_analysis("订餐热线 13812345678")
    moderation = moderate_analysis(analysis, moderator)
    result = release_analysis(analysis, POLICY, APPROVED, moderation)
    record = analysis_audit_record(analysis, result, moderation, latency_ms=12.345)
    check_record(record)  # what the audit trail itself accepts
    assert record["models"] == [
        "text=rapidocr-ppocr-v6",
        "labels=efficientnet-lite0",
        "faces=opencv-haar",
    ]
    assert record["feature"] == "vision"
    assert record["action"] == "analysis.released"
    assert record["found"] == {"texts": 1, "labels": 1, "faces": 1, "objects": 0}
    assert record["moderation"] == "redact"
    flat = json.dumps(record, ensure_ascii=False)
    assert "13812345678" not in flat
    assert "订餐" not in flat
    assert '"x"' not in flat
