"""Model-partner configuration: providers, per-region chains, budget, breaker and retries, from YAML.

The file is ``$LINGXI_ASSISTANT_PROVIDERS_FILE``, else the ``providers.yaml`` shipped beside the
service. Loading refuses a chain for region R that lists a provider in a region compliance's residency
policy (``lingxi_compliance.residency``) does not allow for R's data: mainland users' data stays with
mainland providers (PIPL).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from lingxi_compliance.residency import residency
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

PROVIDERS_FILE_ENV = "LINGXI_ASSISTANT_PROVIDERS_FILE"
# Inside the package, so an image installed without the source tree still has it.
DEFAULT_PROVIDERS_FILE = Path(__file__).resolve().parent / "providers.yaml"

Region = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2,8}$")]
"""Where an endpoint processes data: ``CN`` for mainland China, ``INTL``, ``SG``, ``US``..."""

# Provider names end up in Redis keys and hash fields ("<name>:cost_micro_cny"): no colons or spaces.
ProviderName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]
EnvVarName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
Cny = Annotated[float, Field(ge=0)]


class PartnersConfigError(ValueError):
    """The configuration file is missing or invalid; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProviderConfig(_Strict):
    """One OpenAI-compatible endpoint and the model asked there."""

    name: ProviderName
    vendor: str = Field(min_length=1, description="Label only: dashscope, deepseek, qianfan, ollama...")
    base_url: str = Field(pattern=r"^https?://[^\s/]+", description="Up to and including the /v1-like part.")
    model: str = Field(min_length=1)
    api_key_env: EnvVarName | None = Field(
        description="Environment variable holding the key; null for a local server that needs none. "
        "Required (no default) so that a forgotten key is an error, not a keyless call."
    )
    region: Region
    price_per_1k_input_tokens: Cny = Field(description="CNY per 1,000 input tokens.")
    price_per_1k_output_tokens: Cny = Field(description="CNY per 1,000 output tokens.")
    timeout_s: float = Field(default=20.0, gt=0)
    rate_limit_per_minute: int | None = Field(default=None, ge=1, description="Calls a minute, all replicas.")
    extra_body: dict[str, Any] = Field(default_factory=dict, description="Merged into the request body.")
    extra_headers: dict[str, str] = Field(default_factory=dict)


class BudgetConfig(_Strict):
    """Daily spend caps in CNY (a day is a calendar day in Asia/Shanghai); null means no cap."""

    daily_cny: Cny | None = None
    per_provider_daily_cny: dict[ProviderName, Cny] = Field(default_factory=dict)


class BreakerConfig(_Strict):
    failures_to_open: int = Field(default=3, ge=1, description="Consecutive failures that open the breaker.")
    cooling_s: float = Field(default=30.0, gt=0, description="How long an open breaker skips the provider.")
    failure_window_s: float = Field(
        default=60.0, gt=0, description="Failures further apart than this do not add up."
    )


class RetryConfig(_Strict):
    max_attempts_per_provider: int = Field(default=2, ge=1, description="Calls to one provider per request.")
    max_retry_after_s: float = Field(
        default=2.0,
        ge=0,
        description="Longest Retry-After waited for; a longer one moves on along the chain.",
    )
    default_retry_after_s: float = Field(
        default=0.5, ge=0, description="Wait after a 429 without Retry-After."
    )


class PartnersConfig(_Strict):
    providers: dict[ProviderName, ProviderConfig]
    chains: dict[Region, list[ProviderName]] = Field(description="Providers tried in order, per user region.")
    budget: BudgetConfig = BudgetConfig()
    breaker: BreakerConfig = BreakerConfig()
    retry: RetryConfig = RetryConfig()

    @model_validator(mode="before")
    @classmethod
    def _name_providers(cls, data: Any) -> Any:
        """``providers`` is a mapping by name: copy each key into its entry's ``name``."""
        if isinstance(data, dict) and isinstance(data.get("providers"), dict):
            providers = {}
            for key, entry in data["providers"].items():
                if isinstance(entry, dict):
                    if "name" in entry and entry["name"] != key:
                        raise ValueError(
                            f"providers.{key}.name is {entry['name']!r}; leave it out or use {key!r}"
                        )
                    entry = {**entry, "name": key}
                providers[key] = entry
            data = {**data, "providers": providers}
        return data

    @model_validator(mode="after")
    def _check_chains(self) -> PartnersConfig:
        known = ", ".join(sorted(self.providers)) or "none"
        for region, chain in self.chains.items():
            if len(set(chain)) != len(chain):
                raise ValueError(f"chains.{region} lists a provider twice: {chain}")
            for index, name in enumerate(chain):
                provider = self.providers.get(name)
                if provider is None:
                    raise ValueError(f"chains.{region}[{index}]: unknown provider {name!r} (known: {known})")
                allowed = residency().allowed(region)
                if provider.region not in allowed:
                    where = ", ".join(sorted(allowed)) or "nowhere"
                    raise ValueError(
                        f"chains.{region}[{index}]: provider {name!r} is in region {provider.region}: "
                        f"compliance's residency policy lets {region} requests go only to {where}"
                    )
        for name in self.budget.per_provider_daily_cny:
            if name not in self.providers:
                raise ValueError(f"budget.per_provider_daily_cny: unknown provider {name!r} (known: {known})")
        return self


def parse_config(data: Any, *, source: str = "<config>") -> PartnersConfig:
    """Validate already-parsed YAML; errors become one :class:`PartnersConfigError` naming each field."""
    try:
        return PartnersConfig.model_validate(data)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            where = ".".join(str(part) for part in item["loc"])
            message = item["msg"].removeprefix("Value error, ")
            problems.append(f"{where}: {message}" if where else message)
        raise PartnersConfigError(
            f"{source}: invalid model-partner configuration:\n  - " + "\n  - ".join(problems)
        ) from None


def load_config(path: str | Path | None = None, *, env: Mapping[str, str] | None = None) -> PartnersConfig:
    """Read the providers file: ``path``, else ``$LINGXI_ASSISTANT_PROVIDERS_FILE``, else the shipped one."""
    env = os.environ if env is None else env
    file = Path(path or env.get(PROVIDERS_FILE_ENV) or DEFAULT_PROVIDERS_FILE)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as error:
        raise PartnersConfigError(f"{file}: cannot read the model-partner configuration: {error}") from None
    except yaml.YAMLError as error:
        raise PartnersConfigError(f"{file}: not valid YAML: {error}") from None
    return parse_config(data, source=str(file))
