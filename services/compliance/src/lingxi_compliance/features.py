"""Feature approvals: which status changes the registry accepts. Pure: no I/O, no clock.

A feature's life in one region, as the regulator sees it:

    (nothing) ──file──> filed ──approve──> approved ──suspend──> suspended ──approve──> approved
                  └─────────approve──────────^   any of the three ──withdraw──> withdrawn ──file──> filed

Approving straight from nothing is allowed (a feature approved before Lingxi kept its records), but an
approval always needs a filing number: the one given, or one recorded earlier. Changes may be
scheduled ahead (``effective_at`` in the future); each new change must take effect no earlier than
the last one recorded, so the history stays one line and the status it starts from is certain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lingxi.events.compliance import (
    FeatureChanged,
    FeatureChangeRequested,
    FeatureRecord,
    FeatureStatus,
    FeatureStatusChange,
)
from lingxi.logging import mask_personal_data

FILED, APPROVED, SUSPENDED, WITHDRAWN = (
    FeatureStatus.FILED,
    FeatureStatus.APPROVED,
    FeatureStatus.SUSPENDED,
    FeatureStatus.WITHDRAWN,
)

NEXT: dict[FeatureStatus | None, frozenset[FeatureStatus]] = {
    None: frozenset({FILED, APPROVED}),
    FILED: frozenset({APPROVED, WITHDRAWN}),
    APPROVED: frozenset({SUSPENDED, WITHDRAWN}),
    SUSPENDED: frozenset({APPROVED, WITHDRAWN}),
    WITHDRAWN: frozenset({FILED}),
}
"""The statuses each status may change to (``None``: never filed in the region)."""


@dataclass(frozen=True)
class Applied:
    record: FeatureRecord
    change: FeatureStatusChange
    previous: FeatureStatus | None
    repeated: bool = False
    """The request was applied before (a redelivery): nothing changed now."""


@dataclass(frozen=True)
class Rejected:
    reason: str


def _name(status: FeatureStatus | None) -> str:
    return status.value if status else "not filed"


def decide(
    record: FeatureRecord | None, request: FeatureChangeRequested, now: datetime
) -> Applied | Rejected:
    """Apply ``request`` to the pair's ``record`` (``None``: no record yet), or say why not."""
    feature, region = request.feature, request.region.value
    record = record or FeatureRecord(feature=feature, region=request.region)
    changes = record.changes
    for index, change in enumerate(changes):
        if change.request_id == request.event_id:
            previous = changes[index - 1].status if index else None
            return Applied(record, change, previous, repeated=True)
    last = changes[-1] if changes else None
    previous = last.status if last else None
    where = f"{feature} in {region}"
    if request.status not in NEXT[previous]:
        allowed = ", ".join(sorted(s.value for s in NEXT[previous]))
        return Rejected(f"{where} is {_name(previous)}; it can become {allowed}, not {request.status.value}")
    if last is not None and request.effective_at < last.effective_at:
        return Rejected(
            f"{where} already has a change taking effect at {last.effective_at.isoformat()}; "
            "a new change cannot take effect before it"
        )
    filing_number = request.filing_number or (last.filing_number if last else None)
    if request.status is APPROVED and filing_number is None:
        return Rejected(f"approving {where} needs the regulator's filing number (--filing-number)")
    change = FeatureStatusChange(
        status=request.status,
        filing_number=filing_number,
        effective_at=request.effective_at,
        changed_by=request.requested_by,
        note=request.note,
        request_id=request.event_id,
        recorded_at=now,
    )
    updated = record.model_copy(update={"changes": (*changes, change)})
    return Applied(updated, change, previous)


def changed_event(request: FeatureChangeRequested, applied: Applied) -> FeatureChanged:
    """The event announcing an applied change."""
    return FeatureChanged(
        region=request.region,
        feature=request.feature,
        status=applied.change.status,
        previous_status=applied.previous,
        filing_number=applied.change.filing_number,
        effective_at=applied.change.effective_at,
        changed_by=applied.change.changed_by,
    )


def audit_record(request: FeatureChangeRequested, decision: Applied | Rejected) -> dict[str, object]:
    """What the audit trail keeps of a change request: ids, codes and the operator's note (masked of
    anything that looks like personal data, which the trail never holds)."""
    record: dict[str, object] = {
        "actor": request.requested_by,
        "subject": f"feature:{request.feature}/{request.region.value}",
        "feature": request.feature,
        "region": request.region.value,
        "requested_status": request.status.value,
        "effective_at": request.effective_at.isoformat(),
        "request_id": str(request.event_id),
        "note": mask_personal_data(request.note) if request.note else None,
    }
    if isinstance(decision, Rejected):
        return {**record, "action": "feature.change_rejected", "reason": decision.reason}
    return {
        **record,
        "action": "feature.changed",
        "previous_status": decision.previous.value if decision.previous else None,
        "filing_number": decision.change.filing_number,
    }
