"""The assistant's local language understanding, timed in a process of its own (so scikit-learn and the
model stay out of the bench process); prints one JSON object on stdout.

    python -m bench.nlu_worker [--seconds 3] [--batch 100] [--tries 3] [--retry-budget S] [--cpu NAME=PID ...]

On the labelled test split, after training the classifier (timed) and one warm-up pass through every
path, each measurement runs whole passes over the set until it has lasted ``--seconds``:

1. ``engine``: ``Engine.understand``, one query at a time, ``time.perf_counter`` around each call;
2. ``engine_batch``: ``Engine.understand_many`` in batches of ``--batch``;
3. ``classifier``: ``LearnedClassifier.classify`` (our scorer), one sentence at a time;
4. ``sklearn``: the same probabilities through scikit-learn's ``predict_proba``, one sentence at a
   time (``library_probabilities([u])``): the baseline of 3.

Each measurement samples the CPU of this process, of the ``--cpu`` processes and of the machine; one
taken while other work loaded the machine more than ``--threshold`` % of a core is taken again (at most
``--tries`` times, while ``--retry-budget`` seconds last). Progress goes to stderr as ``@@say TEXT``
and ``@@advance`` lines (``STEPS`` of them), for the bench's progress bar.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from bench.stats import OTHERS, cpu_percent, cpu_sample, percentile
from bench.worker import package_version, sampled_pids, worker_main, worker_parser

TIMEZONE = "Asia/Shanghai"
NOW = datetime(2026, 11, 25, 10, tzinfo=ZoneInfo(TIMEZONE))
"""The moment every time slot is resolved from (the data set's reference time)."""
STEPS = 5
"""``@@advance`` lines a successful run writes: start-up, then one per measurement."""

T = TypeVar("T")


def say(text: str) -> None:
    print(f"@@say {text}", file=sys.stderr, flush=True)


def advance() -> None:
    print("@@advance", file=sys.stderr, flush=True)


@dataclass
class Retry:
    """``bench.common.Noise``'s rule, without its imports: measure again while other load disturbed."""

    threshold: float
    tries: int
    deadline: float
    """``time.monotonic()`` after which nothing is measured again."""

    def again(self, cpu: dict[str, float], attempt: int) -> bool:
        return (
            cpu.get(OTHERS, 0.0) > self.threshold
            and attempt < self.tries
            and time.monotonic() < self.deadline
        )


@dataclass(frozen=True)
class Passes:
    """Whole passes over a set of calls: how many queries, how long, and each call's duration."""

    queries: int
    seconds: float
    durations: list[float]


def passes(call: Callable[[T], object], items: Sequence[T], sizes: Sequence[int], seconds: float) -> Passes:
    """Call ``call`` on every item, pass after pass, until ``seconds`` have gone by (at least one pass);
    ``sizes[i]`` is how many queries item i holds."""
    clock = time.perf_counter
    durations: list[float] = []
    queries = 0
    per_pass = sum(sizes)
    started = clock()
    while True:
        for item in items:
            before = clock()
            call(item)
            durations.append(clock() - before)
        queries += per_pass
        elapsed = clock() - started
        if elapsed >= seconds:
            return Passes(queries, elapsed, durations)


def _ms(values: Sequence[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 50) * 1000, 4),
        "p95": round(percentile(values, 95) * 1000, 4),
        "p99": round(percentile(values, 99) * 1000, 4),
        "max": round(max(values) * 1000, 4),
    }


def measure(
    label: str, run: Callable[[], Passes], pids: dict[str, int], retry: Retry, *, per_call: bool
) -> dict[str, Any]:
    """Run one measurement, again while it was disturbed; the figures of the kept attempt."""
    attempt = 0
    while True:
        attempt += 1
        before = cpu_sample(pids)
        started = time.perf_counter()
        done = run()
        cpu = cpu_percent(before, cpu_sample(pids), time.perf_counter() - started)
        if not retry.again(cpu, attempt):
            break
        say(f"nlu: {label}: other load {cpu[OTHERS]:.0f}%, measuring again")
    row: dict[str, Any] = {
        "status": "ok",
        "queries": done.queries,
        "calls": len(done.durations),
        "seconds": round(done.seconds, 3),
        "queries_per_s": round(done.queries / done.seconds, 1),
        "us_per_query": round(done.seconds / done.queries * 1e6, 2),
        "cpu_percent": cpu,
        "retaken": attempt - 1,
    }
    if per_call:
        row["latency_ms"] = _ms(done.durations)
    else:
        row["call_ms"] = _ms(done.durations)
    return row


