"""Personalization: purchases/s of the real personalization service draining a backlog of purchases from
users who granted consent, against the raw Redis path for the same entries; then the latency of reading
a user's recommendations through the gateway, against a bare Redis GET of the same key.

The purchases come from the shopper simulator (``lingxi_personalization.shoppers.Shoppers``,
deterministic): its first ``purchases`` purchases in time order, each written as the gateway writes a
``PurchaseRecorded``. Before them, every simulated user's ``ConsentChanged`` granting all three scopes is
written to its own stream and drained (not timed), so every purchase finds ``purchase_data`` granted.
Every consumer drains the same purchase entries (same event ids) from a flushed private Redis.

The baseline consumer, ``python -m bench.scenarios.personalization --redis-url URL --group G --count K``,
is a bare redis-py loop: XREADGROUP COUNT K, each entry's envelope decoded and validated as a
``PurchaseRecorded`` (the least any consumer of the typed event does), one XACK per read.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4, uuid5

import orjson
from lingxi.events._values import Initiator
from lingxi.events.base import Region
from lingxi.events.compliance import (
    FEATURE_REGISTRY_KEY,
    FEATURE_REGISTRY_VERSION_KEY,
    FeatureRecord,
    FeatureStatus,
    FeatureStatusChange,
)
from lingxi.events.personalization import (
    PERSONALIZATION_FEATURE,
    ConsentChanged,
    ConsentScope,
    PurchaseRecorded,
    RecommendationsUpdated,
    user_recommendations_key,
)
from lingxi.localredis import LocalRedis
from lingxi.runtime.delivery import stream_entry
from lingxi.testing.processes import ServiceProcess
from lingxi.testing.tokens import device_headers
from lingxi_personalization.settings import PURCHASE_READERS, PURCHASES_PER_READ, PersonalizationSettings
from lingxi_personalization.store import STALE_KEY, profile_key
from redis.asyncio import Redis

from bench.common import (
    Noise,
    Ticker,
    baseline_main,
    domain_modules,
    group_state,
    private_redis,
    raw_consumer_process,
    reset_group,
    start_consumers,
    stop_processes,
    timed_drain,
)
from bench.stats import OTHERS, cpu_percent, cpu_sample, percentile
from bench.vision_worker import memory_mb

STREAM = PurchaseRecorded.stream
CONSENT_STREAM = ConsentChanged.stream
GROUP = "personalization"
"""The service's name, hence its consumer group."""
STREAMS_PER_REPLICA = 3
"""A personalization replica waits on three streams: purchases, consent changes and erasure requests."""
TARGET_PURCHASES_PER_S = 10_000.0
"""The issue's target: purchase events folded into profiles per second by one process."""
TARGET_READ_P95_MS = 10.0
"""The issue's target: a recommendation read answers under 10 ms at p95."""
TRIES = 2
"""Attempts per measurement at most (a run of the full backlog lasts several seconds)."""
READY_TIMEOUT_S = 60.0
WARMUP_READS = 100
"""Reads sent one at a time before each timed read load, not counted (connections open, caches warm)."""
ALL_SCOPES = [ConsentScope.PERSONALISATION, ConsentScope.PURCHASE_DATA, ConsentScope.PAYMENT_DATA]
PURCHASES_METRIC = "lingxi_personalization_purchases_total"
CONSENT_METRIC = "lingxi_personalization_consent_changes_total"
CONFLICTS_METRIC = "lingxi_personalization_write_conflicts_total"
REFRESHES_METRIC = "lingxi_personalization_list_refreshes_total"
_NAMESPACE = UUID("0f6b8f0e-3c7a-4d52-9a1e-7b4c2d9e8f10")

