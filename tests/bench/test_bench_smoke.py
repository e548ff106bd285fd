"""`python -m bench --quick` runs every scenario end to end and writes well-formed results.

Structure and positivity only: timings on a shared machine are not asserted.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from lingxi.runtime import Service
from lingxi_maintenance.state import MAX_STATE_BYTES

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(340)]


def _batch_api() -> bool:
    return "batch" in inspect.signature(Service.consumer).parameters


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and value > 0


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--output", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=320,
        check=False,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout[-4000:]}\nstderr:\n{done.stderr[-6000:]}"
    assert "| consumer |" in done.stdout  # the table is printed
    assert "| measurement |" in done.stdout
    (out / "stdout.txt").write_text(done.stdout)
    return out, json.loads((out / "latest.json").read_text())


def test_writes_every_result_file(quick_run: tuple[Path, dict[str, Any]]) -> None:
    out, document = quick_run
    assert (out / "latest.md").read_text().count("\n|") >= 10
    assert (out / "latest.png").read_bytes().startswith(b"\x89PNG")
    stamped = [p for p in out.glob("*.json") if p.name != "latest.json"]
    assert len(stamped) == 1
    assert json.loads(stamped[0].read_text()) == document


def test_machine_is_described(quick_run: tuple[Path, dict[str, Any]]) -> None:
    _, document = quick_run
    machine = document["machine"]
    for key in ("cpu_model", "cores", "python", "redis_server", "git_commit", "faststream", "redis_py"):
        assert machine[key], key
    assert document["quick"] is True
    assert set(document["scenarios"]) == {
        "broker",
        "http",
        "scale",
        "nlu",
        "moderation",
        "vision",
        "maintenance",
        "personalization",
    }
    assert not [name for name, section in document["scenarios"].items() if "error" in section]


def test_broker_path_has_every_consumer_with_rates_and_ratios(quick_run: tuple[Path, dict[str, Any]]) -> None:
    _, document = quick_run
    broker = document["scenarios"]["broker"]
    rows = {row["key"]: row for row in broker["results"]}
    assert set(rows) == {
        "raw_single",
        "raw_single_each",
        "lingxi_single",
        "raw_batch",
        "raw_batch_validate",
        "lingxi_batch",
    }
    assert rows["raw_single"]["vs_raw"] == 1.0, "the baseline is compared with itself"
    if not _batch_api():  # reported as skipped until the runtime has batch handlers
        assert rows.pop("lingxi_batch")["status"] == "skipped"
    for row in rows.values():
        assert row["status"] == "ok", row
        assert _positive(row["median_msg_s"])
        assert all(_positive(rate) for rate in row["runs_msg_s"])
        assert _positive(row["vs_raw"])
    assert all(_positive(ratio) for ratio in broker["ratios"].values() if ratio is not None)
    assert _positive(broker["ratios"]["lingxi_single_vs_raw"])


def test_http_path_has_each_load_level(quick_run: tuple[Path, dict[str, Any]]) -> None:
    _, document = quick_run
    levels = document["scenarios"]["http"]["levels"]
    assert [level["offered_rps"] for level in levels] == document["config"]["http"]["rates"]
    for level in levels:
        assert level["requests"] > 0
        assert level["ok"] + level["errors"] == level["requests"]
        assert _positive(level["achieved_rps"])
        for q in ("p50", "p95", "p99"):
            assert _positive(level["latency_ms"][q])
        assert level["latency_ms"]["p50"] <= level["latency_ms"]["p99"]
        assert level["send_lag_ms"]["p99"] >= 0
        assert isinstance(level["saturated"], bool)


def test_scale_out_has_each_replica_count_for_both_handlers(quick_run: tuple[Path, dict[str, Any]]) -> None:
    _, document = quick_run
    scale = document["scenarios"]["scale"]
    replicas = document["config"]["scale"]["replicas"]
    for kind in ("light", "heavy"):
        rows = [row for row in scale["results"] if row["kind"] == kind]
        assert [row["replicas"] for row in rows] == replicas
        for row in rows:
            assert _positive(row["median_msg_s"])
            assert _positive(row["speedup"])
        assert rows[0]["speedup"] == 1.0
    assert _positive(scale["heavy_iterations"])


def test_nlu_has_the_four_measurements_and_the_targets(quick_run: tuple[Path, dict[str, Any]]) -> None:
    out, document = quick_run
    nlu = document["scenarios"]["nlu"]
    assert nlu["queries"] > 0
    assert sum(nlu["locales"].values()) == nlu["queries"]
    assert _positive(nlu["startup"]["training_s"])
    assert nlu["startup"]["import_s"] >= 0
    rows = {row["key"]: row for row in nlu["results"]}
    assert list(rows) == ["engine", "engine_batch", "classifier", "sklearn"]
    for row in rows.values():
        assert row["status"] == "ok", row
        assert row["queries"] >= nlu["queries"], "at least one whole pass over the test split"
        assert row["queries"] % nlu["queries"] == 0, "whole passes only"
        assert _positive(row["queries_per_s"])
        assert _positive(row["us_per_query"])
        assert _positive(row["cpu_percent"]["worker"])
        assert row["retaken"] >= 0
    assert rows["engine_batch"]["calls"] < rows["engine_batch"]["queries"]
    for key in ("engine", "classifier", "sklearn"):
        latency = rows[key]["latency_ms"]
        assert all(_positive(latency[q]) for q in ("p50", "p95", "p99", "max"))
        assert latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
        assert rows[key]["calls"] == rows[key]["queries"]
    assert _positive(nlu["speedup_vs_sklearn"])
    targets = nlu["targets"]
    assert targets["p95_ms"] == 5.0
    assert targets["queries_per_s"] == 1000.0
    for key in ("p95_met", "queries_per_s_met", "batch_queries_per_s_met"):
        assert isinstance(targets[key], bool)
    table = (out / "latest.md").read_text()
    assert "Local language understanding" in table
    assert table.count("| (") >= 4  # one row per measurement


def test_moderation_has_its_measurements_the_audit_trail_and_the_targets(
    quick_run: tuple[Path, dict[str, Any]],
) -> None:
    _, document = quick_run
    moderation = document["scenarios"]["moderation"]
    rows = {row["key"]: row for row in moderation["results"]}
    assert list(rows) == ["output", "input", "keywords", "baseline"]
    for row in rows.values():
        assert row["status"] == "ok", row
        assert all(_positive(row["latency_ms"][q]) for q in ("p50", "p95", "p99"))
    assert moderation["with_violation"] > 0
    assert 0 < moderation["violating_blocked"] <= moderation["with_violation"]
    assert _positive(moderation["ratio_to_baseline"])
    assert set(moderation["targets"]) == {"p95_ms", "p95_met"}
    audit = moderation["audit"]
    assert audit["target_per_s"] == 5000
    assert all(_positive(row["median_per_s"]) for row in audit["results"])


def test_vision_has_each_task_its_baselines_the_targets_and_both_replica_counts(
    quick_run: tuple[Path, dict[str, Any]],
) -> None:
    out, document = quick_run
    vision = document["scenarios"]["vision"]
    assert vision["photo"]["megapixels"] >= 1.0
    rows = {row["key"]: row for row in vision["results"]}
    assert list(rows) == [
        "decode",
        "prepare",
        "text",
        "text_library",
        "labels",
        "labels_session",
        "faces",
        "faces_library",
        "objects",
        "analyse",
    ]
    # Objects run only where an operator configured a detector; otherwise the service's reason is kept.
    if rows["objects"]["status"] != "ok":
        assert rows["objects"]["reason"] == vision["unavailable"]["objects"]
        del rows["objects"]
    for row in rows.values():
        assert row["status"] == "ok", row
        assert row["calls"] >= document["config"]["vision"]["min_calls"]
        latency = row["latency_ms"]
        assert all(_positive(latency[q]) for q in ("p50", "p95", "max"))
        assert latency["p50"] <= latency["p95"] <= latency["max"]
        assert _positive(row["cpu_percent"]["worker"])
        if row["baseline"] is not None:
            assert _positive(row["vs_baseline"]), row
    assert rows["decode"]["vs_baseline"] is None, "the decode is every other row's baseline"
    found = vision["found"]
    assert found["text_lines"] >= 1, "the photo's sign has text to read"
    assert found["faces"] >= 1, "the astronaut's face is in the photo"
    assert found["labels"]
    targets = vision["targets"]
    assert (targets["text_p50_ms"], targets["labels_p50_ms"]) == (1000.0, 50.0)
    assert isinstance(targets["text_p50_met"], bool)
    assert isinstance(targets["labels_p50_met"], bool)
    assert vision["memory_mb"]["peak"] >= vision["memory_mb"]["after_loading"] > 0
    runs = vision["throughput"]["results"]
    assert [run["replicas"] for run in runs] == document["config"]["vision"]["replicas"]
    for run in runs:
        assert _positive(run["images_per_s"])
        assert _positive(run["vs_in_process"])
        assert len(run["memory_mb"]) == run["replicas"]
        assert all(memory["peak"] >= memory["rss"] > 0 for memory in run["memory_mb"].values())
        assert run["analyses_with_text"] == run["analyses"], "every analysis read the sign"
    assert runs[0]["speedup"] == 1.0
    table = (out / "latest.md").read_text()
    assert "Vision: each analyser" in table
    assert "| replicas | images/s |" in table


def test_maintenance_has_the_baseline_both_replica_counts_the_target_and_the_state_sizes(
    quick_run: tuple[Path, dict[str, Any]],
) -> None:
    out, document = quick_run
    maintenance = document["scenarios"]["maintenance"]
    config = document["config"]["maintenance"]
    assert 0 < maintenance["readings"] <= config["readings"]
    assert 0 < maintenance["entries"] <= -(-config["readings"] // config["per_batch"])  # one per request
    assert 0 < maintenance["devices"] <= config["devices"]
    rows = maintenance["results"]
    assert [(row["consumer"], row["replicas"]) for row in rows] == [
        ("raw", 1),
        *(("lingxi", replicas) for replicas in config["replicas"]),
    ]
    assert rows[0]["vs_raw"] == 1.0, "the baseline is compared with itself"
    for row in rows:
        assert row["readings"] == maintenance["readings"]
        assert _positive(row["readings_per_s"])
        assert _positive(row["vs_raw"])
        assert len(row["memory_mb"]) == row["replicas"]
        assert all(memory["peak"] >= memory["rss"] > 0 for memory in row["memory_mb"].values())
    for row in rows[1:]:
        assert _positive(row["speedup"])
        # Every reading was assessed or recognised as a replay; the simulator's fleet sends none the
        # service should refuse once the gateway's checks have passed.
        assert sum(row["outcomes"].values()) == maintenance["readings"], row["outcomes"]
        assert row["outcomes"]["assessed"] > 0
        assert "refused" not in row["outcomes"]
        # A state is written only over the bytes its read loaded: replicas never overwrite each other.
        assert row["readings_in_states"] == row["outcomes"]["assessed"], f"readings lost: {row}"
        assert isinstance(row["conflicts"], int), row
        assert row["conflicts"] >= 0
    assert rows[0]["conflicts"] is None, "the raw baseline keeps no device state"
    single = rows[1]
    assert single["speedup"] == 1.0
    assert single["conflicts"] == 0, "one replica is never raced"
    targets = maintenance["targets"]
    assert targets["readings_per_s"] == 25_000
    assert targets["readings_per_s_met"] == (single["readings_per_s"] >= 25_000)
    state = maintenance["state"]
    assert state["devices"] == maintenance["devices"]
    assert state["state"]["memory_count"] == maintenance["devices"], "every device seen has a state"
    assert 0 < state["state"]["strlen_mean"] <= state["state"]["strlen_max"] <= MAX_STATE_BYTES
    assert state["state"]["memory_max"] > state["state"]["strlen_max"], "Redis adds its own overhead"
    assert state["per_device"]["memory_max"] >= state["state"]["memory_max"]
    assert state["target_bytes"] == 2048
    assert state["met"] == (state["state"]["memory_max"] < 2048)
    table = (out / "latest.md").read_text()
    assert "Maintenance: telemetry batches" in table
    assert "device states assessed again after another replica wrote them" in table
    assert "last writer wins" not in table
    assert "| state (`lingxi:maintenance:state:<id>`) |" in table


def test_report_renders_results_without_the_maintenance_section_or_its_conflicts(
    quick_run: tuple[Path, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Older results: no maintenance scenario at all, or one from before the conflicts were counted."""
    monkeypatch.syspath_prepend(str(REPO_ROOT))  # the bench is run from the repository root, not installed
    report = importlib.import_module("bench.report")
    _, document = quick_run
    older = copy.deepcopy(document)
    for row in older["scenarios"]["maintenance"]["results"]:
        del row["conflicts"]
    assert "Maintenance: telemetry batches" in report.markdown(older)
    assert "assessed again after another replica" not in report.markdown(older)
    report.chart(older, tmp_path / "older.png")
    del older["scenarios"]["maintenance"]
    assert "Maintenance: telemetry batches" not in report.markdown(older)
    report.chart(older, tmp_path / "oldest.png")
    for name in ("older.png", "oldest.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")


