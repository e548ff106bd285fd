"""The apps the assistant can open: canonical id, Android package, and the names people use for them.

Packages are the mainland-China Android builds. System apps (settings, camera, ...) differ between phone
makers; they carry the AOSP package and ``system=True`` so the device resolves them with its own intent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class App:
    id: str
    package: str
    name_zh: str
    name_en: str
    aliases: tuple[str, ...] = ()  # further names, in either language
    system: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name_zh, self.name_en, *self.aliases)


CATALOGUE: tuple[App, ...] = (
    App("wechat", "com.tencent.mm", "微信", "WeChat", ("weixin", "wei xin", "we chat")),
    App("alipay", "com.eg.android.AlipayGphone", "支付宝", "Alipay", ("ali pay", "zhifubao")),
    App("amap", "com.autonavi.minimap", "高德地图", "Amap", ("高德", "gaode", "gaode map", "gaode maps")),
    App("baidu_maps", "com.baidu.BaiduMap", "百度地图", "Baidu Maps", ("baidu map",)),
    App("taobao", "com.taobao.taobao", "淘宝", "Taobao", ("手机淘宝",)),
    App("tmall", "com.tmall.wireless", "天猫", "Tmall", ()),
    App("jd", "com.jingdong.app.mall", "京东", "JD", ("jd.com", "jingdong", "京东商城")),
    App("pinduoduo", "com.xunmeng.pinduoduo", "拼多多", "Pinduoduo", ("pdd",)),
    App("meituan", "com.sankuai.meituan", "美团", "Meituan", ()),
    App("dianping", "com.dianping.v1", "大众点评", "Dianping", ("点评",)),
    App("eleme", "me.ele", "饿了么", "Ele.me", ("eleme", "ele me")),
    App("didi", "com.sdu.didi.psnger", "滴滴出行", "DiDi", ("滴滴", "didi chuxing")),
    App("ctrip", "ctrip.android.view", "携程旅行", "Trip.com", ("携程", "ctrip")),
    App("railway12306", "com.MobileTicket", "铁路12306", "12306", ()),
    # In mainland China "TikTok" means Douyin; the international TikTok app is not available there.
    App("douyin", "com.ss.android.ugc.aweme", "抖音", "Douyin", ("tiktok", "tik tok")),
    App("kuaishou", "com.smile.gifmaker", "快手", "Kuaishou", ()),
    App("bilibili", "tv.danmaku.bili", "哔哩哔哩", "bilibili", ("b站", "bili bili", "bili")),
    App("xiaohongshu", "com.xingin.xhs", "小红书", "Xiaohongshu", ("rednote", "red note")),
    App("weibo", "com.sina.weibo", "微博", "Weibo", ("新浪微博", "sina weibo")),
    App("zhihu", "com.zhihu.android", "知乎", "Zhihu", ()),
    App("qq", "com.tencent.mobileqq", "QQ", "QQ", ()),
    App("qq_music", "com.tencent.qqmusic", "QQ音乐", "QQ Music", ()),
    App(
        "netease_music",
        "com.netease.cloudmusic",
        "网易云音乐",
        "NetEase Cloud Music",
        ("网易云", "netease music", "netease cloud music"),
    ),
    App("kugou", "com.kugou.android", "酷狗音乐", "Kugou Music", ("酷狗", "kugou")),
    App("tencent_video", "com.tencent.qqlive", "腾讯视频", "Tencent Video", ()),
    App("iqiyi", "com.qiyi.video", "爱奇艺", "iQIYI", ("iqiyi",)),
    App("youku", "com.youku.phone", "优酷", "Youku", ()),
    App("dingtalk", "com.alibaba.android.rimet", "钉钉", "DingTalk", ("ding talk",)),
    App("feishu", "com.ss.android.lark", "飞书", "Feishu", ("lark",)),
    App("baidu", "com.baidu.searchbox", "百度", "Baidu", ()),
    App("settings", "com.android.settings", "设置", "Settings", ("系统设置", "手机设置"), system=True),
    App("camera", "com.android.camera", "相机", "Camera", ("照相机", "拍照"), system=True),
    App("gallery", "com.android.gallery3d", "相册", "Gallery", ("图库", "photos"), system=True),
    App("calculator", "com.android.calculator2", "计算器", "Calculator", (), system=True),
    App("clock", "com.android.deskclock", "时钟", "Clock", ("闹钟",), system=True),
    App("calendar", "com.android.calendar", "日历", "Calendar", (), system=True),
    App("dialer", "com.android.dialer", "拨号", "Phone", ("电话", "拨号盘", "dialer"), system=True),
    App("messages", "com.android.mms", "短信", "Messages", ("sms",), system=True),
    App("contacts", "com.android.contacts", "联系人", "Contacts", ("通讯录",), system=True),
    App("browser", "com.android.browser", "浏览器", "Browser", (), system=True),
    App("app_store", "com.android.vending", "应用商店", "App Store", ("应用市场", "play store"), system=True),
)

BY_ID: dict[str, App] = {app.id: app for app in CATALOGUE}

FOOD_DELIVERY = "food_delivery"
"""Personalization's category code for food delivery: the key of the user's usual app for it."""

DEFAULT_APPS: dict[str, str] = {FOOD_DELIVERY: "meituan"}
"""Category code → the app opened when the user named none and their usual one is unknown (or may not
be used). Meituan has the largest share of food delivery in mainland China: the least surprising pick."""


@dataclass(frozen=True)
class AppMatch:
    app: App
    said: str  # the name as it appears in the text
    start: int
    end: int


@cache
def _pattern() -> tuple[re.Pattern[str], dict[str, App]]:
    by_name: dict[str, App] = {}
    for app in CATALOGUE:
        for name in app.names:
            by_name.setdefault(name.lower(), app)
    alternatives = []
    for name in sorted(by_name, key=len, reverse=True):  # longest first: QQ音乐 before QQ
        escaped = re.escape(name).replace(r"\ ", r"\s*")
        # Latin names must not be part of a longer word ("qq" in "qqq", "bili" in "bilibili" is fine)
        alternatives.append(rf"(?<![a-z0-9]){escaped}(?![a-z0-9])" if name.isascii() else escaped)
    return re.compile("|".join(alternatives), re.IGNORECASE), by_name


def find_app(text: str) -> AppMatch | None:
    """The first catalogue app named in ``text`` (any case, Chinese or English name), or None."""
    pattern, by_name = _pattern()
    found = pattern.search(text)
    if found is None:
        return None
    squeezed = re.sub(r"\s+", "", found.group().lower())
    app = next(a for name, a in by_name.items() if name.replace(" ", "") == squeezed)
    return AppMatch(app, found.group(), found.start(), found.end())
