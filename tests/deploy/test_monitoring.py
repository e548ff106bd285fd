"""Checks of deploy/prometheus and deploy/grafana against what the services export.

The metric names a dashboard query may use are derived, not listed: the project's own metrics from the
`Counter(...)`/`Gauge(...)`/`Histogram(...)` calls in shared/src and services/*/src (parsed), FastStream's
from its Prometheus middleware, built the way the runtime builds it, on a registry of its own. A query on
a metric nobody exports, or on a label the metric does not have, draws an empty panel forever; these
tests make it a failure instead.
"""

from __future__ import annotations

import ast
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "lingxi-dashboard.json"
PROMETHEUS_COMPOSE = ROOT / "deploy" / "prometheus" / "prometheus.yml"
PROMETHEUS_KUBERNETES = ROOT / "deploy" / "prometheus" / "prometheus-kubernetes.yml"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
COMPOSE = ROOT / "docker-compose.yml"
K8S = ROOT / "deploy" / "k8s"

TARGET_LABELS = {"job", "instance", "namespace", "pod"}
"""Labels Prometheus adds to every series (deploy/prometheus/*.yml), besides the metric's own."""
OUTCOMES = {"ok", "duplicate", "retry", "deferred", "dead_lettered"}
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
}
PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset", "bool",
    "inf", "nan",
}  # fmt: skip


# --------------------------------------------------------------------------- what is exported


def _metric(kind: str, name: str, labels: list[str]) -> dict[str, tuple[str, frozenset[str]]]:
    """Sample name -> (family, labels) for one metric, as prometheus_client exposes it."""
    family = name.removesuffix("_total") if kind == "counter" else name
    extra = {"le"} if kind == "histogram" else set()
    return {family + s: (family, frozenset(labels) | extra) for s in SUFFIXES[kind]}


@cache
def project_metrics() -> dict[str, tuple[str, frozenset[str]]]:
    found: dict[str, tuple[str, frozenset[str]]] = {}
    paths = [*(ROOT / "shared" / "src").rglob("*.py"), *(ROOT / "services").glob("*/src/**/*.py")]
    for path in sorted(paths):
        text = path.read_text(encoding="utf-8")
        if "prometheus_client" not in text:
            continue
        tree = ast.parse(text)
        kinds = {
            alias.asname or alias.name: alias.name.lower()
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == "prometheus_client"
            for alias in node.names
            if alias.name in {"Counter", "Gauge", "Histogram", "Summary"}
        }
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in kinds):
                continue
            arguments = {k.arg: k.value for k in node.keywords if k.arg}
            name = node.args[0] if node.args else arguments.get("name")
            labels = node.args[2] if len(node.args) > 2 else arguments.get("labelnames")
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                continue
            label_names = [str(e.value) for e in getattr(labels, "elts", []) if isinstance(e, ast.Constant)]
            found.update(_metric(kinds[node.func.id], name.value, label_names))
    assert "lingxi_events_handled_total" in found, "the runtime's lingxi_events_handled_total was not found"
    return found


@cache
def faststream_metrics() -> dict[str, tuple[str, frozenset[str]]]:
    """What the runtime's RedisPrometheusMiddleware (lingxi.runtime.service) registers."""
    from faststream.redis.prometheus import RedisPrometheusMiddleware
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    RedisPrometheusMiddleware(registry=registry, app_name="probe")
    found: dict[str, tuple[str, frozenset[str]]] = {}
    for family in registry.collect():
        collector = registry._names_to_collectors.get(family.name) or registry._names_to_collectors.get(
            family.name + "_total"
        )
        labels = list(getattr(collector, "_labelnames", ()))
        name = family.name + ("_total" if family.type == "counter" else "")
        found.update(_metric(family.type, name, labels))
    assert found, "FastStream's Prometheus middleware registered no metric"
    return found


def exported() -> dict[str, tuple[str, frozenset[str]]]:
    return {**faststream_metrics(), **project_metrics()}


@cache
def runtime_strings() -> frozenset[str]:
    """String constants of the runtime: where the outcomes a query filters on are written."""
    out: set[str] = set()
    for path in (ROOT / "shared" / "src" / "lingxi" / "runtime").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                out.add(node.value)
    return frozenset(out)


# --------------------------------------------------------------------------- PromQL, enough of it


