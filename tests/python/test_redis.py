"""twincache.RedisCache and @twincache.cache(backend="redis") against a real redis-server
(tests/python/redis_server.py starts one for this module): round trips, TTLs and the L1 bound,
namespaces, one round trip for get_many/set_many, signed entries, bad input. Faults (SIGKILL,
SIGSTOP) are in test_redis_faults.py. Runs native and pure (L1 is then the pure Cache)."""

from __future__ import annotations

import asyncio
import itertools
import pickle
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import twincache
from redis_server import RedisServer, server_fixture
from twincache import _disk, _disk_pure, _keys, _redis_envelope
from twincache._testing import ManualClock

redis_server = server_fixture()
SECRET = "test-secret-0123456789abcdef"
_ids = itertools.count()


def name_of(cache: twincache.RedisCache, key: object) -> str:
    """The entry name of a RedisCache key (docs/redis.md): namespace, ':', XXH3-128 hex."""
    return f"{cache.namespace}:{_keys.hash128_hex(key)}"


@pytest.fixture
def make(redis_server: RedisServer) -> Iterator[Callable[..., twincache.RedisCache]]:
    """RedisCache(url of this module's server, secret=SECRET, namespace=a fresh one, **opts);
    coherent=False unless asked: these tests count L1 hits after a cache's own writes, which a
    coherent cache gives up (docs/redis.md, "Coherence": own writes), and coherence has its
    own module (test_redis_coherence.py)."""
    made: list[twincache.RedisCache] = []
    namespace = f"t{next(_ids)}"

    def make(**opts: Any) -> twincache.RedisCache:
        opts.setdefault("namespace", namespace)
        opts.setdefault("secret", SECRET)
        opts.setdefault("coherent", False)
        c = twincache.RedisCache(redis_server.url, **opts)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


# --- round trips ----------------------------------------------------------------------------------


def test_values_round_trip_through_redis_to_another_cache(make: Any) -> None:
    writer, reader = make(), make()
    writer["user:1"] = {"name": "Ada", "tags": {"x", "y"}}
    writer.set(("t", 1), b"\x00raw")
    writer[None] = None
    assert writer["user:1"] == {"name": "Ada", "tags": {"x", "y"}}  # from L1
    assert writer.stats()["l1_hits"] == 1
    assert reader["user:1"] == {"name": "Ada", "tags": {"x", "y"}}  # from Redis
    assert reader.get(("t", 1)) == b"\x00raw"
    assert reader.get(None, "default") is None  # a cached None is a hit
    assert reader.get("absent", "default") == "default"
    with pytest.raises(KeyError):
        reader["absent"]
    s = reader.stats()
    assert (s["l2_hits"], s["l2_misses"], s["hits"], s["misses"]) == (3, 2, 3, 2)
    assert "user:1" in reader
    assert sorted(map(repr, reader)) == sorted(map(repr, ["user:1", ("t", 1), None]))
    assert len(reader) == 3
    del reader["user:1"]
    assert "user:1" not in make()
    with pytest.raises(KeyError):
        del reader["user:1"]


def test_json_entries_are_the_shared_format(make: Any, redis_server: RedisServer) -> None:
    c = make(codec="json", secret=None)
    c["k"] = [1, "é", None]
    raw = redis_server.client().get(name_of(c, "k"))
    assert raw[:3] == b"\x01\x02\x00"  # version 1, codec json, no flags
    assert b'[1,"\xc3\xa9",null]' in raw
    assert make(codec="json", secret=None)["k"] == [1, "é", None]


def test_large_values_are_compressed_and_read_back(make: Any, redis_server: RedisServer) -> None:
    if _disk_pure._zstd.lib is None:
        pytest.skip("no libzstd on this machine")
    c = make()
    value = "abc" * 10_000
    c["big"] = value
    raw = redis_server.client().get(name_of(c, "big"))
    assert raw[2] == 0x01 and len(raw) < 2_000  # the zstd flag, and smaller than the value
    assert make()["big"] == value


# --- TTL ------------------------------------------------------------------------------------------


