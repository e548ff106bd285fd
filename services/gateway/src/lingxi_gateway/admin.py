"""The admin API for feature approvals: read the registry, ask compliance for a change.

The gateway never writes the registry: a change is a ``FeatureChangeRequested`` event that compliance
decides on, records, audits and announces. The gateway reads the outcome compliance stores for it.
Every administrator reads the registry; only a ``compliance_officer`` asks for a change, and the
change's ``requested_by`` is the name in their token.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Response
from lingxi.events import Region
from lingxi.events.compliance import FeatureChangeOutcome, FeatureChangeRequested, FeatureStatus
from lingxi.features import FeatureRegistryView, request_change, summaries, wait_for_outcome
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from redis.asyncio import Redis

from lingxi_gateway.api import COMMON_RESPONSES, MAX_WAIT_S, body_error
from lingxi_gateway.security import ANY_ADMIN, ComplianceOfficer, Forbidden


class ScheduledChange(BaseModel):
    status: FeatureStatus
    effective_at: datetime
    filing_number: str | None


class FeatureView(BaseModel):
    """A feature in one region: its status now and the changes scheduled ahead."""

    feature: str
    region: Region
    status: FeatureStatus | Literal["not_filed"]
    filing_number: str | None
    since: datetime | None = Field(description="When the current status took effect.")
    scheduled: list[ScheduledChange]


class FeatureChangeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    feature: str = Field(examples=["assistant"])
    region: Region = Field(examples=["CN"])
    status: FeatureStatus = Field(examples=["approved"])
    filing_number: str | None = Field(default=None, examples=["Beijing-Lingxi-202611250001"])
    effective_at: AwareDatetime | None = Field(
        default=None, description="When the change takes effect (default: now)."
    )
    note: str | None = Field(default=None, examples=["filing approved on 2026-11-24"])
    requested_by: str | None = Field(
        default=None,
        examples=["admin:li.wei"],
        description="Who asks: always ``admin:<name>`` of the token; when given it must be that.",
    )


class ChangeState(BaseModel):
    request_id: UUID
    outcome: Literal["pending", "applied", "rejected"]
    reason: str | None = None
    links: dict[str, str]


def _state(request_id: UUID, outcome: FeatureChangeOutcome | None) -> ChangeState:
    return ChangeState(
        request_id=request_id,
        outcome=outcome.outcome if outcome else "pending",
        reason=outcome.reason if outcome else None,
        links={"self": f"/v1/admin/features/changes/{request_id}"},
    )


def admin_router(redis: Redis, approvals: FeatureRegistryView) -> APIRouter:
    router = APIRouter(prefix="/v1/admin/features", tags=["admin"], responses=COMMON_RESPONSES)
    any_admin = [ANY_ADMIN]

    @router.get("", response_model=list[FeatureView], dependencies=any_admin)
    async def list_features(region: Region | None = None) -> list[FeatureView]:
        await approvals.refresh()
        rows = summaries(approvals.records.values(), datetime.now(UTC), region.value if region else None)
        return [FeatureView.model_validate(row) for row in rows]

    @router.post(
        "/changes",
        response_model=ChangeState,
        status_code=202,
        responses={
            200: {"model": ChangeState, "description": "Compliance applied the change within the wait."},
            409: {"model": ChangeState, "description": "Compliance rejected the change (reason given)."},
        },
    )
    async def request_feature_change(
        body: FeatureChangeBody,
        caller: ComplianceOfficer,
        response: Response,
        wait: Annotated[float, Query(ge=0, le=MAX_WAIT_S, description="Seconds to wait for compliance.")] = 0,
    ) -> ChangeState:
        requested_by = f"admin:{caller.name}"
        if body.requested_by is not None and body.requested_by != requested_by:
            raise Forbidden(f"requested_by is {body.requested_by!r} but the token is for {requested_by!r}")
        try:
            request = FeatureChangeRequested(
                region=body.region,
                feature=body.feature,
                status=body.status,
                filing_number=body.filing_number,
                effective_at=body.effective_at or datetime.now(UTC),
                requested_by=requested_by,
                note=body.note,
            )
        except ValidationError as error:
            raise body_error(error) from error
        outcome = await request_change(redis, request, wait_s=wait)
        state = _state(request.event_id, outcome)
        if outcome is None:
            response.headers["Location"] = state.links["self"]
        elif outcome.outcome == "applied":
            response.status_code = 200
        else:
            response.status_code = 409
        return state

    @router.get(
        "/changes/{request_id}",
        response_model=ChangeState,
        dependencies=any_admin,
        responses={404: {"description": "No outcome yet (pending, unknown or expired)."}},
    )
    async def get_feature_change(request_id: UUID) -> ChangeState:
        outcome = await wait_for_outcome(redis, request_id, wait_s=0)
        if outcome is None:
            raise HTTPException(
                status_code=404, detail=f"no outcome for {request_id} yet (pending, unknown or expired)"
            )
        return _state(request_id, outcome)

    return router
