"""The device health API: telemetry in (``POST /v1/telemetry``), a device's health and alerts out.

Each reading of a batch is checked on its own: its fields (``TelemetryReading``), then the edge rules
(a known model, that model's design capacity, a time neither ahead of the gateway's clock nor weeks
old). The accepted readings leave as one ``TelemetryBatchReceived``; each rejected one is answered with
its index and reason, so one bad reading never spoils the batch. Health and alerts are read models
maintenance writes (``device_health_key``, ``device_alerts_key``); the gateway only reads them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from lingxi.auth import DevicePrincipal, Principal, Role
from lingxi.device_health import DeviceHealth, decode_health, health_view
from lingxi.devices import known_models
from lingxi.events import Region
from lingxi.events._values import DeviceId
from lingxi.events.maintenance import (
    MAINTENANCE_FEATURE,
    MAX_CLOCK_SKEW,
    TelemetryBatchReceived,
    TelemetryReading,
    device_alerts_key,
    device_health_key,
)
from lingxi.features import FeatureRegistryView
from lingxi.logging import get_logger
from lingxi.runtime import Service
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from lingxi_gateway.api import COMMON_RESPONSES, FeatureNotApproved
from lingxi_gateway.security import Caller, Forbidden, check_device, check_region, who

TELEMETRY_PATH = "/v1/telemetry"
MAX_READINGS_PER_REQUEST = 500
MAX_TELEMETRY_BODY_BYTES = 1024 * 1024
"""500 readings of JSON are about 250 KB: room to spare, far below anything that hurts."""

MAX_READING_AGE = timedelta(days=30)
"""Older readings say nothing about the device today; maintenance ignores far smaller gaps anyway."""

_MAX_ERRORS_PER_READING = 5
_MAX_ECHOED_CHARS = 40

_log = get_logger("lingxi.gateway.devices")
_device_id = TypeAdapter(DeviceId)


class TelemetryUpload(BaseModel):
    """A batch of health readings: a device's own, or (an operator's upload) any handsets'."""

    model_config = ConfigDict(extra="forbid")

    region: Region = Field(default=Region.CN, examples=["CN"])
    # Kept raw here: each reading is validated on its own, so one bad reading never fails the body.
    readings: list[Any] = Field(
        min_length=1,
        max_length=MAX_READINGS_PER_REQUEST,
        description=f"1 to {MAX_READINGS_PER_REQUEST} readings, each in the TelemetryReading shape.",
    )


class Rejection(BaseModel):
    index: int = Field(description="Position of the reading in the request's ``readings``.")
    device_id: str | None = Field(description="The reading's device id, when it had a valid one.")
    reason: str = Field(examples=["battery_level: must be at most 100 (got 140)"])


class TelemetryAnswer(BaseModel):
    """What became of a batch: how many readings were accepted, and why each other one was not."""

    accepted: int
    rejected: list[Rejection]
    event_id: str | None = Field(description="The TelemetryBatchReceived published; none if none was.")


