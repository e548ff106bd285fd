"""The ``lingxi`` command."""

from __future__ import annotations

from importlib.metadata import entry_points

import typer

from lingxi.cli import dlq
from lingxi.cli.publish import publish
from lingxi.cli.streams import streams
from lingxi.cli.tail import tail
from lingxi.cli.up import up

app = typer.Typer(
    name="lingxi",
    help="Run and operate Lingxi: start the whole system locally, publish and read events, inspect "
    "streams and consumer groups, replay dead letters. Operator commands take --redis-url (default "
    "$LINGXI_REDIS_URL, else $REDIS_URL, else redis://127.0.0.1:6379/0).",
    no_args_is_help=True,
    add_completion=False,
)
app.command(help="Start Redis and every service as its own process; Ctrl-C stops all.")(up)
app.command()(publish)
app.command()(tail)
app.command()(streams)
app.add_typer(dlq.app, name="dlq")

evaluate = typer.Typer(
    help="Measure an engine against its labelled data and write a report (markdown, JSON).",
    no_args_is_help=True,
)
app.add_typer(evaluate, name="evaluate")
# Each service contributes its own evaluations (entry points in group "lingxi.evaluate"), so this
# shared command needs no service code; a plugin module must import its heavy parts lazily.
for plugin in entry_points(group="lingxi.evaluate"):
    evaluate.command(name=plugin.name)(plugin.load())

audit = typer.Typer(
    help="Verify and export the compliance service's hash-chained audit trail.",
    no_args_is_help=True,
)
app.add_typer(audit, name="audit")
# The compliance service contributes the commands (entry points in group "lingxi.audit"), like
# `evaluate` above: a plugin module must import its heavy parts lazily.
for plugin in entry_points(group="lingxi.audit"):
    audit.command(name=plugin.name)(plugin.load())


@app.callback()
def _root() -> None:
    """Keeps `lingxi up` a sub-command even while it is the only one."""
