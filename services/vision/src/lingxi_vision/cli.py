"""``lingxi evaluate vision``: OCR character accuracy on the rendered accuracy set, and the labels and
faces the models find on scikit-image's sample photographs.

Imported whenever the ``lingxi`` command starts: everything heavy is imported inside the command. The
set and the photographs need the development dependencies (``make install``). No timings: speed is the
benchmark's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from lingxi.events.vision import VisionTask

DEFAULT_OUTPUT = Path("docs/vision-accuracy")
PACKAGES = [
    "onnxruntime",
    "rapidocr",
    "opencv-python-headless",
    "numpy",
    "pillow",
    "scikit-image",
    "mplfonts",
]
"""Packages whose versions the report names: the models' runtimes and what draws the test images."""
REQUIRED_TASKS = ("text", "labels", "faces")


def evaluate_vision(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder for report.md and report.json.")
    ] = DEFAULT_OUTPUT,
) -> None:
    """OCR character accuracy on rendered Chinese and English text (per script, font, size, rotation
    and polarity), and the top labels and the faces on scikit-image's sample photographs."""
    import io

    from PIL import Image
    from rich.console import Console
    from rich.progress import track

    from lingxi_vision import evaluation
    from lingxi_vision.labels import ImageLabeller, default_model_path
    from lingxi_vision.models import load_vision
    from lingxi_vision.settings import VisionSettings

    console = Console(stderr=True)
    settings = VisionSettings()
    try:
        with console.status("rendering the OCR accuracy set and loading the sample photographs"):
            pages = evaluation.draw_pages(evaluation.accuracy_lines())
            photos = evaluation.sample_photographs()
    except ImportError as missing:
        console.print(f"[red]{missing}[/]")
        raise typer.Exit(1) from missing
    with console.status("loading the vision models"):
        vision = load_vision(settings)
    if absent := [
        f"{task}: {vision.unavailable[task]}" for task in REQUIRED_TASKS if task in vision.unavailable
    ]:
        console.print(f"[red]a model this report needs is unavailable: {'; '.join(absent)}[/]")
        raise typer.Exit(1)

    readings: list[evaluation.LineReading] = []
    for page in track(pages, description="OCR accuracy set", console=console):
        findings = vision.analyse(page.jpeg, ["text"])
        readings.extend(evaluation.read_lines(page, findings.texts))
    ocr = evaluation.score_ocr(readings)

    # The service's labeller leaves out labels below its minimum score; the report shows the top three
    # anyway, from a labeller over the same model file that leaves out none.
    service_labeller = vision.analysers["labels"]
    service_min_score = service_labeller.min_score if isinstance(service_labeller, ImageLabeller) else 0.0
    labeller = ImageLabeller(default_model_path(), threads=settings.threads, top_k=3, min_score=0.0)
    results = []
    for photo in track(photos, description="sample photographs", console=console):
        png = io.BytesIO()
        Image.fromarray(photo.picture).save(png, "PNG")
        findings = vision.analyse(png.getvalue(), ["faces"])
        results.append(evaluation.PhotoResult(photo, labeller.analyse(photo.picture), findings.faces))

    models = {task: analyser.model_name for task, analyser in vision.analysers.items()}
    machine = _machine(settings.threads)
    sections = [
        "# Vision accuracy\n\nWritten by `lingxi evaluate vision`.\n",
        evaluation.ocr_markdown(ocr, len(pages)),
        evaluation.photos_markdown(results, service_min_score),
        _models_markdown(models, vision.unavailable, machine),
    ]
    report = "\n".join(sections)
    output.mkdir(parents=True, exist_ok=True)
    (output / "report.md").write_text(report, encoding="utf-8")
    document = {
        "ocr": {"pages": len(pages), **ocr.to_dict()},
        "photos": [result.to_dict() for result in results],
        "models": models,
        "unavailable": vision.unavailable,
        "machine": machine,
    }
    (output / "report.json").write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
    typer.echo(report)
    console.print(f"wrote report.md and report.json in {output}")


def _machine(threads: int) -> dict[str, Any]:
    """The machine and the package versions the models ran with."""
    import os
    import platform
    from importlib.metadata import PackageNotFoundError, version

    def installed(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "not installed"

    return {
        "platform": platform.platform(),
        "processor": _processor_name(),
        "cpus": os.cpu_count(),
        "threads_per_model": threads,
        "python": platform.python_version(),
        "packages": {package: installed(package) for package in PACKAGES},
    }


def _processor_name() -> str:
    import platform

    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return platform.processor() or platform.machine()
    for line in cpuinfo.splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()


def _models_markdown(
    models: Mapping[VisionTask, str], unavailable: Mapping[VisionTask, str], machine: dict[str, Any]
) -> str:
    out = ["## Models and machine", "", "| task | model |", "|---|---|"]
    out += [f"| {task} | {name} |" for task, name in models.items()]
    out += [f"| {task} | unavailable: {reason} |" for task, reason in unavailable.items()]
    packages = ", ".join(f"{name} {found}" for name, found in machine["packages"].items())
    out += [
        "",
        f"On {machine['processor']} ({machine['cpus']} CPUs; threads per model: "
        f"{machine['threads_per_model']}), {machine['platform']}, Python {machine['python']}; {packages}.",
        "",
    ]
    return "\n".join(out)
