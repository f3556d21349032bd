"""The Redis tier when Redis fails, with real faults on a real redis-server (its own, for this
module): SIGKILL mid-run and a restart on the same port, SIGSTOP (the port accepts connections,
nothing answers). Every call must return (served from L1, computed, or a counted miss), the
circuit breaker must open and close again, and memory must stay within L1's budget.

Timing assertions are deliberately loose (a call returns in less than 10x its timeout): they
check that nothing hangs, not how fast; speeds belong in bench/. The breaker's probe time is
driven by an injected clock, not by sleeping."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

import twincache
from redis_server import Proxy, RedisServer, server_fixture

redis_server = server_fixture()
SECRET = "faults-secret-0123456789abcdef"
REDIS: dict[str, Any] = {"backend": "redis", "coherent": False}  # see make()
TIMEOUT = 0.1
LOOSE = 10 * TIMEOUT  # "returned", not "fast"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server(redis_server: RedisServer) -> Iterator[RedisServer]:
    """The module's server, running and answering again after each test."""
    yield redis_server
    if redis_server.paused:
        redis_server.resume()
    if redis_server.proc is None:
        redis_server.start()


@pytest.fixture
def proxy(server: RedisServer) -> Iterator[Proxy]:
    p = Proxy(server.port)
    yield p
    p.close()


def make(server: RedisServer | Proxy, clock: FakeClock, **opts: Any) -> twincache.RedisCache:
    # coherent=False: these tests are about L1 serving through an outage, which a coherent
    # cache gives up (its L1 is flushed when the invalidation connection drops).
    opts = {"secret": SECRET, "timeout": TIMEOUT, "breaker_threshold": 2, "coherent": False, **opts}
    opts.setdefault("breaker_delay", (1.0, 1.0))
    c = twincache.RedisCache(server.url, **opts)
    c._breaker.clock = clock
    return c


def timed(call: Any) -> Any:
    started = time.monotonic()
    value = call()
    elapsed = time.monotonic() - started
    assert elapsed < LOOSE, f"a call took {elapsed:.3f} s with timeout={TIMEOUT}"
    return value


def test_sigkill_then_restart_on_the_same_port(server: RedisServer) -> None:
    clock = FakeClock()
    c = make(server, clock, namespace="kill", l1_maxsize=100)
    c["kept"] = "v"
    server.kill()

    assert timed(lambda: c.get("kept")) == "v"  # L1
    assert timed(lambda: c.get("absent", "miss")) == "miss"  # refused: a counted miss
    timed(lambda: c.set("written", 1))  # L1 only
    s = c.stats()
    assert (s["l2_errors"], s["breaker"], s["breaker_opened"]) == (2, "open", 1)
    assert timed(lambda: c.get("other", "miss")) == "miss"  # not even sent now
    assert c.stats()["l2_skipped"] == 1
    assert c["written"] == 1
    for i in range(1000):  # memory stays within L1's budget while Redis is down
        c[i] = i
    assert c.stats()["l1_items"] <= 100

    server.restart()  # an empty server on the same port
    assert c.get("other", "miss") == "miss"  # the breaker waits for its probe time
    assert c.stats()["l2_skipped"] == 1002
    clock.now = 1.01  # past the probe time (delay 1 s x U(0.5, 1])
    c["after"] = 2  # the probe: Redis answers, the breaker closes
    s = c.stats()
    assert (s["breaker"], s["reconnects"], s["l2_errors"]) == ("closed", 1, 2)
    fresh = make(server, FakeClock(), namespace="kill")
    assert fresh["after"] == 2
    assert fresh.get("kept", "lost") == "lost"  # the killed server kept nothing (no persistence)


