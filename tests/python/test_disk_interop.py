"""The native store (C++ disk_store) and the pure-Python store write the same files: each reads
what the other wrote, including compressed values and expiry times, and both refuse the other's
tampered entries. Runs in both modes of the suite (it opens both stores explicitly)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from twincache import _disk, _disk_pure


def _native_store(path: Path) -> Any:
    mod = pytest.importorskip(
        "twincache._disk_native", reason="the native disk module is not built in this install"
    )
    return mod.DiskStore(str(path), None, None, 1 << 20, 4096)


def _pure_store(path: Path) -> Any:
    return _disk_pure.PureDiskStore(str(path), None, None, 1 << 20, 4096)


@pytest.mark.parametrize("writer_kind", ["native", "pure"])
def test_each_reads_what_the_other_wrote(tmp_path: Path, writer_kind: str) -> None:
    path = tmp_path / "c"
    make = {"native": _native_store, "pure": _pure_store}
    writer = make[writer_kind](path)
    reader = make["pure" if writer_kind == "native" else "native"](path)
    text = ("line of text\n" * 10_000).encode()
    key_small, key_big = _disk._encode_key("small"), _disk._encode_key(("big", 1))
    writer.set(key_small, 2, b'{"a":1}')
    writer.set(key_big, 1, text)
    noise = os.urandom(300_000)  # incompressible and large: stored in a file of its own
    key_file = _disk._encode_key("file")
    writer.set(key_file, 0, noise)
    writer.flush()  # the native store commits in the background
    assert len(os.listdir(path / "blobs")) == 1
    assert reader.get(key_file)[:2] == (0, noise)
    assert reader.get(key_small)[:2] == (2, b'{"a":1}')
    assert reader.get(key_big)[:2] == (1, text)
    assert reader.count() == 3
    assert sorted(reader.keys()) == sorted([key_small, key_big, key_file])
    # The compressed value really is compressed on disk.
    assert writer.stats()["bytes"] < len(text) // 4 + len(noise) + 100
    reader.set(key_small, 2, b'{"a":2}')
    reader.flush()
    writer.drop_l1()
    assert writer.get(key_small)[:2] == (2, b'{"a":2}')
    assert reader.erase(key_big)
    assert writer.get(key_big) is None
    assert reader.erase(key_file)  # and its file with it
    assert os.listdir(path / "blobs") == []
    assert writer.get(key_file) is None
    assert reader.info()["sets"] == writer.info()["sets"]


def test_expiry_is_shared(tmp_path: Path) -> None:
    path = tmp_path / "c"
    native, pure = _native_store(path), _pure_store(path)
    native.set(b"\x01\x06\x01n", 0, b"v", 3_600_000_000_000)
    native.flush()
    pure.set(b"\x01\x06\x01p", 0, b"v", 1)  # 1 ns: already expired for both
    assert pure.get(b"\x01\x06\x01n")[:2] == (0, b"v")
    assert native.get(b"\x01\x06\x01p") is None


def test_generation_protocol_is_shared(tmp_path: Path) -> None:
    """Every write replaces the directory's generation nonce, whichever implementation wrote: the
    writer's own memory tier stays valid (its epoch does not move), the other's is dropped."""
    path = tmp_path / "c"
    native, pure = _native_store(path), _pure_store(path)
    assert native.generation() == pure.generation()
    e_native, e_pure = native.l1_epoch(), pure.l1_epoch()
    native.set(b"k", 0, b"v")
    native.flush()
    assert native.l1_epoch() == e_native  # its own write
    assert pure.l1_epoch() != e_pure  # a write from elsewhere
    e_pure = pure.l1_epoch()
    pure.set(b"k", 0, b"w")
    assert pure.l1_epoch() == e_pure
    assert native.l1_epoch() != e_native
    assert native.generation() == pure.generation() != 0
    e_pure = pure.l1_epoch()
    assert native.erase(b"k")
    assert pure.l1_epoch() != e_pure


def test_both_refuse_a_foreign_secret(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    first = _native_store(a)
    first.set(b"k", 0, b"v")
    first.flush()
    _pure_store(b).set(b"k", 0, b"v")
    (a / "secret").write_bytes((b / "secret").read_bytes())  # a's rows, b's secret
    assert _pure_store(a).get(b"k") is None
    assert _native_store(a).get(b"k") is None


@pytest.mark.parametrize("writer_kind", ["native", "pure"])
def test_typed_values_in_two_pieces_and_tags_cross(tmp_path: Path, writer_kind: str) -> None:
    """set_parts (an array's header and memory) and verify() of the file's bytes agree between
    the stores, and so do the tags tables."""
    from twincache import _disk_tags, _disk_values

    np = pytest.importorskip("numpy", reason="numpy is not installed")
    path = tmp_path / "c"
    make = {"native": _native_store, "pure": _pure_store}
    writer = make[writer_kind](path)
    reader = make["pure" if writer_kind == "native" else "native"](path)
    a = np.arange(50_000, dtype=np.float64)
    header, body = _disk_values.array_parts(a)
    key = _disk._encode_key("array")
    _disk_tags.Tags(str(path)).ensure()
    writer.set_parts(key, _disk_values.CODEC_ARRAY, header, body)
    writer.flush()
    codec, file, _, mac = reader.get(key, True)
    assert codec == _disk_values.CODEC_ARRAY
    assert np.array_equal(_disk_values.load_array(reader, key, file, mac, True), a)
    assert np.array_equal(_disk_values.array_from(reader.get(key)[1]), a)
    _disk_tags.Tags(str(path)).attach(key, ["t"], '{"n": 1}')
    rows = _disk_tags.Tags(str(path)).query(_disk._wall_now(), "t", None)
    assert [r[0] for r in rows] == [key] and rows[0][4] == '{"n": 1}'
