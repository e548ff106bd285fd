"""The delivery rules of lingxi.runtime, on a real Redis, with a service running in this process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from uuid import uuid4

import pytest
import redis
from lingxi.events import AnswerDrafted, QueryReceived, Region
from lingxi.events.registry import dead_letter_stream
from lingxi.runtime import HandlerContext, Service, ServiceSettings
from lingxi.runtime.connections import HiredisPackingConnection
from lingxi.runtime.delivery import Outbox
from lingxi.runtime.envelope import decode_entry, encode_entry
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis as AsyncRedis

STREAM = QueryReceived.stream


def a_query(**overrides: object) -> QueryReceived:
    fields: dict[str, object] = {
        "region": Region.CN,
        "request_id": uuid4(),
        "device_id": "dev-1",
        "text": "打开微信",
        "locale": "zh-CN",
    }
    fields.update(overrides)
    return QueryReceived(**fields)  # type: ignore[arg-type]


def make_service(redis_url: str, **overrides: object) -> Service:
    fields: dict[str, object] = {
        "redis_url": redis_url,
        "replica": "test-1",
        "http_port": 0,
        "reclaim_idle_ms": 200,
        "reclaim_poll_ms": 50,
        "block_ms": 100,
        "log_format": "json",
    }
    settings = ServiceSettings(**{**fields, **overrides})  # type: ignore[arg-type]
    return Service("testsvc", settings, registry=CollectorRegistry())


@asynccontextmanager
async def running(service: Service) -> AsyncIterator[Service]:
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


async def eventually(check: Callable[[], Awaitable[bool] | bool], timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_events_published_before_the_group_existed_are_consumed(
    redis_client: redis.Redis, redis_url: str
) -> None:
    early = [a_query() for _ in range(3)]
    for event in early:
        redis_client.xadd(STREAM, encode_entry(event.model_dump_json(), {}))  # type: ignore[arg-type]
    seen: list[QueryReceived] = []
    service = make_service(redis_url)

    @service.consumer(QueryReceived)
    async def handle(event: QueryReceived, ctx: HandlerContext) -> None:
        seen.append(event)

    async with running(service):
        await eventually(lambda: len(seen) == 3)
    assert [e.event_id for e in seen] == [e.event_id for e in early]


async def test_the_service_and_its_broker_talk_to_redis_through_hiredis_packing_connections(
    redis_client: redis.Redis, redis_url: str
) -> None:
    service = make_service(redis_url)
    seen: list[QueryReceived] = []

    @service.consumer(QueryReceived)
    async def handle(event: QueryReceived, ctx: HandlerContext) -> None:
        seen.append(event)

    async with running(service):
        value = bytes(range(256)) * 40  # binary, and above redis-py's chunking cutoff
        await service.redis.set("lingxi:test:packed", value)
        assert redis_client.get("lingxi:test:packed") == value
        sent = a_query(text="设一个早上七点的闹钟 \r\n")
        await service.publish(sent)
        await eventually(lambda: len(seen) == 1)
        broker_pool = service.broker.config.broker_config.connection.client.connection_pool
        assert service.redis.connection_pool.connection_class is HiredisPackingConnection
        assert broker_pool.connection_class is HiredisPackingConnection
    assert seen[0] == sent


async def test_invalid_entries_are_dead_lettered_and_the_consumer_goes_on(
    redis_client: redis.Redis, redis_url: str
) -> None:
    service = make_service(redis_url)
    seen: list[QueryReceived] = []

    @service.consumer(QueryReceived)
    async def handle(event: QueryReceived, ctx: HandlerContext) -> None:
        seen.append(event)

    valid = a_query()
    async with running(service):
        garbage_id = redis_client.xadd(STREAM, {"foo": "bar"})
        redis_client.xadd(STREAM, {"__data__": "this is not json"})
        redis_client.xadd(STREAM, encode_entry(a_query().model_dump_json().replace('"CN"', '"XX"'), {}))  # type: ignore[arg-type]
        await service.publish(valid)
        await eventually(lambda: len(seen) == 1)
        await eventually(lambda: redis_client.xlen(dead_letter_stream(STREAM)) == 3)

    assert seen[0].event_id == valid.event_id
    letters = redis_client.xrange(dead_letter_stream(STREAM))
    errors = [fields[b"dlq.error"].decode() for _, fields in letters]
    assert all(fields[b"dlq.reason"] == b"invalid_event" for _, fields in letters)
    assert "foo" in errors[0]
    assert "region" in errors[2]
    assert letters[0][1][b"foo"] == b"bar", "the original fields are kept for replay"
    assert letters[0][1][b"dlq.original_id"] == garbage_id
    assert all(fields[b"dlq.service"] == b"testsvc" for _, fields in letters)
    assert redis_client.xpending(STREAM, "testsvc")["pending"] == 0


async def test_a_failing_event_is_retried_then_dead_lettered(
    redis_client: redis.Redis, redis_url: str
) -> None:
    service = make_service(redis_url, max_deliveries=3)
    calls: list[int] = []

    @service.consumer(QueryReceived)
    async def handle(event: QueryReceived, ctx: HandlerContext) -> None:
        calls.append(1)
        raise RuntimeError("model provider unavailable")

    async with running(service):
        await service.publish(a_query())
        await eventually(lambda: redis_client.xlen(dead_letter_stream(STREAM)) == 1, timeout_s=15)

    ((_, fields),) = redis_client.xrange(dead_letter_stream(STREAM))
    assert fields[b"dlq.reason"] == b"handler_failed"
    assert b"model provider unavailable" in fields[b"dlq.error"]
    assert fields[b"dlq.attempts"] == b"3"
    assert len(calls) == 3, "delivered once by the reader and twice by the reclaimer"
    assert redis_client.xpending(STREAM, "testsvc")["pending"] == 0


async def test_a_redelivered_event_is_handled_once(redis_client: redis.Redis, redis_url: str) -> None:
    service = make_service(redis_url)
    seen: list[QueryReceived] = []

    @service.consumer(QueryReceived)
    async def handle(event: QueryReceived, ctx: HandlerContext) -> None:
        seen.append(event)

    event, other = a_query(), a_query()
    async with running(service):
        for _ in range(3):
            await service.publish(event)
        await service.publish(other)
        await eventually(lambda: any(e.event_id == other.event_id for e in seen))
    assert [e.event_id for e in seen] == [event.event_id, other.event_id]


async def test_every_handling_line_carries_its_context(
    redis_client: redis.Redis, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    service = make_service(redis_url)
    published: list[QueryReceived] = []

    @service.consumer(QueryReceived)
    async def handle(event: QueryReceived, ctx: HandlerContext) -> None:
        service.log.info("inside the handler", text=event.text)
        published.append(event)

    event = a_query(text="给13812345678打电话")
    async with running(service):
        await service.publish(event, correlation_id="corr-42")
        await eventually(lambda: len(published) == 1)

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    handled = [line for line in lines if line.get("event") == "event handled"]
    assert handled, lines
    closing = handled[0]
    for key in ("service", "replica", "stream", "event_id", "correlation_id", "outcome", "duration_ms"):
        assert key in closing, f"{key} missing from {closing}"
    assert closing["stream"] == STREAM
    assert closing["event_id"] == str(event.event_id)
    assert closing["correlation_id"] == "corr-42"
    assert closing["outcome"] == "ok"
    assert closing["entry_id"] == redis_client.xrange(STREAM)[0][0].decode()
    inside = next(line for line in lines if line.get("event") == "inside the handler")
    assert inside["event_id"] == str(event.event_id), "context bound once reaches the handler's own lines"
    assert "13812345678" not in json.dumps(lines, ensure_ascii=False)


def a_draft_for(query: QueryReceived) -> AnswerDrafted:
    return AnswerDrafted(
        region=query.region,
        request_id=query.request_id,
        device_id=query.device_id,
        locale=query.locale,
        intent="echo",
        confidence=1.0,
        reply_text=query.text,
        engine="test",
        model_name="test",
    )


def drafts_in(redis_client: redis.Redis) -> list[tuple[AnswerDrafted, dict[str, object]]]:
    found = []
    for _, fields in redis_client.xrange(AnswerDrafted.stream):
        event_json, headers = decode_entry(fields)
        found.append((AnswerDrafted.model_validate_json(event_json), headers))
    return found


async def test_outputs_carry_correlation_and_causation(redis_client: redis.Redis, redis_url: str) -> None:
    service = make_service(redis_url)

    @service.consumer(QueryReceived)
    async def handle(event: QueryReceived, ctx: HandlerContext) -> None:
        await ctx.publish(a_draft_for(event))

    query = a_query()
    async with running(service):
        await service.publish(query, correlation_id="corr-7")
        await eventually(lambda: redis_client.xlen(AnswerDrafted.stream) == 1)
    ((draft, headers),) = drafts_in(redis_client)
    assert draft.causation_id == query.event_id
    assert headers["correlation_id"] == "corr-7"


async def test_a_handler_that_fails_after_publishing_publishes_nothing_until_it_succeeds(
    redis_client: redis.Redis, redis_url: str
) -> None:
    service = make_service(redis_url, max_deliveries=5)
    attempts: list[int] = []

    @service.consumer(QueryReceived)
    async def handle(event: QueryReceived, ctx: HandlerContext) -> None:
        await ctx.publish(a_draft_for(event))
        attempts.append(1)
        if len(attempts) < 3:
            raise RuntimeError("crash after publishing")

    async with running(service):
        await service.publish(a_query())
        await eventually(lambda: len(attempts) == 3, timeout_s=15)
        await eventually(lambda: redis_client.xpending(STREAM, "testsvc")["pending"] == 0)
    assert len(drafts_in(redis_client)) == 1, "only the successful attempt's output was committed"


async def test_two_replicas_given_the_same_event_twice_publish_one_output(
    redis_client: redis.Redis, redis_url: str
) -> None:
    handled: list[str] = []
    services = [make_service(redis_url, replica=f"test-{n}") for n in (1, 2)]
    for service in services:

        @service.consumer(QueryReceived)
        async def handle(
            event: QueryReceived, ctx: HandlerContext, name: str = service.settings.replica
        ) -> None:
            await asyncio.sleep(0.1)  # both copies are in flight at once
            handled.append(name)
            await ctx.publish(a_draft_for(event))

    query = a_query()
    async with running(services[0]), running(services[1]):
        payload = encode_entry(query.model_dump_json(), {"correlation_id": "c"})
        redis_client.xadd(STREAM, payload)  # type: ignore[arg-type]
        redis_client.xadd(STREAM, payload)  # type: ignore[arg-type]
        await eventually(lambda: redis_client.xpending(STREAM, "testsvc")["pending"] == 0 and handled)
        await asyncio.sleep(0.3)
    assert len(drafts_in(redis_client)) == 1


async def test_batches_isolate_invalid_and_poison_events(redis_client: redis.Redis, redis_url: str) -> None:
    service = make_service(redis_url, max_records=50, max_deliveries=2)
    batch_sizes: list[int] = []

    @service.consumer(QueryReceived, batch=True)
    async def handle(events: Sequence[QueryReceived], ctx: HandlerContext) -> None:
        batch_sizes.append(len(events))
        if any(e.text == "poison" for e in events):
            raise RuntimeError("cannot handle poison")
        for event in events:
            await ctx.publish(a_draft_for(event), cause=event)

    good = [a_query(text=f"query {n}") for n in range(20)]
    for event in good[:10]:
        redis_client.xadd(STREAM, encode_entry(event.model_dump_json(), {}))  # type: ignore[arg-type]
    redis_client.xadd(STREAM, {"not": "an event"})
    redis_client.xadd(STREAM, encode_entry(a_query(text="poison").model_dump_json(), {}))  # type: ignore[arg-type]
    for event in good[10:]:
        redis_client.xadd(STREAM, encode_entry(event.model_dump_json(), {}))  # type: ignore[arg-type]

    async with running(service):
        await eventually(lambda: redis_client.xlen(dead_letter_stream(STREAM)) == 2, timeout_s=20)
        await eventually(lambda: redis_client.xpending(STREAM, "testsvc")["pending"] == 0)

    drafts = drafts_in(redis_client)
    assert sorted(d.request_id for d, _ in drafts) == sorted(e.request_id for e in good)
    assert all(d.causation_id in {e.event_id for e in good} for d, _ in drafts)
    reasons = sorted(f[b"dlq.reason"] for _, f in redis_client.xrange(dead_letter_stream(STREAM)))
    assert reasons == [b"handler_failed", b"invalid_event"]
    assert max(batch_sizes) > 1, "events were handled in batches"


async def test_a_consumer_can_read_more_at_a_time_than_the_setting(
    redis_client: redis.Redis, redis_url: str
) -> None:
    service = make_service(redis_url, max_records=5)
    batch_sizes: list[int] = []

    @service.consumer(QueryReceived, batch=True, max_records=200)
    async def handle(events: Sequence[QueryReceived], ctx: HandlerContext) -> None:
        batch_sizes.append(len(events))

    for n in range(150):
        redis_client.xadd(STREAM, encode_entry(a_query(text=f"query {n}").model_dump_json(), {}))  # type: ignore[arg-type]
    async with running(service):
        await eventually(lambda: sum(batch_sizes) == 150)
    assert batch_sizes == [150], "the backlog came in one read, not in reads of 5"


def test_a_consumer_read_size_out_of_bounds_is_refused(redis_url: str) -> None:
    service = make_service(redis_url)
    with pytest.raises(ValueError, match="max_records must be between 1 and 1000, not 5000"):
        service.consumer(QueryReceived, batch=True, max_records=5000)


async def test_two_readers_handle_reads_at_once_each_event_once(
    redis_client: redis.Redis, redis_url: str
) -> None:
    service = make_service(redis_url, max_records=5)
    handled: list[str] = []
    in_flight = 0
    most_at_once = 0

    @service.consumer(QueryReceived, batch=True, readers=2)
    async def handle(events: Sequence[QueryReceived], ctx: HandlerContext) -> None:
        nonlocal in_flight, most_at_once
        in_flight += 1
        most_at_once = max(most_at_once, in_flight)
        await asyncio.sleep(0.05)  # waiting on Redis, say: the other reader's read goes on meanwhile
        handled.extend(e.text for e in events)
        in_flight -= 1

    for n in range(40):
        redis_client.xadd(STREAM, encode_entry(a_query(text=f"query {n}").model_dump_json(), {}))  # type: ignore[arg-type]
    async with running(service):
        await eventually(lambda: len(handled) >= 40)
        await asyncio.sleep(0.2)
        consumers = {c["name"].decode() for c in redis_client.xinfo_consumers(STREAM, service.name)}  # type: ignore[union-attr]
        pending = redis_client.xpending(STREAM, service.name)["pending"]  # type: ignore[index]
    assert sorted(handled) == sorted(f"query {n}" for n in range(40)), "each event handled once"
    assert most_at_once == 2
    assert consumers == {"test-1", "test-1-2"}
    assert pending == 0


async def test_the_readers_setting_overrides_the_consumers_own(
    redis_client: redis.Redis, redis_url: str
) -> None:
    service = make_service(redis_url, readers=3, max_records=1)
    handled: list[str] = []

    @service.consumer(QueryReceived, batch=True)
    async def handle(events: Sequence[QueryReceived], ctx: HandlerContext) -> None:
        await asyncio.sleep(0.05)  # each reader holds its one entry a while: the others take the next
        handled.extend(e.text for e in events)

    for n in range(12):
        redis_client.xadd(STREAM, encode_entry(a_query(text=f"query {n}").model_dump_json(), {}))  # type: ignore[arg-type]
    async with running(service):
        await eventually(lambda: len(handled) == 12)
        # A consumer appears in the group once it has been given an entry.
        consumers = {c["name"].decode() for c in redis_client.xinfo_consumers(STREAM, service.name)}  # type: ignore[union-attr]
    assert consumers == {"test-1", "test-1-2", "test-1-3"}


def test_a_consumer_readers_out_of_bounds_are_refused(redis_url: str) -> None:
    service = make_service(redis_url)
    with pytest.raises(ValueError, match="readers must be between 1 and 16, not 0"):
        service.consumer(QueryReceived, batch=True, readers=0)


async def test_the_same_event_twice_in_one_batch_publishes_its_outputs_once(
    redis_client: redis.Redis, redis_url: str
) -> None:
    service = make_service(redis_url, max_records=50)
    handled: list[int] = []

    @service.consumer(QueryReceived, batch=True)
    async def handle(events: Sequence[QueryReceived], ctx: HandlerContext) -> None:
        handled.append(len(events))
        for event in events:
            await ctx.publish(a_draft_for(event), cause=event)

    query = a_query()
    payload = encode_entry(query.model_dump_json(), {"correlation_id": "c"})
    for _ in range(2):
        redis_client.xadd(STREAM, payload)  # type: ignore[arg-type]
    async with running(service):
        await eventually(lambda: redis_client.xpending(STREAM, "testsvc")["pending"] == 0 and bool(handled))
    assert handled == [1], "the handler saw the event once"
    assert len(drafts_in(redis_client)) == 1


async def test_an_input_marked_handled_by_the_handlers_own_write_is_never_applied_twice(
    redis_client: redis.Redis, redis_url: str
) -> None:
    """The handler stores each event's effect with its handled mark, then fails before the commit: the
    redeliveries find the events handled, so no effect is applied twice (the domain keeps no ids)."""
    service = make_service(redis_url, max_records=50, max_deliveries=5)
    calls: list[int] = []

    @service.consumer(QueryReceived, batch=True)
    async def handle(events: Sequence[QueryReceived], ctx: HandlerContext) -> None:
        calls.append(len(events))
        async with ctx.redis.pipeline(transaction=True) as pipe:
            for event in events:
                mark = ctx.handled_mark(event)
                pipe.incr(f"effect:{event.device_id}")
                pipe.set(mark.key, mark.value, ex=mark.ttl_s)
            await pipe.execute()
        if len(calls) == 1:
            raise RuntimeError("the replica fails after its write, before the commit")

    devices = [f"dev-{n}" for n in range(3)]
    for device in devices:
        payload = encode_entry(a_query(device_id=device).model_dump_json(), {"correlation_id": "c"})
        redis_client.xadd(STREAM, payload)  # type: ignore[arg-type]
    async with running(service):
        await eventually(lambda: redis_client.xpending(STREAM, "testsvc")["pending"] == 0 and bool(calls))
    assert calls == [3], "the redelivered events were recognised as handled, not handled again"
    assert [int(redis_client.get(f"effect:{device}") or 0) for device in devices] == [1, 1, 1]  # type: ignore[arg-type]
    assert redis_client.xlen(dead_letter_stream(STREAM)) == 0


async def test_the_delivery_that_marked_its_input_still_publishes_its_outputs(
    redis_client: redis.Redis, redis_url: str
) -> None:
    service = make_service(redis_url)
    marked: list[str] = []

    @service.consumer(QueryReceived)
    async def handle(event: QueryReceived, ctx: HandlerContext) -> None:
        mark = ctx.handled_mark(event)
        await ctx.redis.set(mark.key, mark.value, ex=mark.ttl_s)
        marked.append(mark.key)
        await ctx.publish(a_draft_for(event))

    query = a_query()
    async with running(service):
        await service.publish(query)
        await eventually(lambda: redis_client.xpending(STREAM, "testsvc")["pending"] == 0 and bool(marked))
        await service.publish(query)  # the same event again: handled already, nothing new
        await eventually(lambda: redis_client.xlen(STREAM) == 2)
        await eventually(lambda: redis_client.xpending(STREAM, "testsvc")["pending"] == 0)
        await asyncio.sleep(0.3)
    assert [draft.request_id for draft, _ in drafts_in(redis_client)] == [query.request_id]
    assert marked == [f"lingxi:processed:testsvc:{query.event_id}"]


async def test_a_handled_mark_is_only_given_for_an_input_of_the_delivery(redis_url: str) -> None:
    service = make_service(redis_url)
    inputs = [a_query()]
    ctx = HandlerContext(service, Outbox(), {inputs[0].event_id: "c"}, None, "token-1")
    assert ctx.handled_mark(inputs[0]).value == "token-1"
    with pytest.raises(ValueError, match="not an input"):
        ctx.handled_mark(a_query())


@pytest.mark.parametrize("batch", [False, True], ids=["one-by-one", "batch"])
async def test_a_handler_can_dead_letter_one_input_and_commit_the_others(
    redis_client: redis.Redis, redis_url: str, batch: bool
) -> None:
    service = make_service(redis_url, max_records=50)
    calls: list[int] = []

    async def visit(event: QueryReceived, ctx: HandlerContext) -> None:
        calls.append(1)
        await ctx.publish(a_draft_for(event), cause=event)  # published, then refused: the draft is dropped
        if event.text == "refuse me":
            ctx.reject(event, "reading_refused", "battery_level: must be at most 100 (got 140)")

    async def handle_each(event: QueryReceived, ctx: HandlerContext) -> None:
        await visit(event, ctx)

    async def handle_batch(events: Sequence[QueryReceived], ctx: HandlerContext) -> None:
        for event in events:
            await visit(event, ctx)

    service.consumer(QueryReceived, batch=batch)(handle_batch if batch else handle_each)
    good = [a_query(text=f"query {n}") for n in range(4)]
    refused = a_query(text="refuse me")
    for event in [*good[:2], refused, *good[2:]]:
        redis_client.xadd(STREAM, encode_entry(event.model_dump_json(), {}))  # type: ignore[arg-type]
    async with running(service):
        await eventually(lambda: redis_client.xpending(STREAM, "testsvc")["pending"] == 0 and len(calls) == 5)
    assert sorted(d.request_id for d, _ in drafts_in(redis_client)) == sorted(e.request_id for e in good)
    letters = redis_client.xrange(dead_letter_stream(STREAM))
    assert len(letters) == 1
    fields = letters[0][1]
    assert fields[b"dlq.reason"] == b"reading_refused"
    assert b"battery_level" in fields[b"dlq.error"]
    assert refused.event_id.hex in decode_entry(fields)[0].replace("-", "")
    assert len(calls) == 5, "nothing was retried"


async def test_a_batch_logs_one_line_per_event_with_its_context(
    redis_client: redis.Redis, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    service = make_service(redis_url, max_records=50)
    seen: list[QueryReceived] = []

    @service.consumer(QueryReceived, batch=True)
    async def handle(events: Sequence[QueryReceived], ctx: HandlerContext) -> None:
        seen.extend(events)

    queries = [a_query() for _ in range(5)]
    for n, query in enumerate(queries):
        redis_client.xadd(STREAM, encode_entry(query.model_dump_json(), {"correlation_id": f"c-{n}"}))  # type: ignore[arg-type]
    async with running(service):
        await eventually(lambda: len(seen) == 5)
        await eventually(lambda: redis_client.xpending(STREAM, "testsvc")["pending"] == 0)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    handled = {line["event_id"]: line for line in lines if line.get("event") == "event handled"}
    assert set(handled) == {str(q.event_id) for q in queries}
    for n, query in enumerate(queries):
        line = handled[str(query.event_id)]
        assert line["correlation_id"] == f"c-{n}"
        for key in ("service", "replica", "stream", "entry_id", "outcome", "duration_ms"):
            assert key in line, f"{key} missing from {line}"


@pytest.mark.parametrize("batch", [False, True], ids=["one-by-one", "batch"])
async def test_entries_faststream_cannot_decode_are_dead_lettered_not_stuck(
    redis_client: redis.Redis, redis_url: str, batch: bool
) -> None:
    service = make_service(redis_url, max_records=50)
    seen: list[QueryReceived] = []

    if batch:

        @service.consumer(QueryReceived, batch=True)
        async def handle_batch(events: Sequence[QueryReceived], ctx: HandlerContext) -> None:
            seen.extend(events)
    else:

        @service.consumer(QueryReceived)
        async def handle_one(event: QueryReceived, ctx: HandlerContext) -> None:
            seen.append(event)

    good = a_query()
    redis_client.xadd(STREAM, {"__data__": b"\xff\xfe not utf-8 \x80"})
    redis_client.xadd(STREAM, {"__data__": '{"data": "{}", "headers": "not a mapping"}'})
    redis_client.xadd(STREAM, encode_entry(good.model_dump_json(), {}))  # type: ignore[arg-type]
    async with running(service):
        await eventually(lambda: len(seen) == 1)
        await eventually(lambda: redis_client.xlen(dead_letter_stream(STREAM)) == 2)
        await eventually(lambda: redis_client.xpending(STREAM, "testsvc")["pending"] == 0)
    letters = redis_client.xrange(dead_letter_stream(STREAM))
    assert {f[b"dlq.reason"] for _, f in letters} <= {b"undecodable_entry", b"invalid_event"}
    assert letters[0][1][b"__data__"] == b"\xff\xfe not utf-8 \x80", "the original bytes are kept"
    assert seen[0].event_id == good.event_id


async def test_a_hung_handler_times_out_and_is_dead_lettered(
    redis_client: redis.Redis, redis_url: str
) -> None:
    service = make_service(redis_url, handler_timeout_s=0.1, max_deliveries=2)

    @service.consumer(QueryReceived)
    async def handle(event: QueryReceived, ctx: HandlerContext) -> None:
        await asyncio.sleep(3600)

    async with running(service):
        await service.publish(a_query())
        await eventually(lambda: redis_client.xlen(dead_letter_stream(STREAM)) == 1, timeout_s=15)
    ((_, fields),) = redis_client.xrange(dead_letter_stream(STREAM))
    assert b"TimeoutError" in fields[b"dlq.error"]


def test_a_handler_timeout_must_be_below_the_reclaim_idle_time() -> None:
    with pytest.raises(ValueError, match="handler_timeout_s"):
        ServiceSettings(handler_timeout_s=40, reclaim_idle_ms=30_000)


async def test_one_failing_event_does_not_hold_back_the_others_of_its_read(
    redis_client: redis.Redis, redis_url: str
) -> None:
    service = make_service(redis_url, max_records=50, max_deliveries=2, reclaim_idle_ms=1000)
    attempts: dict[str, int] = {}

    @service.consumer(QueryReceived)
    async def handle(event: QueryReceived, ctx: HandlerContext) -> None:
        attempts[event.text] = attempts.get(event.text, 0) + 1
        await ctx.publish(a_draft_for(event))
        if event.text == "poison":
            raise RuntimeError("cannot handle poison")

    good = [a_query(text=f"query {n}") for n in range(8)]
    for event in [*good[:4], a_query(text="poison"), *good[4:]]:
        redis_client.xadd(STREAM, encode_entry(event.model_dump_json(), {}))  # type: ignore[arg-type]
    async with running(service):
        # The good events are committed with the first read, long before the poison is reclaimed.
        await eventually(lambda: len(drafts_in(redis_client)) == 8, timeout_s=0.9)
        assert attempts["poison"] == 1
        await eventually(lambda: redis_client.xlen(dead_letter_stream(STREAM)) == 1, timeout_s=15)
        await eventually(lambda: redis_client.xpending(STREAM, "testsvc")["pending"] == 0)
    assert attempts["poison"] == 2, "retried up to the cap of 2 deliveries"
    assert all(attempts[e.text] == 1 for e in good)
    drafts = drafts_in(redis_client)
    assert sorted(d.request_id for d, _ in drafts) == sorted(e.request_id for e in good), (
        "the poison event's partial output was never published"
    )


async def test_events_a_read_cannot_start_in_time_are_left_to_the_reclaimer(
    redis_client: redis.Redis, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Each event may run 0.8 s, and its entry is reclaimable 1 s after the read: only events that
    # start within 0.2 s of the read are handled by it; the rest are deferred, never run twice.
    service = make_service(redis_url, max_records=50, reclaim_idle_ms=1000, handler_timeout_s=0.8)
    handled: list[str] = []

    @service.consumer(QueryReceived)
    async def handle(event: QueryReceived, ctx: HandlerContext) -> None:
        await asyncio.sleep(0.15)
        handled.append(event.text)
        await ctx.publish(a_draft_for(event))

    queries = [a_query(text=f"query {n}") for n in range(5)]
    for event in queries:
        redis_client.xadd(STREAM, encode_entry(event.model_dump_json(), {}))  # type: ignore[arg-type]
    async with running(service):
        await eventually(lambda: len(drafts_in(redis_client)) == 5, timeout_s=20)
        await eventually(lambda: redis_client.xpending(STREAM, "testsvc")["pending"] == 0)
    assert sorted(handled) == sorted(q.text for q in queries), "each event handled exactly once"
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    outcomes = [line["outcome"] for line in lines if line.get("event") == "event handled"]
    assert "deferred" in outcomes
    assert outcomes.count("ok") == 5
    assert redis_client.xlen(dead_letter_stream(STREAM)) == 0


async def test_the_backlog_of_each_consumed_stream_is_measured(
    redis_client: redis.Redis, redis_url: str
) -> None:
    from lingxi.runtime.backlog import observe_backlog
    from prometheus_client import REGISTRY

    service = make_service(redis_url, backlog_poll_s=0.05, max_records=2)
    release = asyncio.Event()

    @service.consumer(QueryReceived, batch=True)
    async def handle(events: Sequence[QueryReceived], ctx: HandlerContext) -> None:
        await release.wait()  # the first read stays pending while the rest waits in the stream

    for _ in range(5):
        redis_client.xadd(STREAM, encode_entry(a_query().model_dump_json(), {}))  # type: ignore[arg-type]
    redis_client.xadd(dead_letter_stream(STREAM), {"dlq.reason": "test"})
    labels = {"service": "testsvc", "stream": STREAM}

    def gauge(name: str) -> float | None:
        return REGISTRY.get_sample_value(name, labels)

    async with running(service):
        await eventually(lambda: gauge("lingxi_stream_pending") == 2)
        assert gauge("lingxi_stream_lag") == 3
        assert gauge("lingxi_dead_letter_entries") == 1
        release.set()
        await eventually(lambda: gauge("lingxi_stream_pending") == 0 and gauge("lingxi_stream_lag") == 0)
    # A stream nobody has written to yet has no backlog.
    client = AsyncRedis.from_url(redis_url)
    try:
        backlog = await observe_backlog(client, "testsvc", ["nothing.yet"])
    finally:
        await client.aclose()
    assert [(b.lag, b.pending, b.dead_letters) for b in backlog] == [(0, 0, 0)]


async def test_the_consumed_stream_is_trimmed_once_every_entry_is_acknowledged(
    redis_client: redis.Redis, redis_url: str
) -> None:
    service = make_service(redis_url, trim_poll_s=0.05, stream_retention_s=0, max_records=2)
    release = asyncio.Event()
    handled: list[QueryReceived] = []

    @service.consumer(QueryReceived, batch=True)
    async def handle(events: Sequence[QueryReceived], ctx: HandlerContext) -> None:
        await release.wait()  # the first read stays pending while the rest waits in the stream
        handled.extend(events)

    for _ in range(5):
        redis_client.xadd(STREAM, encode_entry(a_query().model_dump_json(), {}))  # type: ignore[arg-type]
    async with running(service):
        await eventually(lambda: redis_client.xpending(STREAM, "testsvc")["pending"] == 2)
        await asyncio.sleep(0.3)  # several trims: none may take a pending or unread entry
        assert redis_client.xlen(STREAM) == 5
        release.set()
        await eventually(lambda: redis_client.xlen(STREAM) == 0)
    assert len(handled) == 5


async def test_a_flood_of_garbage_keeps_only_the_newest_dead_letters(
    redis_client: redis.Redis, redis_url: str
) -> None:
    service = make_service(redis_url, dead_letters_kept=100, max_records=100)

    @service.consumer(QueryReceived)
    async def handle(event: QueryReceived, ctx: HandlerContext) -> None:
        pass

    pipe = redis_client.pipeline()
    for index in range(500):
        pipe.xadd(STREAM, {"garbage": str(index)})
    pipe.execute()
    async with running(service):
        await eventually(
            lambda: (
                redis_client.xpending(STREAM, "testsvc")["pending"] == 0
                and not redis_client.xinfo_groups(STREAM)[0]["lag"]
            ),
            timeout_s=30,
        )
    kept = redis_client.xrange(dead_letter_stream(STREAM))
    # MAXLEN ~ removes whole nodes of 100 entries: between 100 and 199 stay, the newest among them.
    assert 100 <= len(kept) < 200
    assert kept[-1][1][b"garbage"] == b"499"
    assert int(kept[0][1][b"garbage"]) == 500 - len(kept)


async def test_a_published_stream_is_trimmed_once_the_groups_reading_it_have_acknowledged(
    redis_client: redis.Redis, redis_url: str
) -> None:
    service = make_service(redis_url, trim_poll_s=0.05, stream_retention_s=0)
    service.publishes(AnswerDrafted, QueryReceived)
    partner_stream, unread_stream = AnswerDrafted.stream, QueryReceived.stream
    for _ in range(4):
        redis_client.xadd(partner_stream, {"n": "1"})
        redis_client.xadd(unread_stream, {"n": "1"})
    redis_client.xgroup_create(partner_stream, "partner", id="0")
    read = redis_client.xreadgroup("partner", "p-1", {partner_stream: ">"}, count=3)
    redis_client.xack(partner_stream, "partner", *(entry_id for entry_id, _ in read[0][1][:2]))
    async with running(service):
        await eventually(lambda: redis_client.xlen(partner_stream) == 2)  # the partner's pending one on
        await asyncio.sleep(0.3)
    assert redis_client.xlen(partner_stream) == 2
    assert redis_client.xlen(unread_stream) == 4, "a stream no group reads is left as it is"
