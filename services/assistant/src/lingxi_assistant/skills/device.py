"""Skills for the phone itself: settings, brightness, volume, battery, media, camera, music and photos.

Intents: ``toggle_setting``, ``set_brightness``, ``set_volume``, ``battery_status``, ``media_control``,
``take_photo``, ``take_screenshot``, ``play_music``, ``search_photos`` (slot formats in
docs/assistant-intents.md). Rules match :attr:`Utterance.lower` (keywords) or :attr:`Utterance.numeric`
(numbers); free-text values are cut from :attr:`Utterance.text` so that their case is kept.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime

from lingxi_assistant.apps import BY_ID, find_app
from lingxi_assistant.lang import Lang, Utterance, has_han
from lingxi_assistant.model import Action, SlotValue
from lingxi_assistant.numerals import NUM, zh_int
from lingxi_assistant.replies import _day_en, _day_zh
from lingxi_assistant.skills import Skill, Slots
from lingxi_assistant.slots import Context, Fill
from lingxi_assistant.timeparse import _EN_DATE, _EN_PAST_DATE, _ZH_DATE, _ZH_PAST_DATE, parse_past_date

_PUNCT = " \t,，。.!！?？、;；:：~～…\"“”'‘’()（）[]【】《》<>"

# ------------------------------------------------------------------------------------------ shared bits


def _first(text: str, table: Sequence[tuple[str, re.Pattern[str]]]) -> tuple[str, re.Match[str]] | None:
    """The table entry whose pattern matches earliest in ``text`` (ties: the earlier entry)."""
    best: tuple[str, re.Match[str]] | None = None
    for value, pattern in table:
        m = pattern.search(text)
        if m is not None and (best is None or m.start() < best[1].start()):
            best = (value, m)
    return best


def _cut(text: str, start: int, end: int) -> str:
    return text[:start] + " " + text[end:]


def _rx(pattern: str) -> re.Pattern[str]:
    # re.ASCII: \b must see a break between a Chinese character and an English word (开一下NFC)
    return re.compile(pattern, re.ASCII)


# ------------------------------------------------------------------------------------------- settings

SETTINGS = (
    "wifi",
    "bluetooth",
    "flashlight",
    "do_not_disturb",
    "mobile_data",
    "airplane_mode",
    "hotspot",
    "dark_mode",
    "location",
    "nfc",
)

# Order matters only for names that start at the same place: the longer, more specific ones come first.
_SETTING_NAMES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (setting, _rx(pattern))
    for setting, pattern in (
        ("airplane_mode", r"飞行模式|飞机模式|航空模式|\b(?:air\s*plane|aeroplane|flight|plane)\s+mode\b"),
        (
            "do_not_disturb",
            r"免打扰(?:模式)?|勿扰(?:模式)?|(?:别|不要|不许|不准|谁也别)打扰我?"
            r"|\bdo\s+not\s+disturb\b|\bdon'?t\s+disturb(?:\s+me)?\b|\bdnd\b|\bbe\s+disturbed\b",
        ),
        (
            "hotspot",
            r"(?:个人|移动|wifi|wi-fi)?热点|共享网络|\b(?:personal\s+|mobile\s+)?hot\s*spot\b|\btethering\b",
        ),
        (
            "dark_mode",
            r"(?:深色|暗黑|黑暗|夜间|暗色|黑色)(?:模式|主题)|\b(?:dark|night)\s+(?:mode|theme)\b"
            r"|(?:浅色|白色|日间|亮色)(?:模式|主题)|\blight\s+(?:mode|theme)\b",
        ),
        (
            "location",
            r"(?:位置|定位)(?:信息|服务|功能)?|\bgps\b|\blocation(?:\s+services?)?\b|\bpositioning\b",
        ),
        ("nfc", r"\bnfc\b|近场通信"),
        (
            "mobile_data",
            r"(?:移动|蜂窝|手机)(?:数据|网络)(?:流量)?|数据流量|手机流量|流量|数据(?:网络|连接)?|\b[45]g\b"
            r"|\b(?:mobile|cellular)(?:\s+data)?\b|\bdata\b",
        ),
        ("wifi", r"\bwi-?fi\b|\bwlan\b|无线(?:局域网|网络|网)?|\bwireless\b"),
        ("bluetooth", r"蓝牙|\bblue\s*tooth\b"),
        (
            "flashlight",
            r"手电筒?|电筒|闪光灯|照明灯|\bflash\s*light\b|\btorch\b|\blight\b(?!\s+(?:mode|theme))",
        ),
    )
)

_SWITCH_WORD = re.compile(r"开关|\bswitch(?:es)?\b(?!\s+(?:on|off)\b)|\btoggle\b", re.ASCII)
_STATE_WORDS = (
    (
        "off",
        _rx(
            r"断开|关闭|关掉|关上|关了|关|禁用|停用|退出|取消|停掉|不用|不要|不需要|别开|别用"
            r"|\b(?:off|disable|deactivate|disconnect|close|kill|stop|exit|leave|quit)\b|\bout\s+of\b"
            r"|\bno\s+longer\b|\bdon'?t\s+(?:need|use|want)\b"
        ),
    ),
    (
        "on",
        _rx(
            r"打开|开启|开通|开|启用|启动|连上|连接|连一下|接通|进入|切换到|切到|换成|亮"
            r"|\b(?:on|enable|activate|connect|open|start|use|put|into|go\s+in)\b"
        ),
    ),
)
_QUESTION = _rx(r"[吗么嘛?]|是否|是不是|有没有|状态|\b(?:is|are|status|whether)\b")
_STATUS = _rx(r"[开关]着|\b(?:is|are)\b.*\b(?:on|off|enabled|disabled)\b|状态|\bstatus\b")

_SETTING_ZH = {
    "wifi": "WLAN",
    "bluetooth": "蓝牙",
    "flashlight": "手电筒",
    "do_not_disturb": "免打扰",
    "mobile_data": "移动数据",
    "airplane_mode": "飞行模式",
    "hotspot": "个人热点",
    "dark_mode": "深色模式",
    "location": "定位服务",
    "nfc": "NFC",
}
_SETTING_EN = {
    "wifi": "Wi-Fi",
    "bluetooth": "Bluetooth",
    "flashlight": "the flashlight",
    "do_not_disturb": "Do Not Disturb",
    "mobile_data": "mobile data",
    "airplane_mode": "airplane mode",
    "hotspot": "the hotspot",
    "dark_mode": "dark mode",
    "location": "location services",
    "nfc": "NFC",
}


def _blank(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


def _state_near(text: str, start: int, end: int) -> str | None:
    """The on/off word closest to the setting's name (开车呢，把蓝牙关了: 关); ties go to the earlier word."""
    best: tuple[int, int, str] | None = None
    for state, pattern in _STATE_WORDS:
        for m in pattern.finditer(text):
            distance = start - m.end() if m.end() <= start else max(m.start() - end, 0)
            key = (distance, m.start(), state)
            if best is None or key < best:
                best = key
    return best[2] if best else None


