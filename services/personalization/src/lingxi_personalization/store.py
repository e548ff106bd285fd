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

``STALE_KEY`` = ``lingxi:personalization:stale`` (sorted set, no TTL)
    Users whose profile changed since their list was worked out, each scored with when their refresh is
    due (ms since the epoch); a replica refreshing a user pushes the score to the end of its lease.

``REGIONAL_RECOMMENDATIONS_KEY`` (string, no TTL)
    The non-personalised regional list in the same shape (``user_id`` null), for users with none.

A user's write is one Lua script that changes their keys only if their consent and profile are still
the bytes this replica loaded (compare-and-set): a replica folding purchases can never write a profile
back over a withdrawal another replica just applied, and a refresh never stores a list worked out from
a profile a later purchase changed; the loser loads the user again and redoes the work. The same script
marks the user stale or fresh and adds the ``RecommendationsUpdated`` announcing a new list, so a list is
never stored without its announcement, nor a profile changed without its refresh due.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

import orjson
from lingxi.events.personalization import (
    REGIONAL_RECOMMENDATIONS_KEY,
    RecommendationsUpdated,
    user_preferences_key,
    user_recommendations_key,
)
from lingxi.events.user import user_digest
from lingxi.runtime.delivery import HandledMark
from lingxi.runtime.envelope import DATA_FIELD
from redis.asyncio import Redis

from lingxi_personalization.profile import Consent, Profile
from lingxi_personalization.recommend import Suggestion

