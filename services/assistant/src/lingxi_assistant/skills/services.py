"""Skills for everyday services: messages, maps, rides, food delivery, shopping, payment, parcels, search.

Free-text values (contact, content, destination, food, query) are the user's words trimmed of the command
words around them (帮我, 一下, 吧, please, can you, ...) and of edge punctuation, never translated; they are
taken from the raw sentence, so 好的，谢谢 keeps its full-width comma (docs/assistant-intents.md). Apps are
catalogue ids (:mod:`lingxi_assistant.apps`), kept only where the intent allows them; the device action
gets the slots plus the app's package, as ``app.open`` does. Ordering food with no app named opens the
user's usual delivery app (``Context.usual_apps``) or else the default one (``apps.DEFAULT_APPS``); the
action says which (``app_choice``) and the reply names it, while the slots stay what the user said.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable
from datetime import datetime

from lingxi_assistant.apps import BY_ID, DEFAULT_APPS, FOOD_DELIVERY, find_app
from lingxi_assistant.lang import Lang, Utterance
from lingxi_assistant.model import Action, SlotValue
from lingxi_assistant.skills import Skill, Slots
from lingxi_assistant.slots import Context, Fill

__all__ = ["SKILLS"]


def _re(pattern: str) -> re.Pattern[str]:
    """Case-insensitive, with ASCII word rules: ``\\b`` must see the break in 发wechat说 or walk去."""
    return re.compile(pattern, re.I | re.ASCII)


_EDGE = " \t,，。.!！?？、:：;；\"“”'‘’「」『』…~～"
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")

# Politeness and filler at either end of a value: never part of it.
_ZH_HEAD = re.compile(r"^(?:请你?|麻烦你?|劳驾|帮忙|帮我|帮|替我|给我|为我|一下)")
_ZH_TAIL = re.compile(r"(?:吧|呀|啊|呢|哦|喔|哈|嘛|呗|啦|哟|好吗|好不好|可以吗|行吗|行不行|谢谢你?|一下)$")
_EN_HEAD = _re(
    r"^(?:please|kindly|just|(?:can|could|would|will)\s+you|i\s+(?:want|need|would\s+like)\s+to"
    r"|i'd\s+like\s+to|help\s+me|let's)\s+"
)
_EN_TAIL = _re(r"\s+(?:please|thanks|thank\s+you|for\s+me|right\s+now|now|asap|real\s+quick)$")
_ARTICLE = _re(r"^(?:the|a|an|some|any)\s+")
# "the" before a common noun is a command word (to the airport → airport); before a name it is the name's
# (the Bund, the Forbidden City).
_THE = re.compile(r"^[Tt]he\s+(?=[a-z0-9])")


def _tidy(value: str, head: re.Pattern[str] | None = None, tail: re.Pattern[str] | None = None) -> str:
    """The value without edge punctuation and politeness (nor the given head and tail patterns)."""
    value = value.strip(_EDGE)
    while True:
        shorter = value
        for pattern in (_ZH_HEAD, _ZH_TAIL, _EN_HEAD, _EN_TAIL, head, tail):
            if pattern is not None:
                shorter = pattern.sub("", shorter).strip(_EDGE)
        if shorter == value:
            return value
        value = shorter


def _said(utt: Utterance, value: str) -> str:
    """``value`` (found in the normalised text) as it stands in the raw sentence: full-width punctuation
    such as 好的，谢谢 is kept, while full-width letters and digits and runs of spaces stay normalised."""
    if not value or value in utt.raw:
        return value
    chars: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(utt.raw):
        for c in unicodedata.normalize("NFKC", ch):
            chars.append(c)
            where.append(i)
    found = re.search(r"\s+".join(re.escape(word) for word in value.split()), "".join(chars))
    if found is None or found.end() == found.start():
        return value
    span = utt.raw[where[found.start()] : where[found.end() - 1] + 1]
    kept = "".join(
        ch if unicodedata.category(ch).startswith("P") else unicodedata.normalize("NFKC", ch) for ch in span
    )
    return re.sub(r"\s+", " ", kept).strip()


def _app(
    text: str, allowed: Collection[str], aliases: dict[str, str] | None = None
) -> tuple[str, str] | None:
    """(app id, name as said) of the first app in ``text`` that the intent allows."""
    rest = text
    while rest:
        found = find_app(rest)
        if found is None:
            return None
        app_id = (aliases or {}).get(found.app.id, found.app.id)
        if app_id in allowed:
            return app_id, found.said
        rest = rest[found.end :]
    return None


def _without(text: str, said: str | None, bare: bool = True) -> str:
    """The text without the app's name: "find cat food on tmall" → "find cat food". With ``bare`` off only a
    phrase such as "on didi" or "using baidu maps" goes (a bare name may carry the sentence: a didi to …)."""
    if not said:
        return text
    phrase = _re(
        rf"\s+(?:on|in|at|from|via|with|using|through|by)\s+(?:the\s+|my\s+)?{re.escape(said)}(?:'s)?(?:\s+app)?(?![a-z0-9])"
    )
    if phrase.search(text):
        return re.sub(r"\s+", " ", phrase.sub(" ", text))
    return re.sub(r"\s+", " ", text.replace(said, " ")) if bare else text


def _action(name: str, slots: dict[str, SlotValue], app: str | None = None) -> Action:
    params: dict[str, SlotValue] = dict(slots)
    if app is not None:
        params["package"] = BY_ID[app].package
    return Action(name, params)


def _names(*values: object) -> tuple[str, ...]:
    """Entity names for the reply-language choice: places, contacts and the like read the same in both."""
    return tuple(v for v in values if isinstance(v, str) and v)


def _app_name(app_id: SlotValue | None, lang: Lang) -> str:
    app = BY_ID.get(str(app_id)) if app_id is not None else None
    if app is None:
        return ""
    return app.name_zh if lang == "zh" else app.name_en


def _earliest(patterns: Iterable[re.Pattern[str]], text: str) -> re.Match[str] | None:
    """The match that starts first in ``text`` (a tie goes to the earlier pattern)."""
    best: re.Match[str] | None = None
    for pattern in patterns:
        m = pattern.search(text)
        if m is not None and (best is None or m.start() < best.start()):
            best = m
    return best


# ======================================================================================== send_message

_ZH_NOUN = (
    r"(?:\s*(?:微信消息|微信|短信息|短信|短消息|消息|信息|讯息|留言|言|语音"
    r"|message|msg|wechat|weixin|sms|text))"
)
_ZH_MEASURE = r"(?:一个|一条|一则|一下|个|条|则|封)?"
_ZH_SEND = r"(?:发送|发|send|回复|回|留)"
# 下 as in 说下/问下 ("say a word"), not the start of 下周, 下午, 下班 ... in the message itself.
_JUST_DOWN = r"下(?!周|午|个|次|班|雨|雪|星期|礼拜|月|楼|车|课|单|载)"
# Between a contact and the content: 说, ：, ，, 问他, 让他, 内容是 ...
_ZH_SEP = re.compile(
    r"[，,:：\s]*(?:并且|并|然后|就|跟(?:他|她|ta|他们)|和(?:他|她|ta|他们))?"
    rf"(?:[说讲](?:一声|一下|声|{_JUST_DOWN})?|告诉(?:他|她|ta|他们|她们)|问问?(?:一下|{_JUST_DOWN})?(?:他|她|ta|他们)?"
    r"|让(?:他|她|ta|他们)"
    r"|叫(?:他|她|ta|他们)|提醒(?:他|她|ta|他们)|内容(?:是|为)?)[，,:：\s]*|[，,:：]\s*"
)
_ZH_MESSAGE = (
    # 给张伟发微信说…, 用微信给爸爸发生日快乐, 给杨老师留个言说…
    _re(rf"(?:给|向)(?P<contact>[^，,:：给]+?)\s*{_ZH_SEND}\s*{_ZH_MEASURE}{_ZH_NOUN}*(?P<rest>.*)$"),
    # 发短信给妈妈说…, 帮我回个消息给赵总，就说…, 微信消息发给姐姐, 发个 message to Jason: …
    _re(rf"(?:{_ZH_SEND}\s*{_ZH_MEASURE}{_ZH_NOUN}*|{_ZH_NOUN}+\s*(?:发送|发))\s*(?:给|to\s)(?P<both>.+)$"),
    # 跟李老师说一声…, 微信跟老妈说…
    re.compile(rf"(?:跟|和|对)(?P<contact>[^，,:：]+?)[说讲](?:一声|一下|声|{_JUST_DOWN})?(?P<rest>.*)$"),
    # 回复小美：好的收到, 回老妈微信：知道了, 用短信回复客户说已发货
    _re(rf"(?:回复|回)(?P<contact>[^，,:：]+?)的?{_ZH_NOUN}?(?P<rest>(?:[：:，,]|说).*)$"),
    # 告诉小张我十分钟后到, 通知一下室友…, 微信上问问小林到哪了
    re.compile(r"(?:告诉|通知|转告|问问|问一下)(?:一下)?(?P<both>.+)$"),
    # 帮我微信老王，说文件发了 (微信 as the verb)
    re.compile(
        r"(?:^|帮我|请|麻烦你?|给我)(?:微信|短信)(?!消息|信息|上|里|给|跟|和|告诉|通知|问)(?P<both>.+)$"
    ),
)
# Where a message starts when nothing separates it from the contact (告诉小张我十分钟后到).
_ZH_CONTENT_START = re.compile(
    r"我|你|咱|他们|今|明|昨|后天|前天|晚上|早上|上午|下午|中午|马上|已经|不用|不要|别|到哪|在哪|什么|几点"
    r"|记得|下周|这周|周末|星期|孩子|会议|开会|在家|快到|到了|等"
)
_ZH_TITLE = re.compile(r"老师|阿姨|叔叔|总|经理|老板|师傅|医生|同学|姐|哥|妈|爸|婆|公|宝")
_ZH_CONTACT_TAIL = re.compile(r"(?:的|上|那里|那儿)$")

_EN_NOUN = (
    r"(?:wechat|we\s?chat|weixin|微信|短信|消息|信息|text\s+message|text|sms|imessage|message|msg|note|dm)"
    r"(?:\s+message)?"
)
_EN_CHANNEL_PHRASE = _re(
    r"\s+(?:on|via|by|through|over|using|in|with)\s+(?:wechat|we\s?chat|weixin|微信|短信"
    r"|text\s+message|text|sms|imessage)\b"
)
_EN_SEP = _re(
    r"\s*(?::|,|\s-\s)\s*|\s+(?:saying|that\s+says|which\s+says|to\s+say|and\s+say|telling\s+(?:him|her|them)"
    r"|and\s+tell\s+(?:him|her|them)|that|with\s+the\s+(?:message|text)|with)\s+"
)
_EN_MESSAGE = (
    # send a message to John saying…, send a WeChat to Lily: …, write to 李老师 that…
    _re(
        rf"\b(?:send|write|shoot|drop|compose)\s+(?:(?:a|an|one)\s+)?(?:(?:quick|short)\s+)?(?:{_EN_NOUN}\s+)?"
        rf"(?:to|for)\s+(?P<both>.+)$"
    ),
    # send mom a text saying…, shoot Nick a text, I'm here
    _re(
        rf"\b(?:send|write|shoot|drop)\s+(?P<contact>.+?)\s+(?:a|an)\s+(?:(?:quick|short)\s+)?{_EN_NOUN}"
        rf"(?![a-z])(?P<rest>.*)$"
    ),
    # let mom know I'm home
    _re(r"\blet\s+(?P<contact>.+?)\s+know\b(?P<rest>.*)$"),
    # reply to John: OK
    _re(r"\b(?:reply|respond|answer)\s+to\s+(?P<both>.+)$"),
    # wechat message to Zhou Jie: …
    _re(rf"(?<![a-z]){_EN_NOUN}\s+to\s+(?P<both>.+)$"),
    # text mom I'm on my way, tell my boss I'm sick, wechat Lisa that dinner is at 7
    _re(
        r"(?<![a-z])(?:text|message|msg|wechat|weixin|sms|dm|tell|inform|notify|ask)\s+(?:back\s+)?"
        r"(?!(?:to|a|an|messages?)\b)(?P<both>.+)$"
    ),
)
_EN_CONTENT_START = _re(
    r"(?:that|i|i'm|i'll|i've|i'd|im|we|we're|we'll|you|you're|you'll|your|it|it's|the|to|he|she|they"
    r"|there|can|could|please|don't|do|did|are|is|was|what|when|where|how|why|let's|happy|good|see|call"
    r"|thanks|thank|on|be|come|no|yes|ok|okay|our|dinner|lunch|meeting|sorry|hi|hello|hey|miss|love)"
)
_EN_CONTACT_HEAD = _re(r"^(?:my|our)\s+")
# What introduces the message once the contact is known: 说, say, saying, that ...
_CONTENT_LEAD = _re(
    rf"^(?:(?:就|并)?[说讲](?:一声|一下|声|{_JUST_DOWN})?|say(?:ing)?|that|to\s+say|内容(?:是|为)?)"
    r"(?:\s+|\s*[:：,，]\s*|(?=[^\x00-\x7f]))"
)
_BOTH_TAIL = _re(r"\s+(?:for\s+me|please|right\s+now|now)$")

_WECHAT = _re(r"微信|\bwe\s?chat\b|\bweixin\b")
_SMS = _re(r"短信|短消息|\bsms\b|\btext\s+message|\bimessage\b")
_NOT_A_CONTACT = {"me", "him", "her", "them", "it", "someone", "somebody", "我", "他", "她", "别人", "谁"}


def _zh_split(both: str) -> tuple[str, str]:
    """告诉小张我十分钟后到 → (小张, 我十分钟后到): the contact ends where the message starts."""
    sep = _ZH_SEP.search(both)
    if sep is not None and sep.start() > 0:
        return both[: sep.start()], both[sep.end() :]
    shortest = 2 if _HAN.match(both) else 1  # a Chinese contact has two characters or more
    for i in range(shortest, len(both)):
        if _ZH_CONTENT_START.match(both, i):
            return both[:i], both[i:]
    for title in _ZH_TITLE.finditer(both):
        if 2 <= title.end() < len(both):
            return both[: title.end()], both[title.end() :]
    return both, ""


def _en_split(both: str) -> tuple[str, str]:
    """tell John Smith I'm late → (John Smith, I'm late); message the driver that … → (the driver, …)."""
    words = both.split()
    if not words:
        return "", ""
    sep = _EN_SEP.search(both)
    if sep is not None and sep.start() > 0:
        contact = both[: sep.start()].split()
        lead = 1 if contact[0].lower() in ("my", "our", "the") else 0
        if len(contact) <= 4 and not any(_EN_CONTENT_START.fullmatch(w) for w in contact[lead:]):
            return both[: sep.start()], both[sep.end() :]
    take = 2 if words[0].lower() in ("my", "our", "the") and len(words) > 1 else 1
    while take < len(words):
        word = words[take].rstrip(",:")
        if not word[:1].isupper() or _EN_CONTENT_START.fullmatch(word):
            break
        take += 1
    return " ".join(words[:take]), " ".join(words[take:])


def _message_parts(text: str) -> tuple[str, str, str] | None:
    """(contact, content, the command words) of a message request, or None when no contact is named."""
    zh = _earliest(_ZH_MESSAGE, text)
    en = _earliest(_EN_MESSAGE, text)
    m = zh if en is None or (zh is not None and zh.start() <= en.start()) else en
    if m is None:
        return None
    sep = _ZH_SEP if m is zh else _EN_SEP
    groups = m.groupdict()
    if groups.get("both") is not None:
        both = _BOTH_TAIL.sub("", groups["both"]).strip(
            _EDGE
        )  # not 谢谢 or "thank you": they may be the message
        contact, content = (_zh_split if m is zh else _en_split)(both)
    else:
        contact, content = groups["contact"], groups["rest"]
        lead = sep.match(content)
        if lead is not None:
            content = content[lead.end() :]
    command = text[: len(text) - len(content)] if content and text.endswith(content) else text
    return contact, content, command


def _clean_contact(contact: str) -> str:
    contact = _THE.sub("", _EN_CONTACT_HEAD.sub("", contact.strip(_EDGE)))
    contact = re.sub(rf"^(?:用|通过)?{_ZH_NOUN}(?:上)?(?=.)", "", contact, flags=re.I)
    contact = _tidy(contact, tail=_ZH_CONTACT_TAIL)
    return "" if contact.lower() in _NOT_A_CONTACT else contact


def fill_send_message(utt: Utterance, ctx: Context) -> Fill:
    slots: dict[str, SlotValue] = {}
    text = utt.text
    channel_said = " ".join(m.group() for m in _EN_CHANNEL_PHRASE.finditer(text))
    text = _EN_CHANNEL_PHRASE.sub("", text)  # "tell my team on wechat the call is off": not the contact
    parts = _message_parts(text)
    command, contact, content = text, "", ""
    if parts is not None:
        contact, content, command = parts
        contact = _clean_contact(contact)
        # the message is kept whole: 好的，谢谢 and "thank you" are what to send, not politeness
        content = _CONTENT_LEAD.sub("", content.strip(_EDGE)).strip(_EDGE)
        if contact:
            slots["contact"] = _said(utt, contact)
        if content:
            slots["content"] = _said(utt, content)
    command += " " + channel_said
    if _WECHAT.search(command):
        slots["channel"] = "wechat"
    elif _SMS.search(command):
        slots["channel"] = "sms"
    names = _names(contact, content)
    if "contact" not in slots:
        return Fill(False, slots, names=names)
    app = "wechat" if slots.get("channel") == "wechat" else None
    return Fill(True, slots, _action("message.compose", slots, app), names=names)


def _confirm_message(slots: Slots, lang: Lang, now: datetime) -> str:
    contact, content, channel = slots.get("contact", ""), slots.get("content"), slots.get("channel")
    if lang == "zh":
        kind = {"wechat": "微信", "sms": "短信"}.get(str(channel), "消息")
        if content:
            return f"好的，给{contact}发{kind}：{content}"
        return f"好的，给{contact}发{kind}，要说什么？"
    kind = {"wechat": "WeChat message", "sms": "text message"}.get(str(channel), "message")
    if content:
        return f"OK, sending a {kind} to {contact}: “{content}”."
    return f"OK, a {kind} to {contact}. What should it say?"


def _ask_message(slots: Slots, lang: Lang) -> str:
    return "好的，要发给谁？" if lang == "zh" else "Sure, who should I send it to?"


# ============================================================================= navigate and book_taxi

_NAV_APPS = ("amap", "baidu_maps")
_TAXI_APPS = ("didi", "amap")
_MODES = (
    ("driving", _re(r"开车|驾车|自驾|开过去|\bdriv(?:e|ing)\b|\bby\s+car\b")),
    ("walking", _re(r"步行|走路|走着|走过去|\bwalk(?:ing)?\b|\bon\s+foot\b")),
    (
        "transit",
        _re(
            r"坐地铁|乘地铁|搭地铁|坐公交|乘公交|搭公交|公交|坐车|公共交通|\btransit\b|\bbus\b|\bsubway\b|\bmetro\b"
            r"|\bby\s+train\b|\bpublic\s+transport(?:ation)?\b"
        ),
    ),
    ("cycling", _re(r"骑车|骑自行车|骑行|骑单车|骑电动车|\bbik(?:e|ing)\b|\bcycl(?:e|ing)\b")),
)
_ZH_WHERE = re.compile(r"(?P<place>[^，,。!！?？\s]+?)在哪")
_ZH_GO = re.compile(r"目的地(?:是|为|[:：])?|前往|去往|去|到|回|至")
_ZH_NAV = re.compile(r"(?:导航|导个航)(?P<place>.+)$")
_ZH_HOW = re.compile(r"^(?P<place>[^，,。!！?？]+?)(?:怎么走|怎么去|咋走|多远|在哪)")
_ZH_PLACE_END = re.compile(
    r"[，,。!！?？;；]|怎么|咋|要多|要几|需要多|几分钟|多远|多久|多长时间|有多|远不远|堵不堵|堵吗|的路|的(?:公交|地铁|驾车|步行|骑行)?路线"
    r"|路线|走哪|哪条路|最快|在哪|坐什么|的导航|导航|多少钱|打车|叫车|的车|的出租车|\s+(?:吧|呀)"
    r"|\s+(?:by|on|via|using|with|from|please)(?:\s|$)"  # 导航去 三里屯 by walking
)
_ZH_PURPOSE = re.compile(r"(?<=..)(?:接|送|赶|买|取|办事|看病|吃饭|开会|上班|上课|逛|玩)")
_ZH_PLACE_HEAD = _re(r"^(?:去|到|回|往|一下|to\s)")
_PICKUP = re.compile(
    r"^(?:我(?:家|们)?)?(?:这里|这儿|这边|楼下|门口|小区门口|我这|我这儿|我这里|我家楼下|我的位置|当前位置)$"
)
# A word that can lead to "to <place>": navigate to, a taxi to, the best way to, baidu maps to, goes to …
_EN_GO_WORD = (
    r"\b(?:navigate|navigation|directions?|route|way|take|get|bring|drive|guide|go(?:es|ing)?|head(?:ing)?"
    r"|walk|bike|cycle|ride|travel|commute|trip|maps?|amap|gaode|didi|taxi|cab|car|carpool|lift|uber"
    r"|transport|transit|subway|metro|bus)\b"
)
_EN_GO = (
    _re(rf"{_EN_GO_WORD}(?:\s+[\w'.]+){{0,3}}?\s+(?:to|towards)\s+(?P<place>.+)$"),
    _re(rf"{_EN_GO_WORD}(?:\s+[\w'.]+){{0,2}}?\s+(?P<place>home)\b"),
    _re(r"\b(?:how\s+far\s+(?:is|to)|where(?:'s|\s+is))\s+(?P<place>.+)$"),
    _re(r"(?<=[\u4e00-\u9fff])\s*to\s+(?P<place>.+)$"),  # 打个车 to 首都机场 T3
)
_EN_PLACE_HEAD = _re(
    r"^(?:(?:take|get|bring|drive|walk|go|ride|head|cycle|bike)(?:\s+(?:me|us|back|there|over))?\s+to\s+)+"
)
_EN_PLACE_END = _re(
    r"\s*[,;!?]|\.$|\s+(?:by\s+(?:car|bus|subway|metro|train|bike|bicycle|taxi|cab|public\s+transport(?:ation)?)"
    r"|on\s+foot|(?:with|using|via|on|in|through)\s+(?:amap|gaode|baidu|didi|the\s+app)"
    r"|avoiding\b|and\s+avoid\b|please\b|now\b|right\s+now\b|asap\b|from\s+here\b|quickly\b|fast\b"
    r"|how\s+long\b|how\s+far\b|how\s+much\b|for\s+me\b|in\s+a\s+hurry\b|tomorrow\b|tonight\b|at\s+\d|for\s+\d)"
)
_EN_NOT_A_PLACE = _re(r"^(?:pick|collect|fetch|meet|come|wait)\b|^(?:there|it|here|me|us)$")


def _zh_place(value: str) -> str:
    cut = _ZH_PLACE_END.search(value)
    if cut is not None:
        value = value[: cut.start()]
    purpose = _ZH_PURPOSE.search(value)
    if purpose is not None:
        value = value[: purpose.start()]
    place = _tidy(value, head=_ZH_PLACE_HEAD)
    return "" if place in ("哪", "哪里", "哪儿") else place


def _en_place(value: str) -> str:
    value = _EN_PLACE_HEAD.sub("", value.strip())
    cut = _EN_PLACE_END.search(value)
    if cut is not None:
        value = value[: cut.start()]
    place = _THE.sub("", _tidy(value))
    return "" if _EN_NOT_A_PLACE.search(place) else place


def _destination(text: str, taxi: bool = False) -> str:
    """Where the user wants to go, as said (导航去国贸mall → 国贸mall, take me to the airport → airport)."""
    zh: list[str] = []
    where = _ZH_WHERE.search(text)
    if where is not None:
        zh.append(_tidy(where.group("place"), head=re.compile(r"^(?:请问|问一下|找一下|找找|找)")))
    zh.extend(_zh_place(text[m.end() :]) for m in _ZH_GO.finditer(text))
    for pattern in (_ZH_NAV, _ZH_HOW):
        m = pattern.search(text.strip(_EDGE))
        if m is not None:
            zh.append(_zh_place(m.group("place")))
    en = [_en_place(m.group("place")) for m in (p.search(text) for p in _EN_GO) if m is not None]
    # An English command goes first: in "navigate to 回龙观" the 回 is part of the name.
    english = re.match(r"[\s,]*[A-Za-z]", text) is not None
    for place in (*en, *zh) if english else (*zh, *en):
        if place and not (taxi and _PICKUP.match(place)):
            return place
    return ""


def _mode(text: str) -> str | None:
    for mode, pattern in _MODES:
        if pattern.search(text):
            return mode
    return None


def fill_navigate(utt: Utterance, ctx: Context) -> Fill:
    slots: dict[str, SlotValue] = {}
    found = _app(utt.text, _NAV_APPS, {"baidu": "baidu_maps"})  # 用百度导航: Baidu's map, not its search
    text = _without(utt.text, found[1] if found else None, bare=False)
    destination = _destination(text)
    if destination:
        slots["destination"] = _said(utt, destination)
    if found is not None:
        slots["app"] = found[0]
    mode = _mode(text.replace(destination, " ") if destination else text)  # 去地铁站: a place; 坐地铁: a mode
    if mode:
        slots["mode"] = mode
    names = _names(found[1] if found else None, destination)
    if not destination:
        return Fill(False, slots, names=names)
    return Fill(True, slots, _action("maps.navigate", slots, found[0] if found else None), names=names)


_MODE_ZH = {"driving": "驾车", "walking": "步行", "transit": "公交", "cycling": "骑行"}


def _confirm_navigate(slots: Slots, lang: Lang, now: datetime) -> str:
    place, mode, app = slots.get("destination", ""), slots.get("mode"), slots.get("app")
    if lang == "zh":
        how = _MODE_ZH.get(str(mode), "")
        using = f"用{_app_name(app, lang)}" if app else ""
        return f"好的，正在{using}为你{how}导航到{place}"
    how = f"{mode} " if mode else ""
    using = f" in {_app_name(app, lang)}" if app else ""
    return f"OK, starting {how}directions to {place}{using}."


def _ask_navigate(slots: Slots, lang: Lang) -> str:
    return "好的，你要去哪里？" if lang == "zh" else "Sure, where would you like to go?"


def fill_book_taxi(utt: Utterance, ctx: Context) -> Fill:
    slots: dict[str, SlotValue] = {}
    found = _app(utt.text, _TAXI_APPS)
    destination = _destination(_without(utt.text, found[1] if found else None, bare=False), taxi=True)
    if destination:
        slots["destination"] = _said(utt, destination)
    if found is not None:
        slots["app"] = found[0]
    names = _names(found[1] if found else None, destination)
    return Fill(True, slots, _action("taxi.request", slots, found[0] if found else None), names=names)


def _confirm_taxi(slots: Slots, lang: Lang, now: datetime) -> str:
    place, app = slots.get("destination"), slots.get("app")
    if lang == "zh":
        using = f"用{_app_name(app, lang)}" if app else ""
        return f"好的，正在{using}为你叫车" + (f"去{place}" if place else "")
    using = f" on {_app_name(app, lang)}" if app else ""
    return f"OK, requesting a ride{using}" + (f" to {place}." if place else ".")


def _ask_taxi(slots: Slots, lang: Lang) -> str:
    return "好的，你要去哪里？" if lang == "zh" else "Sure, where to?"


# ========================================================================================== order_food

_FOOD_APPS = ("meituan", "eleme")
_ZH_COUNT = r"[一二两三四五六七八九十几\d]+"
_ZH_CRAVE = re.compile(r"(?:想吃|想喝|要吃|要喝|馋)(?P<food>[^，,。!！?？]+)")
_ZH_ORDER = _re(r"点|订|叫|来|要|买|送|\border\b")
_ZH_FOOD_MEASURE = re.compile(
    rf"^(?:{_ZH_COUNT}(?:个|份|杯|碗|盒|只|斤|箱|袋|根|串|块|瓶|桶|顿|打|套)|个|份|杯|碗|盒|点|些|一下)"
)
_ZH_FOOD_END = re.compile(r"[，,。!！?？;；]|外卖|送到|送过来|送来|送上来|过来|到家|到公司|吧|了$|来$")
_NOT_FOOD = re.compile(r"^(?:外卖|餐|饭|吃的|喝的|东西|好吃的|吃|喝)$|的$|^(?:随便|什么|啥|点|个)")
_EN_QUANTITY = _re(r"^(?:(?:some|a|an|the|one|two|three|four|a\s+few|a\s+couple\s+of|\d+)\s+)+")
_EN_FOOD = _re(
    r"\b(?:order|get|want|craving|deliver|send|bring|have)\s+(?:to\s+(?:order|get|have|eat)\s+)?(?:me\s+|us\s+)?"
    r"(?P<food>.+)$"
)
# "let's get takeaway, maybe some barbecue", "waimai, beef noodles"
_EN_FOOD_AFTER = _re(
    r"\b(?:takeout|takeaway|take-out|take-away|waimai|delivery|food)\s*[,:]\s*(?:(?:maybe|perhaps|like|how\s+about)\s+)?"
    r"(?P<food>.+)$"
)
_EN_FOOD_FROM = _re(
    r"^(?:something|anything|food|some\s+food)\s+from\s+(?P<food>.+)$"
)  # something from Haidilao
_EN_FOOD_END = _re(
    r"\s*[,;!?]|\.$|\s+(?:delivered|delivery|for\s+delivery|to\s+be\s+delivered|to\s+my|to\s+the"
    r"|for\s+(?:lunch|dinner|breakfast|supper|\d)|please|for\s+me|now|asap|tonight)\b"
)
_EN_NOT_FOOD = _re(
    r"(?:food|takeout|takeaway|take-out|take-away|waimai|delivery|something(?:\s+to\s+eat)?|anything|lunch"
    r"|dinner|breakfast|supper|(?:a\s+)?meal|food\s+delivery|to\s+order|order|please)"
)


_EN_DELIVERY = _re(r"\b(?:delivery|delivered|takeout|takeaway|take-out|take-away|waimai|please|asap|now)\b")
_EN_NOT_A_DISH = _re(
    r"\b(?:i|i'm|im|me|my|we|you|hungry|starving|eat|what|should|want|need|let's|open|app)\b"
)


def _zh_food(text: str) -> str:
    crave = _ZH_CRAVE.search(text)
    if crave is not None:
        value = crave.group("food")
        cut = _ZH_FOOD_END.search(value)
        food = _tidy(value[: cut.start()] if cut else value)
        if food and not _NOT_FOOD.search(food):
            return food
    for m in _ZH_ORDER.finditer(text):
        rest = text[m.end() :].lstrip()
        measure = _ZH_FOOD_MEASURE.match(rest)
        if measure is not None:
            rest = rest[measure.end() :]
        cut = _ZH_FOOD_END.search(rest)
        food = _EN_QUANTITY.sub("", _tidy(rest[: cut.start()] if cut else rest))
        if food and not _NOT_FOOD.search(food) and not _ZH_ORDER.match(food):
            return food
    return ""


def _en_food_value(value: str) -> str:
    cut = _EN_FOOD_END.search(value)
    food = _EN_QUANTITY.sub("", _tidy(value[: cut.start()] if cut else value))
    source = _EN_FOOD_FROM.match(food)
    if source is not None:
        food = source.group("food")
    if not food or _EN_NOT_FOOD.fullmatch(food) or not re.search(r"[A-Za-z\u4e00-\u9fff]", food):
        return ""
    return food


def _en_food(text: str, app_named: bool) -> str:
    for pattern in (_EN_FOOD, _EN_FOOD_AFTER):
        for m in pattern.finditer(text):
            food = _en_food_value(m.group("food"))
            if food:
                return food
    # no verb: "ramen from eleme please", "鸡排 delivery, please": the dish is what is left
    if (app_named or _EN_DELIVERY.search(text)) and not _EN_FOOD.search(text) and not _ZH_ORDER.search(text):
        rest = _tidy(_EN_DELIVERY.sub(" ", text))
        if rest and len(rest.split()) <= 5 and not _EN_NOT_A_DISH.search(rest) and not _NOT_FOOD.search(rest):
            return _en_food_value(rest)
    return ""


def fill_order_food(utt: Utterance, ctx: Context) -> Fill:
    slots: dict[str, SlotValue] = {}
    found = _app(utt.text, _FOOD_APPS)
    text = _without(utt.text, found[1] if found else None)
    food = (_zh_food(text) if _HAN.search(text) else "") or _en_food(text, found is not None)
    if food:
        slots["food"] = _said(utt, food)
    if found is not None:
        slots["app"] = found[0]
    app, choice = _food_app(found[0] if found else None, ctx)
    names = _names(found[1] if found else None, food)
    action = _action("food.order", {**slots, "app_choice": choice}, app)
    return Fill(True, slots, action, names=names, shown={"app": app})


def _food_app(named: str | None, ctx: Context) -> tuple[str, str]:
    """(app id, how it was chosen): the one named, else the user's usual one, else the default."""
    if named is not None:
        return named, "named"
    usual = ctx.usual_apps.get(FOOD_DELIVERY)
    # Only a delivery app this skill can open: an id it does not know falls back to the default.
    if usual is not None and usual in _FOOD_APPS:
        return usual, "usual"
    return DEFAULT_APPS[FOOD_DELIVERY], "default"


