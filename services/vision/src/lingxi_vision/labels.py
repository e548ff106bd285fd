"""Image labels: what a picture shows, from an ImageNet classifier (EfficientNet-Lite0, 1000 classes).

The model is exported to ONNX once, at install time (``make install`` runs
``services/vision/export/export_labels_model.py``), into ``<environment>/share/lingxi/models``, with a
JSON file beside it that says how to prepare a picture (input size, centre crop, mean and standard
deviation). The class names, English and Simplified Chinese, are ``data/imagenet_classes.tsv`` in this
package, in the model's class order.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from lingxi.events.vision import ImageLabel, VisionTask
from PIL import Image

from lingxi_vision.analysers import ModelUnavailable, Picture

__all__ = [
    "MODEL_PATH_VARIABLE",
    "ClassName",
    "ImageLabeller",
    "Preprocessing",
    "default_model_path",
    "imagenet_classes",
    "load_labeller",
]

MODEL_PATH_VARIABLE = "LINGXI_VISION_LABELS_MODEL"
"""Environment variable that points at another copy of the exported model."""

MODEL_FILE = "efficientnet-lite0.onnx"
MAX_LABELS = 50
"""Most labels one analysis may carry (the event's limit)."""

ClassName = tuple[str, str]
"""A class's name as ``(name_en, name_zh)``."""

FloatArray = npt.NDArray[np.float32]

_RESAMPLING = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}


def default_model_path() -> Path:
    """Where the labeller's model is: ``$LINGXI_VISION_LABELS_MODEL`` when set, else where
    ``make install`` exports it, in the running environment (``sys.prefix``)."""
    if configured := os.environ.get(MODEL_PATH_VARIABLE, "").strip():
        return Path(configured)
    return Path(sys.prefix) / "share" / "lingxi" / "models" / MODEL_FILE


def load_labeller(*, threads: int = 1) -> ImageLabeller:
    """The labeller with the model at :func:`default_model_path`; :class:`ModelUnavailable` when it has
    not been exported there."""
    return ImageLabeller(default_model_path(), threads=threads)


@dataclass(frozen=True, slots=True)
class Preprocessing:
    """How the model wants a picture, as the export wrote it beside the model: a centred square of
    ``crop_fraction`` of the shorter side, resized to ``input_size``, then ``(pixel - mean) / std``
    per RGB channel on 0–255 values, laid out N × 3 × H × W."""

    input_name: str
    output_name: str
    input_size: int
    crop_fraction: float
    resample: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    num_classes: int

    @classmethod
    def read(cls, path: Path) -> Preprocessing:
        """The description in ``path``; ValueError naming what is wrong with it."""
        try:
            found: Any = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"cannot read the model's preprocessing {path}: {error}") from error
        if not isinstance(found, dict):
            raise ValueError(f"{path} must hold a JSON object")
        try:
            preprocessing = cls(
                input_name=str(found["input_name"]),
                output_name=str(found["output_name"]),
                input_size=int(found["input_size"]),
                crop_fraction=float(found["crop_fraction"]),
                resample=str(found["resample"]),
                mean=_three(found["mean"]),
                std=_three(found["std"]),
                num_classes=int(found["num_classes"]),
            )
        except KeyError as missing:
            raise ValueError(f"{path} does not say {missing.args[0]!r}") from missing
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path} has a value of the wrong kind: {error}") from error
        if found.get("layout", "NCHW") != "NCHW" or found.get("channels", "RGB") != "RGB":
            raise ValueError(f"{path}: only NCHW RGB input is supported")
        if preprocessing.resample not in _RESAMPLING:
            raise ValueError(f"{path}: resample must be one of {sorted(_RESAMPLING)}")
        if not 16 <= preprocessing.input_size <= 1024 or not 0.1 <= preprocessing.crop_fraction <= 1.0:
            raise ValueError(f"{path}: input_size or crop_fraction is out of range")
        if min(preprocessing.std) <= 0:
            raise ValueError(f"{path}: std must be positive")
        return preprocessing


def _three(values: Any) -> tuple[float, float, float]:
    if not isinstance(values, list) or len(values) != 3:
        raise ValueError(f"expected three numbers (R, G, B), got {values!r}")
    red, green, blue = (float(value) for value in values)
    return red, green, blue


@cache
def imagenet_classes() -> tuple[ClassName, ...]:
    """The 1000 ImageNet-1k classes in the model's output order, as ``(name_en, name_zh)``."""
    table = resources.files("lingxi_vision").joinpath("data", "imagenet_classes.tsv")
    header, *rows = table.read_text(encoding="utf-8").splitlines()
    if header.split("\t") != ["index", "name_en", "name_zh"]:
        raise ValueError(f"imagenet_classes.tsv has an unexpected header: {header!r}")
    names: list[ClassName] = []
    for expected_index, row in enumerate(rows):
        index, name_en, name_zh = row.split("\t")
        if int(index) != expected_index or not name_en.strip() or not name_zh.strip():
            raise ValueError(f"imagenet_classes.tsv row {expected_index} is out of order or blank: {row!r}")
        names.append((name_en, name_zh))
    return tuple(names)


