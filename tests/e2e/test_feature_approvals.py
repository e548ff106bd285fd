"""Feature approvals end to end: gateways refuse what is not approved with 451, an approval or a
suspension reaches every gateway replica within a second, every change is audited, and a released
answer carries its feature's filing number. Gateway, assistant and compliance as separate processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from lingxi.auth import Role
from lingxi.testing.processes import ServiceProcess, all_ready
from lingxi.testing.tokens import admin_headers, device_headers

pytestmark = pytest.mark.e2e
LINGXI = Path(sys.executable).with_name("lingxi")
QUERY = {"text": "打开微信", "locale": "zh-CN", "device_id": "dev-approvals"}


@pytest.fixture(scope="module")
def system(module_services: Callable[..., ServiceProcess]) -> dict[str, ServiceProcess]:
    # The development approvals (CN only) are seeded by compliance, as `lingxi up` does; HK starts empty.
    return all_ready(
        {
            "compliance": module_services("compliance", "compliance-1", wait=False),
            "gateway-1": module_services("gateway", "gateway-1", wait=False),
            "gateway-2": module_services("gateway", "gateway-2", wait=False),
            "assistant": module_services("assistant", "assistant-1", wait=False),
        }
    )


def ask(gateway: ServiceProcess, region: str, wait: float = 0) -> httpx.Response:
    return httpx.post(
        f"{gateway.base_url}/v1/assistant/queries",
        params={"wait": wait},
        json={**QUERY, "region": region},
        headers=device_headers(QUERY["device_id"], region=region),
        timeout=20,
    )


def lingxi(redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LINGXI_REDIS_URL": redis_url}
    return subprocess.run(
        [str(LINGXI), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def seconds_until(condition: Callable[[], bool], limit_s: float) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > limit_s:
            raise AssertionError(f"not within {limit_s} s")
        time.sleep(0.02)
    return time.monotonic() - started


def test_an_approved_feature_runs_and_its_answer_carries_the_filing_number(
    system: dict[str, ServiceProcess],
) -> None:
    answer = ask(system["gateway-1"], "CN", wait=10)
    assert answer.status_code == 200, answer.text
    result = answer.json()["result"]
    assert result["filing_number"] == "DEV-ASSISTANT-0001"
    assert result["model_name"]


def test_approval_and_suspension_reach_every_gateway_within_a_second(
    system: dict[str, ServiceProcess], redis_url: str
) -> None:
    gateways = [system["gateway-1"], system["gateway-2"]]
    for gateway in gateways:
        refused = ask(gateway, "HK")
        assert refused.status_code == 451, refused.text
        assert refused.json() == {
            "detail": "assistant is not approved in region HK (status: not_filed)",
            "feature": "assistant",
            "region": "HK",
            "status": "not_filed",
        }

    approved = httpx.post(
        f"{system['gateway-1'].base_url}/v1/admin/features/changes",
        params={"wait": 10},
        json={
            "feature": "assistant",
            "region": "HK",
            "status": "approved",
            "filing_number": "HK-LINGXI-0001",
            "requested_by": "admin:test-admin",
            "note": "filing approved",
        },
        headers=admin_headers(Role.COMPLIANCE_OFFICER),
        timeout=20,
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["outcome"] == "applied"
    seconds_until(lambda: all(ask(g, "HK").status_code == 202 for g in gateways), limit_s=1.0)
    released = ask(system["gateway-2"], "HK", wait=10).json()
    assert released["status"] == "released"
    assert released["result"]["filing_number"] == "HK-LINGXI-0001"

    suspended = lingxi(redis_url, "features", "suspend", "assistant", "--region", "HK", "--note", "audit")
    assert suspended.returncode == 0, suspended.stderr
    assert "applied: assistant in HK is suspended now" in suspended.stdout
    seconds_until(lambda: all(ask(g, "HK").status_code == 451 for g in gateways), limit_s=1.0)
    assert ask(system["gateway-1"], "HK").json()["status"] == "suspended"
    assert ask(system["gateway-1"], "CN").status_code == 202, "other regions are untouched"


def test_a_change_the_lifecycle_forbids_is_rejected_with_the_reason(
    system: dict[str, ServiceProcess], redis_url: str
) -> None:
    refused = lingxi(redis_url, "features", "suspend", "vision", "--region", "SG")
    assert refused.returncode == 1
    assert (
        "rejected: vision in SG is not filed; it can become approved, filed, not suspended" in refused.stderr
    )
    no_number = httpx.post(
        f"{system['gateway-2'].base_url}/v1/admin/features/changes",
        params={"wait": 10},
        json={"feature": "vision", "region": "SG", "status": "approved", "requested_by": "admin:test-admin"},
        headers=admin_headers(Role.COMPLIANCE_OFFICER),
        timeout=20,
    )
    assert no_number.status_code == 409
    assert "filing number" in no_number.json()["reason"]
    bad = httpx.post(
        f"{system['gateway-2'].base_url}/v1/admin/features/changes",
        json={"feature": "Vision!", "region": "SG", "status": "approved", "requested_by": "admin:test-admin"},
        headers=admin_headers(Role.COMPLIANCE_OFFICER),
        timeout=20,
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "feature"]


def test_the_registry_lists_what_happened_and_every_change_is_in_the_audit_trail(
    system: dict[str, ServiceProcess], redis_url: str
) -> None:
    listed = lingxi(redis_url, "features", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    import json

    rows = {(r["feature"], r["region"]): r for r in json.loads(listed.stdout)}
    assert rows[("assistant", "CN")]["status"] == "approved"
    assert rows[("assistant", "HK")]["status"] == "suspended"
    assert rows[("assistant", "HK")]["filing_number"] == "HK-LINGXI-0001"
    over_http = httpx.get(
        f"{system['gateway-1'].base_url}/v1/admin/features", params={"region": "HK"}, headers=admin_headers()
    ).json()
    assert [(r["feature"], r["status"]) for r in over_http] == [("assistant", "suspended")]

    verified = lingxi(redis_url, "audit", "verify")
    assert verified.returncode == 0, verified.stderr
    exported = Path(system["compliance"].log_path).with_name("audit.jsonl")
    assert lingxi(redis_url, "audit", "export", "-o", str(exported)).returncode == 0
    entries = [json.loads(line) for line in exported.read_text().splitlines()]
    changes = [
        (e["action"], e["feature"], e["region"], e.get("requested_status"))
        for e in entries
        if e["action"].startswith("feature.")
    ]
    assert ("feature.changed", "assistant", "CN", "approved") in changes  # the seed, audited too
    assert ("feature.changed", "assistant", "HK", "approved") in changes
    assert ("feature.changed", "assistant", "HK", "suspended") in changes
    assert ("feature.change_rejected", "vision", "SG", "suspended") in changes
    answers = [e for e in entries if e["action"] == "answer.released" and e["region"] == "HK"]
    assert answers, "every released answer is audited"
    assert {e["filing_number"] for e in answers} == {"HK-LINGXI-0001"}
    assert all(e["explicit_label"] == "本内容由人工智能生成" and e["model_name"] for e in answers)
