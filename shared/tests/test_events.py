"""The event catalogue: every event's contract, the registry, and each domain's own rules.

Valid payloads are built from the examples each field documents, so the documented examples are
themselves checked: an example that stops validating fails here.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import pkgutil
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar
from uuid import uuid4

import lingxi.events
import pytest
from lingxi.events import (
    EVENT_TYPES,
    GENESIS_HASH,
    MAX_IMAGE_BYTES,
    MAX_LABELLED_REPLY_CHARS,
    MAX_QUERY_CHARS,
    AigcMetadata,
    AlertCleared,
    AlertRaised,
    AnalysisBlocked,
    AnalysisFailed,
    AnalysisReleased,
    AnswerBlocked,
    AnswerDrafted,
    AnswerReleased,
    AuditRecorded,
    AuditRequested,
    ConsentChanged,
    DeviceAction,
    ErasureCompleted,
    ErasureRequested,
    Event,
    ExplicitLabel,
    FeatureChanged,
    FeatureChangeRequested,
    ImageAnalyzed,
    ImageReceived,
    Initiator,
    PurchaseRecorded,
    QueryReceived,
    RecommendationsUpdated,
    Region,
    TelemetryBatchReceived,
    TelemetryReported,
    UnknownStream,
    ValueObject,
    dead_letter_stream,
    event_type,
)
from lingxi.events.registry import _by_stream
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
REPO = Path(__file__).resolve().parents[2]
STREAM_NAME = re.compile(r"^[a-z]+(\.[a-z_]+){2}$")
EVENTS = sorted(EVENT_TYPES.values(), key=lambda cls: cls.stream)


def _modules() -> Iterator[str]:
    for info in pkgutil.iter_modules(lingxi.events.__path__, "lingxi.events."):
        yield importlib.import_module(info.name).__name__


EVENT_MODULES = frozenset(_modules())


def _subclasses(cls: type[M]) -> set[type[M]]:
    found = {sub for sub in cls.__subclasses__() if sub.__module__ in EVENT_MODULES}
    return found.union(*(_subclasses(sub) for sub in found))


def payload(cls: type[BaseModel], **changes: Any) -> dict[str, Any]:
    """A wire payload (JSON-ready dict) for ``cls`` built from its fields' first examples."""
    data = {
        field.alias or name: field.examples[0] for name, field in cls.model_fields.items() if field.examples
    }
    if issubclass(cls, Event):
        data["region"] = "CN"
    return {**data, **changes}


def validate(cls: type[BaseModel], **changes: Any) -> Any:
    return cls.model_validate_json(json.dumps(payload(cls, **changes)))


def error_fields(exc: pytest.ExceptionInfo[ValidationError]) -> set[Any]:
    return {error["loc"][0] if error["loc"] else None for error in exc.value.errors()}


def by_stream(cls: type[Event]) -> str:
    return cls.stream


# --- every event ----------------------------------------------------------------------------------

ALERT_EVIDENCE_TOO_BIG = {f"metric_{i}": i for i in range(65)}
RECOMMENDATION = payload(lingxi.events.Recommendation)
LABEL = payload(lingxi.events.ImageLabel)
READING = payload(lingxi.events.TelemetryReading)

