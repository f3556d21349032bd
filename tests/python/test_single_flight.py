"""single_flight=True on sync functions."""

from __future__ import annotations

import threading

import pytest

import twincache


def test_concurrent_misses_run_the_function_once() -> None:
    release = threading.Event()
    entered = threading.Event()
    calls = []

    @twincache.cache(single_flight=True)
    def slow(x: int) -> int:
        calls.append(x)
        entered.set()
        release.wait(timeout=10)
        return x * 10

    results: list[int] = []
    first = threading.Thread(target=lambda: results.append(slow(1)))
    first.start()
    assert entered.wait(timeout=10)
    others = [threading.Thread(target=lambda: results.append(slow(1))) for _ in range(3)]
    for t in others:
        t.start()
    release.set()
    for t in [first, *others]:
        t.join()
    assert results == [10] * 4
    assert calls == [1]


def test_exception_reaches_waiters_and_is_not_cached() -> None:
    release = threading.Event()
    entered = threading.Event()
    calls = []

    @twincache.cache(single_flight=True)
    def failing(x: int) -> int:
        calls.append(x)
        entered.set()
        release.wait(timeout=10)
        raise ValueError("boom")

    errors: list[BaseException] = []

    def call() -> None:
        try:
            failing(1)
        except ValueError as exc:
            errors.append(exc)

    first = threading.Thread(target=call)
    first.start()
    assert entered.wait(timeout=10)
    second = threading.Thread(target=call)
    second.start()
    release.set()
    first.join()
    second.join()
    assert len(errors) == 2
    assert failing.stats()["items"] == 0


def test_recursive_call_into_the_same_key_raises_instead_of_deadlocking() -> None:
    @twincache.cache(single_flight=True)
    def selfish(x: int) -> int:
        return selfish(x) + 1

    with pytest.raises(RuntimeError, match="same arguments while computing them"):
        selfish(1)
    assert selfish.stats()["items"] == 0


def test_recursion_into_other_keys_works() -> None:
    @twincache.cache(single_flight=True)
    def fib(n: int) -> int:
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    assert fib(50) == 12586269025
