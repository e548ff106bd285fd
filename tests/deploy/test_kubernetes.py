"""Checks of deploy/k8s: both overlays render, every object matches its schema, and the project's rules hold.

`kubectl kustomize` renders each overlay (kubectl has kustomize built in; without kubectl on PATH these
tests fail rather than skip, since nothing else here would notice a broken overlay). Built-in kinds are
validated against the Kubernetes JSON schemas of `kubernetes-validate`, strictly (unknown fields are
errors); KEDA's ScaledObject and TriggerAuthentication against the models `cloudcoil-models-keda` generates
from KEDA's CRDs, read back and compared, so an unknown field or a value of the wrong type (KEDA wants every
trigger metadata value as a string) is an error too.

The rules are derived from the code, not restated: the services are the folders under services/, the
streams each one consumes come from its `.consumer(EventType)` calls and the event classes' `stream`
(parsed, not imported: importing the assistant or vision loads their models).
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "production")
KUBERNETES_VERSION = "1.32"
"""The Kubernetes minor the manifests are validated for (the one kubectl on the CI machine speaks)."""

GATEWAY = "gateway"
"""Scales on CPU (HPA); every other service that consumes streams scales on its backlog (KEDA)."""
SLOW_STARTERS = {"assistant": 120, "vision": 120}
"""Services whose models load before the probes answer, and the start-up time (s) their probe must allow."""
MIN_STARTUP_S = 30
USER_ID = 10001  # deploy/Dockerfile: the image's user `lingxi`
HTTP_PORT = 8080
REDIS_SECRET_KEYS = {"url", "address", "username"}
"""What the dev overlay's Secret lingxi-redis holds: no password, each user's is in REDIS_USERS_SECRET."""
REDIS_USERS_SECRET = "lingxi-redis-users"
"""Each Redis ACL user's password, under the service's name (and `operator`): created, never rendered."""
REDIS_ACL_SECRET = "lingxi-redis-acl"
"""The dev Redis's ACL file (`lingxi redis acl`), key users.acl: created, never rendered."""
CA_MOUNT = "/etc/lingxi/redis-tls"

Obj = dict[str, Any]


# --------------------------------------------------------------------------- rendering


@pytest.fixture(scope="module")
def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        pytest.fail(
            "kubectl is not on PATH: it renders deploy/k8s (`kubectl kustomize`, kustomize is built in). "
            f"Install kubectl {KUBERNETES_VERSION} (it includes kustomize) and run the tests again.",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="module")
