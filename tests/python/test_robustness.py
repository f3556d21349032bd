"""Python code running inside cache operations: destructors and __eq__ that re-enter the cache,
reference cycles through cached values, many threads mixing every operation. The native module
must never run such code while the core's state is half updated."""

from __future__ import annotations

import gc
import random
import threading
import weakref
from typing import Any

import twincache
from twincache._testing import ManualClock


class Reentrant:
    """A value whose destructor calls back into the cache that held it."""

    log: list[int] = []  # noqa: RUF012 - shared on purpose

    def __init__(self, n: int, owner: Any) -> None:
        self.n = n
        self.owner = owner

    def __del__(self) -> None:
        Reentrant.log.append(self.n)
        self.owner(self.n + 1000)  # a miss and an insert (maybe an eviction) from a destructor


def test_destructor_of_an_evicted_value_reenters_the_cache() -> None:
    Reentrant.log.clear()

    @twincache.cache(maxsize=4)
    def make(n: int) -> Any:
        return Reentrant(n, plain) if n < 1000 else n

    @twincache.cache(maxsize=4)
    def plain(n: int) -> int:
        return n

    for i in range(50):
        assert make(i).n == i
    assert make.stats()["items"] == 4
    assert len(Reentrant.log) >= 40
    make.cache_clear()
    gc.collect()
    assert len(Reentrant.log) == 50


def test_destructor_reenters_the_same_cache() -> None:
    c = twincache.Cache(maxsize=3)

    class Value:
        def __del__(self) -> None:
            c["from-del"] = 1  # inserting into the cache that is evicting this value
            c.get("x")

    for i in range(20):
        c[i] = Value()
    assert len(c) <= 3
    assert c.stats()["items"] == len(c)


class Evil:
    """Colliding keys whose __eq__ mutates the cache that is looking them up."""

    def __init__(self, n: int, cache: twincache.Cache) -> None:
        self.n = n
        self.cache = cache

    def __hash__(self) -> int:
        return 1

    def __eq__(self, other: object) -> bool:
        self.cache[random.random()] = 0  # insert (and evict) during the lookup
        return isinstance(other, Evil) and other.n == self.n


def test_eq_that_mutates_the_cache_during_lookup() -> None:
    random.seed(5)
    c = twincache.Cache(maxsize=8)
    keys = [Evil(i, c) for i in range(6)]
    for round_ in range(4):
        for k in keys:
            c[k] = (round_, k.n)
        for k in keys:
            value = c.get(k)
            assert value is None or value[1] == k.n  # never another key's value
    s = c.stats()
    assert s["items"] <= 8 and s["items"] == len(c)


def test_cycles_through_cached_values_are_collected() -> None:
    class Node:
        pass

    holder: list[Any] = []

    @twincache.cache()
    def make(n: int) -> Node:
        node = Node()
        node.fn = holder[0]  # type: ignore[attr-defined]  # value -> function -> cache -> value
        return node

    holder.append(make)
    ref = weakref.ref(make(1))
    cache_ref = weakref.ref(make)
    holder.clear()
    del make
    gc.collect()
    assert ref() is None
    assert cache_ref() is None


def test_threads_mixing_every_operation(clock: ManualClock) -> None:
    c = twincache.Cache(maxsize=64, ttl=10)

    @twincache.cache(maxsize=32, ttl=5)
    def f(x: int) -> int:
        return x * 3

    errors: list[BaseException] = []

    def work(seed: int) -> None:
        rnd = random.Random(seed)
        try:
            for _ in range(3000):
                k = rnd.randrange(200)
                op = rnd.randrange(7)
                if op == 0:
                    c[k] = k
                elif op == 1:
                    v = c.get(k)
                    assert v is None or v == k
                elif op == 2:
                    c.pop(k, None)
                elif op == 3:
                    assert f(k) == k * 3
                elif op == 4:
                    f.invalidate(k)
                elif op == 5:
                    c.set(k, k, ttl=rnd.choice([0.5, 1, 20]))
                else:
                    clock.advance(0.01)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    s = c.stats()
    assert s["items"] <= 64 and len(c) <= 64
    assert f.stats()["items"] <= 32
    for k in list(c):
        assert c.get(k) in (k, None)


class CrossKey:
    """Colliding keys whose __eq__ reads another cache: two threads storing into two caches
    whose keys look into each other deadlock if either cache holds a lock while comparing."""

    def __init__(self, n: int, other: list[twincache.Cache]) -> None:
        self.n = n
        self.other = other

    def __hash__(self) -> int:
        return 0

    def __eq__(self, o: object) -> bool:
        self.other[0].get(-1)  # an int key: no collision, so no recursion into this __eq__
        return isinstance(o, CrossKey) and o.n == self.n


def test_key_eq_using_another_cache_from_two_threads_never_deadlocks() -> None:
    import sys

    a, b = twincache.Cache(maxsize=8), twincache.Cache(maxsize=8)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)

    errors: list[BaseException] = []

    def fill(mine: twincache.Cache, theirs: twincache.Cache) -> None:
        try:
            for i in range(1500):
                mine[CrossKey(i % 12, [theirs])] = i
                mine.get(CrossKey(i % 5, [theirs]))
        except BaseException as exc:  # reported below
            errors.append(exc)

    try:
        threads = [
            threading.Thread(target=fill, args=(a, b), daemon=True),
            threading.Thread(target=fill, args=(b, a), daemon=True),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        deadlocked = any(t.is_alive() for t in threads)
        assert not deadlocked, "deadlock: a cache compared keys while holding its lock"
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    assert len(a) <= 8 and len(b) <= 8
