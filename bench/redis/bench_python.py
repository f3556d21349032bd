"""The Redis tier's Python benchmark (issue 16): one run on loopback against its own
redis-server, ratios against the baselines the issue names. Not part of CI (timed thresholds
live here, never in tests).

    .venv/bin/python bench/redis/bench_python.py [--repeat 5] [--number 2000]

Rows (per call, median of --repeat runs of --number calls; ratio = twincache / baseline):
- L1 hit: a @cache(backend="redis") function whose result is in L1, vs the memory
  @cache(ttl=...) hit (target <= 1.5x).
- L2 hit: RedisCache.get of a 1 KiB value that L1 does not hold (l1_maxsize=1, keys rotating),
  vs a bare redis-py GET + pickle.loads (target <= 1.3x); the same for json.
- get_many(100 keys, L1 misses) vs one bare GET (target <= 3x).
- async L2 hit: RedisCache.aget vs redis.asyncio GET + pickle.loads (target <= 1.3x).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pickle
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "python"))

import redis
import redis.asyncio

import twincache
from redis_server import RedisServer

SECRET = "bench-secret-0123456789abcdef"
KEYS = 1000
VALUE = {"payload": "x" * 1000, "n": 1}  # about 1 KiB pickled or as JSON


def per_call(fn: Callable[[], object], number: int, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - started) / number)
    return statistics.median(runs)


async def aper_call(fn: Callable[[], Awaitable[object]], number: int, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(number):
            await fn()
        runs.append((time.perf_counter() - started) / number)
    return statistics.median(runs)


def row(title: str, ours: float, base: float, target: float | None) -> None:
    ratio = ours / base
    verdict = "" if target is None else ("  ok" if ratio <= target else f"  (target <= {target}x)")
    print(f"{title:<46} {ours * 1e6:9.2f} us  vs {base * 1e6:9.2f} us  = {ratio:5.2f}x{verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--number", type=int, default=2000)
    args = parser.parse_args()
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (scripts/setup)")
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(binary, Path(tmp))
        server.start()
        try:
            run(server, args.number, args.repeat)
        finally:
            server.stop()


def run(server: RedisServer, number: int, repeat: int) -> None:
    mode = "native" if twincache.native else "pure"
    print(f"twincache {mode}, redis-py {redis.__version__}, loopback redis-server :{server.port}")
    bare = redis.Redis.from_url(server.url)

    # L1 hit vs the memory decorator's hit.
    @twincache.cache(ttl=60)
    def memory(x: int) -> int:
        return x

    @twincache.cache(backend="redis", url=server.url, ttl=60, secret=SECRET, namespace="b1")
    def remote(x: int) -> int:
        return x

    memory(1)
    remote(1)
    row(
        "L1 hit: @cache(backend='redis') vs @cache(ttl)",
        per_call(lambda: remote(1), number * 10, repeat),
        per_call(lambda: memory(1), number * 10, repeat),
        1.5,
    )

    for codec, loads in (("pickle", pickle.loads), ("json", json.loads)):
        c = twincache.RedisCache(
            server.url, namespace="b2" + codec, codec=codec, secret=SECRET, l1_maxsize=1
        )
        c.set_many({i: VALUE for i in range(KEYS)})
        names = [f"{c.namespace}:{twincache._keys.hash128_hex(i)}" for i in range(KEYS)]
        bare.mset({f"bare{codec}:{i}": (pickle.dumps if codec == "pickle" else _json)(VALUE)
                   for i in range(KEYS)})  # fmt: skip
        assert len(names) == KEYS
        counter = iter(range(10**9))

        def ours(c: twincache.RedisCache = c, counter: Iterator[int] = counter) -> object:
            return c.get(next(counter) % KEYS)

        def base(
            loads: Callable[[bytes], object] = loads,
            codec: str = codec,
            counter: Iterator[int] = counter,
        ) -> object:
            return loads(bare.get(f"bare{codec}:{next(counter) % KEYS}"))

        row(f"L2 hit, 1 KiB {codec}: get vs GET + loads", per_call(ours, number, repeat),
            per_call(base, number, repeat), 1.3)  # fmt: skip
        c.close()

    c = twincache.RedisCache(server.url, namespace="b3", secret=SECRET, l1_maxsize=1)
    c.set_many({i: VALUE for i in range(KEYS)})
    batch = list(range(100))
    row(
        "get_many(100 keys, L1 misses) vs one GET",
        per_call(lambda: c.get_many(batch), number // 10, repeat),
        per_call(lambda: pickle.loads(bare.get("barepickle:1")), number, repeat),
        3.0,
    )
    asyncio.run(arun(server, number, repeat))


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


async def arun(server: RedisServer, number: int, repeat: int) -> None:
    c = twincache.RedisCache(server.url, namespace="b4", secret=SECRET, l1_maxsize=1)
    await c.aset_many({i: VALUE for i in range(KEYS)})
    bare = redis.asyncio.Redis.from_url(server.url)
    counter = iter(range(10**9))

    async def ours() -> object:
        return await c.aget(next(counter) % KEYS)

    async def base() -> object:
        return pickle.loads(await bare.get(f"barepickle:{next(counter) % KEYS}"))

    row("async L2 hit, 1 KiB pickle: aget vs GET + loads", await aper_call(ours, number, repeat),
        await aper_call(base, number, repeat), 1.3)  # fmt: skip
    await c.aclose()
    await bare.aclose()


if __name__ == "__main__":
    main()
