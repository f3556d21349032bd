"""Freshness options of the configured decorator (docs/python.md, "Freshness"): stale-while-
revalidate (`stale=`), early refresh (`early_refresh=`, the XFetch rule), TTL jitter
(`ttl_jitter=`) and negative caching (`cache_errors=`, `error_ttl=`).

They switch the memo to its fresh call (memo.cpp memo_fresh_vectorcall, _pure._FreshMemo): every
entry then holds a record, the tuple (value, check_at_ns, fresh_until_ns, delta_ns, is_error).
A hit before check_at returns the value without Python code; the others come to Freshness.hook:
a miss, a hit in the stale window (the table keeps an entry for ttl + stale), a hit close enough
to expiry for the XFetch rule, a cached failure. A function without these options never comes
here: its call path is unchanged. The disk decorator (twincache._disk_fresh) keeps the same
records in its directory and calls the same hook.
"""

from __future__ import annotations

import asyncio
import logging
import math
import queue
import random
import threading
from _thread import allocate_lock as _allocate_lock
from collections.abc import Callable
from typing import Any, Final

from . import _fork, _options
from ._backend import impl

_log: Final = logging.getLogger("twincache")

# How many worker threads refresh sync functions in the background, for all functions together.
REFRESH_WORKERS: Final = 4

# Under early refresh, a hit goes to the hook from fresh_until - EARLY_WINDOW * delta * beta on:
# before that, the XFetch rule fires with probability exp(-EARLY_WINDOW) (below 1e-8).
EARLY_WINDOW: Final = 20.0

# fresh_until and check_at of a record that never turns stale (an entry without expiry).
FOREVER: Final = 1 << 62

# The random source of the XFetch rule and of TTL jitter, U[0, 1) (tests replace it:
# twincache._testing.random_source).
random_source: Callable[[], float] = random.random


# --- options ------------------------------------------------------------------------------------


def fraction(name: str, value: object) -> float:
    """ttl_jitter: a number in [0, 1) (as the Redis tier's)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number in [0, 1) (got {type(value).__name__})")
    if not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1) (got {value!r})")
    return float(value)


def beta(name: str, value: object) -> float:
    """early_refresh: the XFetch beta, a finite number > 0 (1.0 is the usual choice)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"{name} must be a number > 0 (the XFetch beta) (got {type(value).__name__})"
        )
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number > 0 (the XFetch beta) (got {value!r})")
    return float(value)


