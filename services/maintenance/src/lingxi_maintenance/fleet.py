"""A simulated fleet of handsets with known faults: the readings they would send, and the ground truth.

Pure and deterministic: the same :class:`FleetConfig` (seed included) gives the same readings, in the
same order, and the same truth. No I/O, no clock: times start at ``config.start``.

How a handset is simulated
--------------------------
Each device gets a handset model (design capacity 4,000-6,000 mAh, 128/256/512 GB, a battery cell rated
for 80% capacity after 500 to 1,000 cycles), a usage profile (light, normal, heavy: charge cycles a day,
screen and gaming hours, storage growth, fast charging, crash rate), a climate (indoor temperature), and
a reporting cadence (every 1-4 hours, jittered).

A day-level plan comes first (cycles, temperature, storage, per day); the ground truth is read off the
plan, so it is known before a single reading is made. Readings are then made lazily, device by device,
and merged in the order they would reach Lingxi (:meth:`Fleet.deliveries`), so a large fleet never sits
in memory.

- Battery fade follows the shape of a phone maker's cycle-life rating: a fast early drop (about 4%, the
  first hundred or so cycles), then linear, reaching 80% of design capacity at the cell's rated cycles
  (500-1,000) at the reference temperature. A cycle at a hotter temperature counts for more (ageing
  doubles every 10 °C, the usual Arrhenius rule of thumb), so hot, heavy users fade faster.
  Devices start at a random age (a share of the cell's rated life), so some reach 80% during the run:
  that natural wear is part of the truth too (:attr:`DeviceTruth.battery_worn_at`).
- Battery level, charging state, current, voltage and temperature follow a day of use: overnight
  charging, top-ups on a normal or fast charger, screen time and gaming sessions by time of day
  (China Standard Time). Charging pauses (``not_charging``) when the cell is too hot.
- The fuel gauge's full-charge capacity wanders around the true capacity (about 0.3% either way,
  correlated over days, as a gauge that re-learns the capacity now and then) plus per-reading noise.
- Storage grows with photos and app installs, and now and then jumps with a big game or film; a healthy
  user cleans up before free space drops under a month of growth (or 15%), and now and then anyway.
- Now and then a phone is left in the sun for a while (one hot reading).
- Healthy devices crash and reboot rarely (and have an occasional day with a flaky app).
- Delivery: most readings arrive within a minute; some arrive hours late (out of order), some twice
  (a retry), some devices go offline for a while and upload later; a few devices' clocks are skewed.

Injected faults (one per faulty device, ``fault_share`` of the devices for each chosen fault)
----------------------------------------------------------------------------------------------
- ``battery_wear``: from onset the cell fades several times faster; failure = its capacity crosses 80%.
- ``overheating``: from onset the device runs 8-15 °C hotter than normal in the same context; it has no
  failure time (it is a fault from onset: the detector is judged on how soon after onset it alerts).
- ``storage_full``: a runaway cache from onset; failure = storage reaches 100%.
- ``crash_loop`` and ``reboot_storm``: a burst of app crashes or reboots from onset until ``ended``.
"""

from __future__ import annotations

import heapq
import math
import random
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any

from lingxi.events.maintenance import AlertCondition

from lingxi_maintenance.readings import Reading

__all__ = [
    "DEFAULT_START",
    "MODELS",
    "PROFILES",
    "REFERENCE_TEMPERATURE_C",
    "WORN_STATE_OF_HEALTH",
    "Delivery",
    "DeviceTruth",
    "Fleet",
    "FleetConfig",
    "FleetTruth",
    "HandsetModel",
    "InjectedFault",
    "UsageProfile",
    "capacity_loss",
    "cycles_to_state_of_health",
    "heat_stress",
    "parse_faults",
    "state_of_health",
]

GB = 1_000_000_000
DEFAULT_START = datetime(2026, 3, 2, tzinfo=UTC)
LOCAL_UTC_OFFSET_H = 8.0
"""Handsets live on China Standard Time (no daylight saving): their day follows it."""

WORN_STATE_OF_HEALTH = 0.80
"""A battery is worn out when it holds 80% of its design capacity (the phone makers' end of life)."""
REFERENCE_TEMPERATURE_C = 30.0
"""Cell temperature at which a cell's cycle rating holds (a typical in-use temperature)."""
EARLY_LOSS = 0.04
"""Capacity a new cell loses early on (the solid-electrolyte layer forming), before the linear phase."""
EARLY_CYCLES = 120.0
"""Time constant of that early loss, in cycles."""
AGEING_DOUBLES_EVERY_C = 10.0
PROJECTION_DAYS = 5 * 365
"""How far past the run the truth projects a battery's wear before calling it "not in sight"."""


# --- handsets and users ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HandsetModel:
    """A handset model the fleet is made of."""

    code: str
    design_capacity_mah: int
    storage_gb: tuple[int, ...]
    cycles_to_80: int
    """Rated cycles to 80% of design capacity at the reference temperature."""
    runs_warmer_c: float
    """How much warmer than a typical handset it runs in the same context (a hotter chip)."""
    os_versions: tuple[str, ...]
    share: float


