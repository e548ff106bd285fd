"""The usual app shared with the assistant: only under personalisation and purchase-data consent."""

from __future__ import annotations

from lingxi.events.personalization import ConsentScope
from lingxi_personalization.catalogue import load_catalogue
from lingxi_personalization.preferences import usual_apps
from lingxi_personalization.profile import Consent, Profile, Purchase, fold

ALL = Consent(frozenset(ConsentScope), 0)


def delivery_user(channel: str, merchant: str = "沙县小吃", times: int = 5) -> Profile:
    profile = Profile()
    for n in range(times):
        fold(profile, ALL, Purchase(f"o-{channel}-{n}", n, "food_delivery", merchant, channel, None))
    return profile


def test_the_app_a_user_pays_through_for_delivery_is_their_usual_one() -> None:
    profile = delivery_user("eleme")
    fold(profile, ALL, Purchase("o-m", 10, "food_delivery", "沙县小吃", "meituan", None))
    assert usual_apps(profile, ALL, load_catalogue()) == {"food_delivery": "eleme"}


def test_the_app_named_as_merchant_counts_without_payment_data() -> None:
    consent = Consent(frozenset({ConsentScope.PERSONALISATION, ConsentScope.PURCHASE_DATA}), 0)
    profile = Profile()
    for n in range(3):
        fold(profile, consent, Purchase(f"o-{n}", n, "food_delivery", "美团外卖", "meituan", None))
    assert profile.channels == {}
    assert usual_apps(profile, consent, load_catalogue()) == {"food_delivery": "meituan"}


def test_nothing_is_shared_without_both_consents_or_without_a_habit() -> None:
    profile = delivery_user("eleme")
    catalogue = load_catalogue()
    for scopes in (ALL.scopes - {ConsentScope.PERSONALISATION}, ALL.scopes - {ConsentScope.PURCHASE_DATA}):
        assert usual_apps(profile, Consent(scopes, 0), catalogue) == {}
    assert usual_apps(delivery_user("alipay"), ALL, catalogue) == {}
    assert usual_apps(Profile(), ALL, catalogue) == {}
