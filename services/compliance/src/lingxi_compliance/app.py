"""Compliance service wiring: drafts in, labelled answers out."""

from __future__ import annotations

from collections.abc import Sequence

from lingxi.events.assistant import AnswerDrafted
from lingxi.events.compliance import FeatureChangeRequested
from lingxi.events.vision import ImageAnalyzed
from lingxi.runtime import HandlerContext, Service
from pydantic_settings import BaseSettings, SettingsConfigDict

from lingxi_compliance.release import ReleasePolicy, release_answer


class ComplianceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LINGXI_COMPLIANCE_", extra="ignore")

    content_producer: str = "Lingxi"
    filing_number: str | None = None


service = Service("compliance")
settings = ComplianceSettings()
policy = ReleasePolicy(producer=settings.content_producer, filing_number=settings.filing_number)


# Batches: at low load a read holds one draft, so nothing waits; under load one commit serves many.
@service.consumer(AnswerDrafted, batch=True)
async def on_answers_drafted(drafts: Sequence[AnswerDrafted], ctx: HandlerContext) -> None:
    for draft in drafts:
        await ctx.publish(release_answer(draft, policy), cause=draft)


@service.consumer(ImageAnalyzed)
async def on_image_analyzed(analysis: ImageAnalyzed, ctx: HandlerContext) -> None:
    service.log.info("image analysis received; release of vision results is not built yet")


@service.consumer(FeatureChangeRequested)
async def on_feature_change_requested(command: FeatureChangeRequested, ctx: HandlerContext) -> None:
    service.log.info("feature change requested; the approval registry is not built yet")


app = service.asgi()
