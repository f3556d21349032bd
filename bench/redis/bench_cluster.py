"""The Redis tier's Python benchmark on a Redis Cluster (issue 17, "L2 hit on Cluster vs
standalone"): one run on loopback with its own standalone redis-server and its own 3-master +
3-replica cluster (tests/python/redis_cluster.py). Not part of CI.

    .venv/bin/python bench/redis/bench_cluster.py [--repeat 15] [--number 400]

Rows (rounds in turns, best round per contender and the median of per-round ratios, as
bench_python.py does): an L2 hit (l1_maxsize=1, keys rotating over 1000 entries of a 1 KiB
value) by RedisCache(cluster=True).get vs RedisCache.get on the standalone server, and vs
redis-py's own RedisCluster GET + pickle.loads (the peer: what a user gets without twincache);
the same for aget (redis.asyncio.cluster); get_many(100 keys) on the cluster (spread over
every master) vs on the standalone server.
"""

from __future__ import annotations

import argparse
import asyncio
import pickle
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import redis
import redis.asyncio.cluster
import redis.cluster
from bench_python import KEYS, SECRET, VALUE, Rounds, _batches, arotating, rotating, row

import twincache
from redis_cluster import RedisCluster
from redis_server import RedisServer


def run(server: RedisServer, cluster: RedisCluster, rounds: Rounds) -> None:
    mode = "native" if twincache.native else "pure (TWINCACHE_PURE=1)"
    print(f"twincache {mode}, redis-py {redis.__version__}, Python {sys.version.split()[0]}")
    print(f"standalone :{server.port}, cluster of 3+3 from :{cluster.nodes[0].port}; "
          f"{rounds.repeat} rounds of {rounds.number} calls")  # fmt: skip
    alone = twincache.RedisCache(server.url, namespace="bc", secret=SECRET, l1_maxsize=1)
    clustered = twincache.RedisCache(
        cluster.url, cluster=True, namespace="bc", secret=SECRET, l1_maxsize=1
    )
    for c in (alone, clustered):
        c.set_many({i: VALUE for i in range(KEYS)})
    bare = redis.cluster.RedisCluster.from_url(cluster.url)
    for i in range(KEYS):
        bare.set(f"bare:{i}", pickle.dumps(VALUE))
    times = rounds.run(
        {
            "cluster": rotating(clustered.get),
            "alone": rotating(alone.get),
            "bare": rotating(lambda i: pickle.loads(bare.get(f"bare:{i}"))),
        },
        rounds.number,
    )
    row("L2 hit 1 KiB: get, Cluster vs standalone", times, "cluster", "alone", None)
    row("L2 hit 1 KiB: get vs redis-py RedisCluster GET+loads", times, "cluster", "bare", 1.3)
    batches = [list(range(i, i + 100)) for i in range(0, KEYS, 100)]
    times = rounds.run(
        {"cluster": _batches(clustered, batches), "alone": _batches(alone, batches)},
        max(1, rounds.number // 10),
    )
    row("get_many(100 keys): Cluster vs standalone", times, "cluster", "alone", None)
    bare.close()

    async def arun() -> None:
        abare = redis.asyncio.cluster.RedisCluster.from_url(cluster.url)

        async def bare_get(i: int) -> object:
            return pickle.loads(await abare.get(f"bare:{i}"))

        times = await rounds.arun(
            {
                "cluster": arotating(clustered.aget),
                "alone": arotating(alone.aget),
                "bare": arotating(bare_get),
            },
            rounds.number,
        )
        row("async L2 hit 1 KiB: aget, Cluster vs standalone", times, "cluster", "alone", None)
        row("async L2 hit: aget vs redis.asyncio RedisCluster GET", times, "cluster", "bare", 1.3)
        await abare.aclose()
        await clustered.aclose()
        await alone.aclose()

    asyncio.run(arun())


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--number", type=int, default=400)
    args = parser.parse_args()
    binary, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if binary is None or cli is None:
        sys.exit("redis-server / redis-cli are not installed (scripts/setup)")
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(binary, Path(tmp) / "alone")
        (Path(tmp) / "alone").mkdir()
        cluster = RedisCluster(binary, cli, Path(tmp))
        try:
            server.start()
            cluster.start()
            run(server, cluster, Rounds(args.number, args.repeat))
        finally:
            cluster.stop()
            server.stop()


if __name__ == "__main__":
    main()