def _confirm_food(slots: Slots, lang: Lang, now: datetime) -> str:
    food, app = slots.get("food"), slots.get("app")
    if lang == "zh":
        where = _app_name(app, lang) or "外卖应用"
        return f"好的，正在{where}为你找{food}" if food else f"好的，正在打开{where}点外卖"
    where = _app_name(app, lang) or "a delivery app"
    return f"OK, looking for {food} on {where}." if food else f"OK, opening {where} to order food."


def _ask_food(slots: Slots, lang: Lang) -> str:
    return "好的，想吃点什么？" if lang == "zh" else "Sure, what would you like to eat?"


# ===================================================================================== shopping_search

_SHOP_APPS = ("taobao", "jd", "pinduoduo", "tmall")
_ZH_SHOP_VERB = re.compile(
    r"搜索一下|搜一搜|搜一下|搜搜|搜索|搜个|搜(?:商品)?|找一找|找一下|找找|找个|找|看看有没有卖|看看有没有|有没有卖"
    r"|有没有|有卖|想买|要买|买|查查|查一下|查|订购|购买|来个"
)
_ZH_SHOP_MEASURE = re.compile(
    rf"^(?:{_ZH_COUNT}(?:个|双|件|箱|台|瓶|包|盒|套|条|本|支|只|把|张|袋|部|块|斤|份|桶|提)|个|点|些|双|件|一下)"
)
_ZH_SHOP_END = re.compile(
    r"[，,。!！?？;；]|哪里|哪儿|哪个|多少钱|价格|价钱|便宜吗|贵吗|怎么样|好不好|现货|有货|有没有货|的吗|吗$|的$"
)
_ZH_SHOP_HEAD = re.compile(
    r"^(?:在网上|网上|在|上面?的?|里面?的?|超市|旗舰店的?|自营的?|商城|一下|看看|看一下|瞧瞧)"
)
_EN_SHOP = (
    _re(
        r"\b(?:search(?:ing)?|look(?:ing)?|shop(?:ping)?|hunt(?:ing)?|browse|compare\s+prices)\s+(?:on\s+|in\s+)?"
        r"(?:\w+\s+)?for\s+"
        r"(?P<query>.+)$"
    ),
    _re(
        r"\b(?:shopping\s+search|search|look\s+up|find|buy|purchase|get|order|show\s+me|prices?\s+of|cost\s+of)"
        r"\s*:?\s+(?:me\s+)?(?P<query>.+)$"
    ),
    _re(r"\bhow\s+much\s+(?:is|are|does|do)\s+(?P<query>.+?)(?:\s+cost)?$"),
)
_EN_SHOP_VERB_ONLY = _re(r"(?:search|find|buy|look|shop|open|go\s+to|check|browse)(?:\s+(?:on|in|it))?")
_EN_SHOP_END = _re(r"\s*[,;!?]|\.$|\s+(?:online|please|for\s+me|to\s+buy|cost|costs)\b")


