"""Least-privilege Redis: one ACL user per service, allowed only its streams, its keys and its channels.

A service's streams come from its contract (what it consumes and publishes, read from its wiring
module as the AsyncAPI document is), each with its dead-letter stream. Its keys are listed here, by
the namespaces and key builders the event modules define, read-write or read-only. Every user may run
the commands of streams, reads, writes, pub/sub, transactions and scripts (scripts only touch the keys
the user may: Redis checks them inside scripts too), never the dangerous or administrative ones
(``KEYS``, ``FLUSHALL``, ``CONFIG``, ``MONITOR``, ``SHUTDOWN``, ``ACL``...).

``acl_file`` renders a Redis ACL file (``aclfile`` in redis.conf, or ``--aclfile``): the users
``lingxi-<service>``, an operator user for the ``lingxi`` command (every key, still no dangerous
commands), KEDA's user ``lingxi-scaler`` (only the backlog counts of the consumed streams, never their
contents), and the default user, which may only ``PING`` (health checks) and authenticate.
``lingxi redis acl`` writes it from the passwords in the environment, holding only their SHA-256 (the
file is no secret). Each service then connects with its password in ``LINGXI_REDIS_PASSWORD`` (it is
the user ``lingxi-<service>``) to ``LINGXI_REDIS_URL`` (``rediss://`` for TLS).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lingxi.asyncapi import ServiceContract
from lingxi.events.compliance import (
    FEATURE_OUTCOME_KEY_PREFIX,
    FEATURE_REGISTRY_KEY,
    FEATURE_REGISTRY_VERSION_KEY,
)
from lingxi.events.maintenance import DEVICE_ALERTS_KEY_PREFIX, DEVICE_HEALTH_KEY_PREFIX
from lingxi.events.personalization import (
    REGIONAL_RECOMMENDATIONS_KEY,
    USER_PREFERENCES_KEY_PREFIX,
    USER_RECOMMENDATIONS_KEY_PREFIX,
)
from lingxi.events.registry import dead_letter_stream
from lingxi.events.user import ERASURE_STATUS_KEY_PREFIX
from lingxi.events.vision import IMAGE_KEY_PREFIX
from lingxi.runtime.settings import processed_key_prefix, redis_user

__all__ = [
    "OPERATOR",
    "OTHER_USERS",
    "SCALER",
    "SERVICE_KEYS",
    "KeyAccess",
    "acl_file",
    "password_variable",
    "scaler_rules",
    "user_name",
    "user_rules",
]

OPERATOR = "operator"
"""The ``lingxi`` command's user (``lingxi-operator``): every key, no dangerous command."""

SCALER = "scaler"
"""KEDA's user (``lingxi-scaler``): the backlog of the streams the services consume, nothing more."""

SCALER_COMMANDS = "-@all +xpending +xinfo|groups +xlen +ping +hello +auth +select"
"""What KEDA's redis-streams scaler sends: ``XPENDING`` (pendingEntriesCount), ``XINFO GROUPS``
(lagCount), ``XLEN`` (streamLength), and what its client sends to connect. Not ``XRANGE`` or
``XREAD``: the entries hold personal data, and counting them needs none of it."""

OTHER_USERS = (OPERATOR, SCALER)
"""The users besides the services', each with a password of its own."""

COMMANDS = "-@all +@read +@write +@stream +@pubsub +@transaction +@scripting +@connection -@dangerous -@admin"
"""What every Lingxi user may run; keys and channels are what limits each one."""

_PASSWORD = re.compile(r"[!-~]{16,}")  # printable, no spaces: an ACL file's >password cannot hold one


@dataclass(frozen=True)
class KeyAccess:
    """Key patterns (Redis glob) a service reads and writes, or only reads, and the pub/sub channels it
    uses."""

    read_write: tuple[str, ...] = ()
    read_only: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()


def _prefix(key: str) -> str:
    return key + "*"


