"""The public types of twincache, for type checkers and for annotating user code: what a
decorated function is (a protocol generic over its parameters P and its result R, carrying every
helper the runtime object has), the dicts stats() and cache_parameters() return (TypedDicts named
key for key as the runtime builds them), and the option words (Literal types).

Nothing here is on a hot path: the runtime objects are the implementation's Memo (native or pure)
and the disk backend's wrapper; these protocols describe them. tests/typecheck/python checks them
with mypy --strict against sample programs that also run, in both modes.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from functools import _CacheInfo as CacheInfo
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Literal,
    ParamSpec,
    Protocol,
    TypedDict,
    TypeVar,
    overload,
)

if TYPE_CHECKING:
    # Cache() and DiskCache() without type arguments are Cache[Any, Any] (PEP 696 defaults;
    # typing.TypeVar takes default= from Python 3.13 on, so only type checkers see them).
    from typing_extensions import TypeVar as TypeVarWithDefault

    K = TypeVarWithDefault("K", bound=Hashable, default=Any)  # Cache's keys: hashable
    AnyK = TypeVarWithDefault("AnyK", default=Any)  # DiskCache's: anything the encoding takes
    V = TypeVarWithDefault("V", default=Any)
else:
    K = TypeVar("K", bound=Hashable)
    AnyK = TypeVar("AnyK")
    V = TypeVar("V")
T = TypeVar("T")

P = ParamSpec("P")
P2 = ParamSpec("P2")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
S = TypeVar("S")
Self_ = TypeVar("Self_")

Policy = Literal["lru", "tinylfu"]
"""policy=: 'lru' (exact least recently used) or 'tinylfu' (adaptive W-TinyLFU, the default)."""
Codec = Literal["pickle", "json"]
"""codec= of the disk tier: 'pickle' (the default) or 'json' (readable from Node)."""
Backend = Literal["memory", "disk"]
"""backend= of @cache(...): 'memory' (the default) or 'disk' (docs/persistence.md)."""
EvictionReason = Literal["evicted", "expired", "deleted", "replaced", "cleared"]
"""The reason on_evict(key, value, reason) is given (docs/python.md, "Eviction callbacks")."""


class FreshCounters(TypedDict, total=False):
    """The counters stats() adds for a decorated function with freshness options (stale,
    early_refresh, cache_errors; docs/python.md, "Freshness"), memory and disk backends."""

    refreshes: int  # background refreshes stored
    refresh_errors: int  # background refreshes that raised (the old value kept)
    early_refreshes: int  # refreshes started before expiry by the XFetch rule
    error_hits: int  # calls answered with a cached failure (cache_errors)


class Stats(FreshCounters):
    """stats() of a decorated function and of Cache (native and pure build the same keys)."""

    hits: int
    misses: int
    inserts: int
    updates: int
    rejected: int
    evictions: int
    evicted_items: int
    evicted_bytes: int
    expirations: int
    deleted: int
    cleared: int
    items: int
    bytes: int


class DiskStats(FreshCounters):
    """stats() of DiskCache and of a @cache(backend="disk") function: this process's counters;
    items and bytes are the directory's."""

    hits: int
    misses: int
    l1_hits: int
    sets: int
    rejected: int
    evictions: int
    evicted_items: int
    evicted_bytes: int
    expirations: int
    deleted: int
    cleared: int
    corrupt: int
    write_errors: int
    items: int
    bytes: int


class _LruParameters(TypedDict):
    maxsize: int | None
    typed: bool


class CacheParameters(_LruParameters, total=False):
    """cache_parameters(): maxsize and typed always (as functools); the configured form adds the
    other options it was given (policy as the core resolved it)."""

    ttl: float | None
    max_bytes: int | None
    key: Callable[..., Hashable] | None
    policy: Policy
    single_flight: bool


