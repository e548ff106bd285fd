"""One call gives a service its broker, its subscriptions and its lifecycle.

    service = Service("assistant")

    @service.consumer(QueryReceived)
    async def on_query(event: QueryReceived, ctx: HandlerContext) -> None:
        await ctx.publish(draft_answer(event))

Every subscription follows the delivery rules (docs/architecture.md): the consumer group is the
service name, the consumer name is the stable replica id, reads are capped at ``max_records``, the
group is created from id 0 before anything is read, entries are acknowledged only after the handler
succeeds, a reclaimer beside each reader takes over entries a dead replica left pending, and an event
that does not validate or keeps failing is moved to ``<stream>.dlq`` with the reason.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import uuid4

import structlog
from faststream.asgi import AsgiFastStream
from faststream.asgi.types import ASGIApp
from faststream.redis import RedisBroker, StreamSub
from faststream.redis.annotations import RedisStreamMessage
from faststream.redis.prometheus import RedisPrometheusMiddleware
from prometheus_client import REGISTRY, CollectorRegistry, Counter
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from lingxi.events.base import Event
from lingxi.events.registry import dead_letter_stream
from lingxi.logging import configure_logging, get_logger
from lingxi.runtime.envelope import JsonEnvelopeFormat
from lingxi.runtime.middleware import entry_id, handling_middleware
from lingxi.runtime.probes import probe_routes
from lingxi.runtime.settings import ServiceSettings

E = TypeVar("E", bound=Event)
Handler = Callable[[E, "HandlerContext"], Awaitable[None]]

EVENTS_HANDLED = Counter(
    "lingxi_events_handled_total",
    "Events taken from a stream, by outcome (ok, duplicate, retry, dead_lettered).",
    ["service", "stream", "outcome"],
)


@dataclass(frozen=True)
class HandlerContext:
    """What a handler may use besides its event: publishing with the right ids, and Redis for stores."""

    service: Service
    correlation_id: str
    cause: Event

    @property
    def redis(self) -> Redis:
        return self.service.redis

    async def publish(self, event: Event) -> None:
        """Publish an event caused by the one being handled (same correlation id)."""
        await self.service.publish(event, correlation_id=self.correlation_id)


class Service:
    """A Lingxi service: settings, logging, Redis, the FastStream broker and its subscriptions."""

    def __init__(
        self,
        name: str,
        settings: ServiceSettings | None = None,
        *,
        registry: CollectorRegistry = REGISTRY,
    ) -> None:
        self.name = name
        self.settings = settings or ServiceSettings()
        configure_logging(
            service=name,
            replica=self.settings.replica,
            log_format=self.settings.log_format,
            level=self.settings.log_level,
        )
        self.log = get_logger("lingxi.runtime")
        self.redis: Redis = Redis.from_url(self.settings.redis_url)
        self.registry = registry
        self.broker = RedisBroker(
            self.settings.redis_url,
            message_format=JsonEnvelopeFormat,
            graceful_timeout=self.settings.graceful_timeout_s,
            middlewares=[
                RedisPrometheusMiddleware(registry=registry, app_name=name),
                handling_middleware(name, self.settings.replica),
            ],
            logger=logging.getLogger("faststream.redis"),
        )
        self.streams: list[str] = []
        self.started = False

    # --- subscriptions -------------------------------------------------------------------------

    def consumer(self, event_type: type[E]) -> Callable[[Handler[E]], Handler[E]]:
        """Subscribe ``handler`` to ``event_type``'s stream with a reader and a reclaimer."""

        def register(handler: Handler[E]) -> Handler[E]:
            stream = event_type.stream
            if stream in self.streams:
                raise ValueError(f"{self.name} already consumes {stream}")
            self.streams.append(stream)

            async def consume(message: RedisStreamMessage) -> None:
                await self._deliver(event_type, handler, message)

            group, consumer = self.name, self.settings.replica
            reader = StreamSub(
                stream,
                group=group,
                consumer=consumer,
                max_records=self.settings.max_records,
                polling_interval=self.settings.block_ms,
            )
            reclaimer = StreamSub(
                stream,
                group=group,
                consumer=consumer,
                min_idle_time=self.settings.reclaim_idle_ms,
                polling_interval=self.settings.reclaim_poll_ms,
            )
            self.broker.subscriber(stream=reclaimer, title=f"{stream}:{group}:reclaim")(
                self.broker.subscriber(stream=reader, title=f"{stream}:{group}:read")(consume)
            )
            return handler

        return register

    async def _deliver(self, event_type: type[E], handler: Handler[E], message: RedisStreamMessage) -> None:
        try:
            event = event_type.model_validate_json(message.body)
        except ValidationError as error:
            await self.dead_letter(message, reason="invalid_event", error=_validation_summary(error))
            self._outcome(message, "dead_lettered")
            return
        structlog.contextvars.bind_contextvars(event_id=str(event.event_id))
        processed_key = f"lingxi:processed:{self.name}:{event.event_id}"
        if await self.redis.exists(processed_key):
            self._outcome(message, "duplicate")
            return
        correlation_id = message.correlation_id or str(event.event_id)
        try:
            await handler(event, HandlerContext(self, correlation_id, event))
        except Exception as error:
            attempts = await message.get_delivery_count()
            if attempts < self.settings.max_deliveries:
                self._outcome(message, "retry")
                structlog.contextvars.bind_contextvars(attempts=attempts)
                raise
            await self.dead_letter(message, reason="handler_failed", error=repr(error), attempts=attempts)
            self._outcome(message, "dead_lettered")
            self.log.error("handler failed for good", exc_info=error, attempts=attempts)
            return
        await self.redis.set(processed_key, 1, ex=self.settings.processed_ttl_s)
        self._outcome(message, "ok")

    def _outcome(self, message: RedisStreamMessage, outcome: str) -> None:
        structlog.contextvars.bind_contextvars(outcome=outcome)
        EVENTS_HANDLED.labels(self.name, message.raw_message["channel"], outcome).inc()

    async def dead_letter(
        self, message: RedisStreamMessage, *, reason: str, error: str, attempts: int | None = None
    ) -> str:
        """Move an entry to its stream's dead-letter stream, keeping the original fields for replay."""
        stream = message.raw_message["channel"]
        original_id = entry_id(message.raw_message) or ""
        original = message.raw_message["data"]
        fields: dict[str, str] = {
            (k.decode() if isinstance(k, bytes) else str(k)): (
                v.decode(errors="replace") if isinstance(v, bytes) else str(v)
            )
            for k, v in original.items()
        }
        record = {
            **fields,
            "dlq.reason": reason,
            "dlq.error": error[:2000],
            "dlq.attempts": str(attempts if attempts is not None else await message.get_delivery_count()),
            "dlq.original_id": original_id,
            "dlq.stream": stream,
            "dlq.service": self.name,
            "dlq.replica": self.settings.replica,
            "dlq.failed_at": datetime.now(UTC).isoformat(),
        }
        raw_id = await self.redis.xadd(dead_letter_stream(stream), record)  # type: ignore[arg-type]
        dlq_id = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
        self.log.warning("event dead-lettered", reason=reason, error=error[:500], dlq_id=dlq_id)
        return dlq_id

    # --- publishing ---------------------------------------------------------------------------

    async def publish(self, event: Event, *, correlation_id: str | None = None) -> str:
        """Publish ``event`` on its stream; returns the correlation id used."""
        correlation = correlation_id or str(uuid4())
        await self.broker.publish(event.to_json_dict(), stream=event.stream, correlation_id=correlation)
        return correlation

    # --- lifecycle ----------------------------------------------------------------------------

    async def ensure_groups(self) -> None:
        """Create this service's group on each stream from id 0, so nothing published earlier is skipped."""
        for stream in self.streams:
            try:
                await self.redis.xgroup_create(stream, self.name, id="0", mkstream=True)
                self.log.info("consumer group created", stream=stream, group=self.name)
            except ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise

    async def start(self) -> None:
        await self.ensure_groups()
        await self.broker.start()
        self.started = True
        self.log.info("service started", streams=self.streams, redis=_safe_url(self.settings.redis_url))

    async def stop(self) -> None:
        self.started = False
        await self.broker.stop()
        await self.redis.aclose()
        self.log.info("service stopped")

    async def readiness(self) -> dict[str, Any]:
        """What /readyz reports: Redis reachable and every subscriber running."""
        try:
            redis_ok = bool(await self.redis.ping())
        except Exception:
            redis_ok = False
        return {"ready": redis_ok and self.started, "redis": redis_ok, "consuming": self.started}

    def asgi(self, routes: Sequence[tuple[str, ASGIApp]] = ()) -> AsgiFastStream:
        """The ASGI app of a worker service: the broker plus /healthz, /readyz and /metrics."""
        return AsgiFastStream(
            self.broker,
            asgi_routes=[*probe_routes(self), *routes],
            on_startup=[self.ensure_groups],
            after_startup=[self._mark_started],
            on_shutdown=[self._mark_stopped],
            logger=None,
        )

    async def _mark_started(self) -> None:
        self.started = True
        self.log.info("service started", streams=self.streams, redis=_safe_url(self.settings.redis_url))

    async def _mark_stopped(self) -> None:
        self.started = False


def _validation_summary(error: ValidationError) -> str:
    parts: Iterable[str] = (
        f"{'.'.join(str(p) for p in e['loc']) or '<event>'}: {e['msg']}" for e in error.errors()
    )
    return json.dumps(list(parts), ensure_ascii=False)


def _safe_url(url: str) -> str:
    """The Redis URL without a password, for logs."""
    if "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://***@{rest.split('@', 1)[1]}"
