"""Feature approvals: which changes the registry accepts, and what a record says at a given time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from lingxi.events import Region
from lingxi.events.compliance import FeatureChangeRequested, FeatureRecord, FeatureStatus
from lingxi_compliance.features import NEXT, Applied, Rejected, audit_record, changed_event, decide

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
FILED, APPROVED, SUSPENDED, WITHDRAWN = (
    FeatureStatus.FILED,
    FeatureStatus.APPROVED,
    FeatureStatus.SUSPENDED,
    FeatureStatus.WITHDRAWN,
)


def ask(
    status: FeatureStatus, *, at: datetime = NOW, filing: str | None = None, note: str | None = None
) -> FeatureChangeRequested:
    return FeatureChangeRequested(
        region=Region.CN,
        feature="assistant",
        status=status,
        filing_number=filing,
        effective_at=at,
        requested_by="admin:li.wei",
        note=note,
    )


def applied(record: FeatureRecord | None, request: FeatureChangeRequested) -> FeatureRecord:
    decision = decide(record, request, NOW)
    assert isinstance(decision, Applied), decision
    return decision.record


def test_the_life_of_a_feature_from_filing_to_withdrawal() -> None:
    record = applied(None, ask(FILED, filing="Beijing-Lingxi-0001"))
    record = applied(record, ask(APPROVED))
    assert record.approved_at(NOW)
    assert record.in_effect(NOW).filing_number == "Beijing-Lingxi-0001"  # type: ignore[union-attr]
    record = applied(record, ask(SUSPENDED))
    assert not record.approved_at(NOW)
    record = applied(record, ask(APPROVED))
    record = applied(record, ask(WITHDRAWN))
    assert [c.status for c in record.changes] == [FILED, APPROVED, SUSPENDED, APPROVED, WITHDRAWN]
    assert record.in_effect(NOW).status is WITHDRAWN  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("start", "wanted"),
    [(start, wanted) for start in NEXT for wanted in FeatureStatus if wanted not in NEXT[start]],
)
def test_every_change_the_lifecycle_does_not_allow_is_rejected_with_the_way_forward(
    start: FeatureStatus | None, wanted: FeatureStatus
) -> None:
    record = None
    if start is not None:
        path = {
            FILED: [FILED],
            APPROVED: [APPROVED],
            SUSPENDED: [APPROVED, SUSPENDED],
            WITHDRAWN: [WITHDRAWN],
        }
        record = FeatureRecord(feature="assistant", region=Region.CN)
        for step in path[start] if start is not WITHDRAWN else [FILED, WITHDRAWN]:
            record = applied(record, ask(step, filing="F-1"))
    decision = decide(record, ask(wanted, filing="F-1"), NOW)
    assert isinstance(decision, Rejected)
    assert f"not {wanted.value}" in decision.reason
    for allowed in NEXT[start]:
        assert allowed.value in decision.reason


def test_an_approval_needs_a_filing_number_given_now_or_recorded_before() -> None:
    refused = decide(None, ask(APPROVED), NOW)
    assert isinstance(refused, Rejected)
    assert "filing number" in refused.reason
    filed = applied(None, ask(FILED, filing="Shanghai-0042"))
    assert applied(filed, ask(APPROVED)).changes[-1].filing_number == "Shanghai-0042"


def test_a_change_scheduled_ahead_holds_only_from_its_time() -> None:
    first = NOW + timedelta(days=6)
    record = applied(None, ask(APPROVED, at=first, filing="F-1"))
    assert record.in_effect(NOW) is None
    assert [c.effective_at for c in record.scheduled(NOW)] == [first]
    assert record.approved_at(first)
    assert not record.scheduled(first)


def test_a_change_cannot_take_effect_before_the_last_one_recorded() -> None:
    record = applied(None, ask(APPROVED, at=NOW + timedelta(days=6), filing="F-1"))
    refused = decide(record, ask(SUSPENDED, at=NOW), NOW)
    assert isinstance(refused, Rejected)
    assert "cannot take effect before it" in refused.reason


def test_the_same_request_twice_is_applied_once() -> None:
    request = ask(APPROVED, filing="F-1")
    record = applied(None, request)
    again = decide(record, request, NOW + timedelta(seconds=5))
    assert isinstance(again, Applied)
    assert again.repeated
    assert again.record == record
    assert len(again.record.changes) == 1


def test_the_event_and_the_audit_record_of_a_change() -> None:
    request = ask(APPROVED, filing="F-1", note="approved; call 13812345678 for the paperwork")
    decision = decide(None, request, NOW)
    assert isinstance(decision, Applied)
    event = changed_event(request, decision)
    assert (event.feature, event.region, event.status, event.previous_status) == (
        "assistant",
        Region.CN,
        APPROVED,
        None,
    )
    assert event.filing_number == "F-1"
    audited = audit_record(request, decision)
    assert audited["action"] == "feature.changed"
    assert audited["subject"] == "feature:assistant/CN"
    assert audited["actor"] == "admin:li.wei"
    assert "13812345678" not in str(audited), "the trail never holds personal data"
    rejected = audit_record(ask(SUSPENDED), Rejected("assistant in CN is not filed; ..."))
    assert rejected["action"] == "feature.change_rejected"
    assert rejected["reason"].startswith("assistant in CN")  # type: ignore[union-attr]


def test_a_record_reads_back_from_its_json() -> None:
    record = applied(None, ask(APPROVED, filing="F-1"))
    assert FeatureRecord.model_validate_json(record.model_dump_json()) == record
