"""A user's consent and the profile derived from their purchases, and how one purchase changes them.

Pure: no Redis, no clock (time is the purchase's ``purchased_at``). The service loads a user's
``Consent`` and ``Profile``, calls ``fold`` per purchase and ``on_consent`` per consent change, and writes
back what they return.

**Consent gates everything** (PIPL: purchase and payment data are sensitive, each needs its own
consent). A purchase is used only while ``purchase_data`` is granted; otherwise it is dropped unread
(``fold`` says why, nothing of it is kept). Its channel (Alipay, Meituan, ...) is learned only while
``payment_data`` is granted too. Withdrawing ``purchase_data`` deletes the whole profile (everything
in it came from purchases); withdrawing ``payment_data`` deletes the channels learned. Whether the
profile may choose what the user is shown is ``personalisation`` (see ``recommend``).

**Decaying preferences.** Each purchase adds weight 1 to its category, merchant and city (and channel),
and weights halve every ``HALF_LIFE_DAYS``: what the user buys now counts more than what they bought
last season. Weights are kept as of the newest purchase (``as_of_us``); a late purchase is added with
the weight it has at that time. Each table keeps its ``TOP_*`` heaviest entries, so a profile stays
small however long the history.

**Duplicates.** The last ``RECENT_IDS`` purchase ids are kept; a purchase seen again changes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from lingxi.events.base import Region
from lingxi.events.personalization import ConsentScope, PurchaseRecorded

from lingxi_personalization.moments import micros

__all__ = [
    "HALF_LIFE_DAYS",
    "RECENT_IDS",
    "Consent",
    "Folded",
    "Profile",
    "Purchase",
    "fold",
    "on_consent",
]

HALF_LIFE_DAYS = 45.0
"""How fast preferences fade: a purchase counts half after this many days."""
RECENT_IDS = 64
"""Purchase ids remembered to recognise duplicates."""
TOP_CATEGORIES = 24
TOP_MERCHANTS = 16
TOP_CITIES = 4
TOP_CHANNELS = 8
_DAY_US = 86_400_000_000
_DECAY_PER_US = math.log(2.0) / (HALF_LIFE_DAYS * _DAY_US)


@dataclass(slots=True)
class Consent:
    """The scopes a user grants now, as of the change that set them."""

    scopes: frozenset[ConsentScope] = frozenset()
    changed_us: int = -1
    """``occurred_at`` of the change, µs since the epoch; -1 when the user never set any (nothing granted)."""

    def grants(self, scope: ConsentScope) -> bool:
        return scope in self.scopes

    def to_json(self) -> dict[str, Any]:
        return {"scopes": sorted(self.scopes), "changed_us": self.changed_us}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Consent:
        """What ``to_json`` wrote; ValueError names what is wrong."""
        try:
            scopes = frozenset(ConsentScope(s) for s in data["scopes"])
            changed = int(data["changed_us"])
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"stored consent is malformed: {error!r}") from error
        return cls(scopes, changed)


@dataclass(slots=True)
class Profile:
    """Preferences derived from a user's purchases (only ever built with ``purchase_data`` consent)."""

    as_of_us: int = 0
    """Time the weights are decayed to: the newest purchase folded."""
    purchases: int = 0
    categories: dict[str, float] = field(default_factory=dict)
    merchants: dict[str, float] = field(default_factory=dict)
    cities: dict[str, float] = field(default_factory=dict)
    channels: dict[str, float] = field(default_factory=dict)
    """Learned only with ``payment_data`` consent."""
    recent_ids: list[str] = field(default_factory=list)
    region: str = "CN"
    """The region of the newest purchase folded (``Region``): whose rules apply to what is derived."""

    @property
    def empty(self) -> bool:
        return self.purchases == 0

    def home_city(self) -> str | None:
        """Where the user shops most, if anywhere."""
        return max(self.cities, key=self.cities.__getitem__) if self.cities else None

    def to_json(self) -> dict[str, Any]:
        return {
            "as_of_us": self.as_of_us,
            "purchases": self.purchases,
            "categories": self.categories,
            "merchants": self.merchants,
            "cities": self.cities,
            "channels": self.channels,
            "recent_ids": self.recent_ids,
            "region": self.region,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Profile:
        """What ``to_json`` wrote; ValueError names what is wrong."""
        try:
            profile = cls(
                int(data["as_of_us"]),
                int(data["purchases"]),
                _weights(data["categories"]),
                _weights(data["merchants"]),
                _weights(data["cities"]),
                _weights(data["channels"]),
                [str(i) for i in data["recent_ids"]],
                Region(data.get("region", "CN")).value,  # stored before regions were kept: all mainland
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"stored profile is malformed: {error!r}") from error
        return profile


def _weights(value: Any) -> dict[str, float]:
    out = {str(k): float(v) for k, v in value.items()}
    if not all(math.isfinite(v) and v >= 0.0 for v in out.values()):
        raise ValueError("a weight is negative or not finite")
    return out


@dataclass(frozen=True, slots=True)
class Purchase:
    """The parts of a ``PurchaseRecorded`` the profile uses."""

    purchase_id: str
    """The partner's order id, or the event id when it has none: what duplicates are recognised by."""
    purchased_us: int
    category: str
    merchant: str
    channel: str
    city: str | None
    region: str = "CN"

    @classmethod
    def from_event(cls, event: PurchaseRecorded) -> Purchase:
        """The purchase a ``PurchaseRecorded`` reports (its event id stands in for a missing purchase id)."""
        return cls(
            purchase_id=event.purchase_id or str(event.event_id),
            purchased_us=micros(event.purchased_at),
            category=event.category,
            merchant=event.merchant,
            channel=event.channel.value,
            city=event.city,
            region=event.region.value,
        )


class Folded(StrEnum):
    """What ``fold`` did with a purchase (the label of the service's purchase counter)."""

    FOLDED = "folded"
    DUPLICATE = "duplicate"
    NO_CONSENT = "no_consent"
    """``purchase_data`` is not granted: dropped unread."""


def fold(profile: Profile, consent: Consent, purchase: Purchase) -> Folded:
    """Fold one purchase into the profile (in place), as far as the consent allows."""
    if not consent.grants(ConsentScope.PURCHASE_DATA):
        return Folded.NO_CONSENT
    if purchase.purchase_id in profile.recent_ids:
        return Folded.DUPLICATE
    t = purchase.purchased_us
    if profile.purchases == 0:
        profile.as_of_us = t
    if t > profile.as_of_us:
        factor = math.exp(-(t - profile.as_of_us) * _DECAY_PER_US)
        for table in (profile.categories, profile.merchants, profile.cities, profile.channels):
            for key in table:
                table[key] *= factor
        profile.as_of_us = t
        weight = 1.0
    else:  # a late purchase weighs what it would have by now
        weight = math.exp(-(profile.as_of_us - t) * _DECAY_PER_US)
    _add(profile.categories, purchase.category, weight, TOP_CATEGORIES)
    _add(profile.merchants, purchase.merchant, weight, TOP_MERCHANTS)
    if purchase.city:
        _add(profile.cities, purchase.city, weight, TOP_CITIES)
    if consent.grants(ConsentScope.PAYMENT_DATA):
        _add(profile.channels, purchase.channel, weight, TOP_CHANNELS)
    profile.purchases += 1
    if t >= profile.as_of_us:
        profile.region = purchase.region
    profile.recent_ids.append(purchase.purchase_id)
    if len(profile.recent_ids) > RECENT_IDS:
        del profile.recent_ids[0]
    return Folded.FOLDED


def _add(table: dict[str, float], key: str, weight: float, keep: int) -> None:
    table[key] = table.get(key, 0.0) + weight
    if len(table) > keep:
        del table[min(table, key=table.__getitem__)]


def on_consent(
    consent: Consent, profile: Profile, scopes: frozenset[ConsentScope], changed_us: int
) -> tuple[Consent, Profile, bool]:
    """Apply a consent change: the new consent, the profile that may be kept under it, and whether the
    change applied (False: an older change than the one in force, delivered late; nothing changes).

    Withdrawing ``purchase_data`` empties the profile; withdrawing ``payment_data`` forgets channels.
    """
    if changed_us < consent.changed_us:
        return consent, profile, False
    kept = profile
    if ConsentScope.PURCHASE_DATA not in scopes:
        kept = Profile()
    elif ConsentScope.PAYMENT_DATA not in scopes and profile.channels:
        kept = Profile(
            profile.as_of_us,
            profile.purchases,
            profile.categories,
            profile.merchants,
            profile.cities,
            {},
            profile.recent_ids,
            profile.region,
        )
    return Consent(scopes, changed_us), kept, True
