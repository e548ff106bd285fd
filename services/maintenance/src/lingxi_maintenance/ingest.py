"""One read of telemetry in, the devices' new states and alert changes out: the service's per-batch logic.

Pure: no Redis, no clock. The service loads the states of the devices a read names (one MGET), calls
``ingest`` and writes what it returns (one pipeline)::

    incoming = [Incoming(r, batch.occurred_at, origin=i) for i, batch in ... for r in batch.readings]
    outcome = ingest(incoming, states, fleet_models, known_models())
    outcome.states      # device id → its new state (only devices at least one reading was used for)
    outcome.records     # device id → its HealthRecord after its last reading (what the store keeps)
    outcome.changes     # alert changes, each with the origin of the reading that made it
    outcome.refused     # readings the domain refused, with the reason; they changed nothing

Each device's readings are assessed in ``measured_at`` order (``health.assess`` copes with late ones, but
sorting a read first keeps its alerts in time order). A reading is refused, before anything is touched,
for an unknown device model, a design capacity that is not its model's, a ``measured_at`` more than
``MAX_CLOCK_SKEW`` after the event reported it, or whatever ``assess`` refuses (ValueError).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from lingxi.device_health import HealthRecord
from lingxi.devices import DeviceModel
from lingxi.events.maintenance import MAX_CLOCK_SKEW

from lingxi_maintenance.alerts import AlertChange
from lingxi_maintenance.health import DEFAULT_SETTINGS, HealthSettings, assess, health_record
from lingxi_maintenance.heat import FleetModels
from lingxi_maintenance.readings import ReadingFields
from lingxi_maintenance.state import DeviceState

__all__ = [
    "MAX_CLOCK_SKEW",
    "Incoming",
    "IngestOutcome",
    "OriginChange",
    "RefusalReason",
    "Refused",
    "by_device",
    "ingest",
    "ingest_grouped",
]


class RefusalReason(StrEnum):
    """Why the domain refused a reading (the label of the service's refusal counter)."""

    UNKNOWN_MODEL = "unknown_model"
    DESIGN_CAPACITY_MISMATCH = "design_capacity_mismatch"
    CLOCK_SKEW = "clock_skew"
    INVALID_READING = "invalid_reading"
    """``assess`` refused it (ValueError): the detail names the field."""


@dataclass(slots=True)  # not frozen: made on every read, and a frozen init costs
class Incoming:
    """One reading to ingest, with when its event reported it and where it came from."""

    reading: ReadingFields
    """A validated ``TelemetryReading`` or ``TelemetryReported`` as it is, or a ``readings.Reading``."""
    reported_at: datetime
    """``occurred_at`` of the event that carried the reading (timezone-aware)."""
    origin: int
    """Index of that event in the handler's input, so an alert can name its cause."""


@dataclass(frozen=True, slots=True)
class Refused:
    """A reading the domain refused; it changed no state."""

    origin: int
    device_id: str
    reason: RefusalReason
    detail: str
    """What is wrong, naming the field (no personal data: telemetry has none)."""


@dataclass(frozen=True, slots=True)
class OriginChange:
    """An alert change and the input event whose reading made it."""

    origin: int
    change: AlertChange


@dataclass(slots=True)
class IngestOutcome:
    """What one read of telemetry did (see the module doc), device by device, so the part about some
    devices can be set aside (``without``) and the rest combined with a later attempt (``add``)."""

    states: dict[str, DeviceState] = field(default_factory=dict)
    records: dict[str, HealthRecord] = field(default_factory=dict)
    changes: list[OriginChange] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    tallies: dict[str, dict[str, int]] = field(default_factory=dict)
    """Device id → its readings by outcome: ``assessed`` (folded into its state), or not used by
    ``assess``: ``duplicate``, ``too_late`` (not refusals: a replay)."""

    @property
    def assessed(self) -> int:
        """Readings folded into a device's state."""
        return sum(tally.get("assessed", 0) for tally in self.tallies.values())

    @property
    def ignored(self) -> dict[str, int]:
        """Readings ``assess`` did not use, by why."""
        out: dict[str, int] = {}
        for tally in self.tallies.values():
            for why, count in tally.items():
                if why != "assessed":
                    out[why] = out.get(why, 0) + count
        return out

    def without(self, devices: Collection[str]) -> IngestOutcome:
        """This outcome less everything about ``devices``."""
        if not devices:
            return self
        return IngestOutcome(
            {k: v for k, v in self.states.items() if k not in devices},
            {k: v for k, v in self.records.items() if k not in devices},
            [c for c in self.changes if c.change.device_id not in devices],
            [r for r in self.refused if r.device_id not in devices],
            {k: v for k, v in self.tallies.items() if k not in devices},
        )

    def release_states(self) -> None:
        """Drop the states and health records (the bulk of the outcome) once they are packed for the write;
        the tallies, refusals and changes stay."""
        self.states = {}
        self.records = {}

    def add(self, other: IngestOutcome) -> None:
        """Take in the outcome of other devices' readings."""
        self.states.update(other.states)
        self.records.update(other.records)
        self.changes += other.changes
        self.refused += other.refused
        self.tallies.update(other.tallies)


def _measured_at(item: Incoming) -> datetime:
    return item.reading.measured_at


def _refusal(item: Incoming, device_models: Mapping[str, DeviceModel]) -> Refused | None:
    """The edge checks the domain makes itself (the raw stream is not checked by the gateway)."""
    r = item.reading
    model = device_models.get(r.device_model)
    if model is None:
        return Refused(
            item.origin,
            r.device_id,
            RefusalReason.UNKNOWN_MODEL,
            f"device_model {r.device_model!r} is unknown",
        )
    if r.design_capacity_mah != model.design_capacity_mah:
        return Refused(
            item.origin,
            r.device_id,
            RefusalReason.DESIGN_CAPACITY_MISMATCH,
            f"design_capacity_mah {r.design_capacity_mah} is not {model.code}'s {model.design_capacity_mah}",
        )
    if r.measured_at - item.reported_at > MAX_CLOCK_SKEW:
        return Refused(
            item.origin,
            r.device_id,
            RefusalReason.CLOCK_SKEW,
            f"measured_at {r.measured_at.isoformat()} is more than {MAX_CLOCK_SKEW} after the report "
            f"({item.reported_at.isoformat()})",
        )
    return None


def ingest(
    incoming: Sequence[Incoming],
    states: Mapping[str, DeviceState | None],
    fleet: FleetModels,
    device_models: Mapping[str, DeviceModel],
    settings: HealthSettings = DEFAULT_SETTINGS,
) -> IngestOutcome:
    """Assess every reading of a read against its device's state (absent or None: a new device).

    The states passed in are updated in place (``assess`` does) and ``fleet`` learns from the readings
    used; a refused reading touches neither.
    """
    return ingest_grouped(by_device(incoming).items(), states, fleet, device_models, settings)


def by_device(incoming: Iterable[Incoming]) -> dict[str, list[Incoming]]:
    """The readings grouped by device, each device's in arrival order."""
    groups: dict[str, list[Incoming]] = {}
    for item in incoming:
        device_id = item.reading.device_id
        group = groups.get(device_id)
        if group is None:
            groups[device_id] = [item]
        else:
            group.append(item)
    return groups


def ingest_grouped(
    groups: Iterable[tuple[str, list[Incoming]]],
    states: Mapping[str, DeviceState | None],
    fleet: FleetModels,
    device_models: Mapping[str, DeviceModel],
    settings: HealthSettings = DEFAULT_SETTINGS,
) -> IngestOutcome:
    """``ingest`` for readings already grouped by device (``by_device``); sorts each group in place."""
    outcome = IngestOutcome()
    for device_id, items in groups:
        if len(items) > 1:
            items.sort(key=_measured_at)  # stable: equal times keep their arrival order
        state = states.get(device_id)
        used = False
        tally = outcome.tallies[device_id] = {}
        for item in items:
            refused = _refusal(item, device_models)
            if refused is not None:
                outcome.refused.append(refused)
                continue
            try:
                result = assess(state, item.reading, fleet, settings)
            except ValueError as error:
                outcome.refused.append(
                    Refused(item.origin, device_id, RefusalReason.INVALID_READING, str(error))
                )
                continue
            state = result.state
            why = "assessed" if result.ignored is None else result.ignored
            tally[why] = tally.get(why, 0) + 1
            if result.ignored is not None:
                continue
            used = True
            if result.changes:
                outcome.changes.extend(OriginChange(item.origin, change) for change in result.changes)
        if used and state is not None:
            outcome.states[device_id] = state
            outcome.records[device_id] = health_record(state, settings)
    return outcome
