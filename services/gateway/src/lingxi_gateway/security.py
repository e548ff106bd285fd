"""Who may call the ``/v1`` API: every route needs a bearer token (``lingxi.auth``), and each route says
whose token it takes.

- A device token (``typ: device``) acts for its device, the user signed in on it and its region: it
  submits that device's requests and reads that device's requests, health and alerts, and that user's
  consent, purchases, recommendations and erasure.
- An admin token acts with its roles: ``operator`` reads any device's health and alerts and uploads
  telemetry for any device; ``compliance_officer`` changes feature approvals and erases any user;
  every role reads the feature registry.

401 says the token is missing or refused (its ``code``: ``token_missing``, ``token_malformed``,
``unknown_key``, ``token_invalid``, ``token_expired``) and carries ``WWW-Authenticate: Bearer``; 403 says
what the token lacks for this request. Neither says why a signature or claim check failed.

The gateway verifies with the public keys of the JWKS file ``LINGXI_AUTH_JWKS`` (``lingxi keys
generate``), loaded at start-up: a gateway without keys refuses to start rather than serve unguarded.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from lingxi.auth import (
    JWKS_ENV,
    AdminPrincipal,
    AuthError,
    DevicePrincipal,
    KeySet,
    Principal,
    Role,
    TokenVerifier,
)
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lingxi_gateway.ratelimits import RateLimited, RateLimiter

_CACHED_TOKENS = 10_000
"""Verified tokens remembered (a device sends the same token until it renews it): a hit skips the
signature check (about 180 µs measured here) and still checks the expiry."""


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LINGXI_AUTH_", extra="ignore")

    jwks: Path | None = Field(
        default=None, description="The JWKS file of the public keys device and admin tokens are signed with."
    )
    leeway_s: float = Field(
        default=30, ge=0, le=300, description="Clock difference tolerated on a token's times, in seconds."
    )

    @field_validator("jwks", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value


class Unauthenticated(Exception):
    """No usable token: HTTP 401."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class Forbidden(Exception):
    """A valid token that may not do this: HTTP 403, saying what it lacks."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


async def unauthenticated_response(request: Request, refusal: Exception) -> Response:
    assert isinstance(refusal, Unauthenticated)
    error = "invalid_request" if refusal.code == "token_missing" else "invalid_token"
    return JSONResponse(
        status_code=401,
        content={"detail": refusal.detail, "code": refusal.code},
        headers={"WWW-Authenticate": f'Bearer realm="lingxi", error="{error}"'},
    )


async def forbidden_response(request: Request, refusal: Exception) -> Response:
    assert isinstance(refusal, Forbidden)
    return JSONResponse(status_code=403, content={"detail": refusal.detail, "code": "forbidden"})


async def rate_limited_response(request: Request, refusal: Exception) -> Response:
    assert isinstance(refusal, RateLimited)
    return JSONResponse(
        status_code=429,
        content={"detail": refusal.detail, "code": "rate_limited"},
        headers={"Retry-After": str(refusal.retry_after_s)},
    )


EXCEPTION_HANDLERS: dict[type[Exception], Callable[[Request, Exception], Awaitable[Response]]] = {
    Unauthenticated: unauthenticated_response,
    Forbidden: forbidden_response,
    RateLimited: rate_limited_response,
}

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="A device or admin token (lingxi token issue), as `Authorization: Bearer <token>`.",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _roles(roles: Iterable[Role]) -> str:
    return " or ".join(sorted(role.value for role in roles))


def who(principal: Principal) -> str:
    if isinstance(principal, DevicePrincipal):
        return f"device {principal.device_id}"
    return f"administrator {principal.name} ({_roles(principal.roles)})"


class Guard:
    """Verifies bearer tokens with the keys loaded at start-up, and hands routes their caller."""

    def __init__(
        self,
        settings: AuthSettings | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings or AuthSettings()
        self._clock = clock
        self._verifier: TokenVerifier | None = None
        self._verified: OrderedDict[str, Principal] = OrderedDict()
        self.limiter: RateLimiter | None = None
        """Counts each caller's requests once set (at start-up, when Redis is known)."""

    def load(self) -> KeySet:
        """Read the JWKS file; RuntimeError saying what to fix when there is none or it is unusable."""
        path = self.settings.jwks
        if path is None:
            raise RuntimeError(
                f"{JWKS_ENV} is not set: the gateway needs the JWKS file of the keys tokens are signed "
                "with (lingxi keys generate --kid KID --private-key PEM --jwks JWKS)"
            )
        try:
            keys = KeySet.load(path)
        except ValueError as error:
            raise RuntimeError(f"{JWKS_ENV}: {error}") from None
        self.use(keys)
        return keys

    def use(self, keys: KeySet) -> None:
        leeway = timedelta(seconds=self.settings.leeway_s)
        self._verifier = TokenVerifier(keys, leeway=leeway, clock=self._clock)
        self._verified.clear()

    def principal(self, token: str) -> Principal:
        """The caller a token stands for, or Unauthenticated with the code and words of the refusal."""
        if self._verifier is None:
            raise RuntimeError("the guard's keys are not loaded (Guard.load at start-up)")
        known = self._verified.get(token)
        if known is not None:
            # Remembered, but it may have expired since: ask the verifier again, which says so.
            if known.expires_at > self._clock():
                self._verified.move_to_end(token)
                return known
            del self._verified[token]
        try:
            principal = self._verifier.verify(token)
        except AuthError as refused:
            raise Unauthenticated(refused.code, refused.message) from None
        self._verified[token] = principal
        if len(self._verified) > _CACHED_TOKENS:
            self._verified.popitem(last=False)
        return principal

    async def caller(self, credentials: Credentials) -> Principal:
        """Dependency: whoever the bearer token stands for (device or administrator)."""
        if credentials is None:
            raise Unauthenticated(
                "token_missing", "this route needs a bearer token: Authorization: Bearer <token>"
            )
        principal = self.principal(credentials.credentials)
        if self.limiter is not None:
            await self.limiter.admit(principal)
        return principal

    async def device(self, credentials: Credentials) -> DevicePrincipal:
        """Dependency: the calling device; an administrator's token is refused."""
        principal = await self.caller(credentials)
        if not isinstance(principal, DevicePrincipal):
            raise Forbidden(f"this route takes a device token; the token is for {who(principal)}")
        return principal

    def admin(self, *roles: Role) -> Callable[..., Awaitable[AdminPrincipal]]:
        """Dependency: an administrator holding one of ``roles`` (any role when none is named)."""

        async def admin_caller(credentials: Credentials) -> AdminPrincipal:
            principal = await self.caller(credentials)
            if not isinstance(principal, AdminPrincipal):
                raise Forbidden(f"this route takes an admin token; the token is for {who(principal)}")
            if roles and not principal.roles & set(roles):
                raise Forbidden(
                    f"this route needs the role {_roles(roles)}; the token is for {who(principal)}"
                )
            return principal

        return admin_caller


