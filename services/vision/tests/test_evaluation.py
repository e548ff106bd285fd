"""The pure parts of ``lingxi evaluate vision``: character accuracy, scoring by condition, the rendered
set (it has the conditions issue 6 asks for) and the sample photographs. No model runs here."""

from __future__ import annotations

import io
import sys
from importlib.metadata import entry_points

import numpy as np
import pytest
from lingxi.events.vision import BoundingBox, DetectedText
from lingxi_vision import evaluation
from lingxi_vision.evaluation import (
    CONDITION_KINDS,
    Line,
    LineReading,
    Page,
    Tally,
    accuracy_lines,
    character_accuracy,
    character_errors,
    draw_pages,
    edit_distance,
    ocr_markdown,
    read_lines,
    sample_photographs,
    score_ocr,
)
from PIL import Image


def line(text: str, script: str = "english", *, size: int = 22, angle: int = 0, dark: bool = False) -> Line:
    return Line(text, script, "NotoSansCJKsc-Regular.otf", size, angle, dark)


def test_identical_text_is_fully_accurate() -> None:
    assert character_accuracy("红烧牛肉面 ￥28.00", "红烧牛肉面 ￥28.00") == 1.0
    assert character_errors("Gate B12", "Gate B12") == 0


def test_one_substitution_costs_one_character() -> None:
    assert character_errors("红烧牛肉面", "红烧牛内面") == 1
    assert character_accuracy("红烧牛肉面", "红烧牛内面") == pytest.approx(0.8)


def test_an_insertion_or_a_deletion_costs_one_character() -> None:
    assert character_errors("EXIT 3", "EXIT 33") == 1  # spaces ignored: 5 characters
    assert character_accuracy("EXIT 3", "EXIT 33") == pytest.approx(0.8)
    assert character_errors("Caution", "Cauton") == 1
    assert character_accuracy("Caution", "Cauton") == pytest.approx(6 / 7)
    assert edit_distance("kitten", "sitting") == 3


def test_spaces_and_compatibility_forms_do_not_count() -> None:
    assert character_accuracy("宫保鸡丁（微辣）32元", "宫保鸡丁(微辣) 32 元") == 1.0
    assert edit_distance("（微辣）", "(微辣)") == 2  # what folding forgives


def test_an_empty_reference_is_right_only_when_nothing_was_read() -> None:
    assert character_accuracy("", "") == 1.0
    assert character_accuracy("  ", "") == 1.0
    assert character_accuracy("", "x") == 0.0
    assert character_accuracy("abc", "") == 0.0


def test_extra_text_brings_accuracy_to_zero_not_below() -> None:
    assert character_errors("ab", "abxxxxx") == 5
    assert character_accuracy("ab", "abxxxxx") == 0.0
    assert Tally(characters=2, errors=5, lines=1).accuracy == 0.0
    assert Tally().accuracy == 1.0


def test_scores_add_characters_and_errors_per_condition() -> None:
    readings = [
        LineReading(line("Open Daily", size=18, angle=-15), "Open Daily"),  # 9 characters, right
        LineReading(line("出口", "simplified", size=48, angle=5, dark=True), "出日"),  # 2, one wrong
        LineReading(line("Exit", size=40, angle=0, dark=True), "Exit"),  # 4, right
    ]
    score = score_ocr(readings)

    assert (score.overall.characters, score.overall.errors, score.overall.lines) == (15, 1, 3)
    assert score.overall.accuracy == pytest.approx(14 / 15)  # over characters, not a mean of lines
    assert list(score.by_condition) == list(CONDITION_KINDS)
    assert list(score.by_condition["script"]) == ["simplified", "english"]  # in the set's order
    assert score.by_condition["script"]["english"] == Tally(characters=13, errors=0, lines=2)
    assert score.by_condition["polarity"]["light on dark"] == Tally(characters=6, errors=1, lines=2)
    assert list(score.by_condition["rotation"]) == [
        "upright (0°)",
        "turned 5° either way",
        "turned 15° either way",
    ]
    assert score.by_condition["size"]["large (36 px and over)"].accuracy == pytest.approx(5 / 6)
    assert [misread.read for misread in score.misreads] == ["出日"]
    assert score.to_dict()["misreads"][0]["reference"] == "出口"

    report = ocr_markdown(score, pages=1)
    assert "| script | simplified | 1 | 2 | 50.00% |" in report
    assert "| 出口 | 出日 | 1 |" in report


