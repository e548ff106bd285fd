"""The platform's AsyncAPI document: every stream, every event's schema, what each service sends and receives.

Pure functions, no I/O: ``build_document`` turns the event registry and the services' contracts into the
document; ``contract_from_sources`` reads a service's contract from its source text without running it
(importing a service loads its models: seconds to tens of seconds); ``render`` gives the committed bytes.
``lingxi asyncapi`` (``lingxi.cli.asyncapi``) finds the services and writes or checks the file.

A service's contract, read from its package's source:

- what it receives: every ``<service>.consumer(EventType, ...)`` call in the package, the event class
  named directly or through a ``for`` loop over a module-level list of classes (the gateway's results);
  a call whose event type cannot be read this way is an error, never left out;
- what it sends: the ``PUBLISHES`` tuple beside its consumers in the module its entry point names
  (``events_constructed`` lets a test check the declaration against the events its code builds);
- its name: the ``Service("name")`` in that module, which must match the entry point's name.
"""

from __future__ import annotations

import ast
import difflib
import inspect
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic.json_schema import models_json_schema

from lingxi.events.base import Event
from lingxi.events.registry import EVENT_TYPES, dead_letter_stream
from lingxi.runtime.envelope import DATA_FIELD

__all__ = [
    "ASYNCAPI_VERSION",
    "PUBLISHES",
    "ContractError",
    "ServiceContract",
    "build_document",
    "contract_from_sources",
    "difference_summary",
    "events_constructed",
    "render",
]

ASYNCAPI_VERSION = "3.0.0"
PUBLISHES = "PUBLISHES"
"""Name of the module-level tuple, in a service's wiring module, of the event types it publishes."""

_SCHEMAS = "#/components/schemas/"
_HEADERS = "EnvelopeHeaders"
_DEAD_LETTER = "DeadLetter"
_DEAD_LETTER_ENTRY = "DeadLetterEntry"
_CORRELATION = "correlationId"


class ContractError(ValueError):
    """A service's contract cannot be read from its source (says where and why)."""


@dataclass(frozen=True)
class ServiceContract:
    """What one service receives (its consumers; consumer group = ``name``) and sends."""

    name: str
    consumes: tuple[type[Event], ...]
    publishes: tuple[type[Event], ...]
    summary: str = ""
    """One line on what the service does (the first line of its wiring module's docstring)."""
    module: str = ""
    """The module the contract was read from (its wiring module), when read from source."""


# --- the document ---------------------------------------------------------------------------------


