"""What the vision models are measured on, and how: shared by the tests and ``lingxi evaluate vision``.

The OCR accuracy set is 62 realistic lines (menus, street signs, product labels, with digits and
punctuation) in simplified Chinese, traditional Chinese and English, drawn with four CJK fonts at 18 to
48 pixels, turned up to 15° either way, dark on light and light on dark, packed onto noisy pages that are
saved as JPEG as a phone's photo would be. A line is scored by the edit distance between what it says
and the text read on its sign, over characters, spaces ignored and compatibility forms folded.

The label and face checks use scikit-image's sample photographs. Fonts (``mplfonts``) and photographs
(``scikit-image``) are development dependencies: they are imported only by the functions that need them.
No I/O here beyond reading those fonts and photographs.
"""

from __future__ import annotations

import importlib
import io
import random
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from lingxi.events.vision import DetectedText, FaceBox, ImageLabel
from PIL import Image, ImageDraw, ImageFont

from lingxi_vision.analysers import Picture

__all__ = [
    "CONDITION_KINDS",
    "ENGLISH",
    "FONTS",
    "SIMPLIFIED",
    "TARGET_ACCURACY",
    "TRADITIONAL",
    "Line",
    "LineReading",
    "OcrScore",
    "Page",
    "PhotoResult",
    "SamplePhoto",
    "Tally",
    "accuracy_lines",
    "centre_in",
    "character_accuracy",
    "character_errors",
    "comparable",
    "draw_line",
    "draw_pages",
    "edit_distance",
    "font_path",
    "ocr_markdown",
    "photos_markdown",
    "read_lines",
    "sample_photographs",
    "score_ocr",
]

SIMPLIFIED = [
    "红烧牛肉面 ￥28.00",
    "宫保鸡丁（微辣）32元",
    "今日特价：鱼香肉丝 19.9元",
    "地铁2号线 人民广场站 3号出口",
    "前方500米右转进入中山路",
    "禁止吸烟，违者罚款200元",
    "营业时间：周一至周五 9:00-21:00",
    "净含量：500毫升 保质期12个月",
    "生产日期见瓶身，开封后请冷藏",
    "配料：水、白砂糖、柠檬汁、食用盐",
    "请勿倚靠车门，注意安全！",
    "本店支持微信支付和支付宝",
    "扫码点餐 WiFi密码：88886666",
    "停车场入口 限高2.2米",
    "会员满100减20，活动截至6月30日",
    "招牌酸菜鱼 大份68元 小份48元",
    "第3候车室 检票口A12",
    "温馨提示：请保管好您的随身物品",
    "欢迎光临！",
    "医院急诊在左侧50米",
    "充电宝租借 每小时3元",
    "小心台阶 注意脚下",
]
TRADITIONAL = [
    "臺北車站 東三門出口",
    "牛肉麵 大碗 NT$180",
    "珍珠奶茶（少冰半糖）55元",
    "營業時間：上午11點至晚上10點",
    "請勿在此停車，違者拖吊",
    "捷運淡水信義線 往象山",
    "港式點心 蝦餃 燒賣 叉燒包",
    "成分：綠茶、蜂蜜、檸檬",
    "電梯維修中，請使用樓梯",
    "香港中環 皇后大道中88號",
    "本店只收現金，恕不找零",
    "禁止飲食及吸煙",
    "緊急出口請保持暢通",
    "每日新鮮烘焙麵包",
    "優惠價 買一送一 限時三天",
    "第二航廈 國際線出境大廳",
    "請排隊候車，先下後上",
    "廁所在二樓右轉",
    "咖哩雞飯 加蛋另加10元",
    "保存期限：標示於瓶蓋",
]
ENGLISH = [
    "Beef Noodle Soup $12.50",
    "EXIT 3 - Main Street",
    "No Parking 7:00 AM - 7:00 PM",
    "Open Daily 10am-10pm",
    "Net Wt. 500g (17.6 oz)",
    "Best before: 2026-12-31",
    "Keep refrigerated after opening.",
    "Platform 2 for trains to Airport",
    "Caution: Wet Floor!",
    "Buy 1 Get 1 Free, today only",
    "Ingredients: water, sugar, salt",
    "Free Wi-Fi Password: lingxi2026",
    "Speed Limit 40 km/h",
    "Gate B12 Boarding 14:35",
    "Fresh Orange Juice 350 ml",
    "Hot Coffee & Tea - Refill $1",
    "Please queue here",
    "Pharmacy open 24 hours",
    "Shop 5, Level 3, Harbour City",
    "20% off all items this week",
]
SCRIPTS = {"simplified": SIMPLIFIED, "traditional": TRADITIONAL, "english": ENGLISH}
FONTS = [  # in mplfonts; not its SimHei.ttf, whose licence is unclear
    "NotoSansCJKsc-Regular.otf",
    "NotoSerifCJKsc-Regular.otf",
    "SourceHanSerifSC-Regular.otf",
    "NotoSansMonoCJKsc-Regular.otf",
]
SIZES = [18, 22, 26, 32, 40, 48]
ANGLES = [-15, -10, -5, 0, 5, 10, 15]
DARK_BACKGROUNDS = [(20, 60, 140), (20, 100, 60), (30, 30, 30), (150, 20, 20)]  # street and shop signs
LIGHT_BACKGROUNDS = [(250, 250, 245), (235, 235, 230), (250, 240, 200), (220, 230, 240)]
DARK_INKS = [(20, 20, 20), (40, 40, 90), (90, 20, 20)]
LIGHT_INK = (245, 245, 245)
PAGE_COLOUR = (200, 200, 200)
NOISE_SIGMA = 8.0
"""Standard deviation of the Gaussian noise added to every page, in 0–255 levels."""
PAGE_WIDTH, PAGE_HEIGHT = 1100, 800
JPEG_QUALITY = 90
SEED = 6
TARGET_ACCURACY = 0.95
"""The character accuracy the set must be read with (issue 6)."""

