"""Single flight across processes for the Redis tier (docs/redis.md, "Single flight across
processes"): a cold key that many processes (Python or Node) miss at once is computed by one of
them, the leader, which holds a lease in Redis (`SET <entry name>:lock <token> NX PX <lease>`),
renews it while it computes (lock_extend.lua, compare-and-pexpire) and ends it once the value is
stored (lock_release.lua, compare-and-delete). The others re-read the entry with capped
exponential backoff plus jitter until the leader's value is there; when the lease ends without
a value (the leader died, overran its lease or failed) the first waiter whose SET NX succeeds
takes over. Redis unreachable (or the breaker open) = fail open: the caller computes locally.

Used by @cache(backend="redis", single_flight=True) (twincache._redis_function) and
RedisCache.get_or_set / aget_or_set; held(), the same lease as a plain mutex, by
@range_cache(backend="redis") (twincache._range_redis). Within a process the callers of one
key are already one (threads: twincache._api._thread_flight; asyncio: one task per key), so
each process sends one caller's commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import importlib.resources
import inspect
import os
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from . import _api
from . import _redis_envelope as env

if TYPE_CHECKING:
    from ._redis import RedisCache

DEFAULT_LEASE_S: Final = 10.0  # the lease (seconds); renewed every third of it while computing
MAX_LEASE_S: Final = 3600.0
BACKOFF_S: Final = (0.005, 0.25)  # a waiter's first re-read delay, and the cap of its doubling
LOCK_SUFFIX: Final = ":lock"


def lock_name(entry_name: str) -> str:
    """The lease of an entry: `<entry name>:lock` (under the namespace, and under a function's
    scope, so clear() and cache_clear() remove the leases with the entries)."""
    return entry_name + LOCK_SUFFIX


def lease_option(value: object) -> int:
    """`lease` in seconds, in (0, 3600] -> whole milliseconds for PX (rounded up)."""
    if value is None:
        value = DEFAULT_LEASE_S
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"lease must be a number of seconds in (0, {MAX_LEASE_S:g}] "
            f"(got {type(value).__name__})"
        )
    if not 0 < value <= MAX_LEASE_S:  # NaN fails too
        raise ValueError(
            f"lease must be a number of seconds in (0, {MAX_LEASE_S:g}] (got {value!r})"
        )
    return max(1, -(-int(value * 1_000_000) // 1000))


# --- the scripts ----------------------------------------------------------------------------------


class _Script:
    """One of redis/lua's scripts (installed as twincache/redis_lua), called by EVALSHA and sent
    again by EVAL when the server does not have it (restarted, SCRIPT FLUSH)."""

    def __init__(self, file: str) -> None:
        self.file = file
        self._source: str | None = None
        self._sha = ""

    def _load(self) -> str:
        if self._source is None:
            try:
                text = (importlib.resources.files("twincache") / "redis_lua" / self.file).read_text(
                    "utf-8"
                )
            except FileNotFoundError:  # running from the source tree
                text = (
                    Path(__file__).resolve().parents[2] / "redis" / "lua" / self.file
                ).read_text("utf-8")
            self._sha = hashlib.sha1(text.encode("utf-8")).hexdigest()
            self._source = text
        return self._source

    def run(self, client: Any, key: str, *args: Any) -> Any:
        source = self._load()
        from ._redis_clients import _redis_module

        try:
            return client.evalsha(self._sha, 1, key, *args)
        except _redis_module().exceptions.NoScriptError:
            return client.eval(source, 1, key, *args)

    async def arun(self, client: Any, key: str, *args: Any) -> Any:
        source = self._load()
        from ._redis_clients import _redis_module

        try:
            return await client.evalsha(self._sha, 1, key, *args)
        except _redis_module().exceptions.NoScriptError:
            return await client.eval(source, 1, key, *args)


RELEASE: Final = _Script("lock_release.lua")
EXTEND: Final = _Script("lock_extend.lua")


def _token() -> str:
    return os.urandom(16).hex()


def _delays() -> Any:
    """A waiter's sleeps: doubling from BACKOFF_S[0] up to BACKOFF_S[1], each times U(0.5, 1]."""
    delay = BACKOFF_S[0]
    while True:
        yield delay * (1.0 - 0.5 * random.random())
        delay = min(BACKOFF_S[1], delay * 2)


# --- sync -----------------------------------------------------------------------------------------


def _read(cache: RedisCache, encoded: bytes, l1_key: Any) -> Any:
    """The entry's value (put in L1 under l1_key), _MISS, or _FAILED when Redis did not answer."""
    from ._redis import _FAILED

    name = cache._name(encoded)
    started, epoch = time.monotonic(), cache._epoch
    reply = cache._call(lambda c: cache._read(c, [name]))
    cache._counts["bytes_sent"] += len(name)
    if reply is _FAILED:
        return _FAILED
    return cache._opened(name, encoded, reply[0][0], reply[1][0], started, l1_key, epoch)