def _zh_shop_value(part: str) -> str:
    rest = part
    while True:  # 找一下有卖宠物窝的吗: verbs and measures may follow each other
        rest = rest.lstrip(" :：")
        shorter = _ZH_SHOP_HEAD.sub("", rest)
        for pattern in (_ZH_SHOP_VERB, _ZH_SHOP_MEASURE):
            m = pattern.match(shorter)
            if m is not None:
                shorter = shorter[m.end() :]
        if shorter == rest:
            break
        rest = shorter
    cut = _ZH_SHOP_END.search(rest)
    return _tidy(rest[: cut.start()] if cut else rest, head=_ZH_SHOP_HEAD)


def _zh_query(text: str, verb_only: bool) -> str:
    parts = [p for p in re.split(r"[，,。;；!！?？]", text) if p.strip()]
    found = ""
    for part in parts:  # the last clause with a verb: 拼多多上的水果便宜吗，搜搜砂糖橘
        verb = _ZH_SHOP_VERB.search(part)
        if verb is not None:
            found = _zh_shop_value(part[verb.start() :]) or found
    if found or verb_only:
        return found
    for part in parts:  # 京东上的扫地机器人多少钱: no verb, the product is what is left
        if _HAN.search(part) and not _ZH_SHOP_VERB.search(part):
            query = _zh_shop_value(part)
            if query:
                return query
    return ""


