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


def test_validation_errors_never_repeat_the_input() -> None:
    with pytest.raises(ValidationError) as caught:
        QueryReceived.model_validate_json(json.dumps({"text": TEXT, "region": "CN", "locale": "xx"}))
    assert TEXT not in str(caught.value)
