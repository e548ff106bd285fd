"""Trace context in stream entries, and when traces are on (the spans themselves: tests/e2e)."""

from __future__ import annotations

import pytest
from lingxi.runtime.envelope import encode_entry, read_entry
from lingxi.tracing import endpoint_configured, trace_headers

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ""}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "false"}, True),
    ],
)
def test_traces_are_on_only_with_an_endpoint(environ: dict[str, str], on: bool) -> None:
    assert endpoint_configured(environ) is on


def test_an_entry_keeps_its_publishers_trace_context_beside_the_correlation_id() -> None:
    headers = {"correlation_id": "c-1", "traceparent": PARENT, "tracestate": "vendor=1"}
    entry = read_entry(b"1-0", encode_entry('{"a": 1}', headers))
    assert entry.correlation_id == "c-1"
    assert dict(entry.trace) == {"traceparent": PARENT, "tracestate": "vendor=1"}


def test_an_entry_without_trace_context_has_none() -> None:
    entry = read_entry(b"1-0", encode_entry('{"a": 1}', {"correlation_id": "c-1"}))
    assert dict(entry.trace) == {}
    assert trace_headers({"traceparent": PARENT, "other": "x"}) == {"traceparent": PARENT}
