"""Hostile HTTP at a running gateway: oversized and deeply nested bodies are refused early, identifiers
that try to leave their place (path traversal, NUL, newlines) are refused as invalid, header and log
injection forge nothing, and no token reaches a log line (Redis passwords: test_redis_acl.py). After
all of it the gateway still answers a valid request."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
import pytest
from lingxi.auth import Role
from lingxi.testing.processes import ServiceProcess, all_ready
from lingxi.testing.tokens import admin_headers, device_headers

pytestmark = pytest.mark.e2e

FORGED = '{"level":"critical","event":"forged line"}'
REFUSED = (400, 413, 422)


@pytest.fixture(scope="module")
def gateway(module_services: Callable[..., ServiceProcess]) -> ServiceProcess:
    replicas = all_ready({"gateway": module_services("gateway", "gateway-1", wait=False)})
    return replicas["gateway"]


def post(gateway: ServiceProcess, path: str, content: bytes, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{gateway.base_url}{path}",
        content=content,
        headers={"content-type": "application/json", **device_headers("dev-h"), **headers},
        timeout=20,
    )


def test_a_body_over_the_limit_is_refused_before_it_is_read(gateway: ServiceProcess) -> None:
    huge = b'{"text": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    declared = post(gateway, "/v1/assistant/queries", huge)
    assert declared.status_code == 413

    def chunks() -> object:
        for _ in range(200):
            yield b"x" * 16384

    chunked = httpx.post(
        f"{gateway.base_url}/v1/assistant/queries",
        content=chunks(),  # type: ignore[arg-type]
        headers={"content-type": "application/json", **device_headers("dev-h")},
        timeout=20,
    )
    assert chunked.status_code == 413


@pytest.mark.parametrize("depth", [1_000, 50_000])
def test_deeply_nested_json_is_refused_not_a_crash(gateway: ServiceProcess, depth: int) -> None:
    """Too deep to parse is 400 (the body cannot be read), deep but parsed is 422 (not the schema), and
    past the size limit 413 before any parsing."""
    nested = (
        b'{"text": '
        + b"[" * depth
        + b"]" * depth
        + b', "locale": "zh-CN", "device_id": "dev-h", "region": "CN"}'
    )
    answer = post(gateway, "/v1/assistant/queries", nested)
    assert answer.status_code in REFUSED, answer.text[:200]
    for method, path in (("POST", "/v1/telemetry"), ("PUT", "/v1/users/u-h/consent")):
        deep = b'{"readings": [' + b"[" * depth + b"]" * depth + b"]}"
        headers = {
            "content-type": "application/json",
            **admin_headers(Role.OPERATOR, Role.COMPLIANCE_OFFICER),
        }
        refused = httpx.request(
            method, f"{gateway.base_url}{path}", content=deep, headers=headers, timeout=20
        )
        assert refused.status_code in REFUSED, (path, refused.text[:200])
    assert httpx.get(f"{gateway.base_url}/healthz", timeout=5).status_code == 200


@pytest.mark.parametrize(
    "identifier",
    [
        "..",
        "../..",
        "..%2F..%2Fetc%2Fpasswd",
        "%2e%2e%2f%2e%2e%2f",
        "..%5C..%5Cwindows",
        "dev%00h",
        "dev%0Ah",
        "ｄｅｖ",
    ],
)
def test_identifiers_that_try_to_leave_their_place_are_refused(
    gateway: ServiceProcess, identifier: str
) -> None:
    operator = admin_headers(Role.OPERATOR)
    for path in (f"/v1/devices/{identifier}/health", f"/v1/devices/{identifier}/alerts"):
        answer = httpx.get(f"{gateway.base_url}{path}", headers=operator, timeout=5)
        assert answer.status_code in (404, 422), (path, answer.status_code, answer.text)
        assert answer.status_code != 404 or "detail" in answer.json()
    user = httpx.get(
        f"{gateway.base_url}/v1/users/{identifier}/erasure",
        headers=admin_headers(Role.COMPLIANCE_OFFICER),
        timeout=5,
    )
    assert user.status_code in (404, 422), (identifier, user.status_code)
    request = httpx.get(
        f"{gateway.base_url}/v1/requests/{identifier}", headers=device_headers("dev-h"), timeout=5
    )
    assert request.status_code in (404, 422)
    body = {"text": "hi", "locale": "en-US", "device_id": identifier, "region": "CN"}
    assert post(gateway, "/v1/assistant/queries", json.dumps(body).encode()).status_code in (403, 422)


def raw_request(gateway: ServiceProcess, head: bytes) -> bytes:
    """Send bytes as they are (an HTTP client would refuse to): the answer's status line."""
    address = urlsplit(gateway.base_url)
    with socket.create_connection(
        (address.hostname or "127.0.0.1", address.port or 80), timeout=5
    ) as connection:
        connection.sendall(head)
        return connection.recv(4096).split(b"\r\n", 1)[0]


def test_header_and_request_line_injection_forge_nothing(gateway: ServiceProcess) -> None:
    token = device_headers("dev-h")["Authorization"]
    split_header = (
        b"GET /v1/devices/dev-h/alerts HTTP/1.1\r\nHost: x\r\nAuthorization: "
        + token.encode()
        + b"\r\nX-Injected: a\nX-Request-Id: forged\r\n\r\n"
    )
    status = raw_request(gateway, split_header)
    assert status.startswith(b"HTTP/1.1 400") or status.startswith(b"HTTP/1.1 200"), status
    newline_in_path = b"GET /v1/devices/dev-h\n" + FORGED.encode() + b"/alerts HTTP/1.1\r\nHost: x\r\n\r\n"
    assert raw_request(gateway, newline_in_path).startswith(b"HTTP/1.1 400")
    escaped = f"/v1/devices/dev-h%0A{FORGED}/alerts"
    answer = httpx.get(f"{gateway.base_url}{escaped}", headers=device_headers("dev-h"), timeout=5)
    assert answer.status_code in (403, 404, 422)
    agent = httpx.get(
        f"{gateway.base_url}/v1/devices/dev-h/alerts",
        headers={
            **device_headers("dev-h"),
            "User-Agent": f"x\u2028{FORGED}".encode(),
            "X-Request-Id": FORGED,
        },
        timeout=5,
    )
    assert agent.status_code == 200
    assert agent.headers.get("x-request-id") != FORGED, "the gateway names requests, a caller does not"


def test_no_log_line_is_forged_and_no_secret_is_logged(gateway: ServiceProcess) -> None:
    valid = {"text": "打开微信", "locale": "zh-CN", "device_id": "dev-h", "region": "CN"}
    assert post(gateway, "/v1/assistant/queries", json.dumps(valid).encode()).status_code in (202, 451)
    token = device_headers("dev-h")["Authorization"].removeprefix("Bearer ")
    lines = gateway.log_path.read_bytes().split(b"\n")
    for raw in filter(None, lines):
        line = json.loads(raw)  # every line is one JSON object: nothing spliced a line in
        assert isinstance(line, dict)
        assert line.get("event") != "forged line"
        assert line.get("level") != "critical"
    text = gateway.log_path.read_text()
    assert token not in text
    assert token.split(".")[2] not in text, "not even the signature"
