"""twincache: one C++ caching core for Python and Node.

    @twincache.lru_cache(maxsize=256)        # functools drop-in (exact LRU)
    @twincache.cache                         # functools.cache drop-in
    @twincache.cache(ttl=60, max_bytes=...)  # configured form (keyword-only)
    twincache.Cache(maxsize=1000, ttl=5)     # a MutableMapping

`twincache.native` is True when the C++ core is in use; otherwise the pure-Python implementation
runs (TWINCACHE_PURE=1 forces it) with the same behaviour.
"""

from __future__ import annotations

from functools import _CacheInfo as CacheInfo

from ._api import CONTENT_KEYED_TYPES, Cache, cache, lru_cache
from ._backend import native
from ._weigh import weigh

__version__ = "0.1.0"

__all__ = [
    "CONTENT_KEYED_TYPES",
    "Cache",
    "CacheInfo",
    "cache",
    "lru_cache",
    "native",
    "weigh",
]
