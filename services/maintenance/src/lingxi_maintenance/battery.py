"""Battery wear: state of health (full-charge capacity / design capacity) and remaining useful life to 80%.

Each device's fade is fitted on its own history: one point a day (the day's mean state of health and its
highest cycle count), two weighted least-squares lines kept as running sums (state of health against days,
and against cycles) whose weights halve every ``battery_half_life_days`` so the fit follows the recent slope
of a fade that speeds up. The interval comes from the fit: the line's level today and its slope, each
± ``battery_interval_z`` standard errors, give the earliest and latest crossing of the end-of-life line.
The errors are Student-t for few points and widened for the fuel gauge's error that persists from day to
day, which plain least squares would take for independent evidence (``noise_variance``). The interval
narrows as days accumulate. No prediction before ``battery_min_days`` daily points spread over time, and
no alert until the central estimate is within ``battery_horizon_days`` and the interval's latest crossing
within ``battery_interval_max_days`` (an early, noisy fit waits for more days).

A battery swap (state of health jumping up, or the cycle count going back) starts the history afresh.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lingxi.events.maintenance import AlertSeverity

from lingxi_maintenance.alerts import Clear, Raise, finite
from lingxi_maintenance.state import GAUGE_LAG, BatteryState, Fit

if TYPE_CHECKING:
    from lingxi_maintenance.health import HealthSettings

__all__ = ["BatteryOutlook", "Crossing", "check", "close_day", "noise_variance", "outlook"]

_MAX_DAYS = 3650.0
"""Predictions beyond ten years are reported as none: the line says little that far out."""
_MAX_CYCLES = 10_000.0
_CYCLE_ROLLBACK = 10
"""A cycle count this far below the highest seen means a new battery (or a reset gauge)."""
_MAX_CORRELATION = 0.85
_MAX_RATIO = (1.0 - _MAX_CORRELATION**GAUGE_LAG) / (1.0 - _MAX_CORRELATION)
_LEVEL_SMOOTHING = 0.25
"""Weight of the newest day in the smoothed daily state of health."""


@dataclass(slots=True)  # not frozen: made on every read, and a frozen init costs
class Crossing:
    """When a fitted line reaches the end-of-life level: a central estimate and an interval."""

    central: float | None
    """None when the line does not fall (or only beyond the horizon of belief)."""
    low: float | None
    high: float | None
    """None when even the interval's slowest fade never reaches the level."""


_NO_CROSSING = Crossing(None, None, None)


@dataclass(slots=True)  # not frozen: made on every read, and a frozen init costs
class BatteryOutlook:
    """Where the battery stands and when it will reach end of life."""

    soh: float | None
    """State of health now (fraction): the fitted level when the fit is trusted, else the smoothed daily
    value; None before any reading."""
    days: Crossing
    """Days from today until the state of health falls below end of life."""
    cycles: Crossing
    """Charge cycles from the current count until then."""
    fade_per_100_cycles: float | None
    """Fitted loss of state of health per 100 cycles (fraction), when trusted."""
    history_days: int
    trusted: bool
    """Enough history for a prediction."""


