"""Argument handling of `lingxi up`, and where its replicas' log lines go."""

from __future__ import annotations

import asyncio
import io
import json
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
import typer
from lingxi.auth import AdminPrincipal, DevicePrincipal, KeySet, Role, TokenVerifier
from lingxi.cli.up import (
    DEFAULT_LOG_DIR,
    SERVICES,
    Supervisor,
    development_key,
    development_tokens,
    example_request,
    file_line,
    parse_replicas,
    terminal_line,
)


def test_replica_counts_default_to_one_and_accept_both_spellings() -> None:
    counts = parse_replicas(["assistant=3", "gateway=2,vision=0"])
    assert counts == {**dict.fromkeys(SERVICES, 1), "assistant": 3, "gateway": 2, "vision": 0}
    assert parse_replicas([""]) == dict.fromkeys(SERVICES, 1)


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("assistent=2", "assistent"),
        ("assistant=many", "whole number"),
        ("gateway=0", "gateway"),
        ("x", "SERVICE"),
    ],
)
def test_bad_replica_specs_name_the_problem(spec: str, needle: str) -> None:
    with pytest.raises(typer.BadParameter, match=needle):
        parse_replicas([spec])


def test_the_example_request_is_a_valid_shell_command() -> None:
    words = shlex.split(example_request("http://127.0.0.1:8000", "eyJ.a'b.c"))
    assert words[0] == "curl"
    assert "http://127.0.0.1:8000/v1/assistant/queries?wait=5" in words
    assert "Authorization: Bearer eyJ.a'b.c" in words
    assert any("明天早上七点" in w for w in words)
    # With the caller's own keys there is no token to print: the command reads it from $TOKEN.
    assert '"Authorization: Bearer $TOKEN"' in example_request("http://127.0.0.1:8000", None)


