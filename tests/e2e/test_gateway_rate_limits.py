"""Rate limits end to end: two gateway replicas share each device's and each user's allowance through
Redis, and a request over it gets 429 with a Retry-After that says when to come back."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from lingxi.testing.processes import ServiceProcess, all_ready
from lingxi.testing.tokens import device_headers

pytestmark = pytest.mark.e2e
LIMITS = {"LINGXI_GATEWAY_RATE_DEVICE": "5/minute", "LINGXI_GATEWAY_RATE_USER": "8/minute"}


@pytest.fixture(scope="module")
def gateways(module_services: Callable[..., ServiceProcess]) -> list[str]:
    replicas = all_ready(
        {name: module_services("gateway", name, wait=False, **LIMITS) for name in ("gateway-1", "gateway-2")}
    )
    return [replica.base_url for replica in replicas.values()]


def alerts(gateway: str, device: str, user: str | None = None) -> httpx.Response:
    return httpx.get(
        f"{gateway}/v1/devices/{device}/alerts", headers=device_headers(device, user_id=user), timeout=5
    )


def test_replicas_share_a_devices_allowance_and_say_when_to_retry(gateways: list[str]) -> None:
    answers = [alerts(gateways[n % 2], "dev-busy").status_code for n in range(5)]
    assert answers == [200] * 5
    for gateway in gateways:
        refused = alerts(gateway, "dev-busy")
        assert refused.status_code == 429, refused.text
        assert refused.json()["code"] == "rate_limited"
        assert "device dev-busy is over its rate limit of 5 per 1 minute" in refused.json()["detail"]
        assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert alerts(gateways[0], "dev-calm").status_code == 200, "other devices are not held back"


def test_a_user_has_one_allowance_across_their_devices(gateways: list[str]) -> None:
    phone = [alerts(gateways[0], "dev-phone", "u-busy").status_code for _ in range(5)]
    tablet = [alerts(gateways[1], "dev-tablet", "u-busy").status_code for _ in range(4)]
    assert phone == [200] * 5
    assert tablet == [200, 200, 200, 429], "the user's 8 a minute are spent across both devices"
    refused = alerts(gateways[1], "dev-tablet", "u-busy")
    assert "user u-busy is over its rate limit of 8 per 1 minute" in refused.json()["detail"]


def test_requests_without_a_valid_token_spend_nobodys_allowance(gateways: list[str]) -> None:
    for _ in range(10):
        forged = httpx.get(
            f"{gateways[0]}/v1/devices/dev-victim/alerts",
            headers={"Authorization": "Bearer x.y.z"},
            timeout=5,
        )
        assert forged.status_code == 401
    assert alerts(gateways[0], "dev-victim").status_code == 200
