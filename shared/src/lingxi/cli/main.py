"""The ``lingxi`` command."""

from __future__ import annotations

import typer

from lingxi.cli.up import up

app = typer.Typer(
    name="lingxi",
    help="Run and operate Lingxi: start the whole system locally.",
    no_args_is_help=True,
    add_completion=False,
)
app.command(help="Start Redis and every service as its own process; Ctrl-C stops all.")(up)


@app.callback()
def _root() -> None:
    """Keeps `lingxi up` a sub-command even while it is the only one."""
