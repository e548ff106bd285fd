"""Simulated shoppers in mainland China with hidden preferences: the purchases they would make, and the
ground truth of what they like. What ``lingxi evaluate personalization`` scores the recommender on.

Pure and deterministic: the same :class:`ShopperConfig` (seed included) and catalogue give the same
purchases, in the same order, and the same truth. No I/O, no clock: days start at ``config.start``.

How a shopper is simulated
--------------------------
Each user gets, from their own random stream (so one user does not change when another does):

- **favourite categories**: 2 to 4 of the catalogue's categories, drawn by the category's appeal (the
  mean popularity of its items: more people favour food delivery than pet supplies), with
  Dirichlet-distributed weights (a gamma draw per favourite, normalised): what the user mostly buys;
- **favourite merchants**: one or two per favourite category, drawn by popularity from the merchants the
  catalogue's items in that category name (their receipt name, the first listed), nationwide or in the
  user's home city; a generic name where a category's items name none. Most of a favourite category's
  purchases go to them;
- a **usual channel** (Alipay and WeChat Pay most often) and a **home city** (big cities weighted up);
- a **purchase rate**, 0.3 to 2 a day (log-uniform; the count each day Poisson);
- a **noise share**, 10-15%: purchases from a category drawn by appeal, whatever the user likes.

Every day in one of the catalogue's season windows (China dates) whose items name categories, users buy
``SEASON_UPLIFT`` more; those extra purchases go to the season's categories (the user's favourites among
them most, others now and then: 11.11 sells electronics to people who are not gadget fans).

Amounts are log-normal around a median per category (a coffee ¥18, a flight ¥900), in fen. Times are
China daytime (08:00-23:00, peaks at lunch and in the evening), stored in UTC. The recorded event comes
a few seconds to minutes after the purchase.
"""

from __future__ import annotations

import heapq
import math
import random
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from lingxi_personalization.catalogue import Catalogue, load_catalogue
from lingxi_personalization.moments import CHINA, micros
from lingxi_personalization.profile import Purchase

__all__ = [
    "CHINA",
    "CITIES",
    "DEFAULT_START",
    "FAVOURITES",
    "NOISE_SHARE",
    "RATE_PER_DAY",
    "SEASON_UPLIFT",
    "ShopperConfig",
    "ShopperTruth",
    "Shoppers",
    "ShoppersTruth",
    "SimulatedPurchase",
]

"""Shoppers live on China time: their day, and the catalogue's seasons, follow it."""
DEFAULT_START = date(2026, 6, 1)

FAVOURITES = (2, 4)
"""How many favourite categories a user has (inclusive range)."""
FAVOURITE_ALPHA = 1.5
"""Dirichlet concentration of the favourites' weights: below ~1 one favourite dominates, above ~5 they
are nearly equal."""
FAVOURITE_MERCHANT_SHARE = 0.8
"""Share of a favourite category's purchases made at one of the user's favourite merchants."""
USUAL_CHANNEL_SHARE = 0.75
"""Share of purchases paid through the user's usual channel (the others through one the merchant takes)."""
HOME_CITY_SHARE = 0.92
"""Share of purchases made in the home city (the rest while travelling)."""
RATE_PER_DAY = (0.3, 2.0)
"""Range of a user's mean purchases a day (log-uniform)."""
NOISE_SHARE = (0.10, 0.15)
"""Range of a user's share of purchases from a category drawn by appeal, not by their preferences."""
SEASON_UPLIFT = 0.4
"""Extra purchases on a day in a season window, as a share of the usual rate."""
SEASON_OTHER_WEIGHT = 0.05
"""Weight of a season's category the user does not favour, against their favourites' weights (which sum
to 1), when picking the category of a seasonal purchase."""

