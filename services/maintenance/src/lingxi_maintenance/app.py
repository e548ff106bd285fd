"""Maintenance service wiring. Health models arrive with the maintenance issue; today it subscribes
and logs."""

from __future__ import annotations

from lingxi.events.maintenance import TelemetryReported
from lingxi.runtime import HandlerContext, Service

service = Service("maintenance")


@service.consumer(TelemetryReported)
async def on_telemetry(reading: TelemetryReported, ctx: HandlerContext) -> None:
    service.log.info("telemetry received; health models are not built yet", device_model=reading.device_model)


app = service.asgi()