def test_ttl_is_px_rounded_up_to_milliseconds(make: Any, redis_server: RedisServer) -> None:
    r = redis_server.client()
    c = make(ttl=5)
    c["a"] = 1
    c.set("b", 2, ttl=0.0001)
    c.set("forever", 3, ttl=None)
    assert 4_000 < r.pttl(name_of(c, "a")) <= 5_000
    assert r.pttl(name_of(c, "b")) in (1, 0, -2)  # 1 ms: left, used up, or gone
    assert 4_000 < r.pttl(name_of(c, "forever")) <= 5_000  # ttl=None: the cache's default
    make().set("none", 4)
    assert r.pttl(name_of(c, "none")) == -1


def test_l1_keeps_a_written_entry_no_longer_than_its_ttl(make: Any, clock: ManualClock) -> None:
    c = make()
    c.set("k", "v", ttl=2)
    clock.advance(1.9)
    assert c["k"] == "v"
    assert c.stats()["l2_hits"] == 0  # from L1
    clock.advance(0.2)  # L1's copy expired; Redis (real time) still has it
    assert c["k"] == "v"
    assert c.stats()["l2_hits"] == 1


def test_l1_keeps_a_read_entry_no_longer_than_redis_remaining_ttl(
    make: Any, redis_server: RedisServer, clock: ManualClock
) -> None:
    make().set("k", "v", ttl=600)
    name = name_of(make(), "k")
    redis_server.client().pexpire(name, 500)  # Redis now keeps it 0.5 s more
    reader = make()
    assert reader["k"] == "v"  # L2 hit: L1 takes the remaining PTTL (<= 0.5 s)
    clock.advance(0.3)
    assert reader["k"] == "v"
    assert reader.stats()["l2_hits"] == 1  # still L1
    clock.advance(0.21)  # 0.51 s of L1 time: past the PTTL read
    assert reader["k"] == "v"  # (real time has not passed: Redis still has it)
    assert reader.stats()["l2_hits"] == 2


def test_l1_keeps_a_read_entry_no_longer_than_the_readers_own_ttl(
    make: Any, redis_server: RedisServer, clock: ManualClock
) -> None:
    """The read's PTTL may be a newer entry's (GET and PTTL are two commands: docs/redis.md,
    "Commands"), so an L1 copy also lives no longer than the reader's own ttl, and a reader
    with a ttl bounds an entry Redis keeps forever."""
    make().set("long", "v", ttl=600)
    make(ttl=None).set("forever", "w")
    assert redis_server.client().pttl(name_of(make(), "forever")) == -1
    reader = make(ttl=2)
    assert (reader["long"], reader["forever"]) == ("v", "w")  # L2 hits, kept in L1
    clock.advance(1.9)
    assert (reader["long"], reader["forever"]) == ("v", "w")
    assert reader.stats()["l2_hits"] == 2  # both from L1
    clock.advance(0.2)  # past the reader's 2 s: read from Redis again
    assert (reader["long"], reader["forever"]) == ("v", "w")
    assert reader.stats()["l2_hits"] == 4
    unbounded = make(ttl=None)
    assert unbounded["forever"] == "w"
    clock.advance(3600)
    assert unbounded["forever"] == "w" and unbounded.stats()["l2_hits"] == 1  # from L1


def test_a_name_held_by_a_list_is_read_in_one_round_trip_too(
    make: Any, redis_server: RedisServer
) -> None:
    """GET of a list answers WRONGTYPE: a miss, and the PTTL behind it is still read, so the
    connection stays in step for the next call."""
    c = make()
    redis_server.client().rpush(name_of(c, "list"), "x")
    c["k"] = "v"
    reader = make()
    for _ in range(3):
        assert reader.get("list", "miss") == "miss"
        assert reader.get("k") == "v"
        reader._l1.clear()
    s = reader.stats()
    assert (s["l2_misses"], s["l2_hits"], s["l2_errors"], s["breaker"]) == (3, 3, 0, "closed")


# --- namespaces -----------------------------------------------------------------------------------


