"""structlog configuration shared by every Lingxi process.

One JSON object a line when stdout is not a terminal (production, containers, ``make run`` pipes),
readable colour in a terminal. Standard-library loggers (uvicorn, FastStream, redis) go through the
same processors so every line has the same shape. Personal data never reaches a log line: see
``redact_personal_data``.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import re
import sys
import threading
from collections.abc import MutableMapping
from typing import Any, Literal, TextIO

import orjson
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

LogFormat = Literal["auto", "json", "console"]

# Mainland mobile numbers, resident ID numbers (18 chars, last may be X), bank cards (16-19 digits)...
_PERSONAL_NUMBER = re.compile(r"(?<![\dA-Za-z])(?:1[3-9]\d{9}|\d{17}[\dXx]|\d{16,19})(?![\dA-Za-z])")
# ... and emails: a separate pattern tried only where there is an "@", because scanning for one
# costs six times the number scan on every string of every line.
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Fields that carry free text typed or spoken by users: never logged, only their length.
FREE_TEXT_KEYS = frozenset({"text", "query", "reply_text", "safe_reply", "body", "prompt"})


# Fields whose values the runtime itself produces (ids, names, times): no need to scan them.
_OWN_FIELDS = frozenset(
    {"timestamp", "level", "logger", "service", "replica", "stream", "outcome", "event_id", "entry_id"}
)


def redact_personal_data(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Replace user free text by its length and mask personal identifiers in every other string."""
    for key, value in list(event_dict.items()):
        if key in FREE_TEXT_KEYS and isinstance(value, str):
            event_dict[key] = f"[redacted {len(value)} chars]"
        elif isinstance(value, str) and key not in _OWN_FIELDS:
            event_dict[key] = mask_personal_data(value)
    return event_dict


def mask_personal_data(value: str) -> str:
    masked = _PERSONAL_NUMBER.sub("[redacted]", value)
    return _EMAIL.sub("[redacted]", masked) if "@" in masked else masked


_NAME_KEY = "_logger_name"


def _static_fields(fields: dict[str, str]) -> Processor:
    def add(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        for key, value in fields.items():
            event_dict.setdefault(key, value)
        if _NAME_KEY in event_dict:
            event_dict["logger"] = event_dict.pop(_NAME_KEY)
        return event_dict

    return add


class LineWriter:
    """Collects rendered lines and writes them to a text stream together, once per event-loop turn.

    A batch of events logs a line per event in one turn. Services run with PYTHONUNBUFFERED=1 (so a
    line is never lost in a buffer when a process dies), which makes every write to stdout a system
    call: writing a turn's lines as one string keeps that to one call a turn. Lines still reach the
    stream before the loop does anything else, at once when no loop is running, at exit, and before a
    service dies of SIGTERM (``runtime.serve``); a process killed outright (SIGKILL) loses at most the
    lines of its last turn.
    """

    MAX_PENDING = 1000
    """Lines kept before they are written regardless of the turn (bounds memory in a long turn)."""

    def __init__(self, file: TextIO) -> None:
        self.file = file
        self._pending: list[str] = []
        self._scheduled = False
        self._lock = threading.Lock()  # worker threads log too

    def msg(self, message: str) -> None:
        self.write(message + "\n")

    def write(self, text: str) -> None:
        """Queue text for the stream (``logging.StreamHandler`` writes through here as well)."""
        with self._lock:
            self._pending.append(text)
            full = len(self._pending) >= self.MAX_PENDING
            if not full and self._scheduled:
                return
        try:
            loop = None if full else asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None:
            self.flush_now()
            return
        with self._lock:
            self._scheduled = True
        loop.call_soon(self._end_of_turn)

    def flush(self) -> None:
        """Nothing to do now: the turn's lines go out together when it ends (``logging`` calls this)."""

    def flush_now(self) -> None:
        """Write every queued line to the stream."""
        with self._lock:
            if not self._pending:
                return
            text, self._pending = "".join(self._pending), []
        with contextlib.suppress(ValueError, OSError):  # closed or broken stream at shutdown
            self.file.write(text)
            self.file.flush()

    def _end_of_turn(self) -> None:
        with self._lock:
            self._scheduled = False
        self.flush_now()

    log = debug = info = warn = warning = fatal = failure = err = error = critical = exception = msg


_writer: LineWriter | None = None


def _writer_for(file: TextIO) -> LineWriter:
    """The one writer of ``file``, so lines from every logger keep their order."""
    global _writer
    if _writer is None or _writer.file is not file:
        if _writer is not None:
            _writer.flush_now()
        _writer = LineWriter(file)
    return _writer


@atexit.register
def flush_logs() -> None:
    """Write the lines still queued (at exit, and before the process dies of a signal)."""
    if _writer is not None:
        _writer.flush_now()


def _renderer(log_format: LogFormat) -> Processor:
    use_console = log_format == "console" or (log_format == "auto" and sys.stdout.isatty())
    if use_console:
        return structlog.dev.ConsoleRenderer()
    return structlog.processors.JSONRenderer(serializer=_dumps)


def _dumps(value: Any, **options: Any) -> str:
    # structlog passes ``default`` (repr for what JSON cannot hold); orjson writes UTF-8 as is, so the
    # line separators U+2028 and U+2029 would reach the line raw, and readers that split on them
    # (Python's str.splitlines, JavaScript) would cut one JSON line in two: escape them.
    line = orjson.dumps(value, default=options.get("default")).decode()
    return line.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def configure_logging(
    *, service: str, replica: str, log_format: LogFormat = "auto", level: str = "INFO"
) -> None:
    """Configure structlog and the standard library's root logger for one process."""
    common: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        _static_fields({"service": service, "replica": replica}),
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # Tracebacks become text before redaction, so exception messages are masked too.
        structlog.processors.format_exc_info,
        redact_personal_data,
    ]
    renderer = _renderer(log_format)
    # Our own lines go straight from structlog to stdout (no stdlib record: about twice as fast);
    # lines from libraries (uvicorn, FastStream, redis) take the stdlib route below, same shape.
    structlog.configure(
        processors=[*common, renderer],
        logger_factory=lambda *_: _writer_for(sys.stdout),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        cache_logger_on_first_use=False,  # a reconfiguration (tests, a second Service) must take effect
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*common, structlog.stdlib.add_logger_name],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            renderer,
        ],
    )
    handler = logging.StreamHandler(_writer_for(sys.stdout))
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log repeats what our own request lines say; keep its errors.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "faststream"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def get_logger(name: str | None = None, **initial: Any) -> Any:
    """A structlog logger; ``name`` is carried as the ``logger`` field."""
    if name is not None:
        initial[_NAME_KEY] = name  # "logger" itself is a parameter name of structlog.get_logger
    return structlog.get_logger(**initial)


def bound_context() -> MutableMapping[str, Any]:
    """The context bound to the current task (for middlewares that read back what handlers set)."""
    return structlog.contextvars.get_contextvars()
