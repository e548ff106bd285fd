"""The routing decisions as pure functions: no Redis, no network."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx2
import openai
import pytest
from lingxi_assistant.partners.config import BudgetConfig, ProviderConfig, RetryConfig
from lingxi_assistant.partners.policy import (
    Attempt,
    BadResponse,
    Failure,
    accounting_day,
    classify,
    cost_micro_cny,
    counts_against_breaker,
    failure_reason,
    over_budget,
    parse_retry_after,
    retry_delay,
)
from lingxi_assistant.partners.router import parse_completion

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def provider(name: str = "qwen", price_in: float = 0.0008, price_out: float = 0.002) -> ProviderConfig:
    return ProviderConfig(
        name=name,
        vendor="dashscope",
        base_url="https://dashscope.aliyuncs.com/compatible-mode/v1",
        model="qwen-plus",
        api_key_env="DASHSCOPE_API_KEY",
        region="CN",
        price_per_1k_input_tokens=price_in,
        price_per_1k_output_tokens=price_out,
    )


def status_error(status: int, headers: dict[str, str] | None = None) -> openai.APIStatusError:
    request = httpx2.Request("POST", "https://example.invalid/v1/chat/completions")
    response = httpx2.Response(status, headers=headers or {}, request=request)
    error_class = {429: openai.RateLimitError, 500: openai.InternalServerError}.get(
        status, openai.APIStatusError
    )
    return error_class(f"status {status}", response=response, body=None)


def test_cost_is_counted_in_millionths_of_a_yuan() -> None:
    # 1,000 input tokens at 0.0008 CNY/1k + 500 output tokens at 0.002 CNY/1k = 0.0008 + 0.001 CNY
    assert cost_micro_cny(provider(), 1000, 500) == 1800
    assert cost_micro_cny(provider(), 0, 0) == 0
    assert cost_micro_cny(provider(price_in=0, price_out=0), 10_000, 10_000) == 0


@pytest.mark.parametrize(
    ("budget", "spent", "expected"),
    [
        (BudgetConfig(), {"qwen": 10**12}, False),  # no cap
        (BudgetConfig(daily_cny=1), {"qwen": 400_000, "deepseek": 500_000}, False),
        (BudgetConfig(daily_cny=1), {"qwen": 500_000, "deepseek": 500_000}, True),  # all providers add up
        (BudgetConfig(per_provider_daily_cny={"qwen": 0.5}), {"qwen": 500_000}, True),
        (BudgetConfig(per_provider_daily_cny={"qwen": 0.5}), {"deepseek": 900_000}, False),
    ],
)
def test_over_budget(budget: BudgetConfig, spent: dict[str, int], expected: bool) -> None:
    assert over_budget(budget, spent, provider("qwen")) is expected


def test_a_free_provider_is_never_over_budget() -> None:
    local = provider("ollama", price_in=0, price_out=0)
    assert not over_budget(BudgetConfig(daily_cny=1), {"qwen": 5_000_000}, local)


def test_the_budget_day_is_the_calendar_day_in_beijing() -> None:
    assert accounting_day(datetime(2026, 11, 25, 15, 59, tzinfo=UTC)) == "2026-11-25"
    assert accounting_day(datetime(2026, 11, 25, 16, 0, tzinfo=UTC)) == "2026-11-26"  # midnight UTC+8


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "1"}, 1.0),
        ({"retry-after": "0.25"}, 0.25),
        ({"retry-after-ms": "300", "retry-after": "9"}, 0.3),
        ({"retry-after": "Wed, 25 Nov 2026 02:00:05 GMT"}, 5.0),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    assert parse_retry_after(headers, now=NOW) == seconds


RETRY = RetryConfig(max_attempts_per_provider=2, max_retry_after_s=2, default_retry_after_s=0.5)


@pytest.mark.parametrize(
    ("failure", "attempt", "delay"),
    [
        (Failure("rate_limited", "RateLimitError", 429, 1.0), 1, 1.0),
        (Failure("rate_limited", "RateLimitError", 429, None), 1, 0.5),  # no header: the default wait
        (Failure("rate_limited", "RateLimitError", 429, 30.0), 1, None),  # longer than the cap: move on
        (Failure("rate_limited", "RateLimitError", 429, 1.0), 2, None),  # attempts used up
        (Failure("server_error", "InternalServerError", 503, 1.0), 1, 1.0),
        (Failure("server_error", "InternalServerError", 503, None), 1, None),
        (Failure("server_error", "InternalServerError", 500, 1.0), 1, None),
        (Failure("timeout", "APITimeoutError"), 1, None),
    ],
)
def test_retry_delay(failure: Failure, attempt: int, delay: float | None) -> None:
    assert retry_delay(failure, attempt, RETRY) == delay


@pytest.mark.parametrize(
    ("error", "outcome", "status"),
    [
        (status_error(429, {"retry-after": "1"}), "rate_limited", 429),
        (status_error(500), "server_error", 500),
        (status_error(502), "server_error", 502),
        (status_error(401), "misconfigured", 401),
        (status_error(404), "misconfigured", 404),
        (status_error(400), "rejected", 400),
        (status_error(408), "timeout", 408),
        (openai.APITimeoutError(request=httpx2.Request("POST", "https://x.invalid")), "timeout", None),
        (
            openai.APIConnectionError(request=httpx2.Request("POST", "https://x.invalid")),
            "connection_error",
            None,
        ),
        (BadResponse("no choices"), "bad_response", None),
        (ValueError("Expecting value: line 1 column 1"), "bad_response", None),
        (AttributeError("'str' object has no attribute 'choices'"), "bad_response", None),
    ],
)
def test_classify(error: BaseException, outcome: str, status: int | None) -> None:
    failure = classify(error)
    assert (failure.outcome, failure.status, failure.error) == (outcome, status, type(error).__name__)


def test_classify_keeps_retry_after() -> None:
    assert classify(status_error(429, {"retry-after": "1"})).retry_after_s == 1.0


def test_a_rejected_request_does_not_cool_the_provider_for_everyone() -> None:
    # One user's text refused by a provider's content check must not open the breaker for all users.
    assert not counts_against_breaker("rejected")
    assert counts_against_breaker("server_error")
    assert counts_against_breaker("misconfigured")


def attempts(*outcomes: Any) -> list[Attempt]:
    return [Attempt(f"p{i}", outcome) for i, outcome in enumerate(outcomes)]


@pytest.mark.parametrize(
    ("outcomes", "reason"),
    [
        ((), "no_provider_configured"),
        (("skipped_not_configured", "skipped_not_configured"), "no_provider_configured"),
        (("skipped_not_configured", "skipped_budget"), "budget_exhausted"),
        (("skipped_budget", "skipped_budget"), "budget_exhausted"),
        (("server_error", "skipped_budget"), "all_failed"),  # something was called and failed
        (("timeout", "bad_response"), "all_failed"),
        (("skipped_cooling", "skipped_not_configured"), "all_failed"),
    ],
)
def test_failure_reason(outcomes: tuple[str, ...], reason: str) -> None:
    assert failure_reason(attempts(*outcomes)) == reason


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html>502</html>",
        b'{"choices": [{"message": ',
        b'{"choices": []}',
        b'{"choices": "nope"}',
        b'{"choices": [{"message": {"content": "   "}}]}',
        b'{"choices": [{"message": {"content": null}}]}',
        b'{"choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":-1,"completion_tokens":0}}',
        b"[1, 2, 3]",
    ],
)
def test_garbage_is_a_bad_response_not_a_crash(body: bytes) -> None:
    with pytest.raises(BadResponse):
        parse_completion(body)


def test_parse_completion() -> None:
    text, usage = parse_completion(
        b'{"choices": [{"message": {"content": " \xe4\xbd\xa0\xe5\xa5\xbd "}}],'
        b' "usage": {"prompt_tokens": 3, "completion_tokens": 2}}'
    )
    assert text == "你好"
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (3, 2)
    assert parse_completion(b'{"choices": [{"message": {"content": "ok"}}]}') == ("ok", None)