def bench(args: argparse.Namespace) -> dict[str, Any]:
    pids = {**sampled_pids(args.cpu), "worker": os.getpid()}
    retry = Retry(args.threshold, args.tries, time.monotonic() + args.retry_budget)
    say("nlu: loading the engine and training the classifier")
    cpu_before = cpu_sample(pids)
    started = time.perf_counter()
    from lingxi_assistant import dataset
    from lingxi_assistant.lang import Utterance
    from lingxi_assistant.learned import LearnedClassifier, universal_sentence_encoder
    from lingxi_assistant.model_cache import remember
    from lingxi_assistant.understanding import default_classifier, default_engine

    imported = time.perf_counter()
    # Fitted here, as on a service's first start on a machine; this fit also keeps scikit-learn's own
    # objects for the baseline row (a replica reads the fitted arrays from its cache instead).
    training = dataset.split("train")
    fitted = LearnedClassifier(training, encoder=universal_sentence_encoder())
    trained = time.perf_counter()
    remember(fitted, training)  # the engine below reads it back instead of fitting it a second time
    startup_cpu = cpu_percent(cpu_before, cpu_sample(pids), trained - started)
    engine = default_engine()
    classifier = default_classifier()
    examples = dataset.split("test")
    if not examples:
        raise RuntimeError("the labelled test split is empty")
    if 0 < args.sample < len(examples):  # evenly spread, so every locale and intent stays in
        examples = tuple(examples[i * len(examples) // args.sample] for i in range(args.sample))
    requests = [(e.text, e.locale, NOW, TIMEZONE) for e in examples]
    batches = [requests[i : i + args.batch] for i in range(0, len(requests), args.batch)]
    utterances = [Utterance.of(e.text) for e in examples]
    learned = fitted if isinstance(classifier, LearnedClassifier) else None

    say(f"nlu: warm-up pass over {len(examples)} test sentences")
    for request in requests:
        engine.understand(*request)
    for batch in batches:
        engine.understand_many(batch)
    for utterance in utterances:
        classifier.classify(utterance)
    if learned is not None:
        for utterance in utterances[:100]:
            learned.library_probabilities([utterance])
    advance()

    ones = [1] * len(requests)
    seconds = args.seconds
    results: list[dict[str, Any]] = []

    def step(key: str, label: str, run: Callable[[], Passes], *, per_call: bool = True) -> None:
        say(f"nlu: {label}, {seconds:g} s")
        row = {"key": key, "label": label, **measure(label, run, pids, retry, per_call=per_call)}
        results.append(row)
        advance()

    step(
        "engine",
        "whole engine, one query at a time",
        lambda: passes(lambda r: engine.understand(*r), requests, ones, seconds),
    )
    step(
        "engine_batch",
        f"whole engine, understand_many in batches of {args.batch}",
        lambda: passes(engine.understand_many, batches, [len(b) for b in batches], seconds),
        per_call=False,
    )
    step(
        "classifier",
        "classifier only, our scorer, one at a time",
        lambda: passes(classifier.classify, utterances, ones, seconds),
    )
    if learned is not None:
        step(
            "sklearn",
            "baseline: scikit-learn predict_proba, one at a time",
            lambda: passes(lambda u: learned.library_probabilities([u]), utterances, ones, seconds),
        )
    else:
        results.append(
            {
                "key": "sklearn",
                "label": "baseline: scikit-learn predict_proba, one at a time",
                "status": "skipped",
                "reason": f"the classifier is a {type(classifier).__name__}, not a LearnedClassifier",
            }
        )
        advance()

    locales: dict[str, int] = {}
    for example in examples:
        locales[example.locale] = locales.get(example.locale, 0) + 1
    return {
        "queries": len(examples),
        "locales": dict(sorted(locales.items())),
        "intents": len({e.intent for e in examples}),
        "classifier": type(classifier).__name__,
        "libraries": {name: package_version(name) for name in ("scikit-learn", "numpy", "scipy")},
        "startup": {
            "import_s": round(imported - started, 2),
            "training_s": round(trained - imported, 2),
            "cpu_percent": startup_cpu,
        },
        "results": results,
    }


def main() -> None:
    parser = worker_parser("python -m bench.nlu_worker")
    parser.add_argument("--batch", type=int, default=100, help="queries per understand_many call")
    parser.add_argument(
        "--sample", type=int, default=0, help="measure on this many test sentences (0: all of them)"
    )
    worker_main(parser, bench)


if __name__ == "__main__":
    main()
