"""Maintenance's Redis: device states, the read models the gateway serves, and the shared fleet models.

Keys and shapes (the gateway reads the two read models; keep this list in step with it):

``lingxi:maintenance:state:<device_id>`` (string, ``STATE_TTL_S``, refreshed on write)
    ``DeviceState.to_bytes()``: private to maintenance.

``device_health_key(id)`` = ``lingxi:devices:health:<device_id>`` (string, ``STATE_TTL_S``)
    ``HealthSummary.to_dict()`` as JSON: ``{"device_id", "last_reading_at" (ISO 8601 | null),
    "readings", "battery_health_pct", "battery_days_to_80", "battery_days_to_80_low",
    "battery_days_to_80_high", "battery_cycles_to_80", "battery_cycles_to_80_low",
    "battery_cycles_to_80_high", "battery_fade_pct_per_100_cycles", "battery_history_days",
    "storage_used_pct", "storage_growth_pct_per_day", "storage_days_to_full", "crashes_last_hour",
    "crashes_last_day", "reboots_last_hour", "reboots_last_day", "temperature_baseline_c",
    "temperature_offset_c", "open_alerts": [{"alert_id", "condition", "severity", "raised_at"}]}``
    (estimates are null until known).

``device_alerts_key(id)`` = ``lingxi:devices:alerts:<device_id>`` (hash alert_id → JSON, ``ALERTS_TTL_S``
refreshed on every write for the device, so an open alert never expires while the device reports)
    ``{"alert_id", "device_id", "condition", "severity", "status": "open" | "cleared",
    "raised_at" (ISO 8601), "cleared_at" (ISO 8601 | null), "evidence": {metric: value},
    "recommended_action_zh", "recommended_action_en", "cleared_evidence": {metric: value} | null}``.
    Clearing rewrites the record in place (status, cleared_at, cleared_evidence) and drops cleared
    records whose ``cleared_at`` is more than ``ALERTS_TTL_S`` before it. A clear whose raise is no
    longer stored writes the record with ``severity``, ``raised_at`` and the actions null.

``FLEET_KEY`` = ``lingxi:maintenance:fleet`` (string, no TTL)
    ``FleetModels.to_dict()`` as JSON, what all replicas learned together (see ``SharedFleet``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from datetime import timedelta
from typing import Any, cast

from lingxi.events.maintenance import device_alerts_key, device_health_key
from redis.asyncio import Redis
from redis.exceptions import WatchError
from river import stats

from lingxi_maintenance.alerts import AlertChange, RaisedAlert
from lingxi_maintenance.health import DEFAULT_SETTINGS, HealthSettings
from lingxi_maintenance.heat import FleetModels
from lingxi_maintenance.ingest import IngestOutcome
from lingxi_maintenance.state import DeviceState

__all__ = [
    "ALERTS_TTL_S",
    "FLEET_KEY",
    "STATE_KEY_PREFIX",
    "STATE_TTL_S",
    "LearningFleet",
    "MaintenanceStore",
    "SharedFleet",
    "alert_record",
    "state_key",
]

STATE_KEY_PREFIX = "lingxi:maintenance:state:"
FLEET_KEY = "lingxi:maintenance:fleet"
STATE_TTL_S = 180 * 24 * 3600
"""A device silent this long is forgotten (state and health summary): keeps millions of devices bounded."""
ALERTS_TTL_S = 30 * 24 * 3600
"""How long a device's alerts hash outlives its last write, and a cleared alert its clearing."""

_log = logging.getLogger(__name__)


def state_key(device_id: str) -> str:
    """Redis key of a device's packed state."""
    return f"{STATE_KEY_PREFIX}{device_id}"


def alert_record(change: RaisedAlert) -> dict[str, Any]:
    """The JSON record of a raised alert in the device's alerts hash (module doc)."""
    return {
        "alert_id": str(change.alert_id),
        "device_id": change.device_id,
        "condition": change.condition.value,
        "severity": change.severity.value,
        "status": "open",
        "raised_at": change.raised_at.isoformat(),
        "cleared_at": None,
        "evidence": change.evidence,
        "recommended_action_zh": change.recommended_action_zh,
        "recommended_action_en": change.recommended_action_en,
        "cleared_evidence": None,
    }


