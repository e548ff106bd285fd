"""Personalisation end to end: gateway, personalization and compliance (which seeds the development
approvals) as separate processes on real Redis: consent, purchases in, recommendations out, withdrawal."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis
from lingxi.events.personalization import RecommendationsUpdated, user_preferences_key
from lingxi.events.user import user_digest
from lingxi.runtime.envelope import decode_entry
from lingxi.testing.processes import ServiceProcess, all_ready, eventually, metric
from lingxi.testing.tokens import device_headers
from lingxi_compliance.audit import DEFAULT_STREAM as AUDIT_STREAM
from lingxi_personalization.store import consent_key, profile_key

pytestmark = pytest.mark.e2e
REFRESH_DELAY_S = "0.5"
"""Lists follow purchases after this (the default, 10 s, would only slow the test down)."""
ALL_SCOPES = ["personalisation", "purchase_data", "payment_data"]
DEVICE = "dev-e2e-phone"
"""The handset each user is signed in on: its token acts for the user at the gateway."""


def signed_in(user: str, region: str = "CN") -> dict[str, str]:
    return device_headers(DEVICE, user_id=user, region=region)


@pytest.fixture(scope="module")
def system(module_services: Callable[..., ServiceProcess]) -> dict[str, ServiceProcess]:
    return all_ready(
        {
            "compliance": module_services("compliance", "compliance-1", wait=False),
            "gateway": module_services("gateway", "gateway-1", wait=False),
            "personalization": module_services(
                "personalization",
                "personalization-1",
                wait=False,
                LINGXI_PERSONALIZATION_REFRESH_DELAY_S=REFRESH_DELAY_S,
            ),
        }
    )


def coffee(n: int, **changes: Any) -> dict[str, Any]:
    bought = datetime.now(UTC) - timedelta(days=n)
    return {
        "purchase_id": f"alipay-{n}",
        "merchant": "瑞幸咖啡",
        "category": "coffee",
        "amount_minor": 1890,
        "channel": "alipay",
        "purchased_at": bought.isoformat().replace("+00:00", "Z"),
        "city": "上海",
        **changes,
    }


def updates_for(live_redis: redis.Redis, user_id: str) -> list[RecommendationsUpdated]:
    entries: list[tuple[bytes, dict[bytes, bytes]]] = live_redis.xrange(RecommendationsUpdated.stream)  # type: ignore[assignment]
    events = [RecommendationsUpdated.model_validate_json(decode_entry(fields)[0]) for _, fields in entries]
    return [e for e in events if e.user_id == user_id]


def audited(client: redis.Redis, action: str, user_id: str) -> list[dict[str, Any]]:
    """The audit trail's entries for ``action`` about the user (their subject is the user's digest);
    asserts that no entry names the user."""
    found = []
    for _, fields in client.xrange(AUDIT_STREAM):
        entry = json.loads(fields[b"entry"])
        assert user_id not in json.dumps(entry, ensure_ascii=False), entry
        if entry.get("action") == action and entry.get("subject") == f"user:{user_digest(user_id)}":
            found.append(entry)
    return found


def test_consent_gates_purchases_and_recommendations_follow_the_user(
    system: dict[str, ServiceProcess], live_redis: redis.Redis
) -> None:
    gateway = system["gateway"].base_url
    user = "u-e2e-coffee"
    recs = f"{gateway}/v1/users/{user}/recommendations"

    # Nobody known yet: the regional list, non-personalised.
    def regional() -> dict[str, Any] | None:
        answer = httpx.get(recs, headers=signed_in(user), timeout=5)
        return answer.json() if answer.status_code == 200 else None

    shown = eventually(regional)
    assert shown is not None, "personalization never published the regional list"
    assert shown["user_id"] is None
    assert shown["personalised"] is False
    assert 1 <= len(shown["items"]) <= 10
    assert all(not item["personalised"] for item in shown["items"])

    # A purchase before any consent is dropped unread: counted, nothing stored.
    sent = httpx.post(
        f"{gateway}/v1/users/{user}/purchases",
        json={"purchase": coffee(0)},
        headers=signed_in(user),
        timeout=5,
    )
    assert sent.status_code == 202, sent.text
    no_consent = 'outcome="no_consent"'
    assert eventually(
        lambda: metric(system["personalization"], "lingxi_personalization_purchases_total", no_consent)
    )
    assert not live_redis.exists(profile_key(user))
    # ... and audited, naming the user by digest only.
    dropped = eventually(lambda: audited(live_redis, "purchase.dropped_no_consent", user))
    assert dropped, "the dropped purchase never reached the audit trail"
    assert dropped[0]["detail"] == {"purchases": 1}
    assert dropped[0]["actor"] == "service:personalization"

    # Consent to everything, then purchases: the list becomes the user's own, with reasons.
    granted = httpx.put(
        f"{gateway}/v1/users/{user}/consent",
        json={"granted_scopes": ALL_SCOPES},
        headers=signed_in(user),
        timeout=5,
    )
    assert granted.status_code == 202, granted.text
    assert eventually(lambda: live_redis.exists(consent_key(user)))
    consented = eventually(lambda: audited(live_redis, "consent.changed", user))
    assert consented[0]["detail"] == {"granted": "payment_data,personalisation,purchase_data"}
    for n in range(1, 5):
        sent = httpx.post(
            f"{gateway}/v1/users/{user}/purchases",
            json={"purchase": coffee(n)},
            headers=signed_in(user),
            timeout=5,
        )
        assert sent.status_code == 202, sent.text

    def personalised() -> dict[str, Any] | None:
        answer = httpx.get(recs, headers=signed_in(user), timeout=5).json()
        return answer if answer.get("personalised") and answer.get("user_id") == user else None

    mine = eventually(personalised)
    assert mine is not None, "the list never became personal"
    top = mine["items"][0]
    assert top["personalised"] is True
    assert top["reason"] in ("frequent_category.coffee", "frequent_merchant")
    assert "coffee" in top["reason_en"] or "瑞幸咖啡" in top["reason_en"]
    assert top["reason_zh"]
    assert eventually(lambda: any(u.items and u.items[0].personalised for u in updates_for(live_redis, user)))

    # Withdrawing purchase and payment data deletes the profile; the list is non-personalised again.
    withdrawn = httpx.put(
        f"{gateway}/v1/users/{user}/consent",
        json={"granted_scopes": ["personalisation"]},
        headers=signed_in(user),
        timeout=5,
    )
    assert withdrawn.status_code == 202, withdrawn.text
    assert eventually(lambda: not live_redis.exists(profile_key(user)))
    after = eventually(
        lambda: (
            (a := httpx.get(recs, headers=signed_in(user), timeout=5).json()) and not a["personalised"] and a
        )
    )
    assert after, "recommendations stayed personal after the consent was withdrawn"
    assert all(not item["personalised"] for item in after["items"])
    # The announcement of the new list is the withdrawal's consequence, in the withdrawal's correlation.
    withdrawal_id = withdrawn.json()["event_id"]
    newest_first: list[tuple[bytes, dict[bytes, bytes]]] = live_redis.xrevrange(RecommendationsUpdated.stream)  # type: ignore[assignment]
    announced = [decode_entry(fields) for _, fields in newest_first]
    last_json, last_headers = next((j, h) for j, h in announced if json.loads(j)["user_id"] == user)
    last = RecommendationsUpdated.model_validate_json(last_json)
    assert not last.items[0].personalised
    assert str(last.causation_id) == withdrawal_id
    assert last_headers["correlation_id"] == withdrawal_id


def test_bad_requests_are_refused_with_the_reason(system: dict[str, ServiceProcess]) -> None:
    gateway = system["gateway"].base_url
    u1 = signed_in("u-1")
    negative = httpx.post(
        f"{gateway}/v1/users/u-1/purchases",
        json={"purchase": coffee(0, amount_minor=-5)},
        headers=u1,
        timeout=5,
    )
    assert negative.status_code == 422
    assert negative.json()["detail"][0]["loc"] == ["body", "purchase", "amount_minor"]
    owned = httpx.post(
        f"{gateway}/v1/users/u-1/purchases",
        json={"purchase": {**coffee(0), "event_id": "0b6f1d2e-8f0a-4d7c-9a51-3c7e2f1b9a10"}},
        headers=u1,
        timeout=5,
    )
    assert owned.status_code == 422
    assert owned.json()["detail"][0]["loc"] == ["body", "purchase", "event_id"]
    for currency in ("yuan", "XYZ"):
        unknown = httpx.post(
            f"{gateway}/v1/users/u-1/purchases",
            json={"purchase": coffee(0, currency=currency)},
            headers=u1,
            timeout=5,
        )
        assert unknown.status_code == 422, unknown.text
        assert unknown.json()["detail"][0]["loc"] == ["body", "purchase", "currency"]
    future = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    ahead = httpx.post(
        f"{gateway}/v1/users/u-1/purchases",
        json={"purchase": coffee(0, purchased_at=future)},
        headers=u1,
        timeout=5,
    )
    assert ahead.status_code == 422
    assert ahead.json()["detail"][0]["loc"] == ["body", "purchase", "purchased_at"]
    assert "future" in ahead.json()["detail"][0]["msg"]
    scope = httpx.put(
        f"{gateway}/v1/users/u-1/consent", json={"granted_scopes": ["everything"]}, headers=u1, timeout=5
    )
    assert scope.status_code == 422
    # A valid token (u-1's device): the path's user id is refused as malformed (422) before whose it is.
    bad_id = httpx.get(f"{gateway}/v1/users/bad%20id/recommendations", headers=u1, timeout=5)
    assert bad_id.status_code == 422
    # A device acts only in its own region: a handset in HK, where personalization is not approved.
    elsewhere = httpx.get(
        f"{gateway}/v1/users/u-1/recommendations",
        params={"region": "HK"},
        headers=signed_in("u-1", region="HK"),
        timeout=5,
    )
    assert elsewhere.status_code == 451


def test_the_usual_delivery_app_is_shared_only_while_consent_allows(
    system: dict[str, ServiceProcess], live_redis: redis.Redis
) -> None:
    gateway = system["gateway"].base_url
    user = "u-e2e-eleme"
    granted = httpx.put(
        f"{gateway}/v1/users/{user}/consent",
        json={"granted_scopes": ALL_SCOPES},
        headers=signed_in(user),
        timeout=5,
    )
    assert granted.status_code == 202, granted.text
    assert eventually(lambda: live_redis.exists(consent_key(user)))
    for n in range(3):
        order = coffee(
            n, purchase_id=f"eleme-{n}", category="food_delivery", merchant="沙县小吃", channel="eleme"
        )
        assert httpx.post(
            f"{gateway}/v1/users/{user}/purchases",
            json={"purchase": order},
            headers=signed_in(user),
            timeout=5,
        ).is_success
    stored = eventually(lambda: live_redis.get(user_preferences_key(user)))
    assert stored is not None, "the usual app was never shared"
    assert json.loads(stored) == {"apps": {"food_delivery": "eleme"}}
    off = httpx.put(
        f"{gateway}/v1/users/{user}/consent",
        json={"granted_scopes": ["purchase_data"]},
        headers=signed_in(user),
        timeout=5,
    )
    assert off.status_code == 202, off.text
    assert eventually(lambda: not live_redis.exists(user_preferences_key(user)))
    assert live_redis.exists(profile_key(user))  # purchase data is still granted: the profile stays