def test_clear_removes_its_namespace_only(make: Any, redis_server: RedisServer) -> None:
    r = redis_server.client()
    a, a2, b = make(namespace="ns-a"), make(namespace="ns-a2"), make(namespace="ns-b")
    for cache in (a, a2, b):
        cache.clear()
        cache.set_many({i: i for i in range(2500)})  # more than one SCAN/UNLINK batch

    @twincache.cache(
        backend="redis", coherent=False, url=redis_server.url, namespace="ns-a", secret=SECRET
    )
    def double(x: int) -> int:
        return 2 * x

    double(1)
    r.set("ns-a", "not ours")
    r.set("ns-ax:00000000000000000000000000000000", "not ours")
    a.clear()
    assert r.exists("ns-a", "ns-ax:00000000000000000000000000000000") == 2
    assert len(a) == 0 and a.get(5) is None
    assert not r.keys("ns-a:*")  # the function's entry went too (it is in the namespace)
    assert len(a2) == 2500 and len(b) == 2500
    assert make(namespace="ns-b").get(2499) == 2499


def test_a_function_cache_clear_removes_that_functions_entries_only(
    redis_server: RedisServer,
) -> None:
    def opts() -> dict[str, Any]:
        return {"backend": "redis", "url": redis_server.url, "namespace": "fn", "secret": SECRET}

    @twincache.cache(**opts())
    def f(x: int) -> int:
        return x

    @twincache.cache(**opts())
    def g(x: int) -> int:
        return x

    for i in range(3):
        f(i)
        g(i)
    r = redis_server.client()
    assert len(r.keys("fn:*")) == 6
    f.cache_clear()
    assert len(r.keys("fn:*")) == 3
    assert g.stats()["l2_sets"] == 3


# --- many keys in one round trip ------------------------------------------------------------------


def test_get_many_and_set_many_take_one_command_each(make: Any, redis_server: RedisServer) -> None:
    c = make(ttl=60)
    before = redis_server.command_calls()
    c.set_many({f"k{i}": i for i in range(50)})
    after_set = redis_server.command_calls()
    assert after_set.get("set", 0) - before.get("set", 0) == 50
    reader = make()
    got = reader.get_many([f"k{i}" for i in range(50)] + ["absent"])
    after_get = redis_server.command_calls()
    assert got == {f"k{i}": i for i in range(50)}
    read = {k: after_get.get(k, 0) - after_set.get(k, 0) for k in ("exec", "mget", "get", "pttl")}
    # One pipeline read all 51 names (MGET, then a PTTL each, no MULTI: one round trip).
    assert read == {"exec": 0, "mget": 1, "get": 0, "pttl": 51}, read
    assert reader.get_many([f"k{i}" for i in range(50)]) == got  # all from L1 now
    assert redis_server.command_calls().get("pttl", 0) == after_get.get("pttl", 0)


# --- signed entries -------------------------------------------------------------------------------

unpickled: list[str] = []


def _record(event: str) -> None:
    unpickled.append(event)


