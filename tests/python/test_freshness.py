"""Freshness options of @twincache.cache (issue 18): stale-while-revalidate, early refresh (XFetch),
TTL jitter, negative caching. Injected clock and random source, no sleeps: background refreshes are
waited for through twincache._testing (wait_refreshes / join_refreshes) or threading.Event."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest

import twincache
from twincache._testing import (
    ManualClock,
    call_together,
    join_refreshes,
    random_source,
    wait_refreshes,
)

# --- stale-while-revalidate -----------------------------------------------------------------------


def test_stale_window_serves_the_old_value_and_refreshes_once(clock: ManualClock) -> None:
    calls: list[int] = []

    @twincache.cache(ttl=10, stale=5)
    def f(x: int) -> tuple[int, int]:
        calls.append(x)
        return (x, len(calls))

    assert f(1) == (1, 1)
    clock.advance(9.9)
    assert f(1) == (1, 1) and len(calls) == 1  # fresh: no refresh
    clock.advance(0.1)
    assert f(1) == (1, 1)  # stale: the old value at once ...
    assert wait_refreshes(f)
    assert len(calls) == 2  # ... and one refresh
    assert f(1) == (1, 2)
    s = f.stats()
    assert s["refreshes"] == 1 and s["refresh_errors"] == 0


def test_after_the_stale_window_callers_wait_on_a_fresh_call(clock: ManualClock) -> None:
    calls: list[int] = []

    @twincache.cache(ttl=10, stale=5)
    def f(x: int) -> int:
        calls.append(x)
        return len(calls)

    assert f(1) == 1
    clock.advance(15)  # ttl + stale: the entry is gone
    assert f(1) == 2  # computed in the caller, not in the background
    assert calls == [1, 1]
    assert f.stats()["refreshes"] == 0


def test_refresh_dedup_under_100_threads(clock: ManualClock) -> None:
    release = threading.Event()
    entered = threading.Event()
    calls: list[int] = []

    @twincache.cache(ttl=10, stale=60)
    def f(x: int) -> int:
        calls.append(x)
        if len(calls) > 1:  # the refresh: held until every reader has read
            entered.set()
            assert release.wait(10)
        return len(calls)

    assert f(7) == 1
    clock.advance(11)
    results = call_together(100, lambda _: f(7))
    assert results == [1] * 100  # nobody waited for the refresh
    assert entered.wait(10)
    release.set()
    assert wait_refreshes(f)
    assert calls == [7, 7]  # one refresh for 100 stale readers
    assert f(7) == 2


def test_refresh_dedup_under_100_coroutines(clock: ManualClock) -> None:
    calls: list[int] = []

    @twincache.cache(ttl=10, stale=60)
    async def f(x: int) -> int:
        calls.append(x)
        await asyncio.sleep(0)
        return len(calls)

    async def main() -> None:
        assert await f(3) == 1
        clock.advance(11)
        results = await asyncio.gather(*(f(3) for _ in range(100)))
        assert results == [1] * 100
        await join_refreshes(f)
        assert calls == [3, 3]
        assert await f(3) == 2
        assert f.stats()["refreshes"] == 1

    asyncio.run(main())


def test_a_failed_refresh_keeps_the_old_value_counts_and_reports(clock: ManualClock) -> None:
    calls: list[int] = []
    reported: list[Exception] = []

    @twincache.cache(ttl=10, stale=5, on_refresh_error=reported.append)
    def f(x: int) -> int:
        calls.append(x)
        if len(calls) > 1:
            raise ConnectionError(f"down #{len(calls)}")
        return 100

    assert f(1) == 100
    clock.advance(10)
    for expected_calls in (2, 3):  # each stale read after a failure may retry, one at a time
        assert f(1) == 100
        assert wait_refreshes(f)
        assert len(calls) == expected_calls
    assert [str(e) for e in reported] == ["down #2", "down #3"]
    assert f.stats()["refresh_errors"] == 2
    clock.advance(5)  # the window is over: the caller waits on a fresh call, and sees it fail
    with pytest.raises(ConnectionError, match="down #4"):
        f(1)


def test_a_failed_refresh_without_a_hook_is_logged(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    @twincache.cache(ttl=10, stale=5)
    def f(x: int) -> int:
        calls.append(x)
        if len(calls) > 1:
            raise ValueError("bad refresh")
        return 1

    f(1)
    clock.advance(10)
    with caplog.at_level(logging.ERROR, logger="twincache"):
        assert f(1) == 1
        assert wait_refreshes(f)
    assert f.stats()["refresh_errors"] == 1
    messages = [r.getMessage() for r in caplog.records if r.name == "twincache"]
    assert any("refreshing" in m and "bad refresh" in m for m in messages), messages


def test_a_hanging_refresh_blocks_no_reader(clock: ManualClock) -> None:
    hang = threading.Event()
    entered = threading.Event()
    calls: list[int] = []

    @twincache.cache(ttl=10, stale=5)
    def f(x: int) -> int:
        calls.append(x)
        if len(calls) == 2:  # the first refresh hangs until the end of the test
            entered.set()
            hang.wait(10)
        return len(calls)

    assert f(1) == 1
    clock.advance(10)
    assert f(1) == 1
    assert entered.wait(10)
    for _ in range(5):  # still stale, still served at once; no second refresh
        clock.advance(0.5)
        assert f(1) == 1
    assert len(calls) == 2
    clock.advance(3)  # the window is over: a fresh call in the caller
    assert f(1) == 3
    hang.set()
    wait_refreshes(f)
    assert f(1) == 3  # the late result of the hung refresh is not stored
    assert calls == [1, 1, 1]


def test_async_refresh_failure_keeps_the_old_value(clock: ManualClock) -> None:
    calls: list[int] = []
    reported: list[Exception] = []

    @twincache.cache(ttl=10, stale=5, on_refresh_error=reported.append)
    async def f(x: int) -> int:
        calls.append(x)
        if len(calls) > 1:
            raise TimeoutError("slow")
        return 5

    async def main() -> None:
        assert await f(1) == 5
        clock.advance(10)
        assert await f(1) == 5
        await join_refreshes(f)
        assert [type(e) for e in reported] == [TimeoutError]
        assert await f(1) == 5
        assert f.stats()["refresh_errors"] >= 1

    asyncio.run(main())


def test_invalidate_forgets_a_refresh_in_flight(clock: ManualClock) -> None:
    release = threading.Event()
    entered = threading.Event()
    calls: list[int] = []

    @twincache.cache(ttl=10, stale=5)
    def f(x: int) -> int:
        calls.append(x)
        if len(calls) == 2:
            entered.set()
            release.wait(10)
        return len(calls)

    f(1)
    clock.advance(10)
    assert f(1) == 1
    assert entered.wait(10)
    assert f.invalidate(1) is True
    assert f(1) == 3  # computed anew
    release.set()
    wait_refreshes(f)
    assert f(1) == 3  # the refresh's late result (2) was not stored


# --- early refresh (XFetch) ----------------------------------------------------------------------


def test_early_refresh_follows_the_xfetch_rule(clock: ManualClock) -> None:
    calls: list[int] = []

    @twincache.cache(ttl=10, early_refresh=1.0)
    def f(x: int) -> int:
        calls.append(x)
        clock.advance(1)  # the computation takes 1 s: delta = 1 s
        return len(calls)

    assert f(1) == 1  # stored at t = 1, fresh until t = 11
    clock.advance(7)  # 3 s before expiry
    # -ln(1 - r) * delta * beta: r = 0.9 gives 2.3 s < 3 s (no refresh), r = 0.96 gives 3.2 s.
    with random_source(lambda: 0.9):
        assert f(1) == 1
    assert wait_refreshes(f) and calls == [1]
    with random_source(lambda: 0.96):
        assert f(1) == 1  # the current value at once, a refresh in the background
    assert wait_refreshes(f)
    assert calls == [1, 1]
    assert f.stats()["early_refreshes"] == 1
    assert f(1) == 2


def test_early_refresh_needs_a_ttl_and_a_positive_beta() -> None:
    with pytest.raises(TypeError, match="early_refresh need"):
        twincache.cache(early_refresh=1.0)
    with pytest.raises(ValueError, match=r"early_refresh must be a finite number > 0 .*\(got 0\)"):
        twincache.cache(ttl=1, early_refresh=0)
    with pytest.raises(TypeError, match=r"early_refresh must be a number > 0 .*\(got str\)"):
        twincache.cache(ttl=1, early_refresh="1")  # type: ignore[arg-type]


# --- TTL jitter ----------------------------------------------------------------------------------


def test_ttl_jitter_shortens_each_ttl_by_at_most_the_fraction(clock: ManualClock) -> None:
    draws = iter([0.0, 0.5, 0.999])

    @twincache.cache(ttl=100, ttl_jitter=0.5)
    def f(x: int) -> int:
        return x

    with random_source(lambda: next(draws)):
        for x in (1, 2, 3):  # TTLs 100 s, 75 s, 50.05 s
            f(x)
    assert f.cache_info().currsize == 3
    clock.advance(50.04)
    assert f.stats()["items"] == 3
    clock.advance(0.02)  # 50.06: the third has expired
    live = [x for x in (1, 2, 3) if f._peek(x) is not twincache._api._MISS_VALUE]
    assert live == [1, 2]
    clock.advance(25)  # 75.06
    live = [x for x in (1, 2, 3) if f._peek(x) is not twincache._api._MISS_VALUE]
    assert live == [1]
    clock.advance(24.93)  # 99.99
    assert f._peek(1) == 1  # ttl_jitter alone stores values as they are (plain hit path)
    clock.advance(0.01)
    assert f._peek(1) is twincache._api._MISS_VALUE


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (1, ValueError, r"ttl_jitter must be a number in \[0, 1\) \(got 1\)"),
        (-0.1, ValueError, r"ttl_jitter must be a number in \[0, 1\) \(got -0.1\)"),
        ("0.1", TypeError, r"ttl_jitter must be a number in \[0, 1\) \(got str\)"),
        (True, TypeError, r"ttl_jitter must be a number in \[0, 1\) \(got bool\)"),
    ],
)
def test_ttl_jitter_range(value: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        twincache.cache(ttl=10, ttl_jitter=value)


def test_options_that_need_a_ttl_say_so() -> None:
    with pytest.raises(TypeError, match=r"stale, ttl_jitter need\(s\) a ttl"):
        twincache.cache(stale=5, ttl_jitter=0.1)
    with pytest.raises(ValueError, match="stale"):
        twincache.cache(ttl=1, stale=-1)
    with pytest.raises(TypeError, match="on_refresh_error applies with stale or early_refresh"):
        twincache.cache(ttl=1, on_refresh_error=print)
    with pytest.raises(TypeError, match="on_refresh_error must be a callable"):
        twincache.cache(ttl=1, stale=1, on_refresh_error=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"stale need\(s\) a ttl"):
        twincache.cache(backend="disk", stale=1)


# --- negative caching ----------------------------------------------------------------------------


def test_a_cached_failure_is_raised_again_until_error_ttl(clock: ManualClock) -> None:
    calls: list[int] = []

    @twincache.cache(ttl=60, cache_errors=(KeyError, LookupError), error_ttl=2)
    def f(x: int) -> int:
        calls.append(x)
        if len(calls) < 3:
            raise KeyError(f"missing {x}")
        return x

    for _ in range(3):
        with pytest.raises(KeyError, match="missing 1"):
            f(1)
    assert calls == [1]  # raised again without calling
    assert f.stats()["error_hits"] == 2
    clock.advance(1.99)
    with pytest.raises(KeyError):
        f(1)
    clock.advance(0.01)  # error_ttl is over: called again (and fails again, cached again)
    with pytest.raises(KeyError, match="missing 1"):
        f(1)
    assert calls == [1, 1]
    assert f.invalidate(1) is True  # invalidate drops a cached failure
    assert f(1) == 1
    assert f(1) == 1 and calls == [1, 1, 1]


def test_failures_of_other_types_are_not_cached(clock: ManualClock) -> None:
    calls: list[int] = []

    @twincache.cache(ttl=60, cache_errors=KeyError)
    def f(x: int) -> int:
        calls.append(x)
        raise ValueError("not cached")

    for _ in range(2):
        with pytest.raises(ValueError):
            f(1)
    assert calls == [1, 1]


def test_error_ttl_defaults_to_ttl(clock: ManualClock) -> None:
    calls: list[int] = []

    @twincache.cache(ttl=10, cache_errors=KeyError)
    def f(x: int) -> int:
        calls.append(x)
        raise KeyError(x)

    with pytest.raises(KeyError):
        f(1)
    clock.advance(9.9)
    with pytest.raises(KeyError):
        f(1)
    assert calls == [1]
    clock.advance(0.1)
    with pytest.raises(KeyError):
        f(1)
    assert calls == [1, 1]


def test_async_cached_failure_is_rejected_to_every_caller(clock: ManualClock) -> None:
    calls: list[int] = []

    @twincache.cache(ttl=60, cache_errors=PermissionError, error_ttl=5)
    async def f(x: int) -> int:
        calls.append(x)
        raise PermissionError("no")

    async def main() -> None:
        results = await asyncio.gather(*(f(1) for _ in range(10)), return_exceptions=True)
        assert all(isinstance(r, PermissionError) for r in results)
        with pytest.raises(PermissionError, match="no"):
            await f(1)
        assert calls == [1]
        clock.advance(5)
        with pytest.raises(PermissionError):
            await f(1)
        assert calls == [1, 1]

    asyncio.run(main())


def test_negative_caching_bad_input() -> None:
    with pytest.raises(TypeError, match="cache_errors must be an Exception subclass"):
        twincache.cache(cache_errors=int)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="error_ttl applies with cache_errors only"):
        twincache.cache(error_ttl=1)
    with pytest.raises(ValueError, match="error_ttl"):
        twincache.cache(cache_errors=KeyError, error_ttl=0)


def test_no_option_keeps_the_plain_call_path() -> None:
    @twincache.cache(ttl=10)
    def f(x: int) -> int:
        return x

    @twincache.cache(ttl=10, stale=1)
    def g(x: int) -> int:
        return x

    assert not hasattr(f, "_freshness") and hasattr(g, "_freshness")
    assert f.cache_parameters().get("stale") is None
    assert g.cache_parameters()["stale"] == 1.0


def test_after_the_window_single_flight_callers_share_one_fresh_call(clock: ManualClock) -> None:
    release = threading.Event()
    entered = threading.Event()
    calls: list[int] = []

    @twincache.cache(ttl=10, stale=5, single_flight=True, cache_errors=KeyError)
    def f(x: int) -> int:
        calls.append(x)
        if len(calls) == 2:  # the fresh call after the window: the others wait for it
            entered.set()
            assert release.wait(10)
            raise KeyError("gone")
        return len(calls)

    assert f(1) == 1
    clock.advance(15)
    errors: list[BaseException] = []
    lock = threading.Lock()

    def caller() -> None:
        try:
            f(1)
        except KeyError as exc:
            with lock:
                errors.append(exc)

    first = threading.Thread(target=caller)
    first.start()
    assert entered.wait(10)
    others = [threading.Thread(target=caller) for _ in range(9)]
    for t in others:
        t.start()
    release.set()
    for t in [first, *others]:
        t.join(10)
    assert len(errors) == 10 and calls == [1, 1]  # one call; its failure reached every caller
    with pytest.raises(KeyError, match="gone"):  # and is cached (cache_errors)
        f(1)
    assert calls == [1, 1]


def test_async_early_refresh(clock: ManualClock) -> None:
    calls: list[int] = []

    @twincache.cache(ttl=10, early_refresh=2.0)
    async def f(x: int) -> int:
        calls.append(x)
        clock.advance(1)  # delta = 1 s
        return len(calls)

    async def main() -> None:
        assert await f(1) == 1  # fresh until t0 + 11
        clock.advance(9)  # 1 s before expiry: -ln(1 - 0.5) * 1 s * 2 = 1.39 s >= 1 s
        with random_source(lambda: 0.5):
            assert await f(1) == 1
        await join_refreshes(f)
        assert calls == [1, 1]
        assert await f(1) == 2

    asyncio.run(main())


# --- on disk: @cache(backend="disk") with the same options (twincache._disk_fresh) ----------------


def _advance_disk(seconds: float) -> None:
    from twincache import _disk

    _disk.clock_advance(round(seconds * 1e9))


@pytest.mark.usefixtures("disk_clock")
def test_disk_stale_window_and_refresh_dedup_under_100_threads(tmp_path: Any) -> None:
    release = threading.Event()
    entered = threading.Event()
    calls: list[int] = []

    @twincache.cache(backend="disk", path=tmp_path, ttl=10, stale=60)
    def f(x: int) -> int:
        calls.append(x)
        if len(calls) > 1:  # the refresh: held until every reader has read
            entered.set()
            assert release.wait(10)
        return len(calls)

    assert f(7) == 1
    _advance_disk(9.9)
    assert f(7) == 1 and calls == [7]  # fresh
    _advance_disk(1.1)
    results = call_together(100, lambda _: f(7))
    assert results == [1] * 100  # nobody waited for the refresh
    assert entered.wait(10)
    release.set()
    assert wait_refreshes(f)
    assert calls == [7, 7]  # one refresh for 100 stale readers
    assert f(7) == 2
    s = f.stats()
    assert s["refreshes"] == 1 and s["refresh_errors"] == 0 and s["hits"] == 102


@pytest.mark.usefixtures("disk_clock")
def test_disk_entries_are_kept_for_the_stale_window_across_handles(tmp_path: Any) -> None:
    calls: list[int] = []

    def make() -> Any:
        @twincache.cache(backend="disk", path=tmp_path, ttl=10, stale=5)
        def f(x: int) -> int:
            calls.append(x)
            return len(calls)

        return f

    assert make()(1) == 1
    _advance_disk(14)  # past the TTL, in the stale window: another handle (process) serves it
    g = make()
    assert g(1) == 1
    assert wait_refreshes(g)
    assert g(1) == 2 and calls == [1, 1]
    _advance_disk(15.1)  # past ttl + stale: the row is gone, the caller computes
    assert make()(1) == 3


@pytest.mark.usefixtures("disk_clock")
def test_disk_failed_refresh_keeps_the_old_value_until_the_window_ends(tmp_path: Any) -> None:
    calls: list[int] = []
    reported: list[Exception] = []

    @twincache.cache(
        backend="disk", path=tmp_path, ttl=10, stale=5, on_refresh_error=reported.append
    )
    def f(x: int) -> int:
        calls.append(x)
        if len(calls) > 1:
            raise ConnectionError(f"down #{len(calls)}")
        return 100

    assert f(1) == 100
    _advance_disk(10)
    for expected_calls in (2, 3):
        assert f(1) == 100
        assert wait_refreshes(f)
        assert len(calls) == expected_calls
    assert [str(e) for e in reported] == ["down #2", "down #3"]
    assert f.stats()["refresh_errors"] == 2
    _advance_disk(5)  # the window is over: the caller waits on a fresh call, and sees it fail
    with pytest.raises(ConnectionError, match="down #4"):
        f(1)


@pytest.mark.usefixtures("disk_clock")
def test_disk_async_stale_refresh_dedup_under_100_coroutines(tmp_path: Any) -> None:
    calls: list[int] = []

    @twincache.cache(backend="disk", path=tmp_path, ttl=10, stale=60)
    async def f(x: int) -> int:
        calls.append(x)
        await asyncio.sleep(0)
        return len(calls)

    async def main() -> None:
        assert await f(3) == 1
        _advance_disk(11)
        results = await asyncio.gather(*(f(3) for _ in range(100)))
        assert results == [1] * 100
        await join_refreshes(f)
        assert calls == [3, 3]
        assert await f(3) == 2

    asyncio.run(main())


@pytest.mark.usefixtures("disk_clock")
def test_disk_cached_failure_and_early_refresh(tmp_path: Any) -> None:
    calls: list[int] = []

    @twincache.cache(backend="disk", path=tmp_path, ttl=10, cache_errors=KeyError, error_ttl=2)
    def f(x: int) -> int:
        calls.append(x)
        if x < 0:
            raise KeyError(f"no {x}")
        return x

    for _ in range(3):
        with pytest.raises(KeyError, match="no -1"):
            f(-1)
    assert calls == [-1] and f.stats()["error_hits"] == 2
    _advance_disk(2)
    with pytest.raises(KeyError):
        f(-1)
    assert calls == [-1, -1]

    @twincache.cache(backend="disk", path=tmp_path, ttl=10, early_refresh=1.0)
    def g(x: int) -> int:
        calls.append(x)
        _advance_disk(1)  # the computation takes 1 s: delta = 1 s
        return len(calls)

    first = g(5)  # fresh for 10 s from its end
    _advance_disk(7)  # 3 s before expiry
    # -ln(1 - r) * delta * beta: r = 0.9 gives 2.3 s < 3 s (no refresh), r = 0.96 gives 3.2 s.
    with random_source(lambda: 0.9):
        assert g(5) == first
    assert wait_refreshes(g) and calls.count(5) == 1
    with random_source(lambda: 0.96):
        assert g(5) == first  # the current value at once, a refresh in the background
    assert wait_refreshes(g)
    assert g(5) == first + 1 and g.stats()["early_refreshes"] == 1


@pytest.mark.usefixtures("disk_clock")
def test_disk_ttl_jitter_alone_stores_plain_values(tmp_path: Any) -> None:
    calls: list[int] = []

    @twincache.cache(backend="disk", path=tmp_path, ttl=10, ttl_jitter=0.5)
    def f(x: int) -> int:
        calls.append(x)
        return len(calls)

    with random_source(lambda: 0.5):  # ttl * (1 - 0.5 * 0.5) = 7.5 s
        assert f(1) == 1
    _advance_disk(7.4)
    assert f(1) == 1
    _advance_disk(0.1)
    assert f(1) == 2
    with pytest.raises(ValueError, match=r"ttl_jitter must be a number in \[0, 1\)"):
        twincache.cache(backend="disk", path=tmp_path, ttl=1, ttl_jitter=1)
    with pytest.raises(TypeError, match="mmap do"):
        twincache.cache(backend="disk", path=tmp_path, ttl=1, stale=1, mmap=True)
    with pytest.raises(TypeError, match="cache_errors needs codec='pickle'"):
        twincache.cache(backend="disk", path=tmp_path, codec="json", cache_errors=KeyError)


@pytest.mark.usefixtures("disk_clock")
def test_disk_invalidate_forgets_a_refresh_in_flight(tmp_path: Any) -> None:
    release = threading.Event()
    entered = threading.Event()
    calls: list[int] = []

    @twincache.cache(backend="disk", path=tmp_path, ttl=10, stale=60)
    def f(x: int) -> int:
        calls.append(x)
        if len(calls) == 2:
            entered.set()
            release.wait(10)
        return len(calls)

    assert f(1) == 1
    _advance_disk(11)
    assert f(1) == 1
    assert entered.wait(10)
    assert f.invalidate(1)
    release.set()
    assert wait_refreshes(f)
    assert f(1) == 3  # the late refresh (2) was not stored
