"""Overheating: anomaly detection learned online per device model, aware of context.

What is normal is learned from every device of a model: ``FleetModels`` keeps, per (device model, context),
river's running mean and variance (``river.stats.Var``, Welford) of battery temperature. The context is what
legitimately heats a phone: charging fast or slowly, charging paused for heat, plugged in and full, or on
battery idle, in use, or in heavy use (by the current it draws). A reading's residual is its temperature
minus its fleet's mean in the same context.

Each device then keeps its own normal residual (``HeatState.offset_c``: its climate, its case), a plain mean
over its first normal readings and then time-weighted over days. A fault shows as a step up from that
normal whatever the context: a reading is hot when it is ``heat_rise_c`` above the device's own normal.
Before the device's normal is known, it is hot when ``heat_raise_z`` fleet standard deviations above its
context (allowing a capped offset) and above ``heat_min_temp_c``; at ``heat_absolute_c`` it is hot anyway.

One hot reading is a spike: the alert needs ``heat_min_hot_readings`` hot readings within ``heat_window_h``.
While an alert is open, readings count as hot from the lower ``heat_clear_rise_c`` / ``heat_clear_z``, and
it clears after ``heat_clear_after_h`` without one. The device's normal learns only from clearly normal
readings and not at all while an alert is open, so a fault cannot become its own baseline.

The fleet statistics learn from every reading, clipped to ± ``heat_clip_sigma`` of the current mean so
faulty devices cannot drag them, and forget slowly: once a context holds ``2 × heat_memory_readings``
readings its weight is halved (mean and variance unchanged), so they follow the seasons.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lingxi.events.maintenance import AlertSeverity
from river import stats

from lingxi_maintenance.alerts import Clear, Evidence, Raise
from lingxi_maintenance.state import HOT_TIMES, HOUR_US, HeatState

if TYPE_CHECKING:
    from lingxi_maintenance.health import HealthSettings
    from lingxi_maintenance.readings import ReadingFields

__all__ = ["FleetModels", "HeatReading", "LearningFleet", "check", "context_of", "observe"]

_CRITICAL_THERMAL = frozenset({"critical", "emergency", "shutdown"})
_US_PER_HOUR = float(HOUR_US)
_MAX_COUNT = 0xFFFF


def context_of(reading: ReadingFields, settings: HealthSettings) -> str:
    """The context of a reading: why it may legitimately be warm."""
    state = reading.charging_state
    current = reading.current_ma
    if state == "not_charging":
        return "charge_paused"
    if state == "full":
        return "full"
    if state == "charging" or current > 0:
        return "fast_charge" if current >= settings.heat_fast_charge_ma else "charge"
    draw = -current
    if draw >= settings.heat_heavy_ma:
        return "heavy_use"
    return "in_use" if draw >= settings.heat_active_ma else "idle"


class FleetModels:
    """Temperature statistics per (device model, context), learned from all devices of each model.

    Shared by every device of the process; ``to_dict`` / ``from_dict`` move it to and from Redis (a JSON
    document or a hash per model), and ``merge`` folds in what another replica learned.
    """

    __slots__ = ("_stats",)

    def __init__(self) -> None:
        self._stats: dict[tuple[str, str], stats.Var] = {}

    def __len__(self) -> int:
        return len(self._stats)

    def get(self, device_model: str, context: str) -> stats.Var | None:
        """The running statistics for a model in a context, or None when nothing was learned yet."""
        return self._stats.get((device_model, context))

    def learn(self, device_model: str, context: str, temperature_c: float, settings: HealthSettings) -> float:
        """Fold one reading into its model's statistics (clipped, with bounded memory); returns the value
        learned (the temperature after clipping)."""
        key = (device_model, context)
        var = self._stats.get(key)
        if var is None:
            var = self._stats[key] = stats.Var()
        n = var.mean.n
        if n >= settings.heat_warmup_readings:
            mean = var.mean.get()
            spread = settings.heat_clip_sigma * max(math.sqrt(var.get()), settings.heat_min_std_c)
            temperature_c = min(max(temperature_c, mean - spread), mean + spread)
        if n >= 2 * settings.heat_memory_readings:
            # Halve the past's weight; mean and variance are unchanged, the next readings count double.
            var = self._stats[key] = stats.Var._from_state(n / 2.0, var.mean.get(), var.get())
        var.update(temperature_c)
        return temperature_c

    def merge(self, other: FleetModels) -> None:
        """Add what ``other`` learned (another replica's statistics) to these (Chan's parallel update)."""
        for key, theirs in other._stats.items():
            mine = self._stats.get(key)
            if mine is None:
                self._stats[key] = stats.Var._from_state(theirs.n, theirs.mean.get(), theirs.get())
            else:
                mine += theirs

    def to_dict(self) -> dict[str, dict[str, dict[str, float]]]:
        """``{model: {context: {"n": weight, "mean": °C, "var": °C²}}}``, JSON-ready."""
        out: dict[str, dict[str, dict[str, float]]] = {}
        for (model, context), var in self._stats.items():
            out.setdefault(model, {})[context] = {"n": var.n, "mean": var.mean.get(), "var": var.get()}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FleetModels:
        """Rebuild what ``to_dict`` produced; ValueError names the entry that is malformed."""
        models = cls()
        for model, contexts in data.items():
            if not isinstance(contexts, dict):
                raise ValueError(
                    f"fleet model {model!r}: expected a mapping of contexts, got {type(contexts).__name__}"
                )
            for context, entry in contexts.items():
                try:
                    n, mean, var = float(entry["n"]), float(entry["mean"]), float(entry["var"])
                except (KeyError, TypeError, ValueError) as error:
                    raise ValueError(
                        f"fleet model {model!r}, context {context!r}: needs numeric n, mean, var"
                    ) from error
                if not (n >= 0.0 and math.isfinite(mean) and var >= 0.0 and math.isfinite(var)):
                    raise ValueError(
                        f"fleet model {model!r}, context {context!r}: n={n}, mean={mean}, var={var}"
                    )
                models._stats[(model, context)] = stats.Var._from_state(n, mean, var)
        return models


class LearningFleet(FleetModels):
    """``FleetModels`` that also keeps what this replica learned since ``take_learned`` was last called,
    so only that is added to the shared copy (adding the whole models again would count readings twice).
    Here rather than beside ``store.SharedFleet``, its user: a compiled class is subclassed only by
    compiled classes (``lingxi.native``)."""

    __slots__ = ("_learned",)

    def __init__(self) -> None:
        super().__init__()
        self._learned: dict[tuple[str, str], stats.Var] = {}

    def learn(self, device_model: str, context: str, temperature_c: float, settings: HealthSettings) -> float:
        """Learn as ``FleetModels`` does, and record the value it learned (after its clipping)."""
        value = super().learn(device_model, context, temperature_c, settings)
        key = (device_model, context)
        learned = self._learned.get(key)
        if learned is None:
            learned = self._learned[key] = stats.Var()
        learned.update(value)
        return value

    def take_learned(self) -> FleetModels:
        """What was learned since the last call (and start recording afresh)."""
        learned, self._learned = self._learned, {}
        out: dict[str, dict[str, dict[str, float]]] = {}
        for (model, context), var in learned.items():
            out.setdefault(model, {})[context] = {"n": var.n, "mean": var.mean.get(), "var": var.get()}
        return FleetModels.from_dict(out)


@dataclass(slots=True)  # not frozen: made for every reading, and frozen init costs
class HeatReading:
    """How one reading's temperature compares with its fleet and with the device's own normal."""

    context: str
    temperature_c: float
    fleet_mean_c: float | None
    """The model's mean in this context; None while the context's statistics are still warming up."""
    excess_c: float | None
    """How much warmer than its own normal (both relative to the fleet) the device is; None until the
    device's normal is known."""
    z: float
    """Standard deviations above the fleet, after the device's capped offset; 0 when not scored."""
    hot: bool


