"""The partner router end to end: real HTTP servers that misbehave on cue, and a real Redis.

Providers ``a`` and ``b`` are mainland (CN) partners, ``intl`` is outside mainland China; each is a
:class:`FakeProvider` shared by the module and reset before every test.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis
from lingxi.testing.fake_provider import Behaviour, FakeProvider
from lingxi_assistant.partners import (
    PartnerRouter,
    PartnersConfig,
    PartnerState,
    PartnersUnavailable,
    parse_config,
)
from prometheus_client import REGISTRY
from redis.asyncio import Redis

KEYS = {"KEY_A": "sk-a", "KEY_B": "sk-b", "KEY_INTL": "sk-intl"}
ASK = [{"role": "system", "content": "你是灵犀助手。"}, {"role": "user", "content": "今天北京天气怎么样？"}]


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeProvider]]:
    with FakeProvider() as a, FakeProvider() as b, FakeProvider() as intl:
        yield {"a": a, "b": b, "intl": intl}


@pytest.fixture(autouse=True)
def _fresh_fakes(fakes: dict[str, FakeProvider]) -> None:
    for fake in fakes.values():
        fake.reset()


@pytest.fixture
async def redis_async(redis_client: redis.Redis, redis_url: str) -> AsyncIterator[Redis]:
    """The session's Redis (emptied by ``redis_client``), for the async router."""
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def config(fakes: dict[str, FakeProvider], **sections: Any) -> PartnersConfig:
    def provider(name: str, region: str, key: str | None, **extra: Any) -> dict[str, Any]:
        return {
            "vendor": "fake",
            "base_url": fakes[name].base_url,
            "model": f"model-{name}",
            "api_key_env": key,
            "region": region,
            "price_per_1k_input_tokens": 0.002,
            "price_per_1k_output_tokens": 0.006,
            "timeout_s": 2,
            **extra,
        }

    data: dict[str, Any] = {
        "providers": {
            "a": provider(
                "a", "CN", "KEY_A", extra_body={"enable_thinking": False}, extra_headers={"X-Tag": "a"}
            ),
            "b": provider("b", "CN", "KEY_B"),
            "intl": provider("intl", "INTL", "KEY_INTL"),
        },
        "chains": {"CN": ["a", "b"], "INTL": ["intl"]},
        "breaker": {"failures_to_open": 2, "cooling_s": 1, "failure_window_s": 5},
        "retry": {"max_attempts_per_provider": 2, "max_retry_after_s": 2, "default_retry_after_s": 0.1},
    }
    for section, value in sections.items():
        if section == "providers":
            for name, extra in value.items():
                data["providers"][name].update(extra)
        else:
            data[section] = value
    return parse_config(data)


async def ask(router: PartnerRouter, region: str = "CN", request_id: str = "req-1") -> Any:
    return await router.ask(ASK, region=region, request_id=request_id)


def outcomes(attempts: Any) -> list[tuple[str, str]]:
    return [(attempt.provider, attempt.outcome) for attempt in attempts]


async def test_an_answer_carries_usage_and_cost_and_both_are_recorded_in_redis(
    fakes: dict[str, FakeProvider], redis_async: Redis
) -> None:
    fakes["a"].script(Behaviour.ok("北京今天晴。", prompt_tokens=1000, completion_tokens=500))
    async with PartnerRouter(config(fakes), redis_async, env=KEYS) as router:
        answer = await ask(router, request_id="req-42")

    assert (answer.text, answer.provider, answer.model, answer.region) == (
        "北京今天晴。",
        "a",
        "model-a",
        "CN",
    )
    assert (answer.input_tokens, answer.output_tokens, answer.usage_estimated) == (1000, 500, False)
    assert answer.cost_cny == pytest.approx(0.005)  # 1000 × 0.002/1k + 500 × 0.006/1k
    assert outcomes(answer.attempts) == [("a", "ok")]
    assert answer.providers_tried == ["a"]
    assert fakes["b"].requests == []

    [sent] = fakes["a"].requests
    assert sent.model == "model-a"
    assert sent.messages == ASK
    assert sent.body is not None
    assert sent.body["enable_thinking"] is False  # extra_body
    assert sent.headers["authorization"] == "Bearer sk-a"
    assert sent.headers["x-tag"] == "a"
    assert sent.headers["x-request-id"] == "req-42"
    assert sent.headers["x-stainless-retry-count"] == "0"  # the SDK's own retries are off

    usage = await PartnerState(redis_async).usage()
    assert usage["a"].calls == 1
    assert (usage["a"].input_tokens, usage["a"].output_tokens, usage["a"].cost_micro_cny) == (1000, 500, 5000)
    [key] = await redis_async.keys("lingxi:partners:usage:*")
    assert 0 < await redis_async.ttl(key) <= 35 * 24 * 3600


