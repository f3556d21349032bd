"""The pure-Python disk store's directory side (twincache._disk_pure): the layout and
permissions of a cache directory, its secret, its generation nonce, key hashes, the HMAC of an
entry, zstd through the system library (ctypes), and the side files of large values. The same
files as the C++ store's (core/src/disk/directory.cpp, docs/persistence.md, "Layout")."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import hashlib
import hmac
import os
import re
import sqlite3
import stat
import struct
import threading
import time
from typing import Any, Final

from . import _keys

SECRET_BYTES: Final = 32
_BLOB_NAME: Final = re.compile(r"[0-9a-f]{32}\.bin")
_WRITE_CHUNK: Final = 128 * 1024  # the largest single write of a side file

# Serializes generation bumps between stores of this process (fcntl locks exclude processes).
_GEN_LOCK = threading.Lock()


# --- zstd through the system library --------------------------------------------------------------


class _Zstd:
    def __init__(self) -> None:
        name = ctypes.util.find_library("zstd")
        self.lib: Any = None
        for candidate in (name, "libzstd.so.1"):
            if not candidate:
                continue
            try:
                lib = ctypes.CDLL(candidate)
            except OSError:
                continue
            lib.ZSTD_compressBound.restype = ctypes.c_size_t
            lib.ZSTD_compressBound.argtypes = [ctypes.c_size_t]
            lib.ZSTD_compress.restype = ctypes.c_size_t
            lib.ZSTD_compress.argtypes = [
                ctypes.c_void_p,
                ctypes.c_size_t,
                ctypes.c_char_p,
                ctypes.c_size_t,
                ctypes.c_int,
            ]
            lib.ZSTD_decompress.restype = ctypes.c_size_t
            lib.ZSTD_decompress.argtypes = [
                ctypes.c_void_p,
                ctypes.c_size_t,
                ctypes.c_char_p,
                ctypes.c_size_t,
            ]
            lib.ZSTD_getFrameContentSize.restype = ctypes.c_ulonglong
            lib.ZSTD_getFrameContentSize.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
            lib.ZSTD_isError.restype = ctypes.c_uint
            lib.ZSTD_isError.argtypes = [ctypes.c_size_t]
            self.lib = lib
            break

    def compress(self, data: bytes, level: int) -> bytes | None:
        lib = self.lib
        bound = lib.ZSTD_compressBound(len(data))
        out = ctypes.create_string_buffer(bound)
        n = lib.ZSTD_compress(out, bound, data, len(data), level)
        if lib.ZSTD_isError(n):
            return None
        return out.raw[:n]

    def decompress(self, data: bytes) -> bytes | None:
        lib = self.lib
        n = lib.ZSTD_getFrameContentSize(data, len(data))
        # Error, unknown, absurd, or more than the frame can hold (each block: a 3-byte header,
        # at least one byte, at most 128 KiB out), as the C++ store's plausible_zstd_size.
        if n >= 2**64 - 2 or n > 2**32 or n > (len(data) // 4 + 1) * (128 << 10):
            return None
        out = ctypes.create_string_buffer(max(int(n), 1))
        r = lib.ZSTD_decompress(out, n, data, len(data))
        if lib.ZSTD_isError(r) or r != n:
            return None
        return out.raw[:n]


_zstd = _Zstd()

# --- the directory -------------------------------------------------------------------------------


def default_directory() -> str:
    d = os.environ.get("TWINCACHE_DIR")
    if d:
        return d
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and xdg.startswith("/"):
        return xdg + "/twincache"
    home = os.environ.get("HOME") or os.path.expanduser("~") or "/tmp"
    return home + "/.cache/twincache"


def _mode(m: int) -> str:
    return f"0{m & 0o777:03o}"


def prepare_directory(path: str) -> bytes:
    """Creates (mode 0700) and checks the directory as the C++ prepare_directory does; returns
    its secret, creating it (mode 0600) if absent. Raises OSError when it cannot be used."""
    partial = ""
    for part in path.split("/"):
        partial = partial + "/" + part if partial or path.startswith("/") else part
        if not part:
            continue
        try:
            os.mkdir(partial, 0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise OSError(f"cannot create cache directory {partial}: {exc.strerror}") from None
    st = os.stat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise OSError(f"{path} is not a directory")
    if st.st_uid != os.geteuid():
        raise OSError(f"cache directory {path} is owned by another user")
    if st.st_mode & 0o022:
        raise OSError(
            f"cache directory {path} is group- or world-writable (mode {_mode(st.st_mode)}); "
            "use a directory with mode 0700"
        )
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        raise OSError(f"cache directory {path} is not writable")
    file = path + "/secret"
    for _ in range(3):
        try:
            fd = os.open(file, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            tmp = f"{file}.tmp.{os.getpid()}.{time.monotonic_ns()}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            try:
                os.write(fd, os.urandom(SECRET_BYTES))
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, file)
            except FileExistsError:
                pass
            finally:
                os.unlink(tmp)
            continue
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise OSError(f"{file} is not a regular file")
            if st.st_uid != os.geteuid():
                raise OSError(f"{file} is owned by another user")
            if st.st_mode & 0o077:
                raise OSError(
                    f"{file} is readable or writable by others (mode {_mode(st.st_mode)}); "
                    "it must be 0600"
                )
            secret = os.read(fd, SECRET_BYTES + 1)
        finally:
            os.close(fd)
        if len(secret) != SECRET_BYTES:
            raise OSError(f"{file} has {len(secret)} bytes, expected {SECRET_BYTES}")
        return secret
    raise OSError(f"cannot create {file} (it keeps disappearing)")


def bump_generation(fd: int) -> tuple[int, int]:
    """Replaces the generation nonce in the open file fd (<dir>/generation) under a POSIX lock
    on its 8 bytes (which conflicts with the C++ store's OFD lock): (old value, new value)."""
    with _GEN_LOCK:
        fcntl.lockf(fd, fcntl.LOCK_EX, 8, 0)
        try:
            cur = int.from_bytes(os.pread(fd, 8, 0).ljust(8, b"\0"), "little")
            nxt = cur
            while nxt in (0, cur):
                nxt = int.from_bytes(os.urandom(8), "little")
            os.pwrite(fd, nxt.to_bytes(8, "little"), 0)
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN, 8, 0)
    return cur, nxt


