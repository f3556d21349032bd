"""The persistent tier for Python: twincache.DiskCache (a MutableMapping over a cache directory)
and the disk backend of @twincache.cache(backend="disk"). docs/persistence.md is the user guide.

The store underneath is twincache._disk_native (the C++ disk_store: SQLite, zstd, HMAC-SHA256)
or, when that cannot load or TWINCACHE_PURE=1, its pure-Python twin twincache._disk_pure; both
write the same files. This module serializes values (pickle or json) and builds keys:

- DiskCache keys: the canonical key encoding (docs/keys.md) of the key itself, so a str key
  written here is the same entry for Node's DiskCache.
- Function results: the encoding of ["twincache.fn/1", module, qualified name, source hash,
  [args...], {kwargs...}], where the source hash is SHA-256 over the function's syntax tree
  (comments, whitespace and decorators ignored), so editing the function stops old entries from
  being served. numpy arrays are keyed by their buffers, pandas objects by
  pandas.util.hash_pandas_object (never pickled).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import inspect
import json
import mmap
import os
import pickle
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from typing import Any, Final, Generic, Protocol, overload

from . import _disk_pure, _disk_tags, _disk_values, _fork, _fresh, _options
from ._backend import impl, pure_requested, warn
from ._disk_keys import _encode_key as _encode_key
from ._disk_keys import _key_bytes as _key_bytes
from ._disk_keys import _key_part as _key_part
from ._disk_keys import decode_key as decode_key
from ._disk_keys import source_hash as source_hash
from ._types import AnyK, Codec, DiskStats, EvictionReason, T, V

CODEC_RAW: Final = 0  # bytes values, stored as they are whatever the codec
CODECS: Final = {"pickle": 1, "json": 2}
_CODEC_V8: Final = 3  # Node's v8 serializer (core/include/twincache/disk_store.hpp)
L1_MAX_BYTES: Final = 64 << 20
COMPRESS_THRESHOLD: Final = 4096
# How long a call waits for another connection's lock on the database (SQLite's busy timeout)
# before it fails with OSError; a read that finds the database locked that long is a miss.
# docs/persistence.md, "Waits and their limits". Read when a store opens (tests shorten it).
BUSY_TIMEOUT_MS = 30_000
_NOT_GIVEN: Final[Any] = object()


class _Store(Protocol):  # what _disk_native.DiskStore and _disk_pure.PureDiskStore provide
    path: str
    warning: str

    @property
    def persistent(self) -> bool: ...

    def get(self, key: bytes, files: bool = False, use: bool = True) -> tuple[Any, ...] | None: ...
    def set(
        self, key: bytes, codec: int, value: bytes, ttl_ns: int | None = None
    ) -> tuple[int, int]: ...
    def set_parts(
        self, key: bytes, codec: int, head: bytes, body: Any, ttl_ns: int | None = None
    ) -> tuple[int, int]: ...
    def verify(self, key: bytes, codec: int, head: Any, body: Any, mac: bytes) -> bool: ...
    def generation(self) -> int: ...
    def erase(self, key: bytes) -> bool: ...
    def contains(self, key: bytes) -> bool: ...
    def clear(self) -> int: ...
    def prune(self) -> int: ...
    def keys(self, expired: bool = False) -> list[bytes]: ...
    def count(self) -> int: ...
    def stats(self) -> dict[str, int]: ...
    def info(self) -> dict[str, Any]: ...
    def reset_stats(self) -> None: ...
    def note_hits(self, n: int) -> None: ...
    def l1_epoch(self) -> int: ...
    def flush(self) -> None: ...
    def drop_l1(self) -> None: ...
    def report_removals(self, on: bool, values: bool = True) -> None: ...
    def has_removals(self) -> bool: ...
    def take_removals(self) -> list[tuple[bytes, str, int, bytes | None]]: ...


# --- choosing the store ---------------------------------------------------------------------------


def _load_native() -> Any:
    if pure_requested():
        return None
    try:
        from . import _disk_native
    except ImportError as exc:
        warn(
            f"twincache: the native disk tier could not be imported ({exc}); DiskCache uses its "
            "pure-Python implementation (same files, slower)"
        )
        return None
    return _disk_native


_native_disk: Any = _load_native()
native: Final = _native_disk is not None
_warned_paths: set[str] = set()


def default_directory() -> str:
    """$TWINCACHE_DIR, else $XDG_CACHE_HOME/twincache, else ~/.cache/twincache."""
    if _native_disk is not None:
        d: str = _native_disk.default_directory()
        return d
    return _disk_pure.default_directory()


def open_store(
    path: str | None, max_bytes: int | None, ttl_ns: int | None, l1_max_bytes: int = 0
) -> _Store:
    """Opens the store of a directory. A directory that cannot be used gives one warning (per
    directory and process) and a store that keeps entries in memory only. Python keeps its own
    memory tier (_MemoryTier, holding the bytes objects), so the store's L1 is off by default."""
    where = os.fspath(path) if path is not None else default_directory()
    store: _Store
    if _native_disk is not None:
        store = _native_disk.DiskStore(
            where, max_bytes, ttl_ns, l1_max_bytes, COMPRESS_THRESHOLD, BUSY_TIMEOUT_MS
        )
    else:
        store = _disk_pure.PureDiskStore(
            where, max_bytes, ttl_ns, l1_max_bytes, COMPRESS_THRESHOLD, BUSY_TIMEOUT_MS / 1000
        )
    if store.warning and store.persistent:  # a damaged cache.db moved aside: each time
        warn(store.warning)
    elif store.warning and where not in _warned_paths:
        _warned_paths.add(where)
        warn(store.warning)
    return store