async def test_429_is_retried_after_retry_after_then_succeeds(
    fakes: dict[str, FakeProvider], redis_async: Redis
) -> None:
    fakes["a"].script(Behaviour.rate_limited(retry_after="1"), Behaviour.ok("好的"))
    async with PartnerRouter(config(fakes), redis_async, env=KEYS) as router:
        answer = await ask(router)

    assert answer.provider == "a"
    assert outcomes(answer.attempts) == [("a", "rate_limited"), ("a", "ok")]
    assert answer.attempts[0].status == 429
    first, second = fakes["a"].requests
    assert second.at - first.at >= 0.95  # waited as told
    assert fakes["b"].requests == []
    assert (await PartnerState(redis_async).usage())["a"].calls == 1  # only the answer is counted


async def test_a_retry_after_beyond_the_cap_moves_on_at_once(
    fakes: dict[str, FakeProvider], redis_async: Redis
) -> None:
    fakes["a"].script(Behaviour.rate_limited(retry_after="60"))
    started = time.monotonic()
    async with PartnerRouter(config(fakes), redis_async, env=KEYS) as router:
        answer = await ask(router)
    assert time.monotonic() - started < 1
    assert outcomes(answer.attempts) == [("a", "rate_limited"), ("b", "ok")]


METRICS = [
    ("lingxi_partner_calls_total", "a", "server_error"),
    ("lingxi_partner_calls_total", "b", "ok"),
    ("lingxi_partner_call_seconds_count", "a", ""),
    ("lingxi_partner_tokens_total", "b", "input"),
    ("lingxi_partner_cost_cny_total", "b", ""),
    ("lingxi_partner_cost_cny_total", "a", ""),
]


def metric(name: str, provider: str, label: str) -> float:
    labels = {"provider": provider}
    if name == "lingxi_partner_calls_total":
        labels["outcome"] = label
    elif name == "lingxi_partner_tokens_total":
        labels["kind"] = label
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_500_falls_back_to_the_next_provider(
    fakes: dict[str, FakeProvider], redis_async: Redis
) -> None:
    fakes["a"].script(Behaviour.error(500))
    before = {key: metric(*key) for key in METRICS}
    async with PartnerRouter(config(fakes), redis_async, env=KEYS) as router:
        answer = await ask(router)
    grew = {key: metric(*key) - before[key] for key in METRICS}

    assert answer.provider == "b"
    # Each attempt is counted by outcome, and the answer's tokens and cost against its provider.
    assert grew[("lingxi_partner_calls_total", "a", "server_error")] == 1
    assert grew[("lingxi_partner_calls_total", "b", "ok")] == 1
    assert grew[("lingxi_partner_call_seconds_count", "a", "")] == 1
    assert grew[("lingxi_partner_tokens_total", "b", "input")] == answer.input_tokens > 0
    assert grew[("lingxi_partner_cost_cny_total", "b", "")] == pytest.approx(answer.cost_cny)
    assert grew[("lingxi_partner_cost_cny_total", "a", "")] == 0
    assert outcomes(answer.attempts) == [("a", "server_error"), ("b", "ok")]
    assert (answer.attempts[0].status, answer.attempts[0].error) == (500, "InternalServerError")
    assert answer.providers_tried == ["a", "b"]
    assert len(fakes["a"].requests) == 1  # a 500 is not retried on the same provider
    assert fakes["b"].requests[0].model == "model-b"
    assert fakes["b"].requests[0].headers["authorization"] == "Bearer sk-b"