CITIES: tuple[tuple[str, float], ...] = (
    ("上海", 10.0), ("北京", 10.0), ("广州", 8.0), ("深圳", 8.0), ("成都", 6.0), ("重庆", 6.0),
    ("杭州", 6.0), ("武汉", 5.0), ("西安", 4.0), ("南京", 4.0), ("天津", 4.0), ("苏州", 4.0),
    ("长沙", 4.0), ("郑州", 3.0), ("青岛", 3.0), ("东莞", 3.0), ("沈阳", 2.0), ("昆明", 2.0),
    ("合肥", 2.0), ("厦门", 2.0),
)  # fmt: skip
"""Mainland cities users live in, weighted by how many of them do (the largest first)."""

USUAL_CHANNELS: tuple[tuple[str, float], ...] = (
    ("alipay", 0.42), ("wechat_pay", 0.38), ("meituan", 0.06), ("taobao", 0.05), ("jd", 0.05),
    ("pinduoduo", 0.03), ("eleme", 0.01),
)  # fmt: skip
"""The channel a user pays through most, and how many users do (``PurchaseChannel`` values)."""

MEDIAN_AMOUNT_FEN: Mapping[str, int] = {
    "food_delivery": 3_500, "coffee": 1_800, "tea_drinks": 1_600, "groceries": 8_000,
    "fresh_produce": 6_000, "restaurants": 12_000, "snacks": 4_000, "ride_hailing": 2_800,
    "rail_travel": 25_000, "flights": 90_000, "hotels": 42_000, "movies": 4_500,
    "electronics": 150_000, "phone_accessories": 6_000, "apparel": 25_000, "beauty": 20_000,
    "baby": 15_000, "pets": 12_000, "books": 5_000, "games": 3_000, "music": 1_500,
    "video_streaming": 2_500, "fitness": 15_000, "pharmacy": 6_000, "mobile_topup": 5_000,
    "home_appliances": 200_000,
}  # fmt: skip
"""Typical amount of one purchase per category, in fen; ``DEFAULT_AMOUNT_FEN`` for any other."""
DEFAULT_AMOUNT_FEN = 5_000
AMOUNT_SPREAD = 0.6
"""Sigma of the log-normal amount around its median."""

_HOURS = tuple(range(8, 23))
_HOUR_WEIGHTS = (2, 3, 3, 5, 8, 7, 4, 3, 3, 4, 7, 8, 7, 5, 3)
"""Local hour of a purchase, 08:00-22:59: lunch and evening peaks."""
_RECORDED_AFTER_S = (2.0, 180.0)
"""How long after the purchase the gateway records it."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ShopperConfig:
    """What shoppers to simulate."""

    users: int = 1000
    days: int = 120
    seed: int = 7
    start: date = DEFAULT_START
    """First simulated day (China date)."""

    def __post_init__(self) -> None:
        if self.users < 1:
            raise ValueError(f"users must be at least 1, got {self.users}")
        if self.days < 1:
            raise ValueError(f"days must be at least 1, got {self.days}")
        if isinstance(self.start, datetime) or not isinstance(self.start, date):
            raise ValueError(f"start must be a date (not a time), got {self.start!r}")

    @property
    def end(self) -> date:
        """The day after the last simulated day."""
        return self.start + timedelta(days=self.days)

    def to_dict(self) -> dict[str, Any]:
        return {"users": self.users, "days": self.days, "seed": self.seed, "start": self.start.isoformat()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShopperConfig:
        return cls(
            int(data["users"]), int(data["days"]), int(data["seed"]), date.fromisoformat(data["start"])
        )


@dataclass(frozen=True, slots=True)
class ShopperTruth:
    """What a user really likes (hidden from the recommender: it sees only their purchases)."""

    user_id: str
    favourites: dict[str, float]
    """Favourite categories and their weights (summing to 1), heaviest first."""
    merchants: dict[str, tuple[str, ...]]
    """Favourite merchants per favourite category."""
    home_city: str
    usual_channel: str
    rate_per_day: float
    noise_share: float

    @property
    def top_category(self) -> str:
        return next(iter(self.favourites))

    def to_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "favourites": {c: round(w, 4) for c, w in self.favourites.items()},
            "merchants": {c: list(m) for c, m in self.merchants.items()},
            "home_city": self.home_city,
            "usual_channel": self.usual_channel,
            "rate_per_day": round(self.rate_per_day, 4),
            "noise_share": round(self.noise_share, 4),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShopperTruth:
        return cls(
            user_id=str(data["user_id"]),
            favourites={str(c): float(w) for c, w in data["favourites"].items()},
            merchants={str(c): tuple(str(m) for m in ms) for c, ms in data["merchants"].items()},
            home_city=str(data["home_city"]),
            usual_channel=str(data["usual_channel"]),
            rate_per_day=float(data["rate_per_day"]),
            noise_share=float(data["noise_share"]),
        )


@dataclass(frozen=True)
class ShoppersTruth:
    """The ground truth of a simulation: its configuration and every user's hidden preferences."""

    config: ShopperConfig
    users: tuple[ShopperTruth, ...]
    _by_id: dict[str, ShopperTruth] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {u.user_id: u for u in self.users})

    def user(self, user_id: str) -> ShopperTruth:
        """One user's truth; KeyError naming them if the simulation has no such user."""
        try:
            return self._by_id[user_id]
        except KeyError:
            raise KeyError(f"user {user_id!r} is not in this simulation") from None

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(), "users": [u.to_dict() for u in self.users]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShoppersTruth:
        return cls(
            ShopperConfig.from_dict(data["config"]), tuple(ShopperTruth.from_dict(u) for u in data["users"])
        )


