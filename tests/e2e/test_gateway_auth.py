"""Who may call the gateway, end to end: every ``/v1`` route of its OpenAPI document refuses a request
without a token (401, ``WWW-Authenticate: Bearer``), refused tokens say how and never why a signature
failed, a device reaches only its own requests, health, alerts and user, administrators only what their
roles allow, and a gateway without keys does not start. Gateway and compliance as separate processes."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from lingxi.auth import Role, TokenIssuer, generate_key
from lingxi.devices import known_models
from lingxi.testing.processes import ServiceProcess, all_ready
from lingxi.testing.tokens import KEY_ID, admin_headers, bearer, device_headers, issuer
from lingxi_maintenance.cli import reading_json
from lingxi_maintenance.readings import sample_reading

pytestmark = pytest.mark.e2e

QUERY = {"text": "打开微信", "locale": "zh-CN", "device_id": "dev-a", "region": "CN"}
UNGUARDED = ("/healthz", "/readyz", "/metrics", "/openapi.json", "/asyncapi.json", "/docs")
SAMPLE_PATH_VALUES = {
    "device_id": "dev-a",
    "user_id": "u-a",
    "request_id": "8d0f1c2a-1b2c-4d3e-9f40-123456789abc",
}


@pytest.fixture(scope="module")
def system(module_services: Callable[..., ServiceProcess]) -> dict[str, ServiceProcess]:
    return all_ready(
        {
            "compliance": module_services("compliance", "compliance-1", wait=False),
            "gateway": module_services("gateway", "gateway-1", wait=False),
        }
    )


@pytest.fixture(scope="module")
def gateway(system: dict[str, ServiceProcess]) -> str:
    return system["gateway"].base_url


@pytest.fixture(scope="module")
def routes(gateway: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(METHOD, path with sample ids, operation) for every /v1 operation the gateway documents."""
    document = httpx.get(f"{gateway}/openapi.json", timeout=5).json()
    found = []
    for template, operations in document["paths"].items():
        if not template.startswith("/v1/"):
            continue
        path = re.sub(r"\{(\w+)\}", lambda m: SAMPLE_PATH_VALUES[m.group(1)], template)
        found += [(method.upper(), path, operation) for method, operation in operations.items()]
    return found


def test_every_v1_route_refuses_a_request_without_a_token(
    gateway: str, routes: list[tuple[str, str, dict[str, Any]]]
) -> None:
    assert len(routes) >= 14, [f"{method} {path}" for method, path, _ in routes]
    for method, path, _ in routes:
        answer = httpx.request(method, f"{gateway}{path}", json={}, timeout=5)
        assert answer.status_code == 401, (method, path, answer.text)
        assert answer.json()["code"] == "token_missing"
        assert "Authorization: Bearer" in answer.json()["detail"]
        assert answer.headers["www-authenticate"].startswith("Bearer ")
        basic = httpx.request(method, f"{gateway}{path}", auth=("u-a", "secret"), json={}, timeout=5)
        assert basic.status_code == 401, (method, path, "a password is no token")


def test_the_openapi_document_says_every_v1_route_takes_a_bearer_token(
    gateway: str, routes: list[tuple[str, str, dict[str, Any]]]
) -> None:
    document = httpx.get(f"{gateway}/openapi.json", timeout=5).json()
    assert document["components"]["securitySchemes"]["token"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["token"]["description"],
    }
    for method, path, operation in routes:
        assert operation.get("security") == [{"token": []}], (method, path)
        assert {"401", "403"} <= set(operation["responses"]), (method, path)


def test_probes_metrics_and_documents_need_no_token(gateway: str) -> None:
    for path in UNGUARDED:
        assert httpx.get(f"{gateway}{path}", timeout=5).status_code == 200, path


