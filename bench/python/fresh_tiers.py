"""Issue 18's freshness cost on the disk and Redis tiers, Python: for the disk decorator
(@cache(backend="disk")) and the Redis decorator (@cache(backend="redis"): its L1 hit, and its L2
hit with an L1 of one entry and keys rotating), a plain TTL hit against a hit with `stale` set
(fresh) and against a stale hit that schedules a refresh (every call a new stale key; the
refreshes block on an event, so the worker threads do not compete with the reader). One run on
loopback against its own redis-server (tests/python/redis_server.py). Not part of CI.

    .venv/bin/python bench/python/fresh_tiers.py [--repeat 15] [--number 400]

Contenders run in turns, `--repeat` rounds; a figure is the median over the rounds of the time
per call, in wall time and in CPU time of this thread (both printed). Disk and L1 rows are
judged in CPU time (no I/O; the machine is shared), with 20x / 50x `--number` calls per round
for the hits and `--number` for the stale rows (each call a key of its own); L2 rows in wall
time, `--number` calls per round (their CPU time says what the client itself spends).
Targets (issue 18): a hit with stale set <= 1.2x a plain TTL hit; a stale hit that schedules a
refresh <= 3 us.
"""

from __future__ import annotations

import itertools
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import twincache
from benchkit import SECRET, Contender, arguments, own_redis_server, timed_rounds
from redis_server import RedisServer

KEYS = 1000


def measure(contenders: dict[str, Contender], repeat: int) -> dict[str, tuple[float, float]]:
    """Median ns per call of each contender, (wall time, CPU time of this thread), from
    benchkit's rounds in turns. The warm-up calls of the stale rows use keys of their own too (a
    round never meets a key read before)."""
    times = timed_rounds(contenders, repeat, (time.perf_counter, time.thread_time))
    return {
        name: (
            statistics.median(t[0] * 1e9 for t in rounds),
            statistics.median(t[1] * 1e9 for t in rounds),
        )
        for name, rounds in times.items()
    }


def decorated(gate: threading.Event) -> tuple[Callable[[int], int], Callable[[int], int]]:
    """The functions every tier caches: identity (the hits) and one whose refreshes wait on gate
    (the stale rows: a worker thread does not compete with the reader)."""

    def identity(x: int) -> int:
        return x

    def blocked(x: int) -> int:
        gate.wait(120)
        return x

    return identity, blocked


def report(tier: str, both: dict[str, tuple[float, float]], which: int) -> None:
    """which: 0 wall time, 1 CPU time (the figures judged); the other is shown after them."""
    res = {name: pair[which] for name, pair in both.items()}
    other = {name: pair[1 - which] for name, pair in both.items()}
    plain, stale, schedule = res["plain"], res["stale"], res["schedule"]
    ratio = stale / plain
    kinds = ("wall", "CPU")
    print(f"{tier} ({kinds[which]} time; {kinds[1 - which]} time in brackets)")
    print(f"  plain TTL hit                     {plain:9.0f} ns  [{other['plain']:.0f}]")
    print(
        f"  hit with stale set (fresh)        {stale:9.0f} ns  [{other['stale']:.0f}]"
        f"  = {ratio:4.2f}x plain [{other['stale'] / other['plain']:4.2f}x]"
        f"  {'ok' if ratio <= 1.2 else '(target <= 1.2x)'}"
    )
    print(
        f"  stale hit, schedules a refresh    {schedule:9.0f} ns  [{other['schedule']:.0f}]"
        f"  = {schedule / plain:4.2f}x plain"
        f"  {'ok' if schedule <= 3000 else '(target <= 3 us)'}"
    )


def rotating(fn: Callable[[int], object]) -> Callable[[], object]:
    keys = itertools.cycle(range(KEYS))
    return lambda: fn(next(keys))


def fresh_keys(fn: Callable[[int], object]) -> Callable[[], object]:
    keys = itertools.count()
    return lambda: fn(next(keys))