METHOD = (
    "Purchases: the first {purchases:,} purchases of the shopper simulator "
    "(`Shoppers(ShopperConfig(users={users:,}, days={days}, seed={seed}))`, merged in the order they "
    "happened: {buyers:,} users bought something, {from_day} to {to_day}), each written as the gateway "
    "writes a `PurchaseRecorded` ({entry_bytes:,} bytes an entry). Each consumer starts on a flushed "
    "private redis-server (no persistence) and waits on the stream. For the service, one "
    "`ConsentChanged` per simulated user ({users:,}) granting personalisation, purchase_data and "
    "payment_data is written to `{consent_stream}` first and drained (not timed: {consent_s:.1f} s, "
    "{consent_per_s:,.0f} changes/s, each computing the user's first list); then the purchase backlog is "
    "written while the group sees nothing, the group is rewound and the last entry wakes the consumer; "
    "the bench polls XINFO GROUPS every 2 ms and stops the clock when the last entry is delivered and "
    "nothing is pending. Baseline: `python -m bench.scenarios.personalization`, a redis-py loop "
    "(XREADGROUP COUNT {count}, each entry decoded and validated as `PurchaseRecorded`, one XACK per "
    "read) on uvloop. Lingxi: `python -m lingxi_personalization`, one replica (the real service under "
    "uvicorn, default settings: purchases read {count} at a time, {readers} reads at once, lists "
    "refreshed {delay:g} s after a purchase changed a profile, JSON logs to a file; {compiled}), which "
    "groups a read's purchases by user, loads each user's consent and profile (one MGET), folds the "
    "purchases and writes every changed user in one compare-and-set Lua script that also marks the user "
    "due for a refresh, committed with the acknowledgement; in the same process its refresher, which "
    "waits while purchase reads come back full (at most 60 s past due), claims due users {batch} at a "
    "time, works out their lists and usual apps and writes each list with its `RecommendationsUpdated` "
    "(when it changed) in one compare-and-set. Purchases/s = purchases / seconds (the clock stops when "
    "the purchases are drained; refreshes due meanwhile ran in the same process); then the bench polls "
    "the set of users due for a refresh until it is empty: the time from the drain's end is when every "
    "list had caught up. RSS is the replica's resident set (VmRSS) after the run (peak VmHWM). {cores} "
    "cores are shared by the consumers, Redis and the bench."
)
READ_METHOD = (
    "After the service's run, on the same Redis (the service stopped): `GET "
    "/v1/users/{{id}}/recommendations` through `python -m lingxi_gateway` (one replica, the "
    "`personalization` feature approved in CN as compliance records it), {reads:,} requests on an "
    "open-loop schedule at {rate:g}/s for users drawn at random (seed {seed}) from the {buyers:,} who "
    "bought something, sent by httpx from the bench process after {warmup} unmeasured ones, each with the "
    "token of a device its user is signed in on (signed before the run and verified once by the gateway "
    "before the reads, as a device's token is in the field); latency counts from the scheduled send "
    "time. Baseline: the same schedule and users, a bare `GET lingxi:users:recommendations:<id>` with "
    "redis-py from the bench process. Errors: any answer but 200 (or a missing key), timeouts, "
    "connection failures."
)


@dataclass(frozen=True)
class PersonalizationConfig:
    users: int = 20_000
    """Simulated users, each granting consent first."""
    purchases: int = 100_000
    """The simulator's first purchases, in time order, turned into the backlog."""
    seed: int = 7
    reads: int = 2_000
    """Recommendation reads timed (each through the gateway, and each as a bare GET)."""
    read_rate: float = 200.0
    """Reads offered per second (open loop)."""
    refresh_delay_s: float = PersonalizationSettings().refresh_delay_s
    """The service's refresh delay (its default; the quick run shortens it to finish sooner)."""


def steps(config: PersonalizationConfig) -> int:
    return 4


@dataclass(frozen=True)
class Backlog:
    consents: list[dict[str, str]]
    """One ``ConsentChanged`` per simulated user, granting every scope."""
    entries: list[dict[str, str]]
    """One ``PurchaseRecorded`` per purchase, in time order."""
    users: int
    buyers: list[str]
    """Every user with at least one purchase, sorted."""
    days: int
    first: datetime
    last: datetime


def shopper_days(config: PersonalizationConfig) -> int:
    """Simulated days enough for ``config.purchases`` purchases (a shopper buys about 0.9 a day on
    average, more in a season; the simulator makes them lazily, so spare days cost nothing)."""
    return max(2, math.ceil(config.purchases / config.users / 0.6) + 1)