def _en_query(text: str, app_named: bool) -> str:
    for pattern in _EN_SHOP:
        m = pattern.search(text)
        if m is None:
            continue
        value = m.group("query")
        cut = _EN_SHOP_END.search(value)
        query = _ARTICLE.sub("", _tidy(value[: cut.start()] if cut else value))
        if query:
            return query
    # "taobao iPad case": with the app named and no verb, the product is what is left
    rest = _ARTICLE.sub("", _tidy(text)) if app_named else ""
    return "" if _EN_SHOP_VERB_ONLY.fullmatch(rest) else rest


def fill_shopping_search(utt: Utterance, ctx: Context) -> Fill:
    slots: dict[str, SlotValue] = {}
    found = _app(utt.text, _SHOP_APPS)
    text = _without(utt.text, found[1] if found else None)
    query = ""
    if _HAN.search(text):
        query = _zh_query(text, verb_only=True) or _en_query(text, False) or _zh_query(text, verb_only=False)
    query = query or _en_query(text, found is not None)
    if query:
        slots["query"] = _said(utt, query)
    if found is not None:
        slots["app"] = found[0]
    names = _names(found[1] if found else None, query)
    if not query:
        return Fill(False, slots, names=names)
    return Fill(True, slots, _action("shopping.search", slots, found[0] if found else None), names=names)


