"""Issue 14, "nothing blocks without bound" (docs/persistence.md and docs/python.md, "Waits and
their limits"), plus the sync single_flight and codec leftovers of items 4 and 6:

- a single_flight=True caller waits for another thread's computation at most
  twincache._api.SINGLE_FLIGHT_WAIT_S, then computes on its own; invalidate() and cache_clear()
  during a computation keep its late result out (as the async path and Node's fetch());
- a database locked by another process (BEGIN EXCLUSIVE) makes writes fail with OSError after
  the busy timeout (twincache._disk.BUSY_TIMEOUT_MS, shortened here), reads go on (WAL);
- a blob replaced by a FIFO is a counted corrupt miss, not a reader blocked forever;
- a Node v8 entry read from Python says what it is.

Limits are shortened so the tests are quick; they assert outcomes, never durations. Runs native
and TWINCACHE_PURE=1."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import twincache
from twincache import DiskCache, _api
from twincache import _disk as disk_module

# --- single flight -------------------------------------------------------------------------------


def blocked_leader(
    decorator: Callable[[Callable[[int], str]], Any],
) -> tuple[Any, list[str], threading.Event, threading.Thread, dict[str, str]]:
    """f(x) computed by a leader thread that blocks until `release` is set; every other caller
    computes at once. Returns f, the names of the threads that computed, release, the leader
    thread (started and blocked) and the leader's result (once it returns)."""
    calls: list[str] = []
    started, release = threading.Event(), threading.Event()
    result: dict[str, str] = {}

    @decorator
    def f(x: int) -> str:
        me = threading.current_thread().name
        calls.append(me)
        if me == "leader":
            started.set()
            release.wait()
        return f"{x} by {me}"

    leader = threading.Thread(target=lambda: result.update(value=f(1)), name="leader")
    leader.start()
    assert started.wait(10)
    return f, calls, release, leader, result


def test_waiter_computes_on_its_own_after_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_api, "SINGLE_FLIGHT_WAIT_S", 0.05)
    f, calls, release, leader, result = blocked_leader(twincache.cache(single_flight=True))
    try:
        assert f(1) == "1 by MainThread", "the waiter gave the stuck computation up"
        assert f(1) == "1 by MainThread", "and its own result is stored"
    finally:
        release.set()
        leader.join()
    assert result["value"] == "1 by leader", "the leader's caller still gets its result"
    assert f(1) == "1 by MainThread", "the given-up computation's late result is not stored"
    assert calls == ["leader", "MainThread"]


def test_waiter_within_the_limit_gets_the_leaders_result() -> None:
    f, calls, release, leader, result = blocked_leader(twincache.cache(single_flight=True))
    got: list[str] = []
    waiter = threading.Thread(target=lambda: got.append(f(1)), name="waiter")
    waiter.start()
    release.set()
    waiter.join()
    leader.join()
    assert got == ["1 by leader"] and result["value"] == "1 by leader"
    assert calls == ["leader"]


@pytest.mark.parametrize("removal", ["invalidate", "cache_clear"])
@pytest.mark.parametrize("maxsize", [None, 8], ids=["unbounded", "maxsize"])
def test_removal_during_a_sync_flight_keeps_its_late_result_out(
    removal: str, maxsize: int | None
) -> None:
    f, calls, release, leader, result = blocked_leader(
        twincache.cache(maxsize=maxsize, single_flight=True)
    )
    try:
        if removal == "invalidate":
            assert f.invalidate(1) is False  # nothing stored yet
        else:
            f.cache_clear()
    finally:
        release.set()
        leader.join()
    assert result["value"] == "1 by leader"
    assert f.cache_info().currsize == 0, "the result computed across the removal is not stored"
    assert f(1) == "1 by MainThread", "the next call computes again"
    assert f(1) == "1 by MainThread" and f.cache_info().currsize == 1, "and its result is stored"
    assert calls == ["leader", "MainThread"]


def test_invalidating_other_arguments_keeps_the_flights_result() -> None:
    f, calls, release, leader, _ = blocked_leader(twincache.cache(single_flight=True))
    try:
        assert f.invalidate(2) is False
    finally:
        release.set()
        leader.join()
    assert f(1) == "1 by leader"
    assert calls == ["leader"]


# --- SQLite busy ---------------------------------------------------------------------------------


@pytest.fixture
def short_busy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(disk_module, "BUSY_TIMEOUT_MS", 200)


