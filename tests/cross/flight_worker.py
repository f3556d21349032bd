"""The Python half of tests/cross/redis_flight.py (single flight across processes): 25 callers of
RedisCache.get_or_set (threads) or aget_or_set (asyncio tasks) on one cold key, released
together once the driver writes "go". The computation counts itself with INCR on a counter key
(the side channel); with mode "kill" the first computation records its pid and hangs, for the
driver to SIGKILL. Prints one JSON line: the values the callers got.

    python flight_worker.py <url> <threads|asyncio> <once|kill> <lease seconds>
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time

import redis

import twincache

CALLERS = 25
KEY = "stampede"


def main() -> None:
    url, style, mode, lease = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    side = redis.Redis.from_url(url)
    cache = twincache.RedisCache(url, namespace="flight", codec="json", timeout=2.0)

    def compute() -> dict[str, object]:
        n = side.incr("flight:runs")
        if mode == "kill" and n == 1:
            side.set("flight:leader", os.getpid())
            time.sleep(60)  # killed by the driver long before
        time.sleep(0.5)
        return {"v": 42, "by": f"python-{style}", "run": n}

    async def acompute() -> dict[str, object]:
        return await asyncio.to_thread(compute)

    print("ready", flush=True)
    sys.stdin.readline()  # "go"
    results: list[object] = []
    if style == "threads":
        barrier = threading.Barrier(CALLERS)

        def caller() -> None:
            barrier.wait(10)
            results.append(cache.get_or_set(KEY, compute, ttl=60, lease=lease))

        threads = [threading.Thread(target=caller) for _ in range(CALLERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:

        async def callers() -> None:
            got = await asyncio.gather(
                *(cache.aget_or_set(KEY, acompute, ttl=60, lease=lease) for _ in range(CALLERS))
            )
            results.extend(got)
            await cache.aclose()

        asyncio.run(callers())
    print(json.dumps({"results": results, "stats": cache.stats()}), flush=True)
    cache.close()


if __name__ == "__main__":
    main()