CONDITION_KINDS = ("script", "font", "size", "rotation", "polarity")
"""What each line's conditions say, in the order reports list them."""


def _development_package(module: str, package: str, purpose: str) -> ModuleType:
    """``module``, from a package only the development environment installs; a clear error without it."""
    try:
        return importlib.import_module(module)
    except ImportError as missing:
        raise ImportError(
            f"{purpose} needs the development package {package}, which is not installed: run `make install` "
            "(it installs the development dependencies too)"
        ) from missing


@cache
def _font_dir() -> Path:
    mplfonts = _development_package("mplfonts", "mplfonts", "rendering the OCR accuracy set")
    return Path(str(mplfonts.__file__)).parent / "fonts"


def font_path(name: str) -> Path:
    """Where the font file ``name`` (one of :data:`FONTS`) is, in the mplfonts package."""
    return _font_dir() / name


@cache
def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_path(name)), size)


def size_band(size: int) -> str:
    """The text height band a size in pixels falls in."""
    if size < 24:
        return "small (under 24 px)"
    if size < 36:
        return "medium (24–35 px)"
    return "large (36 px and over)"


def rotation_band(angle: int) -> str:
    """How far a line is turned, either way."""
    return "upright (0°)" if angle == 0 else f"turned {abs(angle)}° either way"


@dataclass(frozen=True)
class Line:
    """One line of the accuracy set and how it is drawn."""

    text: str
    script: str
    font: str
    size: int
    angle: int
    light_on_dark: bool

    def conditions(self) -> dict[str, str]:
        """Its condition of each kind in :data:`CONDITION_KINDS` (sizes and angles in bands)."""
        return {
            "script": self.script,
            "font": self.font.removesuffix("-Regular.otf"),
            "size": size_band(self.size),
            "rotation": rotation_band(self.angle),
            "polarity": "light on dark" if self.light_on_dark else "dark on light",
        }

    def described(self) -> str:
        """Its conditions in a few words, with the exact size and angle."""
        conditions = self.conditions()
        return (
            f"{self.script}, {conditions['font']}, {self.size} px, {self.angle:+d}°, {conditions['polarity']}"
        )