def test_the_development_key_is_made_once_kept_private_and_remade_when_broken(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    jwks, _ = development_key(keys)
    assert (keys / "dev.pem").stat().st_mode & 0o777 == 0o600
    assert KeySet.load(jwks).kids == ("dev",)
    again, same = development_key(keys)
    token = same.device("demo-device")
    assert TokenVerifier(KeySet.load(again)).verify(token), "the kept key still verifies"
    first_key = (keys / "dev.pem").read_bytes()
    development_key(keys)
    assert (keys / "dev.pem").read_bytes() == first_key, "a working key is kept, not replaced"
    (keys / "jwks.json").write_text('{"keys": []}')
    _, remade = development_key(keys)
    assert (keys / "dev.pem").read_bytes() != first_key, "a JWKS that lost the key means a new key"
    assert TokenVerifier(KeySet.load(keys / "jwks.json")).verify(remade.device("demo-device"))


def test_the_development_tokens_are_for_the_example_device_and_every_role(tmp_path: Path) -> None:
    jwks, issuer = development_key(tmp_path)
    tokens = development_tokens(issuer)
    verifier = TokenVerifier(KeySet.load(jwks))
    device = verifier.verify(tokens.device)
    admin = verifier.verify(tokens.admin)
    assert isinstance(device, DevicePrincipal)
    assert (device.device_id, device.user_id, device.region) == ("demo-device", "demo-user", "CN")
    assert isinstance(admin, AdminPrincipal)
    assert admin.roles == frozenset(Role)


JWKS = Path("keys/jwks.json")
HANDLED = (
    b'{"event_id":"6ca4fb9d-af37-43e8-b155-2f92c3fa86f4","correlation_id":"8aa4eeb9-e0ca-429d-a74c-a4a4854aef19",'
    b'"entry_id":"1795703967472-0","outcome":"ok","duration_ms":26.75,"event":"event handled",'
    b'"stream":"assistant.query.received","replica":"assistant-1","service":"assistant",'
    b'"logger":"lingxi.runtime","level":"info","timestamp":"2026-11-26T14:39:27.504734Z"}\n'
)
NOW = datetime(2026, 11, 26, 14, 40, tzinfo=UTC)


def test_log_files_get_json_lines_as_they_are_and_other_output_wrapped() -> None:
    assert file_line(HANDLED, "assistant", "assistant-1", NOW) == HANDLED
    assert file_line(HANDLED.rstrip(b"\n") + b"\r\n", "assistant", "assistant-1", NOW) == HANDLED
    assert file_line(b"\n", "assistant", "assistant-1", NOW) == b""
    wrapped = json.loads(file_line(b"Traceback (most recent call last):\n", "assistant", "assistant-1", NOW))
    assert wrapped == {
        "event": "Traceback (most recent call last):",
        "service": "assistant",
        "replica": "assistant-1",
        "logger": "output",
        "level": "warning",
        "timestamp": "2026-11-26T14:40:00Z",
    }


def test_the_terminal_shows_json_as_it_is_or_rendered_for_a_console() -> None:
    console = structlog.dev.ConsoleRenderer(colors=False)

    assert terminal_line(HANDLED, None) == HANDLED.decode()
    assert terminal_line(b"no newline", None) == "no newline\n"
    rendered = terminal_line(HANDLED, console)
    assert rendered.startswith("2026-11-26T14:39:27.504734Z [info     ] event handled")
    assert "outcome=ok" in rendered
    assert rendered.endswith("\n")
    assert rendered.count("\n") == 1
    assert (
        terminal_line(b"Traceback (most recent call last):\n", console)
        == "Traceback (most recent call last):\n"
    )


async def test_replica_lines_reach_the_terminal_and_the_replica_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    only_gateway = {**dict.fromkeys(SERVICES, 0), "gateway": 1}
    supervisor = Supervisor(only_gateway, "redis://127.0.0.1:1/0", 8000, "console", tmp_path, jwks=JWKS)
    (replica,) = supervisor.replicas
    script = (
        f"import sys; sys.stdout.buffer.write({HANDLED!r}); print('a library printed this', file=sys.stderr)"
    )
    with (tmp_path / "gateway-1.jsonl").open("ab") as log:
        replica.log = log
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        await supervisor.pump(replica, process)
        await process.wait()

    lines = [json.loads(line) for line in (tmp_path / "gateway-1.jsonl").read_text().splitlines()]
    assert [line["event"] for line in lines] == ["event handled", "a library printed this"]
    assert lines[1]["replica"] == "gateway-1"
    shown = capsys.readouterr().out.splitlines()
    assert shown[0].startswith("gateway-1 | ")
    assert "event handled" in shown[0]
    assert '"event"' not in shown[0]  # rendered, not JSON
    assert shown[1] == "gateway-1 | a library printed this"


class FullDisk(io.BytesIO):
    def write(self, data: Any) -> int:
        raise OSError(28, "No space left on device")


async def test_a_log_file_that_cannot_be_written_never_stops_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    only_gateway = {**dict.fromkeys(SERVICES, 0), "gateway": 1}
    supervisor = Supervisor(only_gateway, "redis://127.0.0.1:1/0", 8000, "json", tmp_path, jwks=JWKS)
    (replica,) = supervisor.replicas
    replica.log = FullDisk()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "print('one'); print('two')", stdout=asyncio.subprocess.PIPE
    )
    await supervisor.pump(replica, process)
    await process.wait()

    shown = capsys.readouterr().out.splitlines()
    assert "cannot write its log file ([Errno 28] No space left on device)" in shown[0]
    assert shown[1:] == ["gateway-1 | one", "gateway-1 | two"]
    assert replica.log is None


def test_the_supervisor_says_how_to_read_its_logs(tmp_path: Path) -> None:
    counts = dict.fromkeys(SERVICES, 1)

    assert (
        Supervisor(counts, "redis://x", 8000, "json", DEFAULT_LOG_DIR, jwks=JWKS).logs_command()
        == "lingxi logs -f"
    )
    elsewhere = Supervisor(counts, "redis://x", 8000, "json", tmp_path / "my logs", jwks=JWKS).logs_command()
    assert elsewhere == f"lingxi logs -f --dir '{tmp_path / 'my logs'}'"
