"""``lingxi asyncapi``: write or check the platform's AsyncAPI document (docs/asyncapi.md).

The services are found through entry points in group ``lingxi.asyncapi`` (``<service> = "<its wiring
module>"``, in each service's pyproject.toml), so this shared command needs no service code: it reads each
service package's source (``lingxi.asyncapi.contract_from_sources``) and never imports it.
"""

from __future__ import annotations

import importlib.util
from importlib.metadata import PackageNotFoundError, entry_points, version
from pathlib import Path
from typing import Annotated

import typer

from lingxi.asyncapi import (
    ContractError,
    ServiceContract,
    build_document,
    contract_from_sources,
    difference_summary,
    render,
)
from lingxi.cli.common import fail

ENTRY_POINT_GROUP = "lingxi.asyncapi"
DEFAULT_PATH = Path("docs/asyncapi.json")
GATEWAY_COPY = Path("services/gateway/src/lingxi_gateway/asyncapi.json")
"""The copy the gateway serves at /asyncapi.json (package data: it ships in the gateway's wheel)."""
COMMITTED = (DEFAULT_PATH, GATEWAY_COPY)
"""The committed copies, relative to the repository root: what ``--check`` compares by default."""


def regenerate(paths: list[Path]) -> str:
    """The command that writes the document to ``paths``."""
    return " ".join(["lingxi asyncapi", *(f"--output {p}" for p in paths)])


def package_sources(module: str) -> dict[str, str]:
    """Module name -> source text of every module in ``module``'s top-level package, found without
    importing any of it."""
    top = module.split(".", 1)[0]
    spec = importlib.util.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        raise ContractError(f"package {top} is not installed (or is not a package)")
    sources: dict[str, str] = {}
    for location in spec.submodule_search_locations:
        root = Path(location)
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join((top, *parts[:-1])) if parts[-1] == "__init__" else ".".join((top, *parts))
            sources[name] = path.read_text(encoding="utf-8")
    return sources


def installed_contracts() -> list[ServiceContract]:
    """Every installed service's contract, by its ``lingxi.asyncapi`` entry point."""
    found = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
    if not found:
        raise ContractError(
            f"no service declares an entry point in group {ENTRY_POINT_GROUP!r}: are the services installed "
            "(make install)?"
        )
    return [contract_from_sources(e.name, e.module, package_sources(e.module)) for e in found]


def platform_version() -> str:
    try:
        return version("lingxi")
    except PackageNotFoundError:
        return "0.0.0"


def generate() -> str:
    """The document, rendered, from the installed services."""
    return render(build_document(installed_contracts(), version=platform_version()))


def asyncapi(
    output: Annotated[
        list[Path] | None,
        typer.Option(
            "--output", "-o", help="Write the document to this file (repeatable); without it, print it."
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Write nothing; exit 1 with a summary of what differs when a file (default: the committed "
            f"copies, {' and '.join(map(str, COMMITTED))}) is not what the code generates.",
        ),
    ] = False,
) -> None:
    """Generate the AsyncAPI document of every stream, event and service (docs/asyncapi.md)."""
    try:
        document = generate()
    except ContractError as error:
        fail(str(error))
    if check:
        stale = []
        for path in output or COMMITTED:
            committed = path.read_text(encoding="utf-8") if path.is_file() else ""
            if committed == document:
                typer.echo(f"{path}: up to date")
                continue
            stale.append(path)
            typer.echo(f"{path}: differs from what the code generates", err=True)
            for line in difference_summary(committed, document) if committed else ["(missing)"]:
                typer.echo(f"  {line}", err=True)
        if stale:
            fail(f"run `{regenerate(stale)}` and commit the result")
        return
    if not output:
        typer.echo(document, nl=False)
        return
    for path in output:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(document, encoding="utf-8")
        typer.echo(f"wrote {path}")