# The order each kind's conditions are listed in: by the smallest value of the lines they hold.
_CONDITION_ORDER: dict[str, Callable[[Line], Any]] = {
    "script": lambda line: list(SCRIPTS).index(line.script),
    "font": lambda line: FONTS.index(line.font) if line.font in FONTS else len(FONTS),
    "size": lambda line: line.size,
    "rotation": lambda line: abs(line.angle),
    "polarity": lambda line: line.light_on_dark,
}


def accuracy_lines() -> list[Line]:
    """Every line with its conditions, spread so that each condition meets every script."""
    texts = [(text, script) for script, lines in SCRIPTS.items() for text in lines]
    return [
        Line(
            text=text,
            script=script,
            font=FONTS[i % len(FONTS)],
            size=SIZES[(i // 4 + i) % len(SIZES)],
            angle=ANGLES[i % len(ANGLES)],
            light_on_dark=(i // 2) % 2 == 1,
        )
        for i, (text, script) in enumerate(texts)
    ]


@dataclass(frozen=True)
class Page:
    """A rendered page: its JPEG bytes, and each line with the region (left, top, right, bottom) of the
    sign it was drawn on."""

    jpeg: bytes
    lines: list[tuple[Line, tuple[int, int, int, int]]]


def draw_line(line: Line, rng: random.Random) -> Image.Image:
    """The line on its own sign: a margin of one text height around it, turned by its angle."""
    font = _font(line.font, line.size)
    if line.light_on_dark:
        background, ink = rng.choice(DARK_BACKGROUNDS), LIGHT_INK
    else:
        background, ink = rng.choice(LIGHT_BACKGROUNDS), rng.choice(DARK_INKS)
    left, top, right, bottom = (int(v) for v in font.getbbox(line.text))
    margin = line.size
    sign = Image.new("RGB", (right - left + 2 * margin, bottom - top + 2 * margin), background)
    ImageDraw.Draw(sign).text((margin - left, margin - top), line.text, font=font, fill=ink)
    if line.angle:
        sign = sign.rotate(line.angle, Image.Resampling.BICUBIC, expand=True, fillcolor=background)
    return sign


def draw_pages(lines: Sequence[Line], seed: int = SEED) -> list[Page]:
    """Signs packed in rows onto pages of about 1100 × 800, with Gaussian noise, saved as JPEG (quality
    90). The same lines and seed give the same pages."""
    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    pages: list[list[tuple[Line, Image.Image, int, int]]] = [[]]
    x = y = row_height = 0
    for line in lines:
        sign = draw_line(line, rng)
        if x + sign.width > PAGE_WIDTH:
            x, y, row_height = 0, y + row_height, 0
        if y + sign.height > PAGE_HEIGHT and pages[-1]:
            pages.append([])
            x = y = row_height = 0
        pages[-1].append((line, sign, x, y))
        x, row_height = x + sign.width, max(row_height, sign.height)
    drawn = []
    for signs in pages:
        if not signs:
            continue
        width = max(x + sign.width for _, sign, x, _ in signs)
        height = max(y + sign.height for _, sign, _, y in signs)
        page = Image.new("RGB", (width, height), PAGE_COLOUR)
        for _, sign, x, y in signs:
            page.paste(sign, (x, y))
        noisy = np.asarray(page, dtype=np.float32) + noise.normal(0.0, NOISE_SIGMA, (height, width, 3))
        buffer = io.BytesIO()
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=JPEG_QUALITY)
        regions = [(line, (x, y, x + sign.width, y + sign.height)) for line, sign, x, y in signs]
        drawn.append(Page(jpeg=buffer.getvalue(), lines=regions))
    return drawn


def comparable(text: str) -> str:
    """Text as compared: spaces ignored, compatibility forms folded (a full-width comma is a comma)."""
    return unicodedata.normalize("NFKC", "".join(text.split()))


def edit_distance(reference: str, read: str) -> int:
    """Levenshtein distance over characters: substitutions, insertions and deletions each count one."""
    previous = list(range(len(read) + 1))
    for i, expected in enumerate(reference, start=1):
        current = [i]
        for j, got in enumerate(read, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (expected != got)))
        previous = current
    return previous[-1]


def character_errors(reference: str, read: str) -> int:
    """Characters wrong, missing or extra in ``read``, compared as :func:`comparable` text."""
    return edit_distance(comparable(reference), comparable(read))


def _accuracy(errors: int, characters: int) -> float:
    # Nothing to read: right when nothing was read. Extra characters can outnumber the reference's:
    # the accuracy stops at 0 rather than going negative.
    if characters == 0:
        return 1.0 if errors == 0 else 0.0
    return max(0.0, 1.0 - errors / characters)


def character_accuracy(reference: str, read: str) -> float:
    """1 − character errors ÷ reference characters, between 0 and 1 (:func:`comparable` text). An
    empty reference scores 1 when nothing was read and 0 when anything was."""
    return _accuracy(character_errors(reference, read), len(comparable(reference)))


def centre_in(found: DetectedText, region: tuple[int, int, int, int]) -> bool:
    """Whether the centre of what was found lies in ``region`` (left, top, right, bottom)."""
    left, top, right, bottom = region
    centre_x, centre_y = found.box.x + found.box.width / 2, found.box.y + found.box.height / 2
    return left <= centre_x < right and top <= centre_y < bottom


@dataclass(frozen=True)
class LineReading:
    """A line of the set and the text read on its sign (every line found there, in reading order)."""

    line: Line
    read: str

    @property
    def characters(self) -> int:
        return len(comparable(self.line.text))

    @property
    def errors(self) -> int:
        return character_errors(self.line.text, self.read)

    @property
    def exact_errors(self) -> int:
        """Errors with spaces ignored but nothing folded (a full-width comma read as ``,`` counts)."""
        return edit_distance("".join(self.line.text.split()), "".join(self.read.split()))


def read_lines(page: Page, found: Sequence[DetectedText]) -> list[LineReading]:
    """Each line of ``page`` with the text found on its sign (boxes in the page's pixels)."""
    return [
        LineReading(line, "".join(text.text for text in found if centre_in(text, region)))
        for line, region in page.lines
    ]


@dataclass
class Tally:
    """Characters and lines scored together, and the character errors among them."""

    characters: int = 0
    errors: int = 0
    lines: int = 0

    def add(self, characters: int, errors: int) -> None:
        self.characters += characters
        self.errors += errors
        self.lines += 1

    @property
    def accuracy(self) -> float:
        """1 − errors ÷ characters (see :func:`character_accuracy`)."""
        return _accuracy(self.errors, self.characters)

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": round(self.accuracy, 4),
            "characters": self.characters,
            "errors": self.errors,
            "lines": self.lines,
        }


