"""@twincache.range_cache against real SQL sources: an SQLite database (stdlib) and PostgreSQL
(Debian's server, started here on a free loopback port in a temporary directory; skipped with
the reason printed when its binaries or psycopg are missing). Asserts the source calls and the
rows fetched for overlapping, nested, disjoint and spanning ranges, concurrent callers (threads,
and processes sharing the directory), the TTL of recent data (injected disk clock), DataFrame
results, and bad input. Native and TWINCACHE_PURE=1.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import twincache
from twincache import _disk
from twincache._testing import call_together

PG_BIN = Path("/usr/lib/postgresql/15/bin")


class Source:
    """A table rows(symbol, ts, price) behind a query function that counts its calls and rows."""

    def __init__(self, query: Callable[[str, int, int], list[dict[str, Any]]]) -> None:
        self.query = query
        self.calls: list[tuple[str, int, int]] = []
        self.rows = 0
        self.lock = threading.Lock()

    def __call__(self, symbol: str, start: int, end: int) -> list[dict[str, Any]]:
        out = self.query(symbol, start, end)
        with self.lock:
            self.calls.append((symbol, start, end))
            self.rows += len(out)
        return out


def _fill(execute: Callable[..., Any]) -> None:
    for sym in ("A", "B"):
        for ts in range(0, 1000):
            execute(sym, ts, ts * 0.5 + (0 if sym == "A" else 1000))


@pytest.fixture
def sqlite_source(tmp_path: Path) -> Source:
    return make_sqlite_source(tmp_path)


def make_sqlite_source(tmp_path: Path) -> Source:
    """The table in an SQLite database under tmp_path (also used by test_range_cache_redis.py)."""
    db_path = tmp_path / "prices.db"
    db = sqlite3.connect(db_path)
    db.execute("CREATE TABLE rows(symbol TEXT, ts INTEGER, price REAL)")
    db.execute("CREATE INDEX rows_ts ON rows(symbol, ts)")
    _fill(lambda s, t, p: db.execute("INSERT INTO rows VALUES (?, ?, ?)", (s, t, p)))
    db.commit()
    db.close()

    def query(symbol: str, start: int, end: int) -> list[dict[str, Any]]:
        conn = sqlite3.connect(db_path)  # one per call: callers run on many threads
        try:
            cur = conn.execute(
                "SELECT ts, price FROM rows WHERE symbol = ? AND ts >= ? AND ts < ? ORDER BY ts",
                (symbol, start, end),
            )
            return [{"index": ts, "price": p} for ts, p in cur]
        finally:
            conn.close()

    return Source(query)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL binaries not found in {PG_BIN} (apt-get install postgresql)")
    psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: initdb refuses root")
    # Not under pytest's temporary root (mode 0700): as root, the server runs as nobody.
    root = Path(tempfile.mkdtemp(prefix="twincache-pg-"))
    data = root / "data"
    port = _free_port()
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb and postgres refuse root: run them as nobody
        os.chmod(root, 0o777)
        as_user = ["runuser", "-u", "nobody", "--"]
    subprocess.run(
        [*as_user, str(PG_BIN / "initdb"), "-D", str(data), "-U", "twincache", "--auth=trust"],
        check=True,
        capture_output=True,
    )
    opts = f"-h 127.0.0.1 -p {port} -k {root}"
    subprocess.run(
        [
            *as_user,
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            opts,
            "-w",
            "start",
            "-l",
            str(root / "log"),
        ],
        check=True,
        capture_output=True,
    )
    dsn = f"host=127.0.0.1 port={port} user=twincache dbname=postgres"
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE rows(symbol TEXT, ts INTEGER, price DOUBLE PRECISION)")
            with conn.cursor() as cur:
                _fill(
                    lambda s, t, p: cur.execute("INSERT INTO rows VALUES (%s, %s, %s)", (s, t, p))
                )
        yield dsn
    finally:
        subprocess.run(
            [*as_user, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_source(postgres: str) -> Source:
    import psycopg

    def query(symbol: str, start: int, end: int) -> list[dict[str, Any]]:
        with psycopg.connect(postgres) as conn:
            cur = conn.execute(
                "SELECT ts, price FROM rows WHERE symbol = %s AND ts >= %s AND ts < %s ORDER BY ts",
                (symbol, start, end),
            )
            return [{"index": ts, "price": p} for ts, p in cur]

    return Source(query)


def _scenario(source: Source, path: Path) -> None:
    @twincache.range_cache(path=path)
    def prices(symbol: str, start: int, end: int) -> list[dict[str, Any]]:
        return source(symbol, start, end)

    def check(rows: list[dict[str, Any]], lo: int, hi: int) -> None:
        assert [r["index"] for r in rows] == list(range(lo, hi))

    check(prices("A", 0, 100), 0, 100)
    assert source.calls == [("A", 0, 100)] and source.rows == 100
    check(prices("A", 50, 150), 50, 150)  # overlapping: only [100, 150)
    assert source.calls[-1] == ("A", 100, 150) and source.rows == 150
    check(prices("A", 20, 80), 20, 80)  # nested: no call
    assert len(source.calls) == 2
    check(prices("A", 300, 400), 300, 400)  # disjoint
    assert source.calls[-1] == ("A", 300, 400) and source.rows == 250
    check(prices("A", 0, 500), 0, 500)  # spanning: two gaps, one call each
    assert source.calls[-2:] == [("A", 150, 300), ("A", 400, 500)] and source.rows == 500
    assert prices("B", 0, 10)[0]["price"] == 1000  # other arguments: their own intervals
    assert source.calls[-1] == ("B", 0, 10)
    prices.flush()

    @twincache.range_cache(path=path)
    def prices(symbol: str, start: int, end: int) -> list[dict[str, Any]]:
        return source(symbol, start, end)

    n = len(source.calls)
    check(prices("A", 10, 490), 10, 490)  # a later run: answered from the directory
    assert len(source.calls) == n


def test_sqlite_source(sqlite_source: Source, tmp_path: Path) -> None:
    _scenario(sqlite_source, tmp_path / "cache")


def test_postgres_source(pg_source: Source, tmp_path: Path) -> None:
    _scenario(pg_source, tmp_path / "cache")


def test_concurrent_callers_fetch_each_row_once(sqlite_source: Source, tmp_path: Path) -> None:
    @twincache.range_cache(path=tmp_path / "cache")
    def prices(symbol: str, start: int, end: int) -> list[dict[str, Any]]:
        return sqlite_source(symbol, start, end)

    results = call_together(8, lambda i: len(prices("A", i * 10, 200 + i * 10)))
    assert results == [200] * 8
    assert sqlite_source.rows == 270  # rows 0..269, each fetched once
    assert prices.stats()["rows"] == 270


_PROCESS = """
import json, os, sqlite3, sys, time
import twincache
cache, db, go, i = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rows = 0

