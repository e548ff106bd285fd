"""Device and admin tokens: issued and verified, refused with a code that says what is wrong (never why a
check failed), rotated by key id; the keys and the JWKS they live in."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from lingxi.auth import (
    ALGORITHM,
    AUDIENCE,
    ISSUER,
    AdminPrincipal,
    AuthError,
    DevicePrincipal,
    KeySet,
    Role,
    TokenIssuer,
    TokenVerifier,
    generate_key,
    load_private_key,
    private_key_pem,
    public_jwk,
)
from lingxi.events._values import DeviceId, UserId
from pydantic import TypeAdapter

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
OLD_KEY, NEW_KEY, STRANGER = generate_key(), generate_key(), generate_key()
KEYS = KeySet().add("k-old", OLD_KEY.public_key())
ISSUER_OLD = TokenIssuer(OLD_KEY, "k-old", clock=lambda: NOW)

MESSAGES = {
    "token_malformed": "the bearer token is not a JWT",
    "unknown_key": "the token's key id is not known",
    "token_invalid": "the token is not valid",
    "token_expired": "the token has expired",
}


def verifier_at(moment: datetime, keys: KeySet = KEYS) -> TokenVerifier:
    return TokenVerifier(keys, clock=lambda: moment)


def refused(token: str, *, at: datetime = NOW, keys: KeySet = KEYS) -> str:
    """The code a verifier refuses ``token`` with; its message must be the generic one for the code."""
    with pytest.raises(AuthError) as caught:
        verifier_at(at, keys).verify(token)
    assert caught.value.message == MESSAGES[caught.value.code]
    return caught.value.code


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def signed(claims: dict[str, Any], *, key: Any = OLD_KEY, kid: str | None = "k-old") -> str:
    """A token made by hand, signed by ``key``: what a forger or a buggy issuer could send."""
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers=headers)


def valid_claims(**changes: Any) -> dict[str, Any]:
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": int(NOW.timestamp()),
        "exp": int(NOW.timestamp()) + 600,
        "jti": "0" * 32,
        "sub": "dev-1",
        "typ": "device",
        "region": "CN",
    }
    return {key: value for key, value in {**base, **changes}.items() if value is not None}


def tampered(token: str, **changes: Any) -> str:
    """``token`` with its payload changed and its signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**claims, **changes}).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


# --- round trips ----------------------------------------------------------------------------------


def test_a_device_token_names_the_device_its_user_and_region() -> None:
    token = ISSUER_OLD.device(
        "dev-8f14e45f", user_id="u-20261125-000042", region="HK", ttl=timedelta(hours=2)
    )
    assert verifier_at(NOW).verify(token) == DevicePrincipal(
        "dev-8f14e45f", "u-20261125-000042", "HK", "k-old", NOW + timedelta(hours=2)
    )
    claims = claims_of(token)
    assert {key: claims[key] for key in ("iss", "aud", "sub", "typ", "uid", "region")} == {
        "iss": "lingxi",
        "aud": "lingxi-api",
        "sub": "dev-8f14e45f",
        "typ": "device",
        "uid": "u-20261125-000042",
        "region": "HK",
    }
    assert claims["iat"] == int(NOW.timestamp())
    assert len(claims["jti"]) == 32
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "kid": "k-old", "typ": "JWT"}


def test_a_device_without_a_user_has_no_uid_and_defaults_to_cn_for_an_hour() -> None:
    token = ISSUER_OLD.device("dev-2")
    assert "uid" not in claims_of(token)
    assert verifier_at(NOW).verify(token) == DevicePrincipal(
        "dev-2", None, "CN", "k-old", NOW + timedelta(hours=1)
    )


def test_an_admin_token_carries_its_roles_for_fifteen_minutes() -> None:
    token = ISSUER_OLD.admin("li.wei", ["auditor", Role.COMPLIANCE_OFFICER, "auditor"])
    assert verifier_at(NOW).verify(token) == AdminPrincipal(
        "li.wei", frozenset({Role.AUDITOR, Role.COMPLIANCE_OFFICER}), "k-old", NOW + timedelta(minutes=15)
    )
    claims = claims_of(token)
    assert (claims["typ"], claims["sub"], claims["roles"]) == (
        "admin",
        "li.wei",
        ["auditor", "compliance_officer"],
    )


