"""Damaged databases and full disks for the pure-Python store, as the C++ store handles them
(docs/persistence.md, "Damaged databases" and "Full disks"): a damaged or foreign cache.db moved
aside, the reserve file, making room after SQLITE_FULL, clear() in batches on a full disk.

DamageMixin is a base of _disk_pure.PureDiskStore; its methods run under the store's `_lock`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sqlite3
import time
import warnings
from typing import TYPE_CHECKING, Final

# Damage and full disks, as the C++ store (docs/persistence.md): SQLite's primary result codes,
# the space <dir>/reserve holds back for deletes on a full disk, clear()'s batch on a full disk.
_SQLITE_ERROR: Final = 1
_SQLITE_IOERR: Final = 10
_SQLITE_CORRUPT: Final = 11
_SQLITE_FULL: Final = 13
_SQLITE_NOTADB: Final = 26
_RESERVE_BYTES: Final = 256 * 1024
_CLEAR_BATCH: Final = 16


class _Foreign(sqlite3.DatabaseError):
    """cache.db is an SQLite database, but not twincache's (its tables have other columns)."""


def _code(exc: BaseException) -> int:
    return int(getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF


def _damaged(exc: BaseException) -> bool:
    """Whether SQLite said the database is corrupt, not a database, or not twincache's."""
    return isinstance(exc, _Foreign) or _code(exc) in (_SQLITE_CORRUPT, _SQLITE_NOTADB)


def _full(exc: BaseException) -> bool:
    return _code(exc) == _SQLITE_FULL


class DamageMixin:
    if TYPE_CHECKING:  # provided by PureDiskStore
        path: str
        _db: sqlite3.Connection | None
        _db_ino: int
        _epoch: int
        _pending: dict[str, int]
        _counts: dict[str, int]

        def _open_db(self) -> None: ...
        def _bump(self) -> tuple[int, int]: ...
        def _commit(self, db: sqlite3.Connection) -> None: ...
        def _unlink_blob(self, name: object) -> None: ...

    def _move_aside(self, why: str) -> str:
        """Renames the damaged cache.db (and its -wal, -shm) to cache.db.corrupt-<time>-<pid>,
        unless another process already replaced it, and opens a fresh one. Returns the warning
        (empty if another process moved it). Raises OSError if the file cannot be moved."""
        file = self.path + "/cache.db"
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        self._pending = dict.fromkeys(self._pending, 0)
        aside = ""
        dfd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(dfd, fcntl.LOCK_EX)  # one process moves it; released by the close
            try:
                same = os.stat(file).st_ino == self._db_ino
            except FileNotFoundError:
                same = False
            if same:
                stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
                aside = f"{file}.corrupt-{stamp}-{os.getpid()}"
                os.rename(file, aside)
                for suffix in ("-wal", "-shm"):  # the WAL belongs to the old file
                    with contextlib.suppress(FileNotFoundError):
                        os.rename(file + suffix, aside + suffix)
            self._open_db()
        finally:
            os.close(dfd)
        self._epoch += 1  # memory tiers (ours, Python's) drop what came from the old file
        if not aside:
            return ""
        self._bump()  # ... and other processes' too
        return (
            f"twincache: {file} was damaged or not a twincache database ({why}); moved it to "
            f"{aside} and started an empty cache"
        )

    def _recover(self, exc: BaseException) -> bool:
        """After a failed call: if the database is damaged, moves it aside (one warning) and
        returns True (the caller answers as for an empty cache); otherwise False."""
        if self._db is None or not _damaged(exc):
            return False
        message = self._move_aside(str(exc))
        if message:
            warnings.warn(message, RuntimeWarning, stacklevel=4)
        return True

    def _disk_error(self, exc: sqlite3.Error, what: str) -> OSError:
        """The OSError the C++ store raises for a failed SQLite call."""
        code = errno.ENOSPC if _full(exc) else errno.EIO
        return OSError(code, f"SQLite {what} failed in {self.path}: {exc}")

    def _ensure_reserve(self) -> None:
        file = self.path + "/reserve"
        if os.path.lexists(file):
            return
        try:
            fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except OSError:
            return
        try:
            os.posix_fallocate(fd, 0, _RESERVE_BYTES)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(file)  # no room for it now: the next open tries again
        finally:
            os.close(fd)

    def _make_room(self, db: sqlite3.Connection) -> bool:
        """After SQLITE_FULL: gives back the reserve and truncates the WAL (copied into the
        database, whose freed pages it reuses). True if it freed anything."""
        if db.in_transaction:
            db.execute("ROLLBACK")
        try:
            os.unlink(self.path + "/reserve")
            freed = True
        except OSError:
            freed = False
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error:
            return freed
        return True

    def _clear_in_batches(self, db: sqlite3.Connection) -> int:
        """clear() on a full disk: large values' files first (they hold most of the space;
        their rows are going), then _CLEAR_BATCH rows per transaction. Raises OSError saying
        how many entries it removed and how many it could not."""
        for (name,) in db.execute("SELECT file FROM entries WHERE file IS NOT NULL").fetchall():
            self._unlink_blob(name)
        removed = 0
        while True:
            db.execute("BEGIN IMMEDIATE")
            try:
                n = max(
                    db.execute(
                        "DELETE FROM entries WHERE id IN "
                        "(SELECT id FROM entries ORDER BY atime, id LIMIT ?)",
                        (_CLEAR_BATCH,),
                    ).rowcount,
                    0,
                )
                self._commit(db)
            except sqlite3.OperationalError as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                if not _full(exc):
                    raise
                self._counts["cleared"] += removed
                (left,) = db.execute("SELECT items FROM meta WHERE id = 1").fetchone()
                raise OSError(
                    errno.ENOSPC,
                    f"clear() removed {removed} entries; {left} could not be removed: "
                    f"SQLite DELETE failed in {self.path}: {exc}",
                ) from None
            self._pending = dict.fromkeys(self._pending, 0)
            removed += n
            with contextlib.suppress(sqlite3.Error):
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            if n == 0:
                break
        self._ensure_reserve()
        return removed