SERVICE_KEYS: Mapping[str, KeyAccess] = {
    "gateway": KeyAccess(
        read_write=(
            "lingxi:requests:*",  # results waiting for devices (lingxi_gateway.results)
            "lingxi:rate:*",  # rate-limit counters (lingxi_gateway.ratelimits)
            _prefix(IMAGE_KEY_PREFIX),
            _prefix(ERASURE_STATUS_KEY_PREFIX),
        ),
        read_only=(
            _prefix(DEVICE_HEALTH_KEY_PREFIX),
            _prefix(DEVICE_ALERTS_KEY_PREFIX),
            _prefix(USER_RECOMMENDATIONS_KEY_PREFIX),
            REGIONAL_RECOMMENDATIONS_KEY,
            FEATURE_REGISTRY_KEY,
            FEATURE_REGISTRY_VERSION_KEY,
            _prefix(FEATURE_OUTCOME_KEY_PREFIX),
        ),
        channels=("lingxi:requests:done",),
    ),
    "assistant": KeyAccess(
        read_write=("lingxi:partners:*",),  # breakers, rate slots and spend (lingxi_assistant.partners)
        read_only=(
            _prefix(USER_PREFERENCES_KEY_PREFIX),
            FEATURE_REGISTRY_KEY,
            FEATURE_REGISTRY_VERSION_KEY,
        ),
    ),
    "vision": KeyAccess(
        read_only=(_prefix(IMAGE_KEY_PREFIX), FEATURE_REGISTRY_KEY, FEATURE_REGISTRY_VERSION_KEY),
    ),
    "compliance": KeyAccess(
        read_write=(
            "lingxi:compliance:*",  # the feature registry, change outcomes
            "compliance.audit.log*",  # the audit trail: its stream, head and anchor
        ),
    ),
    "maintenance": KeyAccess(
        read_write=(
            "lingxi:maintenance:*",
            _prefix(DEVICE_HEALTH_KEY_PREFIX),
            _prefix(DEVICE_ALERTS_KEY_PREFIX),
        ),
        read_only=(FEATURE_REGISTRY_KEY, FEATURE_REGISTRY_VERSION_KEY),
    ),
    "personalization": KeyAccess(
        read_write=(
            "lingxi:personalization:*",
            _prefix(USER_RECOMMENDATIONS_KEY_PREFIX),
            _prefix(USER_PREFERENCES_KEY_PREFIX),
        ),
        read_only=(FEATURE_REGISTRY_KEY, FEATURE_REGISTRY_VERSION_KEY),
    ),
}
"""Each service's keys beyond its streams and its once-only markers (``lingxi:processed:<service>:*``)."""


user_name = redis_user
"""A service's Redis user (``lingxi-<service>``), as its runtime connects."""


def password_variable(service: str) -> str:
    """The environment variable ``lingxi redis acl`` reads a user's password from."""
    return f"LINGXI_REDIS_PASSWORD_{service.upper()}"


def _streams(contract: ServiceContract) -> list[str]:
    names = {event.stream for event in (*contract.consumes, *contract.publishes)}
    return sorted({*names, *(dead_letter_stream(name) for name in names)})


def user_rules(contract: ServiceContract, access: KeyAccess, password: str) -> str:
    """One ``user`` line of an ACL file for the service of ``contract``."""
    _check_password(contract.name, password)
    keys = [
        *(f"~{stream}" for stream in _streams(contract)),
        f"~{processed_key_prefix(contract.name)}*",
        *(f"~{pattern}" for pattern in access.read_write),
        *(f"%R~{pattern}" for pattern in access.read_only),
    ]
    channels = [f"&{channel}" for channel in access.channels] or ["resetchannels"]
    return " ".join(
        ["user", user_name(contract.name), "reset", "on", _hashed(password), *keys, *channels, COMMANDS]
    )


def scaler_rules(contracts: Iterable[ServiceContract], password: str) -> str:
    """KEDA's ``user`` line: read-only access to every consumed stream, for the backlog counts only."""
    _check_password(SCALER, password)
    consumed = sorted({event.stream for contract in contracts for event in contract.consumes})
    keys = [f"%R~{stream}" for stream in consumed]
    return " ".join(["user", user_name(SCALER), "reset", "on", _hashed(password), *keys, SCALER_COMMANDS])


def acl_file(contracts: Iterable[ServiceContract], passwords: Mapping[str, str]) -> str:
    """The ACL file: a user per service of ``contracts`` (each needs ``passwords[service]``), the
    operator (``passwords["operator"]``), KEDA's scaler (``passwords["scaler"]``) and a default user
    that may only PING."""
    contracts = sorted(contracts, key=lambda c: c.name)
    # An ACL file holds nothing but user lines: no comments.
    lines = ["user default on nopass resetkeys resetchannels -@all +ping +hello +auth"]
    for contract in contracts:
        if contract.name not in SERVICE_KEYS:
            raise ValueError(f"service {contract.name!r} has no key access listed in lingxi.redis_acl")
        lines.append(user_rules(contract, SERVICE_KEYS[contract.name], _password(passwords, contract.name)))
    operator = _check_password(OPERATOR, _password(passwords, OPERATOR))
    lines.append(f"user {user_name(OPERATOR)} reset on {_hashed(operator)} ~* &* {COMMANDS} +info")
    lines.append(scaler_rules(contracts, _password(passwords, SCALER)))
    return "\n".join(lines) + "\n"


def _hashed(password: str) -> str:
    """The password as Redis stores it (``#`` and its SHA-256): the file holds no password."""
    return "#" + hashlib.sha256(password.encode()).hexdigest()


def _check_password(name: str, password: str) -> str:
    if not _PASSWORD.fullmatch(password):
        raise ValueError(
            f"the password of {user_name(name)} ({password_variable(name)}) must be at least 16 printable "
            "characters without spaces"
        )
    return password


def _password(passwords: Mapping[str, str], name: str) -> str:
    try:
        return passwords[name]
    except KeyError:
        raise ValueError(f"no password for {user_name(name)} (set {password_variable(name)})") from None
