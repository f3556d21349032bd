"""Freshness options on the Redis tier (issue 18 over issue 16; docs/redis.md, "Freshness"):
@twincache.cache(**REDIS, stale=..., early_refresh=..., on_refresh_error=...) against a
real redis-server (tests/python/redis_server.py starts one for this module). L1 time is the
injected clock; an entry is put in its stale window in Redis with PEXPIRE (freshness comes from
the PTTL the read fetches, not from anyone's wall clock), so nothing sleeps. Background
refreshes are waited for through twincache._testing. Runs native and pure (TWINCACHE_PURE=1)."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from typing import Any

import pytest

import twincache
from redis_server import RedisServer, server_fixture
from twincache import _disk, _redis_flight
from twincache import _redis_envelope as env
from twincache._backend import impl
from twincache._testing import (
    ManualClock,
    call_together,
    join_refreshes,
    random_source,
    wait_refreshes,
)

redis_server = server_fixture()
SECRET = "test-secret-0123456789abcdef"
# coherent=False: these tests count L1 hits after a function's own writes, which a coherent
# L1 gives up (docs/redis.md, "Coherence"); coherence is tested in test_redis_coherence.py.
REDIS: dict[str, Any] = {"backend": "redis", "coherent": False}
_ids = itertools.count()


def fresh_namespace() -> str:
    return f"fr{next(_ids)}"


def _entry_key(f: Any, args: tuple[Any, ...]) -> bytes:
    """The key encoding of f(*args)'s entry (docs/redis.md, "Entry names")."""
    fn = f.__wrapped__
    identity = ["twincache.fn/1", fn.__module__, fn.__qualname__, _disk.source_hash(fn)]
    key: bytes = impl.encode_key([*identity, list(args), {}])
    return key


def name_of(f: Any, *args: Any) -> str:
    """The Redis name of f(*args)'s entry."""
    return str(f.redis_cache._name(_entry_key(f, args)))


def opened(server: RedisServer, f: Any, *args: Any) -> Any:
    """The envelope of f(*args)'s entry in Redis, opened: (codec, key, data, flags, fields)."""
    name = name_of(f, *args)
    raw = server.client().get(name)
    assert raw is not None
    return env.open_envelope(SECRET.encode(), name, _entry_key(f, args), raw)


# --- stale-while-revalidate --------------------------------------------------------------------


def test_an_entry_lives_ttl_plus_stale_and_carries_its_stale_window(
    redis_server: RedisServer, clock: ManualClock
) -> None:
    ns = fresh_namespace()

    @twincache.cache(**REDIS, url=redis_server.url, namespace=ns, secret=SECRET,
                     ttl=10, stale=5)  # fmt: skip
    def f(x: int) -> int:
        return x * 2

    assert f(1) == 2
    pttl = redis_server.client().pttl(name_of(f, 1))
    assert 10_000 < pttl <= 15_000  # PX = ttl + stale (more than the ttl)
    got = opened(redis_server, f, 1)
    assert got[3] & env.FLAG_FRESH and got[4][0] == 5000  # the stale window, in ms
    assert f.cache_parameters()["stale"] == 5


def test_l1_serves_stale_then_refreshes_once_and_writes_redis(
    redis_server: RedisServer, clock: ManualClock
) -> None:
    ns = fresh_namespace()
    calls: list[int] = []

    def make() -> Any:
        @twincache.cache(**REDIS, url=redis_server.url, namespace=ns, secret=SECRET,
                         ttl=10, stale=60)  # fmt: skip
        def f(x: int) -> tuple[int, int]:
            calls.append(x)
            return (x, len(calls))

        return f

    f = make()
    assert f(1) == (1, 1)
    clock.advance(9.9)
    assert f(1) == (1, 1) and len(calls) == 1  # fresh in L1: no refresh
    clock.advance(0.2)
    assert f(1) == (1, 1)  # stale in L1: the old value at once ...
    assert wait_refreshes(f)
    assert len(calls) == 2  # ... and one refresh
    assert f(1) == (1, 2)  # its value, in L1
    assert make()(1) == (1, 2)  # and in Redis (another L1 reads it)
    s = f.stats()
    assert s["refreshes"] == 1 and s["refresh_errors"] == 0 and s["l2_sets"] == 2


