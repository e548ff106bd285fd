"""Signed tokens for tests and benchmarks: one signing key per run, its JWKS on disk for every gateway
a test starts (``ServiceProcess`` points ``LINGXI_AUTH_JWKS`` at it), and the headers of each caller.

    httpx.get(f"{gateway}/v1/devices/dev-1/alerts", headers=device_headers("dev-1"))
    httpx.get(f"{gateway}/v1/admin/features", headers=admin_headers(Role.AUDITOR))
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lingxi.auth import KeySet, Role, TokenIssuer, generate_key

KEY_ID = "test-key"
TOKEN_TTL = timedelta(hours=12)
"""Longer than any test run, bench included: a token never expires under a test that did not ask."""
ADMIN_NAME = "test-admin"


@cache
def _signing() -> tuple[Ed25519PrivateKey, Path]:
    key = generate_key()
    directory = Path(tempfile.mkdtemp(prefix="lingxi-test-keys-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    jwks = directory / "jwks.json"
    jwks.write_text(json.dumps(KeySet({KEY_ID: key.public_key()}).to_jwks()), encoding="utf-8")
    return key, jwks


def issuer(*, clock: Callable[[], datetime] | None = None) -> TokenIssuer:
    """An issuer signing with the run's key (its public key is in ``jwks_path()``); ``clock``: the
    time it signs at (to make tokens that expired, or are not valid yet)."""
    return TokenIssuer(_signing()[0], KEY_ID, **({"clock": clock} if clock else {}))


def jwks_path() -> Path:
    """The JWKS file of the run's signing key, written on first use and removed at exit."""
    return _signing()[1]


@cache
def device_token(device_id: str, *, user_id: str | None = None, region: str = "CN") -> str:
    return issuer().device(device_id, user_id=user_id, region=region, ttl=TOKEN_TTL)


@cache
def admin_token(*roles: Role, name: str = ADMIN_NAME) -> str:
    return issuer().admin(name, roles or tuple(Role), ttl=TOKEN_TTL)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def device_headers(device_id: str, *, user_id: str | None = None, region: str = "CN") -> dict[str, str]:
    """``Authorization`` for ``device_id``, with ``user_id`` signed in on it."""
    return bearer(device_token(device_id, user_id=user_id, region=region))


def admin_headers(*roles: Role, name: str = ADMIN_NAME) -> dict[str, str]:
    """``Authorization`` for an administrator holding ``roles`` (every role when none is named)."""
    return bearer(admin_token(*roles, name=name))
