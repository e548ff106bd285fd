"""Log lines parsed, merged, filtered, shown, and one request's steps rebuilt as a timeline.

The lines are the services' own: ``CAPTURED`` was copied from `lingxi up` (two assistant requests, one
after the other), and ``logged`` writes lines through the real structlog configuration.
"""

# ruff: noqa: E501  (the captured lines are kept whole, as the services wrote them)

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog
from lingxi.logging import configure_logging, get_logger
from lingxi.logview import (
    LineFilter,
    LineReader,
    LogLine,
    ReorderWindow,
    build_trace,
    entry_time,
    json_part,
    level_rank,
    merge,
    parse_level,
    parse_line,
    parse_since,
    render_line,
    render_trace,
    service_colour,
    trace_json,
    trace_wants,
    who,
)

FIRST = "8aa4eeb9-e0ca-429d-a74c-a4a4854aef19"
SECOND = "e0fb1ad8-7dba-44bf-9c33-7f3943888894"

CAPTURED = [
    '{"streams":["assistant.answer.drafted","vision.image.analyzed","compliance.audit.requested","compliance.feature_change.requested"],"redis":"redis://127.0.0.1:38979/0","event":"service started","service":"compliance","replica":"compliance-1","logger":"lingxi.runtime","level":"info","timestamp":"2026-11-26T14:39:03.863576Z"}',
    '{"method":"GET","path":"/readyz","status":200,"duration_ms":4.85,"event":"http request","service":"gateway","replica":"gateway-1","logger":"lingxi.gateway.http","level":"info","timestamp":"2026-11-26T14:38:53.816783Z"}',
    '{"task":"objects","reason":"no object detector is configured: set LINGXI_VISION_OBJECTS_MODEL to a YOLO-format ONNX file","event":"vision task unavailable","service":"vision","replica":"vision-1","logger":"lingxi.vision.models","level":"warning","timestamp":"2026-11-26T14:39:09.645617Z"}',
    '{"streams":["assistant.query.received"],"redis":"redis://127.0.0.1:38979/0","event":"service started","service":"assistant","replica":"assistant-1","logger":"lingxi.runtime","level":"info","timestamp":"2026-11-26T14:39:18.105538Z"}',
    '{"event_id":"6ca4fb9d-af37-43e8-b155-2f92c3fa86f4","correlation_id":"8aa4eeb9-e0ca-429d-a74c-a4a4854aef19","entry_id":"1795703967472-0","outcome":"ok","duration_ms":26.75,"event":"event handled","stream":"assistant.query.received","replica":"assistant-1","service":"assistant","logger":"lingxi.runtime","level":"info","timestamp":"2026-11-26T14:39:27.504734Z"}',
    '{"event_id":"0b2b2d08-c04c-484f-9407-5a5346db38bd","correlation_id":"8aa4eeb9-e0ca-429d-a74c-a4a4854aef19","entry_id":"1795703967500-0","outcome":"ok","duration_ms":11.19,"event":"event handled","replica":"compliance-1","stream":"assistant.answer.drafted","service":"compliance","logger":"lingxi.runtime","level":"info","timestamp":"2026-11-26T14:39:27.516761Z"}',
    '{"method":"POST","path":"/v1/assistant/queries","status":200,"duration_ms":111.54,"event":"http request","service":"gateway","replica":"gateway-1","logger":"lingxi.gateway.http","level":"info","timestamp":"2026-11-26T14:39:27.540393Z"}',
    '{"event_id":"7174c892-14a2-48f7-a48d-25a69bbfc157","correlation_id":"8aa4eeb9-e0ca-429d-a74c-a4a4854aef19","entry_id":"1795703967515-0","outcome":"ok","duration_ms":17.97,"event":"event handled","stream":"assistant.answer.released","service":"gateway","replica":"gateway-1","logger":"lingxi.runtime","level":"info","timestamp":"2026-11-26T14:39:27.545199Z"}',
    '{"event_id":"a6ad6e66-b4ae-45e5-89e3-a5955b673653","correlation_id":"e0fb1ad8-7dba-44bf-9c33-7f3943888894","entry_id":"1795703968059-0","outcome":"ok","duration_ms":7.14,"event":"event handled","stream":"assistant.query.received","replica":"assistant-1","service":"assistant","logger":"lingxi.runtime","level":"info","timestamp":"2026-11-26T14:39:28.068558Z"}',
    '{"event_id":"e2cc46c4-6a4f-4e8a-8776-83a09027f57b","correlation_id":"e0fb1ad8-7dba-44bf-9c33-7f3943888894","entry_id":"1795703968066-0","outcome":"ok","duration_ms":6.97,"event":"event handled","replica":"compliance-1","stream":"assistant.answer.drafted","service":"compliance","logger":"lingxi.runtime","level":"info","timestamp":"2026-11-26T14:39:28.075187Z"}',
    '{"method":"POST","path":"/v1/assistant/queries","status":200,"duration_ms":24.76,"event":"http request","service":"gateway","replica":"gateway-1","logger":"lingxi.gateway.http","level":"info","timestamp":"2026-11-26T14:39:28.081450Z"}',
    '{"event_id":"1a78fda9-0a5b-43a6-8bdf-fc35fae7f916","correlation_id":"e0fb1ad8-7dba-44bf-9c33-7f3943888894","entry_id":"1795703968072-0","outcome":"ok","duration_ms":11.33,"event":"event handled","stream":"assistant.answer.released","service":"gateway","replica":"gateway-1","logger":"lingxi.runtime","level":"info","timestamp":"2026-11-26T14:39:28.087145Z"}',
]


