"""Compile the domain modules services list under ``[tool.lingxi.native]`` with mypyc (``lingxi.native``).

    python tools/build_native.py                 # every service, into this environment (make install)
    python tools/build_native.py --service maintenance --prefix /app/.venv \
        --python-executable /app/.venv/bin/python   # an image's builder stage (deploy/Dockerfile)

A package whose manifest already matches its sources (and this interpreter) is left alone, so the step
costs a few milliseconds when nothing changed. Otherwise its modules are compiled in a temporary folder
beside the package's compiled folder, which the result then replaces (two renames), manifest included.

Type information: mypy follows imports only into ``lingxi`` and the package itself; third-party
modules count as ``Any`` (checking their bodies fully, as mypyc otherwise does, takes minutes). Calls
into them stay ordinary Python calls either way.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "shared" / "src"))  # lingxi.native, also before the workspace is installed

from lingxi.native import MANIFEST, native_dir, source_digest  # noqa: E402

MYPY_CONFIG = """\
[mypy]
python_version = {python}
ignore_missing_imports = True
follow_imports = skip
mypy_path = {mypy_path}
{python_executable}
[mypy-lingxi.*]
follow_imports = normal
[mypy-{package}.*]
follow_imports = normal
"""


def declared(root: Path, service: str = "*") -> list[tuple[str, Path, list[str]]]:
    """(package, its source folder, modules to compile) for each service that declares some."""
    found = []
    for pyproject in sorted(root.glob(f"services/{service}/pyproject.toml")):
        config = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        modules = config.get("tool", {}).get("lingxi", {}).get("native", {}).get("modules", [])
        if not modules:
            continue
        packages = [p.parent for p in (pyproject.parent / "src").glob("*/__init__.py")]
        if len(packages) != 1:
            raise SystemExit(f"{pyproject}: expected one package under src/, found {len(packages)}")
        folder = packages[0]
        missing = [m for m in modules if not (folder / f"{m}.py").is_file()]
        if missing:
            raise SystemExit(f"{pyproject}: [tool.lingxi.native] lists modules that do not exist: {missing}")
        found.append((folder.name, folder, list(modules)))
    return found


def manifest_for(folder: Path, modules: list[str]) -> dict[str, object]:
    return {
        "python": sys.implementation.cache_tag,
        "modules": {m: source_digest(folder / f"{m}.py") for m in sorted(modules)},
    }


def up_to_date(target: Path, wanted: dict[str, object]) -> bool:
    try:
        return bool(json.loads((target / MANIFEST).read_text(encoding="utf-8")) == wanted)
    except (OSError, ValueError):
        return False


def compile_package(
    package: str,
    folder: Path,
    modules: list[str],
    manifest: dict[str, object],
    target: Path,
    python_executable: str | None,
) -> None:
    """Compile ``modules`` of ``package`` and put them, with ``manifest``, at ``target``."""
    # Imported here: checking that nothing changed must not pay for importing mypyc.
    from mypyc.build import mypycify
    from setuptools import Distribution

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"native-{package}-", dir=target.parent) as scratch:
        work = Path(scratch)
        config = work / "mypy.ini"
        config.write_text(
            MYPY_CONFIG.format(
                python=f"{sys.version_info.major}.{sys.version_info.minor}",
                mypy_path=f"{ROOT / 'shared' / 'src'}:{folder.parent}",
                python_executable=f"python_executable = {python_executable}" if python_executable else "",
                package=package,
            ),
            encoding="utf-8",
        )
        extensions = mypycify(
            ["--config-file", str(config), "--cache-dir", str(work / "mypy-cache")]
            + [str(folder / f"{m}.py") for m in modules],
            opt_level="3",
            group_name=f"{package}.native",  # the shared library lands inside the package's folder
            target_dir=str(work / "c"),
        )
        distribution = Distribution({"name": f"{package}-native", "ext_modules": extensions})
        build = distribution.get_command_obj("build_ext")
        build.build_lib = str(work / "lib")
        build.build_temp = str(work / "obj")
        distribution.run_command("build_ext")
        built = work / "lib" / package
        (built / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        old = work / "old"
        if target.exists():
            target.rename(old)
        built.rename(target)


def main(argv: list[str] | None = None, root: Path = ROOT) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--service", default="*", help="only this service (default: every one)")
    parser.add_argument("--prefix", type=Path, help="environment to build into (default: this one)")
    parser.add_argument("--python-executable", help="interpreter whose packages mypy reads (default: this)")
    args = parser.parse_args(argv)
    for package, folder, modules in declared(root, args.service):
        target = native_dir(package, args.prefix)
        manifest = manifest_for(folder, modules)
        if up_to_date(target, manifest):
            continue
        print(f"{package}: compiling {len(modules)} modules with mypyc ({', '.join(modules)})", flush=True)
        started = time.perf_counter()
        try:
            compile_package(package, folder, modules, manifest, target, args.python_executable)
        except (Exception, SystemExit) as error:  # mypyc exits on a type error; gcc may be missing
            # The package still works, as plain Python: say so, and let the install go on.
            why = f"exit status {error.code}" if isinstance(error, SystemExit) else repr(error)
            print(
                f"{package}: NOT compiled ({why}, output above); it runs as plain Python, slower. "
                "Compiling needs a C compiler and the Python headers.",
                file=sys.stderr,
                flush=True,
            )
            continue
        print(f"{package}: compiled in {time.perf_counter() - started:.0f} s, into {target}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
