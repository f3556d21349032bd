"""twincache: one C++ caching core for Python and Node.

    @twincache.lru_cache(maxsize=256)        # functools drop-in (exact LRU)
    @twincache.cache                         # functools.cache drop-in
    @twincache.cache(ttl=60, max_bytes=...)  # configured form (keyword-only)
    twincache.Cache(maxsize=1000, ttl=5)     # a MutableMapping
    twincache.DiskCache(path, ttl=3600)      # the same on disk, shared by processes and Node
    twincache.RedisCache(url, namespace="app")  # L1 in memory + Redis/Valkey (docs/redis.md)
    @twincache.cache(backend="disk")         # results kept across restarts (docs/persistence.md)
    %load_ext twincache                      # Jupyter: the %%cache cell magic (docs/jupyter.md)

`twincache.native` is True when the C++ core is in use; otherwise the pure-Python implementation
runs (TWINCACHE_PURE=1 forces it) with the same behaviour. The types a program annotates with
(CachedFunction, Stats, Policy, ...) are documented in docs/python.md, "Typing".
"""

from __future__ import annotations

from functools import _CacheInfo as CacheInfo
from typing import TYPE_CHECKING, Any

from ._api import CONTENT_KEYED_TYPES, Cache, cache, lru_cache
from ._backend import native
from ._types import (
    Backend,
    CacheDecorator,
    CachedFunction,
    CachedMethod,
    CacheParameters,
    Codec,
    DiskCacheDecorator,
    DiskCachedFunction,
    DiskCachedMethod,
    DiskStats,
    EvictionReason,
    Policy,
    Stats,
)
from ._weigh import weigh

if TYPE_CHECKING:
    from ._disk import DiskCache
    from ._range import range_cache
    from ._redis import RedisCache

    __version__: str


def __getattr__(name: str) -> Any:
    # The disk tier loads on first use: importing twincache does not load SQLite.
    if name == "DiskCache":
        from ._disk import DiskCache

        return DiskCache
    if name == "__version__":
        # Written once, in package.json (pyproject.toml reads it from there): the installed
        # distribution's version. Looked up on first use (importlib.metadata is slow to import).
        from importlib.metadata import version

        globals()["__version__"] = value = version("twincache")
        return value
    if name == "range_cache":  # the pull-through cache for range queries (disk or Redis)
        from ._range import range_cache

        return range_cache
    if name == "RedisCache":  # the Redis tier loads on first use too (redis-py is optional)
        from ._redis import RedisCache

        return RedisCache
    raise AttributeError(f"module 'twincache' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext twincache`: registers the %%cache cell magic (docs/jupyter.md)."""
    from ._jupyter import load_ipython_extension as load

    load(ipython)


__all__ = [
    "CONTENT_KEYED_TYPES",
    "Backend",
    "Cache",
    "CacheDecorator",
    "CacheInfo",
    "CacheParameters",
    "CachedFunction",
    "CachedMethod",
    "Codec",
    "DiskCache",
    "DiskCacheDecorator",
    "DiskCachedFunction",
    "DiskCachedMethod",
    "DiskStats",
    "EvictionReason",
    "Policy",
    "RedisCache",
    "Stats",
    "cache",
    "load_ipython_extension",
    "lru_cache",
    "native",
    "range_cache",
    "weigh",
]
