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


class ResultStore:
    def __init__(self, redis: Redis, ttl_s: int) -> None:
        self.redis = redis
        self.ttl_s = ttl_s

    async def create_pending(self, request_id: UUID, kind: str) -> None:
        record = {"request_id": str(request_id), "kind": kind, "status": "pending", "created_at": _now()}
        await self.redis.set(_key(request_id), json.dumps(record), ex=self.ttl_s)

    async def complete(
        self, request_id: UUID, kind: str, status: RequestStatus, result: dict[str, Any]
    ) -> None:
        # A request published straight to the stream has no pending record: results are kept anyway.
        record = await self.get(request_id) or {"request_id": str(request_id), "kind": kind}
        record.update(status=status, result=result, completed_at=_now())
        await self.redis.set(_key(request_id), json.dumps(record, ensure_ascii=False), ex=self.ttl_s)
        await self.redis.publish(DONE_CHANNEL, str(request_id))

    async def get(self, request_id: UUID) -> dict[str, Any] | None:
        raw = await self.redis.get(_key(request_id))
        if raw is None:
            return None
        record: dict[str, Any] = json.loads(raw)
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


def _now() -> str:
    return datetime.now(UTC).isoformat()
