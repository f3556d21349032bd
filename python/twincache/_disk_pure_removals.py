"""Removal reports of the pure-Python disk store (PureDiskStore), the twin of the C++ store's
report_removals/take_removals (core/include/twincache/disk_store.hpp): with reports on, the rows
a write or prune() culls to max_bytes ('evicted') or reclaims after their TTL ('expired') come
back from DELETE ... RETURNING, are staged until their transaction commits (dropped on
rollback), then kept for take_removals(), which DiskCache's on_evict drains after each call
(python/twincache/_disk_fresh.py). Values are read (HMAC checked, decompressed, a large one's
side file read before it is unlinked) only when asked for.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import TYPE_CHECKING, Any, Final

_RETURNING: Final = " RETURNING key, codec, value, file, hmac"

# (key, reason, codec, value or None)
Removal = tuple[bytes, str, int, bytes | None]


class RemovalsMixin:
    """PureDiskStore's removal reports. _lock (the store's) guards the four fields below."""

    if TYPE_CHECKING:  # provided by PureDiskStore (its __init__ sets the fields)
        _lock: threading.Lock
        _report: bool
        _report_values: bool
        _staged: list[Removal]
        _removals: list[Removal]

        def _read_blob(self, name: str) -> bytes | None: ...
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
