"""Requests the assistant understands but cannot carry out: another device, or a time already past."""

from __future__ import annotations

import pytest
from lingxi_assistant import dataset
from lingxi_assistant.lang import Utterance
from lingxi_assistant.scope import IN_THE_FUTURE, ON_THIS_PHONE, refusal


@pytest.mark.parametrize(
    ("intent", "text"),
    [
        ("open_app", "电视上打开爱奇艺"),
        ("set_alarm", "儿童手表上给孩子设个七点的闹钟"),
        ("cancel_alarm", "把我妈手机上的闹钟取消掉"),
        ("media_control", "小度音箱下一首"),
        ("battery_status", "蓝牙音箱的电量还剩多少"),
        ("open_app", "后备箱打开"),
        ("open_app", "open WeChat on my iPad"),
        ("navigate", "set the car's navigation to Hongqiao"),
        ("battery_status", "check the battery on my husband's phone"),
        ("call_contact", "call my wife from my dad's phone"),
    ],
)
def test_an_action_aimed_at_another_device_is_refused(intent: str, text: str) -> None:
    assert refusal(intent, Utterance.of(text)) == "elsewhere"


@pytest.mark.parametrize(
    ("intent", "text"),
    [
        ("set_alarm", "把闹钟设到昨天晚上"),
        ("set_reminder", "提醒我昨天晚上吃药"),
        ("set_alarm", "set an alarm for last Monday at 7"),
        ("set_reminder", "remind me last Friday to pay the bill"),
        ("set_alarm", "wake me up two hours ago"),
        ("book_taxi", "book a taxi for yesterday afternoon"),
    ],
)
def test_scheduling_in_the_past_is_refused(intent: str, text: str) -> None:
    assert refusal(intent, Utterance.of(text)) == "past"


@pytest.mark.parametrize(
    ("intent", "text"),
    [
        ("call_contact", "call Jack's phone"),  # calling Jack, on this phone
        ("call_contact", "call Peter Chen on speaker"),  # speakerphone
        ("open_app", "open tiktok, I want to watch some videos"),
        ("navigate", "directions to the car park at Terminal 2"),
        ("toggle_setting", "电脑要借我手机的网用一下"),  # the hotspot is this phone's
        ("send_message", "text Dad the wifi password is on the fridge"),  # free text, not an action
        ("set_reminder", "过一个小时提醒我把洗衣机里的衣服拿出来"),
        ("check_schedule", "昨天有什么安排"),  # looking back is fine
        ("search_photos", "上周六拍的视频找出来"),
        ("set_reminder", "周日上午十点提醒我去年检"),
    ],
)
def test_what_only_mentions_a_device_or_the_past_is_left_alone(intent: str, text: str) -> None:
    assert refusal(intent, Utterance.of(text)) is None


def test_no_labelled_request_the_assistant_can_do_is_refused() -> None:
    """Measured on every labelled and unseen utterance: the checks refuse none labelled in scope."""
    wrongly = [
        e.text
        for e in (*dataset.labelled(), *dataset.unseen())
        if e.intent != "out_of_scope" and refusal(e.intent, Utterance.of(e.text))
    ]
    assert wrongly == []


def test_the_checks_cover_out_of_scope_requests_in_the_data() -> None:
    covered = [
        e.text
        for e in dataset.labelled()
        if e.intent == "out_of_scope"
        and any(refusal(i, Utterance.of(e.text)) for i in ON_THIS_PHONE | IN_THE_FUTURE)
    ]
    assert len(covered) >= 60
