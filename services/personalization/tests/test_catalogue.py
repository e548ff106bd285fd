"""The regional catalogue: the packaged file meets its content rules, seasons open and close on the right
local dates, and a malformed file is refused with a message naming the entry and field."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from importlib import resources
from pathlib import Path

import pytest
import yaml
from lingxi_personalization.catalogue import (
    APP_IDS,
    CATALOGUE_FILE_ENV,
    CHANNELS,
    Catalogue,
    Item,
    ItemKind,
    load_catalogue,
    parse_catalogue,
)

# The assistant's openable third-party apps and the codes other code relies on: contracts, not data.
ASSISTANT_APPS = {
    "wechat", "alipay", "amap", "baidu_maps", "taobao", "tmall", "jd", "pinduoduo", "meituan",
    "dianping", "eleme", "didi", "ctrip", "railway12306", "douyin", "kuaishou", "bilibili",
    "xiaohongshu", "weibo", "zhihu", "qq", "qq_music", "netease_music", "kugou", "tencent_video",
    "iqiyi", "youku", "dingtalk", "feishu", "baidu"
}  # fmt: skip
REQUIRED_CATEGORIES = {
    "food_delivery", "coffee", "tea_drinks", "groceries", "fresh_produce", "restaurants", "snacks",
    "ride_hailing", "rail_travel", "flights", "hotels", "movies", "electronics", "phone_accessories",
    "apparel", "beauty", "baby", "pets", "books", "games", "music", "video_streaming", "fitness",
    "pharmacy", "mobile_topup", "home_appliances"
}  # fmt: skip
REQUIRED_SEASONS = {
    "singles_day", "mid_year_618", "double_12", "national_day", "back_to_school", "spring_festival",
    "mid_autumn", "dragon_boat", "qixi"
}  # fmt: skip
HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(autouse=True)
def _fresh_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(CATALOGUE_FILE_ENV, raising=False)
    load_catalogue.cache_clear()
    yield
    load_catalogue.cache_clear()


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    """The packaged file, parsed once for the module (``load_catalogue`` itself is tested below)."""
    packaged = resources.files("lingxi_personalization").joinpath("data", "catalogue.yaml")
    return parse_catalogue(packaged.read_text(encoding="utf-8"), "catalogue.yaml")


def _plain(item: Item) -> bool:
    return not item.cities and not item.seasons


# --- the packaged file -----------------------------------------------------------------------------


def test_packaged_file_has_the_required_categories_seasons_and_item_count(catalogue: Catalogue) -> None:
    assert set(catalogue.categories) >= REQUIRED_CATEGORIES
    assert set(catalogue.seasons) >= REQUIRED_SEASONS
    assert 90 <= len(catalogue.items) <= 130
    assert {item.kind for item in catalogue.items} == set(ItemKind)
    for category in catalogue.categories.values():
        assert HAN.search(category.name_zh), category
        assert category.name_en.isascii(), category


def test_every_category_has_three_nationwide_year_round_items(catalogue: Catalogue) -> None:
    for code in catalogue.categories:
        plain = [item.item_id for item in catalogue.by_category(code) if _plain(item)]
        assert len(plain) >= 3, (code, plain)


def test_meituan_and_eleme_each_have_a_food_delivery_app(catalogue: Catalogue) -> None:
    for app in ("meituan", "eleme"):
        apps = [
            item
            for item in catalogue.by_category("food_delivery")
            if item.kind is ItemKind.APP and item.app_id == app and item.channels == (app,) and _plain(item)
        ]
        assert apps, app


def test_every_season_has_two_items(catalogue: Catalogue) -> None:
    for season_id in catalogue.seasons:
        assert sum(season_id in item.seasons for item in catalogue.items) >= 2, season_id


def test_city_items_span_four_cities(catalogue: Catalogue) -> None:
    local = [item for item in catalogue.items if item.cities]
    assert len(local) >= 8
    assert len({city for item in local for city in item.cities}) >= 4
    assert all(HAN.search(city) for item in local for city in item.cities)


def test_items_are_well_formed(catalogue: Catalogue) -> None:
    for item in catalogue.items:
        assert item.app_id is None or item.app_id in ASSISTANT_APPS, item.item_id
        assert set(item.channels) <= CHANNELS, item.item_id
        assert HAN.search(item.title_zh), item.item_id
        assert 0.0 < item.popularity <= 1.0, item.item_id
    assert len({item.item_id for item in catalogue.items}) == len(catalogue.items)


def test_the_loader_knows_the_assistants_app_ids() -> None:
    assert APP_IDS == ASSISTANT_APPS
    apps = pytest.importorskip("lingxi_assistant.apps")
    assert {app.id for app in apps.CATALOGUE if not app.system} >= APP_IDS


def test_lookups(catalogue: Catalogue) -> None:
    first = catalogue.items[0]
    assert catalogue.item(first.item_id) is first
    with pytest.raises(KeyError, match="no-such-item"):
        catalogue.item("no-such-item")
    assert catalogue.by_category("no_such_category") == ()
    assert all("coffee" in item.categories for item in catalogue.by_category("coffee"))
    assert catalogue.category_name("coffee", "zh") == catalogue.categories["coffee"].name_zh
    assert catalogue.category_name("coffee", "en") == catalogue.categories["coffee"].name_en
    assert catalogue.category_name("no_such_category", "en") == "no_such_category"


def test_by_merchant_ignores_case(catalogue: Catalogue) -> None:
    name = next(m for item in catalogue.items for m in item.merchants if m.lower() != m.upper())
    found = catalogue.by_merchant(name)
    assert found
    assert all(name.casefold() in {m.casefold() for m in item.merchants} for item in found)
    assert catalogue.by_merchant(name.upper()) == found
    assert catalogue.by_merchant(name.lower()) == found
    assert catalogue.by_merchant(name[:-1]) == ()  # exact, not a prefix
    assert catalogue.by_merchant("no such merchant") == ()


# --- seasons ---------------------------------------------------------------------------------------


def test_singles_day_ends_on_eleven_eleven(catalogue: Catalogue) -> None:
    season = catalogue.seasons["singles_day"]
    assert season.window(2026) == (date(2026, 10, 20), date(2026, 11, 11))
    assert season.contains(date(2026, 11, 11))
    assert season.contains(date(2026, 10, 20))
    assert not season.contains(date(2026, 11, 12))
    assert not season.contains(date(2026, 10, 19))


def test_spring_festival_2027_lies_around_new_years_day(catalogue: Catalogue) -> None:
    season = catalogue.seasons["spring_festival"]
    new_year = date(2027, 2, 6)
    assert season.window(2027) == (new_year - timedelta(days=21), new_year + timedelta(days=15))
    assert season.contains(new_year)
    assert season.contains(new_year - timedelta(days=21))
    assert season.contains(new_year + timedelta(days=15))
    assert not season.contains(new_year - timedelta(days=22))
    assert not season.contains(new_year + timedelta(days=16))
    assert season.window(2099) is None
    assert not season.contains(date(2099, 2, 1))


def test_lunar_festivals_have_a_window_each_year_from_2025_to_2032(catalogue: Catalogue) -> None:
    for season_id in ("spring_festival", "mid_autumn", "dragon_boat", "qixi"):
        season = catalogue.seasons[season_id]
        for year in range(2025, 2033):
            window = season.window(year)
            assert window is not None, (season_id, year)
            assert window[0].year == year, (season_id, year)
            assert season.contains(window[0])
            assert season.contains(window[1])


def test_fixed_window_wraps_the_new_year() -> None:
    catalogue = parse_catalogue(_document(seasons=[_season(month_day_start="12-20", month_day_end="01-05")]))
    season = catalogue.seasons["winter"]
    assert season.window(2026) == (date(2026, 12, 20), date(2027, 1, 5))
    for inside in (date(2026, 12, 20), date(2026, 12, 31), date(2027, 1, 1), date(2027, 1, 5)):
        assert season.contains(inside), inside
    for outside in (date(2026, 12, 19), date(2027, 1, 6), date(2026, 6, 1)):
        assert not season.contains(outside), outside


def test_anchored_window_may_begin_in_the_december_before() -> None:
    season = _season(anchor_dates={2040: "2040-01-10"}, days_before=21, days_after=0)
    catalogue = parse_catalogue(_document(seasons=[season]))
    assert catalogue.seasons["winter"].contains(date(2039, 12, 20))
    assert not catalogue.seasons["winter"].contains(date(2039, 12, 19))


def test_active_seasons(catalogue: Catalogue) -> None:
    assert [s.id for s in catalogue.active_seasons(date(2026, 11, 11))] == ["singles_day"]
    assert "national_day" in {s.id for s in catalogue.active_seasons(date(2026, 10, 1))}
    assert "mid_autumn" in {s.id for s in catalogue.active_seasons(date(2026, 9, 25))}
    assert catalogue.active_seasons(date(2026, 7, 15)) == []


# --- availability ----------------------------------------------------------------------------------


def test_available_honours_seasons(catalogue: Catalogue) -> None:
    seasonal = next(item for item in catalogue.items if item.seasons == ("singles_day",) and not item.cities)
    assert seasonal.available(date(2026, 11, 1), None, catalogue)
    assert seasonal.available(date(2026, 11, 1), "上海", catalogue)
    assert not seasonal.available(date(2026, 11, 12), None, catalogue)
    plain = next(item for item in catalogue.items if _plain(item))
    assert plain.available(date(2026, 11, 12), None, catalogue)
    assert plain.available(date(2026, 3, 3), "成都", catalogue)


def test_available_honours_cities(catalogue: Catalogue) -> None:
    local = next(item for item in catalogue.items if item.cities and not item.seasons)
    city = local.cities[0]
    other = next(c for item in catalogue.items for c in item.cities if c not in local.cities)
    day = date(2026, 3, 3)
    assert local.available(day, city, catalogue)
    assert not local.available(day, other, catalogue)
    assert not local.available(day, None, catalogue)


def test_available_combines_season_and_city() -> None:
    document = _document(seasons=[_season(month_day_start="12-20", month_day_end="01-05")])
    data = yaml.safe_load(document)
    data["items"][0].update(cities=["上海"], seasons=["winter"])
    catalogue = parse_catalogue(yaml.safe_dump(data, allow_unicode=True))
    item = catalogue.items[0]
    assert item.available(date(2027, 1, 2), "上海", catalogue)
    assert not item.available(date(2027, 1, 2), "北京", catalogue)
    assert not item.available(date(2027, 2, 2), "上海", catalogue)


# --- the operator's file ---------------------------------------------------------------------------


def test_the_environment_points_at_another_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, catalogue: Catalogue
) -> None:
    packaged = load_catalogue()
    assert packaged == catalogue
    path = tmp_path / "catalogue.yaml"
    path.write_text(_document(), encoding="utf-8")
    monkeypatch.setenv(CATALOGUE_FILE_ENV, str(path))
    assert load_catalogue() is packaged  # read once per process
    load_catalogue.cache_clear()
    overridden = load_catalogue()
    assert [item.item_id for item in overridden.items] == ["cn-test-item"]
    assert overridden != packaged


def test_a_bad_operator_file_names_itself(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("categories: []\n", encoding="utf-8")
    monkeypatch.setenv(CATALOGUE_FILE_ENV, str(path))
    with pytest.raises(ValueError, match=re.escape(str(path))):
        load_catalogue()


# --- malformed documents ---------------------------------------------------------------------------


def _season(**window: object) -> dict[str, object]:
    return {"id": "winter", "name_zh": "冬季", "name_en": "Winter", **window}


def _item(**changes: object) -> dict[str, object]:
    item: dict[str, object] = {
        "item_id": "cn-test-item",
        "kind": "offer",
        "title_zh": "测试券",
        "title_en": "Test coupon",
        "categories": ["coffee"],
        "channels": ["alipay"],
        "popularity": 0.5,
    }
    item.update(changes)
    return {key: value for key, value in item.items() if value is not None}


def _document(
    *,
    categories: list[object] | None = None,
    seasons: list[object] | None = None,
    items: list[object] | None = None,
) -> str:
    return yaml.safe_dump(
        {
            "categories": categories or [{"code": "coffee", "name_zh": "咖啡", "name_en": "Coffee"}],
            "seasons": seasons or [_season(month_day_start="12-20", month_day_end="01-05")],
            "items": items or [_item()],
        },
        allow_unicode=True,
    )


def test_a_minimal_document_parses() -> None:
    catalogue = parse_catalogue(_document(), "mini.yaml")
    (item,) = catalogue.items
    assert item.kind is ItemKind.OFFER
    assert (item.merchants, item.cities, item.seasons, item.app_id) == ((), (), (), None)


MALFORMED: list[tuple[str, str, str]] = [
    ("not a mapping", "- just\n- a list\n", "expected a mapping"),
    ("not yaml", "categories: [unclosed\n", "not valid YAML"),
    ("unknown top-level key", _document().replace("items:", "things:"), "unknown field 'things'"),
    ("items missing", yaml.safe_dump({**yaml.safe_load(_document()), "items": None}), "missing items"),
    (
        "items not a list",
        yaml.safe_dump({**yaml.safe_load(_document()), "items": "x"}),
        "items must be a list",
    ),
    ("blank title", _document(items=[_item(title_en="  ")]), "item cn-test-item: title_en is blank"),
    ("missing title", _document(items=[_item(title_zh=None)]), "item cn-test-item: missing title_zh"),
    ("long title", _document(items=[_item(title_en="x" * 129)]), "title_en is longer than 128"),
    ("bad item id", _document(items=[_item(item_id="Bad Id")]), "item 1: item_id 'Bad Id' does not match"),
    (
        "unknown category",
        _document(items=[_item(categories=["cofee"])]),
        "item cn-test-item: unknown category 'cofee'",
    ),
    ("no category", _document(items=[_item(categories=[])]), "categories is empty"),
    ("categories not a list", _document(items=[_item(categories="coffee")]), "categories must be a list"),
    ("unknown season", _document(items=[_item(seasons=["xmas"])]), "unknown season 'xmas'"),
    ("unknown channel", _document(items=[_item(channels=["paypal"])]), "unknown channel 'paypal'"),
    ("unknown app", _document(items=[_item(app_id="tiktok")]), "unknown app_id 'tiktok'"),
    ("unknown kind", _document(items=[_item(kind="coupon")]), "unknown kind 'coupon'"),
    ("unknown field", _document(items=[_item(price=9.9)]), "item 1: unknown field 'price'"),
    ("popularity zero", _document(items=[_item(popularity=0)]), "popularity must be a number in (0, 1]"),
    ("popularity high", _document(items=[_item(popularity=1.5)]), "popularity must be a number in (0, 1]"),
    ("popularity text", _document(items=[_item(popularity="high")]), "popularity must be a number"),
    ("duplicate item", _document(items=[_item(), _item()]), "item cn-test-item: duplicate item_id"),
    ("duplicate channel", _document(items=[_item(channels=["jd", "jd"])]), "channels lists 'jd' twice"),
    (
        "duplicate category",
        _document(categories=[{"code": "coffee", "name_zh": "咖啡", "name_en": "Coffee"}] * 2),
        "category coffee: duplicate code",
    ),
    (
        "bad category code",
        _document(categories=[{"code": "Coffee", "name_zh": "咖啡", "name_en": "Coffee"}]),
        "category 1: code 'Coffee' does not match",
    ),
    (
        "category without name",
        _document(categories=[{"code": "coffee", "name_en": "Coffee"}]),
        "category coffee: missing name_zh",
    ),
    ("season without window", _document(seasons=[_season()]), "season winter: needs a window"),
    (
        "season with both windows",
        _document(
            seasons=[
                _season(month_day_start="12-20", month_day_end="01-05", anchor_dates={2026: "2026-02-17"})
            ]
        ),
        "season winter: has both",
    ),
    (
        "season half a window",
        _document(seasons=[_season(month_day_start="12-20")]),
        "season winter: missing month_day_end",
    ),
    (
        "bad month day",
        _document(seasons=[_season(month_day_start="13-01", month_day_end="01-05")]),
        "'13-01' is not a date",
    ),
    (
        "leap day",
        _document(seasons=[_season(month_day_start="02-29", month_day_end="03-05")]),
        "'02-29' is not a date",
    ),
    (
        "bad anchor date",
        _document(seasons=[_season(anchor_dates={2026: "2026-02-30"}, days_before=1, days_after=1)]),
        "anchor_dates 2026: '2026-02-30' is not a date",
    ),
    (
        "anchor in the wrong year",
        _document(seasons=[_season(anchor_dates={2026: "2027-02-06"}, days_before=1, days_after=1)]),
        "anchor_dates 2026: 2027-02-06 is not the one date of 2026",
    ),
    (
        "negative days",
        _document(seasons=[_season(anchor_dates={2026: "2026-02-17"}, days_before=-1, days_after=1)]),
        "season winter: days_before must be a whole number",
    ),
    (
        "duplicate season",
        _document(seasons=[_season(month_day_start="12-20", month_day_end="01-05")] * 2),
        "season winter: duplicate id",
    ),
    ("entry not a mapping", _document(items=["cn-test-item"]), "item 1: expected a mapping"),
]


@pytest.mark.parametrize(
    ("text", "message"), [(t, m) for _, t, m in MALFORMED], ids=[n for n, _, _ in MALFORMED]
)
def test_malformed_documents_are_refused_with_the_problem_named(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=r"^bad\.yaml: ") as refused:
        parse_catalogue(text, "bad.yaml")
    assert message in str(refused.value)
