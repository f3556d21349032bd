"""@twincache.range_cache: a pull-through cache for range queries (docs/persistence.md, "Range
queries"). It decorates f(*args, start, end) whose result is the rows with index in [start, end):
a pandas DataFrame (its index orders the rows, or the column named by `index`) or a list of
records (dicts) whose field `index` (default "index") orders them. Per value of the other
arguments it keeps, in a DiskCache (backend="disk", the default) or in Redis (backend="redis":
twincache._range_redis), the rows fetched so far and the intervals they cover; a call fetches
only the gaps of [start, end) (one call of f per gap), stores each gap's rows as an entry of its
own (a chunk), and answers from the chunks that overlap [start, end).

Recent data can be refetched: with ttl (seconds), an interval fetched while it reached past
recent_from() (default: every interval) is covered only for ttl seconds, then fetched again.
A call whose range is covered reads the chunk list and its chunks without a lock. Otherwise
callers of the same arguments in one process are serialized (a lock per arguments), and so are
processes: on Redis through the Redis tier's lease on the arguments' key, on disk through a
POSIX record lock in <dir>/range.lock; so concurrent callers fetch each gap once. Should two
fetch a gap anyway (a lease given up on), each stores its own chunk under a random id; the
list written last wins, the other chunk is left unreferenced.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import inspect
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any, Final

from . import _disk, _options

_STATE_VERSION: Final = "twincache.range/1"


def _is_frame(value: object) -> bool:
    t = type(value)
    return t.__name__ == "DataFrame" and (t.__module__ or "").startswith("pandas")


class _Rows:
    """How rows of one kind (DataFrame or records) are ordered, cut and merged."""

    def __init__(self, index: str | None) -> None:
        self.index = index

    def key_of(self, rows: Any, frame: bool) -> Any:
        if frame:
            return rows.index if self.index is None else rows[self.index]
        field = "index" if self.index is None else self.index
        return [r[field] for r in rows]

    def cut(self, rows: Any, frame: bool, lo: Any, hi: Any, inside: bool) -> Any:
        """The rows with index in [lo, hi) (inside) or outside it."""
        if frame:
            k = self.key_of(rows, True)
            mask = (k >= lo) & (k < hi)
            return rows[mask if inside else ~mask]
        field = "index" if self.index is None else self.index
        return [r for r in rows if (lo <= r[field] < hi) == inside]

    def sort(self, rows: Any, frame: bool) -> Any:
        if frame:
            return rows.sort_index() if self.index is None else rows.sort_values(self.index)
        field = "index" if self.index is None else self.index
        return sorted(rows, key=lambda r: r[field])

    def concat(self, parts: list[Any]) -> Any:
        """Rows of disjoint chunks, in the chunks' order (each one sorted when stored)."""
        if parts and _is_frame(parts[0]):
            import pandas as pd  # type: ignore[import-untyped]

            return pd.concat(parts)
        return [r for p in parts for r in p]


def _gaps(start: Any, end: Any, covered: list[tuple[Any, Any, int]]) -> list[tuple[Any, Any]]:
    """[start, end) minus the union of the covered intervals, in order."""
    out: list[tuple[Any, Any]] = []
    pos = start
    for lo, hi, _ in sorted(covered, key=lambda c: c[0]):
        if hi <= pos:
            continue
        if lo >= end:
            break
        if lo > pos:
            out.append((pos, min(lo, end)))
        pos = max(pos, hi)
        if pos >= end:
            break
    if pos < end:
        out.append((pos, end))
    return out


