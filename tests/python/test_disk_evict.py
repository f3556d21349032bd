"""DiskCache's on_evict for the removals the store makes on its own (issue 18): entries culled to
max_bytes by a write ('evicted', once each, with their key and value), expired rows reclaimed by
a write or prune() ('expired'), a callback that raises (reported through sys.unraisablehook, the
cache keeps working) and one that reads and writes the cache while being told. Runs native and
TWINCACHE_PURE=1."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from disk_helpers import DiskClock
from twincache import DiskCache

Told = list[tuple[Any, Any, str]]


def _fill(c: DiskCache[str, bytes], clock: DiskClock, names: list[str]) -> None:
    """One committed write per name, each a later access than the one before."""
    for name in names:
        c[name] = name.encode() * 250  # 500 bytes for two-letter names
        c.flush()
        clock.advance(2)  # atime resolution is 1 s


def test_culling_during_writes_tells_each_victim_once(
    cache_dir: Path, disk_clock: DiskClock
) -> None:
    told: Told = []
    c: DiskCache[str, bytes] = DiskCache(
        cache_dir, max_bytes=2100, on_evict=lambda k, v, why: told.append((k, v, why))
    )
    _fill(c, disk_clock, ["k0", "k1", "k2", "k3"])  # about 4 x 510 bytes: within the budget
    assert told == []
    _fill(c, disk_clock, ["k4", "k5", "k6"])  # each write culls the least recently used
    assert told == [(f"k{i}", f"k{i}".encode() * 250, "evicted") for i in range(3)]
    assert c.stats()["evictions"] == 3
    assert sorted(c) == ["k3", "k4", "k5", "k6"]
    # the same without a flush between writes (native: one write-behind batch): once each
    told.clear()
    for i in range(7, 11):
        c[f"k{i}"] = b"x" * 500
    c.flush()
    assert sorted(k for k, _, _ in told) == ["k3", "k4", "k5", "k6"]
    assert {why for _, _, why in told} == {"evicted"} and len(told) == 4
    assert c.stats()["evictions"] == 7


def test_expired_rows_reclaimed_by_a_write_are_told_expired(
    cache_dir: Path, disk_clock: DiskClock
) -> None:
    told: Told = []
    c: DiskCache[str, Any] = DiskCache(
        cache_dir, max_bytes=2100, on_evict=lambda k, v, why: told.append((k, v, why))
    )
    c.set("t0", b"a" * 500, ttl=1)
    c.set("t1", b"b" * 500, ttl=1)
    c["keep"] = b"c" * 500
    c.flush()
    disk_clock.advance(2)
    c["k0"] = b"d" * 500
    c["k1"] = b"e" * 500  # over the budget: the expired rows go first, 'expired'
    c.flush()
    assert sorted(told) == [("t0", b"a" * 500, "expired"), ("t1", b"b" * 500, "expired")]
    assert sorted(c) == ["k0", "k1", "keep"]
    # without a budget: every 64th write reclaims expired rows
    told.clear()
    d: DiskCache[str, Any] = DiskCache(
        cache_dir / "unbounded", on_evict=lambda k, v, why: told.append((k, v, why))
    )
    for i in range(3):
        d.set(f"e{i}", i, ttl=1)
    d.flush()
    disk_clock.advance(2)
    for i in range(70):
        d[f"w{i}"] = i
    d.flush()
    assert sorted(told) == [(f"e{i}", i, "expired") for i in range(3)]


def test_a_raising_callback_is_reported_and_the_cache_keeps_working(
    cache_dir: Path, disk_clock: DiskClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    unraisable: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    told: Told = []

    def callback(key: Any, value: Any, why: str) -> None:
        told.append((key, value, why))
        raise RuntimeError(f"callback failed for {key}")

    c: DiskCache[str, bytes] = DiskCache(cache_dir, max_bytes=2100, on_evict=callback)
    _fill(c, disk_clock, ["k0", "k1", "k2", "k3", "k4", "k5"])
    assert [k for k, _, _ in told] == ["k0", "k1"]  # every victim told despite the errors
    assert [str(u.exc_value) for u in unraisable] == [
        "callback failed for k0",
        "callback failed for k1",
    ]
    c["z"] = b"z"
    c.flush()
    assert c["z"] == b"z" and c["k5"] == b"k5" * 250


def test_a_reentrant_callback_reads_and_writes_the_cache(
    cache_dir: Path, disk_clock: DiskClock
) -> None:
    told: Told = []

    def callback(key: Any, value: Any, why: str) -> None:
        told.append((key, c.get(key), why))  # a read from the callback: already gone
        if key.startswith("k"):
            c["seen-" + key] = b"s"  # a write from the callback (may cull: told too)
        c.flush()

    c: DiskCache[str, bytes] = DiskCache(cache_dir, max_bytes=2100, on_evict=callback)
    _fill(c, disk_clock, ["k0", "k1", "k2", "k3", "k4", "k5"])
    keys = [k for k, _, _ in told]
    assert keys[:2] == ["k0", "k1"]
    assert len(keys) == len(set(keys))  # once each
    assert "seen-k0" in c and "seen-k1" in c
    assert c.stats()["evictions"] == len(told)
    assert {(value, why) for _, value, why in told} == {(None, "evicted")}
