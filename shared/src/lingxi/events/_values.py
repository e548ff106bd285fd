"""Building blocks shared by the event modules: the value-object base and the field types that more
than one event uses.

Each field type is an ``Annotated`` alias that carries its constraints and, where its meaning is the
same wherever it appears (a device id is a device id), its description and examples too. Generic types
(``Sha256Hex``, ``DottedCode``, ``Probability``...) carry only constraints: the field that uses one
says what it means.

Nothing here is a stream or an event. Event modules import from here; ``lingxi.events`` re-exports the
few names other code needs (``ValueObject``, ``Scalar``, ``Initiator``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal, TypeAlias
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints


class ValueObject(BaseModel):
    """Base of the values nested inside events: as strict, closed and immutable as ``Event`` itself."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, hide_input_in_errors=True)


NOT_BLANK = r"\S"
"""Pattern for free text: at least one character that is not whitespace (patterns are searched)."""

_IDENTIFIER = r"^[A-Za-z0-9._:-]+$"
_DOTTED_CODE = r"^[a-z][a-z0-9_.]*$"

# --- generic constrained types (the field says what it means) ------------------------------------

Sha256Hex = Annotated[str, StringConstraints(min_length=64, max_length=64, pattern=r"^[0-9a-f]{64}$")]
"""A SHA-256 digest as 64 lowercase hex characters (``hashlib.sha256(...).hexdigest()``)."""

DottedCode = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_DOTTED_CODE)]
"""A machine-readable code: lowercase, digits, ``_`` and ``.``, starting with a letter (``alarm.set``)."""

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_IDENTIFIER)]
"""An opaque id from another system: letters, digits and ``. _ : -``, 1 to 128 characters."""

Probability = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
"""A score or confidence between 0 and 1 inclusive."""

Count = Annotated[int, Field(ge=0)]
"""A count of things: never negative."""


def to_utc(value: datetime) -> datetime:
    """``value`` in UTC; ValueError for an instant UTC cannot hold (past year 9999, before year 1)."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value.isoformat()} is outside the years 1 to 9999 in UTC") from None


UtcDatetime = Annotated[AwareDatetime, AfterValidator(to_utc)]
"""A timezone-aware instant; naive times are rejected and aware ones are stored as UTC."""

# --- JSON scalars and small maps of them ---------------------------------------------------------

Scalar: TypeAlias = str | int | float | bool
"""A JSON scalar, the value type of the small open maps events carry (slots, evidence, details)."""

ScalarKey = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")
]
"""Key of a scalar map: an identifier-like name (``city``, ``battery_health_pct``)."""

MAX_SCALAR_TEXT_CHARS = 2000
"""Longest string value a scalar map may hold."""

WireScalar = (
    Annotated[str, StringConstraints(max_length=MAX_SCALAR_TEXT_CHARS)]
    | int
    | Annotated[float, Field(allow_inf_nan=False)]
    | bool
)
"""``Scalar`` as validated on the wire: finite floats, bounded strings. Same static type as ``Scalar``."""

MAX_MAP_ENTRIES = 64
"""Most entries a scalar map may hold."""

ScalarMap = Annotated[dict[ScalarKey, WireScalar], Field(max_length=MAX_MAP_ENTRIES)]
"""A small open map of named scalars (at most ``MAX_MAP_ENTRIES``)."""

# --- ids and names with one meaning everywhere ----------------------------------------------------

RequestId = Annotated[
    UUID,
    Field(
        description="Id the gateway gave the device's request; also the FastStream correlation id.",
        examples=["7f3c2a90-6a1e-4c3b-9a8e-2d4f5b6c7d8e"],
    ),
]

DeviceId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128, pattern=_IDENTIFIER),
    Field(
        description="Stable id of the handset, as enrolled with the gateway.",
        examples=["dev-8f14e45f-ceea-467f"],
    ),
]

UserId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128, pattern=_IDENTIFIER),
    Field(description="Lingxi account id of the user.", examples=["u-20261125-000042"]),
]

ReasonCode = Annotated[
    DottedCode,
    Field(
        description="Machine-readable reason why compliance blocked the result.",
        examples=["moderation.politics"],
    ),
]

EngineName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_.-]*$"),
    Field(
        description="Engine that produced the content: a local engine or a model provider.",
        examples=["local-nlu"],
    ),
]

ModelName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$"),
    Field(
        description="Name of the model that produced the content, as shown to users.",
        examples=["qwen-plus"],
    ),
]

Locale = Literal["zh-CN", "en-US"]
"""Language of a request and of everything shown back for it."""

LocaleField = Annotated[
    Locale, Field(description="Language the user asked in and is answered in.", examples=["zh-CN"])
]


def _known_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    # OSError: a name that is a folder of the zone database ("US", "Asia"), not a zone in it.
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"unknown IANA time zone {name!r}") from exc
    return name


IanaTimeZone = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$"),
    AfterValidator(_known_zone),
    Field(description="IANA time zone of the device.", examples=["Asia/Shanghai"]),
]


class Initiator(StrEnum):
    """Who started a change that concerns a user's data."""

    USER = "user"
    """The user, from the device."""
    ADMIN = "admin"
    """An operator, for example on the user's written request."""
    SYSTEM = "system"
    """Lingxi itself, for example when an account is closed."""
