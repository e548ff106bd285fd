"""The AsyncAPI generator (``lingxi.asyncapi``) and ``lingxi asyncapi``, on contracts made here.

The committed document, the real services and the independent validator: tests/integration/test_asyncapi.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from lingxi.asyncapi import (
    ContractError,
    ServiceContract,
    build_document,
    contract_from_sources,
    difference_summary,
    events_constructed,
    render,
)
from lingxi.cli import asyncapi as command
from lingxi.cli.main import app
from lingxi.events import (
    EVENT_TYPES,
    AnswerBlocked,
    AnswerDrafted,
    AnswerReleased,
    AuditRecorded,
    ErasureCompleted,
    ErasureRequested,
    QueryReceived,
)
from typer.testing import CliRunner

WIRING = '''"""Example service wiring: queries in, drafts out.

More detail that is not the summary.
"""
from lingxi.events.assistant import AnswerDrafted, AnswerReleased, QueryReceived
from lingxi.runtime import Service

service = Service("example")
PUBLISHES = (AnswerDrafted,)
RESULTS: list[tuple[type, str]] = [(AnswerReleased, "released")]


@service.consumer(QueryReceived, batch=True)
async def on_query(query, ctx):
    await ctx.publish(AnswerDrafted(region=query.region))


for result_type, status in RESULTS:
    service.consumer(result_type, batch=True)(print)
'''

ERASURE = """from lingxi.events.user import ErasureRequested as Asked


def register(service):
    @service.consumer(Asked)
    async def erase(request, ctx):
        pass
"""

NESTED = """from lingxi.events import AnswerBlocked

KINDS = ["a", "b"]
BLOCKED = (AnswerBlocked,)


def register(service):
    for kind in KINDS:
        for cls in BLOCKED:
            service.consumer(cls)(print)