def _wall_now() -> int:
    if _native_disk is not None:
        now: int = _native_disk.wall_now()
        return now
    return _disk_pure.wall_now()


class _MemoryTier:
    """The memory tier of a DiskCache: encoded key -> _Entry, bounded by bytes, least recently
    used out first. It holds the very bytes objects it was given or read (immutable), so a hit
    copies nothing: a bytes value comes back as the same object. A value that is immutable all
    the way down (_shareable: str, int, tuple of those...) is also kept decoded, so its hit
    unpickles nothing; any other value is decoded again on every hit, so each reader gets its
    own copy, as from disk.

    It is valid while the directory's generation nonce (docs/persistence.md) has not moved
    behind the store's back. The hot path reads the nonce itself, through `gen` (the 8 bytes of
    <dir>/generation, mapped read-only): equal to `seen`, nothing changed since the last look.
    When it differs, sync() asks the store's l1_epoch(), which tells a write of this store (the
    tier stays) from another writer's (the tier is dropped). Locks: `lock` serializes the
    writers (put, drop, clear, reset: the byte count and eviction); reads (DiskCache._read, the
    hot path) take no lock, each of their dict operations being atomic under the GIL."""

    def __init__(self, store: _Store, max_bytes: int) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self.entries: OrderedDict[bytes, _Entry] = OrderedDict()
        self.bytes = 0
        self.hits = 0  # not yet handed to the store (note_hits)
        self.lock = threading.Lock()
        _fork.track(self, ("lock",))  # a forked child gets a new one (twincache._fork)
        self.gen = _map_generation(store.path)
        self.seen = self.gen[0]
        self.epoch = store.l1_epoch()

    def sync(self) -> None:
        """The nonce moved: drops everything if another writer changed the directory. `seen`
        takes the value read before asking the store, so a write that lands meanwhile is looked
        at again on the next read."""
        seen = self.gen[0]
        e = self.store.l1_epoch()
        if e != self.epoch:
            self.reset(e)
        self.seen = seen

    def check(self) -> None:
        """Drops everything if another writer changed the directory."""
        if self.gen[0] != self.seen:
            self.sync()

    def reset(self, epoch: int) -> None:
        with self.lock:
            self.entries.clear()
            self.bytes = 0
            self.epoch = epoch

    def put(self, key: bytes, codec: int, data: bytes, expiry: int, value: Any) -> None:
        """value: the decoded value when it may be shared (_shareable), else _UNDECODED."""
        weight = len(key) + len(data) + 64
        if weight > self.max_bytes // 4:
            return
        entry = (value, expiry, codec, data if value is _UNDECODED else None, weight)
        entries = self.entries
        with self.lock:
            old = entries.pop(key, None)
            if old is not None:
                self.bytes -= old[4]
            entries[key] = entry
            self.bytes += weight
            while self.bytes > self.max_bytes:
                self._drop(next(iter(self.entries)))

    def _drop(self, key: bytes) -> None:
        old = self.entries.pop(key, None)
        if old is not None:
            self.bytes -= old[4]

    def drop(self, key: bytes) -> None:
        with self.lock:
            self._drop(key)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.bytes = 0


# A memory tier entry: (decoded value or _UNDECODED, expiry (wall ns, 0: never), codec, the
# stored bytes (None when the value is kept decoded), weight in bytes).
_Entry = tuple[Any, int, int, "bytes | None", int]
_UNDECODED: Final[Any] = object()
_MISS: Final[Any] = object()


