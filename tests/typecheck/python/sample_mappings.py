"""A user program over Cache, DiskCache and @cache(backend="disk"), type-checked with mypy
--strict and run (native and TWINCACHE_PURE=1) by tests/typecheck/python/check.py: the mappings
are generic (Cache[str, int] is also a run-time expression), their methods keep the key and
value types, and stats() returns the TypedDicts with exactly the runtime's keys."""

from __future__ import annotations

import os
import tempfile
from collections.abc import MutableMapping
from typing import assert_type, get_args, get_origin

import twincache
from twincache import Codec, DiskCachedFunction, DiskCachedMethod, DiskStats, Stats

# --- Cache[K, V] ----------------------------------------------------------------------------------

cache = twincache.Cache[str, int](maxsize=100, ttl=60, policy="tinylfu")
assert isinstance(cache, twincache.Cache)
cache["a"] = 1
cache.set("b", 2, ttl=5)
assert_type(cache["a"], int)
got = cache.get("a")
assert_type(got, int | None)
fallback = cache.get("zz", "none")
assert_type(fallback, int | str)
assert (got, fallback) == (1, "none")
assert_type(cache.pop("b"), int)
assert cache.pop("b", None) is None
assert sorted(cache) == ["a"] and len(cache) == 1 and "a" in cache

# Eviction callbacks, reads that are not use, sizes (issue 18).
reasons: list[twincache.EvictionReason] = []


def on_evict(key: str, value: bytes, reason: twincache.EvictionReason) -> None:
    reasons.append(reason)


sized = twincache.Cache[str, bytes](maxsize=1, max_bytes=10_000, getsizeof=len, on_evict=on_evict)
sized["x"], sized["y"] = b"1", b"22"
assert reasons == ["evicted"]
assert_type(sized.peek("y"), bytes | None)
assert_type(sized.ttl_of("y"), float | None)
assert_type(sized.expire(), list[tuple[str, bytes]])
assert_type(sized.currsize, int)
assert sized.maxsize == 1 and sized.currsize == 1 and sized.peek("y") == b"22"
for key in cache:
    assert_type(key, str)
cache.update({"c": 3})
assert_type(cache.setdefault("d", 4), int)
assert dict(cache.items()) == {"a": 1, "c": 3, "d": 4}
mapping: MutableMapping[str, int] = cache  # a MutableMapping of its types
counted = twincache.Cache[str, int]()
counted["x"] = 1
assert (counted.get("x"), counted.get("y")) == (1, None)
stats = counted.stats()
assert_type(stats, Stats)
assert (stats["hits"], stats["misses"], stats["inserts"], stats["items"]) == (1, 1, 1, 1)
assert set(stats) == set(Stats.__required_keys__), sorted(set(stats) ^ set(Stats.__required_keys__))

untyped = twincache.Cache(maxsize=10)  # no type arguments: Cache[Any, Any], as before
untyped[("tuple", 1)] = [1, 2]
assert untyped[("tuple", 1)] == [1, 2]

lru = twincache.Cache[int, bytes](policy="lru")
lru[1] = b"x"
assert_type(lru.get(1, b""), bytes)


# The generic class is a run-time object too: a subclass and an alias.
class Scores(twincache.Cache[str, float]):
    pass


Alias = twincache.Cache[str, list[int]]
assert repr(Alias).endswith("Cache[str, list[int]]"), repr(Alias)
assert get_origin(Alias) is twincache.Cache and get_args(Alias) == (str, list[int])
assert Scores(maxsize=2).stats()["items"] == 0

# --- DiskCache[K, V] and the disk backend ---------------------------------------------------------

with tempfile.TemporaryDirectory() as tmp:
    codec: Codec = "json"
    disk = twincache.DiskCache[str, list[int]](os.path.join(tmp, "c"), ttl=3600, codec=codec)
    disk["k"] = [1, 2]
    assert_type(disk["k"], list[int])
    assert disk.get("k") == [1, 2]
    assert_type(disk.get("k"), list[int] | None)
    assert_type(disk.pop("missing", []), list[int])
    disk.set("t", [3], ttl=10)
    disk.flush()
    assert sorted(disk) == ["k", "t"]
    disk_stats = disk.stats()
    assert_type(disk_stats, DiskStats)
    assert disk_stats["items"] == 2 and disk_stats["sets"] == 2
    assert set(disk_stats) == set(DiskStats.__required_keys__), sorted(
        set(disk_stats) ^ set(DiskStats.__required_keys__)
    )

    # Reads that are not use, on_evict, and a disk memo's freshness counters.
    told: list[str] = []
    watched = twincache.DiskCache[str, int](
        os.path.join(tmp, "w"), on_evict=lambda k, v, why: told.append(why)
    )
    watched["a"] = 1
    watched["a"] = 2
    assert_type(watched.peek("a"), int | None)
    assert watched.peek("a") == 2 and watched.ttl_of("a") == float("inf") and told == ["replaced"]
    assert watched.expire() == 0

    @twincache.cache(backend="disk", path=os.path.join(tmp, "s"), ttl=60, stale=30)
    def stale_ok(x: int) -> int:
        return x

    assert stale_ok(1) == 1
    fresh_stats = stale_ok.stats()
    assert fresh_stats.get("refreshes") == 0 and fresh_stats.get("refresh_errors") == 0
    assert set(fresh_stats) == set(DiskStats.__annotations__)

    @twincache.cache(backend="disk", path=os.path.join(tmp, "f"), ttl=60, codec="pickle")
    def features(rows: list[int], scale: float = 1.0) -> dict[str, float]:
        return {"sum": sum(rows) * scale}

    typed_features: DiskCachedFunction[[list[int], float], dict[str, float]] = features
    result = features([1, 2, 3], scale=2.0)
    assert_type(result, dict[str, float])
    assert result == {"sum": 12.0} and features([1, 2, 3], scale=2.0) == result
    memo_stats = features.stats()
    assert_type(memo_stats, DiskStats)
    assert (memo_stats["hits"], memo_stats["misses"]) == (1, 1)
    assert set(memo_stats) == set(DiskStats.__required_keys__)
    assert features.invalidate([1, 2, 3], scale=2.0) is True
    features([4])
    features.flush()
    assert_type(features.cache_clear(), int)
    assert features.cache_clear() == 0  # the entry went with the first cache_clear()
    assert features.disk_path == os.path.join(tmp, "f") and features.persistent
    assert features.__wrapped__([1], 1.0) == {"sum": 1.0}

    class Report:
        # A method on disk: key= leaves the instance out (an object has no content key).
        @twincache.cache(backend="disk", path=os.path.join(tmp, "m"), key=lambda self, n: n)
        def render(self, n: int) -> str:
            return "#" * n

    report = Report()
    bound: DiskCachedMethod[Report, [int], str] = report.render
    assert_type(report.render(3), str)
    assert report.render(3) == "###" and report.render.stats()["hits"] == 1
    assert report.render.invalidate(report, 3) is True

print("sample_mappings: ok", "native" if twincache.native else "pure")
