"""tools/build_native.py: compiles what a service declares, once; a failed build leaves plain Python."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from lingxi import native

TOOL = Path(__file__).resolve().parents[2] / "tools" / "build_native.py"


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_native", TOOL)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _service(root: Path, source: str) -> Path:
    """A service ``demo`` whose package ``native_demo_pkg`` declares one module, ``fast``."""
    service = root / "services" / "demo"
    package = service / "src" / "native_demo_pkg"
    package.mkdir(parents=True)
    (service / "pyproject.toml").write_text('[tool.lingxi.native]\nmodules = ["fast"]\n')
    (package / "__init__.py").write_text(
        "import sys\nfrom pathlib import Path\nfrom lingxi.native import use_compiled\n"
        "STATUS = use_compiled(__name__, __path__, Path(sys.argv[1]))\n"
    )
    (package / "fast.py").write_text(source)
    return package


def test_a_declared_module_is_compiled_once_and_loaded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tool = _tool()
    package = _service(tmp_path / "repo", "def double(n: int) -> int:\n    return 2 * n\n")
    prefix = tmp_path / "env"
    assert tool.main(["--prefix", str(prefix)], root=tmp_path / "repo") == 0
    assert "native_demo_pkg: compiled in" in capsys.readouterr().out
    manifest = json.loads((native.native_dir("native_demo_pkg", prefix) / native.MANIFEST).read_text())
    assert manifest["modules"] == {"fast": native.source_digest(package / "fast.py")}

    assert tool.main(["--prefix", str(prefix)], root=tmp_path / "repo") == 0
    assert capsys.readouterr().out == "", "nothing changed: nothing compiled"

    probe = (
        "import native_demo_pkg, native_demo_pkg.fast as f; "
        "print(f.__file__.endswith('.py'), f.double(21), native_demo_pkg.STATUS.compiled)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(prefix)],
        cwd=package.parent,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout.split() == ["False", "42", "('fast',)"]


def test_a_module_mypyc_cannot_compile_leaves_the_package_plain_python(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tool = _tool()
    _service(tmp_path / "repo", 'def double(n: int) -> int:\n    return "not a number"\n')
    prefix = tmp_path / "env"
    assert tool.main(["--prefix", str(prefix)], root=tmp_path / "repo") == 0, "the install goes on"
    assert "native_demo_pkg: NOT compiled" in capsys.readouterr().err
    assert not (native.native_dir("native_demo_pkg", prefix) / native.MANIFEST).exists()
