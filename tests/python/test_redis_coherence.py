"""L1 coherence of the Redis tier (issue 17, docs/redis.md "Coherence"): RedisCache(coherent=True)
drops L1 entries that any process, or any other program, writes or deletes in Redis, flushes L1
on FLUSHDB and when its invalidation connection drops, and does not keep a read's value that
raced an invalidation. Two processes: this one and a child Python process that writes. Against
a real redis-server (tests/python/redis_server.py). Runs native and TWINCACHE_PURE=1.

Invalidations arrive on another connection, so the tests wait for their effect (polling with a
generous limit, not asserting a duration: latency is measured by the benchmark)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

import twincache
from redis_server import Proxy, RedisServer, server_fixture
from test_redis_single_flight import until
from twincache._testing import manual_clock

redis_server = server_fixture()
SECRET = "test-secret-0123456789abcdef"
_ids = itertools.count()


def caches(server: RedisServer, **opts: Any) -> tuple[Any, Any]:
    """A coherent RedisCache and a plain one (coherent=False) on a fresh namespace (subscribed
    before return)."""
    namespace = f"coh{next(_ids)}"
    coherent = twincache.RedisCache(server.url, namespace=namespace, secret=SECRET, ttl=600,
                                    coherent=True, **opts)  # fmt: skip
    plain = twincache.RedisCache(server.url, namespace=namespace, secret=SECRET, ttl=600,
                                 coherent=False)  # fmt: skip
    assert coherent.wait_coherent(10), "the invalidation listener subscribed"
    return coherent, plain


def held_in_l1(c: Any, key: str, value: object) -> bool:
    """Reads key until L1 holds it (a read that raced an invalidation is not kept)."""
    before = c.stats()["l1_hits"]
    return bool(c.get(key) == value and c.get(key) == value and c.stats()["l1_hits"] > before)


def write_from_another_process(server: RedisServer, namespace: str, key: str, value: str) -> None:
    code = textwrap.dedent(f"""
        import twincache
        c = twincache.RedisCache({server.url!r}, namespace={namespace!r}, secret={SECRET!r},
                                 ttl=600)
        c[{key!r}] = {value!r}
        c.close()
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, timeout=60, check=False,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_a_write_in_another_process_evicts_the_l1_copy(redis_server: RedisServer) -> None:
    c, plain = caches(redis_server)
    plain["k"] = "v1"
    assert until(lambda: held_in_l1(c, "k", "v1")) and held_in_l1(plain, "k", "v1")
    write_from_another_process(redis_server, c.namespace, "k", "v2")
    assert until(lambda: c.get("k") == "v2"), "the coherent L1 copy was dropped"
    assert plain.get("k") == "v1", "a cache without coherence keeps its stale L1 copy"
    assert c.stats()["invalidations"] >= 1
    assert until(lambda: held_in_l1(c, "k", "v2")), "and the new value is kept in L1 again"


def test_a_plain_set_or_del_by_another_program_evicts(redis_server: RedisServer) -> None:
    c, plain = caches(redis_server)
    plain.set_many({"a": 1, "b": 2})
    assert until(lambda: held_in_l1(c, "a", 1) and held_in_l1(c, "b", 2))
    raw = redis_server.client()
    raw.delete(f"{c.namespace}:{twincache._keys.hash128_hex('a')}")
    raw.set(f"{c.namespace}:{twincache._keys.hash128_hex('b')}", b"not an envelope")
    assert until(lambda: c.get("a", "gone") == "gone" and c.get("b", "gone") == "gone")
    assert c.stats()["l2_corrupt"] >= 1  # b: read again from Redis, refused there


def test_flushdb_and_a_dropped_connection_flush_l1(redis_server: RedisServer) -> None:
    c, plain = caches(redis_server)
    plain["k"] = "v"
    assert until(lambda: held_in_l1(c, "k", "v"))
    flushes = c.stats()["l1_flushes"]
    redis_server.client().flushdb()
    assert until(lambda: c.stats()["l1_flushes"] > flushes and c.stats()["l1_items"] == 0)
    plain["k"] = "w"
    assert until(lambda: held_in_l1(c, "k", "w"))
    flushes = c.stats()["l1_flushes"]
    assert redis_server.client().client_kill_filter(_type="pubsub") >= 1
    assert until(lambda: c.stats()["l1_flushes"] > flushes), "L1 flushed when the link dropped"
    assert c.wait_coherent(10), "and the listener subscribed again"
    assert until(lambda: held_in_l1(c, "k", "w"))
    write_from_another_process(redis_server, c.namespace, "k", "x")
    assert until(lambda: c.get("k") == "x"), "invalidations reach it after the reconnect"


