"""`lingxi keys` and `lingxi token`: keys generated into a JWKS, tokens issued and inspected, keys
retired; what is refused, and that no private key ever reaches the output."""

from __future__ import annotations

import json
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from lingxi.auth import KeySet, load_private_key
from lingxi.cli.main import app
from lingxi.cli.token import parse_ttl
from typer.testing import CliRunner, Result


@pytest.fixture(autouse=True)
def _no_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LINGXI_AUTH_PRIVATE_KEY", raising=False)
    monkeypatch.delenv("LINGXI_AUTH_KEY_ID", raising=False)


def lingxi(*args: str | Path, env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, [str(arg) for arg in args], env=env, input=stdin)


def output_of(result: Result) -> str:
    return result.stdout + result.stderr


def generate(tmp_path: Path, kid: str, *extra: str) -> Result:
    private_key, jwks = tmp_path / f"{kid}.pem", tmp_path / "jwks.json"
    return lingxi("keys", "generate", "--kid", kid, "--private-key", private_key, "--jwks", jwks, *extra)


def issue(tmp_path: Path, kid: str, *args: str) -> Result:
    return lingxi("token", "issue", "--private-key", tmp_path / f"{kid}.pem", "--kid", kid, *args)


def inspect(tmp_path: Path, token: str) -> Result:
    return lingxi("token", "inspect", token, "--jwks", tmp_path / "jwks.json")


def test_keys_are_generated_tokens_issued_and_inspected_and_a_key_retired(tmp_path: Path) -> None:
    first = generate(tmp_path, "k-2026-10")
    assert first.exit_code == 0, output_of(first)
    second = generate(tmp_path, "k-2026-11")
    assert second.exit_code == 0, output_of(second)
    assert "k-2026-11" in second.stdout
    assert str(tmp_path / "k-2026-11.pem") in second.stdout
    jwks = tmp_path / "jwks.json"
    assert KeySet.load(jwks).kids == ("k-2026-10", "k-2026-11")

    pem_texts = [(tmp_path / f"{kid}.pem").read_text() for kid in ("k-2026-10", "k-2026-11")]
    for kid in ("k-2026-10", "k-2026-11"):
        pem = tmp_path / f"{kid}.pem"
        assert stat.S_IMODE(pem.stat().st_mode) == 0o600
        assert load_private_key(pem.read_bytes()).public_key() == KeySet.load(jwks).get(kid)

    device = issue(
        tmp_path, "k-2026-10", "--device", "dev-1", "--user", "u-42", "--region", "HK", "--ttl", "2h"
    )
    assert device.exit_code == 0, output_of(device)
    device_token = device.stdout.strip()
    assert device.stdout == device_token + "\n", "the token alone, so TOKEN=$(...) works"
    shown = inspect(tmp_path, device_token)
    assert shown.exit_code == 0, output_of(shown)
    principal = json.loads(shown.stdout)
    assert {key: principal[key] for key in ("type", "device_id", "user_id", "region", "key_id")} == {
        "type": "device",
        "device_id": "dev-1",
        "user_id": "u-42",
        "region": "HK",
        "key_id": "k-2026-10",
    }
    assert principal["expires_at"].endswith("Z")

    admin = issue(tmp_path, "k-2026-11", "--admin", "li.wei", "--role", "auditor", "--role", "operator")
    assert admin.exit_code == 0, output_of(admin)
    admin_token = admin.stdout.strip()
    shown = lingxi("token", "inspect", "-", "--jwks", jwks, stdin=admin_token + "\n")
    assert shown.exit_code == 0, output_of(shown)
    assert json.loads(shown.stdout) | {"expires_at": None} == {
        "type": "admin",
        "name": "li.wei",
        "roles": ["auditor", "operator"],
        "key_id": "k-2026-11",
        "expires_at": None,
    }

    retired = lingxi("keys", "retire", "--kid", "k-2026-10", "--jwks", jwks)
    assert retired.exit_code == 0, output_of(retired)
    assert "k-2026-10" in retired.stdout
    assert KeySet.load(jwks).kids == ("k-2026-11",)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["jwks.json", "k-2026-10.pem", "k-2026-11.pem"]
    refused = inspect(tmp_path, device_token)
    assert refused.exit_code == 1
    assert "unknown_key: the token's key id is not known" in refused.stderr
    assert inspect(tmp_path, admin_token).exit_code == 0

    everything = [first, second, device, admin, retired, refused]
    for result in everything:
        assert "PRIVATE KEY" not in output_of(result)
        for pem_text in pem_texts:
            secret = "".join(pem_text.splitlines()[1:-1])[
                -24:
            ]  # the end holds the key bytes, not the ASN.1 header
            assert secret not in output_of(result)


def test_the_key_and_kid_can_come_from_the_environment(tmp_path: Path) -> None:
    assert generate(tmp_path, "k1").exit_code == 0
    env = {"LINGXI_AUTH_PRIVATE_KEY": str(tmp_path / "k1.pem"), "LINGXI_AUTH_KEY_ID": "k1"}
    issued = lingxi("token", "issue", "--device", "dev-9", env=env)
    assert issued.exit_code == 0, output_of(issued)
    assert json.loads(inspect(tmp_path, issued.stdout.strip()).stdout)["device_id"] == "dev-9"