# For each event: (field, value of the wrong JSON type), (field, value out of its range).
BAD_VALUES: dict[type[Event], tuple[tuple[str, Any], tuple[str, Any]]] = {
    QueryReceived: (("request_id", 42), ("text", "问" * (MAX_QUERY_CHARS + 1))),
    AnswerDrafted: (("confidence", "high"), ("confidence", 1.5)),
    AnswerReleased: (("slots", ["time"]), ("reply_text", "x" * (MAX_LABELLED_REPLY_CHARS + 1))),
    AnswerBlocked: (("locale", 1), ("safe_reply", "x" * 1001)),
    ImageReceived: (("size_bytes", "1024"), ("size_bytes", MAX_IMAGE_BYTES + 1)),
    ImageAnalyzed: (("texts", {"text": "出口"}), ("image_width", 0)),
    AnalysisReleased: (("explicit_label", "AI-generated content"), ("labels", [LABEL] * 51)),
    AnalysisBlocked: (("device_id", 7), ("device_id", "d" * 129)),
    AnalysisFailed: (("reason_code", 3), ("detail", "x" * 501)),
    FeatureChangeRequested: (("requested_by", ["admin"]), ("note", "x" * 501)),
    FeatureChanged: (("status", True), ("feature", "f" * 65)),
    AuditRecorded: (("detail", "x"), ("entry_hash", "ab" * 33)),
    AuditRequested: (("detail", "x"), ("action", "Not A Code")),
    TelemetryReported: (("battery_level", "76"), ("battery_level", 101)),
    TelemetryBatchReceived: (("readings", READING), ("readings", [READING] * 1001)),
    AlertRaised: (("evidence", [1]), ("recommended_action_zh", "修" * 501)),
    AlertCleared: (("alert_id", 5), ("evidence", ALERT_EVIDENCE_TOO_BIG)),
    PurchaseRecorded: (("amount_minor", "18.90"), ("amount_minor", 0)),
    ConsentChanged: (("granted_scopes", "personalisation"), ("granted_scopes", ["purchase_data"] * 4)),
    RecommendationsUpdated: (("items", RECOMMENDATION), ("items", [RECOMMENDATION] * 51)),
    ErasureRequested: (("requested_by", 1), ("user_id", "")),
    ErasureCompleted: (("erased_keys", 1.5), ("erased_keys", -1)),
}

every_event = pytest.mark.parametrize("cls", EVENTS, ids=by_stream)


def test_the_bad_values_table_covers_every_event() -> None:
    assert set(BAD_VALUES) == set(EVENT_TYPES.values())


@every_event
def test_a_documented_example_round_trips(cls: type[Event]) -> None:
    event = validate(cls)
    assert cls.model_validate_json(event.model_dump_json(by_alias=True)) == event
    assert cls.model_validate_json(json.dumps(event.to_json_dict())) == event


@every_event
def test_an_unknown_field_is_rejected_by_name(cls: type[Event]) -> None:
    with pytest.raises(ValidationError) as exc:
        validate(cls, surprise=1)
    assert [(e["loc"], e["type"]) for e in exc.value.errors()] == [(("surprise",), "extra_forbidden")]


@every_event
def test_a_wrong_type_is_rejected_by_name(cls: type[Event]) -> None:
    field, value = BAD_VALUES[cls][0]
    with pytest.raises(ValidationError) as exc:
        validate(cls, **{field: value})
    assert exc.value.errors()[0]["loc"][0] == field
    assert error_fields(exc) == {field}


@every_event
def test_an_out_of_range_value_is_rejected_by_name(cls: type[Event]) -> None:
    field, value = BAD_VALUES[cls][1]
    with pytest.raises(ValidationError) as exc:
        validate(cls, **{field: value})
    assert error_fields(exc) == {field}


@every_event
def test_a_missing_required_field_is_named(cls: type[Event]) -> None:
    required = [name for name, field in cls.model_fields.items() if field.is_required()]
    data = payload(cls)
    del data[required[-1]]
    with pytest.raises(ValidationError) as exc:
        cls.model_validate_json(json.dumps(data))
    assert [(e["loc"], e["type"]) for e in exc.value.errors()] == [((required[-1],), "missing")]


@every_event
def test_an_unaccepted_schema_version_says_which_are_accepted(cls: type[Event]) -> None:
    with pytest.raises(ValidationError, match=r"schema_version 2 is not accepted \(accepted: 1\)") as exc:
        validate(cls, schema_version=2)
    assert error_fields(exc) == {"schema_version"}


@every_event
def test_a_naive_occurred_at_is_rejected(cls: type[Event]) -> None:
    with pytest.raises(ValidationError) as exc:
        validate(cls, occurred_at="2026-11-25T16:30:00")
    assert [(e["loc"], e["type"]) for e in exc.value.errors()] == [(("occurred_at",), "timezone_aware")]


