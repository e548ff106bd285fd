"""The routing decisions, free of I/O: what a call costs, whether the budget allows it, how a failure is
classed, whether to retry the same provider, and why nothing answered. Unit-tested without Redis."""

from __future__ import annotations

import email.utils
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import openai

from lingxi_assistant.partners.config import BudgetConfig, ProviderConfig, RetryConfig

ACCOUNTING_TZ = ZoneInfo("Asia/Shanghai")
"""Budget days follow the calendar in Beijing time: providers bill in it and the operators read it."""

CallOutcome = Literal[
    "ok",
    "rate_limited",  # 429
    "server_error",  # 5xx
    "timeout",
    "connection_error",  # refused, reset, cut mid-body
    "bad_response",  # not JSON, wrong shape, no choices, empty text
    "misconfigured",  # 401/403/404: wrong key, model or URL
    "rejected",  # any other 4xx: the provider refused this request
]
SkipOutcome = Literal[
    "skipped_residency", "skipped_not_configured", "skipped_cooling", "skipped_budget", "skipped_rate_limit"
]
Outcome = CallOutcome | SkipOutcome
FailureReason = Literal["no_provider_configured", "budget_exhausted", "all_failed"]

# "rejected" may be about this user's text (a content check): it must not cool the provider for everyone.
_BREAKER_OUTCOMES = frozenset(
    {"rate_limited", "server_error", "timeout", "connection_error", "bad_response", "misconfigured"}
)


@dataclass(frozen=True)
class Attempt:
    """One provider in the chain: called (with the outcome) or skipped (with the reason)."""

    provider: str
    outcome: Outcome
    error: str | None = None
    """Exception class name of a failed call (``RateLimitError``, ``APITimeoutError``, ``BadResponse``...)."""
    status: int | None = None
    """HTTP status, when there was one."""
    latency_ms: int = 0

    @property
    def called(self) -> bool:
        return not self.outcome.startswith("skipped_")

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "outcome": self.outcome,
            "error": self.error,
            "status": self.status,
            "latency_ms": self.latency_ms,
        }


class BadResponse(ValueError):
    """The provider answered 2xx with something that is not a usable completion."""


@dataclass(frozen=True)
class Failure:
    """A failed call, classed."""

    outcome: CallOutcome
    error: str
    status: int | None = None
    retry_after_s: float | None = None


def classify(error: BaseException, *, now: datetime | None = None) -> Failure:
    """Class any exception from a call; unknown ones are a bad response (never a crash)."""
    name = type(error).__name__
    if isinstance(error, openai.APIStatusError):
        status = error.status_code
        retry_after = parse_retry_after(error.response.headers, now=now)
        if status == 429:
            return Failure("rate_limited", name, status, retry_after)
        if status >= 500:
            return Failure("server_error", name, status, retry_after)
        if status == 408:
            return Failure("timeout", name, status)
        if status in (401, 403, 404):
            return Failure("misconfigured", name, status)
        return Failure("rejected", name, status)
    if isinstance(error, openai.APITimeoutError | TimeoutError):  # before the base APIConnectionError
        return Failure("timeout", name)
    if isinstance(error, openai.APIConnectionError):
        return Failure("connection_error", name)
    return Failure("bad_response", name)


def parse_retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds asked by ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date); None if absent."""
    try:
        if (ms := headers.get("retry-after-ms")) is not None:
            return max(float(ms) / 1000, 0.0)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(float(value), 0.0)
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)
    except (ValueError, TypeError, OverflowError):
        return None


def retry_delay(failure: Failure, attempt_number: int, retry: RetryConfig) -> float | None:
    """Seconds to wait before calling the same provider again, or None to move on along the chain.

    Only 429 and 503 say "come back later"; a wait longer than ``max_retry_after_s`` is not worth it
    (asking sooner than told would only be refused again), so the next provider is tried instead.
    """
    if attempt_number >= retry.max_attempts_per_provider:
        return None
    if failure.status == 429:
        delay = retry.default_retry_after_s if failure.retry_after_s is None else failure.retry_after_s
    elif failure.status == 503 and failure.retry_after_s is not None:
        delay = failure.retry_after_s
    else:
        return None
    return delay if delay <= retry.max_retry_after_s else None


def counts_against_breaker(outcome: Outcome) -> bool:
    return outcome in _BREAKER_OUTCOMES


def cost_micro_cny(provider: ProviderConfig, input_tokens: int, output_tokens: int) -> int:
    """Cost of one call in millionths of a yuan (integers add up exactly in Redis)."""
    # tokens × (CNY per 1,000 tokens) = the cost in thousandths of a yuan
    milli_cny: float = (
        input_tokens * provider.price_per_1k_input_tokens
        + output_tokens * provider.price_per_1k_output_tokens
    )
    return round(milli_cny * 1000)


def estimate_tokens(text: str) -> int:
    """Token count when a provider reports no usage: one a character, generous for Chinese and more so
    for English, so the budget is never under-counted."""
    return len(text)


def over_budget(budget: BudgetConfig, spent_micro_cny: Mapping[str, int], provider: ProviderConfig) -> bool:
    """True when today's overall spend, or this provider's, has reached its cap. A free provider (a local
    server) is never over budget: calling it spends nothing."""
    if provider.price_per_1k_input_tokens == 0 and provider.price_per_1k_output_tokens == 0:
        return False
    if budget.daily_cny is not None and sum(spent_micro_cny.values()) >= budget.daily_cny * 1_000_000:
        return True
    cap = budget.per_provider_daily_cny.get(provider.name)
    return cap is not None and spent_micro_cny.get(provider.name, 0) >= cap * 1_000_000


def accounting_day(at: datetime) -> str:
    """The budget day an instant belongs to, ``YYYY-MM-DD`` in Asia/Shanghai."""
    return at.astimezone(ACCOUNTING_TZ).date().isoformat()


def failure_reason(attempts: Iterable[Attempt]) -> FailureReason:
    """Why nothing answered: nothing usable configured, the budget stopped every call, or calls failed."""
    attempts = list(attempts)
    if any(attempt.called for attempt in attempts):
        return "all_failed"
    if any(attempt.outcome == "skipped_budget" for attempt in attempts):
        return "budget_exhausted"
    if all(attempt.outcome in ("skipped_not_configured", "skipped_residency") for attempt in attempts):
        return "no_provider_configured"
    return "all_failed"  # skipped while cooling or over the rate limit: recently failing or saturated
