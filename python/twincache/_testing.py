"""Test hooks: drive the clock every expiry decision reads (the pure implementation's clock, or
the core's twincache::clock through the native module), so tests never sleep."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from ._backend import impl

T = TypeVar("T")


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


@contextmanager
def random_source(fn: Callable[[], float]) -> Iterator[None]:
    """Replaces the U[0, 1) source of the freshness options (early refresh, TTL jitter)."""
    from . import _fresh

    saved = _fresh.random_source
    _fresh.random_source = fn
    try:
        yield
    finally:
        _fresh.random_source = saved


def wait_refreshes(func: Any, timeout: float = 10.0) -> bool:
    """Waits for the background refreshes of a decorated sync function in flight now."""
    done: bool = func._freshness.wait(timeout)
    return done


async def join_refreshes(func: Any) -> None:
    """Awaits the background refreshes of a decorated async function in flight now."""
    await func._freshness.join()


def call_together(n: int, fn: Callable[[int], T], timeout: float = 30.0) -> list[T]:
    """Runs fn(i) for i in range(n) on n threads released at once by one barrier, joins them, and
    returns their results in the order they finished. A thread still running after timeout, or
    one that raised, fails the call (AssertionError), so a test never passes on missing results."""
    barrier = threading.Barrier(n)
    results: list[T] = []
    errors: list[BaseException] = []
    lock = threading.Lock()  # guards results and errors

    def body(i: int) -> None:
        try:
            barrier.wait(timeout)
            value = fn(i)
        except BaseException as e:  # reported to the caller below
            with lock:
                errors.append(e)
            return
        with lock:
            results.append(value)

    threads = [threading.Thread(target=body, args=(i,), name=f"caller{i}") for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), f"call_together: a thread ran past {timeout} s"
    if errors:
        raise AssertionError(f"call_together: {len(errors)} of {n} calls raised") from errors[0]
    return results