MODELS: tuple[HandsetModel, ...] = (
    HandsetModel("LX-2024-LITE", 4500, (128, 256), 500, 0.0, ("LingOS 4.2.1", "LingOS 5.0.2"), 0.20),
    HandsetModel("LX-2025", 5000, (128, 256), 800, 0.5, ("LingOS 5.0.2", "LingOS 5.1.0"), 0.25),
    HandsetModel("LX-2025-PRO", 5000, (256, 512), 1000, 1.5, ("LingOS 5.0.2", "LingOS 5.1.0"), 0.15),
    HandsetModel("LX-2025-FOLD", 4400, (256, 512), 600, 2.0, ("LingOS 5.1.0",), 0.05),
    HandsetModel("LX-2026", 5500, (256,), 800, 0.5, ("LingOS 5.1.0",), 0.20),
    HandsetModel("LX-2026-PRO", 6000, (256, 512), 1000, 2.0, ("LingOS 5.1.0",), 0.15),
)


@dataclass(frozen=True, slots=True)
class UsageProfile:
    """How a kind of user uses the phone."""

    name: str
    share: float
    cycles_per_day: tuple[float, float]
    screen_hours: tuple[float, float]
    gaming_hours: tuple[float, float]
    storage_growth_gb_per_day: tuple[float, float]
    fast_charging: float
    """Share of charging sessions on a fast charger."""
    crashes_per_hour: float


PROFILES: tuple[UsageProfile, ...] = (
    UsageProfile("light", 0.30, (0.4, 0.6), (1.5, 3.0), (0.0, 0.1), (0.03, 0.15), 0.2, 0.004),
    UsageProfile("normal", 0.50, (0.6, 1.0), (3.0, 5.0), (0.1, 0.6), (0.1, 0.4), 0.5, 0.008),
    UsageProfile("heavy", 0.20, (1.0, 1.5), (5.0, 8.0), (0.8, 2.5), (0.3, 1.0), 0.8, 0.015),
)


# --- battery fade ---------------------------------------------------------------------------------


def heat_stress(temperature_c: float) -> float:
    """How many reference cycles one cycle at this cell temperature is worth (doubles every 10 °C)."""
    return math.pow(2.0, (temperature_c - REFERENCE_TEMPERATURE_C) / AGEING_DOUBLES_EVERY_C)


def _linear_fade(cycles_to_80: float) -> float:
    return (1.0 - WORN_STATE_OF_HEALTH - EARLY_LOSS * (1.0 - math.exp(-cycles_to_80 / EARLY_CYCLES))) / (
        cycles_to_80
    )


def capacity_loss(effective_cycles: float, cycles_to_80: float) -> float:
    """Share of design capacity lost after this many reference-temperature cycles: a fast early drop,
    then linear, reaching 20% at ``cycles_to_80``."""
    return (
        EARLY_LOSS * (1.0 - math.exp(-effective_cycles / EARLY_CYCLES))
        + _linear_fade(cycles_to_80) * effective_cycles
    )


def state_of_health(
    cycles: float, cycles_to_80: float, temperature_c: float = REFERENCE_TEMPERATURE_C
) -> float:
    """Capacity of a healthy cell as a share of design capacity after ``cycles`` cycles at a constant
    cell temperature."""
    return 1.0 - capacity_loss(cycles * heat_stress(temperature_c), cycles_to_80)


def cycles_to_state_of_health(target: float, cycles_to_80: float) -> float:
    """Reference cycles after which a healthy cell is down to ``target`` (a share of design capacity)."""
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target state of health must be in (0, 1], got {target}")
    return _bisect(lambda e: 1.0 - capacity_loss(e, cycles_to_80) - target, 0.0, 100.0 * cycles_to_80)


def _bisect(f: Callable[[float], float], lo: float, hi: float, iterations: int = 60) -> float:
    """The root of a decreasing function ``f`` in [lo, hi] (f(lo) >= 0 >= f(hi))."""
    for _ in range(iterations):
        mid = (lo + hi) / 2.0
        if f(mid) > 0.0:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


# --- configuration and truth ----------------------------------------------------------------------


