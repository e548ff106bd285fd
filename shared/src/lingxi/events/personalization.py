"""Consent-gated personalisation: purchases and consent in, recommendations out.

Flow: gateway ``PurchaseRecorded`` and ``ConsentChanged`` → personalization ``RecommendationsUpdated``
→ gateway. Purchase and payment data are sensitive personal information under PIPL: personalization
uses them only while the matching ``ConsentScope`` is granted, and when a user turns personalisation
off, recommendations must be non-personalised.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from lingxi.events._values import (
    NOT_BLANK,
    DottedCode,
    Identifier,
    Initiator,
    UserId,
    UtcDatetime,
    ValueObject,
)
from lingxi.events.base import Event

__all__ = [
    "CURRENCIES",
    "MAX_AMOUNT_MINOR",
    "MAX_PURCHASE_CLOCK_SKEW",
    "PERSONALIZATION_FEATURE",
    "REGIONAL_RECOMMENDATIONS_KEY",
    "ConsentChanged",
    "ConsentScope",
    "PurchaseChannel",
    "PurchaseRecorded",
    "Recommendation",
    "RecommendationsUpdated",
    "user_preferences_key",
    "user_recommendations_key",
]

MAX_AMOUNT_MINOR = 10**11
"""Largest purchase amount in minor units (one billion yuan in fen)."""

MAX_PURCHASE_CLOCK_SKEW = timedelta(minutes=5)
"""How far ``purchased_at`` may be ahead of the clock that receives it (the gateway's, or the event's
``occurred_at`` for partners publishing directly): a purchase from the future is a clock error."""

PERSONALIZATION_FEATURE = "personalization"
"""The feature whose approval the personalisation routes need."""

USER_RECOMMENDATIONS_KEY_PREFIX = "lingxi:users:recommendations:"
REGIONAL_RECOMMENDATIONS_KEY = "lingxi:personalization:regional"
"""Redis string with the non-personalised regional list (same JSON shape as a user's), kept current by
personalization: what the gateway serves for a user it has no list for."""


USER_PREFERENCES_KEY_PREFIX = "lingxi:users:preferences:"


def user_preferences_key(user_id: str) -> str:
    """Redis string personalization keeps what other services may use of a user's habits in, as JSON
    ``{"apps": {category: app id}}`` (the assistant opens the usual delivery app); absent unless the user
    grants both personalisation and purchase data."""
    return f"{USER_PREFERENCES_KEY_PREFIX}{user_id}"


def user_recommendations_key(user_id: str) -> str:
    """Redis string personalization keeps a user's current recommendations in (JSON); the gateway reads
    it for ``GET /v1/users/{id}/recommendations``."""
    return f"{USER_RECOMMENDATIONS_KEY_PREFIX}{user_id}"


class PurchaseChannel(StrEnum):
    """Where a purchase was made or paid."""

    ALIPAY = "alipay"
    WECHAT_PAY = "wechat_pay"
    TAOBAO = "taobao"
    JD = "jd"
    MEITUAN = "meituan"
    ELEME = "eleme"
    PINDUODUO = "pinduoduo"
    OTHER = "other"


class ConsentScope(StrEnum):
    """A use of personal data the user can grant or withdraw separately (PIPL separate consent)."""

    PERSONALISATION = "personalisation"
    """Personalised recommendations (Provisions on Algorithmic Recommendation)."""
    PURCHASE_DATA = "purchase_data"
    """Using the user's purchase history."""
    PAYMENT_DATA = "payment_data"
    """Using the user's payment data (amounts, channels)."""


_Text = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=NOT_BLANK)]

CURRENCIES = frozenset({"CNY", "HKD", "MOP", "TWD", "USD", "EUR", "GBP", "JPY", "KRW", "SGD"})
"""Currencies a purchase may be recorded in (ISO 4217): the mainland's and those its shoppers meet."""


def _known_currency(code: str) -> str:
    if code not in CURRENCIES:
        raise ValueError(
            f"currency {code!r} is not supported (expected one of {', '.join(sorted(CURRENCIES))})"
        )
    return code


