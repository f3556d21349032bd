"""Damaged files and full disks (issue 14; docs/persistence.md "Damaged databases", "Full
disks"): a cache.db with garbage over its header, cut in half or not twincache's is moved aside
with one warning and the cache keeps working; a damaged page is a counted miss, never an error;
on a full disk (a 2 MiB tmpfs, mounted when permitted) writes are counted write errors raised by
flush() as OSError, and del, pop and clear() free space. Runs native and TWINCACHE_PURE=1."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import twincache
from twincache import DiskCache

PAGE = 16384


def fill(path: Path, n: int, size: int) -> None:
    c = DiskCache(path)
    for i in range(n):
        c[f"k{i}"] = bytes([i % 251]) * size
    c.flush()
    del c


def aside_files(path: Path) -> list[Path]:
    return sorted(path.glob("cache.db.corrupt-*[0-9]"))  # not the -wal, -shm


def open_warned(path: Path) -> tuple[DiskCache, list[str]]:
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        c = DiskCache(path)
    return c, [str(w.message) for w in record if issubclass(w.category, RuntimeWarning)]


def expect_moved_aside(path: Path, messages: list[str]) -> None:
    aside = aside_files(path)
    assert len(aside) == 1, aside
    moved = [m for m in messages if "moved it to" in m]
    assert len(moved) == 1, messages
    assert f"moved it to {aside[0]}" in moved[0]
    assert "started an empty cache" in moved[0]
    assert aside[0].stat().st_mode & 0o777 == 0o600


def expect_working(path: Path) -> None:
    c = DiskCache(path)
    assert c.persistent
    c["fresh"] = {"v": 1}
    c.flush()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the fresh database opens quietly
        assert DiskCache(path)["fresh"] == {"v": 1}


def test_garbage_over_the_header_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "cache"
    fill(path, 20, 100)
    db = path / "cache.db"
    data = bytearray(db.read_bytes())
    data[:32] = bytes(0xA5 ^ i for i in range(32))
    db.write_bytes(bytes(data))
    c, messages = open_warned(path)  # SIGSEGV (native) before the fix
    assert c.persistent
    expect_moved_aside(path, messages)
    assert "file is not a database" in messages[0]
    assert c.get("k1") is None
    expect_working(path)


def test_database_cut_in_half_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "cache"
    fill(path, 200, 1000)
    db = path / "cache.db"
    size = db.stat().st_size
    assert size > 8 * PAGE
    os.truncate(db, size // 2)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        c = DiskCache(path)
        values = [c.get(f"k{i}") for i in range(200)]  # never an error
        n = len(c)
    messages = [str(w.message) for w in record]
    expect_moved_aside(path, messages)
    assert values.count(None) >= 100
    assert n == 0
    expect_working(path)


def test_foreign_database_is_moved_aside_not_adopted(tmp_path: Path) -> None:
    path = tmp_path / "cache"
    path.mkdir(mode=0o700)
    other = sqlite3.connect(path / "cache.db")
    other.execute("CREATE TABLE entries(x)")
    other.execute("INSERT INTO entries VALUES (42)")
    other.commit()
    other.close()
    os.chmod(path / "cache.db", 0o600)
    c, messages = open_warned(path)
    assert c.persistent
    expect_moved_aside(path, messages)
    kept = sqlite3.connect(aside_files(path)[0])
    assert kept.execute("SELECT x FROM entries").fetchall() == [(42,)]
    kept.close()
    expect_working(path)


def test_newer_format_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "cache"
    fill(path, 1, 10)
    db = sqlite3.connect(path / "cache.db")
    db.execute("UPDATE meta SET format = 99")
    db.commit()
    db.close()
    c, messages = open_warned(path)
    assert not c.persistent
    assert any("has format 99" in m for m in messages), messages
    assert aside_files(path) == []


def test_cli_and_disk_function_survive_a_damaged_database(tmp_path: Path) -> None:
    path = tmp_path / "cache"
    fill(path, 5, 100)
    with open(path / "cache.db", "r+b") as f:
        f.write(b"\xff" * 32)
    r = subprocess.run(
        [sys.executable, "-m", "twincache", "info", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr  # -11 (SIGSEGV) native before the fix
    assert "moved it to" in r.stderr
    os.truncate(path / "cache.db", 100)  # damage the fresh one too

    calls = []

    def square(x: int) -> int:
        calls.append(x)
        return x * x

    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        f = twincache.cache(backend="disk", path=path)(square)
        assert [f(3), f(3), f(4)] == [9, 9, 16]
    assert calls == [3, 4]
    assert sum("moved it to" in str(w.message) for w in record) == 1
    assert len(aside_files(path)) == 2


def test_flipped_bit_in_every_page_is_a_counted_miss_never_an_error(tmp_path: Path) -> None:
    path = tmp_path / "cache"
    n = 300
    fill(path, n, 700)
    db = path / "cache.db"
    data = bytearray(db.read_bytes())
    pages = len(data) // PAGE
    assert pages > 10
    for p in range(1, pages):  # page 1 is the header case above
        data[p * PAGE + (p * 7919) % PAGE] ^= 0x10
    db.write_bytes(bytes(data))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        c = DiskCache(path)
        assert c.persistent
        got = [c.get(f"k{i}") for i in range(n)]  # never an error
        again = [c.get(f"k{i}") for i in range(n)]
    for i, v in enumerate(got + again):
        assert v is None or v == bytes([i % n % 251]) * 700
    assert got.count(None) > 0
    s = c.stats()
    assert s["corrupt"] >= 1
    assert s["hits"] + s["misses"] == 2 * n
    assert sum("moved it to" in str(w.message) for w in record) <= 1
    assert len(aside_files(path)) <= 1
    c["after"] = "ok"
    assert c["after"] == "ok"
    c.pop("k7", None)
    c.clear()
    assert len(c) == 0


# ---- full disks -----------------------------------------------------------------------------


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs (root only; skipped, with the reason, where mount is not permitted)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
        check=False,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a 2 MiB tmpfs ({r.stderr.strip()}): full-disk tests need root")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill_disk(mnt: Path) -> None:
    fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass  # ENOSPC: full
    finally:
        os.close(fd)


def test_full_disk_write_is_a_counted_write_error_raised_by_flush(small_fs: Path) -> None:
    c = DiskCache(small_fs / "cache")
    c["a"] = 1
    c.flush()
    fill_disk(small_fs)
    c["big"] = os.urandom(300_000)  # not raised here: committed in the background (native)
    with pytest.raises(OSError, match="database or disk is full"):
        c.flush()
    assert c.stats()["write_errors"] == 1
    c.flush()  # raised once
    assert c["a"] == 1


def test_full_disk_del_pop_and_clear_free_space(small_fs: Path) -> None:
    path = small_fs / "cache"
    c = DiskCache(path)
    for i in range(8):
        c[f"k{i}"] = os.urandom(8000)
    c["large"] = os.urandom(200_000)  # a file of its own in blobs/
    c.flush()
    fill_disk(small_fs)
    del c["k3"]
    assert "k3" not in c
    assert len(c.pop("k4")) == 8000
    c.clear()
    assert len(c) == 0
    s = c.stats()
    assert (s["items"], s["bytes"]) == (0, 0)
    assert list((path / "blobs").iterdir()) == []
    (small_fs / "filler").unlink()
    c["again"] = "v"
    c.flush()
    assert DiskCache(path)["again"] == "v"