def parsed(texts: list[str]) -> list[LogLine]:
    lines = [parse_line(text) for text in texts]
    assert all(line is not None for line in lines)
    return [line for line in lines if line is not None]


def logged(
    capsys: pytest.CaptureFixture[str], service: str, replica: str, emit: Callable[[Any], None]
) -> list[str]:
    """The JSON lines the real logging configuration writes for what ``emit`` logs."""
    configure_logging(service=service, replica=replica, log_format="json")
    emit(get_logger("lingxi.runtime"))
    return [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


# --- parsing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prefix",
    [
        "",
        "gateway-1         | ",  # lingxi up in a pipe, docker compose logs
        "lingxi-gateway-2  | ",
        "\x1b[36mgateway-1\x1b[0m | ",  # coloured
        "[pod/gateway-7d9f8c-x2kq/gateway] ",  # kubectl logs --prefix
        "gateway-1  | 2026-11-26T14:39:27.540400000Z ",  # docker compose logs --timestamps
    ],
)
def test_prefixes_of_log_collectors_are_stripped(prefix: str) -> None:
    text = CAPTURED[6]

    line = parse_line(prefix + text + "\n")

    assert line is not None
    assert line.raw == text
    assert line.fields == json.loads(text)
    assert line.time == datetime(2026, 11, 26, 14, 39, 27, 540393, UTC)
    assert (line.service, line.replica, line.level, line.event) == (
        "gateway",
        "gateway-1",
        "info",
        "http request",
    )


def test_lines_that_are_not_json_log_lines_are_skipped_and_counted() -> None:
    reader = LineReader()

    lines = reader.feed(
        [
            "Traceback (most recent call last):\n",
            "\n",
            "lingxi            | ready: 6 processes; gateway at http://127.0.0.1:8000\n",
            '{"truncated": \n',
            '{"event": "no time"}\n',
            '["a", "list"]\n',
            '{"event": "bad time", "timestamp": "yesterday"}\n',
            CAPTURED[4],
        ]
    )

    assert [line.event for line in lines] == ["event handled"]
    assert reader.skipped == 6  # the blank line is not counted


def test_a_cheap_text_test_keeps_most_lines_from_being_parsed() -> None:
    reader = LineReader(wanted=lambda text: FIRST in text)

    lines = reader.feed([*CAPTURED, "not json at all"])

    assert {line.text("correlation_id") for line in lines} == {FIRST}
    assert reader.skipped == 1


