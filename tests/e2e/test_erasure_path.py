"""Erasure end to end: compliance, gateway, assistant and personalization as separate processes on real
Redis. A user with consent, purchases, recommendations and an assistant query asks to be erased; every
service that holds user data confirms, and afterwards no key, value, hash field or stream entry in
Redis names the user."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis
from lingxi.events.user import ERASURE_SERVICES, user_digest
from lingxi.testing.processes import ServiceProcess, all_ready, eventually
from lingxi.testing.tokens import device_headers
from lingxi_compliance.audit import DEFAULT_STREAM as AUDIT_STREAM
from lingxi_personalization.store import consent_key, profile_key

pytestmark = pytest.mark.e2e
REFRESH_DELAY_S = "0.5"
"""Lists follow purchases after this (the default, 10 s, would only slow the test down)."""
USER = "u-e2e-forget-me"
OTHER = "u-e2e-keep-me"
DEVICE = "dev-erasure"
"""The handset each user is signed in on (in turn): its token acts for the user at the gateway."""


def signed_in(user: str) -> dict[str, str]:
    return device_headers(DEVICE, user_id=user)


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


def purchase(n: int) -> dict[str, Any]:
    bought = datetime.now(UTC) - timedelta(days=n)
    return {
        "purchase_id": f"order-{n}",
        "merchant": "沙县小吃",
        "category": "food_delivery",
        "amount_minor": 2500,
        "channel": "eleme",
        "purchased_at": bought.isoformat().replace("+00:00", "Z"),
        "city": "上海",
    }


def mentions(live_redis: redis.Redis, needle: str) -> list[str]:
    """Every place in Redis that holds ``needle``: key names, string values, hash fields and values,
    list, set and sorted-set members, stream entries."""
    found: list[str] = []
    target = needle.encode()
    for key in live_redis.scan_iter(count=1000):
        name = key.decode(errors="replace")
        if target in key:
            found.append(f"key {name}")
            continue
        kind = live_redis.type(key).decode()
        values: list[bytes] = []
        if kind == "string":
            values = [live_redis.get(key) or b""]
        elif kind == "hash":
            values = [b for pair in live_redis.hgetall(key).items() for b in pair]
        elif kind == "list":
            values = live_redis.lrange(key, 0, -1)
        elif kind == "set":
            values = list(live_redis.smembers(key))
        elif kind == "zset":
            values = live_redis.zrange(key, 0, -1)
        elif kind == "stream":
            values = [b for _, fields in live_redis.xrange(key) for pair in fields.items() for b in pair]
        if any(target in value for value in values):
            found.append(f"{kind} {name}")
    return found


def test_an_erased_user_leaves_nothing_behind_and_every_service_confirms(
    system: dict[str, ServiceProcess], live_redis: redis.Redis
) -> None:
    gateway = system["gateway"].base_url
    requests: dict[str, str] = {}
    for user in (USER, OTHER):
        consent = {"granted_scopes": ["personalisation", "purchase_data", "payment_data"]}
        granted = httpx.put(
            f"{gateway}/v1/users/{user}/consent", json=consent, headers=signed_in(user), timeout=5
        )
        assert granted.status_code == 202, granted.text
        assert eventually(lambda user=user: live_redis.exists(consent_key(user)))
        for n in range(3):
            sent = httpx.post(
                f"{gateway}/v1/users/{user}/purchases",
                json={"purchase": purchase(n)},
                headers=signed_in(user),
                timeout=5,
            )
            assert sent.status_code == 202, sent.text
        query = {
            "device_id": DEVICE,
            "user_id": user,
            "text": "点外卖",
            "locale": "zh-CN",
            "region": "CN",
        }
        asked = httpx.post(
            f"{gateway}/v1/assistant/queries?wait=10", json=query, headers=signed_in(user), timeout=20
        )
        assert asked.status_code in (200, 202), asked.text
        requests[user] = asked.json()["request_id"]
    assert eventually(lambda: live_redis.exists(profile_key(USER)) and live_redis.exists(profile_key(OTHER)))
    other_recs = f"{gateway}/v1/users/{OTHER}/recommendations"
    assert eventually(
        lambda: httpx.get(other_recs, headers=signed_in(OTHER), timeout=5).json()["personalised"]
    )
    assert mentions(live_redis, USER), "the user left no trace to erase: the test would prove nothing"

    erasure = f"{gateway}/v1/users/{USER}/erasure"
    assert httpx.get(erasure, headers=signed_in(USER), timeout=5).status_code == 404
    # Asked by the user from their device (requested_by defaults to user for a device's token).
    erased = httpx.delete(f"{gateway}/v1/users/{USER}", headers=signed_in(USER), timeout=5)
    assert erased.status_code == 202, erased.text

    def complete() -> dict[str, Any] | None:
        status = httpx.get(erasure, headers=signed_in(USER), timeout=5).json()
        return status if status.get("complete") else None

    status = eventually(complete)
    assert status is not None, httpx.get(erasure, headers=signed_in(USER), timeout=5).text
    assert set(status["services"]) == set(ERASURE_SERVICES)
    assert all(s["status"] == "completed" for s in status["services"].values())
    assert status["services"]["personalization"]["erased_keys"] >= 3
    assert eventually(lambda: not mentions(live_redis, USER)), mentions(live_redis, USER)
    # The trail keeps that it happened, naming the user by digest only (mentions() found no name).
    erased_entries = [
        json.loads(fields[b"entry"])
        for _, fields in live_redis.xrange(AUDIT_STREAM)
        if json.loads(fields[b"entry"]).get("action") == "user.erased"
    ]
    assert [e["subject"] for e in erased_entries] == [f"user:{user_digest(USER)}"]
    # The results of the user's requests are gone too (they hold what was answered, if not the id).
    # Asked by the device that submitted them: another device's request is always 404, proving nothing.
    mine = f"{gateway}/v1/requests/{requests[USER]}"
    assert httpx.get(mine, headers=signed_in(USER), timeout=5).status_code == 404
    # The other user is untouched.
    theirs = f"{gateway}/v1/requests/{requests[OTHER]}"
    assert httpx.get(theirs, headers=signed_in(OTHER), timeout=5).status_code == 200
    assert live_redis.exists(profile_key(OTHER))
    assert httpx.get(other_recs, headers=signed_in(OTHER), timeout=5).json()["personalised"]
    # A late consent change from before the erasure cannot bring the user back.
    assert not live_redis.exists(consent_key(USER))