def promql_parts(expr: str) -> tuple[list[tuple[str, dict[str, str]]], list[str]]:
    """([(metric, {label: value matched})], [labels grouped by]) of a query, Grafana variables included."""
    text = re.sub(r"\$\{?\w+\}?", "x", expr)  # $service, ${datasource}, $__rate_interval
    selectors = []
    for match in re.finditer(r"(?<![\w.:])([a-zA-Z_:][\w:]*)\s*\{([^}]*)\}", text):
        matchers = dict(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)\s*\"([^\"]*)\"", match.group(2)))
        selectors.append((match.group(1), matchers))
    grouping = [
        label.strip()
        for clause in re.findall(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", text)
        for label in clause.split(",")
        if label.strip()
    ]
    bare = re.sub(r"\"[^\"]*\"|'[^']*'", "", text)
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", bare)
    bare = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", bare)
    names = re.findall(r"(?<![\w.:])([a-zA-Z_:][\w:]*)\b(?!\s*\()", bare)
    known = {name for name, _ in selectors}
    for name in names:
        if name not in PROMQL_WORDS and name not in known:
            selectors.append((name, {}))
            known.add(name)
    return selectors, grouping


def test_promql_parts_reads_a_query() -> None:
    selectors, grouping = promql_parts(
        'histogram_quantile(0.95, sum by (service, le) (rate(a_bucket{service=~"$service"}[5m]))) / b'
    )
    assert selectors == [("a_bucket", {"service": "x"}), ("b", {})]
    assert grouping == ["service", "le"]


# --------------------------------------------------------------------------- Grafana


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    try:
        data = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        pytest.fail(f"{DASHBOARD.relative_to(ROOT)} is not valid JSON: {error}", pytrace=False)
    assert isinstance(data, dict)
    return data


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in dashboard.get("panels", []):
        out.append(panel)
        out.extend(panel.get("panels", []))  # a collapsed row keeps its panels inside
    return out


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target, and of the template variables' label_values queries."""
    found = [(p.get("title", "?"), t["expr"]) for p in panels(dashboard) for t in p.get("targets", [])]
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        if m := re.fullmatch(r"label_values\((.*),\s*(\w+)\)", text.strip()):
            found.append((f"variable {variable['name']}", m.group(1)))
    return found


def test_dashboard_is_an_importable_dashboard(dashboard: dict[str, Any]) -> None:
    for key in ("uid", "title", "schemaVersion", "panels", "templating"):
        assert key in dashboard, f"the dashboard has no {key!r}"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    source = variables.get("datasource", {})
    assert (source.get("type"), source.get("query")) == ("datasource", "prometheus"), (
        "the dashboard needs a `datasource` variable of Prometheus data sources, so that it imports anywhere"
    )
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids)), f"panel ids repeat: {sorted(ids)}"
    for panel in panels(dashboard):
        grid = panel.get("gridPos", {})
        assert grid.get("x", 0) + grid.get("w", 0) <= 24, f"panel {panel.get('title')} overflows the grid"
        if panel["type"] == "row":
            continue
        assert panel.get("targets"), f"panel {panel.get('title')!r} has no query"
        for holder in (panel, *panel["targets"]):
            uid = holder.get("datasource", {}).get("uid")
            assert uid == "${datasource}", f"panel {panel.get('title')!r} is tied to data source {uid!r}"
        for target in panel["targets"]:
            assert target.get("expr", "").strip(), f"panel {panel.get('title')!r} has an empty query"


def query_problems(
    title: str,
    expr: str,
    outcomes: frozenset[str],
    extra: dict[str, tuple[str, frozenset[str]]] | None = None,
) -> list[str]:
    """What is wrong with a query: metrics nobody exports, labels they lack, outcomes never written."""
    metrics = {**exported(), **(extra or {})}
    problems = []
    selectors, grouping = promql_parts(expr)
    allowed = set(TARGET_LABELS)
    for name, matchers in selectors:
        if name not in metrics:
            problems.append(f"{title}: no service exports {name!r}")
            continue
        labels = metrics[name][1]
        allowed |= labels
        for label in matchers:
            if label not in labels | TARGET_LABELS:
                problems.append(f"{title}: {name} has no label {label!r} (it has {sorted(labels)})")
        for value in re.split(r"\|", matchers.get("outcome", "")):
            if value and value not in outcomes:
                problems.append(f"{title}: outcome {value!r} is never written")
    for label in grouping:
        if label not in allowed:
            problems.append(f"{title}: groups by {label!r}, a label none of its metrics has")
    return problems


