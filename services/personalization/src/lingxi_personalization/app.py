"""Personalization service wiring: purchases and consent changes in, recommendations out.

Both consumers take a whole read: its events are grouped by user, each user is loaded once (one MGET for
the read), ``update.update_user`` applies their events, and every changed user is written by one
compare-and-set script (``store``); a user another replica changed meanwhile is loaded and updated again.
Then ``RecommendationsUpdated`` is published for each user whose list changed, caused by the user's last
event of the read.

A purchase without ``purchase_data`` consent is dropped unread: nothing of it is stored, it is counted
(``lingxi_personalization_purchases_total{outcome="no_consent"}``) and logged with its event id only.
Purchase contents (merchant, amount, city) never reach a log line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from lingxi.erasure import scrub_streams
from lingxi.events.base import Event
from lingxi.events.compliance import AuditRequested
from lingxi.events.personalization import (
    MAX_PURCHASE_CLOCK_SKEW,
    ConsentChanged,
    PurchaseRecorded,
    Recommendation,
    RecommendationsUpdated,
)
from lingxi.events.user import ErasureCompleted, ErasureRequested, user_digest
from lingxi.runtime import HandlerContext, Service
from prometheus_client import Counter

from lingxi_personalization.catalogue import load_catalogue
from lingxi_personalization.moments import china_day, micros
from lingxi_personalization.profile import Folded, Purchase
from lingxi_personalization.recommend import Suggestion, regional
from lingxi_personalization.store import PersonalizationStore, UserWrite, listing, same_items
from lingxi_personalization.update import CONSENT_APPLIED, ConsentChange, update_user

service = Service("personalization")
store = PersonalizationStore(service.redis)
_one_read_at_a_time = asyncio.Lock()

WRITE_ATTEMPTS = 5

PURCHASES = Counter(
    "lingxi_personalization_purchases_total",
    "Purchases by outcome (folded, duplicate, no_consent; refused: dead-lettered, time in the future).",
    ["outcome"],
)
CONSENT_CHANGES = Counter(
    "lingxi_personalization_consent_changes_total",
    "Consent changes by outcome (applied, stale: older than the one in force).",
    ["outcome"],
)
CONFLICTS = Counter(
    "lingxi_personalization_write_conflicts_total",
    "Users another replica changed while this one updated them (updated again).",
)


def _as_domain(event: Event) -> Purchase | ConsentChange:
    if isinstance(event, PurchaseRecorded):
        return Purchase.from_event(event)
    assert isinstance(event, ConsentChanged)
    return ConsentChange(frozenset(event.granted_scopes), micros(event.occurred_at))


async def handle(events: Sequence[PurchaseRecorded | ConsentChanged], ctx: HandlerContext) -> None:
    """Apply a read's events user by user (module doc)."""
    by_user: dict[str, list[PurchaseRecorded | ConsentChanged]] = {}
    for event in events:
        by_user.setdefault(event.user_id, []).append(event)
    catalogue = load_catalogue()
    async with _one_read_at_a_time:
        pending = list(by_user)
        for _ in range(WRITE_ATTEMPTS):
            loaded = await store.load(pending)
            writes: list[UserWrite] = []
            announced: list[tuple[str, list[Suggestion], Event]] = []
            tallies: list[tuple[PurchaseRecorded | ConsentChanged, str]] = []
            for user_id in pending:
                user = loaded[user_id]
                for problem in user.unreadable:
                    service.log.error(
                        "stored user record unreadable; starting it over", user_id=user_id, problem=problem
                    )
                mine = by_user[user_id]
                today = china_day(max(e.occurred_at for e in mine))
                update = update_user(
                    user.consent, user.profile, [_as_domain(e) for e in mine], catalogue, today
                )
                tallies += zip(mine, update.outcomes, strict=True)
                shown = None
                if update.suggestions is not None and not same_items(user.listing, update.suggestions):
                    shown = listing(user_id, update.suggestions, datetime.now(UTC))
                    announced.append((user_id, update.suggestions, mine[-1]))
                if update.consent is not None or update.profile_changed or shown is not None:
                    writes.append(
                        UserWrite(user_id, user, update.consent, update.profile, shown, update.apps)
                    )
            lost = set(await store.write(writes))
            dropped: dict[str, list[PurchaseRecorded]] = {}
            for event, outcome in tallies:
                if event.user_id in lost:
                    continue
                if isinstance(event, PurchaseRecorded):
                    PURCHASES.labels(outcome).inc()
                    if outcome == Folded.NO_CONSENT:
                        dropped.setdefault(event.user_id, []).append(event)
                else:
                    CONSENT_CHANGES.labels(outcome).inc()
                    if outcome == CONSENT_APPLIED:
                        granted = ",".join(sorted(event.granted_scopes)) or "none"
                        await _audit(ctx, event, "consent.changed", {"granted": granted})
            for user_id, purchases in dropped.items():
                service.log.info(
                    "purchases dropped unread: no purchase_data consent",
                    user_id_digest=user_digest(user_id),
                    input_event_ids=[str(p.event_id) for p in purchases],
                )
                await _audit(ctx, purchases[-1], "purchase.dropped_no_consent", {"purchases": len(purchases)})
            for user_id, suggestions, cause in announced:
                if user_id not in lost:
                    await ctx.publish(_updated(user_id, suggestions, cause), cause=cause)
            if not lost:
                return
            CONFLICTS.inc(len(lost))
            pending = [u for u in pending if u in lost]
    raise RuntimeError(
        f"{len(pending)} users changed under this read {WRITE_ATTEMPTS} times in a row; retrying the read"
    )