@dataclass(frozen=True, slots=True)
class SimulatedPurchase:
    """One purchase, as the gateway would record it (``PurchaseRecorded``)."""

    user_id: str
    purchase_id: str
    event_id: uuid.UUID
    purchased_at: datetime
    """UTC."""
    recorded_at: datetime
    """UTC: the event's ``occurred_at``."""
    category: str
    merchant: str
    channel: str
    amount_minor: int
    city: str
    kind: str
    """Why it was bought (truth, not in the event): ``favourite``, ``seasonal`` or ``noise``."""

    def to_event(self, region: str = "CN") -> dict[str, Any]:
        """The fields of a ``PurchaseRecorded`` event (JSON-ready)."""
        return {
            "event_id": str(self.event_id),
            "occurred_at": _iso(self.recorded_at),
            "schema_version": 1,
            "region": region,
            "user_id": self.user_id,
            "purchase_id": self.purchase_id,
            "merchant": self.merchant,
            "category": self.category,
            "amount_minor": self.amount_minor,
            "currency": "CNY",
            "channel": self.channel,
            "purchased_at": _iso(self.purchased_at),
            "city": self.city,
        }

    def to_purchase(self) -> Purchase:
        """The domain purchase the profile folds (as the service makes it from the event)."""
        return Purchase(
            purchase_id=self.purchase_id,
            purchased_us=micros(self.purchased_at),
            category=self.category,
            merchant=self.merchant,
            channel=self.channel,
            city=self.city,
        )


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _pick(rng: random.Random, weighted: Sequence[tuple[T, float]]) -> T:
    return rng.choices([value for value, _ in weighted], weights=[w for _, w in weighted])[0]


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0.0:
        return 0
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


@dataclass(frozen=True, slots=True)
class _Merchant:
    name: str
    weight: float
    channels: tuple[str, ...]