def rendered(kubectl: str) -> dict[str, list[Obj]]:
    """Both overlays, rendered side by side (each `kubectl kustomize` takes about half a second)."""
    runs = {
        overlay: subprocess.Popen(
            [kubectl, "kustomize", str(K8S / "overlays" / overlay)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for overlay in OVERLAYS
    }
    out: dict[str, list[Obj]] = {}
    for overlay, run in runs.items():
        try:
            stdout, stderr = run.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            run.kill()
            raise
        assert run.returncode == 0, f"`kubectl kustomize deploy/k8s/overlays/{overlay}` failed:\n{stderr}"
        objects = [doc for doc in yaml.safe_load_all(stdout) if doc]
        assert objects, f"overlay {overlay} renders no objects"
        out[overlay] = objects
    return out


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def objects(rendered: dict[str, list[Obj]], overlay: str) -> list[Obj]:
    return rendered[overlay]


def of_kind(objects: list[Obj], kind: str) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def only(objects: list[Obj], kind: str, name: str) -> Obj:
    found = of_kind(objects, kind).get(name)
    assert found is not None, f"no {kind} named {name!r} is rendered"
    return found


def container(deployment: Obj) -> Obj:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, f"Deployment {deployment['metadata']['name']} should run one container"
    only_one: Obj = containers[0]
    return only_one


def env_of(c: Obj) -> dict[str, Obj]:
    return {e["name"]: e for e in c.get("env", [])}


def config_map(objects: list[Obj], deployment: Obj) -> dict[str, str]:
    """The ConfigMap values a Deployment's container reads with envFrom."""
    names = [
        s["configMapRef"]["name"] for s in container(deployment).get("envFrom", []) if "configMapRef" in s
    ]
    maps = of_kind(objects, "ConfigMap")
    values: dict[str, str] = {}
    for name in names:
        assert name in maps, f"{deployment['metadata']['name']} reads ConfigMap {name}, which is not rendered"
        values.update(maps[name].get("data", {}))
    return values


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def seconds(probe: Obj) -> int:
    """How long a probe tolerates failures before it gives up (start-up budget)."""
    return int(probe.get("initialDelaySeconds", 0)) + int(probe.get("periodSeconds", 10)) * int(
        probe.get("failureThreshold", 3)
    )


# --------------------------------------------------------------------------- what the code says


def service_names() -> list[str]:
    return sorted(p.parent.name for p in (ROOT / "services").glob("*/pyproject.toml"))


@cache
def sources(needle: str) -> tuple[tuple[Path, ast.Module], ...]:
    """The parsed modules of shared/src and services/*/src whose text contains ``needle``."""
    found = []
    for path in sorted(
        [*(ROOT / "shared" / "src").rglob("*.py"), *(ROOT / "services").glob("*/src/**/*.py")]
    ):
        text = path.read_text(encoding="utf-8")
        if needle in text:
            found.append((path, ast.parse(text)))
    return tuple(found)


def _module_assignments(tree: ast.Module) -> dict[str, ast.expr]:
    out: dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            out[node.target.id] = node.value
    return out


@cache
def event_streams() -> dict[str, str]:
    """Event class name -> its stream, from the `stream = "..."` class variables in shared lingxi.events."""
    direct: dict[str, str] = {}
    bases: dict[str, list[str]] = {}
    for path in sorted((ROOT / "shared" / "src" / "lingxi" / "events").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef):
                continue
            bases[node.name] = [b.id for b in node.bases if isinstance(b, ast.Name)]
            for stmt in node.body:
                target = stmt.targets[0] if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 else None
                if isinstance(stmt, ast.AnnAssign):
                    target = stmt.target
                value = getattr(stmt, "value", None)
                if (
                    isinstance(target, ast.Name)
                    and target.id == "stream"
                    and isinstance(value, ast.Constant)
                    and isinstance(value.value, str)
                ):
                    direct[node.name] = value.value

    def inherited(name: str, seen: frozenset[str] = frozenset()) -> str | None:
        if name in direct:
            return direct[name]
        for base in bases.get(name, []):
            if base not in seen and (found := inherited(base, seen | {name})):
                return found
        return None

    streams = {name: s for name in bases if (s := inherited(name))}
    assert streams, "no event class with a `stream` found under shared/src/lingxi/events"
    return streams


def _consumed_types(path: Path, tree: ast.Module) -> Iterator[tuple[str, int]]:
    """(event class name, line) of each `<x>.consumer(EventType, ...)` call in a module.

    A loop variable (`for result_type, ... in RESULTS: service.consumer(result_type)`) is followed to the
    module-level list it iterates."""
    assigned = _module_assignments(tree)
    imported = {
        alias.asname or alias.name: alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    loops: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.For) and isinstance(node.iter, ast.Name):
            rows = assigned.get(node.iter.id)
            names = node.target.elts if isinstance(node.target, ast.Tuple) else [node.target]
            if not isinstance(rows, ast.List | ast.Tuple):
                continue
            for index, name in enumerate(names):
                if not isinstance(name, ast.Name):
                    continue
                values = []
                for row in rows.elts:
                    item = row.elts[index] if isinstance(row, ast.Tuple) else row
                    if isinstance(item, ast.Name):
                        values.append(item.id)
                loops[name.id] = values
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "consumer"
            and node.args
        ):
            arg = node.args[0]
            if not isinstance(arg, ast.Name):
                pytest.fail(
                    f"{path.relative_to(ROOT)}:{node.lineno}: cannot tell which event .consumer() takes"
                )
            for type_name in loops.get(arg.id, [arg.id]):
                yield imported.get(type_name, type_name), node.lineno


@cache
def consumed_streams() -> dict[str, frozenset[str]]:
    """Service -> the streams it consumes (its consumer group is the service's name)."""
    known = event_streams()
    out: dict[str, frozenset[str]] = {}
    for service in service_names():
        streams = set()
        folder = ROOT / "services" / service / "src"
        for path, tree in sources(".consumer("):
            if not path.is_relative_to(folder):
                continue
            for type_name, line in _consumed_types(path, tree):
                assert type_name in known, (
                    f"{path.relative_to(ROOT)}:{line}: .consumer({type_name}) but no event class "
                    f"{type_name} with a `stream` exists in lingxi.events"
                )
                streams.add(known[type_name])
        out[service] = frozenset(streams)
    return out


@cache
def partner_key_variables() -> frozenset[str]:
    """The API key variables the assistant's packaged model-partner configuration names."""
    path = ROOT / "services" / "assistant" / "src" / "lingxi_assistant" / "partners" / "providers.yaml"
    providers = yaml.safe_load(path.read_text(encoding="utf-8"))["providers"]
    return frozenset(p["api_key_env"] for p in providers.values() if p.get("api_key_env"))


def setting_variables() -> frozenset[str]:
    """Every LINGXI_* variable the code reads: pydantic settings fields under their env_prefix, plus the
    LINGXI_* names the code spells out (os.environ lookups)."""
    names: set[str] = set()
    for _, tree in sources("LINGXI_"):
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and re.fullmatch(r"LINGXI_[A-Z0-9_]+", str(node.value)):
                names.add(str(node.value))
            if not isinstance(node, ast.ClassDef):
                continue
            prefix = None
            for stmt in node.body:
                if (
                    isinstance(stmt, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == "model_config" for t in stmt.targets)
                    and isinstance(stmt.value, ast.Call)
                ):
                    for keyword in stmt.value.keywords:
                        if keyword.arg == "env_prefix" and isinstance(keyword.value, ast.Constant):
                            prefix = str(keyword.value.value)
            if prefix is None and any(
                isinstance(b, ast.Name) and b.id == "ServiceSettings" for b in node.bases
            ):
                prefix = "LINGXI_"
            if prefix:
                for stmt in node.body:
                    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                        names.add(prefix + stmt.target.id.upper())
    return frozenset(names)


def graceful_timeout_s() -> float:
    settings = ast.parse((ROOT / "shared" / "src" / "lingxi" / "runtime" / "settings.py").read_text("utf-8"))
    for node in ast.walk(settings):
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == "graceful_timeout_s":
            call = node.value
            assert isinstance(call, ast.Call)
            for keyword in call.keywords:
                if keyword.arg == "default" and isinstance(keyword.value, ast.Constant):
                    value = keyword.value.value
                    assert isinstance(value, int | float), f"graceful_timeout_s default {value!r}"
                    return float(value)
    raise AssertionError("ServiceSettings.graceful_timeout_s has no literal default")


def test_the_code_derivation_finds_the_consumers() -> None:
    consumed = consumed_streams()
    assert consumed.get("assistant") == frozenset({"assistant.query.received"}), consumed
    assert all(consumed[s] for s in service_names()), f"a service consumes nothing? {consumed}"


# --------------------------------------------------------------------------- schemas


@cache
def keda_models() -> dict[str, Any]:
    from cloudcoil.models.keda import v1alpha1

    return {"ScaledObject": v1alpha1.ScaledObject, "TriggerAuthentication": v1alpha1.TriggerAuthentication}


def _read_back_differences(given: Any, read: Any, path: str) -> Iterator[str]:
    if isinstance(given, dict) and isinstance(read, dict):
        for key, value in given.items():
            if key not in read:
                yield f"{path}.{key}: not a field of the schema"
            else:
                yield from _read_back_differences(value, read[key], f"{path}.{key}")
    elif isinstance(given, list) and isinstance(read, list) and len(given) == len(read):
        for index, (a, b) in enumerate(zip(given, read, strict=True)):
            yield from _read_back_differences(a, b, f"{path}[{index}]")
    elif type(given) is not type(read) or given != read:
        yield f"{path}: {given!r} does not have the schema's type (read as {read!r})"


def schema_errors(obj: Obj) -> list[str]:
    """What is wrong with one rendered object, by its schema (empty: valid)."""
    import kubernetes_validate
    import pydantic

    if obj["apiVersion"].split("/")[0] == "keda.sh":
        model = keda_models().get(obj["kind"])
        if model is None:
            return [f"no KEDA schema for kind {obj['kind']}"]
        try:
            parsed = model.model_validate(obj)
        except pydantic.ValidationError as error:
            return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()]
        read = parsed.model_dump(mode="json", by_alias=True, exclude_unset=True)
        return list(_read_back_differences(obj, read, "$"))
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{'.'.join(map(str, error.path))}: {error.message}"]
    except kubernetes_validate.SchemaNotFoundError as error:
        return [error.message]
    return []