def _confirm_shopping(slots: Slots, lang: Lang, now: datetime) -> str:
    query, app = slots.get("query", ""), slots.get("app")
    if lang == "zh":
        return f"好的，正在{_app_name(app, lang)}搜索{query}" if app else f"好的，正在为你搜索{query}"
    return f"Searching {_app_name(app, lang)} for {query}." if app else f"Searching the shops for {query}."


def _ask_shopping(slots: Slots, lang: Lang) -> str:
    return "好的，你想买什么？" if lang == "zh" else "Sure, what are you looking to buy?"


# ======================================================================================== scan_to_pay

_PAY_APPS = ("alipay", "wechat")
_PAY_CODE = _re(
    r"付款码|支付码|付钱码|收付款码|付款二维码|支付二维码|条形码|条码"
    r"|\b(?:pay(?:ment)?|checkout)\s+(?:qr\s+)?(?:bar)?code\b|\bpayment\s+(?:qr|barcode)\b|\bbarcode\b"
    # show the QR, the cashier scans my code, open my alipay QR code
    r"|\bshow\b[^,]*\b(?:qr|code)\b|\bmy\s+(?:[\w']+\s+){0,2}(?:qr\s+)?(?:bar)?code\b"
    r"|\b(?:open|display|pull\s+up|bring\s+up)\s+(?:[\w']+\s+){0,3}(?:qr|bar)\s*code\b(?!\s+scan)"
)
_SCAN = _re(r"扫|\bscan(?:ner|ning|s)?\b")
_WECHAT_PAY = _re(r"\bwechat\s*pay\b|微信支付")