def close_day(battery: BatteryState, day: int, soh: float, cycles: int, settings: HealthSettings) -> bool:
    """Add a finished day's mean state of health and cycle count; True when this started a new battery."""
    replaced = battery.points > 0 and (
        soh > battery.level + settings.battery_replacement_jump
        or cycles + _CYCLE_ROLLBACK < battery.max_cycles
    )
    if replaced or battery.points == 0:
        battery.by_day.reset()
        battery.by_cycle.reset()
        battery.points = 0
        battery.near_sum = battery.near_sq = battery.near_weight = 0.0
        battery.far_sum = battery.far_sq = battery.far_weight = 0.0
        battery.recent_days.clear()
        battery.recent_soh.clear()
        battery.origin_day = battery.decay_day = day
        battery.level = soh
        battery.max_cycles = cycles
    else:
        factor = 0.5 ** ((day - battery.decay_day) / settings.battery_half_life_days)
        battery.by_day.decay(factor)
        battery.by_cycle.decay(factor)
        battery.decay_day = day
        battery.near_sum *= factor
        battery.near_sq *= factor
        battery.near_weight *= factor
        battery.far_sum *= factor
        battery.far_sq *= factor
        battery.far_weight *= factor
        for past_day, past_soh in zip(battery.recent_days, battery.recent_soh, strict=True):
            lag = day - past_day
            change = soh - past_soh
            if lag == 1:
                battery.near_sum += change
                battery.near_sq += change * change
                battery.near_weight += 1.0
            elif lag == GAUGE_LAG:
                battery.far_sum += change
                battery.far_sq += change * change
                battery.far_weight += 1.0
        battery.level += _LEVEL_SMOOTHING * (soh - battery.level)
        battery.max_cycles = max(battery.max_cycles, cycles)
    # y is centred near 0 (state of health - 1) to keep the running sums well conditioned.
    battery.by_day.add(day - battery.origin_day, soh - 1.0)
    battery.by_cycle.add(cycles, soh - 1.0)
    battery.points += 1
    battery.recent_days.append(day)
    battery.recent_soh.append(soh)
    while battery.recent_days[0] <= day - GAUGE_LAG:
        del battery.recent_days[0]
        del battery.recent_soh[0]
    return replaced


def noise_variance(battery: BatteryState, fit: Fit) -> float:
    """The variance of one day's error to use for the fit's uncertainty.

    A fuel gauge re-learns the capacity now and then, so its error persists for days. Least squares takes
    such days for independent evidence, and over a few weeks the line even bends into the error, so the
    residuals understate it. The variogram of the points tells: the variance of changes one day apart is
    2σ²(1 - ρ), of changes ``GAUGE_LAG`` days apart 2σ²(1 - ρ^lag) (variances, so the trend's share of
    the changes drops out). Their ratio gives the lag-one correlation ρ (capped: a misfit trend looks like
    persistence), then σ², and the variance to use is σ²(1 + ρ)/(1 - ρ), the effective variance of a
    slope fitted through AR(1) noise; never below the residual variance.
    """
    residual = fit.residual_var
    if battery.near_weight < 3.0 or battery.far_weight < 3.0:
        return residual
    near_mean = battery.near_sum / battery.near_weight
    near = battery.near_sq / battery.near_weight - near_mean * near_mean
    far_mean = battery.far_sum / battery.far_weight
    far = battery.far_sq / battery.far_weight - far_mean * far_mean
    if near <= 0.0 or far <= near:
        return max(residual, near / 2.0)
    ratio = min(far / near, _MAX_RATIO)
    # (1 - ρ^lag) / (1 - ρ) grows with ρ from 1 to lag: bisect for the ρ that gives the ratio.
    lo, hi = 0.0, _MAX_CORRELATION
    for _ in range(25):
        rho = (lo + hi) / 2.0
        if (1.0 - rho**GAUGE_LAG) / (1.0 - rho) < ratio:
            lo = rho
        else:
            hi = rho
    rho = (lo + hi) / 2.0
    sigma_sq = near / (2.0 * (1.0 - rho))
    return max(residual, sigma_sq * (1.0 + rho) / (1.0 - rho))


def _crossing(fit: Fit, x_now: float, eol: float, z: float, noise_var: float, cap: float) -> Crossing:
    """How far x must go from ``x_now`` for the line to fall to ``eol`` (y is state of health - 1), with
    the uncertainty of a fit whose points err with variance ``noise_var``."""
    level = fit.predict(x_now) + 1.0
    slope = fit.slope
    if level <= eol:
        return Crossing(0.0, 0.0, 0.0)
    t = fit.t_multiplier(z)
    level_margin = t * fit.level_se(x_now, noise_var)
    slope_margin = t * fit.slope_se(noise_var)
    central = (level - eol) / -slope if slope < 0.0 else math.inf
    steep = slope - slope_margin
    low = max(level - level_margin - eol, 0.0) / -steep if steep < 0.0 else math.inf
    shallow = slope + slope_margin
    high = (level + level_margin - eol) / -shallow if shallow < 0.0 else math.inf
    return Crossing(
        central if central <= cap else None,
        low if low <= cap else None,
        high if high <= cap else None,
    )