def test_a_refused_token_says_how_and_never_why_a_signature_failed(gateway: str) -> None:
    url = f"{gateway}/v1/devices/dev-a/alerts"
    stranger = TokenIssuer(generate_key(), "someone-else")
    forger = TokenIssuer(generate_key(), KEY_ID)  # the right key id, the wrong key
    long_ago = TokenIssuer(generate_key(), KEY_ID, clock=lambda: datetime.now(UTC) - timedelta(days=2))
    genuine = device_headers("dev-a")["Authorization"].removeprefix("Bearer ")
    header, payload, signature = genuine.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    cases = {
        "token_malformed": "not-a-token",
        "unknown_key": stranger.device("dev-a"),
        "token_invalid": forger.device("dev-a"),
    }
    for code, token in cases.items():
        answer = httpx.get(url, headers=bearer(token), timeout=5)
        assert (answer.status_code, answer.json()["code"]) == (401, code), answer.text
        assert 'error="invalid_token"' in answer.headers["www-authenticate"]
        assert "signature" not in answer.text.lower()
    tampered = httpx.get(url, headers=bearer(f"{header}.{payload}.{flipped}"), timeout=5)
    assert (tampered.status_code, tampered.json()["code"]) == (401, "token_invalid")
    # Expired, but signed by a key the gateway does not know: the key is what it says.
    assert (
        httpx.get(url, headers=bearer(long_ago.device("dev-a")), timeout=5).json()["code"] == "token_invalid"
    )


def test_an_expired_token_is_refused_as_expired(gateway: str) -> None:
    past = issuer(clock=lambda: datetime.now(UTC) - timedelta(hours=2))
    answer = httpx.get(
        f"{gateway}/v1/devices/dev-a/alerts",
        headers=bearer(past.device("dev-a", ttl=timedelta(hours=1))),
        timeout=5,
    )
    assert (answer.status_code, answer.json()["code"]) == (401, "token_expired")


def test_a_device_reads_only_its_own_requests(gateway: str) -> None:
    sent = httpx.post(
        f"{gateway}/v1/assistant/queries", json=QUERY, headers=device_headers("dev-a"), timeout=5
    )
    assert sent.status_code == 202, sent.text
    own = httpx.get(f"{gateway}{sent.headers['location']}", headers=device_headers("dev-a"), timeout=5)
    assert own.status_code == 200
    assert own.json()["request_id"] == sent.json()["request_id"]
    other = httpx.get(f"{gateway}{sent.headers['location']}", headers=device_headers("dev-b"), timeout=5)
    assert other.status_code == 404, "another device's request is as good as unknown"
    unknown = httpx.get(
        f"{gateway}/v1/requests/{SAMPLE_PATH_VALUES['request_id']}",
        headers=device_headers("dev-b"),
        timeout=5,
    )
    assert other.json()["detail"].replace(sent.json()["request_id"], "ID") == unknown.json()[
        "detail"
    ].replace(SAMPLE_PATH_VALUES["request_id"], "ID"), (
        "the refusal must not tell an existing request from an unknown one"
    )


