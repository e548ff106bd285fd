"""Signed tokens for devices and administrators: issue them, verify them, and manage the keys.

A token is a JWT signed with an Ed25519 key (``alg: EdDSA``); its header names the key in ``kid``.
Every token carries ``iss`` (``lingxi``), ``aud`` (``lingxi-api``), ``iat`` and ``exp`` (seconds since
the epoch), ``jti`` (a random id), ``sub`` (who it is for) and ``typ``:

- ``typ: device``: ``sub`` is the device id; ``region`` (``CN``, ``HK``...) is where the device's data
  lives; ``uid`` is the signed-in user's id, absent while nobody is signed in.
- ``typ: admin``: ``sub`` is the administrator's name; ``roles`` lists what they may do (at least one
  ``Role``).

Issuers hold a private key and its key id (``TokenIssuer``). Verifiers hold only public keys, as a JWKS
document (RFC 7517) listing each key under its id (``KeySet``), and turn a token into a ``Principal``
(``TokenVerifier``).

Rotation, with no moment at which valid tokens are refused:

1. Generate the new key and add its public key to the JWKS that every verifier loads; roll that out.
2. Issue with the new key and its key id from then on.
3. Once the last token signed with the old key has expired (its longest ttl after step 2), drop the old
   public key from the JWKS.

A token whose key id is not in the set is refused as ``unknown_key``; that is also how a retired or
leaked key stops working. ``AuthError`` messages say what is missing or wrong in the request (no token
that parses, a key id nobody knows, an expired token), never why a signature or claim check failed:
that would help whoever is forging tokens and nobody else.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm

# The events' identifier pattern, so that a device id or user id a token carries fits the events too.
from lingxi.events._values import _IDENTIFIER

JWKS_ENV = "LINGXI_AUTH_JWKS"
"""Where verifiers (the gateway, ``lingxi up``) find the JWKS file of the public keys."""
ISSUER = "lingxi"
AUDIENCE = "lingxi-api"
ALGORITHM = "EdDSA"

MAX_IDENTIFIER_CHARS = 128
MAX_TTL = timedelta(days=30)
MAX_TOKEN_CHARS = 8192
"""Longer bearer tokens are refused before any parsing (ours are a few hundred characters)."""

DEVICE = "device"
ADMIN = "admin"
REQUIRED_CLAIMS = ("iss", "aud", "iat", "exp", "jti", "sub", "typ")

_IDENTIFIER_PATTERN = re.compile(_IDENTIFIER)
_REGION_PATTERN = re.compile(r"[A-Z]{2}")

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Role(StrEnum):
    """What an administrator may do."""

    OPERATOR = "operator"
    COMPLIANCE_OFFICER = "compliance_officer"
    AUDITOR = "auditor"


@dataclass(frozen=True)
class DevicePrincipal:
    """A device, and the user signed in on it (``None``: nobody)."""

    device_id: str
    user_id: str | None
    region: str
    key_id: str
    expires_at: datetime


@dataclass(frozen=True)
class AdminPrincipal:
    """An administrator and their roles."""

    name: str
    roles: frozenset[Role]
    key_id: str
    expires_at: datetime


Principal = DevicePrincipal | AdminPrincipal

AuthErrorCode = Literal["token_malformed", "unknown_key", "token_invalid", "token_expired"]


class AuthError(Exception):
    """A token was refused. ``code`` is for machines, ``message`` for people; neither says which
    cryptographic or claim check failed."""

    def __init__(self, code: AuthErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code: AuthErrorCode = code
        self.message = message


def _malformed() -> AuthError:
    return AuthError("token_malformed", "the bearer token is not a JWT")


def _unknown_key() -> AuthError:
    return AuthError("unknown_key", "the token's key id is not known")


def _invalid() -> AuthError:
    return AuthError("token_invalid", "the token is not valid")


def _expired() -> AuthError:
    return AuthError("token_expired", "the token has expired")


# --- values ---------------------------------------------------------------------------------------


def _is_identifier(value: object) -> bool:
    return (
        isinstance(value, str)
        and len(value) <= MAX_IDENTIFIER_CHARS
        and _IDENTIFIER_PATTERN.fullmatch(value) is not None
    )


def check_identifier(field: str, value: str) -> str:
    """``value`` if it is a valid id (letters, digits, ``. _ : -``; 1 to 128 characters), else ValueError
    naming ``field``."""
    if not _is_identifier(value):
        raise ValueError(
            f"{field} must be 1 to {MAX_IDENTIFIER_CHARS} letters, digits or . _ : - (got {value!r})"
        )
    return value


def check_region(value: str) -> str:
    if not isinstance(value, str) or _REGION_PATTERN.fullmatch(value) is None:
        raise ValueError(f"region must be two uppercase letters such as CN or HK (got {value!r})")
    return value


def parse_role(value: Role | str) -> Role:
    """A role from its name, or ValueError naming it and listing the valid ones."""
    try:
        return Role(value)
    except ValueError:
        valid = ", ".join(role.value for role in Role)
        raise ValueError(f"unknown role {value!r} (valid roles: {valid})") from None


def check_ttl(ttl: timedelta) -> timedelta:
    if not timedelta(0) < ttl <= MAX_TTL:
        raise ValueError(f"ttl must be positive and at most {MAX_TTL.days} days (got {ttl})")
    return ttl


# --- keys -----------------------------------------------------------------------------------------


def generate_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    """``key`` as unencrypted PKCS#8 PEM: keep the file readable by its owner only."""
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


