"""Recommendations: the user's own habits when personalisation is on, the region's otherwise, each with
its reason; and the service's per-user update that ties consent, profile and list together."""

from __future__ import annotations

from datetime import date

from lingxi.events.personalization import ConsentScope
from lingxi_personalization.catalogue import Catalogue, load_catalogue, parse_catalogue
from lingxi_personalization.profile import Consent, Folded, Profile, Purchase, fold
from lingxi_personalization.recommend import PER_CATEGORY, recommend, regional
from lingxi_personalization.update import CONSENT_APPLIED, ConsentChange, update_user, views

TINY = """
categories:
  - {code: coffee, name_zh: 咖啡, name_en: Coffee}
  - {code: food_delivery, name_zh: 外卖, name_en: Food delivery}
  - {code: groceries, name_zh: 日用百货, name_en: Groceries}
seasons:
  - {id: singles_day, name_zh: 双十一, name_en: Singles' Day,
     month_day_start: "10-20", month_day_end: "11-11"}
items:
  - {item_id: coffee-luckin, kind: offer, title_zh: 瑞幸咖啡券, title_en: Luckin coupon,
     categories: [coffee], merchants: [瑞幸咖啡, Luckin Coffee], popularity: 0.3}
  - {item_id: coffee-manner, kind: offer, title_zh: Manner 咖啡券, title_en: Manner coupon,
     categories: [coffee], popularity: 0.2}
  - {item_id: coffee-starbucks, kind: offer, title_zh: 星巴克券, title_en: Starbucks coupon,
     categories: [coffee], popularity: 0.25}
  - {item_id: coffee-shanghai, kind: service, title_zh: 上海咖啡节, title_en: Shanghai coffee festival,
     categories: [coffee], cities: [上海], popularity: 0.3}
  - {item_id: delivery-meituan, kind: app, title_zh: 美团外卖, title_en: Meituan delivery,
     categories: [food_delivery], channels: [meituan], app_id: meituan, popularity: 0.9}
  - {item_id: delivery-eleme, kind: app, title_zh: 饿了么, title_en: Ele.me, categories: [food_delivery],
     channels: [eleme], app_id: eleme, popularity: 0.8}
  - {item_id: groceries-hema, kind: service, title_zh: 盒马, title_en: Freshippo, categories: [groceries],
     popularity: 0.7}
  - {item_id: groceries-1111, kind: offer, title_zh: 双十一囤货, title_en: Singles' Day stock-up,
     categories: [groceries], seasons: [singles_day], popularity: 0.4}
"""
SPRING = date(2026, 5, 10)
SINGLES_DAY = date(2026, 11, 5)
ALL = Consent(frozenset(ConsentScope), 0)


def tiny() -> Catalogue:
    return parse_catalogue(TINY, "tiny.yaml")


def coffee_drinker() -> Profile:
    profile = Profile()
    for n in range(6):
        fold(profile, ALL, Purchase(f"o-{n}", n * 86_400_000_000, "coffee", "瑞幸咖啡", "alipay", "上海"))
    fold(profile, ALL, Purchase("o-x", 7 * 86_400_000_000, "groceries", "盒马", "alipay", "上海"))
    return profile


def test_regional_suggestions_are_popular_nationwide_items_marked_non_personalised() -> None:
    shown = regional(tiny(), SPRING)
    ids = [s.item.item_id for s in shown]
    assert ids[0] == "delivery-meituan"
    assert "coffee-shanghai" not in ids  # a city item needs a city
    assert "groceries-1111" not in ids  # out of season
    assert all(not s.personalised for s in shown)
    assert {s.reason for s in shown} == {"popular_in_region"}


def test_in_season_the_season_s_items_come_first_with_their_reason() -> None:
    shown = regional(tiny(), SINGLES_DAY)
    assert shown[0].item.item_id == "groceries-1111"
    assert shown[0].reason == "seasonal.singles_day"
    assert "双十一" in shown[0].reason_zh


