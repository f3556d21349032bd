"""atheris target: DiskCache opening and reading a mutated cache directory (issue 14).

A template directory is written once by DiskCache itself (pickle and json values, a bytes value,
one compressed by zstd, one large enough for a blobs/ file). Each input says how to damage a copy
of it: bytes of cache.db flipped, overwritten or cut, and the same for the blob file. Then a fresh
DiskCache opens the copy and reads every key. Allowed per key: the value written, or a miss.
Allowed once per open: a RuntimeWarning naming the directory (a damaged cache.db moved aside,
docs/persistence.md "Damaged databases"). Anything else is a finding: an exception escaping
get(), another warning, another value, a crash. After the reads, the cache must still work (a
value set is read back). Runs native and, with TWINCACHE_PURE=1, the pure-Python store.

    .venv/bin/python tests/fuzz/python/fuzz_disk_dir.py -max_total_time=60 [corpus dir]

(libFuzzer's flags; scripts/test-fuzz runs it bounded, docs/fuzzing.md has the longer runs.)
"""

from __future__ import annotations

import gc
import os
import shutil
import sys
import tempfile
import warnings
from typing import Any

import atheris

with atheris.instrument_imports(include=["twincache"]):
    import twincache
    import twincache._disk  # loaded lazily by twincache: imported here to be instrumented

    if not twincache.native:
        import twincache._disk_pure
        import twincache._disk_pure_damage

# tmpfs when there is one: every input copies and rewrites a directory.
ROOT = tempfile.mkdtemp(
    prefix="twincache-atheris-dir-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None
)
TEMPLATE = os.path.join(ROOT, "template")
WORK = os.path.join(ROOT, "work")

# key -> (value, codec of the DiskCache that wrote it)
ENTRIES: dict[Any, tuple[Any, str]] = {
    "small": ({"a": [1, 2.5, "x"], "b": None}, "pickle"),
    ("tuple", 1): ((1, "two", b"three"), "pickle"),
    "raw": (b"raw bytes \x00\xff", "pickle"),
    "json": ({"list": [1, 2, 3], "s": "text"}, "json"),
    "zstd": ("compressible " * 800, "pickle"),  # >= 4 KiB: stored zstd-compressed
    "file": (os.urandom(130 * 1024), "pickle"),  # >= 128 KiB after compression: blobs/
}


def _make_template() -> None:
    for codec in ("pickle", "json"):
        c = twincache.DiskCache(TEMPLATE, codec=codec)
        for key, (value, kind) in ENTRIES.items():
            if kind == codec:
                c[key] = value
        c.flush()
        del c
        gc.collect()


def _reset_work() -> tuple[bytes, dict[str, bytes]]:
    shutil.rmtree(WORK, ignore_errors=True)
    shutil.copytree(TEMPLATE, WORK)
    with open(os.path.join(WORK, "cache.db"), "rb") as f:
        db = f.read()
    blobs = {}
    for name in sorted(os.listdir(os.path.join(WORK, "blobs"))):
        with open(os.path.join(WORK, "blobs", name), "rb") as f:
            blobs[name] = f.read()
    return db, blobs


def _mutate(fdp: atheris.FuzzedDataProvider, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(fdp.ConsumeIntInRange(0, 8)):
        if not buf:
            break
        what = fdp.ConsumeIntInRange(0, 3)
        at = fdp.ConsumeIntInRange(0, len(buf) - 1)
        if what == 0:  # flip bits of one byte
            buf[at] ^= fdp.ConsumeIntInRange(1, 255)
        elif what == 1:  # overwrite a run
            chunk = fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 64))
            buf[at : at + len(chunk)] = chunk
        elif what == 2:  # cut the file
            del buf[at:]
        else:  # zero a page-sized run (a lost write)
            buf[at : at + 4096] = bytes(min(4096, len(buf) - at))
    return bytes(buf)


def _check_warnings(caught: list[warnings.WarningMessage]) -> None:
    for w in caught:
        if w.category is not RuntimeWarning or WORK not in str(w.message):
            raise AssertionError(f"unexpected warning {w.category.__name__}: {w.message}")


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    db, blobs = _reset_work()
    target = fdp.ConsumeIntInRange(0, 2)
    if target in (0, 2):
        with open(os.path.join(WORK, "cache.db"), "wb") as f:
            f.write(_mutate(fdp, db))
    if target in (1, 2):
        for name, content in blobs.items():
            with open(os.path.join(WORK, "blobs", name), "wb") as f:
                f.write(_mutate(fdp, content))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # Reads go by each entry's codec tag, so one pickle DiskCache reads the json ones too.
        c = twincache.DiskCache(WORK)
        for key, (value, _) in ENTRIES.items():
            got = c.get(key)
            if got is not None and got != value:
                raise AssertionError(f"{key!r}: a damaged entry read as another value")
        c["fuzz-new"] = [1, 2, 3]
        if c.get("fuzz-new") != [1, 2, 3]:
            raise AssertionError("a value just set is not read back")
        len(c)
        c.stats()
        del c
        gc.collect()
    _check_warnings(caught)


def main() -> None:
    _make_template()
    try:
        atheris.Setup(sys.argv, test_one_input)
        atheris.Fuzz()
    finally:
        shutil.rmtree(ROOT, ignore_errors=True)


if __name__ == "__main__":
    main()
