"""Personalization's own settings (``LINGXI_PERSONALIZATION_*``) and read size."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["PURCHASES_PER_READ", "PURCHASE_READERS", "PersonalizationSettings"]

PURCHASES_PER_READ = 200
"""Purchases are small and handled a read at a time: a larger read shares its fixed costs (one MGET,
one script, one commit) among more of them."""
PURCHASE_READERS = 2
"""Purchase reads a replica runs at once (``LINGXI_READERS`` overrides it): a read spends about a quarter
of its time waiting on Redis (its loads, its write script, its commit), in which the other read is
handled. On the benchmark's backlog, runs alternated: about 1.25x the purchases a second of one reader."""


class PersonalizationSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LINGXI_PERSONALIZATION_", extra="ignore")

    refresh_delay_s: float = Field(
        default=10.0,
        ge=0.0,
        le=3600.0,
        description="How long after a purchase changed a profile the user's list is worked out again.",
    )
    refresh_batch: int = Field(default=200, ge=1, le=1000, description="Users a refresher claims at a time.")
    refresh_poll_s: float = Field(default=0.5, gt=0.0, le=60.0, description="How often a refresher looks.")
    refresh_lease_s: float = Field(
        default=60.0, gt=0.0, description="Users a refresher claimed and did not write are due again then."
    )
    refresh_max_lag_s: float = Field(
        default=60.0,
        ge=0.0,
        le=3600.0,
        description="While purchases are backlogged (a read comes back full), lists wait for them to be "
        "folded, but never longer than this past due.",
    )
