"""The envelope every Lingxi event shares.

An event is a strict, frozen pydantic model. Each concrete event class names its stream once, in the
``stream`` class variable, and nowhere else is that name written as a literal.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from lingxi.events._values import to_utc


class Region(StrEnum):
    """Where a user's data lives. ``CN`` (mainland China) comes first; the others exist so that
    residency rules can be exercised."""

    CN = "CN"
    HK = "HK"
    SG = "SG"
    EU = "EU"
    US = "US"


def utc_now() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """Base of every event on a Lingxi stream.

    Validation is strict: unknown fields, wrong types and out-of-range values are rejected at the edge
    with an error naming the field. Adding an optional field keeps ``schema_version``; any other change
    is a new version, and consumers declare the versions they accept in ``accepted_versions``.
    """

    # hide_input_in_errors: a validation error never repeats the user's text (it reaches logs).
    model_config = ConfigDict(
        strict=True, extra="forbid", frozen=True, str_strip_whitespace=False, hide_input_in_errors=True
    )

    stream: ClassVar[str]
    """Redis stream this event type is published on: ``<domain>.<noun>.<past-tense verb>``."""

    accepted_versions: ClassVar[frozenset[int]] = frozenset({1})
    """Schema versions this code can read."""

    event_id: UUID = Field(
        default_factory=uuid4,
        description="Unique id of this event; consumers deduplicate on it.",
        examples=["0b6f1d2e-8f0a-4d7c-9a51-3c7e2f1b9a10"],
    )
    occurred_at: AwareDatetime = Field(
        default_factory=utc_now,
        description="When the event happened, timezone-aware (stored as UTC).",
        examples=["2026-11-25T08:30:00Z"],
    )
    schema_version: int = Field(default=1, ge=1, description="Version of this event's schema.", examples=[1])
    region: Region = Field(
        description="Region whose rules and residency apply to this event.", examples=["CN"]
    )
    causation_id: UUID | None = Field(
        default=None,
        description="event_id of the event that caused this one; empty for events that start a flow.",
        examples=["5d1c7c8e-2b8e-4f57-a8a4-6f0f1e1f2a33"],
    )

    @field_validator("occurred_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return to_utc(value)

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value not in cls.accepted_versions:
            accepted = ", ".join(str(v) for v in sorted(cls.accepted_versions))
            raise ValueError(f"schema_version {value} is not accepted (accepted: {accepted})")
        return value

    def to_json_dict(self) -> dict[str, Any]:
        """The event as JSON-ready primitives, the form that travels on a stream."""
        return self.model_dump(mode="json", by_alias=True)