def test_a_silently_dropped_connection_is_found_by_its_ping(redis_server: RedisServer) -> None:
    """A blackhole (no reset, no byte): only the heartbeat PING can tell; L1 is flushed."""
    proxy = Proxy(redis_server.port)
    try:
        namespace = f"coh{next(_ids)}"
        c = twincache.RedisCache(proxy.url, namespace=namespace, secret=SECRET, ttl=600,
                                 coherent=True)  # fmt: skip
        plain = twincache.RedisCache(redis_server.url, namespace=namespace, secret=SECRET,
                                     coherent=False)  # fmt: skip
        assert c.wait_coherent(10)
        plain["k"] = "v"
        assert until(lambda: held_in_l1(c, "k", "v"))
        flushes = c.stats()["l1_flushes"]
        proxy.blackhole = True
        assert until(lambda: c.stats()["l1_flushes"] > flushes), "L1 flushed"
        assert c.stats()["l1_items"] == 0
        proxy.blackhole = False
        assert c.wait_coherent(10), "subscribed again"
    finally:
        proxy.close()


def test_a_read_that_raced_an_invalidation_is_not_kept(redis_server: RedisServer) -> None:
    c, plain = caches(redis_server)
    plain["k"] = "v"
    read = c._read

    def racing(client: Any, names: list[str]) -> Any:
        reply = read(client, names)
        c._invalidated([names[0]])  # as if a write's invalidation came before the reply
        return reply

    c._read = racing
    assert c.get("k") == "v" and c.stats()["l1_items"] == 0, "returned, not kept"

    def other_name(client: Any, names: list[str]) -> Any:
        reply = read(client, names)
        c._invalidated([f"{c.namespace}:another"])  # another name's: no reason to refuse it
        return reply

    c._read = other_name
    assert c.get("k") == "v" and c.stats()["l1_items"] == 1, "kept"
    c._read = read
    assert until(lambda: held_in_l1(c, "k", "v"))


def test_coherent_needs_a_sync_client(redis_server: RedisServer) -> None:
    import redis.asyncio

    client = redis.asyncio.Redis(port=redis_server.port, socket_timeout=0.2)
    with pytest.raises(TypeError, match=r"coherent=True needs a url or a sync redis\.Redis"):
        twincache.RedisCache(client=client, secret=SECRET, coherent=True)
    with pytest.raises(TypeError, match="coherent must be True or False"):
        twincache.RedisCache(redis_server.url, secret=SECRET, coherent="yes")


def test_a_coherent_decorated_function_drops_what_another_process_writes(
    redis_server: RedisServer,
) -> None:
    namespace = f"cohf{next(_ids)}"
    calls: list[int] = []

    def price(item: int) -> int:
        calls.append(item)
        return 10 * item

    opts = {"backend": "redis", "url": redis_server.url, "namespace": namespace,
            "secret": SECRET, "ttl": 600}  # fmt: skip
    coherent = twincache.cache(**opts, coherent=True)(price)
    plain = twincache.cache(**opts, coherent=False)(price)
    assert coherent.redis_cache.wait_coherent(10)
    assert plain(1) == 10 and calls == [1]
    assert until(lambda: coherent(1) == 10 and coherent.stats()["l1_items"] == 1)
    hits = coherent.stats()["l1_hits"]
    assert coherent(1) == 10 and coherent.stats()["l1_hits"] == hits + 1  # served by L1
    plain.invalidate(1)  # UNLINK in Redis (and plain's L1)
    assert until(lambda: coherent.stats()["l1_items"] == 0), "the delete reached its L1"
    assert coherent(1) == 10 and calls == [1, 1], "so it computes again"
    s = coherent.stats()
    redis_server.client().flushdb()
    assert until(lambda: coherent.stats()["l1_flushes"] > s["l1_flushes"])
    after = coherent.stats()
    assert after["l1_items"] == 0 and after["l1_hits"] == s["l1_hits"], "a flush keeps counters"
    with pytest.raises(TypeError, match="coherent must be True or False"):
        twincache.cache(**opts, coherent=1)
    with pytest.raises(TypeError, match="coherent apply to backend='redis' only"):
        twincache.cache(ttl=5, coherent=True)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the platform has no os.fork()")