def parse_faults(text: str) -> tuple[AlertCondition, ...]:
    """``battery_wear,overheating`` to conditions; an empty text or ``none`` means no faults."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if names in ([], ["none"]):
        return ()
    known = {c.value: c for c in AlertCondition}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown fault(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return tuple(dict.fromkeys(known[name] for name in names))


@dataclass(frozen=True)
class FleetConfig:
    """What fleet to simulate."""

    devices: int = 1000
    days: int = 30
    faults: tuple[AlertCondition, ...] = tuple(AlertCondition)
    fault_share: float = 0.1
    """Share of the devices given each fault (one fault per device)."""
    seed: int = 7
    start: datetime = DEFAULT_START
    late_share: float = 0.03
    """Share of readings that arrive hours late (after later readings of the same device)."""
    duplicate_share: float = 0.01
    """Share of readings sent twice."""
    skewed_share: float = 0.01
    """Share of devices whose clock is off (by 2 minutes to 2 hours, either way)."""

    def __post_init__(self) -> None:
        if self.devices < 1:
            raise ValueError(f"devices must be at least 1, got {self.devices}")
        if self.days < 2:
            raise ValueError(f"days must be at least 2, got {self.days}")
        if not 0.0 <= self.fault_share <= 1.0:
            raise ValueError(f"fault_share must be between 0 and 1, got {self.fault_share}")
        if self.fault_share * len(self.faults) > 1.0:
            raise ValueError(
                f"fault_share {self.fault_share} for each of {len(self.faults)} faults is more than the "
                "whole fleet"
            )
        for name in ("late_share", "duplicate_share", "skewed_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware")

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)


@dataclass(frozen=True, slots=True)
class InjectedFault:
    """A fault the simulator put into a device."""

    condition: AlertCondition
    onset: datetime
    failure: datetime | None
    """battery_wear: capacity crosses 80%; storage_full: storage reaches 100% (both may fall after the
    run, projected); None for faults that are failures from onset (overheating, crash loop, reboot storm)."""
    ended: datetime | None
    """crash_loop and reboot_storm: when the burst stops; None for faults that last."""
    magnitude: float
    """battery_wear: fade multiplier; overheating: °C added; storage_full: GB a day of runaway cache;
    crash_loop, reboot_storm: crashes or reboots an hour."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "condition": self.condition.value,
            "onset": _iso(self.onset),
            "failure": _iso(self.failure),
            "ended": _iso(self.ended),
            "magnitude": round(self.magnitude, 3),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InjectedFault:
        return cls(
            AlertCondition(data["condition"]),
            _parse_time(data["onset"]),
            _parse_optional_time(data.get("failure")),
            _parse_optional_time(data.get("ended")),
            float(data["magnitude"]),
        )


@dataclass(frozen=True, slots=True)
class DeviceTruth:
    """What really happened to one device (all times true time, not the device's skewed clock)."""

    device_id: str
    device_model: str
    profile: str
    design_capacity_mah: int
    storage_total_bytes: int
    start_cycle_count: int
    start_state_of_health: float
    cycles_to_80: int
    """This cell's rated cycles to 80% (the model's rating with cell-to-cell spread)."""
    clock_skew_s: float
    """Added to true time in the device's ``measured_at``."""
    battery_worn_at: datetime | None
    """When the battery's capacity crosses 80% of design, whatever the cause: during the run, before it
    (already worn at the first reading), or projected after it; None if not within five years."""
    faults: tuple[InjectedFault, ...] = ()

    def fault(self, condition: AlertCondition | str) -> InjectedFault | None:
        """The injected fault of this condition, if the device has one."""
        return next((f for f in self.faults if f.condition == condition), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "device_id": self.device_id,
            "device_model": self.device_model,
            "profile": self.profile,
            "design_capacity_mah": self.design_capacity_mah,
            "storage_total_bytes": self.storage_total_bytes,
            "start_cycle_count": self.start_cycle_count,
            "start_state_of_health": round(self.start_state_of_health, 4),
            "cycles_to_80": self.cycles_to_80,
            "clock_skew_s": round(self.clock_skew_s, 1),
            "battery_worn_at": _iso(self.battery_worn_at),
            "faults": [f.to_dict() for f in self.faults],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeviceTruth:
        return cls(
            device_id=data["device_id"],
            device_model=data["device_model"],
            profile=data["profile"],
            design_capacity_mah=int(data["design_capacity_mah"]),
            storage_total_bytes=int(data["storage_total_bytes"]),
            start_cycle_count=int(data["start_cycle_count"]),
            start_state_of_health=float(data["start_state_of_health"]),
            cycles_to_80=int(data["cycles_to_80"]),
            clock_skew_s=float(data["clock_skew_s"]),
            battery_worn_at=_parse_optional_time(data.get("battery_worn_at")),
            faults=tuple(InjectedFault.from_dict(f) for f in data.get("faults", ())),
        )


@dataclass(frozen=True)
class FleetTruth:
    """The ground truth of a simulated fleet."""

    start: datetime
    end: datetime
    seed: int
    devices: tuple[DeviceTruth, ...]
    _by_id: dict[str, DeviceTruth] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {d.device_id: d for d in self.devices})

    def device(self, device_id: str) -> DeviceTruth:
        """The truth of one device; KeyError naming it if the fleet has no such device."""
        try:
            return self._by_id[device_id]
        except KeyError:
            raise KeyError(f"device {device_id!r} is not in this fleet") from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": _iso(self.start),
            "end": _iso(self.end),
            "seed": self.seed,
            "worn_state_of_health": WORN_STATE_OF_HEALTH,
            "devices": [d.to_dict() for d in self.devices],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FleetTruth:
        return cls(
            start=_parse_time(data["start"]),
            end=_parse_time(data["end"]),
            seed=int(data["seed"]),
            devices=tuple(DeviceTruth.from_dict(d) for d in data["devices"]),
        )


