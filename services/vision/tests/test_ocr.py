"""OCR accuracy on rendered simplified Chinese, traditional Chinese and English, and reading order.

The accuracy set (:mod:`lingxi_vision.evaluation`, which ``lingxi evaluate vision`` reports on too) is 62
realistic lines (menus, street signs, product labels, with digits and punctuation) drawn with four CJK
fonts, at 18 to 48 pixels, turned up to 15° either way, dark on light and light on dark, on noisy pages
that go through JPEG and :func:`prepare` as a phone's photo would. Run with ``pytest -s`` to see the
figures per condition.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pytest
from lingxi.events.vision import DetectedText
from lingxi_vision.evaluation import (
    FONTS,
    TARGET_ACCURACY,
    Page,
    accuracy_lines,
    centre_in,
    comparable,
    draw_pages,
    font_path,
    read_lines,
    score_ocr,
)
from lingxi_vision.images import prepare
from lingxi_vision.ocr import TextReader, reading_order
from PIL import Image, ImageDraw, ImageFont


@pytest.fixture(scope="module")
def reader() -> TextReader:
    return TextReader(threads=1)


@dataclass(frozen=True)
class Reading:
    page: Page
    size: tuple[int, int]
    found: list[DetectedText]
    seconds: float


@pytest.fixture(scope="module")
def readings(reader: TextReader) -> list[Reading]:
    results = []
    for page in draw_pages(accuracy_lines()):
        prepared = prepare(page.jpeg)
        assert prepared.scale == 1.0, "pages are drawn small enough to be read at their own size"
        started = time.perf_counter()
        found = reader.analyse(prepared.picture)
        seconds = time.perf_counter() - started
        results.append(Reading(page, (prepared.width, prepared.height), found, seconds))
    return results


def test_character_accuracy_is_at_least_95_percent(readings: list[Reading]) -> None:
    score = score_ocr(line for reading in readings for line in read_lines(reading.page, reading.found))

    print(f"\nOCR character accuracy, {score.overall.lines} lines on {len(readings)} pages:")
    print(f"  {'all':<40} {score.overall.accuracy:7.2%}  ({score.overall.characters} characters)")
    print(f"  {'exact (no folding)':<40} {score.exact.accuracy:7.2%}")
    for kind, values in score.by_condition.items():
        for value, tally in values.items():
            print(f"  {kind + ' ' + value:<40} {tally.accuracy:7.2%}  ({tally.characters} characters)")
    seconds = [reading.seconds for reading in readings]
    print(f"  time per page: mean {np.mean(seconds):.2f} s, max {max(seconds):.2f} s (1 thread)")
    for misread in score.misreads:
        print(f"  misread: {misread.line.text!r} read as {misread.read!r} ({misread.line.described()})")
    assert score.overall.accuracy >= TARGET_ACCURACY


def test_every_line_of_text_found_is_on_a_sign_and_inside_the_picture(readings: list[Reading]) -> None:
    for reading in readings:
        width, height = reading.size
        assert [found.order for found in reading.found] == list(range(len(reading.found)))
        for found in reading.found:
            assert found.box.x + found.box.width <= width
            assert found.box.y + found.box.height <= height
            assert 0.0 <= found.confidence <= 1.0
            assert any(centre_in(found, region) for _, region in reading.page.lines), (
                f"{found.text!r} at {found.box} is on no sign: the noise between signs was read as text"
            )


def draw_text(image: Image.Image, at: tuple[int, int], text: str, size: int = 30) -> None:
    font = ImageFont.truetype(str(font_path(FONTS[0])), size)
    ImageDraw.Draw(image).text(at, text, font=font, fill=(20, 20, 20))


def test_a_menu_in_two_columns_reads_row_by_row(reader: TextReader) -> None:
    menu = Image.new("RGB", (900, 560), (250, 248, 240))
    draw_text(menu, (300, 30), "本店菜单 MENU", size=40)
    rows = [("红烧牛肉面", "￥28"), ("宫保鸡丁", "￥32"), ("Fried Rice", "$9.50"), ("珍珠奶茶", "￥15")]
    for row, (dish, price) in enumerate(rows):
        # Prices sit a little higher or lower than their dish, as on a real menu.
        draw_text(menu, (60, 140 + row * 100), dish)
        draw_text(menu, (680, 136 + row * 100 + (row % 2) * 8), price)
    found = reader.analyse(np.asarray(menu))
    expected = ["本店菜单MENU", *(text for row in rows for text in row)]
    assert [comparable(f.text) for f in found] == [comparable(text) for text in expected]
    assert [f.order for f in found] == list(range(len(expected)))


def test_a_paragraph_of_several_lines_reads_top_to_bottom(reader: TextReader) -> None:
    lines = ["温馨提示：", "本店营业时间为每天 10:00-22:00，", "节假日照常营业。", "Thank you for visiting!"]
    notice = Image.new("RGB", (760, 380), "white")
    for row, text in enumerate(lines):
        draw_text(notice, (40, 40 + row * 80), text)
    found = reader.analyse(np.asarray(notice))
    assert comparable("".join(f.text for f in found)) == comparable("".join(lines))
    tops = [f.box.y for f in found]
    assert tops == sorted(tops)


def test_a_picture_without_text_has_none(reader: TextReader, capfd: pytest.CaptureFixture[str]) -> None:
    blank = np.clip(np.random.default_rng(1).normal(230, 8, (300, 400, 3)), 0, 255).astype(np.uint8)
    assert reader.analyse(blank) == []
    assert reader.analyse(np.zeros((0, 0, 3), np.uint8)) == []
    printed = capfd.readouterr()
    assert printed.out == printed.err == "", "rapidocr must not print its own log lines"


def test_rapidocr_logs_through_the_root_logger_only() -> None:
    rapidocr_log = logging.getLogger("RapidOCR")
    assert rapidocr_log.handlers == []
    assert rapidocr_log.propagate
    assert rapidocr_log.level >= logging.ERROR


def test_a_picture_that_is_not_rgb_is_an_error(reader: TextReader) -> None:
    with pytest.raises(ValueError, match="RGB"):
        reader.analyse(np.zeros((40, 40), np.uint8))
    with pytest.raises(ValueError, match="RGB"):
        reader.analyse(np.zeros((40, 40, 3), np.float32))


def test_threads_must_be_positive() -> None:
    with pytest.raises(ValueError, match="threads"):
        TextReader(threads=0)


def test_reading_order_groups_boxes_into_lines() -> None:
    from lingxi.events.vision import BoundingBox

    def box(x: int, y: int, width: int = 100, height: int = 30) -> BoundingBox:
        return BoundingBox(x=x, y=y, width=width, height=height)

    boxes = [
        box(400, 104),  # second line, right (a little lower: the line slopes)
        box(10, 10),  # first line, left
        box(10, 100),  # second line, left
        box(250, 2, height=50),  # first line, a taller word
        box(10, 200, width=600),  # third line, one long box
    ]
    assert reading_order(boxes) == [1, 3, 2, 0, 4]
    assert reading_order([]) == []
