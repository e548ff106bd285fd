"""The personalisation API: a user's consent, their purchases in, their recommendations out.

``PUT /v1/users/{id}/consent`` publishes ``ConsentChanged`` (the complete set of scopes granted from now
on: purchase and payment data are separate, sensitive consents under PIPL); ``POST
/v1/users/{id}/purchases`` publishes ``PurchaseRecorded`` (personalization drops it unread unless the user
granted ``purchase_data``); ``GET /v1/users/{id}/recommendations`` returns the list personalization keeps
for the user (``user_recommendations_key``), or the regional non-personalised list when it keeps none.
Every route needs the ``personalization`` feature approved in the region (451 otherwise), except
erasure, which never waits on a feature.

Who may call: a device token on which the user is signed in (``uid``) acts for that user, in its own
region (the default when a body or query leaves ``region`` out), always as ``user``. A
``compliance_officer`` may change a user's consent and erase a user (as ``admin`` or ``system``) and
follow the erasure; nobody else reads a user's purchases or recommendations.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from lingxi.auth import DevicePrincipal, Principal, Role
from lingxi.events import Region
from lingxi.events._values import Initiator
from lingxi.events.personalization import (
    MAX_PURCHASE_CLOCK_SKEW,
    PERSONALIZATION_FEATURE,
    REGIONAL_RECOMMENDATIONS_KEY,
    ConsentChanged,
    ConsentScope,
    PurchaseRecorded,
    user_recommendations_key,
)
from lingxi.events.user import ErasureRequested
from lingxi.features import FeatureRegistryView
from lingxi.logging import get_logger
from lingxi.runtime import Service
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lingxi_gateway.api import COMMON_RESPONSES, FeatureNotApproved, body_error
from lingxi_gateway.erasure import ErasureLedger
from lingxi_gateway.security import Caller, Forbidden, check_region, check_user, who

_log = get_logger("lingxi.gateway.users")

_SET_BY_GATEWAY = frozenset(
    {"event_id", "occurred_at", "schema_version", "causation_id", "user_id", "region"}
)
_SET_BY_GATEWAY_MSG = (
    "set by the gateway (user_id from the path, region beside purchase), not in the purchase"
)

_REGION_DOC = "Default: the device token's region (CN for an administrator)."
_OFFICER = (Role.COMPLIANCE_OFFICER,)

UserIdPath = Annotated[
    str,
    Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$", description="Lingxi account id."),
]


class ConsentUpdate(BaseModel):
    """The scopes the user grants from now on (all of them: a scope left out is withdrawn)."""

    model_config = ConfigDict(extra="forbid")

    region: Region | None = Field(default=None, examples=["CN"], description=_REGION_DOC)
    granted_scopes: list[ConsentScope] = Field(
        max_length=len(ConsentScope), examples=[["personalisation", "purchase_data"]]
    )
    changed_by: Initiator = Field(default=Initiator.USER, examples=["user"])


class Accepted(BaseModel):
    event_id: str = Field(description="The event published.")


class PurchaseUpload(BaseModel):
    """One purchase, as a shopping or payment app reports it."""

    model_config = ConfigDict(extra="forbid")

    region: Region | None = Field(default=None, examples=["CN"], description=_REGION_DOC)
    purchase: dict[str, Any] = Field(
        description="The PurchaseRecorded fields other than user_id and region: purchase_id, merchant, "
        "category, amount_minor, currency, channel, purchased_at, city.",
        examples=[
            {
                "purchase_id": "alipay-2026112422001400000042",
                "merchant": "瑞幸咖啡",
                "category": "coffee",
                "amount_minor": 1890,
                "channel": "alipay",
                "purchased_at": "2026-11-24T01:12:00Z",
                "city": "上海",
            }
        ],
    )


class ErasureAccepted(BaseModel):
    event_id: str = Field(description="The ErasureRequested published.")
    status: str = Field(description="Where to follow it.", examples=["/v1/users/u-42/erasure"])


def region_for(caller: Principal, given: Region | None) -> Region:
    """The region a request acts in: as given (a device only in its own), else the device's."""
    if given is not None:
        check_region(caller, given.value)
        return given
    if isinstance(caller, DevicePrincipal):
        try:
            return Region(caller.region)
        except ValueError:
            raise Forbidden(f"the token's region {caller.region} is not one Lingxi serves") from None
    return Region.CN


def check_initiator(caller: Principal, initiator: Initiator) -> None:
    """A device acts as the user; an administrator as admin or system, never as the user."""
    as_device = isinstance(caller, DevicePrincipal)
    if as_device != (initiator is Initiator.USER):
        allowed = "user" if as_device else "admin or system"
        raise Forbidden(f"{who(caller)} acts as {allowed}, not as {initiator.value}")