@dataclass
class OcrScore:
    """Character accuracy over every line, without folding, and per condition."""

    readings: list[LineReading]
    overall: Tally = field(default_factory=Tally)
    exact: Tally = field(default_factory=Tally)
    by_condition: dict[str, dict[str, Tally]] = field(default_factory=dict)

    @property
    def misreads(self) -> list[LineReading]:
        return [reading for reading in self.readings if reading.errors]

    def to_dict(self) -> dict[str, Any]:
        return {
            "lines": self.overall.lines,
            "characters": self.overall.characters,
            "accuracy": round(self.overall.accuracy, 4),
            "exact_accuracy": round(self.exact.accuracy, 4),
            "conditions": {
                kind: {value: tally.to_dict() for value, tally in values.items()}
                for kind, values in self.by_condition.items()
            },
            "misreads": [
                {
                    "reference": reading.line.text,
                    "read": reading.read,
                    "errors": reading.errors,
                    "conditions": reading.line.described(),
                }
                for reading in self.misreads
            ],
        }


def score_ocr(readings: Iterable[LineReading]) -> OcrScore:
    """Overall and per-condition character accuracy of ``readings``."""
    score = OcrScore(readings=list(readings))
    by_condition: dict[str, dict[str, Tally]] = {kind: {} for kind in CONDITION_KINDS}
    smallest: dict[tuple[str, str], Any] = {}  # each condition's smallest value, to list them in order
    for reading in score.readings:
        characters, errors = reading.characters, reading.errors
        score.overall.add(characters, errors)
        score.exact.add(len("".join(reading.line.text.split())), reading.exact_errors)
        for kind, value in reading.line.conditions().items():
            by_condition[kind].setdefault(value, Tally()).add(characters, errors)
            key = _CONDITION_ORDER[kind](reading.line)
            smallest[kind, value] = min(smallest.get((kind, value), key), key)
    score.by_condition = {
        kind: {value: values[value] for value in sorted(values, key=lambda value: smallest[kind, value])}
        for kind, values in by_condition.items()
    }
    return score