def observe(
    heat: HeatState,
    reading: ReadingFields,
    t_us: int,
    late: bool,
    alert_open: bool,
    models: FleetModels,
    settings: HealthSettings,
) -> HeatReading:
    """Score a reading against its fleet and the device's normal, record it if hot, then let it teach the
    fleet and (when normal) the device."""
    context = context_of(reading, settings)
    temp = reading.temperature_c
    var = models.get(reading.device_model, context)
    fleet_mean: float | None = None
    excess: float | None = None
    z = 0.0
    if var is not None and var.mean.n >= settings.heat_warmup_readings:
        fleet_mean = var.mean.get()
        residual = temp - fleet_mean
        if heat.normal_count >= settings.heat_baseline_readings:
            excess = residual - heat.offset_c
        cap = settings.heat_device_offset_cap_c
        allowance = min(max(heat.offset_c, -cap), cap)
        z = (residual - allowance) / max(math.sqrt(var.get()), settings.heat_min_std_c)
    if alert_open:
        rise, z_limit = settings.heat_clear_rise_c, settings.heat_clear_z
    else:
        rise, z_limit = settings.heat_rise_c, settings.heat_raise_z
    hot = (
        temp >= settings.heat_absolute_c
        or (excess is not None and excess >= rise)
        or (temp >= settings.heat_min_temp_c and z >= z_limit)
    )
    if hot:
        times = heat.hot_us
        times.append(t_us)
        if late:
            times.sort()
        if len(times) > HOT_TIMES:
            del times[0]
        if t_us > heat.last_hot_us:
            heat.last_hot_us = t_us
    elif not late:
        # The device's normal learns only from clearly normal readings, and not at all while an alert is
        # open, so a fault cannot become its own baseline.
        learn_offset = (
            fleet_mean is not None
            and not alert_open
            and (excess is None or excess < settings.heat_clear_rise_c)
        )
        _follow_device(heat, temp, fleet_mean if learn_offset else None, t_us, settings)
    models.learn(reading.device_model, context, temp, settings)
    return HeatReading(context, temp, fleet_mean, excess, z, hot)