def build_backlog(config: PersonalizationConfig) -> Backlog:
    """The consent changes and the purchase entries the gateway would write."""
    # Imported here: the baseline consumer (this module run as a program) needs no simulator.
    from lingxi_personalization.shoppers import ShopperConfig, Shoppers

    days = shopper_days(config)
    shoppers = Shoppers(ShopperConfig(users=config.users, days=days, seed=config.seed))
    purchases = list(itertools.islice(shoppers.purchases(), config.purchases))
    if not purchases:
        raise RuntimeError("the simulator made no purchases")
    consented_at = datetime.combine(shoppers.config.start, datetime.min.time(), tzinfo=UTC) - timedelta(
        days=1
    )
    consents = []
    for truth in shoppers.truth.users:
        change = ConsentChanged(
            event_id=uuid5(_NAMESPACE, f"consent-{truth.user_id}"),
            occurred_at=consented_at,
            region=Region.CN,
            user_id=truth.user_id,
            granted_scopes=ALL_SCOPES,
            changed_by=Initiator.USER,
        )
        consents.append(stream_entry(change, str(change.event_id)))
    entries = []
    for purchase in purchases:
        event = PurchaseRecorded.model_validate_json(orjson.dumps(purchase.to_event()))
        entries.append(stream_entry(event, str(event.event_id)))
    buyers = sorted({p.user_id for p in purchases})
    return Backlog(
        consents, entries, config.users, buyers, days, purchases[0].purchased_at, purchases[-1].purchased_at
    )


async def run(config: PersonalizationConfig, tick: Ticker, workdir: Path, noise: Noise) -> dict[str, Any]:
    tick.say(f"personalization: simulating {config.users:,} shoppers, {config.purchases:,} purchases")
    started = time.perf_counter()
    backlog = await asyncio.to_thread(build_backlog, config)
    build_s = time.perf_counter() - started
    purchases = len(backlog.entries)
    tick.advance()
    count = PURCHASES_PER_READ  # the baseline reads as much at a time as the service's purchase consumer
    tries = min(TRIES, noise.tries)
    rows: list[dict[str, Any]] = []
    with private_redis(workdir) as server:
        client = Redis.from_url(server.url)
        try:
            tick.say(f"personalization: raw redis-py baseline, {purchases:,} purchases")
            measure = (client, server, backlog, count, workdir, noise, tries, tick, config)
            rows.append(await _measure("raw", *measure))
            tick.advance()
            tick.say(
                f"personalization: 1 replica, {len(backlog.consents):,} consents then {purchases:,} purchases"
            )
            rows.append(await _measure("lingxi", *measure))
            tick.advance()
            tick.say(f"personalization: {config.reads:,} recommendation reads at {config.read_rate:g}/s")
            reads = await _reads(client, server, backlog, config, workdir, noise, tries, tick)
            tick.advance()
        finally:
            await client.aclose()
    base = rows[0]["purchases_per_s"]
    for row in rows:
        row["vs_raw"] = round(row["purchases_per_s"] / base, 3)
    lingxi = rows[1]
    gateway_p95 = reads["results"]["gateway"]["latency_ms"]["p95"]
    consent = lingxi.pop("consent")
    entry_bytes = sum(len(e["__data__"].encode()) for e in backlog.entries) / max(purchases, 1)
    compiled, compiled_text = domain_modules("lingxi_personalization")
    return {
        "method": METHOD.format(
            purchases=purchases,
            users=config.users,
            days=backlog.days,
            seed=config.seed,
            buyers=len(backlog.buyers),
            from_day=backlog.first.isoformat(timespec="minutes").replace("+00:00", "Z"),
            to_day=backlog.last.isoformat(timespec="minutes").replace("+00:00", "Z"),
            entry_bytes=round(entry_bytes),
            consent_stream=CONSENT_STREAM,
            consent_s=consent["seconds"],
            consent_per_s=consent["per_s"],
            count=count,
            readers=PURCHASE_READERS,
            compiled=compiled_text,
            delay=config.refresh_delay_s,
            batch=PersonalizationSettings().refresh_batch,
            cores=os.cpu_count(),
        ),
        "read_method": READ_METHOD.format(
            reads=config.reads,
            rate=config.read_rate,
            seed=config.seed,
            buyers=len(backlog.buyers),
            warmup=WARMUP_READS,
        ),
        "purchases": purchases,
        "users": config.users,
        "buyers": len(backlog.buyers),
        "entry_bytes": round(entry_bytes),
        "count": count,
        "readers": PURCHASE_READERS,
        "compiled_modules": compiled,
        "build_s": round(build_s, 1),
        "consent": consent,
        "results": rows,
        "reads": reads,
        "targets": {
            "purchases_per_s": TARGET_PURCHASES_PER_S,
            "purchases_per_s_met": lingxi["purchases_per_s"] >= TARGET_PURCHASES_PER_S,
            "read_p95_ms": TARGET_READ_P95_MS,
            "read_p95_met": gateway_p95 is not None
            and gateway_p95 < TARGET_READ_P95_MS
            and reads["results"]["gateway"]["errors"] == 0,
        },
    }


