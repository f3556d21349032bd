"""Type-aware values on the disk tier (docs/persistence.md, "Typed values"): numpy arrays as
tcarray/1 (never pickled: a pickle-free entry is checked in the database itself), pandas objects
as Arrow IPC, memory-mapped loads (mmap=True) and their integrity checks, peak memory while
storing a large array, and readers meeting a codec they do not know. Native and
TWINCACHE_PURE=1."""

from __future__ import annotations

import os
import sqlite3
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import twincache
from twincache import DiskCache, _disk_values


def _row(path: Path, key: str) -> tuple[Any, ...]:
    db = sqlite3.connect(path / "cache.db")
    try:
        rows = db.execute("SELECT key, codec, value, file FROM entries").fetchall()
    finally:
        db.close()
    for row in rows:
        if twincache._disk.decode_key(row[0]) == key:
            return tuple(row)
    raise AssertionError(f"no row for {key!r}")


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.float64).reshape(3, 4),
        np.arange(10, dtype=np.int32),
        np.array([True, False, True]),
        np.zeros((0, 3), dtype=np.uint16),
        np.array(3.5, dtype=np.float32),
        np.array(["2024-01-01", "2024-01-02"], dtype="datetime64[ns]"),
        np.asfortranarray(np.arange(6, dtype=np.int64).reshape(2, 3)),
        np.arange(20, dtype=np.complex128)[::3],  # strided: copied once, into C order
    ],
)
def test_small_arrays_round_trip_without_pickle(tmp_path: Path, array: Any) -> None:
    c = DiskCache(tmp_path)
    c["a"] = array
    c.flush()
    _, codec, value, file = _row(tmp_path, "a")
    assert codec == _disk_values.CODEC_ARRAY and file is None
    assert value[:4] == b"TCA1" and b"pickle" not in value
    back = DiskCache(tmp_path)["a"]  # a fresh instance: read from the database
    assert back.dtype == array.dtype and back.shape == array.shape
    assert np.array_equal(back, array) and back.flags.writeable
    back[...] = 0 if back.size else back  # the caller's own copy
    assert np.array_equal(DiskCache(tmp_path)["a"], array)


def test_large_array_goes_to_a_side_file_and_loads_writable(tmp_path: Path) -> None:
    a = np.random.default_rng(1).random((512, 512))  # 2 MiB
    c = DiskCache(tmp_path)
    c["big"] = a
    c.flush()
    _, codec, value, file = _row(tmp_path, "big")
    assert codec == _disk_values.CODEC_ARRAY and value == b"" and file
    data = (tmp_path / "blobs" / file).read_bytes()
    assert data[:4] == b"TCA1" and len(data) == 64 + a.nbytes  # header padded to 64 bytes
    back = DiskCache(tmp_path)["big"]
    assert np.array_equal(back, a) and back.flags.writeable and back.flags.c_contiguous


def test_mmap_returns_a_read_only_map_of_the_file(tmp_path: Path) -> None:
    a = np.arange(300_000, dtype=np.int64).reshape(1000, 300)
    c = DiskCache(tmp_path)
    c["big"] = a
    c["small"] = np.arange(3)
    c.flush()
    r = DiskCache(tmp_path)
    m = r.get("big", mmap=True)
    assert np.array_equal(m, a) and not m.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        m[0, 0] = 1
    assert np.array_equal(r.get("small", mmap=True), [0, 1, 2])  # in the row: read as usual
    assert r.get("absent", mmap=True) is None
    assert r.stats()["hits"] == 2
    with pytest.raises(TypeError, match="mmap must be True or False"):
        r.get("big", mmap="yes")  # type: ignore[call-overload]


def test_replacing_a_mapped_entry_leaves_the_map_unchanged(tmp_path: Path) -> None:
    a = np.ones(100_000)
    c = DiskCache(tmp_path)
    c["k"] = a
    c.flush()
    m = DiskCache(tmp_path).get("k", mmap=True)
    c["k"] = np.zeros(100_000)  # a new file; the old one is unlinked, the map keeps its pages
    c.flush()
    assert m.sum() == 100_000
    assert DiskCache(tmp_path)["k"].sum() == 0


