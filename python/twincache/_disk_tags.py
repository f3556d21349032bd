"""Tags and metadata of disk entries (docs/persistence.md, "Tags, metadata and queries"):
DiskCache.set(key, value, tags=[...], meta={...}), DiskCache.query(tag=..., where=...) and
DiskCache.evict(tag=...), and `python -m twincache ls`.

They live in two tables beside `entries` (core/src/disk/tags.sql, shared with the C++ store
and Node), added to a directory the first time it is used with
tags, metadata or a query (the migration: CREATE ... IF NOT EXISTS, so directories written by
earlier versions keep working, and a store that does not know the tables never touches them):

    entry_info(key_hash PRIMARY KEY, created, meta)   one row per entry written since
    entry_tags(tag, key_hash, PRIMARY KEY (tag, key_hash)), index on key_hash

Triggers on `entries` keep them exact whichever store writes (C++, pure Python, Node): a new or
replaced value gets a fresh entry_info row (created = its write time, no meta) and loses its
tags (DELETE then INSERT: inside the stores' UPSERT, OR REPLACE would not apply); a
deleted, evicted or expired row takes its info and tags with it. A set with tags or meta
commits the value, its tags and meta in one transaction: the pure store's (write() below, called
through PureDiskStore.with_row), or the native store's writer batch (disk_store::set with a
tag_set: core/src/disk/tags.cpp). This module talks to cache.db through its own sqlite3
connection (WAL: readers never block writers) for tag(), query() and evict().
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any, Final

from . import _disk_pure

SCHEMA: Final = (resources.files("twincache") / "_disk_tags.sql").read_text(encoding="utf-8")
_MAX_META_BYTES: Final = 64 * 1024


def check_tags(tags: object) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, (str, bytes)) or not isinstance(tags, Iterable):
        raise TypeError(f"tags must be a list of strings (got {type(tags).__name__})")
    out = list(tags)
    for t in out:
        if not isinstance(t, str) or not t:
            raise TypeError(f"tags must be non-empty strings (got {t!r})")
    return sorted(set(out))


def check_meta(meta: object) -> str | None:
    if meta is None:
        return None
    if not isinstance(meta, Mapping) or not all(isinstance(k, str) for k in meta):
        raise TypeError(f"meta must be a dict with str keys (got {type(meta).__name__})")
    try:
        text = json.dumps(dict(meta), allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"meta must hold JSON values only ({exc})") from None
    if len(text) > _MAX_META_BYTES:
        raise ValueError(f"meta must be at most {_MAX_META_BYTES} bytes as JSON (got {len(text)})")
    return text


def write(db: sqlite3.Connection, key: bytes, tags: list[str], meta: str | None) -> None:
    """Adds tags and meta to key's entry, inside the caller's write transaction (after the
    entry's row was written: its triggers reset its info and tags)."""
    kh = _disk_pure.key_hash(key)
    # An entry written before the tables existed has no info row yet (as tags.cpp).
    db.execute(
        "INSERT OR IGNORE INTO entry_info(key_hash, created, meta) "
        "SELECT key_hash, atime, NULL FROM entries WHERE key_hash = ?",
        (kh,),
    )
    if meta is not None:
        db.execute("UPDATE entry_info SET meta = ? WHERE key_hash = ?", (meta, kh))
    db.executemany(
        "INSERT OR IGNORE INTO entry_tags(tag, key_hash) "
        "SELECT ?, key_hash FROM entries WHERE key_hash = ?",
        [(t, kh) for t in tags],
    )


class Tags:
    """The tags and metadata of one cache directory."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.Lock()  # guards db (the connection is not shared across threads)
        self.db: sqlite3.Connection | None = None
        self.pid = 0

    def conn(self) -> sqlite3.Connection:
        if self.db is None or self.pid != os.getpid():
            db = sqlite3.connect(
                os.path.join(self.path, "cache.db"),
                timeout=30.0,
                isolation_level=None,
                check_same_thread=False,
            )
            db.execute("PRAGMA busy_timeout = 30000")
            db.executescript(SCHEMA)  # the migration: idempotent
            self.db, self.pid = db, os.getpid()
        return self.db

    def ensure(self) -> None:
        with self.lock:
            self.conn()

    def attach(self, key: bytes, tags: list[str], meta: str | None) -> None:
        """Adds tags and meta to key's committed entry (its triggers ran), in a transaction of
        their own (DiskCache.set writes them with the value instead)."""
        with self.lock:
            db = self.conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                write(db, key, tags, meta)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def query(
        self, now_ns: int, tag: str | None, where: Mapping[str, Any] | None
    ) -> list[tuple[Any, ...]]:
        """Rows (key bytes, size, created ns or None, expiry ns, meta JSON, tags joined by
        \\x1f) of live entries, oldest access first."""
        sql = (
            "SELECT e.key, e.size, i.created, e.expiry, i.meta, "
            "(SELECT group_concat(t.tag, char(31)) FROM entry_tags t "
            " WHERE t.key_hash = e.key_hash) "
            "FROM entries e LEFT JOIN entry_info i ON i.key_hash = e.key_hash "
            "WHERE (e.expiry = 0 OR e.expiry > ?)"
        )
        params: list[Any] = [now_ns]
        if tag is not None:
            sql += " AND e.key_hash IN (SELECT key_hash FROM entry_tags WHERE tag = ?)"
            params.append(tag)
        for field, value in (where or {}).items():
            sql += " AND json_extract(i.meta, ?) IS ?"
            params += ["$." + json.dumps(field), value]
        sql += " ORDER BY e.atime"
        with self.lock:
            return self.conn().execute(sql, params).fetchall()

    def evict(self, tag: str) -> int:
        """Deletes every entry tagged `tag` in one transaction; their side files are unlinked
        after it commits, and the generation nonce moves (other memory tiers drop theirs)."""
        with self.lock:
            db = self.conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                n = db.execute(
                    "DELETE FROM entries WHERE key_hash IN "
                    "(SELECT key_hash FROM entry_tags WHERE tag = ?)",
                    (tag,),
                ).rowcount
                doomed = [r[0] for r in db.execute("SELECT file FROM doomed").fetchall()]
                db.execute("DELETE FROM doomed")
                db.execute("UPDATE meta SET deleted = deleted + ? WHERE id = 1", (n,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        for name in doomed:
            if isinstance(name, str) and _disk_pure._BLOB_NAME.fullmatch(name):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(self.path, "blobs", name))
        if n:
            fd = os.open(os.path.join(self.path, "generation"), os.O_RDWR | os.O_CLOEXEC)
            try:
                _disk_pure.bump_generation(fd)
            finally:
                os.close(fd)
        return int(n)