async def test_a_provider_slower_than_its_timeout_is_left_for_the_next(
    fakes: dict[str, FakeProvider], redis_async: Redis
) -> None:
    fakes["a"].script(Behaviour.slow(3))
    cfg = config(fakes, providers={"a": {"timeout_s": 0.3}})
    started = time.monotonic()
    async with PartnerRouter(cfg, redis_async, env=KEYS) as router:
        answer = await ask(router)

    assert time.monotonic() - started < 2
    assert outcomes(answer.attempts) == [("a", "timeout"), ("b", "ok")]
    assert answer.attempts[0].error in {"APITimeoutError", "TimeoutError"}  # the SDK's or our deadline
    assert 250 <= answer.attempts[0].latency_ms < 1500


async def test_the_timeout_bounds_the_whole_call_not_each_read(
    fakes: dict[str, FakeProvider], redis_async: Redis
) -> None:
    fakes["a"].script(Behaviour.blank_lines(3))  # a byte every 0.1 s: no read ever times out
    cfg = config(fakes, providers={"a": {"timeout_s": 0.5}})
    started = time.monotonic()
    async with PartnerRouter(cfg, redis_async, env=KEYS) as router:
        answer = await ask(router)
    assert time.monotonic() - started < 1.5
    assert outcomes(answer.attempts) == [("a", "timeout"), ("b", "ok")]


async def test_blank_lines_before_an_answer_within_the_deadline_are_fine(
    fakes: dict[str, FakeProvider], redis_async: Redis
) -> None:
    fakes["a"].script(Behaviour.blank_lines(0.3, "排队后的回答"))
    async with PartnerRouter(config(fakes), redis_async, env=KEYS) as router:
        answer = await ask(router)
    assert (answer.provider, answer.text) == ("a", "排队后的回答")


@pytest.mark.parametrize(
    ("behaviour", "outcome"),
    [
        (Behaviour.malformed_json(), "bad_response"),
        (Behaviour.not_json(), "bad_response"),
        (Behaviour.empty_choices(), "bad_response"),
        (Behaviour.ok("   "), "bad_response"),
        (Behaviour.cut_connection(), "connection_error"),
        (Behaviour.error(502), "server_error"),
        (Behaviour.error(404), "misconfigured"),
    ],
    ids=["malformed-json", "html", "empty-choices", "blank-text", "cut-connection", "502", "404"],
)
async def test_garbage_and_broken_connections_fall_back(
    fakes: dict[str, FakeProvider], redis_async: Redis, behaviour: Behaviour, outcome: str
) -> None:
    fakes["a"].script(behaviour)
    async with PartnerRouter(config(fakes), redis_async, env=KEYS) as router:
        answer = await ask(router)
    assert outcomes(answer.attempts) == [("a", outcome), ("b", "ok")]
    assert answer.text == "好的。"


async def test_the_breaker_opens_after_n_failures_skips_while_cooling_then_probes(
    fakes: dict[str, FakeProvider], redis_async: Redis
) -> None:
    fakes["a"].default = Behaviour.error(500)
    async with PartnerRouter(config(fakes), redis_async, env=KEYS) as router:
        for _ in range(2):  # failures_to_open: 2
            assert outcomes((await ask(router)).attempts) == [("a", "server_error"), ("b", "ok")]
        assert await router.state.is_cooling("a")

        answer = await ask(router)  # cooling: not called at all
        assert outcomes(answer.attempts) == [("a", "skipped_cooling"), ("b", "ok")]
        assert len(fakes["a"].requests) == 2

        await asyncio.sleep(1.1)  # cooling_s: 1
        # The first call after cooling is a probe: one more failure opens the breaker again at once.
        assert outcomes((await ask(router)).attempts) == [("a", "server_error"), ("b", "ok")]
        assert outcomes((await ask(router)).attempts) == [("a", "skipped_cooling"), ("b", "ok")]

        await asyncio.sleep(1.1)
        fakes["a"].default = Behaviour.ok("恢复了")
        answer = await ask(router)
        assert (answer.provider, answer.text) == ("a", "恢复了")
        assert await redis_async.exists("lingxi:partners:breaker:a:failures") == 0  # a success resets


