"""The gateway's OpenAPI document, fuzzed (schemathesis): generated requests, valid and invalid, to every
operation of a running gateway never get a 5xx, and every answer has a documented status code, content
type and shape. Each request carries the token that lets it go furthest (the device or user its body or
path names, an administrator for the admin API), so the fuzzing reaches the handlers, not only the
guard. Gateway, compliance and personalization as separate processes; bounded by a fixed number of
examples."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from lingxi.auth import Role
from lingxi.testing.processes import ServiceProcess, all_ready
from lingxi.testing.tokens import admin_headers, device_headers
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.e2e

_IDENTIFIER = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_REGIONS = {"CN", "HK", "MO", "TW", "SG", "US", "EU", "JP"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def gateway(module_services: Callable[..., ServiceProcess]) -> str:
    started = all_ready(
        {
            "compliance": module_services("compliance", "compliance-1", wait=False),
            # Publishes the regional recommendations a user without a list of their own is shown.
            "personalization": module_services("personalization", "personalization-1", wait=False),
            # Limits high enough for the fuzzing's own pace: the limiter still counts every request.
            "gateway": module_services(
                "gateway", "gateway-1", wait=False, LINGXI_GATEWAY_RATE_DEVICE="100000/minute"
            ),
        }
    )
    return started["gateway"].base_url


def _document() -> dict[str, Any]:
    from lingxi_gateway.app import app  # the same code the gateway process serves

    document: dict[str, Any] = app.openapi()
    return document


schema = schemathesis.openapi.from_dict(_document())


def test_the_fuzzed_document_is_the_one_the_gateway_serves(gateway: str) -> None:
    assert httpx.get(f"{gateway}/openapi.json", timeout=10).json() == _document()


def _identifier(value: Any) -> str | None:
    return value if isinstance(value, str) and _IDENTIFIER.fullmatch(value) else None


def headers_for(case: schemathesis.Case) -> dict[str, str]:
    """The token that takes ``case`` furthest: the device (and user, region) its body or path names;
    an administrator with every role on the admin API and for telemetry."""
    path = case.operation.path
    if path.startswith("/v1/admin") or path == "/v1/telemetry":
        return admin_headers(*Role)
    body = case.body if isinstance(case.body, dict) else {}
    parameters = {**(case.path_parameters or {}), **(case.query or {}), **body}
    region = parameters.get("region")
    return device_headers(
        _identifier(parameters.get("device_id")) or "dev-fuzz",
        user_id=_identifier(parameters.get("user_id")),
        region=region if isinstance(region, str) and region in _REGIONS else "CN",
    )


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_request_gets_a_5xx_or_an_undocumented_answer(
    case: schemathesis.Case, gateway: str, request: pytest.FixtureRequest
) -> None:
    if case.query and "wait" in case.query:
        case.query["wait"] = 0  # nothing answers queries here: a wait would only pass time
    case.call_and_validate(base_url=gateway, headers=headers_for(case), checks=CHECKS, timeout=15)