@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
def test_a_forked_child_keeps_no_l1_on_the_parents_listener(redis_server: RedisServer) -> None:
    """The child has no listener thread: its inherited coherent cache is not subscribed for
    good (L1 copies live 1 s at most: nothing could invalidate them), and a cache it makes gets
    a listener of its own."""
    from test_fork import HUNG, run_child

    c, plain = caches(redis_server)
    plain["k"] = "v"
    assert until(lambda: held_in_l1(c, "k", "v"))

    def child() -> int:
        c._l1.clear()
        if not (c.get("k") == "v" and not c.wait_coherent(0.2) and c.stats()["l2_hits"] >= 1):
            return 3
        fresh = twincache.RedisCache(redis_server.url, namespace=c.namespace, secret=SECRET,
                                     coherent=True)  # fmt: skip
        return 0 if fresh.wait_coherent(10) and until(lambda: held_in_l1(fresh, "k", "v")) else 4

    outcome = run_child(child)
    assert outcome == 0, f"exit code (-14: SIGALRM, {HUNG}: hung): {outcome}"
    assert held_in_l1(c, "k", "v"), "the parent's cache is unaffected"


# --- on by default, one shared listener per server ------------------------------------------------


def listener_connections(server: RedisServer) -> int:
    """Connections subscribed to the invalidation channel (CLIENT LIST: sub=1)."""
    return sum(1 for c in server.client().client_list() if c.get("sub") == "1")


own_server = server_fixture("function")


def test_caches_share_one_listener_connection_closed_with_the_last(
    own_server: RedisServer,
) -> None:
    # Its own server: the module's other caches, freed only when the garbage collector gets to
    # them, would share (and keep) the listener this test counts.
    redis_server = own_server
    assert listener_connections(redis_server) == 0, "a new server has no listener"
    ns = f"share{next(_ids)}"
    a = twincache.RedisCache(redis_server.url, namespace=ns, secret=SECRET)  # coherent by default
    assert a.stats()["coherence"] == "on" and a.wait_coherent(0), "subscribed at construction"
    b = twincache.RedisCache(redis_server.url, namespace=ns + "b", secret=SECRET)
    a2 = twincache.RedisCache(redis_server.url, namespace=ns, secret=SECRET)

    @twincache.cache(backend="redis", url=redis_server.url, namespace=ns + "f", secret=SECRET)
    def double(x: int) -> int:
        return 2 * x

    assert double(2) == 4 and double.redis_cache.wait_coherent(0)
    assert until(lambda: listener_connections(redis_server) == 1), "one for four namespaces"
    plain = twincache.RedisCache(redis_server.url, namespace=ns, secret=SECRET, coherent=False)
    plain["k"], plain["j"] = "v1", "w1"
    assert until(lambda: held_in_l1(a, "k", "v1") and held_in_l1(b, "j", None) is False)
    plain["k"] = "v2"  # each namespace gets its own names only
    assert until(lambda: a.get("k") == "v2") and b.stats()["invalidations"] == 0
    assert plain.stats()["coherence"] == "off" and listener_connections(redis_server) == 1
    a.close()
    b.close()
    assert listener_connections(redis_server) == 1, "still used by a2 and double"
    a2.close()
    double.redis_cache.close()
    assert until(lambda: listener_connections(redis_server) == 0), "closed with the last cache"
    again = twincache.RedisCache(redis_server.url, namespace=ns, secret=SECRET)
    assert again.wait_coherent(0) and listener_connections(redis_server) == 1, "made anew"
    again.close()
    assert until(lambda: listener_connections(redis_server) == 0)


def test_overlapping_prefixes_are_tracked_once_and_filtered() -> None:
    from twincache._redis_coherence import cover

    assert cover(["app:", "app:f1:", "b:", "app2:", "b:"]) == ["app2:", "app:", "b:"]
    assert cover(["a:b:", "a:"]) == ["a:"]


def test_an_asyncio_client_turns_coherence_off_with_the_reason(redis_server: RedisServer) -> None:
    import redis.asyncio

    client = redis.asyncio.Redis(port=redis_server.port, socket_timeout=0.2)
    c = twincache.RedisCache(client=client, secret=SECRET)
    assert c.stats()["coherence"].startswith("off: an asyncio client was passed in")
    assert not c.wait_coherent(0)


