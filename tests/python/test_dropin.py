"""twincache.lru_cache and twincache.cache against functools: same results, same counters,
same attributes. Every scenario runs against both so that a difference in functools' behaviour
(the reference) and ours shows up as a failing comparison."""

from __future__ import annotations

import copy
import functools
import pickle
import threading
import weakref
from collections.abc import Callable
from typing import Any

import pytest

import twincache

DECORATOR_PAIRS = [
    pytest.param(functools.lru_cache, twincache.lru_cache, id="lru_cache"),
]


def run_both(
    make: Callable[[Any], Callable[..., Any]],
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]],
) -> tuple[list[Any], list[Any]]:
    """Decorates a counting function with functools' and twincache's decorator, replays calls,
    and returns (results and call log, cache_info) for each."""
    outcomes = []
    for module in (functools, twincache):
        log: list[Any] = []

        def f(*args: Any, log: list[Any] = log, **kwargs: Any) -> Any:
            log.append((args, tuple(sorted(kwargs.items()))))
            return (args, tuple(sorted(kwargs.items())))

        wrapped = make(module)(f)
        results = [wrapped(*a, **k) for a, k in calls]
        outcomes.append([results, log, tuple(wrapped.cache_info())])
    return outcomes[0], outcomes[1]


CALLS = [
    ((1,), {}),
    ((1,), {}),
    ((1.0,), {}),
    ((True,), {}),
    ((2,), {}),
    (("a",), {}),
    ((1, 2), {}),
    ((), {"x": 1}),
    ((), {"x": 1}),
    ((1,), {"x": 1}),
    ((3,), {}),
    ((1,), {}),
    ((2,), {}),
    ((1, 2), {}),
    ((), {"x": 1, "y": 2}),
    ((), {"y": 2, "x": 1}),
]


@pytest.mark.parametrize("maxsize", [None, 0, 1, 2, 3, 128, -1])
@pytest.mark.parametrize("typed", [False, True])
def test_lru_cache_matches_functools(maxsize: int | None, typed: bool) -> None:
    ref, ours = run_both(lambda m: m.lru_cache(maxsize=maxsize, typed=typed), CALLS)
    assert ours == ref


def test_bare_decorators_match_functools() -> None:
    ref, ours = run_both(lambda m: m.lru_cache, CALLS)
    assert ours == ref
    ref, ours = run_both(lambda m: m.cache, CALLS)
    assert ours == ref


def test_lru_order_is_exact() -> None:
    calls = [((k,), {}) for k in [1, 2, 3, 1, 4, 2, 5, 1, 3, 4, 5, 1, 2, 6, 2, 1, 3]]
    for maxsize in (1, 2, 3, 4):
        ref, ours = run_both(lambda m, n=maxsize: m.lru_cache(maxsize=n), calls)
        assert ours == ref


def test_cache_info_is_functools_type() -> None:
    @twincache.lru_cache(maxsize=4)
    def f(x: int) -> int:
        return x

    f(1)
    f(1)
    info = f.cache_info()
    assert isinstance(info, functools._CacheInfo)
    assert info == (1, 1, 4, 1)
    assert info.hits == 1 and info.currsize == 1


def test_cache_clear_resets_counters_and_entries() -> None:
    calls = []

    @twincache.lru_cache
    def f(x: int) -> int:
        calls.append(x)
        return x

    f(1)
    f(1)
    f.cache_clear()
    assert f.cache_info() == (0, 0, 128, 0)
    f(1)
    assert calls == [1, 1]


def test_cache_parameters() -> None:
    @twincache.lru_cache(maxsize=-5, typed=True)
    def f(x: int) -> int:
        return x

    assert f.cache_parameters() == {"maxsize": 0, "typed": True}
    assert twincache.cache(lambda: 1).cache_parameters() == {"maxsize": None, "typed": False}


def test_maxsize_zero_never_caches() -> None:
    calls = []

    @twincache.lru_cache(maxsize=0)
    def f(x: int) -> int:
        calls.append(x)
        return x

    assert [f(1), f(1)] == [1, 1]
    assert calls == [1, 1]
    assert f.cache_info() == (0, 2, 0, 0)


def test_first_argument_errors_like_functools() -> None:
    with pytest.raises(TypeError) as ref:
        functools.lru_cache("x")  # type: ignore[call-overload]
    with pytest.raises(TypeError) as ours:
        twincache.lru_cache("x")  # type: ignore[call-overload]
    assert str(ours.value) == str(ref.value)


def test_unhashable_argument_raises_type_error() -> None:
    @twincache.lru_cache
    def f(x: Any) -> int:
        return 1

    with pytest.raises(TypeError, match="unhashable"):
        f([1, 2])
    with pytest.raises(TypeError, match="unhashable"):
        f(x={})
    assert f.cache_info() == (0, 0, 128, 0)


