"""Personalization's Redis: each user's consent, profile and recommendations.

Keys (the gateway reads the two read models; keep this list in step with it):

``lingxi:personalization:consent:<user_id>`` (string, no TTL: the record of what the user agreed to)
    ``Consent.to_json()``: ``{"scopes": [...], "changed_us": int}``.

``lingxi:personalization:profile:<user_id>`` (string, ``PROFILE_TTL_S``, refreshed on write)
    ``Profile.to_json()``; exists only while ``purchase_data`` is granted.

``user_recommendations_key(id)`` = ``lingxi:users:recommendations:<user_id>`` (string, ``PROFILE_TTL_S``)
    The list the gateway serves (``listing``): ``{"user_id", "personalised", "updated_at",
    "items": [{"item_id", "kind", "title_zh", "title_en", "app_id", "reason", "reason_zh", "reason_en",
    "personalised"}]}``.

``user_preferences_key(id)`` = ``lingxi:users:preferences:<user_id>`` (string, ``PROFILE_TTL_S``)
    ``{"apps": {category: app id}}`` for the assistant (``preferences``); deleted when there is nothing
    the user's consent lets it share.

``lingxi:personalization:erased:<sha256 of user_id>`` (string, ``TOMBSTONE_TTL_S``)
    When the user was erased (µs since the epoch): a consent change from before it, delivered late, is
    ignored, so it cannot bring the user back. It names no one.

``REGIONAL_RECOMMENDATIONS_KEY`` (string, no TTL)
    The non-personalised regional list in the same shape (``user_id`` null), for users with none.

A user's write is one Lua script that changes their keys only if their consent and profile are still
the bytes this replica loaded (compare-and-set): a replica folding purchases can never write a profile
back over a withdrawal another replica just applied; the loser loads the user again and redoes the work.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import orjson
from lingxi.events.personalization import (
    REGIONAL_RECOMMENDATIONS_KEY,
    user_preferences_key,
    user_recommendations_key,
)
from lingxi.events.user import user_digest
from redis.asyncio import Redis

from lingxi_personalization.profile import Consent, Profile
from lingxi_personalization.recommend import Suggestion

__all__ = [
    "CONSENT_KEY_PREFIX",
    "PROFILE_KEY_PREFIX",
    "PROFILE_TTL_S",
    "Loaded",
    "PersonalizationStore",
    "UserWrite",
    "consent_key",
    "listing",
    "profile_key",
    "tombstone_key",
    "user_keys",
]

CONSENT_KEY_PREFIX = "lingxi:personalization:consent:"
PROFILE_KEY_PREFIX = "lingxi:personalization:profile:"
TOMBSTONE_KEY_PREFIX = "lingxi:personalization:erased:"
TOMBSTONE_TTL_S = 30 * 24 * 3600
"""Longer than any event waits in a stream before it is handled or dead-lettered."""
PROFILE_TTL_S = 400 * 24 * 3600
"""A user silent for over a year is forgotten (profile and recommendations; the consent record stays)."""

# KEYS: n × (consent, profile, recommendations, preferences). ARGV: ttl, then n × (consent loaded,
# profile loaded, new consent or "" to keep, new profile or "" to delete, new recommendations or "" to
# keep, new preferences: "" to keep, "-" to delete, else the JSON).
# Returns the indexes (1-based) of the users whose consent or profile changed since they were loaded.
_WRITE_LUA = """
local ttl = ARGV[1]
local conflicted = {}
for i = 1, #KEYS / 4 do
  local a = 2 + (i - 1) * 6
  local ck, pk, rk, fk = KEYS[4 * i - 3], KEYS[4 * i - 2], KEYS[4 * i - 1], KEYS[4 * i]
  if (redis.call('GET', ck) or '') == ARGV[a] and (redis.call('GET', pk) or '') == ARGV[a + 1] then
    if ARGV[a + 2] ~= '' then redis.call('SET', ck, ARGV[a + 2]) end
    if ARGV[a + 3] ~= '' then redis.call('SET', pk, ARGV[a + 3], 'EX', ttl) else redis.call('DEL', pk) end
    if ARGV[a + 4] ~= '' then redis.call('SET', rk, ARGV[a + 4], 'EX', ttl) end
    if ARGV[a + 5] == '-' then redis.call('DEL', fk)
    elseif ARGV[a + 5] ~= '' then redis.call('SET', fk, ARGV[a + 5], 'EX', ttl) end
  else
    conflicted[#conflicted + 1] = i
  end
end
return conflicted
"""


def consent_key(user_id: str) -> str:
    return f"{CONSENT_KEY_PREFIX}{user_id}"


def profile_key(user_id: str) -> str:
    return f"{PROFILE_KEY_PREFIX}{user_id}"


def tombstone_key(user_id: str) -> str:
    return f"{TOMBSTONE_KEY_PREFIX}{user_digest(user_id)}"


def user_keys(user_id: str) -> list[str]:
    """Every key personalization keeps that names the user."""
    return [
        consent_key(user_id),
        profile_key(user_id),
        user_recommendations_key(user_id),
        user_preferences_key(user_id),
    ]


def listing(user_id: str | None, suggestions: Sequence[Suggestion], at: datetime) -> dict[str, Any]:
    """The recommendations read model (module doc)."""
    return {
        "user_id": user_id,
        "personalised": any(s.personalised for s in suggestions),
        "updated_at": at.isoformat(),
        "items": [
            {
                "item_id": s.item.item_id,
                "kind": s.item.kind.value,
                "title_zh": s.item.title_zh,
                "title_en": s.item.title_en,
                "app_id": s.item.app_id,
                "reason": s.reason,
                "reason_zh": s.reason_zh,
                "reason_en": s.reason_en,
                "personalised": s.personalised,
            }
            for s in suggestions
        ],
    }


def same_items(stored: dict[str, Any] | None, suggestions: Sequence[Suggestion]) -> bool:
    """Whether the stored list shows the same items for the same reasons (then nothing is announced)."""
    if stored is None:
        return False
    before = [(i.get("item_id"), i.get("reason")) for i in stored.get("items", [])]
    return before == [(s.item.item_id, s.reason) for s in suggestions]


@dataclass(slots=True)
class Loaded:
    """One user as loaded: the parsed records and the bytes they came from (the compare-and-set)."""

    consent: Consent
    profile: Profile
    listing: dict[str, Any] | None
    consent_bytes: bytes
    profile_bytes: bytes
    unreadable: list[str]
    """Which stored records were not readable (logged by the caller; they start over)."""


@dataclass(frozen=True, slots=True)
class UserWrite:
    user_id: str
    loaded: Loaded
    consent: Consent | None
    """None: unchanged."""
    profile: Profile
    """Empty: deleted."""
    listing: dict[str, Any] | None
    """None: unchanged."""
    apps: dict[str, str] | None = None
    """The usual apps to share; None: unchanged, empty: nothing to share (deleted)."""


class PersonalizationStore:
    def __init__(self, redis: Redis, *, profile_ttl_s: int = PROFILE_TTL_S) -> None:
        self.redis = redis
        self.profile_ttl_s = profile_ttl_s
        self._write = redis.register_script(_WRITE_LUA)

    async def load(self, user_ids: Iterable[str]) -> dict[str, Loaded]:
        """Consent, profile and recommendations of each user, in one MGET."""
        ids = list(dict.fromkeys(user_ids))
        if not ids:
            return {}
        keys = [
            k
            for u in ids
            for k in (consent_key(u), profile_key(u), user_recommendations_key(u), tombstone_key(u))
        ]
        values = cast(list[bytes | None], await self.redis.mget(keys))
        out: dict[str, Loaded] = {}
        for n, user_id in enumerate(ids):
            raw_consent, raw_profile, raw_listing, erased = values[4 * n : 4 * n + 4]
            unreadable: list[str] = []
            consent, profile, shown = Consent(), Profile(), None
            if erased and not raw_consent:
                # Erased, and not consented again since: nothing is granted as of the erasure.
                consent = Consent(frozenset(), int(erased))
            if raw_consent:
                try:
                    consent = Consent.from_json(orjson.loads(raw_consent))
                except (ValueError, TypeError) as error:
                    unreadable.append(f"consent: {error}")
            if raw_profile:
                try:
                    profile = Profile.from_json(orjson.loads(raw_profile))
                except (ValueError, TypeError) as error:
                    unreadable.append(f"profile: {error}")
            if raw_listing:
                try:
                    shown = orjson.loads(raw_listing)
                except ValueError:
                    shown = None
            out[user_id] = Loaded(consent, profile, shown, raw_consent or b"", raw_profile or b"", unreadable)
        return out

    async def write(self, writes: Sequence[UserWrite]) -> list[str]:
        """Write each user's changes unless their consent or profile changed since loaded; returns
        those users (the caller loads them again)."""
        if not writes:
            return []
        keys: list[str] = []
        args: list[bytes | str | int] = [self.profile_ttl_s]
        for w in writes:
            keys += (
                consent_key(w.user_id),
                profile_key(w.user_id),
                user_recommendations_key(w.user_id),
                user_preferences_key(w.user_id),
            )
            args += (
                w.loaded.consent_bytes,
                w.loaded.profile_bytes,
                b"" if w.consent is None else orjson.dumps(w.consent.to_json()),
                b"" if w.profile.empty else orjson.dumps(w.profile.to_json()),
                b"" if w.listing is None else orjson.dumps(w.listing),
                b"" if w.apps is None else orjson.dumps({"apps": w.apps}) if w.apps else b"-",
            )
        conflicted = cast(list[int], await self._write(keys=keys, args=args))
        return [writes[i - 1].user_id for i in conflicted]

    async def erase(self, user_id: str, erased_us: int) -> int:
        """Delete every key naming the user and leave the tombstone; returns the keys deleted."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(tombstone_key(user_id), erased_us, ex=TOMBSTONE_TTL_S)
            pipe.delete(*user_keys(user_id))
            replies = await pipe.execute()
        return int(replies[1])

    async def save_regional(self, shown: dict[str, Any]) -> None:
        await self.redis.set(REGIONAL_RECOMMENDATIONS_KEY, orjson.dumps(shown))