def test_a_device_speaks_only_for_itself_its_user_and_its_region(gateway: str) -> None:
    def refusal(answer: httpx.Response) -> str:
        assert answer.status_code == 403, answer.text
        assert answer.json()["code"] == "forbidden"
        detail: str = answer.json()["detail"]
        return detail

    post = f"{gateway}/v1/assistant/queries"
    assert "not device dev-a" in refusal(
        httpx.post(post, json=QUERY, headers=device_headers("dev-b"), timeout=5)
    )
    assert "not region CN" in refusal(
        httpx.post(post, json=QUERY, headers=device_headers("dev-a", region="HK"), timeout=5)
    )
    as_other_user = {**QUERY, "user_id": "u-b"}
    assert "not user u-b" in refusal(
        httpx.post(post, json=as_other_user, headers=device_headers("dev-a", user_id="u-a"), timeout=5)
    )
    for path in ("/v1/devices/dev-a/health", "/v1/devices/dev-a/alerts"):
        assert "not device dev-a" in refusal(
            httpx.get(f"{gateway}{path}", headers=device_headers("dev-b"), timeout=5)
        )
    for method, path in [
        ("GET", "/v1/users/u-a/recommendations"),
        ("PUT", "/v1/users/u-a/consent"),
        ("POST", "/v1/users/u-a/purchases"),
        ("DELETE", "/v1/users/u-a"),
        ("GET", "/v1/users/u-a/erasure"),
    ]:
        body = {"PUT": {"granted_scopes": []}, "POST": {"purchase": {}}}.get(method)
        somebody_else = device_headers("dev-b", user_id="u-b")
        detail = refusal(
            httpx.request(method, f"{gateway}{path}", json=body, headers=somebody_else, timeout=5)
        )
        assert "not user u-a" in detail, (method, path)
        nobody = device_headers("dev-b")
        detail = refusal(httpx.request(method, f"{gateway}{path}", json=body, headers=nobody, timeout=5))
        assert "nobody is signed in" in detail, (method, path)
    model = next(iter(known_models().values()))
    measured = datetime.now(UTC) - timedelta(minutes=5)
    readings = [
        reading_json(
            sample_reading(
                measured, device, device_model=model.code, design_capacity_mah=model.design_capacity_mah
            )
        )
        for device in ("dev-a", "dev-b")
    ]
    telemetry = httpx.post(
        f"{gateway}/v1/telemetry", json={"readings": readings}, headers=device_headers("dev-a"), timeout=5
    )
    assert telemetry.status_code == 202, telemetry.text
    assert telemetry.json()["accepted"] == 1, "its own reading"
    [rejected] = telemetry.json()["rejected"]
    assert rejected["index"] == 1
    assert rejected["reason"] == "device_id: the token is for device dev-a, not this one"


def test_administrators_do_what_their_roles_allow(gateway: str) -> None:
    features = f"{gateway}/v1/admin/features"
    change = {"feature": "vision", "region": "HK", "status": "approved", "filing_number": "HK-1"}
    for role in Role:
        assert httpx.get(features, headers=admin_headers(role), timeout=5).status_code == 200, role
    refused = httpx.post(f"{features}/changes", json=change, headers=admin_headers(Role.AUDITOR), timeout=5)
    assert refused.status_code == 403
    assert "needs the role compliance_officer" in refused.json()["detail"]
    device = httpx.get(features, headers=device_headers("dev-a"), timeout=5)
    assert device.status_code == 403
    assert "takes an admin token" in device.json()["detail"]
    impostor = {**change, "requested_by": "admin:someone-else"}
    officer = admin_headers(Role.COMPLIANCE_OFFICER)
    assert httpx.post(f"{features}/changes", json=impostor, headers=officer, timeout=5).status_code == 403
    applied = httpx.post(f"{features}/changes", params={"wait": 5}, json=change, headers=officer, timeout=10)
    assert applied.status_code == 200, applied.text
    outcome = httpx.get(
        f"{gateway}{applied.json()['links']['self']}", headers=admin_headers(Role.AUDITOR), timeout=5
    )
    assert outcome.json()["outcome"] == "applied"
    operator = admin_headers(Role.OPERATOR)
    assert httpx.get(f"{gateway}/v1/devices/dev-a/alerts", headers=operator, timeout=5).status_code == 200
    auditor = admin_headers(Role.AUDITOR)
    assert httpx.get(f"{gateway}/v1/devices/dev-a/alerts", headers=auditor, timeout=5).status_code == 403
    assert (
        httpx.get(f"{gateway}/v1/users/u-a/recommendations", headers=admin_headers(), timeout=5).status_code
        == 403
    )
    assert httpx.get(f"{gateway}/v1/users/u-a/erasure", headers=officer, timeout=5).status_code == 404
    as_user = httpx.delete(
        f"{gateway}/v1/users/u-a", params={"requested_by": "user"}, headers=officer, timeout=5
    )
    assert as_user.status_code == 403, "an administrator never acts as the user"


def test_a_gateway_without_keys_refuses_to_start(redis_url: str, tmp_path: Path) -> None:
    keyless = ServiceProcess(
        "gateway", "gateway-keyless", redis_url, tmp_path / "keyless.log", extra_env={"LINGXI_AUTH_JWKS": ""}
    ).start()
    assert keyless.process is not None
    assert keyless.process.wait(timeout=60) != 0
    assert "LINGXI_AUTH_JWKS is not set" in keyless.log_tail()