class _DiskStore:
    """The chunk list and chunks of a range cache in a DiskCache (the store protocol; the
    Redis one is twincache._range_redis.RedisStore)."""

    def __init__(self, path: Any) -> None:
        self.cache: _disk.DiskCache[Any, Any] = _disk.DiskCache(path)
        self._fd: int | None = None  # the directory's range.lock, opened on first use
        self._guard = threading.Lock()

    def chunks(self, key: list[Any]) -> list[tuple[Any, Any, int, Any]]:
        return list(self.cache.get(key) or [])

    def put_chunks(self, key: list[Any], chunks: list[tuple[Any, Any, int, Any]]) -> None:
        self.cache[key] = chunks

    def rows(self, key: list[Any], ids: list[Any]) -> dict[Any, Any]:
        found = {}
        for cid in ids:
            rows = self.cache.get([*key, cid])
            if rows is not None:
                found[cid] = rows
        return found

    def put_rows(self, key: list[Any], cid: Any, rows: Any, expiry_ns: int, now_ns: int) -> None:
        self.cache[[*key, cid]] = rows  # no TTL: dropped with its chunk (or evicted: refetched)

    def drop_rows(self, key: list[Any], cid: Any) -> None:
        self.cache.pop([*key, cid], None)

    def locked(self, key: list[Any]) -> contextlib.AbstractContextManager[Any]:
        if not self.cache.persistent:  # a memory-only DiskCache: nothing shared
            return contextlib.nullcontext()
        return self._file_lock(key)

    @contextlib.contextmanager
    def _file_lock(self, key: list[Any]) -> Iterator[None]:
        """Processes sharing the directory: a POSIX record lock on one byte of <dir>/range.lock,
        at an offset taken from the key's hash (LOCK_SLOTS of them: two keys may share one,
        which only serializes them). Released once this caller's chunks and list are
        committed (write-behind flushed), so the next holder reads them."""
        with self._guard:
            if self._fd is None:
                flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
                self._fd = os.open(os.path.join(self.cache.path, LOCK_FILE), flags, 0o600)
            fd = self._fd
        digest = hashlib.sha256(_disk._encode_key(key)).digest()
        slot = int.from_bytes(digest[:8], "little") % LOCK_SLOTS
        fcntl.lockf(fd, fcntl.LOCK_EX, 1, slot)
        try:
            yield
            self.cache.flush()
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN, 1, slot)

    def flush(self) -> None:
        self.cache.flush()


LOCK_FILE: Final = "range.lock"
LOCK_SLOTS: Final = 1 << 20

_REDIS_OPTIONS: Final = ("url", "client", "namespace", "secret", "timeout", "lease")


