"""The command line: run the scenarios under a progress bar, print the table, write the results.

    python -m bench [--quick] [--only broker|http|scale|nlu|moderation|vision|maintenance|personalization]
                    [--output DIR] [--update-readme] [--keep-logs]

Scenarios: ``broker`` (one consumer draining a backlog, raw redis-py against Lingxi), ``http`` (the
assistant path over HTTP under open-loop load), ``scale`` (replicas draining one backlog), ``nlu``
(the assistant's local language understanding, timed in ``bench.nlu_worker``, its own process, against
scikit-learn's ``predict_proba``), ``moderation`` (the compliance service's ``Moderator.check`` on
500-character answers, timed in ``bench.moderation_worker``, against the plain Aho-Corasick lexicon pass),
``vision`` (each image analyser on a one-megapixel photo, timed in ``bench.vision_worker``, against
the libraries under it and the JPEG decode; then images/s and memory of 1 and 2 vision replicas),
``maintenance`` (readings/s of 1 and 2 real maintenance replicas draining the fleet simulator's
telemetry batches, against a raw redis-py loop decoding the same entries; then a device's bytes in Redis)
and ``personalization`` (purchases/s of the real personalization service folding the shopper simulator's
purchases of consenting users, against a raw redis-py loop decoding the same entries; then the p95 of
reading recommendations through the gateway, against a bare Redis GET).

Writes ``<UTC timestamp>.json``, ``latest.json``, ``latest.md`` and ``latest.png`` into ``--output``
(default ``bench/results``); ``--update-readme`` puts the table into README.md between
``<!-- bench:start -->`` and ``<!-- bench:end -->``. In ``bench/results`` and the README only a complete,
successful full run replaces what is there (no ``--quick``, no ``--only``, no failed scenario).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from bench import report
from bench.common import REPO_ROOT, Noise, calibrate_burn, dump_json, machine_info, scratch_dir
from bench.scenarios import broker, http, maintenance, moderation, nlu, personalization, scale, vision

SCENARIOS = ("broker", "http", "scale", "nlu", "moderation", "vision", "maintenance", "personalization")
DEFAULT_OUTPUT = REPO_ROOT / "bench" / "results"
RETRY_BUDGET_S = 420.0
"""No measurement is taken again once the run has lasted this long (keeps `make bench` under 10 min)."""


@dataclass(frozen=True)
class Plan:
    broker: broker.BrokerConfig
    http: http.HttpConfig
    scale: scale.ScaleConfig
    nlu: nlu.NluConfig
    moderation: moderation.ModerationConfig
    vision: vision.VisionConfig
    maintenance: maintenance.MaintenanceConfig
    personalization: personalization.PersonalizationConfig

    @classmethod
    def full(cls) -> Plan:
        return cls(
            broker.BrokerConfig(),
            http.HttpConfig(),
            scale.ScaleConfig(),
            nlu.NluConfig(),
            moderation.ModerationConfig(),
            vision.VisionConfig(),
            maintenance.MaintenanceConfig(),
            personalization.PersonalizationConfig(),
        )

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            broker.BrokerConfig(single_n=1000, batch_n=3000, repeats=1),
            http.HttpConfig(rates=(20, 50), duration_s=2.0, warmup_s=0.5),
            scale.ScaleConfig(replicas=(1, 2), light_n=400, heavy_n=200, repeats=1),
            nlu.NluConfig(seconds=0.5, sample=200),
            moderation.ModerationConfig(seconds=0.5, answers=40, audit_appends=500, audit_repeats=1),
            vision.VisionConfig(seconds=0.2, min_calls=2, images=4, replicas=(2,)),
            maintenance.MaintenanceConfig(devices=3000, readings=6000, per_batch=100),
            personalization.PersonalizationConfig(
                users=1000, purchases=4000, reads=300, read_rate=100.0, refresh_delay_s=1.0
            ),
        )


class BarTicker:
    def __init__(self, progress: Progress, task: Any) -> None:
        self.progress, self.task = progress, task

    def say(self, text: str) -> None:
        self.progress.update(self.task, description=text)

    def advance(self, steps: int = 1) -> None:
        self.progress.advance(self.task, steps)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, about 30-60 s (smoke test)")
    parser.add_argument(
        "--only", choices=SCENARIOS, action="append", help="run only this scenario (repeatable)"
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where results are written")
    parser.add_argument("--update-readme", action="store_true", help="put the table into README.md")
    parser.add_argument("--keep-logs", action="store_true", help="keep the services' logs and Redis dirs")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    selected = [name for name in SCENARIOS if not args.only or name in args.only]
    plan = Plan.quick() if args.quick else Plan.full()
    # Calibrate the heavy handler now, while nothing of ours runs yet.
    plan = dataclasses.replace(
        plan, scale=dataclasses.replace(plan.scale, heavy_iterations=calibrate_burn(plan.scale.heavy_ms))
    )
    workdir = scratch_dir("lingxi-bench-")
    console = Console(stderr=True)
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    machine = machine_info()
    console.print(
        f"[bold]Lingxi bench[/] ({'quick' if args.quick else 'full'}): {', '.join(selected)} "
        f"on {machine['cpu_model']} × {machine['cores']}, Redis {machine['redis_server']}; logs in {workdir}"
    )
    steps = {
        "broker": broker.steps(plan.broker),
        "http": http.steps(plan.http),
        "scale": scale.steps(plan.scale),
        "nlu": nlu.steps(plan.nlu),
        "moderation": moderation.steps(plan.moderation),
        "vision": vision.steps(plan.vision),
        "maintenance": maintenance.steps(plan.maintenance),
        "personalization": personalization.steps(plan.personalization),
    }
    # Measurements disturbed by other work on the machine are taken again, up to a time budget.
    noise = Noise(tries=1 if args.quick else 3, deadline=time.monotonic() + RETRY_BUDGET_S)
    runners: dict[str, Callable[[BarTicker, Path], Coroutine[Any, Any, dict[str, Any]]]] = {
        "broker": lambda tick, wd: broker.run(plan.broker, tick, wd, noise),
        "http": lambda tick, wd: http.run(plan.http, tick, wd, noise),
        "scale": lambda tick, wd: scale.run(plan.scale, tick, wd, noise),
        "nlu": lambda tick, wd: nlu.run(plan.nlu, tick, wd, noise),
        "moderation": lambda tick, wd: moderation.run(plan.moderation, tick, wd, noise),
        "vision": lambda tick, wd: vision.run(plan.vision, tick, wd, noise),
        "maintenance": lambda tick, wd: maintenance.run(plan.maintenance, tick, wd, noise),
        "personalization": lambda tick, wd: personalization.run(plan.personalization, tick, wd, noise),
    }
    results: dict[str, dict[str, Any]] = {}
    failed = False
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("starting", total=sum(steps[name] for name in selected))
        ticker = BarTicker(progress, task)
        for name in selected:
            done_before = progress.tasks[0].completed
            scenario_dir = workdir / name
            scenario_dir.mkdir()
            scenario_started = time.perf_counter()
            try:
                results[name] = asyncio.run(runners[name](ticker, scenario_dir))
            except Exception as error:
                failed = True
                results[name] = {"error": f"{type(error).__name__}: {error}"[:2000]}
                console.print(f"[red]{name} failed[/]: {error}")
                console.print(traceback.format_exc(), markup=False, highlight=False)
                progress.update(task, completed=done_before + steps[name])
            results[name]["wall_s"] = round(time.perf_counter() - scenario_started, 1)
        progress.update(task, description="done")
    document: dict[str, Any] = {
        "schema": 1,
        "started_at": started_at.isoformat(timespec="seconds"),
        "wall_s": round(time.perf_counter() - started, 1),
        "quick": args.quick,
        "only": args.only,
        "machine": machine,
        "noise": {"threshold_percent": noise.threshold, "retaken": noise.retaken},
        "config": {name: asdict(getattr(plan, name)) for name in selected},
        "scenarios": results,
    }
    table = report.markdown(document)
    args.output.mkdir(parents=True, exist_ok=True)
    stamp = started_at.strftime("%Y%m%dT%H%M%SZ")
    dump_json(args.output / f"{stamp}.json", document)
    print(table)
    written = [f"{stamp}.json"]
    # The committed latest.* and the README show complete, successful full runs only; a run into
    # another --output directory always writes its own latest.* files.
    complete = not failed and not args.quick and not args.only
    if complete or args.output.resolve() != DEFAULT_OUTPUT.resolve():
        dump_json(args.output / "latest.json", document)
        (args.output / "latest.md").write_text(table)
        written += ["latest.json", "latest.md"]
        try:
            report.chart(document, args.output / "latest.png")
            written.append("latest.png")
        except Exception as error:
            failed = True
            console.print(f"[red]chart failed[/]: {error}")
    else:
        console.print("latest.* left as they were: only a complete, successful full run replaces them")
    console.print(f"wrote {', '.join(written)} in {args.output}")
    if args.update_readme:
        if not complete:
            console.print("README.md left as it was: only a complete, successful full run goes there")
        elif report.update_readme(REPO_ROOT / "README.md", table):
            console.print("README.md: benchmark table updated")
        else:
            failed = True
            console.print(f"[red]README.md has no {report.README_START} … {report.README_END} markers[/]")
    if failed or args.keep_logs:
        console.print(f"logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