def test_times_without_a_zone_are_utc_and_other_zones_are_converted() -> None:
    naive = parse_line('{"event": "x", "timestamp": "2026-11-26T14:00:00"}')
    shanghai = parse_line('{"event": "x", "timestamp": "2026-11-26T22:00:00+08:00"}')

    assert naive is not None
    assert shanghai is not None
    assert naive.time == shanghai.time == datetime(2026, 11, 26, 14, 0, tzinfo=UTC)


def test_json_part_finds_the_object_after_any_prefix() -> None:
    assert json_part("plain text") is None
    assert json_part("[pod/a/b] {} ") == "{}"


# --- merging and filtering ----------------------------------------------------------------------


def test_lines_of_several_files_merge_in_time_order() -> None:
    files: dict[str, list[LogLine]] = {}
    for line in parsed(CAPTURED):
        files.setdefault(line.replica, []).append(line)

    merged = merge(line for lines in files.values() for line in lines)

    assert [line.time for line in merged] == sorted(line.time for line in parsed(CAPTURED))
    assert [who(line) for line in merged if line.text("correlation_id") == FIRST] == [
        "assistant-1",
        "compliance-1",
        "gateway-1",
    ]


def test_lines_of_the_same_time_keep_their_order() -> None:
    same = parsed([CAPTURED[4], CAPTURED[4].replace("assistant-1", "assistant-2")])

    assert [line.replica for line in merge(reversed(same))] == ["assistant-2", "assistant-1"]


def keep(texts: list[str], chosen: LineFilter) -> list[str]:
    return [line.raw for line in parsed(texts) if chosen.matches(line)]


def test_each_filter_matches_the_fields_services_log() -> None:
    assert keep(CAPTURED, LineFilter(services=frozenset({"vision"}))) == [CAPTURED[2]]
    assert keep(CAPTURED, LineFilter(replicas=frozenset({"compliance-1"}))) == [
        CAPTURED[0],
        CAPTURED[5],
        CAPTURED[9],
    ]
    assert keep(CAPTURED, LineFilter(streams=frozenset({"assistant.answer.released"}))) == [
        CAPTURED[7],
        CAPTURED[11],
    ]
    assert keep(CAPTURED, LineFilter(level="warning")) == [CAPTURED[2]]
    assert keep(CAPTURED, LineFilter(correlation_id=SECOND)) == [*CAPTURED[8:10], CAPTURED[11]]
    assert keep(CAPTURED, LineFilter(since=datetime(2026, 11, 26, 14, 39, 28, tzinfo=UTC))) == CAPTURED[8:]
    both = LineFilter(services=frozenset({"gateway"}), correlation_id=FIRST)
    assert keep(CAPTURED, both) == [CAPTURED[7]]
    assert keep(CAPTURED, LineFilter()) == CAPTURED


def test_the_correlation_filter_also_finds_request_ids_and_request_paths() -> None:
    lines = [
        '{"request_id": "%s", "event": "answer moderated", "level": "info", "timestamp": "2026-11-26T14:00:00Z"}',
        '{"method": "GET", "path": "/v1/requests/%s", "event": "http request", "timestamp": "2026-11-26T14:00:01Z"}',
        '{"request_id": "other", "event": "answer moderated", "timestamp": "2026-11-26T14:00:02Z"}',
    ]

    kept = keep([line.replace("%s", FIRST) for line in lines], LineFilter(correlation_id=FIRST))

    assert len(kept) == 2
    assert LineFilter(correlation_id=FIRST).wanted(CAPTURED[4])
    assert not LineFilter(correlation_id=FIRST).wanted(CAPTURED[8])
    assert LineFilter(correlation_id='say "hi"').wanted(CAPTURED[8])  # escaped in JSON: parse to know


