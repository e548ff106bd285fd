"""Where results wait for the device: a Redis key per request, plus a notification to every replica.

With several gateway replicas the one that consumed a result is usually not the one holding the HTTP
request that waits for it. The consuming replica stores the result, then publishes the request id on
one pub/sub channel; every replica listens on that channel with a single connection and wakes the
waits it holds. The stored key is the source of truth: a missed notification only delays a wait
until its timeout, after which the client polls ``GET /v1/requests/{id}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from lingxi.logging import get_logger
from redis.asyncio import Redis

RequestStatus = Literal["pending", "released", "blocked"]

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


class ResultStore:
    """One Redis hash per request (request_id, kind, status, created_at, completed_at, result)."""

    def __init__(self, redis: Redis, ttl_s: int) -> None:
        self.redis = redis
        self.ttl_s = ttl_s

    async def create_pending(self, request_id: UUID, kind: str) -> None:
        record = {"request_id": str(request_id), "kind": kind, "status": "pending", "created_at": _now()}
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(_key(request_id), mapping=record)  # type: ignore[arg-type]
            pipe.expire(_key(request_id), self.ttl_s)
            await pipe.execute()

    async def complete(self, completions: Sequence[Completion]) -> None:
        """Store results and wake the waiting replicas, in one round trip however many there are.

        Idempotent: storing a result twice leaves the same record. A request published straight to
        the stream has no pending record; its result is kept anyway.
        """
        async with self.redis.pipeline(transaction=False) as pipe:
            for done in completions:
                key = _key(done.request_id)
                pipe.hsetnx(key, "created_at", _now())
                pipe.hset(
                    key,
                    mapping={
                        "request_id": str(done.request_id),
                        "kind": done.kind,
                        "status": done.status,
                        "completed_at": _now(),
                        "result": json.dumps(done.result, ensure_ascii=False),
                    },
                )
                pipe.expire(key, self.ttl_s)
                pipe.publish(DONE_CHANNEL, str(done.request_id))
            await pipe.execute()

    async def get(self, request_id: UUID) -> dict[str, Any] | None:
        raw = await self.redis.hgetall(_key(request_id))
        if not raw:
            return None
        record: dict[str, Any] = {_text(k): _text(v) for k, v in raw.items()}
        if "result" in record:
            record["result"] = json.loads(record["result"])
        return record


class ResultWaiter:
    """One pub/sub subscription per replica that wakes the local waits for finished requests."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._waits: dict[str, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="result-waiter")

    async def stop(self) -> None:
        # Shutting down: let every wait answer now (202 with its request id) rather than be cut off.
        for waits in self._waits.values():
            for done in waits:
                done.set()
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @contextlib.contextmanager
    def expecting(self, request_id: UUID) -> Any:
        """Register interest before publishing, so a fast result cannot slip past the wait."""
        done = asyncio.Event()
        self._waits.setdefault(str(request_id), set()).add(done)
        try:
            yield done
        finally:
            waits = self._waits.get(str(request_id))
            if waits is not None:
                waits.discard(done)
                if not waits:
                    del self._waits[str(request_id)]

    async def _listen(self) -> None:
        while True:
            try:
                async with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(DONE_CHANNEL)
                    async for message in pubsub.listen():
                        request_id = message["data"].decode()
                        for done in self._waits.get(request_id, ()):
                            done.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                _log.warning("result notifications interrupted; resubscribing", exc_info=True)
                # Waits in flight fall back to their timeout; the store still has every result.
                await asyncio.sleep(0.5)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _now() -> str:
    return datetime.now(UTC).isoformat()
