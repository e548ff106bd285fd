"""``lingxi evaluate partners``: every configured model partner of a region, and the local engine beside
them, on one suite (intents, factual questions, requests that must be refused); writes scorecard.md,
scorecard.json and scorecard.png.

Imported whenever the ``lingxi`` command starts: everything heavy is imported inside the functions.
The scoring is pure, in :mod:`lingxi_assistant.scorecard`; this module calls and writes.

Shared state. The router keeps breakers, rate limits and the day's spend in Redis under fixed keys
(``lingxi:partners:*``). An evaluation must neither open a production breaker (a failing provider
here would cool it for every user) nor eat the production budget, yet its spend must be visible: it
runs on **another logical database** of the same Redis, ``--redis-db`` (default 15), where
``PartnerState(redis).usage()`` and ``HGETALL lingxi:partners:usage:<day>`` show it. A URL that
already names that database is refused. Redis Cluster has only database 0: point ``--redis-url`` at
another instance there. Rate limits are counted in that database too, so a provider's quota is
shared with production without being counted together: evaluate at quiet hours or lower
``--concurrency``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Mapping, Sequence

    from redis.asyncio import Redis
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from lingxi_assistant.partners import PartnerRouter, PartnersConfig, ProviderConfig, ProviderUsage
    from lingxi_assistant.scorecard import ContenderScore, ItemResult, Scorecard, SuiteItem
    from lingxi_assistant.understanding import Engine

DEFAULT_OUTPUT = Path("docs/partner-scorecard")
EVAL_REDIS_DB = 15
"""The logical Redis database of evaluation runs: their breakers, rate limits and spend, apart from
production's (see the module docstring)."""
DEFAULT_CONCURRENCY = 4