def key_hash(key: bytes) -> bytes:
    return bytes.fromhex(_keys.hash128_hex_of(key))


def sign(secret: bytes, key: bytes, codec: int, stored: bytes) -> bytes:
    mac = hmac.new(secret, b"twincache/1", hashlib.sha256)
    mac.update(struct.pack("<IQ", codec, len(key)))
    mac.update(key)
    mac.update(stored)
    return mac.digest()


class BlobMixin:
    """The side files of large values (<dir>/blobs/, as the C++ store's) of a PureDiskStore:
    written before their row commits, unlinked after the commit that deletes their row."""

    path: str
    _doomed: list[str]

    def _write_blob(self, *parts: Any) -> str | None:
        name = os.urandom(16).hex() + ".bin"
        try:
            fd = os.open(
                f"{self.path}/blobs/{name}",
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW,
                0o600,
            )
        except OSError:
            return None
        try:
            for data in parts:
                view = memoryview(data).cast("B")
                while view:  # pieces of 128 KiB, as the C++ store (see its write_blob)
                    view = view[os.write(fd, view[:_WRITE_CHUNK]) :]
        except OSError:
            os.close(fd)
            self._unlink_blob(name)
            return None
        os.close(fd)
        return name

    def _read_blob(self, name: object) -> bytes | None:
        if not isinstance(name, str) or not _BLOB_NAME.fullmatch(name):
            return None
        # O_NONBLOCK: a FIFO (or device) in the file's place would block open() and read()
        # forever; anything but a regular file is a damaged entry (a corrupt miss), as in C++.
        flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
        try:
            fd = os.open(f"{self.path}/blobs/{name}", flags)
        except OSError:
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            with open(fd, "rb", closefd=False) as f:
                return f.read()
        except OSError:
            return None
        finally:
            os.close(fd)

    def _unlink_blob(self, name: object) -> None:
        if isinstance(name, str) and _BLOB_NAME.fullmatch(name):
            with contextlib.suppress(OSError):
                os.unlink(f"{self.path}/blobs/{name}")

    def _take_doomed(self, db: sqlite3.Connection) -> None:
        """Files of rows deleted or replaced in this transaction (the schema's triggers list
        them), unlinked by _unlink_doomed once it commits."""
        rows = db.execute("SELECT file FROM doomed").fetchall()
        if rows:
            db.execute("DELETE FROM doomed")
        self._doomed = [r[0] for r in rows]

    def _unlink_doomed(self) -> None:
        names, self._doomed = self._doomed, []
        for name in names:
            self._unlink_blob(name)

    def _sweep_orphans(self, db: sqlite3.Connection) -> None:
        """Files no row names, older than an hour (a writer killed before its commit)."""
        cutoff = time.time() - 3600
        try:
            names = os.listdir(self.path + "/blobs")
        except OSError:
            return
        for name in names:
            if not _BLOB_NAME.fullmatch(name):
                continue
            try:
                if os.stat(f"{self.path}/blobs/{name}").st_mtime >= cutoff:
                    continue
            except OSError:
                continue
            if db.execute("SELECT 1 FROM entries WHERE file = ?", (name,)).fetchone() is None:
                self._unlink_blob(name)