class Options:
    """The checked freshness options of one decorator; `active` when any is set."""

    def __init__(
        self,
        *,
        ttl_ns: int | None,
        stale: object,
        ttl_jitter: object,
        early_refresh: object,
        cache_errors: object,
        error_ttl: object,
        on_refresh_error: object,
    ) -> None:
        self.stale_ns = _options.ttl("stale", stale) or 0
        self.jitter = 0.0 if ttl_jitter is None else fraction("ttl_jitter", ttl_jitter)
        self.beta = 0.0 if early_refresh is None else beta("early_refresh", early_refresh)
        self.errors = _options.error_types(cache_errors)
        self.error_ttl_ns = _options.ttl("error_ttl", error_ttl)
        self.on_refresh_error = _options.key_function("on_refresh_error", on_refresh_error)
        needs_ttl = [
            name
            for name, given in (
                ("stale", stale is not None),
                ("ttl_jitter", ttl_jitter is not None),
                ("early_refresh", early_refresh is not None),
            )
            if given
        ]
        if needs_ttl and ttl_ns is None:
            raise TypeError(f"{', '.join(needs_ttl)} need(s) a ttl (got ttl=None)")
        if error_ttl is not None and not self.errors:
            raise TypeError("error_ttl applies with cache_errors only")
        if on_refresh_error is not None and not (self.stale_ns or self.beta):
            raise TypeError("on_refresh_error applies with stale or early_refresh only")
        if self.error_ttl_ns is None:
            self.error_ttl_ns = ttl_ns
        self.ttl_ns = ttl_ns
        self.active = bool(self.stale_ns or self.jitter or self.beta or self.errors)
        # ttl_jitter alone needs no record: values are stored as they are, each with its own
        # TTL, and hits take the plain call path.
        self.records = bool(self.stale_ns or self.beta or self.errors)

    def parameters(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.stale_ns:
            out["stale"] = self.stale_ns / 1e9
        if self.jitter:
            out["ttl_jitter"] = self.jitter
        if self.beta:
            out["early_refresh"] = self.beta
        if self.errors:
            out["cache_errors"] = self.errors
            out["error_ttl"] = None if self.error_ttl_ns is None else self.error_ttl_ns / 1e9
        return out


# --- the worker threads of sync refreshes -------------------------------------------------------


class _Pool:
    """At most REFRESH_WORKERS daemon threads, started on demand, taking refreshes from one
    queue. A refresh that hangs holds its thread: the others keep going; when all hang, queued
    refreshes wait (readers are not blocked: they are served the stale value meanwhile)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.queue: queue.SimpleQueue[tuple[Callable[..., None], tuple[Any, ...]]] = (
            queue.SimpleQueue()
        )
        self.lock = threading.Lock()  # guards threads and idle
        self.threads = 0
        self.idle = 0

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        self.queue.put((fn, args))
        if self.idle == 0 and self.threads < self.size:
            with self.lock:
                if self.threads < self.size:
                    self.threads += 1
                    threading.Thread(
                        target=self._work, name="twincache-refresh", daemon=True
                    ).start()

    def _work(self) -> None:
        while True:
            with self.lock:
                self.idle += 1
            fn, args = self.queue.get()
            with self.lock:
                self.idle -= 1
            try:
                fn(*args)
            except BaseException:  # pragma: no cover - refresh() reports its own failures
                _log.exception("twincache: a refresh worker caught an unexpected error")

    def reset_in_child(self) -> None:
        self.queue = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.threads = self.idle = 0


_pool = _Pool(REFRESH_WORKERS)
_fork.track(_pool, child=_Pool.reset_in_child)


# --- one decorated function ---------------------------------------------------------------------


class _Refresh:
    """One refresh in flight of one key: `running` is held until it ends (stored or not); a
    lock, not an Event, because a stale read that schedules a refresh makes one (cheaper)."""

    __slots__ = ("running", "task")

    def __init__(self) -> None:
        self.running = _allocate_lock()
        self.running.acquire()
        self.task: asyncio.Task[Any] | None = None

    def wait(self, timeout: float | None) -> bool:
        if not self.running.acquire(timeout=-1 if timeout is None else timeout):
            return False
        self.running.release()
        return True


async def _value(value: object) -> object:
    return value


async def _raise(exc: BaseException) -> Any:
    raise exc.with_traceback(None)


class Freshness:
    """The freshness logic of one memoized function (see the module's docstring)."""

    def __init__(
        self,
        memo: Any,
        func: Callable[..., Any],
        options: Options,
        miss: Callable[..., Any] | None,
        is_async: bool,
        flight_table: Callable[[], dict[Any, Any]],
        clock: Callable[[], int] = impl.clock_now,
    ) -> None:
        # clock: ns, the memory tier's monotonic clock; the disk tier's records outlive the
        # process, so it passes the wall clock its expiry reads (twincache._disk_fresh).
        self.clock = clock
        self.memo = memo
        self.func = func
        self.o = options
        self.miss_hook = miss  # the async / single-flight miss path of twincache._api, or None
        self.is_async = is_async
        self.name = getattr(func, "__qualname__", repr(func))
        self.refreshing: dict[Any, _Refresh] = flight_table()
        self.starts: dict[Any, int] = {}  # key -> clock time its miss started computing
        self.counts = {"refreshes": 0, "refresh_errors": 0, "early_refreshes": 0, "error_hits": 0}
        self.counts_lock = threading.Lock()  # guards counts (workers and readers update them)

    # -- records --

    def record(self, value: object, fresh_ns: int | None, delta_ns: int) -> tuple[Any, ...]:
        """The record of a value fresh for `fresh_ns` more (None: for ever; <= 0: stale now)
        that took `delta_ns` to compute."""
        now = self.clock()
        if fresh_ns is None:
            return (value, FOREVER, FOREVER, delta_ns, False)
        fresh_until = now + fresh_ns
        check_at = fresh_until
        beta = self.o.beta
        if beta and delta_ns > 0:
            check_at = max(now, fresh_until - int(EARLY_WINDOW * delta_ns * beta))
        return (value, check_at, fresh_until, delta_ns, False)

    def store(self, key: Any, value: object, delta_ns: int) -> None:
        o = self.o
        ttl = o.ttl_ns
        assert ttl is not None
        if o.jitter:  # never longer than asked, as the Redis tier's
            ttl = jittered_ttl(o)
        self.memo._put(key, self.record(value, ttl, delta_ns), ttl + o.stale_ns)

    def store_computed(self, key: Any, value: object) -> None:
        """memo._store of the miss paths (twincache._api): a computed value becomes a record."""
        start = self.starts.pop(key, None)
        self.store(key, value, 0 if start is None else self.clock() - start)

    def store_error(self, key: Any, exc: BaseException) -> None:
        # A cached failure is checked at once on every hit (check_at 0): the hook raises it.
        self.memo._put(key, (exc, 0, 0, 0, True), self.o.error_ttl_ns)

    def count(self, name: str) -> None:
        with self.counts_lock:
            self.counts[name] += 1

    # -- the call path --

    def hook(
        self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any], record: Any, now: int
    ) -> Any:
        if record is None:
            return self.miss(key, args, kwargs)
        value, _, fresh_until, delta, is_error = record
        if is_error:
            self.count("error_hits")
            if self.is_async:
                return _raise(value)
            raise value.with_traceback(None)
        if now >= fresh_until:  # the stale window: the table drops the entry when it ends
            return self.serve_stale(key, args, kwargs, value)
        o = self.o
        if o.beta and now - delta * o.beta * math.log(1.0 - random_source()) >= fresh_until:
            self.count("early_refreshes")
            return self.serve_stale(key, args, kwargs, value)
        return _value(value) if self.is_async else value

    def serve_stale(
        self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any], value: object
    ) -> Any:
        """The old value at once, and one refresh of the key in the background."""
        if self.is_async:
            return self.stale_async(key, args, kwargs, value)
        if key not in self.refreshing:
            mine = _Refresh()
            if self.refreshing.setdefault(key, mine) is mine:
                _pool.submit(self.refresh_sync, key, args, kwargs, mine)
        return value

    async def stale_async(
        self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any], value: object
    ) -> object:
        if key not in self.refreshing:
            mine = _Refresh()
            if self.refreshing.setdefault(key, mine) is mine:
                mine.task = asyncio.get_running_loop().create_task(
                    self.refresh_async(key, args, kwargs, mine)
                )
        return value

    def refresh_sync(
        self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mine: _Refresh
    ) -> None:
        start = self.clock()
        try:
            value = self.func(*args, **kwargs)
        except Exception as exc:
            self.failed(exc)
        else:
            # Not stored when invalidate(), cache_clear() or a newer computation forgot it.
            if self.refreshing.get(key) is mine:
                self.put_refreshed(key, args, kwargs, value, self.clock() - start)
                self.count("refreshes")
        finally:
            self.finish(key, mine)

    async def refresh_async(
        self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any], mine: _Refresh
    ) -> None:
        start = self.clock()
        try:
            value = await self.func(*args, **kwargs)
        except Exception as exc:
            self.failed(exc)
        else:
            if self.refreshing.get(key) is mine:
                await self.aput_refreshed(key, args, kwargs, value, self.clock() - start)
                self.count("refreshes")
        finally:
            self.finish(key, mine)

    def put_refreshed(
        self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any], value: object, delta: int
    ) -> None:
        """Keeps a refresh's value (the Redis tier's subclass writes it to Redis too)."""
        self.store(key, value, delta)

    async def aput_refreshed(
        self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any], value: object, delta: int
    ) -> None:
        self.put_refreshed(key, args, kwargs, value, delta)

    def finish(self, key: Any, mine: _Refresh) -> None:
        if self.refreshing.get(key) is mine:
            self.refreshing.pop(key, None)
        mine.running.release()

    def failed(self, exc: Exception) -> None:
        """A failed refresh: counted, reported, the old value kept (until its window ends)."""
        self.count("refresh_errors")
        hook = self.o.on_refresh_error
        if hook is not None:
            try:
                hook(exc)
                return
            except Exception as why:
                _log.error(
                    "twincache: on_refresh_error raised for %s(): %r", self.name, why, exc_info=why
                )
        _log.error("twincache: refreshing %s() failed: %r", self.name, exc, exc_info=exc)

    def miss(self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """No entry (or its stale window is over): the caller waits for a fresh call. A refresh
        still in flight (hanging, say) is forgotten: its late result is not stored."""
        self.refreshing.pop(key, None)
        start = self.clock()
        if self.is_async:
            return self.miss_async(key, args, kwargs, start)
        try:
            if self.miss_hook is not None:  # single flight: it stores through store_computed
                self.starts[key] = start
                return self.miss_hook(key, args, kwargs)
            value = self.func(*args, **kwargs)
        except self.o.errors as exc:
            self.store_error(key, exc)
            raise
        finally:
            self.starts.pop(key, None)
        self.store(key, value, self.clock() - start)
        return value

    async def miss_async(
        self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any], start: int
    ) -> Any:
        assert self.miss_hook is not None  # async functions always have their miss path
        self.starts[key] = start
        try:
            return await self.miss_hook(key, args, kwargs)
        except self.o.errors as exc:
            self.store_error(key, exc)
            raise
        finally:
            self.starts.pop(key, None)

    def stats(self, base: dict[str, Any]) -> dict[str, Any]:
        with self.counts_lock:
            base.update(self.counts)
        return base

    def wait(self, timeout: float | None) -> bool:
        """Waits for the sync refreshes in flight now; whether they all ended (tests)."""
        return all(r.wait(timeout) for r in list(self.refreshing.values()))

    async def join(self) -> None:
        """Awaits the async refreshes in flight now (tests)."""
        tasks = [r.task for r in list(self.refreshing.values()) if r.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)