@every_event
def test_occurred_at_in_beijing_time_is_stored_as_utc(cls: type[Event]) -> None:
    event = validate(cls, occurred_at="2026-11-25T16:30:00+08:00")
    assert event.occurred_at == datetime(2026, 11, 25, 8, 30, tzinfo=UTC)
    assert event.occurred_at.tzinfo is UTC
    assert event.to_json_dict()["occurred_at"] == "2026-11-25T08:30:00Z"


@every_event
def test_events_are_frozen(cls: type[Event]) -> None:
    event = validate(cls)
    with pytest.raises(ValidationError, match="frozen"):
        event.region = Region.HK


@every_event
def test_the_json_schema_builds(cls: type[Event]) -> None:
    schema = cls.model_json_schema(by_alias=True)
    assert schema["additionalProperties"] is False
    assert schema["description"]


MODELS: list[type[BaseModel]] = sorted(
    [*_subclasses(Event), *_subclasses(ValueObject)], key=lambda cls: cls.__name__
)


@pytest.mark.parametrize("cls", MODELS, ids=[cls.__name__ for cls in MODELS])
def test_every_model_and_field_is_documented(cls: type[BaseModel]) -> None:
    assert inspect.getdoc(cls) != inspect.getdoc(cls.__mro__[1]), f"{cls.__name__} has no docstring"
    undocumented = [
        name for name, field in cls.model_fields.items() if not (field.description and field.examples)
    ]
    assert undocumented == []


# --- the registry ---------------------------------------------------------------------------------


def test_the_registry_holds_every_concrete_event_once() -> None:
    events = _subclasses(Event)
    concrete = {cls for cls in events if "stream" in vars(cls)}
    assert sorted(EVENT_TYPES.values(), key=by_stream) == sorted(concrete, key=by_stream)
    assert all(EVENT_TYPES[cls.stream] is cls for cls in concrete)
    # Classes without their own stream are private building blocks that concrete events extend.
    for base in events - concrete:
        assert base.__name__.startswith("_"), f"{base.__name__} is public but names no stream"
        assert base.__subclasses__(), f"{base.__name__} is never used"


def test_stream_names_are_well_formed_and_distinct() -> None:
    streams = [cls.stream for cls in EVENT_TYPES.values()]
    assert [s for s in streams if not STREAM_NAME.fullmatch(s)] == []
    assert len(set(streams)) == len(streams)
    assert all(name == cls.stream for name, cls in EVENT_TYPES.items())


def test_every_event_is_exported_from_the_package() -> None:
    exported = [getattr(lingxi.events, name) for name in lingxi.events.__all__]
    assert [cls for cls in EVENTS if cls not in exported] == []
    assert all(getattr(lingxi.events, cls.__name__) is cls for cls in EVENTS)


def test_stream_names_are_written_once_in_the_sources() -> None:
    streams = set(EVENT_TYPES)
    sources = [*(REPO / "shared" / "src").rglob("*.py"), *(REPO / "services").glob("*/src/**/*.py")]
    places: dict[str, list[str]] = {stream: [] for stream in streams}
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in streams:
                places[node.value].append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert {stream: where for stream, where in places.items() if len(where) != 1} == {}


def test_two_classes_on_one_stream_stop_the_import() -> None:
    class Twin(AnswerDrafted):
        """A second class on the drafted-answer stream."""

    message = f"Twin and AnswerDrafted share stream {AnswerDrafted.stream!r}"
    with pytest.raises(RuntimeError, match=re.escape(message)):
        _by_stream([AnswerDrafted, Twin])


def test_event_type_finds_the_class_for_a_stream() -> None:
    assert event_type(QueryReceived.stream) is QueryReceived
    assert event_type(AnswerReleased.stream) is AnswerReleased


def test_an_unknown_stream_is_a_key_error_listing_the_known_streams() -> None:
    with pytest.raises(UnknownStream) as exc:
        event_type("assistant.query.recieved")
    assert isinstance(exc.value, KeyError)
    assert exc.value.stream == "assistant.query.recieved"
    message = str(exc.value)
    assert "'assistant.query.recieved'" in message
    assert all(stream in message for stream in EVENT_TYPES)


def test_the_registry_is_read_only() -> None:
    with pytest.raises(TypeError):
        EVENT_TYPES["x.y.z"] = QueryReceived  # type: ignore[index]


