"""Compliance: AI-content labels, feature approvals and the audit trail.

The compliance service checks every draft and analysis, releases it with the labels that the
Measures for Labeling AI-Generated Synthetic Content and GB 45438-2025 require (or blocks it), keeps
the per-region feature approvals, and writes a hash-chained audit trail. The label value objects and
the field types shared by every released/blocked event live here; the released/blocked events
themselves live beside the drafts they release (``assistant``, ``vision``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import ConfigDict, Field, StringConstraints

from lingxi.events._values import (
    NOT_BLANK,
    DottedCode,
    ScalarMap,
    Sha256Hex,
    UtcDatetime,
    ValueObject,
)
from lingxi.events.base import Event, Region

__all__ = [
    "FEATURE_OUTCOME_TTL_S",
    "FEATURE_REGISTRY_KEY",
    "FEATURE_REGISTRY_VERSION_KEY",
    "GENESIS_HASH",
    "LABEL_ROOM_CHARS",
    "MAX_NOTICE_CHARS",
    "MAX_SAFE_REPLY_CHARS",
    "AigcField",
    "AigcMetadata",
    "AuditRecorded",
    "AuditRequested",
    "ExplicitLabel",
    "ExplicitLabelField",
    "FeatureChangeOutcome",
    "FeatureChangeRequested",
    "FeatureChanged",
    "FeatureRecord",
    "FeatureStatus",
    "FeatureStatusChange",
    "FilingNumber",
    "FilingNumberField",
    "ModerationVerdict",
    "SafeReply",
]

MAX_NOTICE_CHARS = 64
"""Longest visible AI-content notice."""

LABEL_ROOM_CHARS = 2 * MAX_NOTICE_CHARS
"""Characters a released text may have beyond its draft: the notice plus its brackets and line breaks."""

MAX_SAFE_REPLY_CHARS = 1000
"""Longest canned reply shown in place of a blocked result."""

GENESIS_HASH = "0" * 64
"""``previous_hash`` of the first entry of the audit chain."""


# --- AI-content labels (GB 45438-2025) -----------------------------------------------------------


class ExplicitLabel(ValueObject):
    """The visible AI-content notice (explicit label) shown with a released result.

    Compliance picks it in the user's language; for text the standard allows the start, the end or a
    suitable position in the middle.
    """

    notice: str = Field(
        min_length=1,
        max_length=MAX_NOTICE_CHARS,
        pattern=NOT_BLANK,
        description="The notice text exactly as the user sees it (without surrounding brackets).",
        examples=["本内容由人工智能生成", "AI-generated content"],
    )
    position: Literal["start", "end", "middle"] = Field(
        description="Where in the content the notice is placed.", examples=["end"]
    )


_LABEL_TEXT = StringConstraints(max_length=256)


class AigcMetadata(ValueObject):
    """The implicit label: the ``AIGC`` metadata of GB 45438-2025, attached to every released result.

    Python names are snake_case; on the wire (and when validating) the standard's keys are used
    (``Label``, ``ContentProducer``...). Either spelling is accepted on input; output always uses the
    standard's keys.
    """

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    label: Literal[1, 2, 3] = Field(
        alias="Label",
        description="1 = AI-generated, 2 = possibly AI-generated, 3 = suspected AI-generated.",
        examples=[1],
    )
    content_producer: Annotated[str, StringConstraints(min_length=1), _LABEL_TEXT] = Field(
        alias="ContentProducer",
        description="Name or code of the service provider that generated the content.",
        examples=["Lingxi"],
    )
    produce_id: Annotated[str, StringConstraints(min_length=1), _LABEL_TEXT] = Field(
        alias="ProduceID",
        description="The producer's unique id for this piece of content.",
        examples=["7f3c2a90-6a1e-4c3b-9a8e-2d4f5b6c7d8e"],
    )
    reserved_code1: Annotated[str, _LABEL_TEXT] = Field(
        default="",
        alias="ReservedCode1",
        description="Producer's integrity data (Lingxi: SHA-256 of the labelled text); empty if none.",
        examples=["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"],
    )
    content_propagator: Annotated[str, _LABEL_TEXT] = Field(
        default="",
        alias="ContentPropagator",
        description="Name or code of the platform that propagates the content; empty if none.",
        examples=[""],
    )
    propagate_id: Annotated[str, _LABEL_TEXT] = Field(
        default="",
        alias="PropagateID",
        description="The propagator's unique id for this piece of content; empty if none.",
        examples=[""],
    )
    reserved_code2: Annotated[str, _LABEL_TEXT] = Field(
        default="",
        alias="ReservedCode2",
        description="Propagator's integrity data; empty if none.",
        examples=[""],
    )


FilingNumber = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^\S(.*\S)?$")]
"""A regulator's filing (registration) number, as displayed: no leading or trailing blanks."""

ExplicitLabelField = Annotated[
    ExplicitLabel,
    Field(
        description="The visible notice, already placed in the content.",
        examples=[{"notice": "本内容由人工智能生成", "position": "end"}],
    ),
]

