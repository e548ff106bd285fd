"""``lingxi simulate purchases`` (simulated shoppers' purchases and their hidden preferences, to files) and
``lingxi evaluate personalization`` (the recommender scored on held-out purchases against the regional
baseline, item-level relevance first: ``lingxi_personalization.evaluation``).

Imported whenever the ``lingxi`` command starts: everything heavy is imported inside the commands.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from lingxi_personalization.profile import Purchase
    from lingxi_personalization.shoppers import ShopperConfig, Shoppers, SimulatedPurchase

DEFAULT_PURCHASES_OUTPUT = Path("simulated-purchases")
DEFAULT_REPORT_OUTPUT = Path("docs/personalization-accuracy")
PURCHASES_FILE = "purchases.jsonl"
TRUTH_FILE = "truth.json"


def _config(users: int, days: int, seed: int, start: str | None) -> ShopperConfig:
    from lingxi_personalization.shoppers import DEFAULT_START, ShopperConfig

    first = DEFAULT_START
    if start:
        try:
            first = date.fromisoformat(start)
        except ValueError:
            raise typer.BadParameter(f"--start {start!r} is not a date (YYYY-MM-DD)") from None
    try:
        return ShopperConfig(users=users, days=days, seed=seed, start=first)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


def _progress(console: Console, unit: str) -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit + " · {task.fields[purchases]:,} purchases"),
        TimeElapsedColumn(),
        console=console,
    )


def _with_progress(shoppers: Shoppers, progress: Progress, description: str) -> Iterator[SimulatedPurchase]:
    """The simulation's purchases in time order, advancing a progress bar in simulated days."""
    config = shoppers.config
    task = progress.add_task(description, total=config.days, purchases=0)
    count = 0
    for purchase in shoppers.purchases():
        count += 1
        if count % 2000 == 0:
            done = (purchase.purchased_at.date() - config.start).days
            progress.update(task, completed=min(config.days, max(0, done)), purchases=count)
        yield purchase
    progress.update(task, completed=config.days, purchases=count)


