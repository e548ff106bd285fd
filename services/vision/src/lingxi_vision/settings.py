"""What an operator can set for the vision service (environment, prefix ``LINGXI_VISION_``)."""

from __future__ import annotations

from pathlib import Path

from lingxi.runtime.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class VisionSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LINGXI_VISION_", extra="ignore")

    threads: int = Field(
        default=1, ge=1, le=64, description="CPU threads each model may use (one replica, one core: 1)."
    )
    max_side: int = Field(
        default=2048,
        ge=256,
        le=8192,
        description="Longer side (pixels) bigger images are downscaled to before any model sees them.",
    )
    objects_model: Path | None = Field(
        default=None, description="A YOLO-format ONNX object detector; unset: objects are unavailable."
    )
    objects_names: Path | None = Field(
        default=None, description="Its class names (YAML list or index → name mapping)."
    )


class VisionRuntimeSettings(ServiceSettings):
    """The runtime's settings with vision's defaults: one image per read, so that a backlog spreads
    over every replica instead of queueing behind the first one that read ten."""

    max_records: int = Field(default=1, ge=1, le=1000, description="Entries fetched per XREADGROUP.")
