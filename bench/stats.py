"""Small helpers with no Lingxi imports, shared by the bench process and the load generator."""

from __future__ import annotations

import asyncio
import os
import statistics
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear between closest ranks; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc), or None where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


MACHINE = "machine"
"""Key of the whole machine's busy CPU (all processes, every core) in samples and percentages."""
OTHERS = "others"
"""Key of the CPU used by processes not named in the sample (other work on the machine)."""
NOISY_PERCENT = 20.0
"""Other load (percent of one core) above which a measurement counts as disturbed."""


def machine_busy_seconds() -> float | None:
    """CPU seconds the whole machine has been busy, summed over cores (Linux /proc/stat)."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    idle, steal = values[3] + values[4], values[7]
    return (sum(values) - idle - steal) / os.sysconf("SC_CLK_TCK")


def cpu_sample(pids: dict[str, int]) -> dict[str, float | None]:
    """CPU seconds so far of each named process, and of the whole machine under ``MACHINE``."""
    return {**{name: cpu_seconds(pid) for name, pid in pids.items()}, MACHINE: machine_busy_seconds()}


def cpu_percent(
    before: dict[str, float | None], after: dict[str, float | None], seconds: float
) -> dict[str, float]:
    """Per process, CPU used between two samples as a percentage of one core; ``MACHINE`` is the whole
    machine (up to 100 × cores) and ``OTHERS`` what the named processes do not account for."""
    out: dict[str, float] = {}
    for name, start in before.items():
        end = after.get(name)
        if start is not None and end is not None and seconds > 0:
            out[name] = round((end - start) / seconds * 100, 1)
    if MACHINE in out:
        named = sum(value for name, value in out.items() if name != MACHINE)
        out[OTHERS] = round(max(out[MACHINE] - named, 0.0), 1)
    return out


def event_loop_name() -> str:
    """The event loop ``run`` uses: uvloop where installed (as uvicorn picks it), else asyncio's."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on the loop the services get from uvicorn (uvloop where installed)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