@pytest.fixture(scope="module")
def schemas_read_once() -> Iterator[None]:
    """kubernetes-validate reads its schema files again for every object (1.3 MB of definitions each
    time); reading each once takes the validation of both overlays from seconds to a fraction of one."""
    import kubernetes_validate.utils

    read = getattr(kubernetes_validate.utils, "schema_contents", None)
    if read is None:  # another layout: validate at its own pace
        yield
        return
    with mock.patch.object(kubernetes_validate.utils, "schema_contents", cache(read)):
        yield


@pytest.mark.usefixtures("schemas_read_once")
def test_every_object_matches_its_schema(objects: list[Obj], overlay: str) -> None:
    problems = [f"{o['kind']}/{o['metadata']['name']}: {p}" for o in objects for p in schema_errors(o)]
    assert not problems, f"overlay {overlay} renders objects their schemas reject:\n" + "\n".join(problems)


def test_the_schema_checks_catch_mistakes() -> None:
    """The validation above is only worth something if it rejects: an unknown field, a wrong type."""
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i", "readinessprobe": {}}]},
            },
        },
    }
    assert schema_errors(deployment), (
        "a misspelt container field (readinessprobe) passed the Kubernetes schema"
    )
    scaled: Obj = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "x"},
        "spec": {
            "scaleTargetRef": {"name": "x"},
            "maxReplicas": 3,
            "triggers": [{"type": "redis-streams", "metadata": {"stream": "s", "enableTLS": True}}],
        },
    }
    errors = " ".join(schema_errors(scaled))
    assert "enableTLS" in errors, f"a boolean trigger metadata value passed the KEDA schema: {errors}"
    scaled["spec"]["triggers"][0]["metadata"]["enableTLS"] = "true"
    errors = " ".join(schema_errors(scaled))
    assert "maxReplicas" in errors, f"an unknown ScaledObject field passed the KEDA schema: {errors}"
    assert schema_errors({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "x"}})


