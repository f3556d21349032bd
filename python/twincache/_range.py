"""@twincache.range_cache: a pull-through cache for range queries (docs/persistence.md, "Range
queries"). It decorates f(*args, start, end) whose result is the rows with index in [start, end):
a pandas DataFrame (its index orders the rows, or the column named by `index`) or a list of
records (dicts) whose field `index` (default "index") orders them. Per value of the other
arguments it keeps, in a DiskCache, the rows fetched so far and the intervals they cover; a call
fetches only the gaps of [start, end) (one call of f per gap), stores each gap's rows as an
entry of its own (a chunk), and answers from the chunks that overlap [start, end).

Recent data can be refetched: with ttl (seconds), an interval fetched while it reached past
recent_from() (default: every interval) is covered only for ttl seconds, then fetched again.
Callers of the same arguments in one process are serialized (a lock per arguments), so
concurrent callers fetch each gap once; processes sharing the directory may fetch a gap twice
(the last write wins; rows are the same).
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
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


def range_cache(
    index: str | None = None,
    ttl: float | None = None,
    path: Any = None,
    *,
    recent_from: Callable[[], Any] | None = None,
) -> Callable[[Callable[..., Any]], Any]:
    """Decorates f(*args, start, end) -> rows in [start, end) (see the module docstring)."""
    if index is not None and not isinstance(index, str):
        raise TypeError(f"index must be a column or field name (got {type(index).__name__})")
    ttl_ns = _options.ttl("ttl", ttl)
    if recent_from is not None and not callable(recent_from):
        raise TypeError(
            "recent_from must be callable (returning the first index value that is recent)"
        )
    rows_of = _Rows(index)

    def decorate(func: Callable[..., Any]) -> Any:
        sig = inspect.signature(func)
        if "start" not in sig.parameters or "end" not in sig.parameters:
            raise TypeError(
                f"range_cache needs a function with parameters named start and end "
                f"({func.__qualname__}{sig} has not)"
            )
        cache: _disk.DiskCache[Any, Any] = _disk.DiskCache(path)
        identity = [
            _STATE_VERSION,
            func.__module__,
            func.__qualname__,
            _disk.source_hash(func),
        ]
        locks: dict[bytes, threading.Lock] = {}
        locks_guard = threading.Lock()  # guards locks (one lock per arguments' key)
        counts = {"calls": 0, "rows": 0, "hits": 0}

        def key_of(bound: inspect.BoundArguments) -> list[Any]:
            rest = {k: _disk._key_part(v) for k, v in bound.arguments.items()}
            rest.pop("start")
            rest.pop("end")
            return [*identity, rest]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            start, end = bound.arguments["start"], bound.arguments["end"]
            if not start < end:
                raise ValueError(f"start must be < end (got start={start!r}, end={end!r})")
            key = key_of(bound)
            encoded = _disk._encode_key(key)
            with locks_guard:
                lock = locks.setdefault(encoded, threading.Lock())
            with lock:
                return fetch(bound, key, start, end)

        def fetch(bound: inspect.BoundArguments, key: list[Any], start: Any, end: Any) -> Any:
            """The chunks of key (one per fetched gap: [lo, hi), its expiry, its rows in an
            entry of its own) cover what was fetched; expired ones are dropped, the gaps fetched
            and stored as new chunks, and the answer cut from the chunks that overlap."""
            now = _disk._wall_now()
            chunks: list[tuple[Any, Any, int, int]] = cache.get(key) or []  # lo, hi, expiry, id
            live = [c for c in chunks if not c[2] or c[2] > now]
            for c in chunks:
                if c not in live:  # expired: refetched below
                    cache.pop([*key, c[3]], None)
            gaps = _gaps(start, end, [(lo, hi, exp) for lo, hi, exp, _ in live])
            if not gaps:
                counts["hits"] += 1
            fresh: dict[int, Any] = {}
            next_id = max((c[3] for c in chunks), default=-1) + 1
            for lo, hi in gaps:
                gap = inspect.BoundArguments(bound.signature, bound.arguments.copy())
                gap.arguments["start"], gap.arguments["end"] = lo, hi
                new = func(*gap.args, **gap.kwargs)
                counts["calls"] += 1
                counts["rows"] += len(new)
                frame = _is_frame(new)
                new = rows_of.sort(rows_of.cut(new, frame, lo, hi, inside=True), frame)
                expiry = 0
                if ttl_ns is not None and (recent_from is None or hi > recent_from()):
                    expiry = now + ttl_ns
                cache[[*key, next_id]] = new
                fresh[next_id] = new
                live.append((lo, hi, expiry, next_id))
                next_id += 1
            if gaps or len(live) != len(chunks):
                cache[key] = live
            parts = []
            for lo, hi, _, cid in sorted(live, key=lambda c: c[0]):
                if hi <= start or lo >= end:
                    continue
                rows = fresh[cid] if cid in fresh else cache.get([*key, cid])
                if rows is None:  # a chunk evicted from the directory: fetched again
                    cache.pop(key, None)
                    return fetch(bound, key, start, end)
                parts.append(rows_of.cut(rows, _is_frame(rows), start, end, inside=True))
            return rows_of.concat(parts)

        def stats() -> dict[str, int]:
            """calls: calls of the source; rows: rows it returned; hits: calls answered from the
            store alone."""
            return dict(counts)

        wrapper.stats = stats  # type: ignore[attr-defined]
        wrapper.flush = cache.flush  # type: ignore[attr-defined]
        wrapper.cache = cache  # type: ignore[attr-defined]
        return wrapper

    return decorate


__all__ = ["range_cache"]
