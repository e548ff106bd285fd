"""`lingxi logs` and `lingxi trace` on a log folder as `lingxi up` writes it, and on standard input."""

from __future__ import annotations

import importlib.util
import io
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lingxi.cli import logs as logs_module
from lingxi.cli.logs import FileTail, FolderTail, StdinTail, follow, stdin_is_input
from lingxi.cli.main import app
from lingxi.logview import LineReader, LogLine
from typer.testing import CliRunner, Result


def _captured() -> tuple[list[str], str, str]:
    """The lines captured from `lingxi up` that test_logview.py holds (tests here are not a package)."""
    spec = importlib.util.spec_from_file_location(
        "_captured_lines", Path(__file__).with_name("test_logview.py")
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CAPTURED, module.FIRST, module.SECOND


CAPTURED, FIRST, SECOND = _captured()


def lingxi(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=stdin)


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    """The captured lines in one file per replica, as `lingxi up` leaves them."""
    folder = tmp_path / "logs"
    folder.mkdir()
    for text in CAPTURED:
        replica = json.loads(text)["replica"]
        with (folder / f"{replica}.jsonl").open("a") as file:
            file.write(text + "\n")
    (folder / "notes.txt").write_text("not a log file\n")
    return folder


def times(output: str) -> list[str]:
    return [line.split()[0] for line in output.splitlines()]


def test_logs_merges_every_replica_file_in_time_order(log_dir: Path) -> None:
    result = lingxi("logs", "--dir", str(log_dir))

    assert result.exit_code == 0, result.output
    shown = result.stdout.splitlines()
    assert len(shown) == len(CAPTURED)
    assert times(result.stdout) == sorted(times(result.stdout))
    assert shown[0].split()[1:4] == ["gateway-1", "info", "http"]
    assert [line.split()[1] for line in shown if FIRST in line] == [
        "assistant-1",
        "compliance-1",
        "gateway-1",
    ]
    assert "\x1b[" not in result.stdout  # not a terminal
    assert result.stderr == ""


def test_json_gives_the_merged_lines_as_they_were_logged(log_dir: Path) -> None:
    result = lingxi("logs", "--dir", str(log_dir), "--json", "--correlation-id", SECOND)

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [CAPTURED[8], CAPTURED[9], CAPTURED[11]]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--service", "gateway", "--correlation-id", FIRST], [CAPTURED[7]]),
        (["-s", "vision", "-s", "compliance"], [CAPTURED[0], CAPTURED[2], CAPTURED[5], CAPTURED[9]]),
        (["--replica", "assistant-1"], [CAPTURED[3], CAPTURED[4], CAPTURED[8]]),
        (["--stream", "assistant.answer.drafted"], [CAPTURED[5], CAPTURED[9]]),
        (["--level", "WARN"], [CAPTURED[2]]),
        (["--level", "error"], []),
        (["--since", "2026-11-26T14:39:28Z"], CAPTURED[8:]),
        (["--since", "2026-11-26T22:39:28+08:00", "--service", "gateway"], [CAPTURED[10], CAPTURED[11]]),
    ],
)
def test_each_filter(log_dir: Path, options: list[str], expected: list[str]) -> None:
    result = lingxi("logs", "--dir", str(log_dir), "--json", *options)

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == expected


