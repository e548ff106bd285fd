"""The committed AsyncAPI document (docs/asyncapi.md): what the code generates, complete, and valid for an
independent validator, the official AsyncAPI parser (tools/asyncapi, run with Node)."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from lingxi.asyncapi import ServiceContract, difference_summary, events_constructed
from lingxi.cli.asyncapi import (
    DEFAULT_PATH,
    ENTRY_POINT_GROUP,
    GATEWAY_COPY,
    generate,
    installed_contracts,
    package_sources,
    regenerate,
)
from lingxi.cli.up import SERVICES
from lingxi.events import EVENT_TYPES

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / DEFAULT_PATH
VALIDATOR = ROOT / "tools" / "asyncapi"
INSTALL_VALIDATOR = "cd tools/asyncapi && npm ci"

NOT_SENT_BY_THE_SERVICE = {
    ("compliance", "lingxi_compliance.features_cli", "FeatureChangeRequested"): (
        "`lingxi features ...`: an operator's request, sent by the command, not by the service"
    ),
    ("compliance", "lingxi_compliance.registry", "FeatureChangeRequested"): (
        "the approvals seed: applied in the service, never published"
    ),
    ("maintenance", "lingxi_maintenance.publish", "TelemetryBatchReceived"): (
        "`lingxi simulate telemetry --publish`: an operator's tool, not the service"
    ),
    ("personalization", "lingxi_personalization.cli", "PurchaseRecorded"): (
        "`lingxi evaluate personalization` reads simulated purchases from a file"
    ),
}
"""Events a service's package builds but the running service never sends, with the reason."""


@pytest.fixture(scope="module")
def contracts() -> list[ServiceContract]:
    return installed_contracts()


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    return loaded


def test_the_committed_document_is_what_the_code_generates() -> None:
    committed, generated = DOCUMENT.read_text(encoding="utf-8"), generate()

    if committed != generated:
        summary = "\n".join(difference_summary(committed, generated))
        pytest.fail(
            f"{DEFAULT_PATH} is not what the code generates: run "
            f"`{regenerate([DEFAULT_PATH, GATEWAY_COPY])}` and commit the result.\n{summary}"
        )


def test_the_gateway_ships_the_committed_document() -> None:
    if (ROOT / GATEWAY_COPY).read_bytes() != DOCUMENT.read_bytes():
        pytest.fail(f"{GATEWAY_COPY} differs from {DEFAULT_PATH}: run `{regenerate([GATEWAY_COPY])}`")


def test_every_service_is_in_the_document(contracts: list[ServiceContract]) -> None:
    missing = sorted(set(SERVICES) - {c.name for c in contracts})

    assert not missing, (
        f'no {ENTRY_POINT_GROUP!r} entry point for {", ".join(missing)}: add `<name> = "lingxi_<name>.app"` '
        f'under [project.entry-points."{ENTRY_POINT_GROUP}"] in its pyproject.toml, then re-sync the '
        "environment (make install)"
    )


def test_every_stream_is_a_channel_and_every_consumer_a_receive_operation(
    document: dict[str, Any], contracts: list[ServiceContract]
) -> None:
    channels = {channel["address"]: channel_id for channel_id, channel in document["channels"].items()}
    assert set(EVENT_TYPES) <= set(channels)
    operations = {
        (op["action"], op["channel"]["$ref"].removeprefix("#/channels/"), key.split(".", 1)[0]): op
        for key, op in document["operations"].items()
    }
    for contract in contracts:
        assert contract.consumes, f"{contract.name} consumes nothing?"
        for cls in contract.consumes:
            receive = operations[("receive", channels[cls.stream], contract.name)]
            assert receive["x-lingxi-consumer-group"] == contract.name
            assert ("send", channels[f"{cls.stream}.dlq"], contract.name) in operations
        for cls in contract.publishes:
            assert ("send", channels[cls.stream], contract.name) in operations


