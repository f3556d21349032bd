"""@twincache.cache(backend="redis"): a decorated function's results in Redis, with its own
RedisCache (twincache._redis) as L1 + L2, named under the function's scope in the namespace
(docs/redis.md, "Entry names"), and opt-in caching of chosen exceptions (negative caching).
A decorated function always returns its result: from L1, from Redis, or computed."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from typing import Any

from . import _api, _disk, _fresh, _options, _redis_flight
from . import _redis_envelope as env
from ._api import Cache
from ._backend import impl, warn
from ._redis import _MISS, CachedError, RedisCache

_MISSING: Any = impl._MISSING

# --- @twincache.cache(backend="redis") ------------------------------------------------------------


def redis_decorator(
    *,
    url: Any = None,
    client: object = None,
    ttl: object = None,
    namespace: object = None,
    codec: object = "pickle",
    secret: object = None,
    timeout: object = 0.25,
    key: object = None,
    maxsize: object = 10_000,
    max_bytes: object = None,
    cache_errors: object = None,
    error_ttl: object = None,
    ttl_jitter: object = 0.0,
    coherent: object = None,
    cluster: object = False,
    tls: object = None,
    stale: object = None,
    early_refresh: object = None,
    on_refresh_error: object = None,
    single_flight: object = False,
    lease: object = None,
) -> Callable[[Callable[..., Any]], Any]:
    """Checks the options of @twincache.cache(backend="redis", ...) and returns the decorator.
    Every option is checked here, at decoration, by building a first RedisCache."""
    key_fn = _options.key_function("key", key)
    options: dict[str, Any] = {
        "client": client,
        "namespace": env.DEFAULT_NAMESPACE if namespace is None else namespace,
        "ttl": ttl,
        "codec": codec,
        "secret": secret,
        "timeout": timeout,
        "l1_maxsize": maxsize,
        "l1_max_bytes": max_bytes,
        "ttl_jitter": ttl_jitter,
        "cluster": cluster,
        "tls": tls,
    }
    coherent_flag = None if coherent is None else _options.flag("coherent", coherent)
    # Checks every option now, at decoration (no listener).
    RedisCache(url, **options, coherent=False).close()
    options["coherent"] = coherent_flag
    errors = _options.error_types(cache_errors)
    error_ttl_ms = env.ttl_option("error_ttl", error_ttl)
    if error_ttl is not None and not errors:
        raise TypeError("error_ttl applies with cache_errors only")
    # stale, early_refresh, on_refresh_error: the memory tier's checks and logic (twincache._fresh)
    # over Redis; jitter and cached errors are the Redis tier's own (above).
    freshness = _fresh.Options(
        ttl_ns=_options.ttl("ttl", ttl),
        stale=stale,
        ttl_jitter=None,
        early_refresh=early_refresh,
        cache_errors=None,
        error_ttl=None,
        on_refresh_error=on_refresh_error,
    )
    # single_flight=True: across processes too, through a lease (twincache._redis_flight).
    lease_ms: int | None = _redis_flight.lease_option(lease)
    if not _options.flag("single_flight", single_flight):
        if lease is not None:
            raise TypeError("lease applies with single_flight=True only")
        lease_ms = None

    def decorating_function(func: Callable[..., Any]) -> Any:
        return memoize(
            func,
            url,
            options,
            key_fn,
            errors,
            error_ttl_ms,
            freshness if freshness.records else None,
            lease_ms,
        )

    return decorating_function


class _RedisFreshness(_fresh.Freshness):
    """The memory tier's freshness logic (twincache._fresh: records in L1, the hook that serves
    a stale value and starts one refresh per key, the XFetch rule, failure reporting) for a
    redis-backed function: a refresh's value is written to Redis too, with the freshness fields
    (docs/redis.md, "Freshness"), and an L1 miss goes to the Redis miss path, which reads
    Redis first and passes the record it read to the hook."""

    cache: RedisCache
    key_of: Callable[[tuple[Any, ...], dict[str, Any]], bytes]
    refused: Callable[[Exception], None]
    stale_ms: int  # the stale window each write's PX adds, in whole ms (rounded up)

    def miss(self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        # A refresh in flight is not forgotten here: Redis may still hold the entry in its
        # stale window; the miss path forgets it when it computes (an L2 miss).
        return self.miss_hook(key, args, kwargs)  # type: ignore[misc]

    def put_refreshed(
        self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any], value: object, delta: int
    ) -> None:
        k = self.key_of(args, kwargs)
        try:
            self.cache._set_encoded(k, value, self.cache._ttl_ms, key, delta)
        except Exception as exc:  # a value the codec refuses: the stale one stays
            self.refused(exc)

    async def aput_refreshed(
        self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any], value: object, delta: int
    ) -> None:
        k = self.key_of(args, kwargs)
        try:
            await self.cache._aset_encoded(k, value, self.cache._ttl_ms, key, delta)
        except Exception as exc:
            self.refused(exc)


def _no_forgetting(memo: Any, flights: dict[Any, Any]) -> None:
    """invalidate() and cache_clear() of a redis-backed function forget refreshes themselves."""


class _FunctionL1:
    """A decorated function's L1 as RedisCache sees it (the part of Cache's surface it uses):
    the function's Memo, whose call serves L1 hits natively (python/src/memo.cpp) with a TTL per
    entry (never longer than Redis keeps it), plus a small Cache of cached exceptions, which
    the Memo would return instead of raising (a miss of the Memo looks there first)."""

    __slots__ = ("errors", "memo", "records")

    def __init__(self, memo: Any, maxsize: int | None, records: bool) -> None:
        self.memo = memo
        self.errors: Cache[Any, CachedError] = Cache(maxsize=maxsize)
        self.records = records  # with freshness options, the Memo holds records (their item 0)

    def get(self, key: Any, default: Any = None) -> Any:
        value = self.memo._peek(key)
        if value is _MISSING:
            return self.errors.get(key, default)
        return value[0] if self.records else value

    def _set(self, key: Any, value: Any, ttl_ns: int | None) -> bool:
        if type(value) is CachedError:
            self.memo._discard(key)
            return self.errors._set(key, value, ttl_ns)
        if self.errors:
            self.errors.pop(key, None)
        stored: bool = self.memo._put(key, value, ttl_ns)
        return stored

    def __contains__(self, key: Any) -> bool:
        return self.memo._peek(key) is not _MISSING or key in self.errors

    def pop(self, key: Any, default: Any = None) -> Any:
        """Drops key; `default` when it was not live, else something else (not its value)."""
        live = self.memo._discard(key)
        live = self.errors.pop(key, _MISS) is not _MISS or live
        return True if live else default

    def clear(self) -> None:
        self.memo._clear()  # counters kept: an invalidation flush is not a cache_clear()
        self.errors.clear()

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = type(self.memo).stats(self.memo)  # the Memo's own counters
        out["items"] += len(self.errors)
        return out


def memoize(
    func: Callable[..., Any],
    url: Any,
    options: dict[str, Any],
    key_fn: Callable[..., Any] | None,
    errors: tuple[type[BaseException], ...] = (),
    error_ttl_ms: int | None = None,
    freshness: _fresh.Options | None = None,
    lease_ms: int | None = None,
) -> Any:
    """Results keyed as the disk tier keys them (["twincache.fn/1", module, qualified name,
    source hash, [args], {kwargs}]), named under the function's scope in the namespace.

    The returned object is a Memo (as the memory decorator's): an L1 hit never leaves native
    code. L1 keys are the memory decorator's typed keys (1, 1.0 and True are distinct calls, as
    their content keys are); a Memo miss calls the hook below, which reads Redis and, on a miss
    there, computes; concurrent misses of one key share one read and one computation, across
    threads (sync functions) or within an event loop (async ones); with `lease_ms` (single_flight
    =True) across processes too, through a lease in Redis (twincache._redis_flight)."""
    if not callable(func):
        raise TypeError(f"the decorated object must be callable (got {type(func).__name__})")
    module = str(getattr(func, "__module__", None) or "")
    qualname = str(getattr(func, "__qualname__", None) or getattr(func, "__name__", ""))
    scope = env.function_scope(["twincache.fn/1", module, qualname])
    cache = RedisCache(url, **options, _scope=scope)
    cache._error_types = errors
    if error_ttl_ms is None:
        error_ttl_ms = cache._ttl_ms
    limits = _options.limits(options["l1_maxsize"], None, options["l1_max_bytes"], None)
    parameters = {"maxsize": options["l1_maxsize"], "ttl": options["ttl"], "backend": "redis"}
    if freshness is not None:
        parameters.update(freshness.parameters())
    memo = _api._wrap(
        func,
        parameters=parameters,
        max_items=limits.max_items,
        max_bytes=limits.max_bytes,
        ttl_ns=None,  # each entry gets its own: what Redis has left of it
        policy=limits.policy,
        typed=True,
        key_fn=key_fn,
        content_keys=True,
        single_flight=False,
        weak_self=False,
    )
    l1 = _FunctionL1(memo, limits.max_items, freshness is not None)
    cache._l1 = l1  # type: ignore[assignment]
    identity = ["twincache.fn/1", module, qualname, _disk.source_hash(func)]
    counts = {"hits": 0, "misses": 0}  # beyond L1 (which the Memo counts): L2 hits, computations
    fresh: _RedisFreshness | None = None  # with stale / early_refresh (installed below)
    clock_now = impl.clock_now

    def key_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
        if key_fn is not None:
            parts: object = [*identity, [_disk._key_part(key_fn(*args, **kwargs))], {}]
        else:
            parts = [
                *identity,
                [_disk._key_part(a) for a in args],
                {k: _disk._key_part(v) for k, v in kwargs.items()},
            ]
        try:
            encoded: bytes = impl.encode_key(parts)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"the arguments of {qualname}() cannot key a Redis cache entry: {exc}"
            ) from None
        return encoded

    def outdated(
        lk: Any, args: tuple[Any, ...], kwargs: dict[str, Any], noted: tuple[Any, int], flight: Any
    ) -> bool:
        """Whether a coherent cache got an invalidation of this call's entry since the flight
        in progress began (its read may hold an older value than the write reported): then a
        caller does not join it (as Node's memoize; docs/redis.md, "Coherence")."""
        if cache._listener is None or noted[0] is not flight or noted[1] == cache._epoch:
            return False
        return cache._stale(cache._name(key_of(args, kwargs)), noted[1])

    def refused(exc: Exception) -> None:
        warn(
            f"twincache: the result of {qualname}() cannot be stored in Redis ({exc}); "
            "it is returned uncached"
        )

    def cached_error(lk: Any) -> Any:
        """A cached exception in L1 (raised again without a round trip), else _MISS."""
        if not errors:
            return _MISS
        value = l1.errors.get(lk, _MISS)
        if value is not _MISS:
            counts["hits"] += 1
        return value

    if inspect.iscoroutinefunction(func):
        # L1 key -> the task reading Redis and, on a miss, computing: concurrent awaits of
        # one key in one event loop share it (single flight in this process).
        flights: dict[Any, asyncio.Task[Any]] = _api._flight_table()
        epochs: dict[Any, tuple[Any, int]] = _api._flight_table()  # lk -> (its task, epoch)

        async def resolve(lk: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            k = key_of(args, kwargs)
            value = await cache._afetch(k, lk)
            if value is not _MISS:
                counts["hits"] += 1
                if fresh is not None and type(value) is not CachedError:  # a record
                    return await fresh.hook(lk, args, kwargs, value, clock_now())
                return value
            me = asyncio.current_task()

            async def compute() -> Any:
                counts["misses"] += 1
                if fresh is not None:  # a refresh in flight (hanging, say): its value is older
                    fresh.refreshing.pop(lk, None)
                start = clock_now()
                try:
                    value = await func(*args, **kwargs)
                except errors as exc:
                    try:
                        await cache._aset_encoded(k, CachedError(exc), error_ttl_ms, lk)
                    except Exception as why:
                        refused(why)
                    raise
                if flights.get(lk) is not me:
                    return value  # invalidated while computing: the newer state wins, not stored
                try:
                    await cache._aset_encoded(k, value, cache._ttl_ms, lk, clock_now() - start)
                except Exception as exc:  # any refusal of the codec: returned uncached
                    refused(exc)
                return value

            if lease_ms is None:
                return await compute()
            value, computed = await _redis_flight.alead(cache, k, lk, lease_ms, compute)
            if not computed:
                counts["hits"] += 1  # the leader's value (another process's, through Redis)
                if fresh is not None and type(value) is not CachedError:  # a record
                    return await fresh.hook(lk, args, kwargs, value, clock_now())
            return value

        def forget(lk: Any, task: asyncio.Task[Any]) -> None:
            if flights.get(lk) is task:
                del flights[lk]
            if epochs.get(lk, (None,))[0] is task:
                del epochs[lk]

        async def amiss(lk: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            value = cached_error(lk)
            if value is not _MISS:
                return _unwrap(value)
            loop = asyncio.get_running_loop()
            task = flights.get(lk)
            if (
                task is None
                or task.get_loop() is not loop
                or outdated(lk, args, kwargs, epochs.get(lk, (None, 0)), task)
            ):
                task = loop.create_task(resolve(lk, args, kwargs))
                flights[lk] = task
                epochs[lk] = (task, cache._epoch)
                task.add_done_callback(functools.partial(forget, lk))
            else:
                counts["hits"] += 1  # joins the read (or computation) in flight
            # Shielded: a cancelled caller leaves the computation to the others.
            return _unwrap(await asyncio.shield(task))

        memo._miss_hook = amiss

        async def ainvalidate(*args: Any, **kwargs: Any) -> bool:
            lk = memo._key(*args, **kwargs)
            flights.pop(lk, None)  # a computation in flight still ends, but is not joined
            if fresh is not None:
                fresh.refreshing.pop(lk, None)  # nor is a refresh's value stored
            return await cache._adelete_encoded(key_of(args, kwargs), lk)

        async def acache_clear() -> None:
            flights.clear()
            if fresh is not None:
                fresh.refreshing.clear()
            await cache.aclear()

        vars(memo).update(ainvalidate=ainvalidate, acache_clear=acache_clear)
    else:
        # L1 key -> the thread reading Redis and, on a miss, computing (twincache._api's
        # single flight: waiters wait at most _api.SINGLE_FLIGHT_WAIT_S; emptied in a fork).
        flights = _api._flight_table()
        epochs = _api._flight_table()  # lk -> (its flight, the epoch when its leader started)
        reentry = (
            f"{qualname}() was called with the same arguments while computing them "
            "(a redis-backed function cannot wait for its own thread)"
        )

        def lead(lk: Any, args: tuple[Any, ...], kwargs: dict[str, Any], current: Any) -> Any:
            k = key_of(args, kwargs)
            value = cache._fetch(k, lk)
            if value is not _MISS:
                counts["hits"] += 1
                if fresh is not None and type(value) is not CachedError:  # a record
                    return fresh.hook(lk, args, kwargs, value, clock_now())
                return _unwrap(value)

            def compute() -> Any:
                counts["misses"] += 1
                if fresh is not None:  # a refresh in flight (hanging, say): its value is older
                    fresh.refreshing.pop(lk, None)
                start = clock_now()
                try:
                    value = func(*args, **kwargs)
                except errors as exc:
                    try:
                        if current():
                            cache._set_encoded(k, CachedError(exc), error_ttl_ms, lk)
                    except Exception as why:  # not storable (unpicklable args): raised uncached
                        refused(why)
                    raise
                if not current():
                    return value  # invalidated while computing: the newer state wins, not stored
                try:
                    cache._set_encoded(k, value, cache._ttl_ms, lk, clock_now() - start)
                except Exception as exc:  # any refusal of the codec: returned uncached
                    refused(exc)
                return value

            if lease_ms is None:
                return compute()
            value, computed = _redis_flight.lead(cache, k, lk, lease_ms, compute)
            if not computed:
                counts["hits"] += 1  # the leader's value (another process's, through Redis)
                if fresh is not None and type(value) is not CachedError:  # a record
                    return fresh.hook(lk, args, kwargs, value, clock_now())
            return _unwrap(value)

        def miss(lk: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            value = cached_error(lk)
            if value is not _MISS:
                return _unwrap(value)
            led = False

            def compute(current: Callable[[], bool]) -> Any:
                nonlocal led
                led = True
                flight = flights.get(lk)
                epochs[lk] = (flight, cache._epoch)  # before its read is sent
                try:
                    return lead(lk, args, kwargs, current)
                finally:
                    if epochs.get(lk, (None,))[0] is flight:
                        epochs.pop(lk, None)

            flight = flights.get(lk)
            noted = epochs.get(lk, (None, 0))
            # An outdated flight's leader returns its value, unstored (as after invalidate()).
            if (
                flight is not None
                and outdated(lk, args, kwargs, noted, flight)
                and flights.get(lk) is flight
            ):
                flights.pop(lk, None)
            value = _api._thread_flight(flights, lk, compute, reentry)
            if not led:
                counts["hits"] += 1  # the leader's result (its L2 read or computation)
            return value

        memo._miss_hook = miss

    if freshness is not None:  # the hook of L1 records past their check time, and of misses
        installed = _fresh.install(
            memo,
            func,
            freshness,
            inspect.iscoroutinefunction(func),
            _api._flight_table,
            _no_forgetting,
            _RedisFreshness,
        )
        assert isinstance(installed, _RedisFreshness)
        fresh = installed
        fresh.cache, fresh.key_of, fresh.refused = cache, key_of, refused
        fresh.stale_ms = -(-freshness.stale_ns // 1_000_000)
        cache._fresh = fresh

    def stats() -> dict[str, Any]:
        out = cache.stats()
        out["hits"] = out["l1_hits"] + counts["hits"]
        out["misses"] = counts["misses"]
        if fresh is not None:
            fresh.stats(out)
            del out["error_hits"]  # cached errors are counted in hits (the Redis tier's own)
        return out

    def invalidate(*args: Any, **kwargs: Any) -> bool:
        lk = memo._key(*args, **kwargs)
        flights.pop(lk, None)  # a computation in flight still ends, but is not stored
        if fresh is not None:
            fresh.refreshing.pop(lk, None)  # nor is a refresh's value
        return cache._delete_encoded(key_of(args, kwargs), lk)

    def cache_clear() -> None:
        flights.clear()
        if fresh is not None:
            fresh.refreshing.clear()
        cache.clear()
        type(memo).cache_clear(memo)  # the Memo's own: resets its counters, as functools does
        counts.update(hits=0, misses=0)

    vars(memo).update(stats=stats, invalidate=invalidate, cache_clear=cache_clear)
    memo.redis_cache = cache
    return memo


def _unwrap(value: Any) -> Any:
    if type(value) is CachedError:
        raise value.error.with_traceback(None)
    return value


__all__ = ["memoize", "redis_decorator"]
