"""async def functions: results (never coroutine objects) are cached, concurrent awaits of a key
run the function once, cancellation and exceptions behave as documented."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import twincache
from twincache._testing import ManualClock

pytestmark = pytest.mark.asyncio


def counting_async(decorator: Any) -> tuple[Any, list[Any], asyncio.Event]:
    calls: list[Any] = []
    gate = asyncio.Event()
    gate.set()

    async def f(x: Any) -> Any:
        calls.append(x)
        await gate.wait()
        return x * 2

    return decorator(f), calls, gate


@pytest.mark.parametrize(
    "decorator",
    [twincache.cache, twincache.lru_cache, twincache.lru_cache(maxsize=8), twincache.cache()],
    ids=["cache", "lru_cache", "lru_cache(8)", "cache()"],
)
async def test_results_are_cached_not_coroutines(decorator: Any) -> None:
    f, calls, _ = counting_async(decorator)
    assert await f(2) == 4
    assert await f(2) == 4
    assert await f(3) == 6
    assert calls == [2, 3]
    assert f.cache_info().hits == 1
    assert asyncio.iscoroutinefunction(f)


async def test_none_results_are_cached() -> None:
    calls = []

    @twincache.cache
    async def f() -> None:
        calls.append(1)

    assert await f() is None
    assert await f() is None
    assert calls == [1]


async def test_concurrent_awaits_run_the_function_once() -> None:
    f, calls, gate = counting_async(twincache.cache())
    gate.clear()
    tasks = [asyncio.ensure_future(f(5)) for _ in range(10)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*tasks) == [10] * 10
    assert calls == [5]
    s = f.stats()
    assert s["items"] == 1 and s["misses"] == 10


async def test_cancelling_a_waiter_does_not_cancel_the_others() -> None:
    f, calls, gate = counting_async(twincache.cache())
    gate.clear()
    leader = asyncio.ensure_future(f(1))
    waiter = asyncio.ensure_future(f(1))
    other = asyncio.ensure_future(f(1))
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.sleep(0)
    gate.set()
    assert await leader == 2
    assert await other == 2
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert calls == [1]


async def test_cancelled_leader_hands_over_to_a_waiter() -> None:
    f, calls, gate = counting_async(twincache.cache())
    gate.clear()
    leader = asyncio.ensure_future(f(1))
    waiters = [asyncio.ensure_future(f(1)) for _ in range(3)]
    await asyncio.sleep(0)
    leader.cancel()
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*waiters) == [2, 2, 2]
    with pytest.raises(asyncio.CancelledError):
        await leader
    assert calls == [1, 1]  # the cancelled run and the one a waiter took over
    assert await f(1) == 2
    assert calls == [1, 1]


async def test_exception_reaches_every_waiter_and_is_not_cached() -> None:
    calls = []
    gate = asyncio.Event()

    @twincache.cache()
    async def f(x: int) -> int:
        calls.append(x)
        await gate.wait()
        raise KeyError(x)

    tasks = [asyncio.ensure_future(f(1)) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, KeyError) for r in results)
    assert calls == [1]
    with pytest.raises(KeyError):
        await f(1)
    assert calls == [1, 1]
    assert f.stats()["items"] == 0


async def test_async_ttl(clock: ManualClock) -> None:
    f, calls, _ = counting_async(twincache.cache(ttl=5))
    await f(1)
    clock.advance(4.9)
    await f(1)
    clock.advance(0.1)
    await f(1)
    assert calls == [1, 1]


async def test_async_method() -> None:
    class Service:
        def __init__(self) -> None:
            self.calls = 0

        @twincache.cache(maxsize=10)
        async def fetch(self, key: str) -> str:
            self.calls += 1
            return key.upper()

    s = Service()
    assert await s.fetch("a") == "A"
    assert await s.fetch("a") == "A"
    assert s.calls == 1


async def test_invalidate_async() -> None:
    f, calls, _ = counting_async(twincache.cache())
    await f(1)
    assert f.invalidate(1) is True
    await f(1)
    assert calls == [1, 1]


async def test_awaiting_itself_with_the_same_key_raises_instead_of_hanging() -> None:
    @twincache.cache()
    async def selfish(x: int) -> int:
        return await selfish(x) + 1

    with pytest.raises(RuntimeError, match="awaited itself with the same arguments"):
        await selfish(1)
    assert selfish.stats()["items"] == 0

    @twincache.cache()
    async def fib(n: int) -> int:  # other keys from the same task are fine
        return n if n < 2 else await fib(n - 1) + await fib(n - 2)

    assert await fib(40) == 102334155
