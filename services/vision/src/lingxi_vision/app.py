"""Vision service wiring. Image analysis arrives with the vision issue; today it subscribes and logs."""

from __future__ import annotations

from lingxi.events.vision import ImageReceived
from lingxi.runtime import HandlerContext, Service

service = Service("vision")


@service.consumer(ImageReceived)
async def on_image_received(image: ImageReceived, ctx: HandlerContext) -> None:
    service.log.info("image received; analysis is not built yet", image_ref=image.image_ref)


app = service.asgi()