# --------------------------------------------------------------------------- every service


def test_every_service_has_a_hardened_deployment(objects: list[Obj], overlay: str) -> None:
    deployments = of_kind(objects, "Deployment")
    assert set(deployments) == set(service_names()), (
        f"overlay {overlay}: Deployments {sorted(deployments)} do not match services/ {service_names()}"
    )
    for name, deployment in deployments.items():
        where = f"overlay {overlay}, Deployment {name}"
        pod = deployment["spec"]["template"]["spec"]
        c = container(deployment)
        assert "replicas" not in deployment["spec"], f"{where}: sets replicas, which its autoscaler owns"

        image = c["image"]
        assert re.fullmatch(rf"(.+/)?lingxi-{name}:[\w.-]+", image), (
            f"{where}: image {image!r} is not lingxi-{name}:<tag> (set by kustomize `images:`)"
        )

        resources = c.get("resources", {})
        for bound in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                assert resource in resources.get(bound, {}), f"{where}: no {resource} {bound}"

        probes = {k: c.get(k) for k in ("readinessProbe", "livenessProbe", "startupProbe")}
        assert (probes["readinessProbe"] or {}).get("httpGet", {}).get("path") == "/readyz", (
            f"{where}: the readiness probe must GET /readyz (Redis reachable, consuming)"
        )
        assert (probes["livenessProbe"] or {}).get("httpGet", {}).get("path") == "/healthz", (
            f"{where}: the liveness probe must GET /healthz"
        )
        startup = probes["startupProbe"]
        assert startup, f"{where}: needs a startup probe (the app module loads before anything answers)"
        assert startup.get("httpGet", {}).get("path") == "/healthz", (
            f"{where}: the startup probe must GET /healthz"
        )
        needed = SLOW_STARTERS.get(name, MIN_STARTUP_S)
        assert seconds(startup) >= needed, (
            f"{where}: the startup probe gives up after {seconds(startup)} s; {name} needs {needed} s"
        )
        for probe in probes.values():
            port = (probe or {}).get("httpGet", {}).get("port")
            assert port in ("http", HTTP_PORT), f"{where}: a probe targets port {port!r}, not http"
        ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
        assert ports.get("http") == HTTP_PORT, f"{where}: container port http must be {HTTP_PORT}: {ports}"

        pod_security = pod.get("securityContext", {})
        security = c.get("securityContext", {})
        run_as_non_root = security.get("runAsNonRoot", pod_security.get("runAsNonRoot"))
        run_as_user = security.get("runAsUser", pod_security.get("runAsUser"))
        seccomp = security.get("seccompProfile", pod_security.get("seccompProfile", {}))
        assert run_as_non_root is True, f"{where}: runAsNonRoot must be true"
        assert run_as_user == USER_ID, f"{where}: runAsUser {run_as_user}, the image's user is {USER_ID}"
        assert seccomp.get("type") == "RuntimeDefault", f"{where}: seccompProfile must be RuntimeDefault"
        assert security.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation"
        assert security.get("readOnlyRootFilesystem") is True, f"{where}: readOnlyRootFilesystem"
        assert "ALL" in security.get("capabilities", {}).get("drop", []), (
            f"{where}: must drop ALL capabilities"
        )
        assert not security.get("privileged"), f"{where}: privileged"
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        assert "emptyDir" in volumes.get(mounts.get("/tmp", ""), {}), (
            f"{where}: the root filesystem is read-only, so /tmp must be an emptyDir"
        )

        env = env_of(c)
        replica = env.get("LINGXI_REPLICA", {}).get("valueFrom", {}).get("fieldRef", {})
        assert replica.get("fieldPath") == "metadata.name", (
            f"{where}: LINGXI_REPLICA (the consumer name) must be the pod's name (fieldRef metadata.name)"
        )
        redis_url = env.get("LINGXI_REDIS_URL", {}).get("valueFrom", {}).get("secretKeyRef", {})
        assert (redis_url.get("name"), redis_url.get("key")) == ("lingxi-redis", "url"), (
            f"{where}: LINGXI_REDIS_URL must come from Secret lingxi-redis, key url"
        )
        settings = config_map(objects, deployment)
        values = {**settings, **{k: e["value"] for k, e in env.items() if "value" in e}}
        assert values.get("LINGXI_LOG_FORMAT") == "json", f"{where}: LINGXI_LOG_FORMAT must be json"
        assert values.get("LINGXI_HTTP_PORT", str(HTTP_PORT)) == str(HTTP_PORT), f"{where}: LINGXI_HTTP_PORT"
        unknown = sorted((set(values) | set(env)) - setting_variables() - partner_key_variables())
        assert not unknown, f"{where}: sets {unknown}, which no code reads (a typo?)"

        graceful = float(values.get("LINGXI_GRACEFUL_TIMEOUT_S", graceful_timeout_s()))
        pre_stop = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
        pause = float(pre_stop[-1]) if pre_stop[:1] == ["sleep"] else 0.0
        grace = pod.get("terminationGracePeriodSeconds", 30)
        assert grace > graceful + pause, (
            f"{where}: terminationGracePeriodSeconds {grace} must exceed the graceful timeout ({graceful} s) "
            f"plus the preStop pause ({pause} s), or in-flight reads are killed mid-commit"
        )

        annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
        assert annotations.get("prometheus.io/scrape") == "true", f"{where}: pods must ask to be scraped"
        assert annotations.get("prometheus.io/port") == str(HTTP_PORT), f"{where}: prometheus.io/port"
        assert annotations.get("prometheus.io/path") == "/metrics", f"{where}: prometheus.io/path"