def fill_toggle(utt: Utterance, ctx: Context) -> Fill:
    text = _SWITCH_WORD.sub(lambda m: " " * len(m.group()), utt.lower)
    found = _first(text, _SETTING_NAMES)
    if found is None:
        said = _first(text, _STATE_WORDS)
        return Fill(False, {"state": said[0]} if said else {})
    setting, name = found
    rest = _blank(text, name.start(), name.end())
    state = _state_near(rest, name.start(), name.end())
    if setting == "do_not_disturb" and re.match(r"别|不|谁|don|be", name.group()):
        state = "on"  # 别打扰我 / "don't disturb me": asking for quiet is asking for it on
    elif setting == "dark_mode" and re.search(r"浅色|白色|日间|亮色|light", name.group()):
        state = "on" if state == "off" else "off"  # light mode is the other side of dark mode
    elif _QUESTION.search(rest):
        if _STATUS.search(rest):
            state = None  # 蓝牙开着吗 / "is wifi on?" asks how it is, not for a change
    elif state is None:
        state = "on"  # 手电筒 / "dark mode please": naming a switch asks for it to be on
    if state is None:
        return Fill(False, {"setting": setting})
    slots: dict[str, SlotValue] = {"setting": setting, "state": state}
    return Fill(True, slots, Action("settings.toggle", dict(slots)))


def confirm_toggle(slots: Slots, lang: Lang, now: datetime) -> str:
    setting, on = str(slots["setting"]), slots["state"] == "on"
    if lang == "zh":
        return f"好的，已{'打开' if on else '关闭'}{_SETTING_ZH.get(setting, setting)}"
    return f"OK, turning {'on' if on else 'off'} {_SETTING_EN.get(setting, setting)}."


def ask_toggle(slots: Slots, lang: Lang) -> str:
    setting = slots.get("setting")
    if setting:
        if lang == "zh":
            return f"要打开还是关闭{_SETTING_ZH.get(str(setting), str(setting))}？"
        return f"Should I turn {_SETTING_EN.get(str(setting), str(setting))} on or off?"
    on = slots.get("state") != "off"
    if lang == "zh":
        return f"你想{'打开' if on else '关闭'}哪个设置？比如WLAN、蓝牙或手电筒。"
    return f"Which setting should I turn {'on' if on else 'off'}? For example Wi-Fi or Bluetooth."


# ------------------------------------------------------------------------------- brightness and volume

_LEVEL_MAX = _rx(
    r"最大|最亮|最高|最响|拉满|调满|开满|满格|全开|满的|\bmax(?:imum|ed)?\b|\bfull(?:est)?\b|\ball\s+the\s+way\s+up\b"
    r"|\bas\s+(?:loud|bright|high)\s+as\b|\b(?:loudest|brightest|highest)\b"
)
_LEVEL_MIN = _rx(
    r"最小|最暗|最低|最轻|\bmin(?:imum)?\b|\ball\s+the\s+way\s+down\b|\b(?:lowest|dimmest|quietest)\b"
)
_LEVEL_HALF = _rx(r"一半|中间|中等|\bhalf(?:way)?\b|\bmiddle\b|\b50\s*-\s*50\b")
_NUMBER = rf"(?:\d+(?:\.\d+)?|{NUM})"
_PERCENT = _rx(rf"百分之\s*(?P<a>{_NUMBER})|(?P<b>{_NUMBER})\s*(?:%|percent\b|per\s*cent\b|pct\b)")
_SET_TO = _rx(
    rf"(?:[到成为至]|设置为|设为|调整到|\b(?:to|at|on)\b|=)\s*(?:百分之\s*)?(?P<n>{_NUMBER})"
    r"(?!\s*(?:[格档级个点下次]|notch|step|bar|level|click|tick))"
)
# Steps rather than a level: 调高10%, 调高两格, "up by 10", "down two notches"
_RELATIVE = _rx(
    rf"(?:[高低大小加减增降]|\bby|\b(?:up|down|louder|quieter|brighter|dimmer))\s*(?:了\s*)?(?:百分之\s*)?{_NUMBER}"
    rf"|{_NUMBER}\s*(?:[格档级]|notch|step|bar|click|tick)"
)


def _number(token: str) -> int | None:
    token = token.strip()
    if re.fullmatch(r"\d+\.\d+", token):
        return round(float(token))
    return zh_int(token)


def _in_range(value: int | None) -> int | None:
    return value if value is not None and 0 <= value <= 100 else None


def _level(numeric: str, noun: re.Pattern[str]) -> int | None:
    """A percent level said outright (调到50%, 百分之六十, "to 30", 亮度70, 拉满 → 100, 一半 → 50)."""
    if _LEVEL_MAX.search(numeric):
        return 100
    if _LEVEL_MIN.search(numeric):
        return 0
    if _LEVEL_HALF.search(numeric):
        return 50
    relative = _RELATIVE.search(numeric)
    m = _SET_TO.search(numeric)
    if m is not None:
        return _in_range(_number(m.group("n")))
    if relative is None:
        p = _PERCENT.search(numeric)
        if p is not None:
            return _in_range(_number(p.group("a") or p.group("b")))
        right_after = re.search(
            rf"(?:{noun.pattern})\s*(?:调|是|设|开|level|setting)?\s*(?P<n>{_NUMBER})(?![\d.])",
            numeric,
            re.ASCII,
        )
        if right_after is not None and not re.fullmatch(r"[一两]", right_after.group("n")):
            return _in_range(_number(right_after.group("n")))
    return None


def _direction(text: str, rules: Sequence[Sequence[tuple[str, re.Pattern[str]]]]) -> str | None:
    """The direction of the first rule group that says one (within a group, the earliest match).

    Groups: how it is now (太亮了 → down, "too quiet" → up), then what to do (调亮, "turn it down"), then a
    bare word (亮, 低)."""
    for group in rules:
        found = _first(text, group)
        if found is not None:
            return found[0]
    return None


_FILLER = re.compile(
    r"一下|一点点|一点儿|一点|一些|点儿|一丢丢|稍微|稍稍|再|给我|帮我|请|把|将|吧|呗|啊|呀|了"
)
_TIME_OF_DAY = re.compile(r"早上|晚上|上午|下午|中午|白天|夜里")

