"""What the operator commands share: where Redis is, and one clear line when it cannot be reached."""

from __future__ import annotations

import pytest
from lingxi.cli.common import DEFAULT_REDIS_URL, mask_url, resolve_redis_url
from lingxi.cli.main import app
from lingxi.localredis import free_port
from typer.testing import CliRunner


def test_the_redis_url_comes_from_the_option_then_the_environment() -> None:
    both = {"LINGXI_REDIS_URL": "redis://lingxi:1/0", "REDIS_URL": "redis://plain:2/0"}
    assert resolve_redis_url("redis://given:3/0", both) == "redis://given:3/0"
    assert resolve_redis_url(None, both) == "redis://lingxi:1/0"
    assert resolve_redis_url(None, {"LINGXI_REDIS_URL": "", "REDIS_URL": "redis://plain:2/0"}) == (
        "redis://plain:2/0"
    )
    assert resolve_redis_url(None, {}) == DEFAULT_REDIS_URL == "redis://127.0.0.1:6379/0"


def test_with_the_operators_password_the_commands_connect_as_the_operator() -> None:
    env = {
        "LINGXI_REDIS_URL": "rediss://redis:6380/0?ssl_ca_certs=/ca.crt",
        "LINGXI_REDIS_PASSWORD_OPERATOR": "p@ss/1",
    }
    assert (
        resolve_redis_url(None, env)
        == "rediss://lingxi-operator:p%40ss%2F1@redis:6380/0?ssl_ca_certs=/ca.crt"
    )
    named = {**env, "LINGXI_REDIS_URL": "redis://someone:theirs@redis:6379/0"}
    assert resolve_redis_url(None, named) == "redis://someone:theirs@redis:6379/0", "a URL's own user wins"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:s3cret@cache:6380/1", "redis://:***@cache:6380/1"),
        ("rediss://ops:s3cret@cache.example/0", "rediss://ops:***@cache.example/0"),
        ("redis://ops@cache:6379", "redis://ops@cache:6379"),
    ],
)
def test_passwords_are_masked(url: str, shown: str) -> None:
    assert mask_url(url) == shown


@pytest.mark.parametrize(
    "command",
    [
        [
            "publish",
            "QueryReceived",
            "region=CN",
            "locale=en-US",
            "device_id=d",
            "text=hi",
            "request_id=0e2b6c4a-6f5d-4d8e-8d0a-9b7c1a2e3f40",
        ],
        ["tail", "assistant.query.received"],
        ["tail", "assistant.query.received", "--follow"],
        ["streams"],
        ["dlq", "list", "assistant.query.received"],
        ["dlq", "replay", "assistant.query.received", "--all"],
    ],
)
def test_an_unreachable_redis_is_one_line_naming_it_without_the_password(command: list[str]) -> None:
    url = f"redis://:s3cret@127.0.0.1:{free_port()}/0"

    result = CliRunner().invoke(app, [*command, "--redis-url", url])

    assert result.exit_code == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"lingxi: cannot reach Redis at redis://:***@127.0.0.1:{url.rsplit(':', 1)[1]}")
    assert "s3cret" not in result.stderr
    assert "Traceback" not in result.output


def test_a_bad_url_is_one_line() -> None:
    result = CliRunner().invoke(app, ["streams", "--redis-url", "http://nowhere"])
    assert result.exit_code == 1
    assert result.stderr.startswith("lingxi: bad Redis URL http://nowhere")
