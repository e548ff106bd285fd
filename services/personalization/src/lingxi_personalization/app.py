"""Personalization service wiring. Profiles arrive with the personalisation issue; today it subscribes
and logs (purchase contents are never logged)."""

from __future__ import annotations

from lingxi.events.personalization import ConsentChanged, PurchaseRecorded
from lingxi.runtime import HandlerContext, Service

service = Service("personalization")


@service.consumer(PurchaseRecorded)
async def on_purchase(purchase: PurchaseRecorded, ctx: HandlerContext) -> None:
    service.log.info("purchase received; profiles are not built yet")


@service.consumer(ConsentChanged)
async def on_consent(change: ConsentChanged, ctx: HandlerContext) -> None:
    service.log.info("consent change received; profiles are not built yet")


app = service.asgi()
