"""Argument handling of `lingxi up`."""

from __future__ import annotations

import shlex

import pytest
import typer
from lingxi.cli.up import SERVICES, example_request, parse_replicas


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
    words = shlex.split(example_request("http://127.0.0.1:8000"))
    assert words[0] == "curl"
    assert "http://127.0.0.1:8000/v1/assistant/queries?wait=5" in words
    assert any("明天早上七点" in w for w in words)
