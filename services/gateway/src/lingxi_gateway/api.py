"""HTTP request and response bodies of the device API."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from fastapi.exceptions import RequestValidationError
from lingxi.events import MAX_QUERY_CHARS, Event, Locale, Region
from lingxi.events._values import DeviceId, UserId
from lingxi.features import Standing
from pydantic import BaseModel, ConfigDict, Field, ValidationError

MAX_BODY_BYTES = 64 * 1024
# Below the 15 s graceful shutdown, so a wait in flight is answered, not cut, when a replica stops.
MAX_WAIT_S = 10.0


COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "A body that cannot be read at all (not UTF-8, a broken multipart form)."},
    401: {"description": "No bearer token, or one that is refused (the body's ``code`` says how)."},
    403: {"description": "The token may not do this (the body says what it lacks)."},
    429: {"description": "The device, user or administrator is over a rate limit (see Retry-After)."},
}
"""The refusals every ``/v1`` route may answer with: an unreadable body, and those of
``lingxi_gateway.security`` and ``lingxi_gateway.ratelimits``."""


class AssistantQuery(BaseModel):
    """A spoken or typed request to the assistant."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, examples=["明天早上七点叫我起床"])
    locale: Locale = Field(examples=["zh-CN"])
    device_id: DeviceId = Field(examples=["dev-42"])
    region: Region = Field(examples=["CN"])
    user_id: UserId | None = Field(
        default=None, examples=["user-7"], description="Default: the user signed in, as the token says."
    )
    timezone: str = Field(default="Asia/Shanghai", examples=["Asia/Shanghai"])


class RequestState(BaseModel):
    """Where a request stands; ``result`` is present once it was released, blocked, or failed (an
    image that could not be analysed: the result names the reason)."""

    request_id: UUID
    status: Literal["pending", "released", "blocked", "failed"]
    kind: str
    result: dict[str, Any] | None = None
    links: dict[str, str] = Field(default_factory=dict)


# Envelope fields that mean something on the bus but nothing to a device.
_BUS_ONLY_FIELDS = frozenset({"event_id", "occurred_at", "schema_version", "causation_id", "request_id"})


def device_view(event: Event) -> dict[str, Any]:
    """A result event as the device sees it: the answer, without the bus envelope."""
    return {k: v for k, v in event.to_json_dict().items() if k not in _BUS_ONLY_FIELDS}


def body_error(error: ValidationError) -> RequestValidationError:
    """An event that cannot be built from a request body: the same 422 as a malformed body."""
    return RequestValidationError(
        [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
    )


class FeatureNotApproved(Exception):
    """The request's feature is not approved in its region: HTTP 451 (unavailable for legal reasons)."""

    def __init__(self, standing: Standing) -> None:
        super().__init__(f"{standing.feature} is not approved in {standing.region}")
        self.standing = standing

    def body(self) -> dict[str, str]:
        s = self.standing
        return {
            "detail": f"{s.feature} is not approved in region {s.region} (status: {s.status_name})",
            "feature": s.feature,
            "region": s.region,
            "status": s.status_name,
        }
