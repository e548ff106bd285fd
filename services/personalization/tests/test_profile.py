"""Consent gates every use of a purchase; preferences fade; withdrawal deletes what a scope gave."""

from __future__ import annotations

import math

import pytest
from lingxi.events.personalization import ConsentScope
from lingxi_personalization.profile import (
    HALF_LIFE_DAYS,
    RECENT_IDS,
    Consent,
    Folded,
    Profile,
    Purchase,
    fold,
    on_consent,
)

DAY_US = 86_400_000_000
T0 = 1_780_000_000 * 1_000_000
ALL = frozenset(ConsentScope)
PURCHASES_ONLY = frozenset({ConsentScope.PURCHASE_DATA})


def purchase(n: int, *, day: float = 0.0, category: str = "coffee", **changes: str) -> Purchase:
    fields = {"merchant": "瑞幸咖啡", "channel": "alipay", "city": "上海", **changes}
    return Purchase(
        f"order-{n}", T0 + int(day * DAY_US), category, fields["merchant"], fields["channel"], fields["city"]
    )


def test_without_purchase_consent_a_purchase_is_dropped_unread() -> None:
    for scopes in (frozenset(), frozenset({ConsentScope.PERSONALISATION, ConsentScope.PAYMENT_DATA})):
        profile = Profile()
        assert fold(profile, Consent(scopes, 0), purchase(1)) is Folded.NO_CONSENT
        assert profile == Profile()  # nothing of it kept, not even its id


def test_channels_are_learned_only_with_payment_consent() -> None:
    profile = Profile()
    assert fold(profile, Consent(PURCHASES_ONLY, 0), purchase(1)) is Folded.FOLDED
    assert profile.categories == {"coffee": 1.0}
    assert profile.merchants == {"瑞幸咖啡": 1.0}
    assert profile.cities == {"上海": 1.0}
    assert profile.channels == {}
    fold(profile, Consent(ALL, 0), purchase(2))
    assert profile.channels == {"alipay": 1.0}


def test_a_purchase_seen_again_changes_nothing() -> None:
    profile = Profile()
    consent = Consent(ALL, 0)
    assert fold(profile, consent, purchase(1)) is Folded.FOLDED
    before = Profile.from_json(profile.to_json())
    assert fold(profile, consent, purchase(1, day=3)) is Folded.DUPLICATE
    assert profile == before
    for n in range(2, RECENT_IDS + 3):
        fold(profile, consent, purchase(n))
    assert len(profile.recent_ids) == RECENT_IDS


def test_preferences_halve_every_half_life_and_late_purchases_weigh_what_they_would_now() -> None:
    profile = Profile()
    consent = Consent(ALL, 0)
    fold(profile, consent, purchase(1, category="coffee"))
    fold(profile, consent, purchase(2, day=HALF_LIFE_DAYS, category="groceries"))
    assert profile.categories["coffee"] == pytest.approx(0.5)
    assert profile.categories["groceries"] == pytest.approx(1.0)
    fold(profile, consent, purchase(3, day=0.0, category="groceries"))  # arrives late
    assert profile.categories["groceries"] == pytest.approx(1.5)
    assert profile.as_of_us == T0 + int(HALF_LIFE_DAYS * DAY_US)
    assert profile.home_city() == "上海"


def test_tables_keep_their_heaviest_entries() -> None:
    profile = Profile()
    consent = Consent(ALL, 0)
    for n in range(40):
        fold(profile, consent, purchase(n, day=n, merchant=f"shop-{n}"))
    assert len(profile.merchants) == 16
    assert "shop-39" in profile.merchants  # the newest weigh most
    assert "shop-0" not in profile.merchants


def test_withdrawing_purchase_data_deletes_the_profile_and_payment_data_the_channels() -> None:
    profile = Profile()
    consent = Consent(ALL, 10)
    fold(profile, consent, purchase(1))
    consent2, kept, applied = on_consent(consent, profile, ALL - {ConsentScope.PAYMENT_DATA}, 20)
    assert applied
    assert kept.channels == {}
    assert kept.categories == profile.categories
    consent3, gone, applied = on_consent(consent2, kept, frozenset({ConsentScope.PERSONALISATION}), 30)
    assert applied
    assert gone.empty
    assert gone.categories == {}
    assert consent3.scopes == {ConsentScope.PERSONALISATION}


def test_an_older_consent_change_delivered_late_changes_nothing() -> None:
    consent = Consent(frozenset(), 50)
    profile = Profile()
    same, kept, applied = on_consent(consent, profile, ALL, 40)
    assert not applied
    assert same is consent
    assert kept is profile


def test_stored_records_round_trip_and_bad_ones_are_named() -> None:
    profile = Profile()
    fold(profile, Consent(ALL, 0), purchase(1))
    assert Profile.from_json(profile.to_json()) == profile
    assert Consent.from_json(Consent(ALL, 5).to_json()) == Consent(ALL, 5)
    with pytest.raises(ValueError, match="stored profile is malformed"):
        Profile.from_json({**profile.to_json(), "categories": {"coffee": -1.0}})
    with pytest.raises(ValueError, match="stored profile is malformed"):
        Profile.from_json({"as_of_us": 0})
    with pytest.raises(ValueError, match="stored consent is malformed"):
        Consent.from_json({"scopes": ["everything"], "changed_us": 0})
    assert math.isfinite(sum(profile.categories.values()))