async def test_a_rejected_request_moves_on_but_does_not_open_the_breaker(
    fakes: dict[str, FakeProvider], redis_async: Redis
) -> None:
    fakes["a"].default = Behaviour.error(400)  # e.g. the provider's content check refused this text
    async with PartnerRouter(config(fakes), redis_async, env=KEYS) as router:
        for _ in range(3):
            assert outcomes((await ask(router)).attempts) == [("a", "rejected"), ("b", "ok")]
        assert not await router.state.is_cooling("a")


async def test_when_the_daily_budget_is_spent_no_call_reaches_any_provider(
    fakes: dict[str, FakeProvider], redis_async: Redis
) -> None:
    cfg = config(fakes, budget={"daily_cny": 0.004})
    fakes["a"].script(Behaviour.ok(prompt_tokens=1000, completion_tokens=500))  # 0.005 CNY
    async with PartnerRouter(cfg, redis_async, env=KEYS) as router:
        await ask(router)  # under the cap before the call: allowed, and it overspends
        for fake in fakes.values():
            fake.reset()

        with pytest.raises(PartnersUnavailable) as raised:
            await ask(router)

    assert raised.value.reason == "budget_exhausted"
    assert outcomes(raised.value.attempts) == [("a", "skipped_budget"), ("b", "skipped_budget")]
    assert "budget_exhausted" in str(raised.value)
    assert all(fake.requests == [] for fake in fakes.values())


async def test_a_provider_cap_moves_on_to_the_next_provider(
    fakes: dict[str, FakeProvider], redis_async: Redis
) -> None:
    cfg = config(fakes, budget={"per_provider_daily_cny": {"a": 0.001}})
    async with PartnerRouter(cfg, redis_async, env=KEYS) as router:
        await router.state.record_usage("a", 1000, 0, 2000)  # 0.002 CNY already spent on a today
        answer = await ask(router)
    assert outcomes(answer.attempts) == [("a", "skipped_budget"), ("b", "ok")]
    assert fakes["a"].requests == []


async def test_no_provider_configured_is_a_typed_error(
    fakes: dict[str, FakeProvider], redis_async: Redis
) -> None:
    async with PartnerRouter(config(fakes), redis_async, env={"KEY_A": ""}) as router:
        with pytest.raises(PartnersUnavailable) as raised:
            await ask(router)
        assert raised.value.reason == "no_provider_configured"
        assert outcomes(raised.value.attempts) == [
            ("a", "skipped_not_configured"),
            ("b", "skipped_not_configured"),
        ]

        with pytest.raises(PartnersUnavailable) as raised:
            await ask(router, region="JP")  # no chain: never borrow another region's
        assert (raised.value.reason, raised.value.attempts) == ("no_provider_configured", ())
    assert all(fake.requests == [] for fake in fakes.values())


async def test_everything_failing_is_all_failed_with_every_attempt(
    fakes: dict[str, FakeProvider], redis_async: Redis
) -> None:
    fakes["a"].script(Behaviour.error(503))
    fakes["b"].script(Behaviour.malformed_json())
    async with PartnerRouter(config(fakes), redis_async, env=KEYS) as router:
        with pytest.raises(PartnersUnavailable) as raised:
            await ask(router)
    assert raised.value.reason == "all_failed"
    assert outcomes(raised.value.attempts) == [("a", "server_error"), ("b", "bad_response")]