def test_every_token_has_its_own_id() -> None:
    assert claims_of(ISSUER_OLD.device("dev-1"))["jti"] != claims_of(ISSUER_OLD.device("dev-1"))["jti"]


# --- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    ["", "not-a-token", "a.b", "a.b.c.d", "a.b.c", "!!!.e30.sig", "x" * 9000 + ".a.b"],
)
def test_what_is_not_a_jwt_is_malformed(token: str) -> None:
    assert refused(token) == "token_malformed"


def test_a_key_id_missing_or_unknown_is_unknown_key() -> None:
    assert refused(signed(valid_claims(), kid=None)) == "unknown_key"
    assert refused(signed(valid_claims(), kid="k-elsewhere")) == "unknown_key"
    # A kid that is not a string is a broken header: PyJWT will not even read it.
    header = base64.urlsafe_b64encode(b'{"alg":"EdDSA","kid":7}').rstrip(b"=").decode()
    _, payload, signature = signed(valid_claims()).split(".")
    assert refused(f"{header}.{payload}.{signature}") == "token_malformed"


def test_a_tampered_payload_is_invalid() -> None:
    token = ISSUER_OLD.device("dev-1", user_id="u-1")
    assert verifier_at(NOW).verify(token)
    assert refused(tampered(token, uid="u-2")) == "token_invalid"
    assert refused(tampered(token, region="HK")) == "token_invalid"
    admin = ISSUER_OLD.admin("ops", ["auditor"])
    assert refused(tampered(admin, roles=["auditor", "operator"])) == "token_invalid"


def test_a_token_signed_by_another_key_under_a_known_kid_is_invalid() -> None:
    forged = TokenIssuer(STRANGER, "k-old", clock=lambda: NOW).device("dev-1")
    assert refused(forged) == "token_invalid"


def test_another_audience_or_issuer_is_invalid() -> None:
    assert verifier_at(NOW).verify(signed(valid_claims()))
    assert refused(signed(valid_claims(aud="other-api"))) == "token_invalid"
    assert refused(signed(valid_claims(iss="someone-else"))) == "token_invalid"


def test_only_eddsa_is_accepted() -> None:
    unsigned = jwt.encode(valid_claims(), "", algorithm="none", headers={"kid": "k-old"})
    # The classic confusion: the public key, which verifiers publish, used as an HMAC secret.
    public_as_secret = public_jwk(OLD_KEY, "k-old")["x"]
    hmac = jwt.encode(valid_claims(), public_as_secret, algorithm="HS256", headers={"kid": "k-old"})
    assert refused(unsigned) == "token_invalid"
    assert refused(hmac) == "token_invalid"


@pytest.mark.parametrize("missing", ["iss", "aud", "iat", "exp", "jti", "sub", "typ"])
def test_a_token_missing_a_required_claim_is_invalid(missing: str) -> None:
    assert refused(signed(valid_claims(**{missing: None}))) == "token_invalid"


@pytest.mark.parametrize(
    "changes",
    [
        {"sub": "dev 1"},
        {"sub": "dev-1\n"},
        {"sub": "d" * 129},
        {"typ": "robot"},
        {"region": "china"},
        {"region": None},
        {"uid": 42},
        {"uid": "u/1"},
        {"iat": "yesterday"},
        {"exp": True},
        {"exp": int(NOW.timestamp()) - 60},  # before iat
        {"exp": int(NOW.timestamp()) + 31 * 86400},  # longer than any issuer gives
        {"nbf": int(NOW.timestamp()) + 3600},
        {"typ": "admin", "sub": "ops", "roles": []},
        {"typ": "admin", "sub": "ops", "roles": ["root"]},
        {"typ": "admin", "sub": "ops", "roles": "auditor"},
    ],
)
def test_a_claim_with_a_bad_value_is_invalid(changes: dict[str, Any]) -> None:
    assert refused(signed(valid_claims(**changes))) == "token_invalid"


