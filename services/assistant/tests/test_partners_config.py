"""Loading and validating the model-partner configuration (providers.yaml)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from lingxi_assistant.partners import (
    DEFAULT_PROVIDERS_FILE,
    PROVIDERS_FILE_ENV,
    PartnersConfigError,
    load_config,
    parse_config,
)

VALID: dict[str, Any] = {
    "providers": {
        "qwen": {
            "vendor": "dashscope",
            "base_url": "https://dashscope.aliyuncs.com/compatible-mode/v1",
            "model": "qwen-plus",
            "api_key_env": "DASHSCOPE_API_KEY",
            "region": "CN",
            "price_per_1k_input_tokens": 0.0008,
            "price_per_1k_output_tokens": 0.002,
        },
        "qwen_intl": {
            "vendor": "dashscope",
            "base_url": "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
            "model": "qwen-plus",
            "api_key_env": "DASHSCOPE_INTL_API_KEY",
            "region": "INTL",
            "price_per_1k_input_tokens": 0.0029,
            "price_per_1k_output_tokens": 0.0086,
        },
        "ollama": {
            "vendor": "ollama",
            "base_url": "http://127.0.0.1:11434/v1",
            "model": "qwen2.5:7b-instruct",
            "api_key_env": None,
            "region": "CN",
            "price_per_1k_input_tokens": 0,
            "price_per_1k_output_tokens": 0,
        },
    },
    "chains": {"CN": ["qwen", "ollama"], "INTL": ["qwen_intl"]},
}


def changed(**edits: Any) -> dict[str, Any]:
    """VALID with edits given as dotted paths: ``changed(**{"providers.qwen.timeout_s": 0})``."""
    data = copy.deepcopy(VALID)
    for path, value in edits.items():
        *parents, last = path.split(".")
        target = data
        for key in parents:
            target = target[key]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value
    return data


_DELETE = object()


def problem(data: Any) -> str:
    with pytest.raises(PartnersConfigError) as error:
        parse_config(data, source="test.yaml")
    return str(error.value)


def test_the_shipped_file_loads_and_keeps_mainland_users_in_mainland_china() -> None:
    config = load_config(DEFAULT_PROVIDERS_FILE, env={})
    assert config.chains["CN"][0] == "qwen"
    assert {"qwen", "deepseek", "qianfan", "hunyuan", "ark", "qwen_intl", "ollama"} <= set(config.providers)
    assert all(config.providers[name].region == "CN" for name in config.chains["CN"])
    assert config.providers["qwen_intl"].region == "INTL"
    assert config.providers["qwen"].extra_body == {"enable_thinking": False}
    assert config.providers["ollama"].api_key_env is None
    assert config.budget.daily_cny is not None


def test_the_file_comes_from_the_environment(tmp_path: Path) -> None:
    file = tmp_path / "providers.yaml"
    file.write_text(yaml.safe_dump(changed(**{"chains.CN": ["ollama"]})), encoding="utf-8")
    assert load_config(env={PROVIDERS_FILE_ENV: str(file)}).chains["CN"] == ["ollama"]


def test_defaults() -> None:
    config = parse_config(VALID)
    qwen = config.providers["qwen"]
    assert qwen.name == "qwen"
    assert (qwen.timeout_s, qwen.rate_limit_per_minute, qwen.extra_body, qwen.extra_headers) == (
        20.0,
        None,
        {},
        {},
    )
    assert config.budget.daily_cny is None
    assert config.breaker.failures_to_open >= 1
    assert config.retry.max_attempts_per_provider >= 1


def test_a_chain_may_not_send_cn_requests_outside_cn() -> None:
    message = problem(changed(**{"chains.CN": ["qwen", "qwen_intl"]}))
    assert "chains.CN[1]" in message
    assert "'qwen_intl' is in region INTL" in message
    assert "compliance's residency policy lets CN requests go only to CN" in message


def test_the_residency_policy_is_compliances_and_keeps_mainland_data_in_the_mainland() -> None:
    from lingxi_compliance.residency import residency

    policy = residency()
    assert policy.allowed("CN") == {"CN"}
    assert not policy.allows("CN", "INTL")
    assert policy.allows("INTL", "INTL"), "a region the policy does not name stays in itself"
    assert not policy.allows("INTL", "CN")


@pytest.mark.parametrize(
    ("edits", "expected"),
    [
        ({"providers.qwen.api_key_env": _DELETE}, "providers.qwen.api_key_env: Field required"),
        ({"providers.qwen.price_per_1k_input_tokens": -1}, "providers.qwen.price_per_1k_input_tokens:"),
        ({"providers.qwen.timeout_s": 0}, "providers.qwen.timeout_s:"),
        ({"providers.qwen.base_url": "dashscope.aliyuncs.com"}, "providers.qwen.base_url:"),
        ({"providers.qwen.region": "cn"}, "providers.qwen.region:"),
        ({"providers.qwen.rate_limit_per_minute": 0}, "providers.qwen.rate_limit_per_minute:"),
        ({"providers.qwen.temperature": 0.3}, "providers.qwen.temperature: Extra inputs are not permitted"),
        ({"providers.qwen.name": "tongyi"}, "providers.qwen.name is 'tongyi'"),
        ({"chains.CN": ["qwen", "qwen"]}, "chains.CN lists a provider twice"),
        ({"chains.CN": ["qwen", "wenxin"]}, "chains.CN[1]: unknown provider 'wenxin'"),
        ({"budget": {"daily_cny": -5}}, "budget.daily_cny:"),
        (
            {"budget": {"per_provider_daily_cny": {"wenxin": 5}}},
            "budget.per_provider_daily_cny: unknown provider",
        ),
        ({"retry": {"max_attempts_per_provider": 0}}, "retry.max_attempts_per_provider:"),
        ({"breaker": {"cooling_s": 0}}, "breaker.cooling_s:"),
        ({"chains": _DELETE}, "chains: Field required"),
    ],
)
def test_errors_name_the_field_and_the_provider(edits: dict[str, Any], expected: str) -> None:
    message = problem(changed(**edits))
    assert message.startswith("test.yaml: invalid model-partner configuration")
    assert expected in message


def test_every_problem_is_reported_at_once() -> None:
    message = problem(changed(**{"providers.qwen.timeout_s": -1, "providers.ollama.model": ""}))
    assert "providers.qwen.timeout_s" in message
    assert "providers.ollama.model" in message


def test_an_unreadable_or_broken_file_says_which(tmp_path: Path) -> None:
    with pytest.raises(PartnersConfigError, match=r"missing\.yaml: cannot read"):
        load_config(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("providers: [unclosed", encoding="utf-8")
    with pytest.raises(PartnersConfigError, match=r"broken\.yaml: not valid YAML"):
        load_config(broken)
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(PartnersConfigError, match=r"empty\.yaml: invalid model-partner configuration"):
        load_config(empty)
