"""The handset model catalogue the gateway and maintenance check readings against."""

from __future__ import annotations

from pathlib import Path

import pytest
from lingxi import devices
from lingxi.devices import DeviceModel, known_models, parse_models


def test_the_packaged_catalogue_holds_the_makers_models() -> None:
    models = known_models()
    assert models["LX-2026-PRO"] == DeviceModel("LX-2026-PRO", 6000)
    assert all(m.design_capacity_mah > 0 for m in models.values())


def test_an_operator_file_replaces_the_catalogue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "models.yaml"
    path.write_text("models:\n  - {code: ZX-1, design_capacity_mah: 4000}\n", encoding="utf-8")
    monkeypatch.setenv(devices.MODELS_FILE_ENV, str(path))
    known_models.cache_clear()
    try:
        assert list(known_models()) == ["ZX-1"]
    finally:
        known_models.cache_clear()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("models: []", "non-empty 'models' list"),
        ("models:\n  - {design_capacity_mah: 4000}", "model 1 has no code"),
        ("models:\n  - {code: A, design_capacity_mah: -1}", "model A needs a positive integer"),
        (
            "models:\n  - {code: A, design_capacity_mah: 1}\n  - {code: A, design_capacity_mah: 2}",
            "listed twice",
        ),
    ],
)
def test_a_bad_catalogue_is_refused_naming_the_entry(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_models(text, "models.yaml")
