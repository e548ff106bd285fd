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
    city = profile.home_city()
    seasons = {season.id: season for season in catalogue.active_seasons(today)}
    scored: list[tuple[float, str, Suggestion]] = []
    for item in catalogue.items:
        if not item.available(today, city, catalogue):
            continue
        category, by_category = _best(item.categories, categories)
        merchant, by_merchant = _best(item.merchants, merchants, fold_case=True)
        channel, by_channel = _best(item.channels, channels)
        season = _season_of(item, seasons)
        score = (
            _CATEGORY_WEIGHT * by_category
            + _MERCHANT_WEIGHT * by_merchant
            + _CHANNEL_WEIGHT * by_channel
            + _POPULARITY_WEIGHT * item.popularity
            + (_SEASON_WEIGHT if season else 0.0)
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
        scored.append((score, item.item_id, suggestion))
    scored.sort(key=lambda entry: (-entry[0], entry[1]))
    return _diverse([suggestion for _, _, suggestion in scored], limit)


def regional(catalogue: Catalogue, today: date, limit: int = LIMIT) -> list[Suggestion]:
    """Non-personalised suggestions for the region: nationwide items, the season's first."""
    seasons = {season.id: season for season in catalogue.active_seasons(today)}
    scored = [
        (item.popularity + (1.0 if season else 0.0), item.item_id, _impersonal(item, season))
        for item in catalogue.items
        if item.available(today, None, catalogue)
        for season in (_season_of(item, seasons),)
    ]
    scored.sort(key=lambda entry: (-entry[0], entry[1]))
    return _diverse([suggestion for _, _, suggestion in scored], limit)


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


def _diverse(ranked: list[Suggestion], limit: int) -> list[Suggestion]:
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