def test_dashboard_queries_use_metrics_and_labels_that_exist(dashboard: dict[str, Any]) -> None:
    problems = [
        p for title, expr in queries(dashboard) for p in query_problems(title, expr, runtime_strings())
    ]
    assert not problems, "the dashboard queries what nobody exports:\n" + "\n".join(problems)


def test_dashboard_shows_the_pipeline(dashboard: dict[str, Any]) -> None:
    used = {name for _, expr in queries(dashboard) for name, _ in promql_parts(expr)[0]}
    for needed in ("lingxi_events_handled_total", "lingxi_stream_lag", "lingxi_stream_pending"):
        assert needed in used, f"the dashboard does not show {needed}"
    assert any(n.startswith("faststream_received_processed_messages_duration_seconds") for n in used), (
        "the dashboard does not show FastStream's handling time"
    )
    for domain in ("lingxi_maintenance_", "lingxi_personalization_"):
        assert any(n.startswith(domain) for n in used), f"no panel shows a {domain}* metric"
    by_outcome = [
        expr
        for _, expr in queries(dashboard)
        if "lingxi_events_handled_total" in expr and "outcome" in promql_parts(expr)[1]
    ]
    assert by_outcome, "no panel splits lingxi_events_handled_total by outcome"
    assert runtime_strings() >= OUTCOMES, f"the runtime no longer writes every outcome of {sorted(OUTCOMES)}"


# --------------------------------------------------------------------------- Prometheus


def load_config(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.relative_to(ROOT)} is not a YAML mapping"
    jobs = data.get("scrape_configs")
    assert isinstance(jobs, list), f"{path.relative_to(ROOT)} has no scrape_configs list"
    names = [job.get("job_name") for job in jobs]
    assert all(names), f"{path.relative_to(ROOT)}: a scrape config has no job_name"
    assert len(names) == len(set(names)), f"{path.relative_to(ROOT)}: job names repeat: {names}"
    for job in jobs:
        for rule in job.get("relabel_configs", []):
            assert rule.get("action", "replace") in {
                "replace", "keep", "drop", "hashmod", "labelmap", "labeldrop", "labelkeep", "lowercase",
                "uppercase", "keepequal", "dropequal",
            }, f"{path.name}: relabel action {rule.get('action')!r}"  # fmt: skip
            re.compile(rule.get("regex", "(.*)"))
    return data