# Clear one alert in place, keeping what was raised, and drop cleared alerts older than the cutoff
# (ISO 8601 UTC strings compare in time order). KEYS: alerts hash. ARGV: alert id, cleared_at,
# cutoff, cleared evidence JSON, the record to write when the raise is no longer stored.
_CLEAR_LUA = """
local record = redis.call('HGET', KEYS[1], ARGV[1])
if record then
  record = cjson.decode(record)
  record['status'] = 'cleared'
  record['cleared_at'] = ARGV[2]
  record['cleared_evidence'] = cjson.decode(ARGV[4])
  record = cjson.encode(record)
else
  record = ARGV[5]
end
redis.call('HSET', KEYS[1], ARGV[1], record)
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if all[i] ~= ARGV[1] then
    local ok, other = pcall(cjson.decode, all[i + 1])
    if ok and other['status'] == 'cleared' and type(other['cleared_at']) == 'string'
        and other['cleared_at'] < ARGV[3] then
      redis.call('HDEL', KEYS[1], all[i])
    end
  end
end
return 1
"""


class MaintenanceStore:
    """Loads device states for a read (one MGET) and writes a read's outcome (one pipeline)."""

    def __init__(
        self, redis: Redis, *, state_ttl_s: int = STATE_TTL_S, alerts_ttl_s: int = ALERTS_TTL_S
    ) -> None:
        self.redis = redis
        self.state_ttl_s = state_ttl_s
        self.alerts_ttl_s = alerts_ttl_s
        self._clear = redis.register_script(_CLEAR_LUA)

    async def load_states(self, device_ids: Iterable[str]) -> tuple[dict[str, DeviceState | None], list[str]]:
        """Each device's stored state (None: none yet), and the ids whose stored bytes could not be read
        (they start over rather than block every later reading of the device; the caller logs them)."""
        ids = list(dict.fromkeys(device_ids))
        if not ids:
            return {}, []
        values = cast(list[bytes | None], await self.redis.mget([state_key(i) for i in ids]))
        states: dict[str, DeviceState | None] = {}
        unreadable: list[str] = []
        for device_id, data in zip(ids, values, strict=True):
            if data is None:
                states[device_id] = None
                continue
            try:
                states[device_id] = DeviceState.from_bytes(data)
            except ValueError:
                states[device_id] = None
                unreadable.append(device_id)
        return states, unreadable

    async def save(self, outcome: IngestOutcome) -> None:
        """Write the new states, the health summaries and the alert changes in one round trip."""
        if not outcome.states and not outcome.changes:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for device_id, state in outcome.states.items():
                pipe.set(state_key(device_id), state.to_bytes(), ex=self.state_ttl_s)
            for device_id, summary in outcome.summaries.items():
                pipe.set(
                    device_health_key(device_id),
                    json.dumps(summary.to_dict(), ensure_ascii=False),
                    ex=self.state_ttl_s,
                )
            for item in outcome.changes:
                await self._stage_change(pipe, item.change)
            changed = {item.change.device_id for item in outcome.changes}
            for device_id, state in outcome.states.items():
                # Keep a reporting device's alert records alive; most devices have none to keep.
                if state.alerts or device_id in changed:
                    pipe.expire(device_alerts_key(device_id), self.alerts_ttl_s)
            await pipe.execute()

    async def _stage_change(self, pipe: Any, change: AlertChange) -> None:
        key = device_alerts_key(change.device_id)
        if isinstance(change, RaisedAlert):
            pipe.hset(key, str(change.alert_id), json.dumps(alert_record(change), ensure_ascii=False))
        else:
            cleared_at = change.cleared_at.isoformat()
            cutoff = (change.cleared_at - timedelta(seconds=self.alerts_ttl_s)).isoformat()
            orphan = {
                "alert_id": str(change.alert_id),
                "device_id": change.device_id,
                "condition": change.condition.value,
                "severity": None,
                "status": "cleared",
                "raised_at": None,
                "cleared_at": cleared_at,
                "evidence": {},
                "recommended_action_zh": None,
                "recommended_action_en": None,
                "cleared_evidence": change.evidence,
            }
            await self._clear(
                keys=[key],
                args=[
                    str(change.alert_id),
                    cleared_at,
                    cutoff,
                    json.dumps(change.evidence, ensure_ascii=False),
                    json.dumps(orphan, ensure_ascii=False),
                ],
                client=pipe,
            )
        pipe.expire(key, self.alerts_ttl_s)