@pytest.mark.parametrize("mmap", [False, True])
def test_a_tampered_array_file_is_a_counted_corrupt_miss(tmp_path: Path, mmap: bool) -> None:
    c = DiskCache(tmp_path)
    c["k"] = np.arange(100_000, dtype=np.float64)
    c.flush()
    file = _row(tmp_path, "k")[3]
    blob = tmp_path / "blobs" / file
    data = bytearray(blob.read_bytes())
    data[-1] ^= 1
    blob.write_bytes(bytes(data))
    r = DiskCache(tmp_path)
    assert r.get("k", mmap=mmap) is None
    st = r.stats()
    assert st["corrupt"] == 1 and st["misses"] == 1 and st["hits"] == 0
    assert "k" not in r  # removed


def test_storing_a_large_array_makes_no_full_copy(tmp_path: Path) -> None:
    a = np.random.default_rng(2).random(4_000_000)  # 32 MB
    c = DiskCache(tmp_path)
    tracemalloc.start()
    try:
        c["a"] = a
        c.flush()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 0.2 * a.nbytes, f"peak {peak} bytes while storing {a.nbytes}"
    assert np.array_equal(DiskCache(tmp_path)["a"], a)


def test_object_arrays_and_subclasses_still_pickle(tmp_path: Path) -> None:
    c = DiskCache(tmp_path)
    c["o"] = np.array([{"a": 1}, None], dtype=object)
    c["m"] = np.ma.masked_array([1, 2, 3], mask=[0, 1, 0])
    c.flush()
    assert _row(tmp_path, "o")[1] == 1 and _row(tmp_path, "m")[1] == 1
    assert DiskCache(tmp_path)["o"][0] == {"a": 1}
    assert DiskCache(tmp_path)["m"].mask.tolist() == [False, True, False]


def test_bytes_stay_raw(tmp_path: Path) -> None:
    c = DiskCache(tmp_path)
    c["b"] = b"\x00\x01"
    c.flush()
    assert _row(tmp_path, "b")[1:3] == (0, b"\x00\x01")