def ocr_markdown(score: OcrScore, pages: int) -> str:
    """The OCR section of the report."""
    out = [
        "## OCR: character accuracy on rendered text",
        "",
        f"{score.overall.lines} lines ({score.overall.characters} characters) of simplified Chinese, "
        f"traditional Chinese and English (menus, street signs, product labels) drawn with {len(FONTS)} "
        f"CJK fonts at {min(SIZES)} to {max(SIZES)} px, turned up to {max(ANGLES)}° either way, dark on "
        f"light and light on dark, on {pages} pages with Gaussian noise (σ {NOISE_SIGMA:g}) saved as JPEG "
        f"(quality {JPEG_QUALITY}). Compared with spaces ignored and compatibility forms folded (NFKC: a "
        "full-width comma read as a comma is right).",
        "",
        f"Character accuracy: **{score.overall.accuracy:.2%}** "
        f"{'✓' if score.overall.accuracy >= TARGET_ACCURACY else '✗'} (target {TARGET_ACCURACY:.0%}; "
        f"{score.overall.errors} characters wrong, missing or extra); without folding "
        f"{score.exact.accuracy:.2%}.",
        "",
        "| condition | | lines | characters | accuracy |",
        "|---|---|--:|--:|--:|",
    ]
    for kind, values in score.by_condition.items():
        for value, tally in values.items():
            out.append(f"| {kind} | {value} | {tally.lines} | {tally.characters} | {tally.accuracy:.2%} |")
    out.append("")
    if misreads := score.misreads:
        out += ["Misread lines:", "", "| reference | read | errors | conditions |", "|---|---|--:|---|"]
        out += [
            f"| {_cell(r.line.text)} | {_cell(r.read)} | {r.errors} | {r.line.described()} |"
            for r in misreads
        ]
    else:
        out.append("Every line was read right.")
    out.append("")
    return "\n".join(out)


def _cell(text: str) -> str:
    return text.replace("|", "\\|") if text else "(nothing)"


@dataclass(frozen=True)
class SamplePhoto:
    """One of scikit-image's sample photographs, as an RGB picture, and what it shows."""

    name: str
    shows: str
    picture: Picture