def test_a_failed_probe_opens_the_breaker_again_with_a_longer_delay(server: RedisServer) -> None:
    clock = FakeClock()
    c = make(server, clock, namespace="probe", breaker_delay=(1.0, 8.0))
    server.kill()
    for _ in range(2):
        c.get("k")
    assert c.stats()["breaker"] == "open"
    probe_at = c._breaker.probe_at
    assert 0.5 <= probe_at <= 1.0
    clock.now = probe_at
    timed(lambda: c.get("k"))  # the probe fails: open again, delay 2 s x U(0.5, 1]
    s = c.stats()
    assert (s["breaker"], s["breaker_opened"], s["l2_errors"]) == ("open", 2, 3)
    assert probe_at + 1.0 <= c._breaker.probe_at <= probe_at + 2.0
    server.start()
    clock.now = c._breaker.probe_at
    c["k"] = 1
    assert c.stats()["breaker"] == "closed"


def test_decorated_function_is_computed_while_redis_is_killed(server: RedisServer) -> None:
    calls: list[int] = []

    @twincache.cache(**REDIS, url=server.url, namespace="dk", secret=SECRET, timeout=TIMEOUT)
    def triple(x: int) -> int:
        calls.append(x)
        return 3 * x

    assert triple(1) == 3
    server.kill()
    assert timed(lambda: triple(1)) == 3  # L1
    assert timed(lambda: triple(2)) == 6  # computed
    assert calls == [1, 2]
    assert triple.stats()["l2_errors"] >= 1


def test_sigstop_every_call_returns_within_its_timeout(server: RedisServer) -> None:
    clock = FakeClock()
    c = make(server, clock, namespace="stop", breaker_threshold=3)
    c["kept"] = "v"
    calls: list[int] = []

    @twincache.cache(**REDIS, url=server.url, namespace="stopfn", secret=SECRET, timeout=TIMEOUT)
    def inc(x: int) -> int:
        calls.append(x)
        return x + 1

    server.pause()
    assert timed(lambda: c.get("kept")) == "v"  # L1: no network
    for key in ("a", "b", "c"):
        assert timed(lambda key=key: c.get(key, "miss")) == "miss"
    timed(lambda: c.set("d", 4))  # the breaker is open: L1 only
    s = c.stats()
    assert (s["l2_timeouts"], s["l2_errors"], s["breaker"], s["l2_skipped"]) == (3, 3, "open", 1)
    assert timed(lambda: inc(1)) == 2  # computed: Redis did not answer in time
    assert timed(lambda: inc(1)) == 2  # from L1
    assert calls == [1]
    assert inc.stats()["l2_timeouts"] >= 1

    server.resume()
    clock.now = 1.01
    assert c["d"] == 4  # L1
    assert c.get("a", "miss") == "miss"  # the probe reaches Redis: no entry there
    assert c.stats()["breaker"] == "closed"


@pytest.mark.asyncio
async def test_sigstop_async_calls_return_within_their_timeout(server: RedisServer) -> None:
    clock = FakeClock()
    c = make(server, clock, namespace="astop")
    await c.aset("kept", "v")
    calls: list[int] = []

    @twincache.cache(**REDIS, url=server.url, namespace="astopfn", secret=SECRET, timeout=TIMEOUT)
    async def half(x: int) -> float:
        calls.append(x)
        await asyncio.sleep(0)
        return x / 2

    server.pause()
    try:
        started = time.monotonic()
        assert await c.aget("kept") == "v"
        assert await c.aget("a", "miss") == "miss"
        assert await c.aget_many(["b", "kept"]) == {"kept": "v"}
        assert await half(3) == 1.5
        elapsed = time.monotonic() - started
        assert elapsed < 4 * LOOSE, f"four calls took {elapsed:.3f} s with timeout={TIMEOUT}"
        s = c.stats()
        assert (s["l2_timeouts"], s["breaker"]) == (2, "open")
        assert calls == [3]
    finally:
        server.resume()
    clock.now = 1.01
    assert await c.aget("a", "miss") == "miss"
    assert c.stats()["breaker"] == "closed"
    await c.aclose()


# --- a slow or partitioned network (the proxy) ----------------------------------------------------