def users_router(service: Service, approvals: FeatureRegistryView, ledger: ErasureLedger) -> APIRouter:
    router = APIRouter(tags=["users"], responses=COMMON_RESPONSES)

    async def require_approval(region: Region) -> None:
        standing = await approvals.check(PERSONALIZATION_FEATURE, region.value)
        if not standing.approved:
            raise FeatureNotApproved(standing)

    @router.put(
        "/v1/users/{user_id}/consent",
        response_model=Accepted,
        status_code=202,
        responses={451: {"description": "Personalization is not approved in the region."}},
    )
    async def set_consent(user_id: UserIdPath, body: ConsentUpdate, caller: Caller) -> Accepted:
        """Set the scopes the user grants (withdrawing a scope deletes what was derived from it)."""
        check_user(caller, user_id, admin_roles=_OFFICER)
        check_initiator(caller, body.changed_by)
        region = region_for(caller, body.region)
        await require_approval(region)
        try:
            event = ConsentChanged(
                region=region,
                user_id=user_id,
                granted_scopes=body.granted_scopes,
                changed_by=body.changed_by,
            )
        except ValidationError as error:  # e.g. a scope named twice
            raise body_error(error) from error
        await service.publish(event, correlation_id=str(event.event_id))
        return Accepted(event_id=str(event.event_id))

    @router.post(
        "/v1/users/{user_id}/purchases",
        response_model=Accepted,
        status_code=202,
        responses={
            422: {"description": "The purchase is malformed (the body names each field and why)."},
            451: {"description": "Personalization is not approved in the region."},
        },
    )
    async def record_purchase(user_id: UserIdPath, body: PurchaseUpload, caller: Caller) -> Accepted:
        """Record a purchase; it is used only while the user grants ``purchase_data``."""
        check_user(caller, user_id)
        region = region_for(caller, body.region)
        await require_approval(region)
        owned = sorted(set(body.purchase) & _SET_BY_GATEWAY)
        if owned:
            raise RequestValidationError(
                [
                    {"type": "extra_forbidden", "loc": ("body", "purchase", k), "msg": _SET_BY_GATEWAY_MSG}
                    for k in owned
                ]
            )
        fields = {**body.purchase, "user_id": user_id, "region": region.value}
        try:
            event = PurchaseRecorded.model_validate_json(orjson.dumps(fields))
        except ValidationError as error:
            raise RequestValidationError(
                [{**e, "loc": ("body", "purchase", *e["loc"])} for e in error.errors(include_url=False)]
            ) from error
        if event.purchased_at > datetime.now(UTC) + MAX_PURCHASE_CLOCK_SKEW:
            raise RequestValidationError(
                [
                    {
                        "type": "value_error",
                        "loc": ("body", "purchase", "purchased_at"),
                        "msg": f"purchased_at {event.purchased_at.isoformat()} is in the future "
                        f"(more than {MAX_PURCHASE_CLOCK_SKEW} ahead of the gateway's clock)",
                    }
                ]
            )
        await service.publish(event, correlation_id=str(event.event_id))
        return Accepted(event_id=str(event.event_id))

    @router.get(
        "/v1/users/{user_id}/recommendations",
        responses={
            451: {"description": "Personalization is not approved in the region."},
            503: {"description": "Personalization has not published any list yet."},
        },
    )
    async def recommendations(
        user_id: UserIdPath,
        caller: Caller,
        region: Annotated[Region | None, Query(description=_REGION_DOC)] = None,
    ) -> JSONResponse:
        """The user's recommendations, best first, each with its reason; the regional non-personalised
        list (``personalised`` false, ``user_id`` null) for a user with none."""
        check_user(caller, user_id)
        await require_approval(region_for(caller, region))
        raw = await service.redis.get(user_recommendations_key(user_id))
        if raw is None:
            raw = await service.redis.get(REGIONAL_RECOMMENDATIONS_KEY)
        if raw is None:
            raise HTTPException(
                status_code=503,
                detail="no recommendations published yet; try again shortly",
                headers={"Retry-After": "5"},
            )
        try:
            return JSONResponse(orjson.loads(raw))
        except orjson.JSONDecodeError as error:
            _log.error("stored recommendations unreadable", user_id=user_id)
            raise HTTPException(
                status_code=500, detail=f"the recommendations of user {user_id} are unreadable"
            ) from error

    @router.delete("/v1/users/{user_id}", response_model=ErasureAccepted, status_code=202)
    async def erase_user(
        user_id: UserIdPath,
        caller: Caller,
        region: Annotated[Region | None, Query(description=_REGION_DOC)] = None,
        requested_by: Annotated[
            Initiator | None,
            Query(description="Default: user for a device token, admin for an administrator."),
        ] = None,
    ) -> ErasureAccepted:
        """Erase everything Lingxi holds about the user (PIPL): every service that holds user data
        deletes it and confirms; follow it at ``/v1/users/{id}/erasure``. Not gated on any feature's
        approval: a user's rights do not depend on a feature running."""
        check_user(caller, user_id, admin_roles=_OFFICER)
        if requested_by is None:
            requested_by = Initiator.USER if isinstance(caller, DevicePrincipal) else Initiator.ADMIN
        check_initiator(caller, requested_by)
        request = ErasureRequested(
            region=region_for(caller, region), user_id=user_id, requested_by=requested_by
        )
        await ledger.open(user_id, request)
        await service.publish(request, correlation_id=str(request.event_id))
        return ErasureAccepted(event_id=str(request.event_id), status=f"/v1/users/{user_id}/erasure")

    @router.get(
        "/v1/users/{user_id}/erasure",
        responses={404: {"description": "No erasure was asked for this user."}},
    )
    async def erasure_status(user_id: UserIdPath, caller: Caller) -> JSONResponse:
        """Which services have confirmed the user's erasure (``complete`` once all have)."""
        check_user(caller, user_id, admin_roles=_OFFICER)
        status = await ledger.status(user_id)
        if status is None:
            raise HTTPException(status_code=404, detail=f"no erasure was asked for user {user_id}")
        return JSONResponse(status)

    return router
