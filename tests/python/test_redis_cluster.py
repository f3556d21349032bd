"""The Redis tier on a real Redis Cluster (3 masters + 3 replicas of Debian's redis-server, made by
tests/python/redis_cluster.py, one for the module): values round-trip through every operation
with names spread over the masters' slots (the stored names are those of a standalone server),
sync and asyncio, through RedisCache and the decorator, with a cluster client made from a URL or
passed in; coherence covers every master; and a master SIGKILLed mid-run: calls return within
their timeout (computed, None, L1) while it is down, and once its replica is promoted the same
cache objects read and write Redis again by themselves. The failover test is last: it changes
the cluster."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from typing import Any

import pytest

import twincache
from redis_cluster import RedisCluster, cluster_fixture

redis_cluster = cluster_fixture()
SECRET = "cluster-secret-0123456789abcdef"
TIMEOUT = 0.3
BOUND = 2 * TIMEOUT + 0.2  # a call's time limit in the outage: its timeout, plus a loaded machine


def make(cluster: RedisCluster, **opts: Any) -> twincache.RedisCache:
    opts = {"secret": SECRET, "timeout": TIMEOUT, "cluster": True, **opts}
    return twincache.RedisCache(cluster.url, **opts)


def masters_of(cluster: RedisCluster, cache: twincache.RedisCache, keys: Any) -> set[int]:
    c = cluster.client()
    try:
        ports = set()
        for k in keys:
            name = cache._name(twincache._redis.env.encode_key(k))
            ports.add(c.nodes_manager.get_node_from_slot(c.keyslot(name)).port)
        return ports
    finally:
        c.close()


def test_round_trip_across_slots(redis_cluster: RedisCluster) -> None:
    a = make(redis_cluster, namespace="rt")
    b = make(redis_cluster, namespace="rt")
    a.clear()
    keys = list(range(40))
    assert len(masters_of(redis_cluster, a, keys)) == 3  # the keys span every master
    a.set_many({k: k * 10 for k in keys})
    a.set("one", {"x": 1}, ttl=60)
    assert b.get_many([*keys, "absent"]) == {k: k * 10 for k in keys}
    assert b.get("one") == {"x": 1} and b["one"] == {"x": 1}
    assert len(b) == 41
    assert sorted(k for k in b if k != "one") == keys
    # The stored names are the standalone ones (docs/redis.md, "Entry names"); PX is kept.
    raw = redis_cluster.client()
    try:
        name = a._name(twincache._redis.env.encode_key("one"))
        assert name.startswith("rt:") and len(name) == 3 + 32
        assert 0 < raw.pttl(name) <= 60_000
    finally:
        raw.close()
    assert b.delete(3) is True and b.delete(3) is False
    c = make(redis_cluster, namespace="rt")
    assert c.get(3) is None and 3 not in c and c.get(4) == 40
    b.clear()
    assert len(a) == 0
    d = make(redis_cluster, namespace="rt")
    assert d.get_many(keys) == {}
    stats = d.stats()
    assert stats["l2_misses"] == 40 and stats["l2_errors"] == 0


def test_async_round_trip(redis_cluster: RedisCluster) -> None:
    async def main() -> None:
        a = make(redis_cluster, namespace="art", timeout=2.0)
        b = make(redis_cluster, namespace="art", timeout=2.0)
        await a.aclear()
        await a.aset_many({k: str(k) for k in range(30)})
        await a.aset("k", b"raw bytes")
        assert await b.aget_many(range(30)) == {k: str(k) for k in range(30)}
        assert await b.aget("k") == b"raw bytes"
        assert await b.adelete("k") is True
        c = make(redis_cluster, namespace="art", timeout=2.0)
        assert await c.aget("k") is None and await c.acontains(5)
        assert len(c) == 30
        await c.aclear()
        assert len(a) == 0
        assert b.stats()["l2_errors"] == 0
        for cache in (a, b, c):
            await cache.aclose()

    asyncio.run(main())


def test_cluster_client_passed_in(redis_cluster: RedisCluster) -> None:
    import redis.asyncio.cluster
    import redis.cluster

    client = redis.cluster.RedisCluster.from_url(redis_cluster.url, socket_timeout=TIMEOUT)
    cache = twincache.RedisCache(client=client, secret=SECRET, namespace="passed", timeout=TIMEOUT)
    assert "cluster=True" in repr(cache)
    cache.set_many({k: -k for k in range(20)})
    assert make(redis_cluster, namespace="passed").get_many(range(20)) == {k: -k for k in range(20)}
    cache.close()
    assert client.ping()  # a client passed in stays open

    async def main() -> None:
        aclient = redis.asyncio.cluster.RedisCluster.from_url(redis_cluster.url)
        acache = twincache.RedisCache(
            client=aclient, secret=SECRET, namespace="passed", timeout=2.0
        )  # its first call reads the topology and connects to every node: loaded machines
        got = await acache.aget_many(range(20))
        assert got == {k: -k for k in range(20)}, acache.stats()
        await acache.aclear()
        await aclient.aclose()

    asyncio.run(main())
    assert len(make(redis_cluster, namespace="passed")) == 0
    client.close()


def test_decorator_on_cluster(redis_cluster: RedisCluster) -> None:
    calls: list[int] = []

    def square(x: int) -> int:
        calls.append(x)
        return x * x

    # timeout 2 s: an async client's first call also reads the topology (loaded machines)
    opts = {
        "url": redis_cluster.url,
        "cluster": True,
        "secret": SECRET,
        "namespace": "deco",
        "timeout": 2.0,
    }
    first = twincache.cache(backend="redis", **opts)(square)
    assert [first(i) for i in range(12)] == [i * i for i in range(12)]
    second = twincache.cache(backend="redis", **opts)(square)  # its own L1: reads Redis
    assert [second(i) for i in range(12)] == [i * i for i in range(12)]
    assert calls == list(range(12))

    async def acube(x: int) -> int:
        calls.append(-x)
        return x**3

    async def main() -> None:
        f = twincache.cache(backend="redis", **opts)(acube)
        g = twincache.cache(backend="redis", **opts)(acube)
        assert [await f(i) for i in range(5)] == [i**3 for i in range(5)]
        assert [await g(i) for i in range(5)] == [i**3 for i in range(5)]

    asyncio.run(main())
    assert calls == [*range(12), 0, -1, -2, -3, -4]
    first.cache_clear()  # type: ignore[attr-defined]
    assert [second(i) for i in range(3)] == [0, 1, 4]  # L1 still has them
    third = twincache.cache(backend="redis", **opts)(square)
    assert third(2) == 4 and calls[-1] == 2  # Redis no longer does


def test_bad_cluster_options(redis_cluster: RedisCluster) -> None:
    import redis

    with pytest.raises(
        TypeError, match=r"cluster=True needs a url or a redis\.cluster\.RedisCluster"
    ):
        twincache.RedisCache(client=redis.Redis(socket_timeout=0.1), cluster=True, secret=SECRET)
    with pytest.raises(ValueError, match=r"cluster=True needs a redis:// or rediss:// URL"):
        twincache.RedisCache("unix:///tmp/redis.sock", cluster=True, secret=SECRET)
    with pytest.raises(TypeError, match="cluster must be"):
        twincache.RedisCache(redis_cluster.url, cluster="yes", secret=SECRET)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cluster must be"):
        twincache.cache(backend="redis", url=redis_cluster.url, cluster=1, secret=SECRET)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="cluster apply to backend='redis' only"):
        twincache.cache(cluster=True)  # type: ignore[call-overload]


def test_coherence_covers_every_master(redis_cluster: RedisCluster) -> None:
    a = make(redis_cluster, namespace="coh", coherent=True)
    b = make(redis_cluster, namespace="coh", coherent=True)
    assert a.wait_coherent(10) and b.wait_coherent(10)
    keys = list(range(30))
    assert len(masters_of(redis_cluster, a, keys)) == 3
    a.set_many({k: "old" for k in keys})
    # A read that raced the invalidation of a's write is not kept: read until all are in L1.
    deadline = time.monotonic() + 5
    while b.stats()["l1_items"] < 30 and time.monotonic() < deadline:
        assert b.get_many(keys) == {k: "old" for k in keys}
    assert b.stats()["l1_items"] == 30  # kept in L1 ...
    a.set_many({k: "new" for k in keys})
    deadline = time.monotonic() + 5
    while b.stats()["l1_items"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert b.stats()["l1_items"] == 0  # ... until each master reported the writes
    assert b.get_many(keys) == {k: "new" for k in keys}
    assert b.stats()["invalidations"] >= 30


def test_a_cluster_cache_collected_while_its_thread_holds_a_listener_lock(
    redis_cluster: RedisCluster,
) -> None:
    """The collector runs a cache's weakref callback in whatever thread allocates, maybe one
    holding the listeners' registry lock (subscribe() making a Listener: seen as a hang of the
    Python suite). Leaving then must not take that lock in that thread: the watcher thread
    leaves for the collected owner instead, and its node listeners close."""
    from twincache import _redis_cluster, _redis_coherence

    cache = make(redis_cluster, namespace="gc-lock", coherent=True)
    assert cache.wait_coherent(10)
    watcher = cache._listener.listener
    nodes = list(watcher.nodes.values())
    assert len(nodes) == 3  # a subscription per master
    done = threading.Event()

    def collect_holding_the_lock(ref: list[Any]) -> None:
        with _redis_coherence._listeners.lock:  # as subscribe() holds it
            ref.clear()  # the last reference: the cache is collected here, in this thread
            gc.collect()
        done.set()

    held = [cache]
    del cache
    thread = threading.Thread(target=collect_holding_the_lock, args=(held,), daemon=True)
    thread.start()
    if not done.wait(10):
        # Deadlocked (the bug): a plain Lock may be released by another thread, so the rest of
        # the suite does not hang behind it.
        _redis_coherence._listeners.lock.release()
        pytest.fail("collecting a cluster cache deadlocked on the listeners' lock")
    deadline = time.monotonic() + 10
    while not watcher._stop.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert watcher._stop.is_set()  # its last owner left: the watcher stopped ...
    assert all(n.closed for n in nodes)  # ... and closed its node subscriptions
    assert all(v is not watcher for v in _redis_cluster._listeners.values())


def test_single_flight_and_coherent_decorator_on_cluster(redis_cluster: RedisCluster) -> None:
    import threading

    calls: list[int] = []
    gate = threading.Event()
    opts = {"url": redis_cluster.url, "cluster": True, "secret": SECRET, "namespace": "sf"}

    def slow(x: int) -> int:
        calls.append(x)
        gate.wait(5)
        return -x

    # Two decorated copies (as two processes would be): the lease in Redis (lock scripts on the
    # key's primary) lets one compute; the other waits for its value.
    f = twincache.cache(backend="redis", single_flight=True, timeout=2.0, **opts)(slow)
    g = twincache.cache(backend="redis", single_flight=True, timeout=2.0, **opts)(slow)
    results: list[int] = []
    threads = [threading.Thread(target=lambda h=h: results.append(h(7))) for h in (f, g) * 3]
    for t in threads:
        t.start()
    time.sleep(0.3)
    gate.set()
    for t in threads:
        t.join(10)
    assert results == [-7] * 6 and calls == [7]

    h = twincache.cache(backend="redis", coherent=True, **opts)(slow)
    w = make(redis_cluster, namespace="sf", coherent=True)
    assert w.wait_coherent(10)
    assert h(7) == -7 and calls == [7]  # from Redis


def test_master_killed_then_replica_promoted(redis_cluster: RedisCluster) -> None:
    calls: list[int] = []
    opts = {
        "url": redis_cluster.url,
        "cluster": True,
        "secret": SECRET,
        "namespace": "fo",
        "timeout": TIMEOUT,
    }

    @twincache.cache(backend="redis", **opts)
    def compute(x: int) -> int:
        calls.append(x)
        return x + 1000

    cache = make(redis_cluster, namespace="fo", breaker_delay=(0.05, 0.3))
    watcher = make(redis_cluster, namespace="fo", coherent=True)
    assert watcher.wait_coherent(10)
    # A key on a master other than the URL's node (new cluster clients start from that one).
    key = next(
        f"k{i}"
        for i in range(100)
        if redis_cluster.master_of(cache._name(twincache._redis.env.encode_key(f"k{i}"))).port
        != redis_cluster.nodes[0].port
    )
    cache.set(key, "before")
    assert compute(1) == 1001 and calls == [1]
    reader = make(redis_cluster, namespace="fo")
    assert reader.get(key) == "before"  # its cluster client is made (and knows every node)
    reader._l1.clear()
    victim = redis_cluster.master_of(cache._name(twincache._redis.env.encode_key(key)))
    victim.kill()

    # The outage: every call returns within its bound, no exception escapes.
    fresh = make(redis_cluster, namespace="fo")  # an empty L1: must go to Redis
    started = time.monotonic()
    slowest = 0.0
    while time.monotonic() - started < 1.0:
        t = time.monotonic()
        assert fresh.get(key) in (None, "before")
        cache.set("other", 1)
        assert compute(2) == 1002
        slowest = max(slowest, time.monotonic() - t)

    async def aget() -> Any:
        return await make(redis_cluster, namespace="fo").aget(key)

    t = time.monotonic()
    assert asyncio.run(aget()) in (None, "before")
    slowest = max(slowest, time.monotonic() - t)
    assert slowest < 3 * BOUND  # three calls per round
    assert fresh.stats()["l2_errors"] + fresh.stats()["l2_skipped"] > 0
    assert watcher.wait_coherent(0) is False  # a master's listener is down: L1 off

    # The replica is promoted (cluster-node-timeout 1 s); the same objects recover by themselves.
    redis_cluster.wait_ok(timeout=20)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        cache.set(key, "after")
        reader._l1.clear()
        if reader.get(key) == "after":
            break
        time.sleep(0.05)
    assert make(redis_cluster, namespace="fo").get(key) == "after"  # in Redis, not only L1
    assert cache.stats()["breaker"] == "closed" and cache.stats()["l2_errors"] > 0
    before = len(calls)
    assert compute(3) == 1003  # computed and written to Redis by the decorator made before
    again = twincache.cache(backend="redis", **opts)(compute.__wrapped__)  # type: ignore[attr-defined]
    assert again(3) == 1003 and len(calls) == before + 1  # read back from Redis

    # Coherence follows the new topology: listeners on the new primaries, L1 flushed.
    assert watcher.wait_coherent(15)
    assert watcher.get(key) == "after"
    cache.set(key, "again")
    deadline = time.monotonic() + 5
    while watcher.get(key) != "again" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert watcher.get(key) == "again"