_BRIGHTNESS_NOUN = _rx(
    r"屏幕亮度|亮度|背光|屏幕|显示屏|\bscreen\s+brightness\b|\bbrightness\b|\bscreen\b|\bdisplay\b"
)
_BRIGHTNESS_RULES = (
    (
        ("up", _rx(r"(?:太|好|有点|有些|这么|那么|很|不够)\s*(?:暗|黑|低)|看不清|看不见|看不到|不够亮")),
        (
            "up",
            _rx(
                r"\b(?:too|so|very|kinda|quite)\s+(?:dark|dim|dull|low)\b|\bcan'?t\s+see\b|\bhard\s+to\s+see\b"
            ),
        ),
        ("down", _rx(r"(?:太|好|有点|有些|这么|那么|很)\s*(?:亮|高|刺眼|晃眼)|刺眼|晃眼|眼睛疼|伤眼|辣眼")),
        (
            "down",
            _rx(
                r"\b(?:too|so|very|kinda|quite)\s+(?:bright|glaring|high)\b|\bhurts?\s+my\s+eyes\b|\bblinding\b"
            ),
        ),
    ),
    (
        (
            "up",
            _rx(r"调亮|调高|提高|提亮|增加|增大|加大|加亮|升高|往上|向上|弄亮|变亮|拉高|亮[点些]|高[点些]"),
        ),
        (
            "up",
            _rx(
                r"\b(?:brighter|brighten|increase|raise|higher|boost)\b|\bturn\s+(?:\w+\s+){0,2}?up\b|\bup\b"
            ),
        ),
        ("down", _rx(r"调暗|调低|降低|减小|减少|减弱|往下|向下|弄暗|变暗|拉低|调小|暗[点些]|低[点些]")),
        (
            "down",
            _rx(
                r"\b(?:dimmer|dim|darker|darken|decrease|reduce|lower|drop|less|cut)\b"
                r"|\bturn\s+(?:\w+\s+){0,2}?down\b|\bdown\b"
            ),
        ),
    ),
    (("up", re.compile(r"[亮高大加增提升强]")), ("down", re.compile(r"[暗低小减降弱黑]"))),
)

_VOLUME_NOUN = _rx(
    r"(?:媒体|铃声|通话|闹钟|系统|手机)?音量|声音|铃声|喇叭|扬声器|\b(?:media\s+|ringer\s+|ring\s+)?volume\b|\bsound\b"
)
_UNMUTE = _rx(
    r"(?:取消|关闭|关掉|解除|退出)静音|(?:打开|开启|开)(?:声音|音量)|(?:声音|音量)(?:打开|开启)"
    r"|\bun-?mute\b|\bturn\s+off\s+(?:the\s+)?(?:mute|silent)|\bturn\s+(?:on\s+the\s+sound|the\s+sound\s+on)\b"
    r"|\bsound\s+on\b"
)
_MUTE = _rx(
    r"静音|消音|禁音|闭嘴|别出声|不要出声|\bmute\b|\bsilen(?:ce|t)\b|\bshut\s+up\b|\bno\s+sound\b"
    r"|(?:关掉|关闭|关了|关上|关)(?:声音|音量)|(?:声音|音量)(?:给我)?(?:关掉|关闭|关了|关上|关)(?![小低到])"
    r"|\bturn\s+(?:off\s+(?:the\s+)?(?:sound|volume|ringer|audio)|(?:the\s+)?(?:sound|volume|ringer|audio)\s+off)\b"
    r"|\b(?:sound|volume|audio|ringer)\s+off\b"
)
_VOLUME_RULES = (
    (
        ("up", _rx(r"(?:太|好|有点|有些|这么|那么|很)\s*(?:小|低|轻)|听不清|听不见|听不到|不够大|不够响")),
        (
            "up",
            _rx(
                r"\b(?:too|so|very|kinda|quite)\s+(?:quiet|low|soft)\b|\bcan'?t\s+hear\b|\bhard\s+to\s+hear\b"
            ),
        ),
        ("down", _rx(r"(?:太|好|有点|有些|这么|那么|很)\s*(?:吵|大|响|高)|吵死|好吵|太吵|震耳")),
        ("down", _rx(r"\b(?:too|so|very|kinda|quite)\s+(?:loud|noisy|high)\b|\bdeafening\b")),
    ),
    (
        (
            "up",
            _rx(r"调大|调高|开大|放大|加大|增大|提高|升高|往上|向上|拉高|大声|大[点些]|高[点些]|响[点些]"),
        ),
        ("up", _rx(r"\b(?:louder|increase|raise|higher|boost|pump)\b|\bturn\s+(?:\w+\s+){0,2}?up\b|\bup\b")),
        ("down", _rx(r"调小|调低|关小|减小|降低|减少|往下|向下|拉低|小声|小[点些]|低[点些]|轻[点些]")),
        (
            "down",
            _rx(r"\b(?:quieter|softer|decrease|reduce|lower)\b|\bturn\s+(?:\w+\s+){0,2}?down\b|\bdown\b"),
        ),
    ),
    (("up", re.compile(r"[大高加增提升响]")), ("down", re.compile(r"[小低减降轻弱]"))),
)


def _clean_for_direction(lower: str, noun: re.Pattern[str]) -> str:
    text = noun.sub(" ", lower)
    text = _FILLER.sub(" ", text)
    return _TIME_OF_DAY.sub(" ", text)


def _level_fill(action: str, slots: dict[str, SlotValue]) -> Fill:
    if not slots:
        return Fill(complete=False)
    return Fill(True, slots, Action(action, dict(slots)))


def fill_brightness(utt: Utterance, ctx: Context) -> Fill:
    level = _level(utt.numeric, _BRIGHTNESS_NOUN)
    if level is not None:
        return _level_fill("settings.brightness", {"level": level})
    direction = _direction(_clean_for_direction(utt.lower, _BRIGHTNESS_NOUN), _BRIGHTNESS_RULES)
    return _level_fill("settings.brightness", {"direction": direction} if direction else {})


def fill_volume(utt: Utterance, ctx: Context) -> Fill:
    if _UNMUTE.search(utt.lower):
        return _level_fill("settings.volume", {"direction": "up"})
    if _MUTE.search(utt.lower):
        return _level_fill("settings.volume", {"direction": "mute"})
    level = _level(utt.numeric, _VOLUME_NOUN)
    if level is not None:
        return _level_fill("settings.volume", {"level": level})
    direction = _direction(_clean_for_direction(utt.lower, _VOLUME_NOUN), _VOLUME_RULES)
    return _level_fill("settings.volume", {"direction": direction} if direction else {})


def confirm_brightness(slots: Slots, lang: Lang, now: datetime) -> str:
    level, direction = slots.get("level"), slots.get("direction")
    if lang == "zh":
        if level is not None:
            return f"好的，屏幕亮度已调到{level}%"
        return f"好的，屏幕已调{'亮' if direction == 'up' else '暗'}一些"
    if level is not None:
        return f"OK, brightness set to {level}%."
    return f"OK, making the screen {'brighter' if direction == 'up' else 'dimmer'}."


