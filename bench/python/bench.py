"""twincache's Python benchmark: one run, every scenario of issue 3, against functools.lru_cache,
cachetools, cachebox and theine (scripts/requirements-bench.txt; `scripts/setup --bench`).

    .venv/bin/python bench/python/bench.py [--repeat 7] [--markdown]

Each figure is the median over --repeat runs of the time per call (timeit loops of --number
calls, loop overhead included for everyone alike). Ratios are twincache / peer: below 1.0 means
twincache is faster. Timed thresholds live here, never in tests.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import os
import platform
import statistics
import sys
import timeit
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import cachebox
import cachetools
import theine

import twincache

MAXSIZE = 1024


def per_call_ns(stmt: str, number: int, repeat: int, **names: Any) -> float:
    """Median time of one execution of `stmt` (a statement timeit compiles into its loop, so
    nothing but the statement and the loop is measured), in nanoseconds."""
    times = timeit.repeat(stmt, number=number, repeat=repeat, globals=names)
    return statistics.median(times) / number * 1e9


def identity(x: int, y: int = 0) -> int:
    return x + y


# --- the decorated variants of one function ----------------------------------------------------


def decorated_hit(ttl: bool) -> dict[str, Callable[..., Any]]:
    out: dict[str, Callable[..., Any]] = {}
    if ttl:
        out["twincache"] = twincache.cache(maxsize=MAXSIZE, ttl=60)(identity)
        out["cachetools"] = cachetools.cached(cachetools.TTLCache(MAXSIZE, ttl=60))(identity)
        out["cachebox"] = cachebox.cached(cachebox.TTLCache(MAXSIZE, global_ttl=60))(identity)
        out["theine"] = theine.Memoize(MAXSIZE, timedelta(seconds=60))(identity)
    else:
        out["twincache"] = twincache.lru_cache(maxsize=MAXSIZE)(identity)
        out["functools"] = functools.lru_cache(maxsize=MAXSIZE)(identity)
        out["cachetools"] = cachetools.cached(cachetools.LRUCache(MAXSIZE))(identity)
        out["cachebox"] = cachebox.cached(cachebox.LRUCache(MAXSIZE))(identity)
        out["theine"] = theine.Memoize(MAXSIZE, None)(identity)
    return out


def bench_hit(number: int, repeat: int, ttl: bool) -> dict[str, float]:
    results = {}
    for name, f in decorated_hit(ttl).items():
        f(1)
        results[name] = per_call_ns("f(1)", number, repeat, f=f)
    if ttl:  # the target compares a TTL hit with functools' plain hit
        g = functools.lru_cache(maxsize=MAXSIZE)(identity)
        g(1)
        results["functools (no TTL)"] = per_call_ns("g(1)", number, repeat, g=g)
    return results


def bench_kwargs_hit(number: int, repeat: int) -> dict[str, float]:
    results = {}
    for name, f in decorated_hit(False).items():
        f(1, y=2)
        results[name] = per_call_ns("f(1, y=2)", number, repeat, f=f)
    return results


def bench_miss(number: int, repeat: int) -> dict[str, float]:
    """Every call is a miss with a new key: compute, insert, evict the oldest (cache full)."""
    results = {
        "(loop + next(keys) alone)": per_call_ns(
            "next(keys)", number, repeat, keys=itertools.count()
        )
    }
    for name, f in decorated_hit(False).items():
        keys = itertools.count()
        for i in range(MAXSIZE * 2):
            f(-1 - i)  # fill: every timed call evicts
        results[name] = per_call_ns("f(next(keys))", number, repeat, f=f, keys=keys)
    return results


async def _await_loop(fn: Callable[[int], Any], n: int) -> None:
    for _ in range(n):
        await fn(1)


def bench_async(number: int, repeat: int) -> dict[str, float]:
    async def coro(x: int) -> int:
        return x

    variants: dict[str, Callable[[int], Any]] = {
        "bare coroutine": coro,
        "twincache": twincache.cache(maxsize=MAXSIZE)(coro),
        "cachebox": cachebox.cached(cachebox.LRUCache(MAXSIZE))(coro),
        "theine": theine.Memoize(MAXSIZE, None)(coro),
    }
    results = {}
    loop = asyncio.new_event_loop()
    try:
        for name, fn in variants.items():
            loop.run_until_complete(_await_loop(fn, 10))
            runs = []
            for _ in range(repeat):
                t0 = timeit.default_timer()
                loop.run_until_complete(_await_loop(fn, number))
                runs.append(timeit.default_timer() - t0)
            results[name] = statistics.median(runs) / number * 1e9
    finally:
        loop.close()
    return results


def bench_cache_get(number: int, repeat: int) -> dict[str, float]:
    tc = twincache.Cache(maxsize=MAXSIZE)
    ct = cachetools.LRUCache(MAXSIZE)
    cb = cachebox.LRUCache(MAXSIZE)
    th = theine.Cache(MAXSIZE)
    for i in range(MAXSIZE):
        tc[i] = i
        ct[i] = i
        cb[i] = i
        th.set(i, i)
    key = 7
    return {
        "twincache .get": per_call_ns("c.get(key)", number, repeat, c=tc, key=key),
        "twincache [k]": per_call_ns("c[key]", number, repeat, c=tc, key=key),
        "cachetools .get": per_call_ns("c.get(key)", number, repeat, c=ct, key=key),
        "cachebox .get": per_call_ns("c.get(key)", number, repeat, c=cb, key=key),
        "cachebox [k]": per_call_ns("c[key]", number, repeat, c=cb, key=key),
        "theine .get": per_call_ns("c.get(key)", number, repeat, c=th, key=key),
    }


def bench_cache_set(number: int, repeat: int) -> dict[str, float]:
    """Sets of new keys into a full cache: insert plus one eviction each."""
    tc = twincache.Cache(maxsize=MAXSIZE)
    ct = cachetools.LRUCache(MAXSIZE)
    cb = cachebox.LRUCache(MAXSIZE)
    th = theine.Cache(MAXSIZE)
    results = {}
    for name, setter in [
        ("twincache [k]=v", tc.__setitem__),
        ("cachetools [k]=v", ct.__setitem__),
        ("cachebox [k]=v", cb.__setitem__),
        ("theine .set", th.set),
    ]:
        keys = itertools.count()
        for i in range(MAXSIZE * 2):
            setter(-1 - i, i)
        results[name] = per_call_ns("s(next(keys), 1)", number, repeat, s=setter, keys=keys)
    return results


def ratio(results: dict[str, float], ours: str, peer: str) -> str:
    return f"{results[ours] / results[peer]:.2f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--number", type=int, default=200_000)
    parser.add_argument("--markdown", action="store_true", help="print a docs/benchmarks.md table")
    args = parser.parse_args()
    if not twincache.native:
        sys.exit("bench: twincache is not using its native module (pip install . first)")
    n, r = args.number, args.repeat

    scenarios = {
        "hit, 1 int arg": bench_hit(n, r, ttl=False),
        "hit, kwargs": bench_kwargs_hit(n, r),
        "hit, TTL": bench_hit(n, r, ttl=True),
        "miss + insert + eviction": bench_miss(n // 4, r),
        "async hit": bench_async(n, r),
        "Cache get (hit)": bench_cache_get(n, r),
        "Cache set (new key, eviction)": bench_cache_set(n // 4, r),
    }
    print(
        f"# {platform.python_implementation()} {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs; median of {r} x {n} calls; ns per call"
    )
    for title, results in scenarios.items():
        print(f"\n## {title}")
        for name, ns in results.items():
            print(f"  {name:<24} {ns:8.1f} ns")

    hit = scenarios["hit, 1 int arg"]
    kw = scenarios["hit, kwargs"]
    ttl = scenarios["hit, TTL"]
    aio = scenarios["async hit"]
    get = scenarios["Cache get (hit)"]
    checks = [
        (
            "hit <= 1.2x functools",
            ratio(hit, "twincache", "functools"),
            hit["twincache"] <= 1.2 * hit["functools"],
        ),
        (
            "kwargs hit <= 1.2x functools",
            ratio(kw, "twincache", "functools"),
            kw["twincache"] <= 1.2 * kw["functools"],
        ),
        (
            "TTL hit <= 1.5x functools hit",
            ratio(ttl, "twincache", "functools (no TTL)"),
            ttl["twincache"] <= 1.5 * ttl["functools (no TTL)"],
        ),
        (
            "async hit <= bare coroutine + 150 ns",
            f"+{aio['twincache'] - aio['bare coroutine']:.0f} ns",
            aio["twincache"] <= aio["bare coroutine"] + 150,
        ),
        (
            "Cache get >= 3x faster than cachebox",
            ratio(get, "twincache .get", "cachebox .get"),
            get["twincache .get"] * 3 <= get["cachebox .get"],
        ),
        (
            "Cache get >= 3x faster than theine",
            ratio(get, "twincache .get", "theine .get"),
            get["twincache .get"] * 3 <= get["theine .get"],
        ),
    ]
    print("\n## targets (ratio = twincache / peer)")
    for name, value, ok in checks:
        print(f"  {'met   ' if ok else 'MISSED'} {name:<40} {value}")

    if args.markdown:
        print("\n| scenario | " + " | ".join(["library", "ns/call", "twincache / it"]) + " |")
        print("|---|---|---:|---:|")
        for title, results in scenarios.items():
            ours = next(k for k in results if k.startswith("twincache"))
            for name, ns in results.items():
                rel = "" if name == ours else f"{results[ours] / ns:.2f}x"
                print(f"| {title} | {name} | {ns:.0f} | {rel} |")


if __name__ == "__main__":
    main()
