"""Each vision task's time on each picture is measured, failures included (``lingxi_vision_task_seconds``)."""

from __future__ import annotations

import io
from collections.abc import Sequence

from lingxi_vision.analysers import Finding
from lingxi_vision.analysis import Vision
from PIL import Image
from prometheus_client import REGISTRY


class NothingFound:
    task = "text"
    model_name = "finds-nothing"

    def analyse(self, picture: object) -> Sequence[Finding]:
        return []


class Broken:
    task = "labels"
    model_name = "always-fails"

    def analyse(self, picture: object) -> Sequence[Finding]:
        raise RuntimeError("the model failed")


def timed(task: str) -> float:
    return REGISTRY.get_sample_value("lingxi_vision_task_seconds_count", {"task": task}) or 0.0


def test_every_task_run_is_timed_whether_it_finds_something_or_fails() -> None:
    vision = Vision([NothingFound(), Broken()], {"faces": "not installed", "objects": "not installed"})  # type: ignore[list-item]
    picture = io.BytesIO()
    Image.new("RGB", (64, 48), "white").save(picture, format="PNG")
    before = {task: timed(task) for task in ("text", "labels", "faces")}

    findings = vision.analyse(picture.getvalue(), ["text", "labels", "faces"])

    assert findings.model_names == {"text": "finds-nothing"}
    assert set(findings.unavailable) == {"labels", "faces"}
    assert timed("text") == before["text"] + 1
    assert timed("labels") == before["labels"] + 1, "a failed run is timed too"
    assert timed("faces") == before["faces"], "a task with no model is not"
