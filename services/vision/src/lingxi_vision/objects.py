"""Object boxes from a YOLO-format ONNX detector the operator configures by path.

No object detector ships with Lingxi (none with usable weights is packaged for offline use), so the
operator points ``LINGXI_VISION_OBJECTS_MODEL`` at one: a YOLOv5/v7 or YOLOv8/v11 model exported to ONNX
(``yolo export format=onnx``), with its class names in a YAML file or in the model's own metadata (as
Ultralytics writes it). With none configured the task is unavailable and the answer says so.

Everything around the session is ours: the letterbox (resize keeping the aspect ratio, grey padding),
decoding the output (its layout read from its shape), per-class non-maximum suppression, and mapping the
boxes back through the letterbox to the picture's pixels.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort
import yaml
from lingxi.events.vision import DetectedObject, VisionTask
from lingxi.logging import get_logger

from lingxi_vision.analysers import ModelUnavailable, Picture, box_of

__all__ = [
    "MAX_DETECTIONS",
    "ClassName",
    "ObjectDetector",
    "OutputLayout",
    "letterbox",
    "load_detector",
    "load_names",
    "non_max_suppression",
]

log = get_logger("lingxi_vision.objects")

ClassName = tuple[str, str]
"""A class's name as ``(name_en, name_zh)``."""

OutputLayout = Literal["yolov8", "yolov5"]
"""How a detector's output reads: ``yolov8`` (v8, v11: cx, cy, w, h, then one score per class) or
``yolov5`` (v5, v7: cx, cy, w, h, objectness, then one probability per class)."""

MAX_DETECTIONS = 200
"""Most objects one analysis may carry (the event's limit)."""

DEFAULT_INPUT_SIDE = 640
"""Input side used when the model's input height or width is dynamic (what YOLO models train at)."""

LETTERBOX_PADDING = 114
"""Grey the letterbox pads with, as YOLO models saw in training."""

NOT_CONFIGURED = (
    "no object detector is configured: set LINGXI_VISION_OBJECTS_MODEL to a YOLO-format ONNX file"
)

_MAX_CANDIDATES = 5000  # boxes kept for suppression, best first: bounds its cost on a very low threshold
_MAX_NAME_CHARS = 64  # the event's limit on a class name
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$")  # the events' ModelName pattern
_MODEL_NAME_DISALLOWED = re.compile(r"[^A-Za-z0-9._:/@+-]+")
_NAME_KEYS = frozenset({"en", "zh", "aliases"})

FloatArray = npt.NDArray[np.float32]


class ObjectDetector:
    """Finds objects with a YOLO-format ONNX detector and names them in English and Chinese.

    Built once per process: the model loads in the constructor and runs once on a blank image there, so a
    model that cannot run, or whose output does not fit the class names, fails here rather than on the
    first image. ``class_names`` are ``(name_en, name_zh)`` pairs in the model's class order (see
    :func:`load_names`); None takes them from the model's metadata, where Ultralytics exports write them.
    """

    task: VisionTask = "objects"

    def __init__(
        self,
        model_path: Path,
        class_names: Sequence[ClassName] | None = None,
        *,
        model_name: str | None = None,
        threads: int = 1,
        score_threshold: float = 0.25,
        iou_threshold: float = 0.45,
        max_detections: int = 100,
    ) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        if not 0.0 < score_threshold <= 1.0:
            raise ValueError(f"score_threshold must be in (0, 1], not {score_threshold}")
        if not 0.0 <= iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in [0, 1], not {iou_threshold}")
        if not 1 <= max_detections <= MAX_DETECTIONS:
            raise ValueError(f"max_detections must be between 1 and {MAX_DETECTIONS}, not {max_detections}")
        self.model_name = _model_name(model_name, model_path)
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.max_detections = max_detections

        self._session = _open_session(model_path, threads)
        model_input = self._session.get_inputs()[0]
        self._input_name = model_input.name
        self._output_name = self._session.get_outputs()[
            0
        ].name  # YOLOv5 exports may add more; the first counts
        self._input_type = _input_dtype(model_input.type, model_path)
        self.input_height, self.input_width = _input_size(model_input.shape, model_path)

        own_entries = _metadata_entries(self._session, model_path)
        if class_names is None:
            if own_entries is None:
                raise ModelUnavailable(
                    f"object detector {_short(model_path)} carries no class names: "
                    "set LINGXI_VISION_OBJECTS_NAMES to a YAML file of them"
                )
            class_names = _names_of(own_entries, f"{model_path.name} metadata")
        elif own_entries is not None and len(own_entries) != len(class_names):
            raise ValueError(
                f"{len(class_names)} class names were given but object detector {model_path.name} "
                f"names {len(own_entries)} classes in its metadata"
            )
        if not class_names:
            raise ValueError("an object detector needs at least one class name")
        self.class_names: tuple[ClassName, ...] = tuple(_checked_pair(pair) for pair in class_names)

        blank = np.full((self.input_height, self.input_width, 3), LETTERBOX_PADDING, np.uint8)
        try:
            output = self._run(blank)
        except Exception as error:
            raise ValueError(f"object detector {model_path.name} does not run: {error}") from error
        self.layout, self._boxes_first = _layout_of(output.shape, len(self.class_names), model_path)

    def analyse(self, picture: Picture) -> list[DetectedObject]:
        """The objects in ``picture``, best score first, boxes in its pixels."""
        _check_picture(picture)
        height, width = picture.shape[:2]
        canvas, scale_x, scale_y, left, top = letterbox(picture, self.input_width, self.input_height)
        output = self._run(canvas)
        rows = output[0] if self._boxes_first else output[0].T
        boxes, scores, classes = decode(rows, self.layout, self.score_threshold)
        kept = non_max_suppression(boxes, scores, classes, self.iou_threshold)
        found: list[DetectedObject] = []
        for index in kept:
            x0, y0, x1, y1 = boxes[index]
            box = box_of(
                (x0 - left) / scale_x, (y0 - top) / scale_y, (x1 - left) / scale_x, (y1 - top) / scale_y,
                width, height,
            )  # fmt: skip
            if box is None:  # wholly in the padding
                continue
            name_en, name_zh = self.class_names[classes[index]]
            score = min(1.0, max(0.0, float(scores[index])))
            found.append(DetectedObject(name_zh=name_zh, name_en=name_en, score=score, box=box))
            if len(found) == self.max_detections:
                break
        return found

    def _run(self, canvas: Picture) -> FloatArray:
        tensor = canvas.transpose(2, 0, 1)[np.newaxis].astype(np.float32) / np.float32(255)
        (output,) = self._session.run(
            [self._output_name], {self._input_name: tensor.astype(self._input_type)}
        )
        return np.asarray(output, dtype=np.float32)


