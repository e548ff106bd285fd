"""Gateway wiring: the device HTTP API, and the results coming back from compliance."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from lingxi.events import AnswerBlocked, AnswerReleased, QueryReceived
from lingxi.events.assistant import ASSISTANT_FEATURE
from lingxi.features import FeatureRegistryView
from lingxi.logging import get_logger
from lingxi.runtime import HandlerContext, Service
from lingxi.runtime.probes import probe_routes
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from redis.exceptions import RedisError
from starlette.routing import Route

from lingxi_gateway.access import AccessLog
from lingxi_gateway.admin import admin_router
from lingxi_gateway.api import (
    MAX_BODY_BYTES,
    MAX_WAIT_S,
    AssistantQuery,
    FeatureNotApproved,
    RequestState,
    body_error,
    device_view,
)
from lingxi_gateway.limits import BodyLimit
from lingxi_gateway.results import Completion, ResultStore, ResultWaiter


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LINGXI_GATEWAY_", extra="ignore")

    result_ttl_s: int = 24 * 3600


service = Service("gateway")
settings = GatewaySettings()
results = ResultStore(service.redis, ttl_s=settings.result_ttl_s)
waiter = ResultWaiter(service.redis)
approvals = FeatureRegistryView(service.redis)
access_log = get_logger("lingxi.gateway.http")


# Results are consumed in batches: one round trip stores a whole read and wakes its waiters.
@service.consumer(AnswerReleased, batch=True)
async def on_answers_released(answers: Sequence[AnswerReleased], ctx: HandlerContext) -> None:
    await results.complete(
        [Completion(a.request_id, "assistant", "released", device_view(a)) for a in answers]
    )


@service.consumer(AnswerBlocked, batch=True)
async def on_answers_blocked(answers: Sequence[AnswerBlocked], ctx: HandlerContext) -> None:
    await results.complete(
        [Completion(a.request_id, "assistant", "blocked", device_view(a)) for a in answers]
    )


@contextlib.asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    await approvals.start()
    await waiter.start()
    await service.start()
    try:
        yield
    finally:
        await waiter.stop()
        await approvals.stop()
        await service.stop()


app = FastAPI(title="Lingxi gateway", version="0.1.0", lifespan=lifespan)
app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
app.add_middleware(AccessLog)
for path, probe in probe_routes(service):
    app.router.routes.append(Route(path, probe, methods=["GET"], include_in_schema=False))
app.include_router(admin_router(service.redis, approvals))


@app.exception_handler(FeatureNotApproved)
async def feature_not_approved(request: Request, refusal: FeatureNotApproved) -> Response:
    return JSONResponse(status_code=451, content=refusal.body())


@app.exception_handler(RedisError)
async def redis_unavailable(request: Request, error: RedisError) -> Response:
    """Redis down or every connection busy: tell the device to come back, never a bare 500."""
    access_log.warning("redis unavailable", error=type(error).__name__, path=request.url.path)
    return JSONResponse(
        status_code=503,
        content={"detail": "the service is busy or its store is unreachable; retry shortly"},
        headers={"Retry-After": "1"},
    )


def _state(record: dict[str, Any]) -> RequestState:
    return RequestState(
        request_id=record["request_id"],
        status=record["status"],
        kind=record.get("kind", "unknown"),
        result=record.get("result"),
        links={"self": f"/v1/requests/{record['request_id']}"},
    )


@app.post(
    "/v1/assistant/queries",
    response_model=RequestState,
    status_code=202,
    responses={451: {"description": "The assistant is not approved in the request's region."}},
)
async def submit_query(
    body: AssistantQuery,
    response: Response,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT_S, description="Seconds to wait for the result.")] = 0,
) -> RequestState:
    standing = await approvals.check(ASSISTANT_FEATURE, body.region.value)
    if not standing.approved:
        raise FeatureNotApproved(standing)
    request_id = uuid4()
    try:
        event = QueryReceived(
            region=body.region,
            request_id=request_id,
            device_id=body.device_id,
            user_id=body.user_id,
            text=body.text,
            locale=body.locale,
            timezone=body.timezone,
        )
    except ValidationError as error:
        raise body_error(error) from error
    record: dict[str, Any] | None = None
    with waiter.expecting(request_id) as done:
        # One round trip: the pending record, then the event that may complete it.
        async with service.redis.pipeline(transaction=False) as pipe:
            results.stage_pending(pipe, request_id, "assistant")
            service.stage_publish(pipe, event, correlation_id=str(request_id))
            await pipe.execute()
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                record = await asyncio.wait_for(done, timeout=wait)
    if record is None:  # not finished in time (or shutting down): what the store says now
        record = await results.get(request_id)
    state = _state(record or {"request_id": str(request_id), "status": "pending", "kind": "assistant"})
    if state.status == "pending":
        response.headers["Location"] = state.links["self"]
    else:
        response.status_code = 200
    return state


@app.get("/v1/requests/{request_id}", response_model=RequestState)
async def get_request(request_id: UUID) -> RequestState:
    record = await results.get(request_id)
    if record is None:
        raise HTTPException(status_code=404, detail=f"no request {request_id} (unknown or expired)")
    return _state(record)
