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
import collections
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast
from uuid import UUID, uuid4

import structlog
from faststream import AckPolicy
from faststream.asgi import AsgiFastStream
from faststream.asgi.types import ASGIApp
from faststream.redis import RedisBroker, StreamSub
from faststream.redis.message import RedisBatchStreamMessage
from faststream.redis.prometheus import RedisPrometheusMiddleware
from opentelemetry.context import Context
from opentelemetry.trace import Span
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from pydantic import ValidationError
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.connection import Connection
from redis.exceptions import ResponseError

from lingxi import native, tracing
from lingxi.events.base import Event
from lingxi.logging import configure_logging, get_logger
from lingxi.runtime.backlog import observe_backlog, record_backlog
from lingxi.runtime.connections import packing_connection_class
from lingxi.runtime.delivery import (
    Committer,
    Handled,
    HandledMark,
    Outbox,
    dead_letter,
    delivery_count,
    entry_data,
    stream_entry,
)
from lingxi.runtime.envelope import ENTRIES, Entry, JsonEnvelopeFormat, entries_parser
from lingxi.runtime.middleware import handling_middleware
from lingxi.runtime.probes import probe_routes
from lingxi.runtime.retention import trim_acknowledged
from lingxi.runtime.settings import MAX_READERS, ServiceSettings, processed_key_prefix, reader_name
from lingxi.runtime.tasks import stop_task

E = TypeVar("E", bound=Event)
Handler = Callable[[E, "HandlerContext"], Awaitable[None]]
BatchHandler = Callable[[Sequence[E], "HandlerContext"], Awaitable[None]]

EXIT_SUBSCRIBER_LOST = 70
"""Exit status when a subscriber stopped for good (e.g. its consumer group vanished): restart me."""