AigcField = Annotated[
    AigcMetadata,
    Field(
        description="Implicit label (GB 45438-2025 AIGC metadata) the device stores with the content.",
        examples=[
            {
                "Label": 1,
                "ContentProducer": "Lingxi",
                "ProduceID": "7f3c2a90-6a1e-4c3b-9a8e-2d4f5b6c7d8e",
                "ReservedCode1": "",
                "ContentPropagator": "",
                "PropagateID": "",
                "ReservedCode2": "",
            }
        ],
    ),
]

FilingNumberField = Annotated[
    FilingNumber | None,
    Field(
        description="Filing number of the generative-AI service, shown with the result; none if not filed.",
        examples=["Beijing-Lingxi-202611250001"],
    ),
]

SafeReply = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_SAFE_REPLY_CHARS, pattern=NOT_BLANK),
    Field(
        description="Canned reply the device shows instead of the blocked result, in the request's locale.",
        examples=["抱歉，这个问题我暂时无法回答。"],
    ),
]


# --- moderation ---------------------------------------------------------------------------------


class ModerationVerdict(ValueObject):
    """What moderation decided about a text, without the text: the action and why."""

    action: Literal["allow", "flag", "redact", "block"] = Field(
        description="The strictest action across the policy's matches.", examples=["redact"]
    )
    reason_codes: list[DottedCode] = Field(
        default_factory=list,
        max_length=16,
        description="``moderation.<category>`` of every matched category, in the policy's order.",
        examples=[["moderation.personal_data"]],
    )


# --- feature approvals ---------------------------------------------------------------------------


class FeatureStatus(StrEnum):
    """Where a feature stands with the regulator in one region. Only ``approved`` features run."""

    FILED = "filed"
    """Filing submitted, not yet approved: the feature stays off."""
    APPROVED = "approved"
    """Approved: the feature may run."""
    SUSPENDED = "suspended"
    """Temporarily stopped (for example on a regulator's request)."""
    WITHDRAWN = "withdrawn"
    """Withdrawn for good."""


_FeatureKey = Annotated[
    DottedCode, Field(description="Feature the status applies to.", examples=["assistant.chat"])
]

_ActorId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._@:-]+$")]

_EffectiveAt = Annotated[
    UtcDatetime,
    Field(description="When the new status takes effect (UTC).", examples=["2026-12-01T00:00:00Z"]),
]


class FeatureChangeRequested(Event):
    """An operator asked to change a feature's status in a region (the envelope's ``region``).

    A command: the gateway's admin API produces it; compliance consumes it, records it in the audit
    trail and, if it applies, publishes ``FeatureChanged``.
    """

    stream = "compliance.feature_change.requested"

    feature: _FeatureKey
    status: FeatureStatus = Field(description="Requested new status.", examples=["approved"])
    filing_number: FilingNumberField = None
    effective_at: _EffectiveAt
    requested_by: _ActorId = Field(
        description="Admin account that asked for the change.", examples=["admin:li.wei"]
    )
    note: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        pattern=NOT_BLANK,
        description="Operator's reason for the change, for the audit trail.",
        examples=["CAC filing approved on 2026-11-24"],
    )


class FeatureChanged(Event):
    """A feature's status changed in a region (the envelope's ``region``).

    Compliance produces it after applying a ``FeatureChangeRequested``; the gateway consumes it to
    refresh its feature gate.
    """

    stream = "compliance.feature.changed"

    feature: _FeatureKey
    status: FeatureStatus = Field(description="The feature's status from now on.", examples=["approved"])
    previous_status: FeatureStatus | None = Field(
        default=None,
        description="Status before the change; none when the feature had no status in this region.",
        examples=["filed"],
    )
    filing_number: FilingNumberField = None
    effective_at: _EffectiveAt
    changed_by: _ActorId = Field(
        description="Admin account whose request was applied.", examples=["admin:li.wei"]
    )


# --- the approval registry, as compliance keeps it in Redis for every gateway to read --------------

FEATURE_REGISTRY_KEY = "lingxi:compliance:features"
"""Redis hash: field ``<feature>/<region>`` → that pair's ``FeatureRecord`` as JSON. Compliance alone
writes it; gateways read it (a consumer group would hand each change to one gateway replica only)."""

FEATURE_REGISTRY_VERSION_KEY = "lingxi:compliance:features:version"
"""Counter compliance increments with every change: readers reload the hash only when it moved."""

FEATURE_OUTCOME_TTL_S = 7 * 24 * 3600
"""How long the outcome of a change request can be looked up."""


FEATURE_OUTCOME_KEY_PREFIX = "lingxi:compliance:feature-requests:"


def feature_outcome_key(request_id: UUID) -> str:
    """Redis key of a change request's ``FeatureChangeOutcome`` (the request event's ``event_id``)."""
    return f"{FEATURE_OUTCOME_KEY_PREFIX}{request_id}"


_RequestIdOfChange = Annotated[
    UUID,
    Field(
        description="``event_id`` of the FeatureChangeRequested it answers.",
        examples=["5b1f4c2e-3d4a-4e8b-9c7d-1a2b3c4d5e6f"],
    ),
]