class _Market:
    """What the catalogue says about shopping: each category's appeal and merchants, each day's season
    categories. Worked out once per simulation."""

    def __init__(self, catalogue: Catalogue, config: ShopperConfig) -> None:
        self.categories = tuple(catalogue.categories)
        if not self.categories:
            raise ValueError("the catalogue has no categories to shop in")
        self.appeal: dict[str, float] = {}
        # merchants[(category, city)]: nationwide merchants, plus the city's own for a city
        self._nationwide: dict[str, list[_Merchant]] = {}
        self._local: dict[tuple[str, str], list[_Merchant]] = {}
        for code in self.categories:
            items = catalogue.by_category(code)
            self.appeal[code] = sum(i.popularity for i in items) / len(items) if items else 0.3
            nationwide: dict[str, _Merchant] = {}
            for item in items:
                if not item.merchants:
                    continue
                name = item.merchants[0]
                if item.cities:
                    for city in item.cities:
                        local = self._local.setdefault((code, city), [])
                        local.append(_Merchant(name, item.popularity, item.channels))
                    continue
                key = name.casefold()
                known = nationwide.get(key)
                weight = item.popularity + (known.weight if known else 0.0)
                channels = tuple(dict.fromkeys((*(known.channels if known else ()), *item.channels)))
                nationwide[key] = _Merchant(known.name if known else name, weight, channels)
            if not nationwide:
                zh = catalogue.category_name(code, "zh")
                nationwide = {n: _Merchant(n, w, ()) for n, w in ((f"{zh}旗舰店", 0.5), (f"{zh}便利店", 0.3))}
            self._nationwide[code] = list(nationwide.values())
        self.by_appeal = tuple((c, self.appeal[c]) for c in self.categories)
        season_categories: dict[str, frozenset[str]] = {}
        for item in catalogue.items:
            for season_id in item.seasons:
                season_categories[season_id] = season_categories.get(season_id, frozenset()) | set(
                    item.categories
                )
        self.days: list[tuple[date, tuple[str, ...]]] = []
        for n in range(config.days):
            day = config.start + timedelta(days=n)
            active: set[str] = set()
            for season in catalogue.active_seasons(day):
                active |= season_categories.get(season.id, frozenset())
            self.days.append((day, tuple(c for c in self.categories if c in active)))

    def merchants(self, category: str, city: str) -> list[_Merchant]:
        return self._nationwide[category] + self._local.get((category, city), [])