def test_what_a_service_builds_it_declares_in_publishes(contracts: list[ServiceContract]) -> None:
    """Every event class a service's package builds is in its PUBLISHES (or named above with the reason it
    is never sent by the service); every class in PUBLISHES is built somewhere in the package."""
    problems: list[str] = []
    excused: set[tuple[str, str, str]] = set()
    for contract in contracts:
        built = events_constructed(package_sources(contract.module))
        for module, cls in sorted(built, key=lambda b: (b[0], b[1].__name__)):
            key = (contract.name, module, cls.__name__)
            if key in NOT_SENT_BY_THE_SERVICE:
                excused.add(key)
            elif cls not in contract.publishes:
                problems.append(
                    f"{module} builds {cls.__name__}, which is not in {contract.name}'s PUBLISHES: add it "
                    "there if the service sends it, else to NOT_SENT_BY_THE_SERVICE here, with the reason"
                )
        for cls in contract.publishes:
            if cls not in {c for _, c in built}:
                problems.append(f"{contract.name}'s PUBLISHES names {cls.__name__}, which it never builds")
    problems += [
        f"NOT_SENT_BY_THE_SERVICE: {k} no longer applies" for k in NOT_SENT_BY_THE_SERVICE.keys() - excused
    ]

    assert not problems, "\n".join(problems)


# --- the independent validator ----------------------------------------------------------------


def validate(paths: list[Path]) -> list[dict[str, Any]]:
    """The official AsyncAPI parser's verdict on each file (tools/asyncapi/validate.mjs)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"node is not on PATH: the AsyncAPI validator needs Node 18+ and `{INSTALL_VALIDATOR}`")
    if not (VALIDATOR / "node_modules" / "@asyncapi" / "parser" / "package.json").is_file():
        pytest.fail(f"the AsyncAPI validator is not installed: run `{INSTALL_VALIDATOR}` (make install does)")
    # One process per file, side by side: the parser takes seconds per document.
    runs = [
        subprocess.Popen(
            [node, "validate.mjs", "--json", str(path)],
            cwd=VALIDATOR,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in paths
    ]
    reports: list[dict[str, Any]] = []
    for run in runs:
        out, err = run.communicate(timeout=120)
        assert run.returncode in (0, 1), f"the validator failed to run ({run.returncode}): {err}"
        reports += json.loads(out)
    return reports


def test_the_document_is_valid_asyncapi_and_a_broken_copy_is_not(
    document: dict[str, Any], tmp_path: Path
) -> None:
    broken = copy.deepcopy(document)
    receive = next(op for op in broken["operations"].values() if op["action"] == "receive")
    receive["action"] = "subscribe"  # AsyncAPI 2's word
    next(iter(broken["channels"].values()))["messages"] = {"Gone": {"$ref": "#/components/messages/Gone"}}
    (tmp_path / "broken.json").write_text(json.dumps(broken), encoding="utf-8")

    committed, copied = validate([DOCUMENT, tmp_path / "broken.json"])

    problems = [p for p in committed["problems"] if p["severity"] in ("error", "warning")]
    assert committed["valid"], problems
    assert committed["version"] == document["asyncapi"]
    assert not problems
    errors = [p for p in copied["problems"] if p["severity"] == "error"]
    assert not copied["valid"]
    assert any(p["path"].endswith("/action") for p in errors), errors
    assert any("Gone" in p["message"] for p in errors), errors


def test_the_validator_lockfile_names_no_address() -> None:
    lock_text = (VALIDATOR / "package-lock.json").read_text(encoding="utf-8")
    lock = json.loads(lock_text)
    manifest = json.loads((VALIDATOR / "package.json").read_text(encoding="utf-8"))

    assert "omit-lockfile-registry-resolved=true" in (VALIDATOR / ".npmrc").read_text(encoding="utf-8")
    assert "://" not in lock_text, "run `node strip-lock-urls.mjs` in tools/asyncapi after changing the lock"
    assert '"resolved"' not in lock_text
    assert lock["packages"][""]["dependencies"] == manifest["dependencies"]
