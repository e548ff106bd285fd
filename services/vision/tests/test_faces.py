"""Face boxes on scikit-image's sample photographs: her face on the astronaut, none on the cat, the
coffee or the rocket, and faces from its LFW sample pasted into photographs without people."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
import skimage.data
from lingxi.events.vision import BoundingBox, FaceBox
from lingxi_vision.faces import FaceFinder
from lingxi_vision.images import prepare, to_original
from PIL import Image

# Landmarks of the astronaut's face (Eileen Collins) in skimage.data.astronaut(), 512 × 512, read off
# the image: her eyes, the corners of her mouth, and the extent of her face (hairline to chin).
EYES = [(203, 101), (246, 103)]
MOUTH_CORNERS = [(205, 142), (252, 140)]
FACE = BoundingBox(x=180, y=73, width=93, height=97)


@pytest.fixture(scope="module")
def finder() -> FaceFinder:
    return FaceFinder(threads=1)


def overlap(a: BoundingBox, b: BoundingBox) -> float:
    """Intersection over union of two boxes."""
    across = max(0, min(a.x + a.width, b.x + b.width) - max(a.x, b.x))
    down = max(0, min(a.y + a.height, b.y + b.height) - max(a.y, b.y))
    shared = across * down
    return shared / (a.width * a.height + b.width * b.height - shared)


def contains(box: BoundingBox, point: tuple[float, float]) -> bool:
    x, y = point
    return box.x <= x < box.x + box.width and box.y <= y < box.y + box.height


def assert_covers_her_face(face: FaceBox, scale: float = 1.0) -> None:
    for x, y in EYES + MOUTH_CORNERS:
        assert contains(face.box, (x * scale, y * scale)), f"{face.box} misses ({x}, {y}) × {scale}"
    expected = BoundingBox(
        x=round(FACE.x * scale),
        y=round(FACE.y * scale),
        width=round(FACE.width * scale),
        height=round(FACE.height * scale),
    )
    assert overlap(face.box, expected) >= 0.6, f"{face.box} is not her face {expected}"


def test_the_astronauts_face_is_found(finder: FaceFinder) -> None:
    faces = finder.analyse(skimage.data.astronaut())
    assert len(faces) == 1
    assert_covers_her_face(faces[0])
    assert faces[0].confidence is not None
    assert faces[0].confidence > 0.8


def test_a_large_photo_finds_her_face_in_original_pixels(finder: FaceFinder) -> None:
    # A 3000-pixel JPEG: prepared down to 2048, scanned at 1024, mapped back to the original.
    large = Image.fromarray(skimage.data.astronaut()).resize((3000, 3000), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    large.save(buffer, "JPEG", quality=90)
    prepared = prepare(buffer.getvalue())
    faces = finder.analyse(prepared.picture)
    assert len(faces) == 1
    assert_covers_her_face(FaceBox(box=to_original(faces[0].box, prepared)), scale=3000 / 512)


def test_two_people_are_two_faces_each_in_its_place(finder: FaceFinder) -> None:
    astronaut = skimage.data.astronaut()
    pair = np.concatenate([astronaut, astronaut[:, ::-1]], axis=1)  # she and her mirror image
    faces = sorted(finder.analyse(np.ascontiguousarray(pair)), key=lambda face: face.box.x)
    assert len(faces) == 2
    assert_covers_her_face(faces[0])
    mirrored = faces[1].box.model_copy(update={"x": 1024 - faces[1].box.x - faces[1].box.width})
    assert_covers_her_face(FaceBox(box=mirrored))


@pytest.mark.parametrize(
    "name", ["chelsea", "coffee", "rocket", "hubble_deep_field", "coins", "brick", "gravel", "clock"]
)
def test_photographs_without_people_have_no_face(finder: FaceFinder, name: str) -> None:
    picture = getattr(skimage.data, name)()
    if picture.ndim == 2:
        picture = np.stack([picture] * 3, axis=-1)
    assert finder.analyse(np.ascontiguousarray(picture[:, :, :3])) == []


def scenes_with_faces(
    faces_per_scene: int = 10, scenes: int = 3
) -> list[tuple[np.ndarray, list[BoundingBox]]]:
    """Faces from skimage's LFW sample (25 × 25 crops, enlarged to 48 to 150 pixels) pasted on a grid
    into photographs without people, 1024 pixels wide."""
    faces = skimage.data.lfw_subset()[:100]  # the first 100 of the sample are faces
    backgrounds = [skimage.data.coffee(), skimage.data.rocket(), skimage.data.stereo_motorcycle()[0]]
    rng = np.random.default_rng(6)
    built = []
    for scene in range(scenes):
        background = backgrounds[scene % len(backgrounds)]
        height = round(background.shape[0] * 1024 / background.shape[1])
        picture = cv2.resize(background, (1024, height), interpolation=cv2.INTER_CUBIC)
        columns, rows = 5, 2
        cell_width, cell_height = 1024 // columns, height // rows
        placed = []
        for slot in range(faces_per_scene):
            face = faces[scene * faces_per_scene + slot]
            side = int(rng.integers(48, min(150, cell_height - 10)))
            x = (slot % columns) * cell_width + int(rng.integers(0, cell_width - side))
            y = (slot // columns) * cell_height + int(rng.integers(0, cell_height - side))
            grey = cv2.resize((face * 255).astype(np.uint8), (side, side), interpolation=cv2.INTER_CUBIC)
            picture[y : y + side, x : x + side] = grey[:, :, None]
            placed.append(BoundingBox(x=x, y=y, width=side, height=side))
        built.append((np.ascontiguousarray(picture), placed))
    return built


def test_faces_in_busy_scenes_are_found_and_nothing_else(finder: FaceFinder) -> None:
    found_faces, pasted, stray = 0, 0, []
    confidences = []
    for picture, placed in scenes_with_faces():
        faces = finder.analyse(picture)
        pasted += len(placed)
        for face in faces:
            if any(overlap(face.box, where) >= 0.3 for where in placed):
                confidences.append(face.confidence or 0.0)
            else:
                stray.append(face.box)
        found_faces += sum(any(overlap(face.box, where) >= 0.3 for face in faces) for where in placed)
    print(
        f"\nfaces found {found_faces}/{pasted}, boxes elsewhere {len(stray)}, "
        f"median confidence {np.median(confidences):.2f}"
    )
    assert found_faces >= 0.9 * pasted
    assert stray == []
    assert np.median(confidences) > 0.8


def test_the_most_certain_face_comes_first(finder: FaceFinder) -> None:
    picture, _ = scenes_with_faces(scenes=1)[0]
    confidences = [face.confidence for face in finder.analyse(picture)]
    assert len(confidences) > 1
    assert confidences == sorted(confidences, reverse=True)  # type: ignore[type-var]


def test_a_blank_or_tiny_picture_has_no_face(finder: FaceFinder) -> None:
    assert finder.analyse(np.full((480, 640, 3), 200, np.uint8)) == []
    assert finder.analyse(np.zeros((10, 10, 3), np.uint8)) == []
    assert finder.analyse(np.zeros((0, 0, 3), np.uint8)) == []


def test_a_picture_that_is_not_rgb_is_an_error(finder: FaceFinder) -> None:
    with pytest.raises(ValueError, match="RGB"):
        finder.analyse(np.zeros((100, 100), np.uint8))


def test_threads_must_be_positive() -> None:
    with pytest.raises(ValueError, match="threads"):
        FaceFinder(threads=0)