class _Shopper:
    """One user: hidden traits drawn at creation (``truth``), purchases made lazily (``purchases``)."""

    def __init__(self, config: ShopperConfig, market: _Market, index: int) -> None:
        self.config, self.market, self.index = config, market, index
        self.user_id = f"u-sim{config.seed}-{index:06d}"
        rng = random.Random(f"{config.seed}/{index}/traits")
        count = rng.randint(*FAVOURITES)
        chosen: list[str] = []
        candidates = list(market.by_appeal)
        while len(chosen) < min(count, len(market.categories)):
            code = _pick(rng, candidates)
            chosen.append(code)
            candidates = [(c, w) for c, w in candidates if c != code]
        draws = [rng.gammavariate(FAVOURITE_ALPHA, 1.0) for _ in chosen]
        total = sum(draws)
        ranked = sorted(zip(chosen, draws, strict=True), key=lambda cw: -cw[1])
        self.favourites = {c: w / total for c, w in ranked}
        self.home_city = _pick(rng, CITIES)
        self.usual_channel = _pick(rng, USUAL_CHANNELS)
        low, high = RATE_PER_DAY
        self.rate = math.exp(rng.uniform(math.log(low), math.log(high)))
        self.noise_share = rng.uniform(*NOISE_SHARE)
        self.favourite_merchants: dict[str, tuple[_Merchant, ...]] = {}
        for code in self.favourites:
            options = [(m, m.weight) for m in market.merchants(code, self.home_city)]
            picked: list[_Merchant] = []
            for _ in range(min(rng.randint(1, 2), len(options))):
                merchant = _pick(rng, options)
                picked.append(merchant)
                options = [(m, w) for m, w in options if m is not merchant]
            self.favourite_merchants[code] = tuple(picked)

    def truth(self) -> ShopperTruth:
        return ShopperTruth(
            user_id=self.user_id,
            favourites=dict(self.favourites),
            merchants={c: tuple(m.name for m in ms) for c, ms in self.favourite_merchants.items()},
            home_city=self.home_city,
            usual_channel=self.usual_channel,
            rate_per_day=self.rate,
            noise_share=self.noise_share,
        )

    def purchases(self) -> Iterator[SimulatedPurchase]:
        """The user's purchases in time order."""
        rng = random.Random(f"{self.config.seed}/{self.index}/purchases")
        favourites = list(self.favourites.items())
        uplift_share = SEASON_UPLIFT / (1.0 + SEASON_UPLIFT)
        number = 0
        for day, seasonal in self.market.days:
            mean = self.rate * (1.0 + SEASON_UPLIFT if seasonal else 1.0)
            times = sorted(
                (rng.choices(_HOURS, weights=_HOUR_WEIGHTS)[0], rng.randrange(60), rng.randrange(60))
                for _ in range(_poisson(rng, mean))
            )
            for hour, minute, second in times:
                if seasonal and rng.random() < uplift_share:
                    kind = "seasonal"
                    category = _pick(
                        rng, [(c, self.favourites.get(c, 0.0) + SEASON_OTHER_WEIGHT) for c in seasonal]
                    )
                elif rng.random() < self.noise_share:
                    kind, category = "noise", _pick(rng, self.market.by_appeal)
                else:
                    kind, category = "favourite", _pick(rng, favourites)
                city = self.home_city if rng.random() < HOME_CITY_SHARE else _pick(rng, CITIES)
                favoured = self.favourite_merchants.get(category, ())
                if favoured and rng.random() < FAVOURITE_MERCHANT_SHARE:
                    merchant = rng.choice(favoured)
                else:
                    merchant = _pick(rng, [(m, m.weight) for m in self.market.merchants(category, city)])
                if merchant.channels and rng.random() >= USUAL_CHANNEL_SHARE:
                    channel = rng.choice(merchant.channels)
                else:
                    channel = self.usual_channel
                local = datetime.combine(day, time(hour, minute, second), tzinfo=CHINA)
                purchased = local.astimezone(UTC)
                median = MEDIAN_AMOUNT_FEN.get(category, DEFAULT_AMOUNT_FEN)
                amount = max(100, round(median * math.exp(rng.gauss(0.0, AMOUNT_SPREAD))))
                number += 1
                yield SimulatedPurchase(
                    user_id=self.user_id,
                    purchase_id=f"{channel}-{day:%Y%m%d}{self.index:06d}{number:05d}",
                    event_id=uuid.UUID(int=rng.getrandbits(128), version=4),
                    purchased_at=purchased,
                    recorded_at=purchased + timedelta(seconds=round(rng.uniform(*_RECORDED_AFTER_S), 3)),
                    category=category,
                    merchant=merchant.name,
                    channel=channel,
                    amount_minor=amount,
                    city=city,
                    kind=kind,
                )


class Shoppers:
    """A simulation: users with hidden preferences (``truth``) and their purchases (``purchases``)."""

    def __init__(self, config: ShopperConfig | None = None, catalogue: Catalogue | None = None) -> None:
        self.config = config or ShopperConfig()
        self.catalogue = catalogue or load_catalogue()
        self._market = _Market(self.catalogue, self.config)
        self._users = [_Shopper(self.config, self._market, i) for i in range(self.config.users)]
        self.truth = ShoppersTruth(self.config, tuple(u.truth() for u in self._users))

    def purchases(self) -> Iterator[SimulatedPurchase]:
        """Every user's purchases merged in the order they happened (ties: by user), made lazily."""
        return heapq.merge(*(u.purchases() for u in self._users), key=lambda p: p.purchased_at)

    def user_purchases(self, user_id: str) -> Iterator[SimulatedPurchase]:
        """One user's purchases in time order."""
        self.truth.user(user_id)  # KeyError naming a stranger
        return self._users[int(user_id.rsplit("-", 1)[1])].purchases()