def _shown(value: Any) -> str | None:
    """A value worth repeating in a reason: a short scalar (readings carry no personal data)."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str) and len(value) <= _MAX_ECHOED_CHARS:
        return repr(value)
    return None


def _reason(error: ErrorDetails) -> str:
    """One pydantic error in plain words: ``battery_level: must be at most 100 (got 140)``."""
    kind, ctx = error["type"], error.get("ctx", {})
    bounds = {
        "less_than_equal": ("must be at most", "le"),
        "greater_than_equal": ("must be at least", "ge"),
        "less_than": ("must be less than", "lt"),
        "greater_than": ("must be greater than", "gt"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        message = f"{words} {_shown(ctx[key])}"
    elif kind == "missing":
        message = "is required"
    elif kind == "extra_forbidden":
        message = "is not a reading field"
    elif kind == "model_type":
        message = "a reading must be a JSON object"
    else:
        message = error["msg"].removeprefix("Value error, ")
    got = _shown(error.get("input")) if kind not in ("missing", "extra_forbidden") else None
    if got is not None and kind != "value_error":
        message = f"{message} (got {got})"
    field = ".".join(str(part) for part in error["loc"])
    return f"{field}: {message}" if field else message


def _edge_problem(reading: TelemetryReading, now: datetime) -> str | None:
    """What the edge rules refuse in a well-formed reading, if anything."""
    model = known_models().get(reading.device_model)
    if model is None:
        return f"device_model: unknown model {reading.device_model!r}"
    if reading.design_capacity_mah != model.design_capacity_mah:
        return (
            f"design_capacity_mah: {model.code} is designed for {model.design_capacity_mah} mAh "
            f"(got {reading.design_capacity_mah})"
        )
    if reading.measured_at > now + MAX_CLOCK_SKEW:
        ahead = (reading.measured_at - now).total_seconds() / 60
        return (
            f"measured_at: {ahead:.0f} minutes ahead of the gateway's clock "
            f"(at most {MAX_CLOCK_SKEW.total_seconds() / 60:.0f} allowed)"
        )
    if reading.measured_at < now - MAX_READING_AGE:
        return f"measured_at: older than {MAX_READING_AGE.days} days"
    return None


def check_readings(
    raw_readings: list[Any], now: datetime, *, device_id: str | None = None
) -> tuple[list[TelemetryReading], list[Rejection]]:
    """Each raw reading checked on its own: the accepted ones in order, and a rejection for each other.
    With ``device_id`` (a device's own upload), a reading of any other device is rejected."""
    accepted: list[TelemetryReading] = []
    rejected: list[Rejection] = []
    for index, raw in enumerate(raw_readings):
        raw_id = raw.get("device_id") if isinstance(raw, dict) else None
        try:
            _device_id.validate_python(raw_id)
        except ValidationError:
            raw_id = None
        try:
            # Strict validation from JSON: a time or an enum as its JSON text, never "76" for 76.
            reading = TelemetryReading.model_validate_json(json.dumps(raw))
        except ValidationError as error:
            errors = error.errors(include_url=False)[:_MAX_ERRORS_PER_READING]
            rejected.append(Rejection(index=index, device_id=raw_id, reason="; ".join(map(_reason, errors))))
            continue
        if device_id is not None and reading.device_id != device_id:
            problem: str | None = f"device_id: the token is for device {device_id}, not this one"
        else:
            problem = _edge_problem(reading, now)
        if problem is None:
            accepted.append(reading)
        else:
            rejected.append(Rejection(index=index, device_id=reading.device_id, reason=problem))
    return accepted, rejected


def _checked_device_id(device_id: str) -> str:
    try:
        return _device_id.validate_python(device_id)
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("path", "device_id")} for e in error.errors(include_url=False)]
        ) from error


def _alert_time(alert: dict[str, Any]) -> datetime:
    try:
        return datetime.fromisoformat(str(alert.get("raised_at"))).astimezone(UTC)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


