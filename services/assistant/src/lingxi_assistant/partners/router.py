"""Ask the model partners of the user's region, in chain order, until one gives a usable answer.

One retry loop, ours: the SDK's own retries are off (``max_retries=0``), so a 429 is retried here,
after its ``Retry-After``, and every other failure moves on along the chain. Breakers, rate limits
and the budget live in Redis (:mod:`.accounting`); the decisions are pure functions (:mod:`.policy`).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType

from lingxi.logging import get_logger
from lingxi.tracing import tracer
from lingxi_compliance.residency import residency
from openai import AsyncOpenAI
from opentelemetry.trace import SpanKind
from prometheus_client import Counter, Histogram
from pydantic import BaseModel, Field, ValidationError
from redis.asyncio import Redis

from lingxi_assistant.partners.accounting import PartnerState
from lingxi_assistant.partners.config import PartnersConfig, ProviderConfig
from lingxi_assistant.partners.policy import (
    Attempt,
    BadResponse,
    FailureReason,
    SkipOutcome,
    classify,
    cost_micro_cny,
    counts_against_breaker,
    estimate_tokens,
    failure_reason,
    over_budget,
    retry_delay,
)

log = get_logger("lingxi_assistant.partners")

Message = Mapping[str, str]
"""A chat message: ``{"role": "system" | "user" | "assistant", "content": "..."}``."""

_NO_KEY = "none"  # local servers ignore the key, but the SDK insists on one

PARTNER_CALLS = Counter(
    "lingxi_partner_calls_total",
    "Model partner attempts by outcome (ok, a failure such as timeout or rate_limited, or skipped_<why>).",
    ["provider", "outcome"],
)
PARTNER_SECONDS = Histogram(
    "lingxi_partner_call_seconds",
    "Time of each model partner call that was made (skips excluded), whatever its outcome.",
    ["provider"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0),
)
PARTNER_TOKENS = Counter(
    "lingxi_partner_tokens_total", "Tokens of answered calls (kind: input, output).", ["provider", "kind"]
)
PARTNER_COST = Counter(
    "lingxi_partner_cost_cny_total",
    "What answered calls cost, in yuan (the configured prices).",
    ["provider"],
)


def _count(attempts: Sequence[Attempt]) -> None:
    for attempt in attempts:
        PARTNER_CALLS.labels(attempt.provider, attempt.outcome).inc()
        if attempt.called:
            PARTNER_SECONDS.labels(attempt.provider).observe(attempt.latency_ms / 1000)


@dataclass(frozen=True)
class PartnerAnswer:
    text: str
    provider: str
    vendor: str
    model: str
    """The model asked for (the name in the configuration), as shown to users and in the filing."""
    region: str
    input_tokens: int
    output_tokens: int
    usage_estimated: bool
    """The provider reported no usage; the tokens are a generous estimate."""
    cost_cny: float
    latency_ms: int
    """Of the call that answered."""
    attempts: tuple[Attempt, ...]
    """Every provider of the chain looked at, the answering call last."""

    @property
    def providers_tried(self) -> list[str]:
        """Providers actually called, in order."""
        return list(dict.fromkeys(a.provider for a in self.attempts if a.called))


class PartnersUnavailable(Exception):
    """No partner answered. Tell the user this needs the online service; never make an answer up."""

    def __init__(self, reason: FailureReason, region: str, attempts: Sequence[Attempt]) -> None:
        self.reason = reason
        self.region = region
        self.attempts = tuple(attempts)
        tried = ", ".join(f"{a.provider}: {a.outcome}" for a in self.attempts) or "no provider in the chain"
        super().__init__(f"no model partner answered for region {region} ({reason}; {tried})")


class _Message(BaseModel):
    content: str | None = None


class _Choice(BaseModel):
    message: _Message


class _Usage(BaseModel):
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)


class _Completion(BaseModel):
    """The part of an OpenAI chat completion we rely on, validated by us: the SDK does not validate."""

    choices: list[_Choice]
    usage: _Usage | None = None


def parse_completion(body: bytes) -> tuple[str, _Usage | None]:
    """Text and usage of a completion body; :class:`BadResponse` for anything unusable."""
    try:
        completion = _Completion.model_validate_json(body)
    except ValidationError as error:
        raise BadResponse(f"not a chat completion: {error.errors()[0]['msg']}") from None
    if not completion.choices:
        raise BadResponse("no choices")
    text = (completion.choices[0].message.content or "").strip()
    if not text:
        raise BadResponse("empty answer")
    return text, completion.usage


class PartnerRouter:
    """Routes chat requests to the configured partners; one per process, shared by all requests."""

    def __init__(
        self,
        config: PartnersConfig,
        redis: Redis,
        *,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``env`` holds the API keys (default ``os.environ``); ``clock`` (epoch seconds) sets the
        rate-limit minute and the budget day."""
        self.config = config
        self.state = PartnerState(redis, clock=clock)
        env = os.environ if env is None else env
        # Keys are read once: a provider whose variable is unset or empty is "not configured".
        self._keys: dict[str, str | None] = {
            name: (env.get(p.api_key_env) or None) if p.api_key_env else _NO_KEY
            for name, p in config.providers.items()
        }
        self._clients: dict[str, AsyncOpenAI] = {}

    def configured(self, provider: str) -> bool:
        return self._keys.get(provider) is not None

    async def ask(self, messages: Sequence[Message], *, region: str, request_id: str) -> PartnerAnswer:
        """Answer from the first partner of ``region``'s chain that gives a usable answer.

        Raises :class:`PartnersUnavailable` with the reason and every attempt when none does.
        """
        region = region.upper()
        attempts: list[Attempt] = []
        for name in self.config.chains.get(region, []):
            provider = self.config.providers[name]
            skip = await self._skip_reason(provider, region, request_id)
            if skip is not None:
                attempts.append(Attempt(name, skip))
                continue
            answer = await self._ask_provider(provider, messages, region, request_id, attempts)
            if answer is not None:
                _count(attempts)
                PARTNER_TOKENS.labels(answer.provider, "input").inc(answer.input_tokens)
                PARTNER_TOKENS.labels(answer.provider, "output").inc(answer.output_tokens)
                PARTNER_COST.labels(answer.provider).inc(answer.cost_cny)
                return answer
        _count(attempts)
        error = PartnersUnavailable(failure_reason(attempts), region, attempts)
        log.warning(
            "no model partner answered",
            request_id=request_id,
            region=region,
            reason=error.reason,
            attempts=[a.to_dict() for a in attempts],
        )
        raise error

    async def _skip_reason(
        self, provider: ProviderConfig, region: str, request_id: str
    ) -> SkipOutcome | None:
        if not residency().allows(region, provider.region):
            # The configuration refuses this at load; a second line of defence for data residency.
            log.error(
                "provider outside the request region",
                provider=provider.name,
                provider_region=provider.region,
                region=region,
                request_id=request_id,
            )
            return "skipped_residency"
        if not self.configured(provider.name):
            return "skipped_not_configured"
        if await self.state.is_cooling(provider.name):
            return "skipped_cooling"
        if over_budget(self.config.budget, await self.state.spent_today(), provider):
            log.warning("daily budget spent", provider=provider.name, request_id=request_id)
            return "skipped_budget"
        return None

    async def _ask_provider(
        self,
        provider: ProviderConfig,
        messages: Sequence[Message],
        region: str,
        request_id: str,
        attempts: list[Attempt],
    ) -> PartnerAnswer | None:
        """Call one provider, retrying per policy; None (attempts recorded) to move on along the chain."""
        name = provider.name
        for number in range(1, self.config.retry.max_attempts_per_provider + 1):
            if not await self.state.take_rate_slot(name, provider.rate_limit_per_minute):
                attempts.append(Attempt(name, "skipped_rate_limit"))
                return None
            started = time.monotonic()
            try:
                text, usage = await self._call(provider, messages, request_id)
            except Exception as error:  # whatever the wire brings, this request moves on
                failure = classify(error)
                attempts.append(
                    Attempt(name, failure.outcome, failure.error, failure.status, _ms_since(started))
                )
                log.warning(
                    "model partner call failed",
                    provider=name,
                    outcome=failure.outcome,
                    error=failure.error,
                    status=failure.status,
                    request_id=request_id,
                )
                delay = retry_delay(failure, number, self.config.retry)
                if delay is not None:
                    await asyncio.sleep(delay)
                    continue
                if counts_against_breaker(failure.outcome) and await self.state.record_failure(
                    name, self.config.breaker
                ):
                    log.warning("breaker opened", provider=name, cooling_s=self.config.breaker.cooling_s)
                return None
            latency_ms = _ms_since(started)
            attempts.append(Attempt(name, "ok", latency_ms=latency_ms))
            if usage is None:
                input_tokens = sum(estimate_tokens(m.get("content", "")) for m in messages)
                output_tokens = estimate_tokens(text)
            else:
                input_tokens, output_tokens = usage.prompt_tokens, usage.completion_tokens
            cost = cost_micro_cny(provider, input_tokens, output_tokens)
            await self.state.record_success(name)
            await self.state.record_usage(name, input_tokens, output_tokens, cost)
            return PartnerAnswer(
                text=text,
                provider=name,
                vendor=provider.vendor,
                model=provider.model,
                region=region,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                usage_estimated=usage is None,
                cost_cny=cost / 1_000_000,
                latency_ms=latency_ms,
                attempts=tuple(attempts),
            )
        return None

    async def _call(
        self, provider: ProviderConfig, messages: Sequence[Message], request_id: str
    ) -> tuple[str, _Usage | None]:
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider.vendor,
            "gen_ai.request.model": provider.model,
            "lingxi.partner": provider.name,
        }
        # A span per attempt when traces are on: a failed one ends with the error recorded.
        with tracer.start_as_current_span(
            f"chat {provider.model}", kind=SpanKind.CLIENT, attributes=attributes
        ) as span:
            # The SDK's timeout bounds each read, not the call: DeepSeek, for one, sends blank lines while
            # a request queues. The deadline here bounds the whole call.
            async with asyncio.timeout(provider.timeout_s):
                # The raw response, validated by us: the SDK returns unvalidated objects, or a str for
                # non-JSON.
                response = await self._client(provider).chat.completions.with_raw_response.create(
                    model=provider.model,
                    messages=[dict(m) for m in messages],  # type: ignore[misc]
                    extra_body=provider.extra_body or None,
                    extra_headers={"X-Request-Id": request_id},
                )
            text, usage = parse_completion(response.content)
            if usage is not None:
                span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_tokens)
                span.set_attribute("gen_ai.usage.output_tokens", usage.completion_tokens)
            return text, usage

    def _client(self, provider: ProviderConfig) -> AsyncOpenAI:
        client = self._clients.get(provider.name)
        if client is None:
            client = AsyncOpenAI(
                base_url=provider.base_url,
                api_key=self._keys[provider.name],
                max_retries=0,  # one retry loop only: ours
                timeout=provider.timeout_s,
                default_headers=provider.extra_headers or None,
            )
            self._clients[provider.name] = client
        return client

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.close()

    async def __aenter__(self) -> PartnerRouter:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
