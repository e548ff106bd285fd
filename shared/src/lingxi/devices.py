"""The handset models Lingxi knows, shared by the gateway (which refuses readings from unknown models)
and maintenance (which dead-letters them from the raw stream).

The packaged list (``lingxi/data/device_models.yaml``) holds the phone maker's models; an operator
points ``LINGXI_DEVICE_MODELS_FILE`` at another file of the same shape.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import yaml

MODELS_FILE_ENV = "LINGXI_DEVICE_MODELS_FILE"


@dataclass(frozen=True, slots=True)
class DeviceModel:
    code: str
    design_capacity_mah: int


@cache
def known_models() -> dict[str, DeviceModel]:
    """Every known model by its code (read once per process)."""
    override = os.environ.get(MODELS_FILE_ENV)
    if override:
        text, source = Path(override).read_text(encoding="utf-8"), override
    else:
        text = resources.files("lingxi").joinpath("data", "device_models.yaml").read_text(encoding="utf-8")
        source = "lingxi/data/device_models.yaml"
    return parse_models(text, source)


def parse_models(text: str, source: str = "<text>") -> dict[str, DeviceModel]:
    """The models in a YAML document ``{models: [{code, design_capacity_mah}, ...]}``; a clear error
    naming ``source`` and the entry for anything else."""
    document = yaml.safe_load(text)
    entries = document.get("models") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{source}: expected a non-empty 'models' list")
    models: dict[str, DeviceModel] = {}
    for number, entry in enumerate(entries, start=1):
        code = entry.get("code") if isinstance(entry, dict) else None
        capacity = entry.get("design_capacity_mah") if isinstance(entry, dict) else None
        if not isinstance(code, str) or not code.strip():
            raise ValueError(f"{source}: model {number} has no code")
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity <= 0:
            raise ValueError(f"{source}: model {code} needs a positive integer design_capacity_mah")
        if code in models:
            raise ValueError(f"{source}: model {code} is listed twice")
        models[code] = DeviceModel(code, capacity)
    return models
