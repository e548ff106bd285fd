"""``lingxi evaluate intents``: the local engine on its labelled test split and the unseen real-world set.

Imported whenever the ``lingxi`` command starts: everything heavy is imported inside the command.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_OUTPUT = Path("docs/assistant-accuracy")


def evaluate_intents(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder for report.md and report.json.")
    ] = DEFAULT_OUTPUT,
    errors: Annotated[int, typer.Option(help="How many misunderstood utterances to list.")] = 40,
) -> None:
    """Intent accuracy, per-intent precision and recall, exact slot match and out-of-scope recognition
    of the local engine (trained on the train split) on the test split and on the unseen set."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from rich.console import Console
    from rich.progress import track

    from lingxi_assistant import dataset
    from lingxi_assistant.evaluation import Scored, markdown, score
    from lingxi_assistant.understanding import default_engine

    console = Console(stderr=True)
    now = datetime.fromisoformat(dataset.REFERENCE_NOW)
    with console.status("training the classifier on the train split"):
        engine = default_engine()
    sections: dict[str, object] = {}
    tables: list[str] = []
    for name, examples in (("test split", dataset.split("test")), ("unseen set", dataset.unseen())):
        if not examples:
            console.print(f"[yellow]{name}: no examples[/]")
            continue
        rows = []
        for example in track(examples, description=f"{name}", console=console):
            u = engine.understand(
                example.text, example.locale, now.astimezone(ZoneInfo(dataset.REFERENCE_TZ))
            )
            rows.append(
                Scored(example.text, example.locale, example.intent, example.slots, u.intent, u.slots)
            )
        report = score(rows)
        sections[name] = report.to_dict(errors=errors)
        tables.append(markdown(report, f"Local engine on the {name}"))
    output.mkdir(parents=True, exist_ok=True)
    summary = f"Trained on {len(dataset.split('train'))} utterances (train split).\n\n"
    (output / "report.md").write_text(summary + "\n".join(tables), encoding="utf-8")
    (output / "report.json").write_text(json.dumps(sections, ensure_ascii=False, indent=1), encoding="utf-8")
    typer.echo(summary + "\n".join(tables))
    console.print(f"wrote report.md and report.json in {output}")