def test_levels_count_the_more_severe_ones_and_accept_the_usual_spellings() -> None:
    assert [parse_level(name) for name in ("WARN", "warning", "fatal", "Error")] == [
        "warning",
        "warning",
        "critical",
        "error",
    ]
    assert level_rank("exception") == level_rank("error") > level_rank("warning") > level_rank("info")
    assert level_rank("something else") == level_rank("info")
    with pytest.raises(ValueError, match="debug, info, warning, error, critical"):
        parse_level("loud")


NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30s", NOW - timedelta(seconds=30)),
        ("10m", NOW - timedelta(minutes=10)),
        ("2h", NOW - timedelta(hours=2)),
        ("1d", NOW - timedelta(days=1)),
        ("1.5h", NOW - timedelta(minutes=90)),
        ("2026-11-26T14:39:27Z", datetime(2026, 11, 26, 14, 39, 27, tzinfo=UTC)),
        ("2026-11-26T22:39:27+08:00", datetime(2026, 11, 26, 14, 39, 27, tzinfo=UTC)),
        ("2026-11-26 14:39", datetime(2026, 11, 26, 14, 39, tzinfo=UTC)),
        ("2026-11-26", datetime(2026, 11, 26, tzinfo=UTC)),
    ],
)
def test_since_takes_times_and_durations(value: str, expected: datetime) -> None:
    assert parse_since(value, NOW) == expected


@pytest.mark.parametrize("value", ["yesterday", "10 minutes", "-5m", "", "5w"])
def test_a_bad_since_says_what_is_accepted(value: str) -> None:
    with pytest.raises(ValueError, match=r"ISO 8601 time .* or a duration such as 30s, 10m, 2h, 1d"):
        parse_since(value, NOW)


def test_the_reorder_window_holds_lines_then_hands_them_out_in_time_order() -> None:
    lines = parsed(CAPTURED[4:8])
    window = ReorderWindow(0.5)

    window.add([lines[2], lines[0]], now=10.0)  # a later line was read first
    assert window.due(10.4) == []
    window.add([lines[1]], now=10.45)
    assert window.due(10.5) == [lines[0]]  # lines[1], read later, holds back what follows it
    assert window.due(10.95) == [lines[1], lines[2]]
    window.add([lines[3]], now=11.0)
    assert len(window) == 1
    assert window.drain() == [lines[3]]
    assert window.due(100.0) == []


# --- showing ------------------------------------------------------------------------------------


def test_a_line_reads_time_replica_level_message_then_the_other_fields() -> None:
    (line,) = parsed([CAPTURED[4]])

    text = render_line(line, color=False)

    assert text == (
        "2026-11-26T14:39:27.504Z assistant-1        info     event handled "
        "event_id=6ca4fb9d-af37-43e8-b155-2f92c3fa86f4 correlation_id=8aa4eeb9-e0ca-429d-a74c-a4a4854aef19 "
        "entry_id=1795703967472-0 outcome=ok duration_ms=26.75 stream=assistant.query.received "
        "logger=lingxi.runtime"
    )
    assert "\x1b[" not in text


def test_values_with_spaces_are_quoted_and_colour_is_stable_per_service() -> None:
    (line,) = parsed([CAPTURED[2]])

    plain = render_line(line, color=False, width=10)
    coloured = render_line(line, color=True, width=10)

    assert 'reason="no object detector is configured: set' in plain
    assert plain.split()[1:3] == ["vision-1", "warning"]
    assert f"\x1b[{service_colour('vision')}mvision-1" in coloured
    assert "\x1b[33mwarning" in coloured
    assert service_colour("billing") == service_colour("billing") != ""
    assert service_colour("gateway") != service_colour("assistant")


def test_replicas_named_by_host_show_their_service() -> None:
    (line,) = parsed([CAPTURED[4].replace('"replica":"assistant-1"', '"replica":"3f9a2b1c7d4e"')])

    assert who(line) == "assistant/3f9a2b1c7d4e"