class _Renewal:
    """While a sync leader computes, a thread of its own extends the lease every third of it
    (compare-and-pexpire) until the computation ends or the lease is found lost."""

    def __init__(self, cache: RedisCache, lock: str, token: str, lease_ms: int) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=self._run, args=(cache, lock, token, lease_ms), daemon=True,
            name="twincache-lease",
        )  # fmt: skip
        self.thread.start()

    def _run(self, cache: RedisCache, lock: str, token: str, lease_ms: int) -> None:
        from ._redis import _FAILED

        while not self.stop.wait(lease_ms / 3000):
            kept = cache._call(lambda c: EXTEND.run(c, lock, token, lease_ms))
            if kept is not _FAILED and not kept:
                return  # taken over (or cleared): nothing left to renew

    def close(self) -> None:
        self.stop.set()


def _release(cache: RedisCache, lock: str, token: str) -> None:
    cache._call(lambda c: RELEASE.run(c, lock, token))


def lead(
    cache: RedisCache, encoded: bytes, l1_key: Any, lease_ms: int, compute: Callable[[], Any]
) -> tuple[Any, bool]:
    """(value, computed) for an entry this process missed: the leader's value read from Redis
    (computed False), or compute()'s result (True) when this caller led (compute stores it
    before the lease is released), took over, or Redis could not be asked (fail open)."""
    from ._redis import _FAILED, _MISS

    lock = lock_name(cache._name(encoded))
    token = _token()
    give_up = time.monotonic() + _api.SINGLE_FLIGHT_WAIT_S
    delays = _delays()
    while True:
        got = cache._call(lambda c: c.set(lock, token, nx=True, px=lease_ms))
        if got is _FAILED:
            return compute(), True  # Redis down: fail open
        if got:
            try:
                value = _read(cache, encoded, l1_key)  # stored between our read and our lease?
                if value is not _MISS and value is not _FAILED:
                    return value, False
                renewal = _Renewal(cache, lock, token, lease_ms)
                try:
                    return compute(), True
                finally:
                    renewal.close()
            finally:
                _release(cache, lock, token)
        if time.monotonic() > give_up:  # a leader renewing for too long: compute on our own
            return compute(), True
        time.sleep(next(delays))
        value = _read(cache, encoded, l1_key)
        if value is _FAILED:
            return compute(), True
        if value is not _MISS:
            return value, False


# --- async ----------------------------------------------------------------------------------------


async def _aread(cache: RedisCache, encoded: bytes, l1_key: Any) -> Any:
    from ._redis import _FAILED

    name = cache._name(encoded)
    started, epoch = time.monotonic(), cache._epoch
    reply = await cache._acall(lambda c: cache._aread(c, [name]))
    cache._counts["bytes_sent"] += len(name)
    if reply is _FAILED:
        return _FAILED
    return cache._opened(name, encoded, reply[0][0], reply[1][0], started, l1_key, epoch)


async def _arenew(cache: RedisCache, lock: str, token: str, lease_ms: int) -> None:
    from ._redis import _FAILED

    while True:
        await asyncio.sleep(lease_ms / 3000)
        kept = await cache._acall(lambda c: EXTEND.arun(c, lock, token, lease_ms))
        if kept is not _FAILED and not kept:
            return


async def alead(
    cache: RedisCache,
    encoded: bytes,
    l1_key: Any,
    lease_ms: int,
    compute: Callable[[], Awaitable[Any]],
) -> tuple[Any, bool]:
    """lead()'s async twin (the lease renewed by a task of the event loop)."""
    from ._redis import _FAILED, _MISS

    lock = lock_name(cache._name(encoded))
    token = _token()
    give_up = time.monotonic() + _api.SINGLE_FLIGHT_WAIT_S
    delays = _delays()
    while True:
        got = await cache._acall(lambda c: c.set(lock, token, nx=True, px=lease_ms))
        if got is _FAILED:
            return await compute(), True
        if got:
            try:
                value = await _aread(cache, encoded, l1_key)
                if value is not _MISS and value is not _FAILED:
                    return value, False
                renewal = asyncio.ensure_future(_arenew(cache, lock, token, lease_ms))
                try:
                    return await compute(), True
                finally:
                    renewal.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await renewal
            finally:
                # Shielded: a cancelled leader still ends its lease (else waiters wait it out).
                await asyncio.shield(cache._acall(lambda c: RELEASE.arun(c, lock, token)))
        if time.monotonic() > give_up:
            return await compute(), True
        await asyncio.sleep(next(delays))
        value = await _aread(cache, encoded, l1_key)
        if value is _FAILED:
            return await compute(), True
        if value is not _MISS:
            return value, False