async def _measure(
    consumer: str,
    client: Redis,
    server: LocalRedis,
    backlog: Backlog,
    count: int,
    workdir: Path,
    noise: Noise,
    tries: int,
    tick: Ticker,
    config: PersonalizationConfig,
) -> dict[str, Any]:
    """Drain the whole purchase backlog with a fresh consumer on a flushed Redis (after the consents, for
    the service), again while other load disturbed it (up to ``tries`` times). The service's last run
    leaves its Redis as it was, for the reads."""
    attempt = 0
    lingxi = consumer == "lingxi"
    purchases = len(backlog.entries)
    while True:
        attempt += 1
        await client.flushall()
        await reset_group(client, STREAM, GROUP)
        procs = _processes(consumer, server.url, count, workdir, attempt, config.refresh_delay_s)
        try:
            await start_consumers(
                client,
                procs,
                http=lingxi,
                timeout_s=READY_TIMEOUT_S,
                streams_each=STREAMS_PER_REPLICA if lingxi else 1,
            )
            consent = await grant_consent(client, backlog.consents) if lingxi else None
            announced_before = await client.xlen(RecommendationsUpdated.stream) if lingxi else 0
            pids = {proc.replica: proc.process.pid for proc in procs if proc.process is not None}
            sampled = {**pids, "bench": os.getpid()}
            if server.process is not None:
                sampled["redis"] = server.process.pid
            drain = await timed_drain(
                client,
                STREAM,
                GROUP,
                backlog.entries,
                timeout_s=60 + purchases / 500,
                pids=sampled,
            )
            memory = {name: memory_mb(pid) for name, pid in pids.items()}
            caught_up_s = await lists_caught_up(client, timeout_s=120.0) if lingxi else None
            outcomes = await _outcomes(procs) if lingxi else Outcomes({}, {}, 0, {})
            announced = (await client.xlen(RecommendationsUpdated.stream) - announced_before) if lingxi else 0
            kept = await purchases_in_profiles(client, backlog.buyers) if lingxi else None
        finally:
            await stop_processes(procs)
        if not noise.again(drain.cpu, attempt, tries):
            break
        tick.say(f"personalization: {consumer}: other load {drain.cpu[OTHERS]:.0f}%, measuring again")
    row: dict[str, Any] = {
        "consumer": consumer,
        "replicas": 1,
        "purchases": purchases,
        "seconds": round(drain.seconds, 3),
        "purchases_per_s": round(purchases / drain.seconds, 1),
        "cpu_percent": drain.cpu,
        "memory_mb": memory,
        "outcomes": outcomes.purchases if lingxi else None,
        "consent_changes": outcomes.consent_changes if lingxi else None,
        "conflicts": outcomes.conflicts if lingxi else None,
        "lists_announced": announced if lingxi else None,
        "list_refreshes": outcomes.refreshes if lingxi else None,
        "lists_current_after_s": caught_up_s,
        "purchases_in_profiles": kept,
        "retaken": attempt - 1,
    }
    if consent is not None:
        row["consent"] = consent
    return row


