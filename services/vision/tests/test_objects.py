"""The object detector around any YOLO-format ONNX model: letterbox, session, decode, suppression, mapping.

The models are small real ONNX detectors built here (``detector_models.py``) that find white and red
squares, so a test draws a square at a known place and checks the box comes back there.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import lingxi_vision
import numpy as np
import pytest
from lingxi.events._values import ModelName
from lingxi.events.vision import DetectedObject
from lingxi_vision.analysers import ModelUnavailable
from lingxi_vision.objects import (
    NOT_CONFIGURED,
    ObjectDetector,
    decode,
    letterbox,
    load_detector,
    load_names,
    non_max_suppression,
)
from pydantic import TypeAdapter
from structlog.testing import capture_logs


def _load_helper(name: str) -> ModuleType:
    """A module beside this one (pytest runs with --import-mode=importlib: tests are not on sys.path)."""
    spec = importlib.util.spec_from_file_location(
        f"lingxi_vision_tests_{name}", Path(__file__).with_name(f"{name}.py")
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


detector_models = _load_helper("detector_models")
SQUARES = detector_models.SQUARE_CLASSES
WHITE, RED = SQUARES[0][0], SQUARES[1][0]
LAYOUTS = ["yolov8", "yolov8-transposed", "yolov5"]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("detectors")
    write = detector_models.write_square_detector
    built = {layout: write(folder / f"squares-{layout}.onnx", layout=layout) for layout in LAYOUTS}
    built["wide-input"] = write(folder / "squares-wide.onnx", input_size=(48, 80), window=12)
    built["dynamic-input"] = write(folder / "squares-dynamic.onnx", input_size=None, window=64, stride=8)
    built["large-input"] = write(folder / "squares-large.onnx", input_size=(128, 128))
    built["with-names"] = write(folder / "squares-named.onnx", metadata_names="{0: 'person', 1: 'dog'}")
    return built


@pytest.fixture(scope="module")
def detectors(models: dict[str, Path]) -> dict[str, ObjectDetector]:
    return {key: ObjectDetector(path, SQUARES) for key, path in models.items() if key != "with-names"}


def _picture(width: int, height: int, background: int = 0) -> np.ndarray:
    return np.full((height, width, 3), background, dtype=np.uint8)


def _draw(picture: np.ndarray, x: int, y: int, side: int, colour: tuple[int, int, int]) -> None:
    picture[y : y + side, x : x + side] = colour


def _square_side(detector: ObjectDetector, window: int, width: int, height: int) -> int:
    """The side in picture pixels of a square the letterbox makes ``window`` model-input pixels wide."""
    scale = min(detector.input_width / width, detector.input_height / height)
    side = round(window / scale)
    assert side == pytest.approx(window / scale), "choose a picture the letterbox scales to whole pixels"
    return side


def _assert_box_at(found: DetectedObject, x: int, y: int, side: int, tolerance: float) -> None:
    box = found.box
    corners = (box.x, box.y, box.x + box.width, box.y + box.height)
    expected = (x, y, x + side, y + side)
    assert all(abs(a - b) <= tolerance for a, b in zip(corners, expected, strict=True)), (corners, expected)


def _tolerance(detector: ObjectDetector, width: int, height: int, stride: int = 1) -> float:
    """Half a window step and one pixel of rounding, in picture pixels, plus one for clipping to whole
    pixels."""
    scale = min(detector.input_width / width, detector.input_height / height)
    return (stride / 2 + 1) / scale + 1


# --- the whole path: letterbox, session, decode, suppression, mapping back ---


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize(("width", "height"), [(160, 96), (96, 160)])
def test_a_square_is_found_where_it_is_in_every_layout(
    detectors: dict[str, ObjectDetector], layout: str, width: int, height: int
) -> None:
    detector = detectors[layout]
    side = _square_side(detector, 16, width, height)
    picture = _picture(width, height)
    x, y = width - side - 15, height - side - 20
    _draw(picture, x, y, side, (255, 255, 255))

    found = detector.analyse(picture)

    assert [(o.name_en, o.name_zh) for o in found] == [SQUARES[0]]
    _assert_box_at(found[0], x, y, side, _tolerance(detector, width, height))
    assert found[0].score > detector.score_threshold


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("background", [0, 128])
def test_nothing_is_found_on_a_blank_picture(
    detectors: dict[str, ObjectDetector], layout: str, background: int
) -> None:
    assert detectors[layout].analyse(_picture(160, 96, background)) == []


def test_squares_of_each_class_are_named_and_placed(detectors: dict[str, ObjectDetector]) -> None:
    detector = detectors["yolov8"]
    picture = _picture(160, 96)
    side = _square_side(detector, 16, 160, 96)
    _draw(picture, 10, 10, side, (255, 255, 255))
    _draw(picture, 100, 45, side, (255, 0, 0))

    found = {o.name_en: o for o in detector.analyse(picture)}

    assert set(found) == {WHITE, RED}
    assert found[RED].name_zh == SQUARES[1][1]
    tolerance = _tolerance(detector, 160, 96)
    _assert_box_at(found[WHITE], 10, 10, side, tolerance)
    _assert_box_at(found[RED], 100, 45, side, tolerance)


def test_a_non_square_model_input_is_letterboxed_both_ways(detectors: dict[str, ObjectDetector]) -> None:
    detector = detectors["wide-input"]
    assert (detector.input_height, detector.input_width) == (48, 80)
    for width, height in [(200, 200), (400, 150)]:
        side = _square_side(detector, 12, width, height)
        picture = _picture(width, height)
        x, y = width // 2, height - side - 5
        _draw(picture, x, y, side, (255, 255, 255))

        (found,) = detector.analyse(picture)

        _assert_box_at(found, x, y, side, _tolerance(detector, width, height))


def test_a_dynamic_input_runs_at_640(detectors: dict[str, ObjectDetector]) -> None:
    detector = detectors["dynamic-input"]
    assert (detector.input_height, detector.input_width) == (640, 640)
    picture = _picture(400, 300)
    side = _square_side(detector, 64, 400, 300)
    _draw(picture, 203, 117, side, (255, 255, 255))  # off the model's 8-pixel grid

    (found,) = detector.analyse(picture)

    _assert_box_at(found, 203, 117, side, _tolerance(detector, 400, 300, stride=8))


def test_the_score_threshold_decides_what_is_reported(models: dict[str, Path]) -> None:
    grey = 230
    expected_score = (grey / 255 - 0.75) * 4  # the test model's score for a square of this grey
    picture = _picture(160, 96)
    _draw(picture, 40, 40, 40, (grey, grey, grey))

    lenient = ObjectDetector(models["yolov8"], SQUARES, score_threshold=expected_score - 0.1)
    strict = ObjectDetector(models["yolov8"], SQUARES, score_threshold=expected_score + 0.1)

    (found,) = lenient.analyse(picture)
    assert found.score == pytest.approx(expected_score, abs=0.02)
    assert strict.analyse(picture) == []


def test_best_first_and_at_most_max_detections(models: dict[str, Path]) -> None:
    greys = [230, 255, 240, 250, 235, 245]
    picture = _picture(256, 256)
    places = [(16 + 64 * (i % 3), 16 + 128 * (i // 3)) for i in range(len(greys))]
    for (x, y), grey in zip(places, greys, strict=True):
        _draw(picture, x, y, 32, (grey, grey, grey))
    brightest_first = [place for _, place in sorted(zip(greys, places, strict=True), reverse=True)]

    everything = ObjectDetector(models["large-input"], SQUARES).analyse(picture)
    best_three = ObjectDetector(models["large-input"], SQUARES, max_detections=3).analyse(picture)

    assert len(everything) == len(greys)
    assert [o.score for o in everything] == sorted((o.score for o in everything), reverse=True)
    assert best_three == everything[:3]
    for found, (x, y) in zip(everything, brightest_first, strict=True):
        _assert_box_at(found, x, y, 32, 3)


def test_a_box_reaching_into_the_padding_is_clipped_to_the_picture(
    detectors: dict[str, ObjectDetector],
) -> None:
    detector = detectors["dynamic-input"]
    picture = _picture(400, 295)
    # At the bottom edge, off the model's 8-pixel grid: the best window reaches into the grey padding.
    _draw(picture, 100, 255, 40, (255, 255, 255))

    (found,) = detector.analyse(picture)

    assert found.box.y + found.box.height == 295
    _assert_box_at(found, 100, 255, 40, _tolerance(detector, 400, 295, stride=8))


def test_a_picture_that_is_not_rgb_bytes_is_refused(detectors: dict[str, ObjectDetector]) -> None:
    with pytest.raises(ValueError, match="height × width × 3 uint8"):
        detectors["yolov8"].analyse(np.zeros((96, 160), dtype=np.uint8))
    with pytest.raises(ValueError, match="float32"):
        detectors["yolov8"].analyse(np.zeros((96, 160, 3), dtype=np.float32))


# --- the pieces on hand-made values ---


def test_letterbox_centres_the_picture_on_grey_and_says_how_to_map_back() -> None:
    picture = np.zeros((50, 100, 3), dtype=np.uint8)
    canvas, scale_x, scale_y, left, top = letterbox(picture, 64, 64)

    assert canvas.shape == (64, 64, 3)
    new_height = round(50 * 64 / 100)
    assert (scale_x, scale_y, left) == (64 / 100, new_height / 50, 0)
    assert top == (64 - new_height) // 2
    assert (canvas[:top] == 114).all()
    assert (canvas[top + new_height :] == 114).all()
    assert (canvas[top : top + new_height] == 0).all()


def _boxes(*rows: tuple[float, float, float, float]) -> np.ndarray:
    return np.array(rows, dtype=np.float32)


def test_suppression_merges_duplicates_of_one_class() -> None:
    boxes = _boxes((0, 0, 10, 10), (1, 1, 11, 11), (20, 20, 30, 30))
    scores = np.array([0.8, 0.9, 0.7], dtype=np.float32)

    kept = non_max_suppression(boxes, scores, np.zeros(3, dtype=np.intp), 0.45)

    assert kept.tolist() == [1, 2]


def test_suppression_keeps_overlapping_boxes_of_different_classes() -> None:
    boxes = _boxes((0, 0, 10, 10), (1, 1, 11, 11))
    scores = np.array([0.9, 0.8], dtype=np.float32)

    kept = non_max_suppression(boxes, scores, np.array([0, 1], dtype=np.intp), 0.45)

    assert kept.tolist() == [0, 1]


def test_suppression_follows_the_iou_threshold_and_is_greedy() -> None:
    # A overlaps B by IoU 1/3, B overlaps C by 1/3, A and C do not touch.
    boxes = _boxes((0, 0, 10, 10), (5, 0, 15, 10), (10, 0, 20, 10))
    scores = np.array([0.9, 0.8, 0.7], dtype=np.float32)
    classes = np.zeros(3, dtype=np.intp)

    assert non_max_suppression(boxes, scores, classes, 0.45).tolist() == [0, 1, 2]
    # B goes for overlapping A; C then stays, as nothing kept overlaps it.
    assert non_max_suppression(boxes, scores, classes, 0.3).tolist() == [0, 2]


def test_suppression_of_nothing_is_nothing() -> None:
    empty = non_max_suppression(
        np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.intp), 0.5
    )
    assert empty.tolist() == []


def test_decode_yolov8_rows_take_the_best_class_and_corner_boxes() -> None:
    rows = np.array(
        [[50, 40, 20, 10, 0.1, 0.7], [10, 10, 4, 4, 0.2, 0.1], [30, 30, 6, 8, 0.9, 0.3]], dtype=np.float32
    )

    boxes, scores, classes = decode(rows, "yolov8", 0.25)

    assert classes.tolist() == [0, 1]
    assert scores.tolist() == pytest.approx([0.9, 0.7])
    assert boxes.tolist() == [[27, 26, 33, 34], [40, 35, 60, 45]]


def test_decode_yolov5_rows_multiply_objectness_by_class_probability() -> None:
    rows = np.array([[50, 40, 20, 10, 0.5, 0.2, 0.8], [10, 10, 4, 4, 0.3, 0.9, 0.1]], dtype=np.float32)

    boxes, scores, classes = decode(rows, "yolov5", 0.25)

    assert classes.tolist() == [1, 0]
    assert scores.tolist() == pytest.approx([0.5 * 0.8, 0.3 * 0.9])
    assert boxes[0].tolist() == [40, 35, 60, 45]
    _, high_scores, _ = decode(rows, "yolov5", 0.3)
    assert high_scores.tolist() == pytest.approx([0.4])


# --- class names ---


def test_names_from_a_list_take_coco_chinese_and_warn_once_about_the_rest(tmp_path: Path) -> None:
    names = tmp_path / "names.yaml"
    names.write_text("- person\n- Motorbike\n- hard hat\n- safety vest\n", encoding="utf-8")

    with capture_logs() as logs:
        pairs = load_names(names)

    assert pairs == [
        ("person", "人"),
        ("Motorbike", "摩托车"),
        ("hard hat", "hard hat"),
        ("safety vest", "safety vest"),
    ]
    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    assert len(warnings) == 1
    assert warnings[0]["classes"] == ["hard hat", "safety vest"]


def test_names_from_an_ultralytics_mapping_with_chinese(tmp_path: Path) -> None:
    names = tmp_path / "data.yaml"
    names.write_text(
        "path: ../datasets/site\ntrain: images/train\nnames:\n"
        "  1: {en: safety helmet, zh: 安全帽}\n  0: person\n  2: {en: dog}\n",
        encoding="utf-8",
    )

    assert load_names(names) == [("person", "人"), ("safety helmet", "安全帽"), ("dog", "狗")]


def test_the_packaged_coco_table_reads_as_a_names_file() -> None:
    table = Path(lingxi_vision.__file__).parent / "data" / "coco_names.yaml"
    pairs = load_names(table)
    assert len(pairs) == 80
    assert len({zh for _, zh in pairs}) == 80
    assert all(en != zh for en, zh in pairs)


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("", "expected a list"),
        ("names: {0: cat, 2: dog}\n", "indices must be 0 to 1"),
        ("- cat\n- [dog]\n", "class 1"),
        ("- {en: cat, cn: 猫}\n", "class 0"),
        ("- cat\n- '   '\n", "1 to 64 characters"),
        ("- [unclosed\n", "not readable YAML"),
    ],
)
def test_a_bad_names_file_is_a_clear_error(tmp_path: Path, content: str, complaint: str) -> None:
    names = tmp_path / "names.yaml"
    names.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=complaint):
        load_names(names)


def test_names_from_the_model_metadata(models: dict[str, Path]) -> None:
    detector = load_detector(models["with-names"], None)
    picture = _picture(160, 96)
    _draw(picture, 40, 20, 40, (255, 255, 255))

    assert detector.class_names == (("person", "人"), ("dog", "狗"))
    assert [(o.name_en, o.name_zh) for o in detector.analyse(picture)] == [("person", "人")]


def test_a_names_file_overrides_the_metadata_but_must_count_the_same(
    models: dict[str, Path], tmp_path: Path
) -> None:
    names = tmp_path / "names.yaml"
    names.write_text("- {en: pedestrian, zh: 行人}\n- {en: puppy, zh: 小狗}\n", encoding="utf-8")
    assert load_detector(models["with-names"], names).class_names == (
        ("pedestrian", "行人"),
        ("puppy", "小狗"),
    )

    names.write_text("- pedestrian\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"1 class names were given but .* names 2 classes"):
        load_detector(models["with-names"], names)


# --- configuration and errors ---


def test_no_model_configured_is_unavailable_and_says_how_to_configure() -> None:
    with pytest.raises(ModelUnavailable) as raised:
        load_detector(None, None)
    assert str(raised.value) == NOT_CONFIGURED
    assert "LINGXI_VISION_OBJECTS_MODEL" in str(raised.value)


def test_a_missing_model_or_names_file_is_unavailable(models: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match=r"model absent\.onnx is not on this machine"):
        load_detector(tmp_path / "absent.onnx", None)
    with pytest.raises(ModelUnavailable, match=r"names file absent\.yaml is not on this machine"):
        load_detector(models["yolov8"], tmp_path / "absent.yaml")


def test_unavailable_reasons_fit_the_answer_and_name_no_directories(tmp_path: Path) -> None:
    folder = tmp_path / ("models-" * 20)
    for model, names in [(folder / ("m" * 200 + ".onnx"), None), (None, None)]:
        with pytest.raises(ModelUnavailable) as raised:
            load_detector(model, names)
        reason = str(raised.value)
        assert len(reason) <= 200
        assert str(tmp_path) not in reason


def test_a_model_without_names_anywhere_is_unavailable(models: dict[str, Path]) -> None:
    with pytest.raises(ModelUnavailable, match="carries no class names"):
        load_detector(models["yolov8"], None)


def test_an_unreadable_model_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"this is not a protobuf")
    with pytest.raises(ValueError, match="is not a readable ONNX model"):
        ObjectDetector(broken, SQUARES)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_class_names_that_do_not_fit_the_model_are_a_clear_error(
    models: dict[str, Path], layout: str
) -> None:
    # Two more names than classes: one more would read a YOLOv5 output as YOLOv8's (and one fewer the
    # other way round), which the output's shape alone cannot tell apart.
    four = [*SQUARES, ("blue square", "蓝色方块"), ("green square", "绿色方块")]
    with pytest.raises(ValueError, match=r"values a box .* but 4 class names were given"):
        ObjectDetector(models[layout], four)


@pytest.mark.parametrize("rank", [4, 2])
def test_an_output_no_yolo_layout_fits_is_a_clear_error(tmp_path: Path, rank: int) -> None:
    model = detector_models.write_model_with_output(tmp_path / "pooling.onnx", output_rank=rank)
    with pytest.raises(ValueError, match=r"outputs shape .*; expected \(1, 4 \+ classes, boxes\)"):
        ObjectDetector(model, SQUARES)


def test_settings_out_of_range_are_refused(models: dict[str, Path]) -> None:
    for setting in (
        {"max_detections": 201},
        {"score_threshold": 0.0},
        {"iou_threshold": 1.5},
        {"threads": 0},
    ):
        with pytest.raises(ValueError, match=next(iter(setting))):
            ObjectDetector(models["yolov8"], SQUARES, **setting)  # type: ignore[arg-type]


def test_model_names_fit_the_events(models: dict[str, Path], tmp_path: Path) -> None:
    odd = tmp_path / "_my detector (v2).onnx"
    odd.write_bytes(models["yolov8"].read_bytes())
    names = TypeAdapter(ModelName)

    derived = ObjectDetector(odd, SQUARES).model_name
    assert names.validate_python(derived) == derived
    assert "my-detector" in derived
    assert "v2" in derived
    assert ObjectDetector(odd, SQUARES, model_name="site-helmets@3").model_name == "site-helmets@3"
    with pytest.raises(ValueError, match="model name"):
        ObjectDetector(odd, SQUARES, model_name="helmets v3")