def test_lines_from_the_real_logging_configuration(capsys: pytest.CaptureFixture[str]) -> None:
    """What the runtime logs around a failing handler: its own warning (with the traceback) and the
    closing line, both carrying the ids the runtime binds."""

    def emit(log: Any) -> None:
        with structlog.contextvars.bound_contextvars(
            service="assistant", replica="assistant-2", stream="assistant.query.received"
        ):
            with structlog.contextvars.bound_contextvars(
                event_id="e-1", correlation_id=FIRST, entry_id="1-0"
            ):
                try:
                    raise RuntimeError("model partner refused 13812345678")
                except RuntimeError as error:
                    log.warning("handler failed; will retry", exc_info=error, attempts=1)
            log.info(
                "event handled",
                event_id="e-1",
                correlation_id=FIRST,
                entry_id="1-0",
                outcome="retry",
                duration_ms=3.5,
            )

    warning, handled = parsed(logged(capsys, "assistant", "assistant-2", emit))

    assert (warning.service, warning.replica, warning.level) == ("assistant", "assistant-2", "warning")
    assert warning.text("correlation_id") == handled.text("correlation_id") == FIRST
    assert LineFilter(correlation_id=FIRST, level="warning").matches(warning)
    assert LineFilter(streams=frozenset({"assistant.query.received"})).matches(handled)
    shown = render_line(warning, color=False).splitlines()
    assert shown[0].split()[1:4] == ["assistant-2", "warning", "handler"]
    assert "attempts=1" in shown[0]
    assert shown[1] == "    Traceback (most recent call last):"
    assert shown[-1] == "    RuntimeError: model partner refused [redacted]"


# --- tracing ------------------------------------------------------------------------------------


def test_a_request_is_traced_through_gateway_assistant_and_compliance() -> None:
    trace = build_trace(parsed(CAPTURED), FIRST)

    assert trace is not None
    assert trace.services == ["gateway", "assistant", "compliance"]
    assert [(who(h.line), h.what) for h in trace.hops] == [
        ("gateway-1", "POST /v1/assistant/queries -> 200"),
        ("assistant-1", "assistant.query.received ok"),
        ("compliance-1", "assistant.answer.drafted ok"),
        ("gateway-1", "assistant.answer.released ok"),
    ]
    post, query, draft, release = trace.hops
    assert post.inferred
    assert not any(h.inferred for h in (query, draft, release))
    assert trace.start == datetime(2026, 11, 26, 14, 39, 27, 428853, UTC)  # the POST began 111.54 ms earlier
    assert trace.total_ms == pytest.approx(116.346)
    assert trace.offset_ms(query.start) == pytest.approx(49.131)
    assert query.duration_ms == 26.75
    assert query.published == entry_time("1795703967472-0")
    assert query.queued_ms == pytest.approx(5.984)
    assert release.queued_ms == pytest.approx(12.229)
    assert "matched by time" in trace.notes[0]


def test_the_second_request_gets_its_own_post() -> None:
    trace = build_trace(parsed(CAPTURED), SECOND)

    assert trace is not None
    assert trace.hops[0].line.raw == CAPTURED[10]
    assert trace.hops[0].duration_ms == 24.76
    assert len(trace.hops) == 4


def test_overlapping_posts_are_not_guessed() -> None:
    other_post = CAPTURED[10].replace("2026-11-26T14:39:28.081450Z", "2026-11-26T14:39:27.480000Z")

    trace = build_trace(parsed([*CAPTURED, other_post]), FIRST)

    assert trace is not None
    assert [h.line.service for h in trace.hops] == ["assistant", "compliance", "gateway"]
    assert trace.notes == (
        "2 POST requests were in flight when the first event was published: which one started this "
        "request cannot be told, so none is shown",
    )
    assert trace.start == entry_time("1795703967472-0")  # the wait in the first stream still shows


