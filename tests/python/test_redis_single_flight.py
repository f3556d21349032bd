"""Single flight of sync redis-backed functions within a process (docs/redis.md, "Decorated
functions"): threads calling one cold key read Redis and compute once; the others wait for the
leader's value or exception, at most twincache._api.SINGLE_FLIGHT_WAIT_S; invalidate() during a
computation keeps its late result out; a forked child does not wait for the parent's threads.
Against a real redis-server (tests/python/redis_server.py). Runs native and TWINCACHE_PURE=1."""

from __future__ import annotations

import itertools
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import twincache
from redis_server import RedisServer, server_fixture
from twincache import _api

redis_server = server_fixture()
SECRET = "test-secret-0123456789abcdef"
# coherent=False: these tests count L1 hits after a function's own writes, which a coherent
# L1 gives up (docs/redis.md, "Coherence"); coherence is tested in test_redis_coherence.py.
REDIS: dict[str, Any] = {"backend": "redis", "coherent": False}
THREADS = 8
_ids = itertools.count()


def decorator(server: RedisServer, **opts: Any) -> Any:
    """@cache(backend="redis") on this module's server, in a fresh namespace."""
    return twincache.cache(**REDIS, url=server.url, secret=SECRET, ttl=600,
                           namespace=f"sf{next(_ids)}", **opts)  # fmt: skip


def waiting_threads(threads: list[threading.Thread], computing: str) -> int:
    """How many of `threads` are blocked in the single flight's wait (in _thread_flight, not in
    the function `computing`, innermost in a wait)."""
    frames = sys._current_frames()
    n = 0
    for t in threads:
        frame = frames.get(t.ident or -1)
        names = []
        while frame is not None:
            names.append(frame.f_code.co_name)
            frame = frame.f_back
        if names and names[0] == "wait" and "_thread_flight" in names and computing not in names:
            n += 1
    return n


def until(condition: Callable[[], bool], limit: float = 10.0) -> bool:
    """Polls condition (the test's own synchronisation, not a timed assertion): False after
    `limit` seconds, and the test's count assertions then say what went wrong."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


def run_together(target: Callable[[], None], n: int) -> list[threading.Thread]:
    """n threads that pass a barrier together, then run target; started, not joined."""
    barrier = threading.Barrier(n)

    def body() -> None:
        barrier.wait(10)
        target()

    threads = [threading.Thread(target=body, name=f"caller{i}") for i in range(n)]
    for t in threads:
        t.start()
    return threads


def test_threads_on_one_cold_key_compute_once(redis_server: RedisServer) -> None:
    release = threading.Event()
    calls: list[str] = []

    @decorator(redis_server)
    def slow(x: int) -> int:
        calls.append(threading.current_thread().name)
        release.wait(10)
        return x * 10

    results: list[int] = []
    threads = run_together(lambda: results.append(slow(1)), THREADS)
    all_waiting = until(lambda: len(calls) == 1 and waiting_threads(threads, "slow") == THREADS - 1)
    release.set()
    for t in threads:
        t.join()
    assert all_waiting, f"{THREADS - 1} threads should wait for the leader (calls: {calls})"
    assert results == [10] * THREADS
    assert len(calls) == 1
    s = slow.stats()
    assert (s["misses"], s["hits"], s["l2_sets"], s["l2_misses"]) == (1, THREADS - 1, 1, 1)
    assert slow(1) == 10 and slow.stats()["l1_hits"] == 1
    assert len(redis_server.client().keys(f"{slow.redis_cache.namespace}:*")) == 1


def test_threads_on_a_key_redis_holds_read_it_once(redis_server: RedisServer) -> None:
    """Another process's L1 is cold, Redis has the value: one read for all the threads."""
    deco = decorator(redis_server)
    calls: list[int] = []

    def compute(x: int) -> int:
        calls.append(x)
        return x + 1

    writer, reader = deco(compute), deco(compute)
    assert writer(5) == 6
    results: list[int] = []
    threads = run_together(lambda: results.append(reader(5)), THREADS)
    for t in threads:
        t.join()
    assert results == [6] * THREADS and calls == [5]
    s = reader.stats()
    assert s["misses"] == 0 and s["hits"] == THREADS
    assert s["l2_hits"] + s["l2_misses"] <= THREADS  # no more reads than callers
    assert s["l2_hits"] >= 1