def test_expiry_is_judged_by_the_clock_with_leeway() -> None:
    token = ISSUER_OLD.device("dev-1", ttl=timedelta(minutes=5))
    assert verifier_at(NOW + timedelta(minutes=5, seconds=29)).verify(token)
    assert refused(token, at=NOW + timedelta(minutes=5, seconds=30)) == "token_expired"
    assert refused(token, at=NOW + timedelta(days=1)) == "token_expired"
    strict = TokenVerifier(KEYS, leeway=timedelta(0), clock=lambda: NOW + timedelta(minutes=5))
    with pytest.raises(AuthError, match="token_expired"):
        strict.verify(token)


def test_a_token_issued_in_the_future_is_invalid_beyond_the_leeway() -> None:
    token = ISSUER_OLD.device("dev-1")
    assert verifier_at(NOW - timedelta(seconds=30)).verify(token)
    assert refused(token, at=NOW - timedelta(seconds=31)) == "token_invalid"


def test_a_refusal_says_nothing_about_the_check_that_failed() -> None:
    with pytest.raises(AuthError) as caught:
        verifier_at(NOW).verify(TokenIssuer(STRANGER, "k-old").device("dev-1"))
    assert str(caught.value) == "token_invalid: the token is not valid"
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


# --- rotation -------------------------------------------------------------------------------------


def test_rotation_by_key_id() -> None:
    both = KEYS.add("k-new", NEW_KEY.public_key())
    old_token = ISSUER_OLD.device("dev-1")
    new_token = TokenIssuer(NEW_KEY, "k-new", clock=lambda: NOW).admin("ops", [Role.OPERATOR])
    assert verifier_at(NOW, both).verify(old_token).key_id == "k-old"
    assert verifier_at(NOW, both).verify(new_token).key_id == "k-new"
    assert refused(new_token) == "unknown_key"  # a verifier that has not loaded the new key yet
    retired = both.without("k-old")
    assert retired.kids == ("k-new",)
    assert verifier_at(NOW, retired).verify(new_token)
    assert refused(old_token, keys=retired) == "unknown_key"
    assert both.kids == ("k-old", "k-new"), "add and without leave the original set alone"


# --- keys and key sets ----------------------------------------------------------------------------


def test_a_private_key_round_trips_through_pem() -> None:
    pem = private_key_pem(OLD_KEY)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert load_private_key(pem).public_key() == OLD_KEY.public_key()


def test_a_pem_that_is_not_an_ed25519_private_key_is_refused() -> None:
    with pytest.raises(ValueError, match="not a PEM private key"):
        load_private_key(b"-----BEGIN NONSENSE-----\n")
    ec_pem = generate_private_key(SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError, match="not an Ed25519 private key"):
        load_private_key(ec_pem)
    encrypted = OLD_KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )
    with pytest.raises(ValueError, match="encrypted"):
        load_private_key(encrypted)


def test_a_public_jwk_holds_the_public_key_only() -> None:
    jwk = public_jwk(OLD_KEY, "k-old")
    assert jwk == public_jwk(OLD_KEY.public_key(), "k-old")
    assert set(jwk) == {"kty", "crv", "x", "kid", "alg", "use"}
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"], jwk["kid"]) == (
        "OKP",
        "Ed25519",
        "EdDSA",
        "sig",
        "k-old",
    )
    assert jwt.PyJWK(jwk).key == OLD_KEY.public_key()


def test_a_key_set_round_trips_through_a_jwks_file(tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(KEYS.add("k-new", NEW_KEY.public_key()).to_jwks()))
    loaded = KeySet.load(path)
    assert loaded.kids == ("k-old", "k-new")
    assert loaded.get("k-new") == NEW_KEY.public_key()
    assert verifier_at(NOW, loaded).verify(ISSUER_OLD.device("dev-1"))


