"""Sending simulated readings to a running Lingxi: through the gateway (``POST /v1/telemetry``) or straight
onto the ``TelemetryBatchReceived`` stream, at a given rate.

Both destinations sit behind one small interface (``Publisher.send``: batches in, accepted and rejected
counts out); ``publish`` paces the readings with a token bucket and hands them over a few batches at a
time. Used by ``lingxi simulate telemetry --publish``; the I/O lives here so the command stays thin.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import httpx
import orjson
import redis
from lingxi.events.base import Region
from lingxi.events.maintenance import MAX_TELEMETRY_BATCH, TelemetryBatchReceived, TelemetryReading
from lingxi.runtime.delivery import stream_entry
from pydantic import ValidationError

__all__ = [
    "MAX_GATEWAY_BATCH",
    "GatewayPublisher",
    "Outgoing",
    "PublishError",
    "Publisher",
    "Sent",
    "StreamPublisher",
    "Tally",
    "TokenBucket",
    "publish",
]

MAX_GATEWAY_BATCH = 500
"""Most readings the gateway takes in one request."""

READINGS_PER_PIPELINE = 10_000
"""Readings the stream writer sends in one pipeline (a few MB), when the rate leaves room for that many."""

PACING_WINDOW_S = 0.25
"""At a set rate, a send holds at most about this much time's worth of readings, so the pace stays even."""

MAX_RETRIES = 30
"""Consecutive 429/503 answers to one request before giving up."""
MAX_BACKOFF_S = 5.0


class PublishError(Exception):
    """Publishing cannot go on (destination unreachable, a refusal no retry fixes); the message says why."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One reading to send: its JSON fields (``TelemetryReading``) and when it reached Lingxi in the
    simulation (a stream batch's ``occurred_at`` is its last reading's)."""

    reported_at: datetime
    reading: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Sent:
    """What became of the readings of one ``send``."""

    accepted: int
    rejected: int
    reasons: Counter[str] = field(default_factory=Counter)
    retries: int = 0


class Publisher(Protocol):
    """A destination for batches of readings."""

    destination: str
    """Where the readings go, for messages (no password)."""
    max_batch: int
    """Most readings in one batch (one request, one stream entry)."""
    batches_per_send: int
    """How many batches ``send`` best takes at once (a pipeline's worth for the stream)."""

    def send(self, batches: Sequence[Sequence[Outgoing]]) -> Sent:
        """Deliver each batch; raises ``PublishError`` when publishing cannot go on."""
        ...

    def close(self) -> None: ...


class GatewayPublisher:
    """``POST /v1/telemetry``, one request a batch, over one kept-alive connection. 429 and 503 are
    retried after their ``Retry-After`` (or a short doubling back-off); the counts come from the answers."""

    max_batch = MAX_GATEWAY_BATCH
    batches_per_send = 1

    def __init__(
        self,
        base_url: str,
        region: Region,
        *,
        token: str,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``token``: an operator's admin token (a fleet's batches mix many devices)."""
        self.url = base_url.rstrip("/") + "/v1/telemetry"
        self._headers = {**_JSON, "Authorization": f"Bearer {token}"}
        self.destination = f"the gateway at {base_url.rstrip('/')}"
        self.region = region
        self._client = client or httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0))
        self._sleep = sleep

    def send(self, batches: Sequence[Sequence[Outgoing]]) -> Sent:
        accepted = rejected = retries = 0
        reasons: Counter[str] = Counter()
        for batch in batches:
            answer, tries = self._post({"region": self.region.value, "readings": [o.reading for o in batch]})
            retries += tries
            accepted += int(answer["accepted"])
            rejected += len(answer["rejected"])
            reasons.update(str(r.get("reason", "?")) for r in answer["rejected"])
        return Sent(accepted, rejected, reasons, retries)

    def _post(self, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """The gateway's answer to one batch (202, or 422 with every reading rejected), and the retries."""
        backoff = 0.25
        content = orjson.dumps(body)
        for attempt in range(MAX_RETRIES + 1):
            try:
                response = self._client.post(self.url, content=content, headers=self._headers)
            except httpx.TransportError as error:
                reason = str(error).strip() or type(error).__name__
                raise PublishError(f"cannot reach {self.destination}: {reason}") from None
            if response.status_code in (429, 503):
                self._sleep(_retry_after(response) or backoff)
                backoff = min(MAX_BACKOFF_S, backoff * 2)
                continue
            answer = _json_or_none(response)
            if response.status_code in (202, 422) and isinstance(answer, dict) and "accepted" in answer:
                return answer, attempt
            raise PublishError(_refusal(self.destination, response, answer))
        raise PublishError(
            f"{self.destination} answered 429/503 (busy) {MAX_RETRIES + 1} times in a row; gave up"
        )

    def close(self) -> None:
        self._client.close()


_JSON = {"content-type": "application/json"}


def _retry_after(response: httpx.Response) -> float | None:
    """The ``Retry-After`` seconds (capped: a short back-off, never an hour's wait), if it is a number."""
    try:
        return min(MAX_BACKOFF_S, max(0.0, float(response.headers.get("Retry-After", ""))))
    except ValueError:
        return None


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _refusal(destination: str, response: httpx.Response, answer: Any) -> str:
    """A refusal no retry fixes, in one line: the status and what the gateway said."""
    detail = answer.get("detail") if isinstance(answer, dict) else None
    said = json.dumps(detail, ensure_ascii=False) if detail is not None else response.text.strip()
    hint = {413: " (lower --batch)", 451: " (approve maintenance in that region: lingxi features)"}
    hinted = hint.get(response.status_code, "")
    return f"{destination} refused a batch: {response.status_code} {said[:300]}{hinted}"