def load_private_key(pem: bytes) -> Ed25519PrivateKey:
    """The Ed25519 private key in ``pem`` (unencrypted PKCS#8), or ValueError saying what it is instead."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise ValueError("the private key PEM is encrypted; give an unencrypted PKCS#8 key") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError("not a PEM private key (expected an Ed25519 key in PKCS#8 PEM)") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"the PEM holds a {type(key).__name__}, not an Ed25519 private key")
    return key


def public_jwk(key: Ed25519PrivateKey | Ed25519PublicKey, kid: str) -> dict[str, Any]:
    """The public half of ``key`` as a JWK (``kty: OKP``, ``crv: Ed25519``) named ``kid``; never the
    private part."""
    check_identifier("kid", kid)
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
    return {**jwk, "kid": kid, "alg": ALGORITHM, "use": "sig"}


def _public_key_from_jwk(entry: object, position: int) -> tuple[str, Ed25519PublicKey]:
    if not isinstance(entry, Mapping):
        raise ValueError(f"key #{position} is not a JSON object")
    kid = entry.get("kid")
    if not isinstance(kid, str) or not _is_identifier(kid):
        raise ValueError(f"key #{position} has no valid kid")
    if entry.get("kty") != "OKP" or entry.get("crv") != "Ed25519":
        raise ValueError(
            f"key {kid!r} is not an Ed25519 key (kty={entry.get('kty')!r}, crv={entry.get('crv')!r})"
        )
    if "d" in entry:
        # A verifier's key set is copied around freely; a private key in it would be a leak.
        raise ValueError(f"key {kid!r} holds private key material; a key set holds public keys only")
    if entry.get("alg", ALGORITHM) != ALGORITHM:
        raise ValueError(f"key {kid!r} is for {entry.get('alg')!r}, not {ALGORITHM}")
    if entry.get("use", "sig") != "sig":
        raise ValueError(f"key {kid!r} is for use {entry.get('use')!r}, not sig")
    try:
        key = jwt.PyJWK(dict(entry), ALGORITHM).key
    except jwt.PyJWTError:
        raise ValueError(f"key {kid!r} is not a valid Ed25519 public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"key {kid!r} is not an Ed25519 public key")
    return kid, key


class KeySet:
    """The public keys verifiers accept, by key id. Immutable: ``add`` and ``without`` return new sets."""

    def __init__(self, keys: Mapping[str, Ed25519PublicKey] | None = None) -> None:
        self._keys: dict[str, Ed25519PublicKey] = {}
        for kid, key in (keys or {}).items():
            check_identifier("kid", kid)
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError(f"key {kid!r} is not an Ed25519 public key")
            self._keys[kid] = key

    @classmethod
    def from_jwks(cls, document: Mapping[str, Any]) -> KeySet:
        """The keys of a JWKS document; ValueError if it has none, a key that is not a public Ed25519
        key, or two keys with one kid."""
        if not isinstance(document, Mapping):
            raise ValueError("a JWKS document is a JSON object with a keys list")
        entries = document.get("keys")
        if not isinstance(entries, list):
            raise ValueError('a JWKS document needs a "keys" list')
        if not entries:
            raise ValueError("the JWKS document has no keys")
        keys: dict[str, Ed25519PublicKey] = {}
        for position, entry in enumerate(entries, start=1):
            kid, key = _public_key_from_jwk(entry, position)
            if kid in keys:
                raise ValueError(f"kid {kid!r} appears twice")
            keys[kid] = key
        return cls(keys)

    @classmethod
    def load(cls, path: Path) -> KeySet:
        """The key set in a JWKS file; ValueError naming the file and what is wrong with it."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise ValueError(f"{path}: no such file") from None
        except OSError as error:
            raise ValueError(f"{path}: cannot read it: {error.strerror or error}") from None
        try:
            document = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ValueError(f"{path}: not JSON") from None
        try:
            return cls.from_jwks(document)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None

    def add(self, kid: str, public_key: Ed25519PublicKey) -> KeySet:
        if kid in self._keys:
            raise ValueError(f"kid {kid!r} is already in the key set")
        return KeySet({**self._keys, kid: public_key})

    def without(self, kid: str) -> KeySet:
        if kid not in self._keys:
            raise ValueError(f"kid {kid!r} is not in the key set")
        return KeySet({known: key for known, key in self._keys.items() if known != kid})

    def to_jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(key, kid) for kid, key in self._keys.items()]}

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def get(self, kid: str) -> Ed25519PublicKey | None:
        return self._keys.get(kid)

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __repr__(self) -> str:
        return f"KeySet(kids={list(self._keys)!r})"


