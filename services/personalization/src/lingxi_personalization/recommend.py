"""What a user is shown: items from the regional catalogue, best first, each with its reason.

Pure: the caller passes the profile, whether personalisation is granted, the catalogue and the day (in
China's time zone: seasons are local dates).

**Personalised** (the user granted ``personalisation`` and the profile holds purchases): an item scores
by how much of the user's recent buying falls in its categories, their favourite merchants, the
channels they pay with, plus a little of its regional popularity and some of the season (festival
buying is for everyone, habits or not); city-only items count in the city where the user shops most.
At most ``PER_CATEGORY`` items share a first category, so one habit does not fill the list. Items
with no link to the user fill the rest, marked non-personalised.

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
_SEASON_WEIGHT = 0.3
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
    # How strongly each offered item is tied to the user: the largest share among its categories, its
    # merchants, its channels. Items tied by none keep the day's impersonal order.
    category_ties = _ties(categories, view.by_category)
    merchant_ties = _ties(merchants, view.by_merchant)
    channel_ties = _ties(channels, view.by_channel)
    linked = category_ties.keys() | merchant_ties.keys() | channel_ties.keys()
    scored: list[_Entry] = []
    for item_id in linked:
        item, base_score = view.offered[item_id]
        by_category = category_ties.get(item_id, 0.0)
        # A favourite merchant counts only where the user buys: a JD regular who never buys
        # appliances is not shown JD's appliance offers.
        by_merchant = merchant_ties.get(item_id, 0.0) if by_category else 0.0
        by_channel = channel_ties.get(item_id, 0.0)
        score = (
            _CATEGORY_WEIGHT * by_category
            + _MERCHANT_WEIGHT * by_merchant
            + _CHANNEL_WEIGHT * by_channel
            + base_score
        )
        # The most specific link to the user is the reason given.
        if by_merchant > 0.0:
            link = _MERCHANT
        elif by_category > 0.0:
            link = _CATEGORY
        elif by_channel > 0.0:
            link = _CHANNEL
        else:
            link = _NONE
        scored.append((-score, item_id, item, link))
    scored.sort(key=_rank)
    others = (entry for entry in view.impersonal if entry[1] not in linked)
    # Ranking works on cheap tuples; only the suggestions shown are built, and their reason's key (the
    # item's first merchant, category or channel with the largest share) is looked up for them alone.
    shown: list[Suggestion] = []
    for _, item_id, item, link in _diverse(heapq.merge(scored, others, key=_rank), limit):
        if link == _MERCHANT:
            shown.append(_because_merchant(item, _best(item.merchants, merchants, fold_case=True)))
        elif link == _CATEGORY:
            shown.append(_because_category(item, _best(item.categories, categories), catalogue))
        elif link == _CHANNEL:
            shown.append(_because_channel(item, _best(item.channels, channels)))
        else:
            shown.append(view.impersonal_suggestions[item_id])
    return shown


def regional(catalogue: Catalogue, today: date, limit: int = LIMIT) -> list[Suggestion]:
    """Non-personalised suggestions for the region: nationwide items, the season's first."""
    return _view(catalogue, today, None).regional[:limit]


_MERCHANT, _CATEGORY, _CHANNEL, _NONE = "merchant", "category", "channel", ""
_Entry = tuple[float, str, Item, str]
"""An item as ranked: (negated score, item id, item, link). ``link`` says what ties the item to the user
most specifically (``_MERCHANT``, ``_CATEGORY``, ``_CHANNEL``; ``_NONE``: nothing, the day's impersonal
reason is given)."""


def _rank(entry: _Entry) -> tuple[float, str]:
    return entry[0], entry[1]


def _base_score(item: Item, season: Season | None) -> float:
    """What an item scores in a personalised list without any link to the user."""
    return _POPULARITY_WEIGHT * item.popularity + (_SEASON_WEIGHT if season else 0.0)


