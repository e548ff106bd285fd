"""Scoring the recommender on held-out purchases: relevance (item level: the purchase's category and
merchant; category level: its category) and the metrics on hand-made lists and purchases (expected
figures worked out from the definitions), the ``evaluate personalization`` command end to end, and the
issue's target on simulated runs."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID

import pytest
from lingxi.cli.main import app
from lingxi.events.base import Region
from lingxi.events.personalization import PurchaseChannel, PurchaseRecorded
from lingxi_personalization.catalogue import Catalogue, Item, load_catalogue, parse_catalogue
from lingxi_personalization.cli import PURCHASES_FILE, TRUTH_FILE
from lingxi_personalization.evaluation import (
    CATEGORY_LEVEL,
    TARGET_LIFT,
    EvaluationReport,
    RelevantCounts,
    china_day,
    dcg,
    draw_chart,
    evaluate,
    is_hit,
    is_relevant,
    markdown,
    ndcg,
    purchase_of,
)
from lingxi_personalization.profile import Purchase
from lingxi_personalization.shoppers import ShopperConfig, Shoppers
from typer.testing import CliRunner

TINY = """
categories:
  - {code: coffee, name_zh: 咖啡, name_en: Coffee}
  - {code: tea, name_zh: 茶, name_en: Tea}
  - {code: books, name_zh: 图书, name_en: Books}
  - {code: games, name_zh: 游戏, name_en: Games}
seasons:
  - {id: summer_games, name_zh: 暑期游戏节, name_en: Summer games day,
     month_day_start: "07-10", month_day_end: "07-10"}
items:
  - {item_id: coffee-a, kind: offer, title_zh: 咖啡, title_en: Coffee, categories: [coffee],
     merchants: [瑞幸咖啡, Luckin Coffee], popularity: 0.9}
  - {item_id: tea-a, kind: offer, title_zh: 茶, title_en: Tea, categories: [tea],
     merchants: [喜茶, HEYTEA], popularity: 0.8}
  - {item_id: books-a, kind: offer, title_zh: 书, title_en: Books, categories: [books], popularity: 0.5}
  - {item_id: games-a, kind: app, title_zh: 游戏, title_en: Games, categories: [games],
     merchants: [腾讯游戏], popularity: 0.4}
  - {item_id: coffee-b, kind: offer, title_zh: 书店咖啡, title_en: Bookshop coffee,
     categories: [coffee, books], merchants: [言几又], popularity: 0.3}
  - {item_id: games-summer, kind: offer, title_zh: 暑期游戏, title_en: Summer games,
     categories: [games], seasons: [summer_games], popularity: 0.2}
