"""The shopper simulator: deterministic by seed, valid PurchaseRecorded events, hidden preferences that
show in the purchases, seasonal buying, and the ``simulate purchases`` command's files."""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from datetime import date, datetime
from pathlib import Path

import pytest
from lingxi.cli.main import app
from lingxi.events.personalization import PurchaseChannel, PurchaseRecorded
from lingxi_personalization.catalogue import load_catalogue
from lingxi_personalization.cli import PURCHASES_FILE, TRUTH_FILE
from lingxi_personalization.evaluation import purchase_of
from lingxi_personalization.shoppers import (
    CHINA,
    CITIES,
    FAVOURITES,
    SEASON_UPLIFT,
    ShopperConfig,
    Shoppers,
    ShoppersTruth,
    SimulatedPurchase,
)
from typer.testing import CliRunner

CONFIG = ShopperConfig(users=200, days=60, seed=11)


@pytest.fixture(scope="module")
def shoppers() -> Shoppers:
    return Shoppers(CONFIG)


@pytest.fixture(scope="module")
def purchases(shoppers: Shoppers) -> list[SimulatedPurchase]:
    return list(shoppers.purchases())


@pytest.fixture(scope="module")
def by_user(purchases: list[SimulatedPurchase]) -> dict[str, list[SimulatedPurchase]]:
    users: dict[str, list[SimulatedPurchase]] = defaultdict(list)
    for purchase in purchases:
        users[purchase.user_id].append(purchase)
    return users


def test_the_same_seed_gives_the_same_shoppers_and_another_seed_others() -> None:
    small = ShopperConfig(users=30, days=10, seed=3)
    first, again = Shoppers(small), Shoppers(small)
    assert first.truth == again.truth
    assert list(first.purchases()) == list(again.purchases())
    other = Shoppers(ShopperConfig(users=30, days=10, seed=4))
    assert other.truth != first.truth
    assert [p.category for p in other.purchases()] != [p.category for p in first.purchases()]


def test_a_user_does_not_change_when_the_simulation_grows() -> None:
    """Each user has their own random stream: a larger run keeps the smaller run's users as they were."""
    small, large = Shoppers(ShopperConfig(users=5, days=10)), Shoppers(ShopperConfig(users=9, days=10))
    assert large.truth.users[:5] == small.truth.users
    user = small.truth.users[3].user_id
    assert list(large.user_purchases(user)) == list(small.user_purchases(user))


def test_purchases_come_in_time_order_with_unique_ids_in_china_daytime(
    purchases: list[SimulatedPurchase],
) -> None:
    times = [p.purchased_at for p in purchases]
    assert times == sorted(times)
    assert len({p.purchase_id for p in purchases}) == len(purchases)
    assert len({p.event_id for p in purchases}) == len(purchases)
    start = datetime.combine(CONFIG.start, datetime.min.time(), tzinfo=CHINA)
    end = datetime.combine(CONFIG.end, datetime.min.time(), tzinfo=CHINA)
    for p in purchases:
        local = p.purchased_at.astimezone(CHINA)
        assert 8 <= local.hour <= 22
        assert start <= p.purchased_at < end
        assert p.purchased_at < p.recorded_at
        assert p.amount_minor >= 100


def test_every_purchase_makes_a_valid_purchase_recorded_event(purchases: list[SimulatedPurchase]) -> None:
    for p in purchases[:3000]:
        fields = p.to_event()
        assert fields["purchased_at"].endswith("Z")
        assert fields["occurred_at"].endswith("Z")
        event = PurchaseRecorded.model_validate_json(json.dumps(fields, ensure_ascii=False))
        assert event.region == "CN"
        assert event.user_id == p.user_id
        assert event.purchased_at == p.purchased_at
        assert event.occurred_at == p.recorded_at
        assert purchase_of(event) == (p.user_id, p.to_purchase())


def test_amounts_are_plausible_per_category(purchases: list[SimulatedPurchase]) -> None:
    amounts: dict[str, list[int]] = defaultdict(list)
    for p in purchases:
        amounts[p.category].append(p.amount_minor)
    assert 1_000 <= statistics.median(amounts["coffee"]) <= 3_000  # ¥10-30 a coffee
    assert statistics.median(amounts["electronics"]) > 50 * statistics.median(amounts["coffee"])


def test_hidden_preferences_are_a_few_weighted_catalogue_categories(shoppers: Shoppers) -> None:
    catalogue = shoppers.catalogue
    cities = {city for city, _ in CITIES}
    for user in shoppers.truth.users:
        assert FAVOURITES[0] <= len(user.favourites) <= FAVOURITES[1]
        assert set(user.favourites) <= set(catalogue.categories)
        weights = list(user.favourites.values())
        assert weights == sorted(weights, reverse=True)
        assert sum(weights) == pytest.approx(1.0)
        assert set(user.merchants) == set(user.favourites)
        for category, merchants in user.merchants.items():
            assert 1 <= len(merchants) <= 2
            named = {m for item in catalogue.by_category(category) for m in item.merchants}
            assert set(merchants) <= named
        assert user.home_city in cities
        assert PurchaseChannel(user.usual_channel)
        assert 0.3 <= user.rate_per_day <= 2.0
        assert 0.10 <= user.noise_share <= 0.15