def ask_brightness(slots: Slots, lang: Lang) -> str:
    if lang == "zh":
        return "要把屏幕调亮还是调暗？也可以说一个百分比。"
    return "Should I make the screen brighter or dimmer? You can also say a percentage."


def confirm_volume(slots: Slots, lang: Lang, now: datetime) -> str:
    level, direction = slots.get("level"), slots.get("direction")
    if lang == "zh":
        if level is not None:
            return f"好的，音量已调到{level}%"
        if direction == "mute":
            return "好的，已静音"
        return f"好的，音量已调{'大' if direction == 'up' else '小'}一些"
    if level is not None:
        return f"OK, volume set to {level}%."
    if direction == "mute":
        return "OK, muted."
    return f"OK, turning the volume {'up' if direction == 'up' else 'down'}."


def ask_volume(slots: Slots, lang: Lang) -> str:
    if lang == "zh":
        return "要把音量调大、调小还是静音？也可以说一个百分比。"
    return "Should I turn the volume up, down or mute it? You can also say a percentage."


# --------------------------------------------------------------------------------- battery, screenshot


def fill_battery(utt: Utterance, ctx: Context) -> Fill:
    return Fill(True, {}, Action("battery.show", {}))


def confirm_battery(slots: Slots, lang: Lang, now: datetime) -> str:
    return "好的，这是你的电池和耗电情况" if lang == "zh" else "Here's your battery status and usage."


def fill_screenshot(utt: Utterance, ctx: Context) -> Fill:
    return Fill(True, {}, Action("screen.capture", {}))


def confirm_screenshot(slots: Slots, lang: Lang, now: datetime) -> str:
    return "好的，已截屏" if lang == "zh" else "OK, screenshot taken."


def _never_asks(slots: Slots, lang: Lang) -> str:
    # these skills are always complete; a question is never needed, but the contract asks for one
    return "还需要我做什么？" if lang == "zh" else "What else can I do for you?"


# --------------------------------------------------------------------------------------- media control

_MEDIA_SKIPS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "previous",
        _rx(
            r"上一[首曲个集期]|上首|上个|前一[首曲个集]|回到上|返回上|倒回|切回|刚才那首|刚刚那首|刚才那个|往回|放回去|回去"
            r"|\bprevious\b|\bprev\b|\blast\s+(?:song|track|one|episode)\b|\bgo\s+back\b"
            r"|\b(?:one|a)\s+(?:song|track)\s+back\b|\bback\s+(?:one|a\s+song|a\s+track)\b|\brewind\b"
            r"|\b(?:song|track|one)\s+before\s+(?:this|that)\b"
        ),
    ),
    (
        "next",
        _rx(
            r"下一[首曲个集期]|下首|下个|后一[首曲个集]|切歌|换一?[首曲个]|换歌|跳过|切了|切掉|不想听|\bnext\b|\bskip\b"
            r"|\b(?:another|different)\s+(?:song|track|one)\b|\bchange\s+(?:the\s+|this\s+)?(?:song|track)\b"
        ),
    ),
)
# Whichever is said first: 先暂停一下，等会儿继续 is a pause.
_MEDIA_HOLDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "resume",
        _rx(
            r"继续|接着|恢复|取消暂停|别停|重新播放|开始播放|\bresume\b|\bcontinue\b|\bun-?pause\b"
            r"|\b(?:keep|carry\s+on|go\s+on)\s+(?:playing|going)\b|\bcarry\s+on\b|\bgo\s+on\b"
            r"|\bstart\s+(?:the\s+|it\s+|playing\s+)?(?:music|song|podcast|video|playing|it)?\s*again\b"
            r"|\bput\s+it\s+back\s+on\b|\bpress\s+play\b|\bplay\s+again\b"
        ),
    ),
    (
        "pause",
        _rx(r"暂停|停|别[放播唱]了|不要[放播]了|先别|\bpause\b|\bstop\b|\bhold\s+on\b|\bhalt\b"),
    ),
)
_BARE_PLAY = _rx(r"^(?:播放|放|play|play\s+it|播)\s*(?:吧|呗|please|一下)?$")

_MEDIA_ZH = {"pause": "已暂停播放", "resume": "继续播放", "next": "已切到下一首", "previous": "已切到上一首"}
_MEDIA_EN = {
    "pause": "Paused.",
    "resume": "Resuming playback.",
    "next": "Skipping to the next track.",
    "previous": "Going back to the previous track.",
}


def fill_media(utt: Utterance, ctx: Context) -> Fill:
    text = utt.lower.strip(_PUNCT)
    command = next((command for command, pattern in _MEDIA_SKIPS if pattern.search(text)), None)
    if command is None:
        hold = _first(text, _MEDIA_HOLDS)
        command = hold[0] if hold else "resume" if _BARE_PLAY.search(text) else None
    if command is None:
        return Fill(complete=False)
    slots: dict[str, SlotValue] = {"command": command}
    return Fill(True, slots, Action("media.control", dict(slots)))


def confirm_media(slots: Slots, lang: Lang, now: datetime) -> str:
    command = str(slots["command"])
    return ("好的，" + _MEDIA_ZH[command]) if lang == "zh" else _MEDIA_EN[command]


def ask_media(slots: Slots, lang: Lang) -> str:
    if lang == "zh":
        return "要暂停、继续播放，还是切到上一首或下一首？"
    return "Should I pause, resume, or skip to the next or previous track?"


# --------------------------------------------------------------------------------------------- camera

# By priority, not position: 用前置拍个视频 is a video, 前置拍照 a selfie.
_CAMERA_MODES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "video",
        _rx(
            r"视频|录像|摄像(?!头)|录影|录制|开录|录(?!音|屏)|\bvlog\b"
            r"|\bvideos?\b|\brecord(?:ing)?\b|\bfilm(?:ing)?\b|\bcamcorder\b|\bslo-?mo\b"
        ),
    ),
    (
        "selfie",
        _rx(
            r"自拍|前置|前摄|大头照|\bselfies?\b|\bfront(?:\s+|-)(?:facing\s+)?cam(?:era)?\b"
            r"|\bpicture\s+of\s+(?:myself|me)\b|\bphoto\s+of\s+(?:myself|me)\b"
        ),
    ),
    (
        "photo",
        _rx(
            r"拍|照(?!相机|机)|咔嚓|\bphoto(?:graph)?s?\b|\bpictures?\b|\bpics?\b|\bsnap(?:shot)?\b|\bshot\b|\bcheese\b"
        ),
    ),
)


def fill_photo(utt: Utterance, ctx: Context) -> Fill:
    mode = next((mode for mode, pattern in _CAMERA_MODES if pattern.search(utt.lower)), None)
    slots: dict[str, SlotValue] = {"mode": mode} if mode else {}
    return Fill(True, slots, Action("camera.open", dict(slots)))


