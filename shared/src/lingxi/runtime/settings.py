"""Settings every Lingxi service reads from its environment (prefix ``LINGXI_``)."""

from __future__ import annotations

import os
import socket
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lingxi.logging import LogFormat

MAX_READERS = 16
"""Most reads of one stream a replica runs at once."""


def reader_name(replica: str, index: int) -> str:
    """The consumer name of a replica's ``index``-th reader of a stream (1: the replica's own name)."""
    return replica if index == 1 else f"{replica}-{index}"


def default_replica() -> str:
    """A stable name for this replica: the pod or container hostname, else host name + pid-free index 0.

    Never random: a consumer name that changes on restart leaves its pending entries orphaned until a
    reclaimer on another replica takes them.
    """
    return os.environ.get("HOSTNAME") or socket.gethostname()


def redis_user(service: str) -> str:
    """The Redis ACL user a service connects as (``lingxi redis acl`` creates it)."""
    return f"lingxi-{service}"


def processed_key_prefix(service: str) -> str:
    """The keys marking events handled by ``service`` start so (``delivery.py``)."""
    return f"lingxi:processed:{service}:"


def url_as_user(url: str, user: str, password: str) -> str:
    """``url`` with ``user`` and ``password`` in place of whatever credentials it names."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"))


class ServiceSettings(BaseSettings):
    """Runtime settings; every field can be set as ``LINGXI_<FIELD>`` (e.g. ``LINGXI_REDIS_URL``)."""

    model_config = SettingsConfigDict(env_prefix="LINGXI_", extra="ignore")

    redis_url: str = Field(default="redis://127.0.0.1:6379/0", description="Redis the streams live in.")
    redis_password: SecretStr | None = Field(
        default=None,
        description="The service's own Redis ACL user's password (lingxi redis acl); it then connects as "
        "redis_username, default lingxi-<service>, whatever user the URL names.",
    )
    redis_username: str | None = Field(default=None, description="Default: lingxi-<service>.")
    replica: str = Field(
        default_factory=default_replica,
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="Stable consumer name of this replica within its service's group.",
    )
    http_host: str = Field(default="0.0.0.0", description="Interface for probes, metrics and (gateway) API.")
    http_port: int = Field(default=8080, ge=0, le=65535, description="0 picks a free port.")
    redis_max_connections: int = Field(
        default=256, ge=4, description="Connections per pool; past it, callers wait up to 5 s for one."
    )
    max_records: int = Field(default=10, ge=1, le=1000, description="Entries fetched per XREADGROUP.")
    block_ms: int = Field(default=1000, ge=10, le=60_000, description="XREADGROUP BLOCK time.")
    readers: int | None = Field(
        default=None,
        ge=1,
        le=MAX_READERS,
        description="Reads of each stream a replica runs at once, each its own consumer (<replica>, "
        "<replica>-2, ...), so one read is handled while another waits on Redis. Default: the "
        "consumer's own (1 unless it says otherwise).",
    )
    reclaim_idle_ms: int = Field(
        default=30_000, ge=100, description="Idle time after which a pending entry is reclaimed."
    )
    handler_timeout_s: float | None = Field(
        default=None,
        gt=0,
        description="A handler running longer fails and is retried; default 80% of reclaim_idle_ms.",
    )
    reclaim_poll_ms: int = Field(default=1000, ge=10, description="How often the reclaimer looks.")
    max_deliveries: int = Field(
        default=3, ge=1, le=100, description="Deliveries before a failing event is dead-lettered."
    )
    processed_ttl_s: int = Field(
        default=7 * 24 * 3600, ge=60, description="How long handled event ids are remembered."
    )
    graceful_timeout_s: float = Field(default=15.0, ge=0, description="Time to finish in-flight work.")
    backlog_poll_s: float = Field(
        default=5.0,
        ge=0,
        description="Seconds between measures of the consumed streams' lag and pending (0: never).",
    )
    trim_poll_s: float = Field(
        default=10.0,
        ge=0,
        description="Seconds between trims of the streams read and published (0: never; retention.py).",
    )
    stream_retention_s: float = Field(
        default=600.0,
        ge=0,
        description="How long entries every group has acknowledged stay in a trimmed stream.",
    )
    dead_letters_kept: int = Field(
        default=100_000,
        ge=100,
        description="About how many entries a dead-letter stream keeps; the oldest go beyond that.",
    )
    log_format: LogFormat = "auto"

    def connection_url(self, service: str) -> str:
        """``redis_url``, as the service's own ACL user when ``redis_password`` is set."""
        if self.redis_password is None:
            return self.redis_url
        user = self.redis_username or redis_user(service)
        return url_as_user(self.redis_url, user, self.redis_password.get_secret_value())

    @property
    def effective_handler_timeout_s(self) -> float:
        return self.handler_timeout_s or self.reclaim_idle_ms * 0.8 / 1000

    @model_validator(mode="after")
    def _timeout_below_reclaim(self) -> ServiceSettings:
        if self.handler_timeout_s is not None and self.handler_timeout_s * 1000 >= self.reclaim_idle_ms:
            raise ValueError(
                f"handler_timeout_s ({self.handler_timeout_s}) must be below reclaim_idle_ms "
                f"({self.reclaim_idle_ms} ms), or a reclaimer takes over events still being handled"
            )
        return self

    log_level: str = "INFO"