@pytest.fixture(scope="module")
def personalization_run(quick_run: tuple[Path, dict[str, Any]]) -> tuple[Path, str, dict[str, Any]]:
    """The quick run's personalization scenario, with what the run printed."""
    out, document = quick_run
    return out, (out / "stdout.txt").read_text(), document


def test_personalization_has_the_baseline_the_service_the_reads_and_both_targets(
    personalization_run: tuple[Path, str, dict[str, Any]],
) -> None:
    out, stdout, document = personalization_run
    section = document["scenarios"]["personalization"]
    assert "error" not in section, section.get("error")
    config = document["config"]["personalization"]
    assert section["purchases"] == config["purchases"], "the simulator made every purchase asked for"
    assert section["users"] == config["users"]
    assert 0 < section["buyers"] <= config["users"]
    assert section["consent"]["changes"] == config["users"], "every simulated user consented first"
    rows = section["results"]
    assert [row["consumer"] for row in rows] == ["raw", "lingxi"]
    assert rows[0]["vs_raw"] == 1.0, "the baseline is compared with itself"
    for row in rows:
        assert row["purchases"] == section["purchases"]
        assert _positive(row["purchases_per_s"])
        assert _positive(row["vs_raw"])
        assert _positive(row["seconds"])
        assert len(row["memory_mb"]) == 1
        assert all(memory["peak"] >= memory["rss"] > 0 for memory in row["memory_mb"].values())
    raw, lingxi = rows
    assert raw["outcomes"] is None, "the raw baseline keeps nothing"
    assert raw["purchases_in_profiles"] is None
    # Every user granted purchase_data before their first purchase, and the simulator never repeats a
    # purchase id: every purchase is folded, and every folded purchase is counted in a stored profile.
    assert lingxi["outcomes"] == {"folded": section["purchases"]}, lingxi["outcomes"]
    assert lingxi["purchases_in_profiles"] == lingxi["outcomes"]["folded"]
    assert lingxi["consent_changes"] == {"applied": config["users"]}
    assert lingxi["conflicts"] == 0, "one replica is never raced"
    assert 0 < lingxi["lists_announced"] <= section["purchases"]
    reads = section["reads"]
    assert set(reads["results"]) == {"redis", "gateway"}
    for result in reads["results"].values():
        assert result["requests"] == config["reads"]
        assert result["ok"] == config["reads"], result["errors_by_kind"]
        assert result["errors"] == 0
        latency = result["latency_ms"]
        assert all(_positive(latency[q]) for q in ("p50", "p95", "p99", "max"))
        assert latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
        assert result["personalised"] == config["reads"], "each answer is the user's own personalised list"
    assert _positive(reads["p95_vs_redis"])
    targets = section["targets"]
    assert targets["purchases_per_s"] == 10_000
    assert targets["purchases_per_s_met"] == (lingxi["purchases_per_s"] >= 10_000)
    assert targets["read_p95_ms"] == 10
    assert targets["read_p95_met"] == (reads["results"]["gateway"]["latency_ms"]["p95"] < 10)
    table = (out / "latest.md").read_text()
    assert table in stdout, "the table is printed"
    assert "Personalization: the shopper simulator's purchases" in table
    assert "≥ 10,000/s" in table
    assert "p95 < 10 ms" in table
    assert "| read | ok | errors |" in table
    assert (out / "latest.png").read_bytes().startswith(b"\x89PNG")


def test_report_renders_results_without_the_personalization_section(
    personalization_run: tuple[Path, str, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(REPO_ROOT))  # the bench is run from the repository root, not installed
    report = importlib.import_module("bench.report")
    _, _, document = personalization_run
    older = copy.deepcopy(document)
    del older["scenarios"]["personalization"]["reads"]
    assert "Personalization: the shopper simulator's purchases" in report.markdown(older)
    assert "Recommendation reads" not in report.markdown(older)
    del older["scenarios"]["personalization"]
    assert "Personalization: the shopper simulator's purchases" not in report.markdown(older)
    report.chart(older, tmp_path / "older.png")
    assert (tmp_path / "older.png").read_bytes().startswith(b"\x89PNG")
