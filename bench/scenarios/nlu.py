"""Local language understanding: the assistant's engine (classifier + skills) on the labelled test split,
one query at a time and in batches, and its classifier against scikit-learn's own ``predict_proba``.

Everything is measured in ``python -m bench.nlu_worker``, a process of its own, so scikit-learn and the
model stay out of the bench process; this module starts it, relays its progress and checks the issue's
targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import Noise, Ticker, run_worker

TARGET_P95_MS = 5.0
"""The issue's target: the whole engine answers one query in under 5 ms at the 95th percentile."""
TARGET_QPS = 1000.0
"""The issue's target: at least 1,000 queries/s in one process."""
STEPS = 5
"""Progress steps: start-up (import, training, warm-up), then the four measurements."""

METHOD = (
    "`python -m bench.nlu_worker` runs on its own (scikit-learn and the model stay out of the bench "
    "process): it imports the engine, fits the classifier as a service does on its first start on a "
    "machine (both stages, timed; later starts read the fitted arrays from the cache), makes one warm-up "
    "pass through every path, then measures each in whole "
    "passes over {queries:,} sentences of the labelled test split ({locales}) until {seconds:g} s "
    "have gone by: (1) `Engine.understand`, one query at a time, `time.perf_counter` around each call; "
    "(2) `Engine.understand_many` in batches of {batch}; (3) the classifier alone "
    "(`LearnedClassifier.classify` on normalised sentences: our scorer over the fitted vocabularies, idf "
    "weights and coefficients, candidates included); (4) the baseline of (3): the same probabilities "
    "through scikit-learn's pipeline (`transform` + `predict_proba`) one sentence at a time. Times "
    "resolve from 2026-11-25 10:00 Asia/Shanghai. One process, one thread; {libraries}."
)


@dataclass(frozen=True)
class NluConfig:
    seconds: float = 3.0
    """How long each of the four measurements lasts (whole passes over the test split)."""
    batch: int = 100
    """Queries per ``understand_many`` call."""
    sample: int = 0
    """Test sentences measured (evenly spread over the split); 0: all of them."""


def steps(config: NluConfig) -> int:
    return STEPS


async def run(config: NluConfig, tick: Ticker, workdir: Path, noise: Noise) -> dict[str, Any]:
    tick.say("nlu: starting the worker")
    result = await run_worker(
        "bench.nlu_worker",
        ["--batch", str(config.batch), "--sample", str(config.sample)],
        seconds=config.seconds,
        steps=STEPS,
        tick=tick,
        workdir=workdir,
        noise=noise,
    )
    summary = summarise(result, config)
    noise.retaken += summary["retaken"]
    return summary


def summarise(result: dict[str, Any], config: NluConfig) -> dict[str, Any]:
    """The worker's figures plus the targets, the comparison with scikit-learn and the method."""
    rows = {row["key"]: row for row in result["results"]}
    single, batch = rows["engine"], rows.get("engine_batch", {})
    ours, library = rows.get("classifier", {}), rows.get("sklearn", {})
    speedup = None
    if ours.get("status") == "ok" and library.get("status") == "ok":
        speedup = round(library["us_per_query"] / ours["us_per_query"], 1)
    p95 = single["latency_ms"]["p95"]
    libraries = ", ".join(f"{name} {version}" for name, version in result["libraries"].items())
    locales = ", ".join(f"{count:,} {locale}" for locale, count in result["locales"].items())
    return {
        **result,
        "method": METHOD.format(
            queries=result["queries"],
            locales=locales,
            seconds=config.seconds,
            batch=config.batch,
            libraries=libraries,
        ),
        "seconds": config.seconds,
        "batch_size": config.batch,
        "speedup_vs_sklearn": speedup,
        "targets": {
            "p95_ms": TARGET_P95_MS,
            "queries_per_s": TARGET_QPS,
            "p95_met": p95 < TARGET_P95_MS,
            "queries_per_s_met": single["queries_per_s"] >= TARGET_QPS,
            "batch_queries_per_s_met": batch.get("queries_per_s", 0.0) >= TARGET_QPS,
        },
        "retaken": sum(row.get("retaken", 0) for row in result["results"]),
    }
