"""The Redis tier for Python: twincache.RedisCache (twincache's memory Cache as L1 in front of
Redis or Valkey as L2) and @twincache.cache(backend="redis"). docs/redis.md is the
specification (names, envelope, scripts, TTL, breaker, stats) shared with Node; the wire format
itself is twincache._redis_envelope.

Never hangs the caller: every Redis call is bounded by `timeout` (socket timeouts on the sync
client twincache creates, asyncio.timeout (wait_for before 3.11) on the async one), nothing is
retried, and a circuit breaker turns the cache L1-only after repeated failures until a probe
finds Redis again. A failed or skipped L2 call is a counted miss (reads) or an L1-only write
(writes), never an exception.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, MutableMapping
from typing import Any, Final

from . import _disk, _options
from . import _redis_envelope as env
from ._api import Cache
from ._backend import warn
from ._redis_clients import _Clients, _redis_module

_MISS: Final[Any] = object()
_FAILED: Final[Any] = object()  # an L2 call that failed, timed out or was not sent
_OUTCOME_COUNTER: Final = {  # open_envelope's refusals -> the counter each one adds to
    env.CORRUPT: "l2_corrupt",
    env.UNREADABLE: "l2_unreadable",
    env.OTHER_KEY: "l2_misses",
}
DETACHED_NS: Final = 1_000_000_000  # L1 lifetime while a coherent cache is not subscribed (1 s)
RECENT_NAMES: Final = 4096  # invalidated names remembered per coherent cache (then: as a flush)
SCAN_COUNT: Final = 1000  # SCAN's COUNT hint, and the size of one UNLINK or MGET batch
CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"
_timeout_scope: Final[Any] = getattr(asyncio, "timeout", None)  # Python 3.11+


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


class CachedError:
    """An exception kept as a decorated function's result (negative caching): the wrapper
    raises it again (with a fresh traceback) instead of returning it."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


# --- the circuit breaker --------------------------------------------------------------------------


