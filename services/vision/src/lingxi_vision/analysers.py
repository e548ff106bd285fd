"""The one small interface every image analyser implements, and what they share.

An analyser is built once per process (its model loaded then) and called for every image. It gets the
picture as an RGB array, already turned upright by its EXIF orientation and downscaled when very large
(:mod:`lingxi_vision.images`), and returns the event's own value objects with boxes in the pixels of
the array it was given; the caller maps them back to the original image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt
from lingxi.events.vision import BoundingBox, DetectedObject, DetectedText, FaceBox, ImageLabel, VisionTask

Picture = npt.NDArray[np.uint8]
"""An image as height × width × 3 RGB bytes."""

Finding = DetectedText | ImageLabel | FaceBox | DetectedObject


class ModelUnavailable(Exception):
    """An analyser's model is not on this machine (not exported, or no path configured). The message
    says what is missing and how to provide it; results then name the task as unavailable with it."""


class Analyser(Protocol):
    task: VisionTask
    model_name: str
    """The model's name as results report it (``rapidocr-ppocr-v6``)."""

    def analyse(self, picture: Picture) -> Sequence[Finding]:
        """What the model finds in ``picture``, best or first in reading order first."""
        ...


def box_of(x0: float, y0: float, x1: float, y1: float, width: int, height: int) -> BoundingBox | None:
    """The pixel box from corner coordinates, clipped to a ``width`` × ``height`` picture; None when
    nothing of it is left inside."""
    left, top = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
    right, bottom = min(width, int(np.ceil(x1))), min(height, int(np.ceil(y1)))
    if right <= left or bottom <= top:
        return None
    return BoundingBox(x=left, y=top, width=right - left, height=bottom - top)
