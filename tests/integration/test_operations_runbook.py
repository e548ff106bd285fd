"""Every command in docs/operations.md is checked against what it names, without running it.

The runbook's fenced ``bash`` blocks are read line by line (``\\`` continuations joined). Each command is
split at pipes, ``&&``, ``||`` and ``;``, and each part is checked by its program:

- ``lingxi`` / ``.venv/bin/lingxi``: the command path is resolved in the real CLI (plugin groups included,
  from their entry points) and its arguments are parsed by the command itself (``make_context``, not
  resilient), so an unknown option, a bad choice or a missing argument fails. Streams, event types,
  features and dead-letter ids must be real ones. Inside a container (``docker compose exec`` or
  ``kubectl exec``) a plugin command must come with that service's image.
- ``kubectl kustomize``, ``kubectl apply -k``, ``kubectl diff -k``: the path is an overlay under deploy/k8s.
  Other ``kubectl`` commands must be on ``ALLOWED`` (with the reason); the namespace, ``kind/name``
  references, label selectors, Secret names and keys, and Service ports they use must exist in the manifests.
- ``docker compose``: a known sub-command, known options, and services of docker-compose.yml;
  ``docker build``: the Dockerfile, a service folder, and an image name the overlays deploy.
- ``curl``: the path (and method, query parameters and their values) is a route of the gateway, read from
  its OpenAPI document and its routes. A ``/v1`` route needs ``-H "Authorization: Bearer $TOKEN"``; a token
  the runbook signed (``TOKEN=$(lingxi token issue ...)``, the one command substitution allowed, checked
  like any ``lingxi`` command with the key variables it exported) must be one the route takes (``CALLERS``):
  a device token for that device, user and region, or an admin token with the route's role.
- ``make``: the target exists and each ``VAR=`` is used by the Makefile.
- ``export``: only variables the runbook uses (``SAMPLES``, ``LINGXI_*``, the partners' key variables).
- ``kubectl create secret generic`` with a Redis user's key (a service, ``operator``): its value is that
  user's password variable (``LINGXI_REDIS_PASSWORD_<USER>``, the one ``lingxi redis acl`` hashes).

Variables (``$REQUEST_ID``) take the runbook's own ``export`` values, the samples in ``SAMPLES`` or, for
the Redis users' passwords (kept in ``.env``), ``redis_passwords()``; an unknown one is an error, as are
``<placeholders>`` (they are redirections in bash), any other command substitution and any other program.
``test_wrong_commands_are_refused`` shows each check failing on a deliberately wrong command.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import distribution, entry_points
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import parse_qsl, urlsplit

import pytest
import typer
import yaml

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "docs" / "operations.md"
K8S = ROOT / "deploy" / "k8s"
COMPOSE_FILE = ROOT / "docker-compose.yml"
MAKEFILE = ROOT / "Makefile"
DASHBOARD = ROOT / "deploy" / "grafana" / "lingxi-dashboard.json"
PROVIDERS = ROOT / "services" / "assistant" / "src" / "lingxi_assistant" / "partners" / "providers.yaml"
DEV_APPROVALS = ROOT / "services" / "compliance" / "src" / "lingxi_compliance" / "data" / "approvals.dev.yaml"

SECTIONS = (
    "Deploy",
    "Scale",
    "Read the lag",
    "Follow a request",
    "Drain the dead-letter queue",
    "Replay",
    "Rotate keys",
    "Approve a feature",
    "Answer an auditor",
    "Erasure requests",
)
SAMPLES = {
    "REQUEST_ID": "0e2b6c4a-6f5d-4d8e-8d0a-9b7c1a2e3f40",
    "DLQ_ID": "1732512000000-0",
    "USER_ID": "u-42",
}
"""Sample values of the ids the runbook leaves to the operator (``$NAME``)."""
NOT_COMMAND_FENCES = frozenset({"promql", "json", "yaml", "text"})
"""Fenced blocks that hold no commands; any other language but ``bash`` is refused."""

ALLOWED: dict[tuple[str, ...], str] = {
    ("kubectl", "get"): "read-only: lists objects (their kinds and names are checked)",
    ("kubectl", "describe"): "read-only: one object and its events (its name is checked)",
    ("kubectl", "logs"): "read-only: the pods' JSON lines for lingxi logs/trace (the selector is checked)",
    ("kubectl", "rollout", "restart"): "restarts the pods so that they read the Secret again",
    ("kubectl", "rollout", "status"): "waits for a rollout; changes nothing (the name is checked)",
    ("kubectl", "create", "namespace"): "the production namespace before its Secret (the name is checked)",
    ("kubectl", "create", "secret", "generic"): "the Redis Secret the overlays read (name and keys checked)",
    ("kubectl", "create", "secret", "tls"): "the Ingress certificate (its name is checked)",
    ("kubectl", "create", "configmap"): "the JWKS the gateways check tokens with (name and keys checked)",
    ("kubectl", "apply", "-f", "-"): "applies the Secret rendered by the create --dry-run before the pipe",
    ("kubectl", "exec"): "runs the image's own lingxi in a pod (the pod's command is checked)",
    ("kubectl", "port-forward"): "reaches the admin API, which is not on the Ingress (Service, port checked)",
    ("mkdir", "-p"): "the folder lingxi redis acl writes the ACL file into (it creates none)",
}
"""Programs checked only in part, each with why it may appear in the runbook."""

KIND_ALIASES = {
    "Deployment": {"deploy", "deployment", "deployments"},
    "Service": {"svc", "service", "services"},
    "StatefulSet": {"sts", "statefulset", "statefulsets"},
    "ScaledObject": {"so", "scaledobject", "scaledobjects"},
    "HorizontalPodAutoscaler": {"hpa", "horizontalpodautoscaler", "horizontalpodautoscalers"},
    "Ingress": {"ing", "ingress", "ingresses"},
    "PodDisruptionBudget": {"pdb", "poddisruptionbudget", "poddisruptionbudgets"},
}
KIND_OF = {alias: kind for kind, aliases in KIND_ALIASES.items() for alias in aliases}
LISTABLE = set(KIND_OF) | {"po", "pod", "pods", "events", "secret", "secrets", "cm", "configmaps", "pvc"}

COMPOSE_FLAGS: dict[str, tuple[set[str], set[str]]] = {
    # sub-command: (options without a value, options with one)
    "up": (
        {"-d", "--detach", "--build", "--no-build", "--wait", "--no-deps", "--force-recreate"},
        {"--scale"},
    ),
    "down": ({"-v", "--volumes", "--remove-orphans"}, set()),
    "ps": ({"-a", "--all", "-q", "--quiet"}, set()),
    "logs": (
        {"-f", "--follow", "--no-color", "--no-log-prefix", "-t", "--timestamps"},
        {"--since", "--tail"},
    ),
    "exec": ({"-T", "-d", "--detach"}, {"--index", "-e", "--env", "-u", "--user", "-w", "--workdir"}),
    "restart": (set(), {"-t", "--timeout"}),
    "stop": (set(), {"-t", "--timeout"}),
    "start": (set(), set()),
    "port": (set(), {"--index"}),
    "config": ({"-q", "--quiet", "--services"}, set()),
    "build": ({"--no-cache", "--pull"}, set()),
    "pull": (set(), set()),
}
CURL_FLAGS = {"-s", "-S", "-f", "-i", "-L", "-v", "--silent", "--show-error", "--fail", "--compressed"}
CURL_VALUED = {
    "-X", "--request", "-H", "--header", "-d", "--data", "--data-raw", "--data-binary", "-F", "--form",
    "-o", "--output", "-D", "--dump-header", "-w", "--write-out", "-m", "--max-time",
}  # fmt: skip
SEPARATORS = {"|", "&&", "||", ";"}
ENTRY_ID = re.compile(r"^\d+(-\d+)?$")
VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")
ASSIGNMENT = re.compile(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=\$\((.*)\)")
"""``NAME=$(command)``: only ``lingxi token issue`` may stand in it (a token is a value only a command
gives)."""
TOKEN_KEY_VARIABLES = frozenset({"LINGXI_AUTH_PRIVATE_KEY", "LINGXI_AUTH_KEY_ID"})
"""What ``lingxi token issue`` reads when ``--private-key`` and ``--kid`` are left out: the runbook's
exports, never the environment the test runs in."""


@dataclass(frozen=True)
class Signed:
    """Whom a token the runbook signed stands for (the options of its ``lingxi token issue``)."""

    device: str | None = None
    user: str | None = None
    region: str = "CN"
    admin: str | None = None
    roles: frozenset[str] = frozenset()

    def __str__(self) -> str:
        if self.admin is not None:
            return f"an admin token for {self.admin} ({', '.join(sorted(self.roles))})"
        user = f", user {self.user}" if self.user else ", nobody signed in"
        return f"a device token for {self.device}{user}, region {self.region}"


@dataclass(frozen=True)
class Callers:
    """Who may call a route: a device (acting for the path's device or user, in its own region), and
    administrators with one of ``admin_roles`` (any administrator when empty; none when None)."""

    device: bool
    admin_roles: frozenset[str] | None


OPERATOR, OFFICER = frozenset({"operator"}), frozenset({"compliance_officer"})
ANY_ADMIN: frozenset[str] = frozenset()
CALLERS: dict[tuple[str, str], Callers] = {
    ("POST", "/v1/assistant/queries"): Callers(device=True, admin_roles=None),
    ("POST", "/v1/vision/analyses"): Callers(device=True, admin_roles=None),
    ("GET", "/v1/requests/{request_id}"): Callers(device=True, admin_roles=None),
    ("POST", "/v1/telemetry"): Callers(device=True, admin_roles=OPERATOR),
    ("GET", "/v1/devices/{device_id}/health"): Callers(device=True, admin_roles=OPERATOR),
    ("GET", "/v1/devices/{device_id}/alerts"): Callers(device=True, admin_roles=OPERATOR),
    ("PUT", "/v1/users/{user_id}/consent"): Callers(device=True, admin_roles=OFFICER),
    ("POST", "/v1/users/{user_id}/purchases"): Callers(device=True, admin_roles=None),
    ("GET", "/v1/users/{user_id}/recommendations"): Callers(device=True, admin_roles=None),
    ("DELETE", "/v1/users/{user_id}"): Callers(device=True, admin_roles=OFFICER),
    ("GET", "/v1/users/{user_id}/erasure"): Callers(device=True, admin_roles=OFFICER),
    ("GET", "/v1/admin/features"): Callers(device=False, admin_roles=ANY_ADMIN),
    ("GET", "/v1/admin/features/changes/{request_id}"): Callers(device=False, admin_roles=ANY_ADMIN),
    ("POST", "/v1/admin/features/changes"): Callers(device=False, admin_roles=OFFICER),
}
"""Whose token each ``/v1`` route takes (services/gateway/src/lingxi_gateway/security.py and the routes)."""


# --------------------------------------------------------------------------- extraction


@dataclass(frozen=True)
class Command:
    line: int
    """Where the command starts in the runbook (1-based)."""
    text: str
    """The command as bash reads it: continuation lines joined."""


def extract_commands(markdown: str) -> tuple[list[Command], list[str]]:
    """The commands of every fenced ``bash`` block, and the problems with the other blocks (a shell block
    in another language would escape the checks)."""
    return fenced_commands(markdown, holds_commands=lambda fence: fence == "bash", strict=True)


def fenced_commands(
    markdown: str, *, holds_commands: Callable[[str], bool], strict: bool = False
) -> tuple[list[Command], list[str]]:
    """The commands of the fenced blocks whose language ``holds_commands``, ``\\`` continuations joined;
    with ``strict``, the problems too (a block in a language that is neither checked nor known to hold
    no commands, a block or file that ends inside a command)."""
    commands: list[Command] = []
    problems: list[str] = []
    fence: str | None = None
    pending: list[str] = []
    start = 0
    for number, line in enumerate(markdown.splitlines(), start=1):
        opening = re.match(r"^\s*```\s*(\S*)\s*$", line)
        if fence is None:
            if opening:
                fence = opening.group(1).lower()
                if strict and not holds_commands(fence) and fence not in NOT_COMMAND_FENCES:
                    problems.append(
                        f"line {number}: a fenced block in {fence or 'no language'!r}: commands go in "
                        f"```bash blocks (checked), anything else in {sorted(NOT_COMMAND_FENCES)}"
                    )
            continue
        if re.match(r"^\s*```\s*$", line):
            if pending:
                problems.append(f"line {start}: the block ends inside a continued command")
            fence, pending = None, []
            continue
        if not holds_commands(fence):
            continue
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        commands.append(Command(start, " ".join(pending)))
        pending = []
    if fence is not None:
        problems.append("the runbook ends inside a fenced block")
    return commands, problems if strict else []


def sections(markdown: str) -> dict[str, str]:
    """The text of each ``## `` section by its title."""
    out: dict[str, str] = {}
    title = ""
    for line in markdown.splitlines():
        if line.startswith("## "):
            title = line[3:].strip()
            out[title] = ""
        elif title:
            out[title] += line + "\n"
    return out


# --------------------------------------------------------------------------- what commands may name


@cache
def cli_root() -> Any:
    from lingxi.cli.main import app

    return typer.main.get_command(app)


@cache
def event_streams() -> tuple[frozenset[str], frozenset[str]]:
    """(registered stream names, event class names)."""
    from lingxi.events.registry import EVENT_TYPES

    return frozenset(EVENT_TYPES), frozenset(cls.__name__ for cls in EVENT_TYPES.values())


@cache
def gateway_routes() -> tuple[dict[tuple[str, str], dict[str, Any]], dict[str, Any]]:
    """{(path template, METHOD): {parameter name: (in, schema)}} from the gateway's OpenAPI document, plus
    the routes it leaves out of the document (probes, /metrics); and the document's schemas."""
    from lingxi_gateway.app import app

    spec = app.openapi()
    routes: dict[tuple[str, str], dict[str, Any]] = {}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            params = {p["name"]: (p["in"], p.get("schema", {})) for p in operation.get("parameters", [])}
            routes[(path, method.upper())] = params
    for route in app.routes:
        path, methods = getattr(route, "path", None), getattr(route, "methods", None)
        if not isinstance(path, str):
            continue
        for method in methods or ():
            routes.setdefault((path, method), {})
    return routes, spec.get("components", {}).get("schemas", {})


def _yaml_documents() -> Iterator[tuple[Path, Any]]:
    for path in sorted(K8S.rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if document is not None:
                yield path, document


@dataclass
class Manifests:
    overlays: set[str] = field(default_factory=set)
    """Folders under deploy/k8s that render (a kustomization.yaml), relative to the repository."""
    namespaces: set[str] = field(default_factory=set)
    objects: set[tuple[str, str]] = field(default_factory=set)
    labels: set[tuple[str, str]] = field(default_factory=set)
    secret_keys: dict[str, set[str]] = field(default_factory=dict)
    optional_secret_keys: dict[str, set[str]] = field(default_factory=dict)
    """Keys read with ``optional: true``: a command may leave them out."""
    """Keys read from each Secret (env, KEDA's TriggerAuthentication, volume items)."""
    secret_names: set[str] = field(default_factory=set)
    config_maps: dict[str, set[str]] = field(default_factory=dict)
    """ConfigMaps mounted as volumes: the keys each mount reads."""
    service_ports: dict[str, set[str]] = field(default_factory=dict)
    images: set[str] = field(default_factory=set)


@cache
def manifests() -> Manifests:
    found = Manifests()
    for path, document in _yaml_documents():
        if path.name == "kustomization.yaml":
            found.overlays.add(str(path.parent.relative_to(ROOT)))
            if "overlays" in path.parts and document.get("namespace"):
                found.namespaces.add(document["namespace"])
            found.images |= {image["name"] for image in document.get("images", [])}
        if isinstance(document, dict) and "kind" in document and "name" in document.get("metadata", {}):
            found.objects.add((document["kind"], document["metadata"]["name"]))
            if document["kind"] == "Service":
                ports = document.get("spec", {}).get("ports", [])
                found.service_ports[document["metadata"]["name"]] = {
                    str(value) for port in ports for value in (port.get("port"), port.get("name")) if value
                }
        _walk(document, None, found)
    return found


def _walk(node: Any, parent: str | None, found: Manifests) -> None:
    if isinstance(node, dict):
        if parent in {"labels", "pairs", "matchLabels"} and all(isinstance(v, str) for v in node.values()):
            found.labels |= set(node.items())
        if parent in {"secretKeyRef", "secretTargetRef"} and {"name", "key"} <= node.keys():
            found.secret_keys.setdefault(node["name"], set()).add(node["key"])
            found.secret_names.add(node["name"])
            if node.get("optional") is True:
                found.optional_secret_keys.setdefault(node["name"], set()).add(node["key"])
        if parent == "configMap" and "name" in node:
            found.config_maps.setdefault(node["name"], set()).update(i["key"] for i in node.get("items", []))
        if "secretName" in node:
            found.secret_names.add(node["secretName"])
            for item in node.get("items", []):
                found.secret_keys.setdefault(node["secretName"], set()).add(item["key"])
        for key, value in node.items():
            _walk(value, key, found)
    elif isinstance(node, list):
        for item in node:
            _walk(item, parent, found)


@cache
def redis_passwords() -> dict[str, str]:
    """A sample value for each Redis user's password variable (``LINGXI_REDIS_PASSWORD_GATEWAY``...), by
    the code (``lingxi.redis_acl``): the runbook loads them from ``.env``, never writes them out."""
    from lingxi.redis_acl import OTHER_USERS, password_variable

    users = sorted(service_folders() | set(OTHER_USERS))
    return {password_variable(user): f"sample-redis-password-{user}" for user in users}


def redis_user_of(value: str) -> str | None:
    """Whose Redis password ``value`` is, when it is one of ``redis_passwords()``' samples."""
    prefix = "sample-redis-password-"
    return value.removeprefix(prefix) if value in redis_passwords().values() else None


@cache
def compose_services() -> frozenset[str]:
    return frozenset(yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"])


@cache
def service_folders() -> frozenset[str]:
    return frozenset(p.parent.name for p in (ROOT / "services").glob("*/pyproject.toml"))


@cache
def features() -> frozenset[str]:
    data = yaml.safe_load(DEV_APPROVALS.read_text(encoding="utf-8"))
    return frozenset(entry["feature"] for entry in data["features"])


@cache
def partner_key_variables() -> frozenset[str]:
    data = yaml.safe_load(PROVIDERS.read_text(encoding="utf-8"))
    return frozenset(p["api_key_env"] for p in data["providers"].values() if p.get("api_key_env"))


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def image_distributions(service: str) -> frozenset[str]:
    """The workspace packages inside ``lingxi-<service>``'s image: the service's and its dependencies'."""
    todo, seen = [f"lingxi-{service}"], set()
    while todo:
        name = _normal(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        for requirement in distribution(name).requires or []:
            dependency = _normal(re.split(r"[\s;<>=!~\[]", requirement, maxsplit=1)[0])
            if dependency == "lingxi" or dependency.startswith("lingxi-"):
                todo.append(dependency)
    return frozenset(seen)


# --------------------------------------------------------------------------- the checker


class Problem(Exception):
    pass


@dataclass
class Checker:
    """Checks command lines in runbook order: ``export`` sets variables and output files appear (in the
    working directory, a temporary one in the tests) for the commands after them."""

    variables: dict[str, str] = field(default_factory=lambda: {**SAMPLES, **redis_passwords()})
    allowed_used: set[tuple[str, ...]] = field(default_factory=set)
    signed: dict[str, Signed] = field(default_factory=dict)
    """The tokens signed so far, by the sample value their variable holds."""

    def check(self, text: str) -> list[str]:
        try:
            if assignment := ASSIGNMENT.fullmatch(text.strip()):
                self._assign(assignment.group(1), assignment.group(2))
            else:
                expanded = self._expand(text)
                self._check_line(expanded, container=None)
        except Problem as problem:
            return [str(problem)]
        return []

    # --- shell

    def _expand(self, text: str) -> str:
        if "$(" in text or "`" in text:
            raise Problem("command substitution: write the value or a $VARIABLE")

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self.variables:
                raise Problem(
                    f"${name} is neither exported above nor a known sample ({', '.join(SAMPLES)}, "
                    "LINGXI_REDIS_PASSWORD_<user>)"
                )
            return self.variables[name]

        return VARIABLE.sub(value, text)

    @staticmethod
    def _tokens(text: str) -> list[str]:
        lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|<>")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        try:
            tokens = list(lexer)
        except ValueError as error:
            raise Problem(f"bash cannot read it: {error}") from None
        if not tokens:
            raise Problem("empty command")
        return tokens

    def _assign(self, name: str, command: str) -> None:
        """``NAME=$(lingxi token issue ...)``: the command is checked, and ``$NAME`` stands for the token."""
        words = self._tokens(self._expand(command))
        if words[:1] not in (["lingxi"], [".venv/bin/lingxi"]) or words[1:3] != ["token", "issue"]:
            raise Problem(
                "command substitution: only NAME=$(lingxi token issue ...) for a token; write the value "
                "or a $VARIABLE"
            )
        if any(re.fullmatch(r"[;&|<>]+", word) for word in words):
            raise Problem("NAME=$(lingxi token issue ...) holds that one command only")
        signed = _signed(self._lingxi(words[1:], container=None))
        value = f"sample-token-{len(self.signed) + 1}"
        self.signed[value] = signed
        self.variables[name] = value

    def _check_line(self, text: str, *, container: str | None) -> None:
        tokens = self._tokens(text)
        segment: list[str] = []
        for token in [*tokens, ";"]:
            if token in SEPARATORS:
                if not segment:
                    raise Problem(f"nothing before {token!r}")
                self._check_words(segment, container)
                segment = []
            else:
                segment.append(token)

    def _check_words(self, tokens: list[str], container: str | None) -> None:
        words: list[str] = []
        redirect: str | None = None
        for token in tokens:
            if redirect is not None:
                if redirect in {">", ">>"}:
                    self._wrote(token)
                redirect = None
            elif token in {">", ">>", ">&"}:
                redirect = token
            elif token.startswith("<") or token == "&":
                raise Problem(
                    f"{token!r}: an input redirection or a <placeholder> (write a $VARIABLE), or a "
                    "background job"
                )
            elif re.fullmatch(r"[;&|<>]+", token):
                raise Problem(f"{token!r} is not used in the runbook's commands")
            else:
                words.append(token)
        if redirect is not None:
            raise Problem(f"{redirect!r} with nothing after it")
        if not words:
            raise Problem("a redirection without a command")
        program, args = words[0], words[1:]
        if program in {"lingxi", ".venv/bin/lingxi"}:
            self._lingxi(args, container)
        elif container is None and program == "kubectl":
            self._kubectl(args)
        elif container is None and program == "docker":
            self._docker(args)
        elif container is None and program == "curl":
            self._curl(args)
        elif container is None and program == "make":
            self._make(args)
        elif container is None and program == "export":
            self._export(args)
        elif container is not None and program == "sh" and args[:1] == ["-c"] and len(args) == 2:
            self._check_line(args[1], container=container)
        elif not self._allowed(words):
            where = f" inside the {container} container" if container else ""
            raise Problem(f"{program!r}{where} is neither checked nor on the test's allow-list")

    def _allowed(self, words: list[str]) -> bool:
        for prefix in ALLOWED:
            if tuple(words[: len(prefix)]) == prefix:
                self.allowed_used.add(prefix)
                return True
        return False

    def _wrote(self, path: str) -> None:
        """A file a command writes: a relative one exists for the commands after it."""
        if not Path(path).is_absolute():
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).touch()

    # --- lingxi

    def _lingxi(self, args: list[str], container: str | None) -> dict[str, Any]:
        if container is not None and container not in service_folders():
            raise Problem(f"the {container} container has no lingxi command (only Lingxi's images do)")
        command = cli_root()
        path: list[str] = []
        context = command.context_class(command, info_name="lingxi")
        while hasattr(command, "commands"):
            if not args or args[0].startswith("-"):
                raise Problem(f"lingxi {' '.join(path)} is a group: name one of {sorted(command.commands)}")
            name, args = args[0], args[1:]
            sub = command.commands.get(name)
            if sub is None:
                raise Problem(f"lingxi {' '.join(path)} has no command {name!r} ({sorted(command.commands)})")
            path.append(name)
            if hasattr(sub, "commands"):
                context = sub.context_class(sub, info_name=name, parent=context)
            command = sub
        shown = "lingxi " + " ".join(path)
        exported = {name: value for name, value in self.variables.items() if name.startswith("LINGXI_")}
        try:
            with mock.patch.dict(os.environ, exported):
                for name in TOKEN_KEY_VARIABLES - set(exported):
                    os.environ.pop(name, None)
                parsed = command.make_context(path[-1], list(args), parent=context, resilient_parsing=False)
        except (typer.TyperException, typer.Exit) as error:
            message = error.format_message() if hasattr(error, "format_message") else type(error).__name__
            raise Problem(f"{shown}: {message}") from None
        if container is not None and len(path) == 2:
            plugins = entry_points(group=f"lingxi.{path[0]}", name=path[1])
            owners = {_normal(plugin.dist.name) for plugin in plugins if plugin.dist is not None}
            if owners and not owners & image_distributions(container):
                raise Problem(f"{shown} comes with {sorted(owners)}, which the {container} image lacks")
        self._lingxi_values(shown, parsed.params)
        params: dict[str, Any] = parsed.params
        return params

    def _lingxi_values(self, shown: str, params: dict[str, Any]) -> None:
        streams, classes = event_streams()
        for name in ("stream", "event_type"):
            for value in _values(params.get(name)):  # `logs --stream` repeats
                if value.removesuffix(".dlq") not in streams and not (
                    name == "event_type" and value in classes
                ):
                    raise Problem(f"{shown}: {value!r} is not a stream of the event registry")
        if (pattern := params.get("pattern")) is not None:
            known = streams | {f"{s}.dlq" for s in streams}
            if not fnmatch.filter(known, pattern):
                raise Problem(f"{shown}: {pattern!r} matches no stream of the event registry")
        if (feature := params.get("feature")) is not None and feature not in features():
            raise Problem(f"{shown}: {feature!r} is not a feature ({sorted(features())})")
        for entry_id in [*_values(params.get("dlq_id")), *_values(params.get("ids"))]:
            if not ENTRY_ID.match(entry_id):
                raise Problem(f"{shown}: {entry_id!r} is not a dead-letter id")
        for output in _values(params.get("output")):
            self._wrote(str(output))

    # --- kubectl

    def _kubectl(self, args: list[str]) -> None:
        found = manifests()
        words: list[str] = []
        namespace: str | None = None
        rest = iter(args)
        for word in rest:
            if word in {"-n", "--namespace"}:
                namespace = next(rest, "")
            elif word.startswith("--namespace="):
                namespace = word.split("=", 1)[1]
            else:
                words.append(word)
        if namespace is not None and namespace not in found.namespaces:
            raise Problem(f"namespace {namespace!r} is not an overlay's ({sorted(found.namespaces)})")
        verb = words[:1]
        if verb == ["kustomize"] or words[:2] in (["apply", "-k"], ["diff", "-k"]):
            target = words[1] if verb == ["kustomize"] else words[2] if len(words) > 2 else ""
            if target.rstrip("/") not in found.overlays or "/overlays/" not in f"/{target}":
                raise Problem(f"{target!r} is not an overlay under deploy/k8s ({sorted(found.overlays)})")
            return
        if not self._allowed(["kubectl", *words]):
            raise Problem(f"kubectl {' '.join(words[:2])} is not on the test's allow-list")
        self._kubectl_names(words, found)

    def _kubectl_names(self, words: list[str], found: Manifests) -> None:
        scaled = {name for kind, name in found.objects if kind == "ScaledObject"}

        def exists(kind: str, name: str) -> None:
            if kind == "HorizontalPodAutoscaler" and name.removeprefix("keda-hpa-") in scaled:
                return  # KEDA names the HPA it drives after the ScaledObject
            if (kind, name) not in found.objects:
                raise Problem(f"no {kind} {name!r} in deploy/k8s")

        rest = words[1:]
        if words[:1] == ["exec"]:
            if "--" not in rest:
                raise Problem("kubectl exec without -- before the pod's command")
            split = rest.index("--")
            targets = [w for w in rest[:split] if not w.startswith("-")]
            if len(targets) != 1 or not targets[0].startswith("deploy/"):
                raise Problem("kubectl exec: name one deploy/<service>")
            service = targets[0].split("/", 1)[1]
            exists("Deployment", service)
            if service not in service_folders():
                raise Problem(f"kubectl exec: {service!r} runs no Lingxi image")
            self._check_words(rest[split + 1 :], container=service)
            return
        if words[:2] == ["create", "namespace"] and rest[1:2] and rest[1] not in found.namespaces:
            raise Problem(f"namespace {rest[1]!r} is not an overlay's")
        if words[:3] == ["create", "secret", "generic"]:
            self._secret(words[3:], found)
        if words[:2] == ["create", "configmap"]:
            self._config_map(words[2:], found)
        if words[:3] == ["create", "secret", "tls"] and words[3:4] and words[3] not in found.secret_names:
            raise Problem(f"no Secret {words[3]!r} is used by deploy/k8s")
        if words[:1] == ["port-forward"]:
            target, *ports = [w for w in rest if not w.startswith("-")] or [""]
            kind, _, name = target.partition("/")
            if KIND_OF.get(kind) != "Service":
                raise Problem("kubectl port-forward: name svc/<service>")
            exists("Service", name)
            for mapping in ports:
                if mapping.rpartition(":")[2] not in found.service_ports.get(name, set()):
                    raise Problem(f"Service {name!r} has no port {mapping.rpartition(':')[2]!r}")
        if words[:1] in (["get"], ["describe"]) and rest:
            kinds = rest[0].split(",")
            if "/" not in rest[0] and any(kind not in LISTABLE for kind in kinds):
                raise Problem(f"kubectl {words[0]}: unknown resource type in {rest[0]!r}")
            names = [w for w in rest[1:] if not w.startswith("-")]
            if names and len(kinds) == 1 and kinds[0] in KIND_OF:
                for name in names:
                    exists(KIND_OF[kinds[0]], name)
        for word in rest:
            kind, slash, name = word.partition("/")
            if slash and kind in KIND_OF and not word.startswith(("-", ".")):
                exists(KIND_OF[kind], name)
        self._selectors(rest, found)

    def _selectors(self, rest: list[str], found: Manifests) -> None:
        for index, word in enumerate(rest):
            selector = None
            if word in {"-l", "--selector"}:
                selector = rest[index + 1] if index + 1 < len(rest) else ""
            elif word.startswith("--selector="):
                selector = word.split("=", 1)[1]
            if selector is None:
                continue
            for pair in selector.split(","):
                key, _, value = pair.partition("=")
                if (key, value) not in found.labels:
                    raise Problem(f"no object in deploy/k8s carries the label {pair!r}")

    def _config_map(self, words: list[str], found: Manifests) -> None:
        if not words or words[0] not in found.config_maps:
            raise Problem(f"no ConfigMap {words[:1]} is mounted by deploy/k8s ({sorted(found.config_maps)})")
        keys = set()
        for word in words[1:]:
            for prefix in ("--from-literal=", "--from-file="):
                if word.startswith(prefix):
                    source = word.removeprefix(prefix)
                    keys.add(source.split("=", 1)[0] if "=" in source else Path(source).name)
        wanted = found.config_maps[words[0]]
        if keys != wanted:
            raise Problem(
                f"ConfigMap {words[0]}: the manifests mount {sorted(wanted)}, the command has {sorted(keys)}"
            )

    def _secret(self, words: list[str], found: Manifests) -> None:
        if not words or words[0] not in found.secret_keys:
            raise Problem(f"no Secret {words[:1]} is read by deploy/k8s ({sorted(found.secret_keys)})")
        keys = set()
        users = {redis_user_of(sample) for sample in redis_passwords().values()}
        for word in words[1:]:
            for prefix in ("--from-literal=", "--from-file="):
                if word.startswith(prefix):
                    keys.add(word.removeprefix(prefix).split("=", 1)[0])
            if word.startswith("--from-literal="):
                key, _, value = word.removeprefix("--from-literal=").partition("=")
                owner = redis_user_of(value)
                if key in users and owner != key:
                    raise Problem(
                        f"Secret {words[0]}: key {key} is the password of Redis user lingxi-{key}; give it "
                        f"$LINGXI_REDIS_PASSWORD_{key.upper()}"
                        + (f", not lingxi-{owner}'s" if owner else " (from .env), not a written value")
                    )
        wanted = found.secret_keys[words[0]]
        optional = found.optional_secret_keys.get(words[0], set())
        if not wanted - optional <= keys <= wanted:
            raise Problem(
                f"Secret {words[0]}: the manifests read {sorted(wanted)}, the command gives {sorted(keys)}"
            )

    # --- docker

    def _docker(self, args: list[str]) -> None:
        if args[:1] == ["compose"]:
            self._compose(args[1:])
        elif args[:1] == ["build"]:
            self._build(args[1:])
        else:
            raise Problem(f"docker {args[:1]}: only docker compose and docker build are checked")

    def _compose(self, args: list[str]) -> None:
        services = compose_services()
        while args[:1] == ["-f"]:
            if not (ROOT / args[1]).is_file():
                raise Problem(f"docker compose -f {args[1]}: no such file")
            args = args[2:]
        if not args or args[0] not in COMPOSE_FLAGS:
            raise Problem(f"docker compose {args[:1]}: not a sub-command the test knows")
        sub, rest = args[0], iter(args[1:])
        flags, valued = COMPOSE_FLAGS[sub]
        positionals: list[str] = []
        for word in rest:
            if word in flags:
                continue
            if word in valued:
                value = next(rest, "")
                if word == "--scale":
                    name, _, count = value.partition("=")
                    if name not in services or not count.isdigit():
                        raise Problem(
                            f"--scale {value!r}: not SERVICE=N with a service of docker-compose.yml"
                        )
                continue
            if word.startswith("-"):
                raise Problem(f"docker compose {sub}: option {word!r} is not one the test knows")
            positionals.append(word)
            if sub == "exec":
                positionals.extend(rest)
        named = positionals[:1] if sub in {"exec", "port"} else positionals
        for name in named:
            if name not in services:
                raise Problem(f"docker compose {sub}: {name!r} is not a service of docker-compose.yml")
        if sub == "exec":
            if len(positionals) < 2:
                raise Problem("docker compose exec: a service and a command")
            self._check_words(positionals[1:], container=positionals[0])

    def _build(self, args: list[str]) -> None:
        options: dict[str, list[str]] = {}
        positionals: list[str] = []
        rest = iter(args)
        for word in rest:
            if word in {"-f", "--file", "-t", "--tag", "--build-arg"}:
                options.setdefault(word.lstrip("-")[0], []).append(next(rest, ""))
            elif word.startswith("-"):
                raise Problem(f"docker build: option {word!r} is not one the test knows")
            else:
                positionals.append(word)
        if positionals != ["."] or options.get("f") != ["deploy/Dockerfile"]:
            raise Problem("docker build: -f deploy/Dockerfile with the repository as the context (.)")
        service = dict(arg.partition("=")[::2] for arg in options.get("b", [])).get("SERVICE")
        if service not in service_folders():
            raise Problem(f"docker build: SERVICE={service} is not a folder under services/")
        for tag in options.get("t", []):
            if tag.partition(":")[0] != f"lingxi-{service}" or f"lingxi-{service}" not in manifests().images:
                raise Problem(f"docker build: -t {tag}: the overlays deploy lingxi-{service}:<tag>")

    # --- curl

    def _curl(self, args: list[str]) -> None:
        method: str | None = None
        headers: list[str] = []
        body: str | None = None
        urls: list[str] = []
        rest = iter(args)
        for word in rest:
            if word in CURL_VALUED:
                value = next(rest, "")
                if word in {"-X", "--request"}:
                    method = value.upper()
                elif word in {"-H", "--header"}:
                    headers.append(value)
                elif word in {"-d", "--data", "--data-raw", "--data-binary", "-F", "--form"}:
                    body = value
                elif word in {"-o", "--output", "-D", "--dump-header"} and value not in {"-", "/dev/null"}:
                    self._wrote(value)
            elif word in CURL_FLAGS or (re.fullmatch(r"-[a-zA-Z]{2,}", word) and self._short_flags(word)):
                continue
            elif word.startswith("-"):
                raise Problem(f"curl: option {word!r} is not one the test knows")
            else:
                urls.append(word)
        if len(urls) != 1 or not urls[0].startswith(("http://", "https://")):
            raise Problem(f"curl: one http(s) URL, got {urls}")
        method = method or ("POST" if body is not None else "GET")
        fields: dict[str, Any] = {}
        if body is not None and any("content-type: application/json" in h.lower() for h in headers):
            try:
                parsed = json.loads(body)
            except ValueError as error:
                raise Problem(f"curl: the JSON body does not parse: {error}") from None
            fields = parsed if isinstance(parsed, dict) else {}
        template, values = self._route(method, urls[0])
        if template.startswith("/v1/"):
            self._authorization(method, template, values, fields, headers)

    def _authorization(
        self, method: str, template: str, values: dict[str, str], body: dict[str, Any], headers: list[str]
    ) -> None:
        """A ``/v1`` route needs a bearer token; one the runbook signed must be one the route takes."""
        given = [
            h.partition(":")[2].strip()
            for h in headers
            if h.partition(":")[0].strip().lower() == "authorization"
        ]
        shown = f"{method} {template}"
        if not given:
            raise Problem(f'{shown} needs a token: -H "Authorization: Bearer $TOKEN" (lingxi token issue)')
        scheme, _, token = given[-1].partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Problem(f"{shown}: the Authorization header is not 'Bearer <token>'")
        signed = self.signed.get(token.strip())
        if signed is None:
            return  # a token written out: only its presence can be checked
        callers = CALLERS.get((method, template))
        if callers is None:
            raise Problem(f"{shown}: the test's CALLERS does not say whose token it takes")
        if signed.admin is not None:
            if callers.admin_roles is None:
                raise Problem(f"{shown} takes a device token, not {signed}")
            if callers.admin_roles and not callers.admin_roles & signed.roles:
                raise Problem(
                    f"{shown} needs the role {' or '.join(sorted(callers.admin_roles))}, not {signed}"
                )
            requested_by = body.get("requested_by")
            if template == "/v1/admin/features/changes" and requested_by not in {
                None,
                f"admin:{signed.admin}",
            }:
                raise Problem(
                    f"{shown}: requested_by {requested_by!r} is not the token's admin:{signed.admin}"
                )
            if "user" in (values.get("requested_by"), body.get("changed_by")):
                raise Problem(f"{shown}: an administrator acts as admin or system, not as user")
            return
        if not callers.device:
            raise Problem(f"{shown} takes an admin token, not {signed}")
        if "user_id" in values and signed.user is None:
            raise Problem(f"{shown}: the token is {signed}; issue it with --user")
        wanted = {
            "device": [values.get("device_id"), body.get("device_id")],
            "user": [values.get("user_id"), body.get("user_id")],
            "region": [values.get("region"), body.get("region")],
        }
        for what, named in wanted.items():
            for value in named:
                if value is not None and value != getattr(signed, what):
                    raise Problem(f"{shown} for {what} {value}: the token is {signed}")
        for acting in (values.get("requested_by"), body.get("changed_by")):
            if acting not in {None, "user"}:
                raise Problem(f"{shown}: a device acts as user, not as {acting}")

    @staticmethod
    def _short_flags(word: str) -> bool:
        return all(f"-{letter}" in CURL_FLAGS for letter in word[1:])

    def _route(self, method: str, url: str) -> tuple[str, dict[str, str]]:
        """The route's template and the request's path and query values; Problem when none fits."""
        routes, schemas = gateway_routes()
        parts = urlsplit(url)
        for (template, route_method), params in routes.items():
            pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
            match = re.fullmatch(pattern, parts.path)
            if match is None or route_method != method:
                continue
            values = [(name, value, "path") for name, value in match.groupdict().items()]
            values += [
                (name, value, "query") for name, value in parse_qsl(parts.query, keep_blank_values=True)
            ]
            for name, value, where in values:
                if params.get(name, (None,))[0] != where:
                    raise Problem(f"{method} {template} has no {where} parameter {name!r}")
                if not _valid(value, params[name][1], schemas):
                    raise Problem(f"{method} {template}: {name}={value!r} does not fit {params[name][1]}")
            return template, {name: value for name, value, _ in values}
        same_path = sorted(
            {m for (t, m) in routes if re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", t), parts.path)}
        )
        raise Problem(
            f"{method} {parts.path} is not a route of the gateway"
            + (f" (that path takes {same_path})" if same_path else "")
        )

    # --- make, export

    def _make(self, args: list[str]) -> None:
        text = MAKEFILE.read_text(encoding="utf-8")
        targets = set(re.findall(r"^([A-Za-z][\w.-]*):", text, flags=re.MULTILINE))
        for word in args:
            name, assigned, _ = word.partition("=")
            if assigned:
                if f"$({name})" not in text:
                    raise Problem(f"make: the Makefile does not use {name}")
            elif word not in targets:
                raise Problem(f"make: no target {word!r} ({sorted(targets)})")

    def _export(self, args: list[str]) -> None:
        for word in args:
            name, assigned, value = word.partition("=")
            if not assigned:
                raise Problem(f"export {word}: give the value")
            known = name in SAMPLES or name == "GATEWAY" or name.startswith("LINGXI_")
            if not known and name not in partner_key_variables():
                raise Problem(f"export {name}: not a variable the runbook or the services use")
            self.variables[name] = value


def _signed(params: dict[str, Any]) -> Signed:
    """Whom ``lingxi token issue`` with these options signs for; Problem where the command would refuse
    them (its own checks, which parsing alone does not run)."""
    from lingxi.auth import Role
    from lingxi.events import Region

    device, admin, roles = params.get("device"), params.get("admin"), _values(params.get("role"))
    if (device is None) == (admin is None):
        raise Problem("lingxi token issue: give exactly one of --device or --admin")
    if admin is None:
        if roles:
            raise Problem("lingxi token issue: --role is for admin tokens")
        region = params.get("region") or "CN"
        if region not in {r.value for r in Region}:
            raise Problem(
                f"lingxi token issue: --region {region} is not a region ({[r.value for r in Region]})"
            )
        return Signed(device=device, user=params.get("user"), region=region)
    if params.get("user") is not None or params.get("region") is not None:
        raise Problem("lingxi token issue: --user and --region are for device tokens")
    unknown = set(roles) - {r.value for r in Role}
    if not roles or unknown:
        raise Problem(
            f"lingxi token issue: an admin token needs --role, each one of {[r.value for r in Role]}"
        )
    return Signed(admin=admin, roles=frozenset(roles))


def _values(value: Any) -> list[Any]:
    """A parsed parameter as a list: none, one, or each of a repeated one."""
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _valid(value: str, schema: dict[str, Any], schemas: dict[str, Any]) -> bool:
    """Whether a path or query value fits its OpenAPI schema (the parts the gateway's routes use)."""
    if "$ref" in schema:
        return _valid(value, schemas[schema["$ref"].rsplit("/", 1)[1]], schemas)
    if "anyOf" in schema:
        return any(
            _valid(value, option, schemas) for option in schema["anyOf"] if option.get("type") != "null"
        )
    if "enum" in schema and value not in [str(v) for v in schema["enum"]]:
        return False
    if schema.get("type") in {"number", "integer"}:
        try:
            number = float(value)
        except ValueError:
            return False
        return bool(schema.get("minimum", number) <= number <= schema.get("maximum", number))
    if schema.get("format") == "uuid":
        try:
            uuid.UUID(value)
        except ValueError:
            return False
    return "pattern" not in schema or re.search(schema["pattern"], value) is not None


# --------------------------------------------------------------------------- the runbook


def test_every_runbook_command_is_right(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # files the runbook's commands write land here
    text = RUNBOOK.read_text(encoding="utf-8")
    commands, problems = extract_commands(text)
    checker = Checker()
    for command in commands:
        problems += [f"line {command.line}: {command.text}\n    {p}" for p in checker.check(command.text)]
    assert not problems, "docs/operations.md:\n" + "\n".join(problems)
    programs = {shlex.split(c.text)[0] for c in commands}
    assert {".venv/bin/lingxi", "kubectl", "docker", "curl", "make"} <= programs, programs
    assert checker.allowed_used == set(ALLOWED), (
        f"unused allow-list entries: {set(ALLOWED) - checker.allowed_used}"
    )


def test_callers_says_whose_token_each_v1_route_takes() -> None:
    routes, _ = gateway_routes()
    v1 = {(method, path) for path, method in routes if path.startswith("/v1/")}
    assert v1 == set(CALLERS), {"not in CALLERS": v1 - set(CALLERS), "not a route": set(CALLERS) - v1}


DOCS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "deploy" / "README.md")
"""Documents whose examples call the gateway."""
HTTP_CLIENT = re.compile(r"(?:^|[\s;&|(])(?:curl|http|https)\s")
"""A command that sends HTTP: curl, or HTTPie's ``http``/``https``."""


def shell_commands(markdown: str) -> list[Command]:
    """The commands of every fenced block that may hold some (any language but ``NOT_COMMAND_FENCES``)."""
    return fenced_commands(markdown, holds_commands=lambda fence: fence not in NOT_COMMAND_FENCES)[0]


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: str(path.relative_to(ROOT)))
def test_http_examples_in_the_docs_carry_a_token(doc: Path) -> None:
    """Every example that calls a ``/v1`` route (curl or HTTPie, in any command block) sends a token,
    and the document says how to get one (``lingxi token issue``) before its first such example."""
    text = doc.read_text(encoding="utf-8")
    issued = next(
        (n for n, line in enumerate(text.splitlines(), start=1) if "lingxi token issue" in line), None
    )
    for command in shell_commands(text):
        if not HTTP_CLIENT.search(command.text) or "/v1/" not in command.text:
            continue
        assert re.search(r"Authorization:\s*Bearer \$\{?(ADMIN_)?TOKEN\b", command.text), (
            f"{doc.name}:{command.line}: no Authorization: Bearer $TOKEN (or $ADMIN_TOKEN): {command.text}"
        )
        how = f"{doc.name}:{command.line}: say how to get the token (lingxi token issue) before this example"
        assert issued is not None, how
        assert issued <= command.line, how


def test_http_routes_named_in_the_prose_exist() -> None:
    """``METHOD /path`` in the runbook's text (outside the commands) is a route of the gateway."""
    prose = re.sub(r"```.*?```", "", RUNBOOK.read_text(encoding="utf-8"), flags=re.DOTALL)
    named = set(re.findall(r"`(GET|POST|PUT|DELETE) (/[^`\s?]*)", prose))
    assert named, "the runbook names no route"
    routes, _ = gateway_routes()
    known = {(method, re.sub(r"\{\w+\}", "{}", path)) for path, method in routes}
    missing = {(m, p) for m, p in named if (m, re.sub(r"\{\w+\}", "{}", p)) not in known}
    assert not missing, missing


def test_the_runbook_has_every_section_and_is_linked() -> None:
    text = RUNBOOK.read_text(encoding="utf-8")
    assert [title for title in sections(text) if title in SECTIONS] == list(SECTIONS)
    for readme in (ROOT / "README.md", ROOT / "deploy" / "README.md"):
        assert "operations.md" in readme.read_text(encoding="utf-8"), f"{readme} does not link the runbook"


def test_metrics_and_dashboard_panels_named_by_the_runbook_exist() -> None:
    text = RUNBOOK.read_text(encoding="utf-8")
    sources = "\n".join(
        p.read_text(encoding="utf-8")
        for p in [*ROOT.glob("shared/src/**/*.py"), *ROOT.glob("services/*/src/**/*.py")]
    )
    metrics = set(re.findall(r"\blingxi_[a-z_]+(?=[\s{)\[])", text)) - {"lingxi_assistant"}
    assert metrics, "the runbook names no metric"
    for metric in metrics:
        assert f'"{metric}"' in sources or f'"{metric.removesuffix("_total")}"' in sources, metric
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    titles = {dashboard["title"]} | {p["title"] for p in dashboard["panels"]}
    titles |= {p["title"] for row in dashboard["panels"] for p in row.get("panels", [])}
    prose = re.sub(r"```.*?```", "", sections(text)["Read the lag"], flags=re.DOTALL)
    quoted = {" ".join(q.split()) for q in re.findall(r'"([^"`]+)"', prose)}
    assert quoted, "the lag section names no dashboard panel"
    assert quoted <= titles | set(sections(text)), quoted - titles  # a panel, or a section of the runbook


# --------------------------------------------------------------------------- the extractor and checks


def test_the_docs_check_finds_http_examples_in_any_command_block() -> None:
    markdown = (
        "```sh\n"
        "curl -s http://localhost:8000/v1/devices/d-1/health \\\n"
        '  -H "Authorization: Bearer $TOKEN"\n'
        "```\n"
        "```json\n"
        '{"curl": "/v1/x"}\n'
        "```\n"
        "```\n"
        "http GET :8000/v1/admin/features\n"
        "```\n"
    )
    found = [c for c in shell_commands(markdown) if HTTP_CLIENT.search(c.text) and "/v1/" in c.text]
    assert found == [
        Command(2, 'curl -s http://localhost:8000/v1/devices/d-1/health -H "Authorization: Bearer $TOKEN"'),
        Command(9, "http GET :8000/v1/admin/features"),
    ]


def test_the_extractor_reads_bash_blocks_only_and_joins_continuations() -> None:
    markdown = (
        "text `.venv/bin/lingxi nothing`\n"
        "```bash\n"
        "# a comment\n"
        ".venv/bin/lingxi streams \\\n"
        "  --json\n"
        "\n"
        "make run\n"
        "```\n"
        "```promql\n"
        "max(lingxi_stream_lag)\n"
        "```\n"
        "```sh\n"
        "rm -rf /\n"
        "```\n"
    )
    commands, problems = extract_commands(markdown)
    assert commands == [Command(4, ".venv/bin/lingxi streams --json"), Command(7, "make run")]
    assert len(problems) == 1, problems
    assert "'sh'" in problems[0], problems


REDIS_USERS = (
    "kubectl -n lingxi create secret generic lingxi-redis-users "
    + " ".join(f'--from-literal={u}="$LINGXI_REDIS_PASSWORD_{u.upper()}"' for u in sorted(service_folders()))
    + ' --from-literal=scaler="$LINGXI_REDIS_PASSWORD_SCALER"'
)
"""The Secret of the Redis users' passwords, each key given its user's variable."""

SIGNING = (
    "export LINGXI_AUTH_PRIVATE_KEY=keys/2026-11.pem LINGXI_AUTH_KEY_ID=2026-11",
    'TOKEN=$(.venv/bin/lingxi token issue --device demo-device --user "$USER_ID")',
    "ADMIN_TOKEN=$(.venv/bin/lingxi token issue --admin li.wei --role compliance_officer --role operator)",
)
"""How the runbook signs its tokens: ``$TOKEN`` for demo-device with u-42 signed in, ``$ADMIN_TOKEN``
for an operator who is also a compliance officer."""


def signing_checker() -> Checker:
    """A checker that has read ``SIGNING``."""
    checker = Checker()
    for line in SIGNING:
        assert checker.check(line) == [], line
    return checker


@pytest.mark.parametrize(
    "command",
    [
        ".venv/bin/lingxi streams 'assistant.*' --consumers",
        ".venv/bin/lingxi dlq replay assistant.query.received.dlq $DLQ_ID --dry-run",
        "lingxi features approve assistant --region HK --filing-number HK-1 --effective-at 2026-12-01",
        "kubectl -n lingxi exec deploy/compliance -- lingxi audit verify",
        "docker compose exec compliance lingxi features list --json",
        "docker compose up -d --scale vision=2",
        "kubectl -n lingxi-dev get pods,scaledobjects,hpa",
        "kubectl diff -k deploy/k8s/overlays/dev",
        "curl -s 'http://127.0.0.1:8000/v1/devices/demo-device/alerts?status=all' "
        '-H "Authorization: Bearer $TOKEN"',
        'curl -s -X DELETE http://127.0.0.1:8000/v1/users/u-42 -H "Authorization: Bearer $TOKEN"',
        "curl -s -X DELETE 'http://127.0.0.1:8000/v1/users/u-42?requested_by=admin' "
        '-H "Authorization: Bearer $ADMIN_TOKEN"',
        "curl -s 'http://127.0.0.1:8000/v1/admin/features?region=HK' -H 'Authorization: Bearer eyJhbG.x.y'",
        "curl -s http://127.0.0.1:8000/readyz",
        "export TOKEN=$(lingxi token issue --device dev-1 --user u-7 --region HK --ttl 2h)",
        "make run REPLICAS=assistant=2 PORT=9000",
        ".venv/bin/lingxi redis acl -o .lingxi/redis/users.acl",
        "kubectl -n lingxi-dev create secret generic lingxi-redis-acl "
        "--from-file=users.acl=.lingxi/redis/users.acl",
        REDIS_USERS,
    ],
)
def test_right_commands_pass(command: str) -> None:
    assert signing_checker().check(command) == []


@pytest.mark.parametrize(
    ("command", "why"),
    [
        (".venv/bin/lingxi dlq drain assistant.query.received", "has no command 'drain'"),
        (".venv/bin/lingxi dlq replay assistant.query.received --everything", "No such option"),
        (".venv/bin/lingxi dlq show assistant.query.received", "Missing argument"),
        (".venv/bin/lingxi dlq list assistant.query.received -n 0", "-n"),
        (".venv/bin/lingxi dlq", "is a group"),
        (".venv/bin/lingxi features approve assistant --region XX", "XX"),
        (".venv/bin/lingxi features approve assitant --region CN", "not a feature"),
        (".venv/bin/lingxi dlq list assistant.query.recieved", "not a stream"),
        (".venv/bin/lingxi streams 'assitant.*'", "matches no stream"),
        (".venv/bin/lingxi dlq show assistant.query.received latest", "not a dead-letter id"),
        (".venv/bin/lingxi publish NoSuchEvent text=hi", "not a stream"),
        (".venv/bin/lingxi audit verify --file never-written.jsonl", "does not exist"),
        (".venv/bin/lingxi dlq show assistant.query.received $NO_SUCH_ID", "$NO_SUCH_ID"),
        (
            "kubectl -n lingxi create secret generic lingxi-partners --from-literal=OPENAI_API_KEY=x "
            "--dry-run=client -o yaml | kubectl apply -f -",
            "OPENAI_API_KEY",
        ),
        (".venv/bin/lingxi dlq show assistant.query.received <dlq-id>", "placeholder"),
        (".venv/bin/lingxi streams $(cat streams.txt)", "command substitution"),
        (".venv/bin/lingxi logs -f &", "background"),
        ("kubectl apply -k deploy/k8s/overlays/staging", "not an overlay"),
        ("kubectl kustomize deploy/k8s/base", "not an overlay"),
        ("kubectl -n lingxi-prod get pods", "namespace"),
        ("kubectl -n lingxi delete pods --all", "allow-list"),
        ("kubectl -n lingxi get pods,scaledobject,hpas", "unknown resource type"),
        ("kubectl -n lingxi describe hpa keda-hpa-gateways", "HorizontalPodAutoscaler"),
        ("kubectl -n lingxi rollout status deployment/assistent", "no Deployment 'assistent'"),
        ("kubectl -n lingxi logs -l app=lingxi --tail=-1", "label"),
        ("kubectl -n lingxi exec deploy/gateway -- lingxi audit verify", "the gateway image lacks"),
        ("kubectl -n lingxi exec deploy/compliance -- rm -rf /tmp", "allow-list"),
        ("kubectl -n lingxi port-forward svc/gateway 8000:80", "no port '80'"),
        (
            "kubectl -n lingxi create secret generic lingxi-redis --from-literal=url=redis://x",
            "manifests read",
        ),
        ("kubectl -n lingxi create secret tls gateway-tls --cert=a --key=b", "no Secret"),
        (
            "kubectl -n lingxi create configmap lingxi-keys --from-file=jwks.json=keys/jwks.json",
            "no ConfigMap",
        ),
        ("kubectl -n lingxi create configmap lingxi-token-keys --from-file=keys/keys.json", "jwks.json"),
        ("docker compose up --scale assistent=3", "--scale"),
        ("docker compose logs -f redis-cache", "not a service"),
        ("docker compose up --detatch", "option '--detatch'"),
        ("docker compose exec gateway lingxi features list", "the gateway image lacks"),
        ("docker compose exec redis lingxi streams", "no lingxi command"),
        (
            "docker build -f deploy/Dockerfile --build-arg SERVICE=assistent -t lingxi-assistent:1 .",
            "SERVICE",
        ),
        ("docker run -d redis", "only docker compose and docker build"),
        ("curl -s http://127.0.0.1:8000/v1/user/u-42/erasure", "not a route"),
        ("curl -s -X DELETE http://127.0.0.1:8000/v1/users/u-42/consent", "that path takes ['PUT']"),
        ("curl -s 'http://127.0.0.1:8000/v1/admin/features?regoin=HK'", "no query parameter 'regoin'"),
        ("curl -s 'http://127.0.0.1:8000/v1/admin/features?region=XX'", "does not fit"),
        ("curl -s http://127.0.0.1:8000/v1/requests/not-a-uuid", "does not fit"),
        (
            "curl -s -X POST http://127.0.0.1:8000/v1/telemetry -H 'content-type: application/json' -d '{x'",
            "does not parse",
        ),
        ("curl -s http://127.0.0.1:8000/v1/devices/demo-device/health", "needs a token"),
        (
            "curl -s http://127.0.0.1:8000/v1/devices/demo-device/health -H 'Authorization: Basic dTpw'",
            "not 'Bearer <token>'",
        ),
        (
            'curl -s http://127.0.0.1:8000/v1/devices/dev-9/health -H "Authorization: Bearer $TOKEN"',
            "for device dev-9",
        ),
        (
            'curl -s http://127.0.0.1:8000/v1/users/u-7/recommendations -H "Authorization: Bearer $TOKEN"',
            "for user u-7",
        ),
        (
            "curl -s -X POST http://127.0.0.1:8000/v1/assistant/queries -H 'content-type: application/json' "
            '-H "Authorization: Bearer $TOKEN" '
            """-d '{"text": "hi", "locale": "en-US", "device_id": "demo-device", "region": "HK"}'""",
            "for region HK",
        ),
        ('curl -s http://127.0.0.1:8000/v1/admin/features -H "Authorization: Bearer $TOKEN"', "admin token"),
        (
            "curl -s http://127.0.0.1:8000/v1/users/u-42/recommendations "
            '-H "Authorization: Bearer $ADMIN_TOKEN"',
            "takes a device token",
        ),
        (
            "curl -s -X POST http://127.0.0.1:8000/v1/admin/features/changes "
            """-H 'content-type: application/json' -H "Authorization: Bearer $ADMIN_TOKEN" """
            """-d '{"feature": "assistant", "region": "HK", "status": "filed", """
            """"requested_by": "admin:wang"}'""",
            "requested_by",
        ),
        (
            "curl -s -X DELETE 'http://127.0.0.1:8000/v1/users/u-42?requested_by=user' "
            '-H "Authorization: Bearer $ADMIN_TOKEN"',
            "not as user",
        ),
        (
            "curl -s -X PUT http://127.0.0.1:8000/v1/users/u-42/consent -H 'content-type: application/json' "
            '-H "Authorization: Bearer $TOKEN" -d \'{"granted_scopes": [], "changed_by": "admin"}\'',
            "a device acts as user, not as admin",
        ),
        ("TOKEN=$(cat token.txt)", "only NAME=$(lingxi token issue"),
        ("TOKEN=$(.venv/bin/lingxi token issue --device demo-device --role operator)", "--role is for admin"),
        ("ADMIN_TOKEN=$(.venv/bin/lingxi token issue --admin li.wei)", "needs --role"),
        ("ADMIN_TOKEN=$(.venv/bin/lingxi token issue --admin li.wei --role root)", "needs --role"),
        ("TOKEN=$(.venv/bin/lingxi token issue --device demo-device --expires 1h)", "No such option"),
        ("TOKEN=$(.venv/bin/lingxi token issue --device demo-device; rm -rf /)", "that one command"),
        (
            REDIS_USERS.replace(
                'vision="$LINGXI_REDIS_PASSWORD_VISION"', 'vision="$LINGXI_REDIS_PASSWORD_GATEWAY"'
            ),
            "not lingxi-gateway's",
        ),
        (REDIS_USERS.replace("$LINGXI_REDIS_PASSWORD_VISION", "s3cret-in-the-docs"), "not a written value"),
        (
            REDIS_USERS.replace(' --from-literal=scaler="$LINGXI_REDIS_PASSWORD_SCALER"', ""),
            "manifests read",
        ),
        (REDIS_USERS.replace("$LINGXI_REDIS_PASSWORD_VISION", "$LINGXI_REDIS_PASSWORD_VISON"), "VISON"),
        (".venv/bin/lingxi redis acl --out users.acl", "No such option"),
        (
            "kubectl -n lingxi-dev create secret generic lingxi-redis-acl "
            "--from-file=acl=.lingxi/redis/users.acl",
            "manifests read",
        ),
        ("make deploy", "no target 'deploy'"),
        ("make run REPLICA=assistant=3", "does not use REPLICA"),
        ("export PASSWORD=secret", "not a variable"),
        ("rm -rf .lingxi", "allow-list"),
    ],
)
def test_wrong_commands_are_refused(
    command: str, why: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    problems = signing_checker().check(command)
    assert problems, f"{command!r} passed"
    assert why in problems[0], problems


def test_tokens_are_signed_with_the_exported_key_and_checked_against_each_route() -> None:
    checker = Checker()
    url = "http://127.0.0.1:8000/v1"
    unsigned = checker.check(f'curl -s {url}/admin/features -H "Authorization: Bearer $TOKEN"')
    assert "$TOKEN is neither exported above" in unsigned[0], unsigned
    no_key = checker.check("TOKEN=$(.venv/bin/lingxi token issue --device demo-device)")
    assert "--private-key" in no_key[0], no_key
    assert checker.check("export LINGXI_AUTH_PRIVATE_KEY=keys/dev.pem LINGXI_AUTH_KEY_ID=dev") == []
    assert checker.check("AUDITOR_TOKEN=$(.venv/bin/lingxi token issue --admin li.wei --role auditor)") == []
    assert checker.check(f'curl -s {url}/admin/features -H "Authorization: Bearer $AUDITOR_TOKEN"') == []
    erasure = checker.check(f'curl -s {url}/users/u-42/erasure -H "Authorization: Bearer $AUDITOR_TOKEN"')
    assert "needs the role compliance_officer" in erasure[0], erasure
    assert checker.check("TOKEN=$(.venv/bin/lingxi token issue --device demo-device)") == []
    nobody = checker.check(f'curl -s {url}/users/u-42/erasure -H "Authorization: Bearer $TOKEN"')
    assert "issue it with --user" in nobody[0], nobody


def test_a_file_written_earlier_may_be_read_later(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    checker = Checker()
    assert checker.check(".venv/bin/lingxi audit verify --file out/audit.jsonl") != []
    assert checker.check(".venv/bin/lingxi audit export -o out/audit.jsonl --since 7d") == []
    assert checker.check(".venv/bin/lingxi audit verify --file out/audit.jsonl") == []
    assert checker.check("export GATEWAY=http://127.0.0.1:9000") == []
    for line in SIGNING:
        assert checker.check(line) == [], line
    assert (
        checker.check('curl -s "$GATEWAY/v1/users/$USER_ID/erasure" -H "Authorization: Bearer $TOKEN"') == []
    )
