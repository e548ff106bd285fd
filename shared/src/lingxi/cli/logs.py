"""``lingxi logs`` and ``lingxi trace``: the services' JSON log lines, merged, filtered and readable.

They read the folder ``lingxi up`` writes (one ``<replica>.jsonl`` per replica), or standard input when
it is a pipe or a file (``docker compose logs``, ``kubectl logs --prefix``). The parsing, filtering and
timeline are ``lingxi.logview``; this module only reads, waits and prints.
"""

from __future__ import annotations

import contextlib
import io
import os
import queue
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TextIO

import orjson
import typer

from lingxi.cli.common import fail, plural
from lingxi.logview import (
    LineFilter,
    LineReader,
    LogLine,
    ReorderWindow,
    build_trace,
    merge,
    parse_level,
    parse_since,
    render_line,
    render_trace,
    trace_json,
    trace_wants,
    who,
    who_width,
)

DEFAULT_LOG_DIR = Path(".lingxi/logs")
POLL_S = 0.2
WINDOW_S = 0.5

LogDir = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        metavar="DIR",
        help=f"Folder of *.jsonl log files (default {DEFAULT_LOG_DIR}, where `lingxi up` writes). Without "
        "it, standard input is read when it is a pipe or a file.",
        show_default=False,
    ),
]
Colour = Annotated[
    bool | None,
    typer.Option(
        "--color/--no-color", help="Colour the output (default: when it is a terminal).", show_default=False
    ),
]


# --- sources ------------------------------------------------------------------------------------


def stdin_is_input() -> bool:
    """Whether standard input holds log lines: a pipe or a file, not a terminal (or /dev/null, as a
    command started by a script or a service manager often has)."""
    stdin = sys.stdin
    if stdin is None or stdin.isatty():
        return False
    try:
        mode = os.fstat(stdin.fileno()).st_mode
    except (OSError, ValueError, io.UnsupportedOperation):
        return True  # a stream with no file behind it: someone handed us text
    return stat.S_ISFIFO(mode) or stat.S_ISREG(mode) or stat.S_ISSOCK(mode)


def log_files(directory: Path) -> list[Path]:
    return sorted(path for path in directory.glob("*.jsonl") if path.is_file())


def check_dir(directory: Path) -> None:
    if not directory.is_dir():
        what = "is not a folder" if directory.exists() else "does not exist"
        fail(
            f"log folder {directory} {what}. `lingxi up` writes each replica's log lines there "
            f"(--log-dir to choose, default {DEFAULT_LOG_DIR}); or pass --dir, or pipe JSON lines in "
            "(docker compose logs | lingxi logs)",
            1,
        )


def _lines_of(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8", errors="replace") as file:
        yield from file


class FileTail:
    """Reads what was appended to a file since the last call, whole lines only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self._rest = b""

    def read_new(self) -> list[str]:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return []
        if size < self.offset:  # truncated or replaced: read it again from the start
            self.offset, self._rest = 0, b""
        if size == self.offset:
            return []
        with self.path.open("rb") as file:
            file.seek(self.offset)
            data = file.read(size - self.offset)
        self.offset += len(data)
        *complete, self._rest = (self._rest + data).split(b"\n")
        return [line.decode(errors="replace") for line in complete]


class FolderTail:
    """Every ``*.jsonl`` file of a folder, files that appear later included."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files: dict[Path, FileTail] = {}

    def read_new(self) -> list[str]:
        for path in log_files(self.directory):
            self.files.setdefault(path, FileTail(path))
        return [line for tail in self.files.values() for line in tail.read_new()]


class StdinTail:
    """Lines of a stream read by a thread, so waiting for input never holds back held lines."""

    def __init__(self, stream: TextIO) -> None:
        self._lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self.ended = False
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: TextIO) -> None:
        try:
            for line in stream:
                self._lines.put(line)
        finally:
            self._lines.put(None)

    def read_new(self, wait_s: float = 0.0) -> list[str]:
        out: list[str] = []
        try:
            item = self._lines.get(timeout=wait_s) if wait_s > 0 else self._lines.get_nowait()
            while True:
                if item is None:
                    self.ended = True
                    return out
                out.append(item)
                item = self._lines.get_nowait()
        except queue.Empty:
            return out


# --- output -------------------------------------------------------------------------------------


class Printer:
    """Prints lines readably (the replica column widening as needed) or as JSON lines."""

    def __init__(self, *, as_json: bool, color: bool, width: int = 18) -> None:
        self.as_json = as_json
        self.color = color
        self.width = width

    def __call__(self, lines: list[LogLine]) -> None:
        if not lines:
            return
        if self.as_json:
            text = "".join(line.raw + "\n" for line in lines)
        else:
            self.width = max(self.width, *(min(len(who(line)), 40) for line in lines))
            text = "".join(render_line(line, color=self.color, width=self.width) + "\n" for line in lines)
        sys.stdout.write(text)
        sys.stdout.flush()


@contextlib.contextmanager
def quiet_broken_pipe() -> Iterator[None]:
    """``lingxi logs | head``: stop quietly when the reader goes away."""
    try:
        yield
    except BrokenPipeError:
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(0) from None


def _colour(option: bool | None) -> bool:
    return sys.stdout.isatty() if option is None else option


def _report_skipped(reader: LineReader) -> None:
    if reader.skipped:
        typer.echo(f"lingxi: skipped {plural(reader.skipped, 'line')} that are not JSON log lines", err=True)


# --- following ----------------------------------------------------------------------------------