def test_prometheus_scrapes_every_compose_service() -> None:
    config = load_config(PROMETHEUS_COMPOSE)
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    services = {name for name, svc in compose["services"].items() if name != "redis"}
    port = int(compose["services"]["gateway"]["environment"]["LINGXI_HTTP_PORT"])
    scraped: set[str] = set()
    for job in config["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            assert (sd.get("type"), sd.get("port")) == ("A", port), f"{job['job_name']}: {sd}"
            assert job.get("metrics_path", "/metrics") == "/metrics"
            scraped |= set(sd["names"])
    assert scraped == services, f"prometheus.yml scrapes {sorted(scraped)}, compose runs {sorted(services)}"


def test_prometheus_in_the_cluster_finds_the_annotated_pods() -> None:
    config = load_config(PROMETHEUS_KUBERNETES)
    jobs = [j for j in config["scrape_configs"] if j.get("kubernetes_sd_configs")]
    assert len(jobs) == 1, "prometheus-kubernetes.yml should have one kubernetes_sd job"
    job = jobs[0]
    namespaces: set[str] = set()
    for sd in job["kubernetes_sd_configs"]:
        assert sd["role"] == "pod", "scrape pods: a replica that is not ready is not in its Service"
        namespaces |= set(sd.get("namespaces", {}).get("names", []))
    overlays = {
        yaml.safe_load(k.read_text(encoding="utf-8")).get("namespace")
        for k in (K8S / "overlays").glob("*/kustomization.yaml")
    }
    assert overlays <= namespaces, (
        f"the job watches {sorted(namespaces)}, the overlays use {sorted(overlays)}"
    )
    common = yaml.safe_load((K8S / "base" / "common" / "deployment.yaml").read_text(encoding="utf-8"))
    annotations = common["spec"]["template"]["metadata"]["annotations"]
    rules = job["relabel_configs"]
    for annotation in annotations:
        meta = "__meta_kubernetes_pod_annotation_" + re.sub(r"[^a-zA-Z0-9_]", "_", annotation)
        assert any(meta in rule.get("source_labels", []) for rule in rules), (
            f"the pods' annotation {annotation} is not used by prometheus-kubernetes.yml"
        )
    keeps = [r for r in rules if r.get("action") == "keep"]
    assert any("__meta_kubernetes_pod_annotation_prometheus_io_scrape" in r["source_labels"] for r in keeps)


# --------------------------------------------------------------------------- alerting rules

PROMETHEUS_OWN = {"up": ("up", frozenset())}
"""Series Prometheus writes itself for every target."""
DURATION = re.compile(r"^\d+[smhdw]$")


@cache
def project_strings() -> frozenset[str]:
    """Every string constant of the services and the shared package (where label values are written)."""
    out: set[str] = set()
    paths = [*(ROOT / "shared" / "src").rglob("*.py"), *(ROOT / "services").glob("*/src/**/*.py")]
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                out.add(node.value)
    return frozenset(out)


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    assert isinstance(document, dict), "alerts.yml is not a YAML mapping"
    assert document.get("groups"), "alerts.yml has no rule groups"
    return [rule for group in document["groups"] for rule in group["rules"]]


def heading_anchors(path: Path) -> set[str]:
    """The anchors a Markdown renderer gives the file's headings (lower case, spaces to hyphens)."""
    anchors = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", title)))
    return anchors


def test_alert_rules_are_complete() -> None:
    rules = alert_rules()
    names = [rule.get("alert") for rule in rules]
    assert len(names) == len(set(names)), f"alert names repeat: {names}"
    for rule in rules:
        name = rule.get("alert")
        assert re.fullmatch(r"Lingxi[A-Z]\w+", str(name)), f"alert name {name!r}"
        assert str(rule.get("expr", "")).strip(), f"{name} has no expression"
        assert rule.get("labels", {}).get("severity") in {"warning", "critical"}, f"{name}: severity"
        assert DURATION.match(str(rule.get("for", "0s"))), f"{name}: for {rule.get('for')!r}"
        annotations = rule.get("annotations", {})
        assert annotations.get("summary"), f"{name} has no summary"
        assert annotations.get("runbook"), f"{name} has no runbook link"
    for needed in ("lingxi_stream_lag", "lingxi_stream_pending", "lingxi_events_handled_total"):
        assert any(needed in str(rule["expr"]) for rule in rules), f"no alert watches {needed}"


def test_alert_expressions_use_metrics_and_labels_that_exist() -> None:
    problems = [
        problem
        for rule in alert_rules()
        for problem in query_problems(rule["alert"], str(rule["expr"]), project_strings(), PROMETHEUS_OWN)
    ]
    assert not problems, "alerts.yml watches what nobody exports:\n" + "\n".join(problems)


def test_the_alert_check_catches_mistakes() -> None:
    outcomes = project_strings()
    assert query_problems("t", "sum(rate(lingxi_events_handled_total[5m])) > 0", outcomes) == []
    assert query_problems("t", "rate(lingxi_no_such_metric_total[5m]) > 0", outcomes)
    assert query_problems("t", 'lingxi_stream_lag{replica="x"} > 0', outcomes), "no such label"
    assert query_problems("t", 'lingxi_events_handled_total{outcome="exploded"} > 0', outcomes)
    assert query_problems("t", "max by (provider) (lingxi_stream_lag) > 0", outcomes), "no such grouping"


def test_every_runbook_link_names_a_section_that_exists() -> None:
    for rule in alert_rules():
        path, _, anchor = rule["annotations"]["runbook"].partition("#")
        document = ROOT / path
        assert document.is_file(), f"{rule['alert']}: {path} does not exist"
        assert anchor in heading_anchors(document), f"{rule['alert']}: {path} has no section #{anchor}"


@pytest.mark.parametrize("config", [PROMETHEUS_COMPOSE, PROMETHEUS_KUBERNETES], ids=lambda p: p.name)
def test_both_prometheus_configurations_load_the_rules(config: Path) -> None:
    rule_files = load_config(config).get("rule_files", [])
    assert ALERTS.name in rule_files, f"{config.name} does not load {ALERTS.name}"
    assert all((config.parent / f).is_file() for f in rule_files), f"{config.name}: {rule_files}"
