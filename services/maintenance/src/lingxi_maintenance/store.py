"""Maintenance's Redis: device states, the read models the gateway serves, and the shared fleet models.

Keys and shapes (the gateway reads the two read models; keep this list in step with it):

``lingxi:maintenance:state:<device_id>`` (string, ``STATE_TTL_S``, refreshed on write)
    ``DeviceState.to_bytes()``: private to maintenance.

``device_health_key(id)`` = ``lingxi:devices:health:<device_id>`` (string, ``STATE_TTL_S``)
    ``lingxi.device_health.HealthRecord`` as a JSON array (``encode_health``): the figures as they are;
    the gateway turns them into the document it serves (``health_view``: rounded, named, ISO 8601).

``device_alerts_key(id)`` = ``lingxi:devices:alerts:<device_id>`` (hash alert_id → JSON, ``ALERTS_TTL_S``
refreshed on every write for a device with open alerts, so one never expires while the device reports)
    ``{"alert_id", "device_id", "condition", "severity", "status": "open" | "cleared",
    "raised_at" (ISO 8601), "cleared_at" (ISO 8601 | null), "evidence": {metric: value},
    "recommended_action_zh", "recommended_action_en", "cleared_evidence": {metric: value} | null}``.
    Clearing rewrites the record in place (status, cleared_at, cleared_evidence) and drops cleared
    records whose ``cleared_at`` is more than ``ALERTS_TTL_S`` before it. A clear whose raise is no
    longer stored writes the record with ``severity``, ``raised_at`` and the actions null.

``announcement_key(input event id)`` = ``lingxi:maintenance:announced:<event_id>`` (string,
``ANNOUNCEMENT_TTL_S``) private to maintenance
    The alert events that handling the input announced, one ``<event class> <event JSON>`` a line:
    written with the states that made them, so a retry of a read whose commit never happened (the
    replica died, Redis failed) publishes them again rather than losing them (``MaintenanceStore.save``).

``FLEET_KEY`` = ``lingxi:maintenance:fleet`` (string, no TTL)
    ``FleetModels.to_dict()`` as JSON, what all replicas learned together (see ``SharedFleet``).

A read is written in one Lua script, atomically, and a device's state only over the bytes the read
loaded (compare-and-set): when two replicas assess the same device at once, the second to write is told,
and assesses that device's readings again on the state the first wrote, so no reading is lost.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType
from typing import Any, cast

import orjson
from lingxi.device_health import encode_health
from lingxi.events.maintenance import device_alerts_key, device_health_key
from redis.asyncio import Redis
from redis.exceptions import WatchError
from river import stats

from lingxi_maintenance.alerts import AlertChange, RaisedAlert
from lingxi_maintenance.health import DEFAULT_SETTINGS, HealthSettings
from lingxi_maintenance.heat import FleetModels, LearningFleet
from lingxi_maintenance.ingest import IngestOutcome
from lingxi_maintenance.state import DeviceState

__all__ = [
    "ALERTS_TTL_S",
    "ANNOUNCEMENT_KEY_PREFIX",
    "ANNOUNCEMENT_TTL_S",
    "FLEET_KEY",
    "STATE_KEY_PREFIX",
    "STATE_TTL_S",
    "LearningFleet",
    "Loaded",
    "MaintenanceStore",
    "SharedFleet",
    "Write",
    "alert_record",
    "announcement_key",
    "state_key",
    "unpack",
]

STATE_KEY_PREFIX = "lingxi:maintenance:state:"
ANNOUNCEMENT_KEY_PREFIX = "lingxi:maintenance:announced:"
FLEET_KEY = "lingxi:maintenance:fleet"
STATE_TTL_S = 180 * 24 * 3600
"""A device silent this long is forgotten (state and health record): keeps millions of devices bounded."""
ALERTS_TTL_S = 30 * 24 * 3600
"""How long a device's alerts hash outlives its last write, and a cleared alert its clearing."""

ANNOUNCEMENT_TTL_S = 7 * 24 * 3600
"""How long the alert events of a read are kept for a retry of it: longer than any redelivery takes."""
_NOTHING_STORED: Mapping[str, bytes] = MappingProxyType({})

_log = logging.getLogger(__name__)


def state_key(device_id: str) -> str:
    """Redis key of a device's packed state."""
    return f"{STATE_KEY_PREFIX}{device_id}"


def announcement_key(input_event_id: str) -> str:
    """Redis key of the alert events an input's handling announced (see ``MaintenanceStore.announced``)."""
    return f"{ANNOUNCEMENT_KEY_PREFIX}{input_event_id}"


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


