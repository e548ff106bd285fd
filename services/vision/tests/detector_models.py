"""Small real YOLO-format ONNX detectors, built with onnx.helper for tests: they find squares.

No real detector ships with Lingxi, so tests build one that onnxruntime runs like any YOLO export and
whose answer follows from the picture. It has two classes, ``white square`` and ``red square``. For every
window of ``window`` × ``window`` model-input pixels, ``stride`` apart, it takes the window's mean
whiteness ((R + G + B) / 3) and redness (R - (G + B) / 2), both 0 to 1 on a 0..1 input, and scores each
class ``clip((mean - 0.75) × 4, 0, 1)``: 1 where the window lies exactly on a square of that colour, 0
once a quarter of it is off the square (and on YOLO's grey padding, or black). Each window's box is the
window itself. So a square of exactly ``window`` model-input pixels is found where it is, and the
windows overlapping it that also score are suppressed by the detector's non-maximum suppression.

The output is written in any of the YOLO layouts: ``yolov8`` (1, 4 + classes, boxes), ``yolov8-transposed``
(1, boxes, 4 + classes), ``yolov5`` (1, boxes, 5 + classes, objectness being the best class's score).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SQUARE_CLASSES = (("white square", "白色方块"), ("red square", "红色方块"))
"""The test detector's classes, in its class order, as (name_en, name_zh)."""

Layout = Literal["yolov8", "yolov8-transposed", "yolov5"]

_OPSET = 17  # ReduceMax takes its axes as an attribute up to 17
_DYNAMIC_DESIGN_SIDE = 640  # a model with a dynamic input has its box geometry made for 640 × 640


def write_square_detector(
    path: Path,
    *,
    layout: Layout = "yolov8",
    input_size: tuple[int, int] | None = (64, 64),
    window: int = 16,
    stride: int = 1,
    metadata_names: str | None = None,
) -> Path:
    """Write the square detector to ``path``: input (1, 3, height, width) for ``input_size`` (height,
    width), or dynamic height and width when None (its boxes then fit a 640 × 640 input).
    ``metadata_names`` is written as Ultralytics writes class names into an export's metadata."""
    height, width = input_size or (_DYNAMIC_DESIGN_SIDE, _DYNAMIC_DESIGN_SIDE)
    rows, columns = (height - window) // stride + 1, (width - window) // stride + 1
    boxes = _window_boxes(rows, columns, window, stride)
    classes = len(SQUARE_CLASSES)

    colour = np.array([[1 / 3, 1 / 3, 1 / 3], [1.0, -0.5, -0.5]], dtype=np.float32).reshape(classes, 3, 1, 1)
    nodes = [
        helper.make_node("Conv", ["images", "colour"], ["colourness"]),
        helper.make_node(
            "AveragePool",
            ["colourness"],
            ["window_mean"],
            kernel_shape=[window, window],
            strides=[stride] * 2,
        ),
        helper.make_node("Sub", ["window_mean", "three_quarters"], ["above"]),
        helper.make_node("Mul", ["above", "four"], ["stretched"]),
        helper.make_node("Clip", ["stretched", "zero", "one"], ["score_grid"]),
        helper.make_node("Reshape", ["score_grid", "flat_shape"], ["scores"]),
    ]
    if layout == "yolov5":
        nodes += [
            helper.make_node("ReduceMax", ["scores"], ["objectness"], axes=[1], keepdims=1),
            helper.make_node("Concat", ["boxes", "objectness", "scores"], ["channels"], axis=1),
            helper.make_node("Transpose", ["channels"], ["output0"], perm=[0, 2, 1]),
        ]
        output_shape = [1, rows * columns, 5 + classes]
    elif layout == "yolov8-transposed":
        nodes += [
            helper.make_node("Concat", ["boxes", "scores"], ["channels"], axis=1),
            helper.make_node("Transpose", ["channels"], ["output0"], perm=[0, 2, 1]),
        ]
        output_shape = [1, rows * columns, 4 + classes]
    else:
        nodes.append(helper.make_node("Concat", ["boxes", "scores"], ["output0"], axis=1))
        output_shape = [1, 4 + classes, rows * columns]

    constants = [
        numpy_helper.from_array(colour, "colour"),
        numpy_helper.from_array(boxes, "boxes"),
        numpy_helper.from_array(np.array(0.75, np.float32), "three_quarters"),
        numpy_helper.from_array(np.array(4.0, np.float32), "four"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        numpy_helper.from_array(np.array(1.0, np.float32), "one"),
        numpy_helper.from_array(np.array([1, classes, -1], np.int64), "flat_shape"),
    ]
    input_dims: list[int | str] = [1, 3, height, width] if input_size else [1, 3, "height", "width"]
    graph = helper.make_graph(
        nodes,
        "square_detector",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, input_dims)],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, output_shape)],
        constants,
    )
    return _save(graph, path, metadata_names)


def write_model_with_output(path: Path, output_rank: int = 4) -> Path:
    """Write a model that takes an image like a detector but whose output is no detector's: the image
    average-pooled, of rank ``output_rank`` (4: (1, 3, 8, 8); 2: (3, 64))."""
    nodes = [helper.make_node("AveragePool", ["images"], ["pooled"], kernel_shape=[8, 8], strides=[8, 8])]
    shape = [1, 3, 8, 8]
    if output_rank == 2:
        nodes.append(helper.make_node("Reshape", ["pooled", "flat_shape"], ["output0"]))
        shape = [3, 64]
    else:
        nodes[0].output[0] = "output0"
    graph = helper.make_graph(
        nodes,
        "not_a_detector",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, shape)],
        [numpy_helper.from_array(np.array([3, 64], np.int64), "flat_shape")],
    )
    return _save(graph, path, None)


def _window_boxes(rows: int, columns: int, window: int, stride: int) -> np.ndarray:
    """Each window's box as (1, 4, rows × columns) centre x, centre y, width, height, in the order the
    pooled grid flattens (row by row)."""
    top, left = np.meshgrid(np.arange(rows) * stride, np.arange(columns) * stride, indexing="ij")
    centre_x, centre_y = left.ravel() + window / 2, top.ravel() + window / 2
    sides = np.full(rows * columns, window, dtype=np.float64)
    return np.stack([centre_x, centre_y, sides, sides])[np.newaxis].astype(np.float32)


def _save(graph: onnx.GraphProto, path: Path, metadata_names: str | None) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)], ir_version=8)
    if metadata_names is not None:
        helper.set_model_props(model, {"names": metadata_names})
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)
    return path