def _schema(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def devices_router(
    service: Service,
    approvals: FeatureRegistryView,
    *,
    clock: Callable[[], datetime] | None = None,
) -> APIRouter:
    """The telemetry route and a device's health and alerts; ``clock`` (UTC now) judges reading times.
    A device sends and reads its own; an operator sends and reads any device's."""
    router = APIRouter(tags=["devices"], responses=COMMON_RESPONSES)
    now = clock or (lambda: datetime.now(UTC))

    def check_reader(caller: Principal, device_id: str) -> str:
        checked = _checked_device_id(device_id)
        check_device(caller, checked, admin_roles=[Role.OPERATOR])
        return checked

    @router.post(
        TELEMETRY_PATH,
        response_model=TelemetryAnswer,
        status_code=202,
        responses={
            413: {"description": f"The body is larger than {MAX_TELEMETRY_BODY_BYTES} bytes."},
            422: {
                "description": f"A malformed body, more than {MAX_READINGS_PER_REQUEST} readings (the "
                "usual validation errors), or every reading rejected (a TelemetryAnswer saying why for "
                "each; nothing was published).",
                "content": {
                    "application/json": {
                        "schema": {"anyOf": [_schema("TelemetryAnswer"), _schema("HTTPValidationError")]}
                    }
                },
            },
            451: {"description": "Maintenance is not approved in the request's region."},
        },
    )
    async def submit_telemetry(body: TelemetryUpload, caller: Caller) -> Response:
        """Health readings from handsets: each is checked on its own, the accepted ones are published
        as one ``TelemetryBatchReceived`` and each rejected one is named with its reason. A device's
        token sends only its own readings; an operator's sends any device's."""
        own_device: str | None = None
        if isinstance(caller, DevicePrincipal):
            check_region(caller, body.region.value)
            own_device = caller.device_id
        elif Role.OPERATOR not in caller.roles:
            raise Forbidden(
                f"telemetry needs a device token or the role operator; the token is for {who(caller)}"
            )
        standing = await approvals.check(MAINTENANCE_FEATURE, body.region.value)
        if not standing.approved:
            raise FeatureNotApproved(standing)
        accepted, rejected = check_readings(body.readings, now(), device_id=own_device)
        event_id = None
        if accepted:
            event = TelemetryBatchReceived(region=body.region, readings=accepted)
            await service.publish(event, correlation_id=str(event.event_id))
            event_id = str(event.event_id)
        answer = TelemetryAnswer(accepted=len(accepted), rejected=rejected, event_id=event_id)
        return JSONResponse(status_code=202 if accepted else 422, content=answer.model_dump(mode="json"))

    @router.get(
        "/v1/devices/{device_id}/health",
        response_model=DeviceHealth,
        responses={
            404: {"description": "No health summary for the device (no readings yet, or expired)."},
            500: {"description": "The stored health record is unreadable (logged)."},
        },
    )
    async def device_health(device_id: str, caller: Caller) -> Any:
        """The device's health as of its newest reading maintenance assessed: each model's figures
        (null where there is no estimate yet) and the open alerts."""
        raw = await service.redis.get(device_health_key(check_reader(caller, device_id)))
        if raw is None:
            raise HTTPException(
                status_code=404,
                detail=f"no health summary for device {device_id} (no readings received yet, or expired)",
            )
        try:
            record = decode_health(raw)
        except ValueError as error:
            _log.error("health record unreadable", device_id=device_id, error=str(error))
            raise HTTPException(
                status_code=500, detail=f"the health record of device {device_id} is unreadable"
            ) from error
        if isinstance(record, dict):  # a summary an earlier version wrote: shown as it is
            return JSONResponse(record)
        return health_view(device_id, record)

    @router.get("/v1/devices/{device_id}/alerts", response_model=list[dict[str, Any]])
    async def device_alerts(
        device_id: str,
        caller: Caller,
        status: Annotated[
            Literal["open", "cleared", "all"], Query(description="Which alerts: open, cleared or all.")
        ] = "open",
    ) -> list[dict[str, Any]]:
        """The device's alerts, newest first (cleared ones stay until their time to live runs out)."""
        raw = await service.redis.hgetall(device_alerts_key(check_reader(caller, device_id)))
        alerts: list[dict[str, Any]] = []
        for field, value in raw.items():
            alert_id = field.decode() if isinstance(field, bytes) else field
            try:
                alert = json.loads(value)
            except ValueError:
                _log.error("malformed alert ignored", device_id=device_id, alert_id=alert_id)
                continue
            if not isinstance(alert, dict):
                _log.error("malformed alert ignored", device_id=device_id, alert_id=alert_id)
                continue
            if status == "all" or alert.get("status") == status:
                alerts.append({"alert_id": alert_id, **alert})
        alerts.sort(key=_alert_time, reverse=True)
        return alerts

    return router