def test_since_takes_a_duration_back_from_now(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    lines = [
        json.dumps({"event": f"{age} old", "service": "assistant", "replica": "assistant-1", "level": "info",
                    "timestamp": (now - age).isoformat().replace("+00:00", "Z")})
        for age in (timedelta(hours=3), timedelta(minutes=50), timedelta(seconds=5))
    ]  # fmt: skip
    (tmp_path / "assistant-1.jsonl").write_text("\n".join(lines) + "\n")

    hour = lingxi("logs", "--dir", str(tmp_path), "--json", "--since", "1h")
    minute = lingxi("logs", "--dir", str(tmp_path), "--json", "--since", "30s")

    assert hour.stdout.splitlines() == lines[1:]
    assert minute.stdout.splitlines() == lines[2:]


def test_bad_options_are_named(log_dir: Path) -> None:
    since = lingxi("logs", "--dir", str(log_dir), "--since", "yesterday")
    level = lingxi("logs", "--dir", str(log_dir), "--level", "loud")

    assert since.exit_code == 2
    assert since.stderr.startswith("lingxi: --since 'yesterday': expected an ISO 8601 time")
    assert "10m" in since.stderr
    assert level.exit_code == 2
    assert "--level 'loud': expected one of debug, info, warning, error, critical" in level.stderr


def test_a_missing_folder_says_how_logs_get_there(tmp_path: Path) -> None:
    missing = lingxi("logs", "--dir", str(tmp_path / "nowhere"))
    traced = lingxi("trace", FIRST, "--dir", str(tmp_path / "nowhere"))
    a_file = lingxi("logs", "--dir", str(_file(tmp_path)))

    assert missing.exit_code == traced.exit_code == a_file.exit_code == 1
    assert "nowhere does not exist" in missing.stderr
    assert "`lingxi up` writes each replica's log lines there" in missing.stderr
    assert "docker compose logs | lingxi logs" in missing.stderr
    assert "does not exist" in traced.stderr
    assert "is not a folder" in a_file.stderr


def _file(folder: Path) -> Path:
    path = folder / "plain"
    path.write_text("")
    return path


def test_the_default_folder_is_where_lingxi_up_writes(
    log_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".lingxi").mkdir()
    log_dir.rename(tmp_path / ".lingxi" / "logs")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(logs_module, "stdin_is_input", lambda: False)  # as in a terminal

    result = lingxi("logs", "--json", "-c", FIRST)

    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 3


def test_standard_input_from_docker_compose_or_kubectl(tmp_path: Path) -> None:
    piped = "".join(
        [
            "Attaching to gateway-1, assistant-1\n",
            f"gateway-1     | {CAPTURED[7]}\n",
            f"[pod/assistant-5c9d7b-qx2lp/assistant] {CAPTURED[4]}\n",
            f"\x1b[33mcompliance-1\x1b[0m  | {CAPTURED[5]}\n",
            "assistant-1  | Traceback (most recent call last):\n",
            "\n",
        ]
    )

    result = lingxi("logs", "--no-color", stdin=piped)

    assert result.exit_code == 0, result.output
    assert [line.split()[1] for line in result.stdout.splitlines()] == [
        "assistant-1",
        "compliance-1",
        "gateway-1",
    ]
    assert result.stderr == "lingxi: skipped 2 lines that are not JSON log lines\n"


def test_colour_when_asked(log_dir: Path) -> None:
    coloured = lingxi("logs", "--dir", str(log_dir), "--color", "--level", "warning")

    assert "\x1b[33mwarning" in coloured.stdout


def test_stdin_is_read_only_when_it_is_a_pipe_or_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open(os.devnull) as devnull:
        monkeypatch.setattr("sys.stdin", devnull)
        assert not stdin_is_input()  # a script's or a service manager's stdin: read the folder
    reading, writing = os.pipe()
    with os.fdopen(reading) as pipe, os.fdopen(writing, "w"):
        monkeypatch.setattr("sys.stdin", pipe)
        assert stdin_is_input()
    with _file(tmp_path).open() as file:
        monkeypatch.setattr("sys.stdin", file)
        assert stdin_is_input()


# --- following ----------------------------------------------------------------------------------


def line_at(second: float, replica: str, event: str) -> str:
    moment = datetime(2026, 11, 26, 15, 0, tzinfo=UTC) + timedelta(seconds=second)
    service = replica.rsplit("-", 1)[0]
    stamp = moment.isoformat().replace("+00:00", "Z")
    return json.dumps({"event": event, "service": service, "replica": replica, "timestamp": stamp})


def append(path: Path, text: str) -> None:
    with path.open("a") as file:
        file.write(text)


def test_follow_prints_appended_lines_and_new_files_in_time_order(tmp_path: Path) -> None:
    gateway, assistant, compliance = (
        tmp_path / f"{name}.jsonl" for name in ("gateway-1", "assistant-1", "compliance-1")
    )
    append(gateway, line_at(0, "gateway-1", "already there") + "\n")
    fourth = line_at(4, "gateway-1", "fourth, written in two")
    steps: list[list[tuple[Path, str]]] = [
        # Read in one poll, written by two replicas out of order: printed in time order.
        [
            (gateway, line_at(3, "gateway-1", "third") + "\n"),
            (assistant, line_at(1, "assistant-1", "first") + "\n"),
        ],
        # Read one poll later, and older than "third": the window puts it before.
        [(compliance, line_at(2, "compliance-1", "second, in a new file") + "\n")],
        [(gateway, fourth[:30])],
        [(gateway, fourth[30:] + "\nnot json\n")],
    ]
    polls = 0

    def keep_going() -> bool:  # once per poll: write the next step; stop after a dozen polls
        nonlocal polls
        for path, text in steps[polls] if polls < len(steps) else []:
            append(path, text)
        polls += 1
        return polls < 12

    printed: list[list[LogLine]] = []
    reader = LineReader()
    follow(
        FolderTail(tmp_path),
        reader,
        lambda line: True,
        printed.append,
        keep_going=keep_going,
        poll_s=0.01,
        window_s=0.025,  # lines are held for two polls and a half by this clock, however slow the machine
        clock=lambda: polls * 0.01,
    )

    events = [line.event for batch in printed for line in batch]
    assert events == ["already there", "first", "second, in a new file", "third", "fourth, written in two"]
    assert printed[0][0].event == "already there"  # what was there is printed before waiting
    assert reader.skipped == 1


def test_follow_applies_the_filter_and_ends_with_standard_input() -> None:
    written = [(2, "gateway-1", "b"), (1, "assistant-1", "a"), (3, "assistant-1", "c")]
    piped = io.StringIO("".join(f"x | {line_at(*args)}\n" for args in written))
    printed: list[LogLine] = []

    follow(
        StdinTail(piped),
        LineReader(),
        lambda line: line.service == "assistant",
        printed.extend,
        poll_s=0.05,
        window_s=0.01,
    )

    assert [line.event for line in printed] == ["a", "c"]


def test_a_file_tail_reads_whole_lines_once_and_starts_over_when_truncated(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    tail = FileTail(path)
    assert tail.read_new() == []
    path.write_text("one\ntw")
    assert tail.read_new() == ["one"]
    append(path, "o\n")
    assert tail.read_new() == ["two"]
    assert tail.read_new() == []
    path.write_text("new\n")
    assert tail.read_new() == ["new"]


# --- trace --------------------------------------------------------------------------------------


def test_trace_prints_a_timeline_of_the_request(log_dir: Path) -> None:
    result = lingxi("trace", FIRST, "--dir", str(log_dir))

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"request {FIRST}: 4 steps across gateway, assistant, compliance, 116.3 ms")
    steps = [line.split()[2] for line in lines[2:6]]
    assert steps == ["gateway-1", "assistant-1", "compliance-1", "gateway-1"]
    assert "assistant.answer.released ok (queued 12.2 ms)" in lines[5]
    assert any(line.startswith("total 116.3 ms") for line in lines)


def test_trace_json_and_from_standard_input() -> None:
    piped = "".join(f"{json.loads(text)['replica']}  | {text}\n" for text in CAPTURED)

    result = lingxi("trace", SECOND, "--json", stdin=piped)

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [hop["replica"] for hop in data["hops"]] == [
        "gateway-1",
        "assistant-1",
        "compliance-1",
        "gateway-1",
    ]
    assert data["total_ms"] > 0


def test_trace_of_an_unknown_id_says_so(log_dir: Path) -> None:
    result = lingxi("trace", "0e2b6c4a-6f5d-4d8e-8d0a-9b7c1a2e3f40", "--dir", str(log_dir))

    assert result.exit_code == 1
    assert result.stderr.startswith("lingxi: no log line mentions 0e2b6c4a-6f5d-4d8e-8d0a-9b7c1a2e3f40 in ")
    assert "(4 files)" in result.stderr
