"""Image understanding: OCR, labels, faces and objects.

Flow: gateway ``ImageReceived`` → vision ``ImageAnalyzed`` → compliance ``AnalysisReleased`` or
``AnalysisBlocked`` → gateway. An image vision cannot read (expired, not an image, a decompression bomb)
becomes ``AnalysisFailed``, straight to the gateway: there is no content for compliance to release.

The image bytes never ride on a stream: the gateway stores them in Redis under their SHA-256 with a
TTL, and events carry that reference.

Boxes are in pixels of the original image, origin at the top-left corner.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from lingxi.events._values import (
    NOT_BLANK,
    DeviceId,
    DottedCode,
    LocaleField,
    ModelName,
    Probability,
    ReasonCode,
    RequestId,
    Sha256Hex,
    ValueObject,
)
from lingxi.events.base import Event
from lingxi.events.compliance import AigcField, ExplicitLabelField, FilingNumberField, SafeReply

__all__ = [
    "IMAGE_KEY_PREFIX",
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_SIDE_PX",
    "VISION_FEATURE",
    "VISION_TASKS",
    "AnalysisBlocked",
    "AnalysisFailed",
    "AnalysisReleased",
    "BoundingBox",
    "DetectedObject",
    "DetectedText",
    "FaceBox",
    "ImageAnalyzed",
    "ImageContentType",
    "ImageLabel",
    "ImageReceived",
    "VisionTask",
    "image_key",
]

MAX_IMAGE_BYTES = 10 * 1024 * 1024
"""Largest image the gateway accepts (10 MiB)."""

MAX_IMAGE_SIDE_PX = 16384
"""Largest width or height of an image, in pixels."""

VISION_FEATURE = "vision"
"""The feature an image analysis needs approved in its region (the approval registry's key)."""

IMAGE_KEY_PREFIX = "lingxi:images:"
"""Uploaded image bytes live at this prefix plus their SHA-256, with a time to live: see ``image_key``."""


def image_key(image_ref: str) -> str:
    """The Redis key holding the bytes of the image whose SHA-256 is ``image_ref``."""
    return f"{IMAGE_KEY_PREFIX}{image_ref}"


VisionTask = Literal["text", "labels", "faces", "objects"]
"""An analysis the device can ask for: OCR, image labels, face boxes, object boxes."""

VISION_TASKS: tuple[VisionTask, ...] = ("text", "labels", "faces", "objects")
"""Every task, in the order results are listed."""

ImageContentType = Literal["image/jpeg", "image/png", "image/webp", "image/heic"]
"""Image formats the gateway accepts (read from the bytes, never from the client's word)."""

_Pixels = Annotated[int, Field(ge=0, le=MAX_IMAGE_SIDE_PX)]
_Side = Annotated[int, Field(ge=1, le=MAX_IMAGE_SIDE_PX)]


class BoundingBox(ValueObject):
    """An axis-aligned rectangle in pixels of the original image."""

    x: _Pixels = Field(description="Left edge, pixels from the image's left side.", examples=[120])
    y: _Pixels = Field(description="Top edge, pixels from the image's top.", examples=[80])
    width: _Side = Field(description="Width in pixels.", examples=[300])
    height: _Side = Field(description="Height in pixels.", examples=[60])


_Box = Annotated[
    BoundingBox,
    Field(
        description="Where it is in the image.", examples=[{"x": 120, "y": 80, "width": 300, "height": 60}]
    ),
]
_Score = Annotated[Probability, Field(description="Model's confidence, 0 to 1.", examples=[0.93])]
_NameZh = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=NOT_BLANK),
    Field(description="Name in Simplified Chinese.", examples=["猫"]),
]
_NameEn = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=NOT_BLANK),
    Field(description="Name in English.", examples=["cat"]),
]


class DetectedText(ValueObject):
    """A line of text found by OCR."""

    text: str = Field(
        min_length=1,
        max_length=1000,
        pattern=NOT_BLANK,
        description="The recognised text.",
        examples=["出口"],
    )
    box: _Box
    confidence: _Score
    order: int = Field(ge=0, description="Position in reading order, from 0.", examples=[0])


class ImageLabel(ValueObject):
    """Something the whole image shows (a scene, an animal, a dish)."""

    name_zh: _NameZh
    name_en: _NameEn
    score: _Score


class FaceBox(ValueObject):
    """A face found in the image: where it is, never who it is."""

    box: _Box
    confidence: Annotated[
        Probability | None,
        Field(description="Detector's confidence; none when the detector gives none.", examples=[0.88]),
    ] = None


class DetectedObject(ValueObject):
    """An object found in the image, with its class and where it is."""

    name_zh: _NameZh
    name_en: _NameEn
    score: _Score
    box: _Box


_Why = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NOT_BLANK)]


def _distinct(tasks: list[VisionTask]) -> list[VisionTask]:
    if len(set(tasks)) != len(tasks):
        raise ValueError("tasks must not repeat")
    return tasks