def test_an_entry_in_its_stale_window_in_redis_is_served_and_refreshed(
    redis_server: RedisServer, clock: ManualClock
) -> None:
    """PEXPIRE below the stale window: its PTTL says it is stale, for every process alike."""
    ns = fresh_namespace()
    calls: list[int] = []

    def make() -> Any:
        @twincache.cache(**REDIS, url=redis_server.url, namespace=ns, secret=SECRET,
                         ttl=600, stale=600)  # fmt: skip
        def f(x: int) -> int:
            calls.append(x)
            return len(calls)

        return f

    writer = make()
    assert writer(3) == 1
    redis_server.client().pexpire(name_of(writer, 3), 300_000)  # 300 s left of a 600 s window
    reader = make()
    assert reader(3) == 1  # stale in Redis: served at once
    assert wait_refreshes(reader)
    assert calls == [3, 3]  # one refresh
    assert reader(3) == 2
    assert 600_000 < redis_server.client().pttl(name_of(writer, 3)) <= 1_200_000
    s = reader.stats()
    assert s["l2_hits"] == 1 and s["refreshes"] == 1


def test_a_reader_without_stale_treats_a_stale_entry_as_a_miss(
    redis_server: RedisServer, clock: ManualClock
) -> None:
    ns = fresh_namespace()
    calls: list[str] = []

    def make(**fresh: Any) -> Any:
        @twincache.cache(**REDIS, url=redis_server.url, namespace=ns, secret=SECRET,
                         ttl=600, **fresh)  # fmt: skip
        def g(x: int) -> int:
            calls.append("stale" if fresh else "plain")
            return len(calls)

        return g

    writer = make(stale=600)
    assert writer(1) == 1
    fresh_reader = make()
    assert fresh_reader(1) == 1  # fresh (PTTL > the stale window): read, no computation
    redis_server.client().pexpire(name_of(writer, 1), 300_000)
    plain = make()
    assert plain(1) == 2  # in its stale window: a miss for a function without stale
    assert calls == ["stale", "plain"]
    assert plain.stats()["l2_misses"] == 1


def test_l1_drops_an_entry_at_the_end_of_its_stale_window(
    redis_server: RedisServer, clock: ManualClock
) -> None:
    ns = fresh_namespace()
    calls: list[int] = []

    @twincache.cache(**REDIS, url=redis_server.url, namespace=ns, secret=SECRET,
                     ttl=10, stale=5)  # fmt: skip
    def f(x: int) -> int:
        calls.append(x)
        return len(calls)

    assert f(1) == 1
    redis_server.client().unlink(name_of(f, 1))  # Redis forgets it: L1 alone decides
    clock.advance(15.1)  # past ttl + stale in L1's clock
    assert f(1) == 2  # computed in the caller, not served stale
    assert f.stats()["refreshes"] == 0


def test_stale_served_and_one_refresh_under_100_threads(
    redis_server: RedisServer, clock: ManualClock
) -> None:
    ns = fresh_namespace()
    release = threading.Event()
    calls: list[int] = []

    def make() -> Any:
        @twincache.cache(**REDIS, url=redis_server.url, namespace=ns, secret=SECRET,
                         ttl=600, stale=600)  # fmt: skip
        def f(x: int) -> int:
            calls.append(x)
            if len(calls) > 1:  # the refresh: held until every reader has read
                assert release.wait(10)
            return len(calls)

        return f

    writer = make()
    assert writer(7) == 1
    redis_server.client().pexpire(name_of(writer, 7), 300_000)  # stale in Redis
    for reader in (make(), writer):  # the L2 path (cold L1), then the L1 path
        if reader is writer:
            clock.advance(601)  # stale in writer's L1 as well
        results = call_together(100, lambda _, reader=reader: reader(7))
        assert results == [1] * 100  # every reader got the stale value at once
        # The refresh was handed to a worker thread, which may not have called f yet (a loaded
        # machine): wait for it to start, then check that it is the only one.
        deadline = time.monotonic() + 10
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.001)
        assert len(calls) == 2  # one refresh (still held) for 100 readers
        assert reader.stats()["hits"] == 100
        release.set()
        assert wait_refreshes(reader)
        assert reader(7) == 2
        release.clear()
        calls[:] = [7]
        redis_server.client().pexpire(name_of(writer, 7), 300_000)


def test_stale_served_and_one_refresh_under_100_coroutines(
    redis_server: RedisServer, clock: ManualClock
) -> None:
    ns = fresh_namespace()
    calls: list[int] = []

    async def main() -> None:
        gate = asyncio.Event()

        def make() -> Any:
            @twincache.cache(**REDIS, url=redis_server.url, namespace=ns,
                             secret=SECRET, ttl=600, stale=600)  # fmt: skip
            async def f(x: int) -> int:
                calls.append(x)
                if len(calls) > 1:
                    await gate.wait()
                return len(calls)

            return f

        writer = make()
        assert await writer(5) == 1
        redis_server.client().pexpire(name_of(writer, 5), 300_000)
        reader = make()
        results = await asyncio.gather(*(reader(5) for _ in range(100)))
        assert results == [1] * 100
        await asyncio.sleep(0)  # the refresh task starts
        assert len(calls) == 2
        gate.set()
        await join_refreshes(reader)
        assert await reader(5) == 2
        assert reader.stats()["refreshes"] == 1
        clock.advance(601)  # stale in reader's L1 now: the L1 path
        gate.clear()
        results = await asyncio.gather(*(reader(5) for _ in range(100)))
        assert results == [2] * 100
        await asyncio.sleep(0)
        assert len(calls) == 3
        gate.set()
        await join_refreshes(reader)
        assert await reader(5) == 3
        assert reader.stats()["refreshes"] == 2
        await reader.redis_cache.aclose()
        await writer.redis_cache.aclose()

    asyncio.run(main())