guard = Guard()
"""The gateway's guard; the app loads its keys when it starts."""
Caller = Annotated[Principal, Depends(guard.caller)]
"""A route's parameter: whoever the token stands for."""
DeviceCaller = Annotated[DevicePrincipal, Depends(guard.device)]
"""A route's parameter: the calling device (administrators refused)."""
ComplianceOfficer = Annotated[AdminPrincipal, Depends(guard.admin(Role.COMPLIANCE_OFFICER))]
ANY_ADMIN = Depends(guard.admin())
"""A route's dependency: any administrator."""


# --- what a caller may touch ------------------------------------------------------------------------


def _check_admin(caller: AdminPrincipal, allowed: set[Role], needs_device: str) -> None:
    """An administrator holds one of ``allowed``; else Forbidden: ``needs_device``, or one of them."""
    if not caller.roles & allowed:
        raise Forbidden(needs_device + (f" or the role {_roles(allowed)}" if allowed else ""))


def check_device(caller: Principal, device_id: str, *, admin_roles: Iterable[Role] = ()) -> None:
    """``caller`` is the device ``device_id``, or an administrator with one of ``admin_roles``."""
    allowed = set(admin_roles)
    if isinstance(caller, DevicePrincipal):
        if caller.device_id != device_id:
            raise Forbidden(f"the token is for device {caller.device_id}, not device {device_id}")
        return
    _check_admin(caller, allowed, f"device {device_id}'s data needs that device's token")


def check_user(caller: Principal, user_id: str, *, admin_roles: Iterable[Role] = ()) -> None:
    """``caller`` is a device on which ``user_id`` is signed in, or an administrator with one of
    ``admin_roles``."""
    allowed = set(admin_roles)
    if isinstance(caller, DevicePrincipal):
        if caller.user_id is None:
            raise Forbidden(
                f"user {user_id}'s data needs a token of a device they are signed in on; "
                f"nobody is signed in on device {caller.device_id}"
            )
        if caller.user_id != user_id:
            raise Forbidden(f"the token is for user {caller.user_id}, not user {user_id}")
        return
    _check_admin(caller, allowed, f"user {user_id}'s data needs the token of a device they are signed in on")


def check_region(caller: Principal, region: str) -> None:
    """A device acts only in its own region (where its data lives)."""
    if isinstance(caller, DevicePrincipal) and caller.region != region:
        raise Forbidden(f"the token is for region {caller.region}, not region {region}")