class PurchaseRecorded(Event):
    """A user's purchase was recorded (imported from a shopping or payment app with their consent).

    The gateway produces it; personalization consumes it and uses it only while the user's consent
    for purchase data is granted.
    """

    stream = "commerce.purchase.recorded"

    user_id: UserId
    purchase_id: Identifier | None = Field(
        default=None,
        description="The shop's or payment app's order id: the same purchase recorded twice counts once. "
        "Without it, duplicates are recognised by ``event_id`` alone.",
        examples=["alipay-2026112422001400000042"],
    )
    merchant: _Text = Field(description="Merchant or shop name, as on the receipt.", examples=["瑞幸咖啡"])
    category: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")] = (
        Field(description="Category of the purchase from the regional catalog.", examples=["coffee"])
    )
    amount_minor: int = Field(
        ge=1,
        le=MAX_AMOUNT_MINOR,
        description="Amount paid, an integer in the currency's minor unit (fen for CNY: 1 yuan = 100).",
        examples=[1890],
    )
    currency: Annotated[str, AfterValidator(_known_currency)] = Field(
        default="CNY",
        description=f"ISO 4217 currency code, one of {', '.join(sorted(CURRENCIES))}.",
        examples=["CNY"],
    )
    channel: PurchaseChannel = Field(description="Where it was bought or paid.", examples=["alipay"])
    purchased_at: UtcDatetime = Field(
        description="When it was bought (UTC).", examples=["2026-11-24T01:12:00Z"]
    )
    city: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=NOT_BLANK)] | None = Field(
        default=None, description="City where it was bought, if known.", examples=["上海"]
    )


def _distinct_scopes(scopes: list[ConsentScope]) -> list[ConsentScope]:
    if len(set(scopes)) != len(scopes):
        raise ValueError("granted_scopes must not repeat")
    return scopes


class ConsentChanged(Event):
    """A user's consents changed; ``granted_scopes`` is the complete set granted from now on.

    A state, not a delta, so a redelivered or reordered event cannot grant what was withdrawn. The
    gateway produces it; personalization consumes it.
    """

    stream = "user.consent.changed"

    user_id: UserId
    granted_scopes: Annotated[list[ConsentScope], AfterValidator(_distinct_scopes)] = Field(
        max_length=len(ConsentScope),
        description="Every scope the user grants after the change; empty when all are withdrawn.",
        examples=[["personalisation", "purchase_data"]],
    )
    changed_by: Initiator = Field(description="Who made the change.", examples=["user"])


class Recommendation(ValueObject):
    """One recommended item from the regional catalog."""

    item_id: Identifier = Field(description="Catalog id of the item.", examples=["cn-coffee-0042"])
    title_zh: _Text = Field(description="Title in Simplified Chinese.", examples=["燕麦拿铁买一送一"])
    title_en: _Text = Field(description="Title in English.", examples=["Oat latte: buy one, get one free"])
    reason: DottedCode = Field(
        description="Why it is shown, as a code the device words in its language.",
        examples=["frequent_category.coffee", "popular_in_region"],
    )
    reason_zh: _Text | None = Field(
        default=None, description="The reason worded in Simplified Chinese.", examples=["因为你经常点咖啡"]
    )
    reason_en: _Text | None = Field(
        default=None, description="The reason worded in English.", examples=["because you often order coffee"]
    )
    personalised: bool = Field(description="Whether the user's own data chose this item.", examples=[True])


class RecommendationsUpdated(Event):
    """A user's recommendation list was recomputed (after a purchase, a consent change or a catalog update).

    Personalization produces it, for whatever shows suggestions on the phone to refresh them; no Lingxi
    service consumes it: the gateway serves the list personalization stores
    (``GET /v1/users/{id}/recommendations``). Without the ``personalisation`` consent every item is
    non-personalised.
    """

    stream = "personalization.recommendations.updated"

    user_id: UserId
    items: list[Recommendation] = Field(
        max_length=50,
        description="The new list, best first.",
        examples=[
            [
                {
                    "item_id": "cn-coffee-0042",
                    "title_zh": "燕麦拿铁买一送一",
                    "title_en": "Oat latte: buy one, get one free",
                    "reason": "frequent_category.coffee",
                    "personalised": True,
                }
            ]
        ],
    )