def simulate_purchases(
    users: Annotated[int, typer.Option(help="Shoppers simulated.")] = 1000,
    days: Annotated[int, typer.Option(help="Days simulated.")] = 120,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same shoppers.")] = 7,
    start: Annotated[
        str | None,
        typer.Option(metavar="YYYY-MM-DD", help="First simulated day (China date). Default 2026-06-01."),
    ] = None,
    region: Annotated[str, typer.Option(help="Region of the events.")] = "CN",
    output: Annotated[
        Path, typer.Option("--output", "-o", help=f"Folder for {PURCHASES_FILE} and {TRUTH_FILE}.")
    ] = DEFAULT_PURCHASES_OUTPUT,
) -> None:
    """Simulate shoppers in mainland China with hidden preferences (favourite categories and merchants, a
    usual channel, a home city, seasonal buying and some impulse buys) and write their purchases as
    PurchaseRecorded events, one JSON object a line in time order, and the ground truth (each user's
    hidden preferences, and the configuration)."""
    from lingxi.events.base import Region
    from rich.console import Console

    from lingxi_personalization.shoppers import Shoppers

    if region not in {r.value for r in Region}:
        raise typer.BadParameter(f"unknown region {region!r}; known: {', '.join(r.value for r in Region)}")
    config = _config(users, days, seed, start)
    console = Console(stderr=True)
    shoppers = Shoppers(config)
    output.mkdir(parents=True, exist_ok=True)
    written = 0
    with (
        _progress(console, "simulated days") as progress,
        (output / PURCHASES_FILE).open("w", encoding="utf-8") as lines,
    ):
        for purchase in _with_progress(shoppers, progress, "simulating"):
            lines.write(json.dumps(purchase.to_event(region), ensure_ascii=False, separators=(",", ":")))
            lines.write("\n")
            written += 1
    (output / TRUTH_FILE).write_text(
        json.dumps(shoppers.truth.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8"
    )
    console.print(
        f"wrote {written:,} purchases of {users:,} users over {days} days from {config.start.isoformat()} "
        f"to {output / PURCHASES_FILE}, and their hidden preferences to {output / TRUTH_FILE}",
        markup=False,
        highlight=False,
    )


def _saved_purchases(folder: Path) -> Iterator[tuple[str, Purchase]]:
    """The (user, purchase) pairs in a folder ``simulate purchases`` wrote (or any ``purchases.jsonl``
    of PurchaseRecorded events); a bad line is an error naming the file and line."""
    from lingxi.cli.common import validation_messages
    from lingxi.events.personalization import PurchaseRecorded
    from pydantic import ValidationError

    from lingxi_personalization.evaluation import purchase_of

    path = folder / PURCHASES_FILE
    if not path.is_file():
        raise typer.BadParameter(
            f"{path} not found: DIR takes a folder written by 'lingxi simulate purchases'"
        )
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                event = PurchaseRecorded.model_validate_json(line)
            except ValidationError as error:
                problems = "; ".join(validation_messages(error))
                raise typer.BadParameter(
                    f"{path}:{number}: not a PurchaseRecorded event: {problems}"
                ) from None
            yield purchase_of(event)


def _saved_favourites(folder: Path) -> dict[str, list[str]] | None:
    """Each user's hidden favourite categories from the folder's truth, if it has one."""
    from lingxi_personalization.shoppers import ShoppersTruth

    path = folder / TRUTH_FILE
    if not path.is_file():
        return None
    try:
        truth = ShoppersTruth.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise typer.BadParameter(f"{path}: not the truth 'simulate purchases' writes: {error!r}") from None
    return {u.user_id: list(u.favourites) for u in truth.users}


def evaluate_personalization(
    folder: Annotated[
        Path | None,
        typer.Argument(
            metavar="DIR",
            help=f"A folder 'simulate purchases' wrote ({PURCHASES_FILE}, and {TRUTH_FILE} if there); "
            "without it, shoppers are simulated with --users, --days and --seed.",
            show_default=False,
        ),
    ] = None,
    users: Annotated[int, typer.Option(help="Shoppers simulated (without DIR).")] = 1000,
    days: Annotated[int, typer.Option(help="Days simulated (without DIR).")] = 120,
    seed: Annotated[int, typer.Option(help="Random seed of the simulation (without DIR).")] = 7,
    holdout_days: Annotated[
        int, typer.Option(min=1, help="The last days of the data, held out to score the lists on.")
    ] = 14,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder for report.md, metrics.json and chart.png.")
    ] = DEFAULT_REPORT_OUTPUT,
) -> None:
    """Score the recommender on held-out purchases against the regional (non-personalised) baseline:
    profiles are built from each user's purchases before the last --holdout-days days, and for each
    later purchase the top 10 of both lists that day are checked for an item that would have served it
    (filed under its category, and generic or naming its merchant). Prints hit rate@10, NDCG@10 and the
    lift (the target: at least 2) as a table, with the category-level figures (an item in the purchase's
    category) of earlier runs beside them, and writes report.md, metrics.json and chart.png."""
    import time

    from rich.console import Console

    from lingxi_personalization.catalogue import load_catalogue
    from lingxi_personalization.evaluation import draw_chart, evaluate, markdown
    from lingxi_personalization.shoppers import Shoppers

    console = Console(stderr=True)
    began = time.perf_counter()
    catalogue = load_catalogue()
    favourites: dict[str, list[str]] | None
    if folder is not None:
        favourites = _saved_favourites(folder)
        with console.status(f"reading {folder / PURCHASES_FILE}"):
            purchases = list(_saved_purchases(folder))
        source = f"the purchases in {folder}"
    else:
        config = _config(users, days, seed, None)
        if days <= holdout_days:
            raise typer.BadParameter(
                f"--days {days} leaves nothing to train on with --holdout-days {holdout_days}"
            )
        shoppers = Shoppers(config, catalogue)
        favourites = {u.user_id: list(u.favourites) for u in shoppers.truth.users}
        with _progress(console, "simulated days") as progress:
            purchases = [
                (p.user_id, p.to_purchase()) for p in _with_progress(shoppers, progress, "simulating")
            ]
        source = f"{users:,} simulated shoppers over {days} days (seed {seed})"

    with _progress(console, "users") as progress:
        task = progress.add_task("evaluating", total=None, purchases=len(purchases))

        def advance(done: int, total: int) -> None:
            if done % 50 == 0 or done == total:
                progress.update(task, completed=done, total=total)

        try:
            report = evaluate(
                purchases, catalogue, holdout_days=holdout_days, favourites=favourites, on_user=advance
            )
        except ValueError as error:
            raise typer.BadParameter(f"{source}: {error}") from None
    elapsed = time.perf_counter() - began
    output.mkdir(parents=True, exist_ok=True)
    table = markdown(report)
    summary = f"Recommender evaluated on {source}, in {elapsed:.0f} s.\n\n"
    (output / "report.md").write_text(summary + table, encoding="utf-8")
    document: dict[str, Any] = {"source": source, "seconds": round(elapsed, 1), **report.to_dict()}
    (output / "metrics.json").write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
    draw_chart(report, output / "chart.png")
    typer.echo(summary + table)
    console.print(f"wrote report.md, metrics.json and chart.png in {output}", markup=False, highlight=False)
