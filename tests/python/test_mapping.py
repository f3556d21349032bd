"""twincache.Cache: a MutableMapping with limits, TTL (default and per entry) and stats."""

from __future__ import annotations

from collections.abc import MutableMapping

import pytest

import twincache
from twincache._testing import ManualClock


def test_mapping_api() -> None:
    c = twincache.Cache()
    assert isinstance(c, MutableMapping)
    c["a"] = 1
    c.set("b", 2)
    assert c["a"] == 1 and c.get("b") == 2
    assert c.get("zz") is None and c.get("zz", 5) == 5
    assert "a" in c and "zz" not in c and [1] not in c
    assert len(c) == 2
    assert sorted(c) == ["a", "b"]
    assert dict(c.items()) == {"a": 1, "b": 2}
    c["a"] = 10  # update in place
    assert c["a"] == 10 and len(c) == 2
    del c["a"]
    assert "a" not in c
    with pytest.raises(KeyError):
        del c["a"]
    with pytest.raises(KeyError):
        c["a"]
    assert c.pop("b") == 2
    assert c.pop("b", None) is None
    with pytest.raises(KeyError):
        c.pop("b")
    c.update({"x": 1, "y": 2})
    assert c.setdefault("x", 5) == 1
    c.clear()
    assert len(c) == 0 and list(c) == []


def test_get_and_pop_take_default_by_position_or_keyword() -> None:
    # Regression: native Cache.get(key, default=...) raised TypeError (docs/python.md shows it;
    # collections.abc.Mapping.get takes the keyword, and so did the pure implementation).
    c = twincache.Cache()
    c["a"] = 1
    assert c.get("a", default=5) == 1 and c.get("zz", default=5) == 5
    assert c.get("zz", 6) == 6 and c.get("zz", default=None) is None
    assert c.pop("zz", default=7) == 7 and c.pop("a", default=7) == 1
    assert c.stats()["misses"] == 3 and c.stats()["hits"] == 1
    with pytest.raises(TypeError):
        c.get("zz", dflt=5)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        c.get("zz", 5, default=5)  # type: ignore[misc]
    with pytest.raises(TypeError):
        c.get()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        c.pop("zz", 1, default=2)  # type: ignore[call-arg]


def test_unhashable_keys_raise_type_error() -> None:
    c = twincache.Cache()
    with pytest.raises(TypeError):
        c[[1]] = 1
    with pytest.raises(TypeError):
        c.get([1])


def test_stats_counts() -> None:
    c = twincache.Cache(maxsize=2)
    c["a"] = 1
    c["b"] = 2
    c["a"] = 3
    c["c"] = 3  # evicts b (a was updated more recently)
    assert c.get("a") == 3
    assert c.get("b") is None
    s = c.stats()
    assert (s["hits"], s["misses"], s["inserts"], s["updates"]) == (1, 1, 3, 1)
    assert s["evictions"] == 1 and s["items"] == 2
    c.clear()
    s = c.stats()
    assert s["items"] == 0 and s["cleared"] == 2
    assert s["hits"] == 1  # clear() keeps counters


def test_default_and_per_entry_ttl(clock: ManualClock) -> None:
    c = twincache.Cache(ttl=10)
    c["default"] = 1
    c.set("short", 2, ttl=1)
    c.set("long", 3, ttl=100)
    clock.advance(1)
    assert "short" not in c and c.get("short") is None
    assert c["default"] == 1
    clock.advance(9)
    assert c.get("default") is None
    assert c["long"] == 3
    assert sorted(c) == ["long"]
    assert len(c) == 1
    assert c.stats()["expirations"] == 2


def test_update_restarts_ttl(clock: ManualClock) -> None:
    c = twincache.Cache(ttl=10)
    c["k"] = 1
    clock.advance(8)
    c["k"] = 2
    clock.advance(8)
    assert c["k"] == 2


def test_max_bytes_refuses_oversize_and_leaves_the_cache_unchanged() -> None:
    c = twincache.Cache(max_bytes=10_000)
    c["small"] = b"x" * 100
    before = c.stats()
    with pytest.raises(ValueError, match="max_bytes"):
        c["big"] = b"x" * 20_000
    with pytest.raises(ValueError, match="max_bytes"):
        c.set("small", b"x" * 20_000)
    assert c["small"] == b"x" * 100
    after = c.stats()
    assert after["items"] == before["items"] and after["bytes"] == before["bytes"]


def test_max_bytes_evicts_to_fit() -> None:
    c = twincache.Cache(max_bytes=10_000)
    for i in range(30):
        c[i] = bytes(1000)
    s = c.stats()
    assert s["bytes"] <= 10_000
    assert s["evicted_bytes"] == 30 - s["items"]
    assert 5 <= s["items"] < 10


def test_lru_policy_order() -> None:
    c = twincache.Cache(maxsize=3, policy="lru")
    for k in "abc":
        c[k] = k
    c.get("a")
    c["d"] = "d"
    assert sorted(c) == ["a", "c", "d"]


def test_every_counter_after_a_scripted_sequence(clock: ManualClock) -> None:
    """The same operations give the same counters in both implementations (they are the core's
    counters in native mode, the pure mirror's otherwise)."""
    c = twincache.Cache(maxsize=3, ttl=10, max_bytes=100_000, policy="lru")
    c["a"] = b"1"  # insert
    c["b"] = b"2"  # insert
    c["a"] = b"11"  # update
    c.get("a")  # hit
    c.get("zz")  # miss
    c.set("short", b"s", ttl=1)  # insert
    c["c"] = b"3"  # insert, evicts b (items)
    with pytest.raises(ValueError):
        c["big"] = bytes(200_000)  # rejected
    clock.advance(1)
    c.get("short")  # expired: miss + expiration
    del c["c"]  # deleted
    c.clear()  # cleared: a
    s = c.stats()
    overhead_free = {k: v for k, v in s.items() if k != "bytes"}
    assert overhead_free == {
        "hits": 1,
        "misses": 2,
        "inserts": 4,
        "updates": 1,
        "rejected": 1,
        "evictions": 1,
        "evicted_items": 1,
        "evicted_bytes": 0,
        "expirations": 1,
        "deleted": 1,
        "cleared": 1,
        "items": 0,
    }
    assert s["bytes"] == 0
    c["x"] = b"xyz"
    assert c.stats()["bytes"] == twincache.weigh("x") + twincache.weigh(b"xyz") + 64


@pytest.mark.parametrize("policy", [None, "lru", "tinylfu"])
@pytest.mark.parametrize("maxsize", [1, 2, 5])
def test_limits_hold_after_every_operation(policy: str | None, maxsize: int) -> None:
    import random

    rnd = random.Random(maxsize)
    c = twincache.Cache(maxsize=maxsize, max_bytes=20_000, policy=policy)
    for _ in range(2000):
        k = rnd.randrange(12)
        if rnd.random() < 0.5:
            c.get(k)
        else:
            c[k] = bytes(rnd.choice([10, 100, 3000, 9000]))
        s = c.stats()
        assert s["items"] <= maxsize
        assert s["bytes"] <= 20_000
        assert len(c) == s["items"]
