"""Erasing a user: the gateway's part, and the record of every service's confirmation.

``DELETE /v1/users/{id}`` opens the erasure's record and publishes ``ErasureRequested``. Each service in
``ERASURE_SERVICES`` deletes what it holds and answers ``ErasureCompleted``; the gateway records each
answer, and ``GET /v1/users/{id}/erasure`` shows who has confirmed. The gateway's own part: the entries
naming the user in the streams that enter through it (queries, purchases, consent changes, and their
dead letters) and the stored results of the user's requests. Once every service has confirmed, the
erasure's own events are scrubbed too: the record that remains (under a digest of the user id) says
what was erased and when, and names no one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import orjson
from lingxi.erasure import scrub_streams
from lingxi.events.assistant import QueryReceived
from lingxi.events.personalization import ConsentChanged, PurchaseRecorded
from lingxi.events.user import ERASURE_SERVICES, ErasureCompleted, ErasureRequested, erasure_status_key
from lingxi.runtime import HandlerContext, Service
from redis.asyncio import Redis

from lingxi_gateway.results import ResultStore

__all__ = ["ERASURE_RECORD_TTL_S", "INBOUND_USER_STREAMS", "ErasureLedger", "register_erasure"]

INBOUND_USER_STREAMS = (QueryReceived.stream, PurchaseRecorded.stream, ConsentChanged.stream)
"""The streams whose events name a user and enter through the gateway (or from partners beside it)."""
ERASURE_RECORD_TTL_S = 3 * 365 * 24 * 3600
"""How long the record of an erasure is kept: proof for an auditor that a request was carried out."""


class ErasureLedger:
    """One hash per erasure (``erasure_status_key``): when it was asked, and each service's answer."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def open(self, user_id: str, request: ErasureRequested) -> None:
        key = erasure_status_key(user_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)  # asked again: a new erasure, confirmed afresh
            pipe.hset(
                key,
                mapping={"requested_at": request.occurred_at.isoformat(), "event_id": str(request.event_id)},
            )
            pipe.expire(key, ERASURE_RECORD_TTL_S)
            await pipe.execute()

    async def confirm(self, done: ErasureCompleted) -> bool:
        """Record one service's answer; True once every service in ``ERASURE_SERVICES`` has answered."""
        key = erasure_status_key(done.user_id)
        answer = {"completed_at": done.occurred_at.isoformat(), "erased_keys": done.erased_keys}
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, f"service:{done.service}", orjson.dumps(answer))
            pipe.expire(key, ERASURE_RECORD_TTL_S)
            pipe.hgetall(key)
            replies = await pipe.execute()
        return all(f"service:{name}".encode() in replies[2] for name in ERASURE_SERVICES)

    async def status(self, user_id: str) -> dict[str, Any] | None:
        """What ``GET /v1/users/{id}/erasure`` shows; None when no erasure was asked."""
        raw = await self.redis.hgetall(erasure_status_key(user_id))
        if not raw:
            return None
        record = {_text(k): _text(v) for k, v in raw.items()}
        services: dict[str, Any] = {}
        for name in ERASURE_SERVICES:
            answer = record.get(f"service:{name}")
            services[name] = (
                {"status": "completed", **orjson.loads(answer)} if answer else {"status": "pending"}
            )
        return {
            "requested_at": record.get("requested_at"),
            "services": services,
            "complete": all(s["status"] == "completed" for s in services.values()),
        }


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def register_erasure(
    service: Service,
    results: ResultStore,
    ledger: ErasureLedger,
    forget_rate_counts: Callable[[str], Awaitable[None]],
) -> None:
    """Subscribe the gateway's two erasure handlers. ``forget_rate_counts(user_id)`` deletes the
    user's rate-limit counters (their keys are derived from the user's id)."""

    @service.consumer(ErasureRequested)
    async def erase_gateway_data(request: ErasureRequested, ctx: HandlerContext) -> None:
        removed = await scrub_streams(service.redis, INBOUND_USER_STREAMS, request.user_id)
        requests = {UUID(e["request_id"]) for e in removed if isinstance(e.get("request_id"), str)}
        forgotten = await results.forget(requests)
        await forget_rate_counts(request.user_id)
        completed = ErasureCompleted(
            region=request.region, user_id=request.user_id, service=service.name, erased_keys=forgotten
        )
        service.log.info("gateway data erased", entries=len(removed), results=forgotten)
        await ctx.publish(completed, cause=request)

    @service.consumer(ErasureCompleted)
    async def record_confirmation(done: ErasureCompleted, ctx: HandlerContext) -> None:
        if await ledger.confirm(done):
            # Everyone has answered: the erasure's own events are the last to name the user.
            await scrub_streams(
                service.redis, (ErasureRequested.stream, ErasureCompleted.stream), done.user_id
            )
