"""The domain modules run compiled (mypyc, ``lingxi.native``) and recommend exactly what plain Python does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import lingxi_personalization.profile
from lingxi import native

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def _declared() -> list[str]:
    return sorted(tomllib.loads(PYPROJECT.read_text())["tool"]["lingxi"]["native"]["modules"])


def _evaluate(native_switch: str, output: Path) -> dict[str, object]:
    """``lingxi evaluate personalization`` on a small simulated population, its metrics less the timing."""
    env = {**os.environ, native.NATIVE_ENV: native_switch}
    command = [str(Path(sys.executable).parent / "lingxi"), "evaluate", "personalization"]
    options = ["--users", "300", "--days", "60", "--holdout-days", "10", "-o", str(output)]
    done = subprocess.run(
        command + options, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    metrics: dict[str, object] = json.loads((output / "metrics.json").read_text())
    metrics.pop("seconds", None)
    return metrics


def test_this_install_runs_the_domain_modules_compiled() -> None:
    status = native.status("lingxi_personalization")
    assert status is not None
    assert status.compiled == tuple(_declared()), f"plain Python: {status.reason}"
    assert not lingxi_personalization.profile.__file__.endswith(".py")


def test_compiled_and_plain_python_recommend_alike(tmp_path: Path) -> None:
    compiled = _evaluate("on", tmp_path / "compiled")
    plain = _evaluate("off", tmp_path / "plain")
    assert compiled == plain
    assert json.dumps(plain).count("hit_rate") > 0
