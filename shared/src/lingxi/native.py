"""Compiled domain modules: a service's hot, pure modules compiled with mypyc, used only while they match
their sources.

A service lists the modules under ``[tool.lingxi.native]`` in its ``pyproject.toml``; ``make install``
compiles them (``tools/build_native.py``) into ``native_dir(package)``, beside a manifest holding the
SHA-256 of each source it compiled. The package's ``__init__`` calls ``use_compiled(__name__, __path__)``:
when every listed source is unchanged, the compiled folder goes first on the package's search path, so
``import package.state`` loads the extension module; otherwise the package runs as plain Python (same
code, slower), and a warning says why. An edit without ``make install`` therefore never runs stale code.

``LINGXI_NATIVE=off`` keeps a package pure Python (Python tracebacks and debuggers in the domain code).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from collections.abc import MutableSequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "MANIFEST",
    "NATIVE_ENV",
    "NativeStatus",
    "native_dir",
    "source_digest",
    "status",
    "statuses",
    "use_compiled",
]

NATIVE_ENV = "LINGXI_NATIVE"
"""Set to ``off`` (or ``0``, ``false``, ``no``) to run every package as plain Python."""
MANIFEST = "manifest.json"
"""In a package's compiled folder: ``{"python": cache tag, "modules": {name: sha256 of its source}}``."""
_OFF = frozenset({"off", "0", "false", "no"})
_NOT_BUILT = "not built"
_SWITCHED_OFF = f"{NATIVE_ENV} is off"


@dataclass(frozen=True)
class NativeStatus:
    """Whether a package runs its compiled modules, and if not, why."""

    package: str
    compiled: tuple[str, ...]
    """Modules loaded from the compiled folder (empty: the package is plain Python)."""
    reason: str
    """Why the package is plain Python ("" when compiled)."""


_STATUS: dict[str, NativeStatus] = {}


def native_dir(package: str, prefix: Path | None = None) -> Path:
    """Where the compiled modules of ``package`` live: inside the environment (``sys.prefix``), so a new
    environment starts without them and an image carries them with its virtualenv."""
    return (prefix or Path(sys.prefix)) / "lib" / "lingxi-native" / package


def source_digest(source: Path) -> str:
    """SHA-256 of a module's source, as the manifest records it."""
    return hashlib.sha256(source.read_bytes()).hexdigest()


def status(package: str) -> NativeStatus | None:
    """What ``use_compiled`` decided for ``package`` (None: it was not asked)."""
    return _STATUS.get(package)


def statuses() -> list[NativeStatus]:
    """What ``use_compiled`` decided for each package that asked, in this process."""
    return list(_STATUS.values())


def use_compiled(package: str, path: MutableSequence[str], prefix: Path | None = None) -> NativeStatus:
    """Put the package's compiled folder (under ``prefix``, default ``sys.prefix``) first on its
    ``__path__`` when it matches the sources."""
    decided = _decide(package, path, native_dir(package, prefix))
    _STATUS[package] = decided
    if decided.reason and decided.reason not in (_NOT_BUILT, _SWITCHED_OFF):  # those are no surprise
        warnings.warn(f"{package} runs as plain Python: {decided.reason}", RuntimeWarning, stacklevel=2)
    return decided


def _decide(package: str, path: MutableSequence[str], folder: Path) -> NativeStatus:
    if os.environ.get(NATIVE_ENV, "").strip().lower() in _OFF:
        return NativeStatus(package, (), _SWITCHED_OFF)
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        modules: dict[str, str] = manifest["modules"]
        python: str = manifest["python"]
    except FileNotFoundError:
        return NativeStatus(package, (), _NOT_BUILT)
    except (OSError, ValueError, KeyError, TypeError) as error:
        return NativeStatus(package, (), f"{folder / MANIFEST} is unreadable ({error}); run `make install`")
    if python != sys.implementation.cache_tag:
        return NativeStatus(
            package, (), f"compiled for {python}, this is {sys.implementation.cache_tag}; run `make install`"
        )
    sources = Path(path[0])
    changed = []
    for name, digest in sorted(modules.items()):
        try:
            same = source_digest(sources / f"{name}.py") == digest
        except OSError:
            same = False
        if not same:
            changed.append(name)
    if changed:
        names = ", ".join(changed)
        why = f"sources changed since they were compiled ({names}); run `make install`"
        return NativeStatus(package, (), why)
    path.insert(0, str(folder))
    return NativeStatus(package, tuple(sorted(modules)), "")
