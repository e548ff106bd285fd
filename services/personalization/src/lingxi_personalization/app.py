"""Personalization service wiring: purchases and consent changes in, recommendations out.

Both consumers take a whole read: its events are grouped by user, each user is loaded once (one MGET for
the read), ``update.update_user`` applies their events, and every changed user is written by one
compare-and-set script (``store``); a user another replica changed meanwhile is loaded and updated again.

A consent change works out the user's list at once and, when it changed, writes its
``RecommendationsUpdated`` (caused by the user's last event of the read, in its correlation) in the same
compare-and-set as the list: published only if the list is stored, and never after an erasure that came
in between. Purchases only fold into the profile and mark the
user due for a refresh ``refresh_delay_s`` later (``LINGXI_PERSONALIZATION_REFRESH_DELAY_S``): every
replica's refresher claims due users ``refresh_batch`` at a time, works out their lists and writes each
with its ``RecommendationsUpdated`` in the same compare-and-set, so the purchases of one spell cost one
list, and a list is never stored from a profile a later purchase changed.

The write that folds a purchase also sets its event's handled mark (``ctx.handled_mark``): if the read
fails after the write, or the replica dies before its commit, the redelivered purchase is only
acknowledged, never folded twice (the profile remembers only ``RECENT_IDS`` purchase ids).

A purchase without ``purchase_data`` consent is dropped unread: nothing of it is stored, it is counted
(``lingxi_personalization_purchases_total{outcome="no_consent"}``) and logged with its event id only.
Purchase contents (merchant, amount, city) never reach a log line.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from uuid import UUID

from lingxi.erasure import scrub_streams
from lingxi.events.base import Event, Region
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
from lingxi.runtime.delivery import entry_data
from lingxi.runtime.tasks import stop_task
from prometheus_client import Counter, Gauge

from lingxi_personalization.catalogue import load_catalogue
from lingxi_personalization.moments import china_day, micros
from lingxi_personalization.pacing import Backlog
from lingxi_personalization.profile import Folded, Purchase
from lingxi_personalization.recommend import Suggestion, regional
from lingxi_personalization.settings import PURCHASE_READERS, PURCHASES_PER_READ, PersonalizationSettings
from lingxi_personalization.store import PersonalizationStore, Stale, UserWrite, listing, same_items
from lingxi_personalization.update import CONSENT_APPLIED, ConsentChange, update_user, views

service = Service("personalization")
PUBLISHES = (RecommendationsUpdated, AuditRequested, ErasureCompleted)
"""What this service publishes: its send operations in docs/asyncapi.json (docs/asyncapi.md)."""
service.publishes(*PUBLISHES)
settings = PersonalizationSettings()
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
REFRESHES = Counter(
    "lingxi_personalization_list_refreshes_total",
    "Lists worked out again after purchases, by outcome (changed: announced; unchanged).",
    ["outcome"],
)
STALE_LISTS = Gauge(
    "lingxi_personalization_stale_lists",
    "Users whose list is due for a refresh or waiting for one, as last seen by this replica.",
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
    # Only a consent change works out a list, against the one stored, to announce it if it changed.
    with_listing = any(isinstance(event, ConsentChanged) for event in events)
    due_ms = _ms(datetime.now(UTC)) + round(settings.refresh_delay_s * 1000)
    async with _one_read_at_a_time:
        pending = list(by_user)
        for _ in range(WRITE_ATTEMPTS):
            loaded = await store.load(pending, with_listing=with_listing)
            writes: list[UserWrite] = []
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
                # The write is a folded purchase's whole effect: it marks the purchase handled, so a
                # redelivery (this read fails after the write) never folds it twice.
                handled = [
                    ctx.handled_mark(event)
                    for event, outcome in zip(mine, update.outcomes, strict=True)
                    if outcome == Folded.FOLDED
                ]
                if update.suggestions is not None:
                    shown, announcement = None, ""
                    if not same_items(user.listing, update.suggestions):
                        shown = listing(user_id, update.suggestions, datetime.now(UTC))
                        cause = mine[-1]
                        updated = _updated(user_id, update.suggestions, cause.region, cause.event_id)
                        announcement = ctx.entry_data(updated, cause)
                    writes.append(
                        UserWrite(
                            user_id,
                            user,
                            update.consent,
                            update.profile,
                            shown,
                            update.apps,
                            Stale.FRESH,
                            announcement,
                            handled,
                        )
                    )
                elif update.stale:
                    writes.append(
                        UserWrite(user_id, user, None, update.profile, None, None, Stale.DUE, "", handled)
                    )
            lost = set(await store.write(writes, due_ms))
            dropped: dict[str, list[PurchaseRecorded]] = {}
            purchases_by_outcome: collections.Counter[str] = collections.Counter()
            for event, outcome in tallies:
                if event.user_id in lost:
                    continue
                if isinstance(event, PurchaseRecorded):
                    purchases_by_outcome[outcome] += 1
                    if outcome == Folded.NO_CONSENT:
                        dropped.setdefault(event.user_id, []).append(event)
                else:
                    CONSENT_CHANGES.labels(outcome).inc()
                    if outcome == CONSENT_APPLIED:
                        granted = ",".join(sorted(event.granted_scopes)) or "none"
                        await _audit(ctx, event, "consent.changed", {"granted": granted})
            for outcome, count in purchases_by_outcome.items():
                PURCHASES.labels(outcome).inc(count)
            for user_id, purchases in dropped.items():
                service.log.info(
                    "purchases dropped unread: no purchase_data consent",
                    user_id_digest=user_digest(user_id),
                    input_event_ids=[str(p.event_id) for p in purchases],
                )
                await _audit(ctx, purchases[-1], "purchase.dropped_no_consent", {"purchases": len(purchases)})
            if not lost:
                return
            CONFLICTS.inc(len(lost))
            pending = [u for u in pending if u in lost]
    raise RuntimeError(
        f"{len(pending)} users changed under this read {WRITE_ATTEMPTS} times in a row; retrying the read"
    )


async def refresh_due_lists() -> int:
    """Work out again the lists of users due for a refresh (module doc); returns how many were claimed.

    A user with no consent record (erased since the purchase) gets no list: one would name them again.
    """
    now = datetime.now(UTC)
    users = await store.claim_stale(_ms(now), round(settings.refresh_lease_s * 1000), settings.refresh_batch)
    if not users:
        return 0
    catalogue, today = load_catalogue(), china_day(now)
    pending = users
    async with _one_read_at_a_time:
        for _ in range(WRITE_ATTEMPTS):
            loaded = await store.load(pending)
            writes: list[UserWrite] = []
            for user_id in pending:
                user = loaded[user_id]
                if not user.consent_bytes:
                    writes.append(UserWrite(user_id, user, None, None, None, None, Stale.FRESH))
                    continue
                suggestions, apps = views(user.consent, user.profile, catalogue, today)
                shown, announcement = None, ""
                if not same_items(user.listing, suggestions):
                    shown = listing(user_id, suggestions, now)
                    event = _updated(user_id, suggestions, Region(user.profile.region))
                    announcement = entry_data(event, str(event.event_id))
                writes.append(UserWrite(user_id, user, None, None, shown, apps, Stale.FRESH, announcement))
            lost = set(await store.write(writes))
            for write in writes:
                if write.user_id not in lost:
                    REFRESHES.labels("changed" if write.announcement else "unchanged").inc()
            if not lost:
                break
            CONFLICTS.inc(len(lost))
            pending = [u for u in pending if u in lost]
        # Users still conflicting after every attempt stay claimed: due again when the lease ends.
    return len(users)


def _ms(at: datetime) -> int:
    return micros(at) // 1000


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


def _updated(
    user_id: str, suggestions: list[Suggestion], region: Region, causation_id: UUID | None = None
) -> RecommendationsUpdated:
    return RecommendationsUpdated(
        region=region,
        user_id=user_id,
        causation_id=causation_id,
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


@service.consumer(PurchaseRecorded, batch=True, max_records=PURCHASES_PER_READ, readers=PURCHASE_READERS)
async def on_purchases(purchases: Sequence[PurchaseRecorded], ctx: HandlerContext) -> None:
    purchase_backlog.saw_read(len(purchases))
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


purchase_backlog = Backlog(PURCHASES_PER_READ)


async def lists_may_wait() -> bool:
    """Lists wait while purchases are backlogged: folding them first keeps up with a burst, and one
    refresh afterwards covers all of a user's purchases. Never past ``refresh_max_lag_s`` after due."""
    if not purchase_backlog.busy:
        return False
    limit_ms = _ms(datetime.now(UTC)) - round(settings.refresh_max_lag_s * 1000)
    return not await store.overdue(limit_ms)


async def _refresh_lists() -> None:
    """Refresh due lists while there are any, then look again every ``refresh_poll_s``."""
    while True:
        claimed = 0
        try:
            if not await lists_may_wait():
                claimed = await refresh_due_lists()
            STALE_LISTS.set(await store.stale_count())
        except Exception as error:  # a Redis hiccup: the claimed users come back when their lease ends
            service.log.warning("recommendations not refreshed", error=repr(error))
        if claimed < settings.refresh_batch:
            await asyncio.sleep(settings.refresh_poll_s)


_background: list[asyncio.Task[None]] = []


async def _start_background() -> None:
    _background.append(asyncio.create_task(_publish_regional()))
    _background.append(asyncio.create_task(_refresh_lists()))


async def _stop_background() -> None:
    for task in _background:
        await stop_task(task)
    _background.clear()


service.on_startup.append(_start_background)
service.on_shutdown.append(_stop_background)

app = service.asgi()