def load_detector(model_path: Path | None, names_path: Path | None, *, threads: int = 1) -> ObjectDetector:
    """The configured object detector: ``model_path`` a YOLO-format ONNX file, ``names_path`` a YAML file
    of its class names (None: the names in the model's metadata).

    Raises :class:`ModelUnavailable` when no model is configured, a configured file is missing, or there
    are no class names (its message, short and without directories, goes into the answer), and
    ``ValueError`` when the model cannot be read or run, or does not fit the names.
    """
    if model_path is None:
        raise ModelUnavailable(NOT_CONFIGURED)
    class_names = load_names(names_path) if names_path is not None else None
    return ObjectDetector(model_path, class_names, threads=threads)


def load_names(path: Path) -> list[ClassName]:
    """Class names from a YAML file, in class order, as ``(name_en, name_zh)`` pairs.

    The file holds a list, or a mapping of class index to name (as Ultralytics writes under ``names:``;
    a file with a top-level ``names:`` key is read there). A name is an English string or a mapping
    ``{en: ..., zh: ...}``. A name without Chinese takes it from COCO's table when its English name is a
    COCO class; otherwise the English name stands for both, and a warning says so.
    """
    if not path.is_file():
        raise ModelUnavailable(
            f"object class names file {_short(path)} is not on this machine (see LINGXI_VISION_OBJECTS_NAMES)"
        )
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ValueError(f"object class names file {path} is not readable YAML: {error}") from error
    if isinstance(content, Mapping) and "names" in content:
        content = content["names"]
    return _names_of(_ordered_entries(content, str(path)), str(path))


def letterbox(picture: Picture, width: int, height: int) -> tuple[Picture, float, float, int, int]:
    """``picture`` resized to fit ``width`` × ``height`` keeping its aspect ratio and centred on grey
    padding, as YOLO models expect; with the scale along each axis and the left and top padding, to map
    boxes back (``x_picture = (x_canvas - left) / scale_x``)."""
    picture_height, picture_width = picture.shape[:2]
    scale = min(width / picture_width, height / picture_height)
    new_width = min(width, max(1, round(picture_width * scale)))
    new_height = min(height, max(1, round(picture_height * scale)))
    resized: npt.NDArray[Any] = picture
    if (new_width, new_height) != (picture_width, picture_height):
        resized = cv2.resize(
            np.ascontiguousarray(picture), (new_width, new_height), interpolation=cv2.INTER_LINEAR
        )
    left, top = (width - new_width) // 2, (height - new_height) // 2
    canvas = np.full((height, width, 3), LETTERBOX_PADDING, dtype=np.uint8)
    canvas[top : top + new_height, left : left + new_width] = resized
    return canvas, new_width / picture_width, new_height / picture_height, left, top


