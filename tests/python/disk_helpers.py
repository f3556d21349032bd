"""The disk tier's manual wall clock as the tests drive it: conftest.py's disk_clock fixture yields
a DiskClock (test_disk.py, test_disk_evict.py advance it; other suites only need the clock held)."""

from __future__ import annotations

from twincache import _disk


class DiskClock:
    def advance(self, seconds: float) -> None:
        _disk.clock_advance(round(seconds * 1e9))
