"""The ``lingxi`` command."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points

import typer

from lingxi.cli import dlq, keys, redis, token
from lingxi.cli.asyncapi import asyncapi
from lingxi.cli.logs import logs, trace
from lingxi.cli.publish import publish
from lingxi.cli.streams import streams
from lingxi.cli.tail import tail
from lingxi.cli.up import up

app = typer.Typer(
    name="lingxi",
    help="Run and operate Lingxi: start the whole system locally, publish and read events, inspect "
    "streams and consumer groups, replay dead letters, read the services' logs and trace a request. "
    "Operator commands take --redis-url (default $LINGXI_REDIS_URL, else $REDIS_URL, else "
    "redis://127.0.0.1:6379/0).",
    no_args_is_help=True,
    add_completion=False,
)
app.command(help="Start Redis and every service as its own process; Ctrl-C stops all.")(up)
app.command()(publish)
app.command()(tail)
app.command()(streams)
app.command()(logs)
app.command()(trace)
app.add_typer(dlq.app, name="dlq")
app.add_typer(keys.app, name="keys")
app.add_typer(token.app, name="token")
app.add_typer(redis.app, name="redis")
app.command()(asyncapi)


def _plugin_group(name: str, help_text: str) -> None:
    """``lingxi NAME ...``: the commands services contribute through entry points in group
    ``lingxi.NAME``, so this shared command needs no service code. A plugin module must import its
    heavy parts lazily. One that fails to load becomes a command that says why, instead of taking every
    other command down with it."""
    group = typer.Typer(help=help_text, no_args_is_help=True)
    app.add_typer(group, name=name)
    for plugin in entry_points(group=f"lingxi.{name}"):
        try:
            command = plugin.load()
        except Exception as error:
            command = _unavailable(f"lingxi {name} {plugin.name}", error)
        group.command(name=plugin.name)(command)


def _unavailable(command: str, error: Exception) -> Callable[[], None]:
    def unavailable() -> None:
        typer.echo(f"{command} is unavailable: {type(error).__name__}: {error}", err=True)
        raise typer.Exit(1)

    unavailable.__doc__ = f"(unavailable: {type(error).__name__})"
    return unavailable


_plugin_group("evaluate", "Measure an engine against its labelled data and write a report (markdown, JSON).")
_plugin_group(
    "simulate", "Make synthetic data with its ground truth (a fleet's device telemetry, shoppers' purchases)."
)
_plugin_group("audit", "Verify and export the compliance service's hash-chained audit trail.")
_plugin_group(
    "features",
    "List the regulator approvals per feature and region; file, approve, suspend or withdraw one.",
)


@app.callback()
def _root() -> None:
    """Keeps `lingxi up` a sub-command even while it is the only one."""