class Breaker:
    """Closed: every call goes to Redis. After `threshold` consecutive failures it opens: calls
    are not sent (L1 only) until a probe time, min(max_delay, min_delay * 2**k) * U(0.5, 1] after
    the k-th opening in a row; then one call is let through (half-open). Its success closes the
    breaker, its failure opens it again with the next delay. `clock` is injectable for tests."""

    def __init__(
        self,
        threshold: int,
        min_delay: float,
        max_delay: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.clock = clock
        self.state = CLOSED
        self.failures = 0  # consecutive
        self.openings = 0  # in a row, for the backoff
        self.opened = 0  # total, for stats
        self.recoveries = 0  # closings after an opening
        self.probe_at = 0.0
        self._lock = threading.Lock()  # guards every field above across threads

    def allow(self) -> bool:
        if self.state == CLOSED:
            return True
        with self._lock:
            if self.state == OPEN and self.clock() >= self.probe_at:
                self.state = HALF_OPEN  # this caller probes; the others stay L1-only
                return True
            return self.state == CLOSED

    def abandon(self) -> None:
        """A call that ended without a verdict on Redis (cancelled, interrupted): if it was the
        probe, the next call probes instead, so the breaker is never left half-open."""
        with self._lock:
            if self.state == HALF_OPEN:
                self.state = OPEN
                self.probe_at = self.clock()

    def success(self) -> None:
        if self.state == CLOSED and not self.failures:
            return
        with self._lock:
            if self.state != CLOSED:
                self.recoveries += 1
            self.state, self.failures, self.openings = CLOSED, 0, 0

    def failure(self) -> None:
        with self._lock:
            self.failures += 1
            if self.state == HALF_OPEN or self.failures >= self.threshold:
                delay = min(self.max_delay, self.min_delay * 2**self.openings)
                self.probe_at = self.clock() + delay * (0.5 + 0.5 * random.random())
                self.openings += 1
                self.opened += 1
                self.state = OPEN


def _tls_failure(exc: BaseException) -> bool:
    """Whether a failed call failed in TLS (a refused certificate, a failed verification)."""
    import ssl

    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            break
        if isinstance(seen, ssl.SSLError) or "SSL" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _positive_int(name: str, value: object, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer in [1, {high}] (got {type(value).__name__})")
    if not 1 <= value <= high:
        raise ValueError(f"{name} must be an integer in [1, {high}] (got {value})")
    return value


def _fraction(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number in [0, 1) (got {type(value).__name__})")
    if not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1) (got {value!r})")
    return float(value)


# --- RedisCache -----------------------------------------------------------------------------------


class RedisCache(MutableMapping[Any, Any]):
    """A dict-like cache in Redis (or Valkey), shared by processes, machines and Node
    (codec="json"), with twincache's memory Cache in front (L1). docs/redis.md.

    Keys: anything the key encoding takes (docs/keys.md). Values: bytes travel as they are,
    anything else through the codec (pickle needs a secret; json refuses what it cannot hold
    exactly). `ttl` (seconds) is the default lifetime; L1 never keeps an entry longer than Redis
    does. Sync methods use the sync client; `aget`, `aset`, `adelete`, `acontains`,
    `aget_many`, `aset_many`, `aclear`, `aclose` are their async twins (redis.asyncio).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Any = None,
        namespace: str = env.DEFAULT_NAMESPACE,
        ttl: float | None = None,
        codec: str = "pickle",
        secret: str | bytes | None = None,
        l1_maxsize: int | None = 10_000,
        l1_max_bytes: int | None = None,
        timeout: float = 0.25,
        breaker_threshold: int = 5,
        breaker_delay: tuple[float, float] = (0.1, 10.0),
        ttl_jitter: float = 0.0,
        coherent: bool | None = None,
        cluster: bool = False,
        tls: Mapping[str, Any] | None = None,
        _scope: str | None = None,
    ) -> None:
        self._namespace = env.namespace_option(namespace)
        self._ttl_ms = env.ttl_option("ttl", ttl)
        self._ttl_jitter = _fraction("ttl_jitter", ttl_jitter)
        self._codec = env.codec_option(codec)
        self._timeout = env.timeout_option(timeout)
        threshold = _positive_int("breaker_threshold", breaker_threshold, 1_000_000)
        delays = self._delays(breaker_delay)
        l1_items = _options.limit("l1_maxsize", l1_maxsize)
        l1_bytes = _options.limit("l1_max_bytes", l1_max_bytes)
        self._secret = env.secret_option(secret, self._codec)
        self._clients = _Clients(url, client, self._timeout, cluster, tls)
        self._l1 = Cache(maxsize=l1_items, max_bytes=l1_bytes)
        self._scope = _scope
        # Coherence (twincache._redis_coherence): the listener of this namespace, the L1 entry
        # of each entry name kept in L1, a count of invalidation messages (the epoch), the
        # epoch of each name's latest invalidation and of the latest flush: a read that began
        # before its name's latest invalidation does not fill L1.
        self._listener: Any = None
        self._names: dict[str, Any] = {}
        self._names_limit = 2 * max(l1_items or 0, 512)
        self._epoch = 0
        self._recent: dict[str, int] = {}
        self._flushed_epoch = 0
        # None (the default): coherent when it can be (not with only an asyncio client passed
        # in: the reason goes to stats()["coherence"]); True: coherent or a TypeError.
        required = coherent is not None and _options.flag("coherent", coherent)
        self._coherence = "off"
        self._breaker = Breaker(threshold, delays[0], delays[1])
        self._tls_warned = False
        self._error_types: tuple[type[BaseException], ...] = ()  # set by memoize()
        # A decorated function's freshness (stale, early_refresh: twincache._redis_function's
        # Freshness), set by memoize(): then L1 holds its records and reads return them.
        self._fresh: Any = None
        self._parameters = {"url": self._clients.url, "namespace": self._namespace, "ttl": ttl}
        if self._clients.cluster:
            self._parameters["cluster"] = True
        self._counts = dict.fromkeys(
            (
                "l2_hits",
                "l2_misses",
                "l2_corrupt",
                "l2_unreadable",
                "l2_errors",
                "l2_timeouts",
                "l2_skipped",
                "sets",
                "l2_sets",
                "deletes",
                "invalidations",
                "l1_flushes",
                "bytes_sent",
                "bytes_received",
            ),
            0,
        )
        if coherent is None or coherent:  # last: the listener may call _invalidated at once
            self._listen(required)

    def _listen(self, required: bool) -> None:
        from . import _redis_coherence

        if self._clients.sync is None:
            if required:
                raise TypeError(
                    "coherent=True needs a url or a sync redis.Redis / "
                    "redis.cluster.RedisCluster client"
                )
            self._coherence = (
                "off: an asyncio client was passed in (coherence needs a url or a sync "
                "redis.Redis / redis.cluster.RedisCluster client)"
            )
            return
        sub: Any
        if self._clients.cluster:  # one listener per primary (twincache._redis_cluster)
            from . import _redis_cluster

            startup = self._clients.url or ("client", id(self._clients.sync))
            sub = _redis_cluster.subscribe(
                self._clients.sync, startup, f"{self._namespace}:", self, RedisCache._invalidated
            )
        else:
            sub = _redis_coherence.subscribe(
                self._clients.sync.connection_pool,
                f"{self._namespace}:",
                self,
                RedisCache._invalidated,
            )
        self._listener = sub
        self._coherence = "on"
        # The listener's first subscription (or its failure: Redis down) before the first call,
        # bounded by the timeout: L1 fills from the first call on.
        sub.wait(self._timeout)

    def wait_coherent(self, timeout: float) -> bool:
        """Whether the invalidation listener is subscribed (waiting up to `timeout` seconds);
        until it is, a coherent cache keeps L1 entries 1 s at most. False when not coherent."""
        return self._listener is not None and bool(self._listener.ready.wait(timeout))

    @staticmethod
    def _delays(value: object) -> tuple[float, float]:
        ok = (
            isinstance(value, tuple)
            and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        )
        if not ok or not (0 < value[0] <= value[1] <= 3600):  # type: ignore[index]
            raise ValueError(
                f"breaker_delay must be a (min, max) pair of seconds, 0 < min <= max <= 3600 "
                f"(got {value!r})"
            )
        return float(value[0]), float(value[1])  # type: ignore[index]

    @property
    def namespace(self) -> str:
        return self._namespace

    # -- the L2 call discipline --

    def _failed(self, exc: BaseException) -> Any:
        redis = _redis_module()
        if not self._tls_warned and _tls_failure(exc):  # a setup error: said once, not silent
            self._tls_warned = True
            hint = ""
            if self._clients.url is not None and "ssl_certfile" not in self._clients.tls:
                hint = " (no client certificate was given: the server may require one)"
            warn(
                f"twincache: RedisCache's TLS connection to Redis failed{hint}: {exc}. Check "
                "the tls= options (ca, cert, key); calls fall back to L1 / computing meanwhile"
            )
        if isinstance(exc, (redis.TimeoutError, asyncio.TimeoutError, TimeoutError)):
            self._counts["l2_timeouts"] += 1
        self._counts["l2_errors"] += 1
        if isinstance(exc, redis.ResponseError):
            self._breaker.success()  # the server answered: an error of the command, not of Redis
        else:
            self._breaker.failure()
        return _FAILED

    def _call(self, op: Callable[[Any], Any]) -> Any:
        """op(sync client)'s result, or _FAILED (counted) when the breaker is open, the call
        failed or it timed out."""
        client = self._clients.sync_client()
        if not self._breaker.allow():
            self._counts["l2_skipped"] += 1
            return _FAILED
        try:
            result = op(client)
        except (_redis_module().RedisError, OSError) as exc:
            return self._failed(exc)
        except BaseException:  # not Redis's doing (KeyboardInterrupt...): no verdict
            self._breaker.abandon()
            raise
        self._breaker.success()
        return result

    async def _acall(self, op: Callable[[Any], Awaitable[Any]]) -> Any:
        client = self._clients.async_client()
        if not self._breaker.allow():
            self._counts["l2_skipped"] += 1
            return _FAILED
        try:
            if _timeout_scope is None:  # Python 3.10
                result = await asyncio.wait_for(op(client), self._timeout)
            else:  # no task of its own per call, as wait_for makes before 3.12
                async with _timeout_scope(self._timeout):
                    result = await op(client)
        except (_redis_module().RedisError, OSError, asyncio.TimeoutError) as exc:
            return self._failed(exc)
        except BaseException:  # cancelled: no verdict on Redis
            self._breaker.abandon()
            raise
        self._breaker.success()
        return result

    def _read(self, client: Any, names: list[str]) -> tuple[list[Any], list[Any]]:
        """(values, PTTLs) of the named entries, values None where missing: one round trip
        (docs/redis.md, "Commands"). A name holding another type (a list...) is a miss."""
        if self._clients.cluster:  # once per slot (twincache._redis_cluster)
            return client.read(names)  # type: ignore[no-any-return]
        return self._clients.read(client, names)

    async def _aread(self, client: Any, names: list[str]) -> tuple[list[Any], list[Any]]:
        if self._clients.cluster:
            return await client.read(names)  # type: ignore[no-any-return]
        return await self._clients.aread(client, names)

    # -- envelopes in and out --

    def _name(self, encoded: bytes) -> str:
        return env.entry_name(self._namespace, encoded, self._scope)

    def _seal(
        self, encoded: bytes, value: object, fields: tuple[int, int] | None = None
    ) -> tuple[str, bytes]:
        codec, data = env.dumps(self._codec, value)  # json may refuse: before anything changes
        name = self._name(encoded)
        return name, env.seal(self._secret, name, encoded, codec, data, fresh=fields)

    def _opened(
        self,
        name: str,
        encoded: bytes,
        raw: Any,
        pttl: Any,
        started: float,
        l1_key: Any = None,
        epoch: int = -1,
    ) -> Any:
        """The value of a read's reply (envelope, PTTL) for one key, put in L1 (unless an
        invalidation came since `epoch`, the read's start: coherent caches); else _MISS."""
        counts = self._counts
        if raw is None or raw is False:
            counts["l2_misses"] += 1
            return _MISS
        counts["bytes_received"] += len(raw)
        opened = env.open_envelope(self._secret, name, encoded, raw)
        if type(opened) is str:
            counts[_OUTCOME_COUNTER[opened]] += 1
            return _MISS
        codec, _, data, flags, fields = opened
        try:
            value = env.loads(codec, data)
            if flags & env.FLAG_ERROR:  # a cached exception: only a function that caches them
                value = self._cached_error(codec, value)
        except Exception:  # signed but not decodable here (a class this process lacks)
            counts["l2_unreadable"] += 1
            return _MISS
        if fields is not None or (self._fresh is not None and type(value) is not CachedError):
            return self._opened_fresh(name, encoded, value, fields, pttl, started, l1_key, epoch)
        counts["l2_hits"] += 1
        remaining = None
        if isinstance(pttl, int) and pttl >= 0:
            # No longer than Redis keeps it: its PTTL minus the time the answer took to come.
            remaining = pttl / 1000 - (time.monotonic() - started)
            if remaining <= 0:
                return value
        elif pttl != -1:  # -2: deleted after its value was read (the pipeline): not kept
            return value
        remaining = self._l1_bound(remaining)
        self._l1_put(encoded if l1_key is None else l1_key, value, remaining, name, epoch)
        return value

    def _l1_bound(self, seconds: float | None) -> float | None:
        """How long L1 keeps a value read from Redis: what Redis has left of it (None: no
        expiry), and no longer than this cache's own ttl either, since the pipeline's PTTL may
        be a newer entry's (docs/redis.md, "Commands", rule 3)."""
        if self._ttl_ms is None:
            return seconds
        own = self._ttl_ms / 1000
        return own if seconds is None else min(seconds, own)

    def _opened_fresh(
        self,
        name: str,
        encoded: bytes,
        value: Any,
        fields: tuple[int, int] | None,
        pttl: Any,
        started: float,
        l1_key: Any,
        epoch: int,
    ) -> Any:
        """_opened for an entry with freshness fields, or read by a function with `stale` or
        `early_refresh` (docs/redis.md, "Freshness"). It is fresh while its PTTL exceeds its
        stale window (Redis's clock decides, no host's), then stale until it expires: only a
        function with `stale` returns it then (as a record whose fresh time is over: its hook
        serves it and refreshes); to any other reader it is a miss. A function with freshness
        gets a record (twincache._fresh), kept in L1 for what Redis has left of the entry."""
        counts = self._counts
        stale_ms, delta_us = (0, 0) if fields is None else fields
        fresh = self._fresh
        remaining = fresh_left = None  # seconds Redis keeps it; seconds it stays fresh
        keep = pttl == -1  # -2: deleted after its value was read (the pipeline): not kept
        if isinstance(pttl, int) and pttl >= 0:
            remaining = pttl / 1000 - (time.monotonic() - started)
            fresh_left = remaining - stale_ms / 1000
            keep = True
        serves_stale = fresh is not None and fresh.o.stale_ns > 0
        if fresh_left is not None and fresh_left <= 0 and not serves_stale:
            counts["l2_misses"] += 1  # in its stale window, for a reader that serves none
            return _MISS
        counts["l2_hits"] += 1
        key = encoded if l1_key is None else l1_key
        if fresh is None:
            if keep:
                self._l1_put(key, value, self._l1_bound(fresh_left), name, epoch)
            return value
        fresh_ns = None if fresh_left is None else int(fresh_left * 1e9)
        record = fresh.record(value, fresh_ns, delta_us * 1000)
        if keep and (remaining is None or remaining > 0):
            seconds = remaining if serves_stale else fresh_left
            self._l1_put(key, record, self._l1_bound(seconds), name, epoch)
        return record

    def _cached_error(self, codec: int, decoded: Any) -> CachedError:
        """An error entry's exception, re-made: pickle gives the exception itself, json a
        {"type": "module.QualName", "args": [...]} record. Its class must be one this
        function caches (error_types), else it is unreadable (ValueError)."""
        types = self._error_types
        if codec == env.CODEC_JSON and isinstance(decoded, dict):
            by_name = {_qualified(t): t for t in types}
            cls = by_name.get(decoded.get("type"))  # type: ignore[arg-type]
            args = decoded.get("args")
            if cls is None or not isinstance(args, list):
                raise ValueError("an error entry of a type this function does not cache")
            decoded = cls(*args)
        if not types or not isinstance(decoded, types):
            raise ValueError("an error entry of a type this function does not cache")
        return CachedError(decoded)

    def _error_payload(self, exc: BaseException) -> tuple[int, bytes]:
        """(codec, bytes) of a cached exception: pickle keeps the exception; json keeps the
        listed class it belongs to and its args (str(exc) when they are not JSON)."""
        if self._codec == env.CODEC_PICKLE:
            return env.dumps(self._codec, exc)
        cls = type(exc) if type(exc) in self._error_types else None
        if cls is None:
            cls = next(t for t in self._error_types if isinstance(exc, t))
        record = {"type": _qualified(cls), "args": list(exc.args)}
        try:
            return env.dumps(self._codec, record)
        except TypeError:
            return env.dumps(self._codec, {"type": _qualified(cls), "args": [str(exc)]})

    def _seal_error(self, encoded: bytes, exc: BaseException) -> tuple[str, bytes]:
        codec, data = self._error_payload(exc)
        name = self._name(encoded)
        return name, env.seal(self._secret, name, encoded, codec, data, flags=env.FLAG_ERROR)

    def _l1_put(
        self, l1_key: Any, value: object, seconds: float | None, name: str, epoch: int = -1
    ) -> None:
        """Keeps value in L1 for at most `seconds`. Coherent: not a read's value when an
        invalidation came since the read started (`epoch`): it may be older than the write that
        invalidated it; and for 1 s at most while the listener is not subscribed."""
        ttl_ns = None if seconds is None else max(1, int(seconds * 1e9))
        listener = self._listener
        if listener is None:
            # Larger than l1_max_bytes: not kept (_set says False). No TTL conversion hook.
            self._l1._set(l1_key, value, ttl_ns)
            return
        # This runs for every key a read brings back: _stale's first test is inlined (no call
        # while no invalidation came since the read began); _names remembers which L1 entry an
        # entry name's invalidation drops.
        if epoch < 0:
            epoch = self._epoch  # a write: its value is the newest from now on
        if epoch != self._epoch and self._stale(name, epoch):
            return
        if not listener.ready.is_set():
            # Not subscribed (Redis down, reconnecting): nothing would tell of a write, so kept
            # for DETACHED_S at most; the next subscription flushes L1.
            ttl_ns = DETACHED_NS if ttl_ns is None else min(ttl_ns, DETACHED_NS)
        names = self._names
        names[name] = l1_key
        if len(names) > self._names_limit:
            self._forget_evicted()
        self._l1._set(l1_key, value, ttl_ns)
        if epoch != self._epoch and self._stale(name, epoch):  # invalidated while put in
            self._l1.pop(l1_key, None)

    def _stale(self, name: str, epoch: int) -> bool:
        """Whether `name` was invalidated (or L1 flushed) after `epoch`."""
        return epoch != self._epoch and (
            self._flushed_epoch > epoch or self._recent.get(name, 0) > epoch
        )

    def _forget_evicted(self) -> None:
        """_l1_put remembers which L1 entry an entry name's invalidation drops (self._names).
        Entries L1 evicted are forgotten when that table grows past twice L1's size."""
        live = self._l1
        self._names = {n: k for n, k in list(self._names.items()) if k in live}
        self._names_limit = max(self._names_limit, 2 * len(self._names))

    def _invalidated(self, names: list[str] | None) -> None:
        """The listener's message (its thread): drop these names' L1 entries, or all of L1."""
        self._epoch += 1
        epoch = self._epoch
        if names is None or len(self._recent) + len(names) > RECENT_NAMES:
            self._flushed_epoch = epoch  # reads that began before: not kept, whatever the name
            self._recent = {}
        if names is None:
            self._names = {}
            self._l1.clear()
            self._counts["l1_flushes"] += 1
            return
        recent = self._recent
        tracked = self._names
        for name in names:
            recent[name] = epoch
            l1_key = tracked.pop(name, _MISS)
            if l1_key is not _MISS:
                self._l1.pop(l1_key, None)
                self._counts["invalidations"] += 1

    def _l1_ttl(self, ttl_ms: int | None) -> float | None:
        return None if ttl_ms is None else ttl_ms / 1000

    def _jitter(self, ttl_ms: int | None) -> int | None:
        """ttl x (1 - ttl_jitter x U[0, 1)), whole ms, at least 1: never longer than asked."""
        if ttl_ms is None or not self._ttl_jitter:
            return ttl_ms
        return max(1, int(ttl_ms * (1.0 - self._ttl_jitter * random.random())))

    def _entry_ttl_ms(self, ttl: object) -> int | None:
        return self._ttl_ms if ttl is None else env.ttl_option("ttl", ttl)

    # -- sync reads --

    def _get_encoded(self, encoded: bytes) -> Any:
        value = self._l1.get(encoded, _MISS)
        if value is not _MISS:
            return value
        return self._fetch(encoded, encoded)

    def _fetch(self, encoded: bytes, l1_key: Any) -> Any:
        """The L2 read of an entry L1 does not have (kept in L1 under l1_key), or _MISS."""
        name = self._name(encoded)
        started, epoch = time.monotonic(), self._epoch
        reply = self._call(lambda c: self._read(c, [name]))
        self._counts["bytes_sent"] += len(name)
        if reply is _FAILED:
            return _MISS
        return self._opened(name, encoded, reply[0][0], reply[1][0], started, l1_key, epoch)

    def __getitem__(self, key: Any) -> Any:
        value = self._get_encoded(env.encode_key(key))
        if value is _MISS:
            raise KeyError(key)
        return value

    def get(self, key: Any, default: Any = None) -> Any:
        value = self._get_encoded(env.encode_key(key))
        return default if value is _MISS else value

    def __contains__(self, key: object) -> bool:
        try:
            encoded = env.encode_key(key)
        except (TypeError, ValueError):
            return False
        return self._get_encoded(encoded) is not _MISS

    def get_many(self, keys: Iterable[Any]) -> dict[Any, Any]:
        """{key: value} for the keys found (L1, then one script call for the rest)."""
        found, wanted = self._many_from_l1(keys)
        if not wanted:
            return found
        names = [n for _, _, n in wanted]
        started, epoch = time.monotonic(), self._epoch
        reply = self._call(lambda c: self._read(c, names))
        return self._many_from_reply(found, wanted, reply, started, epoch)

    def get_or_set(
        self, key: Any, fn: Callable[[], Any], ttl: float | None = None, *, lease: float = 10.0
    ) -> Any:
        """key's value; on a miss fn() is called once (across this process's threads and,
        through a lease in Redis, across processes: docs/redis.md, "Single flight across
        processes") and its result stored with `ttl` (seconds; the default TTL when None).
        `lease` (seconds): how long a leader that died holds the others up."""
        from ._redis_flight import get_or_set

        return get_or_set(self, key, fn, ttl, lease)

    def _many_from_l1(
        self, keys: Iterable[Any]
    ) -> tuple[dict[Any, Any], list[tuple[Any, bytes, str]]]:
        """get_many's first half (sync and async): the L1 hits, and (key, encoding, name) of
        the rest."""
        found: dict[Any, Any] = {}
        wanted: list[tuple[Any, bytes, str]] = []
        for key in keys:
            encoded = env.encode_key(key)
            value = self._l1.get(encoded, _MISS)
            if value is not _MISS:
                found[key] = value
            else:
                wanted.append((key, encoded, self._name(encoded)))
        return found, wanted

    def _many_from_reply(
        self,
        found: dict[Any, Any],
        wanted: list[tuple[Any, bytes, str]],
        reply: Any,
        started: float,
        epoch: int,
    ) -> dict[Any, Any]:
        """get_many's second half: the (values, PTTLs) read, opened into found."""
        self._counts["bytes_sent"] += sum(len(n) for _, _, n in wanted)
        if reply is _FAILED:
            return found
        opened = self._opened
        for (key, encoded, name), raw, pttl in zip(wanted, reply[0], reply[1], strict=True):
            value = opened(name, encoded, raw, pttl, started, None, epoch)
            if value is not _MISS:
                found[key] = value
        return found

    # -- sync writes --

    def set(self, key: Any, value: Any, ttl: float | None = None) -> None:
        """Stores value under key in L1 and Redis; ttl (seconds) overrides the default."""
        ttl_ms = self._entry_ttl_ms(ttl)
        self._set_encoded(env.encode_key(key), value, ttl_ms)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._set_encoded(env.encode_key(key), value, self._ttl_ms)

    def _prepare_set(
        self, encoded: bytes, value: object, ttl_ms: int | None, l1_key: Any, delta_ns: int
    ) -> tuple[str, bytes, int | None]:
        """A write's first half (sync and async): (name, envelope, PX), the value put in L1.
        A function with freshness writes its values with the freshness fields, for its jittered
        TTL plus its stale window, and keeps a record in L1 (delta_ns: the computation's time)."""
        fresh = self._fresh
        if type(value) is CachedError:
            name, envelope = self._seal_error(encoded, value.error)
        elif fresh is not None and ttl_ms is not None:
            name, envelope = self._seal(encoded, value, (fresh.stale_ms, delta_ns // 1000))
            fresh_ms = self._jitter(ttl_ms)
            assert fresh_ms is not None
            px = fresh_ms + fresh.stale_ms
            self._counts["sets"] += 1
            record = fresh.record(value, fresh_ms * 1_000_000, delta_ns)
            self._l1_put(encoded if l1_key is None else l1_key, record, px / 1000, name)
            return name, envelope, px
        else:
            name, envelope = self._seal(encoded, value)
        ttl_ms = self._jitter(ttl_ms)
        self._counts["sets"] += 1
        self._l1_put(encoded if l1_key is None else l1_key, value, self._l1_ttl(ttl_ms), name)
        return name, envelope, ttl_ms

    def _set_encoded(
        self,
        encoded: bytes,
        value: object,
        ttl_ms: int | None,
        l1_key: Any = None,
        delta_ns: int = 0,
    ) -> bool:
        name, envelope, ttl_ms = self._prepare_set(encoded, value, ttl_ms, l1_key, delta_ns)
        ok = self._call(lambda c: c.set(name, envelope, px=ttl_ms))
        self._counts["bytes_sent"] += len(name) + len(envelope)
        if ok is _FAILED:
            return False
        self._counts["l2_sets"] += 1
        return True

    def set_many(self, mapping: Mapping[Any, Any], ttl: float | None = None) -> None:
        """Stores every item: one pipelined round trip of SET ... PX. Every value is encoded
        first, so a value the codec refuses changes nothing."""
        items = self._prepare_many(mapping, ttl)
        if not items:
            return

        def run(client: Any) -> Any:
            pipe = client.pipeline(transaction=False)
            for name, envelope, ttl_ms in items:
                pipe.set(name, envelope, px=ttl_ms)
            return pipe.execute()

        if self._call(run) is not _FAILED:
            self._counts["l2_sets"] += len(items)

    def _prepare_many(
        self, mapping: Mapping[Any, Any], ttl: object
    ) -> list[tuple[str, bytes, int | None]]:
        """set_many's first half: every value encoded and sealed (a refusal changes nothing),
        then put in L1; (name, envelope, PX) for the pipeline."""
        ttl_ms = self._entry_ttl_ms(ttl)
        sealed = [
            (encoded, value, *self._seal(encoded, value))
            for encoded, value in ((env.encode_key(k), v) for k, v in mapping.items())
        ]
        items = []
        for encoded, value, name, envelope in sealed:
            px = self._jitter(ttl_ms)
            self._l1_put(encoded, value, self._l1_ttl(px), name)
            items.append((name, envelope, px))
            self._counts["bytes_sent"] += len(name) + len(envelope)
        self._counts["sets"] += len(items)
        return items

    def _delete_encoded(self, encoded: bytes, l1_key: Any = None) -> bool:
        in_l1 = self._l1.pop(encoded if l1_key is None else l1_key, _MISS) is not _MISS
        name = self._name(encoded)
        removed = self._call(lambda c: c.unlink(name))
        self._counts["deletes"] += 1
        return in_l1 or (removed is not _FAILED and removed > 0)

    def __delitem__(self, key: Any) -> None:
        if not self._delete_encoded(env.encode_key(key)):
            raise KeyError(key)

    def delete(self, key: Any) -> bool:
        """Removes key from L1 and Redis; whether either had it."""
        return self._delete_encoded(env.encode_key(key))

    # -- the namespace --

    def _pattern(self, mapping_only: bool) -> str:
        prefix = f"{self._namespace}:" + (f"{self._scope}:" if self._scope else "")
        return prefix + ("?" * 32 if mapping_only else "*")

    def _scan(self, client: Any, pattern: str) -> Iterator[list[Any]]:
        batch: list[Any] = []
        for name in client.scan_iter(match=pattern, count=SCAN_COUNT):
            batch.append(name)
            if len(batch) >= SCAN_COUNT:
                yield batch
                batch = []
        if batch:
            yield batch

    def _unlink_all(self, client: Any, pattern: str) -> int:
        removed = 0
        for batch in self._scan(client, pattern):
            removed += client.unlink(*batch)
        return int(removed)

    def clear(self) -> None:
        """Removes this namespace's entries (SCAN MATCH `<namespace>:*` + UNLINK in batches,
        never KEYS; other namespaces are untouched) and empties L1."""
        self._l1.clear()
        self._call(lambda c: self._unlink_all(c, self._pattern(False)))

    def __len__(self) -> int:
        """How many entries of this namespace Redis holds (a SCAN: O(size of the database))."""
        n = self._call(lambda c: sum(len(b) for b in self._scan(c, self._pattern(True))))
        return 0 if n is _FAILED else int(n)

    def __iter__(self) -> Iterator[Any]:
        """The keys of this namespace's entries (SCAN + MGET; keys come back as the key
        encoding decodes them: lists as tuples). Entries that fail their HMAC are skipped."""

        def collect(client: Any) -> list[Any]:
            keys = []
            for batch in self._scan(client, self._pattern(True)):
                for name, raw in zip(batch, client.mget(batch), strict=True):
                    if raw is None:
                        continue
                    opened = env.open_envelope(self._secret, name.decode(), None, raw)
                    if type(opened) is not str:
                        keys.append(_disk.decode_key(opened[1]))
            return keys

        result = self._call(collect)
        return iter([] if result is _FAILED else result)

    # -- async twins --

    async def _aget_encoded(self, encoded: bytes) -> Any:
        value = self._l1.get(encoded, _MISS)
        if value is not _MISS:
            return value
        return await self._afetch(encoded, encoded)

    async def _afetch(self, encoded: bytes, l1_key: Any) -> Any:
        """The L2 read of an entry L1 does not have (kept in L1 under l1_key), or _MISS."""
        name = self._name(encoded)
        started, epoch = time.monotonic(), self._epoch
        reply = await self._acall(lambda c: self._aread(c, [name]))
        self._counts["bytes_sent"] += len(name)
        if reply is _FAILED:
            return _MISS
        return self._opened(name, encoded, reply[0][0], reply[1][0], started, l1_key, epoch)

    async def aget(self, key: Any, default: Any = None) -> Any:
        value = await self._aget_encoded(env.encode_key(key))
        return default if value is _MISS else value

    async def acontains(self, key: Any) -> bool:
        return await self._aget_encoded(env.encode_key(key)) is not _MISS

    async def aget_many(self, keys: Iterable[Any]) -> dict[Any, Any]:
        found, wanted = self._many_from_l1(keys)
        if not wanted:
            return found
        names = [n for _, _, n in wanted]
        started, epoch = time.monotonic(), self._epoch
        reply = await self._acall(lambda c: self._aread(c, names))
        return self._many_from_reply(found, wanted, reply, started, epoch)

    async def aget_or_set(
        self, key: Any, fn: Callable[[], Any], ttl: float | None = None, *, lease: float = 10.0
    ) -> Any:
        """get_or_set's async twin: fn() returns the value or an awaitable of it."""
        from ._redis_flight import aget_or_set

        return await aget_or_set(self, key, fn, ttl, lease)

    async def _aset_encoded(
        self,
        encoded: bytes,
        value: object,
        ttl_ms: int | None,
        l1_key: Any = None,
        delta_ns: int = 0,
    ) -> bool:
        name, envelope, ttl_ms = self._prepare_set(encoded, value, ttl_ms, l1_key, delta_ns)
        ok = await self._acall(lambda c: c.set(name, envelope, px=ttl_ms))
        self._counts["bytes_sent"] += len(name) + len(envelope)
        if ok is _FAILED:
            return False
        self._counts["l2_sets"] += 1
        return True

    async def aset(self, key: Any, value: Any, ttl: float | None = None) -> None:
        ttl_ms = self._entry_ttl_ms(ttl)
        await self._aset_encoded(env.encode_key(key), value, ttl_ms)

    async def aset_many(self, mapping: Mapping[Any, Any], ttl: float | None = None) -> None:
        items = self._prepare_many(mapping, ttl)
        if not items:
            return

        async def run(client: Any) -> Any:
            pipe = client.pipeline(transaction=False)
            for name, envelope, ttl_ms in items:
                pipe.set(name, envelope, px=ttl_ms)
            return await pipe.execute()

        if await self._acall(run) is not _FAILED:
            self._counts["l2_sets"] += len(items)

    async def _adelete_encoded(self, encoded: bytes, l1_key: Any = None) -> bool:
        in_l1 = self._l1.pop(encoded if l1_key is None else l1_key, _MISS) is not _MISS
        name = self._name(encoded)
        removed = await self._acall(lambda c: c.unlink(name))
        self._counts["deletes"] += 1
        return in_l1 or (removed is not _FAILED and removed > 0)

    async def adelete(self, key: Any) -> bool:
        return await self._adelete_encoded(env.encode_key(key))

    async def aclear(self) -> None:
        self._l1.clear()
        pattern = self._pattern(False)

        async def run(client: Any) -> int:
            removed, batch = 0, []
            async for name in client.scan_iter(match=pattern, count=SCAN_COUNT):
                batch.append(name)
                if len(batch) >= SCAN_COUNT:
                    removed += await client.unlink(*batch)
                    batch = []
            if batch:
                removed += await client.unlink(*batch)
            return removed

        await self._acall(run)

    # -- the rest --

    def stats(self) -> dict[str, Any]:
        """Counters of this cache object (docs/redis.md, Stats)."""
        l1 = self._l1.stats()
        out: dict[str, Any] = {
            "hits": l1["hits"] + self._counts["l2_hits"],
            "misses": l1["misses"] - self._counts["l2_hits"],
            "l1_hits": l1["hits"],
            "l1_misses": l1["misses"],
            "l1_items": l1["items"],
            "l1_bytes": l1.get("bytes", 0),
        }
        out.update(self._counts)
        b = self._breaker
        out["breaker"] = b.state
        out["breaker_opened"] = b.opened
        out["reconnects"] = b.recoveries
        out["coherence"] = self._coherence
        return out

    def _leave(self) -> None:
        """Leaves the invalidation listener (closed with the last cache that used it)."""
        if self._listener is not None:
            self._listener.close()

    def close(self) -> None:
        """Closes the clients this cache made (a client passed in stays open) and its place on
        the invalidation listener."""
        self._leave()
        self._clients.close()

    async def aclose(self) -> None:
        self._leave()
        await self._clients.aclose()

    def __enter__(self) -> RedisCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._parameters.items() if v is not None)
        return f"twincache.RedisCache({args})"


__all__ = ["Breaker", "CachedError", "RedisCache"]
