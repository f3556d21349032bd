"""atheris target: DiskCache's codecs (issue 14).

Each input builds a value (None, bools, ints of any size, floats with NaN and infinities, str
with any code point, bytes, lists, tuples, dicts with str or other keys, sets, nested) and:
  - json: the value is stored and read back by another DiskCache equal to what JSON gives back
    (tuples as lists), or the set is refused with the documented TypeError naming codec='json'
    (docs/persistence.md: NaN, a non-str key, a set, bytes inside a container...);
  - pickle: the value is stored and read back equal (NaN-aware);
  - tamper: the pickle entry's stored bytes are replaced by the rest of the input through SQLite
    (the HMAC is not re-signed): the next read must be a miss, and pickle.loads must not be
    called for it (unsigned data is never unpickled).
Runs native and, with TWINCACHE_PURE=1, pure.

    .venv/bin/python tests/fuzz/python/fuzz_codecs.py -max_total_time=60 [corpus dir]
"""

from __future__ import annotations

import gc
import json
import math
import os
import pickle
import shutil
import sqlite3
import sys
import tempfile
import types
from typing import Any

import atheris

with atheris.instrument_imports(include=["twincache"]):
    import twincache
    import twincache._disk as disk_module

ROOT = tempfile.mkdtemp(
    prefix="twincache-atheris-codecs-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None
)
KEY = ("codec", 1)

# pickle.loads, counted: the tamper step checks that a refused entry reaches no unpickling.
_unpickled = [0]


def _counting_loads(data: bytes, /, **kw: Any) -> Any:
    _unpickled[0] += 1
    return pickle.loads(data, **kw)


setattr(  # noqa: B010 - replaces the module twincache._disk unpickles with
    disk_module,
    "pickle",
    types.SimpleNamespace(
        loads=_counting_loads, dumps=pickle.dumps, HIGHEST_PROTOCOL=pickle.HIGHEST_PROTOCOL
    ),
)


def _value(fdp: atheris.FuzzedDataProvider, depth: int = 0) -> Any:
    kind = fdp.ConsumeIntInRange(0, 11 if depth < 4 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeBool()
    if kind == 2:
        return fdp.ConsumeInt(fdp.ConsumeIntInRange(1, 24))
    if kind == 3:
        return fdp.ConsumeRegularFloat()
    if kind == 4:
        return fdp.PickValueInList([math.nan, math.inf, -math.inf, -0.0, 1e308, 5e-324])
    if kind == 5:
        return fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 24))
    if kind == 6:
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 24))
    n = fdp.ConsumeIntInRange(0, 4)
    if kind in (7, 8):
        items = [_value(fdp, depth + 1) for _ in range(n)]
        return items if kind == 7 else tuple(items)
    if kind == 9:
        return {fdp.ConsumeUnicode(6): _value(fdp, depth + 1) for _ in range(n)}
    if kind == 10:
        return {_hashable(fdp): _value(fdp, depth + 1) for _ in range(n)}
    return {_hashable(fdp) for _ in range(n)}


def _hashable(fdp: atheris.FuzzedDataProvider) -> Any:
    return fdp.PickValueInList([None, True, 0, 1, 1.5, "1", "k", b"k", (1, "a")])


def _same(a: Any, b: Any) -> bool:
    """Equality where NaN equals NaN and types must match (1 != 1.0 != True here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


_REFUSED = object()


def _json_expected(value: Any) -> Any:
    """What JSON gives back, or _REFUSED when the json codec must refuse the value."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        text.encode("utf-8")
    except (TypeError, ValueError):
        return _REFUSED

    def str_keys(v: Any) -> bool:
        if isinstance(v, dict):
            return all(isinstance(k, str) for k in v) and all(str_keys(x) for x in v.values())
        if isinstance(v, (list, tuple)):
            return all(str_keys(x) for x in v)
        return True

    return json.loads(text) if str_keys(value) else _REFUSED


def _fresh(path: str, codec: str) -> twincache.DiskCache:
    return twincache.DiskCache(path, codec=codec)


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    value = _value(fdp)
    path = os.path.join(ROOT, "d")
    shutil.rmtree(path, ignore_errors=True)

    # json: stored and read back as JSON gives it, or refused with the documented TypeError.
    expected = _json_expected(value)
    c = _fresh(path, "json")
    try:
        c[KEY] = value
    except TypeError as exc:
        if "codec='json' cannot store" not in str(exc) or expected is not _REFUSED:
            raise
    else:
        if expected is _REFUSED and type(value) is not bytes:
            raise AssertionError(f"json stored a value it cannot hold exactly: {value!r}")
        c.flush()
        got = _fresh(path, "json").get(KEY, "<miss>")
        want = value if type(value) is bytes else expected
        if not _same(got, want):
            raise AssertionError(f"json round trip: {value!r} -> {got!r}")

    # pickle: any of these values comes back equal.
    c = _fresh(path, "pickle")
    c[KEY] = value
    c.flush()
    del c
    gc.collect()
    got = _fresh(path, "pickle").get(KEY, "<miss>")
    if not _same(got, value):
        raise AssertionError(f"pickle round trip: {value!r} -> {got!r}")

    # tamper: other bytes under the same signature are a miss, never unpickled.
    forged = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 256))
    db = sqlite3.connect(os.path.join(path, "cache.db"))
    try:
        row = db.execute("SELECT value FROM entries").fetchone()
        if row is None or row[0] == forged:
            return
        with db:
            db.execute("UPDATE entries SET value = ?", (forged,))
    finally:
        db.close()
    before = _unpickled[0]
    got = _fresh(path, "pickle").get(KEY, "<miss>")
    if got != "<miss>":
        raise AssertionError(f"a tampered entry was read: {got!r}")
    if _unpickled[0] != before:
        raise AssertionError("a tampered entry reached pickle.loads")
    gc.collect()


def main() -> None:
    try:
        atheris.Setup(sys.argv, test_one_input)
        atheris.Fuzz()
    finally:
        shutil.rmtree(ROOT, ignore_errors=True)


if __name__ == "__main__":
    main()