def _jwk(**changes: Any) -> dict[str, Any]:
    return {
        key: value for key, value in {**public_jwk(OLD_KEY, "k-old"), **changes}.items() if value is not None
    }


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "no such file"),
        (b"{nope", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[]", "JSON object"),
        (b'{"key": []}', '"keys" list'),
        (b'{"keys": []}', "no keys"),
        (json.dumps({"keys": ["k-old"]}).encode(), "key #1 is not a JSON object"),
        (json.dumps({"keys": [_jwk(kid=None)]}).encode(), "key #1 has no valid kid"),
        (json.dumps({"keys": [_jwk(crv="Ed448")]}).encode(), "'k-old' is not an Ed25519 key"),
        (
            json.dumps({"keys": [{"kty": "RSA", "kid": "r", "n": "AQAB", "e": "AQAB"}]}).encode(),
            "'r' is not an Ed25519 key",
        ),
        (json.dumps({"keys": [_jwk(x="AAAA")]}).encode(), "not a valid Ed25519 public key"),
        (json.dumps({"keys": [_jwk(alg="ES256")]}).encode(), "not EdDSA"),
        (json.dumps({"keys": [_jwk(d="AAAA")]}).encode(), "private key material"),
        (json.dumps({"keys": [_jwk(), _jwk()]}).encode(), "kid 'k-old' appears twice"),
    ],
)
def test_a_bad_jwks_file_says_what_is_wrong(tmp_path: Path, content: bytes | None, needle: str) -> None:
    path = tmp_path / "jwks.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=needle) as caught:
        KeySet.load(path)
    assert str(path) in str(caught.value)


def test_a_key_set_refuses_a_kid_twice_and_a_kid_it_lacks() -> None:
    with pytest.raises(ValueError, match="already"):
        KEYS.add("k-old", NEW_KEY.public_key())
    with pytest.raises(ValueError, match="not in the key set"):
        KEYS.without("k-missing")
    with pytest.raises(ValueError, match="empty"):
        TokenVerifier(KEYS.without("k-old"))


# --- what issuers refuse --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: ISSUER_OLD.device("dev 1"), "device_id"),
        (lambda: ISSUER_OLD.device(""), "device_id"),
        (lambda: ISSUER_OLD.device("d" * 129), "device_id"),
        (lambda: ISSUER_OLD.device("dev-1\n"), "device_id"),
        (lambda: ISSUER_OLD.device("dev-1", user_id="u/1"), "user_id"),
        (lambda: ISSUER_OLD.device("dev-1", region="cn"), "region"),
        (lambda: ISSUER_OLD.device("dev-1", region="CHN"), "region"),
        (lambda: ISSUER_OLD.device("dev-1", ttl=timedelta(0)), "ttl must be positive"),
        (lambda: ISSUER_OLD.device("dev-1", ttl=timedelta(seconds=-1)), "ttl must be positive"),
        (lambda: ISSUER_OLD.device("dev-1", ttl=timedelta(days=30, seconds=1)), "at most 30 days"),
        (lambda: ISSUER_OLD.admin("li wei", ["auditor"]), "name"),
        (
            lambda: ISSUER_OLD.admin("ops", ["root"]),
            r"unknown role 'root' \(valid roles: operator, compliance",
        ),
        (lambda: ISSUER_OLD.admin("ops", []), "at least one role"),
        (lambda: ISSUER_OLD.admin("ops", ["auditor"], ttl=timedelta(days=31)), "ttl"),
        (lambda: TokenIssuer(OLD_KEY, "k old"), "key_id"),
        (lambda: public_jwk(OLD_KEY, ""), "kid"),
    ],
)
def test_a_bad_issuing_request_names_the_field(call: Callable[[], object], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        call()


def test_the_longest_ttl_is_thirty_days() -> None:
    token = ISSUER_OLD.device("dev-1", ttl=timedelta(days=30))
    assert verifier_at(NOW).verify(token).expires_at == NOW + timedelta(days=30)


def test_ids_a_token_accepts_fit_the_events() -> None:
    """The device and user id a verifier hands on must also pass the events they end up in."""
    token = ISSUER_OLD.device("dev:8f14.e45f_x-1", user_id="u.20261125:42")
    principal = verifier_at(NOW).verify(token)
    assert isinstance(principal, DevicePrincipal)
    assert TypeAdapter(DeviceId).validate_python(principal.device_id) == "dev:8f14.e45f_x-1"
    assert TypeAdapter(UserId).validate_python(principal.user_id) == "u.20261125:42"
