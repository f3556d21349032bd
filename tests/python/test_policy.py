"""Eviction policies as users see them, native and pure: the default policy resists scans, a value
just set can be read back, policy="lru" evicts in exact LRU order, and the counters add up."""

from __future__ import annotations

import random
from collections import OrderedDict

import pytest

import twincache


def _warm(c: twincache.Cache, keys: range, rounds: int) -> None:
    for _ in range(rounds):
        for k in keys:
            if c.get(k) is None:
                c[k] = k


@pytest.mark.parametrize("maxsize", [20, 100, 1000])
def test_default_policy_keeps_hot_keys_through_a_scan(maxsize: int) -> None:
    hot = range(maxsize // 2)
    c = twincache.Cache(maxsize=maxsize)
    _warm(c, hot, rounds=8)
    for k in range(10_000, 10_000 + 20 * maxsize):  # one-hit wonders, each read then set
        assert c.get(k) is None
        c[k] = k
    # Only the hot keys that sat in the small admission window when the scan began (1% of the
    # cache) may lose their place; main keeps the rest.
    survivors = [k for k in hot if k in c]
    assert len(survivors) >= len(hot) - max(1, maxsize // 100)
    # The same requests flush every hot key out of an LRU cache.
    lru = twincache.Cache(maxsize=maxsize, policy="lru")
    _warm(lru, hot, rounds=8)
    for k in range(10_000, 10_000 + 20 * maxsize):
        lru.get(k)
        lru[k] = k
    assert [k for k in hot if k in lru] == []


@pytest.mark.parametrize("policy", [None, "tinylfu", "lru"])
@pytest.mark.parametrize("maxsize", [1, 2, 10, 150])
def test_a_value_just_set_can_be_read_back(policy: str | None, maxsize: int) -> None:
    c = twincache.Cache(maxsize=maxsize, policy=policy)
    _warm(c, range(maxsize), rounds=10)  # main holds frequent keys that admission favours
    for k in range(1000, 1400):
        c[k] = f"v{k}"
        assert k in c
        assert c[k] == f"v{k}"
        assert len(c) <= maxsize


@pytest.mark.parametrize("policy", [None, "lru"])
def test_a_heavy_value_just_set_can_be_read_back(policy: str | None) -> None:
    c = twincache.Cache(max_bytes=50_000, policy=policy)
    for _ in range(5):
        for k in range(100):
            c[k] = bytes(100)
            c.get(k)
    c["heavy"] = bytes(30_000)  # heavier than the window: only its own weight is too much
    assert c["heavy"] == bytes(30_000)
    assert c.stats()["bytes"] <= 50_000
    with pytest.raises(ValueError, match="must be at most max_bytes = 50000 bytes"):
        c["too heavy"] = bytes(60_000)  # alone over the limit: refused, the cache unchanged
    assert "too heavy" not in c
    assert c["heavy"] == bytes(30_000)


def test_memoized_result_is_a_hit_on_the_next_call() -> None:
    calls: list[int] = []

    @twincache.cache(maxsize=4)
    def f(x: int) -> int:
        calls.append(x)
        return x * 2

    for x in range(4):
        for _ in range(5):
            f(x)
    for x in range(100, 140):
        assert f(x) == 2 * x
        assert f(x) == 2 * x  # the second call is served from the cache
    assert calls == [0, 1, 2, 3, *range(100, 140)]
    info = f.cache_info()
    assert (info.hits, info.misses, info.currsize) == (16 + 40, 44, 4)


def test_lru_policy_evicts_in_exact_lru_order() -> None:
    rnd = random.Random(13)
    c = twincache.Cache(maxsize=8, policy="lru")
    model: OrderedDict[int, int] = OrderedDict()
    for step in range(3000):
        k = rnd.randrange(20)
        if rnd.random() < 0.5:
            got = c.get(k)
            if k in model:
                model.move_to_end(k)
                assert got == model[k]
            else:
                assert got is None
        else:
            c[k] = step
            model[k] = step
            model.move_to_end(k)
            if len(model) > 8:
                model.popitem(last=False)
        assert sorted(c) == sorted(model), step


@pytest.mark.parametrize("policy", [None, "lru"])
def test_counters_add_up_over_a_replay(policy: str | None) -> None:
    rnd = random.Random(7)
    c = twincache.Cache(maxsize=50, policy=policy)
    requests = [int(rnd.paretovariate(1.0)) % 400 for _ in range(5000)]
    hits = 0
    for k in requests:
        if c.get(k) is None:
            c[k] = k
        else:
            hits += 1
    s = c.stats()
    assert s["hits"] == hits
    assert s["misses"] == len(requests) - hits
    assert s["inserts"] == s["misses"]
    assert s["items"] == len(c) == 50
    assert s["evictions"] == s["evicted_items"] == s["inserts"] - 50
    assert (s["updates"], s["evicted_bytes"], s["expirations"], s["deleted"]) == (0, 0, 0, 0)
    c.clear()
    assert c.stats()["cleared"] == 50
    assert len(c) == 0