async def test_a_local_server_needs_no_key(fakes: dict[str, FakeProvider], redis_async: Redis) -> None:
    cfg = config(fakes, providers={"b": {"api_key_env": None}})
    fakes["a"].script(Behaviour.error(500))
    async with PartnerRouter(cfg, redis_async, env={}) as router:  # no keys at all
        answer = await ask(router)
    assert outcomes(answer.attempts) == [("a", "skipped_not_configured"), ("b", "ok")]


async def test_requests_stay_in_their_region(fakes: dict[str, FakeProvider], redis_async: Redis) -> None:
    async with PartnerRouter(config(fakes), redis_async, env=KEYS) as router:
        assert (await ask(router, region="INTL")).provider == "intl"
        fakes["a"].script(Behaviour.error(500))
        fakes["b"].script(Behaviour.error(500))
        with pytest.raises(PartnersUnavailable):
            await ask(router, region="cn")  # every CN partner down: still never the INTL one
    assert len(fakes["intl"].requests) == 1
    assert fakes["a"].requests[0].headers["authorization"] == "Bearer sk-a"


async def test_the_router_refuses_a_provider_outside_the_region_even_if_the_config_let_it_through(
    fakes: dict[str, FakeProvider], redis_async: Redis
) -> None:
    valid = config(fakes)
    # model_construct skips validation: a configuration altered after loading, or a loader bug.
    tampered = PartnersConfig.model_construct(**{**dict(valid), "chains": {"CN": ["intl", "a"]}})
    async with PartnerRouter(tampered, redis_async, env=KEYS) as router:
        answer = await ask(router)
    assert outcomes(answer.attempts) == [("intl", "skipped_residency"), ("a", "ok")]
    assert fakes["intl"].requests == []


async def test_the_rate_limit_is_shared_by_every_replica(
    fakes: dict[str, FakeProvider], redis_async: Redis, redis_url: str
) -> None:
    cfg = config(fakes, providers={"a": {"rate_limit_per_minute": 2}})
    minute = 29_000_000 * 60.0  # one fixed minute, so the window cannot roll over mid-test
    other_redis = Redis.from_url(redis_url)  # the second replica has its own connection
    async with (
        PartnerRouter(cfg, redis_async, env=KEYS, clock=lambda: minute + 1) as replica_1,
        PartnerRouter(cfg, other_redis, env=KEYS, clock=lambda: minute + 2) as replica_2,
    ):
        assert (await ask(replica_1)).provider == "a"
        assert (await ask(replica_2)).provider == "a"
        answer = await ask(replica_1)
        assert outcomes(answer.attempts) == [("a", "skipped_rate_limit"), ("b", "ok")]
        assert outcomes((await ask(replica_2)).attempts) == [("a", "skipped_rate_limit"), ("b", "ok")]
    await other_redis.aclose()
    assert len(fakes["a"].requests) == 2


async def test_an_answer_without_usage_is_counted_generously(
    fakes: dict[str, FakeProvider], redis_async: Redis
) -> None:
    fakes["a"].script(Behaviour.ok("晴", usage=False))
    async with PartnerRouter(config(fakes), redis_async, env=KEYS) as router:
        answer = await ask(router)
    # One token a character: 7 + 10 characters asked, 1 answered.
    assert (answer.input_tokens, answer.output_tokens, answer.usage_estimated) == (17, 1, True)
    assert (await router.state.usage())["a"].input_tokens == 17


async def test_every_key_is_under_the_partners_prefix_and_expires(
    fakes: dict[str, FakeProvider], redis_async: Redis
) -> None:
    cfg = config(fakes, providers={"a": {"rate_limit_per_minute": 100}})
    fakes["a"].default = Behaviour.error(500)
    async with PartnerRouter(cfg, redis_async, env=KEYS) as router:
        for _ in range(3):  # a fails twice (breaker opens), b answers and is accounted
            await ask(router)
    keys = sorted(key.decode() for key in await redis_async.keys("*"))
    assert keys
    assert all(key.startswith("lingxi:partners:") for key in keys)
    assert {key.split(":")[2] for key in keys} == {"breaker", "rate", "usage"}
    assert all([await redis_async.pttl(key) > 0 for key in keys])  # nothing lives forever