def fill_scan_to_pay(utt: Utterance, ctx: Context) -> Fill:
    slots: dict[str, SlotValue] = {}
    found = _app(utt.text, _PAY_APPS)
    if found is not None:
        slots["app"] = found[0]
    elif _WECHAT_PAY.search(utt.text):
        slots["app"] = "wechat"
    if _PAY_CODE.search(utt.text):  # 付款码给店员扫: the code is shown, the cashier scans
        slots["mode"] = "pay_code"
    elif _SCAN.search(utt.text):
        slots["mode"] = "scan"
    app = str(slots["app"]) if "app" in slots else None
    return Fill(True, slots, _action("payment.open", slots, app), names=_names(found[1] if found else None))


def _confirm_pay(slots: Slots, lang: Lang, now: datetime) -> str:
    app, mode = slots.get("app"), slots.get("mode")
    name = _app_name(app, lang)
    if lang == "zh":
        if mode == "pay_code":
            return f"好的，正在打开{name}付款码"
        if mode == "scan":
            return f"好的，正在打开{name}扫一扫"
        return f"好的，正在打开{name or '付款'}"
    if mode == "pay_code":
        return f"Opening your {name + ' ' if name else ''}payment code."
    if mode == "scan":
        return f"Opening the {name + ' ' if name else ''}scanner."
    return f"Opening {name + ' Pay' if name else 'payment'}."


