"""From image bytes and the tasks asked for to the findings of an analysis. Pure: no Redis, no clock.

The picture is prepared once (checked, turned upright, downscaled when very large) and every requested
task's analyser looks at the same array; boxes come back in pixels of the upright original. A task
whose model is not on this machine, or whose model failed on this picture, is named in ``unavailable``
with the reason instead of being answered with nothing or something invented.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lingxi.events.vision import (
    VISION_TASKS,
    AnalysisFailed,
    DetectedObject,
    DetectedText,
    FaceBox,
    ImageAnalyzed,
    ImageLabel,
    ImageReceived,
    VisionTask,
)
from lingxi.images import ImageRejected
from lingxi.logging import get_logger
from prometheus_client import Histogram

from lingxi_vision.analysers import Analyser, Finding
from lingxi_vision.images import Prepared, prepare, to_original

_log = get_logger("lingxi.vision.analysis")
TASK_SECONDS = Histogram(
    "lingxi_vision_task_seconds",
    "Time of one vision task on one picture (text: OCR; labels, faces, objects), failures included.",
    ["task"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

MODEL_FAILED = "the {task} model failed on this image"
EXPIRED = "image.expired"
MISMATCH = "image.mismatch"


@dataclass(frozen=True)
class Findings:
    """Everything an ``ImageAnalyzed`` event reports about one image, boxes in original pixels."""

    width: int
    height: int
    texts: list[DetectedText] = field(default_factory=list)
    labels: list[ImageLabel] = field(default_factory=list)
    faces: list[FaceBox] = field(default_factory=list)
    objects: list[DetectedObject] = field(default_factory=list)
    model_names: dict[VisionTask, str] = field(default_factory=dict)
    unavailable: dict[VisionTask, str] = field(default_factory=dict)

    def event_fields(self) -> dict[str, Any]:
        """The fields of ``ImageAnalyzed`` these findings fill."""
        return {
            "image_width": self.width,
            "image_height": self.height,
            "texts": self.texts,
            "labels": self.labels,
            "faces": self.faces,
            "objects": self.objects,
            "model_names": self.model_names,
            "unavailable": self.unavailable,
        }


class Vision:
    """The analysers of one process, by task, and the reason for each task that has none."""

    def __init__(
        self,
        analysers: Sequence[Analyser],
        unavailable: Mapping[VisionTask, str] | None = None,
        *,
        max_side: int = 2048,
    ) -> None:
        self.analysers: dict[VisionTask, Analyser] = {a.task: a for a in analysers}
        self.unavailable: dict[VisionTask, str] = dict(unavailable or {})
        if missing := [t for t in VISION_TASKS if t not in self.analysers and t not in self.unavailable]:
            raise ValueError(f"no analyser and no reason for task(s) {missing}")
        self.max_side = max_side

    def analyse(self, data: bytes, tasks: Sequence[VisionTask]) -> Findings:
        """Run ``tasks`` on the image in ``data``; raises ``lingxi.images.ImageRejected`` when it is not
        an image vision accepts (the reason code and message say why)."""
        prepared = prepare(data, max_side=self.max_side)
        found: dict[VisionTask, list[Finding]] = {}
        model_names: dict[VisionTask, str] = {}
        unavailable: dict[VisionTask, str] = {}
        for task in VISION_TASKS:
            if task not in tasks:
                continue
            analyser = self.analysers.get(task)
            if analyser is None:
                unavailable[task] = self.unavailable[task]
                continue
            started = time.perf_counter()
            try:
                findings = analyser.analyse(prepared.picture)
            except Exception:  # one model failing on one picture must not cost the other tasks
                TASK_SECONDS.labels(task).observe(time.perf_counter() - started)
                _log.error("analyser failed", task=task, model=analyser.model_name, exc_info=True)
                unavailable[task] = MODEL_FAILED.format(task=task)
                continue
            TASK_SECONDS.labels(task).observe(time.perf_counter() - started)
            found[task] = [_in_original(f, prepared) for f in findings]
            model_names[task] = analyser.model_name
        return Findings(
            width=prepared.width,
            height=prepared.height,
            texts=[f for f in found.get("text", []) if isinstance(f, DetectedText)],
            labels=[f for f in found.get("labels", []) if isinstance(f, ImageLabel)],
            faces=[f for f in found.get("faces", []) if isinstance(f, FaceBox)],
            objects=[f for f in found.get("objects", []) if isinstance(f, DetectedObject)],
            model_names=model_names,
            unavailable=unavailable,
        )


def _in_original(finding: Finding, prepared: Prepared) -> Finding:
    if isinstance(finding, ImageLabel) or prepared.scale == 1:
        return finding
    return finding.model_copy(update={"box": to_original(finding.box, prepared)})


def analysis_of(vision: Vision, image: ImageReceived, data: bytes | None) -> ImageAnalyzed | AnalysisFailed:
    """The event that answers ``image``: its analysis, or why there is none. ``data`` is what Redis held
    under the image's reference (None once its time to live ran out)."""
    if data is None:
        return _failed(image, EXPIRED, "the image is no longer stored (its time to live ran out first)")
    if hashlib.sha256(data).hexdigest() != image.image_ref:
        return _failed(image, MISMATCH, "the stored bytes do not match the image reference (SHA-256)")
    try:
        findings = vision.analyse(data, image.tasks)
    except ImageRejected as rejected:
        return _failed(image, rejected.reason_code, str(rejected))
    return ImageAnalyzed(**_answering(image), **findings.event_fields())


def _failed(image: ImageReceived, reason_code: str, detail: str) -> AnalysisFailed:
    return AnalysisFailed(**_answering(image), reason_code=reason_code, detail=detail)


def _answering(image: ImageReceived) -> dict[str, Any]:
    """The fields an analysis or a failure takes from its request."""
    return {
        "region": image.region,
        "request_id": image.request_id,
        "device_id": image.device_id,
        "locale": image.locale,
    }
