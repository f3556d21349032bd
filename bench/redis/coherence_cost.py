"""What coherence on by default costs (issue 17, docs/redis.md "Coherence"): the L1 hit of a
@cache(backend="redis") function, the L2 hit of RedisCache.get (l1_maxsize=1, keys rotating
over 1000 entries of a 1 KiB value) and RedisCache.set, each with coherent=True vs
coherent=False, in the same run against one loopback redis-server; then the same in Node
(bench/redis/coherence_cost.mjs). Rounds alternate the contenders; a figure is the median of
the rounds' time per call, a ratio the median of the per-round ratios (on / off). Not part of CI.

    .venv/bin/python bench/redis/coherence_cost.py [--repeat 15] [--number 400]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "python"))

import twincache
from benchkit import ROOT, SECRET, arguments, own_redis_server, timed_rounds

VALUE = "x" * 1024


def rounds(on: Callable[[], None], off: Callable[[], None], repeat: int, number: int) -> str:
    got = timed_rounds({"on": (on, number), "off": (off, number)}, repeat, warmup=0)
    times = {name: [t[0] * 1e6 for t in per_round] for name, per_round in got.items()}
    ratio = statistics.median(a / b for a, b in zip(times["on"], times["off"], strict=True))
    m_on, m_off = statistics.median(times["on"]), statistics.median(times["off"])
    return f"on {m_on:8.2f} us  off {m_off:8.2f} us  on/off {ratio:.2f}x"


def main() -> None:
    args = arguments(__doc__, repeat=15, number=400)
    print(f"load average {os.getloadavg()}")
    mode = "pure" if os.environ.get("TWINCACHE_PURE") else "native"
    with own_redis_server() as server:
        fns = {}
        for coherent in (True, False):

            @twincache.cache(backend="redis", url=server.url, secret=SECRET, ttl=600,
                             namespace=f"l1{coherent}", coherent=coherent)  # fmt: skip
            def f(x: int) -> int:
                return x

            f(1)
            fns[coherent] = f
        print(
            f"python ({mode}) L1 hit      ",
            rounds(lambda: fns[True](1), lambda: fns[False](1), args.repeat, args.number * 25),
        )
        caches = {}
        for coherent in (True, False):
            c = twincache.RedisCache(server.url, namespace=f"l2{coherent}", secret=SECRET,
                                     l1_maxsize=1, coherent=coherent)  # fmt: skip
            c.set_many({i: VALUE for i in range(1000)})
            caches[coherent] = c
        it = {True: 0, False: 0}

        def get(coherent: bool) -> None:
            it[coherent] = (it[coherent] + 1) % 1000
            caches[coherent].get(it[coherent])

        print(
            f"python ({mode}) L2 hit      ",
            rounds(lambda: get(True), lambda: get(False), args.repeat, args.number),
        )

        def put(coherent: bool) -> None:
            it[coherent] = (it[coherent] + 1) % 1000
            caches[coherent].set(it[coherent], VALUE)

        print(
            f"python ({mode}) set         ",
            rounds(lambda: put(True), lambda: put(False), args.repeat, args.number),
        )
        for c in caches.values():
            c.close()
    with own_redis_server() as server:
        subprocess.run(
            ["node", str(ROOT / "bench" / "redis" / "coherence_cost.mjs"), server.url,
             str(args.repeat), str(args.number)],
            check=True, timeout=600,
        )  # fmt: skip


if __name__ == "__main__":
    main()
