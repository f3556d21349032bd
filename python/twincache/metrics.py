"""twincache.metrics: every twincache cache exposed to prometheus_client, under the names, types
and labels of docs/metrics.md (the same as twincache-server's and the Node package's).

    import twincache.metrics
    twincache.metrics.register(fetch_user)                 # cache="app.users.fetch_user"
    twincache.metrics.register(sessions, name="sessions")  # a Cache, DiskCache or RedisCache

register() adds the cache to one TwincacheCollector per prometheus_client registry (made and
registered on first use); a TwincacheCollector can also be made and registered by hand. Nothing
is counted twice: each scrape reads the cache's own stats() (and its limits, fixed at
construction). The collector keeps weak references: a registered cache can still be garbage
collected, and then its samples and its name go.

prometheus_client is an optional dependency (`pip install 'twincache[metrics]'`); importing
twincache never imports it, only importing this module does.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

try:
    from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
    from prometheus_client.registry import REGISTRY, CollectorRegistry
except ImportError as exc:  # pragma: no cover - exercised by test_metrics in a subprocess
    raise ImportError(
        "twincache.metrics needs prometheus_client: pip install prometheus_client "
        "(or pip install 'twincache[metrics]')"
    ) from exc

__all__ = ["TwincacheCollector", "collector", "register", "unregister"]

# name -> (type, help). Order of the exposition; docs/metrics.md is the specification.
_FAMILIES: Final[dict[str, tuple[str, str]]] = {
    "twincache_hits_total": ("counter", "Lookups that returned a value."),
    "twincache_misses_total": ("counter", "Lookups that found nothing live."),
    "twincache_sets_total": ("counter", "Values stored."),
    "twincache_rejected_total": ("counter", "Sets refused by a size limit."),
    "twincache_deletes_total": ("counter", "Explicit deletions."),
    "twincache_evictions_total": ("counter", "Removals to stay within a limit, by reason."),
    "twincache_expirations_total": ("counter", "Removals because the TTL passed."),
    "twincache_cleared_total": ("counter", "Entries removed by clear()."),
    "twincache_corrupt_total": ("counter", "Disk entries refused by their HMAC or format."),
    "twincache_l2_hits_total": ("counter", "Redis reads that found a valid value."),
    "twincache_l2_misses_total": ("counter", "Redis reads that found no entry."),
    "twincache_l2_errors_total": ("counter", "Redis calls or entries that failed, by kind."),
    "twincache_l2_skipped_total": ("counter", "Redis calls not sent while the breaker was open."),
    "twincache_items": ("gauge", "Live entries now."),
    "twincache_bytes": ("gauge", "Weight of the live entries in bytes."),
    "twincache_max_items": ("gauge", "The item limit (no sample when unlimited)."),
    "twincache_max_bytes": ("gauge", "The byte limit (no sample when unlimited)."),
    "twincache_breaker_open": ("gauge", "1 while the Redis circuit breaker is not closed."),
}
_EXTRA_LABEL: Final[dict[str, str]] = {
    "twincache_evictions_total": "reason",
    "twincache_l2_errors_total": "kind",
}

# A sample: (family name, value of its extra label or None, value).
_Sample = tuple[str, str | None, float]


# --- reading one cache ---------------------------------------------------------------------------


def _memory_samples(s: Mapping[str, Any]) -> Iterator[_Sample]:
    """The first table of docs/metrics.md from a memory cache's stats() (Cache, @cache)."""
    yield "twincache_hits_total", None, s["hits"]
    yield "twincache_misses_total", None, s["misses"]
    yield "twincache_sets_total", None, s["inserts"] + s["updates"]
    yield "twincache_rejected_total", None, s["rejected"]
    yield "twincache_deletes_total", None, s["deleted"]
    yield "twincache_evictions_total", "max_items", s["evicted_items"]
    yield "twincache_evictions_total", "max_bytes", s["evicted_bytes"]
    yield "twincache_expirations_total", None, s["expirations"]
    yield "twincache_cleared_total", None, s["cleared"]
    yield "twincache_items", None, s["items"]
    yield "twincache_bytes", None, s["bytes"]


def _disk_samples(s: Mapping[str, Any]) -> Iterator[_Sample]:
    """A disk cache's (DiskCache, @cache(backend="disk")): it has a byte limit only."""
    yield "twincache_hits_total", None, s["hits"]
    yield "twincache_misses_total", None, s["misses"]
    yield "twincache_sets_total", None, s["sets"]
    yield "twincache_rejected_total", None, s["rejected"]
    yield "twincache_deletes_total", None, s["deleted"]
    yield "twincache_evictions_total", "max_bytes", s["evicted_bytes"]
    yield "twincache_expirations_total", None, s["expirations"]
    yield "twincache_cleared_total", None, s["cleared"]
    yield "twincache_corrupt_total", None, s["corrupt"]
    yield "twincache_items", None, s["items"]
    yield "twincache_bytes", None, s["bytes"]


