"""The feature approval registry in Redis: compliance is its only writer (see ``lingxi.features`` for
the readers).

One change request is one optimistic transaction: ``WATCH`` the pair's record, decide
(:func:`.features.decide`), then in one ``MULTI`` write the record, bump the version counter the
readers watch and store the request's outcome. Two compliance replicas deciding on the same feature
at once cannot both win: the loser's transaction fails and it decides again on the new record.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import yaml
from lingxi.events import Region
from lingxi.events._values import DottedCode
from lingxi.events.compliance import (
    FEATURE_OUTCOME_TTL_S,
    FEATURE_REGISTRY_KEY,
    FEATURE_REGISTRY_VERSION_KEY,
    FeatureChangeOutcome,
    FeatureChangeRequested,
    FeatureRecord,
    FeatureStatus,
    FilingNumber,
    feature_outcome_key,
)
from lingxi.features import parse_records
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from redis.asyncio import Redis
from redis.exceptions import WatchError

from lingxi_compliance.features import Applied, Rejected, decide

_MAX_ATTEMPTS = 50


class FeatureRegistry:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def records(self) -> list[FeatureRecord]:
        raw = await self._redis.hgetall(FEATURE_REGISTRY_KEY)
        return sorted(parse_records(raw).values(), key=lambda r: (r.feature, r.region.value))

    async def record(self, feature: str, region: str) -> FeatureRecord | None:
        raw = await self._redis.hget(FEATURE_REGISTRY_KEY, FeatureRecord.field_name(feature, region))
        return FeatureRecord.model_validate_json(raw) if raw else None

    async def apply(self, request: FeatureChangeRequested) -> Applied | Rejected:
        """Decide on ``request`` and record the result (record, version, outcome) atomically."""
        field = FeatureRecord.field_name(request.feature, request.region.value)
        for _ in range(_MAX_ATTEMPTS):
            async with self._redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(FEATURE_REGISTRY_KEY)
                    raw = await pipe.hget(FEATURE_REGISTRY_KEY, field)
                    record = FeatureRecord.model_validate_json(raw) if raw else None
                    now = datetime.now(UTC)
                    decision = decide(record, request, now)
                    outcome = FeatureChangeOutcome(
                        request_id=request.event_id,
                        feature=request.feature,
                        region=request.region,
                        status=request.status,
                        outcome="applied" if isinstance(decision, Applied) else "rejected",
                        reason=decision.reason if isinstance(decision, Rejected) else None,
                        decided_at=now,
                    )
                    pipe.multi()  # type: ignore[no-untyped-call]
                    if isinstance(decision, Applied) and not decision.repeated:
                        pipe.hset(FEATURE_REGISTRY_KEY, field, decision.record.model_dump_json())
                        pipe.incr(FEATURE_REGISTRY_VERSION_KEY)
                    pipe.set(
                        feature_outcome_key(request.event_id),
                        outcome.model_dump_json(),
                        ex=FEATURE_OUTCOME_TTL_S,
                    )
                    await pipe.execute()
                    return decision
                except WatchError:
                    continue  # another replica changed the registry meanwhile: decide again
        raise RuntimeError(f"feature registry too busy: {field} not updated after {_MAX_ATTEMPTS} tries")


# --- approvals declared in a file, applied once --------------------------------------------------


class SeedApproval(BaseModel):
    model_config = ConfigDict(extra="forbid")

    feature: DottedCode
    region: Region
    status: FeatureStatus = FeatureStatus.APPROVED
    filing_number: FilingNumber | None = None
    note: str | None = None


class SeedFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    features: Annotated[list[SeedApproval], Field(min_length=1)]


DEV_SEED = Path(__file__).parent / "data" / "approvals.dev.yaml"
"""Development approvals (``LINGXI_COMPLIANCE_APPROVALS_SEED=dev``): every feature approved in CN
under a placeholder filing number. Never for production."""


def load_seed(source: str) -> list[SeedApproval]:
    """The approvals of a seed file (``dev`` for the packaged development one); a clear error otherwise."""
    path = DEV_SEED if source == "dev" else Path(source)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return SeedFile.model_validate(data).features
    except OSError as error:
        raise ValueError(f"approvals seed {path}: cannot read it ({error.strerror})") from error
    except yaml.YAMLError as error:
        raise ValueError(f"approvals seed {path}: not valid YAML ({error})") from error
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in error.errors()
        )
        raise ValueError(f"approvals seed {path}: {problems}") from error


def seed_requests(seed: list[SeedApproval], known: set[str], now: datetime) -> list[FeatureChangeRequested]:
    """Change requests for the seed entries whose pair the registry has never seen (``known``: record
    fields): a seed starts a registry, it never overrides what an operator did since."""
    return [
        FeatureChangeRequested(
            region=entry.region,
            feature=entry.feature,
            status=entry.status,
            filing_number=entry.filing_number,
            effective_at=now,
            requested_by="service:compliance",
            note=entry.note or "approvals seed",
        )
        for entry in seed
        if FeatureRecord.field_name(entry.feature, entry.region.value) not in known
    ]
