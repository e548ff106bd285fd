"""Stream name → event class, for code that only knows a stream (the CLI, dead-letter replay, docs).

The mapping is built from the classes' own ``stream`` variables: no stream name is written here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from lingxi.events.assistant import AnswerBlocked, AnswerDrafted, AnswerReleased, QueryReceived
from lingxi.events.base import Event
from lingxi.events.compliance import AuditRecorded, AuditRequested, FeatureChanged, FeatureChangeRequested
from lingxi.events.maintenance import AlertCleared, AlertRaised, TelemetryBatchReceived, TelemetryReported
from lingxi.events.personalization import ConsentChanged, PurchaseRecorded, RecommendationsUpdated
from lingxi.events.user import ErasureCompleted, ErasureRequested
from lingxi.events.vision import (
    AnalysisBlocked,
    AnalysisFailed,
    AnalysisReleased,
    ImageAnalyzed,
    ImageReceived,
)

__all__ = ["DEAD_LETTER_SUFFIX", "EVENT_TYPES", "UnknownStream", "dead_letter_stream", "event_type"]

DEAD_LETTER_SUFFIX = ".dlq"
"""Appended to a stream's name to name its dead-letter stream."""


def _by_stream(classes: Iterable[type[Event]]) -> Mapping[str, type[Event]]:
    types: dict[str, type[Event]] = {}
    for cls in classes:
        if (other := types.setdefault(cls.stream, cls)) is not cls:
            raise RuntimeError(f"{cls.__qualname__} and {other.__qualname__} share stream {cls.stream!r}")
    return MappingProxyType(types)


EVENT_TYPES: Mapping[str, type[Event]] = _by_stream(
    [
        QueryReceived,
        AnswerDrafted,
        AnswerReleased,
        AnswerBlocked,
        ImageReceived,
        ImageAnalyzed,
        AnalysisReleased,
        AnalysisBlocked,
        AnalysisFailed,
        FeatureChangeRequested,
        FeatureChanged,
        AuditRecorded,
        AuditRequested,
        TelemetryReported,
        TelemetryBatchReceived,
        AlertRaised,
        AlertCleared,
        PurchaseRecorded,
        ConsentChanged,
        RecommendationsUpdated,
        ErasureRequested,
        ErasureCompleted,
    ]
)
"""Every event type, keyed by the stream it is published on (read-only)."""


class UnknownStream(KeyError):
    """No event type is published on this stream."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.stream = stream

    def __str__(self) -> str:
        known = ", ".join(sorted(EVENT_TYPES))
        return f"no event type is published on stream {self.stream!r}; known streams: {known}"


def event_type(stream: str) -> type[Event]:
    """The event class published on ``stream``; ``UnknownStream`` (a ``KeyError``) if there is none."""
    try:
        return EVENT_TYPES[stream]
    except KeyError:
        raise UnknownStream(stream) from None


def dead_letter_stream(stream: str) -> str:
    """Name of the dead-letter stream for ``stream``: ``<stream>.dlq``."""
    return f"{stream}{DEAD_LETTER_SUFFIX}"