def test_pandas_objects_go_through_arrow(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas", reason="pandas is not installed")
    pytest.importorskip("pyarrow", reason="pyarrow is not installed")
    df = pd.DataFrame(
        {"x": np.arange(5), "s": list("abcde"), "f": np.linspace(0, 1, 5)},
        index=pd.date_range("2024-01-01", periods=5, name="day"),
    )
    named = pd.Series([1.0, 2.0, 3.0], name="price")
    unnamed = pd.Series([1, 2], index=["a", "b"])
    c = DiskCache(tmp_path)
    c["df"], c["named"], c["unnamed"] = df, named, unnamed
    c.flush()
    for k in ("df", "named", "unnamed"):
        codec, value = _row(tmp_path, k)[1:3]
        assert codec == _disk_values.CODEC_ARROW and value[:4] == b"\xff\xff\xff\xff"  # IPC
    r = DiskCache(tmp_path)
    pd.testing.assert_frame_equal(r["df"], df, check_freq=False)  # Arrow keeps no freq
    pd.testing.assert_series_equal(r["named"], named)
    pd.testing.assert_series_equal(r["unnamed"], unnamed)


def test_an_unknown_codec_is_a_clear_error(tmp_path: Path) -> None:
    c = DiskCache(tmp_path)
    store = c._store
    key = twincache._disk._key_bytes("future")
    store.set(key, 77, b"data")
    store.flush()
    with pytest.raises(ValueError, match=r"unknown codec \(77\)"):
        DiskCache(tmp_path)["future"]


def test_a_bad_array_header_is_a_clear_error(tmp_path: Path) -> None:
    c = DiskCache(tmp_path)
    key = twincache._disk._key_bytes("bad")
    c._store.set(key, _disk_values.CODEC_ARRAY, _disk_values.array_header("<f8", [4], "C") + b"x")
    c._store.flush()
    with pytest.raises(ValueError, match="size does not match its header"):
        DiskCache(tmp_path)["bad"]


def test_disk_decorator_returns_arrays_and_maps_them(tmp_path: Path) -> None:
    calls = []

    @twincache.cache(backend="disk", path=tmp_path)
    def make(n: int) -> Any:
        calls.append(n)
        return np.arange(n, dtype=np.float64)

    assert np.array_equal(make(100_000), np.arange(100_000))
    make.flush()
    assert np.array_equal(make(100_000), np.arange(100_000)) and calls == [100_000]
    db = sqlite3.connect(tmp_path / "cache.db")
    assert db.execute("SELECT codec FROM entries").fetchall() == [(_disk_values.CODEC_ARRAY,)]
    db.close()


_VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "tcarray.json"


def test_tcarray_vectors_shared_with_node(tmp_path: Path) -> None:
    import json

    vectors = json.loads(_VECTORS.read_text())["vectors"]
    assert len(vectors) >= 6
    for v in vectors:
        dtype = np.dtype(v["dtype"])
        values = [int(x) for x in v["values"]] if dtype.kind in "iu" else v["values"]
        a = np.array(values, dtype=dtype).reshape(v["shape"])
        head, body = _disk_values.array_parts(a)
        assert (head + body.tobytes()).hex() == v["hex"], v["name"]
        back = _disk_values.array_from(bytes.fromhex(v["hex"]))
        assert back.dtype == dtype and back.shape == tuple(v["shape"]), v["name"]
        assert np.array_equal(back, a), v["name"]


def test_disk_decorator_with_mmap_maps_large_results(tmp_path: Path) -> None:
    from twincache._disk import disk_decorator

    calls = []

    @disk_decorator(path=tmp_path, mmap=True)
    def make(n: int) -> Any:
        calls.append(n)
        return np.arange(n, dtype=np.float64)

    make(100_000)
    make.flush()
    m = make(100_000)
    assert np.array_equal(m, np.arange(100_000)) and not m.flags.writeable and calls == [100_000]
    with pytest.raises(TypeError, match="mmap must be True or False"):
        disk_decorator(path=tmp_path, mmap=1)


def test_a_large_frame_goes_to_its_side_file_uncompressed(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas", reason="pandas is not installed")
    pytest.importorskip("pyarrow", reason="pyarrow is not installed")
    df = pd.DataFrame({"a": np.zeros(100_000), "b": np.arange(100_000)})  # compressible
    c = DiskCache(tmp_path)
    c["df"] = df
    c.flush()
    _, codec, value, file = _row(tmp_path, "df")
    assert codec == _disk_values.CODEC_ARROW and value == b"" and file
    assert (tmp_path / "blobs" / file).stat().st_size > df.memory_usage().sum()
    pd.testing.assert_frame_equal(DiskCache(tmp_path)["df"], df)
    blob = tmp_path / "blobs" / file
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 1
    blob.write_bytes(bytes(data))
    r = DiskCache(tmp_path)
    assert r.get("df") is None and r.stats()["corrupt"] == 1


def test_a_checked_file_is_not_hashed_again_until_it_changes(tmp_path: Path) -> None:
    c = DiskCache(tmp_path)
    c["k"] = np.arange(100_000, dtype=np.float64)
    c.flush()
    r = DiskCache(tmp_path)
    assert r.get("k", mmap=True)[5] == 5
    calls = []
    r._store = _Spy(r._store, calls)  # type: ignore[assignment]
    assert r.get("k", mmap=True)[7] == 7 and r.get("k")[9] == 9
    assert calls == [] and r.stats()["hits"] == 3  # the same file, unchanged: not hashed again
    blob = tmp_path / "blobs" / _row(tmp_path, "k")[3]
    data = bytearray(blob.read_bytes())
    data[-1] ^= 1
    (tmp_path / "swap").write_bytes(bytes(data))
    os.replace(tmp_path / "swap", blob)  # another file in its place: checked, and refused
    assert r.get("k", mmap=True) is None and calls == ["verify"]
    assert r.stats()["corrupt"] == 1


class _Spy:
    """A store whose verify() calls are recorded."""

    def __init__(self, store: Any, calls: list[str]) -> None:
        self._store, self._calls = store, calls

    def verify(self, *args: Any) -> bool:
        self._calls.append("verify")
        return bool(self._store.verify(*args))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)
