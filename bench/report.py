"""Turning a results document into the markdown table, the chart, and the README section."""

from __future__ import annotations

import math
import re
import statistics
from pathlib import Path
from typing import Any

from bench.stats import NOISY_PERCENT

README_START = "<!-- bench:start -->"
README_END = "<!-- bench:end -->"
OTHER_LOAD = (
    "CPU % is of one core (100 × cores = all busy). Other load = the machine's busy CPU minus the "
    "processes named (the bench process counted as named): work outside the benchmark that ran meanwhile "
    "and skews the figures; ⚠ marks a figure measured while it exceeded "
    f"{NOISY_PERCENT:g}% of a core."
)


def _n(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def markdown(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    commit = m["git_commit"][:10] + (" + uncommitted changes" if m["git_dirty"] else "")
    lines = [
        f"**Lingxi benchmark**, {doc['started_at'][:16].replace('T', ' ')} UTC, "
        f"{'quick' if doc['quick'] else 'full'} run in {_duration(doc['wall_s'])}  ",
        f"{m['cpu_model']}, {m['cores']} cores; {m['os']}; Python {m['python']}; "
        f"Redis {m['redis_server']}; redis-py {m['redis_py']}; FastStream {m['faststream']}; "
        f"commit `{commit}`",
        "",
    ]
    scenarios = doc["scenarios"]
    if "broker" in scenarios:
        lines += _broker(scenarios["broker"])
    if "http" in scenarios:
        lines += _http(scenarios["http"])
    if "scale" in scenarios:
        lines += _scale(scenarios["scale"])
    if "nlu" in scenarios:
        lines += _nlu(scenarios["nlu"])
    if "moderation" in scenarios:
        lines += _moderation(scenarios["moderation"])
    if "vision" in scenarios:
        lines += _vision(scenarios["vision"])
    if "maintenance" in scenarios:
        lines += _maintenance(scenarios["maintenance"])
    if "personalization" in scenarios:
        lines += _personalization(scenarios["personalization"])
    lines += [OTHER_LOAD + _retaken(doc)]
    return "\n".join(lines).rstrip() + "\n"


def _cpu(runs: list[dict[str, float]], *keys: str) -> str:
    """Median over runs of each named CPU percentage (several keys are summed per run)."""
    values = []
    for key in keys:
        per_run = [
            sum(run.get(k, 0.0) for k in key.split("+"))
            for run in runs
            if any(k in run for k in key.split("+"))
        ]
        values.append(f"{statistics.median(per_run):.0f}" if per_run else "–")
    return " / ".join(values)


def _noisy(runs: list[dict[str, float]]) -> str:
    others = [run["others"] for run in runs if "others" in run]
    return " ⚠" if others and statistics.median(others) > NOISY_PERCENT else ""


def _retaken(doc: dict[str, Any]) -> str:
    noise = doc.get("noise") or {}
    count = noise.get("retaken", 0)
    if not count:
        return ""
    return (
        f" {count} measurement(s) disturbed that way were taken again "
        "(at most 3 tries, 2 for HTTP and vision)."
    )


def _failed(title: str, section: dict[str, Any]) -> list[str]:
    return [f"#### {title}", "", f"Failed: `{section['error']}`", ""]


def _broker(section: dict[str, Any]) -> list[str]:
    title = "Broker path: one consumer drains a backlog of QueryReceived"
    if "error" in section:
        return _failed(title, section)
    lines = [
        f"#### {title} ({section['payload_bytes']}-byte entries)",
        "",
        f"| consumer | COUNT | events | msg/s (median of {section['repeats']}) "
        "| vs raw one XACK per read, same COUNT "
        "| CPU % consumer / Redis / other load |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for row in section["results"]:
        if row.get("status") != "ok":
            lines.append(
                f"| {row['label']} | {row['k']} | {row['events']:,} "
                f"| skipped: {row.get('reason', '?')} | – | – |"
            )
            continue
        lines.append(
            f"| {row['label']} | {row['k']} | {row['events']:,} | {_n(row['median_msg_s'])}"
            f"{_noisy(row['cpu_percent'])} "
            f"| {_ratio(row.get('vs_raw'))} | {_cpu(row['cpu_percent'], 'consumer', 'redis', 'others')} |"
        )
    lines += ["", section["method"], ""]
    return lines


def _http(section: dict[str, Any]) -> list[str]:
    title = "Assistant path over HTTP: POST /v1/assistant/queries?wait=5, open loop"
    if "error" in section:
        return _failed(title, section)
    names = ["gateway", "assistant", "compliance", "redis", "loadgen", "others"]
    lines = [
        f"#### {title}",
        "",
        "| offered req/s | achieved req/s | p50 ms | p95 ms | p99 ms | errors | generator lag p99 ms "
        "| CPU % gateway / assistant / compliance / Redis / generator / other load | deepest queue |",
        "|--:|--:|--:|--:|--:|--:|--:|---|---|",
    ]
    for lv in section["levels"]:
        lat = lv["latency_ms"]
        errors = str(lv["errors"])
        if lv["errors"]:
            errors += " (" + ", ".join(f"{k} {v}" for k, v in sorted(lv["errors_by_kind"].items())) + ")"
        lag = f"{lv['send_lag_ms']['p99']:.1f}" + (" saturated" if lv["saturated"] else "")
        achieved = _n(lv["achieved_rps"]) + _noisy([lv["cpu_percent"]])
        cpu = _cpu([lv["cpu_percent"]], *names)
        lines.append(
            f"| {lv['offered_rps']:g} | {achieved} | {_n(lat['p50'], 1)} | {_n(lat['p95'], 1)} "
            f"| {_n(lat['p99'], 1)} | {errors} | {lag} | {cpu} | {_deepest(lv.get('max_backlog', {}))} |"
        )
    best = section.get("highest_clean_offered_rps")
    lines += [
        "",
        f"Highest offered load with no errors and ≥ 95% achieved: {_n(best)} req/s."
        if best is not None
        else "No offered load ran without errors.",
        "",
        section["method"],
        "",
        "Deepest queue: the largest backlog (undelivered + unacknowledged entries) a consumer group had "
        "during the load, sampled every 0.25 s; where it grows, that consumer is the bottleneck.",
        "",
    ]
    return lines


def _deepest(backlogs: dict[str, int]) -> str:
    """The consumer group whose backlog grew most during the load, e.g. ``gateway ← answers: 883``."""
    if not backlogs:
        return "–"
    label, depth = max(backlogs.items(), key=lambda item: item[1])
    stream, _, group = label.partition(" → ")
    return f"{depth:,} for {group} on {stream}" if depth > 1 else f"≤ 1 everywhere ({depth})"


def _scale(section: dict[str, Any]) -> list[str]:
    title = "Scale-out: replicas of one service draining one backlog"
    if "error" in section:
        return _failed(title, section)
    lines = [
        f"#### {title} (max_records {section['max_records']})",
        "",
        f"| handler | replicas | events | msg/s (median of {section['repeats']}) | speed-up vs 1 replica "
        "| CPU % replicas (sum) / Redis / other load |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    labels = {"light": "no-op", "heavy": f"~{section['heavy_ms']:g} ms pure Python"}
    for row in section["results"]:
        replicas = "+".join(name for name in row["cpu_percent"][0] if name.startswith("bench-scale"))
        lines.append(
            f"| {labels[row['kind']]} | {row['replicas']} | {row['events']:,} | {_n(row['median_msg_s'])}"
            f"{_noisy(row['cpu_percent'])} "
            f"| {_ratio(row['speedup'])} | {_cpu(row['cpu_percent'], replicas, 'redis', 'others')} |"
        )
    lines += ["", section["method"], ""]
    return lines


def _nlu(section: dict[str, Any]) -> list[str]:
    title = "Local language understanding: the assistant's engine on the labelled test split"
    if "error" in section:
        return _failed(title, section)
    targets = section["targets"]
    p95_target, qps_target = targets["p95_ms"], targets["queries_per_s"]
    lines = [
        f"#### {title} ({section['queries']:,} sentences, {section['seconds']:g} s a measurement)",
        "",
        "| measurement | queries | µs/query | queries/s | p50 ms | p95 ms | p99 ms | target "
        "| CPU % worker / other load |",
        "|---|--:|--:|--:|--:|--:|--:|---|--:|",
    ]
    for number, row in enumerate(section["results"], start=1):
        label = f"({number}) {row['label']}"
        if row.get("status") != "ok":
            lines.append(f"| {label} | skipped: {row.get('reason', '?')} | – | – | – | – | – | – | – |")
            continue
        latency = row.get("latency_ms")
        quantiles = [_ms(latency[q]) if latency else "–" for q in ("p50", "p95", "p99")]
        target = "–"
        if row["key"] == "engine":
            target = (
                f"p95 < {p95_target:g} ms {_tick(latency['p95'] < p95_target)}, "
                f"≥ {qps_target:,.0f}/s {_tick(row['queries_per_s'] >= qps_target)}"
            )
        elif row["key"] == "engine_batch":
            target = f"≥ {qps_target:,.0f}/s {_tick(row['queries_per_s'] >= qps_target)}"
        lines.append(
            f"| {label} | {row['queries']:,} | {_us(row['us_per_query'])} | {_n(row['queries_per_s'])}"
            f"{_noisy([row['cpu_percent']])} | {' | '.join(quantiles)} | {target} "
            f"| {_cpu([row['cpu_percent']], 'worker', 'others')} |"
        )
    startup = section["startup"]
    by_key = {row["key"]: row for row in section["results"]}
    speedup = section.get("speedup_vs_sklearn")
    comparison = (
        f"Our scorer (3) against scikit-learn's predict_proba (4), one sentence at a time: {speedup:g}× "
        f"faster ({_us(by_key['classifier']['us_per_query'])} µs against "
        f"{_us(by_key['sklearn']['us_per_query'])} µs a query). "
        if speedup
        else ""
    )
    lines += [
        "",
        f"Targets (the issue's): the whole engine under {p95_target:g} ms a query at p95 and at least "
        f"{qps_target:,.0f} queries/s in one process. {comparison}"
        f"Start-up: fitting the classifier (first start on a machine) {startup['training_s']:.1f} s"
        f"{_noisy([startup['cpu_percent']])} (importing the engine {startup['import_s']:.1f} s before it).",
        "",
        section["method"],
        "",
    ]
    return lines


def _moderation(section: dict[str, Any]) -> list[str]:
    title = "Moderation: Moderator.check on 500-character answers"
    if "error" in section:
        return _failed(title, section)
    target = section["targets"]["p95_ms"]
    lines = [
        f"#### {title} ({section['answers']:,} answers, {section['seconds']:g} s a measurement)",
        "",
        "| measurement | checks | mean µs | checks/s | p50 ms | p95 ms | p99 ms | vs baseline (mean) "
        "| target "
        "| CPU % worker / other load |",
        "|---|--:|--:|--:|--:|--:|--:|--:|---|--:|",
    ]
    rows = {row["key"]: row for row in section["results"]}
    baseline = rows.get("baseline", {})
    for number, row in enumerate(section["results"], start=1):
        label = f"({number}) {row['label']}"
        if row.get("status") != "ok":
            lines.append(f"| {label} | skipped: {row.get('reason', '?')} | – | – | – | – | – | – | – | – |")
            continue
        latency = row["latency_ms"]
        ratio = (
            _ratio(row["us_per_query"] / baseline["us_per_query"])
            if baseline.get("status") == "ok" and row["key"] != "baseline"
            else "–"
        )
        goal = f"p95 < {target:g} ms {_tick(latency['p95'] < target)}" if row["key"] == "output" else "–"
        lines.append(
            f"| {label} | {row['queries']:,} | {_us(row['us_per_query'])} | {_n(row['queries_per_s'])}"
            f"{_noisy([row['cpu_percent']])} | {_ms(latency['p50'])} | {_ms(latency['p95'])} "
            f"| {_ms(latency['p99'])} | {ratio} | {goal} | {_cpu([row['cpu_percent']], 'worker', 'others')} |"
        )
    startup = section["startup"]
    lines += [
        "",
        f"Target (the issue's): a 500-character answer moderated in under {target:g} ms at p95. "
        f"{section['with_violation']} of the answers hold a violating sentence; "
        f"{section['violating_blocked']} of those were blocked as output. Start-up: importing "
        f"{startup['import_s']:.1f} s, loading the policy, jieba and the encoder and embedding the examples "
        f"{startup['load_s']:.1f} s{_noisy([startup['cpu_percent']])}.",
        "",
        section["method"],
        "",
    ]
    audit = section.get("audit")
    if audit:
        lines += [
            f"Audit trail: appends/s (median of {audit['repeats']}) on a private redis-server",
            "",
            "| writer | appends | appends/s | vs raw XADD | target | CPU % bench / Redis / other load |",
            "|---|--:|--:|--:|---|--:|",
        ]
        for row in audit["results"]:
            ratio = _ratio(row["vs_raw"]) if "vs_raw" in row else "–"
            met = {"audit": audit.get("met_one_at_a_time"), "batch": audit["met"]}.get(row["key"])
            goal = f"≥ {audit['target_per_s']:,.0f}/s {_tick(met)}" if met is not None else "–"
            rate = _n(row["median_per_s"]) + _noisy(row["cpu_percent"])
            lines.append(
                f"| {row['label']} | {row['appends']:,} | {rate} "
                f"| {ratio} | {goal} | {_cpu(row['cpu_percent'], 'bench', 'redis', 'others')} |"
            )
        lines += ["", audit["method"], ""]
    return lines


def _vision(section: dict[str, Any]) -> list[str]:
    title = "Vision: each analyser on a one-megapixel photo"
    if "error" in section:
        return _failed(title, section)
    photo, targets = section["photo"], section["targets"]
    lines = [
        f"#### {title} ({photo['width']} × {photo['height']} JPEG, at least {section['min_calls']} calls "
        f"and {section['seconds']:g} s a measurement)",
        "",
        "| measurement | calls | mean ms | p50 ms | p95 ms | vs baseline (p50) | target "
        "| CPU % worker / other load |",
        "|---|--:|--:|--:|--:|--:|---|--:|",
    ]
    numbers = {row["key"]: number for number, row in enumerate(section["results"], start=1)}
    parts = "+".join(
        f"({numbers[key]})"
        for key in ("prepare", "text", "labels", "faces", "objects")
        if any(row["key"] == key and row.get("status") == "ok" for row in section["results"])
    )
    goals = {
        "text": (targets["text_p50_ms"], targets["text_p50_met"]),
        "labels": (targets["labels_p50_ms"], targets["labels_p50_met"]),
    }
    for row in section["results"]:
        label = f"({numbers[row['key']]}) {row['label']}"
        if row.get("status") != "ok":
            lines.append(f"| {label} | unavailable: {row.get('reason', '?')} | – | – | – | – | – | – |")
            continue
        latency = row["latency_ms"]
        ratio = "–"
        if row.get("vs_baseline") is not None:
            against = parts if row["baseline"] == "parts" else f"({numbers[row['baseline']]})"
            ratio = f"{_ratio(row['vs_baseline'])} {against}"
        goal = "–"
        if row["key"] in goals:
            limit, met = goals[row["key"]]
            goal = f"p50 < {limit:,.0f} ms {_tick(met)}"
        lines.append(
            f"| {label} | {row['calls']:,} | {_ms(row['us_per_query'] / 1000)}{_noisy([row['cpu_percent']])} "
            f"| {_ms(latency['p50'])} | {_ms(latency['p95'])} | {ratio} | {goal} "
            f"| {_cpu([row['cpu_percent']], 'worker', 'others')} |"
        )
    found, startup, memory = section["found"], section["startup"], section["memory_mb"]
    seen = [
        f"{found['text_lines']} lines of text ({found['sign_lines_read']} of the sign's "
        f"{len(photo['sign_lines'])} read exactly)",
        f"labels {', '.join(found['labels']) or 'none'}",
        f"{found['faces']} face(s)",
    ]
    if "objects" in section["models"]:
        seen.append(f"{found['objects']} object(s)")
    lines += [
        "",
        f"Targets (the issue's): OCR under {targets['text_p50_ms']:,.0f} ms and labels under "
        f"{targets['labels_p50_ms']:g} ms at the median on this machine. In the photo the models found "
        f"{', '.join(seen)}. Start-up: importing {startup['import_s']:.1f} s, loading every model "
        f"{startup['load_s']:.1f} s{_noisy([startup['cpu_percent']])}; the worker's resident memory "
        f"{memory['after_loading']:,.0f} MB with the models loaded (peak {memory['peak']:,.0f} MB, which "
        "includes the baselines' own copies of the models).",
        "",
        section["method"],
        "",
    ]
    runs = section.get("throughput")
    if runs:
        lines += [
            f"Vision replicas: {runs['images']} images ({runs['image_bytes'] / 1000:,.0f} kB JPEG, "
            "every task) through the real service",
            "",
            "| replicas | images/s | seconds | speed-up vs 1 replica | vs in-process "
            f"({runs['in_process_analyse_ms']:,.0f} ms an image) | start-up s | RSS MB per replica (peak) "
            "| CPU % replicas (sum) / Redis / other load |",
            "|--:|--:|--:|--:|--:|--:|--:|--:|",
        ]
        for row in runs["results"]:
            memory_per = row["memory_mb"].values()
            rss = " / ".join(f"{m['rss']:,.0f}" for m in memory_per)
            peak = " / ".join(f"{m['peak']:,.0f}" for m in memory_per)
            replicas = "+".join(row["memory_mb"])
            lines.append(
                f"| {row['replicas']} | {row['images_per_s']:.2f}{_noisy([row['cpu_percent']])} "
                f"| {row['seconds']:.1f} | {_ratio(row['speedup'])} | {_ratio(row['vs_in_process'])} "
                f"| {row['startup_s']:.1f} | {rss} ({peak}) "
                f"| {_cpu([row['cpu_percent']], replicas, 'redis', 'others')} |"
            )
        lines += ["", runs["method"], ""]
    return lines


def _maintenance(section: dict[str, Any]) -> list[str]:
    title = "Maintenance: telemetry batches from the fleet simulator, raw redis-py against the service"
    if "error" in section:
        return _failed(title, section)
    target = section["targets"]["readings_per_s"]
    lines = [
        f"#### {title} ({section['readings']:,} readings of {section['devices']:,} devices in "
        f"{section['entries']:,} entries, COUNT {section['count']})",
        "",
        "| consumer | replicas | seconds | readings/s | vs raw baseline | speed-up vs 1 replica | target "
        "| RSS MB per replica (peak) | CPU % consumers (sum) / Redis / other load |",
        "|---|--:|--:|--:|--:|--:|---|--:|--:|",
    ]
    labels = {
        "raw": "raw redis-py: XREADGROUP + decode and validate + one XACK per read",
        "lingxi": "Lingxi maintenance (`python -m lingxi_maintenance`)",
    }
    for row in section["results"]:
        memory = row["memory_mb"]
        rss = " / ".join(f"{m['rss']:,.0f}" for m in memory.values())
        peak = " / ".join(f"{m['peak']:,.0f}" for m in memory.values())
        goal = "–"
        if row["consumer"] == "lingxi" and row["replicas"] == 1:
            goal = f"≥ {target:,.0f}/s {_tick(section['targets']['readings_per_s_met'])}"
        lines.append(
            f"| {labels[row['consumer']]} | {row['replicas']} | {row['seconds']:.2f} "
            f"| {_n(row['readings_per_s'])}{_noisy([row['cpu_percent']])} | {_ratio(row['vs_raw'])} "
            f"| {_ratio(row.get('speedup'))} | {goal} | {rss} ({peak}) "
            f"| {_cpu([row['cpu_percent']], '+'.join(memory), 'redis', 'others')} |"
        )
    outcomes = [row for row in section["results"] if row.get("outcomes")]
    if outcomes:
        said = "; ".join(_maintenance_outcome(row) for row in outcomes)
        lines += [
            "",
            f"What the replicas did with the readings (their `lingxi_maintenance_readings_total`): {said}. "
            "As many readings counted in the stored states as were assessed shows no reading was lost: a "
            "device's state is written only over the bytes its read loaded, and a device another replica "
            "wrote meanwhile is assessed again on what that replica wrote "
            "(`lingxi_maintenance_state_conflicts_total`).",
        ]
    lines += ["", section["method"], ""]
    state = section.get("state")
    if state:
        goal = f"< {state['target_bytes']:,} B {_tick(state['met'])}"
        lines += [
            f"Bytes per device in Redis ({state['devices']:,} devices)",
            "",
            "| key | devices with one | STRLEN mean / max | MEMORY USAGE mean / max | target |",
            "|---|--:|--:|--:|---|",
        ]
        for key, label in (
            ("state", "state (`lingxi:maintenance:state:<id>`)"),
            ("health", "health record (`lingxi:devices:health:<id>`)"),
            ("alerts", "alerts hash (`lingxi:devices:alerts:<id>`)"),
            ("per_device", "all three, per device"),
        ):
            row = state[key]
            strlen = f"{_n(row['strlen_mean'])} / {_n(row['strlen_max'])}" if "strlen_mean" in row else "–"
            lines.append(
                f"| {label} | {row['memory_count']:,} | {strlen} "
                f"| {_n(row['memory_mean'])} / {_n(row['memory_max'])} | {goal if key == 'state' else '–'} |"
            )
        lines += ["", section["state_method"], ""]
    return lines


def _maintenance_outcome(row: dict[str, Any]) -> str:
    said = (
        f"{row['replicas']} replica(s): "
        + ", ".join(f"{name} {count:,}" for name, count in row["outcomes"].items())
        + f", {row['alerts_raised']:,} alerts raised, "
        f"{row['readings_in_states']:,} readings counted in the stored states"
    )
    assessed = row["outcomes"].get("assessed")
    if assessed is not None and row["readings_in_states"] != assessed:
        gap = row["readings_in_states"] - assessed
        said += f" ({abs(gap):,} {'fewer' if gap < 0 else 'more'} than assessed ✗)"
    if row.get("conflicts") is not None:  # older results have no such count
        said += f", {row['conflicts']:,} device states assessed again after another replica wrote them"
    return said


def _refreshed(row: dict[str, Any]) -> str:
    """The refresher's part of a personalization row (absent from results made before it existed)."""
    refreshes = row.get("list_refreshes")
    if refreshes is None:
        return ""
    return (
        f" Lists worked out again after purchases: {sum(refreshes.values()):,} "
        f"({refreshes.get('changed', 0):,} changed and announced, {refreshes.get('unchanged', 0):,} "
        f"unchanged); every list current {row['lists_current_after_s']:.1f} s after the last purchase "
        "was folded."
    )


def _personalization(section: dict[str, Any]) -> list[str]:
    title = "Personalization: the shopper simulator's purchases, raw redis-py against the service"
    if "error" in section:
        return _failed(title, section)
    targets = section["targets"]
    target = targets["purchases_per_s"]
    lines = [
        f"#### {title} ({section['purchases']:,} purchases of {section['buyers']:,} users, "
        f"{section['users']:,} consenting, COUNT {section['count']})",
        "",
        "| consumer | seconds | purchases/s | vs raw baseline | target | RSS MB (peak) "
        "| CPU % consumer / Redis / other load |",
        "|---|--:|--:|--:|---|--:|--:|",
    ]
    labels = {
        "raw": "raw redis-py: XREADGROUP + decode and validate + one XACK per read",
        "lingxi": "Lingxi personalization (`python -m lingxi_personalization`), 1 replica",
    }
    for row in section["results"]:
        memory = row["memory_mb"]
        rss = " / ".join(f"{m['rss']:,.0f}" for m in memory.values())
        peak = " / ".join(f"{m['peak']:,.0f}" for m in memory.values())
        goal = (
            f"≥ {target:,.0f}/s {_tick(targets['purchases_per_s_met'])}"
            if row["consumer"] == "lingxi"
            else "–"
        )
        lines.append(
            f"| {labels.get(row['consumer'], row['consumer'])} | {row['seconds']:.2f} "
            f"| {_n(row['purchases_per_s'])}{_noisy([row['cpu_percent']])} | {_ratio(row['vs_raw'])} "
            f"| {goal} | {rss} ({peak}) | {_cpu([row['cpu_percent']], '+'.join(memory), 'redis', 'others')} |"
        )
    for row in section["results"]:
        if row.get("outcomes") is None:
            continue
        outcomes = ", ".join(f"{name} {count:,}" for name, count in row["outcomes"].items()) or "none"
        kept = row["purchases_in_profiles"]
        folded = row["outcomes"].get("folded", 0)
        check = (
            ""
            if kept == folded
            else f" ({abs(kept - folded):,} {'fewer' if kept < folded else 'more'} than folded ✗)"
        )
        lines += [
            "",
            f"What the service did with the purchases (its `lingxi_personalization_purchases_total`): "
            f"{outcomes}; {kept:,} purchases counted in the stored profiles{check}; "
            f"{row['lists_announced']:,} recommendation lists announced (`RecommendationsUpdated`), "
            f"{row['conflicts']:,} users updated again after a conflicting write." + _refreshed(row),
        ]
    lines += ["", section["method"], ""]
    reads = section.get("reads")
    if reads:
        read_target = targets["read_p95_ms"]
        lines += [
            f"Recommendation reads: {reads['requests']:,} at {reads['rate']:g}/s, open loop",
            "",
            "| read | ok | errors | achieved req/s | p50 ms | p95 ms | p99 ms | max ms | vs bare GET (p95) "
            "| target | CPU % gateway / Redis / bench / other load |",
            "|---|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|",
        ]
        read_labels = {
            "redis": "bare redis-py `GET lingxi:users:recommendations:<id>`",
            "gateway": "`GET /v1/users/{id}/recommendations` through the gateway",
        }
        for key, row in reads["results"].items():
            latency = row["latency_ms"]
            errors = str(row["errors"])
            if row["errors"]:
                errors += " (" + ", ".join(f"{k} {v}" for k, v in sorted(row["errors_by_kind"].items())) + ")"
            gateway = key == "gateway"
            goal = f"p95 < {read_target:g} ms {_tick(targets['read_p95_met'])}" if gateway else "–"
            quantiles = " | ".join(
                _ms(latency[q]) if latency[q] is not None else "–" for q in ("p50", "p95", "p99", "max")
            )
            lines.append(
                f"| {read_labels.get(key, key)} | {row['ok']:,} | {errors} "
                f"| {_n(row['achieved_rps'])}{_noisy([row['cpu_percent']])} | {quantiles} "
                f"| {_ratio(reads['p95_vs_redis']) if gateway else '–'} | {goal} "
                f"| {_cpu([row['cpu_percent']], 'gateway', 'redis', 'bench', 'others')} |"
            )
        personalised = reads["results"].get("gateway", {}).get("personalised")
        if personalised is not None:
            lines += [
                "",
                f"{personalised:,} of the gateway's answers were the asked user's own personalised list.",
            ]
        lines += ["", section["read_method"], ""]
    return lines


def _tick(met: bool) -> str:
    return "✓" if met else "✗"


def _us(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _ms(value: float) -> str:
    return f"{value:.3g}" if value < 100 else f"{value:,.0f}"


def chart(doc: dict[str, Any], path: Path) -> None:
    """Five panels: broker throughput against raw, HTTP latency against load, scale-out speed-up and the
    local language understanding's time per query against scikit-learn, two by two; under them, across
    the width, the maintenance service's readings/s against its raw baseline and its target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = doc["scenarios"]
    fig, axes = plt.subplot_mosaic(
        [["broker", "http"], ["scale", "nlu"], ["maintenance", "maintenance"]],
        figsize=(15, 14),
        height_ratios=[1, 1, 0.75],
        layout="constrained",
    )
    _broker_panel(axes["broker"], scenarios.get("broker"))
    _http_panel(axes["http"], scenarios.get("http"))
    _scale_panel(axes["scale"], scenarios.get("scale"))
    _nlu_panel(axes["nlu"], scenarios.get("nlu"))
    _maintenance_panel(axes["maintenance"], scenarios.get("maintenance"))
    m = doc["machine"]
    fig.suptitle(
        f"Lingxi benchmark {doc['started_at'][:10]} · {m['cpu_model']}, {m['cores']} cores · "
        f"Python {m['python']} · Redis {m['redis_server']} · {m['git_commit'][:10]}",
        fontsize=10,
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _empty(ax: Any, title: str, section: dict[str, Any] | None) -> bool:
    ax.set_title(title, fontsize=10)
    if section is None or "error" in section:
        ax.text(0.5, 0.5, "not run" if section is None else "failed", ha="center", va="center")
        ax.set_axis_off()
        return True
    return False


def _broker_panel(ax: Any, section: dict[str, Any] | None) -> None:
    if _empty(ax, "Broker path: drain throughput (msg/s)", section):
        return
    assert section is not None
    rows = [r for r in section["results"] if r.get("status") == "ok"]
    colours = {"raw": "#9aa5b1", "lingxi": "#d1495b"}
    bars = ax.barh(
        range(len(rows)),
        [r["median_msg_s"] for r in rows],
        color=[colours[r["consumer"]] for r in rows],
    )
    for bar, row in zip(bars, rows, strict=True):
        ax.annotate(
            f" {_ratio(row.get('vs_raw'))}",
            (bar.get_width(), bar.get_y() + bar.get_height() / 2),
            va="center",
            fontsize=8,
        )
    ax.set_yticks(range(len(rows)), [f"{r['label']}, COUNT {r['k']}" for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("msg/s (log scale); ratio vs raw one XACK per read, same COUNT")


def _http_panel(ax: Any, section: dict[str, Any] | None) -> None:
    if _empty(ax, "Assistant path over HTTP: latency vs offered load", section):
        return
    assert section is not None
    levels = section["levels"]
    offered = [lv["offered_rps"] for lv in levels]
    for q, style in (("p50", "-o"), ("p95", "-s"), ("p99", "-^")):
        points = [(lv["offered_rps"], lv["latency_ms"][q]) for lv in levels if lv["latency_ms"][q]]
        ax.plot([x for x, _ in points], [y for _, y in points], style, label=f"{q} latency (answered)")
    ax.set_yscale("log")
    ax.set_xlabel("offered req/s")
    ax.set_ylabel("ms (from scheduled send)")
    twin = ax.twinx()
    twin.plot(offered, [lv["achieved_rps"] for lv in levels], ":D", color="black", label="achieved req/s")
    twin.plot(offered, offered, color="grey", linewidth=0.6, label="offered")
    twin.set_ylabel("achieved req/s")
    for lv in levels:
        if lv["errors"]:
            share = lv["errors"] / max(lv["requests"], 1)
            twin.annotate(
                f"{share:.0%} errors",
                (lv["offered_rps"], lv["achieved_rps"]),
                color="red",
                textcoords="offset points",
                xytext=(-30, 10),
                fontsize=8,
            )
    lines, labels = ax.get_legend_handles_labels()
    lines2, labels2 = twin.get_legend_handles_labels()
    ax.legend(
        lines + lines2, labels + labels2, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3
    )


def _scale_panel(ax: Any, section: dict[str, Any] | None) -> None:
    if _empty(ax, "Scale-out: speed-up vs 1 replica", section):
        return
    assert section is not None
    rows = section["results"]
    replicas = sorted({r["replicas"] for r in rows})
    ax.plot(replicas, replicas, "--", color="grey", label="ideal")
    for kind, label in (("light", "no-op handler"), ("heavy", f"~{section['heavy_ms']:g} ms CPU handler")):
        mine = sorted((r for r in rows if r["kind"] == kind), key=lambda r: r["replicas"])
        ax.plot([r["replicas"] for r in mine], [r["speedup"] for r in mine], "-o", label=label)
        for r in mine:
            ax.annotate(
                f"{r['median_msg_s']:,.0f}/s",
                (r["replicas"], r["speedup"]),
                fontsize=7,
                textcoords="offset points",
                xytext=(4, 6 if kind == "heavy" else -12),
            )
    ax.set_xticks(replicas)
    ax.set_xlabel("replicas (separate processes)")
    ax.set_ylabel("speed-up")
    ax.legend(fontsize=8)


def _nlu_panel(ax: Any, section: dict[str, Any] | None) -> None:
    if _empty(ax, "Local language understanding: time per query", section):
        return
    assert section is not None
    rows = [r for r in section["results"] if r.get("status") == "ok"]
    colours = {"engine": "#edae49", "engine_batch": "#edae49", "classifier": "#d1495b", "sklearn": "#9aa5b1"}
    bars = ax.barh(
        range(len(rows)),
        [r["us_per_query"] for r in rows],
        color=[colours.get(r["key"], "#00798c") for r in rows],
    )
    for bar, row in zip(bars, rows, strict=True):
        note = f" {row['us_per_query']:,.0f} µs · {row['queries_per_s']:,.0f}/s"
        if "latency_ms" in row and row["key"] == "engine":
            note += f" · p95 {row['latency_ms']['p95']:.2f} ms"
        ax.annotate(note, (bar.get_width(), bar.get_y() + bar.get_height() / 2), va="center", fontsize=8)
    qps = section["targets"]["queries_per_s"]
    target = 1e6 / qps
    ax.axvline(target, color="black", linestyle="--", linewidth=0.8, label=f"target: {qps:,.0f} queries/s")
    ax.set_yticks(range(len(rows)), [_nlu_label(r) for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    values = [target, *(r["us_per_query"] for r in rows)]
    # Bars from the decade below a third of the fastest, and room on the right for the notes.
    ax.set_xlim(10 ** math.floor(math.log10(min(values) / 3)), max(values) * 30)
    ax.legend(fontsize=8, loc="upper right")
    speedup = section.get("speedup_vs_sklearn")
    ax.set_xlabel(
        f"µs per query, mean (log scale), {section['queries']:,} test sentences"
        + (f"; (3) is {speedup:g}× faster than (4)" if speedup else "")
    )


def _maintenance_panel(ax: Any, section: dict[str, Any] | None) -> None:
    if _empty(ax, "Maintenance: telemetry readings/s draining the fleet simulator's batches", section):
        return
    assert section is not None
    rows = section["results"]
    colours = {"raw": "#9aa5b1", "lingxi": "#d1495b"}
    bars = ax.bar(
        range(len(rows)),
        [r["readings_per_s"] for r in rows],
        color=[colours.get(r["consumer"], "#00798c") for r in rows],
        width=0.5,
    )
    for bar, row in zip(bars, rows, strict=True):
        note = f"{row['readings_per_s']:,.0f}/s · {_ratio(row.get('vs_raw'))} raw"
        if row["consumer"] == "lingxi" and row.get("speedup") is not None and row["replicas"] > 1:
            note += f" · {_ratio(row['speedup'])} 1 replica"
        ax.annotate(
            note,
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
            textcoords="offset points",
            xytext=(0, 3),
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none"},
            zorder=3,  # over the target line where a bar ends near it
        )
    target = section["targets"]["readings_per_s"]
    label = f"target: {target:,.0f} readings/s (1 replica)"
    ax.axhline(target, color="black", linestyle="--", linewidth=0.8, label=label)
    ax.set_xticks(range(len(rows)), [_maintenance_label(r) for r in rows], fontsize=8)
    ax.set_ylim(0, max([target, *(r["readings_per_s"] for r in rows)]) * 1.15)
    ax.yaxis.set_major_formatter(lambda value, _pos: f"{value:,.0f}")
    ax.set_ylabel("readings/s")
    ax.set_xlabel(
        f"{section['readings']:,} readings of {section['devices']:,} devices in {section['entries']:,} "
        f"entries, COUNT {section['count']}"
    )
    ax.legend(fontsize=8, loc="upper right")


def _maintenance_label(row: dict[str, Any]) -> str:
    if row["consumer"] == "raw":
        return "raw redis-py baseline\n(decode and validate, XACK)"
    label = f"Lingxi maintenance,\n{row['replicas']} replica{'s' if row['replicas'] > 1 else ''}"
    if row.get("conflicts"):
        label += f"\n({row['conflicts']:,} states assessed again)"
    return label


def _nlu_label(row: dict[str, Any]) -> str:
    return {
        "engine": "(1) whole engine,\none at a time",
        "engine_batch": "(2) whole engine,\nunderstand_many",
        "classifier": "(3) classifier, our scorer,\none at a time",
        "sklearn": "(4) scikit-learn predict_proba,\none at a time",
    }.get(row["key"], str(row["label"]))


def update_readme(readme: Path, table: str) -> bool:
    """Replace what sits between the bench markers; False when the markers are missing."""
    text = readme.read_text()
    pattern = re.compile(re.escape(README_START) + r".*?" + re.escape(README_END), re.DOTALL)
    if not pattern.search(text):
        return False
    replacement = f"{README_START}\n{table.rstrip()}\n{README_END}"
    readme.write_text(pattern.sub(lambda _: replacement, text, count=1))
    return True
