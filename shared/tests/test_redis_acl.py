"""The ACL file of Lingxi's Redis users: what each user may touch, and how bad input is refused."""

from __future__ import annotations

import pytest
from lingxi.cli.asyncapi import installed_contracts
from lingxi.cli.main import app
from lingxi.redis_acl import (
    OPERATOR,
    OTHER_USERS,
    SCALER,
    SERVICE_KEYS,
    acl_file,
    password_variable,
    user_name,
)
from typer.testing import CliRunner

CONTRACTS = installed_contracts()
PASSWORDS = {name: f"{name}-password-0123456789" for name in (*SERVICE_KEYS, *OTHER_USERS)}


def lines() -> dict[str, str]:
    return {line.split()[1]: line for line in acl_file(CONTRACTS, PASSWORDS).splitlines()}


def test_every_service_has_a_user_and_its_key_access_is_listed() -> None:
    assert {contract.name for contract in CONTRACTS} == set(SERVICE_KEYS)
    assert set(lines()) == {
        "default",
        user_name(OPERATOR),
        user_name(SCALER),
        *(user_name(name) for name in SERVICE_KEYS),
    }


def test_a_service_may_touch_its_streams_and_their_dead_letters_and_nothing_it_does_not_use() -> None:
    for contract in CONTRACTS:
        rules = lines()[user_name(contract.name)].split()
        for event in (*contract.consumes, *contract.publishes):
            assert f"~{event.stream}" in rules
            assert f"~{event.stream}.dlq" in rules
        assert f"~lingxi:processed:{contract.name}:*" in rules
        assert "~*" not in rules
        assert "-@dangerous" in rules
        assert "-@admin" in rules
        assert rules.index("-@all") < rules.index("+@read"), "everything is refused first"
    vision = lines()[user_name("vision")].split()
    assert "%R~lingxi:images:*" in vision, "vision reads images, the gateway writes them"
    assert not any("personalization" in rule or "partners" in rule for rule in vision)


def test_the_scaler_may_only_count_the_backlog_of_the_consumed_streams() -> None:
    rules = lines()[user_name(SCALER)].split()
    consumed = {event.stream for contract in CONTRACTS for event in contract.consumes}
    assert {rule for rule in rules if "~" in rule} == {f"%R~{stream}" for stream in consumed}
    assert "device.telemetry_batch.received" in consumed, "the streams KEDA scales maintenance on"
    commands = rules[rules.index("-@all") :]
    assert commands == ["-@all", "+xpending", "+xinfo|groups", "+xlen", "+ping", "+hello", "+auth", "+select"]
    assert not any(rule.startswith("&") for rule in rules), "no channel"


def test_the_file_holds_password_hashes_never_a_password() -> None:
    text = acl_file(CONTRACTS, PASSWORDS)
    assert not any(password in text for password in PASSWORDS.values())
    assert text.count(" #") == len(PASSWORDS)


def test_the_default_user_may_only_ping() -> None:
    assert lines()["default"] == "user default on nopass resetkeys resetchannels -@all +ping +hello +auth"


@pytest.mark.parametrize("password", ["short", "has a space in it 0123", ""])
def test_a_weak_password_is_refused_naming_its_variable(password: str) -> None:
    with pytest.raises(ValueError, match="LINGXI_REDIS_PASSWORD_GATEWAY"):
        acl_file(CONTRACTS, {**PASSWORDS, "gateway": password})


def test_the_command_names_every_missing_password(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PASSWORDS:
        monkeypatch.delenv(password_variable(name), raising=False)
    monkeypatch.setenv(password_variable("gateway"), PASSWORDS["gateway"])
    result = CliRunner().invoke(app, ["redis", "acl"])
    assert result.exit_code == 1
    assert "LINGXI_REDIS_PASSWORD_OPERATOR" in result.output
    assert "LINGXI_REDIS_PASSWORD_SCALER" in result.output
    assert "LINGXI_REDIS_PASSWORD_GATEWAY" not in result.output
