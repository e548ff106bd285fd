"""lingxi.native: a package runs its compiled modules only while they match the sources."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from lingxi import native

PACKAGE = "native_probe_pkg"


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A package whose ``fast`` module has a "compiled" stand-in (a module of the same name in the
    compiled folder: the loader only decides which folder comes first) under a private prefix."""
    monkeypatch.delenv(native.NATIVE_ENV, raising=False)
    sources = tmp_path / "src" / PACKAGE
    sources.mkdir(parents=True)
    prefix = tmp_path / "env"
    (sources / "__init__.py").write_text(
        "from pathlib import Path\n"
        "from lingxi.native import use_compiled\n"
        f"STATUS = use_compiled(__name__, __path__, Path({str(prefix)!r}))\n"
    )
    (sources / "fast.py").write_text('BUILD = "source"\n')
    compiled = native.native_dir(PACKAGE, prefix)
    compiled.mkdir(parents=True)
    (compiled / "fast.py").write_text('BUILD = "compiled"\n')
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    yield compiled
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def _manifest(compiled: Path, sources: Path, python: str | None = None) -> None:
    manifest = {
        "python": python or sys.implementation.cache_tag,
        "modules": {"fast": native.source_digest(sources / "fast.py")},
    }
    (compiled / native.MANIFEST).write_text(json.dumps(manifest))


def _sources(compiled: Path) -> Path:
    return compiled.parents[3] / "src" / PACKAGE


def _load() -> tuple[str, native.NativeStatus]:
    fast = importlib.import_module(f"{PACKAGE}.fast")
    return fast.BUILD, importlib.import_module(PACKAGE).STATUS


def test_compiled_modules_that_match_their_sources_are_used(probe: Path) -> None:
    _manifest(probe, _sources(probe))
    build, status = _load()
    assert build == "compiled"
    assert status == native.NativeStatus(PACKAGE, ("fast",), "")
    assert native.status(PACKAGE) == status


def test_a_source_edited_after_the_build_runs_as_source_with_a_warning(probe: Path) -> None:
    _manifest(probe, _sources(probe))
    (_sources(probe) / "fast.py").write_text('BUILD = "source"  # edited\n')
    with pytest.warns(RuntimeWarning, match=r"sources changed since they were compiled \(fast\)"):
        build, status = _load()
    assert build == "source"
    assert status.compiled == ()
    assert "make install" in status.reason


def test_a_build_for_another_interpreter_is_not_used(probe: Path) -> None:
    _manifest(probe, _sources(probe), python="cpython-399")
    with pytest.warns(RuntimeWarning, match="compiled for cpython-399"):
        build, _ = _load()
    assert build == "source"


def test_the_switch_keeps_a_package_plain_python(probe: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _manifest(probe, _sources(probe))
    monkeypatch.setenv(native.NATIVE_ENV, "off")
    build, status = _load()
    assert build == "source"
    assert status == native.NativeStatus(PACKAGE, (), "LINGXI_NATIVE is off")


def test_nothing_built_is_plain_python_without_a_warning(probe: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build, status = _load()
    assert build == "source"
    assert status.reason == "not built"


def test_an_unreadable_manifest_is_named(probe: Path) -> None:
    (probe / native.MANIFEST).write_text("{not json")
    with pytest.warns(RuntimeWarning, match="manifest.json is unreadable"):
        build, _ = _load()
    assert build == "source"
