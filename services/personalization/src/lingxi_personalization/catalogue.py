"""The regional catalogue: what the personalization service can suggest to users in mainland China.

The packaged file (``lingxi_personalization/data/catalogue.yaml``) is one YAML mapping with three lists;
an operator points ``LINGXI_CATALOGUE_FILE`` at another file of the same shape::

    categories:             # what purchases and items are filed under
      - {code: coffee, name_zh: 咖啡, name_en: Coffee}
    seasons:                # seasonal moments, local (China) dates, windows inclusive
      - {id: singles_day, name_zh: 双十一, name_en: Singles' Day,
         month_day_start: "10-20", month_day_end: "11-11"}     # fixed; may wrap the year end
      - {id: spring_festival, name_zh: 春节, name_en: Spring Festival,
         anchor_dates: {2026: "2026-02-17", ...},               # lunar: the festival day per year
         days_before: 21, days_after: 15}
    items:
      - item_id: cn-coffee-luckin-coupon                       # [a-z0-9][a-z0-9._-]*
        kind: offer                                            # service | app | offer
        title_zh: 瑞幸咖啡 9.9 元券                              # both titles at most 128 characters
        title_en: Luckin Coffee 9.9-yuan coupon
        categories: [coffee]                                   # at least one category code
        merchants: [瑞幸咖啡, Luckin Coffee]                    # optional: names as on receipts
        channels: [alipay, wechat_pay]                         # optional: see CHANNELS
        app_id: alipay                                         # optional: the assistant's app to open
        cities: [上海]                                          # optional: absent means nationwide
        seasons: [singles_day]                                 # optional: offered only in those windows
        popularity: 0.9                                        # regional baseline appeal, in (0, 1]

``parse_catalogue`` checks all of it and names the file, the entry and the field of the first problem.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml

__all__ = [
    "APP_IDS",
    "CATALOGUE_FILE_ENV",
    "CHANNELS",
    "Catalogue",
    "Category",
    "Item",
    "ItemKind",
    "Season",
    "load_catalogue",
    "parse_catalogue",
]

CATALOGUE_FILE_ENV = "LINGXI_CATALOGUE_FILE"
"""An operator points this at another file of the same shape."""

CHANNELS = frozenset({"alipay", "wechat_pay", "taobao", "jd", "meituan", "eleme", "pinduoduo", "other"})
"""Where a purchase is made or paid (``lingxi.events.personalization.PurchaseChannel``)."""

APP_IDS = frozenset(
    {
        "wechat", "alipay", "amap", "baidu_maps", "taobao", "tmall", "jd", "pinduoduo", "meituan",
        "dianping", "eleme", "didi", "ctrip", "railway12306", "douyin", "kuaishou", "bilibili",
        "xiaohongshu", "weibo", "zhihu", "qq", "qq_music", "netease_music", "kugou", "tencent_video",
        "iqiyi", "youku", "dingtalk", "feishu", "baidu",
    }
)  # fmt: skip
"""The third-party apps the assistant can open on the handset (``lingxi_assistant.apps``)."""

TITLE_MAX = 128

_CODE = re.compile(r"[a-z][a-z0-9_]*")
_ITEM_ID = re.compile(r"[a-z0-9][a-z0-9._-]*")
_MONTH_DAY = re.compile(r"(\d{2})-(\d{2})")
_FIXED = ("month_day_start", "month_day_end")
_ANCHORED = ("anchor_dates", "days_before", "days_after")


class ItemKind(StrEnum):
    SERVICE = "service"
    APP = "app"
    OFFER = "offer"


@dataclass(frozen=True, slots=True)
class Category:
    code: str
    name_zh: str
    name_en: str


@dataclass(frozen=True, slots=True)
class Season:
    """A seasonal moment: a fixed yearly window (``start``/``end`` as (month, day)) or a window of
    ``days_before``/``days_after`` around a per-year ``anchors`` date (lunar festivals)."""

    id: str
    name_zh: str
    name_en: str
    start: tuple[int, int] | None = None
    end: tuple[int, int] | None = None
    anchors: tuple[tuple[int, date], ...] = ()
    days_before: int = 0
    days_after: int = 0

    def window(self, year: int) -> tuple[date, date] | None:
        """The inclusive window of ``year``: a fixed one starts in ``year`` (and ends in ``year + 1`` when
        it wraps the year end); an anchored one lies around ``year``'s anchor. None when the table has no
        anchor for ``year``."""
        if self.start is not None and self.end is not None:
            last_year = year if self.end >= self.start else year + 1
            return date(year, *self.start), date(last_year, *self.end)
        for anchor_year, anchor in self.anchors:
            if anchor_year == year:
                return anchor - timedelta(days=self.days_before), anchor + timedelta(days=self.days_after)
        return None

    def contains(self, day: date) -> bool:
        """Whether ``day`` falls in a window (that of ``day.year``, of the year before, or of the year
        after for an anchored window that begins in late December)."""
        for year in (day.year - 1, day.year, day.year + 1):
            window = self.window(year)
            if window is not None and window[0] <= day <= window[1]:
                return True
        return False


@dataclass(frozen=True, slots=True)
class Item:
    item_id: str
    kind: ItemKind
    title_zh: str
    title_en: str
    categories: tuple[str, ...]
    merchants: tuple[str, ...]
    channels: tuple[str, ...]
    app_id: str | None
    cities: tuple[str, ...]
    seasons: tuple[str, ...]
    popularity: float

    def available(self, day: date, city: str | None, catalogue: Catalogue) -> bool:
        """In season (no seasons, or one of them contains ``day``) and offered in ``city`` (nationwide
        items everywhere, city items only there: never to an unknown city)."""
        if self.cities and city not in self.cities:
            return False
        if not self.seasons:
            return True
        return any(
            season is not None and season.contains(day)
            for season in (catalogue.seasons.get(season_id) for season_id in self.seasons)
        )


@dataclass(frozen=True)
class Catalogue:
    categories: dict[str, Category]
    seasons: dict[str, Season]
    items: tuple[Item, ...]
    _by_id: dict[str, Item] = field(init=False, repr=False, compare=False)
    _by_category: dict[str, tuple[Item, ...]] = field(init=False, repr=False, compare=False)
    _by_merchant: dict[str, tuple[Item, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_category: dict[str, list[Item]] = {}
        by_merchant: dict[str, list[Item]] = {}
        for item in self.items:
            for code in dict.fromkeys(item.categories):
                by_category.setdefault(code, []).append(item)
            for name in dict.fromkeys(merchant.casefold() for merchant in item.merchants):
                by_merchant.setdefault(name, []).append(item)
        object.__setattr__(self, "_by_id", {item.item_id: item for item in self.items})
        object.__setattr__(self, "_by_category", {code: tuple(found) for code, found in by_category.items()})
        object.__setattr__(self, "_by_merchant", {name: tuple(found) for name, found in by_merchant.items()})

    def item(self, item_id: str) -> Item:
        try:
            return self._by_id[item_id]
        except KeyError:
            raise KeyError(f"no catalogue item {item_id!r}") from None

    def by_category(self, code: str) -> tuple[Item, ...]:
        """The items filed under ``code`` (in file order); () for an unknown code."""
        return self._by_category.get(code, ())

    def by_merchant(self, merchant: str) -> tuple[Item, ...]:
        """The items naming ``merchant`` (case-insensitive, otherwise exact); () when none."""
        return self._by_merchant.get(merchant.casefold(), ())

    def active_seasons(self, day: date) -> list[Season]:
        return [season for season in self.seasons.values() if season.contains(day)]

    def category_name(self, code: str, language: Literal["zh", "en"]) -> str:
        """The category's name in ``language``; the code itself for an unknown category."""
        category = self.categories.get(code)
        if category is None:
            return code
        return category.name_zh if language == "zh" else category.name_en


