"""``lingxi keys``: the Ed25519 signing keys of device and admin tokens, and the JWKS verifiers load.

    lingxi keys generate --kid 2026-11 --private-key keys/2026-11.pem --jwks keys/jwks.json
    lingxi keys retire --kid 2026-10 --jwks keys/jwks.json

Rotation (see ``lingxi.auth``): generate the new key into the JWKS every verifier loads, issue with it,
and retire the old key once its last token has expired. Nothing here prints a private key.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from lingxi.auth import KeySet, check_identifier, generate_key, private_key_pem
from lingxi.cli.common import fail, plural

app = typer.Typer(
    name="keys",
    help="Generate and retire the signing keys of device and admin tokens (public keys in a JWKS file).",
    no_args_is_help=True,
)

KeyIdOpt = Annotated[
    str,
    typer.Option(
        "--kid", metavar="KID", help="The key's id (the kid in tokens' headers).", show_default=False
    ),
]
JwksOpt = Annotated[
    Path,
    typer.Option(
        "--jwks", metavar="PATH", help="The JWKS file of public keys verifiers load.", show_default=False
    ),
]

PRIVATE_KEY_MODE = 0o600
JWKS_MODE = 0o644


def write_atomically(path: Path, data: bytes, mode: int, *, overwrite: bool = True) -> None:
    """Put ``data`` at ``path`` in one step, so a reader never sees half a file; the file has ``mode``
    from the start (a private key is never readable by others, not even briefly). Without ``overwrite``
    an existing file raises FileExistsError, even one that appeared a moment ago."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(handle, mode)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if overwrite:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def _mode(path: Path, default: int) -> int:
    """The permissions ``path`` has now (kept when it is rewritten), else ``default``."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        return default


def jwks_bytes(keys: KeySet) -> bytes:
    return (json.dumps(keys.to_jwks(), indent=2) + "\n").encode()


def load_jwks(path: Path) -> KeySet:
    """The key set in ``path``, or one line on stderr and exit 1."""
    try:
        return KeySet.load(path)
    except ValueError as error:
        fail(str(error))


def _check_folder(path: Path, what: str) -> None:
    if not path.parent.is_dir():
        fail(f"cannot write the {what} {path}: folder {path.parent} does not exist")


@app.command()
def generate(
    kid: KeyIdOpt,
    private_key: Annotated[
        Path,
        typer.Option(
            "--private-key",
            metavar="PATH",
            help="Where to write the private key (PEM, mode 0600). Keep it with the issuer only.",
            show_default=False,
        ),
    ],
    jwks: JwksOpt,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing private key file.")] = False,
) -> None:
    """Make a new Ed25519 signing key: the private key to its own file, the public key into the JWKS.

    The JWKS is created if it does not exist; a kid it already holds is refused.
    """
    try:
        check_identifier("kid", kid)
    except ValueError as error:
        fail(str(error), 2)
    keys = load_jwks(jwks) if jwks.exists() else KeySet()
    if kid in keys:
        fail(f"{jwks} already holds a key with kid {kid!r}; choose a new kid")
    if private_key.exists() and not force:
        fail(f"{private_key} exists; give --force to overwrite it")
    if private_key.is_dir():
        fail(f"{private_key} is a folder")
    if private_key.resolve() == jwks.resolve():
        fail("the private key and the JWKS must be different files", 2)
    _check_folder(private_key, "private key")
    _check_folder(jwks, "JWKS")
    key = generate_key()
    updated = keys.add(kid, key.public_key())
    try:
        write_atomically(private_key, private_key_pem(key), PRIVATE_KEY_MODE, overwrite=force)
    except FileExistsError:
        fail(f"{private_key} exists; give --force to overwrite it")
    except OSError as error:
        fail(f"cannot write {private_key}: {error.strerror or error}")
    try:
        write_atomically(jwks, jwks_bytes(updated), _mode(jwks, JWKS_MODE))
    except OSError as error:
        fail(f"cannot write {jwks}: {error.strerror or error}")
    typer.echo(f"generated key {kid}")
    typer.echo(f"private key: {private_key} (mode 0600)")
    typer.echo(f"public key added to {jwks} ({plural(len(updated), 'key')}: {', '.join(updated.kids)})")


@app.command()
def retire(kid: KeyIdOpt, jwks: JwksOpt) -> None:
    """Remove a public key from the JWKS: tokens signed with it are refused from then on.

    Retire a key only once its last token has expired. The last key in the file cannot be retired.
    """
    keys = load_jwks(jwks)
    if kid not in keys:
        fail(f"{jwks} holds no key with kid {kid!r} (it holds: {', '.join(keys.kids)})")
    if len(keys) == 1:
        fail(f"{kid!r} is the last key in {jwks}; generate its successor before retiring it")
    remaining = keys.without(kid)
    try:
        write_atomically(jwks, jwks_bytes(remaining), _mode(jwks, JWKS_MODE))
    except OSError as error:
        fail(f"cannot write {jwks}: {error.strerror or error}")
    typer.echo(
        f"retired key {kid} from {jwks} ({plural(len(remaining), 'key')} left: {', '.join(remaining.kids)})"
    )
