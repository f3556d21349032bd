"""Issue 14, item 6 (Python part): an invalidate() or cache_clear() during an in-flight async call
keeps its late result out of the cache; native and pure agree on lru_cache(maxsize=2**70) (as
functools), on how huge TTLs are printed in messages, and on the unknown-keyword message."""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Callable
from typing import Any

import pytest

import twincache


def gated() -> tuple[Callable[[int], Any], list[int], asyncio.Event]:
    calls: list[int] = []
    gate = asyncio.Event()

    async def f(x: int) -> tuple[int, int]:
        calls.append(x)
        await gate.wait()
        return (x, len(calls))

    return f, calls, gate


async def started(calls: list[int], n: int) -> None:
    while len(calls) < n:
        await asyncio.sleep(0)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "decorator", [twincache.cache(), twincache.lru_cache(maxsize=8)], ids=["cache", "lru_cache"]
)
async def test_invalidate_during_an_async_call_keeps_its_result_out(decorator: Any) -> None:
    fn, calls, gate = gated()
    f = decorator(fn)
    first = asyncio.ensure_future(f(1))
    waiter = asyncio.ensure_future(f(1))
    await started(calls, 1)
    assert f.invalidate(1) is False  # nothing stored yet
    gate.set()
    assert await first == (1, 1)
    assert await waiter == (1, 1), "callers already waiting still get the result"
    assert f.stats()["items"] == 0, "the result computed across invalidate() is not stored"
    assert await f(1) == (1, 2), "the next call computes again"
    assert calls == [1, 1]
    assert await f(1) == (1, 2), "and its result is stored"
    assert f.invalidate(1) is True
    assert f.stats()["items"] == 0


@pytest.mark.asyncio
async def test_invalidate_of_other_arguments_keeps_the_result() -> None:
    fn, calls, gate = gated()
    f = twincache.cache(maxsize=8)(fn)
    task = asyncio.ensure_future(f(5))
    await started(calls, 1)
    assert f.invalidate(6) is False
    gate.set()
    assert await task == (5, 1)
    assert await f(5) == (5, 1), "stored: only its own key's removal discards it"
    assert calls == [5]


@pytest.mark.asyncio
async def test_invalidate_of_a_content_keyed_call_in_flight() -> None:
    calls: list[list[int]] = []
    gate = asyncio.Event()

    @twincache.cache(maxsize=8)
    async def total(xs: list[int]) -> int:
        calls.append(list(xs))
        await gate.wait()
        return sum(xs)

    task = asyncio.ensure_future(total([1, 2]))
    while not calls:
        await asyncio.sleep(0)
    assert total.invalidate([1, 2]) is False
    gate.set()
    assert await task == 3
    assert total.stats()["items"] == 0
    assert await total([1, 2]) == 3
    assert len(calls) == 2


@pytest.mark.asyncio
async def test_cache_clear_during_an_async_call_keeps_its_result_out() -> None:
    fn, calls, gate = gated()
    f = twincache.cache(ttl=60)(fn)
    task = asyncio.ensure_future(f(2))
    await started(calls, 1)
    f.cache_clear()
    gate.set()
    assert await task == (2, 1)
    assert f.cache_info().currsize == 0
    assert await f(2) == (2, 2)
    assert f.cache_info().currsize == 1


@pytest.mark.asyncio
async def test_an_async_call_without_removal_is_stored() -> None:
    fn, calls, gate = gated()
    f = twincache.cache(fn)
    task = asyncio.ensure_future(f(3))
    await started(calls, 1)
    gate.set()
    assert await task == (3, 1)
    assert await f(3) == (3, 1)
    assert calls == [3]


def _identity(x: int) -> int:
    return x


@pytest.mark.parametrize("maxsize", [2**70, sys.maxsize + 1])
def test_lru_cache_maxsize_beyond_ssize_t_overflows_as_functools(maxsize: int) -> None:
    decorator = functools.lru_cache(maxsize=maxsize)  # no error until it decorates
    with pytest.raises(OverflowError) as ref:
        decorator(_identity)
    ours = twincache.lru_cache(maxsize=maxsize)
    with pytest.raises(OverflowError) as got:
        ours(_identity)
    assert str(got.value) == str(ref.value) == "cannot fit 'int' into an index-sized integer"


def test_lru_cache_maxsize_at_ssize_t_max_works_as_functools() -> None:
    f = twincache.lru_cache(maxsize=sys.maxsize)(_identity)
    assert f(4) == 4
    assert f(4) == 4
    ref = functools.lru_cache(maxsize=sys.maxsize)(_identity)
    ref(4)
    ref(4)
    assert f.cache_info() == ref.cache_info()
    assert f.cache_parameters() == {"maxsize": sys.maxsize, "typed": False}


TTL_RANGE = "a finite number of seconds > 0 and <= 4e+09"


# Integral values print exactly in fixed notation (as C++ std::to_chars), not padded with zeros.
@pytest.mark.parametrize(
    ("ttl", "shown"),
    [
        (2**70, "1180591620717411303424"),
        (2.0**62, "4611686018427387904"),
        (3016821243489370505216.0, "3016821243489370505216"),
        (278908409818195066880.0, "278908409818195066880"),
        (1e22, "1e+22"),
        (123456789012345678901234567890, "1.2345678901234568e+29"),
        (4000000000.5, "4000000000.5"),
    ],
)
def test_huge_ttl_messages_are_the_same_in_both_modes(ttl: float, shown: str) -> None:
    message = f"ttl must be {TTL_RANGE} (got {shown})"
    with pytest.raises(ValueError) as e1:
        twincache.Cache(ttl=ttl)
    with pytest.raises(ValueError) as e2:
        twincache.cache(ttl=ttl)
    c = twincache.Cache()
    with pytest.raises(ValueError) as e3:
        c.set("k", 1, ttl=ttl)
    assert [str(e.value) for e in (e1, e2, e3)] == [message] * 3
    assert len(c) == 0


needs_qualname = pytest.mark.skipif(
    not twincache.native and sys.version_info < (3, 11),
    reason="before 3.11, Python names only the method ('get()') in this message",
)


@needs_qualname
def test_unknown_keyword_message_is_the_same_in_both_modes() -> None:
    with pytest.raises(TypeError) as e:
        twincache.Cache(maxsize=3, foo=1)  # type: ignore[call-arg]
    assert str(e.value) == "Cache.__init__() got an unexpected keyword argument 'foo'"
    c = twincache.Cache()
    c["k"] = 1
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: c.set("k", 2, tll=5), "Cache.set() got an unexpected keyword argument 'tll'"),
        (lambda: c.get("k", dflt=0), "Cache.get() got an unexpected keyword argument 'dflt'"),
        (lambda: c.pop("k", dflt=0), "Cache.pop() got an unexpected keyword argument 'dflt'"),
    ]
    for call, message in cases:
        with pytest.raises(TypeError) as e:
            call()
        assert str(e.value) == message
    assert dict(c.items()) == {"k": 1}, "the cache is unchanged"