def build_document(
    services: Sequence[ServiceContract],
    *,
    version: str,
    events: Mapping[str, type[Event]] = EVENT_TYPES,
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the platform: one channel per stream (address = stream name), one
    for each consumed stream's ``<stream>.dlq``, one message per event with its JSON schema, and per
    service a receive operation per consumer, a send operation per published event and a send to the
    dead-letter stream of each stream it consumes."""
    streams = {cls: stream for stream, cls in events.items()}
    names = sorted(services, key=lambda s: s.name)
    for service in names:
        unknown = [cls.__qualname__ for cls in (*service.consumes, *service.publishes) if cls not in streams]
        if unknown:
            raise ContractError(f"{service.name}: not in the event registry: {', '.join(unknown)}")
    if len({s.name for s in names}) != len(names):
        raise ContractError("two contracts name the same service")

    senders: dict[str, list[str]] = {stream: [] for stream in events}
    receivers: dict[str, list[str]] = {stream: [] for stream in events}
    for service in names:
        for cls in service.publishes:
            senders[streams[cls]].append(service.name)
        for cls in service.consumes:
            receivers[streams[cls]].append(service.name)

    _, definitions = models_json_schema(
        [(cls, "validation") for cls in events.values()], ref_template=_SCHEMAS + "{model}"
    )
    schemas: dict[str, Any] = {**definitions.get("$defs", {})}
    schemas[_HEADERS] = _headers_schema()
    schemas[_DEAD_LETTER_ENTRY] = _dead_letter_schema()

    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {_DEAD_LETTER: _dead_letter_message()}
    for stream, cls in events.items():
        name = cls.__name__
        summary, description = _doc(cls)
        channels[stream] = {
            "address": stream,
            "title": name,
            "summary": summary,
            "description": f"{description}\n\n{_who(senders[stream], receivers[stream])}".strip(),
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
        messages[name] = {
            "name": name,
            "title": name,
            "summary": summary,
            **({"description": description} if description else {}),
            "contentType": "application/json",
            "payload": {"$ref": _SCHEMAS + name},
            "headers": {"$ref": _SCHEMAS + _HEADERS},
            "correlationId": {"$ref": f"#/components/correlationIds/{_CORRELATION}"},
        }
        if receivers[stream]:
            dlq = dead_letter_stream(stream)
            channels[dlq] = {
                "address": dlq,
                "title": f"{name} dead letters",
                "summary": f"Entries of {stream} that could not be handled, with the reason.",
                "description": f"Written by {_list(receivers[stream])}; `lingxi dlq` lists and replays them.",
                "messages": {_DEAD_LETTER: {"$ref": f"#/components/messages/{_DEAD_LETTER}"}},
            }

    operations: dict[str, Any] = {}
    for service in names:
        tags = [{"$ref": f"#/components/tags/{service.name}"}]
        for cls in service.consumes:
            stream, name = streams[cls], cls.__name__
            operations[f"{service.name}.receive.{name}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{stream}"},
                "messages": [{"$ref": f"#/channels/{stream}/messages/{name}"}],
                "title": f"{service.name} receives {name}",
                "summary": f"Consumer group `{service.name}` on {stream}.",
                "description": (
                    f"Read with `XREADGROUP` in group `{service.name}`, one consumer per replica "
                    "(`LINGXI_REPLICA`); entries a replica left pending are reclaimed by another. An entry "
                    "that does not validate, or keeps failing, goes to "
                    f"{dead_letter_stream(stream)}."
                ),
                "tags": tags,
                "x-lingxi-consumer-group": service.name,
            }
            operations[f"{service.name}.deadLetter.{name}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{dead_letter_stream(stream)}"},
                "messages": [{"$ref": f"#/channels/{dead_letter_stream(stream)}/messages/{_DEAD_LETTER}"}],
                "title": f"{service.name} dead-letters {name}",
                "summary": f"Entries of {stream} that {service.name} cannot handle.",
                "tags": tags,
            }
        for cls in service.publishes:
            stream, name = streams[cls], cls.__name__
            operations[f"{service.name}.send.{name}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{stream}"},
                "messages": [{"$ref": f"#/channels/{stream}/messages/{name}"}],
                "title": f"{service.name} sends {name}",
                "summary": f"`XADD` to {stream}.",
                "tags": tags,
            }

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:lingxi:platform:events",
        "info": {
            "title": "Lingxi platform events",
            "version": version,
            "description": _DESCRIPTION,
            "tags": [{"$ref": f"#/components/tags/{s.name}"} for s in names],
        },
        "defaultContentType": "application/json",
        "servers": {
            "redis": {
                "host": "localhost:6379",
                "protocol": "redis",
                "title": "Redis",
                "description": "The Redis every service connects to (`LINGXI_REDIS_URL`): the streams, "
                "their consumer groups and their dead-letter streams.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": schemas,
            "messages": messages,
            "correlationIds": {
                _CORRELATION: {
                    "description": "The flow's correlation id (a request's id for a request), carried by "
                    "every event the flow causes; an entry without one is correlated by its `event_id`.",
                    "location": "$message.header#/correlation_id",
                }
            },
            "tags": {
                s.name: {"name": s.name, "description": s.summary or f"The {s.name} service."} for s in names
            },
        },
    }


def render(document: Mapping[str, Any]) -> str:
    """The document as committed: sorted keys, two-space indents, UTF-8 text, a final newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def difference_summary(committed: str, generated: str, *, max_lines: int = 40) -> list[str]:
    """What differs between two renderings: entries added, removed or changed per section, then the
    start of a unified diff."""
    try:
        old, new = json.loads(committed), json.loads(generated)
    except json.JSONDecodeError as error:
        return [f"the committed file is not JSON: {error}"]
    lines: list[str] = []
    sections = [
        ("channel", ("channels",)),
        ("operation", ("operations",)),
        ("message", ("components", "messages")),
        ("schema", ("components", "schemas")),
    ]
    for label, path in sections:
        before, after = _at(old, path), _at(new, path)
        for key in sorted(after.keys() - before.keys()):
            lines.append(f"{label} added: {key}")
        for key in sorted(before.keys() - after.keys()):
            lines.append(f"{label} removed: {key}")
        for key in sorted(k for k in before.keys() & after.keys() if before[k] != after[k]):
            lines.append(f"{label} changed: {key}")
    for key in sorted({*old, *new} - {"channels", "operations", "components"}):
        if old.get(key) != new.get(key):
            lines.append(f"{key} changed")
    diff = list(
        difflib.unified_diff(
            committed.splitlines(), generated.splitlines(), "committed", "generated", lineterm="", n=1
        )
    )
    if diff:
        lines += diff[:max_lines] + (
            [f"... ({len(diff) - max_lines} more diff lines)"] if len(diff) > max_lines else []
        )
    return lines


def _at(document: Any, path: tuple[str, ...]) -> dict[str, Any]:
    for key in path:
        document = document.get(key, {}) if isinstance(document, dict) else {}
    return document if isinstance(document, dict) else {}


def _doc(cls: type) -> tuple[str, str]:
    """(first line, the rest) of a class's docstring, its lines re-joined into paragraphs."""
    text = inspect.cleandoc(cls.__doc__ or "")
    paragraphs = [" ".join(p.split()) for p in text.split("\n\n") if p.strip()]
    if not paragraphs:
        return cls.__name__, ""
    return paragraphs[0], "\n\n".join(paragraphs[1:])


def _list(names: Iterable[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def _who(senders: list[str], receivers: list[str]) -> str:
    sent = f"Sent by {_list(senders)}." if senders else "Sent by no Lingxi service."
    received = (
        f"Received by {_list(receivers)} (consumer group = service name)."
        if receivers
        else "Received by no Lingxi service."
    )
    return f"{sent} {received}"


def _headers_schema() -> dict[str, Any]:
    return {
        "title": "Envelope headers",
        "description": "The `headers` object of a stream entry's envelope.",
        "type": "object",
        "properties": {
            "correlation_id": {
                "type": "string",
                "minLength": 1,
                "description": "Correlation id of the flow (a request's id for a request); the runtime "
                "copies it to every event a handler publishes for this one.",
                "examples": ["7f3c2a90-6a1e-4c3b-9a8e-2d4f5b6c7d8e"],
            },
            "content-type": {
                "type": "string",
                "const": "application/json",
                "description": "Media type of `data`.",
            },
        },
        "additionalProperties": True,
    }


def _dead_letter_schema() -> dict[str, Any]:
    def text(description: str) -> dict[str, Any]:
        return {"type": "string", "description": description}

    return {
        "title": "Dead-letter entry",
        "description": "The fields of an entry of a `<stream>.dlq` stream: the original entry's fields, "
        "unchanged (so a replay re-adds exactly what was published), plus the `dlq.*` fields.",
        "type": "object",
        "properties": {
            DATA_FIELD: text("The original entry's envelope, as published (absent for a bare entry)."),
            "dlq.reason": {
                **text("Why it was dead-lettered."),
                "examples": ["invalid_event", "undecodable_entry", "handler_failed", "reading_refused"],
            },
            "dlq.error": text(
                "The validation errors, the exception or the handler's detail (at most 2000 chars)."
            ),
            "dlq.attempts": {**text("Deliveries before it was dead-lettered."), "pattern": "^[0-9]+$"},
            "dlq.original_id": text("Its entry id in the original stream."),
            "dlq.stream": text("The original stream."),
            "dlq.service": text("The service (consumer group) that dead-lettered it."),
            "dlq.replica": text("The replica that dead-lettered it."),
            "dlq.failed_at": {**text("When (UTC, ISO 8601)."), "format": "date-time"},
        },
        "required": [
            "dlq.reason",
            "dlq.error",
            "dlq.attempts",
            "dlq.original_id",
            "dlq.stream",
            "dlq.service",
            "dlq.replica",
            "dlq.failed_at",
        ],
        "additionalProperties": {"type": "string"},
    }


def _dead_letter_message() -> dict[str, Any]:
    return {
        "name": _DEAD_LETTER,
        "title": "Dead letter",
        "summary": "An entry a service could not handle, with its original fields and the reason.",
        "description": "A flat map of entry fields rather than an envelope: inspect and replay with "
        "`lingxi dlq`.",
        "payload": {"$ref": _SCHEMAS + _DEAD_LETTER_ENTRY},
    }


_DESCRIPTION = f"""\
Every event of the Lingxi platform, the Redis stream it travels on and what each service sends and receives.
Generated by `lingxi asyncapi` from the event registry (`lingxi.events`) and each service's consumers and
`PUBLISHES` declaration: do not edit by hand (docs/asyncapi.md).

## Streams and stream entries

Each event type has one stream, named after it (`<domain>.<noun>.<past-tense verb>`): a channel's address.
An entry holds one field, `{DATA_FIELD}`, whose value is a JSON envelope:

    {{"data": "<event JSON>", "headers": {{"correlation_id": "<id>", "content-type": "application/json"}}}}

`data` is a string holding the event's JSON (the message payload below); `headers` are the message
headers. A partner may instead `XADD` an event's fields as plain entry fields, without the envelope: such an
entry has no headers, and its `event_id` serves as its correlation id.

## Correlation and causation

`headers.correlation_id` identifies a flow (a request's id for a request) and is carried by every event a
handler publishes for the event it handles; `causation_id` in the payload is the `event_id` of the event that
caused this one. Consumers deduplicate on `event_id`.

## Consumer groups and delivery

A receiving service reads the stream in its own consumer group, named after the service, one consumer per
replica; a handler's outputs are appended and its input acknowledged in one step, once per `event_id`.

## Dead letters

An entry that cannot be decoded or does not validate, one its handler refuses, and one whose handler keeps
failing go to `<stream>.dlq` with their original fields and the reason (`dlq.*` fields): the channels whose
address ends in `.dlq`.
"""


# --- contracts from source -----------------------------------------------------------------------


def contract_from_sources(
    name: str,
    module: str,
    sources: Mapping[str, str],
    events: Mapping[str, type[Event]] = EVENT_TYPES,
) -> ServiceContract:
    """Service ``name``'s contract from the source of its package (module name -> source text);
    ``module`` is the wiring module, the one holding ``Service(name)`` and ``PUBLISHES``."""
    if module not in sources:
        raise ContractError(f"{name}: module {module} not among the package's sources")
    by_name = _event_classes(events)
    # Only modules that mention "consumer" can subscribe (parsing every module costs seconds).
    trees = {
        m: ast.parse(text, filename=m)
        for m, text in sorted(sources.items())
        if m == module or "consumer" in text
    }
    wiring = trees[module]

    declared = _service_names(wiring)
    if declared != [name]:
        found = ", ".join(repr(n) for n in declared) or "none"
        raise ContractError(f"{module}: expected one Service({name!r}), found {found}")

    consumes: list[type[Event]] = []
    for module_name, tree in trees.items():
        imported = _imported_events(tree, by_name)
        for call in _consumer_calls(tree):
            for cls in _consumed(call, tree, imported, by_name, module_name):
                if cls not in consumes:
                    consumes.append(cls)

    publishes = _published(wiring, _imported_events(wiring, by_name), by_name, module)
    summary = (ast.get_docstring(wiring) or "").strip().split("\n\n")[0]
    return ServiceContract(name, tuple(consumes), publishes, " ".join(summary.split()), module)


def events_constructed(
    sources: Mapping[str, str], events: Mapping[str, type[Event]] = EVENT_TYPES
) -> set[tuple[str, type[Event]]]:
    """(module, event class) for each event class a module builds: ``Cls(...)``, ``Cls.model_validate``,
    ``Cls.model_validate_json``, ``Cls.model_construct``. What a service can publish is among these."""
    by_name = _event_classes(events)
    found: set[tuple[str, type[Event]]] = set()
    builders = {"model_validate", "model_validate_json", "model_construct"}
    for module, text in sources.items():
        if not any(name in text for name in by_name):
            continue
        tree = ast.parse(text, filename=module)
        imported = _imported_events(tree, by_name)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            target = node.func
            if isinstance(target, ast.Attribute) and target.attr in builders:
                target = target.value
            cls = _resolve(target, imported, by_name)
            if cls is not None:
                found.add((module, cls))
    return found


def _event_classes(events: Mapping[str, type[Event]]) -> dict[str, type[Event]]:
    by_name: dict[str, type[Event]] = {}
    for cls in events.values():
        if by_name.setdefault(cls.__name__, cls) is not cls:
            raise ContractError(f"two event classes are named {cls.__name__}")
    return by_name


def _imported_events(tree: ast.Module, by_name: Mapping[str, type[Event]]) -> dict[str, type[Event]]:
    """Local name -> event class, for the classes a module imports from ``lingxi.events``."""
    imported: dict[str, type[Event]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lingxi.events"):
            for alias in node.names:
                if alias.name in by_name:
                    imported[alias.asname or alias.name] = by_name[alias.name]
    return imported


def _resolve(
    node: ast.expr, imported: Mapping[str, type[Event]], by_name: Mapping[str, type[Event]]
) -> type[Event] | None:
    """The event class an expression names: an imported class, or ``<module>.<EventClass>``."""
    if isinstance(node, ast.Name):
        return imported.get(node.id)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name | ast.Attribute):
        return by_name.get(node.attr)
    return None


def _service_names(tree: ast.Module) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "Service"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.append(node.args[0].value)
    return names


def _consumer_calls(tree: ast.Module) -> list[ast.Call]:
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "consumer"
    ]
    return sorted(calls, key=lambda c: (c.lineno, c.col_offset))


def _consumed(
    call: ast.Call,
    tree: ast.Module,
    imported: Mapping[str, type[Event]],
    by_name: Mapping[str, type[Event]],
    module: str,
) -> list[type[Event]]:
    where = f"{module}:{call.lineno}"
    argument = (
        call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "event_type"), None)
    )
    if argument is None:
        raise ContractError(f"{where}: a consumer(...) call without an event type")
    cls = _resolve(argument, imported, by_name)
    if cls is not None:
        return [cls]
    if isinstance(argument, ast.Name):
        looped = _loop_values(argument.id, call, tree, imported, by_name)
        if looped:
            return looped
    raise ContractError(
        f"{where}: cannot tell which event type `{ast.unparse(call.func)}({ast.unparse(argument)}, ...)` "
        "consumes: name the event class imported from lingxi.events, or loop over a module-level list "
        "(or tuple) that names the classes"
    )