__all__ = [
    "CONSENT_KEY_PREFIX",
    "PROFILE_KEY_PREFIX",
    "PROFILE_TTL_S",
    "STALE_KEY",
    "Loaded",
    "PersonalizationStore",
    "Stale",
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
STALE_KEY = "lingxi:personalization:stale"
TOMBSTONE_TTL_S = 30 * 24 * 3600
"""Longer than any event waits in a stream before it is handled or dead-lettered."""
PROFILE_TTL_S = 400 * 24 * 3600
"""A user silent for over a year is forgotten (profile and recommendations; the consent record stays)."""

# KEYS: stale set, RecommendationsUpdated's stream, then n × (consent, profile, recommendations,
# preferences, tombstone), then the handled marks of every user in turn. ARGV: ttl, due time (ms), the
# stream entry's data field, n, then n × (user id, consent loaded, profile loaded, tombstone loaded, new
# consent or "" to keep, new profile: "=" to keep, "" to delete, else the JSON; new recommendations or ""
# to keep, new preferences: "" to keep, "-" to delete, else the JSON; the stale mark: "+" due for a
# refresh (kept if already due), "-" fresh, "" as it is; the RecommendationsUpdated entry to add or "";
# how many handled marks), then (value, ttl) of each mark.
# Returns the indexes (1-based) of the users whose consent or profile changed since they were loaded, or
# who were erased since (loaded without consent: the tombstone is checked too); their marks are not set.
_WRITE_LUA = """
local ttl, due, data_field, n = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local conflicted = {}
local mk, ma = 2 + n * 5, 4 + n * 11
for i = 1, n do
  local a = 5 + (i - 1) * 11
  local k = 2 + (i - 1) * 5
  local ck, pk, rk, fk, tk = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5]
  local marks = tonumber(ARGV[a + 10])
  if (redis.call('GET', ck) or '') == ARGV[a + 1] and (redis.call('GET', pk) or '') == ARGV[a + 2]
      and (ARGV[a + 1] ~= '' or (redis.call('GET', tk) or '') == ARGV[a + 3]) then
    if ARGV[a + 4] ~= '' then redis.call('SET', ck, ARGV[a + 4]) end
    if ARGV[a + 5] == '' then redis.call('DEL', pk)
    elseif ARGV[a + 5] ~= '=' then redis.call('SET', pk, ARGV[a + 5], 'EX', ttl) end
    if ARGV[a + 6] ~= '' then redis.call('SET', rk, ARGV[a + 6], 'EX', ttl) end
    if ARGV[a + 7] == '-' then redis.call('DEL', fk)
    elseif ARGV[a + 7] ~= '' then redis.call('SET', fk, ARGV[a + 7], 'EX', ttl) end
    if ARGV[a + 8] == '+' then redis.call('ZADD', KEYS[1], 'NX', due, ARGV[a])
    elseif ARGV[a + 8] == '-' then redis.call('ZREM', KEYS[1], ARGV[a]) end
    if ARGV[a + 9] ~= '' then redis.call('XADD', KEYS[2], '*', data_field, ARGV[a + 9]) end
    for j = 1, marks do
      redis.call('SET', KEYS[mk + j], ARGV[ma + 2 * j - 1], 'EX', ARGV[ma + 2 * j])
    end
  else
    conflicted[#conflicted + 1] = i
  end
  mk, ma = mk + marks, ma + 2 * marks
end
return conflicted
"""

# KEYS: stale set. ARGV: now (ms), lease end (ms), most users. The due users, each due again at the
# lease's end (if the replica refreshing them dies, another takes them then).
_CLAIM_LUA = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, user in ipairs(due) do redis.call('ZADD', KEYS[1], 'XX', ARGV[2], user) end
return due
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
    """The stored list; None when there is none, or when loaded ``with_listing=False``."""
    consent_bytes: bytes
    profile_bytes: bytes
    unreadable: list[str]
    """Which stored records were not readable (logged by the caller; they start over)."""
    tombstone_bytes: bytes = b""
    """The erasure tombstone as loaded, for a user with no consent record (b"" otherwise, or none)."""


class Stale(StrEnum):
    """What a write does to the user's place among those due for a refresh."""

    KEEP = ""
    DUE = "+"
    """The profile changed and the list was not worked out: due after the refresh delay (or earlier, if
    already due)."""
    FRESH = "-"
    """The list was worked out from the profile written: not due."""


@dataclass(frozen=True, slots=True)
class UserWrite:
    user_id: str
    loaded: Loaded
    consent: Consent | None
    """None: unchanged."""
    profile: Profile | None
    """None: unchanged; empty: deleted."""
    listing: dict[str, Any] | None
    """None: unchanged."""
    apps: dict[str, str] | None = None
    """The usual apps to share; None: unchanged, empty: nothing to share (deleted)."""
    stale: Stale = Stale.KEEP
    announcement: str = ""
    """A ``RecommendationsUpdated`` to add to its stream with the write, as its entry's data field
    (``stream_entry``), or ""."""
    handled: Sequence[HandledMark] = ()
    """The handled marks of the inputs this write is the whole effect of (the purchases it folds), set
    with it: a redelivery of those inputs after the write finds them handled and folds nothing again,
    however many purchases the profile has seen since."""


class PersonalizationStore:
    def __init__(self, redis: Redis, *, profile_ttl_s: int = PROFILE_TTL_S) -> None:
        self.redis = redis
        self.profile_ttl_s = profile_ttl_s
        self._write = redis.register_script(_WRITE_LUA)
        self._claim = redis.register_script(_CLAIM_LUA)

    async def load(self, user_ids: Iterable[str], *, with_listing: bool = True) -> dict[str, Loaded]:
        """Consent, profile and (unless ``with_listing`` is False) recommendations of each user, in one
        MGET; the tombstones of users with no consent record in a second one, when there are any."""
        ids = list(dict.fromkeys(user_ids))
        if not ids:
            return {}
        width = 3 if with_listing else 2
        keys: list[str] = []
        for u in ids:
            keys += (consent_key(u), profile_key(u))
            if with_listing:
                keys.append(user_recommendations_key(u))
        values = cast(list[bytes | None], await self.redis.mget(keys))
        # Only a user without consent can have been erased and not consented again since.
        unconsented = [u for n, u in enumerate(ids) if not values[width * n]]
        erased_at: dict[str, bytes | None] = {}
        if unconsented:
            tombstones = cast(
                list[bytes | None], await self.redis.mget([tombstone_key(u) for u in unconsented])
            )
            erased_at = dict(zip(unconsented, tombstones, strict=True))
        out: dict[str, Loaded] = {}
        for n, user_id in enumerate(ids):
            raw_consent, raw_profile = values[width * n : width * n + 2]
            raw_listing = values[width * n + 2] if with_listing else None
            unreadable: list[str] = []
            consent, profile, shown = Consent(), Profile(), None
            if erased := erased_at.get(user_id):
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
            out[user_id] = Loaded(
                consent, profile, shown, raw_consent or b"", raw_profile or b"", unreadable, erased or b""
            )
        return out

    async def write(self, writes: Sequence[UserWrite], due_ms: int = 0) -> list[str]:
        """Write each user's changes unless their consent or profile changed since loaded; returns
        those users (the caller loads them again). A user marked ``Stale.DUE`` is due for a refresh at
        ``due_ms`` (ms since the epoch) unless already due earlier."""
        if not writes:
            return []
        keys: list[str] = [STALE_KEY, RecommendationsUpdated.stream]
        args: list[bytes | str | int] = [self.profile_ttl_s, due_ms, DATA_FIELD, len(writes)]
        marks: list[HandledMark] = []
        for w in writes:
            keys += (
                consent_key(w.user_id),
                profile_key(w.user_id),
                user_recommendations_key(w.user_id),
                user_preferences_key(w.user_id),
                tombstone_key(w.user_id),
            )
            if w.profile is None:
                profile = b"="
            else:
                profile = b"" if w.profile.empty else orjson.dumps(w.profile.to_json())
            args += (
                w.user_id,
                w.loaded.consent_bytes,
                w.loaded.profile_bytes,
                w.loaded.tombstone_bytes,
                b"" if w.consent is None else orjson.dumps(w.consent.to_json()),
                profile,
                b"" if w.listing is None else orjson.dumps(w.listing),
                b"" if w.apps is None else orjson.dumps({"apps": w.apps}) if w.apps else b"-",
                w.stale.value,
                w.announcement,
                len(w.handled),
            )
            marks += w.handled
        for mark in marks:
            keys.append(mark.key)
            args += (mark.value, mark.ttl_s)
        conflicted = cast(list[int], await self._write(keys=keys, args=args))
        return [writes[i - 1].user_id for i in conflicted]

    async def claim_stale(self, now_ms: int, lease_ms: int, limit: int) -> list[str]:
        """Up to ``limit`` users due for a refresh by ``now_ms``, each leased to this caller for
        ``lease_ms`` (then due again, should it not write them)."""
        claimed = await self._claim(keys=[STALE_KEY], args=[now_ms, now_ms + lease_ms, limit])
        users = cast(list[bytes], claimed)
        return [user.decode() for user in users]

    async def overdue(self, before_ms: int) -> bool:
        """Whether any user was due for a refresh before ``before_ms`` (ms since the epoch)."""
        return bool(await self.redis.zrangebyscore(STALE_KEY, "-inf", before_ms, start=0, num=1))

    async def stale_count(self) -> int:
        """Users whose list is out of date (due now or later)."""
        return int(await self.redis.zcard(STALE_KEY))

    async def erase(self, user_id: str, erased_us: int) -> int:
        """Delete every key naming the user and leave the tombstone; returns the keys deleted."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(tombstone_key(user_id), erased_us, ex=TOMBSTONE_TTL_S)
            pipe.delete(*user_keys(user_id))
            pipe.zrem(STALE_KEY, user_id)
            replies = await pipe.execute()
        return int(replies[1])

    async def save_regional(self, shown: dict[str, Any]) -> None:
        await self.redis.set(REGIONAL_RECOMMENDATIONS_KEY, orjson.dumps(shown))
