"""Compliance service wiring: drafts and image analyses in, labelled (or blocked) results out;
feature approvals."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from lingxi.events.assistant import ASSISTANT_FEATURE, AnswerBlocked, AnswerDrafted, AnswerReleased
from lingxi.events.compliance import AuditRequested, FeatureChanged, FeatureChangeRequested
from lingxi.events.vision import VISION_FEATURE, AnalysisBlocked, AnalysisReleased, ImageAnalyzed
from lingxi.features import FeatureRegistryView
from lingxi.runtime import HandlerContext, Service
from prometheus_client import Counter
from pydantic_settings import BaseSettings, SettingsConfigDict

from lingxi_compliance.audit import AuditLog, AuditSettings, check_record, requested_record
from lingxi_compliance.features import Applied, audit_record, changed_event
from lingxi_compliance.moderation import default_moderator
from lingxi_compliance.registry import FeatureRegistry, load_seed, seed_requests
from lingxi_compliance.release import (
    ReleasePolicy,
    analysis_audit_record,
    moderate_analysis,
    release_analysis,
    release_answer,
)
from lingxi_compliance.release import audit_record as answer_audit_record


class ComplianceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LINGXI_COMPLIANCE_", extra="ignore")

    content_producer: str = "Lingxi"
    approvals_seed: str | None = None
    """A YAML file of approvals to apply at start-up for pairs the registry has never seen, or
    ``dev`` for the packaged development approvals. Unset in production."""


service = Service("compliance")
MODERATION = Counter(
    "lingxi_moderation_decisions_total",
    "Moderation of what a feature would release, by feature and action (allow, or what was done).",
    ["feature", "action"],
)
RELEASES = Counter(
    "lingxi_releases_total",
    "Answers and analyses by feature and outcome (released, blocked).",
    ["feature", "outcome"],
)
PUBLISHES = (AnswerReleased, AnswerBlocked, AnalysisReleased, AnalysisBlocked, FeatureChanged)
"""What this service publishes: its send operations in docs/asyncapi.json (docs/asyncapi.md)."""
service.publishes(*PUBLISHES)
settings = ComplianceSettings()
policy = ReleasePolicy(producer=settings.content_producer)
registry = FeatureRegistry(service.redis)
approvals = FeatureRegistryView(service.redis)
moderator = default_moderator()
audit_settings = AuditSettings()
audit = AuditLog(
    service.redis,
    audit_settings.stream,
    audit_settings.maxlen,
    retention_days=audit_settings.retention_days,
)


async def apply_change(command: FeatureChangeRequested) -> Applied | None:
    """Decide on a change request, audit the decision; the applied change, if it was."""
    decision = await registry.apply(command)
    await audit.append(audit_record(command, decision))
    fields = {"feature": command.feature, "region": command.region.value, "status": command.status.value}
    if isinstance(decision, Applied):
        service.log.info("feature change applied", repeated=decision.repeated, **fields)
        return decision
    service.log.warning("feature change rejected", reason=decision.reason, **fields)
    return None


async def seed_approvals() -> None:
    if not settings.approvals_seed:
        return
    known = {r.field_name(r.feature, r.region.value) for r in await registry.records()}
    for command in seed_requests(load_seed(settings.approvals_seed), known, datetime.now(UTC)):
        if applied := await apply_change(command):
            await service.publish(changed_event(command, applied))


async def start() -> None:
    await seed_approvals()
    await approvals.start()
    moderator.warm_up()  # jieba and the sentence encoder load now, before the replica is ready


service.on_startup.append(start)
service.on_shutdown.append(approvals.stop)


def _count(feature: str, action: str, released: bool) -> None:
    MODERATION.labels(feature, action).inc()
    RELEASES.labels(feature, "released" if released else "blocked").inc()


# Batches: at low load a read holds one draft, so nothing waits; under load one commit serves many.
@service.consumer(AnswerDrafted, batch=True)
async def on_answers_drafted(drafts: Sequence[AnswerDrafted], ctx: HandlerContext) -> None:
    audited = []
    for draft in drafts:
        standing = await approvals.check(ASSISTANT_FEATURE, draft.region.value)
        moderation = moderator.check(draft.reply_text, locale=draft.locale, direction="output")
        result = release_answer(draft, policy, standing, moderation)
        _count(ASSISTANT_FEATURE, moderation.action, isinstance(result, AnswerReleased))
        if moderation.action != "allow":
            service.log.info("answer moderated", request_id=str(draft.request_id), **moderation.to_log())
        latency_ms = (datetime.now(UTC) - draft.occurred_at).total_seconds() * 1000
        audited.append(answer_audit_record(draft, result, moderation, latency_ms))
        await ctx.publish(result, cause=draft)
    await audit.append_many(audited)  # the whole read in one round trip, before anything is released


@service.consumer(ImageAnalyzed, batch=True)
async def on_images_analyzed(analyses: Sequence[ImageAnalyzed], ctx: HandlerContext) -> None:
    audited = []
    for analysis in analyses:
        standing = await approvals.check(VISION_FEATURE, analysis.region.value)
        moderation = moderate_analysis(analysis, moderator)
        result = release_analysis(analysis, policy, standing, moderation)
        _count(VISION_FEATURE, moderation.action, isinstance(result, AnalysisReleased))
        if moderation.action != "allow":
            service.log.info(
                "text in image moderated",
                request_id=str(analysis.request_id),
                action=moderation.action,
                reason_codes=moderation.reason_codes,
            )
        latency_ms = (datetime.now(UTC) - analysis.occurred_at).total_seconds() * 1000
        audited.append(analysis_audit_record(analysis, result, moderation, latency_ms))
        await ctx.publish(result, cause=analysis)
    await audit.append_many(audited)


@service.consumer(AuditRequested, batch=True)
async def on_audit_requested(requests: Sequence[AuditRequested], ctx: HandlerContext) -> None:
    """Other services' decisions about users' data, into the trail; one that carries what looks like
    personal data is dead-lettered with the reason instead."""
    records = []
    for request in requests:
        record = requested_record(request)
        try:
            check_record(record)
        except ValueError as error:
            ctx.reject(request, "audit_refused", str(error))
            continue
        records.append(record)
    await audit.append_many(records)


@service.consumer(FeatureChangeRequested)
async def on_feature_change_requested(command: FeatureChangeRequested, ctx: HandlerContext) -> None:
    if applied := await apply_change(command):
        await ctx.publish(changed_event(command, applied))


app = service.asgi()