def decode(
    rows: FloatArray, layout: OutputLayout, score_threshold: float
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.intp]]:
    """Boxes (x0, y0, x1, y1 in model-input pixels), scores and class indices of the candidates in
    ``rows`` (one row a box) scoring at least ``score_threshold``, best first (at most a few thousand).

    A box takes its best class; its score is that class's score (``yolov8``) or objectness × that
    class's probability (``yolov5``)."""
    class_scores = rows[:, 5:] * rows[:, 4:5] if layout == "yolov5" else rows[:, 4:]
    classes = np.argmax(class_scores, axis=1)
    scores = class_scores[np.arange(len(rows)), classes]
    candidates = np.flatnonzero(scores >= score_threshold)
    candidates = candidates[np.argsort(-scores[candidates], kind="stable")][:_MAX_CANDIDATES]
    cx, cy, w, h = (rows[candidates, i] for i in range(4))
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float32)
    return boxes, scores[candidates].astype(np.float32), classes[candidates]


def non_max_suppression(
    boxes: FloatArray, scores: FloatArray, classes: npt.NDArray[np.intp], iou_threshold: float
) -> npt.NDArray[np.intp]:
    """Indices of the boxes kept, best score first: within each class, greedily from the best, a box is
    dropped when it overlaps one already kept by more than ``iou_threshold`` (intersection over union).
    Boxes of different classes never suppress each other. ``boxes`` are rows of x0, y0, x1, y1."""
    order = np.argsort(-scores, kind="stable")
    kept: list[int] = []
    for label in np.unique(classes):
        remaining = order[classes[order] == label]
        while remaining.size:
            best, rest = remaining[0], remaining[1:]
            kept.append(int(best))
            remaining = rest[_iou(boxes[best], boxes[rest]) <= iou_threshold]
    indices = np.array(kept, dtype=np.intp)
    return indices[np.argsort(-scores[indices], kind="stable")]


def _iou(box: FloatArray, others: FloatArray) -> FloatArray:
    width = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
    height = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None)
    overlap = width * height
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    union = np.maximum(area + areas - overlap, np.finfo(np.float32).tiny)  # two empty boxes: no overlap
    return np.asarray(overlap / union, dtype=np.float32)


