"""Vision service wiring: images in, analyses (or the reason there is none) out."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import cast

from lingxi.events.vision import AnalysisFailed, ImageAnalyzed, ImageReceived, image_key
from lingxi.runtime import HandlerContext, Service

from lingxi_vision.analysis import analysis_of
from lingxi_vision.models import load_vision
from lingxi_vision.settings import VisionRuntimeSettings, VisionSettings

service = Service("vision", VisionRuntimeSettings())
PUBLISHES = (ImageAnalyzed, AnalysisFailed)
"""What this service publishes: its send operations in docs/asyncapi.json (docs/asyncapi.md)."""
service.publishes(*PUBLISHES)
vision = load_vision(VisionSettings())  # every model loads now, once, before the replica is ready
# Models run on one worker thread: the event loop stays free for probes, reclaiming and heartbeats
# while a picture is being read.
models_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vision-models")
service.on_shutdown.append(lambda: asyncio.to_thread(models_thread.shutdown))


@service.consumer(ImageReceived)
async def on_image_received(image: ImageReceived, ctx: HandlerContext) -> None:
    data = cast(bytes | None, await service.redis.get(image_key(image.image_ref)))  # raw bytes: no decoding
    loop = asyncio.get_running_loop()
    await ctx.publish(await loop.run_in_executor(models_thread, analysis_of, vision, image, data))


app = service.asgi()