def test_dead_letter_stream_names() -> None:
    assert dead_letter_stream(QueryReceived.stream) == f"{QueryReceived.stream}.dlq"


# --- the envelope in Python code ------------------------------------------------------------------


def test_in_python_enums_are_passed_as_members() -> None:
    with pytest.raises(ValidationError) as exc:
        ErasureRequested(region="CN", user_id="u-1", requested_by=Initiator.USER)  # type: ignore[arg-type]
    assert error_fields(exc) == {"region"}
    event = ErasureRequested(region=Region.CN, user_id="u-1", requested_by=Initiator.USER)
    assert event.to_json_dict()["region"] == "CN"
    assert event.to_json_dict()["requested_by"] == "user"


def test_envelope_defaults_are_fresh_for_each_event() -> None:
    first, second = (
        ErasureRequested(region=Region.CN, user_id="u-1", requested_by=Initiator.USER) for _ in range(2)
    )
    assert first.event_id != second.event_id
    assert first.schema_version == 1
    assert first.causation_id is None
    assert datetime.now(UTC) - first.occurred_at < timedelta(minutes=1)


# --- assistant ------------------------------------------------------------------------------------


def test_a_query_of_exactly_the_maximum_length_is_accepted() -> None:
    assert len(validate(QueryReceived, text="问" * MAX_QUERY_CHARS).text) == MAX_QUERY_CHARS


@pytest.mark.parametrize("text", ["", "   \n"])
def test_an_empty_or_blank_query_is_rejected(text: str) -> None:
    with pytest.raises(ValidationError) as exc:
        validate(QueryReceived, text=text)
    assert error_fields(exc) == {"text"}


@pytest.mark.parametrize(
    ("text", "code"), [("打开\x07微信", "U+0007"), ("a\x00b", "U+0000"), ("x\x9by", "U+009B")]
)
def test_a_query_with_a_control_character_is_rejected_naming_it(text: str, code: str) -> None:
    with pytest.raises(ValidationError) as exc:
        validate(QueryReceived, text=text)
    assert error_fields(exc) == {"text"}
    assert code in str(exc.value)


def test_line_breaks_and_tabs_are_not_control_characters_to_refuse() -> None:
    assert validate(QueryReceived, text="打开\n微信\t吧").text == "打开\n微信\t吧"


def test_the_query_timezone_defaults_to_shanghai_and_must_be_a_real_zone() -> None:
    data = payload(QueryReceived)
    del data["timezone"]
    assert QueryReceived.model_validate_json(json.dumps(data)).timezone == "Asia/Shanghai"
    assert validate(QueryReceived, timezone="Europe/Berlin").timezone == "Europe/Berlin"
    for zone in ["Mars/Olympus_Mons", "Asia/Shang hai", "../etc/passwd"]:
        with pytest.raises(ValidationError) as exc:
            validate(QueryReceived, timezone=zone)
        assert error_fields(exc) == {"timezone"}
    with pytest.raises(ValidationError, match="unknown IANA time zone 'Mars/Olympus_Mons'"):
        validate(QueryReceived, timezone="Mars/Olympus_Mons")


@pytest.mark.parametrize("device_id", ["phone 1", "设备", "a/b"])
def test_device_ids_are_plain_identifiers(device_id: str) -> None:
    with pytest.raises(ValidationError) as exc:
        validate(QueryReceived, device_id=device_id)
    assert error_fields(exc) == {"device_id"}


def test_the_user_is_optional() -> None:
    data = payload(QueryReceived)
    del data["user_id"]
    assert QueryReceived.model_validate_json(json.dumps(data)).user_id is None
    assert validate(QueryReceived, user_id=None).user_id is None


def test_slot_values_keep_their_json_type() -> None:
    slots = {"city": "上海", "count": 3, "ratio": 0.5, "whole": 2.0, "repeat": False}
    draft = validate(AnswerDrafted, slots=slots)
    assert draft.slots == slots
    assert [type(v) for v in draft.slots.values()] == [str, int, float, float, bool]
    again = AnswerDrafted.model_validate_json(draft.model_dump_json())
    assert [type(v) for v in again.slots.values()] == [str, int, float, float, bool]