def _ask_pay(slots: Slots, lang: Lang) -> str:
    if lang == "zh":
        return "好的，要扫码付款还是出示付款码？"
    return "Sure, do you want to scan a code or show your payment code?"


# ====================================================================================== track_package

_CARRIERS = (
    ("sf", _re(r"顺丰|\bsf(?:\s*express)?\b|\bshunfeng\b"), "顺丰", "SF Express"),
    ("jd", _re(r"京东|\bjd(?:\.com)?\b|\bjingdong\b"), "京东", "JD Logistics"),
    ("zto", _re(r"中通|\bzto\b|\bzhongtong\b"), "中通", "ZTO Express"),
    ("yto", _re(r"圆通|\byto\b|\byuantong\b"), "圆通", "YTO Express"),
    ("sto", _re(r"申通|\bsto\b|\bshentong\b"), "申通", "STO Express"),
    ("yunda", _re(r"韵达|\byunda\b"), "韵达", "Yunda Express"),
    ("ems", _re(r"\bems\b|邮政|\bchina\s+post\b"), "EMS", "EMS"),
)
_CARRIER_NAMES = {carrier: (zh, en) for carrier, _, zh, en in _CARRIERS}


def fill_track_package(utt: Utterance, ctx: Context) -> Fill:
    slots: dict[str, SlotValue] = {}
    first: tuple[int, str, str] | None = None
    for carrier, pattern, _, _ in _CARRIERS:
        m = pattern.search(utt.text)
        if m is not None and (first is None or m.start() < first[0]):
            first = (m.start(), carrier, m.group())
    if first is not None:
        slots["carrier"] = first[1]
    return Fill(True, slots, _action("package.track", slots), names=_names(first[2] if first else None))