def _follow_device(
    heat: HeatState, temp: float, fleet_mean: float | None, t_us: int, settings: HealthSettings
) -> None:
    """Move the device's temperature baseline, and its offset from the fleet when ``fleet_mean`` is
    given, towards a normal reading: a plain mean at first, then time-weighted."""
    if heat.updated_us == 0:
        heat.baseline_c = temp
    else:
        dt_h = max(t_us - heat.updated_us, 0) / _US_PER_HOUR
        alpha = 1.0 - math.exp(-dt_h / settings.heat_device_time_constant_h)
        heat.baseline_c += alpha * (temp - heat.baseline_c)
    heat.updated_us = t_us
    if fleet_mean is not None:
        count = heat.normal_count
        alpha = 1.0 / (count + 1)
        if count:
            dt_h = max(t_us - heat.offset_us, 0) / _US_PER_HOUR
            alpha = max(alpha, 1.0 - math.exp(-dt_h / settings.heat_device_time_constant_h))
        heat.offset_c += alpha * (temp - fleet_mean - heat.offset_c)
        heat.offset_us = t_us
        if count < _MAX_COUNT:
            heat.normal_count = count + 1


def check(
    heat: HeatState,
    seen: HeatReading,
    reading: ReadingFields,
    now_us: int,
    alert_open: bool,
    settings: HealthSettings,
) -> Raise | Clear | None:
    """Raise overheating on persistent hot readings; clear after a quiet spell."""
    times = heat.hot_us
    if not alert_open:
        need = settings.heat_min_hot_readings
        if (
            seen.hot
            and len(times) >= need
            and times[-1] - times[-need] <= settings.heat_window_h * _US_PER_HOUR
        ):
            critical = (
                seen.temperature_c >= settings.heat_critical_c or reading.thermal_state in _CRITICAL_THERMAL
            )
            severity = AlertSeverity.CRITICAL if critical else AlertSeverity.WARNING
            return Raise(severity, _evidence(heat, seen, reading, need, settings))
        return None
    if not seen.hot and now_us - heat.last_hot_us >= settings.heat_clear_after_h * _US_PER_HOUR:
        return Clear(_evidence(heat, seen, reading, 0, settings))
    return None


def _evidence(
    heat: HeatState, seen: HeatReading, reading: ReadingFields, hot_readings: int, settings: HealthSettings
) -> Evidence:
    evidence: Evidence = {
        "temperature_c": round(seen.temperature_c, 1),
        "context": seen.context,
        "charging": seen.context in ("charge", "fast_charge", "charge_paused"),
        "charging_state": str(reading.charging_state),  # plain text, not the event's enum
        "thermal_state": str(reading.thermal_state),
        "current_ma": reading.current_ma,
    }
    if hot_readings:
        window_us = settings.heat_window_h * _US_PER_HOUR
        newest = heat.hot_us[-1]
        evidence["hot_readings"] = sum(1 for t in heat.hot_us if newest - t <= window_us)
        evidence["window_h"] = settings.heat_window_h
    if seen.fleet_mean_c is not None:
        evidence["model_normal_c"] = round(seen.fleet_mean_c, 1)
        evidence["z_score"] = round(seen.z, 1)
    if seen.excess_c is not None:
        evidence["above_own_normal_c"] = round(seen.excess_c, 1)
    if math.isfinite(heat.baseline_c):
        evidence["device_baseline_c"] = round(heat.baseline_c, 1)
    return evidence