class CachedFunction(Protocol[P, R_co]):
    """What @twincache.cache and @twincache.lru_cache return: the function with its parameters
    and result type, plus functools' helpers and twincache's. As a method, an instance's
    attribute is a CachedMethod (the instance bound, the helpers kept)."""

    @property
    def __wrapped__(self) -> Callable[P, R_co]: ...
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...
    def cache_info(self) -> CacheInfo: ...
    def cache_clear(self) -> None: ...
    def cache_parameters(self) -> CacheParameters: ...
    def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> bool: ...
    def stats(self) -> Stats: ...
    @overload
    def __get__(self: Self_, instance: None, owner: type[Any] | None = None, /) -> Self_: ...
    @overload
    def __get__(
        self: CachedFunction[Concatenate[S, P2], R],
        instance: S,
        owner: type[Any] | None = None,
        /,
    ) -> CachedMethod[S, P2, R]: ...


class CachedMethod(Protocol[S, P, R_co]):
    """A decorated method read from its instance (`obj.method`): calls bind the instance; the
    helpers are the function's, so invalidate() takes the instance first, as
    `Class.method.invalidate(obj, ...)` does."""

    @property
    def __self__(self) -> S: ...
    @property
    def __wrapped__(self) -> Callable[Concatenate[S, P], R_co]: ...
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...
    def cache_info(self) -> CacheInfo: ...
    def cache_clear(self) -> None: ...
    def cache_parameters(self) -> CacheParameters: ...
    def invalidate(self, instance: S, /, *args: P.args, **kwargs: P.kwargs) -> bool: ...
    def stats(self) -> Stats: ...


class DiskCachedFunction(Protocol[P, R_co]):
    """What @twincache.cache(backend="disk", ...) returns: the function, its results kept in a
    cache directory (docs/persistence.md)."""

    @property
    def __wrapped__(self) -> Callable[P, R_co]: ...
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...
    def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> bool: ...
    def cache_clear(self) -> int:
        """Removes this function's entries (only them); returns how many went."""
        ...

    def stats(self) -> DiskStats: ...
    def flush(self) -> None: ...
    @property
    def disk_path(self) -> str: ...
    @property
    def persistent(self) -> bool: ...
    @overload
    def __get__(self: Self_, instance: None, owner: type[Any] | None = None, /) -> Self_: ...
    @overload
    def __get__(
        self: DiskCachedFunction[Concatenate[S, P2], R],
        instance: S,
        owner: type[Any] | None = None,
        /,
    ) -> DiskCachedMethod[S, P2, R]: ...


class DiskCachedMethod(Protocol[S, P, R_co]):
    """A @cache(backend="disk") method read from its instance (its key= must key the instance,
    e.g. by ignoring it): calls bind the instance; invalidate() takes it first."""

    @property
    def __self__(self) -> S: ...
    @property
    def __wrapped__(self) -> Callable[Concatenate[S, P], R_co]: ...
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...
    def invalidate(self, instance: S, /, *args: P.args, **kwargs: P.kwargs) -> bool: ...
    def cache_clear(self) -> int: ...
    def stats(self) -> DiskStats: ...
    def flush(self) -> None: ...
    @property
    def disk_path(self) -> str: ...
    @property
    def persistent(self) -> bool: ...


class CacheDecorator(Protocol):
    """@twincache.cache(...) and @twincache.lru_cache(...) with options: takes the function."""

    def __call__(self, func: Callable[P, R], /) -> CachedFunction[P, R]: ...


class DiskCacheDecorator(Protocol):
    """@twincache.cache(backend="disk", ...): takes the function."""

    def __call__(self, func: Callable[P, R], /) -> DiskCachedFunction[P, R]: ...


__all__ = [
    "Backend",
    "CacheDecorator",
    "CacheInfo",
    "CacheParameters",
    "CachedFunction",
    "CachedMethod",
    "Codec",
    "DiskCacheDecorator",
    "DiskCachedFunction",
    "DiskCachedMethod",
    "DiskStats",
    "EvictionReason",
    "Policy",
    "Stats",
]
