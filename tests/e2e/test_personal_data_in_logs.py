"""No personal data in any log line: mobile numbers, resident ID numbers, bank cards and emails (and
the user's words around them) go through every path of the assistant, with DEBUG logging on, and the
logs of every process, and the audit trail, are searched for them afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import redis
from lingxi.events import QueryReceived
from lingxi.testing.processes import ServiceProcess, all_ready
from lingxi.testing.tokens import device_headers

pytestmark = pytest.mark.e2e
LINGXI = Path(sys.executable).with_name("lingxi")

MOBILE = "13912345678"
RESIDENT_ID = "11010519491231002X"
CARD = "4111111111111111"
EMAIL = "zhang.wei.private@example.com"
SECRETS = (MOBILE, RESIDENT_ID, CARD, EMAIL, "139 1234 5678", "4111 1111 1111 1111")

QUERIES = [
    ("zh-CN", f"给{MOBILE}发短信说我的身份证号是{RESIDENT_ID}"),
    ("zh-CN", "打电话给 139 1234 5678"),
    ("en-US", f"text {EMAIL} that my card is 4111 1111 1111 1111"),
    ("en-US", f"what is the bank for card {CARD}"),  # an open question: the partner path
    ("zh-CN", f"提醒我明天把身份证{RESIDENT_ID}带上"),
]


@pytest.fixture(scope="module")
def system(module_services: Callable[..., ServiceProcess]) -> dict[str, ServiceProcess]:
    debug = {"LINGXI_LOG_LEVEL": "DEBUG"}
    return all_ready(
        {
            "compliance": module_services("compliance", "compliance-1", wait=False, **debug),
            "gateway": module_services("gateway", "gateway-1", wait=False, **debug),
            "assistant": module_services("assistant", "assistant-1", wait=False, **debug),
        }
    )


def test_personal_data_through_every_path_never_reaches_a_log_line(
    system: dict[str, ServiceProcess], redis_url: str, tmp_path: Path
) -> None:
    gateway = system["gateway"].base_url
    pii_device, other_device = device_headers("dev-pii"), device_headers("d")
    # Tokens are secrets too: none may be logged.
    tokens = {headers["Authorization"].removeprefix("Bearer ") for headers in (pii_device, other_device)}
    for locale, text in QUERIES:
        answer = httpx.post(
            f"{gateway}/v1/assistant/queries",
            params={"wait": 10},
            json={"text": text, "locale": locale, "device_id": "dev-pii", "region": "CN"},
            headers=pii_device,
            timeout=20,
        )
        assert answer.status_code == 200, answer.text
    # Refused at the door, with the personal data in the rejected body.
    refused = httpx.post(
        f"{gateway}/v1/assistant/queries",
        json={"text": f"call {MOBILE}", "locale": "xx-XX", "device_id": "d", "region": "CN"},
        headers=other_device,
        timeout=10,
    )
    assert refused.status_code == 422
    # An event that fails validation deep in the assistant: dead-lettered with its error logged.
    client = redis.Redis.from_url(redis_url)
    bad = {"text": f"call {MOBILE} {EMAIL}", "locale": "zh-CN"}
    client.xadd(QueryReceived.stream, {"__data__": json.dumps(bad)})
    # One more round trip, so the dead letter above has been handled and logged.
    assert (
        httpx.post(
            f"{gateway}/v1/assistant/queries",
            params={"wait": 10},
            json={"text": "打开微信", "locale": "zh-CN", "device_id": "dev-pii", "region": "CN"},
            headers=pii_device,
            timeout=20,
        ).json()["status"]
        == "released"
    )

    logs = {name: process.log_path.read_text(encoding="utf-8") for name, process in system.items()}
    assert all(logs.values())
    assert any('"level":"debug"' in text or '"level": "debug"' in text for text in logs.values())
    for name, text in logs.items():
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} in the {name} log"
        assert "身份证号是" not in text, f"the user's words in the {name} log"
        for token in tokens:
            assert token not in text, f"a bearer token in the {name} log"

    exported = tmp_path / "audit.jsonl"
    env = {**os.environ, "LINGXI_REDIS_URL": redis_url}
    done = subprocess.run(
        [str(LINGXI), "audit", "export", "-o", str(exported)],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    trail = exported.read_text(encoding="utf-8")
    assert trail.count('"answer.released"') >= len(QUERIES)
    for secret in SECRETS:
        assert secret not in trail, f"{secret!r} in the audit trail"
