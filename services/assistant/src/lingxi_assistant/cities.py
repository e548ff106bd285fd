"""Cities the weather skill knows by name, with their canonical Chinese and English names.

A city not in the table is still taken when the sentence marks it as a place (绍兴市, "in Paris"): the
device's weather provider geocodes the name as said.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class City:
    name_zh: str
    name_en: str
    aliases: tuple[str, ...] = ()


CITIES: tuple[City, ...] = (
    City("北京", "Beijing", ("peking",)),
    City("上海", "Shanghai"),
    City("广州", "Guangzhou", ("canton",)),
    City("深圳", "Shenzhen"),
    City("天津", "Tianjin"),
    City("重庆", "Chongqing"),
    City("杭州", "Hangzhou"),
    City("南京", "Nanjing"),
    City("苏州", "Suzhou"),
    City("无锡", "Wuxi"),
    City("宁波", "Ningbo"),
    City("成都", "Chengdu"),
    City("武汉", "Wuhan"),
    City("西安", "Xi'an", ("xian", "xi an")),
    City("长沙", "Changsha"),
    City("郑州", "Zhengzhou"),
    City("济南", "Jinan"),
    City("青岛", "Qingdao"),
    City("大连", "Dalian"),
    City("沈阳", "Shenyang"),
    City("长春", "Changchun"),
    City("哈尔滨", "Harbin"),
    City("石家庄", "Shijiazhuang"),
    City("太原", "Taiyuan"),
    City("呼和浩特", "Hohhot"),
    City("合肥", "Hefei"),
    City("南昌", "Nanchang"),
    City("福州", "Fuzhou"),
    City("厦门", "Xiamen", ("amoy",)),
    City("昆明", "Kunming"),
    City("贵阳", "Guiyang"),
    City("南宁", "Nanning"),
    City("海口", "Haikou"),
    City("三亚", "Sanya"),
    City("兰州", "Lanzhou"),
    City("西宁", "Xining"),
    City("银川", "Yinchuan"),
    City("乌鲁木齐", "Urumqi", ("urumchi",)),
    City("拉萨", "Lhasa"),
    City("东莞", "Dongguan"),
    City("佛山", "Foshan"),
    City("珠海", "Zhuhai"),
    City("香港", "Hong Kong", ("hongkong",)),
    City("澳门", "Macao", ("macau",)),
    City("台北", "Taipei"),
)


@dataclass(frozen=True)
class CityMatch:
    name_zh: str | None  # canonical Chinese name; None for a city outside the table
    name_en: str | None
    said: str


@cache
def _pattern() -> tuple[re.Pattern[str], dict[str, City]]:
    by_name: dict[str, City] = {}
    for city in CITIES:
        for name in (city.name_zh, city.name_en, *city.aliases):
            by_name[name.lower()] = city
    alternatives = []
    for name in sorted(by_name, key=len, reverse=True):
        escaped = re.escape(name)
        alternatives.append(rf"(?<![a-z]){escaped}(?![a-z])" if name.isascii() else escaped)
    return re.compile("|".join(alternatives), re.IGNORECASE), by_name


# Two characters before 市 (most prefecture-level names); 城市, 超市, 夜市 ... are not places.
_ZH_UNKNOWN = re.compile(r"([\u4e00-\u9fff][\u4e00-\u9fff])(?<![城超股夜都])市")
# An English place outside the table: after "in" / "at", or after "weather for" / "forecast for" (a bare
# "for" is too loose: "warm enough for shorts").
_EN_UNKNOWN = re.compile(
    r"(?:\b(?:weather|forecast|temperature|report|conditions?)\s+for|\bin|\bat)"
    r"\s+([a-z][a-z'.-]*(?:\s+[a-z][a-z'.-]*){0,2}?)"
    r"(?=\s+(?:today|tomorrow|tonight|this|next|on|for|the|at|in|now|right|later|weather)\b|\s*[?.!,]|\s*$)",
    re.IGNORECASE | re.ASCII,
)
_NOT_A_PLACE = {
    "the", "a", "an", "my", "your", "our", "this", "that", "next", "last", "today", "tomorrow", "tonight",
    "weather", "general", "here", "there", "home", "work", "town", "outside", "noon", "night", "midnight",
    "morning", "afternoon", "evening", "celsius", "fahrenheit", "degrees", "monday", "tuesday", "wednesday",
    "thursday", "friday", "saturday", "sunday", "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december", "least", "all", "about", "around",
}  # fmt: skip


def find_city(text: str) -> CityMatch | None:
    """The city named in ``text``: a known one (canonical names), else one marked as a place, else None."""
    pattern, by_name = _pattern()
    found = pattern.search(text)
    if found is not None:
        city = by_name[found.group().lower()]
        return CityMatch(city.name_zh, city.name_en, found.group())
    zh = _ZH_UNKNOWN.search(text)
    if zh is not None:
        return CityMatch(zh.group(1), None, zh.group(0))
    for en in _EN_UNKNOWN.finditer(text):
        name = en.group(1)
        if name.split()[0].lower() not in _NOT_A_PLACE:
            return CityMatch(None, name, name)
    return None
