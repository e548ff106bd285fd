"""Device skills (lingxi_assistant.skills.device): slots, actions, questions and replies."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from lingxi_assistant.lang import Utterance
from lingxi_assistant.skills import Skill
from lingxi_assistant.skills.device import SKILLS
from lingxi_assistant.slots import Context

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=TZ)  # Wednesday, 10:00
CTX = Context(now=NOW, tz=TZ)
BY_INTENT: dict[str, Skill] = {skill.intent: skill for skill in SKILLS}
HAN = re.compile(r"[\u4e00-\u9fff]")

ACTIONS = {
    "toggle_setting": "settings.toggle",
    "set_brightness": "settings.brightness",
    "set_volume": "settings.volume",
    "battery_status": "battery.show",
    "media_control": "media.control",
    "take_photo": "camera.open",
    "take_screenshot": "screen.capture",
    "play_music": "music.play",
    "search_photos": "gallery.search",
}


def fill(intent: str, text: str) -> Any:
    return BY_INTENT[intent].fill(Utterance.of(text), CTX)


def test_one_skill_per_intent() -> None:
    assert [skill.intent for skill in SKILLS] == list(ACTIONS)


# (intent, text, slots) for requests that are complete
COMPLETE: list[tuple[str, str, dict[str, Any]]] = [
    # --- toggle_setting
    ("toggle_setting", "请帮我把蓝牙打开", {"setting": "bluetooth", "state": "on"}),
    ("toggle_setting", "关一下WiFi吧", {"setting": "wifi", "state": "off"}),
    ("toggle_setting", "ＷＩＦＩ打开！", {"setting": "wifi", "state": "on"}),
    ("toggle_setting", "帮我开个热点吧", {"setting": "hotspot", "state": "on"}),
    ("toggle_setting", "别打扰我", {"setting": "do_not_disturb", "state": "on"}),
    ("toggle_setting", "我要午睡了，谁也别打扰我", {"setting": "do_not_disturb", "state": "on"}),
    ("toggle_setting", "落地了，退出飞行模式", {"setting": "airplane_mode", "state": "off"}),
    ("toggle_setting", "把蓝牙开关关掉", {"setting": "bluetooth", "state": "off"}),
    ("toggle_setting", "开车呢，把蓝牙关了", {"setting": "bluetooth", "state": "off"}),
    ("toggle_setting", "打开浅色模式", {"setting": "dark_mode", "state": "off"}),
    ("toggle_setting", "帮我开一下定位呗", {"setting": "location", "state": "on"}),
    ("toggle_setting", "关闭5G", {"setting": "mobile_data", "state": "off"}),
    ("toggle_setting", "闪光灯", {"setting": "flashlight", "state": "on"}),
    ("toggle_setting", "could you please turn the bluetooth off", {"setting": "bluetooth", "state": "off"}),
    ("toggle_setting", "switch off the hotspot now", {"setting": "hotspot", "state": "off"}),
    ("toggle_setting", "I don't need mobile data anymore", {"setting": "mobile_data", "state": "off"}),
    ("toggle_setting", "kill the torch", {"setting": "flashlight", "state": "off"}),
    ("toggle_setting", "go into airplane mode", {"setting": "airplane_mode", "state": "on"}),
    ("toggle_setting", "get out of flight mode", {"setting": "airplane_mode", "state": "off"}),
    ("toggle_setting", "turn off wifi on my phone", {"setting": "wifi", "state": "off"}),
    ("toggle_setting", "don't disturb me for an hour", {"setting": "do_not_disturb", "state": "on"}),
    ("toggle_setting", "enable NFC for the metro gate", {"setting": "nfc", "state": "on"}),
    ("toggle_setting", "关掉 dark mode", {"setting": "dark_mode", "state": "off"}),
    # --- set_brightness
    ("set_brightness", "亮度帮我调到百分之三十", {"level": 30}),
    ("set_brightness", "屏幕亮度调到45%", {"level": 45}),
    ("set_brightness", "调到一半", {"level": 50}),
    ("set_brightness", "亮度直接开到最大", {"level": 100}),
    ("set_brightness", "亮度调到最低", {"level": 0}),
    ("set_brightness", "亮度调低到20", {"level": 20}),
    ("set_brightness", "亮度六十", {"level": 60}),
    ("set_brightness", "把亮度调低一点", {"direction": "down"}),
    ("set_brightness", "亮度调高10%", {"direction": "up"}),
    ("set_brightness", "这屏幕好暗啊", {"direction": "up"}),
    ("set_brightness", "晚上屏幕太亮了", {"direction": "down"}),
    ("set_brightness", "brightness 30 percent", {"level": 30}),
    ("set_brightness", "set brightness to seventy five", {"level": 75}),
    ("set_brightness", "brightness to the max please", {"level": 100}),
    ("set_brightness", "dim the screen a bit", {"direction": "down"}),
    ("set_brightness", "can you make it brighter", {"direction": "up"}),
    ("set_brightness", "it's way too dark", {"direction": "up"}),
    ("set_brightness", "screen 暗一点", {"direction": "down"}),
    # --- set_volume
    ("set_volume", "音量调到50%", {"level": 50}),
    ("set_volume", "声音开到百分之七十", {"level": 70}),
    ("set_volume", "声音调到一半", {"level": 50}),
    ("set_volume", "声音关到最小", {"level": 0}),
    ("set_volume", "音量三十", {"level": 30}),
    ("set_volume", "大声点", {"direction": "up"}),
    ("set_volume", "声音小一点，吵到别人了", {"direction": "down"}),
    ("set_volume", "把声音关小点", {"direction": "down"}),
    ("set_volume", "音量调高两格", {"direction": "up"}),
    ("set_volume", "上课了，手机静音", {"direction": "mute"}),
    ("set_volume", "把声音关了吧", {"direction": "mute"}),
    ("set_volume", "取消静音", {"direction": "up"}),
    ("set_volume", "turn it up", {"direction": "up"}),
    ("set_volume", "make it quieter please", {"direction": "down"}),
    ("set_volume", "way too loud", {"direction": "down"}),
    ("set_volume", "volume to half", {"level": 50}),
    ("set_volume", "turn the volume down to 20", {"level": 20}),
    ("set_volume", "volume up 10 percent", {"direction": "up"}),
    ("set_volume", "turn it down two notches", {"direction": "down"}),
    ("set_volume", "volume forty percent", {"level": 40}),
    ("set_volume", "mute my phone", {"direction": "mute"}),
    ("set_volume", "音量 up", {"direction": "up"}),
    # --- battery_status, take_screenshot: no slots
    ("battery_status", "电量还剩百分之几", {}),
    ("battery_status", "how much battery is left", {}),
    ("take_screenshot", "截个屏给同事", {}),
    ("take_screenshot", "grab a screenshot of this chat", {}),
    # --- media_control
    ("media_control", "暂停一下", {"command": "pause"}),
    ("media_control", "继续放吧", {"command": "resume"}),
    ("media_control", "切下一首", {"command": "next"}),
    ("media_control", "放回上一首", {"command": "previous"}),
    ("media_control", "先暂停，等会儿再继续", {"command": "pause"}),
    ("media_control", "播放", {"command": "resume"}),
    ("media_control", "skip this song please", {"command": "next"}),
    ("media_control", "go back to the last song", {"command": "previous"}),
    ("media_control", "keep playing the album", {"command": "resume"}),
    ("media_control", "stop the podcast", {"command": "pause"}),
    # --- take_photo
    ("take_photo", "给我拍张照", {"mode": "photo"}),
    ("take_photo", "帮我打开相机", {}),
    ("take_photo", "打开照相机", {}),
    ("take_photo", "我想自拍", {"mode": "selfie"}),
    ("take_photo", "用前置录个视频", {"mode": "video"}),
    ("take_photo", "take a selfie with the cat", {"mode": "selfie"}),
    ("take_photo", "record a video of the fireworks", {"mode": "video"}),
    ("take_photo", "take a picture of this", {"mode": "photo"}),
    ("take_photo", "open the camera app", {}),
    # --- play_music
    ("play_music", "播放周杰伦的晴天", {"song": "晴天", "artist": "周杰伦"}),
    ("play_music", "来点周杰伦的歌", {"artist": "周杰伦"}),
    ("play_music", "放一首孤勇者吧", {"song": "孤勇者"}),
    ("play_music", "我就想听陈奕迅", {"artist": "陈奕迅"}),
    ("play_music", "放一首英文歌", {"genre": "英文歌"}),
    ("play_music", "来点轻音乐放松一下", {"genre": "轻音乐"}),
    ("play_music", "用酷狗放点粤语歌", {"genre": "粤语歌", "app": "kugou"}),
    ("play_music", "打开QQ音乐放首歌", {"app": "qq_music"}),
    ("play_music", "用网易云音乐播放赵雷的成都", {"song": "成都", "artist": "赵雷", "app": "netease_music"}),
    ("play_music", "放首月亮代表我的心", {"song": "月亮代表我的心"}),
    ("play_music", "播放点音乐", {}),
    ("play_music", "来点好听的", {}),
    ("play_music", "play some jazz for dinner", {"genre": "jazz"}),
    ("play_music", "play rock music please", {"genre": "rock"}),
    ("play_music", "play Taylor Swift now", {"artist": "Taylor Swift"}),
    ("play_music", "play Love Story by Taylor Swift", {"song": "Love Story", "artist": "Taylor Swift"}),
    ("play_music", "play Coldplay's Yellow", {"song": "Yellow", "artist": "Coldplay"}),
    ("play_music", "play songs by Jay Chou", {"artist": "Jay Chou"}),
    ("play_music", "please play Bohemian Rhapsody", {"song": "Bohemian Rhapsody"}),
    ("play_music", "play 七里香 on QQ music", {"song": "七里香", "app": "qq_music"}),
    ("play_music", "play something relaxing", {}),
    ("play_music", "play music on NetEase Cloud Music", {"app": "netease_music"}),
    # --- search_photos: a date only for a day said outright, and a past one
    ("search_photos", "找一下去年在三亚拍的照片", {"query": "三亚"}),
    ("search_photos", "找一下昨天拍的照片", {"date": "2026-11-24"}),
    ("search_photos", "看看上周五的照片", {"date": "2026-11-20"}),
    ("search_photos", "周一拍的照片", {"date": "2026-11-23"}),
    ("search_photos", "找12月3日的照片", {"date": "2025-12-03"}),
    ("search_photos", "找3号拍的照片", {"date": "2026-11-03"}),
    ("search_photos", "搜一下狗狗的照片", {"query": "狗狗"}),
    ("search_photos", "相册里有没有故宫的照片", {"query": "故宫"}),
    ("search_photos", "找出去年国庆在杭州拍的照片", {"query": "杭州"}),
    ("search_photos", "国庆的照片", {"query": "国庆"}),
    ("search_photos", "找周五拍的截图", {"query": "截图", "date": "2026-11-20"}),
    ("search_photos", "前天在公园拍的照片", {"query": "公园", "date": "2026-11-23"}),
    ("search_photos", "打开相册看看", {}),
    ("search_photos", "show me pictures of cats", {"query": "cats"}),
    ("search_photos", "pictures of the Great Wall", {"query": "the Great Wall"}),
    ("search_photos", "find the photo of the boarding pass", {"query": "boarding pass"}),
    ("search_photos", "search my gallery for dogs", {"query": "dogs"}),
    ("search_photos", "photos taken yesterday", {"date": "2026-11-24"}),
    ("search_photos", "pictures from last friday", {"date": "2026-11-20"}),
    ("search_photos", "find my pictures from Dec 3rd", {"date": "2025-12-03"}),
    ("search_photos", "photos of 小明's birthday party", {"query": "小明's birthday party"}),
]


@pytest.mark.parametrize(("intent", "text", "slots"), COMPLETE)
def test_complete_requests(intent: str, text: str, slots: dict[str, Any]) -> None:
    result = fill(intent, text)
    assert result.slots == slots
    assert result.complete
    assert result.action is not None
    assert result.action.name == ACTIONS[intent]
    for key, value in slots.items():  # the action carries every slot (play_music adds the app's package)
        assert result.action.params[key] == value


def test_music_action_names_the_package() -> None:
    result = fill("play_music", "用QQ音乐放稻香")
    assert result.action.params["package"] == "com.tencent.qqmusic"


# (intent, text, slots found) for requests missing a slot the action needs
INCOMPLETE: list[tuple[str, str, dict[str, Any]]] = [
    ("toggle_setting", "turn it off", {"state": "off"}),
    ("toggle_setting", "帮我关一下", {"state": "off"}),
    ("toggle_setting", "蓝牙开着吗", {"setting": "bluetooth"}),
    ("toggle_setting", "is wifi on?", {"setting": "wifi"}),
    ("set_brightness", "屏幕亮度呢", {}),
    ("set_brightness", "亮度调到200", {}),
    ("set_brightness", "brightness", {}),
    ("set_volume", "帮我调一下音量", {}),
    ("set_volume", "volume", {}),
    ("media_control", "音乐", {}),
    ("media_control", "the song", {}),
]


@pytest.mark.parametrize(("intent", "text", "slots"), INCOMPLETE)
def test_incomplete_requests_ask(intent: str, text: str, slots: dict[str, Any]) -> None:
    result = fill(intent, text)
    assert not result.complete
    assert result.action is None
    assert result.slots == slots
    skill = BY_INTENT[intent]
    assert HAN.search(skill.ask(result.slots, "zh"))
    assert not HAN.search(skill.ask(result.slots, "en"))


@pytest.mark.parametrize(
    ("intent", "text", "zh_words", "en_words"),
    [
        ("toggle_setting", "蓝牙打开一下", ["打开", "蓝牙"], ["on", "Bluetooth"]),
        ("toggle_setting", "turn off wifi", ["关闭", "WLAN"], ["off", "Wi-Fi"]),
        ("set_brightness", "亮度调到50%吧", ["50%"], ["50%"]),
        ("set_brightness", "dim the screen please", ["暗"], ["dimmer"]),
        ("set_volume", "静音一下", ["静音"], ["mute"]),
        ("set_volume", "louder please", ["大"], ["up"]),
        ("set_volume", "volume 30 please", ["30%"], ["30%"]),
        ("battery_status", "电池还剩多少电", ["电池"], ["battery"]),
        ("media_control", "来下一首", ["下一首"], ["next"]),
        ("media_control", "pause it", ["暂停"], ["Paused"]),
        ("take_photo", "自拍", ["前置"], ["front camera"]),
        ("take_photo", "record a short video", ["录像"], ["video"]),
        ("take_screenshot", "截图留底", ["截屏"], ["screenshot"]),
        ("play_music", "播放周杰伦的晴天", ["周杰伦", "晴天"], ["晴天", "周杰伦"]),
        (
            "play_music",
            "play Yellow by Coldplay on QQ music",
            ["QQ音乐", "Yellow"],
            ["Yellow", "Coldplay", "QQ Music"],
        ),
        ("play_music", "来点爵士乐", ["爵士乐"], ["爵士乐"]),
        ("play_music", "play some tunes", ["音乐"], ["music"]),
        ("search_photos", "找一下昨天在三亚拍的照片", ["昨天", "三亚"], ["yesterday", "三亚"]),
        ("search_photos", "photos of cats from last friday", ["11月20日", "cats"], ["cats", "November 20"]),
    ],
)
def test_replies_confirm_values_in_the_language_asked(
    intent: str, text: str, zh_words: list[str], en_words: list[str]
) -> None:
    result = fill(intent, text)
    skill = BY_INTENT[intent]
    zh = skill.confirm(result.slots, "zh", NOW)
    en = skill.confirm(result.slots, "en", NOW)
    for word in zh_words:
        assert word in zh
    for word in en_words:
        assert word in en
    assert HAN.search(zh)
    for value in result.slots.values():  # names as said may be Chinese in an English reply, nothing else
        en = en.replace(str(value), "")
    assert not HAN.search(en)


@pytest.mark.parametrize("skill", SKILLS, ids=lambda s: s.intent)
@pytest.mark.parametrize("text", ["", "   ", "？？", "asdfgh", "12345", "的的的", "到到到100%%%"])
def test_odd_input_never_raises(skill: Skill, text: str) -> None:
    result = skill.fill(Utterance.of(text), CTX)
    assert result.complete == (result.action is not None)
    question = skill.ask(result.slots, "zh")
    assert question


def test_names_leave_the_command_language() -> None:
    # play 稻香: the song title is not a reason to answer in Chinese
    result = fill("play_music", "play 稻香")
    assert "稻香" in result.names