@cache
def load_catalogue() -> Catalogue:
    """The catalogue (read once per process): ``LINGXI_CATALOGUE_FILE`` if set, else the packaged one."""
    override = os.environ.get(CATALOGUE_FILE_ENV)
    if override:
        text, source = Path(override).read_text(encoding="utf-8"), override
    else:
        packaged = resources.files("lingxi_personalization").joinpath("data", "catalogue.yaml")
        text, source = packaged.read_text(encoding="utf-8"), "lingxi_personalization/data/catalogue.yaml"
    return parse_catalogue(text, source)


def parse_catalogue(text: str, source: str = "<text>") -> Catalogue:
    """The catalogue in a YAML document of the shape in the module doc; a ``ValueError`` starting with
    ``source`` and naming the entry and field for anything else."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValueError(f"{source}: not valid YAML: {error}") from error
    top = _Fields(document, source, ("categories", "seasons", "items"))

    categories: dict[str, Category] = {}
    for number, entry in enumerate(top.entries("categories"), start=1):
        fields = _Fields(entry, f"{source}: category {number}", ("code", "name_zh", "name_en"))
        code = fields.code("code", _CODE)
        fields.where = f"{source}: category {code}"
        if code in categories:
            raise ValueError(f"{fields.where}: duplicate code")
        categories[code] = Category(code, fields.text("name_zh"), fields.text("name_en"))

    seasons: dict[str, Season] = {}
    for number, entry in enumerate(top.entries("seasons"), start=1):
        season = _season(entry, source, number)
        if season.id in seasons:
            raise ValueError(f"{source}: season {season.id}: duplicate id")
        seasons[season.id] = season

    items: dict[str, Item] = {}
    for number, entry in enumerate(top.entries("items"), start=1):
        item = _item(entry, source, number, categories, seasons)
        if item.item_id in items:
            raise ValueError(f"{source}: item {item.item_id}: duplicate item_id")
        items[item.item_id] = item

    return Catalogue(categories, seasons, tuple(items.values()))


_ITEM_FIELDS = (
    "item_id", "kind", "title_zh", "title_en", "categories", "merchants", "channels", "app_id", "cities",
    "seasons", "popularity",
)  # fmt: skip


def _season(entry: object, source: str, number: int) -> Season:
    fields = _Fields(entry, f"{source}: season {number}", ("id", "name_zh", "name_en", *_FIXED, *_ANCHORED))
    season_id = fields.code("id", _CODE)
    fields.where = f"{source}: season {season_id}"
    name_zh, name_en = fields.text("name_zh"), fields.text("name_en")
    fixed = [key for key in _FIXED if key in fields.entry]
    anchored = [key for key in _ANCHORED if key in fields.entry]
    if fixed and anchored:
        raise ValueError(
            f"{fields.where}: has both a fixed window ({fixed[0]}) and an anchored one ({anchored[0]})"
        )
    if not fixed and not anchored:
        raise ValueError(
            f"{fields.where}: needs a window: month_day_start/month_day_end"
            " or anchor_dates/days_before/days_after"
        )
    if fixed:
        return Season(
            season_id,
            name_zh,
            name_en,
            start=fields.month_day("month_day_start"),
            end=fields.month_day("month_day_end"),
        )
    return Season(
        season_id,
        name_zh,
        name_en,
        anchors=fields.anchors("anchor_dates"),
        days_before=fields.days("days_before"),
        days_after=fields.days("days_after"),
    )


def _item(
    entry: object, source: str, number: int, categories: dict[str, Category], seasons: dict[str, Season]
) -> Item:
    fields = _Fields(entry, f"{source}: item {number}", _ITEM_FIELDS)
    item_id = fields.code("item_id", _ITEM_ID)
    fields.where = f"{source}: item {item_id}"
    kind = fields.text("kind")
    if kind not in set(ItemKind):
        raise ValueError(f"{fields.where}: unknown kind {kind!r} (one of {', '.join(ItemKind)})")
    item_categories = fields.strings("categories", "category", categories.__contains__)
    if not item_categories:
        raise ValueError(f"{fields.where}: categories is empty (needs at least one category)")
    app_id = fields.text("app_id") if "app_id" in fields.entry else None
    if app_id is not None and app_id not in APP_IDS:
        raise ValueError(f"{fields.where}: unknown app_id {app_id!r}")
    return Item(
        item_id=item_id,
        kind=ItemKind(kind),
        title_zh=fields.text("title_zh", TITLE_MAX),
        title_en=fields.text("title_en", TITLE_MAX),
        categories=item_categories,
        merchants=fields.strings("merchants", "merchant"),
        channels=fields.strings("channels", "channel", CHANNELS.__contains__),
        app_id=app_id,
        cities=fields.strings("cities", "city"),
        seasons=fields.strings("seasons", "season", seasons.__contains__),
        popularity=fields.popularity("popularity"),
    )


class _Fields:
    """One mapping of the document, read field by field; errors start with ``where``."""

    def __init__(self, entry: object, where: str, allowed: tuple[str, ...]) -> None:
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected a mapping, got {type(entry).__name__}")
        unknown = [str(key) for key in entry if key not in allowed]
        if unknown:
            raise ValueError(f"{where}: unknown field {unknown[0]!r}")
        self.entry: dict[object, object] = entry
        self.where = where

    def _value(self, key: str) -> object:
        value = self.entry.get(key)
        if value is None:
            raise ValueError(f"{self.where}: missing {key}")
        return value

    def entries(self, key: str) -> list[object]:
        value = self._value(key)
        if not isinstance(value, list):
            raise ValueError(f"{self.where}: {key} must be a list, got {type(value).__name__}")
        if not value:
            raise ValueError(f"{self.where}: {key} is empty")
        return value

    def text(self, key: str, limit: int | None = None) -> str:
        value = self._value(key)
        if not isinstance(value, str):
            raise ValueError(f"{self.where}: {key} must be a string, got {type(value).__name__}")
        if not value.strip():
            raise ValueError(f"{self.where}: {key} is blank")
        if limit is not None and len(value) > limit:
            raise ValueError(f"{self.where}: {key} is longer than {limit} characters")
        return value

    def code(self, key: str, pattern: re.Pattern[str]) -> str:
        value = self.text(key)
        if not pattern.fullmatch(value):
            raise ValueError(f"{self.where}: {key} {value!r} does not match {pattern.pattern}")
        return value

    def strings(self, key: str, what: str, known: Callable[[str], bool] | None = None) -> tuple[str, ...]:
        """An optional list of non-blank strings (absent: empty), each ``known`` if given, none twice."""
        value = self.entry.get(key)
        if value is None:
            return ()
        if not isinstance(value, list):
            raise ValueError(f"{self.where}: {key} must be a list, got {type(value).__name__}")
        found: list[str] = []
        for entry in value:
            if not isinstance(entry, str) or not entry.strip():
                raise ValueError(f"{self.where}: {key} holds {entry!r}, not a non-blank string")
            if known is not None and not known(entry):
                raise ValueError(f"{self.where}: unknown {what} {entry!r}")
            if entry in found:
                raise ValueError(f"{self.where}: {key} lists {entry!r} twice")
            found.append(entry)
        return tuple(found)

    def popularity(self, key: str) -> float:
        value = self._value(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < value <= 1.0:
            raise ValueError(f"{self.where}: {key} must be a number in (0, 1], got {value!r}")
        return float(value)

    def days(self, key: str) -> int:
        value = self._value(key)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 60:
            raise ValueError(
                f"{self.where}: {key} must be a whole number of days from 0 to 60, got {value!r}"
            )
        return value

    def month_day(self, key: str) -> tuple[int, int]:
        value = self._value(key)
        match = _MONTH_DAY.fullmatch(value) if isinstance(value, str) else None
        month_day = (int(match[1]), int(match[2])) if match else None
        # 2001 is not a leap year: 02-29 is refused, as it does not come every year.
        if month_day is None or not _is_date(2001, *month_day):
            raise ValueError(f"{self.where}: {key} {value!r} is not a date MM-DD that comes every year")
        return month_day

    def anchors(self, key: str) -> tuple[tuple[int, date], ...]:
        value = self._value(key)
        if not isinstance(value, dict) or not value:
            raise ValueError(f"{self.where}: {key} must be a non-empty mapping of year to YYYY-MM-DD date")
        anchors: dict[int, date] = {}
        for year, day in value.items():
            if isinstance(year, bool) or not isinstance(year, int | str) or not str(year).isdigit():
                raise ValueError(f"{self.where}: {key} has {year!r}, not a year")
            anchor = _iso_date(day)
            if anchor is None:
                raise ValueError(f"{self.where}: {key} {year}: {day!r} is not a date YYYY-MM-DD")
            if anchor.year != int(year) or int(year) in anchors:
                raise ValueError(
                    f"{self.where}: {key} {year}: {anchor.isoformat()} is not the one date of {year}"
                )
            anchors[int(year)] = anchor
        return tuple(sorted(anchors.items()))


def _is_date(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def _iso_date(value: object) -> date | None:
    """A YYYY-MM-DD date, quoted or not (YAML reads an unquoted one as a date already)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None