def range_cache(
    index: str | None = None,
    ttl: float | None = None,
    path: Any = None,
    *,
    recent_from: Callable[[], Any] | None = None,
    backend: str | None = None,
    url: str | None = None,
    client: Any = None,
    namespace: str | None = None,
    secret: str | bytes | None = None,
    timeout: float | None = None,
    lease: float | None = None,
) -> Callable[[Callable[..., Any]], Any]:
    """Decorates f(*args, start, end) -> rows in [start, end) (see the module docstring).
    backend="disk" (the default) keeps the chunks in the directory `path`; backend="redis" in
    Redis, with the Redis tier's url, client, namespace, secret and timeout, and `lease`
    (seconds) for the cross-process lock of one arguments' key (docs/redis.md)."""
    if backend is not None and not isinstance(backend, str):
        raise TypeError(f"backend must be 'disk' or 'redis' (got {type(backend).__name__})")
    if backend not in (None, "disk", "redis"):
        raise ValueError(f"backend must be 'disk' or 'redis' (got {backend!r})")
    given = dict(zip(_REDIS_OPTIONS, (url, client, namespace, secret, timeout, lease), strict=True))
    redis_given = [name for name, value in given.items() if value is not None]
    if backend != "redis" and redis_given:
        raise TypeError(f"{', '.join(redis_given)} apply to backend='redis' only")
    if backend == "redis" and path is not None:
        raise TypeError(
            "backend='redis' does not take path (it takes url, client, namespace, secret, "
            "timeout and lease)"
        )
    if index is not None and not isinstance(index, str):
        raise TypeError(f"index must be a column or field name (got {type(index).__name__})")
    ttl_ns = _options.ttl("ttl", ttl)
    if recent_from is not None and not callable(recent_from):
        raise TypeError(
            "recent_from must be callable (returning the first index value that is recent)"
        )
    rows_of = _Rows(index)
    make_store: Callable[[Callable[..., Any]], Any]
    if backend == "redis":
        from . import _range_redis, _redis_flight

        lease_ms = _redis_flight.lease_option(lease)
        options = {k: v for k, v in given.items() if k != "lease"}
        # Every option checked now, before any function is decorated (as @cache(backend=
        # "redis") does): a first store, closed.
        _range_redis.RedisStore(range_cache, **options, lease_ms=lease_ms).cache.close()

        def make_store(func: Callable[..., Any]) -> Any:
            return _range_redis.RedisStore(func, **options, lease_ms=lease_ms)

    else:

        def make_store(func: Callable[..., Any]) -> Any:
            return _DiskStore(path)

    def decorate(func: Callable[..., Any]) -> Any:
        sig = inspect.signature(func)
        if "start" not in sig.parameters or "end" not in sig.parameters:
            raise TypeError(
                f"range_cache needs a function with parameters named start and end "
                f"({func.__qualname__}{sig} has not)"
            )
        store = make_store(func)
        identity = [
            _STATE_VERSION,
            func.__module__,
            func.__qualname__,
            _disk.source_hash(func),
        ]
        locks: dict[bytes, threading.Lock] = {}
        locks_guard = threading.Lock()  # guards locks (one lock per arguments' key)
        counts = {"calls": 0, "rows": 0, "hits": 0}
        counts_guard = threading.Lock()

        def count(name: str, n: int = 1) -> None:
            with counts_guard:
                counts[name] += n

        def key_of(bound: inspect.BoundArguments) -> list[Any]:
            rest = {k: _disk._key_part(v) for k, v in bound.arguments.items()}
            rest.pop("start")
            rest.pop("end")
            return [*identity, rest]

        def live_of(chunks: list[tuple[Any, Any, int, Any]], now: int) -> list[Any]:
            return [c for c in chunks if not c[2] or c[2] > now]

        def overlapping(live: list[Any], start: Any, end: Any) -> list[Any]:
            return [c for c in sorted(live, key=lambda c: c[0]) if c[1] > start and c[0] < end]

        def answer(parts: list[Any], start: Any, end: Any) -> Any:
            return rows_of.concat(
                [rows_of.cut(rows, _is_frame(rows), start, end, inside=True) for rows in parts]
            )

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            start, end = bound.arguments["start"], bound.arguments["end"]
            if not start < end:
                raise ValueError(f"start must be < end (got start={start!r}, end={end!r})")
            key = key_of(bound)
            # Covered already (the common case): answered without a lock.
            live = live_of(store.chunks(key), _disk._wall_now())
            if not _gaps(start, end, [c[:3] for c in live]):
                needed = overlapping(live, start, end)
                have = store.rows(key, [c[3] for c in needed])
                if len(have) == len(needed):
                    count("hits")
                    return answer([have[c[3]] for c in needed], start, end)
            encoded = _disk._encode_key(key)
            with locks_guard:
                lock = locks.setdefault(encoded, threading.Lock())
            with lock, store.locked(key):
                return fill(bound, key, start, end)

        def fill(bound: inspect.BoundArguments, key: list[Any], start: Any, end: Any) -> Any:
            """Under the locks of key: the chunk list read again (another caller may have filled
            the gaps), expired chunks dropped, each gap fetched and stored as a chunk (its
            rows, then the list), and the answer cut from the chunks that overlap. A listed
            chunk whose rows are gone (evicted, deleted) leaves the list and is fetched again."""
            now = _disk._wall_now()
            chunks = store.chunks(key)
            live = live_of(chunks, now)
            for c in chunks:
                if c not in live:  # expired: refetched below
                    store.drop_rows(key, c[3])
            changed = len(live) != len(chunks)
            have: dict[Any, Any] = {}
            fetched = False
            while True:
                for lo, hi in _gaps(start, end, [c[:3] for c in live]):
                    gap = inspect.BoundArguments(bound.signature, bound.arguments.copy())
                    gap.arguments["start"], gap.arguments["end"] = lo, hi
                    new = func(*gap.args, **gap.kwargs)
                    count("calls")
                    count("rows", len(new))
                    frame = _is_frame(new)
                    new = rows_of.sort(rows_of.cut(new, frame, lo, hi, inside=True), frame)
                    expiry = 0
                    if ttl_ns is not None and (recent_from is None or hi > recent_from()):
                        expiry = now + ttl_ns
                    # A random id: never the id of another caller's chunk (a process that
                    # went on without the lock), nor of one deleted before.
                    cid = os.urandom(8).hex()
                    store.put_rows(key, cid, new, expiry, now)
                    have[cid] = new
                    live.append((lo, hi, expiry, cid))
                    fetched = changed = True
                if changed:
                    store.put_chunks(key, live)
                needed = overlapping(live, start, end)
                have.update(store.rows(key, [c[3] for c in needed if c[3] not in have]))
                gone = [c for c in needed if c[3] not in have]
                if not gone:
                    if not fetched:
                        count("hits")
                    return answer([have[c[3]] for c in needed], start, end)
                live = [c for c in live if c not in gone]  # their intervals: gaps again
                changed = True

        def stats() -> dict[str, int]:
            """calls: calls of the source; rows: rows it returned; hits: calls answered from the
            store alone."""
            with counts_guard:
                return dict(counts)

        wrapper.stats = stats  # type: ignore[attr-defined]
        wrapper.flush = store.flush  # type: ignore[attr-defined]
        wrapper.cache = store.cache  # type: ignore[attr-defined]
        return wrapper

    return decorate


__all__ = ["range_cache"]
