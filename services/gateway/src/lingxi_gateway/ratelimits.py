"""Rate limits per device, per signed-in user and per administrator, counted in Redis so that every
gateway replica shares them (the ``limits`` library, sliding window counters, keys ``lingxi:rate:*``).

Every ``/v1`` request with a valid token counts against its device and, when a user is signed in on the
device, against that user (a user with several phones has one allowance); an administrator's against
their name. Keys hold a hash of the device or user id, not the id; erasing a user deletes theirs.
Over a limit the answer is ``429`` with ``Retry-After``. Spending at model partners is capped
separately, per provider and per day, by the assistant (docs/partners.md).

Limits are written as the library parses them: ``120/minute``, or several at once,
``10/second;120/minute;2000/day``. An empty setting turns that limit off.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time

from limits import RateLimitItem, parse_many
from limits.aio.storage import Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from lingxi.auth import DevicePrincipal, Principal
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

KEY_PREFIX = "lingxi:rate"


class RateLimitSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LINGXI_GATEWAY_RATE_", extra="ignore")

    device: str = Field(default="120/minute", description="Requests a device may make (empty: no limit).")
    user: str = Field(
        default="240/minute", description="Requests a signed-in user may make, all their devices together."
    )
    admin: str = Field(default="600/minute", description="Requests an administrator may make.")

    @field_validator("device", "user", "admin")
    @classmethod
    def _parses(cls, value: str) -> str:
        if value.strip():
            try:
                parse_many(value)
            except ValueError:
                example = "120/minute or 10/second;120/minute"
                raise ValueError(
                    f"{value!r} is not a rate limit: write COUNT/PERIOD, e.g. {example}"
                ) from None
        return value


def _pseudonym(identifier: str) -> str:
    """What a counter's key holds instead of a device or user id: a listing of keys names nobody."""
    return hashlib.blake2b(identifier.encode(), digest_size=12).hexdigest()


def _items(value: str) -> list[RateLimitItem]:
    return parse_many(value) if value.strip() else []


class RateLimited(Exception):
    """Over a limit: HTTP 429 with ``Retry-After``."""

    def __init__(self, who: str, limit: RateLimitItem, retry_after_s: int) -> None:
        super().__init__(f"{who} is over its rate limit of {limit}; retry in {retry_after_s} s")
        self.detail = str(self)
        self.retry_after_s = retry_after_s


class RateLimiter:
    def __init__(self, settings: RateLimitSettings, storage: Storage) -> None:
        self._limiter = SlidingWindowCounterRateLimiter(storage)
        self._device = _items(settings.device)
        self._user = _items(settings.user)
        self._admin = _items(settings.admin)

    def _counters(self, caller: Principal) -> list[tuple[str, RateLimitItem, tuple[str, str]]]:
        if isinstance(caller, DevicePrincipal):
            device = ("device", _pseudonym(caller.device_id))
            counters = [(f"device {caller.device_id}", item, device) for item in self._device]
            if caller.user_id is not None:
                user = ("user", _pseudonym(caller.user_id))
                counters += [(f"user {caller.user_id}", item, user) for item in self._user]
            return counters
        return [(f"administrator {caller.name}", item, ("admin", caller.name)) for item in self._admin]

    async def forget_user(self, user_id: str) -> None:
        """Delete the user's counters (their erasure: the keys are derived from the user's id)."""
        user = _pseudonym(user_id)
        await asyncio.gather(*(self._limiter.clear(item, "user", user) for item in self._user))

    async def admit(self, caller: Principal) -> None:
        """Count one request of ``caller``; RateLimited when it is over any of its limits. Every
        counter is hit, together: a refused request still counts, so hammering after a 429 does not
        shorten the wait."""
        counters = self._counters(caller)
        if not counters:
            return
        allowed = await asyncio.gather(*(self._limiter.hit(item, *key) for _, item, key in counters))
        for (who, item, key), ok in zip(counters, allowed, strict=True):
            if not ok:
                stats = await self._limiter.get_window_stats(item, *key)
                raise RateLimited(who, item, max(1, math.ceil(stats.reset_time - time.time())))
