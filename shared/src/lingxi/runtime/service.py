"""One call gives a service its broker, its subscriptions and its lifecycle.

    service = Service("assistant")

    @service.consumer(QueryReceived)
    async def on_query(event: QueryReceived, ctx: HandlerContext) -> None:
        await ctx.publish(draft_answer(event))

Every subscription follows the delivery rules (docs/architecture.md): the consumer group is the
service name, the consumer name is the stable replica id, reads are capped at ``max_records``, the
group is created from id 0 before anything is read, a reclaimer beside each reader takes over entries
a dead replica left pending, an event that does not validate or keeps failing is moved to
``<stream>.dlq`` with the reason, and a handler's outputs are committed together with the
acknowledgement, once per event_id (see ``delivery.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from uuid import UUID, uuid4

import structlog
from faststream import AckPolicy
from faststream.asgi import AsgiFastStream
from faststream.asgi.types import ASGIApp
from faststream.redis import RedisBroker, StreamSub
from faststream.redis.message import RedisBatchStreamMessage, RedisStreamMessage
from faststream.redis.prometheus import RedisPrometheusMiddleware
from prometheus_client import REGISTRY, CollectorRegistry, Counter
from pydantic import ValidationError
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import ResponseError

from lingxi.events.base import Event
from lingxi.logging import configure_logging, get_logger
from lingxi.runtime.delivery import Committer, Handled, Outbox, dead_letter, delivery_count
from lingxi.runtime.envelope import UNDECODABLE, JsonEnvelopeFormat, decode_entry, tolerant_parser
from lingxi.runtime.middleware import entry_id, handling_middleware
from lingxi.runtime.probes import probe_routes
from lingxi.runtime.settings import ServiceSettings

E = TypeVar("E", bound=Event)
Handler = Callable[[E, "HandlerContext"], Awaitable[None]]
BatchHandler = Callable[[Sequence[E], "HandlerContext"], Awaitable[None]]

EXIT_SUBSCRIBER_LOST = 70
"""Exit status when a subscriber stopped for good (e.g. its consumer group vanished): restart me."""

EVENTS_HANDLED = Counter(
    "lingxi_events_handled_total",
    "Events taken from a stream, by outcome (ok, duplicate, retry, dead_lettered).",
    ["service", "stream", "outcome"],
)


@dataclass(frozen=True)
class HandlerContext:
    """What a handler may use besides its events: publishing with the right ids, and Redis for stores.

    ``publish`` buffers; the outputs are committed when the handler returns, atomically with
    marking the input handled and acknowledging it. A handler that raises publishes nothing.
    """

    service: Service
    outbox: Outbox
    causes: Mapping[UUID, tuple[int, str]]
    """event_id of each input -> (its position, its correlation id)."""
    single: Event | None
    """The input event of a one-event handler; None in a batch handler."""

    @property
    def redis(self) -> Redis:
        return self.service.redis

    @property
    def correlation_id(self) -> str:
        if self.single is None:
            raise RuntimeError("a batch has one correlation id per event: use ctx.causes")
        return self.causes[self.single.event_id][1]

    async def publish(self, event: Event, *, cause: Event | None = None) -> None:
        """Publish ``event`` as caused by ``cause`` (default: the event being handled).

        It carries the cause's correlation id, and its ``causation_id`` is set to the cause's
        ``event_id`` unless already set.
        """
        origin = cause or self.single
        if origin is None:
            raise ValueError("in a batch handler, say which input caused the event: publish(e, cause=input)")
        owner, correlation_id = self.causes[origin.event_id]
        if event.causation_id is None:
            event = event.model_copy(update={"causation_id": origin.event_id})
        self.outbox.add(owner, event, correlation_id)


@dataclass(frozen=True)
class _Input:
    entry_id: str
    fields: Mapping[Any, Any]
    event: Event
    correlation_id: str


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
        # A blocking pool: under a burst, callers wait for a free connection instead of failing.
        pool = BlockingConnectionPool.from_url(
            self.settings.redis_url,
            max_connections=self.settings.redis_max_connections,
            timeout=5,
            # Idle connections (the gateway's pub/sub) are checked, so a half-open one is replaced.
            health_check_interval=30,
            socket_keepalive=True,
        )
        self.redis: Redis = Redis(connection_pool=pool)
        self.committer = Committer(self.redis, group=name, ttl_s=self.settings.processed_ttl_s)
        self.registry = registry
        self.broker = RedisBroker(
            self.settings.redis_url,
            message_format=JsonEnvelopeFormat,
            max_connections=self.settings.redis_max_connections,
            graceful_timeout=self.settings.graceful_timeout_s,
            middlewares=[
                RedisPrometheusMiddleware(registry=registry, app_name=name),
                handling_middleware(name, self.settings.replica),
            ],
            logger=logging.getLogger("faststream.redis"),
            # Per-message "Received"/"Processed" lines would repeat ours; keep them for DEBUG.
            log_level=logging.DEBUG,
            # Handlers get the raw message from ``_message_itself``: no dependency injection, whose
            # context lookup costs a worker-thread hop per message (measured: 3x slower).
            apply_types=False,
        )
        self.streams: list[str] = []
        self.started = False
        self.fatal: str | None = None
        self.on_fatal: Callable[[], None] = _terminate_this_process
        """How to stop when a subscriber is lost; ``serve`` makes it a graceful uvicorn shutdown."""
        self._watchdog: asyncio.Task[None] | None = None

    # --- subscriptions -------------------------------------------------------------------------

    def consumer(self, event_type: type[E], *, batch: bool = False) -> Callable[[Any], Any]:
        """Subscribe a handler to ``event_type``'s stream with a reader and a reclaimer.

        ``batch=False``: ``async (event, ctx)``, one event at a time. ``batch=True``:
        ``async (events, ctx)`` with up to ``max_records`` events; entries a failed batch left
        pending are retried one by one by the reclaimer, so one poison event cannot hold back others.
        """

        def register(handler: Any) -> Any:
            stream = event_type.stream
            if stream in self.streams:
                raise ValueError(f"{self.name} already consumes {stream}")
            self.streams.append(stream)
            consume: Callable[..., Awaitable[None]]
            if batch:

                async def consume_batch(message: RedisBatchStreamMessage) -> None:
                    await self._deliver_batch(event_type, handler, message)

                consume = consume_batch
            else:

                async def consume_one(message: RedisStreamMessage) -> None:
                    await self._deliver_one(event_type, handler, message)

                consume = consume_one

            group, consumer = self.name, self.settings.replica
            reader = StreamSub(
                stream,
                group=group,
                consumer=consumer,
                batch=batch,
                max_records=self.settings.max_records,
                polling_interval=self.settings.block_ms,
            )
            reclaimer = StreamSub(
                stream,
                group=group,
                consumer=consumer,
                batch=batch,
                min_idle_time=self.settings.reclaim_idle_ms,
                polling_interval=self.settings.reclaim_poll_ms,
            )
            # Acknowledgement is ours: it happens inside the commit (or the dead-lettering).
            options: dict[str, Any] = {
                "ack_policy": AckPolicy.MANUAL,
                "decoder": _message_itself,
                "parser": tolerant_parser,
            }
            read = self.broker.subscriber(stream=reader, title=f"{stream}:{group}:read", **options)
            reclaim = self.broker.subscriber(stream=reclaimer, title=f"{stream}:{group}:reclaim", **options)
            reclaim(read(consume))
            return handler

        return register

    def _processed_key(self, event: Event) -> str:
        return f"lingxi:processed:{self.name}:{event.event_id}"

    async def _deliver_one(
        self, event_type: type[E], handler: Handler[E], message: RedisStreamMessage
    ) -> None:
        stream = message.raw_message["channel"]
        entry = entry_id(message.raw_message) or ""
        fields = message.raw_message["data"]
        quarantined: dict[str, tuple[Any, str]] = message.raw_message.get(UNDECODABLE, {})  # type: ignore[assignment]
        event = await self._admit(event_type, stream, entry, fields, message.body, quarantined)
        if event is None:
            return
        structlog.contextvars.bind_contextvars(event_id=str(event.event_id))
        key = self._processed_key(event)
        if await self.redis.exists(key):
            await self.redis.xack(stream, self.name, entry)
            return self._outcome(stream, "duplicate")
        correlation_id = message.correlation_id or str(event.event_id)
        outbox = Outbox()
        context = HandlerContext(self, outbox, {event.event_id: (1, correlation_id)}, event)
        try:
            async with asyncio.timeout(self.settings.effective_handler_timeout_s):
                await handler(event, context)
        except Exception as error:
            return await self._retry_or_dead_letter(stream, entry, fields, error)
        (fresh,) = await self.committer.commit(stream, [Handled(entry, key)], outbox)
        self._outcome(stream, "ok" if fresh else "duplicate")

    async def _deliver_batch(
        self, event_type: type[E], handler: BatchHandler[E], message: RedisBatchStreamMessage
    ) -> None:
        started = time.perf_counter()
        stream = message.raw_message["channel"]
        inputs: list[_Input] = []
        raw = message.raw_message
        undecodable: dict[str, tuple[Any, str]] = raw.get(UNDECODABLE, {})  # type: ignore[assignment]
        for raw_id, fields in zip(raw["message_ids"], raw["data"], strict=True):
            entry = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
            event_json, headers = decode_entry(fields) if entry not in undecodable else ("", {})
            event = await self._admit(event_type, stream, entry, fields, event_json, undecodable)
            if event is None:
                continue
            inputs.append(_Input(entry, fields, event, headers.get("correlation_id") or str(event.event_id)))
        if not inputs:
            return
        keys = [self._processed_key(i.event) for i in inputs]
        seen = await self.redis.mget(keys)
        # The first copy of an event_id owns its outputs; later copies in the same read (a publisher's
        # retry, a double replay) are only acknowledged: the commit's SET NX would refuse them anyway.
        causes: dict[UUID, tuple[int, str]] = {}
        todo: list[_Input] = []
        for position, (item, mark) in enumerate(zip(inputs, seen, strict=True), start=1):
            if item.event.event_id in causes:
                continue
            causes[item.event.event_id] = (position, item.correlation_id)
            if mark is None:
                todo.append(item)
        outbox = Outbox()
        structlog.contextvars.bind_contextvars(batch_size=len(inputs))
        if todo:
            try:
                async with asyncio.timeout(self.settings.effective_handler_timeout_s):
                    await handler(
                        [cast(E, i.event) for i in todo], HandlerContext(self, outbox, causes, None)
                    )
            except Exception as error:
                if len(inputs) > 1:
                    # The reclaimer retries these one by one; only a lone failing event is capped.
                    self._outcome(stream, "retry")
                    raise
                return await self._retry_or_dead_letter(stream, inputs[0].entry_id, inputs[0].fields, error)
        handled = [Handled(i.entry_id, key) for i, key in zip(inputs, keys, strict=True)]
        fresh = await self.committer.commit(stream, handled, outbox)
        self._outcome(stream, "ok" if any(fresh) else "duplicate")
        for item, new in zip(inputs, fresh, strict=True):
            # One line per event, so a batch reads in the logs like events handled one by one.
            self.log.info(
                "event handled",
                event_id=str(item.event.event_id),
                correlation_id=item.correlation_id,
                entry_id=item.entry_id,
                outcome="ok" if new else "duplicate",
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )

    async def _admit(
        self,
        event_type: type[E],
        stream: str,
        entry: str,
        fields: Mapping[Any, Any],
        event_json: str | bytes,
        undecodable: Mapping[str, tuple[Any, str]],
    ) -> E | None:
        """The entry's event, or None once an undecodable or invalid entry has been dead-lettered."""
        if entry in undecodable:
            original, reason = undecodable[entry]
            await self._dead_letter(stream, entry, original, "undecodable_entry", reason, 1)
        else:
            try:
                return event_type.model_validate_json(event_json)
            except ValidationError as error:
                await self._dead_letter(stream, entry, fields, "invalid_event", _validation_summary(error), 1)
        self._outcome(stream, "dead_lettered")
        return None

    async def _retry_or_dead_letter(
        self, stream: str, entry: str, fields: Mapping[Any, Any], error: Exception
    ) -> None:
        """A handler failed on one entry: re-raise (it stays pending for the reclaimer) until the
        delivery cap, then dead-letter it."""
        attempts = await delivery_count(self.redis, stream, self.name, entry)
        if attempts < self.settings.max_deliveries:
            structlog.contextvars.bind_contextvars(attempts=attempts)
            self._outcome(stream, "retry")
            raise error
        await self._dead_letter(stream, entry, fields, "handler_failed", repr(error), attempts)
        self.log.error("handler failed for good", exc_info=error, attempts=attempts)
        self._outcome(stream, "dead_lettered")

    def _outcome(self, stream: str, outcome: str) -> None:
        structlog.contextvars.bind_contextvars(outcome=outcome)
        EVENTS_HANDLED.labels(self.name, stream, outcome).inc()

    async def _dead_letter(
        self, stream: str, entry: str, fields: Mapping[Any, Any], reason: str, error: str, attempts: int
    ) -> None:
        dlq_id = await dead_letter(
            self.redis,
            stream=stream,
            group=self.name,
            entry_id=entry,
            fields=fields,
            reason=reason,
            error=error,
            attempts=attempts,
            replica=self.settings.replica,
        )
        self.log.warning("event dead-lettered", reason=reason, error=error[:500], dlq_id=dlq_id)

    # --- publishing outside a handler ---------------------------------------------------------

    async def publish(self, event: Event, *, correlation_id: str | None = None) -> str:
        """Publish an event that starts a flow (e.g. from an HTTP request); returns its correlation id.

        Inside a handler use ``ctx.publish``, which commits with the acknowledgement.
        """
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
        """Start consuming (for apps that are not ``asgi()``, e.g. the FastAPI gateway)."""
        await self.ensure_groups()
        await self.broker.start()
        await self._after_start()

    async def stop(self) -> None:
        await self._before_stop()
        await self.broker.stop()
        await self.redis.aclose()
        self.log.info("service stopped")

    async def _after_start(self) -> None:
        self.started = True
        self._watchdog = asyncio.create_task(self._watch_subscribers(), name="subscriber-watchdog")
        self.log.info("service started", streams=self.streams, redis=_safe_url(self.settings.redis_url))

    async def _before_stop(self) -> None:
        self.started = False
        if self._watchdog:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog

    async def _watch_subscribers(self, every_s: float = 1.0) -> None:
        """A subscriber that stopped on its own (FastStream stops one whose group vanished, NOGROUP)
        would leave this replica alive but deaf: stop the process with a non-zero status instead,
        so its supervisor restarts it and the groups are created again."""
        while True:
            await asyncio.sleep(every_s)
            stopped = [s for s in self.broker.subscribers if not s.running]
            if stopped:
                self.fatal = f"{len(stopped)} subscriber(s) stopped (consumer group lost?)"
                self.started = False
                self.log.critical("subscriber lost; stopping for a restart", reason=self.fatal)
                self.on_fatal()
                return

    async def readiness(self) -> dict[str, Any]:
        """What /readyz reports: Redis reachable and every subscriber running."""
        try:
            redis_ok = bool(await self.redis.ping())
        except Exception:
            redis_ok = False
        consuming = self.started and all(s.running for s in self.broker.subscribers)
        return {"ready": redis_ok and consuming, "redis": redis_ok, "consuming": consuming}

    def asgi(self, routes: Sequence[tuple[str, ASGIApp]] = ()) -> AsgiFastStream:
        """The ASGI app of a worker service: the broker plus /healthz, /readyz and /metrics."""
        return AsgiFastStream(
            self.broker,
            asgi_routes=[*probe_routes(self), *routes],
            on_startup=[self.ensure_groups],
            after_startup=[self._after_start],
            on_shutdown=[self._before_stop],
            logger=None,
        )


async def _message_itself(message: Any) -> Any:
    """A FastStream decoder that hands the handler the message, which validates the raw JSON itself."""
    return message


def _terminate_this_process() -> None:
    os.kill(os.getpid(), signal.SIGTERM)


def _validation_summary(error: ValidationError) -> str:
    parts = [f"{'.'.join(str(p) for p in e['loc']) or '<event>'}: {e['msg']}" for e in error.errors()]
    return json.dumps(parts, ensure_ascii=False)


def _safe_url(url: str) -> str:
    """The Redis URL without a password, for logs."""
    if "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://***@{rest.split('@', 1)[1]}"