def test_a_users_top_hidden_category_is_what_they_buy_most(
    shoppers: Shoppers, by_user: dict[str, list[SimulatedPurchase]]
) -> None:
    agree = 0
    for user in shoppers.truth.users:
        bought = Counter(p.category for p in by_user[user.user_id])
        agree += bought.most_common(1)[0][0] == user.top_category
    assert agree >= 0.8 * len(shoppers.truth.users)


def test_favourite_merchants_and_the_usual_channel_and_city_dominate(
    shoppers: Shoppers, by_user: dict[str, list[SimulatedPurchase]]
) -> None:
    at_favourite = in_favourite = usual = home = total = 0
    for user in shoppers.truth.users:
        for p in by_user[user.user_id]:
            total += 1
            usual += p.channel == user.usual_channel
            home += p.city == user.home_city
            if p.category in user.favourites:
                in_favourite += 1
                at_favourite += p.merchant in user.merchants[p.category]
    assert at_favourite / in_favourite > 0.75
    assert usual / total > 0.7
    assert 0.88 < home / total < 0.96


def test_noise_is_a_small_share_and_seasons_add_purchases_in_their_categories(
    shoppers: Shoppers, purchases: list[SimulatedPurchase]
) -> None:
    kinds = Counter(p.kind for p in purchases)
    assert 0.08 < kinds["noise"] / (kinds["noise"] + kinds["favourite"]) < 0.16

    catalogue = shoppers.catalogue
    per_day = Counter(p.purchased_at.astimezone(CHINA).date() for p in purchases)
    in_season: list[int] = []
    off_season: list[int] = []
    for n in range(CONFIG.days):
        day = date.fromordinal(CONFIG.start.toordinal() + n)
        seasonal = any(s.id in i.seasons for s in catalogue.active_seasons(day) for i in catalogue.items)
        (in_season if seasonal else off_season).append(per_day[day])
    assert in_season
    assert off_season
    ratio = statistics.mean(in_season) / statistics.mean(off_season)
    assert 1.0 + SEASON_UPLIFT / 2 < ratio < 1.0 + 2 * SEASON_UPLIFT
    for p in purchases:
        if p.kind == "seasonal":
            day = p.purchased_at.astimezone(CHINA).date()
            season_items = [
                i for s in catalogue.active_seasons(day) for i in catalogue.items if s.id in i.seasons
            ]
            assert any(p.category in i.categories for i in season_items)


def test_truth_round_trips_through_json(shoppers: Shoppers) -> None:
    again = ShoppersTruth.from_dict(json.loads(json.dumps(shoppers.truth.to_dict(), ensure_ascii=False)))
    assert again.config == shoppers.truth.config
    for user, back in zip(shoppers.truth.users, again.users, strict=True):
        assert back.user_id == user.user_id
        assert list(back.favourites) == list(user.favourites)
        assert back.merchants == user.merchants
    with pytest.raises(KeyError, match="u-nobody"):
        again.user("u-nobody")


def test_bad_configuration_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="users"):
        ShopperConfig(users=0)
    with pytest.raises(ValueError, match="days"):
        ShopperConfig(days=0)
    with pytest.raises(ValueError, match="start"):
        ShopperConfig(start=datetime(2026, 6, 1))  # a time is not a day


def test_lingxi_simulate_purchases_writes_events_and_truth(tmp_path: Path) -> None:
    out = tmp_path / "shoppers"
    result = CliRunner().invoke(
        app, ["simulate", "purchases", "--users", "25", "--days", "8", "--seed", "5", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output
    lines = (out / PURCHASES_FILE).read_text(encoding="utf-8").splitlines()
    events = [PurchaseRecorded.model_validate_json(line) for line in lines]
    expected = list(Shoppers(ShopperConfig(users=25, days=8, seed=5), load_catalogue()).purchases())
    assert len(events) == len(expected) > 25
    for event, purchase in zip(events, expected, strict=True):
        assert purchase_of(event) == (purchase.user_id, purchase.to_purchase())
    truth = ShoppersTruth.from_dict(json.loads((out / TRUTH_FILE).read_text(encoding="utf-8")))
    assert truth.config == ShopperConfig(users=25, days=8, seed=5)
    assert len(truth.users) == 25


def test_lingxi_simulate_purchases_refuses_bad_options(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["simulate", "purchases", "--users", "0", "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert "users must be at least 1" in result.output
    result = runner.invoke(app, ["simulate", "purchases", "--start", "June", "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert "--start 'June' is not a date" in result.output