def test_a_coffee_drinker_sees_coffee_first_for_a_reason_they_can_read() -> None:
    shown = recommend(coffee_drinker(), True, tiny(), SPRING)
    top = shown[0]
    assert top.item.item_id == "coffee-luckin"  # their own merchant beats other coffee
    assert top.personalised
    assert top.reason == "frequent_merchant"
    assert top.reason_zh == "因为你常在瑞幸咖啡消费"
    coffee = [s for s in shown if "coffee" in s.item.categories]
    assert len(coffee) == PER_CATEGORY  # one habit does not fill the list
    assert any(s.reason == "frequent_category.coffee" and "often order coffee" in s.reason_en for s in coffee)
    assert "coffee-shanghai" in {s.item.item_id for s in shown}  # where they shop
    delivery = next(s for s in shown if s.item.item_id == "delivery-meituan")
    assert not delivery.personalised
    assert delivery.reason == "popular_in_region"


def test_personalisation_off_or_nothing_known_gives_the_regional_list() -> None:
    catalogue = tiny()
    expected = [s.item.item_id for s in regional(catalogue, SPRING)]
    assert [s.item.item_id for s in recommend(coffee_drinker(), False, catalogue, SPRING)] == expected
    assert [s.item.item_id for s in recommend(Profile(), True, catalogue, SPRING)] == expected


def test_the_packaged_catalogue_makes_a_full_list_for_anyone() -> None:
    catalogue = load_catalogue()
    for day in (SPRING, SINGLES_DAY, date(2027, 2, 1)):
        assert len(regional(catalogue, day)) == 10
        assert len(recommend(coffee_drinker(), True, catalogue, day)) == 10


def test_update_user_applies_consent_then_purchases_in_order() -> None:
    catalogue = tiny()
    buy = Purchase("o-1", 0, "coffee", "瑞幸咖啡", "alipay", None)
    update = update_user(
        Consent(),
        Profile(),
        [
            buy,
            ConsentChange(frozenset(ConsentScope), 10),
            Purchase("o-2", 20, "coffee", "瑞幸咖啡", "alipay", None),
        ],
        catalogue,
        SPRING,
    )
    assert update.outcomes == [Folded.NO_CONSENT.value, CONSENT_APPLIED, Folded.FOLDED.value]
    assert update.consent == Consent(frozenset(ConsentScope), 10)
    assert update.profile.purchases == 1
    assert update.suggestions is not None
    assert update.suggestions[0].personalised

    assert not update.stale, "the consent change worked the list out with the purchase in it"

    nothing = update_user(Consent(), Profile(), [buy], catalogue, SPRING)
    assert nothing.suggestions is None  # nothing changed: nothing recomputed, nothing announced
    assert nothing.consent is None
    assert not nothing.stale


def test_purchases_alone_leave_the_list_to_the_refresh() -> None:
    catalogue = tiny()
    consent = Consent(frozenset(ConsentScope), 10)
    purchases = [Purchase(f"o-{n}", 20 + n, "coffee", "瑞幸咖啡", "alipay", None) for n in range(3)]
    update = update_user(consent, Profile(), purchases, catalogue, SPRING)
    assert update.profile.purchases == 3
    assert update.stale
    assert update.suggestions is None
    assert update.apps is None
    suggestions, apps = views(consent, update.profile, catalogue, SPRING)
    assert suggestions[0].personalised
    assert suggestions[0].reason in ("frequent_merchant", "frequent_category.coffee")
    assert apps == {}  # the tiny catalogue has no apps to share