@pytest.mark.parametrize("value", [None, [1], {"a": 1}])
def test_slot_values_are_scalars(value: Any) -> None:
    with pytest.raises(ValidationError) as exc:
        validate(AnswerDrafted, slots={"x": value})
    assert error_fields(exc) == {"slots"}


def test_non_finite_numbers_are_rejected() -> None:
    with pytest.raises(ValidationError) as exc:
        DeviceAction(name="alarm.set", params={"x": float("nan")})
    assert error_fields(exc) == {"params"}


@pytest.mark.parametrize("name", ["Alarm.set", "alarm set", "1alarm", "", "a" * 65])
def test_device_action_names_are_dotted_codes(name: str) -> None:
    with pytest.raises(ValidationError) as exc:
        DeviceAction(name=name)
    assert error_fields(exc) == {"name"}


def released(**changes: Any) -> AnswerReleased:
    return validate(AnswerReleased, **changes)  # type: ignore[no-any-return]


def test_a_released_answer_serialises_the_aigc_label_with_the_standards_keys() -> None:
    aigc = AigcMetadata(label=1, content_producer="Lingxi", produce_id="req-1", reserved_code1="f" * 64)
    answer = released(aigc=aigc.model_dump())
    wire = answer.to_json_dict()["aigc"]
    assert wire == {
        "Label": 1,
        "ContentProducer": "Lingxi",
        "ProduceID": "req-1",
        "ReservedCode1": "f" * 64,
        "ContentPropagator": "",
        "PropagateID": "",
        "ReservedCode2": "",
    }
    assert answer.model_dump()["aigc"] == wire  # by alias even when the caller forgets
    assert AnswerReleased.model_validate_json(json.dumps(answer.to_json_dict())) == answer
    assert AnswerReleased.model_validate_json(answer.model_dump_json()).aigc == aigc


def test_the_aigc_label_accepts_python_names_too() -> None:
    by_name = AigcMetadata.model_validate_json('{"label": 2, "content_producer": "P", "produce_id": "1"}')
    by_alias = AigcMetadata.model_validate_json('{"Label": 2, "ContentProducer": "P", "ProduceID": "1"}')
    assert by_name == by_alias
    assert by_name.label == 2


@pytest.mark.parametrize(
    ("key", "value"), [("Label", 0), ("Label", 4), ("Label", "1"), ("ContentProducer", "")]
)
def test_aigc_values_are_checked(key: str, value: Any) -> None:
    with pytest.raises(ValidationError) as exc:
        released(aigc={**payload(AigcMetadata), key: value})
    assert [e["loc"][:2] for e in exc.value.errors()] == [("aigc", key)]


def test_a_released_answer_must_show_its_notice() -> None:
    with pytest.raises(ValidationError, match="must carry the explicit notice '本内容由人工智能生成'"):
        released(reply_text="好的，明天早上 7:30 叫你起床。")
    english = released(
        locale="en-US",
        reply_text="OK, I'll wake you at 7:30.\n(AI-generated content)",
        explicit_label={"notice": "AI-generated content", "position": "end"},
    )
    assert english.explicit_label == ExplicitLabel(notice="AI-generated content", position="end")


def test_a_released_answer_may_be_longer_than_a_draft_by_its_notice() -> None:
    long_draft = "x" * 4000
    validate(AnswerDrafted, reply_text=long_draft)
    with pytest.raises(ValidationError):
        validate(AnswerDrafted, reply_text=long_draft + "y")
    assert released(reply_text=f"{long_draft}\n（本内容由人工智能生成）").reply_text.startswith(long_draft)


def test_a_blocked_answer_carries_a_machine_readable_reason() -> None:
    with pytest.raises(ValidationError) as exc:
        validate(AnswerBlocked, reason_code="Politics!")
    assert error_fields(exc) == {"reason_code"}


# --- vision ---------------------------------------------------------------------------------------


