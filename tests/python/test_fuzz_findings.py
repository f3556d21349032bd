"""Regression tests for what the fuzzers of tests/fuzz found (docs/fuzzing.md, "Findings"). Each
test rebuilds the shape of the failing input with the public API. Runs native and
TWINCACHE_PURE=1."""

from __future__ import annotations

import hashlib
import hmac
import resource
import sqlite3
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from twincache import DiskCache, _disk

PAGE = 16384


def test_json_codec_refuses_a_lone_surrogate_with_the_documented_type_error(
    tmp_path: Path,
) -> None:
    # fuzz_codecs.py: json.dumps accepts "\udfe8" but its UTF-8 encoding fails, and that
    # UnicodeEncodeError escaped set() instead of the codec's TypeError.
    c = DiskCache(tmp_path / "cache", codec="json")
    c["k"] = "before"
    with pytest.raises(TypeError, match=r"codec='json' cannot store this list .*surrogates"):
        c["k"] = ["ok", "\udfe8"]
    assert c["k"] == "before"  # unchanged
    c["k"] = "\u00e9\U0001f600"  # valid non-ASCII text is stored as ever
    c.flush()
    assert DiskCache(tmp_path / "cache", codec="json")["k"] == "\u00e9\U0001f600"


def test_a_read_whose_access_time_refresh_meets_a_damaged_index_returns_the_value(
    tmp_path: Path, disk_clock: None
) -> None:
    # fuzz_disk_dir.py (pure): a hit refreshes the entry's access time; when that UPDATE met a
    # damaged page (here: the access-time index), sqlite3.DatabaseError escaped get(). The
    # value was read and its HMAC checked: it is returned, and the damaged database is moved
    # aside with one warning (native defers the refresh to the next write: no warning there).
    path = tmp_path / "cache"
    c = DiskCache(path)
    for i in range(5):
        c[f"k{i}"] = f"value {i}"
    c.flush()
    del c
    db = sqlite3.connect(path / "cache.db")
    (root,) = db.execute(
        "SELECT rootpage FROM sqlite_master WHERE name = 'entries_atime'"
    ).fetchone()
    db.close()
    with open(path / "cache.db", "r+b") as f:
        f.seek((root - 1) * PAGE)
        f.write(b"\xa5" * PAGE)
    _disk.clock_advance(5_000_000_000)  # past the refresh resolution (1 s): the read refreshes
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        c = DiskCache(path)
        assert c.get("k1") == "value 1"  # sqlite3.DatabaseError (pure) before the fix
        c["after"] = "ok"
        assert c["after"] == "ok"
    for w in record:
        assert w.category is RuntimeWarning and str(path) in str(w.message), w
    assert sum("moved it to" in str(w.message) for w in record) <= 1


# fuzz_envelope (C++) and the same read in Python's pure store: a signed zstd frame of 35 bytes
# that declares 2.7 GB made the read allocate them first. The reader runs in a child process
# capped at 1.5 GiB of address space: before the fix, MemoryError; now a counted corrupt miss.
FRAME = bytes.fromhex("28b52ffd" + "a3" * 26 + "2074766574")

READER = """
import sys, twincache
c = twincache.DiskCache(sys.argv[1])
got = c.get("k", "<miss>")
print(got, c.stats()["corrupt"])
"""


def test_a_signed_frame_declaring_gigabytes_is_a_corrupt_miss_without_the_allocation(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cache"
    c = DiskCache(path)
    c["k"] = "placeholder"
    c.flush()
    del c
    key = _disk._encode_key("k")
    codec = 0x100 | 1  # zstd | pickle
    secret = (path / "secret").read_bytes()
    message = b"twincache/1" + struct.pack("<IQ", codec, len(key)) + key + FRAME
    mac = hmac.new(secret, message, hashlib.sha256).digest()
    db = sqlite3.connect(path / "cache.db")
    with db:
        db.execute("UPDATE entries SET codec = ?, value = ?, hmac = ?", (codec, FRAME, mac))
    db.close()

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (3 << 29, 3 << 29))

    r = subprocess.run(
        [sys.executable, "-c", READER, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=cap,
    )
    assert r.returncode == 0, r.stderr  # MemoryError before the fix
    assert r.stdout.split() == ["<miss>", "1"]


def test_a_damaged_schema_quoting_non_utf8_bytes_warns_readably(tmp_path: Path) -> None:
    # fuzz_disk_dir.py (native): SQLite's message for a malformed schema quotes the file's bytes;
    # a byte that is not UTF-8 made reading the moved-aside warning raise UnicodeDecodeError from
    # DiskCache() (pure: from sqlite3 itself). The file is moved aside with a readable warning.
    path = tmp_path / "cache"
    c = DiskCache(path)
    c["k"] = 1
    c.flush()
    del c
    db = path / "cache.db"
    data = db.read_bytes()
    index = b"CREATE INDEX entries_atime ON entries(atime)"
    assert data.count(index) == 1
    db.write_bytes(data.replace(index, b"CREATE INDEX entries_atime \xc6N entries(atime)"))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        c = DiskCache(path)  # UnicodeDecodeError (native) before the fix
        assert c.get("k") is None
    messages = [str(w.message) for w in record]
    assert len(messages) == 1, messages
    assert "malformed database schema" in messages[0]
    assert "moved it to" in messages[0]
    c["k"] = 2
    assert c["k"] == 2


def test_a_schema_with_a_renamed_column_is_moved_aside_not_an_error_on_write(
    tmp_path: Path,
) -> None:
    # fuzz_disk_dir.py (pure): a damaged schema text renaming meta's column "hits" opened
    # fine in the pure store, and the first write raised "no such column: hits". Like the
    # C++ store (whose statements are prepared at open), it is now moved aside at open.
    path = tmp_path / "cache"
    c = DiskCache(path)
    c["k"] = 1
    c.flush()
    del c
    db = path / "cache.db"
    data = db.read_bytes()
    column = b"hits INTEGER NOT NULL DEFAULT 0"
    assert data.count(column) == 1
    db.write_bytes(data.replace(column, b"hitz INTEGER NOT NULL DEFAULT 0"))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        c = DiskCache(path)
        c["new"] = [1, 2]  # OperationalError (pure) before the fix
        c.flush()
        assert c["new"] == [1, 2]
        assert c.get("k") is None
    messages = [str(w.message) for w in record]
    assert len(messages) == 1, messages
    assert "no such column" in messages[0] and "moved it to" in messages[0]