def evaluate_partners(
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="Folder for scorecard.md, scorecard.json and scorecard.png."),
    ] = DEFAULT_OUTPUT,
    region: Annotated[
        str, typer.Option(help="Users' region: only providers whose endpoint is in it are called.")
    ] = "CN",
    providers_file: Annotated[
        Path | None,
        typer.Option(
            "--providers-file",
            exists=True,
            dir_okay=False,
            help="Providers YAML (default: $LINGXI_ASSISTANT_PROVIDERS_FILE, else the shipped one).",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            min=1, help="At most this many items of each kind (intent, QA, must-refuse).", show_default=False
        ),
    ] = None,
    provider: Annotated[
        list[str] | None,
        typer.Option(
            "--provider",
            "-p",
            help="Measure this provider (repeat for several; default: the region's chain).",
            show_default=False,
        ),
    ] = None,
    redis_url: Annotated[
        str | None,
        typer.Option(
            "--redis-url",
            metavar="URL",
            help="Redis server for the partners' shared state (default: $LINGXI_REDIS_URL, else "
            "$REDIS_URL, else redis://127.0.0.1:6379/0); the run uses its database --redis-db.",
            show_default=False,
        ),
    ] = None,
    redis_db: Annotated[
        int,
        typer.Option(
            min=0,
            help="Logical database for the run's breakers, rate limits and spend, apart from production.",
        ),
    ] = EVAL_REDIS_DB,
    concurrency: Annotated[
        int, typer.Option(min=1, help="Calls in flight to one provider.")
    ] = DEFAULT_CONCURRENCY,
) -> None:
    """Intent accuracy, QA accuracy, refusal rate, latency, tokens and cost of each model partner of a
    region (each on its own, no fallback) and of the local engine, on the same suite."""
    import asyncio
    import json
    import os
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from lingxi.cli.common import fail, mask_url, resolve_redis_url
    from redis.exceptions import RedisError
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from lingxi_assistant.drafting import LOCAL_MODEL_NAME, SYSTEM_PROMPT
    from lingxi_assistant.partners import PartnersConfigError, load_config
    from lingxi_assistant.scorecard import Contender, Scorecard, markdown, plan_providers, summarise
    from lingxi_assistant.understanding import ENGINE_NAME, default_engine

    console = Console(stderr=True, highlight=False)
    region = region.strip().upper()
    env = dict(os.environ)
    try:
        config = load_config(providers_file, env=env)
    except PartnersConfigError as error:
        fail(str(error))
    try:
        suite = load_suite(limit)
        selected, skipped = plan_providers(config, region, env, provider or ())
    except ValueError as error:
        fail(str(error))
    for skip in skipped:
        console.print(f"skipped {skip.name}: {skip.reason}", markup=False)
    if not selected:
        console.print(f"no model partner to measure for region {region}: the local engine only")

    url = resolve_redis_url(redis_url, env)
    if selected:
        try:
            asyncio.run(_check_redis(url, redis_db))
        except ValueError as error:
            fail(str(error))
        except RedisError as error:
            fail(f"cannot use Redis at {mask_url(url)} (database {redis_db}): {error}")

    with console.status("training the local engine on the train split"):
        engine = default_engine()

    scores: list[ContenderScore] = []
    spend: dict[str, ProviderUsage] = {}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(ENGINE_NAME, total=len(suite) * (1 + len(selected)))
        local = Contender(ENGINE_NAME, "lingxi", LOCAL_MODEL_NAME, region, local=True)
        scores.append(summarise(local, _run_local(engine, suite, progress, task)))
        if selected:
            try:
                measured, spend = asyncio.run(
                    _run_partners(
                        config,
                        selected,
                        suite,
                        region,
                        url,
                        redis_db,
                        env,
                        SYSTEM_PROMPT,
                        concurrency,
                        progress,
                        task,
                    )
                )
            except RedisError as error:
                fail(f"Redis failed during the run at {mask_url(url)} (database {redis_db}): {error}")
            scores.extend(
                summarise(Contender.of(p), results) for p, results in zip(selected, measured, strict=True)
            )

    notes: list[str] = []
    extra: dict[str, object] = {}
    if selected:
        total = sum(usage.cost_cny for usage in spend.values())
        calls = sum(usage.calls for usage in spend.values())
        notes.append(
            f"Breakers, rate limits and spend were kept in logical Redis database {redis_db}, apart from "
            f"production's; evaluation spend there today (Asia/Shanghai): {total:.4f} CNY over {calls} calls."
        )
        extra = {
            "redis_db": redis_db,
            "evaluation_spend_today": {
                name: {
                    "calls": usage.calls,
                    "input_tokens": usage.input_tokens,
                    "output_tokens": usage.output_tokens,
                    "cost_cny": usage.cost_cny,
                }
                for name, usage in sorted(spend.items())
            },
        }
    card = Scorecard(
        region=region,
        generated_at=datetime.now(ZoneInfo("Asia/Shanghai")).isoformat(timespec="seconds"),
        suite=tuple(suite),
        scores=tuple(scores),
        skipped=tuple(skipped),
        limit=limit,
        notes=tuple(notes),
        extra=extra,
    )
    output.mkdir(parents=True, exist_ok=True)
    text = markdown(card)
    (output / "scorecard.md").write_text(text, encoding="utf-8")
    (output / "scorecard.json").write_text(
        json.dumps(card.to_dict(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    written = ["scorecard.md", "scorecard.json"]
    if _write_chart(card, output / "scorecard.png", console):
        written.append("scorecard.png")
    typer.echo(text)
    console.print(f"wrote {', '.join(written)} in {output}", markup=False)
    if notes:
        console.print(notes[0], markup=False)


def load_suite(limit: int | None = None) -> list[SuiteItem]:
    """The suite in the order it is asked: the sample of the intent test split, then the stored QA and
    must-refuse items of ``data/eval/suite.jsonl``; at most ``limit`` of each kind."""
    from importlib import resources

    from lingxi_assistant import dataset
    from lingxi_assistant.scorecard import build_suite, intent_sample, parse_suite

    stored = resources.files("lingxi_assistant").joinpath("data", "eval", "suite.jsonl")
    items = parse_suite(stored.read_text(encoding="utf-8"), source="data/eval/suite.jsonl")
    return build_suite(items, intent_sample(dataset.split("test")), limit)


def _run_local(
    engine: Engine, suite: Sequence[SuiteItem], progress: Progress, task: TaskID
) -> list[ItemResult]:
    """The local engine on every item, at the data set's reference time, warm."""
    import time
    from datetime import datetime

    from lingxi_assistant import dataset
    from lingxi_assistant.scorecard import score_local

    now = datetime.fromisoformat(dataset.REFERENCE_NOW)
    # A pass that is not timed first: the engine loads some of its parts on first use (the sentence
    # encoder, date data), which would show as one item taking a second.
    engine.understand_many([(item.text, item.locale, now, dataset.REFERENCE_TZ) for item in suite])
    results = []
    for item in suite:
        started = time.perf_counter()
        understanding = engine.understand(item.text, item.locale, now, dataset.REFERENCE_TZ)
        latency_ms = (time.perf_counter() - started) * 1000
        results.append(score_local(item, understanding.intent, understanding.reply_text, latency_ms))
        progress.advance(task)
    return results


def _eval_redis(url: str, db: int) -> Redis:
    """A client on logical database ``db`` of the server ``url`` names; ValueError for a bad URL, or
    one that already names ``db`` (the run would share production's breakers and budget)."""
    from redis.asyncio import ConnectionPool, Redis
    from redis.asyncio.connection import parse_url

    if int(parse_url(url).get("db", 0) or 0) == db:
        raise ValueError(
            f"the Redis URL names database {db}, the one this evaluation would use: its breakers, rate "
            "limits and spend would mix with production's; choose another --redis-db"
        )
    options: dict[str, Any] = {"socket_connect_timeout": 3, **parse_url(url), "db": db}
    return Redis.from_pool(ConnectionPool(**options))


async def _check_redis(url: str, db: int) -> None:
    client = _eval_redis(url, db)
    try:
        await client.ping()
    finally:
        await client.aclose()


async def _run_partners(
    config: PartnersConfig,
    providers: Sequence[ProviderConfig],
    suite: Sequence[SuiteItem],
    region: str,
    url: str,
    db: int,
    env: Mapping[str, str],
    system_prompt: str,
    concurrency: int,
    progress: Progress,
    task: TaskID,
) -> tuple[list[list[ItemResult]], dict[str, ProviderUsage]]:
    """Each provider on every item, one provider after the other; then today's evaluation spend."""
    import asyncio
    import uuid

    from structlog.testing import capture_logs

    from lingxi_assistant.partners import PartnerRouter, PartnerState
    from lingxi_assistant.scorecard import single_provider_config

    run = uuid.uuid4().hex[:8]
    client = _eval_redis(url, db)
    measured: list[list[ItemResult]] = []
    try:
        # The router logs every failed call; the scorecard records each outcome, and lines on the
        # terminal would tear the progress bar apart.
        with capture_logs():
            for provider in providers:
                progress.update(task, description=provider.name)
                alone = single_provider_config(config, provider, region)
                async with PartnerRouter(alone, client, env=env) as router:
                    gate = asyncio.Semaphore(concurrency)
                    measured.append(
                        list(
                            await asyncio.gather(
                                *(
                                    _ask(
                                        router,
                                        item,
                                        region,
                                        f"eval-{run}-{i}",
                                        system_prompt,
                                        gate,
                                        progress,
                                        task,
                                    )
                                    for i, item in enumerate(suite)
                                )
                            )
                        )
                    )
        spend = await PartnerState(client).usage()
    finally:
        await client.aclose()
    return measured, spend


async def _ask(
    router: PartnerRouter,
    item: SuiteItem,
    region: str,
    request_id: str,
    system_prompt: str,
    gate: asyncio.Semaphore,
    progress: Progress,
    task: TaskID,
) -> ItemResult:
    """One item, one call (retries per the file); the outcome judged, never raised."""
    async with gate:
        result = await _ask_once(router, item, region, request_id, system_prompt)
    progress.advance(task)
    return result


async def _ask_once(
    router: PartnerRouter, item: SuiteItem, region: str, request_id: str, system_prompt: str
) -> ItemResult:
    from lingxi_assistant.partners import PartnersUnavailable
    from lingxi_assistant.scorecard import answer_messages, intent_messages, score_answer, score_failure

    messages = (
        intent_messages(item.text) if item.kind == "intent" else answer_messages(item.text, system_prompt)
    )
    try:
        answer = await router.ask(messages, region=region, request_id=request_id)
    except PartnersUnavailable as error:
        called = [attempt for attempt in error.attempts if attempt.called]
        last = called[-1] if called else (error.attempts[-1] if error.attempts else None)
        if last is None:
            return score_failure(item, error.reason)
        return score_failure(item, last.outcome, last.status)
    return score_answer(
        item,
        answer.text,
        latency_ms=answer.latency_ms,
        input_tokens=answer.input_tokens,
        output_tokens=answer.output_tokens,
        cost_cny=answer.cost_cny,
        usage_estimated=answer.usage_estimated,
    )


def _write_chart(card: Scorecard, path: Path, console: Console) -> bool:
    """Accuracy and latency per contender as a PNG; False (and a line) when matplotlib is missing."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        console.print("matplotlib is not installed (uv sync --group bench): no scorecard.png")
        path.unlink(missing_ok=True)  # never leave an older chart beside the new numbers
        return False
    names = [score.contender.name for score in card.scores]
    positions = range(len(names))
    figure = Figure(figsize=(max(7.0, 1.6 * len(names) + 4), 4.2), layout="constrained")
    accuracy, latency = figure.subplots(1, 2, width_ratios=(3, 2))
    width = 0.26
    for offset, (label, values) in enumerate(
        (
            ("intent", [s.intent.value for s in card.scores]),
            ("QA", [s.qa.value for s in card.scores]),
            ("refusals", [s.refusal.value for s in card.scores]),
        )
    ):
        heights = [100 * v if v is not None else 0.0 for v in values]
        accuracy.bar([p + (offset - 1) * width for p in positions], heights, width, label=label)
    accuracy.set_xticks(list(positions), names)
    accuracy.set_ylim(0, 118)
    accuracy.set_ylabel("%")
    accuracy.set_title("Accuracy and refusal rate")
    accuracy.legend(loc="upper center", ncols=3, fontsize="small")
    for offset, (label, ms) in enumerate(
        (
            ("p50", [s.latency_p50_ms for s in card.scores]),
            ("p95", [s.latency_p95_ms for s in card.scores]),
        )
    ):
        heights = [value if value is not None else 0.0 for value in ms]
        latency.bar([p + (offset - 0.5) * 0.38 for p in positions], heights, 0.38, label=label)
    latency.set_xticks(list(positions), names)
    if any(s.latency_p95_ms for s in card.scores):
        latency.set_yscale("log")
    latency.set_ylabel("ms (answered calls)")
    latency.set_title("Latency")
    latency.legend(loc="best", fontsize="small")
    figure.suptitle(f"Model partners, region {card.region}, {card.generated_at[:10]}")
    figure.savefig(path, dpi=120)
    return True
