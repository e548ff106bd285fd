"""Finding faces: where they are, never who they are.

OpenCV's Haar cascade for frontal faces (Lienhart's "alt2", shipped in the opencv-python wheel). Only a
box and a confidence leave this module; nothing of the face (no crop, no landmark, no descriptor) is
kept or returned.

The parameters were chosen on the images scikit-image ships, for few false positives: 100 faces from
its LFW sample pasted at 40 to 220 pixels into photographs without people, and 36 pictures without a
face (objects, textures, a cat, astronomy, microscopy; each also enlarged to 2048 pixels). With these
settings 98 of the 100 faces were found, nothing else in those scenes, and one box on the 36 faceless
pictures (on coins enlarged five times). The alternatives measured worse: the "default" cascade 28 false
boxes, histogram equalisation before detection 11 (and 3 faces fewer), the profile-face cascade (both
directions) 16, one of them on the cat, at three times the cost; so only the frontal cascade runs.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import cv2.data
import numpy as np
from lingxi.events.vision import FaceBox, VisionTask

from lingxi_vision.analysers import ModelUnavailable, Picture, box_of

__all__ = ["CASCADE_FILE", "DETECTION_SIDE", "MIN_FACE_PX", "FaceFinder"]

CASCADE_FILE = "haarcascade_frontalface_alt2.xml"
"""The cascade, in ``cv2.data.haarcascades``."""

DETECTION_SIDE = 1024
"""Longest side of the copy the cascade scans: a larger picture is shrunk to it first. Scanning a 2048
pixel picture takes three times as long and finds more false faces in fine texture."""

MIN_FACE_PX = 24
"""Smallest face looked for, in pixels of the scanned copy (about 2.3 % of a large picture's longer
side: 48 pixels of a 2048 pixel picture)."""

_SCALE_STEP = 1.1  # each scan looks for faces 10 % larger than the last
_MIN_NEIGHBOURS = 5  # overlapping hits a face needs: fewer lets textures through, more loses no face here
# The confidence is a logistic of how far the last stage's sum clears that stage's threshold. On the
# sample scenes above true faces cleared it by 2.1 to 4.1 (9 in 10 of them), false hits by 0.4 to 1.8;
# the curve is 0.5 between the two and about 0.95 at a typical face's margin.
_MARGIN_MIDPOINT = 1.95
_MARGIN_SPREAD = 0.32


class FaceFinder:
    """Finds frontal faces in a picture; returns their boxes, most certain first.

    Built once per process (the cascade loads in the constructor); ``threads`` is OpenCV's thread
    count for the process, one per core the replica has.
    """

    task: VisionTask = "faces"
    model_name = "opencv-haar-frontalface-alt2"

    def __init__(self, *, threads: int = 1) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        path = Path(cv2.data.haarcascades) / CASCADE_FILE
        if not path.is_file():
            raise ModelUnavailable(
                f"the face cascade {path} is missing: install opencv-python-headless 4.x, whose wheel "
                "carries the Haar cascades"
            )
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise ModelUnavailable(f"the face cascade {path} could not be loaded")
        self._last_stage_threshold = _last_stage_threshold(path)
        cv2.setNumThreads(threads)

    def analyse(self, picture: Picture) -> list[FaceBox]:
        """The faces in ``picture`` (H × W × 3 RGB), with boxes in its pixels, most certain first."""
        if picture.ndim != 3 or picture.shape[2] != 3 or picture.dtype != np.uint8:
            raise ValueError(
                f"a picture is an H x W x 3 array of uint8 RGB, not {picture.dtype} of shape {picture.shape}"
            )
        height, width = picture.shape[:2]
        if min(height, width) < MIN_FACE_PX:
            return []
        grey = cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY)
        ratio = min(1.0, DETECTION_SIDE / max(height, width))
        if ratio < 1.0:
            size = (max(1, round(width * ratio)), max(1, round(height * ratio)))
            grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        boxes, _, weights = self._cascade.detectMultiScale3(
            grey,
            scaleFactor=_SCALE_STEP,
            minNeighbors=_MIN_NEIGHBOURS,
            minSize=(MIN_FACE_PX, MIN_FACE_PX),
            outputRejectLevels=True,
        )
        faces = []
        for (x, y, w, h), weight in zip(boxes, np.asarray(weights).ravel(), strict=True):
            box = box_of(x / ratio, y / ratio, (x + w) / ratio, (y + h) / ratio, width, height)
            if box is not None:
                confidence = _confidence(float(weight) - self._last_stage_threshold)
                faces.append(FaceBox(box=box, confidence=confidence))
        return sorted(faces, key=lambda face: (-(face.confidence or 0.0), face.box.x, face.box.y))


def _confidence(margin: float) -> float:
    return round(1.0 / (1.0 + math.exp(-(margin - _MARGIN_MIDPOINT) / _MARGIN_SPREAD)), 4)


def _last_stage_threshold(path: Path) -> float:
    """The threshold the last stage's sum must reach (what detectMultiScale3's weights are measured
    against)."""
    storage = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
    try:
        stages = storage.getNode("cascade").getNode("stages")
        return float(stages.at(stages.size() - 1).getNode("stageThreshold").real())
    finally:
        storage.release()
