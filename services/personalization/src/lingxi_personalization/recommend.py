"""What a user is shown: items from the regional catalogue, best first, each with its reason.

Pure: the caller passes the profile, whether personalisation is granted, the catalogue and the day (in
China's time zone: seasons are local dates).

**Personalised** (the user granted ``personalisation`` and the profile holds purchases): an item scores
by how much of the user's recent buying falls in its categories, their favourite merchants, the
channels they pay with, plus a little of its regional popularity and of the season; city-only items
count in the city where the user shops most. At most ``PER_CATEGORY`` items share a first category, so
one habit does not fill the list. Items with no link to the user fill the rest, marked
non-personalised.

**Regional** (personalisation off, or nothing known yet): the nationwide items by popularity, the
season's own items first when one is on; every item is marked non-personalised (Provisions on
Algorithmic Recommendation: switching personalisation off must give non-personalised suggestions).

Each suggestion carries a reason code (``frequent_category.coffee``, ``frequent_merchant``,
``usual_channel.alipay``, ``seasonal.singles_day``, ``popular_in_region``) and its wording in Chinese
and English ("因为你经常点咖啡" / "because you often order coffee").
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from lingxi_personalization.catalogue import Catalogue, Item, Season
from lingxi_personalization.profile import Profile

__all__ = ["LIMIT", "PER_CATEGORY", "Suggestion", "recommend", "regional"]

LIMIT = 10
PER_CATEGORY = 3
_CATEGORY_WEIGHT = 1.0
_MERCHANT_WEIGHT = 0.6
_CHANNEL_WEIGHT = 0.2
_POPULARITY_WEIGHT = 0.15
_SEASON_WEIGHT = 0.1
_ORDERED = frozenset({"food_delivery", "coffee", "tea_drinks", "restaurants", "snacks", "ride_hailing"})
"""Categories one "orders" rather than "buys" (the English and Chinese reasons say so)."""
_CHANNEL_NAMES = {
    "alipay": ("支付宝", "Alipay"),
    "wechat_pay": ("微信支付", "WeChat Pay"),
    "taobao": ("淘宝", "Taobao"),
    "jd": ("京东", "JD"),
    "meituan": ("美团", "Meituan"),
    "eleme": ("饿了么", "Ele.me"),
    "pinduoduo": ("拼多多", "Pinduoduo"),
}


@dataclass(frozen=True, slots=True)
class Suggestion:
    item: Item
    reason: str
    """A dotted code the device can word itself."""
    reason_zh: str
    reason_en: str
    personalised: bool


def recommend(
    profile: Profile | None,
    personalise: bool,
    catalogue: Catalogue,
    today: date,
    limit: int = LIMIT,
) -> list[Suggestion]:
    """The user's list (module doc): personalised when allowed and something is known, else regional."""
    if not personalise or profile is None or profile.empty:
        return regional(catalogue, today, limit)
    categories = _shares(profile.categories)
    merchants = {name.casefold(): share for name, share in _shares(profile.merchants).items()}
    channels = _shares(profile.channels)
    view = _view(catalogue, today, profile.home_city())
    # Only the items linked to the user are scored here; the others keep the day's impersonal order.
    linked: dict[str, Item] = {}
    for code in categories:
        linked.update((item.item_id, item) for item in catalogue.by_category(code))
    for name in profile.merchants:
        linked.update((item.item_id, item) for item in catalogue.by_merchant(name))
    for channel in channels:
        linked.update((item.item_id, item) for item in view.by_channel.get(channel, ()))
    scored: list[tuple[float, str, Suggestion]] = []
    for item_id, item in linked.items():
        if item_id not in view.seasons:
            continue  # not offered that day, or not in the user's city
        season = view.seasons[item_id]
        category, by_category = _best(item.categories, categories)
        # A favourite merchant counts only where the user buys: a JD regular who never buys
        # appliances is not shown JD's appliance offers.
        merchant, by_merchant = _best(item.merchants, merchants, fold_case=True) if by_category else ("", 0.0)
        channel, by_channel = _best(item.channels, channels)
        score = (
            _CATEGORY_WEIGHT * by_category
            + _MERCHANT_WEIGHT * by_merchant
            + _CHANNEL_WEIGHT * by_channel
            + _base_score(item, season)
        )
        # The most specific link to the user is the reason given.
        if by_merchant > 0.0:
            suggestion = _because_merchant(item, merchant)
        elif by_category > 0.0:
            suggestion = _because_category(item, category, catalogue)
        elif by_channel > 0.0:
            suggestion = _because_channel(item, channel)
        else:
            suggestion = _impersonal(item, season)
        scored.append((-score, item_id, suggestion))
    scored.sort(key=_rank)
    others = (entry for entry in view.impersonal if entry[1] not in linked)
    return _diverse((entry[2] for entry in heapq.merge(scored, others, key=_rank)), limit)


def regional(catalogue: Catalogue, today: date, limit: int = LIMIT) -> list[Suggestion]:
    """Non-personalised suggestions for the region: nationwide items, the season's first."""
    return _view(catalogue, today, None).regional[:limit]