def _processes(
    consumer: str, redis_url: str, count: int, workdir: Path, attempt: int, refresh_delay_s: float
) -> list[ServiceProcess]:
    if consumer == "raw":
        return [
            raw_consumer_process(
                module="bench.scenarios.personalization",
                group=GROUP,
                redis_url=redis_url,
                count=count,
                workdir=workdir,
                attempt=attempt,
            )
        ]
    return [
        ServiceProcess(
            service="personalization",
            replica="personalization-1",
            redis_url=redis_url,
            log_path=workdir / f"personalization-1-{attempt}.log",
            extra_env={"LINGXI_PERSONALIZATION_REFRESH_DELAY_S": str(refresh_delay_s)},
        )
    ]


async def grant_consent(client: Redis, consents: Sequence[dict[str, str]]) -> dict[str, Any]:
    """Write every user's consent and wait until the service's group has handled all of them (delivered
    the last, nothing pending); the time it took, for the record (not the figure measured)."""
    started = time.perf_counter()
    last = ""
    pipe = client.pipeline(transaction=False)
    for chunk_start in range(0, len(consents), 2000):
        for fields in consents[chunk_start : chunk_start + 2000]:
            pipe.xadd(CONSENT_STREAM, fields)  # type: ignore[arg-type]
        ids = await pipe.execute()
        raw = ids[-1]
        last = raw.decode() if isinstance(raw, bytes) else str(raw)
    timeout_s = 60 + len(consents) / 200
    while True:
        state = await group_state(client, CONSENT_STREAM, GROUP)
        delivered = state["last-delivered-id"]
        delivered = delivered.decode() if isinstance(delivered, bytes) else str(delivered)
        if delivered == last and state["pending"] == 0:
            seconds = time.perf_counter() - started
            return {
                "changes": len(consents),
                "seconds": round(seconds, 2),
                "per_s": round(len(consents) / seconds, 1),
            }
        if time.perf_counter() - started > timeout_s:
            raise TimeoutError(
                f"personalization did not handle {len(consents)} consent changes in {timeout_s:g}s "
                f"(last delivered {delivered}, pending {state['pending']})"
            )
        await asyncio.sleep(0.01)


@dataclass(frozen=True)
class Outcomes:
    """What the replica's metrics say it did."""

    purchases: dict[str, int]
    """``lingxi_personalization_purchases_total`` by outcome (folded, duplicate, no_consent, refused)."""
    consent_changes: dict[str, int]
    """``lingxi_personalization_consent_changes_total`` by outcome (applied, stale)."""
    conflicts: int
    """``lingxi_personalization_write_conflicts_total``: users changed under a read (one replica: none)."""
    refreshes: dict[str, int]
    """``lingxi_personalization_list_refreshes_total`` by outcome (changed, unchanged)."""


async def _outcomes(procs: Sequence[ServiceProcess]) -> Outcomes:
    """Scrape each replica's ``/metrics`` and sum ``Outcomes`` over the replicas."""
    import httpx

    purchases: dict[str, float] = {}
    consents: dict[str, float] = {}
    refreshes: dict[str, float] = {}
    conflicts = 0.0
    async with httpx.AsyncClient(timeout=5) as http:
        for proc in procs:
            text = (await http.get(f"{proc.base_url}/metrics")).text
            for line in text.splitlines():
                for metric, totals in (
                    (PURCHASES_METRIC, purchases),
                    (CONSENT_METRIC, consents),
                    (REFRESHES_METRIC, refreshes),
                ):
                    if line.startswith(f"{metric}{{"):
                        labels, _, value = line.rpartition(" ")
                        outcome = labels.split('outcome="', 1)[1].split('"', 1)[0]
                        totals[outcome] = totals.get(outcome, 0.0) + float(value)
                if line.startswith((f"{CONFLICTS_METRIC} ", f"{CONFLICTS_METRIC}{{")):
                    conflicts += float(line.rpartition(" ")[2])

    def ints(totals: dict[str, float]) -> dict[str, int]:
        return {name: int(value) for name, value in sorted(totals.items())}

    return Outcomes(ints(purchases), ints(consents), int(conflicts), ints(refreshes))


