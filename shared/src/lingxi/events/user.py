"""A user's rights over their data: erasure (PIPL; Interim Measures for Generative AI Services).

Flow: gateway ``ErasureRequested`` → every service that holds user data erases it →
``ErasureCompleted`` (one per service, ``causation_id`` = the request's ``event_id``) → gateway, which
reports the erasure done once every such service has answered.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from pydantic import Field, StringConstraints

from lingxi.events._values import Count, Initiator, UserId
from lingxi.events.base import Event

__all__ = [
    "ERASURE_SERVICES",
    "ERASURE_STATUS_KEY_PREFIX",
    "ErasureCompleted",
    "ErasureRequested",
    "erasure_status_key",
    "user_digest",
]

ERASURE_SERVICES = ("gateway", "personalization")
"""The services that hold user data, each of which confirms an erasure (``ErasureCompleted``): the
gateway (the events that entered through it, the results of the user's requests) and personalization
(consent, profile, recommendations, shared preferences, the events it published)."""

ERASURE_STATUS_KEY_PREFIX = "lingxi:users:erasure:"


def user_digest(user_id: str) -> str:
    """SHA-256 of a user id, lowercase hex: what outlives an erasure where a user must still be
    recognised (the status of their erasure, personalization's tombstone), without naming them."""
    return hashlib.sha256(user_id.encode()).hexdigest()


def erasure_status_key(user_id: str) -> str:
    """Redis hash the gateway keeps an erasure's progress in (``GET /v1/users/{id}/erasure``)."""
    return f"{ERASURE_STATUS_KEY_PREFIX}{user_digest(user_id)}"


class ErasureRequested(Event):
    """Someone asked for all of a user's personal data to be erased.

    The gateway produces it; every service that holds user data consumes it.
    """

    stream = "user.erasure.requested"

    user_id: UserId
    requested_by: Initiator = Field(description="Who asked for the erasure.", examples=["user"])


class ErasureCompleted(Event):
    """One service finished erasing a user's data.

    Each service that consumed ``ErasureRequested`` produces one; the gateway consumes them.
    """

    stream = "user.erasure.completed"

    user_id: UserId
    service: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_-]*$")] = (
        Field(
            description="Service that erased the data (its consumer group name).",
            examples=["personalization"],
        )
    )
    erased_keys: Count = Field(
        description="How many stored records (Redis keys) were deleted.", examples=[17]
    )