class LearningFleet(FleetModels):
    """``FleetModels`` that also keeps what this replica learned since ``take_learned`` was last called,
    so only that is added to the shared copy (adding the whole models again would count readings twice)."""

    __slots__ = ("_learned",)

    def __init__(self) -> None:
        super().__init__()
        self._learned: dict[tuple[str, str], stats.Var] = {}

    def learn(self, device_model: str, context: str, temperature_c: float, settings: HealthSettings) -> None:
        """Learn as ``FleetModels`` does, and record the value it learned (after its clipping)."""
        before = self.get(device_model, context)
        mean_before = before.mean.get() if before is not None else 0.0
        super().learn(device_model, context, temperature_c, settings)
        after = self.get(device_model, context)
        assert after is not None
        # One update of weight 1 moved the mean by (x - mean_before) / n (halving keeps the mean): recover x.
        value = mean_before + (after.mean.get() - mean_before) * after.mean.n
        key = (device_model, context)
        learned = self._learned.get(key)
        if learned is None:
            learned = self._learned[key] = stats.Var()
        learned.update(value)

    def take_learned(self) -> FleetModels:
        """What was learned since the last call (and start recording afresh)."""
        learned, self._learned = self._learned, {}
        out: dict[str, dict[str, dict[str, float]]] = {}
        for (model, context), var in learned.items():
            out.setdefault(model, {})[context] = {"n": var.n, "mean": var.mean.get(), "var": var.get()}
        return FleetModels.from_dict(out)


class SharedFleet:
    """The fleet models of one replica, shared with the other replicas through ``FLEET_KEY``.

    Each replica learns in memory (``models``, handed to ``assess``) and every ``every_s`` seconds adds
    what it learned since its last sync to the stored models (``FleetModels.merge``) and adopts the
    result, so all replicas converge on what the fleet learned together. The read-merge-write is an
    optimistic transaction (WATCH): a replica that loses a race retries, and after ``attempts`` keeps
    its increment for the next sync. Still statistical rather than exact: a replica sees the others'
    learning only at its syncs, and readings a failed read had taught are not unlearned on its retry.
    The stored weights are capped at ``2 × heat_memory_readings`` (what ``learn`` would halve), so the
    shared models keep forgetting slowly as each replica's do.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        key: str = FLEET_KEY,
        every_s: float = 30.0,
        attempts: int = 3,
        settings: HealthSettings = DEFAULT_SETTINGS,
    ) -> None:
        self.redis = redis
        self.key = key
        self.every_s = every_s
        self.attempts = attempts
        self.max_weight = 2.0 * settings.heat_memory_readings
        self.models = LearningFleet()
        self._last_sync = float("-inf")

    async def maybe_sync(self) -> bool:
        """Sync when ``every_s`` has passed since the last one; True when it synced."""
        if time.monotonic() - self._last_sync < self.every_s:
            return False
        await self.sync()
        return True

    async def sync(self) -> None:
        """Add this replica's learning to the stored models and adopt them (class doc)."""
        self._last_sync = time.monotonic()
        increment = self.models.take_learned()
        for _ in range(self.attempts):
            try:
                shared = await self._merge_into_stored(increment)
            except WatchError:
                continue
            # Readings learned while Redis answered are in the new increment: keep them on top.
            fresh = cast(LearningFleet, LearningFleet.from_dict(shared))
            since = self.models.take_learned()
            fresh.merge(since)
            self.models = fresh
            self._remember(since)
            return
        self._remember(increment)  # lost every race: try again at the next sync

    def _remember(self, learned: FleetModels) -> None:
        """Put an increment back to be shared at the next sync."""
        for model, contexts in learned.to_dict().items():
            for context, entry in contexts.items():
                var = stats.Var._from_state(entry["n"], entry["mean"], entry["var"])
                mine = self.models._learned.get((model, context))
                if mine is None:
                    self.models._learned[(model, context)] = var
                else:
                    mine += var

    async def _merge_into_stored(self, increment: FleetModels) -> dict[str, Any]:
        async with self.redis.pipeline(transaction=True) as pipe:
            await pipe.watch(self.key)
            raw = await pipe.get(self.key)
            stored = FleetModels()
            if raw is not None:
                try:
                    stored = FleetModels.from_dict(json.loads(raw))
                except ValueError as error:  # includes JSON errors: start the shared models over
                    _log.warning("stored fleet models unreadable, starting over: %s", error)
            stored.merge(increment)
            shared = stored.to_dict()
            for contexts in shared.values():
                for entry in contexts.values():
                    entry["n"] = min(entry["n"], self.max_weight)
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.set(self.key, json.dumps(shared))
            await pipe.execute()
        return shared
