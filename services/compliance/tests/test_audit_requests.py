"""Other services' decisions about users' data become audit records; personal data is refused."""

from __future__ import annotations

import pytest
from lingxi.events import Region
from lingxi.events.compliance import AuditRequested
from lingxi.events.user import user_digest
from lingxi_compliance.audit import check_record, requested_record


def request(**detail: str | int) -> AuditRequested:
    return AuditRequested(
        region=Region.CN,
        actor="service:personalization",
        action="purchase.dropped_no_consent",
        subject=f"user:{user_digest('u-42')}",
        detail=detail,
    )


def test_a_request_becomes_a_record_naming_no_one() -> None:
    asked = request(purchases=2)
    record = requested_record(asked)
    check_record(record)
    assert record == {
        "actor": "service:personalization",
        "action": "purchase.dropped_no_consent",
        "subject": f"user:{user_digest('u-42')}",
        "region": "CN",
        "requested_event_id": str(asked.event_id),
        "detail": {"purchases": 2},
    }
    assert "u-42" not in str(record)


@pytest.mark.parametrize("detail", [{"phone": "13812345678"}, {"note": "mail me at li.wei@example.com"}])
def test_a_request_carrying_personal_data_is_refused(detail: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="personal data"):
        check_record(requested_record(request(**detail)))