def _rank(entry: tuple[float, str, Suggestion]) -> tuple[float, str]:
    return entry[0], entry[1]


def _base_score(item: Item, season: Season | None) -> float:
    """What an item scores in a personalised list without any link to the user."""
    return _POPULARITY_WEIGHT * item.popularity + (_SEASON_WEIGHT if season else 0.0)


@dataclass(frozen=True, slots=True)
class _DayView:
    """What the catalogue offers on one day in one city, worked out once for every user."""

    seasons: dict[str, Season | None]
    """Item id → the active season it belongs to (None: a year-round item), for available items only."""
    by_channel: dict[str, tuple[Item, ...]]
    impersonal: list[tuple[float, str, Suggestion]]
    """Every available item as a personalised list ranks it with no link to the user (negated score)."""
    regional: list[Suggestion]
    """The regional list (non-personalised ranking, at most ``PER_CATEGORY`` a category), in full."""


_VIEWS: dict[tuple[int, date, str | None], tuple[Catalogue, _DayView]] = {}


def _view(catalogue: Catalogue, day: date, city: str | None) -> _DayView:
    key = (id(catalogue), day, city)
    cached = _VIEWS.get(key)
    if cached is not None and cached[0] is catalogue:
        return cached[1]
    if len(_VIEWS) > 1024:  # days pass and cities are few: a bound, not an eviction policy
        _VIEWS.clear()
    active = {season.id: season for season in catalogue.active_seasons(day)}
    seasons: dict[str, Season | None] = {}
    by_channel: dict[str, list[Item]] = {}
    impersonal: list[tuple[float, str, Suggestion]] = []
    regional: list[tuple[float, str, Suggestion]] = []
    for item in catalogue.items:
        if not item.available(day, city, catalogue):
            continue
        season = _season_of(item, active)
        seasons[item.item_id] = season
        for channel in item.channels:
            by_channel.setdefault(channel, []).append(item)
        suggestion = _impersonal(item, season)
        impersonal.append((-_base_score(item, season), item.item_id, suggestion))
        if not item.cities:
            regional.append((-(item.popularity + (1.0 if season else 0.0)), item.item_id, suggestion))
    impersonal.sort(key=_rank)
    regional.sort(key=_rank)
    view = _DayView(
        seasons,
        {channel: tuple(items) for channel, items in by_channel.items()},
        impersonal,
        _diverse((entry[2] for entry in regional), len(regional)),
    )
    _VIEWS[key] = (catalogue, view)
    return view


def _shares(weights: dict[str, float]) -> dict[str, float]:
    total = sum(weights.values())
    return {key: value / total for key, value in weights.items()} if total > 0.0 else {}


def _best(keys: tuple[str, ...], shares: dict[str, float], fold_case: bool = False) -> tuple[str, float]:
    best, share = "", 0.0
    for key in keys:
        value = shares.get(key.casefold() if fold_case else key, 0.0)
        if value > share:
            best, share = key, value
    return best, share


def _season_of(item: Item, active: dict[str, Season]) -> Season | None:
    for season_id in item.seasons:
        if season_id in active:
            return active[season_id]
    return None


def _diverse(ranked: Iterable[Suggestion], limit: int) -> list[Suggestion]:
    """The first ``limit`` suggestions, at most ``PER_CATEGORY`` sharing a first category."""
    taken: list[Suggestion] = []
    per_category: dict[str, int] = {}
    for suggestion in ranked:
        first = suggestion.item.categories[0]
        if per_category.get(first, 0) >= PER_CATEGORY:
            continue
        per_category[first] = per_category.get(first, 0) + 1
        taken.append(suggestion)
        if len(taken) == limit:
            break
    return taken


def _impersonal(item: Item, season: Season | None) -> Suggestion:
    if season is not None:
        return Suggestion(
            item, f"seasonal.{season.id}", f"{season.name_zh}精选", f"For {season.name_en}", False
        )
    return Suggestion(item, "popular_in_region", "本地热门", "Popular in your region", False)


def _because_category(item: Item, category: str, catalogue: Catalogue) -> Suggestion:
    zh, en = catalogue.category_name(category, "zh"), catalogue.category_name(category, "en")
    if category in _ORDERED:
        wording = (f"因为你经常点{zh}", f"because you often order {en.lower()}")
    else:
        wording = (f"因为你经常购买{zh}", f"because you often buy {en.lower()}")
    return Suggestion(item, f"frequent_category.{category}", *wording, True)


def _because_merchant(item: Item, merchant: str) -> Suggestion:
    return Suggestion(
        item, "frequent_merchant", f"因为你常在{merchant}消费", f"because you often buy from {merchant}", True
    )


def _because_channel(item: Item, channel: str) -> Suggestion:
    zh, en = _CHANNEL_NAMES.get(channel, (channel, channel))
    return Suggestion(
        item, f"usual_channel.{channel}", f"因为你常用{zh}", f"because you usually use {en}", True
    )
