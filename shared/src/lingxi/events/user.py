"""A user's rights over their data: erasure (PIPL; Interim Measures for Generative AI Services).

Flow: gateway ``ErasureRequested`` → every service that holds user data erases it →
``ErasureCompleted`` (one per service, ``causation_id`` = the request's ``event_id``) → gateway, which
reports the erasure done once every such service has answered.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from lingxi.events._values import Count, Initiator, UserId
from lingxi.events.base import Event

__all__ = ["ErasureCompleted", "ErasureRequested"]


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