def test_a_line_reads_what_was_found_on_its_sign_only() -> None:
    def found(text: str, x: int, y: int, order: int) -> DetectedText:
        return DetectedText(
            text=text, box=BoundingBox(x=x, y=y, width=40, height=20), confidence=0.9, order=order
        )

    page = Page(jpeg=b"", lines=[(line("Buy 1 Get 1"), (0, 0, 200, 50)), (line("Free"), (200, 0, 400, 50))])
    texts = [found("Buy 1", 10, 10, 0), found("Get 1", 100, 10, 1), found("Free", 250, 10, 2)]
    texts.append(found("noise", 190, 10, 3))  # its centre (210, 20) is on the second sign

    assert [(r.line.text, r.read) for r in read_lines(page, texts)] == [
        ("Buy 1 Get 1", "Buy 1Get 1"),
        ("Free", "Freenoise"),
    ]


def test_the_accuracy_set_has_the_conditions_the_issue_asks_for() -> None:
    lines = accuracy_lines()
    assert len(lines) >= 50
    assert {line.script for line in lines} == {"simplified", "traditional", "english"}
    assert len({line.font for line in lines}) >= 3
    assert min(line.size for line in lines) <= 18
    assert max(line.size for line in lines) >= 48
    assert {min(line.angle for line in lines), max(line.angle for line in lines)} == {-15, 15}
    assert {line.light_on_dark for line in lines} == {True, False}
    # Every font, size band, rotation band and polarity meets every script.
    for kind in CONDITION_KINDS[1:]:
        for value in {line.conditions()[kind] for line in lines}:
            scripts = {line.script for line in lines if line.conditions()[kind] == value}
            assert scripts == {"simplified", "traditional", "english"}, f"{kind} {value}: only {scripts}"


@pytest.fixture(scope="module")
def pages() -> list[Page]:
    return draw_pages(accuracy_lines())


def test_every_line_is_drawn_once_inside_a_noisy_jpeg_page(pages: list[Page]) -> None:
    assert [line for page in pages for line, _ in page.lines] == accuracy_lines()
    for page in pages:
        image = Image.open(io.BytesIO(page.jpeg))
        assert image.format == "JPEG"
        assert image.width <= evaluation.PAGE_WIDTH
        for _, (left, top, right, bottom) in page.lines:
            assert 0 <= left < right <= image.width
            assert 0 <= top < bottom <= image.height
        # A corner is plain colour before the noise (the page's grey or a sign's background).
        corner = np.asarray(image.convert("RGB"))[-6:, -6:]
        assert corner.std() > 2


def test_the_same_seed_draws_the_same_pages(pages: list[Page]) -> None:
    first_lines = [line for line, _ in pages[0].lines]
    assert draw_pages(first_lines)[0].jpeg == pages[0].jpeg
    assert draw_pages(first_lines, seed=7)[0].jpeg != pages[0].jpeg


def test_the_sample_photographs_are_rgb_and_include_the_promised_ones() -> None:
    photos = sample_photographs()
    names = [photo.name for photo in photos]
    assert {"chelsea", "coffee", "astronaut", "rocket", "motorcycle", "cameraman"} <= set(names)
    assert len(names) == len(set(names))
    for photo in photos:
        assert photo.picture.dtype == np.uint8
        assert photo.picture.ndim == 3, photo.name
        assert photo.picture.shape[2] == 3, photo.name
        assert photo.shows


def test_a_missing_development_package_is_named_with_make_install(monkeypatch: pytest.MonkeyPatch) -> None:
    evaluation._font_dir.cache_clear()
    monkeypatch.setitem(sys.modules, "mplfonts", None)
    with pytest.raises(ImportError, match=r"mplfonts.*make install"):
        evaluation.font_path(evaluation.FONTS[0])
    evaluation._font_dir.cache_clear()

    monkeypatch.setitem(sys.modules, "skimage.data", None)
    with pytest.raises(ImportError, match=r"scikit-image.*make install"):
        sample_photographs()


def test_the_command_is_registered_under_lingxi_evaluate() -> None:
    plugins = {plugin.name: plugin for plugin in entry_points(group="lingxi.evaluate")}
    assert "vision" in plugins, "run `make install` so the vision entry point is installed"
    from lingxi_vision.cli import evaluate_vision

    assert plugins["vision"].load() is evaluate_vision
