"""Loading every analyser once per process, from the operator's settings.

A model that is not on this machine (labels not exported, no object detector configured) does not stop
the service: its task is answered as unavailable, with the reason the loader gave.
"""

from __future__ import annotations

from collections.abc import Callable

from lingxi.events.vision import VisionTask
from lingxi.logging import get_logger

from lingxi_vision.analysers import Analyser, ModelUnavailable
from lingxi_vision.analysis import Vision
from lingxi_vision.faces import FaceFinder
from lingxi_vision.labels import load_labeller
from lingxi_vision.objects import load_detector
from lingxi_vision.ocr import TextReader
from lingxi_vision.settings import VisionSettings

_log = get_logger("lingxi.vision.models")


def load_vision(settings: VisionSettings) -> Vision:
    threads = settings.threads
    loaders: dict[VisionTask, Callable[[], Analyser]] = {
        "text": lambda: TextReader(threads=threads),
        "labels": lambda: load_labeller(threads=threads),
        "faces": lambda: FaceFinder(threads=threads),
        "objects": lambda: load_detector(settings.objects_model, settings.objects_names, threads=threads),
    }
    analysers: list[Analyser] = []
    unavailable: dict[VisionTask, str] = {}
    for task, load in loaders.items():
        try:
            analysers.append(load())
        except ModelUnavailable as missing:
            unavailable[task] = str(missing)
            _log.warning("vision task unavailable", task=task, reason=str(missing))
    for analyser in analysers:
        _log.info("vision model loaded", task=analyser.task, model=analyser.model_name)
    return Vision(analysers, unavailable, max_side=settings.max_side)
