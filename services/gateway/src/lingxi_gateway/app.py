"""Gateway wiring: the device HTTP API, and the results coming back from compliance."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from limits.aio.storage import RedisStorage
from lingxi import tracing
from lingxi.events import (
    AnswerBlocked,
    AnswerReleased,
    ConsentChanged,
    ErasureCompleted,
    ErasureRequested,
    FeatureChangeRequested,
    PurchaseRecorded,
    QueryReceived,
    TelemetryBatchReceived,
)
from lingxi.events.assistant import ASSISTANT_FEATURE
from lingxi.events.vision import (
    VISION_FEATURE,
    AnalysisBlocked,
    AnalysisFailed,
    AnalysisReleased,
    ImageReceived,
    image_key,
)
from lingxi.features import FeatureRegistryView
from lingxi.images import ImageRejected, inspect_image
from lingxi.logging import get_logger
from lingxi.runtime import HandlerContext, Service
from lingxi.runtime.probes import probe_routes
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError
from starlette.routing import Route

from lingxi_gateway.access import AccessLog
from lingxi_gateway.admin import admin_router
from lingxi_gateway.api import (
    COMMON_RESPONSES,
    MAX_BODY_BYTES,
    MAX_WAIT_S,
    AssistantQuery,
    FeatureNotApproved,
    RequestState,
    body_error,
    device_view,
)
from lingxi_gateway.asyncapi import asyncapi_router
from lingxi_gateway.devices import MAX_TELEMETRY_BODY_BYTES, TELEMETRY_PATH, devices_router
from lingxi_gateway.erasure import ErasureLedger, register_erasure
from lingxi_gateway.limits import BodyLimit
from lingxi_gateway.ratelimits import KEY_PREFIX as RATE_KEY_PREFIX
from lingxi_gateway.ratelimits import RateLimiter, RateLimitSettings
from lingxi_gateway.results import Completion, RequestStatus, ResultStore, ResultWaiter
from lingxi_gateway.security import (
    EXCEPTION_HANDLERS,
    DeviceCaller,
    check_device,
    check_region,
    check_user,
    guard,
)
from lingxi_gateway.uploads import (
    MAX_UPLOAD_BODY_BYTES,
    REQUEST_BODY_DOC,
    check_declared_type,
    read_upload,
    rejection,
)
from lingxi_gateway.users import users_router


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LINGXI_GATEWAY_", extra="ignore")

    result_ttl_s: int = 24 * 3600
    image_ttl_s: int = Field(
        default=600,
        ge=1,
        le=24 * 3600,
        description="How long an uploaded image is kept for vision to read; nothing of it outlives this.",
    )


service = Service("gateway")
PUBLISHES = (
    QueryReceived,
    ImageReceived,
    TelemetryBatchReceived,
    ConsentChanged,
    PurchaseRecorded,
    ErasureRequested,
    ErasureCompleted,
    FeatureChangeRequested,
)
"""What this service publishes: its send operations in docs/asyncapi.json (docs/asyncapi.md)."""
service.publishes(*PUBLISHES)
settings = GatewaySettings()
rate_settings = RateLimitSettings()
results = ResultStore(service.redis, ttl_s=settings.result_ttl_s)
waiter = ResultWaiter(service.redis)
approvals = FeatureRegistryView(service.redis)
erasures = ErasureLedger(service.redis)


async def forget_rate_counts(user_id: str) -> None:
    if guard.limiter is not None:
        await guard.limiter.forget_user(user_id)


register_erasure(service, results, erasures, forget_rate_counts)
access_log = get_logger("lingxi.gateway.http")


Result = AnswerReleased | AnswerBlocked | AnalysisReleased | AnalysisBlocked | AnalysisFailed

RESULTS: list[tuple[type[Result], str, RequestStatus]] = [
    (AnswerReleased, "assistant", "released"),
    (AnswerBlocked, "assistant", "blocked"),
    (AnalysisReleased, "vision", "released"),
    (AnalysisBlocked, "vision", "blocked"),
    (AnalysisFailed, "vision", "failed"),
]
"""Every result a request can end with: its event, the request's kind and the status it gives."""


def _result_store(kind: str, status: RequestStatus) -> Callable[..., Awaitable[None]]:
    async def store(events: Sequence[Result], ctx: HandlerContext) -> None:
        await results.complete(
            [Completion(e.request_id, kind, status, device_view(e), e.device_id) for e in events]
        )

    return store


# Results are consumed in batches: one round trip stores a whole read and wakes its waiters.
for result_type, result_kind, result_status in RESULTS:
    service.consumer(result_type, batch=True)(_result_store(result_kind, result_status))


@contextlib.asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    keys = guard.load()  # first: without keys the gateway would refuse every request
    access_log.info("token keys loaded", key_ids=list(keys.kids))
    # The limiter shares the service's connections (and so its Redis user and TLS settings).
    storage = RedisStorage(
        service.redis_url,
        implementation="redispy",
        key_prefix=RATE_KEY_PREFIX,
        connection_pool=service.redis.connection_pool,  # type: ignore[arg-type]  # typed too narrowly
    )
    guard.limiter = RateLimiter(rate_settings, storage)
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
app.add_middleware(
    BodyLimit,
    max_bytes=MAX_BODY_BYTES,
    per_path={"/v1/vision/analyses": MAX_UPLOAD_BODY_BYTES, TELEMETRY_PATH: MAX_TELEMETRY_BODY_BYTES},
)
app.add_middleware(AccessLog)
if tracing.enabled():
    # Outermost: a server span per request (a device's traceparent its parent), so the events the
    # request publishes, and every hop after them, are in its trace.
    app.add_middleware(OpenTelemetryMiddleware, exclude_spans=["receive", "send"])
