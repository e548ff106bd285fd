"""Where results wait for the device: a Redis key per request, plus a notification to every replica.

With several gateway replicas the one that consumed a result is usually not the one holding the HTTP
request that waits for it. The consuming replica stores the result, then publishes the request id on
one pub/sub channel; every replica listens on that channel with a single connection and hands the
result to the waits it holds (the notification carries the record, so a woken request needs no
second read). The stored key is the source of truth: a missed notification only delays a wait until
its timeout, after which the client polls ``GET /v1/requests/{id}``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

import orjson
from lingxi.logging import get_logger
from lingxi.runtime.tasks import stop_task
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

RequestStatus = Literal["pending", "released", "blocked", "failed"]

DONE_CHANNEL = "lingxi:requests:done"
_log = get_logger("lingxi.gateway.results")


def _key(request_id: UUID) -> str:
    return f"lingxi:requests:{request_id}"


@dataclass(frozen=True)
class Completion:
    request_id: UUID
    kind: str
    status: RequestStatus
    result: dict[str, Any]
    device_id: str


class ResultStore:
    """One Redis hash per request (request_id, kind, status, device_id, created_at, completed_at, result)."""

    def __init__(self, redis: Redis, ttl_s: int) -> None:
        self.redis = redis
        self.ttl_s = ttl_s

    def stage_pending(self, pipe: Pipeline, request_id: UUID, kind: str, device_id: str) -> None:
        """Queue the pending record on ``pipe``; queue the event's publish after it on the same pipe,
        so the record exists before any result can complete it. ``device_id``: the device that may
        read it."""
        record = {
            "request_id": str(request_id),
            "kind": kind,
            "status": "pending",
            "created_at": _now(),
            "device_id": device_id,
        }
        pipe.hset(_key(request_id), mapping=record)  # type: ignore[arg-type]
        pipe.expire(_key(request_id), self.ttl_s)

    async def complete(self, completions: Sequence[Completion]) -> None:
        """Store results and wake the waiting replicas, in one round trip however many there are.

        Idempotent: storing a result twice leaves the same record. A request published straight to
        the stream has no pending record; its result is kept anyway.
        """
        async with self.redis.pipeline(transaction=False) as pipe:
            for done in completions:
                key = _key(done.request_id)
                record = {
                    "request_id": str(done.request_id),
                    "kind": done.kind,
                    "status": done.status,
                    "completed_at": _now(),
                    "result": orjson.dumps(done.result).decode(),
                }
                pipe.hsetnx(key, "created_at", _now())
                # Published straight to the stream, a request has no pending record: its device owns it.
                pipe.hsetnx(key, "device_id", done.device_id)
                pipe.hset(key, mapping=record)  # type: ignore[arg-type]
                pipe.expire(key, self.ttl_s)
                pipe.publish(DONE_CHANNEL, orjson.dumps(record))
            await pipe.execute()

    async def forget(self, request_ids: Collection[UUID]) -> int:
        """Delete the stored results of these requests (a user's erasure); returns how many there were."""
        if not request_ids:
            return 0
        return int(await self.redis.delete(*(_key(r) for r in request_ids)))

    async def get(self, request_id: UUID) -> dict[str, Any] | None:
        raw = await self.redis.hgetall(_key(request_id))
        if not raw:
            return None
        return _parsed({_text(k): _text(v) for k, v in raw.items()})


class ResultWaiter:
    """One pub/sub subscription per replica that hands finished results to the local waits."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._waits: dict[str, set[asyncio.Future[dict[str, Any] | None]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="result-waiter")

    async def stop(self) -> None:
        # Shutting down: let every wait answer now (202 with its request id) rather than be cut off.
        for waits in self._waits.values():
            for done in waits:
                if not done.done():
                    done.set_result(None)
        await stop_task(self._task)

    @contextlib.contextmanager
    def expecting(self, request_id: UUID) -> Iterator[asyncio.Future[dict[str, Any] | None]]:
        """Register interest before publishing, so a fast result cannot slip past the wait.

        The future resolves to the finished record, or to None when the replica shuts down.
        """
        done: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        self._waits.setdefault(str(request_id), set()).add(done)
        try:
            yield done
        finally:
            waits = self._waits.get(str(request_id))
            if waits is not None:
                waits.discard(done)
                if not waits:
                    del self._waits[str(request_id)]

    def _deliver(self, payload: bytes) -> None:
        record = _parsed(orjson.loads(payload))
        for done in self._waits.get(record["request_id"], ()):
            if not done.done():
                done.set_result(record)

    async def _listen(self) -> None:
        while True:
            try:
                async with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(DONE_CHANNEL)
                    async for message in pubsub.listen():
                        try:
                            self._deliver(message["data"])
                        except (ValueError, KeyError, TypeError):
                            _log.warning("unreadable result notification ignored")
            except asyncio.CancelledError:
                raise
            except Exception:
                _log.warning("result notifications interrupted; resubscribing", exc_info=True)
                # Waits in flight fall back to their timeout; the store still has every result.
                await asyncio.sleep(0.5)


def _parsed(record: dict[str, Any]) -> dict[str, Any]:
    """A stored or notified record with its result decoded."""
    if isinstance(record.get("result"), str):
        record["result"] = orjson.loads(record["result"])
    return record


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _now() -> str:
    return datetime.now(UTC).isoformat()
