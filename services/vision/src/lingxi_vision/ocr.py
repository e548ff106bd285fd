"""Reading text: lines of simplified and traditional Chinese and English, with PP-OCR through rapidocr.

rapidocr runs PaddleOCR's models in onnxruntime: a detector that outlines each line of text, a classifier
that turns upside-down lines the right way up, and a recogniser that reads them (one model for
simplified and traditional Chinese, English and digits). The models ship inside the rapidocr wheel and
are loaded from there by path, so nothing is ever downloaded.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import rapidocr
from lingxi.events.vision import BoundingBox, DetectedText, VisionTask

from lingxi_vision.analysers import ModelUnavailable, Picture, box_of

__all__ = ["MODEL_FILES", "TextReader", "reading_order"]

MODEL_FILES = {
    "Det": "PP-OCRv6_det_small.onnx",
    "Cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
    "Rec": "PP-OCRv6_rec_small.onnx",
}
"""The models rapidocr's wheel ships, by the stage of its configuration they are for."""

_MAX_TEXT_CHARS = 1000  # the event's limit on one line


class TextReader:
    """Finds lines of text in a picture and reads them, in reading order.

    Built once per process (the three models load in the constructor); ``threads`` is onnxruntime's
    intra-op thread count, one per core the replica has.
    """

    task: VisionTask = "text"
    model_name = "rapidocr-ppocr-v6"

    def __init__(self, *, threads: int = 1) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        models = Path(rapidocr.__file__).parent / "models"
        paths = {stage: models / name for stage, name in MODEL_FILES.items()}
        if missing := [str(path) for path in paths.values() if not path.is_file()]:
            raise ModelUnavailable(
                f"the OCR models are not where the installed rapidocr keeps them ({', '.join(missing)}): "
                "install rapidocr>=3.10, whose wheel carries them"
            )
        self._engine = rapidocr.RapidOCR(
            params={
                "Global.log_level": "error",
                **{f"{stage}.model_path": str(path) for stage, path in paths.items()},
                "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
        )
        # Its logger (and console handler) comes with rapidocr.main, imported lazily by the line above.
        _quiet_rapidocr_logging()
        # rapidocr loads each model on first use: read one rendered line now, so every model loads (and
        # one that cannot run fails) here, and the first image is not the slow one.
        self.analyse(_warm_up_picture())

    def analyse(self, picture: Picture) -> list[DetectedText]:
        """The lines of text in ``picture`` (H × W × 3 RGB), in reading order; none in a picture
        without text."""
        if picture.ndim != 3 or picture.shape[2] != 3 or picture.dtype != np.uint8:
            raise ValueError(
                f"a picture is an H x W x 3 array of uint8 RGB, not {picture.dtype} of shape {picture.shape}"
            )
        height, width = picture.shape[:2]
        if height == 0 or width == 0:
            return []
        # rapidocr takes an array as OpenCV's BGR.
        result = self._engine(np.ascontiguousarray(picture[:, :, ::-1]))
        quads = getattr(result, "boxes", None)
        texts = getattr(result, "txts", None)
        scores = getattr(result, "scores", None)
        if quads is None or texts is None or scores is None:
            return []
        lines: list[_Line] = []
        for quad, text, score in zip(quads, texts, scores, strict=True):
            text = str(text).strip()[:_MAX_TEXT_CHARS]
            corners = np.asarray(quad, dtype=np.float64).reshape(-1, 2)
            (left, top), (right, bottom) = corners.min(axis=0), corners.max(axis=0)
            box = box_of(left, top, right, bottom, width, height)
            if text and box is not None:
                lines.append(_Line(text=text, box=box, confidence=min(1.0, max(0.0, float(score)))))
        return [
            DetectedText(text=line.text, box=line.box, confidence=line.confidence, order=order)
            for order, line in enumerate(lines[i] for i in reading_order([line.box for line in lines]))
        ]


@dataclass(frozen=True, slots=True)
class _Line:
    text: str
    box: BoundingBox
    confidence: float


def reading_order(boxes: Sequence[BoundingBox]) -> list[int]:
    """Indices of ``boxes`` in reading order: lines top to bottom, left to right within a line.

    Two boxes are on one line when each one's vertical centre lies within the other's vertical extent
    (a line is judged by its first box, so a slight slope does not chain lines together).
    """
    by_centre = sorted(range(len(boxes)), key=lambda i: (_centre_y(boxes[i]), boxes[i].x))
    lines: list[list[int]] = []
    for index in by_centre:
        box = boxes[index]
        if lines and _same_line(boxes[lines[-1][0]], box):
            lines[-1].append(index)
        else:
            lines.append([index])
    return [index for line in lines for index in sorted(line, key=lambda i: boxes[i].x)]


def _centre_y(box: BoundingBox) -> float:
    return box.y + box.height / 2


def _same_line(first: BoundingBox, other: BoundingBox) -> bool:
    def within(centre: float, box: BoundingBox) -> bool:
        return box.y <= centre <= box.y + box.height

    return within(_centre_y(other), first) and within(_centre_y(first), other)


def _warm_up_picture() -> Picture:
    """A line of dark text on white, drawn with OpenCV's own stroke font (no font file needed)."""
    picture = np.full((96, 480, 3), 255, dtype=np.uint8)
    cv2.putText(picture, "Lingxi OCR 2026", (16, 64), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (20, 20, 20), 3)
    return picture


def _quiet_rapidocr_logging() -> None:
    """rapidocr prints coloured INFO lines to stderr through its own handler; send its records to the
    root logger instead (our structured format) and keep only errors."""
    rapidocr_log = logging.getLogger("RapidOCR")
    rapidocr_log.handlers.clear()
    rapidocr_log.propagate = True
    rapidocr_log.setLevel(logging.ERROR)