@twincache.range_cache(path=cache)
def prices(symbol, start, end):
    global rows
    conn = sqlite3.connect(db)
    out = [{"index": ts, "price": p} for ts, p in conn.execute(
        "SELECT ts, price FROM rows WHERE symbol = ? AND ts >= ? AND ts < ? ORDER BY ts",
        (symbol, start, end))]
    conn.close()
    rows += len(out)
    return out

while not os.path.exists(go):  # every process started before any calls
    time.sleep(0.001)
n = len(prices("A", i * 10, 200 + i * 10))
print(json.dumps([n, rows]))
"""


def test_processes_sharing_a_directory_fetch_each_row_once(tmp_path: Path) -> None:
    # Eight processes with overlapping ranges: the record lock in <dir>/range.lock lets one
    # at a time fill the gaps of the same arguments, and each finds what the others stored.
    make_sqlite_source(tmp_path)
    cache, go, script = tmp_path / "cache", tmp_path / "go", tmp_path / "worker.py"
    script.write_text(_PROCESS)  # a file: `python -c` code has no source to hash into the key
    args = [str(cache), str(tmp_path / "prices.db"), str(go)]
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), *args, str(i)], stdout=subprocess.PIPE, text=True
        )
        for i in range(8)
    ]
    go.touch()
    results = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert [n for n, _ in results] == [200] * 8
    assert sum(rows for _, rows in results) == 270  # rows 0..269, each fetched once
    assert (cache / "range.lock").stat().st_mode & 0o777 == 0o600


def test_sliding_window_fetches_each_row_once(sqlite_source: Source, tmp_path: Path) -> None:
    @twincache.range_cache(path=tmp_path / "cache")
    def prices(symbol: str, start: int, end: int) -> list[dict[str, Any]]:
        return sqlite_source(symbol, start, end)

    for i in range(100):
        assert len(prices("A", i * 5, i * 5 + 100)) == 100
    assert sqlite_source.rows == 595 and len(sqlite_source.calls) == 100


def test_recent_data_is_refetched_after_its_ttl(
    sqlite_source: Source, tmp_path: Path, disk_clock: None
) -> None:
    @twincache.range_cache(path=tmp_path / "cache", ttl=3600, recent_from=lambda: 900)
    def prices(symbol: str, start: int, end: int) -> list[dict[str, Any]]:
        return sqlite_source(symbol, start, end)

    prices("A", 0, 500)
    prices("A", 500, 1000)  # reaches past 900: recent, covered for an hour
    assert len(sqlite_source.calls) == 2
    _disk.clock_advance(3599 * 10**9)
    prices("A", 0, 1000)
    assert len(sqlite_source.calls) == 2
    _disk.clock_advance(2 * 10**9)
    assert len(prices("A", 0, 1000)) == 1000
    assert sqlite_source.calls[-1] == ("A", 500, 1000) and len(sqlite_source.calls) == 3


def test_dataframe_results(sqlite_source: Source, tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas", reason="pandas is not installed")

    @twincache.range_cache(path=tmp_path / "cache")
    def frame(symbol: str, start: int, end: int) -> Any:
        rows = sqlite_source(symbol, start, end)
        return pd.DataFrame(rows).set_index("index")

    a = frame("A", 0, 100)
    b = frame("A", 50, 150)
    assert list(a.index) == list(range(100)) and list(b.index) == list(range(50, 150))
    assert sqlite_source.rows == 150
    assert b["price"].iloc[-1] == 149 * 0.5


def test_bad_input(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="parameters named start and end"):
        twincache.range_cache(path=tmp_path)(lambda a, b: [])
    with pytest.raises(TypeError, match="index must be a column or field name"):
        twincache.range_cache(index=3, path=tmp_path)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ttl"):
        twincache.range_cache(ttl=-1, path=tmp_path)

    @twincache.range_cache(path=tmp_path)
    def f(start: int, end: int) -> list[dict[str, Any]]:
        return []

    with pytest.raises(ValueError, match="start must be < end"):
        f(5, 5)