class ImageLabeller:
    """Says what a picture shows: the ImageNet classes the model scores highest, in English and Chinese.

    Built once per process: the model and its preprocessing load in the constructor, and it runs once on
    a blank picture there, so a model that cannot run fails here rather than on the first image.
    ``threads`` is onnxruntime's intra-op thread count (one per core the replica has); ``analyse`` returns
    at most ``top_k`` labels, each scoring at least ``min_score``.
    """

    task: VisionTask = "labels"
    model_name = "efficientnet-lite0"

    def __init__(
        self, model_path: Path, *, threads: int = 1, top_k: int = 5, min_score: float = 0.05
    ) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        if not 1 <= top_k <= MAX_LABELS:
            raise ValueError(f"top_k must be between 1 and {MAX_LABELS}, not {top_k}")
        if not 0.0 <= min_score <= 1.0:
            raise ValueError(f"min_score must be between 0 and 1, not {min_score}")
        if not model_path.is_file():
            raise ModelUnavailable(
                f"the image-label model {model_path.name} is not on this machine: run `make install` to "
                f"export it (or set {MODEL_PATH_VARIABLE} to its path)"
            )
        description = model_path.with_suffix(".json")
        if not description.is_file():
            raise ModelUnavailable(
                f"the image-label model's preprocessing {description.name} is missing beside the model: "
                "run `make install` to export both again"
            )
        self.top_k = top_k
        self.min_score = min_score
        self.preprocessing = Preprocessing.read(description)
        self._classes = imagenet_classes()
        if self.preprocessing.num_classes != len(self._classes):
            raise ValueError(
                f"{description.name} says the model has {self.preprocessing.num_classes} classes, "
                f"but the class table names {len(self._classes)}"
            )
        self._resample = _RESAMPLING[self.preprocessing.resample]
        self._mean = np.asarray(self.preprocessing.mean, np.float32)
        self._std = np.asarray(self.preprocessing.std, np.float32)

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own unrelated classes for each way a file is bad
            raise ValueError(f"{model_path} is not a readable ONNX model: {error}") from error
        side = self.preprocessing.input_size
        try:
            logits = self._logits(np.zeros((side, side, 3), np.uint8))
        except Exception as error:
            raise ValueError(f"the image-label model {model_path.name} does not run: {error}") from error
        if logits.shape != (len(self._classes),):
            raise ValueError(
                f"the image-label model {model_path.name} gives {logits.shape} scores, "
                f"not one for each of {len(self._classes)} classes"
            )

    def analyse(self, picture: Picture) -> list[ImageLabel]:
        """What ``picture`` (H × W × 3 RGB) shows, best first: at most ``top_k`` labels, each with
        its softmax score (at least ``min_score``)."""
        if picture.dtype != np.uint8 or picture.ndim != 3 or picture.shape[2] != 3 or 0 in picture.shape:
            raise ValueError(
                "a picture is a height × width × 3 uint8 RGB array, "
                f"not {picture.dtype} of shape {picture.shape}"
            )
        scores = _softmax(self._logits(picture))
        best = np.argsort(scores)[::-1][: self.top_k]
        return [
            ImageLabel(name_en=self._classes[i][0], name_zh=self._classes[i][1], score=float(scores[i]))
            for i in best
            if scores[i] >= self.min_score
        ]

    def _logits(self, picture: Picture) -> FloatArray:
        (logits,) = self._session.run(
            [self.preprocessing.output_name], {self.preprocessing.input_name: self._prepare(picture)}
        )
        first: FloatArray = np.asarray(logits, np.float32)[0]
        return first

    def _prepare(self, picture: Picture) -> FloatArray:
        """The centred square crop, resized to the input size and normalised, as a 1 × 3 × S × S batch."""
        image = Image.fromarray(np.ascontiguousarray(picture), "RGB")
        side = min(image.width, image.height) * self.preprocessing.crop_fraction
        left, top = (image.width - side) / 2, (image.height - side) / 2
        size = self.preprocessing.input_size
        # reducing_gap: a large picture is first shrunk by whole factors (cheap box averaging), then
        # resampled; the result differs from a direct resize by less than the model notices.
        resized = image.resize(
            (size, size), self._resample, box=(left, top, left + side, top + side), reducing_gap=3.0
        )
        pixels: FloatArray = (np.asarray(resized, np.float32) - self._mean) / self._std
        return np.ascontiguousarray(pixels.transpose(2, 0, 1)[np.newaxis])


def _softmax(logits: FloatArray) -> npt.NDArray[np.float64]:
    exponentials: npt.NDArray[np.float64] = np.exp(logits.astype(np.float64) - logits.max())
    probabilities: npt.NDArray[np.float64] = exponentials / exponentials.sum()
    return probabilities