def test_an_exception_reaches_every_waiter_and_is_not_cached(redis_server: RedisServer) -> None:
    release = threading.Event()
    calls: list[int] = []

    @decorator(redis_server)
    def failing(x: int) -> int:
        calls.append(x)
        release.wait(10)
        raise ValueError(f"boom {x}")

    errors: list[str] = []

    def call() -> None:
        try:
            failing(2)
        except ValueError as exc:
            errors.append(str(exc))

    threads = run_together(call, THREADS)
    all_waiting = until(
        lambda: len(calls) == 1 and waiting_threads(threads, "failing") == THREADS - 1
    )
    release.set()
    for t in threads:
        t.join()
    assert all_waiting
    assert errors == ["boom 2"] * THREADS and calls == [2]
    with pytest.raises(ValueError, match="boom 2"):
        failing(2)
    assert calls == [2, 2], "not cached: the next call computes again"
    assert failing.stats()["l2_sets"] == 0


def test_a_cached_exception_reaches_waiters_once_computed(redis_server: RedisServer) -> None:
    release = threading.Event()
    calls: list[int] = []

    @decorator(redis_server, cache_errors=LookupError, error_ttl=60)
    def lookup(x: int) -> int:
        calls.append(x)
        release.wait(10)
        raise KeyError(x)

    errors: list[type] = []

    def call() -> None:
        try:
            lookup(3)
        except LookupError as exc:
            errors.append(type(exc))

    threads = run_together(call, 4)
    all_waiting = until(lambda: len(calls) == 1 and waiting_threads(threads, "lookup") == 3)
    release.set()
    for t in threads:
        t.join()
    assert all_waiting
    assert errors == [KeyError] * 4 and calls == [3]
    with pytest.raises(KeyError):
        lookup(3)
    assert calls == [3] and lookup.stats()["l2_sets"] == 1


def test_a_waiter_computes_on_its_own_after_the_limit(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_api, "SINGLE_FLIGHT_WAIT_S", 0.05)
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    @decorator(redis_server)
    def f(x: int) -> str:
        me = threading.current_thread().name
        calls.append(me)
        if me == "leader":
            started.set()
            release.wait(10)
        return f"{x} by {me}"

    result: dict[str, str] = {}
    leader = threading.Thread(target=lambda: result.update(value=f(1)), name="leader")
    leader.start()
    assert started.wait(10)
    try:
        assert f(1) == "1 by MainThread", "the waiter gave the stuck computation up"
    finally:
        release.set()
        leader.join()
    assert result["value"] == "1 by leader", "the leader's caller still gets its result"
    assert calls == ["leader", "MainThread"]
    f.redis_cache._l1.clear()
    assert f(1) == "1 by MainThread", "Redis holds the waiter's result, not the late one"


def test_invalidate_during_a_computation_keeps_its_result_out(redis_server: RedisServer) -> None:
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    @decorator(redis_server)
    def f(x: int) -> str:
        me = threading.current_thread().name
        calls.append(me)
        if me == "leader":
            started.set()
            release.wait(10)
        return f"{x} by {me}"

    leader = threading.Thread(target=f, args=(1,), name="leader")
    leader.start()
    assert started.wait(10)
    f.invalidate(1)
    release.set()
    leader.join()
    assert f(1) == "1 by MainThread"
    assert calls == ["leader", "MainThread"]


def test_a_recursive_call_into_the_same_key_raises(redis_server: RedisServer) -> None:
    @decorator(redis_server)
    def selfish(x: int) -> int:
        return int(selfish(x)) + 1

    with pytest.raises(RuntimeError, match="same arguments while computing them"):
        selfish(1)
    assert selfish.stats()["l2_sets"] == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the platform has no os.fork()")
@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
def test_a_forked_child_does_not_wait_for_the_parents_computation(
    redis_server: RedisServer,
) -> None:
    from test_fork import HUNG, run_child

    started, release = threading.Event(), threading.Event()
    parent = os.getpid()
    calls: list[int] = []

    @decorator(redis_server)
    def f(x: int) -> str:
        calls.append(os.getpid())
        if os.getpid() == parent:
            started.set()
            release.wait(10)
        return f"computed by {os.getpid()}"

    leader = threading.Thread(target=f, args=(1,))
    leader.start()
    assert started.wait(10)

    def child() -> int:
        return 0 if f(1) == f"computed by {os.getpid()}" else 3

    try:
        outcome = run_child(child)
    finally:
        release.set()
        leader.join()
    assert outcome == 0, f"exit code (-14: SIGALRM, {HUNG}: hung): {outcome}"
    assert calls == [parent], "the child's computation ran in the child"