# One read's whole write, atomic, so a replica that dies mid-write leaves all of it or none of it.
# KEYS: n × (state, health), then m alerts hashes, then k announcement keys.
# ARGV: state TTL, alerts TTL, announcement TTL, n, m, k, p,
#   n × (the state bytes the read loaded, "" for none; new state; health JSON),
#   m × (index 1..n of the device whose state the hash goes with; 0: none),
#   p × alert operation: kind ("raise" | "clear"), alerts hash index 1..m, alert id,
#       raise: record JSON | clear: the record to write when the raise is no longer stored,
#       cleared_at, cutoff, cleared evidence JSON (clear only), announcement index 0..k, announcement text.
# A device whose stored state is no longer what the read loaded (another replica wrote it meanwhile) is
# left alone with its alert operations, and its index returned: the caller assesses it again.
# Clearing keeps what was raised and drops cleared alerts whose cleared_at is before the cutoff
# (ISO 8601 UTC strings compare in time order).
_SAVE_LUA = """
local state_ttl, alerts_ttl, announce_ttl = ARGV[1], ARGV[2], ARGV[3]
local n, m, k, p = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local a = 8
local conflicted, lost = {}, {}
for i = 1, n do
  local current = redis.call('GET', KEYS[2 * i - 1])
  if (current or '') == ARGV[a] then
    redis.call('SET', KEYS[2 * i - 1], ARGV[a + 1], 'EX', state_ttl)
    redis.call('SET', KEYS[2 * i], ARGV[a + 2], 'EX', state_ttl)
  else
    lost[i] = true
    conflicted[#conflicted + 1] = i
  end
  a = a + 3
end
local kept = {}
for j = 1, m do
  local device = tonumber(ARGV[a])
  kept[j] = device == 0 or not lost[device]
  a = a + 1
end
for _ = 1, p do
  local kind, j, id = ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2]
  if kept[j] then
    local key = KEYS[2 * n + j]
    if kind == 'raise' then
      redis.call('HSET', key, id, ARGV[a + 3])
    else
      local record = redis.call('HGET', key, id)
      if record then
        record = cjson.decode(record)
        record['status'] = 'cleared'
        record['cleared_at'] = ARGV[a + 4]
        record['cleared_evidence'] = cjson.decode(ARGV[a + 6])
        record = cjson.encode(record)
      else
        record = ARGV[a + 3]
      end
      redis.call('HSET', key, id, record)
      local all = redis.call('HGETALL', key)
      for f = 1, #all, 2 do
        if all[f] ~= id then
          local ok, other = pcall(cjson.decode, all[f + 1])
          if ok and other['status'] == 'cleared' and type(other['cleared_at']) == 'string'
              and other['cleared_at'] < ARGV[a + 5] then
            redis.call('HDEL', key, all[f])
          end
        end
      end
    end
    local announcement = tonumber(ARGV[a + 7])
    if announcement > 0 then
      local akey = KEYS[2 * n + m + announcement]
      redis.call('APPEND', akey, ARGV[a + 8] .. '\\n')
      redis.call('EXPIRE', akey, announce_ttl)
    end
  end
  a = a + 9
end
for j = 1, m do
  if kept[j] then redis.call('EXPIRE', KEYS[2 * n + j], alerts_ttl) end
end
return conflicted
"""


@dataclass(slots=True)
class Loaded:
    """The states of a read's devices, as ``MaintenanceStore.load_states`` found them."""

    states: dict[str, DeviceState | None]
    """Each device's state (None: none yet, or unreadable)."""
    stored: dict[str, bytes]
    """The bytes each state was read from (b"" for none): ``save`` writes a state only over these."""
    unreadable: list[str]
    """Devices whose stored bytes are not a state: they start over rather than block every later reading
    of the device (the caller logs them)."""


@dataclass(frozen=True, slots=True)
class Write:
    """A prepared ``MaintenanceStore.save``: the script's keys and arguments."""

    devices: list[str]
    """The devices whose states it writes, in the script's order."""
    keys: list[str]
    args: list[str | bytes | int]


def unpack(
    stored: Mapping[str, bytes], device_ids: Iterable[str]
) -> tuple[dict[str, DeviceState | None], list[str]]:
    """The states of ``device_ids`` from what ``load_stored`` found (None: none yet), and the devices
    whose bytes are not a state: they start over rather than block every later reading of the device
    (the caller logs them)."""
    states: dict[str, DeviceState | None] = {}
    unreadable: list[str] = []
    from_bytes = DeviceState.from_bytes
    for device_id in device_ids:
        data = stored.get(device_id)
        if not data:
            states[device_id] = None
            continue
        try:
            states[device_id] = from_bytes(data)
        except ValueError:
            states[device_id] = None
            unreadable.append(device_id)
    return states, unreadable