def follow(
    source: FolderTail | StdinTail,
    reader: LineReader,
    keep: Callable[[LogLine], bool],
    emit: Callable[[list[LogLine]], None],
    *,
    keep_going: Callable[[], bool] = lambda: True,
    poll_s: float = POLL_S,
    window_s: float = WINDOW_S,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Print what is there now in time order, then new lines as they come, each held ``window_s`` so
    lines that replicas wrote at nearly the same time come out in time order. Runs until
    ``keep_going`` says no (checked once per poll), standard input ends, or Ctrl-C."""
    emit(merge(line for line in reader.feed(source.read_new()) if keep(line)))
    window = ReorderWindow(window_s)
    try:
        while keep_going():
            if isinstance(source, StdinTail):
                texts = source.read_new(wait_s=poll_s)
            else:
                time.sleep(poll_s)
                texts = source.read_new()
            window.add((line for line in reader.feed(texts) if keep(line)), clock())
            emit(window.due(clock()))
            if isinstance(source, StdinTail) and source.ended:
                break
    except KeyboardInterrupt:
        pass
    emit(window.drain())


# --- the commands -------------------------------------------------------------------------------


def _read_all(
    directory: Path | None, reader: LineReader, keep: Callable[[LogLine], bool] = lambda line: True
) -> tuple[list[LogLine], str]:
    """Every line ``reader`` and ``keep`` let through, from the folder or standard input, and where
    they came from."""
    if directory is None and stdin_is_input():
        return [line for line in reader.feed(sys.stdin) if keep(line)], "standard input"
    folder = directory or DEFAULT_LOG_DIR
    check_dir(folder)
    files = log_files(folder)
    lines = [line for path in files for line in reader.feed(_lines_of(path)) if keep(line)]
    return lines, f"{folder} ({plural(len(files), 'file')})"


def logs(
    follow_: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines (and new files) until Ctrl-C.")
    ] = False,
    service: Annotated[
        list[str] | None, typer.Option("--service", "-s", metavar="S", help="Only this service (repeatable).")
    ] = None,
    replica: Annotated[
        list[str] | None,
        typer.Option(
            "--replica", "-r", metavar="R", help="Only this replica, e.g. assistant-2 (repeatable)."
        ),
    ] = None,
    level: Annotated[
        str | None,
        typer.Option(
            "--level",
            "-l",
            metavar="L",
            help="This level or more severe: debug, info, warning, error, critical.",
        ),
    ] = None,
    correlation_id: Annotated[
        str | None,
        typer.Option(
            "--correlation-id",
            "-c",
            metavar="ID",
            help="Only lines about this flow: its correlation_id or request_id (the gateway's request id).",
        ),
    ] = None,
    stream: Annotated[
        list[str] | None,
        typer.Option("--stream", metavar="X", help="Only lines about this stream (repeatable)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            metavar="T",
            help="Only lines from T on: an ISO 8601 time (UTC unless it says otherwise) or a duration back "
            "from now (30s, 10m, 2h, 1d).",
        ),
    ] = None,
    directory: LogDir = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="The lines as they were logged, one JSON object each.")
    ] = False,
    color: Colour = None,
) -> None:
    """Show the services' log lines merged in time order, filtered, readable.

    Each line: time (UTC), replica, level, message, then the other fields as
    key=value. Reads every replica's file in the folder `lingxi up` writes, or
    the JSON lines on standard input (docker compose logs, kubectl logs
    --prefix: their prefixes are stripped); lines that are not JSON are
    skipped and counted on stderr.
    """
    try:
        wanted_level = parse_level(level) if level is not None else None
    except ValueError as error:
        fail(f"--level {error}", 2)
    try:
        start = parse_since(since, datetime.now(UTC)) if since is not None else None
    except ValueError as error:
        fail(f"--since {error}", 2)
    chosen = LineFilter(
        services=frozenset(service or ()),
        replicas=frozenset(replica or ()),
        streams=frozenset(stream or ()),
        level=wanted_level,
        correlation_id=correlation_id,
        since=start,
    )
    reader = LineReader(wanted=chosen.wanted)
    colour = _colour(color)
    with quiet_broken_pipe():
        if follow_:
            if directory is None and stdin_is_input():
                source: FolderTail | StdinTail = StdinTail(sys.stdin)
            else:
                folder = directory or DEFAULT_LOG_DIR
                check_dir(folder)
                source = FolderTail(folder)
            follow(source, reader, chosen.matches, Printer(as_json=as_json, color=colour))
        else:
            lines, _ = _read_all(directory, reader, chosen.matches)
            shown = merge(lines)
            Printer(as_json=as_json, color=colour, width=who_width(shown))(shown)
    _report_skipped(reader)


def trace(
    ident: Annotated[
        str, typer.Argument(metavar="ID", help="A request id (as the gateway answers) or a correlation id.")
    ],
    directory: LogDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="The timeline as one JSON object.")] = False,
    color: Colour = None,
) -> None:
    """Show every step of one request across the services, as a timeline.

    From the same log lines as `lingxi logs`: each line carrying the id as its
    correlation_id or request_id. A row per step: when it began (from the
    first), the replica, what happened (an event handled and how long it
    waited in its stream; an HTTP request), how long it took, and a bar.
    Exits with 1 when no line mentions the id.
    """
    reader = LineReader(wanted=lambda text: trace_wants(text, ident))
    lines, where = _read_all(directory, reader)
    found = build_trace(lines, ident)
    if found is None:
        fail(f"no log line mentions {ident} in {where}", 1)
    with quiet_broken_pipe():
        if as_json:
            typer.echo(orjson.dumps(trace_json(found)).decode())
        else:
            typer.echo("\n".join(render_trace(found, color=_colour(color))))
    _report_skipped(reader)
