"""No personal data in log lines, wherever it hides: fields, messages, tracebacks, library loggers."""

from __future__ import annotations

import json
import logging

import pytest
from lingxi.events import QueryReceived
from lingxi.logging import configure_logging, get_logger
from pydantic import ValidationError

PHONE, ID_CARD, EMAIL, TEXT = (
    "13812345678",
    "11010519491231002X",
    "zhang.wei@example.cn",
    "我住在朝阳区幸福小区",
)


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def test_identifiers_are_masked_in_fields_messages_and_tracebacks(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(service="t", replica="t-1", log_format="json")
    log = get_logger("test")
    log.info(f"call {PHONE}", contact=EMAIL, text=TEXT)
    try:
        raise RuntimeError(f"provider refused {ID_CARD} / {PHONE}")
    except RuntimeError:
        log.exception("handler failed")
        logging.getLogger("some.library").exception("library saw it too")
    out = lines(capsys)
    dumped = json.dumps(out, ensure_ascii=False)
    for secret in (PHONE, ID_CARD, EMAIL, TEXT):
        assert secret not in dumped
    assert out[0]["text"] == f"[redacted {len(TEXT)} chars]"
    assert "RuntimeError" in str(out[1]["exception"]), "the traceback itself is kept"
    assert out[2]["logger"] == "some.library"


def test_a_line_separator_in_a_field_never_splits_the_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(service="t", replica="t-1", log_format="json")
    get_logger("test").info("separators", reason="first\u2028second\u2029third")
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 1, "str.splitlines breaks at U+2028 and U+2029"
    assert json.loads(out)["reason"] == "first\u2028second\u2029third"


def test_validation_errors_never_repeat_the_input() -> None:
    with pytest.raises(ValidationError) as caught:
        QueryReceived.model_validate_json(json.dumps({"text": TEXT, "region": "CN", "locale": "xx"}))
    assert TEXT not in str(caught.value)


class CountingStream:
    """A text stream that records each write, as stdout under PYTHONUNBUFFERED=1 would make a system
    call of each."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)

    def flush(self) -> None:
        pass


async def test_a_turns_lines_are_written_together_in_order() -> None:
    import asyncio

    from lingxi.logging import LineWriter

    stream = CountingStream()
    writer = LineWriter(stream)  # type: ignore[arg-type]
    handler = logging.StreamHandler(writer)  # type: ignore[arg-type]
    handler.setFormatter(logging.Formatter("%(message)s"))
    writer.msg("first")
    handler.emit(logging.LogRecord("lib", logging.INFO, __file__, 1, "from a library", None, None))
    for n in range(3):
        writer.msg(f"event {n}")
    assert stream.writes == [], "nothing is written before the turn ends"
    await asyncio.sleep(0)
    assert stream.writes == ["first\nfrom a library\nevent 0\nevent 1\nevent 2\n"]
    writer.msg("next turn")
    await asyncio.sleep(0)
    assert stream.writes[1:] == ["next turn\n"]


def test_without_a_loop_each_line_goes_out_at_once_and_a_long_turn_is_bounded() -> None:
    from lingxi.logging import LineWriter

    stream = CountingStream()
    writer = LineWriter(stream)  # type: ignore[arg-type]
    writer.msg("no loop")
    assert stream.writes == ["no loop\n"]

    async def long_turn() -> None:
        for n in range(LineWriter.MAX_PENDING + 5):
            writer.msg(str(n))
        assert len(stream.writes) == 2, "a full queue is written without waiting for the turn"

    import asyncio

    asyncio.run(long_turn())
    assert "".join(stream.writes).splitlines() == [
        "no loop",
        *(str(n) for n in range(LineWriter.MAX_PENDING + 5)),
    ]
