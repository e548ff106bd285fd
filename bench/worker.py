"""What every measurement worker (``python -m bench.nlu_worker``, ``bench.moderation_worker``) shares:
its command line and its output. Light on purpose: a worker times its own imports, so this module
imports nothing heavy. The bench process starts workers with ``bench.common.run_worker``."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any

from bench.stats import NOISY_PERCENT


def worker_parser(prog: str) -> argparse.ArgumentParser:
    """The options every worker takes (the run's noise settings and the processes to sample); a
    worker adds its own."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--seconds", type=float, default=3.0, help="how long each measurement lasts")
    parser.add_argument("--threshold", type=float, default=NOISY_PERCENT, help="other load, %% of a core")
    parser.add_argument("--tries", type=int, default=3, help="attempts per measurement at most")
    parser.add_argument("--retry-budget", type=float, default=float("inf"), help="seconds to retake in")
    parser.add_argument("--cpu", nargs="*", default=[], metavar="NAME=PID", help="other processes to sample")
    return parser


def worker_main(
    parser: argparse.ArgumentParser, bench: Callable[[argparse.Namespace], dict[str, Any]]
) -> None:
    """Run a worker: progress and logs on stderr, the result as one JSON line on stdout."""
    args = parser.parse_args()
    out = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):  # stdout carries the result only
        result = bench(args)
    out.write(json.dumps(result, ensure_ascii=False) + "\n")
    out.flush()


def sampled_pids(pairs: Sequence[str]) -> dict[str, int]:
    """``--cpu NAME=PID ...`` as a mapping."""
    out = {}
    for pair in pairs:
        name, _, pid = pair.partition("=")
        out[name] = int(pid)
    return out


def package_version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"