def test_wrapper_assignments() -> None:
    def original(x: int) -> int:
        """Doc of original."""
        return x

    original.custom = "attr"  # type: ignore[attr-defined]
    wrapped = twincache.lru_cache(original)
    assert wrapped.__wrapped__ is original
    assert wrapped.__name__ == "original"
    assert wrapped.__qualname__ == original.__qualname__
    assert wrapped.__doc__ == "Doc of original."
    assert wrapped.__module__ == __name__
    assert wrapped.custom == "attr"  # type: ignore[attr-defined]


class Point:
    def __init__(self, x: int) -> None:
        self.x = x
        self.calls = 0

    @twincache.lru_cache
    def scaled(self, k: int) -> int:
        self.calls += 1
        return self.x * k

    @staticmethod
    @twincache.lru_cache
    def double(v: int) -> int:
        return 2 * v

    @classmethod
    @twincache.lru_cache
    def name(cls) -> str:
        return cls.__name__


def test_methods_staticmethods_classmethods() -> None:
    p = Point(3)
    assert p.scaled(2) == 6
    assert p.scaled(2) == 6
    assert p.calls == 1
    assert Point.scaled(p, 2) == 6  # the same key as the bound call
    assert p.calls == 1
    assert Point.double(4) == 8 and p.double(4) == 8
    assert Point.name() == "Point"
    assert Point.scaled.cache_info().hits == 2


def test_copy_deepcopy_pickle_return_the_same_object() -> None:
    assert copy.copy(module_level) is module_level
    assert copy.deepcopy(module_level) is module_level
    assert pickle.loads(pickle.dumps(module_level)) is module_level


@twincache.lru_cache
def module_level(x: int) -> int:
    return x


def test_weak_referenceable() -> None:
    ref = weakref.ref(module_level)
    assert ref() is module_level


class ReentrantKey:
    """A key whose __eq__ calls the cached function (functools tolerates this)."""

    def __init__(self, v: int) -> None:
        self.v = v

    def __hash__(self) -> int:
        return 7  # every instance collides

    def __eq__(self, other: object) -> bool:
        reentrant(0)  # re-enters the cache during its own lookup
        return isinstance(other, ReentrantKey) and other.v == self.v


@twincache.lru_cache(maxsize=4)
def reentrant(k: object) -> object:
    return k.v if isinstance(k, ReentrantKey) else k


def test_reentrant_eq() -> None:
    keys = [ReentrantKey(i) for i in range(8)]
    for _ in range(3):
        assert [reentrant(k) for k in keys] == list(range(8))
    assert reentrant.cache_info().currsize <= 4


def test_threads_each_concurrent_miss_calls_the_function() -> None:
    started = threading.Barrier(4)
    calls: list[int] = []
    lock = threading.Lock()

    @twincache.lru_cache
    def slow(x: int) -> int:
        with lock:
            calls.append(x)
        started.wait(timeout=10)  # all four misses are in flight at once
        return x * 10

    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(slow(1))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [10] * 4
    assert calls == [1] * 4
    assert slow.cache_info().currsize == 1


def test_threads_counts_are_exact() -> None:
    @twincache.lru_cache(maxsize=16)
    def f(x: int) -> int:
        return x

    def work() -> None:
        for i in range(2000):
            f(i % 32)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    info = f.cache_info()
    assert info.hits + info.misses == 8000
    assert info.currsize == 16


def test_exceptions_are_not_cached() -> None:
    calls = []

    @twincache.lru_cache
    def f(x: int) -> int:
        calls.append(x)
        raise ValueError(x)

    for _ in range(2):
        with pytest.raises(ValueError):
            f(1)
    assert calls == [1, 1]
    assert f.cache_info().currsize == 0


def test_recursive_function() -> None:
    @twincache.lru_cache(maxsize=None)
    def fib(n: int) -> int:
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    assert fib(80) == 23416728348467685
    assert fib.cache_info().misses == 81


class CountedHash:
    """A key whose __hash__ calls are counted."""

    def __init__(self, value: int) -> None:
        self.value = value
        self.hashes = 0

    def __hash__(self) -> int:
        self.hashes += 1
        return hash(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CountedHash) and other.value == self.value


@pytest.mark.parametrize(
    "decorator",
    [twincache.lru_cache(maxsize=1), twincache.cache, twincache.cache(maxsize=1)],
    ids=["lru_cache(1)", "cache", "cache(maxsize=1)"],
)
def test_a_call_hashes_its_key_at_most_once(decorator: Any) -> None:
    # functools' rule (CPython's test_lru_hash_only_once), for the configured form too: a miss
    # that stores hashes once, a hit at most once, an eviction never.
    f = decorator(lambda x, y: y)
    a = CountedHash(5)
    assert f(a, 1) == 1
    assert a.hashes == 1
    assert f(a, 1) == 1
    assert a.hashes <= 2
    before = a.hashes
    assert f(6, 2) == 2  # evicts one of the two entries when bounded
    assert a.hashes == before