def _loop_values(
    variable: str,
    call: ast.Call,
    tree: ast.Module,
    imported: Mapping[str, type[Event]],
    by_name: Mapping[str, type[Event]],
) -> list[type[Event]]:
    """The classes ``variable`` takes in the ``for`` loop around ``call``, when the loop runs over a
    module-level list or tuple literal (of classes, or of tuples whose item at the variable's place is
    a class); empty when it is not such a loop."""
    loops = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.For)
        and any(isinstance(t, ast.Name) and t.id == variable for t in ast.walk(node.target))
        and any(inner is call for inner in ast.walk(node))
    ]
    loop = loops[-1] if loops else None  # the innermost loop that binds the variable
    if loop is None or not isinstance(loop.iter, ast.Name):
        return []
    if isinstance(loop.target, ast.Name) and loop.target.id == variable:
        place: int | None = None
    elif isinstance(loop.target, ast.Tuple):
        names = [t.id if isinstance(t, ast.Name) else None for t in loop.target.elts]
        if variable not in names:
            return []
        place = names.index(variable)
    else:
        return []
    items = _module_literal(tree, loop.iter.id)
    classes = []
    for item in items:
        if place is not None:
            if not isinstance(item, ast.Tuple | ast.List) or len(item.elts) <= place:
                return []
            item = item.elts[place]
        cls = _resolve(item, imported, by_name)
        if cls is None:
            return []
        classes.append(cls)
    return classes