def test_a_failed_refresh_keeps_the_stale_value_counts_and_reports(
    redis_server: RedisServer, clock: ManualClock
) -> None:
    ns = fresh_namespace()
    reported: list[Exception] = []
    calls: list[int] = []

    @twincache.cache(**REDIS, url=redis_server.url, namespace=ns, secret=SECRET,
                     ttl=10, stale=5, on_refresh_error=reported.append)  # fmt: skip
    def f(x: int) -> int:
        calls.append(x)
        if len(calls) > 1:
            raise ValueError(f"refresh {len(calls)} failed")
        return 1

    assert f(1) == 1
    clock.advance(11)
    for expected_calls in (2, 3):  # each stale read after a failure may retry, one at a time
        assert f(1) == 1
        assert wait_refreshes(f)
        assert len(calls) == expected_calls
    assert [str(e) for e in reported] == ["refresh 2 failed", "refresh 3 failed"]
    s = f.stats()
    assert s["refresh_errors"] == 2 and s["refreshes"] == 0
    assert opened(redis_server, f, 1)[2] is not None  # Redis still holds the old entry
    redis_server.client().unlink(name_of(f, 1))  # the window is over in Redis too (expired)
    clock.advance(5)  # and in L1: callers wait on a fresh call (which raises)
    with pytest.raises(ValueError, match="refresh 4 failed"):
        f(1)


def test_an_async_failed_refresh_keeps_the_stale_value(
    redis_server: RedisServer, clock: ManualClock
) -> None:
    ns = fresh_namespace()
    reported: list[Exception] = []

    @twincache.cache(**REDIS, url=redis_server.url, namespace=ns, secret=SECRET,
                     ttl=10, stale=5, on_refresh_error=reported.append)  # fmt: skip
    async def f(x: int) -> int:
        if reported or f.stats()["l2_sets"]:
            raise KeyError("down")
        return 1

    async def main() -> None:
        assert await f(1) == 1
        clock.advance(11)
        assert await f(1) == 1
        await join_refreshes(f)
        assert await f(1) == 1  # still the stale value
        await join_refreshes(f)
        assert len(reported) == 2 and f.stats()["refresh_errors"] == 2
        await f.redis_cache.aclose()

    asyncio.run(main())


def test_invalidate_forgets_a_refresh_in_flight(
    redis_server: RedisServer, clock: ManualClock
) -> None:
    ns = fresh_namespace()
    release, entered = threading.Event(), threading.Event()
    calls: list[int] = []

    @twincache.cache(**REDIS, url=redis_server.url, namespace=ns, secret=SECRET,
                     ttl=10, stale=5)  # fmt: skip
    def f(x: int) -> int:
        calls.append(x)
        if len(calls) == 2:
            entered.set()
            assert release.wait(10)
        return len(calls)

    assert f(1) == 1
    clock.advance(11)
    assert f(1) == 1  # a refresh starts, held
    assert entered.wait(10)
    assert f.invalidate(1)
    assert f(1) == 3  # computed anew
    release.set()
    assert wait_refreshes(f)
    assert f(1) == 3  # the refresh's late result (2) was stored nowhere
    assert f.stats()["refreshes"] == 0


# --- early refresh (XFetch) ----------------------------------------------------------------------


def test_early_refresh_uses_the_remaining_pttl_and_the_compute_time(
    redis_server: RedisServer, clock: ManualClock
) -> None:
    ns = fresh_namespace()
    calls: list[int] = []

    def make() -> Any:
        @twincache.cache(**REDIS, url=redis_server.url, namespace=ns, secret=SECRET,
                         ttl=600, early_refresh=1.0)  # fmt: skip
        def f(x: int) -> int:
            calls.append(x)
            clock.advance(20)  # the computation takes 20 s of the injected clock
            return len(calls)

        return f

    writer = make()
    assert writer(1) == 1
    got = opened(redis_server, writer, 1)
    assert got[4] == (0, 20_000_000)  # no stale window; delta 20 s in us
    name = name_of(writer, 1)
    redis_server.client().pexpire(name, 50_000)  # 50 s left (real time: seconds of margin)
    # The rule: -ln(1 - u) * delta * beta >= remaining. u = 0.9: 46 s < 50 s, no refresh.
    with random_source(lambda: 0.9):
        reader = make()
        assert reader(1) == 1
        assert wait_refreshes(reader) and len(calls) == 1
    # u = 0.95: 59.9 s >= 50 s: the value at once, one refresh in the background.
    with random_source(lambda: 0.95):
        reader = make()
        assert reader(1) == 1
        assert wait_refreshes(reader)
    assert len(calls) == 2
    assert reader.stats()["early_refreshes"] == 1
    assert reader(1) == 2


