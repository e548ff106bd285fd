"""Preparing an image for the analysers (upright, downscaled) and mapping boxes back to the original."""

from __future__ import annotations

import io

import numpy as np
import pytest
from lingxi.events.vision import BoundingBox
from lingxi_vision.images import ImageRejected, Prepared, prepare, to_original
from PIL import Image, ImageDraw


def encode(image: Image.Image, fmt: str = "JPEG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def scene(width: int, height: int, square: tuple[int, int, int, int]) -> Image.Image:
    """A grey picture with one red square at ``square`` (left, top, right, bottom; right/bottom excluded)."""
    image = Image.new("RGB", (width, height), (128, 128, 128))
    left, top, right, bottom = square
    ImageDraw.Draw(image).rectangle((left, top, right - 1, bottom - 1), fill=(230, 20, 20))
    return image


def red_box(picture: np.ndarray) -> BoundingBox:
    """Where the red square is in a picture."""
    red = (picture[:, :, 0] > 180) & (picture[:, :, 1] < 90) & (picture[:, :, 2] < 90)
    rows, columns = np.nonzero(red)
    return BoundingBox(
        x=int(columns.min()),
        y=int(rows.min()),
        width=int(columns.max() - columns.min() + 1),
        height=int(rows.max() - rows.min() + 1),
    )


def test_a_large_photo_is_downscaled_keeping_its_aspect() -> None:
    prepared = prepare(encode(scene(4000, 3000, (1000, 800, 1400, 1200))))
    assert prepared.picture.shape == (1536, 2048, 3)
    assert prepared.picture.dtype == np.uint8
    assert (prepared.width, prepared.height) == (4000, 3000)
    assert prepared.scale == pytest.approx(4000 / 2048)


def test_a_small_image_is_kept_as_it_is() -> None:
    original = scene(640, 480, (100, 100, 200, 150))
    prepared = prepare(encode(original, "PNG"))
    assert prepared.scale == 1.0
    assert (prepared.width, prepared.height) == (640, 480)
    assert np.array_equal(prepared.picture, np.asarray(original))


def test_max_side_is_the_longer_side_of_a_portrait_picture() -> None:
    prepared = prepare(encode(scene(900, 1600, (10, 10, 50, 50))), max_side=800)
    assert prepared.picture.shape[:2] == (800, 450)
    assert prepared.scale == pytest.approx(2.0)


def test_the_picture_is_upright_and_the_size_is_the_upright_original() -> None:
    stored = scene(3000, 2000, (0, 0, 300, 300))  # red at the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # to be shown turned 90° clockwise
    prepared = prepare(encode(stored, exif=exif))
    assert (prepared.width, prepared.height) == (2000, 3000)
    assert prepared.picture.shape == (2048, 1365, 3)
    found = red_box(prepared.picture)
    assert found.x + found.width == 1365, "the red corner is now at the top-right"
    assert found.y == 0


def test_thin_strokes_survive_downscaling() -> None:
    # One-pixel dark lines on even columns, like the strokes of small text: nearest-neighbour drops all.
    image = Image.new("RGB", (4096, 512), "white")
    draw = ImageDraw.Draw(image)
    for x in range(100, 4000, 200):
        draw.line((x, 0, x, 511), fill="black")
    picture = prepare(encode(image, "PNG")).picture
    columns = picture[:, :, 0].min(axis=0)
    for x in range(100, 4000, 200):
        assert columns[x // 2 - 2 : x // 2 + 3].min() < 170, f"the line at x={x} vanished"


def test_a_box_found_in_the_picture_maps_back_onto_the_original() -> None:
    square = (1234, 777, 1634, 1377)
    prepared = prepare(encode(scene(4000, 3000, square), "PNG"))
    found = to_original(red_box(prepared.picture), prepared)
    left, top, right, bottom = square
    assert abs(found.x - left) <= 3
    assert abs(found.y - top) <= 3
    assert abs(found.x + found.width - right) <= 3
    assert abs(found.y + found.height - bottom) <= 3


def test_the_whole_picture_maps_to_the_whole_original_and_stays_inside_it() -> None:
    prepared = prepare(encode(scene(4001, 2999, (0, 0, 10, 10)), "PNG"))
    height, width = prepared.picture.shape[:2]
    whole = to_original(BoundingBox(x=0, y=0, width=width, height=height), prepared)
    assert whole == BoundingBox(x=0, y=0, width=4001, height=2999)
    corner = to_original(BoundingBox(x=width - 1, y=height - 1, width=1, height=1), prepared)
    assert corner.x + corner.width == 4001
    assert corner.y + corner.height == 2999


def test_a_box_outside_the_picture_is_an_error() -> None:
    prepared = Prepared(picture=np.zeros((100, 200, 3), np.uint8), width=400, height=200, scale=2.0)
    with pytest.raises(ValueError, match="outside"):
        to_original(BoundingBox(x=200, y=0, width=10, height=10), prepared)


def test_bytes_that_are_not_an_accepted_image_are_rejected() -> None:
    with pytest.raises(ImageRejected) as caught:
        prepare(b"%PDF-1.7 not a picture")
    assert caught.value.reason_code == "image.unsupported_type"
    with pytest.raises(ImageRejected) as caught:
        prepare(encode(scene(300, 200, (0, 0, 5, 5)))[:-200])
    assert caught.value.reason_code == "image.truncated"


def test_max_side_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_side"):
        prepare(encode(scene(30, 20, (0, 0, 5, 5))), max_side=0)