async def lists_caught_up(client: Redis, timeout_s: float) -> float:
    """Seconds until no user is due for a refresh any more (every list worked out from its profile)."""
    started = time.perf_counter()
    while await client.zcard(STALE_KEY):
        if time.perf_counter() - started > timeout_s:
            raise RuntimeError(f"lists still due for a refresh after {timeout_s:g}s")
        await asyncio.sleep(0.05)
    return round(time.perf_counter() - started, 2)


async def purchases_in_profiles(client: Redis, users: Sequence[str]) -> int:
    """Purchases the stored profiles count (each profile's ``purchases``): a check that every purchase the
    service says it folded is in a profile it wrote."""
    total = 0
    for start in range(0, len(users), 1000):
        keys = [profile_key(user) for user in users[start : start + 1000]]
        for raw in await client.mget(keys):
            if raw is not None:
                total += int(orjson.loads(raw)["purchases"])
    return total


# --- recommendation reads ------------------------------------------------------------------------


async def approve_feature(client: Redis) -> None:
    """Personalization approved in CN, as compliance records it (no compliance process needed)."""
    now = datetime.now(UTC)
    record = FeatureRecord(
        feature=PERSONALIZATION_FEATURE,
        region=Region.CN,
        changes=(
            FeatureStatusChange(
                status=FeatureStatus.APPROVED,
                filing_number="DEV-PERSONALIZATION-BENCH",
                effective_at=now - timedelta(days=1),
                changed_by="admin:bench",
                request_id=uuid4(),
                recorded_at=now,
            ),
        ),
    )
    await client.hset(
        FEATURE_REGISTRY_KEY,
        FeatureRecord.field_name(PERSONALIZATION_FEATURE, Region.CN.value),
        record.model_dump_json(),
    )
    await client.incr(FEATURE_REGISTRY_VERSION_KEY)


Fetch = Callable[[str], Awaitable[tuple[str, bytes | str | None]]]
"""One read for a user: its kind ("ok", "http_<status>", "missing", an exception's name) and body."""


@dataclass(frozen=True)
class _Read:
    scheduled: float
    lag: float
    latency: float
    """From the scheduled send time to the answer."""
    service: float
    """From the send to the answer."""
    kind: str
    body: bytes | str | None


async def _open_loop(fetch: Fetch, users: Sequence[str], rate: float, pids: dict[str, int]) -> dict[str, Any]:
    """Send a read per user on a fixed schedule (``rate`` a second), whatever the answers do."""

    async def one(user: str, scheduled: float) -> _Read:
        sent = time.perf_counter()
        try:
            kind, body = await fetch(user)
        except Exception as error:  # a timeout or a lost connection counts as an error, by name
            kind, body = type(error).__name__, None
        done = time.perf_counter()
        return _Read(scheduled, sent - scheduled, done - scheduled, done - sent, kind, body)

    tasks: list[asyncio.Task[_Read]] = []
    before = cpu_sample(pids)
    origin = time.perf_counter() + 0.05
    for i, user in enumerate(users):
        scheduled = origin + i / rate
        now = time.perf_counter()
        if scheduled > now:
            await asyncio.sleep(scheduled - now)
        tasks.append(asyncio.create_task(one(user, scheduled)))
    reads = await asyncio.gather(*tasks)
    seconds = time.perf_counter() - origin
    cpu = cpu_percent(before, cpu_sample(pids), seconds)
    ok = [r for r in reads if r.kind == "ok"]
    errors: dict[str, int] = {}
    for r in reads:
        if r.kind != "ok":
            errors[r.kind] = errors.get(r.kind, 0) + 1

    def ms(values: list[float], q: float) -> float | None:
        return round(percentile(values, q) * 1000, 3) if values else None

    latency = [r.latency for r in ok]
    service = [r.service for r in ok]
    lag = [r.lag for r in reads]
    personalised = 0
    for user, r in zip(users, reads, strict=True):
        if r.body is not None:
            shown = orjson.loads(r.body)
            personalised += shown.get("user_id") == user and bool(shown.get("personalised"))
    return {
        "requests": len(reads),
        "ok": len(ok),
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
        "offered_rps": rate,
        "achieved_rps": round(len(ok) / seconds, 1),
        "latency_ms": {q: ms(latency, n) for q, n in (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))},
        "service_latency_ms": {q: ms(service, n) for q, n in (("p50", 50), ("p95", 95), ("p99", 99))},
        "send_lag_ms": {"p50": ms(lag, 50), "p99": ms(lag, 99)},
        "personalised": personalised,
        "cpu_percent": cpu,
    }