# Each photograph's name in the report, scikit-image's function for it, and what it shows.
_SAMPLES: list[tuple[str, str, str]] = [
    ("chelsea", "chelsea", "Chelsea the cat, a tabby"),
    ("coffee", "coffee", "a cup of coffee on a saucer"),
    ("astronaut", "astronaut", "astronaut Eileen Collins in her flight suit, a flag and a helmet"),
    ("rocket", "rocket", "a Falcon 9 rocket on its launch pad"),
    ("motorcycle", "stereo_motorcycle", "a motorcycle in a workshop (left view of the stereo pair)"),
    ("cameraman", "camera", "a man behind a camera on a tripod, his face half hidden (greyscale)"),
    ("page", "page", "a scanned page of printed text (greyscale)"),
    ("hubble_deep_field", "hubble_deep_field", "the Hubble deep field: galaxies (no ImageNet class fits)"),
    ("immunohistochemistry", "immunohistochemistry", "stained tissue under a microscope (no class fits)"),
    ("retina", "retina", "a photograph of a human retina (no ImageNet class fits)"),
]


def sample_photographs() -> list[SamplePhoto]:
    """The sample photographs the labels and faces are checked on, greyscale ones as RGB."""
    data = _development_package("skimage.data", "scikit-image", "the sample photographs")
    photos = []
    for name, function, shows in _SAMPLES:
        loaded = getattr(data, function)()
        picture = np.asarray(loaded[0] if isinstance(loaded, tuple) else loaded)  # a stereo pair: the left
        if picture.ndim == 2:
            picture = np.repeat(picture[:, :, np.newaxis], 3, axis=2)
        photos.append(SamplePhoto(name, shows, np.ascontiguousarray(picture[:, :, :3], dtype=np.uint8)))
    return photos


@dataclass(frozen=True)
class PhotoResult:
    """What the models said about one sample photograph."""

    photo: SamplePhoto
    labels: list[ImageLabel]
    faces: list[FaceBox]

    def to_dict(self) -> dict[str, Any]:
        height, width = self.photo.picture.shape[:2]
        return {
            "name": self.photo.name,
            "shows": self.photo.shows,
            "width": width,
            "height": height,
            "labels": [
                {"name_en": x.name_en, "name_zh": x.name_zh, "score": round(x.score, 4)} for x in self.labels
            ],
            "faces": [
                {**face.box.model_dump(), "confidence": _rounded(face.confidence)} for face in self.faces
            ],
        }


def _rounded(confidence: float | None) -> float | None:
    return None if confidence is None else round(confidence, 4)


def photos_markdown(results: Sequence[PhotoResult], service_min_score: float) -> str:
    """The labels and faces sections of the report."""
    out = [
        "## Labels on scikit-image's sample photographs",
        "",
        "The three ImageNet classes the label model scores highest (softmax), English / Chinese. The service "
        f"returns up to five, each scoring at least {service_min_score:.0%}; scores below that are in "
        "brackets. ImageNet has no class for a person, a galaxy, tissue or a retina.",
        "",
        "| photo | shows | 1st | 2nd | 3rd |",
        "|---|---|---|---|---|",
    ]
    for result in results:
        labels = [_label(label, service_min_score) for label in result.labels[:3]]
        labels += [""] * (3 - len(labels))
        out.append(f"| {result.photo.name} | {result.photo.shows} | {' | '.join(labels)} |")
    out += [
        "",
        "## Faces on the same photographs",
        "",
        "Boxes as x, y, width × height in the photograph's pixels, with the detector's confidence.",
        "",
        "| photo | size | faces | boxes |",
        "|---|---|--:|---|",
    ]
    for result in results:
        height, width = result.photo.picture.shape[:2]
        boxes = "; ".join(
            f"{f.box.x}, {f.box.y}, {f.box.width} × {f.box.height}"
            + ("" if f.confidence is None else f" ({f.confidence:.2f})")
            for f in result.faces
        )
        out.append(f"| {result.photo.name} | {width} × {height} | {len(result.faces)} | {boxes or '—'} |")
    out.append("")
    return "\n".join(out)


def _label(label: ImageLabel, service_min_score: float) -> str:
    score = f"{label.score:.2f}" if label.score >= service_min_score else f"({label.score:.2f})"
    return f"{label.name_en} / {label.name_zh} {score}"