def _open_session(model_path: Path, threads: int) -> ort.InferenceSession:
    if not model_path.is_file():
        raise ModelUnavailable(
            f"object detector model {_short(model_path)} is not on this machine "
            "(see LINGXI_VISION_OBJECTS_MODEL)"
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    try:
        return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own unrelated classes for each way a file is bad
        raise ValueError(f"{model_path} is not a readable ONNX model: {error}") from error


def _short(path: Path) -> str:
    """A file's name for a reason the answer carries (at most 200 characters, no server directories)."""
    return path.name if len(path.name) <= 60 else path.name[:57] + "..."


def _model_name(given: str | None, model_path: Path) -> str:
    if given is not None:
        if not _MODEL_NAME.match(given) or len(given) > 128:
            raise ValueError(f"model name {given!r} must be letters, digits and ._:/@+- (at most 128)")
        return given
    derived = _MODEL_NAME_DISALLOWED.sub("-", model_path.stem).lstrip("._:/@+-").rstrip("-")[:128]
    return derived or "onnx-object-detector"


def _input_dtype(type_name: str, model_path: Path) -> type[np.floating[Any]]:
    if type_name == "tensor(float)":
        return np.float32
    if type_name == "tensor(float16)":
        return np.float16
    raise ValueError(f"object detector {model_path.name} takes {type_name}, not a float image tensor")


def _input_size(shape: Sequence[object], model_path: Path) -> tuple[int, int]:
    """Height and width of the model's input: from its NCHW shape, or the default side where dynamic."""
    channels = shape[1] if len(shape) == 4 else None
    if len(shape) != 4 or (isinstance(channels, int) and channels != 3):
        raise ValueError(
            f"object detector {model_path.name} takes input of shape {list(shape)}, "
            "not an image batch (1, 3, height, width)"
        )
    height, width = (side if isinstance(side, int) and side > 0 else DEFAULT_INPUT_SIDE for side in shape[2:])
    return height, width


def _layout_of(shape: tuple[int, ...], class_count: int, model_path: Path) -> tuple[OutputLayout, bool]:
    """The output's layout, and whether its boxes are along the first axis (rows) rather than the second.

    YOLO detectors give far more candidate boxes than values per box, so the longer axis is the boxes'
    and the other holds 4 + classes values (YOLOv8/v11) or 5 + classes (YOLOv5/v7). The shape alone
    cannot tell a YOLOv5 model given one class name too many from a YOLOv8 one (or the other way round):
    that mistake is caught only where the model's metadata names its classes, as Ultralytics exports do."""
    if len(shape) != 3 or shape[0] != 1:
        raise ValueError(
            f"object detector {model_path.name} outputs shape {list(shape)}; expected "
            "(1, 4 + classes, boxes), (1, boxes, 4 + classes) or (1, boxes, 5 + classes)"
        )
    boxes_first = shape[1] >= shape[2]
    values = shape[2] if boxes_first else shape[1]
    if values == 4 + class_count:
        return "yolov8", boxes_first
    if values == 5 + class_count:
        return "yolov5", boxes_first
    raise ValueError(
        f"object detector {model_path.name} gives {values} values a box ({values - 4} classes as YOLOv8, "
        f"{values - 5} as YOLOv5) but {class_count} class names were given"
    )


def _metadata_entries(session: ort.InferenceSession, model_path: Path) -> list[object] | None:
    """Class names Ultralytics writes into an export's metadata (``{0: 'person', 1: 'bicycle', ...}``)."""
    written = session.get_modelmeta().custom_metadata_map.get("names")
    if written is None:
        return None
    try:
        content = ast.literal_eval(written)
    except (ValueError, SyntaxError) as error:
        raise ValueError(f"object detector {model_path.name} has unreadable class names: {error}") from error
    return _ordered_entries(content, f"{model_path.name} metadata")


def _names_of(entries: Sequence[object], source: str) -> list[ClassName]:
    return _with_chinese([_entry_names(entry, index, source) for index, entry in enumerate(entries)], source)


def _ordered_entries(content: object, source: str) -> list[object]:
    if isinstance(content, list) and content:
        return content
    if isinstance(content, Mapping) and content:
        try:
            by_index = {int(key): value for key, value in content.items()}
        except (TypeError, ValueError):
            by_index = {}
        if sorted(by_index) == list(range(len(content))):
            return [by_index[index] for index in range(len(content))]
        if by_index:
            raise ValueError(f"class names in {source}: indices must be 0 to {len(content) - 1}, once each")
    raise ValueError(f"class names in {source}: expected a list of names or a mapping of class index to name")


def _entry_names(entry: object, index: int, source: str) -> tuple[str, str | None]:
    """English and (where given) Chinese name of one class's entry."""
    if isinstance(entry, str):
        return entry, None
    if isinstance(entry, Mapping) and "en" in entry and not set(entry) - _NAME_KEYS:
        name_zh = entry.get("zh")
        if isinstance(entry["en"], str) and (name_zh is None or isinstance(name_zh, str)):
            return entry["en"], name_zh
    raise ValueError(f"class {index} in {source}: a name is an English string or {{en: ..., zh: ...}}")


def _with_chinese(names: Sequence[tuple[str, str | None]], source: str) -> list[ClassName]:
    """Pairs with a Chinese name for every class: its own, COCO's, or else (warned once) the English."""
    coco = _coco_chinese()
    pairs: list[ClassName] = []
    untranslated: list[str] = []
    for name_en, name_zh in names:
        if name_zh is None:
            name_zh = coco.get(_comparable(name_en))
            if name_zh is None:
                untranslated.append(name_en)
                name_zh = name_en
        pairs.append(_checked_pair((name_en, name_zh)))
    if untranslated:
        log.warning(
            "object classes without a Chinese name; their English name stands for both",
            source=source,
            classes=untranslated[:20],
            count=len(untranslated),
        )
    return pairs


def _checked_pair(pair: ClassName) -> ClassName:
    if len(pair) != 2 or not all(isinstance(name, str) for name in pair):
        raise ValueError(f"a class name is a pair of strings (name_en, name_zh), not {pair!r}")
    name_en, name_zh = (name.strip() for name in pair)
    for name in (name_en, name_zh):
        if not name or len(name) > _MAX_NAME_CHARS:
            raise ValueError(f"class name {name!r} must have 1 to {_MAX_NAME_CHARS} characters")
    return name_en, name_zh


@cache
def _coco_chinese() -> dict[str, str]:
    """Chinese name of each COCO class, by comparable English name and alias."""
    text = resources.files("lingxi_vision").joinpath("data/coco_names.yaml").read_text(encoding="utf-8")
    chinese: dict[str, str] = {}
    for entry in yaml.safe_load(text):
        for name in (entry["en"], *entry.get("aliases", ())):
            chinese[_comparable(name)] = entry["zh"]
    return chinese


def _comparable(name: str) -> str:
    return " ".join(name.lower().replace("_", " ").replace("-", " ").split())


def _check_picture(picture: Picture) -> None:
    if picture.dtype != np.uint8 or picture.ndim != 3 or picture.shape[2] != 3 or 0 in picture.shape:
        raise ValueError(
            f"a picture is a height × width × 3 uint8 RGB array, not {picture.dtype} of shape {picture.shape}"
        )
