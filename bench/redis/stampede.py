"""The stampede benchmark of the Redis tier (issue 17; docs/benchmarks.md, "Redis tier: stampede"):
how many times a function runs per cold key when N processes x M concurrent callers miss it at
once, and how long until every caller has its value, for:

- twincache: @cache(backend="redis", single_flight=True) on a sync function, M threads a process
  (twincache-async: the same on an async function, M tasks a process);
- cashews: @cache(ttl=..., lock=True) (async only; M tasks a process);
- dogpile.cache: a region on "dogpile.cache.redis" with distributed_lock=True (its Redis lock),
  cache_on_arguments(), M threads a process;
- twincache without single_flight (the baseline: per process only).

Each process counts its computations with INCR on a counter key (the side channel), the function
sleeps COMPUTE_MS (the work worth sharing), K cold keys one after the other, median of REPEAT
runs; also the commands the server processed meanwhile (INFO stats, the counter's INCRs
excluded: what the waiting costs Redis). Its own redis-server on a free loopback port
(tests/python/redis_server.py).

    .venv/bin/python bench/redis/stampede.py [--procs 4] [--callers 25] [--keys 5]
        [--compute-ms 100] [--repeat 3] [--tools twincache,cashews,...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
ROOT = HERE.parents[2]
SECRET = "stampede-bench-secret-0123456789"
TOOLS = ["twincache", "twincache-async", "cashews", "dogpile", "twincache-no-sf"]


def worker(tool: str, url: str, keys: int, callers: int, compute_ms: int, run: str) -> None:
    """One process: prints "ready", waits for "go", then for each cold key starts `callers`
    concurrent calls and waits for them all; prints the wall time in seconds."""
    import redis

    side = redis.Redis.from_url(url)
    counter = f"stampede:{run}:runs"
    delay = compute_ms / 1000

    def work(k: int) -> int:
        side.incr(counter)
        time.sleep(delay)
        return k * 2

    async def awork(k: int) -> int:
        import asyncio

        side.incr(counter)
        await asyncio.sleep(delay)
        return k * 2

    sync_fn = None
    async_fn = None
    if tool in ("twincache", "twincache-no-sf"):
        import twincache

        sync_fn = twincache.cache(backend="redis", url=url, ttl=600, namespace=f"st{run}",
                                  secret=SECRET, timeout=2, single_flight=tool == "twincache",
                                  )(work)  # fmt: skip
    elif tool == "twincache-async":
        import twincache

        async_fn = twincache.cache(backend="redis", url=url, ttl=600, namespace=f"st{run}",
                                   secret=SECRET, timeout=2, single_flight=True)(awork)  # fmt: skip
    elif tool == "cashews":
        from cashews import cache

        cache.setup(url)
        async_fn = cache(ttl="10m", lock=True, prefix=f"st{run}")(awork)
    elif tool == "dogpile":
        from dogpile.cache import make_region

        region = make_region().configure(
            "dogpile.cache.redis",
            expiration_time=600,
            arguments={"url": url, "distributed_lock": True, "thread_local_lock": False,
                       "lock_timeout": 30, "redis_expiration_time": 600},
        )  # fmt: skip
        sync_fn = region.cache_on_arguments(namespace=f"st{run}")(work)
    else:
        raise SystemExit(f"unknown tool {tool!r}")
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.perf_counter()
    if sync_fn is not None:
        import threading

        for k in range(keys):
            barrier = threading.Barrier(callers)
            out: list[int] = []

            def call(
                k: int = k, barrier: threading.Barrier = barrier, out: list[int] = out
            ) -> None:
                barrier.wait()
                out.append(sync_fn(k))

            threads = [threading.Thread(target=call) for _ in range(callers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert out == [k * 2] * callers, out
    else:
        import asyncio

        async def main() -> None:
            assert async_fn is not None
            for k in range(keys):
                out = await asyncio.gather(*(async_fn(k) for _ in range(callers)))
                assert out == [k * 2] * callers, out

        asyncio.run(main())
    print(json.dumps({"wall": time.perf_counter() - started}), flush=True)


def commands(url: str) -> int:
    """Commands the server has processed so far (INFO stats)."""
    import redis

    return int(redis.Redis.from_url(url).info("stats")["total_commands_processed"])


def one_run(url: str, tool: str, args: argparse.Namespace, run: str) -> tuple[int, float, int]:
    """(computations, wall seconds until the last process had every value, commands the server
    processed from "go" to the end, the counter's INCRs excluded)."""
    env = dict(os.environ)
    cmd = [sys.executable, str(HERE), "--worker", tool, url, str(args.keys), str(args.callers),
           str(args.compute_ms), run]  # fmt: skip
    procs = [
        subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(args.procs)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    before = commands(url)
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    walls = []
    for p in procs:
        out, _ = p.communicate(timeout=600)
        if p.returncode != 0:
            raise SystemExit(f"{tool}: a worker failed ({p.returncode})")
        walls.append(json.loads(out.strip().splitlines()[-1])["wall"])
    import redis

    sent = commands(url) - before - 1  # the INFO itself
    runs = int(redis.Redis.from_url(url).get(f"stampede:{run}:runs") or 0)
    return runs, max(walls), sent - runs


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        tool, url, keys, callers, compute_ms, run = sys.argv[2:8]
        worker(tool, url, int(keys), int(callers), int(compute_ms), run)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--procs", type=int, default=4)
    parser.add_argument("--callers", type=int, default=25)
    parser.add_argument("--keys", type=int, default=5)
    parser.add_argument("--compute-ms", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tools", default=",".join(TOOLS))
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "tests" / "python"))
    from redis_server import RedisServer

    print(f"stampede: {args.procs} processes x {args.callers} callers, {args.keys} cold keys, "
          f"{args.compute_ms} ms a computation, median of {args.repeat}")  # fmt: skip
    print(f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    with tempfile.TemporaryDirectory(prefix="twincache-stampede-") as tmp:
        server = RedisServer(shutil.which("redis-server") or "redis-server", Path(tmp))
        server.start()
        try:
            print(f"{'tool':<18} {'runs/key':>9} {'runs (all)':>11} {'wall s':>8} "
                  f"{'commands':>9}  (each run: runs/wall)")  # fmt: skip
            n = 0
            for tool in args.tools.split(","):
                results = []
                for _ in range(args.repeat):
                    n += 1
                    results.append(one_run(server.url, tool, args, str(n)))
                runs = statistics.median(r for r, _, _ in results)
                wall = statistics.median(w for _, w, _ in results)
                sent = statistics.median(c for _, _, c in results)
                each = ", ".join(f"{r}/{w:.2f}s" for r, w, _ in results)
                print(f"{tool:<18} {runs / args.keys:>9.2f} {runs:>11} {wall:>8.2f} "
                      f"{sent:>9}  ({each})")  # fmt: skip
        finally:
            server.stop()
    print(f"load average after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")


if __name__ == "__main__":
    main()