"""
"""books-a and games-summer name no merchant: generic items for their category."""
DISCOUNT_2 = 1.0 / math.log2(3)
"""The gain of a relevant item at rank 2."""


@pytest.fixture(scope="module")
def tiny() -> Catalogue:
    return parse_catalogue(TINY, "tiny.yaml")


def items(catalogue: Catalogue, *ids: str) -> list[Item]:
    return [catalogue.item(i) for i in ids]


def china(text: str) -> int:
    """µs since the epoch of a China-local time ``YYYY-MM-DDTHH:MM``."""
    return int(datetime.fromisoformat(text + "+08:00").timestamp()) * 1_000_000


def bought(purchase_id: str, at: str, category: str, merchant: str) -> Purchase:
    return Purchase(purchase_id, china(at), category, merchant, "other", "上海")


# --- the metrics, by hand -------------------------------------------------------------------------


def test_an_item_is_relevant_in_the_purchases_category_when_generic_or_at_its_merchant(
    tiny: Catalogue,
) -> None:
    luckin, books, bookshop_coffee = items(tiny, "coffee-a", "books-a", "coffee-b")
    assert is_relevant(luckin, "coffee", "瑞幸咖啡")
    assert is_relevant(luckin, "coffee", "Luckin Coffee")  # any of the item's names
    assert is_relevant(luckin, "coffee", "LUCKIN coffee")  # casefolded
    assert not is_relevant(luckin, "coffee", "星巴克")  # another merchant's coffee
    assert not is_relevant(luckin, "tea", "瑞幸咖啡")  # the merchant, but not the category
    assert is_relevant(books, "books", "新华书店")  # generic: any merchant in the category
    assert not is_relevant(books, "coffee", "新华书店")
    assert is_relevant(bookshop_coffee, "books", "言几又")  # its second category
    assert not is_relevant(bookshop_coffee, "books", "新华书店")
    # Category level: the category alone.
    assert is_relevant(luckin, "coffee", None)
    assert is_relevant(bookshop_coffee, "books", None)
    assert not is_relevant(luckin, "tea", None)


def test_a_hit_is_a_relevant_item_in_the_top_k(tiny: Catalogue) -> None:
    ranked = items(tiny, "tea-a", "coffee-b", "games-a")
    assert is_hit(ranked, "books", "言几又")  # coffee-b is filed under books too
    assert not is_hit(ranked, "books", "新华书店")  # ... but is not that bookshop's
    assert is_hit(ranked, "books", None)
    assert is_hit(ranked, "tea", "heytea")
    assert not is_hit(ranked, "coffee", "瑞幸咖啡")  # no Luckin item in the list
    assert is_hit(ranked, "coffee", None)
    assert not is_hit(ranked, "games", "腾讯游戏", k=2)
    assert is_hit(ranked, "games", "腾讯游戏", k=3)


def test_dcg_and_ndcg_from_their_definitions(tiny: Catalogue) -> None:
    assert dcg([True, False, True]) == pytest.approx(1.0 + 1.0 / math.log2(4))
    assert dcg([False] * 10) == 0.0
    ranked = items(tiny, "tea-a", "coffee-a", "games-a", "coffee-b")
    # Coffee at Luckin: coffee-a at rank 2 is the one relevant item (in the catalogue too).
    assert ndcg(ranked, "coffee", "Luckin Coffee", relevant_in_catalogue=1) == pytest.approx(DISCOUNT_2)
    # Category level: relevant at ranks 2 and 4; the catalogue has 2 coffee items, so the ideal is ranks
    # 1 and 2.
    expected = (DISCOUNT_2 + 1.0 / math.log2(5)) / (1.0 + DISCOUNT_2)
    assert ndcg(ranked, "coffee", None, relevant_in_catalogue=2) == pytest.approx(expected)
    # The ideal is capped at k relevant items.
    assert ndcg(ranked, "coffee", None, relevant_in_catalogue=9, k=2) == pytest.approx(
        DISCOUNT_2 / (1.0 + DISCOUNT_2)
    )
    # Books at 言几又: coffee-b at rank 4; relevant in the catalogue: it and the generic books-a.
    assert ndcg(ranked, "books", "言几又", relevant_in_catalogue=2) == pytest.approx(
        (1.0 / math.log2(5)) / (1.0 + DISCOUNT_2)
    )
    assert ndcg(ranked, "books", "新华书店", relevant_in_catalogue=1) == 0.0
    assert ndcg(ranked, "pets", "宠物店", relevant_in_catalogue=0) == 0.0


def test_relevant_items_in_the_catalogue_are_counted_per_category_and_merchant(tiny: Catalogue) -> None:
    counts = RelevantCounts(tiny)
    assert counts("coffee", "瑞幸咖啡") == counts("coffee", "luckin coffee") == 1
    assert counts("coffee", "星巴克") == 0
    assert counts("books", "言几又") == 2  # coffee-b and the generic books-a
    assert counts("books", "新华书店") == 1
    assert counts("games", "腾讯游戏") == 2  # games-a and the generic (seasonal) games-summer
    assert counts("tea", "瑞幸咖啡") == 0
    assert counts("pets", "宠物店") == 0
    assert counts("coffee", None) == 2
    assert counts("books", None) == 2
    # The packaged catalogue: the counts are is_relevant over every item, for every category with each
    # merchant its items name (in any case) and one they do not.
    catalogue = load_catalogue()
    counts = RelevantCounts(catalogue)
    merchants = {name for item in catalogue.items for name in item.merchants}
    for category in catalogue.categories:
        for merchant in [*merchants, *(m.upper() for m in merchants), "无名小店", None]:
            expected = sum(is_relevant(item, category, merchant) for item in catalogue.items)
            assert counts(category, merchant) == expected, (category, merchant)


def hand_made_purchases() -> list[tuple[str, Purchase]]:
    """Two users with history and held-out purchases, one with only held-out, one with only history.

    The data ends on 07-10 (China date); with 2 held-out days, 07-09 and 07-10 are held out. On 07-09 the
    regional top 2 is coffee-a (0.9), tea-a (0.8); on 07-10 the season's games-summer comes first, then
    coffee-a. reader (books ×3 before, at a bookshop the catalogue does not name): personalised top 2 is
    books-a, coffee-b (both books, the only category they buy). coffee (coffee ×2 before, at Luckin):
    coffee-a (category and merchant), coffee-b."""
    return [
        ("reader", bought("r1", "2026-07-01T10:00", "books", "新华书店")),
        ("reader", bought("r2", "2026-07-03T10:00", "books", "新华书店")),
        ("reader", bought("r3", "2026-07-05T10:00", "books", "新华书店")),
        # personalised: the generic books-a at rank 1 (coffee-b is 言几又's); baseline: miss
        ("reader", bought("r4", "2026-07-09T10:00", "books", "新华书店")),
        # 07-08 in UTC: held out by China date. Baseline: tea-a at rank 2 (HEYTEA, casefolded)
        ("reader", bought("r5", "2026-07-09T01:30", "tea", "heytea")),
        # baseline: the generic games-summer at rank 1
        ("reader", bought("r6", "2026-07-10T12:00", "games", "腾讯游戏")),
        ("coffee", bought("c1", "2026-07-02T09:00", "coffee", "瑞幸咖啡")),
        ("coffee", bought("c2", "2026-07-04T09:00", "coffee", "瑞幸咖啡")),
        # at Starbucks: no list has (nor the catalogue) a relevant item; both hit on category
        ("coffee", bought("c3", "2026-07-09T09:00", "coffee", "星巴克")),
        # personalised: coffee-a at rank 1; baseline: at rank 2
        ("coffee", bought("c4", "2026-07-10T09:00", "coffee", "Luckin Coffee")),
        ("newcomer", bought("n1", "2026-07-10T20:00", "tea", "喜茶")),
        ("gone", bought("g1", "2026-07-02T20:00", "games", "腾讯游戏")),
    ]


def test_hit_rate_ndcg_and_lift_on_hand_made_purchases(tiny: Catalogue) -> None:
    report = evaluate(hand_made_purchases(), tiny, holdout_days=2, k=2)
    assert (report.holdout_start, report.holdout_end) == (date(2026, 7, 9), date(2026, 7, 10))
    assert (report.users, report.users_without_history, report.users_without_holdout) == (2, 1, 1)
    assert report.train_purchases == 5
    assert report.held_out == 5
    # Item level. Personalised: books (rank 1 of 1 relevant: NDCG 1), tea (miss), games (miss), coffee
    # at Starbucks (miss, none relevant), coffee at Luckin (rank 1 of 1: NDCG 1).
    assert report.personalised.hits == 2
    assert report.personalised.hit_rate == pytest.approx(0.4)
    assert report.personalised.ndcg == pytest.approx((1.0 + 0.0 + 0.0 + 0.0 + 1.0) / 5)
    # Baseline: books (miss), tea (rank 2 of 1 relevant), games (rank 1 of 2: games-a and games-summer),
    # coffee at Starbucks (miss), coffee at Luckin (rank 2 of 1).
    assert report.baseline.hits == 3
    assert report.baseline.hit_rate == pytest.approx(0.6)
    assert report.baseline.ndcg == pytest.approx(
        (0.0 + DISCOUNT_2 + 1.0 / (1.0 + DISCOUNT_2) + 0.0 + DISCOUNT_2) / 5
    )
    assert report.lift == pytest.approx(0.4 / 0.6)
    assert not report.target_met
    # Category level: any item filed under the purchase's category. Personalised: books (ranks 1, 2 of
    # 2), tea, games (misses), both coffees (ranks 1, 2 of 2). Baseline: books (miss), tea (rank 2 of 1),
    # games (rank 1 of 2), coffee on 07-09 (rank 1 of 2), coffee on 07-10 (rank 2 of 2).
    by_category = report.category_level
    assert by_category.name == CATEGORY_LEVEL
    assert (by_category.personalised.hits, by_category.baseline.hits) == (3, 4)
    assert by_category.personalised.ndcg == pytest.approx(3 / 5)
    assert by_category.baseline.ndcg == pytest.approx(
        (
            0.0
            + DISCOUNT_2
            + 1.0 / (1.0 + DISCOUNT_2)
            + 1.0 / (1.0 + DISCOUNT_2)
            + DISCOUNT_2 / (1.0 + DISCOUNT_2)
        )
        / 5
    )
    assert by_category.lift == pytest.approx(0.6 / 0.8)
    # books and coffee were in the profiles; two of those three purchases hit (not the Starbucks one).
    assert (report.known_category, report.known_category_hits) == (3, 2)
    assert [(d.day, d.purchases, d.personalised_hits, d.baseline_hits) for d in report.days] == [
        (date(2026, 7, 9), 3, 1, 1),
        (date(2026, 7, 10), 2, 1, 2),
    ]
    assert report.segments == ()


def test_the_truth_splits_purchases_in_favourite_categories_from_the_others(tiny: Catalogue) -> None:
    favourites = {"reader": ["books"], "coffee": ["coffee"], "newcomer": ["tea"]}
    report = evaluate(hand_made_purchases(), tiny, holdout_days=2, k=2, favourites=favourites)
    liked, other = report.segments
    # Item level: books, coffee at Starbucks, coffee at Luckin; then tea and games.
    assert (liked.personalised.purchases, liked.personalised.hits, liked.baseline.hits) == (3, 2, 1)
    assert liked.lift == pytest.approx(2.0)
    assert (other.personalised.purchases, other.personalised.hits, other.baseline.hits) == (2, 0, 2)
    assert other.lift == 0.0


def test_a_lift_of_two_meets_the_target(tiny: Catalogue) -> None:
    # Held out: the reader's books (personalised hit only) and coffee at Luckin (both hit): 1.0 / 0.5.
    kept = {"r1", "r2", "r3", "r4", "c1", "c2", "c4"}
    purchases = [p for p in hand_made_purchases() if p[1].purchase_id in kept]
    report = evaluate(purchases, tiny, holdout_days=2, k=2)
    assert (report.held_out, report.personalised.hits, report.baseline.hits) == (2, 2, 1)
    assert report.lift == pytest.approx(TARGET_LIFT)
    assert report.target_met


def test_nothing_to_evaluate_is_an_error_that_says_why(tiny: Catalogue) -> None:
    with pytest.raises(ValueError, match="no purchases"):
        evaluate([], tiny)
    only_old = [p for p in hand_made_purchases() if p[0] == "gone"]
    with pytest.raises(ValueError, match="nothing to evaluate"):
        evaluate(only_old, tiny, holdout_days=1)
    with pytest.raises(ValueError, match="holdout_days"):
        evaluate(hand_made_purchases(), tiny, holdout_days=0)


def test_an_events_purchase_is_made_as_the_service_makes_it() -> None:
    event = PurchaseRecorded(
        event_id=UUID("0b6f1d2e-8f0a-4d7c-9a51-3c7e2f1b9a10"),
        region=Region.CN,
        user_id="u-1",
        merchant="瑞幸咖啡",
        category="coffee",
        amount_minor=1890,
        channel=PurchaseChannel.ALIPAY,
        purchased_at=datetime(2026, 7, 8, 17, 30, 0, 250, tzinfo=UTC),
    )
    user, purchase = purchase_of(event)
    assert user == "u-1"
    assert purchase.purchase_id == "0b6f1d2e-8f0a-4d7c-9a51-3c7e2f1b9a10"  # no order id: the event id
    assert purchase.purchased_us == china("2026-07-09T01:30") + 250
    assert china_day(purchase.purchased_us) == date(2026, 7, 9)
    assert (purchase.channel, purchase.city) == ("alipay", None)


def test_report_as_markdown_json_and_chart(tiny: Catalogue, tmp_path: Path) -> None:
    report = evaluate(hand_made_purchases(), tiny, holdout_days=2, k=2, favourites={"reader": ["books"]})
    table = markdown(report)
    item_level, category_level = table.split("**Category-level relevance**")
    assert "**Item-level relevance**" in item_level
    assert "| all | 5 | 0.400 | 0.600 | 0.67 | 0.400 |" in item_level
    assert "| in a hidden favourite category | 1 |" in item_level
    assert "**missed**" in item_level
    assert "| held-out purchases, category-level |" in category_level
    assert "| all | 5 | 0.600 | 0.800 | 0.75 | 0.600 |" in category_level
    document = json.loads(json.dumps(report.to_dict()))
    assert document["held_out_purchases"] == 5
    assert document["relevance"].startswith("item-level")
    assert document["personalised"]["hits"] == 2
    assert document["target_met"] is False
    assert document["category_level"]["name"] == CATEGORY_LEVEL
    assert document["category_level"]["personalised"]["hits"] == 3
    assert document["category_level"]["baseline"]["hits"] == 4
    assert document["category_level"]["lift"] == 0.75
    draw_chart(report, tmp_path / "chart.png")
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- the command ----------------------------------------------------------------------------------


def test_lingxi_evaluate_personalization_simulated_and_from_files_alike(tmp_path: Path) -> None:
    runner = CliRunner()
    size = ["--users", "40", "--days", "30", "--seed", "3"]
    result = runner.invoke(app, ["evaluate", "personalization", *size, "-o", str(tmp_path / "simulated")])
    assert result.exit_code == 0, result.output
    assert "| all |" in result.stdout
    assert "hit rate@10 personalised" in result.stdout
    for name in ("report.md", "metrics.json", "chart.png"):
        assert (tmp_path / "simulated" / name).stat().st_size > 0
    simulated = json.loads((tmp_path / "simulated" / "metrics.json").read_text(encoding="utf-8"))
    assert simulated["users"] == 40
    assert simulated["held_out_purchases"] > 40

    data = tmp_path / "data"
    result = runner.invoke(app, ["simulate", "purchases", *size, "-o", str(data)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["evaluate", "personalization", str(data), "-o", str(tmp_path / "saved")])
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "saved" / "metrics.json").read_text(encoding="utf-8"))
    for document in (simulated, saved):
        del document["source"], document["seconds"]
    assert saved == simulated

    (data / TRUTH_FILE).unlink()  # without the truth: no split by favourites, same figures otherwise
    result = runner.invoke(app, ["evaluate", "personalization", str(data), "-o", str(tmp_path / "bare")])
    assert result.exit_code == 0, result.output
    bare = json.loads((tmp_path / "bare" / "metrics.json").read_text(encoding="utf-8"))
    assert bare["segments"] == []
    assert bare["personalised"] == simulated["personalised"]
    assert bare["category_level"] == simulated["category_level"]


def test_a_bad_line_is_refused_naming_the_file_and_line(tmp_path: Path) -> None:
    good = Shoppers(ShopperConfig(users=2, days=3)).purchases()
    lines = [json.dumps(next(good).to_event()), json.dumps({**next(good).to_event(), "amount_minor": 0})]
    (tmp_path / PURCHASES_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["evaluate", "personalization", str(tmp_path), "-o", str(tmp_path)])
    assert result.exit_code == 2
    unboxed = "".join(ch for ch in result.output if ch not in " \n│")  # rich wraps it in a box
    assert f"{PURCHASES_FILE}:2:notaPurchaseRecordedevent:amount_minor:" in unboxed

    result = CliRunner().invoke(app, ["evaluate", "personalization", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert "not found" in result.output


# --- the target ---------------------------------------------------------------------------


def simulated(users: int, days: int) -> EvaluationReport:
    shoppers = Shoppers(ShopperConfig(users=users, days=days))
    favourites = {u.user_id: list(u.favourites) for u in shoppers.truth.users}
    purchases = ((p.user_id, p.to_purchase()) for p in shoppers.purchases())
    return evaluate(purchases, shoppers.catalogue, favourites=favourites)


@pytest.fixture(scope="module")
def simulated_report() -> EvaluationReport:
    """300 users over 90 days (2026-06-01 to 08-29; held out: 08-16 to 08-29, in the Qixi and
    back-to-school windows)."""
    return simulated(300, 90)


def test_personalised_lists_beat_the_baseline_and_double_it_on_habitual_purchases(
    simulated_report: EvaluationReport,
) -> None:
    report = simulated_report
    assert report.users == 300
    assert report.personalised.hit_rate is not None
    assert report.baseline.hit_rate is not None
    assert report.personalised.hit_rate > report.baseline.hit_rate
    assert (report.personalised.ndcg or 0.0) > 2 * (report.baseline.ndcg or 0.0)
    liked = report.segments[0]
    assert liked.lift is not None
    assert liked.lift >= TARGET_LIFT
    # Category level: the regional list hits over half the purchases by category alone.
    by_category = report.category_level
    assert (by_category.baseline.hit_rate or 0.0) > 0.5
    assert (by_category.personalised.hit_rate or 0.0) > (by_category.baseline.hit_rate or 0.0)


def test_the_personalised_hit_rate_is_at_least_twice_the_baselines(
    simulated_report: EvaluationReport,
) -> None:
    # Item level, measured: 0.65 against 0.27, a lift of about 2.4 (category level: 0.78 against 0.54,
    # about 1.4). The held-out window matters: see the next test.
    assert simulated_report.target_met, markdown(simulated_report)
    assert (simulated_report.lift or 0.0) >= TARGET_LIFT


def test_the_target_is_met_in_the_mid_autumn_and_national_day_windows_too() -> None:
    # Held out 09-15 to 09-28: festival buying that habits do not predict; the season's weight in
    # personalised lists (0.3) lets its items in (at 0.1 the lift here was 1.9).
    report = simulated(300, 120)
    assert report.target_met, markdown(report)