def test_latency_under_the_timeout_is_served_from_redis(server: RedisServer, proxy: Proxy) -> None:
    proxy.latency = 0.01  # each way: 20 ms a round trip, timeout 100 ms
    make(proxy, FakeClock(), namespace="lat").set_many({"a": 1, "b": 2})
    reader = make(proxy, FakeClock(), namespace="lat")
    assert reader.get_many(["a", "b"]) == {"a": 1, "b": 2}
    assert reader["a"] == 1
    s = reader.stats()
    assert (s["l2_hits"], s["l2_errors"], s["breaker"]) == (2, 0, "closed")


def test_latency_over_the_timeout_is_a_counted_timeout(server: RedisServer, proxy: Proxy) -> None:
    make(server, FakeClock(), namespace="slow")["k"] = "v"
    proxy.latency = 3 * TIMEOUT
    c = make(proxy, FakeClock(), namespace="slow")
    assert timed(lambda: c.get("k", "late")) == "late"
    s = c.stats()
    assert (s["l2_timeouts"], s["l2_errors"], s["breaker"]) == (1, 1, "closed")
    proxy.latency = 0.0
    assert c.get("k", "late") == "v"  # a fresh connection, answered in time


def test_a_blackholed_network_never_blocks_a_call(server: RedisServer, proxy: Proxy) -> None:
    clock = FakeClock()
    c = make(proxy, clock, namespace="hole")
    c["kept"] = "v"
    calls: list[int] = []

    @twincache.cache(**REDIS, url=proxy.url, namespace="holefn", secret=SECRET, timeout=TIMEOUT)
    def neg(x: int) -> int:
        calls.append(x)
        return -x

    assert neg(1) == -1
    proxy.blackhole = True
    assert timed(lambda: c.get("kept")) == "v"  # L1
    assert timed(lambda: c.get("a", "miss")) == "miss"
    timed(lambda: c.set("b", 2))
    assert timed(lambda: c.get("z", "miss")) == "miss"  # the breaker is open: not sent
    assert timed(lambda: neg(2)) == -2  # computed
    assert timed(lambda: neg(1)) == -1  # L1
    assert calls == [1, 2]
    s = c.stats()
    assert (s["l2_timeouts"], s["breaker"], s["l2_skipped"]) == (2, "open", 1)
    proxy.blackhole = False
    clock.now = 1.01
    assert c["b"] == 2  # L1
    assert c.get("a", "miss") == "miss"  # the probe is answered (no entry "a" in Redis)
    assert c.stats()["breaker"] == "closed"


def test_an_abandoned_probe_leaves_the_breaker_open_not_stuck() -> None:
    clock = FakeClock()
    b = twincache._redis.Breaker(1, 1.0, 1.0, clock)
    b.failure()
    assert (b.state, b.allow()) == ("open", False)
    clock.now = 1.0
    assert b.allow() is True  # the probe
    assert (b.state, b.allow()) == ("half-open", False)  # one probe at a time
    b.abandon()  # the probe was cancelled: no verdict
    assert b.state == "open"
    assert b.allow() is True  # the next call probes at once
    b.success()
    assert (b.state, b.recoveries) == ("closed", 1)


@pytest.mark.asyncio
async def test_a_cancelled_async_probe_does_not_wedge_the_breaker(server: RedisServer) -> None:
    clock = FakeClock()
    c = make(server, clock, namespace="cancel", breaker_threshold=1)
    server.pause()
    try:
        assert await c.aget("a", "miss") == "miss"  # a timeout: the breaker opens
        assert c.stats()["breaker"] == "open"
        clock.now = 1.01
        probe = asyncio.ensure_future(c.aget("b"))
        await asyncio.sleep(TIMEOUT / 5)
        probe.cancel()
        with pytest.raises(asyncio.CancelledError):
            await probe
        assert c.stats()["breaker"] == "open"
    finally:
        server.resume()
    assert await c.aget("b", "miss") == "miss"  # the next call probes, and Redis answers
    assert c.stats()["breaker"] == "closed"
    await c.aclose()