class Holder:
    """Another process holding the database's write lock (BEGIN EXCLUSIVE) until closed."""

    def __init__(self, path: Path) -> None:
        code = (
            "import sqlite3, sys\n"
            f"db = sqlite3.connect({str(path / 'cache.db')!r}, isolation_level=None)\n"
            "db.execute('BEGIN EXCLUSIVE')\n"
            "db.execute('UPDATE meta SET hits = hits WHERE id = 1')\n"
            "print('locked', flush=True)\n"
            "sys.stdin.read()\n"
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "locked"

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        assert self.proc.wait(30) == 0


@pytest.fixture
def locked(tmp_path: Path, short_busy: None) -> Iterator[tuple[DiskCache, Holder]]:
    path = tmp_path / "cache"
    c = DiskCache(path)
    c["a"] = 1
    c.flush()
    holder = Holder(path)
    try:
        yield c, holder
    finally:
        if holder.proc.returncode is None:
            holder.close()


def test_locked_database_fails_writes_with_oserror_after_the_limit(
    locked: tuple[DiskCache, Holder],
) -> None:
    c, holder = locked
    with pytest.raises(OSError, match="database is locked"):
        c["b"] = 2
        c.flush()  # native: the write-behind thread's error is raised here
    with pytest.raises(OSError, match="database is locked"):
        del c["a"]
    assert c["a"] == 1, "reads go on"
    holder.close()
    c["b"] = 2
    c.flush()
    assert DiskCache(c.path)["b"] == 2, "the cache works again once the lock is gone"


def test_opening_a_locked_database_falls_back_to_memory_after_the_limit(
    locked: tuple[DiskCache, Holder],
) -> None:
    """Opening writes (the schema, in a transaction): past the limit, memory only."""
    c, _ = locked
    with pytest.warns(RuntimeWarning, match="database is locked.*caching in memory only"):
        other = DiskCache(c.path)
    assert not other.persistent
    other["x"] = 1
    assert other["x"] == 1


# --- files that are not regular files ------------------------------------------------------------


def test_blob_replaced_by_a_fifo_is_a_corrupt_miss(tmp_path: Path) -> None:
    path = tmp_path / "cache"
    c = DiskCache(path)
    big = os.urandom(512 * 1024)  # incompressible: stored in a file of its own under blobs/
    c["big"] = big
    c["small"] = b"y"
    c.flush()
    (blob,) = (path / "blobs").iterdir()
    blob.unlink()
    os.mkfifo(blob)
    reader = DiskCache(path)  # a fresh instance: nothing in its memory tier
    assert reader.get("big") is None
    assert reader.stats()["corrupt"] == 1
    assert "big" not in reader, "the damaged entry is dropped"
    assert reader["small"] == b"y"


# --- codecs of other languages -------------------------------------------------------------------


def test_node_v8_entry_says_what_it_is(tmp_path: Path) -> None:
    c = DiskCache(tmp_path / "cache")
    c["k"] = "placeholder"
    c.flush()
    c._store.set(disk_module._encode_key("k"), 3, b"\xff\x0f\x22\x02hi")  # Node's codec 3
    c._store.flush()
    reader = DiskCache(tmp_path / "cache")
    with pytest.raises(ValueError, match=r"stored by Node with codec 'v8'.*use codec='json'"):
        reader["k"]
    c._store.set(disk_module._encode_key("k"), 77, b"?")
    c._store.flush()
    with pytest.raises(ValueError, match=r"unknown codec \(77\)"):
        DiskCache(tmp_path / "cache")["k"]


# --- a damaged database another process holds open -----------------------------------------------


def test_opening_a_truncated_database_another_process_holds_open(tmp_path: Path) -> None:
    """The audit saw this open block for over 40 s; now the new process moves the damaged file
    aside and works (run in a subprocess with a generous limit: a hang fails, never blocks), and
    the holder's own calls still return."""
    path = tmp_path / "cache"
    fill = DiskCache(path)
    for i in range(300):
        fill[f"k{i}"] = bytes([i % 251]) * 3000
    fill.flush()
    del fill  # closed: its pages are in cache.db now, not only in the WAL
    holder_code = (
        "import sys, twincache\n"
        f"c = twincache.DiskCache({str(path)!r})\n"
        "assert c['k1'] is not None\n"
        "print('open', flush=True)\n"
        "sys.stdin.read()\n"
        "c['after'] = 1\n"
        "c.flush()\n"
        "print('holder ok', flush=True)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", holder_code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        db = path / "cache.db"
        os.truncate(db, db.stat().st_size // 2)
        opener_code = (
            "import twincache, warnings\n"
            "warnings.simplefilter('always')\n"
            f"c = twincache.DiskCache({str(path)!r})\n"
            "c['x'] = 1\n"
            "c.flush()\n"
            "print(c.persistent, c['x'])\n"
        )
        opened = subprocess.run(
            [sys.executable, "-c", opener_code], capture_output=True, text=True, timeout=120
        )
        assert opened.returncode == 0, opened.stderr
        assert opened.stdout.split() == ["True", "1"]
        assert opened.stderr.count("RuntimeWarning") == 1 and "moved it to" in opened.stderr
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(120)
    assert holder.stdout is not None
    assert holder.returncode == 0 and holder.stdout.read().strip() == "holder ok"
