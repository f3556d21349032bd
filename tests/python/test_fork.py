"""Issue 14, item 3: fork() while other threads use twincache. A child's first call must work
whatever the parent's threads were doing: every lock, connection and in-flight table it inherits
is renewed (twincache._fork, and pthread_atfork in the native core). Each child runs under an
alarm and the parent waits for it with a time limit, so a deadlock fails the test instead of
hanging it; the child reports through its exit code."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import twincache

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="the platform has no os.fork()"),
    # Python 3.12+ warns that forking a multi-threaded process may deadlock the child: that is
    # the very case under test.
    pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning"),
]

CHILD_ALARM_S = 20  # a child still running after this dies of SIGALRM
HUNG = -1000  # outcome of a child the parent had to kill


def run_child(child: Callable[[], int]) -> int:
    """Forks; the child runs child() under an alarm and exits with its result (99: it raised).
    Returns the child's exit code, -signal if a signal ended it, HUNG if the parent killed it."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 98
        try:
            signal.alarm(CHILD_ALARM_S)
            code = child()
        except BaseException as exc:
            os.write(2, f"child raised {exc!r}\n".encode())
            code = 99
        finally:
            os._exit(code)
    deadline = time.monotonic() + CHILD_ALARM_S + 10
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return HUNG
        time.sleep(0.005)


class Busy:
    """Threads running body(i) in a loop until stopped."""

    def __init__(self, body: Callable[[int], object], threads: int = 2) -> None:
        self.stop = threading.Event()
        self.errors: list[BaseException] = []

        def loop(t: int) -> None:
            i = t
            try:
                while not self.stop.is_set():
                    body(i)
                    i += threads
            except BaseException as exc:  # pragma: no cover - reported by join()
                self.errors.append(exc)

        self.threads = [threading.Thread(target=loop, args=(t,)) for t in range(threads)]
        for th in self.threads:
            th.start()

    def join(self) -> None:
        self.stop.set()
        for th in self.threads:
            th.join()
        assert self.errors == []


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[twincache.DiskCache]:
    cache = twincache.DiskCache(tmp_path / "cache")
    yield cache
    cache.flush()


FORKS = 20


def test_children_of_a_busy_disk_writer_write_and_read(disk: twincache.DiskCache) -> None:
    def body(i: int) -> None:
        disk[f"k{i % 500}"] = "x" * (i % 300)
        disk.get(f"k{(i * 7) % 500}")

    busy = Busy(body)
    outcomes = []
    try:
        for f in range(FORKS):
            time.sleep(0.005)  # let the writers run between forks (not needed for correctness)

            def child(f: int = f) -> int:
                disk[f"child{f}"] = [f, "from the child"]
                if disk[f"child{f}"] != [f, "from the child"]:
                    return 3
                disk.flush()  # os._exit() runs no atexit handler
                return 0

            outcomes.append(run_child(child))
    finally:
        busy.join()
    assert outcomes == [0] * FORKS, f"exit codes (-14: SIGALRM, {HUNG}: hung): {outcomes}"
    # Each child's write is in the shared directory, and the parent's store still works.
    for f in range(FORKS):
        assert disk[f"child{f}"] == [f, "from the child"]
    disk["after"] = 1
    assert disk["after"] == 1


def test_children_of_busy_memoized_callers_call(tmp_path: Path) -> None:
    @twincache.cache(maxsize=256)
    def square(x: int) -> int:
        return x * x

    @twincache.cache(backend="disk", path=tmp_path / "memo")
    def cube(x: int) -> int:
        return x * x * x

    busy = Busy(lambda i: (square(i % 1000), cube(i % 50)))
    outcomes = []
    try:
        for _ in range(FORKS // 2):
            time.sleep(0.005)
            outcomes.append(
                run_child(lambda: 0 if (square(12345), cube(77)) == (12345**2, 77**3) else 3)
            )
    finally:
        busy.join()
    assert outcomes == [0] * (FORKS // 2), f"exit codes (-14: SIGALRM, {HUNG}: hung): {outcomes}"


def test_single_flight_computation_in_flight_at_fork_is_not_waited_for() -> None:
    """The parent's thread computing f(1) does not exist in the child: the child's f(1)
    computes on its own instead of waiting for it."""
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    @twincache.cache(single_flight=True)
    def f(x: int) -> str:
        calls.append(f"pid {os.getpid()}")
        if os.getpid() == parent:
            started.set()
            release.wait()
        return f"computed by {os.getpid()}"

    parent = os.getpid()
    leader = threading.Thread(target=f, args=(1,))
    leader.start()
    assert started.wait(10)

    def child() -> int:
        return 0 if f(1) == f"computed by {os.getpid()}" and f(1) == f(1) else 3

    try:
        outcome = run_child(child)
    finally:
        release.set()
        leader.join()
    assert outcome == 0, f"exit code (-14: SIGALRM, {HUNG}: hung): {outcome}"
    assert f(1) == f"computed by {parent}", "the parent's computation is stored in the parent"
    assert calls == [f"pid {parent}"]


def test_async_flight_table_is_emptied_in_the_child() -> None:
    """An async computation in flight in the parent (its task pending in an event loop) is
    forgotten by the child: the child's call of the same key, even in the same loop object,
    computes on its own instead of awaiting a task that nothing will ever finish."""
    import asyncio

    parent = os.getpid()
    never = asyncio.Event()
    calls: list[int] = []

    @twincache.cache()
    async def g(x: int) -> int:
        calls.append(os.getpid())
        if os.getpid() == parent:
            await never.wait()
        return os.getpid()

    loop = asyncio.new_event_loop()
    try:
        task = loop.create_task(g(1))
        while not calls:
            loop.run_until_complete(asyncio.sleep(0))
        outcome = run_child(lambda: 0 if loop.run_until_complete(g(1)) == os.getpid() else 3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            loop.run_until_complete(task)
    finally:
        loop.close()
    assert outcome == 0, f"exit code (-14: SIGALRM, {HUNG}: hung): {outcome}"
    assert calls == [parent]
