"""What takes rows out of the pure-Python disk store (PureDiskStore), as
core/src/disk/disk_store_removals.cpp does for the C++ store: expiry cleanup, eviction over
max_bytes, erase, contains, clear and prune (moved out of _disk_pure.py), and the removal
reports, the twin of the C++ store's report_removals/take_removals
(core/include/twincache/disk_store.hpp): with reports on, the rows a write or prune() culls to
max_bytes ('evicted') or reclaims after their TTL ('expired') come back from DELETE ...
RETURNING, are staged until their transaction commits (dropped on rollback), then kept for
take_removals(), which DiskCache's on_evict drains after each call
(python/twincache/_disk_fresh.py). Values are read (HMAC checked, decompressed, a large one's
side file read before it is unlinked) only when asked for.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from . import _disk_pure as _pure  # wall_now, UNLIMITED, _COUNTERS: read at call time
from ._disk_pure_damage import _full
from ._disk_pure_dir import key_hash

_RETURNING: Final = " RETURNING key, codec, value, file, hmac"

# (key, reason, codec, value or None)
Removal = tuple[bytes, str, int, bytes | None]


class RemovalsMixin:
    """PureDiskStore's removals and their reports. _lock (the store's) guards _report,
    _report_values, _staged and _removals; every method here runs under it or takes it."""

    if TYPE_CHECKING:  # provided by PureDiskStore (its __init__ sets the fields)
        _lock: threading.Lock
        _report: bool
        _report_values: bool
        _staged: list[Removal]
        _removals: list[Removal]

        _l1: Any
        _l1_bytes: int
        _counts: dict[str, int]
        _pending: dict[str, int]
        _max_bytes: int

        def _read_blob(self, name: str) -> bytes | None: ...
        def _conn(self) -> sqlite3.Connection | None: ...
        def _count(self, name: str, n: int = 1) -> None: ...
        def _commit(self, db: sqlite3.Connection) -> None: ...
        def _bump(self) -> tuple[int, int]: ...
        def _make_room(self, db: sqlite3.Connection) -> bool: ...
        def _ensure_reserve(self) -> None: ...
        def _recover(self, exc: BaseException) -> bool: ...
        def _disk_error(self, exc: sqlite3.Error, what: str) -> OSError: ...
        def _clear_in_batches(self, db: sqlite3.Connection) -> int: ...
        def _sweep_orphans(self, db: sqlite3.Connection) -> None: ...
        def _l1_drop(self, key: bytes) -> bool: ...
        def _opened(self, key: bytes, codec: int, stored: bytes | None, mac: object) -> Any: ...

    def report_removals(self, on: bool, values: bool = True) -> None:
        """Keeps the entries a write or prune() culls ('evicted') or reclaims ('expired'), once
        their transaction commits, for take_removals(); values=True: with their values (read and
        checked: one side-file read per large victim)."""
        with self._lock:
            self._report = on
            self._report_values = on and values
            if not on:
                self._removals = []

    def has_removals(self) -> bool:
        return bool(self._removals)

    def take_removals(self) -> list[Removal]:
        """[(key, reason, codec, value or None)], each removal once."""
        if not self._removals:
            return []
        with self._lock:
            out, self._removals = self._removals, []
        return out

    def _collect(self, cur: sqlite3.Cursor, reason: str) -> int:
        """Stages the rows a DELETE ... RETURNING gave (published after COMMIT)."""
        rows = cur.fetchall()
        for key, codec, stored, file, mac in rows:
            self._l1_drop(key)  # told gone: not served from memory either
            value: Any = None
            if self._report_values:
                if file is not None:
                    stored = self._read_blob(file)  # before COMMIT unlinks it
                value = self._opened(key, codec, stored, mac)
                if not isinstance(value, (bytes, bytearray, memoryview)):
                    value = None  # damaged, or compressed and no zstd here: told without it
            ok = value is not None
            self._staged.append(
                (key, reason, codec & 0xFF if ok else 0, bytes(value) if ok else None)
            )
        return len(rows)

    def _publish(self) -> None:
        if self._staged:
            self._removals += self._staged
            self._staged = []

    # ---- what takes rows out: expiry, eviction over max_bytes, erase, contains, clear, prune
    # (the C++ store's core/src/disk/disk_store_removals.cpp)

    def _purge(self, db: sqlite3.Connection, now: int, limit: int) -> int:
        sql = (
            "DELETE FROM entries WHERE id IN (SELECT id FROM entries "
            "WHERE expiry != 0 AND expiry <= ? LIMIT ?)"
        )
        if self._report:
            n = self._collect(db.execute(sql + _RETURNING, (now, limit)), "expired")
        else:
            n = max(db.execute(sql, (now, limit)).rowcount, 0)
        self._count("expired", n)
        return n

    def _evict(self, db: sqlite3.Connection) -> int:
        evicted = 0
        while True:
            items, size = db.execute("SELECT items, bytes FROM meta WHERE id = 1").fetchone()
            if size <= 0 or size <= self._max_bytes or items <= 1:
                return evicted
            if evicted == 0 and self._purge(db, _pure.wall_now(), 256):
                continue
            over = size - self._max_bytes
            avg = max(1, size // items)
            batch = min(max((over + avg - 1) // avg, 1), 64, items - 1)
            sql = (
                "DELETE FROM entries WHERE id IN "
                "(SELECT id FROM entries ORDER BY atime, id LIMIT ?)"
            )
            if self._report:
                n = self._collect(db.execute(sql + _RETURNING, (batch,)), "evicted")
            else:
                n = max(db.execute(sql, (batch,)).rowcount, 0)
            if n == 0:
                return evicted
            evicted += n
            self._count("evicted", n)

    def erase(self, key: bytes) -> bool:
        with self._lock:
            db = self._conn()
            dropped = self._l1_drop(key)
            if db is None:
                if dropped:
                    self._counts["deleted"] += 1
                return dropped
            try:
                try:
                    existed = self._erase_once(db, key)
                except sqlite3.OperationalError as exc:
                    if not _full(exc) or not self._make_room(db):
                        raise
                    existed = self._erase_once(db, key)  # once more, with room made
                    self._ensure_reserve()
            except sqlite3.DatabaseError as exc:
                if self._recover(exc):
                    return False  # a damaged database: moved aside, so the key is gone
                if _full(exc):
                    raise self._disk_error(exc, "DELETE") from None
                raise
            if existed:
                self._counts["deleted"] += 1
            self._bump()
            return existed

    def _erase_once(self, db: sqlite3.Connection, key: bytes) -> bool:
        existed = False
        db.execute("BEGIN IMMEDIATE")
        try:
            rows = db.execute(
                "DELETE FROM entries WHERE key_hash = ? RETURNING key, expiry",
                (key_hash(key),),
            ).fetchall()
            if rows and rows[0][0] != key:
                db.execute("ROLLBACK")  # a colliding key: keep it
                return False
            existed = bool(rows) and (rows[0][1] == 0 or _pure.wall_now() < rows[0][1])
            if existed:
                self._pending["deleted"] += 1
            self._commit(db)
        except BaseException:
            if existed:
                self._pending["deleted"] -= 1
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        self._pending = dict.fromkeys(_pure._COUNTERS, 0)
        return existed

    def contains(self, key: bytes) -> bool:
        with self._lock:
            db = self._conn()
            if db is None:
                entry = self._l1.get(key)
                return entry is not None and not (entry[2] and _pure.wall_now() >= entry[2])
            try:
                row = db.execute(
                    "SELECT key, expiry FROM entries WHERE key_hash = ?", (key_hash(key),)
                ).fetchone()
            except sqlite3.DatabaseError as exc:
                if not self._recover(exc):
                    raise
                return False
            return row is not None and row[0] == key and (row[1] == 0 or _pure.wall_now() < row[1])

    def clear(self) -> int:
        with self._lock:
            db = self._conn()
            n = 0
            if db is None:
                n = len(self._l1)
            else:
                try:
                    try:
                        n = self._clear_once(db)
                    except sqlite3.OperationalError as exc:
                        # A full disk: one transaction for every row needs room in the WAL for
                        # every page; a few rows at a time, truncating the WAL between, a few.
                        if not _full(exc) or not self._make_room(db):
                            raise
                        n = self._clear_in_batches(db)
                except sqlite3.DatabaseError as exc:
                    if not self._recover(exc):  # damaged: moved aside, the fresh one is empty
                        if _full(exc):
                            raise self._disk_error(exc, "DELETE") from None
                        raise
                finally:
                    self._l1.clear()
                    self._l1_bytes = 0
                self._bump()
            self._l1.clear()
            self._l1_bytes = 0
            self._counts["cleared"] += n
            return n

    def _clear_once(self, db: sqlite3.Connection) -> int:
        return self._removing(db, lambda: max(db.execute("DELETE FROM entries").rowcount, 0))

    def _removing(self, db: sqlite3.Connection, remove: Callable[[], int]) -> int:
        """clear's and prune's one transaction: remove() deletes rows and returns how many, the
        pending counters go with it, and the blobs of the deleted rows are unlinked only after
        COMMIT (a rollback keeps them)."""
        db.execute("BEGIN IMMEDIATE")
        try:
            n = remove()
            self._commit(db)
            self._publish()
        except BaseException:
            self._staged = []
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        self._pending = dict.fromkeys(_pure._COUNTERS, 0)
        return n

    def prune(self) -> int:
        with self._lock:
            db = self._conn()
            if db is None:
                return 0
            try:
                removed = self._prune_once(db)
            except sqlite3.DatabaseError as exc:
                if not self._recover(exc):
                    raise
                return 0
            if removed:
                self._bump()
            self._sweep_orphans(db)
            return removed

    def _prune_once(self, db: sqlite3.Connection) -> int:
        def remove() -> int:
            removed = 0
            while True:
                n = self._purge(db, _pure.wall_now(), 1024)
                removed += n
                if n < 1024:
                    break
            if self._max_bytes != _pure.UNLIMITED:
                removed += self._evict(db)
            return removed

        return self._removing(db, remove)