async def _reads(
    client: Redis,
    server: LocalRedis,
    backlog: Backlog,
    config: PersonalizationConfig,
    workdir: Path,
    noise: Noise,
    tries: int,
    tick: Ticker,
) -> dict[str, Any]:
    """The gateway's read of users' recommendations and the bare GET, on the same schedule and users."""
    import httpx

    rng = random.Random(config.seed)
    users = [rng.choice(backlog.buyers) for _ in range(config.reads)]
    warm = [rng.choice(backlog.buyers) for _ in range(WARMUP_READS)]
    await approve_feature(client)
    # Each user reads from a device they are signed in on: its token signed here, before any clock runs.
    headers = {user: device_headers(f"bench-{user}", user_id=user) for user in {*users, *warm}}
    gateway = ServiceProcess(
        service="gateway", replica="gateway-1", redis_url=server.url, log_path=workdir / "gateway-1.log"
    )
    results: dict[str, dict[str, Any]] = {}
    reader = Redis.from_url(server.url)
    try:
        await asyncio.to_thread(gateway.start)
        await asyncio.to_thread(gateway.wait_ready, READY_TIMEOUT_S)
        assert gateway.process is not None
        pids = {"gateway": gateway.process.pid, "bench": os.getpid()}
        if server.process is not None:
            pids["redis"] = server.process.pid
        async with httpx.AsyncClient(base_url=gateway.base_url, timeout=5) as http:

            async def through_gateway(user: str) -> tuple[str, bytes | str | None]:
                answer = await http.get(f"/v1/users/{user}/recommendations", headers=headers[user])
                if answer.status_code != 200:
                    return f"http_{answer.status_code}", None
                return "ok", answer.content

            async def bare_get(user: str) -> tuple[str, bytes | str | None]:
                raw = await reader.get(user_recommendations_key(user))
                return ("ok", raw) if raw is not None else ("missing", None)

            # Every token verified once before the clock runs (a GET of an unknown request: 404): a device
            # keeps its token for an hour, so in the field nearly every read finds it verified already.
            readers = sorted(headers)
            for start in range(0, len(readers), 50):
                batch = readers[start : start + 50]
                answers = await asyncio.gather(
                    *(http.get(f"/v1/requests/{uuid4()}", headers=headers[user]) for user in batch)
                )
                refused = [
                    (u, a.status_code) for u, a in zip(batch, answers, strict=True) if a.status_code != 404
                ]
                if refused:
                    raise RuntimeError(f"the gateway refused the readers' tokens: {refused[:5]}")
            for key, fetch in (("redis", bare_get), ("gateway", through_gateway)):
                for user in warm:
                    kind, _ = await fetch(user)
                    if kind != "ok":
                        raise RuntimeError(f"warm-up read of {user} through {key} answered {kind}")
                for attempt in itertools.count(1):
                    result = await _open_loop(fetch, users, config.read_rate, pids)
                    result["retaken"] = attempt - 1
                    if not noise.again(result["cpu_percent"], attempt, tries):
                        break
                    tick.say(
                        f"personalization: {key} reads: other load "
                        f"{result['cpu_percent'][OTHERS]:.0f}%, measuring again"
                    )
                results[key] = result
    finally:
        await reader.aclose()
        await asyncio.to_thread(gateway.stop)
    base, through = results["redis"]["latency_ms"]["p95"], results["gateway"]["latency_ms"]["p95"]
    return {
        "requests": config.reads,
        "rate": config.read_rate,
        "results": results,
        "p95_vs_redis": round(through / base, 2) if base and through else None,
    }


# --- the baseline consumer -----------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    baseline_main(
        argv, prog="python -m bench.scenarios.personalization", group=GROUP, event_type=PurchaseRecorded
    )


if __name__ == "__main__":
    main()
