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

from . import _disk, _options
from . import _redis_envelope as env
from ._backend import impl, warn
from ._redis import _MISS, CachedError, RedisCache

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
    }
    RedisCache(url, **options).close()  # checks every option now, at decoration
    errors = _error_types(cache_errors)
    error_ttl_ms = env.ttl_option("error_ttl", error_ttl)
    if error_ttl is not None and not errors:
        raise TypeError("error_ttl applies with cache_errors only")

    def decorating_function(func: Callable[..., Any]) -> Any:
        return memoize(func, url, options, key_fn, errors, error_ttl_ms)

    return decorating_function


def _error_types(value: object) -> tuple[type[BaseException], ...]:
    """cache_errors: None, an exception class, or a tuple of them (as `except` takes)."""
    if value is None:
        return ()
    items = value if isinstance(value, tuple) else (value,)
    for t in items:
        if not (isinstance(t, type) and issubclass(t, Exception)):
            raise TypeError(
                f"cache_errors must be an Exception subclass or a tuple of them (got {t!r:.60})"
            )
    return items


def memoize(
    func: Callable[..., Any],
    url: Any,
    options: dict[str, Any],
    key_fn: Callable[..., Any] | None,
    errors: tuple[type[BaseException], ...] = (),
    error_ttl_ms: int | None = None,
) -> Any:
    """Results keyed as the disk tier keys them (["twincache.fn/1", module, qualified name,
    source hash, [args], {kwargs}]), named under the function's scope in the namespace."""
    if not callable(func):
        raise TypeError(f"the decorated object must be callable (got {type(func).__name__})")
    module = str(getattr(func, "__module__", None) or "")
    qualname = str(getattr(func, "__qualname__", None) or getattr(func, "__name__", ""))
    scope = env.function_scope(["twincache.fn/1", module, qualname])
    cache = RedisCache(url, **options, _scope=scope)
    cache._error_types = errors
    if error_ttl_ms is None:
        error_ttl_ms = cache._ttl_ms
    identity = ["twincache.fn/1", module, qualname, _disk.source_hash(func)]
    counts = {"hits": 0, "misses": 0}
    l1 = cache._l1

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

    def l1_key_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """L1's key of a call: the arguments and their types (functools' typed key), so an L1
        hit encodes and hashes nothing. None when an argument is unhashable (or key= is
        given): then L1 is keyed by the content key's encoding."""
        if key_fn is not None:
            return None
        k = (args, tuple(map(type, args))) if not kwargs else (args, tuple(kwargs.items()),
             tuple(map(type, args)), tuple(map(type, kwargs.values())))  # fmt: skip
        try:
            hash(k)
        except TypeError:
            return None
        return k

    def refused(exc: Exception) -> None:
        warn(
            f"twincache: the result of {qualname}() cannot be stored in Redis ({exc}); "
            "it is returned uncached"
        )

    wrapper: Any
    if inspect.iscoroutinefunction(func):
        # Encoded key -> the task reading Redis and, on a miss, computing: concurrent awaits of
        # one key in one event loop share it (single flight in this process).
        flights: dict[bytes, asyncio.Task[Any]] = {}

        async def resolve(k: bytes, lk: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            value = await (cache._aget_encoded(k) if lk is None else cache._afetch(k, lk))
            if value is not _MISS:
                counts["hits"] += 1
                return value
            counts["misses"] += 1
            try:
                value = await func(*args, **kwargs)
            except errors as exc:
                try:
                    await cache._aset_encoded(k, CachedError(exc), error_ttl_ms, lk)
                except Exception as why:
                    refused(why)
                raise
            if flights.get(k) is not asyncio.current_task():
                return value  # invalidated while computing: the newer state wins, not stored
            try:
                await cache._aset_encoded(k, value, cache._ttl_ms, lk)
            except Exception as exc:  # any refusal of the codec: returned uncached
                refused(exc)
            return value

        def forget(k: bytes, task: asyncio.Task[Any]) -> None:
            if flights.get(k) is task:
                del flights[k]

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            lk = l1_key_of(args, kwargs)
            if lk is not None:
                value = l1.get(lk, _MISS)
                if value is not _MISS:
                    counts["hits"] += 1
                    return _unwrap(value)
            k = key_of(args, kwargs)
            loop = asyncio.get_running_loop()
            task = flights.get(k)
            if task is None or task.get_loop() is not loop:
                task = loop.create_task(resolve(k, lk, args, kwargs))
                flights[k] = task
                task.add_done_callback(functools.partial(forget, k))
            else:
                counts["hits"] += 1  # joins the read (or computation) in flight
            # Shielded: a cancelled caller leaves the computation to the others.
            return _unwrap(await asyncio.shield(task))

        wrapper = async_wrapper

        async def ainvalidate(*args: Any, **kwargs: Any) -> bool:
            k = key_of(args, kwargs)
            flights.pop(k, None)  # a computation in flight still ends, but is not joined
            return await cache._adelete_encoded(k, l1_key_of(args, kwargs))

        async def acache_clear() -> None:
            flights.clear()
            await cache.aclear()

        wrapper.ainvalidate = ainvalidate
        wrapper.acache_clear = acache_clear
    else:

        @functools.wraps(func)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            lk = l1_key_of(args, kwargs)
            if lk is not None:
                value = l1.get(lk, _MISS)
                if value is not _MISS:
                    counts["hits"] += 1
                    return _unwrap(value)
            k = key_of(args, kwargs)
            value = cache._get_encoded(k) if lk is None else cache._fetch(k, lk)
            if value is not _MISS:
                counts["hits"] += 1
                return _unwrap(value)
            counts["misses"] += 1
            try:
                value = func(*args, **kwargs)
            except errors as exc:
                try:
                    cache._set_encoded(k, CachedError(exc), error_ttl_ms, lk)
                except Exception as why:  # not storable (unpicklable args): raised uncached
                    refused(why)
                raise
            try:
                cache._set_encoded(k, value, cache._ttl_ms, lk)
            except Exception as exc:  # any refusal of the codec: returned uncached
                refused(exc)
            return value

        wrapper = sync_wrapper

    def stats() -> dict[str, Any]:
        out = cache.stats()
        out["hits"], out["misses"] = counts["hits"], counts["misses"]
        return out

    def invalidate(*args: Any, **kwargs: Any) -> bool:
        return cache._delete_encoded(key_of(args, kwargs), l1_key_of(args, kwargs))

    wrapper.stats = stats
    wrapper.invalidate = invalidate
    wrapper.cache_clear = cache.clear
    wrapper.redis_cache = cache
    return wrapper


def _unwrap(value: Any) -> Any:
    if type(value) is CachedError:
        raise value.error.with_traceback(None)
    return value


__all__ = ["memoize", "redis_decorator"]
