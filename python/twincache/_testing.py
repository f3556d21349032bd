"""Test hooks: drive the clock every expiry decision reads (the pure implementation's clock, or
the core's twincache::clock through the native module), so tests never sleep."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ._backend import impl


class ManualClock:
    """Manual time; only differences matter."""

    def advance(self, seconds: float) -> None:
        impl.clock_advance(round(seconds * 1e9))

    def now_ns(self) -> int:
        now: int = impl.clock_now()
        return now


@contextmanager
def manual_clock(start_ns: int = 1_000_000_000_000) -> Iterator[ManualClock]:
    """Switches the process-wide cache clock to manual time for the duration of the block."""
    impl.clock_set_manual(start_ns)
    try:
        yield ManualClock()
    finally:
        impl.clock_set_real()