def _map_generation(path: str) -> memoryview:
    """<dir>/generation (which the store created when it opened), mapped read-only: element 0
    of the view is the directory's generation nonce, read with one load."""
    fd = os.open(path + "/generation", os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        mapped = mmap.mmap(fd, 8, mmap.MAP_SHARED, mmap.PROT_READ)
    finally:
        os.close(fd)
    return memoryview(mapped).cast("Q")


_SCALARS: Final = frozenset({str, bytes, int, float, bool, complex, type(None)})


def _shareable(value: object, depth: int = 0) -> bool:
    """Whether value is immutable all the way down (exact types only: a subclass may carry a
    mutable __dict__), so that every reader may be handed the same object."""
    t = type(value)
    if t in _SCALARS:
        return True
    if (t is tuple or t is frozenset) and depth < 4 and len(value) <= 64:  # type: ignore[arg-type]
        return all(_shareable(v, depth + 1) for v in value)  # type: ignore[attr-defined]
    return False


# Test hooks: the wall clock that expiry decisions of disk stores read.
def clock_set_manual(start_ns: int) -> None:
    _disk_pure.clock_set_manual(start_ns)
    if _native_disk is not None:
        _native_disk.clock_set_manual(start_ns)


def clock_advance(delta_ns: int) -> None:
    _disk_pure.clock_advance(delta_ns)
    if _native_disk is not None:
        _native_disk.clock_advance(delta_ns)


def clock_set_real() -> None:
    _disk_pure.clock_set_real()
    if _native_disk is not None:
        _native_disk.clock_set_real()


# --- values ---------------------------------------------------------------------------------------


def _codec_id(codec: object) -> int:
    if not isinstance(codec, str):
        raise TypeError(f"codec must be 'pickle' or 'json' (got {type(codec).__name__})")
    if codec not in CODECS:
        raise ValueError(f"codec must be 'pickle' or 'json' (got {codec!r})")
    return CODECS[codec]


def _dumps(codec: int, value: object) -> tuple[int, bytes]:
    """(codec actually used, data): bytes values are stored raw (readable as a Buffer in Node).
    numpy arrays and pandas objects: DiskCache._store_typed."""
    if type(value) is bytes:
        return CODEC_RAW, value
    return codec, _serialize(codec, value)


def _json_key_error(value: object) -> str | None:
    """Why a value json.dumps accepted would not come back equal: a dict key that is not a str
    (json turns 1, 1.5, True and None into strings, so {1: 2} would read back as {'1': 2} and
    {1: 'a', '1': 'b'} as one item). None when every key is a str. Only called after json.dumps
    succeeded, so the value has no cycles."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            for k, item in v.items():
                if not isinstance(k, str):
                    return f"dict keys must be str, got {type(k).__name__} {k!r}"
                stack.append(item)
        elif isinstance(v, (list, tuple)):
            stack.extend(v)
    return None


def _serialize(codec: int, value: object) -> bytes:
    if codec == 2:
        # Strict: a value JSON cannot hold exactly (NaN, a non-str key, a set, an object) is
        # refused, never stored as something else (docs/persistence.md).
        try:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
            why = _json_key_error(value)
            # A lone surrogate passes json.dumps but not UTF-8 (found by fuzz_codecs.py).
            data = text.encode("utf-8")
        except (TypeError, ValueError) as exc:
            why = str(exc)
        if why is not None:
            raise TypeError(
                f"codec='json' cannot store this {type(value).__name__} ({why}); use codec='pickle'"
            ) from None
        return data
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _loads(codec: int, data: bytes) -> Any:
    if codec == CODEC_RAW:
        return data
    if codec == 2:
        return json.loads(data.decode("utf-8"))
    if codec == 1:
        return pickle.loads(data)  # signed by this directory's secret (HMAC): checked
    if codec == _disk_values.CODEC_ARRAY:
        return _disk_values.array_from(data)
    if codec == _disk_values.CODEC_ARROW:
        return _disk_values.frame_from(data)
    if codec == _CODEC_V8:  # as Node raises for a pickle entry
        raise ValueError(
            "this entry was stored by Node with codec 'v8' (Node's v8 serializer, codec 3), "
            "which Python cannot read; use codec='json' on both sides to share entries "
            "between languages"
        )
    raise ValueError(f"this entry has an unknown codec ({codec})")


# --- DiskCache ------------------------------------------------------------------------------------


def _stats_of(raw: dict[str, int]) -> DiskStats:
    return {
        "hits": raw["hits"],
        "misses": raw["misses"],
        "l1_hits": raw["l1_hits"],
        "sets": raw["sets"],
        "rejected": raw["rejected"],
        "evictions": raw["evicted"],
        "evicted_items": 0,
        "evicted_bytes": raw["evicted"],
        "expirations": raw["expired"],
        "deleted": raw["deleted"],
        "cleared": raw["cleared"],
        "corrupt": raw["corrupt"],
        "write_errors": raw.get("write_errors", 0),
        "items": raw["items"],
        "bytes": raw["bytes"],
    }


def _path_arg(path: object) -> str | None:
    if path is None:
        return None
    if not isinstance(path, (str, os.PathLike)):
        kind = type(path).__name__
        raise TypeError(f"path must be a str, a path-like object or None (got {kind})")
    result = os.fspath(path)
    if not isinstance(result, str):
        raise TypeError("path must be a str path (got bytes)")
    return result


class DiskCache(MutableMapping[AnyK, V], Generic[AnyK, V]):
    """A dict-like cache in a directory, shared by processes and by Node (codec="json").

    Keys: anything the key encoding takes (str, int, float, bytes, None, bool, tuples, lists,
    dicts, sets, numpy arrays). Values: bytes are stored as they are; anything else through the
    codec: pickle (the default) or JSON (codec="json", readable from other languages).
    `max_bytes` bounds the directory's total (approximate LRU); `ttl` (seconds) is the default
    lifetime of an entry. A memory tier of 64 MiB in front serves repeated reads. Generic in
    its key and value types for type checkers: twincache.DiskCache[str, int](path).
    on_evict(key, value, reason) is told of each entry this handle removes or replaces
    (docs/persistence.md, "Freshness and control").
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        max_bytes: int | None = None,
        ttl: float | None = None,
        codec: Codec = "pickle",
        *,
        on_evict: Callable[[AnyK, V, EvictionReason], object] | None = None,
    ) -> None:
        where = _path_arg(path)
        limit = _options.limit("max_bytes", max_bytes)
        ttl_ns = _options.ttl("ttl", ttl)
        codec_id = _codec_id(codec)
        callback = _options.key_function("on_evict", on_evict)
        self._parameters = {"path": where, "max_bytes": max_bytes, "ttl": ttl, "codec": codec}
        self._setup(where, limit, ttl_ns, codec_id)
        if callback is not None:  # a subclass: a cache without on_evict keeps its code paths
            _disk_fresh.notifying(self, callback)

    def _setup(self, where: str | None, limit: int | None, ttl_ns: int | None, codec: int) -> None:
        self._codec = codec
        self._ttl_ns = ttl_ns
        self._store = open_store(where, limit, ttl_ns)
        self._memory: _MemoryTier | None = None
        if self._store.persistent:
            self._memory = _MemoryTier(self._store, L1_MAX_BYTES)
            _track(self)

    @property
    def path(self) -> str:
        return self._store.path

    @property
    def persistent(self) -> bool:
        """False when the directory could not be used and entries live in memory only."""
        return bool(self._store.persistent)

    # -- encoded keys (memoized functions and the mapping share these) --

    def _read(self, encoded: bytes, mmap: bool = False) -> Any:
        """Hot path: the value of an encoded key, or _MISS. The memory tier first (current while
        the mapped generation nonce equals the one it last saw: one load; then one dict lookup;
        a shareable value comes back as it is, any other is decoded from the kept bytes), else
        the store, whose hit fills the memory tier."""
        memory = self._memory
        if memory is not None:
            if memory.gen[0] != memory.seen:
                memory.sync()
            entry = memory.entries.get(encoded)
            if entry is not None:
                if not entry[1] or _wall_now() < entry[1]:
                    try:  # noqa: SIM105 - hot path: contextlib.suppress costs ~0.5 us
                        memory.entries.move_to_end(encoded)
                    except KeyError:  # dropped meanwhile by another thread
                        pass
                    memory.hits += 1
                    value = entry[0]
                    if value is _UNDECODED:
                        return _loads(entry[2], entry[3])  # type: ignore[arg-type]
                    return value
                memory.drop(encoded)
        hit = self._store.get(encoded, True)
        if hit is not None and len(hit) == 4:  # an array or frame in a side file: read here
            value = _disk_values.load_file(self._store, encoded, hit[0], hit[1], hit[3], mmap)
            if value is not None:
                return value
            hit = self._store.get(encoded)  # missing or damaged: counted and removed there
        if hit is None:
            return _MISS
        codec, data, expiry = hit
        value = data if codec == CODEC_RAW else _loads(codec, data)
        if memory is not None:
            shared = type(value) in _SCALARS or _shareable(value)
            memory.put(encoded, codec, data, expiry, value if shared else _UNDECODED)
        return value

    def _sync_hits(self) -> None:
        memory = self._memory
        if memory is not None and memory.hits:
            n, memory.hits = memory.hits, 0
            self._store.note_hits(n)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._sync_hits()

    def _store_encoded(
        self, encoded: bytes, value: object, ttl_ns: int | None, **tagged: Any
    ) -> None:
        """Stores value; tagged (tags=, meta=: the native store only) are written with its row,
        in its transaction."""
        self._sync_hits()
        if _disk_values.is_array(value):
            header, body = _disk_values.array_parts(value)
            self._store_typed(encoded, _disk_values.CODEC_ARRAY, header, body, ttl_ns, **tagged)
            return
        if _disk_values.is_frame(value):
            ipc = memoryview(_disk_values.frame_bytes(value))
            self._store_typed(encoded, _disk_values.CODEC_ARROW, b"", ipc, ttl_ns, **tagged)
            return
        codec, data = _dumps(self._codec, value)
        # native: queued for the writer thread
        self._store.set(encoded, codec, data, ttl_ns, **tagged)
        memory = self._memory
        if memory is not None:
            memory.check()
            life = ttl_ns if ttl_ns is not None else self._ttl_ns
            # Kept decoded only when a read from disk would give an equal value of the same
            # type: json turns tuples into lists, so with json only scalars are.
            shared = codec != 2 or type(value) in _SCALARS
            memory.put(
                encoded,
                codec,
                data,
                _wall_now() + life if life else 0,
                value if shared and _shareable(value) else _UNDECODED,
            )

    def _store_typed(
        self,
        encoded: bytes,
        codec: int,
        header: bytes,
        body: Any,
        ttl_ns: int | None,
        **tagged: Any,
    ) -> None:
        """A numpy array (tcarray/1) or a pandas object (Arrow IPC): header and body handed to
        the store as two pieces, so a large one goes to its file without a joined copy and
        uncompressed (docs/persistence.md, "Typed values")."""
        self._store.set_parts(encoded, codec, header, body, ttl_ns, **tagged)
        memory = self._memory
        if memory is None:
            return
        memory.check()
        if len(header) + body.nbytes < _disk_pure.FILE_THRESHOLD:
            life = ttl_ns if ttl_ns is not None else self._ttl_ns
            data = header + body.tobytes()
            expiry = _wall_now() + life if life else 0
            memory.put(encoded, codec, data, expiry, _UNDECODED)
        else:
            memory.drop(encoded)  # read from its file (or mapped), never kept in memory

    def _erase_encoded(self, encoded: bytes) -> bool:
        if self._memory is not None:
            self._memory.drop(encoded)
        return bool(self._store.erase(encoded))

    # -- the mapping --

    def __getitem__(self, key: AnyK) -> V:
        value: V = self._read(_key_bytes(key))
        if value is _MISS:
            raise KeyError(key)
        return value

    @overload
    def get(self, key: AnyK, default: None = None, /, *, mmap: bool = False) -> V | None: ...
    @overload
    def get(self, key: AnyK, default: V | T, /, *, mmap: bool = False) -> V | T: ...
    def get(self, key: AnyK, default: Any = None, *, mmap: bool = False) -> Any:
        """The value of key, else default. mmap=True: a large numpy array (a side file of its
        own) comes back memory-mapped read-only from that file, after its HMAC is checked over
        the mapped bytes (docs/persistence.md, "Memory-mapped arrays"); any other value is
        read as usual."""
        if not isinstance(mmap, bool):
            raise TypeError(f"mmap must be True or False (got {type(mmap).__name__})")
        value = self._read(_key_bytes(key), mmap)
        return default if value is _MISS else value

    def set(
        self,
        key: AnyK,
        value: V,
        ttl: float | None = None,
        *,
        tags: Iterable[str] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        """Stores value under key; ttl (seconds) overrides the cache's default for this entry.
        tags (strings) and meta (a small JSON-able dict) are kept with the entry for query()
        and evict(tag=...) (docs/persistence.md, "Tags, metadata and queries")."""
        ttl_ns = _options.ttl("ttl", ttl)
        tag_list = _disk_tags.check_tags(tags)
        meta_json = _disk_tags.check_meta(meta)
        encoded = _encode_key(key)
        if not tag_list and meta_json is None:
            self._store_encoded(encoded, value, ttl_ns)
            return
        self._tagged_store(encoded, value, ttl_ns, tag_list, meta_json)

    def _tagged_store(
        self,
        encoded: bytes,
        value: object,
        ttl_ns: int | None,
        tag_list: list[str],
        meta_json: str | None,
    ) -> None:
        # Value, tags and meta in one transaction (docs/persistence.md, "Tags, metadata and
        # queries"), committed when set() returns.
        tagger = self._tagger()
        if tagger is None:  # a memory-only cache: no tags
            self._store_encoded(encoded, value, ttl_ns)
            return
        tagger.ensure()  # the tables and triggers exist before the value's row is written
        with_row = getattr(self._store, "with_row", None)
        if with_row is not None:  # the pure store: a hook inside its set's transaction
            hook = functools.partial(_disk_tags.write, tags=tag_list, meta=meta_json)
            with with_row(hook):
                self._store_encoded(encoded, value, ttl_ns)
            return
        # The native store: the tags travel with the write to the writer thread's batch.
        self._store_encoded(encoded, value, ttl_ns, tags=tag_list, meta=meta_json)
        try:
            self._store.flush()  # committed when set() returns, as the pure store's
        except BaseException:  # the batch rolled back: the new value must not be served
            self._store.drop_l1()
            if self._memory is not None:
                self._memory.drop(encoded)
            raise

    def _tagger(self) -> _disk_tags.Tags | None:
        """The tags and metadata of this directory (None for a memory-only cache)."""
        if not self._store.persistent:
            return None
        t: _disk_tags.Tags | None = getattr(self, "_tags", None)
        if t is None:
            t = self._tags = _disk_tags.Tags(self._store.path)
        return t

    def query(
        self, tag: str | None = None, where: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """The live entries (optionally: with this tag, and whose meta has these field values),
        without loading their values: dicts of key, size (bytes stored), created and expires
        (Unix seconds, or None), tags and meta; oldest access first."""
        if tag is not None and not isinstance(tag, str):
            raise TypeError(f"tag must be a string or None (got {type(tag).__name__})")
        if where is not None and not isinstance(where, Mapping):
            raise TypeError(f"where must be a dict of meta fields (got {type(where).__name__})")
        tagger = self._tagger()
        if tagger is None:
            return []
        self._store.flush()
        rows = tagger.query(_wall_now(), tag, where)
        out = []
        for key, size, created, expiry, meta, tags in rows:
            out.append(
                {
                    "key": decode_key(key),
                    "size": size,
                    "created": created / 1e9 if created is not None else None,
                    "expires": expiry / 1e9 if expiry else None,
                    "tags": tags.split("\x1f") if tags else [],
                    "meta": json.loads(meta) if meta else {},
                }
            )
        return out

    def evict(self, tag: str) -> int:
        """Removes every entry tagged `tag`, in one transaction; returns how many."""
        if not isinstance(tag, str) or not tag:
            raise TypeError(f"tag must be a non-empty string (got {tag!r})")
        tagger = self._tagger()
        if tagger is None:
            return 0
        self._store.flush()
        n = tagger.evict(tag)
        if self._memory is not None:
            self._memory.clear()
        return n

    def __setitem__(self, key: AnyK, value: V) -> None:
        self._store_encoded(_encode_key(key), value, None)

    def __delitem__(self, key: AnyK) -> None:
        if not self._erase_encoded(_encode_key(key)):
            raise KeyError(key)

    @overload
    def pop(self, key: AnyK, /) -> V: ...
    @overload
    def pop(self, key: AnyK, default: V | T, /) -> V | T: ...
    def pop(self, key: AnyK, default: Any = _NOT_GIVEN) -> Any:
        encoded = _encode_key(key)
        value = self._read(encoded)
        if value is _MISS or not self._erase_encoded(encoded):
            if default is _NOT_GIVEN:
                raise KeyError(key)
            return default
        return value

    def __contains__(self, key: object) -> bool:
        try:
            encoded = _encode_key(key)
        except (TypeError, ValueError):
            return False
        return bool(self._store.contains(encoded))

    def __len__(self) -> int:
        return int(self._store.count())

    def __iter__(self) -> Iterator[AnyK]:
        return iter([decode_key(k) for k in self._store.keys()])  # noqa: SIM118

    def clear(self) -> None:
        """Removes every entry of the directory (all processes' and languages')."""
        if self._memory is not None:
            self._memory.clear()
        self._store.clear()

    def flush(self) -> None:
        """Waits until every write made so far is committed to the directory (the native store
        commits in the background, within milliseconds; see docs/persistence.md). Raises OSError
        if a batch could not be committed."""
        self._sync_hits()
        self._store.flush()

    def prune(self) -> int:
        """Removes expired entries and evicts down to max_bytes; returns how many went."""
        return int(self._store.prune())

    def expire(self) -> int:
        """Drops expired entries now (and entries over max_bytes, as prune(), which it is under
        the memory Cache's name); returns how many went."""
        return self.prune()

    @overload
    def peek(self, key: AnyK, default: None = None, /) -> V | None: ...
    @overload
    def peek(self, key: AnyK, default: V | T, /) -> V | T: ...
    def peek(self, key: AnyK, default: Any = None) -> Any:
        """The value of key, else default, without it counting as use: no hit or miss counted,
        its recency (the eviction order) unchanged."""
        return _disk_fresh.peek(self, key, default)

    def ttl_of(self, key: AnyK) -> float | None:
        """Seconds left before key expires: None when absent or expired, math.inf when it has
        no TTL. Not use, as peek()."""
        return _disk_fresh.ttl_of(self, key)

    def stats(self) -> DiskStats:
        """This process's counters; `items` and `bytes` are the directory's."""
        self._sync_hits()
        return _stats_of(self._store.stats())

    def info(self) -> dict[str, Any]:
        """The directory's totals, as `python -m twincache info` prints them."""
        self._sync_hits()
        return self._store.info()

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._parameters.items() if v is not None)
        where = "" if self.persistent else " (memory only)"
        return f"twincache.DiskCache({args}) at {self.path}{where}"


# Open caches, flushed when the interpreter exits (the native store's destructor does it too,
# but objects alive at exit are not always destroyed).
# (A dict of weak references: a MutableMapping is not hashable, so no WeakSet.)
_live: dict[int, weakref.ref[DiskCache]] = {}


def _track(cache: DiskCache) -> None:
    key = id(cache)

    def forget(_ref: object) -> None:
        _live.pop(key, None)

    _live[key] = weakref.ref(cache, forget)


@atexit.register
def _flush_all() -> None:
    for ref in list(_live.values()):
        cache = ref()
        if cache is not None:
            with contextlib.suppress(Exception):
                cache.flush()


# --- function results -----------------------------------------------------------------------------


def memoize(
    func: Callable[..., Any],
    *,
    path: str | None,
    max_bytes: int | None,
    ttl_ns: int | None,
    codec: int,
    key_fn: Callable[..., Any] | None,
    mmap: bool = False,
    tags_fn: Callable[..., Any] | None = None,
    meta_fn: Callable[..., Any] | None = None,
    freshness: _fresh.Options | None = None,
) -> Any:
    """The disk backend of @twincache.cache(backend="disk"): results keyed by content and by the
    function's identity (module, qualified name, source hash). mmap: large numpy results come
    back memory-mapped read-only (DiskCache.get(key, mmap=True)). freshness: the options of
    twincache._fresh; with stale, early_refresh or cache_errors each entry is a freshness record
    (twincache._disk_fresh), under an identity of its own."""
    if not callable(func):
        raise TypeError(f"the decorated object must be callable (got {type(func).__name__})")
    cache = DiskCache.__new__(DiskCache)
    cache._parameters = {"path": path, "max_bytes": max_bytes}
    cache._setup(path, max_bytes, ttl_ns, codec)
    records = freshness is not None and freshness.records
    jitter = freshness if freshness is not None and freshness.jitter and not records else None
    identity = [
        "twincache.fn/1+fresh" if records else "twincache.fn/1",
        getattr(func, "__module__", None) or "",
        getattr(func, "__qualname__", None) or getattr(func, "__name__", ""),
        source_hash(func),
    ]
    counts = {"hits": 0, "misses": 0}
    qualname = identity[2]

    def key_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
        if key_fn is not None:
            parts: object = [*identity, [_key_part(key_fn(*args, **kwargs))], {}]
        else:
            parts = [
                *identity,
                [_key_part(a) for a in args],
                {k: _key_part(v) for k, v in kwargs.items()},
            ]
        try:
            encoded: bytes = impl.encode_key(parts)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"the arguments of {qualname}() cannot key a disk cache entry: {exc}"
            ) from None
        return encoded

    def lookup(k: bytes) -> tuple[bool, Any]:
        value = cache._read(k, mmap)
        if value is _MISS:
            counts["misses"] += 1
            return False, None
        counts["hits"] += 1
        return True, value

    def remember(k: bytes, value: object, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            if jitter is not None:  # ttl_jitter alone: plain values, each its own jittered TTL
                cache._store_encoded(k, value, _fresh.jittered_ttl(jitter))
            elif tags_fn is None and meta_fn is None:
                cache._store_encoded(k, value, None)
            else:  # tags and meta derived from the call (docs/persistence.md)
                tag_list = _disk_tags.check_tags(tags_fn(*args, **kwargs) if tags_fn else None)
                meta_json = _disk_tags.check_meta(meta_fn(*args, **kwargs) if meta_fn else None)
                cache._tagged_store(k, value, None, tag_list, meta_json)
        except ValueError:
            pass  # larger than max_bytes: returned, not cached
        except Exception as exc:
            warn(
                f"twincache: the result of {qualname}() cannot be stored on disk ({exc}); "
                "it is returned uncached"
            )

    wrapper: Any
    fresh: _fresh.Freshness | None = None
    if records:
        assert freshness is not None
        call, fresh = _disk_fresh.wrap(
            func, cache, key_of, freshness, counts, inspect.iscoroutinefunction(func), str(qualname)
        )
        wrapper = functools.wraps(func)(call)
    elif inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            k = key_of(args, kwargs)
            found, value = lookup(k)
            if found:
                return value
            value = await func(*args, **kwargs)
            remember(k, value, args, kwargs)
            return value

        wrapper = async_wrapper
    else:

        @functools.wraps(func)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            k = key_of(args, kwargs)
            found, value = lookup(k)
            if found:
                return value
            value = func(*args, **kwargs)
            remember(k, value, args, kwargs)
            return value

        wrapper = sync_wrapper

    def stats() -> DiskStats:
        out = cache.stats()
        out["hits"] = counts["hits"]
        out["misses"] = counts["misses"]
        if fresh is not None:
            fresh.stats(out)  # type: ignore[arg-type]
        return out

    def invalidate(*args: Any, **kwargs: Any) -> bool:
        k = key_of(args, kwargs)
        if fresh is not None:  # a refresh in flight is forgotten: its result is not stored
            fresh.refreshing.pop(k, None)
        return cache._erase_encoded(k)

    def cache_clear() -> int:
        """Removes this function's entries (only them: the directory is shared)."""
        empty: bytes = impl.encode_key([*identity, [], {}])
        prefix = empty[:-4]  # without the empty list and map (08 00 09 00)
        store = cache._store
        removed = 0
        for k in store.keys():  # noqa: SIM118 - a store, not a dict
            if k.startswith(prefix) and store.erase(k):
                removed += 1
        if cache._memory is not None:
            cache._memory.clear()
        if fresh is not None:
            fresh.refreshing.clear()
        return removed

    wrapper.stats = stats
    wrapper.invalidate = invalidate
    wrapper.cache_clear = cache_clear
    wrapper.flush = cache.flush
    wrapper.disk_path = cache.path
    wrapper.persistent = cache.persistent
    if fresh is not None:
        wrapper._freshness = fresh  # tests: wait() / join() for refreshes in flight
    return wrapper


def disk_decorator(
    *,
    path: object = None,
    max_bytes: object = None,
    ttl: object = None,
    codec: object = "pickle",
    key: object = None,
    mmap: object = False,
    tags: object = None,
    meta: object = None,
    freshness: _fresh.Options | None = None,
) -> Callable[[Callable[..., Any]], Any]:
    """Checks the options of @twincache.cache(backend="disk", ...) and returns the decorator.
    freshness: the checked freshness options (twincache._fresh.Options), or None."""
    if not isinstance(mmap, bool):
        raise TypeError(f"mmap must be True or False (got {type(mmap).__name__})")
    where = _path_arg(path)
    limit = _options.limit("max_bytes", max_bytes)
    ttl_ns = _options.ttl("ttl", ttl)
    codec_id = _codec_id(codec)
    key_fn = _options.key_function("key", key)
    tags_fn = _options.key_function("tags", tags)  # callables of the call's arguments
    meta_fn = _options.key_function("meta", meta)
    if freshness is not None and freshness.records:
        clash = [n for n, v in (("mmap", mmap), ("tags", tags_fn), ("meta", meta_fn)) if v]
        if clash:
            raise TypeError(
                f"{', '.join(clash)} do(es) not combine with stale, early_refresh or "
                "cache_errors on disk (their entries are freshness records)"
            )
        if freshness.errors and codec_id == CODECS["json"]:
            raise TypeError("cache_errors needs codec='pickle' on disk (failures are pickled)")

    def decorating_function(func: Callable[..., Any]) -> Any:
        return memoize(
            func,
            path=where,
            max_bytes=limit,
            ttl_ns=ttl_ns,
            codec=codec_id,
            key_fn=key_fn,
            mmap=mmap,
            tags_fn=tags_fn,
            meta_fn=meta_fn,
            freshness=freshness if freshness is not None and freshness.active else None,
        )

    return decorating_function


__all__ = ["DiskCache", "decode_key", "default_directory", "disk_decorator", "native"]

from . import _disk_fresh  # noqa: E402 - it subclasses DiskCache (defined above)