def _confirm_package(slots: Slots, lang: Lang, now: datetime) -> str:
    carrier = slots.get("carrier")
    zh, en = _CARRIER_NAMES.get(str(carrier), ("", ""))
    if lang == "zh":
        return f"好的，正在查询你的{zh}快递" if carrier else "好的，正在查询你的快递"
    return f"Checking where your {en} parcel is." if carrier else "Checking where your parcels are."


def _ask_package(slots: Slots, lang: Lang) -> str:
    return "好的，要查哪个快递？" if lang == "zh" else "Sure, which parcel should I track?"


# ========================================================================================== web_search

_ZH_SEARCH = _re(
    r"(?:(?:百度|谷歌|google|必应|bing)(?:一下)?(?:上|里)?\s*(?:搜索一下|搜一搜|搜一下|搜搜|搜索|搜下|搜|查一下|查|search)?"
    r"|(?:搜索一下|搜一搜|搜一下|搜搜|搜索|搜下|搜个|搜|查一查|查一下|查查|查询|查下|查|找一下|找找|了解一下"
    r"|search\s*一下))[\s:：]*(?P<query>.+)$"
)
_EN_SEARCH = _re(
    r"\b(?:(?:web|google|bing|baidu|internet)\s+search|search|google|bing|baidu|look\s+up|look|find|browse)\b"
    r"(?:\s+(?:the\s+)?(?:web|internet|online|google|baidu|bing))?(?:\s+on\s+(?:the\s+)?(?:web|internet|google"
    r"|baidu|bing))?\s*:?\s*(?:(?:for|up|about)\s+)?(?P<query>.*)$"
)
_EN_SEARCH_HEAD = _re(r"^(?:info|information|details)\s+(?:on|about)\s+")
_EN_SEARCH_END = _re(
    r"\s+(?:on|in|with|using|via)\s+(?:the\s+)?(?:web|internet|google|baidu|bing|browser)\b"
    r"|\s+online\b|\s+for\s+me\b|\s+please\b|\s*[?!.]+$"
)
_NOT_A_QUERY = _re(r"(?:点|些|个)?(?:东西|什么|啥|一下)|me|it|it\s+up|that|this|something|stuff|anything")


def fill_web_search(utt: Utterance, ctx: Context) -> Fill:
    slots: dict[str, SlotValue] = {}
    query = ""
    zh = _ZH_SEARCH.search(utt.text) if _HAN.search(utt.text) else None
    if zh is not None:
        query = _tidy(zh.group("query"))
    if not query or _NOT_A_QUERY.fullmatch(query):
        query = ""
        en = _EN_SEARCH.search(utt.text)
        if en is not None:
            value = en.group("query")
            cut = _EN_SEARCH_END.search(value)
            query = _EN_SEARCH_HEAD.sub("", _ARTICLE.sub("", _tidy(value[: cut.start()] if cut else value)))
    if not query or _NOT_A_QUERY.fullmatch(query):
        return Fill(False, slots)
    slots["query"] = _said(utt, query)
    return Fill(True, slots, _action("browser.search", slots), names=(query,))


def _confirm_search(slots: Slots, lang: Lang, now: datetime) -> str:
    query = slots.get("query", "")
    return f"好的，正在搜索“{query}”" if lang == "zh" else f"Searching the web for “{query}”."


def _ask_search(slots: Slots, lang: Lang) -> str:
    return "好的，要搜什么？" if lang == "zh" else "Sure, what should I search for?"


SKILLS: tuple[Skill, ...] = (
    Skill("send_message", fill_send_message, _confirm_message, _ask_message),
    Skill("navigate", fill_navigate, _confirm_navigate, _ask_navigate),
    Skill("book_taxi", fill_book_taxi, _confirm_taxi, _ask_taxi),
    Skill("order_food", fill_order_food, _confirm_food, _ask_food),
    Skill("shopping_search", fill_shopping_search, _confirm_shopping, _ask_shopping),
    Skill("scan_to_pay", fill_scan_to_pay, _confirm_pay, _ask_pay),
    Skill("track_package", fill_track_package, _confirm_package, _ask_package),
    Skill("web_search", fill_web_search, _confirm_search, _ask_search),
)