for path, probe in probe_routes(service):
    app.router.routes.append(Route(path, probe, methods=["GET"], include_in_schema=False))
app.include_router(admin_router(service.redis, approvals))
app.include_router(devices_router(service, approvals))
app.include_router(users_router(service, approvals, erasures))
app.include_router(asyncapi_router())
for refusal, answer in EXCEPTION_HANDLERS.items():
    app.add_exception_handler(refusal, answer)


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
    responses={
        **COMMON_RESPONSES,
        200: {"model": RequestState, "description": "The result, when it came within the wait."},
        451: {"description": "The assistant is not approved in the request's region."},
    },
)
async def submit_query(
    body: AssistantQuery,
    caller: DeviceCaller,
    response: Response,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT_S, description="Seconds to wait for the result.")] = 0,
) -> RequestState:
    check_device(caller, body.device_id)
    check_region(caller, body.region.value)
    if body.user_id is not None:
        check_user(caller, body.user_id)
    standing = await approvals.check(ASSISTANT_FEATURE, body.region.value)
    if not standing.approved:
        raise FeatureNotApproved(standing)
    request_id = uuid4()
    try:
        event = QueryReceived(
            region=body.region,
            request_id=request_id,
            device_id=body.device_id,
            user_id=body.user_id if body.user_id is not None else caller.user_id,
            text=body.text,
            locale=body.locale,
            timezone=body.timezone,
        )
    except ValidationError as error:
        raise body_error(error) from error
    return await _submit(event, "assistant", wait, response)


@app.post(
    "/v1/vision/analyses",
    response_model=RequestState,
    status_code=202,
    openapi_extra={"requestBody": REQUEST_BODY_DOC},
    responses={
        **COMMON_RESPONSES,
        200: {"model": RequestState, "description": "The result, when it came within the wait."},
        413: {"description": "The image (or the body) is larger than the limit."},
        415: {"description": "Not a supported image format, or not the format the file was sent as."},
        422: {"description": "A bad field, or an image that cannot be read (truncated, a bomb, no pixels)."},
        451: {"description": "Vision is not approved in the request's region."},
    },
)
async def submit_image(
    request: Request,
    caller: DeviceCaller,
    response: Response,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT_S, description="Seconds to wait for the result.")] = 0,
) -> RequestState:
    """Analyse an image: text (OCR), labels, faces and objects. Send it as a multipart form (``file``
    plus ``locale``, ``device_id``, ``region`` and optionally ``tasks``, comma-separated) or as JSON
    with ``image_base64``. The image is checked from its bytes before anything is published."""
    upload = await read_upload(request)
    check_device(caller, upload.device_id)
    check_region(caller, upload.region.value)
    standing = await approvals.check(VISION_FEATURE, upload.region.value)
    if not standing.approved:
        raise FeatureNotApproved(standing)
    try:
        # Decoding a big image takes tens of milliseconds: off the event loop.
        image = await asyncio.to_thread(inspect_image, upload.data)
    except ImageRejected as rejected:
        raise rejection(rejected) from rejected
    check_declared_type(upload, image)
    reference = hashlib.sha256(upload.data).hexdigest()
    try:
        event = ImageReceived(
            region=upload.region,
            request_id=uuid4(),
            device_id=upload.device_id,
            image_ref=reference,
            content_type=image.content_type,
            size_bytes=len(upload.data),
            width=image.width,
            height=image.height,
            tasks=upload.tasks,
            locale=upload.locale,
        )
    except ValidationError as error:
        raise body_error(error) from error

    def store_image(pipe: Pipeline) -> None:
        pipe.set(image_key(reference), upload.data, ex=settings.image_ttl_s)

    return await _submit(event, "vision", wait, response, before=store_image)


async def _submit(
    event: QueryReceived | ImageReceived,
    kind: str,
    wait: float,
    response: Response,
    *,
    before: Callable[[Pipeline], None] | None = None,
) -> RequestState:
    """Publish a request's event beside its pending record and, if asked, wait for its result: 200 with
    the result when it came in time, else 202 with where to look."""
    request_id = event.request_id
    response.headers["X-Request-Id"] = str(request_id)  # the access log line carries it too
    record: dict[str, Any] | None = None
    with waiter.expecting(request_id) as done:
        # One round trip: what the event refers to, the pending record, then the event that may complete it.
        async with service.redis.pipeline(transaction=False) as pipe:
            if before is not None:
                before(pipe)
            results.stage_pending(pipe, request_id, kind, event.device_id)
            service.stage_publish(pipe, event, correlation_id=str(request_id))
            await pipe.execute()
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                record = await asyncio.wait_for(done, timeout=wait)
    if record is None:  # not finished in time (or shutting down): what the store says now
        record = await results.get(request_id)
    state = _state(record or {"request_id": str(request_id), "status": "pending", "kind": kind})
    if state.status == "pending":
        response.headers["Location"] = state.links["self"]
    else:
        response.status_code = 200
    return state


@app.get(
    "/v1/requests/{request_id}",
    response_model=RequestState,
    responses={**COMMON_RESPONSES, 404: {"description": "No such request of the calling device."}},
)
async def get_request(request_id: UUID, caller: DeviceCaller) -> RequestState:
    """Where one of the calling device's requests stands. Another device's request is answered as
    unknown: a request id says nothing about whether it exists."""
    record = await results.get(request_id)
    if record is None or record.get("device_id") != caller.device_id:
        raise HTTPException(status_code=404, detail=f"no request {request_id} (unknown or expired)")
    return _state(record)
