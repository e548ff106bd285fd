"""The voice/text assistant: a query in, a drafted answer out, released or blocked by compliance.

Flow: gateway ``QueryReceived`` → assistant ``AnswerDrafted`` → compliance ``AnswerReleased`` or
``AnswerBlocked`` → gateway (result store, device).
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Self, TypeAlias

from pydantic import Field, StringConstraints, field_validator, model_validator

from lingxi.events._values import (
    NOT_BLANK,
    DeviceId,
    DottedCode,
    EngineName,
    IanaTimeZone,
    Locale,
    LocaleField,
    ModelName,
    Probability,
    ReasonCode,
    RequestId,
    Scalar,
    ScalarMap,
    UserId,
    ValueObject,
)
from lingxi.events.base import Event
from lingxi.events.compliance import (
    LABEL_ROOM_CHARS,
    AigcField,
    ExplicitLabelField,
    FilingNumberField,
    ModerationVerdict,
    SafeReply,
)

__all__ = [
    "ASSISTANT_FEATURE",
    "MAX_LABELLED_REPLY_CHARS",
    "MAX_QUERY_CHARS",
    "MAX_REPLY_CHARS",
    "AnswerBlocked",
    "AnswerDrafted",
    "AnswerReleased",
    "DeviceAction",
    "Locale",
    "QueryReceived",
    "SlotValue",
]

MAX_QUERY_CHARS = 2000
"""Longest query text a device may send."""

MAX_REPLY_CHARS = 4000
"""Longest drafted reply."""

MAX_LABELLED_REPLY_CHARS = MAX_REPLY_CHARS + LABEL_ROOM_CHARS
"""Longest released reply: the draft plus the visible AI-content notice."""

SlotValue: TypeAlias = Scalar
"""Value of a slot filled from the query (``str | int | float | bool``)."""


class DeviceAction(ValueObject):
    """Something the assistant asks the handset to do alongside the reply (set an alarm, open an app)."""

    name: DottedCode = Field(
        description="Action to run on the device, ``<domain>.<verb>``.", examples=["alarm.set"]
    )
    params: ScalarMap = Field(
        default_factory=dict,
        description="Arguments of the action.",
        examples=[{"time": "07:30", "repeat": False}],
    )


class QueryReceived(Event):
    """A user asked the assistant something (typed or transcribed speech).

    The gateway produces it from ``POST /v1/assistant/queries``; the assistant consumes it.
    """

    stream = "assistant.query.received"

    request_id: RequestId
    device_id: DeviceId
    user_id: Annotated[
        UserId | None,
        Field(description="Signed-in user, if any; none for anonymous use.", examples=["u-20261125-000042"]),
    ] = None
    text: str = Field(
        min_length=1,
        max_length=MAX_QUERY_CHARS,
        pattern=NOT_BLANK,
        description="What the user asked, as typed or transcribed.",
        examples=["明天早上七点半叫我起床"],
    )
    locale: LocaleField
    timezone: IanaTimeZone = "Asia/Shanghai"

    @field_validator("text")
    @classmethod
    def _no_control_characters(cls, text: str) -> str:
        # Speech and keyboards give none; a control character means garbage or an injection attempt,
        # and must reach neither the logs nor a model partner. Line breaks and tabs are fine.
        for position, char in enumerate(text):
            if unicodedata.category(char) == "Cc" and char not in "\n\r\t":
                raise ValueError(f"text has a control character (U+{ord(char):04X}) at position {position}")
        return text


_Intent = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_.:-]*$"),
    Field(description="Intent the assistant recognised.", examples=["alarm.set"]),
]


_ProviderName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$"),
    Field(description="Name of a configured model partner.", examples=["qwen"]),
]


ASSISTANT_FEATURE = "assistant"
"""The feature a query needs approved in its region (the approval registry's key)."""


class _AnswerContent(Event):
    """The fields of an answer, shared by the draft and the released answer (not an event itself)."""

    request_id: RequestId
    device_id: DeviceId
    locale: LocaleField
    intent: _Intent
    confidence: Probability = Field(description="How sure the assistant is of the intent.", examples=[0.92])
    slots: ScalarMap = Field(
        default_factory=dict,
        description="Slots filled from the query.",
        examples=[{"time": "07:30", "day": "tomorrow"}],
    )
    action: DeviceAction | None = Field(
        default=None,
        description="Action for the device to run, if the answer has one.",
        examples=[{"name": "alarm.set", "params": {"time": "07:30"}}],
    )
    reply_text: str = Field(
        min_length=1,
        max_length=MAX_REPLY_CHARS,
        pattern=NOT_BLANK,
        description="The answer text, before compliance labels it.",
        examples=["好的，明天早上 7:30 叫你起床。"],
    )
    engine: EngineName
    model_name: ModelName
    providers_tried: list[_ProviderName] = Field(
        default_factory=list,
        max_length=16,
        description="Model partners called for this answer, in order (the one that answered last); "
        "empty when the local engine answered alone.",
        examples=[["qwen", "deepseek"]],
    )


class AnswerDrafted(_AnswerContent):
    """The assistant drafted an answer to a query; nothing has been shown to the user yet.

    The assistant produces it; compliance consumes it and releases or blocks it.
    """

    stream = "assistant.answer.drafted"

    input_moderation: ModerationVerdict | None = Field(
        default=None,
        description="How moderation judged the user's text before anything was sent to a model partner; "
        "none when it passed untouched. ``block``: the reply is the policy's safe reply and compliance "
        "blocks the answer with the first reason code.",
        examples=[{"action": "block", "reason_codes": ["moderation.prompt_injection"]}],
    )


class AnswerReleased(_AnswerContent):
    """Compliance released an answer with its AI-content labels; this is what the user sees.

    Compliance produces it; the gateway consumes it and hands it to the device.
    """

    stream = "assistant.answer.released"

    reply_text: str = Field(
        min_length=1,
        max_length=MAX_LABELLED_REPLY_CHARS,
        pattern=NOT_BLANK,
        description="The answer as shown to the user, already carrying the explicit notice.",
        examples=["好的，明天早上 7:30 叫你起床。\n（本内容由人工智能生成）"],
    )
    explicit_label: ExplicitLabelField
    aigc: AigcField
    filing_number: FilingNumberField = None

    @model_validator(mode="after")
    def _notice_is_shown(self) -> Self:
        if self.explicit_label.notice not in self.reply_text:
            raise ValueError(f"reply_text must carry the explicit notice {self.explicit_label.notice!r}")
        return self


class AnswerBlocked(Event):
    """Compliance blocked a drafted answer; the user gets ``safe_reply`` instead.

    Compliance produces it; the gateway consumes it.
    """

    stream = "assistant.answer.blocked"

    request_id: RequestId
    device_id: DeviceId
    locale: LocaleField
    reason_code: ReasonCode
    safe_reply: SafeReply
