"""@twincache.range_cache(backend="redis") against a real redis-server
(tests/python/redis_server.py) and the SQLite source of test_range_cache.py: source calls and
rows fetched for overlapping, nested, disjoint and spanning ranges, a later "process" (a second
decorated function) answered from Redis, callers with caches of their own (as processes are)
fetching each gap once through the Redis lease, the TTL of recent data (injected disk clock)
and how long Redis keeps the rows, a chunk deleted from Redis fetched again, Redis down (fail
open), and bad options. Native and TWINCACHE_PURE=1."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import twincache
from redis_server import RedisServer, _free_port, server_fixture
from test_range_cache import Source, make_sqlite_source
from twincache import _disk
from twincache._range_redis import SKEW_MARGIN_MS
from twincache._testing import call_together

redis_server = server_fixture()
SECRET = "test-secret-0123456789abcdef"
_ids = itertools.count()


@pytest.fixture
def sqlite_source(tmp_path: Path) -> Source:
    return make_sqlite_source(tmp_path)


def make(server: RedisServer, source: Source, namespace: str, **opts: Any) -> Any:
    """A range-cached query over `source` in `namespace`; every call of make() gives a function
    with a store of its own and the same identity (qualified name, source), as another process
    would have."""

    @twincache.range_cache(backend="redis", url=server.url, namespace=namespace, secret=SECRET,
                           timeout=5, **opts)  # fmt: skip
    def prices(symbol: str, start: int, end: int) -> list[dict[str, Any]]:
        return source(symbol, start, end)

    return prices


def fresh_namespace() -> str:
    return f"rg{next(_ids)}"


def check(rows: list[dict[str, Any]], lo: int, hi: int) -> None:
    assert [r["index"] for r in rows] == list(range(lo, hi))


def names(server: RedisServer, namespace: str) -> set[bytes]:
    return set(server.client().scan_iter(match=f"{namespace}:*"))


def test_overlapping_nested_disjoint(redis_server: RedisServer, sqlite_source: Source) -> None:
    ns = fresh_namespace()
    prices = make(redis_server, sqlite_source, ns)
    check(prices("A", 0, 100), 0, 100)
    assert sqlite_source.calls == [("A", 0, 100)] and sqlite_source.rows == 100
    check(prices("A", 50, 150), 50, 150)  # overlapping: only [100, 150)
    assert sqlite_source.calls[-1] == ("A", 100, 150) and sqlite_source.rows == 150
    check(prices("A", 20, 80), 20, 80)  # nested: no call
    assert len(sqlite_source.calls) == 2
    check(prices("A", 300, 400), 300, 400)  # disjoint
    assert sqlite_source.calls[-1] == ("A", 300, 400) and sqlite_source.rows == 250
    check(prices("A", 0, 500), 0, 500)  # spanning: two gaps, one call each
    assert sqlite_source.calls[-2:] == [("A", 150, 300), ("A", 400, 500)]
    assert sqlite_source.rows == 500
    assert prices("B", 0, 10)[0]["price"] == 1000  # other arguments: their own intervals
    assert sqlite_source.calls[-1] == ("B", 0, 10)
    assert prices.stats() == {"calls": 6, "rows": 510, "hits": 1}
    # One list per arguments + one entry per chunk (5 of A, 1 of B), no lock left behind.
    assert len(names(redis_server, ns)) == 2 + 6
    n = len(sqlite_source.calls)
    later = make(redis_server, sqlite_source, ns)  # another process: answered from Redis
    check(later("A", 10, 490), 10, 490)
    assert len(sqlite_source.calls) == n and later.stats()["hits"] == 1
    later.cache.clear()  # the namespace's entries of this function
    assert names(redis_server, ns) == set()
    check(later("A", 0, 10), 0, 10)
    assert sqlite_source.calls[-1] == ("A", 0, 10)


def test_callers_with_caches_of_their_own_fetch_each_row_once(
    redis_server: RedisServer, sqlite_source: Source
) -> None:
    # Eight functions, each with its own store and in-process lock, as eight processes have:
    # only the lease in Redis keeps them from fetching the same gap.
    ns = fresh_namespace()
    functions = [make(redis_server, sqlite_source, ns) for _ in range(8)]
    results = call_together(8, lambda i: len(functions[i]("A", i * 10, 200 + i * 10)))
    assert results == [200] * 8
    assert sqlite_source.rows == 270  # rows 0..269, each fetched once
    assert sum(f.stats()["rows"] for f in functions) == 270
    assert not any(name.endswith(b":lock") for name in names(redis_server, ns))


def test_sliding_window_fetches_each_row_once(
    redis_server: RedisServer, sqlite_source: Source
) -> None:
    prices = make(redis_server, sqlite_source, fresh_namespace())
    for i in range(100):
        assert len(prices("A", i * 5, i * 5 + 100)) == 100
    assert sqlite_source.rows == 595 and len(sqlite_source.calls) == 100


def test_recent_data_is_refetched_after_its_ttl(
    redis_server: RedisServer, sqlite_source: Source, disk_clock: None
) -> None:
    ns = fresh_namespace()
    prices = make(redis_server, sqlite_source, ns, ttl=3600, recent_from=lambda: 900)
    prices("A", 0, 500)
    old = names(redis_server, ns)
    prices("A", 500, 1000)  # reaches past 900: recent, covered for an hour
    assert len(sqlite_source.calls) == 2
    # Redis keeps the recent chunk's rows no shorter than the list references them (its ttl,
    # plus the margin for other processes' clocks); the old chunk's rows and the list: no TTL.
    client = redis_server.client()
    (recent,) = names(redis_server, ns) - old
    assert 3600_000 < client.pttl(recent) <= 3600_000 + SKEW_MARGIN_MS
    assert [client.pttl(name) for name in old] == [-1, -1]
    _disk.clock_advance(3599 * 10**9)
    check(prices("A", 0, 1000), 0, 1000)
    assert len(sqlite_source.calls) == 2
    _disk.clock_advance(2 * 10**9)
    check(prices("A", 0, 1000), 0, 1000)
    assert sqlite_source.calls[-1] == ("A", 500, 1000) and len(sqlite_source.calls) == 3
    assert recent not in names(redis_server, ns)  # the expired chunk's rows: deleted
    assert len(names(redis_server, ns)) == 3


def test_a_deleted_chunk_is_fetched_again(redis_server: RedisServer, sqlite_source: Source) -> None:
    ns = fresh_namespace()
    prices = make(redis_server, sqlite_source, ns)
    prices("A", 0, 100)
    before = names(redis_server, ns)
    prices("A", 100, 150)
    (chunk,) = names(redis_server, ns) - before
    redis_server.client().delete(chunk)  # evicted by maxmemory, or deleted by hand
    check(prices("A", 0, 150), 0, 150)  # the list still names it: only its range fetched
    assert sqlite_source.calls == [("A", 0, 100), ("A", 100, 150), ("A", 100, 150)]
    check(prices("A", 0, 150), 0, 150)
    assert len(sqlite_source.calls) == 3
    assert len(names(redis_server, ns)) == 3  # the list and two chunks


def test_redis_down_fails_open(sqlite_source: Source) -> None:
    @twincache.range_cache(backend="redis", url=f"redis://127.0.0.1:{_free_port()}/0",
                           secret=SECRET, timeout=0.5)  # fmt: skip
    def prices(symbol: str, start: int, end: int) -> list[dict[str, Any]]:
        return sqlite_source(symbol, start, end)

    check(prices("A", 0, 10), 0, 10)
    check(prices("A", 0, 10), 0, 10)  # nothing could be stored: fetched again
    assert sqlite_source.calls == [("A", 0, 10), ("A", 0, 10)]


def test_dataframe_results(redis_server: RedisServer, sqlite_source: Source) -> None:
    pd = pytest.importorskip("pandas", reason="pandas is not installed")

    @twincache.range_cache(backend="redis", url=redis_server.url, namespace=fresh_namespace(),
                           secret=SECRET, timeout=5)  # fmt: skip
    def frame(symbol: str, start: int, end: int) -> Any:
        return pd.DataFrame(sqlite_source(symbol, start, end)).set_index("index")

    a = frame("A", 0, 100)
    b = frame("A", 50, 150)
    assert list(a.index) == list(range(100)) and list(b.index) == list(range(50, 150))
    assert sqlite_source.rows == 150
    assert b["price"].iloc[-1] == 149 * 0.5


def test_bad_options(
    redis_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TWINCACHE_SECRET", raising=False)
    url = redis_server.url
    rc: Callable[..., Any] = twincache.range_cache
    with pytest.raises(TypeError, match=r"backend must be 'disk' or 'redis' \(got int\)"):
        rc(backend=3)
    with pytest.raises(ValueError, match=r"backend must be 'disk' or 'redis' \(got 'memory'\)"):
        rc(backend="memory")
    with pytest.raises(TypeError, match=r"url, secret apply to backend='redis' only"):
        rc(path=tmp_path, url=url, secret=SECRET)
    with pytest.raises(TypeError, match=r"backend='redis' does not take path"):
        rc(backend="redis", path=tmp_path, url=url, secret=SECRET)
    with pytest.raises(ValueError, match=r"codec='pickle' over Redis needs a secret"):
        rc(backend="redis", url=url)
    with pytest.raises(ValueError, match=r"namespace must be"):
        rc(backend="redis", url=url, secret=SECRET, namespace="a b")
    with pytest.raises(ValueError, match=r"lease must be a number of seconds in \(0, 3600\]"):
        rc(backend="redis", url=url, secret=SECRET, lease=0)
    with pytest.raises(TypeError, match=r"timeout must be"):
        rc(backend="redis", url=url, secret=SECRET, timeout="1")
    with pytest.raises(ValueError, match=r"ttl"):
        rc(backend="redis", url=url, secret=SECRET, ttl=-1)