# More items than a list holds, tied to the user in every way: the cap, the limit and the reasons (worded
# only for the items shown) must agree.
BROAD = """
categories:
  - {code: coffee, name_zh: 咖啡, name_en: Coffee}
  - {code: food_delivery, name_zh: 外卖, name_en: Food delivery}
  - {code: groceries, name_zh: 日用百货, name_en: Groceries}
  - {code: books, name_zh: 图书, name_en: Books}
  - {code: pets, name_zh: 宠物, name_en: Pets}
seasons:
  - {id: singles_day, name_zh: 双十一, name_en: Singles' Day,
     month_day_start: "10-20", month_day_end: "11-11"}
items:
  - {item_id: coffee-luckin, kind: offer, title_zh: 瑞幸, title_en: Luckin, categories: [coffee],
     merchants: [瑞幸咖啡, Luckin Coffee], popularity: 0.1}
  - {item_id: coffee-a, kind: offer, title_zh: 咖啡甲, title_en: Coffee A, categories: [coffee],
     popularity: 0.9}
  - {item_id: coffee-b, kind: offer, title_zh: 咖啡乙, title_en: Coffee B, categories: [coffee],
     popularity: 0.8}
  - {item_id: coffee-c, kind: offer, title_zh: 咖啡丙, title_en: Coffee C, categories: [coffee],
     popularity: 0.7}
  - {item_id: coffee-d, kind: offer, title_zh: 咖啡丁, title_en: Coffee D, categories: [coffee],
     popularity: 0.6}
  - {item_id: delivery-a, kind: app, title_zh: 外卖甲, title_en: Delivery A, categories: [food_delivery],
     channels: [meituan], popularity: 0.5}
  - {item_id: delivery-b, kind: app, title_zh: 外卖乙, title_en: Delivery B, categories: [food_delivery],
     channels: [eleme], popularity: 0.4}
  - {item_id: delivery-c, kind: app, title_zh: 外卖丙, title_en: Delivery C, categories: [food_delivery],
     popularity: 0.3}
  - {item_id: delivery-d, kind: app, title_zh: 外卖丁, title_en: Delivery D, categories: [food_delivery],
     popularity: 0.2}
  - {item_id: groceries-meals, kind: offer, title_zh: 半成品菜, title_en: Ready meals,
     categories: [groceries, food_delivery], popularity: 0.1}
  - {item_id: groceries-a, kind: service, title_zh: 百货甲, title_en: Groceries A, categories: [groceries],
     popularity: 0.5}
  - {item_id: groceries-b, kind: service, title_zh: 百货乙, title_en: Groceries B, categories: [groceries],
     popularity: 0.4}
  - {item_id: groceries-c, kind: service, title_zh: 百货丙, title_en: Groceries C, categories: [groceries],
     popularity: 0.3}
  - {item_id: books-meituan, kind: offer, title_zh: 美团图书, title_en: Books on Meituan, categories: [books],
     channels: [meituan], popularity: 0.1}
  - {item_id: books-a, kind: offer, title_zh: 图书甲, title_en: Books A, categories: [books], popularity: 0.9}
  - {item_id: pets-a, kind: offer, title_zh: 宠物甲, title_en: Pets A, categories: [pets], popularity: 0.8}
"""


def broad_buyer() -> Profile:
    profile = Profile()
    buys = [("coffee", "luckin coffee", "alipay")] * 6 + [("food_delivery", "美团外卖", "meituan")] * 3
    buys.append(("groceries", "盒马", "alipay"))
    for n, (category, merchant, channel) in enumerate(buys):
        fold(profile, ALL, Purchase(f"o-{n}", n * 3_600_000_000, category, merchant, channel, "上海"))
    return profile


def test_a_long_list_keeps_the_cap_and_words_each_reason_from_the_item_s_own_link() -> None:
    catalogue = parse_catalogue(BROAD, "broad.yaml")
    shown = recommend(broad_buyer(), True, catalogue, SPRING, limit=100)
    by_id = {s.item.item_id: s for s in shown}
    firsts = [s.item.categories[0] for s in shown]
    assert all(firsts.count(code) <= PER_CATEGORY for code in firsts)
    assert len(shown) == 3 + 3 + 3 + 2 + 1  # every category up to its cap
    assert [s.item.item_id for s in shown[:3]] == ["coffee-luckin", "coffee-a", "coffee-b"]
    assert "coffee-c" not in by_id  # scored above the rest, capped out
    assert "coffee-d" not in by_id
    luckin = by_id["coffee-luckin"]
    assert luckin.reason == "frequent_merchant"
    assert luckin.reason_en == "because you often buy from Luckin Coffee"  # the item's spelling
    assert by_id["coffee-a"].reason == "frequent_category.coffee"
    # Its first category decides the cap; its reason is the category the user buys more of.
    assert by_id["groceries-meals"].reason == "frequent_category.food_delivery"
    assert by_id["groceries-meals"].reason_en == "because you often order food delivery"
    assert by_id["books-meituan"].reason == "usual_channel.meituan"
    assert by_id["books-meituan"].reason_zh == "因为你常用美团"
    assert by_id["books-meituan"].personalised
    assert by_id["pets-a"].reason == "popular_in_region"
    assert not by_id["pets-a"].personalised


def test_a_shorter_limit_gives_the_head_of_the_longer_list() -> None:
    catalogue = parse_catalogue(BROAD, "broad.yaml")
    profile = broad_buyer()
    full = recommend(profile, True, catalogue, SPRING, limit=100)
    assert len(recommend(profile, True, catalogue, SPRING)) == 10
    for limit in range(1, len(full) + 2):
        assert recommend(profile, True, catalogue, SPRING, limit=limit) == full[:limit]
