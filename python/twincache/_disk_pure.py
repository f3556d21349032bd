"""The persistent tier in pure Python: the same files, byte for byte, as the C++ disk_store
(core/include/twincache/disk_store.hpp, docs/persistence.md), through the stdlib's sqlite3, hmac
and hashlib. zstd comes from the system's libzstd through ctypes when it is there; without it,
values are written uncompressed and compressed entries read as misses (never as corrupt).

Used when twincache._disk_native cannot be imported, and always under TWINCACHE_PURE=1. Both
implementations read and write each other's directories (tests/python/test_disk_interop.py).

Locks: `_lock` (threading.Lock) guards the connection, the L1 and the counters of one store.

fork: every store is tracked by twincache._fork: a fork waits (at most its busy timeout + 5 s) until
no thread is inside the store, and the child gets a new `_lock` and never uses nor closes the
parent's connection (SQLite: a connection must not cross fork); its next call opens its own.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import hmac
import mmap
import os
import sqlite3
import stat
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any, Final

from . import _disk_pure_dir, _fork
from ._disk_pure_damage import (
    _SQLITE_ERROR,
    _SQLITE_FULL,
    _SQLITE_IOERR,
    DamageMixin,
    _code,
    _damaged,
    _Foreign,
)
from ._disk_pure_dir import (  # re-exported: twincache._disk_tags, _redis_envelope and tests
    _BLOB_NAME,
    BlobMixin,
    _zstd,
    bump_generation,
    default_directory,
    key_hash,
    prepare_directory,
    sign,
)
from ._disk_pure_removals import RemovalsMixin

FORMAT_VERSION: Final = 1
CODEC_ZSTD: Final = 0x100
CODEC_MAX: Final = 0xFF
# tcarray/1 and Arrow IPC (twincache._disk_values): read by the caller when in a file of their own
_CODECS_IN_FILES: Final = (4, 5)
UNLIMITED: Final = 2**64 - 1
_SAMPLE: Final = 64 * 1024  # compression sample of large values
FILE_THRESHOLD: Final = 128 * 1024  # stored values this large go to blobs/ (as the C++ store)

# The schema: core/src/disk/schema.sql, the C++ store's too, installed next to this module.
_SCHEMA: Final = (resources.files("twincache") / "_disk_schema.sql").read_text(encoding="utf-8")

# How long a call waits for another connection's write lock on the database (SQLite's busy
# timeout) before it fails with OSError (writes) or counts a miss (reads): as the C++ store's
# options::busy_timeout_ms. docs/persistence.md, "Waits and their limits".
BUSY_TIMEOUT_S: Final = 30.0

# Connections a forked child inherited: referenced forever, so that they are never closed (or
# finalized by the garbage collector) in the child, which would touch the parent's database state.
_ABANDONED: list[sqlite3.Connection] = []

_COUNTERS: Final = ("hits", "misses", "sets", "evicted", "expired", "corrupt", "deleted")


# --- clock: wall time, or manual time set by tests -----------------------------------------------

_manual_ns: int | None = None


def wall_now() -> int:
    return time.time_ns() if _manual_ns is None else _manual_ns


def clock_set_manual(start_ns: int) -> None:
    global _manual_ns
    _manual_ns = start_ns


def clock_advance(delta_ns: int) -> None:
    global _manual_ns
    if _manual_ns is not None:
        _manual_ns += delta_ns


def clock_set_real() -> None:
    global _manual_ns
    _manual_ns = None


# --- the store ------------------------------------------------------------------------------------


_NO_ZSTD: Final[Any] = object()  # PureDiskStore._opened: a compressed row, and no zstd here


def _db_file_inode(file: str) -> int:
    """cache.db's inode, the file created 0600 when missing (SQLite gives the -wal and -shm
    files its mode). An existing file is only looked at, never opened: closing any descriptor
    of a file drops every POSIX lock the process holds on it, SQLite's too, so another store of
    this process would lose its locks, and another process's closing connection would delete
    the -wal and -shm files under it (as disk_store::open_db)."""
    try:
        st = os.lstat(file)
    except FileNotFoundError:
        try:
            fd = os.open(
                file, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600
            )
        except FileExistsError:
            pass
        else:
            os.close(fd)  # a new file: no connection holds a lock on it yet
        st = os.lstat(file)
    if not stat.S_ISREG(st.st_mode):
        raise OSError(errno.ELOOP, f"cannot open {file}: not a regular file")
    return st.st_ino


class PureDiskStore(DamageMixin, BlobMixin, RemovalsMixin):
    """The twin of twincache._disk_native.DiskStore (same methods, same results)."""

    def __init__(
        self,
        path: str,
        max_bytes: int | None,
        ttl_ns: int | None,
        l1_max_bytes: int,
        compress_threshold: int,
        busy_timeout_s: float = BUSY_TIMEOUT_S,
    ) -> None:
        self.path = path.rstrip("/") or "/"
        self._busy_timeout_s = busy_timeout_s
        self._max_bytes = max_bytes if max_bytes is not None else UNLIMITED
        self._ttl_ns = ttl_ns
        self._l1_max = l1_max_bytes
        self._threshold = compress_threshold
        self._lock = threading.Lock()
        self._row_hooks = threading.local()  # .write: with_row()'s, for this thread's sets
        # Removal reports (report_removals): off/on, with values; the current transaction's
        # victims (_staged) and the committed ones not yet taken (_removals), all under _lock.
        self._report = False
        self._report_values = False
        self._staged: list[tuple[bytes, str, int, bytes | None]] = []
        self._removals: list[tuple[bytes, str, int, bytes | None]] = []
        _fork.track(self, ("_lock",), wait_s=busy_timeout_s + 5, child=PureDiskStore._forked)
        self._l1: OrderedDict[bytes, tuple[int, bytes, int]] = OrderedDict()
        self._l1_bytes = 0
        self._counts = dict.fromkeys(
            (
                "hits",
                "misses",
                "l1_hits",
                "sets",
                "rejected",
                "evicted",
                "expired",
                "deleted",
                "cleared",
                "corrupt",
                "write_errors",
            ),
            0,
        )
        self._pending = dict.fromkeys(_COUNTERS, 0)
        self._gen_seen = 0
        self._epoch = 0
        self._gen_fd = -1
        self._gen_map: mmap.mmap | None = None
        self._sets_since_purge = 0
        self._doomed: list[str] = []
        self._db: sqlite3.Connection | None = None
        self._db_ino = 0
        self._write_error: OSError | None = None  # raised (once) by the next flush()
        self.warning = ""
        try:
            self._secret = prepare_directory(self.path)
            try:
                self._open_db()
            except sqlite3.DatabaseError as exc:
                if not _damaged(exc):
                    raise
                self.warning = self._move_aside(str(exc))
        except (OSError, sqlite3.Error) as exc:
            self._db = None
            if self._l1_max == 0 or self._max_bytes != UNLIMITED:
                self._l1_max = self._max_bytes if self._max_bytes != UNLIMITED else 64 << 20
            self.warning = (
                f"twincache: cannot use the cache directory {self.path} ({exc}); "
                "caching in memory only"
            )

    @property
    def persistent(self) -> bool:
        return self._db is not None

    # -- connection --

    def _open_db(self) -> None:
        file = self.path + "/cache.db"
        with contextlib.suppress(FileExistsError):
            os.mkdir(self.path + "/blobs", 0o700)
        self._db_ino = _db_file_inode(file)
        self._pid = os.getpid()
        db = sqlite3.connect(
            file, timeout=self._busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        try:
            self._setup_db(db, file)
        except UnicodeDecodeError as exc:
            # SQLite quoted bytes of a damaged file that are not UTF-8 (a malformed schema's
            # text) and Python's sqlite3 could not decode its message (found by
            # fuzz_disk_dir.py): damaged, as the C++ store says with those bytes as '?'.
            db.close()
            raise _Foreign(
                f"malformed database schema (a message that is not UTF-8: {exc})"
            ) from None
        except BaseException:
            db.close()  # a damaged file: closed before it is moved aside
            raise
        self._db = db
        self._open_generation()
        self._ensure_reserve()

    def _setup_db(self, db: sqlite3.Connection, file: str) -> None:
        db.execute("PRAGMA page_size=16384")  # as the C++ store (a new database only)
        for _ in range(100):
            try:
                db.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError:
                time.sleep(0.01)
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA mmap_size=268435456")
        db.execute("PRAGMA temp_store=MEMORY")  # statement journals in memory, as the C++ store
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA.split(";\n"):  # trigger bodies end in "; END"
                if statement.strip():
                    db.execute(statement)
            db.execute("COMMIT")
            row = db.execute(
                "SELECT format, items, bytes, hits, misses, sets, evicted, expired, corrupt, "
                "deleted FROM meta WHERE id = 1"
            ).fetchone()
            # Every column the store uses, as the C++ store's prepared statements check them: a
            # table of ours with a column renamed (a damaged schema, found by fuzz_disk_dir.py)
            # is foreign here, not an error on the first write.
            db.execute(
                "SELECT id, key_hash, key, codec, value, size, expiry, atime, hmac, file "
                "FROM entries LIMIT 0"
            )
            db.execute("SELECT file FROM doomed LIMIT 0")
        except sqlite3.OperationalError as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            if _code(exc) == _SQLITE_ERROR:  # e.g. a table "meta" without our columns
                raise _Foreign(str(exc)) from None
            raise
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        if row is None:
            raise _Foreign(f"{file} has no meta row")
        if row[0] != FORMAT_VERSION:  # a later twincache's: refused, left alone
            raise OSError(
                f"{file} has format {row[0]}, this version of twincache reads "
                f"format {FORMAT_VERSION}"
            )

    def _open_generation(self) -> None:
        if self._gen_map is not None:
            self._gen_map.close()
        if self._gen_fd >= 0:
            os.close(self._gen_fd)
        file = self.path + "/generation"
        fd = os.open(file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        if os.fstat(fd).st_size < 8:
            os.ftruncate(fd, 8)
        self._gen_fd = fd
        self._gen_map = mmap.mmap(fd, 8, mmap.MAP_SHARED, mmap.PROT_READ)
        self._gen_seen = self._generation()
        self._l1.clear()
        self._l1_bytes = 0

    def _generation(self) -> int:
        assert self._gen_map is not None
        value: int = struct.unpack_from("<Q", self._gen_map)[0]
        return value

    def generation(self) -> int:
        return self._generation() if self._gen_map is not None else 0

    def _bump(self) -> tuple[int, int]:
        """Replaces the directory's generation nonce (docs/persistence.md): the C++ store's
        protocol, with a POSIX lock (which conflicts with its OFD lock)."""
        cur, nxt = bump_generation(self._gen_fd)
        if cur == self._gen_seen:
            self._gen_seen = nxt
        return cur, nxt

    def _forked(self) -> None:
        """In a forked child (twincache._fork): keeps the parent's connection from ever being
        closed here; _conn() opens the child's own on its next call."""
        _disk_pure_dir._GEN_LOCK = threading.Lock()
        if self._db is not None:
            _ABANDONED.append(self._db)

    def _conn(self) -> sqlite3.Connection | None:
        if self._db is not None and self._pid != os.getpid():
            # A forked child: leave the parent's connection alone, open our own.
            self._pending = dict.fromkeys(_COUNTERS, 0)
            self._gen_fd = -1  # shared with the parent (and its lock): open our own
            self._gen_map = None
            self._open_db()
        return self._db

    def _l1_valid(self, db: sqlite3.Connection) -> bool:
        v = self._generation()
        if v == self._gen_seen:
            return True
        self._gen_seen = v
        self._l1.clear()
        self._l1_bytes = 0
        return False

    def _count(self, name: str, n: int = 1) -> None:
        self._counts[name] += n
        if name in self._pending:
            self._pending[name] += n

    def _flush(self, db: sqlite3.Connection) -> None:
        p = self._pending
        if any(p.values()):
            db.execute(
                "UPDATE meta SET hits = hits + ?, misses = misses + ?, sets = sets + ?, "
                "evicted = evicted + ?, expired = expired + ?, corrupt = corrupt + ?, "
                "deleted = deleted + ? WHERE id = 1",
                tuple(p[c] for c in _COUNTERS),
            )

    def _commit(self, db: sqlite3.Connection) -> None:
        """Ends a write transaction: the pending counters go with it, then COMMIT, and only then
        are the side files of the rows it deleted or replaced unlinked (a rollback keeps them)."""
        self._flush(db)
        self._take_doomed(db)
        db.execute("COMMIT")
        self._unlink_doomed()

    # -- L1 --

    def _l1_put(self, key: bytes, codec: int, value: bytes, expiry: int) -> None:
        if self._l1_max == 0:
            return
        weight = len(key) + len(value) + 64
        if weight > self._l1_max:
            return
        old = self._l1.pop(key, None)
        if old is not None:
            self._l1_bytes -= len(key) + len(old[1]) + 64
        self._l1[key] = (codec, value, expiry)
        self._l1_bytes += weight
        while self._l1_bytes > self._l1_max:
            k, (_, v, _) = self._l1.popitem(last=False)
            self._l1_bytes -= len(k) + len(v) + 64

    def _l1_get(self, key: bytes) -> tuple[int, bytes, int] | None:
        entry = self._l1.get(key)
        if entry is None:
            return None
        if entry[2] and wall_now() >= entry[2]:
            self._l1_drop(key)
            return None
        self._l1.move_to_end(key)
        return entry

    def _l1_drop(self, key: bytes) -> bool:
        old = self._l1.pop(key, None)
        if old is None:
            return False
        self._l1_bytes -= len(key) + len(old[1]) + 64
        return True

    # -- the API --

    def get(self, key: bytes, files: bool = False, use: bool = True) -> tuple[Any, ...] | None:
        """(codec, bytes, expiry), or None; with files=True an array or frame kept in a side file
        of its own is not read: (codec, path, expiry, hmac), for the caller to read or map it and
        verify() the bytes (twincache._disk_values.load_file). use=False: a peek (as the C++
        store's): nothing counted, touched or removed, an expired row found too."""
        if not use:
            return self._peek(key)
        with self._lock:
            db = self._conn()
            if db is None:
                hit = self._l1_get(key)
                self._counts["hits" if hit else "misses"] += 1
                return hit
            if self._l1_max and self._l1_valid(db):
                hit = self._l1_get(key)
                if hit is not None:
                    self._count("hits")
                    self._count("l1_hits")
                    return hit
            try:
                row = db.execute(
                    "SELECT id, key, codec, value, expiry, atime, hmac, file FROM entries "
                    "WHERE key_hash = ?",
                    (key_hash(key),),
                ).fetchone()
            except sqlite3.DatabaseError as exc:
                if not _damaged(exc):
                    raise
                self._drop_unreadable(db, key)
                return None
            if row is None or row[1] != key:
                self._count("misses")
                return None
            row_id, _, codec, stored, expiry, atime, mac, file = row
            now = wall_now()
            if (
                files
                and codec in _CODECS_IN_FILES
                and isinstance(file, str)
                and _BLOB_NAME.fullmatch(file)
                and not (expiry and now >= expiry)
                and isinstance(mac, bytes)
                and len(mac) == 32
            ):
                return codec, f"{self.path}/blobs/{file}", expiry, mac  # counted by verify()
            if file is not None:
                stored = self._read_blob(file)  # None (a missing file) fails the check below
            if expiry and now >= expiry:
                self._count("misses")
                self._remove_row(db, row_id, mac, "expired")
                return None
            value = self._opened(key, codec, stored, mac)
            if value is _NO_ZSTD:
                self._count("misses")  # readable by a store with zstd: leave it
                return None
            if value is None:
                self._count("misses")
                self._remove_row(db, row_id, mac, "corrupt")
                return None
            self._count("hits")
            if now - atime >= 1_000_000_000:
                try:
                    db.execute(
                        "UPDATE entries SET atime = ? WHERE id = ? AND atime < ?",
                        (now, row_id, now),
                    )
                except sqlite3.DatabaseError as exc:
                    # Best effort: skipped when busy. A damaged page on the way (found by
                    # fuzz_disk_dir.py) moves the database aside; the value, checked, is returned.
                    if not self._recover(exc) and not isinstance(exc, sqlite3.OperationalError):
                        raise
            if self._l1_max:
                self._l1_put(key, codec & CODEC_MAX, value, expiry)  # valid: checked above
            return codec & CODEC_MAX, value, expiry

    def _opened(self, key: bytes, codec: int, stored: bytes | None, mac: object) -> Any:
        """The plain bytes of a row if its HMAC holds (None if not; _NO_ZSTD: compressed, and
        no zstd here)."""
        ok = (
            stored is not None
            and isinstance(mac, bytes)
            and len(mac) == 32
            and 0 <= codec <= 0x1FF
            and hmac.compare_digest(sign(self._secret, key, codec, stored), mac)
        )
        if not ok or not codec & CODEC_ZSTD:
            return stored if ok else None
        return _NO_ZSTD if _zstd.lib is None else _zstd.decompress(stored)  # type: ignore[arg-type]

    def _peek(self, key: bytes) -> tuple[int, bytes, int] | None:
        with self._lock:
            db = self._conn()
            if db is None:
                hit = self._l1.get(key)
                return None if hit is None or (hit[2] and wall_now() >= hit[2]) else hit
            row = db.execute(
                "SELECT key, codec, value, expiry, hmac, file FROM entries WHERE key_hash = ?",
                (key_hash(key),),
            ).fetchone()
            if row is None or row[0] != key:
                return None
            _, codec, stored, expiry, mac, file = row
            if file is not None:
                stored = self._read_blob(file)
            value = self._opened(key, codec, stored, mac)
            return (
                None if value is None or value is _NO_ZSTD else (codec & CODEC_MAX, value, expiry)
            )

    def _remove_row(self, db: sqlite3.Connection, row_id: int, mac: bytes, counter: str) -> None:
        try:
            cur = db.execute("DELETE FROM entries WHERE id = ? AND hmac = ?", (row_id, mac))
        except sqlite3.DatabaseError as exc:
            if not self._recover(exc):  # a damaged database: moved aside
                raise
            return
        if cur.rowcount > 0:
            self._count(counter)
            self._bump()

    def _drop_unreadable(self, db: sqlite3.Connection, key: bytes) -> None:
        """A damaged page on the way to key's row: a counted corrupt miss. The row goes if
        SQLite can still delete it; if not, the database is moved aside (one warning)."""
        self._count("misses")
        self._count("corrupt")
        try:
            db.execute("DELETE FROM entries WHERE key_hash = ?", (key_hash(key),))
        except sqlite3.DatabaseError as exc:
            if not self._recover(exc):
                raise
            return
        self._bump()

    def set(
        self, key: bytes, codec: int, value: bytes, ttl_ns: int | None = None
    ) -> tuple[int, int]:
        if not 0 <= codec <= CODEC_MAX:
            raise ValueError(f"codec must be in [0, 255] (got {codec})")
        if ttl_ns is not None and ttl_ns <= 0:
            raise ValueError("ttl must be > 0")
        plain = len(key) + len(value)
        with self._lock:
            if self._max_bytes != UNLIMITED and plain > self._max_bytes:
                self._counts["rejected"] += 1
                raise ValueError(
                    f"entry of {plain} bytes exceeds max_bytes ({self._max_bytes}); "
                    "the cache is unchanged"
                )
            db = self._conn()
            now = wall_now()
            life = ttl_ns if ttl_ns is not None else self._ttl_ns
            expiry = now + life if life else 0
            if db is None:
                if len(key) + len(value) + 64 > self._l1_max:
                    self._counts["rejected"] += 1
                    raise ValueError("entry exceeds the memory budget")
                self._l1_put(key, codec, bytes(value), expiry)
                self._counts["sets"] += 1
                return 0, 0
            stored = value
            full = codec
            attempt = bool(self._threshold) and len(value) >= self._threshold
            if attempt and _zstd.lib is not None and len(value) > 2 * _SAMPLE:
                sample = _zstd.compress(value[:_SAMPLE], 1)  # as the C++ store: a sample first
                attempt = sample is not None and len(sample) < _SAMPLE - _SAMPLE // 16
            if attempt and _zstd.lib is not None:
                packed = _zstd.compress(value, 1)
                if packed is not None and len(packed) < len(value) - len(value) // 16:
                    stored = packed
                    full |= CODEC_ZSTD
            mac = sign(self._secret, key, full, stored)
            size = len(key) + len(stored)
            file = self._write_blob(stored) if len(stored) >= FILE_THRESHOLD else None
            if file is not None:
                stored = b""
            row = (key_hash(key), key, full, stored, size, expiry, now, mac, file)
            return self._store_row(db, row, now, value)

    def _store_row(
        self, db: sqlite3.Connection, row: tuple[Any, ...], now: int, value: bytes | None
    ) -> tuple[int, int]:
        """Commits a signed row (its file, if any, already written); value: the plain bytes
        for the L1, or None. Lock held."""
        key, codec, file, expiry = row[1], row[2] & CODEC_MAX, row[8], row[5]
        try:
            try:
                self._commit_set(db, row, now)
            except sqlite3.DatabaseError as exc:
                if not self._recover(exc):  # a damaged database: moved aside, once more
                    raise
                fresh = self._db
                assert fresh is not None
                db = fresh
                self._commit_set(db, row, now)
        except sqlite3.OperationalError as exc:
            if file is not None:
                self._unlink_blob(file)
            if _code(exc) not in (_SQLITE_FULL, _SQLITE_IOERR):
                raise
            # As the C++ store's writer thread: counted, and raised by the next flush().
            self._counts["write_errors"] += 1
            self._write_error = self._disk_error(exc, "INSERT")
            gen = self._generation()
            return gen, gen
        except BaseException:
            if file is not None:
                self._unlink_blob(file)
            raise
        self._pending = dict.fromkeys(_COUNTERS, 0)
        self._counts["sets"] += 1
        if self._l1_max:
            self._l1_valid(db)  # drops the L1 if another writer went before us
        change = self._bump()
        if self._l1_max and self._l1_valid(db):
            if value is None:
                self._l1_drop(key)
            else:
                self._l1_put(key, codec, bytes(value), expiry)
        return change

    def set_parts(
        self, key: bytes, codec: int, head: bytes, body: Any, ttl_ns: int | None = None
    ) -> tuple[int, int]:
        """set() for a value in two pieces (a header, then any C-contiguous buffer), stored as
        their concatenation, uncompressed; a large one is written to its file and signed from
        the pieces, never joined (no copy of the body)."""
        body = memoryview(body).cast("B")
        total = len(head) + len(body)
        if total < FILE_THRESHOLD or not 0 <= codec <= CODEC_MAX or self._db is None:
            return self.set(key, codec, head + bytes(body), ttl_ns)  # small, or memory only
        if ttl_ns is not None and ttl_ns <= 0:
            raise ValueError("ttl must be > 0")
        with self._lock:
            if self._max_bytes != UNLIMITED and len(key) + total > self._max_bytes:
                self._counts["rejected"] += 1
                raise ValueError(
                    f"entry of {len(key) + total} bytes exceeds max_bytes ({self._max_bytes}); "
                    "the cache is unchanged"
                )
            db = self._conn()
            if db is None:
                raise OSError(f"{self.path}: the database is closed")
            now = wall_now()
            life = ttl_ns if ttl_ns is not None else self._ttl_ns
            expiry = now + life if life else 0
            mac = hmac.new(self._secret, b"twincache/1", hashlib.sha256)
            mac.update(struct.pack("<IQ", codec, len(key)))
            mac.update(key)
            mac.update(head)
            mac.update(body)
            file = self._write_blob(head, body)
            stored = b"" if file is not None else head + bytes(body)
            row = (
                key_hash(key),
                key,
                codec,
                stored,
                len(key) + total,
                expiry,
                now,
                mac.digest(),
                file,
            )
            return self._store_row(db, row, now, None)

    def verify(self, key: bytes, codec: int, head: Any, body: Any, mac: bytes) -> bool:
        """Whether head + body (the header read, then the elements read into an array or a
        mapping of the file) carry this HMAC (counted as a hit)."""
        h = hmac.new(self._secret, b"twincache/1", hashlib.sha256)
        h.update(struct.pack("<IQ", codec, len(key)))
        h.update(key)
        h.update(head)
        h.update(body)
        ok = hmac.compare_digest(h.digest(), mac)
        if ok:  # a false one is counted by the caller's get() that follows, which removes it
            with self._lock:
                self._count("hits")
        return ok

    @contextlib.contextmanager
    def with_row(self, write: Callable[[sqlite3.Connection, bytes], None]) -> Iterator[None]:
        """While inside, this thread's set() and set_parts() call write(db, key) in the row's
        own transaction, right after its upsert (its triggers ran): DiskCache.set's tags and
        meta commit with the value, or neither does."""
        self._row_hooks.write = write
        try:
            yield
        finally:
            self._row_hooks.write = None

    def _commit_set(self, db: sqlite3.Connection, row: tuple[Any, ...], now: int) -> None:
        """One set's transaction: the upsert, expiry and the budget, the counters."""
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "INSERT INTO entries(key_hash, key, codec, value, size, expiry, atime, hmac, "
                "file) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key_hash) DO UPDATE SET "
                "key = excluded.key, codec = excluded.codec, value = excluded.value, "
                "size = excluded.size, expiry = excluded.expiry, atime = excluded.atime, "
                "hmac = excluded.hmac, file = excluded.file",
                row,
            )
            write = getattr(self._row_hooks, "write", None)
            if write is not None:  # DiskCache.set's tags and meta: in the row's transaction
                write(db, row[1])
            self._sets_since_purge += 1
            if self._sets_since_purge >= 64:
                self._sets_since_purge = 0
                self._purge(db, now, 64)
            if self._max_bytes != UNLIMITED:
                self._evict(db)
            self._pending["sets"] += 1
            self._commit(db)
            self._publish()
        except BaseException:
            self._staged = []
            self._pending["sets"] = max(0, self._pending["sets"] - 1)
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def keys(self, expired: bool = False) -> list[bytes]:
        """The live keys, least recently used first; expired=True: the expired rows not yet
        removed instead, soonest expired first."""
        with self._lock:
            db = self._conn()
            now = wall_now()
            if db is None:
                return [k for k, e in self._l1.items() if bool(e[2] and now >= e[2]) == expired]
            sql = (
                "SELECT key FROM entries WHERE expiry != 0 AND expiry <= ? ORDER BY expiry, id"
                if expired
                else "SELECT key FROM entries WHERE expiry = 0 OR expiry > ? ORDER BY atime, id"
            )
            try:
                rows = db.execute(sql, (now,)).fetchall()
            except sqlite3.DatabaseError as exc:
                if not self._recover(exc):  # damaged: moved aside, the fresh one is empty
                    raise
                return []
            return [r[0] for r in rows]

    def count(self) -> int:
        with self._lock:
            db = self._conn()
            if db is None:
                now = wall_now()
                return sum(1 for e in self._l1.values() if not (e[2] and now >= e[2]))
            try:
                row = db.execute(
                    "SELECT count(*) FROM entries WHERE expiry = 0 OR expiry > ?", (wall_now(),)
                ).fetchone()
            except sqlite3.DatabaseError as exc:
                if not self._recover(exc):
                    raise
                return 0
            return int(row[0])

    def stats(self) -> dict[str, int]:
        with self._lock:
            out = dict(self._counts)
            db = self._conn()
            if db is None:
                out["items"] = len(self._l1)
                out["bytes"] = self._l1_bytes
                return out
            try:
                items, size = db.execute("SELECT items, bytes FROM meta WHERE id = 1").fetchone()
            except sqlite3.DatabaseError as exc:
                if not self._recover(exc):
                    raise
                items = size = 0
            out["items"] = int(items)
            out["bytes"] = int(size)
            return out

    def info(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = {"path": self.path}
            db = self._conn()
            names = (
                "items",
                "bytes",
                "hits",
                "misses",
                "sets",
                "evicted",
                "expired",
                "corrupt",
                "deleted",
            )
            if db is None:
                out.update(dict.fromkeys(names, 0))
                out["file_bytes"] = 0
                return out
            try:
                row = db.execute(f"SELECT {', '.join(names)} FROM meta WHERE id = 1").fetchone()
            except sqlite3.DatabaseError as exc:
                if not self._recover(exc):
                    raise
                row = (0,) * len(names)
            out.update(zip(names, (int(v) for v in row), strict=True))
            size = 0
            for suffix in ("/cache.db", "/cache.db-wal", "/cache.db-shm"):
                with contextlib.suppress(OSError):
                    size += os.stat(self.path + suffix).st_size
            out["file_bytes"] = size
            return out

    def l1_epoch(self) -> int:
        """Moves whenever the directory changed behind this store's back (the C++ store's
        l1_epoch): another writer replaced the generation nonce."""
        if self._gen_map is not None:
            v = self._generation()
            if v != self._gen_seen:
                self._gen_seen = v
                self._epoch += 1
                self._l1.clear()
                self._l1_bytes = 0
        return self._epoch

    def flush(self) -> None:
        """Writes are synchronous here: nothing is ever queued. Raises (once) the OSError of a
        set() that could not commit since the last flush(), as the C++ store."""
        with self._lock:
            error, self._write_error = self._write_error, None
        if error is not None:
            raise error

    def note_hits(self, n: int) -> None:
        with self._lock:
            self._counts["hits"] += n
            self._counts["l1_hits"] += n
            if self._db is not None:
                self._pending["hits"] += n

    def reset_stats(self) -> None:
        with self._lock:
            self._counts = dict.fromkeys(self._counts, 0)

    def drop_l1(self) -> None:
        with self._lock:
            if self._db is not None:
                self._l1.clear()
                self._l1_bytes = 0

    def close(self) -> None:
        """Hands this process's remaining counts to the directory and closes the connection."""
        with self._lock:
            db = self._db
            if db is None or self._pid != os.getpid():
                return
            with contextlib.suppress(sqlite3.Error):
                db.execute("PRAGMA busy_timeout = 200")
                db.execute("BEGIN IMMEDIATE")
                self._commit(db)
                self._pending = dict.fromkeys(_COUNTERS, 0)
            db.close()
            self._db = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


def _typed_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    """A SQLite error that no recovery handled (a database locked past the busy timeout, an I/O
    error) leaves a store call as the C++ store's: OSError naming the directory."""

    @functools.wraps(method)
    def call(self: PureDiskStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise self._disk_error(exc, method.__name__) from None

    return call


for _name in (
    "get",
    "set",
    "erase",
    "contains",
    "clear",
    "prune",
    "keys",
    "count",
    "stats",
    "info",
    "set_parts",
):
    setattr(PureDiskStore, _name, _typed_errors(getattr(PureDiskStore, _name)))

__all__ = [
    "_BLOB_NAME",
    "PureDiskStore",
    "_zstd",
    "bump_generation",
    "clock_advance",
    "clock_set_manual",
    "clock_set_real",
    "default_directory",
    "key_hash",
    "prepare_directory",
    "sign",
    "wall_now",
]