# --- issuing --------------------------------------------------------------------------------------


class TokenIssuer:
    """Signs tokens with one private key, named ``key_id`` in every token's header."""

    def __init__(self, private_key: Ed25519PrivateKey, key_id: str, *, clock: Clock = _utc_now) -> None:
        if not isinstance(private_key, Ed25519PrivateKey):
            raise ValueError("private_key must be an Ed25519 private key")
        self._private_key = private_key
        self.key_id = check_identifier("key_id", key_id)
        self._clock = clock

    def device(
        self,
        device_id: str,
        *,
        user_id: str | None = None,
        region: str = "CN",
        ttl: timedelta = timedelta(hours=1),
    ) -> str:
        claims: dict[str, Any] = {
            "sub": check_identifier("device_id", device_id),
            "typ": DEVICE,
            "region": check_region(region),
        }
        if user_id is not None:
            claims["uid"] = check_identifier("user_id", user_id)
        return self._sign(claims, ttl)

    def admin(self, name: str, roles: Iterable[Role | str], *, ttl: timedelta = timedelta(minutes=15)) -> str:
        check_identifier("name", name)
        if isinstance(roles, str):  # one role name would otherwise be read as its letters
            roles = [roles]
        granted = {parse_role(role) for role in roles}
        if not granted:
            raise ValueError("roles must name at least one role")
        claims = {"sub": name, "typ": ADMIN, "roles": sorted(role.value for role in granted)}
        return self._sign(claims, ttl)

    def _sign(self, claims: dict[str, Any], ttl: timedelta) -> str:
        check_ttl(ttl)
        issued_at = math.floor(self._clock().timestamp())
        payload = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": issued_at,
            "exp": issued_at + math.ceil(ttl.total_seconds()),
            "jti": uuid.uuid4().hex,
            **claims,
        }
        return jwt.encode(payload, self._private_key, algorithm=ALGORITHM, headers={"kid": self.key_id})


# --- verifying ------------------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class TokenVerifier:
    """Turns a bearer token into a ``Principal`` or raises ``AuthError``.

    Times are checked against ``clock()`` with ``leeway`` either way for clocks that disagree a little.
    """

    def __init__(
        self, keys: KeySet, *, leeway: timedelta = timedelta(seconds=30), clock: Clock = _utc_now
    ) -> None:
        if not len(keys):
            raise ValueError("the key set is empty: a verifier needs at least one key")
        if leeway < timedelta(0):
            raise ValueError("leeway must not be negative")
        self.keys = keys
        self._leeway = leeway.total_seconds()
        self._clock = clock

    def verify(self, token: str) -> Principal:
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
            raise _malformed()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _malformed() from None
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise _unknown_key()
        public_key = self.keys.get(kid)
        if public_key is None:
            raise _unknown_key()
        try:
            # Times are checked below against the injected clock, not PyJWT's wall clock.
            claims = jwt.decode(
                token,
                public_key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError:
            raise _invalid() from None
        principal = self._principal(claims, kid)
        self._check_times(claims)
        return principal

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now = self._clock().timestamp()
        issued_at, expires_at, not_before = claims["iat"], claims["exp"], claims.get("nbf")
        if not (_is_int(issued_at) and _is_int(expires_at)) or expires_at <= issued_at:
            raise _invalid()
        if expires_at - issued_at > MAX_TTL.total_seconds():
            raise _invalid()
        if issued_at > now + self._leeway:
            raise _invalid()
        if not_before is not None and (not _is_int(not_before) or not_before > now + self._leeway):
            raise _invalid()
        if expires_at <= now - self._leeway:
            raise _expired()

    def _principal(self, claims: Mapping[str, Any], kid: str) -> Principal:
        subject, kind, expires = claims["sub"], claims["typ"], claims["exp"]
        if not _is_identifier(subject) or not _is_int(expires) or not isinstance(claims["jti"], str):
            raise _invalid()
        try:
            expires_at = datetime.fromtimestamp(expires, UTC)
        except (OverflowError, OSError, ValueError):
            raise _invalid() from None
        if kind == DEVICE:
            user_id, region = claims.get("uid"), claims.get("region")
            if user_id is not None and not _is_identifier(user_id):
                raise _invalid()
            if not isinstance(region, str) or _REGION_PATTERN.fullmatch(region) is None:
                raise _invalid()
            return DevicePrincipal(subject, user_id, region, kid, expires_at)
        if kind == ADMIN:
            names = claims.get("roles")
            if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
                raise _invalid()
            try:
                # A role this verifier does not know refuses the token rather than being dropped from it.
                roles = frozenset(Role(name) for name in names)
            except ValueError:
                raise _invalid() from None
            return AdminPrincipal(subject, roles, kid, expires_at)
        raise _invalid()