def _trusted_fit(
    line_fit: Fit | None, points: int, min_spread: float, settings: HealthSettings
) -> Fit | None:
    if line_fit is None or points < settings.battery_min_days or line_fit.x_std < min_spread:
        return None
    return line_fit


def outlook(battery: BatteryState, today: int, settings: HealthSettings) -> BatteryOutlook:
    """The battery's state of health and time to end of life as of ``today`` (days since the epoch)."""
    if battery.points == 0:
        return BatteryOutlook(None, _NO_CROSSING, _NO_CROSSING, None, 0, False)
    eol = settings.battery_end_of_life
    z = settings.battery_interval_z
    history = today - battery.origin_day
    by_day = _trusted_fit(battery.by_day.fit(), battery.points, settings.battery_min_days / 4.0, settings)
    if by_day is None:
        return BatteryOutlook(battery.level, _NO_CROSSING, _NO_CROSSING, None, history, False)
    x_now = float(history)
    soh = by_day.predict(x_now) + 1.0
    days = _crossing(by_day, x_now, eol, z, noise_variance(battery, by_day), _MAX_DAYS)
    by_cycle = _trusted_fit(
        battery.by_cycle.fit(), battery.points, settings.battery_min_cycle_spread, settings
    )
    if by_cycle is None:
        return BatteryOutlook(soh, days, _NO_CROSSING, None, history, True)
    cycles = _crossing(by_cycle, battery.max_cycles, eol, z, noise_variance(battery, by_cycle), _MAX_CYCLES)
    return BatteryOutlook(soh, days, cycles, -100.0 * by_cycle.slope, history, True)


def _evidence(view: BatteryOutlook, cycle_count: int, design_mah: int) -> dict[str, str | int | float | bool]:
    evidence: dict[str, str | int | float | bool] = {
        "battery_health_pct": round(100.0 * (view.soh or 0.0), 1),
        "cycle_count": cycle_count,
        "design_capacity_mah": design_mah,
        "history_days": view.history_days,
    }
    for key, value in (
        ("days_to_80_pct", view.days.central),
        ("days_to_80_pct_low", view.days.low),
        ("days_to_80_pct_high", view.days.high),
        ("cycles_to_80_pct", view.cycles.central),
        ("cycles_to_80_pct_low", view.cycles.low),
        ("cycles_to_80_pct_high", view.cycles.high),
        (
            "fade_pct_per_100_cycles",
            None if view.fade_per_100_cycles is None else 100 * view.fade_per_100_cycles,
        ),
    ):
        if finite(value):
            evidence[key] = round(value, 1)  # type: ignore[arg-type]
    return evidence


def check(
    battery: BatteryState, today: int, is_open: bool, design_mah: int, settings: HealthSettings
) -> Raise | Clear | None:
    """Raise battery wear when end of life is near or passed; clear it once the battery is healthy again."""
    if battery.points == 0:
        return None
    view = outlook(battery, today, settings)
    soh = view.soh if view.soh is not None else battery.level
    days = view.days.central
    if not is_open:
        if soh < settings.battery_end_of_life and battery.points >= settings.battery_min_days_below:
            return Raise(AlertSeverity.CRITICAL, _evidence(view, battery.max_cycles, design_mah))
        latest = view.days.high
        if (
            days is not None
            and days <= settings.battery_horizon_days
            and latest is not None
            and latest <= settings.battery_interval_max_days
        ):
            severity = (
                AlertSeverity.CRITICAL if days <= settings.battery_critical_days else AlertSeverity.WARNING
            )
            return Raise(severity, _evidence(view, battery.max_cycles, design_mah))
        return None
    far = days is None or days > 2.0 * settings.battery_horizon_days
    if soh >= settings.battery_clear_soh and far:
        return Clear(_evidence(view, battery.max_cycles, design_mah))
    return None