def test_requested_vision_tasks_do_not_repeat() -> None:
    assert validate(ImageReceived, tasks=["faces", "text"]).tasks == ["faces", "text"]
    for tasks in [[], ["text", "text"], ["ocr"]]:
        with pytest.raises(ValidationError) as exc:
            validate(ImageReceived, tasks=tasks)
        assert error_fields(exc) == {"tasks"}


@pytest.mark.parametrize(
    "ref", ["B94D27B9934D3E08A52E52D7DA7DABFAC484EFE37A5380EE9088F7ACE2EFCDE9", "abc", "g" * 64]
)
def test_the_image_reference_is_a_lowercase_sha256(ref: str) -> None:
    with pytest.raises(ValidationError) as exc:
        validate(ImageReceived, image_ref=ref)
    assert error_fields(exc) == {"image_ref"}


def test_an_unsupported_image_format_is_rejected() -> None:
    with pytest.raises(ValidationError) as exc:
        validate(ImageReceived, content_type="image/gif")
    assert error_fields(exc) == {"content_type"}


def test_boxes_must_lie_inside_the_image() -> None:
    face = {"box": {"x": 1000, "y": 0, "width": 100, "height": 100}}
    with pytest.raises(ValidationError, match="lies outside the 1080x1920 image"):
        validate(ImageAnalyzed, faces=[face])
    inside = {"box": {"x": 980, "y": 1820, "width": 100, "height": 100}}
    assert validate(ImageAnalyzed, faces=[inside]).faces[0].confidence is None


def test_every_result_names_the_model_that_produced_it() -> None:
    with pytest.raises(ValidationError, match="results for task 'labels'"):
        validate(ImageAnalyzed, model_names={"text": "rapidocr-ppocr-v4"})
    only_text = validate(ImageAnalyzed, model_names={"text": "ocr"}, labels=[], faces=[], objects=[])
    assert list(only_text.model_names) == ["text"]


def test_an_analysis_says_why_a_requested_task_could_not_run() -> None:
    nothing = {"texts": [], "labels": [], "faces": [], "objects": []}
    with pytest.raises(ValidationError, match="at least one task"):
        validate(ImageAnalyzed, model_names={}, **nothing)
    why = "no object detector is configured"
    only_objects = validate(ImageAnalyzed, model_names={}, unavailable={"objects": why}, **nothing)
    assert only_objects.unavailable == {"objects": why}
    with pytest.raises(ValidationError, match="both have run and be unavailable"):
        validate(ImageAnalyzed, model_names={"objects": "yolo"}, unavailable={"objects": why}, **nothing)


def test_a_released_analysis_carries_both_labels() -> None:
    analysis = validate(AnalysisReleased)
    assert analysis.to_json_dict()["aigc"]["Label"] == 1
    assert analysis.explicit_label.notice == "本内容由人工智能生成"
    assert validate(AnalysisBlocked).safe_reply


# --- compliance -----------------------------------------------------------------------------------


def test_a_feature_change_applies_to_the_envelope_region() -> None:
    command = validate(FeatureChangeRequested, region="HK", note=None, filing_number=None)
    assert command.region is Region.HK
    assert command.effective_at.tzinfo is UTC
    with pytest.raises(ValidationError) as exc:
        validate(FeatureChanged, status="paused")
    assert error_fields(exc) == {"status"}


def test_the_first_audit_entry_chains_to_the_genesis_hash() -> None:
    entry = validate(AuditRecorded, previous_hash=GENESIS_HASH, detail={})
    assert entry.previous_hash == "0" * 64


# --- maintenance ----------------------------------------------------------------------------------


