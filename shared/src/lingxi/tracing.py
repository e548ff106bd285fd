"""OpenTelemetry traces over OTLP/HTTP, on only when an endpoint is configured.

The standard variables configure it: ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) turns it on, and ``OTEL_EXPORTER_OTLP_HEADERS``,
``OTEL_TRACES_SAMPLER``, ``OTEL_BSP_SCHEDULE_DELAY`` and the rest tune it as the SDK documents.
Without an endpoint nothing is set up: the runtime starts no span and writes no trace header.

One trace follows a request through every service: the W3C ``traceparent`` of the span that
published an event travels in its stream entry's headers, beside the correlation id, and the
consumer's span for that entry is its child (``lingxi.runtime.service``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
TRACE_HEADERS = ("traceparent", "tracestate")
"""The W3C trace context headers an entry may carry."""

tracer = trace.get_tracer("lingxi")
"""Lingxi's tracer: a no-op until ``configure_tracing`` installs the SDK."""

_enabled = False


def endpoint_configured(environ: Mapping[str, str] = os.environ) -> bool:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def configure_tracing(service: str, replica: str) -> bool:
    """Install the SDK with an OTLP/HTTP exporter when an endpoint is configured; says whether traces
    are on. Once per process: a second call keeps the first service's resource."""
    global _enabled
    if _enabled or not endpoint_configured():
        return _enabled
    # Imported here: a process without an endpoint never loads the SDK or the exporter.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create(
        {"service.name": service, "service.namespace": "lingxi", "service.instance.id": replica}
    )
    # The provider flushes what it still holds when the process exits (shutdown_on_exit).
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _enabled = True
    return True


def enabled() -> bool:
    return _enabled


def trace_headers(headers: Mapping[str, Any]) -> dict[str, str]:
    """The trace context headers among an entry's headers (empty when it has none)."""
    return {name: str(headers[name]) for name in TRACE_HEADERS if name in headers}


def inject(headers: MutableMapping[str, str], context: Context | None = None) -> None:
    """Write ``context``'s (default: the current) span into ``headers`` as ``traceparent``."""
    if _enabled:
        propagate.inject(headers, context=context)


def start_consumer_span(
    stream: str, service: str, headers: Mapping[str, str], attributes: Mapping[str, str]
) -> tuple[Span, Context]:
    """A span for one stream entry, child of the span that published it; and a context holding it,
    for what the handler does and publishes on the entry's behalf."""
    parent = propagate.extract(headers) if headers else Context()
    span = tracer.start_span(
        f"{stream} process",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "redis",
            "messaging.operation.type": "process",
            "messaging.destination.name": stream,
            "messaging.consumer.group.name": service,
            **attributes,
        },
    )
    return span, trace.set_span_in_context(span, parent)


def end_consumer_span(span: Span, outcome: str) -> None:
    span.set_attribute("lingxi.outcome", outcome)
    if outcome in ("retry", "dead_lettered"):
        span.set_status(Status(StatusCode.ERROR, outcome))
    span.end()


@contextlib.contextmanager
def activated(context: Context | None) -> Iterator[None]:
    """Make ``context`` current for the block (nothing when None)."""
    if context is None:
        yield
        return
    token = otel_context.attach(context)
    try:
        yield
    finally:
        otel_context.detach(token)
