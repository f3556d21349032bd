"""@twincache.range_cache(backend="redis"): where a range cache keeps its chunks in Redis
(docs/persistence.md, "Range queries"; twincache._range has the logic shared with the disk
tier). Per value of the other arguments: one RedisCache entry listing the chunks (interval,
expiry, id) and one entry per chunk holding its rows, all under the function's scope in the
namespace (`<namespace>:r<16 hex>:<hash>`), so `wrapper.cache.clear()` removes them and their
locks. Values go through the pickle codec, signed with `secret` (or $TWINCACHE_SECRET).

Callers of one arguments' key across processes are serialized by the Redis tier's lease
(twincache._redis_flight.held, on the chunk list's entry name + ":lock"): one process fetches a
gap, the others wait and then read its chunk. Redis unreachable: the caller fetches and answers
alone (fail open), as every Redis read and write here (a failed write is a later refetch).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from typing import Any, Final

from . import _redis_envelope as env
from . import _redis_flight
from ._redis import _FAILED, _MISS, RedisCache

SCOPE_VERSION: Final = "twincache.range/1"
# A chunk's rows outlive the chunk's expiry by this much in Redis: the chunk list is read by
# processes whose clocks may lag the writer's; one later than this refetches the gap.
SKEW_MARGIN_MS: Final = 60_000


class RedisStore:
    """The chunk list and chunks of a range cache in Redis (the store protocol of
    twincache._range: chunks, put_chunks, rows, put_rows, drop_rows, locked)."""

    def __init__(
        self,
        func: Callable[..., Any],
        url: Any,
        client: Any,
        namespace: Any,
        secret: Any,
        timeout: Any,
        lease_ms: int,
    ) -> None:
        module = str(getattr(func, "__module__", None) or "")
        qualname = str(getattr(func, "__qualname__", None) or "")
        scope = "r" + env.function_scope([SCOPE_VERSION, module, qualname])[1:]
        # L1 of one entry, no listener: the chunk list is always read from Redis (another
        # process may have added chunks), and rows are not kept in this process between calls.
        self.cache = RedisCache(
            url,
            client=client,
            namespace=env.DEFAULT_NAMESPACE if namespace is None else namespace,
            secret=secret,
            timeout=0.25 if timeout is None else timeout,
            l1_maxsize=1,
            coherent=False,
            _scope=scope,
        )
        if self.cache._clients.sync is None:
            self.cache.close()
            raise TypeError(
                "client must be a sync redis.Redis (range_cache calls are sync; got an asyncio "
                "client)"
            )
        self.lease_ms = lease_ms

    def chunks(self, key: list[Any]) -> list[tuple[Any, Any, int, Any]]:
        value = self.cache._fetch(env.encode_key(key), None)  # Redis, never L1
        return [] if value is _MISS else list(value)

    def put_chunks(self, key: list[Any], chunks: list[tuple[Any, Any, int, Any]]) -> None:
        # No TTL: the list lives as long as its chunks may (each dropped when it expires).
        self.cache._set_encoded(env.encode_key(key), chunks, None)

    def rows(self, key: list[Any], ids: list[Any]) -> dict[Any, Any]:
        """{id: rows} of the chunks Redis still has (one round trip)."""
        cache = self.cache
        encoded = [env.encode_key([*key, cid]) for cid in ids]
        names = [cache._name(e) for e in encoded]
        started, epoch = time.monotonic(), cache._epoch
        reply = cache._call(lambda c: cache._read(c, names))
        cache._counts["bytes_sent"] += sum(len(n) for n in names)
        if reply is _FAILED:
            return {}
        found = {}
        for cid, e, name, raw, pttl in zip(ids, encoded, names, *reply, strict=True):
            value = cache._opened(name, e, raw, pttl, started, None, epoch)
            if value is not _MISS:
                found[cid] = value
        return found

    def put_rows(self, key: list[Any], cid: Any, rows: Any, expiry_ns: int, now_ns: int) -> None:
        """A chunk's rows; with an expiry, kept in Redis that long plus SKEW_MARGIN_MS (never
        less than the chunk list references them)."""
        px = None
        if expiry_ns:
            px = math.ceil(max(0, expiry_ns - now_ns) / 1_000_000) + SKEW_MARGIN_MS
        self.cache._set_encoded(env.encode_key([*key, cid]), rows, px)

    def drop_rows(self, key: list[Any], cid: Any) -> None:
        self.cache.delete([*key, cid])

    @contextlib.contextmanager
    def locked(self, key: list[Any]) -> Iterator[None]:
        with _redis_flight.held(self.cache, env.encode_key(key), self.lease_ms):
            yield

    def flush(self) -> None:
        """Nothing is queued (every write is sent at once): for the disk store's API."""


__all__ = ["RedisStore"]