@dataclass(frozen=True, slots=True)
class _DayView:
    """What the catalogue offers on one day in one city, worked out once for every user."""

    offered: dict[str, tuple[Item, float]]
    """Item id → the item and what it scores with no link to the user, for available items only."""
    by_category: dict[str, tuple[str, ...]]
    """Category code → the ids of the available items filed under it."""
    by_merchant: dict[str, tuple[str, ...]]
    """Casefolded merchant name → the ids of the available items naming it."""
    by_channel: dict[str, tuple[str, ...]]
    """Channel → the ids of the available items taking it."""
    impersonal: list[_Entry]
    """Every available item as a personalised list ranks it with no link to the user, best first."""
    impersonal_suggestions: dict[str, Suggestion]
    """Item id → the item's non-personalised suggestion (its season's, or popular in the region)."""
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
    offered: dict[str, tuple[Item, float]] = {}
    by_category: dict[str, list[str]] = {}
    by_merchant: dict[str, list[str]] = {}
    by_channel: dict[str, list[str]] = {}
    impersonal: list[_Entry] = []
    suggestions: dict[str, Suggestion] = {}
    regional: list[_Entry] = []
    for item in catalogue.items:
        if not item.available(day, city, catalogue):
            continue
        item_id = item.item_id
        for code in dict.fromkeys(item.categories):
            by_category.setdefault(code, []).append(item_id)
        for name in dict.fromkeys(merchant.casefold() for merchant in item.merchants):
            by_merchant.setdefault(name, []).append(item_id)
        for channel in dict.fromkeys(item.channels):
            by_channel.setdefault(channel, []).append(item_id)
        season = _season_of(item, active)
        base_score = _base_score(item, season)
        offered[item_id] = (item, base_score)
        impersonal.append((-base_score, item_id, item, _NONE))
        suggestions[item_id] = _impersonal(item, season)
        if not item.cities:
            regional.append((-(item.popularity + (1.0 if season else 0.0)), item_id, item, _NONE))
    impersonal.sort(key=_rank)
    regional.sort(key=_rank)
    view = _DayView(
        offered,
        {code: tuple(ids) for code, ids in by_category.items()},
        {name: tuple(ids) for name, ids in by_merchant.items()},
        {channel: tuple(ids) for channel, ids in by_channel.items()},
        impersonal,
        suggestions,
        [suggestions[entry[1]] for entry in _diverse(regional, len(regional))],
    )
    _VIEWS[key] = (catalogue, view)
    return view


def _shares(weights: dict[str, float]) -> dict[str, float]:
    total = sum(weights.values())
    return {key: value / total for key, value in weights.items()} if total > 0.0 else {}


def _ties(shares: dict[str, float], filed: dict[str, tuple[str, ...]]) -> dict[str, float]:
    """Item id → the largest of ``shares`` among the keys the item is filed under; items under none of
    them (or only under keys with no share) are left out."""
    ties: dict[str, float] = {}
    for key, share in shares.items():
        for item_id in filed.get(key, ()):
            if share > ties.get(item_id, 0.0):
                ties[item_id] = share
    return ties


def _best(keys: tuple[str, ...], shares: dict[str, float], fold_case: bool = False) -> str:
    """The first of ``keys`` with the largest share: the one a reason names."""
    best, share = "", 0.0
    for key in keys:
        value = shares.get(key.casefold() if fold_case else key, 0.0)
        if value > share:
            best, share = key, value
    return best


def _season_of(item: Item, active: dict[str, Season]) -> Season | None:
    for season_id in item.seasons:
        if season_id in active:
            return active[season_id]
    return None


def _diverse(ranked: Iterable[_Entry], limit: int) -> list[_Entry]:
    """The first ``limit`` entries, at most ``PER_CATEGORY`` sharing a first category."""
    taken: list[_Entry] = []
    per_category: dict[str, int] = {}
    for entry in ranked:
        first = entry[2].categories[0]
        if per_category.get(first, 0) >= PER_CATEGORY:
            continue
        per_category[first] = per_category.get(first, 0) + 1
        taken.append(entry)
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
