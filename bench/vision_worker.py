"""The vision service's analysers, timed in a process of its own (so onnxruntime, OpenCV and the models stay
out of the bench process); prints one JSON object on stdout.

    python -m bench.vision_worker [--seconds 2] [--min-calls 10] [--save-photo PATH] [--tries 3]
                                  [--retry-budget S] [--cpu NAME=PID ...]

The test photo is scikit-image's astronaut scaled to about one megapixel (1024 × 1024) with a sign of
Chinese and English lines (Noto Sans CJK SC, from ``mplfonts``) pasted on it, encoded as JPEG (quality
90): one face, a scene to label, text to read. After importing the service's code and loading every
model as a replica does (``load_vision(VisionSettings())``, timed) and one warm-up pass, each measurement
calls one thing on that photo, ``time.perf_counter`` around each call, until it has lasted ``--seconds``
and made at least ``--min-calls`` calls:

1. ``decode``: the baseline of every row, Pillow decoding the JPEG to an RGB array;
2. ``prepare``: ``lingxi_vision.images.prepare`` (the checks, EXIF orientation, decoding);
3. ``text``: ``TextReader.analyse`` on the prepared picture (OCR, the target: p50 under 1 s), and
   ``text_library``, its baseline: rapidocr called directly on the same array with the same models and
   threads;
4. ``labels``: the labeller's ``analyse`` (the target: p50 under 50 ms), and ``labels_session``, its
   baseline: onnxruntime's bare ``session.run`` of the same model on the same input tensor;
5. ``faces``: the face finder's ``analyse``, and ``faces_library``, its baseline: OpenCV's
   ``detectMultiScale`` called directly with the same cascade file on the same picture made grey;
6. ``objects`` when a detector is configured (otherwise reported as unavailable, with the service's
   reason);
7. ``analyse``: ``Vision.analyse(jpeg, every task)``, the whole of what a replica does per image.

Each measurement samples the CPU of this process, of the ``--cpu`` processes and of the machine; one taken
while other work loaded the machine more than ``--threshold`` % of a core is taken again (at most
``--tries`` times, while ``--retry-budget`` seconds last). Progress goes to stderr as ``@@say TEXT`` and
``@@advance`` lines (``STEPS`` of them). ``--save-photo`` writes the JPEG for the throughput runs.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.nlu_worker import Passes, Retry, advance, measure, say
from bench.stats import cpu_percent, cpu_sample
from bench.worker import package_version, sampled_pids, worker_main, worker_parser

if TYPE_CHECKING:
    from lingxi.events.vision import VisionTask

STEPS = 11
"""``@@advance`` lines a successful run writes: start-up, then one per measurement."""
PHOTO_SIDE = 1024
"""The test photo is PHOTO_SIDE × PHOTO_SIDE pixels (1.05 megapixels)."""
JPEG_QUALITY = 90
SIGN_LINES = (
    "灵犀咖啡 欢迎光临",
    "营业时间 早上九点至晚上十点",
    "Welcome to Lingxi Cafe",
    "Open daily 9:00-22:00",
    "出口 EXIT",
)
"""The lines on the sign pasted into the photo, top to bottom: what OCR has to read."""
FONT_FILE = "NotoSansCJKsc-Regular.otf"


def build_photo() -> bytes:
    """The test photo as JPEG bytes: the astronaut at PHOTO_SIDE² with a slightly tilted sign of
    SIGN_LINES in her lower right (clear of her face)."""
    import mplfonts
    from PIL import Image, ImageDraw, ImageFont
    from skimage import data

    astronaut = data.astronaut()  # type: ignore[no-untyped-call]
    photo = Image.fromarray(astronaut).resize((PHOTO_SIDE, PHOTO_SIDE), Image.Resampling.LANCZOS)
    font = ImageFont.truetype(str(Path(mplfonts.__file__).parent / "fonts" / FONT_FILE), 30)
    spacing = 48
    sign = Image.new("RGBA", (430, 40 + spacing * len(SIGN_LINES)), (245, 240, 225, 255))
    draw = ImageDraw.Draw(sign)
    draw.rectangle((0, 0, sign.width - 1, sign.height - 1), outline=(90, 60, 30, 255), width=6)
    for index, line in enumerate(SIGN_LINES):
        draw.text((24, 20 + spacing * index), line, font=font, fill=(30, 30, 30, 255))
    # A sign in a photo is rarely square to the camera; its transparent corners keep the photo behind.
    tilted = sign.rotate(3, expand=True, resample=Image.Resampling.BICUBIC)
    photo.paste(tilted, (560, 700), tilted)
    out = io.BytesIO()
    photo.save(out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def memory_mb(pid: int | str = "self") -> dict[str, float]:
    """Resident memory of a process now (``rss``) and at its peak (``peak``), in MB (Linux /proc)."""
    fields = {"VmRSS": "rss", "VmHWM": "peak"}
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in fields:
            out[fields[name]] = round(int(value.split()[0]) / 1024, 1)  # the kernel writes kB
    return out


def calls(call: Callable[[], object], seconds: float, min_calls: int) -> Passes:
    """Call ``call`` until ``seconds`` have gone by and it has been called ``min_calls`` times."""
    clock = time.perf_counter
    durations: list[float] = []
    started = clock()
    while True:
        before = clock()
        call()
        durations.append(clock() - before)
        elapsed = clock() - started
        if elapsed >= seconds and len(durations) >= min_calls:
            return Passes(len(durations), elapsed, durations)


def _spaceless(text: str) -> str:
    return "".join(text.split())


def bench(args: argparse.Namespace) -> dict[str, Any]:
    pids = {**sampled_pids(args.cpu), "worker": os.getpid()}
    retry = Retry(args.threshold, args.tries, time.monotonic() + args.retry_budget)
    say("vision: building the test photo")
    jpeg = build_photo()
    if args.save_photo:
        Path(args.save_photo).write_bytes(jpeg)

    say("vision: loading every model")
    cpu_before = cpu_sample(pids)
    started = time.perf_counter()
    import cv2
    import numpy as np
    import onnxruntime as ort
    import rapidocr
    from lingxi.events.vision import VISION_TASKS
    from lingxi_vision.faces import CASCADE_FILE, MIN_FACE_PX
    from lingxi_vision.images import prepare
    from lingxi_vision.labels import default_model_path
    from lingxi_vision.models import load_vision
    from lingxi_vision.ocr import MODEL_FILES
    from lingxi_vision.settings import VisionSettings
    from PIL import Image

    imported = time.perf_counter()
    settings = VisionSettings()
    vision = load_vision(settings)
    loaded = time.perf_counter()
    startup_cpu = cpu_percent(cpu_before, cpu_sample(pids), loaded - started)
    loaded_memory = memory_mb()

    prepared = prepare(jpeg, max_side=settings.max_side)
    picture = prepared.picture
    analysers = vision.analysers

    def decode() -> object:
        with Image.open(io.BytesIO(jpeg)) as image:
            return np.asarray(image.convert("RGB"))

    # The baselines: the library under each analyser, loaded again on its own and called directly.
    library_ocr: Callable[[], object] | None = None
    if "text" in analysers:
        models = Path(rapidocr.__file__).parent / "models"
        engine = rapidocr.RapidOCR(
            params={
                "Global.log_level": "error",
                **{f"{stage}.model_path": str(models / name) for stage, name in MODEL_FILES.items()},
                "EngineConfig.onnxruntime.intra_op_num_threads": settings.threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
        )
        bgr = np.ascontiguousarray(picture[:, :, ::-1])  # rapidocr takes OpenCV's BGR

        def library_ocr() -> object:
            return engine(bgr)

    bare_session: Callable[[], object] | None = None
    labeller = analysers.get("labels")
    if labeller is not None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = settings.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        session = ort.InferenceSession(str(default_model_path()), options, providers=["CPUExecutionProvider"])
        preprocessing = labeller.preprocessing  # type: ignore[attr-defined]
        # The very tensor the labeller feeds its session for this picture (its crop, resize, normalising).
        feed = {preprocessing.input_name: labeller._prepare(picture)}  # type: ignore[attr-defined]

        def bare_session() -> object:
            return session.run([preprocessing.output_name], feed)

    bare_cascade: Callable[[], object] | None = None
    if "faces" in analysers:
        cascade = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / CASCADE_FILE))

        def bare_cascade() -> object:
            grey = cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY)
            return cascade.detectMultiScale(grey, 1.1, 5, minSize=(MIN_FACE_PX, MIN_FACE_PX))

    say("vision: warm-up pass")
    findings = vision.analyse(jpeg, VISION_TASKS)
    for analyser in analysers.values():
        analyser.analyse(picture)
    for baseline in (decode, library_ocr, bare_session, bare_cascade):
        if baseline is not None:
            baseline()
    advance()

    results: list[dict[str, Any]] = []

    def step(key: str, label: str, call: Callable[[], object] | None, baseline: str | None, why: str) -> None:
        row: dict[str, Any] = {"key": key, "label": label, "baseline": baseline}
        if call is None:
            row |= {"status": "skipped", "reason": why}
        else:
            say(f"vision: {label}")

            def run() -> Passes:
                return calls(call, args.seconds, args.min_calls)

            row |= measure(label, run, pids, retry, per_call=True)
        results.append(row)
        advance()

    def task(name: VisionTask) -> Callable[[], object] | None:
        analyser = analysers.get(name)
        return None if analyser is None else lambda: analyser.analyse(picture)

    def named(name: VisionTask, what: str) -> str:
        analyser = analysers.get(name)
        return f"{name}: {what}" + (f" ({analyser.model_name})" if analyser is not None else "")

    def unavailable(name: VisionTask) -> str:
        return vision.unavailable.get(name, f"no {name} analyser")

    step("decode", "baseline: Pillow decodes the JPEG to an RGB array", decode, None, "")
    step(
        "prepare",
        "images.prepare: checks, EXIF orientation, decoding",
        lambda: prepare(jpeg, max_side=settings.max_side),
        "decode",
        "",
    )
    step("text", named("text", "analyse"), task("text"), "text_library", unavailable("text"))
    step(
        "text_library",
        "baseline: rapidocr called directly, same models and array",
        library_ocr,
        "decode",
        unavailable("text"),
    )
    step("labels", named("labels", "analyse"), task("labels"), "labels_session", unavailable("labels"))
    step(
        "labels_session",
        "baseline: bare onnxruntime session.run, same model and input",
        bare_session,
        "decode",
        unavailable("labels"),
    )
    step("faces", named("faces", "analyse"), task("faces"), "faces_library", unavailable("faces"))
    step(
        "faces_library",
        "baseline: OpenCV detectMultiScale directly, same cascade and picture",
        bare_cascade,
        "decode",
        unavailable("faces"),
    )
    step("objects", named("objects", "analyse"), task("objects"), "decode", unavailable("objects"))
    step(
        "analyse",
        "Vision.analyse(jpeg, every task): a replica's work per image",
        lambda: vision.analyse(jpeg, VISION_TASKS),
        "parts",
        "",
    )

    read = {_spaceless(text.text) for text in findings.texts}
    return {
        "photo": {
            "source": "scikit-image astronaut with a sign of Chinese and English text",
            "width": prepared.width,
            "height": prepared.height,
            "megapixels": round(prepared.width * prepared.height / 1e6, 2),
            "jpeg_bytes": len(jpeg),
            "jpeg_quality": JPEG_QUALITY,
            "sign_lines": list(SIGN_LINES),
            "font": FONT_FILE,
        },
        "found": {
            "text_lines": len(findings.texts),
            "sign_lines_read": sum(_spaceless(line) in read for line in SIGN_LINES),
            "labels": [f"{label.name_en} {label.score:.2f}" for label in findings.labels],
            "faces": len(findings.faces),
            "objects": len(findings.objects),
        },
        "models": {str(task): name for task, name in findings.model_names.items()},
        "unavailable": dict(vision.unavailable),
        "settings": {"threads": settings.threads, "max_side": settings.max_side},
        "libraries": {
            name: package_version(name)
            for name in ("onnxruntime", "rapidocr", "opencv-python-headless", "pillow", "numpy")
        },
        "startup": {
            "import_s": round(imported - started, 2),
            "load_s": round(loaded - imported, 2),
            "cpu_percent": startup_cpu,
        },
        "memory_mb": {
            "after_loading": loaded_memory["rss"],
            "peak": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        },
        "results": results,
    }


def main() -> None:
    parser = worker_parser("python -m bench.vision_worker")
    parser.add_argument("--min-calls", type=int, default=10, help="calls per measurement at least")
    parser.add_argument("--save-photo", type=Path, help="write the test photo (JPEG) here")
    worker_main(parser, bench)


if __name__ == "__main__":
    main()
