"""``lingxi token``: issue a device or admin token, and inspect one.

    TOKEN=$(lingxi token issue --private-key keys/2026-11.pem --kid 2026-11 --device dev-1 --user u-42)
    lingxi token issue --admin li.wei --role auditor --ttl 15m
    lingxi token inspect "$TOKEN" --jwks keys/jwks.json

``issue`` prints the token alone on stdout. ``inspect`` verifies it as a verifier would and prints who
it is for; a refused token is its code and message on stderr, exit 1.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from lingxi.auth import (
    AdminPrincipal,
    AuthError,
    Principal,
    TokenIssuer,
    TokenVerifier,
    load_private_key,
)
from lingxi.cli.common import fail, print_json
from lingxi.cli.keys import load_jwks
from lingxi.logview import parse_since, parse_time

PRIVATE_KEY_ENV = "LINGXI_AUTH_PRIVATE_KEY"
KEY_ID_ENV = "LINGXI_AUTH_KEY_ID"

app = typer.Typer(name="token", help="Issue and inspect device and admin tokens.", no_args_is_help=True)


def parse_ttl(value: str) -> timedelta:
    """``--ttl``: a duration as ``--since`` reads one (``30s``, ``15m``, ``1h``, ``7d``); ValueError
    otherwise."""
    origin = datetime(2000, 1, 1, tzinfo=UTC)
    text = value.strip()
    # parse_since also takes a point in time, which means nothing as a ttl.
    if text and parse_time(text.replace(" ", "T", 1)) is None:
        try:
            return origin - parse_since(text, origin)
        except ValueError:
            pass
    raise ValueError(f"{value!r}: expected a duration such as 30s, 15m, 1h, 7d")


def principal_json(principal: Principal) -> dict[str, Any]:
    expires_at = principal.expires_at.isoformat().replace("+00:00", "Z")
    if isinstance(principal, AdminPrincipal):
        return {
            "type": "admin",
            "name": principal.name,
            "roles": sorted(role.value for role in principal.roles),
            "key_id": principal.key_id,
            "expires_at": expires_at,
        }
    return {
        "type": "device",
        "device_id": principal.device_id,
        "user_id": principal.user_id,
        "region": principal.region,
        "key_id": principal.key_id,
        "expires_at": expires_at,
    }


def _issuer(path: Path, kid: str) -> TokenIssuer:
    try:
        pem = path.read_bytes()
    except OSError as error:
        fail(f"cannot read the private key {path}: {error.strerror or error}")
    try:
        return TokenIssuer(load_private_key(pem), kid)
    except ValueError as error:
        fail(f"{path}: {error}")


@app.command()
def issue(
    private_key: Annotated[
        Path,
        typer.Option(
            "--private-key",
            metavar="PATH",
            envvar=PRIVATE_KEY_ENV,
            help=f"The signing key's PEM file (default: ${PRIVATE_KEY_ENV}).",
            show_default=False,
            show_envvar=False,
        ),
    ],
    kid: Annotated[
        str,
        typer.Option(
            "--kid",
            metavar="KID",
            envvar=KEY_ID_ENV,
            help=f"The signing key's id, as in the JWKS (default: ${KEY_ID_ENV}).",
            show_default=False,
            show_envvar=False,
        ),
    ],
    device: Annotated[
        str | None, typer.Option("--device", metavar="ID", help="Issue a device token for this device.")
    ] = None,
    user: Annotated[
        str | None,
        typer.Option("--user", metavar="ID", help="The user signed in on the device (device tokens only)."),
    ] = None,
    region: Annotated[
        str | None,
        typer.Option(
            "--region",
            metavar="XX",
            help="Where the device's data lives: CN, HK... (device tokens only; default CN).",
        ),
    ] = None,
    admin: Annotated[
        str | None,
        typer.Option("--admin", metavar="NAME", help="Issue an admin token for this administrator."),
    ] = None,
    role: Annotated[
        list[str] | None,
        typer.Option(
            "--role",
            metavar="ROLE",
            help="A role of the administrator (repeatable): operator, compliance_officer, auditor.",
        ),
    ] = None,
    ttl: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION",
            help="How long the token is valid: 30s, 15m, 1h, 7d; at most 30d (default: 1h for devices, "
            "15m for admins).",
        ),
    ] = None,
) -> None:
    """Print a signed device or admin token, alone on stdout (TOKEN=$(lingxi token issue ...))."""
    if (device is None) == (admin is None):
        fail("give exactly one of --device or --admin", 2)
    if device is not None and role:
        fail("--role is for admin tokens; a device token has no roles", 2)
    if admin is not None and (user is not None or region is not None):
        fail("--user and --region are for device tokens", 2)
    if admin is not None and not role:
        fail("an admin token needs at least one --role", 2)
    lifetime: dict[str, timedelta] = {}
    if ttl is not None:
        try:
            lifetime["ttl"] = parse_ttl(ttl)
        except ValueError as error:
            fail(f"--ttl {error}", 2)
    issuer = _issuer(private_key, kid)
    try:
        if device is not None:
            token = issuer.device(device, user_id=user, region=region or "CN", **lifetime)
        else:
            assert admin is not None
            token = issuer.admin(admin, role or [], **lifetime)
    except ValueError as error:
        fail(str(error), 2)
    typer.echo(token)


@app.command()
def inspect(
    token: Annotated[
        str,
        typer.Argument(
            help="The token, or - to read it from standard input (keeps it out of ps).", show_default=False
        ),
    ],
    jwks: Annotated[
        Path,
        typer.Option(
            "--jwks", metavar="PATH", help="The JWKS file of public keys verifiers load.", show_default=False
        ),
    ],
) -> None:
    """Verify a token as the services would and print who it is for, as JSON.

    A refused token is its error code and message on stderr, exit 1.
    """
    if token == "-":
        token = sys.stdin.read().strip()
    verifier = TokenVerifier(load_jwks(jwks))
    try:
        principal = verifier.verify(token)
    except AuthError as error:
        fail(f"{error.code}: {error.message}")
    print_json(principal_json(principal))
