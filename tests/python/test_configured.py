"""The configured form @twincache.cache(...): TTL through the injected clock, budgets, keys,
invalidate(), stats(), methods that do not keep their instances alive."""

from __future__ import annotations

import gc
import threading
import weakref
from typing import Any

import numpy as np
import pytest

import twincache
from twincache._testing import ManualClock


def counting(decorator: Any) -> tuple[Any, list[Any]]:
    calls: list[Any] = []

    def f(*args: Any, **kwargs: Any) -> Any:
        calls.append(args or kwargs)
        return len(calls)

    return decorator(f), calls


def test_ttl_expires_exactly_at_the_deadline(clock: ManualClock) -> None:
    f, _calls = counting(twincache.cache(ttl=10))
    assert f(1) == 1
    clock.advance(9.999)
    assert f(1) == 1  # still live just before the deadline
    clock.advance(0.001)
    assert f(1) == 2  # expired at exactly set time + ttl: recomputed
    stats = f.stats()
    assert stats["expirations"] == 1
    assert stats["hits"] == 1 and stats["misses"] == 2
    assert stats["items"] == 1


def test_ttl_fractional_seconds(clock: ManualClock) -> None:
    f, calls = counting(twincache.cache(ttl=0.25))
    f("a")
    clock.advance(0.2)
    f("a")
    clock.advance(0.05)
    f("a")
    assert len(calls) == 2


def test_maxsize_evicts_least_recently_used_under_lru() -> None:
    f, calls = counting(twincache.cache(maxsize=2, policy="lru"))
    f(1), f(2), f(1), f(3)  # 2 is the least recently used
    assert f.stats()["evictions"] == 1
    f(1)
    f(3)
    assert len(calls) == 3
    f(2)
    assert len(calls) == 4


def test_default_policy_keeps_maxsize() -> None:
    f, _calls = counting(twincache.cache(maxsize=10))
    for i in range(100):
        f(i)
    s = f.stats()
    assert s["items"] == 10
    assert s["evictions"] == 90
    assert s["misses"] == 100


def test_max_bytes_budget_holds() -> None:
    @twincache.cache(max_bytes=20_000)
    def blob(n: int) -> bytes:
        return bytes(1000) * n

    for i in range(50):
        blob(i % 5 + 1)
        blob(100 + i)  # ~100 KB: larger than the whole budget, not cached
    s = blob.stats()
    assert 0 < s["bytes"] <= 20_000
    assert s["rejected"] == 50
    assert s["items"] >= 1


def test_max_bytes_counts_container_contents() -> None:
    @twincache.cache(max_bytes=50_000)
    def make(n: int) -> list[str]:
        return [str(i % 10) * 1000 + str(i) for i in range(n)]

    make(10)  # ~10 KB of strings in a small list: fits
    assert make.stats()["items"] == 1
    assert make.stats()["bytes"] > 10_000
    make(100)  # ~100 KB: refused even though sys.getsizeof(list) is ~900 bytes
    assert make.stats()["rejected"] == 1


def test_weigh_numpy_views_count_their_data() -> None:
    base = np.zeros(100_000, dtype=np.uint8)
    view = base[:50_000]
    assert twincache.weigh(base) >= 100_000
    assert twincache.weigh(view) >= 50_000
    assert twincache.weigh(["ab" * 500]) > 1000


def test_unhashable_arguments_are_keyed_by_content() -> None:
    f, _calls = counting(twincache.cache())
    assert f([1, 2], {"a": {1, 2}}) == 1
    assert f([1, 2], {"a": {2, 1}}) == 1  # equal content: a hit
    assert f([1, 3], {"a": {1, 2}}) == 2
    assert f(bytearray(b"xy")) == 3
    assert f(bytearray(b"xy")) == 3
    assert f(x=[1]) == 4
    assert f(x=[1]) == 4
    assert f.stats()["hits"] == 3


def test_numpy_arrays_are_keyed_by_content() -> None:
    f, _calls = counting(twincache.cache())
    a = np.arange(12, dtype=np.int64).reshape(3, 4)
    assert f(a) == 1
    assert f(a.copy()) == 1
    assert f(a.astype(np.int32)) == 2  # another dtype: another key
    assert f(a.reshape(4, 3)) == 3  # another shape: another key
    assert f.invalidate(a.copy()) is True
    assert f(a) == 4


def test_unkeyable_argument_names_the_argument() -> None:
    class Opaque:
        __hash__ = None  # type: ignore[assignment]

    @twincache.cache()
    def f(first: int, second: object, *, third: object = None) -> int:
        return 1

    with pytest.raises(TypeError, match=r"argument 'second' of .*f\(\) cannot be used"):
        f(1, Opaque())
    with pytest.raises(TypeError, match="argument 'third'"):
        f(1, 2, third=[Opaque()])
    assert f.stats()["items"] == 0


