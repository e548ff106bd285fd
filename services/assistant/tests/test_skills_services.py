"""Service skills (lingxi_assistant.skills.services): slots, device actions and replies in zh and en."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from lingxi_assistant.apps import BY_ID, DEFAULT_APPS, FOOD_DELIVERY
from lingxi_assistant.lang import Lang, Utterance, detect_lang, has_han
from lingxi_assistant.skills import Skill
from lingxi_assistant.skills.services import SKILLS
from lingxi_assistant.slots import Context

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=TZ)  # Wednesday, 10:00
CTX = Context(now=NOW, tz=TZ)
SKILL: dict[str, Skill] = {skill.intent: skill for skill in SKILLS}

ACTIONS = {
    "send_message": "message.compose",
    "navigate": "maps.navigate",
    "book_taxi": "taxi.request",
    "order_food": "food.order",
    "shopping_search": "shopping.search",
    "scan_to_pay": "payment.open",
    "track_package": "package.track",
    "web_search": "browser.search",
}
REQUIRED = {
    "send_message": "contact",
    "navigate": "destination",
    "shopping_search": "query",
    "web_search": "query",
}

Slots = dict[str, Any]

# (intent, text, slots): the fill is complete exactly when the intent's required slot (if any) is there.
FILLS: list[tuple[str, str, Slots]] = [
    # --- send_message, Chinese
    (
        "send_message",
        "请帮我给王小明发个微信，说今晚的饭局取消了",
        {"contact": "王小明", "content": "今晚的饭局取消了", "channel": "wechat"},
    ),
    (
        "send_message",
        "给妈妈发短信：我已经到机场了！",
        {"contact": "妈妈", "content": "我已经到机场了", "channel": "sms"},
    ),
    (
        "send_message",
        "发微信告诉老张明天早上九点开会",
        {"contact": "老张", "content": "明天早上九点开会", "channel": "wechat"},
    ),
    ("send_message", "帮我给李华发一条消息，内容是周五交报告", {"contact": "李华", "content": "周五交报告"}),
    ("send_message", "跟我爸说我明天回家吃饭", {"contact": "我爸", "content": "我明天回家吃饭"}),
    # 说声, 讲一声, 讲下 and 问下 are "say a word": not part of the message; 下周 is
    ("send_message", "跟我妈说声别等我吃饭", {"contact": "我妈", "content": "别等我吃饭"}),
    ("send_message", "跟我哥讲一声，车我开走了", {"contact": "我哥", "content": "车我开走了"}),
    ("send_message", "跟王老师讲下孩子今天晚点到校", {"contact": "王老师", "content": "孩子今天晚点到校"}),
    ("send_message", "跟老王说下周三开会", {"contact": "老王", "content": "下周三开会"}),
    (
        "send_message",
        "给房东发微信问一下热水器啥时候修",
        {"contact": "房东", "content": "热水器啥时候修", "channel": "wechat"},
    ),
    ("send_message", "告诉老公晚上吃饺子", {"contact": "老公", "content": "晚上吃饺子"}),
    ("send_message", "发条信息给刘经理让他回个电话", {"contact": "刘经理", "content": "回个电话"}),
    ("send_message", "回复陈老师：谢谢您", {"contact": "陈老师", "content": "谢谢您"}),
    (
        "send_message",
        "给１３９１２３４５６７８发短信说收到",
        {"contact": "13912345678", "content": "收到", "channel": "sms"},
    ),
    ("send_message", "给奶奶发个微信", {"contact": "奶奶", "channel": "wechat"}),
    (
        "send_message",
        "帮我微信老王，说文件已经发了",
        {"contact": "老王", "content": "文件已经发了", "channel": "wechat"},
    ),
    ("send_message", "发条消息", {}),
    ("send_message", "我想发个短信", {"channel": "sms"}),
    # --- send_message, English and mixed
    (
        "send_message",
        "please text my brother that the game starts at eight",
        {"contact": "brother", "content": "the game starts at eight"},
    ),
    (
        "send_message",
        "send a WeChat message to Lily saying see you tomorrow",
        {"contact": "Lily", "content": "see you tomorrow", "channel": "wechat"},
    ),
    (
        "send_message",
        "tell Sarah I'm running ten minutes late",
        {"contact": "Sarah", "content": "I'm running ten minutes late"},
    ),
    (
        "send_message",
        "message John Smith: meeting moved to Friday",
        {"contact": "John Smith", "content": "meeting moved to Friday"},
    ),
    ("send_message", "can you send an sms to my landlord", {"contact": "landlord", "channel": "sms"}),
    (
        "send_message",
        "let the plumber know the door code is 4321",
        {"contact": "plumber", "content": "the door code is 4321"},
    ),
    (
        "send_message",
        "send Grandma a text message saying happy new year",
        {"contact": "Grandma", "content": "happy new year", "channel": "sms"},
    ),
    (
        "send_message",
        "tell Kevin thank you on WeChat",
        {"contact": "Kevin", "content": "thank you", "channel": "wechat"},
    ),
    (
        "send_message",
        "给Mike发个WeChat说see you at 8",
        {"contact": "Mike", "content": "see you at 8", "channel": "wechat"},
    ),
    ("send_message", "I need to send a message", {}),
    # --- navigate
    ("navigate", "请帮我导航到上海虹桥站吧", {"destination": "上海虹桥站"}),
    ("navigate", "用百度地图导航去天坛公园", {"destination": "天坛公园", "app": "baidu_maps"}),
    ("navigate", "高德导航到机场，开车", {"destination": "机场", "app": "amap", "mode": "driving"}),
    ("navigate", "开车去首都机场怎么走", {"destination": "首都机场", "mode": "driving"}),
    ("navigate", "我想骑车去奥林匹克公园", {"destination": "奥林匹克公园", "mode": "cycling"}),
    ("navigate", "坐地铁到西单要多久", {"destination": "西单", "mode": "transit"}),
    ("navigate", "走路去地铁站要几分钟", {"destination": "地铁站", "mode": "walking"}),
    ("navigate", "去地铁站怎么走", {"destination": "地铁站"}),
    ("navigate", "带我去最近的加油站", {"destination": "最近的加油站"}),
    ("navigate", "国贸怎么走", {"destination": "国贸"}),
    (
        "navigate",
        "please navigate to the Temple of Heaven with amap",
        {"destination": "the Temple of Heaven", "app": "amap"},
    ),
    ("navigate", "get me directions to Wudaokou by subway", {"destination": "Wudaokou", "mode": "transit"}),
    ("navigate", "how do I get to the nearest hospital", {"destination": "nearest hospital"}),
    ("navigate", "walk to People's Square", {"destination": "People's Square", "mode": "walking"}),
    ("navigate", "drive me home", {"destination": "home", "mode": "driving"}),
    ("navigate", "导航 to 颐和园 by bike", {"destination": "颐和园", "mode": "cycling"}),
    ("navigate", "开始导航吧", {}),
    ("navigate", "directions", {}),
    # --- book_taxi
    ("book_taxi", "帮我叫辆车去南京南站", {"destination": "南京南站"}),
    ("book_taxi", "用滴滴打车到虹桥机场吧", {"destination": "虹桥机场", "app": "didi"}),
    ("book_taxi", "高德打个车回家", {"destination": "家", "app": "amap"}),
    ("book_taxi", "叫辆出租车到门口", {}),
    ("book_taxi", "约一辆明天早上八点去机场的车", {"destination": "机场"}),
    ("book_taxi", "叫个车", {}),
    ("book_taxi", "please call me a taxi to the Bund", {"destination": "the Bund"}),
    (
        "book_taxi",
        "get me a DiDi to Beijing Capital Airport",
        {"destination": "Beijing Capital Airport", "app": "didi"},
    ),
    ("book_taxi", "book a cab to the stadium for 7pm", {"destination": "stadium"}),
    ("book_taxi", "book a cab home", {"destination": "home"}),
    ("book_taxi", "I need a taxi", {}),
    # --- order_food
    ("order_food", "帮我点一份麻辣香锅", {"food": "麻辣香锅"}),
    ("order_food", "美团上点两杯奶茶", {"food": "奶茶", "app": "meituan"}),
    ("order_food", "饿了么帮我订个披萨吧", {"food": "披萨", "app": "eleme"}),
    ("order_food", "想吃烧烤了", {"food": "烧烤"}),
    ("order_food", "叫一份外卖，要酸辣粉", {"food": "酸辣粉"}),
    ("order_food", "点外卖", {}),
    ("order_food", "用美团叫外卖", {"app": "meituan"}),
    ("order_food", "order a pizza on Meituan", {"food": "pizza", "app": "meituan"}),
    ("order_food", "get me some dumplings delivered please", {"food": "dumplings"}),
    ("order_food", "I want to order bubble tea from Ele.me", {"food": "bubble tea", "app": "eleme"}),
    ("order_food", "fried rice from eleme", {"food": "fried rice", "app": "eleme"}),
    ("order_food", "order some food for me", {}),
    # --- shopping_search
    ("shopping_search", "淘宝搜一下羽绒服", {"query": "羽绒服", "app": "taobao"}),
    ("shopping_search", "帮我在京东上买一台洗衣机", {"query": "洗衣机", "app": "jd"}),
    ("shopping_search", "拼多多有没有便宜的卫生纸", {"query": "便宜的卫生纸", "app": "pinduoduo"}),
    ("shopping_search", "我想买双跑鞋", {"query": "跑鞋"}),
    ("shopping_search", "天猫上搜索SK-II神仙水", {"query": "SK-II神仙水", "app": "tmall"}),
    ("shopping_search", "京东上的空气炸锅多少钱", {"query": "空气炸锅", "app": "jd"}),
    ("shopping_search", "search taobao for a down jacket", {"query": "down jacket", "app": "taobao"}),
    ("shopping_search", "find me wireless earbuds on JD", {"query": "wireless earbuds", "app": "jd"}),
    ("shopping_search", "I want to buy a new phone case", {"query": "new phone case"}),
    ("shopping_search", "buy diapers on pinduoduo please", {"query": "diapers", "app": "pinduoduo"}),
    ("shopping_search", "京东看看iPhone 16多少钱", {"query": "iPhone 16", "app": "jd"}),
    ("shopping_search", "I am looking for a birthday gift for my dad", {"query": "birthday gift for my dad"}),
    ("shopping_search", "淘宝", {"app": "taobao"}),
    ("shopping_search", "search JD", {"app": "jd"}),
    ("shopping_search", "帮我搜一下", {}),
    # --- scan_to_pay
    ("scan_to_pay", "打开支付宝付款码", {"app": "alipay", "mode": "pay_code"}),
    ("scan_to_pay", "打开微信扫一扫吧", {"app": "wechat", "mode": "scan"}),
    ("scan_to_pay", "付款码给收银员扫一下", {"mode": "pay_code"}),
    ("scan_to_pay", "用微信付钱", {"app": "wechat"}),
    ("scan_to_pay", "我要付款", {}),
    ("scan_to_pay", "open the alipay scanner please", {"app": "alipay", "mode": "scan"}),
    ("scan_to_pay", "show my WeChat payment code", {"app": "wechat", "mode": "pay_code"}),
    ("scan_to_pay", "pay with alipay", {"app": "alipay"}),
    ("scan_to_pay", "open my alipay QR code", {"app": "alipay", "mode": "pay_code"}),
    ("scan_to_pay", "open the QR code scanner", {"mode": "scan"}),
    ("scan_to_pay", "let me scan and pay the parking fee", {"mode": "scan"}),
    # --- track_package
    ("track_package", "我的顺丰快递到哪了", {"carrier": "sf"}),
    ("track_package", "查查韵达", {"carrier": "yunda"}),
    ("track_package", "邮政的包裹寄到了吗", {"carrier": "ems"}),
    ("track_package", "快递到哪了", {}),
    ("track_package", "where is my SF Express package", {"carrier": "sf"}),
    ("track_package", "is my ZTO delivery here yet", {"carrier": "zto"}),
    ("track_package", "where's my parcel", {}),
    # --- web_search
    ("web_search", "百度一下故宫门票", {"query": "故宫门票"}),
    ("web_search", "帮我搜索一下今天的天气预报", {"query": "今天的天气预报"}),
    ("web_search", "上网查查怎么煮咖啡", {"query": "怎么煮咖啡"}),
    ("web_search", "search for cheap flights to Tokyo", {"query": "cheap flights to Tokyo"}),
    ("web_search", "google how to make dumplings", {"query": "how to make dumplings"}),
    ("web_search", "look up the population of Shanghai", {"query": "population of Shanghai"}),
    ("web_search", "百度 search 上海 weather radar", {"query": "上海 weather radar"}),
    ("web_search", "search the web", {}),
    ("web_search", "搜一下", {}),
]


def _fill(intent: str, text: str) -> Any:
    return SKILL[intent].fill(Utterance.of(text), CTX)


def test_one_skill_per_intent() -> None:
    assert [skill.intent for skill in SKILLS] == list(ACTIONS)


@pytest.mark.parametrize(("intent", "text", "slots"), FILLS)
def test_fill(intent: str, text: str, slots: Slots) -> None:
    fill = _fill(intent, text)
    assert fill.slots == slots
    needed = REQUIRED.get(intent)
    assert fill.complete == (needed is None or needed in slots)
    if fill.complete:
        assert fill.action is not None
        assert fill.action.name == ACTIONS[intent]
        params = dict(fill.action.params)
        package = params.pop("package", None)
        choice = params.pop("app_choice", None)
        assert params == slots
        app = slots.get("app") or ("wechat" if slots.get("channel") == "wechat" else None)
        if intent == "order_food":  # no usual app in CTX: the one named, else the default
            assert choice == ("named" if app else "default")
            app = app or DEFAULT_APPS[FOOD_DELIVERY]
        else:
            assert choice is None
        assert package == (BY_ID[app].package if app else None)
    else:
        assert fill.action is None


def test_full_width_punctuation_inside_a_value_is_kept_as_said() -> None:
    fill = _fill("send_message", "给小周发短信：好的，明天见！")
    assert fill.slots == {"contact": "小周", "content": "好的，明天见", "channel": "sms"}


def test_full_width_letters_are_normalised() -> None:
    assert _fill("shopping_search", "淘宝搜一下ｉＰａｄ保护壳").slots == {
        "query": "iPad保护壳",
        "app": "taobao",
    }


USUAL_ELEME = Context(now=NOW, tz=TZ, usual_apps={FOOD_DELIVERY: "eleme"})
MEITUAN, ELEME = BY_ID["meituan"].package, BY_ID["eleme"].package

# (text, context, slots, package opened, app_choice, reply): the slots stay what the user said.
FOOD_APPS: list[tuple[str, Context, Slots, str, str, str]] = [
    ("点外卖", USUAL_ELEME, {}, ELEME, "usual", "好的，正在打开饿了么点外卖"),
    ("order food", USUAL_ELEME, {}, ELEME, "usual", "OK, opening Ele.me to order food."),
    (
        "帮我点一份麻辣香锅",
        USUAL_ELEME,
        {"food": "麻辣香锅"},
        ELEME,
        "usual",
        "好的，正在饿了么为你找麻辣香锅",
    ),
    ("点外卖", CTX, {}, MEITUAN, "default", "好的，正在打开美团点外卖"),
    ("order food", CTX, {}, MEITUAN, "default", "OK, opening Meituan to order food."),
    ("get me some dumplings delivered please", CTX, {"food": "dumplings"}, MEITUAN, "default", ""),
    # The app the user names wins over their usual one.
    (
        "美团上点两杯奶茶",
        USUAL_ELEME,
        {"food": "奶茶", "app": "meituan"},
        MEITUAN,
        "named",
        "好的，正在美团为你找奶茶",
    ),
    ("fried rice from eleme", CTX, {"food": "fried rice", "app": "eleme"}, ELEME, "named", ""),
    # A usual app this skill cannot order through (another kind, an id it does not know): the default.
    (
        "点外卖",
        Context(NOW, TZ, {FOOD_DELIVERY: "taobao"}),
        {},
        MEITUAN,
        "default",
        "好的，正在打开美团点外卖",
    ),
    ("点外卖", Context(NOW, TZ, {FOOD_DELIVERY: "gone"}), {}, MEITUAN, "default", ""),
]


@pytest.mark.parametrize(("text", "ctx", "slots", "package", "choice", "reply"), FOOD_APPS)
def test_order_food_opens_the_named_else_the_usual_else_the_default_app(
    text: str, ctx: Context, slots: Slots, package: str, choice: str, reply: str
) -> None:
    fill = SKILL["order_food"].fill(Utterance.of(text), ctx)
    assert fill.slots == slots
    assert fill.action is not None
    assert fill.action.params == {**slots, "package": package, "app_choice": choice}
    if reply:
        lang: Lang = "zh" if has_han(text) else "en"
        assert SKILL["order_food"].confirm({**fill.slots, **fill.shown}, lang, NOW) == reply


# (intent, text, reply language, words the reply must contain)
REPLIES: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("send_message", "给张三发微信说我到了", "zh", ("张三", "微信", "我到了")),
    ("send_message", "text Amy that dinner is ready", "en", ("Amy", "dinner is ready")),
    ("send_message", "给老李发个消息", "zh", ("老李",)),
    ("navigate", "用高德步行导航到外滩", "zh", ("外滩", "高德地图", "步行")),
    ("navigate", "navigate to Jing'an Temple by bike", "en", ("Jing'an Temple", "cycling")),
    ("book_taxi", "滴滴打车去机场", "zh", ("滴滴出行", "机场")),
    ("book_taxi", "call me a cab", "en", ("ride",)),
    ("order_food", "美团点个汉堡", "zh", ("美团", "汉堡")),
    ("order_food", "order noodles on eleme", "en", ("noodles", "Ele.me")),
    ("shopping_search", "京东搜一下显示器", "zh", ("京东", "显示器")),
    ("shopping_search", "find a desk lamp", "en", ("desk lamp",)),
    ("scan_to_pay", "支付宝扫一扫", "zh", ("支付宝", "扫一扫")),
    ("scan_to_pay", "show the WeChat pay code", "en", ("WeChat", "payment code")),
    ("track_package", "中通快递到哪了", "zh", ("中通",)),
    ("track_package", "where is my YTO parcel", "en", ("YTO",)),
    ("web_search", "搜一下北京今天限行尾号", "zh", ("北京今天限行尾号",)),
    ("web_search", "search for the best hot pot in Chengdu", "en", ("best hot pot in Chengdu",)),
]


@pytest.mark.parametrize(("intent", "text", "lang", "words"), REPLIES)
def test_confirm_is_in_the_language_asked(intent: str, text: str, lang: str, words: tuple[str, ...]) -> None:
    fill = _fill(intent, text)
    assert fill.complete
    reply = SKILL[intent].confirm(fill.slots, lang, NOW)  # type: ignore[arg-type]
    for word in words:
        assert word in reply
    if lang == "zh":
        assert has_han(reply)
    else:
        values = "".join(str(v) for v in fill.slots.values())
        assert not has_han(re.sub(f"[{re.escape(values)}]", "", reply)) if values else not has_han(reply)


@pytest.mark.parametrize("intent", list(ACTIONS))
def test_confirm_without_optional_slots_and_ask(intent: str) -> None:
    skill = SKILL[intent]
    needed = REQUIRED.get(intent)
    slots: Slots = {needed: "X"} if needed else {}
    zh, en = skill.confirm(slots, "zh", NOW), skill.confirm(slots, "en", NOW)
    assert has_han(zh)
    assert not has_han(en)
    assert en.strip()
    ask_zh, ask_en = skill.ask({}, "zh"), skill.ask({}, "en")
    assert has_han(ask_zh)
    assert ask_zh.endswith("？")
    assert not has_han(ask_en)
    assert ask_en.endswith("?")


@pytest.mark.parametrize(
    ("intent", "text", "lang"),
    [
        ("send_message", "发个消息", "zh"),
        ("send_message", "I want to send a text message", "en"),
        ("navigate", "帮我开个导航", "zh"),
        ("navigate", "start the navigation please", "en"),
        ("shopping_search", "淘宝", "zh"),
        ("web_search", "search the internet", "en"),
    ],
)
def test_incomplete_requests_are_asked_about(intent: str, text: str, lang: str) -> None:
    fill = _fill(intent, text)
    assert not fill.complete
    assert fill.action is None
    question = SKILL[intent].ask(fill.slots, lang)  # type: ignore[arg-type]
    assert has_han(question) == (lang == "zh")


@pytest.mark.parametrize(
    ("intent", "text", "lang"),
    [
        ("navigate", "navigate to 南锣鼓巷", "en"),  # the place reads the same in both: the command decides
        ("navigate", "导航去Joy City", "zh"),
        ("send_message", "给Jack发消息说I'm running late", "zh"),
        ("shopping_search", "find 螺蛳粉 on 淘宝", "en"),
        ("web_search", "搜一下 machine learning tutorial", "zh"),
    ],
)
def test_names_leave_the_reply_language_to_the_command_words(intent: str, text: str, lang: str) -> None:
    fill = _fill(intent, text)
    assert detect_lang(Utterance.of(text).text, "en" if lang == "zh" else "zh", ignore=fill.names) == lang


@pytest.mark.parametrize(
    "text", ["", "   ", "，。！？", "给", "发给", "to", "导航去", "order", "search", "🙂" * 20, "给" * 300]
)
@pytest.mark.parametrize("intent", list(ACTIONS))
def test_odd_input_never_raises(intent: str, text: str) -> None:
    fill = _fill(intent, text)
    assert all(value != "" for value in fill.slots.values())
    assert (fill.action is None) or fill.complete