def confirm_photo(slots: Slots, lang: Lang, now: datetime) -> str:
    mode = slots.get("mode")
    if lang == "zh":
        zh = {"selfie": "前置摄像头", "video": "录像模式", "photo": "拍照模式"}.get(str(mode), "相机")
        return f"好的，正在打开{zh}"
    en = {"selfie": "the front camera", "video": "the camera in video mode"}.get(str(mode), "the camera")
    return f"Opening {en}."


# ---------------------------------------------------------------------------------------------- music

MUSIC_APPS = ("qq_music", "netease_music", "kugou")
_KUGOU = _rx(r"酷狗(?:音乐)?|\bku\s*gou(?:\s+music)?\b")
_MUSIC_APP_NAME = {
    "qq_music": ("QQ音乐", "QQ Music"),
    "netease_music": ("网易云音乐", "NetEase Cloud Music"),
    "kugou": ("酷狗音乐", "Kugou Music"),
}


def _music_app(text: str) -> tuple[str, int, int, str] | None:
    """The music app named in ``text``: id, span and the name as said."""
    kugou = _KUGOU.search(text.lower())
    if kugou is not None:
        return "kugou", kugou.start(), kugou.end(), text[kugou.start() : kugou.end()]
    match = find_app(text)
    if match is not None and match.app.id in MUSIC_APPS:
        return match.app.id, match.start, match.end, match.said
    return None


def fill_music(utt: Utterance, ctx: Context) -> Fill:
    text = utt.text
    slots: dict[str, SlotValue] = {}
    names: list[str] = []
    app = _music_app(text)
    if app is not None:
        slots["app"] = app[0]
        names.append(app[3])
        before = re.search(
            r"(?:用|在|打开|通过|拿|去|\b(?:on|in|with|using|from|via|open)\s+)\s*$", text[: app[1]], re.I
        )
        after = re.match(r"\s*(?:app\b|上面|上|里面|里|中)?", text[app[2] :], re.I)
        start = before.start() if before else app[1]
        end = app[2] + (after.end() if after else 0)
        text = _cut(text, start, end)
    slots.update(_music_request(text))
    names.extend(str(slots[k]) for k in ("song", "artist", "genre") if k in slots)
    params = dict(slots)
    if "app" in slots and str(slots["app"]) in BY_ID:
        params["package"] = BY_ID[str(slots["app"])].package
    return Fill(True, slots, Action("music.play", params), names=tuple(names))


def _lexicon(*lines: str) -> frozenset[str]:
    """Lower-cased names from lines of names separated by "/"."""
    return frozenset(name.strip().lower() for line in lines for name in line.split("/") if name.strip())


# A small lexicon of singers and bands: a bare name after 放/来首/"play" is a song unless it is one of
# these (来首BLACKPINK, 放首许嵩). "X的歌", "songs by X" and "X's Y" mark an artist without the lexicon.
ARTISTS = _lexicon(
    "周杰伦/林俊杰/陈奕迅/邓紫棋/薛之谦/毛不易/周深/华晨宇/张学友/刘德华/王菲/张杰/刀郎/许嵩/五月天",
    "李荣浩/汪苏泷/张韶涵/孙燕姿/蔡依林/王力宏/陶喆/李宗盛/罗大佑/周华健/齐秦/张惠妹/莫文蔚/那英",
    "王心凌/田馥甄/梁静茹/杨千嬅/容祖儿/谭咏麟/张国荣/梅艳芳/黄家驹/邓丽君/费玉清/凤凰传奇/筷子兄弟",
    "花儿乐队/逃跑计划/新裤子/痛仰/草东没有派对/告五人/房东的猫/赵雷/宋冬野/朴树/许巍/李健/任贤齐",
    "伍佰/郭富城/黎明/谢霆锋/陈小春/张信哲/光良/萧敬腾/杨宗纬/林宥嘉/韦礼安/吴青峰/苏打绿/李玉刚/韩红",
    "腾格尔/张碧晨/单依纯/李宇春/张靓颖/周笔畅/郁可唯/胡彦斌/汪峰/崔健/郑钧/羽泉/杨坤/李克勤/古巨基",
    "方大同/林忆莲/叶倩文/陈慧娴/郑秀文/蔡琴/张雨生/陈绮贞/戴佩妮/范玮琪/郭静/徐佳莹/易烊千玺/王俊凯",
    "王源/鹿晗/蔡徐坤/张艺兴/TFBOYS/时代少年团/陈粒/海来阿木/庄心妍/半吨兄弟/降央卓玛/张宇/金志文",
    "S.H.E/飞儿乐队/久石让/坂本龙一/米津玄师/贝多芬/莫扎特/肖邦/巴赫/周传雄/刘若英/王嘉尔/马頔/陈楚生",
    "Beyond/BLACKPINK/BTS/TWICE/EXO/BIGBANG/Big Bang/IU/aespa/NewJeans/SEVENTEEN/Stray Kids/YOASOBI",
    "Coldplay/Adele/Eminem/Drake/Queen/ABBA/Westlife/Avicii/Sia/Rihanna/Beyonce/Oasis/Nirvana/Metallica",
    "Radiohead/Taylor Swift/Ed Sheeran/Justin Bieber/Bruno Mars/Billie Eilish/The Weeknd/Ariana Grande",
    "Lady Gaga/Maroon 5/Imagine Dragons/Linkin Park/The Beatles/Michael Jackson/Backstreet Boys",
    "Avril Lavigne/Katy Perry/Lana Del Rey/Shawn Mendes/Dua Lipa/Harry Styles/One Direction/Olivia Rodrigo",
    "Bon Jovi/Celine Dion/Whitney Houston/Mariah Carey/Britney Spears/Charlie Puth/Post Malone/Kanye West",
    "Frank Sinatra/Elvis Presley/Bob Dylan/Pink Floyd/Daft Punk/Alan Walker/The Chainsmokers/Calvin Harris",
    "Jay Chou/JJ Lin/Eason Chan/G.E.M./Jacky Cheung/Andy Lau/Faye Wong/Leslie Cheung/Mayday/Joe Hisaishi",
    "Kenshi Yonezu",
)