def _redis_samples(s: Mapping[str, Any], l1: Mapping[str, Any] | None) -> Iterator[_Sample]:
    """A Redis cache's (RedisCache, @cache(backend="redis")): its L1 in the first table (from the
    l1_* keys, and from L1's own stats() for what those do not carry), then the Redis tier."""
    yield "twincache_hits_total", None, s["l1_hits"]
    yield "twincache_misses_total", None, s["l1_misses"]
    yield "twincache_sets_total", None, s["sets"]
    yield "twincache_deletes_total", None, s["deletes"]
    if l1 is not None:
        yield "twincache_rejected_total", None, l1["rejected"]
        yield "twincache_evictions_total", "max_items", l1["evicted_items"]
        yield "twincache_evictions_total", "max_bytes", l1["evicted_bytes"]
        yield "twincache_expirations_total", None, l1["expirations"]
        yield "twincache_cleared_total", None, l1["cleared"]
    yield "twincache_items", None, s["l1_items"]
    yield "twincache_bytes", None, s["l1_bytes"]
    yield "twincache_l2_hits_total", None, s["l2_hits"]
    yield "twincache_l2_misses_total", None, s["l2_misses"]
    yield "twincache_l2_errors_total", "timeout", s["l2_timeouts"]
    yield "twincache_l2_errors_total", "error", s["l2_errors"] - s["l2_timeouts"]
    yield "twincache_l2_errors_total", "corrupt", s["l2_corrupt"]
    yield "twincache_l2_errors_total", "unreadable", s["l2_unreadable"]
    yield "twincache_l2_skipped_total", None, s["l2_skipped"]
    yield "twincache_breaker_open", None, 0 if s["breaker"] == "closed" else 1


def _kind_of(stats: Mapping[str, Any]) -> str:
    """Which table applies, told by the keys of stats() (docs/redis.md, docs/python.md)."""
    if "l2_hits" in stats:
        return "redis"
    if "corrupt" in stats and "sets" in stats:
        return "disk"
    if "inserts" in stats:
        return "memory"
    return ""


def _redis_cache_of(obj: object) -> Any:
    """The RedisCache of a RedisCache or of a @cache(backend="redis") function."""
    return getattr(obj, "redis_cache", obj)


def _parameters_of(obj: object, kind: str) -> Mapping[str, Any]:
    """The options the cache was made with, as `maxsize`/`max_bytes` (read once, at add())."""
    if kind == "redis":  # its L1's: a twincache.Cache
        obj = getattr(_redis_cache_of(obj), "_l1", None)
    elif kind == "disk":  # a disk function's flush() is its DiskCache's bound method
        flush = getattr(obj, "flush", None)
        obj = getattr(flush, "__self__", obj)
    parameters = getattr(obj, "cache_parameters", None)
    if callable(parameters):
        found: Mapping[str, Any] = parameters()
        return found
    return getattr(obj, "_parameters", None) or {}


def _l1_stats(obj: object) -> Mapping[str, Any] | None:
    l1 = getattr(_redis_cache_of(obj), "_l1", None)
    stats = getattr(l1, "stats", None)
    if not callable(stats):
        return None
    found: Mapping[str, Any] = stats()
    return found


@dataclass(frozen=True)
class _Entry:
    ref: weakref.ref[Any]
    kind: str
    max_items: int | None
    max_bytes: int | None

    def samples(self) -> Iterator[_Sample] | None:
        obj = self.ref()
        if obj is None:
            return None
        stats = obj.stats()
        out: Iterable[_Sample]
        if self.kind == "redis":
            out = _redis_samples(stats, _l1_stats(obj))
        elif self.kind == "disk":
            out = _disk_samples(stats)
        else:
            out = _memory_samples(stats)
        limits: list[_Sample] = []
        if self.max_items is not None:
            limits.append(("twincache_max_items", None, self.max_items))
        if self.max_bytes is not None:
            limits.append(("twincache_max_bytes", None, self.max_bytes))
        return iter([*out, *limits])


def _default_name(obj: object) -> str | None:
    """A decorated function's qualified name, `module.qualname`; None for a cache object."""
    qualname = getattr(obj, "__qualname__", None)
    if not callable(obj) or not isinstance(qualname, str):
        return None
    module = getattr(obj, "__module__", None)
    return f"{module}.{qualname}" if module else qualname