def bench_disk(
    tmp: Path, number: int, repeat: int, gate: threading.Event
) -> dict[str, tuple[float, float]]:
    identity, blocked = decorated(gate)
    plain = twincache.cache(backend="disk", path=str(tmp / "plain"), ttl=60)(identity)
    stale = twincache.cache(backend="disk", path=str(tmp / "stale"), ttl=60, stale=30)(identity)
    # ttl of 1 us: every entry is stale once written (stale for an hour)
    schedule = twincache.cache(backend="disk", path=str(tmp / "sched"), ttl=1e-6, stale=3600)(
        blocked
    )
    plain(1)
    stale(1)
    for i in range(number * (repeat + 1)):
        schedule(i)
    gate.clear()  # refreshes wait from now on: the reader's cost alone is timed
    contenders = {
        "plain": (lambda: plain(1), number * 20),
        "stale": (lambda: stale(1), number * 20),
        "schedule": (fresh_keys(schedule), number),
    }
    return measure(contenders, repeat)


def bench_redis_l1(
    server: RedisServer, number: int, repeat: int, gate: threading.Event
) -> dict[str, tuple[float, float]]:
    identity, blocked = decorated(gate)
    common: dict[str, Any] = {"backend": "redis", "url": server.url, "secret": SECRET}
    plain = twincache.cache(namespace="l1p", ttl=60, **common)(identity)
    stale = twincache.cache(namespace="l1s", ttl=60, stale=30, **common)(identity)
    n = number * (repeat + 1)
    schedule = twincache.cache(namespace="l1x", ttl=0.001, stale=3600, maxsize=2 * n, **common)(
        blocked
    )
    plain(1)
    stale(1)
    for i in range(n):
        schedule(i)
    time.sleep(0.05)  # past the 1 ms ttl in L1: every entry stale there
    gate.clear()
    contenders = {
        "plain": (lambda: plain(1), number * 50),
        "stale": (lambda: stale(1), number * 50),
        "schedule": (fresh_keys(schedule), number),
    }
    return measure(contenders, repeat)


def bench_redis_l2(
    server: RedisServer, number: int, repeat: int, gate: threading.Event
) -> dict[str, tuple[float, float]]:
    identity, blocked = decorated(gate)
    common: dict[str, Any] = {"backend": "redis", "url": server.url, "secret": SECRET, "maxsize": 1}
    plain = twincache.cache(namespace="l2p", ttl=600, **common)(identity)
    stale = twincache.cache(namespace="l2s", ttl=600, stale=600, **common)(identity)
    schedule = twincache.cache(namespace="l2x", ttl=600, stale=600, **common)(blocked)
    n = number * (repeat + 1)
    for i in range(KEYS):
        plain(i)
        stale(i)
    for i in range(n):
        schedule(i)
    # PEXPIRE into the stale window: its PTTL (300 s left of a 600 s window) says stale
    client = server.client()
    names = client.keys("*l2x*")
    assert len(names) == n, (len(names), n)
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.pexpire(name, 300_000)
    pipe.execute()
    gate.clear()
    contenders = {
        "plain": (rotating(plain), number),
        "stale": (rotating(stale), number),
        "schedule": (fresh_keys(schedule), number),
    }
    return measure(contenders, repeat)


def main() -> None:
    args = arguments(__doc__, repeat=15, number=400)
    mode = "native" if twincache.native else "pure (TWINCACHE_PURE=1)"
    with own_redis_server() as server, tempfile.TemporaryDirectory() as tmp:
        print(f"twincache {mode}, Python {sys.version.split()[0]}, load {os.getloadavg()[0]:.2f}")
        print(f"{args.repeat} rounds of {args.number} calls; medians")
        gate = threading.Event()
        gate.set()
        try:
            report("disk decorator", bench_disk(Path(tmp), args.number, args.repeat, gate), 1)
            gate.set()
            report(
                "redis decorator, L1 hit", bench_redis_l1(server, args.number, args.repeat, gate), 1
            )
            gate.set()
            report(
                "redis decorator, L2 hit", bench_redis_l2(server, args.number, args.repeat, gate), 0
            )
        finally:
            gate.set()  # the blocked refreshes finish
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
