"""``lingxi redis acl``: the Redis ACL file of Lingxi's users, one per service (``lingxi.redis_acl``).

    LINGXI_REDIS_PASSWORD_GATEWAY=... (one per service, _OPERATOR and _SCALER) lingxi redis acl -o users.acl
    redis-server --aclfile users.acl

Passwords come from the environment only, never from the command line (where ``ps`` shows them).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from lingxi.cli.asyncapi import installed_contracts
from lingxi.cli.common import fail
from lingxi.cli.keys import write_atomically
from lingxi.redis_acl import OTHER_USERS, acl_file, password_variable

app = typer.Typer(name="redis", help="Redis set-up: the ACL users of the services.", no_args_is_help=True)

ACL_FILE_MODE = 0o644
"""Readable by the Redis server's own user: the file holds password hashes, no password."""


@app.command()
def acl(
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write the file here (mode 0644: it holds password hashes only); without it, print it.",
        ),
    ] = None,
) -> None:
    """Write the ACL file: a user lingxi-<service> per service allowed only its streams, keys and
    channels, the operator lingxi-operator, KEDA's lingxi-scaler (backlog counts only), and a default
    user that may only PING.

    Each password comes from LINGXI_REDIS_PASSWORD_<SERVICE> (and LINGXI_REDIS_PASSWORD_OPERATOR,
    LINGXI_REDIS_PASSWORD_SCALER), at least 16 printable characters without spaces."""
    contracts = installed_contracts()
    names = [contract.name for contract in contracts] + list(OTHER_USERS)
    missing = [password_variable(name) for name in names if not os.environ.get(password_variable(name))]
    if missing:
        fail(f"set the password of each Redis user first: {', '.join(missing)} (openssl rand -hex 24)")
    passwords = {name: os.environ[password_variable(name)] for name in names}
    try:
        text = acl_file(contracts, passwords)
    except ValueError as error:
        fail(str(error))
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        write_atomically(output, text.encode(), ACL_FILE_MODE)
    except OSError as error:
        fail(f"cannot write {output}: {error.strerror or error}")
    typer.echo(f"wrote {len(contracts) + len(OTHER_USERS)} users to {output}", err=True)
