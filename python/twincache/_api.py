"""The public API over either implementation (native or pure): the decorators, the async and
single-flight miss paths, content keys for unhashable arguments, and the Cache mapping.

Hits never come through this module: the object a decorator returns is the implementation's Memo,
whose call path looks the key up itself (in C++ for the native module). Only misses that need
coordination (async functions, single_flight=True) call back into the functions defined here.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import sys
import threading
import types
import weakref
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, Final, Literal, overload

from . import _fork, _fresh, _options
from ._backend import impl, native
from ._types import (
    Backend,
    CacheDecorator,
    CachedFunction,
    Codec,
    DiskCacheDecorator,
    EvictionReason,
    K,
    P,
    Policy,
    R,
    T,
    V,
)
from ._weigh import weigh

_NOT_GIVEN: Final[Any] = object()
_MISS: Final[Any] = object()
_CONTENT_MARK: Final = ("twincache.content",)

# Types keyed by content (the canonical encoding of docs/keys.md: the core's key_builder in native
# mode, twincache._keys in pure mode, byte-identical) when hashing them fails. Everything else
# that is unhashable raises TypeError naming the argument.
CONTENT_KEYED_TYPES: Final = (
    "list, dict, set, bytearray, numpy arrays, pandas Series, DataFrame and Index, and any "
    "nesting of these with None, bool, int, float, str, bytes and tuple"
)


# --- content keys ------------------------------------------------------------------------------


def _argument_name(func: Callable[..., Any], index: int | str) -> str:
    if isinstance(index, str):
        return index
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return f"#{index}"
    if index < len(params) and params[index].kind in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    ):
        return params[index].name
    return f"#{index}"


def _content_key_for(
    func: Callable[..., Any], typed: bool
) -> Callable[[tuple[Any, ...], dict[str, Any]], Any]:
    """A function that keys a call whose arguments do not all hash: hashable arguments stay as
    they are, the others are replaced by their canonical encoding (bytes). With typed=True the
    arguments' types are part of the key, as for hashable calls."""

    def part(value: object, index: int | str) -> object:
        try:
            hash(value)
            return value
        except TypeError:
            try:
                return (_CONTENT_MARK, impl.encode_key(value))
            except TypeError as exc:
                name = _argument_name(func, index)
                raise TypeError(
                    f"argument '{name}' of {getattr(func, '__qualname__', func)!s}() cannot be "
                    f"used as a cache key: {type(value).__name__} is unhashable and cannot be "
                    f"keyed by content ({exc})"
                ) from None

    def content_key(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        parts: list[object] = [_CONTENT_MARK]
        parts.extend(part(a, i) for i, a in enumerate(args))
        for name, value in kwargs.items():
            parts.append(name)
            parts.append(part(value, name))
        if typed:
            parts.extend(type(a) for a in args)
            parts.extend(type(v) for v in kwargs.values())
        return tuple(parts)

    return content_key


# --- miss paths that coordinate callers ---------------------------------------------------------

# How long a single_flight=True caller waits for another thread's computation of the same key
# before it computes on its own (docs/python.md, "Waits and their limits"). Read at each wait.
SINGLE_FLIGHT_WAIT_S = 60.0


class _Flights(dict[Any, Any]):
    """An in-flight table. In a forked child it is emptied (twincache._fork): the computations
    it names ran on the parent's threads or event loops, which the child does not have."""


def _flight_table() -> _Flights:
    table = _Flights()
    _fork.track(table, child=_Flights.clear)
    return table


def _forget_flights_on_removal(memo: Any, flights: dict[Any, Any]) -> None:
    """Wraps memo.invalidate and memo.cache_clear so that they also forget the in-flight
    computation of the key (of every key): its late result is then not stored, as Node's fetch()
    after delete() or clear() (the newest write wins), and the next call starts anew."""
    invalidate, cache_clear = memo.invalidate, memo.cache_clear

    @functools.wraps(invalidate)
    def invalidate_and_forget(*args: Any, **kwargs: Any) -> bool:
        live: bool = invalidate(*args, **kwargs)
        flights.pop(memo._key(*args, **kwargs), None)
        return live

    @functools.wraps(cache_clear)
    def cache_clear_and_forget() -> None:
        cache_clear()
        flights.clear()

    vars(memo).update(invalidate=invalidate_and_forget, cache_clear=cache_clear_and_forget)


class _AsyncFlight:
    """One computation of one key in one event loop, and the callers awaiting it."""

    __slots__ = ("task", "waiters")

    def __init__(self) -> None:
        self.task: asyncio.Task[Any] | None = None
        self.waiters = 0


# Task -> the computation (a flight's task) it is awaiting. A chain of awaits that leads back to
# the awaiting task would wait forever: f(1) computing awaits g(1), whose computation awaits f(1).
_awaiting: dict[asyncio.Task[Any], asyncio.Task[Any]] = _flight_table()


def _waits_for(target: asyncio.Task[Any], task: asyncio.Task[Any]) -> bool:
    """Whether `target` is, or is awaiting (through other computations), `task`."""
    current: asyncio.Task[Any] | None = target
    while current is not None:
        if current is task:
            return True
        current = _awaiting.get(current)
    return False


def _async_miss_hook(memo: Any, func: Callable[..., Any]) -> Callable[..., Any]:
    """Concurrent awaits of one key run the function once. The first miss starts the coroutine
    as a task of its own (the computation); every caller, the first one included, awaits it
    through asyncio.shield, so cancelling a caller cancels only that caller and the computation
    goes on for the others. It is cancelled when its last caller is (nobody wants the result
    any more); a later call starts a new one. Its exception reaches every caller and is not
    cached; its result is stored before any caller resumes."""
    flights: dict[Any, _AsyncFlight] = _flight_table()
    name = getattr(func, "__qualname__", repr(func))
    _forget_flights_on_removal(memo, flights)

    def finish(key: Any, flight: _AsyncFlight) -> None:
        # Event loops in other threads share `flights`: another thread may remove the key
        # between these two steps (then there is nothing left to remove).
        if flights.get(key) is flight:
            flights.pop(key, None)

    async def compute(
        key: Any, flight: _AsyncFlight, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        try:
            value = await func(*args, **kwargs)
            if flights.get(key) is flight:  # else invalidate() or cache_clear() forgot it
                memo._store(key, value)
            return value
        finally:  # a caller arriving from now on starts anew (or hits the stored value)
            finish(key, flight)

    async def miss(key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        loop = asyncio.get_running_loop()
        me = asyncio.current_task()
        flight = flights.get(key)
        task = flight.task if flight is not None else None
        if task is None or task.get_loop() is not loop:  # none, or another loop's: run our own
            flight = _AsyncFlight()
            task = flight.task = loop.create_task(compute(key, flight, args, kwargs))
            flights[key] = flight
        elif me is not None and _waits_for(task, me):
            raise RuntimeError(
                f"{name}() awaited itself with the same arguments while computing them "
                "(it would wait for its own result forever)"
            )
        assert flight is not None
        flight.waiters += 1
        if me is not None:
            _awaiting[me] = task
        try:
            return await asyncio.shield(task)
        finally:
            if me is not None:
                _awaiting.pop(me, None)
            flight.waiters -= 1
            if flight.waiters == 0 and not task.done():  # the last caller left: stop computing
                finish(key, flight)
                task.cancel()

    return miss


class _Flight:
    __slots__ = ("done", "outcome", "owner")

    def __init__(self, owner: int) -> None:
        self.owner = owner
        self.done = threading.Event()
        self.outcome: tuple[bool, Any] | None = None


def _single_flight_hook(memo: Any, func: Callable[..., Any]) -> Callable[..., Any]:
    """Concurrent misses of one key run the function once; the others wait for its result or
    its exception, at most SINGLE_FLIGHT_WAIT_S: then the computation is given up on (its late
    result is not stored) and the waiter computes on its own. A call into the same key from the
    thread computing it raises RuntimeError instead of waiting for itself. invalidate() and
    cache_clear() forget the computations in flight: their late results are not stored."""
    flights: dict[Any, _Flight] = _flight_table()
    name = getattr(func, "__qualname__", repr(func))
    _forget_flights_on_removal(memo, flights)

    reentry = (
        f"{name}() was called with the same arguments while computing them "
        "(single_flight=True cannot wait for its own thread)"
    )

    def miss(key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        def compute(current: Callable[[], bool]) -> Any:
            value = func(*args, **kwargs)
            if current():  # else invalidated, cleared or given up on
                memo._store(key, value)
            return value

        return _thread_flight(flights, key, compute, reentry)

    return miss


def _is_flight(flights: dict[Any, _Flight], key: Any, flight: _Flight) -> bool:
    return flights.get(key) is flight


def _thread_flight(
    flights: dict[Any, _Flight],
    key: Any,
    compute: Callable[[Callable[[], bool]], Any],
    reentry: str,
) -> Any:
    """One key's computation shared by threads: the first caller (the leader) runs
    compute(current), where current() says whether its flight is still the key's (not forgotten
    by an invalidation, a clear or a waiter that gave up): only then should it store its result.
    The others wait for its outcome (value or exception), at most SINGLE_FLIGHT_WAIT_S: then the
    computation is given up on and the waiter leads anew. A call into the same key from the
    leader's thread raises RuntimeError(reentry). `flights` comes from _flight_table() (emptied
    in a forked child). The Redis tier's sync functions use it too (twincache._redis_function)."""
    me = threading.get_ident()
    while True:
        mine = _Flight(me)
        flight = flights.setdefault(key, mine)
        if flight is mine:
            try:
                value = compute(functools.partial(_is_flight, flights, key, mine))
            except BaseException as exc:
                mine.outcome = (False, exc)
                raise
            else:
                mine.outcome = (True, value)
                return value
            finally:
                if flights.get(key) is mine:
                    flights.pop(key, None)  # another thread may have removed it meanwhile
                mine.done.set()
        if flight.owner == me:
            raise RuntimeError(reentry)
        if not flight.done.wait(SINGLE_FLIGHT_WAIT_S):
            if flights.get(key) is flight:  # give the stuck computation up: run anew
                flights.pop(key, None)
            continue
        if flight.outcome is None:  # pragma: no cover - the leader always sets an outcome
            continue
        ok, payload = flight.outcome
        if ok:
            return payload
        raise payload


def _instance_watcher(memo: Any) -> Callable[[tuple[Any, ...]], None]:
    """For the configured form, whose keys hold a method's instance weakly: when the instance
    is collected, its entries are dropped (so they do not linger until evicted)."""
    # id(instance) -> (weak reference with a callback, keys whose first element refers to it)
    watched: dict[int, tuple[weakref.ref[Any], list[Any]]] = {}
    # Keys of collected instances that forget() could not drop at once: the next watch() does.
    dead: list[Any] = []
    # The pure table's lock may be held by the thread the collector interrupted (its lock is
    # not reentrant): forget() only drops entries when it is free. The native table has no lock
    # of its own and is re-entrant (python/src/table.hpp).
    try_discard = getattr(memo, "_try_discard", None)

    def watch(key: tuple[Any, ...]) -> None:
        while dead:
            memo._discard(dead.pop())
        instance = key[0]()
        if instance is None:
            return
        ident = id(instance)
        entry = watched.get(ident)
        if entry is None or entry[0]() is not instance:
            keys: list[Any] = []

            def forget(_ref: object, keys: list[Any] = keys, ident: int = ident) -> None:
                # The collector runs this in any thread, at any allocation: maybe inside the
                # table's lock (pure mode), where waiting for it would never end.
                watched.pop(ident, None)
                for i, k in enumerate(keys):
                    if try_discard is None:
                        memo._discard(k)
                    elif not try_discard(k):
                        dead.extend(keys[i:])
                        break

            entry = (weakref.ref(instance, forget), keys)
            watched[ident] = entry
        keys_of_instance = entry[1]
        keys_of_instance.append(key)
        if len(keys_of_instance) > 2 * memo.stats()["items"] + 16:  # forget evicted keys
            keys_of_instance[:] = [k for k in keys_of_instance if memo._peek(k) is not _MISS_VALUE]

    return watch


# --- decorators ---------------------------------------------------------------------------------


def _wrap(
    func: Callable[..., Any],
    *,
    parameters: dict[str, Any],
    max_items: int | None,
    max_bytes: int | None,
    ttl_ns: int | None,
    policy: str,
    typed: bool,
    key_fn: Callable[..., Any] | None,
    content_keys: bool,
    single_flight: bool,
    weak_self: bool,
    eviction: tuple[Any, Any] = (None, None),
    freshness: _fresh.Options | None = None,
) -> Any:
    if not callable(func):
        raise TypeError(f"the decorated object must be callable (got {type(func).__name__})")
    is_async = inspect.iscoroutinefunction(func)
    memo = impl.Memo(
        func,
        max_items=max_items,
        max_bytes=max_bytes,
        ttl_ns=ttl_ns,
        policy=policy,
        typed=typed,
        weigh=weigh if max_bytes is not None else None,
        key_fn=key_fn,
        content_key=_content_key_for(func, typed) if content_keys else None,
        miss_hook=None,
        is_async=is_async,
        weak_self=weak_self,
        parameters=parameters,
    )
    if eviction != (None, None):  # on_evict=, getsizeof= (docs/python.md, "Eviction callbacks")
        memo._set_eviction(*eviction)
    if weak_self:
        memo._watch_hook = _instance_watcher(memo)
    if is_async:
        memo._miss_hook = _async_miss_hook(memo, func)
    elif single_flight:
        memo._miss_hook = _single_flight_hook(memo, func)
    if freshness is not None and freshness.active:  # else the call path stays as it is
        _fresh.install(memo, func, freshness, is_async, _flight_table, _forget_flights_on_removal)
    functools.update_wrapper(memo, func)
    if is_async:
        marker = getattr(inspect, "markcoroutinefunction", None)
        if marker is not None:  # Python 3.12+
            marker(memo)
        else:
            # Python 3.10/3.11: asyncio.iscoroutinefunction looks for this marker.
            setattr(memo, "_is_coroutine", getattr(asyncio.coroutines, "_is_coroutine", None))  # noqa: B010
    return memo


def _dropin(func: Callable[..., Any], maxsize: int | None, typed: bool) -> Any:
    return _wrap(
        func,
        parameters={"maxsize": maxsize, "typed": typed},
        max_items=maxsize,
        max_bytes=None,
        ttl_ns=None,
        policy="lru",
        typed=bool(typed),
        key_fn=None,
        content_keys=False,
        single_flight=False,
        weak_self=False,
    )


@overload
def lru_cache(maxsize: Callable[P, R], typed: bool = False) -> CachedFunction[P, R]: ...
@overload
def lru_cache(maxsize: int | None = 128, typed: bool = False) -> CacheDecorator: ...
def lru_cache(maxsize: Any = 128, typed: bool = False) -> Any:
    """Drop-in for functools.lru_cache: same signature, same key rules, exact LRU."""
    if isinstance(maxsize, int):
        maxsize = max(maxsize, 0)
    elif callable(maxsize) and isinstance(typed, bool):
        return _dropin(maxsize, 128, typed)
    elif maxsize is not None:
        raise TypeError("Expected first argument to be an integer, a callable, or None")

    def decorating_function(func: Callable[P, R]) -> CachedFunction[P, R]:
        if maxsize is not None and maxsize > sys.maxsize:
            # As functools, whose wrapper keeps maxsize in a C Py_ssize_t, in both modes.
            raise OverflowError(
                f"cannot fit '{type(maxsize).__name__}' into an index-sized integer"
            )
        result: CachedFunction[P, R] = _dropin(func, maxsize, typed)
        return result

    return decorating_function


@overload
def cache(user_function: Callable[P, R], /) -> CachedFunction[P, R]: ...
@overload
def cache(
    *,
    maxsize: int | None = None,
    ttl: float | None = None,
    max_bytes: int | None = None,
    typed: bool = False,
    key: Callable[..., Hashable] | None = None,
    policy: Policy | None = None,
    single_flight: bool = False,
    backend: Literal["memory"] | None = None,
    on_evict: Callable[[Any, Any, EvictionReason], object] | None = None,
    getsizeof: Callable[[Any], int] | None = None,
    stale: float | None = None,
    ttl_jitter: float | None = None,
    early_refresh: float | None = None,
    cache_errors: type[Exception] | tuple[type[Exception], ...] | None = None,
    error_ttl: float | None = None,
    on_refresh_error: Callable[[Exception], object] | None = None,
) -> CacheDecorator: ...
@overload
def cache(
    *,
    backend: Literal["disk"],
    path: str | os.PathLike[str] | None = None,
    max_bytes: int | None = None,
    ttl: float | None = None,
    key: Callable[..., object] | None = None,
    codec: Codec = "pickle",
    mmap: bool = False,
    tags: Callable[..., Iterable[str]] | None = None,
    meta: Callable[..., Mapping[str, Any]] | None = None,
    stale: float | None = None,
    ttl_jitter: float | None = None,
    early_refresh: float | None = None,
    cache_errors: type[Exception] | tuple[type[Exception], ...] | None = None,
    error_ttl: float | None = None,
    on_refresh_error: Callable[[Exception], object] | None = None,
) -> DiskCacheDecorator: ...
@overload
def cache(  # the Redis tier (docs/redis.md): the function keeps its signature
    *,
    backend: Literal["redis"],
    url: str | None = None,
    client: Any = None,
    ttl: float | None = None,
    namespace: str | None = None,
    codec: Codec = "pickle",
    secret: str | bytes | None = None,
    timeout: float = 0.25,
    key: Callable[..., Hashable] | None = None,
    maxsize: int | None = None,
    max_bytes: int | None = None,
    cache_errors: type[Exception] | tuple[type[Exception], ...] | None = None,
    error_ttl: float | None = None,
    ttl_jitter: float | None = None,
    coherent: bool | None = None,
    cluster: bool = False,
    tls: Mapping[str, Any] | None = None,
    stale: float | None = None,
    early_refresh: float | None = None,
    on_refresh_error: Callable[[Exception], object] | None = None,
    single_flight: bool = False,
    lease: float | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...
@overload
def cache(  # a backend known at run time only: the options both backends take
    *,
    backend: Backend | None,
    ttl: float | None = None,
    max_bytes: int | None = None,
    key: Callable[..., Hashable] | None = None,
) -> CacheDecorator | DiskCacheDecorator: ...
def cache(
    user_function: Any = None,
    /,
    *,
    maxsize: Any = None,
    ttl: Any = None,
    max_bytes: Any = None,
    typed: Any = False,
    key: Any = None,
    policy: Any = None,
    single_flight: Any = False,
    backend: Any = None,
    path: Any = None,
    codec: Any = _NOT_GIVEN,
    url: Any = None,
    client: Any = None,
    namespace: Any = None,
    secret: Any = None,
    timeout: Any = _NOT_GIVEN,
    cache_errors: Any = None,
    error_ttl: Any = None,
    ttl_jitter: Any = None,
    coherent: Any = None,
    cluster: Any = None,
    tls: Any = None,
    on_evict: Any = None,
    getsizeof: Any = None,
    stale: Any = None,
    early_refresh: Any = None,
    on_refresh_error: Any = None,
    lease: Any = None,
    **disk_options: Any,  # backend="disk" only: mmap, tags, meta (docs/persistence.md)
) -> Any:
    """@cache is functools.cache (unbounded, exact semantics). @cache(...) is the configured
    form: a size, TTL and byte budget, content keys for unhashable arguments, a custom key,
    single flight; methods do not keep their instances alive. @cache(backend="disk", path=...,
    ttl=..., max_bytes=..., key=..., codec=...) keeps results in a cache directory instead, shared
    by processes and kept across restarts (docs/persistence.md)."""
    if user_function is not None:
        if not callable(user_function):  # @cache(60): options are keyword-only
            raise TypeError(
                "cache() takes its options by keyword, as in @cache(ttl=60) or "
                "@cache(maxsize=128); its only positional argument is the function to cache "
                f"(got {type(user_function).__name__} {user_function!r:.40})"
            )
        return _dropin(user_function, None, False)
    if backend is not None and not isinstance(backend, str):
        raise TypeError(
            f"backend must be 'memory', 'disk' or 'redis' (got {type(backend).__name__})"
        )
    if backend not in (None, "memory", "disk", "redis"):
        raise ValueError(f"backend must be 'memory', 'disk' or 'redis' (got {backend!r})")
    unknown = [name for name in disk_options if name not in ("mmap", "tags", "meta")]
    if unknown:
        raise TypeError(f"cache() got an unexpected keyword argument {unknown[0]!r}")
    if disk_options and backend != "disk":
        raise TypeError(f"{', '.join(disk_options)} apply to backend='disk' only")
    redis_given = [
        name
        for name, given in (
            ("url", url is not None),
            ("client", client is not None),
            ("namespace", namespace is not None),
            ("secret", secret is not None),
            ("timeout", timeout is not _NOT_GIVEN),
            ("coherent", coherent is not None),
            ("cluster", cluster is not None),
            ("tls", tls is not None),
            ("lease", lease is not None),
        )
        if given
    ]
    if backend == "redis":  # the Redis tier (docs/redis.md): twincache._redis
        memory_only = [
            name
            for name, given in (
                ("typed", typed is not False),
                ("policy", policy is not None),
                ("path", path is not None),
                ("on_evict", on_evict is not None),
                ("getsizeof", getsizeof is not None),
            )
            if given
        ]
        if memory_only:
            raise TypeError(
                f"backend='redis' does not take {', '.join(memory_only)} (it takes url, client, "
                "namespace, ttl, ttl_jitter, codec, secret, timeout, key, cache_errors, "
                "error_ttl, stale, early_refresh, on_refresh_error, coherent, cluster, tls, "
                "single_flight, lease, maxsize and max_bytes for L1)"
            )
        from ._redis_function import redis_decorator

        return redis_decorator(
            url=url,
            client=client,
            ttl=ttl,
            namespace=namespace,
            codec="pickle" if codec is _NOT_GIVEN else codec,
            secret=secret,
            timeout=0.25 if timeout is _NOT_GIVEN else timeout,
            key=key,
            maxsize=10_000 if maxsize is None else maxsize,
            max_bytes=max_bytes,
            cache_errors=cache_errors,
            error_ttl=error_ttl,
            ttl_jitter=0.0 if ttl_jitter is None else ttl_jitter,
            coherent=coherent,
            cluster=False if cluster is None else cluster,
            tls=tls,
            stale=stale,
            early_refresh=early_refresh,
            on_refresh_error=on_refresh_error,
            single_flight=single_flight,
            lease=lease,
        )
    if redis_given:
        raise TypeError(f"{', '.join(redis_given)} apply to backend='redis' only")
    if backend == "disk":  # the persistent tier (docs/persistence.md)
        memory_only = [
            name
            for name, given in (
                ("maxsize", maxsize is not None),
                ("typed", typed is not False),
                ("policy", policy is not None),
                ("single_flight", single_flight is not False),
                ("on_evict", on_evict is not None),
                ("getsizeof", getsizeof is not None),
            )
            if given
        ]
        if memory_only:
            raise TypeError(
                f"backend='disk' does not take {', '.join(memory_only)} "
                "(it takes path, max_bytes, ttl, key, codec and the freshness options)"
            )
        from ._disk import disk_decorator

        disk_freshness = _fresh.Options(
            ttl_ns=_options.ttl("ttl", ttl),
            stale=stale,
            ttl_jitter=ttl_jitter,
            early_refresh=early_refresh,
            cache_errors=cache_errors,
            error_ttl=error_ttl,
            on_refresh_error=on_refresh_error,
        )
        return disk_decorator(
            path=path,
            max_bytes=max_bytes,
            ttl=ttl,
            codec="pickle" if codec is _NOT_GIVEN else codec,
            key=key,
            freshness=disk_freshness,
            **disk_options,
        )
    if path is not None or codec is not _NOT_GIVEN:
        raise TypeError("path and codec apply to backend='disk' only")
    limits = _options.limits(maxsize, ttl, max_bytes, policy)
    typed_flag = _options.flag("typed", typed)
    key_fn = _options.key_function("key", key)
    single = _options.flag("single_flight", single_flight)
    eviction = _options.eviction(on_evict, getsizeof, limits.max_bytes)
    freshness = _fresh.Options(
        ttl_ns=limits.ttl_ns,
        stale=stale,
        ttl_jitter=ttl_jitter,
        early_refresh=early_refresh,
        cache_errors=cache_errors,
        error_ttl=error_ttl,
        on_refresh_error=on_refresh_error,
    )
    parameters = {
        "maxsize": maxsize,
        "typed": typed_flag,
        "ttl": ttl,
        "max_bytes": max_bytes,
        "key": key_fn,
        "policy": limits.policy,
        "single_flight": single,
        **freshness.parameters(),
    }

    def decorating_function(func: Callable[P, R]) -> CachedFunction[P, R]:
        result: CachedFunction[P, R] = _wrap(
            func,
            parameters=parameters,
            max_items=limits.max_items,
            max_bytes=limits.max_bytes,
            ttl_ns=limits.ttl_ns,
            policy=limits.policy,
            typed=typed_flag,
            key_fn=key_fn,
            content_keys=True,
            single_flight=single,
            weak_self=True,
            eviction=eviction,
            freshness=freshness,
        )
        return result

    return decorating_function


# --- the mapping ---------------------------------------------------------------------------------


def _cache_options(
    maxsize: object,
    ttl: object,
    max_bytes: object,
    policy: object,
    on_evict: object = None,
    getsizeof: object = None,
) -> tuple[int | None, int | None, int | None, str, Callable[[object], int] | None, dict[str, Any]]:
    """Checks Cache's options (type checks here, ranges in the core) and returns what its table
    is built from. The native Cache calls it from its __init__."""
    limits = _options.limits(maxsize, ttl, max_bytes, policy)
    _options.eviction(on_evict, getsizeof, limits.max_bytes)
    parameters = {"maxsize": maxsize, "ttl": ttl, "max_bytes": max_bytes, "policy": limits.policy}
    parameters.update(on_evict=on_evict, getsizeof=getsizeof)
    weigher = weigh if limits.max_bytes is not None else None
    return limits.max_items, limits.max_bytes, limits.ttl_ns, limits.policy, weigher, parameters


def _ttl_option(ttl: object) -> int | None:
    return _options.ttl("ttl", ttl)


def _cache_maxsize(self: Any) -> int | None:
    """The item limit (the maxsize given, None when unbounded), as cachetools' Cache.maxsize."""
    maxsize: int | None = self._parameters["maxsize"]
    return maxsize


def _cache_currsize(self: Any) -> int:
    """The live entries now (len(cache)), as cachetools' Cache.currsize counts them."""
    return len(self)


def _cache_repr(self: Any) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in self._parameters.items() if v is not None)
    return f"twincache.Cache({args}) with {len(self)} items"


if TYPE_CHECKING or not native:
    # CacheBase is an implementation detail: messages name its methods as Cache's ("Cache.get()
    # got an unexpected keyword argument 'dflt'", Python 3.11+), as the native Cache does.
    for _method in vars(impl.CacheBase).values():
        if inspect.isfunction(_method):
            _method.__qualname__ = f"Cache.{_method.__name__}"

    class Cache(impl.CacheBase[K, V], MutableMapping[K, V]):
        """A dict-like cache: limits, TTL (a default and per entry), a policy, counters.
        Generic in its key and value types: twincache.Cache[str, int](maxsize=100)."""

        # No instance __dict__: attribute lookups on the hot path (c.get) stay specialized.
        __slots__ = ("__weakref__", "_parameters")

        def __init__(
            self,
            maxsize: int | None = None,
            ttl: float | None = None,
            max_bytes: int | None = None,
            policy: Policy | None = None,
            on_evict: Callable[[K, V, EvictionReason], object] | None = None,
            getsizeof: Callable[[V], int] | None = None,
        ) -> None:
            max_items, limit_bytes, ttl_ns, policy_name, weigher, parameters = _cache_options(
                maxsize, ttl, max_bytes, policy, on_evict, getsizeof
            )
            super().__init__(
                max_items=max_items,
                max_bytes=limit_bytes,
                ttl_ns=ttl_ns,
                policy=policy_name,
                weigh=weigher,
                on_evict=on_evict,
                getsizeof=getsizeof,
            )
            self._parameters = parameters

        def set(self, key: K, value: V, ttl: float | None = None) -> None:
            """Stores value under key; ttl (seconds) overrides the cache's default TTL."""
            ttl_ns = _ttl_option(ttl)
            if not self._set(key, value, ttl_ns):
                self._refuse(key, value)

        @overload
        def pop(self, key: K, /) -> V: ...
        @overload
        def pop(self, key: K, default: V | T, /) -> V | T: ...
        def pop(self, key: K, default: Any = _NOT_GIVEN) -> Any:
            value = self._pop(key)
            if value is _MISS_VALUE:
                if default is _NOT_GIVEN:
                    raise KeyError(key)
                return default
            return value

        def __iter__(self) -> Iterator[K]:
            return iter(self._keys())

        @property
        def maxsize(self) -> int | None:
            """The item limit (the maxsize given, None when unbounded), as cachetools'."""
            return _cache_maxsize(self)

        @property
        def currsize(self) -> int:
            """The live entries now (len(cache)), as cachetools counts them."""
            return _cache_currsize(self)

        __repr__ = _cache_repr

else:

    def _adopt_native_cache() -> Any:
        """The native Cache is a C type: it gets the MutableMapping mixin methods and ABC."""
        cls = impl.Cache
        impl._set_hooks(_cache_options, _ttl_option)
        for name in ("keys", "items", "values", "update", "setdefault", "popitem", "__eq__"):
            setattr(cls, name, getattr(MutableMapping, name))
        cls.__hash__ = None
        cls.__repr__ = _cache_repr
        cls.maxsize = property(_cache_maxsize, doc=_cache_maxsize.__doc__)
        cls.currsize = property(_cache_currsize, doc=_cache_currsize.__doc__)
        # Cache[str, int] as in pure mode (pure Cache is Generic): a type alias, no runtime cost.
        cls.__class_getitem__ = classmethod(types.GenericAlias)
        MutableMapping.register(cls)
        return cls

    Cache = _adopt_native_cache()


_MISS_VALUE: Final[Any] = impl._MISSING
