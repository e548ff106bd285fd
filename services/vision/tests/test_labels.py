"""Image labels from the exported EfficientNet-Lite0 model, on scikit-image's sample photographs.

The model is the one ``make install`` exports into this environment; a shifted or wrong class table, a
wrong preprocessing or a broken export shows up as nonsense labels on photographs whose content is known.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import skimage.data
from lingxi.events.vision import ImageLabel
from lingxi_vision.analysers import ModelUnavailable, Picture
from lingxi_vision.labels import (
    MODEL_PATH_VARIABLE,
    ImageLabeller,
    default_model_path,
    imagenet_classes,
    load_labeller,
)

CJK = re.compile(r"[\u4e00-\u9fff]")


def _grey_to_rgb(grey: np.ndarray) -> Picture:
    return np.repeat(grey[:, :, np.newaxis], 3, axis=2)


# Each photograph, and the classes any of which must be among its top 3. ImageNet has no person or
# astronaut class: the astronaut in her suit and helmet comes out as gear a person wears or rides in.
PHOTOS = {
    "chelsea": (skimage.data.chelsea, {"tabby cat", "tiger cat", "Egyptian cat", "Persian cat"}),
    "coffee": (skimage.data.coffee, {"espresso", "cup", "coffee mug"}),
    "rocket": (skimage.data.rocket, {"space shuttle", "missile", "projectile"}),
    "astronaut": (
        skimage.data.astronaut,
        {"football helmet", "crash helmet", "bobsled", "go-kart", "military uniform", "space shuttle"},
    ),
    "motorcycle": (lambda: skimage.data.stereo_motorcycle()[0], {"moped", "scooter", "disc brake"}),
    "cameraman": (
        lambda: _grey_to_rgb(skimage.data.camera()),
        {"tripod", "reflex camera", "Polaroid camera"},
    ),
}


@pytest.fixture(scope="module")
def model_path() -> Path:
    path = default_model_path()
    if not path.is_file():
        pytest.fail(f"the image-label model is not exported at {path}: run `make install`")
    return path


@pytest.fixture(scope="module")
def labeller(model_path: Path) -> ImageLabeller:
    return ImageLabeller(model_path, threads=1, top_k=5, min_score=0.0)


@pytest.mark.parametrize("photo", PHOTOS)
def test_sample_photographs_get_labels_that_describe_them(labeller: ImageLabeller, photo: str) -> None:
    load, acceptable = PHOTOS[photo]
    labels = labeller.analyse(load())

    print(f"\n{photo}: " + ", ".join(f"{x.name_en} / {x.name_zh} {x.score:.2f}" for x in labels[:3]))
    top3 = {label.name_en for label in labels[:3]}
    assert top3 & acceptable, f"{photo}: top 3 {sorted(top3)} has none of {sorted(acceptable)}"


@pytest.mark.parametrize("photo", PHOTOS)
def test_labels_are_sorted_softmax_scores_with_both_names(labeller: ImageLabeller, photo: str) -> None:
    labels = labeller.analyse(PHOTOS[photo][0]())

    assert len(labels) == 5
    scores = [label.score for label in labels]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 < score <= 1.0 for score in scores)
    assert sum(scores) <= 1.0 + 1e-6
    for label in labels:
        assert isinstance(label, ImageLabel)
        assert CJK.search(label.name_zh), f"{label.name_en!r} has no Chinese name: {label.name_zh!r}"
        assert label.name_en.strip()


def test_top_k_and_min_score_bound_the_labels(model_path: Path) -> None:
    coffee = skimage.data.coffee()

    everything = ImageLabeller(model_path, top_k=50, min_score=0.0).analyse(coffee)
    confident = ImageLabeller(model_path, top_k=5, min_score=0.5).analyse(coffee)
    certain = ImageLabeller(model_path, top_k=5, min_score=1.0).analyse(coffee)

    assert len(everything) == 50
    assert 0.99 < sum(label.score for label in everything) <= 1.0 + 1e-6  # the rest of 1000 is tiny
    assert [label.name_en for label in confident] == ["espresso"]
    assert certain == []


def test_the_labels_do_not_depend_on_the_thread_count(model_path: Path) -> None:
    chelsea = skimage.data.chelsea()

    one, two = (ImageLabeller(model_path, threads=n).analyse(chelsea) for n in (1, 2))

    assert [label.name_en for label in one] == [label.name_en for label in two]
    assert [label.score for label in one] == pytest.approx([label.score for label in two], abs=1e-4)


def test_a_larger_copy_of_a_photograph_gets_the_same_kind_of_label(labeller: ImageLabeller) -> None:
    chelsea = skimage.data.chelsea()
    larger = np.repeat(np.repeat(chelsea, 4, axis=0), 4, axis=1)  # 1804 × 1200, the same picture

    small, large = labeller.analyse(chelsea)[0], labeller.analyse(larger)[0]

    cats = {"tabby cat", "tiger cat", "Egyptian cat"}
    assert small.name_en in cats
    assert large.name_en in cats
    assert abs(small.score - large.score) < 0.1


def test_the_class_table_has_1000_classes_in_order_with_both_names() -> None:
    classes = imagenet_classes()

    assert len(classes) == 1000
    english = [name_en for name_en, _ in classes]
    assert len(set(english)) == 1000
    assert all(name_en.strip() and CJK.search(name_zh) for name_en, name_zh in classes)
    # Landmarks of the standard synset order (n01440764 tench … n15075141 toilet tissue).
    assert classes[0] == ("tench", "丁鲷")
    assert classes[281] == ("tabby cat", "虎斑猫")
    assert classes[812] == ("space shuttle", "航天飞机")
    assert classes[967] == ("espresso", "意式浓缩咖啡")
    assert classes[999][0] == "toilet paper"


def test_the_class_table_file_has_1000_unique_indices() -> None:
    table = Path(__file__).parents[1] / "src/lingxi_vision/data/imagenet_classes.tsv"
    header, *rows = table.read_text(encoding="utf-8").splitlines()

    assert header == "index\tname_en\tname_zh"
    indices = [int(row.split("\t")[0]) for row in rows]
    assert sorted(indices) == list(range(1000))
    assert all(len(row.split("\t")) == 3 for row in rows)


def test_the_exported_model_takes_a_batch_of_nchw_images(model_path: Path) -> None:
    model = onnx.load(str(model_path))
    (image,) = model.graph.input
    dims = image.type.tensor_type.shape.dim

    assert image.name == "image"
    assert image.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert dims[0].dim_param  # the batch dimension is dynamic, named
    assert not dims[0].HasField("dim_value")
    assert [d.dim_value for d in dims[1:]] == [3, 224, 224]
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 13
    operators = {node.op_type for node in model.graph.node}
    assert "Clip" in operators  # Lite's ReLU6
    assert "Sigmoid" not in operators  # no swish, no squeeze-and-excitation


def test_a_missing_model_is_unavailable_and_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "efficientnet-lite0.onnx"
    monkeypatch.setenv(MODEL_PATH_VARIABLE, str(missing))

    assert default_model_path() == missing
    with pytest.raises(ModelUnavailable, match=r"efficientnet-lite0\.onnx.*make install") as raised:
        load_labeller()
    assert len(str(raised.value)) <= 200  # it travels as the task's reason, which allows 200 characters


def test_a_model_without_its_preprocessing_file_is_unavailable(model_path: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.onnx"
    shutil.copyfile(model_path, copy)

    with pytest.raises(ModelUnavailable, match=r"copy\.json.*make install"):
        ImageLabeller(copy)


def test_a_broken_model_file_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    shutil.copyfile(default_model_path().with_suffix(".json"), broken.with_suffix(".json"))

    with pytest.raises(ValueError, match="not a readable ONNX model"):
        ImageLabeller(broken)


def test_without_the_variable_the_model_is_looked_for_in_this_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(MODEL_PATH_VARIABLE, raising=False)

    path = default_model_path()

    assert path.name == "efficientnet-lite0.onnx"
    assert path.parent.parts[-3:] == ("share", "lingxi", "models")


@pytest.mark.parametrize(
    "picture",
    [
        np.zeros((32, 32), np.uint8),
        np.zeros((32, 32, 4), np.uint8),
        np.zeros((32, 32, 3), np.float32),
        np.zeros((0, 32, 3), np.uint8),
    ],
    ids=["grey", "rgba", "float", "empty"],
)
def test_a_picture_that_is_not_rgb_bytes_is_refused(labeller: ImageLabeller, picture: Picture) -> None:
    with pytest.raises(ValueError, match="uint8 RGB"):
        labeller.analyse(picture)


@pytest.mark.parametrize(
    ("options", "wrong"),
    [
        ({"threads": 0}, "threads"),
        ({"top_k": 0}, "top_k"),
        ({"top_k": 51}, "top_k"),
        ({"min_score": 1.5}, "min_score"),
    ],
)
def test_bad_options_are_refused(model_path: Path, options: dict[str, Any], wrong: str) -> None:
    with pytest.raises(ValueError, match=wrong):
        ImageLabeller(model_path, **options)


def test_a_tiny_or_very_wide_picture_still_gets_labels(labeller: ImageLabeller) -> None:
    for picture in (np.full((1, 1, 3), 200, np.uint8), np.full((8, 2000, 3), 90, np.uint8)):
        labels = labeller.analyse(picture)
        assert len(labels) == 5
        assert sum(label.score for label in labels) <= 1.0 + 1e-6