def _module_literal(tree: ast.Module, name: str) -> list[ast.expr]:
    for node in tree.body:
        if (
            isinstance(node, ast.Assign | ast.AnnAssign)
            and any(_named(t, name) for t in _targets(node))
            and isinstance(node.value, ast.List | ast.Tuple)
        ):
            return list(node.value.elts)
    return []


def _published(
    tree: ast.Module,
    imported: Mapping[str, type[Event]],
    by_name: Mapping[str, type[Event]],
    module: str,
) -> tuple[type[Event], ...]:
    value: ast.expr | None = None
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and any(_named(t, PUBLISHES) for t in _targets(node)):
            value = node.value
    if not isinstance(value, ast.Tuple | ast.List):
        raise ContractError(
            f"{module}: no module-level {PUBLISHES} = (EventType, ...) literal declaring what the service "
            "publishes"
        )
    classes = []
    for item in value.elts:
        cls = _resolve(item, imported, by_name)
        if cls is None:
            raise ContractError(
                f"{module}:{item.lineno}: {PUBLISHES} item {ast.unparse(item)} is not an event class "
                "imported from lingxi.events"
            )
        classes.append(cls)
    return tuple(classes)


def _targets(node: ast.Assign | ast.AnnAssign) -> list[ast.expr]:
    return node.targets if isinstance(node, ast.Assign) else [node.target]


def _named(target: ast.expr, name: str) -> bool:
    return isinstance(target, ast.Name) and target.id == name
