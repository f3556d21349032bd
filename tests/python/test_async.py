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


class Gated:
    """An async function whose runs wait for a gate, and what happened to each run."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.started = asyncio.Event()
        self.calls: list[int] = []
        self.cancelled: list[int] = []
        self.stopped = asyncio.Event()

    async def run(self, x: int) -> int:
        self.calls.append(x)
        self.started.set()
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled.append(x)
            self.stopped.set()
            raise
        return x * 2


async def cancelled(task: asyncio.Future[Any]) -> None:
    """Cancels task and waits until it has finished (with CancelledError)."""
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_cancelled_caller_leaves_the_computation_running_for_the_others() -> None:
    g = Gated()
    f = twincache.cache()(g.run)
    leader = asyncio.ensure_future(f(1))  # its call starts the computation
    await g.started.wait()
    waiters = [asyncio.ensure_future(f(1)) for _ in range(2)]
    await asyncio.sleep(0)  # both are waiting on the computation
    await cancelled(leader)
    g.gate.set()
    assert await asyncio.gather(*waiters) == [2, 2]
    assert g.calls == [1]  # not restarted
    assert g.cancelled == []
    assert await f(1) == 2  # the result was cached
    assert g.calls == [1]
    assert f.stats()["items"] == 1


async def test_the_computation_is_cancelled_with_its_last_caller() -> None:
    g = Gated()
    f = twincache.cache()(g.run)
    callers = [asyncio.ensure_future(f(1)) for _ in range(3)]
    await g.started.wait()
    await cancelled(callers[0])
    await cancelled(callers[2])
    assert g.cancelled == []  # one caller still waits
    await cancelled(callers[1])
    await asyncio.wait_for(g.stopped.wait(), timeout=10)  # a guard against hanging, not a delay
    assert g.cancelled == [1]
    assert f.stats()["items"] == 0  # nothing cached
    # A later call starts a new computation instead of joining the cancelled one.
    g.gate.set()
    assert await f(1) == 2
    assert g.calls == [1, 1]


async def test_a_caller_after_the_last_one_left_starts_anew() -> None:
    g = Gated()
    f = twincache.cache()(g.run)
    first = asyncio.ensure_future(f(1))
    await g.started.wait()
    first.cancel()  # the computation is cancelled once `first` has processed it
    second = asyncio.ensure_future(f(1))
    with pytest.raises(asyncio.CancelledError):
        await first
    g.gate.set()
    assert await second == 2  # not the cancelled computation's CancelledError
    assert g.calls == [1, 1]
    assert g.cancelled == [1]


async def test_exception_after_the_first_caller_was_cancelled_reaches_the_others() -> None:
    gate = asyncio.Event()
    started = asyncio.Event()
    calls = []

    @twincache.cache()
    async def f(x: int) -> int:
        calls.append(x)
        started.set()
        await gate.wait()
        raise KeyError(x)

    leader = asyncio.ensure_future(f(1))
    await started.wait()
    waiters = [asyncio.ensure_future(f(1)) for _ in range(2)]
    await asyncio.sleep(0)
    await cancelled(leader)
    gate.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert [type(r) for r in results] == [KeyError, KeyError]
    assert calls == [1]
    assert f.stats()["items"] == 0
    with pytest.raises(KeyError):
        await f(1)
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


async def test_a_cycle_through_another_function_raises_instead_of_hanging() -> None:
    @twincache.cache()
    async def f(x: int) -> int:
        return await g(x) + 1

    @twincache.cache()
    async def g(x: int) -> int:
        return await f(x) + 1  # f(x) is computing and waits for this: a cycle

    with pytest.raises(RuntimeError, match="awaited itself with the same arguments"):
        await f(1)
    assert f.stats()["items"] == 0 and g.stats()["items"] == 0