class MaintenanceStore:
    """Loads device states for a read (one MGET) and writes a read's outcome (one atomic script a part)."""

    def __init__(
        self,
        redis: Redis,
        *,
        state_ttl_s: int = STATE_TTL_S,
        alerts_ttl_s: int = ALERTS_TTL_S,
        announcement_ttl_s: int = ANNOUNCEMENT_TTL_S,
    ) -> None:
        self.redis = redis
        self.state_ttl_s = state_ttl_s
        self.alerts_ttl_s = alerts_ttl_s
        self.announcement_ttl_s = announcement_ttl_s
        self._save = redis.register_script(_SAVE_LUA)

    async def load_stored(self, device_ids: Iterable[str]) -> dict[str, bytes]:
        """Each device's stored state as bytes (b"" for none), in one MGET; ``unpack`` makes states of
        them, a part at a time (unpacking a whole read at once keeps thousands of states alive)."""
        ids = list(dict.fromkeys(device_ids))
        if not ids:
            return {}
        values = cast(list[bytes | None], await self.redis.mget([state_key(i) for i in ids]))
        return {device_id: data or b"" for device_id, data in zip(ids, values, strict=True)}

    async def load_states(self, device_ids: Iterable[str]) -> Loaded:
        """Each device's stored state, in one MGET, unpacked."""
        stored = await self.load_stored(device_ids)
        states, unreadable = unpack(stored, stored)
        return Loaded(states, stored, unreadable)

    async def announced(self, input_event_ids: Sequence[str]) -> dict[str, list[str]]:
        """The announcements an earlier attempt at these inputs saved (input event id → texts, in order):
        what it published is not known, so whoever handles the inputs again publishes them again."""
        if not input_event_ids:
            return {}
        values = await self.redis.mget([announcement_key(i) for i in input_event_ids])
        out: dict[str, list[str]] = {}
        for event_id, value in zip(input_event_ids, values, strict=True):
            if value:
                text = value.decode() if isinstance(value, bytes) else value
                out[event_id] = text.splitlines()
        return out

    async def save(
        self,
        outcome: IngestOutcome,
        stored: Mapping[str, bytes] = _NOTHING_STORED,
        announcements: Sequence[tuple[str, str] | None] = (),
    ) -> list[str]:
        """Write a read's new states, health records and alert changes atomically; returns the devices
        left unwritten because their state changed since ``stored`` (the bytes ``load_stored`` found; a
        device missing there is expected to have none), for the caller to assess again.

        ``announcements`` go with ``outcome.changes`` one for one: (input event id, text), or None. Each
        text is kept under its input's ``announcement_key`` with the change it announces (see
        ``announced``); a skipped device's are not.
        """
        return await self.write(self.prepare(outcome, stored, announcements))

    def prepare(
        self,
        outcome: IngestOutcome,
        stored: Mapping[str, bytes] = _NOTHING_STORED,
        announcements: Sequence[tuple[str, str] | None] = (),
    ) -> Write:
        """``save``'s first half: everything packed, so the outcome's states can go before the write."""
        devices = list(outcome.states)
        position = {device_id: index for index, device_id in enumerate(devices, start=1)}
        keys: list[str] = []
        args: list[str | bytes | int] = []
        for device_id, state in outcome.states.items():
            keys += (state_key(device_id), device_health_key(device_id))
            args += (stored.get(device_id, b""), state.to_bytes(), encode_health(outcome.records[device_id]))
        # Alerts hashes: every device with open alerts (to keep them alive) or a change.
        hashes: dict[str, int] = {}
        for device_id, state in outcome.states.items():
            if state.alerts:
                hashes.setdefault(device_id, len(hashes) + 1)
        for item in outcome.changes:
            hashes.setdefault(item.change.device_id, len(hashes) + 1)
        announce_keys: dict[str, int] = {}
        for note in announcements:
            if note is not None:
                announce_keys.setdefault(note[0], len(announce_keys) + 1)
        keys += [device_alerts_key(device_id) for device_id in hashes]
        keys += [announcement_key(event_id) for event_id in announce_keys]
        head: list[str | bytes | int] = [
            self.state_ttl_s,
            self.alerts_ttl_s,
            self.announcement_ttl_s,
            len(devices),
            len(hashes),
            len(announce_keys),
            len(outcome.changes),
        ]
        args = head + args + [position.get(device_id, 0) for device_id in hashes]
        notes = list(announcements) + [None] * (len(outcome.changes) - len(announcements))
        for item, note in zip(outcome.changes, notes, strict=True):
            args += self._operation(item.change, hashes[item.change.device_id])
            args += (0, "") if note is None else (announce_keys[note[0]], note[1])
        return Write(devices, keys, args)

    async def write(self, prepared: Write) -> list[str]:
        """``save``'s second half: the script; returns the devices left unwritten (see ``save``)."""
        if not prepared.keys:  # nothing to write
            return []
        conflicted = cast(list[int], await self._save(keys=prepared.keys, args=prepared.args))
        return [prepared.devices[index - 1] for index in conflicted]

    def _operation(self, change: AlertChange, hash_index: int) -> list[str | bytes | int]:
        """The seven arguments of one alert operation before its announcement (see ``_SAVE_LUA``)."""
        alert = str(change.alert_id)
        if isinstance(change, RaisedAlert):
            return ["raise", hash_index, alert, orjson.dumps(alert_record(change)), "", "", ""]
        cleared_at = change.cleared_at.isoformat()
        cutoff = (change.cleared_at - timedelta(seconds=self.alerts_ttl_s)).isoformat()
        orphan = {
            "alert_id": alert,
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
        return [
            "clear",
            hash_index,
            alert,
            orjson.dumps(orphan),
            cleared_at,
            cutoff,
            orjson.dumps(change.evidence),
        ]


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