def test_used_storage_cannot_exceed_the_total() -> None:
    with pytest.raises(
        ValidationError, match=r"storage_used_bytes \(300\) exceeds storage_total_bytes \(200\)"
    ):
        validate(TelemetryReported, storage_used_bytes=300, storage_total_bytes=200)
    assert validate(TelemetryReported, storage_used_bytes=200, storage_total_bytes=200)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature_c", -40.5),
        ("temperature_c", 125.5),
        ("battery_level", -1),
        ("design_capacity_mah", 0),
        ("cycle_count", -1),
        ("app_crash_count", -1),
        ("charging_state", "exploding"),
        ("thermal_state", "warm"),
    ],
)
def test_telemetry_readings_are_in_range(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as exc:
        validate(TelemetryReported, **{field: value})
    assert error_fields(exc) == {field}


def test_measured_at_is_stored_as_utc() -> None:
    reading = validate(TelemetryReported, measured_at="2026-11-25T16:29:30+08:00")
    assert reading.measured_at == datetime(2026, 11, 25, 8, 29, 30, tzinfo=UTC)
    assert reading.measured_at.utcoffset() == timedelta(0)
    with pytest.raises(ValidationError) as exc:
        validate(TelemetryReported, measured_at="2026-11-25T16:29:30")
    assert error_fields(exc) == {"measured_at"}


def test_an_alert_and_its_clearing_share_the_alert_id() -> None:
    raised = validate(AlertRaised)
    cleared = validate(AlertCleared, alert_id=str(raised.alert_id), causation_id=str(raised.event_id))
    assert cleared.alert_id == raised.alert_id
    assert cleared.evidence == validate(AlertCleared).evidence
    with pytest.raises(ValidationError) as exc:
        validate(AlertRaised, condition="low_battery")
    assert error_fields(exc) == {"condition"}


# --- personalisation and user rights ----------------------------------------------------------------


def test_purchases_are_integer_minor_units_in_cny_by_default() -> None:
    data = payload(PurchaseRecorded)
    del data["currency"], data["city"]
    purchase = PurchaseRecorded.model_validate_json(json.dumps(data))
    assert (purchase.amount_minor, purchase.currency, purchase.city) == (1890, "CNY", None)
    for field, value in [("amount_minor", 18.9), ("currency", "rmb"), ("channel", "paypal")]:
        with pytest.raises(ValidationError) as exc:
            validate(PurchaseRecorded, **{field: value})
        assert error_fields(exc) == {field}


def test_consent_is_the_full_set_of_granted_scopes() -> None:
    assert validate(ConsentChanged, granted_scopes=[]).granted_scopes == []
    with pytest.raises(ValidationError, match="must not repeat") as exc:
        validate(ConsentChanged, granted_scopes=["payment_data", "payment_data"])
    assert error_fields(exc) == {"granted_scopes"}


def test_recommendations_may_be_empty_and_items_are_strict() -> None:
    assert validate(RecommendationsUpdated, items=[]).items == []
    with pytest.raises(ValidationError) as exc:
        validate(RecommendationsUpdated, items=[{**RECOMMENDATION, "personalised": "yes"}])
    assert [e["loc"] for e in exc.value.errors()] == [("items", 0, "personalised")]


def test_erasure_completion_names_the_service_and_links_to_the_request() -> None:
    request = validate(ErasureRequested)
    done = validate(ErasureCompleted, user_id=request.user_id, causation_id=str(request.event_id))
    assert done.causation_id == request.event_id
    with pytest.raises(ValidationError) as exc:
        validate(ErasureCompleted, service="Personalization Service")
    assert error_fields(exc) == {"service"}


def test_an_event_built_in_python_round_trips_through_json() -> None:
    query = QueryReceived(
        region=Region.CN,
        request_id=uuid4(),
        device_id="dev-1",
        text="明天天气怎么样",
        locale="zh-CN",
        occurred_at=datetime(2026, 11, 25, 16, 30, tzinfo=timezone(timedelta(hours=8))),
    )
    assert query.occurred_at == datetime(2026, 11, 25, 8, 30, tzinfo=UTC)
    assert QueryReceived.model_validate_json(query.model_dump_json()) == query


def test_a_batch_reading_has_the_fields_of_a_single_report() -> None:
    envelope = set(Event.model_fields)
    assert set(TelemetryReported.model_fields) - envelope == set(lingxi.events.TelemetryReading.model_fields)


def test_a_bad_reading_in_a_batch_is_named_by_its_place() -> None:
    bad = {**READING, "battery_level": 140}
    with pytest.raises(ValidationError) as exc:
        validate(TelemetryBatchReceived, readings=[READING, bad])
    assert [e["loc"] for e in exc.value.errors()] == [("readings", 1, "battery_level")]