def jittered_ttl(options: Options) -> int:
    ttl = options.ttl_ns
    assert ttl is not None
    return max(1, int(ttl * (1.0 - options.jitter * random_source())))


def install_jitter(memo: Any, func: Callable[..., Any], options: Options) -> None:
    """ttl_jitter alone: the miss paths store each value with a jittered TTL; hits unchanged."""

    def store(key: Any, value: object) -> None:
        memo._put(key, value, jittered_ttl(options))

    def miss(key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        value = func(*args, **kwargs)
        store(key, value)
        return value

    vars(memo)["_store"] = store  # the async / single-flight miss paths store through it
    if memo._miss_hook is None:
        memo._miss_hook = miss


def install(
    memo: Any,
    func: Callable[..., Any],
    options: Options,
    is_async: bool,
    flight_table: Callable[[], dict[Any, Any]],
    forget_on_removal: Callable[[Any, dict[Any, Any]], None],
    kind: type[Freshness] | None = None,
) -> Freshness | None:
    """Switches memo to its fresh call path (memo._fresh_hook) with these options; `kind`: a
    subclass of Freshness (the Redis tier's, twincache._redis_function)."""
    if not options.records:
        install_jitter(memo, func, options)
        return None
    fresh = (kind or Freshness)(memo, func, options, memo._miss_hook, is_async, flight_table)
    memo._miss_hook = None
    stats = memo.stats
    vars(memo).update(
        _store=fresh.store_computed,
        stats=lambda: fresh.stats(stats()),
        _freshness=fresh,
    )
    forget_on_removal(memo, fresh.refreshing)
    memo._fresh_hook = fresh.hook
    return fresh