class StreamPublisher:
    """``TelemetryBatchReceived`` entries (the envelope every service writes) added straight to the
    stream, as the gateway would, a pipeline of entries at a time. Each batch is validated as consumers
    validate it; a reading that fails is left out and counted as rejected, the rest still go."""

    max_batch = MAX_TELEMETRY_BATCH
    batches_per_send = 100
    """Entries a pipeline may hold; ``publish`` also keeps it to ``READINGS_PER_PIPELINE`` readings."""

    def __init__(self, client: redis.Redis, region: Region, destination: str) -> None:
        self._redis = client
        self.region = region
        self.destination = destination

    def send(self, batches: Sequence[Sequence[Outgoing]]) -> Sent:
        pipeline = self._redis.pipeline(transaction=False)
        accepted = rejected = 0
        reasons: Counter[str] = Counter()
        for batch in batches:
            event, refused = self._event(batch)
            rejected += len(refused)
            reasons.update(refused)
            if event is not None:
                accepted += len(event.readings)
                pipeline.xadd(event.stream, stream_entry(event, str(event.event_id)))  # type: ignore[arg-type]
        try:
            pipeline.execute()
        except redis.RedisError as error:
            reason = str(error).strip().rstrip(".") or type(error).__name__
            raise PublishError(f"cannot write to {self.destination}: {reason}") from None
        return Sent(accepted, rejected, reasons)

    def _event(self, batch: Sequence[Outgoing]) -> tuple[TelemetryBatchReceived | None, list[str]]:
        """The batch as one event, and the reasons of the readings left out of it."""
        occurred_at = max(o.reported_at for o in batch)
        body = {
            "occurred_at": occurred_at.isoformat(),
            "region": self.region.value,
            "readings": [o.reading for o in batch],
        }
        try:
            return TelemetryBatchReceived.model_validate_json(orjson.dumps(body)), []
        except ValidationError:
            pass  # rare: find the readings at fault, one by one
        good: list[TelemetryReading] = []
        refused: list[str] = []
        for outgoing in batch:
            try:
                good.append(TelemetryReading.model_validate_json(orjson.dumps(outgoing.reading)))
            except ValidationError as error:
                first = error.errors(include_url=False)[0]
                refused.append(f"{'.'.join(map(str, first['loc']))}: {first['msg']}")
        if not good:
            return None, refused
        return TelemetryBatchReceived(occurred_at=occurred_at, region=self.region, readings=good), refused

    def close(self) -> None:
        self._redis.close()


class TokenBucket:
    """Paces sends to ``rate`` readings a second (0: no limit). It starts empty and holds at most a
    second's worth, so readings sent by any moment never exceed ``rate`` times the time since it began,
    and a stall (a back-off) is not followed by a burst of more than a second's worth."""

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate < 0:
            raise ValueError(f"rate must be 0 (no limit) or more, got {rate}")
        self.rate = rate
        self._clock, self._sleep = clock, sleep
        self._tokens = 0.0
        self._last = clock()

    def take(self, count: int) -> None:
        """Wait until ``count`` readings may go, and spend them."""
        if self.rate == 0:
            return
        capacity = max(float(count), self.rate)
        while True:
            now = self._clock()
            self._tokens = min(capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= count:
                self._tokens -= count
                return
            self._sleep((count - self._tokens) / self.rate)


@dataclass
class Tally:
    """Running totals of a publishing run (kept up to date, so an interrupted run can still report)."""

    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    retries: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def add(self, count: int, sent: Sent) -> None:
        self.sent += count
        self.accepted += sent.accepted
        self.rejected += sent.rejected
        self.retries += sent.retries
        self.reasons.update(sent.reasons)


def _chunks(items: Iterable[Outgoing], size: int) -> Iterator[list[Outgoing]]:
    chunk: list[Outgoing] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def publish(
    readings: Iterable[Outgoing],
    publisher: Publisher,
    *,
    rate: float = 0.0,
    batch: int = MAX_GATEWAY_BATCH,
    tally: Tally | None = None,
    on_progress: Callable[[Tally], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Tally:
    """Send ``readings`` in batches of ``batch`` at ``rate`` readings a second (0: as fast as the
    destination takes them); ``on_progress`` sees the totals after each send. Raises ``PublishError``."""
    if not 1 <= batch <= publisher.max_batch:
        raise ValueError(f"batch must be between 1 and {publisher.max_batch} readings, got {batch}")
    tally = tally if tally is not None else Tally()
    bucket = TokenBucket(rate, clock, sleep)
    per_send = max(1, min(publisher.batches_per_send, READINGS_PER_PIPELINE // batch))
    if rate > 0:  # keep each send to a short window's worth, so the pace stays even
        per_send = max(1, min(per_send, int(rate * PACING_WINDOW_S) // batch))
    for group in _chunks(readings, batch * per_send):
        bucket.take(len(group))
        batches = [group[i : i + batch] for i in range(0, len(group), batch)]
        tally.add(len(group), publisher.send(batches))
        if on_progress is not None:
            on_progress(tally)
    return tally
