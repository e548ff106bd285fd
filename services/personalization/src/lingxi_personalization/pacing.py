"""Whether purchases are piling up, so that work which can wait (refreshing lists) lets them through."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class Backlog:
    """Busy while the last read of purchases came back full (``full_read`` of them), a moment ago:
    more were waiting behind it."""

    def __init__(
        self, full_read: int, *, clock: Callable[[], float] = time.monotonic, memory_s: float = 1.0
    ) -> None:
        self._full_read = full_read
        self._clock = clock
        self._memory_s = memory_s
        self._full_at = -math.inf

    def saw_read(self, size: int) -> None:
        if size >= self._full_read:
            self._full_at = self._clock()

    @property
    def busy(self) -> bool:
        return self._clock() - self._full_at < self._memory_s
