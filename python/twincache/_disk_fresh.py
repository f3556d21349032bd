"""Freshness and control on the disk tier (docs/persistence.md, "Freshness and control"):
DiskCache's reads that are not use (peek, ttl_of), expire(), its on_evict callback (the
subclass NotifyingDiskCache, which a DiskCache built with on_evict becomes, so that a cache
without it keeps its code paths), and the freshness options of @cache(backend="disk")
(stale, early_refresh, ttl_jitter, cache_errors, on_refresh_error) over twincache._fresh.

on_evict on disk: called for the removals this handle makes (other processes' are not seen),
after the store call, outside every lock, once per removal. Replaced, deleted, cleared and
expired-on-read entries: the value is read (a peek) before the removal, so on_evict costs one
read per set, delete, and per entry cleared. Entries the store removes on its own, culled to
max_bytes ('evicted') or reclaimed after their TTL ('expired') by a write or prune(), come from
the store's removal reports (report_removals: the victims' rows, values read only because a
callback is set), drained after each call through this handle; the native store's write-behind
commits in the background, so its victims are told by the next call (or flush()).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from . import _disk, _fresh, _pure
from ._backend import warn

# --- reads that are not use -----------------------------------------------------------------------


def _peek_raw(cache: _disk.DiskCache[Any, Any], encoded: bytes) -> tuple[Any, ...] | None:
    """(codec, bytes, expiry) of the row, expired or not; None when absent or damaged. Not
    counted, not touched (the store's get with use=False)."""
    return cache._store.get(encoded, False, False)


def _live(hit: tuple[Any, ...] | None, now: int) -> bool:
    return hit is not None and not (hit[2] and now >= hit[2])


def peek(cache: _disk.DiskCache[Any, Any], key: object, default: Any) -> Any:
    hit = _peek_raw(cache, _disk._key_bytes(key))
    if hit is None or not _live(hit, _disk._wall_now()):
        return default
    return _disk._loads(hit[0], hit[1])


def ttl_of(cache: _disk.DiskCache[Any, Any], key: object) -> float | None:
    hit = _peek_raw(cache, _disk._key_bytes(key))
    now = _disk._wall_now()
    if hit is None or not _live(hit, now):
        return None
    return math.inf if not hit[2] else (hit[2] - now) / 1e9


# --- on_evict -------------------------------------------------------------------------------------


def _value_of(hit: tuple[Any, ...]) -> Any:
    try:
        return _disk._loads(hit[0], hit[1])
    except Exception:  # an entry this language cannot read (Node's v8 codec): its bytes
        return hit[1]


class NotifyingDiskCache(_disk.DiskCache[Any, Any]):
    """A DiskCache with on_evict (what DiskCache(..., on_evict=f) is): each removal this handle
    makes is told to f(key, value, reason) after it is done. key: decoded from the directory's
    key encoding (as iteration gives it); value: read before the removal."""

    _on_evict: Callable[[Any, Any, str], object]

    def _tell(self, events: list[tuple[bytes, Any, str]]) -> None:
        for encoded, value, why in events:
            _pure._notify(self._on_evict, _disk.decode_key(encoded), value, why)
        self._tell_removed()

    def _tell_removed(self) -> None:
        """Tells the store's removal reports (culled 'evicted', reclaimed 'expired'), each once:
        take_removals() hands them over one time, so a callback that calls back in is safe."""
        store = self._store
        memory = self._memory
        while store.has_removals():
            for encoded, why, codec, data in store.take_removals():
                if memory is not None:
                    memory.drop(encoded)  # told gone: not served from memory either
                value = None if data is None else _value_of((codec, data))
                _pure._notify(self._on_evict, _disk.decode_key(encoded), value, why)

    def _read(self, encoded: bytes, mmap: bool = False) -> Any:
        # Removals the writer thread committed since the last call are told (and leave the
        # memory tier) first. A live memory tier entry is served as usual; otherwise the row is
        # looked at first, so that an expired one the read removes is told ('expired').
        if self._store.has_removals():
            self._tell_removed()
        memory = self._memory
        if memory is not None and memory.gen[0] == memory.seen:
            entry = memory.entries.get(encoded)
            if entry is not None and (not entry[1] or _disk._wall_now() < entry[1]):
                return super()._read(encoded, mmap)
        hit = _peek_raw(self, encoded)
        value = super()._read(encoded, mmap)
        if value is _disk._MISS and hit is not None and hit[2] and _disk._wall_now() >= hit[2]:
            self._tell([(encoded, _value_of(hit), "expired")])
        return value

    def _store_encoded(
        self, encoded: bytes, value: object, ttl_ns: int | None, **tagged: Any
    ) -> None:
        old = _peek_raw(self, encoded)
        now = _disk._wall_now()
        super()._store_encoded(encoded, value, ttl_ns, **tagged)
        why = "replaced" if old is not None and _live(old, now) else "expired"
        self._tell([] if old is None else [(encoded, _value_of(old), why)])

    def _erase_encoded(self, encoded: bytes) -> bool:
        old = _peek_raw(self, encoded)
        now = _disk._wall_now()
        erased = super()._erase_encoded(encoded)
        events = []
        if old is not None and (erased or not _live(old, now)):
            events.append((encoded, _value_of(old), "deleted" if erased else "expired"))
        self._tell(events)
        return erased

    def _snapshot(self, keys: list[bytes]) -> dict[bytes, Any]:
        out = {}
        for k in keys:
            hit = _peek_raw(self, k)
            if hit is not None:
                out[k] = hit
        return out

    def clear(self) -> None:
        store = self._store
        expired = self._snapshot(store.keys(True))
        live = self._snapshot(store.keys())
        super().clear()
        events = [(k, _value_of(h), "expired") for k, h in expired.items()]
        events += [(k, _value_of(h), "cleared") for k, h in live.items()]
        self._tell(events)

    def evict(self, tag: str) -> int:
        rows = self.query(tag) if isinstance(tag, str) and tag else []
        before = self._snapshot([_disk._encode_key(r["key"]) for r in rows])
        n = super().evict(tag)
        self._tell([(k, _value_of(h), "deleted") for k, h in before.items()])
        return n

    def prune(self) -> int:
        """Removes expired entries and evicts down to max_bytes; returns how many went. Told:
        'expired' and 'evicted', from the store's removal reports."""
        n = super().prune()
        self._tell_removed()
        return n

    def flush(self) -> None:
        """As DiskCache.flush(); then tells what the committed writes culled."""
        try:
            super().flush()
        finally:
            self._tell_removed()


def notifying(cache: _disk.DiskCache[Any, Any], on_evict: Callable[..., object]) -> None:
    """Makes cache tell on_evict of its removals."""
    cache.__class__ = NotifyingDiskCache
    cache._on_evict = on_evict  # type: ignore[attr-defined]
    cache._store.report_removals(True, True)


# --- the freshness options of @cache(backend="disk") ----------------------------------------------


class _DiskMemo:
    """What twincache._fresh.Freshness writes records through: memo._put(key, record, ttl_ns)
    becomes a write to the directory (a record that cannot be stored is returned uncached)."""

    def __init__(self, cache: _disk.DiskCache[Any, Any], qualname: str) -> None:
        self.cache = cache
        self.qualname = qualname

    def _put(self, key: bytes, record: object, ttl_ns: int | None) -> None:
        try:
            self.cache._store_encoded(key, record, ttl_ns)
        except ValueError:
            pass  # larger than max_bytes: returned, not cached
        except Exception as exc:
            warn(
                f"twincache: the result of {self.qualname}() cannot be stored on disk ({exc}); "
                "it is returned uncached"
            )


def wrap(
    func: Callable[..., Any],
    cache: _disk.DiskCache[Any, Any],
    key_of: Callable[[tuple[Any, ...], dict[str, Any]], bytes],
    options: _fresh.Options,
    counts: dict[str, int],
    is_async: bool,
    qualname: str,
) -> tuple[Callable[..., Any], _fresh.Freshness]:
    """The call path of a disk-memoized function whose entries are freshness records
    (twincache._fresh: (value, check_at, fresh_until, delta, is_error), times on the disk
    tier's wall clock), each stored for ttl + stale. A hit before check_at returns the value;
    the others go to Freshness.hook, as the memory tier's."""
    memo = _DiskMemo(cache, qualname)
    miss: Callable[..., Any] | None = None
    if is_async:

        async def miss(key: bytes, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            value = await func(*args, **kwargs)
            fresh.store_computed(key, value)
            return value

    fresh = _fresh.Freshness(memo, func, options, miss, is_async, dict, clock=_disk._wall_now)
    read = cache._read
    wall_now = _disk._wall_now
    missing = _disk._MISS
    hook = fresh.hook

    def lookup(k: bytes) -> Any:
        record = read(k)
        if record is missing:
            counts["misses"] += 1
            return None
        counts["hits"] += 1
        return record

    if is_async:

        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            k = key_of(args, kwargs)
            record = lookup(k)
            if record is not None and not record[4] and wall_now() < record[1]:
                return record[0]
            return await hook(k, args, kwargs, record, wall_now())

        return async_wrapper, fresh

    def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
        k = key_of(args, kwargs)
        record = lookup(k)
        if record is not None and not record[4] and wall_now() < record[1]:
            return record[0]
        return hook(k, args, kwargs, record, wall_now())

    return sync_wrapper, fresh
