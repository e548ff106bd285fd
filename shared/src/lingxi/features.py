"""Reading the feature approval registry that compliance keeps in Redis (``FEATURE_REGISTRY_KEY``).

Every gateway replica must see every change, so the registry is not a stream a consumer group shares
out: each reader holds the whole registry in memory and reloads it when the version counter
compliance increments with each change has moved. It looks at the counter every ``refresh_s``
(0.25 s: a change reaches every replica well within a second, for one ``GET`` per replica per tick),
and once more before it refuses anything, so a change made a moment ago is never missed.

Decisions are taken against the time of the request, so a change scheduled ahead (an approval that
takes effect on the 1st) needs no timer: it is in the records already and starts holding on its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from lingxi.events.compliance import (
    FEATURE_REGISTRY_KEY,
    FEATURE_REGISTRY_VERSION_KEY,
    FeatureChangeOutcome,
    FeatureChangeRequested,
    FeatureRecord,
    FeatureStatus,
    feature_outcome_key,
)
from lingxi.logging import get_logger
from lingxi.runtime.tasks import stop_task

_log = get_logger("lingxi.features")


@dataclass(frozen=True, slots=True)
class Standing:
    """Where a feature stands in a region at one moment."""

    feature: str
    region: str
    status: FeatureStatus | None
    """None: never filed in this region."""
    filing_number: str | None

    @property
    def approved(self) -> bool:
        return self.status is FeatureStatus.APPROVED

    @property
    def status_name(self) -> str:
        return self.status.value if self.status else "not_filed"


def parse_records(raw: Mapping[bytes | str, bytes | str]) -> dict[str, FeatureRecord]:
    """The registry hash as records by field; a malformed record is logged and left out (so refused)."""
    records: dict[str, FeatureRecord] = {}
    for field, value in raw.items():
        name = field.decode() if isinstance(field, bytes) else field
        try:
            records[name] = FeatureRecord.model_validate_json(value)
        except ValidationError as error:
            _log.error("malformed feature record ignored", field=name, errors=error.error_count())
    return records


class FeatureRegistryView:
    """An in-memory copy of the registry, kept fresh by polling its version counter."""

    def __init__(self, redis: Redis, *, refresh_s: float = 0.25) -> None:
        self._redis = redis
        self.refresh_s = refresh_s
        self._version: bytes | None = None
        self._loaded = False
        self.records: dict[str, FeatureRecord] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.create_task(self._poll(), name="feature-registry-refresh")

    async def stop(self) -> None:
        await stop_task(self._task)

    async def refresh(self) -> bool:
        """Reload if the registry changed since the last load; whether it did."""
        version = await self._redis.get(FEATURE_REGISTRY_VERSION_KEY)
        if self._loaded and version == self._version:
            return False
        # Read the counter and the hash together, so the version kept matches the records kept.
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(FEATURE_REGISTRY_VERSION_KEY)
            pipe.hgetall(FEATURE_REGISTRY_KEY)
            version, raw = await pipe.execute()
        self.records = parse_records(raw)
        self._version, self._loaded = version, True
        return True

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                await self.refresh()
            except RedisError as error:  # keep the last copy; the next tick tries again
                _log.warning("feature registry refresh failed", error=type(error).__name__)

    def standing(self, feature: str, region: str, now: datetime | None = None) -> Standing:
        """From the copy in memory, without a round trip."""
        record = self.records.get(FeatureRecord.field_name(feature, region))
        change = record.in_effect(now or datetime.now(UTC)) if record else None
        if change is None:
            return Standing(feature, region, None, None)
        return Standing(feature, region, change.status, change.filing_number)

    async def check(self, feature: str, region: str) -> Standing:
        """``standing`` now; before answering "not approved", make sure the copy is current."""
        found = self.standing(feature, region)
        if not found.approved and await self.refresh():
            found = self.standing(feature, region)
        return found


async def request_change(
    redis: Redis, request: FeatureChangeRequested, *, wait_s: float, poll_s: float = 0.05
) -> FeatureChangeOutcome | None:
    """Publish a change request for compliance and wait up to ``wait_s`` for its outcome (``None``:
    not decided yet, e.g. no compliance replica running). The request's ``event_id`` names it."""
    from lingxi.runtime.delivery import stream_entry  # the runtime imports FastStream: only here

    await redis.xadd(request.stream, stream_entry(request, str(request.event_id)))  # type: ignore[arg-type]
    return await wait_for_outcome(redis, request.event_id, wait_s=wait_s, poll_s=poll_s)


async def wait_for_outcome(
    redis: Redis, request_id: UUID, *, wait_s: float, poll_s: float = 0.05
) -> FeatureChangeOutcome | None:
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        raw = await redis.get(feature_outcome_key(request_id))
        if raw:
            return FeatureChangeOutcome.model_validate_json(raw)
        if asyncio.get_running_loop().time() >= deadline:
            return None
        await asyncio.sleep(poll_s)


def summaries(
    records: Iterable[FeatureRecord], now: datetime, region: str | None = None
) -> list[dict[str, Any]]:
    """Each feature and region (of ``region`` only, if given) as JSON-ready values: the status now
    (``not_filed`` before anything took effect), its filing number, since when, and the changes
    scheduled ahead. Sorted by feature, then region. What the admin API and ``lingxi features list``
    show."""
    rows: list[dict[str, Any]] = []
    for record in sorted(records, key=lambda r: (r.feature, r.region.value)):
        if region is not None and record.region.value != region:
            continue
        current = record.in_effect(now)
        rows.append(
            {
                "feature": record.feature,
                "region": record.region.value,
                "status": current.status.value if current else "not_filed",
                "filing_number": current.filing_number if current else None,
                "since": current.effective_at.isoformat() if current else None,
                "scheduled": [
                    {
                        "status": c.status.value,
                        "effective_at": c.effective_at.isoformat(),
                        "filing_number": c.filing_number,
                    }
                    for c in record.scheduled(now)
                ],
            }
        )
    return rows