# Genres. Chinese values keep the words as said, suffix included (古典音乐, 粤语歌, 爵士乐); English
# values drop a trailing "music"/"songs" ("rock music" → rock), as the data set writes them.
_ZH_GENRE = _rx(
    r"(?:伤感|抒情|经典|怀旧|网络|抖音)?(?:情歌|老歌|神曲|热歌)"
    r"|(?:摇滚|古典|流行|爵士|民谣|电子|乡村|蓝调|说唱|嘻哈|古风|国风|重金属|朋克|轻|纯|舞|钢琴|吉他|小提琴"
    r"|粤语|国语|英文|英语|日语|韩语|日文|韩文|欧美|民族|dj|r&b)(?:音乐|乐|歌曲|歌|曲|舞曲)"
    r"|摇滚|古典|流行|爵士|民谣|说唱|嘻哈|古风|国风|重金属|朋克|电音|儿歌|童谣|摇篮曲|白噪音|白噪声|嗨歌|红歌"
    r"|交响乐|京剧|戏曲|黄梅戏|越剧|昆曲|广场舞(?:音乐|歌曲)?"
)
_EN_GENRE = _rx(
    r"\b(?:jazz|rock(?:\s+and\s+roll|\s*n\s*roll)?|pop|classical|hip[\s-]?hop|rap|country|blues|edm|lo-?fi"
    r"|[kjc]-?pop|cantopop|mandopop|folk|metal|heavy\s+metal|punk|disco|reggae|r&b|soul|funk|techno|house|trance"
    r"|lullab(?:y|ies)|white\s+noise|ambient|electronic|indie|gospel|opera|piano|acoustic|instrumental|dj"
    r"|dance|chill(?:out|hop)?|christmas|\d0s)"
    r"(?=\s+(?:music|songs?|tunes|hits|tracks)\b|\s*$|\s+(?:for|while|during|when|to\s+(?:help|study|relax|sleep))\b)"
)
# Words that say *how* music should feel, or point at a playlist: the contract has no slot for them.
_NOT_A_NAME = _rx(
    r"听|适合|好听|轻松|安静|欢快|舒缓|动感|助眠|放松|开心|伤心|难过|热门|最新|最火|喜欢|推荐|收藏|下载|随机|歌单"
    r"|睡觉|学习|开车|跑步|运动|工作|什么|一些|点|几首|音乐|歌曲|每日|榜|排行|首页|列表|好的|好歌"
    r"|\b(?:something|anything|music|songs?|tunes|playlist|favou?rites?|random|shuffle|radio|liked|daily|mix"
    r"|playing|whatever|stuff|good|nice|relaxing|calm|happy|sad|upbeat|chill)\b"
)
_GENERIC_WORK = _rx(
    r"^(?:歌|歌曲|音乐|新歌|老歌|经典|经典歌曲|成名曲|代表作|热门歌曲|热歌|所有歌|全部歌曲|专辑|新专辑|歌儿|曲子|作品)$"
    r"|^(?:songs?|music|tracks?|hits|album|stuff|greatest\s+hits|(?:latest|new|newest)\s+(?:songs?|album))$"
)
_EN_PLAY = re.compile(
    r"^(?:(?:hey|ok|okay),?\s+)?(?:(?:can|could|would)\s+you\s+|please\s+|i\s+(?:want|wanna|would\s+like|'d\s+like)"
    r"\s+(?:to\s+)?|let'?s\s+|let\s+me\s+)*(?:start\s+playing|play|put\s+on|listen\s+to|hear|start|queue(?:\s+up)?"
    r"|throw\s+on|blast)(?![a-z])\s*(?:me\s+)?",
    re.I,
)
_EN_SONG_WORDS = re.compile(r"^(?:the\s+song|a\s+song\s+called|the\s+track|song)\s+", re.I)
_EN_SOME = re.compile(r"^(?:some|a\s+bit\s+of|a\s+little)\s+", re.I)
# 放/来/听 as a verb of their own, not inside 放松, 来不及, 听说
_ZH_VERB = r"(?:播放|点播|播|放(?!松|心|假|学|弃|过|下)|来(?!不|自|着|过|电)|听(?!说|到|见|懂|过|话)|唱|整)"
_ZH_PLAY = re.compile(
    r"^(?:帮我|给我|请|麻烦你?|你|小\S助手|能不能|可不可以|可以|能)*\s*(?:我|咱们?)?(?:就|只|还|也|现在|突然)?"
    r"(?:想要|想|要)?\s*(?:再|随便|随机)*\s*"
    rf"{_ZH_VERB}?\s*(?:一下|一首|一曲|一个|首|曲|几首|一些|些|点儿|一点|点|个|一段|段)?"
)
_TAIL = re.compile(
    r"(?:给(?:我|宝宝|孩子|大家|我们)听(?:听)?|听听|听|吧|呗|啊|呀|好吗|好不好|谢谢|可以吗"
    r"|\s+(?:please|now|right\s+now|thanks|again)"
    r"|\s+for\s+(?:me|us|him|her|them|(?:my|the|our)\s+(?:mom|mum|dad|kids?|baby|wife|husband|family|friends?"
    r"|son|daughter|girlfriend|boyfriend|guests|party)))+$",
    re.I,
)
_HAN_NAME = re.compile(r"[\u3400-\u9fff]{2,4}")


def _trim(value: str) -> str:
    return value.strip(_PUNCT)


def _artist_ok(name: str) -> bool:
    return bool(name) and _NOT_A_NAME.search(name) is None


_PLAY_VERB = re.compile(
    r"^\W*(?:帮我|给我|请|麻烦你?|能不能|可不可以|可以|能|我|咱们?|就|只|还|也|想要|想|要|再)*"
    rf"{_ZH_VERB}|" + _EN_PLAY.pattern + "(?=.)",
    re.I,
)


def _music_request(text: str) -> dict[str, SlotValue]:
    """Song, artist or genre: from the clause that asks for music (太吵了，放首轻音乐 → 放首轻音乐)."""
    clauses = [c for c in re.split(r"[,，;；。!！?？]", text) if _trim(c)]
    asking = [c for c in clauses if _PLAY_VERB.search(c)]
    for clause in asking or clauses:
        slots = _music_clause(clause)
        if slots:
            return slots
    return {}


def _music_clause(text: str) -> dict[str, SlotValue]:
    rest = _trim(_EN_PLAY.sub("", _trim(text), count=1))
    rest = _trim(_ZH_PLAY.sub("", rest, count=1))
    rest = _trim(_TAIL.sub("", rest))
    some = _EN_SOME.match(rest) is not None
    rest = _trim(_EN_SOME.sub("", rest))
    said_song = _EN_SONG_WORDS.match(rest) is not None
    rest = _trim(_EN_SONG_WORDS.sub("", rest))
    lower = rest.lower()
    if not rest or _GENERIC_WORK.search(lower):
        return {}
    if lower in ARTISTS:
        return {"artist": rest}
    genre = _ZH_GENRE.search(lower)
    if genre is not None:
        return {"genre": rest[genre.start() : genre.end()]}
    genre = _EN_GENRE.search(lower)
    if genre is not None and not said_song:
        return {"genre": rest[genre.start() : genre.end()]}
    by = re.match(r"(?P<w>.*?)\s*\b(?:by|from)\s+(?P<a>.+)$", rest, re.I)
    if by is not None:
        return _work_and_artist(by.group("w"), by.group("a"))
    owner = re.match(r"(?P<a>[^的]+?)\s*的\s*(?P<w>.+)$", rest) or re.match(
        r"(?P<a>.+?)'s\s+(?P<w>.+)$", rest
    )
    if owner is not None:
        artist, work = _trim(owner.group("a")), _trim(owner.group("w"))
        known = artist.lower() in ARTISTS
        looks_like_name = _HAN_NAME.fullmatch(artist) is not None or not has_han(artist)
        if known or _GENERIC_WORK.search(work.lower()) or (looks_like_name and "的" not in work):
            return _work_and_artist(work, artist)
        # 月亮代表我的心: not someone's song, a title with 的 in it
    kind = re.match(
        r"(?:the\s+)?(?:new|latest|newest|best|greatest)?\s*(?P<n>.+?)\s+(?:album|songs?|music|hits|tracks)$",
        rest,
        re.I,
    ) or re.match(r"(?P<n>.+?)(?:的)?(?:歌曲|歌|音乐|专辑)$", rest)
    if kind is not None:
        name = _trim(kind.group("n"))
        if not _artist_ok(name):
            return {}
        return {"artist": name} if name.lower() in ARTISTS or has_han(name) else {"genre": name}
    if not _artist_ok(rest):
        return {}
    if some:
        return {"genre": rest}
    return {"song": rest}


