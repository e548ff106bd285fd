"""When purchases pile up, lists wait: the backlog is busy while reads come back full, a moment after."""

from __future__ import annotations

from lingxi_personalization.pacing import Backlog


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_full_read_makes_the_backlog_busy_for_a_moment() -> None:
    clock = Clock()
    backlog = Backlog(200, clock=clock, memory_s=1.0)
    assert not backlog.busy, "nothing read yet"
    backlog.saw_read(199)
    assert not backlog.busy, "a read that was not full: nothing waits behind it"
    backlog.saw_read(200)
    assert backlog.busy
    clock.now += 0.9
    assert backlog.busy
    clock.now += 0.2
    assert not backlog.busy, "no full read for a second: the burst is over"
    backlog.saw_read(200)
    assert backlog.busy