def test_an_existing_private_key_is_not_overwritten_without_force(tmp_path: Path) -> None:
    assert generate(tmp_path, "k1").exit_code == 0
    pem = tmp_path / "k1.pem"
    before = pem.read_bytes()
    again = lingxi("keys", "generate", "--kid", "k2", "--private-key", pem, "--jwks", tmp_path / "jwks.json")
    assert again.exit_code == 1
    assert "--force" in again.stderr
    assert pem.read_bytes() == before
    assert KeySet.load(tmp_path / "jwks.json").kids == ("k1",), "the JWKS is left alone too"
    pem.chmod(0o644)
    forced = lingxi(
        "keys", "generate", "--kid", "k2", "--private-key", pem, "--jwks", tmp_path / "jwks.json", "--force"
    )
    assert forced.exit_code == 0, output_of(forced)
    assert pem.read_bytes() != before
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600


def test_a_kid_already_in_the_jwks_is_refused(tmp_path: Path) -> None:
    assert generate(tmp_path, "k1").exit_code == 0
    other, jwks = tmp_path / "other.pem", tmp_path / "jwks.json"
    duplicate = lingxi("keys", "generate", "--kid", "k1", "--private-key", other, "--jwks", jwks)
    assert duplicate.exit_code == 1
    assert "already holds a key with kid 'k1'" in duplicate.stderr
    assert not (tmp_path / "other.pem").exists(), "nothing written when the kid is refused"


def test_a_bad_kid_or_a_broken_jwks_is_refused(tmp_path: Path) -> None:
    bad_kid = generate(tmp_path, "k 1")
    assert bad_kid.exit_code == 2
    assert "kid must be" in bad_kid.stderr
    (tmp_path / "jwks.json").write_text("{not json")
    broken = generate(tmp_path, "k1")
    assert broken.exit_code == 1
    assert "not JSON" in broken.stderr


def test_retire_refuses_an_absent_key_and_the_last_key(tmp_path: Path) -> None:
    jwks = tmp_path / "jwks.json"
    assert generate(tmp_path, "k1").exit_code == 0
    absent = lingxi("keys", "retire", "--kid", "k9", "--jwks", jwks)
    assert absent.exit_code == 1
    assert "no key with kid 'k9'" in absent.stderr
    last = lingxi("keys", "retire", "--kid", "k1", "--jwks", jwks)
    assert last.exit_code == 1
    assert "last key" in last.stderr
    assert KeySet.load(jwks).kids == ("k1",)
    missing = lingxi("keys", "retire", "--kid", "k1", "--jwks", tmp_path / "nowhere.json")
    assert missing.exit_code == 1
    assert "no such file" in missing.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--device", "dev-1", "--admin", "ops", "--role", "auditor"], "exactly one of --device or --admin"),
        ([], "exactly one of --device or --admin"),
        (
            ["--admin", "ops", "--role", "root"],
            "unknown role 'root' (valid roles: operator, compliance_officer",
        ),
        (["--admin", "ops"], "at least one --role"),
        (["--admin", "ops", "--role", "auditor", "--user", "u-1"], "for device tokens"),
        (["--device", "dev-1", "--role", "auditor"], "--role is for admin tokens"),
        (["--device", "dev 1"], "device_id must be"),
        (["--device", "dev-1", "--region", "cn"], "region must be"),
        (["--device", "dev-1", "--ttl", "forever"], "--ttl 'forever': expected a duration"),
        (["--device", "dev-1", "--ttl", "2026-12-01T00:00:00Z"], "expected a duration"),
        (["--device", "dev-1", "--ttl", "31d"], "at most 30 days"),
        (["--device", "dev-1", "--ttl", "0s"], "ttl must be positive"),
    ],
)
def test_a_bad_issue_request_is_refused_with_a_reason(tmp_path: Path, args: list[str], needle: str) -> None:
    assert generate(tmp_path, "k1").exit_code == 0
    result = issue(tmp_path, "k1", *args)
    assert result.exit_code == 2
    assert needle in result.stderr
    assert result.stdout == ""


def test_issue_says_when_the_private_key_cannot_be_used(tmp_path: Path) -> None:
    missing = issue(tmp_path, "k1", "--device", "dev-1")
    assert missing.exit_code == 1
    assert "cannot read the private key" in missing.stderr
    (tmp_path / "k1.pem").write_text("not a key")
    garbage = issue(tmp_path, "k1", "--device", "dev-1")
    assert garbage.exit_code == 1
    assert "not a PEM private key" in garbage.stderr


def test_inspect_gives_the_code_and_message_of_a_refused_token(tmp_path: Path) -> None:
    assert generate(tmp_path, "k1").exit_code == 0
    malformed = inspect(tmp_path, "not-a-token")
    assert malformed.exit_code == 1
    assert "token_malformed: the bearer token is not a JWT" in malformed.stderr
    assert malformed.stdout == ""
    # One token's header and claims with another token's signature.
    head, payload, _ = issue(tmp_path, "k1", "--device", "dev-1").stdout.strip().split(".")
    signature = issue(tmp_path, "k1", "--device", "dev-2").stdout.strip().split(".")[2]
    forged = inspect(tmp_path, f"{head}.{payload}.{signature}")
    assert forged.exit_code == 1
    assert "token_invalid: the token is not valid" in forged.stderr


@pytest.mark.parametrize(
    ("text", "ttl"),
    [
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        ("7d", timedelta(days=7)),
    ],
)
def test_ttl_takes_the_durations_since_takes(text: str, ttl: timedelta) -> None:
    assert parse_ttl(text) == ttl
