"""The audit chain without Redis: entry format, hashes, and each kind of tampering named at its seq."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lingxi_compliance.audit import (
    GENESIS_HASH,
    ChainPoint,
    canonical,
    entry_from,
    entry_hash,
    verify,
)
from lingxi_compliance.cli import parse_since

T0 = datetime(2026, 11, 25, 8, 30, tzinfo=UTC)


def record(n: int) -> dict[str, Any]:
    return {
        "action": "answer.released",
        "request_id": f"req-{n}",
        "region": "CN",
        "feature": "assistant.chat",
        "provider": "qwen",
        "model": "qwen-plus",
        "latency_ms": 12.5 + n,
        "decision": {"labels": ["explicit", "implicit"], "blocked": False},
    }


def chain(length: int) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    prev = GENESIS_HASH
    for n in range(1, length + 1):
        entry = entry_from(record(n), n, prev, T0 + timedelta(seconds=n))
        entries.append(entry)
        prev = entry["hash"]
    return entries


def rehash(entry: dict[str, Any]) -> dict[str, Any]:
    """What a careful forger does: fix the hash after changing the content."""
    return {**entry, "hash": entry_hash(entry)}


def test_an_entry_is_the_record_plus_seq_prev_at_and_a_sha256_over_its_canonical_json() -> None:
    entry = entry_from({"b": "中", "a": 1}, 1, GENESIS_HASH, T0)
    assert entry["seq"] == 1
    assert entry["prev"] == GENESIS_HASH == "0" * 64
    assert entry["at"] == "2026-11-25T08:30:00.000000Z"
    body = '{"a":1,"at":"2026-11-25T08:30:00.000000Z","b":"中","prev":"' + GENESIS_HASH + '","seq":1}'
    assert entry["hash"] == hashlib.sha256(body.encode("utf-8")).hexdigest()
    stored = canonical(entry)
    assert stored == json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert b" " not in stored


def test_an_intact_chain_verifies_also_against_its_head() -> None:
    entries = chain(5)
    assert verify(entries) is None
    assert verify([canonical(e) for e in entries]) is None  # stored bytes too
    assert verify(entries, head=ChainPoint(5, entries[-1]["hash"])) is None
    assert verify([]) is None


@pytest.mark.parametrize(
    "bad",
    [
        {"seq": 1},
        {"prev": "x"},
        {"at": "now"},
        {"hash": "x"},
        {"text": "我的电话是13800138000"},
        {"nested": {"query": "hello"}},
        {"caller": "13800138000"},
        {"contact": ["someone@example.com"]},
        {"latency_ms": float("nan")},
        {"when": T0},
    ],
)
def test_records_with_chain_names_personal_data_or_non_json_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"reserved|personal|free text|JSON"):
        entry_from(bad, 1, GENESIS_HASH, T0)


def test_an_altered_field_is_named_at_its_seq() -> None:
    entries = chain(6)
    entries[3] = {**entries[3], "provider": "deepseek"}
    broken = verify(entries)
    assert broken is not None
    assert (broken.seq, broken.kind) == (4, "altered")


def test_altered_stored_bytes_are_named_at_their_seq() -> None:
    stored = [canonical(e) for e in chain(4)]
    stored[1] = stored[1].replace(b'"blocked":false', b'"blocked":true')
    broken = verify(stored)
    assert broken is not None
    assert (broken.seq, broken.kind) == (2, "altered")


def test_an_altered_and_rehashed_entry_breaks_the_next_link() -> None:
    entries = chain(6)
    entries[2] = rehash({**entries[2], "decision": "blocked"})
    broken = verify(entries)
    assert broken is not None
    assert (broken.seq, broken.kind) == (4, "prev")


def test_a_deleted_entry_is_named_by_its_missing_seq() -> None:
    entries = chain(6)
    del entries[2]
    broken = verify(entries)
    assert broken is not None
    assert (broken.seq, broken.kind) == (3, "gap")
    assert "deleted" in broken.reason


def test_a_deleted_first_entry_is_a_gap_at_seq_1() -> None:
    broken = verify(chain(3)[1:])
    assert broken is not None
    assert (broken.seq, broken.kind) == (1, "gap")


def test_deleted_last_entries_are_caught_by_the_head() -> None:
    entries = chain(6)
    head = ChainPoint(6, entries[-1]["hash"])
    assert verify(entries[:-2]) is None  # without the head the loss at the end is invisible
    broken = verify(entries[:-2], head=head)
    assert broken is not None
    assert (broken.seq, broken.kind) == (5, "gap")


def test_a_forged_entry_appended_after_the_head_is_named() -> None:
    entries = chain(4)
    head = ChainPoint(4, entries[-1]["hash"])
    forged = entry_from(record(99), 5, entries[-1]["hash"], T0)
    broken = verify([*entries, forged], head=head)
    assert broken is not None
    assert (broken.seq, broken.kind) == (5, "head")


def test_an_inserted_entry_is_named() -> None:
    entries = chain(5)
    # a forged copy of seq 3 (valid hash, right prev) slipped in after the real seq 3
    forged = entry_from(record(77), 3, entries[1]["hash"], T0)
    broken = verify([*entries[:3], forged, *entries[3:]])
    assert broken is not None
    assert (broken.seq, broken.kind) == (3, "order")


def test_an_inserted_entry_with_the_next_seq_breaks_the_real_one() -> None:
    entries = chain(5)
    forged = entry_from(record(77), 3, entries[1]["hash"], T0)
    broken = verify([*entries[:2], forged, *entries[2:]])
    assert broken is not None
    assert (broken.seq, broken.kind) == (3, "order")


def test_swapped_entries_are_named() -> None:
    entries = chain(5)
    entries[1], entries[2] = entries[2], entries[1]
    broken = verify(entries)
    assert broken is not None
    assert (broken.seq, broken.kind) == (2, "gap")  # seq 3 arrives where seq 2 belongs


def test_a_replaced_entry_with_the_right_seq_but_wrong_prev_is_named() -> None:
    entries = chain(5)
    entries[2] = entry_from(record(3), 3, "f" * 64, T0)
    broken = verify(entries)
    assert broken is not None
    assert (broken.seq, broken.kind) == (3, "prev")


def test_a_replaced_last_entry_is_caught_by_the_head() -> None:
    entries = chain(4)
    head = ChainPoint(4, entries[-1]["hash"])
    entries[-1] = entry_from(record(99), 4, entries[2]["hash"], T0)
    broken = verify(entries, head=head)
    assert broken is not None
    assert (broken.seq, broken.kind) == (4, "head")


def test_garbage_is_malformed_at_the_seq_it_stands_in_for() -> None:
    stored: list[bytes] = [canonical(e) for e in chain(3)]
    stored.insert(2, b"not json")
    broken = verify(stored)
    assert broken is not None
    assert (broken.seq, broken.kind) == (3, "malformed")


def test_a_trimmed_chain_verifies_from_its_anchor_and_still_catches_front_deletions() -> None:
    entries = chain(10)
    anchor = ChainPoint(5, entries[3]["hash"])  # seq 1..4 trimmed: seq 5 must follow seq 4's hash
    assert verify(entries[4:], anchor=anchor) is None
    broken = verify(entries[5:], anchor=anchor)
    assert broken is not None
    assert (broken.seq, broken.kind) == (5, "gap")
    broken = verify(entries[4:], anchor=ChainPoint(5, "e" * 64))
    assert broken is not None
    assert (broken.seq, broken.kind) == (5, "prev")


def test_since_takes_iso_dates_times_and_relative_ages() -> None:
    assert parse_since("2026-11-01") == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_since("2026-11-01T08:00:00+08:00") == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_since("7d", now=T0) == T0 - timedelta(days=7)
    assert parse_since("12h", now=T0) == T0 - timedelta(hours=12)