def test_early_refresh_on_l1_hits(redis_server: RedisServer, clock: ManualClock) -> None:
    ns = fresh_namespace()
    calls: list[int] = []

    @twincache.cache(**REDIS, url=redis_server.url, namespace=ns, secret=SECRET,
                     ttl=10, early_refresh=1.0)  # fmt: skip
    def f(x: int) -> int:
        calls.append(x)
        clock.advance(1)
        return len(calls)

    assert f(1) == 1  # fresh until 10 s after it was stored; delta 1 s
    clock.advance(7)  # 3 s left
    with random_source(lambda: 0.9):  # 2.3 s < 3 s
        assert f(1) == 1
        assert wait_refreshes(f) and calls == [1]
    with random_source(lambda: 0.96):  # 3.2 s >= 3 s
        assert f(1) == 1
        assert wait_refreshes(f)
    assert calls == [1, 1] and f(1) == 2


# --- options -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("opts", "error", "message"),
    [
        ({"stale": 5}, TypeError, "stale need(s) a ttl"),
        ({"ttl": 5, "stale": -1}, ValueError, "stale must be"),
        ({"ttl": 5, "early_refresh": 0}, ValueError, "early_refresh must be a finite number > 0"),
        ({"ttl": 5, "on_refresh_error": print}, TypeError, "on_refresh_error applies with"),
        ({"ttl": 5, "stale": 1, "on_refresh_error": 3}, TypeError, "on_refresh_error must be"),
    ],
)
def test_bad_freshness_options_name_the_parameter(
    redis_server: RedisServer, opts: dict[str, Any], error: type, message: str
) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        twincache.cache(**REDIS, url=redis_server.url, secret=SECRET, **opts)


def test_without_freshness_options_entries_are_unchanged(
    redis_server: RedisServer, clock: ManualClock
) -> None:
    ns = fresh_namespace()

    @twincache.cache(**REDIS, url=redis_server.url, namespace=ns, secret=SECRET, ttl=10)
    def f(x: int) -> int:
        return x

    assert f(1) == 1
    name = name_of(f, 1)
    got = env.open_envelope(SECRET.encode(), name, _entry_key(f, (1,)),
                            redis_server.client().get(name))  # fmt: skip
    assert got[3] == 0 and got[4] is None
    assert not hasattr(f, "_freshness")


def test_single_flight_and_stale_compose(redis_server: RedisServer, clock: ManualClock) -> None:
    """single_flight=True: a cold key is computed once by the lease's holder, whose entry has the
    freshness fields; a stale entry refreshes in the background without waiting on a held lease
    (docs/redis.md, "Freshness")."""
    ns = fresh_namespace()
    calls: list[int] = []
    computing, release = threading.Event(), threading.Event()

    def make() -> Any:
        @twincache.cache(**REDIS, url=redis_server.url, namespace=ns, secret=SECRET,
                         ttl=600, stale=600, single_flight=True)  # fmt: skip
        def f(x: int) -> int:
            calls.append(x)
            if len(calls) == 1:  # the leader: held until the other process asks
                computing.set()
                assert release.wait(10)
            return x * 10 + len(calls)

        return f

    a, b = make(), make()  # two decorated copies stand for two processes
    results: list[int] = []
    leader = threading.Thread(target=lambda: results.append(a(3)))
    leader.start()
    assert computing.wait(10)
    waiter = threading.Thread(target=lambda: results.append(b(3)))
    waiter.start()
    release.set()
    leader.join(10)
    waiter.join(10)
    assert results == [31, 31] and calls == [3]  # one computation for both
    assert b.stats()["misses"] == 0
    name = name_of(a, 3)
    assert redis_server.client().exists(_redis_flight.lock_name(name)) == 0  # released
    fields = opened(redis_server, a, 3)[4]
    assert fields is not None and fields[0] == 600_000  # the leader's value has the fields
    # In its stale window, with another process's lease held: the refresh does not wait on it.
    redis_server.client().pexpire(name, 300_000)
    redis_server.client().set(_redis_flight.lock_name(name), "another-leader", px=60_000)
    c = make()
    assert c(3) == 31  # the stale value at once
    assert wait_refreshes(c)
    assert calls == [3, 3] and c(3) == 32
    assert c.stats()["refreshes"] == 1
    assert 600_000 < redis_server.client().pttl(name) <= 1_200_000  # rewritten: ttl + stale