"""

CONTRACTS = [
    ServiceContract("front", (AnswerReleased, ErasureCompleted), (QueryReceived, ErasureRequested), "Front."),
    ServiceContract("brain", (QueryReceived, ErasureRequested), (AnswerDrafted, ErasureCompleted)),
]


def contract(**sources: str) -> ServiceContract:
    return contract_from_sources("example", "pkg.app", {"pkg.app": WIRING, **sources})


def test_a_contract_is_read_from_source_without_running_it() -> None:
    example = contract(**{"pkg.erasure": ERASURE, "pkg.nested": NESTED, "pkg.data": "CITIES = []\n"})

    assert example.name == "example"
    # The decorator, loops over module-level lists, and consumers registered in other modules.
    assert set(example.consumes) == {QueryReceived, AnswerReleased, ErasureRequested, AnswerBlocked}
    assert example.publishes == (AnswerDrafted,)
    assert example.summary == "Example service wiring: queries in, drafts out."


@pytest.mark.parametrize(
    ("source", "complaint"),
    [
        (
            WIRING.replace("(QueryReceived, batch", "(pick(), batch"),
            "pkg.app:13: cannot tell which event type",
        ),
        (WIRING.replace("PUBLISHES = (AnswerDrafted,)", ""), "no module-level PUBLISHES"),
        (WIRING.replace("PUBLISHES = (AnswerDrafted,)", "PUBLISHES = tuple(x)"), "no module-level PUBLISHES"),
        (WIRING.replace("PUBLISHES = (AnswerDrafted,)", "PUBLISHES = (Service,)"), "Service is not an event"),
        (WIRING.replace('Service("example")', 'Service("other")'), "expected one Service('example')"),
        (WIRING.replace('(AnswerReleased, "released")', '(make(), "released")'), "cannot tell which event"),
    ],
)
def test_a_contract_that_cannot_be_read_is_an_error_never_a_gap(source: str, complaint: str) -> None:
    with pytest.raises(ContractError, match=re.escape(complaint)):
        contract(**{"pkg.app": source})


def test_events_constructed_names_the_module() -> None:
    sources = {
        "pkg.app": WIRING,
        "pkg.tool": "from lingxi.events import AuditRecorded\nAuditRecorded.model_validate_json(x)\n",
    }

    assert events_constructed(sources) == {("pkg.app", AnswerDrafted), ("pkg.tool", AuditRecorded)}


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


def pointer(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_the_document_has_every_stream_its_dead_letters_and_each_service_operations() -> None:
    document = build_document(CONTRACTS, version="1.2.3")

    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["version"] == "1.2.3"
    addresses = {channel["address"] for channel in document["channels"].values()}
    consumed = {cls.stream for c in CONTRACTS for cls in c.consumes}
    assert addresses == set(EVENT_TYPES) | {f"{stream}.dlq" for stream in consumed}
    operations = document["operations"]
    receive = operations["brain.receive.QueryReceived"]
    assert receive["action"] == "receive"
    assert receive["x-lingxi-consumer-group"] == "brain"
    assert pointer(document, receive["channel"]["$ref"])["address"] == QueryReceived.stream
    assert operations["front.send.QueryReceived"]["action"] == "send"
    dead = pointer(document, operations["brain.deadLetter.QueryReceived"]["channel"]["$ref"])
    assert dead["address"] == f"{QueryReceived.stream}.dlq"
    assert len(operations) == sum(2 * len(c.consumes) + len(c.publishes) for c in CONTRACTS)
    # AuditRecorded: a channel and a message even though no service here sends or receives it.
    message = pointer(
        document, document["channels"][AuditRecorded.stream]["messages"]["AuditRecorded"]["$ref"]
    )
    assert pointer(document, message["payload"]["$ref"])["title"] == "AuditRecorded"
    assert "Sent by no Lingxi service" in document["channels"][AuditRecorded.stream]["description"]
    for ref in refs(document):
        pointer(document, ref)  # every reference resolves


def test_the_envelope_and_correlation_id_are_described() -> None:
    document = build_document(CONTRACTS, version="1")
    components = document["components"]

    message = components["messages"]["QueryReceived"]
    headers = pointer(document, message["headers"]["$ref"])
    assert "correlation_id" in headers["properties"]
    assert (
        pointer(document, message["correlationId"]["$ref"])["location"] == "$message.header#/correlation_id"
    )
    description = document["info"]["description"]
    assert all(word in description for word in ("__data__", '"data"', '"headers"', "correlation_id", ".dlq"))
    entry = pointer(document, components["messages"]["DeadLetter"]["payload"]["$ref"])
    assert {"__data__", "dlq.reason", "dlq.service"} <= set(entry["properties"])
    # Field descriptions and examples come from the models.
    text = components["schemas"]["QueryReceived"]["properties"]["text"]
    assert text["description"]
    assert text["examples"]


def test_rendering_is_stable() -> None:
    first = render(build_document(CONTRACTS, version="1"))

    assert first == render(build_document(list(reversed(CONTRACTS)), version="1"))
    assert first.endswith("}\n")
    assert json.loads(first)["components"]["tags"]["front"]["description"] == "Front."


def test_a_contract_outside_the_registry_is_refused() -> None:
    class Stray(QueryReceived):
        stream = "stray.thing.happened"

    with pytest.raises(ContractError, match="Stray"):
        build_document([ServiceContract("x", (Stray,), ())], version="1")


def test_the_difference_summary_names_what_changed() -> None:
    old = build_document(CONTRACTS, version="1")
    new = build_document(CONTRACTS[:1], version="2")

    lines = difference_summary(render(old), render(new))

    assert "operation removed: brain.receive.QueryReceived" in lines
    assert f"channel removed: {QueryReceived.stream}.dlq" in lines
    assert "info changed" in lines
    assert any(line.startswith("--- committed") for line in lines)
    assert difference_summary("{", render(new))[0].startswith("the committed file is not JSON")


@pytest.fixture
def made_up_services(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(command, "installed_contracts", lambda: CONTRACTS)


def test_the_command_writes_prints_and_checks(made_up_services: None, tmp_path: Path) -> None:
    runner = CliRunner()
    expected = render(build_document(CONTRACTS, version=command.platform_version()))
    first, second = tmp_path / "docs" / "asyncapi.json", tmp_path / "copy.json"

    printed = runner.invoke(app, ["asyncapi"])
    written = runner.invoke(app, ["asyncapi", "--output", str(first), "-o", str(second)])
    checked = runner.invoke(app, ["asyncapi", "--check", "--output", str(first), "--output", str(second)])

    assert printed.exit_code == 0
    assert printed.stdout == expected
    assert written.exit_code == 0, written.output
    assert first.read_text(encoding="utf-8") == second.read_text(encoding="utf-8") == expected
    assert checked.exit_code == 0, checked.output

    second.write_text(expected.replace('"receive"', '"send"', 1), encoding="utf-8")
    stale = runner.invoke(app, ["asyncapi", "--check", "-o", str(first), "-o", str(second)])

    assert stale.exit_code == 1
    assert "operation changed:" in stale.stderr
    assert f"run `lingxi asyncapi --output {second}`" in stale.stderr
    assert first.read_text(encoding="utf-8") == expected  # --check writes nothing


def test_without_services_the_command_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(command, "entry_points", lambda group: [])

    result = CliRunner().invoke(app, ["asyncapi"])

    assert result.exit_code == 1
    assert "no service declares an entry point in group 'lingxi.asyncapi'" in result.stderr