def test_key_function() -> None:
    f, _calls = counting(twincache.cache(key=lambda user, request_id=None: user))
    assert f("ann", request_id=1) == 1
    assert f("ann", request_id=2) == 1
    assert f("bob") == 2
    assert f.invalidate("ann", request_id=99) is True
    assert f("ann") == 3


def test_typed_separates_int_and_float() -> None:
    f, _ = counting(twincache.cache(typed=True))
    assert f(1, "a") == 1
    assert f(1.0, "a") == 2
    g, _ = counting(twincache.cache())
    assert g(1, "a") == 1
    assert g(1.0, "a") == 1  # 1 == 1.0 and hash(1) == hash(1.0), as in functools
    h, _ = counting(twincache.cache(typed=True))
    assert h(1, []) == 1  # content-keyed calls keep the argument types too
    assert h(1.0, []) == 2
    assert h(1, []) == 1


def test_invalidate_drops_one_entry() -> None:
    f, calls = counting(twincache.cache())
    f(1), f(2), f(3, k="v")
    assert f.invalidate(2) is True
    assert f.invalidate(2) is False
    assert f.invalidate(3, k="v") is True
    assert f.invalidate(99) is False
    f(1), f(2)
    assert len(calls) == 4
    s = f.stats()
    assert s["deleted"] == 2 and s["items"] == 2


def test_stats_has_the_documented_keys() -> None:
    f, _ = counting(twincache.cache())
    assert {"hits", "misses", "evictions", "expirations", "items", "bytes"} <= set(f.stats())
    assert all(isinstance(v, int) for v in f.stats().values())


def test_cache_info_and_clear_on_the_configured_form() -> None:
    f, _calls = counting(twincache.cache(maxsize=5, ttl=60))
    f(1), f(1)
    assert f.cache_info() == (1, 1, 5, 1)
    f.cache_clear()
    assert f.cache_info() == (0, 0, 5, 0)
    assert f.cache_parameters()["ttl"] == 60


class Model:
    def __init__(self, k: int) -> None:
        self.k = k
        self.calls = 0

    @twincache.cache(maxsize=100)
    def predict(self, x: int) -> int:
        self.calls += 1
        return self.k * x


def test_methods_do_not_keep_instances_alive() -> None:
    m = Model(3)
    assert m.predict(2) == 6
    assert m.predict(2) == 6
    assert m.calls == 1
    assert Model.predict(m, 2) == 6  # the same entry through the class
    assert m.calls == 1
    assert Model.predict.invalidate(m, 2) is True
    m.predict(2)
    assert m.calls == 2
    ref = weakref.ref(m)
    items_before = Model.predict.stats()["items"]
    del m
    gc.collect()
    assert ref() is None
    assert Model.predict.stats()["items"] == items_before - 1  # its entries left with it


class Scaled:
    def __init__(self, k: int) -> None:
        self.k = k

    @twincache.cache(maxsize=100)
    def predict(self, x: int) -> int:
        return self.k * x


def test_an_instance_collected_inside_the_table_lock_does_not_deadlock() -> None:
    """The collector runs the instance watcher's callback at any allocation, maybe one made by a
    thread inside the pure table's (not reentrant) lock: its entries are then dropped by the
    next call instead of waiting for a lock that thread holds."""
    table = getattr(Scaled.__dict__["predict"], "_table", None)
    if table is None:
        pytest.skip("native memo: no lock of its own to be interrupted in (python/src/table.hpp)")
    m = Scaled(2)
    assert (m.predict(1), m.predict(2)) == (2, 4)
    assert Scaled.predict.stats()["items"] == 2
    done = threading.Event()

    def collect_inside_the_lock(held: list[Any]) -> None:
        with table.lock:  # as a store() the collector interrupted holds it
            held.clear()  # the last reference: the instance dies here, in this thread
            gc.collect()
        done.set()

    held = [m]
    del m
    threading.Thread(target=collect_inside_the_lock, args=(held,), daemon=True).start()
    if not done.wait(10):
        table.lock.release()  # a plain Lock: released here so that the suite goes on
        pytest.fail("the instance watcher deadlocked on the table's lock")
    assert Scaled.predict.stats()["items"] == 2  # not dropped while the lock was held ...
    other = Scaled(3)
    assert other.predict(1) == 3
    assert Scaled.predict.stats()["items"] == 1  # ... but by the next call (other's entry)


def test_distinct_instances_have_distinct_entries() -> None:
    a, b = Model(2), Model(5)
    assert a.predict(10) == 20
    assert b.predict(10) == 50
    assert a.predict(10) == 20
    assert (a.calls, b.calls) == (1, 1)


def test_none_results_are_cached() -> None:
    calls = []

    @twincache.cache()
    def f(x: int) -> None:
        calls.append(x)

    f(1), f(1)
    assert calls == [1]