class Trap:
    """Unpickling it records that it happened."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_record, ("unpickled!",))


def test_a_tampered_entry_is_a_counted_miss_and_never_unpickled(
    make: Any, redis_server: RedisServer
) -> None:
    r = redis_server.client()
    c = make()
    c["k"] = Trap()  # stores the pickle of an append call
    unpickled.clear()
    name = name_of(c, "k")
    raw = bytearray(r.get(name))
    raw[-40] ^= 0x01  # one payload byte
    r.set(name, bytes(raw))
    reader = make()
    assert reader.get("k", "miss") == "miss"
    assert reader.stats()["l2_corrupt"] == 1
    # An attacker's own envelope, signed with another secret: refused as well.
    forged = _redis_envelope.seal(
        b"attacker-secret-0000", name, _keys.encode("k"), 1, pickle.dumps(Trap())
    )
    r.set(name, forged)
    assert make().get("k", "miss") == "miss"
    assert unpickled == []
    # The genuine entry, as a control: unpickling it does run the call.
    c2 = make()
    c2["k"] = Trap()
    unpickled.clear()
    assert make()["k"] is None
    assert unpickled == ["unpickled!"]


def test_another_secret_reads_misses(make: Any) -> None:
    make()["k"] = 1
    other = make(secret="another-secret-0123456789")
    assert other.get("k", "miss") == "miss"
    assert other.stats()["l2_corrupt"] == 1


# --- bad input ------------------------------------------------------------------------------------


def test_pickle_needs_a_secret(monkeypatch: pytest.MonkeyPatch, redis_server: RedisServer) -> None:
    monkeypatch.delenv("TWINCACHE_SECRET", raising=False)
    with pytest.raises(ValueError, match=r"needs a secret.*secret=.*TWINCACHE_SECRET"):
        twincache.RedisCache(redis_server.url)
    with pytest.raises(ValueError, match="needs a secret"):
        twincache.cache(backend="redis", coherent=False, url=redis_server.url)
    monkeypatch.setenv("TWINCACHE_SECRET", "from-the-environment-0123")
    c = twincache.RedisCache(redis_server.url, namespace="env")
    c["k"] = 1
    assert twincache.RedisCache(redis_server.url, namespace="env")["k"] == 1
    monkeypatch.setenv("TWINCACHE_SECRET", "short")
    with pytest.raises(ValueError, match=r"TWINCACHE_SECRET must be at least 16 bytes \(got 5\)"):
        twincache.RedisCache(redis_server.url)


@pytest.mark.parametrize(
    ("opts", "error", "message"),
    [
        ({"url": "http://h"}, ValueError, r"url must be a redis://, rediss:// or unix:// URL"),
        ({"url": "redis://h:port/0"}, ValueError, r"url must be a redis://.*'redis://h:port/0'"),
        ({"url": 5}, TypeError, r"url must be a str"),
        ({"namespace": "a:b"}, ValueError, r"namespace must be 1 to 64 characters.*'a:b'"),
        ({"namespace": "x*"}, ValueError, r"namespace must be"),
        ({"namespace": "n" * 65}, ValueError, r"namespace must be"),
        ({"namespace": 3}, TypeError, r"namespace must be a str"),
        ({"timeout": 0}, ValueError, r"timeout must be a number of seconds in \(0, 3600\]"),
        ({"timeout": -1.0}, ValueError, r"timeout must be .* \(got -1.0\)"),
        ({"timeout": float("nan")}, ValueError, r"timeout must be"),
        ({"timeout": "1"}, TypeError, r"timeout must be a number"),
        ({"codec": "xml"}, ValueError, r"codec must be 'pickle' or 'json' \(got 'xml'\)"),
        ({"ttl": 0}, ValueError, r"ttl must be"),
        ({"secret": 12345}, TypeError, r"secret must be a str, bytes or None"),
        ({"secret": b"short"}, ValueError, r"secret must be at least 16 bytes \(got 5\)"),
        ({"l1_maxsize": 0}, ValueError, r"l1_maxsize"),
        ({"breaker_threshold": 0}, ValueError, r"breaker_threshold must be an integer"),
        ({"breaker_delay": (2, 1)}, ValueError, r"breaker_delay must be a \(min, max\)"),
    ],
)
def test_bad_options_name_the_parameter(opts: dict[str, Any], error: type, message: str) -> None:
    opts = {"url": "redis://127.0.0.1:1/0", "secret": SECRET, **opts}
    with pytest.raises(error, match=message):
        twincache.RedisCache(**opts)


def test_bad_decorator_options(redis_server: RedisServer) -> None:
    with pytest.raises(ValueError, match="namespace must be"):
        twincache.cache(
            backend="redis", coherent=False, url=redis_server.url, namespace="a b", secret=SECRET
        )
    with pytest.raises(TypeError, match="does not take typed, path"):
        twincache.cache(backend="redis", coherent=False, typed=True, path="x", secret=SECRET)
    with pytest.raises(TypeError, match="url, namespace apply to backend='redis' only"):
        twincache.cache(url=redis_server.url, namespace="x")
    with pytest.raises(TypeError, match="pass url or client, not both"):
        twincache.RedisCache(redis_server.url, client=redis_server.client(), secret=SECRET)


def test_a_value_json_refuses_changes_nothing(make: Any, redis_server: RedisServer) -> None:
    c = make(codec="json", secret=None)
    c["k"] = [1]
    with pytest.raises(TypeError, match="codec='json' cannot store this set"):
        c["k"] = {1, 2}
    with pytest.raises(TypeError, match="codec='json' cannot store this float"):
        c.set_many({"a": 1, "k": float("nan")})
    assert c["k"] == [1]
    assert "a" not in c
    assert make(codec="json", secret=None)["k"] == [1]
    with pytest.raises(TypeError, match="key cannot name a Redis entry"):
        c[object()] = 1


# --- decorated functions --------------------------------------------------------------------------


def test_decorated_function_is_computed_once_across_caches(redis_server: RedisServer) -> None:
    calls: list[int] = []

    def square(x: int) -> int:
        calls.append(x)
        return x * x

    opts = {"backend": "redis", "url": redis_server.url, "namespace": "sq", "secret": SECRET,
            "coherent": False}  # fmt: skip
    first = twincache.cache(**opts)(square)
    second = twincache.cache(**opts)(square)  # another L1, as another process would have
    assert [first(3), first(3), second(3)] == [9, 9, 9]
    assert calls == [3]
    assert first.stats()["l1_hits"] == 1 and second.stats()["l2_hits"] == 1
    assert second.invalidate(3) is True
    assert first(4) == 16 and second(3) == 9
    assert calls == [3, 4, 3]


def test_decorated_function_returns_what_json_cannot_store(redis_server: RedisServer) -> None:
    @twincache.cache(
        backend="redis", coherent=False, url=redis_server.url, codec="json", namespace="js"
    )
    def f() -> object:
        return {1, 2}

    with pytest.warns(RuntimeWarning, match="cannot be stored in Redis"):
        assert f() == {1, 2}


@pytest.mark.asyncio
async def test_async_methods_and_async_functions(make: Any, redis_server: RedisServer) -> None:
    c = make(ttl=60)
    await c.aset("a", [1])
    await c.aset_many({"b": 2, "c": 3})
    reader = make()
    assert await reader.aget("a") == [1]
    assert await reader.aget_many(["a", "b", "c", "zz"]) == {"a": [1], "b": 2, "c": 3}
    assert await reader.acontains("b") and not await reader.acontains("zz")
    assert await reader.adelete("b") is True
    assert await make().aget("b") is None
    await reader.aclear()
    assert await make().aget("a", "gone") == "gone"
    await c.aclose()
    await reader.aclose()

    calls: list[int] = []

    @twincache.cache(
        backend="redis", coherent=False, url=redis_server.url, namespace="aio", secret=SECRET
    )
    async def slow_double(x: int) -> int:
        calls.append(x)
        await asyncio.sleep(0)
        return 2 * x

    await slow_double.acache_clear()
    assert [await slow_double(2), await slow_double(2)] == [4, 4]
    assert calls == [2]
    assert await slow_double.ainvalidate(2) is True
    assert await slow_double(2) == 4 and calls == [2, 2]


def test_ttl_jitter_spreads_expiries_never_longer(make: Any, redis_server: RedisServer) -> None:
    r = redis_server.client()
    c = make(ttl=100, ttl_jitter=0.5)
    c.set_many({i: i for i in range(100)})
    c.set("one", 1, ttl=10)
    pttls = [r.pttl(name_of(c, i)) for i in range(100)]
    assert all(50_000 - 1_000 < t <= 100_000 for t in pttls)
    assert len(set(pttls)) > 20  # spread, not one expiry for all
    assert 4_000 < r.pttl(name_of(c, "one")) <= 10_000
    with pytest.raises(ValueError, match=r"ttl_jitter must be a number in \[0, 1\) \(got 1\)"):
        make(ttl_jitter=1)


def test_decorated_function_keys_by_content(redis_server: RedisServer) -> None:
    calls: list[object] = []

    @twincache.cache(backend="redis", url=redis_server.url, namespace="ck", secret=SECRET,
                     coherent=False)  # fmt: skip
    def ident(x: object) -> object:
        calls.append(x)
        return x

    ident.cache_clear()
    assert ident([1, 2]) == [1, 2] and ident([1, 2]) == [1, 2]  # unhashable: by content
    assert ident(1) == 1 and ident(True) is True  # True is not 1 in a content key
    assert ident(1.0) == 1  # 1.0 is 1: the Redis entry of ident(1), not computed again
    assert calls == [[1, 2], 1, True]
    s = ident.stats()
    assert (s["hits"], s["misses"], s["l2_hits"]) == (2, 3, 1)
    assert ident.invalidate([1, 2]) is True
    assert ident.invalidate(1) is True
    assert ident([1, 2]) == [1, 2] and ident(1) == 1
    assert calls == [[1, 2], 1, True, [1, 2], 1]


class NotFoundError(LookupError):
    pass


@pytest.mark.parametrize("codec", ["pickle", "json"])
def test_chosen_exceptions_are_cached_with_their_own_ttl(
    redis_server: RedisServer, clock: ManualClock, codec: str
) -> None:
    calls: list[int] = []

    def lookup(x: int) -> int:
        calls.append(x)
        if x < 0:
            raise NotFoundError(f"no item {x}")
        if x == 0:
            raise ZeroDivisionError("zero")  # not chosen: never cached
        return x

    opts = {"backend": "redis", "url": redis_server.url, "namespace": "neg" + codec,
            "secret": SECRET, "codec": codec, "ttl": 600, "cache_errors": LookupError,
            "error_ttl": 5, "coherent": False}  # fmt: skip
    first, second = twincache.cache(**opts)(lookup), twincache.cache(**opts)(lookup)
    first.cache_clear()
    # Computed once; then from L1; then from Redis for another cache, where json keeps the
    # chosen class the exception belongs to (LookupError) and pickle the exception itself.
    from_redis = NotFoundError if codec == "pickle" else LookupError
    lengths = []
    for f, cls in ((first, NotFoundError), (first, NotFoundError), (second, from_redis),
                   (first, NotFoundError), (first, NotFoundError)):  # fmt: skip
        with pytest.raises(LookupError, match="no item -1") as info:
            f(-1)
        assert type(info.value) is cls
        lengths.append(len(info.traceback))
    # A fresh traceback each time, not a growing one: an L1 hit raises from the miss path
    # (the caller, the miss hook, the raise), however often it is raised.
    assert lengths[1] == lengths[3] == lengths[4] < 5
    assert calls == [-1]
    for _ in range(2):
        with pytest.raises(ZeroDivisionError):
            first(0)
    assert calls == [-1, 0, 0]
    clock.advance(5.01)  # error_ttl over in L1 (Redis, in real time, still has it)
    with pytest.raises(from_redis):
        first(-1)
    assert calls == [-1, 0, 0]
    assert first.stats()["l2_hits"] == 1


def test_error_entries_are_not_values(redis_server: RedisServer) -> None:
    @twincache.cache(backend="redis", coherent=False, url=redis_server.url, namespace="neg2",
                     secret=SECRET, cache_errors=KeyError)  # fmt: skip
    def f() -> int:
        raise KeyError("k")

    with pytest.raises(KeyError):
        f()
    # The same entry read by a cache that does not cache errors: unreadable, never a value.
    identity = ["twincache.fn/1", __name__, f.__qualname__, _disk.source_hash(f.__wrapped__)]
    encoded = _keys.encode([*identity, [], {}])
    mapping = twincache.RedisCache(redis_server.url, namespace="neg2", secret=SECRET)
    mapping._scope = f.redis_cache._scope
    assert mapping._get_encoded(encoded) is twincache._redis._MISS
    assert mapping.stats()["l2_unreadable"] == 1
    f.redis_cache._l1.clear()
    with pytest.raises(KeyError):  # while the function itself raises it from Redis
        f()
    assert f.stats()["l2_hits"] == 1
    with pytest.raises(TypeError, match="cache_errors must be an Exception subclass"):
        twincache.cache(backend="redis", coherent=False, secret=SECRET, cache_errors="KeyError")
    with pytest.raises(TypeError, match="error_ttl applies with cache_errors only"):
        twincache.cache(backend="redis", coherent=False, secret=SECRET, error_ttl=5)
    # The memory and disk backends take cache_errors too (issue 18, tests/python/test_freshness.py).
    assert callable(twincache.cache(backend="disk", cache_errors=KeyError))


def test_a_client_passed_in_is_used_and_left_open(redis_server: RedisServer) -> None:
    import redis

    client = redis.Redis(host="127.0.0.1", port=redis_server.port, socket_timeout=0.2)
    c = twincache.RedisCache(client=client, namespace="own", secret=SECRET)
    c["k"] = 1
    assert twincache.RedisCache(redis_server.url, namespace="own", secret=SECRET)["k"] == 1
    c.close()
    assert client.ping() is True  # still open: it is the caller's
    with pytest.warns(RuntimeWarning, match=r"socket_timeout=5; .*timeout=0.25"):
        twincache.RedisCache(client=redis.Redis(port=redis_server.port), secret=SECRET)
    with pytest.raises(ValueError, match="decode_responses=False"):
        twincache.RedisCache(client=redis.Redis(decode_responses=True), secret=SECRET)
    with pytest.raises(TypeError, match=r"client must be a redis\.Redis or redis\.asyncio\.Redis"):
        twincache.RedisCache(client=object(), secret=SECRET)


@pytest.mark.asyncio
async def test_an_asyncio_client_passed_in_serves_the_async_methods(
    redis_server: RedisServer,
) -> None:
    import redis.asyncio

    client = redis.asyncio.Redis(host="127.0.0.1", port=redis_server.port, socket_timeout=0.2)
    c = twincache.RedisCache(client=client, namespace="own-aio", secret=SECRET)
    await c.aset("k", [1])
    assert await twincache.RedisCache(client=client, namespace="own-aio", secret=SECRET).aget(
        "k"
    ) == [1]
    with pytest.raises(TypeError, match="was given an asyncio client: use its async methods"):
        c.get("k2")
    await c.aclose()
    assert await client.ping() is True
    await client.aclose()


def test_bytes_counters_count_names_and_envelopes(make: Any, redis_server: RedisServer) -> None:
    c = make()
    c["k"] = "v" * 100
    name = name_of(c, "k")
    envelope = redis_server.client().get(name)
    assert c.stats()["bytes_sent"] == len(name) + len(envelope)
    reader = make()
    assert reader["k"] == "v" * 100
    s = reader.stats()
    assert (s["bytes_sent"], s["bytes_received"]) == (len(name), len(envelope))


def test_a_decorated_function_returns_what_pickle_cannot_store(redis_server: RedisServer) -> None:
    @twincache.cache(
        backend="redis", coherent=False, url=redis_server.url, namespace="unpick", secret=SECRET
    )
    def make_function() -> object:
        return lambda: 42  # a local lambda: pickle refuses it

    with pytest.warns(RuntimeWarning, match="cannot be stored in Redis"):
        assert make_function()() == 42


@pytest.mark.asyncio
async def test_concurrent_awaits_of_one_key_share_one_computation(
    redis_server: RedisServer,
) -> None:
    calls: list[int] = []
    release = asyncio.Event()

    @twincache.cache(
        backend="redis", coherent=False, url=redis_server.url, namespace="flight", secret=SECRET
    )
    async def slow(x: int) -> int:
        calls.append(x)
        await release.wait()
        return x * 10

    await slow.acache_clear()
    waiters = [asyncio.ensure_future(slow(1)) for _ in range(5)]
    other = asyncio.ensure_future(slow(2))
    while len(calls) < 2:  # both computations started (each after its Redis miss)
        await asyncio.sleep(0.001)
    waiters[0].cancel()  # a cancelled caller leaves the computation to the others
    release.set()
    assert await asyncio.gather(*waiters[1:], other) == [10, 10, 10, 10, 20]
    assert sorted(calls) == [1, 2]
    s = slow.stats()
    assert (s["misses"], s["l2_sets"]) == (2, 2)
    assert await slow(1) == 10
    assert sorted(calls) == [1, 2]


def test_decorator_ttl_jitter(redis_server: RedisServer) -> None:
    @twincache.cache(backend="redis", coherent=False, url=redis_server.url, namespace="jit",
                     secret=SECRET, ttl=100, ttl_jitter=0.5)  # fmt: skip
    def same(x: int) -> int:
        return x

    same.cache_clear()
    for i in range(50):
        same(i)
    r = redis_server.client()
    pttls = [r.pttl(n) for n in r.keys("jit:*")]
    assert len(pttls) == 50
    assert all(50_000 - 1_000 < t <= 100_000 for t in pttls)
    assert len(set(pttls)) > 10
    # The memory backend takes ttl_jitter too (issue 18), with a ttl.
    with pytest.raises(TypeError, match=r"ttl_jitter need\(s\) a ttl"):
        twincache.cache(ttl_jitter=0.1)


def test_another_process_reads_and_writes_the_same_entries(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys

    monkeypatch.setenv("TWINCACHE_SECRET", SECRET)
    parent = twincache.RedisCache(redis_server.url, namespace="procs", coherent=False)
    parent.clear()
    parent["from-parent"] = {"n": 1}
    child = (
        "import twincache\n"
        f"c = twincache.RedisCache({redis_server.url!r}, namespace='procs')\n"
        "print(c['from-parent']['n'])\n"
        "c.set('from-child', [2, 'two'], ttl=60)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "1"
    assert parent["from-child"] == [2, "two"]
    assert parent.stats()["l2_hits"] == 1


def test_an_entry_signed_for_another_key_is_a_plain_miss(
    make: Any, redis_server: RedisServer
) -> None:
    c = make()
    c["a"] = 1
    c["b"] = 2
    r = redis_server.client()
    r.set(name_of(c, "a"), r.get(name_of(c, "b")))  # moved: its MAC fails under the new name
    reader = make()
    assert reader.get("a", "miss") == "miss"
    assert reader.stats()["l2_corrupt"] == 1
    # Signed with the secret for name "a" but holding key "b" (an XXH3-128 collision, or a
    # writer with the secret): a miss, never b's value.
    forged = _redis_envelope.seal(SECRET.encode(), name_of(c, "a"), _keys.encode("b"), 2, b"2")
    r.set(name_of(c, "a"), forged)
    other = make()
    assert other.get("a", "miss") == "miss"
    s = other.stats()
    assert (s["l2_misses"], s["l2_corrupt"], s["l2_unreadable"]) == (1, 0, 0)


# --- the read: one transaction --------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_client_subclass_reads_through_its_own_pipeline(
    redis_server: RedisServer, clock: ManualClock
) -> None:
    """A client that is not exactly redis.Redis (a subclass, a Cluster client) reads through
    its own pipeline (MULTI ... EXEC) rather than twincache's direct write: same values, same
    L1 TTL from the entry's PTTL."""
    import redis
    import redis.asyncio

    class Sync(redis.Redis):
        pass

    class Async(redis.asyncio.Redis):
        pass

    # coherent=False: the writer's invalidations could reach c after its reads (counted here).
    writer = twincache.RedisCache(
        redis_server.url, namespace="sub", secret=SECRET, ttl=30, coherent=False
    )
    writer.set_many({"a": 1, "b": [2]})
    sync = Sync(host="127.0.0.1", port=redis_server.port, socket_timeout=0.2)
    c = twincache.RedisCache(client=sync, namespace="sub", secret=SECRET, coherent=False)
    assert c.get("a") == 1 and c.get_many(["a", "b", "zz"]) == {"a": 1, "b": [2]}
    assert c.stats()["l2_hits"] == 2 and c.stats()["l1_hits"] == 1
    clock.advance(31)  # past the PTTL Redis reported: gone from L1 (Redis, in real time, has it)
    assert c.get("b") == [2] and c.stats()["l2_hits"] == 3
    aio = Async(host="127.0.0.1", port=redis_server.port, socket_timeout=0.2)
    a = twincache.RedisCache(client=aio, namespace="sub", secret=SECRET)
    assert await a.aget("a") == 1 and await a.aget_many(["b"]) == {"b": [2]}
    assert a.stats()["l2_hits"] == 2
    await aio.aclose()
    sync.close()
    writer.close()


@pytest.mark.asyncio
async def test_a_name_holding_another_type_reads_as_a_miss(
    make: Any, redis_server: RedisServer
) -> None:
    """The read is MGET (one name or many), which answers nil for a name holding a list: a
    counted miss (no error, the breaker stays closed), and the other names are read."""
    c = make()
    c["good"] = "v"
    redis_server.client().rpush(name_of(c, "list"), "x")
    reader = make()
    assert reader.get("list", "dflt") == "dflt"
    assert await reader.aget("list", "dflt") == "dflt"
    assert reader.get_many(["list", "good"]) == {"good": "v"}
    s = reader.stats()
    assert (s["l2_misses"], s["l2_errors"], s["breaker"], s["l2_hits"]) == (3, 0, "closed", 1)
    await reader.aclose()
