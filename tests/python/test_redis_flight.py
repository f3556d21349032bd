"""Single flight across processes (docs/redis.md, "Single flight across processes"; issue 17):
the lease (SET <entry name>:lock <token> NX PX <lease>), waiters that get the leader's value,
takeover once a lease expires, compare-and-delete and compare-and-pexpire that never touch
another leader's lock, and fail-open when Redis does not answer. Two RedisCache objects (or two
decorated copies of one function) stand for two processes: they share nothing but Redis. The
4-process, 2-language test is tests/cross/redis_flight.py. Against a real redis-server
(tests/python/redis_server.py); native and TWINCACHE_PURE=1."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from typing import Any

import pytest

import twincache
from redis_server import RedisServer, server_fixture
from test_redis_single_flight import until
from twincache import _redis_envelope as renv
from twincache import _redis_flight

redis_server = server_fixture()
SECRET = "test-secret-0123456789abcdef"
_ids = itertools.count()


@pytest.fixture(autouse=True)
def _running(redis_server: RedisServer) -> Any:
    yield
    if redis_server.paused:
        redis_server.resume()


def caches(server: RedisServer, n: int = 2, **opts: Any) -> list[twincache.RedisCache]:
    """n caches of one fresh namespace: n "processes" as Redis sees them."""
    namespace = f"fl{next(_ids)}"
    return [
        twincache.RedisCache(server.url, namespace=namespace, secret=SECRET, ttl=600, timeout=2,
                             **opts)
        for _ in range(n)
    ]  # fmt: skip


def lock_of(cache: twincache.RedisCache, key: Any) -> bytes:
    return _redis_flight.lock_name(renv.entry_name(cache.namespace, renv.encode_key(key))).encode()


def test_a_waiter_gets_the_leaders_value_and_the_lease_is_released(
    redis_server: RedisServer,
) -> None:
    a, b = caches(redis_server)
    raw = redis_server.client()
    computing, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def slow() -> str:
        calls.append("a")
        computing.set()
        assert release.wait(10)
        return "from a"

    leader = threading.Thread(target=lambda: a.get_or_set("k", slow))
    leader.start()
    assert computing.wait(10)
    assert raw.exists(lock_of(a, "k"))  # the lease is held while a computes
    got: list[Any] = []
    waiter = threading.Thread(target=lambda: got.append(b.get_or_set("k", lambda: "from b")))
    waiter.start()
    release.set()
    leader.join(10)
    waiter.join(10)
    assert got == ["from a"] and calls == ["a"]
    assert not raw.exists(lock_of(a, "k"))  # released after the value was stored
    assert b.stats()["l2_hits"] >= 1
    assert b.get_or_set("k", lambda: "never") == "from a"  # now an L1 hit


def test_threads_of_two_caches_compute_once(redis_server: RedisServer) -> None:
    a, b = caches(redis_server)
    calls: list[int] = []
    barrier = threading.Barrier(16)
    results: list[Any] = []
    arrived = itertools.count(1)
    last = [0]

    def compute() -> dict[str, int]:
        calls.append(1)
        until(lambda: last[0] == 16)  # every caller is in get_or_set before the value exists
        return {"v": 1}

    def caller(c: twincache.RedisCache) -> None:
        barrier.wait(10)
        last[0] = max(last[0], next(arrived))
        results.append(c.get_or_set("cold", compute))

    threads = [threading.Thread(target=caller, args=(c,)) for c in (a, b) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(calls) == 1
    assert results == [{"v": 1}] * 16


def test_a_dead_leaders_lease_is_taken_over_once_it_expires(redis_server: RedisServer) -> None:
    (c,) = caches(redis_server, 1)
    raw = redis_server.client()
    lock = lock_of(c, "orphan")
    raw.set(lock, b"a-leader-that-died", px=60_000)  # its process is gone: no renewal, no release
    calls: list[int] = []

    def compute() -> str:
        calls.append(1)
        return "computed"

    sets = redis_server.command_calls().get("set", 0)
    got: list[Any] = []
    waiter = threading.Thread(target=lambda: got.append(c.get_or_set("orphan", compute, lease=5)))
    waiter.start()
    # It waits while the lease lives: two SET NX tried, nothing computed, the lock not touched.
    assert until(lambda: redis_server.command_calls().get("set", 0) >= sets + 2)
    assert calls == [] and raw.get(lock) == b"a-leader-that-died"
    raw.pexpire(lock, 1)  # the dead leader's lease runs out
    waiter.join(10)
    assert got == ["computed"] and calls == [1]
    assert not raw.exists(lock)
    assert c.get("orphan") == "computed"


def test_a_leader_renews_its_lease_while_computing(redis_server: RedisServer) -> None:
    a, b = caches(redis_server)
    raw = redis_server.client()
    lock = lock_of(a, "long")
    computing, release = threading.Event(), threading.Event()

    def long() -> str:
        computing.set()
        assert release.wait(10)
        return "long"

    leader = threading.Thread(target=lambda: a.get_or_set("long", long, lease=0.3))
    leader.start()
    assert computing.wait(10)
    token = raw.get(lock)
    # Three leases later (Redis's clock: real time) the lock is still the leader's: extended.
    time.sleep(0.9)
    assert raw.get(lock) == token
    got = []
    waiter = threading.Thread(
        target=lambda: got.append(b.get_or_set("long", lambda: "b", lease=0.3))
    )
    waiter.start()
    release.set()
    leader.join(10)
    waiter.join(10)
    assert got == ["long"]


def test_a_taken_over_leader_does_not_release_its_successors_lease(
    redis_server: RedisServer,
) -> None:
    a, b = caches(redis_server)
    raw = redis_server.client()
    lock = lock_of(a, "k")
    a_computing, a_release = threading.Event(), threading.Event()
    b_computing, b_release = threading.Event(), threading.Event()

    def from_a() -> str:
        a_computing.set()
        assert a_release.wait(10)
        return "a"

    def from_b() -> str:
        b_computing.set()
        assert b_release.wait(10)
        return "b"

    ta = threading.Thread(target=lambda: a.get_or_set("k", from_a))
    ta.start()
    assert a_computing.wait(10)
    raw.delete(lock)  # as if a's lease expired (a stalled leader)
    tb = threading.Thread(target=lambda: b.get_or_set("k", from_b))
    tb.start()
    assert b_computing.wait(10)  # b took over
    b_token = raw.get(lock)
    a_release.set()
    ta.join(10)
    assert raw.get(lock) == b_token  # a's compare-and-delete left b's lock alone
    b_release.set()
    tb.join(10)
    assert not raw.exists(lock)


def test_the_scripts_compare_the_token(redis_server: RedisServer) -> None:
    raw = redis_server.client()
    raw.set(b"scripts:lock", b"mine", px=60_000)
    assert _redis_flight.RELEASE.run(raw, "scripts:lock", "theirs") == 0
    assert _redis_flight.EXTEND.run(raw, "scripts:lock", "theirs", 1) == 0
    assert raw.get(b"scripts:lock") == b"mine" and raw.pttl(b"scripts:lock") > 50_000
    assert _redis_flight.EXTEND.run(raw, "scripts:lock", "mine", 120_000) == 1
    assert raw.pttl(b"scripts:lock") > 60_000
    raw.script_flush()  # NOSCRIPT: sent again with EVAL
    assert _redis_flight.RELEASE.run(raw, "scripts:lock", "mine") == 1
    assert not raw.exists(b"scripts:lock")
    assert _redis_flight.RELEASE.run(raw, "scripts:lock", "mine") == 0


def test_redis_down_fails_open_once_per_process(redis_server: RedisServer) -> None:
    c = twincache.RedisCache(redis_server.url, namespace=f"fl{next(_ids)}", secret=SECRET,
                             timeout=0.1)  # fmt: skip
    redis_server.pause()  # SIGSTOP: connections accepted, nothing answers
    calls: list[int] = []
    barrier = threading.Barrier(8)
    results: list[Any] = []
    arrived = itertools.count(1)
    last = [0]

    def compute() -> str:
        calls.append(1)
        until(lambda: last[0] == 8)  # every caller is in get_or_set before the value exists
        return "local"

    def caller() -> None:
        barrier.wait(10)
        last[0] = max(last[0], next(arrived))
        results.append(c.get_or_set("down", compute))

    threads = [threading.Thread(target=caller) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert results == ["local"] * 8 and calls == [1]
    assert c.stats()["l2_errors"] >= 1


def test_decorated_copies_of_one_function_compute_once(redis_server: RedisServer) -> None:
    namespace = f"fl{next(_ids)}"
    calls: list[int] = []
    computing, release = threading.Event(), threading.Event()

    def make() -> Any:
        @twincache.cache(backend="redis", url=redis_server.url, secret=SECRET, ttl=600,
                         namespace=namespace, timeout=2, single_flight=True, lease=5)  # fmt: skip
        def report(x: int) -> list[int]:
            calls.append(x)
            computing.set()
            assert release.wait(10)
            return [x, x]

        return report

    first, second = make(), make()  # two "processes": separate L1 and flights, one Redis
    got: list[Any] = []
    t1 = threading.Thread(target=lambda: got.append(first(3)))
    t1.start()
    assert computing.wait(10)
    t2 = threading.Thread(target=lambda: got.append(second(3)))
    t2.start()
    release.set()
    t1.join(10)
    t2.join(10)
    assert got == [[3, 3], [3, 3]] and calls == [3]
    assert second.stats()["hits"] == 1 and second.stats()["misses"] == 0


def test_async_decorated_copies_and_aget_or_set_compute_once(redis_server: RedisServer) -> None:
    namespace = f"fl{next(_ids)}"
    calls: list[str] = []

    def make() -> Any:
        @twincache.cache(backend="redis", url=redis_server.url, secret=SECRET, ttl=600,
                         namespace=namespace, timeout=2, single_flight=True)  # fmt: skip
        async def page(x: str) -> str:
            calls.append(x)
            await asyncio.sleep(0.2)
            return x.upper()

        return page

    a, b = caches(redis_server)

    async def slow() -> str:
        calls.append("get_or_set")
        await asyncio.sleep(0.2)
        return "v"

    async def main() -> list[Any]:
        f, g = make(), make()
        out = await asyncio.gather(*(h("x") for h in (f, g) for _ in range(5)))
        out += await asyncio.gather(*(c.aget_or_set("ak", slow) for c in (a, b) for _ in range(5)))
        await a.aclose()
        await b.aclose()
        return out

    assert asyncio.run(main()) == ["X"] * 10 + ["v"] * 10
    assert calls == ["x", "get_or_set"]


def test_bad_options() -> None:
    with pytest.raises(
        ValueError, match=r"lease must be a number of seconds in \(0, 3600\] \(got 0\)"
    ):
        twincache.cache(backend="redis", codec="json", single_flight=True, lease=0)
    with pytest.raises(TypeError, match=r"lease must be a number of seconds .* \(got str\)"):
        twincache.cache(backend="redis", codec="json", single_flight=True, lease="1")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="lease applies with single_flight=True only"):
        twincache.cache(backend="redis", codec="json", lease=1)
    with pytest.raises(TypeError, match="lease apply to backend='redis' only"):
        twincache.cache(lease=1)  # type: ignore[call-overload]
    c = twincache.RedisCache("redis://127.0.0.1:1/0", codec="json")
    with pytest.raises(ValueError, match="lease must be"):
        c.get_or_set("k", lambda: 1, lease=-1)
    with pytest.raises(TypeError, match="fn must be callable"):
        c.get_or_set("k", 1)  # type: ignore[arg-type]
    assert c.get("k") is None  # nothing changed


def test_a_cached_error_of_the_leader_reaches_the_other_process(redis_server: RedisServer) -> None:
    namespace = f"fl{next(_ids)}"
    calls: list[str] = []
    computing, release = threading.Event(), threading.Event()

    def make() -> Any:
        @twincache.cache(backend="redis", url=redis_server.url, secret=SECRET, ttl=600,
                         namespace=namespace, timeout=2, single_flight=True,
                         cache_errors=KeyError)  # fmt: skip
        def lookup(name: str) -> str:
            calls.append(name)
            computing.set()
            assert release.wait(10)
            raise KeyError(name)

        return lookup

    first, second = make(), make()
    errors: list[BaseException] = []

    def call(f: Any) -> None:
        try:
            f("ada")
        except KeyError as exc:
            errors.append(exc)

    t1 = threading.Thread(target=call, args=(first,))
    t1.start()
    assert computing.wait(10)
    t2 = threading.Thread(target=call, args=(second,))
    t2.start()
    release.set()
    t1.join(10)
    t2.join(10)
    assert calls == ["ada"]  # the second "process" got the leader's cached error from Redis
    assert [e.args for e in errors] == [("ada",), ("ada",)]