@dataclass(frozen=True, slots=True)
class Delivery:
    """A reading as it reaches Lingxi."""

    reported_at: datetime
    """When it arrived (true time): the event's ``occurred_at``."""
    reading: Reading


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"time {text!r} has no timezone")
    return value


def _parse_optional_time(text: str | None) -> datetime | None:
    return None if text is None else _parse_time(text)


# --- the fleet ------------------------------------------------------------------------------------

_THERMAL_LEVELS = (
    (58.0, "shutdown"),
    (55.0, "emergency"),
    (51.0, "critical"),
    (47.0, "severe"),
    (44.0, "moderate"),
    (41.0, "light"),
)
_CHARGING_PAUSED_ABOVE_C = 45.0
# Battery drain by activity, % an hour, before the device's own scale (which sets its cycles a day).
_DRAIN_IDLE, _DRAIN_SCREEN, _DRAIN_GAMING = 1.2, 9.0, 20.0
# Cell temperature above room by context, °C.
_RISE_IDLE = 2.0
_RISE_SCREEN = 6.0
_RISE_GAMING = 13.0
_RISE_CHARGING = 8.0
_RISE_FAST = 13.0
_RISE_FULL = 3.0


def _pick(rng: random.Random, items: Sequence[Any], weights: Sequence[float]) -> Any:
    return rng.choices(items, weights=weights)[0]


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0.0:
        return 0
    if mean > 30.0:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


