"""The gateway's guard: which tokens it takes, what it remembers, and what each refusal says."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lingxi.auth import AdminPrincipal, DevicePrincipal, KeySet, Role, TokenIssuer, generate_key
from lingxi_gateway.security import (
    AuthSettings,
    Forbidden,
    Guard,
    Unauthenticated,
    check_device,
    check_region,
    check_user,
)

START = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def signing_key() -> Ed25519PrivateKey:
    return generate_key()


@pytest.fixture
def issuer(signing_key: Ed25519PrivateKey, clock: Clock) -> TokenIssuer:
    return TokenIssuer(signing_key, "k1", clock=clock)


@pytest.fixture
def guard(signing_key: Ed25519PrivateKey, clock: Clock, tmp_path: Path) -> Guard:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(KeySet({"k1": signing_key.public_key()}).to_jwks()))
    guard = Guard(AuthSettings(jwks=jwks, leeway_s=30), clock=clock)
    guard.load()
    return guard


def test_a_gateway_without_keys_says_which_setting_to_give(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="LINGXI_AUTH_JWKS is not set"):
        Guard(AuthSettings(jwks=None)).load()
    missing = tmp_path / "nowhere.json"
    with pytest.raises(RuntimeError, match=f"LINGXI_AUTH_JWKS: {missing}: no such file"):
        Guard(AuthSettings(jwks=missing)).load()
    empty = tmp_path / "empty.json"
    empty.write_text('{"keys": []}')
    with pytest.raises(RuntimeError, match="has no keys"):
        Guard(AuthSettings(jwks=empty)).load()


def test_the_jwks_file_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LINGXI_AUTH_JWKS", str(tmp_path / "jwks.json"))
    monkeypatch.setenv("LINGXI_AUTH_LEEWAY_S", "5")
    settings = AuthSettings()
    assert settings.jwks == tmp_path / "jwks.json"
    assert settings.leeway_s == 5


def test_a_device_token_becomes_its_device(guard: Guard, issuer: TokenIssuer) -> None:
    caller = guard.principal(issuer.device("dev-1", user_id="u-1", region="HK"))
    assert isinstance(caller, DevicePrincipal)
    assert (caller.device_id, caller.user_id, caller.region) == ("dev-1", "u-1", "HK")


def test_a_remembered_token_still_expires(guard: Guard, issuer: TokenIssuer, clock: Clock) -> None:
    token = issuer.device("dev-1", ttl=timedelta(minutes=5))
    assert guard.principal(token) == guard.principal(token)  # the second one from memory
    clock.now = START + timedelta(minutes=5, seconds=31)  # past its expiry and the leeway
    with pytest.raises(Unauthenticated) as refused:
        guard.principal(token)
    assert refused.value.code == "token_expired"


def test_a_key_set_in_use_is_replaced_whole(guard: Guard, issuer: TokenIssuer) -> None:
    token = issuer.device("dev-1")
    guard.principal(token)
    guard.use(KeySet({"k2": generate_key().public_key()}))
    with pytest.raises(Unauthenticated) as refused:
        guard.principal(token)  # not answered from memory: the key that signed it is gone
    assert refused.value.code == "unknown_key"


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("not-a-token", "token_malformed"),
        ("a.b.c", "token_malformed"),
        (TokenIssuer(generate_key(), "k9").device("dev-1"), "unknown_key"),
        (TokenIssuer(generate_key(), "k1").device("dev-1"), "token_invalid"),  # same kid, other key
    ],
)
def test_each_refusal_has_its_code_and_never_says_why_a_signature_failed(
    guard: Guard, token: str, code: str
) -> None:
    with pytest.raises(Unauthenticated) as refused:
        guard.principal(token)
    assert refused.value.code == code
    assert "signature" not in refused.value.detail.lower()


def device(device_id: str = "dev-1", user_id: str | None = "u-1", region: str = "CN") -> DevicePrincipal:
    return DevicePrincipal(device_id, user_id, region, "k1", START + timedelta(hours=1))


def admin(*roles: Role) -> AdminPrincipal:
    return AdminPrincipal("li.wei", frozenset(roles), "k1", START + timedelta(hours=1))


def test_a_device_reaches_only_its_own_device_user_and_region() -> None:
    check_device(device(), "dev-1")
    check_user(device(), "u-1")
    check_region(device(), "CN")
    with pytest.raises(Forbidden, match="the token is for device dev-1, not device dev-2"):
        check_device(device(), "dev-2")
    with pytest.raises(Forbidden, match="the token is for user u-1, not user u-2"):
        check_user(device(), "u-2")
    with pytest.raises(Forbidden, match="nobody is signed in on device dev-1"):
        check_user(device(user_id=None), "u-1")
    with pytest.raises(Forbidden, match="the token is for region CN, not region HK"):
        check_region(device(), "HK")


def test_an_administrator_reaches_devices_and_users_only_with_the_named_roles() -> None:
    check_device(admin(Role.OPERATOR), "dev-1", admin_roles=[Role.OPERATOR])
    check_user(admin(Role.COMPLIANCE_OFFICER), "u-1", admin_roles=[Role.COMPLIANCE_OFFICER])
    check_region(admin(Role.AUDITOR), "HK")  # administrators are not tied to a region
    with pytest.raises(Forbidden, match=r"needs that device's token or the role operator$"):
        check_device(admin(Role.AUDITOR), "dev-1", admin_roles=[Role.OPERATOR])
    with pytest.raises(Forbidden, match=r"needs the token of a device they are signed in on$"):
        check_user(admin(*Role), "u-1")