async def _audit(
    ctx: HandlerContext,
    cause: PurchaseRecorded | ConsentChanged | ErasureRequested,
    action: str,
    detail: Mapping[str, str | int],
) -> None:
    """Ask compliance to record a decision about the user's data (the user named by digest only)."""
    request = AuditRequested(
        region=cause.region,
        actor=f"service:{service.name}",
        action=action,
        subject=f"user:{user_digest(cause.user_id)}",
        detail=dict(detail),
    )
    await ctx.publish(request, cause=cause)


def _updated(user_id: str, suggestions: list[Suggestion], cause: Event) -> RecommendationsUpdated:
    return RecommendationsUpdated(
        region=cause.region,
        user_id=user_id,
        items=[
            Recommendation(
                item_id=s.item.item_id,
                title_zh=s.item.title_zh,
                title_en=s.item.title_en,
                reason=s.reason,
                reason_zh=s.reason_zh,
                reason_en=s.reason_en,
                personalised=s.personalised,
            )
            for s in suggestions
        ],
    )


@service.consumer(PurchaseRecorded, batch=True)
async def on_purchases(purchases: Sequence[PurchaseRecorded], ctx: HandlerContext) -> None:
    usable = []
    for purchase in purchases:
        if purchase.purchased_at - purchase.occurred_at > MAX_PURCHASE_CLOCK_SKEW:
            PURCHASES.labels("refused").inc()
            ctx.reject(
                purchase,
                "purchase_refused",
                f"purchased_at {purchase.purchased_at.isoformat()} is more than {MAX_PURCHASE_CLOCK_SKEW} "
                f"after the event reported it ({purchase.occurred_at.isoformat()})",
            )
        else:
            usable.append(purchase)
    await handle(usable, ctx)


@service.consumer(ConsentChanged, batch=True)
async def on_consent_changes(changes: Sequence[ConsentChanged], ctx: HandlerContext) -> None:
    await handle(changes, ctx)


@service.consumer(ErasureRequested)
async def on_erasure(request: ErasureRequested, ctx: HandlerContext) -> None:
    """Delete everything kept about the user and the events this service published about them, then
    confirm. A purchase or consent change of theirs still in flight finds no consent: nothing is rebuilt."""
    async with _one_read_at_a_time:
        erased = await store.erase(request.user_id, micros(request.occurred_at))
        scrubbed = await scrub_streams(service.redis, [RecommendationsUpdated.stream], request.user_id)
    service.log.info(
        "user erased", user_id_digest=user_digest(request.user_id), keys=erased, entries=len(scrubbed)
    )
    await _audit(ctx, request, "user.erased", {"keys": erased, "entries": len(scrubbed)})
    completed = ErasureCompleted(
        region=request.region, user_id=request.user_id, service=service.name, erased_keys=erased
    )
    await ctx.publish(completed, cause=request)


async def _publish_regional() -> None:
    """Keep the regional list the gateway falls back on current (at start, then hourly: seasons turn)."""
    while True:
        try:
            now = datetime.now(UTC)
            await store.save_regional(listing(None, regional(load_catalogue(), china_day(now)), now))
        except Exception as error:  # a Redis hiccup: try again at the next turn
            service.log.warning("regional recommendations not saved", error=repr(error))
        await asyncio.sleep(3600)


_background: list[asyncio.Task[None]] = []


async def _start_regional() -> None:
    _background.append(asyncio.create_task(_publish_regional()))


async def _stop_regional() -> None:
    for task in _background:
        task.cancel()


service.on_startup.append(_start_regional)
service.on_shutdown.append(_stop_regional)

app = service.asgi()