def test_redis_down_at_construction_neither_fails_nor_hangs() -> None:
    import time

    started = time.monotonic()
    c = twincache.RedisCache("redis://127.0.0.1:1/0", namespace="down", secret=SECRET)
    assert time.monotonic() - started < 2.0
    assert c.stats()["coherence"] == "on" and not c.wait_coherent(0)
    assert c.get("k", "miss") == "miss"
    with manual_clock() as clock:
        c.set(
            "k", 1, ttl=600
        )  # not subscribed: kept in L1 1 s at most (docs/redis.md, "Redis down")
        assert c["k"] == 1 and c.stats()["l1_hits"] == 1
        clock.advance(0.999)
        assert c["k"] == 1 and c.stats()["l1_hits"] == 2
        clock.advance(0.002)  # past 1 s: gone from L1, whatever the entry's own ttl
        assert c.get("k", "miss") == "miss" and c.stats()["l1_hits"] == 2
    c.close()


def test_a_call_does_not_join_a_read_older_than_an_invalidation(
    redis_server: RedisServer,
) -> None:
    """A read in flight that began before an invalidation of its name may bring the older
    value: a second caller must start its own read, not join it (docs/redis.md, step 7)."""
    import threading

    ns = f"join{next(_ids)}"
    calls: list[int] = []

    def compute(item: int) -> str:
        calls.append(item)
        return f"computed {len(calls)}"

    opts = {"backend": "redis", "url": redis_server.url, "namespace": ns, "secret": SECRET,
            "ttl": 600}  # fmt: skip
    price = twincache.cache(**opts)(compute)  # coherent by default
    plain = twincache.cache(**opts, coherent=False)(compute)  # another process, say
    assert plain(1) == "computed 1"  # in Redis
    cache = price.redis_cache
    assert cache.wait_coherent(10)
    read, replied, release = cache._read, threading.Event(), threading.Event()

    def slow(client: Any, names: list[str]) -> Any:
        reply = read(client, names)  # the old value, read
        if threading.current_thread().name == "first":
            replied.set()
            assert release.wait(10)  # its reply held up
        return reply

    cache._read = slow
    results: dict[str, object] = {}
    first = threading.Thread(target=lambda: results.update(first=price(1)), name="first")
    first.start()
    assert replied.wait(10)
    epoch = cache._epoch
    plain.invalidate(1)  # another process deletes it: the invalidation reaches this process
    assert until(lambda: cache._epoch > epoch), "the invalidation was delivered"
    assert price(1) == "computed 2", "not the old flight's value: its own read, a miss"
    release.set()
    first.join(10)
    assert results["first"] == "computed 1"  # the old flight returns what it read
    assert calls == [1, 1]


@pytest.mark.asyncio
async def test_an_await_does_not_join_a_read_older_than_an_invalidation(
    redis_server: RedisServer,
) -> None:
    """The async twin: a second await of the key starts its own read once the invalidation of
    its name was delivered after the first read was sent (held up by a hook)."""
    import asyncio

    ns = f"ajoin{next(_ids)}"
    calls: list[int] = []

    async def compute(item: int) -> str:
        calls.append(item)
        return f"computed {len(calls)}"

    opts = {"backend": "redis", "url": redis_server.url, "namespace": ns, "secret": SECRET,
            "ttl": 600}  # fmt: skip
    price = twincache.cache(**opts)(compute)
    plain = twincache.cache(**opts, coherent=False)(compute)
    assert await plain(1) == "computed 1"
    cache = price.redis_cache
    assert cache.wait_coherent(10)
    read, replied, release = cache._aread, asyncio.Event(), asyncio.Event()
    held = [True]

    async def slow(client: Any, names: list[str]) -> Any:
        reply = await read(client, names)  # the old value, read
        if held[0]:
            held[0] = False
            replied.set()
            await asyncio.wait_for(release.wait(), 10)  # its reply held up
        return reply

    cache._aread = slow
    first = asyncio.ensure_future(price(1))
    await asyncio.wait_for(replied.wait(), 10)
    epoch = cache._epoch
    await plain.ainvalidate(1)  # another process deletes it: the invalidation reaches this one
    for _ in range(1000):
        if cache._epoch > epoch:
            break
        await asyncio.sleep(0.01)
    assert cache._epoch > epoch, "the invalidation was delivered"
    assert await price(1) == "computed 2", "not the old flight's value: its own read, a miss"
    release.set()
    assert await first == "computed 1"  # the old flight returns what it read
    assert calls == [1, 1]