def _work_and_artist(work: str, artist: str) -> dict[str, SlotValue]:
    work, artist = _trim(work), _trim(artist)
    work = _trim(re.sub(r"^(?:the\s+)?(?:song|track)\s+|^(?:一首|首)", "", work, flags=re.I))
    if not _artist_ok(artist):
        return {}
    if not work or _GENERIC_WORK.search(work.lower()) or _NOT_A_NAME.search(work):
        return {"artist": artist}
    return {"song": work, "artist": artist}


def confirm_music(slots: Slots, lang: Lang, now: datetime) -> str:
    song, artist, genre, app = slots.get("song"), slots.get("artist"), slots.get("genre"), slots.get("app")
    names = _MUSIC_APP_NAME.get(str(app)) if app else None
    if lang == "zh":
        if song and artist:
            what = f"{artist}的《{song}》"
        elif song:
            what = f"《{song}》"
        elif artist:
            what = f"{artist}的歌"
        elif genre:
            what = f"{genre}"
        else:
            what = "音乐"
        where = f"用{names[0]}" if names else ""
        return f"好的，{where}为你播放{what}"
    if song and artist:
        what = f"“{song}” by {artist}"
    elif song:
        what = f"“{song}”"
    elif artist:
        what = f"songs by {artist}"
    elif genre:
        what = f"some {genre}"
    else:
        what = "some music"
    where = f" on {names[1]}" if names else ""
    return f"Playing {what}{where}."


# --------------------------------------------------------------------------------------------- photos


_MONTH_NAME = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
# The day the photos were taken on is timeparse's parse_past_date (the gallery holds what was already
# taken: 周五 / "friday" / 3号 mean the last one), but for one thing: "last monday" in the data is the last
# Monday, today included, as a bare "monday" is ("photos from last Monday" on Wednesday 2026-11-25 are of
# 11-23), where parse_past_date reads it as last week's, like 上周一.
_EN_LAST = _rx(
    r"\b(?:last|past|previous)\s+(?=(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b)"
)
# The words that name a day (昨天, 上周五, 3天前, yesterday, last friday, dec 3rd), located with timeparse's
# own patterns, are cut before the query is read.
_DAY_WORDS = tuple(
    re.compile(p.pattern, p.flags | re.IGNORECASE) for p in (_ZH_PAST_DATE, _EN_PAST_DATE, _ZH_DATE, _EN_DATE)
)


def _past_date(utt: Utterance, today: date) -> date | None:
    """The one day the photos were taken on; None when no past day was said."""
    return parse_past_date(_EN_LAST.sub("", utt.numeric), today, zh_first=has_han(utt.text))


def _without_day(text: str) -> str:
    for pattern in _DAY_WORDS:
        text = pattern.sub(" ", text)
    return text


_QUOTED = re.compile(r"[“\"「『](?P<q>[^”\"」』]+)[”\"」』]")
_ZH_VAGUE_TIME = re.compile(
    r"(?:去年|前年|今年|上上?个?月|这个?月|本月|上上?个?星期|上上?个?礼拜|上上?周|这周|本周|最近|之前|以前|那天|那次"
    r"|当天|\d+月份?|[一二三四五六七八九十]+月份?|\d+号|\d+日)的?"
    r"|(?:早上|晚上|上午|下午|中午|傍晚|夜里|半夜|凌晨)"
)
# When the photos were taken, said as an occasion: the query when nothing else is (国庆的照片 → 国庆),
# dropped when something is (去年国庆在杭州拍的 → 杭州).
_ZH_OCCASION = re.compile(
    r"(?:春节|过年|国庆|中秋|元旦|暑假|寒假|周末|夏天|冬天|春天|秋天)(?:的时候|期间)?的?"
)
_ZH_LEAD = re.compile(
    r"^(?:帮我|给我|请|麻烦|我想|我要|想|要|把|在|再|都|从|手机)"
    r"|^(?:相册|图库|照片|相片|图片)(?:里面?|中|里头)?的?|^截图(?:里面?|中|里头)的?"
    r"|^(?:找一下|找一找|找找|找出来|找出|找到|找下|找|搜索|搜一下|搜一搜|搜下|搜|查找|查看|查一下|查|翻一下|翻翻|翻出"
    r"|翻|看一下|看看|看下|看|显示|打开|调出|有没有|含有|包含|带有|带着|带|有)"
    r"|^(?:一下|下|一张|张|那张|那只|那个|那些|这张|几张|所有的?|全部的?|我的|一些)"
)
_ZH_PHOTO_TAIL = re.compile(
    r"(?:给我看看|给我看一?下|给我看|找出来|出来|在哪里|在哪儿|在哪|呢|吗|吧|呀|啊|了|一下"
    r"|的?(?:那张|这张|那只|那个|这个|那些|那几张|几张))$"
)
_MEDIA_WORD = re.compile(
    r"的?(?:照片|相片|图片|图|视频|截图|截屏|相册|图库|photos?|pictures?|pics?|images?|videos?|screenshots?)$",
    re.I,
)
_SHOT_OF = re.compile(r"^(?:拍|照|录)(?:的)?(?P<p>.+?)的?$")


def _zh_photo_query(text: str) -> str | None:
    quoted = _QUOTED.search(text)
    if quoted is not None:
        return _trim(quoted.group("q")) or None
    return _zh_photo_words(_ZH_OCCASION.sub(" ", text)) or _zh_photo_words(text)