def _limit(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class TwincacheCollector:
    """A prometheus_client collector of twincache caches: `add()` them, register it once
    (`REGISTRY.register(collector)`); each scrape reads their stats(). One collector per
    registry: two would expose the same metric names twice, which the registry refuses."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards _entries (add/remove/collect from any thread)
        self._entries: dict[str, _Entry] = {}

    def add(self, cache: object, name: str | None = None) -> str:
        """Exposes `cache` (a Cache, DiskCache, RedisCache or a function decorated by
        @twincache.cache / lru_cache, any backend) with the label cache=`name`, and returns the
        name. A decorated function's name defaults to `module.qualname`; a cache object needs
        name=. A name already taken by a live cache, or a cache already added, is a ValueError."""
        stats = getattr(cache, "stats", None)
        kind = _kind_of(stats()) if callable(stats) else ""
        if not kind:
            raise TypeError(
                "cache must be a twincache Cache, DiskCache, RedisCache or a function decorated "
                f"by twincache.cache or twincache.lru_cache (got {type(cache).__name__})"
            )
        if name is None:
            name = _default_name(cache)
            if name is None:
                raise TypeError(
                    f"name is required for a {type(cache).__name__} object (only a decorated "
                    "function has a default name, its qualified name)"
                )
        elif not isinstance(name, str):
            raise TypeError(f"name must be a non-empty str or None (got {type(name).__name__})")
        if not name:
            raise ValueError("name must be a non-empty str or None (got '')")
        parameters = _parameters_of(cache, kind)
        entry = _Entry(
            ref=weakref.ref(cache),
            kind=kind,
            max_items=None if kind == "disk" else _limit(parameters.get("maxsize")),
            max_bytes=_limit(parameters.get("max_bytes")),
        )
        with self._lock:
            self._prune()
            if name in self._entries:
                raise ValueError(f"a cache named {name!r} is already registered")
            for other, existing in self._entries.items():
                if existing.ref() is cache:
                    raise ValueError(f"this cache is already registered as {other!r}")
            self._entries[name] = entry
        return name

    def remove(self, cache: object) -> bool:
        """Stops exposing a cache, given as the object or its name; False if it was not there."""
        with self._lock:
            self._prune()
            for name, entry in self._entries.items():
                if (name == cache) if isinstance(cache, str) else (entry.ref() is cache):
                    del self._entries[name]
                    return True
        return False

    def names(self) -> list[str]:
        """The names of the caches exposed now (the live ones), sorted."""
        with self._lock:
            self._prune()
            return sorted(self._entries)

    def _prune(self) -> None:  # with _lock held: forget the caches that were garbage-collected
        for name in [n for n, e in self._entries.items() if e.ref() is None]:
            del self._entries[name]

    def describe(self) -> list[Metric]:
        """The metric names (for the registry's check that no two collectors share one)."""
        return list(_empty_families().values())

    def collect(self) -> list[Metric]:
        families = _empty_families()
        with self._lock:
            entries = sorted(self._entries.items())
        for name, entry in entries:
            for family, extra, value in entry.samples() or ():  # stats() outside the lock
                families[family].add_metric([name] if extra is None else [name, extra], value)
        return [family for family in families.values() if family.samples]


def _empty_families() -> dict[str, CounterMetricFamily | GaugeMetricFamily]:
    out: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
    for name, (kind, text) in _FAMILIES.items():
        labels = ["cache"] + ([_EXTRA_LABEL[name]] if name in _EXTRA_LABEL else [])
        if kind == "counter":
            out[name] = CounterMetricFamily(name, text, labels=labels)
        else:
            out[name] = GaugeMetricFamily(name, text, labels=labels)
    return out


# One collector per registry, made and registered by register() on first use.
_collectors: weakref.WeakKeyDictionary[CollectorRegistry, TwincacheCollector] = (
    weakref.WeakKeyDictionary()
)
_collectors_lock = threading.Lock()  # guards _collectors


def collector(registry: CollectorRegistry = REGISTRY) -> TwincacheCollector:
    """The collector register() uses for `registry` (made and registered on first use)."""
    with _collectors_lock:
        found = _collectors.get(registry)
        if found is None:
            found = TwincacheCollector()
            registry.register(found)
            _collectors[registry] = found
        return found


def register(
    cache: object, name: str | None = None, *, registry: CollectorRegistry = REGISTRY
) -> str:
    """Exposes `cache` in `registry` (prometheus_client's default one unless given) under the
    label cache=`name` (a decorated function's defaults to `module.qualname`); returns the
    name. See TwincacheCollector.add."""
    return collector(registry).add(cache, name)


def unregister(cache: object, *, registry: CollectorRegistry = REGISTRY) -> bool:
    """Stops exposing a cache (the object or its name) in `registry`; False if it was not."""
    return collector(registry).remove(cache)