class ImageReceived(Event):
    """A device sent an image to analyse; the bytes are in Redis under ``image_ref``.

    The gateway produces it from ``POST /v1/vision/analyses``; vision consumes it.
    """

    stream = "vision.image.received"

    request_id: RequestId
    device_id: DeviceId
    image_ref: Sha256Hex = Field(
        description="SHA-256 of the image bytes: the Redis key they are stored under (with a TTL).",
        examples=["b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"],
    )
    content_type: ImageContentType = Field(description="Format of the image bytes.", examples=["image/jpeg"])
    size_bytes: int = Field(
        ge=1, le=MAX_IMAGE_BYTES, description="Size of the image bytes.", examples=[524288]
    )
    width: _Side = Field(description="Image width in pixels.", examples=[1080])
    height: _Side = Field(description="Image height in pixels.", examples=[1920])
    tasks: Annotated[list[VisionTask], AfterValidator(_distinct)] = Field(
        min_length=1,
        max_length=4,
        description="Analyses requested, each at most once.",
        examples=[["text", "labels"]],
    )
    locale: LocaleField


class _ImageAnalysis(Event):
    """The fields of an analysis, shared by the analysis and its released form (not an event itself)."""

    request_id: RequestId
    device_id: DeviceId
    locale: LocaleField
    image_width: _Side = Field(description="Width of the analysed image in pixels.", examples=[1080])
    image_height: _Side = Field(description="Height of the analysed image in pixels.", examples=[1920])
    texts: list[DetectedText] = Field(
        default_factory=list,
        max_length=500,
        description="Lines of text found (task ``text``).",
        examples=[
            [
                {
                    "text": "出口",
                    "box": {"x": 120, "y": 80, "width": 300, "height": 60},
                    "confidence": 0.97,
                    "order": 0,
                }
            ]
        ],
    )
    labels: list[ImageLabel] = Field(
        default_factory=list,
        max_length=50,
        description="What the image shows, best first (task ``labels``).",
        examples=[[{"name_zh": "猫", "name_en": "cat", "score": 0.91}]],
    )
    faces: list[FaceBox] = Field(
        default_factory=list,
        max_length=100,
        description="Faces found (task ``faces``).",
        examples=[[{"box": {"x": 400, "y": 300, "width": 180, "height": 180}, "confidence": 0.88}]],
    )
    objects: list[DetectedObject] = Field(
        default_factory=list,
        max_length=200,
        description="Objects found (task ``objects``).",
        examples=[
            [
                {
                    "name_zh": "自行车",
                    "name_en": "bicycle",
                    "score": 0.8,
                    "box": {"x": 10, "y": 900, "width": 600, "height": 400},
                }
            ]
        ],
    )
    model_names: dict[VisionTask, ModelName] = Field(
        default_factory=dict,
        description="Model that ran each task; one entry per task that ran.",
        examples=[
            {
                "text": "rapidocr-ppocr-v4",
                "labels": "efficientnet-lite0",
                "faces": "opencv-haar",
                "objects": "lingxi-objects-v1",
            }
        ],
    )

    unavailable: dict[VisionTask, _Why] = Field(
        default_factory=dict,
        description="Requested tasks that could not run here, and why (for example objects: no object "
        "detector is configured): the answer says so rather than inventing results.",
        examples=[{}],
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if not self.model_names and not self.unavailable:
            raise ValueError("an analysis names the model of at least one task, or why none could run")
        if both := set(self.model_names) & set(self.unavailable):
            raise ValueError(f"task {sorted(both)[0]!r} cannot both have run and be unavailable")
        results: dict[VisionTask, Sequence[ValueObject]] = {
            "text": self.texts,
            "labels": self.labels,
            "faces": self.faces,
            "objects": self.objects,
        }
        for task, found in results.items():
            if found and task not in self.model_names:
                raise ValueError(f"there are results for task {task!r} but model_names has no entry for it")
        boxes = [*(t.box for t in self.texts), *(f.box for f in self.faces), *(o.box for o in self.objects)]
        for box in boxes:
            if box.x + box.width > self.image_width or box.y + box.height > self.image_height:
                raise ValueError(
                    f"box {box.model_dump()} lies outside the {self.image_width}x{self.image_height} image"
                )
        return self


class ImageAnalyzed(_ImageAnalysis):
    """Vision analysed an image; nothing has been shown to the user yet.

    Vision produces it; compliance consumes it and releases or blocks it.
    """

    stream = "vision.image.analyzed"


class AnalysisReleased(_ImageAnalysis):
    """Compliance released an image analysis with its AI-content labels; this is what the user sees.

    Compliance produces it; the gateway consumes it and hands it to the device.
    """

    stream = "vision.analysis.released"

    explicit_label: ExplicitLabelField
    aigc: AigcField
    filing_number: FilingNumberField = None


class AnalysisBlocked(Event):
    """Compliance blocked an image analysis (for example the image itself is not allowed).

    Compliance produces it; the gateway consumes it.
    """

    stream = "vision.analysis.blocked"

    request_id: RequestId
    device_id: DeviceId
    locale: LocaleField
    reason_code: ReasonCode
    safe_reply: SafeReply


class AnalysisFailed(Event):
    """Vision could not analyse the image: it expired before its turn, is not a readable image, or is
    one vision refuses (a decompression bomb). The device gets the reason; nothing was analysed.

    Vision produces it; the gateway consumes it.
    """

    stream = "vision.analysis.failed"

    request_id: RequestId
    device_id: DeviceId
    locale: LocaleField
    reason_code: DottedCode = Field(description="Machine-readable reason.", examples=["image.expired"])
    detail: str = Field(
        min_length=1,
        max_length=500,
        pattern=NOT_BLANK,
        description="What went wrong, in words, for the developer reading the result.",
        examples=["the image is no longer stored (its time to live ran out before analysis)"],
    )
