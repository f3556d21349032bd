"""Invalidation latency of the Redis tier's L1 coherence (issue 17, Python side; docs/redis.md
"Coherence"): a writer process sets entries of a namespace one at a time; this process holds a
coherent RedisCache of that namespace and notes when each name's invalidation reaches its
listener. Latency = arrival - the moment just before the writer's SET (CLOCK_MONOTONIC, shared
by the processes of one machine). Not part of CI.

    .venv/bin/python bench/redis/bench_coherence.py [--writes 500] [--interval 0.004]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "python"))

import twincache
from benchkit import SECRET, arguments, own_redis_server
from redis_server import RedisServer

WRITER = """
import json, sys, time, twincache
c = twincache.RedisCache(sys.argv[1], namespace="lat", secret=sys.argv[2], ttl=600)
writes, interval, sent = int(sys.argv[3]), float(sys.argv[4]), {}
for i in range(writes):
    name = f"lat:{twincache._keys.hash128_hex(i)}"
    sent[name] = time.monotonic()
    c[i] = i
    time.sleep(interval)
print(json.dumps(sent))
"""


def main() -> None:
    args = arguments(__doc__, writes=500, interval=0.004)
    with own_redis_server() as server:
        run(server, args.writes, args.interval)


def run(server: RedisServer, writes: int, interval: float) -> None:
    c = twincache.RedisCache(server.url, namespace="lat", secret=SECRET, coherent=True)
    assert c.wait_coherent(10)
    arrived: dict[str, float] = {}
    lock = threading.Lock()  # guards arrived (the listener's thread writes it)

    def note(_owner: object, names: list[str] | None) -> None:
        now = time.monotonic()
        with lock:
            for name in names or ():
                arrived.setdefault(name, now)

    assert c._listener is not None
    c._listener.listener._join(note, c._listener.prefix, note)  # a function: its own owner
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(WRITER), server.url, SECRET, str(writes),
         str(interval)],
        env=env, capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    sent: dict[str, float] = json.loads(done.stdout)
    time.sleep(0.5)  # the last messages
    with lock:
        latencies = sorted((arrived[n] - t) * 1e3 for n, t in sent.items() if n in arrived)
    missing = len(sent) - len(latencies)
    q = statistics.quantiles(latencies, n=100)
    mode = "native" if twincache.native else "pure"
    print(f"twincache {mode}; {len(sent)} writes by another process, {interval * 1e3:g} ms apart")
    print(
        f"invalidation latency (write -> listener): p50 {q[49]:.2f} ms, p99 {q[98]:.2f} ms, "
        f"max {latencies[-1]:.2f} ms; not delivered: {missing} (target p99 <= 50 ms)"
    )
    c.close()


if __name__ == "__main__":
    main()