HANDLING_SECONDS = Histogram(
    "lingxi_handling_seconds",
    "Time from a read's delivery to its commit (validation, handler, commit), by stream.",
    ["service", "stream"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
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
    correlation_ids: Mapping[UUID, str]
    """event_id of each input -> its correlation id."""
    single: Event | None
    """The input event of a one-event handler; None in a batch handler."""
    delivery: str = ""
    """This read's token: what ``handled_mark`` sets and the commit recognises."""
    traces: Mapping[UUID, Context] = field(default_factory=dict)
    """event_id of each input -> the context of its span, when traces are on (``lingxi.tracing``)."""

    @property
    def redis(self) -> Redis:
        return self.service.redis

    @property
    def correlation_id(self) -> str:
        if self.single is None:
            raise RuntimeError("a batch has one correlation id per event: use ctx.correlation_ids")
        return self.correlation_ids[self.single.event_id]

    async def publish(self, event: Event, *, cause: Event | None = None) -> None:
        """Publish ``event`` as caused by ``cause`` (default: the event being handled).

        It carries the cause's correlation id, and its ``causation_id`` is set to the cause's
        ``event_id`` unless already set.
        """
        origin = cause or self.single
        if origin is None:
            raise ValueError("in a batch handler, say which input caused the event: publish(e, cause=input)")
        correlation_id = self.correlation_ids[origin.event_id]
        if event.causation_id is None:
            event = event.model_copy(update={"causation_id": origin.event_id})
        if self.outbox.kept(origin.event_id):
            self.outbox.add(origin.event_id, event, correlation_id, self.traces.get(origin.event_id))

    def entry_data(self, event: Event, cause: Event) -> str:
        """The stream entry field (``delivery.entry_data``) for a handler's own script that adds
        ``event`` itself: with ``cause``'s correlation id and trace context, as ``publish`` would."""
        return entry_data(event, self.correlation_ids[cause.event_id], self.traces.get(cause.event_id))

    @contextlib.contextmanager
    def acting_for(self, event: Event) -> Iterator[None]:
        """Work done for one input of a batch: its span is the current one (what the block calls and
        traces nests under it) and the block's log lines carry its event and correlation ids."""
        with (
            tracing.activated(self.traces.get(event.event_id)),
            structlog.contextvars.bound_contextvars(
                event_id=str(event.event_id), correlation_id=self.correlation_ids[event.event_id]
            ),
        ):
            yield

    def handled_mark(self, event: Event) -> HandledMark:
        """The mark that says ``event`` is handled, for a handler whose own atomic write (a Lua script,
        a MULTI) is the event's whole effect: set it in that write, and a later delivery of the event
        (the commit failed, the replica died, the batch was retried one by one) only acknowledges it
        rather than applying it twice. This delivery's commit still publishes the event's outputs.

        Only for an event the write fully handles: a later delivery publishes nothing for it."""
        if event.event_id not in self.correlation_ids or not self.delivery:
            raise ValueError(f"event {event.event_id} is not an input of this delivery")
        return HandledMark(self.service.processed_key(event), self.delivery, self.service.committer.ttl_s)

    def reject(self, event: Event, reason: str, detail: str) -> None:
        """Refuse one input for good (it can never succeed, e.g. a reading the domain refuses): when the
        handler returns, it is moved to the dead-letter stream with ``reason`` (a short code) and
        ``detail``, and whatever it published is dropped; the other inputs of the read are committed.
        Raising instead would retry the whole read."""
        if event.event_id not in self.correlation_ids:
            raise ValueError(f"event {event.event_id} is not an input of this handler")
        self.outbox.reject(event.event_id, reason, detail)


@dataclass(slots=True, eq=False)
class _Input:
    entry: Entry
    event: Event
    event_id: str
    """``event.event_id`` as text, made once (the log line, the marks and the default correlation)."""
    correlation_id: str
    processed_key: str
    outcome: str = "ok"
    """ok, duplicate (only acknowledged), retry, deferred (left pending), dead_lettered."""
    span: Span | None = None
    trace: Context | None = None
    """The context holding ``span``: current while the handler runs, parent of what it publishes."""

    @property
    def acknowledged(self) -> bool:
        return self.outcome in ("ok", "duplicate")


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
        tracing.configure_tracing(name, self.settings.replica)
        # Bound now: a lazy logger would resolve the configuration again on every line.
        self.log = get_logger("lingxi.runtime").bind()
        self._processed_prefix = processed_key_prefix(name)
        self.redis_url = self.settings.connection_url(name)
        """Where and as whom this service connects (its own ACL user once it has a password)."""
        # A blocking pool: under a burst, callers wait for a free connection instead of failing.
        pool = BlockingConnectionPool.from_url(
            self.redis_url,
            max_connections=self.settings.redis_max_connections,
            timeout=5,
            # Idle connections (the gateway's pub/sub) are checked, so a half-open one is replaced.
            health_check_interval=30,
            socket_keepalive=True,
        )
        # After from_url, whose URL options would override a connection_class argument (TLS).
        pool.connection_class = packing_connection_class(self.redis_url)
        self.redis: Redis = Redis(connection_pool=pool)
        self.committer = Committer(self.redis, group=name, ttl_s=self.settings.processed_ttl_s)
        self.registry = registry
        self.broker = RedisBroker(
            self.redis_url,
            message_format=JsonEnvelopeFormat,
            max_connections=self.settings.redis_max_connections,
            # FastStream's annotation names the TCP class; a TLS or Unix socket class serves as well.
            connection_class=cast("type[Connection]", packing_connection_class(self.redis_url)),
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
        self.published: list[str] = []
        """Streams this service publishes (``publishes``): trimmed like the consumed ones."""
        self.started = False
        self.fatal: str | None = None
        self.on_fatal: Callable[[], None] = _terminate_this_process
        """How to stop when a subscriber is lost; ``serve`` makes it a graceful uvicorn shutdown."""
        self._watchdog: asyncio.Task[None] | None = None
        self._backlog_watch: asyncio.Task[None] | None = None
        self._trimmer: asyncio.Task[None] | None = None
        self.on_startup: list[Callable[[], Awaitable[None]]] = []
        """Coroutines run before reading starts and before the replica reports ready."""
        self.on_shutdown: list[Callable[[], Awaitable[None]]] = []
        """Coroutines run when the service stops, after reading has stopped (close clients here)."""

    # --- subscriptions -------------------------------------------------------------------------

    def consumer(
        self,
        event_type: type[E],
        *,
        batch: bool = False,
        max_records: int | None = None,
        readers: int = 1,
    ) -> Callable[[Any], Any]:
        """Subscribe a handler to ``event_type``'s stream with a reader and a reclaimer.

        ``batch=False``: ``async (event, ctx)``, called once per event; a failing event is retried on
        its own while the others of the same read are committed. ``batch=True``: ``async (events,
        ctx)`` with up to ``max_records`` events; entries a failed batch left pending are retried one
        by one by the reclaimer, so one poison event cannot hold back others.

        Both read up to ``max_records`` entries at a time (default: the setting) and commit a read's
        outputs and acknowledgements in one round trip. A consumer of small events whose handler works
        on a read as a whole reads more at a time, so the read's fixed costs are shared by more events.

        ``readers`` reads run at once (``LINGXI_READERS`` overrides it), each as its own consumer of the
        group (``settings.reader_name``): while one read waits on Redis (its loads, its writes, its
        commit), the next is handled, which pays when a read spends a good share of its time waiting.
        Their reads are distinct entries, handled as two replicas would handle them.
        """
        if max_records is not None and not 1 <= max_records <= 1000:
            raise ValueError(f"max_records must be between 1 and 1000, not {max_records}")
        if not 1 <= readers <= MAX_READERS:
            raise ValueError(f"readers must be between 1 and {MAX_READERS}, not {readers}")

        def register(handler: Any) -> Any:
            stream = event_type.stream
            if stream in self.streams:
                raise ValueError(f"{self.name} already consumes {stream}")
            self.streams.append(stream)

            async def consume(message: RedisBatchStreamMessage) -> None:
                await self._deliver(event_type, handler, batch, message)

            group, consumer = self.name, self.settings.replica
            readers_here = self.settings.readers or readers
            read_subs = [
                StreamSub(
                    stream,
                    group=group,
                    consumer=reader_name(consumer, index),
                    batch=True,
                    max_records=max_records or self.settings.max_records,
                    polling_interval=self.settings.block_ms,
                )
                for index in range(1, readers_here + 1)
            ]
            reclaimer = StreamSub(
                stream,
                group=group,
                consumer=consumer,
                batch=True,  # XAUTOCLAIM hands over one entry at a time
                min_idle_time=self.settings.reclaim_idle_ms,
                polling_interval=self.settings.reclaim_poll_ms,
            )
            # Acknowledgement is ours: it happens inside the commit (or the dead-lettering).
            options: dict[str, Any] = {
                "ack_policy": AckPolicy.MANUAL,
                "decoder": _message_itself,
                "parser": entries_parser,
            }
            subscribed: Any = consume
            for index, reader in enumerate(read_subs, start=1):
                title = f"{stream}:{group}:read" + ("" if index == 1 else f":{index}")
                subscribed = self.broker.subscriber(stream=reader, title=title, **options)(subscribed)
            reclaim = self.broker.subscriber(stream=reclaimer, title=f"{stream}:{group}:reclaim", **options)
            reclaim(subscribed)
            return handler

        return register

    def publishes(self, *event_types: type[Event]) -> None:
        """Declare the events this service publishes, so that their streams are trimmed too once the
        groups reading them (another service's, or a partner's) have acknowledged entries. A stream
        nobody reads through a group is left as it is."""
        for event_type in event_types:
            if event_type.stream not in self.published:
                self.published.append(event_type.stream)

    def processed_key(self, event: Event) -> str:
        """The key marking ``event`` handled by this service (``delivery.py``)."""
        return self._mark_key(str(event.event_id))

    def _mark_key(self, event_id: str) -> str:
        return self._processed_prefix + event_id

    async def _deliver(
        self, event_type: type[E], handler: Any, batch: bool, message: RedisBatchStreamMessage
    ) -> None:
        """Validate a read's entries, run the handler on the new ones, commit what succeeded."""
        started = time.perf_counter()
        stream: str = message.raw_message["channel"]
        entries: list[Entry] = message.raw_message[ENTRIES]  # type: ignore[literal-required]
        inputs: list[_Input] = []
        for entry in entries:
            event = await self._admit(event_type, stream, entry)
            if event is not None:
                event_id = str(event.event_id)
                correlation_id = entry.correlation_id or event_id
                inputs.append(_Input(entry, event, event_id, correlation_id, self._mark_key(event_id)))
        if not inputs:
            return
        if tracing.enabled():
            for item in inputs:
                item.span, item.trace = tracing.start_consumer_span(
                    stream,
                    self.name,
                    item.entry.trace,
                    {
                        "messaging.message.id": item.entry.entry_id,
                        "lingxi.event_id": str(item.event.event_id),
                        "lingxi.correlation_id": item.correlation_id,
                    },
                )
        seen = await self.redis.mget([i.processed_key for i in inputs])
        # Only the first copy of an event_id is handled: one already marked, or a later copy in the
        # same read (a publisher's retry, a double replay), is only acknowledged by the commit.
        correlation_ids: dict[UUID, str] = {}
        todo: list[_Input] = []
        for item, mark in zip(inputs, seen, strict=True):
            if item.event.event_id in correlation_ids or mark is not None:
                item.outcome = "duplicate"
            else:
                todo.append(item)
            correlation_ids.setdefault(item.event.event_id, item.correlation_id)
        outbox = Outbox()
        delivery = uuid4().hex
        # An event may start only while it can finish before its entry becomes reclaimable, so no
        # event is ever handled by two replicas at once; later ones are left for the reclaimer.
        timeout_s = self.settings.effective_handler_timeout_s
        start_by = asyncio.get_running_loop().time() + self.settings.reclaim_idle_ms / 1000 - timeout_s
        traces = {i.event.event_id: i.trace for i in todo if i.trace is not None}
        run = self._run_batch if batch else self._run_each
        await run(handler, stream, todo, correlation_ids, outbox, start_by, delivery, traces)
        for item in todo:
            if item.outcome == "ok" and not outbox.kept(item.event.event_id):
                reason, detail = outbox.rejected[item.event.event_id]
                await self._dead_letter(stream, item.entry, reason, detail, 1)
                item.outcome = "dead_lettered"
        committed = [i for i in inputs if i.acknowledged]
        if committed:
            handled = [Handled(i.entry.entry_id, i.event.event_id, i.processed_key) for i in committed]
            fresh = await self.committer.commit(stream, handled, outbox, delivery)
            for item, new in zip(committed, fresh, strict=True):
                if not new:
                    item.outcome = "duplicate"  # e.g. another replica committed it first
        elapsed_s = time.perf_counter() - started
        HANDLING_SECONDS.labels(self.name, stream).observe(elapsed_s)
        duration_ms = round(elapsed_s * 1000, 2)
        for outcome, count in collections.Counter(item.outcome for item in inputs).items():
            self._count(stream, outcome, count)
        for item in inputs:
            if item.span is not None:
                tracing.end_consumer_span(item.span, item.outcome)
            # One line per event, so a read of many events reads in the logs like events handled one by one.
            self.log.info(
                "event handled",
                event_id=item.event_id,
                correlation_id=item.correlation_id,
                entry_id=item.entry.entry_id,
                outcome=item.outcome,
                duration_ms=duration_ms,
            )

    async def _run_each(
        self,
        handler: Handler[Any],
        stream: str,
        todo: Sequence[_Input],
        correlation_ids: Mapping[UUID, str],
        outbox: Outbox,
        start_by: float,
        delivery: str,
        traces: Mapping[UUID, Context],
    ) -> None:
        """A one-event handler on each new event in turn.

        A failed event's outputs are dropped and it stays pending (or is dead-lettered at the cap);
        events not started by ``start_by`` stay pending for the reclaimer ("deferred").
        """
        loop = asyncio.get_running_loop()
        for item in todo:
            if loop.time() > start_by:
                item.outcome = "deferred"
                continue
            own = Outbox()
            context = HandlerContext(self, own, correlation_ids, item.event, delivery, traces)
            with (
                tracing.activated(item.trace),
                structlog.contextvars.bound_contextvars(
                    event_id=str(item.event.event_id),
                    correlation_id=item.correlation_id,
                    entry_id=item.entry.entry_id,
                ),
            ):
                try:
                    async with asyncio.timeout(self.settings.effective_handler_timeout_s):
                        await handler(item.event, context)
                except Exception as error:
                    item.outcome = await self._retry_or_dead_letter(stream, item.entry, error)
                    continue
            outbox.outputs.extend(own.outputs)
            outbox.rejected.update(own.rejected)

    async def _run_batch(
        self,
        handler: BatchHandler[Any],
        stream: str,
        todo: Sequence[_Input],
        correlation_ids: Mapping[UUID, str],
        outbox: Outbox,
        start_by: float,
        delivery: str,
        traces: Mapping[UUID, Context],
    ) -> None:
        """A batch handler on all new events at once; on failure none of its outputs is kept."""
        if not todo:
            return
        try:
            async with asyncio.timeout(self.settings.effective_handler_timeout_s):
                context = HandlerContext(self, outbox, correlation_ids, None, delivery, traces)
                await handler([i.event for i in todo], context)
        except Exception as error:
            outbox.outputs.clear()
            outbox.rejected.clear()
            if len(todo) == 1:
                todo[0].outcome = await self._retry_or_dead_letter(stream, todo[0].entry, error)
                return
            # The reclaimer retries these one by one; only a lone failing event counts towards the cap.
            self.log.warning("batch handler failed; retrying its events one by one", exc_info=error)
            for item in todo:
                item.outcome = "retry"

    async def _admit(self, event_type: type[E], stream: str, entry: Entry) -> E | None:
        """The entry's event, or None once an undecodable or invalid entry has been dead-lettered."""
        if entry.problem is not None:
            await self._dead_letter(stream, entry, "undecodable_entry", entry.problem, 1)
        else:
            try:
                return event_type.model_validate_json(entry.event_json)
            except ValidationError as error:
                await self._dead_letter(stream, entry, "invalid_event", _validation_summary(error), 1)
        self._count(stream, "dead_lettered")
        return None

    async def _retry_or_dead_letter(self, stream: str, entry: Entry, error: Exception) -> str:
        """A handler failed on one entry: leave it pending for the reclaimer until the delivery cap,
        then dead-letter it. Returns the outcome."""
        attempts = await delivery_count(self.redis, stream, self.name, entry.entry_id)
        if attempts < self.settings.max_deliveries:
            self.log.warning("handler failed; will retry", exc_info=error, attempts=attempts)
            return "retry"
        await self._dead_letter(stream, entry, "handler_failed", repr(error), attempts)
        self.log.error("handler failed for good", exc_info=error, attempts=attempts)
        return "dead_lettered"

    def _count(self, stream: str, outcome: str, events: int = 1) -> None:
        EVENTS_HANDLED.labels(self.name, stream, outcome).inc(events)

    async def _dead_letter(self, stream: str, entry: Entry, reason: str, error: str, attempts: int) -> None:
        dlq_id = await dead_letter(
            self.redis,
            stream=stream,
            group=self.name,
            entry_id=entry.entry_id,
            fields=entry.fields,
            reason=reason,
            error=error,
            attempts=attempts,
            replica=self.settings.replica,
            keep=self.settings.dead_letters_kept,
        )
        self.log.warning(
            "event dead-lettered", entry_id=entry.entry_id, reason=reason, error=error[:500], dlq_id=dlq_id
        )

    # --- publishing outside a handler ---------------------------------------------------------

    async def publish(self, event: Event, *, correlation_id: str | None = None) -> str:
        """Publish an event that starts a flow (e.g. from an HTTP request); returns its correlation id.

        Inside a handler use ``ctx.publish``, which commits with the acknowledgement.
        """
        correlation = correlation_id or str(uuid4())
        await self.redis.xadd(event.stream, stream_entry(event, correlation))  # type: ignore[arg-type]
        return correlation

    def stage_publish(self, pipe: Pipeline, event: Event, *, correlation_id: str) -> None:
        """Queue the publish on ``pipe``, so it shares a round trip with the caller's own commands."""
        pipe.xadd(event.stream, stream_entry(event, correlation_id))  # type: ignore[arg-type]

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

    async def _run_startup_hooks(self) -> None:
        for hook in self.on_startup:
            await hook()

    async def start(self) -> None:
        """Start consuming (for apps that are not ``asgi()``, e.g. the FastAPI gateway)."""
        await self.ensure_groups()
        await self._run_startup_hooks()
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
        if self.streams and self.settings.backlog_poll_s > 0:
            self._backlog_watch = asyncio.create_task(
                self._every(self.settings.backlog_poll_s, self._measure_backlog, "backlog not measured"),
                name="backlog-watch",
            )
        if (self.streams or self.published) and self.settings.trim_poll_s > 0:
            self._trimmer = asyncio.create_task(
                self._every(self.settings.trim_poll_s, self._trim_streams, "streams not trimmed"),
                name="stream-trim",
            )
        self.log.info("service started", streams=self.streams, redis=_safe_url(self.redis_url))
        for decided in native.statuses():  # a replica whose domain runs as plain Python is slower
            self.log.info(
                "domain modules",
                package=decided.package,
                compiled=list(decided.compiled),
                plain_python_because=decided.reason or None,
            )

    async def _before_stop(self) -> None:
        self.started = False
        for task in (self._watchdog, self._backlog_watch, self._trimmer):
            await stop_task(task)
        for hook in self.on_shutdown:
            await hook()

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

    async def _every(self, every_s: float, step: Callable[[Redis], Awaitable[None]], failed: str) -> None:
        """Run ``step`` every ``every_s`` with a Redis client of its own (so it never waits for the
        handlers' connections); a Redis hiccup only skips a turn."""
        client = Redis.from_url(self.redis_url)
        try:
            while True:
                try:
                    await step(client)
                except Exception as error:
                    self.log.warning(failed, error=repr(error))
                await asyncio.sleep(every_s)
        finally:
            await client.aclose()

    async def _measure_backlog(self, client: Redis) -> None:
        """Keep the backlog gauges (``backlog.py``) current."""
        record_backlog(self.name, await observe_backlog(client, self.name, self.streams))

    async def _trim_streams(self, client: Redis) -> None:
        """Remove what every group has acknowledged, after the retention (``retention.py``)."""
        streams = [*self.streams, *(s for s in self.published if s not in self.streams)]
        removed = await trim_acknowledged(
            client, self.name, streams, retention_s=self.settings.stream_retention_s
        )
        if removed:
            self.log.debug("streams trimmed", removed=removed)

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
            on_startup=[self.ensure_groups, self._run_startup_hooks],
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
