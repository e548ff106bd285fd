"""The assistant opens the user's usual delivery app: compliance, gateway, assistant and personalization
as separate processes on real Redis. A user whose consent lets personalization share their habits gets
the app they order through; a user whose consent does not gets the default one (Meituan)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis
from lingxi.events.personalization import user_preferences_key
from lingxi.testing.processes import ServiceProcess, all_ready, eventually
from lingxi.testing.tokens import device_headers
from lingxi_personalization.store import consent_key, profile_key

pytestmark = pytest.mark.e2e
REFRESH_DELAY_S = "0.5"
"""Lists follow purchases after this (the default, 10 s, would only slow the test down)."""
ELEME, MEITUAN = "me.ele", "com.sankuai.meituan"
DEVICE = "dev-e2e"
"""The handset each user is signed in on: its token carries the user to the gateway."""


@pytest.fixture(scope="module")
def system(module_services: Callable[..., ServiceProcess]) -> dict[str, ServiceProcess]:
    return all_ready(
        {
            "compliance": module_services("compliance", "compliance-1", wait=False),
            "gateway": module_services("gateway", "gateway-1", wait=False),
            "assistant": module_services("assistant", "assistant-1", wait=False),
            "personalization": module_services(
                "personalization",
                "personalization-1",
                wait=False,
                LINGXI_PERSONALIZATION_REFRESH_DELAY_S=REFRESH_DELAY_S,
            ),
        }
    )


def orders_from_eleme(gateway: str, user: str, scopes: list[str]) -> None:
    """The user's consent, then three food deliveries paid through Ele.me in the last days."""
    signed_in = device_headers(DEVICE, user_id=user)
    granted = httpx.put(
        f"{gateway}/v1/users/{user}/consent", json={"granted_scopes": scopes}, headers=signed_in, timeout=5
    )
    assert granted.status_code == 202, granted.text
    for n in range(3):
        bought = datetime.now(UTC) - timedelta(days=n)
        purchase = {
            "purchase_id": f"{user}-eleme-{n}",
            "merchant": "沙县小吃",
            "category": "food_delivery",
            "amount_minor": 2500,
            "channel": "eleme",
            "purchased_at": bought.isoformat().replace("+00:00", "Z"),
            "city": "上海",
        }
        sent = httpx.post(
            f"{gateway}/v1/users/{user}/purchases", json={"purchase": purchase}, headers=signed_in, timeout=5
        )
        assert sent.status_code == 202, sent.text


def ask(gateway: str, user: str, text: str, locale: str) -> dict[str, Any]:
    answer = httpx.post(
        f"{gateway}/v1/assistant/queries",
        params={"wait": 10},
        json={"text": text, "locale": locale, "device_id": DEVICE, "user_id": user, "region": "CN"},
        headers=device_headers(DEVICE, user_id=user),
        timeout=20,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "released", body
    result: dict[str, Any] = body["result"]
    assert result["intent"] == "order_food"
    assert result["slots"] == {}, "the app opened is never a slot the user did not say"
    return result


def test_order_food_opens_the_usual_app_only_when_consent_allows(
    system: dict[str, ServiceProcess], live_redis: redis.Redis
) -> None:
    gateway = system["gateway"].base_url

    # A: everything granted: personalization shares Ele.me as the usual delivery app.
    orders_from_eleme(gateway, "u-e2e-a", ["personalisation", "purchase_data", "payment_data"])
    assert eventually(lambda: live_redis.exists(user_preferences_key("u-e2e-a"))), (
        "the usual app was never shared"
    )
    a = ask(gateway, "u-e2e-a", "点外卖", "zh-CN")
    assert a["action"]["name"] == "food.order"
    assert a["action"]["params"] == {"package": ELEME, "app_choice": "usual"}
    assert a["reply_text"].startswith("好的，正在打开饿了么点外卖")

    # B: the same orders, but purchase data alone may not shape what they are offered: nothing shared.
    orders_from_eleme(gateway, "u-e2e-b", ["purchase_data"])
    assert eventually(
        lambda: live_redis.exists(consent_key("u-e2e-b")) and live_redis.exists(profile_key("u-e2e-b"))
    )
    assert not live_redis.exists(user_preferences_key("u-e2e-b"))
    b = ask(gateway, "u-e2e-b", "order food", "en-US")
    assert b["action"]["params"] == {"package": MEITUAN, "app_choice": "default"}
    assert b["reply_text"].startswith("OK, opening Meituan to order food.")

    # A withdraws personalisation: the share is deleted and the default app is opened again.
    withdrawn = httpx.put(
        f"{gateway}/v1/users/u-e2e-a/consent",
        json={"granted_scopes": ["purchase_data"]},
        headers=device_headers(DEVICE, user_id="u-e2e-a"),
        timeout=5,
    )
    assert withdrawn.status_code == 202, withdrawn.text
    assert eventually(lambda: not live_redis.exists(user_preferences_key("u-e2e-a")))
    again = ask(gateway, "u-e2e-a", "点外卖", "zh-CN")
    assert again["action"]["params"] == {"package": MEITUAN, "app_choice": "default"}