# --- a lease as a mutex (twincache._range_redis) -------------------------------------------------


@contextlib.contextmanager
def held(cache: RedisCache, encoded: bytes, lease_ms: int) -> Iterator[bool]:
    """The lease of an entry as a cross-process mutex: SET <entry name>:lock NX PX, retried with
    the waiters' backoff, renewed while held, released (compare-and-delete) on exit. Yields
    whether it is held: False when Redis could not be asked, or after SINGLE_FLIGHT_WAIT_S of
    waiting for a holder that keeps renewing (fail open, as lead(): the caller goes on alone).
    Used by @range_cache(backend="redis"), whose callers need "no one else is filling this
    entry's gaps" rather than lead()'s "the entry is there"."""
    from ._redis import _FAILED

    lock = lock_name(cache._name(encoded))
    token = _token()
    give_up = time.monotonic() + _api.SINGLE_FLIGHT_WAIT_S
    delays = _delays()
    while True:
        got = cache._call(lambda c: c.set(lock, token, nx=True, px=lease_ms))
        if got is _FAILED or (not got and time.monotonic() > give_up):
            yield False
            return
        if got:
            break
        time.sleep(next(delays))
    renewal = _Renewal(cache, lock, token, lease_ms)
    try:
        yield True
    finally:
        renewal.close()
        _release(cache, lock, token)


# --- RedisCache.get_or_set / aget_or_set ---------------------------------------------------------


def get_or_set(
    cache: RedisCache, key: Any, fn: Callable[[], Any], ttl: object, lease: object
) -> Any:
    """RedisCache.get_or_set: L1, then Redis, then fn() once across this process's threads
    and, through the lease, across processes; its result stored with `ttl`."""
    from ._redis import _MISS

    if not callable(fn):
        raise TypeError(f"fn must be callable (got {type(fn).__name__})")
    ttl_ms = cache._entry_ttl_ms(ttl)
    lease_ms = lease_option(lease)
    encoded = env.encode_key(key)
    value = cache._l1.get(encoded, _MISS)
    if value is not _MISS:
        return value
    flights = _flights(cache, "_sync_flights")

    def one(current: Callable[[], bool]) -> Any:
        value = cache._fetch(encoded, encoded)
        if value is not _MISS:
            return value

        def compute() -> Any:
            result = fn()
            if current():  # else given up on by a waiter of this process: not stored
                cache._set_encoded(encoded, result, ttl_ms)
            return result

        return lead(cache, encoded, encoded, lease_ms, compute)[0]

    reentry = "get_or_set() was called for the same key while computing it"
    return _api._thread_flight(flights, encoded, one, reentry)


async def aget_or_set(
    cache: RedisCache, key: Any, fn: Callable[[], Any], ttl: object, lease: object
) -> Any:
    """get_or_set's async twin: fn() may return a value or an awaitable; concurrent awaits of
    one key in one event loop share one task."""
    from ._redis import _MISS

    if not callable(fn):
        raise TypeError(f"fn must be callable (got {type(fn).__name__})")
    ttl_ms = cache._entry_ttl_ms(ttl)
    lease_ms = lease_option(lease)
    encoded = env.encode_key(key)
    value = cache._l1.get(encoded, _MISS)
    if value is not _MISS:
        return value
    loop = asyncio.get_running_loop()
    flights = _flights(cache, "_async_flights")
    task = flights.get(encoded)
    if task is None or task.get_loop() is not loop:

        async def one() -> Any:
            value = await cache._afetch(encoded, encoded)
            if value is not _MISS:
                return value

            async def compute() -> Any:
                result = fn()
                if inspect.isawaitable(result):
                    result = await result
                await cache._aset_encoded(encoded, result, ttl_ms)
                return result

            return (await alead(cache, encoded, encoded, lease_ms, compute))[0]

        task = loop.create_task(one())
        flights[encoded] = task
        task.add_done_callback(functools.partial(_forget, flights, encoded))
    return await asyncio.shield(task)


def _flights(cache: RedisCache, attribute: str) -> dict[Any, Any]:
    table: dict[Any, Any] | None = getattr(cache, attribute, None)
    if table is None:
        table = _api._flight_table()
        setattr(cache, attribute, table)
    return table


def _forget(flights: dict[Any, Any], key: Any, task: Any) -> None:
    if flights.get(key) is task:
        del flights[key]


__all__ = [
    "DEFAULT_LEASE_S",
    "aget_or_set",
    "alead",
    "get_or_set",
    "held",
    "lead",
    "lease_option",
]
