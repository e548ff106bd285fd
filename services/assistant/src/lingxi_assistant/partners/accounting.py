"""State every replica shares, in Redis: circuit breakers, rate limits, and token/cost accounting.

Keys (``<p>`` is a provider name, ``<day>`` a ``YYYY-MM-DD`` day in Asia/Shanghai):

- ``lingxi:partners:breaker:<p>:failures`` consecutive failures; expires ``failure_window_s`` after
  the last one, so scattered failures do not add up.
- ``lingxi:partners:breaker:<p>:open`` exists while the breaker is open; expires after ``cooling_s``.
- ``lingxi:partners:rate:<p>:<minute>`` calls in one clock minute (a fixed window), expires after 2 min.
- ``lingxi:partners:usage:<day>`` hash with ``<p>:calls``, ``<p>:input_tokens``, ``<p>:output_tokens``
  and ``<p>:cost_micro_cny`` (millionths of a yuan); kept 35 days for the monthly bill check.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from redis.asyncio import Redis

from lingxi_assistant.partners.config import BreakerConfig
from lingxi_assistant.partners.policy import accounting_day

PREFIX = "lingxi:partners"
USAGE_TTL_S = 35 * 24 * 3600
_USAGE_FIELDS = ("calls", "input_tokens", "output_tokens", "cost_micro_cny")


@dataclass(frozen=True)
class ProviderUsage:
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_micro_cny: int = 0

    @property
    def cost_cny(self) -> float:
        return self.cost_micro_cny / 1_000_000


class PartnerState:
    """Breakers, rate limits and usage of the model partners, shared through one Redis."""

    def __init__(self, redis: Redis, *, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.clock = clock

    # --- circuit breaker

    async def is_cooling(self, provider: str) -> bool:
        return bool(await self.redis.exists(f"{PREFIX}:breaker:{provider}:open"))

    async def record_failure(self, provider: str, breaker: BreakerConfig) -> bool:
        """Count a failure; True when this one opened the breaker."""
        failures_key = f"{PREFIX}:breaker:{provider}:failures"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(failures_key)
            pipe.pexpire(failures_key, _ms(breaker.failure_window_s))
            failures, _ = await pipe.execute()
        if failures < breaker.failures_to_open:
            return False
        # Keep the count past the cooling period: the first call after it is a probe, and if that
        # fails too the breaker opens again at once (half-open) instead of after N more failures.
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(f"{PREFIX}:breaker:{provider}:open", 1, px=_ms(breaker.cooling_s))
            pipe.pexpire(failures_key, _ms(breaker.cooling_s + breaker.failure_window_s))
            await pipe.execute()
        return True

    async def record_success(self, provider: str) -> None:
        await self.redis.delete(f"{PREFIX}:breaker:{provider}:failures")

    # --- rate limit

    async def take_rate_slot(self, provider: str, limit_per_minute: int | None) -> bool:
        """Count one call in this minute; False (and the call must not be made) when over the limit.

        A fixed window: simple and one round trip, at the price of up to twice the limit across a
        minute boundary. Set the limit to half the provider's when that matters.
        """
        if limit_per_minute is None:
            return True
        key = f"{PREFIX}:rate:{provider}:{int(self.clock() // 60)}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, 120)
            calls, _ = await pipe.execute()
        return bool(calls <= limit_per_minute)

    # --- accounting

    def today(self) -> str:
        day: str = accounting_day(datetime.fromtimestamp(self.clock(), UTC))
        return day

    async def record_usage(
        self, provider: str, input_tokens: int, output_tokens: int, cost_micro_cny: int
    ) -> None:
        key = f"{PREFIX}:usage:{self.today()}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(key, f"{provider}:calls", 1)
            pipe.hincrby(key, f"{provider}:input_tokens", input_tokens)
            pipe.hincrby(key, f"{provider}:output_tokens", output_tokens)
            pipe.hincrby(key, f"{provider}:cost_micro_cny", cost_micro_cny)
            pipe.expire(key, USAGE_TTL_S)
            await pipe.execute()

    async def usage(self, day: str | None = None) -> dict[str, ProviderUsage]:
        """Per-provider usage of ``day`` (default today)."""
        raw = await self.redis.hgetall(f"{PREFIX}:usage:{day or self.today()}")
        counts: dict[str, dict[str, int]] = {}
        for field, value in raw.items():
            name, _, what = _text(field).rpartition(":")
            if what in _USAGE_FIELDS:
                counts.setdefault(name, {})[what] = int(value)
        return {name: ProviderUsage(**fields) for name, fields in counts.items()}

    async def spent_today(self) -> dict[str, int]:
        """Micro-CNY spent today, by provider."""
        return {name: usage.cost_micro_cny for name, usage in (await self.usage()).items()}


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