class FeatureStatusChange(ValueObject):
    """One applied change of a feature's status in a region; it holds from ``effective_at`` on."""

    status: FeatureStatus = Field(description="The status from this change on.", examples=["approved"])
    filing_number: FilingNumberField = None
    effective_at: _EffectiveAt
    changed_by: _ActorId = Field(description="Who asked for the change.", examples=["admin:li.wei"])
    note: str | None = Field(
        default=None, description="The operator's reason, if given.", examples=["filing approved"]
    )
    request_id: _RequestIdOfChange
    recorded_at: UtcDatetime = Field(
        description="When compliance recorded the change (UTC).", examples=["2026-11-25T02:00:00Z"]
    )


class FeatureRecord(ValueObject):
    """A feature's approval history in one region, in effect order: what the gate decides from."""

    feature: _FeatureKey
    region: Region = Field(description="Region the history applies to.", examples=["CN"])
    changes: tuple[FeatureStatusChange, ...] = Field(
        default=(), description="Every applied change, oldest effect first.", examples=[[]]
    )

    @staticmethod
    def field_name(feature: str, region: str) -> str:
        """The record's field in ``FEATURE_REGISTRY_KEY``."""
        return f"{feature}/{region}"

    def in_effect(self, now: datetime) -> FeatureStatusChange | None:
        """The change in effect at ``now``; none before the first one takes effect."""
        current = None
        for change in self.changes:
            if change.effective_at > now:
                break
            current = change
        return current

    def scheduled(self, now: datetime) -> tuple[FeatureStatusChange, ...]:
        """Changes that take effect after ``now``."""
        return tuple(c for c in self.changes if c.effective_at > now)

    def approved_at(self, now: datetime) -> bool:
        change = self.in_effect(now)
        return change is not None and change.status is FeatureStatus.APPROVED


class FeatureChangeOutcome(ValueObject):
    """What compliance made of a ``FeatureChangeRequested``: applied, or rejected with the reason."""

    request_id: _RequestIdOfChange
    feature: _FeatureKey
    region: Region = Field(description="Region the request was for.", examples=["CN"])
    status: FeatureStatus = Field(description="The status that was asked for.", examples=["approved"])
    outcome: Literal["applied", "rejected"] = Field(description="The decision.", examples=["applied"])
    reason: str | None = Field(
        default=None,
        description="Why a request was rejected, for the operator; none when applied.",
        examples=["vision in SG is not filed; it can become approved, filed, not suspended"],
    )
    decided_at: UtcDatetime = Field(
        description="When compliance decided (UTC).", examples=["2026-11-25T02:00:00Z"]
    )


# --- audit trail ---------------------------------------------------------------------------------


class _AuditFacts(Event):
    """What an audit entry says: who did what to what, and the facts behind it (no personal data)."""

    actor: _ActorId = Field(
        description="Who acted: an admin account or ``service:<name>``.",
        examples=["service:compliance", "service:personalization"],
    )
    action: DottedCode = Field(
        description="What was done.", examples=["answer.released", "purchase.dropped_no_consent"]
    )
    subject: str = Field(
        min_length=1,
        max_length=256,
        pattern=NOT_BLANK,
        description="What it was done to, as ``<kind>:<id>``; a user as ``user:<sha256 of the id>``.",
        examples=[
            "request:7f3c2a90-6a1e-4c3b-9a8e-2d4f5b6c7d8e",
            "user:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        ],
    )
    detail: ScalarMap = Field(
        default_factory=dict,
        description="Facts about the decision (codes, counts, scopes; no personal data).",
        examples=[{"reason_code": "moderation.politics", "risk_level": "high"}, {"purchases": 2}],
    )


class AuditRequested(_AuditFacts):
    """A service asks for one of its decisions about users' data to go into the audit trail: a consent
    changed, purchases dropped for want of consent, a user erased.

    Any service may produce it (compliance keeps the trail; the others do not write to it); compliance
    consumes it and appends an entry. The subject names a user by ``lingxi.events.user.user_digest``
    only, so the trail outlives an erasure without naming anyone; compliance refuses (dead-letters) a
    request that carries what looks like personal data.
    """

    stream = "compliance.audit.requested"


class AuditRecorded(_AuditFacts):
    """An entry was appended to the hash-chained audit trail.

    Compliance produces one for every decision it makes (release, block, feature change); each entry's
    hash covers the previous entry's hash, so a removed or edited entry breaks the chain. The stream is
    the trail itself: no service consumes it; ``lingxi audit verify`` and ``lingxi audit export`` read it.
    """

    stream = "compliance.audit.recorded"

    previous_hash: Sha256Hex = Field(
        description="``entry_hash`` of the previous entry (``GENESIS_HASH`` for the first).",
        examples=[GENESIS_HASH],
    )
    entry_hash: Sha256Hex = Field(
        description="SHA-256 over this entry's content and ``previous_hash``, lowercase hex.",
        examples=["3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b"],
    )