def test_every_service_has_a_service_and_a_disruption_budget(objects: list[Obj], overlay: str) -> None:
    services = of_kind(objects, "Service")
    budgets = list(of_kind(objects, "PodDisruptionBudget").values())
    for name, deployment in of_kind(objects, "Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        where = f"overlay {overlay}, {name}"
        service = services.get(name)
        assert service, f"{where}: no Service named {name}"
        assert selects(service["spec"]["selector"], labels), f"{where}: its Service does not select its pods"
        assert any(p.get("targetPort") == "http" for p in service["spec"]["ports"]), (
            f"{where}: its Service does not forward to the container port http"
        )
        matching = [b for b in budgets if selects(b["spec"]["selector"]["matchLabels"], labels)]
        assert len(matching) == 1, f"{where}: needs exactly one PodDisruptionBudget, found {len(matching)}"
        spec = matching[0]["spec"]
        assert spec.get("maxUnavailable") == 1 or "minAvailable" in spec, f"{where}: PDB {spec}"


# --------------------------------------------------------------------------- scaling


def redis_triggers(scaled: Obj) -> list[dict[str, str]]:
    """The metadata of a ScaledObject's redis-streams triggers (other triggers may sit beside them)."""
    return [t["metadata"] for t in scaled["spec"]["triggers"] if t["type"] == "redis-streams"]


def test_every_consumer_scales_on_its_own_streams(objects: list[Obj], overlay: str) -> None:
    scaled_objects = of_kind(objects, "ScaledObject")
    auths = of_kind(objects, "TriggerAuthentication")
    consumers = {s: streams for s, streams in consumed_streams().items() if streams and s != GATEWAY}
    assert set(scaled_objects) == set(consumers), (
        f"overlay {overlay}: ScaledObjects {sorted(scaled_objects)}; services that consume streams and "
        f"scale on their backlog: {sorted(consumers)}"
    )
    for name, streams in consumers.items():
        scaled = scaled_objects[name]
        where = f"overlay {overlay}, ScaledObject {name}"
        target = scaled["spec"]["scaleTargetRef"]
        assert (target["name"], target.get("kind", "Deployment")) == (name, "Deployment"), (
            f"{where}: {target}"
        )
        low, high = scaled["spec"].get("minReplicaCount", 0), scaled["spec"].get("maxReplicaCount", 100)
        assert 1 <= low <= high, f"{where}: replicas {low}..{high} (at least one replica, max >= min)"
        metadata = redis_triggers(scaled)
        assert {m["stream"] for m in metadata} == streams, (
            f"{where}: triggers watch streams {sorted({m['stream'] for m in metadata})}, but {name} "
            f"consumes {sorted(streams)} (its .consumer() calls)"
        )
        for m in metadata:
            assert m.get("consumerGroup") == name, f"{where}: trigger on {m['stream']} watches group {m}"
        for stream in streams:
            kinds = [m for m in metadata if m["stream"] == stream]
            assert any("pendingEntriesCount" in m and "lagCount" not in m for m in kinds), (
                f"{where}: no trigger on the pending entries of {stream}"
            )
            assert any("lagCount" in m and "activationLagCount" in m for m in kinds), (
                f"{where}: no trigger on the lag of {stream} (lagCount with activationLagCount)"
            )
        for trigger in (t for t in scaled["spec"]["triggers"] if t["type"] == "redis-streams"):
            ref = trigger.get("authenticationRef", {}).get("name")
            assert ref in auths, (
                f"{where}: trigger authenticates with {ref!r}, not a rendered TriggerAuthentication"
            )


def test_keda_reads_redis_from_the_secret_the_services_use(objects: list[Obj], overlay: str) -> None:
    """KEDA finds Redis where the services do (lingxi-redis) and reads the backlog as its own ACL user,
    lingxi-scaler, with that user's password from the Secret that holds every user's (the default user
    may only PING)."""
    from lingxi.redis_acl import SCALER

    for name, auth in of_kind(objects, "TriggerAuthentication").items():
        refs = {r["parameter"]: r for r in auth["spec"]["secretTargetRef"]}
        where = f"overlay {overlay}, {name}"
        assert {"address", "username", "password"} <= set(refs), f"{where}: {sorted(refs)}"
        others = {r["name"] for parameter, r in refs.items() if parameter != "password"}
        assert others == {"lingxi-redis"}, (
            f"{where}: KEDA must find Redis in the Secret the services read (lingxi-redis), reads {others}"
        )
        assert (refs["password"]["name"], refs["password"]["key"]) == (REDIS_USERS_SECRET, SCALER), (
            f"{where}: KEDA's password must be the scaler's, Secret {REDIS_USERS_SECRET} key {SCALER}: "
            f"{refs['password']}"
        )


def test_every_service_connects_to_redis_as_its_own_user(objects: list[Obj], overlay: str) -> None:
    """Each Deployment reads LINGXI_REDIS_PASSWORD from lingxi-redis-users under its own name, so each
    service is its own ACL user, lingxi-<service> (lingxi.redis_acl), allowed only its streams and keys."""
    from lingxi.redis_acl import SERVICE_KEYS

    keys: dict[str, str] = {}
    for name, deployment in of_kind(objects, "Deployment").items():
        where = f"overlay {overlay}, Deployment {name}"
        assert name in SERVICE_KEYS, f"{where}: lingxi.redis_acl lists no Redis user for {name}"
        env = env_of(container(deployment))
        ref = env.get("LINGXI_REDIS_PASSWORD", {}).get("valueFrom", {}).get("secretKeyRef", {})
        assert (ref.get("name"), ref.get("key")) == (REDIS_USERS_SECRET, name), (
            f"{where}: LINGXI_REDIS_PASSWORD must come from Secret {REDIS_USERS_SECRET}, key {name} "
            f"(its own user's password), found {env.get('LINGXI_REDIS_PASSWORD')}"
        )
        assert not ref.get("optional"), f"{where}: without its password the service would connect as nobody"
        assert "LINGXI_REDIS_USERNAME" not in env, (
            f"{where}: sets LINGXI_REDIS_USERNAME; its user is lingxi-{name}, the default"
        )
        keys[name] = ref["key"]
    assert len(set(keys.values())) == len(keys), f"overlay {overlay}: services share a Redis password: {keys}"
    secrets = set(of_kind(objects, "Secret"))
    assert not secrets & {REDIS_USERS_SECRET, REDIS_ACL_SECRET}, (
        f"overlay {overlay} renders {sorted(secrets)}: the Redis users' Secrets are created in the cluster "
        '(deploy/README.md, "Redis users"), never committed with values'
    )


def test_the_gateway_scales_on_cpu_and_publishes_only_the_device_api(
    objects: list[Obj], overlay: str
) -> None:
    hpas = [h for h in of_kind(objects, "HorizontalPodAutoscaler").values()]
    gateway_hpas = [h for h in hpas if h["spec"]["scaleTargetRef"]["name"] == GATEWAY]
    assert len(gateway_hpas) == 1, f"overlay {overlay}: the gateway needs one HorizontalPodAutoscaler"
    spec = gateway_hpas[0]["spec"]
    assert spec["scaleTargetRef"]["kind"] == "Deployment"
    assert any(m.get("resource", {}).get("name") == "cpu" for m in spec["metrics"]), (
        "the gateway scales on CPU"
    )
    assert 1 <= spec.get("minReplicas", 1) <= spec["maxReplicas"]

    ingresses = list(of_kind(objects, "Ingress").values())
    assert len(ingresses) == 1, f"overlay {overlay}: expected one Ingress, found {len(ingresses)}"
    paths = [p for rule in ingresses[0]["spec"]["rules"] for p in rule["http"]["paths"]]
    for path in paths:
        backend = path["backend"]["service"]
        assert (backend["name"], backend["port"].get("name")) == (GATEWAY, "http"), f"Ingress path {path}"
    published = [p["path"] for p in paths]
    for private in ("/v1/admin", "/healthz", "/readyz", "/metrics"):
        assert not any(
            private.startswith(p.rstrip("/") + "/") or private == p for p in published if p != "/"
        ), f"overlay {overlay}: the Ingress publishes {private} (paths {published})"
    assert "/" not in published, "the Ingress must not publish the gateway's whole root (admin, metrics)"
    for route in ("/v1/assistant", "/v1/vision", "/v1/requests", "/v1/telemetry", "/v1/devices", "/v1/users"):
        assert route in published, f"overlay {overlay}: the Ingress does not publish {route}"


# --------------------------------------------------------------------------- overlays


def test_dev_runs_its_own_redis_with_persistence(rendered: dict[str, list[Obj]]) -> None:
    objects = rendered["dev"]
    redis = only(objects, "StatefulSet", "redis")
    c = redis["spec"]["template"]["spec"]["containers"][0]
    words = " ".join([*c.get("command", []), *c.get("args", [])])
    assert re.search(r"--appendonly\s+yes\b", words), f"dev Redis must run with --appendonly yes: {words!r}"
    major = re.search(r"redis:(\d+)", c["image"])
    assert major, f"dev Redis image {c['image']} has no major version tag"
    assert int(major.group(1)) >= 7, f"dev Redis {c['image']}: consumer-group lag needs Redis 7+"
    claims = {t["metadata"]["name"] for t in redis["spec"].get("volumeClaimTemplates", [])}
    data = [m for m in c.get("volumeMounts", []) if m["mountPath"] == "/data"]
    assert [m["name"] for m in data] in ([claim] for claim in claims), (
        "dev Redis must keep /data on a PersistentVolumeClaim"
    )
    service = only(objects, "Service", "redis")
    assert selects(service["spec"]["selector"], redis["spec"]["template"]["metadata"]["labels"])
    assert redis["spec"]["serviceName"] == "redis"

    import base64

    secret = only(objects, "Secret", "lingxi-redis")
    values = {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}
    values.update(secret.get("stringData", {}))
    assert set(values) >= REDIS_SECRET_KEYS, f"dev Secret lingxi-redis has {sorted(values)}"
    url = urlsplit(values["url"])
    assert (url.scheme, url.hostname, url.port or 6379) == ("redis", "redis", 6379), values["url"]
    assert url.username is None, (
        f"dev url {values['url']!r} names a user: each service connects as its own (LINGXI_REDIS_PASSWORD)"
    )
    from lingxi.redis_acl import SCALER, user_name

    assert values["username"] == user_name(SCALER), (
        f"dev Secret lingxi-redis: KEDA's username {values['username']!r} must be {user_name(SCALER)} "
        "(the default user may only PING)"
    )
    assert "password" not in values, "dev Secret lingxi-redis: KEDA's password is in lingxi-redis-users"
    namespace = redis["metadata"]["namespace"]
    host, _, port = values["address"].partition(":")
    assert (host.split(".")[:3], port) == (["redis", namespace, "svc"], "6379"), (
        f"KEDA's operator runs in its own namespace: address {values['address']!r} must name "
        f"redis.{namespace}.svc:6379"
    )
    for scaled in of_kind(objects, "ScaledObject").values():
        assert all(m.get("enableTLS", "false") == "false" for m in redis_triggers(scaled)), (
            "dev Redis has no TLS"
        )


def test_dev_redis_loads_its_users_from_the_acl_secret(rendered: dict[str, list[Obj]]) -> None:
    """The dev Redis starts with --aclfile pointing into a read-only mount of the Secret lingxi-redis-acl
    (key users.acl, what `lingxi redis acl` writes); its probes still PING, which the default user may."""
    redis = only(rendered["dev"], "StatefulSet", "redis")
    pod = redis["spec"]["template"]["spec"]
    c = pod["containers"][0]
    words = [*c.get("command", []), *c.get("args", [])]
    assert "--aclfile" in words[:-1], f"dev Redis must start with --aclfile: {words}"
    acl_path = words[words.index("--aclfile") + 1]
    mounts = [m for m in c.get("volumeMounts", []) if acl_path.startswith(m["mountPath"].rstrip("/") + "/")]
    assert len(mounts) == 1, f"dev Redis: --aclfile {acl_path} is on no volume mount"
    mount = mounts[0]
    assert mount.get("readOnly") is True, f"dev Redis: the ACL mount {mount} must be read-only"
    assert "subPath" not in mount, "dev Redis: a subPath mount would never see a changed Secret"
    volume = {v["name"]: v for v in pod.get("volumes", [])}.get(mount["name"], {})
    secret = volume.get("secret", {})
    assert secret.get("secretName") == REDIS_ACL_SECRET, (
        f"dev Redis: the ACL file must come from Secret {REDIS_ACL_SECRET}, volume is {volume}"
    )
    relative = acl_path[len(mount["mountPath"].rstrip("/")) + 1 :]
    items = {i["path"]: i["key"] for i in secret.get("items", [])} or {relative: relative}
    assert items.get(relative) == "users.acl", (
        f"dev Redis: {acl_path} must be the Secret's key users.acl, items are {secret.get('items')}"
    )
    for kind in ("readinessProbe", "livenessProbe"):
        command = c.get(kind, {}).get("exec", {}).get("command", [])
        assert command == ["redis-cli", "ping"], (
            f"dev Redis {kind} {command}: PING as the default user, the one command it may run"
        )


def test_production_uses_a_managed_redis_over_tls(rendered: dict[str, list[Obj]]) -> None:
    objects = rendered["production"]
    assert not of_kind(objects, "Secret"), "production must reference the existing Secret, not render one"
    assert not of_kind(objects, "StatefulSet"), "production uses a managed Redis, not one in the cluster"
    for name, scaled in of_kind(objects, "ScaledObject").items():
        for m in redis_triggers(scaled):
            assert m.get("enableTLS") == "true", f"production ScaledObject {name}: trigger {m} without TLS"
        assert scaled["spec"].get("minReplicaCount", 0) >= 2, (
            f"production ScaledObject {name}: min 2 replicas"
        )
    for auth in of_kind(objects, "TriggerAuthentication").values():
        refs = {r["parameter"]: r for r in auth["spec"]["secretTargetRef"]}
        assert refs.get("ca", {}).get("key") == "ca.crt", "KEDA must verify the Redis certificate (ca)"
    for name, deployment in of_kind(objects, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        mounts = {m["mountPath"]: m["name"] for m in container(deployment).get("volumeMounts", [])}
        ca = volumes.get(mounts.get(CA_MOUNT, ""), {}).get("secret", {})
        assert ca.get("secretName") == "lingxi-redis", f"production {name}: the Redis CA is not at {CA_MOUNT}"
        assert all(v.get("secret", {}).get("secretName") != REDIS_ACL_SECRET for v in volumes.values()), (
            f"production {name}: the managed Redis has its users (ACL SETUSER), nothing mounts an ACL file"
        )
        keys = {t["topologyKey"] for t in pod.get("topologySpreadConstraints", [])}
        assert "topology.kubernetes.io/zone" in keys, f"production {name}: replicas must spread over zones"
    gateway = [h for h in of_kind(objects, "HorizontalPodAutoscaler").values()]
    assert all(h["spec"]["minReplicas"] >= 2 for h in gateway), "production runs at least two gateways"
    assert all(i["spec"].get("tls") for i in of_kind(objects, "Ingress").values()), "the Ingress needs TLS"


def test_overlays_change_size_not_shape(rendered: dict[str, list[Obj]]) -> None:
    """Dev asks for less than production; both run the same services with the same streams."""

    def requests(objects: list[Obj]) -> dict[str, str]:
        return {
            n: container(d)["resources"]["requests"]["cpu"] for n, d in of_kind(objects, "Deployment").items()
        }

    def millicores(value: str) -> float:
        return float(value[:-1]) if value.endswith("m") else float(value) * 1000

    dev, production = requests(rendered["dev"]), requests(rendered["production"])
    for name in dev:
        assert millicores(dev[name]) <= millicores(production[name]), f"{name}: dev asks for more CPU"
    for kind in ("ScaledObject", "Deployment", "PodDisruptionBudget", "Service"):
        apps = {n for n in of_kind(rendered["dev"], kind) if n != "redis"}
        assert apps == set(of_kind(rendered["production"], kind)), f"dev and production differ in {kind}s"


def test_namespaces_enforce_the_restricted_pod_security_standard(objects: list[Obj], overlay: str) -> None:
    """The API server then refuses any pod of ours that runs as root or keeps capabilities."""
    namespaces = of_kind(objects, "Namespace")
    assert len(namespaces) == 1, f"overlay {overlay} should create its one namespace"
    (name, namespace), *_ = namespaces.items()
    labels = namespace["metadata"].get("labels", {})
    assert labels.get("pod-security.kubernetes.io/enforce") == "restricted", f"namespace {name}: {labels}"
    assert {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"} == {name}