def test_a_trace_shows_retries_moments_and_lines_found_by_request_id_or_path() -> None:
    lines = parsed(
        [
            CAPTURED[4]
            .replace('"outcome":"ok","duration_ms":26.75', '"outcome":"retry","duration_ms":3.0')
            .replace("27.504734", "27.476000"),
            '{"request_id":"ID","reason_codes":["pii.phone"],"event":"answer moderated","service":"compliance","replica":"compliance-1","level":"info","timestamp":"2026-11-26T14:39:27.510000Z"}'.replace(
                "ID", FIRST
            ),
            '{"method":"GET","path":"/v1/requests/ID","status":200,"duration_ms":1.5,"event":"http request","service":"gateway","replica":"gateway-1","level":"info","timestamp":"2026-11-26T14:39:30Z"}'.replace(
                "ID", FIRST
            ),
            *CAPTURED,
        ]
    )

    trace = build_trace(lines, FIRST)

    assert trace is not None
    whats = [h.what for h in trace.hops]
    assert whats[1] == "assistant.query.received retry"
    assert "answer moderated" in whats
    assert whats[-1] == f"GET /v1/requests/{FIRST} -> 200"
    moment = next(h for h in trace.hops if h.what == "answer moderated")
    assert moment.duration_ms is None
    assert moment.start == moment.end
    text = "\n".join(render_trace(trace, color=False))
    assert "│" in text


def test_nothing_matching_gives_no_trace() -> None:
    assert build_trace(parsed(CAPTURED), "0e2b6c4a-6f5d-4d8e-8d0a-9b7c1a2e3f40") is None
    assert build_trace([], FIRST) is None


def test_a_trace_reads_as_a_timeline_with_bars() -> None:
    trace = build_trace(parsed(CAPTURED), FIRST)
    assert trace is not None

    text = render_trace(trace, color=False, bar_width=20)

    assert text[0] == (
        f"request {FIRST}: 4 steps across gateway, assistant, compliance, 116.3 ms from 2026-11-26T14:39:27.428Z"
    )
    rows = text[2:6]
    assert rows[0].split()[:5] == ["+0.0", "ms", "gateway-1", "POST", "/v1/assistant/queries"]
    assert rows[0].endswith("111.5 ms  |" + "█" * 20 + "|")
    assert "assistant.query.received ok (queued 6.0 ms)" in rows[1]
    assert rows[1].split()[:2] == ["+49.1", "ms"]
    bar = rows[3].rsplit("|", 2)[1]
    assert bar.endswith("░░████")  # waited in the stream, then handled, to the end of the trace
    assert text[-2].startswith("total 116.3 ms")
    assert text[-1].startswith("~ the HTTP request is matched by time")
    assert "\x1b[" in "\n".join(render_trace(trace, color=True))


def test_a_trace_as_json_has_offsets_durations_and_the_lines() -> None:
    trace = build_trace(parsed(CAPTURED), FIRST)
    assert trace is not None

    data = json.loads(json.dumps(trace_json(trace)))

    assert data["id"] == FIRST
    assert data["total_ms"] == pytest.approx(116.346)
    assert [hop["service"] for hop in data["hops"]] == ["gateway", "assistant", "compliance", "gateway"]
    assert data["hops"][0]["inferred"] is True
    assert data["hops"][1]["offset_ms"] == pytest.approx(49.131)
    assert data["hops"][1]["queued_ms"] == pytest.approx(5.984)
    assert data["hops"][3]["line"]["entry_id"] == "1795703967515-0"
    assert data["start"] == "2026-11-26T14:39:27.428Z"


def test_only_lines_a_trace_may_need_are_parsed() -> None:
    assert trace_wants(CAPTURED[4], FIRST)
    assert trace_wants(CAPTURED[6], FIRST)  # a POST, paired by time
    assert not trace_wants(CAPTURED[1], FIRST)  # a GET of something else
    assert not trace_wants(CAPTURED[8], FIRST)


def test_entry_ids_give_the_time_redis_appended_them() -> None:
    assert entry_time("1795703967472-0") == datetime(2026, 11, 26, 14, 39, 27, 472000, UTC)
    assert entry_time("not-an-id") is None
    assert entry_time(None) is None
