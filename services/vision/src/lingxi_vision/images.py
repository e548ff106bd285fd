"""From the stored image bytes to the picture the analysers see, and from their boxes back.

The bytes are checked by the same rules the gateway applied (:mod:`lingxi.images`), turned upright by
their EXIF orientation and, when large, downscaled: the models work on at most ``max_side`` pixels a
side (a 12 MP phone photo gets no better OCR at full size, only slower), while every box in a result
is in pixels of the original upright image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from lingxi.events.vision import BoundingBox
from lingxi.images import ImageRejected, open_image
from PIL import Image

from lingxi_vision.analysers import Picture, box_of

__all__ = ["DEFAULT_MAX_SIDE", "ImageRejected", "Prepared", "prepare", "to_original"]

DEFAULT_MAX_SIDE = 2048
"""Longest side of the picture the analysers get, in pixels."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """An image ready for the analysers.

    ``picture`` is the upright RGB array, at most ``max_side`` pixels a side; ``width`` and ``height``
    are the upright original's size; ``scale`` is how many original pixels one picture pixel spans
    (1 when the image was small enough to keep as it was).
    """

    picture: Picture
    width: int
    height: int
    scale: float


def prepare(data: bytes, *, max_side: int = DEFAULT_MAX_SIDE) -> Prepared:
    """Check, decode, turn upright and downscale the image in ``data``. Raises ``ImageRejected``."""
    if max_side < 1:
        raise ValueError(f"max_side must be at least 1 pixel, not {max_side}")
    image = open_image(data)
    width, height = image.size
    longer = max(width, height)
    if longer > max_side:
        ratio = max_side / longer
        size = (max(1, round(width * ratio)), max(1, round(height * ratio)))
        # Lanczos keeps thin strokes (small text) legible where cheaper filters blur them.
        image = image.resize(size, Image.Resampling.LANCZOS)
    picture: Picture = np.asarray(image, dtype=np.uint8)
    return Prepared(picture=picture, width=width, height=height, scale=longer / max(image.size))


def to_original(box: BoundingBox, prepared: Prepared) -> BoundingBox:
    """``box``, in pixels of ``prepared.picture``, in pixels of the original image, clipped to it."""
    picture_height, picture_width = prepared.picture.shape[:2]
    # Per axis: rounding the picture's size makes the two ratios differ slightly from ``scale``.
    across, down = prepared.width / picture_width, prepared.height / picture_height
    mapped = box_of(
        box.x * across,
        box.y * down,
        (box.x + box.width) * across,
        (box.y + box.height) * down,
        prepared.width,
        prepared.height,
    )
    if mapped is None:
        raise ValueError(f"box {box.model_dump()} lies outside the {picture_width}x{picture_height} picture")
    return mapped
