"""Model partners: the cloud and local chat models the assistant asks when it cannot answer itself.

    config = load_config()                       # $LINGXI_ASSISTANT_PROVIDERS_FILE or providers.yaml
    router = PartnerRouter(config, redis)        # one per process
    answer = await router.ask(messages, region="CN", request_id=query.request_id)

See docs/partners.md.
"""

from lingxi_assistant.partners.accounting import PartnerState, ProviderUsage
from lingxi_assistant.partners.config import (
    DEFAULT_PROVIDERS_FILE,
    PROVIDERS_FILE_ENV,
    PartnersConfig,
    PartnersConfigError,
    ProviderConfig,
    load_config,
    parse_config,
)
from lingxi_assistant.partners.policy import Attempt, FailureReason, Outcome
from lingxi_assistant.partners.router import Message, PartnerAnswer, PartnerRouter, PartnersUnavailable

__all__ = [
    "DEFAULT_PROVIDERS_FILE",
    "PROVIDERS_FILE_ENV",
    "Attempt",
    "FailureReason",
    "Message",
    "Outcome",
    "PartnerAnswer",
    "PartnerRouter",
    "PartnerState",
    "PartnersConfig",
    "PartnersConfigError",
    "PartnersUnavailable",
    "ProviderConfig",
    "ProviderUsage",
    "load_config",
    "parse_config",
]
