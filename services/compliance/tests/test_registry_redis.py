"""The approval registry on a real Redis: atomic decisions, replicas racing, the readers' view, seeds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from lingxi.events import Region
from lingxi.events.compliance import (
    FEATURE_REGISTRY_VERSION_KEY,
    FeatureChangeRequested,
    FeatureStatus,
)
from lingxi.features import FeatureRegistryView, wait_for_outcome
from lingxi_compliance.features import Applied, Rejected
from lingxi_compliance.registry import DEV_SEED, FeatureRegistry, load_seed, seed_requests
from redis.asyncio import Redis


@pytest.fixture
async def store(redis_client: redis.Redis, redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def ask(status: FeatureStatus, region: Region = Region.CN, **fields: object) -> FeatureChangeRequested:
    return FeatureChangeRequested(
        region=region,
        feature="assistant",
        status=status,
        filing_number=fields.pop("filing_number", "F-1"),  # type: ignore[arg-type]
        effective_at=fields.pop("effective_at", datetime.now(UTC)),  # type: ignore[arg-type]
        requested_by="admin:ops",
    )


async def test_a_decision_writes_the_record_the_version_and_the_outcome_together(store: Redis) -> None:
    registry = FeatureRegistry(store)
    request = ask(FeatureStatus.APPROVED)
    assert isinstance(await registry.apply(request), Applied)
    record = await registry.record("assistant", "CN")
    assert record is not None
    assert record.approved_at(datetime.now(UTC))
    assert await store.get(FEATURE_REGISTRY_VERSION_KEY) == b"1"
    outcome = await wait_for_outcome(store, request.event_id, wait_s=0)
    assert outcome is not None
    assert outcome.outcome == "applied"

    refused = ask(FeatureStatus.FILED)
    assert isinstance(await registry.apply(refused), Rejected)
    assert await store.get(FEATURE_REGISTRY_VERSION_KEY) == b"1", "a rejection changes nothing"
    outcome = await wait_for_outcome(store, refused.event_id, wait_s=0)
    assert outcome is not None
    assert outcome.outcome == "rejected"
    assert "approved" in (outcome.reason or "")

    assert isinstance(await registry.apply(request), Applied), "a redelivered request is applied once"
    assert await store.get(FEATURE_REGISTRY_VERSION_KEY) == b"1"


async def test_replicas_deciding_at_once_keep_one_line_of_history(redis_url: str, store: Redis) -> None:
    clients = [Redis.from_url(redis_url) for _ in range(4)]
    try:
        start = datetime.now(UTC)
        first = ask(FeatureStatus.FILED, effective_at=start)
        await FeatureRegistry(store).apply(first)
        # Four replicas each try to approve the filed feature at once: exactly one wins; the others
        # decide again on the approved record and are told it is approved already.
        requests = [ask(FeatureStatus.APPROVED, effective_at=start + timedelta(seconds=1)) for _ in clients]
        decisions = await asyncio.gather(
            *(FeatureRegistry(c).apply(r) for c, r in zip(clients, requests, strict=True))
        )
        assert sum(isinstance(d, Applied) for d in decisions) == 1
        assert all("is approved" in d.reason for d in decisions if isinstance(d, Rejected))
        record = await FeatureRegistry(store).record("assistant", "CN")
        assert record is not None
        assert [c.status for c in record.changes] == [FeatureStatus.FILED, FeatureStatus.APPROVED]
        assert await store.get(FEATURE_REGISTRY_VERSION_KEY) == b"2"
    finally:
        for client in clients:
            await client.aclose()


async def test_a_reader_sees_a_change_at_its_next_refresh_and_before_any_refusal(store: Redis) -> None:
    view = FeatureRegistryView(store, refresh_s=0.05)
    await view.start()
    try:
        assert not view.standing("assistant", "HK").approved
        assert view.standing("assistant", "HK").status_name == "not_filed"
        await FeatureRegistry(store).apply(ask(FeatureStatus.APPROVED, Region.HK, filing_number="HK-7"))
        # check() reloads before refusing, so it sees the change at once, without waiting for a tick.
        standing = await view.check("assistant", "HK")
        assert standing.approved
        assert standing.filing_number == "HK-7"
        await FeatureRegistry(store).apply(ask(FeatureStatus.SUSPENDED, Region.HK))
        for _ in range(40):  # the polling loop picks the suspension up by itself
            if not view.standing("assistant", "HK").approved:
                break
            await asyncio.sleep(0.025)
        assert view.standing("assistant", "HK").status_name == "suspended"
    finally:
        await view.stop()


def test_the_dev_seed_approves_every_feature_in_cn_and_never_overrides_the_registry() -> None:
    seed = load_seed("dev")
    assert {(s.feature, s.region.value, s.status) for s in seed} == {
        (f, "CN", FeatureStatus.APPROVED) for f in ("assistant", "vision", "maintenance", "personalization")
    }
    assert all(s.filing_number for s in seed)
    now = datetime.now(UTC)
    requests = seed_requests(seed, {"assistant/CN"}, now)
    assert {r.feature for r in requests} == {"vision", "maintenance", "personalization"}
    assert all(r.requested_by == "service:compliance" for r in requests)
    assert DEV_SEED.is_file()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("features: []", "features: List should have at least 1 item"),
        ("features:\n  - {feature: assistant, region: XX}", "features.0.region"),
        ("features:\n  - {feature: Assistant!, region: CN}", "features.0.feature"),
        ("features: [", "not valid YAML"),
    ],
)
def test_a_bad_seed_file_is_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "approvals.yaml"
    path.write_text(content)
    with pytest.raises(ValueError, match="approvals seed") as error:
        load_seed(str(path))
    assert message in str(error.value)
    with pytest.raises(ValueError, match="cannot read it"):
        load_seed(str(tmp_path / "missing.yaml"))