def _zh_photo_words(text: str) -> str | None:
    rest = _ZH_VAGUE_TIME.sub(" ", text)
    rest = re.sub(r"(?:相册|图库|照片|相片|图片|截图)(?:里面?|中|里头)的?", " ", rest)
    rest = re.sub(r"\s+|(?:拍|录|照|拍摄|录制)下?的", "", rest)  # 在三亚拍的照片 → 在三亚照片
    for _ in range(10):
        before = rest
        rest = _trim(_ZH_PHOTO_TAIL.sub("", _trim(_ZH_LEAD.sub("", _trim(rest)))))
        if rest == before:
            break
    media = _MEDIA_WORD.search(rest)
    if media is not None and media.start() > 0:
        rest = rest[: media.start()]
    elif media is not None:
        word = media.group().lstrip("的")
        return word if word in ("截图", "截屏", "视频") else None
    rest = _trim(_ZH_PHOTO_TAIL.sub("", rest))
    shot = _SHOT_OF.fullmatch(rest)
    if shot is not None:
        rest = shot.group("p")
    rest = _trim(re.sub(r"^(?:搜索|搜|找|查找)|的$|^的", "", _trim(rest)))
    return rest or None


_EN_PHOTO_LEAD = re.compile(
    r"^(?:(?:hey|ok|okay|please|can\s+you|could\s+you|would\s+you|help\s+me|i\s+(?:want|wanna|need|would\s+like|'d\s+like)"
    r"(?:\s+to)?|let\s+me|let'?s)\s+)*"
    r"(?:(?:show|find|search(?:\s+for)?|look(?:\s+for|\s+up)?|pull\s+up|bring\s+up|get|open|display|see|view"
    r"|browse|dig\s+up|where(?:'s|\s+is|\s+are|'re)|got\s+any|any|do\s+i\s+have\s+any)"
    r"(?:\s+(?:me|up|through|out))?\s+)?"
    r"(?:(?:all|my|the|some|any|a|those|these|that|every|each)\s+)*",
    re.I,
)
_EN_PHOTO_NOUN = re.compile(
    r"^(?:photos?|pictures?|pics?|images?|shots?|videos?|clips?|gallery|album|camera\s+roll|photo\s+library"
    r"|照片|相片|图片|视频)(?:\b|(?=[^\x00-\x7f]))\s*",
    re.I,
)
_EN_PHOTO_LINK = re.compile(
    r"^(?:(?:that|which)\s+(?:show|have|has|contain|include)s?|(?:i|we)\s+(?:took|shot|snapped)|taken|shot"
    r"|of|with|showing|containing|featuring|from|at|in|on|about|for)\b\s*"
    # an article goes, unless it belongs to a name: the Great Wall, the Bund at night (but: the Sanya trip)
    r"(?:(?:the|a|an)\s+(?!(?-i:(?:[A-Z][\w'-]*\s*)+(?:$|\s(?:at|in|on|from|with|of|during|near)\b))))?",
    re.I,
)
_EN_PHOTO_TRAIL = re.compile(
    r"\s*\b(?:in|on|from)\s+(?:my|the)\s+(?:gallery|album|photos?\s+app|camera\s+roll|phone|library)\b"
    r"|\s*\b(?:(?:i|we)\s+(?:took|shot|snapped)|taken)\b"
    r"|\s*\b(?:last|this|past)\s+(?:year|month|week|summer|winter|spring|autumn|fall|weekend|time)\b"
    r"|\s*\b(?:please|for\s+me|again|in\s+(?:it|them))\b",
    re.I,
)
_EN_DAY = re.compile(
    rf"\b(?:on\s+)?(?:the\s+)?(?:{_MONTH_NAME}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH_NAME})"
    r"(?:,?\s+\d{4})?\b",
    re.I | re.ASCII,
)
_EN_MEDIA_TAIL = re.compile(r"\s+(?:photos?|pictures?|pics?|images?|shots?|videos?|clips?)$", re.I)


def _en_photo_query(text: str) -> str | None:
    quoted = _QUOTED.search(text)
    if quoted is not None:
        return _trim(quoted.group("q")) or None
    rest = _trim(_EN_PHOTO_TRAIL.sub(" ", _EN_DAY.sub(" ", text)))
    rest = _trim(_EN_PHOTO_LEAD.sub("", re.sub(r"\s+", " ", rest), count=1))
    for _ in range(6):
        before = rest
        rest = _trim(_EN_PHOTO_LINK.sub("", _EN_PHOTO_NOUN.sub("", rest)))
        if rest == before:
            break
    rest = _trim(_EN_MEDIA_TAIL.sub("", rest))
    rest = _trim(re.sub(r"\s+\b(?:from|at|in|on|of)$", "", rest, flags=re.I))
    return rest or None


def fill_photos(utt: Utterance, ctx: Context) -> Fill:
    slots: dict[str, SlotValue] = {}
    day = _past_date(utt, ctx.now.date())
    if day is not None:
        slots["date"] = day.isoformat()
    text = _without_day(utt.text)
    # the command's language decides the grammar: "photos of 老王's kid" is English, 找一下cat的照片 Chinese
    query = _en_photo_query(text) if re.match(r"\W*[A-Za-z]", text) else _zh_photo_query(text)
    if query:
        slots["query"] = query
    return Fill(True, slots, Action("gallery.search", dict(slots)), names=(query,) if query else ())


def _past_day_zh(day: date, today: date) -> str:
    delta = (today - day).days
    return ("今天", "昨天", "前天")[delta] if 0 <= delta <= 2 else _day_zh(day, today)


def _past_day_en(day: date, today: date) -> str:
    delta = (today - day).days
    return ("today", "yesterday")[delta] if 0 <= delta <= 1 else _day_en(day, today, preposition=False)


def confirm_photos(slots: Slots, lang: Lang, now: datetime) -> str:
    query, day = slots.get("query"), slots.get("date")
    moment = date.fromisoformat(str(day)) if day else None
    if lang == "zh":
        parts = [_past_day_zh(moment, now.date()) if moment else "", str(query) if query else ""]
        what = "".join(parts)
        return f"好的，正在相册里找{what}{'的' if what else ''}照片"
    about = f" of {query}" if query else ""
    when = f" from {_past_day_en(moment, now.date())}" if moment else ""
    return f"Looking for photos{about}{when} in your gallery."


# ----------------------------------------------------------------------------------------------- skills

SKILLS: tuple[Skill, ...] = (
    Skill("toggle_setting", fill_toggle, confirm_toggle, ask_toggle),
    Skill("set_brightness", fill_brightness, confirm_brightness, ask_brightness),
    Skill("set_volume", fill_volume, confirm_volume, ask_volume),
    Skill("battery_status", fill_battery, confirm_battery, _never_asks),
    Skill("media_control", fill_media, confirm_media, ask_media),
    Skill("take_photo", fill_photo, confirm_photo, _never_asks),
    Skill("take_screenshot", fill_screenshot, confirm_screenshot, _never_asks),
    Skill("play_music", fill_music, confirm_music, _never_asks),
    Skill("search_photos", fill_photos, confirm_photos, _never_asks),
)