class _Device:
    """One device: its fixed traits, its day-level plan and its injected fault. Readings come from
    :meth:`deliveries`; the truth from :meth:`truth`."""

    def __init__(self, config: FleetConfig, index: int, fault: AlertCondition | None) -> None:
        self.config = config
        self.index = index
        days = config.days
        rng = random.Random(f"{config.seed}/{index}/plan")
        model: HandsetModel = _pick(rng, MODELS, [m.share for m in MODELS])
        profile: UsageProfile = _pick(rng, PROFILES, [p.share for p in PROFILES])
        self.model, self.profile = model, profile
        self.device_id = f"sim{config.seed}-{index:06d}"
        self.os_version: str = rng.choice(model.os_versions)
        self.storage_total = rng.choice(model.storage_gb) * GB
        # Cell-to-cell spread around the model's rating, within what phone makers specify.
        self.cycles_to_80 = min(1000, max(500, round(model.cycles_to_80 * rng.uniform(0.92, 1.08))))
        self.fade_b = _linear_fade(self.cycles_to_80)
        self.cadence_h = _pick(rng, (1.0, 2.0, 3.0, 4.0), (0.1, 0.3, 0.35, 0.25))
        self.skew_h = 0.0
        if rng.random() < config.skewed_share:
            self.skew_h = rng.choice((-1.0, 1.0)) * rng.uniform(2.0 / 60.0, 2.0)

        # Habits.
        self.cycles_per_day = rng.uniform(*profile.cycles_per_day)
        self.screen_h = rng.uniform(*profile.screen_hours)
        self.gaming_h = rng.uniform(*profile.gaming_hours)
        self.growth_gb = rng.uniform(*profile.storage_growth_gb_per_day)
        self.overnight_charger = rng.random() < 0.75
        self.bedtime_h = rng.uniform(22.0, 25.0)  # 25 = 01:00
        self.wake_h = rng.uniform(6.0, 8.5)
        self.plug_at = rng.uniform(15.0, 35.0)
        self.unplug_at = rng.uniform(85.0, 100.0)
        awake = self.bedtime_h - self.wake_h  # hours a day
        self.p_gaming = min(0.5, self.gaming_h / awake)
        self.p_screen = min(0.9 - self.p_gaming, self.screen_h / awake)
        awake_drain = (
            self.p_gaming * _DRAIN_GAMING
            + self.p_screen * _DRAIN_SCREEN
            + (1.0 - self.p_gaming - self.p_screen) * _DRAIN_IDLE
        )
        night_drain = 0.0 if self.overnight_charger else (24.0 - awake) * _DRAIN_IDLE
        self.drain_scale = 100.0 * self.cycles_per_day / (awake * awake_drain + night_drain)
        self.room_c = rng.uniform(18.0, 28.0)
        discharge_rise = (
            self.p_gaming * _DRAIN_GAMING * _RISE_GAMING
            + self.p_screen * _DRAIN_SCREEN * _RISE_SCREEN
            + (1.0 - self.p_gaming - self.p_screen) * _DRAIN_IDLE * _RISE_IDLE
        ) / awake_drain
        charge_rise = profile.fast_charging * _RISE_FAST + (1.0 - profile.fast_charging) * _RISE_CHARGING
        self.cycling_rise = model.runs_warmer_c + (discharge_rise + charge_rise) / 2.0
        typical_stress = heat_stress(self.room_c + self.cycling_rise)

        # The fault, and the age a device starts at.
        self.fault = fault
        self.onset_h = self.ended_h = math.inf
        self.magnitude = 0.0
        if fault is AlertCondition.BATTERY_WEAR:
            # A cell that starts at 82-90% and, from onset, fades fast enough to reach 80% late in the run.
            start_soh = rng.uniform(0.82, 0.90)
            start_eff = cycles_to_state_of_health(start_soh, self.cycles_to_80)
            onset_day = rng.uniform(0.1, 0.45) * days
            failure_day = rng.uniform(onset_day + 0.3 * days, days - 0.5)
            per_day = self.cycles_per_day * typical_stress * self.fade_b
            pre_onset_loss = per_day * onset_day
            self.magnitude = min(
                30.0,
                max(
                    3.0,
                    (start_soh - pre_onset_loss - WORN_STATE_OF_HEALTH)
                    / (per_day * (failure_day - onset_day)),
                ),
            )
            self.onset_h = onset_day * 24.0
        else:
            # Ages spread over the cell's rated life (a few past it), so some wear out during the run.
            start_eff = rng.uniform(0.0, 1.02) * self.cycles_to_80
        self.start_cycles = round(start_eff / typical_stress)
        if fault is AlertCondition.OVERHEATING:
            self.onset_h = rng.uniform(0.15, 0.8) * days * 24.0
            self.magnitude = rng.uniform(8.0, 15.0)
        elif fault is AlertCondition.STORAGE_FULL:
            self.onset_h = rng.uniform(0.15, 0.6) * days * 24.0
        elif fault is AlertCondition.CRASH_LOOP:
            self.onset_h = rng.uniform(0.1, 0.85) * days * 24.0
            self.ended_h = self.onset_h + rng.uniform(1.0, 4.0) * 24.0
            self.magnitude = rng.uniform(3.0, 15.0)
        elif fault is AlertCondition.REBOOT_STORM:
            self.onset_h = rng.uniform(0.1, 0.85) * days * 24.0
            self.ended_h = self.onset_h + rng.uniform(0.5, 2.0) * 24.0
            self.magnitude = rng.uniform(0.7, 3.0)
        heat_fault = self.magnitude if fault is AlertCondition.OVERHEATING else 0.0

        # The day-level plan, at day boundaries: cycles, effective cycles, storage (without a runaway
        # cache), each day's room temperature, and the fuel gauge's error (it re-learns the capacity now
        # and then, so its estimate wanders around the truth).
        self.gauge = array("d", [0.0])
        self.cycles = array("d", [0.0])
        self.eff = array("d", [start_eff])
        self.room = array("d", [self.room_c])
        self.storage = array("d", [rng.uniform(0.25, 0.65) * self.storage_total])
        storage_onset_day = self.onset_h / 24.0 if fault is AlertCondition.STORAGE_FULL else math.inf
        keep_free = max(0.15 * self.storage_total, 30.0 * self.growth_gb * GB)
        weather = 0.0
        for day in range(days + 1):
            weather = 0.7 * weather + rng.gauss(0.0, 1.0)
            room = self.room_c + weather
            self.room.append(room)
            cycles = self.cycles_per_day * rng.uniform(0.7, 1.3)
            hot_share = min(1.0, max(0.0, day + 1.0 - self.onset_h / 24.0))
            stress = heat_stress(room + self.cycling_rise + heat_fault * hot_share)
            self.cycles.append(self.cycles[-1] + cycles)
            self.eff.append(self.eff[-1] + cycles * stress)
            self.gauge.append(0.8 * self.gauge[-1] + rng.gauss(0.0, 0.002))
            used = self.storage[-1] + self.growth_gb * GB * rng.lognormvariate(0.0, 0.5)
            if rng.random() < 0.1:  # an app install
                used += rng.uniform(0.2, 3.0) * GB
            if rng.random() < 0.02:  # a big game or a film, if it leaves the room the user keeps free
                used += max(0.0, min(rng.uniform(4.0, 15.0) * GB, self.storage_total - keep_free - used))
            if day + 1 < storage_onset_day and (self.storage_total - used < keep_free or rng.random() < 0.02):
                used -= rng.uniform(0.05, 0.25) * self.storage_total
            self.storage.append(min(max(used, 0.1 * self.storage_total), 0.98 * self.storage_total))
        if fault is AlertCondition.STORAGE_FULL:
            # A runaway cache that fills the free space in 5 days to a third of the run.
            free = self.storage_total - self._base_storage(self.onset_h)
            fill_days = rng.uniform(5.0, max(6.0, 0.35 * days))
            self.magnitude = max(1.0, free / GB / fill_days - self.growth_gb)
        self.runaway_per_h = self.magnitude * GB / 24.0 if fault is AlertCondition.STORAGE_FULL else 0.0
        self.eff_onset = self._eff(self.onset_h) if fault is AlertCondition.BATTERY_WEAR else math.inf
        self.loss_onset = (
            capacity_loss(self.eff_onset, self.cycles_to_80) if self.eff_onset < math.inf else 0.0
        )

    # -- the plan at any time (hours since start) --

    def _interp(self, values: array[float], t: float) -> float:
        day = min(max(int(t // 24.0), 0), self.config.days)
        frac = t / 24.0 - day
        return values[day] + (values[day + 1] - values[day]) * frac

    def _eff(self, t: float) -> float:
        return self._interp(self.eff, t)

    def _soh_of_eff(self, eff: float) -> float:
        loss = capacity_loss(eff, self.cycles_to_80)
        if eff > self.eff_onset:
            return 1.0 - self.loss_onset - self.magnitude * (loss - self.loss_onset)
        return 1.0 - loss

    def soh(self, t: float) -> float:
        return self._soh_of_eff(self._eff(t))

    def _base_storage(self, t: float) -> float:
        return self._interp(self.storage, t)

    def storage_used(self, t: float) -> float:
        return min(
            self.storage_total, self._base_storage(t) + self.runaway_per_h * max(0.0, t - self.onset_h)
        )

    # -- truth --

    def _worn_at_h(self) -> float | None:
        days = self.config.days
        end = days * 24.0
        if self._soh_of_eff(self.eff[0]) <= WORN_STATE_OF_HEALTH:
            # Already worn: walk back along its past usage.
            worn_eff = cycles_to_state_of_health(WORN_STATE_OF_HEALTH, self.cycles_to_80)
            per_day = (self.eff[days] - self.eff[0]) / days
            return -24.0 * (self.eff[0] - worn_eff) / per_day
        for day in range(days):
            if self.soh((day + 1) * 24.0) <= WORN_STATE_OF_HEALTH:
                lo = day * 24.0
                return _bisect(lambda t: self.soh(t) - WORN_STATE_OF_HEALTH, lo, lo + 24.0)
        # Not yet: project at this device's mean pace.
        eff_end = self._eff(end)
        per_day = (eff_end - self.eff[0]) / days
        far = eff_end + per_day * PROJECTION_DAYS
        if self._soh_of_eff(far) > WORN_STATE_OF_HEALTH:
            return None
        worn_eff = _bisect(lambda e: self._soh_of_eff(e) - WORN_STATE_OF_HEALTH, eff_end, far)
        return end + 24.0 * (worn_eff - eff_end) / per_day

    def _full_at_h(self) -> float:
        end = self.config.days * 24.0
        total = self.storage_total
        t = self.onset_h
        while t < end:
            nxt = min(end, (t // 24.0 + 1.0) * 24.0)
            if self.storage_used(nxt) >= total:
                return _bisect(
                    lambda x: total - self._base_storage(x) - self.runaway_per_h * (x - self.onset_h), t, nxt
                )
            t = nxt
        growth_per_h = self.runaway_per_h + self.growth_gb * GB / 24.0
        return end + (total - self.storage_used(end)) / growth_per_h

    def truth(self) -> DeviceTruth:
        start = self.config.start

        def at(hours: float | None) -> datetime | None:
            return None if hours is None or math.isinf(hours) else start + timedelta(hours=hours)

        faults: tuple[InjectedFault, ...] = ()
        worn_h = self._worn_at_h()
        if self.fault is not None:
            onset = at(self.onset_h)
            assert onset is not None
            failure = None
            if self.fault is AlertCondition.BATTERY_WEAR:
                failure = at(worn_h)
            elif self.fault is AlertCondition.STORAGE_FULL:
                failure = at(self._full_at_h())
            faults = (InjectedFault(self.fault, onset, failure, at(self.ended_h), self.magnitude),)
        return DeviceTruth(
            device_id=self.device_id,
            device_model=self.model.code,
            profile=self.profile.name,
            design_capacity_mah=self.model.design_capacity_mah,
            storage_total_bytes=self.storage_total,
            start_cycle_count=self.start_cycles,
            start_state_of_health=self.soh(0.0),
            cycles_to_80=self.cycles_to_80,
            clock_skew_s=self.skew_h * 3600.0,
            battery_worn_at=at(worn_h),
            faults=faults,
        )

    # -- readings --

    def _is_night(self, local_h: float) -> bool:
        shifted = local_h + 24.0 if local_h < 12.0 else local_h
        return self.bedtime_h <= shifted < self.wake_h + 24.0

    def deliveries(self) -> Iterator[tuple[float, Reading]]:
        """(arrival, reading) in arrival order, arrival in hours since start."""
        config = self.config
        rng = random.Random(f"{config.seed}/{self.index}/readings")
        model, profile = self.model, self.profile
        design = model.design_capacity_mah
        start = config.start
        end = config.days * 24.0
        fault = self.fault
        crash_fault = fault is AlertCondition.CRASH_LOOP
        reboot_fault = fault is AlertCondition.REBOOT_STORM
        heat_fault = self.magnitude if fault is AlertCondition.OVERHEATING else 0.0
        eff_plan, cycles_plan, storage_plan, room_plan = self.eff, self.cycles, self.storage, self.room
        gauge_plan = self.gauge
        total, runaway_per_h, onset_h = self.storage_total, self.runaway_per_h, self.onset_h
        pending: list[tuple[float, int, Reading]] = []
        sequence = 0
        offline_since = offline_until = -1.0
        level = rng.uniform(40.0, 100.0)
        plugged = fast = False
        drain = _DRAIN_IDLE * self.drain_scale
        flaky_day, flaky = -1, False
        t = rng.uniform(0.0, self.cadence_h)
        previous = t - self.cadence_h
        while t < end:
            dt = t - previous
            local_h = (t + LOCAL_UTC_OFFSET_H) % 24.0
            night = self._is_night(local_h)

            # Battery level over the last interval, then this moment's state.
            if plugged:
                level = min(100.0, level + (70.0 if fast else 35.0) * dt)
            else:
                level = max(1.0, level - drain * dt)
            if night and self.overnight_charger:
                if not plugged:
                    plugged, fast = True, rng.random() < profile.fast_charging / 2.0
            elif plugged and (level >= self.unplug_at or (not night and rng.random() < 0.3)):
                plugged = False
            elif not plugged and level <= self.plug_at:
                plugged, fast = True, rng.random() < profile.fast_charging
            # The plan at this moment (linear within the day).
            day = int(t // 24.0)
            frac = t / 24.0 - day
            soh = self._soh_of_eff(eff_plan[day] + (eff_plan[day + 1] - eff_plan[day]) * frac)
            cycles = cycles_plan[day] + (cycles_plan[day + 1] - cycles_plan[day]) * frac
            base_used = storage_plan[day] + (storage_plan[day + 1] - storage_plan[day]) * frac
            used = min(total, base_used + runaway_per_h * max(0.0, t - onset_h))
            gauge = gauge_plan[day]
            room = room_plan[day] + (room_plan[day + 1] - room_plan[day]) * frac
            room += 2.5 * math.sin(2.0 * math.pi * (local_h - 9.0) / 24.0)
            base_c = room + model.runs_warmer_c + (heat_fault if t >= self.onset_h else 0.0)
            if plugged:
                taper = 1.0 if level < 80.0 else 0.15 + (100.0 - level) / 23.5
                if level >= 100.0:
                    state, current, temperature = "full", rng.randint(0, 30), base_c + _RISE_FULL
                elif fast:
                    state, current = "charging", round(rng.uniform(3500.0, 5500.0) * taper)
                    temperature = base_c + _RISE_FAST * taper
                else:
                    state, current = "charging", round(rng.uniform(1500.0, 2200.0) * taper)
                    temperature = base_c + _RISE_CHARGING * taper
                drain = 0.0
            else:
                state = "discharging"
                activity = rng.random()
                if night or activity >= self.p_gaming + self.p_screen:
                    current, temperature = -rng.randint(40, 150), base_c + _RISE_IDLE
                    drain = _DRAIN_IDLE * self.drain_scale
                elif activity < self.p_gaming:
                    current, temperature = -rng.randint(900, 1800), base_c + rng.uniform(10.0, 16.0)
                    drain = _DRAIN_GAMING * self.drain_scale
                else:
                    current, temperature = -rng.randint(250, 700), base_c + _RISE_SCREEN
                    drain = _DRAIN_SCREEN * self.drain_scale
            if state == "discharging" and not night and rng.random() < 0.003:
                temperature += rng.uniform(8.0, 20.0)  # left in the sun or in a car for a while
            temperature = min(70.0, temperature + rng.gauss(0.0, 0.8))
            if state == "charging" and temperature >= _CHARGING_PAUSED_ABOVE_C:
                state, current = "not_charging", 0
            thermal = "none"
            for threshold, name in _THERMAL_LEVELS:
                if temperature >= threshold:
                    thermal = name
                    break
            shown_level = 100 if state == "full" else min(99 if plugged else 100, max(0, round(level)))
            ocv = 3500.0 + 7.0 * shown_level + max(0, shown_level - 90) * 15.0
            voltage = round(min(4450.0, ocv + current * 0.1 * (1.0 + 3.0 * (1.0 - soh))))

            # Crashes and reboots since the previous report.
            if day != flaky_day:
                flaky_day, flaky = day, rng.random() < 0.01
            crash_rate = 0.15 if flaky else profile.crashes_per_hour
            reboot_rate = 1.0 / (6.0 * 24.0)
            burst = max(0.0, min(t, self.ended_h) - max(previous, self.onset_h)) * self.magnitude
            crash_mean = burst if crash_fault else 0.0
            reboot_mean = burst if reboot_fault else 0.0
            crashes = _poisson(rng, crash_rate * dt + crash_mean)
            reboots = _poisson(rng, reboot_rate * dt + reboot_mean)

            used += rng.gauss(0.0, 0.03 * GB)
            reading = Reading(
                device_id=self.device_id,
                device_model=model.code,
                measured_at=start + timedelta(hours=t + self.skew_h),
                battery_level=shown_level,
                full_charge_capacity_mah=round(design * soh * (1.0 + gauge + rng.gauss(0.0, 0.003))),
                design_capacity_mah=design,
                cycle_count=self.start_cycles + int(cycles),
                temperature_c=round(temperature, 1),
                voltage_mv=voltage,
                current_ma=current,
                charging_state=state,
                thermal_state=thermal,
                storage_used_bytes=int(min(total, max(0.0, used))),
                storage_total_bytes=self.storage_total,
                app_crash_count=crashes,
                reboot_count=reboots,
                os_version=self.os_version,
            )

            # When it arrives: offline stretches, late ones, retries.
            if t >= offline_until and rng.random() < 0.002:
                offline_since, offline_until = t, t + rng.uniform(2.0, 36.0)
            if t < offline_until:  # uploaded in one go, in order, on reconnecting
                arrival = offline_until + (t - offline_since) * 1e-4
            elif rng.random() < config.late_share:
                arrival = t + rng.uniform(0.5, 12.0)
            else:
                arrival = t + rng.uniform(1.0, 60.0) / 3600.0
            heapq.heappush(pending, (arrival, sequence, reading))
            sequence += 1
            if rng.random() < config.duplicate_share:
                heapq.heappush(pending, (arrival + rng.uniform(5.0, 600.0) / 3600.0, sequence, reading))
                sequence += 1
            # Everything still to come arrives after now: what has arrived by now can go.
            while pending and pending[0][0] <= t:
                arrived, _, ready = heapq.heappop(pending)
                yield arrived, ready
            previous = t
            t += self.cadence_h * rng.uniform(0.8, 1.2)
        while pending:
            arrived, _, ready = heapq.heappop(pending)
            yield arrived, ready


_MERGE_WINDOW_H = 24.0
_arrival_then_device = itemgetter(0, 1)


class Fleet:
    """A simulated fleet: its ground truth (:attr:`truth`) and its readings in arrival order
    (:meth:`deliveries`, :meth:`readings`), made lazily."""

    def __init__(self, config: FleetConfig | None = None) -> None:
        self.config = config or FleetConfig()
        faults = self._assign_faults()
        self._devices = [_Device(self.config, i, faults.get(i)) for i in range(self.config.devices)]
        self._index = {d.device_id: i for i, d in enumerate(self._devices)}
        self.truth = FleetTruth(
            start=self.config.start,
            end=self.config.end,
            seed=self.config.seed,
            devices=tuple(d.truth() for d in self._devices),
        )

    def _assign_faults(self) -> dict[int, AlertCondition]:
        config = self.config
        order = list(range(config.devices))
        random.Random(f"{config.seed}/faults").shuffle(order)
        per_fault = round(config.devices * config.fault_share)
        assigned: dict[int, AlertCondition] = {}
        for n, condition in enumerate(config.faults):
            for index in order[n * per_fault : (n + 1) * per_fault]:
                assigned[index] = condition
        return assigned

    def deliveries(self) -> Iterator[Delivery]:
        """Every reading of every device, in the order they reach Lingxi (duplicates included)."""
        start = self.config.start
        # Merge the devices' streams (each in arrival order) a simulated day at a time: each device
        # runs for a day's readings in one go, which is much faster than switching devices per reading
        # (heapq.merge), and only a day of readings is in memory.
        streams = [device.deliveries() for device in self._devices]
        upcoming = [next(stream, None) for stream in streams]
        window_end = 0.0
        active = [i for i, item in enumerate(upcoming) if item is not None]
        while active:
            window_end += _MERGE_WINDOW_H
            batch: list[tuple[float, int, Reading]] = []
            still_active = []
            for index in active:
                item, stream = upcoming[index], streams[index]
                while item is not None and item[0] < window_end:
                    batch.append((item[0], index, item[1]))
                    item = next(stream, None)
                upcoming[index] = item
                if item is not None:
                    still_active.append(index)
            active = still_active
            batch.sort(key=_arrival_then_device)
            for hours, _, reading in batch:
                yield Delivery(start + timedelta(hours=hours), reading)

    def readings(self) -> Iterator[Reading]:
        """The readings alone, in arrival order."""
        for delivery in self.deliveries():
            yield delivery.reading

    def _device(self, device_id: str) -> _Device:
        self.truth.device(device_id)  # KeyError naming a stranger
        return self._devices[self._index[device_id]]

    def _hours(self, at: datetime) -> float:
        return min(max((at - self.config.start) / timedelta(hours=1), 0.0), self.config.days * 24.0)

    def true_state_of_health(self, device_id: str, at: datetime) -> float:
        """The battery's real capacity at a (true) time within the run, as a share of design capacity:
        what the readings' full-charge capacity estimates, before the fuel gauge's error."""
        return self._device(device_id).soh(self._hours(at))

    def true_storage_used(self, device_id: str, at: datetime) -> float:
        """Storage really in use at a (true) time within the run, bytes (before temporary files)."""
        return self._device(device_id).storage_used(self._hours(at))
